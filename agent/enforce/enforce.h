/*
 * Enforcement of one VM, and the reconcile scan: the blocking half of the
 * engine, run on worker threads (agent/sched.c schedules it).  Each call
 * reads the VM's current properties, decides with policy_decide(), and
 * issues at most one ReconfigVM_Task (plan.c builds it).  Every call takes
 * the configuration snapshot its job holds: the enforcer keeps no
 * configuration of its own.
 */
#ifndef VMCRYPT_ENFORCE_H
#define VMCRYPT_ENFORCE_H

#include <stddef.h>

#include "policy.h"
#include "vim.h"

struct config;
struct enforcer;
struct inventory;

struct outcome {
	char		 name[256];
	char		 uuid[40];	/* config.instanceUuid */
	char		 created[40];	/* config.createDate, "" unknown */
	enum vm_state	 state;
	const char	*code;		/* the state's main cause (policy.h) */
	unsigned	 actions;	/* taken (or, in dry-run, that would be) */
	char		 reason[320];
	int		 issued;	/* a ReconfigVM_Task was started */
	struct vmoref	 task;
	int		 adopted;	/* task was already running on the VM */
	int		 adopted_ours;	/* ... and is a reconfigure by our user */
	int		 err;		/* 0 or V_ERR_* */
	int		 kms;		/* the failure is the KMS's */
	int		 retry;		/* worth retrying soon (VM changed, busy) */
	int		 gone;		/* the VM no longer exists */
	int		 fenced;	/* not the leader any more: nothing done */
	int		 held;		/* it needs a key, and keys were held back
					   (the KMS breaker): the reason says so */
	struct vkey	 key;		/* the key GenerateKey gave; key_id "" none */
	char		 replaces[256];	/* a rekey issued: the key it replaces */
	char		 msg[768];
};

struct enforcer	*enforcer_new(void);
void		 enforcer_free(struct enforcer *);
/*
 * Resolves cfg's encryption storage policy through SPBM, verifying it is an
 * encryption policy (encpolicy.c), once, before any call below.  Returns 0,
 * or -1 with one line in err.
 */
int		 enforcer_configure(struct enforcer *, const struct config *cfg,
		    struct vconn *, char *err, size_t errlen);
const char	*enforcer_policy_id(struct enforcer *);
/* fence(arg) is asked right before GenerateKey and ReconfigVM_Task; 0
 * leaves the VM untouched (outcome.fenced). */
void		 enforcer_set_fence(struct enforcer *, int (*fence)(void *), void *arg);
const char	*enforcer_policy_name(struct enforcer *);
/* The enforcer's book of key ages (keyage.h): the engine loads it from
 * the evidence log and notes each key it puts on. */
struct keybook;
struct keybook	*enforcer_keybook(struct enforcer *);
/* VMs whose key's age a scan looks up in vCenter's events, at most. */
#define KEYAGE_EVENTS_PER_SCAN	1000

/*
 * Looks at VM moref now.  allow without ENF_CRYPTO holds back encryption
 * and rekeys (the KMS circuit breaker is open) but still fixes what needs
 * no key; without ENF_REKEY a wrong-provider VM is not rekeyed (it was,
 * once, this run: never in a loop).  dry_run
 * computes and reports, changes nothing.  check_running first looks for a
 * task already queued or running on the VM (the previous run's, after a
 * restart) and follows it instead of reconfiguring: one more read when the
 * VM has recent tasks.  Returns 0 if the VM was read.
 */
#define ENF_CRYPTO	0x1
#define ENF_REKEY	0x2
#define ENF_CANARY	0x4	/* check --canary's own VM: in scope */
#define ENF_AGE_REKEY	0x8	/* its paced turn: a key past the cryptoperiod
				   is rekeyed now (else only reported) */
int		 enforce_vm(struct enforcer *, const struct config *, struct vconn *,
		    const char *moref, unsigned allow, int dry_run, int check_running,
		    struct outcome *);

/*
 * Looks at n VMs with one read and one SPBM query, changing nothing: each
 * outs[i] gets the VM's state, reason and what it still needs (actions),
 * or gone (a VM deleted meanwhile is left out of the read, not a fault).
 * The confirmation after reconfigures succeed, batched.  Returns 0, or a
 * V_ERR_* for the whole batch.
 */
int		 enforce_look(struct enforcer *, const struct config *, struct vconn *,
		    const char *const *morefs, size_t n, struct outcome *outs);

/* With SCAN_KEY_EVENTS, the key ages the book lacks are asked of vCenter's
 * events (and the KMS) during the scan (KEYAGE_EVENTS_PER_SCAN at most);
 * without, they are left unknown (the daemon asks after the scan,
 * enforce_key_ages). */
#define SCAN_KEY_EVENTS	0x100
/* Reads every VM (inventory_collect_ex, flags INV_*) and decides each one:
 * state and reason filled in inv->vms[i].state/.reason, actions in acts[i]
 * (malloc'd, inv->nvms entries). */
int		 enforce_scan(struct enforcer *, const struct config *, struct vconn *,
		    int page, unsigned flags, struct inventory *inv, unsigned **acts);

/* The key ages the book lacks for vms[0..n) (each with moref, name,
 * key_id, encrypted set), asked of vCenter's events and the KMS, at most
 * KEYAGE_EVENTS_PER_SCAN; each found is set in key_since. */
void		 enforce_key_ages(struct enforcer *, struct vconn *, struct vm_info *const *vms,
		    size_t n);

/* Is this failure (fault type, message) the KMS's? */
int		 enforce_is_kms_error(const char *fault_type, const char *msg);

#endif
