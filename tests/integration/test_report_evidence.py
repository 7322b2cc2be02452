"""report from the evidence log (issue #23): each VM's exposure window and
the period's summary, the logs of two agents merged, a broken log refused,
a signed report checked by openssl and by `evidence verify`.  Every figure
is checked against what is measured from outside: config.createDate by
govc, the completion of the reconfigure from the test bed's own task."""
import base64
import csv
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import PASSWORD, Agent, Harness, agent, compliance_all, create, wait_until
from test_exposure import confirmed, created_times

SLO = 5


def nearest_rank(values, p):
    """The nearest-rank percentile, computed here, not by the agent."""
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


@pytest.fixture
def two_agents(testbed, workdir):
    """Agent A (state dir A) makes a1..a3 compliant and stops; b1, b2 are
    created while no agent runs; agent B (its own state dir, as a standby
    taking over would) makes them compliant.  exposure-slo-seconds 5: the
    b VMs, whose windows hold the downtime, are over it."""
    v = testbed(vms=0)
    h = Harness(v)
    tail = f'  <metrics listen=""/>\n  <evidence exposure-slo-seconds="{SLO}"/>\n'
    dir_a, dir_b = os.path.join(workdir, "a"), os.path.join(workdir, "b")
    os.makedirs(dir_a)
    os.makedirs(dir_b)
    cfg_a = v.config(state=dir_a, tail=tail)
    cfg_b = v.config(state=dir_b, tail=tail)
    first, later = ["a1", "a2", "a3"], ["b1", "b2"]
    a = Agent(cfg_a, workdir, name="a.log")
    for n in first:
        create(v, n)
    wait_until(lambda: all(compliance_all(v, h).get(n) for n in first), 90, "a VMs compliant")
    wait_until(lambda: confirmed(a, first), 60, "a VMs confirmed")
    a.stop()
    for n in later:
        create(v, n)
    time.sleep(SLO)                       # the downtime: in b1's and b2's windows
    b = Agent(cfg_b, workdir, name="b.log")
    wait_until(lambda: all(compliance_all(v, h).get(n) for n in later), 90, "b VMs compliant")
    wait_until(lambda: confirmed(b, later), 60, "b VMs confirmed")
    b.stop()
    created = created_times(v, first + later)
    done = h.stats()["reconfig_done"]
    return v, cfg_a, dir_a, dir_b, first, later, created, done


def outside(v, names, created, done):
    refs = {n: v.govc("ls", "-i", f"vm/{n}").strip().rsplit(":", 1)[1] for n in names}
    return {n: done[refs[n]] / 1e9 - created[n] for n in names}


def ev(d):
    return os.path.join(d, "evidence")


def test_exposure_per_vm_and_summary_from_two_agents_logs(two_agents, workdir):
    v, cfg, dir_a, dir_b, first, later, created, done = two_agents
    names = first + later
    real = outside(v, names, created, done)
    out = os.path.join(workdir, "r.json")
    r = agent("report", "--config", cfg, "--evidence", ev(dir_a), "--evidence", ev(dir_b),
              "--format", "json", "--output", out)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(out))
    rows = {x["name"]: x for x in doc["vms"]}
    for n in names:
        assert rows[n]["exposure"] == "measured", (n, rows[n]["exposure"])
        assert abs(rows[n]["exposure_seconds"] - real[n]) <= 1.0, (n, rows[n], real[n])
    # The summary: the agent's percentiles of its own figures, and the
    # figures themselves within 1 s of those measured outside.
    s = doc["exposure_summary"]
    got = [rows[n]["exposure_seconds"] for n in names]
    assert s["count"] == 5 and s["slo_seconds"] == SLO
    assert s["p50"] == pytest.approx(nearest_rank(got, 50))
    assert s["p99"] == pytest.approx(max(got)) and s["max"] == pytest.approx(max(got))
    assert abs(s["max"] - max(real.values())) <= 1.0
    over = {x["name"] for x in s["over_slo"]}
    assert {"b1", "b2"} <= over
    assert {n for n in names if real[n] > SLO + 1} <= over
    assert all(real[n] > SLO - 1 for n in over), (over, real)
    assert s["open"] == 0
    # Both logs' heads are in the report.
    assert doc["evidence"].count("#") == 2 and ev(dir_b) in doc["evidence"]

    # A's log alone knows nothing of b1 and b2 (nor does the default, A's).
    r = agent("report", "--config", cfg, "--format", "json")
    assert r.returncode == 0, r.stderr
    alone = {x["name"]: x for x in json.loads(r.stdout)["vms"]}
    assert alone["b1"]["exposure"] == "unknown" and alone["b1"]["exposure_seconds"] is None
    assert alone["a1"]["exposure_seconds"] == pytest.approx(rows["a1"]["exposure_seconds"])

    # CSV: the same figures in the rows, the summary beside.
    out = os.path.join(workdir, "r.csv")
    r = agent("report", "--config", cfg, "--evidence", ev(dir_a), "--evidence", ev(dir_b),
              "--format", "csv", "--output", out)
    assert r.returncode == 0, r.stderr
    crow = {x["name"]: x for x in csv.DictReader(open(out, newline=""))}
    for n in names:
        assert crow[n]["exposure"] == "measured"
        assert float(crow[n]["exposure_seconds"]) == pytest.approx(rows[n]["exposure_seconds"],
                                                                   abs=0.001)
        assert "vm-9.vmotion-encrypted=" in crow[n]["controls"]
    summ = list(csv.DictReader(open(os.path.join(workdir, "r.summary.csv"), newline="")))
    assert len(summ) == 1 and summ[0]["count"] == "5" and summ[0]["slo_seconds"] == str(SLO)
    assert float(summ[0]["max"]) == pytest.approx(s["max"], abs=0.001)
    assert "b1" in summ[0]["over_slo_vms"]

    # HTML: the window in each row, the summary's cards.
    out = os.path.join(workdir, "r.html")
    r = agent("report", "--config", cfg, "--evidence", ev(dir_a), "--evidence", ev(dir_b),
              "--output", out)
    assert r.returncode == 0, r.stderr
    html = open(out).read()
    assert html.count('<td class="exposure">') == len(doc["vms"])
    assert f'{rows["b1"]["exposure_seconds"]:.3f}' in html
    assert f"over the {SLO} s SLO" in html


