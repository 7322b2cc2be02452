"""`vmcrypt-agent ovh` against tests/ovhfake (an HTTPS fake of the OVHcloud
API on loopback that verifies every signature on its own).  What the agent
did is read from the fake's record, not from the agent's output alone."""
import json
import os
import subprocess
import sys
import time
import urllib.request
import ssl

import pytest

from conftest import BIN, free_port, make_cert, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "ovhfake", "ovhfake.py")
sys.path.insert(0, os.path.dirname(FAKE))
import ovhfake  # noqa: E402  (its sign() is checked against the vectors)

AK, AS, CK = "fakeAppKey0001", "fakeAppSecret0000000000000000001", "fakeConsumerKey00000000000000001"
SVC = "pcc-203-0-113-1"
IP = "203.0.113.10"
TP = "A7:61:68:0E:9B:32:86:0C:3D:17:0A:6F:7E:25:38:4D:11:9C:74:2F"
TP2 = "0B:DC:9A:58:2E:3A:9A:43:9F:4B:8B:33:51:D0:A5:64:C1:23:44:E9"
RULES = [{"method": m, "path": p} for m, p in [
    ("GET", "/dedicatedCloud"), ("GET", "/dedicatedCloud/*"),
    ("POST", "/dedicatedCloud/*/vmEncryption/kms"),
    ("POST", "/dedicatedCloud/*/vmEncryption/kms/*/changeProperties")]]


