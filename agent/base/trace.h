/*
 * SOAP traces: every request the agent sends to vCenter and every answer,
 * written to a directory so that an admin can attach the exact exchange to
 * a bug report when a real vCenter disagrees with us.  Secrets never reach
 * the files: session cookies, passwords, SPBM's vcSessionCookie, session
 * keys and ids, key material and OVHcloud credentials are replaced before
 * anything is written (trace_redact, pure and unit-tested).
 *
 * Files: DIR/NNNNNN-Method.request.http and .response.http, the HTTP
 * message as it crossed the wire (a chunked body joined), mode 0600 in a
 * 0700 directory.  Only the newest `keep` exchanges are kept.
 * Thread-safe: one trace is shared by every connection of a session.
 */
#ifndef VMCRYPT_TRACE_H
#define VMCRYPT_TRACE_H

#include <stddef.h>

struct trace;

/* Creates dir (0700) if needed and checks it can be written: 0, or -1
 * with a reason in err. */
int		 trace_dir_ready(const char *dir, char *err, size_t errlen);
/* Creates dir (0700) if needed.  NULL with a reason in err. */
struct trace	*trace_open(const char *dir, int keep, char *err, size_t errlen);
void		 trace_close(struct trace *);
const char	*trace_dir(const struct trace *);

/* Writes one exchange; resp may be empty (no answer came). */
void	trace_exchange(struct trace *, const char *req, size_t reqlen,
	    const char *resp, size_t resplen);

/*
 * A copy of one HTTP message (head and body) with every secret replaced by
 * "[redacted]", and a chunked body joined.  malloc'd, NUL-terminated;
 * *outlen is its length.
 */
char	*trace_redact(const char *msg, size_t len, size_t *outlen);

#endif
