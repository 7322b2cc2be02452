/* The SOAP layer's two promises, through the generated deserializers:
 *  - an xsi:type the stubs never heard of does not fail a response;
 *  - a device read from vCenter goes back out in deviceChange with every
 *    element and attribute vCenter sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "soapH.h"
#include "vim.nsmap"
#include "xnode.h"

#define ENV_HEAD "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soapenv:Body>"
#define ENV_TAIL "</soapenv:Body></soapenv:Envelope>"

static const char retrieve_resp[] = ENV_HEAD
	"<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval>"
	"<token>t1</token>"
	"<objects><obj type=\"VirtualMachine\">vm-42</obj>"
	"<propSet><name>config.hardware.device</name><val xsi:type=\"ArrayOfVirtualDevice\">"
	"<VirtualDevice xsi:type=\"VirtualDiskFromTheFuture\"><key>2000</key><quantumFlux>7</quantumFlux></VirtualDevice>"
	"<VirtualDevice xsi:type=\"VirtualDisk\"><key>2001</key><deviceInfo><label>Hard disk 1</label><summary>8 GB</summary></deviceInfo>"
	"<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[ds1] vm/vm.vmdk</fileName>"
	"<datastore type=\"Datastore\">datastore-1</datastore><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned>"
	"<uuid>6000C29a</uuid><newBackingField9000 xsi:type=\"xsd:int\">3</newBackingField9000></backing>"
	"<controllerKey>1000</controllerKey><unitNumber>0</unitNumber><capacityInKB>8388608</capacityInKB>"
	"<storageIOAllocation><limit>-1</limit><shares><shares>1000</shares><level>normal</level></shares></storageIOAllocation>"
	"</VirtualDevice></val></propSet>"
	"<propSet><name>summary.weird</name><val xsi:type=\"SomeValueTypeVimAddedIn2030\"><a>1</a></val></propSet>"
	"<missingSet><path>config.keyId</path><fault><fault xsi:type=\"NoPermission\"><privilegeId>System.View</privilegeId></fault>"
	"<localizedMessage></localizedMessage></fault></missingSet>"
	"<unexpectedElement>ignored</unexpectedElement>"
	"</objects></returnval></RetrievePropertiesExResponse>" ENV_TAIL;

static const char events_resp[] = ENV_HEAD
	"<ReadNextEventsResponse xmlns=\"urn:vim25\">"
	"<returnval xsi:type=\"VmCreatedEvent\"><key>101</key><chainId>101</chainId><createdTime>2026-11-24T10:00:00Z</createdTime>"
	"<userName>u</userName><vm><name>a</name><vm type=\"VirtualMachine\">vm-1</vm></vm><fullFormattedMessage>Created</fullFormattedMessage></returnval>"
	"<returnval xsi:type=\"UserLoginSessionEvent\"><key>102</key><chainId>102</chainId><createdTime>2026-11-24T10:00:01Z</createdTime>"
	"<userName>u</userName><ipAddress>1.2.3.4</ipAddress></returnval>"
	"<returnval xsi:type=\"EventEx\"><key>103</key><eventTypeId>com.vmware.vc.vm.DstVmMigratedEvent</eventTypeId></returnval>"
	"</ReadNextEventsResponse>" ENV_TAIL;

static struct soap *
reader(const char *text)
{
	struct soap *soap = soap_new1(SOAP_C_UTFSTRING);
	soap_set_namespaces(soap, namespaces);
	soap->is = text;
	return soap;
}

/* Positions a reader at the first element inside <soapenv:Body>. */
static struct soap *
body_reader(const char *text)
{
	struct soap *soap = reader(text);
	assert_int_equal(soap_begin_recv(soap), SOAP_OK);
	assert_int_equal(soap_envelope_begin_in(soap), SOAP_OK);
	assert_int_equal(soap_recv_header(soap), SOAP_OK);
	assert_int_equal(soap_body_begin_in(soap), SOAP_OK);
	return soap;
}

