"""report --format oscal (issue #23): an OSCAL assessment-results document
that compliance-trestle's models accept, one observation per VM (checked
against govc's list of VMs), one finding per control."""
import json
import os

from conftest import Agent, Harness, agent, compliant, create, wait_until
from test_exposure import confirmed


def test_oscal_validates_with_trestle_one_observation_per_vm(testbed, workdir):
    from trestle.oscal.assessment_results import AssessmentResults

    v = testbed()
    create(v, "old-vm", "-version", "vmx-11")
    cfg = v.config()
    a = Agent(cfg, workdir)
    h = Harness(v)
    create(v, "new-vm")
    wait_until(lambda: compliant(v, h, "new-vm"), 30, "new-vm compliant")
    wait_until(lambda: confirmed(a, ["new-vm"]), 30, "new-vm confirmed by the agent")
    a.stop()
    out = os.path.join(workdir, "r.oscal.json")
    r = agent("report", "--config", cfg, "--format", "oscal", "--output", out)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(out))
    ar = AssessmentResults.parse_obj(doc["assessment-results"])
    names = {n.rsplit("/", 1)[1] for n in v.govc("find", "/", "-type", "m").split()}
    obs = ar.results[0].observations
    assert len(obs) == len(names)
    items = {str(i.uuid): next(p.value for p in i.props if p.name == "vm-name")
             for i in ar.results[0].local_definitions.inventory_items}
    assert set(items.values()) == names
    vm_of = {str(o.uuid): items[str(o.subjects[0].subject_uuid)] for o in obs}
    assert set(vm_of.values()) == names
    state = {vm_of[str(o.uuid)]: next(p.value for p in o.props if p.name == "state")
             for o in obs}
    expo = {vm_of[str(o.uuid)]: next(p.value for p in o.props if p.name == "exposure")
            for o in obs}
    assert expo["new-vm"] == "measured", expo
    assert state["new-vm"] == "compliant" and state["old-vm"] == "hw-too-old"
    findings = {f.target.target_id: f for f in ar.results[0].findings}
    assert "vm-9.vmotion-encrypted" in findings
    assert "pci-dss-4.0.1-3.5.1" in findings, list(findings)
    # Each finding points at observations of this document.
    uuids = {str(o.uuid) for o in obs}
    for f in findings.values():
        assert {str(x.observation_uuid) for x in f.related_observations} <= uuids
    # The vMotion control is not satisfied while old-vm is not encrypted.
    assert findings["vm-9.vmotion-encrypted"].target.status.state.value == "not-satisfied"
