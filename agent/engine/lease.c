/*
 * The leader lease (lease.h): one thread, one connection, one look or one
 * renewal per heartbeat.  Role changes reach the loop as notes; whether
 * this agent may act is one atomic read (lease_may_act), made by the
 * scheduler before it starts work and by each job right before it calls
 * GenerateKey or ReconfigVM_Task.
 */
#include "lease.h"

#include "inventory.h"
#include "log.h"
#include "notes.h"
#include "vim.h"
#include "xmalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t
lease_clock_ms(void)
{
	struct timespec ts;

	/* BOOTTIME runs on while the process is stopped or the host
	 * suspended: a paused holder finds its lease expired. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *
lease_value_identity(const char *value)
{
	const char *sp = strchr(value, ' ');
	return sp ? sp + 1 : NULL;
}

/* ---------------------------------------------------------------- */
/* the decisions                                                     */

enum lease_action
lease_decide(struct lease_state *st, const struct lease_view *v, const char *identity,
    uint64_t t0, uint64_t t1, int lease_ms)
{
	const char *id = lease_value_identity(v->value);

	if (v->epoch == 0)
		return LA_CLAIM;		/* nobody holds it */
	/* Released on a clean stop, or last held by us (this process lapsed,
	 * or a previous run on this state directory, which is locked): nobody
	 * acts under it. */
	if (strncmp(v->value, "released ", 9) == 0 || (id != NULL && strcmp(id, identity) == 0))
		return LA_CLAIM;
	if (v->epoch != st->seen_epoch || strcmp(v->value, st->seen_value) != 0) {
		/* A new heartbeat: it was written before t1. */
		st->seen_epoch = v->epoch;
		snprintf(st->seen_value, sizeof(st->seen_value), "%s", v->value);
		st->seen_at = t1;
		return LA_NONE;
	}
	/* Unchanged at t0 for a whole lease since it was first seen: the
	 * holder's own clock has run out (its renewals end before then). */
	return t0 >= st->seen_at + (uint64_t)lease_ms ? LA_CLAIM : LA_NONE;
}

enum lease_action
lease_renewed(struct lease_state *st, int ok, const struct lease_view *v, uint64_t t0,
    uint64_t t1, int lease_ms)
{
	if (v != NULL && v->epoch != st->epoch)
		return LA_LOST;			/* taken, or our field removed */
	/* A renewal that ends after the lease ran out does not revive it: a
	 * standby may already have claimed the next epoch. */
	if (t1 >= st->valid_until)
		return LA_LOST;
	if (ok)
		st->valid_until = t0 + (uint64_t)(lease_ms - lease_ms / 10);
	return LA_NONE;
}

/* ---------------------------------------------------------------- */
/* vCenter                                                           */

struct look {
	struct lease_view	*v;
	int			 found;
};

static int
value_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct look *l = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "customValue") != 0)
			continue;
		for (const xnode *x = xnode_first(vals[i]); x; x = xnode_next(x)) {
			const char *k = xnode_path_text(x, "key");
			const char *val = xnode_path_text(x, "value");
			if (k != NULL && atoi(k) == l->v->key) {
				snprintf(l->v->value, sizeof(l->v->value), "%s", val ? val : "");
				l->found = 1;
			}
		}
	}
	return 0;
}

/* The highest lease epoch, its value, and the older ones. */
static int
read_view(struct vconn *c, struct lease_view *v)
{
	static const char *const paths[] = { "customValue" };
	struct custom_fields f;
	size_t plen = strlen(LEASE_PREFIX);
	int rc;

	memset(v, 0, sizeof(*v));
	if ((rc = custom_fields_read(c, &f)) != 0) {
		vconn_reset(c);
		return rc;
	}
	for (size_t i = 0; i < f.n; i++) {
		if (strncmp(f.names[i], LEASE_PREFIX, plen) != 0)
			continue;
		char *end;
		long long e = strtoll(f.names[i] + plen, &end, 10);
		if (*end != '\0' || e <= 0)
			continue;
		if (e > v->epoch) {
			if (v->epoch > 0 && v->nold < sizeof(v->old) / sizeof(v->old[0]))
				v->old[v->nold++] = v->key;
			v->epoch = e;
			v->key = f.keys[i];
		} else if (v->nold < sizeof(v->old) / sizeof(v->old[0])) {
			v->old[v->nold++] = f.keys[i];
		}
	}
	custom_fields_free(&f);
	vconn_reset(c);
	if (v->epoch == 0)
		return 0;
	struct look l = { v, 0 };
	rc = vim_retrieve_objects(c, vsession_mo(vconn_session(c), VMO_ROOT_FOLDER), 1,
	    "Folder", paths, 1, value_cb, &l);
	vconn_reset(c);
	return rc;
}

