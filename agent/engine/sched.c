/*
 * The scheduler: an event or a result -> which VM is worked on next.
 * Events only say "look at VM X now"; the decision always comes from the
 * VM's current properties (enforce.c).  At most max-in-flight VMs are
 * worked on at once (a job, or its task in vCenter), one action per VM at
 * a time; failures back off per VM; KMS trouble goes to the breaker.
 * Loop thread only; no I/O: jobs are submitted through e->submit_enforce
 * (jobs.c), so tests drive this file with an injected clock and submitter.
 */
#include "backoff.h"
#include "config.h"
#include "engine.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* dispatch                                                          */

struct due {
	struct engine	*e;
	uint64_t	 now, next;
};

static void
retry_if_due(void *arg, struct vmrec *r)
{
	struct due *d = arg;
	if (r->due <= d->now)
		vm_enqueue(&d->e->vms, r, "retry due");
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

/*
 * Starts work on queued VMs while slots are free.  Returns when the next
 * backoff or the breaker's next probe is due (ms; UINT64_MAX: none): the
 * engine arms its retry timer for then.
 */
uint64_t
sched_run(struct engine *e)
{
	struct due d = { e, e->now(e), UINT64_MAX };
	int max = engine_cfg(e)->max_in_flight;

	if (e->closing)
		return UINT64_MAX;
	/* Backoffs that have expired go back to the queue (the table is
	 * scanned only while some VM is in backoff). */
	if (e->accepting)
		vm_each(&e->vms, VM_BACKOFF, retry_if_due, &d);
	/* Breaker half-open: send one paused VM as the probe. */
	if (e->breaker.open && !e->breaker.held && !e->breaker.probing &&
	    d.now >= e->breaker.until && e->vms.count[VM_PAUSED] > 0) {
		struct vmrec *probe = NULL;
		vm_each(&e->vms, VM_PAUSED, pick_probe, &probe);
		if (probe != NULL)
			vm_enqueue(&e->vms, probe, "the breaker's probe");
	}
	/* A standby starts nothing: its queue waits for the lease. */
	while (e->accepting && e->jobs + e->tasks.running < max && lease_may_act(&e->lease)) {
		struct vmrec *r = vm_dequeue(&e->vms);
		if (r == NULL)
			break;
		enum crypto_gate g = breaker_gate(&e->breaker, d.now);
		if (e->submit_enforce(e, r, g) != 0) {
			/* Nothing was started: the VM is not left busy, no job
			 * is counted, the probe is not out. */
			if (g == CRYPTO_PROBE)
				breaker_probe_done(&e->breaker);
			sched_backoff(e, r, "cannot queue work");
			if (r->sched == VM_BACKOFF && r->due < d.next)
				d.next = r->due;
			break;
		}
		e->jobs++;
	}
	uint64_t b = breaker_next(&e->breaker);
	return b < d.next ? b : d.next;
}

/* ---------------------------------------------------------------- */
/* outcomes                                                          */

/*
 * A failure: retried after RETRY_BASE_MS doubling (+-20%), up to
 * RETRY_ATTEMPTS attempts, then left until the next event or reconcile.
 */
void
sched_backoff(struct engine *e, struct vmrec *r, const char *why)
{
	r->attempts++;
	if (r->attempts >= RETRY_ATTEMPTS || e->once) {
		vm_set_sched(&e->vms, r, VM_FAILED, why);
		log_error("VM %s (%s): giving up after %u attempt%s; the next event or "
		    "reconcile tries again", vm_name(r), r->moref, r->attempts,
		    r->attempts == 1 ? "" : "s");
		return;
	}
	uint64_t d = backoff_retry_ms(r->attempts, (unsigned)rand());
	r->due = e->now(e) + d;
	vm_set_sched(&e->vms, r, VM_BACKOFF, why);
	log_info("VM %s (%s): retry %u in %.1f s", vm_name(r), r->moref,
	    r->attempts + 1, (double)d / 1000);
}

/* The VM is confirmed in a final state: the event-to-compliant latency. */
void
sched_settled(struct engine *e, struct vmrec *r)
{
	if (r->ev_ms == 0)
		return;
	/* Compliant since the task succeeded, if the confirmation says so
	 * (it is read a little later, with others). */
	uint64_t at = r->ok_ms > r->ev_ms ? r->ok_ms : e->now(e);
	r->ok_ms = 0;
	if (r->state == VS_COMPLIANT)
		metrics_observe_latency(&e->met, (double)(at - r->ev_ms) / 1000.0);
	if (!vm_state_open(r->state) || r->state == VS_COMPLIANT)
		r->ev_ms = 0;
}

/* ---------------------------------------------------------------- */
/* notes from the other threads                                      */

static void
on_event(struct engine *e, const struct note *n)
{
	e->met.events++;
	status_event_lag(e, n->time);
	if (n->key > e->max_key) {
		e->max_key = n->key;
		snprintf(e->max_time, sizeof(e->max_time), "%s", n->time);
	}
	if (health_is_kms_event(n->type)) {
		log_warnx("vCenter reports %s%s%s; checking the KMS now", n->type,
		    n->msg[0] ? ": " : "", n->msg);
		health_check_now(e);
		return;
	}
	if (n->vm[0] == '\0')
		return;
	int removed = strcmp(n->type, "VmRemovedEvent") == 0;
	struct vmrec *r = vm_find(&e->vms, n->vm, !removed);
	if (r == NULL)
		return;
	log_debug("event %lld %s on %s", n->key, n->type, n->vm);
	if (removed) {
		if (!vm_busy(r) && r->sched != VM_QUEUED) {
			log_info("VM %s (%s): removed", vm_name(r), r->moref);
			vm_remove(&e->vms, r);
		}
		return;
	}
	if (r->pend_key < 0 || n->key < r->pend_key)
		vm_set_pend(&e->vms, r, n->key, n->time);
	if (r->ev_ms == 0 && !(r->known && r->state == VS_COMPLIANT))
		r->ev_ms = e->now(e) ? e->now(e) : 1;
	r->audit = 1;
	if (strcmp(n->type, "VmReconfiguredEvent") == 0) {
		if (r->sched == VM_TASK)
			tasks_hint(&e->tasks, r->moref);
		if (r->sched == VM_BACKOFF && r->attempts > 0)
			return;		/* our own retry is already scheduled */
	}
	vm_enqueue(&e->vms, r, n->type);
}

static void
on_ready(struct engine *e)
{
	if (!e->collector_ready) {
		e->collector_ready = 1;
		log_info("%s; reconciling every VM", e->once ? "reconcile pass" : "watching events");
		sched_start_scan(e);
		return;
	}
	log_info("event stream back; catching up on every VM");
	e->met.reconnects++;
	if (e->scanning)
		e->rescan = 1;
	else
		sched_start_scan(e);
}

void
sched_note(struct engine *e, const struct note *n)
{
	switch (n->kind) {
	case N_EVENT:
		on_event(e, n);
		break;
	case N_TASK:
		sched_task_done(e, n);
		break;
	case N_READY:
		on_ready(e);
		break;
	case N_ERROR:
		log_warnx("%s", n->msg);
		break;
	case N_LEADER:
	case N_STANDBY:
		leader_note(e, n);
		break;
	}
}
