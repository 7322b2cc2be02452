"""--trace-soap: every exchange with vCenter written for a bug report, with
every secret removed.

A whole `run` (login, scan, events, keys, reconfigures, audit events, a
re-login after the session is killed, logout) is traced; then every file is
searched for every secret the run handled: the password, every session key
vCenter handed out (they are the session cookies, and the ids in login
events), and what the trace must still show is checked too."""
import glob
import json
import os
import re

import pytest

from conftest import (PASSWORD, Agent, Harness, agent, compliant, create, free_port,
                      negotiated, wait_until, with_kms)


def files(d):
    return sorted(glob.glob(os.path.join(d, "*.http")))


def read_all(d):
    return {os.path.basename(f): open(f, encoding="utf-8", errors="replace").read()
            for f in files(d)}


def session_keys(v):
    """The agent's session keys (its cookies; the ids in its login events)."""
    out = json.loads(v.govc("session.ls", "-json"))
    return {s["key"] for s in out.get("sessionList") or [] if "gSOAP" in s.get("userAgent", "")}


@pytest.mark.api
def test_a_whole_run_traced_without_a_secret(vcsim, workdir):
    v = with_kms(vcsim)
    h = Harness(v)
    d = os.path.join(workdir, "trace")
    a = Agent(v.config(), workdir, "--trace-soap", d)
    keys = set()
    try:
        keys |= session_keys(v)
        create(v, "traced-1", "-version", "vmx-13")
        wait_until(lambda: compliant(v, h, "traced-1"), 30, "traced-1 compliant")
        # A killed session: the agent logs in again (a second cookie).
        keys |= session_keys(v)
        for k in keys:
            v.govc("session.rm", k)
        create(v, "traced-2", "-version", "vmx-13")
        wait_until(lambda: compliant(v, h, "traced-2"), 60, "traced-2 compliant")
        wait_until(lambda: session_keys(v) - keys, 30, "the agent's new session")
        keys |= session_keys(v)
    finally:
        a.stop()
    traced = read_all(d)
    names = " ".join(traced)
    for m in ("GET-vimServiceVersions.xml", "RetrieveServiceContent", "Login", "GenerateKey",
              "ReconfigVM_Task", "LogUserEvent", "WaitForUpdatesEx", "ReadNextEvents",
              "PbmQueryAssociatedProfiles", "Logout"):
        assert f"-{m}.request.http" in names and f"-{m}.response.http" in names, m
    assert len([n for n in traced if n.endswith("-Login.request.http")]) >= 2
    agent_keys = [k for k in keys if k]
    assert len(agent_keys) >= 2
    for name, text in traced.items():
        assert PASSWORD not in text, name
        for k in agent_keys:
            assert k not in text, (name, k)
    # What a bug report needs is still there.
    (login,) = [t for n, t in traced.items() if n.endswith("-Login.request.http")][:1]
    assert f'SOAPAction: "urn:vim25/{negotiated()}"' in login
    assert "<vim:password>[redacted]</vim:password>" in login
    rc = next(t for n, t in traced.items() if n.endswith("-ReconfigVM_Task.request.http"))
    assert "CryptoSpecEncrypt" in rc and "<vim:migrateEncryption>required" in rc
    assert re.search(r"Cookie: vmware_soap_session=\[redacted\]", rc)
    # Numbered in order, request and answer side by side, owner-only.
    nums = sorted({int(n.split("-", 1)[0]) for n in traced})
    assert nums == list(range(1, len(nums) + 1))
    assert all(oct(os.stat(f).st_mode & 0o777) == "0o600" for f in files(d))
    assert oct(os.stat(d).st_mode & 0o777) == "0o700"


def test_check_inventory_reconcile_trace_and_keep_bounds_it(vcsim, workdir):
    v = with_kms(vcsim)
    for cmd in ("check", "inventory", "reconcile"):
        d = os.path.join(workdir, "t-" + cmd)
        r = agent(cmd, "--config", v.config(), "--trace-soap", d)
        assert r.returncode in (0, 1), r.stderr
        got = read_all(d)
        assert any(n.endswith("-Login.request.http") for n in got), cmd
        assert not any(PASSWORD in t for t in got.values())
    # <trace-soap keep="5">: only the newest five exchanges stay.
    d = os.path.join(workdir, "kept")
    cfg = v.config(tail=f'  <trace-soap dir="{d}" keep="5"/>\n')
    assert agent("reconcile", "--config", cfg).returncode == 0
    got = sorted(os.listdir(d))
    assert len(got) == 10, got
    last = max(int(n.split("-", 1)[0]) for n in got)
    assert last > 5 and {int(n.split("-", 1)[0]) for n in got} == set(range(last - 4, last + 1))
    assert any(n.endswith("-Logout.request.http") for n in got)
    # A trace directory that cannot be written is said, and nothing runs.
    r = agent("inventory", "--config", v.config(), "--trace-soap", "/proc/no-such/dir")
    assert r.returncode == 3 and "trace directory /proc/no-such/dir" in r.stderr


def test_support_bundle_has_what_a_bug_report_needs_and_no_secret(vcsim, workdir):
    import tarfile
    v = with_kms(vcsim)
    h = Harness(v)
    d = os.path.join(workdir, "trace")
    port = free_port()
    cfg = v.config(tail=f'  <metrics listen="127.0.0.1:{port}"/>\n  <trace-soap dir="{d}"/>\n')
    a = Agent(cfg, workdir)
    try:
        create(v, "bundled", "-version", "vmx-13")
        wait_until(lambda: compliant(v, h, "bundled"), 30, "bundled compliant")
        keys = session_keys(v)
        out = os.path.join(workdir, "bundle.tar.gz")
        r = agent("support-bundle", "--config", cfg, "-o", out, "--log", a.log)
        assert r.returncode == 0, r.stderr
    finally:
        a.stop()
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    with tarfile.open(out) as t:
        members = {m.name: t.extractfile(m).read().decode("utf-8", "replace")
                   for m in t.getmembers()}
    for name in ("MANIFEST.txt", "version.txt", "config.xml", "check.json", "log.txt",
                 "metrics.txt", "healthz.txt", "checkpoint.txt"):
        assert name in members, sorted(members)
    assert "vmcrypt-agent 0.1.0" in members["version.txt"]
    rep = json.loads(members["check.json"])
    assert rep["ok"] is True and rep["key_provider"] == "ovh-kms"
    assert v.url in members["config.xml"]
    assert "reconcile:" in members["log.txt"]
    assert "vmcrypt_vms" in members["metrics.txt"] and "200 OK" in members["healthz.txt"]
    traces = [n for n in members if n.startswith("trace/")]
    assert any(n.endswith("-ReconfigVM_Task.request.http") for n in traces)
    assert len(traces) <= 400
    for name, text in members.items():
        assert PASSWORD not in text, name
        for k in keys:
            assert k not in text, (name, k)
    for name in members:
        assert name in members["MANIFEST.txt"] or name == "MANIFEST.txt"
    # Without traces or an agent to ask, the bundle says so instead.
    r = agent("support-bundle", "--config", v.config(), "-o", out, "--no-check")
    assert r.returncode == 0
    with tarfile.open(out) as t:
        names = t.getnames()
        none = t.extractfile("trace/NONE.txt").read().decode()
    assert "check.json" not in names and "--trace-soap" in none
    assert agent("support-bundle", "--config", v.config()).returncode == 2
