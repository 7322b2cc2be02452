/*
 * What vCenter says about its key providers, and the verdict on it: the
 * checks behind `vmcrypt-agent check` and the running agent's KMS health.
 * Everything here is pure (no I/O): kmsfacts.c fills a struct kms_facts
 * from vCenter, kms_evaluate() turns it into check items.
 */
#ifndef VMCRYPT_KMS_H
#define VMCRYPT_KMS_H

#include <stddef.h>
#include <time.h>

#include "kmsinfo.h"

struct config;

/* Privileges the agent's calls need, checked on the root folder. */
struct kms_priv {
	const char	*id;
	const char	*why;
};
extern const struct kms_priv kms_privileges[];
extern const size_t kms_nprivileges;

/* A step that could not be taken: the call and its error. */
struct kms_err {
	int	rc;		/* 0, or a V_ERR_* code */
	char	msg[768];
};

/* Everything kms_evaluate looks at.  Fields of steps that were not taken
 * (a failed earlier step, an old API) stay zero. */
struct kms_facts {
	char			  api_type[32];		/* VirtualCenter | HostAgent */
	char			  api_version[32];
	char			  full_name[256];
	int			  has_crypto_manager;	/* CryptoManagerKmip */
	char			  crypto_manager_type[64];

	int			  listed;		/* ListKmipServers answered */
	struct kms_err		  list_err;
	struct kms_cluster	 *clusters;
	size_t			  nclusters;

	int			  default_asked;	/* GetDefaultKmsCluster (7.0+) */
	struct kms_err		  default_err;
	char			  default_id[256];	/* "" none */

	int			  status_read;		/* RetrieveKmipServersStatus_Task */
	struct kms_err		  status_err;
	struct kms_cluster_status *status;
	size_t			  nstatus;

	int			  policy_checked;
	struct kms_err		  policy_err;		/* resolution / verification */
	char			  policy_id[64];
	char			  policy_name[256];

	int			  privs_checked;
	struct kms_err		  privs_err;
	int			  granted[32];		/* per kms_privileges[] */

	/* QueryCryptoKeyStatus of every encrypted VM's key (check only). */
	int			  keys_checked;		/* 1 asked; -1 API too old */
	struct kms_err		  keys_err;
	size_t			  keys_encrypted;	/* VMs with an encrypted home */
	size_t			  keys_missing;		/* ... a key not available */
	char			  keys_detail[768];	/* the first: "name (why), ..." */

	/* Each provider's wrapping key, clusters[i].wrap (check only). */
	int			  wrap_checked;		/* 1 read; -1 vCenter before 9.0 */
	struct kms_err		  wrap_err;
	char			  server_api[32];	/* the newest API vCenter lists */
};

void	kms_facts_free(struct kms_facts *);

enum chk_result { CHK_PASS, CHK_WARN, CHK_FAIL, CHK_SKIP };

struct chk_item {
	const char	*id;		/* stable, for --json */
	const char	*title;
	enum chk_result	 result;
	char		 detail[1024];
	char		 fix[512];
};

#define CHK_MAX	16

struct chk_report {
	struct chk_item	items[CHK_MAX];
	size_t		n;
	/* The key provider the agent encrypts with, and whether it can now. */
	char		provider[256];
	int		kms_usable;
	char		kms_reason[1024];
	/* Encrypted VMs whose key vCenter says is not available. */
	int		keys_counted;
	size_t		key_missing_vms;
	/* That provider's wrapping key: 1 read (wrap), -1 not available
	 * before API 9.0 (wrap_api: what vCenter speaks), 0 not asked. */
	int			wrap_state;
	char			wrap_api[32];
	struct kms_wrapping	wrap;
};

/* Certificates expiring within this many seconds are warned about. */
#define KMS_CERT_WARN_SECONDS	(30LL * 24 * 3600)

/*
 * The verdict: every check the facts allow, in a fixed order (vCenter,
 * API version, crypto manager, key providers, expected provider, default
 * provider, KMS health, encryption policy, privileges, the encrypted VMs'
 * keys, the provider's wrapping key).  cfg gives what is
 * expected (kms cluster and members, require-default, ft-encryption).
 */
void	kms_evaluate(const struct config *cfg, const struct kms_facts *f,
	    struct chk_report *out);
/* What the running agent knows of its key provider (for logs and metrics). */
struct kms_health {
	int		known;		/* checked at least once */
	int		usable;
	char		provider[256];
	char		reason[1024];
	time_t		checked;	/* wall-clock time of the last check */
	unsigned long	checks, unusable;
};


/* 1 if no item failed. */
int	chk_ok(const struct chk_report *);
const char *chk_result_name(enum chk_result);


#endif
