"""vmcrypt-agent benchmarks (`make bench`; not part of `make check`).

Every figure is measured in one run against one vcsimd, side by side with
the contender it is compared with, and reported as a ratio, because
absolute times on a shared machine drift.  Times come from vCenter's own
records where they exist: CreateVM_Task's completeTime, the arrival of the
ReconfigVM_Task at the server (recorded by vcsimd's front), and the moment
a watcher on the server's property collector sees the VM compliant.

  python3 tests/bench/bench.py [--quick] [--only latency,burst,catchup,idle,cost,scale]
                               [--baseline OTHER_BINARY]

scale is the scaling curve up to vCenter's maximum inventory: 1,000 to
45,000 VMs (1,000 to 10,000 with --quick), one line per size and a plot,
build/bench/scale.png (gnuplot).
With --baseline, every section runs twice in the same run, first with
OTHER_BINARY (an agent built before a change), then with this one, so that
before and after are measured side by side on the same machine state.

Results: build/bench/results.json, and a summary on stdout.
"""
import argparse
import json
import os
import platform
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import conftest  # noqa: E402  (the test bed: Vcsim, agent configs)
from conftest import PASSWORD, Vcsim, with_kms  # noqa: E402

BIN = conftest.BIN
TOOLS = conftest.TOOLS
BENCHTOOL = os.path.join(TOOLS, "benchtool")
OUT = os.path.abspath(os.path.join(HERE, "..", "..", "build", "bench"))


CHILDREN = []


def reap():
    """No benchmark leaves a process behind, whatever happened."""
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def summary(xs):
    return {"n": len(xs), "p50": pct(xs, 50), "p99": pct(xs, 99), "max": max(xs) if xs else None,
            "mean": statistics.fmean(xs) if xs else None}


def bt(v, *args, wait=True, **kw):
    cmd = [BENCHTOOL, *args]
    if wait:
        r = subprocess.run(cmd, env=v.govc_env(), capture_output=True, text=True, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"benchtool {' '.join(args)}: {r.stderr}")
        return r
    p = subprocess.Popen(cmd, env=v.govc_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    CHILDREN.append(p)
    return p


def records(path):
    return [json.loads(l) for l in open(path) if l.strip()]


class Front:
    def __init__(self, v):
        self.base = v.url.rsplit("/sdk", 1)[0]
        self.ctx = ssl.create_default_context(cafile=v.crt)

    def stats(self):
        with urllib.request.urlopen(self.base + "/harness/stats", context=self.ctx) as r:
            return json.loads(r.read())

    def reset(self):
        req = urllib.request.Request(self.base + "/harness/stats", method="DELETE")
        urllib.request.urlopen(req, context=self.ctx).read()

    def fast_stats(self, reset=False):
        req = urllib.request.Request(self.base + "/harness/fast-collector",
                                     method="DELETE" if reset else "GET")
        with urllib.request.urlopen(req, context=self.ctx) as r:
            return None if reset else json.loads(r.read())

    def warm(self, paths):
        """The fast collector renders every VM for these paths now."""
        req = urllib.request.Request(self.base + "/harness/fast-collector?paths=" +
                                     ",".join(paths), method="POST")
        with urllib.request.urlopen(req, context=self.ctx, timeout=3600) as r:
            return json.loads(r.read())


def agent_calls(front, n):
    """The agent's calls per VM, by method, and the simulator's wall time
    serving them, from the front's counts (gSOAP clients only)."""
    st = front.stats()
    out = {}
    for k, c in st.get("call_by", {}).items():
        who, _, m = k.partition("/")
        if who == "agent":
            out[m] = {"per_vm": round(c / n, 2),
                      "server_ms": round(st["call_ns"].get(k, 0) / 1e6, 1)}
    return out


class AgentProc:
    def __init__(self, v, d, name, extra_tail="", valgrind=None, cmd="run", once=False,
                 args=()):
        self.port = conftest.free_port()
        self.cfg = v.config(tail=extra_tail + (
            f'  <metrics listen="127.0.0.1:{self.port}"/>\n' if not once else ""))
        self.log = open(os.path.join(d, name + ".log"), "w")
        argv = [BIN, cmd, "--config", self.cfg, *args]
        if valgrind:
            argv = valgrind + argv
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                  env=dict(os.environ, VMCRYPT_VC_PASSWORD=PASSWORD))
        CHILDREN.append(self.p)
        self.t0 = time.time()

    def text(self):
        return open(self.log.name).read()

    def wait_for(self, s, timeout=600):
        deadline = time.time() + timeout
        while s not in self.text():
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"agent: no {s!r}:\n{self.text()[-3000:]}")
            time.sleep(0.02)

    def status(self):
        out = {}
        for l in open(f"/proc/{self.p.pid}/status"):
            k, _, v = l.partition(":")
            out[k] = v.strip()
        return out

    def cpu_seconds(self):
        f = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def latencies(front, created):
    st = front.stats()
    at, done = st["reconfig_at"], st["reconfig_done"]
    issued, compliant = [], []
    for r in records(created):
        m = r["moref"]
        if m in at:
            issued.append((at[m] - r["created_ns"]) / 1e6)
        if m in done:
            compliant.append((done[m] - r["created_ns"]) / 1e6)
    return summary(issued), summary(compliant)


