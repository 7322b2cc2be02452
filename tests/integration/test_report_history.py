"""report --since/--until from the evidence log (issue #23): compliance
per day and each VM's timeline, in JSON, CSV and an HTML chart rendered
by headless Chromium.  The log is written here, hash chain and all, with
states spread over five days (vCenter's events would not reach back; the
evidence does); the expected counts are computed here from the same
records."""
import csv
import datetime
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import agent
from test_report import CHROME_FLAGS, CHROMIUM, count_color, png_pixels

COLORS = {"compliant": (0x2e, 0x7d, 0x32), "pending": (0xf9, 0xa8, 0x25),
          "blocked": (0xc6, 0x28, 0x28)}


def vcenter_uuid(v):
    about = json.loads(v.govc("about", "-json"))
    about = about.get("about", about.get("About", about))
    return next(val for k, val in about.items() if k.lower() == "instanceuuid")


def write_log(d, vcenter, url, events):
    """events: (datetime, kind, fields) in order; the chain as the agent
    makes it: each line's "prev" the SHA-256 of the line before."""
    os.makedirs(d)
    prev, lines = "0" * 64, []
    for seq, (t, kind, fields) in enumerate(events, 1):
        rec = {"v": 1, "seq": seq, "prev": prev,
               "at": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "kind": kind,
               "agent": "test:/state#1", "vcenter": vcenter, "vc_url": url, **fields}
        line = json.dumps(rec, separators=(",", ":")).encode()
        prev = hashlib.sha256(line).hexdigest()
        lines.append(line)
    with open(os.path.join(d, "evidence-000001.jsonl"), "wb") as f:
        f.write(b"\n".join(lines) + b"\n")


def story(day0):
    at = lambda d, h: day0 + datetime.timedelta(days=d, hours=h)
    st = lambda vm, name, old, new: {"vm": vm, "name": name, "new": new,
                                     **({"old": old} if old else {}),
                                     "created": day0.strftime("%Y-%m-%dT00:00:00Z")}
    return [
        (at(0, 1), "open", {"version": "0.1.0"}),
        (at(0, 10), "state", st("vm-100", "h1", None, "pending")),
        (at(0, 11), "state", st("vm-100", "h1", "pending", "compliant")),
        (at(1, 12), "state", st("vm-101", "h2", None, "pending")),
        (at(2, 8), "state", st("vm-102", "h3", None, "blocked")),
        (at(2, 9), "state", st("vm-103", "h4", None, "compliant")),
        (at(3, 9), "state", st("vm-101", "h2", "pending", "compliant")),
        (at(4, 2), "state", st("vm-103", "h4", "compliant", "pending")),
        (at(4, 3), "close", {}),
    ]


def expected_days(events, day0, ndays):
    """VMs per state at the end of each day, from the records."""
    out = []
    for d in range(ndays):
        end = day0 + datetime.timedelta(days=d + 1)
        last = {}
        for t, kind, f in events:
            if kind == "state" and t < end:
                last[f["vm"]] = f["new"]
        counts = {}
        for s in last.values():
            counts[s] = counts.get(s, 0) + 1
        out.append(counts)
    return out


@pytest.fixture
def history(testbed, workdir):
    v = testbed(vms=0, kms=False)
    today = datetime.datetime.now(datetime.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0)
    day0 = today - datetime.timedelta(days=4)
    events = story(day0)
    d = os.path.join(workdir, "ev")
    write_log(d, vcenter_uuid(v), v.url, events)
    return v, v.config(), d, day0, events