static void
post(struct lease *l, enum note_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
post(struct lease *l, enum note_kind kind, const char *fmt, ...)
{
	struct note *no = xcalloc(1, sizeof(*no));
	va_list ap;

	no->kind = kind;
	va_start(ap, fmt);
	vsnprintf(no->msg, sizeof(no->msg), fmt, ap);
	va_end(ap);
	no->key = atomic_load(&l->epoch);
	if (l->notes == NULL) {		/* before the loop: said here */
		if (kind == N_ERROR || kind == N_STANDBY)
			log_warnx("%s", no->msg);
		else
			log_info("%s", no->msg);
		free(no);
		return;
	}
	notes_post(l->notes, no, 1);
}

static void
set_holder(struct lease *l, const char *who)
{
	pthread_mutex_lock(&l->mtx);
	snprintf(l->holder, sizeof(l->holder), "%s", who);
	pthread_mutex_unlock(&l->mtx);
}

static void
publish(struct lease *l)
{
	atomic_store(&l->valid_until, l->st.role == LEASE_LEADER ? l->st.valid_until : 0);
	atomic_store(&l->leader, l->st.role == LEASE_LEADER);
	atomic_store(&l->epoch, l->st.role == LEASE_LEADER ? l->st.epoch : l->st.seen_epoch);
}

static int
write_beat(struct lease *l, struct vconn *c, const char *what)
{
	char val[600];

	if (what == NULL)
		snprintf(val, sizeof(val), "%lu %s", l->st.beat, l->identity);
	else
		snprintf(val, sizeof(val), "%s %s", what, l->identity);
	return vim_field_set(c, vsession_mo(l->s, VMO_ROOT_FOLDER), l->st.key, val);
}

/* AddCustomFieldDef(epoch): 1 won, 0 lost to another agent, -1 trouble. */
static int
claim(struct lease *l, struct vconn *c, const struct lease_view *v, int quiet)
{
	char name[64], prev[512];
	long long epoch = v->epoch + 1;
	int key;
	uint64_t t0 = lease_clock_ms();

	snprintf(name, sizeof(name), LEASE_PREFIX "%lld", epoch);
	if (vim_field_add(c, name, "Folder", &key) != 0) {
		if (strcmp(vconn_fault_type(c), "DuplicateName") == 0) {
			l->st.seen_epoch = -1;		/* look again */
			return 0;
		}
		if (!quiet && strcmp(vconn_fault_type(c), "NoPermission") == 0)
			post(l, N_ERROR, "lease: vCenter refused AddCustomFieldDef: the account "
			    "lacks Global.ManageCustomFields (and Global.SetCustomField), so this "
			    "agent cannot hold the lease and acts on nothing; grant them on the "
			    "vCenter root, or run a single agent with <ha enabled=\"false\"/>");
		else if (!quiet)
			post(l, N_ERROR, "lease: cannot claim %s: %s", name, vconn_error(c));
		return -1;
	}
	/* Created is not won: a claim decided on an old look (a pause between
	 * the look and the call) may re-create an epoch the leader's cleanup
	 * removed, below the one that holds.  Ours must be the highest. */
	struct lease_view now;
	int rc = read_view(c, &now);
	if (rc != 0 || now.epoch != epoch) {
		(void)vim_field_remove(c, key);
		l->st.seen_epoch = -1;
		if (rc != 0 && !quiet)
			post(l, N_ERROR, "lease: cannot confirm %s: %s", name, vconn_error(c));
		return rc != 0 ? -1 : 0;
	}
	const char *was = lease_value_identity(v->value);
	int released = strncmp(v->value, "released ", 9) == 0;
	snprintf(prev, sizeof(prev), "%s", was && strcmp(was, l->identity) != 0 ? was : "");
	l->st.role = LEASE_LEADER;
	l->st.epoch = epoch;
	l->st.key = key;
	l->st.beat = 0;
	l->st.valid_until = t0 + (uint64_t)(l->lease_ms - l->lease_ms / 10);
	publish(l);
	atomic_store(&l->renewed_at, lease_clock_ms());
	set_holder(l, l->identity);
	if (write_beat(l, c, NULL) != 0)
		post(l, N_ERROR, "lease: cannot write the heartbeat: %s", vconn_error(c));
	/* The older epochs go: a holder paused under one finds its field gone. */
	for (size_t i = 0; i < now.nold; i++)
		(void)vim_field_remove(c, now.old[i]);
	if (prev[0] && !released)
		atomic_fetch_add(&l->failovers, 1);
	post(l, N_LEADER, "leader: holding the lease (epoch %lld)%s%s%s; acting", epoch,
	    !prev[0] ? "" : released ? ", released by " : ", taken over from ", prev,
	    !prev[0] || released ? "" : " after its heartbeat stopped");
	return 1;
}

/* A standby's look; a claim when the lease is free or stale. */
static int
look(struct lease *l, struct vconn *c, int quiet)
{
	struct lease_view v;
	uint64_t t0 = lease_clock_ms();

	if (read_view(c, &v) != 0) {
		if (!quiet)
			post(l, N_ERROR, "lease: cannot read it: %s", vconn_error(c));
		return -1;
	}
	uint64_t t1 = lease_clock_ms();
	const char *who = lease_value_identity(v.value);
	set_holder(l, v.epoch == 0 ? "" : who ? who : "(no heartbeat yet)");
	if (lease_decide(&l->st, &v, l->identity, t0, t1, l->lease_ms) == LA_CLAIM)
		return claim(l, c, &v, quiet);
	atomic_store(&l->renewed_at, l->st.seen_at);
	publish(l);
	return 0;
}

/* A leader's heartbeat. */
static void
beat(struct lease *l, struct vconn *c, int *failing)
{
	struct lease_view v;
	uint64_t t0 = lease_clock_ms();

	l->st.beat++;
	int ok = write_beat(l, c, NULL) == 0;
	if (!ok && !*failing)
		post(l, N_ERROR, "lease: heartbeat failed: %s", vconn_error(c));
	*failing = !ok;
	int read = read_view(c, &v) == 0;
	uint64_t t1 = lease_clock_ms();
	if (lease_renewed(&l->st, ok, read ? &v : NULL, t0, t1, l->lease_ms) == LA_NONE) {
		publish(l);
		if (ok)
			atomic_store(&l->renewed_at, t1);
		return;
	}
	const char *who = read ? lease_value_identity(v.value) : NULL;
	l->st.role = LEASE_STANDBY;
	l->st.seen_epoch = -1;
	publish(l);
	if (read && v.epoch > l->st.epoch)
		post(l, N_STANDBY, "standby: epoch %lld was taken by %s; acting on nothing",
		    v.epoch, who ? who : "another agent");
	else if (read && v.epoch < l->st.epoch)
		post(l, N_STANDBY, "standby: the lease field of epoch %lld is gone from vCenter "
		    "(removed, or vCenter restarted without it); acting on nothing until the "
		    "lease is held again", l->st.epoch);
	else
		post(l, N_STANDBY, "standby: the lease lapsed (no heartbeat written for %.1f s); "
		    "acting on nothing until it is held again",
		    (double)(t1 - (l->st.valid_until - (uint64_t)(l->lease_ms - l->lease_ms / 10))) /
		    1000.0);
}

static void
nap(struct lease *l, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&l->stopping); t += 50)
		usleep(50 * 1000);
}

