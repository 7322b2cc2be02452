package main

// The fast collector (vcsimd -fast-collector): a paged property collector
// at a real vCenter's speed, for scans of a large inventory.
//
// vcsim answers RetrievePropertiesEx by deep-copying every object of the
// answer through an XML round trip (property_collector.go collect), about
// 0.27 ms per VM for the agent's property set, so that a scan of 45,000
// VMs measures the simulator.  The fast collector keeps each VM's answer,
// rendered once by the simulator's own PropertyCollector (in process, one
// VM per call, under that VM's lock) and encoded by the simulator's own
// encoder, and serves RetrievePropertiesEx / ContinueRetrievePropertiesEx
// over a ContainerView of VirtualMachine from it.  A VM's answer is
// rendered again after it changed: every Registry Put, Update and Remove
// of the VM, and every update of a task on it, moves its generation on
// (the registry handler below).
//
// What the simulator would answer, it answers, byte for byte (tokens
// aside: each is a new UUID):
//
//   - the objects are the view's `view` list, read from the simulator with
//     the caller's session (a one-property RetrievePropertiesEx of the view
//     itself): the same objects in the same order; a VM gone meanwhile is
//     left out, as collect leaves it out;
//   - the first page leaves out the properties without a value, later
//     pages keep them (`<propSet><name>snapshot</name></propSet>`), as
//     vcsim's RetrievePropertiesEx and ContinueRetrievePropertiesEx do;
//   - RetrieveOptions.maxObjects pages as vcsim does (0: everything at
//     once); the rest is kept under a token, taken once by
//     ContinueRetrievePropertiesEx; the pages are what the VMs were when
//     the first page was asked for.
//
// Anything else goes to the simulator: another PropertyCollector than the
// service's, more than one filter spec, property spec or object spec,
// `all`, no path, a type other than VirtualMachine, an object spec that is
// not a ContainerView with skip and exactly one TraversalSpec `view` of
// ContainerView (no nested selectSet, skip unset or false),
// reportMissingObjectsInResults, a view whose `type` is not exactly
// [VirtualMachine], a view the simulator does not give (fault, missingSet:
// a gone view or session), a method with a fault rule (/harness/fault), a
// token it did not issue, and CancelRetrievePropertiesEx (vcsim does not
// implement it; the token stays valid, as on vcsim).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// vmAnswer is one VM's <objects> element for one path set, as the first
// page encodes it (properties without a value left out) and as a later
// page does (cont; the same slice when the VM has none).
type vmAnswer struct {
	gen   uint64
	first []byte
	cont  []byte
}

// fastPage is what a token holds: the answers not yet served.
type fastPage struct {
	max  int32
	objs [][]byte
}

type fastCollector struct {
	f  *front
	mu sync.Mutex
	// VM moref -> generation, moved on by every change of the VM.
	gen map[string]uint64
	// Path set ("name\x00parent...") -> VM moref -> answer.
	sets map[string]map[string]*vmAnswer
	book map[string]fastPage
	// Counts, at /harness/fast-collector.
	served, refused, rendered, reused int
	objects                           int            // objects served
	servedNs                          int64          // wall time serving them
	why                               map[string]int // refusals by reason
}

func newFastCollector(f *front) *fastCollector {
	fc := &fastCollector{f: f, gen: map[string]uint64{},
		sets: map[string]map[string]*vmAnswer{}, book: map[string]fastPage{},
		why: map[string]int{}}
	f.model.Service.Context.Map.AddHandler(fc)
	return fc
}

// The registry handler: which VMs changed.

func (fc *fastCollector) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VcsimdFront", Value: "fast-collector"}
}

func (fc *fastCollector) bump(vm string) {
	fc.mu.Lock()
	fc.gen[vm]++
	fc.mu.Unlock()
}

func (fc *fastCollector) PutObject(_ *simulator.Context, obj mo.Reference) {
	if ref := obj.Reference(); ref.Type == "VirtualMachine" {
		fc.bump(ref.Value)
	}
}