def shares(front, created):
    """Each reaction (creation to the agent's ReconfigVM_Task arriving)
    split from the front's timeline of the agent's calls:
      the simulator's share: from the creation to the end of the first
        WaitForUpdatesEx answer after it (vCenter's delivery of the change),
        plus the time the simulator spent serving the agent's other calls
        before the reconfigure (reads, GenerateKey);
      the agent's share: the rest, the time between an answer and its next
        request (decoding, deciding, building requests, the loopback).
    Returns {"total", "simulator", "agent"} summaries and, for the VMs at
    p50/p90/p99 of the total, their split."""
    with urllib.request.urlopen(front.base + "/harness/timeline", context=front.ctx) as r:
        tl = json.loads(r.read())
    at = front.stats()["reconfig_at"]
    waits = sorted(e for m, a, e in tl if m == "WaitForUpdatesEx")
    busy_calls = [(a, e) for m, a, e in tl if m != "WaitForUpdatesEx"]
    import bisect
    rows, calls = [], {}
    for rec in records(created):
        c, r = rec["created_ns"], at.get(rec["moref"])
        if r is None:
            continue
        i = bisect.bisect_right(waits, c)
        if i == len(waits) or waits[i] > r:
            continue                      # not woken by an update: not split
        tu = waits[i]
        spans = sorted((max(a, tu), min(e, r)) for a, e in busy_calls if e > tu and a < r)
        busy, cur_a, cur_e = 0, None, None
        for a, e in spans:                # the union of the server's busy spans
            if cur_e is None or a > cur_e:
                if cur_e is not None:
                    busy += cur_e - cur_a
                cur_a, cur_e = a, e
            else:
                cur_e = max(cur_e, e)
        if cur_e is not None:
            busy += cur_e - cur_a
        rows.append(((r - c) / 1e6, (tu - c + busy) / 1e6, (r - tu - busy) / 1e6,
                     (tu - c) / 1e6, busy / 1e6))
        for m, a, e in tl:
            if a >= tu and a < r:
                calls[m] = calls.get(m, 0) + 1
    out = {"split": len(rows),
           "total": summary([x[0] for x in rows]),
           "simulator": summary([x[1] for x in rows]),
           "agent": summary([x[2] for x in rows]),
           # the simulator's share in two: delivering the change, serving
           # the agent's calls (which, per reaction, are calls_per_vm)
           "simulator_delivery": summary([x[3] for x in rows]),
           "simulator_serving": summary([x[4] for x in rows]),
           "calls_per_vm": {m: round(c / max(len(rows), 1), 2) for m, c in sorted(calls.items())}}
    by_total = sorted(rows)
    for p in (50, 90, 99):
        if by_total:
            t, sm, ag, _, _ = by_total[min(len(by_total) - 1, int(round(p / 100 * (len(by_total) - 1))))]
            out[f"at_p{p}"] = {"total_ms": t, "simulator_ms": sm, "agent_ms": ag}
    return out


def wait_done(front, created, n, timeout):
    """Until the front has seen n of these VMs' reconfigurations succeed;
    returns the time the last one did (ns)."""
    morefs = {r["moref"] for r in records(created)}
    deadline = time.time() + timeout
    while True:
        done = {m: t for m, t in front.stats()["reconfig_done"].items() if m in morefs}
        if len(done) >= n:
            return max(done.values())
        if time.time() > deadline:
            raise RuntimeError(f"{len(done)} of {n} compliant after {timeout} s")
        time.sleep(0.25)


# ---------------------------------------------------------------- 1

