#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static int journal;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

void
log_init(enum log_level level)
{
	cur_level = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_setlevel(enum log_level level)
{
	cur_level = level;
}

enum log_level
log_getlevel(void)
{
	return cur_level;
}

int
log_parse_level(const char *name, enum log_level *out)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

/*
 * vCenter names session-scoped objects (collectors, views) after the
 * session: "session[<key>]<uuid>".  The key identifies the session (vcsim
 * uses it as the cookie itself), so it is masked wherever it would be
 * printed.
 */
void
log_redact(char *s)
{
	while ((s = strstr(s, "session[")) != NULL) {
		s += strlen("session[");
		for (; *s != '\0' && *s != ']'; s++)
			*s = '*';
	}
}

static void
vlog(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	static const int prio[] = { 3, 4, 6, 7 };
	static const char *tag[] = { "error", "warning", "info", "debug" };
	char msg[2048];
	int saved = errno;

	if (lvl > cur_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_redact(msg);
	pthread_mutex_lock(&log_mtx);
	if (journal) {
		fprintf(stderr, "<%d>%s", prio[lvl], msg);
	} else {
		char ts[32];
		struct timespec now;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: %s", ts, now.tv_nsec / 1000000,
		    tag[lvl], msg);
	}
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_mtx);
	errno = saved;
}

#define LOGFN(name, lvl, err)					\
	void name(const char *fmt, ...)				\
	{							\
		va_list ap;					\
		va_start(ap, fmt);				\
		vlog(lvl, err, fmt, ap);			\
		va_end(ap);					\
	}

LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_error, LOG_LVL_ERROR, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(70);
}
