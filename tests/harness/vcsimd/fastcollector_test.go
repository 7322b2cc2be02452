package main

// The fast collector's pages against the simulator's own, byte for byte
// (tokens aside), for the agent's request: page by page, with VMs changed
// between pages (reconfigured, powered on, destroyed, created).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/types"
)

// The agent's property set (agent/enforce/inventory.c inventory_vm_paths).
var agentPaths = []string{
	"name", "parent", "config.version", "config.template", "config.keyId",
	"config.migrateEncryption", "config.ftEncryptionMode",
	"runtime.powerState", "snapshot", "config.hardware.device",
	"config.changeVersion", "runtime.connectionState", "customValue", "runtime.host",
	"datastore", "config.createDate", "config.instanceUuid",
}

type bed struct {
	t       *testing.T
	front   *front
	fURL    string // the front, fast collector on
	sURL    string // the simulator itself
	cookie  string
	client  *govmomi.Client
	view    types.ManagedObjectReference
	cleanup func()
}

func newBed(t *testing.T, vms int) *bed {
	model := simulator.VPX()
	model.Machine = vms
	model.Autostart = false
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0"}
	model.Service.RegisterEndpoints = true
	s := model.Service.NewServer()
	backend := *s.URL
	backend.User = nil
	backend.Path = ""
	fr := newFront(model, &backend, "8.0.3.0", false)
	fr.fast = newFastCollector(fr)
	fs := httptest.NewServer(fr)
	b := &bed{t: t, front: fr, fURL: fs.URL + "/sdk", sURL: backend.String() + "/sdk"}
	b.cleanup = func() { fs.Close(); s.Close(); model.Remove() }

	u, _ := url.Parse(b.fURL)
	u.User = url.UserPassword("user", "pass")
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	for _, ck := range c.Client.Jar.Cookies(u) {
		if ck.Name == "vmware_soap_session" {
			b.cookie = ck.Name + "=" + ck.Value
		}
	}
	if b.cookie == "" {
		t.Fatal("no session cookie")
	}
	v, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder,
		[]string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	b.view = v.Reference()
	return b
}

// retrieveBody is the agent's RetrievePropertiesEx, as gSOAP writes it.
func retrieveBody(view types.ManagedObjectReference, paths []string, max int, all bool) string {
	var ps strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&ps, "<pathSet>%s</pathSet>", p)
	}
	allTag, opt := "", ""
	if all {
		allTag = "<all>true</all>"
	}
	if max > 0 {
		opt = fmt.Sprintf("<maxObjects>%d</maxObjects>", max)
	}
	return `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope ` +
		`xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vim="urn:vim25">` +
		`<SOAP-ENV:Body><vim:RetrievePropertiesEx><vim:_this type="PropertyCollector">propertyCollector</vim:_this>` +
		`<vim:specSet><vim:propSet><vim:type>VirtualMachine</vim:type>` + allTag + strings.ReplaceAll(ps.String(), "pathSet>", "vim:pathSet>") +
		`</vim:propSet><vim:objectSet><vim:obj type="ContainerView">` + view.Value + `</vim:obj>` +
		`<vim:skip>true</vim:skip><vim:selectSet xsi:type="vim:TraversalSpec"><vim:name>view</vim:name>` +
		`<vim:type>ContainerView</vim:type><vim:path>view</vim:path></vim:selectSet></vim:objectSet>` +
		`</vim:specSet><vim:options>` + strings.ReplaceAll(opt, "maxObjects>", "vim:maxObjects>") +
		`</vim:options></vim:RetrievePropertiesEx></SOAP-ENV:Body></SOAP-ENV:Envelope>`
}