def bench_latency(d, n):
    v = with_kms(Vcsim(vms=1, dirpath=d, strict=False))
    front = Front(v)
    res = {}
    try:
        for who in ("agent", "poller"):
            prefix = "lat" if who == "agent" else "pol"
            if who == "agent":
                a = AgentProc(v, d, "agent-latency")
                a.wait_for("reconcile: ")
            else:
                a = bt(v, "poller", "-prefix", prefix, "-n", str(n), wait=False)
            time.sleep(1)
            t0 = time.time()
            created = f"{d}/{who}-create.jsonl"
            bt(v, "create", "-n", str(n), "-c", "1", "-prefix", prefix, "-o", created)
            wait_done(front, created, n, 300)
            log(f"latency/{who}: {n} sequential creations, all compliant after "
                f"{time.time() - t0:.1f} s")
            if who == "agent":
                a.stop()
            else:
                a.wait(600)
            issued, compliant = latencies(front, created)
            res[who] = {"to_task_issued_ms": issued, "to_compliant_ms": compliant}
            if who == "agent":
                sh = res[who]["shares"] = shares(front, created)
                log(f"latency/agent: to task issued p50 {issued['p50']:.1f} ms, p99 "
                    f"{issued['p99']:.1f} ms; of which the agent's own share p50 "
                    f"{sh['agent']['p50']:.1f} ms, p99 {sh['agent']['p99']:.1f} ms, the "
                    f"simulator's p50 {sh['simulator']['p50']:.1f} ms, p99 "
                    f"{sh['simulator']['p99']:.1f} ms ({sh['split']} of {n} split)")
                log(f"latency/agent: the simulator's share: delivering the change p50 "
                    f"{sh['simulator_delivery']['p50']:.1f} ms, p99 "
                    f"{sh['simulator_delivery']['p99']:.1f} ms; serving the agent's calls "
                    f"p50 {sh['simulator_serving']['p50']:.1f} ms, p99 "
                    f"{sh['simulator_serving']['p99']:.1f} ms; calls per reaction "
                    f"{sh['calls_per_vm']}")
                for p in (50, 90, 99):
                    x = sh.get(f"at_p{p}")
                    if x:
                        log(f"latency/agent: the reaction at p{p}: {x['total_ms']:.1f} ms = "
                            f"simulator {x['simulator_ms']:.1f} + agent {x['agent_ms']:.1f}")
    finally:
        v.stop()
    res["ratio_p99_issued_poller_over_agent"] = (res["poller"]["to_task_issued_ms"]["p99"] /
                                                 res["agent"]["to_task_issued_ms"]["p99"])
    res["ratio_p50_compliant_poller_over_agent"] = (
        res["poller"]["to_compliant_ms"]["p50"] / res["agent"]["to_compliant_ms"]["p50"])
    return res


# ---------------------------------------------------------------- 2

def bench_burst(d, n, loop_sample):
    v = with_kms(Vcsim(vms=1, dirpath=d, strict=False))
    res = {}
    try:
        # The agent: 8 clients create n VMs; until the last is compliant.
        front = Front(v)
        a = AgentProc(v, d, "agent-burst")
        a.wait_for("reconcile: ")
        time.sleep(1)
        front.reset()
        t0 = time.time()
        created = f"{d}/burst-create.jsonl"
        bt(v, "create", "-n", str(n), "-c", "8", "-prefix", "bur", "-o", created)
        t_created = time.time() - t0
        t_agent = wait_done(front, created, n, 1800) / 1e9 - t0
        calls = agent_calls(front, n)
        cpu = a.cpu_seconds()
        a.stop()
        log(f"burst/agent: CPU {cpu:.2f} s ({1000 * cpu / n:.2f} ms per VM)")
        log("burst/agent calls per VM: " + ", ".join(
            f"{m} {c['per_vm']} ({c['server_ms']:.0f} ms)" for m, c in sorted(calls.items())))
        log(f"burst/agent: {n} VMs created in {t_created:.1f} s, all compliant at {t_agent:.1f} s")
        # (a) the floor: the same creations, each remediated at once, 8 at a time.
        t0 = time.time()
        bt(v, "floor", "-n", str(n), "-c", "8", "-prefix", "flo", "-o", f"{d}/floor.jsonl")
        t_floor = wait_done(front, f"{d}/floor.jsonl", n, 60) / 1e9 - t0
        log(f"burst/floor: {t_floor:.1f} s")
        # (b) a sequential loop of one-shot commands over existing VMs; timed
        # on a sample and scaled (it is strictly sequential, so linear).
        bt(v, "create", "-n", str(loop_sample), "-c", "8", "-prefix", "loo")
        t0 = time.time()
        for i in range(loop_sample):
            bt(v, "one", "-vm", f"loo-{i:05d}")
        t_loop_sample = time.time() - t0
        t_loop = t_loop_sample * n / loop_sample
        log(f"burst/loop: {loop_sample} VMs in {t_loop_sample:.1f} s -> {t_loop:.1f} s for {n}")
        res = {"vms": n, "clients": 8, "agent_s": t_agent, "agent_calls": calls, "creation_only_s": t_created,
               "agent_cpu_s": cpu,
               "floor_s": t_floor, "loop_sample": loop_sample,
               "loop_sample_s": t_loop_sample, "loop_s_scaled": t_loop,
               "agent_over_floor": t_agent / t_floor, "loop_over_agent": t_loop / t_agent}
    finally:
        v.stop()
    return res


# ---------------------------------------------------------------- 3, 4

