"""Cryptoperiods: every encrypted VM has a key age, and a VM whose key is
older than <rekey max-key-age> gets one shallow rekey
(CryptoSpecShallowRecrypt, VM home and every encrypted disk, a new key of
its expected provider), paced (max-per-hour, evenly spaced), only inside
the window (the agent's local time), its power state untouched; what
vCenter refuses is deferred with the reason, and a failed rekey is never
retried for the same old key.

Scenarios are set up with govc and pyvmomi (keys generated and put on by
pyvmomi, powered on and off, snapshots) and checked from outside the agent:
the keys and power states as govc reads them, vCenter's own record of the
tasks (pyvmomi TaskHistoryCollector: when each reconfigure arrived, how it
ended) and events (VmReconfiguredEvent with its configSpec), the test bed's
count of the agent's reconfigures (/harness/stats), and /metrics parsed by
the Prometheus client's parser.  The agent's evidence log is its own and is
not read here."""
import json
import math
import os
import signal
import ssl
import time
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from conftest import (BIN, PASSWORD, SLOW, TASK_DELAY_S, USER, Agent, Harness, agent,
                      compliance_all, create, moref, vm_state, wait_until)


def _agent_has_rekey():
    """The agent under test knows <rekey> (its configuration schema is
    compiled in): the cryptoperiod tests need it."""
    try:
        with open(BIN, "rb") as f:
            return b"max-key-age" in f.read()
    except OSError:
        return False


needs_rekey = pytest.mark.skipif(not _agent_has_rekey(),
                                 reason="the agent does not implement <rekey> yet")

PROVIDER = "ovh-kms"
KMS = f'  <kms cluster="{PROVIDER}"/>\n'
# The simulator's own VMs (DC0_H0_VM0, DC0_C0_RP0_VM0 even at vms=0) are
# left out of the small tests: each counts only its own VMs.
OWN = "  <exclusions><name-pattern>DC0_*</name-pattern></exclusions>\n"


def rekey_el(max_age, per_hour=36000, window=None):
    w = f' window="{window}"' if window else ""
    return f'  <rekey max-key-age="{max_age}" max-per-hour="{per_hour}"{w}/>\n'


def hms(t):
    """Local time of day (the agent's time zone is this machine's)."""
    return time.strftime("%H:%M:%S", time.localtime(t))


# ---------------------------------------------------------------------
# pyvmomi: the second independent client

def connect(v):
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    return SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD,
                        sslContext=ssl.create_default_context(cafile=v.crt))


def find_vm(si, name):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder,
                                                      [vim.VirtualMachine], True)
    try:
        return next(x for x in view.view if x.name == name)
    finally:
        view.Destroy()


def generate_key(si, provider=PROVIDER):
    r = si.RetrieveContent().cryptoManager.GenerateKey(
        keyProvider=vim.encryption.KeyProviderId(id=provider))
    assert r.success and r.keyId.keyId, r
    return r.keyId          # a CryptoKeyId: the key and its provider


