"""Issue #17: several agents against one vCenter, exactly one acting.

The lease lives in vCenter (a custom field per epoch, AddCustomFieldDef
being atomic, and a heartbeat value on the root folder).  Every scenario
is checked from outside the agents: govc and the harness's call counts say
which VMs are compliant, how many times each was reconfigured and how many
keys were generated; govc reads the lease fields."""
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (BIN, PASSWORD, Agent, Harness, compliance_all, create,
                      free_port, moref, wait_until)

LEASE, BEAT = 4, 1
# <enforce max-in-flight>'s default: the jobs an agent runs at once.
IN_FLIGHT = 8


def agent(v, workdir, i, wait="reconcile: "):
    """Agent i: its own state directory, metrics port and log."""
    d = os.path.join(workdir, f"state{i}")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    cfg = v.config(state=d, tail=f'  <metrics listen="127.0.0.1:{port}"/>\n'
                   f'  <ha lease-seconds="{LEASE}" heartbeat-seconds="{BEAT}"/>\n')
    a = Agent(cfg, workdir, name=f"agent{i}.log", wait=wait)
    a.port, a.cfg = port, cfg
    return a


def group(v, workdir, n, agents):
    """Agent 1 takes the lease (epoch 1), agents 2..n start as standbys;
    each is appended to agents as it starts (the caller stops them)."""
    a = agent(v, workdir, 1)
    agents.append(a)
    a.wait_log("leader: holding the lease (epoch 1)")
    for i in range(2, n + 1):
        agents.append(agent(v, workdir, i, wait="standby: "))
    return agents


