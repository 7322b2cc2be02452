"""vCenter's client certificate renewed before it expires (issue #25,
point 3): `run` says the expiry without calling OVHcloud; `kms
renew-client-cert` renews it with OKMS (a new credential for vCenter's
CSR, its certificate to vCenter, the key provider green, and only then this
vCenter's old credential deleted, never another's); far from expiry it
does nothing; a failure at any step leaves the old certificate working.
Counts and certificates come from the fake (tests/ovhfake, okmsfake.py),
vCenter's state from govc and pyvmomi."""
import json
import os
import ssl
import time
import urllib.request
import uuid

import pytest

from conftest import PASSWORD, USER, Agent, Harness, wait_until
from test_okms import (CLUSTER, OKMS_ID, RULES, bed, kms_setup, okms_cfg, okms_state,  # noqa: F401
                       posts, run)
from test_ovh import SVC

RENEW_RULES = RULES + [{"method": "DELETE", "path": "/v2/okms/resource/*/credential/*"}]


def renew(fake, workdir, cfg, *args):
    r = run(fake, workdir, "renew-client-cert", "--config", cfg, "--json", "--okms-wait", "5",
            *args, cmd=("kms",))
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
    return r, doc


def steps(doc):
    return {s["step"]: s["result"] for s in doc["steps"]}


def credentials(fake):
    return {c["id"]: c for c in okms_state(fake)["resources"][OKMS_ID]["credentials"]
            if c["status"] != "GONE"}


def vcenter_cert(v):
    """The client certificate vCenter presents for the provider (pyvmomi)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    si = SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD,
                      sslContext=ssl.create_default_context(cafile=v.crt))
    try:
        return si.RetrieveContent().cryptoManager.RetrieveClientCert(
            cluster=vim.encryption.KeyProviderId(id=CLUSTER))
    finally:
        Disconnect(si)


def green_both_ways(v):
    out = json.loads(v.govc("kms.ls", "-json"))
    st = {c["clusterId"]["id"]: c for c in out.get("status") or []}[CLUSTER]
    return all(s["status"] == "green" and s["clientTrustServer"] and s["serverTrustClient"]
               for s in st["servers"])


def deletes(fake):
    return [q for q in fake.requests() if q["method"] == "DELETE"]


def set_up(v, fake, workdir, days):
    """kms setup --okms with a credential of `days` days; another Hosted
    Private Cloud's credential on the same OKMS beside it."""
    fake.setup(rules=RENEW_RULES, okms={
        "resources": [{"id": OKMS_ID}], "ready_after": 1,
        "credentials": {OKMS_ID: [{"id": str(uuid.uuid4()), "name": "vmcrypt-agent other-vc",
                                   "status": "READY", "identityURNs": ["urn:v1:eu:identity:"
                                                                       "account:xx1111-ovh"],
                                   "fromCSR": True}]}})
    cfg = okms_cfg(v)
    r, doc = kms_setup(fake, workdir, cfg, "--okms-validity", str(days))
    assert r.returncode == 0, r.stdout + r.stderr
    assert green_both_ways(v)
    mine = [c for c in credentials(fake).values() if c["name"] != "vmcrypt-agent other-vc"]
    assert len(mine) == 1
    return cfg, mine[0]


def metric(port, name):
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for fam in text_string_to_metric_families(r.read().decode()):
            for s in fam.samples:
                if s.name == name:
                    return s.value
    return None


