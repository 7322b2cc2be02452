/*
 * Where a VM stands against the policy: the decision's verdict
 * (policy_decide() in policy.c), carried as this enum from the decision to
 * the VM table, the inventory and every report; its name is only for
 * output.
 */
#ifndef VMCRYPT_VMSTATE_H
#define VMCRYPT_VMSTATE_H

enum vm_state {
	VS_COMPLIANT,		/* nothing to do */
	VS_PENDING,		/* actions to take now */
	VS_DEFERRED,		/* powered on: encryption waits for power-off */
	VS_BLOCKED,		/* snapshots (or a template with templates=enforce) */
	VS_HW_TOO_OLD,		/* below min-hw-version: never modified */
	VS_EXCLUDED,		/* name pattern, folder or custom attribute */
	VS_TEMPLATE,		/* templates=report */
	VS_INACCESSIBLE,	/* no config: orphaned / inaccessible */
	VS_WRONG_PROVIDER,	/* encrypted with another key provider's key */
	VS_VSAN_ENCRYPTED,	/* on vSAN that encrypts at rest: not doubled */
	VS_KEY_MISSING,		/* vCenter says a key it uses is not available:
				   nothing is done to it until it is */
	VS_VTPM_ONLY,		/* a vTPM encrypted VM home, its disks are plain */
	VS_REKEY_DUE,		/* its key is older than the cryptoperiod: one
				   shallow rekey, paced (window, rate) */
	VS_COUNT
};

/* Whether vCenter has a VM's keys (QueryCryptoKeyStatus, API 6.7.2+). */
enum key_avail {
	KEY_UNKNOWN,		/* not asked (plain VM, old API, a fault), or
				   a key vCenter does not hold by design (a
				   native or Trust Authority provider's) */
	KEY_AVAILABLE,
	KEY_MISSING,		/* keyAvailable false: key_missing, key_reason */
};

/* "compliant", "pending", ... (what the reports and --json print). */
const char	*vm_state_name(enum vm_state);
/* In scope and not compliant: what `reconcile` exits nonzero for. */
int		 vm_state_open(enum vm_state);

#endif
