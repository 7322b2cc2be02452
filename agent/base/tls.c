#include "tls.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "stdsoap2.h"

static int pin_idx = -1;			/* SSL_CTX ex-data: the pin */
static int hint_idx = -1;			/* SSL_CTX ex-data: how to fix a refusal */
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
	char fp[64];		/* SHA-1: 20 pairs */

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
		const char *hint = ctx && hint_idx >= 0 ? SSL_CTX_get_ex_data(ctx, hint_idx) : NULL;
		if (hint != NULL)
			snprintf(verify_err, sizeof(verify_err),
			    "server certificate not trusted: %s (certificate SHA-1 %s); %s",
			    X509_verify_cert_error_string(e), fp, hint);
		else
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
	if (t->hint != NULL) {
		if (hint_idx < 0)
			hint_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		SSL_CTX_set_ex_data(soap->ctx, hint_idx, (void *)t->hint);
	}
	if (t->mode == TLS_PINNED) {
		if (pin_idx < 0)
			pin_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		SSL_CTX_set_ex_data(soap->ctx, pin_idx, t->thumbprint);
	}
	soap->error = SOAP_OK;
	return 0;
}

/* ---------------------------------------------------------------- */
/* A plain client connection (KMIP probe, KMS thumbprint)            */

struct tls_client {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	X509		*leaf;		/* captured during the handshake */
	int		 verify;
	int		 timeout;
	char		 verify_err[256];
};

static int client_idx = -1;		/* SSL ex-data: the tls_client */

static int
client_verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_client *c = ssl ? SSL_get_ex_data(ssl, client_idx) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	int depth = X509_STORE_CTX_get_error_depth(store);

	if (c == NULL)
		return ok;
	/* The leaf is kept even when the handshake fails later (a KMS that
	 * wants a client certificate aborts after sending its own), and even
	 * when the chain is refused above it. */
	if (depth > 0 && X509_STORE_CTX_get0_chain(store) != NULL)
		cert = sk_X509_value(X509_STORE_CTX_get0_chain(store), 0);
	if (cert != NULL && c->leaf == NULL && X509_up_ref(cert))
		c->leaf = cert;
	if (!c->verify)
		return 1;
	if (!ok && c->verify_err[0] == '\0')
		snprintf(c->verify_err, sizeof(c->verify_err), "%s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
	return ok;
}

static void
ssl_errors(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, len, "%s", r ? r : "connection closed by the server");
	ERR_clear_error();
}

/* Non-blocking connect with a deadline; returns the socket or -1. */
static int
connect_deadline(const struct addrinfo *ai, int timeout, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			*err = errno;
			close(fd);
			return -1;
		}
		struct pollfd p = { fd, POLLOUT, 0 };
		int n = poll(&p, 1, timeout * 1000);
		socklen_t sl = sizeof(*err);
		if (n <= 0) {
			*err = n == 0 ? ETIMEDOUT : errno;
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) != 0 || *err != 0) {
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fl);
	struct timeval tv = { timeout, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int
is_ip(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The client context: trust and client certificate.  0, or TLS_E_SETUP. */
static int
client_ctx(struct tls_client *c, const struct tls_client_opts *o, char *err, size_t errlen)
{
	char why[256];

	if (client_idx < 0)
		client_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("out of memory");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (o->verify && (o->ca_file ? SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) :
	    SSL_CTX_set_default_verify_paths(c->ctx)) != 1) {
		ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "cannot load CA file %s: %s", o->ca_file, why);
		return TLS_E_SETUP;
	}
	/* Always PEER: the callback sees the certificate (and, without verify,
	 * accepts it). */
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, client_verify_cb);
	if (o->cert_file == NULL)
		return 0;
	const char *key = o->key_file ? o->key_file : o->cert_file;
	if (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1) {
		ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "client certificate %s / key %s: %s", o->cert_file, key,
		    why);
		return TLS_E_SETUP;
	}
	return 0;
}

