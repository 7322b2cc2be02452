// Command benchtool drives vmcrypt-agent's benchmarks (make bench) against
// vcsimd with govmomi, and provides the contenders the agent is compared
// with in the same run:
//
//	create   N VMs with C concurrent clients; each VM's CreateVM_Task
//	         completion (vCenter's TaskInfo.completeTime) is written out
//	floor    the same creations, each VM reconfigured to policy the moment
//	         its creation completes, with the same concurrency: a remediator
//	         with no detection cost at all (the floor)
//	poller   an event poller written as event-router tools work:
//	         ReadNextEvents every 1 s, backing off to 5 s on empty pages,
//	         pages of 100; each VmCreatedEvent reconfigures the VM
//	fix      brings the existing VMs named prefix* to policy, C at a time
//	         (the floor's work without the creations: cost per remediation)
//	one      one VM to policy in a fresh process: login, GenerateKey,
//	         ReconfigVM_Task, wait, logout (a govc-style one-shot command:
//	         govc itself has no encrypt command); a shell loop of these is
//	         what admins run today
//	watch    waits until the named VMs are compliant (config.keyId set and
//	         migrateEncryption required), recording when each became so
//
// The reconfiguration is the one the agent issues: the encryption policy on
// VM home and every disk, CryptoSpecEncrypt with a key from GenerateKey on
// the default provider, migrateEncryption=required, in one ReconfigVM_Task.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/crypto"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const policyID = "4d5f673c-536f-11e6-beb8-9e71128cae77" // vcsim's "VM Encryption Policy"

type rec struct {
	Name    string `json:"name"`
	Moref   string `json:"moref"`
	Created int64  `json:"created_ns,omitempty"` // CreateVM_Task completeTime
	Issued  int64  `json:"issued_ns,omitempty"`  // our ReconfigVM_Task sent
	Done    int64  `json:"done_ns,omitempty"`    // ReconfigVM_Task completeTime
}

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchtool: "+f+"\n", a...)
	os.Exit(1)
}

func connect(ctx context.Context) *vim25.Client {
	u, err := soap.ParseURL(os.Getenv("GOVC_URL"))
	if err != nil || u == nil {
		die("GOVC_URL: %v", err)
	}
	u.User = url.UserPassword(os.Getenv("GOVC_USERNAME"), os.Getenv("GOVC_PASSWORD"))
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(os.Getenv("GOVC_TLS_CA_CERTS")); err != nil {
		die("CA: %v", err)
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		die("connect: %v", err)
	}
	if err := session.NewManager(c).Login(ctx, u.User); err != nil {
		die("login: %v", err)
	}
	return c
}

type env struct {
	c      *vim25.Client
	folder *object.Folder
	pool   *object.ResourcePool
	ds     *object.Datastore
	host   *object.HostSystem
	kmip   *crypto.ManagerKmip
}

func setup(ctx context.Context, c *vim25.Client) *env {
	f := find.NewFinder(c)
	dc, err := f.Datacenter(ctx, "DC0")
	if err != nil {
		die("%v", err)
	}
	f.SetDatacenter(dc)
	folders, _ := dc.Folders(ctx)
	host, err := f.HostSystem(ctx, "DC0_H0")
	if err != nil {
		die("%v", err)
	}
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		die("%v", err)
	}
	ds, err := f.Datastore(ctx, "LocalDS_0")
	if err != nil {
		die("%v", err)
	}
	return &env{c: c, folder: folders.VmFolder, pool: pool, ds: ds, host: host,
		kmip: crypto.NewManagerKmip(c)}
}

func (e *env) createVM(ctx context.Context, name string) rec {
	var devs object.VirtualDeviceList
	scsi, _ := devs.CreateSCSIController("lsilogic")
	devs = append(devs, scsi)
	disk := devs.CreateDisk(scsi.(types.BaseVirtualController), e.ds.Reference(), "")
	disk.CapacityInKB = 1024 * 1024
	devs = append(devs, disk)
	changes, _ := devs.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: "otherGuest", NumCPUs: 1, MemoryMB: 32, Version: "vmx-13",
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		DeviceChange: changes,
	}
	task, err := e.folder.CreateVM(ctx, spec, e.pool, e.host)
	if err != nil {
		die("CreateVM %s: %v", name, err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		die("CreateVM %s: %v", name, err)
	}
	ref := info.Result.(types.ManagedObjectReference)
	return rec{Name: name, Moref: ref.Value, Created: info.CompleteTime.UnixNano()}
}

