"""`vmcrypt-agent kms setup` (issue #16): the key provider in vCenter,
trust both ways, the default, Connection Status -- set up by the agent,
checked with govc (kms.ls: vCenter's own list and status) and the test
bed's record of the calls it served."""
import json
import os
import subprocess

import pytest

from conftest import (PASSWORD, Harness, agent, kms_endpoint, make_cert, with_kms)


def sha1(crt):
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def kms_cfg(v, port, cluster="ovh-kms", name="kms-1"):
    return v.config(extra=f'  <kms cluster="{cluster}"><server name="{name}" '
                          f'address="127.0.0.1" port="{port}"/></kms>\n')


def setup(cfg, *args, json_out=True, env=None):
    r = subprocess.run([os.environ.get("VMCRYPT_BIN"), "kms", "setup", "--config", cfg,
                        *(["--json"] if json_out else []), *args],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD, **(env or {})})
    return r, (json.loads(r.stdout) if json_out and r.stdout.strip() else None)


def providers(v):
    """govc kms.ls -json: vCenter's key providers and their status."""
    out = json.loads(v.govc("kms.ls", "-json"))
    return {c["clusterId"]["id"]: c for c in out.get("info") or []}, \
        {c["clusterId"]["id"]: c for c in out.get("status") or []}


def results(doc):
    return [(s["step"], s["result"]) for s in doc["steps"]]


def ca_kms(v, workdir, name):
    """A KMS that trusts only client certificates its own CA signed
    (openssl s_server -Verify).  Returns its certificate, the CA's
    certificate and key, and its port."""
    from conftest import s_server
    d, ca_dir = os.path.join(workdir, name), os.path.join(workdir, name + "-ca")
    os.makedirs(d)
    os.makedirs(ca_dir)
    crt, key, _ = make_cert(d, cn=name, days=30)
    ca, ca_key, _ = make_cert(ca_dir, cn=name + "-ca", days=30)
    return crt, ca, ca_key, s_server(v, crt, key, "-Verify", "1", "-CAfile", ca)


@pytest.fixture
def bare(testbed):
    return testbed(kms=False)


@pytest.mark.api
def test_from_nothing_to_connected_then_nothing_to_change(bare, workdir):
    v = bare
    h = Harness(v)
    port = kms_endpoint(v, "kms-1")
    fp = sha1(v.kms_certs["kms-1"])
    cfg = kms_cfg(v, port)

    # Dry run: every step said, nothing changed.
    r, doc = setup(cfg, "--dry-run", "--thumbprint", fp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["dry_run"] is True and doc["changes"] >= 3
    assert ("key-provider", "would") in results(doc)
    assert providers(v)[0] == {}
    assert h.stats()["calls"].get("RegisterKmipServer", 0) == 0

    out = os.path.join(workdir, "vc-client.pem")
    r, doc = setup(cfg, "--thumbprint", fp, "--client-cert-out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(results(doc))
    assert got["key-provider"] == "done"
    assert got["vcenter-trusts-kms"] == "done"
    assert got["kms-trusts-vcenter"] == "done"
    assert got["connection"] == "unchanged"
    assert fp in json.dumps(doc)
    # What vCenter says, through govc.
    info, status = providers(v)
    assert info["ovh-kms"]["useAsDefault"] is True
    assert [(s["name"], s["address"], s["port"]) for s in info["ovh-kms"]["servers"]] == \
        [("kms-1", "127.0.0.1", port)]
    srv = status["ovh-kms"]["servers"][0]
    assert srv["status"] == "green" and srv["clientTrustServer"] and srv["serverTrustClient"]
    # vCenter's client certificate, for the KMS administrator.
    subj = subprocess.run(["openssl", "x509", "-in", out, "-noout", "-subject"],
                          capture_output=True, text=True)
    assert subj.returncode == 0 and "ovh-kms" in subj.stdout

    # A second run changes nothing and says so.
    calls = dict(h.stats()["calls"])
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "kms", "setup", "--config", cfg,
                        "--thumbprint", fp, "--client-cert-out", out],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing to change" in r.stdout
    after = h.stats()["calls"]
    for m in ("RegisterKmipServer", "UploadKmipServerCert", "GenerateSelfSignedClientCert",
              "UploadClientCert", "MarkDefault"):
        assert after.get(m, 0) == calls.get(m, 0), m
    # And the agent's own readiness check agrees.
    c = agent("check", "--config", cfg, "--json")
    assert c.returncode == 0, c.stdout + c.stderr


@pytest.mark.api
def test_bad_thumbprint_unreachable_kms_and_mismatch_change_nothing(bare, workdir):
    v = bare
    h = Harness(v)
    port = kms_endpoint(v, "kms-1")
    cfg = kms_cfg(v, port)

    r, doc = setup(cfg, "--thumbprint", "AB:" * 19 + "AB")
    assert r.returncode == 7, r.stdout + r.stderr
    assert doc["steps"][-1]["result"] == "failed"
    assert "not the one --thumbprint names" in doc["steps"][-1]["fix"]

    # No thumbprint and no terminal: the fix names the one to check.
    r, doc = setup(cfg)
    assert r.returncode == 1
    assert sha1(v.kms_certs["kms-1"]).replace(":", "") in doc["steps"][-1]["fix"]

    r, _ = setup(cfg, "--thumbprint", "nope")
    assert r.returncode == 2 and "40 hex digits" in r.stderr

    # Nothing listens there.
    dead = kms_cfg(v, 1)
    r, doc = setup(dead, "--thumbprint", "AB" * 20)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "127.0.0.1:1" in doc["steps"][-1]["fix"]
    assert providers(v)[0] == {}
    assert h.stats()["calls"].get("RegisterKmipServer", 0) == 0

    # vCenter has the server at another port: said, nothing changed.
    other = kms_endpoint(v, "kms-2")
    v.govc("kms.add", "-n", "kms-1", "-a", "127.0.0.1", "-p", str(other), "ovh-kms")
    r, doc = setup(cfg, "--thumbprint", sha1(v.kms_certs["kms-1"]))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"is 127.0.0.1:{other} in vCenter, 127.0.0.1:{port} in the configuration" in \
        doc["steps"][-1]["detail"]
    assert h.stats()["calls"].get("UploadKmipServerCert", 0) == 0

    # Configuration without <kms><server>: exit 3, said.
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "kms", "setup", "--config", v.config()],
                       capture_output=True, text=True,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 3 and "<kms cluster=" in r.stderr


