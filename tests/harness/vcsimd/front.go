package main

// The front: what vmcrypt-agent's tests need from vcsim that vcsim lacks,
// added around govmomi's simulator without touching its behaviour.
//
//   - EventManager.LogUserEvent (not implemented by vcsim): posted as a
//     GeneralUserEvent through the simulator's own EventManager.PostEvent,
//     so it shows up in `govc events` like on vCenter.
//   - SPBM associations (vcsim's PBM answers every query with "none"): the
//     profiles a ReconfigVM_Task put on VM home and disks are recorded and
//     served by PbmQueryAssociatedProfile(s) once the task succeeded.
//   - KMS health (vcsim reports every key provider green): a status set on
//     /harness/kms-status is written into the result of the simulator's own
//     RetrieveKmipServersStatus_Task once it has run.
//   - Privileges (vcsim grants every privilege to everyone): privileges
//     denied on /harness/deny-privilege come back false from
//     HasPrivilegeOnEntity; the others true, as vcsim answers.
//   - A host that cannot get keys (/harness/host-keys, hostkeys.go): the
//     failure `check --canary` reveals; and the other calls of the canary
//     where vcsim differs (methods.go): CreateVM_Task of a name the folder
//     holds, QueryCryptoKeyStatus, custom fields seen by collectors and
//     their keys after -load.
//   - A control API on /harness/ (loopback only): fault rules through the
//     simulator's FaultInjector, per-method call counts, reconfigure counts
//     per VM, the recorded associations, and EventEx events posted through
//     the simulator's EventManager (KMS alarms vcsim never raises).
//
// Every other request goes to the simulator unchanged (reverse proxy).

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

type assoc struct {
	profile string
	task    string
}

type front struct {
	model *simulator.Model
	proxy *httputil.ReverseProxy
	// The API version this vCenter presents (vimServiceVersions.xml,
	// about), and the strict request checker (nil: off).
	apiVersion string
	strict     *checker
	// Reconfigures of one VM, one at a time (fidelity.go); whether the
	// first key provider was made the default.
	vmlocks          vmLocks
	firstDefaultDone bool
	// -fast-collector: container-view scans served from each VM's
	// rendered answer (fastcollector.go); nil: off.
	fast *fastCollector
	// /harness/hold: the agent's next call of a method waits here until
	// /harness/release (a test makes a change land in between).
	holdMethod string
	holdSkip   int           // calls of it let through first
	held       chan struct{} // closed when a call is held
	release    chan struct{} // closed to let it go

	mu    sync.Mutex
	calls map[string]int
	// Wall time spent serving each method, per client class ("agent" for
	// gSOAP, "other" for govmomi and govc): where the simulator's time goes.
	callNs    map[string]int64
	callBy    map[string]int
	postMu    sync.Mutex // the front's event posts, one at a time
	reconfigs map[string]int
	// When the first agent ReconfigVM_Task for each VM arrived (benchmarks:
	// event to task issued, measured on the server's side).
	reconfigAt map[string]int64
	// When the last successful ReconfigVM_Task of each VM (any client but
	// govc) finished, from the simulator's own task object.
	reconfigDone map[string]int64
	// The agent's calls in order: method, arrival and end (Unix ns), at
	// most timelineMax (benchmarks: the simulator's and the agent's shares
	// of a reaction, /harness/timeline).
	timeline []timedCall
	assocs       map[string]assoc // "vm-42" or "vm-42:2000" -> profile
	kmsStatus    map[string]kmsOverride
	denied       map[string]bool
	hostile      map[string]string      // method -> huge|chunked|trickle
	trust        map[string]*trustState // key provider -> trust (trust.go)
	vsanEnc      map[string]bool        // cluster moref -> vSAN data-at-rest encryption (vsan.go)
	noKeys       map[string]bool        // host moref -> cannot get keys (hostkeys.go)
	loadedKeys   map[string]string      // key -> provider, from the run before -load (methods.go)
	keysDown     map[string]string      // key -> why vCenter cannot serve it (/harness/key-status, methods.go)
	pw           *passwords             // the password Login accepts (/harness/password, password.go)
}

// kmsOverride is what /harness/kms-status says a key provider reports.
type kmsOverride struct {
	Overall           string
	Status            string
	Connection        string
	ClientTrustServer *bool
	ServerTrustClient *bool
	CertExpireIn      *int64 // seconds from now; negative: expired
}

var methodRE = regexp.MustCompile(`<(?:[A-Za-z0-9_.-]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_.-]+:)?([A-Za-z0-9_]+)`)

// timedCall is one call of the agent's, as the front saw it.
type timedCall struct {
	method     string
	start, end int64
}

