/*
 * The engine behind `vmcrypt-agent run` and `reconcile`.  libuv owns the
 * process:
 *
 *   loop thread   every decision about scheduling: the VM table, the ready
 *                 queue, retries and backoff, the KMS circuit breaker, the
 *                 checkpoint, signals and timers.  It never blocks.
 *   watcher       one thread parked in WaitForUpdatesEx on a private
 *                 property collector holding two kinds of filters: the event
 *                 collector's latestPage (then ReadNextEvents reads forward)
 *                 and one per running ReconfigVM_Task (info.state).  What it
 *                 sees is queued and the loop is woken with uv_async_send.
 *   pool          libuv's thread pool runs the blocking calls (enforce_vm,
 *                 the reconcile scan, KMS health, audit events, keep-alive), each with a
 *                 connection from a small pool; results come back in the
 *                 after-work callback on the loop thread.
 */
#include "check.h"
#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "enforce.h"
#include "httpd.h"
#include "inventory.h"
#include "kms.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "policy.h"
#include "vim.h"
#include "xmalloc.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define WAIT_SECONDS	30		/* WaitForUpdatesEx maxWaitSeconds */
#define TASK_POLL_MS	250		/* running tasks read this often */
#define HINT_POLL_MS	20		/* and a hinted one this often... */
#define HINT_POLLS	4		/* ...this many times */
#define CONFIRM_MS	300		/* confirmations gathered this long... */
#define CONFIRM_BATCH	100		/* ...or until this many */
#define KEEPALIVE_MS	(10 * 60 * 1000)
#define EVENT_PAGE	1000		/* ReadNextEvents maxCount */
#define LATEST_PAGE	1		/* latestPage size: only a wake-up */
#define QUEUE_MAX	200000		/* notes held for the loop */
#define NBUCKETS	65536
#define RETRY_BASE_MS	5000
#define RETRY_MAX_MS	(15 * 60 * 1000)
#define MAX_ATTEMPTS	8		/* then wait for an event or a reconcile */
#define BREAKER_MIN_MS	2000
#define BREAKER_MAX_MS	(5 * 60 * 1000)
#define DRAIN_MS	10000		/* tasks followed after SIGTERM */

/* Events that say "look at this VM". */
static const char *const event_types[] = {
	"VmCreatedEvent", "VmClonedEvent", "VmDeployedEvent", "VmRegisteredEvent",
	"VmDiscoveredEvent", "VmMigratedEvent", "DrsVmMigratedEvent",
	"VmRelocatedEvent", "VmPoweredOffEvent", "VmReconfiguredEvent",
	"VmRenamedEvent", "VmRemovedEvent",
	"com.vmware.vc.VmInstantClonedEvent", "com.vmware.vc.vm.DstVmMigratedEvent",
	"com.vmware.vc.vm.DstVmClonedEvent",
	/* Key provider trouble: check the KMS now rather than at the timer. */
	"com.vmware.vc.kms.crypto.Unreachable", "com.vmware.vc.kms.crypto.KeyGenerateFail",
	"com.vmware.vc.kms.crypto.SendKeyError.KMSClusterError",
	"com.vmware.vc.vm.Crypto.VMLocked.KMSClusterError",
	"com.vmware.vc.vecs.KMSServerCertExpirationEvent",
	"com.vmware.vc.vecs.KMSClientCertExpirationEvent",
};
#define NEVENT_TYPES (sizeof(event_types) / sizeof(event_types[0]))

/* What the watcher hands the loop. */
enum note_kind { N_EVENT, N_TASK, N_READY, N_ERROR };
struct note {
	struct note	*next;
	enum note_kind	 kind;
	long long	 key;
	char		 time[64];
	char		 type[96];
	char		 vm[96];
	char		 task[96];
	int		 ok;
	char		 msg[1024];
	char		 fault[64];
};

/* A running task (shared with the task poll job). */
struct follow {
	struct follow	*next;
	struct vmoref	 task;
	char		 vm[96];
	int		 hint;		/* polls left at HINT_POLL_MS: the VM's
					   VmReconfiguredEvent says it may be done */
};

struct retired {
	struct retired	*next;
	struct config	*c;
};

struct vmrec {
	struct vmrec	*hnext;		/* hash chain */
	struct vmrec	*qnext;		/* ready queue */
	char		 moref[96];
	char		*name;
	enum vm_state	 state;
	char		*reason;
	int		 known;		/* state set at least once */
	int		 busy;		/* job running or task in flight */
	int		 again;		/* look again when done */
	int		 queued;
	int		 waiting;	/* in backoff */
	int		 kms_paused;
	int		 failed;	/* gave up until an event or reconcile */
	int		 audit;		/* refusals go to vCenter */
	unsigned	 attempts;
	uint64_t	 due;
	unsigned	 task_actions;
	char		 task[96];
	long long	 pend_key;	/* earliest unhandled event, -1 none */
	char		 pend_time[64];
	char		 logged[32];	/* last state written to vCenter */
	int		 reconfigs;	/* tasks issued (stats) */
	int		 start_scan;	/* found needing work by the first scan: may
					   have a task of the previous run running */
	struct vmrec	*cnext;		/* confirmation list */
	int		 adopted;	/* task followed is not one this run issued:
					   1 another client's, 2 ours from before */
	int		 probe;		/* its running task is the breaker's probe */
	uint64_t	 ev_ms;		/* loop time of the event that found it open */
	uint64_t	 ok_ms;		/* ... and of its reconfigure's success */
};

struct agent {
	uv_loop_t	 loop;
	uv_signal_t	 sigterm, sigint, sighup;
	uv_timer_t	 keepalive, reconcile_t, retry_t, drain_t, kms_t;
	uv_async_t	 wake;
	uv_thread_t	 watcher;
	int		 watcher_started;
	atomic_int	 stopping;
	atomic_int	 watcher_done;
	int		 closing;
	int		 draining;	/* SIGTERM: following the last tasks */

	int		 once;		/* reconcile command */
	int		 dry_run;
	int		 json;
	char		*config_path;
	struct config	*cfg;
	struct retired	*retired;	/* old configs, freed at exit */
	struct vsession	*s;
	struct enforcer	*enf;
	char		 begin_time[64];

	pthread_mutex_t	 mtx;		/* guards notes, pc, conns, follows */
	struct note	*head, **tail;
	size_t		 nnotes;
	size_t		 dropped;
	struct vmoref	 pc;
	struct follow	*follows;
	struct vconn	*conns[16];
	int		 nconns;

	/* loop-thread state */
	struct vmrec	*buckets[NBUCKETS];
	size_t		 nrecs;
	size_t		 nwaiting;	/* records in backoff */
	size_t		 npend;		/* records with an unhandled event */
	size_t		 npaused;	/* records waiting for the KMS */
	struct vmrec	*qhead, **qtail;
	int		 jobs;		/* enforce jobs running */
	int		 tasks;		/* tasks in flight */
	int		 scanning;
	int		 scans_done;
	int		 collector_ready;
	int		 rescan;	/* the stream came back during a scan */
	long long	 max_key;
	char		 max_time[64];
	struct checkpoint cp_written;
	int		 cp_valid;

	int		 breaker_open;
	int		 breaker_probe;
	uint64_t	 breaker_until;
	unsigned	 breaker_ms;

	/* KMS health (timer, KMS events, breaker trips): while the key
	 * provider is unusable no encryption is attempted at all. */
	int		 kms_checking;
	int		 kms_again;
	int		 kms_unhealthy;
	struct kms_health kms;

	/* service: metrics and health, systemd */
	struct metrics	 met;
	struct httpd	*httpd;
	uv_timer_t	 watchdog_t;
	uv_timer_t	 poll_t;	/* reads running tasks */
	uv_timer_t	 hint_t;	/* ...and soon again while hinted */
	/* VMs whose reconfigure succeeded, to be read again together */
	struct vmrec	*chead, **ctail;
	size_t		 nconfirm;
	uv_timer_t	 confirm_t;
	int		 polling;
	int		 poll_again;	/* a hint came during the poll */
	atomic_llong	 stream_ok_at;	/* wall time of the watcher's last good wait */
	atomic_int	 stream_err;	/* its last call failed */
	double		 event_lag;	/* seconds, -1 none yet */
	time_t		 last_reconcile;

	/* counters */
	unsigned long	 n_reconfigs, n_kms_err;	/* the rest live in met */
	int		 exit_code;
};

static void schedule(struct agent *);
static void poll_now(struct agent *);
static void on_hint_timer(uv_timer_t *);
static void hint_task(struct agent *, const struct vmrec *);
static void on_confirm_timer(uv_timer_t *);
static void confirm_add(struct agent *, struct vmrec *);
static void confirm_drop(struct agent *);
static void maybe_close(struct agent *);
static void start_scan(struct agent *);
static void kms_check_now(struct agent *);
static void settled(struct agent *, struct vmrec *);
static void event_lag(struct agent *, const char *);
static void on_drain_timer(uv_timer_t *);

static uint64_t
now_ms(struct agent *a)
{
	return uv_now(&a->loop);
}

/* ---------------------------------------------------------------- */
/* VM table                                                          */

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NBUCKETS;
}

static struct vmrec *
rec_find(struct agent *a, const char *moref, int create)
{
	unsigned h = hash(moref);
	for (struct vmrec *r = a->buckets[h]; r; r = r->hnext)
		if (strcmp(r->moref, moref) == 0)
			return r;
	if (!create)
		return NULL;
	struct vmrec *r = xcalloc(1, sizeof(*r));
	snprintf(r->moref, sizeof(r->moref), "%s", moref);
	r->pend_key = -1;
	r->hnext = a->buckets[h];
	a->buckets[h] = r;
	a->nrecs++;
	return r;
}

static void
rec_free(struct vmrec *r)
{
	free(r->name);
	free(r->reason);
	free(r);
}

/* The three flags the scheduler counts, so it scans the table only when
 * one of them is set somewhere. */
static void
set_waiting(struct agent *a, struct vmrec *r, int on)
{
	if (r->waiting != on)
		on ? a->nwaiting++ : a->nwaiting--;
	r->waiting = on;
}

