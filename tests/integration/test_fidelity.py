"""The test bed behaves like vCenter where vcsim is more lenient
(tests/harness/README.md lists each behaviour and its source).

Each behaviour is shown with an independent client, pyvmomi (VMware's own
Python SDK, from PyPI) or govc, and then, where the agent meets it, with
the agent: it must cope the way it would have to on vCenter."""
import json
import os
import ssl
import subprocess
import time

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

import xml.etree.ElementTree as ET

from conftest import (API, PASSWORD, POLICY, USER, Agent, Harness, agent, compliant,
                      create, moref, negotiated, vm_state, vtuple, wait_until)

pytestmark = pytest.mark.api


def connect(v):
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    ctx = ssl.create_default_context(cafile=v.crt)
    si = SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD, sslContext=ctx)
    return si


def find_vm(si, name):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder,
                                                      [vim.VirtualMachine], True)
    try:
        return next(v for v in view.view if v.name == name)
    finally:
        view.Destroy()


def task_error(task):
    try:
        WaitForTask(task)
    except vim.fault.VimFault as e:
        return e
    except Exception as e:           # vmodl faults (RuntimeFault, ...)
        return e
    return None


@pytest.fixture
def pyv(testbed):
    v = testbed()
    v.si = connect(v)
    yield v
    Disconnect(v.si)


def test_stale_change_version_fails_with_concurrent_access(pyv):
    vmo = find_vm(pyv.si, "DC0_H0_VM0")
    stale = vmo.config.changeVersion
    pyv.govc("vm.change", "-vm", "DC0_H0_VM0", "-annotation", "changed by someone else")
    spec = vim.vm.ConfigSpec(changeVersion=stale, annotation="overwrite")
    err = task_error(vmo.ReconfigVM_Task(spec))
    assert isinstance(err, vim.fault.ConcurrentAccess), err
    assert err.msg == ("Cannot complete operation due to concurrent modification by "
                       "another operation.")
    assert "changed by someone else" in pyv.govc("vm.info", "-json", "DC0_H0_VM0")
    # With the current version it goes through.
    spec.changeVersion = vmo.config.changeVersion
    assert task_error(vmo.ReconfigVM_Task(spec)) is None
    assert vmo.config.annotation == "overwrite"


def test_encrypting_without_a_default_key_provider_fails(pyv):
    pyv.govc("kms.default", "-")                     # no default key provider
    vmo = find_vm(pyv.si, "DC0_H0_VM0")
    enc = vim.encryption.CryptoSpecEncrypt(cryptoKeyId=vim.encryption.CryptoKeyId(keyId=""))
    err = task_error(vmo.ReconfigVM_Task(vim.vm.ConfigSpec(crypto=enc)))
    assert isinstance(err, vim.fault.InvalidState), err     # vcsim: encrypted, empty key
    assert "No default key provider" in err.msg
    assert not vm_state(pyv, "DC0_H0_VM0").get("key")
    # An unknown provider is refused too.
    bad = vim.encryption.CryptoSpecEncrypt(cryptoKeyId=vim.encryption.CryptoKeyId(
        keyId="", providerId=vim.encryption.KeyProviderId(id="no-such-kms")))
    err = task_error(vmo.ReconfigVM_Task(vim.vm.ConfigSpec(crypto=bad)))
    assert isinstance(err, vmodl_invalid_argument()), err
    # With a default it encrypts, with a key from that provider.
    pyv.govc("kms.default", "ovh-kms")
    assert task_error(vmo.ReconfigVM_Task(vim.vm.ConfigSpec(crypto=enc))) is None
    key = vm_state(pyv, "DC0_H0_VM0")["key"]
    assert key["keyId"] and key["providerId"]["id"] == "ovh-kms"


def vmodl_invalid_argument():
    from pyVmomi import vmodl
    return vmodl.fault.InvalidArgument


def crypto_state(v, name):
    out = json.loads(v.govc("object.collect", "-json", "vm/" + name,
                            "runtime.cryptoState", "summary.runtime.cryptoState"))
    return {c["name"]: c.get("val") for c in out}


