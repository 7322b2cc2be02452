/*
 * The one queue from the other threads to the loop: the watcher's events,
 * finished tasks, stream readiness and errors.  A note is posted under a
 * mutex and the loop woken with uv_async_send; the loop takes the whole
 * list at once.  Bounded: past NOTES_MAX queued events, further events are
 * counted as dropped (the next reconcile catches up on them).
 */
#ifndef VMCRYPT_NOTES_H
#define VMCRYPT_NOTES_H

#include <pthread.h>
#include <stddef.h>

#include <uv.h>

#define NOTES_MAX	200000

enum note_kind {
	N_EVENT,	/* a vCenter event: key, time, type, vm, msg */
	N_TASK,		/* a followed task ended: vm, task, ok, fault, msg */
	N_READY,	/* the event stream is (again) live */
	N_ERROR,	/* msg, for the log */
	N_LEADER,	/* the lease is ours: msg, key = epoch */
	N_STANDBY,	/* the lease is lost: msg */
};

struct note {
	struct note	*next;
	enum note_kind	 kind;
	long long	 key;
	char		 time[64];
	char		 type[96];
	char		 vm[96];
	char		 vmname[256];	/* N_EVENT: the VM's name in the event */
	char		 task[96];
	int		 ok;
	char		 msg[1024];
	char		 fault[64];
};

struct notes {
	pthread_mutex_t	 mtx;
	struct note	*head, **tail;
	size_t		 n;
	size_t		 dropped;
	uv_async_t	*wake;		/* the loop's; NULL: nobody to wake */
};

void		 notes_init(struct notes *, uv_async_t *wake);
void		 notes_destroy(struct notes *);
/* Any thread.  Takes n (malloc'd); wake says whether to wake the loop now
 * (a reader posting many notes wakes it once, after the last). */
void		 notes_post(struct notes *, struct note *n, int wake);
void		 notes_wake(struct notes *);
/* Loop thread: every note queued, oldest first (free each), and how many
 * events were dropped since the last take. */
struct note	*notes_take(struct notes *, size_t *dropped);

#endif