// toPolicy issues the agent's reconfiguration and waits for it.
func (e *env) toPolicy(ctx context.Context, r *rec) {
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: r.Moref}
	var vm mo.VirtualMachine
	pc := property.DefaultCollector(e.c)
	if err := pc.RetrieveOne(ctx, ref, []string{"config.hardware.device", "config.changeVersion"},
		&vm); err != nil {
		die("read %s: %v", r.Name, err)
	}
	key, err := e.kmip.GenerateKey(ctx, "")
	if err != nil {
		die("GenerateKey: %v", err)
	}
	keyID := &types.CryptoKeyId{KeyId: key}
	prof := []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineDefinedProfileSpec{ProfileId: policyID}}
	spec := types.VirtualMachineConfigSpec{
		ChangeVersion:     vm.Config.ChangeVersion,
		VmProfile:         prof,
		Crypto:            &types.CryptoSpecEncrypt{CryptoKeyId: *keyID},
		MigrateEncryption: string(types.VirtualMachineConfigSpecEncryptedVMotionModesRequired),
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
				Operation: types.VirtualDeviceConfigSpecOperationEdit,
				Device:    disk,
				Profile:   prof,
				Backing: &types.VirtualDeviceConfigSpecBackingSpec{
					Crypto: &types.CryptoSpecEncrypt{CryptoKeyId: *keyID}},
			})
		}
	}
	r.Issued = time.Now().UnixNano()
	task, err := object.NewVirtualMachine(e.c, ref).Reconfigure(ctx, spec)
	if err != nil {
		die("ReconfigVM %s: %v", r.Name, err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		die("ReconfigVM %s: %v", r.Name, err)
	}
	r.Done = info.CompleteTime.UnixNano()
}

func writeRecs(path string, recs []rec) {
	f, err := os.Create(path)
	if err != nil {
		die("%v", err)
	}
	defer f.Close()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	enc := json.NewEncoder(f)
	for _, r := range recs {
		_ = enc.Encode(r)
	}
}

// run runs fn for n names with c workers; names prefix-0000 ...
func run(n, c int, prefix string, fn func(name string) rec) []rec {
	var mu sync.Mutex
	var wg sync.WaitGroup
	recs := make([]rec, 0, n)
	next := make(chan int)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := fn(fmt.Sprintf("%s-%05d", prefix, i))
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return recs
}

func main() {
	if len(os.Args) < 2 {
		die("usage: benchtool create|floor|poller|one|watch|churn ...")
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	n := fs.Int("n", 1, "VMs")
	c := fs.Int("c", 1, "concurrent clients")
	prefix := fs.String("prefix", "bench", "VM name prefix")
	out := fs.String("o", "", "write one JSON record per VM here")
	gap := fs.Duration("gap", 0, "pause between sequential creations")
	name := fs.String("vm", "", "VM (one)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after")
	rate := fs.Float64("rate", 5, "churn: VMs created (and as many destroyed) per second")
	keep := fs.Int("keep", 50, "churn: VMs kept; older ones are destroyed")
	dur := fs.Duration("for", time.Minute, "churn: how long")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c25 := connect(ctx)
	e := setup(ctx, c25)
	start := time.Now()

	switch cmd {
	case "create":
		recs := run(*n, *c, *prefix, func(nm string) rec {
			r := e.createVM(ctx, nm)
			if *gap > 0 {
				time.Sleep(*gap)
			}
			return r
		})
		if *out != "" {
			writeRecs(*out, recs)
		}
	case "floor":
		recs := run(*n, *c, *prefix, func(nm string) rec {
			r := e.createVM(ctx, nm)
			e.toPolicy(ctx, &r)
			return r
		})
		if *out != "" {
			writeRecs(*out, recs)
		}
	case "fix":
		f := find.NewFinder(c25)
		dc, _ := f.Datacenter(ctx, "DC0")
		f.SetDatacenter(dc)
		vms, err := f.VirtualMachineList(ctx, *prefix+"*")
		if _, none := err.(*find.NotFoundError); err != nil && !none {
			die("%v", err)
		}
		todo := make(chan *object.VirtualMachine)
		var wg sync.WaitGroup
		for w := 0; w < *c; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for vm := range todo {
					r := rec{Name: vm.Name(), Moref: vm.Reference().Value}
					e.toPolicy(ctx, &r)
				}
			}()
		}
		for _, vm := range vms {
			todo <- vm
		}
		close(todo)
		wg.Wait()
		*n = len(vms)
	case "one":
		f := find.NewFinder(c25)
		dc, _ := f.Datacenter(ctx, "DC0")
		f.SetDatacenter(dc)
		vm, err := f.VirtualMachine(ctx, *name)
		if err != nil {
			die("%v", err)
		}
		r := rec{Name: *name, Moref: vm.Reference().Value}
		e.toPolicy(ctx, &r)
		_ = session.NewManager(c25).Logout(ctx)
	case "churn":
		*n = churn(ctx, e, *prefix, *rate, *keep, *dur)
	case "poller":
		poller(ctx, e, *prefix, *n, *out)
	case "watch":
		watch(ctx, c25, *prefix, *n, *out)
	default:
		die("unknown command %s", cmd)
	}
	fmt.Fprintf(os.Stderr, "benchtool %s: %d VMs in %.3f s\n", cmd, *n, time.Since(start).Seconds())
}

