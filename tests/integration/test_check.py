"""`vmcrypt-agent check` and the running agent's KMS health, against vcsim.

Each scenario is set up with govc (key providers, default, storage policies)
or the vcsimd front (what vcsim cannot be made to say by a client: a KMS
status other than green, a denied privilege, a KMS alarm event), and the
agent's verdict is read from its --json output or its log."""
import json
import time

import pytest

from conftest import (API, PASSWORD, Agent, Harness, agent, create, kms_endpoint, kms_trust,
                      vm_state, vtuple, wait_until, with_kms)

@pytest.fixture
def vc8(testbed):
    """A vCenter of API 7.0 or newer: the API version under test (8.0.3.0,
    and 7.0.3.0 and 9.0.0.0 in make check's API runs)."""
    return testbed(kms=False)


def check(v, extra="", tls=None):
    r = agent("check", "--config", v.config(extra=extra, tls=tls), "--json")
    assert PASSWORD not in r.stdout + r.stderr
    rep = json.loads(r.stdout)
    return r.returncode, rep, {c["id"]: c for c in rep["checks"]}


@pytest.mark.api
def test_no_kms_fails_naming_it(vc8):
    rc, rep, c = check(vc8)
    assert rc == 1 and rep["ok"] is False
    assert c["vcenter"]["result"] == "pass"
    assert c["kms-providers"]["result"] == "fail"
    assert "no key provider" in c["kms-providers"]["detail"]
    assert "Add Standard Key Provider" in c["kms-providers"]["fix"]
    assert "vmcrypt-agent kms setup" in c["kms-providers"]["fix"]
    # With the KMS named in the configuration, the fix names it.
    rc, rep, c = check(vc8, extra='  <kms cluster="ovh-kms"><server name="kms-1" '
                       'address="192.0.2.5" port="5696"/></kms>\n')
    assert rc == 1
    assert "`vmcrypt-agent kms setup` to add 'ovh-kms' (192.0.2.5:5696)" in \
        c["kms-providers"]["fix"]