static void
set_pend(struct agent *a, struct vmrec *r, long long key, const char *time)
{
	if ((r->pend_key >= 0) != (key >= 0))
		key >= 0 ? a->npend++ : a->npend--;
	r->pend_key = key;
	if (key >= 0)
		snprintf(r->pend_time, sizeof(r->pend_time), "%s", time);
}

static void
set_paused(struct agent *a, struct vmrec *r, int on)
{
	on = on != 0;
	if (r->kms_paused != on)
		on ? a->npaused++ : a->npaused--;
	r->kms_paused = on;
}

static void
rec_remove(struct agent *a, struct vmrec *r)
{
	set_waiting(a, r, 0);
	set_pend(a, r, -1, NULL);
	set_paused(a, r, 0);
	struct vmrec **pp = &a->buckets[hash(r->moref)];
	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = r->hnext;
	a->nrecs--;
	rec_free(r);
}

static void
enqueue(struct agent *a, struct vmrec *r)
{
	if (r->busy) {
		r->again = 1;
		return;
	}
	if (r->queued)
		return;
	set_waiting(a, r, 0);
	r->queued = 1;
	r->qnext = NULL;
	*a->qtail = r;
	a->qtail = &r->qnext;
}

static struct vmrec *
dequeue(struct agent *a)
{
	struct vmrec *r = a->qhead;
	if (r == NULL)
		return NULL;
	a->qhead = r->qnext;
	if (a->qhead == NULL)
		a->qtail = &a->qhead;
	r->queued = 0;
	return r;
}

static void
set_state(struct vmrec *r, const char *name, enum vm_state st, const char *reason)
{
	if (name && *name && (r->name == NULL || strcmp(r->name, name) != 0)) {
		free(r->name);
		r->name = xstrdup(name);
	}
	r->state = st;
	r->known = 1;
	free(r->reason);
	r->reason = xstrdup(reason ? reason : "");
}

static const char *
rec_name(const struct vmrec *r)
{
	return r->name ? r->name : r->moref;
}

/* ---------------------------------------------------------------- */
/* connections for pool work                                         */

static struct vconn *
conn_take(struct agent *a)
{
	struct vconn *c = NULL;
	pthread_mutex_lock(&a->mtx);
	if (a->nconns > 0)
		c = a->conns[--a->nconns];
	pthread_mutex_unlock(&a->mtx);
	if (c == NULL) {
		c = vconn_new(a->s);
		vconn_set_timeout(c, a->cfg->timeout);
	}
	return c;
}

static void
conn_give(struct agent *a, struct vconn *c)
{
	pthread_mutex_lock(&a->mtx);
	if (a->nconns < (int)(sizeof(a->conns) / sizeof(a->conns[0]))) {
		a->conns[a->nconns++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&a->mtx);
	vconn_free(c);
}

/* ---------------------------------------------------------------- */
/* watcher thread                                                    */

static void
post(struct agent *a, struct note *n)
{
	pthread_mutex_lock(&a->mtx);
	if (a->nnotes >= QUEUE_MAX && n->kind == N_EVENT) {
		/* The next reconcile catches up on whatever is dropped. */
		a->dropped++;
		pthread_mutex_unlock(&a->mtx);
		free(n);
		return;
	}
	*a->tail = n;
	a->tail = &n->next;
	a->nnotes++;
	pthread_mutex_unlock(&a->mtx);
}


struct wstate {
	struct agent	*a;
	struct vconn	*c;
	int		 read_events;
	int		 posted;
};

static int
on_event(void *arg, const xnode *ev)
{
	struct wstate *w = arg;
	struct note *n = xcalloc(1, sizeof(*n));
	struct vevent_fields f;

	vim_event_fields(ev, &f);
	snprintf(n->msg, sizeof(n->msg), "%s", f.msg);
	n->kind = N_EVENT;
	n->key = f.key;
	snprintf(n->time, sizeof(n->time), "%s", f.time);
	snprintf(n->type, sizeof(n->type), "%s", f.type);
	snprintf(n->vm, sizeof(n->vm), "%s", f.vm);
	post(w->a, n);
	w->posted++;
	return 0;
}

static int
on_update(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	struct wstate *w = arg;
	struct agent *a = w->a;

	if (strcmp(obj->type, "EventHistoryCollector") == 0) {
		w->read_events = 1;
		return 0;
	}
	if (strcmp(obj->type, "Task") != 0 || strcmp(kind, "leave") == 0)
		return 0;
	const char *state = NULL;
	const xnode *err = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "info.state") == 0)
			state = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.error") == 0)
			err = vals[i];
	}
	if (state == NULL || (strcmp(state, "success") != 0 && strcmp(state, "error") != 0))
		return 0;

	/* Finished: stop following it and tell the loop. */
	struct follow *f = NULL, **pp;
	pthread_mutex_lock(&a->mtx);
	for (pp = &a->follows; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->task.value, obj->value) == 0) {
			f = *pp;
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&a->mtx);
	if (f == NULL)
		return 0;
	struct note *no = xcalloc(1, sizeof(*no));
	no->kind = N_TASK;
	snprintf(no->vm, sizeof(no->vm), "%s", f->vm);
	snprintf(no->task, sizeof(no->task), "%s", obj->value);
	no->ok = strcmp(state, "success") == 0;
	if (err != NULL) {
		const char *m = xnode_path_text(err, "localizedMessage");
		const xnode *fault = xnode_child(err, "fault");
		snprintf(no->fault, sizeof(no->fault), "%s", fault ? xnode_type(fault) : "");
		snprintf(no->msg, sizeof(no->msg), "%s", m && *m ? m : no->fault);
		if (fault && (!m || !*m)) {
			const char *fm = xnode_path_text(fault, "faultMessage.message");
			if (fm)
				snprintf(no->msg, sizeof(no->msg), "%s: %s", no->fault, fm);
		}
	}
	post(a, no);
	w->posted++;
	free(f);
	return 0;
}

/* Sleeps up to ms, waking early when the agent stops. */
static void
nap(struct agent *a, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&a->stopping); t += 100)
		usleep(100 * 1000);
}

/*
 * The watcher's reconnect delay: doubles from 1 s up to WATCH_BACKOFF_MAX_MS,
 * and what is slept is +-20% of it, so that agents (or a restarted vCenter's
 * many clients) do not come back in step.
 */
#define WATCH_BACKOFF_MAX_MS	30000

static int
watch_backoff(int *backoff, unsigned *seed)
{
	int d = *backoff;

	*backoff = d < WATCH_BACKOFF_MAX_MS / 2 ? d * 2 : WATCH_BACKOFF_MAX_MS;
	return (int)((long)d * (80 + rand_r(seed) % 41) / 100);
}

static void
post_error(struct agent *a, const char *msg)
{
	struct note *n = xcalloc(1, sizeof(*n));
	n->kind = N_ERROR;
	snprintf(n->msg, sizeof(n->msg), "%s", msg);
	post(a, n);
	uv_async_send(&a->wake);
}

static int on_update(void *, const char *, const struct vmoref *, size_t,
    const char *const *, const xnode *const *);

/* A task read directly: handled like the filter's first report. */
static int
task_read_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	return on_update(arg, "enter", obj, n, names, vals);
}

/*
 * Reads every running task's state in one RetrievePropertiesEx (on a pool
 * connection, not the watcher's collector) and reports the finished ones.
 * Polling a handful of tasks every TASK_POLL_MS costs one small call; a
 * filter per task on the watcher's collector made every update the server
 * processed re-collect every filter (vcsim), and a filter created while a
 * wait runs may not report a task that has already finished.
 */
static int
poll_tasks(struct agent *a, struct vconn *c)
{
	static const char *const tpaths[] = { "info.state", "info.error" };
	struct vmoref *tasks;
	struct wstate w = { .a = a, .c = c };
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&a->mtx);
	for (struct follow *f = a->follows; f; f = f->next)
		cap++;
	tasks = xcalloc(cap ? cap : 1, sizeof(*tasks));
	for (struct follow *f = a->follows; f && n < cap; f = f->next)
		tasks[n++] = f->task;
	pthread_mutex_unlock(&a->mtx);
	if (n > 0 && vim_retrieve_objects(c, tasks, n, "Task", tpaths, 2, task_read_cb, &w) != 0) {
		/* One task gone (a vCenter restart, or purged) fails the whole
		 * call: read them one by one to find it. */
		vconn_reset(c);
		for (size_t i = 0; i < n; i++) {
			if (vim_retrieve_objects(c, &tasks[i], 1, "Task", tpaths, 2, task_read_cb,
			    &w) == 0) {
				vconn_reset(c);
				continue;
			}
			int gone = strcmp(vconn_fault_type(c), "ManagedObjectNotFound") == 0;
			vconn_reset(c);
			if (!gone)
				break;		/* vCenter trouble: next round */
			struct follow *f = NULL, **pp;
			pthread_mutex_lock(&a->mtx);
			for (pp = &a->follows; *pp; pp = &(*pp)->next)
				if (strcmp((*pp)->task.value, tasks[i].value) == 0) {
					f = *pp;
					*pp = f->next;
					break;
				}
			pthread_mutex_unlock(&a->mtx);
			if (f != NULL) {
				/* The loop looks at the VM again after a backoff. */
				struct note *no = xcalloc(1, sizeof(*no));
				no->kind = N_TASK;
				snprintf(no->vm, sizeof(no->vm), "%s", f->vm);
				snprintf(no->task, sizeof(no->task), "%s", f->task.value);
				snprintf(no->msg, sizeof(no->msg), "task vanished before it finished");
				post(a, no);
				w.posted++;
				free(f);
			}
		}
	}
	vconn_reset(c);
	free(tasks);
	if (w.posted)
		uv_async_send(&a->wake);
	/* Hinted tasks still running: the event may precede the task's own
	 * end by a little; look again soon, a few times. */
	int hinted = 0;
	pthread_mutex_lock(&a->mtx);
	for (struct follow *f = a->follows; f; f = f->next)
		if (f->hint > 0) {
			f->hint--;
			hinted++;
		}
	pthread_mutex_unlock(&a->mtx);
	return hinted;
}

