/* policy.c: every branch of the decision, from plain vm_info structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "inventory.h"
#include "policy.h"

#define POL "4d5f673c-536f-11e6-beb8-9e71128cae77"

static struct disk_info disks[3];
static struct vm_attr attrs[2];

/* A powered-off vmx-13 VM with two plain flat disks: the common new VM. */
static struct vm_info
fresh(void)
{
	struct vm_info vm;
	memset(&vm, 0, sizeof(vm));
	memset(disks, 0, sizeof(disks));
	vm.name = "app-01";
	vm.folder = "/DC0/vm/apps";
	vm.hw_version = "vmx-13";
	vm.hw_number = 13;
	vm.power_state = "poweredOff";
	vm.has_config = 1;
	disks[0].key = 2000; disks[0].encryptable = 1;
	disks[1].key = 2001; disks[1].encryptable = 1;
	vm.disks = disks;
	vm.ndisks = 2;
	return vm;
}

static struct vm_info
encrypted(void)
{
	struct vm_info vm = fresh();
	vm.encrypted = 1;
	vm.key_id = "k1";
	vm.migrate_encryption = "required";
	vm.home_policy_id = POL;
	for (int i = 0; i < 2; i++) {
		disks[i].encrypted = 1;
		disks[i].policy_id = POL;
	}
	return vm;
}

static struct policy
pol(void)
{
	struct policy p;
	memset(&p, 0, sizeof(p));
	p.min_hw = 13;
	p.encrypt = 1;
	p.migrate = "required";
	p.policy_id = POL;
	return p;
}

static struct decision
decide(const struct policy *p, const struct vm_info *vm)
{
	struct decision d;
	policy_decide(p, vm, &d);
	return d;
}

static void
test_new_vm_powered_off(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_ENCRYPT | ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "not encrypted"));
	assert_non_null(strstr(d.reason, "migrateEncryption opportunistic"));
}

static void
test_powered_on_gets_vmotion_now_encryption_later(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.power_state = "poweredOn";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_DEFERRED);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "deferred to the next power-off"));

	/* Once required vMotion is set, nothing to do until power-off. */
	vm.migrate_encryption = "required";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_DEFERRED);
	assert_int_equal(d.actions, 0);

	vm.power_state = "suspended";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_DEFERRED);
	assert_int_equal(d.actions, 0);
}

static void
test_snapshots_block_encryption_only(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.snapshot = 1;
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_BLOCKED);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "snapshots"));
	/* Snapshots take precedence over power state in the reason. */
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_BLOCKED);
}

static void
test_hardware_too_old_never_touched(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.hw_version = "vmx-11";
	vm.hw_number = 11;
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_HW_TOO_OLD);
	assert_int_equal(d.actions, 0);
	assert_string_equal(d.reason, "vmx-11 < vmx-13");

	vm.hw_version = "vmx-08";
	vm.hw_number = 8;
	d = decide(&p, &vm);
	assert_string_equal(d.reason, "vmx-08 < vmx-13");

	vm.hw_version = "weird";
	vm.hw_number = 0;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_HW_TOO_OLD);
	assert_non_null(strstr(d.reason, "unknown"));

	/* A higher configured minimum is honoured. */
	p.min_hw = 15;
	vm = fresh();
	vm.hw_version = "vmx-14";
	vm.hw_number = 14;
	d = decide(&p, &vm);
	assert_string_equal(d.reason, "vmx-14 < vmx-15");
	vm.hw_number = 15;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
}

static void
test_encrypted_vm_is_never_rekeyed(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	assert_int_equal(d.actions, 0);

	/* Encrypted vMotion set back to opportunistic on an encrypted VM is
	 * drift (issue #16): pending, and the only action is that setting --
	 * never a rekey, never a crypto spec. */
	vm.migrate_encryption = "opportunistic";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "drift: migrateEncryption opportunistic"));

	/* Powered on or with snapshots: the setting is not a crypto change,
	 * so it is neither deferred nor blocked. */
	vm.power_state = "poweredOn";
	vm.snapshot = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);

	/* Back to required: compliant, nothing to do. */
	vm.migrate_encryption = "required";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	assert_int_equal(d.actions, 0);
}

/* Issue #16: a key from another provider than <kms cluster> names is its
 * own state, open (reconcile exits 1), and never a rekey. */
