/* libFuzzer target: whatever crosses the wire is redacted before it is
 * written to a SOAP trace (agent/base/trace.c): any bytes, chunked or gzip'd or
 * cut anywhere, must neither crash nor read past the message.  Run with
 * `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "trace.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;
	free(trace_redact((const char *)data, size, &n));
	return 0;
}
