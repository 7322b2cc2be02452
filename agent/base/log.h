/* Logging, after OpenBSD's log.c: one line per message to stderr.  Under
 * systemd (JOURNAL_STREAM set) every line carries a <N> syslog priority
 * prefix so journald keeps the level.  Never pass secrets to these. */
#ifndef VMCRYPT_LOG_H
#define VMCRYPT_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(enum log_level level);
void log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
int  log_parse_level(const char *name, enum log_level *out);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Masks the session key in "session[<key>]..." object names, in place. */
void	log_redact(char *);

#endif
