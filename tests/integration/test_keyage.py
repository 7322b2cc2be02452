"""How old each VM's key is, and who says so (issue #24, point 1): the
agent's evidence log, else vCenter's events for the VM, else the KMS's own
dates for the key (KMIP Get Attributes, asked of PyKMIP's server).  Keys
are put on VMs by pyvmomi (not the agent) where the source must not be the
agent; the expected dates come from outside the agent: vCenter's
VmReconfiguredEvent read by pyvmomi, the KMS's Initial Date read by
PyKMIP's own client."""
import json
import os
import ssl
import time

import pytest

from conftest import PASSWORD, USER, Agent, agent, wait_until
from test_kmstool import pki, pykmip  # noqa: F401 (fixtures)


def connect(v):
    from pyVim.connect import SmartConnect
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    return SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD,
                        sslContext=ssl.create_default_context(cafile=v.crt))


def vm_obj(si, name):
    from pyVmomi import vim
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder,
                                                      [vim.VirtualMachine], True)
    try:
        return next(x for x in view.view if x.name == name)
    finally:
        view.Destroy()


def encrypt_by_pyvmomi(v, name, key_id=None):
    """name encrypted by pyvmomi with key_id (else one GenerateKey gives),
    home and disks, powered off; returns (key id, the VmReconfiguredEvent's
    createdTime as unix time)."""
    from pyVim.connect import Disconnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim
    si = connect(v)
    try:
        prov = vim.encryption.KeyProviderId(id="ovh-kms")
        if key_id is None:
            r = si.RetrieveContent().cryptoManager.GenerateKey(keyProvider=prov)
            assert r.success and r.keyId.keyId, r
            key_id = r.keyId.keyId
        vmo = vm_obj(si, name)
        enc = vim.encryption.CryptoSpecEncrypt(cryptoKeyId=vim.encryption.CryptoKeyId(
            keyId=key_id, providerId=prov))
        WaitForTask(vmo.ReconfigVM_Task(vim.vm.ConfigSpec(crypto=enc)))
        assert vmo.config.keyId.keyId == key_id
        spec = vim.event.EventFilterSpec(
            entity=vim.event.EventFilterSpec.ByEntity(entity=vmo, recursion="self"),
            eventTypeId=["VmReconfiguredEvent"])
        evs = si.content.eventManager.QueryEvents(spec)
        when = [e.createdTime.timestamp() for e in evs
                if getattr(e.configSpec, "crypto", None) is not None]
        assert when, "vCenter posted no VmReconfiguredEvent with the crypto spec"
        return key_id, max(when)
    finally:
        Disconnect(si)


def inventory(cfg):
    r = agent("inventory", "--config", cfg, "--json")
    assert r.returncode == 0, r.stderr
    return {x["name"]: x for x in json.loads(r.stdout)["vms"]}, r.stderr


def test_key_age_from_the_agent_and_from_vcenter_events(testbed, workdir):
    v = testbed(vms=1)
    mine, theirs = "DC0_H0_VM0", "DC0_C0_RP0_VM0"
    # theirs: encrypted by pyvmomi before the agent ever ran.
    key, event_time = encrypt_by_pyvmomi(v, theirs)
    cfg = v.config(extra="  <enforce/>\n")
    # A plain VM has no key age.
    before = inventory(cfg)[0][mine]
    assert not before["encrypted"] and before["key_age_days"] is None
    assert before["key_age_source"] is None
    a = Agent(cfg, workdir)
    wait_until(lambda: inventory(cfg)[0][mine]["state"] == "compliant", 60,
               "the agent's VM compliant")
    a.stop()
    inv, _ = inventory(cfg)
    # The agent's own: its age starts at the completion vCenter recorded
    # for the agent's reconfigure (its VmReconfiguredEvent, read by pyvmomi).
    from pyVim.connect import Disconnect
    from pyVmomi import vim
    si = connect(v)
    try:
        spec = vim.event.EventFilterSpec(
            entity=vim.event.EventFilterSpec.ByEntity(entity=vm_obj(si, mine),
                                                      recursion="self"),
            eventTypeId=["VmReconfiguredEvent"])
        mine_t = max(e.createdTime.timestamp()
                     for e in si.content.eventManager.QueryEvents(spec))
    finally:
        Disconnect(si)
    now = time.time()
    assert inv[mine]["key_age_source"] == "agent"
    assert abs(inv[mine]["key_age_days"] * 86400 - (now - mine_t)) < 30
    assert inv[theirs]["keyId"] == key
    assert inv[theirs]["key_age_source"] == "vcenter-events"
    assert abs(inv[theirs]["key_age_days"] * 86400 - (now - event_time)) < 30


def kms_key(pki, port):
    """A symmetric key made on the KMS by PyKMIP's own client: (its unique
    identifier, its Initial Date as the KMS says it)."""
    from kmip.core import enums
    from kmip.pie.client import ProxyKmipClient
    c = ProxyKmipClient(hostname="127.0.0.1", port=port, cert=pki.cli, key=pki.cli_key,
                        ca=pki.ca, config_file="/dev/null")
    with c:
        uid = c.create(enums.CryptographicAlgorithm.AES, 256)
        attrs = c.get_attributes(uid, ["Initial Date"])[1]
    initial = next(a.attribute_value.value for a in attrs
                   if a.attribute_name.value == "Initial Date")
    return uid, float(initial)


def test_key_age_from_the_kms_when_vcenter_forgot(testbed, workdir, pki, pykmip):
    v = testbed(vms=1)
    name, unknown = "DC0_H0_VM0", "DC0_C0_RP0_VM0"
    uid, initial = kms_key(pki, pykmip)
    encrypt_by_pyvmomi(v, name, key_id=uid)
    encrypt_by_pyvmomi(v, unknown, key_id="no-such-key-on-the-kms")
    # vCenter restarted: its events are gone, the VMs keep their keys (as
    # VMs encrypted longer ago than vCenter keeps events).
    saved = os.path.join(workdir, "saved")
    v.save(saved)
    v.kill()
    v.restart(saved)
    client = (f'    <kmip-client address="127.0.0.1" port="{pykmip}" cert="{pki.cli}" '
              f'key="{pki.cli_key}" ca="{pki.ca}"/>\n')
    without = v.config(extra='  <kms cluster="ovh-kms"/>\n')
    inv, _ = inventory(without)
    assert inv[name]["keyId"] == uid
    assert inv[name]["key_age_days"] is None          # nobody says: not made up
    assert inv[name]["key_age_source"] is None
    cfg = v.config(extra=f'  <kms cluster="ovh-kms">\n{client}  </kms>\n')
    inv, err = inventory(cfg)
    assert inv[name]["key_age_source"] == "kms", err
    assert abs(inv[name]["key_age_days"] * 86400 - (time.time() - initial)) < 30
    # A key the KMS does not hold: its refusal said, the age unknown.
    assert inv[unknown]["key_age_days"] is None
    assert "no-such-key-on-the-kms" in err and "refused" in err, err
