package main

// The calls of `vmcrypt-agent check --canary` where vcsim differs from
// vCenter (besides the host without keys, hostkeys.go):
// CryptoManagerKmip.QueryCryptoKeyStatus.  As elsewhere in the front, a
// request is read with the simulator's own UnmarshalBody (decodeRequest,
// strict.go), and what vCenter answers differently is the simulator's own
// answer, mended.  Each change is listed in tests/harness/README.md §2.

import (
	"bytes"
	"net/http"

	"github.com/vmware/govmomi/crypto"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

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
