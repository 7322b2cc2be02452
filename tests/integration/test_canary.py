"""`vmcrypt-agent check --canary`: the whole path proven on a throwaway VM,
and nothing left behind.  Every result is read from outside the agent: govc
(the VMs and custom attributes that exist), the test bed's per-method call
counts, and the SOAP trace files the run names."""
import json
import os
import signal
import subprocess

import pytest

from conftest import PASSWORD, Agent, Harness, create, wait_until

STEPS = ["leftovers", "placement", "privileges", "policy", "create", "encrypt",
         "verify", "power", "delete"]


def start(cfg, *args):
    return subprocess.Popen([os.environ["VMCRYPT_BIN"], "check", "--config", cfg,
                             "--canary", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})


def canary(cfg, *args, timeout=300):
    p = start(cfg, *args)
    out, err = p.communicate(timeout=timeout)
    doc = json.loads(out) if "--json" in args and out.strip() else None
    return p.returncode, out, err, doc


def canaries(v):
    """The canary VMs that exist, by govc."""
    out = v.govc("find", "/", "-type", "m", "-name", "vmcrypt-canary-*")
    return [line for line in out.splitlines() if line.strip()]


def canary_field(v):
    return [line for line in v.govc("fields.ls").splitlines() if "vmcrypt.canary" in line]


def nothing_left(v):
    assert canaries(v) == [], "a canary VM is left"
    assert canary_field(v) == [], "the vmcrypt.canary attribute is left"


def trace_clean(path, call="CreateVM_Task"):
    """The trace exists, holds the canary's calls (call among them), and no
    secret."""
    files = os.listdir(path)
    assert any(call in f for f in files), files
    for f in files:
        text = open(os.path.join(path, f), errors="replace").read()
        assert PASSWORD not in text, f
        for line in text.splitlines():
            if line.lower().startswith("cookie:") or line.lower().startswith("set-cookie:"):
                assert "[redacted]" in line, (f, line)
    return files


@pytest.fixture
def bed(testbed):
    return testbed()


@pytest.mark.api
def test_canary_proves_the_path_and_leaves_nothing(bed):
    v = bed
    before = Harness(v).stats()["calls"]
    rc, out, err, doc = canary(v.config(), "--power", "--json")
    assert rc == 0, out + err
    c = doc["canary"]
    assert c["ok"] is True
    assert [s["step"] for s in c["steps"]] == STEPS
    assert all(s["result"] in ("done", "unchanged") for s in c["steps"]), c["steps"]
    assert all(isinstance(s["seconds"], float) and s["seconds"] >= 0 for s in c["steps"])
    assert c["keys_generated"] == 1 and c["key_provider"] == "ovh-kms"
    verify = next(s for s in c["steps"] if s["step"] == "verify")["detail"]
    assert "VM home and 1 disk encrypted" in verify and "required" in verify
    # The test bed saw one VM made, encrypted, powered on and off, destroyed.
    calls = Harness(v).stats()["calls"]
    for m in ("CreateVM_Task", "ReconfigVM_Task", "PowerOnVM_Task", "PowerOffVM_Task",
              "Destroy_Task", "GenerateKey"):
        assert calls.get(m, 0) - before.get(m, 0) == 1, (m, calls)
    nothing_left(v)
    trace_clean(c["trace"])


def test_canary_text_times_every_step(bed):
    v = bed
    rc, out, err, _ = canary(v.config())
    assert rc == 0, out + err
    for step in STEPS:
        if step == "power":
            continue
        assert any(line.split()[1:2] == [step] and line.split()[2].replace(".", "").isdigit()
                   for line in out.splitlines() if len(line.split()) > 3), (step, out)
    assert "canary passed" in out and "keys generated: 1" in out
    nothing_left(v)


def test_canary_missing_privilege_creates_nothing(bed):
    v = bed
    Harness(v).deny_privilege("VirtualMachine.Inventory.Create")
    before = Harness(v).stats()["calls"]
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 12, out + err
    priv = next(s for s in doc["canary"]["steps"] if s["step"] == "privileges")
    assert priv["result"] == "failed"
    assert "VirtualMachine.Inventory.Create on /DC0/vm" in priv["detail"]
    assert "svc-vmcrypt" in priv["fix"] and "nothing was created" in priv["fix"]
    assert Harness(v).stats()["calls"].get("CreateVM_Task", 0) == before.get("CreateVM_Task", 0)
    nothing_left(v)
    trace_clean(doc["canary"]["trace"], "HasPrivilegeOnEntity")