@pytest.mark.api
def test_second_provider_made_default_with_given_client_cert(vcsim, workdir):
    v = with_kms(vcsim)                 # ovh-kms: the default
    h = Harness(v)
    port = kms_endpoint(v, "kms-b")
    cfg = kms_cfg(v, port, cluster="new-kms", name="kms-b")
    d = os.path.join(workdir, "client")
    os.makedirs(d)
    crt, key, _ = make_cert(d, cn="my-vcenter-client", days=30)
    os.chmod(key, 0o600)
    fp = sha1(v.kms_certs["kms-b"])
    r, doc = setup(cfg, "--thumbprint", fp, "--client-cert", crt, "--client-key", key)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(results(doc))
    assert got["default"] == "done" and got["kms-trusts-vcenter"] == "done"
    assert "was: ovh-kms" in [s for s in doc["steps"] if s["step"] == "default"][0]["detail"]
    info, status = providers(v)
    assert info["new-kms"]["useAsDefault"] is True
    assert not info["ovh-kms"].get("useAsDefault")
    assert h.stats()["calls"].get("UploadClientCert", 0) >= 1
    # The key never reaches the output.
    assert "PRIVATE KEY" not in r.stdout + r.stderr
    r, doc = setup(cfg, "--thumbprint", fp, "--client-cert", crt, "--client-key", key)
    assert r.returncode == 0 and doc["changes"] == 0, doc


@pytest.mark.api
def test_kms_that_does_not_trust_vcenter_is_explained(bare, workdir):
    """A KMS that asks for a client certificate signed by its own CA: the
    self-signed one vCenter generates is refused, the connection never
    becomes Normal, and the fix says what the KMS administrator must do."""
    v = bare
    crt, _, _, port = ca_kms(v, workdir, "strict-kms")
    cfg = kms_cfg(v, port, name="strict")
    r, doc = setup(cfg, "--thumbprint", sha1(crt), "--timeout", "4")
    assert r.returncode == 1, r.stdout + r.stderr
    last = doc["steps"][-1]
    assert last["step"] == "connection" and last["result"] == "failed"
    assert "KMS does not trust vCenter" in last["fix"]
    _, status = providers(v)
    assert status["ovh-kms"]["servers"][0]["status"] == "red"


