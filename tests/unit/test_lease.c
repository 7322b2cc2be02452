/* The leader lease's decisions (lease_decide, lease_renewed) driven the way
 * lease.c drives them, against a model of vCenter's custom fields, with
 * every call delayed at random and agents paused (SIGSTOP) or killed at
 * random.  At no instant may two agents be entitled to act; and a lease
 * with a live agent is always held again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"

#define L	4000		/* lease, ms */
#define BEAT	1000
#define NA	3
#define MAXF	64

/* vCenter: the lease fields (epoch -> key) and their values. */
struct model {
	long long	 epoch[MAXF];
	int		 key[MAXF];
	char		 value[MAXF][128];
	int		 n, next_key;
};

enum phase { IDLE, WRITE, READ2, END, READ, DECIDE, CLAIM, VERIFY };

struct agent {
	struct lease_state st;
	char		 id[32];
	enum phase	 ph;
	uint64_t	 next, t0, tc;
	int		 ok, dead, claimed_key;
	long long	 claimed;
	struct lease_view v;
};

static unsigned seed;

/* A call's time on the wire: mostly short, sometimes as long as a lease. */
static uint64_t
delay(void)
{
	if (rand_r(&seed) % 50 == 0)
		return (uint64_t)(rand_r(&seed) % L);
	return (uint64_t)(rand_r(&seed) % 300);
}

static void
view(const struct model *m, struct lease_view *v)
{
	memset(v, 0, sizeof(*v));
	for (int i = 0; i < m->n; i++)
		if (m->epoch[i] > v->epoch) {
			v->epoch = m->epoch[i];
			v->key = m->key[i];
			snprintf(v->value, sizeof(v->value), "%s", m->value[i]);
		}
}

static int
find_key(const struct model *m, int key)
{
	for (int i = 0; i < m->n; i++)
		if (m->key[i] == key)
			return i;
	return -1;
}

static int
valid(const struct agent *a, uint64_t now)
{
	return !a->dead && a->st.role == LEASE_LEADER && now < a->st.valid_until;
}

/* One step of agent a at time now: what lease.c does between two calls. */
static void
step(struct model *m, struct agent *a, uint64_t now)
{
	switch (a->ph) {
	case IDLE:
		a->t0 = now;
		a->ph = a->st.role == LEASE_LEADER ? WRITE : READ;
		a->next = now + delay();
		return;
	case WRITE: {			/* SetField on our key */
		int i = find_key(m, a->st.key);
		a->ok = i >= 0;
		if (a->ok)
			snprintf(m->value[i], sizeof(m->value[i]), "%lu %s", ++a->st.beat, a->id);
		a->ph = READ2;
		a->next = now + delay();
		return;
	}
	case READ2:
		view(m, &a->v);
		a->ph = END;
		a->next = now + delay();
		return;
	case END:
		if (lease_renewed(&a->st, a->ok, &a->v, a->t0, now, L) == LA_LOST) {
			a->st.role = LEASE_STANDBY;
			a->st.seen_epoch = -1;
		}
		a->ph = IDLE;
		a->next = now + BEAT;
		return;
	case READ:
		view(m, &a->v);
		a->ph = DECIDE;
		a->next = now + delay();
		return;
	case DECIDE:
		if (lease_decide(&a->st, &a->v, a->id, a->t0, now, L) == LA_CLAIM) {
			a->tc = now;		/* sent now, done at the next step */
			a->ph = CLAIM;
			a->next = now + delay();
		} else {
			a->ph = IDLE;
			a->next = now + BEAT;
		}
		return;
	case CLAIM: {			/* AddCustomFieldDef(epoch + 1) */
		long long e = a->v.epoch + 1;
		for (int i = 0; i < m->n; i++)
			if (m->epoch[i] == e) {
				a->st.seen_epoch = -1;		/* DuplicateName */
				a->ph = IDLE;
				a->next = now + BEAT;
				return;
			}
		assert_true(m->n < MAXF);
		m->epoch[m->n] = e;
		m->key[m->n] = m->next_key++;
		m->value[m->n][0] = '\0';
		a->claimed = e;
		a->claimed_key = m->key[m->n++];
		a->ph = VERIFY;
		a->next = now + delay();
		return;
	}
	case VERIFY: {			/* the highest epoch, or it goes */
		struct lease_view v;
		view(m, &v);
		if (v.epoch != a->claimed) {
			int i = find_key(m, a->claimed_key);
			if (i >= 0) {		/* else the winner removed it */
				m->epoch[i] = m->epoch[m->n - 1];
				m->key[i] = m->key[m->n - 1];
				memmove(m->value[i], m->value[m->n - 1], sizeof(m->value[i]));
				m->n--;
			}
			a->st.seen_epoch = -1;
			a->ph = IDLE;
			a->next = now + BEAT;
			return;
		}
		/* Ours: the value written, the older fields removed. */
		m->epoch[0] = a->claimed;
		m->key[0] = a->claimed_key;
		snprintf(m->value[0], sizeof(m->value[0]), "0 %s", a->id);
		m->n = 1;
		a->st.role = LEASE_LEADER;
		a->st.epoch = a->claimed;
		a->st.key = a->claimed_key;
		a->st.beat = 0;
		a->st.valid_until = a->tc + (uint64_t)(L - L / 10);
		a->ph = IDLE;
		a->next = now + BEAT;
		return;
	}
	}
}

