/* `credential set`'s hand-over of a secret just written to the running
 * agent (its listener: base/credsock.c), for systemd before 260, which
 * hands a service its credentials once, at start. */
#ifndef VMCRYPT_CREDSEND_H
#define VMCRYPT_CREDSEND_H

#include <stddef.h>

#include "credsock.h"

#define CREDSEND_DEFAULT	CREDSOCK_DIR "/" CREDSOCK_FILE

enum credsend_result {
	CREDSEND_OK,		/* the agent took it */
	CREDSEND_NOBODY,	/* no socket there, or nobody listening */
	CREDSEND_REFUSED,	/* the agent answered "error: ..." (why) */
	CREDSEND_FAILED,	/* the exchange failed (why) */
};

/* The socket `run` listens on: $VMCRYPT_CREDENTIAL_SOCKET, else
 * /run/vmcrypt-agent/credential.sock, or /run/vmcrypt-agent@NAME/... for
 * the instance NAME (the units' RuntimeDirectory=).  Into buf. */
const char *credsend_path(const char *instance, char *buf, size_t len);

/* Sends "NAME\nSECRET\n" to path and reads the answer (10 s at most).
 * The copy it makes of the secret is wiped. */
enum credsend_result credsend(const char *path, const char *name, const char *secret,
	    size_t n, char *why, size_t whylen);

#endif
