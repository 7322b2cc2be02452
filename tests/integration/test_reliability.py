"""Faults production brings (issue #8), against vcsim, checked from outside:
the vCenter session killed server-side; vCenter going away and coming back;
secrets kept out of argv, logs and reports."""
import json
import os
import re
import signal
import threading
import time

import pytest

from conftest import (PASSWORD, SANITIZED, VALGRIND, Agent, Harness, agent,
                      compliance_all, compliant, create, wait_until)


@pytest.fixture
def vc(testbed):
    return testbed()


def agent_sessions(v):
    out = json.loads(v.govc("session.ls", "-json"))
    sessions = out.get("sessionList") or []
    return [s for s in sessions
            if "gSOAP" in (s.get("userAgent") or s.get("UserAgent") or "")]


@pytest.mark.api
def test_session_terminated_server_side(vc, workdir):
    """TerminateSession on the agent's session: the next call gets
    NotAuthenticated, the agent logs in again and carries on; nothing is
    lost (the VM created meanwhile ends compliant)."""
    h = Harness(vc)
    a = Agent(vc.config(), workdir)
    try:
        mine = agent_sessions(vc)
        assert mine, "the agent's session is not listed"
        killed = {s.get("key") or s.get("Key") for s in mine}
        for k in killed:
            vc.govc("session.rm", k)
        # The agent may already have logged in again (its watcher's next
        # call fails at once): what must be true is that the killed
        # sessions are gone, not that the agent has none.
        left = {s.get("key") or s.get("Key") for s in agent_sessions(vc)}
        assert not killed & left, (killed, left)
        t0 = time.time()
        create(vc, "after-terminate")
        wait_until(lambda: compliant(vc, h, "after-terminate"), 30,
                   "after-terminate compliant after the session was killed")
        took = time.time() - t0
        assert "session no longer valid, logging in again" in a.text()
        now = {s.get("key") or s.get("Key") for s in agent_sessions(vc)}
        assert now and not killed & now, ("no new session", killed, now)
        assert took < 10, took
        a.stop()
    finally:
        a.kill()
    assert PASSWORD not in a.text()


