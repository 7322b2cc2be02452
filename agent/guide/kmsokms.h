/*
 * `kms setup --okms`: the KMS (OVHcloud's OKMS) trusts vCenter by signing
 * vCenter's own CSR through the OVHcloud API (kmsokms.c); kmstrust.c runs
 * it in place of the other ways when struct setup carries an okms_trust.
 */
#ifndef VMCRYPT_KMSOKMS_H
#define VMCRYPT_KMSOKMS_H

#include <json-c/json.h>

struct ovh_client;
struct setup;
struct vconn;

struct okms_trust {
	struct ovh_client *api;		/* signed client, the clock synchronised */
	const char	*okms_id;
	json_object	*urns;		/* configured identity URNs; NULL: the caller's */
	int		 wait;		/* seconds a new credential may take to be READY */
	int		 validity;	/* days, 1..365 */
	char		 name[64];	/* the credential naming this vCenter */
	/* what happened */
	char		 cred_id[40];	/* ours, once found or made */
	int		 posted;	/* a credential was created by this run */
};

/* kms-trusts-vcenter the OKMS way.  0, or -1 with the step failed. */
int	okmstrust_kms_trusts_vc(struct setup *, struct vconn *);

/* Its parts, for the renewal (kmsrenew.c), each a step of s when it fails
 * (the step named "kms-trusts-vcenter"):
 *   okmstrust_csr     vCenter's CSR: the one it keeps, else a new one
 *                     (*made); *pem NULL in a dry run that would make one
 *   okmstrust_create  POST a credential for csr: s->okms->cred_id set
 *   okmstrust_wait    GET it until READY: *pem its certificate
 * Each 0, or -1. */
int	okmstrust_csr(struct setup *, struct vconn *, char **pem, int *made);
int	okmstrust_create(struct setup *, const char *csr, int validity);
int	okmstrust_wait(struct setup *, char **pem);

#endif
