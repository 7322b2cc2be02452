/*
 * The cryptoperiod's pace (pace.h).
 */
#include "pace.h"

#include "config.h"
#include "core.h"
#include "log.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY	86400L

int
pace_window_open(int from, int to, int sod, long *change)
{
	if (from < 0 || to < 0 || from == to) {
		*change = -1;
		return 1;
	}
	int open = from < to ? sod >= from && sod < to : sod >= from || sod < to;
	long target = open ? to : from;
	*change = (target - sod + DAY) % DAY;
	return open;
}

double
pace_estimate(int from, int to, int per_hour, double now, int sod_now, size_t k)
{
	double gap = 3600.0 / per_hour, t = now;
	long change;

	/* Window by window: as many turns as fit in each open stretch. */
	for (int guard = 0; guard < 100000; guard++) {
		int sod = (int)(((long long)(t - now) + sod_now) % DAY);
		int open = pace_window_open(from, to, sod, &change);
		if (!open) {
			t += (double)change;
			continue;
		}
		if (change < 0)
			return t + gap * (double)k;
		size_t fit = (size_t)((double)change / gap);
		if ((double)fit * gap < (double)change)
			fit++;		/* the turns at t, t + gap, ... before it closes */
		if (k < fit)
			return t + gap * (double)k;
		k -= fit;
		t += (double)change;	/* the window closes; the next opens later */
	}
	return 0;
}

/* The local second of the day now, and the zone's name and offset. */
static int
local_sod(char *zone, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (zone != NULL) {
		long off = tm.tm_gmtoff;
		snprintf(zone, len, "%s, UTC%c%02ld:%02ld", tm.tm_zone ? tm.tm_zone : "?",
		    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
	}
	return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

void
pace_say(const struct config *cfg)
{
	char zone[64];

	if (cfg->rekey_max_age <= 0)
		return;
	local_sod(zone, sizeof(zone));
	log_info("rekey: a key older than %.1f days (%lds) gets one shallow rekey; at most %d "
	    "an hour (one every %.1f s); window %s, the agent's local time (%s)",
	    (double)cfg->rekey_max_age / DAY, cfg->rekey_max_age, cfg->rekey_per_hour,
	    3600.0 / cfg->rekey_per_hour, cfg->rekey_window ? cfg->rekey_window : "any time",
	    zone);
}

void
pace_init(struct pace *p, const struct core *c)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->open_said = -1;
}

void
pace_free(struct pace *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->q[(p->head + i) % p->cap]);
	free(p->q);
	memset(p, 0, sizeof(*p));
}

static void
push(struct pace *p, const char *moref)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char **q = xcalloc(cap, sizeof(*q));
		for (size_t i = 0; i < p->n; i++)
			q[i] = p->q[(p->head + i) % p->cap];
		free(p->q);
		p->q = q;
		p->cap = cap;
		p->head = 0;
	}
	p->q[(p->head + p->n++) % p->cap] = xstrdup(moref);
}

static char *
pop(struct pace *p)
{
	char *m = p->q[p->head];
	p->head = (p->head + 1) % p->cap;
	p->n--;
	return m;
}

void
pace_add(struct pace *p, struct vmrec *r)
{
	if (r->age_due || r->age_slot)
		return;
	r->age_due = 1;
	push(p, r->moref);
}

size_t
pace_waiting(const struct pace *p)
{
	return p->n;
}

/* The next VM that still waits (one that left, or changed, is dropped). */
static struct vmrec *
next_due(struct pace *p)
{
	while (p->n > 0) {
		char *m = pop(p);
		struct vmrec *r = vm_find(p->c->vms, m, 0);
		free(m);
		if (r != NULL && r->age_due)
			return r;
	}
	return NULL;
}

void
pace_key_due(struct pace *p, struct vmrec *r, double since)
{
	const struct config *cfg = core_cfg(p->c);

	r->key_due = 0;
	if (cfg->rekey_max_age <= 0 || since <= 0)
		return;
	r->key_due = (time_t)since + cfg->rekey_max_age + 1;
	if (p->sweep == 0 || r->key_due < p->sweep)
		p->sweep = r->key_due;
}

static uint64_t pace_turn(struct pace *, const struct config *, uint64_t now);

struct sweeping {
	struct pace	*p;
	time_t		 now, next;
	size_t		 looked;
};

static void
sweep_one(void *arg, struct vmrec *r)
{
	struct sweeping *s = arg;

	if (r->key_due == 0)
		return;
	if (r->key_due > s->now || vm_busy(r)) {
		time_t at = r->key_due > s->now ? r->key_due : s->now + 1;
		if (s->next == 0 || at < s->next)
			s->next = at;
		return;
	}
	r->key_due = 0;
	s->looked++;
	vm_enqueue(s->p->c->vms, r, "its key passed the cryptoperiod");
}

/* The VMs whose key passed the cryptoperiod are looked at (the look
 * decides rekey-due and queues them here).  Returns the next sweep's
 * time (loop ms), UINT64_MAX none. */
static uint64_t
sweep(struct pace *p, uint64_t now_ms)
{
	time_t now = time(NULL);

	if (p->sweep == 0)
		return UINT64_MAX;
	if (p->sweep <= now) {
		struct sweeping s = { p, now, 0, 0 };
		vm_each(p->c->vms, VM_SCHED_COUNT, sweep_one, &s);
		p->sweep = s.next;
		if (s.looked > 0)
			log_info("rekey: %zu %s passed the cryptoperiod: looking at %s", s.looked,
			    s.looked == 1 ? "VM's key" : "VMs' keys", s.looked == 1 ? "it" : "them");
		if (p->sweep == 0)
			return UINT64_MAX;
	}
	return now_ms + (uint64_t)(p->sweep - now) * 1000;
}

uint64_t
pace_run(struct pace *p)
{
	const struct config *cfg = core_cfg(p->c);
	uint64_t now = p->c->now(p->c);

	if (cfg->rekey_max_age <= 0 || !p->c->accepting)
		return UINT64_MAX;
	uint64_t wake = sweep(p, now), turn = pace_turn(p, cfg, now);
	return wake < turn ? wake : turn;
}

/* The next turn, if one is due.  Returns when to look again. */
static uint64_t
pace_turn(struct pace *p, const struct config *cfg, uint64_t now)
{
	long change;

	if (p->n == 0)
		return UINT64_MAX;
	int open = pace_window_open(cfg->rekey_win_from, cfg->rekey_win_to,
	    local_sod(NULL, 0), &change);
	if (open != p->open_said) {
		log_info("rekey: window %s is %s: %zu VM%s due", cfg->rekey_window ?
		    cfg->rekey_window : "(any time)", open ? "open" : "closed", p->n,
		    p->n == 1 ? "" : "s");
		p->open_said = open;
	}
	if (!open)
		return now + (uint64_t)change * 1000;
	if (now < p->next)
		return p->next;
	struct vmrec *r = next_due(p);
	if (r == NULL)
		return UINT64_MAX;
	if (vm_busy(r) || r->sched == VM_QUEUED) {
		push(p, r->moref);		/* busy now: its turn comes again */
		return now + 1000;
	}
	r->age_due = 0;
	r->age_slot = 1;
	p->turns++;
	p->next = now + (uint64_t)(3600000.0 / cfg->rekey_per_hour);
	log_info("rekey: VM %s (%s): its turn (%lu since start, %zu waiting)", vm_name(r),
	    r->moref, p->turns, p->n);
	vm_enqueue(p->c->vms, r, "its cryptoperiod rekey");
	return p->n > 0 ? p->next : UINT64_MAX;
}
