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

#endif
