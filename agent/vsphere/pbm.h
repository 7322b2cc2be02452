/* SPBM (storage policies) over the vim25 session: the policy on each VM's
 * home, and profile names.  Shares vsession.c's session and call wrapper. */
#ifndef VMCRYPT_PBM_H
#define VMCRYPT_PBM_H

#include <stddef.h>

#include "xnode.h"

struct vconn;

/* Called per object with the id of each profile on it ("" if none). */
typedef void (*pbm_assoc_cb)(void *arg, const char *vm_moref, const char *profile_id);
/* Called per profile with its id and display name. */
typedef void (*pbm_name_cb)(void *arg, const char *id, const char *name);

/* Called per profile with its tree (PbmCapabilityProfile, as sent). */
typedef void (*pbm_profile_cb)(void *arg, const xnode *profile);

struct pbm_ref {
	const char	*type;	/* virtualMachine, virtualDiskId */
	const char	*key;	/* "vm-42", "vm-42:2000" */
};

/* Returns 0 or a V_ERR_* code (message in vconn_error). */
int	pbm_query_profiles(struct vconn *, const struct pbm_ref *refs, size_t n,
	    pbm_assoc_cb cb, void *arg);
/* Every REQUIREMENT storage profile (PbmQueryProfile + PbmRetrieveContent). */
int	pbm_requirement_profiles(struct vconn *, pbm_profile_cb cb, void *arg);
/* PbmCreate: a requirement policy with the VM Encryption data-service rule,
 * as vCenter's default "VM Encryption Policy" has it.  Its id into id. */
int	pbm_create_encryption_policy(struct vconn *, const char *name,
	    const char *description, char *id, size_t idlen);
int	pbm_retrieve_profiles(struct vconn *, const char *const *ids, size_t n,
	    pbm_profile_cb cb, void *arg);
int	pbm_profile_names(struct vconn *, const char *const *ids, size_t n,
	    pbm_name_cb cb, void *arg);

#endif
