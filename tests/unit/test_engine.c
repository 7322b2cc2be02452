/* The engine's decisions without vCenter: the VM state machine
 * (vmtable.c), the backoff bounds (backoff.c), the KMS breaker
 * (breaker.c), the on-enter actions of the states, and the scheduler
 * (sched.c) driven with an injected clock and submitter; the pool's
 * refusal through the real submitter (jobs.c, pool.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "breaker.h"
#include "config.h"
#include "core.h"
#include "health.h"
#include "jobs.h"
#include "lease.h"
#include "metrics.h"
#include "pace.h"
#include "pool.h"
#include "sched.h"
#include "tasks.h"
#include "vmtable.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------- */
/* vm_set_sched: the transitions of the diagram in vmtable.h, and only them */

/* Written from the diagram, not from vmtable.c's table. */
static int
documented(enum vm_sched from, enum vm_sched to)
{
	switch (from) {
	case VM_IDLE:    return to == VM_QUEUED;
	case VM_QUEUED:  return to == VM_WORKING || to == VM_IDLE;
	case VM_WORKING: return to == VM_TASK || to == VM_IDLE || to == VM_QUEUED ||
			     to == VM_BACKOFF || to == VM_PAUSED || to == VM_FAILED;
	case VM_TASK:    return to == VM_CONFIRM || to == VM_QUEUED || to == VM_BACKOFF ||
			     to == VM_PAUSED || to == VM_FAILED;
	case VM_CONFIRM: return to == VM_WORKING || to == VM_IDLE;
	case VM_BACKOFF: return to == VM_QUEUED;
	case VM_PAUSED:  return to == VM_QUEUED;
	case VM_FAILED:  return to == VM_QUEUED;
	default:         return 0;
	}
}

/* Puts r in state s through allowed transitions only. */
static void
walk_to(struct vmtable *t, struct vmrec *r, enum vm_sched s)
{
	static const enum vm_sched path[][4] = {
		[VM_IDLE]    = { VM_IDLE },
		[VM_QUEUED]  = { VM_QUEUED },
		[VM_WORKING] = { VM_QUEUED, VM_WORKING },
		[VM_TASK]    = { VM_QUEUED, VM_WORKING, VM_TASK },
		[VM_CONFIRM] = { VM_QUEUED, VM_WORKING, VM_TASK, VM_CONFIRM },
		[VM_BACKOFF] = { VM_QUEUED, VM_WORKING, VM_BACKOFF },
		[VM_PAUSED]  = { VM_QUEUED, VM_WORKING, VM_PAUSED },
		[VM_FAILED]  = { VM_QUEUED, VM_WORKING, VM_FAILED },
	};
	for (int i = 0; i < 4 && path[s][i] != VM_IDLE; i++)
		assert_int_equal(vm_set_sched(t, r, path[s][i], "test"), 0);
	assert_int_equal(r->sched, s);
}

static void
test_every_transition(void **st)
{
	(void)st;
	for (int from = 0; from < VM_SCHED_COUNT; from++)
		for (int to = 0; to < VM_SCHED_COUNT; to++) {
			struct vmtable t;
			vm_table_init(&t);
			struct vmrec *r = vm_find(&t, "vm-1", 1);
			walk_to(&t, r, from);
			int rc = vm_set_sched(&t, r, to, "test");
			if (from == to) {
				assert_int_equal(rc, 0);
			} else if (documented(from, to)) {
				assert_int_equal(rc, 0);
				assert_int_equal(r->sched, to);
				assert_int_equal(t.count[to], 1);
				assert_int_equal(t.count[from], 0);
			} else {
				/* Refused: nothing changes. */
				assert_int_equal(rc, -1);
				assert_int_equal(r->sched, from);
				assert_int_equal(t.count[from], 1);
				assert_int_equal(t.count[to], 0);
			}
			vm_table_clear(&t);
		}
}