static void
watcher_main(void *arg)
{
	static const char *const lpaths[] = { "latestPage" };
	struct agent *a = arg;
	struct vconn *c = vconn_new(a->s);
	struct vmoref pc = { "", "" }, coll = { "", "" }, filter;
	struct wstate w = { .a = a, .c = c };
	unsigned gen = 0, seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	char version[256] = "";
	int backoff = 1000, rc, d;

	/* recv_timeout must outlast the server-side wait. */
	vconn_set_timeout(c, WAIT_SECONDS + a->cfg->timeout);
	while (!atomic_load(&a->stopping)) {
		if (pc.value[0] == '\0' || gen != vsession_generation(a->s)) {
			/* (Re)create the session-scoped objects.  The event
			 * collector starts at the checkpoint (or start-up) time,
			 * so nothing between the two sessions is missed. */
			gen = vsession_generation(a->s);
			version[0] = '\0';
			rc = vim_create_property_collector(c, &pc);
			if (rc == 0 && !a->once)
				rc = vim_create_event_collector(c, a->begin_time, event_types,
				    NEVENT_TYPES, LATEST_PAGE, &coll);
			if (rc == 0 && !a->once)
				rc = vim_create_object_filter(c, &pc, &coll,
				    "EventHistoryCollector", lpaths, 1, &filter);
			if (rc != 0) {
				char m[900];
				d = watch_backoff(&backoff, &seed);
				snprintf(m, sizeof(m), "watcher: %s; retrying in %.1f s",
				    vconn_error(c), d / 1000.0);
				atomic_store(&a->stream_err, 1);
				post_error(a, m);
				pc.value[0] = '\0';
				nap(a, d);
				continue;
			}
			pthread_mutex_lock(&a->mtx);
			a->pc = pc;
			pthread_mutex_unlock(&a->mtx);
			atomic_store(&a->stream_ok_at, (long long)time(NULL));
			atomic_store(&a->stream_err, 0);
			w.read_events = !a->once;
			/* The first time: the loop reconciles every VM and says
			 * it is ready.  After a reconnect: it catches up the same
			 * way, since a restarted vCenter may not have kept every
			 * event the old collector would have returned. */
			struct note *n = xcalloc(1, sizeof(*n));
			n->kind = N_READY;
			post(a, n);
			uv_async_send(&a->wake);
			log_debug("watcher: collector %s, events %s", pc.value, coll.value);
		}
		/* Read forward until the collector has nothing newer. */
		while (w.read_events && !atomic_load(&a->stopping)) {
			int count = 0;
			w.read_events = 0;
			rc = vim_read_next_events(c, &coll, EVENT_PAGE, on_event, &w, &count);
			if (rc != 0) {
				log_warnx("watcher: %s", vconn_error(c));
				break;
			}
			if (w.posted)
				uv_async_send(&a->wake);
			w.posted = 0;
			if (count == EVENT_PAGE)
				w.read_events = 1;
		}
		rc = vim_wait_for_updates(c, &pc, version, sizeof(version), WAIT_SECONDS,
		    on_update, &w);
		if (w.posted)
			uv_async_send(&a->wake);
		w.posted = 0;
		if (rc == V_ERR_CANCELED)
			continue;		/* loop condition decides */
		if (rc != 0) {
			char m[900];
			if (gen != vsession_generation(a->s)) {
				/* Logged in again during the call: the collectors
				 * belonged to the old session.  Recreate them now. */
				post_error(a, "watcher: new vCenter session; recreating the "
				    "collectors");
				pc.value[0] = '\0';
				continue;
			}
			d = watch_backoff(&backoff, &seed);
			snprintf(m, sizeof(m), "watcher: %s; retrying in %.1f s",
			    vconn_error(c), d / 1000.0);
			atomic_store(&a->stream_err, 1);
			post_error(a, m);
			nap(a, d);
			continue;
		}
		atomic_store(&a->stream_ok_at, (long long)time(NULL));
		atomic_store(&a->stream_err, 0);
		backoff = 1000;
	}
	if (pc.value[0]) {
		vconn_set_timeout(c, 10);
		if (coll.value[0])
			vim_destroy_collector(c, &coll);
		vim_destroy_property_collector(c, &pc);
	}
	vconn_free(c);
	atomic_store(&a->watcher_done, 1);
	uv_async_send(&a->wake);
}

/* ---------------------------------------------------------------- */
/* pool jobs                                                         */

enum job_kind { J_ENFORCE, J_SCAN, J_FINAL_SCAN, J_AUDIT, J_KEEPALIVE, J_CANCEL, J_KMS,
    J_POLL, J_CONFIRM };

struct job {
	uv_work_t	 req;
	struct agent	*a;
	enum job_kind	 kind;
	char		 vm[96];
	int		 allow_crypto;
	int		 check_running;
	int		 audit;
	char		 logged[32];
	struct outcome	 out;
	struct inventory inv;
	unsigned	*acts;
	int		 rc;
	char		 msg[1024];
	int		 kms_usable;
	char		 provider[256];
	int		 hinted;	/* J_POLL: hinted tasks still running */
	/* J_CONFIRM */
	char		**morefs;
	struct outcome	*outs;
	size_t		 nlook;
};

static void
audit(struct vconn *c, const char *vm, const char *msg)
{
	struct vmoref obj;
	snprintf(obj.type, sizeof(obj.type), "VirtualMachine");
	snprintf(obj.value, sizeof(obj.value), "%s", vm);
	if (vim_log_user_event(c, &obj, msg) != 0)
		log_warnx("%s: LogUserEvent failed: %s", vm, vconn_error(c));
}

static void
job_run(uv_work_t *req)
{
	struct job *j = req->data;
	struct agent *a = j->a;
	struct vconn *c = conn_take(a);
	char now[64];

	switch (j->kind) {
	case J_KEEPALIVE:
		j->rc = vim_current_time(c, now, sizeof(now));
		break;
	case J_CANCEL: {
		struct vmoref pc;
		pthread_mutex_lock(&a->mtx);
		pc = a->pc;
		pthread_mutex_unlock(&a->mtx);
		j->rc = pc.value[0] ? vim_cancel_wait(c, &pc) : 0;
		break;
	}
	case J_AUDIT:
		audit(c, j->vm, j->msg);
		j->rc = 0;
		break;
	case J_POLL:
		j->hinted = poll_tasks(a, c);
		j->rc = 0;
		break;
	case J_KMS: {
		struct kms_facts f;
		struct chk_report *rep = xcalloc(1, sizeof(*rep));
		j->rc = check_gather(c, a->cfg, 0, &f);
		if (j->rc == 0) {
			kms_evaluate(a->cfg, &f, rep);
			j->kms_usable = rep->kms_usable;
			snprintf(j->provider, sizeof(j->provider), "%s", rep->provider);
			snprintf(j->msg, sizeof(j->msg), "%s", rep->kms_reason);
		}
		kms_facts_free(&f);
		free(rep);
		break;
	}
	case J_SCAN:
	case J_FINAL_SCAN:
		/* The reconcile scan reads disks and policies of encrypted VMs
		 * only; the final one is reported in full. */
		j->rc = enforce_scan(a->enf, a->cfg, c, 500, j->kind == J_SCAN ? INV_LEAN : 0,
		    &j->inv, &j->acts);
		break;
	case J_CONFIRM:
		j->rc = enforce_look(a->enf, a->cfg, c, (const char *const *)j->morefs, j->nlook,
		    j->outs);
		if (j->rc != 0)
			snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
		break;
	case J_ENFORCE: {
		struct outcome *o = &j->out;
		j->rc = enforce_vm(a->enf, a->cfg, c, j->vm, j->allow_crypto, a->dry_run,
		    j->check_running, o);
		if (o->issued) {
			/* Followed once the loop has counted it (enforce_done):
			 * a task the poll saw finish before that would be
			 * counted in flight for ever. */
		} else if (j->audit && !a->dry_run && o->err == 0 && !o->gone &&
		    (o->state == VS_HW_TOO_OLD || o->state == VS_BLOCKED ||
		    o->state == VS_DEFERRED || o->state == VS_EXCLUDED ||
		    o->state == VS_TEMPLATE) &&
		    strcmp(j->logged, vm_state_name(o->state)) != 0) {
			char m[1024];
			snprintf(m, sizeof(m), "vmcrypt-agent: not encrypting (%s): %s",
			    vm_state_name(o->state), o->reason);
			audit(c, j->vm, m);
			snprintf(j->logged, sizeof(j->logged), "%s", vm_state_name(o->state));
		}
		break;
	}
	}
	if (j->rc != 0 && j->kind != J_ENFORCE && j->kind != J_CONFIRM)
		snprintf(j->msg, sizeof(j->msg), "%s", vconn_error(c));
	vconn_reset(c);
	conn_give(a, c);
}

static void job_done(uv_work_t *req, int status);

static struct job *
job_new(struct agent *a, enum job_kind kind)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->a = a;
	j->kind = kind;
	j->req.data = j;
	return j;
}

static void
job_submit(struct agent *a, struct job *j)
{
	if (uv_queue_work(&a->loop, &j->req, job_run, job_done) != 0) {
		log_warnx("cannot queue work");
		free(j);
	}
}

static void
submit_audit(struct agent *a, const char *vm, const char *msg)
{
	if (a->dry_run)
		return;
	struct job *j = job_new(a, J_AUDIT);
	snprintf(j->vm, sizeof(j->vm), "%s", vm);
	snprintf(j->msg, sizeof(j->msg), "%s", msg);
	job_submit(a, j);
}

/* ---------------------------------------------------------------- */
/* scheduling                                                        */

static int
in_flight(struct agent *a)
{
	return a->jobs + a->tasks;
}

static int
allow_crypto(struct agent *a)
{
	if (a->kms_unhealthy)
		return 0;
	if (!a->breaker_open)
		return 1;
	if (!a->breaker_probe && now_ms(a) >= a->breaker_until) {
		a->breaker_probe = 1;	/* one trial while half-open */
		return 2;
	}
	return 0;
}

static void
on_retry_timer(uv_timer_t *t)
{
	schedule(t->data);
}

/* Arms the retry timer for the earliest backoff (next) or breaker expiry. */
static void
arm_retry(struct agent *a, uint64_t next)
{
	uint64_t now = now_ms(a);

	if (a->breaker_open && !a->breaker_probe && a->breaker_until < next)
		next = a->breaker_until;
	if (next == UINT64_MAX) {
		uv_timer_stop(&a->retry_t);
		return;
	}
	uv_timer_start(&a->retry_t, on_retry_timer, next > now ? next - now : 0, 0);
}

