/* The metrics/health listener (see httpd.h).  Everything runs on the loop
 * thread; the handler reads agent state directly. */
#include "httpd.h"

#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn {
	uv_tcp_t	 tcp;		/* first: the handle's address is the conn's */
	uv_timer_t	 timer;
	struct httpd	*h;
	struct conn	*next, **prevp;
	char		 buf[HTTPD_MAX_REQUEST];
	size_t		 len;
	int		 responding;
	int		 no_linger;	/* over the cap: close once written */
	int		 closing;	/* handles still to close */
	uv_write_t	 wr;
	uv_shutdown_t	 sh;
	char		*out;
};

struct httpd {
	uv_tcp_t	 listener;
	httpd_handler	 handler;
	void		*arg;
	struct conn	*conns;
	int		 nconns;
	int		 stopped;
	int		 listener_open;
};

/* ---------------------------------------------------------------- */

static int
tchar(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int
httpd_parse(const char *buf, size_t len, char *method, size_t mlen, char *path, size_t plen)
{
	const char *eol = memchr(buf, '\n', len);
	size_t i = 0, n;

	if (len > 0 && !tchar((unsigned char)buf[0]))
		return 400;
	if (eol == NULL)
		return len >= HTTPD_MAX_REQUEST ? 414 : 1;
	size_t linelen = (size_t)(eol - buf);
	if (linelen > 0 && buf[linelen - 1] == '\r')
		linelen--;

	/* METHOD SP request-target SP HTTP/1.x */
	while (i < linelen && tchar((unsigned char)buf[i]))
		i++;
	if (i == 0 || i >= mlen || i >= linelen || buf[i] != ' ')
		return 400;
	memcpy(method, buf, i);
	method[i] = '\0';
	size_t t = ++i;
	while (i < linelen && buf[i] != ' ')
		i++;
	n = i - t;
	if (n == 0 || buf[t] != '/' || i >= linelen)
		return 400;
	if (n >= plen)
		return 414;
	for (size_t k = t; k < t + n; k++)
		if ((unsigned char)buf[k] <= 0x20 || (unsigned char)buf[k] >= 0x7f)
			return 400;
	const char *ver = buf + i + 1;
	size_t vlen = linelen - (i + 1);
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
		return vlen >= 5 && memcmp(ver, "HTTP/", 5) == 0 ? 505 : 400;

	/* The head ends at the first empty line. */
	int done = 0;
	for (size_t k = (size_t)(eol - buf); k < len && !done; k++)
		if (buf[k] == '\n' && ((k + 1 < len && buf[k + 1] == '\n') ||
		    (k + 2 < len && buf[k + 1] == '\r' && buf[k + 2] == '\n')))
			done = 1;
	if (!done)
		return len >= HTTPD_MAX_REQUEST ? 431 : 1;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return 405;
	memcpy(path, buf + t, n);
	path[n] = '\0';
	char *q = strpbrk(path, "?#");
	if (q != NULL)
		*q = '\0';
	return 0;
}

/* ---------------------------------------------------------------- */

static void
conn_freed(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	if (--c->closing > 0)
		return;
	struct httpd *h = c->h;
	free(c->out);
	free(c);
	h->nconns--;
	if (h->stopped && h->nconns == 0 && !h->listener_open)
		free(h);
}

static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	if (c->prevp) {
		*c->prevp = c->next;
		if (c->next)
			c->next->prevp = c->prevp;
		c->prevp = NULL;
	}
	c->closing = 2;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_freed);
	uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void
on_shut(uv_shutdown_t *sh, int status)
{
	(void)sh;
	(void)status;
}

/* Written: half-close, and read (discarding) until the client closes or
 * the linger deadline passes, so a client still sending its oversized
 * request sees our answer rather than a reset. */
static void
on_deadline_linger(uv_timer_t *t)
{
	conn_close(t->data);
}

static void
on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	if (status != 0 || c->closing || c->no_linger) {
		conn_close(c);
		return;
	}
	c->sh.data = c;
	if (uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, on_shut) != 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_deadline_linger, HTTPD_LINGER_MS, 0);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void