@pytest.mark.api
def test_renewed_20_days_before_expiry_old_credential_deleted_after(bed, workdir):
    v, fake = bed
    cfg, old = set_up(v, fake, workdir, 20)
    other = [c for c in credentials(fake).values() if c["name"] == "vmcrypt-agent other-vc"][0]
    old_pem = vcenter_cert(v)
    assert old_pem.strip() == old["certificatePEM"].strip()

    # `run` says it, from vCenter's status, and calls nobody at OVHcloud.
    before = len(fake.requests())
    run_cfg = os.path.join(workdir, "run.xml")
    with open(run_cfg, "w") as f:
        f.write(open(cfg).read().replace(f'<kms cluster="{CLUSTER}">',
                                         f'<kms cluster="{CLUSTER}" health-interval="10">'))
    a = Agent(run_cfg, workdir)
    wait_until(lambda: metric(v.metrics_port, "vmcrypt_kms_client_cert_expiry_seconds")
               is not None, 30, "the expiry metric")
    left = metric(v.metrics_port, "vmcrypt_kms_client_cert_expiry_seconds")
    assert 19 * 86400 < left <= 20 * 86400
    a.wait_log(f"client certificate for key provider {CLUSTER} expires in", 30)
    assert "expires in 19 days" in a.text() or "expires in 20 days" in a.text(), a.text()
    time.sleep(11)                           # one more health interval
    a.stop()
    assert len(fake.requests()) == before    # run made no OVHcloud call

    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    got = steps(doc)
    assert got["credential"] == "done" and got["vcenter-certificate"] == "done"
    assert got["connection"] == "done" and got["old-credential"] == "done"
    creds = credentials(fake)
    assert old["id"] not in creds                         # deleted
    assert other["id"] in creds and creds[other["id"]]["status"] == "READY"  # never touched
    new = [c for c in creds.values() if c["id"] != other["id"]]
    assert len(new) == 1 and new[0]["status"] == "READY"
    assert vcenter_cert(v).strip() == new[0]["certificatePEM"].strip()
    assert green_both_ways(v)
    # The old credential was deleted only after the new one was READY.
    log = fake.requests()
    i_post = max(i for i, q in enumerate(log) if q["method"] == "POST" and
                 q["path"].endswith("/credential"))
    i_del = [i for i, q in enumerate(log) if q["method"] == "DELETE"]
    assert len(i_del) == 1 and i_del[0] > i_post and old["id"] in log[i_del[0]]["path"]
    state = json.load(open(os.path.join(workdir, f"okms-{CLUSTER}.json")))
    assert state["credential"] == new[0]["id"]

    # Far from expiry now: nothing.
    n_posts = len(posts(fake))
    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert steps(doc) == {"certificate": "unchanged"}
    assert "nothing to do" in doc["steps"][0]["detail"]
    assert len(posts(fake)) == n_posts and len(deletes(fake)) == 1


@pytest.mark.api
def test_a_failure_at_each_step_leaves_the_old_certificate_working(bed, workdir):
    v, fake = bed
    cfg, old = set_up(v, fake, workdir, 20)
    old_pem = vcenter_cert(v)

    def unchanged(why):
        assert vcenter_cert(v) == old_pem, why
        assert green_both_ways(v), why
        assert credentials(fake)[old["id"]]["status"] == "READY", why
        assert deletes(fake) == [] or all(old["id"] not in q["path"] for q in deletes(fake)), why

    # 0. vCenter cannot give its CSR (RetrieveClientCsr refused): nothing
    # is asked of OKMS.
    posts = len([q for q in fake.requests() if q["method"] == "POST"])
    h = Harness(v)
    h.fault("RetrieveClientCsr", "CSR store unavailable")
    try:
        r, doc = renew(fake, workdir, cfg)
    finally:
        h.clear_faults()
    assert r.returncode != 0, r.stdout + r.stderr
    assert steps(doc)["kms-trusts-vcenter"] == "failed", r.stdout
    assert "RetrieveClientCsr" in r.stdout and "CSR store unavailable" in r.stdout, r.stdout
    assert len([q for q in fake.requests() if q["method"] == "POST"]) == posts
    unchanged("no CSR")

    # 1. OVHcloud refuses the new credential (IAM).
    fake.ctl("POST", "/fake/okms", {"denied": ["okms:apiovh:credential/create"]})
    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 9, r.stdout + r.stderr
    assert "okms:apiovh:credential/create" in r.stdout
    unchanged("denied")
    fake.ctl("POST", "/fake/okms", {"denied": []})

    # 2. It never becomes READY.
    fake.ctl("POST", "/fake/okms", {"ready_after": None})
    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 1 and steps(doc)["kms-trusts-vcenter"] == "failed", r.stdout
    unchanged("never ready")
    fake.ctl("POST", "/fake/okms", {"ready_after": 1})

    # 3. The KMS does not accept the new certificate (signed by another
    # CA): the key provider is not green with it; the old one is put back.
    fake.ctl("POST", "/fake/okms", {"other_ca": True})
    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 1 and steps(doc)["connection"] == "failed", r.stdout
    assert "the old certificate is back in vCenter" in r.stdout
    unchanged("not green")
    # The unused new credentials were deleted; the old one never was.
    mine = [c for c in credentials(fake).values() if c["name"] != "vmcrypt-agent other-vc"]
    assert [c["id"] for c in mine if c["status"] == "READY"].count(old["id"]) == 1


