/*
 * Reconcile passes: every VM read in one paged scan and decided, the ones
 * that need work queued.  At start-up (right after the event stream is
 * live), every reconcile-interval, after the stream comes back, after
 * this agent takes the lease over, and on SIGHUP: a missed event delays a
 * VM, never loses it.  For the `reconcile` command, the end of the pass:
 * once everything issued has finished, a full scan is printed, and the
 * pass asks the loop to stop (done).  Loop thread only.
 */
#ifndef VMCRYPT_RECONCILE_H
#define VMCRYPT_RECONCILE_H

#include <time.h>

struct core;
struct health;
struct jobs;
struct sched;

struct reconcile {
	const struct core *c;
	struct sched	*sched;
	struct health	*health;
	struct jobs	*jobs;
	int		 scanning;	/* a scan is out */
	int		 scans_done;
	int		 rescan;	/* another one once it is back */
	int		 takeover;	/* the next scan follows a lease takeover */
	time_t		 last;		/* when the last scan was decided */
	int		 done;		/* `reconcile`: the pass is over; stop */
	int		 exit_code;	/* `reconcile`: its exit status so far */
	int		 ages_out;	/* a key-age lookup is out */
};

void	reconcile_init(struct reconcile *, const struct core *, struct sched *,
	    struct health *, struct jobs *);
/* A pass now, unless one is out or the loop is stopping. */
void	reconcile_start(struct reconcile *);
/* A pass now, or right after the one out (which may have read a vCenter
 * that went away); takeover: this agent just took the lease over, so
 * every VM found needing work is checked for the old leader's task. */
void	reconcile_catch_up(struct reconcile *, int takeover);
/* Each turn, for `reconcile`: when nothing runs, is queued or waits any
 * more, the report's scan, then done. */
void	reconcile_finish_once(struct reconcile *);

#endif
