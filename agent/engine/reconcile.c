/*
 * Reconcile passes (reconcile.h).  The scan is lean: devices and policies
 * are read for encrypted VMs only, the only ones whose decision depends
 * on them.
 */
#include "reconcile.h"

#include "config.h"
#include "core.h"
#include "enforce.h"
#include "exitcode.h"
#include "health.h"
#include "inventory.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "pace.h"
#include "notify.h"
#include "pool.h"
#include "sched.h"
#include "tasks.h"
#include "vim.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <malloc.h>
#include <time.h>

/*
 * What `run` keeps of each VM a scan read.  The inventory itself is freed
 * in the scan's thread as soon as the decisions are made: at 45,000 VMs it
 * is most of the agent's memory, and the table's records are made after
 * it (scan_result), so that the two never peak together.
 */
struct scan_row {
	char		 moref[sizeof(((struct vm_info *)0)->moref)];
	char		*name;		/* taken from the inventory */
	char		*reason;	/* ditto */
	char		*key_id;	/* ditto */
	const char	*code;		/* static */
	enum vm_state	 state;
	int		 encrypted;
	double		 key_since;
	char		 uuid[sizeof(((struct vm_info *)0)->uuid)];
	char		 created[sizeof(((struct vm_info *)0)->created)];
};

struct scan_job {
	struct reconcile *rc_;
	struct cfgref	*cfg;
	int		 final;		/* reconcile command: the report's scan */
	int		 rc;
	char		 msg[1024];
	struct inventory inv;		/* the final scan's; run's is freed */
	struct scan_row	*rows;		/* run's scan: what it keeps */
	size_t		 nvms;
	unsigned	*acts;
	double		 wall, cpu;	/* the scan's wall time, its thread's CPU */
	double		 proc_cpu;	/* the process's CPU when it ended */
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * run's scan: the rows it keeps, made in place over the inventory's own
 * array, which is then shrunk to them.  A row is smaller than a vm_info,
 * so row i ends before vm_info i begins (for i >= 1; row 0 is written
 * after vm_info 0 is read): each VM is read, its other strings freed, then
 * its row written over VMs already consumed.  No second array at the
 * scan's peak.
 */
_Static_assert(sizeof(struct scan_row) * 2 <= sizeof(struct vm_info),
    "a row must fit before its own vm_info");

static void
scan_compact(struct scan_job *j)
{
	size_t n = j->inv.nvms;
	struct scan_row *rows = (struct scan_row *)(void *)j->inv.vms;

	for (size_t i = 0; i < n; i++) {
		struct vm_info *vm = &j->inv.vms[i];
		struct scan_row r;
		memcpy(r.moref, vm->moref, sizeof(r.moref));
		memcpy(r.uuid, vm->uuid, sizeof(r.uuid));
		memcpy(r.created, vm->created, sizeof(r.created));
		r.name = vm->name;
		r.reason = vm->reason;
		r.key_id = vm->key_id;
		vm->name = vm->reason = vm->key_id = NULL;
		r.code = vm->code;
		r.state = vm->state;
		r.encrypted = vm->encrypted;
		r.key_since = vm->key_since;
		vm_info_clear(vm);
		memcpy(&rows[i], &r, sizeof(r));
	}
	j->inv.vms = NULL;
	j->inv.nvms = 0;
	inventory_free(&j->inv);
	if (n > 0) {
		j->rows = xreallocarray(rows, n, sizeof(*rows));
	} else {
		free(rows);
		j->rows = NULL;
	}
	/* The inventory's strings were many and small: give their pages back
	 * to the system between scans.  It does not lower the scan's peak
	 * (measured at 45,000 VMs: 67.8 MB with and without it); the in-place
	 * rows do. */
	malloc_trim(0);
}

static void
rows_free(struct scan_row *rows, size_t n)
{
	for (size_t i = 0; rows != NULL && i < n; i++) {
		free(rows[i].name);
		free(rows[i].reason);
		free(rows[i].key_id);
	}
	free(rows);
}

static void
scan_work(struct vconn *c, void *arg)
{
	struct scan_job *j = arg;
	/* `reconcile` with a cryptoperiod asks for the key ages it lacks
	 * during its scan (which VMs are due depends on them); `run` after it
	 * (ages_submit), so that they never delay enforcement. */
	const struct config *cfg = cfgref_get(j->cfg);
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	j->rc = enforce_scan(j->rc_->c->enf, cfg, c, 500, (j->final ? 0 : INV_LEAN) |
	    (j->rc_->c->once && cfg->rekey_max_age > 0 ? SCAN_KEY_EVENTS : 0),
	    &j->inv, &j->acts);
	j->nvms = j->inv.nvms;
	if (j->rc == 0 && !j->final)
		scan_compact(j);
	j->wall = clock_s(CLOCK_MONOTONIC) - w0;
	j->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	j->proc_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	if (j->rc != 0)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
}

static void
scan_status(struct reconcile *rec, size_t nvms, const size_t *counts, size_t acting)
{
	notify_send("STATUS=%zu VMs: %zu compliant, %zu pending, %zu deferred, %zu blocked, "
	    "%zu hw-too-old, %zu excluded%s", nvms, counts[VS_COMPLIANT],
	    counts[VS_PENDING], counts[VS_DEFERRED], counts[VS_BLOCKED], counts[VS_HW_TOO_OLD],
	    counts[VS_EXCLUDED], health_held(rec->health) ? "; KMS unusable: encryption paused" : "");
	log_info("reconcile: %zu VMs: %zu compliant, %zu pending, %zu deferred, "
	    "%zu blocked, %zu hw-too-old, %zu excluded, %zu templates, %zu inaccessible, "
	    "%zu wrong-provider, %zu vsan-encrypted, %zu key-missing, %zu vtpm-only, "
	    "%zu rekey-due; "
	    "%zu to act on", nvms,
	    counts[VS_COMPLIANT], counts[VS_PENDING], counts[VS_DEFERRED], counts[VS_BLOCKED],
	    counts[VS_HW_TOO_OLD], counts[VS_EXCLUDED], counts[VS_TEMPLATE],
	    counts[VS_INACCESSIBLE], counts[VS_WRONG_PROVIDER], counts[VS_VSAN_ENCRYPTED],
	    counts[VS_KEY_MISSING], counts[VS_VTPM_ONLY], counts[VS_REKEY_DUE], acting);
}

/* ---------------------------------------------------------------- */
/* key ages the scan did not know, asked after it                    */

struct ages_job {
	struct reconcile *rec;
	struct vm_info	*vms;		/* moref, name, key_id; key_since found */
	size_t		 n;
};

static void
ages_work(struct vconn *c, void *arg)
{
	struct ages_job *j = arg;
	struct vm_info **p = xcalloc(j->n, sizeof(*p));

	for (size_t i = 0; i < j->n; i++)
		p[i] = &j->vms[i];
	enforce_key_ages(j->rec->c->enf, c, p, j->n);
	free(p);
}

/* A compliant VM whose key's age is now known is looked at again when
 * that key passes the cryptoperiod (at once if it already has). */
static void
ages_done(void *arg)
{
	struct ages_job *j = arg;
	size_t found = 0;
	double oldest = j->rec->c->met->oldest_key;

	for (size_t i = 0; i < j->n; i++) {
		struct vm_info *vm = &j->vms[i];
		struct vmrec *r = vm->key_since > 0 ? vm_find(j->rec->c->vms, vm->moref, 0) : NULL;
		found += vm->key_since > 0;
		if (vm->key_since > 0 && (oldest <= 0 || vm->key_since < oldest))
			oldest = vm->key_since;
		if (r != NULL && r->known && !vm_busy(r))
			jobs_age_due(j->rec->jobs, r, r->state, NULL, vm->key_since);
		vm_info_clear(vm);
	}
	metrics_key_oldest(j->rec->c->met, oldest);
	if (j->n > 0)
		log_info("key ages: %zu of %zu looked up in vCenter's events or the KMS", found,
		    j->n);
	j->rec->ages_out = 0;
	free(j->vms);
	free(j);
}

/* The encrypted VMs of a scan whose key's age the book did not know. */
static void
ages_submit(struct reconcile *rec, const struct scan_row *rows, size_t nvms)
{
	size_t n = 0;

	if (rec->ages_out || rec->c->once)
		return;
	for (size_t i = 0; i < nvms; i++)
		n += rows[i].encrypted && rows[i].key_id && rows[i].key_since == 0;
	if (n == 0)
		return;
	struct ages_job *j = xcalloc(1, sizeof(*j));
	j->rec = rec;
	j->vms = xcalloc(n, sizeof(*j->vms));
	for (size_t i = 0; i < nvms && j->n < n; i++) {
		const struct scan_row *v = &rows[i];
		if (!v->encrypted || v->key_id == NULL || v->key_since != 0)
			continue;
		struct vm_info *d = &j->vms[j->n++];
		snprintf(d->moref, sizeof(d->moref), "%s", v->moref);
		d->name = v->name ? xstrdup(v->name) : NULL;
		d->key_id = xstrdup(v->key_id);
		d->encrypted = 1;
	}
	rec->ages_out = 1;
	if (pool_submit(rec->c->pool, ages_work, ages_done, j) != 0) {
		rec->ages_out = 0;
		for (size_t i = 0; i < j->n; i++)
			vm_info_clear(&j->vms[i]);
		free(j->vms);
		free(j);
	}
}

static void
scan_result(struct reconcile *rec, struct scan_job *j)
{
	struct vmtable *vms = rec->c->vms;
	size_t counts[VS_COUNT] = { 0 }, acting = 0;

	for (size_t i = 0; i < j->nvms; i++) {
		struct scan_row *vm = &j->rows[i];
		struct vmrec *r = vm_find(vms, vm->moref, 1);
		enum vm_state st = vm->state;
		counts[st]++;
		if (!vm_busy(r)) {
			const struct verdict v = { vm->name, st, vm->code, vm->reason, vm->uuid,
			    vm->created };
			vm_set_decision(vms, r, &v);
			jobs_key_seen(rec->jobs, r);
			jobs_age_due(rec->jobs, r, st, vm->code, vm->key_since);
		}
		if (!j->acts[i])
			continue;
		acting++;
		r->attempts = 0;
		if (rec->scans_done == 0 || rec->takeover)
			r->start_scan = 1;
		/* A VM in backoff keeps its retry, but not at start-up. */
		if (r->sched != VM_BACKOFF || rec->scans_done == 0)
			vm_enqueue(vms, r, "reconcile");
	}
	double oldest = 0;
	for (size_t i = 0; i < j->nvms; i++) {
		double t = j->rows[i].key_since;
		if (t > 0 && (oldest == 0 || t < oldest))
			oldest = t;
	}
	metrics_key_oldest(rec->c->met, oldest);
	ages_submit(rec, j->rows, j->nvms);
	rec->scans_done++;
	rec->takeover = 0;
	rec->last = time(NULL);
	jobs_scanned(rec->jobs);
	scan_status(rec, j->nvms, counts, acting);
}

/* The plan of the cryptoperiod's rekeys, in reconcile --json: when each
 * VM due would get its turn if the agent ran from now (pace.c). */
struct plan {
	const struct config	*cfg;
	double			 now;
	int			 sod;
	size_t			 k;
};

static void
plan_json(void *arg, const struct vm_info *vm, struct json_object *o)
{
	struct plan *p = arg;
	char at[32];

	if (vm->state != VS_REKEY_DUE || vm->code == NULL || strcmp(vm->code, "key-age") != 0 ||
	    p->cfg->rekey_max_age <= 0)
		return;
	time_t t = (time_t)pace_estimate(p->cfg->rekey_win_from, p->cfg->rekey_win_to,
	    p->cfg->rekey_per_hour, p->now, p->sod, p->k++);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "rekey_turn", json_object_new_int64((int64_t)p->k));
	json_object_object_add(o, "rekey_at", json_object_new_string(at));
}