/* The table is scanned only while some VM is in backoff (or one is needed
 * as the breaker's probe); otherwise scheduling costs only the queue. */
static void
schedule(struct agent *a)
{
	uint64_t now = now_ms(a), next = UINT64_MAX;
	int stopping = atomic_load(&a->stopping);

	if (a->closing)
		return;
	/* Backoffs that have expired go back to the queue. */
	for (size_t b = 0; a->nwaiting > 0 && b < NBUCKETS; b++)
		for (struct vmrec *r = a->buckets[b]; r; r = r->hnext) {
			if (!r->waiting)
				continue;
			if (r->due <= now && !stopping)
				enqueue(a, r);
			else if (r->due < next)
				next = r->due;
		}
	/* Breaker half-open: send one paused VM as the probe. */
	if (a->breaker_open && !a->breaker_probe && now >= a->breaker_until &&
	    a->npaused > 0) {
		struct vmrec *probe = NULL;
		for (size_t b = 0; probe == NULL && b < NBUCKETS; b++)
			for (struct vmrec *r = a->buckets[b]; r && probe == NULL; r = r->hnext)
				if (r->kms_paused && !r->busy && !r->queued)
					probe = r;
		if (probe != NULL)
			enqueue(a, probe);
	}
	while (!stopping && in_flight(a) < a->cfg->max_in_flight) {
		struct vmrec *r = dequeue(a);
		if (r == NULL)
			break;
		if (r->busy) {
			r->again = 1;
			continue;
		}
		struct job *j = job_new(a, J_ENFORCE);
		snprintf(j->vm, sizeof(j->vm), "%s", r->moref);
		j->allow_crypto = allow_crypto(a);
		/* A task the previous run left running can only be met right
		 * after start: before the first scan is done, or on a VM that
		 * scan found.  Later, every task on a VM is this run's. */
		j->check_running = a->scans_done == 0 || r->start_scan;
		j->audit = r->audit;
		snprintf(j->logged, sizeof(j->logged), "%s", r->logged);
		r->busy = 1;
		r->again = 0;
		a->jobs++;
		job_submit(a, j);
	}
	arm_retry(a, next);
}

static void
checkpoint_maybe(struct agent *a)
{
	struct checkpoint cp;
	long long low = -1;
	const char *low_time = NULL;
	char err[512];

	if (a->once || a->dry_run || a->max_key < 0 || a->max_time[0] == '\0')
		return;
	for (size_t b = 0; a->npend > 0 && b < NBUCKETS; b++)
		for (struct vmrec *r = a->buckets[b]; r; r = r->hnext)
			if (r->pend_key >= 0 && (low < 0 || r->pend_key < low)) {
				low = r->pend_key;
				low_time = r->pend_time;
			}
	if (low >= 0) {
		cp.key = low - 1;
		snprintf(cp.time, sizeof(cp.time), "%s", low_time);
	} else {
		cp.key = a->max_key;
		snprintf(cp.time, sizeof(cp.time), "%s", a->max_time);
	}
	if (a->cp_valid && cp.key == a->cp_written.key &&
	    strcmp(cp.time, a->cp_written.time) == 0)
		return;
	if (checkpoint_write(a->cfg->state_dir, &cp, err, sizeof(err)) != 0) {
		log_warnx("checkpoint: %s", err);
		return;
	}
	a->cp_written = cp;
	a->cp_valid = 1;
}

static void
backoff(struct agent *a, struct vmrec *r)
{
	r->attempts++;
	if (r->attempts >= MAX_ATTEMPTS || a->once) {
		r->failed = 1;
		set_waiting(a, r, 0);
		log_error("VM %s (%s): giving up after %u attempt%s; the next event or "
		    "reconcile tries again", rec_name(r), r->moref, r->attempts,
		    r->attempts == 1 ? "" : "s");
		return;
	}
	uint64_t d = (uint64_t)RETRY_BASE_MS << (r->attempts - 1);
	if (d > RETRY_MAX_MS)
		d = RETRY_MAX_MS;
	d = d * (80 + (uint64_t)(rand() % 41)) / 100;	/* +-20% jitter */
	r->due = now_ms(a) + d;
	set_waiting(a, r, 1);
	log_info("VM %s (%s): retry %u in %.1f s", rec_name(r), r->moref,
	    r->attempts + 1, (double)d / 1000);
}

/* A KMS failure.  Only the first one and failed probes lengthen the pause:
 * jobs that were already running when the breaker opened say nothing new. */
static void
breaker_trip(struct agent *a, const char *why, int probe)
{
	int was_open = a->breaker_open;
	if (was_open && !probe)
		return;
	a->breaker_ms = a->breaker_ms ? a->breaker_ms * 2 : BREAKER_MIN_MS;
	if (a->breaker_ms > BREAKER_MAX_MS)
		a->breaker_ms = BREAKER_MAX_MS;
	a->breaker_open = 1;
	a->breaker_probe = 0;
	a->breaker_until = now_ms(a) + a->breaker_ms;
	if (!was_open) {
		log_error("KMS unusable: %s; encryption paused (next try in %.0f s); "
		    "check the key provider in vCenter (Configure > Key Providers)",
		    why, (double)a->breaker_ms / 1000);
		kms_check_now(a);	/* it may say why, and hold the pause */
	}
	else
		log_warnx("KMS still unusable: %s; next try in %.0f s", why,
		    (double)a->breaker_ms / 1000);
}

static void
breaker_close(struct agent *a)
{
	if (!a->breaker_open || a->kms_unhealthy)
		return;
	a->breaker_open = 0;
	a->breaker_probe = 0;
	a->breaker_ms = 0;
	log_info("KMS usable again: encryption resumed");
	for (size_t b = 0; a->npaused > 0 && b < NBUCKETS; b++)
		for (struct vmrec *r = a->buckets[b]; r; r = r->hnext)
			if (r->kms_paused) {
				set_paused(a, r, 0);
				r->attempts = 0;
				r->failed = 0;
				enqueue(a, r);
			}
}

/* ---------------------------------------------------------------- */
/* KMS health                                                        */

static void
kms_check_now(struct agent *a)
{
	if (a->closing || atomic_load(&a->stopping) || a->once)
		return;
	if (a->kms_checking) {
		a->kms_again = 1;
		return;
	}
	a->kms_checking = 1;
	a->kms_again = 0;
	job_submit(a, job_new(a, J_KMS));
}

/* Records a verdict; an unusable KMS holds encryption (no probes: the
 * health check is the probe), a usable one releases it. */
static void
kms_verdict(struct agent *a, int usable, const char *provider, const char *reason)
{
	struct kms_health *h = &a->kms;

	h->known = 1;
	h->checks++;
	h->checked = time(NULL);
	snprintf(h->provider, sizeof(h->provider), "%s", provider);
	snprintf(h->reason, sizeof(h->reason), "%s", usable ? "" : reason);
	h->usable = usable;
	if (!usable) {
		h->unusable++;
		if (!a->kms_unhealthy) {
			log_error("KMS health: %s; encryption paused until it recovers "
			    "(Encrypted vMotion is still enforced); `vmcrypt-agent check` "
			    "says how to fix it", reason);
			notify_send("STATUS=KMS unusable, encryption paused: %.200s", reason);
		}
		a->kms_unhealthy = 1;
		a->breaker_open = 1;
		a->breaker_probe = 0;
		a->breaker_until = UINT64_MAX;
		return;
	}
	if (a->kms_unhealthy) {
		log_info("KMS health: key provider %s is usable again", provider);
		notify_send("STATUS=KMS %s usable again: encryption resumed", provider);
		a->kms_unhealthy = 0;
		a->breaker_ms = 0;
		breaker_close(a);
	} else {
		log_debug("KMS health: key provider %s usable", provider);
	}
}

static void
kms_done(struct agent *a, struct job *j)
{
	a->kms_checking = 0;
	if (j->rc != 0)
		log_warnx("KMS health: cannot ask vCenter: %s", j->msg);
	else
		kms_verdict(a, j->kms_usable, j->provider, j->msg);
	if (a->kms_again)
		kms_check_now(a);
}

static void
on_kms_timer(uv_timer_t *t)
{
	kms_check_now(t->data);
}

static int
is_kms_event(const char *type)
{
	return strncmp(type, "com.vmware.vc.kms.", 18) == 0 ||
	    strstr(type, "KMSClusterError") != NULL || strstr(type, "CertExpirationEvent") != NULL;
}

