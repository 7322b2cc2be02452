/* The credential hand-over listener (see credsock.h).  Everything runs on
 * the loop thread; the peer's message is read into a buffer of fixed size
 * and handed to the owner's function only once it is whole. */
#include "credsock.h"

#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conn {
	uv_pipe_t	 pipe;		/* first: the handle's address is the conn's */
	uv_timer_t	 timer;
	struct credsock	*cs;
	struct conn	*next, **prevp;
	char		 buf[CREDSOCK_MAX + 1];	/* one byte more: "too long" is seen */
	size_t		 len;
	int		 responding;	/* answered: what comes now is dropped */
	int		 closing;	/* handles still to close */
	uv_write_t	 wr;
	uv_shutdown_t	 sh;
	char		 out[512];
	unsigned	 uid;
	int		 pid;
};

struct credsock {
	uv_pipe_t	 listener;
	credsock_fn	 fn;
	void		*arg;
	struct conn	*conns;
	int		 nconns;
	int		 stopped;
	int		 listener_open;
	int		 bound;		/* the socket file is ours to remove */
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int
credsock_parse(char *buf, size_t len, const char **name, const char **secret,
    size_t *slen, const char **why)
{
	char *nl = memchr(buf, '\n', len < CREDSOCK_NAME_MAX ? len : CREDSOCK_NAME_MAX);

	if (nl == NULL) {
		*why = len < CREDSOCK_NAME_MAX ? "no NAME line: send NAME, a newline, the "
		    "secret, a newline" : "the NAME line is too long";
		return -1;
	}
	if (nl == buf) {
		*why = "an empty NAME";
		return -1;
	}
	for (const char *p = buf; p < nl; p++)
		if (*p <= ' ' || *p > '~') {
			*why = "NAME is not printable ASCII";
			return -1;
		}
	char *s = nl + 1;
	size_t n = len - (size_t)(s - buf);
	/* The closing newline tells a whole message from one cut off by a
	 * peer that went away mid-way. */
	if (n == 0 || s[n - 1] != '\n') {
		*why = "the message was cut off (no newline after the secret)";
		return -1;
	}
	n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0) {
		*why = "an empty secret";
		return -1;
	}
	if (memchr(s, '\n', n) != NULL || memchr(s, '\0', n) != NULL) {
		*why = "the secret holds a newline or a NUL byte";
		return -1;
	}
	*nl = '\0';
	s[n] = '\0';
	*name = buf;
	*secret = s;
	*slen = n;
	return 0;
}

/* ---------------------------------------------------------------- */

static void
credsock_free(struct credsock *cs)
{
	free(cs);
}

static void
conn_freed(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	if (--c->closing > 0)
		return;
	struct credsock *cs = c->cs;
	explicit_bzero(c->buf, sizeof(c->buf));
	free(c);
	cs->nconns--;
	if (cs->stopped && cs->nconns == 0 && !cs->listener_open)
		credsock_free(cs);
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
	uv_close((uv_handle_t *)&c->pipe, conn_freed);
}

static void
on_shut(uv_shutdown_t *sh, int status)
{
	(void)sh;
	(void)status;
}

static void
on_deadline_linger(uv_timer_t *t)
{
	conn_close(t->data);
}

/* Answered: half-close, and read (dropping it) until the peer closes or
 * the linger deadline passes, so that a peer still sending an oversized
 * message reads our answer rather than a reset. */
static void
on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	if (status != 0 || c->closing) {
		conn_close(c);
		return;
	}
	c->sh.data = c;
	if (uv_shutdown(&c->sh, (uv_stream_t *)&c->pipe, on_shut) != 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_deadline_linger, CREDSOCK_LINGER_MS, 0);
}

/* The one answer: "ok\n" (why NULL) or "error: WHY\n".  The message read
 * so far is wiped: it may hold the secret. */
static void
respond(struct conn *c, const char *why)
{
	int n = why ? snprintf(c->out, sizeof(c->out), "error: %s\n", why) :
	    snprintf(c->out, sizeof(c->out), "ok\n");
	explicit_bzero(c->buf, sizeof(c->buf));
	c->len = 0;
	c->responding = 1;
	uv_timer_stop(&c->timer);
	uv_buf_t b = uv_buf_init(c->out, (unsigned)((size_t)n < sizeof(c->out) ? (size_t)n :
	    sizeof(c->out) - 1));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0)
		conn_close(c);
}

static void
refuse(struct conn *c, const char *why)
{
	log_warnx("credential hand-over refused (peer uid %u, pid %d): %s", c->uid, c->pid,
	    why);
	respond(c, why);
}

/* A whole message: parsed, handed to the owner, answered. */
static void
take(struct conn *c)
{
	const char *name, *secret, *why;
	char reply[256];
	size_t slen;

	if (credsock_parse(c->buf, c->len, &name, &secret, &slen, &why) != 0) {
		refuse(c, why);
		return;
	}
	reply[0] = '\0';
	if (c->cs->fn(c->cs->arg, name, secret, slen, reply, sizeof(reply)) != 0) {
		refuse(c, reply[0] ? reply : "refused");
		return;
	}
	log_info("credential hand-over: %s taken from uid %u (pid %d)", name, c->uid, c->pid);
	respond(c, NULL);
}

