#include "tls.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "stdsoap2.h"

static int pin_idx = -1;			/* SSL_CTX ex-data: the pin */
static _Thread_local char verify_err[512];

const char *
tls_last_verify_error(void)
{
	return verify_err;
}

void
tls_clear_verify_error(void)
{
	verify_err[0] = '\0';
}

int
tls_fingerprint_der(const unsigned char *der, size_t derlen,
    const char *digest, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *type = EVP_get_digestbyname(digest);

	if (type == NULL || !EVP_Digest(der, derlen, md, &mdlen, type, NULL))
		return -1;
	if (outlen < (size_t)mdlen * 3)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(out + i * 3, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	return 0;
}

static int
cert_sha1(X509 *cert, char *out, size_t outlen)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	int rc;

	if (len <= 0)
		return -1;
	rc = tls_fingerprint_der(der, (size_t)len, "sha1", out, outlen);
	OPENSSL_free(der);
	return rc;
}

/*
 * Certificate decision for every handshake.  With a pin only the leaf
 * matters: its SHA-1 must equal the pin, and a match is accepted whatever
 * the chain says (a pinned vCenter usually has a self-signed or VMCA cert).
 * Without a pin OpenSSL's verdict stands; we only record a clear reason.
 */
static int
verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	SSL_CTX *ctx = ssl ? SSL_get_SSL_CTX(ssl) : NULL;
	const char *pin = ctx && pin_idx >= 0 ? SSL_CTX_get_ex_data(ctx, pin_idx) : NULL;
	int depth = X509_STORE_CTX_get_error_depth(store);
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	char fp[EVP_MAX_MD_SIZE * 3];

	if (pin != NULL) {
		if (depth > 0)
			return 1;
		if (cert == NULL || cert_sha1(cert, fp, sizeof(fp)) != 0) {
			snprintf(verify_err, sizeof(verify_err),
			    "cannot compute the server certificate's thumbprint");
			return 0;
		}
		if (strcmp(fp, pin) == 0) {
			X509_STORE_CTX_set_error(store, X509_V_OK);
			return 1;
		}
		snprintf(verify_err, sizeof(verify_err),
		    "server certificate thumbprint %s does not match the pinned thumbprint %s",
		    fp, pin);
		return 0;
	}
	if (!ok && verify_err[0] == '\0') {
		int e = X509_STORE_CTX_get_error(store);
		X509 *leaf = cert;
		if (depth > 0 && X509_STORE_CTX_get0_chain(store) != NULL)
			leaf = sk_X509_value(X509_STORE_CTX_get0_chain(store), 0);
		if (leaf == NULL || cert_sha1(leaf, fp, sizeof(fp)) != 0)
			strcpy(fp, "?");
		snprintf(verify_err, sizeof(verify_err),
		    "server certificate not trusted: %s (certificate SHA-1 %s); "
		    "give the issuing CA with <tls ca-file=\"...\"/> or pin it with <tls thumbprint=\"%s\"/>",
		    X509_verify_cert_error_string(e), fp, fp);
	}
	return ok;
}

int
tls_setup_soap(struct soap *soap, const struct tls_trust *t, char *err,
    size_t errlen)
{
	unsigned short flags;
	const char *cafile = NULL;

	switch (t->mode) {
	case TLS_INSECURE:
		flags = SOAP_SSL_NO_AUTHENTICATION;
		break;
	case TLS_PINNED:
		flags = SOAP_SSL_REQUIRE_SERVER_AUTHENTICATION |
		    SOAP_SSL_SKIP_HOST_CHECK | SOAP_SSL_NO_DEFAULT_CA_PATH;
		break;
	case TLS_CA_FILE:
		flags = SOAP_SSL_REQUIRE_SERVER_AUTHENTICATION |
		    SOAP_SSL_NO_DEFAULT_CA_PATH;
		cafile = t->ca_file;
		break;
	case TLS_SYSTEM_CA:
	default:
		flags = SOAP_SSL_REQUIRE_SERVER_AUTHENTICATION;
		break;
	}
	flags |= SOAP_TLSv1_2 | SOAP_TLSv1_3;

	soap->fsslverify = verify_cb;
	if (soap_ssl_client_context(soap, flags, NULL, NULL, cafile, NULL, NULL)) {
		snprintf(err, errlen, "TLS setup failed%s%s",
		    cafile ? " with CA file " : "", cafile ? cafile : "");
		return -1;
	}
	/* soap_ssl_client_context builds the SSL_CTX at once; the pin hangs
	 * off it so every soap_copy of this context shares it. */
	if (soap->ctx == NULL) {
		snprintf(err, errlen, "TLS setup failed: no SSL context");
		return -1;
	}
	if (t->mode == TLS_PINNED) {
		if (pin_idx < 0)
			pin_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		SSL_CTX_set_ex_data(soap->ctx, pin_idx, t->thumbprint);
	}
	soap->error = SOAP_OK;
	return 0;
}
