"""Integration test bed: each test gets its own vcsimd (govmomi's simulator)
on a free loopback port with a fresh, proper TLS certificate.  Scenarios are
set up and checked with govc, an independent client; the agent under test is
the real binary."""
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
import urllib.parse
import urllib.request

import pytest

BIN = os.environ.get("VMCRYPT_BIN", os.path.abspath("build/vmcrypt-agent"))
TOOLS = os.environ.get("VMCRYPT_TOOLS", os.path.abspath("build/tools"))
USER, PASSWORD = "svc-vmcrypt", "s3cret-Pa55"
# Waits scale by this when the agent runs slower on purpose (under valgrind
# in make check-hard: VMCRYPT_SLOW=20).
SLOW = float(os.environ.get("VMCRYPT_SLOW", "1"))
# The binary is an ASan + UBSan build (make SANITIZE=1): ASan's shadow
# memory and quarantine make RSS meaningless, and it handles SIGSEGV itself.
# make SANITIZE=1 (ASan + UBSan) or SANITIZE=thread: slower, larger.
SANITIZED = os.environ.get("VMCRYPT_SANITIZED", "") not in ("", "0")
# Every agent process runs under valgrind (make check-hard): 20-50x slower,
# larger RSS, and the launcher keeps the original environment block.
VALGRIND = os.environ.get("VMCRYPT_VALGRIND") == "1"
POLICY = "4d5f673c-536f-11e6-beb8-9e71128cae77"   # "VM Encryption Policy"
# The vSphere API version the test bed presents (vimServiceVersions.xml and
# about shaped like that vCenter's): `make check` runs the suite at 8.0.3.0
# and the API-sensitive tests again at 7.0.3.0 and 9.0.0.0.
API = os.environ.get("VMCRYPT_API", "8.0.3.0")
# How long the test bed runs each task, as vCenter does (encryption takes
# seconds to minutes): vcsimd -task-delay, e.g. "ReconfigVm=1500".  The
# delay also makes every wait for a reconfigure longer by that much.
TASK_DELAY = os.environ.get("VMCRYPT_TASK_DELAY", "")
AGENT_MAX_API = "8.0.3.0"     # the newest vim25 version the agent knows (VIM_MAX_VERSION, agent/vsphere/vsession.c)


def vtuple(v):
    return tuple(int(x) for x in v.split("."))


def negotiated(api=None):
    """The version the agent must send to a test bed presenting api."""
    api = api or API
    return api if vtuple(api) <= vtuple(AGENT_MAX_API) else AGENT_MAX_API


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "api: the agent's behaviour depends on the vSphere API version; "
        "make check runs these again at 7.0.3.0 and 9.0.0.0")
    config.addinivalue_line(
        "markers", "scale: one of the long tests (hundreds of VMs, or a minute of "
        "waiting by design); run first, so that the workers finish together")
    config.addinivalue_line(
        "markers", "asan_skip: reaches no line of agent/ that the rest of the suite "
        "does not (gcov); .ci/run's ASan + UBSan run leaves it out")


def pytest_collection_modifyitems(config, items):
    """The long tests first (stable: the others keep their order), so that
    pytest-xdist's workers start on them and none is left with one at the
    end while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("scale") is None)
TASK_DELAY_S = max([int(x.split("=", 1)[1]) for x in TASK_DELAY.split(",") if "=" in x]
                   or [0]) / 1000.0
PATHS = ["config.keyId", "config.migrateEncryption", "config.hardware.device",
         "runtime.powerState", "name"]


def _port_range():
    """The ports this process hands out: 10000 up to the kernel's ephemeral
    range, split evenly between pytest-xdist's workers (gw0, gw1, ... of
    PYTEST_XDIST_WORKER_COUNT), so two workers never pick the same port."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 10001)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    i = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = max((low - 10000) // max(count, 1), 1)
    first = 10000 + (i % max(count, 1)) * size
    return first, min(first + size, low)


_PORTS = {}


