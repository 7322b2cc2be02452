/* controls.c: every control of the table judged on the facts that decide
 * it, each branch, and the facts taken from a VM as the inventory reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "controls.h"
#include "inventory.h"

static enum ctl_result
judge(const char *id, const struct ctl_facts *f, char *why, size_t len)
{
	const struct control *c = controls_find(id);
	assert_non_null(c);
	return c->judge(f, why, len);
}

/* An encrypted VM with two encrypted disks, Encrypted vMotion required, no
 * FT, on VMFS: what the agent makes of a VM in scope. */
static struct ctl_facts
good(void)
{
	struct ctl_facts f = {
		.readable = 1, .encrypted = 1, .ndisks = 2, .disks_encrypted = 2,
		.vsan = 0, .migrate = "required", .ft = 0,
		.ft_mode = "ftEncryptionRequired",
	};
	return f;
}

static void
test_table(void **st)
{
	(void)st;
	assert_int_equal(ncontrols, 5);
	assert_true(ncontrols <= CONTROLS_MAX);
	for (size_t i = 0; i < ncontrols; i++) {
		const struct control *c = &controls[i];
		assert_non_null(c->id);
		assert_non_null(c->source);
		assert_true(strlen(c->requires) > 10 && strlen(c->satisfied_by) > 10);
		assert_non_null(c->judge);
		assert_ptr_equal(controls_find(c->id), c);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(controls[k].id, c->id);
		/* An OSCAL token: a letter first, then letters, digits, . - _ */
		assert_true((c->id[0] >= 'a' && c->id[0] <= 'z'));
		assert_int_equal(strspn(c->id, "abcdefghijklmnopqrstuvwxyz0123456789.-_"),
		    strlen(c->id));
	}
	assert_null(controls_find("vm-9.nope"));
	assert_string_equal(ctl_result_name(CTL_SATISFIED), "satisfied");
	assert_string_equal(ctl_result_name(CTL_NOT_SATISFIED), "not satisfied");
	assert_string_equal(ctl_result_name(CTL_NOT_APPLICABLE), "not applicable");
	assert_string_equal(controls_find("vm-9.vmotion-encrypted")->source,
	    "VMware Cloud Foundation Security Configuration Guide 9.0");
	assert_string_equal(controls_find("pci-dss-4.0.1-3.5.1")->source, "PCI DSS v4.0.1");
}

static void
test_vmotion(void **st)
{
	char why[128];
	struct ctl_facts f = good();

	(void)st;
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, why, sizeof(why)), CTL_SATISFIED);
	f.migrate = "opportunistic";
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, why, sizeof(why)),
	    CTL_NOT_SATISFIED);
	assert_string_equal(why, "migrateEncryption opportunistic");
	f.migrate = NULL;		/* not set: vCenter's default, opportunistic */
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, why, sizeof(why)),
	    CTL_NOT_SATISFIED);
	assert_non_null(strstr(why, "not set"));
	f.migrate = "disabled";
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, NULL, 0), CTL_NOT_SATISFIED);
	f = good();
	f.readable = 0;			/* inaccessible: nothing to evidence it with */
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, why, sizeof(why)),
	    CTL_NOT_SATISFIED);
}