static void
test_wrong_provider(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	vm.provider = "other-kms";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);	/* no provider expected */
	p.provider = "ovh-kms";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_WRONG_PROVIDER);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "key from key provider 'other-kms', expected 'ovh-kms'"));
	assert_true(vm_state_open(d.state));
	assert_string_equal(vm_state_name(d.state), "wrong-provider");
	/* Other drift is still fixed, without touching the key. */
	vm.migrate_encryption = "opportunistic";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	/* The expected provider: compliant. */
	vm.migrate_encryption = "required";
	vm.provider = "ovh-kms";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	/* A plain VM is encrypted as ever, whatever provider is expected. */
	struct vm_info plain = fresh();
	d = decide(&p, &plain);
	assert_int_equal(d.state, VS_PENDING);
	assert_true(d.actions & ACT_ENCRYPT);
	assert_false(d.actions & ACT_REKEY);
}

/* On vSAN that encrypts at rest: no VM Encryption on top unless asked;
 * Encrypted vMotion as ever; an encrypted VM is judged as before. */
static void
test_vsan_encrypted(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.vsan_encrypted = 1;
	p.vsan_skip = 1;
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "data-at-rest"));
	vm.migrate_encryption = "required";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_VSAN_ENCRYPTED);
	assert_int_equal(d.actions, 0);
	assert_false(vm_state_open(d.state));
	assert_string_equal(vm_state_name(d.state), "vsan-encrypted");
	p.vsan_skip = 0;			/* vsan-encrypted="encrypt" */
	d = decide(&p, &vm);
	assert_true(d.actions & ACT_ENCRYPT);
	p.vsan_skip = 1;
	vm.vsan_encrypted = 0;			/* some datastore is not */
	d = decide(&p, &vm);
	assert_true(d.actions & ACT_ENCRYPT);
	struct vm_info enc = encrypted();
	enc.vsan_encrypted = 1;
	d = decide(&p, &enc);
	assert_int_equal(d.state, VS_COMPLIANT);
}

/* rekey="shallow": a wrong-provider VM is rekeyed, powered on or off, once
 * nothing else is to do, never with snapshots; the right provider never. */
static void
test_shallow_rekey_decision(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	p.provider = "ovh-kms";
	p.rekey = 1;
	vm.provider = "other-kms";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_WRONG_PROVIDER);
	assert_int_equal(d.actions, ACT_REKEY);
	assert_non_null(strstr(d.reason, "expected 'ovh-kms'; shallow rekey"));
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_int_equal(d.actions, ACT_REKEY);
	/* Other drift first, in its own reconfigure; the rekey after. */
	vm.migrate_encryption = "opportunistic";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	vm.migrate_encryption = "required";
	/* Snapshots: it waits, and says so. */
	vm.snapshot = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_WRONG_PROVIDER);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "snapshots"));
	vm.snapshot = 0;
	/* The expected provider: never a rekey. */
	vm.provider = "ovh-kms";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	assert_int_equal(d.actions, 0);
	/* No expected provider: nothing to rekey onto. */
	p.provider = NULL;
	vm.provider = "other-kms";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	assert_int_equal(d.actions, 0);
	char s[64];
	policy_actions_str(ACT_REKEY, s, sizeof(s));
	assert_string_equal(s, "rekey");
}

static void
test_encrypted_vm_missing_policy(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	vm.home_policy_id = NULL;
	disks[1].policy_id = NULL;
	/* Not configured: leave it. */
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	/* Configured: attach, without any crypto change, in any power state. */
	p.attach_policy = 1;
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_POLICY);
	assert_non_null(strstr(d.reason, "home and disks"));
	vm.home_policy_id = POL;
	d = decide(&p, &vm);
	assert_non_null(strstr(d.reason, "missing on disks"));
}

static void
test_encrypted_vm_with_plain_disk(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	disks[1].encrypted = 0;
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_ENCRYPT_DISKS);
	assert_non_null(strstr(d.reason, "1 unencrypted disk"));
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_DEFERRED);
	assert_int_equal(d.actions, 0);
	/* An RDM cannot be encrypted and does not count. */
	vm.power_state = "poweredOff";
	disks[1].encryptable = 0;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
}

