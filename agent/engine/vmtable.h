/*
 * The VM table of the engine (loop thread only): one record per VM the
 * agent has heard of, its scheduling state, and the ready queue.
 *
 * A VM's scheduling state is one enum, changed only by vm_set_sched(),
 * which logs "old -> new" at debug level and refuses (and logs as a bug)
 * a transition the engine never makes.  The states, and what moves a VM:
 *
 *   IDLE     --event, reconcile, retry due, breaker-->  QUEUED
 *   QUEUED   --a slot (max-in-flight)-->                WORKING
 *   WORKING  --task issued, or one adopted-->           TASK
 *            --decided, nothing to do-->                IDLE
 *            --failed-->                                BACKOFF | FAILED
 *            --needs a key, KMS unusable or failed-->   PAUSED
 *   TASK     --succeeded-->                             CONFIRM
 *            --failed-->                                BACKOFF | FAILED
 *            --failed on the KMS-->                     PAUSED
 *            --ConcurrentAccess, adopted task ended-->  QUEUED
 *   CONFIRM  --the batched read is sent-->              WORKING
 *   BACKOFF  --retry due, event-->                      QUEUED
 *   PAUSED   --breaker closes or probes, event-->       QUEUED
 *   FAILED   --event, reconcile-->                      QUEUED
 *
 * An event for a VM in WORKING, TASK or CONFIRM marks it dirty: it is
 * queued again as it leaves them.  vm_enqueue() applies that rule.
 *
 * What entering a state means sits beside the transition, as in curl's
 * multi.c: vm_set_sched() runs the state's on-enter action right after
 * the change.  Entering QUEUED appends to the ready queue (here); the
 * engine's files register the others for the states they own (sched.c:
 * BACKOFF sets the retry time, FAILED says so; jobs.c: TASK follows the
 * task; confirm.c: CONFIRM joins the batched read).
 */
#ifndef VMCRYPT_VMTABLE_H
#define VMCRYPT_VMTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"

enum vm_sched {
	VM_IDLE,
	VM_QUEUED,
	VM_WORKING,
	VM_TASK,
	VM_CONFIRM,
	VM_BACKOFF,
	VM_PAUSED,
	VM_FAILED,
	VM_SCHED_COUNT
};

/* Whose task a VM in VM_TASK is following. */
enum task_origin {
	TASK_OURS,		/* issued by this run */
	TASK_ADOPTED_OURS,	/* our reconfigure from before a restart */
	TASK_ADOPTED_OTHER,	/* another client's task */
};

struct vmrec {
	struct vmrec	*hnext;		/* hash chain */
	struct vmrec	*qnext;		/* ready queue */
	int		 inq;		/* linked in the ready queue */
	struct vmrec	*cnext;		/* confirmation batch */
	char		 moref[96];
	char		*name;
	enum vm_sched	 sched;
	int		 dirty;		/* an event came while it was busy */
	/* The decision, as last read. */
	enum vm_state	 state;
	char		*reason;
	int		 known;		/* state set at least once */
	/* Retries. */
	unsigned	 attempts;
	uint64_t	 due;		/* VM_BACKOFF: retry then (ms) */
	/* The task followed in VM_TASK (its moref value; NULL none). */
	char		*task;
	unsigned	 task_actions;
	enum task_origin origin;
	int		 probe;		/* it is the breaker's probe */
	int		 start_scan;	/* found needing work by the first scan: a
					   task of the previous run may be running */
	/* The audit trail in vCenter. */
	int		 audit;		/* refusals go to vCenter */
	const char	*logged;	/* last state written there: a static
					   vm_state_name(), NULL none */
	/* Checkpoint and latency. */
	long long	 pend_key;	/* earliest unhandled event, -1 none */
	char		*pend_time;	/* its createdTime; NULL none */
	uint64_t	 ev_ms;		/* loop time of the event that found it open */
	uint64_t	 ok_ms;		/* ... and of its reconfigure's success */
	time_t		 done_at;	/* vCenter's completeTime of our last
					   successful reconfigure, 0 none */
	int		 reconfigs;	/* tasks issued */
	int		 rekeyed;	/* a shallow rekey succeeded this run */
	/* The cryptoperiod (pace.c). */
	unsigned	 age_due:1;	/* rekey-due, waiting in the pacer's queue */
	unsigned	 age_slot:1;	/* its turn came: the next look rekeys it */
	unsigned	 age_told:1;	/* dry run: its rekey was said */
	time_t		 key_due;	/* when its key passes the cryptoperiod (the
					   VM is looked at then), 0 none */
	char		*task_key;	/* the key its running task puts on */
};

