/* libFuzzer target: whatever the OVHcloud API (or something in its place)
 * answers, as an error body, and whatever is given as a thumbprint.  Run
 * with `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ovh.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[512], code[64], tp[60];
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	ovh_error_line(size % 600, (const char *)data, size, s, line, sizeof(line));
	ovh_error_code((const char *)data, size, code, sizeof(code));
	(void)ovh_thumbprint_norm(s, tp);
	(void)ovh_is_ipv4(s);
	free(s);
	return 0;
}
