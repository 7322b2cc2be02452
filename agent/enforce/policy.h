/*
 * The decision: given one VM's current properties and the configured
 * policy, what state is it in and what (if anything) must change.  Pure: no
 * I/O, no clock, no globals; every branch is unit-tested
 * (tests/unit/test_policy.c).  Events only say "look at VM X now"; this is
 * what looks.
 */
#ifndef VMCRYPT_POLICY_H
#define VMCRYPT_POLICY_H

#include <stddef.h>

#include "vmstate.h"

struct vm_info;
struct exclusion;


/* Actions, combined into one ReconfigVM_Task. */
#define ACT_ENCRYPT		0x01	/* crypto spec + policy on home and every disk */
#define ACT_ENCRYPT_DISKS	0x02	/* encrypted VM: encrypt the disks that are not */
#define ACT_POLICY		0x04	/* encrypted VM: attach the missing policy */
#define ACT_MIGRATE		0x08	/* migrateEncryption = target */
#define ACT_FT			0x10	/* ftEncryptionMode = ftEncryptionRequired */
#define ACT_REKEY		0x20	/* shallow rekey onto the expected provider */
#define ACT_CRYPTO		(ACT_ENCRYPT | ACT_ENCRYPT_DISKS)
#define ACT_KMS			(ACT_CRYPTO | ACT_REKEY)	/* the KMS is involved */

struct policy {
	int			 min_hw;
	int			 encrypt;
	const char		*migrate;	/* "required", "opportunistic", NULL = leave */
	int			 ft_required;
	int			 ft_supported;	/* API >= 7.0.2 */
	int			 templates_enforce;
	int			 attach_policy;	/* attach a missing policy to encrypted VMs */
	const char		*policy_id;	/* resolved encryption policy */
	const char		*provider;	/* expected key provider; NULL: any */
	int			 rekey;		/* shallow-rekey a wrong-provider VM */
	int			 vsan_skip;	/* vsan-encrypted="skip" */
	int			 vtpm_report;	/* vtpm-disks="report": a vTPM VM's
						   plain disks are only reported */
	const struct exclusion	*excl;
	size_t			 nexcl;
	int			 canary_own;	/* check --canary's own look at its VM */
	/* The cryptoperiod (<rekey>): a key older than max_key_age seconds at
	 * now (unix time: the caller's clock, so that this stays pure) is
	 * rekey-due; age_rekey: its paced turn has come, the rekey is made. */
	long			 max_key_age;	/* 0: no cryptoperiod */
	double			 now;
	int			 age_rekey;
};

/* The canary's VMs (check --canary) are its own to encrypt and delete:
 * out of scope for everything else the agent does. */
#define POLICY_CANARY_PREFIX	"vmcrypt-canary-"

struct decision {
	enum vm_state	 state;
	unsigned	 actions;
	char		 reason[320];	/* for people: every cause, "; " between */
	const char	*code;		/* for machines: the state's main cause
					   ("not-encrypted", "powered-on", "snapshots",
					   "excluded-name", "compliant", ...), static */
};

void		 policy_decide(const struct policy *, const struct vm_info *,
		    struct decision *);
/* "encrypt+migrate" etc., for logs and the audit trail. */
void		 policy_actions_str(unsigned actions, char *out, size_t len);

/*
 * What vCenter's answer about one key means (QueryCryptoKeyStatus:
 * keyAvailable, reason): KEY_AVAILABLE; KEY_MISSING; or KEY_UNKNOWN for a
 * key vCenter does not hold by design (a native or Trust Authority key
 * provider's: keyAvailable is false for those, and nothing is wrong) or
 * one this account may not ask about.  available: 1, 0, or -1 when the
 * answer did not say.
 */
enum key_avail	 policy_key_avail(int available, const char *reason);
/* vCenter's reason for a key not available, in words ("missing on the
 * KMS"); reason itself when it is not one the API reference lists. */
const char	*policy_key_reason_text(const char *reason);

#endif
