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
