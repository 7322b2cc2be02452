/* A period's figures (period.h): pure. */
#include "period.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS	4096u
#define DAY		86400

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double
period_percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	double r = p / 100.0 * (double)n;
	size_t rank = r <= 0 ? 0 : r >= (double)n ? n : (size_t)r;
	if ((double)rank < r)
		rank++;		/* the ceiling, without libm */
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

void
period_stats(double *v, size_t n, struct exp_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), by_value);
	st->count = n;
	st->p50 = period_percentile(v, n, 50);
	st->p99 = period_percentile(v, n, 99);
	st->max = v[n - 1];
}

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (NBUCKETS - 1);
}

static struct hist_vm *
vm_entry(struct history *h, const char *vm)
{
	unsigned k;

	if (h->bucket == NULL)
		h->bucket = xcalloc(NBUCKETS, sizeof(*h->bucket));
	k = hash(vm);
	for (long i = h->bucket[k]; i > 0; i = h->next[i - 1])
		if (strcmp(h->vms[i - 1].vm, vm) == 0)
			return &h->vms[i - 1];
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->vms = xreallocarray(h->vms, h->cap, sizeof(*h->vms));
		h->next = xreallocarray(h->next, h->cap, sizeof(*h->next));
	}
	struct hist_vm *v = &h->vms[h->n];
	memset(v, 0, sizeof(*v));
	snprintf(v->vm, sizeof(v->vm), "%s", vm);
	h->next[h->n] = h->bucket[k];
	h->bucket[k] = (long)++h->n;
	return v;
}

void
history_add(struct history *h, const char *vm, const char *name, double at, int state,
    const char *code, const char *reason)
{
	struct hist_vm *v = vm_entry(h, vm);

	if (name != NULL && name[0] != '\0')
		snprintf(v->name, sizeof(v->name), "%s", name);
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->ch = xreallocarray(v->ch, v->cap, sizeof(*v->ch));
	}
	struct hist_change *c = &v->ch[v->n++];
	c->at = at;
	c->state = state;
	c->code = code && code[0] ? xstrdup(code) : NULL;
	c->reason = reason && reason[0] ? xstrdup(reason) : NULL;
}

void
history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		for (size_t k = 0; k < h->vms[i].n; k++) {
			free(h->vms[i].ch[k].code);
			free(h->vms[i].ch[k].reason);
		}
		free(h->vms[i].ch);
	}
	free(h->vms);
	free(h->bucket);
	free(h->next);
	memset(h, 0, sizeof(*h));
}

time_t
period_day(time_t t)
{
	time_t d = t / DAY * DAY;
	return d > t ? d - DAY : d;	/* before 1970: round down too */
}

int
history_state_at(const struct hist_vm *v, double t)
{
	int s = -1;
	for (size_t k = 0; k < v->n && v->ch[k].at <= t; k++)
		s = v->ch[k].state;
	return s;
}

size_t
history_days(const struct history *h, time_t since, time_t until, int nstates,
    size_t max_days, time_t *day0, size_t **counts)
{
	time_t first = period_day(since), last = period_day(until);
	size_t ndays;

	*counts = NULL;
	*day0 = first;
	if (last < first || nstates <= 0 || max_days == 0)
		return 0;
	ndays = (size_t)((last - first) / DAY) + 1;
	if (ndays > max_days) {
		first = last - (time_t)(max_days - 1) * DAY;
		*day0 = first;
		ndays = max_days;
	}
	*counts = xcalloc(ndays * (size_t)nstates, sizeof(**counts));
	for (size_t i = 0; i < h->n; i++) {
		const struct hist_vm *v = &h->vms[i];
		size_t k = 0;
		int s = -1;
		/* One walk per VM: its changes and the days both in order. */
		for (size_t d = 0; d < ndays; d++) {
			double end = (double)(first + (time_t)(d + 1) * DAY);
			for (; k < v->n && v->ch[k].at < end; k++)
				s = v->ch[k].state;
			if (s >= 0 && s < nstates)
				(*counts)[d * (size_t)nstates + (size_t)s]++;
		}
	}
	return ndays;
}
