"""Secrets (issue #25, point 5): the password as a systemd credential, a
password rotated in vCenter and in the credential taken without a restart,
`credential set`, and no secret in argv, logs, traces or the support
bundle.  vCenter's password change is the harness's /harness/password
(tests/harness/vcsimd/password.go); what is read back is read with govc, the
harness's Login counts, systemd-creds and /proc."""
import glob
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from conftest import (BIN, PASSWORD, Agent, Harness, agent, compliant, create,
                      wait_until)


@pytest.fixture
def vc(testbed):
    return testbed()


def set_vcenter_password(v, new):
    """The account's password changed in vCenter: the old one is refused
    from now on (open sessions stay valid); govc goes on with the new one."""
    h = Harness(v)
    r = urllib.request.Request(h.base + "/harness/password", data=new.encode(),
                               method="POST")
    urllib.request.urlopen(r, context=h.ctx, timeout=30).read()
    old_env = v.govc_env
    v.govc_env = lambda: {**old_env(), "GOVC_PASSWORD": new}


def logins(v, reset=False):
    h = Harness(v)
    if reset:
        h._req("DELETE", "/harness/password")
        return None
    return h._req("GET", "/harness/password")


def write_credential(d, value):
    """What systemd does for LoadCredential=: the file in the credentials
    directory, 0400.  Replaced whole, as a new copy would be."""
    tmp = os.path.join(d, ".vcenter.password.new")
    with open(tmp, "w") as f:
        f.write(value)
    os.chmod(tmp, 0o400)
    os.replace(tmp, os.path.join(d, "vcenter.password"))


def agent_sessions(v):
    out = json.loads(v.govc("session.ls", "-json"))
    return [s for s in out.get("sessionList") or []
            if "gSOAP" in (s.get("userAgent") or s.get("UserAgent") or "")]


def kill_agent_sessions(v):
    mine = agent_sessions(v)
    assert mine, "the agent's session is not listed"
    for s in mine:
        v.govc("session.rm", s.get("key") or s.get("Key"))


def cred_agent(v, workdir, creds, *extra, name="agent.log"):
    # VMCRYPT_VC_PASSWORD holds a wrong one: only the credential can log in.
    return Agent(v.config(), workdir, *extra, name=name,
                 env={"CREDENTIALS_DIRECTORY": creds, "VMCRYPT_VC_PASSWORD": "not-it"})


@pytest.mark.api
def test_password_rotated_without_restart(vc, workdir):
    """Rotated in vCenter and in the credential, then the session ends:
    the same agent process logs in with the new password (one refusal of
    the old one, no more) and keeps enforcing."""
    h = Harness(vc)
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    write_credential(creds, PASSWORD)
    a = cred_agent(vc, workdir, creds)
    try:
        pid = a.p.pid
        new = "rotated-" + secrets.token_hex(8)
        set_vcenter_password(vc, new)
        write_credential(creds, new)
        logins(vc, reset=True)
        kill_agent_sessions(vc)
        create(vc, "after-rotation")
        wait_until(lambda: compliant(vc, h, "after-rotation"), 40,
                   "after-rotation compliant after the password was rotated")
        assert a.p.poll() is None and a.p.pid == pid, a.text()
        n = logins(vc)
        assert n["refused"] == 1, (n, a.text())
        assert n["accepted"] >= 1, n
        assert agent_sessions(vc), "the agent holds no session"
        text = a.text()
        assert "holds a new one: logging in with it" in text, text
        assert "with the new password from the credential vcenter.password" in text, text
        a.stop()
    finally:
        a.kill()
    assert PASSWORD not in a.text() and new not in a.text()


def test_wrong_password_backs_off_then_takes_the_new_one(vc, workdir):
    """Changed in vCenter only: the agent says so with the fix, and does not
    send the refused password again (vCenter would lock the account); once
    the credential holds the new one, it logs in and goes on."""
    h = Harness(vc)
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    write_credential(creds, PASSWORD)
    a = cred_agent(vc, workdir, creds)
    try:
        new = "changed-" + secrets.token_hex(8)
        set_vcenter_password(vc, new)
        logins(vc, reset=True)
        kill_agent_sessions(vc)
        wait_until(lambda: "vCenter rejected the user name or password" in a.text(), 20,
                   "the refusal in the agent log")
        time.sleep(15)      # the watcher's backoff turns, the lease's heartbeats
        assert logins(vc)["refused"] == 1, (logins(vc), a.text())
        text = a.text()
        assert "vmcrypt-agent credential set vcenter.password" in text, text
        assert "credential vcenter.password" in text, text
        assert a.p.poll() is None, text
        write_credential(creds, new)
        create(vc, "after-fix")
        wait_until(lambda: compliant(vc, h, "after-fix"), 60,
                   "after-fix compliant once the credential holds the new password")
        assert logins(vc)["refused"] == 1
        a.stop()
    finally:
        a.kill()
    assert PASSWORD not in a.text() and new not in a.text()