func continueBody(token string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope ` +
		`xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:vim="urn:vim25">` +
		`<SOAP-ENV:Body><vim:ContinueRetrievePropertiesEx><vim:_this type="PropertyCollector">propertyCollector</vim:_this>` +
		`<vim:token>` + token + `</vim:token></vim:ContinueRetrievePropertiesEx></SOAP-ENV:Body></SOAP-ENV:Envelope>`
}

type page struct {
	code  int
	ctype string
	body  []byte
	token string
}

var tokenRE = regexp.MustCompile(`<token>([^<]*)</token>`)

func (b *bed) post(base, body string) page {
	req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "urn:vim25/8.0.3.0")
	req.Header.Set("User-Agent", "gSOAP/2.8")
	req.Header.Set("Cookie", b.cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	p := page{code: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: data}
	if m := tokenRE.FindSubmatch(data); m != nil {
		p.token = string(m[1])
	}
	return p
}

// same fails unless the two pages are equal but for their tokens.
func (b *bed) same(what string, fast, sim page) {
	b.t.Helper()
	norm := func(d []byte) []byte { return tokenRE.ReplaceAll(d, []byte("<token>T</token>")) }
	if fast.code != sim.code || fast.ctype != sim.ctype {
		b.t.Fatalf("%s: fast %d %q, simulator %d %q", what, fast.code, fast.ctype, sim.code, sim.ctype)
	}
	if (fast.token == "") != (sim.token == "") {
		b.t.Fatalf("%s: fast token %q, simulator token %q", what, fast.token, sim.token)
	}
	f, s := norm(fast.body), norm(sim.body)
	if !bytes.Equal(f, s) {
		i := 0
		for i < len(f) && i < len(s) && f[i] == s[i] {
			i++
		}
		lo := max(0, i-200)
		b.t.Fatalf("%s: differ at byte %d of %d/%d:\nfast: %s\nsim:  %s", what, i, len(f), len(s),
			f[lo:min(len(f), i+200)], s[lo:min(len(s), i+200)])
	}
}

func (b *bed) stats() map[string]any {
	rec := httptest.NewRecorder()
	b.front.fast.control(rec, httptest.NewRequest(http.MethodGet, "/harness/fast-collector", nil))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out
}

// scan runs a whole paged retrieval on both, page by page, calling
// between(i) after page i; it returns the number of pages and objects.
func (b *bed) scan(paths []string, max int, between func(int)) (pages, objects int) {
	b.t.Helper()
	fast := b.post(b.fURL, retrieveBody(b.view, paths, max, false))
	sim := b.post(b.sURL, retrieveBody(b.view, paths, max, false))
	for {
		pages++
		objects += bytes.Count(sim.body, []byte("<objects>"))
		b.same(fmt.Sprintf("page %d", pages), fast, sim)
		if sim.token == "" {
			return pages, objects
		}
		if between != nil {
			between(pages)
		}
		fast = b.post(b.fURL, continueBody(fast.token))
		sim = b.post(b.sURL, continueBody(sim.token))
	}
}

func num(m map[string]any, k string) int {
	v, _ := m[k].(float64)
	return int(v)
}

func TestFastCollectorPagesEqualSimulator(t *testing.T) {
	b := newBed(t, 10) // 2 pools: 20 VMs
	defer b.cleanup()
	ctx := context.Background()

	// Unchanged: every page equal; the second scan renders nothing again.
	pages, objs := b.scan(agentPaths, 7, nil)
	if pages != 3 || objs != 20 {
		t.Fatalf("want 3 pages of 20 VMs, got %d pages, %d objects", pages, objs)
	}
	st := b.stats()
	if num(st, "served") != 1 || num(st, "rendered") != 20 {
		t.Fatalf("first scan: %v", st)
	}
	b.scan(agentPaths, 7, nil)
	st = b.stats()
	if num(st, "served") != 2 || num(st, "rendered") != 20 || num(st, "reused") != 20 {
		t.Fatalf("second scan rendered again: %v", st)
	}
	// Made ready for another path set before anyone asks: its first scan
	// renders nothing.
	rec := httptest.NewRecorder()
	b.front.fast.control(rec, httptest.NewRequest(http.MethodPost,
		"/harness/fast-collector?paths="+strings.Join(agentPaths[:4], ","), nil))
	b.scan(agentPaths[:4], 7, nil)
	if st = b.stats(); num(st, "rendered") != 40 || num(st, "reused") != 40 {
		t.Fatalf("warmed: %v", st)
	}
	// One page (no maxObjects), and the lean set (no devices).
	if p, _ := b.scan(agentPaths, 0, nil); p != 1 {
		t.Fatalf("no maxObjects: %d pages", p)
	}
	b.scan(agentPaths[:9], 500, nil)

	// Changes between pages: the later pages are what the VMs were at the
	// first; the next scan sees every change.
	finder := find.NewFinder(b.client.Client)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	vms, err := finder.VirtualMachineList(ctx, "*")
	if err != nil || len(vms) != 20 {
		t.Fatalf("%d VMs: %v", len(vms), err)
	}
	wait := func(tk *object.Task, err error) {
		t.Helper()
		if err == nil {
			err = tk.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var created *object.VirtualMachine
	b.scan(agentPaths, 6, func(page int) {
		switch page {
		case 1: // a VM of a later page reconfigured, another powered on
			wait(vms[15].Reconfigure(ctx, types.VirtualMachineConfigSpec{NumCPUs: 4, Annotation: "x"}))
			wait(vms[16].PowerOn(ctx))
		case 2: // one destroyed, one created
			wait(vms[17].Destroy(ctx))
			folders, err := dc.Folders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pool, err := vms[0].ResourcePool(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{
				Name: "fast-new", GuestId: "otherGuest",
				Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
			}, pool, nil)
			if err == nil {
				var info *types.TaskInfo
				info, err = tk.WaitForResult(ctx)
				if err == nil {
					created = object.NewVirtualMachine(b.client.Client, info.Result.(types.ManagedObjectReference))
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	before := num(b.stats(), "rendered")
	_, objs = b.scan(agentPaths, 6, nil)
	if objs != 20 {
		t.Fatalf("after the changes: %d objects, want 20 (one destroyed, one created)", objs)
	}
	// The three changed VMs and the new one rendered again, nothing else.
	if n := num(b.stats(), "rendered") - before; n != 3 {
		t.Fatalf("rendered again %d VMs, want 3", n)
	}
	// Changes after the last scan: seen by the next one.  A custom value
	// is set without a task (the registry's Update of the VM alone).
	wait(created.PowerOn(ctx))
	wait(vms[3].CreateSnapshot(ctx, "s1", "", false, false))
	fields, err := object.GetCustomFieldsManager(b.client.Client)
	if err != nil {
		t.Fatal(err)
	}
	def, err := fields.Add(ctx, "owner", "VirtualMachine", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fields.Set(ctx, vms[4].Reference(), def.Key, "ops"); err != nil {
		t.Fatal(err)
	}
	b.scan(agentPaths, 6, nil)
	if !strings.Contains(string(b.post(b.fURL, retrieveBody(b.view, []string{"customValue"}, 0, false)).body), ">ops<") {
		t.Fatal("the custom value is not in the answer")
	}
	if !strings.Contains(string(b.post(b.fURL, retrieveBody(b.view, []string{"snapshot"}, 0, false)).body), "s1") {
		// (the snapshot's tree names it)
		t.Fatal("the snapshot is not in the answer")
	}
}

func TestFastCollectorRefusesWhatItDoesNotServe(t *testing.T) {
	b := newBed(t, 3)
	defer b.cleanup()
	// all: proxied, and equal (it is the simulator's answer).
	fast := b.post(b.fURL, retrieveBody(b.view, []string{"name"}, 0, true))
	sim := b.post(b.sURL, retrieveBody(b.view, []string{"name"}, 0, true))
	b.same("all", fast, sim)
	// A view of another type.
	v, err := view.NewManager(b.client.Client).CreateContainerView(context.Background(),
		b.client.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		t.Fatal(err)
	}
	hosts := v.Reference()
	fast = b.post(b.fURL, strings.ReplaceAll(retrieveBody(hosts, []string{"name"}, 0, false), ">VirtualMachine<", ">HostSystem<"))
	sim = b.post(b.sURL, strings.ReplaceAll(retrieveBody(hosts, []string{"name"}, 0, false), ">VirtualMachine<", ">HostSystem<"))
	b.same("hosts", fast, sim)
	// A VM view asked for hosts' properties... and a view that is gone.
	gone := types.ManagedObjectReference{Type: "ContainerView", Value: "session[x]nope"}
	fast = b.post(b.fURL, retrieveBody(gone, []string{"name"}, 0, false))
	sim = b.post(b.sURL, retrieveBody(gone, []string{"name"}, 0, false))
	if fast.code != http.StatusInternalServerError {
		t.Fatalf("gone view: %d %s", fast.code, fast.body)
	}
	b.same("gone view", fast, sim)
	// A token the fast collector did not issue.
	b.same("unknown token", b.post(b.fURL, continueBody("nope")), b.post(b.sURL, continueBody("nope")))
	// A fault rule on the method: the simulator answers.
	b.front.model.Service.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "RetrievePropertiesEx",
		ObjectType: "*", ObjectName: "*", Probability: 1, FaultType: simulator.FaultTypeCustom,
		Fault: &types.RuntimeFault{}, Message: "down", Enabled: true})
	if p := b.post(b.fURL, retrieveBody(b.view, agentPaths, 0, false)); p.code != http.StatusInternalServerError {
		t.Fatalf("fault rule ignored: %d", p.code)
	}
	st := b.stats()
	if num(st, "served") != 0 || num(st, "refused") != 4 {
		t.Fatalf("want 0 served, 4 refused: %v", st)
	}
}
