/*
 * The datastores vSAN encrypts at rest.  VMware advises against VM
 * Encryption on top of vSAN data-at-rest encryption (and vSAN health
 * raises an alert for it): a VM all of whose datastores are such is
 * reported vsan-encrypted instead of being encrypted again (configurable).
 * A vSAN datastore (summary.type "vsan") belongs to its hosts' cluster;
 * the cluster's VsanConfigInfoEx.dataEncryptionConfig says whether vSAN
 * encrypts it.  Read from vCenter by vsanmap_read; the lookup is pure.
 */
#ifndef VMCRYPT_VSANMAP_H
#define VMCRYPT_VSANMAP_H

#include <stddef.h>

struct vconn;
struct vm_info;

struct vsanmap {
	char	(*ds)[96];	/* encrypted vSAN datastores' morefs, sorted */
	size_t	 n;
};

/* Returns 0 or a V_ERR_* (the message in vconn_error); a cluster whose
 * vSAN configuration cannot be read counts as not encrypting. */
int	vsanmap_read(struct vconn *, struct vsanmap *);
void	vsanmap_add(struct vsanmap *, const char *ds);
void	vsanmap_sort(struct vsanmap *);
/* Whether every datastore vm uses (at least one) is in the map. */
int	vsanmap_covers(const struct vsanmap *, const struct vm_info *vm);
void	vsanmap_free(struct vsanmap *);

#endif
