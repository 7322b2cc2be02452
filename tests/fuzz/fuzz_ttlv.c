/* libFuzzer target: whatever a "KMS" sends back is read as a KMIP response
 * (both operations the probe asks for, and a key's dates).  Run with `make fuzz`. */
#include <stddef.h>
#include <stdint.h>

#include "kmip.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmip_answer a;
	struct kmip_dates d;
	char err[256];

	if (size >= KMIP_HEADER_LEN)
		(void)kmip_message_len(data);
	(void)kmip_parse_response(data, size, KOP_DISCOVER_VERSIONS, &a, err, sizeof(err));
	(void)kmip_parse_response(data, size, KOP_QUERY, &a, err, sizeof(err));
	(void)kmip_parse_dates(data, size, &d, err, sizeof(err));
	return 0;
}
