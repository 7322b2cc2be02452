/* `kms setup`'s two trust steps (kmstrust.c); kmssetup.c runs them in
 * its order. */
#ifndef VMCRYPT_KMSTRUST_H
#define VMCRYPT_KMSTRUST_H

struct kms_cluster_status;
struct setup;
struct vconn;

/* vcenter-trusts-kms: the KMS certificates uploaded unless vCenter trusts
 * them already (cs: the provider's status, NULL if it has none yet).
 * 0, or -1 with the step failed. */
int	kmstrust_vc_trusts_kms(struct setup *, struct vconn *,
	    const struct kms_cluster_status *cs);
/* kms-trusts-vcenter: the client certificate given, the CSR way, or the
 * one vCenter has or generates, written out for the KMS admin.  0, or -1
 * with the step failed. */
int	kmstrust_kms_trusts_vc(struct setup *, struct vconn *);

#endif