static void
test_unknown_types_do_not_fail(void **st)
{
	(void)st;
	struct soap *soap = body_reader(retrieve_resp);
	struct vim__RetrievePropertiesExResponse r;

	soap_default_vim__RetrievePropertiesExResponse(soap, &r);
	assert_non_null(soap_get_vim__RetrievePropertiesExResponse(soap, &r, "vim:RetrievePropertiesExResponse", NULL));
	assert_non_null(r.returnval);
	assert_string_equal(r.returnval->token, "t1");
	assert_int_equal(r.returnval->__sizeobjects, 1);
	struct vim__ObjectContent *oc = &r.returnval->objects[0];
	assert_string_equal(oc->obj.__item, "vm-42");
	assert_int_equal(oc->__sizepropSet, 2);
	const xnode *arr = oc->propSet[0].val;
	assert_int_equal(xnode_count(arr, NULL), 2);
	assert_string_equal(xnode_type(xnode_first(arr)), "VirtualDiskFromTheFuture");
	assert_string_equal(xnode_path_text(xnode_first(arr), "quantumFlux"), "7");
	assert_string_equal(xnode_type(oc->propSet[1].val), "SomeValueTypeVimAddedIn2030");
	assert_int_equal(oc->__sizemissingSet, 1);
	assert_string_equal(xnode_type(oc->missingSet[0].fault.fault), "NoPermission");
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

static void
test_unknown_event_types(void **st)
{
	(void)st;
	struct soap *soap = body_reader(events_resp);
	struct vim__ReadNextEventsResponse r;

	soap_default_vim__ReadNextEventsResponse(soap, &r);
	assert_non_null(soap_get_vim__ReadNextEventsResponse(soap, &r, "vim:ReadNextEventsResponse", NULL));
	assert_int_equal(r.__sizereturnval, 3);
	assert_string_equal(xnode_type(&r.returnval[0]), "VmCreatedEvent");
	assert_string_equal(xnode_path_text(&r.returnval[0], "vm.vm"), "vm-1");
	assert_string_equal(xnode_type(&r.returnval[1]), "UserLoginSessionEvent");
	assert_string_equal(xnode_path_text(&r.returnval[2], "eventTypeId"), "com.vmware.vc.vm.DstVmMigratedEvent");
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

/* Every element (path, text, xsi:type) of a, found in b in order. */
static void
assert_same_tree(const xnode *a, const xnode *b)
{
	assert_string_equal(xnode_type(a), xnode_type(b));
	assert_string_equal(xnode_text(a), xnode_text(b));
	assert_int_equal(xnode_count(a, NULL), xnode_count(b, NULL));
	for (const xnode *x = xnode_first(a), *y = xnode_first(b); x; x = xnode_next(x), y = xnode_next(y)) {
		assert_string_equal(xnode_name(x), xnode_name(y));
		const char *ta = xnode_attr(x, "type"), *tb = xnode_attr(y, "type");
		if (ta || tb)
			assert_string_equal(ta ? ta : "", tb ? tb : "");
		assert_same_tree(x, y);
	}
}

static void
test_device_round_trip(void **st)
{
	(void)st;
	struct soap *in = body_reader(retrieve_resp);
	struct vim__RetrievePropertiesExResponse r;
	char *out = NULL;

	soap_default_vim__RetrievePropertiesExResponse(in, &r);
	assert_non_null(soap_get_vim__RetrievePropertiesExResponse(in, &r, "vim:RetrievePropertiesExResponse", NULL));
	xnode *disk = (xnode *)xnode_next(xnode_first(r.returnval->objects[0].propSet[0].val));
	assert_string_equal(xnode_type(disk), "VirtualDisk");

	/* Send it back the way enforcement will: an edit in a ConfigSpec. */
	struct soap *o = soap_new1(SOAP_C_UTFSTRING);
	soap_set_namespaces(o, namespaces);
	struct vim__VirtualMachineConfigSpec spec;
	struct vim__VirtualDeviceConfigSpec dc;
	struct vim__DeviceChangeRef ref = { SOAP_TYPE_vim__VirtualDeviceConfigSpec, &dc };
	soap_default_vim__VirtualMachineConfigSpec(o, &spec);
	soap_default_vim__VirtualDeviceConfigSpec(o, &dc);
	xnode_rename(disk, "device");
	dc.operation = "edit";
	dc.device = disk;
	spec.__sizedeviceChange_ = 1;
	spec.__deviceChange = &ref;
	spec.migrateEncryption = "required";
	o->os = (const char **)&out;
	soap_begin_send(o);
	soap_serialize_vim__VirtualMachineConfigSpec(o, &spec);
	assert_int_equal(soap_put_vim__VirtualMachineConfigSpec(o, &spec, "vim:spec", NULL), SOAP_OK);
	soap_end_send(o);
	o->os = NULL;
	assert_non_null(out);
	assert_non_null(strstr(out, "newBackingField9000"));
	assert_non_null(strstr(out, "operation>edit<"));

	/* Parse what we sent (as a tree: the agent never receives a
	 * ConfigSpec) and compare with what vCenter sent. */
	struct soap *back = reader(out);
	struct soap_dom_element sent;
	soap_default_xsd__anyType(back, &sent);
	soap_begin_recv(back);
	assert_non_null(soap_in_xsd__anyType(back, NULL, &sent, NULL));
	const xnode *dcn = xnode_child(&sent, "deviceChange");
	assert_non_null(dcn);
	assert_string_equal(xnode_type(dcn), "VirtualDeviceConfigSpec");
	assert_string_equal(xnode_path_text(&sent, "migrateEncryption"), "required");
	assert_same_tree(disk, xnode_child(dcn, "device"));
	assert_string_equal(xnode_path_text(dcn, "device.backing.newBackingField9000"), "3");
	assert_string_equal(xnode_type(xnode_path(dcn, "device.backing")),
	    "VirtualDiskFlatVer2BackingInfo");

	struct soap *all[] = { in, o, back };
	for (int i = 0; i < 3; i++) {
		soap_destroy(all[i]);
		soap_end(all[i]);
		soap_free(all[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_types_do_not_fail),
		cmocka_unit_test(test_unknown_event_types),
		cmocka_unit_test(test_device_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
