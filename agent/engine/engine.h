/*
 * The engine of `run` and `reconcile`, shared by its files and nothing
 * else.  The path of an event, by file:
 *
 *   watch.c    the watcher thread: vCenter's events enter, as notes
 *   notes.c    the one queue from the threads to the loop
 *   engine.c   the loop: libuv lifetime, signals, reload, the per-turn hook
 *   leader.c   the lease (lease.c) -> whether this agent acts at all
 *   sched.c    an event or a result -> which VM is worked on next
 *   vmtable.c  the VM table, the ready queue, vm_set_sched()
 *   breaker.c  the KMS circuit breaker; health.c, the KMS health checks
 *   pool.c     work off the loop: enforce.c (read, decide, plan, reconfigure)
 *   tasks.c    the reconfigure tasks followed until they end
 *   confirm.c  the batched read that confirms a VM after its task
 *   status.c   /metrics, /healthz, systemd's notifications
 *
 * Everything here belongs to the loop thread, except what the other
 * threads reach through their own locked structures (notes, tasks, pool,
 * watch) and the configuration snapshots jobs hold.
 */
#ifndef VMCRYPT_ENGINE_H
#define VMCRYPT_ENGINE_H

#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "breaker.h"
#include "httpd.h"
#include "checkpoint.h"
#include "kms.h"
#include "lease.h"
#include "metrics.h"
#include "notes.h"
#include "pool.h"
#include "tasks.h"
#include "vmtable.h"
#include "watch.h"

struct cfgref;
struct enforcer;
struct httpd;
struct vsession;

struct engine {
	uv_loop_t	 loop;
	uv_signal_t	 sigterm, sigint, sighup;
	uv_timer_t	 keepalive, reconcile_t, retry_t, drain_t, kms_t, watchdog_t,
			 confirm_t;
	uv_async_t	 wake;
	uv_prepare_t	 turn;		/* the per-turn hook */

	int		 once;		/* reconcile command */
	int		 dry_run;
	int		 json;
	char		*config_path;
	struct cfgref	*cfg;		/* the current configuration snapshot */
	struct vsession	*s;
	struct enforcer	*enf;

	struct notes	 notes;
	struct watch	 watch;
	struct pool	 pool;
	struct tasks	 tasks;
	struct vmtable	 vms;
	struct breaker	 breaker;
	struct metrics	 met;
	struct httpd	*httpd;
	struct lease	 lease;		/* leader.c: who acts */
	int		 lock_fd;	/* the state directory's (progress.c) */

	/* What starts new work. */
	int		 accepting;	/* 0 once stopping */
	int		 closing;
	int		 draining;	/* SIGTERM: following the last tasks */
	int		 jobs;		/* enforce and confirm jobs out; with the
					   tasks followed, what max-in-flight caps */
	int		 scanning, scans_done, rescan, collector_ready;
	int		 takeover_scan;	/* the scan after taking the lease over */
	/* Confirmation batch (confirm.c). */
	struct vmrec	*chead, **ctail;
	size_t		 nconfirm;
	/* KMS health (health.c). */
	int		 kms_checking, kms_again;
	struct kms_health kms;
	/* Progress: the checkpoint (engine.c). */
	char		 begin_time[64];
	long long	 max_key;
	char		 max_time[64];
	struct checkpoint cp_written, cp_next;
	int		 cp_valid, cp_writing, cp_pending;
	/* What the last look at the checkpoint saw: each loop turn looks
	 * again only when an event was noted or handled since. */
	unsigned long	 cp_gen;
	long long	 cp_max;
	int		 cp_recheck;
	/* Status. */
	double		 event_lag;	/* seconds, -1 none yet */
	time_t		 last_reconcile;
	unsigned long	 n_reconfigs, n_kms_err;
	int		 exit_code;

	/* The scheduler's hands, replaceable in tests. */
	uint64_t	(*now)(struct engine *);
	int		(*submit_enforce)(struct engine *, struct vmrec *, enum crypto_gate);
};

struct engine_opts {
	int		 once;		/* reconcile: one pass, then the report */
	int		 json;		/* reconcile --json */
	int		 dry_run;
	const char	*config_path;	/* for SIGHUP */
};
/* Runs `run` (or one `reconcile` pass) with cfg (taken) to the end;
 * returns the exit code (exitcode.h). */
int	engine_main(struct config *cfg, const struct engine_opts *);

/* engine.c */
const struct config *engine_cfg(const struct engine *);
/* No new work; the watcher is told to stop; the loop closes when the last
 * job is back. */
void	engine_stop(struct engine *);

/* sched.c: an event or a result -> the next VM */
uint64_t sched_run(struct engine *);
void	sched_note(struct engine *, const struct note *);
void	sched_task_done(struct engine *, const struct note *);
void	sched_start_scan(struct engine *);
void	sched_backoff(struct engine *, struct vmrec *, const char *why);
void	sched_settled(struct engine *, struct vmrec *);
int	sched_submit_enforce(struct engine *, struct vmrec *, enum crypto_gate);
void	sched_audit(struct engine *, const char *vm, const char *msg);
void	sched_finish_once(struct engine *);

/* progress.c: the state directory, the checkpoint */
int	progress_open(struct engine *);
void	progress_maybe(struct engine *);
void	progress_final(struct engine *);

/* leader.c: the lease -> whether the scheduler acts */
int	lease_setup(struct engine *);
void	lease_begin(struct engine *);
void	leader_note(struct engine *, const struct note *);
int	leader_may_act(void *engine);

/* confirm.c */
void	confirm_add(struct engine *, struct vmrec *);
void	confirm_drop(struct engine *);

/* health.c: the KMS */
void	health_check_now(struct engine *);
void	health_verdict(struct engine *, int usable, const char *provider, const char *reason);
int	health_is_kms_event(const char *type);
void	health_first_check(struct engine *, struct vconn *, struct kms_health *out);
void	kms_tripped(struct engine *, const char *why, int probe);
void	kms_worked(struct engine *);

/* status.c */
void	status_http(void *arg, const char *path, struct httpd_resp *r);
int	status_stream_live(struct engine *, char *why, size_t len);
void	status_event_lag(struct engine *, const char *created);

#endif
