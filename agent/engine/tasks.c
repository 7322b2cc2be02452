#include "tasks.h"
#include "log.h"
#include "evidence.h"
#include "notes.h"
#include "pool.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void poll_now(struct tasks *);

/* Stops following task (from the poll thread); NULL if it was not. */
static struct follow *
unfollow(struct tasks *t, const char *task)
{
	struct follow *f = NULL, **pp;

	pthread_mutex_lock(&t->mtx);
	for (pp = &t->list; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->task.value, task) == 0) {
			f = *pp;
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&t->mtx);
	return f;
}

struct poll {
	struct tasks	*t;
	int		 posted;
	int		 hinted;	/* hinted tasks still running */
	struct note	*ended, **tail;	/* finished tasks, posted after their
					   evidence is on disk */
};

/* A finished task's note: kept until its evidence is on disk. */
static void
ended(struct poll *p, struct note *no)
{
	no->next = NULL;
	*p->tail = no;
	p->tail = &no->next;
}

static void vanished(struct poll *, const struct vmoref *);

/* Whether task is followed for a VM other than vm (its id was reused: a
 * vCenter restored from a backup or a simulator reloaded counts again). */
static int
other_vm(struct tasks *t, const char *task, const char *vm)
{
	int other = 0;

	pthread_mutex_lock(&t->mtx);
	for (struct follow *f = t->list; f; f = f->next)
		if (strcmp(f->task.value, task) == 0)
			other = strcmp(f->vm, vm) != 0;
	pthread_mutex_unlock(&t->mtx);
	return other;
}

/* One task's info.state / info.error: a finished one becomes a note. */
static int
task_read_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct poll *p = arg;
	const char *state = NULL, *entity = NULL, *done = "";
	const xnode *err = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "info.state") == 0)
			state = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.completeTime") == 0)
			done = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.error") == 0)
			err = vals[i];
		else if (strcmp(names[i], "info.entity") == 0)
			entity = xnode_text(vals[i]);
	}
	/* Not the task we started: ours is gone. */
	if (entity == NULL || other_vm(p->t, obj->value, entity)) {
		vanished(p, obj);
		return 0;
	}
	if (state == NULL || (strcmp(state, "success") != 0 && strcmp(state, "error") != 0))
		return 0;
	struct follow *f = unfollow(p->t, obj->value);
	if (f == NULL)
		return 0;
	struct note *no = xcalloc(1, sizeof(*no));
	no->kind = N_TASK;
	snprintf(no->vm, sizeof(no->vm), "%s", f->vm);
	snprintf(no->task, sizeof(no->task), "%s", obj->value);
	no->ok = strcmp(state, "success") == 0;
	snprintf(no->time, sizeof(no->time), "%s", done);
	if (err != NULL) {
		const char *m = xnode_path_text(err, "localizedMessage");
		const xnode *fault = xnode_child(err, "fault");
		snprintf(no->fault, sizeof(no->fault), "%s", fault ? xnode_type(fault) : "");
		snprintf(no->msg, sizeof(no->msg), "%s", m && *m ? m : no->fault);
		const char *fm = fault ? xnode_path_text(fault, "faultMessage.message") : NULL;
		if (fm && (!m || !*m))
			snprintf(no->msg, sizeof(no->msg), "%s: %s", no->fault, fm);
	}
	ended(p, no);
	free(f);
	return 0;
}

/* A task that vanished (a vCenter restart, or purged): the loop looks at
 * the VM again after a backoff. */
static void
vanished(struct poll *p, const struct vmoref *task)
{
	struct follow *f = unfollow(p->t, task->value);
	if (f == NULL)
		return;
	struct note *no = xcalloc(1, sizeof(*no));
	no->kind = N_TASK;
	snprintf(no->vm, sizeof(no->vm), "%s", f->vm);
	snprintf(no->task, sizeof(no->task), "%s", f->task.value);
	snprintf(no->msg, sizeof(no->msg), "task vanished before it finished");
	ended(p, no);
	free(f);
}

/* The finished tasks' evidence on disk first (a task's end is counted by
 * the loop only once its record is), then their notes. */
static void
post_ended(struct poll *p)
{
	struct tasks *t = p->t;
	char err[512];

	if (p->ended == NULL)
		return;
	if (t->ev != NULL) {
		for (struct note *no = p->ended; no; no = no->next) {
			const struct evrec rec = { .kind = "action", .vc_time = no->time,
			    .vm = no->vm, .task = no->task,
			    .result = no->ok ? "done" : no->fault[0] ? "failed" : "vanished",
			    .fault = no->fault };
			evidence_append(t->ev, &rec);
		}
		/* A record that cannot be written is said; the task's end is
		 * still handled (the next flush retries the record). */
		if (evidence_flush(t->ev, err, sizeof(err)) != 0)
			log_warnx("evidence: %s", err);
	}
	while (p->ended != NULL) {
		struct note *no = p->ended;
		p->ended = no->next;
		notes_post(t->notes, no, 0);
		p->posted++;
	}
	p->tail = &p->ended;
}

