"""`vmcrypt-agent report` against vcsim: states agree with `inventory`,
last actions agree with the audit events govc reads from vCenter, CSV
parses (and cannot inject formulas), and the HTML report, opened offline in
headless Chromium, shows the chart and the table (DOM and screenshot)."""
import csv
import io
import json
import os
import shutil
import struct
import subprocess
import time
import zlib

import pytest

from conftest import PASSWORD, Agent, Harness, agent, compliant, create, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


@pytest.fixture
def scene(testbed, workdir):
    """vcsim with: VMs brought to policy by the agent, one vmx-11, one
    excluded, one whose name a spreadsheet would run as a formula."""
    v = testbed()
    create(v, "old-vm", "-version", "vmx-11")
    create(v, "skip-me")
    cfg = v.config(extra="  <exclusions><name-pattern>skip-*</name-pattern></exclusions>\n")
    a = Agent(cfg, workdir)
    h = Harness(v)
    create(v, "new-vm")
    create(v, "=HYPERLINK(1)")
    wait_until(lambda: compliant(v, h, "new-vm") and compliant(v, h, "=HYPERLINK(1)"),
               30, "new VMs compliant")
    # The audit events of the completed tasks are in vCenter before the
    # agent stops (the JSON test compares the last one with the report).
    wait_until(lambda: audited(v, "new-vm") and audited(v, "=HYPERLINK(1)"), 15,
               "the audit events of the completed tasks")
    a.stop()
    return v, cfg


def audited(v, name):
    """The VM's latest vmcrypt-agent event in vCenter (govc events) says
    its remediation completed."""
    mine = [l for l in v.govc("events", "-n", "100", "vm/" + name).splitlines()
            if "vmcrypt-agent: " in l]
    return bool(mine) and "completed" in mine[-1]


def report(cfg, fmt, out):
    r = agent("report", "--config", cfg, "--format", fmt, "--output", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.api
def test_json_agrees_with_inventory_and_vcenter_events(scene, workdir):
    v, cfg = scene
    doc = json.load(open(report(cfg, "json", os.path.join(workdir, "r.json"))))
    inv = json.loads(agent("inventory", "--config", cfg, "--json").stdout)
    states = {x["name"]: x["state"] for x in inv["vms"]}
    got = {x["name"]: x for x in doc["vms"]}
    assert {n: x["state"] for n, x in got.items()} == states
    assert got["old-vm"]["state"] == "hw-too-old"
    assert got["old-vm"]["reason"] == "vmx-11 < vmx-13"
    assert got["skip-me"]["state"] == "excluded"
    assert doc["summary"]["compliant"] == sum(1 for s in states.values() if s == "compliant")
    assert doc["in_scope"] == len(states) - 2
    assert doc["vcenter"] == v.url
    # The last action is the latest vmcrypt-agent event govc sees on the VM.
    ev = v.govc("events", "-n", "100", "vm/new-vm")
    mine = [l for l in ev.splitlines() if "vmcrypt-agent: " in l]
    assert mine, ev
    last = mine[-1].split("vmcrypt-agent: ", 1)[1].strip()
    assert got["new-vm"]["last_action"] == last
    assert "completed" in last
    assert got["new-vm"]["last_action_time"].startswith(time.strftime("%Y-%m-%d",
                                                                      time.gmtime()))
    assert got["old-vm"]["last_action"] is None


def test_csv(scene, workdir):
    v, cfg = scene
    text = open(report(cfg, "csv", os.path.join(workdir, "r.csv")), newline="").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {r["name"] for r in rows}
    assert {"new-vm", "old-vm", "skip-me", "'=HYPERLINK(1)"} <= names
    assert "=HYPERLINK(1)" not in names      # never a live formula
    r = [x for x in rows if x["name"] == "old-vm"][0]
    assert r["state"] == "hw-too-old" and r["encrypted"] == "no"
    assert text.endswith("\r\n")


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
            bpp = 4 if ctype == 6 else 3
        elif t == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    prev, out, i = bytearray(stride), [], 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else
                                      b if pb <= pc else c)) & 255
        out.append(bytes(line))
        prev = line
    return w, h, bpp, out