// poller: ReadNextEvents(100) every 1 s, backing off by 1 s per empty page
// up to 5 s; stops after handling n VMs with the prefix.
func poller(ctx context.Context, e *env, prefix string, n int, out string) {
	em := event.NewManager(e.c)
	coll, err := em.CreateCollectorForEvents(ctx, types.EventFilterSpec{
		EventTypeId: []string{"VmCreatedEvent"},
		Time:        &types.EventFilterSpecByTime{BeginTime: types.NewTime(time.Now())},
	})
	if err != nil {
		die("events: %v", err)
	}
	var recs []rec
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	interval := time.Second
	dispatched := 0
	for dispatched < n {
		evs, err := coll.ReadNextEvents(ctx, 100)
		if err != nil {
			die("ReadNextEvents: %v", err)
		}
		for _, be := range evs {
			ev, ok := be.(*types.VmCreatedEvent)
			if !ok || ev.Vm == nil || !strings.HasPrefix(ev.Vm.Name, prefix) {
				continue
			}
			dispatched++
			r := rec{Name: ev.Vm.Name, Moref: ev.Vm.Vm.Value}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				e.toPolicy(ctx, &r)
				<-sem
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}()
		}
		if dispatched >= n {
			break
		}
		if len(evs) == 0 {
			if interval < 5*time.Second {
				interval += time.Second
			}
		} else {
			interval = time.Second
		}
		time.Sleep(interval)
	}
	wg.Wait()
	if out != "" {
		writeRecs(out, recs)
	}
}

// watch records when each VM named prefix-* first has config.keyId and
// migrateEncryption=required, until n of them do.
func watch(ctx context.Context, c *vim25.Client, prefix string, n int, out string) {
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		die("%v", err)
	}
	done := map[string]rec{}
	props := []string{"name", "config.keyId", "config.migrateEncryption"}
	// A private collector: vcsim serializes calls on a collector behind a
	// running wait, and the default one is everyone's.
	pc, err := property.DefaultCollector(c).Create(ctx)
	if err != nil {
		die("CreatePropertyCollector: %v", err)
	}
	rpc := property.DefaultCollector(c)
	filter := new(property.WaitFilter)
	filter.Add(v.Reference(), "VirtualMachine", props, v.TraversalSpec())
	names := map[string]string{}
	err = property.WaitForUpdates(ctx, pc, filter, func(updates []types.ObjectUpdate) bool {
		now := time.Now().UnixNano()
		for _, u := range updates {
			if os.Getenv("BENCH_DEBUG") != "" {
				for _, ch := range u.ChangeSet {
					fmt.Fprintf(os.Stderr, "%s %s %s %T %v\n", u.Obj.Value, u.Kind, ch.Name, ch.Val, ch.Val)
				}
			}
			key, mig := false, false
			for _, ch := range u.ChangeSet {
				switch ch.Name {
				case "name":
					if s, ok := ch.Val.(string); ok {
						names[u.Obj.Value] = s
					}
				case "config.keyId":
					key = ch.Val != nil
				case "config.migrateEncryption":
					mig = ch.Val == "required"
				}
			}
			nm := names[u.Obj.Value]
			if _, ok := done[u.Obj.Value]; ok || !strings.HasPrefix(nm, prefix) {
				continue
			}
			if key && mig {
				done[u.Obj.Value] = rec{Name: nm, Moref: u.Obj.Value, Done: now}
			} else if key || mig {
				// A partial update: read both to decide.
				var vm mo.VirtualMachine
				if rpc.RetrieveOne(ctx, u.Obj, []string{"config.keyId", "config.migrateEncryption"},
					&vm) == nil && vm.Config != nil && vm.Config.KeyId != nil &&
					vm.Config.MigrateEncryption == "required" {
					done[u.Obj.Value] = rec{Name: nm, Moref: u.Obj.Value, Done: now}
				}
			}
		}
		return len(done) >= n
	})
	if err != nil {
		die("watch: %v (%d of %d compliant)", err, len(done), n)
	}
	recs := make([]rec, 0, len(done))
	for _, r := range done {
		recs = append(recs, r)
	}
	if out != "" {
		writeRecs(out, recs)
	}
}

// churn: for d, creates rate VMs a second and destroys the oldest beyond
// keep, so that vCenter raises about 2 x rate VM events a second for as
// long as a soak runs, with a bounded inventory.  Returns VMs created.
func churn(ctx context.Context, e *env, prefix string, rate float64, keep int, d time.Duration) int {
	var live []*object.VirtualMachine
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	n := 0
	for time.Now().Before(end) {
		<-tick.C
		r := e.createVM(ctx, fmt.Sprintf("%s-%06d", prefix, n))
		n++
		live = append(live, object.NewVirtualMachine(e.c,
			types.ManagedObjectReference{Type: "VirtualMachine", Value: r.Moref}))
		if len(live) > keep {
			old := live[0]
			live = live[1:]
			// A VM the agent is reconfiguring may refuse for a moment.
			for try := 0; try < 20; try++ {
				task, err := old.Destroy(ctx)
				if err == nil && task.Wait(ctx) == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return n
}
