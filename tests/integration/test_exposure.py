"""The evidence log as `run` writes it, and each VM's exposure window
(issue #23): how long a VM ran unencrypted, from its creation to the
completion of the reconfigure that made it compliant.  Measured from
outside: each VM's config.createDate read with govc, the completion of its
reconfigure from the test bed (the simulator's own task object), compared
with what `inventory --json` says within 1 s."""
import datetime
import json
import os
import re
import subprocess
import time

from conftest import PASSWORD, Agent, Harness, compliance_all, create, wait_until


def iso(t):
    """xsd:dateTime (2026-12-07T18:35:30.685Z) or govc's Go time
    (2026-12-07 18:35:30.685173848 +0000 UTC) as unix time."""
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?", t.strip())
    assert m, t
    base = datetime.datetime.fromisoformat(f"{m[1]}T{m[2]}+00:00").timestamp()
    return base + (float(m[3]) if m[3] else 0.0)


def confirmed(a, names):
    """The agent read each VM back as compliant (what closes its window in
    the log; a stop before that leaves it to the next start)."""
    text = a.text()
    return all(re.search(rf"VM {re.escape(n)} \(vm-\d+\): compliant", text) for n in names)


def created_times(v, names):
    """{name: unix time} of config.createDate, by govc."""
    out = {}
    for n in names:
        t = v.govc("object.collect", "-s", f"vm/{n}", "config.createDate").strip()
        out[n] = iso(t)
    return out


def inventory(cfg):
    r = subprocess.run([os.environ["VMCRYPT_BIN"], "inventory", "--config", cfg, "--json"],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stderr
    return {vm["name"]: vm for vm in json.loads(r.stdout)["vms"]}, r.stderr


def test_exposure_of_50_vms_across_a_stop_matches_what_vcenter_saw(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    cfg = v.config()
    first = [f"exp-a{i:02d}" for i in range(25)]
    later = [f"exp-b{i:02d}" for i in range(25)]
    a = Agent(cfg, workdir)
    for n in first:
        create(v, n)
    wait_until(lambda: all(compliance_all(v, h).get(n) for n in first), 120,
               "the first 25 VMs compliant")
    wait_until(lambda: confirmed(a, first), 60, "the first 25 confirmed by the agent")
    a.stop()
    # Created while the agent is down: their windows hold the downtime.
    for n in later:
        create(v, n)
    time.sleep(3)                          # the downtime itself (time passes on purpose)
    a = Agent(cfg, workdir, name="agent2.log")
    wait_until(lambda: all(compliance_all(v, h).get(n) for n in later), 120,
               "the later 25 VMs compliant")
    wait_until(lambda: confirmed(a, later), 60, "the later 25 confirmed by the agent")
    a.stop()
    created = created_times(v, first + later)
    done = h.stats()["reconfig_done"]          # moref -> unix ns, the simulator's task
    inv, err = inventory(cfg)
    assert "evidence" not in err, err
    worst = 0.0
    for n in first + later:
        vm = inv[n]
        assert vm["exposure"] == "measured", (n, vm["exposure"])
        outside = done[vm["moref"]] / 1e9 - created[n]
        worst = max(worst, abs(vm["exposure_seconds"] - outside))
        assert abs(vm["exposure_seconds"] - outside) <= 1.0, (n, vm["exposure_seconds"], outside)
    # The downtime is in the later VMs' windows.
    assert min(inv[n]["exposure_seconds"] for n in later) >= 3.0
    assert worst <= 1.0


def test_vms_compliant_before_the_agent_saw_them_get_no_window(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    cfg = v.config()
    create(v, "pre-1")
    a = Agent(cfg, workdir)
    wait_until(lambda: compliance_all(v, h).get("pre-1"), 60, "pre-1 compliant")
    wait_until(lambda: confirmed(a, ["pre-1"]), 60, "pre-1 confirmed")
    a.stop()
    # A second state directory: an agent that first sees pre-1 compliant.
    other = os.path.join(workdir, "other")
    os.makedirs(other)
    cfg2 = v.config(state=other)
    a = Agent(cfg2, workdir, name="agent-other.log")
    a.stop()
    inv, _ = inventory(cfg2)
    assert inv["pre-1"]["exposure"] == "compliant-before-seen"
    assert inv["pre-1"]["exposure_seconds"] is None
    inv, _ = inventory(cfg)
    assert inv["pre-1"]["exposure"] == "measured"


def test_the_log_is_a_chain_of_what_happened(testbed, workdir):
    """One VM's story, read back from the files: open, its state change,
    the reconfigure issued with its key, its end with vCenter's time, the
    state it reached; every record carrying the hash of the one before."""
    import hashlib
    v = testbed(vms=0)
    h = Harness(v)
    cfg = v.config()
    a = Agent(cfg, workdir)
    create(v, "story-1")
    wait_until(lambda: compliance_all(v, h).get("story-1"), 60, "story-1 compliant")
    wait_until(lambda: confirmed(a, ["story-1"]), 60, "story-1 confirmed")
    a.stop()
    d = os.path.join(workdir, "evidence")
    lines = []
    for f in sorted(os.listdir(d)):
        lines += open(os.path.join(d, f), "rb").read().splitlines()
    recs = [json.loads(x) for x in lines]
    prev = "0" * 64
    for raw, r in zip(lines, recs):
        assert r["prev"] == prev
        prev = hashlib.sha256(raw).hexdigest()
    assert recs[0]["kind"] == "open" and recs[-1]["kind"] == "close"
    mine = [r for r in recs if r.get("name") == "story-1" or r.get("vm") ==
            next((x["vm"] for x in recs if x.get("name") == "story-1"), None)]
    kinds = [(r["kind"], r.get("new") or r.get("result")) for r in mine]
    assert ("state", "pending") in kinds and ("action", "issued") in kinds
    assert ("action", "done") in kinds and kinds[-1] == ("state", "compliant"), kinds
    issued = next(r for r in mine if r.get("result") == "issued")
    assert issued["provider"] == "ovh-kms" and issued["key_id"] and issued["task"]
    done = next(r for r in mine if r.get("result") == "done")
    assert done["task"] == issued["task"] and done["vc_time"]
    assert all(r["vcenter"] == recs[0]["vcenter"] for r in recs)