def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for l in r.read().decode().splitlines():
            if l.startswith(name + " ") or l.startswith(name + "{"):
                return float(l.rsplit(" ", 1)[1])
    return None


SCALE_SIZES = (1000, 5000, 10000, 20000, 45000)
SCALE_SIZES_QUICK = (1000, 5000, 10000)


def bench_scale(d, sizes):
    """The scaling curve up to vCenter's maximum inventory (45,000 VMs):
    at each size, a fresh simulator, the agent's start-up scan (wall time,
    the agent's CPU per VM, peak RSS over the whole catch-up) and the time
    to every VM compliant.  Targets at 45,000: scan under 10 s, at most
    30 us of agent CPU per VM, peak RSS under 64 MB (issue #26).

    The agent's CPU per VM is the whole process's CPU from its start to
    the scan's end (login, configuration, KMS checks included), over the
    VMs scanned: what the agent spent to know every VM's state."""
    curve = []
    for n in sizes:
        sub = os.path.join(d, f"n{n}")
        os.makedirs(sub)
        r = bench_catchup_idle(sub, n // 2, 0, dry_runs=2)
        # The median of three start-up scans: two dry runs, then the real
        # one (whose peak RSS covers the whole catch-up).
        samples = r["dry_scans"] + [(r["scan_thread_wall_s"], r["scan_thread_cpu_s"],
                                     r["scan_process_cpu_s"])]
        r["scan_samples"] = samples
        r["scan_wall_median_s"] = statistics.median(x[0] for x in samples)
        r["cpu_us_per_vm"] = 1e6 * statistics.median(x[2] for x in samples) / r["vms"]
        r["cpu_us_per_vm_samples"] = [1e6 * x[2] / r["vms"] for x in samples]
        curve.append(r)
        print(f"scale/agent: {r['vms']} VMs: scan {r['scan_wall_median_s']:.2f} s, agent CPU "
              f"{r['cpu_us_per_vm']:.1f} us per VM, peak RSS {r['peak_rss_mb']:.1f} MB",
              flush=True)
        reap()
    res = {"curve": curve}
    try:
        res["plot"] = scale_plot(curve)
    except (OSError, subprocess.CalledProcessError) as e:
        log(f"scale: no plot: {e}")
    return res


def scale_plot(curve):
    """build/bench/scale.png with gnuplot (Debian's gnuplot-nox): scan time
    and agent CPU per VM (left), peak RSS (right), against the VM count."""
    dat = os.path.join(OUT, "scale.dat")
    png = os.path.join(OUT, "scale.png")
    with open(dat, "w") as f:
        f.write("# vms scan_s cpu_us_per_vm peak_rss_mb\n")
        for r in curve:
            f.write(f"{r['vms']} {r['scan_wall_median_s']:.3f} {r['cpu_us_per_vm']:.2f} "
                    f"{r['peak_rss_mb']:.1f}\n")
    script = f"""
set terminal png size 900,540 font ",10"
set output "{png}"
set title "vmcrypt-agent start-up scan against vcsimd -fast-collector"
set xlabel "VMs in vCenter"
set ylabel "scan wall time (s), agent CPU per VM (us)"
set y2label "peak RSS (MB)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
set grid
plot "{dat}" using 1:2 with linespoints lw 2 lc rgb "#7b3294" title "scan wall time (s)", \\
     "{dat}" using 1:3 with linespoints lw 2 lc rgb "#1b7837" title "agent CPU per VM (us)", \\
     "{dat}" using 1:4 axes x1y2 with linespoints lw 2 lc rgb "#2166ac" title "peak RSS (MB, right)", \\
     30 with lines dt 2 lc rgb "#1b7837" title "target: 30 us per VM", \\
     10 with lines dt 2 lc rgb "#7b3294" title "target: 10 s scan", \\
     64 axes x1y2 with lines dt 2 lc rgb "#2166ac" title "target: 64 MB (right)"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    log(f"scale: plot {png}")
    return png


# The scan benchmarks run vcsimd with its fast collector (issue #26): each
# VM's answer is rendered once, before the agent starts, so that the scan
# measures the agent, not vcsim's deep copy of every VM.
# BENCH_FAST_COLLECTOR=0: vcsim's own collector, as before.
FAST_COLLECTOR = os.environ.get("BENCH_FAST_COLLECTOR", "1") != "0"


def agent_vm_paths():
    """The agent's property set (agent/enforce/inventory.c inventory_vm_paths)."""
    src = open(os.path.join(HERE, "..", "..", "agent", "enforce", "inventory.c")).read()
    body = src.split("inventory_vm_paths[] = {", 1)[1].split("};", 1)[0]
    import re
    return re.findall(r'"([^"]+)"', body)


def scan_line(text, total):
    """run's "reconcile: scanned N VMs in W s, C s of CPU (U us per VM); the
    process's CPU so far P s": (W, C, P)."""
    for l in text.splitlines():
        if f"reconcile: scanned {total} VMs in" in l:
            w = l.split(" VMs in ", 1)[1].split()
            return float(w[0]), float(w[2]), float(l.rsplit(" ", 2)[1])
    raise RuntimeError(f"no scan line for {total} VMs")


def settle(v, limit_s=180):
    """Until vcsimd is idle (under 5 % of a core over 2 s): after making and
    rendering tens of thousands of VMs its Go runtime collects garbage for
    a while, and on this 2-vCPU machine a busy neighbour makes the agent's
    own CPU seconds for the same scan up to twice as many.  Returns the
    seconds waited."""
    t0 = time.time()
    stat = f"/proc/{v.proc.pid}/stat"

    def cpu():
        f = open(stat).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    while time.time() - t0 < limit_s:
        c0 = cpu()
        time.sleep(2)
        if cpu() - c0 < 0.1:
            break
    return time.time() - t0


def dry_scans(v, d, total, k):
    """k start-up scans by `run --dry-run` (nothing changes), stopped after
    each: the scan's wall time and CPU vary with this shared machine, so
    the scale curve takes the median of several."""
    out = []
    for i in range(k):
        a = AgentProc(v, d, f"agent-dry-{i}", args=("--dry-run",))
        a.wait_for(f"reconcile: scanned {total} VMs")
        out.append(scan_line(a.text(), total))
        a.stop()
    return out


def bench_catchup_idle(d, n_half, idle_s, dry_runs=0):
    fast = FAST_COLLECTOR
    # n_half per pool, 2 pools; made by 8 goroutines (the same VMs as
    # model.Create's, in a tenth of the time: vcsimd/bulkcreate.go).
    v = with_kms(Vcsim(vms=n_half, dirpath=d, start_timeout=3600, strict=False,
                       args=("-create-workers", "8") + (("-fast-collector",) if fast else ())))
    front = Front(v)
    total = len(v.govc("find", "/", "-type", "m").split())
    res = {"vms": total, "fast_collector": fast}
    try:
        if fast:
            t = time.time()
            paths = agent_vm_paths()
            front.warm(paths)      # `reconcile`'s scan, and run's (INV_LEAN: no devices)
            front.warm([p for p in paths if p != "config.hardware.device"])
            res["fast_collector_render_s"] = time.time() - t
            log(f"fast collector: {total} VMs rendered in {res['fast_collector_render_s']:.1f} s")
            front.fast_stats(reset=True)
        res["settle_s"] = settle(v)
        if dry_runs:
            res["dry_scans"] = dry_scans(v, d, total, dry_runs)
        front.reset()
        a = AgentProc(v, d, "agent-catchup")
        port = a.port
        a.wait_for(f"reconcile: {total} VMs")
        # What the scan cost: the agent's CPU, the simulator's time per method.
        scan_cpu = a.cpu_seconds()
        scan_calls = agent_calls(front, 1)
        log(f"catch-up scan: agent CPU {scan_cpu:.2f} s; server time: " + ", ".join(
            f"{m} x{c['per_vm']:.0f} {c['server_ms']:.0f} ms"
            for m, c in sorted(scan_calls.items())))
        res.update({"scan_agent_cpu_s": scan_cpu, "scan_calls": scan_calls})
        server_ms = sum(c["server_ms"] for m, c in scan_calls.items()
                        if m in ("RetrievePropertiesEx", "ContinueRetrievePropertiesEx"))
        res["scan_server_us_per_vm"] = 1000 * server_ms / total
        log(f"scan: server {server_ms:.0f} ms in the collector, "
            f"{res['scan_server_us_per_vm']:.1f} us per VM")
        if fast:
            fc = front.fast_stats()    # the scan's pages alone
            res["fast_collector"] = fc
            log(f"fast collector: {fc['objects']} objects in {fc['served_ns'] / 1e6:.0f} ms, "
                f"{fc['served_ns'] / 1e3 / max(fc['objects'], 1):.1f} us per VM, "
                f"{fc['rendered']} rendered again")
        a.wait_for(f"reconcile: scanned {total} VMs")
        txt = a.text()
        t_scan = None
        for l in txt.splitlines():
            if "watching events; reconciling every VM" in l:
                t_start = l.split(" ")[0]
            if f"reconcile: {total} VMs" in l:
                t_end = l.split(" ")[0]
        from datetime import datetime
        f = "%Y-%m-%dT%H:%M:%S.%fZ"
        t_scan = (datetime.strptime(t_end, f) - datetime.strptime(t_start, f)).total_seconds()
        (res["scan_thread_wall_s"], res["scan_thread_cpu_s"],
         res["scan_process_cpu_s"]) = scan_line(txt, total)
        t0 = a.t0
        while metric(port, 'vmcrypt_vms{state="compliant"}') != total:
            if a.p.poll() is not None:
                raise RuntimeError(a.text()[-3000:])
            time.sleep(0.5)
        t_conv = time.time() - t0
        st = a.status()
        res.update({"scan_s": t_scan, "converge_s": t_conv,
                    "peak_rss_mb": int(st["VmHWM"].split()[0]) / 1024,
                    "rss_after_mb": int(st["VmRSS"].split()[0]) / 1024})
        log(f"catch-up: {total} VMs scanned in {t_scan:.2f} s, compliant after {t_conv:.1f} s, "
            f"peak RSS {res['peak_rss_mb']:.1f} MB")
        if idle_s <= 0:
            a.stop()
            return res
        # Idle: nothing happens for idle_s.
        time.sleep(5)
        calls0 = front.stats()["calls"].get("WaitForUpdatesEx", 0)
        cpu0, rss0, t0 = a.cpu_seconds(), a.status()["VmRSS"], time.time()
        time.sleep(idle_s)
        cpu1, rss1, t1 = a.cpu_seconds(), a.status()["VmRSS"], time.time()
        calls1 = front.stats()["calls"].get("WaitForUpdatesEx", 0)
        res["idle"] = {"seconds": t1 - t0, "cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
                       "cpu_seconds": cpu1 - cpu0,
                       "rss_start_mb": int(rss0.split()[0]) / 1024,
                       "rss_end_mb": int(rss1.split()[0]) / 1024,
                       "wait_for_updates_calls": calls1 - calls0}
        log(f"idle: {res['idle']}")
        a.stop()
    finally:
        v.stop()
    return res


# ---------------------------------------------------------------- 5

def callgrind_total(path):
    for l in open(path):
        if l.startswith("summary:") or l.startswith("totals:"):
            return int(l.split()[1])
    raise RuntimeError("no totals in " + path)


def rusage_of(argv, env, timeout=3600):
    """CPU seconds (user + sys) a child used, from wait4's rusage."""
    # stderr to a file: a pipe nobody reads while waiting fills up and
    # blocks the child (it did, with 200 VMs of log lines under valgrind).
    with tempfile.TemporaryFile() as ef:
        p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=ef)
        CHILDREN.append(p)
        _, status, ru = os.wait4(p.pid, 0)
        ef.seek(0)
        err = ef.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]}: exit {p.returncode}: {err[-2000:]}")
    return ru.ru_utime + ru.ru_stime


