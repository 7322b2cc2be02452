package main

// vCenter's version advertisement and about strings, shaped like a real
// vCenter's rather than like vcsim's (vcsim lists its version and two
// prior ones, and reports the API version as the product version).
//
// Source: /sdk/vimServiceVersions.xml and ServiceContent.about recorded
// from vCenter Server 8.0.3 build-69507950 by pyvmomi
// (../shared/reference/real-vcenter/pyvmomi-8.0.3/smart_connection.yaml):
// the current <version> is an internal build string ("uA046D008"), the
// public API versions are all under <priorVersions>, newest first, and
// about.version is the product version ("8.0.3") next to about.apiVersion.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

// Every public vim25 version a vCenter lists, oldest first (the recorded
// list, plus 8.0.3.0 and 9.0.0.0).
var publicVersions = []string{
	"4.0", "4.1", "5.0", "5.1", "5.5", "6.0", "6.5", "6.7", "6.7.1", "6.7.2",
	"6.7.3", "6.8.7", "6.9.1", "7.0.0.0", "7.0.0.2", "7.0.1.0", "7.0.1.1",
	"7.0.2.0", "7.0.2.1", "7.0.3.0", "7.0.3.1", "7.0.3.2", "8.0.0.0", "8.0.0.1",
	"8.0.0.2", "8.0.1.0", "8.0.2.0", "8.0.3.0", "9.0.0.0",
}

// What about says for each API version the test bed can present.  The
// build numbers are those of GA releases as published in VMware's release
// notes (7.0 U3 GA, 8.0 U3 GA, 9.0 GA).
var aboutFor = map[string]struct{ version, build, internal string }{
	"6.5":     {"6.5.0", "4602587", "6.5"},
	"6.7":     {"6.7.0", "9433931", "6.7"},
	"7.0.3.0": {"7.0.3", "18700403", "u703A7B1"},
	"8.0.2.0": {"8.0.3", "69507950", "uA046D008"},
	"8.0.3.0": {"8.0.3", "24022515", "uA046E001"},
	"9.0.0.0": {"9.0.0", "24755230", "uB0C2A003"},
}

// advertised is what vimServiceVersions.xml lists for api: the internal
// current string, then api and every older public version.
func advertised(api string) (current string, prior []string) {
	current = api
	if a, ok := aboutFor[api]; ok {
		current = a.internal
	}
	for i := len(publicVersions) - 1; i >= 0; i-- {
		if versionCmp(publicVersions[i], api) <= 0 && publicVersions[i] != current {
			prior = append(prior, publicVersions[i])
		}
	}
	return current, prior
}

// versionsList is every version a client may name in SOAPAction.
func versionsList(api string) []string {
	cur, prior := advertised(api)
	return append([]string{cur}, prior...)
}

func versionCmp(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			fmt.Sscanf(as[i], "%d", &x)
		}
		if i < len(bs) {
			fmt.Sscanf(bs[i], "%d", &y)
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// setAbout makes ServiceContent.about read like the vCenter of that API.
func setAbout(model *simulator.Model, api, instanceUUID string) {
	si := model.Service.Context.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	ab := &si.Content.About
	if instanceUUID != "" {
		ab.InstanceUuid = instanceUUID
	}
	ab.ApiVersion = api
	ab.Version = api
	if a, ok := aboutFor[api]; ok && ab.ApiType == "VirtualCenter" {
		ab.Version = a.version
		ab.Build = a.build
		ab.FullName = fmt.Sprintf("VMware vCenter Server %s build-%s", a.version, a.build)
		if versionCmp(api, "7.0.2.0") >= 0 {
			ab.PatchLevel = "00000"
		}
	}
}

func (f *front) serveVersions(w http.ResponseWriter) {
	cur, prior := advertised(f.apiVersion)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" ?><namespaces version="1.0"><namespace><name>urn:vim25</name>`)
	fmt.Fprintf(&b, "<version>%s</version><priorVersions>", cur)
	for _, v := range prior {
		fmt.Fprintf(&b, "<version>%s</version>", v)
	}
	b.WriteString("</priorVersions></namespace></namespaces>\n")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
