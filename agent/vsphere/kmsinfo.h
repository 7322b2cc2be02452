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

/* KmipClusterInfo.keyInfo (API 9.0): the provider's wrapping key. */
enum kms_wrap_kind {
	KMS_WRAP_NONE,		/* no keyInfo sent */
	KMS_WRAP_ROTATING,	/* ...WrappingRotationIntervalKeyInfo: rotates by itself */
	KMS_WRAP_FIXED,		/* ...WrappingKeyIdKeyInfo: a key id set by hand */
	KMS_WRAP_OTHER		/* a subtype newer than this file */
};

struct kms_wrapping {
	enum kms_wrap_kind	kind;
	char			type[96];	/* keyInfo's xsi:type, as sent */
	char			key_id[256];
	int			rotation_days;	/* 0: not sent */
	char			last_rotation[64];	/* lastRotation, or "" */
	char			configured[64];	/* configuredTime (a fixed key), or "" */
	char			default_key_type[32];	/* rawKey | wrappedKey | "" */
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
	struct kms_wrapping	 wrap;		/* vim_kms_wrappings (API 9.0) */
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

/* Reads KmipClusterInfo.keyInfo (NULL: none sent) and defaultKeyType
 * (NULL: none) into *w.  Unknown members are ignored; a rotationInterval
 * that is no number is 0. */
void	kms_wrapping_parse(const xnode *key_info, const char *default_key_type,
	    struct kms_wrapping *w);

/* Parses an xsd:dateTime ("2027-01-31T12:00:00Z", offsets and fractions
 * accepted) to a UTC time_t; -1 if it is not one. */
time_t	kms_parse_time(const char *);

/* An API version as vSphere names its release: "8.0.3.0" is "8.0.3". */
void	kms_release_of(const char *version, char *out, size_t len);
/* Which way a trust goes between vCenter and a key provider's servers. */
enum kms_trust { VC_TRUSTS_KMS, KMS_TRUSTS_VC };
/* 1 if every server of cs reports that trust (NULL or no servers: 0). */
int	kms_all_trust(const struct kms_cluster_status *cs, enum kms_trust);

#endif
