"""`vmcrypt-agent policy ensure` (issue #16): the encryption storage
policy created through SPBM when it is missing, checked with govc
(storage.policy.info: SPBM's own view) and by the agent then using it."""
import json

import pytest

from conftest import (POLICY, Harness, agent, compliant, create, with_kms)


def ensure(cfg, *args):
    r = agent("policy", "ensure", "--config", cfg, "--json", *args)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def govc_policy(v, name):
    """SPBM's view of a policy through govc: its id and rule capabilities,
    or None."""
    try:
        out = json.loads(v.govc("storage.policy.info", "-json", name))
    except Exception:
        return None
    p = out["policies"][0]["profile"]
    caps = [c["id"] for sp in p["constraints"]["subProfiles"] for c in sp["capability"]]
    return p["profileId"]["uniqueId"], caps


@pytest.mark.api
def test_missing_policy_created_verified_and_used(vcsim, workdir):
    v = with_kms(vcsim)
    v.govc("storage.policy.rm", "VM Encryption Policy")
    cfg = v.config()
    c = json.loads(agent("check", "--config", cfg, "--json").stdout)
    pol = [x for x in c["checks"] if x["id"] == "encryption-policy"][0]
    assert pol["result"] == "fail" and "vmcrypt-agent policy ensure" in pol["fix"]

    r, doc = ensure(cfg, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["result"] == "would-create"
    assert govc_policy(v, "VM Encryption Policy") is None

    r, doc = ensure(cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["result"] == "created"
    pid, caps = govc_policy(v, "VM Encryption Policy")
    assert doc["id"] == pid
    assert {"namespace": "com.vmware.storageprofile.dataservice",
            "id": "ad5a249d-cbc2-43af-9366-694d7664fa52"} in caps

    # A second run changes nothing.
    r, doc = ensure(cfg)
    assert r.returncode == 0 and doc["result"] == "unchanged" and doc["id"] == pid
    assert agent("check", "--config", cfg).returncode == 0

    # And the agent encrypts with it: home and disks carry the new policy.
    h = Harness(v)
    create(v, "after-ensure", "-version", "vmx-15")
    assert agent("reconcile", "--config", cfg).returncode == 0
    ref = v.govc("ls", "-i", "vm/after-ensure").strip().split(":")[-1]
    assert h.profile(ref) == pid


@pytest.mark.api
def test_policy_of_that_name_that_does_not_encrypt_is_left_alone(vcsim):
    v = with_kms(vcsim)
    v.govc("storage.policy.create", "-category", "tag", "-tag", "gold", "Gold")
    cfg = v.config(extra='  <encryption-policy name="Gold"/>\n')
    r, doc = ensure(cfg)
    assert r.returncode == 1, r.stdout + r.stderr
    assert doc["result"] == "failed" and "is not an encryption policy" in doc["detail"]
    assert "left as it is" in doc["fix"]
    pid, caps = govc_policy(v, "Gold")
    assert all(c["namespace"] != "com.vmware.storageprofile.dataservice" for c in caps)

    # Only an id, which SPBM does not have: cannot be created by id.
    cfg = v.config(extra='  <encryption-policy id="0badc0de-0000-4000-8000-000000000001"/>\n')
    r, doc = ensure(cfg)
    assert r.returncode == 1 and "by name, not id" in doc["fix"]
