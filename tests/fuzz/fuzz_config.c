/* libFuzzer target: the agent's XML configuration, parsed and validated
 * against the embedded XSD exactly as `run` loads it (from a file: the
 * input is written to a memfd).  Run with `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct config *cfg = NULL;
	char path[64], err[4096];

	if (fd == -1) {
		log_init(LOG_LVL_ERROR);
		if ((fd = memfd_create("vmcrypt-fuzz-config", 0)) == -1)
			return 0;
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, &cfg, err, sizeof(err)) == 0)
		config_free(cfg);
	return 0;
}
