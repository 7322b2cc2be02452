package main

// vSAN data-at-rest encryption, which vcsim (govmomi v0.56.0) has no way to
// set: its vSAN endpoint (/vsanHealth, govmomi vsan/simulator) answers
// VsanClusterGetConfig without dataEncryptionConfig, its
// VsanClusterReconfig ignores it, and no datastore is of type "vsan".
// On vCenter, a vSAN cluster's datastore has summary.type "vsan" (vSphere
// API reference, DatastoreSummary.type) and the cluster's data-at-rest
// encryption is VsanConfigInfoEx.dataEncryptionConfig.encryptionEnabled,
// read with VsanVcClusterConfigSystem.VsanClusterGetConfig (vSAN
// Management API).  /harness/vsan marks a datastore as a cluster's vSAN
// datastore, encrypted or not; the front answers VsanClusterGetConfig for
// such clusters and leaves the others to the simulator.

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func (f *front) setVsan(dsName, cluster string, encrypted bool) error {
	ctx := f.newCtx()
	var ds *simulator.Datastore
	for _, obj := range ctx.Map.All("Datastore") {
		if d := obj.(*simulator.Datastore); d.Name == dsName {
			ds = d
		}
	}
	if ds == nil {
		return fmt.Errorf("no datastore %q", dsName)
	}
	ref := types.ManagedObjectReference{Type: "ClusterComputeResource", Value: cluster}
	if ctx.Map.Get(ref) == nil {
		return fmt.Errorf("no cluster %q", cluster)
	}
	ctx.WithLock(ds, func() {
		ctx.Map.Update(ctx, ds, []types.PropertyChange{{Name: "summary.type", Val: "vsan"}})
	})
	f.mu.Lock()
	if f.vsanEnc == nil {
		f.vsanEnc = map[string]bool{}
	}
	f.vsanEnc[cluster] = encrypted
	f.mu.Unlock()
	return nil
}

// vsanGetConfig answers VsanClusterGetConfig for a cluster set up by
// /harness/vsan: vSAN enabled, and its data-at-rest encryption.
func (f *front) vsanGetConfig(w http.ResponseWriter, body []byte) bool {
	var env struct {
		Body struct {
			Req struct {
				Cluster string `xml:"cluster"`
			} `xml:"VsanClusterGetConfig"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		return false
	}
	f.mu.Lock()
	enc, ok := f.vsanEnc[strings.TrimSpace(env.Body.Req.Cluster)]
	f.mu.Unlock()
	if !ok {
		return false
	}
	soapOK(w, fmt.Sprintf(`<VsanClusterGetConfigResponse xmlns="urn:vsan">`+
		`<returnval xsi:type="VsanConfigInfoEx"><enabled>true</enabled>`+
		`<dataEncryptionConfig><encryptionEnabled>%t</encryptionEnabled></dataEncryptionConfig>`+
		`</returnval></VsanClusterGetConfigResponse>`, enc))
	return true
}
