/*
 * Backoff delays, pure (the random draw is passed in): a VM's retries and
 * the watcher's reconnects.  Unit-tested for their bounds
 * (tests/unit/test_engine.c).
 */
#ifndef VMCRYPT_BACKOFF_H
#define VMCRYPT_BACKOFF_H

#include <stdint.h>

#define RETRY_BASE_MS	5000		/* a VM's first retry */
#define RETRY_MAX_MS	(15 * 60 * 1000)
#define RETRY_ATTEMPTS	8		/* then wait for an event or a reconcile */
#define WATCH_BASE_MS	1000		/* the watcher's first reconnect */
#define WATCH_MAX_MS	30000

/*
 * The delay before retry number attempts+1 of a VM (attempts >= 1):
 * RETRY_BASE_MS doubling per attempt, capped at RETRY_MAX_MS, then +-20%
 * jitter (rnd: any value; rnd % 41 picks the jitter).
 */
uint64_t	backoff_retry_ms(unsigned attempts, unsigned rnd);

/*
 * The watcher's reconnect: returns how long to sleep now (*cur +-20%, rnd
 * as above) and doubles *cur for the next time, up to WATCH_MAX_MS, so that
 * agents (or a restarted vCenter's many clients) do not come back in step.
 */
int		backoff_watch_ms(int *cur, unsigned rnd);

#endif
