#!/usr/bin/env python3
"""Soak (issue #8 point 8): the agent against vcsim while VMs are created
and destroyed for MINUTES (default 30) at RATE a second each way (default 5:
about 10 VM events a second, more with the agent's own reconfigurations).
Every 10 s the agent's RSS and /metrics are sampled.  Passes when RSS after
the warm-up (the first fifth, at most 5 min) grows by less than 4 MB and
5 %, the agent is still up, and every VM still there at the end is
compliant (checked with govc).  Prints one JSON line of results.

  PYTHONPATH=.deps/python python3 tests/soak/soak.py [MINUTES] [RATE]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from conftest import (TOOLS, Agent, Harness, Vcsim, compliance_all,  # noqa: E402
                      wait_until, with_kms)


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def main():
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="vmcrypt-soak-") as d:
        v = with_kms(Vcsim(vms=0, dirpath=d))
        h = Harness(v)
        a = Agent(v.config(), d)
        churn = subprocess.Popen(
            [os.path.join(TOOLS, "benchtool"), "churn", "-prefix", "soak", "-rate",
             str(rate), "-keep", "50", "-for", f"{int(minutes * 60)}s",
             "-timeout", f"{int(minutes * 60) + 600}s"],
            env=v.govc_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        samples = []
        try:
            while churn.poll() is None:
                time.sleep(10)
                if a.p.poll() is not None:
                    break
                samples.append((time.time() - t0, rss_kb(a.p.pid),
                                metric(v.metrics_port, "vmcrypt_events_total")))
            err = churn.communicate()[1]
            up = a.p.poll() is None
            ok_vms = False
            if up:
                def settled():
                    c = {n: ok for n, ok in compliance_all(v, h).items()
                         if n.startswith("soak-")}
                    return c and all(c.values())
                try:
                    wait_until(settled, 120, "every remaining VM compliant", step=2)
                    ok_vms = True
                except AssertionError:
                    pass
                a.stop()
        finally:
            if churn.poll() is None:
                churn.kill()
            a.kill()
            v.stop()
    warm = min(300.0, minutes * 60 / 5)
    after = [s for s in samples if s[0] >= warm]
    base = after[0][1] if after else 0
    peak = max(s[1] for s in after) if after else 0
    last = after[-1][1] if after else 0
    span = (after[-1][0] - after[0][0]) if len(after) > 1 else 0
    events = (after[-1][2] - after[0][2]) if len(after) > 1 else 0
    growth = last - base
    res = {"minutes": minutes, "rate": rate, "agent_up": up, "all_compliant": ok_vms,
           "rss_kb_after_warmup": base, "rss_kb_end": last, "rss_kb_peak": peak,
           "rss_growth_kb": growth, "events_per_s": round(events / span, 2) if span else 0,
           "churn": err.strip().splitlines()[-1] if err.strip() else ""}
    print(json.dumps(res))
    good = up and ok_vms and after and growth < 4096 and growth < 0.05 * base
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
