/*
 * The credential hand-over listener: a Unix socket on the libuv loop where
 * `vmcrypt-agent credential set` gives the running agent a secret it has
 * just written, because systemd before 260 hands a service its credentials
 * once, at start.  One message per connection, "NAME\nSECRET\n" then the
 * writer's half-close; one answer, "ok\n" or "error: WHY\n".  Only a peer
 * whose SO_PEERCRED uid is 0 or the agent's own euid is heard; a message
 * is capped, a connection has a deadline and their number a cap, so a
 * hostile or broken peer cannot hold the loop or its memory.  The buffer
 * that held a secret is wiped before it is freed.
 */
#ifndef VMCRYPT_CREDSOCK_H
#define VMCRYPT_CREDSOCK_H

#include <stddef.h>

#include <uv.h>

/* Where `run` listens without VMCRYPT_CREDENTIAL_SOCKET or the unit's
 * RuntimeDirectory= ($RUNTIME_DIRECTORY); an instance vmcrypt-agent@NAME
 * has /run/vmcrypt-agent@NAME. */
#define CREDSOCK_DIR		"/run/vmcrypt-agent"
#define CREDSOCK_FILE		"credential.sock"

#define CREDSOCK_NAME_MAX	64	/* the name's line, newline included */
#define CREDSOCK_SECRET_MAX	4096	/* the secret's line, newline included */
#define CREDSOCK_MAX		(CREDSOCK_NAME_MAX + CREDSOCK_SECRET_MAX)
#define CREDSOCK_MAX_CONNS	4
#define CREDSOCK_DEADLINE_MS	5000	/* to send a whole message */
#define CREDSOCK_LINGER_MS	2000	/* to read our answer and close */

/*
 * What to do with a secret handed over (name and secret NUL-terminated;
 * the secret is wiped after the call, so keep a copy).  Returns 0 (the
 * answer is "ok") or -1 with reply saying why ("error: " is added).
 */
typedef int (*credsock_fn)(void *arg, const char *name, const char *secret, size_t len,
	    char *reply, size_t rlen);

struct credsock;

/* Listens on path (a stale socket there, with nobody listening, is
 * replaced; a live one is not).  NULL with err on failure. */
struct credsock *credsock_start(uv_loop_t *, const char *path, credsock_fn, void *arg,
	    char *err, size_t errlen);
/*
 * `run`'s listener, handing vcenter.password to config_password_handover:
 * at $VMCRYPT_CREDENTIAL_SOCKET, else in the unit's RuntimeDirectory=
 * ($RUNTIME_DIRECTORY), else in CREDSOCK_DIR if it exists.  NULL (said in
 * the log, never fatal: a restart still reads the new password) if there
 * is nowhere to listen or it cannot.
 */
struct credsock *credsock_open(uv_loop_t *);
/* Closes the listener and every connection, removes the socket file; the
 * struct is freed when the last handle has closed.  NULL is fine. */
void	credsock_stop(struct credsock *);

/*
 * Splits a whole message buf[0, len) (len <= CREDSOCK_MAX) in place: name
 * and secret become NUL-terminated strings inside buf.  0, or -1 with why
 * (static text).  Pure; unit-tested.
 */
int	credsock_parse(char *buf, size_t len, const char **name, const char **secret,
	    size_t *slen, const char **why);

#endif
