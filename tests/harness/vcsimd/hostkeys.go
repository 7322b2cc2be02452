package main

// Hosts that cannot get keys: the failure `vmcrypt-agent check --canary`
// exists to reveal.  vCenter gives an ESXi host the key (KEK) of an
// encrypted VM when the host needs it; when the host cannot get it (on
// OVHcloud Hosted Private Cloud: the KMS's address not let through the
// PCC's firewall), a VM cannot be encrypted or powered on there, and an
// encrypted VM that needs its key there becomes locked (vSphere Security,
// "Resolve Locked Virtual Machines", 6.5-8.0: "The virtual machine cannot
// power on ... The disk [/path/to/the/disk.vmdk] is encrypted and a
// required key was not found."; `runtime.cryptoState` `locked`: "locked
// state for the configuration key missing on the ESX host where the VM is
// registered", vSphere API reference, VirtualMachine.CryptoState).
//
// vcsim has no such notion: every host has every key.  /harness/host-keys
// takes a host's keys away (as after a reboot of the host with the KMS out
// of its reach: "After each reboot, an ESXi host must be able to reach
// vCenter Server ... and makes it available to ESXi", same page) and gives
// them back.  On a host without keys:
//   - a ReconfigVM_Task that gives the VM or a disk a new key
//     (CryptoSpecEncrypt, ShallowRecrypt, DeepRecrypt) fails as a task
//     (fidelity.go, reconfigRefusal);
//   - PowerOnVM_Task of an encrypted VM fails as a task, leaves the VM
//     `locked` (runtime.cryptoState, through the registry's Update) and
//     posts com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnHost through the
//     simulator's EventManager (powerOn below).
// Nothing else changes: reads, power-off, destroy, and QueryCryptoKeyStatus
// (whose bit 0x01 is "key data is available to VC", not to a host).

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The event vCenter posts when a VM is locked for keys missing on its host,
// and when it is unlocked; the texts are the event types' descriptions in
// vCenter 8.0U3 build 24022515 (lamw/vcenter-event-mapping,
// vsphere-8.0u3.md).
const (
	eventVMLockedKeyMissingOnHost = "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnHost"
	eventVMUnlocked               = "com.vmware.vc.vm.Crypto.VMUnlocked"
	textVMLockedKeyMissingOnHost  = "Virtual machine is locked because keys were missing on the host."
	textVMUnlocked                = "Virtual machine is unlocked."
)

// hostKeysDown says whether host cannot get keys.
func (f *front) hostKeysDown(host *types.ManagedObjectReference) bool {
	if host == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noKeys[host.Value]
}

// resolveHost finds a host by moref value (host-21) or by name (DC0_H0).
func (f *front) resolveHost(q string) (types.ManagedObjectReference, string, error) {
	ctx := f.newCtx()
	ref := types.ManagedObjectReference{Type: "HostSystem", Value: q}
	if h, ok := ctx.Map.Get(ref).(*simulator.HostSystem); ok {
		return ref, h.Name, nil
	}
	for _, e := range ctx.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok && h.Name == q {
			return h.Self, h.Name, nil
		}
	}
	return ref, "", fmt.Errorf("no host %q (a HostSystem moref or name)", q)
}