/* Pool thread: every followed task in one read. */
static void
poll_work(struct vconn *c, void *arg)
{
	static const char *const tpaths[] = { "info.state", "info.error", "info.entity",
	    "info.completeTime" };
	struct poll *p = arg;
	struct tasks *t = p->t;
	struct vmoref *list;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&t->mtx);
	for (struct follow *f = t->list; f; f = f->next)
		cap++;
	list = xcalloc(cap ? cap : 1, sizeof(*list));
	for (struct follow *f = t->list; f && n < cap; f = f->next)
		list[n++] = f->task;
	pthread_mutex_unlock(&t->mtx);
	p->tail = &p->ended;
	if (n > 0 && vim_retrieve_objects(c, list, n, "Task", tpaths, 4, task_read_cb, p) != 0) {
		/* One task gone fails the whole call: read them one by one. */
		vconn_reset(c);
		for (size_t i = 0; i < n; i++) {
			int rc = vim_retrieve_objects(c, &list[i], 1, "Task", tpaths, 4,
			    task_read_cb, p);
			int gone = rc != 0 &&
			    strcmp(vconn_fault_type(c), "ManagedObjectNotFound") == 0;
			vconn_reset(c);
			if (rc != 0 && !gone)
				break;		/* vCenter trouble: next round */
			if (gone)
				vanished(p, &list[i]);
		}
	}
	free(list);
	post_ended(p);
	if (p->posted)
		notes_wake(t->notes);
	/* Hinted tasks still running: the event may precede the task's own
	 * end by a little; look again soon, a few times. */
	pthread_mutex_lock(&t->mtx);
	for (struct follow *f = t->list; f; f = f->next)
		if (f->hint > 0) {
			f->hint--;
			p->hinted++;
		}
	pthread_mutex_unlock(&t->mtx);
}

static void
on_hint_timer(uv_timer_t *h)
{
	poll_now(h->data);
}

/* Loop thread, after the poll. */
static void
poll_done(void *arg)
{
	struct poll *p = arg;
	struct tasks *t = p->t;

	t->polling = 0;
	if (t->again) {
		t->again = 0;
		poll_now(t);
	} else if (p->hinted > 0 && t->running > 0 && !t->closing) {
		uv_timer_start(&t->hint_t, on_hint_timer, TASKS_HINT_MS, 0);
	}
	free(p);
}

static void
poll_submit(struct tasks *t)
{
	struct poll *p = xcalloc(1, sizeof(*p));
	p->t = t;
	t->polling = 1;
	if (pool_submit(t->pool, poll_work, poll_done, p) != 0) {
		t->polling = 0;
		free(p);
	}
}

/* Reads the running tasks now (or right after the poll under way). */
static void
poll_now(struct tasks *t)
{
	if (t->closing || t->running == 0)
		return;
	if (t->polling) {
		t->again = 1;
		return;
	}
	uv_timer_stop(&t->hint_t);
	poll_submit(t);
}

static void
on_poll_timer(uv_timer_t *h)
{
	struct tasks *t = h->data;
	if (t->running == 0 || t->closing)
		uv_timer_stop(&t->poll_t);	/* idle: no wakeups */
	else if (!t->polling)
		poll_submit(t);
}

void
tasks_init(struct tasks *t, uv_loop_t *loop, struct pool *pool, struct notes *notes)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mtx, NULL);
	t->pool = pool;
	t->notes = notes;
	uv_timer_init(loop, &t->poll_t);
	uv_timer_init(loop, &t->hint_t);
	t->poll_t.data = t->hint_t.data = t;
}

void
tasks_follow(struct tasks *t, const struct vmoref *task, const char *vm)
{
	struct follow *f = xcalloc(1, sizeof(*f));
	f->task = *task;
	snprintf(f->vm, sizeof(f->vm), "%s", vm);
	pthread_mutex_lock(&t->mtx);
	f->next = t->list;
	t->list = f;
	pthread_mutex_unlock(&t->mtx);
	if (t->running++ == 0 && !t->closing && !uv_is_active((uv_handle_t *)&t->poll_t))
		uv_timer_start(&t->poll_t, on_poll_timer, TASKS_POLL_MS, TASKS_POLL_MS);
}

void
tasks_ended(struct tasks *t)
{
	if (t->running > 0)
		t->running--;
}

/*
 * vCenter posts VmReconfiguredEvent as the reconfigure completes, so the
 * task is read now rather than at the next tick.  The poll stays the
 * authority (it sees failures, which post no such event).
 */
void
tasks_hint(struct tasks *t, const char *vm)
{
	int found = 0;

	pthread_mutex_lock(&t->mtx);
	for (struct follow *f = t->list; f; f = f->next)
		if (strcmp(f->vm, vm) == 0) {
			f->hint = TASKS_HINT_POLLS;
			found = 1;
		}
	pthread_mutex_unlock(&t->mtx);
	if (found)
		poll_now(t);
}

void
tasks_close(struct tasks *t)
{
	t->closing = 1;
	uv_close((uv_handle_t *)&t->poll_t, NULL);
	uv_close((uv_handle_t *)&t->hint_t, NULL);
}

void
tasks_free(struct tasks *t)
{
	while (t->list) {
		struct follow *f = t->list;
		t->list = f->next;
		free(f);
	}
	pthread_mutex_destroy(&t->mtx);
}
