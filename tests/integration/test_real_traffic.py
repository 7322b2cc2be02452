"""Real vCenter answers through the agent's decoders.

The answers were recorded against real vCenters (8.0.3, 6.7, 6.5, 6.0) and
VMware's own vpxd by other projects (pyvmomi, ManageIQ, govmomi); they are
read from ../shared/reference/real-vcenter/, never copied here.  What the
agent's code makes of them (tests/tools/vimtool.c runs the agent's own
decoders and request builder on a file) is compared with what Python's XML
parser reads in the same recording.

The corpus asks for whole properties ("config", "runtime"), where the agent
asks for paths ("config.version", "config.hardware.device"); each of our
paths is answered with the sub-element of the recorded value that it names
(realvc.path_answer).  ManageIQ's recording of vpxd is path-shaped already
and is fed as it is."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

import realvc
from realvc import NS, XSI_TYPE, local, xsi_type

VIMTOOL = os.environ.get("VMCRYPT_VIMTOOL", os.path.abspath("build/tests/vimtool"))

pytestmark = pytest.mark.skipif(
    not realvc.available(),
    reason=f"recorded vCenter traffic not found at {realvc.CORPUS} "
           "(../shared/reference/real-vcenter next to the repository)")


def vimtool(*args):
    r = subprocess.run([VIMTOOL, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def on_file(tmp_path, text, name="answer.xml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ---------------------------------------------------------------------------
# Every recorded answer to a call the agent makes decodes, unknown types and all

def fault_of(text):
    """The recorded fault's detail type, read by Python."""
    body = ET.fromstring(text.encode()).find("s:Body", NS)
    f = body.find("s:Fault", NS)
    if f is None:
        return None
    detail = f.find("detail")
    return xsi_type(list(detail)[0]) if detail is not None and len(detail) else ""


def test_every_recorded_answer_the_agent_could_get_decodes(tmp_path):
    decoded, faults, kinds = 0, 0, set()
    for c in realvc.cassettes():
        for it in realvc.cassette(c):
            if it.method.startswith("GET ") or not it.resp_body.strip():
                continue
            out = vimtool("answer", it.method, on_file(tmp_path, it.resp_body))
            if not out["known"]:
                continue                 # a call the agent never makes (Fetch, ...)
            kinds.add(it.method)
            recorded = fault_of(it.resp_body)
            if recorded is None:
                assert it.status == 200, it
                assert out["rc"] == "ok", (it, out)
                decoded += 1
            else:
                assert it.status == 500, it
                assert out["fault"] == recorded, (it, out)
                faults += 1
    # The corpus is what makes this test mean something: keep it honest.
    assert decoded >= 25 and faults >= 1, (decoded, faults)
    assert {"RetrieveServiceContent", "Login", "RetrievePropertiesEx", "WaitForUpdatesEx",
            "CreateContainerView", "PbmRetrieveServiceContent", "PbmQueryProfile",
            "PbmRetrieveContent"} <= kinds, kinds


def test_invalid_login_is_login_failed(tmp_path):
    (it,) = [i for i in realvc.cassette("pyvmomi-8.0.3/basic_connection_bad_password.yaml")
             if i.method == "Login"]
    assert fault_of(it.resp_body) == "InvalidLogin"
    out = vimtool("answer", "Login", on_file(tmp_path, it.resp_body))
    assert out["rc"] == "login" and out["fault"] == "InvalidLogin"
    assert "Cannot complete login due to an incorrect user name or password" in out["error"]


def as_retrieve_ex(fragment):
    """A RetrievePropertiesResponse fragment (govmomi's fixtures) as the
    RetrievePropertiesEx answer the agent asks for: the same ObjectContent
    elements, each <returnval> becoming <objects> of one RetrieveResult."""
    root = ET.fromstring(fragment.encode())
    ET.register_namespace("", "urn:vim25")
    ET.register_namespace("xsi", NS["xsi"])
    ET.register_namespace("xsd", "http://www.w3.org/2001/XMLSchema")
    out = ET.Element("{urn:vim25}RetrievePropertiesExResponse")
    rv = ET.SubElement(out, "{urn:vim25}returnval")
    for oc in root.iterfind("v:returnval", NS):
        oc.tag = "{urn:vim25}objects"
        rv.append(oc)
    return realvc.envelope(ET.tostring(out, encoding="unicode"))


