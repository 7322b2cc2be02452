#include "watch.h"
#include "backoff.h"
#include "evmap.h"
#include "log.h"
#include "notes.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENT_PAGE	1000		/* ReadNextEvents maxCount */
#define LATEST_PAGE	1		/* latestPage size: only a wake-up */

/* The events followed are evmap.c's table, and only those. */

/* The watcher's own state, on its stack. */
struct wstate {
	struct watch	*w;
	struct vconn	*c;
	struct vmoref	 pc, coll;
	unsigned	 gen, seed;
	char		 version[256];
	int		 backoff;
	int		 read_events;
	int		 posted;
};

static int
on_event(void *arg, const xnode *ev)
{
	struct wstate *ws = arg;
	struct note *n = xcalloc(1, sizeof(*n));
	struct vevent_fields f;

	vim_event_fields(ev, &f);
	snprintf(n->msg, sizeof(n->msg), "%s", f.msg);
	n->kind = N_EVENT;
	n->key = f.key;
	snprintf(n->time, sizeof(n->time), "%s", f.time);
	snprintf(n->type, sizeof(n->type), "%s", f.type);
	snprintf(n->vm, sizeof(n->vm), "%s", f.vm);
	snprintf(n->vmname, sizeof(n->vmname), "%s", f.vm_name);
	notes_post(ws->w->notes, n, 0);
	ws->posted++;
	return 0;
}

/* The collector's only filter is latestPage: any change means "read on". */
static int
on_update(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	struct wstate *ws = arg;
	(void)kind; (void)n; (void)names; (void)vals;
	if (strcmp(obj->type, "EventHistoryCollector") == 0)
		ws->read_events = 1;
	return 0;
}

static void
post(struct watch *w, enum note_kind kind, const char *msg)
{
	struct note *n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	snprintf(n->msg, sizeof(n->msg), "%s", msg ? msg : "");
	notes_post(w->notes, n, 1);
}

/* Sleeps up to ms, waking early when the agent stops. */
static void
nap(struct watch *w, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&w->stopping); t += 100)
		usleep(100 * 1000);
}

/* A failed call: said once, then a capped, jittered pause. */
static void
failed(struct wstate *ws)
{
	char m[900];
	int d = backoff_watch_ms(&ws->backoff, (unsigned)rand_r(&ws->seed));

	snprintf(m, sizeof(m), "watcher: %s; retrying in %.1f s", vconn_error(ws->c),
	    d / 1000.0);
	atomic_store(&ws->w->err, 1);
	post(ws->w, N_ERROR, m);
	nap(ws->w, d);
}

/*
 * (Re)creates the session-scoped objects.  The event collector starts at
 * the begin time (the checkpoint's, or start-up's), so nothing between two
 * sessions is missed.  0, or -1 after a pause.
 */
static int
watch_connect(struct wstate *ws)
{
	static const char *const lpaths[] = { "latestPage" };
	struct watch *w = ws->w;
	struct vmoref filter;
	const char *types[EVMAP_MAX];
	size_t ntypes = 0;
	int rc;

	for (; ntypes < evmap_count && ntypes < EVMAP_MAX; ntypes++)
		types[ntypes] = evmap_table[ntypes].type;
	ws->gen = vsession_generation(w->s);
	ws->version[0] = '\0';
	rc = vim_create_property_collector(ws->c, &ws->pc);
	if (rc == 0 && !w->once)
		rc = vim_create_event_collector(ws->c, w->begin_time, types, ntypes,
		    LATEST_PAGE, &ws->coll);
	if (rc == 0 && !w->once)
		rc = vim_create_object_filter(ws->c, &ws->pc, &ws->coll,
		    "EventHistoryCollector", lpaths, 1, &filter);
	if (rc != 0) {
		ws->pc.value[0] = '\0';
		failed(ws);
		return -1;
	}
	pthread_mutex_lock(&w->mtx);
	w->pc = ws->pc;
	pthread_mutex_unlock(&w->mtx);
	atomic_store(&w->ok_at, (long long)time(NULL));
	atomic_store(&w->err, 0);
	ws->read_events = !w->once;
	/* The first time the loop reconciles every VM; after a reconnect it
	 * catches up the same way, since a restarted vCenter may not have kept
	 * every event the old collector would have returned. */
	post(w, N_READY, NULL);
	log_debug("watcher: collector %s, events %s", ws->pc.value, ws->coll.value);
	return 0;
}