static void
test_exclusions(void **st)
{
	(void)st;
	struct exclusion ex[3] = {
		{ EXCL_NAME_PATTERN, "vCLS-*", NULL },
		{ EXCL_FOLDER, "/DC0/vm/infra/", NULL },
		{ EXCL_CUSTOM_ATTR, "vmcrypt.exempt", "true" },
	};
	struct policy p = pol();
	p.excl = ex;
	p.nexcl = 3;

	struct vm_info vm = fresh();
	vm.name = "vCLS-1234";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "vCLS-*"));

	vm = fresh();
	vm.folder = "/DC0/vm/infra/dns";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
	vm.folder = "/DC0/vm/infra";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
	vm.folder = "/DC0/vm/infrastructure";	/* not a subfolder */
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);

	vm = fresh();
	attrs[0].key = 101; attrs[0].name = "owner"; attrs[0].value = "true";
	attrs[1].key = 102; attrs[1].name = "vmcrypt.exempt"; attrs[1].value = "false";
	vm.attrs = attrs;
	vm.nattrs = 2;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	attrs[1].value = "true";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
	assert_non_null(strstr(d.reason, "vmcrypt.exempt=true"));
	/* An attribute whose key was not resolved to a name never matches. */
	attrs[1].name = NULL;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);

	/* Exclusion wins over everything else, even hardware version. */
	vm = fresh();
	vm.name = "vCLS-9";
	vm.hw_number = 8;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
}

/* Each state's machine code: the main cause, whatever else the reason
 * text lists. */
static void
test_codes(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	assert_string_equal(decide(&p, &vm).code, "not-encrypted");
	vm.power_state = "poweredOn";
	assert_string_equal(decide(&p, &vm).code, "powered-on");
	vm = fresh();
	vm.snapshot = 1;
	assert_string_equal(decide(&p, &vm).code, "snapshots");
	vm = fresh();
	vm.hw_number = 11;
	assert_string_equal(decide(&p, &vm).code, "hw-too-old");
	vm = encrypted();
	assert_string_equal(decide(&p, &vm).code, "compliant");
	vm.migrate_encryption = "opportunistic";
	assert_string_equal(decide(&p, &vm).code, "migrate-drift");
	vm = fresh();
	vm.has_config = 0;
	assert_string_equal(decide(&p, &vm).code, "no-config");
	struct exclusion ex = { .kind = EXCL_NAME_PATTERN, .pattern = "app-*" };
	p.excl = &ex;
	p.nexcl = 1;
	vm = fresh();
	assert_string_equal(decide(&p, &vm).code, "excluded-name");
}

/* The canary's VM (check --canary) is its own: out of scope for the agent,
 * in scope for the canary's own look; a name merely containing the prefix
 * is not one. */
static void
test_canary_vm(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.name = "vmcrypt-canary-host1-20261207T120000";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_EXCLUDED);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "check --canary"));
	p.canary_own = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_ENCRYPT | ACT_MIGRATE);
	p.canary_own = 0;
	vm.name = "app-vmcrypt-canary-1";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
}

static void
test_templates(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.template = 1;
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_TEMPLATE);
	assert_int_equal(d.actions, 0);
	assert_false(vm_state_open(d.state));
	p.templates_enforce = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_BLOCKED);
	assert_int_equal(d.actions, 0);
	assert_true(vm_state_open(d.state));
	vm.encrypted = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
}

static void
test_inaccessible(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.has_config = 0;
	vm.connection_state = "orphaned";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.state, VS_INACCESSIBLE);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "orphaned"));
}

static void
test_migrate_only_and_ft(void **st)
{
	(void)st;
	struct policy p = pol();
	p.encrypt = 0;
	struct vm_info vm = fresh();
	vm.power_state = "poweredOn";
	struct decision d = decide(&p, &vm);
	/* Without encryption, powered-on is no reason to wait. */
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	vm.migrate_encryption = "required";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);

	/* migrate-encryption="leave" */
	p.migrate = NULL;
	vm.migrate_encryption = "disabled";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);

	/* FT encryption only when asked for and when the API has it. */
	p.ft_required = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
	p.ft_supported = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.actions, ACT_FT);
	assert_non_null(strstr(d.reason, "ftEncryptionOpportunistic"));
	vm.ft_encryption_mode = "ftEncryptionRequired";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_COMPLIANT);
}

static void
test_disabled_migrate_is_restored(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = fresh();
	vm.power_state = "poweredOn";
	vm.migrate_encryption = "disabled";
	struct decision d = decide(&p, &vm);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "migrateEncryption disabled"));
}

/*
 * enforce.c skips the SPBM query for a VM that is not encrypted: this holds
 * policy_decide to never reading storage policies for such a VM, whatever
 * else varies.
 */