static void
enforce_done(struct agent *a, struct job *j)
{
	struct outcome *o = &j->out;
	struct vmrec *r = rec_find(a, j->vm, 1);
	char acts[128];

	a->jobs--;
	r->busy = 0;
	snprintf(r->logged, sizeof(r->logged), "%s", j->logged);
	if (j->allow_crypto == 2 && !(o->issued && !o->adopted && (o->actions & ACT_CRYPTO)))
		a->breaker_probe = 0;	/* the probe did not test the KMS */
	if (o->gone) {
		log_info("VM %s: no longer exists", j->vm);
		rec_remove(a, r);
		return;
	}
	policy_actions_str(o->actions, acts, sizeof(acts));
	if (o->err == 0 || o->issued)
		r->start_scan = 0;	/* looked at (and any old task found) */
	if (o->err != 0 && !o->issued) {
		set_state(r, o->name, o->state, o->reason);
		if (o->actions)
			a->met.remediation_refused++;
		if (o->kms) {
			a->n_kms_err++;
			set_paused(a, r, 1);
			log_warnx("VM %s (%s): %s", rec_name(r), r->moref, o->msg);
			breaker_trip(a, o->msg, j->allow_crypto == 2);
		} else {
			log_warnx("VM %s (%s): %s", rec_name(r), r->moref, o->msg);
		}
		backoff(a, r);
		set_pend(a, r, -1, NULL);
		return;
	}
	int changed = !r->known || r->state != o->state || r->reason == NULL ||
	    strcmp(r->reason, o->reason) != 0;
	set_state(r, o->name, o->state, o->reason);
	set_paused(a, r, !j->allow_crypto && o->state != VS_COMPLIANT &&
	    strstr(o->reason, "KMS unavailable") != NULL);
	if (o->issued) {
		r->probe = j->allow_crypto == 2 && !o->adopted && (o->actions & ACT_CRYPTO);
		r->task_actions = o->actions;
		r->adopted = o->adopted ? (o->adopted_ours ? 2 : 1) : 0;
		snprintf(r->task, sizeof(r->task), "%s", o->task.value);
		r->busy = 1;
		a->tasks++;
		if (!o->adopted) {
			r->reconfigs++;
			a->n_reconfigs++;
		}
		/* From now on the task poll (every TASK_POLL_MS) follows it. */
		struct follow *f = xcalloc(1, sizeof(*f));
		f->task = o->task;
		snprintf(f->vm, sizeof(f->vm), "%s", r->moref);
		pthread_mutex_lock(&a->mtx);
		f->next = a->follows;
		a->follows = f;
		pthread_mutex_unlock(&a->mtx);
		if (o->adopted)
			log_info("VM %s (%s): %s: %s; %s %s is already running on it: "
			    "following it, then looking again", rec_name(r), r->moref, acts,
			    o->reason, o->adopted_ours ? "our ReconfigVM_Task" :
			    "another client's task", o->task.value);
		else
			log_info("VM %s (%s): %s: %s; ReconfigVM_Task %s", rec_name(r), r->moref,
			    acts, o->reason, o->task.value);
		return;
	}
	set_pend(a, r, -1, NULL);
	settled(a, r);
	if (a->dry_run && o->actions)
		log_info("dry-run: VM %s (%s): would %s: %s", rec_name(r), r->moref,
		    acts, o->reason);
	else if (!changed)
		log_debug("VM %s (%s): %s (unchanged)", rec_name(r), r->moref,
		    vm_state_name(o->state));
	else if (o->state == VS_COMPLIANT)
		log_info("VM %s (%s): compliant", rec_name(r), r->moref);
	else
		log_info("VM %s (%s): %s: %s", rec_name(r), r->moref,
		    vm_state_name(o->state), o->reason);
	if (o->state == VS_COMPLIANT || !o->actions)
		r->attempts = 0;
	if (r->again)
		enqueue(a, r);
}

/*
 * Confirmation: a VM whose reconfigure succeeded is read again (the agent is
 * level-triggered), but together with the others that finished within
 * CONFIRM_MS: one RetrievePropertiesEx and one SPBM query for up to
 * CONFIRM_BATCH VMs instead of two calls each.  The VM stays busy meanwhile,
 * so an event for it waits for the read, which covers it.
 */
static void
confirm_flush(struct agent *a)
{
	if (a->nconfirm == 0 || a->closing)
		return;
	if (a->draining || atomic_load(&a->stopping)) {
		confirm_drop(a);
		return;
	}
	struct job *j = job_new(a, J_CONFIRM);
	size_t n = a->nconfirm < CONFIRM_BATCH ? a->nconfirm : CONFIRM_BATCH;
	j->morefs = xcalloc(n, sizeof(*j->morefs));
	j->outs = xcalloc(n, sizeof(*j->outs));
	for (; j->nlook < n; j->nlook++) {
		struct vmrec *r = a->chead;
		a->chead = r->cnext;
		r->cnext = NULL;
		r->again = 0;		/* this read covers what came before */
		j->morefs[j->nlook] = xstrdup(r->moref);
	}
	if (a->chead == NULL)
		a->ctail = &a->chead;
	a->nconfirm -= n;
	a->jobs++;
	job_submit(a, j);
	if (a->nconfirm > 0)
		uv_timer_start(&a->confirm_t, on_confirm_timer, CONFIRM_MS, 0);
}

static void
on_confirm_timer(uv_timer_t *t)
{
	confirm_flush(t->data);
}

static void
confirm_add(struct agent *a, struct vmrec *r)
{
	r->busy = 1;
	r->cnext = NULL;
	*a->ctail = r;
	a->ctail = &r->cnext;
	if (++a->nconfirm >= CONFIRM_BATCH) {
		uv_timer_stop(&a->confirm_t);
		confirm_flush(a);
	} else if (a->nconfirm == 1) {
		uv_timer_start(&a->confirm_t, on_confirm_timer, CONFIRM_MS, 0);
	}
}

static void
confirm_done(struct agent *a, struct job *j)
{
	a->jobs--;
	for (size_t i = 0; i < j->nlook; i++) {
		struct vmrec *r = rec_find(a, j->morefs[i], 1);
		struct outcome *o = &j->outs[i];
		r->busy = 0;
		if (j->rc != 0) {
			/* A VM gone does not fail the read (it is left out):
			 * this is vCenter's trouble, so each VM backs off. */
			backoff(a, r);
			continue;
		}
		if (o->gone) {
			log_info("VM %s: no longer exists", r->moref);
			rec_remove(a, r);
			continue;
		}
		int changed = !r->known || r->state != o->state || r->reason == NULL ||
		    strcmp(r->reason, o->reason) != 0;
		set_state(r, o->name, o->state, o->reason);
		if (o->actions) {
			char acts[128];
			policy_actions_str(o->actions, acts, sizeof(acts));
			log_warnx("VM %s (%s): still needs %s after its reconfigure: %s; "
			    "looking again", rec_name(r), r->moref, acts, o->reason);
			enqueue(a, r);
			continue;
		}
		settled(a, r);
		if (changed && o->state == VS_COMPLIANT)
			log_info("VM %s (%s): compliant", rec_name(r), r->moref);
		else if (changed)
			log_info("VM %s (%s): %s: %s", rec_name(r), r->moref,
			    vm_state_name(o->state), o->reason);
		if (r->again)
			enqueue(a, r);
	}
	if (j->rc != 0)
		log_warnx("confirming %zu VM%s after their reconfigure: %s", j->nlook,
		    j->nlook == 1 ? "" : "s", j->msg);
}

/* Stopping: the confirmations not yet sent are left to the next start's
 * reconcile (the tasks succeeded; the audit events are sent). */
static void
confirm_drop(struct agent *a)
{
	uv_timer_stop(&a->confirm_t);
	while (a->chead != NULL) {
		struct vmrec *r = a->chead;
		a->chead = r->cnext;
		r->cnext = NULL;
		r->busy = 0;
	}
	a->ctail = &a->chead;
	a->nconfirm = 0;
}

static void
task_done(struct agent *a, const struct note *n)
{
	struct vmrec *r = rec_find(a, n->vm, 1);
	char acts[128];

	if (a->tasks > 0)
		a->tasks--;
	r->busy = 0;
	set_pend(a, r, -1, NULL);
	policy_actions_str(r->task_actions, acts, sizeof(acts));
	if (r->adopted == 1) {
		/* Not ours: nothing to count or audit; decide afresh. */
		r->adopted = 0;
		log_info("VM %s (%s): task %s ended (%s); looking again", rec_name(r),
		    r->moref, n->task, n->ok ? "success" : "error");
		enqueue(a, r);
		return;
	}
	r->adopted = 0;
	if (n->ok) {
		a->met.remediation_ok++;
		r->attempts = 0;
		r->failed = 0;
		log_info("VM %s (%s): %s done (%s)", rec_name(r), r->moref, acts, n->task);
		if (r->task_actions & ACT_CRYPTO)
			breaker_close(a);
		/* One audit event per remediation, with what it found. */
		char m[900];
		snprintf(m, sizeof(m), "vmcrypt-agent: %s completed [%s] (was: %.600s)", acts,
		    n->task, r->reason && r->reason[0] ? r->reason : "not compliant");
		submit_audit(a, r->moref, m);
		/* Level-triggered: read it again to confirm, with the others
		 * that finished about now. */
		r->ok_ms = now_ms(a);
		confirm_add(a, r);
		return;
	}
	metrics_task_failed(&a->met, n->fault);
	if (strcmp(n->fault, "ConcurrentAccess") == 0 && r->attempts + 1 < MAX_ATTEMPTS) {
		/* changeVersion guarded it: someone changed the VM between our
		 * read and our reconfigure.  Nothing was applied; read it again
		 * now and decide from what it is. */
		r->attempts++;
		log_info("VM %s (%s): changed by someone else before %s ran (%s: %s); "
		    "reading it again", rec_name(r), r->moref, acts, n->task, n->fault);
		enqueue(a, r);
		return;
	}
	int kms = enforce_is_kms_error(n->fault, n->msg);
	log_error("VM %s (%s): %s failed (%s): %s%s%s", rec_name(r), r->moref, acts,
	    n->task, n->fault[0] ? n->fault : "error", n->msg[0] ? ": " : "", n->msg);
	char m[900];
	snprintf(m, sizeof(m), "vmcrypt-agent: %s failed [%s]: %.300s (was: %.200s)", acts,
	    n->task, n->msg, r->reason && r->reason[0] ? r->reason : "not compliant");
	submit_audit(a, r->moref, m);
	if (kms && (r->task_actions & ACT_CRYPTO)) {
		a->n_kms_err++;
		set_paused(a, r, 1);
		breaker_trip(a, n->msg, r->probe);
	}
	backoff(a, r);
}

static void
scan_done(struct agent *a, struct job *j)
{
	size_t counts[VS_COUNT] = { 0 }, acting = 0;

	a->scanning = 0;
	if (a->rescan) {
		/* This scan may have run against the vCenter that went away. */
		a->rescan = 0;
		start_scan(a);
		if (j->rc != 0)
			return;
	}
	if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		if (a->once) {
			a->exit_code = cli_exit_for(j->rc);
			return;
		}
		return;
	}
	for (size_t i = 0; i < j->inv.nvms; i++) {
		struct vm_info *vm = &j->inv.vms[i];
		struct vmrec *r = rec_find(a, vm->moref, 1);
		enum vm_state st = VS_COMPLIANT;
		for (int s = 0; s < VS_COUNT; s++)
			if (strcmp(vm->state, vm_state_name(s)) == 0)
				st = s;
		counts[st]++;
		if (!r->busy)
			set_state(r, vm->name, st, vm->reason);
		if (j->acts[i]) {
			r->failed = 0;
			r->attempts = 0;
			if (a->scans_done == 0)
				r->start_scan = 1;
			if (!r->waiting || a->scans_done == 0)
				enqueue(a, r);
			acting++;
		}
	}
	a->scans_done++;
	a->last_reconcile = time(NULL);
	notify_send("STATUS=%zu VMs: %zu compliant, %zu pending, %zu deferred, %zu blocked, "
	    "%zu hw-too-old, %zu excluded%s", j->inv.nvms, counts[VS_COMPLIANT],
	    counts[VS_PENDING], counts[VS_DEFERRED], counts[VS_BLOCKED], counts[VS_HW_TOO_OLD],
	    counts[VS_EXCLUDED], a->kms_unhealthy ? "; KMS unusable: encryption paused" : "");
	log_info("reconcile: %zu VMs: %zu compliant, %zu pending, %zu deferred, "
	    "%zu blocked, %zu hw-too-old, %zu excluded, %zu templates, %zu inaccessible; "
	    "%zu to act on", j->inv.nvms, counts[VS_COMPLIANT], counts[VS_PENDING],
	    counts[VS_DEFERRED], counts[VS_BLOCKED], counts[VS_HW_TOO_OLD],
	    counts[VS_EXCLUDED], counts[VS_TEMPLATE], counts[VS_INACCESSIBLE], acting);
}

