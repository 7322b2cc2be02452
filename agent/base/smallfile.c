/*
 * A small file read whole (smallfile.h).  A secret is refused, with the
 * chmod that fixes it, if group or other may read it: a key that others
 * can read is no longer only ours.
 */
#include "smallfile.h"

#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
smallfile_read(const char *path, int secret, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SMALLFILE_MAX) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    fd < 0 ? strerror(errno) : "not a regular file of at most 64 KB");
		goto out;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "%s is accessible by group or other (mode %03o); run: "
		    "chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	buf = xcalloc(1, (size_t)st.st_size + 1);
	if ((n = read(fd, buf, (size_t)st.st_size)) != st.st_size) {
		snprintf(err, errlen, "cannot read %s: short read", path);
		explicit_bzero(buf, (size_t)st.st_size);
		free(buf);
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

int
pem_same(const char *a, const char *b)
{
	while (*a || *b) {
		while (*a && isspace((unsigned char)*a))
			a++;
		while (*b && isspace((unsigned char)*b))
			b++;
		if (*a != *b)
			return 0;
		if (*a) {
			a++;
			b++;
		}
	}
	return 1;
}
