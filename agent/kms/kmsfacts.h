/*
 * The key provider's facts, read from vCenter (the I/O half of kms.h).
 */
#ifndef VMCRYPT_KMSFACTS_H
#define VMCRYPT_KMSFACTS_H

#include <time.h>

struct config;
struct kms_facts;
struct vconn;

/*
 * Reads into *f (free with kms_facts_free) the endpoint type, the key
 * providers, the default provider and their status.  A step that fails
 * is recorded in f; returns nonzero (V_ERR_*) only if vCenter stopped
 * answering.
 */
int	kms_gather(struct vconn *c, struct kms_facts *f);

/* Whether the key provider the agent encrypts with is usable now. */
struct kms_verdict {
	int	usable;
	char	provider[256];
	char	reason[1024];	/* why not; or, if vCenter did not answer, its error */
	/* The client certificate vCenter presents to that provider's
	 * servers (its status's clientCertInfo): when it expires, 0 unknown. */
	time_t	client_cert_not_after;
};

/*
 * Gathers the facts and judges them with cfg (kms_evaluate): 0 and *out,
 * or the V_ERR_* code when vCenter could not be asked (out->reason says
 * why).  The connection is reset after.
 */
int	kms_check(struct vconn *c, const struct config *cfg, struct kms_verdict *out);

#endif