/* The reconcile command's report: every VM, then the exit status. */
static int
report_once(struct reconcile *rec, struct inventory *inv)
{
	int open = 0;

	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		struct vmrec *r = vm_find(rec->c->vms, vm->moref, 0);
		if (r && r->sched == VM_FAILED) {
			free(vm->reason);
			vm->reason = xasprintf("%s; last attempt failed", r->reason ? r->reason : "");
		}
		open += vm_state_open(vm->state);
	}
	time_t now = time(NULL);
	struct tm lt;
	localtime_r(&now, &lt);
	struct plan plan = { core_cfg(rec->c), (double)now,
	    lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec, 0 };
	if (rec->c->json)
		inventory_print_json(inv, stdout, plan_json, &plan);
	else
		inventory_print_table(inv, stdout);
	fflush(stdout);
	return open;
}

static void
final_result(struct reconcile *rec, struct scan_job *j)
{
	rec->scans_done++;
	if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		rec->exit_code = vim_exit_code(j->rc);
	} else {
		int open = report_once(rec, &j->inv);
		if (open > 0 && rec->exit_code == EXIT_OK)
			rec->exit_code = EXIT_FAIL;
		log_info("reconcile: %d VM%s in scope not compliant", open, open == 1 ? "" : "s");
	}
	rec->done = 1;
}