/* ---------------------------------------------------------------- */
/* reconcile command: final report                                   */

static int
report_once(struct agent *a, struct inventory *inv)
{
	int open = 0;

	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		struct vmrec *r = rec_find(a, vm->moref, 0);
		enum vm_state st = VS_COMPLIANT;
		for (int s = 0; s < VS_COUNT; s++)
			if (strcmp(vm->state, vm_state_name(s)) == 0)
				st = s;
		if (r && r->failed) {
			free(vm->reason);
			vm->reason = xasprintf("%s; last attempt failed", r->reason ? r->reason : "");
		}
		open += vm_state_open(st);
	}
	if (a->json)
		inventory_print_json(inv, stdout);
	else
		inventory_print_table(inv, stdout);
	fflush(stdout);
	return open;
}

static void
maybe_finish_once(struct agent *a)
{
	if (!a->once || a->closing || a->scanning || a->scans_done == 0 ||
	    in_flight(a) > 0 || a->qhead != NULL)
		return;
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct vmrec *r = a->buckets[b]; r; r = r->hnext)
			if (r->waiting || r->busy)
				return;
	if (a->scans_done == 1 && a->exit_code == EXIT_OK) {
		/* Everything issued has finished: read the result. */
		a->scanning = 1;
		job_submit(a, job_new(a, J_FINAL_SCAN));
		return;
	}
	atomic_store(&a->stopping, 1);
	struct job *j = job_new(a, J_CANCEL);
	job_submit(a, j);
}

static void
job_done_final_scan(struct agent *a, struct job *j)
{
	a->scanning = 0;
	a->scans_done++;
	if (j->rc != 0) {
		log_error("reconcile: %s", j->msg);
		a->exit_code = cli_exit_for(j->rc);
	} else {
		int open = report_once(a, &j->inv);
		if (open > 0 && a->exit_code == EXIT_OK)
			a->exit_code = EXIT_FAIL;
		log_info("reconcile: %d VM%s in scope not compliant", open, open == 1 ? "" : "s");
	}
	atomic_store(&a->stopping, 1);
	job_submit(a, job_new(a, J_CANCEL));
}

static void
job_done(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct agent *a = j->a;

	(void)status;
	switch (j->kind) {
	case J_ENFORCE:
		enforce_done(a, j);
		break;
	case J_SCAN:
		scan_done(a, j);
		break;
	case J_FINAL_SCAN:
		job_done_final_scan(a, j);
		break;
	case J_KEEPALIVE:
		if (j->rc != 0)
			log_warnx("keep-alive: %s", j->msg);
		break;
	case J_KMS:
		kms_done(a, j);
		break;
	case J_CONFIRM:
		confirm_done(a, j);
		break;
	case J_POLL:
		a->polling = 0;
		if (a->poll_again) {
			a->poll_again = 0;
			poll_now(a);
		} else if (j->hinted > 0 && a->tasks > 0 && !a->closing) {
			uv_timer_start(&a->hint_t, on_hint_timer, HINT_POLL_MS, 0);
		}
		break;
	case J_CANCEL:
	case J_AUDIT:
		break;
	}
	if (j->kind == J_SCAN || j->kind == J_FINAL_SCAN) {
		inventory_free(&j->inv);
		free(j->acts);
	}
	for (size_t i = 0; i < j->nlook; i++)
		free(j->morefs[i]);
	free(j->morefs);
	free(j->outs);
	free(j);
	checkpoint_maybe(a);
	schedule(a);
	maybe_finish_once(a);
	maybe_close(a);
}

static void
start_scan(struct agent *a)
{
	if (a->scanning || atomic_load(&a->stopping))
		return;
	a->scanning = 1;
	job_submit(a, job_new(a, J_SCAN));
}

/* ---------------------------------------------------------------- */
/* loop callbacks                                                    */

static void
on_keepalive(uv_timer_t *t)
{
	job_submit(t->data, job_new(t->data, J_KEEPALIVE));
}

static void
on_reconcile_timer(uv_timer_t *t)
{
	start_scan(t->data);
}

static void
close_all(struct agent *a)
{
	a->closing = 1;
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sighup, NULL);
	uv_close((uv_handle_t *)&a->keepalive, NULL);
	uv_close((uv_handle_t *)&a->reconcile_t, NULL);
	uv_close((uv_handle_t *)&a->retry_t, NULL);
	uv_close((uv_handle_t *)&a->drain_t, NULL);
	uv_close((uv_handle_t *)&a->kms_t, NULL);
	uv_close((uv_handle_t *)&a->wake, NULL);
	uv_close((uv_handle_t *)&a->watchdog_t, NULL);
	uv_close((uv_handle_t *)&a->poll_t, NULL);
	uv_close((uv_handle_t *)&a->hint_t, NULL);
	uv_close((uv_handle_t *)&a->confirm_t, NULL);
	httpd_stop(a->httpd);
	a->httpd = NULL;
}

/* Receipt time minus the event's createdTime ("2026-11-26T12:00:00.123Z"). */
static void
event_lag(struct agent *a, const char *t)
{
	struct timespec now;
	time_t ts = kms_parse_time(t);		/* whole seconds, UTC */
	const char *dot = strchr(t, '.');

	if (ts == (time_t)-1)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	a->event_lag = (double)(now.tv_sec - ts) + now.tv_nsec / 1e9 -
	    (dot ? strtod(dot, NULL) : 0);
}

/* The VM is confirmed in a final state: the event-to-compliant latency. */
static void
settled(struct agent *a, struct vmrec *r)
{
	if (r->ev_ms == 0)
		return;
	/* Compliant since the task succeeded, if the confirmation says so
	 * (it is read a little later, with others). */
	uint64_t at = r->ok_ms > r->ev_ms ? r->ok_ms : now_ms(a);
	r->ok_ms = 0;
	if (r->state == VS_COMPLIANT)
		metrics_observe_latency(&a->met, (double)(at - r->ev_ms) / 1000.0);
	if (!vm_state_open(r->state) || r->state == VS_COMPLIANT)
		r->ev_ms = 0;
}

static void
handle_event(struct agent *a, const struct note *n)
{
	a->met.events++;
	event_lag(a, n->time);
	if (n->key > a->max_key) {
		a->max_key = n->key;
		snprintf(a->max_time, sizeof(a->max_time), "%s", n->time);
	}
	if (is_kms_event(n->type)) {
		log_warnx("vCenter reports %s%s%s; checking the KMS now", n->type,
		    n->msg[0] ? ": " : "", n->msg);
		kms_check_now(a);
		return;
	}
	if (n->vm[0] == '\0')
		return;
	struct vmrec *r = rec_find(a, n->vm, strcmp(n->type, "VmRemovedEvent") != 0);
	if (r == NULL)
		return;
	log_debug("event %lld %s on %s", n->key, n->type, n->vm);
	if (strcmp(n->type, "VmRemovedEvent") == 0) {
		if (!r->busy && !r->queued) {
			log_info("VM %s (%s): removed", rec_name(r), r->moref);
			rec_remove(a, r);
		}
		return;
	}
	if (r->pend_key < 0 || n->key < r->pend_key)
		set_pend(a, r, n->key, n->time);
	if (r->ev_ms == 0 && !(r->known && r->state == VS_COMPLIANT))
		r->ev_ms = now_ms(a) ? now_ms(a) : 1;
	r->audit = 1;
	r->failed = 0;
	if (strcmp(n->type, "VmReconfiguredEvent") == 0) {
		if (r->busy && r->task[0])
			hint_task(a, r);
		if (r->waiting && r->attempts > 0)
			return;		/* our own retry is already scheduled */
	}
	enqueue(a, r);
}

static void
drain_notes(struct agent *a)
{
	struct note *list;

	pthread_mutex_lock(&a->mtx);
	list = a->head;
	a->head = NULL;
	a->tail = &a->head;
	a->nnotes = 0;
	size_t dropped = a->dropped;
	a->dropped = 0;
	pthread_mutex_unlock(&a->mtx);
	if (dropped > 0) {
		log_warnx("%zu events dropped (queue full); reconciling", dropped);
		start_scan(a);
	}
	while (list != NULL) {
		struct note *n = list;
		list = n->next;
		switch (n->kind) {
		case N_EVENT:
			handle_event(a, n);
			break;
		case N_TASK:
			task_done(a, n);
			break;
		case N_READY:
			if (!a->collector_ready) {
				a->collector_ready = 1;
				log_info("%s; reconciling every VM",
				    a->once ? "reconcile pass" : "watching events");
				start_scan(a);
			} else {
				log_info("event stream back; catching up on every VM");
				a->met.reconnects++;
				if (a->scanning)
					a->rescan = 1;
				else
					start_scan(a);
			}
			break;
		case N_ERROR:
			log_warnx("%s", n->msg);
			break;
		}
		free(n);
	}
}

static void
on_wake(uv_async_t *h)
{
	struct agent *a = h->data;

	drain_notes(a);
	if (!a->closing) {
		checkpoint_maybe(a);
		schedule(a);
		maybe_finish_once(a);
		if (a->draining && !atomic_load(&a->stopping) && a->tasks == 0 && a->jobs == 0) {
			log_info("stopping: every running task has finished");
			uv_timer_stop(&a->drain_t);
			on_drain_timer(&a->drain_t);
		}
	}
	maybe_close(a);
}