/* Resolves and connects c->fd.  0, TLS_E_RESOLVE or TLS_E_CONNECT. */
static int
client_connect(struct tls_client *c, const char *host, const char *port, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(e));
		return TLS_E_RESOLVE;
	}
	for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
		c->fd = connect_deadline(ai, c->timeout, &e);
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(err, errlen, "cannot connect to %s port %s: %s", host, port,
		    e == ETIMEDOUT ? "no answer (timed out)" : strerror(e));
		return TLS_E_CONNECT;
	}
	return 0;
}

/* The handshake.  0, TLS_E_VERIFY or TLS_E_HANDSHAKE. */
static int
client_handshake(struct tls_client *c, const char *host, const char *port,
    const struct tls_client_opts *o, char *err, size_t errlen)
{
	char why[256];

	if ((c->ssl = SSL_new(c->ctx)) == NULL)
		fatalx("out of memory");
	SSL_set_ex_data(c->ssl, client_idx, c);
	SSL_set_fd(c->ssl, c->fd);
	if (!is_ip(host))
		SSL_set_tlsext_host_name(c->ssl, host);
	if (o->verify) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		if (is_ip(host))
			X509_VERIFY_PARAM_set1_ip_asc(vp, host);
		else
			X509_VERIFY_PARAM_set1_host(vp, host, 0);
	}
	ERR_clear_error();
	if (SSL_connect(c->ssl) == 1)
		return 0;
	if (o->verify && c->verify_err[0]) {
		snprintf(err, errlen, "%s:%s: certificate not trusted: %s", host, port,
		    c->verify_err);
		return TLS_E_VERIFY;
	}
	ssl_errors(why, sizeof(why));
	snprintf(err, errlen, "TLS handshake with %s:%s failed: %s%s", host, port, why,
	    strstr(why, "wrong version") || strstr(why, "packet length") ?
	    " (is this a TLS service?)" : c->leaf && o->cert_file == NULL ?
	    " (the server may want a client certificate: --cert and --key)" : "");
	return TLS_E_HANDSHAKE;
}

int
tls_client_open(const char *host, const char *port, const struct tls_client_opts *o,
    struct tls_client **out, char *err, size_t errlen)
{
	struct tls_client *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatalx("out of memory");
	c->fd = -1;
	c->timeout = o->timeout > 0 ? o->timeout : 10;
	c->verify = o->verify;
	if ((rc = client_ctx(c, o, err, errlen)) != 0 ||
	    (rc = client_connect(c, host, port, err, errlen)) != 0) {
		tls_client_free(c);
		return rc;
	}
	/* After a failed handshake too: the certificate may be known. */
	*out = c;
	return client_handshake(c, host, port, o, err, errlen);
}

int
tls_client_write(struct tls_client *c, const void *buf, size_t len, char *err,
    size_t errlen)
{
	size_t done = 0;
	while (done < len) {
		ERR_clear_error();
		int n = SSL_write(c->ssl, (const char *)buf + done, (int)(len - done));
		if (n <= 0) {
			snprintf(err, errlen, "write failed: %s",
			    errno == EAGAIN ? "timed out" : "connection closed");
			return TLS_E_IO;
		}
		done += (size_t)n;
	}
	return 0;
}

int
tls_client_read(struct tls_client *c, void *buf, size_t len, char *err, size_t errlen)
{
	size_t done = 0;
	while (done < len) {
		ERR_clear_error();
		errno = 0;
		int n = SSL_read(c->ssl, (char *)buf + done, (int)(len - done));
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		/* A peer that just closes the socket, without close_notify:
		 * OpenSSL 3 says "unexpected eof", 1.1 a syscall error. */
		int eof = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0);
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
		eof |= e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
		if (eof) {
			ERR_clear_error();
			snprintf(err, errlen, "the server closed the connection after %zu of "
			    "%zu bytes", done, len);
			return TLS_E_CLOSED;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			snprintf(err, errlen, "no answer within %d s", c->timeout);
			return TLS_E_IO;
		}
		char why[256];
		ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "read failed: %s", why);
		return TLS_E_IO;
	}
	return 0;
}

