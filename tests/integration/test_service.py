"""The installed service's promises, against vcsim: systemd's notification
protocol (read from a real AF_UNIX datagram socket, as systemd would), the
/metrics page (parsed by the Prometheus client library's own parser) and
/healthz, and a listener that slow or malformed clients cannot stall."""
import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (Agent, Harness, compliant, create, wait_until)


@pytest.fixture
def vc(testbed):
    return testbed(vms=3)


class NotifySocket:
    def __init__(self, d):
        self.path = os.path.join(d, "notify.sock")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.2)
        self.msgs = []
        self.times = []

    def poll(self):
        while True:
            try:
                self.msgs.append(self.s.recv(4096).decode())
                self.times.append(time.monotonic())
            except (socket.timeout, BlockingIOError):
                return self.msgs

    def wait(self, pred, timeout, what):
        wait_until(lambda: any(pred(m) for m in self.poll()), timeout, what, step=0.01)


def http(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode(), e.headers


def metrics(port):
    st, body, hdr = http(port, "/metrics")
    assert st == 200 and hdr["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_systemd_notify_protocol(vc, workdir):
    ns = NotifySocket(workdir)
    cfg = vc.config()
    a = Agent(cfg, workdir, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"})
    try:
        ns.wait(lambda m: "READY=1" in m, 30, "READY=1")
        ready = [m for m in ns.msgs if "READY=1" in m][0]
        assert f"STATUS=logged in to {vc.url}" in ready
        # READY=1 comes after the login and the checks, before any VM work.
        n_vms = len(vc.govc("find", "/", "-type", "m").split())
        ns.wait(lambda m: m.startswith(f"STATUS={n_vms} VMs: "), 30, "the reconcile status")
        # The watchdog is fed at half the period, by the loop.
        # One ping every 200 ms: about 10 in 2 s (the reads after add up to
        # a few hundred ms).
        n = len(ns.poll())
        time.sleep(2.0)             # on purpose: the pings of 2 s are counted
        pings = [m for m in ns.poll()[n:] if m == "WATCHDOG=1"]
        assert 8 <= len(pings) <= 14, len(pings)
        # SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        n = len(ns.poll())
        a.p.send_signal(signal.SIGHUP)
        ns.wait(lambda m: m.startswith("READY=1\nSTATUS=configuration reloaded"), 10,
                "READY=1 after the reload")
        rel = [m for m in ns.poll()[n:] if m.startswith("RELOADING=1")]
        assert len(rel) == 1 and "\nMONOTONIC_USEC=" in rel[0]
        assert int(rel[0].split("MONOTONIC_USEC=")[1]) > 0
        # SIGTERM: STOPPING=1, then a clean exit.
        n = len(ns.poll())
        a.stop()
        assert any(m.startswith("STOPPING=1") for m in ns.poll()[n:])
    finally:
        a.kill()
    # Without NOTIFY_SOCKET nothing is sent anywhere and nothing breaks.


def test_metrics_and_health(vc, workdir):
    h = Harness(vc)
    cfg = vc.config()
    port = vc.metrics_port
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: http(port, "/healthz")[0] == 200, 30, "/healthz 200")
        st, body, _ = http(port, "/healthz")
        assert body.startswith("ok: logged in, event stream live")
        create(vc, "svc-new")
        wait_until(lambda: compliant(vc, h, "svc-new"), 30, "svc-new compliant")

        # Every VM govc lists (vcsim's, powered off, and svc-new) ends compliant.
        n_vms = len(vc.govc("find", "/", "-type", "m").split())

        def settled():
            m = metrics(port)
            return m[("vmcrypt_event_to_compliant_seconds_count", ())] >= 1 and \
                m[("vmcrypt_vms", (("state", "compliant"),))] == n_vms
        wait_until(settled, 30, "the metrics to show every VM compliant")
        m = metrics(port)
        by_state = {k[1][0][1]: v for k, v in m.items() if k[0] == "vmcrypt_vms"}
        assert sum(by_state.values()) == n_vms
        assert set(by_state) == {"compliant", "pending", "deferred", "blocked",
                                 "hw-too-old", "excluded", "template", "inaccessible",
                                 "wrong-provider", "vsan-encrypted", "key-missing",
                                 "vtpm-only", "rekey-due"}
        assert m[("vmcrypt_remediations_total", (("result", "success"),))] >= 1
        assert m[("vmcrypt_remediations_total", (("result", "error"),))] == 0
        # The histogram is consistent: buckets cumulative, +Inf == count.
        b = sorted(((float(k[1][0][1]), v) for k, v in m.items()
                    if k[0] == "vmcrypt_event_to_compliant_seconds_bucket"),
                   key=lambda x: x[0])
        assert all(x[1] <= y[1] for x, y in zip(b, b[1:]))
        assert b[-1][1] == m[("vmcrypt_event_to_compliant_seconds_count", ())]
        assert m[("vmcrypt_event_to_compliant_seconds_sum", ())] < 30
        assert m[("vmcrypt_kms_healthy", (("cluster", "ovh-kms"),))] == 1
        assert m[("vmcrypt_vcenter_up", ())] == 1
        assert m[("vmcrypt_event_stream_up", ())] == 1
        assert m[("vmcrypt_events_total", ())] >= 1
        assert m[("vmcrypt_event_lag_seconds", ())] >= 0
        assert abs(m[("vmcrypt_last_reconcile_timestamp_seconds", ())] - time.time()) < 120
        assert m[("vmcrypt_build_info", (("version", "0.1.0"),))] == 1

        # vCenter goes away: /healthz turns unhealthy, the metrics say so.
        vc.proc.kill()
        vc.proc.wait()
        wait_until(lambda: http(port, "/healthz")[0] == 503, 60, "/healthz 503")
        st, body, _ = http(port, "/healthz")
        assert body.startswith("unhealthy: ")
        m = metrics(port)
        assert m[("vmcrypt_vcenter_up", ())] == 0
        assert m[("vmcrypt_event_stream_up", ())] == 0
        a.p.send_signal(signal.SIGTERM)
        a.p.wait(60)
    finally:
        a.kill()


def raw(port, data, read=True, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    if read:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    s.close()
    return out


def test_listener_bounded(vc, workdir):
    cfg = vc.config()
    port = vc.metrics_port
    a = Agent(cfg, workdir)
    try:
        assert raw(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            b"HTTP/1.1 405 ")
        assert raw(port, b"GET /nope HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
        assert raw(port, b"GET /healthz HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
        assert raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 414 ")
        assert raw(port, b"GET /metrics HTTP/1.1\r\n" + b"X-Big: " + b"b" * 9000 +
                   b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
        head = raw(port, b"HEAD /healthz HTTP/1.0\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        # Slow clients hold connections without sending a request: the cap
        # and the deadline keep the listener serving.
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        slow[0].sendall(b"GET /metr")            # half a request, never finished
        t0 = time.time()
        wait_until(lambda: http(port, "/healthz", timeout=2)[0] == 200, 15,
                   "/healthz served despite 40 idle connections")
        assert time.time() - t0 < 10
        # Each idle connection is closed by the server at its deadline.
        for s in slow:
            s.settimeout(15)
            got = b""
            while (b := s.recv(1024)):
                got += b
            assert got == b"" or got.startswith(b"HTTP/1.1 503 "), got
            s.close()
        # The agent is unharmed: events still handled.
        h = Harness(vc)
        create(vc, "after-slow")
        wait_until(lambda: compliant(vc, h, "after-slow"), 30, "after-slow compliant")
        a.stop()
    finally:
        a.kill()


def test_a_peer_that_closes_early_never_kills_the_agent(vc, workdir):
    """A connection the other end closed makes the next write raise SIGPIPE;
    vCenter restarting under a kept-alive connection did that to the agent
    (it died without a word).  The agent ignores the signal and handles the
    EPIPE: scrapers that reset /metrics mid-answer and a SIGPIPE delivered
    outright leave it running, healthy and enforcing."""
    import struct
    cfg = vc.config()
    port = vc.metrics_port
    a = Agent(cfg, workdir)
    try:
        wait_until(lambda: http(port, "/healthz")[0] == 200, 30, "/healthz 200")
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()                       # RST: the answer meets a closed socket
        os.kill(a.p.pid, signal.SIGPIPE)
        time.sleep(0.5)             # on purpose: time to die of it, if it would
        assert a.p.poll() is None, "agent died: " + a.text()
        assert http(port, "/healthz")[0] == 200
        h = Harness(vc)
        create(vc, "after-pipe")
        wait_until(lambda: compliant(vc, h, "after-pipe"), 30, "after-pipe compliant")
        a.stop()
    finally:
        a.kill()


def test_metrics_port_in_use_fails_clearly(vc, workdir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    cfg = vc.config(tail=f'  <metrics listen="127.0.0.1:{port}"/>\n')
    a = Agent(cfg, workdir, wait=None)
    try:
        assert a.p.wait(60) == 3
        assert f"metrics listener on 127.0.0.1:{port}: address already in use" in a.text()
        assert "listen=\"\" turns it off" in a.text()
    finally:
        a.kill()
        busy.close()
    # listen="" turns it off.
    cfg = vc.config(tail='  <metrics listen=""/>\n')
    a = Agent(cfg, workdir, name="agent2.log")
    try:
        assert "metrics and health on" not in a.text()
        a.stop()
    finally:
        a.kill()