/* A leader on its way out: stops acting, then says so in vCenter, so that
 * a standby claims the next epoch at once. */
static void
release(struct lease *l, struct vconn *c)
{
	if (l->st.role != LEASE_LEADER)
		return;
	l->st.role = LEASE_STANDBY;
	publish(l);
	vconn_set_timeout(c, 10);
	if (write_beat(l, c, "released") != 0)
		log_warnx("lease: cannot release it: %s", vconn_error(c));
}

static void
lease_main(void *arg)
{
	struct lease *l = arg;
	struct vconn *c = vconn_new(l->s);
	int failing = 0, look_failing = 0;

	vconn_set_timeout(c, l->timeout);
	while (!atomic_load(&l->stopping)) {
		nap(l, failing ? 1000 : l->beat_ms);
		if (atomic_load(&l->stopping))
			break;
		if (l->st.role == LEASE_LEADER)
			beat(l, c, &failing);
		else
			look_failing = look(l, c, look_failing) < 0;
	}
	release(l, c);
	vconn_free(c);
}

int
lease_first(struct lease *l, struct notes *notes, char *err, size_t errlen)
{
	struct vconn *c = vconn_new(l->s);
	int rc;

	l->notes = notes;
	pthread_mutex_init(&l->mtx, NULL);
	memset(&l->st, 0, sizeof(l->st));
	l->st.seen_epoch = -1;
	vconn_set_timeout(c, l->timeout);
	rc = look(l, c, 1);
	if (rc < 0)
		snprintf(err, errlen, "lease: %s", vconn_error(c));
	vconn_free(c);
	return rc < 0 ? -1 : l->st.role == LEASE_LEADER;
}