def flip(path, line_no):
    """Changes one byte of line line_no (1-based) of path."""
    lines = open(path, "rb").read().split(b"\n")
    i = lines[line_no - 1].index(b'"at":"') + 8
    b = bytearray(lines[line_no - 1])
    b[i] = ord("1") if b[i] != ord("1") else ord("2")
    lines[line_no - 1] = bytes(b)
    open(path, "wb").write(b"\n".join(lines))


def test_a_broken_log_is_named_and_nothing_is_written(two_agents, workdir):
    v, cfg, dir_a, dir_b, *_ = two_agents
    log = os.path.join(ev(dir_b), sorted(os.listdir(ev(dir_b)))[0])
    flip(log, 3)
    out = os.path.join(workdir, "broken.json")
    r = agent("report", "--config", cfg, "--evidence", ev(dir_a), "--evidence", ev(dir_b),
              "--format", "json", "--output", out)
    assert r.returncode == 1, r.stderr
    # The changed record is named (the one after it names another hash).
    assert f"{log}:3" in r.stderr, r.stderr
    assert not os.path.exists(out) and r.stdout == ""
    # A directory that holds no log at all.
    empty = os.path.join(workdir, "empty")
    os.makedirs(empty)
    r = agent("report", "--config", cfg, "--evidence", empty, "--format", "json")
    assert r.returncode == 1 and empty in r.stderr and r.stdout == ""


def openssl(*args, **kw):
    r = subprocess.run(["openssl", *args], capture_output=True, **kw)
    return r


