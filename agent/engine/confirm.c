/*
 * The batched read after successful tasks (confirm.h).
 */
#include "confirm.h"

#include "core.h"
#include "enforce.h"
#include "log.h"
#include "pool.h"
#include "sched.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIRM_MS	300		/* confirmations gathered this long... */
#define CONFIRM_BATCH	100		/* ...or until this many */

struct confirm_job {
	struct confirm	*cf;
	struct cfgref	*cfg;
	char		**morefs;
	struct outcome	*outs;
	size_t		 n;
	int		 rc;
	char		 msg[1024];
};

static void confirm_flush(struct confirm *);

static void
confirm_work(struct vconn *c, void *arg)
{
	struct confirm_job *j = arg;
	j->rc = enforce_look(j->cf->c->enf, cfgref_get(j->cfg), c, (const char *const *)j->morefs,
	    j->n, j->outs);
	if (j->rc != 0)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
}

/* One VM's result. */
static void
confirmed(struct confirm *cf, struct vmrec *r, const struct outcome *o)
{
	int changed = !r->known || r->state != o->state || r->reason == NULL ||
	    strcmp(r->reason, o->reason) != 0;

	vm_decide(cf->c->vms, r, o);
	if (o->actions) {
		char acts[128];
		policy_actions_str(o->actions, acts, sizeof(acts));
		log_warnx("VM %s (%s): still needs %s after its reconfigure: %s; looking "
		    "again", vm_name(r), r->moref, acts, o->reason);
		vm_requeue(cf->c->vms, r, "still needs work after its task");
		return;
	}
	sched_settled(cf->sched, r);
	if (changed && o->state == VS_COMPLIANT)
		log_info("VM %s (%s): compliant", vm_name(r), r->moref);
	else if (changed)
		log_info("VM %s (%s): %s: %s", vm_name(r), r->moref, vm_state_name(o->state),
		    o->reason);
	vm_done(cf->c->vms, r, "confirmed");
}

static void
confirm_done(void *arg)
{
	struct confirm_job *j = arg;
	struct confirm *cf = j->cf;

	sched_job_ended(cf->sched);
	for (size_t i = 0; i < j->n; i++) {
		struct vmrec *r = vm_find(cf->c->vms, j->morefs[i], 1);
		const struct outcome *o = &j->outs[i];
		if (j->rc != 0) {
			/* A VM gone does not fail the read (it is left out):
			 * this is vCenter's trouble, so each VM backs off. */
			sched_backoff(cf->sched, r, "the confirmation read failed");
		} else if (o->gone) {
			log_info("VM %s: no longer exists", r->moref);
			vm_remove(cf->c->vms, r);
		} else {
			confirmed(cf, r, o);
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
confirm_flush(struct confirm *cf)
{
	const struct core *c = cf->c;

	if (cf->n == 0 || c->closing)
		return;
	if (!c->accepting) {
		confirm_drop(cf);
		return;
	}
	struct confirm_job *j = xcalloc(1, sizeof(*j));
	size_t n = cf->n < CONFIRM_BATCH ? cf->n : CONFIRM_BATCH;
	j->cf = cf;
	j->cfg = cfgref_hold(c->cfg);
	j->morefs = xcalloc(n, sizeof(*j->morefs));
	j->outs = xcalloc(n, sizeof(*j->outs));
	for (; j->n < n; j->n++) {
		struct vmrec *r = cf->head;
		cf->head = r->cnext;
		r->cnext = NULL;
		r->dirty = 0;		/* this read covers what came before */
		j->morefs[j->n] = xstrdup(r->moref);
		vm_set_sched(c->vms, r, VM_WORKING, "confirmation read");
	}
	if (cf->head == NULL)
		cf->tail = &cf->head;
	cf->n -= n;
	if (pool_submit(c->pool, confirm_work, confirm_done, j) != 0) {
		/* Nothing is out: no VM stays busy, no job is counted. */
		for (size_t i = 0; i < j->n; i++) {
			struct vmrec *v = vm_find(c->vms, j->morefs[i], 0);
			if (v != NULL)
				sched_backoff(cf->sched, v, "cannot queue the confirmation");
			free(j->morefs[i]);
		}
		cfgref_drop(j->cfg);
		free(j->morefs);
		free(j->outs);
		free(j);
		return;
	}
	sched_job_started(cf->sched);
	if (cf->n > 0)
		uv_timer_start(&cf->timer, on_confirm_timer, CONFIRM_MS, 0);
}

/* Entering VM_CONFIRM: the VM joins the batch. */
static void
enter_confirm(void *arg, struct vmrec *r, const char *why)
{
	struct confirm *cf = arg;

	(void)why;
	r->cnext = NULL;
	*cf->tail = r;
	cf->tail = &r->cnext;
	if (++cf->n >= CONFIRM_BATCH) {
		uv_timer_stop(&cf->timer);
		confirm_flush(cf);
	} else if (cf->n == 1) {
		uv_timer_start(&cf->timer, on_confirm_timer, CONFIRM_MS, 0);
	}
}

void
confirm_drop(struct confirm *cf)
{
	uv_timer_stop(&cf->timer);
	while (cf->head != NULL) {
		struct vmrec *r = cf->head;
		cf->head = r->cnext;
		r->cnext = NULL;
		vm_set_sched(cf->c->vms, r, VM_IDLE, "stopping: confirmation dropped");
	}
	cf->tail = &cf->head;
	cf->n = 0;
}

void
confirm_close(struct confirm *cf)
{
	uv_close((uv_handle_t *)&cf->timer, NULL);
}

void
confirm_init(struct confirm *cf, const struct core *c, struct sched *s)
{
	memset(cf, 0, sizeof(*cf));
	cf->c = c;
	cf->sched = s;
	cf->tail = &cf->head;
	uv_timer_init(c->loop, &cf->timer);
	cf->timer.data = cf;
	vm_table_on_enter(c->vms, VM_CONFIRM, enter_confirm, cf);
}