@pytest.mark.api
def test_no_kms_fix_names_the_configured_provider_without_server(vc8):
    """Issue #25 point 6: a provider named with no server for it: the fix
    names that provider (and the file), not "name the KMS in FILE"."""
    cfg = vc8.config(extra='  <kms cluster="ovh-kms"/>\n')
    r = agent("check", "--config", cfg, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    fix = {c["id"]: c for c in json.loads(r.stdout)["checks"]}["kms-providers"]["fix"]
    assert f"add the key provider 'ovh-kms' that {cfg} names" in fix, fix
    assert "Add Standard Key Provider, name 'ovh-kms'" in fix, fix
    assert "name the KMS in" not in fix, fix
    text = agent("check", "--config", cfg)
    assert "add the key provider 'ovh-kms'" in text.stdout + text.stderr


@pytest.mark.api
def test_no_default_then_default_then_passes(vc8):
    port = kms_endpoint(vc8)
    vc8.govc("kms.add", "-n", "kms-1", "-a", "127.0.0.1", "-p", str(port), "ovh-kms")
    kms_trust(vc8)
    # The first key provider added is vCenter's default; an admin can
    # clear it (govc kms.default -), which is the state checked here.
    rc, rep, c = check(vc8)
    assert c["kms-default"]["result"] == "pass", rep
    vc8.govc("kms.default", "-")
    rc, rep, c = check(vc8)
    assert rc == 1
    assert c["kms-providers"]["result"] == "pass"
    assert "ovh-kms" in c["kms-providers"]["detail"]
    assert c["kms-default"]["result"] == "fail"
    assert "no default key provider" in c["kms-default"]["detail"]
    assert "GetDefaultKmsCluster" in c["kms-default"]["detail"]   # API 8: asked
    assert "vmcrypt-agent kms setup" in c["kms-default"]["fix"]

    vc8.govc("kms.default", "ovh-kms")
    rc, rep, c = check(vc8, extra='  <kms cluster="ovh-kms"><server name="kms-1" '
                       f'address="127.0.0.1" port="{port}"/></kms>\n')
    assert rc == 0, rep
    assert rep["ok"] is True and rep["kms_usable"] is True
    assert rep["key_provider"] == "ovh-kms"
    assert {x["result"] for x in rep["checks"] if x["id"] != "wrapping-key"} == {"pass"}
    assert set(c) == {"vcenter", "vcenter-type", "api-version", "crypto-manager",
                      "kms-providers", "kms-expected", "kms-default", "kms-health",
                      "encryption-policy", "privileges", "key-availability", "wrapping-key"}
    # Shown from vSphere 9.0 (test_wrapping.py), said unavailable before.
    assert c["wrapping-key"]["result"] == ("pass" if vtuple(API) >= vtuple("9.0.0.0")
                                           else "skip")
    assert "green" in c["kms-health"]["detail"]


def test_old_api_uses_use_as_default_and_ft_needs_702(testbed):
    v = testbed(args=("-api-version", "6.5"))
    rc, rep, c = check(v)
    assert rc == 0, rep
    assert "useAsDefault" in c["kms-default"]["detail"]
    rc, rep, c = check(v, extra='  <enforce ft-encryption="required"/>\n')
    assert rc == 1
    assert c["api-version"]["result"] == "fail"
    assert "7.0.2" in c["api-version"]["detail"]


@pytest.mark.api
def test_wrong_expected_cluster_and_members(vc8):
    with_kms(vc8)
    spare = kms_endpoint(vc8, "kms-9")
    vc8.govc("kms.add", "-n", "kms-9", "-a", "127.0.0.1", "-p", str(spare), "spare")
    kms_trust(vc8, "spare", "kms-9")
    rc, rep, c = check(vc8, extra='  <kms cluster="other-kms"/>\n')
    assert rc == 1
    assert c["kms-expected"]["result"] == "fail"
    assert "'other-kms'" in c["kms-expected"]["detail"]
    assert "ovh-kms" in c["kms-expected"]["detail"] and "spare" in c["kms-expected"]["detail"]
    assert rep["kms_usable"] is False

    # The right provider, but not the default.
    rc, rep, c = check(vc8, extra='  <kms cluster="spare"/>\n')
    assert rc == 1
    assert "the default is 'ovh-kms', the configuration expects 'spare'" in \
        c["kms-default"]["detail"]
    rc, rep, c = check(vc8, extra='  <kms cluster="spare" require-default="false"/>\n')
    assert rc == 0, rep

    # A member at another address.
    rc, rep, c = check(vc8, extra='  <kms cluster="ovh-kms"><server name="kms-1" '
                       'address="192.0.2.10"/></kms>\n')
    assert rc == 1
    assert f"kms-1 is 127.0.0.1:{vc8.kms_port}, expected 192.0.2.10:5696" in \
        c["kms-expected"]["detail"]


def test_native_key_provider_default_reported(vc8):
    vc8.govc("kms.add", "-N", "nkp")
    vc8.govc("kms.default", "nkp")
    rc, rep, c = check(vc8)
    assert rc == 1
    assert c["kms-default"]["result"] == "fail"
    assert "native key provider" in c["kms-default"]["detail"]
    assert c["kms-health"]["result"] == "skip"


def test_encryption_policy_missing_fails(vc8):
    with_kms(vc8)
    vc8.govc("storage.policy.rm", "VM Encryption Policy")
    rc, rep, c = check(vc8)
    assert rc == 1
    assert c["encryption-policy"]["result"] == "fail"
    assert "not found" in c["encryption-policy"]["detail"]
    assert rep["kms_usable"] is True      # the KMS is fine; the policy is not


@pytest.mark.api
def test_kms_health_trust_and_certificates(vc8):
    with_kms(vc8)
    h = Harness(vc8)
    h.kms_status("ovh-kms", overall="red", status="red",
                 connection="Cannot establish trust", clientTrustServer=False)
    rc, rep, c = check(vc8)
    assert rc == 1 and rep["kms_usable"] is False
    d = c["kms-health"]["detail"]
    assert "overall red" in d and "Cannot establish trust" in d
    assert "vCenter does not trust kms-1's certificate" in d
    assert "Make vCenter Trust KMS" in c["kms-health"]["fix"]

    h.kms_status("ovh-kms", overall="green", status="green", serverTrustClient=False)
    rc, rep, c = check(vc8)
    assert rc == 1
    assert "kms-1 does not trust vCenter's client certificate" in c["kms-health"]["detail"]

    # Expiring in 10 days: a warning, still ready.  Expired: not usable.
    h.kms_status("ovh-kms", overall="green", status="green", certExpireIn=10 * 86400)
    rc, rep, c = check(vc8)
    assert rc == 0, rep
    assert c["kms-health"]["result"] == "warn"
    assert "kms-1 certificate expires in" in c["kms-health"]["detail"]
    h.kms_status("ovh-kms", overall="green", status="green", certExpireIn=-3600)
    rc, rep, c = check(vc8)
    assert rc == 1
    assert "kms-1 certificate expired" in c["kms-health"]["detail"]


def test_missing_privileges_named(vc8):
    with_kms(vc8)
    h = Harness(vc8)
    h.deny_privilege("Cryptographer.Encrypt")
    h.deny_privilege("StorageProfile.Apply")
    rc, rep, c = check(vc8)
    assert rc == 1
    d = c["privileges"]["detail"]
    assert "Cryptographer.Encrypt" in d and "StorageProfile.Apply" in d
    assert "Cryptographer.ManageKeys" not in d
    assert rep["kms_usable"] is True


def test_standalone_esxi_reported(testbed):
    v = testbed(args=("-esx",), kms=False)
    rc, rep, c = check(v)
    assert rc == 1
    assert c["vcenter-type"]["result"] == "fail"
    assert "standalone ESXi host" in c["vcenter-type"]["detail"]
    assert "HostAgent" in c["vcenter-type"]["detail"]
    assert "kms-providers" not in c


def test_unreachable_and_bad_login(vc8):
    r = agent("check", "--config", vc8.config(), "--json", password="wrong")
    assert r.returncode == 5
    c = json.loads(r.stdout)["checks"]
    assert len(c) == 1 and c[0]["id"] == "vcenter" and c[0]["result"] == "fail"
    assert "login failed" in c[0]["detail"] and "wrong" not in r.stdout
    r = agent("check", "--config", vc8.config(tls='<tls thumbprint="' + "AB:" * 19 + 'AB"/>'))
    assert r.returncode == 4
    assert "FAIL  vCenter reachable and logged in" in r.stdout
    assert "fix:" in r.stdout


@pytest.mark.api
def test_text_report_and_help(vc8):
    with_kms(vc8)
    r = agent("check", "--config", vc8.config())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  PASS  Default key provider: ovh-kms (GetDefaultKmsCluster)" in r.stdout
    assert r.stdout.rstrip().endswith("ready: 0 of 12 checks failed")   # #24: key-availability, wrapping-key rotation
    r = agent("check", "--help")
    assert r.returncode == 0 and "usage: vmcrypt-agent check" in r.stdout
    assert agent("check", "extra-arg").returncode == 2


# ---------------------------------------------------------------------------
# The running agent: KMS health before and while it enforces.

KMS_CFG = '  <kms cluster="ovh-kms" health-interval="{}"/>\n'


@pytest.mark.api
def test_unhealthy_kms_pauses_encryption_until_it_recovers(vc8, workdir):
    with_kms(vc8)
    h = Harness(vc8)
    h.kms_status("ovh-kms", overall="red", status="red", connection="KMS unreachable")
    a = Agent(vc8.config(extra=KMS_CFG.format(10)), workdir)
    try:
        assert "KMS health: ovh-kms: overall red" in a.text()
        assert "encryption paused until it recovers" in a.text()
        before = h.stats()["calls"].get("GenerateKey", 0)
        create(vc8, "paused-1", "-version", "vmx-13")
        # Encrypted vMotion is still set; no key is asked for, nothing encrypted.
        wait_until(lambda: vm_state(vc8, "paused-1").get("migrate") == "required", 10,
                   "required vMotion on paused-1")
        # Time passes on purpose: for 1 s no key is asked for, nothing is
        # encrypted (no event to wait for: the point is that none comes).
        time.sleep(1)
        assert not vm_state(vc8, "paused-1").get("key")
        assert h.stats()["calls"].get("GenerateKey", 0) == before
        # Recovery is seen by the next timed check (10 s) and resumes.
        h.clear_kms_status()
        a.wait_log("KMS health: key provider ovh-kms is usable again", timeout=25)
        wait_until(lambda: bool(vm_state(vc8, "paused-1").get("key")), 10,
                   "paused-1 encrypted after recovery")
    finally:
        a.stop()


@pytest.mark.api
def test_kms_event_triggers_a_check_at_once(vc8, workdir):
    with_kms(vc8)
    h = Harness(vc8)
    a = Agent(vc8.config(extra=KMS_CFG.format(86400)), workdir)   # timer: a day
    try:
        assert "KMS health: key provider ovh-kms usable" in a.text()
        h.kms_status("ovh-kms", overall="red", status="red", connection="Connection refused")
        h.event("com.vmware.vc.kms.crypto.Unreachable", "Key Management Server kms-1 is unreachable")
        a.wait_log("vCenter reports com.vmware.vc.kms.crypto.Unreachable", timeout=10)
        a.wait_log("KMS health: ovh-kms: overall red", timeout=10)
        create(vc8, "held-1", "-version", "vmx-13")
        wait_until(lambda: vm_state(vc8, "held-1").get("migrate") == "required", 10,
                   "required vMotion on held-1")
        assert not vm_state(vc8, "held-1").get("key")
        h.clear_kms_status()
        h.event("com.vmware.vc.kms.crypto.KeyGenerateFail", "Key creation failed")
        a.wait_log("key provider ovh-kms is usable again", timeout=10)
        wait_until(lambda: bool(vm_state(vc8, "held-1").get("key")), 10, "held-1 encrypted")
    finally:
        a.stop()
