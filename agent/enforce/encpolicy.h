/*
 * The encryption storage policy: found in SPBM by the configured name or id
 * (default "VM Encryption Policy"), and verified to be an encryption
 * policy: its rules name the VM Encryption data service, directly or
 * through a data-service component (VMware's own test, api-facts F.4).
 */
#ifndef VMCRYPT_ENCPOLICY_H
#define VMCRYPT_ENCPOLICY_H

#include <stddef.h>

#include "xnode.h"

struct config;
struct vconn;

struct encpolicy {
	char	id[64];
	char	name[256];
};

/* Resolves cfg's policy through SPBM.  0, or one line in err and -1 (SPBM
 * failed), ENCPOLICY_NOT_FOUND, or ENCPOLICY_NOT_ENCRYPTION (out says
 * which policy). */
#define ENCPOLICY_NOT_FOUND		-2
#define ENCPOLICY_NOT_ENCRYPTION	-3
int	encpolicy_resolve(struct vconn *, const struct config *cfg,
	    struct encpolicy *out, char *err, size_t errlen);

/* Pure: does this PbmCapabilityProfile tree describe an encryption policy?
 * 1 yes, 0 no; data-service component ids it refers to are copied into
 * ds (up to nds_max) for a second look. */
int	policy_profile_is_encryption(const xnode *profile, char (*ds)[64],
	    size_t *nds, size_t nds_max);

#endif