@pytest.mark.api
def test_kms_trusts_vcenter_by_signing_vcenters_csr(bare, workdir):
    """The KMS trusts only certificates its CA signed (OVHcloud's KMS signs
    vCenter's CSR): kms setup --csr-out has vCenter generate a CSR
    (GenerateClientCsr) and writes it for the KMS admin, without waiting
    for a trust that cannot come yet; the CA signs it (openssl CLI);
    --signed-cert gives it back (UpdateKmsSignedCsrClientCert) and the
    connection is Normal, trusted both ways (govc kms.ls).  A certificate
    signed on another key is refused and changes nothing."""
    import time
    v = bare
    crt, ca, ca_key, port = ca_kms(v, workdir, "csr-kms")
    cfg = kms_cfg(v, port, name="csr")
    fp = sha1(crt)
    csr = os.path.join(workdir, "vcenter.csr")

    t0 = time.time()
    r, doc = setup(cfg, "--thumbprint", fp, "--csr-out", csr, "--timeout", "60")
    assert r.returncode == 1, r.stdout + r.stderr
    assert time.time() - t0 < 30                  # no wait for what cannot come yet
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["kms-trusts-vcenter"]["result"] == "done", steps
    assert "--signed-cert" in steps["kms-trusts-vcenter"]["fix"]
    assert steps["connection"]["result"] == "failed"
    assert csr in steps["connection"]["fix"] and "--signed-cert" in steps["connection"]["fix"]
    subprocess.run(["openssl", "req", "-in", csr, "-noout", "-verify"], check=True,
                   capture_output=True)
    # Again: the same request is kept, not a new one.
    first = open(csr).read()
    r, doc = setup(cfg, "--thumbprint", fp, "--csr-out", csr, "--timeout", "5")
    assert dict(results(doc))["kms-trusts-vcenter"] == "unchanged"
    assert open(csr).read().strip() == first.strip()

    # A certificate on another key: refused, nothing changes.
    other = os.path.join(workdir, "other")
    os.makedirs(other)
    ocrt, okey, _ = make_cert(other, cn="not-vcenter", days=30)
    wrong = os.path.join(workdir, "wrong.pem")
    subprocess.run(["openssl", "x509", "-x509toreq", "-in", ocrt, "-signkey", okey,
                    "-out", os.path.join(other, "o.csr")], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(other, "o.csr"), "-CA", ca,
                    "-CAkey", ca_key, "-set_serial", "7", "-days", "30", "-out", wrong],
                   check=True, capture_output=True)
    r, doc = setup(cfg, "--thumbprint", fp, "--signed-cert", wrong, "--timeout", "5")
    assert r.returncode != 0, r.stdout + r.stderr
    bad = dict((s["step"], s) for s in doc["steps"])["kms-trusts-vcenter"]
    assert bad["result"] == "failed" and "signature on the CSR" in bad["fix"], bad
    _, status = providers(v)
    assert status["ovh-kms"]["servers"][0]["status"] == "red"

    # The KMS admin signs vCenter's request; it goes back to vCenter.
    signed = os.path.join(workdir, "signed.pem")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-set_serial", "42", "-days", "30", "-out", signed],
                   check=True, capture_output=True)
    r, doc = setup(cfg, "--thumbprint", fp, "--signed-cert", signed)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(results(doc))
    assert got["kms-trusts-vcenter"] == "done" and got["connection"] == "unchanged", doc
    _, status = providers(v)
    srv = status["ovh-kms"]["servers"][0]
    assert srv["status"] == "green", srv
    assert srv.get("serverTrustClient") is True and srv.get("clientTrustServer") is True, srv
    r, doc = setup(cfg, "--thumbprint", fp, "--signed-cert", signed)
    assert r.returncode == 0 and doc["changes"] == 0, doc
    # One way at a time.
    r, _ = setup(cfg, "--csr-out", csr, "--signed-cert", signed, json_out=False)
    assert r.returncode == 2 and "one way" in r.stderr


