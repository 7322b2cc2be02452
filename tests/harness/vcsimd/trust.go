package main

// Trust between vCenter and a KMS, which vcsim (govmomi v0.56.0) does not
// implement: CryptoManagerKmip.UploadKmipServerCert, UploadClientCert,
// GenerateSelfSignedClientCert, RetrieveSelfSignedClientCert,
// RetrieveClientCert, GenerateClientCsr, RetrieveClientCsr,
// UpdateKmsSignedCsrClientCert (vSphere API reference, CryptoManagerKmip,
// "Since 6.5"; signatures from govmomi's generated vim25/types).  vCenter keeps,
// per key provider, the certificates it trusts for the KMS and the client
// certificate it presents to it; RetrieveKmipServersStatus_Task reports
// clientTrustServer and serverTrustClient from them (api-facts E.2).  The
// front keeps the same per provider, and kmsProbe reports from it: no
// trust call made, no trust reported, as on a vCenter where only "Add
// Standard Key Provider" was done.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// trustState is what vCenter holds for one key provider.
type trustState struct {
	serverCerts []*x509.Certificate // UploadKmipServerCert: leaf or CA
	clientCert  string              // PEM, uploaded or self-signed
	clientKey   string
	selfSigned  bool
	csr, csrKey string // GenerateClientCsr: the request and its key
}

type trustReq struct {
	Cluster struct {
		ID string `xml:"id"`
	} `xml:"cluster"`
	Certificate string `xml:"certificate"`
	PrivateKey  string `xml:"privateKey"`
}

// soapFault answers as vCenter answers a refused call: HTTP 500, a SOAP
// fault with the method fault in its detail.
func soapFault(w http.ResponseWriter, fault, msg, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" `+
		`xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring>`+
		`<detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault>`+
		`</soapenv:Body></soapenv:Envelope>`, xmlText(msg), fault, fault, inner, fault)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func invalidArgument(w http.ResponseWriter, prop, msg string) {
	soapFault(w, "InvalidArgument", msg, "<invalidProperty>"+prop+"</invalidProperty>")
}

// pemCerts reads every CERTIFICATE block of a PEM text.
func pemCerts(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return out, nil
}

// injectedFault answers a fault rule (/harness/fault) on a method the
// front serves itself, which the simulator's own dispatch (where its
// FaultInjector is consulted) never sees: the rule is matched by the same
// FaultInjector (method name, object type, probability, counts), and its
// fault (RuntimeFault with the rule's message, or NoPermission) answered
// as the simulator answers one, a SOAP fault with the fault in its detail.
func (f *front) injectedFault(w http.ResponseWriter, method string, this types.ManagedObjectReference) bool {
	rule := f.model.Service.FaultInjector().ShouldInjectFault(&simulator.Method{Name: method, This: this}, nil)
	if rule == nil {
		return false
	}
	msg := rule.Message
	if msg == "" {
		msg = "Fault injected by simulator"
	}
	switch fault := rule.Fault.(type) {
	case *types.NoPermission:
		inner := ""
		if fault.Object != nil {
			inner = fmt.Sprintf(`<object type="%s">%s</object>`, fault.Object.Type, xmlText(fault.Object.Value))
		}
		soapFault(w, "NoPermission", msg, inner+"<privilegeId>"+xmlText(fault.PrivilegeId)+"</privilegeId>")
	default:
		soapFault(w, "RuntimeFault", msg, "")
	}
	return true
}

