/*
 * What vCenter says about its key providers (KMS clusters), as the
 * vSphere API sends it: the providers (ListKmipServers), their status
 * (RetrieveKmipServersStatus_Task's result) and vCenter's certificates,
 * decoded from the DOM.  Judging them is kms/kms.c's job.
 */
#ifndef VMCRYPT_KMSINFO_H
#define VMCRYPT_KMSINFO_H

#include <stddef.h>
#include <time.h>

#include "xnode.h"

struct kms_server {
	char	name[128];
	char	address[256];
	int	port;
};

/* A compute cluster or host folder a provider is the default of. */
struct kms_entity {
	char	type[48];
	char	value[96];
};

/* KmipClusterInfo: one key provider. */
struct kms_cluster {
	char			 id[256];
	int			 use_as_default;
	char			 mgmt[32];	/* managementType, "" before 7.0 */
	struct kms_server	*servers;
	size_t			 nservers;
	struct kms_entity	*entities;	/* useAsEntityDefault */
	size_t			 nentities;
};

#define KMS_UNKNOWN	-1	/* a boolean vCenter did not send */

struct kms_cert {
	int		present;
	char		subject[256];
	char		not_after[64];	/* as vCenter sent it */
	long long	expires_in;	/* seconds; negative: expired */
};

/* CryptoManagerKmipServerStatus */
struct kms_server_status {
	char		name[128];
	char		status[16];		/* gray|green|yellow|red */
	char		connection[512];	/* connectionStatus, free text */
	int		client_trust_server;	/* 1, 0 or KMS_UNKNOWN */
	int		server_trust_client;
	struct kms_cert	cert;			/* the KMS's certificate */
};

/* CryptoManagerKmipClusterStatus */
struct kms_cluster_status {
	char			  id[256];
	char			  overall[16];	/* "" before 7.0 */
	struct kms_server_status *servers;
	size_t			  nservers;
	struct kms_cert		  client_cert;	/* vCenter's certificate */
};

/*
 * Reads an ArrayOfCryptoManagerKmipClusterStatus (TaskInfo.result) into
 * *out (malloc'd, *n entries).  now is used where vCenter sends notAfter
 * but no secondsBeforeExpire.  Unknown elements are ignored.
 */
void	kms_status_parse(const xnode *result, time_t now,
	    struct kms_cluster_status **out, size_t *n);
void	kms_status_free(struct kms_cluster_status *, size_t);
void	kms_clusters_free(struct kms_cluster *, size_t);

/* Parses an xsd:dateTime ("2027-01-31T12:00:00Z", offsets and fractions
 * accepted) to a UTC time_t; -1 if it is not one. */
time_t	kms_parse_time(const char *);

#endif
