/*
 * The engine's side of the evidence log (base/evidence.h): what `run`
 * writes there while it leads.  "open" when it starts, a "state" record
 * for every VM whose decided state changes (the decided hook of the VM
 * table), an "action" record for every reconfigure it issues (with the
 * key's provider and id), and "close" on a clean stop.  The end of each
 * task is recorded by tasks.c, on disk before the loop counts it; the
 * other records are flushed by a pool job at most RECORD_FLUSH_MS later.
 * A standby records nothing (the leader does); a dry run and `reconcile`
 * keep no log.  Loop thread only.
 */
#ifndef VMCRYPT_RECORD_H
#define VMCRYPT_RECORD_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/*
 * Records wait at most this long for their flush (a task's end does not
 * wait: tasks.c flushes before the loop counts it).  A flush per loop turn
 * was an fdatasync() every few milliseconds in a burst: 1.0 ms more agent
 * CPU per VM (BENCHMARKS.md, issue #23).
 */
#define RECORD_FLUSH_MS	200

struct core;
struct evidence;
struct outcome;
struct vmrec;
struct vsession;

struct record {
	const struct core *c;
	struct evidence	*ev;		/* NULL: no log kept */
	int		 flushing;	/* flush jobs out (loop's count) */
	atomic_int	 writing;	/* flush jobs queued or writing: a job
					   lowers it as it ends, before its done
					   callback can run on the loop */
	int		 dirty;		/* appended since it started */
	int		 failing;	/* the last flush failed (said once) */
	uint64_t	 last;		/* when the last flush began (loop ms) */
};

/*
 * Opens the log in STATE-DIR/evidence (the caller holds the state
 * directory's lock) and writes "open".  identity: this agent's.  0, or
 * -1 (said: a log that cannot be continued stops the agent, as an
 * unwritable state directory does).
 */
int	record_open(struct record *, const struct core *, struct vsession *,
	    const char *identity);
/* Once the VM table exists: its decided hook (also what the exposure
 * metric is measured from, with or without a log). */
void	record_attach(struct record *);
/* A reconfigure issued (or one found running and adopted) for r. */
void	record_issued(struct record *, const struct vmrec *r, const struct outcome *o,
	    const char *actions);
/* Each loop turn: a flush job when records wait, none is out and the last
 * began RECORD_FLUSH_MS ago or more.  Returns when to look again (loop
 * time, ms), or UINT64_MAX: nothing waits, or a flush is out (its end is
 * a loop turn). */
uint64_t record_maybe_flush(struct record *);
/* A flush is out (the loop waits for it before closing). */
int	record_busy(const struct record *);
/* A clean stop: "close", flushed (blocking: the loop is done). */
void	record_close(struct record *);

#endif
