/*
 * OVHcloud's KMS endpoint, watched for drift: the addresses its host name
 * resolves to now against those `kms setup --okms` registered in the
 * Hosted Private Cloud's firewall (STATE-DIR/okms-CLUSTER.json, written by
 * cmd/okmscmd.c).  An address the firewall does not let through is one
 * the hosts cannot reach the KMS on.  No OVHcloud call.
 */
#ifndef VMCRYPT_ENDPOINT_H
#define VMCRYPT_ENDPOINT_H

#include <stddef.h>

#define ENDPOINT_MAX_ADDRS	8

struct endpoint_drift {
	int	 known;			/* the state file named an endpoint */
	char	 host[256];
	char	 okms_id[40], service[64];	/* as kms setup --okms was given them */
	char	 registered[ENDPOINT_MAX_ADDRS][16];
	size_t	 nregistered;
	char	 resolved[ENDPOINT_MAX_ADDRS][16];
	size_t	 nresolved;
	char	 missing[ENDPOINT_MAX_ADDRS][16];	/* resolved, not registered */
	size_t	 nmissing;
	char	 err[1400];		/* the state file or the resolution, if it failed */
};

/*
 * Reads STATE-DIR/okms-CLUSTER.json and resolves its endpoint's host
 * (IPv4, as the firewall takes).  0 with *d (known 0: no such file);
 * -1 with d->err (an unreadable file, a name that does not resolve).
 */
int	endpoint_drift(const char *state_dir, const char *cluster, struct endpoint_drift *d);
/* d->missing from d->registered and d->resolved (pure). */
void	endpoint_compare(struct endpoint_drift *d);

#endif
