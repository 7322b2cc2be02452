/*
 * Detached Ed25519 signatures with OpenSSL's EVP interface (sign.h).  The
 * key file is read whole by smallfile_read as a secret (owner-only), the
 * PEM copy wiped once parsed.
 */
#include "sign.h"

#include "config.h"
#include "smallfile.h"
#include "xmalloc.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sign_key {
	EVP_PKEY	*pkey;
};

/* A passphrase-protected key is refused, never prompted for: the report
 * runs unattended (OpenSSL's default callback would read the terminal). */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf; (void)size; (void)rwflag; (void)arg;
	return -1;
}

struct sign_key *
sign_key_load(const char *path, char *err, size_t errlen)
{
	struct sign_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem;

	if ((pem = smallfile_read(path, 1, err, errlen)) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)) == NULL) {
		snprintf(err, errlen, "%s: not an unencrypted PEM private key (make one: "
		    "openssl genpkey -algorithm ed25519 -out %s; chmod 600 %s)", path, path, path);
		goto out;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: a %s key, not Ed25519 (make one: openssl genpkey "
		    "-algorithm ed25519 -out KEYFILE)", path, OBJ_nid2sn(EVP_PKEY_get_id(pkey)));
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	pkey = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	secret_free(pem);
	return k;
}

void
sign_key_free(struct sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void
sign_key_id(const struct sign_key *k, char out[65])
{
	unsigned char raw[32], md[32];
	size_t len = sizeof(raw);
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1 ||
	    EVP_Digest(raw, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
sign_bytes(const struct sign_key *k, const void *msg, size_t len,
    unsigned char sig[SIGN_ED25519_LEN], char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = SIGN_ED25519_LEN;
	int rc = -1;

	/* Ed25519 takes no digest (NULL) and signs in one pass. */
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 || siglen != SIGN_ED25519_LEN) {
		snprintf(err, errlen, "Ed25519 signing failed: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "unknown error");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

struct sign_key *
sign_pubkey_load(const char *path, char *err, size_t errlen)
{
	struct sign_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem;

	/* A public key is no secret: any mode will do. */
	if ((pem = smallfile_read(path, 0, err, errlen)) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		goto bad;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		BIO_free(bio);
		if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
			goto bad;
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	}
	if (pkey == NULL)
		goto bad;
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: a %s key, not Ed25519", path,
		    OBJ_nid2sn(EVP_PKEY_get_id(pkey)));
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	pkey = NULL;
	goto out;
bad:
	snprintf(err, errlen, "%s: not a PEM public key (make it from the private key: "
	    "openssl pkey -in KEYFILE -pubout -out %s)", path, path);
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(pem);
	return k;
}

int
sign_check(const struct sign_key *k, const void *msg, size_t len, const unsigned char *sig,
    size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && siglen == SIGN_ED25519_LEN &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;

	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return ok;
}

char *
sign_base64(const unsigned char *b, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, b, (int)len);
	return out;
}

long
sign_unbase64(const char *text, unsigned char *out, size_t outlen)
{
	size_t n = strlen(text), pad = 0;
	unsigned char *buf;
	int got;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > outlen + 2 || n > 1 << 20)
		return -1;
	pad = (text[n - 1] == '=') + (text[n - 2] == '=');
	buf = xmalloc(n / 4 * 3 + 1);
	got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
	if (got < 0 || (size_t)got < pad || (size_t)got - pad > outlen) {
		free(buf);
		return -1;
	}
	memcpy(out, buf, (size_t)got - pad);
	free(buf);
	return (long)((size_t)got - pad);
}
