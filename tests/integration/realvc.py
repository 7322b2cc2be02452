"""Reading vCenter traffic recorded by other projects.

../shared/reference/real-vcenter/ (next to this repository; its README gives
provenance and licences) holds cassettes that pyvmomi, ManageIQ and govmomi
recorded against real vCenters.  They are read from there, never copied
here.  This module turns them into plain interactions; the reading of the
SOAP inside is Python's own XML parser, independent of the agent."""
import base64
import gzip
import os
import re
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("VMCRYPT_REAL_VCENTER") or os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "shared", "reference", "real-vcenter"))

NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "v": "urn:vim25",
      "p": "urn:pbm", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def available():
    return os.path.isdir(CORPUS)


class Loader(yaml.SafeLoader):
    """SafeLoader, plus the !!python/unicode tag the 6.7 cassettes use."""


Loader.add_constructor("tag:yaml.org,2002:python/unicode",
                       lambda loader, node: loader.construct_scalar(node))


class Interaction:
    def __init__(self, source, index, uri, req_headers, req_body, status, resp_headers,
                 resp_body):
        self.source, self.index, self.uri = source, index, uri
        self.req_headers, self.req_body = req_headers, req_body or ""
        self.status, self.resp_headers, self.resp_body = status, resp_headers, resp_body

    @property
    def method(self):
        """The SOAP method asked for, or the file fetched ("GET ...")."""
        m = re.search(r"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?(\w+)", self.req_body)
        if m:
            return m.group(1)
        return "GET " + self.uri.rsplit("/", 1)[-1]

    def __repr__(self):
        return f"{self.source}#{self.index} {self.method}"


def _headers(h):
    out = {}
    for k, v in (h or {}).items():
        out[k.lower()] = v if isinstance(v, list) else [v]
    return out


def _body(b):
    if isinstance(b, str):
        return b
    if b is None:
        return ""
    if b.get("string") is not None:
        return b["string"]
    raw = base64.b64decode(b.get("base64_string", ""))
    try:
        raw = gzip.decompress(raw)
    except OSError:
        pass
    return raw.decode("utf-8")


def cassette(rel):
    """Every interaction of one cassette (vcrpy or Ruby VCR)."""
    path = os.path.join(CORPUS, rel)
    with open(path) as f:
        doc = yaml.load(f, Loader=Loader)
    out = []
    for i, it in enumerate(doc.get("interactions") or doc.get("http_interactions")):
        req, resp = it["request"], it["response"]
        st = resp.get("status") or {}
        out.append(Interaction(rel, i, req.get("uri", ""), _headers(req.get("headers")),
                               _body(req.get("body")), st.get("code"),
                               _headers(resp.get("headers")), _body(resp.get("body"))))
    return out


def cassettes():
    """Every cassette in the corpus, relative paths."""
    out = []
    for d in sorted(os.listdir(CORPUS)):
        full = os.path.join(CORPUS, d)
        if os.path.isdir(full):
            out += [os.path.join(d, f) for f in sorted(os.listdir(full))
                    if f.endswith((".yaml", ".yml"))]
    return out


def fixtures():
    """govmomi's captured response fragments (no envelope)."""
    d = os.path.join(CORPUS, "govmomi")
    return {f: open(os.path.join(d, f)).read() for f in sorted(os.listdir(d))
            if f.endswith(".xml")}


def body_of(text):
    """The first element inside the SOAP Body."""
    env = ET.fromstring(text.encode())
    body = env.find("s:Body", NS)
    return list(body)[0]


def local(tag):
    return tag.rsplit("}", 1)[-1]


def xsi_type(el):
    t = el.get(XSI_TYPE)
    return t.rsplit(":", 1)[-1] if t else None


def envelope(inner, extra_ns=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{extra_ns}>'
            f'<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>')


# ---------------------------------------------------------------------------
# VM properties as recorded, and as the agent asks for them

