/*
 * The tasks the engine follows: every ReconfigVM_Task it issued (or
 * adopted) until it ends.  They are read all at once, one
 * RetrievePropertiesEx on a pool connection, every TASKS_POLL_MS while any
 * runs, and sooner when a VmReconfiguredEvent hints that a VM's task is
 * done (then every TASKS_HINT_MS, TASKS_HINT_POLLS times).  A finished
 * task is posted to the loop as an N_TASK note.  (A filter per task on the
 * watcher's collector was slower: a server re-collects every filter for
 * every update it processes, and a filter made during a wait may miss a
 * task that has already finished.)  A finished task's evidence record
 * (result, vCenter's completeTime, fault) is on disk before its note is
 * posted: the loop counts a task done only after that.
 */
#ifndef VMCRYPT_TASKS_H
#define VMCRYPT_TASKS_H

#include <pthread.h>

#include <uv.h>

#include "vim.h"

struct evidence;
struct notes;
struct pool;

#define TASKS_POLL_MS	250
#define TASKS_HINT_MS	20
#define TASKS_HINT_POLLS 4

struct follow {
	struct follow	*next;
	struct vmoref	 task;
	char		 vm[96];
	int		 hint;		/* polls left at TASKS_HINT_MS */
};

struct tasks {
	pthread_mutex_t	 mtx;		/* guards list: the poll reads it */
	struct follow	*list;
	struct notes	*notes;
	struct pool	*pool;
	struct evidence	*ev;		/* NULL: no evidence log (set before the
					   first task is followed) */
	uv_timer_t	 poll_t, hint_t;
	int		 running;	/* followed, not yet ended (loop thread) */
	int		 polling;	/* a poll is out */
	int		 again;		/* poll again when it is back */
	int		 closing;
};

void	tasks_init(struct tasks *, uv_loop_t *, struct pool *, struct notes *);
/* Starts following task on vm (loop thread). */
void	tasks_follow(struct tasks *, const struct vmoref *task, const char *vm);
/* A task ended (its note was handled): one fewer running. */
void	tasks_ended(struct tasks *);
/* A VmReconfiguredEvent on vm: its task, if followed, is read soon. */
void	tasks_hint(struct tasks *, const char *vm);
/* Stops the timers (uv_close) and frees the list. */
void	tasks_close(struct tasks *);
void	tasks_free(struct tasks *);

#endif