static void
on_alloc(uv_handle_t *hd, size_t want, uv_buf_t *b)
{
	struct conn *c = hd->data;
	(void)want;
	if (c->responding)
		c->len = 0;		/* lingering: dropped */
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	(void)b;

	if (c->closing)
		return;
	if (c->responding) {
		if (n < 0)
			conn_close(c);
		else
			explicit_bzero(c->buf, (size_t)n);
		return;
	}
	if (n == UV_EOF) {
		take(c);
		return;
	}
	if (n < 0) {
		/* Gone mid-way (a reset): nothing to answer, nothing taken. */
		log_warnx("credential hand-over: peer uid %u (pid %d) went away mid-message: "
		    "nothing taken", c->uid, c->pid);
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	if (c->len > CREDSOCK_MAX) {
		char why[96];
		snprintf(why, sizeof(why), "the message is longer than %d bytes", CREDSOCK_MAX);
		refuse(c, why);
	}
}

static void
on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (!c->responding)
		refuse(c, "too slow: the whole message must come within 5 s");
}

/* 0 if the peer may hand over a secret: root, or the agent's own user. */
static int
peer_allowed(struct conn *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -1;
	c->uid = (unsigned)cred.uid;
	c->pid = (int)cred.pid;
	return cred.uid == 0 || cred.uid == geteuid() ? 0 : -1;
}

static void
on_connection(uv_stream_t *ls, int status)
{
	struct credsock *cs = ls->data;
	if (status != 0 || cs->stopped)
		return;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->cs = cs;
	uv_pipe_init(ls->loop, &c->pipe, 0);
	uv_timer_init(ls->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	cs->nconns++;
	c->next = cs->conns;
	if (cs->conns)
		cs->conns->prevp = &c->next;
	c->prevp = &cs->conns;
	cs->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->pipe) != 0) {
		conn_close(c);
		return;
	}
	if (peer_allowed(c) != 0) {
		refuse(c, "not allowed: only root or the agent's own user may hand over a "
		    "credential");
		return;
	}
	if (cs->nconns > CREDSOCK_MAX_CONNS) {
		refuse(c, "busy: too many hand-overs at once; try again");
		return;
	}
	uv_timer_start(&c->timer, on_deadline, CREDSOCK_DEADLINE_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* A socket file at path: replaced if nobody listens there (a stale one
 * from an agent that was killed), else -1 with err. */
static int
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path,
		    strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return snprintf(err, errlen, "socket: %s", strerror(errno)), -1;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another agent listens on %s", path);
		return -1;
	}
	unlink(path);
	return 0;
}

struct credsock *
credsock_start(uv_loop_t *loop, const char *path, credsock_fn fn, void *arg, char *err,
    size_t errlen)
{
	int rc;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "%s: longer than a Unix socket's path may be", path);
		return NULL;
	}
	if (clear_stale(path, err, errlen) != 0)
		return NULL;
	struct credsock *cs = xcalloc(1, sizeof(*cs));
	cs->fn = fn;
	cs->arg = arg;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	uv_pipe_init(loop, &cs->listener, 0);
	cs->listener.data = cs;
	cs->listener_open = 1;
	if ((rc = uv_pipe_bind(&cs->listener, path)) == 0)
		cs->bound = 1;
	if (rc != 0 || (rc = uv_listen((uv_stream_t *)&cs->listener, 8, on_connection)) != 0 ||
	    (rc = chmod(path, 0600) == 0 ? 0 : uv_translate_sys_error(errno)) != 0) {
		snprintf(err, errlen, "%s: %s", path, uv_strerror(rc));
		credsock_stop(cs);
		return NULL;
	}
	return cs;
}

static void
listener_closed(uv_handle_t *hd)
{
	struct credsock *cs = hd->data;
	cs->listener_open = 0;
	if (cs->nconns == 0)
		credsock_free(cs);
}

void
credsock_stop(struct credsock *cs)
{
	if (cs == NULL || cs->stopped)
		return;
	cs->stopped = 1;
	while (cs->conns)
		conn_close(cs->conns);
	uv_close((uv_handle_t *)&cs->listener, listener_closed);
	if (cs->bound)
		unlink(cs->path);
}

static int
to_password(void *arg, const char *name, const char *secret, size_t len, char *reply,
    size_t rlen)
{
	(void)arg;
	return config_password_handover(name, secret, len, reply, rlen);
}

struct credsock *
credsock_open(uv_loop_t *loop)
{
	const char *env = getenv("VMCRYPT_CREDENTIAL_SOCKET"), *rt = getenv("RUNTIME_DIRECTORY");
	char path[4096], err[1024];
	struct credsock *cs;
	struct stat st;

	if (env != NULL && env[0] != '\0')
		snprintf(path, sizeof(path), "%s", env);
	else if (rt != NULL && rt[0] == '/')	/* its first directory */
		snprintf(path, sizeof(path), "%.*s/" CREDSOCK_FILE, (int)strcspn(rt, ":"), rt);
	else if (stat(CREDSOCK_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(path, sizeof(path), CREDSOCK_DIR "/" CREDSOCK_FILE);
	else {
		log_debug("no credential hand-over: no RuntimeDirectory=, no " CREDSOCK_DIR);
		return NULL;
	}
	if ((cs = credsock_start(loop, path, to_password, NULL, err, sizeof(err))) == NULL)
		log_warnx("credential hand-over: %s; a password changed with `credential set` "
		    "reaches the agent at its next start", err);
	else
		log_info("credential hand-over: listening on %s", path);
	return cs;
}