def crypto_spec(vmo, cls, key):
    """cls (CryptoSpecEncrypt or CryptoSpecShallowRecrypt) with key on VM
    home and every disk, as the vSphere Client sends it."""
    def one():
        if cls is vim.encryption.CryptoSpecEncrypt:
            return cls(cryptoKeyId=key)
        return cls(newKeyId=key)
    disks = [d for d in vmo.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    return vim.vm.ConfigSpec(crypto=one(), deviceChange=[
        vim.vm.device.VirtualDeviceSpec(
            operation="edit", device=d,
            backing=vim.vm.device.VirtualDeviceSpec.BackingSpec(crypto=one()))
        for d in disks])


def forget_pyvmomi_findings(v):
    """pyvmomi leaves out xsi:type on members of their declared type in a
    deviceChange, which vCenter accepts and the strict checker does not
    (tests/harness/README.md, "stricter than needed"): those findings are
    pyvmomi's (the agent has not run yet), checked to be only that, then
    forgotten."""
    h = Harness(v)
    found = h._req("GET", "/harness/violations")["violations"]
    assert all(x["client"] == "other" and x["path"].startswith("ReconfigVM_Task/spec/deviceChange")
               for x in found), found
    h._req("DELETE", "/harness/violations")


def task_error(task):
    try:
        WaitForTask(task)
    except Exception as e:              # vim and vmodl faults
        return e
    return None


def tasks_of(si, vmo=None):
    """vCenter's record of its ReconfigVM_Task tasks (TaskHistoryCollector),
    oldest first: (VM moref, TaskInfo).  Of one VM when vmo is given."""
    # Of the inventory's entities only: a task on the CryptoManager
    # (RetrieveKmipServersStatus_Task) is no ManagedEntity's, which
    # pyvmomi cannot read as TaskInfo.entity.
    spec = vim.TaskFilterSpec(entity=vim.TaskFilterSpec.ByEntity(
        entity=vmo or si.content.rootFolder, recursion="self" if vmo else "all"))
    c = si.content.taskManager.CreateCollectorForTasks(spec)
    out = []
    try:
        while True:             # from the oldest (vcsim: no RewindCollector first)
            page = c.ReadNextTasks(1000)
            if not page:
                break
            out += page
    finally:
        c.DestroyCollector()
    out = [t for t in out if str(t.descriptionId).lower().endswith(("reconfigvm", "reconfigure"))]
    seen, uniq = set(), []
    for t in sorted(out, key=lambda t: t.queueTime):
        if t.key not in seen:
            seen.add(t.key)
            uniq.append((t.entity._moId, t))
    return uniq


def reconfigured_events(si, vmo=None):
    """vCenter's VmReconfiguredEvents (with the configSpec), oldest first."""
    spec = vim.event.EventFilterSpec(eventTypeId=["VmReconfiguredEvent"], maxCount=1000)
    if vmo is not None:
        spec.entity = vim.event.EventFilterSpec.ByEntity(entity=vmo, recursion="self")
    out = si.content.eventManager.QueryEvents(spec)
    seen, uniq = set(), []
    for e in sorted(out, key=lambda e: e.key):
        if e.key not in seen and isinstance(e, vim.event.VmReconfiguredEvent):
            seen.add(e.key)
            uniq.append(e)
    return uniq


def is_shallow(ev):
    return isinstance(ev.configSpec.crypto, vim.encryption.CryptoSpecShallowRecrypt)


def epoch(dt):
    return dt.timestamp()


# ---------------------------------------------------------------------
# govc readings, /metrics, the agent's views

def states_all(v):
    """{VM name: vm_state-like dict} for every VM, in one govc call."""
    from conftest import PATHS, _state
    out = {}
    for o in v.govc_json_stream("object.collect", "-json", "-type", "m", "/", *PATHS):
        st = _state(o.get("changeSet", []))
        st["ref"] = o["obj"]["value"]
        out[st.pop("name", st["ref"])] = st
    return out


def key_of(st):
    return (st.get("key") or {}).get("keyId")


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


def oldest_key_age(port):
    return metrics(port).get(("vmcrypt_key_age_oldest_seconds", ()))


def inventory(cfg):
    r = agent("inventory", "--config", cfg, "--json")
    assert r.returncode == 0, r.stderr
    return {x["name"]: x for x in json.loads(r.stdout)["vms"]}


def reconcile_json(cfg, *extra):
    r = agent("reconcile", "--config", cfg, "--json", *extra)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return {x["name"]: x for x in json.loads(r.stdout)["vms"]}, r


def agent_reconfigs(h, ref):
    """The agent's reconfigures of a VM the test bed carried out (govc's
    are not counted; those the front refused as vCenter would are not
    either: tasks_of sees those)."""
    return h.stats()["reconfigs"].get(ref, 0)


def rekey_lines(a):
    return [ln for ln in a.text().splitlines() if "rekey:" in ln]


def host_keys(v, host, available):
    q = urllib.parse.urlencode({"host": host, "available": "true" if available else "false"})
    Harness(v)._req("POST", "/harness/host-keys?" + q)


def encrypt_with_agent(v, cfg, *names):
    r = agent("reconcile", "--config", cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    st = states_all(v)
    for n in names:
        assert key_of(st[n]), (n, st[n])
    return st


# ---------------------------------------------------------------------
# The test bed: vCenter refuses a shallow rekey of a powered-on VM with an
# encrypted disk on an IDE controller (tests/harness/README.md; the fault
# type and text are UNCONFIRMED).  No agent involved.

def test_testbed_refuses_shallow_rekey_of_powered_on_vm_with_ide_disk(testbed):
    v = testbed(vms=0)
    v.govc("vm.create", "-on=false", "-host", "DC0_H0", "-net", "VM Network", "-disk", "1M",
           "-disk.controller", "ide", "-version", "vmx-15", "ide-1")
    create(v, "scsi-1", "-version", "vmx-15")
    assert "VirtualIDEController" in v.govc("device.info", "-vm", "ide-1", "ide-*")
    si = connect(v)
    try:
        vms = {n: find_vm(si, n) for n in ("ide-1", "scsi-1")}
        ide = [c.key for c in vms["ide-1"].config.hardware.device
               if isinstance(c, vim.vm.device.VirtualIDEController)]
        disks = [d for d in vms["ide-1"].config.hardware.device
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        assert disks and all(d.controllerKey in ide for d in disks)
        for n, vmo in vms.items():
            k = generate_key(si)
            assert task_error(vmo.ReconfigVM_Task(
                crypto_spec(vmo, vim.encryption.CryptoSpecEncrypt, k))) is None
            v.govc("vm.power", "-on", n)
        old = vm_state(v, "ide-1")
        new = generate_key(si)
        # VM and disks, or VM home alone: refused as a task, nothing changed.
        for spec in (crypto_spec(vms["ide-1"], vim.encryption.CryptoSpecShallowRecrypt, new),
                     vim.vm.ConfigSpec(crypto=vim.encryption.CryptoSpecShallowRecrypt(newKeyId=new))):
            err = task_error(vms["ide-1"].ReconfigVM_Task(spec))
            assert isinstance(err, vmodl.fault.NotSupported), err
            assert err.msg.startswith("Shallow rekey of a powered-on virtual machine with a "
                                      "disk on an IDE controller is not supported"), err.msg
            assert vm_state(v, "ide-1") == old
        # A powered-on VM with its disk on SCSI is rekeyed (vcsim's own).
        assert task_error(vms["scsi-1"].ReconfigVM_Task(
            crypto_spec(vms["scsi-1"], vim.encryption.CryptoSpecShallowRecrypt, new))) is None
        s = vm_state(v, "scsi-1")
        assert s["key"]["keyId"] == new.keyId and s["power"] == "poweredOn"
        # Powered off, the IDE one is rekeyed too.
        v.govc("vm.power", "-off", "ide-1")
        assert task_error(vms["ide-1"].ReconfigVM_Task(
            crypto_spec(vms["ide-1"], vim.encryption.CryptoSpecShallowRecrypt, new))) is None
        s = vm_state(v, "ide-1")
        assert s["key"]["keyId"] == new.keyId
        assert s["disks"] and all(d["keyId"]["keyId"] == new.keyId for d in s["disks"])
        # vCenter's record: the refused ones are failed tasks, and no
        # VmReconfiguredEvent says they happened.
        t = tasks_of(si, vms["ide-1"])
        assert [x.state for _, x in t] == ["success", "error", "error", "success"], t
        assert sum(is_shallow(e) for e in reconfigured_events(si, vms["ide-1"])) == 1
    finally:
        Disconnect(si)
        forget_pyvmomi_findings(v)


# ---------------------------------------------------------------------
# The agent's cryptoperiod.

def max_in_one_second(times, width=1.0):
    """The most of times (seconds) in any sliding window of width seconds."""
    times, best, j = sorted(times), 0, 0
    for i, t in enumerate(times):
        while times[j] < t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.scale
@needs_rekey
def test_100_vms_rekeyed_once_paced_inside_the_window(testbed, workdir):
    """The acceptance test: 100 VMs (half powered on) encrypted by the
    agent, their keys aged past max-key-age=30s, the window opening a few
    seconds later (local time) and closing 25 s after: each VM gets exactly
    one ShallowRecrypt (VM and disks, a new key of the configured provider),
    none before the window opens, at most 10 a second evenly spread
    (max-per-hour=36000: 0.1 s apart), power states untouched; a VM created
    and encrypted once the rekeys began is not rekeyed."""
    v = testbed(vms=50)                  # 50 on the host + 50 in the cluster
    h = Harness(v)
    names = sorted(n for n in states_all(v))
    assert len(names) == 100
    base = KMS + '  <enforce max-in-flight="32"/>\n'
    encrypt_with_agent(v, v.config(extra=base), *names)   # powered off: encrypted
    t_enc = time.time()
    v.govc("vm.power", "-on", *names[::2])
    before = states_all(v)
    assert all(before[n]["power"] == ("poweredOn" if i % 2 == 0 else "poweredOff")
               for i, n in enumerate(names))
    assert all(agent_reconfigs(h, before[n]["ref"]) == 1 for n in names)

    max_age = 30
    ws = math.ceil(t_enc + max_age + 4)      # every key is due 4 s before
    we = ws + 25                             # 100 rekeys need 10 s at 10/s
    window = f"{hms(ws)}-{hms(we)}"
    cfg = v.config(extra=base + rekey_el(f"{max_age}s", 36000, window))
    a = Agent(cfg, workdir)
    si = connect(v)
    try:
        port = v.metrics_port
        # Due, and the window still closed: all 100 rekey-due, none sent.
        wait_until(lambda: vms_in(port, "rekey-due") == 100, max(ws - time.time() - 0.3, 0.1),
                   "100 VMs rekey-due before the window opens")
        assert time.time() < ws
        assert oldest_key_age(port) >= max_age
        assert all(agent_reconfigs(h, before[n]["ref"]) == 1 for n in names)
        assert any(window in ln for ln in rekey_lines(a)), a.text()[-3000:]

        # The window opens: wait for the first rekey, then a VM created and
        # encrypted while the rekeys run (young: never rekeyed).
        def rekeyed():
            st = states_all(v)
            return [n for n in names if key_of(st[n]) != key_of(before[n])]
        wait_until(lambda: rekeyed(), we - time.time() + 5, "the first rekey")
        create(v, "late-1", "-version", "vmx-15")
        wait_until(lambda: key_of(vm_state(v, "late-1")), 20 + TASK_DELAY_S,
                   "late-1 encrypted by the running agent")
        late_key = key_of(vm_state(v, "late-1"))
        wait_until(lambda: len(rekeyed()) == 100, we - time.time() + 5 + TASK_DELAY_S,
                   "every VM rekeyed", step=0.5)
        # The window closes; any rekey the agent still had to send is done.
        time.sleep(max(we + 1 + TASK_DELAY_S - time.time(), 0))
        after = states_all(v)
    finally:
        a.stop()

    try:
        ref_name = {before[n]["ref"]: n for n in names}
        tasks = tasks_of(si)
        events = reconfigured_events(si)
    finally:
        Disconnect(si)

    # Exactly one rekey each: two reconfigures by the agent (encryption,
    # rekey), one VmReconfiguredEvent with a ShallowRecrypt.
    assert {n: agent_reconfigs(h, before[n]["ref"]) for n in names if
            agent_reconfigs(h, before[n]["ref"]) != 2} == {}
    shallow = {}
    for e in events:
        if is_shallow(e):
            shallow.setdefault(e.vm.vm._moId, []).append(e)
    assert sorted(ref_name.get(r, r) for r in shallow) == names
    assert {ref_name[r]: len(es) for r, es in shallow.items() if len(es) != 1} == {}
    starts = []
    for n in names:
        b, s = before[n], after[n]
        ev = shallow[b["ref"]][0]
        new = s["key"]
        # A new key of the configured provider, on VM home and every disk,
        # the one the ShallowRecrypt carried; power state untouched.
        assert new["keyId"] != b["key"]["keyId"] and new["providerId"]["id"] == PROVIDER, (n, s)
        assert s["disks"] and all(d["keyId"]["keyId"] == new["keyId"] for d in s["disks"]), (n, s)
        assert ev.configSpec.crypto.newKeyId.keyId == new["keyId"], n
        disk_specs = [dc for dc in ev.configSpec.deviceChange or []
                      if isinstance(dc.device, vim.vm.device.VirtualDisk)]
        assert len(disk_specs) == len(s["disks"]) and all(
            isinstance(dc.backing.crypto, vim.encryption.CryptoSpecShallowRecrypt) and
            dc.backing.crypto.newKeyId.keyId == new["keyId"] for dc in disk_specs), n
        assert s["power"] == b["power"], (n, b["power"], s["power"])
        # vCenter's record of the tasks: encryption, then the rekey.
        mine = [t for r, t in tasks if r == b["ref"]]
        assert len(mine) == 2 and all(t.state == "success" for t in mine), (n, mine)
        starts.append(epoch(mine[1].queueTime))
    # None before the window opened; paced at 10 a second, evenly.
    assert min(starts) >= ws - 0.001, (hms(min(starts)), window)
    assert max(starts) <= we + 0.001, (hms(max(starts)), window)
    # The agent gives the turns 0.1 s apart; each request reaches vCenter
    # after its VM's read and GenerateKey, so a late one can meet the next:
    # one more than the window's edge allows (10 + 1), never a burst (5 s
    # windows: at most 52).
    assert max_in_one_second(starts) <= 12, sorted(starts)
    assert max_in_one_second(starts, 5.0) <= 52, sorted(starts)
    assert max(starts) - min(starts) >= 0.9 * 99 * 0.1, sorted(starts)
    # The late VM: encrypted once, its key kept.
    late = after["late-1"]
    assert key_of(late) == late_key and agent_reconfigs(h, late["ref"]) == 1
    print(f"100 rekeys from {hms(min(starts))} to {hms(max(starts))} "
          f"({max(starts) - min(starts):.2f} s), window {window}, "
          f"at most {max_in_one_second(starts)} in a second")


@needs_rekey
def test_key_age_from_vcenter_events_and_from_the_agent(testbed, workdir):
    """A VM encrypted by pyvmomi with a key of its own (GenerateKey, then
    CryptoSpecEncrypt naming it) before the agent ever ran: its age comes
    from vCenter's VmReconfiguredEvent; a VM the agent encrypted: from the
    agent; a VM encrypted with a key vCenter picked (no key id in the
    spec): unknown."""
    v = testbed(vms=0)
    for n in ("ev-1", "gen-1", "ag-1"):
        create(v, n, "-version", "vmx-15")
    si = connect(v)
    try:
        vmo = find_vm(si, "ev-1")
        key = generate_key(si)
        assert task_error(vmo.ReconfigVM_Task(
            crypto_spec(vmo, vim.encryption.CryptoSpecEncrypt, key))) is None
        ev = [e for e in reconfigured_events(si, vmo)
              if isinstance(e.configSpec.crypto, vim.encryption.CryptoSpecEncrypt)]
        assert len(ev) == 1 and ev[0].configSpec.crypto.cryptoKeyId.keyId == key.keyId
        ev_time = epoch(ev[0].createdTime)
        gen = find_vm(si, "gen-1")
        picked = vim.encryption.CryptoKeyId(keyId="",
                                            providerId=vim.encryption.KeyProviderId(id=PROVIDER))
        assert task_error(gen.ReconfigVM_Task(
            crypto_spec(gen, vim.encryption.CryptoSpecEncrypt, picked))) is None
    finally:
        Disconnect(si)
        forget_pyvmomi_findings(v)
    assert key_of(vm_state(v, "ev-1")) == key.keyId and key_of(vm_state(v, "gen-1"))
    time.sleep(12)                       # ages of seconds, told apart below
    # ag-1 encrypted by `run` (the agent's evidence log is written by run).
    cfg = v.config(extra=KMS + rekey_el("1d") + OWN)
    t0 = time.time()
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: compliance_all(v, Harness(v)).get("ag-1"), 10 + TASK_DELAY_S,
                   "ag-1 encrypted by the agent")
        t1 = time.time()
        time.sleep(5)
    finally:
        a.stop()
    lo = time.time()
    vms = inventory(cfg)
    hi = time.time()
    tol = 0.6e-4                         # reported to 4 decimals of a day
    e = vms["ev-1"]
    assert e["key_age_source"] == "vcenter-events", e
    assert (lo - ev_time) / 86400 - tol <= e["key_age_days"] <= (hi - ev_time) / 86400 + tol, \
        (e["key_age_days"], (lo - ev_time) / 86400)
    g = vms["ag-1"]
    assert g["key_age_source"] == "agent", g
    assert (lo - t1) / 86400 - tol <= g["key_age_days"] <= (hi - t0) / 86400 + tol, \
        (g["key_age_days"], (lo - t1) / 86400, (hi - t0) / 86400)
    assert g["key_age_days"] < e["key_age_days"]
    u = vms["gen-1"]
    assert u["key_age_source"] is None and u["key_age_days"] is None, u
    # Young keys: compliant, nothing due.
    assert {n: vms[n]["state"] for n in ("ev-1", "ag-1")} == \
        {"ev-1": "compliant", "ag-1": "compliant"}


@needs_rekey
def test_window_closed_nothing_happens(testbed, workdir):
    """Keys past max-key-age, the window hours away: the running agent
    (5 s), reconcile --json and inventory say rekey-due (code key-age) and
    nothing is sent; the agent states the window with its time zone."""
    v = testbed(vms=0)
    h = Harness(v)
    names = ["wc-1", "wc-2"]
    for n in names:
        create(v, n, "-version", "vmx-15")
    encrypt_with_agent(v, v.config(extra=KMS + OWN), *names)
    v.govc("vm.power", "-on", "wc-1")
    before = states_all(v)
    time.sleep(2.5)
    far = time.time() + 6 * 3600
    window = f"{hms(far)}-{hms(far + 600)}"
    cfg = v.config(extra=KMS + rekey_el("2s", 36000, window) + OWN)
    started = time.time()
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: vms_in(v.metrics_port, "rekey-due") == 2, 10, "2 VMs rekey-due")
        time.sleep(max(started + 5 + TASK_DELAY_S - time.time(), 0))
        assert vms_in(v.metrics_port, "rekey-due") == 2
        assert oldest_key_age(v.metrics_port) >= 2
    finally:
        a.stop()
    tz = {time.strftime("%Z"), time.strftime("%z")}
    lines = [ln for ln in rekey_lines(a) if window in ln]
    assert lines and any(z in ln for ln in lines for z in tz), (tz, rekey_lines(a))
    vms, _ = reconcile_json(cfg)
    inv = inventory(cfg)
    after = states_all(v)
    for n in names:
        assert (vms[n]["state"], vms[n]["code"]) == ("rekey-due", "key-age"), vms[n]
        assert (inv[n]["state"], inv[n]["code"]) == ("rekey-due", "key-age"), inv[n]
        assert after[n]["key"] == before[n]["key"] and after[n]["power"] == before[n]["power"]
        assert agent_reconfigs(h, before[n]["ref"]) == 1
    si = connect(v)
    try:
        assert len(tasks_of(si)) == 2 and not any(is_shallow(e) for e in reconfigured_events(si))
    finally:
        Disconnect(si)


@needs_rekey
def test_dry_run_lists_rekey_due_and_changes_nothing(testbed, workdir):
    """Window open (none given), keys due: run --dry-run and reconcile
    --dry-run --json list the VMs rekey-due (code key-age); nothing sent."""
    v = testbed(vms=0)
    h = Harness(v)
    names = ["dr-1", "dr-2"]
    for n in names:
        create(v, n, "-version", "vmx-15")
    before = encrypt_with_agent(v, v.config(extra=KMS + OWN), *names)
    time.sleep(2.5)
    cfg = v.config(extra=KMS + rekey_el("2s") + OWN)
    vms, _ = reconcile_json(cfg, "--dry-run")
    for n in names:
        assert (vms[n]["state"], vms[n]["code"]) == ("rekey-due", "key-age"), \
            (vms[n]["key_age_days"], vms[n]["key_age_source"], vms[n]["reason"], _.stderr)
    a = Agent(cfg, workdir, "--dry-run")
    try:
        wait_until(lambda: vms_in(v.metrics_port, "rekey-due") == 2, 10, "2 VMs rekey-due")
        time.sleep(3 + TASK_DELAY_S)
    finally:
        a.stop()
    for n in names:         # named, as in the dry run's other lines
        assert any(n in ln and "rekey" in ln for ln in a.text().splitlines()), (n, a.text())
        assert agent_reconfigs(h, before[n]["ref"]) == 1
    assert {n: states_all(v)[n]["key"] for n in names} == {n: before[n]["key"] for n in names}


@needs_rekey
def test_ide_and_snapshot_tree_deferred_chain_rekeyed(testbed, workdir):
    """Powered on with an encrypted disk on IDE: rekey-due, code
    key-age-ide, no task; powered off: rekeyed.  A snapshot tree:
    key-age-snapshots, no task; a single snapshot chain and a powered-on
    VM with its disk on SCSI: rekeyed (the power state kept)."""
    v = testbed(vms=0)
    h = Harness(v)
    v.govc("vm.create", "-on=false", "-host", "DC0_H0", "-net", "VM Network", "-disk", "1M",
           "-disk.controller", "ide", "-version", "vmx-15", "ide-1")
    for n in ("on-1", "chain-1", "tree-1"):
        create(v, n, "-version", "vmx-15")
    names = ["ide-1", "on-1", "chain-1", "tree-1"]
    before = encrypt_with_agent(v, v.config(extra=KMS + OWN), *names)
    v.govc("vm.power", "-on", "ide-1", "on-1")
    for s in ("c1", "c2"):
        v.govc("snapshot.create", "-vm", "chain-1", s)
    for s in ("t1", "t2"):
        v.govc("snapshot.create", "-vm", "tree-1", s)
    v.govc("snapshot.revert", "-vm", "tree-1", "t1")
    v.govc("snapshot.create", "-vm", "tree-1", "t3")       # t1 has two children
    time.sleep(8)
    cfg = v.config(extra=KMS + rekey_el("8s") + OWN)
    si = connect(v)
    vmo = {n: find_vm(si, n) for n in names}
    a = Agent(cfg, workdir)
    try:
        for n in ("on-1", "chain-1"):
            wait_until(lambda: key_of(vm_state(v, n)) != key_of(before[n]), 10 + TASK_DELAY_S,
                       f"{n} rekeyed")
            s = vm_state(v, n)
            assert s["key"]["providerId"]["id"] == PROVIDER
            assert all(d["keyId"]["keyId"] == key_of(s) for d in s["disks"]), (n, s)
            assert len(tasks_of(si, vmo[n])) == 2
        assert vm_state(v, "on-1")["power"] == "poweredOn"
        time.sleep(1 + TASK_DELAY_S)
        inv = inventory(cfg)
        assert (inv["ide-1"]["state"], inv["ide-1"]["code"]) == ("rekey-due", "key-age-ide"), \
            inv["ide-1"]
        assert (inv["tree-1"]["state"], inv["tree-1"]["code"]) == \
            ("rekey-due", "key-age-snapshots"), inv["tree-1"]
        for n in ("ide-1", "tree-1"):
            assert len(tasks_of(si, vmo[n])) == 1, (n, tasks_of(si, vmo[n]))
            assert vm_state(v, n)["key"] == before[n]["key"]
        # Powered off, the IDE one can be rekeyed: it is, and stays off.
        v.govc("vm.power", "-off", "ide-1")
        wait_until(lambda: key_of(vm_state(v, "ide-1")) != key_of(before["ide-1"]),
                   15 + TASK_DELAY_S, "ide-1 rekeyed once powered off")
        s = vm_state(v, "ide-1")
        assert s["power"] == "poweredOff" and s["key"]["providerId"]["id"] == PROVIDER
        assert all(d["keyId"]["keyId"] == key_of(s) for d in s["disks"])
        t = tasks_of(si, vmo["ide-1"])
        assert len(t) == 2 and t[1][1].state == "success", t
        assert len(tasks_of(si, vmo["tree-1"])) == 1
    finally:
        a.stop()
        Disconnect(si)


@needs_rekey
def test_a_failed_rekey_is_never_retried_for_the_same_key(testbed, workdir):
    """The rekey task fails (the VM's host cannot get keys, /harness/host-keys):
    one attempt, the VM rekey-due with code key-age-rekeyed; after a
    reconcile, and with the host's keys back, still no second attempt."""
    v = testbed(vms=0)
    create(v, "nt-1", "-version", "vmx-15")
    before = encrypt_with_agent(v, v.config(extra=KMS + OWN), "nt-1")
    host_keys(v, "DC0_H0", False)
    time.sleep(2.5)
    cfg = v.config(extra=KMS + rekey_el("2s") + OWN)
    si = connect(v)
    vmo = find_vm(si, "nt-1")
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: len(tasks_of(si, vmo)) == 2, 10, "the rekey attempt")
        wait_until(lambda: tasks_of(si, vmo)[1][1].state == "error", 5 + TASK_DELAY_S,
                   "the rekey task failed")
        wait_until(lambda: vms_in(v.metrics_port, "rekey-due") == 1, 10, "nt-1 rekey-due")
        # The agent has taken the task's end (its record is on disk before
        # it says so): what inventory reads from the evidence log is there.
        a.wait_log("rekey failed (", 10 * SLOW)
        inv = inventory(cfg)
        assert (inv["nt-1"]["state"], inv["nt-1"]["code"]) == ("rekey-due", "key-age-rekeyed"), \
            inv["nt-1"]
        # A full reconcile pass (SIGHUP), then the host's keys back and
        # another: no second attempt.
        a.p.send_signal(signal.SIGHUP)
        time.sleep(3 + TASK_DELAY_S)
        assert len(tasks_of(si, vmo)) == 2
        Harness(v)._req("DELETE", "/harness/host-keys")
        a.p.send_signal(signal.SIGHUP)
        time.sleep(3 + TASK_DELAY_S)
        assert len(tasks_of(si, vmo)) == 2
        assert vm_state(v, "nt-1")["key"] == before["nt-1"]["key"]
        assert vms_in(v.metrics_port, "rekey-due") == 1
        # Nor after a restart of the agent.
        a.stop()
        a = Agent(cfg, workdir, name="agent2.log")
        time.sleep(3 + TASK_DELAY_S)
        assert len(tasks_of(si, vmo)) == 2
        assert vm_state(v, "nt-1")["key"] == before["nt-1"]["key"]
    finally:
        a.stop()
        Disconnect(si)
    vms, _ = reconcile_json(cfg)
    assert (vms["nt-1"]["state"], vms["nt-1"]["code"]) == ("rekey-due", "key-age-rekeyed")