def bench_cost(d, n):
    """CPU per remediation, the agent (one reconcile pass) against the floor
    client (the same reconfigurations, 8 at a time), same vcsim, same run.
    Both are measured as CPU seconds from rusage, and as instructions from
    callgrind (a run with VMs to fix minus a run with none, for each)."""
    v = with_kms(Vcsim(vms=1, dirpath=d, strict=False))
    res = {"vms": n}
    try:
        env_agent = dict(os.environ, VMCRYPT_VC_PASSWORD=PASSWORD)
        cfg = v.config(tail="")
        # vcsim's own 2 VMs and n new ones to remediate; then a pass with
        # nothing to do, subtracted as what is not remediation.
        bt(v, "create", "-n", str(n), "-c", "8", "-prefix", "cst")
        agent_cpu = rusage_of([BIN, "reconcile", "--config", cfg], env_agent)
        idle_cpu = rusage_of([BIN, "reconcile", "--config", cfg], env_agent)
        n_agent = n + 2
        bt(v, "create", "-n", str(n), "-c", "8", "-prefix", "fcs")
        floor_cpu = rusage_of([BENCHTOOL, "fix", "-prefix", "fcs", "-c", "8"], v.govc_env())
        res.update({"agent_cpu_s": agent_cpu, "agent_idle_pass_cpu_s": idle_cpu,
                    "agent_cpu_ms_per_vm": 1000 * (agent_cpu - idle_cpu) / n_agent,
                    "floor_cpu_s": floor_cpu, "floor_cpu_ms_per_vm": 1000 * floor_cpu / n})
        res["agent_over_floor_cpu"] = res["agent_cpu_ms_per_vm"] / res["floor_cpu_ms_per_vm"]
        # Instructions, the agent only: n more VMs, one pass under callgrind,
        # minus an idle pass under callgrind.
        bt(v, "create", "-n", str(n), "-c", "8", "-prefix", "cgr")
        vg = ["valgrind", "--tool=callgrind"]
        out = f"{d}/agent.callgrind"
        rusage_of(vg + [f"--callgrind-out-file={out}", BIN, "reconcile", "--config", cfg],
                  env_agent)
        out0 = f"{d}/agent0.callgrind"
        rusage_of(vg + [f"--callgrind-out-file={out0}", BIN, "reconcile", "--config", cfg],
                  env_agent)
        ir, ir0 = callgrind_total(out), callgrind_total(out0)
        res.update({"agent_instructions_pass": ir, "agent_instructions_idle_pass": ir0,
                    "agent_instructions_per_vm": (ir - ir0) / n})
        # The floor the same way: n VMs under callgrind, minus a run that
        # finds none.  Go runs under valgrind once its signal-based
        # preemption is off (GODEBUG=asyncpreemptoff=1).
        bt(v, "create", "-n", str(n), "-c", "8", "-prefix", "cgf")
        env_go = dict(v.govc_env(), GODEBUG="asyncpreemptoff=1")
        fout, fout0 = f"{d}/floor.callgrind", f"{d}/floor0.callgrind"
        rusage_of(vg + [f"--callgrind-out-file={fout}", BENCHTOOL, "fix", "-prefix", "cgf",
                        "-c", "8"], env_go)
        rusage_of(vg + [f"--callgrind-out-file={fout0}", BENCHTOOL, "fix", "-prefix",
                        "nothing-", "-c", "8"], env_go)
        fir, fir0 = callgrind_total(fout), callgrind_total(fout0)
        res.update({"floor_instructions_run": fir, "floor_instructions_idle_run": fir0,
                    "floor_instructions_per_vm": (fir - fir0) / n})
        res["agent_over_floor_instructions"] = (res["agent_instructions_per_vm"] /
                                                res["floor_instructions_per_vm"])
        log(f"cost: agent {res['agent_cpu_ms_per_vm']:.2f} ms CPU/VM "
            f"({res['agent_instructions_per_vm']:.0f} instructions/VM), floor "
            f"{res['floor_cpu_ms_per_vm']:.2f} ms CPU/VM "
            f"({res['floor_instructions_per_vm']:.0f} instructions/VM)")
    finally:
        v.stop()
    return res


