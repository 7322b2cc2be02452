/*
 * A period's figures, from what the evidence log says (reportevid.c reads
 * it): the exposure summary (count, p50, p99, max, the VMs over the SLO)
 * and each VM's timeline of states, bucketed into compliance per day.
 * Pure: no I/O, no clock; tests/unit/test_period.c.
 */
#ifndef VMCRYPT_PERIOD_H
#define VMCRYPT_PERIOD_H

#include <stddef.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* the exposure summary                                               */

struct exp_stats {
	size_t	 count;
	double	 p50, p99, max;		/* 0 when count is 0 */
};

/*
 * Nearest-rank percentile p (0 < p <= 100) of the n values in sorted
 * (ascending): the smallest value with at least p % of them at or below
 * it, so it is always one of the values measured.  0 when n is 0.
 */
double	period_percentile(const double *sorted, size_t n, double p);
/* Sorts v (n values) and fills st. */
void	period_stats(double *v, size_t n, struct exp_stats *st);

/* ---------------------------------------------------------------- */
/* history                                                            */

struct hist_change {
	double		 at;		/* unix time, the agent's clock */
	int		 state;		/* enum vm_state */
	char		*code, *reason;	/* may be NULL */
};

struct hist_vm {
	char			 vm[96];
	char			 name[256];
	struct hist_change	*ch;	/* in the order added (time order) */
	size_t			 n, cap;
};

struct history {
	struct hist_vm	*vms;		/* in the order first seen */
	size_t		 n, cap;
	long		*bucket, *next;	/* the index by moref */
};

/* A change of vm's state at time at (added in time order).  code and
 * reason are copied. */
void	history_add(struct history *, const char *vm, const char *name, double at,
	    int state, const char *code, const char *reason);
void	history_free(struct history *);

/* The UTC day (00:00:00) t falls in. */
time_t	period_day(time_t t);
/*
 * Compliance per day: for each UTC day from the day of since to the day
 * of until (both included; at most max_days, the last ones kept),
 * counts[d * nstates + s] = the VMs whose last change before the end of
 * that day put them in state s (a VM the log had not seen yet by then is
 * not counted).  *day0 is the first day's start.  Returns the number of
 * days; counts is allocated (free it), NULL when 0.
 */
size_t	history_days(const struct history *, time_t since, time_t until, int nstates,
	    size_t max_days, time_t *day0, size_t **counts);
/* The state vm was in at time t (its last change at or before t), or -1. */
int	history_state_at(const struct hist_vm *, double t);

#endif
