// Command vcsimd runs govmomi's vCenter simulator (package simulator, from the
// pinned govmomi module) on a loopback port with a real TLS certificate, for
// vmcrypt-agent's tests and demo. It is a thin harness: the behaviour is
// govmomi's. It writes the URL it listens on to -url-file once it is ready,
// and runs until SIGTERM or SIGINT.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"

	_ "github.com/vmware/govmomi/pbm/simulator"
	_ "github.com/vmware/govmomi/vsan/simulator"
	// The REST endpoints govc uses for native key providers (kms.add -N).
	_ "github.com/vmware/govmomi/vapi/crypto/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "listen address (loopback only)")
	certFile := flag.String("tlscert", "", "PEM certificate for the server")
	keyFile := flag.String("tlskey", "", "PEM key for the server")
	user := flag.String("username", "", "accepted user name (empty: any non-empty user)")
	pass := flag.String("password", "", "accepted password")
	vms := flag.Int("vm", 2, "VMs per resource pool")
	hosts := flag.Int("host", 1, "standalone hosts per datacenter")
	clusters := flag.Int("cluster", 1, "clusters per datacenter")
	dcs := flag.Int("dc", 1, "datacenters")
	urlFile := flag.String("url-file", "", "write the SDK URL here when ready")
	apiVersion := flag.String("api-version", "8.0.3.0", "the vSphere API version this vCenter presents (vimServiceVersions.xml and about, shaped like a real vCenter's)")
	strict := flag.Bool("strict", false, "check every SOAP request against govmomi's WSDL model; violations at /harness/violations")
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host instead of vCenter")
	load := flag.String("load", "", "restart from this inventory (govc object.save -d DIR, plus /harness/save?dir=DIR for the front's state)")
	instanceUUID := flag.String("instance-uuid", "", "about.instanceUuid (default vcsim's, derived from the host's node id: the same for every vcsim on a machine; each vCenter has its own)")
	taskDelay := flag.String("task-delay", "", "run these tasks this long, e.g. ReconfigVm=1500 (the task name, ms, comma-separated); objects stay readable meanwhile, as on vCenter")
	workers := flag.Int("create-workers", 1, "make the -vm VMs from this many goroutines (bulkcreate.go: the same VMs as one at a time, faster for benchmarks' large inventories)")
	fast := flag.Bool("fast-collector", false, "serve RetrievePropertiesEx over a container view of VirtualMachine from each VM's rendered answer, at a real collector's speed (fastcollector.go)")
	flag.Parse()

	if *taskDelay != "" {
		// Set once, before any task runs: the simulator reads the map
		// from its task goroutines without a lock.
		simulator.TaskDelay.MethodDelay = map[string]int{"LockHandoff": 0}
		for _, kv := range strings.Split(*taskDelay, ",") {
			name, ms, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(ms)
			if !ok || err != nil || n < 0 {
				log.Fatalf("vcsimd: -task-delay %q: want NAME=MS", kv)
			}
			simulator.TaskDelay.MethodDelay[name] = n
			// The front gives tasks vCenter's names (ReconfigVM_Task):
			// the delay is looked up by the name the task runs under.
			simulator.TaskDelay.MethodDelay[taskMethodName(name)] = n
		}
	}

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	}
	if !*esx {
		model.Datacenter = *dcs
		model.Host = *hosts
		model.Cluster = *clusters
	}
	model.Machine = *vms
	bulk := *workers > 1 && *vms > 0 && !*esx && *load == ""
	if bulk {
		model.Machine = 0 // made below, concurrently
	}
	model.Autostart = false
	if *load != "" {
		// The same inventory as before a kill: what govc object.save wrote,
		// loaded the way `vcsim -load` does.
		if err := model.Load(*load); err != nil {
			log.Fatalf("vcsimd: load %s: %v", *load, err)
		}
	} else if err := model.Create(); err != nil {
		log.Fatalf("vcsimd: create model: %v", err)
	}
	if bulk {
		if err := createVMs(model, *vms, *workers); err != nil {
			log.Fatalf("vcsimd: create VMs: %v", err)
		}
	}
	defer model.Remove()
	if *load != "" {
		dropLoadedTasks(model)
		alignFieldKeys(model.Service.Context)
	}
	setAbout(model, *apiVersion, *instanceUUID)

	// The simulator listens on an internal loopback port (plain HTTP); the
	// front (front.go) serves the public TLS port and proxies to it.
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0"}
	if *user != "" {
		model.Service.Listen.User = url.UserPassword(*user, *pass)
	}
	model.Service.RegisterEndpoints = true
	s := model.Service.NewServer()
	defer s.Close()
	backend := *s.URL
	backend.User = nil
	backend.Path = ""

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("vcsimd: listen: %v", err)
	}
	fr := newFront(model, &backend, *apiVersion, *strict)
	if *fast {
		fr.fast = newFastCollector(fr)
	}
	if *load != "" {
		if err := fr.loadState(*load); err != nil {
			log.Fatalf("vcsimd: %v", err)
		}
	}
	srv := &http.Server{Handler: fr}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("vcsimd: load TLS pair: %v", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	scheme := "http"
	if *certFile != "" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: ln.Addr().String(), Path: "/sdk"}
	if *urlFile != "" {
		tmp := *urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(u.String()+"\n"), 0o644); err != nil {
			log.Fatalf("vcsimd: %v", err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			log.Fatalf("vcsimd: %v", err)
		}
	}
	fmt.Printf("vcsimd: listening on %s (%d VMs per pool), simulator at %s\n", u.String(), *vms, backend.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