def metrics(a):
    with urllib.request.urlopen(f"http://127.0.0.1:{a.port}/metrics", timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#") and "{" not in line:
                k, val = line.rsplit(" ", 1)
                out[k] = float(val)
        return out


def healthz(a):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{a.port}/healthz", timeout=5) as r:
            return r.read().decode()
    except OSError as e:
        return str(e)


def burst(v, names, threads=4):
    """Creates names with concurrent govc clients; returns the threads."""
    errors = []

    def creator(part):
        for n in part:
            try:
                create(v, n)
            except RuntimeError as e:
                errors.append(str(e))
    ts = [threading.Thread(target=creator, args=(names[i::threads],), daemon=True)
          for i in range(threads)]
    for t in ts:
        t.start()
    return ts, errors


def issued(a):
    return a.text().count("; ReconfigVM_Task task-")


def check_exactly_once(v, h, names, agents, cut_short=0):
    """Every VM compliant (govc), reconfigured exactly once, one key each,
    and no error or warning about a VM in any agent's log.  cut_short: the
    leader was stopped (SIGKILL, SIGSTOP) in the middle of its jobs; each
    of them (IN_FLIGHT at most) may have asked for its key already, and
    vCenter answers a call it was sent whether or not the caller lives to
    use the key.  Nobody else asks for a key twice."""
    def all_ok():
        c = compliance_all(v, h)
        return all(c.get(n) for n in names)
    wait_until(all_ok, 400, f"all {len(names)} VMs compliant", step=2)
    st = h.stats()
    refs = {n: moref(v, n) for n in names[:5]}
    for n, ref in refs.items():
        assert st["reconfigs"].get(ref) == 1, (n, st["reconfigs"].get(ref))
    counts = sorted(st["reconfigs"].values())
    assert counts and counts[-1] == 1, counts[-10:]
    assert len(st["reconfigs"]) == len(names), (len(st["reconfigs"]), len(names))
    gk = st["calls"].get("GenerateKey")
    assert len(names) <= gk <= len(names) + cut_short, (gk, len(names), cut_short)
    for a in agents:
        bad = [l for l in a.text().splitlines()
               if (" error: " in l or "InvalidState" in l or "ConcurrentAccess" in l)]
        assert not bad, bad[:5]


def lease_fields(v):
    return [l.split()[1] for l in v.govc("fields.ls").splitlines()
            if "vmcrypt-agent.lease." in l]


@pytest.mark.scale
@pytest.mark.asan_skip
def test_two_agents_one_acts_through_a_200_vm_burst(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    agents = []
    try:
        a, b = group(v, workdir, 2, agents)
        assert "holds the lease" in b.text()
        # Healthy once each one's event stream is live, saying its role.
        wait_until(lambda: "; leader (lease epoch 1)" in healthz(a), 30, "a: healthy leader")
        wait_until(lambda: "; standby (lease held by " in healthz(b), 30, "b: healthy standby")
        assert metrics(a)["vmcrypt_leader"] == 1 and metrics(b)["vmcrypt_leader"] == 0
        names = [f"ha-{i:03d}" for i in range(200)]
        ts, errors = burst(v, names)
        for t in ts:
            t.join(600)
        assert not errors, errors[:3]
        check_exactly_once(v, h, names, agents)
        assert issued(a) == 200 and issued(b) == 0, (issued(a), issued(b))
        # The standby kept up: it saw the events and its table is warm.
        assert metrics(b)["vmcrypt_events_total"] >= 200
        assert metrics(b)["vmcrypt_lease_age_seconds"] < LEASE
        # The audit events name the acting agent (govc reads them; a new VM,
        # the burst's oldest events have left vcsim's bounded history).
        create(v, "ha-audit")
        me = a.text().split("lease: this agent is ")[1].split(";")[0]
        wait_until(lambda: f"completed" in v.govc("events", "-n", "50", "vm/ha-audit"), 60,
                   "the audit event on ha-audit")
        ev = v.govc("events", "-n", "50", "vm/ha-audit")
        assert f"(agent {me})" in ev, ev
        assert issued(b) == 0
        assert lease_fields(v) == ["vmcrypt-agent.lease.1"]
        a.stop()
        # A clean stop releases the lease: the standby takes it at once.
        b.wait_log("leader: holding the lease (epoch 2)", timeout=3 * BEAT + 2)
        assert lease_fields(v) == ["vmcrypt-agent.lease.2"]      # epoch 1 cleaned up
        b.stop()
    finally:
        for x in agents:
            x.kill()


@pytest.mark.scale
def test_leader_killed_mid_burst_one_of_two_standbys_takes_over(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    agents = []
    try:
        a = group(v, workdir, 3, agents)[0]
        names = [f"kill-{i:03d}" for i in range(200)]
        ts, errors = burst(v, names)
        wait_until(lambda: issued(a) >= 60, 300, "60 reconfigures by the leader", step=0.2)
        a.kill()
        killed = time.time()
        wait_until(lambda: any("taken over from" in x.text() for x in agents[1:]),
                   LEASE + 4 * BEAT + 10, "a standby to take over")
        took = time.time() - killed
        for t in ts:
            t.join(600)
        assert not errors, errors[:3]
        check_exactly_once(v, h, names, agents[1:], cut_short=IN_FLIGHT)
        new = [x for x in agents[1:] if "taken over from" in x.text()]
        assert len(new) == 1, [x.log for x in new]
        other = [x for x in agents[1:] if x is not new[0]][0]
        assert issued(other) == 0
        assert metrics(new[0])["vmcrypt_leader_failovers_total"] == 1
        assert "leader: catching up on every VM" in new[0].text()
        print(f"takeover {took:.1f} s after SIGKILL; leader issued {issued(a)}, "
              f"new leader {issued(new[0])}")
        for x in agents[1:]:
            x.stop()
    finally:
        for x in agents:
            x.kill()


@pytest.mark.scale
def test_leader_paused_past_its_lease_acts_on_nothing_after(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    agents = []
    try:
        a, b = group(v, workdir, 2, agents)
        names = [f"stop-{i:03d}" for i in range(120)]
        ts, errors = burst(v, names[:80])
        wait_until(lambda: issued(a) >= 30, 300, "30 reconfigures by the leader", step=0.2)
        a.p.send_signal(signal.SIGSTOP)
        b.wait_log("taken over from", timeout=LEASE + 4 * BEAT + 10)
        time.sleep(BEAT)            # on purpose: still paused a beat after the takeover
        a.p.send_signal(signal.SIGCONT)
        a.wait_log("standby: ", timeout=3 * BEAT + 5)
        # What the old leader logs from now on: nothing issued.
        mark = len(a.text())
        for t in ts:
            t.join(600)
        ts, more = burst(v, names[80:])
        for t in ts:
            t.join(600)
        assert not errors and not more, (errors + more)[:3]
        check_exactly_once(v, h, names, agents, cut_short=IN_FLIGHT)
        after = a.text()[mark:]
        assert "ReconfigVM_Task task-" not in after, after
        assert metrics(a)["vmcrypt_leader"] == 0
        assert metrics(b)["vmcrypt_leader"] == 1
        a.stop()
        b.stop()
    finally:
        for x in agents:
            if x.p.poll() is None:
                x.p.send_signal(signal.SIGCONT)
            x.kill()


def test_vcenter_restarted_under_a_pair_one_leader_after(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    agents = []
    try:
        group(v, workdir, 2, agents)
        saved = os.path.join(workdir, "inventory")
        v.save(saved)
        v.kill()
        time.sleep(2)               # on purpose: vCenter stays away for 2 s
        v.restart(saved)
        for x in agents:
            x.wait_log("event stream back; catching up on every VM", timeout=90)

        def leaders():
            return [x for x in agents if metrics(x)["vmcrypt_leader"] == 1]
        wait_until(lambda: len(leaders()) == 1, LEASE + 10 * BEAT, "one leader")
        first = leaders()[0]
        for _ in range(3 * LEASE):      # and it stays one, the same
            time.sleep(0.5)
            assert leaders() == [first]
        names = [f"after-{i}" for i in range(10)]
        ts, errors = burst(v, names, threads=2)
        for t in ts:
            t.join(300)
        assert not errors, errors[:3]
        check_exactly_once(v, h, names, [])
        for x in agents:
            x.stop()
    finally:
        for x in agents:
            x.kill()


def test_reconcile_beside_a_leader_refuses_and_acts_once_it_is_gone(testbed, workdir):
    v = testbed(vms=0)
    h = Harness(v)
    a = None
    try:
        a = agent(v, workdir, 1)
        a.wait_log("leader: holding the lease (epoch 1)")
        env = {**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD}
        r = subprocess.run([BIN, "reconcile", "--config", a.cfg], capture_output=True,
                           text=True, env=env, timeout=120)
        assert r.returncode == 1, r.stderr
        assert "another agent holds the lease" in r.stderr and "stop that agent" in r.stderr
        # A second `run` on the same state directory is refused outright.
        r = subprocess.run([BIN, "run", "--config", a.cfg], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 3, r.stderr
        assert f"is in use by another vmcrypt-agent (pid {a.p.pid})" in r.stderr
        a.stop()
        create(v, "later")
        r = subprocess.run([BIN, "reconcile", "--config", a.cfg], capture_output=True,
                           text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "leader: holding the lease (epoch 2)" in r.stderr
        c = compliance_all(v, h)
        assert c["later"], c
        assert lease_fields(v) == ["vmcrypt-agent.lease.2"]
    finally:
        if a:
            a.kill()


def test_without_the_custom_field_privilege_it_says_so_and_acts_on_nothing(testbed, workdir):
    """An account without Global.ManageCustomFields (an upgrade without the
    new privilege): vCenter answers AddCustomFieldDef with NoPermission.  The
    agent names the privilege and the way out, and changes nothing;
    <ha enabled="false"/> runs it as a single agent without a lease."""
    v = testbed(vms=0)
    h = Harness(v)
    a = b = None
    try:
        h.fault("AddCustomFieldDef", "Permission to perform this operation was denied.",
                fault="NoPermission", privilege="Global.ManageCustomFields")
        create(v, "np-1")
        a = agent(v, workdir, 1)
        a.wait_log("lacks Global.ManageCustomFields", timeout=3 * BEAT + 10)
        assert 'run a single agent with <ha enabled="false"/>' in a.text()
        time.sleep(2 * BEAT)        # on purpose: two heartbeats pass, nothing is done
        assert "ReconfigVM_Task" not in a.text()
        assert h.stats()["reconfigs"] == {}
        assert "; standby (lease held by nobody yet)" in healthz(a)
        a.stop()
        d = os.path.join(workdir, "state9")
        os.makedirs(d)
        cfg = v.config(state=d, tail=f'  <metrics listen="127.0.0.1:{free_port()}"/>\n'
                       '  <ha enabled="false"/>\n')
        b = Agent(cfg, workdir, name="agent9.log")
        wait_until(lambda: compliance_all(v, h).get("np-1"), 60, "np-1 compliant")
        assert "lease" not in b.text()
        b.stop()
    finally:
        for x in (a, b):
            if x:
                x.kill()