static void
test_ft(void **st)
{
	char why[128];
	struct ctl_facts f = good();

	(void)st;
	/* A VM without FT: not applicable, whatever its mode says. */
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_NOT_APPLICABLE);
	f.ft_mode = "ftEncryptionOpportunistic";
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_NOT_APPLICABLE);
	f.ft = 1;
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
	assert_string_equal(why, "ftEncryptionMode ftEncryptionOpportunistic");
	f.ft_mode = "ftEncryptionRequired";
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_SATISFIED);
	f.ft_mode = NULL;		/* vSphere before 7.0.2 has no such setting */
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
	assert_non_null(strstr(why, "7.0.2"));
	f.ft = -1;
	f.ft_mode = "ftEncryptionRequired";
	assert_int_equal(judge("vm-9.ft-encrypted", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
}

static void
test_vsan(void **st)
{
	char why[160];
	struct ctl_facts f = good();

	(void)st;
	assert_int_equal(judge("vsan-9.encryption-rest", &f, why, sizeof(why)),
	    CTL_NOT_APPLICABLE);
	f.vsan = 1;
	assert_int_equal(judge("vsan-9.encryption-rest", &f, why, sizeof(why)),
	    CTL_NOT_SATISFIED);
	f.vsan_encrypted = 1;
	assert_int_equal(judge("vsan-9.encryption-rest", &f, why, sizeof(why)), CTL_SATISFIED);
	f.vsan = -1;			/* the types were not read; the map still says */
	assert_int_equal(judge("vsan-9.encryption-rest", &f, why, sizeof(why)), CTL_SATISFIED);
	f.vsan_encrypted = 0;
	assert_int_equal(judge("vsan-9.encryption-rest", &f, why, sizeof(why)),
	    CTL_NOT_SATISFIED);
}

static void
test_pci_3_5_1(void **st)
{
	char why[128];
	struct ctl_facts f = good();

	(void)st;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_SATISFIED);
	f.disks_encrypted = 1;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
	assert_string_equal(why, "1 of 2 disks not encrypted");
	/* A hw-too-old (or excluded) VM: not encrypted, so not satisfied. */
	f = good();
	f.encrypted = 0;
	f.disks_encrypted = 0;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
	assert_string_equal(why, "not encrypted");
	/* vSAN encrypts it at rest instead. */
	f.vsan = 1;
	f.vsan_encrypted = 1;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_SATISFIED);
	f.readable = 0;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_NOT_SATISFIED);
	/* No disks at all: the home is the whole VM. */
	f = good();
	f.ndisks = f.disks_encrypted = 0;
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, why, sizeof(why)), CTL_SATISFIED);
}

static void
test_pci_3_7_4(void **st)
{
	char why[128];
	struct ctl_facts f = good();

	(void)st;
	/* Listed only where evidenced: no record, not in the row at all. */
	assert_int_equal(judge("pci-dss-4.0.1-3.7.4", &f, why, sizeof(why)), CTL_UNLISTED);
	f.rekeyed = "2026-12-01T10:00:00Z";
	assert_int_equal(judge("pci-dss-4.0.1-3.7.4", &f, why, sizeof(why)), CTL_SATISFIED);
	assert_string_equal(why, "key changed 2026-12-01T10:00:00Z");
}

static void
test_facts_from_vm(void **st)
{
	struct vm_info vm;
	struct disk_info disks[3];
	struct ctl_facts f;

	(void)st;
	memset(&vm, 0, sizeof(vm));
	memset(disks, 0, sizeof(disks));
	disks[0].encrypted = 1;
	disks[2].encrypted = 1;
	vm.disks = disks;
	vm.ndisks = 3;
	vm.has_config = 1;
	vm.encrypted = 1;
	vm.migrate_encryption = "required";
	vm.ft_encryption_mode = "ftEncryptionOpportunistic";
	vm.vsan_encrypted = 0;
	controls_facts(&vm, 0, 1, NULL, &f);
	assert_int_equal(f.readable, 1);
	assert_int_equal(f.ndisks, 3);
	assert_int_equal(f.disks_encrypted, 2);
	assert_int_equal(f.vsan, 1);
	assert_int_equal(f.ft, 0);
	assert_string_equal(f.migrate, "required");
	assert_null(f.rekeyed);
	assert_int_equal(judge("pci-dss-4.0.1-3.5.1", &f, NULL, 0), CTL_NOT_SATISFIED);
	assert_int_equal(judge("vm-9.vmotion-encrypted", &f, NULL, 0), CTL_SATISFIED);
	assert_int_equal(judge("vm-9.ft-encrypted", &f, NULL, 0), CTL_NOT_APPLICABLE);
	assert_int_equal(judge("vsan-9.encryption-rest", &f, NULL, 0), CTL_NOT_SATISFIED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_vmotion),
		cmocka_unit_test(test_ft),
		cmocka_unit_test(test_vsan),
		cmocka_unit_test(test_pci_3_5_1),
		cmocka_unit_test(test_pci_3_7_4),
		cmocka_unit_test(test_facts_from_vm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
