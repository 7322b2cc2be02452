"""Keys the agent watches after it has encrypted (issue #24, points 3 and
4): a key vCenter can no longer serve (QueryCryptoKeyStatus), and vCenter's
crypto events.  Scenarios are set up with govc and the test bed's
/harness/ controls (a key made unavailable: /harness/key-status; an event
about a VM: /harness/event?vm=), and checked from outside the agent: govc,
/metrics parsed by the Prometheus client's parser, and the test bed's own
count of the calls it served (/harness/stats)."""
import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (POLICY, TASK_DELAY_S, Agent, Harness, agent, compliant, create,
                      moref, vm_state, wait_until)


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def vms_in(port, state):
    return metrics(port).get(("vmcrypt_vms", (("state", state),)), 0)


def key_status(v, key, available, reason=None):
    """What vCenter will say of key (QueryCryptoKeyStatus, bit 0x01)."""
    q = {"key": key, "available": "true" if available else "false"}
    if reason:
        q["reason"] = reason
    Harness(v)._req("POST", "/harness/key-status?" + urllib.parse.urlencode(q))


def calls(v, method):
    return Harness(v).stats()["calls"].get(method, 0)


def inventory(v, cfg):
    r = agent("inventory", "--config", cfg, "--json")
    assert r.returncode == 0, r.stderr
    return {x["name"]: x for x in json.loads(r.stdout)["vms"]}


def report(v, cfg, workdir):
    out = os.path.join(workdir, f"report-{time.monotonic_ns()}.json")
    r = agent("report", "--config", cfg, "--format", "json", "--output", out)
    assert r.returncode == 0, r.stderr
    return {x["name"]: x for x in json.load(open(out))["vms"]}