/* Reads forward until the collector has nothing newer. */
static void
watch_read_events(struct wstate *ws)
{
	while (ws->read_events && !atomic_load(&ws->w->stopping)) {
		int count = 0;
		ws->read_events = 0;
		if (vim_read_next_events(ws->c, &ws->coll, EVENT_PAGE, on_event, ws, &count) != 0) {
			log_warnx("watcher: %s", vconn_error(ws->c));
			break;
		}
		if (ws->posted)
			notes_wake(ws->w->notes);
		ws->posted = 0;
		if (count == EVENT_PAGE)
			ws->read_events = 1;
	}
}

/* One wait; 0 to go on, -1 after a failure (and its pause). */
static int
watch_wait(struct wstate *ws)
{
	struct watch *w = ws->w;
	int rc = vim_wait_for_updates(ws->c, &ws->pc, ws->version, sizeof(ws->version),
	    WATCH_WAIT_SECONDS, on_update, ws);

	if (rc == V_ERR_CANCELED)
		return 0;		/* the loop condition decides */
	if (rc != 0) {
		if (ws->gen != vsession_generation(w->s)) {
			/* Logged in again during the call: the collectors
			 * belonged to the old session.  Recreate them now. */
			post(w, N_ERROR, "watcher: new vCenter session; recreating the "
			    "collectors");
			ws->pc.value[0] = '\0';
			return 0;
		}
		failed(ws);
		return -1;
	}
	atomic_store(&w->ok_at, (long long)time(NULL));
	atomic_store(&w->err, 0);
	ws->backoff = WATCH_BASE_MS;
	return 0;
}

static void
watch_main(void *arg)
{
	struct watch *w = arg;
	struct wstate ws;

	memset(&ws, 0, sizeof(ws));
	ws.w = w;
	ws.c = vconn_new(w->s);
	ws.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	ws.backoff = WATCH_BASE_MS;
	/* recv_timeout must outlast the server-side wait. */
	vconn_set_timeout(ws.c, WATCH_WAIT_SECONDS + w->timeout);
	while (!atomic_load(&w->stopping)) {
		if ((ws.pc.value[0] == '\0' || ws.gen != vsession_generation(w->s)) &&
		    watch_connect(&ws) != 0)
			continue;
		watch_read_events(&ws);
		watch_wait(&ws);
	}
	if (ws.pc.value[0]) {
		vconn_set_timeout(ws.c, 10);
		if (ws.coll.value[0])
			vim_destroy_collector(ws.c, &ws.coll);
		vim_destroy_property_collector(ws.c, &ws.pc);
	}
	vconn_free(ws.c);
	atomic_store(&w->done, 1);
	notes_wake(w->notes);
}

int
watch_start(struct watch *w, struct vsession *s, struct notes *notes, int once, int timeout,
    const char *begin_time)
{
	w->s = s;
	w->notes = notes;
	w->once = once;
	w->timeout = timeout;
	snprintf(w->begin_time, sizeof(w->begin_time), "%s", begin_time);
	atomic_store(&w->stopping, 0);
	atomic_store(&w->done, 0);
	atomic_store(&w->ok_at, 0);
	atomic_store(&w->err, 0);
	pthread_mutex_init(&w->mtx, NULL);
	w->pc.value[0] = '\0';
	if (uv_thread_create(&w->thread, watch_main, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

void
watch_stop(struct watch *w)
{
	atomic_store(&w->stopping, 1);
}

int
watch_stopping(struct watch *w)
{
	return atomic_load(&w->stopping);
}

int
watch_out(struct watch *w)
{
	return w->started && atomic_load(&w->done);
}

int
watch_cancel(struct watch *w, struct vconn *c)
{
	struct vmoref pc;

	pthread_mutex_lock(&w->mtx);
	pc = w->pc;
	pthread_mutex_unlock(&w->mtx);
	return pc.value[0] ? vim_cancel_wait(c, &pc) : 0;
}

void
watch_join(struct watch *w)
{
	if (!w->started)
		return;
	uv_thread_join(&w->thread);
	w->started = 0;
	pthread_mutex_destroy(&w->mtx);
}
