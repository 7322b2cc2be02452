package main

// The strict request checker: every SOAP request that reaches the front is
// read the way a strict vCenter reads it, against the model govmomi
// generates from the vSphere WSDL (vim25/types, pbm/types).  vcsim itself
// decodes leniently (any element order, unknown elements dropped, a missing
// xsi:type falls back to the base type); vCenter's parser does not, so a
// request that vcsim accepts may fail on vCenter.
//
// How: the request body is decoded into govmomi's request type with the
// simulator's own UnmarshalBody, re-encoded with govmomi's encoder (which
// writes members in XSD sequence order, every required member, and
// xsi:type on every polymorphic member), and the element sequence of what
// was sent is compared with the re-encoding, member by member.  The first
// difference in each request is recorded with the method and the path to
// it.  The checks, and which of them vCenter is known to make, are listed
// in tests/harness/README.md.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"

	_ "github.com/vmware/govmomi/pbm/types" // registers the pbm: types
)

const (
	nsSoapEnv = "http://schemas.xmlsoap.org/soap/envelope/"
	nsXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	nsVim25   = "urn:vim25"
	nsPbm     = "urn:pbm"
)

// violation is one request that a strict vCenter would read differently.
type violation struct {
	Method string `json:"method"`
	Client string `json:"client"`
	Path   string `json:"path"`
	What   string `json:"what"`
}

type checker struct {
	mu         sync.Mutex
	violations []violation
	checked    map[string]int // method -> requests checked
	versions   func() []string
}

func newChecker(versions func() []string) *checker {
	return &checker{checked: map[string]int{}, versions: versions}
}

func (c *checker) record(v violation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A run can send thousands of identical requests: keep the first of
	// each kind, enough to find and fix it.
	for _, o := range c.violations {
		if o == v {
			return
		}
	}
	if len(c.violations) < 1000 {
		c.violations = append(c.violations, v)
	}
}

func (c *checker) list() ([]violation, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]violation(nil), c.violations...)
	n := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		n[k] = v
	}
	return out, n
}

func (c *checker) clear() {
	c.mu.Lock()
	c.violations = nil
	c.checked = map[string]int{}
	c.mu.Unlock()
}

// node is a parsed element: namespace-resolved name, its xsi:type (local
// part), the other attributes, text and children.
type node struct {
	space, local string
	xsiType      string // local part
	xsiSpace     string // the namespace its prefix is bound to
	xsiPrefixed  string // xsi:type as written, prefix included
	attrs        map[string]string
	text         string
	kids         []*node
}

