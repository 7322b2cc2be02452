/*
 * The loop of `vmcrypt-agent run` and `reconcile` (engine.c), and the
 * struct that holds every part of it.  Each part is owned by its own
 * file (core.h lists them from the top down); engine.c builds them,
 * dispatches every note from the other threads to them, and tears them
 * down.  status.c reads this struct to answer /metrics and /healthz.
 */
#ifndef VMCRYPT_ENGINE_H
#define VMCRYPT_ENGINE_H

#include <uv.h>

#include "confirm.h"
#include "core.h"
#include "health.h"
#include "jobs.h"
#include "lease.h"
#include "metrics.h"
#include "notes.h"
#include "pace.h"
#include "pool.h"
#include "progress.h"
#include "reconcile.h"
#include "record.h"
#include "sched.h"
#include "tasks.h"
#include "vmtable.h"
#include "watch.h"

struct config;
struct httpd;
struct vsession;

struct engine {
	uv_loop_t	 loop;
	uv_signal_t	 sigterm, sigint, sighup;
	uv_timer_t	 keepalive, reconcile_t, retry_t, drain_t, kms_t, watchdog_t;
	uv_async_t	 wake;		/* notes arrived */
	uv_prepare_t	 turn;		/* the per-turn hook */
	struct core	 core;		/* what the parts are handed */
	struct vsession	*s;
	struct httpd	*httpd;
	struct credsock	*credsock;	/* the credential hand-over */

	/* The parts below the loop (core.h). */
	struct notes	 notes;
	struct watch	 watch;
	struct pool	 pool;
	struct tasks	 tasks;
	struct vmtable	 vms;
	struct metrics	 met;
	struct lease	 lease;
	struct progress	 progress;
	struct record	 record;
	struct pace	 pace;
	struct health	 health;
	struct sched	 sched;
	struct confirm	 confirm;
	struct jobs	 jobs;
	struct reconcile rec;

	/* The loop's own. */
	int		 watching;	/* the event stream was live once */
	int		 draining;	/* SIGTERM: following the last tasks */
	double		 event_lag;	/* seconds, -1 none yet */
	int		 exit_code;
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

#endif
