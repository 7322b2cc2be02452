"""The evidence log's tamper evidence (issue #23): `evidence verify` on the
log `run` wrote, untouched and then tampered with four ways; a torn last
line after SIGKILL kept, never dropped; another vCenter's log refused.
The chain is recomputed here with Python's hashlib, independently of the
agent's code."""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess

from conftest import BIN, PASSWORD, Agent, Harness, compliance_all, create, wait_until

import pytest


def confirmed(a, names):
    text = a.text()
    return all(re.search(rf"VM {re.escape(n)} \(vm-\d+\): compliant", text) for n in names)


def verify(*dirs):
    args = [BIN, "evidence", "verify", "--json"]
    for d in dirs:
        args += ["--evidence", d]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.returncode, json.loads(r.stdout)


def lines_of(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:-1]


def write_lines(path, lines, tail=b"\n"):
    with open(path, "wb") as f:
        f.write(b"\n".join(lines) + (tail if lines else b""))


@pytest.fixture
def written(testbed, workdir):
    """A log as `run` leaves it: 3 VMs made compliant, a clean stop."""
    v = testbed(vms=0)
    h = Harness(v)
    a = Agent(v.config(), workdir)
    names = ["ev-1", "ev-2", "ev-3"]
    for n in names:
        create(v, n)
    wait_until(lambda: all(compliance_all(v, h).get(n) for n in names), 60, "3 compliant")
    wait_until(lambda: confirmed(a, names), 60, "3 confirmed")
    a.stop()
    return v, os.path.join(workdir, "evidence")


def test_untouched_log_verifies_and_its_head_is_the_last_lines_hash(written):
    _, d = written
    rc, out = verify(d)
    assert rc == 0 and out["ok"], out
    lines = lines_of(os.path.join(d, "evidence-000001.jsonl"))
    # Recomputed here: each prev is the SHA-256 of the line before.
    prev = "0" * 64
    for i, raw in enumerate(lines):
        rec = json.loads(raw)
        assert rec["seq"] == i + 1 and rec["prev"] == prev, (i, rec)
        prev = hashlib.sha256(raw).hexdigest()
    log = out["logs"][0]
    assert log["records"] == len(lines)
    assert log["head_seq"] == len(lines) and log["head_hash"] == prev


def tamper_copies(d, tmp):
    """{name: (dir, the 1-based line verify must name)}: one tampering each."""
    src = os.path.join(d, "evidence-000001.jsonl")
    lines = lines_of(src)
    assert len(lines) >= 8, len(lines)
    out = {}

    def copy(name):
        c = os.path.join(tmp, name)
        shutil.copytree(d, c)
        return c, os.path.join(c, "evidence-000001.jsonl")

    # One flipped byte inside a value in the middle: still JSON, the
    # record's own seq and prev intact: the next record's prev betrays it.
    c, f = copy("flipped")
    k = 4
    raw = bytearray(lines[k - 1])
    i = raw.index(b'"at":"') + 8           # a digit of the year
    raw[i] ^= 1
    write_lines(f, lines[:k - 1] + [bytes(raw)] + lines[k:])
    out["flipped"] = (c, k)
    # One line deleted.
    c, f = copy("deleted")
    write_lines(f, lines[:k - 1] + lines[k:])
    out["deleted"] = (c, k)
    # Two lines swapped.
    c, f = copy("swapped")
    write_lines(f, lines[:k - 1] + [lines[k], lines[k - 1]] + lines[k + 1:])
    out["swapped"] = (c, k)
    # The file truncated (cut in its last line).
    c, f = copy("truncated")
    with open(f, "r+b") as fh:
        fh.truncate(os.path.getsize(f) - 25)
    out["truncated"] = (c, len(lines))
    return out


