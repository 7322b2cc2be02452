/*
 * Detached Ed25519 signatures (RFC 8032, "pure": over the message itself,
 * no pre-hash), as `openssl pkeyutl -sign -rawin` makes and `openssl
 * pkeyutl -verify -pubin -rawin` checks them.  The private key is a PEM
 * file (`openssl genpkey -algorithm ed25519`) that only its owner may
 * read.  OpenSSL stays behind this header.
 */
#ifndef VMCRYPT_SIGN_H
#define VMCRYPT_SIGN_H

#include <stddef.h>

#define SIGN_ED25519_LEN	64	/* a signature's bytes */

struct sign_key;

/*
 * The Ed25519 private key in the PEM file at path, or NULL with err (which
 * names the file and the fix): missing or unreadable, readable by group
 * or other (the chmod), not PEM, not an Ed25519 key.  sign_key_free frees.
 */
struct sign_key	*sign_key_load(const char *path, char *err, size_t errlen);
void		 sign_key_free(struct sign_key *);
/* The hex SHA-256 of the raw 32-byte public key: which key signed. */
void		 sign_key_id(const struct sign_key *, char out[65]);
/* The signature of len bytes at msg into sig: 0, or -1 with err. */
int		 sign_bytes(const struct sign_key *, const void *msg, size_t len,
		    unsigned char sig[SIGN_ED25519_LEN], char *err, size_t errlen);

/*
 * A public key to check signatures with: a PEM file holding an Ed25519
 * public key (`openssl pkey -pubout`) or private key (its public half is
 * used).  NULL with err naming the file: missing, unreadable, not PEM,
 * not Ed25519.
 */
struct sign_key	*sign_pubkey_load(const char *path, char *err, size_t errlen);
/* 1: sig is k's signature of the len bytes at msg; 0: it is not. */
int		 sign_check(const struct sign_key *, const void *msg, size_t len,
		    const unsigned char *sig, size_t siglen);

/* Base64 (RFC 4648, padded, no line breaks): the text of len bytes, to
 * free.  sign_unbase64: the bytes into out (room for outlen), their
 * number, or -1 if text is not base64 of at most outlen bytes. */
char		*sign_base64(const unsigned char *, size_t len);
long		 sign_unbase64(const char *text, unsigned char *out, size_t outlen);

#endif
