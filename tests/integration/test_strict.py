"""The test bed's strict request checker (vcsimd -strict) catches what a
strict vCenter refuses.

Requests are written here by hand, byte for byte, and POSTed to the test
bed as a client would send them; the checker's findings are read back from
/harness/violations.  A well-formed request must pass, and each malformed
one must be named with its method and the path to the first difference."""
import ssl
import urllib.request

import pytest

from conftest import Harness, negotiated

ENV = ('<?xml version="1.0" encoding="UTF-8"?>'
       '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
       'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:vim="urn:vim25">'
       '<soapenv:Body>{}</soapenv:Body></soapenv:Envelope>')

SPEC = ('<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet></propSet>'
        '<objectSet><obj type="Folder">group-d1</obj><skip>true</skip>{sel}</objectSet>'
        '</specSet>')
TRAVERSAL = ('<selectSet {xsi}><name>view</name><type>ContainerView</type><path>view</path>'
             '</selectSet>')
PC = '<_this type="PropertyCollector">propertyCollector</_this>'

GOOD = ('<RetrievePropertiesEx xmlns="urn:vim25">' + PC +
        SPEC.format(sel=TRAVERSAL.format(xsi='xsi:type="TraversalSpec"')) +
        '<options></options></RetrievePropertiesEx>')


@pytest.fixture
def strict(testbed):
    v = testbed(kms=False)
    v.h = Harness(v)
    v.expect_violations = True                  # the bad requests are on purpose
    return v


def post(v, body, action=None, path="/sdk", agent="gSOAP/2.8"):
    action = action or f"urn:vim25/{negotiated()}"
    req = urllib.request.Request(v.h.base + path, data=ENV.format(body).encode(),
                                 method="POST")
    req.add_header("Content-Type", "text/xml; charset=utf-8")
    req.add_header("SOAPAction", f'"{action}"')
    req.add_header("User-Agent", agent)
    try:
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=v.crt),
                               timeout=30).read()
    except urllib.error.HTTPError:
        pass                           # NotAuthenticated: no session, as intended


def violations(v):
    found = v.h._req("GET", "/harness/violations")
    v.h._req("DELETE", "/harness/violations")
    return found["violations"], found["checked"]


def test_a_well_formed_request_passes(strict):
    post(strict, GOOD)
    found, checked = violations(strict)
    assert checked == {"RetrievePropertiesEx": 1}
    assert found == []


def test_two_members_swapped(strict):
    swapped = ('<RetrievePropertiesEx xmlns="urn:vim25">' + PC + '<options></options>' +
               SPEC.format(sel="") + '</RetrievePropertiesEx>')
    post(strict, swapped)
    found, _ = violations(strict)
    assert len(found) == 1, found
    assert found[0]["method"] == "RetrievePropertiesEx"
    assert found[0]["client"] == "agent"
    assert found[0]["path"] == "RetrievePropertiesEx"
    assert "out of order" in found[0]["what"]
    assert "<options> sent where the schema wants <specSet>" in found[0]["what"]

    # Deeper down: skip before obj in an ObjectSpec.
    deep = GOOD.replace('<obj type="Folder">group-d1</obj><skip>true</skip>',
                        '<skip>true</skip><obj type="Folder">group-d1</obj>')
    post(strict, deep)
    found, _ = violations(strict)
    assert [f["path"] for f in found] == ["RetrievePropertiesEx/specSet/objectSet"], found


def test_a_required_member_missing(strict):
    # CreateFilter's partialUpdates is a required boolean.
    no_partial = ('<CreateFilter xmlns="urn:vim25">' + PC +
                  SPEC.replace("specSet", "spec").format(sel="") + '</CreateFilter>')
    post(strict, no_partial)
    found, _ = violations(strict)
    assert len(found) == 1, found
    assert found[0]["method"] == "CreateFilter"
    assert "required member <partialUpdates> missing" in found[0]["what"]

    # A required member deep inside: CryptoKeyId.keyId in a CryptoSpecEncrypt.
    reconfig = ('<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-1</_this>'
                '<spec><crypto xsi:type="CryptoSpecEncrypt"><cryptoKeyId><providerId>'
                '<id>kp</id></providerId></cryptoKeyId></crypto></spec></ReconfigVM_Task>')
    post(strict, reconfig)
    found, _ = violations(strict)
    assert [f["path"] for f in found] == ["ReconfigVM_Task/spec/crypto/cryptoKeyId"], found
    assert "required member <keyId> missing" in found[0]["what"]


def test_a_polymorphic_value_without_xsi_type(strict):
    untyped = GOOD.replace(' xsi:type="TraversalSpec"', "")
    post(strict, untyped)
    found, _ = violations(strict)
    assert len(found) == 1, found
    assert found[0]["path"] == "RetrievePropertiesEx/specSet/objectSet/selectSet"
    assert "missing xsi:type" in found[0]["what"]

    # xsi:type with a prefix bound to the wrong namespace is not the type.
    wrong = GOOD.replace('xsi:type="TraversalSpec"', 'xsi:type="xsd:TraversalSpec"')
    post(strict, wrong)
    found, _ = violations(strict)
    assert found and found[0]["path"].startswith(
        "RetrievePropertiesEx/specSet/objectSet/selectSet"), found

    # With the vim prefix bound to urn:vim25, a prefixed type is the same.
    post(strict, GOOD.replace('xsi:type="TraversalSpec"', 'xsi:type="vim:TraversalSpec"'))
    assert violations(strict)[0] == []


def test_namespace_soapaction_and_unknown_members(strict):
    post(strict, GOOD.replace('<options></options>', '<options xmlns=""></options>'))
    found, _ = violations(strict)
    assert any("namespace urn:vim25" in f["what"] and f["path"].startswith(
        "RetrievePropertiesEx/options") for f in found), found

    post(strict, GOOD, action="urn:vim25/uA046E001x")
    found, _ = violations(strict)
    assert [f["path"] for f in found] == ["SOAPAction"], found

    post(strict, GOOD, path="/pbm")
    found, _ = violations(strict)
    assert any(f["path"] == "SOAPAction" for f in found), found

    post(strict, GOOD.replace("<options></options>",
                              "<options><maxObjects>10</maxObjects><fancy>1</fancy></options>"))
    found, _ = violations(strict)
    assert len(found) == 1 and "<fancy> is not a member here" in found[0]["what"], found
