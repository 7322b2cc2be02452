package main

// A key provider's wrapping key (vSphere API 9.0), which vcsim v0.56.0
// does not model: it ignores KmipServerSpec.keySpec and never sets
// KmipClusterInfo.keyInfo.  Source: govmomi v0.56.0 vim25/types/types.go,
// generated from the vSphere 9.0 WSDL and its reference text:
//
//   - KmipServerSpec.keySpec (vim:"9.0.0.0"), sent with RegisterKmipServer
//     and UpdateKmipServer: KmipServerSpecWrappingRotationIntervalKeySpec
//     {rotationInterval} ("The wrapping key will be created automatically
//     and will rotate automatically based on the rotation interval"; "The
//     allowed minimum number of days is 30 days, and maximum number of
//     days is 3650 days") or KmipServerSpecWrappingKeyIdKeySpec {keyId}
//     ("Key rotation will not occur automatically when a client specified
//     key ID is used");
//   - KmipClusterInfo.keyInfo (vim:"9.0.0.0"): KmipClusterInfoWrapping-
//     RotationIntervalKeyInfo {keyId, rotationInterval, lastRotation} or
//     KmipClusterInfoWrappingKeyIdKeyInfo {keyId, configuredTime}.
//
// What is modelled, kept in the simulator's own KmipClusterInfo (so
// ListKmipServers, govc kms.ls and a -load see it):
//   - an interval sets the provider's keyInfo; the first one creates the
//     wrapping key (a new key id, lastRotation now).  A later change of
//     the interval keeps the key and its lastRotation (UNCONFIRMED: vCenter
//     may rotate at once).  No rotation ever happens by itself here;
//   - a key id makes a WrappingKeyIdKeyInfo, configuredTime now;
//   - an interval outside 30..3650 is InvalidArgument
//     (server.keySpec.rotationInterval), nothing changed (the fault type is
//     UNCONFIRMED);
//   - keyInfo is answered in ListKmipServers to a client speaking 9.0.0.0
//     or later only (SOAPAction), as vCenter writes a member only at a
//     version that has it (api-facts A.3); and a keySpec or defaultKeyType
//     from a client speaking an older version is refused as vCenter's
//     parser refuses a member unknown at that version (InvalidRequest:
//     the fault vCenter sends is UNCONFIRMED).
// Not modelled: vCenter's default interval when none is given (keyInfo
// then carries no rotationInterval), the key made on the KMS, rotation
// itself, and keyInfo in the PropertyCollector's kmipServers property
// (still answered to every client).

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

const wrapAPI = "9.0.0.0"

// clientAPI is the version the client named in SOAPAction ("" if none).
func clientAPI(r *http.Request) string {
	a := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	if v, ok := strings.CutPrefix(a, "urn:vim25/"); ok && publicVersion(v) {
		return v
	}
	return ""
}

func speaks9(r *http.Request) bool {
	v := clientAPI(r)
	return v != "" && versionCmp(v, wrapAPI) >= 0
}

// kmipServerCall serves RegisterKmipServer and UpdateKmipServer: keySpec
// checked before the simulator runs, applied after it succeeded.
func (f *front) kmipServerCall(w http.ResponseWriter, r *http.Request, body []byte, method string) {
	var spec *types.KmipServerSpec
	if m, err := decodeRequest(r.URL.Path, body); err == nil {
		switch req := m.Body.(type) {
		case *types.RegisterKmipServer:
			spec = &req.Server
		case *types.UpdateKmipServer:
			spec = &req.Server
		}
	}
	if spec != nil && (spec.KeySpec != nil || spec.DefaultKeyType != "") && !speaks9(r) {
		soapFault(w, "InvalidRequest", fmt.Sprintf("Unexpected element in KmipServerSpec: "+
			"keySpec and defaultKeyType are API %s members, this request speaks %q",
			wrapAPI, clientAPI(r)), "")
		return
	}
	if spec != nil {
		if ri, ok := spec.KeySpec.(*types.KmipServerSpecWrappingRotationIntervalKeySpec); ok &&
			ri.RotationInterval != 0 && (ri.RotationInterval < 30 || ri.RotationInterval > 3650) {
			invalidArgument(w, "server.keySpec.rotationInterval", fmt.Sprintf(
				"A wrapping key rotation interval is 30 to 3650 days, not %d", ri.RotationInterval))
			return
		}
	}
	rec := f.proxied(r, body)
	if rec.Code == http.StatusOK {
		if method == "RegisterKmipServer" {
			f.afterRegisterKmip()
		}
		if spec != nil && spec.KeySpec != nil {
			f.applyKeySpec(spec.ClusterId.Id, spec.KeySpec)
		}
	}
	copyResponse(w, rec)
}

// applyKeySpec sets the provider's keyInfo as the keySpec asks.
func (f *front) applyKeySpec(id string, ks types.BaseKmipServerSpecKeySpec) {
	ctx := f.newCtx()
	m := ctx.Map.CryptoManager()
	if m == nil {
		return
	}
	now := time.Now().UTC().Truncate(time.Second)
	ctx.WithLock(m, func() {
		for i := range m.KmipServers {
			c := &m.KmipServers[i]
			if c.ClusterId.Id != id {
				continue
			}
			switch s := ks.(type) {
			case *types.KmipServerSpecWrappingRotationIntervalKeySpec:
				info, _ := c.KeyInfo.(*types.KmipClusterInfoWrappingRotationIntervalKeyInfo)
				if info == nil {
					info = &types.KmipClusterInfoWrappingRotationIntervalKeyInfo{
						KeyId: newKeyID(), LastRotation: &now}
				}
				info.RotationInterval = s.RotationInterval
				c.KeyInfo = info
			case *types.KmipServerSpecWrappingKeyIdKeySpec:
				c.KeyInfo = &types.KmipClusterInfoWrappingKeyIdKeyInfo{KeyId: s.KeyId, ConfiguredTime: now}
			}
		}
	})
}

func newKeyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

var keyInfoRE = regexp.MustCompile(`(?s)<keyInfo[\s>].*?</keyInfo>`)

// listKmipServers is the simulator's answer, without keyInfo for a client
// speaking a version before 9.0.0.0.
func (f *front) listKmipServers(w http.ResponseWriter, r *http.Request, body []byte) {
	rec := f.proxied(r, body)
	if rec.Code == http.StatusOK && !speaks9(r) {
		rec.Body = bytes.NewBuffer(keyInfoRE.ReplaceAll(rec.Body.Bytes(), nil))
		rec.Header().Del("Content-Length")
	}
	copyResponse(w, rec)
}
