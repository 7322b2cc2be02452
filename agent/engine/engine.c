/*
 * The loop of `vmcrypt-agent run` and `reconcile` (libuv): its lifetime,
 * signals, reload, timers, the dispatch of every note from the other
 * threads, and one hook per turn.  libuv owns the process:
 *
 *   loop thread   every scheduling decision, the VM table, the breaker,
 *                 the checkpoint, signals, timers, /metrics; it never
 *                 blocks: what blocks runs in the pool (pool.c).
 *   watcher       watch.c, parked in WaitForUpdatesEx; events come in as
 *                 notes (notes.c) and wake the loop.
 *   lease         lease.c, one look or renewal per heartbeat; role changes
 *                 come in as notes.
 *   pool          libuv's threads: enforce, scan, confirm, KMS health,
 *                 task poll, audit events, checkpoint writes.
 *
 * This file calls out to the parts below it (core.h lists them) and
 * nothing calls back into it: a part that wants the loop to stop says so
 * in its own state (reconcile's done), which on_turn reads.  After every
 * turn's callbacks, on_turn (a uv_prepare, like Redis's beforesleep) does
 * what follows any change: write the checkpoint if it moved, start work on
 * queued VMs, arm the retry timer, end a `reconcile` pass, and close the
 * loop once the last job is back.
 */
#include "engine.h"

#include "config.h"
#include "credsock.h"
#include "enforce.h"
#include "evmap.h"
#include "exitcode.h"
#include "httpd.h"
#include "keyage.h"
#include "kmipio.h"
#include "leader.h"
#include "log.h"
#include "notify.h"
#include "status.h"
#include "vim.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEEPALIVE_MS	(10 * 60 * 1000)
#define DRAIN_MS	10000		/* tasks followed after SIGTERM */

static const struct config *
engine_cfg(const struct engine *e)
{
	return core_cfg(&e->core);
}

static uint64_t
now_loop(const struct core *c)
{
	return uv_now(c->loop);
}

static void engine_stop(struct engine *);

/* ---------------------------------------------------------------- */
/* small jobs: keep-alive, cancelling the watcher's wait             */

struct small_job {
	struct engine	*e;
	int		 rc;
	char		 msg[768];
};

static void
keepalive_work(struct vconn *c, void *arg)
{
	struct small_job *j = arg;
	char now[64];
	if ((j->rc = vim_current_time(c, now, sizeof(now))) != 0)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
}

static void
keepalive_done(void *arg)
{
	struct small_job *j = arg;
	if (j->rc != 0)
		log_warnx("keep-alive: %s", j->msg);
	free(j);
}

static void
cancel_work(struct vconn *c, void *arg)
{
	struct small_job *j = arg;
	j->rc = watch_cancel(&j->e->watch, c);
}

static void
small(struct engine *e, pool_work_fn work, pool_done_fn done)
{
	struct small_job *j = xcalloc(1, sizeof(*j));
	j->e = e;
	if (pool_submit(&e->pool, work, done, j) != 0)
		free(j);
}

static void
on_keepalive(uv_timer_t *t)
{
	small(t->data, keepalive_work, keepalive_done);
}

static void
on_reconcile_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	reconcile_start(&e->rec);
}

static void
on_kms_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	health_check_now(&e->health);
}

static void
on_watchdog(uv_timer_t *t)
{
	notify_send("WATCHDOG=1");	/* the loop turns: that is what it proves */
	(void)t;
}

static void
on_retry_timer(uv_timer_t *t)
{
	(void)t;			/* on_turn runs right after */
}

/* ---------------------------------------------------------------- */
/* stopping                                                          */

static void
close_all(struct engine *e)
{
	e->core.closing = 1;
	uv_close((uv_handle_t *)&e->sigterm, NULL);
	uv_close((uv_handle_t *)&e->sigint, NULL);
	uv_close((uv_handle_t *)&e->sighup, NULL);
	uv_close((uv_handle_t *)&e->keepalive, NULL);
	uv_close((uv_handle_t *)&e->reconcile_t, NULL);
	uv_close((uv_handle_t *)&e->retry_t, NULL);
	uv_close((uv_handle_t *)&e->drain_t, NULL);
	uv_close((uv_handle_t *)&e->kms_t, NULL);
	uv_close((uv_handle_t *)&e->wake, NULL);
	uv_close((uv_handle_t *)&e->watchdog_t, NULL);
	confirm_close(&e->confirm);
	uv_close((uv_handle_t *)&e->turn, NULL);
	tasks_close(&e->tasks);
	httpd_stop(e->httpd);
	e->httpd = NULL;
	credsock_stop(e->credsock);
	e->credsock = NULL;
}