@pytest.mark.api
def test_vcenter_refusing_the_signed_certificate_leaves_the_old_one(bed, workdir):
    """vCenter refuses UpdateKmsSignedCsrClientCert (a fault rule on the
    trust call, tests/harness/vcsimd/trust.go): renew exits non-zero naming
    the call and the fix; the old certificate is still what vCenter
    presents and the provider green; the old credential untouched; the new
    one, signed but never used, deleted."""
    v, fake = bed
    cfg, old = set_up(v, fake, workdir, 20)
    old_pem = vcenter_cert(v)
    before = set(credentials(fake))
    h = Harness(v)
    h.fault("UpdateKmsSignedCsrClientCert", "The certificate is not valid for this CSR")
    try:
        r, doc = renew(fake, workdir, cfg)
    finally:
        h.clear_faults()
    assert r.returncode == 1, r.stdout + r.stderr
    got = steps(doc)
    assert got["credential"] == "done" and got["vcenter-certificate"] == "failed", r.stdout
    st = [x for x in doc["steps"] if x["step"] == "vcenter-certificate"][0]
    assert "UpdateKmsSignedCsrClientCert" in st["detail"], st
    assert "The certificate is not valid for this CSR" in st["detail"], st
    assert "vCenter refused the signed certificate and still presents the old one" in \
        st["fix"] and "kms renew-client-cert` again" in st["fix"], st
    assert "connection" not in got, got          # never switched, so never checked
    # vCenter: the old certificate, green both ways.
    assert vcenter_cert(v) == old_pem
    assert green_both_ways(v)
    # OKMS: the old credential untouched; the new one deleted, and only it.
    creds = credentials(fake)
    assert creds[old["id"]]["status"] == "READY"
    assert set(creds) == before, (set(creds) - before, before - set(creds))
    new = [q["path"].rsplit("/", 1)[1] for q in deletes(fake)]
    assert len(new) == 1 and new[0] not in before, new
    assert got["old-credential"] == "done", got
    assert "the unused new credential" in [x for x in doc["steps"]
                                            if x["step"] == "old-credential"][0]["detail"]