const timelineMax = 1 << 20

func newFront(model *simulator.Model, backend *url.URL, api string, strict bool) *front {
	f := &front{
		model:        model,
		apiVersion:   api,
		proxy:        httputil.NewSingleHostReverseProxy(backend),
		calls:        map[string]int{},
		callNs:       map[string]int64{},
		callBy:       map[string]int{},
		reconfigs:    map[string]int{},
		reconfigAt:   map[string]int64{},
		reconfigDone: map[string]int64{},
		assocs:       map[string]assoc{},
		kmsStatus:    map[string]kmsOverride{},
		denied:       map[string]bool{},
		hostile:      map[string]string{},
		noKeys:       map[string]bool{},
		loadedKeys:   map[string]string{},
		keysDown:     map[string]string{},
	}
	f.pw = installPasswords(model)
	if strict {
		f.strict = newChecker(func() []string { return versionsList(api) })
	}
	h := &handler{f}
	model.Service.Context.Map.AddHandler(h)
	// The inventory built (or loaded) before the handler was there.
	for _, obj := range model.Service.Context.Map.All("VirtualMachine") {
		h.PutObject(nil, obj)
	}
	return f
}

// clientClass names who sent a request: the agent (gSOAP), govc, or
// another client (govmomi, pyvmomi).
func clientClass(r *http.Request) string {
	ua := r.UserAgent()
	switch {
	case strings.Contains(ua, "gSOAP"):
		return "agent"
	case strings.HasPrefix(ua, "govc"):
		return "govc"
	}
	return "other"
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= 9 && r.URL.Path[:9] == "/harness/" {
		f.control(w, r)
		return
	}
	// Profiles of the simulator itself (benchmarks: where its CPU goes).
	if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
		switch r.URL.Path {
		case "/debug/pprof/profile":
			pprof.Profile(w, r)
		default:
			pprof.Index(w, r)
		}
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/sdk/vimServiceVersions.xml" {
		f.serveVersions(w)
		return
	}
	if r.Method != http.MethodPost {
		f.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method := ""
	if m := methodRE.FindSubmatch(body); m != nil {
		method = string(m[1])
	}
	// SOAP endpoints only (govc speaks JSON to /api and /rest).
	if f.strict != nil && (r.URL.Path == "/sdk" || strings.HasPrefix(r.URL.Path, "/pbm")) {
		f.strict.check(r.URL.Path, r.Header.Get("SOAPAction"), clientClass(r), body)
	}
	f.mu.Lock()
	f.calls[method]++
	mode := f.hostile[method]
	f.mu.Unlock()
	who := "other/"
	if strings.Contains(r.UserAgent(), "gSOAP") {
		who = "agent/"
	}
	start := time.Now()
	defer func() {
		end := time.Now()
		f.mu.Lock()
		f.callNs[who+method] += end.Sub(start).Nanoseconds()
		f.callBy[who+method]++
		if who == "agent/" && len(f.timeline) < timelineMax {
			f.timeline = append(f.timeline, timedCall{method, start.UnixNano(), end.UnixNano()})
		}
		f.mu.Unlock()
	}()
	f.holdIfArmed(method, r)
	// For the client under test only: govc sets up and checks scenarios.
	if mode != "" && !strings.HasPrefix(r.UserAgent(), "govc") {
		f.hostileAnswer(w, mode)
		return
	}

	if f.trustCall(w, method, body) {
		return
	}
	switch method {
	case "RetrievePropertiesEx", "ContinueRetrievePropertiesEx":
		if f.fast != nil && f.fast.serve(w, r, body, method) {
			return
		}
	case "LogUserEvent":
		f.logUserEvent(w, body)
		return
	case "PbmQueryAssociatedProfiles", "PbmQueryAssociatedProfile":
		f.queryAssociated(w, body, method)
		return
	case "ReconfigVM_Task":
		f.reconfigure(w, r, body)
		return
	case "RetrieveKmipServersStatus_Task":
		f.kmsStatusTask(w, r, body)
		return
	case "RegisterKmipServer", "UpdateKmipServer":
		f.kmipServerCall(w, r, body, method) // keySpec: wrapping.go
		return
	case "ListKmipServers":
		f.listKmipServers(w, r, body)
		return
	case "PowerOnVM_Task":
		if f.powerOn(w, r, body) {
			return
		}
	case "CreateVM_Task":
		if f.createVM(w, r, body) {
			return
		}
	case "QueryCryptoKeyStatus":
		f.queryKeyStatus(w, r, body)
		return
	case "SetField", "RemoveCustomFieldDef":
		f.customField(w, r, body)
		return
	case "HasPrivilegeOnEntity":
		f.hasPrivilege(w, body)
		return
	case "SetDefaultKmsCluster":
		if f.setEntityDefault(w, body) {
			return
		}
	case "VsanClusterGetConfig":
		if f.vsanGetConfig(w, body) {
			return
		}
	case "MarkDefault":
		// vcsim answers MarkDefault with SetDefaultKmsClusterResponse (it
		// runs SetDefaultKmsCluster); the WSDL's answer, and vCenter's, is
		// MarkDefaultResponse, which a WSDL-generated client expects.
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		f.proxy.ServeHTTP(rec, r)
		out := bytes.ReplaceAll(rec.Body.Bytes(), []byte("SetDefaultKmsClusterResponse"),
			[]byte("MarkDefaultResponse"))
		rec.Body = bytes.NewBuffer(out)
		rec.Header().Del("Content-Length")
		copyResponse(w, rec)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(w, r)
}

// holdIfArmed keeps the agent's call of the armed method until released.
func (f *front) holdIfArmed(method string, r *http.Request) {
	if clientClass(r) != "agent" {
		return
	}
	f.mu.Lock()
	if f.holdMethod == "" || f.holdMethod != method {
		f.mu.Unlock()
		return
	}
	if f.holdSkip > 0 {
		f.holdSkip--
		f.mu.Unlock()
		return
	}
	f.holdMethod = ""
	held, release := f.held, f.release
	f.mu.Unlock()
	close(held)
	select {
	case <-release:
	case <-time.After(2 * time.Minute):
	}
}

// postEvent posts through the simulator's EventManager under its lock, as
// the simulator posts its own events.  The front's calls all share one
// Context, and the simulator's object locks are re-entrant per Context: two
// of them would both "hold" the lock and corrupt the history lists (it
// crashed vcsimd under concurrent LogUserEvent calls).  postMu makes the
// front's posts take turns among themselves.
func (f *front) postEvent(ctx *simulator.Context, ev types.BaseEvent) {
	f.postMu.Lock()
	defer f.postMu.Unlock()
	em := ctx.Map.EventManager()
	ctx.WithLock(em, func() { em.PostEvent(ctx, &types.PostEvent{EventToPost: ev}) })
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func soapOK(w http.ResponseWriter, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" `+
		`xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`, inner)
}

// proxied is the simulator's answer to the request, not yet sent.
func (f *front) proxied(r *http.Request, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(rec, r)
	return rec
}

// taskAnswer answers a *_Task method with the task it started.
func taskAnswer(w http.ResponseWriter, method string, task types.ManagedObjectReference) {
	soapOK(w, fmt.Sprintf(`<%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse>`,
		method, task.Value, method))
}

func writeJSON(w http.ResponseWriter, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

type moref struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

func (f *front) logUserEvent(w http.ResponseWriter, body []byte) {
	var env struct {
		Req struct {
			Entity moref  `xml:"entity"`
			Msg    string `xml:"msg"`
		} `xml:"Body>LogUserEvent"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := f.model.Service.Context
	ev := &types.GeneralUserEvent{
		GeneralEvent: types.GeneralEvent{
			Event: types.Event{
				CreatedTime:          time.Now(),
				UserName:             "vmcrypt-agent",
				FullFormattedMessage: env.Req.Msg,
			},
			Message: env.Req.Msg,
		},
	}
	ref := types.ManagedObjectReference{Type: env.Req.Entity.Type, Value: env.Req.Entity.Value}
	if obj := ctx.Map.Get(ref); obj != nil {
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			ev.Vm = &types.VmEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: vm.Name},
				Vm:                  ref,
			}
		}
	}
	// Under the manager's lock, as the simulator posts its own events: its
	// history lists are not safe for concurrent use (an unlocked post
	// crashed vcsimd under a 10,000-VM catch-up).
	f.postEvent(ctx, ev)
	soapOK(w, `<LogUserEventResponse xmlns="urn:vim25"></LogUserEventResponse>`)
}

func (f *front) reconfigure(w http.ResponseWriter, r *http.Request, body []byte) {
	var env struct {
		Req struct {
			This moref `xml:"_this"`
			Spec struct {
				DeviceChange []struct {
					Key     int      `xml:"device>key"`
					Profile []string `xml:"profile>profileId"`
				} `xml:"deviceChange"`
				VMProfile []string `xml:"vmProfile>profileId"`
			} `xml:"spec"`
		} `xml:"Body>ReconfigVM_Task"`
	}
	_ = xml.Unmarshal(body, &env)
	arrived := time.Now().UnixNano()
	vm := env.Req.This.Value
	vmRef := types.ManagedObjectReference{Type: "VirtualMachine", Value: vm}
	govc := strings.HasPrefix(r.UserAgent(), "govc")

	// One reconfigure of a VM at a time, until its task ends, as vCenter
	// queues them; then what vCenter would refuse fails as a task.
	unlock := f.vmlocks.lock(vm)
	handedOff := false
	defer func() {
		if !handedOff {
			unlock()
		}
	}()
	if m, err := decodeRequest(r.URL.Path, body); err == nil {
		if req, ok := m.Body.(*types.ReconfigVM_Task); ok {
			if fault, msg := f.reconfigRefusal(vmRef, &req.Spec); fault != nil {
				task := f.failTask(vmRef, "reconfigVm", fault, msg)
				handedOff = true
				go f.waitTask(task.Value, unlock)
				soapOK(w, fmt.Sprintf(`<ReconfigVM_TaskResponse xmlns="urn:vim25">`+
					`<returnval type="Task">%s</returnval></ReconfigVM_TaskResponse>`, task.Value))
				return
			}
		}
	}

	rec := httptest.NewRecorder()
	// Not cancelled when the client goes away (a test SIGKILLs the agent
	// mid-call): the simulator may already have started the task, and its
	// associations must be recorded as vCenter would apply them.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(rec, r)

	var resp struct {
		Task string `xml:"Body>ReconfigVM_TaskResponse>returnval"`
	}
	_ = xml.Unmarshal(rec.Body.Bytes(), &resp)
	f.mu.Lock()
	// Counted for the agent only: govc's own reconfigurations (vm.change,
	// vm.disk.create) are scenario set-up, not remediation.
	if resp.Task != "" && !govc {
		f.reconfigs[vm]++
		if _, ok := f.reconfigAt[vm]; !ok {
			f.reconfigAt[vm] = arrived
		}
	}
	if resp.Task != "" {
		for _, p := range env.Req.Spec.VMProfile {
			f.assocs[vm] = assoc{p, resp.Task}
		}
		for _, d := range env.Req.Spec.DeviceChange {
			for _, p := range d.Profile {
				f.assocs[fmt.Sprintf("%s:%d", vm, d.Key)] = assoc{p, resp.Task}
			}
		}
	}
	f.mu.Unlock()
	if resp.Task != "" {
		handedOff = true
		go func() {
			ok := f.waitTask(resp.Task, unlock)
			if ok && !govc {
				f.mu.Lock()
				f.reconfigDone[vm] = time.Now().UnixNano()
				f.mu.Unlock()
			}
		}()
	}
	copyResponse(w, rec)
}

// waitTask waits for a task to end (polled every ms on the simulator's
// task object: no client call, no load on the collectors), then calls
// done; it reports whether the task succeeded.
func (f *front) waitTask(task string, done func()) bool {
	defer done()
	ctx := f.newCtx()
	t, ok := ctx.Map.Get(types.ManagedObjectReference{Type: "Task", Value: task}).(*simulator.Task)
	if !ok {
		return false
	}
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var state types.TaskInfoState
		ctx.WithLock(t, func() { state = t.Info.State })
		switch state {
		case types.TaskInfoStateSuccess:
			return true
		case types.TaskInfoStateError:
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// kmsStatusTask runs the simulator's status task, then writes the overrides
// into its result before the caller can read it.
func (f *front) kmsStatusTask(w http.ResponseWriter, r *http.Request, body []byte) {
	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(rec, r)
	var resp struct {
		Task string `xml:"Body>RetrieveKmipServersStatus_TaskResponse>returnval"`
	}
	_ = xml.Unmarshal(rec.Body.Bytes(), &resp)
	if ok := f.waitTask(resp.Task, func() {}); ok {
		f.kmsStatusResult(resp.Task)
	}
	copyResponse(w, rec)
}

// kmsStatusResult rewrites a finished status task's result with what
// vCenter reports (kmsProbe: each server connected to, its certificate),
// then with the overrides set on /harness/kms-status.
func (f *front) kmsStatusResult(task string) {
	ctx := f.newCtx()
	t, ok := ctx.Map.Get(types.ManagedObjectReference{Type: "Task", Value: task}).(*simulator.Task)
	if !ok {
		return
	}
	f.mu.Lock()
	over := make(map[string]kmsOverride, len(f.kmsStatus))
	for k, v := range f.kmsStatus {
		over[k] = v
	}
	f.mu.Unlock()
	// Where each server is, from the key providers.
	type endpoint struct {
		address string
		port    int32
	}
	where := map[string]endpoint{}
	if m := ctx.Map.CryptoManager(); m != nil {
		ctx.WithLock(m, func() {
			for _, c := range m.KmipServers {
				for _, s := range c.Servers {
					where[c.ClusterId.Id+"/"+s.Name] = endpoint{s.Address, s.Port}
				}
			}
		})
	}
	var res types.ArrayOfCryptoManagerKmipClusterStatus
	ctx.WithLock(t, func() {
		res, ok = t.Info.Result.(types.ArrayOfCryptoManagerKmipClusterStatus)
	})
	if !ok {
		return
	}
	// Probed outside every lock: a dead KMS takes a couple of seconds.
	for i := range res.CryptoManagerKmipClusterStatus {
		cs := &res.CryptoManagerKmipClusterStatus[i]
		for j := range cs.Servers {
			s := &cs.Servers[j]
			if e, ok := where[cs.ClusterId.Id+"/"+s.Name]; ok {
				kmsProbe(s, e.address, e.port, f.trustOf(cs.ClusterId.Id))
			}
		}
		if len(cs.Servers) > 0 {
			cs.OverallStatus = worst(cs.Servers)
		}
		cs.ClientCertInfo = f.clientCertInfo(cs.ClusterId.Id)
		o, ok := over[cs.ClusterId.Id]
		if !ok {
			continue
		}
		if o.Overall != "" {
			cs.OverallStatus = types.ManagedEntityStatus(o.Overall)
		}
		for j := range cs.Servers {
			s := &cs.Servers[j]
			if o.Status != "" {
				s.Status = types.ManagedEntityStatus(o.Status)
			}
			if o.Connection != "" {
				s.ConnectionStatus = o.Connection
			}
			if o.ClientTrustServer != nil {
				s.ClientTrustServer = o.ClientTrustServer
			}
			if o.ServerTrustClient != nil {
				s.ServerTrustClient = o.ServerTrustClient
			}
			if o.CertExpireIn != nil {
				now := time.Now()
				na := now.Add(time.Duration(*o.CertExpireIn) * time.Second)
				s.CertInfo = &types.CryptoManagerKmipCertificateInfo{
					Subject: "CN=" + s.Name, Issuer: "CN=test-ca",
					SerialNumber: "01", NotBefore: now.Add(-24 * time.Hour),
					NotAfter: na, Fingerprint: "00", CheckTime: now,
					SecondsBeforeExpire: int32(*o.CertExpireIn),
				}
			}
		}
	}
	ctx.WithLock(t, func() { t.Info.Result = res })
}

func (f *front) hasPrivilege(w http.ResponseWriter, body []byte) {
	var env struct {
		Req struct {
			PrivID []string `xml:"privId"`
		} `xml:"Body>HasPrivilegeOnEntity"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b bytes.Buffer
	b.WriteString(`<HasPrivilegeOnEntityResponse xmlns="urn:vim25">`)
	f.mu.Lock()
	for _, id := range env.Req.PrivID {
		fmt.Fprintf(&b, `<returnval>%t</returnval>`, !f.denied[id])
	}
	f.mu.Unlock()
	b.WriteString(`</HasPrivilegeOnEntityResponse>`)
	soapOK(w, b.String())
}

func optBool(q url.Values, k string) *bool {
	if v := q.Get(k); v != "" {
		b := v == "true"
		return &b
	}
	return nil
}

// profileOf answers with a recorded association once its task succeeded.
func (f *front) profileOf(key string) string {
	f.mu.Lock()
	a, ok := f.assocs[key]
	f.mu.Unlock()
	if !ok {
		return ""
	}
	ctx := f.newCtx()
	obj := ctx.Map.Get(types.ManagedObjectReference{Type: "Task", Value: a.task})
	if t, ok := obj.(*simulator.Task); ok {
		var state types.TaskInfoState
		ctx.WithLock(t, func() { state = t.Info.State })
		if state != types.TaskInfoStateSuccess {
			return ""
		}
	}
	return a.profile
}

func (f *front) queryAssociated(w http.ResponseWriter, body []byte, method string) {
	type ent struct {
		ObjectType string `xml:"objectType"`
		Key        string `xml:"key"`
	}
	var env struct {
		Many struct {
			Entities []ent `xml:"entities"`
		} `xml:"Body>PbmQueryAssociatedProfiles"`
		One struct {
			Entity ent `xml:"entity"`
		} `xml:"Body>PbmQueryAssociatedProfile"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b bytes.Buffer
	if method == "PbmQueryAssociatedProfile" {
		b.WriteString(`<PbmQueryAssociatedProfileResponse xmlns="urn:pbm">`)
		if p := f.profileOf(env.One.Entity.Key); p != "" {
			fmt.Fprintf(&b, `<returnval><uniqueId>%s</uniqueId></returnval>`, html.EscapeString(p))
		}
		b.WriteString(`</PbmQueryAssociatedProfileResponse>`)
		soapOK(w, b.String())
		return
	}
	b.WriteString(`<PbmQueryAssociatedProfilesResponse xmlns="urn:pbm">`)
	for _, e := range env.Many.Entities {
		fmt.Fprintf(&b, `<returnval><object><objectType>%s</objectType><key>%s</key></object>`,
			html.EscapeString(e.ObjectType), html.EscapeString(e.Key))
		if p := f.profileOf(e.Key); p != "" {
			fmt.Fprintf(&b, `<profileId><uniqueId>%s</uniqueId></profileId>`, html.EscapeString(p))
		}
		b.WriteString(`</returnval>`)
	}
	b.WriteString(`</PbmQueryAssociatedProfilesResponse>`)
	soapOK(w, b.String())
}

func (f *front) control(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/harness/fault":
		switch r.Method {
		case http.MethodPost:
			// A RuntimeFault with the given message on every call to method
			// (with the given probability), e.g. GenerateKey "Cannot generate key";
			// fault=NoPermission&privilege=ID: what vCenter answers an account
			// without that privilege (NoPermission{object, privilegeId}).
			p, err := strconv.ParseFloat(q.Get("probability"), 64)
			if err != nil {
				p = 1
			}
			var fault types.BaseMethodFault = &types.RuntimeFault{}
			if q.Get("fault") == "NoPermission" {
				fault = &types.NoPermission{
					Object:      &types.ManagedObjectReference{Type: "Folder", Value: "group-d1"},
					PrivilegeId: q.Get("privilege"),
				}
			}
			f.model.Service.AddFaultRule(&simulator.FaultInjectionRule{
				MethodName:  q.Get("method"),
				ObjectType:  "*",
				ObjectName:  "*",
				Probability: p,
				FaultType:   simulator.FaultTypeCustom,
				Fault:       fault,
				Message:     q.Get("message"),
				Enabled:     true,
			})
		case http.MethodDelete:
			f.model.Service.ClearFaultRules()
		}
		w.WriteHeader(http.StatusNoContent)
	case "/harness/stats":
		if r.Method == http.MethodDelete {
			f.mu.Lock()
			f.calls = map[string]int{}
			f.callNs = map[string]int64{}
			f.callBy = map[string]int{}
			f.reconfigs = map[string]int{}
			f.reconfigAt = map[string]int64{}
			f.reconfigDone = map[string]int64{}
			f.timeline = nil
			f.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.mu.Lock()
		out := map[string]any{"calls": f.calls, "call_ns": f.callNs, "call_by": f.callBy, "reconfigs": f.reconfigs,
			"reconfig_at": f.reconfigAt, "reconfig_done": f.reconfigDone, "faults": f.model.Service.GetFaultStats()}
		data, _ := json.Marshal(out)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	case "/harness/kms-status":
		f.mu.Lock()
		if r.Method == http.MethodDelete {
			f.kmsStatus = map[string]kmsOverride{}
		} else {
			o := kmsOverride{Overall: q.Get("overall"), Status: q.Get("status"),
				Connection:        q.Get("connection"),
				ClientTrustServer: optBool(q, "clientTrustServer"),
				ServerTrustClient: optBool(q, "serverTrustClient")}
			if v := q.Get("certExpireIn"); v != "" {
				n, _ := strconv.ParseInt(v, 10, 64)
				o.CertExpireIn = &n
			}
			f.kmsStatus[q.Get("cluster")] = o
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "/harness/deny-privilege":
		f.mu.Lock()
		if r.Method == http.MethodDelete {
			f.denied = map[string]bool{}
		} else {
			f.denied[q.Get("id")] = true
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "/harness/event":
		// An EventEx (e.g. com.vmware.vc.kms.crypto.Unreachable), posted
		// through the simulator's EventManager like vCenter raises it.
		// With vm=<name or moref>: about that VM (VMLocked.*,
		// vm.crypto.RekeyFail, ...), with the arguments vCenter gives a
		// VM's event (hostkeys.go cryptoEvent).
		if q.Get("vm") != "" {
			if err := f.postVMEvent(q.Get("vm"), q.Get("type"), q.Get("message")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ctx := f.model.Service.Context
		ev := &types.EventEx{
			Event: types.Event{CreatedTime: time.Now(), UserName: "vpxd",
				FullFormattedMessage: q.Get("message")},
			EventTypeId: q.Get("type"),
			Message:     q.Get("message"),
		}
		// System-wide, like vCenter's KMS alarms: on the root folder (the
		// simulator's alarm manager needs an object).
		si := ctx.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
		ev.ObjectType = si.Content.RootFolder.Type
		ev.ObjectId = si.Content.RootFolder.Value
		// Under the manager's lock, as the simulator posts its own events: its
		// history lists are not safe for concurrent use (an unlocked post
		// crashed vcsimd under a 10,000-VM catch-up).
		f.postEvent(ctx, ev)
		w.WriteHeader(http.StatusNoContent)
	case "/harness/hostile":
		// Answers to method that a broken or malicious peer could send:
		// huge (a 100 MB SOAP body with its Content-Length), bigstring (the
		// same, one value), chunked (an endless chunked body, as fast as
		// the client reads), trickle (an endless chunked body, one byte a
		// second).
		f.mu.Lock()
		if r.Method == http.MethodDelete {
			f.hostile = map[string]string{}
		} else {
			f.hostile[q.Get("method")] = q.Get("mode")
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "/harness/save":
		// The front's own state (SPBM associations), next to what govc
		// object.save wrote, so that -load restarts with both.
		if err := f.saveState(q.Get("dir")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "/harness/violations":
		// What the strict checker found, and how many requests of each
		// method it read.  DELETE forgets both.
		if f.strict == nil {
			http.Error(w, "vcsimd runs without -strict", http.StatusNotFound)
			return
		}
		if r.Method == http.MethodDelete {
			f.strict.clear()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		vs, n := f.strict.list()
		if vs == nil {
			vs = []violation{}
		}
		data, _ := json.Marshal(map[string]any{"violations": vs, "checked": n})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	case "/harness/hold":
		// The agent's next call of method waits, before the simulator
		// sees it, until /harness/release; GET says whether one is held.
		// skip=N lets the next N calls of it through first.
		f.mu.Lock()
		switch r.Method {
		case http.MethodPost:
			f.holdMethod = q.Get("method")
			f.holdSkip, _ = strconv.Atoi(q.Get("skip"))
			f.held = make(chan struct{})
			f.release = make(chan struct{})
			w.WriteHeader(http.StatusNoContent)
		default:
			held := false
			if f.held != nil {
				select {
				case <-f.held:
					held = true
				default:
				}
			}
			data, _ := json.Marshal(map[string]bool{"held": held})
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(data)
		}
		f.mu.Unlock()
	case "/harness/release":
		f.mu.Lock()
		if f.release != nil {
			close(f.release)
			f.release = nil
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "/harness/vsan":
		// A vSAN datastore (summary.type "vsan") of a cluster, with or
		// without data-at-rest encryption (vsan.go).
		if err := f.setVsan(q.Get("datastore"), q.Get("cluster"), q.Get("encrypted") == "1"); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "/harness/key-status":
		// A key vCenter can no longer serve, or can again (methods.go).
		f.keyStatusControl(w, r, q)
	case "/harness/host-keys":
		// A host that cannot get keys, or can again (hostkeys.go).
		f.hostKeysControl(w, r, q)
	case "/harness/password":
		// The account's password changed, as in vCenter (password.go).
		f.pw.control(w, r, q)
	case "/harness/timeline":
		// The agent's calls since the last DELETE /harness/stats:
		// [method, arrival ns, end ns], in arrival order.
		f.mu.Lock()
		out := make([][3]any, len(f.timeline))
		for i, c := range f.timeline {
			out[i] = [3]any{c.method, c.start, c.end}
		}
		data, _ := json.Marshal(out)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	case "/harness/fast-collector":
		// What the fast collector served and refused (fastcollector.go).
		if f.fast == nil {
			http.Error(w, "vcsimd runs without -fast-collector", http.StatusNotFound)
			return
		}
		f.fast.control(w, r)
	case "/harness/assoc":
		data, _ := json.Marshal(map[string]string{"profile": f.profileOf(q.Get("key"))})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

const stateFile = "harness-state.json"

// harnessState is what a restart keeps besides the inventory: the SPBM
// associations, and where each datastore's files are, so that the VMs'
// disks survive like a real datastore survives a vCenter restart (vcsim
// -load alone starts every datastore empty).
type harnessState struct {
	Assocs     map[string]string     `json:"assocs"`
	Datastores map[string]string     `json:"datastores"` // name -> directory
	Home       string                `json:"home"`       // the old vcsim.home
	Trust      map[string]savedTrust `json:"trust"`      // key provider -> trust
	// Hosts that cannot get keys (a firewall outlives a vCenter restart),
	// and the keys the KMS holds (key -> provider).
	NoKeys []string          `json:"noKeys,omitempty"`
	Keys   map[string]string `json:"keys,omitempty"`
}

func (f *front) saveState(dir string) error {
	st := harnessState{Assocs: map[string]string{}, Datastores: map[string]string{}}
	f.mu.Lock()
	for k, a := range f.assocs {
		st.Assocs[k] = a.profile
	}
	st.Trust = f.saveTrust()
	for h := range f.noKeys {
		st.NoKeys = append(st.NoKeys, h)
	}
	st.Keys = map[string]string{}
	for k, p := range f.loadedKeys {
		st.Keys[k] = p
	}
	f.mu.Unlock()
	ctx := f.model.Service.Context
	if m := ctx.Map.CryptoManager(); m != nil {
		ctx.WithLock(m, func() {
			if r, ok := m.ListKeys(ctx, &types.ListKeys{}).(*methods.ListKeysBody); ok && r.Res != nil {
				for _, k := range r.Res.Returnval {
					if k.ProviderId != nil {
						st.Keys[k.KeyId] = k.ProviderId.Id
					}
				}
			}
		})
	}
	for _, obj := range ctx.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		ctx.WithLock(ds, func() { st.Datastores[ds.Name] = ds.Info.GetDatastoreInfo().Url })
	}
	for _, o := range ctx.Map.OptionManager().Setting {
		if ov := o.GetOptionValue(); ov.Key == "vcsim.home" {
			st.Home, _ = ov.Value.(string)
		}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// loadState restores the associations; their tasks belong to the previous
// run, so they are served as settled (no task to wait for).
func (f *front) loadState(dir string) error {
	// The keys the loaded VMs use were in the KMS before the restart, and
	// still are.
	ctx := f.model.Service.Context
	for _, e := range ctx.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			ctx.WithLock(vm, func() {
				keys, _ := vmKeys(vm)
				for _, k := range keys {
					if k.ProviderId != nil {
						f.loadedKeys[k.KeyId] = k.ProviderId.Id
					}
				}
			})
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var st harnessState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %v", stateFile, err)
	}
	for k, p := range st.Assocs {
		f.assocs[k] = assoc{p, ""}
	}
	f.loadTrust(st.Trust)
	for _, h := range st.NoKeys {
		f.noKeys[h] = true
	}
	for k, p := range st.Keys {
		f.loadedKeys[k] = p
	}
	// The killed process's datastore directories become the new ones.
	for _, obj := range ctx.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		old, ok := st.Datastores[ds.Name]
		if !ok {
			continue
		}
		if _, err := os.Stat(old); err != nil {
			return fmt.Errorf("datastore %s: %v", ds.Name, err)
		}
		cur := ds.Info.GetDatastoreInfo().Url
		if err := os.Remove(cur); err != nil {
			return fmt.Errorf("datastore %s: %v", ds.Name, err)
		}
		if err := os.Rename(old, cur); err != nil {
			return fmt.Errorf("datastore %s: %v", ds.Name, err)
		}
	}
	if st.Home != "" && strings.Contains(st.Home, "govcsim-") {
		_ = os.RemoveAll(st.Home)
	}
	return nil
}

func (f *front) hostileAnswer(w http.ResponseWriter, mode string) {
	const head = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope ` +
		`xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>`
	const tail = `</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>`
	// Well-formed objects with 256 KB values (the total is what is too
	// big), or one value that never ends (bigstring).
	pad := []byte(`<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name>` +
		`<val xsi:type="xsd:string">` + strings.Repeat("A", 256<<10) +
		`</val></propSet></objects>`)
	open := head
	if mode == "bigstring" {
		open = head + `<objects><obj type="VirtualMachine">vm-1</obj><propSet>` +
			`<name>name</name><val xsi:type="xsd:string">`
		pad = bytes.Repeat([]byte("A"), 256<<10)
		mode = "huge"
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	switch mode {
	case "huge":
		n := (100 << 20) / len(pad) // 100 MB
		w.Header().Set("Content-Length", strconv.Itoa(len(open)+n*len(pad)+len(tail)))
		_, _ = io.WriteString(w, open)
		for i := 0; i < n; i++ {
			if _, err := w.Write(pad); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, tail)
	case "chunked", "trickle":
		fl, _ := w.(http.Flusher)
		_, _ = io.WriteString(w, open)
		for {
			var err error
			if mode == "chunked" {
				_, err = w.Write(pad)
			} else {
				_, err = w.Write(pad[:1])
				time.Sleep(time.Second)
			}
			if err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}