def test_secrets_not_in_argv_or_output(vc, workdir):
    """The password reaches the agent through a 0600 file; it is never in
    /proc/PID/cmdline or environ (the file is used), the logs, or a report."""
    pw = os.path.join(workdir, "vc.password")
    with open(pw, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(pw, 0o600)
    cfg = vc.config()
    text = open(cfg).read().replace(f'user="svc-vmcrypt"',
                                    f'user="svc-vmcrypt" password-file="{pw}"')
    with open(cfg, "w") as f:
        f.write(text)
    env_pw = os.environ.pop("VMCRYPT_VC_PASSWORD", None)
    try:
        a = Agent(cfg, workdir, env={"VMCRYPT_VC_PASSWORD": ""})
        try:
            cmdline = open(f"/proc/{a.p.pid}/cmdline", "rb").read()
            environ = open(f"/proc/{a.p.pid}/environ", "rb").read()
            assert PASSWORD.encode() not in cmdline
            assert PASSWORD.encode() not in environ
            a.stop()
        finally:
            a.kill()
        assert PASSWORD not in a.text()
        for fmt in ("json", "csv", "html"):
            r = agent("report", "--config", cfg, "--format", fmt, password=None)
            assert r.returncode == 0, r.stderr
            assert PASSWORD not in r.stdout + r.stderr
    finally:
        if env_pw is not None:
            os.environ["VMCRYPT_VC_PASSWORD"] = env_pw
    # Given in the environment: read once, then wiped from the process's
    # environment block (what /proc/PID/environ shows).
    a = Agent(vc.config(), workdir, name="agent-env.log")
    try:
        # (valgrind's launcher keeps its own copy of the original block,
        # which the agent cannot reach: checked without valgrind only.)
        if not VALGRIND:
            assert PASSWORD.encode() not in open(f"/proc/{a.p.pid}/environ", "rb").read()
        assert PASSWORD.encode() not in open(f"/proc/{a.p.pid}/cmdline", "rb").read()
        a.stop()
    finally:
        a.kill()


def test_session_cookie_never_logged(vc, workdir):
    """With debug logging on, through login, a remediation and logout, the
    session cookie (vcsim's session key, as govc session.ls shows it) and
    the password appear in neither the log nor /metrics."""
    import urllib.request
    h = Harness(vc)
    a = Agent(vc.config(), workdir, env={"VMCRYPT_DEBUG": "1"})
    try:
        keys = [s.get("key") or s.get("Key") for s in agent_sessions(vc)]
        assert keys and all(len(k) >= 16 for k in keys), keys
        create(vc, "cookie-1")
        wait_until(lambda: compliant(vc, h, "cookie-1"), 30, "cookie-1 compliant")
        with urllib.request.urlopen(f"http://127.0.0.1:{vc.metrics_port}/metrics",
                                    timeout=5) as r:
            page = r.read().decode()
        a.stop()
    finally:
        a.kill()
    text = a.text()
    assert "debug:" in text            # the most verbose level was on
    for secret in keys + [PASSWORD]:
        assert secret not in text and secret not in page, secret


def test_no_core_dump_carries_secrets(vc, workdir):
    """A crashing agent (SIGSEGV) leaves no core file, even when its parent
    allows cores: it holds the password and the session cookie.  Control: a
    plain process crashed the same way, in the same directory, does dump."""
    import resource
    import subprocess
    from conftest import BIN

    def allow_cores():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} does not write to the cwd")
    cores = lambda d: [f for f in os.listdir(d) if f.startswith("core")]
    ctl = os.path.join(workdir, "control")
    os.mkdir(ctl)
    p = subprocess.Popen(["sleep", "60"], cwd=ctl, preexec_fn=allow_cores)
    # Popen returns once the child has exec'd: it is `sleep`, cores allowed.
    assert open(f"/proc/{p.pid}/cmdline", "rb").read() == b"sleep\x0060\x00"
    p.send_signal(signal.SIGSEGV)
    p.wait()
    if not cores(ctl):
        pytest.skip("this machine writes no core even for a plain process")

    run = os.path.join(workdir, "crash")
    os.mkdir(run)
    log = open(os.path.join(run, "agent.log"), "w")
    env = {**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD}
    p = subprocess.Popen([BIN, "run", "--config", vc.config()], cwd=run, env=env,
                         stdout=log, stderr=log, preexec_fn=allow_cores)
    try:
        wait_until(lambda: "reconcile: " in open(log.name).read(), 30, "the agent running")
        limits = open(f"/proc/{p.pid}/limits").read()
        assert "0" == limits.split("Max core file size")[1].split()[0]
        p.send_signal(signal.SIGSEGV)
        rc = p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # ASan catches the signal itself and exits 1, ThreadSanitizer 66 (neither
    # dumps either).
    assert rc == -signal.SIGSEGV or ((SANITIZED or VALGRIND) and rc in (1, 66)), rc
    assert cores(run) == [], cores(run)