def test_each_tampering_fails_and_names_the_record(written, tmp_path):
    _, d = written
    for name, (c, line) in tamper_copies(d, str(tmp_path)).items():
        rc, out = verify(c)
        log = out["logs"][0]
        assert rc == 1 and not out["ok"], (name, out)
        assert log["file"].endswith("evidence-000001.jsonl"), (name, log)
        assert log["line"] == line, (name, log)
        assert f"evidence-000001.jsonl:{line}:" in log["error"], (name, log)
    # The text form names it too, and the original still verifies.
    r = subprocess.run([BIN, "evidence", "verify", "--evidence",
                        os.path.join(str(tmp_path), "deleted")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "BROKEN" in r.stdout and "missing" in r.stdout, r.stdout
    assert verify(d)[0] == 0


def test_the_agent_will_not_continue_a_tampered_log(written, tmp_path):
    """Started on a broken log, the agent refuses (exit 3, the file and line
    named) and writes nothing."""
    v, d = written
    f = os.path.join(d, "evidence-000001.jsonl")
    lines = lines_of(f)
    write_lines(f, lines[:2] + lines[3:])
    before = open(f, "rb").read()
    r = subprocess.run([BIN, "run", "--config", v.config()], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    assert r.returncode == 3, r.stderr
    assert "evidence-000001.jsonl:3:" in r.stderr and "evidence verify" in r.stderr, r.stderr
    assert open(f, "rb").read() == before


def test_torn_last_line_after_sigkill_is_kept_not_dropped(testbed, workdir):
    """SIGKILL leaves at most a last line cut short (the log is appended
    with whole-line writes; where a kill lands cannot be timed, so the cut
    is made here as a crash mid-write leaves it).  The next start says so,
    keeps its bytes in a "torn" record, and the chain goes on whole."""
    v = testbed(vms=0)
    h = Harness(v)
    a = Agent(v.config(), workdir)
    create(v, "torn-1")
    wait_until(lambda: confirmed(a, ["torn-1"]), 60, "torn-1 confirmed")
    a.kill()
    f = os.path.join(workdir, "evidence", "evidence-000001.jsonl")
    half = b'{"v":1,"seq":999,"prev":"ab'
    with open(f, "ab") as fh:
        fh.write(half)
    rc, out = verify(os.path.join(workdir, "evidence"))
    assert rc == 1 and "no end" in out["logs"][0]["error"], out
    a = Agent(v.config(), workdir, name="agent2.log")
    create(v, "torn-2")
    wait_until(lambda: confirmed(a, ["torn-2"]), 60, "torn-2 confirmed")
    a.stop()
    assert "had no end" in a.text() and "torn" in a.text(), a.text()
    recs = [json.loads(x) for x in lines_of(f)]
    torn = [r for r in recs if r["kind"] == "torn"]
    assert len(torn) == 1 and base64.b64decode(torn[0]["text"]) == half
    assert torn[0]["bytes"] == len(half)
    assert any(r.get("name") == "torn-2" and r.get("new") == "compliant" for r in recs)
    assert verify(os.path.join(workdir, "evidence"))[0] == 0
    assert compliance_all(v, h).get("torn-2")


def test_another_vcenters_log_is_refused(testbed, workdir):
    """One state directory, two vCenters: the second is refused at start
    (exit 3, both vCenters named) and the first one's log is left as it
    was."""
    v1 = testbed(vms=0)
    state = os.path.join(workdir, "shared-state")
    os.makedirs(state)
    a = Agent(v1.config(state=state), workdir)
    a.stop()
    f = os.path.join(state, "evidence", "evidence-000001.jsonl")
    before = open(f, "rb").read()
    first_vc = json.loads(before.split(b"\n")[0])["vcenter"]
    v2 = testbed(vms=0)
    r = subprocess.run([BIN, "run", "--config", v2.config(state=state)], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD})
    if r.returncode != 3 and "vCenter" not in r.stderr:
        pytest.fail(r.stderr)
    assert r.returncode == 3, r.stderr
    assert first_vc in r.stderr and "its own state directory" in r.stderr, r.stderr
    assert open(f, "rb").read() == before


def test_no_log_is_said_as_such_not_as_a_broken_chain(tmp_path):
    """A directory with no log, or none at all: exit 1, said as missing."""
    for d in (str(tmp_path), str(tmp_path / "absent")):
        r = subprocess.run([BIN, "evidence", "verify", "--evidence", d], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1 and "NO LOG" in r.stdout and "BROKEN" not in r.stdout, r.stdout
