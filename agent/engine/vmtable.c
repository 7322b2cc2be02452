#include "vmtable.h"
#include "enforce.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sched_names[VM_SCHED_COUNT] = {
	"idle", "queued", "working", "task", "confirm", "backoff", "paused", "failed",
};

/* allowed[from] has bit (1 << to) set for every transition the engine
 * makes (the diagram in vmtable.h). */
#define B(s)	(1u << (s))
static const unsigned allowed[VM_SCHED_COUNT] = {
	[VM_IDLE]	= B(VM_QUEUED),
	[VM_QUEUED]	= B(VM_WORKING) | B(VM_IDLE),
	[VM_WORKING]	= B(VM_TASK) | B(VM_IDLE) | B(VM_QUEUED) | B(VM_BACKOFF) |
			  B(VM_PAUSED) | B(VM_FAILED),
	[VM_TASK]	= B(VM_CONFIRM) | B(VM_QUEUED) | B(VM_BACKOFF) | B(VM_PAUSED) |
			  B(VM_FAILED),
	[VM_CONFIRM]	= B(VM_WORKING) | B(VM_IDLE),
	[VM_BACKOFF]	= B(VM_QUEUED),
	[VM_PAUSED]	= B(VM_QUEUED),
	[VM_FAILED]	= B(VM_QUEUED),
};
#undef B

const char *
vm_sched_name(enum vm_sched s)
{
	return (unsigned)s < VM_SCHED_COUNT ? sched_names[s] : "?";
}

static void append(void *, struct vmrec *, const char *);

void
vm_table_init(struct vmtable *t)
{
	memset(t, 0, sizeof(*t));
	t->qtail = &t->qhead;
	vm_table_on_enter(t, VM_QUEUED, append, t);
}

void
vm_table_on_enter(struct vmtable *t, enum vm_sched s, vm_enter_fn fn, void *arg)
{
	t->enter[s].fn = fn;
	t->enter[s].arg = arg;
}

static void
rec_free(struct vmrec *r)
{
	free(r->name);
	free(r->reason);
	free(r->task_key);
	free(r->task);
	free(r->pend_time);
	free(r);
}

void
vm_table_clear(struct vmtable *t)
{
	for (size_t b = 0; b < VMTABLE_BUCKETS; b++)
		while (t->buckets[b]) {
			struct vmrec *r = t->buckets[b];
			t->buckets[b] = r->hnext;
			rec_free(r);
		}
	vm_table_init(t);
}

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % VMTABLE_BUCKETS;
}

struct vmrec *
vm_find(struct vmtable *t, const char *moref, int create)
{
	unsigned h = hash(moref);
	for (struct vmrec *r = t->buckets[h]; r; r = r->hnext)
		if (strcmp(r->moref, moref) == 0)
			return r;
	if (!create)
		return NULL;
	struct vmrec *r = xcalloc(1, sizeof(*r));
	snprintf(r->moref, sizeof(r->moref), "%s", moref);
	r->pend_key = -1;
	r->sched = VM_IDLE;
	r->hnext = t->buckets[h];
	t->buckets[h] = r;
	t->n++;
	t->count[VM_IDLE]++;
	return r;
}

/* Unlinks r from the ready queue (a VM removed while queued). */
static void
unqueue(struct vmtable *t, struct vmrec *r)
{
	struct vmrec **pp = &t->qhead;
	while (*pp && *pp != r)
		pp = &(*pp)->qnext;
	if (*pp == NULL)
		return;
	*pp = r->qnext;
	if (t->qtail == &r->qnext)
		t->qtail = pp;
	r->qnext = NULL;
	r->inq = 0;
}

void
vm_remove(struct vmtable *t, struct vmrec *r)
{
	if (r->inq)
		unqueue(t, r);
	vm_set_pend(t, r, -1, NULL);
	t->count[r->sched]--;
	struct vmrec **pp = &t->buckets[hash(r->moref)];
	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = r->hnext;
	t->n--;
	rec_free(r);
}

const char *
vm_name(const struct vmrec *r)
{
	return r->name ? r->name : r->moref;
}