static void
test_plain_vm_decision_ignores_policies(void **st)
{
	(void)st;
	static char other[] = "other-policy", same[] = POL;
	char *ids[] = { NULL, same, other };
	for (int variant = 0; variant < 8; variant++) {
		struct decision ref;
		for (size_t k = 0; k < 3; k++) {
			struct policy p = pol();
			struct vm_info vm = fresh();
			switch (variant) {
			case 1: vm.power_state = "poweredOn"; break;
			case 2: vm.snapshot = 1; break;
			case 3: vm.migrate_encryption = "required"; break;
			case 4: vm.hw_number = 11; vm.hw_version = "vmx-11"; break;
			case 5: p.encrypt = 0; break;
			case 6: vm.template = 1; p.templates_enforce = 1; break;
			case 7: p.attach_policy = 1; break;
			}
			vm.home_policy_id = ids[k];
			for (size_t i = 0; i < vm.ndisks; i++)
				disks[i].policy_id = ids[(k + i) % 3];
			struct decision d = decide(&p, &vm);
			if (k == 0) {
				ref = d;
				continue;
			}
			assert_int_equal(d.state, ref.state);
			assert_int_equal(d.actions, ref.actions);
			assert_string_equal(d.reason, ref.reason);
		}
	}
}

/* A key vCenter cannot serve: the VM's own state, no action at all, with
 * vCenter's reason; out of scope VMs keep theirs; available or unknown
 * keys change nothing. */
static void
test_key_missing(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	struct decision d;

	vm.key_avail = KEY_AVAILABLE;
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	vm.key_avail = KEY_UNKNOWN;
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	vm.key_avail = KEY_MISSING;
	vm.key_missing = "k1";
	vm.key_reason = "KeyStateMissingInKMS";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_KEY_MISSING);
	assert_int_equal(d.actions, 0);
	assert_string_equal(d.code, "key-missing");
	assert_string_equal(d.reason, "key k1 not available to vCenter: missing on the KMS "
	    "(KeyStateMissingInKMS); nothing is changed on this VM until it is");
	assert_string_equal(vm_state_name(d.state), "key-missing");
	assert_true(vm_state_open(d.state));

	/* Whatever it would need otherwise: drift, a plain disk, powered on,
	 * a rekey onto the expected provider. */
	vm.migrate_encryption = "opportunistic";
	disks[1].encrypted = 0;
	assert_int_equal(decide(&p, &vm).actions, 0);
	assert_int_equal(decide(&p, &vm).state, VS_KEY_MISSING);
	vm.power_state = "poweredOn";
	assert_int_equal(decide(&p, &vm).state, VS_KEY_MISSING);
	vm = encrypted();
	vm.key_avail = KEY_MISSING;
	vm.key_missing = "k1";
	vm.key_reason = "";
	vm.provider = "old-kms";
	p.provider = "ovh-kms";
	p.rekey = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_KEY_MISSING);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "not available (vCenter gave no reason) "
	    "(no reason given)"));

	/* Out of scope: its own state stays. */
	p = pol();
	vm.hw_number = 11;
	assert_int_equal(decide(&p, &vm).state, VS_HW_TOO_OLD);
	vm = encrypted();
	vm.key_avail = KEY_MISSING;
	vm.template = 1;
	assert_int_equal(decide(&p, &vm).state, VS_TEMPLATE);
	p.templates_enforce = 1;
	assert_int_equal(decide(&p, &vm).state, VS_KEY_MISSING);
	vm = encrypted();
	vm.key_avail = KEY_MISSING;
	vm.has_config = 0;
	assert_int_equal(decide(&p, &vm).state, VS_INACCESSIBLE);
	struct exclusion ex = { .kind = EXCL_NAME_PATTERN, .pattern = "app-*" };
	p.excl = &ex;
	p.nexcl = 1;
	vm = encrypted();
	vm.key_avail = KEY_MISSING;
	assert_int_equal(decide(&p, &vm).state, VS_EXCLUDED);
}

/* A vTPM encrypts VM home only: with every disk plain it is vtpm-only,
 * never compliant; its disks are encrypted with its own key (as any
 * encrypted VM's plain disks) unless vtpm-disks="report"; the gating and
 * a missing key apply as to any VM. */
