#include "breaker.h"

enum crypto_gate
breaker_gate(struct breaker *b, uint64_t now)
{
	if (b->held)
		return CRYPTO_HELD;
	if (!b->open)
		return CRYPTO_ALLOWED;
	if (!b->probing && now >= b->until) {
		b->probing = 1;		/* one trial while half-open */
		return CRYPTO_PROBE;
	}
	return CRYPTO_HELD;
}

void
breaker_probe_done(struct breaker *b)
{
	b->probing = 0;
}

int
breaker_trip(struct breaker *b, uint64_t now, int was_probe)
{
	int was_open = b->open;

	/* Jobs that were already running when it opened say nothing new. */
	if (was_open && !was_probe)
		return 0;
	b->ms = b->ms ? b->ms * 2 : BREAKER_MIN_MS;
	if (b->ms > BREAKER_MAX_MS)
		b->ms = BREAKER_MAX_MS;
	b->open = 1;
	b->probing = 0;
	b->until = now + b->ms;
	return was_open ? 2 : 1;
}

int
breaker_close(struct breaker *b)
{
	if (!b->open || b->held)
		return 0;
	b->open = 0;
	b->probing = 0;
	b->ms = 0;
	return 1;
}

int
breaker_hold(struct breaker *b, int unusable)
{
	if (unusable) {
		int changed = !b->held;
		b->held = 1;
		b->open = 1;
		b->probing = 0;
		b->until = UINT64_MAX;
		return changed;
	}
	if (!b->held)
		return 0;
	b->held = 0;
	b->ms = 0;
	b->open = 1;		/* closed by breaker_close() just below */
	breaker_close(b);
	return 1;
}

uint64_t
breaker_next(const struct breaker *b)
{
	if (!b->open || b->held || b->probing)
		return UINT64_MAX;
	return b->until;
}