/* The watcher is out and no job is left: close every handle. */
static void
maybe_close(struct engine *e)
{
	if (watch_out(&e->watch) && e->sched.jobs == 0 && !e->rec.scanning &&
	    !progress_busy(&e->progress) && !record_busy(&e->record) && !e->core.closing) {
		watch_join(&e->watch);
		lease_stop(&e->lease);		/* before the loop's wake-up closes */
		progress_final(&e->progress);
		close_all(e);
	}
}

static void
on_drain_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	if (e->tasks.running > 0 && !watch_stopping(&e->watch))
		log_warnx("stopping with %d task%s still running in vCenter; the next "
		    "start checks them", e->tasks.running, e->tasks.running == 1 ? "" : "s");
	engine_stop(e);
}

/* No new work; the watcher is told to stop; the loop closes when the
 * last job is back (maybe_close). */
static void
engine_stop(struct engine *e)
{
	e->core.accepting = 0;
	watch_stop(&e->watch);
	/* Wakes the watcher out of its wait.  A cancel that lands just before
	 * the watcher enters its next wait is lost, so it is sent again every
	 * second until the watcher is out. */
	if (!watch_out(&e->watch) && !e->core.closing) {
		small(e, cancel_work, free);
		uv_timer_start(&e->drain_t, on_drain_timer, 1000, 0);
	}
}

static void
on_stop(uv_signal_t *h, int signum)
{
	struct engine *e = h->data;
	const char *sig = signum == SIGINT ? "SIGINT" : "SIGTERM";

	if (e->draining || watch_stopping(&e->watch)) {
		log_warnx("second %s: exiting now", sig);
		exit(EXIT_FAIL);
	}
	e->draining = 1;
	e->core.accepting = 0;		/* no new work; the queue empties */
	notify_send("STOPPING=1\nSTATUS=stopping: following %d running task%s",
	    e->tasks.running, e->tasks.running == 1 ? "" : "s");
	httpd_stop(e->httpd);
	e->httpd = NULL;
	log_info("%s: stopping (no new work; following %d running task%s up to %d s)",
	    sig, e->tasks.running, e->tasks.running == 1 ? "" : "s", DRAIN_MS / 1000);
	uv_timer_stop(&e->keepalive);
	uv_timer_stop(&e->reconcile_t);
	uv_timer_stop(&e->kms_t);
	confirm_drop(&e->confirm);
	vm_queue_clear(&e->vms);
	/* Ends at DRAIN_MS, or as soon as the last task is done (on_turn). */
	uv_timer_start(&e->drain_t, on_drain_timer, DRAIN_MS, 0);
}

/* ---------------------------------------------------------------- */
/* reload                                                            */

static int
same_connection(const struct config *x, const struct config *y)
{
#define SAME(f) ((x->f == NULL && y->f == NULL) || (x->f && y->f && strcmp(x->f, y->f) == 0))
	return SAME(vc_url) && SAME(vc_user) && SAME(password_file) &&
	    SAME(tls.ca_file) && SAME(tls.thumbprint) && x->tls.mode == y->tls.mode &&
	    SAME(policy_name) && SAME(policy_id) && SAME(state_dir) && SAME(metrics_listen);
#undef SAME
}

/*
 * SIGHUP: a new snapshot replaces the current one; jobs already out keep
 * the one they started with (their reference), so nothing a worker reads
 * changes under it.  Connection, policy, state and metrics settings need
 * a restart.
 */
