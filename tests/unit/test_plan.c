/* plan_reconfigure: every action combination gives the ReconfigVM_Task
 * spec vCenter expects (api-facts D.1: one task, the policy on home and
 * each disk, CryptoSpecEncrypt on the VM and each disk's backing, never a
 * new key for an encrypted VM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "plan.h"
#include "domtest.h"

#define POL "4d5f673c-536f-11e6-beb8-9e71128cae77"

static const char devices_xml[] =
    "<val xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
    " xsi:type=\"ArrayOfVirtualDevice\">"
    "<VirtualDevice xsi:type=\"VirtualLsiLogicController\"><key>1000</key></VirtualDevice>"
    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2000</key><backing"
    " xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[ds] a.vmdk</fileName></backing>"
    "<controllerKey>1000</controllerKey><unitNumber>0</unitNumber></VirtualDevice>"
    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2001</key><backing"
    " xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[ds] b.vmdk</fileName></backing>"
    "<controllerKey>1000</controllerKey><unitNumber>1</unitNumber></VirtualDevice>"
    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2002</key><backing"
    " xsi:type=\"VirtualDiskRawDiskMappingVer1BackingInfo\"><fileName>[ds] r.vmdk</fileName>"
    "</backing><controllerKey>1000</controllerKey><unitNumber>2</unitNumber></VirtualDevice>"
    "</val>";

static const xnode *devices;

static int
setup(void **st)
{
	if (dom_open(st) != 0)
		return -1;
	devices = dom_parse(devices_xml);
	return 0;
}

/* A VM read from devices_xml: plain, or encrypted with disk 2001 plain. */
static void
vm_read(struct vm_info *vm, int encrypted)
{
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->moref, sizeof(vm->moref), "vm-42");
	vm_info_set_prop(vm, "config.hardware.device", devices);
	vm->has_config = 1;
	vm->change_version = strdup("2026-12-01T10:00:00.1Z");
	if (encrypted) {
		vm->encrypted = 1;
		vm->key_id = strdup("vm-key");
		vm->provider = strdup("ovh-kms");
		vm->disks[0].encrypted = 1;
		vm->disks[0].key_id = strdup("vm-key");
		vm->disks[0].policy_id = strdup(POL);
	}
}

static const struct policy pol = { .min_hw = 13, .encrypt = 1, .migrate = "required",
    .policy_id = POL };

static struct vreconfig
plan(const struct policy *p, const struct vm_info *vm, unsigned actions,
    const xnode **disks, int *rc)
{
	struct decision d = { .state = VS_PENDING, .actions = actions };
	static struct vkey key = { "new-key", "ovh-kms" };	/* rs points into it */
	struct vreconfig rs;
	*rc = plan_reconfigure(p, &d, vm, devices, &key, disks, &rs);
	return rs;
}

static int
has_disk(const struct vreconfig *rs, const char *key)
{
	for (size_t i = 0; i < rs->ndisks; i++)
		if (strcmp(xnode_path_text(rs->disks[i], "key"), key) == 0)
			return 1;
	return 0;
}

static void
test_encrypt_a_plain_vm(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	int rc;
	(void)st;
	vm_read(&vm, 0);
	struct vreconfig rs = plan(&pol, &vm, ACT_ENCRYPT | ACT_MIGRATE, disks, &rc);
	assert_int_equal(rc, 0);
	assert_true(rs.crypto_vm && rs.disk_crypto && rs.home_profile && rs.disk_profile);
	assert_string_equal(rs.key_id, "new-key");
	assert_string_equal(rs.provider, "ovh-kms");
	assert_string_equal(rs.profile_id, POL);
	assert_string_equal(rs.change_version, "2026-12-01T10:00:00.1Z");
	/* Both flat disks; never the raw device mapping. */
	assert_int_equal(rs.ndisks, 2);
	assert_true(has_disk(&rs, "2000") && has_disk(&rs, "2001") && !has_disk(&rs, "2002"));
	assert_string_equal(rs.migrate, "required");
	assert_null(rs.ft);
	assert_true(plan_needs_key(&(struct decision){ .actions = ACT_ENCRYPT }));

	/* What goes on the wire: one spec with all of it. */
	struct vmoref obj = { "VirtualMachine", "vm-42" };
	char *xml = vim_reconfigure_xml(&obj, &rs);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<vim:changeVersion>2026-12-01T10:00:00.1Z</vim:changeVersion>"));
	assert_non_null(strstr(xml, "<vim:crypto xsi:type=\"vim:CryptoSpecEncrypt\">"
	    "<vim:cryptoKeyId><vim:keyId>new-key</vim:keyId><vim:providerId><vim:id>ovh-kms"));
	assert_non_null(strstr(xml, "<vim:vmProfile xsi:type=\"vim:VirtualMachineDefinedProfileSpec\">"
	    "<vim:profileId>" POL "</vim:profileId>"));
	assert_non_null(strstr(xml, "<vim:migrateEncryption>required</vim:migrateEncryption>"));
	size_t edits = 0;
	for (const char *p = xml; (p = strstr(p, "<vim:operation>edit</vim:operation>")); p++)
		edits++;
	assert_int_equal(edits, 2);
	free(xml);
	vm_info_clear(&vm);
}

