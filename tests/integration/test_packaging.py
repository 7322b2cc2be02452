"""The packages (`make deb`, `make rpm`, built before this suite): the .deb
is lintian clean, installs, starts the way its systemd unit starts it (the
unit's own ExecStartPre/ExecStart, as its User=, with its credential, state
directory and notify socket), enforces against vcsim, and removes cleanly;
the unit passes `systemd-analyze verify`; the RPM was built by rpmbuild
from the spec and holds the same files.

This suite installs a package on the machine, so it runs as root only
(CI is root); elsewhere it says why it did not run."""
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import PASSWORD, Harness, compliant, create, free_port, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEBS = glob.glob(os.path.join(ROOT, "build", "pkg", "vmcrypt-agent_*.deb"))
RPMS = glob.glob(os.path.join(ROOT, "build", "pkg", "rpm", "RPMS", "*", "vmcrypt-agent-*.rpm"))
UNIT = "/lib/systemd/system/vmcrypt-agent.service"
RENEW_SERVICE = "/lib/systemd/system/vmcrypt-agent-renew.service"
RENEW_TIMER = "/lib/systemd/system/vmcrypt-agent-renew.timer"
CRED = "/run/credentials/vmcrypt-agent.service"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="installs a package: root only (CI runs as root)")


def sh(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: rc {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def purge():
    sh("dpkg", "--purge", "vmcrypt-agent", check=False)
    shutil.rmtree(CRED, ignore_errors=True)
    for d in glob.glob("/etc/credstore.encrypted/vmcrypt-agent*"):
        shutil.rmtree(d, ignore_errors=True)
    # What the test put there as an admin would (purge keeps admin files).
    for f in ("/etc/vmcrypt-agent/vcenter-ca.pem",):
        if os.path.exists(f):
            os.unlink(f)
    if os.path.isdir("/etc/vmcrypt-agent") and not os.listdir("/etc/vmcrypt-agent"):
        os.rmdir("/etc/vmcrypt-agent")


@pytest.fixture
def deb(machine_lock):
    assert DEBS, "build/pkg/*.deb missing: `make check` builds it (make deb)"
    purge()
    yield DEBS[0]
    purge()


def store_credential(unit_text, cred, *opts):
    """`credential set vcenter.password` as the admin runs it (the password
    on stdin), then what systemd does for the unit's LoadCredentialEncrypted=:
    the file it names decrypted (under that credential's name) into the
    credentials directory.  The stored file is encrypted and 0600."""
    r = subprocess.run(["/usr/bin/vmcrypt-agent", "credential", "set", "vcenter.password",
                        "--with-key=host", *opts], input=PASSWORD + "\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (src,) = [l.split("=", 1)[1].strip().split(":", 1)[1] for l in unit_text.splitlines()
              if l.startswith("LoadCredentialEncrypted=vcenter.password:")]
    assert os.stat(src).st_mode & 0o777 == 0o600
    assert PASSWORD.encode() not in open(src, "rb").read()
    os.makedirs(cred, exist_ok=True)
    sh("systemd-creds", "decrypt", "--name=vcenter.password", src, f"{cred}/vcenter.password")
    return src


def unit_values(key):
    out = []
    for line in open(UNIT):
        if line.startswith(key + "="):
            out.append(line.split("=", 1)[1].strip())
    return out


def as_unit(u, cred, tag, *env):
    """What systemd does before ExecStart, as far as the agent can tell:
    LoadCredential= (a copy of the password the service user can read,
    0400) and a notify socket; the command prefix that runs as the unit's
    User=, without capabilities, in a clean environment plus env.
    Returns (prefix, notify socket, its path)."""
    os.makedirs(cred, exist_ok=True)
    os.chown(f"{cred}/vcenter.password", u.pw_uid, u.pw_gid)
    os.chmod(f"{cred}/vcenter.password", 0o400)
    nsock = os.path.join("/run", f"vmcrypt-test-{tag}-{os.getpid()}.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock)
    os.chmod(nsock, 0o666)
    ns.settimeout(60)
    return (["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--init-groups",
             "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
             "env", "-i", f"NOTIFY_SOCKET={nsock}", f"CREDENTIALS_DIRECTORY={cred}", *env],
            ns, nsock)


def state_dir(u, path):
    """StateDirectory=: 0700, owned by the service user."""
    os.makedirs(path, exist_ok=True)
    os.chown(path, u.pw_uid, u.pw_gid)
    os.chmod(path, 0o700)


def test_deb_lintian_clean():
    assert DEBS, "make deb did not run"
    r = sh("lintian", "--fail-on", "error,warning", DEBS[0], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:")]


def test_deb_install_run_as_the_unit_remove(deb, testbed, workdir):
    sh("dpkg", "-i", deb)
    for f in ("/usr/bin/vmcrypt-agent", UNIT, "/etc/vmcrypt-agent/vmcrypt-agent.xml",
              "/usr/lib/sysusers.d/vmcrypt-agent.conf",
              "/usr/share/man/man8/vmcrypt-agent.8.gz",
              "/usr/share/doc/vmcrypt-agent/copyright"):
        assert os.path.exists(f), f
    u = pwd.getpwnam("vmcrypt-agent")
    assert u.pw_shell == "/usr/sbin/nologin" and u.pw_uid < 1000
    r = sh("systemd-analyze", "verify", UNIT, check=False)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    # The daily renewal of vCenter's KMS client certificate (issue #25):
    # its timer and service verify, and the service runs the command.
    for f in (RENEW_TIMER, RENEW_SERVICE):
        assert os.path.exists(f), f
    r = sh("systemd-analyze", "verify", RENEW_TIMER, RENEW_SERVICE, check=False)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    svc = open(RENEW_SERVICE).read()
    assert "ExecStart=/usr/bin/vmcrypt-agent kms renew-client-cert --config " in svc
    assert "Type=oneshot" in svc
    assert "OnCalendar=daily" in open(RENEW_TIMER).read()
    # The installed default configuration is valid as shipped.
    sh("/usr/bin/vmcrypt-agent", "check-config", "/etc/vmcrypt-agent/vmcrypt-agent.xml")
    man = sh("man", "-l", "/usr/share/man/man8/vmcrypt-agent.8.gz",
             env=dict(os.environ, MANPAGER="cat", MANWIDTH="100")).stdout
    assert "make VM encryption the default in VMware vCenter" in man

    # Point the installed configuration at vcsim, as an admin would.
    v = testbed()
    shutil.copy(v.crt, "/etc/vmcrypt-agent/vcenter-ca.pem")
    os.chmod("/etc/vmcrypt-agent/vcenter-ca.pem", 0o644)
    port = free_port()
    conf = open("/etc/vmcrypt-agent/vmcrypt-agent.xml").read()
    conf = conf.replace("https://vcenter.example.com/sdk", v.url)
    conf = conf.replace("svc-vmcrypt@vsphere.local", "svc-vmcrypt")
    conf = conf.replace("    <!-- Trust: the system CA store by default.",
                        '    <tls ca-file="/etc/vmcrypt-agent/vcenter-ca.pem"/>\n'
                        "    <!-- Trust: the system CA store by default.")
    conf = conf.replace("127.0.0.1:9480", f"127.0.0.1:{port}")
    with open("/etc/vmcrypt-agent/vmcrypt-agent.xml", "w") as f:
        f.write(conf)
    enc = store_credential(open(UNIT).read(), CRED)
    state_dir(u, "/var/lib/vmcrypt-agent")
    wd = int(unit_values("WatchdogSec")[0].rstrip("s")) * 1000000
    prefix, ns, nsock = as_unit(u, CRED, "notify", f"WATCHDOG_USEC={wd}")
    for pre in unit_values("ExecStartPre"):
        sh(*prefix, *pre.split())
    (start,) = unit_values("ExecStart")
    log = open(os.path.join(workdir, "unit.log"), "w")
    p = subprocess.Popen([*prefix, *start.split()], stdout=log, stderr=log, umask=0o077)
    try:
        msgs = []
        while not any("READY=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        h = Harness(v)
        create(v, "pkg-vm")
        wait_until(lambda: compliant(v, h, "pkg-vm"), 30, "pkg-vm compliant")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
        # It runs as the service user, and the checkpoint is its own.
        st = os.stat("/var/lib/vmcrypt-agent/checkpoint")
        assert st.st_uid == u.pw_uid and (st.st_mode & 0o077) == 0
        # setpriv execs the agent: the same pid, now the service user.
        uid = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("Uid:")][0]
        assert uid.split()[1:] == [str(u.pw_uid)] * 4, uid
        caps = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("CapEff:")][0]
        assert int(caps.split()[1], 16) == 0
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0, open(log.name).read()
    finally:
        if p.poll() is None:
            p.kill()
        ns.close()
        os.unlink(nsock)
    text = open(log.name).read()
    assert PASSWORD not in text

    # Remove: the program and the unit go, the edited conffile stays.
    sh("dpkg", "--remove", "vmcrypt-agent")
    assert not os.path.exists("/usr/bin/vmcrypt-agent") and not os.path.exists(UNIT)
    assert os.path.exists("/etc/vmcrypt-agent/vmcrypt-agent.xml")
    # Purge: nothing of it is left (the CA file is the admin's own).
    sh("dpkg", "--purge", "vmcrypt-agent")
    shutil.rmtree(CRED, ignore_errors=True)
    for f in ("/etc/vmcrypt-agent/vmcrypt-agent.xml", "/etc/vmcrypt-agent/vcenter.password",
              "/var/lib/vmcrypt-agent", enc):
        assert not os.path.exists(f), f
    assert os.listdir("/etc/vmcrypt-agent") == ["vcenter-ca.pem"]
    assert sh("dpkg", "-s", "vmcrypt-agent", check=False).returncode != 0


TEMPLATE = "/lib/systemd/system/vmcrypt-agent@.service"


def start_instance(name, v, u, workdir):
    """vmcrypt-agent@NAME as systemd would start it from the installed
    template: /etc/vmcrypt-agent/NAME.xml (the shipped file pointed at v,
    <state-dir> left as shipped) and its encrypted credential, decrypted,
    StateDirectory=vmcrypt-agent/NAME and $STATE_DIRECTORY, the notify
    socket, the unit's User=.  Returns (process, metrics port, socket)."""
    text = open(TEMPLATE).read().replace("%i", name)
    vals = lambda k: [l.split("=", 1)[1].strip() for l in text.splitlines()
                      if l.startswith(k + "=")]
    port = free_port()
    conf = open("/etc/vmcrypt-agent/vmcrypt-agent.xml").read()
    conf = conf.replace("https://vcenter.example.com/sdk", v.url)
    conf = conf.replace("svc-vmcrypt@vsphere.local", "svc-vmcrypt")
    conf = conf.replace("    <!-- Trust: the system CA store by default.",
                        f'    <tls ca-file="/etc/vmcrypt-agent/{name}-ca.pem"/>\n'
                        "    <!-- Trust: the system CA store by default.")
    conf = conf.replace("127.0.0.1:9480", f"127.0.0.1:{port}")
    shutil.copy(v.crt, f"/etc/vmcrypt-agent/{name}-ca.pem")
    os.chmod(f"/etc/vmcrypt-agent/{name}-ca.pem", 0o644)
    with open(f"/etc/vmcrypt-agent/{name}.xml", "w") as f:
        f.write(conf)
    cred = f"/run/credentials/vmcrypt-agent@{name}.service"
    store_credential(text, cred, "--instance", name)
    (sd,) = vals("StateDirectory")
    state = os.path.join("/var/lib", sd)
    state_dir(u, state)
    prefix, ns, nsock = as_unit(u, cred, name, f"STATE_DIRECTORY={state}")
    for pre in vals("ExecStartPre"):
        sh(*prefix, *pre.split())
    (start,) = vals("ExecStart")
    log = open(os.path.join(workdir, f"{name}.log"), "w")
    p = subprocess.Popen([*prefix, *start.split()], stdout=log, stderr=log, umask=0o077)
    p.log, p.nsock, p.state = log.name, nsock, state
    return p, port, ns


def test_deb_two_instances_side_by_side(deb, testbed, workdir):
    """Issue #17 point 2: the .deb's template unit passes systemd-analyze
    verify, and two instances, vmcrypt-agent@paris and @lyon, run side by
    side against two test vCenters: each its own configuration,
    credential, state directory and metrics port, each enforcing on its own
    vCenter (checked with govc)."""
    sh("dpkg", "-i", deb)
    u = pwd.getpwnam("vmcrypt-agent")
    r = sh("systemd-analyze", "verify", TEMPLATE, check=False)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    vcs, procs = [], []
    try:
        for name in ("paris", "lyon"):
            v = testbed(vms=0, name=name)
            vcs.append(v)
            p, port, ns = start_instance(name, v, u, workdir)
            procs.append((p, port, ns))
        for p, port, ns in procs:
            msgs = []
            while not any("READY=1" in m for m in msgs):
                msgs.append(ns.recv(4096).decode())
        for (p, port, ns), v, name in zip(procs, vcs, ("paris", "lyon")):
            h = Harness(v)
            create(v, f"{name}-vm")
            wait_until(lambda: compliant(v, h, f"{name}-vm"), 30, f"{name}-vm compliant")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                body = r.read().decode()
                assert r.status == 200 and "; leader (lease epoch 1)" in body, body
            # Its own state directory (systemd's, over the shipped <state-dir>).
            st = os.stat(f"/var/lib/vmcrypt-agent/{name}/checkpoint")
            assert st.st_uid == u.pw_uid and (st.st_mode & 0o077) == 0
            assert os.path.exists(f"/var/lib/vmcrypt-agent/{name}/lock")
            assert f":/var/lib/vmcrypt-agent/{name}#" in open(p.log).read()
            other = "lyon" if name == "paris" else "paris"
            assert f"{name}-vm" in open(p.log).read()
            assert f"{other}-vm" not in open(p.log).read()
        for p, port, ns in procs:
            p.send_signal(signal.SIGTERM)
            assert p.wait(30) == 0, open(p.log).read()
            assert PASSWORD not in open(p.log).read()
    finally:
        for p, port, ns in procs:
            if p.poll() is None:
                p.kill()
            ns.close()
            os.unlink(p.nsock)
        for name in ("paris", "lyon"):
            for f in (f"{name}.xml", f"{name}.password", f"{name}-ca.pem"):
                if os.path.exists(f"/etc/vmcrypt-agent/{f}"):
                    os.unlink(f"/etc/vmcrypt-agent/{f}")
            shutil.rmtree(f"/run/credentials/vmcrypt-agent@{name}.service", ignore_errors=True)


@pytest.mark.skipif(shutil.which("systemd-creds") is None, reason="systemd-creds")
def test_renew_unit_loads_the_ovh_secrets_through_credential_sets_dropins(workdir):
    """Issue #25: `credential set ovh.application-secret` / `ovh.consumer-key`
    write the renewal unit's drop-in that loads the credential just written
    (systemd 252 fails a unit listing a missing one, so the unit cannot);
    written again, it is unchanged; the shipped unit plus the drop-ins pass
    `systemd-analyze verify`, which reads drop-ins beside the unit (a broken
    one is caught: shown first)."""
    from conftest import BIN
    units = os.path.join(workdir, "units")
    drop = os.path.join(units, "vmcrypt-agent-renew.service.d")
    store = os.path.join(workdir, "store")
    os.makedirs(units)
    text = open(os.path.join(ROOT, "packaging", "vmcrypt-agent-renew.service")).read()
    with open(os.path.join(units, "vmcrypt-agent-renew.service"), "w") as f:
        f.write(text.replace("/usr/bin/vmcrypt-agent", BIN))

    def cred_set(name, secret):
        return subprocess.run([BIN, "credential", "set", name, "--dir", store, "--with-key=host",
                               "--dropin-dir", drop, "--json"], input=secret + "\n",
                              capture_output=True, text=True, timeout=60)

    def verify():
        return sh("systemd-analyze", "verify", "--man=no",
                  os.path.join(units, "vmcrypt-agent-renew.service"), check=False)

    # verify reads the drop-ins beside the unit: a broken one is named.
    os.makedirs(drop)
    with open(os.path.join(drop, "broken.conf"), "w") as f:
        f.write("[Service]\nLoadCredentialEncrypted=\x01bad\n")
    r = verify()
    assert "broken.conf" in r.stdout + r.stderr, r.stdout + r.stderr
    os.unlink(os.path.join(drop, "broken.conf"))

    for name in ("ovh.application-secret", "ovh.consumer-key"):
        r = cred_set(name, "s-" + name)
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)
        conf = os.path.join(drop, f"{name}.conf")
        assert doc["dropin"] == conf and doc["dropin_changed"] is True, doc
        # No systemd here (not PID 1): no daemon-reload, said.
        if not os.path.isdir("/run/systemd/system"):
            assert doc["daemon_reload"] == "no systemd", doc
        body = open(conf).read()
        assert body.endswith(f"[Service]\nLoadCredentialEncrypted={name}:"
                             f"{os.path.join(store, name)}\n"), body
        assert os.stat(conf).st_mode & 0o777 == 0o644
        # Again: the same drop-in, left as it is.
        before = os.stat(conf).st_mtime_ns
        r = cred_set(name, "s2-" + name)
        doc = json.loads(r.stdout)
        assert r.returncode == 0 and doc["dropin_changed"] is False, r.stdout + r.stderr
        assert open(conf).read() == body and os.stat(conf).st_mtime_ns == before
    assert sorted(os.listdir(drop)) == ["ovh.application-secret.conf", "ovh.consumer-key.conf"]
    r = verify()
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    # Words, without --json.
    r = subprocess.run([BIN, "credential", "set", "ovh.consumer-key", "--dir", store,
                        "--with-key=host", "--dropin-dir", drop], input="x\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"{drop}/ovh.consumer-key.conf: unchanged; vmcrypt-agent-renew.service loads " \
           "ovh.consumer-key" in r.stdout, r.stdout


def test_rpm_built_from_the_spec():
    assert RPMS, "build/pkg/rpm/RPMS/*/vmcrypt-agent-*.rpm missing: `make rpm`"
    rpm = RPMS[0]
    assert sh("rpm", "-K", "--nosignature", rpm).returncode == 0
    files = sh("rpm", "-qpl", rpm).stdout.split()
    for f in ("/usr/bin/vmcrypt-agent", "/usr/lib/systemd/system/vmcrypt-agent.service",
              "/usr/lib/systemd/system/vmcrypt-agent@.service",
              "/usr/lib/systemd/system/vmcrypt-agent-renew.service",
              "/usr/lib/systemd/system/vmcrypt-agent-renew.timer",
              "/usr/lib/sysusers.d/vmcrypt-agent.conf", "/etc/vmcrypt-agent/vmcrypt-agent.xml",
              "/usr/share/man/man8/vmcrypt-agent.8", "/var/lib/vmcrypt-agent"):
        assert f in files, (f, files)
    cfg = sh("rpm", "-qpc", rpm).stdout.split()
    assert cfg == ["/etc/vmcrypt-agent/vmcrypt-agent.xml"]
    scripts = sh("rpm", "-qp", "--scripts", rpm).stdout
    assert "useradd -r -g vmcrypt-agent" in scripts and "daemon-reload" in scripts
    # The same unit as the .deb's.
    unit = sh("sh", "-c", f"rpm2cpio {rpm} | cpio -i --to-stdout "
              "./usr/lib/systemd/system/vmcrypt-agent.service 2>/dev/null").stdout
    assert unit == open(os.path.join(ROOT, "packaging", "vmcrypt-agent.service")).read()
    # Hardened: PIE and full RELRO on the shipped binary.
    tmp = sh("mktemp", "-d").stdout.strip()
    sh("sh", "-c", f"cd {tmp} && rpm2cpio {rpm} | cpio -id ./usr/bin/vmcrypt-agent 2>/dev/null")
    hdr = sh("readelf", "-hd", f"{tmp}/usr/bin/vmcrypt-agent").stdout
    assert "DYN (Position-Independent Executable" in hdr and "BIND_NOW" in hdr
    shutil.rmtree(tmp)