static void
on_reload(uv_signal_t *h, int signum)
{
	struct engine *e = h->data;
	const struct config *cur = engine_cfg(e);
	struct config *n;
	char err[8192];
	enum log_level lvl;

	(void)signum;
	notify_reloading();
	if (config_load(e->core.config_path, &n, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s is invalid, keeping the running configuration:\n%s",
		    e->core.config_path, err);
		notify_send("READY=1\nSTATUS=reload refused: %s is invalid", e->core.config_path);
		return;
	}
	if (!same_connection(cur, n)) {
		log_warnx("SIGHUP: vCenter connection, policy, state or metrics settings "
		    "changed; they take effect at the next restart");
		config_free(n);
		notify_send("READY=1\nSTATUS=reload: restart needed for connection settings");
		return;
	}
	if (log_parse_level(n->log_level, &lvl) == 0)
		log_setlevel(lvl);
	n->timeout = cur->timeout;
	free(n->trace_dir);		/* the session keeps its trace */
	n->trace_dir = cur->trace_dir ? xstrdup(cur->trace_dir) : NULL;
	if (e->core.dry_run)
		n->dry_run = 1;
	struct cfgref *old = e->core.cfg;
	e->core.cfg = cfgref_new(n);
	cfgref_drop(old);
	log_info("SIGHUP: configuration reloaded from %s; reconciling", e->core.config_path);
	pace_say(n);
	notify_send("READY=1\nSTATUS=configuration reloaded; reconciling");
	reconcile_start(&e->rec);
}

/* ---------------------------------------------------------------- */
/* the notes: every message from the other threads, dispatched here   */

/* What each event means is evmap.c's table: an alert is said (with its
 * VM) and counted, the KMS checked, the VM looked at, in that order. */
static void
on_event(struct engine *e, const struct note *n)
{
	const struct evmap *m = evmap_find(n->type);
	unsigned what = evmap_what(n->type, n->vm);

	metrics_count(&e->met, M_EVENTS);
	status_event_lag(n->time, &e->event_lag);
	progress_saw(&e->progress, n->key, n->time);
	if ((what & EVM_ALERT) && m != NULL) {
		metrics_crypto_event(&e->met, evmap_index(m));
		if (n->vm[0] != '\0')
			log_error("alert: vCenter reports %s on VM %s (%s)%s%s: %s", n->type,
			    n->vmname[0] ? n->vmname : n->vm, n->vm, n->msg[0] ? ": " : "",
			    n->msg, m->means);
		else
			log_error("alert: vCenter reports %s%s%s: %s", n->type,
			    n->msg[0] ? ": " : "", n->msg, m->means);
	}
	if (what & EVM_KMS) {
		if (!(what & EVM_ALERT))
			log_warnx("vCenter reports %s%s%s; checking the KMS now", n->type,
			    n->msg[0] ? ": " : "", n->msg);
		health_check_now(&e->health);
	}
	if ((what & EVM_LOOK) && n->vm[0] != '\0')
		sched_event(&e->sched, n);
}

/* The event stream is live: the first time, the first pass; after that,
 * vCenter came back, and what happened meanwhile is caught up on. */
static void
on_ready(struct engine *e)
{
	if (!e->watching) {
		e->watching = 1;
		log_info("%s; reconciling every VM", e->core.once ? "reconcile pass" :
		    "watching events");
		reconcile_start(&e->rec);
		return;
	}
	log_info("event stream back; catching up on every VM");
	metrics_count(&e->met, M_RECONNECTS);
	reconcile_catch_up(&e->rec, 0);
}

static void
dispatch(struct engine *e, const struct note *n)
{
	switch (n->kind) {
	case N_EVENT:
		on_event(e, n);
		break;
	case N_TASK:
		jobs_task_done(&e->jobs, n);
		break;
	case N_READY:
		on_ready(e);
		break;
	case N_ERROR:
		log_warnx("%s", n->msg);
		break;
	case N_LEADER:
	case N_STANDBY:
		if (leader_note(&e->core, n, e->watching))
			reconcile_catch_up(&e->rec, 1);
		break;
	default:
		log_error("bug: a note of kind %d", (int)n->kind);
		break;
	}
}

static void
on_wake(uv_async_t *h)
{
	struct engine *e = h->data;
	size_t dropped;
	struct note *list = notes_take(&e->notes, &dropped);

	if (dropped > 0) {
		log_warnx("%zu events dropped (queue full); reconciling", dropped);
		reconcile_start(&e->rec);
	}
	while (list != NULL) {
		struct note *n = list;
		list = n->next;
		dispatch(e, n);
		free(n);
	}
}

