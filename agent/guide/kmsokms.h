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

#endif