@pytest.mark.api
def test_default_of_listed_compute_clusters(bare, workdir):
    """<kms><default-for path="/DC0/host/DC0_C0"/>: the provider becomes the
    default of that compute cluster (SetDefaultKmsCluster with an entity),
    and vCenter's global default stays what it was (govc kms.ls); a second
    run changes nothing; check passes; a path that is no cluster stops the
    run before anything is changed."""
    v = bare
    other_port = kms_endpoint(v, "kms-o")
    v.govc("kms.add", "-n", "kms-o", "-a", "127.0.0.1", "-p", str(other_port), "other-kms")
    info, _ = providers(v)
    assert info["other-kms"]["useAsDefault"] is True      # the first one added
    cluster = v.govc("find", "-i", "/DC0/host", "-type", "c", "-name", "DC0_C0").strip().split(":")[-1]
    port = kms_endpoint(v, "kms-1")
    fp = sha1(v.kms_certs["kms-1"])

    def cfg_for(path):
        return v.config(extra=f'  <kms cluster="ovh-kms"><server name="kms-1" '
                              f'address="127.0.0.1" port="{port}"/>'
                              f'<default-for path="{path}"/></kms>\n')

    # A path that is no cluster: nothing is changed, not even the provider.
    r, doc = setup(cfg_for("/DC0/host/DC0_H0/DC0_H0"), "--thumbprint", fp)
    assert r.returncode == 3, r.stdout + r.stderr
    assert doc["steps"][-1]["step"] == "default" and "default-for" in doc["steps"][-1]["detail"]
    r, doc = setup(cfg_for("/DC0/host/NOPE"), "--thumbprint", fp)
    assert r.returncode == 3 and "nothing is there" in doc["steps"][-1]["detail"], doc
    info, _ = providers(v)
    assert "ovh-kms" not in info

    cfg = cfg_for("/DC0/host/DC0_C0")
    r, doc = setup(cfg, "--thumbprint", fp, "--dry-run")
    assert dict(results(doc))["default"] == "would", doc
    r, doc = setup(cfg, "--thumbprint", fp)
    assert r.returncode == 0, r.stdout + r.stderr
    step = [x for x in doc["steps"] if x["step"] == "default"][0]
    assert step["result"] == "done" and cluster in step["detail"], step
    info, status = providers(v)
    ents = [e["value"] for e in info["ovh-kms"].get("useAsEntityDefault") or []]
    assert ents == [cluster], info["ovh-kms"]
    assert info["other-kms"]["useAsDefault"] is True       # untouched
    assert not info["ovh-kms"].get("useAsDefault")
    assert status["ovh-kms"]["servers"][0]["status"] == "green"
    r, doc = setup(cfg, "--thumbprint", fp)
    assert r.returncode == 0 and doc["changes"] == 0, doc
    c = agent("check", "--config", cfg, "--json")
    items = {i["id"]: i for i in json.loads(c.stdout)["checks"]}
    assert items["kms-default"]["result"] == "pass", items["kms-default"]
    assert "default key provider of 1 cluster" in items["kms-default"]["detail"]


@pytest.mark.api
def test_missing_privilege_is_named_and_nothing_is_half_applied(bare, workdir):
    """The account lacks Cryptographer.ManageKeyServers: vCenter refuses
    RegisterKmipServer with NoPermission.  kms setup stops there with one
    error naming the privilege and the account, exit 1, and vCenter has
    no new key provider (govc kms.ls)."""
    v = bare
    h = Harness(v)
    port = kms_endpoint(v, "kms-1")
    h.fault("RegisterKmipServer", "Permission to perform this operation was denied.",
            fault="NoPermission", privilege="Cryptographer.ManageKeyServers")
    r, doc = setup(kms_cfg(v, port), "--thumbprint", sha1(v.kms_certs["kms-1"]))
    assert r.returncode == 1, r.stdout + r.stderr
    last = doc["steps"][-1]
    assert last["step"] == "key-provider" and last["result"] == "failed", doc
    assert "NoPermission" in last["detail"] or "denied" in last["detail"], last
    assert "Cryptographer.ManageKeyServers" in last["fix"] and "svc-vmcrypt" in last["fix"]
    assert [s["step"] for s in doc["steps"]] == ["kms-certificate", "key-provider"]
    info, _ = providers(v)
    assert "ovh-kms" not in info
    h.clear_faults()


# ---------------------------------------------------------------------------
# `vmcrypt-agent setup`: the whole guide, against the test bed and the
# OVHcloud API fake (tests/ovhfake, every signature verified).

