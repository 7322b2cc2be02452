package main

// The calls of `vmcrypt-agent check --canary` where vcsim differs from
// vCenter (besides the host without keys, hostkeys.go): Folder.CreateVM_Task
// with a name the folder holds, CryptoManagerKmip.QueryCryptoKeyStatus, and
// CustomFieldsManager.SetField / RemoveCustomFieldDef / the keys of
// AddCustomFieldDef after -load.  As elsewhere in the front, a request is
// read with the simulator's own UnmarshalBody (decodeRequest, strict.go);
// what vCenter refuses fails as a simulator Task, and what vCenter answers
// differently is the simulator's own answer, mended.  Each change is listed
// in tests/harness/README.md §2.

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vmware/govmomi/crypto"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

// ---------------------------------------------------------------------
// Folder.CreateVM_Task: a name already used in the folder

// createVM refuses a VM name that the folder already holds, as vCenter
// does (DuplicateName is thrown by CreateVM_Task, vSphere API reference,
// vim.fault.DuplicateName: "a name already exists in the same name
// space"); vcsim creates a second VM of that name (it refuses it for
// CloneVM_Task only: govmomi issue #2983).  It reports whether it answered.
func (f *front) createVM(w http.ResponseWriter, r *http.Request, body []byte) bool {
	m, err := decodeRequest(r.URL.Path, body)
	if err != nil {
		return false
	}
	req, ok := m.Body.(*types.CreateVM_Task)
	if !ok {
		return false
	}
	ctx := f.newCtx()
	folder, ok := ctx.Map.Get(req.This).(*simulator.Folder)
	if !ok {
		return false
	}
	// Named as the simulator names it (escapeSpecialCharacters, folder.go).
	name := req.Config.Name
	for _, c := range []string{`%`, `/`, `\`} {
		name = strings.ReplaceAll(name, c, strings.ToLower(url.QueryEscape(c)))
	}
	var obj mo.Entity
	ctx.WithLock(folder, func() { obj = ctx.Map.FindByName(name, folder.ChildEntity) })
	if obj == nil {
		return false
	}
	// vCenter's text for the fault is UNCONFIRMED.
	task := f.failTask(req.This, "createVm", &types.DuplicateName{Name: name, Object: obj.Reference()},
		fmt.Sprintf("The name '%s' already exists.", name))
	taskAnswer(w, "CreateVM_Task", task)
	return true
}

// ---------------------------------------------------------------------
// CryptoManagerKmip.QueryCryptoKeyStatus

// queryKeyStatus answers QueryCryptoKeyStatus with the simulator's answer,
// mended where it differs from vCenter's (vSphere API reference,
// CryptoManagerKmip.QueryCryptoKeyStatus, CryptoManagerKmipCryptoKeyStatus):
//   - 0x02 ("check the VMs which use that key"): vcsim appends the VMs to
//     status[i], then overwrites status[i] (and compares CryptoKeyId structs
//     whose providerId is a pointer): encryptedVMs is always empty.  The
//     front lists the VMs whose home (config.keyId) or a disk
//     (backing.keyId) uses the key.
//   - 0x01 ("check if key data is available to VC"): vcsim looks the key
//     provider up by the wrong field (KmipClusterInfo.keyId instead of its
//     clusterId), so a key of a native key provider is reported available
//     instead of KeyStateManagedByNKP; a key asked for without a provider
//     is KeyStateMissingInKMS although vCenter holds it (CryptoKeyId
//     .providerId "may be ignored if the key is known to be stored in
//     another provider"; KeyStateMissingInCache is a key "not found in VC
//     cache and does not specify a provider"); and after -load the keys of
//     the run before are forgotten (vcsim keeps them in an unexported map
//     that object.save does not write), where the KMS still holds them.
//
// Faults (the fault injector's, a bad request) pass through unchanged.
func (f *front) queryKeyStatus(w http.ResponseWriter, r *http.Request, body []byte) {
	rec := f.proxied(r, body)
	var req *types.QueryCryptoKeyStatus
	if m, err := decodeRequest(r.URL.Path, body); err == nil {
		req, _ = m.Body.(*types.QueryCryptoKeyStatus)
	}
	if req == nil || rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	res := methods.QueryCryptoKeyStatusBody{}
	dec := vimxml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&soap.Envelope{Body: &res}); err != nil || res.Res == nil {
		copyResponse(w, rec)
		return
	}

	ctx := f.newCtx()
	known := map[string]string{} // key -> the provider holding it
	native := map[string]bool{}  // provider -> a native key provider
	if cm := ctx.Map.CryptoManager(); cm != nil {
		ctx.WithLock(cm, func() {
			if r, ok := cm.ListKeys(ctx, &types.ListKeys{}).(*methods.ListKeysBody); ok && r.Res != nil {
				for _, k := range r.Res.Returnval {
					if k.ProviderId != nil {
						known[k.KeyId] = k.ProviderId.Id
					}
				}
			}
			for _, c := range cm.KmipServers {
				native[c.ClusterId.Id] = c.ManagementType == string(types.KmipClusterInfoKmsManagementTypeNativeProvider)
			}
		})
	}
	f.mu.Lock()
	for k, p := range f.loadedKeys {
		if _, ok := known[k]; !ok {
			known[k] = p
		}
	}
	f.mu.Unlock()
	var users map[string][]types.ManagedObjectReference
	if req.CheckKeyBitMap&crypto.CheckKeyUsedByVms != 0 {
		users = keyUsers(ctx)
	}
	for i := range res.Res.Returnval {
		s := &res.Res.Returnval[i]
		if req.CheckKeyBitMap&crypto.CheckKeyAvailable != 0 {
			avail, reason := false, types.CryptoManagerKmipCryptoKeyStatusKeyUnavailableReasonKeyStateMissingInKMS
			p, ok := known[s.KeyId.KeyId]
			switch {
			case ok && native[p]:
				reason = types.CryptoManagerKmipCryptoKeyStatusKeyUnavailableReasonKeyStateManagedByNKP
			case ok:
				avail, reason = true, ""
			case s.KeyId.ProviderId == nil || s.KeyId.ProviderId.Id == "":
				reason = types.CryptoManagerKmipCryptoKeyStatusKeyUnavailableReasonKeyStateMissingInCache
			}
			if why, down := f.keyDown(s.KeyId.KeyId); down {
				avail, reason = false, types.CryptoManagerKmipCryptoKeyStatusKeyUnavailableReason(why)
			}
			s.KeyAvailable = types.NewBool(avail)
			s.Reason = string(reason)
		}
		if users != nil {
			s.EncryptedVMs = users[s.KeyId.KeyId]
		}
	}
	var b bytes.Buffer
	enc := vimxml.NewEncoder(&b)
	start := vimxml.StartElement{Name: vimxml.Name{Local: "QueryCryptoKeyStatusResponse"},
		Attr: []vimxml.Attr{{Name: vimxml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace}}}
	if err := enc.EncodeElement(res.Res, start); err != nil || enc.Flush() != nil {
		copyResponse(w, rec)
		return
	}
	soapOK(w, b.String())
}

// keyDown says whether /harness/key-status made the key unavailable, and
// why (the reason vCenter gives).
func (f *front) keyDown(key string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	why, ok := f.keysDown[key]
	return why, ok
}

// keyStatusControl serves /harness/key-status: a key vCenter cannot serve
// any more (deleted or deactivated on the KMS, the KMS unreachable), as
// QueryCryptoKeyStatus reports it with bit 0x01: keyAvailable false and
// one of the reasons of CryptoManagerKmipCryptoKeyStatusKeyUnavailableReason
// (vSphere API reference; govmomi enum.go).  Nothing else changes: the KMS
// of the test bed holds no key material, and what vCenter refuses with a
// key it cannot serve is not modelled.
//
//	POST   ?key=ID&available=false[&reason=KeyStateMissingInKMS]
//	POST   ?key=ID&available=true
//	GET    the keys made unavailable, with their reasons
//	DELETE every key available again
func (f *front) keyStatusControl(w http.ResponseWriter, r *http.Request, q url.Values) {
	switch r.Method {
	case http.MethodPost:
		key := q.Get("key")
		if key == "" {
			http.Error(w, "key=ID", http.StatusBadRequest)
			return
		}
		why := q.Get("reason")
		if why == "" {
			why = string(types.CryptoManagerKmipCryptoKeyStatusKeyUnavailableReasonKeyStateMissingInKMS)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		switch q.Get("available") {
		case "false":
			f.keysDown[key] = why
		case "true":
			delete(f.keysDown, key)
		default:
			http.Error(w, "available=false|true", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		f.mu.Lock()
		f.keysDown = map[string]string{}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		f.mu.Lock()
		out := map[string]string{}
		for k, v := range f.keysDown {
			out[k] = v
		}
		f.mu.Unlock()
		writeJSON(w, out)
	}
}

// postVMEvent posts the EventEx id about the VM vm (a name or a moref), on
// the VM with its host, compute resource and datacenter as vCenter's
// VM events carry them (cryptoEvent, hostkeys.go).
func (f *front) postVMEvent(vm, id, text string) error {
	ctx := f.sessionCtx()
	var obj *simulator.VirtualMachine
	if v, ok := ctx.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: vm}).(*simulator.VirtualMachine); ok {
		obj = v
	} else {
		for _, e := range ctx.Map.All("VirtualMachine") {
			if v, ok := e.(*simulator.VirtualMachine); ok && v.Name == vm {
				obj = v
				break
			}
		}
	}
	if obj == nil {
		return fmt.Errorf("no VM %q (a VirtualMachine moref or name)", vm)
	}
	var host *types.ManagedObjectReference
	ctx.WithLock(obj, func() {
		if obj.Runtime.Host != nil {
			h := *obj.Runtime.Host
			host = &h
		}
	})
	ev := cryptoEvent(ctx, obj, host, id, text)
	ev.UserName = "vpxd"
	f.postEvent(ctx, ev)
	return nil
}

// keyUsers maps each key to the VMs that use it (home or a disk), each VM
// read under its own lock.
func keyUsers(ctx *simulator.Context) map[string][]types.ManagedObjectReference {
	out := map[string][]types.ManagedObjectReference{}
	for _, e := range ctx.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		ctx.WithLock(vm, func() {
			keys, _ := vmKeys(vm)
			for _, k := range keys {
				out[k.KeyId] = append(out[k.KeyId], vm.Self)
			}
		})
	}
	return out
}

// ---------------------------------------------------------------------
// CustomFieldsManager

// customField runs the simulator's SetField or RemoveCustomFieldDef, then
// publishes the entities' customValue and value through the registry's
// Update, as every simulator method that changes a property does.  vcsim
// changes the fields in place, so a collector waiting on customValue
// (WaitForUpdatesEx) never hears of it; on vCenter customValue is a
// property like any other (vSphere API reference,
// ExtensibleManagedObject.customValue).  SetField on an object that does
// not exist is ManagedObjectNotFound (vcsim's SetField panics on it, with
// the manager's lock held: every later call on the manager would hang).
func (f *front) customField(w http.ResponseWriter, r *http.Request, body []byte) {
	m, err := decodeRequest(r.URL.Path, body)
	if err != nil {
		copyResponse(w, f.proxied(r, body))
		return
	}
	ctx := f.newCtx()
	var holders []mo.Entity
	switch req := m.Body.(type) {
	case *types.SetField:
		e, ok := ctx.Map.Get(req.Entity).(mo.Entity)
		if !ok {
			soapFault(w, "ManagedObjectNotFound", "The object has already been deleted or has not been completely created",
				`<obj type="`+xmlText(req.Entity.Type)+`">`+xmlText(req.Entity.Value)+`</obj>`)
			return
		}
		holders = []mo.Entity{e}
	case *types.RemoveCustomFieldDef:
		holders = fieldHolders(ctx, req.Key)
	}
	rec := f.proxied(r, body)
	if rec.Code == http.StatusOK {
		for _, e := range holders {
			ctx.WithLock(e, func() {
				me := e.Entity()
				ctx.Map.Update(ctx, e, []types.PropertyChange{
					{Name: "customValue", Val: me.CustomValue},
					{Name: "value", Val: me.Value},
				})
			})
		}
	}
	copyResponse(w, rec)
}

// fieldHolders are the entities that hold a value of the field key.
func fieldHolders(ctx *simulator.Context, key int32) []mo.Entity {
	cfm := customFieldsManager(ctx)
	if cfm == nil {
		return nil
	}
	kind, found := "", false
	ctx.WithLock(cfm, func() {
		for _, d := range cfm.Field {
			if d.Key == key {
				kind, found = d.ManagedObjectType, true
				return
			}
		}
	})
	if !found {
		return nil
	}
	var out []mo.Entity
	for _, e := range ctx.Map.All(kind) {
		ctx.WithLock(e, func() {
			for _, v := range e.Entity().CustomValue {
				if v.GetCustomFieldValue().Key == key {
					out = append(out, e)
					return
				}
			}
		})
	}
	return out
}

func customFieldsManager(ctx *simulator.Context) *simulator.CustomFieldsManager {
	if ctx.Map.IsESX() {
		return nil
	}
	si, ok := ctx.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok || si.Content.CustomFieldsManager == nil {
		return nil
	}
	cfm, _ := ctx.Map.Get(*si.Content.CustomFieldsManager).(*simulator.CustomFieldsManager)
	return cfm
}

// alignFieldKeys: after -load, the simulator's next custom field key starts
// again at 0 (an unexported counter that object.save does not write), so a
// new field gets the key of an old one, and RemoveCustomFieldDef of the new
// one removes the old one and its values (the first with that key).  On
// vCenter a key names one field ("A unique ID used to reference this
// custom field in assignments", vSphere API reference, CustomFieldDef.key).
// The counter is moved past the loaded keys with the simulator's own
// AddCustomFieldDef, for a type no object has, and those definitions are
// dropped again: as the registry's AlignCounter does for morefs.
func alignFieldKeys(ctx *simulator.Context) {
	cfm := customFieldsManager(ctx)
	if cfm == nil {
		return
	}
	ctx.WithLock(cfm, func() {
		max := int32(-1)
		for _, d := range cfm.Field {
			if d.Key > max {
				max = d.Key
			}
		}
		if max < 0 {
			return
		}
		kept := append([]types.CustomFieldDef(nil), cfm.Field...)
		for i := 0; ; i++ {
			r, ok := cfm.AddCustomFieldDef(ctx, &types.AddCustomFieldDef{
				This: cfm.Self, Name: fmt.Sprintf("vcsimd.align.%d", i), MoType: "VcsimdKeyAlign",
			}).(*methods.AddCustomFieldDefBody)
			if !ok || r.Res == nil || r.Res.Returnval.Key >= max {
				break
			}
		}
		cfm.Field = kept
	})
}