def test_crypto_state_follows_encryption(pyv, workdir):
    assert not any(crypto_state(pyv, "DC0_H0_VM0").values())     # not encrypted
    a = Agent(pyv.config(), workdir)
    try:
        h = Harness(pyv)
        wait_until(lambda: compliant(pyv, h, "DC0_H0_VM0"), 30, "DC0_H0_VM0 compliant")
    finally:
        a.stop()
    assert crypto_state(pyv, "DC0_H0_VM0") == {
        "runtime.cryptoState": "unlocked", "summary.runtime.cryptoState": "unlocked"}


def test_first_key_provider_is_the_default(testbed):
    v = testbed(kms=False)
    v.govc("kms.add", "-n", "kms-1", "-a", "127.0.0.1", "-p", "1", "first")
    v.govc("kms.add", "-n", "kms-2", "-a", "127.0.0.1", "-p", "1", "second")
    ls = {c["clusterId"]["id"]: c for c in json.loads(v.govc("kms.ls", "-json"))["info"]}
    assert ls["first"]["useAsDefault"] is True
    assert not ls["second"].get("useAsDefault")


def test_kms_status_is_what_the_kms_presents(pyv):
    crt = pyv.kms_certs["kms-1"]
    fp = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1"],
                        capture_output=True, text=True, check=True).stdout
    fp = fp.strip().split("=", 1)[1]
    st = json.loads(pyv.govc("kms.ls", "-json", "ovh-kms"))["status"]
    srv = st["servers"][0]
    assert st["overallStatus"] == "green" and srv["status"] == "green"
    assert srv["connectionStatus"]
    assert srv["certInfo"]["fingerprint"] == fp
    assert srv["certInfo"]["subject"] == "CN=kms-1"
    assert srv["certInfo"]["secondsBeforeExpire"] > 86400
    assert srv["clientTrustServer"] is True and srv["serverTrustClient"] is True
    # The agent's check reads the same.
    r = agent("check", "--config", pyv.config(), "--json")
    c = {x["id"]: x for x in json.loads(r.stdout)["checks"]}
    assert r.returncode == 0, r.stdout
    assert c["kms-health"]["result"] == "pass"

    # The KMS goes away: red, said why, and the agent's check fails on it.
    for p in pyv.kms_procs:
        p.kill()
        p.wait()
    st = json.loads(pyv.govc("kms.ls", "-json", "ovh-kms"))["status"]
    srv = st["servers"][0]
    assert st["overallStatus"] == "red" and srv["status"] == "red"
    assert "connection refused" in srv["connectionStatus"]
    assert not srv.get("certInfo")
    r = agent("check", "--config", pyv.config(), "--json")
    rep = json.loads(r.stdout)
    c = {x["id"]: x for x in rep["checks"]}
    assert r.returncode == 1 and rep["kms_usable"] is False
    assert "overall red" in c["kms-health"]["detail"]


def test_agent_reads_again_after_a_concurrent_change(pyv, workdir):
    h = Harness(pyv)
    a = Agent(pyv.config(), workdir)
    try:
        wait_until(lambda: compliant(pyv, h, "DC0_H0_VM0"), 30, "DC0_H0_VM0 compliant")
        h._req("POST", "/harness/hold?method=ReconfigVM_Task")
        create(pyv, "raced", "-version", "vmx-13")
        ref = moref(pyv, "raced")
        wait_until(lambda: h._req("GET", "/harness/hold")["held"], 30,
                   "the agent's reconfigure of raced held")
        # Someone else changes the VM between the agent's read and its
        # reconfigure: vCenter refuses the reconfigure (changeVersion).
        pyv.govc("vm.change", "-vm", "raced", "-annotation", "edited meanwhile")
        h._req("POST", "/harness/release")
        wait_until(lambda: compliant(pyv, h, "raced"), 30, "raced compliant")
        a.wait_log(f"VM raced ({ref}): changed by someone else")
        assert "edited meanwhile" in pyv.govc("vm.info", "-json", "raced")
        assert h.stats()["reconfigs"][ref] == 1     # the refused one applied nothing
        assert "failed" not in [l for l in a.text().splitlines() if ref in l][-1]
    finally:
        a.stop()