/* The watcher is out and no job is left: close every handle.  Checked when
 * the watcher says it is done and when a job ends, whichever is last. */
static void
maybe_close(struct agent *a)
{
	if (atomic_load(&a->watcher_done) && a->watcher_started && a->jobs == 0 &&
	    !a->scanning && !a->closing) {
		uv_thread_join(&a->watcher);
		a->watcher_started = 0;
		checkpoint_maybe(a);
		close_all(a);
	}
}

static void
on_drain_timer(uv_timer_t *t)
{
	struct agent *a = t->data;
	if (a->tasks > 0 && !atomic_load(&a->stopping))
		log_warnx("stopping with %d task%s still running in vCenter; the next "
		    "start checks them", a->tasks, a->tasks == 1 ? "" : "s");
	atomic_store(&a->stopping, 1);
	/* Wakes the watcher out of its wait.  A cancel that lands just before
	 * the watcher enters its next wait is lost, so it is sent again every
	 * second until the watcher is out. */
	if (!atomic_load(&a->watcher_done) && !a->closing) {
		job_submit(a, job_new(a, J_CANCEL));
		uv_timer_start(t, on_drain_timer, 1000, 0);
	}
}

static void
on_stop(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	const char *sig = signum == SIGINT ? "SIGINT" : "SIGTERM";

	if (a->draining || atomic_load(&a->stopping)) {
		log_warnx("second %s: exiting now", sig);
		exit(EXIT_FAIL);
	}
	a->draining = 1;
	notify_send("STOPPING=1\nSTATUS=stopping: following %d running task%s", a->tasks,
	    a->tasks == 1 ? "" : "s");
	httpd_stop(a->httpd);
	a->httpd = NULL;
	log_info("%s: stopping (no new work; following %d running task%s up to %d s)",
	    sig, a->tasks, a->tasks == 1 ? "" : "s", DRAIN_MS / 1000);
	uv_timer_stop(&a->keepalive);
	uv_timer_stop(&a->reconcile_t);
	uv_timer_stop(&a->kms_t);
	confirm_drop(a);
	/* No new jobs: empty the queue. */
	while (dequeue(a) != NULL)
		;
	a->cfg->max_in_flight = 0;
	if (a->tasks == 0 && a->jobs == 0) {
		on_drain_timer(&a->drain_t);
		return;
	}
	/* Ends at DRAIN_MS, or as soon as the last task is done (on_wake). */
	uv_timer_start(&a->drain_t, on_drain_timer, DRAIN_MS, 0);
}

static int
same_connection(const struct config *x, const struct config *y)
{
#define SAME(f) ((x->f == NULL && y->f == NULL) || (x->f && y->f && strcmp(x->f, y->f) == 0))
	return SAME(vc_url) && SAME(vc_user) && SAME(password_file) &&
	    SAME(tls.ca_file) && SAME(tls.thumbprint) && x->tls.mode == y->tls.mode &&
	    SAME(policy_name) && SAME(policy_id) && SAME(state_dir);
#undef SAME
}

static void
on_reload(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	struct config *n;
	char err[8192];

	(void)signum;
	notify_reloading();
	if (config_load(a->config_path, &n, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s is invalid, keeping the running configuration:\n%s",
		    a->config_path, err);
		notify_send("READY=1\nSTATUS=reload refused: %s is invalid", a->config_path);
		return;
	}
	if (!same_connection(a->cfg, n) || strcmp(a->cfg->metrics_listen, n->metrics_listen)) {
		log_warnx("SIGHUP: vCenter connection, policy, state or metrics settings "
		    "changed; they take effect at the next restart");
		config_free(n);
		notify_send("READY=1\nSTATUS=reload: restart needed for connection settings");
		return;
	}
	enum log_level lvl;
	if (log_parse_level(n->log_level, &lvl) == 0)
		log_setlevel(lvl);
	/* Workers may still read the old config: retire it, free it at exit. */
	struct config *old = a->cfg;
	n->timeout = old->timeout;
	if (a->dry_run)
		n->dry_run = 1;
	a->cfg = n;
	struct retired *rt = xcalloc(1, sizeof(*rt));
	rt->c = old;
	rt->next = a->retired;
	a->retired = rt;
	log_info("SIGHUP: configuration reloaded from %s; reconciling", a->config_path);
	notify_send("READY=1\nSTATUS=configuration reloaded; reconciling");
	start_scan(a);
}

/* ---------------------------------------------------------------- */