@pytest.mark.scale
def test_vcenter_hangs_then_recovers(testbed, workdir):
    """vCenter stops answering (SIGSTOP) for 60 s: calls time out, the loop
    stays responsive (/metrics answers at once throughout), /healthz says
    unhealthy; after SIGCONT it recovers by itself and a VM created then
    ends compliant."""
    import urllib.request

    def get(port, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
                return r.status
        except urllib.error.HTTPError as e:
            with e:
                return e.code

    v = testbed()
    h = Harness(v)
    cfg = v.config()
    text = open(cfg).read().replace('pbm-path="/pbm"', 'pbm-path="/pbm" timeout="10"')
    with open(cfg, "w") as f:
        f.write(text)
    port = v.metrics_port
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: get(port, "/healthz") == 200, 30, "healthy")
        os.kill(v.proc.pid, signal.SIGSTOP)
        t0 = time.time()
        worst = 0.0
        while time.time() - t0 < 60:
            t = time.time()
            assert get(port, "/metrics") == 200        # the loop never blocks
            worst = max(worst, time.time() - t)
            if get(port, "/healthz") == 503:
                break
            time.sleep(0.5)
        assert get(port, "/healthz") == 503, "still healthy with vCenter hung"
        became = time.time() - t0
        while time.time() - t0 < 60:
            t = time.time()
            assert get(port, "/metrics") == 200
            worst = max(worst, time.time() - t)
            time.sleep(1)
        assert worst < 1.0, worst
        os.kill(v.proc.pid, signal.SIGCONT)
        wait_until(lambda: get(port, "/healthz") == 200, 90, "healthy again after SIGCONT")
        create(v, "after-hang")
        wait_until(lambda: compliant(v, h, "after-hang"), 30, "after-hang compliant")
        assert became <= 55, became
        a.stop()
    finally:
        try:
            os.kill(v.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        a.kill()


@pytest.mark.scale
def test_kms_fails_30_percent_of_the_time(vc, workdir):
    """GenerateKey refused ("Cannot generate key") on 30 % of calls while
    40 VMs arrive: the breaker opens and closes again, attempts stay
    bounded, and every VM ends compliant."""
    import urllib.request
    from conftest import moref
    h = Harness(vc)
    a = Agent(vc.config(), workdir)
    try:
        h.fault("GenerateKey", "Cannot generate key", probability=0.3)
        names = [f"kf-{i:02d}" for i in range(40)]
        for n in names:
            create(vc, n)
        refs = {moref(vc, n): n for n in names}
        total = len(vc.govc("find", "/", "-type", "m").split())

        def all_compliant():
            with urllib.request.urlopen(f"http://127.0.0.1:{vc.metrics_port}/metrics",
                                        timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith('vmcrypt_vms{state="compliant"} '):
                        return int(line.split()[1]) == total
            return False
        wait_until(all_compliant, 300, "every VM compliant despite KMS faults", step=1)
        st = h.stats()
        text = a.text()
        assert "KMS unusable" in text and "KMS usable again" in text, text[-3000:]
        # Bounded: nobody gave up, and no VM took more than a few tasks
        # (required vMotion alone while the breaker was open, then encryption).
        assert "giving up" not in text
        # A KMS failure pauses the VM until the breaker closes; it is never
        # backed off on its own clock (5, 10, 20 ... 320 s: that outlasted
        # this test's 300 s once, with the KMS working again long before).
        assert not re.search(r"\): retry \d+ in", text), text[-3000:]
        assert max(st["reconfigs"][r] for r in refs) <= 3, st["reconfigs"]
        h.clear_faults()
        for n in names:            # checked from outside, every one
            assert compliant(vc, h, n), n
        a.stop()
    finally:
        a.kill()


def metric(port, name):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


@pytest.mark.scale
def test_vcenter_killed_and_restarted_during_burst(testbed, workdir):
    """Issue #8 point 1. 300 VMs are created by 4 concurrent govc clients.
    Part-way through, the agent falls behind (SIGSTOP), vCenter's inventory
    is saved with govc object.save, and vcsimd is SIGKILLed; it comes back
    5 s later on the same port from that inventory (vcsim -load: new
    sessions, collectors and tasks).  The agent reconnects with capped,
    jittered backoff, logs in again, recreates its collectors, catches up,
    and every one of the 300 ends compliant, checked with govc."""
    import threading
    from conftest import compliance_all
    v = testbed()
    h = Harness(v)
    a = None
    names = [f"burst-{i:03d}" for i in range(300)]
    lock, go = threading.Lock(), threading.Event()
    go.set()
    done, busy, errors = [], [0], []

    def creator(part):
        for n in part:
            while True:
                go.wait()
                with lock:
                    busy[0] += 1
                try:
                    create(v, n)
                    ok = True
                except RuntimeError as e:
                    ok = "already exists" in str(e)
                    if not ok and "connect" not in str(e).lower() and \
                            "refused" not in str(e).lower():
                        errors.append(str(e))
                finally:
                    with lock:
                        busy[0] -= 1
                if ok:
                    with lock:
                        done.append(n)
                    break
                time.sleep(0.5)       # vCenter is away: the client retries

    try:
        a = Agent(v.config(), workdir)
        threads = [threading.Thread(target=creator, args=(names[i::4],), daemon=True)
                   for i in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(done) >= 100, 120, "100 VMs created", step=0.1)
        a.p.send_signal(signal.SIGSTOP)        # the agent falls behind ...
        wait_until(lambda: len(done) >= 140, 120, "140 VMs created", step=0.1)
        go.clear()                              # ... creators pause for the save
        wait_until(lambda: busy[0] == 0, 60, "creations in flight to finish", step=0.05)
        saved = os.path.join(workdir, "inventory")
        v.save(saved)
        behind = [n for n, ok in compliance_all(v, h).items()
                  if n.startswith("burst-") and not ok]
        v.kill()                                # vCenter goes away
        killed_at = time.time()
        a.p.send_signal(signal.SIGCONT)
        go.set()                                # clients keep trying
        time.sleep(5)
        v.restart(saved)
        print(f"{len(done)} created when killed; {len(behind)} not yet compliant")
        assert len(behind) >= 30, behind       # real work was outstanding
        a.wait_log("event stream back; catching up on every VM", timeout=60)
        for t in threads:
            t.join(300)
        assert not errors, errors[:3]
        assert sorted(done) == names

        def all_ok():
            c = compliance_all(v, h)
            return all(c.get(n) for n in names) and all(c.values())
        try:
            wait_until(all_ok, 300, "all 300 VMs compliant after the restart", step=2)
        except AssertionError:
            bad = [n for n, ok in compliance_all(v, h).items() if not ok]
            import shutil
            shutil.copy(a.log, "/tmp/restart-agent.log")
            shutil.copy(v.log.name, "/tmp/restart-vcsimd.log")
            raise AssertionError(f"{len(bad)} not compliant: {bad[:20]}")
        took = time.time() - killed_at
        text = a.text()
        assert "session no longer valid, logging in again" in text
        # Capped, jittered backoff: every delay within 0.8x..1.2x of a
        # doubling step, none above 1.2 x 30 s.
        delays = [float(l.rsplit("retrying in ", 1)[1].split()[0])
                  for l in text.splitlines() if "watcher:" in l and "retrying in" in l]
        assert delays and max(delays) <= 36, delays
        assert metric(v.metrics_port, "vmcrypt_event_stream_reconnects_total") >= 1
        print(f"all 300 compliant {took:.1f} s after the kill; watcher delays {delays}")
        assert a.p.poll() is None
        a.stop()
    finally:
        go.set()
        if a:
            if a.p.poll() is None:
                a.p.send_signal(signal.SIGCONT)
            a.kill()
    assert PASSWORD not in a.text()


def test_restarted_agent_follows_the_task_it_left_running(testbed, workdir):
    """The agent is SIGKILLed right after it started a (3 s) ReconfigVM_Task.
    The next run finds the task in the VM's recentTask, follows it instead
    of reconfiguring again, and the VM ends compliant with exactly one
    reconfigure."""
    from conftest import moref
    v = testbed(vms=0, args=("-task-delay", "ReconfigVm=3000"))
    h = Harness(v)
    a = b = None
    try:
        create(v, "slow-1")
        ref = moref(v, "slow-1")
        cfg = v.config()
        a = Agent(cfg, workdir, wait=f"VM slow-1 ({ref}): encrypt")
        a.wait_log("; ReconfigVM_Task task-")
        a.kill()
        assert not compliant(v, h, "slow-1")      # the task is still running
        b = Agent(cfg, workdir, name="agent2.log", wait="is already running on it")
        b.wait_log(f"VM slow-1 ({ref}): compliant", timeout=30)
        assert compliant(v, h, "slow-1")
        assert h.stats()["reconfigs"][ref] == 1, h.stats()["reconfigs"]
        b.stop()
    finally:
        for x in (a, b):
            if x:
                x.kill()


def test_task_lost_in_a_vcenter_restart_is_done_again(testbed, workdir):
    """vCenter restarts while the agent's ReconfigVM_Task runs.  The task
    does not survive the restart (the test bed, like vCenter, knows no task
    of the previous run), so the agent must not wait for it forever: the
    task counts as vanished, the VM is read again and reconfigured, and it
    ends compliant (checked with govc)."""
    from conftest import moref
    v = testbed(vms=0, args=("-task-delay", "ReconfigVm=8000"))
    h = Harness(v)
    a = None
    try:
        create(v, "lost-1")
        ref = moref(v, "lost-1")
        a = Agent(v.config(), workdir, wait=f"VM lost-1 ({ref}): encrypt")
        a.wait_log("; ReconfigVM_Task task-")
        saved = os.path.join(workdir, "inventory")
        v.save(saved)                       # saved while the task runs
        v.kill()
        v.restart(saved)
        assert not compliant(v, h, "lost-1")
        a.wait_log("task vanished before it finished", timeout=60)
        wait_until(lambda: compliant(v, h, "lost-1"), 90, "lost-1 compliant after the restart")
        a.stop()
    finally:
        if a:
            a.kill()


CHECKPOINT_RE = r"\Avmcrypt-agent checkpoint 1\nkey (\d+)\ntime (\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d))\n\Z"


@pytest.mark.scale
@pytest.mark.asan_skip
def test_sigkill_20_times_during_a_500_vm_burst(testbed, workdir):
    """Issue #8 point 5. 500 VMs are created by 4 concurrent govc clients
    while the agent is SIGKILLed at 20 random moments and started again at
    once (reconfigure tasks take 300 ms, so kills land with tasks in
    flight).  Every checkpoint left behind is whole; in the end all 500 are
    compliant (checked with govc) and no VM was reconfigured twice."""
    import random
    import re
    import threading
    from conftest import compliance_all
    v = testbed(vms=0, args=("-task-delay", "ReconfigVm=300"))
    h = Harness(v)
    names = [f"k-{i:03d}" for i in range(500)]
    done, errors = [], []

    def creator(part):
        for n in part:
            try:
                create(v, n)
                done.append(n)
            except RuntimeError as e:
                errors.append(str(e))

    cfg = v.config()
    cp_path = os.path.join(workdir, "checkpoint")
    rng = random.Random(int(os.environ.get("VMCRYPT_SEED", time.time())))
    agents, checkpoints = [], []
    try:
        agents.append(Agent(cfg, workdir, name="agent-00.log"))
        threads = [threading.Thread(target=creator, args=(names[i::4],), daemon=True)
                   for i in range(4)]
        for t in threads:
            t.start()
        for k in range(1, 21):
            time.sleep(rng.uniform(0.3, 3.0))
            agents[-1].kill()
            if os.path.exists(cp_path):
                text = open(cp_path).read()
                assert re.match(CHECKPOINT_RE, text), f"torn checkpoint after kill {k}: {text!r}"
                checkpoints.append(int(re.match(CHECKPOINT_RE, text).group(1)))
            agents.append(Agent(cfg, workdir, name=f"agent-{k:02d}.log", wait=None))
        for t in threads:
            t.join(300)
        assert not errors, errors[:3]
        assert len(done) == 500

        def all_ok():
            c = compliance_all(v, h)
            return all(c.get(n) for n in names)
        try:
            wait_until(all_ok, 300, "all 500 VMs compliant", step=2)
        except AssertionError:
            from conftest import moref, vm_state
            bad = sorted(n for n, ok in compliance_all(v, h).items() if not ok)
            detail = [(n, moref(v, n), vm_state(v, n), h.profile(moref(v, n)))
                      for n in bad[:3]]
            raise AssertionError(f"{len(bad)} not compliant: {bad[:20]}: {detail}")
        st = h.stats()["reconfigs"]
        twice = {r: n for r, n in st.items() if n > 1}
        assert not twice, f"reconfigured more than once: {twice}"
        adopted = sum(open(a.log).read().count("is already running on it") for a in agents)
        print(f"20 kills; {len(st)} VMs reconfigured once each; {adopted} running tasks "
              f"adopted after a restart; checkpoints {checkpoints}")
        agents[-1].stop()
    finally:
        for a in agents:
            a.kill()


def test_reload_while_enforcing(vc, workdir):
    """SIGHUP every 20 ms while VMs are created and enforced: each reload
    swaps the configuration while pool threads (enforce jobs, the reconcile
    scan each reload starts) work with it.  Each job keeps the snapshot it
    started with, so every VM still ends compliant and the agent stops
    cleanly (under `make SANITIZE=thread integration-tsan` a data race
    makes that exit status 66)."""
    h = Harness(vc)
    a = Agent(vc.config(), workdir)
    names = [f"hup-{i:02d}" for i in range(16)]
    stop = threading.Event()
    sent = [0]

    def hup():
        while not stop.is_set() and a.p.poll() is None:
            a.p.send_signal(signal.SIGHUP)
            sent[0] += 1
            time.sleep(0.02)

    t = threading.Thread(target=hup)
    t.start()
    try:
        for n in names:
            create(vc, n)
        wait_until(lambda: all(compliance_all(vc, h).get(n) for n in names), 60,
                   "every VM compliant", step=0.5)
        stop.set()
        t.join()
        assert a.p.poll() is None, a.text()[-3000:]
        assert a.text().count("configuration reloaded") >= 50, a.text()[-3000:]
    finally:
        stop.set()
        t.join()
        a.stop()
    print(f"{sent[0]} SIGHUPs; all {len(names)} VMs compliant")