static void
test_event_while_busy(void **st)
{
	struct vmtable t;
	(void)st;
	vm_table_init(&t);
	struct vmrec *r = vm_find(&t, "vm-7", 1);
	vm_enqueue(&t, r, "event");
	assert_ptr_equal(vm_dequeue(&t), r);
	assert_int_equal(r->sched, VM_WORKING);
	/* An event while it is worked on: not queued twice, marked. */
	vm_enqueue(&t, r, "event");
	assert_int_equal(r->sched, VM_WORKING);
	assert_null(t.qhead);
	assert_true(r->dirty);
	/* When the work is done, it is looked at again. */
	vm_done(&t, r, "decided");
	assert_int_equal(r->sched, VM_QUEUED);
	assert_ptr_equal(t.qhead, r);
	assert_false(r->dirty);
	assert_ptr_equal(vm_dequeue(&t), r);
	vm_done(&t, r, "decided");
	assert_int_equal(r->sched, VM_IDLE);
	vm_table_clear(&t);
}

static void
test_queue_order_and_remove(void **st)
{
	struct vmtable t;
	char m[16];
	(void)st;
	vm_table_init(&t);
	for (int i = 0; i < 5; i++) {
		snprintf(m, sizeof(m), "vm-%d", i);
		vm_enqueue(&t, vm_find(&t, m, 1), "test");
	}
	vm_remove(&t, vm_find(&t, "vm-4", 0));	/* the tail */
	vm_remove(&t, vm_find(&t, "vm-0", 0));	/* the head */
	vm_enqueue(&t, vm_find(&t, "vm-9", 1), "test");
	const char *want[] = { "vm-1", "vm-2", "vm-3", "vm-9" };
	for (int i = 0; i < 4; i++) {
		struct vmrec *r = vm_dequeue(&t);
		assert_non_null(r);
		assert_string_equal(r->moref, want[i]);
	}
	assert_null(vm_dequeue(&t));
	assert_int_equal(t.n, 4);
	assert_int_equal(t.count[VM_WORKING], 4);
	vm_table_clear(&t);
}

/* ---------------------------------------------------------------- */
/* backoff                                                           */

static void
test_retry_bounds(void **st)
{
	(void)st;
	uint64_t prev_lo = 0;
	for (unsigned a = 1; a <= 40; a++) {
		uint64_t base = (uint64_t)RETRY_BASE_MS;
		for (unsigned i = 1; i < a && base < RETRY_MAX_MS; i++)
			base *= 2;
		if (base > RETRY_MAX_MS)
			base = RETRY_MAX_MS;
		uint64_t lo = UINT64_MAX, hi = 0;
		for (unsigned rnd = 0; rnd < 200; rnd++) {
			uint64_t d = backoff_retry_ms(a, rnd * 2654435761u);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			assert_true(d * 100 >= base * 80);
			assert_true(d * 100 <= base * 120);
		}
		assert_true(hi > lo);		/* jittered */
		assert_true(lo >= prev_lo);	/* never shorter than before */
		prev_lo = lo;
	}
	assert_int_equal(backoff_retry_ms(1, 20), RETRY_BASE_MS);
	assert_int_equal(backoff_retry_ms(100, 40), RETRY_MAX_MS * 120 / 100);
}

static void
test_watch_backoff(void **st)
{
	int cur = 0, prev = 0;
	(void)st;
	for (int i = 0; i < 20; i++) {
		int want = prev == 0 ? WATCH_BASE_MS : prev * 2 > WATCH_MAX_MS ? WATCH_MAX_MS :
		    prev * 2;
		int d = backoff_watch_ms(&cur, 0);	/* rnd 0: -20% */
		assert_int_equal(d, want * 80 / 100);
		prev = want;
	}
	assert_int_equal(cur, WATCH_MAX_MS);
	assert_int_equal(backoff_watch_ms(&cur, 40), WATCH_MAX_MS * 120 / 100);
}

/* ---------------------------------------------------------------- */
/* the breaker                                                       */