void
tls_client_free(struct tls_client *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	X509_free(c->leaf);
	SSL_CTX_free(c->ctx);
	free(c);
}

/* As `openssl x509` prints names (its default, "oneline" with UTF-8). */
static void
name_text(const X509_NAME *n, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	if (b == NULL)
		fatalx("out of memory");
	X509_NAME_print_ex(b, n, 0, (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
	    ASN1_STRFLGS_UTF8_CONVERT);
	long l = BIO_get_mem_data(b, &p);
	snprintf(out, len, "%.*s", (int)l, p);
	BIO_free(b);
}

static void
time_text(const ASN1_TIME *t, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	if (b == NULL)
		fatalx("out of memory");
	ASN1_TIME_print(b, t);
	long l = BIO_get_mem_data(b, &p);
	snprintf(out, len, "%.*s", (int)l, p);
	BIO_free(b);
}

/* "sha1 Fingerprint=AA:..." as `openssl x509 -fingerprint -sha1` prints
 * it: OpenSSL 3 names the digest as typed, 1.1 by its short name. */
static void
fingerprint_line(X509 *x, const char *digest, char *out, size_t len)
{
	const EVP_MD *md = EVP_get_digestbyname(digest);
	unsigned char *der = NULL;
	char fp[100];		/* SHA-256: 32 pairs */
	int n = i2d_X509(x, &der);

	if (n <= 0 || md == NULL ||
	    tls_fingerprint_der(der, (size_t)n, digest, fp, sizeof(fp)) != 0)
		snprintf(fp, sizeof(fp), "?");
	OPENSSL_free(der);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	const char *name = digest;
#else
	const char *name = md ? OBJ_nid2sn(EVP_MD_type(md)) : digest;
#endif
	snprintf(out, len, "%s Fingerprint=%s", name, fp);
}

int
tls_client_peer(struct tls_client *c, struct tls_cert_info *info)
{
	X509 *x = c->leaf;
	int day = 0, sec = 0;

	memset(info, 0, sizeof(*info));
	if (x == NULL)
		return -1;
	fingerprint_line(x, "sha1", info->sha1, sizeof(info->sha1));
	fingerprint_line(x, "sha256", info->sha256, sizeof(info->sha256));
	name_text(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_text(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	time_text(X509_get0_notBefore(x), info->not_before, sizeof(info->not_before));
	time_text(X509_get0_notAfter(x), info->not_after, sizeof(info->not_after));
	if (ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(x)))
		info->expires_in = (long long)day * 86400 + sec;
	BIO *b = BIO_new(BIO_s_mem());
	if (b != NULL && PEM_write_bio_X509(b, x) == 1) {
		int n = BIO_read(b, info->pem, (int)sizeof(info->pem) - 1);
		info->pem[n > 0 && BIO_pending(b) == 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(c->ssl));
		snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(c->ssl));
	}
	return 0;
}

/* Every certificate of a PEM text into store (or, store NULL, the first
 * one returned).  The count added, or -1. */
static int
pem_load(const char *pem, X509_STORE *store, X509 **first)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	if (b == NULL)
		return -1;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (store == NULL) {
			*first = x;
			n = 1;
			break;
		}
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	return n;
}

int
tls_verify_pem(const char *leaf_pem, const char *ca_pem, const char *host, char *err,
    size_t errlen)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *leaf = NULL;
	int rc = -1;

	if (store == NULL || ctx == NULL)
		fatalx("out of memory");
	if (pem_load(ca_pem, store, NULL) <= 0) {
		snprintf(err, errlen, "the CA given is not a PEM certificate");
		goto out;
	}
	if (pem_load(leaf_pem, NULL, &leaf) != 1) {
		snprintf(err, errlen, "the server's certificate is not a PEM certificate");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		fatalx("X509_STORE_CTX_init failed");
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	if (host != NULL && is_ip(host))
		X509_VERIFY_PARAM_set1_ip_asc(vp, host);
	else if (host != NULL)
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		snprintf(err, errlen, "%s", X509_verify_cert_error_string(e));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_free(leaf);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}