static void
test_vtpm_only(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	struct decision d;

	vm.vtpm = 1;
	disks[0].encrypted = disks[1].encrypted = 0;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_VTPM_ONLY);
	assert_int_equal(d.actions, ACT_ENCRYPT_DISKS);
	assert_string_equal(d.code, "vtpm-only");
	assert_string_equal(d.reason, "vTPM: VM home encrypted, its disks plain (2)");
	assert_string_equal(vm_state_name(d.state), "vtpm-only");
	assert_true(vm_state_open(d.state));
	/* Powered on: the disks wait for a power-off; still vtpm-only. */
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_VTPM_ONLY);
	assert_int_equal(d.actions, 0);
	assert_non_null(strstr(d.reason, "encryption deferred to the next power-off"));
	/* Reported only: nothing for the disks, Encrypted vMotion still set. */
	vm.power_state = "poweredOff";
	vm.migrate_encryption = "opportunistic";
	p.vtpm_report = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_VTPM_ONLY);
	assert_int_equal(d.actions, ACT_MIGRATE);
	assert_non_null(strstr(d.reason, "reported only (vtpm-disks=\"report\")"));
	vm.migrate_encryption = "required";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_VTPM_ONLY);
	assert_int_equal(d.actions, 0);
	/* One disk encrypted: not vtpm-only, an encrypted VM with a plain disk. */
	p.vtpm_report = 0;
	disks[0].encrypted = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_ENCRYPT_DISKS);
	/* Every disk encrypted: compliant, vTPM or not. */
	disks[1].encrypted = 1;
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	/* No vTPM, plain disks: an encrypted VM with plain disks, as before. */
	vm = encrypted();
	disks[0].encrypted = disks[1].encrypted = 0;
	assert_int_equal(decide(&p, &vm).state, VS_PENDING);
	/* A missing key wins; out of scope stays out of scope. */
	vm.vtpm = 1;
	vm.key_avail = KEY_MISSING;
	assert_int_equal(decide(&p, &vm).state, VS_KEY_MISSING);
	assert_int_equal(decide(&p, &vm).actions, 0);
	vm.key_avail = KEY_UNKNOWN;
	vm.hw_number = 11;
	assert_int_equal(decide(&p, &vm).state, VS_HW_TOO_OLD);
}

/* vCenter's answer for one key, every reason the API lists. */
static void
test_key_reasons(void **st)
{
	(void)st;
	static const char *const missing[] = { "KeyStateMissingInKMS",
	    "KeyStateClusterUnreachable", "KeyStateNotActiveOrEnabled",
	    "KeyStateClusterInvalid", "KeyStateMissingInCache", "WrappingKeyMissingInKMS",
	    "WrappingKeyNotActiveOrEnabled", "SomeReasonOfAFutureVersion", "", NULL };
	static const char *const by_design[] = { "KeyStateManagedByTrustAuthority",
	    "KeyStateManagedByNKP", "NoPermissionToAccessKeyProvider" };

	assert_int_equal(policy_key_avail(1, NULL), KEY_AVAILABLE);
	assert_int_equal(policy_key_avail(1, "KeyStateMissingInKMS"), KEY_AVAILABLE);
	assert_int_equal(policy_key_avail(-1, "KeyStateMissingInKMS"), KEY_UNKNOWN);
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
		assert_int_equal(policy_key_avail(0, missing[i]), KEY_MISSING);
	for (size_t i = 0; i < sizeof(by_design) / sizeof(by_design[0]); i++)
		assert_int_equal(policy_key_avail(0, by_design[i]), KEY_UNKNOWN);
	assert_string_equal(policy_key_reason_text("KeyStateMissingInKMS"), "missing on the KMS");
	assert_string_equal(policy_key_reason_text("KeyStateClusterUnreachable"),
	    "its KMS is unreachable");
	assert_string_equal(policy_key_reason_text("SomeReasonOfAFutureVersion"),
	    "SomeReasonOfAFutureVersion");
	assert_string_equal(policy_key_reason_text(NULL),
	    "not available (vCenter gave no reason)");
}

static void
test_action_names(void **st)
{
	(void)st;
	char b[128];
	policy_actions_str(ACT_ENCRYPT | ACT_MIGRATE, b, sizeof(b));
	assert_string_equal(b, "encrypt+migrate-encryption");
	policy_actions_str(0, b, sizeof(b));
	assert_string_equal(b, "none");
	policy_actions_str(ACT_ENCRYPT | ACT_ENCRYPT_DISKS | ACT_POLICY | ACT_MIGRATE | ACT_FT, b, 12);
	assert_true(strlen(b) < 12);
	for (int s = 0; s < VS_COUNT; s++)
		assert_string_not_equal(vm_state_name(s), "unknown");
	assert_string_equal(vm_state_name(VS_COUNT), "unknown");
}