// UpdateObject: a VM's own update, or one of a task on a VM (what a task
// changed in place is settled when its state is).
func (fc *fastCollector) UpdateObject(_ *simulator.Context, obj mo.Reference, _ []types.PropertyChange) {
	switch o := obj.(type) {
	case *mo.VirtualMachine:
		fc.bump(o.Self.Value)
	case *mo.Task:
		if e := o.Info.Entity; e != nil && e.Type == "VirtualMachine" {
			fc.bump(e.Value)
		}
	}
}

func (fc *fastCollector) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachine" {
		return
	}
	fc.mu.Lock()
	fc.gen[ref.Value]++
	for _, set := range fc.sets {
		delete(set, ref.Value)
	}
	fc.mu.Unlock()
}

func (fc *fastCollector) refuse(why string) bool {
	fc.mu.Lock()
	fc.refused++
	fc.why[why]++
	fc.mu.Unlock()
	return false
}

// serve answers the request from the cache, or reports false: the caller
// sends it to the simulator.
func (fc *fastCollector) serve(w http.ResponseWriter, r *http.Request, body []byte, method string) bool {
	start := time.Now()
	if r.URL.Path != "/sdk" {
		return false
	}
	for _, rule := range fc.f.model.Service.GetFaultRules() {
		if rule.Enabled && (rule.MethodName == "*" || rule.MethodName == method) {
			return fc.refuse("fault rule")
		}
	}
	m, err := decodeRequest(r.URL.Path, body)
	if err != nil {
		return fc.refuse("undecodable")
	}
	switch req := m.Body.(type) {
	case *types.RetrievePropertiesEx:
		if !fc.retrieve(w, r, req) {
			return false
		}
		fc.took(start)
		return true
	case *types.ContinueRetrievePropertiesEx:
		fc.mu.Lock()
		page, ok := fc.book[req.Token]
		delete(fc.book, req.Token)
		fc.mu.Unlock()
		if !ok {
			return false // the simulator's token, or none
		}
		fc.answer(w, "ContinueRetrievePropertiesEx", page.max, page.objs)
		fc.took(start)
		return true
	}
	return false
}

func (fc *fastCollector) took(start time.Time) {
	fc.mu.Lock()
	fc.servedNs += time.Since(start).Nanoseconds()
	fc.mu.Unlock()
}

// viewSpec reports the ContainerView of a request the fast collector
// serves, and its path set.
func (fc *fastCollector) viewSpec(req *types.RetrievePropertiesEx) (view types.ManagedObjectReference, paths []string, why string) {
	si := fc.f.model.Service.Context.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if req.This != si.Content.PropertyCollector {
		return view, nil, "another collector"
	}
	if len(req.SpecSet) != 1 {
		return view, nil, "specSet"
	}
	spec := req.SpecSet[0]
	if len(spec.PropSet) != 1 || len(spec.ObjectSet) != 1 || isTrue(spec.ReportMissingObjectsInResults) {
		return view, nil, "propSet/objectSet"
	}
	ps, os := spec.PropSet[0], spec.ObjectSet[0]
	if ps.Type != "VirtualMachine" || isTrue(ps.All) || len(ps.PathSet) == 0 {
		return view, nil, "propSet"
	}
	if os.Obj.Type != "ContainerView" || !isTrue(os.Skip) || len(os.SelectSet) != 1 {
		return view, nil, "objectSet"
	}
	ts, ok := os.SelectSet[0].(*types.TraversalSpec)
	if !ok || ts.Type != "ContainerView" || ts.Path != "view" || isTrue(ts.Skip) || len(ts.SelectSet) != 0 {
		return view, nil, "selectSet"
	}
	return os.Obj, ps.PathSet, ""
}

func isTrue(b *bool) bool { return b != nil && *b }

