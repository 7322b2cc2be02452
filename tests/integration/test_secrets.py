"""Secrets (issue #25, point 5): the password as a systemd credential, a
password rotated in vCenter and in the credential taken without a restart,
`credential set` (and its hand-over to the running agent, for systemd
before 260, whose credentials directory is a copy made at start), and no
secret in argv, logs, traces or the support bundle.  vCenter's password change is the harness's /harness/password
(tests/harness/vcsimd/password.go); what is read back is read with govc, the
harness's Login counts, systemd-creds and /proc."""
import glob
import json
import os
import secrets
import shutil
import socket
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


def cred_agent(v, workdir, creds, *extra, name="agent.log", env=None):
    # VMCRYPT_VC_PASSWORD holds a wrong one: only the credential can log in.
    return Agent(v.config(), workdir, *extra, name=name,
                 env={"CREDENTIALS_DIRECTORY": creds, "VMCRYPT_VC_PASSWORD": "not-it",
                      **(env or {})})


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


# ---------------------------------------------------------------- the hand-over

needs_creds = pytest.mark.skipif(shutil.which("systemd-creds") is None or os.geteuid() != 0,
                                 reason="systemd-creds with the host key: root")


def sock_dir():
    """A short directory for the agent's socket (a Unix socket's path is
    at most 107 bytes), 0700 as RuntimeDirectoryMode= makes it."""
    import tempfile
    return tempfile.mkdtemp(prefix="vmc-", dir="/tmp")