def test_signed_report_checked_by_openssl_and_evidence_verify(two_agents, workdir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    v, cfg, dir_a, dir_b, *_ = two_agents
    key, pub = os.path.join(workdir, "k.pem"), os.path.join(workdir, "k.pub")
    assert openssl("genpkey", "-algorithm", "ed25519", "-out", key).returncode == 0
    os.chmod(key, 0o600)
    assert openssl("pkey", "-in", key, "-pubout", "-out", pub).returncode == 0
    out = os.path.join(workdir, "signed.json")
    evs = ["--evidence", ev(dir_a), "--evidence", ev(dir_b)]
    r = agent("report", "--config", cfg, *evs, "--format", "json", "--output", out,
              "--sign", key)
    assert r.returncode == 0, r.stderr
    sig = json.load(open(out + ".sig"))
    assert sig["algorithm"] == "Ed25519" and sig["report"] == "signed.json"
    # The key id: SHA-256 of the raw public key, computed here.
    pk = serialization.load_pem_public_key(open(pub, "rb").read())
    raw = pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert sig["key_id"] == hashlib.sha256(raw).hexdigest()
    body = open(out, "rb").read()
    assert sig["report_sha256"] == hashlib.sha256(body).hexdigest()
    # openssl and cryptography agree the signature is the key's over the bytes.
    rawsig = os.path.join(workdir, "sig.bin")
    open(rawsig, "wb").write(base64.b64decode(sig["signature"]))
    r = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", out,
                "-sigfile", rawsig)
    assert r.returncode == 0 and b"Signature Verified Successfully" in r.stdout, r
    assert isinstance(pk, Ed25519PublicKey)
    pk.verify(base64.b64decode(sig["signature"]), body)
    # The heads: each log's last record (its seq, the hash of its line).
    heads = {h["dir"]: h for h in sig["evidence"]}
    assert set(heads) == {ev(dir_a), ev(dir_b)}
    for d, h in heads.items():
        lines = b"".join(open(os.path.join(d, f), "rb").read()
                         for f in sorted(os.listdir(d))).splitlines()
        assert json.loads(lines[-1])["seq"] == h["seq"]
        assert hashlib.sha256(lines[-1]).hexdigest() == h["hash"]
        assert h["hash"].encode() in body             # covered by the signature
    ok = ["evidence", "verify", "--pubkey", pub, "--signature", out + ".sig",
          "--report", out]
    r = agent(*ok)
    assert r.returncode == 0, r.stdout + r.stderr
    # One byte of the report changed.
    bad = os.path.join(workdir, "changed.json")
    open(bad, "wb").write(body.replace(b'"a1"', b'"a9"', 1))
    r = agent("evidence", "verify", "--pubkey", pub, "--signature", out + ".sig",
              "--report", bad)
    assert r.returncode == 1 and "does not match" in r.stdout and bad in r.stdout, r.stdout
    # Another key.
    key2, pub2 = os.path.join(workdir, "k2.pem"), os.path.join(workdir, "k2.pub")
    openssl("genpkey", "-algorithm", "ed25519", "-out", key2)
    openssl("pkey", "-in", key2, "-pubout", "-out", pub2)
    r = agent("evidence", "verify", "--pubkey", pub2, "--signature", out + ".sig",
              "--report", out)
    assert r.returncode == 1 and pub2 in r.stdout, r.stdout
    # Missing files are named.
    for args, name in ((["--pubkey", pub + ".nope"], pub + ".nope"),
                       (["--report", out + ".nope"], out + ".nope"),
                       (["--signature", out + ".nope"], out + ".nope")):
        argv = dict(zip(ok[2::2], ok[3::2]))
        argv[args[0]] = args[1]
        r = agent("evidence", "verify", *[x for kv in argv.items() for x in kv])
        assert r.returncode == 1 and name in r.stdout, (args, r.stdout)
    # B's log cut at a line boundary (its last record gone): the chain
    # still holds, the signed head is no longer there.
    blog = os.path.join(ev(dir_b), sorted(os.listdir(ev(dir_b)))[-1])
    saved = open(blog, "rb").read()
    open(blog, "wb").write(b"".join(saved.splitlines(keepends=True)[:-1]))
    assert agent("evidence", "verify", "--evidence", ev(dir_b)).returncode == 0
    r = agent(*ok)
    assert r.returncode == 1 and "cut before it" in r.stdout, r.stdout
    assert f"seq {heads[ev(dir_b)]['seq']}" in r.stdout
    # Its last record changed instead (a close record retimed): caught too.
    lines = saved.splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"at":"2', b'"at":"1', 1)
    open(blog, "wb").write(b"".join(lines))
    assert agent("evidence", "verify", "--evidence", ev(dir_b)).returncode == 0
    r = agent(*ok)
    assert r.returncode == 1 and "was changed" in r.stdout, r.stdout
    open(blog, "wb").write(saved)
    assert agent(*ok).returncode == 0

    # A missing or wrong key: said, nothing written.
    out2 = os.path.join(workdir, "nokey.json")
    r = agent("report", "--config", cfg, "--format", "json", "--output", out2,
              "--sign", key + ".missing")
    assert r.returncode == 3 and key + ".missing" in r.stderr and not os.path.exists(out2)
    os.chmod(key, 0o644)
    r = agent("report", "--config", cfg, "--format", "json", "--output", out2, "--sign", key)
    assert r.returncode == 3 and key in r.stderr and not os.path.exists(out2), r.stderr
    rsa = os.path.join(workdir, "rsa.pem")
    openssl("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa)
    os.chmod(rsa, 0o600)
    r = agent("report", "--config", cfg, "--format", "json", "--output", out2, "--sign", rsa)
    assert r.returncode == 3 and "not Ed25519" in r.stderr and not os.path.exists(out2)
    r = agent("report", "--config", cfg, "--format", "json", "--sign", rsa)
    assert r.returncode == 2 and "--output" in r.stderr