def free_port():
    """A port for a server a test starts (vcsimd, s_server, PyKMIP, the OVH
    fake, the agent's metrics), free now.  Taken below the kernel's
    ephemeral range: a port from that range can be taken, between this
    check and the server's bind, as the source port of any outgoing
    connection on the machine (CI saw "bind: address already in use" so).
    Each xdist worker has its own share of that range (_port_range), and
    walks it from a random start, so a port it handed out is not handed
    out again before the whole share has been used."""
    import random
    if not _PORTS:
        first, end = _port_range()
        _PORTS.update(first=first, end=end, next=random.randrange(first, end))
    first, end = _PORTS["first"], _PORTS["end"]
    for _ in range(min(end - first, 2000)):
        port = _PORTS["next"]
        _PORTS["next"] = first + (port + 1 - first) % (end - first)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=30, what="server"):
    """Returns once something accepts connections on 127.0.0.1:port; fails
    if proc (the server) exits first or after timeout seconds."""
    deadline = time.time() + timeout * SLOW
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{what} exited before it listened on port {port}")
            if time.time() > deadline:
                raise RuntimeError(f"{what}: nothing listens on port {port}")
            time.sleep(0.02)


def make_cert(d, cn="127.0.0.1", days=2):
    crt, key = os.path.join(d, "vc.crt"), os.path.join(d, "vc.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", str(days), "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    fp = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1"],
                        check=True, capture_output=True, text=True).stdout
    return crt, key, fp.strip().split("=", 1)[1]