static void
scan_done(void *arg)
{
	struct scan_job *j = arg;
	struct reconcile *rec = j->rc_;

	rec->scanning = 0;
	if (j->final) {
		final_result(rec, j);
	} else if (rec->rescan) {
		/* This scan may have run against the vCenter that went away. */
		rec->rescan = 0;
		reconcile_start(rec);
		if (j->rc == 0)
			scan_result(rec, j);
	} else if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		if (rec->c->once) {
			rec->exit_code = vim_exit_code(j->rc);
			rec->done = 1;	/* no pass to finish */
		}
	} else {
		scan_result(rec, j);
	}
	/* After the summary, which callers wait for: what the scan cost. */
	if (j->rc == 0)
		log_info("reconcile: scanned %zu VMs in %.3f s, %.3f s of CPU "
		    "(%.1f us per VM); the process's CPU so far %.3f s", j->nvms,
		    j->wall, j->cpu, j->nvms ? 1e6 * j->cpu / (double)j->nvms : 0.0,
		    j->proc_cpu);
	inventory_free(&j->inv);
	rows_free(j->rows, j->nvms);
	free(j->acts);
	cfgref_drop(j->cfg);
	free(j);
}

static void
scan_submit(struct reconcile *rec, int final)
{
	struct scan_job *j = xcalloc(1, sizeof(*j));
	j->rc_ = rec;
	j->cfg = cfgref_hold(rec->c->cfg);
	j->final = final;
	rec->scanning = 1;
	if (pool_submit(rec->c->pool, scan_work, scan_done, j) != 0) {
		rec->scanning = 0;
		cfgref_drop(j->cfg);
		free(j);
		log_error("reconcile: cannot queue the scan");
		if (rec->c->once) {
			rec->exit_code = EXIT_FAIL;
			rec->done = 1;
		}
	}
}