def test_not_authenticated_inside_an_answer_is_recognised(tmp_path):
    frag = realvc.fixtures()["not_authenticated_fault.xml"]
    missing = [xsi_type(f) for f in ET.fromstring(frag.encode()).iterfind(
        "v:returnval/v:missingSet/v:fault/v:fault", NS)]
    assert missing and set(missing) == {"NotAuthenticated"}
    out = vimtool("answer", "RetrievePropertiesEx", on_file(tmp_path, as_retrieve_ex(frag)))
    assert out["rc"] == "fault" and out["fault"] == "NotAuthenticated", out
    # The other fixtures are plain answers.
    for name, frag in realvc.fixtures().items():
        if name != "not_authenticated_fault.xml":
            out = vimtool("answer", "RetrievePropertiesEx",
                          on_file(tmp_path, as_retrieve_ex(frag)))
            assert out["rc"] == "ok", (name, out)


# ---------------------------------------------------------------------------
# VM configurations: the fields the agent uses equal the recorded values

VM_CASSETTES = ["pyvmomi-8.0.3/test_json_vm_explode_type.yaml",
                "pyvmomi-6.7/test_json_vm_explode_type.yaml"]


def text(el, path):
    x = el.find(path, NS)
    return x.text if x is not None else None


def expected_vm(props, ref):
    """What the recording says of one VM, read by Python."""
    cfg = props[("VirtualMachine", ref, "config")]
    rt = props.get(("VirtualMachine", ref, "runtime"))
    snap = props.get(("VirtualMachine", ref, "snapshot"))
    key = cfg.find("v:keyId", NS)
    disks = []
    for d in cfg.iterfind("v:hardware/v:device", NS):
        if xsi_type(d) != "VirtualDisk":
            continue
        b = d.find("v:backing", NS)
        disks.append({
            "key": int(text(d, "v:key")),
            "controllerKey": int(text(d, "v:controllerKey")),
            "unitNumber": int(text(d, "v:unitNumber")) if text(d, "v:unitNumber") else None,
            "backing": xsi_type(b) if b is not None else None,
            "label": text(d, "v:deviceInfo/v:label"),
            "file": text(d, "v:backing/v:fileName"),
            "encrypted": d.find("v:backing/v:keyId", NS) is not None,
            "keyId": text(d, "v:backing/v:keyId/v:keyId"),
        })
    name = props.get(("VirtualMachine", ref, "name"))
    return {
        "name": name.text if name is not None else cfg.find("v:name", NS).text,
        "hardwareVersion": text(cfg, "v:version"),
        "powerState": text(rt, "v:powerState") if rt is not None else None,
        "template": text(cfg, "v:template") == "true",
        "encrypted": key is not None,
        "keyId": text(cfg, "v:keyId/v:keyId"),
        "keyProvider": text(cfg, "v:keyId/v:providerId/v:id"),
        "migrateEncryption": text(cfg, "v:migrateEncryption") or None,
        "ftEncryptionMode": text(cfg, "v:ftEncryptionMode") or None,
        "snapshot": snap is not None and snap.find("v:rootSnapshotList", NS) is not None,
        "disks": disks,
    }


def agent_vm(vm):
    return {k: vm[k] for k in ("name", "hardwareVersion", "powerState", "template",
                               "encrypted", "keyId", "keyProvider", "migrateEncryption",
                               "ftEncryptionMode", "snapshot")} | {
        "disks": [{k: d[k] for k in ("key", "controllerKey", "unitNumber", "backing",
                                     "label", "file", "encrypted", "keyId")}
                  for d in vm["disks"]]}