class Vcsim:
    def __init__(self, vms=2, dirpath=None, args=(), start_timeout=120, strict=True):
        self.dir = dirpath
        # What the strict request checker found in this vCenter's lifetime
        # (across restarts); stop() fails the test if anything was found.
        self.violations = []
        self.reported = 0             # how many of them already failed a test
        # A test that sends malformed requests on purpose (test_strict.py)
        # reads and clears them itself.
        self.expect_violations = False
        self.kms_procs, self.kms_certs = [], {}
        args = tuple(args)
        if "-api-version" not in args:
            args += ("-api-version", API)
        if TASK_DELAY and "-task-delay" not in args:
            args += ("-task-delay", TASK_DELAY)
        if strict:
            args += ("-strict",)
        if "-instance-uuid" not in args:      # each vCenter its own, across restarts
            args += ("-instance-uuid", str(uuid.uuid4()))
        self.args = args
        self.crt, self.key, self.thumbprint = make_cert(dirpath)
        self.url_file = os.path.join(dirpath, "url")
        self.log = open(os.path.join(dirpath, "vcsimd.log"), "w")
        self.port = free_port()
        self._spawn(["-vm", str(vms), *args], start_timeout)

    def _spawn(self, args, start_timeout=120):
        if os.path.exists(self.url_file):
            os.unlink(self.url_file)
        self.proc = subprocess.Popen(
            [os.path.join(TOOLS, "vcsimd"), "-l", f"127.0.0.1:{self.port}",
             "-tlscert", self.crt, "-tlskey", self.key, "-username", USER,
             "-password", PASSWORD, "-url-file", self.url_file, *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + start_timeout
        while not os.path.exists(self.url_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("vcsimd did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self.url = open(self.url_file).read().strip()

    def save(self, d):
        """The inventory as govc object.save writes it (what `vcsim -load`
        reads), plus the front's SPBM associations."""
        self.govc("object.save", "-f", "-d", d)
        Harness(self)._req("POST", "/harness/save?dir=" + urllib.parse.quote(d))

    def collect_violations(self):
        """The strict checker's findings so far (kept across restarts)."""
        if self.proc.poll() is not None or "-strict" not in self.args:
            return self.violations
        try:
            found = Harness(self)._req("GET", "/harness/violations")["violations"]
        except OSError:
            return self.violations
        for v in found:
            if v not in self.violations:
                self.violations.append(v)
        return self.violations

    def kill(self):
        self.collect_violations()
        self.proc.kill()
        self.proc.wait()

    def restart(self, d):
        """vcsimd again, on the same port with the same certificate, from
        the inventory saved in d (new sessions, collectors and tasks, as
        after a vCenter restart)."""
        self._spawn(["-load", d, *self.args])

    def govc_env(self):
        env = dict(os.environ)
        env.update(GOVC_URL=self.url, GOVC_USERNAME=USER, GOVC_PASSWORD=PASSWORD,
                   GOVC_TLS_CA_CERTS=self.crt)
        return env

    def govc(self, *args, check=True):
        r = subprocess.run([os.path.join(TOOLS, "govc"), *args], env=self.govc_env(),
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError(f"govc {' '.join(args)}: {r.stderr}")
        return r.stdout

    def govc_json_stream(self, *args):
        out, dec, objs, i = self.govc(*args), json.JSONDecoder(), [], 0
        while i < len(out):
            while i < len(out) and out[i].isspace():
                i += 1
            if i >= len(out):
                break
            o, i = dec.raw_decode(out, i)
            objs.append(o)
        return objs

    def config(self, tls=None, user=USER, extra="", tail=None, state=None):
        """Writes an agent config; tls is the inner <tls .../> element or ''.
        tail goes after <state-dir> (<log>, <metrics>); by default the
        metrics listener gets a free port (self.metrics_port).  state: the
        state directory (default the test's; one running agent each)."""
        if tail is None:
            self.metrics_port = free_port()
            tail = f'  <metrics listen="127.0.0.1:{self.metrics_port}"/>\n'
        if tls is None:
            tls = f'<tls ca-file="{self.crt}"/>'
        path = os.path.join(self.dir, f"agent-{time.monotonic_ns()}.xml")
        with open(path, "w") as f:
            f.write(f'<?xml version="1.0"?>\n<vmcrypt-agent version="1">\n'
                    f'  <vcenter url="{self.url}" user="{user}" pbm-path="/pbm">{tls}</vcenter>\n'
                    f'{extra}  <state-dir>{state or self.dir}</state-dir>\n{tail}</vmcrypt-agent>\n')
        return path

    def check_violations(self):
        """Every request the agent sent is read as a strict vCenter reads
        it (vcsimd -strict); anything it would refuse fails the test (each
        finding once, for a test bed that serves several tests)."""
        self.collect_violations()
        new = self.violations[self.reported:]
        self.reported = len(self.violations)
        if new and not self.expect_violations:
            raise AssertionError("requests a strict vCenter would refuse:\n" +
                                 "\n".join(json.dumps(v) for v in new))

    def stop(self):
        for p in self.kms_procs:
            p.kill()
            p.wait()
        self.collect_violations()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.check_violations()


@pytest.fixture
def machine_lock():
    """For a test that changes the machine itself or reads what it may
    change (the package installed, /etc/vmcrypt-agent): one such test at a
    time, across pytest-xdist's workers and any other run on this machine."""
    import fcntl
    with open(os.path.join(tempfile.gettempdir(), "vmcrypt-agent-tests.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture
def workdir():
    if os.environ.get("VMCRYPT_KEEP"):          # debugging: keep logs and state
        yield tempfile.mkdtemp(prefix="vmcrypt-it-")
        return
    with tempfile.TemporaryDirectory(prefix="vmcrypt-it-") as d:
        yield d


_AGENTS = []


@pytest.fixture(autouse=True)
def _no_agent_left():
    """A test that fails before it stops its agent leaves no process
    behind to retry a dead test bed for the rest of the run."""
    yield
    while _AGENTS:
        p = _AGENTS.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


class Testbeds:
    """What the testbed fixtures give a test: testbed(vms=1, args=(),
    kms=True) starts a vCenter (Vcsim, vcsimd with -strict) with vms VMs
    on each host and cluster, with a live default key provider when kms
    (with_kms), and returns it.  The first one lives in the test's own
    directory (the agent's state directory by default), each further one
    in a directory of its own (name, or bed-N).  All are stopped when the
    test ends, whatever happened; what a strict vCenter would have refused
    fails the test (checked when the test body returns, as Vcsim.stop()
    does, and at the stop)."""

    def __init__(self, root):
        self.root, self.beds = root, []

    def __call__(self, vms=1, args=(), kms=True, name=None, **kw):
        d = self.root
        if name is not None or self.beds:
            d = os.path.join(self.root, name or f"bed-{len(self.beds) + 1}")
            os.makedirs(d)
        v = Vcsim(vms=vms, dirpath=d, args=args, **kw)
        self.beds.append(v)         # stopped at the end even if with_kms fails
        if kms:
            with_kms(v)
        return v

    def check(self):
        for v in self.beds:
            v.check_violations()

    def stop(self):
        """Stops every agent the test left running, then every test bed;
        raises the first failure once all are stopped."""
        while _AGENTS:
            p = _AGENTS.pop()
            if p.poll() is None:
                p.kill()
                p.wait()
        failed = []
        for v in self.beds:
            try:
                v.stop()
            except Exception as e:          # noqa: BLE001 (the others still stop)
                failed.append(e)
        self.beds = []
        if failed:
            raise failed[0]


@pytest.fixture
def testbed(workdir):
    """A factory of test beds for one test (see Testbeds)."""
    beds = Testbeds(workdir)
    yield beds
    beds.stop()


@pytest.fixture(scope="module")
def testbed_module(tmp_path_factory, request):
    """A factory of test beds shared by the tests of one module, stopped
    after the last of them (under pytest-xdist: of them on that worker;
    each worker that runs some of them has its own).  Each test that uses
    one fails on what a strict vCenter refused while it ran."""
    beds = Testbeds(str(tmp_path_factory.mktemp(request.module.__name__)))
    yield beds
    beds.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """When the test body returns: what its test beds saw that a strict
    vCenter refuses fails the test, as Vcsim.stop() at its end did."""
    res = yield
    for beds in item.funcargs.values():
        if isinstance(beds, Testbeds):
            beds.check()
    return res


@pytest.fixture
def vcsim(testbed):
    return testbed(vms=2, kms=False)


def agent(*args, password=PASSWORD, timeout=600, env=None):
    env = {**os.environ, **(env or {})}
    env.pop("VMCRYPT_VC_PASSWORD", None)
    if password is not None:
        env["VMCRYPT_VC_PASSWORD"] = password
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


class Harness:
    def __init__(self, v):
        self.base = v.url.rsplit("/sdk", 1)[0]
        self.ctx = ssl.create_default_context(cafile=v.crt)

    def _req(self, method, path):
        r = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(r, context=self.ctx, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def stats(self):
        return self._req("GET", "/harness/stats")

    def fault(self, method, message, probability=1.0, fault=None, privilege=None):
        q = urllib.parse.urlencode({"method": method, "message": message,
                                    "probability": str(probability),
                                    **({"fault": fault, "privilege": privilege} if fault else {})})
        self._req("POST", "/harness/fault?" + q)

    def vsan(self, datastore, cluster, encrypted):
        """datastore becomes cluster's vSAN datastore, encrypted at rest or not."""
        q = urllib.parse.urlencode({"datastore": datastore, "cluster": cluster,
                                    "encrypted": "1" if encrypted else "0"})
        self._req("POST", "/harness/vsan?" + q)

    def clear_faults(self):
        self._req("DELETE", "/harness/fault")

    def profile(self, key):
        return self._req("GET", "/harness/assoc?key=" + urllib.parse.quote(key))["profile"]

    def kms_status(self, cluster, **status):
        """What vCenter will report for a key provider (overall, status,
        connection, clientTrustServer, serverTrustClient, certExpireIn)."""
        q = {"cluster": cluster}
        q.update({k: str(v).lower() if isinstance(v, bool) else str(v)
                  for k, v in status.items()})
        self._req("POST", "/harness/kms-status?" + urllib.parse.urlencode(q))

    def clear_kms_status(self):
        self._req("DELETE", "/harness/kms-status")

    def deny_privilege(self, priv):
        self._req("POST", "/harness/deny-privilege?id=" + urllib.parse.quote(priv))

    def event(self, type_id, message):
        q = urllib.parse.urlencode({"type": type_id, "message": message})
        self._req("POST", "/harness/event?" + q)


def s_server(v, crt, key, *extra):
    """openssl s_server with crt and key (and extra options) on a free
    loopback port, stopped with the test bed; returns the port once it
    accepts connections."""
    port = free_port()
    p = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                          "-cert", crt, "-key", key, *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    v.kms_procs.append(p)
    return wait_port(port, p, timeout=10, what="openssl s_server")


def kms_endpoint(v, name="kms-1"):
    """A live KMS endpoint for a key provider: openssl s_server with a
    certificate of its own on a free loopback port.  vCenter connects to
    every KMS to report its Connection Status (and so does the test bed):
    a key provider pointing at nothing is red, as on vCenter.  Stopped with
    the test bed.  Returns the port."""
    d = os.path.join(v.dir, f"kms-{name}")
    os.makedirs(d, exist_ok=True)
    crt, key, _ = make_cert(d, cn=name, days=365)     # no expiry warning
    port = s_server(v, crt, key)
    v.kms_certs[name] = crt
    return port


def kms_trust(v, cluster="ovh-kms", server="kms-1"):
    """Trust both ways, as an admin does in the vSphere Client (govc
    kms.trust): vCenter trusts the KMS's certificate ("Make vCenter Trust
    KMS"), and vCenter gets a client certificate and key for the KMS to
    trust ("Make KMS Trust vCenter").  Without it the test bed, like
    vCenter, reports the key provider's connection as not trusted."""
    d = os.path.join(v.dir, "kms-client")
    if not os.path.exists(os.path.join(d, "vc.crt")):
        os.makedirs(d, exist_ok=True)
        make_cert(d, cn="vcenter-client", days=365)
    v.govc("kms.trust", "-server-cert", open(v.kms_certs[server]).read(),
           "-client-cert", open(os.path.join(d, "vc.crt")).read(),
           "-client-key", open(os.path.join(d, "vc.key")).read(), cluster)


def with_kms(v, cluster="ovh-kms", server="kms-1"):
    """A standard key provider with one live KMS, trusted both ways, the
    default (the first key provider added is vCenter's default;
    kms.default says so anyway)."""
    port = kms_endpoint(v, server)
    v.govc("kms.add", "-n", server, "-a", "127.0.0.1", "-p", str(port), cluster)
    kms_trust(v, cluster, server)
    v.govc("kms.default", cluster)
    v.kms_port = port
    return v


def _state(changes):
    """A VM's changeSet from govc object.collect -json, as the tests read it:
    key id/provider, migrateEncryption, power, name, and each disk's key."""
    out = {"disks": []}
    for ch in changes:
        n, val = ch["name"], ch.get("val")
        if n == "config.keyId":
            out["key"] = val
        elif n == "config.migrateEncryption":
            out["migrate"] = val
        elif n == "runtime.powerState":
            out["power"] = val
        elif n == "name":
            out["name"] = val
        elif n == "config.hardware.device" and val:
            for d in val["_value"] if isinstance(val, dict) and "_value" in val else val:
                if "capacityInKB" in d:      # govc's JSON drops xsi:type
                    out["disks"].append({"key": d["key"],
                                         "keyId": d["backing"].get("keyId")})
    return out


def vm_state(v, name):
    """What govc sees: key id/provider, migrateEncryption, disks' keys, power."""
    out = {"disks": []}
    for o in v.govc_json_stream("object.collect", "-json", "vm/" + name, *PATHS):
        st = _state(o if isinstance(o, list) else o.get("changeSet", []))
        out["disks"] += st.pop("disks")
        out.update(st)
    out.pop("name", None)
    return out


def moref(v, name):
    return v.govc("ls", "-i", "vm/" + name).strip().split(":")[-1]


def _compliant(h, ref, s):
    """Encrypted with a key on every disk, required vMotion, and the
    encryption policy on home and every disk (the harness's SPBM record)."""
    if not s.get("key") or s.get("migrate") != "required" or not s["disks"]:
        return False
    if not all(d["keyId"] for d in s["disks"]):
        return False
    return h.profile(ref) == POLICY and all(
        h.profile(f"{ref}:{d['key']}") == POLICY for d in s["disks"])


def compliant(v, h, name):
    return _compliant(h, moref(v, name), vm_state(v, name))


def compliance_all(v, h):
    """{VM name: compliant?} for every VM, read in one govc object.collect
    plus the harness's recorded SPBM associations."""
    out = {}
    for o in v.govc_json_stream("object.collect", "-json", "-type", "m", "/", *PATHS):
        ref = o["obj"]["value"]
        st = _state(o.get("changeSet", []))
        out[st.get("name", ref)] = _compliant(h, ref, st)
    return out


def wait_until(pred, timeout, what, step=0.05):
    timeout *= SLOW
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Agent:
    def __init__(self, cfg, workdir, *extra, name="agent.log", env=None,
                 wait="reconcile: "):
        self.log = os.path.join(workdir, name)
        env = {**os.environ, "VMCRYPT_VC_PASSWORD": PASSWORD, **(env or {})}
        with open(self.log, "a") as lf:
            self.p = subprocess.Popen([BIN, "run", "--config", cfg, *extra],
                                      stdout=lf, stderr=lf, env=env)
        _AGENTS.append(self.p)
        if wait:
            self.wait_log(wait)

    def text(self):
        return open(self.log).read()

    def wait_log(self, text, timeout=30):
        wait_until(lambda: text in self.text() or self.p.poll() is not None, timeout,
                   f"{text!r} in the agent log")
        assert text in self.text(), self.text()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            assert self.p.wait(30 * SLOW) == 0, self.text()

    def kill(self):
        self.p.kill()
        self.p.wait()


def create(v, name, *args):
    if "-disk" not in args:
        args = (*args, "-disk", "1G")
    v.govc("vm.create", "-on=false", "-host", "DC0_H0", "-net", "VM Network", *args, name)
