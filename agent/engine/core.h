/*
 * What every file of the engine is handed: the loop's shared parts, by
 * reference.  engine.c fills it and is the only file that writes its
 * members (the flags, the configuration snapshot swapped on SIGHUP);
 * the others get a const pointer.  Each part it points to is written only
 * by its own file's functions (pool.c, vmtable.c, tasks.c, metrics.c,
 * lease.c).
 *
 * The engine's files, from the top down (each uses only those below it;
 * `make layers` checks it):
 *
 *   engine.c     the loop: lifetime, signals, timers, reload; dispatches
 *                every note from the other threads; the per-turn hook
 *   status.c     /metrics, /healthz (reads)
 *   leader.c     the lease -> whether this agent acts
 *   reconcile.c  the scans, and the end of a `reconcile` pass
 *   jobs.c       enforcing one VM; a task's end; audit events in vCenter
 *   confirm.c    the batched read after successful tasks
 *   sched.c      queued VM -> a slot; backoff; an event's VM part
 *   health.c     the KMS: health checks and the breaker
 *   progress.c   the state directory: lock, identity, checkpoint
 *   record.c     the evidence log: what this agent saw and did
 *   below:       watch.c tasks.c lease.c pool.c notes.c vmtable.c
 *                metrics.c checkpoint.c breaker.c backoff.c evmap.c
 */
#ifndef VMCRYPT_CORE_H
#define VMCRYPT_CORE_H

#include <stdint.h>

#include <uv.h>

#include "config.h"

struct enforcer;
struct lease;
struct metrics;
struct notes;
struct pool;
struct tasks;
struct vmtable;

struct core {
	uv_loop_t	*loop;
	struct pool	*pool;
	struct vmtable	*vms;
	struct tasks	*tasks;
	struct notes	*notes;
	struct metrics	*met;
	struct lease	*lease;
	struct enforcer	*enf;
	struct cfgref	*cfg;		/* the current snapshot (SIGHUP swaps it) */
	const char	*config_path;
	int		 once;		/* the reconcile command */
	int		 dry_run;
	int		 json;
	int		 accepting;	/* 0 once stopping: no new work */
	int		 closing;	/* the handles are closing */
	/* The clock (ms), replaceable in tests. */
	uint64_t	(*now)(const struct core *);
	void		*clock_arg;
};

/* The current configuration snapshot. */
static inline const struct config *
core_cfg(const struct core *c)
{
	return cfgref_get(c->cfg);
}

#endif