func parseTree(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var scopes []map[string]string // prefix -> namespace, per open element
	var root *node
	lookup := func(prefix string) string {
		for i := len(scopes) - 1; i >= 0; i-- {
			if ns, ok := scopes[i][prefix]; ok {
				return ns
			}
		}
		return ""
	}
	for {
		tok, err := d.Token()
		if err != nil {
			if root != nil && len(stack) == 0 {
				return root, nil
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{space: t.Name.Space, local: t.Name.Local, attrs: map[string]string{}}
			scope := map[string]string{}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					scope[a.Name.Local] = a.Value
				} else if a.Name.Space == "" && a.Name.Local == "xmlns" {
					scope[""] = a.Value
				}
			}
			scopes = append(scopes, scope)
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
				case a.Name.Space == nsXSI && a.Name.Local == "type":
					n.xsiPrefixed = a.Value
					prefix, local, ok := strings.Cut(a.Value, ":")
					if !ok {
						prefix, local = "", a.Value
					}
					n.xsiType = local
					n.xsiSpace = lookup(prefix)
				case a.Name.Space == nsXSI:
				default:
					n.attrs[a.Name.Local] = a.Value
				}
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			scopes = scopes[:len(scopes)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
}

const nsXSD = "http://www.w3.org/2001/XMLSchema"

// normalized is the request m in an envelope that govmomi's decoder reads
// as a schema-aware parser reads the original: xsi:type prefixes resolved.
func normalized(m *node) []byte {
	var b bytes.Buffer
	b.WriteString(`<Envelope xmlns="` + nsSoapEnv + `" xmlns:xsi="` + nsXSI + `"><Body>`)
	m.write(&b, nsSoapEnv)
	b.WriteString(`</Body></Envelope>`)
	return b.Bytes()
}

// decodeRequest decodes a SOAP request into govmomi's request type, as
// vCenter reads it (see normalized).
func decodeRequest(urlPath string, body []byte) (*simulator.Method, error) {
	env, err := parseTree(body)
	if err != nil {
		return nil, err
	}
	b := child(env, nsSoapEnv, "Body")
	if b == nil || len(b.kids) != 1 {
		return nil, fmt.Errorf("no request in the SOAP Body")
	}
	return simulator.UnmarshalBody(typeFunc(strings.HasPrefix(urlPath, "/pbm")), normalized(b.kids[0]))
}

// write serialises n with every xsi:type written as govmomi's decoder
// reads it: "xsd:string" for XML Schema types, the bare name otherwise.
func (n *node) write(b *bytes.Buffer, parentSpace string) {
	b.WriteString("<" + n.local)
	if n.space != parentSpace {
		b.WriteString(` xmlns="`)
		_ = xml.EscapeText(b, []byte(n.space))
		b.WriteString(`"`)
	}
	for k, v := range n.attrs {
		b.WriteString(" " + k + `="`)
		_ = xml.EscapeText(b, []byte(v))
		b.WriteString(`"`)
	}
	if n.xsiType != "" {
		t := n.xsiType
		if n.xsiSpace == nsXSD {
			t = "xsd:" + t
		}
		b.WriteString(` xsi:type="` + t + `"`)
	}
	b.WriteString(">")
	if len(n.kids) == 0 {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b, n.space)
	}
	b.WriteString("</" + n.local + ">")
}

// badTypePrefix is the path of the first xsi:type whose prefix is not
// bound to the namespace of the type it names.
func badTypePrefix(n *node, path string, pbm bool) string {
	if n.xsiType != "" {
		ok := false
		switch n.xsiSpace {
		case nsXSD:
			ok = xsdBuiltin[n.xsiType]
		case nsVim25:
			ok = !xsdBuiltin[n.xsiType]
		case nsPbm:
			ok = pbm && !xsdBuiltin[n.xsiType]
		}
		if !ok {
			return fmt.Sprintf("%s (xsi:type=%q, prefix bound to %q)", path, n.xsiPrefixed, n.xsiSpace)
		}
	}
	for _, k := range n.kids {
		if p := badTypePrefix(k, path+"/"+k.local, pbm); p != "" {
			return p
		}
	}
	return ""
}

var xsdBuiltin = map[string]bool{
	"string": true, "boolean": true, "int": true, "long": true, "short": true,
	"byte": true, "float": true, "double": true, "dateTime": true,
	"base64Binary": true, "anyType": true, "anyURI": true,
}

func child(n *node, space, local string) *node {
	for _, k := range n.kids {
		if k.local == local && (space == "" || k.space == space) {
			return k
		}
	}
	return nil
}

// check reads one request; it returns the method name and what is wrong
// with the request ("" path and what if nothing).
func (c *checker) check(urlPath, action, client string, body []byte) {
	method, vs := c.inspect(urlPath, action, client, body)
	c.mu.Lock()
	c.checked[method]++
	c.mu.Unlock()
	for _, v := range vs {
		v.Method = method
		v.Client = client
		c.record(v)
	}
}