static void
test_breaker_cycle(void **st)
{
	struct breaker b = { 0 };
	(void)st;
	assert_int_equal(breaker_gate(&b, 0), CRYPTO_ALLOWED);
	assert_int_equal(breaker_next(&b), UINT64_MAX);
	/* A failure opens it for BREAKER_MIN_MS. */
	assert_int_equal(breaker_trip(&b, 1000, 0), 1);
	assert_int_equal(breaker_next(&b), 1000 + BREAKER_MIN_MS);
	assert_int_equal(breaker_gate(&b, 1000 + BREAKER_MIN_MS - 1), CRYPTO_HELD);
	/* A job that started before it opened fails too: nothing new. */
	assert_int_equal(breaker_trip(&b, 1500, 0), 0);
	assert_int_equal(breaker_next(&b), 1000 + BREAKER_MIN_MS);
	/* Half-open: one probe, and only one. */
	assert_int_equal(breaker_gate(&b, 1000 + BREAKER_MIN_MS), CRYPTO_PROBE);
	assert_int_equal(breaker_gate(&b, 1000 + BREAKER_MIN_MS), CRYPTO_HELD);
	assert_int_equal(breaker_next(&b), UINT64_MAX);
	/* The probe fails: open twice as long. */
	assert_int_equal(breaker_trip(&b, 5000, 1), 2);
	assert_int_equal(breaker_next(&b), 5000 + 2 * BREAKER_MIN_MS);
	/* A probe that did not test the KMS gives its turn back. */
	assert_int_equal(breaker_gate(&b, 10000), CRYPTO_PROBE);
	breaker_probe_done(&b);
	assert_int_equal(breaker_gate(&b, 10000), CRYPTO_PROBE);
	/* It succeeds: closed, and the next failure starts short again. */
	assert_int_equal(breaker_close(&b), 1);
	assert_int_equal(breaker_gate(&b, 10000), CRYPTO_ALLOWED);
	assert_int_equal(breaker_close(&b), 0);
	assert_int_equal(breaker_trip(&b, 20000, 0), 1);
	assert_int_equal(breaker_next(&b), 20000 + BREAKER_MIN_MS);
}

static void
test_breaker_cap(void **st)
{
	struct breaker b = { 0 };
	(void)st;
	breaker_trip(&b, 0, 0);
	for (int i = 0; i < 30; i++)
		breaker_trip(&b, 0, 1);
	assert_int_equal(b.ms, BREAKER_MAX_MS);
	assert_int_equal(breaker_next(&b), BREAKER_MAX_MS);
}

static void
test_breaker_hold(void **st)
{
	struct breaker b = { 0 };
	(void)st;
	assert_int_equal(breaker_hold(&b, 1), 1);
	assert_int_equal(breaker_hold(&b, 1), 0);
	/* Held: no probe however long it waits, and a success does not
	 * release it (only the health check does). */
	assert_int_equal(breaker_gate(&b, UINT64_MAX - 1), CRYPTO_HELD);
	assert_int_equal(breaker_next(&b), UINT64_MAX);
	assert_int_equal(breaker_close(&b), 0);
	assert_int_equal(breaker_gate(&b, 0), CRYPTO_HELD);
	assert_int_equal(breaker_hold(&b, 0), 1);
	assert_int_equal(breaker_gate(&b, 0), CRYPTO_ALLOWED);
	assert_int_equal(breaker_hold(&b, 0), 0);
}

/* ---------------------------------------------------------------- */
/* the scheduler, with an injected clock and submitter               */

struct fake {
	struct core	 core;
	struct vmtable	 vms;
	struct tasks	 tasks;
	struct lease	 lease;		/* disabled: always acts */
	struct metrics	 met;
	struct health	 health;
	struct sched	 sched;
	uint64_t	 clock;
	int		 fail;		/* submissions that fail from now */
	int		 nsub;
	char		 sub[64][96];
	enum crypto_gate gate[64];
};

static uint64_t
fake_now(const struct core *c)
{
	return ((const struct fake *)c->clock_arg)->clock;
}

static int
fake_submit(void *arg, struct vmrec *r, enum crypto_gate g)
{
	struct fake *f = arg;
	if (f->fail) {
		f->fail--;
		return -1;
	}
	assert_true(f->nsub < 64);
	snprintf(f->sub[f->nsub], sizeof(f->sub[0]), "%s", r->moref);
	f->gate[f->nsub++] = g;
	assert_int_equal(r->sched, VM_WORKING);
	return 0;
}

