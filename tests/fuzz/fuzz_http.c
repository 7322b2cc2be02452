/* libFuzzer target: what a client sends the metrics listener.  Run with
 * `make fuzz`. */
#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[16], path[256];

	if (size > HTTPD_MAX_REQUEST)
		size = HTTPD_MAX_REQUEST;
	(void)httpd_parse((const char *)data, size, method, sizeof(method), path,
	    sizeof(path));
	return 0;
}