def encrypted_pair(v, h, workdir, cfg):
    """km-1 and km-2 created and encrypted by a reconcile pass; km-1's key."""
    create(v, "km-1", "-version", "vmx-15")
    create(v, "km-2", "-version", "vmx-15")
    r = agent("reconcile", "--config", cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert compliant(v, h, "km-1") and compliant(v, h, "km-2")
    return vm_state(v, "km-1")["key"]["keyId"]


def test_unavailable_key_is_key_missing_within_one_scan_and_nothing_acts(testbed, workdir):
    v = testbed()
    h = Harness(v)
    cfg = v.config()
    key = encrypted_pair(v, h, workdir, cfg)
    ref = moref(v, "km-1")
    a = Agent(cfg, workdir)
    try:
        port = v.metrics_port
        wait_until(lambda: vms_in(port, "compliant") >= 2, 10, "the first scan's metrics")
        assert vms_in(port, "key-missing") == 0

        # The key is gone from the KMS: the next scan (SIGHUP reconciles)
        # finds it.
        key_status(v, key, False, "KeyStateMissingInKMS")
        asked = calls(v, "QueryCryptoKeyStatus")
        a.p.send_signal(signal.SIGHUP)
        wait_until(lambda: vms_in(port, "key-missing") == 1, 10, "km-1 key-missing")
        # One call for every key of the scan, not one per VM.
        assert calls(v, "QueryCryptoKeyStatus") == asked + 1
        assert "VM km-1 (%s): key-missing: key %s not available to vCenter: missing " \
               "on the KMS (KeyStateMissingInKMS)" % (ref, key) in a.text()
        wait_until(lambda: "vmcrypt-agent: key-missing" in v.govc("events", "vm/km-1"), 5,
                   "the audit event on km-1")

        # It needs something now (Encrypted vMotion set back): still nothing
        # is sent to it.  The event makes the agent look (one more key
        # status), and the look decides key-missing again.
        before = h.stats()["reconfigs"][ref]
        asked = calls(v, "QueryCryptoKeyStatus")
        v.govc("vm.change", "-vm", "km-1", "-migrate-encryption", "opportunistic")
        wait_until(lambda: calls(v, "QueryCryptoKeyStatus") > asked, 10,
                   "the agent to look at km-1 again")
        time.sleep(1 + TASK_DELAY_S)
        assert h.stats()["reconfigs"][ref] == before
        assert vm_state(v, "km-1")["migrate"] == "opportunistic"
        assert vms_in(port, "key-missing") == 1
        # Said once in vCenter, however many looks.
        assert v.govc("events", "vm/km-1").count("vmcrypt-agent: key-missing") == 1

        # Every view says so: inventory, the report.
        vms = inventory(v, cfg)
        assert vms["km-1"]["state"] == "key-missing", vms["km-1"]
        assert vms["km-1"]["keyAvailable"] is False
        assert vms["km-1"]["keyUnavailableReason"] == "KeyStateMissingInKMS"
        assert "missing on the KMS" in vms["km-1"]["reason"]
        assert vms["km-2"]["state"] == "compliant" and vms["km-2"]["keyAvailable"] is True
        rep = report(v, cfg, workdir)
        assert rep["km-1"]["state"] == "key-missing"
        assert rep["km-2"]["state"] == "compliant"

        # The key is back: the next scan clears the state, and the drift is
        # fixed (one reconfigure, the same key).
        key_status(v, key, True)
        a.p.send_signal(signal.SIGHUP)
        wait_until(lambda: vm_state(v, "km-1").get("migrate") == "required",
                   10 + TASK_DELAY_S, "km-1 Encrypted vMotion required again")
        wait_until(lambda: vms_in(port, "key-missing") == 0, 10, "key-missing cleared")
        assert h.stats()["reconfigs"][ref] == before + 1
        assert vm_state(v, "km-1")["key"]["keyId"] == key
        assert "VM km-1 (%s): its keys are available again" % ref in a.text()
    finally:
        a.stop()


def test_reconcile_and_check_count_a_missing_key(testbed, workdir):
    v = testbed()
    h = Harness(v)
    cfg = v.config()
    key = encrypted_pair(v, h, workdir, cfg)
    ref = moref(v, "km-1")
    r = agent("check", "--config", cfg, "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0, r.stdout
    assert rep["key_missing_vms"] == 0
    c = {x["id"]: x for x in rep["checks"]}
    assert c["key-availability"]["result"] == "pass"

    key_status(v, key, False, "KeyStateNotActiveOrEnabled")
    v.govc("vm.change", "-vm", "km-1", "-migrate-encryption", "opportunistic")
    before = h.stats()["reconfigs"][ref]
    # reconcile: not compliant (exit 1), and km-1 left alone.
    r = agent("reconcile", "--config", cfg, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    vms = {x["name"]: x for x in json.loads(r.stdout)["vms"]}
    assert vms["km-1"]["state"] == "key-missing"
    assert "not active or not enabled on the KMS (KeyStateNotActiveOrEnabled)" in \
        vms["km-1"]["reason"]
    assert vms["km-2"]["state"] == "compliant"
    assert h.stats()["reconfigs"][ref] == before
    assert vm_state(v, "km-1")["migrate"] == "opportunistic"

    # check: a line and a field; a warning, not a failure (the agent works).
    r = agent("check", "--config", cfg, "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0, r.stdout
    assert rep["key_missing_vms"] == 1
    c = {x["id"]: x for x in rep["checks"]}
    assert c["key-availability"]["result"] == "warn"
    assert "km-1 (not active or not enabled on the KMS)" in c["key-availability"]["detail"]
    r = agent("check", "--config", cfg)
    assert "WARN  Keys of the encrypted VMs (QueryCryptoKeyStatus): 1 of " in r.stdout

    key_status(v, key, True)
    r = agent("reconcile", "--config", cfg, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert vm_state(v, "km-1")["migrate"] == "required"
    assert h.stats()["reconfigs"][ref] == before + 1


def test_key_status_needs_api_6_7_2(testbed, workdir):
    """On API 6.7 (before 6.7.2) nothing is asked: said once, and check
    says it skipped."""
    v = testbed(args=("-api-version", "6.7"))
    h = Harness(v)
    cfg = v.config()
    create(v, "old-1", "-version", "vmx-14")
    r = agent("reconcile", "--config", cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert compliant(v, h, "old-1")
    assert calls(v, "QueryCryptoKeyStatus") == 0
    assert r.stderr.count("key availability (QueryCryptoKeyStatus, API 6.7.2 and later) "
                          "is not checked") == 1
    r = agent("check", "--config", cfg, "--json")
    rep = json.loads(r.stdout)
    assert rep["key_missing_vms"] is None
    c = {x["id"]: x for x in rep["checks"]}
    assert c["key-availability"]["result"] == "skip"
    assert "needs vSphere API 6.7.2" in c["key-availability"]["detail"]
    assert calls(v, "QueryCryptoKeyStatus") == 0


# ---------------------------------------------------------------------
# vCenter's crypto events (issue #24, point 4): each changes a state or
# raises an alert within the batch it arrives in (no scan in between: the
# reconcile interval is an hour).

VM_ALERTS = ["com.vmware.vc.vm.crypto.RekeyFail",
             "com.vmware.vc.vm.crypto.DiskchainUsingMixedKeys",
             "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnHost",
             "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnKMS",
             "com.vmware.vc.vm.Crypto.VMLocked.KMSClusterError"]
KMS_ALERTS = ["com.vmware.vc.kms.crypto.NotBackedUp",
              "com.vmware.vc.kms.crypto.NotBackedUpAfterUpdate"]


def post_event(v, type_id, message, vm=None):
    q = {"type": type_id, "message": message}
    if vm:
        q["vm"] = vm
    Harness(v)._req("POST", "/harness/event?" + urllib.parse.urlencode(q))


def alerts(port, type_id):
    return metrics(port).get(("vmcrypt_crypto_events_total", (("type", type_id),)))


@pytest.fixture
def watched(testbed, workdir):
    """ev-1 encrypted, and the agent running: (test bed, agent, ev-1's key)."""
    v = testbed()
    h = Harness(v)
    cfg = v.config()
    create(v, "ev-1", "-version", "vmx-15")
    r = agent("reconcile", "--config", cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert compliant(v, h, "ev-1")
    a = Agent(cfg, workdir)
    wait_until(lambda: vms_in(v.metrics_port, "compliant") >= 1, 10, "the first scan")
    try:
        yield v, a, vm_state(v, "ev-1")["key"]["keyId"]
    finally:
        a.stop()


@pytest.mark.parametrize("type_id", VM_ALERTS)
def test_vm_crypto_event_looks_at_the_vm_and_alerts(watched, type_id):
    v, a, key = watched
    port = v.metrics_port
    ref = moref(v, "ev-1")
    assert alerts(port, type_id) == 0
    missing = type_id.endswith("KeyMissingOnKMS")
    if missing:
        # vCenter says so because the key is gone: the look finds it.
        key_status(v, key, False, "KeyStateMissingInKMS")
    looked, kms = calls(v, "QueryCryptoKeyStatus"), calls(v, "RetrieveKmipServersStatus_Task")
    post_event(v, type_id, "test: " + type_id.rsplit(".", 1)[-1], vm="ev-1")
    wait_until(lambda: alerts(port, type_id) == 1, 10, "the alert counted")
    a.wait_log(f"alert: vCenter reports {type_id} on VM ev-1 ({ref})", 5)
    # The VM is looked at now: its key status asked again.
    wait_until(lambda: calls(v, "QueryCryptoKeyStatus") > looked, 10, "ev-1 looked at")
    if missing:
        wait_until(lambda: vms_in(port, "key-missing") == 1, 10, "ev-1 key-missing")
        assert "missing on the KMS" in a.text()
    else:
        time.sleep(0.5)
        assert vms_in(port, "key-missing") == 0
    if type_id.endswith("KMSClusterError"):
        wait_until(lambda: calls(v, "RetrieveKmipServersStatus_Task") > kms, 10,
                   "the KMS checked now")
    # Nothing is reconfigured for an alert.
    assert Harness(v).stats()["reconfigs"][ref] == 1


@pytest.mark.parametrize("type_id", KMS_ALERTS)
def test_kms_backup_event_alerts_and_checks_the_kms(watched, type_id):
    v, a, _ = watched
    port = v.metrics_port
    kms = calls(v, "RetrieveKmipServersStatus_Task")
    post_event(v, type_id, "Native Key Provider backup needed")
    wait_until(lambda: alerts(port, type_id) == 1, 10, "the alert counted")
    a.wait_log(f"alert: vCenter reports {type_id}: Native Key Provider backup needed: ", 5)
    wait_until(lambda: calls(v, "RetrieveKmipServersStatus_Task") > kms, 10,
               "the KMS checked now")
    others = [t for t in VM_ALERTS + KMS_ALERTS if t != type_id]
    assert all(alerts(port, t) == 0 for t in others)



# ---------------------------------------------------------------------
# A vTPM encrypts VM home only: its disks plain is its own state, and the
# agent encrypts them (vtpm-disks="encrypt", the default) or reports it.

def make_vtpm_only(v, name):
    """name gets a vTPM the way the vSphere Client adds one: VM home
    encrypted with a key of the default provider, a VirtualTPM device; the
    disks stay plain.  By pyvmomi, not the agent; returns the key id."""
    import ssl
    from pyVim.connect import Disconnect, SmartConnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim
    from conftest import PASSWORD, USER
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    si = SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD,
                      sslContext=ssl.create_default_context(cafile=v.crt))
    try:
        view = si.content.viewManager.CreateContainerView(si.content.rootFolder,
                                                          [vim.VirtualMachine], True)
        vmo = next(x for x in view.view if x.name == name)
        view.Destroy()
        # A key of the default provider, generated by vCenter for the
        # reconfigure (providerId named, keyId empty).
        enc = vim.encryption.CryptoSpecEncrypt(cryptoKeyId=vim.encryption.CryptoKeyId(
            keyId="", providerId=vim.encryption.KeyProviderId(id="ovh-kms")))
        spec = vim.vm.ConfigSpec(crypto=enc, deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", device=vim.vm.device.VirtualTPM(key=-1))])
        WaitForTask(vmo.ReconfigVM_Task(spec))
    finally:
        Disconnect(si)
    # pyvmomi leaves out xsi:type on a deviceChange of its declared type,
    # which vCenter accepts and the test bed's checker does not (README:
    # "stricter than needed"); that finding is pyvmomi's, not the agent's
    # (which has not run yet): checked to be only that, then forgotten.
    h = Harness(v)
    found = h._req("GET", "/harness/violations")["violations"]
    assert all(x["client"] == "other" and x["path"] == "ReconfigVM_Task/spec/deviceChange"
               for x in found), found
    h._req("DELETE", "/harness/violations")
    return vm_state(v, name)["key"]["keyId"]


def has_vtpm(v, name):
    """govc's own device list (type names) has a VirtualTPM."""
    return "VirtualTPM" in v.govc("device.ls", "-vm", name)


def test_vtpm_only_vm_is_its_own_state_then_its_disks_encrypted(testbed, workdir):
    v = testbed()
    h = Harness(v)
    create(v, "tpm-1", "-version", "vmx-15")
    key = make_vtpm_only(v, "tpm-1")
    ref = moref(v, "tpm-1")
    s = vm_state(v, "tpm-1")
    assert s["key"]["keyId"] == key and s["disks"] and not any(d["keyId"] for d in s["disks"])
    assert has_vtpm(v, "tpm-1")
    before = h.stats()["reconfigs"].get(ref, 0)

    # Reported only (vtpm-disks="report"): its own state, not compliant;
    # Encrypted vMotion is still set, the disks stay plain.
    rep_cfg = v.config(extra='  <enforce vtpm-disks="report"/>\n')
    vms = inventory(v, rep_cfg)
    assert vms["tpm-1"]["state"] == "vtpm-only", vms["tpm-1"]
    assert vms["tpm-1"]["vtpm"] is True
    assert "vTPM: VM home encrypted, its disk plain" in vms["tpm-1"]["reason"]
    r = agent("reconcile", "--config", rep_cfg, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    vms = {x["name"]: x for x in json.loads(r.stdout)["vms"]}
    assert vms["tpm-1"]["state"] == "vtpm-only"
    s = vm_state(v, "tpm-1")
    assert s["migrate"] == "required"
    assert not any(d["keyId"] for d in s["disks"])
    assert h.stats()["reconfigs"][ref] == before + 1

    # The default: its disks encrypted with the VM's own key, as for any VM.
    cfg = v.config()
    r = agent("reconcile", "--config", cfg, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    s = vm_state(v, "tpm-1")
    assert s["key"]["keyId"] == key
    assert all(d["keyId"]["keyId"] == key for d in s["disks"])
    assert all(h.profile(f"{ref}:{d['key']}") == POLICY for d in s["disks"])
    assert s["migrate"] == "required" and has_vtpm(v, "tpm-1")
    assert h.stats()["reconfigs"][ref] == before + 2
    vms = inventory(v, cfg)
    assert vms["tpm-1"]["state"] == "compliant" and vms["tpm-1"]["vtpm"] is True
