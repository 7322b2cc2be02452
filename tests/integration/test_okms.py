"""`setup --okms ID` / `kms setup --okms ID` (issue #25, points 1, 2, 7):
OVHcloud's KMS end to end against the test bed (vcsimd, whose key provider
status is green and trusted both ways only when the KMS endpoint really
accepts vCenter's client certificate) and tests/ovhfake (the OVHcloud API
with its OKMS half, okmsfake.py: every request's signature checked, every
request recorded; the KMIP endpoint accepts only client certificates its
CA signed).  Counts come from the fake's record, vCenter's state from govc
and the harness's call statistics."""
import json
import os
import subprocess
import uuid

import pytest

import test_ovh
from conftest import PASSWORD, Harness, agent
from test_ovh import AK, AS, CK, SVC, Fake

OKMS_ID = "3f2c9a56-7d1e-4b8a-9c0f-1a2b3c4d5e6f"
CLUSTER = "okms-rbx"
ACCOUNT_URN = "urn:v1:eu:identity:account:xx1111-ovh"
RULES = test_ovh.RULES + [{"method": m, "path": p} for m, p in [
    ("GET", "/auth/details"), ("GET", "/v2/okms/resource/*"),
    ("POST", "/v2/okms/resource/*/credential")]]


@pytest.fixture
def bed(testbed, workdir):
    """An empty vCenter (no key provider) and the fake: one Hosted Private
    Cloud, one OKMS with no credential."""
    v = testbed(kms=False)
    os.makedirs(os.path.join(workdir, "ovh"))
    fake = Fake(os.path.join(workdir, "ovh"))
    fake.setup(rules=RULES, okms={"resources": [{"id": OKMS_ID}], "ready_after": 2,
                                  "identities": [ACCOUNT_URN]})
    yield v, fake
    fake.stop()


def okms_cfg(v, identities=()):
    inner = "".join(f'<identity urn="{u}"/>' for u in identities)
    return v.config(extra=f'  <kms cluster="{CLUSTER}"><okms id="{OKMS_ID}">{inner}'
                          f'</okms></kms>\n')


def env_for(fake, workdir):
    e = {k: val for k, val in os.environ.items() if not k.startswith("OVH_")}
    e.update(HOME=workdir, OVH_ENDPOINT=f"{fake.base}/1.0", OVH_APPLICATION_KEY=AK,
             OVH_APPLICATION_SECRET=AS, OVH_CONSUMER_KEY=CK, SSL_CERT_FILE=fake.crt,
             VMCRYPT_VC_PASSWORD=PASSWORD)
    return e


def run(fake, workdir, *args, cmd=("setup",)):
    r = subprocess.run([os.environ["VMCRYPT_BIN"], *cmd, *args], capture_output=True,
                       text=True, env=env_for(fake, workdir), cwd=workdir,
                       stdin=subprocess.DEVNULL, timeout=600)
    assert "Sanitizer" not in r.stderr, r.stderr
    out = r.stdout + r.stderr
    assert AS not in out and CK not in out and PASSWORD not in out   # no secret shows
    return r


def kms_setup(fake, workdir, cfg, *args):
    r = run(fake, workdir, "setup", "--config", cfg, "--okms", OKMS_ID, "--ovh-service",
            SVC, "--json", "--okms-wait", "10", *args, cmd=("kms",))
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


def okms_state(fake):
    return fake.ctl("GET", "/fake/okms")


def posts(fake, prefix=""):
    return [q for q in fake.requests() if q["method"] == "POST" and q["path"].startswith(prefix)]


def providers(v):
    out = json.loads(v.govc("kms.ls", "-json"))
    return {c["clusterId"]["id"]: c for c in out.get("info") or []}, \
        {c["clusterId"]["id"]: c for c in out.get("status") or []}


def last(doc):
    return doc["steps"][-1]