// hostKeysControl serves /harness/host-keys:
//
//	POST   ?host=<name or moref>&available=false|true
//	GET    the hosts that cannot get keys
//	DELETE every host gets keys again
func (f *front) hostKeysControl(w http.ResponseWriter, r *http.Request, q url.Values) {
	switch r.Method {
	case http.MethodPost:
		ref, _, err := f.resolveHost(q.Get("host"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var down bool
		switch q.Get("available") {
		case "false":
			down = true
		case "true":
		default:
			http.Error(w, "available=false|true", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if down {
			f.noKeys[ref.Value] = true
		} else {
			delete(f.noKeys, ref.Value)
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		f.mu.Lock()
		f.noKeys = map[string]bool{}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		type row struct {
			Host string `json:"host"`
			Name string `json:"name"`
		}
		f.mu.Lock()
		refs := make([]string, 0, len(f.noKeys))
		for h := range f.noKeys {
			refs = append(refs, h)
		}
		f.mu.Unlock()
		sort.Strings(refs)
		out := []row{}
		for _, h := range refs {
			_, name, _ := f.resolveHost(h)
			out = append(out, row{h, name})
		}
		writeJSON(w, map[string]any{"unavailable": out})
	}
}

// newKeysNeeded is what a reconfigure asks a host to get: the keys of the
// crypto specs that (re)key the VM or a disk, and whether there is one.
func newKeysNeeded(spec *types.VirtualMachineConfigSpec) ([]types.CryptoKeyId, bool) {
	var keys []types.CryptoKeyId
	needs := false
	add := func(k types.CryptoKeyId) {
		needs = true
		if k.KeyId == "" {
			return // vCenter generates it: not known yet
		}
		for _, o := range keys {
			if o.KeyId == k.KeyId {
				return
			}
		}
		keys = append(keys, k)
	}
	for _, c := range cryptoSpecs(spec) {
		switch s := c.(type) {
		case *types.CryptoSpecEncrypt:
			add(s.CryptoKeyId)
		case *types.CryptoSpecShallowRecrypt:
			add(s.NewKeyId)
		case *types.CryptoSpecDeepRecrypt:
			add(s.NewKeyId)
		}
	}
	return keys, needs
}

// keyMissingOnHost is the fault of a reconfigure that a host without keys
// cannot carry out.  EncryptionKeyRequired ("occurs when an operation fails
// due to one or more required encryption keys", vSphere API reference,
// since 6.7) is the closest type; the type and the text vCenter uses here
// are UNCONFIRMED.
func keyMissingOnHost(hostName string, keys []types.CryptoKeyId) (types.BaseMethodFault, string) {
	msg := "A required key was not found on host " + hostName + "."
	if len(keys) > 0 {
		provider := ""
		if p := keys[0].ProviderId; p != nil && p.Id != "" {
			provider = " (key provider " + p.Id + ")"
		}
		msg = fmt.Sprintf("A required key was not found: host %s cannot get key %s%s.",
			hostName, keys[0].KeyId, provider)
	}
	return &types.EncryptionKeyRequired{RequiredKey: keys}, msg
}

// vmKeys is every key an encrypted VM needs on its host: its own
// (config.keyId, VM home) and its disks', with the first encrypted disk.
// The caller holds the VM's lock.
func vmKeys(vm *simulator.VirtualMachine) (keys []types.CryptoKeyId, disk string) {
	add := func(k *types.CryptoKeyId) {
		if k == nil || k.KeyId == "" {
			return
		}
		for _, o := range keys {
			if o.KeyId == k.KeyId {
				return
			}
		}
		keys = append(keys, *k)
	}
	if vm.Config == nil {
		return nil, ""
	}
	add(vm.Config.KeyId)
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		var k *types.CryptoKeyId
		var file string
		switch b := d.GetVirtualDevice().Backing.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			k, file = b.KeyId, b.FileName
		case *types.VirtualDiskSeSparseBackingInfo:
			k, file = b.KeyId, b.FileName
		case *types.VirtualDiskSparseVer2BackingInfo:
			k, file = b.KeyId, b.FileName
		}
		if k != nil && k.KeyId != "" && disk == "" {
			disk = file
		}
		add(k)
	}
	return keys, disk
}

// hostPath is a datastore path ("[LocalDS_0] vm/vm.vmdk") as the host
// names the file: under the datastore's URL (/vmfs/volumes/<uuid>/ on
// ESXi, a local directory in vcsim).
func hostPath(ctx *simulator.Context, dsPath string) string {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return dsPath
	}
	for _, e := range ctx.Map.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok || ds.Name != p.Datastore {
			continue
		}
		var u string
		ctx.WithLock(ds, func() { u = ds.Info.GetDatastoreInfo().Url })
		if u != "" {
			return path.Join(strings.TrimPrefix(u, "ds://"), p.Path)
		}
	}
	return dsPath
}

// vmEvent is the event arguments vCenter gives a VM event: the VM, its
// host, the host's compute resource and the datacenter.
func vmEvent(ctx *simulator.Context, vm *simulator.VirtualMachine, host *types.ManagedObjectReference) types.Event {
	ev := types.Event{
		CreatedTime: time.Now(),
		Vm: &types.VmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: vm.Name},
			Vm:                  vm.Self,
		},
	}
	if host == nil {
		return ev
	}
	h, ok := ctx.Map.Get(*host).(*simulator.HostSystem)
	if !ok {
		return ev
	}
	ev.Host = &types.HostEventArgument{
		EntityEventArgument: types.EntityEventArgument{Name: h.Name},
		Host:                h.Self,
	}
	for p := h.Parent; p != nil; {
		e, ok := ctx.Map.Get(*p).(mo.Entity)
		if !ok {
			break
		}
		me := e.Entity()
		switch p.Type {
		case "ComputeResource", "ClusterComputeResource":
			if ev.ComputeResource == nil {
				ev.ComputeResource = &types.ComputeResourceEventArgument{
					EntityEventArgument: types.EntityEventArgument{Name: me.Name},
					ComputeResource:     me.Self,
				}
			}
		case "Datacenter":
			ev.Datacenter = &types.DatacenterEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: me.Name},
				Datacenter:          me.Self,
			}
		}
		p = me.Parent
	}
	return ev
}