void
reconcile_start(struct reconcile *rec)
{
	if (rec->scanning || !rec->c->accepting)
		return;
	scan_submit(rec, 0);
}

void
reconcile_catch_up(struct reconcile *rec, int takeover)
{
	if (takeover)
		rec->takeover = 1;
	if (rec->scanning)
		rec->rescan = 1;
	else
		reconcile_start(rec);
}

void
reconcile_finish_once(struct reconcile *rec)
{
	const struct core *c = rec->c;

	if (!c->once || rec->done || c->closing || rec->scanning || rec->scans_done == 0 ||
	    !c->accepting || rec->sched->jobs + c->tasks->running > 0 || c->vms->qhead != NULL ||
	    c->vms->count[VM_BACKOFF] > 0 || c->vms->count[VM_CONFIRM] > 0)
		return;
	if (rec->scans_done == 1 && rec->exit_code == EXIT_OK) {
		/* Everything issued has finished: read the result. */
		scan_submit(rec, 1);
		return;
	}
	rec->done = 1;
}

void
reconcile_init(struct reconcile *rec, const struct core *c, struct sched *s,
    struct health *h, struct jobs *js)
{
	memset(rec, 0, sizeof(*rec));
	rec->c = c;
	rec->sched = s;
	rec->health = h;
	rec->jobs = js;
}
