/*
 * Which key provider a VM is expected to be encrypted by.  vCenter lets a
 * key provider be the default of a compute cluster or a host folder
 * (KmipClusterInfo.useAsEntityDefault, set by SetDefaultKmsCluster with an
 * entity); a VM on a host under such an entity is encrypted by that
 * provider, others by <kms cluster> (or vCenter's default).  The map is
 * read from vCenter (provmap_read: ListKmipServers, then the hosts under
 * each entity) and looked up by the VM's runtime.host (pure).
 */
#ifndef VMCRYPT_PROVMAP_H
#define VMCRYPT_PROVMAP_H

#include <stddef.h>

struct vconn;

struct provmap_entry {
	char	host[96];		/* HostSystem moref value */
	char	provider[256];
	int	rank;			/* 0 cluster, 1 host folder: nearer wins */
};

struct provmap {
	struct provmap_entry	*e;	/* sorted by host */
	size_t			 n;
};

/* Reads the map; a vCenter without key management gives an empty one.
 * Returns 0 or a V_ERR_* (the message in vconn_error). */
int		 provmap_read(struct vconn *, struct provmap *);
/* Adds host -> provider (rank: the nearer entity wins), then sorts and
 * keeps the nearest per host: what provmap_read does, for tests too. */
void		 provmap_add(struct provmap *, const char *host, const char *provider, int rank);
void		 provmap_sort(struct provmap *);
/* The provider host's entity default names; NULL: none. */
const char	*provmap_lookup(const struct provmap *, const char *host);
void		 provmap_free(struct provmap *);

#endif
