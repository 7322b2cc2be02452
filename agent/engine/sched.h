/*
 * The scheduler: an event or a result -> which VM is worked on next.
 * Events only say "look at VM X now"; the decision always comes from the
 * VM's current properties (enforce.c).  At most max-in-flight VMs are
 * worked on at once (a job, or its task in vCenter), one action per VM at
 * a time; failures back off per VM; KMS trouble goes to the breaker
 * (health.c).  Loop thread only; no I/O: work is started through the
 * submitter it is given (jobs.c's, or a test's), so the tests drive this
 * file with an injected clock and submitter.
 */
#ifndef VMCRYPT_SCHED_H
#define VMCRYPT_SCHED_H

#include <stdint.h>

#include "breaker.h"

struct core;
struct health;
struct note;
struct vmrec;

/* Starts work on r (now VM_WORKING) with what it may do with keys; 0, or
 * -1 if nothing was started (r is backed off). */
typedef int (*sched_submit_fn)(void *arg, struct vmrec *r, enum crypto_gate);

struct sched {
	const struct core *c;
	struct health	*health;
	sched_submit_fn	 submit;
	void		*submit_arg;
	int		 jobs;		/* enforce and confirm jobs out; with the
					   tasks followed, what max-in-flight caps */
};

/* Registers the on-enter actions of BACKOFF and FAILED in the VM table. */
void	 sched_init(struct sched *, const struct core *, struct health *,
	    sched_submit_fn, void *submit_arg);
/*
 * Starts work on queued VMs while slots are free.  Returns when the next
 * backoff or the breaker's next probe is due (ms; UINT64_MAX: none): the
 * engine arms its retry timer for then.
 */
uint64_t sched_run(struct sched *);
/* A vCenter event about one VM (n->vm): it is looked at now. */
void	 sched_event(struct sched *, const struct note *n);
/*
 * A failure: retried after RETRY_BASE_MS doubling (+-20%), up to
 * RETRY_ATTEMPTS attempts, then left until the next event or reconcile.
 */
void	 sched_backoff(struct sched *, struct vmrec *, const char *why);
/* The VM is in a final state: the event-to-compliant latency. */
void	 sched_settled(struct sched *, struct vmrec *);
/* A job (enforce, confirm) took a slot, or gave it back. */
void	 sched_job_started(struct sched *);
void	 sched_job_ended(struct sched *);

#endif