def count_color(img, rgb):
    w, h, bpp, rows = img
    n = 0
    for row in rows:
        for x in range(0, w * bpp, bpp):
            if abs(row[x] - rgb[0]) < 4 and abs(row[x + 1] - rgb[1]) < 4 and \
                    abs(row[x + 2] - rgb[2]) < 4:
                n += 1
    return n


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_html_offline_chart_and_table(scene, workdir):
    v, cfg = scene
    path = report(cfg, "html", os.path.join(workdir, "r.html"))
    html = open(path).read()
    # Self-contained: nothing to fetch.
    for ref in ("<script src", "<link", "url(", "@import", "src=\"http", "href=\"http"):
        assert ref not in html
    # Names are escaped, never markup.
    create(v, "<i>x&y")
    path2 = report(cfg, "html", os.path.join(workdir, "r2.html"))
    assert "&lt;i&gt;x&amp;y" in open(path2).read() and "<i>x" not in open(path2).read()

    prof = os.path.join(workdir, "chromium")
    env = dict(os.environ, HOME=workdir)
    dom = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={prof}",
                          "--dump-dom", f"file://{path}"], capture_output=True,
                         text=True, timeout=120, env=env).stdout
    assert dom.count('<rect class="bar"') == 13    # one per state (issue #16 added wrong-provider, vsan-encrypted; #24 key-missing, vtpm-only, rekey-due)
    # One row per VM the report was made of ("<i>x&y" came after it).
    n_vms = json.loads(agent("inventory", "--config", cfg, "--json").stdout)["count"]
    rows = dom.split("<tbody>")[1].split("</tbody>")[0].count("<tr ")
    assert rows == n_vms - 1

    shot = os.path.join(workdir, "report.png")
    r = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={prof}",
                        f"--screenshot={shot}", "--window-size=1280,1000",
                        "--hide-scrollbars", f"file://{path}"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert os.path.exists(shot), r.stderr
    img = png_pixels(shot)
    assert img[0] == 1280
    # The chart: the green "compliant" bar and the brown "hardware too old"
    # bar are on the page, the green one the longer (more VMs compliant).
    green = count_color(img, (0x2e, 0x7d, 0x32))
    brown = count_color(img, (0x6d, 0x4c, 0x41))
    assert green > 2000 and brown > 500 and green > brown, (green, brown)
    # The table: its header band (#f3f6f8) spans the page width.
    assert count_color(img, (0xf3, 0xf6, 0xf8)) > 1280 * 20
    if os.environ.get("VMCRYPT_ARTIFACTS"):        # kept for a look by eye
        shutil.copy(shot, os.path.join(os.environ["VMCRYPT_ARTIFACTS"], "report.png"))