int
vm_set_sched(struct vmtable *t, struct vmrec *r, enum vm_sched to, const char *why)
{
	enum vm_sched from = r->sched;

	if (from == to)
		return 0;
	if ((unsigned)to >= VM_SCHED_COUNT || !(allowed[from] & (1u << to))) {
		log_error("bug: VM %s (%s): no transition %s -> %s (%s)", vm_name(r), r->moref,
		    vm_sched_name(from), vm_sched_name(to), why);
		return -1;
	}
	log_debug("VM %s (%s): %s -> %s (%s)", vm_name(r), r->moref, vm_sched_name(from),
	    vm_sched_name(to), why);
	if (r->inq)		/* left QUEUED other than by vm_dequeue */
		unqueue(t, r);
	t->count[from]--;
	t->count[to]++;
	r->sched = to;
	if (t->enter[to].fn != NULL)
		t->enter[to].fn(t->enter[to].arg, r, why);
	return 0;
}

int
vm_busy(const struct vmrec *r)
{
	return r->sched == VM_WORKING || r->sched == VM_TASK || r->sched == VM_CONFIRM;
}

/* Entering QUEUED: the tail of the ready queue. */
static void
append(void *arg, struct vmrec *r, const char *why)
{
	struct vmtable *t = arg;

	(void)why;
	r->inq = 1;
	r->qnext = NULL;
	*t->qtail = r;
	t->qtail = &r->qnext;
}

void
vm_enqueue(struct vmtable *t, struct vmrec *r, const char *why)
{
	if (vm_busy(r)) {
		r->dirty = 1;
		return;
	}
	if (r->sched != VM_QUEUED)
		vm_set_sched(t, r, VM_QUEUED, why);
}

void
vm_requeue(struct vmtable *t, struct vmrec *r, const char *why)
{
	if (r->sched != VM_QUEUED)
		vm_set_sched(t, r, VM_QUEUED, why);
}

void
vm_done(struct vmtable *t, struct vmrec *r, const char *why)
{
	if (r->dirty) {
		r->dirty = 0;
		vm_requeue(t, r, "an event came meanwhile");
		return;
	}
	vm_set_sched(t, r, VM_IDLE, why);
}

struct vmrec *
vm_dequeue(struct vmtable *t)
{
	struct vmrec *r = t->qhead;
	if (r == NULL)
		return NULL;
	t->qhead = r->qnext;
	if (t->qhead == NULL)
		t->qtail = &t->qhead;
	r->qnext = NULL;
	r->inq = 0;
	r->dirty = 0;
	vm_set_sched(t, r, VM_WORKING, "a slot is free");
	return r;
}

void
vm_queue_clear(struct vmtable *t)
{
	while (t->qhead != NULL) {
		struct vmrec *r = t->qhead;
		t->qhead = r->qnext;
		r->qnext = NULL;
		r->inq = 0;
		vm_set_sched(t, r, VM_IDLE, "stopping");
	}
	t->qtail = &t->qhead;
}

void
vm_set_pend(struct vmtable *t, struct vmrec *r, long long key, const char *time)
{
	if ((r->pend_key >= 0) != (key >= 0))
		key >= 0 ? t->npend++ : t->npend--;
	if (r->pend_key != key)
		t->pend_gen++;
	r->pend_key = key;
	if (key >= 0) {
		if (time == NULL)
			time = "";
		if (r->pend_time == NULL || strcmp(r->pend_time, time) != 0) {
			free(r->pend_time);
			r->pend_time = xstrdup(time);
		}
	}
}

void
vm_set_decision(struct vmtable *t, struct vmrec *r, const struct verdict *v)
{
	int old = r->known ? (int)r->state : -1;

	if (v->name && *v->name && (r->name == NULL || strcmp(r->name, v->name) != 0)) {
		free(r->name);
		r->name = xstrdup(v->name);
	}
	r->state = v->state;
	r->known = 1;
	free(r->reason);
	r->reason = xstrdup(v->reason ? v->reason : "");
	if (old != (int)v->state && t->decided != NULL)
		t->decided(t->decided_arg, r, old, v);
}

void
vm_decide(struct vmtable *t, struct vmrec *r, const struct outcome *o)
{
	const struct verdict v = { o->name, o->state, o->code, o->reason, o->uuid, o->created };
	vm_set_decision(t, r, &v);
}

void
vm_table_on_decided(struct vmtable *t, vm_decided_fn fn, void *arg)
{
	t->decided = fn;
	t->decided_arg = arg;
}

void
vm_each(struct vmtable *t, enum vm_sched s, void (*fn)(void *, struct vmrec *), void *arg)
{
	int all = s == VM_SCHED_COUNT;

	for (size_t b = 0; (all || t->count[s] > 0) && b < VMTABLE_BUCKETS; b++)
		for (struct vmrec *r = t->buckets[b]; r; r = r->hnext)
			if (all || r->sched == s)
				fn(arg, r);
}
