/*
 * `kms renew-client-cert`: vCenter's client certificate for its key
 * provider renewed before it expires, each a step of s (kmssetup.h's
 * struct setup: its steps, configuration, dry run):
 *
 *   certificate          its expiry, read from the provider's status; far
 *                        from it (more than renew-days): nothing to do
 *   csr                  vCenter's CSR (the one it keeps, else a new one)
 *   credential, ready    OKMS: a new credential for it, until READY
 *                        (other KMSs: the CSR written for the KMS
 *                        administrator; with --signed-cert, the
 *                        certificate they signed)
 *   vcenter-certificate  UpdateKmsSignedCsrClientCert with the new one
 *   connection           the status green and trusted both ways, with the
 *                        new certificate; else the old one put back
 *   old-credential       OKMS: only then this vCenter's old credentials
 *                        deleted (those named after it; no other's)
 *
 * A failure at any step leaves the old certificate in vCenter.
 */
#ifndef VMCRYPT_KMSRENEW_H
#define VMCRYPT_KMSRENEW_H

struct setup;
struct vconn;

/* Seconds the connection step waits for the status to turn green. */
#define RENEW_GREEN_WAIT	30

/* The steps against vCenter (and OKMS when s->okms).  force: renew
 * however far the expiry is. */
void	kmsrenew_run(struct setup *s, struct vconn *c, int force);

#endif
