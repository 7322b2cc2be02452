"""Wrapping-key rotation (issue #24, point 5): `kms setup
--wrapping-rotation-days N` on vSphere 9.0, `check` showing the interval and
the last rotation, and both saying plainly that vCenter 8.x has no such
thing.  Set up with govc; vCenter's state read back with govc (`kms.ls`:
KmipClusterInfo.keyInfo) and with raw SOAP, never through the agent; the
test bed's call counts show what the agent sent.  Each test picks its API
version itself (these are about the version), whatever VMCRYPT_API says."""
import json
import os
import re
import ssl
import subprocess
import urllib.request
from datetime import datetime, timezone

import pytest

from conftest import PASSWORD, USER, Harness, agent, kms_endpoint

V9, V8 = "9.0.0.0", "8.0.3.0"


def kms_cfg(v, port, cluster="ovh-kms", name="kms-1"):
    return v.config(extra=f'  <kms cluster="{cluster}"><server name="{name}" '
                          f'address="127.0.0.1" port="{port}"/></kms>\n')


def sha1(crt):
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def setup(cfg, *args, json_out=True):
    r = subprocess.run([os.environ.get("VMCRYPT_BIN"), "kms", "setup", "--config", cfg,
                        *(["--json"] if json_out else []), *args],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    return r, (json.loads(r.stdout) if json_out and r.stdout.strip() else None)


def step(doc, name):
    got = [s for s in doc["steps"] if s["step"] == name]
    assert len(got) == 1, doc["steps"]
    return got[0]


def provider(v, cluster="ovh-kms"):
    """govc kms.ls -json: the key provider as vCenter has it (govc speaks
    9.1, so it is sent keyInfo)."""
    info = json.loads(v.govc("kms.ls", "-json")).get("info") or []
    return next((c for c in info if c["clusterId"]["id"] == cluster), None)


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def agent_calls(h, method):
    return h.stats()["call_by"].get("agent/" + method, 0)


def bed_with_kms(testbed, api):
    """A test bed at api with the provider ovh-kms (one live KMS, trusted
    both ways, the default), and the configuration naming it."""
    v = testbed(args=("-api-version", api))
    return v, kms_cfg(v, v.kms_port), sha1(v.kms_certs["kms-1"])


@pytest.mark.api
def test_rotation_set_read_back_unchanged_then_changed_at_9(testbed):
    v, cfg, fp = bed_with_kms(testbed, V9)
    h = Harness(v)
    before = provider(v)
    assert "keyInfo" not in before            # nothing set yet

    # Dry run: said, nothing sent, nothing changed.
    r, doc = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "90", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    s = step(doc, "wrapping-rotation")
    assert s["result"] == "would" and "every 90 days" in s["detail"]
    assert doc["wrapping_rotation_days"] == 90
    assert agent_calls(h, "UpdateKmipServer") == 0 and "keyInfo" not in provider(v)

    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    r, doc = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "90")
    assert r.returncode == 0, r.stdout + r.stderr
    assert step(doc, "wrapping-rotation")["result"] == "done"
    assert agent_calls(h, "UpdateKmipServer") == 1
    p = provider(v)
    ki = p["keyInfo"]
    assert ki["rotationInterval"] == 90 and ki["keyId"]
    assert t0 <= when(ki["lastRotation"]) <= datetime.now(timezone.utc)
    # The update carried the server as vCenter had it: nothing else moved.
    assert [(x["name"], x["address"], x["port"]) for x in p["servers"]] == \
        [(x["name"], x["address"], x["port"]) for x in before["servers"]]
    assert p["useAsDefault"] is True

    # A second run reads, finds it so, and sends nothing.
    r, _ = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "90", json_out=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"OK\s+wrapping-rotation\s+'ovh-kms': the wrapping key rotates "
                     r"every 90 days", r.stdout, re.I), r.stdout
    assert "nothing to change" in r.stdout
    assert agent_calls(h, "UpdateKmipServer") == 1

    # Another interval: changed, said with what it was.
    r, doc = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "3650")
    assert r.returncode == 0, r.stdout + r.stderr
    s = step(doc, "wrapping-rotation")
    assert s["result"] == "done" and "was: rotates every 90 days" in s["detail"]
    assert provider(v)["keyInfo"]["rotationInterval"] == 3650
    assert agent_calls(h, "UpdateKmipServer") == 2


@pytest.mark.api
def test_check_shows_interval_and_last_rotation_at_9(testbed):
    v, cfg, fp = bed_with_kms(testbed, V9)
    c = agent("check", "--config", cfg, "--json")
    assert c.returncode == 0, c.stdout + c.stderr
    doc = json.loads(c.stdout)
    assert doc["wrapping_key"]["available"] is True
    assert doc["wrapping_key"]["kind"] == "none" and doc["wrapping_key"]["rotation_days"] is None

    r, _ = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    ki = provider(v)["keyInfo"]
    c = agent("check", "--config", cfg, "--json")
    assert c.returncode == 0, c.stdout + c.stderr
    w = json.loads(c.stdout)["wrapping_key"]
    assert w["provider"] == "ovh-kms" and w["kind"] == "rotating"
    assert w["rotation_days"] == 30 and w["key_id"] == ki["keyId"]
    assert when(w["last_rotation"]) == when(ki["lastRotation"])
    t = agent("check", "--config", cfg)
    assert t.returncode == 0, t.stdout + t.stderr
    assert f"PASS  wrapping-key rotation: 'ovh-kms': every 30 days, last rotation " \
        f"{w['last_rotation']}" in t.stdout, t.stdout


