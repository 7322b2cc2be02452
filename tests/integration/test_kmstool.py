"""kms-thumbprint and kms-probe against real peers: `openssl s_server` (its
certificate read back with the openssl CLI) and PyKMIP's KMIP server; the
ways they fail against services that are not a KMS.  KMIP answers the
PyKMIP server would never give (only KMIP 1.0, garbage) are encoded with
PyKMIP's own encoder or are plain garbage, never with the agent's code."""
import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from conftest import BIN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def openssl(*args, inp=None):
    return subprocess.run(["openssl", *args], input=inp, capture_output=True, text=True,
                          check=True).stdout


# ---------------------------------------------------------------- PKI

class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""

    def __init__(self, d, server_subject="/C=FR/O=OVH SAS/OU=KMS/CN=127.0.0.1", days=365):
        self.d = d
        p = lambda n: os.path.join(d, n)
        self.ca, self.ca_key = p("ca.pem"), p("ca.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key,
                "-out", self.ca, "-days", "400", "-subj", "/O=Test/CN=Test KMS CA")
        self.srv, self.srv_key = self.issue("srv", server_subject, days,
                                            "subjectAltName=IP:127.0.0.1\n"
                                            "extendedKeyUsage=serverAuth\n")
        self.cli, self.cli_key = self.issue("cli", "/CN=vcenter", days,
                                            "extendedKeyUsage=clientAuth\n")

    def issue(self, name, subject, days, ext):
        p = lambda n: os.path.join(self.d, n)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p(name + ".key"),
                "-out", p(name + ".csr"), "-subj", subject)
        with open(p(name + ".ext"), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", self.ca, "-CAkey",
                self.ca_key, "-CAcreateserial", "-out", p(name + ".pem"), "-days",
                str(days), "-extfile", p(name + ".ext"))
        return p(name + ".pem"), p(name + ".key")


def expired_cert(d):
    """A self-signed certificate whose validity ended yesterday (openssl 3.0's
    CLI cannot back-date one), made with the cryptography package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-kms")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    crt, kf = os.path.join(d, "old.pem"), os.path.join(d, "old.key")
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kf, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return crt, kf


@pytest.fixture
def pki(workdir):
    return Pki(workdir)


def wait_port(port, proc=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class SServer:
    """`openssl s_server` with a given certificate."""

    def __init__(self, crt, key):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{self.port}",
             "-cert", crt, "-key", key], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def sserver(pki):
    s = SServer(pki.srv, pki.srv_key)
    yield s
    s.stop()


# ---------------------------------------------------------------- kms-thumbprint

def openssl_view(port):
    """What the guide's commands print for the server's certificate."""
    pem = openssl("s_client", "-connect", f"127.0.0.1:{port}", inp="")
    lines = []
    for opt in (["-fingerprint", "-sha1"], ["-fingerprint", "-sha256"], ["-subject"],
                ["-issuer"], ["-startdate"], ["-enddate"]):
        lines.append(openssl("x509", "-noout", *opt, inp=pem))
    return "".join(lines)


def test_thumbprint_equals_openssl_byte_for_byte(sserver):
    r = run("kms-thumbprint", f"127.0.0.1:{sserver.port}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == openssl_view(sserver.port)
    assert r.stderr == ""            # valid for a year: no warning
    j = run("kms-thumbprint", "--json", f"127.0.0.1:{sserver.port}")
    assert j.returncode == 0, j.stderr
    doc = json.loads(j.stdout)
    assert "sha1 Fingerprint=" + doc["sha1"] + "\n" == r.stdout.splitlines(True)[0]
    assert doc["subject"] == "C = FR, O = OVH SAS, OU = KMS, CN = 127.0.0.1"
    assert doc["port"] == sserver.port and doc["expired"] is False
    assert 360 <= doc["expires_in_days"] <= 365


def test_thumbprint_warns_on_expiring_and_expired(workdir):
    pki = Pki(workdir, days=10)
    s = SServer(pki.srv, pki.srv_key)
    try:
        r = run("kms-thumbprint", f"127.0.0.1:{s.port}")
        assert r.returncode == 0
        assert r.stdout == openssl_view(s.port)
        assert "expires in 9 days" in r.stderr or "expires in 10 days" in r.stderr
    finally:
        s.stop()
    crt, key = expired_cert(workdir)
    s = SServer(crt, key)
    try:
        r = run("kms-thumbprint", f"127.0.0.1:{s.port}")
        assert r.returncode == 0
        assert r.stdout == openssl_view(s.port)
        assert "has EXPIRED" in r.stderr
        assert json.loads(run("kms-thumbprint", "--json",
                              f"127.0.0.1:{s.port}").stdout)["expired"] is True
    finally:
        s.stop()


# ---------------------------------------------------------------- PyKMIP

PYKMIP_SERVER = """
import logging, sys
from kmip.services.server import KmipServer
logging.basicConfig(level=logging.WARNING)
port, d = int(sys.argv[1]), sys.argv[2]
s = KmipServer(hostname='127.0.0.1', port=port, certificate_path=d + '/srv.pem',
               key_path=d + '/srv.key', ca_path=d + '/ca.pem', auth_suite='TLS1.2',
               config_path=None, log_path=d + '/pykmip.log', enable_tls_client_auth=True,
               database_path=d + '/pykmip.db')