def test_wrong_password_at_start(vc, workdir):
    """Refused at start: exit 5 (login failed), the source and the fix
    named, the password itself nowhere."""
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    wrong = "wrong-" + secrets.token_hex(8)
    write_credential(creds, wrong)
    r = agent("check", "--config", vc.config(), password=None,
              env={"CREDENTIALS_DIRECTORY": creds})
    assert r.returncode == 5, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "vCenter rejected the user name or password from the credential vcenter.password" in out, out
    assert "vmcrypt-agent credential set vcenter.password" in out, out
    assert wrong not in out


# ---------------------------------------------------------------- credential set

def credential_set(name, secret, *opts, env=None):
    return subprocess.run([BIN, "credential", "set", name, *opts], input=secret,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def decrypt(path, name):
    r = subprocess.run(["systemd-creds", "decrypt", f"--name={name}", path, "-"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def shim(workdir, body):
    """A systemd-creds first in PATH that records its argv, then runs body."""
    real = shutil.which("systemd-creds")
    d = os.path.join(workdir, "shim")
    os.makedirs(d, exist_ok=True)
    argv_file = os.path.join(d, "argv")
    with open(os.path.join(d, "systemd-creds"), "w") as f:
        f.write(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {argv_file}\n'
                + body.replace("REAL", real) + "\n")
    os.chmod(os.path.join(d, "systemd-creds"), 0o755)
    return {"PATH": d + ":" + os.environ["PATH"]}, argv_file


@pytest.mark.skipif(shutil.which("systemd-creds") is None or os.geteuid() != 0,
                    reason="systemd-creds with the host key: root")
def test_credential_set_round_trip(workdir):
    """The secret from stdin, encrypted under its name: decrypted by
    systemd-creds it is the same; 0600; in no process's argv (the agent's,
    while it waits on stdin, nor systemd-creds's)."""
    sentinel = "sentinel-" + secrets.token_hex(12)
    d = os.path.join(workdir, "store")
    env, argv_file = shim(workdir, 'exec REAL "$@"')
    p = subprocess.Popen([BIN, "credential", "set", "vcenter.password", "--dir", d,
                          "--with-key=host", "--json"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **env})
    time.sleep(0.3)
    for c in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            assert sentinel.encode() not in open(c, "rb").read(), c
        except OSError:
            pass
    out, err = p.communicate(sentinel + "\n", timeout=60)
    assert p.returncode == 0, out + err
    rep = json.loads(out)
    path = os.path.join(d, "vcenter.password")
    assert rep == {"name": "vcenter.password", "path": path, "encrypted": True}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sentinel.encode() not in open(path, "rb").read()
    assert decrypt(path, "vcenter.password") == sentinel
    argv = open(argv_file).read()
    assert "--name=vcenter.password" in argv and "--with-key=host" in argv
    assert sentinel not in argv and sentinel not in out + err
    assert os.listdir(d) == ["vcenter.password"]          # no temporary file left
    # Written again: replaced whole.
    r = credential_set("vcenter.password", "second-" + sentinel, "--dir", d, "--with-key=host")
    assert r.returncode == 0, r.stderr
    assert decrypt(path, "vcenter.password") == "second-" + sentinel
    assert "encrypted by systemd-creds" in r.stdout


@pytest.mark.skipif(shutil.which("systemd-creds") is None or os.geteuid() != 0,
                    reason="systemd-creds with the host key: root")
def test_credential_set_refusals_change_nothing(workdir):
    d = os.path.join(workdir, "store")
    r = credential_set("vcenter.password", "kept-secret\n", "--dir", d, "--with-key=host")
    assert r.returncode == 0, r.stderr
    path = os.path.join(d, "vcenter.password")
    before = open(path, "rb").read()
    # An unknown name: refused with the list, nothing written.
    r = credential_set("vcenter.passwd", "x\n", "--dir", d)
    assert r.returncode == 2
    for n in ("vcenter.password", "ovh.application-secret", "ovh.consumer-key"):
        assert n in r.stderr, r.stderr
    # Nothing on stdin.
    r = credential_set("vcenter.password", "", "--dir", d)
    assert r.returncode == 2 and "nothing on stdin" in r.stderr
    r = credential_set("vcenter.password", "\n\n", "--dir", d)
    assert r.returncode == 2
    # systemd-creds fails: exit 1, the old one kept, nothing left behind.
    env, _ = shim(workdir, "cat >/dev/null; echo refused >&2; exit 1")
    r = credential_set("vcenter.password", "new-secret\n", "--dir", d, env=env)
    assert r.returncode == 1 and "unchanged" in r.stderr, r.stderr
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(d)) == ["vcenter.password"]
    assert decrypt(path, "vcenter.password") == "kept-secret"
    # A secret on the command line is not an option.
    r = subprocess.run([BIN, "credential", "set", "vcenter.password", "oops"],
                       input="", capture_output=True, text=True)
    assert r.returncode == 2 and "unexpected argument" in r.stderr


def test_credential_set_without_systemd_creds(workdir):
    """No systemd-creds (systemd older than 250): a plain file, 0600, said
    IN CLEAR with the LoadCredential= line that loads it."""
    d = os.path.join(workdir, "plain")
    bare = os.path.join(workdir, "bare")
    os.mkdir(bare)
    r = credential_set("ovh.consumer-key", "ck-" + "9" * 20 + "\n", "--dir", d,
                       env={"PATH": bare})
    assert r.returncode == 0, r.stderr
    path = os.path.join(d, "ovh.consumer-key")
    assert open(path).read() == "ck-" + "9" * 20
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "IN CLEAR" in r.stdout and f"LoadCredential=ovh.consumer-key:{path}" in r.stdout


# ---------------------------------------------------------------- no secret anywhere

def test_no_secret_in_argv_logs_traces_or_bundle(vc, workdir):
    """Two sentinel passwords (the first, then the rotated one) through a
    run with debug logging and SOAP traces, a re-login, and a support
    bundle: neither is in the agent's argv or environment, its log, a
    trace file, or any member of the bundle."""
    h = Harness(vc)
    first = "sentinel-a-" + secrets.token_hex(10)
    second = "sentinel-b-" + secrets.token_hex(10)
    set_vcenter_password(vc, first)
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    write_credential(creds, first)
    traces = os.path.join(workdir, "trace")
    cfg = vc.config(tail=f'  <metrics listen="127.0.0.1:{__import__("conftest").free_port()}"/>\n'
                         f'  <trace-soap dir="{traces}"/>\n')
    a = Agent(cfg, workdir, env={"CREDENTIALS_DIRECTORY": creds, "VMCRYPT_VC_PASSWORD": "",
                                 "VMCRYPT_DEBUG": "1"})
    try:
        for f in ("cmdline", "environ"):
            data = open(f"/proc/{a.p.pid}/{f}", "rb").read()
            assert first.encode() not in data and second.encode() not in data, f
        set_vcenter_password(vc, second)
        write_credential(creds, second)
        kill_agent_sessions(vc)
        create(vc, "traced")
        wait_until(lambda: compliant(vc, h, "traced"), 40, "traced compliant")
        assert "with the new password from" in a.text()
        out = os.path.join(workdir, "bundle.tar.gz")
        r = agent("support-bundle", "--config", cfg, "-o", out, "--log", a.log,
                  password=None, env={"CREDENTIALS_DIRECTORY": creds})
        assert r.returncode == 0, r.stderr
        assert first not in r.stdout + r.stderr and second not in r.stdout + r.stderr
        a.stop()
    finally:
        a.kill()
    text = a.text()
    assert first not in text and second not in text
    files = glob.glob(os.path.join(traces, "**", "*"), recursive=True)
    logins_traced = [f for f in files if "Login.request" in f]
    assert len(logins_traced) >= 2, files        # the first login and the new one
    for f in files:
        if os.path.isfile(f):
            data = open(f, "rb").read()
            assert first.encode() not in data and second.encode() not in data, f
    with tarfile.open(out) as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    assert any(n.startswith("trace/") for n in members), sorted(members)
    assert "log.txt" in members
    for name, data in members.items():
        assert first.encode() not in data and second.encode() not in data, name


def test_credential_help_and_usage():
    r = subprocess.run([BIN, "credential", "set", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for s in ("vcenter.password", "ovh.consumer-key", "--instance", "--with-key",
              "exit status: 0 written, 1 not written"):
        assert s in r.stdout, r.stdout
    r = subprocess.run([BIN, "credential", "get", "vcenter.password"], input="",
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown subcommand 'get'" in r.stderr
    r = subprocess.run([BIN, "credential", "set", "vcenter.password", "--instance", "../x"],
                       input="s\n", capture_output=True, text=True)
    assert r.returncode == 2 and "without '/'" in r.stderr
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert "credential set NAME < SECRET" in r.stdout