@pytest.mark.api
def test_8_0_3_refused_before_any_change_and_check_says_not_available(testbed):
    v = testbed(args=("-api-version", V8), kms=False)
    h = Harness(v)
    port = kms_endpoint(v, "kms-1")
    cfg, fp = kms_cfg(v, port), sha1(v.kms_certs["kms-1"])
    host = v.url.split("//", 1)[1].split("/", 1)[0]

    for extra in ((), ("--dry-run",)):
        r, _ = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "90", *extra,
                     json_out=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"not available: vCenter {host} speaks API 8.0.3; wrapping-key rotation " \
            "needs vSphere 9.0" in r.stdout, r.stdout
    r, doc = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "90")
    assert r.returncode == 1 and doc["ok"] is False and doc["changes"] == 0
    assert doc["steps"][-1]["step"] == "wrapping-rotation"
    assert doc["steps"][-1]["result"] == "failed"
    # Nothing changed: no provider registered, nothing sent that changes.
    assert provider(v) is None
    for m in ("RegisterKmipServer", "UpdateKmipServer", "UploadKmipServerCert", "MarkDefault"):
        assert agent_calls(h, m) == 0, m

    # Without the option the same vCenter is set up as before.
    r, doc = setup(cfg, "--thumbprint", fp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(s["step"] != "wrapping-rotation" for s in doc["steps"])
    c = agent("check", "--config", cfg)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "SKIP  wrapping-key rotation: not available (API 8.0.3)" in c.stdout
    c = agent("check", "--config", cfg, "--json")
    assert json.loads(c.stdout)["wrapping_key"] == {"available": False, "api": "8.0.3"}
    assert agent_calls(h, "UpdateKmipServer") == 0


@pytest.mark.parametrize("days", ["29", "3651", "0", "-5", "90d", ""])
def test_out_of_range_is_a_usage_error_before_anything(testbed, days):
    v = testbed(args=("-api-version", V9))
    h = Harness(v)
    r, _ = setup(kms_cfg(v, v.kms_port), "--wrapping-rotation-days", days, json_out=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--wrapping-rotation-days" in r.stderr and "30..3650 days" in r.stderr
    assert not any(k.startswith("agent/") for k in h.stats()["call_by"])   # not even a login
    assert "keyInfo" not in provider(v)


def soap(v, action, body, cookie=None):
    """One raw SOAP call (not the agent, not govmomi): status, body, cookie."""
    env = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
           '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi='
           '"http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>' + body +
           '</soapenv:Body></soapenv:Envelope>')
    req = urllib.request.Request(v.url, data=env.encode(), method="POST", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"urn:vim25/{action}",
        **({"Cookie": cookie} if cookie else {})})
    ctx = ssl.create_default_context(cafile=v.crt)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None


def test_test_bed_answers_keyInfo_to_9_0_clients_only(testbed):
    """The test bed's model (tests/harness/README.md): keyInfo is a 9.0
    member, sent to a client speaking 9.0.0.0 only, and a keySpec from an
    older client is refused; an interval out of range too."""
    v, cfg, fp = bed_with_kms(testbed, V9)
    r, _ = setup(cfg, "--thumbprint", fp, "--wrapping-rotation-days", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    _, _, cookie = soap(v, V9, f'<Login xmlns="urn:vim25"><_this type="SessionManager">'
                        f'SessionManager</_this><userName>{USER}</userName><password>'
                        f'{PASSWORD}</password></Login>')
    cookie = cookie.split(";", 1)[0]
    ls = ('<ListKmipServers xmlns="urn:vim25"><_this type="CryptoManagerKmip">'
          'CryptoManager</_this></ListKmipServers>')
    st, body9, _ = soap(v, V9, ls, cookie)
    assert st == 200 and "<rotationInterval>60</rotationInterval>" in body9
    st, body8, _ = soap(v, V8, ls, cookie)
    assert st == 200 and "<clusterId>" in body8 and "keyInfo" not in body8

    def update(action, days):
        return soap(v, action, '<UpdateKmipServer xmlns="urn:vim25"><_this type='
                    '"CryptoManagerKmip">CryptoManager</_this><server><clusterId><id>ovh-kms'
                    f'</id></clusterId><info><name>kms-1</name><address>127.0.0.1</address>'
                    f'<port>{v.kms_port}</port></info><keySpec xsi:type='
                    '"KmipServerSpecWrappingRotationIntervalKeySpec"><rotationInterval>'
                    f'{days}</rotationInterval></keySpec></server></UpdateKmipServer>', cookie)
    st, body, _ = update(V8, 120)
    assert st == 500 and "InvalidRequest" in body
    st, body, _ = update(V9, 20)
    assert st == 500 and "InvalidArgument" in body and "rotationInterval" in body
    assert provider(v)["keyInfo"]["rotationInterval"] == 60
