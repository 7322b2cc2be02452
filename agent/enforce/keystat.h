/*
 * Key availability: does vCenter have the keys its encrypted VMs use?
 * (CryptoManagerKmip.QueryCryptoKeyStatus, vSphere API 6.7.2 and later.)
 * Read here, at every scan and every look at a VM; judged by
 * policy_decide() (policy.c), which takes the answer as one of the VM's
 * facts.
 */
#ifndef VMCRYPT_KEYSTAT_H
#define VMCRYPT_KEYSTAT_H

#include <stddef.h>

struct vconn;
struct vm_info;

#define KEYSTAT_BATCH	100	/* keys per QueryCryptoKeyStatus */
#define KEYSTAT_API	"6.7.2"

/*
 * Asks vCenter about every distinct key of the encrypted VMs among
 * vms[0..n) (VM home and each disk), KEYSTAT_BATCH keys a call, and sets
 * each VM's key_avail, key_missing and key_reason (policy_key_avail on
 * vCenter's answer; a VM with any key missing is KEY_MISSING).  On an API
 * before KEYSTAT_API nothing is asked and *asked is 0.  Returns 0, or a
 * V_ERR_* code (a fault too: the VMs are left KEY_UNKNOWN) with the message
 * in vconn_error.  The connection is not reset: trees read before stay
 * valid.
 */
int	keystat_read(struct vconn *, struct vm_info *const *vms, size_t n, int *asked);

/* What `check` counts: every VM with an encrypted home, templates and
 * excluded VMs too, by its home key. */
struct keystat_census {
	size_t	encrypted;	/* VMs with config.keyId */
	size_t	missing;	/* ... whose key vCenter says is not available */
	char	detail[768];	/* the first of them: "name (reason), ..." */
};

/*
 * Reads every VM's name and config.keyId (page objects a round trip) and
 * asks for their keys as keystat_read does.  0 with *out, *asked 0 on an
 * API before KEYSTAT_API, or a V_ERR_* code.  Resets the connection.
 */
int	keystat_census(struct vconn *, int page, struct keystat_census *out, int *asked);

#endif