def test_days_and_timelines_in_json_and_csv(history, workdir):
    v, cfg, d, day0, events = history
    since, until = day0.strftime("%Y-%m-%d"), (day0 + datetime.timedelta(days=4)).strftime(
        "%Y-%m-%d")
    out = os.path.join(workdir, "h.json")
    r = agent("report", "--config", cfg, "--evidence", d, "--since", since, "--until", until,
              "--format", "json", "--output", out)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(out))
    days = doc["history"]["days"]
    want = expected_days(events, day0, 5)
    assert [x["date"] for x in days] == [(day0 + datetime.timedelta(days=i)).strftime(
        "%Y-%m-%d") for i in range(5)]
    for got, exp in zip(days, want):
        assert {k: n for k, n in got["by_state"].items() if n} == exp, (got, exp)
        assert got["vms"] == sum(exp.values())
    tl = {x["name"]: [c["state"] for c in x["changes"]] for x in doc["history"]["timelines"]}
    assert tl == {"h1": ["pending", "compliant"], "h2": ["pending", "compliant"],
                  "h3": ["blocked"], "h4": ["compliant", "pending"]}
    # A period that starts later: h1's state at its start, no change in it.
    r = agent("report", "--config", cfg, "--evidence", d, "--since",
              (day0 + datetime.timedelta(days=2)).strftime("%Y-%m-%d"), "--format", "json")
    assert r.returncode == 0, r.stderr
    later = {x["name"]: x for x in json.loads(r.stdout)["history"]["timelines"]}
    assert later["h1"]["state_at_start"] == "compliant" and later["h1"]["changes"] == []
    assert len(json.loads(r.stdout)["history"]["days"]) == 3

    out = os.path.join(workdir, "h.csv")
    r = agent("report", "--config", cfg, "--evidence", d, "--since", since, "--until", until,
              "--format", "csv", "--output", out)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(os.path.join(workdir, "h.days.csv"), newline="")))
    assert len(rows) == 5
    for row, exp in zip(rows, want):
        assert {k: int(n) for k, n in row.items() if k not in ("date", "vms") and
                int(n)} == exp
    trows = list(csv.DictReader(open(os.path.join(workdir, "h.timeline.csv"), newline="")))
    assert [(t["name"], t["state"]) for t in trows if t["name"] == "h4"] == \
        [("h4", "compliant"), ("h4", "pending")]

    # Bad dates are usage errors.
    for args in (["--since", "2026-13-01"], ["--until", "yesterday"],
                 ["--since", until, "--until", since]):
        r = agent("report", "--config", cfg, "--evidence", d, *args)
        assert r.returncode == 2 and r.stderr.strip(), (args, r.stderr)


def test_a_log_of_another_vcenter_is_refused(history, workdir):
    v, cfg, d, day0, events = history
    other = os.path.join(workdir, "other")
    write_log(other, "11111111-2222-3333-4444-555555555555", "https://elsewhere/sdk", events)
    out = os.path.join(workdir, "x.json")
    r = agent("report", "--config", cfg, "--evidence", other, "--format", "json",
              "--output", out)
    assert r.returncode == 1 and other in r.stderr and "elsewhere" in r.stderr, r.stderr
    assert not os.path.exists(out)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_html_chart_of_compliance_per_day(history, workdir):
    v, cfg, d, day0, events = history
    out = os.path.join(workdir, "h.html")
    r = agent("report", "--config", cfg, "--evidence", d, "--since",
              day0.strftime("%Y-%m-%d"), "--output", out)
    assert r.returncode == 0, r.stderr
    html = open(out).read()
    assert '<svg id="days"' in html
    prof = os.path.join(workdir, "chromium")
    env = dict(os.environ, HOME=workdir)
    dom = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={prof}", "--dump-dom",
                          f"file://{out}"], capture_output=True, text=True, timeout=120,
                         env=env).stdout
    # One bar segment per day and state with VMs, as computed here.
    want = expected_days(events, day0, 5)
    assert dom.count('<rect class="day"') == sum(len(x) for x in want)
    for label in ("VMs", "day (UTC)", ">compliant<", ">pending<", ">blocked<"):
        assert label in dom, label
    # Rendered: the chart is the page's first thing below the VM table;
    # a tall window shows it all.
    shot = os.path.join(workdir, "history.png")
    r = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={prof}",
                        f"--screenshot={shot}", "--window-size=1280,1600",
                        "--hide-scrollbars", f"file://{out}"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert os.path.exists(shot), r.stderr
    img = png_pixels(shot)
    # Each state's colour is on the page in bars of some size (the
    # legend's squares are 14x14 = 196 pixels; the bars are far larger).
    for state, rgb in COLORS.items():
        assert count_color(img, rgb) > 800, (state, count_color(img, rgb))
    # More compliant than blocked VM-days: the green area is the larger.
    assert count_color(img, COLORS["compliant"]) > count_color(img, COLORS["blocked"])
    if os.environ.get("VMCRYPT_ARTIFACTS"):
        shutil.copy(shot, os.path.join(os.environ["VMCRYPT_ARTIFACTS"], "history.png"))
