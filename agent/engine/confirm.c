/*
 * Confirmation: a VM whose reconfigure succeeded is read again (the agent
 * is level-triggered), together with the others that finished within
 * CONFIRM_MS: one RetrievePropertiesEx and one SPBM query for up to
 * CONFIRM_BATCH VMs instead of two calls each.  The VM stays in
 * VM_CONFIRM meanwhile, so an event for it waits for the read, which
 * covers it.
 */
#include "config.h"
#include "engine.h"
#include "enforce.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIRM_MS	300		/* confirmations gathered this long... */
#define CONFIRM_BATCH	100		/* ...or until this many */

struct confirm_job {
	struct engine	*e;
	struct cfgref	*cfg;
	char		**morefs;
	struct outcome	*outs;
	size_t		 n;
	int		 rc;
	char		 msg[1024];
};

static void confirm_flush(struct engine *);

static void
confirm_work(struct vconn *c, void *arg)
{
	struct confirm_job *j = arg;
	j->rc = enforce_look(j->e->enf, cfgref_get(j->cfg), c, (const char *const *)j->morefs,
	    j->n, j->outs);
	if (j->rc != 0)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
}

/* One VM's result. */
static void
confirmed(struct engine *e, struct vmrec *r, const struct outcome *o)
{
	int changed = !r->known || r->state != o->state || r->reason == NULL ||
	    strcmp(r->reason, o->reason) != 0;

	vm_set_decision(r, o->name, o->state, o->reason);
	if (o->actions) {
		char acts[128];
		policy_actions_str(o->actions, acts, sizeof(acts));
		log_warnx("VM %s (%s): still needs %s after its reconfigure: %s; looking "
		    "again", vm_name(r), r->moref, acts, o->reason);
		vm_requeue(&e->vms, r, "still needs work after its task");
		return;
	}
	sched_settled(e, r);
	if (changed && o->state == VS_COMPLIANT)
		log_info("VM %s (%s): compliant", vm_name(r), r->moref);
	else if (changed)
		log_info("VM %s (%s): %s: %s", vm_name(r), r->moref, vm_state_name(o->state),
		    o->reason);
	vm_done(&e->vms, r, "confirmed");
}

static void
confirm_done(void *arg)
{
	struct confirm_job *j = arg;
	struct engine *e = j->e;

	e->jobs--;
	for (size_t i = 0; i < j->n; i++) {
		struct vmrec *r = vm_find(&e->vms, j->morefs[i], 1);
		const struct outcome *o = &j->outs[i];
		if (j->rc != 0) {
			/* A VM gone does not fail the read (it is left out):
			 * this is vCenter's trouble, so each VM backs off. */
			sched_backoff(e, r, "the confirmation read failed");
		} else if (o->gone) {
			log_info("VM %s: no longer exists", r->moref);
			vm_remove(&e->vms, r);
		} else {
			confirmed(e, r, o);
		}
		free(j->morefs[i]);
	}
	if (j->rc != 0)
		log_warnx("confirming %zu VM%s after their reconfigure: %s", j->n,
		    j->n == 1 ? "" : "s", j->msg);
	cfgref_drop(j->cfg);
	free(j->morefs);
	free(j->outs);
	free(j);
}

static void
on_confirm_timer(uv_timer_t *t)
{
	confirm_flush(t->data);
}

/* Sends up to CONFIRM_BATCH VMs in one read. */
static void
confirm_flush(struct engine *e)
{
	if (e->nconfirm == 0 || e->closing)
		return;
	if (!e->accepting) {
		confirm_drop(e);
		return;
	}
	struct confirm_job *j = xcalloc(1, sizeof(*j));
	size_t n = e->nconfirm < CONFIRM_BATCH ? e->nconfirm : CONFIRM_BATCH;
	j->e = e;
	j->cfg = cfgref_hold(e->cfg);
	j->morefs = xcalloc(n, sizeof(*j->morefs));
	j->outs = xcalloc(n, sizeof(*j->outs));
	for (; j->n < n; j->n++) {
		struct vmrec *r = e->chead;
		e->chead = r->cnext;
		r->cnext = NULL;
		r->dirty = 0;		/* this read covers what came before */
		j->morefs[j->n] = xstrdup(r->moref);
		vm_set_sched(&e->vms, r, VM_WORKING, "confirmation read");
	}
	if (e->chead == NULL)
		e->ctail = &e->chead;
	e->nconfirm -= n;
	if (pool_submit(&e->pool, confirm_work, confirm_done, j) != 0) {
		/* Nothing is out: no VM stays busy, no job is counted. */
		for (size_t i = 0; i < j->n; i++) {
			struct vmrec *v = vm_find(&e->vms, j->morefs[i], 0);
			if (v != NULL)
				sched_backoff(e, v, "cannot queue the confirmation");
			free(j->morefs[i]);
		}
		cfgref_drop(j->cfg);
		free(j->morefs);
		free(j->outs);
		free(j);
		return;
	}
	e->jobs++;
	if (e->nconfirm > 0)
		uv_timer_start(&e->confirm_t, on_confirm_timer, CONFIRM_MS, 0);
}

void
confirm_add(struct engine *e, struct vmrec *r)
{
	vm_set_sched(&e->vms, r, VM_CONFIRM, "its task succeeded");
	r->cnext = NULL;
	*e->ctail = r;
	e->ctail = &r->cnext;
	if (++e->nconfirm >= CONFIRM_BATCH) {
		uv_timer_stop(&e->confirm_t);
		confirm_flush(e);
	} else if (e->nconfirm == 1) {
		e->confirm_t.data = e;
		uv_timer_start(&e->confirm_t, on_confirm_timer, CONFIRM_MS, 0);
	}
}

/* Stopping: the confirmations not yet sent are left to the next start's
 * reconcile (the tasks succeeded; the audit events are sent). */
void
confirm_drop(struct engine *e)
{
	uv_timer_stop(&e->confirm_t);
	while (e->chead != NULL) {
		struct vmrec *r = e->chead;
		e->chead = r->cnext;
		r->cnext = NULL;
		vm_set_sched(&e->vms, r, VM_IDLE, "stopping: confirmation dropped");
	}
	e->ctail = &e->chead;
	e->nconfirm = 0;
}