static struct fake *
fake_new(int max_in_flight, int nvms)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	struct config *c = xcalloc(1, sizeof(*c));
	char m[16];

	c->max_in_flight = max_in_flight;
	f->core = (struct core){ .vms = &f->vms, .tasks = &f->tasks, .lease = &f->lease,
	    .met = &f->met, .cfg = cfgref_new(c), .accepting = 1, .now = fake_now,
	    .clock_arg = f };
	vm_table_init(&f->vms);
	health_init(&f->health, &f->core);
	sched_init(&f->sched, &f->core, &f->health, fake_submit, f);
	f->clock = 1000;
	for (int i = 0; i < nvms; i++) {
		snprintf(m, sizeof(m), "vm-%d", i);
		vm_enqueue(&f->vms, vm_find(&f->vms, m, 1), "test");
	}
	return f;
}

static void
fake_free(struct fake *f)
{
	vm_table_clear(&f->vms);
	cfgref_drop(f->core.cfg);
	free(f);
}

static void
test_sched_in_flight_limit(void **st)
{
	(void)st;
	struct fake *f = fake_new(3, 10);
	struct sched *s = &f->sched;

	assert_int_equal(sched_run(s), UINT64_MAX);
	assert_int_equal(f->nsub, 3);
	assert_int_equal(s->jobs, 3);
	assert_int_equal(f->vms.count[VM_WORKING], 3);
	assert_int_equal(f->vms.count[VM_QUEUED], 7);
	assert_string_equal(f->sub[0], "vm-0");
	assert_int_equal(f->gate[0], CRYPTO_ALLOWED);
	/* Full: a second turn starts nothing. */
	sched_run(s);
	assert_int_equal(f->nsub, 3);
	/* Tasks running in vCenter count against the same limit. */
	s->jobs = 1;
	f->tasks.running = 2;
	sched_run(s);
	assert_int_equal(f->nsub, 3);
	f->tasks.running = 1;
	sched_run(s);
	assert_int_equal(f->nsub, 4);
	assert_int_equal(s->jobs, 2);
	/* Stopping: nothing new starts. */
	s->jobs = 0;
	f->tasks.running = 0;
	f->core.accepting = 0;
	sched_run(s);
	assert_int_equal(f->nsub, 4);
	fake_free(f);
}

static void
test_sched_submit_fails(void **st)
{
	(void)st;
	struct fake *f = fake_new(4, 2);
	struct sched *s = &f->sched;

	f->fail = 1;
	uint64_t next = sched_run(s);
	/* Nothing started: the VM is not left busy and no job counts; it
	 * retries after a backoff, and the engine is told when. */
	assert_int_equal(f->nsub, 0);
	assert_int_equal(s->jobs, 0);
	struct vmrec *r = vm_find(&f->vms, "vm-0", 0);
	assert_int_equal(r->sched, VM_BACKOFF);
	assert_int_equal(r->attempts, 1);
	assert_int_equal(next, r->due);
	assert_true(r->due >= f->clock + RETRY_BASE_MS * 80 / 100);
	assert_true(r->due <= f->clock + RETRY_BASE_MS * 120 / 100);
	assert_int_equal(f->vms.count[VM_WORKING], 0);
	/* The next turn goes on with the rest. */
	sched_run(s);
	assert_int_equal(f->nsub, 1);
	assert_string_equal(f->sub[0], "vm-1");
	/* Not due yet: stays. */
	f->clock = r->due - 1;
	sched_run(s);
	assert_int_equal(r->sched, VM_BACKOFF);
	f->clock = r->due;
	sched_run(s);
	assert_int_equal(f->nsub, 2);
	assert_string_equal(f->sub[1], "vm-0");
	assert_int_equal(r->sched, VM_WORKING);
	fake_free(f);
}