/* ---------------------------------------------------------------- */
/* every turn                                                        */

/* After every turn's callbacks, before the loop sleeps. */
static void
on_turn(uv_prepare_t *h)
{
	struct engine *e = h->data;

	if (!e->core.closing) {
		progress_maybe(&e->progress);
		uint64_t flush = record_maybe_flush(&e->record);
		uint64_t turn = pace_run(&e->pace);
		uint64_t next = sched_run(&e->sched), now = now_loop(&e->core);
		if (flush < next)
			next = flush;
		if (turn < next)
			next = turn;
		if (next == UINT64_MAX)
			uv_timer_stop(&e->retry_t);
		else
			uv_timer_start(&e->retry_t, on_retry_timer, next > now ? next - now : 0, 0);
		reconcile_finish_once(&e->rec);
		if (e->rec.done && !watch_stopping(&e->watch)) {
			engine_stop(e);		/* the reconcile pass is over */
		} else if (e->draining && !watch_stopping(&e->watch) && e->tasks.running == 0 &&
		    e->sched.jobs == 0) {
			log_info("stopping: every running task has finished");
			uv_timer_stop(&e->drain_t);
			engine_stop(e);
		}
	}
	maybe_close(e);
}

/* ---------------------------------------------------------------- */
/* start                                                             */