func (fc *fastCollector) retrieve(w http.ResponseWriter, r *http.Request, req *types.RetrievePropertiesEx) bool {
	view, paths, why := fc.viewSpec(req)
	if why != "" {
		return fc.refuse(why)
	}
	refs, why := fc.viewList(r, req.This, view)
	if why != "" {
		return fc.refuse(why)
	}
	answers := fc.answers(req.This, refs, paths)
	max := req.Options.MaxObjects
	var first, rest [][]byte
	for i, a := range answers {
		if max <= 0 || i < int(max) {
			first = append(first, a.first)
		} else {
			rest = append(rest, a.cont)
		}
	}
	token := ""
	if len(rest) > 0 {
		token = uuid.NewString()
		fc.mu.Lock()
		fc.book[token] = fastPage{max: max, objs: rest}
		fc.mu.Unlock()
	}
	fc.write(w, "RetrievePropertiesEx", token, first)
	return true
}

// answer serves a stored page: max objects, the rest under a new token.
func (fc *fastCollector) answer(w http.ResponseWriter, method string, max int32, objs [][]byte) {
	token := ""
	if max > 0 && len(objs) > int(max) {
		token = uuid.NewString()
		fc.mu.Lock()
		fc.book[token] = fastPage{max: max, objs: objs[max:]}
		fc.mu.Unlock()
		objs = objs[:max]
	}
	fc.write(w, method, token, objs)
}

