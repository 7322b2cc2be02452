"""`run`: the libuv daemon against vcsim — sees VMs through the long poll,
reloads on SIGHUP, stops cleanly (logout, loop closed) on SIGTERM."""
import os
import signal
import subprocess
import time
import pytest

from conftest import BIN, PASSWORD


def wait_for(proc, path, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in open(path).read():
            return True
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not seen; log:\n{open(path).read()}")


@pytest.mark.api
def test_run_watch_reload_stop(vcsim, workdir):
    log = os.path.join(workdir, "agent.log")
    env = dict(os.environ, VMCRYPT_VC_PASSWORD=PASSWORD)
    cfg = vcsim.config()
    with open(log, "w") as lf:
        p = subprocess.Popen([BIN, "run", "--config", cfg], stderr=lf, stdout=lf, env=env)
    try:
        wait_for(p, log, "agent running")
        wait_for(p, log, "DC0_H0_VM0")
        vcsim.govc("vm.create", "-on=false", "-host", "DC0_H0", "-net", "VM Network", "new-vm-1")
        wait_for(p, log, "new-vm-1")
        p.send_signal(signal.SIGHUP)
        wait_for(p, log, "configuration reloaded")
        open(cfg, "a").write("<garbage")
        p.send_signal(signal.SIGHUP)
        wait_for(p, log, "keeping the running configuration")
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        text = open(log).read()
        assert "logged out" in text and "stopped" in text
        assert "handles still open" not in text
        assert PASSWORD not in text
    finally:
        if p.poll() is None:
            p.kill()