respond(struct conn *c, int head, struct httpd_resp *r)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	    r->status, reason(r->status), r->type ? r->type : "text/plain; charset=utf-8",
	    r->len, r->status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t body = head ? 0 : r->len;
	c->out = xmalloc((size_t)n + body);
	memcpy(c->out, hdr, (size_t)n);
	if (body)
		memcpy(c->out + n, r->body, body);
	free(r->body);
	c->responding = 1;
	c->len = 0;
	uv_buf_t b = uv_buf_init(c->out, (unsigned)((size_t)n + body));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
		conn_close(c);
}

static void
refuse(struct conn *c, int status)
{
	struct httpd_resp r = { status, NULL, NULL, 0 };
	char msg[64];
	snprintf(msg, sizeof(msg), "%d %s\n", status, reason(status));
	r.body = xstrdup(msg);
	r.len = strlen(msg);
	respond(c, 0, &r);
}

static void
on_alloc(uv_handle_t *hd, size_t want, uv_buf_t *b)
{
	struct conn *c = hd->data;
	(void)want;
	if (c->responding)
		c->len = 0;		/* lingering: what comes now is dropped */
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	char method[16], path[256];
	(void)b;

	if (c->closing)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->responding)
		return;
	c->len += (size_t)n;
	int rc = httpd_parse(c->buf, c->len, method, sizeof(method), path, sizeof(path));
	if (rc == 1) {
		if (c->len == sizeof(c->buf))
			refuse(c, 431);
		return;
	}
	if (rc != 0) {
		refuse(c, rc);
		return;
	}
	struct httpd_resp r = { 404, NULL, NULL, 0 };
	c->h->handler(c->h->arg, path, &r);
	if (r.body == NULL) {
		r.body = xstrdup("not found: try /metrics or /healthz\n");
		r.len = strlen(r.body);
	}
	respond(c, strcmp(method, "HEAD") == 0, &r);
}

static void
on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (!c->responding)
		conn_close(c);		/* a client too slow to send its request */
}

static void
on_connection(uv_stream_t *ls, int status)
{
	struct httpd *h = ls->data;
	if (status != 0 || h->stopped)
		return;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->h = h;
	uv_tcp_init(ls->loop, &c->tcp);
	uv_timer_init(ls->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	h->nconns++;
	c->next = h->conns;
	if (h->conns)
		h->conns->prevp = &c->next;
	c->prevp = &h->conns;
	h->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	if (h->nconns > HTTPD_MAX_CONNS) {
		c->no_linger = 1;
		refuse(c, 503);
		return;
	}
	uv_timer_start(&c->timer, on_deadline, HTTPD_DEADLINE_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

struct httpd *
httpd_start(uv_loop_t *loop, const char *listen, httpd_handler handler, void *arg,
    char *err, size_t errlen)
{
	char host[128];
	struct sockaddr_storage ss;
	const char *colon = strrchr(listen, ':');
	int port, rc;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) ||
	    (port = atoi(colon + 1)) < 1 || port > 65535) {
		snprintf(err, errlen, "metrics listen \"%s\": not host:port", listen);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (host[0] == '[') {
		size_t l = strlen(host);
		if (l < 3 || host[l - 1] != ']') {
			snprintf(err, errlen, "metrics listen \"%s\": bad IPv6 address", listen);
			return NULL;
		}
		memmove(host, host + 1, l - 2);
		host[l - 2] = '\0';
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	} else {
		rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	}
	if (rc != 0) {
		snprintf(err, errlen, "metrics listen \"%s\": not an IP address", listen);
		return NULL;
	}
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->handler = handler;
	h->arg = arg;
	uv_tcp_init(loop, &h->listener);
	h->listener.data = h;
	h->listener_open = 1;
	if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&h->listener, 64, on_connection)) != 0) {
		snprintf(err, errlen, "metrics listener on %s: %s", listen, uv_strerror(rc));
		httpd_stop(h);
		return NULL;
	}
	return h;
}

static void
listener_closed(uv_handle_t *hd)
{
	struct httpd *h = hd->data;
	h->listener_open = 0;
	if (h->nconns == 0)
		free(h);
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL || h->stopped)
		return;
	h->stopped = 1;
	while (h->conns)
		conn_close(h->conns);
	uv_close((uv_handle_t *)&h->listener, listener_closed);
}