# ---------------------------------------------------------------- HA

def bench_ha(d, n_vms, kills, idle_s):
    """Issue #17: the takeover after SIGKILL (from the kill to the new
    leader's first action: the front receiving the ReconfigVM_Task of a VM
    created right after the kill; and to the new leader's log line), over
    `kills` kills with the default lease (15 s) and heartbeat (5 s); and
    what a standby costs beside the leader (CPU, RSS, calls per minute),
    idle, with n_vms VMs in the inventory."""
    v = with_kms(Vcsim(vms=n_vms // 2, dirpath=d, start_timeout=600, strict=False))
    front = Front(v)
    res = {"vms": len(v.govc("find", "/", "-type", "m").split()), "lease_s": 15,
           "heartbeat_s": 5}
    agents = []

    def start(i):
        """Agent i, with its own state directory (one agent per directory)."""
        sd = os.path.join(d, f"state{i}")
        os.makedirs(sd, exist_ok=True)
        a = AgentProc.__new__(AgentProc)
        a.port = conftest.free_port()
        a.cfg = v.config(state=sd, tail=f'  <metrics listen="127.0.0.1:{a.port}"/>\n')
        a.log = open(os.path.join(d, f"agent-ha{i}.log"), "w")
        a.p = subprocess.Popen([BIN, "run", "--config", a.cfg], stdout=a.log, stderr=a.log,
                               env=dict(os.environ, VMCRYPT_VC_PASSWORD=PASSWORD))
        a.t0 = time.time()
        CHILDREN.append(a.p)
        agents.append(a)
        return a

    def calls():
        return sum(x["per_vm"] for x in agent_calls(front, 1).values())

    def settled(a, timeout=1200):
        """Until the agent has nothing pending and no task running."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{a.port}/metrics", timeout=10) as r:
                m = r.read().decode()
            if 'vmcrypt_vms{state="pending"} 0\n' in m and "vmcrypt_tasks_in_flight 0\n" in m:
                return
            time.sleep(1)
        raise RuntimeError("the agent did not settle")

    try:
        # 1. The leader alone, idle: its calls per minute.
        lead = start(0)
        lead.wait_for("leader: holding the lease", 120)
        lead.wait_for("reconcile: ", 600)
        settled(lead)           # every VM encrypted: the idle begins
        time.sleep(5)
        front.reset()
        c0 = lead.cpu_seconds()
        time.sleep(idle_s)
        alone = calls()
        res["leader_alone"] = {"cpu_s_per_min": round((lead.cpu_seconds() - c0) * 60 / idle_s, 3),
                               "calls_per_min": round(alone * 60 / idle_s, 1),
                               "rss_mb": int(lead.status()["VmRSS"].split()[0]) / 1024}
        # 2. A standby beside it, idle: the difference is the standby's.
        sb = start(1)
        sb.wait_for("standby: ", 120)
        sb.wait_for("reconcile: ", 600)
        settled(lead)
        time.sleep(5)
        front.reset()
        c0, c1 = lead.cpu_seconds(), sb.cpu_seconds()
        time.sleep(idle_s)
        both = calls()
        res["leader"] = {"cpu_s_per_min": round((lead.cpu_seconds() - c0) * 60 / idle_s, 3),
                         "rss_mb": round(int(lead.status()["VmRSS"].split()[0]) / 1024, 1)}
        res["standby"] = {"cpu_s_per_min": round((sb.cpu_seconds() - c1) * 60 / idle_s, 3),
                          "rss_mb": round(int(sb.status()["VmRSS"].split()[0]) / 1024, 1),
                          "calls_per_min": round((both - alone) * 60 / idle_s, 1)}
        log(f"ha: leader alone {res['leader_alone']}; leader {res['leader']}; "
            f"standby {res['standby']}")
        # 3. Kills: the leader SIGKILLed, a VM created at once; the standby
        # takes over and reconfigures it.  The killed one comes back as the
        # next standby.
        to_action = []
        for k in range(kills):
            old, new = (lead, sb)
            old.p.kill()
            old.p.wait()
            t_kill = time.time_ns()
            name = f"ha-kill-{k}"
            bt(v, "create", "-n", "1", "-c", "1", "-prefix", name, "-o",
               os.path.join(d, name + ".jsonl"))
            ref = records(os.path.join(d, name + ".jsonl"))[0]["moref"]
            deadline = time.time() + 120
            while ref not in front.stats()["reconfig_at"]:
                if time.time() > deadline:
                    raise RuntimeError(f"no takeover action within 120 s (kill {k})")
                time.sleep(0.05)
            to_action.append((front.stats()["reconfig_at"][ref] - t_kill) / 1e9)
            new.wait_for("taken over from", 60)
            lead, sb = new, start(2 + k)
            sb.wait_for("standby: ", 120)
            log(f"ha: kill {k}: first action {to_action[-1]:.1f} s after the kill")
        if to_action:
            res["takeover_to_first_action_s"] = {
                "n": len(to_action), "p50": round(pct(to_action, 50), 2),
                "max": round(max(to_action), 2), "all": [round(x, 2) for x in to_action]}
        return res
    finally:
        for a in agents:
            a.stop()
        v.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, a short idle")
    ap.add_argument("--only", default="latency,burst,catchup,idle,cost,scale,ha")
    ap.add_argument("--baseline", metavar="BIN",
                    help="also run every section with this agent binary, before this one")
    a = ap.parse_args()
    only = set(a.only.split(","))
    q = a.quick
    os.makedirs(OUT, exist_ok=True)
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                           "python": platform.python_version()},
               "agent": subprocess.run([BIN, "version"], capture_output=True,
                                       text=True).stdout.strip(),
               "quick": q}
    import atexit
    atexit.register(reap)
    if a.baseline:
        results["baseline"] = {"agent": os.path.abspath(a.baseline)}

    def run_one(name, fn, d, args):
        """A failed section is recorded and the others still run.  Each has
        its own directory (its own vcsimd, certificate and URL file)."""
        os.makedirs(d)
        try:
            return fn(d, *args)
        except Exception as e:          # noqa: BLE001 -- reported, not hidden
            log(f"{name}: FAILED: {e}")
            return {"error": str(e)}
        finally:
            reap()

    def section(name, fn, d, *args):
        global BIN
        if a.baseline:
            mine, BIN = BIN, os.path.abspath(a.baseline)
            log(f"== {name}: baseline {BIN}")
            try:
                results["baseline"][name] = run_one(name, fn, os.path.join(d, name + "-base"),
                                                    args)
            finally:
                BIN = mine
            log(f"== {name}: {BIN}")
        results[name] = run_one(name, fn, os.path.join(d, name), args)

    with tempfile.TemporaryDirectory(prefix="vmcrypt-bench-") as d:
        if "latency" in only:
            section("latency", bench_latency, d, 50 if q else 300)
        if "burst" in only:
            section("burst", bench_burst, d, 200 if q else 1000, 20 if q else 50)
        if "catchup" in only or "idle" in only:
            section("catchup", bench_catchup_idle, d, 1000 if q else 5000,
                    int(os.environ.get("BENCH_IDLE_SECONDS", 60 if q else 600)))
        if "cost" in only:
            section("cost", bench_cost, d, 50 if q else 200)
        if "scale" in only:
            section("scale", bench_scale, d, SCALE_SIZES_QUICK if q else SCALE_SIZES)
        if "ha" in only:
            section("ha", bench_ha, d, 200 if q else 1000,
                    int(os.environ.get("BENCH_HA_KILLS", 3 if q else 10)), 30 if q else 120)
    path = os.path.join(OUT, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    log(f"results: {path}")


if __name__ == "__main__":
    main()
