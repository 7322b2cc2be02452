/*
 * The scheduler (sched.h).
 */
#include "sched.h"

#include "backoff.h"
#include "core.h"
#include "health.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "notes.h"
#include "tasks.h"
#include "vmtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* dispatch                                                          */

struct due {
	struct sched	*s;
	uint64_t	 now, next;
};

static void
retry_if_due(void *arg, struct vmrec *r)
{
	struct due *d = arg;
	if (r->due <= d->now)
		vm_enqueue(d->s->c->vms, r, "retry due");
	else if (r->due < d->next)
		d->next = r->due;
}

static void
pick_probe(void *arg, struct vmrec *r)
{
	struct vmrec **probe = arg;
	if (*probe == NULL)
		*probe = r;
}

/* Breaker half-open: one paused VM goes as the probe. */
static void
send_probe(struct sched *s, uint64_t now)
{
	struct vmrec *probe = NULL;

	if (!health_probe_due(s->health, now) || s->c->vms->count[VM_PAUSED] == 0)
		return;
	vm_each(s->c->vms, VM_PAUSED, pick_probe, &probe);
	if (probe != NULL)
		vm_enqueue(s->c->vms, probe, "the breaker's probe");
}

uint64_t
sched_run(struct sched *s)
{
	const struct core *c = s->c;
	struct due d = { s, c->now(c), UINT64_MAX };
	int max = core_cfg(c)->max_in_flight;

	if (c->closing)
		return UINT64_MAX;
	/* Backoffs that have expired go back to the queue (the table is
	 * scanned only while some VM is in backoff). */
	if (c->accepting)
		vm_each(c->vms, VM_BACKOFF, retry_if_due, &d);
	send_probe(s, d.now);
	/* A standby starts nothing: its queue waits for the lease. */
	while (c->accepting && s->jobs + c->tasks->running < max && lease_may_act(c->lease)) {
		struct vmrec *r = vm_dequeue(c->vms);
		if (r == NULL)
			break;
		enum crypto_gate g = health_gate(s->health, d.now);
		if (s->submit(s->submit_arg, r, g) != 0) {
			/* Nothing was started: the VM is not left busy, no job
			 * is counted, the probe is not out. */
			if (g == CRYPTO_PROBE)
				health_probe_done(s->health);
			sched_backoff(s, r, "cannot queue work");
			if (r->sched == VM_BACKOFF && r->due < d.next)
				d.next = r->due;
			break;
		}
		s->jobs++;
	}
	uint64_t b = health_next(s->health);
	return b < d.next ? b : d.next;
}

void
sched_job_started(struct sched *s)
{
	s->jobs++;
}

void
sched_job_ended(struct sched *s)
{
	s->jobs--;
}

/* ---------------------------------------------------------------- */
/* outcomes                                                          */

void
sched_backoff(struct sched *s, struct vmrec *r, const char *why)
{
	r->attempts++;
	vm_set_sched(s->c->vms, r, r->attempts >= RETRY_ATTEMPTS || s->c->once ? VM_FAILED :
	    VM_BACKOFF, why);
}

/* Entering BACKOFF: when it is retried. */
static void
enter_backoff(void *arg, struct vmrec *r, const char *why)
{
	struct sched *s = arg;
	uint64_t d = backoff_retry_ms(r->attempts, (unsigned)rand());

	(void)why;
	r->due = s->c->now(s->c) + d;
	log_info("VM %s (%s): retry %u in %.1f s", vm_name(r), r->moref, r->attempts + 1,
	    (double)d / 1000);
}

/* Entering FAILED: left to the next event or reconcile. */
static void
enter_failed(void *arg, struct vmrec *r, const char *why)
{
	(void)arg;
	(void)why;
	log_error("VM %s (%s): giving up after %u attempt%s; the next event or reconcile "
	    "tries again", vm_name(r), r->moref, r->attempts, r->attempts == 1 ? "" : "s");
}

void
sched_settled(struct sched *s, struct vmrec *r)
{
	if (r->ev_ms == 0)
		return;
	/* Compliant since the task succeeded, if the confirmation says so
	 * (it is read a little later, with others). */
	uint64_t at = r->ok_ms > r->ev_ms ? r->ok_ms : s->c->now(s->c);
	r->ok_ms = 0;
	if (r->state == VS_COMPLIANT)
		metrics_observe_latency(s->c->met, (double)(at - r->ev_ms) / 1000.0);
	if (!vm_state_open(r->state) || r->state == VS_COMPLIANT)
		r->ev_ms = 0;
}

/* ---------------------------------------------------------------- */
/* events                                                            */

void
sched_event(struct sched *s, const struct note *n)
{
	const struct core *c = s->c;
	int removed = strcmp(n->type, "VmRemovedEvent") == 0;
	struct vmrec *r = vm_find(c->vms, n->vm, !removed);

	if (r == NULL)
		return;
	log_debug("event %lld %s on %s", n->key, n->type, n->vm);
	if (removed) {
		if (!vm_busy(r) && r->sched != VM_QUEUED) {
			log_info("VM %s (%s): removed", vm_name(r), r->moref);
			vm_remove(c->vms, r);
		}
		return;
	}
	if (r->pend_key < 0 || n->key < r->pend_key)
		vm_set_pend(c->vms, r, n->key, n->time);
	if (r->ev_ms == 0 && !(r->known && r->state == VS_COMPLIANT))
		r->ev_ms = c->now(c) ? c->now(c) : 1;
	r->audit = 1;
	if (strcmp(n->type, "VmReconfiguredEvent") == 0) {
		if (r->sched == VM_TASK)
			tasks_hint(c->tasks, r->moref);
		if (r->sched == VM_BACKOFF && r->attempts > 0)
			return;		/* our own retry is already scheduled */
	}
	vm_enqueue(c->vms, r, n->type);
}

void
sched_init(struct sched *s, const struct core *c, struct health *h, sched_submit_fn submit,
    void *submit_arg)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->health = h;
	s->submit = submit;
	s->submit_arg = submit_arg;
	vm_table_on_enter(c->vms, VM_BACKOFF, enter_backoff, s);
	vm_table_on_enter(c->vms, VM_FAILED, enter_failed, s);
}