/* Logs in; EXIT_OK or an exit code. */
static int
engine_login(struct engine *e)
{
	char err[1024];
	char *password;
	int rc;

	if ((password = config_read_password(engine_cfg(e), err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	if ((e->s = vsession_new(engine_cfg(e), err, sizeof(err))) == NULL) {
		secret_free(password);
		log_error("%s", err);
		return EXIT_CONNECT;
	}
	rc = vsession_open(e->s, password, err, sizeof(err));
	secret_free(password);
	if (rc != 0) {
		log_error("%s", err);
		vsession_free(e->s);
		return vim_exit_code(rc);
	}
	return EXIT_OK;
}

/* The policy, the KMS, where events start: before anything runs. */
static int
engine_prepare(struct engine *e, struct kms_health *kms_first)
{
	struct vconn *c = vconn_new(e->s);
	char err[1024], now[64];
	int rc;

	memset(kms_first, 0, sizeof(*kms_first));
	vconn_set_timeout(c, engine_cfg(e)->timeout);
	rc = enforcer_configure(e->core.enf, engine_cfg(e), c, err, sizeof(err));
	if (rc == 0 && engine_cfg(e)->encrypt)
		health_first_check(&e->health, c, kms_first);
	if (rc == 0 && e->progress.begin_time[0] == '\0' &&
	    vim_current_time(c, now, sizeof(now)) == 0)
		progress_begin_at(&e->progress, now);
	vconn_free(c);
	if (rc != 0)
		log_error("%s", err);
	return rc;
}

static void
loop_init(struct engine *e)
{
	uv_timer_t *timers[] = { &e->keepalive, &e->reconcile_t, &e->retry_t, &e->drain_t,
	    &e->kms_t, &e->watchdog_t };

	if (uv_loop_init(&e->loop) != 0)
		fatalx("uv_loop_init failed");
	uv_signal_init(&e->loop, &e->sigterm);
	uv_signal_init(&e->loop, &e->sigint);
	uv_signal_init(&e->loop, &e->sighup);
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(&e->loop, timers[i]);
		timers[i]->data = e;
	}
	uv_async_init(&e->loop, &e->wake, on_wake);
	uv_prepare_init(&e->loop, &e->turn);
	e->sigterm.data = e->sigint.data = e->sighup.data = e->wake.data = e->turn.data = e;
	notes_init(&e->notes, &e->wake);
	pool_init(&e->pool, &e->loop, e->s, engine_cfg(e)->timeout);
	tasks_init(&e->tasks, &e->loop, &e->pool, &e->notes);
	e->tasks.ev = e->record.ev;
	vm_table_init(&e->vms);
	record_attach(&e->record);
	/* The parts that register on-enter actions in the VM table. */
	sched_init(&e->sched, &e->core, &e->health, jobs_submit_enforce, &e->jobs);
	pace_init(&e->pace, &e->core);
	jobs_init(&e->jobs, &e->core, &e->sched, &e->health, &e->record, &e->pace);
	confirm_init(&e->confirm, &e->core, &e->sched);
	reconcile_init(&e->rec, &e->core, &e->sched, &e->health, &e->jobs);
	e->event_lag = -1;
}

/* ---------------------------------------------------------------- */
/* run                                                               */

/* Metrics and health on HTTP; 0, or -1 (said) if it cannot listen. */
static int
start_status(struct engine *e)
{
	const struct config *cfg = engine_cfg(e);
	char err[1024];

	if (e->core.once || cfg->metrics_listen[0] == '\0')
		return 0;
	e->httpd = httpd_start(&e->loop, cfg->metrics_listen, status_http, e, err, sizeof(err));
	if (e->httpd == NULL) {
		log_error("%s; change <metrics listen=...> in %s (listen=\"\" turns it off)",
		    err, e->core.config_path);
		return -1;
	}
	log_info("metrics and health on http://%s/metrics and /healthz", cfg->metrics_listen);
	return 0;
}

static void
start_timers(struct engine *e)
{
	const struct config *cfg = engine_cfg(e);
	uint64_t kms_ms = (uint64_t)cfg->kms_health_interval * 1000;
	uint64_t rec_ms = (uint64_t)cfg->reconcile_interval * 1000;

	uv_signal_start(&e->sigterm, on_stop, SIGTERM);
	uv_signal_start(&e->sigint, on_stop, SIGINT);
	uv_timer_start(&e->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
	if (e->core.once)
		return;
	uv_signal_start(&e->sighup, on_reload, SIGHUP);
	uv_timer_start(&e->kms_t, on_kms_timer, kms_ms, kms_ms);
	uv_timer_start(&e->reconcile_t, on_reconcile_timer, rec_ms, rec_ms);
	if (notify_watchdog_usec() > 0) {
		uint64_t ms = notify_watchdog_usec() / 2000;
		uv_timer_start(&e->watchdog_t, on_watchdog, ms ? ms : 1, ms ? ms : 1);
	}
}

static void
start_watch(struct engine *e)
{
	if (watch_start(&e->watch, e->s, &e->notes, e->core.once, engine_cfg(e)->timeout,
	    e->progress.begin_time) != 0)
		fatalx("cannot start the watcher thread");
}

static void
say_running(struct engine *e)
{
	const struct config *cfg = engine_cfg(e);

	if (e->core.once)
		return;
	notify_send("READY=1\nSTATUS=logged in to %s; reconciling every VM%s", cfg->vc_url,
	    health_held(&e->health) ? "; KMS unusable: encryption paused" : "");
	log_info("agent running (pid %d)%s; policy \"%s\", up to %d in flight", (int)getpid(),
	    e->core.dry_run ? " in dry-run mode: nothing will be changed" : "",
	    cfg->policy_name ? cfg->policy_name : enforcer_policy_id(e->core.enf),
	    cfg->max_in_flight);
}

/* The loop is built: runs it to the end (0), or closes it at once if the
 * status listener cannot start (-1). */
static int
engine_loop(struct engine *e, const struct kms_health *kms_first)
{
	if (start_status(e) != 0) {
		e->exit_code = EXIT_CONFIG;
		close_all(e);
		uv_run(&e->loop, UV_RUN_DEFAULT);
		return -1;
	}
	if (!e->core.once)
		e->credsock = credsock_open(&e->loop);	/* a password handed over */
	start_timers(e);
	if (kms_first->known)
		health_verdict(&e->health, kms_first->usable, kms_first->provider,
		    kms_first->reason);
	start_watch(e);
	uv_prepare_start(&e->turn, on_turn);
	say_running(e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	/* Notes posted after the last turn (the watcher's last words). */
	size_t dropped;
	for (struct note *n = notes_take(&e->notes, &dropped), *next; n != NULL; n = next) {
		next = n->next;
		if (n->kind == N_ERROR)
			log_warnx("%s", n->msg);
		free(n);
	}
	return 0;
}

/* Each key's age as the evidence log knows it (read only: `reconcile` and
 * a dry run read it too); then the cryptoperiod said. */
static void
engine_key_ages(struct engine *e)
{
	const struct config *cfg = engine_cfg(e);
	char dir[4096], err[1024];

	const struct kmip_target *t = kmip_target_of(cfg);
	if (t != NULL)
		keybook_set_kms(enforcer_keybook(e->core.enf), kmip_key_since_cb, (void *)t);
	snprintf(dir, sizeof(dir), "%s/evidence", cfg->state_dir);
	if (keybook_load(enforcer_keybook(e->core.enf), dir, err, sizeof(err)) != 0)
		log_warnx("key ages: the evidence log cannot be read (%s); they come from "
		    "vCenter's events", err);
	pace_say(cfg);
}

static int
engine_run(struct engine *e)
{
	struct kms_health kms_first;
	int rc;

	progress_init(&e->progress, &e->core);
	health_init(&e->health, &e->core);
	if ((rc = engine_login(e)) != EXIT_OK)
		return rc;
	rc = EXIT_CONFIG;
	if (progress_open(&e->progress) != 0)
		goto out_session;
	e->core.enf = enforcer_new();
	engine_key_ages(e);
	rc = EXIT_FAIL;
	if (engine_prepare(e, &kms_first) != 0)
		goto out_enforcer;
	if ((rc = leader_setup(&e->core, e->s, e->progress.identity)) != EXIT_OK)
		goto out_enforcer;
	rc = EXIT_CONFIG;
	if (record_open(&e->record, &e->core, e->s, e->progress.identity) != 0)
		goto out_enforcer;
	loop_init(e);
	leader_begin(&e->core);
	int ran = engine_loop(e, &kms_first) == 0;
	pool_destroy(&e->pool);
	if ((rc = uv_loop_close(&e->loop)) != 0)
		log_warnx("event loop closed with handles still open: %s", uv_strerror(rc));
	tasks_free(&e->tasks);
	record_close(&e->record);
	pace_free(&e->pace);
	vm_table_clear(&e->vms);
	notes_destroy(&e->notes);
	if (e->exit_code == EXIT_OK)
		e->exit_code = e->rec.exit_code;
	if (rc != 0 && e->exit_code == EXIT_OK)
		e->exit_code = EXIT_FAIL;
	rc = e->exit_code;
	if (!e->core.once && ran)
		log_info("stopped: %lu events, %lu reconfigurations (%lu done, %lu failed)",
		    e->met.events, e->jobs.reconfigs, e->met.remediation_ok,
		    e->met.remediation_err);
out_enforcer:
	lease_stop(&e->lease);
	lease_destroy(&e->lease);
	enforcer_free(e->core.enf);
out_session:
	progress_close(&e->progress);
	vsession_close(e->s);
	vsession_free(e->s);
	/* Joins libuv's pool threads, so that each frees what OpenSSL keeps
	 * per thread (error queue, DRBGs) as a thread does when it exits. */
	uv_library_shutdown();
	return rc;
}

/* The pool must hold every job in flight plus the short calls. */
static void
size_pool(int max_in_flight)
{
	char n[16];
	if (getenv("UV_THREADPOOL_SIZE") != NULL)
		return;
	snprintf(n, sizeof(n), "%d", max_in_flight + 4 > 128 ? 128 : max_in_flight + 4);
	setenv("UV_THREADPOOL_SIZE", n, 1);
}

int
engine_main(struct config *cfg, const struct engine_opts *o)
{
	int rc;

	cfg->dry_run = o->dry_run || cfg->dry_run;
	size_pool(cfg->max_in_flight);
	if (!o->once)
		notify_init();
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	struct engine *e = xcalloc(1, sizeof(*e));
	e->core = (struct core){
		.loop = &e->loop, .pool = &e->pool, .vms = &e->vms, .tasks = &e->tasks,
		.notes = &e->notes, .met = &e->met, .lease = &e->lease,
		.cfg = cfgref_new(cfg), .config_path = o->config_path,
		.once = o->once, .dry_run = cfg->dry_run, .json = o->json,
		.accepting = 1, .now = now_loop,
	};
	rc = engine_run(e);
	cfgref_drop(e->core.cfg);
	free(e);
	return rc;
}
