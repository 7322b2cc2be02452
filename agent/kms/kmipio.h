/*
 * KMIP over TLS: one request, one whole response read back (bounded), and
 * the one question the agent asks a KMS about a key, when it was made
 * (Get Attributes: Initial Date, else Activation Date).  kmip.c does the
 * bytes; this does the connection.
 */
#ifndef VMCRYPT_KMIPIO_H
#define VMCRYPT_KMIPIO_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"

#define KMIP_PORT	"5696"

/*
 * Sends req (operation op, for the messages) and reads one response into
 * *resp (malloc'd, *resplen bytes).  0, or -1 with err saying what the
 * other side is not: a KMIP server, a response under KMIP_MAX_MESSAGE.
 */
int	kmip_exchange(struct tls_client *, const uint8_t *req, size_t reqlen, int op,
	    uint8_t **resp, size_t *resplen, char *err, size_t errlen);

/* Where the agent's own KMIP client connects, and as whom. */
struct kmip_target {
	char			 host[256];
	char			 port[8];
	struct tls_client_opts	 tls;
};

/*
 * When the KMS made key uid (its KMIP Unique Identifier, which vCenter's
 * keyId is): 0 with *since (unix time; 0 when the KMS gives neither date),
 * or -1 with err (unreachable, refused, not found: the KMS's reason).
 */
int	kmip_key_since(const struct kmip_target *, const char *uid, double *since,
	    char *err, size_t errlen);

/* The agent's KMIP client of cfg (<kms><kmip-client>), or NULL when none
 * is configured.  Static storage: one per process. */
struct config;
const struct kmip_target *kmip_target_of(const struct config *cfg);
/* kmip_key_since with the target as arg (keyage.h's kms hook). */
int	kmip_key_since_cb(void *target, const char *uid, double *since, char *err,
	    size_t errlen);

#endif