@pytest.mark.parametrize("rel", VM_CASSETTES)
def test_vm_configurations_decode_to_the_recorded_values(rel, tmp_path):
    props = realvc.recorded_properties(rel)
    refs = sorted({r for (t, r, p) in props if t == "VirtualMachine" and p == "config"})
    assert refs, rel
    want = {ref: expected_vm(props, ref) for ref in refs}
    # path_answer moves the recorded elements: read the expectations first.
    out = vimtool("vms", on_file(tmp_path, realvc.path_answer(props)))
    assert out["rc"] == "ok", out
    got = {vm["moref"]: agent_vm(vm) for vm in out["inventory"]["vms"]}
    assert set(got) == set(want)
    for ref in refs:
        assert got[ref] == want[ref], ref
        assert want[ref]["disks"], ref          # every recorded VM has a disk


def miq_pages():
    its = realvc.cassette("manageiq-vpxd-5.5/refresher.yml")
    return [i for i in its if i.method == "WaitForUpdatesEx"]


def expected_updates(page):
    """Per VM: the values the agent reads, from the changeSets, by Python."""
    out = {}
    ret = realvc.body_of(page.resp_body).find("v:returnval", NS)
    for os_ in ret.iterfind("v:filterSet/v:objectSet", NS):
        obj = os_.find("v:obj", NS)
        if obj.get("type") != "VirtualMachine":
            continue
        vm = out.setdefault(obj.text, {"disks": []})
        for ch in os_.iterfind("v:changeSet", NS):
            name, val = text(ch, "v:name"), ch.find("v:val", NS)
            if name == "name":
                vm["name"] = val.text
            elif name == "config.version":
                vm["hardwareVersion"] = val.text
            elif name == "snapshot":
                vm["snapshot"] = val is not None and val.find("v:rootSnapshotList", NS) is not None
            elif name == "config.hardware.device" and val is not None:
                for d in val:
                    if xsi_type(d) == "VirtualDisk":
                        vm["disks"].append({
                            "key": int(text(d, "v:key")),
                            "controllerKey": int(text(d, "v:controllerKey")),
                            "unitNumber": int(text(d, "v:unitNumber")),
                            "backing": xsi_type(d.find("v:backing", NS)),
                            "file": text(d, "v:backing/v:fileName"),
                        })
    return out


def test_vpxd_update_pages_decode_to_the_recorded_values(tmp_path):
    pages = miq_pages()
    assert [("<truncated>true</truncated>" in p.resp_body) for p in pages] == [True, False]
    total = 0
    for page in pages:
        want = expected_updates(page)
        out = vimtool("vms", on_file(tmp_path, page.resp_body))
        assert out["rc"] == "ok", out
        enters = len(realvc.body_of(page.resp_body).findall(
            "v:returnval/v:filterSet/v:objectSet", NS))
        assert out["enter"] == enters
        got = {vm["moref"]: vm for vm in out["inventory"]["vms"]}
        assert set(got) == set(want)
        for ref, w in want.items():
            g = got[ref]
            assert g["name"] == w.get("name") and g["hardwareVersion"] == w.get("hardwareVersion")
            assert g["snapshot"] == w.get("snapshot", False), ref
            assert [{k: d[k] for k in ("key", "controllerKey", "unitNumber", "backing", "file")}
                    for d in g["disks"]] == w["disks"], ref
            total += len(w["disks"])
    assert total >= 60          # the recording holds 64 virtual disks


# ---------------------------------------------------------------------------
# A device goes back in deviceChange losing nothing

def canon(el):
    """An element as vCenter's parser sees it: name, xsi:type, attributes,
    text, and children in order."""
    attrs = {k: v for k, v in el.attrib.items() if k != XSI_TYPE}
    kids = [canon(c) for c in el]
    t = (el.text or "").strip() if not kids else ""
    return (local(el.tag), xsi_type(el), tuple(sorted(attrs.items())), t, tuple(kids))


def recorded_devices():
    """(where, VM moref, [device elements]) for every VM in the corpus."""
    out = []
    for rel in VM_CASSETTES:
        props = realvc.recorded_properties(rel)
        for (t, ref, p), val in props.items():
            if t == "VirtualMachine" and p == "config":
                out.append((rel, ref, props, val.findall("v:hardware/v:device", NS)))
    return out


