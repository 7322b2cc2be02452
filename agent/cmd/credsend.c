/*
 * `credential set`'s hand-over to the running agent (credsend.h): one
 * connection to its Unix socket, one message, one answer.  The agent
 * checks who we are (SO_PEERCRED: root or its own user); the socket's
 * directory (RuntimeDirectory=, 0700) keeps everyone else from it.
 */
#include "credsend.h"

#include "credsock.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CREDSEND_TIMEOUT_S	10

const char *
credsend_path(const char *instance, char *buf, size_t len)
{
	const char *env = getenv("VMCRYPT_CREDENTIAL_SOCKET");

	if (env != NULL && env[0] != '\0')
		snprintf(buf, len, "%s", env);
	else if (instance != NULL)
		snprintf(buf, len, CREDSOCK_DIR "@%s/" CREDSOCK_FILE, instance);
	else
		snprintf(buf, len, CREDSOCK_DIR "/" CREDSOCK_FILE);
	return buf;
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The answer, up to the agent's close: 0 with it in buf, or -1. */
static int
read_answer(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len - 1 && (r = recv(fd, buf + got, len - 1 - got, 0)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return got > 0 ? 0 : -1;
}

enum credsend_result
credsend(const char *path, const char *name, const char *secret, size_t n, char *why,
    size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CREDSEND_TIMEOUT_S };
	char msg[CREDSOCK_MAX + 2], answer[512];
	enum credsend_result rc = CREDSEND_FAILED;
	int fd, len;

	why[0] = '\0';
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "%s: too long for a Unix socket's path", path);
		return CREDSEND_FAILED;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return CREDSEND_FAILED;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(e));
		close(fd);
		return e == ENOENT || e == ECONNREFUSED || e == ENOTDIR ? CREDSEND_NOBODY :
		    CREDSEND_FAILED;
	}
	len = snprintf(msg, sizeof(msg), "%s\n%.*s\n", name, (int)n, secret);
	if (len < 0 || (size_t)len >= sizeof(msg)) {
		snprintf(why, whylen, "the secret is too long to hand over");
		goto out;
	}
	errno = 0;
	if (send_all(fd, msg, (size_t)len) != 0 || shutdown(fd, SHUT_WR) != 0 ||
	    read_answer(fd, answer, sizeof(answer)) != 0) {
		snprintf(why, whylen, "%s: %s", path, errno ? strerror(errno) :
		    "no answer from the agent");
		goto out;
	}
	if (strcmp(answer, "ok") == 0) {
		rc = CREDSEND_OK;
	} else {
		snprintf(why, whylen, "%s", strncmp(answer, "error: ", 7) == 0 ? answer + 7 :
		    answer);
		rc = CREDSEND_REFUSED;
	}
out:
	explicit_bzero(msg, sizeof(msg));
	close(fd);
	return rc;
}