// viewList reads the view's `view` (and `type`) from the simulator, with
// the caller's own request (its session, its SOAPAction).
func (fc *fastCollector) viewList(r *http.Request, pc, view types.ManagedObjectReference) ([]types.ManagedObjectReference, string) {
	probe := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
		`<soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25">`+
		`<_this type="%s">%s</_this><specSet><propSet><type>ContainerView</type>`+
		`<pathSet>type</pathSet><pathSet>view</pathSet></propSet>`+
		`<objectSet><obj type="ContainerView">%s</obj></objectSet></specSet>`+
		`<options></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>`,
		xmlText(pc.Type), xmlText(pc.Value), xmlText(view.Value))
	rec := fc.f.proxied(r.Clone(r.Context()), []byte(probe))
	if rec.Code != http.StatusOK {
		return nil, "view: fault"
	}
	var env struct {
		Objs []struct {
			Props []struct {
				Name    string   `xml:"name"`
				Strings []string `xml:"val>string"`
				Refs    []moref  `xml:"val>ManagedObjectReference"`
			} `xml:"propSet"`
			Missing []struct {
				Path string `xml:"path"`
			} `xml:"missingSet"`
		} `xml:"Body>RetrievePropertiesExResponse>returnval>objects"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Objs) != 1 || len(env.Objs[0].Missing) != 0 {
		return nil, "view: not read"
	}
	var refs []types.ManagedObjectReference
	typed := false
	for _, p := range env.Objs[0].Props {
		switch p.Name {
		case "type":
			typed = len(p.Strings) == 1 && p.Strings[0] == "VirtualMachine"
		case "view":
			for _, m := range p.Refs {
				refs = append(refs, types.ManagedObjectReference{Type: m.Type, Value: m.Value})
			}
		}
	}
	if !typed {
		return nil, "view: not of VirtualMachine"
	}
	return refs, ""
}

// answers are the VMs' answers in the view's order, rendered again where
// a VM changed since (on every core); a VM gone is left out.
func (fc *fastCollector) answers(pc types.ManagedObjectReference, refs []types.ManagedObjectReference, paths []string) []*vmAnswer {
	key := strings.Join(paths, "\x00")
	out := make([]*vmAnswer, len(refs))
	var stale []int
	seen := map[types.ManagedObjectReference]bool{}
	fc.mu.Lock()
	set := fc.sets[key]
	if set == nil {
		set = map[string]*vmAnswer{}
		fc.sets[key] = set
	}
	for i, ref := range refs {
		if seen[ref] || ref.Type != "VirtualMachine" {
			continue // collect takes each object once, of the spec's type
		}
		seen[ref] = true
		if a := set[ref.Value]; a != nil && a.gen == fc.gen[ref.Value] {
			out[i] = a
			fc.reused++
		} else {
			stale = append(stale, i)
		}
	}
	fc.mu.Unlock()

	var wg sync.WaitGroup
	next := make(chan int)
	for n := 0; n < runtime.NumCPU(); n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = fc.render(pc, refs[i], paths)
			}
		}()
	}
	for _, i := range stale {
		next <- i
	}
	close(next)
	wg.Wait()

	fc.mu.Lock()
	res := out[:0]
	for i, a := range out {
		if a == nil {
			continue
		}
		if cur := set[refs[i].Value]; cur == nil || cur.gen < a.gen {
			set[refs[i].Value] = a
		}
		res = append(res, a)
	}
	fc.served++
	fc.mu.Unlock()
	return res
}

// render asks the simulator's PropertyCollector for one VM's properties,
// under the VM's lock (where its generation is read), and encodes them
// as the simulator encodes an answer; nil when the VM is gone.
func (fc *fastCollector) render(pc, ref types.ManagedObjectReference, paths []string) *vmAnswer {
	ctx := fc.f.sessionCtx()
	obj := ctx.Map.Get(ref)
	coll, ok := ctx.Map.Get(pc).(*simulator.PropertyCollector)
	if obj == nil || !ok {
		return nil
	}
	req := &types.RetrievePropertiesEx{This: pc, SpecSet: []types.PropertyFilterSpec{{
		PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: paths}},
		ObjectSet: []types.ObjectSpec{{Obj: ref}},
	}}}
	var gen uint64
	var res *methods.RetrievePropertiesExBody
	ctx.WithLock(obj, func() {
		fc.mu.Lock()
		gen = fc.gen[ref.Value]
		fc.mu.Unlock()
		res, _ = coll.RetrievePropertiesEx(ctx, req).(*methods.RetrievePropertiesExBody)
	})
	if res == nil || res.Res == nil || res.Res.Returnval == nil || len(res.Res.Returnval.Objects) != 1 {
		return nil
	}
	// The answer leaves out what has no value; a continuation page keeps
	// it, in path order (collectFields adds each path once, in order, to
	// the propSet or the missingSet).
	oc := res.Res.Returnval.Objects[0]
	have := map[string]types.DynamicProperty{}
	for _, p := range oc.PropSet {
		have[p.Name] = p
	}
	missing := map[string]bool{}
	for _, m := range oc.MissingSet {
		missing[m.Path] = true
	}
	full := oc
	full.PropSet = nil
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		if dp, ok := have[p]; ok {
			full.PropSet = append(full.PropSet, dp)
		} else if !missing[p] {
			full.PropSet = append(full.PropSet, types.DynamicProperty{Name: p})
		}
	}
	a := &vmAnswer{gen: gen, first: encodeObject(oc)}
	if len(full.PropSet) == len(oc.PropSet) {
		a.cont = a.first
	} else {
		a.cont = encodeObject(full)
	}
	fc.mu.Lock()
	fc.rendered++
	fc.mu.Unlock()
	return a
}

// encodeObject is <objects>...</objects> as the simulator writes it in an
// answer (its encoder, the element of RetrieveResult.Objects).
func encodeObject(oc types.ObjectContent) []byte {
	var b bytes.Buffer
	e := xml.NewEncoder(&b)
	_ = e.Encode(&types.RetrieveResult{Objects: []types.ObjectContent{oc}})
	_ = e.Flush()
	s := b.Bytes()
	i, j := bytes.Index(s, []byte("<objects>")), bytes.LastIndex(s, []byte("</objects>"))
	if i < 0 || j < 0 {
		return nil
	}
	return append([]byte(nil), s[i:j+len("</objects>")]...)
}

// The simulator's envelope (simulator.go soapEnvelope, response).
type fastEnvelope struct {
	XMLName xml.Name `xml:"soapenv:Envelope"`
	Enc     string   `xml:"xmlns:soapenc,attr"`
	Env     string   `xml:"xmlns:soapenv,attr"`
	XSD     string   `xml:"xmlns:xsd,attr"`
	XSI     string   `xml:"xmlns:xsi,attr"`
	Body    any      `xml:"soapenv:Body"`
}

// fastResponse is the simulator's response type (simulator.go): the
// element of Res, named by its struct tag, in urn:vim25.
type fastResponse struct {
	Body soap.HasFault
}

func (r *fastResponse) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	body := reflect.ValueOf(r.Body).Elem()
	val := body.FieldByName("Res")
	res := xml.StartElement{Name: xml.Name{Space: "urn:" + vim25.Namespace, Local: val.Elem().Type().Name()}}
	tinfo, err := xml.GetTypeInfo(body.Type())
	if err != nil {
		return err
	}
	if resTinfo, ok := tinfo.Fields["Res"]; ok {
		if resTinfo.Name != "" {
			res.Name.Local = resTinfo.Name
		}
		if resTinfo.Xmlns != "" {
			res.Name.Space = resTinfo.Xmlns
		}
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeElement(val.Interface(), res); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

var envelopes sync.Map // method -> [2][]byte: up to <returnval>, from </returnval>

// envelope is the simulator's answer to method around its returnval.
func envelope(method string) (head, tail []byte) {
	if v, ok := envelopes.Load(method); ok {
		p := v.([2][]byte)
		return p[0], p[1]
	}
	var body soap.HasFault
	switch method {
	case "RetrievePropertiesEx":
		body = &methods.RetrievePropertiesExBody{Res: &types.RetrievePropertiesExResponse{Returnval: &types.RetrieveResult{}}}
	default:
		body = &methods.ContinueRetrievePropertiesExBody{Res: &types.ContinueRetrievePropertiesExResponse{}}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	e := xml.NewEncoder(&b)
	_ = e.Encode(&fastEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: &fastResponse{body},
	})
	_ = e.Flush()
	s := b.Bytes()
	i := bytes.Index(s, []byte("</returnval>"))
	head, tail = append([]byte(nil), s[:i]...), append([]byte(nil), s[i:]...)
	envelopes.Store(method, [2][]byte{head, tail})
	return head, tail
}

func (fc *fastCollector) write(w http.ResponseWriter, method, token string, objs [][]byte) {
	head, tail := envelope(method)
	n := len(head) + len(tail) + len(token) + 16
	for _, o := range objs {
		n += len(o)
	}
	out := make([]byte, 0, n)
	out = append(out, head...)
	if token != "" {
		out = append(out, "<token>"...)
		out = append(out, token...)
		out = append(out, "</token>"...)
	}
	for _, o := range objs {
		out = append(out, o...)
	}
	out = append(out, tail...)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	fc.mu.Lock()
	fc.objects += len(objs)
	fc.mu.Unlock()
}

// control: GET /harness/fast-collector, what it served and refused;
// DELETE forgets the counts; POST ?paths=name,parent,... renders every VM
// for that path set now (a test bed made ready before the client starts,
// as a vCenter's inventory is in memory before anyone asks).
func (fc *fastCollector) control(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		paths := strings.Split(r.URL.Query().Get("paths"), ",")
		ctx := fc.f.newCtx()
		si := ctx.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
		var refs []types.ManagedObjectReference
		for _, vm := range ctx.Map.All("VirtualMachine") {
			refs = append(refs, vm.Reference())
		}
		n := len(fc.answers(si.Content.PropertyCollector, refs, paths))
		fc.mu.Lock()
		fc.served--
		fc.mu.Unlock()
		writeJSON(w, map[string]int{"rendered": n})
		return
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if r.Method == http.MethodDelete {
		fc.served, fc.refused, fc.rendered, fc.reused = 0, 0, 0, 0
		fc.objects, fc.servedNs = 0, 0
		fc.why = map[string]int{}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	data, _ := json.Marshal(map[string]any{"served": fc.served, "refused": fc.refused,
		"refusals": fc.why, "rendered": fc.rendered, "reused": fc.reused, "tokens": len(fc.book),
		"objects": fc.objects, "served_ns": fc.servedNs})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}