def test_every_recorded_device_is_sent_back_whole(tmp_path):
    seen_types, compared = set(), 0
    for rel, ref, props, devices in recorded_devices():
        want = [canon(d) for d in devices]
        out = vimtool("reconfig", on_file(tmp_path, realvc.path_answer(
            {k: v for k, v in props.items() if k[1] == ref})))
        (req,) = out["requests"]
        assert req["moref"] == ref and req["devices"] == len(want)
        sent = realvc.body_of(req["request"])
        assert local(sent.tag) == "ReconfigVM_Task"
        changes = sent.findall("v:spec/v:deviceChange", NS)
        assert len(changes) == len(want)
        for dc, w in zip(changes, want):
            assert dc.get(XSI_TYPE, "").endswith("VirtualDeviceConfigSpec")
            assert dc.find("v:operation", NS).text == "edit"
            got = canon(dc.find("v:device", NS))
            assert got[1:] == w[1:], (rel, ref, w[1])     # same type, attributes, contents
            seen_types.add(w[1])
            compared += 1
    for page in miq_pages():
        ret = realvc.body_of(page.resp_body)
        for val in ret.iterfind(
                "v:returnval/v:filterSet/v:objectSet/v:changeSet[v:name='config.hardware.device']"
                "/v:val", NS):
            want = [canon(d) for d in val]
            one = realvc.envelope(
                '<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects>'
                '<obj type="VirtualMachine">vm-x</obj><propSet><name>config.hardware.device'
                '</name>' + ET.tostring(val, encoding="unicode") +
                '</propSet></objects></returnval></RetrievePropertiesExResponse>')
            (req,) = vimtool("reconfig", on_file(tmp_path, one))["requests"]
            sent = realvc.body_of(req["request"]).findall("v:spec/v:deviceChange/v:device", NS)
            assert [canon(d)[1:] for d in sent] == [w[1:] for w in want]
            seen_types |= {w[1] for w in want}
            compared += len(want)
    # Disks, controllers, NICs, CD-ROMs, video, keyboards, ...: every type recorded.
    assert {"VirtualDisk", "VirtualE1000", "VirtualCdrom", "VirtualLsiLogicSASController",
            "VirtualIDEController", "VirtualMachineVideoCard"} <= seen_types, seen_types
    assert compared > 500, compared


# ---------------------------------------------------------------------------
# Storage policies as vCenter 6.5 sent them

def test_encryption_policy_recognised_in_real_spbm_answers(tmp_path):
    its = realvc.cassette("pyvmomi-8.0.3/pbm_check_compatibility.yaml")
    (it,) = [i for i in its if i.method == "PbmRetrieveContent"]
    want = {}
    for p in realvc.body_of(it.resp_body).iterfind("p:returnval", NS):
        caps = [(text(c, "p:id/p:namespace"), text(c, "p:id/p:id"))
                for c in p.iterfind("p:constraints/p:subProfiles/p:capability", NS)]
        # VMware's own rule (crypto-util): the data-service component of the
        # default "VM Encryption Policy", or a vmwarevmcrypt capability.
        enc = any(ns == "com.vmware.storageprofile.dataservice" and
                  i == "ad5a249d-cbc2-43af-9366-694d7664fa52" or ns == "vmwarevmcrypt"
                  for ns, i in caps)
        want[text(p, "p:profileId/p:uniqueId")] = (text(p, "p:name"), enc)
    out = vimtool("policies", on_file(tmp_path, it.resp_body))
    assert out["rc"] == "ok"
    got = {p["id"]: (p["name"], p["encryption"]) for p in out["profiles"]}
    assert got == want
    assert got["4d5f673c-536f-11e6-beb8-9e71128cae77"] == ("VM Encryption Policy", True)
    assert sum(e for _, e in got.values()) == 1


# ---------------------------------------------------------------------------
# Version negotiation against the vimServiceVersions.xml vCenters served

@pytest.mark.parametrize("rel,want", [
    ("pyvmomi-8.0.3/smart_connection.yaml", "8.0.2.0"),   # current is "uA046D008"
    ("pyvmomi-6.7/test_json_vm_explode_type.yaml", "6.7"),
    ("pyvmomi-6.7/vm_nic_data.yaml", "5.5"),               # a comment, "2.5u2", urn:vim2
    ("pyvmomi-8.0.3/pbm_check_compatibility.yaml", "6.5"),
])
def test_versions_picked_from_recorded_files(rel, want, tmp_path):
    (it,) = [i for i in realvc.cassette(rel) if i.method == "GET vimServiceVersions.xml"]
    out = vimtool("versions", on_file(tmp_path, it.resp_body))
    assert out == {"xml": True, "version": want}