def recorded_properties(rel):
    """{(moref type, moref, property): the recorded value element} from the
    Fetch and RetrievePropertiesEx calls of one cassette (pyvmomi fetches a
    VM's properties one by one, each whole)."""
    out = {}
    for it in cassette(rel):
        if it.method not in ("Fetch", "RetrievePropertiesEx") or it.status != 200:
            continue
        req = body_of(it.req_body)
        resp = body_of(it.resp_body)
        if it.method == "Fetch":
            this = req.find("v:_this", NS)
            prop = req.find("v:prop", NS).text
            val = resp.find("v:returnval", NS)
            if val is not None:
                out[(this.get("type"), this.text, prop)] = val
            continue
        for obj in resp.iterfind("v:returnval/v:objects", NS):
            o = obj.find("v:obj", NS)
            for ps in obj.iterfind("v:propSet", NS):
                out[(o.get("type"), o.text, ps.find("v:name", NS).text)] = ps.find("v:val", NS)
    return out


def _sub(parent, tag, text=None, xsi=None, attrib=None):
    el = ET.SubElement(parent, "{urn:vim25}" + tag, attrib or {})
    if xsi:
        el.set(XSI_TYPE, xsi)
    if text is not None:
        el.text = text
    return el


def _prop(obj, name, val_el=None, text=None, xsi=None):
    ps = _sub(obj, "propSet")
    _sub(ps, "name", name)
    v = _sub(ps, "val", text, xsi)
    if val_el is not None:
        v.text = val_el.text
        for k, a in val_el.attrib.items():
            if k != XSI_TYPE:
                v.set(k, a)
        for c in val_el:
            v.append(c)
    return v


def path_answer(props):
    """A RetrievePropertiesExResponse that answers the agent's property paths
    (agent/enforce/inventory.c inventory_vm_paths) for every VM recorded whole in
    props.  Each of our paths gets the sub-element of the recorded value it
    names, typed as vCenter types a path's value (ManageIQ's recording of
    vpxd shows the shapes: "config.hardware.device" is an ArrayOfVirtualDevice
    of <VirtualDevice xsi:type=...> elements, a string is xsd:string).  The
    recorded elements are moved in untouched."""
    ET.register_namespace("", "urn:vim25")
    ET.register_namespace("xsi", NS["xsi"])
    ET.register_namespace("xsd", "http://www.w3.org/2001/XMLSchema")
    root = ET.Element("{urn:vim25}RetrievePropertiesExResponse")
    rv = _sub(root, "returnval")
    vms = sorted({ref for (t, ref, p) in props if t == "VirtualMachine" and p == "config"})
    for ref in vms:
        def rec(p):
            return props.get(("VirtualMachine", ref, p))
        cfg = rec("config")
        ob = _sub(rv, "objects")
        _sub(ob, "obj", ref, attrib={"type": "VirtualMachine"})
        if rec("name") is not None:
            _prop(ob, "name", text=rec("name").text, xsi="xsd:string")
        if rec("parent") is not None:
            _prop(ob, "parent", rec("parent"), xsi="ManagedObjectReference")
        for field, typ in (("version", "xsd:string"), ("template", "xsd:boolean"),
                           ("changeVersion", "xsd:string"),
                           ("migrateEncryption", "xsd:string"),
                           ("ftEncryptionMode", "xsd:string")):
            el = cfg.find("v:" + field, NS)
            if el is not None:
                _prop(ob, "config." + field, text=el.text, xsi=typ)
        key = cfg.find("v:keyId", NS)
        if key is not None:
            _prop(ob, "config.keyId", key, xsi="CryptoKeyId")
        hw = cfg.find("v:hardware", NS)
        if hw is not None:
            arr = _prop(ob, "config.hardware.device", xsi="ArrayOfVirtualDevice")
            for d in hw.iterfind("v:device", NS):
                d.tag = "{urn:vim25}VirtualDevice"
                arr.append(d)
        rt = rec("runtime")
        if rt is not None:
            for field, typ in (("powerState", "VirtualMachinePowerState"),
                               ("connectionState", "VirtualMachineConnectionState")):
                el = rt.find("v:" + field, NS)
                if el is not None:
                    _prop(ob, "runtime." + field, text=el.text, xsi=typ)
        snap = rec("snapshot")
        if snap is not None and len(snap):
            _prop(ob, "snapshot", snap, xsi="VirtualMachineSnapshotInfo")
        cv = rec("customValue")
        if cv is not None:
            _prop(ob, "customValue", cv, xsi="ArrayOfCustomFieldValue")
    return envelope(ET.tostring(root, encoding="unicode"))