func (c *checker) inspect(urlPath, action, client string, body []byte) (string, []violation) {
	env, err := parseTree(body)
	if err != nil {
		return "?", []violation{{Path: "/", What: "not well-formed XML: " + err.Error()}}
	}
	if env.space != nsSoapEnv || env.local != "Envelope" {
		return "?", []violation{{Path: "/", What: fmt.Sprintf("root element {%s}%s, want a SOAP 1.1 Envelope", env.space, env.local)}}
	}
	b := child(env, nsSoapEnv, "Body")
	if b == nil || len(b.kids) != 1 {
		return "?", []violation{{Path: "/Envelope", What: "want a Body with exactly one request element"}}
	}
	m := b.kids[0]
	method := m.local
	var out []violation

	wantNS, pbm := nsVim25, strings.HasPrefix(urlPath, "/pbm")
	if pbm {
		wantNS = nsPbm
	}
	// govc logs in with govmomi's own default version (9.1.0.0) before
	// it reads vimServiceVersions.xml, and vCenter accepts that: the
	// version check is held against the client under test only.
	if v := c.checkAction(action, pbm); v != "" && (client == "agent" || !strings.HasPrefix(v, "SOAPAction \"urn:vim25/")) {
		out = append(out, violation{Path: "SOAPAction", What: v})
	}
	if p := wrongNamespace(m, wantNS, method); p != "" {
		out = append(out, violation{Path: p, What: "element not in namespace " + wantNS +
			" (the vSphere schemas are elementFormDefault=qualified)"})
	}

	// govmomi's decoder reads xsi:type values by their text, without
	// resolving the prefix as a schema-aware parser (vCenter's) does: the
	// request is handed to it with each xsi:type resolved first.
	// govmomi's SPBM requests (govc storage.policy.create) carry an
	// unbound "xsd:" prefix that vCenter accepts; held against the agent,
	// which binds every prefix it uses.
	if p := badTypePrefix(m, method, pbm); p != "" && (client == "agent" ||
		!strings.Contains(p, `xsi:type="xsd:`) || !strings.HasSuffix(p, `prefix bound to "")`)) {
		out = append(out, violation{Path: p, What: "xsi:type prefix is not bound to the type's namespace"})
	}
	meth, err := simulator.UnmarshalBody(typeFunc(pbm), normalized(m))
	if err != nil {
		return method, append(out, violation{Path: method, What: "does not decode into govmomi's request type: " + err.Error()})
	}
	enc, err := vimxml.Marshal(meth.Body)
	if err != nil {
		return method, append(out, violation{Path: method, What: "re-encoding failed: " + err.Error()})
	}
	model, err := parseTree(enc)
	if err != nil {
		return method, append(out, violation{Path: method, What: "re-encoding unreadable: " + err.Error()})
	}
	if p, what := compare(method, m, model); what != "" {
		out = append(out, violation{Path: p, What: what})
	}
	return method, out
}

func (c *checker) checkAction(action string, pbm bool) string {
	a := strings.Trim(strings.TrimSpace(action), `"`)
	if pbm {
		v, ok := strings.CutPrefix(a, "urn:pbm/")
		if !ok {
			return fmt.Sprintf("SOAPAction %q: SPBM wants urn:pbm/<version>", action)
		}
		if v != "" && !publicVersion(v) {
			return fmt.Sprintf("SOAPAction %q: not a SPBM version", action)
		}
		return ""
	}
	v, ok := strings.CutPrefix(a, "urn:vim25/")
	if !ok {
		return fmt.Sprintf("SOAPAction %q: vim25 wants urn:vim25/<version>", action)
	}
	for _, s := range c.versions() {
		if s == v {
			return ""
		}
	}
	return fmt.Sprintf("SOAPAction %q: version %q is not one this server lists in /sdk/vimServiceVersions.xml %v", action, v, c.versions())
}