static int
prepare_state_dir(struct agent *a)
{
	struct checkpoint cp;
	char err[512];

	if (a->dry_run || a->once)
		return 0;
	if (mkdir(a->cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		log_error("state directory %s: %s; create it (owned by the agent's user) "
		    "or set <state-dir> in %s", a->cfg->state_dir, strerror(errno),
		    a->config_path);
		return -1;
	}
	int rc = checkpoint_read(a->cfg->state_dir, &cp, err, sizeof(err));
	if (rc == 0) {
		snprintf(a->begin_time, sizeof(a->begin_time), "%s", cp.time);
		a->max_key = cp.key;
		snprintf(a->max_time, sizeof(a->max_time), "%s", cp.time);
		a->cp_written = cp;
		a->cp_valid = 1;
		log_info("checkpoint: resuming events from %s (after key %lld)", cp.time, cp.key);
	} else if (rc < 0) {
		log_warnx("checkpoint: %s", err);
	}
	return 0;
}

/* Before enforcing: is the key provider usable?  (Synchronous, at start.) */
static void
kms_first_check(struct agent *a, struct vconn *c, struct kms_health *out)
{
	struct kms_facts f;
	struct chk_report *rep = xcalloc(1, sizeof(*rep));

	memset(out, 0, sizeof(*out));
	if (check_gather(c, a->cfg, 0, &f) == 0) {
		kms_evaluate(a->cfg, &f, rep);
		out->known = 1;
		out->usable = rep->kms_usable;
		snprintf(out->provider, sizeof(out->provider), "%s", rep->provider);
		snprintf(out->reason, sizeof(out->reason), "%s", rep->kms_reason);
		if (rep->kms_usable)
			log_info("KMS health: key provider %s usable", rep->provider);
	}
	kms_facts_free(&f);
	free(rep);
	vconn_reset(c);
}

/* ---------------------------------------------------------------- */
/* service: /metrics, /healthz, systemd watchdog                     */

/* Live: the watcher's calls work and its last wait returned recently. */
static int
stream_live(struct agent *a, char *why, size_t len)
{
	long long ok = atomic_load(&a->stream_ok_at), age = (long long)time(NULL) - ok;
	int stale = WAIT_SECONDS + a->cfg->timeout + 10;

	if (!a->collector_ready || ok == 0) {
		snprintf(why, len, "not yet watching vCenter's events");
		return 0;
	}
	if (atomic_load(&a->stream_err)) {
		snprintf(why, len, "the last call to vCenter failed; reconnecting");
		return 0;
	}
	if (age > stale) {
		snprintf(why, len, "no answer from vCenter for %lld s", age);
		return 0;
	}
	snprintf(why, len, "logged in, event stream live (last poll %lld s ago)", age);
	return 1;
}

static void
on_http(void *arg, const char *path, struct httpd_resp *r)
{
	struct agent *a = arg;
	char why[256];

	if (strcmp(path, "/healthz") == 0) {
		int ok = stream_live(a, why, sizeof(why));
		r->status = ok ? 200 : 503;
		r->body = xasprintf("%s: %s%s\n", ok ? "ok" : "unhealthy", why,
		    a->kms_unhealthy ? "; KMS unusable (encryption paused)" : "");
		r->len = strlen(r->body);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		struct gauges g;
		memset(&g, 0, sizeof(g));
		for (size_t b = 0; b < NBUCKETS; b++)
			for (struct vmrec *v = a->buckets[b]; v; v = v->hnext)
				if (v->known)
					g.vms[v->state]++;
		g.stream_live = stream_live(a, why, sizeof(why));
		g.vcenter_up = a->collector_ready && !atomic_load(&a->stream_err);
		g.event_lag = a->event_lag;
		g.last_reconcile = (double)a->last_reconcile;
		g.last_kms_check = (double)a->kms.checked;
		g.kms_provider = a->kms.known ? a->kms.provider : NULL;
		g.kms_usable = a->kms.usable;
		g.breaker_open = a->breaker_open;
		g.in_flight = a->tasks;
		g.dry_run = a->dry_run;
		g.version = VMCRYPT_VERSION;
		r->status = 200;
		r->type = "text/plain; version=0.0.4; charset=utf-8";
		r->body = metrics_render(&a->met, &g, &r->len);
		return;
	}
}

static void
on_poll_timer(uv_timer_t *t)
{
	struct agent *a = t->data;
	if (a->tasks > 0 && !a->polling && !a->closing) {
		a->polling = 1;
		job_submit(a, job_new(a, J_POLL));
	}
}

static void
on_hint_timer(uv_timer_t *t)
{
	poll_now(t->data);
}

/* Reads the running tasks now (or right after the poll under way). */
static void
poll_now(struct agent *a)
{
	if (a->closing || a->tasks == 0)
		return;
	if (a->polling) {
		a->poll_again = 1;
		return;
	}
	uv_timer_stop(&a->hint_t);
	a->polling = 1;
	job_submit(a, job_new(a, J_POLL));
}

/*
 * A VmReconfiguredEvent on a VM whose task is followed: vCenter posts it as
 * the reconfigure completes, so the task is read now rather than at the next
 * TASK_POLL_MS tick.  The poll stays the authority (it sees failures, which
 * post no such event); the event only brings it forward.
 */
static void
hint_task(struct agent *a, const struct vmrec *r)
{
	int found = 0;

	pthread_mutex_lock(&a->mtx);
	for (struct follow *f = a->follows; f; f = f->next)
		if (strcmp(f->vm, r->moref) == 0) {
			f->hint = HINT_POLLS;
			found = 1;
		}
	pthread_mutex_unlock(&a->mtx);
	if (found)
		poll_now(a);
}

static void
on_watchdog(uv_timer_t *t)
{
	notify_send("WATCHDOG=1");	/* the loop turns: that is what it proves */
	(void)t;
}

static int
engine(struct agent *a)
{
	struct kms_health kms_first;
	char err[1024];
	char *password;
	int rc;

	if ((password = config_read_password(a->cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	if ((a->s = vsession_new(a->cfg, err, sizeof(err))) == NULL) {
		secret_free(password);
		log_error("%s", err);
		return EXIT_CONNECT;
	}
	rc = vsession_open(a->s, password, err, sizeof(err));
	secret_free(password);
	if (rc != 0) {
		log_error("%s", err);
		vsession_free(a->s);
		return cli_exit_for(rc);
	}

	a->max_key = -1;
	if (prepare_state_dir(a) != 0) {
		vsession_close(a->s);
		vsession_free(a->s);
		return EXIT_CONFIG;
	}
	a->enf = enforcer_new();
	{
		struct vconn *c = vconn_new(a->s);
		vconn_set_timeout(c, a->cfg->timeout);
		rc = enforcer_configure(a->enf, a->cfg, c, err, sizeof(err));
		if (rc == 0 && a->cfg->encrypt)
			kms_first_check(a, c, &kms_first);
		if (rc == 0 && a->begin_time[0] == '\0' &&
		    vim_current_time(c, a->begin_time, sizeof(a->begin_time)) != 0)
			a->begin_time[0] = '\0';
		vconn_free(c);
	}
	if (rc != 0) {
		log_error("%s", err);
		enforcer_free(a->enf);
		vsession_close(a->s);
		vsession_free(a->s);
		return EXIT_FAIL;
	}

	pthread_mutex_init(&a->mtx, NULL);
	a->tail = &a->head;
	a->qtail = &a->qhead;
	if (uv_loop_init(&a->loop) != 0)
		fatalx("uv_loop_init failed");
	uv_signal_init(&a->loop, &a->sigterm);
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sighup);
	uv_timer_init(&a->loop, &a->keepalive);
	uv_timer_init(&a->loop, &a->reconcile_t);
	uv_timer_init(&a->loop, &a->retry_t);
	uv_timer_init(&a->loop, &a->drain_t);
	uv_timer_init(&a->loop, &a->kms_t);
	uv_timer_init(&a->loop, &a->watchdog_t);
	uv_timer_init(&a->loop, &a->poll_t);
	a->poll_t.data = a;
	uv_timer_init(&a->loop, &a->hint_t);
	a->hint_t.data = a;
	uv_timer_init(&a->loop, &a->confirm_t);
	a->confirm_t.data = a;
	a->ctail = &a->chead;
	uv_timer_start(&a->poll_t, on_poll_timer, TASK_POLL_MS, TASK_POLL_MS);
	uv_async_init(&a->loop, &a->wake, on_wake);
	a->event_lag = -1;
	if (!a->once && a->cfg->metrics_listen[0] != '\0') {
		a->httpd = httpd_start(&a->loop, a->cfg->metrics_listen, on_http, a, err,
		    sizeof(err));
		if (a->httpd == NULL) {
			log_error("%s; change <metrics listen=...> in %s (listen=\"\" turns it "
			    "off)", err, a->config_path);
			a->exit_code = EXIT_CONFIG;
			close_all(a);
			uv_run(&a->loop, UV_RUN_DEFAULT);
			uv_loop_close(&a->loop);
			pthread_mutex_destroy(&a->mtx);
			enforcer_free(a->enf);
			vsession_close(a->s);
			vsession_free(a->s);
			return EXIT_CONFIG;
		}
		log_info("metrics and health on http://%s/metrics and /healthz",
		    a->cfg->metrics_listen);
	}
	if (!a->once && notify_watchdog_usec() > 0) {
		uint64_t ms = notify_watchdog_usec() / 2000;
		uv_timer_start(&a->watchdog_t, on_watchdog, ms ? ms : 1, ms ? ms : 1);
	}
	a->sigterm.data = a->sigint.data = a->sighup.data = a;
	a->keepalive.data = a->wake.data = a->reconcile_t.data = a->retry_t.data = a;
	a->kms_t.data = a;
	a->drain_t.data = a;
	uv_signal_start(&a->sigterm, on_stop, SIGTERM);
	uv_signal_start(&a->sigint, on_stop, SIGINT);
	if (!a->once)
		uv_signal_start(&a->sighup, on_reload, SIGHUP);
	uv_timer_start(&a->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
	if (!a->once)
		uv_timer_start(&a->kms_t, on_kms_timer,
		    (uint64_t)a->cfg->kms_health_interval * 1000,
		    (uint64_t)a->cfg->kms_health_interval * 1000);
	if (kms_first.known)
		kms_verdict(a, kms_first.usable, kms_first.provider, kms_first.reason);
	if (!a->once)
		uv_timer_start(&a->reconcile_t, on_reconcile_timer,
		    (uint64_t)a->cfg->reconcile_interval * 1000,
		    (uint64_t)a->cfg->reconcile_interval * 1000);

	if (uv_thread_create(&a->watcher, watcher_main, a) != 0)
		fatalx("cannot start the watcher thread");
	a->watcher_started = 1;
	if (!a->once)
		notify_send("READY=1\nSTATUS=logged in to %s; reconciling every VM%s",
		    a->cfg->vc_url, a->kms_unhealthy ? "; KMS unusable: encryption paused" : "");
	if (!a->once)
		log_info("agent running (pid %d)%s; policy \"%s\", up to %d in flight",
		    (int)getpid(), a->dry_run ? " in dry-run mode: nothing will be changed" : "",
		    a->cfg->policy_name ? a->cfg->policy_name : enforcer_policy_id(a->enf),
		    a->cfg->max_in_flight);

	uv_run(&a->loop, UV_RUN_DEFAULT);
	drain_notes(a);

	for (int i = 0; i < a->nconns; i++)
		vconn_free(a->conns[i]);
	vsession_close(a->s);
	vsession_free(a->s);
	rc = uv_loop_close(&a->loop);
	if (rc != 0)
		log_warnx("event loop closed with handles still open: %s", uv_strerror(rc));
	while (a->follows) {
		struct follow *f = a->follows;
		a->follows = f->next;
		free(f);
	}
	for (size_t b = 0; b < NBUCKETS; b++)
		while (a->buckets[b]) {
			struct vmrec *r = a->buckets[b];
			a->buckets[b] = r->hnext;
			rec_free(r);
		}
	pthread_mutex_destroy(&a->mtx);
	enforcer_free(a->enf);
	/* Joins libuv's pool threads, so that each frees what OpenSSL keeps
	 * per thread (error queue, DRBGs) as a thread does when it exits. */
	uv_library_shutdown();
	if (!a->once)
		log_info("stopped: %lu events, %lu reconfigurations (%lu done, %lu failed)",
		    a->met.events, a->n_reconfigs, a->met.remediation_ok, a->met.remediation_err);
	if (rc != 0 && a->exit_code == EXIT_OK)
		a->exit_code = EXIT_FAIL;
	return a->exit_code;
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

static int
run_common(int argc, char **argv, int once)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "trace-soap", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = once ? "reconcile" : "run";
	const char *trace = NULL;
	struct agent *a = xcalloc(1, sizeof(*a));
	int ch, rc, dry = 0;

	a->once = once;
	while ((ch = getopt_long(argc, argv, "c:nT:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': a->config_path = optarg; break;
		case 'n': dry = 1; break;
		case 'T': trace = optarg; break;
		case 'j': a->json = 1; break;
		case 'h':
			if (once)
				printf("usage: vmcrypt-agent reconcile --config FILE [--dry-run] [--json]\n"
				    "                                 [--trace-soap DIR]\n\n"
				    "One pass over every VM: brings each in-scope VM to policy (one\n"
				    "ReconfigVM_Task each, at most max-in-flight at a time), follows\n"
				    "the tasks to the end, then prints every VM with its state and reason.\n"
				    "--dry-run computes and prints what would change and changes nothing.\n\n"
				    "exit status: 0 every VM in scope is compliant; 1 some are not (pending,\n"
				    "deferred until power-off, blocked by snapshots, failed); 3 bad\n"
				    "configuration; 4 vCenter unreachable; 5 login failed.\n\n"
				    "  --trace-soap DIR  write every request and answer to DIR (secrets redacted)\n");
			else
				printf("usage: vmcrypt-agent run --config FILE [--dry-run] [--trace-soap DIR]\n\n"
				    "Runs the agent in the foreground: logs in to vCenter, reconciles every\n"
				    "VM, then follows vCenter's events and brings each new or changed VM of\n"
				    "hardware version 13+ to policy (encryption storage policy and key on\n"
				    "home and disks, Encrypted vMotion required).  A full reconcile runs\n"
				    "every reconcile-interval.  --dry-run logs every change and makes none.\n"
				    "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads FILE.\n\n"
				    "  --trace-soap DIR  write every request and answer to DIR (secrets redacted)\n"
				    "  (or <trace-soap dir=... keep=.../> in FILE; the newest keep exchanges)\n");
			free(a);
			return EXIT_OK;
		default:
			free(a);
			return EXIT_USAGE;
		}
	}
	if (a->config_path == NULL || optind != argc || (a->json && !once)) {
		fprintf(stderr, "usage: vmcrypt-agent %s --config FILE [--dry-run]%s\n", cmd,
		    once ? " [--json]" : "");
		free(a);
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(a->config_path, &a->cfg)) != EXIT_OK) {
		free(a);
		return rc;
	}
	if ((rc = cli_trace_soap(a->cfg, trace)) != EXIT_OK) {
		config_free(a->cfg);
		free(a);
		return rc;
	}
	a->dry_run = dry || a->cfg->dry_run;
	a->cfg->dry_run = a->dry_run;
	size_pool(a->cfg->max_in_flight);
	if (!once)
		notify_init();
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	rc = engine(a);
	config_free(a->cfg);
	while (a->retired) {
		struct retired *rt = a->retired;
		a->retired = rt->next;
		config_free(rt->c);
		free(rt);
	}
	free(a);
	return rc;
}

int
cmd_run(int argc, char **argv)
{
	return run_common(argc, argv, 0);
}

int
cmd_reconcile(int argc, char **argv)
{
	return run_common(argc, argv, 1);
}
