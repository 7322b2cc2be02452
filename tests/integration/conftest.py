"""Integration test bed: each test gets its own vcsimd (govmomi's simulator)
on a free loopback port with a fresh, proper TLS certificate.  Scenarios are
set up and checked with govc, an independent client; the agent under test is
the real binary."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("VMCRYPT_BIN", os.path.abspath("build/vmcrypt-agent"))
TOOLS = os.environ.get("VMCRYPT_TOOLS", os.path.abspath("build/tools"))
USER, PASSWORD = "svc-vmcrypt", "s3cret-Pa55"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d, cn="127.0.0.1"):
    crt, key = os.path.join(d, "vc.crt"), os.path.join(d, "vc.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    fp = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1"],
                        check=True, capture_output=True, text=True).stdout
    return crt, key, fp.strip().split("=", 1)[1]


class Vcsim:
    def __init__(self, vms=2, dirpath=None):
        self.dir = dirpath
        self.crt, self.key, self.thumbprint = make_cert(dirpath)
        self.url_file = os.path.join(dirpath, "url")
        self.log = open(os.path.join(dirpath, "vcsimd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(TOOLS, "vcsimd"), "-l", f"127.0.0.1:{free_port()}",
             "-tlscert", self.crt, "-tlskey", self.key, "-username", USER,
             "-password", PASSWORD, "-vm", str(vms), "-url-file", self.url_file],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while not os.path.exists(self.url_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("vcsimd did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self.url = open(self.url_file).read().strip()

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

    def config(self, tls=None, user=USER, extra=""):
        """Writes an agent config; tls is the inner <tls .../> element or ''."""
        if tls is None:
            tls = f'<tls ca-file="{self.crt}"/>'
        path = os.path.join(self.dir, f"agent-{time.monotonic_ns()}.xml")
        with open(path, "w") as f:
            f.write(f'<?xml version="1.0"?>\n<vmcrypt-agent version="1">\n'
                    f'  <vcenter url="{self.url}" user="{user}" pbm-path="/pbm">{tls}</vcenter>\n'
                    f'{extra}  <state-dir>{self.dir}</state-dir>\n</vmcrypt-agent>\n')
        return path

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="vmcrypt-it-") as d:
        yield d


@pytest.fixture
def vcsim(workdir):
    v = Vcsim(vms=2, dirpath=workdir)
    yield v
    v.stop()


def agent(*args, password=PASSWORD, timeout=600):
    env = dict(os.environ)
    env.pop("VMCRYPT_VC_PASSWORD", None)
    if password is not None:
        env["VMCRYPT_VC_PASSWORD"] = password
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
