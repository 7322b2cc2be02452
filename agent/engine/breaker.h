/*
 * The KMS circuit breaker, pure: no clock of its own (now is passed in, in
 * ms), no I/O, no logging.  Unit-tested (tests/unit/test_engine.c).
 *
 *   closed     keys may be asked for;
 *   open       a KMS failure: no key is asked for until `until`;
 *   half-open  past `until`: one probe (one VM's encryption) at a time;
 *              its success closes the breaker, its failure opens it again
 *              for twice as long (BREAKER_MIN_MS doubling to BREAKER_MAX_MS);
 *   held       the KMS health check says the key provider is unusable: open
 *              with no probe until a health check says it is usable again.
 */
#ifndef VMCRYPT_BREAKER_H
#define VMCRYPT_BREAKER_H

#include <stdint.h>

#define BREAKER_MIN_MS	2000
#define BREAKER_MAX_MS	(5 * 60 * 1000)

/* What a job may do with keys. */
enum crypto_gate {
	CRYPTO_HELD,		/* no key: fix what needs none */
	CRYPTO_ALLOWED,
	CRYPTO_PROBE,		/* the half-open breaker's one trial */
};

struct breaker {
	int		open;
	int		held;		/* by the KMS health check */
	int		probing;	/* a probe is out */
	uint64_t	until;		/* open until then (ms) */
	unsigned	ms;		/* the current open period */
};

/*
 * The gate for the next job at time now.  Past `until`, the first caller
 * gets CRYPTO_PROBE and the breaker counts a probe out until
 * breaker_probe_done().
 */
enum crypto_gate breaker_gate(struct breaker *, uint64_t now);
/* The probe ended without testing the KMS (no key was asked for). */
void		 breaker_probe_done(struct breaker *);
/*
 * A KMS failure at time now.  Returns 1 if it opened the breaker (a
 * closed one), 2 if it lengthened it (a failed probe), 0 if it changed
 * nothing (a job that started before it opened).
 */
int		 breaker_trip(struct breaker *, uint64_t now, int was_probe);
/* A key was used with success: closes the breaker unless it is held.
 * Returns 1 if it was open. */
int		 breaker_close(struct breaker *);
/* The health check's verdict: held while unusable; usable releases it
 * (closed).  Returns 1 if the verdict changed the breaker. */
int		 breaker_hold(struct breaker *, int unusable);
/* When the breaker next lets a probe through (UINT64_MAX: not scheduled). */
uint64_t	 breaker_next(const struct breaker *);

#endif
