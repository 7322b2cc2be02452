/* sd_notify(3), the protocol as systemd documents it: an AF_UNIX datagram,
 * the socket path or (leading '@') an abstract name. */
#include "notify.h"

#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addrlen;
static uint64_t watchdog_usec;

void
notify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	const char *w = getenv("WATCHDOG_USEC"), *wp = getenv("WATCHDOG_PID");

	addrlen = 0;
	if (p != NULL && (p[0] == '/' || p[0] == '@') && strlen(p) < sizeof(addr.sun_path)) {
		memset(&addr, 0, sizeof(addr));
		addr.sun_family = AF_UNIX;
		memcpy(addr.sun_path, p, strlen(p));
		if (p[0] == '@')
			addr.sun_path[0] = '\0';
		addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p));
	}
	watchdog_usec = 0;
	if (w != NULL && (wp == NULL || strtol(wp, NULL, 10) == (long)getpid()))
		watchdog_usec = strtoull(w, NULL, 10);
	/* Children (none today) must not talk to systemd in our name. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
notify_send(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int fd, rc = 0;

	if (addrlen == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr,
	    addrlen) < 0) {
		log_debug("sd_notify: %s", strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

int
notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

uint64_t
notify_watchdog_usec(void)
{
	return watchdog_usec;
}
