/* inventory.c: what a VM's properties say about its encryption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "inventory.h"
#include "soapH.h"

extern struct Namespace namespaces[];

static struct soap *soap;

/* Parses one <val xsi:type=...> element into a DOM, as vim.c receives it. */
static const xnode *
val(const char *xml)
{
	struct soap_dom_element *d = soap_malloc(soap, sizeof(*d));
	soap->is = xml;
	soap_default_xsd__anyType(soap, d);
	assert_int_equal(soap_begin_recv(soap), SOAP_OK);
	assert_non_null(soap_in_xsd__anyType(soap, NULL, d, NULL));
	soap_end_recv(soap);
	return d;
}

#define NS " xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

static void
test_encrypted_vm(void **st)
{
	(void)st;
	struct vm_info vm;
	memset(&vm, 0, sizeof(vm));
	vm_info_set_prop(&vm, "name", val("<val" NS " xsi:type=\"xsd:string\">db-01</val>"));
	vm_info_set_prop(&vm, "config.version", val("<val" NS ">vmx-19</val>"));
	vm_info_set_prop(&vm, "config.keyId", val("<val" NS " xsi:type=\"CryptoKeyId\"><keyId>k-1</keyId>"
	    "<providerId><id>ovh-kms</id></providerId></val>"));
	vm_info_set_prop(&vm, "config.migrateEncryption", val("<val" NS ">required</val>"));
	vm_info_set_prop(&vm, "config.template", val("<val" NS ">false</val>"));
	vm_info_set_prop(&vm, "snapshot", val("<val" NS " xsi:type=\"VirtualMachineSnapshotInfo\">"
	    "<currentSnapshot type=\"VirtualMachineSnapshot\">snapshot-1</currentSnapshot></val>"));
	vm_info_set_prop(&vm, "config.hardware.device", val("<val" NS " xsi:type=\"ArrayOfVirtualDevice\">"
	    "<VirtualDevice xsi:type=\"VirtualIDEController\"><key>200</key></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2000</key><deviceInfo><label>Hard disk 1</label></deviceInfo>"
	    "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[ds] a.vmdk</fileName>"
	    "<keyId><keyId>k-1</keyId><providerId><id>ovh-kms</id></providerId></keyId></backing></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2001</key>"
	    "<backing xsi:type=\"VirtualDiskRawDiskMappingVer1BackingInfo\"><fileName>[ds] rdm.vmdk</fileName></backing></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualNVMeControllerFuture\"><key>31000</key></VirtualDevice>"
	    "</val>"));
	assert_string_equal(vm.name, "db-01");
	assert_int_equal(vm.hw_number, 19);
	assert_true(vm.encrypted);
	assert_string_equal(vm.key_id, "k-1");
	assert_string_equal(vm.provider, "ovh-kms");
	assert_string_equal(vm.migrate_encryption, "required");
	assert_false(vm.template);
	assert_true(vm.snapshot);
	assert_int_equal(vm.ndisks, 2);
	assert_int_equal(vm.disks[0].key, 2000);
	assert_true(vm.disks[0].encrypted);
	assert_string_equal(vm.disks[0].provider, "ovh-kms");
	assert_string_equal(vm.disks[0].label, "Hard disk 1");
	assert_false(vm.disks[1].encrypted);
	assert_null(vm.disks[1].key_id);
	vm_info_clear(&vm);
}

static void
test_plain_vm_and_odd_values(void **st)
{
	(void)st;
	struct vm_info vm;
	memset(&vm, 0, sizeof(vm));
	vm_info_set_prop(&vm, "config.version", val("<val" NS ">vmx-11</val>"));
	vm_info_set_prop(&vm, "config.migrateEncryption", val("<val" NS "></val>"));
	vm_info_set_prop(&vm, "config.template", val("<val" NS ">true</val>"));
	vm_info_set_prop(&vm, "some.future.property", val("<val" NS " xsi:type=\"Whatever\"><x/></val>"));
	vm_info_set_prop(&vm, "config.hardware.device", val("<val" NS " xsi:type=\"ArrayOfVirtualDevice\"></val>"));
	assert_int_equal(vm.hw_number, 11);
	assert_null(vm.migrate_encryption);
	assert_true(vm.template);
	assert_false(vm.encrypted);
	assert_int_equal(vm.ndisks, 0);
	vm_info_set_prop(&vm, "config.version", val("<val" NS ">weird</val>"));
	assert_int_equal(vm.hw_number, 0);
	vm_info_clear(&vm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encrypted_vm),
		cmocka_unit_test(test_plain_vm_and_odd_values),
	};
	soap = soap_new1(SOAP_C_UTFSTRING);
	soap_set_namespaces(soap, namespaces);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return rc;
}
