"""The benchmarks' fast collector (vcsimd -fast-collector,
tests/harness/README.md section 3) answers a container-view scan as vcsim's
own collector does.  Checked with clients other than the agent: pyvmomi
reads the agent's property sets, page by page, from the front (the fast
collector) and from the simulator's own port, and the answers must be
equal, object by object and property by property; govc's `find` (a
container view of VirtualMachine read by govmomi) must list the same VMs
either way.  The front's counts show that the fast collector, not the
simulator, served the pages."""
import json
import os
import re
import ssl
import subprocess
import urllib.request

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from conftest import PASSWORD, TOOLS, USER

HERE = os.path.dirname(os.path.abspath(__file__))


def agent_paths():
    """The agent's property set (agent/enforce/inventory.c)."""
    src = open(os.path.join(HERE, "..", "..", "agent", "enforce", "inventory.c")).read()
    body = src.split("inventory_vm_paths[] = {", 1)[1].split("};", 1)[0]
    return re.findall(r'"([^"]+)"', body)


def front_get(v, path, method="GET"):
    base = v.url.rsplit("/sdk", 1)[0]
    req = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=v.crt),
                                timeout=600) as r:
        return json.loads(r.read() or b"null")


def simulator_port(v):
    """The simulator's own (plain HTTP) port, from vcsimd's log."""
    m = re.search(r"simulator at http://127\.0\.0\.1:(\d+)", open(v.log.name).read())
    assert m, open(v.log.name).read()
    return int(m.group(1))


def scan(si, paths, page):
    """Every page of a RetrievePropertiesEx over a container view of VMs,
    as the agent asks it: [(moref, {path: value})] per page."""
    content = si.content
    view = content.viewManager.CreateContainerView(content.rootFolder,
                                                   [vim.VirtualMachine], True)
    try:
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                obj=view, skip=True,
                selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                    name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(
                type=vim.VirtualMachine, pathSet=paths)])
        pc = content.propertyCollector
        res = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions(
            maxObjects=page))
        pages = []
        while res is not None:
            pages.append([(o.obj._moId, {p.name: repr(p.val) for p in o.propSet})
                          for o in res.objects])
            res = pc.ContinueRetrievePropertiesEx(res.token) if res.token else None
        return pages
    finally:
        view.Destroy()


def govc_find(v, url):
    env = dict(os.environ, GOVC_URL=url, GOVC_USERNAME=USER, GOVC_PASSWORD=PASSWORD,
               GOVC_INSECURE="1")
    r = subprocess.run([os.path.join(TOOLS, "govc"), "find", "/", "-type", "m"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split())


def test_fast_collector_pages_equal_vcsims_own(testbed):
    v = testbed(vms=12, args=("-fast-collector",), kms=False, strict=False)
    paths = agent_paths()
    lean = [p for p in paths if p != "config.hardware.device"]
    front_get(v, "/harness/fast-collector?paths=" + ",".join(paths), "POST")
    host, port = v.url.split("//", 1)[1].split("/", 1)[0].split(":")
    fast = SmartConnect(host=host, port=int(port), user=USER, pwd=PASSWORD,
                        sslContext=ssl.create_default_context(cafile=v.crt))
    own = SmartConnect(host="127.0.0.1", port=simulator_port(v), protocol="http",
                       user=USER, pwd=PASSWORD)
    try:
        before = front_get(v, "/harness/fast-collector")
        for ps in (paths, lean):
            a, b = scan(fast, ps, 5), scan(own, ps, 5)
            assert [len(p) for p in a] == [5, 5, 5, 5, 4], [len(p) for p in a]
            assert a == b
            # Not vacuous: the VMs carry the properties the agent reads.
            props = a[0][0][1]
            assert "name" in props and "config.version" in props, props
        after = front_get(v, "/harness/fast-collector")
        # The front's pages came from the fast collector: both scans, every
        # VM of each (served counts scans, objects the VMs of their pages).
        assert after["served"] - before["served"] == 2, (before, after)
        assert after["objects"] - before["objects"] == 48, (before, after)
        assert after["refused"] == before["refused"], after
        # A VM changed (powered on) is answered changed by both.
        vm = [o for o in own.content.viewManager.CreateContainerView(
            own.content.rootFolder, [vim.VirtualMachine], True).view][3]
        vm.PowerOnVM_Task()
        fast_pages = scan(fast, lean, 5)
        assert fast_pages == scan(own, lean, 5)
        states = {m: p.get("runtime.powerState") for page in fast_pages for m, p in page}
        assert states[vm._moId] == "'poweredOn'", states
    finally:
        Disconnect(fast)
        Disconnect(own)
    # govc (govmomi's container view, read by RetrievePropertiesEx) finds
    # the same VMs through the front as from the simulator itself.
    sim = f"http://127.0.0.1:{simulator_port(v)}/sdk"
    assert govc_find(v, v.url) == govc_find(v, sim)