# ---------------------------------------------------------------------------
# The agent against a replay of real vCenters (replay.py: recorded answers
# only, in recorded order; it keeps what the agent sent)

from conftest import agent, make_cert  # noqa: E402
from replay import Replay  # noqa: E402


@pytest.fixture
def replay(tmp_path):
    crt, key, fp = make_cert(str(tmp_path))
    r = Replay(crt, key)
    r.fp = fp

    def config(pbm_path="/pbm/sdk"):
        p = tmp_path / "agent.xml"
        p.write_text(f'<?xml version="1.0"?>\n<vmcrypt-agent version="1">\n'
                     f'  <vcenter url="{r.url}" user="administrator@vsphere.local" '
                     f'pbm-path="{pbm_path}"><tls thumbprint="{fp}"/></vcenter>\n'
                     f'  <state-dir>{tmp_path}</state-dir>\n</vmcrypt-agent>\n')
        return str(p)
    r.config = config
    yield r
    r.close()


def only(rel, *methods):
    return [i for i in realvc.cassette(rel) if i.method in methods]


def soapaction(req):
    return req["headers"].get("SOAPAction", "").strip('"')


def test_negotiates_a_public_version_with_a_real_803_and_says_login_failed(replay):
    replay.add(only("pyvmomi-8.0.3/smart_connection.yaml", "GET vimServiceVersions.xml",
                    "RetrieveServiceContent"))
    replay.add(only("pyvmomi-8.0.3/basic_connection_bad_password.yaml", "Login"))
    r = agent("check", "--config", replay.config(), "--json", password="wrong-password")
    assert r.returncode == 5, r.stdout + r.stderr
    c = json.loads(r.stdout)["checks"][0]
    assert c["result"] == "fail" and "login failed" in c["detail"]
    # vCenter 8.0.3 lists "uA046D008" as current: the agent must send the
    # newest public version it knows from priorVersions instead.
    for m in ("RetrieveServiceContent", "Login"):
        (req,) = replay.sent(m)
        assert soapaction(req) == "urn:vim25/8.0.2.0", req["headers"]
    assert replay.unexpected == []


def test_refuses_a_real_vcenter_55_by_its_version(replay):
    replay.add(only("pyvmomi-6.7/vm_nic_data.yaml", "GET vimServiceVersions.xml",
                    "RetrieveServiceContent"))
    r = agent("check", "--config", replay.config(), "--json")
    assert r.returncode == 4, r.stdout + r.stderr
    c = json.loads(r.stdout)["checks"][0]
    assert "speaks vSphere API 5.5; VM encryption needs 6.5 or newer" in c["detail"]
    assert soapaction(replay.sent("RetrieveServiceContent")[0]) == "urn:vim25/5.5"
    assert not replay.sent("Login")            # never sends the password to it


class Recorded:
    """A govmomi fixture served as a recorded answer."""
    def __init__(self, body):
        self.status, self.resp_body = 200, body
        self.resp_headers = {"content-type": ["text/xml; charset=utf-8"]}
        self.method = "RetrievePropertiesEx"


def test_a_session_ended_inside_an_answer_logs_in_again(replay):
    replay.add(only("pyvmomi-8.0.3/smart_connection.yaml", "GET vimServiceVersions.xml",
                    "RetrieveServiceContent", "Login"))
    replay.add(only("pyvmomi-8.0.3/test_json_vm_explode_type.yaml", "Login"))
    fx = realvc.fixtures()
    replay.add([Recorded(as_retrieve_ex(fx["not_authenticated_fault.xml"])),
                Recorded(as_retrieve_ex(fx["nested_property.xml"]))])
    replay.add(only("manageiq-vpxd-5.5/refresher.yml", "Logout"))
    out = json.loads(subprocess.run(
        [VIMTOOL, "retrieve", replay.config(), "VirtualMachine", "vm-411", "config.name",
         "config.uuid"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "VMCRYPT_VC_PASSWORD": "p"}).stdout)
    assert out["rc"] == "ok", out
    assert out["objects"] == [{"obj": "vm-411", "config.name": "kubernetes-master",
                               "config.uuid": "422ec880-ab06-06b4-23f3-beb7a052a4c9"}]
    assert len(replay.sent("Login")) == 2 and len(replay.sent("RetrievePropertiesEx")) == 2
    assert replay.unexpected == []