def test_canary_refused_by_vcenter_names_the_privilege(bed):
    """HasPrivilegeOnEntity said yes, the call said NoPermission (a role
    changed in between): the privilege vCenter named, exit 12."""
    v = bed
    Harness(v).fault("ReconfigVM_Task", "Permission to perform this operation was denied.",
                     fault="NoPermission", privilege="Cryptographer.Encrypt")
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 12, out + err
    enc = next(s for s in doc["canary"]["steps"] if s["step"] == "encrypt")
    assert enc["result"] == "failed" and "Cryptographer.Encrypt" in enc["fix"]
    assert doc["canary"]["keys_generated"] == 1
    nothing_left(v)
    trace_clean(doc["canary"]["trace"])


def test_canary_without_a_default_provider_says_kms_setup(bed):
    v = bed
    v.govc("kms.default", "-")              # no default key provider any more
    cfg = v.config(extra='  <kms require-default="false"/>\n')
    rc, out, err, doc = canary(cfg, "--json")
    assert rc == 13, out + err
    enc = next(s for s in doc["canary"]["steps"] if s["step"] == "encrypt")
    assert enc["result"] == "failed" and "kms setup" in enc["fix"]
    nothing_left(v)
    trace_clean(doc["canary"]["trace"])


def test_a_vm_named_like_a_canary_without_the_marker_is_left_alone(bed):
    v = bed
    create(v, "vmcrypt-canary-somebody")
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 0, out + err
    left = doc["canary"]["steps"][0]
    assert "vmcrypt-canary-somebody has no vmcrypt.canary marker: left alone" in left["detail"]
    assert canaries(v) == ["/DC0/vm/vmcrypt-canary-somebody"]


def delivered(p, sig):
    """sig is no longer pending for process p (/proc/PID/status ShdPnd,
    SigPnd): a thread of it has taken the signal."""
    bit = 1 << (sig - 1)
    status = open(f"/proc/{p.pid}/status").read().splitlines()
    return not any(int(l.split()[1], 16) & bit for l in status
                   if l.startswith(("ShdPnd:", "SigPnd:")))


def held(h, p, method):
    """Until the agent's call of method is held at the test bed (the agent
    must not end meanwhile)."""
    wait_until(lambda: p.poll() is not None or h._req("GET", "/harness/hold")["held"], 60,
               f"{method} held")
    if p.poll() is not None:
        out, err = p.communicate()
        raise AssertionError(f"the agent ended (exit {p.returncode}) before {method}: "
                             f"{out}{err}")


# SIGTERM while each step is under way: the call is held at the test bed,
# the signal sent, the call released; the canary cleans up and stops.
HOLDS = [
    ("leftovers", "CreateContainerView", 1),      # check's key census reads the VMs before
    ("placement", "FindByInventoryPath", 0),
    ("privileges", "HasPrivilegeOnEntity", 1),     # check asks once before
    ("create", "CreateVM_Task", 0),
    ("encrypt", "ReconfigVM_Task", 0),
    ("verify", "QueryCryptoKeyStatus", 0),
    ("power", "PowerOnVM_Task", 0),
    ("delete", "Destroy_Task", 0),
]


@pytest.mark.parametrize("step,method,skip", HOLDS, ids=[h[0] for h in HOLDS])
def test_sigterm_in_each_step_leaves_nothing(bed, step, method, skip):
    v = bed
    h = Harness(v)
    cfg = v.config(tail='  <canary folder="/DC0/vm"/>\n')
    h._req("POST", f"/harness/hold?method={method}&skip={skip}")
    p = start(cfg, "--power", "--json")
    try:
        held(h, p, method)
        p.send_signal(signal.SIGTERM)
        # The signal is handled before the call ends: the kernel has handed
        # it to the process (no longer pending), whose handler runs then.
        wait_until(lambda: delivered(p, signal.SIGTERM), 10, "SIGTERM delivered")
    finally:
        h._req("POST", "/harness/release")
    out, err = p.communicate(timeout=300)
    doc = json.loads(out)
    names = [s["step"] for s in doc["canary"]["steps"]]
    if step == "delete":
        # Already cleaning up: the delete goes on to its end.
        assert p.returncode == 0, out + err
    else:
        assert p.returncode == 143, out + err
        assert "interrupted" in names and doc["canary"]["interrupted"] == "SIGTERM"
        assert names.index("interrupted") == names.index(step) + 1, names
    nothing_left(v)
    trace_clean(doc["canary"]["trace"], "CreateVM_Task" if "create" in names else
                "RetrieveServiceContent")


