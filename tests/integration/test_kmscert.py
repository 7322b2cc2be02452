"""vCenter's client certificate for its key provider, as `run` watches it
(issue #25, point 3): its expiry, read from the key provider's status
(clientCertInfo), in a metric, and said in the log and in /healthz from
renew-days before it on, naming how to renew.  The certificate is given to
vCenter by govc (kms.trust), its dates read back by openssl."""
import datetime
import os
import subprocess
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import Agent, make_cert, wait_until


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            if s.name == name:
                return s.value, s.labels
    return None, None


def healthz(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return r.status, r.read().decode()


def not_after(crt):
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    when = out.strip().split("=", 1)[1]
    return datetime.datetime.strptime(when, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def client_cert(v, workdir, days):
    """vCenter's client certificate for ovh-kms, valid days, through govc."""
    d = os.path.join(workdir, f"client-{days}")
    os.makedirs(d)
    crt, key, _ = make_cert(d, cn="vcenter-client", days=days)
    v.govc("kms.trust", "-client-cert", open(crt).read(), "-client-key", open(key).read(),
           "ovh-kms")
    return crt


def test_a_certificate_20_days_from_expiry_is_said_within_one_health_interval(
        testbed, workdir):
    v = testbed(vms=1)
    crt = client_cert(v, workdir, 20)
    cfg = v.config(extra='  <kms cluster="ovh-kms" health-interval="10"/>\n')
    a = Agent(cfg, workdir)
    wait_until(lambda: metric(v.metrics_port,
                              "vmcrypt_kms_client_cert_expiry_seconds")[0] is not None,
               30, "the expiry metric")
    value, labels = metric(v.metrics_port, "vmcrypt_kms_client_cert_expiry_seconds")
    import time
    assert labels == {"cluster": "ovh-kms"}
    assert abs(value - (not_after(crt) - time.time())) < 30
    a.wait_log("vCenter's client certificate for key provider ovh-kms expires in", 30)
    line = [x for x in a.text().splitlines() if "client certificate for key provider" in x]
    assert "expires in 19 days" in line[0] or "expires in 20 days" in line[0], line
    assert "within renew-days (30)" in line[0] and "kms setup --csr-out" in line[0]
    status, body = healthz(v.metrics_port)
    assert status == 200 and "KMS client certificate expires in" in body, body
    # Said once a day, not at every health check.
    time.sleep(12)
    assert len([x for x in a.text().splitlines()
                if "client certificate for key provider" in x]) == 1
    a.stop()


def test_a_certificate_far_from_expiry_is_not_warned_of(testbed, workdir):
    v = testbed(vms=1)
    crt = client_cert(v, workdir, 200)
    cfg = v.config(extra='  <kms cluster="ovh-kms" health-interval="10"/>\n')
    a = Agent(cfg, workdir)
    wait_until(lambda: metric(v.metrics_port,
                              "vmcrypt_kms_client_cert_expiry_seconds")[0] is not None,
               30, "the expiry metric")
    import time
    value, _ = metric(v.metrics_port, "vmcrypt_kms_client_cert_expiry_seconds")
    assert abs(value - (not_after(crt) - time.time())) < 30
    assert value > 190 * 86400
    assert "client certificate for key provider" not in a.text()
    status, body = healthz(v.metrics_port)
    assert "client certificate" not in body
    a.stop()