/* One run: NA agents for 20 simulated minutes; pauses up to 3 leases and
 * kills (the killed agent's state directory restarted later, same id). */
static void
run_one(unsigned s, unsigned long *leader_ms, unsigned long *total_ms)
{
	struct model m;
	struct agent ag[NA];
	uint64_t now = 0, end = 20 * 60 * 1000;

	seed = s;
	memset(&m, 0, sizeof(m));
	memset(ag, 0, sizeof(ag));
	for (int i = 0; i < NA; i++) {
		snprintf(ag[i].id, sizeof(ag[i].id), "host%d:/state#%d", i, i);
		ag[i].st.seen_epoch = -1;
		ag[i].next = (uint64_t)(rand_r(&seed) % 2000);
	}
	while (now < end) {
		int who = 0;
		for (int i = 1; i < NA; i++)
			if (ag[i].next < ag[who].next)
				who = i;
		uint64_t t = ag[who].next;
		/* Time passes: count who may act, a millisecond at a time at
		 * the interval's ends is enough (validity only starts at steps). */
		int nvalid = 0;
		for (int i = 0; i < NA; i++)
			nvalid += valid(&ag[i], t);
		assert_true(nvalid <= 1);
		if (nvalid == 1)
			*leader_ms += t - now;
		*total_ms += t - now;
		now = t;
		struct agent *a = &ag[who];
		if (a->dead) {			/* restarted on its state directory */
			memset(&a->st, 0, sizeof(a->st));
			a->st.seen_epoch = -1;
			a->dead = 0;
			a->ph = IDLE;
			a->next = now;
			continue;
		}
		int r = rand_r(&seed) % 1000;
		if (r < 4) {			/* SIGSTOP, in the middle of anything */
			a->next = now + (uint64_t)(rand_r(&seed) % (3 * L));
			continue;
		}
		if (r < 6) {			/* SIGKILL; back in up to 2 leases */
			a->dead = 1;
			a->next = now + (uint64_t)(rand_r(&seed) % (2 * L));
			continue;
		}
		step(&m, a, now);
		for (int i = 0; i < NA; i++)
			nvalid = i == 0 ? valid(&ag[i], now) : nvalid + valid(&ag[i], now);
		assert_true(nvalid <= 1);
	}
}

static void
test_never_two_leaders(void **state)
{
	unsigned long lead = 0, total = 0;
	(void)state;
	for (unsigned s = 1; s <= 300; s++)
		run_one(s, &lead, &total);
	/* Live: despite pauses and kills, someone held it most of the time. */
	assert_true(lead * 10 > total * 6);
	print_message("leader %.1f%% of %lu simulated s\n", 100.0 * (double)lead / (double)total,
	    total / 1000);
}

static void
test_standby_waits_a_whole_lease(void **state)
{
	struct lease_state st;
	struct lease_view v;
	(void)state;

	memset(&st, 0, sizeof(st));
	st.seen_epoch = -1;
	memset(&v, 0, sizeof(v));
	v.epoch = 3;
	snprintf(v.value, sizeof(v.value), "7 other:/s#1");
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 1000, 1100, L), LA_NONE);
	/* Same value: not before a lease from the end of the first read. */
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 1100 + L - 1, 1100 + L, L), LA_NONE);
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 1100 + L, 1100 + L + 5, L), LA_CLAIM);
	/* A new heartbeat starts the wait again. */
	snprintf(v.value, sizeof(v.value), "8 other:/s#1");
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 9000, 9001, L), LA_NONE);
	/* Released, or ours (a previous run on our locked state directory). */
	snprintf(v.value, sizeof(v.value), "released other:/s#1");
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 9002, 9003, L), LA_CLAIM);
	snprintf(v.value, sizeof(v.value), "12 me:/s#2");
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 9002, 9003, L), LA_CLAIM);
	/* Nobody: claim. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(lease_decide(&st, &v, "me:/s#2", 9004, 9005, L), LA_CLAIM);
}

static void
test_leader_renewals(void **state)
{
	struct lease_state st;
	struct lease_view v;
	(void)state;

	memset(&st, 0, sizeof(st));
	st.role = LEASE_LEADER;
	st.epoch = 5;
	st.valid_until = 10000;
	memset(&v, 0, sizeof(v));
	v.epoch = 5;
	/* On time: valid a lease (less a tenth) from before it was sent. */
	assert_int_equal(lease_renewed(&st, 1, &v, 9000, 9500, L), LA_NONE);
	assert_int_equal(st.valid_until, 9000 + L - L / 10);
	/* Failed but still within the lease: kept, not extended. */
	assert_int_equal(lease_renewed(&st, 0, NULL, 10000, 10100, L), LA_NONE);
	assert_int_equal(st.valid_until, 9000 + L - L / 10);
	/* Ended after the lease ran out (a pause): lost, even though written. */
	assert_int_equal(lease_renewed(&st, 1, &v, 12000, 12700, L), LA_LOST);
	/* A higher epoch, or our field gone: lost at once. */
	st.valid_until = 20000;
	v.epoch = 6;
	assert_int_equal(lease_renewed(&st, 1, &v, 13000, 13100, L), LA_LOST);
	v.epoch = 0;
	assert_int_equal(lease_renewed(&st, 0, &v, 13000, 13100, L), LA_LOST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standby_waits_a_whole_lease),
		cmocka_unit_test(test_leader_renewals),
		cmocka_unit_test(test_never_two_leaders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