// cryptoEvent is an EventEx about a VM (VMLocked.*, VMUnlocked), on the VM
// as vCenter raises it.
func cryptoEvent(ctx *simulator.Context, vm *simulator.VirtualMachine, host *types.ManagedObjectReference, id, text string) *types.EventEx {
	ev := vmEvent(ctx, vm, host)
	ev.FullFormattedMessage = text
	return &types.EventEx{
		Event:       ev,
		EventTypeId: id,
		Message:     text,
		ObjectId:    vm.Self.Value,
		ObjectType:  vm.Self.Type,
		ObjectName:  vm.Name,
	}
}

// powerOn serves PowerOnVM_Task of an encrypted VM: on a host without
// keys the VM does not power on, the task fails and the VM is locked.
// Otherwise the simulator's own power-on runs; a locked VM on a host that
// can get its keys again is unlocked first ("If the key can be restored on
// the KMS, vCenter Server retrieves it and pushes it to the ESXi host the
// next time it is needed", vSphere 6.7 Security, Resolve Locked Virtual
// Machines; whether vCenter 8 unlocks at power-on or only through Unlock
// VM / CryptoUnlock_Task is UNCONFIRMED).  It reports whether it answered.
func (f *front) powerOn(w http.ResponseWriter, r *http.Request, body []byte) bool {
	m, err := decodeRequest(r.URL.Path, body)
	if err != nil {
		return false
	}
	req, ok := m.Body.(*types.PowerOnVM_Task)
	if !ok {
		return false
	}
	ctx := f.sessionCtx()
	vm, ok := ctx.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	var keys []types.CryptoKeyId
	var disk, vmx string
	var host *types.ManagedObjectReference
	locked := false
	ctx.WithLock(vm, func() {
		if vm.Config == nil || vm.Config.Template {
			return
		}
		keys, disk = vmKeys(vm)
		vmx = vm.Config.Files.VmPathName
		host = vm.Runtime.Host
		locked = vm.Runtime.CryptoState == string(types.VirtualMachineCryptoStateLocked)
	})
	if len(keys) == 0 {
		return false
	}
	if !f.hostKeysDown(host) {
		if locked {
			ctx.WithLock(vm, func() {
				if vm.Runtime.CryptoState == string(types.VirtualMachineCryptoStateLocked) {
					ctx.Map.Update(ctx, vm, cryptoStateChanges(string(types.VirtualMachineCryptoStateUnlocked)))
					f.postEvent(ctx, cryptoEvent(ctx, vm, host, eventVMUnlocked, textVMUnlocked))
				}
			})
		}
		return false // the simulator powers it on
	}
	// The sentence vSphere Security gives for a VM that cannot power on for
	// a missing disk key; a VM without an encrypted disk names its
	// configuration file (that text is UNCONFIRMED).
	msg := fmt.Sprintf("The virtual machine [%s] is encrypted and a required key was not found.", hostPath(ctx, vmx))
	if disk != "" {
		msg = fmt.Sprintf("The disk [%s] is encrypted and a required key was not found.", hostPath(ctx, disk))
	}
	task := simulator.CreateTask(vm, "powerOn", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		// The task holds the VM's lock with ctx.
		if vm.Runtime.CryptoState != string(types.VirtualMachineCryptoStateLocked) {
			ctx.Map.Update(ctx, vm, cryptoStateChanges(string(types.VirtualMachineCryptoStateLocked)))
			f.postEvent(ctx, cryptoEvent(ctx, vm, host, eventVMLockedKeyMissingOnHost, textVMLockedKeyMissingOnHost))
		}
		fault := &types.EncryptionKeyRequired{RequiredKey: keys}
		fault.FaultMessage = []types.LocalizableMessage{{Key: "vcsimd.front", Message: msg}}
		return nil, fault
	})
	taskAnswer(w, "PowerOnVM_Task", task.Run(ctx))
	return true
}
