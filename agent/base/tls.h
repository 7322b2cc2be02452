/* TLS trust for every outbound connection: the system CA store, a CA file,
 * a pinned SHA-1 certificate thumbprint, or (explicitly, loudly) nothing.
 * OpenSSL is used here and in nothing else of the agent. */
#ifndef VMCRYPT_TLS_H
#define VMCRYPT_TLS_H

#include <stddef.h>

struct soap;
struct tls_trust;

/*
 * Sets up client TLS on a gSOAP context according to trust.  Returns 0, or
 * -1 with a reason in err.  Copies made later with soap_copy share it.
 */
int	tls_setup_soap(struct soap *soap, const struct tls_trust *trust,
	    char *err, size_t errlen);

/*
 * After a failed TLS handshake on this thread: one line saying why the peer
 * was refused (untrusted, pin mismatch, ...) and what to do, or "" if the
 * failure was not a certificate decision.
 */
const char *tls_last_verify_error(void);
void	    tls_clear_verify_error(void);

/*
 * Formats a DER certificate's digest ("sha1" or "sha256") as upper-case hex
 * pairs joined by colons, as `openssl x509 -fingerprint` prints it.
 * Returns 0, or -1 if out is too small or the digest is unknown.
 */
int	tls_fingerprint_der(const unsigned char *der, size_t derlen,
	    const char *digest, char *out, size_t outlen);

/*
 * A plain TLS client connection (the KMIP probe, the KMS thumbprint): one
 * blocking connection with a deadline on every step.
 */
struct tls_client;

struct tls_client_opts {
	const char	*ca_file;	/* verify against it; NULL: system store */
	const char	*cert_file;	/* client certificate (PEM), or NULL */
	const char	*key_file;	/* its key (PEM) */
	int		 verify;	/* 0: accept any certificate (thumbprint) */
	int		 timeout;	/* seconds, per step */
};

/* Failure classes of tls_client_*: each says what a user can fix. */
#define TLS_E_RESOLVE	-1	/* name does not resolve */
#define TLS_E_CONNECT	-2	/* refused, unreachable, timed out */
#define TLS_E_HANDSHAKE	-3	/* not TLS, or no protocol/cipher in common */
#define TLS_E_VERIFY	-4	/* certificate refused */
#define TLS_E_IO	-5	/* read/write failed or timed out */
#define TLS_E_CLOSED	-6	/* the peer closed the connection */
#define TLS_E_SETUP	-7	/* our side: CA, certificate or key files */

/*
 * Connects to host:port.  Returns 0 with *out, or a TLS_E_* code with one
 * line in err.  After TLS_E_HANDSHAKE or TLS_E_VERIFY the server's
 * certificate may still be known: see tls_client_peer (out is then set).
 */
int	tls_client_open(const char *host, const char *port,
	    const struct tls_client_opts *, struct tls_client **out,
	    char *err, size_t errlen);
/* Writes all of buf.  0 or TLS_E_*. */
int	tls_client_write(struct tls_client *, const void *buf, size_t len,
	    char *err, size_t errlen);
/* Reads exactly len bytes.  0 or TLS_E_*. */
int	tls_client_read(struct tls_client *, void *buf, size_t len,
	    char *err, size_t errlen);
void	tls_client_free(struct tls_client *);

struct tls_cert_info {
	char		sha1[128];	/* "sha1 Fingerprint=AA:BB:...", as openssl prints it */
	char		sha256[128];
	char		subject[512];	/* as openssl x509 -subject prints it */
	char		issuer[512];
	char		not_before[64];	/* as openssl x509 -startdate */
	char		not_after[64];
	long long	expires_in;	/* seconds from now; negative: expired */
	char		protocol[32];	/* "TLSv1.3" */
	char		cipher[64];
	char		pem[8192];	/* the certificate, PEM ("" if longer) */
};
/* The peer's certificate (-1 if none was received). */
int	tls_client_peer(struct tls_client *, struct tls_cert_info *);

/*
 * leaf_pem (its first certificate) verified against the CA certificates
 * of ca_pem only (not the system store): signature chain, validity, and,
 * host not NULL, the name or IP address it must carry.  0, or -1 with
 * OpenSSL's reason in err.
 */
int	tls_verify_pem(const char *leaf_pem, const char *ca_pem, const char *host,
	    char *err, size_t errlen);

#endif