def test_truncated_updates_are_followed_to_the_end(replay):
    replay.add(only("pyvmomi-8.0.3/smart_connection.yaml", "GET vimServiceVersions.xml",
                    "RetrieveServiceContent", "Login"))
    pages = miq_pages()
    replay.add(pages)
    replay.add(only("manageiq-vpxd-5.5/refresher.yml", "Logout"))
    out = json.loads(subprocess.run(
        [VIMTOOL, "wait", replay.config(), "propertyCollector"], capture_output=True,
        text=True, timeout=120, env={**os.environ, "VMCRYPT_VC_PASSWORD": "p"}).stdout)
    assert out["rc"] == "ok", out
    sent = replay.sent("WaitForUpdatesEx")
    assert len(sent) == 2                    # then not truncated: it stops
    first = ET.fromstring(sent[0]["body"].encode()).find(".//v:version", NS)
    second = ET.fromstring(sent[1]["body"].encode()).find(".//v:version", NS)
    assert first is None or not first.text
    assert second is not None and second.text == "0_1"      # the truncated version
    want_objects = sum(len(realvc.body_of(p.resp_body).findall(
        "v:returnval/v:filterSet/v:objectSet", NS)) for p in pages)
    want_vms = {o.text for p in pages for o in realvc.body_of(p.resp_body).iterfind(
        "v:returnval/v:filterSet/v:objectSet/v:obj", NS) if o.get("type") == "VirtualMachine"}
    assert out["enter"] == out["objects"] == want_objects
    assert out["vms"] == len(want_vms) and out["version"] == "1"
    assert replay.unexpected == []


def test_spbm_cookie_never_replaces_the_vim25_session(replay):
    rel = "pyvmomi-8.0.3/pbm_check_compatibility.yaml"
    replay.add(only(rel, "GET vimServiceVersions.xml", "RetrieveServiceContent", "Login",
                    "PbmRetrieveServiceContent", "PbmQueryProfile", "PbmRetrieveContent"))
    replay.add(only("manageiq-vpxd-5.5/refresher.yml", "Logout"))
    out = json.loads(subprocess.run(
        [VIMTOOL, "pbm", replay.config()], capture_output=True, text=True, timeout=60,
        env={**os.environ, "VMCRYPT_VC_PASSWORD": "p"}).stdout)
    assert out["rc"] == "ok", out
    assert sorted(out["profiles"]) == sorted(["Virtual SAN Default Storage Policy",
                                              "test-profile", "VVol No Requirements Policy",
                                              "VM Encryption Policy"])
    (login,) = only(rel, "Login")
    vim_token = login.resp_headers["set-cookie"][0].split(";")[0].split("=", 1)[1]
    (pbm_sc,) = only(rel, "PbmRetrieveServiceContent")
    pbm_token = pbm_sc.resp_headers["set-cookie"][0].split(";")[0].split("=", 1)[1]
    assert vim_token != pbm_token
    for m in ("PbmRetrieveServiceContent", "PbmQueryProfile", "PbmRetrieveContent"):
        (req,) = replay.sent(m)
        assert f"<vcSessionCookie>{vim_token.strip(chr(34))}</vcSessionCookie>" in req["body"]
        assert soapaction(req).startswith("urn:pbm/")
    # The vim25 call after SPBM still carries the vim25 session.
    (logout,) = replay.sent("Logout")
    assert vim_token in logout["headers"].get("Cookie", ""), logout["headers"]
    assert pbm_token not in logout["headers"].get("Cookie", "")
    assert soapaction(logout) == "urn:vim25/6.5"
    assert replay.unexpected == []