class Fake:
    def __init__(self, d):
        self.crt, self.key, _ = make_cert(d)
        pf = os.path.join(d, "ovhfake.port")
        self.log = open(os.path.join(d, "ovhfake.log"), "w")
        self.proc = subprocess.Popen([sys.executable, FAKE, "--cert", self.crt, "--key",
                                      self.key, "--port-file", pf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("ovhfake did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self.port = int(open(pf).read())
        self.base = f"https://127.0.0.1:{self.port}"
        self.ctx = ssl.create_default_context(cafile=self.crt)

    def ctl(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, context=self.ctx) as r:
            return json.loads(r.read())

    def setup(self, services=None, rules=RULES, **kw):
        cfg = {"apps": {AK: AS}, "consumers": {CK: {"app": AK, "rules": rules}},
               "services": services if services is not None else
               {SVC: {"state": "disabled"}, "pcc-198-51-100-7": {"state": "enabled"}}}
        cfg.update(kw)
        self.ctl("POST", "/fake/setup", cfg)

    def requests(self):
        return self.ctl("GET", "/fake/log")

    def state(self):
        return self.ctl("GET", "/fake/state")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def fake(workdir):
    f = Fake(workdir)
    f.setup()
    yield f
    f.stop()


def ovh(fake, workdir, *args, env=None, ck=CK, secret=AS, ak=AK, timeout=120):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OVH_")}
    e.update(HOME=workdir, OVH_ENDPOINT=f"{fake.base}/1.0", OVH_APPLICATION_KEY=ak,
             OVH_APPLICATION_SECRET=secret, OVH_CONSUMER_KEY=ck)
    e.pop("SSL_CERT_FILE", None)
    e.pop("SSL_CERT_DIR", None)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    r = subprocess.run([BIN, "ovh", *args], capture_output=True, text=True, env=e,
                       cwd=workdir, timeout=timeout)
    assert "Sanitizer" not in r.stderr, r.stderr
    assert secret not in r.stdout + r.stderr     # the secret never shows
    return r


def register(fake, workdir, *extra, **kw):
    return ovh(fake, workdir, "register-kms", "--service", SVC, "--kms-ip", IP,
               "--ca-file", fake.crt, "--poll-interval", "1", *extra, **kw)


def all_signed_and_verified(log):
    """Every request but the two the API takes unsigned (/auth/time, and
    /auth/credential, which has no consumer key yet) was signed, and the
    fake's own recomputation of each signature matched."""
    for r in log:
        if r["path"] in ("/1.0/auth/time", "/1.0/auth/credential"):
            assert not r["signed"]
            continue
        assert r["signed"], r
        assert r["signature_ok"] is True, r
    return True


def test_fake_signs_like_the_official_vectors():
    # The fake's verifier must agree with python-ovh's test vectors, or it
    # proves nothing about the agent.
    s, c, url = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk", "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY", \
        "https://eu.api.ovh.com/1.0/auth"
    assert ovhfake.sign(s, c, "GET", url, b"", 1457018875) == \
        "$1$e9556054b6309771395efa467c22e627407461ad"
    assert ovhfake.sign(s, c, "POST", url, b'{"a":"b","c":"d"}', 1457018875) == \
        "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"


def test_register_then_rerun_is_a_no_op(fake, workdir):
    r = register(fake, workdir, "--thumbprint", TP.lower().replace(":", ""),
                 "--description", "OKMS eu-west-rbx")
    assert r.returncode == 0, r.stderr
    assert f"service {SVC}: VM encryption disabled" in r.stdout
    assert f"KMS {IP} registered" in r.stdout and "kmsId 350" in r.stdout
    # Progress: the task moved todo -> doing -> done, and we said so.
    prog = [l for l in r.stderr.splitlines() if l.startswith("task 1000")]
    assert [l.split(": ")[1].split()[0] for l in prog] == ["todo", "doing", "done"], r.stderr
    st = fake.state()["services"][SVC]
    assert st["kms"] == [{"kmsId": 350, "ip": IP, "sslThumbprint": TP, "kmsTcpPort": 5696,
                          "description": "OKMS eu-west-rbx", "state": "delivered"}]
    log = fake.requests()
    assert all_signed_and_verified(log)
    posts = [x for x in log if x["method"] == "POST"]
    assert len(posts) == 1
    assert posts[0]["path"] == f"/1.0/dedicatedCloud/{SVC}/vmEncryption/kms"
    assert json.loads(posts[0]["body"]) == {"ip": IP, "sslThumbprint": TP,
                                            "description": "OKMS eu-west-rbx"}
    assert [x["path"] for x in log[:2]] == ["/1.0/auth/time", "/1.0/dedicatedCloud"]

    n = len(log)
    r = register(fake, workdir, "--thumbprint", TP, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "unchanged" and doc["kms"]["kmsId"] == 350
    assert doc["vmEncryption"] == "enabled"
    later = fake.requests()[n:]
    assert later and all(x["method"] == "GET" for x in later)
    assert all_signed_and_verified(later)


def test_changed_thumbprint_explained_then_updated(fake, workdir):
    fake.setup(services={SVC: {"state": "enabled", "kms": [
        {"kmsId": 7, "ip": IP, "sslThumbprint": TP, "kmsTcpPort": 5696,
         "description": "old", "state": "delivered"}]}})
    r = register(fake, workdir, "--thumbprint", TP2)
    assert r.returncode == 1
    assert "registered (kmsId 7) with thumbprint " + TP in r.stderr
    assert "--update" in r.stderr
    assert not [x for x in fake.requests() if x["method"] == "POST"]
    assert fake.state()["services"][SVC]["kms"][0]["sslThumbprint"] == TP

    r = register(fake, workdir, "--thumbprint", TP2, "--update")
    assert r.returncode == 0, r.stderr
    assert f"KMS {IP} updated" in r.stdout
    posts = [x for x in fake.requests() if x["method"] == "POST"]
    assert [p["path"] for p in posts] == [
        f"/1.0/dedicatedCloud/{SVC}/vmEncryption/kms/7/changeProperties"]
    assert json.loads(posts[0]["body"]) == {"sslThumbprint": TP2}
    e = fake.state()["services"][SVC]["kms"][0]
    assert e["sslThumbprint"] == TP2 and e["description"] == "old"
    assert all_signed_and_verified(fake.requests())


def test_unknown_service_lists_the_real_ones(fake, workdir):
    r = ovh(fake, workdir, "register-kms", "--service", "pcc-nope", "--kms-ip", IP,
            "--thumbprint", TP, "--ca-file", fake.crt)
    assert r.returncode == 10
    assert "no Hosted Private Cloud service 'pcc-nope'" in r.stderr
    assert SVC in r.stderr and "pcc-198-51-100-7" in r.stderr
    r = ovh(fake, workdir, "status", "--service", "pcc-nope", "--ca-file", fake.crt)
    assert r.returncode == 10
    # Without --service: the list.
    r = ovh(fake, workdir, "status", "--ca-file", fake.crt, "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["services"] == sorted([SVC, "pcc-198-51-100-7"])


@pytest.mark.parametrize("what,kw,code", [
    ("secret", {"secret": "wrongSecret00000000000000000000"}, "INVALID_SIGNATURE"),
    ("app key", {"ak": "unknownApp"}, "INVALID_KEY"),
    ("consumer key", {"ck": "unknownConsumer"}, "INVALID_CREDENTIAL"),
])
def test_bad_credentials(fake, workdir, what, kw, code):
    r = register(fake, workdir, "--thumbprint", TP, **kw)
    assert r.returncode == 5, (what, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert code in lines[0] and "X-Ovh-QueryID FAKE.ext-" in lines[0]
    assert "GET /dedicatedCloud" in lines[0]
    assert "OVH_APPLICATION_SECRET" in lines[0]      # what to check
    assert not [x for x in fake.requests() if x["method"] == "POST"]


def test_pending_consumer_key_and_missing_credentials(fake, workdir):
    fake.setup(consumers={CK: {"app": AK, "rules": RULES, "state": "pendingValidation"}})
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode == 5 and "This credential is not valid" in r.stderr
    n = len(fake.requests())
    r = register(fake, workdir, "--thumbprint", TP, env={"OVH_CONSUMER_KEY": None})
    assert r.returncode == 3
    assert "OVH_CONSUMER_KEY" in r.stderr and "ovh consumer-key" in r.stderr
    assert len(fake.requests()) == n        # nothing was sent


def test_task_ending_in_error(fake, workdir):
    fake.setup(task_script=["todo", "doing", "error"])
    r = register(fake, workdir, "--thumbprint", TP, "--json")
    assert r.returncode == 1
    assert "task 1000 (addVmEncryptionKms) ended in error: KMS connection check failed" \
        in r.stderr
    doc = json.loads(r.stdout)
    assert doc["action"] == "failed" and doc["task"]["state"] == "error"
    assert fake.state()["services"][SVC]["kms"] == []
    assert len([x for x in fake.requests() if x["method"] == "POST"]) == 1


def test_not_granted_names_the_call(fake, workdir):
    fake.setup(rules=[r for r in RULES if r["method"] == "GET"])
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode == 9, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert f"POST /dedicatedCloud/{SVC}/vmEncryption/kms" in line
    assert "NOT_GRANTED_CALL" in line and "ovh consumer-key" in line


def test_clock_skew_uses_auth_time(fake, workdir):
    # OVHcloud's clock an hour ahead: the agent stamps with OVHcloud's time.
    fake.setup(clock_offset=3600)
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode == 0, r.stderr
    assert all_signed_and_verified(fake.requests())
    # And the fake does reject a stale timestamp, signature otherwise right.
    url = f"{fake.base}/1.0/dedicatedCloud"
    ts = str(int(time.time()))
    req = urllib.request.Request(url, headers={
        "X-Ovh-Application": AK, "X-Ovh-Consumer": CK, "X-Ovh-Timestamp": ts,
        "X-Ovh-Signature": ovhfake.sign(AS, CK, "GET", url, b"", ts)})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, context=fake.ctx)
    assert e.value.code == 400 and b"QUERY_TIME_OUT" in e.value.read()


def test_dry_run_sends_no_post(fake, workdir):
    r = register(fake, workdir, "--thumbprint", TP, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"would POST /dedicatedCloud/{SVC}/vmEncryption/kms" in r.stdout
    assert json.dumps({"ip": IP, "sslThumbprint": TP}, separators=(",", ":")) in r.stdout
    assert not [x for x in fake.requests() if x["method"] == "POST"]


def test_fetch_thumbprint_from_the_kms(fake, workdir):
    kd = os.path.join(workdir, "kms")
    os.makedirs(kd)
    crt, key, fp = make_cert(kd, cn="kms")
    port = free_port()
    s = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                          "-cert", crt, "-key", key], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, s, what="openssl s_server")
        r = register(fake, workdir, "--fetch-thumbprint", f"127.0.0.1:{port}")
        assert r.returncode == 0, r.stderr
    finally:
        s.kill()
        s.wait()
    # What was registered is what the openssl CLI says of that certificate.
    assert fake.state()["services"][SVC]["kms"][0]["sslThumbprint"] == fp
    # A KMS that cannot be reached: nothing is sent to OVHcloud.
    n = len(fake.requests())
    r = register(fake, workdir, "--fetch-thumbprint", f"127.0.0.1:{free_port()}")
    assert r.returncode == 6 and "cannot fetch the KMS thumbprint" in r.stderr
    assert len(fake.requests()) == n


def test_ovh_conf_files(fake, workdir):
    conf = os.path.join(workdir, "ovh.conf")
    url = f"{fake.base}/1.0"
    with open(conf, "w") as f:
        f.write(f"[default]\nendpoint={url}\n\n[{url}]\napplication_key={AK}\n"
                f"application_secret={AS}\nconsumer_key={CK}\n")
    os.chmod(conf, 0o600)
    env = {k: None for k in ("OVH_ENDPOINT", "OVH_APPLICATION_KEY",
                             "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY")}
    r = ovh(fake, workdir, "status", "--service", SVC, "--ca-file", fake.crt, env=env)
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr
    assert f"service {SVC}: VM encryption disabled" in r.stdout
    # Secrets readable by group or others: refused before any request.
    n = len(fake.requests())
    os.chmod(conf, 0o644)
    r = ovh(fake, workdir, "status", "--service", SVC, "--ca-file", fake.crt, env=env)
    assert r.returncode == 3, r.stderr
    assert "refusing" in r.stderr and "readable by group or others" in r.stderr
    assert "chmod 600" in r.stderr and AS not in r.stderr
    assert len(fake.requests()) == n
    # ~/.ovh.conf (HOME is the workdir here; run from elsewhere).
    os.rename(conf, os.path.join(workdir, ".ovh.conf"))
    os.chmod(os.path.join(workdir, ".ovh.conf"), 0o600)
    r = ovh(fake, workdir, "status", "--service", SVC, "--ca-file", fake.crt, env=env)
    assert r.returncode == 0, r.stderr
    assert all_signed_and_verified(fake.requests())


def test_tls_trust(fake, workdir):
    # Not in the system store: refused, with the fix.
    r = ovh(fake, workdir, "status", "--service", SVC)
    assert r.returncode == 4
    assert "not trusted" in r.stderr and "--ca-file" in r.stderr
    assert fake.requests() == []
    # SSL_CERT_FILE is honoured like any OpenSSL program.
    r = ovh(fake, workdir, "status", "--service", SVC, env={"SSL_CERT_FILE": fake.crt})
    assert r.returncode == 0, r.stderr


def test_only_gets_are_retried(fake, workdir):
    fake.setup(faults=[{"method": "GET", "path": "/dedicatedCloud", "status": 503,
                        "count": 1}])
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    fake.setup(faults=[{"method": "POST", "path": "/dedicatedCloud", "status": 503,
                        "count": 1}])
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode == 1
    assert "HTTP 503" in r.stderr and "POST /dedicatedCloud" in r.stderr
    assert len([x for x in fake.requests() if x["method"] == "POST"]) == 1


def test_consumer_key_grants_what_register_needs(fake, workdir):
    r = ovh(fake, workdir, "consumer-key", "--ca-file", fake.crt, "--json",
            env={"OVH_CONSUMER_KEY": None})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["state"] == "pendingValidation" and doc["validationUrl"].startswith("https://")
    ck = doc["consumerKey"]
    rules = fake.state()["consumers"][ck]["rules"]
    assert {"method": "POST", "path": "/dedicatedCloud/*/vmEncryption/kms"} in rules
    # Reads and creations; the one deletion is an OKMS credential (kms
    # renew-client-cert deletes this vCenter's old one).
    assert all(x["method"] in ("GET", "POST") or
               (x["method"], x["path"]) == ("DELETE", "/v2/okms/resource/*/credential/*")
               for x in rules), rules
    assert not any(x["path"] in ("/*", "/") for x in rules)
    fake.ctl("POST", f"/fake/validate/{ck}")
    # The key asked for is enough for the whole registration.
    r = register(fake, workdir, "--thumbprint", TP, ck=ck)
    assert r.returncode == 0, r.stderr
    assert all_signed_and_verified(fake.requests())


def test_not_the_api(workdir):
    crt, key, _ = make_cert(workdir)
    port = free_port()
    s = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept",
                          f"127.0.0.1:{port}", "-cert", crt, "-key", key],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_port(port, s, what="openssl s_server")
        e = {k: v for k, v in os.environ.items() if not k.startswith("OVH_")}
        e.update(HOME=workdir, OVH_ENDPOINT=f"https://127.0.0.1:{port}/1.0",
                 OVH_APPLICATION_KEY=AK, OVH_APPLICATION_SECRET=AS, OVH_CONSUMER_KEY=CK)
        r = subprocess.run([BIN, "ovh", "status", "--ca-file", crt], capture_output=True,
                           text=True, env=e, cwd=workdir, timeout=60)
        assert r.returncode == 4, r.stderr
        assert "is this the OVHcloud API?" in r.stderr or "not JSON" in r.stderr
        r = subprocess.run([BIN, "ovh", "status", "--ca-file", crt], capture_output=True,
                           text=True, env=dict(e, OVH_ENDPOINT=f"https://127.0.0.1:"
                                               f"{free_port()}/1.0"), timeout=60)
        assert r.returncode == 4 and "refused" in r.stderr.lower()
    finally:
        s.kill()
        s.wait()


def test_usage(workdir):
    for args in (["ovh"], ["ovh", "frobnicate"], ["ovh", "register-kms", "--service", SVC],
                 ["ovh", "register-kms", "--service", SVC, "--kms-ip", "kms.example.com"],
                 ["ovh", "register-kms", "--service", "../x", "--kms-ip", IP],
                 ["ovh", "register-kms", "--kms-ip", IP, "--thumbprint", "zz"],
                 ["ovh", "register-kms", "--kms-ip", IP, "--thumbprint", TP,
                  "--fetch-thumbprint", "h"],
                 ["ovh", "status", "--kms-ip", IP], ["ovh", "status", "secret-in-argv"]):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr
    r = subprocess.run([BIN, "ovh", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "exit status" in r.stdout and "OVH_CONSUMER_KEY" in r.stdout
    r = subprocess.run([BIN, "ovh", "register-kms", "--help"], capture_output=True, text=True)
    assert r.returncode == 0


@pytest.mark.parametrize("path,raw,status,what", [
    ("/dedicatedCloud", '{"not": "a list"}', 200, "a list of service names"),
    ("/dedicatedCloud", '["pcc-1", 2]', 200, "a list of service names"),
    ("/dedicatedCloud", '["pcc-1"] trailing', 200, "not JSON"),
    ("/dedicatedCloud", '["pcc-1"', 200, "not JSON"),
    ("/dedicatedCloud", '\u00ff\u0000[]', 200, "not JSON"),
    (f"/dedicatedCloud/{SVC}/vmEncryption", '{"state": 7}', 200, "with a state"),
    (f"/dedicatedCloud/{SVC}/vmEncryption/kms", '[1, "x"]', 200, "a list of KMS ids"),
    (f"/dedicatedCloud/{SVC}/vmEncryption/kms", '{' * 5000, 200, "not JSON"),
    ("/dedicatedCloud", '<html>502 Bad Gateway</html>', 502, "HTTP 502: <html>502"),
    ("/dedicatedCloud", '{"message": "x\\ny", "errorCode": 5}', 418, "HTTP 418: x y"),
])
def test_malformed_answers(fake, workdir, path, raw, status, what):
    # Every GET is retried on a 5xx, so the fault is served for all attempts.
    fake.setup(faults=[{"method": "GET", "path": path, "status": status, "count": 3,
                        "raw": raw}])
    r = register(fake, workdir, "--thumbprint", TP)
    assert r.returncode in (1, 4), r.stderr
    assert r.returncode == (1 if status >= 400 else 4)
    assert what in r.stderr, r.stderr
    assert r.stdout.count("\n") <= 1            # at most the state line
    assert not [x for x in fake.requests() if x["method"] == "POST"]
