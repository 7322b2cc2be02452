/*
 * The cryptoperiod's pace (<rekey>): VMs whose key is older than
 * max-key-age wait here, in the order they were found, and get their turn
 * one at a time: at most max-per-hour an hour, spaced evenly (one every
 * 3600/max-per-hour seconds, no burst), and only while the window is open
 * (the agent's local time, said in the log).  A turn sets the VM's
 * age_slot and queues it: the job that looks at it then is allowed the
 * rekey (ENF_AGE_REKEY).  Loop thread only.
 */
#ifndef VMCRYPT_PACE_H
#define VMCRYPT_PACE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct core;
struct vmrec;

struct pace {
	const struct core *c;
	char		**q;		/* morefs, a ring */
	size_t		 head, n, cap;
	uint64_t	 next;		/* loop ms: the next turn, not before */
	int		 open_said;	/* the window's state last said: -1 none */
	unsigned long	 turns;		/* turns given since start */
	time_t		 sweep;		/* the earliest key_due of a VM (0 none) */
};

void	pace_init(struct pace *, const struct core *);
void	pace_free(struct pace *);
/* Says the configuration's pace in the log (start, SIGHUP). */
void	pace_say(const struct config *);
/* r is rekey-due (code "key-age") and waits for its turn. */
void	pace_add(struct pace *, struct vmrec *r);
/* r's key was put on at since (unix time): r is looked at again when it
 * passes the cryptoperiod (0: no known age, nothing to wait for). */
void	pace_key_due(struct pace *, struct vmrec *r, double since);
/* Each loop turn: looks again at the VMs whose key just passed the
 * cryptoperiod, and gives the turns that are due.  Returns when to look
 * again (loop ms), or UINT64_MAX when nothing waits. */
uint64_t pace_run(struct pace *);
size_t	pace_waiting(const struct pace *);

/*
 * Is the window open at local second-of-day sod (0..86399)?  from/to: the
 * window's ends in seconds of the day (from > to wraps midnight; both -1:
 * always open).  *change gets the seconds until it opens or closes (-1:
 * never).  Pure.
 */
int	pace_window_open(int from, int to, int sod, long *change);

/*
 * The plan: when the k-th VM waiting (0 first) gets its turn, if the
 * agent started giving turns at now (unix time) and none waited before:
 * turns spaced 3600/per_hour s, inside the window only (from, to as
 * above; sod_now: now's local second of the day).  Pure.
 */
double	pace_estimate(int from, int to, int per_hour, double now, int sod_now, size_t k);

#endif