@pytest.mark.api
def test_setup_chains_the_guide_and_a_second_run_changes_nothing(bare, workdir):
    import test_ovh
    from test_ovh import AK, AS, CK, SVC, Fake
    v = bare
    v.govc("storage.policy.rm", "VM Encryption Policy")
    port = kms_endpoint(v, "kms-1")
    fp = sha1(v.kms_certs["kms-1"])
    cfg = kms_cfg(v, port)
    os.makedirs(os.path.join(workdir, "ovh"))
    fake = Fake(os.path.join(workdir, "ovh"))   # its own vc.crt, not the test bed's
    fake.setup()
    env = {k: val for k, val in os.environ.items() if not k.startswith("OVH_")}
    env.update(HOME=workdir, OVH_ENDPOINT=f"{fake.base}/1.0", OVH_APPLICATION_KEY=AK,
               OVH_APPLICATION_SECRET=AS, OVH_CONSUMER_KEY=CK, SSL_CERT_FILE=fake.crt,
               VMCRYPT_VC_PASSWORD=PASSWORD)

    def run(*args):
        return subprocess.run([os.environ["VMCRYPT_BIN"], "setup", "--config", cfg,
                               "--thumbprint", fp, "--ovh-service", SVC, *args],
                              capture_output=True, text=True, env=env, cwd=workdir,
                              stdin=subprocess.DEVNULL, timeout=600)
    try:
        r = run("--dry-run")
        assert r.returncode == 0, r.stdout + r.stderr
        for n in range(1, 6):
            assert f"== {n}. " in r.stdout
        assert providers(v)[0] == {}
        assert not fake.state()["services"][SVC].get("kms")
        assert AS not in r.stdout + r.stderr and PASSWORD not in r.stdout + r.stderr

        r = run()
        assert r.returncode == 0, r.stdout + r.stderr
        assert "setup done" in r.stdout
        # OVHcloud's side, through the fake's state; vCenter's, through govc.
        kms = fake.state()["services"][SVC]["kms"]
        assert [(k["ip"], k["sslThumbprint"]) for k in kms] == [("127.0.0.1", fp)]
        info, status = providers(v)
        assert info["ovh-kms"]["useAsDefault"] is True
        assert status["ovh-kms"]["servers"][0]["status"] == "green"
        pol = json.loads(v.govc("storage.policy.info", "-json", "VM Encryption Policy"))
        assert pol["policies"][0]["profile"]["name"] == "VM Encryption Policy"
        test_ovh.all_signed_and_verified(fake.requests())

        posts = [q for q in fake.requests() if q["method"] == "POST"]
        r = run()
        assert r.returncode == 0, r.stdout + r.stderr
        assert "nothing to change" in r.stdout
        assert [q for q in fake.requests() if q["method"] == "POST"] == posts
        assert AS not in r.stdout + r.stderr and PASSWORD not in r.stdout + r.stderr

        # The last step can prove the whole path: check --canary.
        r = run("--canary", "--power")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "== 5. " in r.stdout and "canary passed" in r.stdout
        assert v.govc("find", "/", "-type", "m", "-name", "vmcrypt-canary-*").strip() == ""
    finally:
        fake.stop()


def test_setup_stops_at_the_first_failure(bare, workdir):
    v = bare
    port = kms_endpoint(v, "kms-1")
    cfg = kms_cfg(v, port)
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "setup", "--config", cfg,
                        "--thumbprint", "AB" * 20], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 7, r.stdout + r.stderr
    assert "setup stopped at step 3" in r.stdout
    assert "== 4." not in r.stdout
    assert providers(v)[0] == {}


def test_setup_refuses_half_a_client_certificate_before_any_step(bare, workdir):
    """--client-cert without --client-key is kms setup's usage error; setup
    says so before its first step, so nothing is registered anywhere."""
    v = bare
    port = kms_endpoint(v, "kms-1")
    cfg = kms_cfg(v, port)
    d = os.path.join(workdir, "client")
    os.makedirs(d)
    crt, _, _ = make_cert(d, cn="client", days=30)
    before = Harness(v).stats()
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "setup", "--config", cfg,
                        "--thumbprint", "AB" * 20, "--client-cert", crt],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--client-cert and --client-key go together" in r.stderr
    assert "== 1." not in r.stdout
    assert Harness(v).stats() == before      # not even a login
    assert providers(v)[0] == {}
