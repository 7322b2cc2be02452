"""`inventory --json` against vcsim, every field checked against govc."""
import json
import os
import pytest

from conftest import agent

PROPS = ["name", "parent", "config.version", "config.template", "config.keyId",
         "config.migrateEncryption", "config.ftEncryptionMode",
         "runtime.powerState", "snapshot", "config.hardware.device"]


def govc_view(v):
    """What govc says about every VM, keyed by moref, in the agent's terms."""
    vms = {}
    for o in v.govc_json_stream("object.collect", "-json", "-type", "VirtualMachine", "/", *PROPS):
        p = {c["name"]: c.get("val") for c in o.get("changeSet", [])}
        devs = p.get("config.hardware.device") or {}
        devs = devs.get("_value", []) if isinstance(devs, dict) else devs
        # govc's JSON drops xsi:type here; only VirtualDisk has capacityInKB.
        disks = [d for d in devs if "capacityInKB" in d]
        key = p.get("config.keyId")
        vms[o["obj"]["value"]] = {
            "name": p.get("name"),
            "hardwareVersion": p.get("config.version"),
            "powerState": p.get("runtime.powerState"),
            "template": bool(p.get("config.template")),
            "encrypted": key is not None,
            "keyId": key["keyId"] if key else None,
            "migrateEncryption": p.get("config.migrateEncryption"),
            "ftEncryptionMode": p.get("config.ftEncryptionMode"),
            "snapshot": p.get("snapshot") is not None,
            "disks": [(d["key"], d["backing"].get("fileName"),
                       d["backing"].get("keyId") is not None) for d in disks],
        }
    # Folder path: govc's inventory path of each VM, minus the VM's own name.
    paths = v.govc("find", "/", "-type", "m").splitlines()
    morefs = v.govc("find", "-i", "/", "-type", "m").splitlines()
    for path, ref in zip(paths, morefs):
        vms[ref.split(":", 1)[1]]["folder"] = path.rsplit("/", 1)[0]
    return vms


def agent_view(v, extra_args=()):
    r = agent("inventory", "--config", v.config(), "--json", *extra_args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["count"] == len(doc["vms"])
    out = {}
    for vm in doc["vms"]:
        out[vm["moref"]] = {
            "name": vm["name"], "hardwareVersion": vm["hardwareVersion"],
            "powerState": vm["powerState"], "template": vm["template"],
            "encrypted": vm["encrypted"], "keyId": vm["keyId"],
            "migrateEncryption": vm["migrateEncryption"],
            "ftEncryptionMode": vm["ftEncryptionMode"], "snapshot": vm["snapshot"],
            "disks": [(d["key"], d["file"], d["encrypted"]) for d in vm["disks"]],
            "folder": vm["folder"],
        }
    return out, doc


@pytest.mark.api
def test_inventory_fields_equal_govc_with_varied_vms(vcsim):
    v = vcsim
    v.govc("kms.add", "-n", "kms-1", "-a", "127.0.0.1", "-p", "5696", "ovh-kms")
    v.govc("kms.default", "ovh-kms")
    v.govc("vm.change", "-vm", "DC0_H0_VM0", "-migrate-encryption", "required")
    v.govc("snapshot.create", "-vm", "DC0_H0_VM1", "before-change")
    v.govc("folder.create", "/DC0/vm/prod")
    v.govc("vm.create", "-on=false", "-version", "vmx-11", "-host", "DC0_H0", "-net", "VM Network",
           "-folder", "/DC0/vm/prod", "old-hw11")
    v.govc("vm.power", "-on", "DC0_C0_RP0_VM0")
    mine, doc = agent_view(v)
    theirs = govc_view(v)
    assert set(mine) == set(theirs)
    for ref in theirs:
        assert mine[ref] == theirs[ref], ref
    byname = {vm["name"]: vm for vm in doc["vms"]}
    assert byname["old-hw11"]["hardwareVersion"] == "vmx-11"
    assert byname["old-hw11"]["folder"] == "/DC0/vm/prod"
    assert byname["DC0_H0_VM0"]["migrateEncryption"] == "required"
    assert byname["DC0_H0_VM1"]["snapshot"] is True
    assert byname["DC0_C0_RP0_VM0"]["powerState"] == "poweredOn"


@pytest.mark.api
def test_inventory_home_policy_equals_govc(vcsim):
    """VM home policy as SPBM reports it, against govc's vm.policy.ls.
    vcsim associates no policy at creation (govc reports "None" too), so this
    checks the SPBM path end to end and agreement, not a non-empty value."""
    v = vcsim
    v.govc("vm.create", "-on=false", "-host", "DC0_H0", "-net", "VM Network",
           "-profile", "VM Encryption Policy", "with-policy")
    _, doc = agent_view(v)
    for vm in doc["vms"]:
        assoc = json.loads(v.govc("vm.policy.ls", "-vm", vm["name"], "-json"))
        home = [a for a in assoc if a["id"]["objectType"] == "virtualMachine"][0]
        want = None if not home["policyID"] else {"id": home["policyID"], "name": home["policyName"]}
        assert vm["homePolicy"] == want, vm["name"]


@pytest.mark.scale
def test_inventory_2000_vms_paged(testbed):
    v = testbed(vms=1000, kms=False)      # 1 host + 1 cluster pool = 2,000 VMs
    mine, doc = agent_view(v, ("--page-size", "300"))
    assert doc["count"] == 2000
    theirs = govc_view(v)
    assert len(theirs) == 2000
    diff = [(ref, k, mine[ref].get(k), theirs[ref].get(k)) for ref in theirs
            for k in theirs[ref] if mine[ref].get(k) != theirs[ref].get(k)]
    assert diff == []


@pytest.mark.api
def test_inventory_table(vcsim):
    r = agent("inventory", "--config", vcsim.config())
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("NAME")
    assert "DC0_H0_VM0" in r.stdout and r.stdout.rstrip().endswith("4 VMs")
