/*
 * The watcher thread: where vCenter's events enter.  It is parked in
 * WaitForUpdatesEx on a private property collector whose one filter is the
 * event collector's latestPage (one event long: a wake-up only); when that
 * changes it reads forward with ReadNextEvents until there is nothing
 * newer and posts each event as a note.  After a re-login it recreates the
 * collectors from the start time (the checkpoint's), and posts N_READY so
 * the loop catches up; when vCenter is unreachable it retries with capped,
 * jittered backoff.  It touches nothing of the loop's but the notes.
 */
#ifndef VMCRYPT_WATCH_H
#define VMCRYPT_WATCH_H

#include <stdatomic.h>
#include <pthread.h>

#include <uv.h>

#include "vim.h"

struct notes;

#define WATCH_WAIT_SECONDS	30	/* WaitForUpdatesEx maxWaitSeconds */

struct watch {
	/* Set before watch_start, read-only after. */
	struct vsession	*s;
	struct notes	*notes;
	int		 once;		/* reconcile: no events, only readiness */
	int		 timeout;	/* per call */
	char		 begin_time[64];
	/* Shared. */
	atomic_int	 stopping;
	atomic_int	 done;
	atomic_llong	 ok_at;		/* wall time of the last good wait */
	atomic_int	 err;		/* its last call failed */
	pthread_mutex_t	 mtx;		/* guards pc */
	struct vmoref	 pc;		/* its collector, for watch_cancel */
	uv_thread_t	 thread;
	int		 started;
};

/* The thread, watching s's events from begin_time (a vCenter time; ""
 * now), posting to notes; once: readiness only (reconcile).  0 or -1. */
int	watch_start(struct watch *, struct vsession *s, struct notes *notes, int once,
	    int timeout, const char *begin_time);
/* The loop asks the watcher to stop (then cancels its wait). */
void	watch_stop(struct watch *);
/* Stopping was asked for; the thread is out. */
int	watch_stopping(struct watch *);
int	watch_out(struct watch *);
/* Any thread: ends a wait under way (the loop checks `stopping` first). */
int	watch_cancel(struct watch *, struct vconn *);
/* Joins the thread once `done` is set. */
void	watch_join(struct watch *);

#endif