def test_bad_options(testbed):
    v = testbed(kms=False)
    cfg = v.config()
    for args in (["--since", "5x"], ["--since", "0"], ["--format", "pdf"], ["extra"]):
        r = agent("report", "--config", cfg, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip() and r.stdout == ""
    r = agent("report", "--config", cfg, "--output", "/nonexistent/dir/r.html")
    assert r.returncode == 1 and "cannot write /nonexistent/dir/r.html" in r.stderr


def test_fleet_report_one_file_for_several_vcenters(testbed, workdir):
    """Issue #17 point 2: `report --config A --config B` writes one fleet
    report (JSON, CSV, HTML): a row per vCenter with its summary and a row
    per VM naming its vCenter, each checked against govc on that vCenter.
    A vCenter that cannot be read is in the report as such, with the exit
    status saying so; a bad configuration stops everything before any
    vCenter is contacted."""
    sites = []
    for name, n in (("paris", 2), ("lyon", 3)):
        v = testbed(vms=0, name=name)
        d = v.dir
        for i in range(n):
            create(v, f"{name}-{i}")
        create(v, f"{name}-old", "-version", "vmx-11")
        pw = os.path.join(d, "vcenter.password")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        cfg = v.config()
        text = open(cfg).read().replace("<vcenter ", f'<vcenter password-file="{pw}" ', 1)
        with open(cfg, "w") as f:
            f.write(text)
        sites.append((name, v, cfg))
    # Without password files: the one environment variable cannot serve
    # two vCenters; said before anything is contacted.
    r = agent("report", "--config", sites[0][1].config(), "--config",
              sites[1][1].config(), "--format", "json")
    assert r.returncode == 3 and "give each vCenter's configuration its " \
        "password-file" in r.stderr, r.stderr
    cfgs = [a for _, _, c in sites for a in ("--config", c)]
    out = os.path.join(workdir, "fleet.json")
    r = agent("report", *cfgs, "--format", "json", "--output", out)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(out))
    assert [x["vcenter"] for x in doc["vcenters"]] == [v.url for _, v, _ in sites]
    for (name, v, _), x in zip(sites, doc["vcenters"]):
        names = set(v.govc("find", "/", "-type", "m", "-name", "*").split())
        got = {f"/{r['folder']}/{r['name']}".replace("//", "/") for r in doc["vms"]
               if r["vcenter"] == v.url}
        mine = {r["name"] for r in doc["vms"] if r["vcenter"] == v.url}
        assert mine == {n.rsplit("/", 1)[1] for n in names}, (mine, names)
        assert x["error"] is None and x["vms"] == len(mine)
        assert x["summary"]["hw-too-old"] == 1 and x["summary"]["pending"] == len(mine) - 1
    assert doc["summary"]["hw-too-old"] == 2 and doc["in_scope"] == 5
    assert len(doc["vms"]) == 7

    out = os.path.join(workdir, "fleet.csv")
    assert agent("report", *cfgs, "--format", "csv", "--output", out).returncode == 0
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == 7 and {r["vcenter"] for r in rows} == {v.url for _, v, _ in sites}
    assert sorted(r["name"] for r in rows if r["vcenter"] == sites[1][1].url) == \
        ["lyon-0", "lyon-1", "lyon-2", "lyon-old"]

    out = os.path.join(workdir, "fleet.html")
    assert agent("report", *cfgs, "--format", "html", "--output", out).returncode == 0
    html = open(out).read()
    assert "2 vCenters" in html and html.count("<tr class=\"s-") == 7
    assert all(v.url in html for _, v, _ in sites)

    # Lyon goes away: the report is still written, Lyon's row says
    # why, the exit status is 4 (vCenter unreachable).
    sites[1][1].kill()
    out = os.path.join(workdir, "fleet2.json")
    r = agent("report", *cfgs, "--format", "json", "--output", out)
    assert r.returncode == 4, r.stderr
    doc = json.load(open(out))
    assert doc["vcenters"][0]["error"] is None and doc["vcenters"][1]["error"]
    assert {x["vcenter"] for x in doc["vms"]} == {sites[0][1].url}
    assert sites[1][1].url.rsplit("/", 1)[0] + ": Connection refused" in r.stderr, r.stderr
    # The reason itself is in the vCenter's row, where a CSV reader sees it.
    assert "Connection refused" in doc["vcenters"][1]["error"], doc["vcenters"][1]
    out = os.path.join(workdir, "fleet2.csv")
    r = agent("report", *cfgs, "--format", "csv", "--output", out)
    assert r.returncode == 4, r.stderr
    rows = [x for x in csv.DictReader(open(out, newline=""))
            if x["vcenter"] == sites[1][1].url]
    assert len(rows) == 1 and rows[0]["state"] == "error", rows
    assert "Connection refused" in rows[0]["reason"] and "on stderr" not in rows[0]["reason"]
    out = os.path.join(workdir, "fleet2.html")
    assert agent("report", *cfgs, "--format", "html", "--output", out).returncode == 4
    assert "Connection refused" in open(out).read()

    # A bad configuration among them: nothing written, exit 3.
    bad = os.path.join(workdir, "bad.xml")
    open(bad, "w").write("<vmcrypt-agent version='1'><nope/></vmcrypt-agent>")
    out3 = os.path.join(workdir, "fleet3.json")
    r = agent("report", "--config", sites[0][2], "--config", bad, "--output", out3)
    assert r.returncode == 3 and not os.path.exists(out3), r.stderr
