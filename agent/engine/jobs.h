/*
 * The engine's work on one VM off the loop, and what its results mean:
 * enforcing one VM (enforce.c on a pool thread), a task that ended, and
 * the audit events written to each VM in vCenter.  Each job is its own
 * small struct with a work and a done function (pool.c), holding the
 * configuration snapshot it started with.  Entering VM_TASK (vm_set_sched)
 * is what starts following a task.  Loop thread only.
 */
#ifndef VMCRYPT_JOBS_H
#define VMCRYPT_JOBS_H

#include "breaker.h"
#include "vmstate.h"

struct confirm;
struct core;
struct health;
struct pace;
struct note;
struct record;
struct sched;
struct vmrec;

struct jobs {
	const struct core *c;
	struct sched	*sched;
	struct health	*health;
	struct record	*record;	/* the evidence log (NULL: none) */
	struct pace	*pace;		/* the cryptoperiod's rekeys */
	int		 scanned;	/* the first reconcile scan is done: every
					   task met from now on is this run's */
	unsigned long	 reconfigs;	/* ReconfigVM_Task issued */
};

/* Registers VM_TASK's on-enter action. */
void	jobs_init(struct jobs *, const struct core *, struct sched *, struct health *,
	    struct record *, struct pace *);
/* r was decided s for code: a VM rekey-due for its key's age ("key-age")
 * waits for its turn; a compliant one with its key's age known (key_since,
 * unix time) is looked at again when the key passes the cryptoperiod
 * (pace.c). */
void	jobs_age_due(struct jobs *, struct vmrec *r, enum vm_state s, const char *code,
	    double key_since);
/* The scheduler's submitter (sched_submit_fn): arg is the struct jobs. */
int	jobs_submit_enforce(void *arg, struct vmrec *, enum crypto_gate);
/* A followed task ended (an N_TASK note). */
void	jobs_task_done(struct jobs *, const struct note *);
/* The first scan is done (reconcile.c). */
void	jobs_scanned(struct jobs *);
/* One audit event on VM vm in vCenter, off the loop (none in a dry run). */
void	jobs_audit(struct jobs *, const char *vm, const char *msg);
/* A scan decided r (idle) key-missing, or no longer: said in the log and
 * in vCenter's events once per entry into that state (r->logged). */
void	jobs_key_seen(struct jobs *, struct vmrec *r);

#endif