func publicVersion(v string) bool {
	for _, p := range strings.Split(v, ".") {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return v != ""
}

// wrongNamespace is the path of the first element under m that is not in ns.
func wrongNamespace(m *node, ns, path string) string {
	if m.space != ns {
		return path + fmt.Sprintf(" (in %q)", m.space)
	}
	for _, k := range m.kids {
		if p := wrongNamespace(k, ns, path+"/"+k.local); p != "" {
			return p
		}
	}
	return ""
}

func typeFunc(pbm bool) func(string) (reflect.Type, bool) {
	tf := types.TypeFunc()
	if !pbm {
		return tf
	}
	return func(name string) (reflect.Type, bool) {
		if t, ok := tf("pbm:" + name); ok {
			return t, ok
		}
		return tf(name)
	}
}

// compare walks what was sent (s) beside the re-encoding (m) and returns
// the path and a description of the first difference.
func compare(path string, s, m *node) (string, string) {
	if m.xsiType != "" && s.xsiType == "" {
		// Read as the member's declared type; a derived value's own
		// members then do not fit, which is the likelier mistake.
		if p, what := compareKids(path, s, m); what != "" {
			return p, fmt.Sprintf("missing xsi:type on a polymorphic member: read as its declared type %s, so %s", m.xsiType, what)
		}
		return path, fmt.Sprintf("missing xsi:type: the member is polymorphic (declared type %s); every polymorphic value carries its xsi:type", m.xsiType)
	}
	if m.xsiType != "" && s.xsiType != m.xsiType {
		return path, fmt.Sprintf("xsi:type %q is read as %q", s.xsiType, m.xsiType)
	}
	for k, v := range m.attrs {
		if s.attrs[k] != v {
			return path, fmt.Sprintf("attribute %s=%q, the schema reads %q", k, s.attrs[k], v)
		}
	}
	if len(m.kids) == 0 && len(s.kids) == 0 {
		if !sameValue(strings.TrimSpace(s.text), strings.TrimSpace(m.text)) {
			return path, fmt.Sprintf("value %q is read as %q", s.text, m.text)
		}
		return "", ""
	}
	return compareKids(path, s, m)
}

func compareKids(path string, s, m *node) (string, string) {
	i, j := 0, 0
	for i < len(s.kids) || j < len(m.kids) {
		switch {
		case i < len(s.kids) && j < len(m.kids) && s.kids[i].local == m.kids[j].local:
			p := fmt.Sprintf("%s/%s", path, s.kids[i].local)
			if p2, what := compare(p, s.kids[i], m.kids[j]); what != "" {
				return p2, what
			}
			i++
			j++
		case i < len(s.kids) && defaulted(s.kids[i]) && !within(s.kids[i].local, m.kids[j:]):
			// An optional member sent with its default value, which the
			// encoder leaves out: valid XML for the schema.
			i++
		default:
			return path, sequenceError(s.kids, m.kids, i, j)
		}
	}
	return "", ""
}

func within(name string, ns []*node) bool {
	for _, n := range ns {
		if n.local == name {
			return true
		}
	}
	return false
}

func defaulted(n *node) bool {
	if len(n.kids) > 0 || len(n.attrs) > 0 {
		return false
	}
	switch strings.TrimSpace(n.text) {
	case "", "false", "0":
		return true
	}
	return false
}

func names(ns []*node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.local
	}
	return out
}

func sequenceError(s, m []*node, i, j int) string {
	sent, want := names(s), names(m)
	switch {
	case i >= len(s):
		return fmt.Sprintf("required member <%s> missing (sent %v, schema order %v)", want[j], sent, want)
	case j >= len(m) || !within(s[i].local, m):
		return fmt.Sprintf("<%s> is not a member here, or not in this place (sent %v, schema order %v)", sent[i], sent, want)
	case !within(m[j].local, s):
		return fmt.Sprintf("required member <%s> missing (sent %v, schema order %v)", want[j], sent, want)
	default:
		return fmt.Sprintf("members out of order: <%s> sent where the schema wants <%s> (sent %v, schema order %v)", sent[i], want[j], sent, want)
	}
}

// sameValue: the re-encoding may write a value in its canonical form.
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}