with s:
    s.serve()
"""


@pytest.fixture
def pykmip(pki):
    port = free_port()
    log = open(os.path.join(pki.d, "pykmip.out"), "w")
    # Its own process group: PyKMIP forks workers, which outlived a kill of
    # the parent alone (three stray servers per test run).
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c", PYKMIP_SERVER, str(port),
                             pki.d], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_port(port, proc, timeout=60)
    except RuntimeError:
        raise RuntimeError("PyKMIP server: " + open(log.name).read())
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its accept loop ignores SIGTERM
        proc.wait()


def test_probe_pykmip_reports_kmip_1_1(pki, pykmip):
    r = run("kms-probe", f"127.0.0.1:{pykmip}", "--ca", pki.ca, "--cert", pki.cli,
            "--key", pki.cli_key)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "KMIP 1.1: offered" in out
    versions = [l for l in out.splitlines() if l.startswith("KMIP versions:")][0]
    assert " 1.1" in versions and " 1.0" in versions     # and what else it offers
    assert "vendor: PyKMIP" in out
    ops = [l for l in out.splitlines() if l.startswith("operations")][0]
    for op in ("Create", "Get", "Query", "Discover Versions"):
        assert op in ops
    # The certificate line is the server's, as openssl sees it.
    fp = openssl("x509", "-noout", "-fingerprint", "-sha1", "-in", pki.srv).strip()
    assert f"certificate: {fp}" in out

    j = run("kms-probe", "--json", f"127.0.0.1:{pykmip}", "--ca", pki.ca, "--cert",
            pki.cli, "--key", pki.cli_key)
    assert j.returncode == 0
    doc = json.loads(j.stdout)
    assert doc["kmip_1_1"] is True and "1.1" in doc["versions"]
    assert doc["versions"] == [v.strip() for v in versions.split(":", 1)[1].split(",")]
    assert "Discover Versions" in doc["operations"] and doc["query_error"] is None
    assert doc["tls"].startswith("TLSv1.")


def test_probe_pykmip_without_client_certificate(pki, pykmip):
    r = run("kms-probe", f"127.0.0.1:{pykmip}", "--ca", pki.ca)
    assert r.returncode == 7, r.stdout + r.stderr
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert "TLS handshake" in first and "client certificate" in first


def test_probe_refuses_an_untrusted_kms(pki, pykmip, workdir):
    os.makedirs(os.path.join(workdir, "other"))
    other = Pki(os.path.join(workdir, "other"))
    r = run("kms-probe", f"127.0.0.1:{pykmip}", "--ca", other.ca, "--cert", pki.cli,
            "--key", pki.cli_key)
    assert r.returncode == 7
    assert "certificate not trusted" in r.stderr and "--ca FILE" in r.stderr
    # --insecure goes on, and says so.
    r = run("kms-probe", f"127.0.0.1:{pykmip}", "--insecure", "--cert", pki.cli,
            "--key", pki.cli_key)
    assert r.returncode == 0 and "NOT verified" in r.stderr


# ---------------------------------------------------------------- not a KMS

class TlsServer:
    """A TLS (or plain) listener that answers each connection with handler."""

    def __init__(self, handler, crt=None, key=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.ctx = None
        if crt:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(crt, key)
        self.handler = handler
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.ctx:
                    c = self.ctx.wrap_socket(c, server_side=True)
                c.settimeout(5)
                self.handler(c)
            except (OSError, ssl.SSLError):
                pass
            finally:
                c.close()

    def close(self):
        self.sock.close()


def read_kmip(c):
    hdr = b""
    while len(hdr) < 8:
        b = c.recv(8 - len(hdr))
        if not b:
            return None
        hdr += b
    n, body = int.from_bytes(hdr[4:8], "big"), b""
    while len(body) < n:
        b = c.recv(n - len(body))
        if not b:
            return None
        body += b
    return hdr + body


def pykmip_response(op, payload=None, failed_reason=None, message=None):
    """A Response Message encoded by PyKMIP (not by us)."""
    from kmip.core import enums, utils
    from kmip.core.messages import contents, messages
    bi = messages.ResponseBatchItem(
        operation=contents.Operation(op),
        result_status=contents.ResultStatus(enums.ResultStatus.OPERATION_FAILED
                                            if failed_reason else
                                            enums.ResultStatus.SUCCESS),
        result_reason=contents.ResultReason(failed_reason) if failed_reason else None,
        result_message=contents.ResultMessage(message) if message else None,
        response_payload=payload)
    hdr = messages.ResponseHeader(protocol_version=contents.ProtocolVersion(1, 0),
                                  time_stamp=contents.TimeStamp(int(time.time())),
                                  batch_count=contents.BatchCount(1))
    s = utils.BytearrayStream()
    messages.ResponseMessage(response_header=hdr, batch_items=[bi]).write(s)
    return bytes(s.buffer)


@pytest.fixture
def servers(pki):
    made = []

    def make(handler, tls=True):
        s = TlsServer(handler, pki.srv if tls else None, pki.srv_key if tls else None)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def probe(pki, port, *extra):
    return run("kms-probe", f"127.0.0.1:{port}", "--ca", pki.ca, *extra, timeout=60)


def one_line_error(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Sanitizer" not in r.stderr


def test_probe_kms_offering_only_kmip_1_0(pki, servers):
    from kmip.core import enums
    from kmip.core.messages import contents, payloads

    def kms10(c):
        while (req := read_kmip(c)) is not None:
            # The Operation item: Discover Versions (0x1E) or anything else.
            if b"\x42\x00\x5c\x05\x00\x00\x00\x04\x00\x00\x00\x1e" in req:
                c.sendall(pykmip_response(
                    enums.Operation.DISCOVER_VERSIONS,
                    payloads.DiscoverVersionsResponsePayload(
                        [contents.ProtocolVersion(1, 0)])))
            else:
                c.sendall(pykmip_response(enums.Operation.QUERY,
                                          failed_reason=enums.ResultReason
                                          .OPERATION_NOT_SUPPORTED,
                                          message="only 1.0 here"))
    s = servers(kms10)
    r = probe(pki, s.port)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "KMIP versions: 1.0\n" in r.stdout
    assert "NOT offered" in r.stdout
    assert "Query refused: Operation Not Supported: only 1.0 here" in r.stdout
    assert "does not offer KMIP 1.1" in r.stderr
    doc = json.loads(probe(pki, s.port, "--json").stdout)
    assert doc["kmip_1_1"] is False and doc["versions"] == ["1.0"]


def test_probe_unreachable(pki):
    port = free_port()          # nothing listens
    one_line_error(probe(pki, port), 6, "cannot connect", str(port), "refused")
    one_line_error(run("kms-probe", "kms.nonexistent.invalid"), 6, "cannot resolve")
    one_line_error(run("kms-thumbprint", f"127.0.0.1:{port}"), 6, "cannot connect")


def test_probe_not_tls(pki, servers):
    def ssh(c):
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        c.recv(1024)
    s = servers(ssh, tls=False)
    one_line_error(probe(pki, s.port), 7, "TLS handshake", "is this a TLS service?")
    one_line_error(run("kms-thumbprint", f"127.0.0.1:{s.port}"), 7, "TLS handshake")


def test_probe_tls_but_not_kmip(pki, servers):
    def http(c):
        c.recv(4096)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    s = servers(http)
    one_line_error(probe(pki, s.port), 8, "not KMIP", "48 54 54 50", "is this port a KMS?")

    def silent(c):
        time.sleep(3)
    s = servers(silent)
    one_line_error(probe(pki, s.port, "--timeout", "1"), 8, "Discover Versions",
                   "no answer within 1 s")

    def hangup(c):
        c.recv(4096)
    s = servers(hangup)
    one_line_error(probe(pki, s.port), 8, "closed the connection")


GARBAGE = [
    # A Response Message header, then bytes that are not TTLV.
    b"\x42\x00\x7b\x01\x00\x00\x00\x10" + b"\xff" * 16,
    # An item claiming to be longer than its enclosure.
    b"\x42\x00\x7b\x01\x00\x00\x00\x10" + b"\x42\x00\x7a\x01\x00\x00\x01\x00" + b"\0" * 8,
    # A well-formed structure that is a request, not a response.
    b"\x42\x00\x78\x01\x00\x00\x00\x00",
    # A response of 2 GB announced.
    b"\x42\x00\x7b\x01\x7f\xff\xff\xf8",
]


@pytest.mark.parametrize("answer", GARBAGE, ids=["bytes", "overlong", "request",
                                                 "huge"])
def test_probe_garbage_ttlv(pki, servers, answer):
    def garbage(c):
        read_kmip(c)
        c.sendall(answer)
        time.sleep(0.5)
    s = servers(garbage)
    r = probe(pki, s.port)
    one_line_error(r, 8, "Discover Versions")
    assert any(w in r.stderr for w in ("malformed TTLV", "not a KMIP response",
                                       "over the"))


def test_usage_errors():
    for args in (["kms-probe"], ["kms-probe", "a", "b"], ["kms-probe", "h:0"],
                 ["kms-probe", "h:99999"], ["kms-probe", "h:x"],
                 ["kms-probe", "h", "--key", "k"], ["kms-probe", "h", "--ca", "c",
                                                    "--insecure"],
                 ["kms-thumbprint"], ["kms-thumbprint", "[::1"],
                 ["kms-thumbprint", "h", "--timeout", "0"]):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr and r.stdout == ""
    for cmd in ("kms-probe", "kms-thumbprint"):
        r = run(cmd, "--help")
        assert r.returncode == 0 and "exit status" in r.stdout
    r = run("kms-probe", "127.0.0.1:1", "--ca", "/nonexistent/ca.pem")
    assert r.returncode == 2 and "cannot load CA file /nonexistent/ca.pem" in r.stderr