static void
test_sched_gives_up(void **st)
{
	(void)st;
	struct fake *f = fake_new(1, 1);
	struct sched *s = &f->sched;
	struct vmrec *r = vm_find(&f->vms, "vm-0", 0);

	for (unsigned i = 1; i <= RETRY_ATTEMPTS; i++) {
		f->fail = 1;
		uint64_t next = sched_run(s);
		assert_int_equal(r->attempts, i);
		if (i < RETRY_ATTEMPTS) {
			assert_int_equal(r->sched, VM_BACKOFF);
			f->clock = next;
		}
	}
	assert_int_equal(r->sched, VM_FAILED);
	assert_int_equal(sched_run(s), UINT64_MAX);
	/* An event brings it back. */
	vm_enqueue(&f->vms, r, "VmReconfiguredEvent");
	sched_run(s);
	assert_int_equal(f->nsub, 1);
	fake_free(f);
}

static void
test_sched_breaker_probe(void **st)
{
	(void)st;
	struct fake *f = fake_new(8, 0);
	struct sched *s = &f->sched;
	char m[16];

	/* Five VMs wait for a key; the breaker opened at 1000. */
	breaker_trip(&f->health.breaker, 1000, 0);
	for (int i = 0; i < 5; i++) {
		snprintf(m, sizeof(m), "vm-%d", i);
		struct vmrec *r = vm_find(&f->vms, m, 1);
		walk_to(&f->vms, r, VM_PAUSED);
	}
	assert_int_equal(sched_run(s), 1000 + BREAKER_MIN_MS);
	assert_int_equal(f->nsub, 0);
	/* Half-open: exactly one of them goes, as the probe. */
	f->clock = 1000 + BREAKER_MIN_MS;
	assert_int_equal(sched_run(s), UINT64_MAX);
	assert_int_equal(f->nsub, 1);
	assert_int_equal(f->gate[0], CRYPTO_PROBE);
	assert_int_equal(f->vms.count[VM_PAUSED], 4);
	sched_run(s);
	assert_int_equal(f->nsub, 1);
	/* An event on a paused VM while open: worked on, without keys. */
	struct vmrec *other = vm_find(&f->vms, strcmp(f->sub[0], "vm-3") ? "vm-3" : "vm-4", 0);
	assert_int_equal(other->sched, VM_PAUSED);
	vm_enqueue(&f->vms, other, "event");
	sched_run(s);
	assert_int_equal(f->nsub, 2);
	assert_int_equal(f->gate[1], CRYPTO_HELD);
	fake_free(f);
}

/* The probe could not even be queued: the breaker's turn is given back. */
static void
test_sched_probe_not_queued(void **st)
{
	(void)st;
	struct fake *f = fake_new(8, 0);
	struct vmrec *r = vm_find(&f->vms, "vm-0", 1);

	breaker_trip(&f->health.breaker, 0, 0);
	walk_to(&f->vms, r, VM_PAUSED);
	f->clock = BREAKER_MIN_MS;
	f->fail = 1;
	sched_run(&f->sched);
	assert_false(f->health.breaker.probing);
	assert_int_equal(r->sched, VM_BACKOFF);
	assert_int_equal(f->sched.jobs, 0);
	fake_free(f);
}

/* The real submitter into a pool that refuses: no job, no VM busy, the
 * configuration reference given back (ASan sees a leak otherwise). */
static void
test_pool_refuses(void **st)
{
	(void)st;
	struct fake *f = fake_new(4, 1);
	struct pool pool;
	struct jobs js;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	pool_init(&pool, &loop, NULL, 10);
	f->core.pool = &pool;
	f->core.loop = &loop;
	jobs_init(&js, &f->core, &f->sched, &f->health, NULL, NULL);
	f->sched.submit = jobs_submit_enforce;
	f->sched.submit_arg = &js;
	pool.fail_next = 1;
	sched_run(&f->sched);
	struct vmrec *r = vm_find(&f->vms, "vm-0", 0);
	assert_int_equal(r->sched, VM_BACKOFF);
	assert_int_equal(f->sched.jobs, 0);
	assert_int_equal(pool.running, 0);
	assert_int_equal(f->vms.count[VM_WORKING], 0);
	pool_destroy(&pool);
	assert_int_equal(uv_loop_close(&loop), 0);
	fake_free(f);
}

/* On-enter actions run from vm_set_sched, once per entry, after the
 * change; QUEUED's (the ready queue) is the table's own. */