def talk(path, data, close_early=False, user=None):
    """One peer of the agent's socket: data sent, the write side closed,
    the answer read.  close_early: gone before the end (nothing read)."""
    if user is not None:        # another uid: a child process connects
        code = ("import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
                "s.sendall(sys.stdin.buffer.read());s.shutdown(socket.SHUT_WR);"
                "sys.stdout.write(s.recv(4096).decode())")
        r = subprocess.run(["python3", "-c", code, path], input=data, user=user,
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    try:
        if close_early:
            s.sendall(data)
            return ""
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass            # answered (and half-closed) before reading it all
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out.decode()
            out += b
    finally:
        s.close()


@pytest.mark.api
@needs_creds
def test_password_handed_over_to_the_running_agent(vc, workdir):
    """systemd before 260: the credentials directory is the copy made at
    start and stays old.  The password rotated in vCenter, then `credential
    set` writes the encrypted file and hands the same secret to the running
    agent over its socket: the same process logs in with it (one refusal
    of the old one) and keeps enforcing; the file holds the new one for
    the next start; no secret in the log or the command's output."""
    h = Harness(vc)
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    write_credential(creds, PASSWORD)
    stale = open(os.path.join(creds, "vcenter.password")).read()
    sock = os.path.join(sock_dir(), "credential.sock")
    a = cred_agent(vc, workdir, creds, env={"VMCRYPT_CREDENTIAL_SOCKET": sock})
    store = os.path.join(workdir, "store")
    new = "handed-" + secrets.token_hex(10)
    try:
        pid = a.p.pid
        a.wait_log(f"credential hand-over: listening on {sock}")
        assert os.stat(sock).st_mode & 0o777 == 0o600
        set_vcenter_password(vc, new)
        r = credential_set("vcenter.password", new + "\n", "--dir", store, "--with-key=host",
                           env={"VMCRYPT_CREDENTIAL_SOCKET": sock})
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"Handed over to the running agent ({sock})" in r.stdout, r.stdout
        assert decrypt(os.path.join(store, "vcenter.password"), "vcenter.password") == new
        assert new not in r.stdout + r.stderr
        a.wait_log("credential hand-over: vcenter.password taken from uid 0")
        logins(vc, reset=True)
        kill_agent_sessions(vc)
        create(vc, "after-handover")
        wait_until(lambda: compliant(vc, h, "after-handover"), 40,
                   "after-handover compliant with the password handed over")
        assert a.p.poll() is None and a.p.pid == pid, a.text()
        n = logins(vc)
        assert n["refused"] == 1 and n["accepted"] >= 1, (n, a.text())
        text = a.text()
        assert "with the new password from the password handed over by " \
               "`vmcrypt-agent credential set`" in text, text
        # The copy systemd made at start is as it was.
        assert open(os.path.join(creds, "vcenter.password")).read() == stale
        a.stop()
    finally:
        a.kill()
    assert not os.path.exists(sock)             # removed at stop
    assert PASSWORD not in a.text() and new not in a.text()
    # Nobody listens now: written, and said that the next start reads it.
    r = credential_set("vcenter.password", new + "\n", "--dir", store, "--with-key=host",
                       env={"VMCRYPT_CREDENTIAL_SOCKET": sock})
    assert r.returncode == 0 and f"No agent listens at {sock}" in r.stdout, r.stdout


@pytest.mark.api
def test_hostile_peers_on_the_socket_change_nothing(vc, workdir):
    """A wrong name, an oversized message, no newline, a peer gone
    mid-way, a peer of another uid: each is refused (or dropped) with
    nothing taken, and the agent goes on.  Then the password is changed in
    vCenter alone: the agent is refused with the credential named as its
    source, so none of the hostile secrets became its password."""
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    write_credential(creds, PASSWORD)
    d = sock_dir()
    sock = os.path.join(d, "credential.sock")
    a = cred_agent(vc, workdir, creds, env={"VMCRYPT_CREDENTIAL_SOCKET": sock})
    bad = "hostile-" + secrets.token_hex(8)
    try:
        pid = a.p.pid
        a.wait_log("credential hand-over: listening on")
        out = talk(sock, f"vcenter.passwd\n{bad}\n".encode())
        assert out.startswith("error: vcenter.passwd is not taken") and \
            "only vcenter.password" in out, out
        out = talk(sock, f"ovh.consumer-key\n{bad}\n".encode())
        assert out.startswith("error: ovh.consumer-key is not taken"), out
        out = talk(sock, b"vcenter.password\n" + bad.encode() * 1000 + b"\n")
        assert out.startswith("error: the message is longer than"), out
        out = talk(sock, f"vcenter.password{bad}".encode())
        assert out.startswith("error: no NAME line"), out
        out = talk(sock, f"vcenter.password\n{bad}".encode())       # no closing newline
        assert out.startswith("error: the message was cut off"), out
        talk(sock, f"vcenter.password\n{bad}".encode(), close_early=True)
        # Another uid, let through the file system for this test only.
        os.chmod(d, 0o755)
        os.chmod(sock, 0o666)
        out = talk(sock, f"vcenter.password\n{bad}\n".encode(), user=65534)
        assert out.startswith("error: not allowed: only root or the agent's own user"), out
        a.wait_log("credential hand-over refused (peer uid 65534")
        assert "credential hand-over: vcenter.password taken" not in a.text()
        assert a.p.poll() is None and a.p.pid == pid, a.text()
        # Nothing was taken: changed in vCenter only, the agent is refused
        # with the credential file as the source, as before any hand-over.
        set_vcenter_password(vc, "changed-" + secrets.token_hex(8))
        logins(vc, reset=True)
        kill_agent_sessions(vc)
        wait_until(lambda: "vCenter rejected the user name or password" in a.text(), 20,
                   "the refusal in the agent log")
        text = a.text()
        assert "from the credential vcenter.password" in text, text
        assert "handed over" not in text.split("vCenter rejected")[1], text
        assert a.p.poll() is None, text
        a.stop()
    finally:
        a.kill()
    assert bad not in a.text()


def test_a_refused_handover_still_writes_the_file(workdir):
    """The agent answers an error: `credential set` exits 15 with the
    agent's reason and the fix (a restart), and the file is written all
    the same.  What it sent is the documented message, the secret once."""
    sock = os.path.join(sock_dir(), "credential.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    srv.listen(1)
    got = []

    def serve():
        c, _ = srv.accept()
        data = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            data += b
        got.append(data)
        c.sendall(b"error: not now\n")
        c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    store, bare = os.path.join(workdir, "store"), os.path.join(workdir, "bare")
    os.mkdir(bare)
    r = credential_set("vcenter.password", "s3cret-x\n", "--dir", store,
                       env={"PATH": bare, "VMCRYPT_CREDENTIAL_SOCKET": sock})
    t.join(10)
    srv.close()
    assert r.returncode == 15, r.stdout + r.stderr
    assert "written, but the running agent did not take it (not now)" in r.stderr, r.stderr
    assert "systemctl restart vmcrypt-agent" in r.stderr
    assert open(os.path.join(store, "vcenter.password")).read() == "s3cret-x"
    assert got == [b"vcenter.password\ns3cret-x\n"]


# ---------------------------------------------------------------- credential set

def credential_set(name, secret, *opts, env=None):
    # No agent's socket unless the test gives one (never the host's).
    return subprocess.run([BIN, "credential", "set", name, *opts], input=secret,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ,
                               "VMCRYPT_CREDENTIAL_SOCKET": "/nonexistent/credential.sock",
                               **(env or {})})


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
    nobody = os.path.join(workdir, "no-agent.sock")
    p = subprocess.Popen([BIN, "credential", "set", "vcenter.password", "--dir", d,
                          "--with-key=host", "--json"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **env, "VMCRYPT_CREDENTIAL_SOCKET": nobody})
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
    assert rep == {"name": "vcenter.password", "path": path, "encrypted": True,
                   "socket": nobody, "handover": "no-agent"}
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
    drop = os.path.join(workdir, "renew.service.d")
    r = credential_set("ovh.consumer-key", "ck-" + "9" * 20 + "\n", "--dir", d,
                       "--dropin-dir", drop, env={"PATH": bare})
    assert r.returncode == 0, r.stderr
    path = os.path.join(d, "ovh.consumer-key")
    assert open(path).read() == "ck-" + "9" * 20
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "IN CLEAR" in r.stdout and f"LoadCredential=ovh.consumer-key:{path}" in r.stdout
    # The renewal unit's drop-in loads the plain file.
    conf = open(os.path.join(drop, "ovh.consumer-key.conf")).read()
    assert f"\n[Service]\nLoadCredential=ovh.consumer-key:{path}\n" in conf, conf


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
              "--dropin-dir", "exit status: 0 written", "1 not written",
              "15 written but the running agent did not take it"):
        assert s in r.stdout, r.stdout
    r = subprocess.run([BIN, "credential", "get", "vcenter.password"], input="",
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown subcommand 'get'" in r.stderr
    r = subprocess.run([BIN, "credential", "set", "vcenter.password", "--instance", "../x"],
                       input="s\n", capture_output=True, text=True)
    assert r.returncode == 2 and "without '/'" in r.stderr
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert "credential set NAME < SECRET" in r.stdout
