/* inventory.c: what a VM's properties say about its encryption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "inventory.h"
#include "domtest.h"

/* Each property value is a <val xsi:type=...> element, parsed into the DOM
 * the property collector (vsphere/vprop.c) hands the decoders. */
#define NS " xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

static void
test_encrypted_vm(void **st)
{
	(void)st;
	struct vm_info vm;
	memset(&vm, 0, sizeof(vm));
	vm_info_set_prop(&vm, "name", dom_parse("<val" NS " xsi:type=\"xsd:string\">db-01</val>"));
	vm_info_set_prop(&vm, "config.version", dom_parse("<val" NS ">vmx-19</val>"));
	vm_info_set_prop(&vm, "config.keyId", dom_parse("<val" NS " xsi:type=\"CryptoKeyId\"><keyId>k-1</keyId>"
	    "<providerId><id>ovh-kms</id></providerId></val>"));
	vm_info_set_prop(&vm, "config.migrateEncryption", dom_parse("<val" NS ">required</val>"));
	vm_info_set_prop(&vm, "config.template", dom_parse("<val" NS ">false</val>"));
	vm_info_set_prop(&vm, "snapshot", dom_parse("<val" NS " xsi:type=\"VirtualMachineSnapshotInfo\">"
	    "<currentSnapshot type=\"VirtualMachineSnapshot\">snapshot-1</currentSnapshot></val>"));
	vm_info_set_prop(&vm, "config.hardware.device", dom_parse("<val" NS " xsi:type=\"ArrayOfVirtualDevice\">"
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
	vm_info_set_prop(&vm, "config.version", dom_parse("<val" NS ">vmx-11</val>"));
	vm_info_set_prop(&vm, "config.migrateEncryption", dom_parse("<val" NS "></val>"));
	vm_info_set_prop(&vm, "config.template", dom_parse("<val" NS ">true</val>"));
	vm_info_set_prop(&vm, "some.future.property", dom_parse("<val" NS " xsi:type=\"Whatever\"><x/></val>"));
	vm_info_set_prop(&vm, "config.hardware.device", dom_parse("<val" NS " xsi:type=\"ArrayOfVirtualDevice\"></val>"));
	assert_int_equal(vm.hw_number, 11);
	assert_null(vm.migrate_encryption);
	assert_true(vm.template);
	assert_false(vm.encrypted);
	assert_int_equal(vm.ndisks, 0);
	vm_info_set_prop(&vm, "config.version", dom_parse("<val" NS ">weird</val>"));
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
	return cmocka_run_group_tests(tests, dom_open, dom_close);
}