static int entered[VM_SCHED_COUNT];

static void
count_entry(void *arg, struct vmrec *r, const char *why)
{
	(void)why;
	assert_ptr_equal(arg, entered);
	entered[r->sched]++;
}

static void
test_on_enter(void **st)
{
	struct vmtable t;
	(void)st;
	vm_table_init(&t);
	memset(entered, 0, sizeof(entered));
	vm_table_on_enter(&t, VM_TASK, count_entry, entered);
	vm_table_on_enter(&t, VM_CONFIRM, count_entry, entered);
	struct vmrec *r = vm_find(&t, "vm-1", 1);
	walk_to(&t, r, VM_CONFIRM);
	assert_int_equal(entered[VM_TASK], 1);
	assert_int_equal(entered[VM_CONFIRM], 1);
	/* A refused transition runs nothing; staying put runs nothing. */
	assert_int_equal(vm_set_sched(&t, r, VM_TASK, "test"), -1);
	assert_int_equal(vm_set_sched(&t, r, VM_CONFIRM, "test"), 0);
	assert_int_equal(entered[VM_TASK], 1);
	assert_int_equal(entered[VM_CONFIRM], 1);
	/* QUEUED's own action: entering it appends to the ready queue. */
	assert_int_equal(vm_set_sched(&t, r, VM_WORKING, "test"), 0);
	assert_int_equal(vm_set_sched(&t, r, VM_QUEUED, "test"), 0);
	assert_ptr_equal(t.qhead, r);
	vm_table_clear(&t);
}

/* The scheduler's own actions: entering BACKOFF sets the retry time from
 * the attempts made; entering FAILED does not. */
static void
test_backoff_on_enter(void **st)
{
	(void)st;
	struct fake *f = fake_new(1, 0);
	struct vmrec *r = vm_find(&f->vms, "vm-0", 1);

	walk_to(&f->vms, r, VM_WORKING);
	r->attempts = 2;
	f->clock = 5000;
	sched_backoff(&f->sched, r, "test");
	assert_int_equal(r->sched, VM_BACKOFF);
	assert_true(r->due >= 5000 + 2 * RETRY_BASE_MS * 120 / 100);
	assert_true(r->due <= 5000 + 4 * RETRY_BASE_MS * 120 / 100);
	fake_free(f);
}

/* ---------------------------------------------------------------- */
/* the cryptoperiod's pace (pace.c)                                   */

/* The window: its ends in seconds of the day, wrapping midnight, the time
 * to its next change; none (or an empty one) is always open. */
static void
test_pace_window(void **st)
{
	long ch;
	(void)st;
	assert_true(pace_window_open(-1, -1, 12345, &ch));
	assert_int_equal(ch, -1);
	/* 22:00-06:00 */
	assert_false(pace_window_open(79200, 21600, 43200, &ch));	/* noon */
	assert_int_equal(ch, 79200 - 43200);
	assert_true(pace_window_open(79200, 21600, 79200, &ch));	/* 22:00 sharp */
	assert_int_equal(ch, 86400 - 79200 + 21600);
	assert_true(pace_window_open(79200, 21600, 3600, &ch));		/* 01:00 */
	assert_int_equal(ch, 21600 - 3600);
	assert_false(pace_window_open(79200, 21600, 21600, &ch));	/* 06:00: closed */
	/* 09:00-17:00 */
	assert_true(pace_window_open(32400, 61200, 32400, &ch));
	assert_false(pace_window_open(32400, 61200, 61200, &ch));
	assert_int_equal(ch, 86400 - 61200 + 32400);
	assert_false(pace_window_open(32400, 61200, 100, &ch));
	assert_int_equal(ch, 32400 - 100);
}

/* Turns: one at a time, spaced 3600/max-per-hour s (no burst), in the
 * order found, each VM once however often it is found due; a VM gone or
 * busy does not take a turn. */