def test_a_canary_left_by_sigkill_is_removed_by_the_next_run(bed):
    v = bed
    h = Harness(v)
    cfg = v.config()
    h._req("POST", "/harness/hold?method=ReconfigVM_Task")
    p = start(cfg)
    try:
        held(h, p, "ReconfigVM_Task")
        p.kill()
        p.wait()
    finally:
        h._req("POST", "/harness/release")
    left = canaries(v)
    assert len(left) == 1 and canary_field(v), "the killed run left its canary"
    rc, out, err, doc = canary(cfg, "--json")
    assert rc == 0, out + err
    first = doc["canary"]["steps"][0]
    assert first["step"] == "leftovers" and first["result"] == "done"
    assert "deleted a previous run's canary: " + left[0].rsplit("/", 1)[1] in first["detail"]
    nothing_left(v)


def test_the_running_agent_leaves_the_canary_to_the_canary(bed, workdir):
    """The daemon sees the canary's VmCreatedEvent like any other, and
    leaves the VM to check --canary: one reconfigure of it, the canary's."""
    v = bed
    a = Agent(v.config(), workdir)
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 0, out + err
    vm = next(s for s in doc["canary"]["steps"] if s["step"] == "create")["detail"]
    moref = vm.split("(", 1)[1].split(")", 1)[0]
    a.wait_log(f"({moref})")
    assert Harness(v).stats()["reconfigs"].get(moref, 0) == 1
    assert "a canary of vmcrypt-agent check --canary" in a.text()
    a.stop()
    nothing_left(v)


def test_no_canary_on_a_vcenter_that_fails_the_checks(testbed):
    """No key provider at all: check fails, and the canary is not run, said
    (nothing is created on a vCenter that cannot encrypt)."""
    v = testbed(kms=False)
    before = Harness(v).stats()["calls"]
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 1, out + err
    assert doc["canary"] == {"ran": False, "ok": False, "why": doc["canary"]["why"]}
    assert Harness(v).stats()["calls"].get("CreateVM_Task", 0) == \
        before.get("CreateVM_Task", 0)
    rc, out, err, _ = canary(v.config())
    assert rc == 1 and "canary: not run: fix what failed above first" in out


def test_a_host_that_cannot_get_the_key(bed):
    """The failure the canary exists for: vCenter is configured and green,
    but the host cannot get the key (on OVHcloud, the KMS not let through
    the firewall).  The encrypt task fails on that host: exit 11, the fix
    in words, nothing left."""
    v = bed
    Harness(v)._req("POST", "/harness/host-keys?host=DC0_H0&available=false")
    cfg = v.config(tail='  <canary pool="/DC0/host/DC0_H0/Resources"/>\n')
    rc, out, err, doc = canary(cfg, "--json")
    assert rc == 11, out + err
    enc = next(s for s in doc["canary"]["steps"] if s["step"] == "encrypt")
    assert enc["result"] == "failed" and "required key was not found" in enc["detail"]
    assert "DC0_H0 could not get the key" in enc["fix"]
    assert "ovh register-kms" in enc["fix"] and "Connection Status" in enc["fix"]
    nothing_left(v)
    trace_clean(doc["canary"]["trace"])


def test_power_on_proves_the_host_got_the_key(bed):
    """The host loses the key between the encrypt and the power-on: the
    power-on fails, the VM is locked, and it is still deleted."""
    v = bed
    h = Harness(v)
    cfg = v.config(tail='  <canary pool="/DC0/host/DC0_H0/Resources"/>\n')
    h._req("POST", "/harness/hold?method=PowerOnVM_Task")
    p = start(cfg, "--power", "--json")
    try:
        held(h, p, "PowerOnVM_Task")
        h._req("POST", "/harness/host-keys?host=DC0_H0&available=false")
    finally:
        h._req("POST", "/harness/release")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 11, out + err
    doc = json.loads(out)
    power = next(s for s in doc["canary"]["steps"] if s["step"] == "power")
    assert power["result"] == "failed" and "encrypted and a required key was not found" \
        in power["detail"]
    assert doc["canary"]["steps"][-1]["step"] == "delete"
    assert doc["canary"]["steps"][-1]["result"] == "done"
    nothing_left(v)


def test_a_canary_that_cannot_be_deleted_is_named_then_removed_next_time(bed):
    v = bed
    h = Harness(v)
    h.fault("Destroy_Task", "The operation is not allowed in the current state.",
            fault="InvalidState")
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 14, out + err
    c = doc["canary"]
    delete = c["steps"][-1]
    assert delete["step"] == "delete" and delete["result"] == "failed"
    assert c["vm"] in delete["detail"] and "/DC0/vm" in delete["detail"]
    assert c["left_behind"] is True and len(canaries(v)) == 1
    h.clear_faults()
    rc, out, err, doc = canary(v.config(), "--json")
    assert rc == 0, out + err
    assert "deleted a previous run's canary: " + c["vm"] in doc["canary"]["steps"][0]["detail"]
    nothing_left(v)