/* The cryptoperiod: a key older than max_key_age is rekey-due; the rekey
 * is made only on the VM's paced turn (age_rekey), never for a key the
 * agent already replaced, not while vCenter would refuse it (a snapshot
 * tree; powered on with an encrypted disk on IDE); an unknown age is not
 * a made-up one; anything else to fix comes first. */
static void
test_key_age(void **st)
{
	(void)st;
	struct policy p = pol();
	struct vm_info vm = encrypted();
	struct decision d;

	p.max_key_age = 365L * 86400;
	p.now = 1800000000.0;
	vm.key_since = p.now - 365.0 * 86400;	/* exactly the cryptoperiod: not over */
	vm.key_since_src = "agent";
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	vm.key_since = p.now - 400.0 * 86400;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_REKEY_DUE);
	assert_string_equal(d.code, "key-age");
	assert_int_equal(d.actions, 0);		/* waits for its turn */
	assert_string_equal(vm_state_name(d.state), "rekey-due");
	assert_true(vm_state_open(d.state));
	assert_non_null(strstr(d.reason, "key k1 is 400.0 days old (from agent), over the "
	    "cryptoperiod of 365.0 days"));
	p.age_rekey = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.actions, ACT_REKEY);
	assert_string_equal(d.code, "key-age");
	/* Already replaced once: never again. */
	vm.key_rekeyed = 1;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_REKEY_DUE);
	assert_string_equal(d.code, "key-age-rekeyed");
	assert_int_equal(d.actions, 0);
	vm.key_rekeyed = 0;
	/* A single snapshot chain is fine; a tree waits. */
	vm.snapshot = 1;
	assert_int_equal(decide(&p, &vm).actions, ACT_REKEY);
	vm.snapshot_tree = 1;
	d = decide(&p, &vm);
	assert_string_equal(d.code, "key-age-snapshots");
	assert_int_equal(d.actions, 0);
	vm.snapshot = vm.snapshot_tree = 0;
	/* An encrypted disk on IDE: only powered off. */
	disks[1].ide = 1;
	assert_int_equal(decide(&p, &vm).actions, ACT_REKEY);
	vm.power_state = "poweredOn";
	d = decide(&p, &vm);
	assert_string_equal(d.code, "key-age-ide");
	assert_int_equal(d.actions, 0);
	disks[1].ide = 0;
	assert_int_equal(decide(&p, &vm).actions, ACT_REKEY);	/* powered on, no IDE */
	/* Unknown age, no cryptoperiod, plain VM: not due. */
	vm.key_since = 0;
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	vm.key_since = p.now - 400.0 * 86400;
	p.max_key_age = 0;
	assert_int_equal(decide(&p, &vm).state, VS_COMPLIANT);
	p.max_key_age = 365L * 86400;
	/* Something else to fix first (Encrypted vMotion): pending, no rekey. */
	vm.migrate_encryption = "opportunistic";
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_PENDING);
	assert_int_equal(d.actions, ACT_MIGRATE);
	vm.migrate_encryption = "required";
	/* A missing key wins over its age. */
	vm.key_avail = KEY_MISSING;
	d = decide(&p, &vm);
	assert_int_equal(d.state, VS_KEY_MISSING);
	assert_int_equal(d.actions, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_vm_powered_off),
		cmocka_unit_test(test_canary_vm),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_powered_on_gets_vmotion_now_encryption_later),
		cmocka_unit_test(test_snapshots_block_encryption_only),
		cmocka_unit_test(test_hardware_too_old_never_touched),
		cmocka_unit_test(test_encrypted_vm_is_never_rekeyed),
		cmocka_unit_test(test_encrypted_vm_missing_policy),
		cmocka_unit_test(test_encrypted_vm_with_plain_disk),
		cmocka_unit_test(test_exclusions),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_inaccessible),
		cmocka_unit_test(test_migrate_only_and_ft),
		cmocka_unit_test(test_wrong_provider),
		cmocka_unit_test(test_shallow_rekey_decision),
		cmocka_unit_test(test_vsan_encrypted),
		cmocka_unit_test(test_disabled_migrate_is_restored),
		cmocka_unit_test(test_plain_vm_decision_ignores_policies),
		cmocka_unit_test(test_key_missing),
		cmocka_unit_test(test_key_reasons),
		cmocka_unit_test(test_vtpm_only),
		cmocka_unit_test(test_key_age),
		cmocka_unit_test(test_action_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