static void
test_pace_turns(void **st)
{
	(void)st;
	struct fake *f = fake_new(8, 0);
	struct config *c = (struct config *)core_cfg(&f->core);
	struct pace p;
	struct vmrec *r[4];
	char m[16];

	c->rekey_max_age = 30;
	c->rekey_per_hour = 3600;		/* one a second */
	c->rekey_win_from = c->rekey_win_to = -1;
	pace_init(&p, &f->core);
	assert_int_equal(pace_run(&p), UINT64_MAX);	/* nothing waits */
	for (int i = 0; i < 4; i++) {
		snprintf(m, sizeof(m), "vm-%d", i);
		r[i] = vm_find(&f->vms, m, 1);
		pace_add(&p, r[i]);
		pace_add(&p, r[i]);			/* found due again: once */
	}
	assert_int_equal(pace_waiting(&p), 4);
	assert_int_equal(pace_run(&p), 2000);		/* vm-0 now, the next at +1 s */
	assert_int_equal(r[0]->sched, VM_QUEUED);
	assert_true(r[0]->age_slot);
	assert_false(r[0]->age_due);
	assert_int_equal(r[1]->sched, VM_IDLE);
	assert_int_equal(pace_run(&p), 2000);		/* not before its time */
	assert_int_equal(r[1]->sched, VM_IDLE);
	pace_add(&p, r[0]);				/* its turn is out: not again */
	assert_int_equal(pace_waiting(&p), 3);
	f->clock = 2000;
	assert_int_equal(pace_run(&p), 3000);
	assert_true(r[1]->age_slot);
	vm_remove(&f->vms, r[2]);			/* gone: skipped */
	vm_set_sched(&f->vms, r[3], VM_QUEUED, "test");
	vm_set_sched(&f->vms, r[3], VM_WORKING, "test");	/* busy: waits */
	f->clock = 3000;
	assert_int_equal(pace_run(&p), 4000);
	assert_false(r[3]->age_slot);
	assert_int_equal(pace_waiting(&p), 1);
	vm_set_sched(&f->vms, r[3], VM_IDLE, "test");
	f->clock = 4000;
	assert_int_equal(pace_run(&p), UINT64_MAX);	/* the last one */
	assert_true(r[3]->age_slot);
	assert_int_equal(p.turns, 3);
	pace_free(&p);
	fake_free(f);
}

/* The plan: turns spaced by the rate, only inside the window, window after
 * window. */
static void
test_pace_plan(void **st)
{
	(void)st;
	double now = 1800000000.0;
	/* Any time, 3600 an hour: one a second. */
	assert_true(pace_estimate(-1, -1, 3600, now, 0, 0) == now);
	assert_true(pace_estimate(-1, -1, 3600, now, 0, 5) == now + 5);
	/* Window 10:00:00-10:00:10 (4 turns fit: +0, +3, +6, +9), 1200 an hour. */
	int from = 36000, to = 36010;
	assert_true(pace_estimate(from, to, 1200, now, 36000, 0) == now);
	assert_true(pace_estimate(from, to, 1200, now, 36000, 3) == now + 9);
	/* The fifth waits for tomorrow's window. */
	assert_true(pace_estimate(from, to, 1200, now, 36000, 4) == now + 86400);
	/* Before the window: the first turn when it opens. */
	assert_true(pace_estimate(from, to, 1200, now, 35000, 0) == now + 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_transition),
		cmocka_unit_test(test_pace_window),
		cmocka_unit_test(test_pace_turns),
		cmocka_unit_test(test_pace_plan),
		cmocka_unit_test(test_event_while_busy),
		cmocka_unit_test(test_queue_order_and_remove),
		cmocka_unit_test(test_retry_bounds),
		cmocka_unit_test(test_watch_backoff),
		cmocka_unit_test(test_breaker_cycle),
		cmocka_unit_test(test_breaker_cap),
		cmocka_unit_test(test_breaker_hold),
		cmocka_unit_test(test_sched_in_flight_limit),
		cmocka_unit_test(test_sched_submit_fails),
		cmocka_unit_test(test_sched_gives_up),
		cmocka_unit_test(test_sched_breaker_probe),
		cmocka_unit_test(test_sched_probe_not_queued),
		cmocka_unit_test(test_pool_refuses),
		cmocka_unit_test(test_on_enter),
		cmocka_unit_test(test_backoff_on_enter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
