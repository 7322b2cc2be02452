package main

// -create-workers makes the VMs model.Create makes: the same names, in the
// same resource pools and folders, with the same devices.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
)

// vmShapes describes every VM of a model: name, pool's name, folder's
// name, device types and labels, guest, sorted.
func vmShapes(t *testing.T, model *simulator.Model) []string {
	ctx := context.Background()
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		t.Fatal(err)
	}
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder,
		[]string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"},
		[]string{"name", "resourcePool", "parent", "config"}, &vms); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, vm := range vms {
		pool := model.Map().Get(*vm.ResourcePool).(mo.Entity).Entity().Name
		parent := model.Map().Get(*vm.Parent).(mo.Entity).Entity().Name
		var devs []string
		for _, d := range vm.Config.Hardware.Device {
			devs = append(devs, fmt.Sprintf("%T:%s", d, d.GetVirtualDevice().DeviceInfo.GetDescription().Label))
		}
		out = append(out, fmt.Sprintf("%s pool=%s folder=%s guest=%s mem=%d devices=%s",
			vm.Name, pool, parent, vm.Config.GuestId, vm.Config.Hardware.MemoryMB,
			strings.Join(devs, ",")))
	}
	sort.Strings(out)
	return out
}

func TestCreateWorkersMakeModelCreatesVMs(t *testing.T) {
	one := simulator.VPX()
	one.Machine = 4
	one.Autostart = false
	if err := one.Create(); err != nil {
		t.Fatal(err)
	}
	defer one.Remove()
	want := vmShapes(t, one)

	many := simulator.VPX()
	many.Machine = 0
	many.Autostart = false
	if err := many.Create(); err != nil {
		t.Fatal(err)
	}
	defer many.Remove()
	if err := createVMs(many, 4, 3); err != nil {
		t.Fatal(err)
	}
	got := vmShapes(t, many)

	if len(want) != 8 {
		t.Fatalf("model.Create made %d VMs, want 8 (4 in each of 2 places)", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("createVMs made other VMs:\n got %q\nwant %q", got, want)
	}
}
