/*
 * Where this agent stands, kept in its state directory: the checkpoint
 * (the oldest event not yet handled, written off the loop), the lock that
 * keeps one process per state directory, and the instance identity the
 * leader lease names (lease.h).  Loop thread only.
 */
#ifndef VMCRYPT_PROGRESS_H
#define VMCRYPT_PROGRESS_H

#include "checkpoint.h"

struct core;

struct progress {
	const struct core *c;
	int		 lock_fd;	/* the state directory's lock; -1 none */
	char		 identity[512];	/* host:state-dir#random, for the lease */
	char		 begin_time[64];	/* where the events resume */
	long long	 max_key;	/* the newest event seen, -1 none */
	char		 max_time[64];
	struct checkpoint written;	/* on disk (valid) */
	int		 valid, writing;
	/* What the last look at the checkpoint saw: each loop turn looks
	 * again only when an event was noted or handled since. */
	unsigned long	 gen;
	long long	 seen_max;
	int		 recheck;
};

void	progress_init(struct progress *, const struct core *);
/* The state directory made, locked, and read: the checkpoint (where
 * events resume) and the identity.  0, or -1 (said).  Nothing for a dry
 * run or `reconcile`. */
int	progress_open(struct progress *);
/* Where events start when no checkpoint says (vCenter's time now). */
void	progress_begin_at(struct progress *, const char *vcenter_now);
/* An event arrived (its key and createdTime). */
void	progress_saw(struct progress *, long long key, const char *time);
/* Each turn: a pool job writes the checkpoint if it moved. */
void	progress_maybe(struct progress *);
/* A write is out (the loop waits for it before closing). */
int	progress_busy(const struct progress *);
/* The last one, on the way out (the loop is done: blocking is fine). */
void	progress_final(struct progress *);
/* The state directory's lock released (safe if never taken). */
void	progress_close(struct progress *);

#endif