def running_tasks(v, name):
    out = json.loads(v.govc("object.collect", "-json", "vm/" + name, "recentTask"))
    refs = [t["value"] for c in out for t in (c.get("val") or {}).get("_value", c.get("val") or [])
            if isinstance(t, dict)]
    states = []
    for ref in refs:
        info = json.loads(v.govc("object.collect", "-json", "Task:" + ref, "info.state"))
        states += [c["val"] for c in info]
    return states


def test_slow_tasks_leave_the_vm_readable(testbed, workdir):
    v = testbed(vms=0, args=("-task-delay", "ReconfigVm=10000"))
    h = Harness(v)
    a = Agent(v.config(), workdir)
    try:
        create(v, "slow-1", "-version", "vmx-13")
        ref = moref(v, "slow-1")
        wait_until(lambda: h.stats()["reconfigs"].get(ref), 30, "the agent's reconfigure")
        # Read while the task runs (it still runs after the read): the
        # VM answers, not yet encrypted; vcsim would hold its lock.
        s = vm_state(v, "slow-1")
        assert "running" in running_tasks(v, "slow-1")
        assert not s.get("key") and s["power"] == "poweredOff"
        assert ref not in h.stats()["reconfig_done"]
        wait_until(lambda: compliant(v, h, "slow-1"), 40, "slow-1 compliant")
    finally:
        a.stop()


def test_the_api_version_this_vcenter_presents(pyv):
    """Under make check's API runs (7.0.3.0, 8.0.3.0, 9.0.0.0): about and
    vimServiceVersions.xml read like that vCenter's, the agent negotiates
    the newest version both know, and tolerates what is newer."""
    import urllib.request
    about = json.loads(pyv.govc("about", "-json"))["about"]
    assert about["apiVersion"] == API and about["apiType"] == "VirtualCenter"
    assert about["fullName"].startswith("VMware vCenter Server ")
    assert about["version"] == ".".join(API.split(".")[:3])
    body = urllib.request.urlopen(pyv.url + "/vimServiceVersions.xml",
                                  context=ssl.create_default_context(cafile=pyv.crt)).read()
    root = ET.fromstring(body)
    current = root.find("namespace/version").text
    prior = [v.text for v in root.findall("namespace/priorVersions/version")]
    assert not current[0].isdigit() and API in prior     # as vCenter 8.0.3 lists them
    r = agent("check", "--config", pyv.config(), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    r = agent("inventory", "--config", pyv.config(), "--json")
    assert json.loads(r.stdout)["apiVersion"] == negotiated()
    info = json.loads(pyv.govc("kms.ls", "-json"))["info"]
    if vtuple(API) >= vtuple("9.0.0.0"):
        # 9.0's key types on the key provider: unknown to the agent, tolerated.
        assert info[0]["defaultKeyType"] == "rawKey"
    else:
        assert "defaultKeyType" not in info[0]


def test_a_restart_forgets_the_previous_runs_tasks(testbed, workdir):
    """vCenter's Task objects belong to the server that runs them: after a
    restart, a task of the previous run is not found and recentTask lists
    none of them.  `vcsim -load` would restore a task saved mid-run as
    running forever.  Checked with pyvmomi."""
    from pyVmomi import vmodl
    v = testbed(vms=0, args=("-task-delay", "ReconfigVm=60000"))
    create(v, "rt-1", "-version", "vmx-13")
    si = connect(v)
    vm = find_vm(si, "rt-1")
    task = vm.ReconfigVM_Task(vim.vm.ConfigSpec(annotation="before the restart"))
    assert task.info.state == "running"
    tid = task._moId
    saved = os.path.join(workdir, "inventory")
    v.save(saved)
    Disconnect(si)
    v.kill()
    v.restart(saved)
    si = connect(v)
    try:
        old = vim.Task(tid, stub=si._stub)
        with pytest.raises(vmodl.fault.ManagedObjectNotFound):
            old.info.state
        assert tid not in [t._moId for t in find_vm(si, "rt-1").recentTask]
        assert tid not in [t._moId for t in si.content.taskManager.recentTask]
        # A new task runs and ends as before.
        fresh = find_vm(si, "rt-1").PowerOnVM_Task()
        WaitForTask(fresh)
        assert fresh._moId != tid
    finally:
        Disconnect(si)
