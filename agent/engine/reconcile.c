/*
 * Reconcile passes: every VM read in one paged scan and decided, the ones
 * that need work queued.  At start-up (right after the event stream is
 * live), every reconcile-interval, after the stream comes back, and on
 * SIGHUP: a missed event delays a VM, never loses it.  The scan is lean:
 * devices and policies are read for encrypted VMs only, the only ones
 * whose decision depends on them.  For the `reconcile` command, the end of
 * the pass: once everything issued has finished, a full scan is printed.
 */
#include "exitcode.h"
#include "config.h"
#include "engine.h"
#include "enforce.h"
#include "inventory.h"
#include "log.h"
#include "notify.h"
#include "xmalloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scan_job {
	struct engine	*e;
	struct cfgref	*cfg;
	int		 final;		/* reconcile command: the report's scan */
	int		 rc;
	char		 msg[1024];
	struct inventory inv;
	unsigned	*acts;
};

static void
scan_work(struct vconn *c, void *arg)
{
	struct scan_job *j = arg;
	j->rc = enforce_scan(j->e->enf, cfgref_get(j->cfg), c, 500, j->final ? 0 : INV_LEAN,
	    &j->inv, &j->acts);
	if (j->rc != 0)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
}

static void
scan_status(struct engine *e, const struct inventory *inv, const size_t *counts,
    size_t acting)
{
	notify_send("STATUS=%zu VMs: %zu compliant, %zu pending, %zu deferred, %zu blocked, "
	    "%zu hw-too-old, %zu excluded%s", inv->nvms, counts[VS_COMPLIANT],
	    counts[VS_PENDING], counts[VS_DEFERRED], counts[VS_BLOCKED], counts[VS_HW_TOO_OLD],
	    counts[VS_EXCLUDED], e->breaker.held ? "; KMS unusable: encryption paused" : "");
	log_info("reconcile: %zu VMs: %zu compliant, %zu pending, %zu deferred, "
	    "%zu blocked, %zu hw-too-old, %zu excluded, %zu templates, %zu inaccessible, "
	    "%zu wrong-provider, %zu vsan-encrypted; %zu to act on", inv->nvms,
	    counts[VS_COMPLIANT], counts[VS_PENDING], counts[VS_DEFERRED], counts[VS_BLOCKED],
	    counts[VS_HW_TOO_OLD], counts[VS_EXCLUDED], counts[VS_TEMPLATE],
	    counts[VS_INACCESSIBLE], counts[VS_WRONG_PROVIDER], counts[VS_VSAN_ENCRYPTED], acting);
}

static void
scan_result(struct engine *e, struct scan_job *j)
{
	size_t counts[VS_COUNT] = { 0 }, acting = 0;

	for (size_t i = 0; i < j->inv.nvms; i++) {
		struct vm_info *vm = &j->inv.vms[i];
		struct vmrec *r = vm_find(&e->vms, vm->moref, 1);
		enum vm_state st = vm->state;
		counts[st]++;
		if (!vm_busy(r))
			vm_set_decision(r, vm->name, st, vm->reason);
		if (!j->acts[i])
			continue;
		acting++;
		r->attempts = 0;
		if (e->scans_done == 0 || e->takeover_scan)
			r->start_scan = 1;
		/* A VM in backoff keeps its retry, but not at start-up. */
		if (r->sched != VM_BACKOFF || e->scans_done == 0)
			vm_enqueue(&e->vms, r, "reconcile");
	}
	e->scans_done++;
	e->takeover_scan = 0;
	e->last_reconcile = time(NULL);
	scan_status(e, &j->inv, counts, acting);
}

/* The reconcile command's report: every VM, then the exit status. */
static int
report_once(struct engine *e, struct inventory *inv)
{
	int open = 0;

	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		struct vmrec *r = vm_find(&e->vms, vm->moref, 0);
		if (r && r->sched == VM_FAILED) {
			free(vm->reason);
			vm->reason = xasprintf("%s; last attempt failed", r->reason ? r->reason : "");
		}
		open += vm_state_open(vm->state);
	}
	if (e->json)
		inventory_print_json(inv, stdout);
	else
		inventory_print_table(inv, stdout);
	fflush(stdout);
	return open;
}

static void
final_result(struct engine *e, struct scan_job *j)
{
	e->scans_done++;
	if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		e->exit_code = vim_exit_code(j->rc);
	} else {
		int open = report_once(e, &j->inv);
		if (open > 0 && e->exit_code == EXIT_OK)
			e->exit_code = EXIT_FAIL;
		log_info("reconcile: %d VM%s in scope not compliant", open, open == 1 ? "" : "s");
	}
	engine_stop(e);
}

static void
scan_done(void *arg)
{
	struct scan_job *j = arg;
	struct engine *e = j->e;

	e->scanning = 0;
	if (j->final) {
		final_result(e, j);
	} else if (e->rescan) {
		/* This scan may have run against the vCenter that went away. */
		e->rescan = 0;
		sched_start_scan(e);
		if (j->rc == 0)
			scan_result(e, j);
	} else if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		if (e->once) {
			e->exit_code = vim_exit_code(j->rc);
			engine_stop(e);	/* no pass to finish */
		}
	} else {
		scan_result(e, j);
	}
	inventory_free(&j->inv);
	free(j->acts);
	cfgref_drop(j->cfg);
	free(j);
}

static void
scan_submit(struct engine *e, int final)
{
	struct scan_job *j = xcalloc(1, sizeof(*j));
	j->e = e;
	j->cfg = cfgref_hold(e->cfg);
	j->final = final;
	e->scanning = 1;
	if (pool_submit(&e->pool, scan_work, scan_done, j) != 0) {
		e->scanning = 0;
		cfgref_drop(j->cfg);
		free(j);
		log_error("reconcile: cannot queue the scan");
		if (e->once) {
			e->exit_code = EXIT_FAIL;
			engine_stop(e);
		}
	}
}

void
sched_start_scan(struct engine *e)
{
	if (e->scanning || !e->accepting)
		return;
	scan_submit(e, 0);
}

/* reconcile: when nothing runs, queued or waits any more, the report. */
void
sched_finish_once(struct engine *e)
{
	if (!e->once || e->closing || e->scanning || e->scans_done == 0 || !e->accepting ||
	    e->jobs + e->tasks.running > 0 || e->vms.qhead != NULL ||
	    e->vms.count[VM_BACKOFF] > 0 || e->vms.count[VM_CONFIRM] > 0)
		return;
	if (e->scans_done == 1 && e->exit_code == EXIT_OK) {
		/* Everything issued has finished: read the result. */
		scan_submit(e, 1);
		return;
	}
	engine_stop(e);
}
