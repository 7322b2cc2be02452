/*
 * A small HTTP/1.x listener on the libuv loop, for /metrics and /healthz:
 * GET and HEAD only, one request per connection, a bounded request
 * (8 KB of headers), a deadline per connection and a cap on connections,
 * so a slow or malformed client cannot hold the loop or its memory.
 */
#ifndef VMCRYPT_HTTPD_H
#define VMCRYPT_HTTPD_H

#include <stddef.h>

#include <uv.h>

#define HTTPD_MAX_REQUEST	8192
#define HTTPD_MAX_CONNS		32
#define HTTPD_DEADLINE_MS	5000	/* to send a whole request */
#define HTTPD_LINGER_MS		2000	/* to read our answer and close */

/* A response the handler fills: status, content type, body (malloc'd). */
struct httpd_resp {
	int		 status;
	const char	*type;
	char		*body;
	size_t		 len;
};

typedef void (*httpd_handler)(void *arg, const char *path, struct httpd_resp *);

struct httpd;

/* Listens on "host:port" ("[v6]:port").  NULL with err on failure. */
struct httpd *httpd_start(uv_loop_t *, const char *listen, httpd_handler, void *arg,
	    char *err, size_t errlen);
/* Closes the listener and every connection (their handles close on the
 * loop's next turn; the struct is freed when the last one has). */
void	httpd_stop(struct httpd *);

/*
 * Parses the request head in buf[0, len).  Returns 1 when more bytes are
 * needed, 0 with method and path (NUL-terminated, query string cut off)
 * when the head is complete, or an HTTP status (400, 405, 414, 431, 505)
 * for a request to refuse.  Pure; fuzzed.
 */
int	httpd_parse(const char *buf, size_t len, char *method, size_t mlen,
	    char *path, size_t plen);

#endif