static void
test_leave_vmotion_alone_and_ft(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	struct policy p = pol;
	int rc;
	(void)st;
	vm_read(&vm, 0);
	p.migrate = NULL;		/* migrate-encryption="leave" */
	struct vreconfig rs = plan(&p, &vm, ACT_ENCRYPT, disks, &rc);
	assert_int_equal(rc, 0);
	assert_null(rs.migrate);
	rs = plan(&pol, &vm, ACT_MIGRATE, disks, &rc);
	assert_false(rs.crypto_vm || rs.disk_crypto || rs.home_profile || rs.disk_profile);
	assert_int_equal(rs.ndisks, 0);
	assert_string_equal(rs.migrate, "required");
	rs = plan(&pol, &vm, ACT_FT, disks, &rc);
	assert_string_equal(rs.ft, "ftEncryptionRequired");
	assert_null(rs.migrate);
	assert_int_equal(rs.ndisks, 0);
	vm_info_clear(&vm);
}

static void
test_encrypted_vm_gets_its_own_key_never_a_new_one(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	int rc;
	(void)st;
	vm_read(&vm, 1);
	struct vreconfig rs = plan(&pol, &vm, ACT_ENCRYPT_DISKS, disks, &rc);
	assert_int_equal(rc, 0);
	assert_false(rs.crypto_vm);
	assert_true(rs.disk_crypto && rs.disk_profile);
	assert_string_equal(rs.key_id, "vm-key");
	assert_string_equal(rs.provider, "ovh-kms");
	/* Only the plain disk; home keeps what it has. */
	assert_int_equal(rs.ndisks, 1);
	assert_true(has_disk(&rs, "2001"));
	assert_false(rs.home_profile);
	/* Encrypted vMotion drift on an encrypted VM: that setting alone. */
	rs = plan(&pol, &vm, ACT_MIGRATE, disks, &rc);
	assert_int_equal(rc, 0);
	assert_false(rs.crypto_vm || rs.disk_crypto || rs.home_profile || rs.disk_profile);
	assert_null(rs.key_id);
	assert_int_equal(rs.ndisks, 0);
	assert_string_equal(rs.migrate, "required");
	vm_info_clear(&vm);
}

static void
test_missing_policy_attached_where_missing(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	int rc;
	(void)st;
	vm_read(&vm, 1);
	struct vreconfig rs = plan(&pol, &vm, ACT_POLICY, disks, &rc);
	assert_int_equal(rc, 0);
	assert_false(rs.crypto_vm || rs.disk_crypto);
	assert_true(rs.home_profile && rs.disk_profile);	/* home has none */
	assert_int_equal(rs.ndisks, 1);				/* 2000 has it */
	assert_true(has_disk(&rs, "2001"));
	vm.home_policy_id = strdup(POL);
	rs = plan(&pol, &vm, ACT_POLICY | ACT_ENCRYPT_DISKS | ACT_MIGRATE, disks, &rc);
	assert_false(rs.home_profile);
	assert_true(rs.disk_crypto);
	assert_int_equal(rs.ndisks, 1);
	assert_string_equal(rs.migrate, "required");
	vm_info_clear(&vm);
}

/* A wrong-provider VM, with rekey="shallow": the new key on the VM and its
 * encrypted disks as CryptoSpecShallowRecrypt, nothing else. */