@pytest.mark.api
def test_renewal_deletes_its_own_old_credential_from_a_later_page(bed, workdir):
    """okms-facts §2: the credential list is paged.  Four other vCenters'
    credentials first, pages of two: ours is on the third page.  The
    renewal reads every page, and deletes only its own old credential."""
    v, fake = bed
    others = [{"id": str(uuid.uuid4()), "name": f"vmcrypt-agent other-vc-{i}",
               "status": "READY", "identityURNs": ["urn:v1:eu:identity:account:xx1111-ovh"],
               "fromCSR": True} for i in range(4)]
    fake.setup(rules=RENEW_RULES, okms={"resources": [{"id": OKMS_ID}], "ready_after": 1,
                                        "page_size": 2, "credentials": {OKMS_ID: others}})
    cfg = okms_cfg(v)
    r, doc = kms_setup(fake, workdir, cfg, "--okms-validity", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    old = doc["okms"]["credential"]
    assert list(credentials(fake))[-1] == old and len(credentials(fake)) == 5
    n = len(fake.requests())
    r, doc = renew(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert steps(doc)["old-credential"] == "done", r.stdout
    log = fake.requests()[n:]
    lists = [q for q in log if q["method"] == "GET" and q["path"].endswith("/credential")]
    assert len(lists) == 3 and lists[0]["cursor"] is None and lists[2]["cursor"], lists
    assert [q["path"].rsplit("/", 1)[1] for q in deletes(fake)] == [old]
    creds = credentials(fake)
    assert all(c["id"] in creds and creds[c["id"]]["status"] == "READY" for c in others)
    new = [c for c in creds.values() if c["id"] not in {o["id"] for o in others}]
    assert len(new) == 1 and new[0]["id"] != old and new[0]["status"] == "READY"
    assert vcenter_cert(v).strip() == new[0]["certificatePEM"].strip()


@pytest.mark.api
def test_endpoint_drift_said_by_run_without_calling_ovhcloud(bed, workdir):
    """Issue #25 point 4: the OKMS endpoint now resolves to an address kms
    setup did not register in the firewall (here: the state file says
    another address was registered, as after OVHcloud moved the endpoint):
    run says it within one health interval, names the command that
    registers it, and calls nobody at OVHcloud; once the registered
    addresses match again, it says so and the metric is 0."""
    v, fake = bed
    cfg, _ = set_up(v, fake, workdir, 365)
    state = os.path.join(workdir, f"okms-{CLUSTER}.json")
    doc = json.load(open(state))
    assert doc["addresses"] == ["127.0.0.1"]
    doc["addresses"] = ["192.0.2.10"]
    json.dump(doc, open(state, "w"))
    run_cfg = os.path.join(workdir, "run.xml")
    with open(run_cfg, "w") as f:
        f.write(open(cfg).read().replace(f'<kms cluster="{CLUSTER}">',
                                         f'<kms cluster="{CLUSTER}" health-interval="10">'))
    before = len(fake.requests())
    a = Agent(run_cfg, workdir)
    wait_until(lambda: metric(v.metrics_port,
                              "vmcrypt_okms_endpoint_unregistered_addresses") == 1,
               30, "the unregistered address in the metric")
    a.wait_log("not registered in the Hosted Private Cloud's firewall", 5)
    line = [x for x in a.text().splitlines() if "not registered in the Hosted" in x][0]
    assert "resolves to 127.0.0.1" in line and "(registered: 192.0.2.10)" in line, line
    assert f"kms setup --okms {OKMS_ID} --ovh-service {SVC}" in line, line
    doc["addresses"] = ["127.0.0.1"]
    json.dump(doc, open(state, "w"))
    wait_until(lambda: metric(v.metrics_port,
                              "vmcrypt_okms_endpoint_unregistered_addresses") == 0,
               30, "every address registered again")
    a.stop()
    assert "every address it resolves to is registered" in a.text()
    assert len(fake.requests()) == before       # no OVHcloud call from run


@pytest.mark.api
def test_check_compares_the_endpoint_with_the_firewall_itself(bed, workdir):
    """Issue #25 point 4, check's side: the endpoint's addresses against the
    Hosted Private Cloud's firewall as the OVHcloud API gives it."""
    v, fake = bed
    cfg, _ = set_up(v, fake, workdir, 365)

    def item():
        r = run(fake, workdir, "--config", cfg, "--json", cmd=("check",))
        doc = json.loads(r.stdout)
        return r, [i for i in doc["checks"] if i["id"] == "okms-firewall"][0]

    r, it = item()
    assert r.returncode == 0 and it["result"] == "pass", r.stdout
    assert "127.0.0.1" in it["detail"] and "read through the OVHcloud API" in it["detail"]
    # The firewall now holds another address only (as after an entry was
    # removed in the Control Panel): check fails, naming the fix.
    entry = {"kmsId": 7, "ip": "192.0.2.10", "sslThumbprint": "AA" * 20,
             "description": "other", "kmsTcpPort": 5696, "state": "delivered"}
    fake.setup(rules=RENEW_RULES, services={SVC: {"state": "enabled", "kms": [entry]}},
               okms={"resources": [{"id": OKMS_ID}]})
    r, it = item()
    assert r.returncode == 1 and it["result"] == "fail", r.stdout
    assert "resolves to 127.0.0.1, not delivered in the firewall of" in it["detail"]
    assert f"kms setup --okms {OKMS_ID} --ovh-service {SVC}" in it["fix"]
