package main

// Large inventories for the benchmarks (-create-workers N): the VMs that
// govmomi's model.Create would make (simulator/model.go, addMachine: the
// same names, devices, resource pools and hosts), made by N goroutines.
// model.Create makes them one at a time, a CreateVM_Task and its wait each,
// about 20 ms per VM: 45,000 VMs took half an hour to set up.  The VMs are
// the same; only their morefs' order differs, as it would on a vCenter
// where several clients create VMs at once.

import (
	"context"
	"fmt"
	"path"
	"sync"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/units"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmPlace is where model.Create puts a run of VMs: its name prefix, the
// resource pool, the host (standalone hosts only) and the VM folder.
type vmPlace struct {
	prefix string
	pool   *object.ResourcePool
	host   *object.HostSystem
	folder *object.Folder
	net    types.BaseVirtualDeviceBackingInfo
}

// createVMs makes perPlace VMs in each place model.Create would have (a
// standalone host's pool, prefix the host's name; a cluster's root pool,
// prefix CLUSTER_RP0), from workers goroutines.
func createVMs(model *simulator.Model, perPlace, workers int) error {
	ctx := context.Background()
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return err
	}
	places, err := vmPlaces(ctx, c)
	if err != nil {
		return err
	}
	type job struct {
		p *vmPlace
		i int
	}
	jobs := make(chan job)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := createVM(ctx, j.p, j.i); err != nil {
					errs <- err
					for range jobs {
					}
					return
				}
			}
		}()
	}
	for i := 0; i < perPlace; i++ {
		for k := range places {
			jobs <- job{&places[k], i}
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// vmPlaces lists the places, datacenter by datacenter, as model.Create
// walks them.
func vmPlaces(ctx context.Context, c *vim25.Client) ([]vmPlace, error) {
	finder := find.NewFinder(c, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil {
		return nil, err
	}
	var places []vmPlace
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		folders, err := dc.Folders(ctx)
		if err != nil {
			return nil, err
		}
		// The VMs' NIC: the first distributed port group's backing, as
		// model.Create sets it when the model has port groups.
		var net types.BaseVirtualDeviceBackingInfo = esx.EthernetCard.Backing
		if pg, err := finder.Network(ctx, dc.Name()+"_DVPG0"); err == nil {
			if net, err = pg.EthernetCardBackingInfo(ctx); err != nil {
				return nil, err
			}
		}
		crs, err := finder.ComputeResourceList(ctx, "*")
		if err != nil {
			return nil, err
		}
		for _, cr := range crs {
			var m mo.ComputeResource
			if err := cr.Properties(ctx, cr.Reference(), []string{"resourcePool", "host"}, &m); err != nil {
				return nil, err
			}
			p := vmPlace{folder: folders.VmFolder, net: net,
				pool: object.NewResourcePool(c, *m.ResourcePool)}
			if cr.Reference().Type == "ClusterComputeResource" {
				p.prefix = cr.Name() + "_RP0"
			} else {
				p.prefix = cr.Name()
				p.host = object.NewHostSystem(c, m.Host[0])
			}
			places = append(places, p)
		}
	}
	return places, nil
}

// createVM makes VM i of a place with addMachine's spec.
func createVM(ctx context.Context, p *vmPlace, i int) error {
	name := fmt.Sprintf("%s_VM%d", p.prefix, i)
	config := types.VirtualMachineConfigSpec{
		Name:    name,
		GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		Files:   &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	ide, _ := devices.CreateIDEController()
	cdrom, _ := devices.CreateCdrom(ide.(*types.VirtualIDEController))
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		config.Files.VmPathName+" "+path.Join(name, "disk1.vmdk"))
	disk.CapacityInKB = int64(units.GB*10) / units.KB
	disk.StorageIOAllocation = &types.StorageIOAllocationInfo{Limit: types.NewInt64(-1)}
	nic := esx.EthernetCard
	nic.Backing = p.net
	devices = append(devices, scsi, cdrom, disk, &nic)
	var err error
	if config.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	task, err := p.folder.CreateVM(ctx, config, p.pool, p.host)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := task.WaitForResult(ctx, nil); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}