#define VMTABLE_BUCKETS	65536

typedef void (*vm_enter_fn)(void *arg, struct vmrec *r, const char *why);

/* What a look at a VM decided (a scan, a job, a confirmation). */
struct verdict {
	const char	*name;
	enum vm_state	 state;
	const char	*code;		/* the main cause (policy.h), static */
	const char	*reason;
	const char	*uuid;		/* config.instanceUuid, "" unknown */
	const char	*created;	/* config.createDate, "" unknown */
};
/* A VM's decided state changed: old is the state before, or -1 when it
 * had none. */
typedef void (*vm_decided_fn)(void *arg, struct vmrec *r, int old, const struct verdict *v);

struct vmtable {
	struct vmrec	*buckets[VMTABLE_BUCKETS];
	size_t		 n;
	size_t		 count[VM_SCHED_COUNT];	/* records in each state */
	size_t		 npend;		/* records with an unhandled event */
	unsigned long	 pend_gen;	/* bumped by every vm_set_pend change */
	struct vmrec	*qhead, **qtail;
	struct {
		vm_enter_fn	 fn;
		void		*arg;
	}		 enter[VM_SCHED_COUNT];
	vm_decided_fn	 decided;	/* NULL: nobody listens */
	void		*decided_arg;
};

void		 vm_table_init(struct vmtable *);
/* fn(arg, r, why) runs each time a VM enters state s, right after the
 * change (one action per state; QUEUED's is the table's own). */
void		 vm_table_on_enter(struct vmtable *, enum vm_sched s, vm_enter_fn fn,
		    void *arg);
/* Frees every record. */
void		 vm_table_clear(struct vmtable *);
/* The record of moref; created (VM_IDLE) if create and not there. */
struct vmrec	*vm_find(struct vmtable *, const char *moref, int create);
void		 vm_remove(struct vmtable *, struct vmrec *);
const char	*vm_name(const struct vmrec *);
const char	*vm_sched_name(enum vm_sched);

/*
 * Moves r to state to ("why" says what did, for the log), then runs the
 * on-enter action of that state.  The only place a scheduling state
 * changes.  Returns 0, or -1 for a transition the engine never makes
 * (logged as a bug; r unchanged).
 */
int		 vm_set_sched(struct vmtable *, struct vmrec *, enum vm_sched to,
		    const char *why);
/* 1 if the VM is being worked on (a job, a task, a confirmation). */
int		 vm_busy(const struct vmrec *);

/*
 * Asks for r to be looked at: queued from IDLE, BACKOFF, PAUSED or
 * FAILED; marked dirty if busy (queued again when it leaves); nothing if
 * already queued.
 */
void		 vm_enqueue(struct vmtable *, struct vmrec *, const char *why);
/* A busy VM (WORKING, TASK) must be looked at again at once: queued. */
void		 vm_requeue(struct vmtable *, struct vmrec *, const char *why);
/* A busy VM's work is over: IDLE, or queued again if it is dirty. */
void		 vm_done(struct vmtable *, struct vmrec *, const char *why);
/* The next queued VM (now VM_WORKING), or NULL. */
struct vmrec	*vm_dequeue(struct vmtable *);
/* Empties the ready queue (VMs go back to IDLE). */
void		 vm_queue_clear(struct vmtable *);

/* The earliest unhandled event on r (key -1: none). */
void		 vm_set_pend(struct vmtable *, struct vmrec *, long long key, const char *time);
/* Sets r's decision (name, state, reason); a change of state (or the
 * first one) goes to the decided hook. */
void		 vm_set_decision(struct vmtable *, struct vmrec *, const struct verdict *);
struct outcome;
/* The same, from what a job or a confirmation found (enforce.h). */
void		 vm_decide(struct vmtable *, struct vmrec *, const struct outcome *);
/* fn(arg, r, old, v) runs after each change of a VM's decided state. */
void		 vm_table_on_decided(struct vmtable *, vm_decided_fn fn, void *arg);

/* Calls fn for every record in state s (counted: free when none), or
 * every record for VM_SCHED_COUNT.  fn must not remove records. */
void		 vm_each(struct vmtable *, enum vm_sched s,
		    void (*fn)(void *, struct vmrec *), void *arg);

#endif