// trustCall serves the trust methods; false if method is not one.  A fault
// rule on one of them is answered first (injectedFault).
func (f *front) trustCall(w http.ResponseWriter, method string, body []byte) bool {
	switch method {
	case "UploadKmipServerCert", "UploadClientCert", "GenerateSelfSignedClientCert",
		"RetrieveSelfSignedClientCert", "RetrieveClientCert", "GenerateClientCsr",
		"RetrieveClientCsr", "UpdateKmsSignedCsrClientCert":
	default:
		return false
	}
	var env struct {
		Body struct {
			Inner struct {
				This types.ManagedObjectReference `xml:"_this"`
				trustReq
			} `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		invalidArgument(w, "body", err.Error())
		return true
	}
	if f.injectedFault(w, method, env.Body.Inner.This) {
		return true
	}
	req := env.Body.Inner.trustReq
	if !f.providerExists(req.Cluster.ID) {
		invalidArgument(w, "cluster", fmt.Sprintf("Key provider %s not found", req.Cluster.ID))
		return true
	}
	f.mu.Lock()
	if f.trust == nil {
		f.trust = map[string]*trustState{}
	}
	ts := f.trust[req.Cluster.ID]
	if ts == nil {
		ts = &trustState{}
		f.trust[req.Cluster.ID] = ts
	}
	f.mu.Unlock()
	switch method {
	case "UploadKmipServerCert":
		certs, err := pemCerts(req.Certificate)
		if err != nil {
			invalidArgument(w, "certificate", "Invalid certificate: "+err.Error())
			return true
		}
		f.mu.Lock()
		ts.serverCerts = append(ts.serverCerts, certs...)
		f.mu.Unlock()
		soapOK(w, `<UploadKmipServerCertResponse xmlns="urn:vim25"></UploadKmipServerCertResponse>`)
	case "UploadClientCert":
		if _, err := tls.X509KeyPair([]byte(req.Certificate), []byte(req.PrivateKey)); err != nil {
			invalidArgument(w, "certificate", "Invalid certificate or private key: "+err.Error())
			return true
		}
		f.mu.Lock()
		ts.clientCert, ts.clientKey, ts.selfSigned = req.Certificate, req.PrivateKey, false
		f.mu.Unlock()
		soapOK(w, `<UploadClientCertResponse xmlns="urn:vim25"></UploadClientCertResponse>`)
	case "GenerateSelfSignedClientCert":
		crt, key, err := selfSigned(req.Cluster.ID)
		if err != nil {
			soapFault(w, "RuntimeFault", err.Error(), "")
			return true
		}
		f.mu.Lock()
		ts.clientCert, ts.clientKey, ts.selfSigned = crt, key, true
		f.mu.Unlock()
		soapOK(w, `<GenerateSelfSignedClientCertResponse xmlns="urn:vim25"><returnval>`+
			xmlText(crt)+`</returnval></GenerateSelfSignedClientCertResponse>`)
	case "GenerateClientCsr":
		csr, key, err := clientCsr(req.Cluster.ID)
		if err != nil {
			soapFault(w, "RuntimeFault", err.Error(), "")
			return true
		}
		f.mu.Lock()
		ts.csr, ts.csrKey = csr, key
		f.mu.Unlock()
		soapOK(w, `<GenerateClientCsrResponse xmlns="urn:vim25"><returnval>`+
			xmlText(csr)+`</returnval></GenerateClientCsrResponse>`)
	case "UpdateKmsSignedCsrClientCert":
		f.mu.Lock()
		key := ts.csrKey
		f.mu.Unlock()
		if key == "" {
			invalidArgument(w, "certificate", "No certificate signing request was generated for "+req.Cluster.ID)
			return true
		}
		// The certificate must carry the key of the request vCenter made.
		if _, err := tls.X509KeyPair([]byte(req.Certificate), []byte(key)); err != nil {
			invalidArgument(w, "certificate", "Invalid certificate: not signed on this vCenter's CSR: "+err.Error())
			return true
		}
		f.mu.Lock()
		ts.clientCert, ts.clientKey, ts.selfSigned = req.Certificate, key, false
		f.mu.Unlock()
		soapOK(w, `<UpdateKmsSignedCsrClientCertResponse xmlns="urn:vim25"></UpdateKmsSignedCsrClientCertResponse>`)
	case "RetrieveSelfSignedClientCert", "RetrieveClientCert", "RetrieveClientCsr":
		f.mu.Lock()
		crt := ts.clientCert
		if method == "RetrieveSelfSignedClientCert" && !ts.selfSigned {
			crt = ""
		}
		if method == "RetrieveClientCsr" {
			crt = ts.csr
		}
		f.mu.Unlock()
		soapOK(w, `<`+method+`Response xmlns="urn:vim25"><returnval>`+xmlText(crt)+
			`</returnval></`+method+`Response>`)
	}
	return true
}

// selfSigned makes the certificate vCenter generates for "Make KMS trust
// vCenter > vCenter Root CA certificate / self-signed": a key pair of its
// own and a certificate naming vCenter.
func selfSigned(cluster string) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vCenter client for " + cluster},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), nil
}

// clientCsr makes the request vCenter generates for "Make KMS trust
// vCenter > New Certificate Signing Request": a key pair it keeps, and a
// PKCS#10 request naming vCenter for the KMS to sign.
func clientCsr(cluster string) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "vCenter client for " + cluster},
	}, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), nil
}

// trustOf is a copy of what vCenter holds for a key provider.
func (f *front) trustOf(cluster string) trustState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ts := f.trust[cluster]; ts != nil {
		return *ts
	}
	return trustState{}
}

// trusts: the server's certificate is one vCenter was given, or signed by
// one (a CA certificate uploaded the same way).
func (t trustState) trusts(leaf *x509.Certificate) bool {
	for _, c := range t.serverCerts {
		if c.Equal(leaf) || leaf.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

// savedTrust is trustState across a restart of the test bed (-load).
type savedTrust struct {
	ServerCerts []string `json:"serverCerts"`
	ClientCert  string   `json:"clientCert"`
	ClientKey   string   `json:"clientKey"`
	SelfSigned  bool     `json:"selfSigned"`
	Csr         string   `json:"csr"`
	CsrKey      string   `json:"csrKey"`
}

// saveTrust: called with f.mu held.
func (f *front) saveTrust() map[string]savedTrust {
	out := map[string]savedTrust{}
	for id, t := range f.trust {
		st := savedTrust{ClientCert: t.clientCert, ClientKey: t.clientKey, SelfSigned: t.selfSigned,
			Csr: t.csr, CsrKey: t.csrKey}
		for _, c := range t.serverCerts {
			st.ServerCerts = append(st.ServerCerts,
				string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
		}
		out[id] = st
	}
	return out
}

func (f *front) loadTrust(saved map[string]savedTrust) {
	if f.trust == nil {
		f.trust = map[string]*trustState{}
	}
	for id, st := range saved {
		t := &trustState{clientCert: st.ClientCert, clientKey: st.ClientKey, selfSigned: st.SelfSigned,
			csr: st.Csr, csrKey: st.CsrKey}
		for _, p := range st.ServerCerts {
			if certs, err := pemCerts(p); err == nil {
				t.serverCerts = append(t.serverCerts, certs...)
			}
		}
		f.trust[id] = t
	}
}

// clientCertInfo is CryptoManagerKmipClusterStatus.clientCertInfo: the
// certificate vCenter presents to the key provider's servers, read from
// the one it holds (uploaded, self-signed or a signed CSR's), as vCenter
// reports it (vSphere API reference, CryptoManagerKmipClusterStatus,
// "Since 6.7": clientCertInfo; CryptoManagerKmipCertificateInfo: subject,
// issuer, serialNumber, notBefore, notAfter, secondsSinceValid,
// secondsBeforeExpire, fingerprint, checkTime).  nil when it holds none.
func (f *front) clientCertInfo(cluster string) *types.CryptoManagerKmipCertificateInfo {
	ts := f.trustOf(cluster)
	block, _ := pem.Decode([]byte(ts.clientCert))
	if block == nil {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	now := time.Now()
	sum := sha1.Sum(c.Raw)
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	return &types.CryptoManagerKmipCertificateInfo{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		SerialNumber: c.SerialNumber.String(), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		SecondsSinceValid:   int32(now.Sub(c.NotBefore).Seconds()),
		SecondsBeforeExpire: int32(c.NotAfter.Sub(now).Seconds()),
		Fingerprint:         strings.Join(fp, ":"), CheckTime: now,
	}
}