static void
test_shallow_rekey(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	int rc;
	(void)st;
	vm_read(&vm, 1);
	assert_true(plan_needs_key(&(struct decision){ .actions = ACT_REKEY }));
	struct vreconfig rs = plan(&pol, &vm, ACT_REKEY, disks, &rc);
	assert_int_equal(rc, 0);
	assert_true(rs.rekey && rs.crypto_vm && rs.disk_crypto);
	assert_false(rs.home_profile || rs.disk_profile);
	assert_null(rs.migrate);
	assert_null(rs.ft);
	assert_string_equal(rs.key_id, "new-key");
	assert_string_equal(rs.provider, "ovh-kms");
	/* The encrypted disk only (2001 is plain, 2002 a raw mapping). */
	assert_int_equal(rs.ndisks, 1);
	assert_true(has_disk(&rs, "2000"));
	struct vmoref obj = { "VirtualMachine", "vm-42" };
	char *xml = vim_reconfigure_xml(&obj, &rs);
	assert_non_null(xml);
	const char *want = "<vim:crypto xsi:type=\"vim:CryptoSpecShallowRecrypt\">"
	    "<vim:newKeyId><vim:keyId>new-key</vim:keyId><vim:providerId><vim:id>ovh-kms"
	    "</vim:id></vim:providerId></vim:newKeyId></vim:crypto>";
	const char *vmc = strstr(xml, want);
	assert_non_null(vmc);
	assert_non_null(strstr(vmc + 1, want));		/* and the disk's backing */
	assert_null(strstr(xml, "CryptoSpecEncrypt"));
	assert_null(strstr(xml, "Profile"));
	free(xml);
	vm_info_clear(&vm);
}

/* Every combination: the invariants a spec must keep. */
static void
test_every_combination(void **st)
{
	static const unsigned bits[] = { ACT_ENCRYPT, ACT_ENCRYPT_DISKS, ACT_POLICY,
	    ACT_MIGRATE, ACT_FT };
	(void)st;
	for (int enc = 0; enc < 2; enc++)
		for (unsigned m = 0; m < 32; m++) {
			unsigned a = 0;
			for (int b = 0; b < 5; b++)
				if (m & (1u << b))
					a |= bits[b];
			struct vm_info vm;
			const xnode *disks[8];
			int rc;
			vm_read(&vm, enc);
			struct vreconfig rs = plan(&pol, &vm, a, disks, &rc);
			assert_int_equal(rc, 0);
			assert_int_equal(rs.crypto_vm, (a & ACT_ENCRYPT) != 0);
			assert_true((rs.migrate != NULL) == ((a & (ACT_MIGRATE | ACT_ENCRYPT)) != 0));
			assert_true((rs.ft != NULL) == ((a & ACT_FT) != 0));
			if (!(a & ACT_ENCRYPT) && rs.disk_crypto) {
				/* never a rekey: the VM's own key, or none */
				if (vm.key_id)
					assert_string_equal(rs.key_id, vm.key_id);
				else
					assert_null(rs.key_id);
			}
			if (!(a & (ACT_ENCRYPT | ACT_ENCRYPT_DISKS | ACT_POLICY)))
				assert_int_equal(rs.ndisks, 0);
			for (size_t i = 0; i < rs.ndisks; i++)
				assert_string_not_equal(xnode_path_text(rs.disks[i], "key"), "2002");
			vm_info_clear(&vm);
		}
}

static void
test_a_disk_gone_between_reads(void **st)
{
	struct vm_info vm;
	const xnode *disks[8];
	int rc;
	(void)st;
	vm_read(&vm, 0);
	vm.disks[1].key = 2999;		/* not in devices any more */
	(void)plan(&pol, &vm, ACT_ENCRYPT, disks, &rc);
	assert_int_equal(rc, -1);
	vm_info_clear(&vm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encrypt_a_plain_vm),
		cmocka_unit_test(test_leave_vmotion_alone_and_ft),
		cmocka_unit_test(test_encrypted_vm_gets_its_own_key_never_a_new_one),
		cmocka_unit_test(test_missing_policy_attached_where_missing),
		cmocka_unit_test(test_shallow_rekey),
		cmocka_unit_test(test_every_combination),
		cmocka_unit_test(test_a_disk_gone_between_reads),
	};
	return cmocka_run_group_tests(tests, setup, dom_close);
}