@pytest.mark.api
def test_setup_okms_from_nothing_then_a_second_run_posts_nothing(bed, workdir):
    v, fake = bed
    h = Harness(v)
    cfg = okms_cfg(v)
    endpoint = okms_state(fake)["endpoint"]
    host, port = endpoint.split(":")
    assert host == "localhost"

    # Dry run: every step said, nothing changed anywhere.
    r = run(fake, workdir, "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC,
            "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert posts(fake) == [] and providers(v)[0] == {}
    assert not fake.state()["services"][SVC]["kms"]

    r = run(fake, workdir, "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "setup done" in r.stdout
    # OVHcloud's side: the firewall holds the endpoint's IP with the
    # SHA-1 of the certificate served there, delivered.
    kms_pem = okms_state(fake)["kmip_cert"]
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1"],
                        input=kms_pem, capture_output=True, text=True,
                        check=True).stdout.strip().split("=", 1)[1]
    fw = fake.state()["services"][SVC]["kms"]
    assert [(k["ip"], k["sslThumbprint"], k["state"]) for k in fw] == \
        [("127.0.0.1", fp, "delivered")]
    # The firewall entry was delivered before vCenter heard of the KMS:
    # the registration's task was done before the first RegisterKmipServer
    # (the fake's record of times against the run's order).
    log = fake.requests()
    fw_post = [q for q in log if q["method"] == "POST" and "vmEncryption/kms" in q["path"]]
    cred_post = posts(fake, f"/v2/okms/resource/{OKMS_ID}/credential")
    assert len(fw_post) == 1 and len(cred_post) == 1
    assert fw_post[0]["time"] < cred_post[0]["time"]
    # The credential: vCenter's CSR, named after this vCenter, the account's
    # own identity (from /auth/details), 365 days; signed by the OKMS CA.
    body = json.loads(cred_post[0]["body"])
    assert body["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert body["identityURNs"] == [ACCOUNT_URN] and body["validity"] == 365
    assert body["name"].startswith("vmcrypt-agent ") and "certificateType" not in body
    assert any(q["path"] == "/1.0/auth/details" for q in log)
    test_ovh.all_signed_and_verified(log)
    # vCenter's side, through govc: the server is the host name and port,
    # default, green and trusted both ways.
    info, status = providers(v)
    assert [(s["name"], s["address"], s["port"]) for s in info[CLUSTER]["servers"]] == \
        [("localhost", "localhost", int(port))]
    assert info[CLUSTER]["useAsDefault"] is True
    srv = status[CLUSTER]["servers"][0]
    assert srv["status"] == "green", srv
    assert srv["clientTrustServer"] is True and srv["serverTrustClient"] is True
    # The KMS endpoint really accepted a client certificate its CA signed.
    assert any(hs["accepted"] for hs in okms_state(fake)["kmip"])
    pol = json.loads(v.govc("storage.policy.info", "-json", "VM Encryption Policy"))
    assert pol["policies"][0]["profile"]["name"] == "VM Encryption Policy"
    st = json.load(open(os.path.join(v.dir, f"okms-{CLUSTER}.json")))
    cred = okms_state(fake)["resources"][OKMS_ID]["credentials"]
    assert [c["id"] for c in cred] == [st["credential"]] and st["addresses"] == ["127.0.0.1"]
    assert cred[0]["status"] == "READY" and cred[0]["fromCSR"] is True

    # A second run: its credential found by name, no POST anywhere, no
    # change in vCenter.
    n_posts = len(posts(fake))
    calls = dict(h.stats()["calls"])
    r = run(fake, workdir, "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(posts(fake)) == n_posts
    after = h.stats()["calls"]
    for m in ("RegisterKmipServer", "UploadKmipServerCert", "GenerateClientCsr",
              "UpdateKmsSignedCsrClientCert", "MarkDefault"):
        assert after.get(m, 0) == calls.get(m, 0), m
    c = agent("check", "--config", cfg, "--json")
    assert c.returncode == 0, c.stdout + c.stderr


@pytest.mark.api
def test_kms_setup_okms_json_and_the_csr_kept_across_runs(bed, workdir):
    """A credential that never becomes ready is a clear failure (exit 1,
    its id and what to do) with nothing half-done in vCenter's trust; the
    next run reuses vCenter's CSR and the credential (no second POST, no
    second GenerateClientCsr)."""
    v, fake = bed
    h = Harness(v)
    fake.setup(rules=RULES, okms={"resources": [{"id": OKMS_ID}], "ready_after": None})
    cfg = okms_cfg(v, identities=["urn:v1:eu:identity:user:xx1111-ovh/vcenter"])
    r, doc = kms_setup(fake, workdir, cfg, "--okms-wait", "3")
    assert r.returncode == 1, r.stdout + r.stderr
    step = last(doc)
    assert step["step"] == "kms-trusts-vcenter" and step["result"] == "failed"
    cid = doc["okms"]["credential"]
    assert cid and cid in step["detail"] and "CREATING" in step["detail"]
    assert "run again later" in step["fix"]
    body = json.loads(posts(fake, "/v2/okms")[0]["body"])
    assert body["identityURNs"] == ["urn:v1:eu:identity:user:xx1111-ovh/vcenter"]
    assert not any(q["path"] == "/1.0/auth/details" for q in fake.requests())
    assert h.stats()["calls"].get("UpdateKmsSignedCsrClientCert", 0) == 0
    assert h.stats()["calls"].get("GenerateClientCsr", 0) == 1

    # OKMS signs it now: the next run POSTs nothing, keeps vCenter's CSR,
    # and ends green.
    fake.ctl("POST", "/fake/okms", {"ready_after": 1})
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(posts(fake, "/v2/okms")) == 1
    assert doc["okms"]["credential"] == cid and doc["okms"]["credential_created"] is False
    assert h.stats()["calls"].get("GenerateClientCsr", 0) == 1
    assert h.stats()["calls"].get("UpdateKmsSignedCsrClientCert", 0) == 1
    _, status = providers(v)
    srv = status[CLUSTER]["servers"][0]
    assert srv["status"] == "green" and srv["serverTrustClient"] is True


@pytest.mark.api
def test_okms_failures_each_with_its_fix_and_nothing_changed(bed, workdir):
    v, fake = bed
    h = Harness(v)
    cfg = okms_cfg(v)

    # A missing IAM right: 403 Client::Forbidden, the action named, exit 9.
    fake.setup(rules=RULES, okms={"resources": [{"id": OKMS_ID}],
                                  "denied": ["okms:apiovh:credential/create"]})
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 9, r.stdout + r.stderr
    assert "okms:apiovh:credential/create" in last(doc)["fix"]
    assert "Client::Forbidden" in last(doc)["detail"]
    assert h.stats()["calls"].get("UpdateKmsSignedCsrClientCert", 0) == 0

    # A validity over OVHcloud's maximum (the API lowered it below the
    # documented 365): its class said, and the option that fixes it.
    fake.ctl("POST", "/fake/okms", {"denied": [], "max_validity": 90})
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "CredentialValidityMaximumExceeded" in last(doc)["detail"]
    assert "--okms-validity" in last(doc)["fix"]
    r, doc = kms_setup(fake, workdir, cfg, "--okms-validity", "90")
    assert r.returncode == 0, r.stdout + r.stderr
    body = json.loads(posts(fake, "/v2/okms")[-1]["body"])
    assert body["validity"] == 90
    # Over the documented maximum: refused by the agent before any call.
    n = len(fake.requests())
    r, doc = kms_setup(fake, workdir, cfg, "--okms-validity", "366")
    assert r.returncode == 2 and "366" in r.stderr
    assert len(fake.requests()) == n

    # No such OKMS: exit 10, nothing registered anywhere.
    fake.setup(rules=RULES, okms={"resources": []})
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 10, r.stdout + r.stderr
    assert last(doc)["step"] == "okms" and OKMS_ID in last(doc)["fix"]
    assert posts(fake) == []


@pytest.mark.api
def test_okms_refusals_before_any_call(bed, workdir):
    """A server-generated key is refused with the PCI DSS reason; --okms
    without --ovh-service, or with a thumbprint to type, is a usage error;
    none of them calls OVHcloud or vCenter."""
    v, fake = bed
    h = Harness(v)
    cfg = okms_cfg(v)
    before = h.stats()
    d = os.path.join(workdir, "client")
    os.makedirs(d)
    from conftest import make_cert
    crt, key, _ = make_cert(d, cn="client", days=30)
    r = run(fake, workdir, "setup", "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC,
            "--client-cert", crt, "--client-key", key, cmd=("kms",))
    assert r.returncode == 2 and "PCI DSS" in r.stderr, r.stderr
    r = run(fake, workdir, "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC,
            "--client-cert", crt, "--client-key", key)
    assert r.returncode == 2 and "PCI DSS" in r.stderr, r.stderr
    r = run(fake, workdir, "--config", cfg, "--okms", OKMS_ID)
    assert r.returncode == 2 and "--ovh-service" in r.stderr
    r = run(fake, workdir, "setup", "--config", cfg, "--okms", OKMS_ID, "--ovh-service", SVC,
            "--thumbprint", "AB" * 20, cmd=("kms",))
    assert r.returncode == 2
    r = run(fake, workdir, "setup", "--config", cfg, "--okms", "not-a-uuid",
            "--ovh-service", SVC, cmd=("kms",))
    assert r.returncode == 2 and "UUID" in r.stderr
    assert fake.requests() == []
    assert h.stats() == before


@pytest.mark.api
def test_okms_endpoint_refuses_a_client_certificate_not_from_its_ca(bed, workdir):
    """The test bed proves nothing unless a certificate the OKMS CA did not
    sign is refused: vCenter's self-signed client certificate (plain `kms
    setup` against the same endpoint) leaves the provider red, the KMS not
    trusting vCenter."""
    v, fake = bed
    st = okms_state(fake)
    host, port = st["endpoint"].split(":")
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1"],
                        input=st["kmip_cert"], capture_output=True, text=True,
                        check=True).stdout.strip().split("=", 1)[1]
    cfg = v.config(extra=f'  <kms cluster="{CLUSTER}"><server name="{host}" address="{host}" '
                         f'port="{port}"/></kms>\n')
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "kms", "setup", "--config", cfg, "--json",
                        "--thumbprint", fp, "--timeout", "4"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert last(doc)["step"] == "connection" and "KMS does not trust vCenter" in last(doc)["fix"]
    _, status = providers(v)
    srv = status[CLUSTER]["servers"][0]
    assert srv["status"] == "red" and srv["serverTrustClient"] is False
    assert srv["clientTrustServer"] is True
    assert not any(hs["accepted"] for hs in okms_state(fake)["kmip"])


def credential_lists(fake):
    return [q for q in fake.requests() if q["method"] == "GET" and
            q["path"] == f"/v2/okms/resource/{OKMS_ID}/credential"]


@pytest.mark.api
def test_credentials_listed_page_by_page_ours_found_on_a_later_page(bed, workdir):
    """okms-facts §2: the credential list is paged by cursor.  Five other
    vCenters' credentials come first, pages of two: ours, created by the
    first run, is on the third page.  The second run follows
    X-Pagination-Cursor-Next page by page, finds it and POSTs nothing.  A
    cursor OKMS refuses (CredentialPaginationCursorInvalidValue) fails the
    run with the class named, and nothing is created for want of seeing
    the last page."""
    v, fake = bed
    others = [{"id": str(uuid.uuid4()), "name": f"vmcrypt-agent other-vc-{i}",
               "status": "READY", "identityURNs": [ACCOUNT_URN], "fromCSR": True}
              for i in range(5)]
    fake.setup(rules=RULES, okms={"resources": [{"id": OKMS_ID}], "ready_after": 1,
                                  "identities": [ACCOUNT_URN], "page_size": 2,
                                  "credentials": {OKMS_ID: others}})
    cfg = okms_cfg(v)
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    cid = doc["okms"]["credential"]
    assert doc["okms"]["credential_created"] is True
    creds = okms_state(fake)["resources"][OKMS_ID]["credentials"]
    assert [c["id"] for c in creds][-1] == cid and len(creds) == 6

    n = len(credential_lists(fake))
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["okms"]["credential"] == cid and doc["okms"]["credential_created"] is False
    assert len(posts(fake, "/v2/okms")) == 1
    pages = credential_lists(fake)[n:]
    # Three pages: the first without a cursor, each next one with the
    # cursor the page before gave; the last gives none.
    assert [q["cursor"] is None for q in pages] == [True, False, False], pages
    assert [q["cursor"] for q in pages[1:]] == [q.get("next_cursor") for q in pages[:2]]
    assert pages[2].get("next_cursor") is None
    test_ovh.all_signed_and_verified(fake.requests())

    # A cursor refused: the run fails naming the class, and POSTs nothing.
    fake.ctl("POST", "/fake/okms", {"cursors_valid": False})
    r, doc = kms_setup(fake, workdir, cfg)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "CredentialPaginationCursorInvalidValue" in r.stdout, r.stdout
    assert len(posts(fake, "/v2/okms")) == 1