int
lease_acquire(struct lease *l, int wait_ms, char *err, size_t errlen)
{
	int rc = lease_first(l, NULL, err, errlen);
	uint64_t until = lease_clock_ms() + (uint64_t)wait_ms;

	if (rc == 0) {
		char who[512];
		lease_holder(l, who, sizeof(who));
		log_info("lease: held by %s; waiting up to %d s for it", who[0] ? who : "another agent",
		    wait_ms / 1000);
	}
	struct vconn *c = vconn_new(l->s);
	vconn_set_timeout(c, l->timeout);
	while (rc == 0 && lease_clock_ms() < until) {
		nap(l, l->beat_ms);
		if (look(l, c, 0) < 0)
			snprintf(err, errlen, "lease: %s", vconn_error(c));
		rc = l->st.role == LEASE_LEADER;
	}
	vconn_free(c);
	return rc;
}

void
lease_configure(struct lease *l, struct vsession *s, const char *identity, int enabled,
    int lease_ms, int beat_ms, int timeout)
{
	l->s = s;
	snprintf(l->identity, sizeof(l->identity), "%s", identity);
	l->enabled = enabled;
	l->lease_ms = lease_ms;
	l->beat_ms = beat_ms;
	l->timeout = timeout;
}

int
lease_start(struct lease *l)
{
	atomic_store(&l->stopping, 0);
	if (uv_thread_create(&l->thread, lease_main, l) != 0)
		return -1;
	l->started = 1;
	return 0;
}

int
lease_may_act(struct lease *l)
{
	if (!l->enabled)
		return 1;
	return lease_clock_ms() < atomic_load(&l->valid_until);
}

void
lease_stop(struct lease *l)
{
	if (l->started) {
		atomic_store(&l->stopping, 1);
		uv_thread_join(&l->thread);
		l->started = 0;
	} else if (l->enabled && l->st.role == LEASE_LEADER) {
		struct vconn *c = vconn_new(l->s);
		release(l, c);
		vconn_free(c);
	}
}

void
lease_destroy(struct lease *l)
{
	if (l->enabled)
		pthread_mutex_destroy(&l->mtx);
}

void
lease_holder(struct lease *l, char *out, size_t len)
{
	if (!l->enabled) {
		snprintf(out, len, "%s", "");
		return;
	}
	pthread_mutex_lock(&l->mtx);
	snprintf(out, len, "%s", l->holder);
	pthread_mutex_unlock(&l->mtx);
}
