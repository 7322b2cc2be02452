#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC	"vmcrypt-agent checkpoint 1\n"

int
checkpoint_parse(const char *text, struct checkpoint *cp)
{
	char tm[64];
	long long key;
	int n = 0;

	if (strncmp(text, MAGIC, strlen(MAGIC)) != 0)
		return -1;
	text += strlen(MAGIC);
	/* "\n" in a scanf format matches any white space, none included: the
	 * final newline is checked by hand, so that a file cut anywhere (a
	 * torn write) never parses. */
	if (sscanf(text, "key %lld\ntime %63[0-9T:.+Z-]%n", &key, tm, &n) != 2 ||
	    n == 0 || text[n] != '\n' || text[n + 1] != '\0' || key < 0 ||
	    strlen(tm) < 19)
		return -1;
	cp->key = key;
	snprintf(cp->time, sizeof(cp->time), "%s", tm);
	return 0;
}

int
checkpoint_read(const char *dir, struct checkpoint *cp, char *err, size_t errlen)
{
	char path[4096], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	if (checkpoint_parse(buf, cp) != 0) {
		snprintf(err, errlen, "%s: not a valid checkpoint; ignoring it (a full "
		    "reconcile covers every VM)", path);
		return -1;
	}
	return 0;
}

int
checkpoint_write(const char *dir, const struct checkpoint *cp, char *err, size_t errlen)
{
	char path[4096], tmp[4096], buf[256];
	int fd, dfd, len;

	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	snprintf(tmp, sizeof(tmp), "%s/.checkpoint.tmp", dir);
	len = snprintf(buf, sizeof(buf), MAGIC "key %lld\ntime %s\n", cp->key, cp->time);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, buf, (size_t)len) != len || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
