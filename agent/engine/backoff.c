#include "backoff.h"

uint64_t
backoff_retry_ms(unsigned attempts, unsigned rnd)
{
	unsigned shift = attempts > 0 ? attempts - 1 : 0;
	uint64_t d = shift >= 20 ? RETRY_MAX_MS : (uint64_t)RETRY_BASE_MS << shift;

	if (d > RETRY_MAX_MS)
		d = RETRY_MAX_MS;
	return d * (80 + (uint64_t)(rnd % 41)) / 100;
}

int
backoff_watch_ms(int *cur, unsigned rnd)
{
	int d = *cur > 0 ? *cur : WATCH_BASE_MS;

	*cur = d < WATCH_MAX_MS / 2 ? d * 2 : WATCH_MAX_MS;
	return (int)((long)d * (80 + (long)(rnd % 41)) / 100);
}
