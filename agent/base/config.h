/* The configuration file: one XML document validated against the XSD in
 * policies/ (embedded at build time), then copied into plain C structs.
 * libxml2 is used here and nowhere else. */
#ifndef VMCRYPT_CONFIG_H
#define VMCRYPT_CONFIG_H

#include <stddef.h>

enum tls_mode { TLS_SYSTEM_CA = 0, TLS_CA_FILE, TLS_PINNED, TLS_INSECURE };

struct tls_trust {
	enum tls_mode	 mode;
	char		*ca_file;		/* TLS_CA_FILE */
	char		*thumbprint;		/* TLS_PINNED, "AA:BB:..." upper-case */
	const char	*hint;			/* how to fix a refusal; NULL: the config's <tls> */
};

struct kms_server_expect {
	char	*name;
	char	*address;
	int	 port;
};

enum exclusion_kind { EXCL_NAME_PATTERN, EXCL_FOLDER, EXCL_CUSTOM_ATTR };

struct exclusion {
	enum exclusion_kind	 kind;
	char			*pattern;	/* fnmatch pattern, folder path or attribute name */
	char			*value;		/* EXCL_CUSTOM_ATTR only */
};

struct config {
	char			*path;		/* the file it came from */

	char			*vc_url;	/* https://host[:port]/sdk */
	char			*vc_user;
	char			*password_file;	/* NULL: VMCRYPT_VC_PASSWORD */
	char			*pbm_path;
	int			 timeout;	/* seconds, per SOAP call */
	struct tls_trust	 tls;

	char			*policy_name;	/* at least one of name / id */
	char			*policy_id;

	char			*kms_cluster;	/* NULL: any */
	int			 kms_require_default;
	int			 kms_health_interval;
	struct kms_server_expect *kms_servers;
	size_t			 nkms_servers;
	char			**kms_default_for;	/* inventory paths */
	size_t			 nkms_default_for;
	/* <okms id>: OVHcloud's KMS (NULL: none), the identity URNs its
	 * credential carries (none: the caller's own). */
	char			*okms_id;
	char			**okms_identities;
	size_t			 nokms_identities;
	/* <kmip-client>: the agent's own KMIP client (key ages); address
	 * NULL: none. */
	char			*kmip_address, *kmip_cert, *kmip_key, *kmip_ca;
	int			 kmip_port;
	int			 kms_renew_days;	/* <okms renew-days>: warn from then on */

	int			 min_hw_version;
	int			 encrypt;
	char			*migrate_encryption;	/* required|opportunistic|leave */
	char			*ft_encryption;		/* required|leave */
	char			*templates;		/* report|enforce */
	int			 dry_run;
	int			 attach_policy;	/* attach the policy to already-encrypted VMs */
	int			 rekey_shallow;	/* wrong-provider VMs: shallow rekey onto kms_cluster */
	int			 vsan_skip;	/* no VM Encryption on vSAN that encrypts */
	int			 vtpm_report;	/* vtpm-disks="report": a vTPM VM's plain disks
						   are reported, not encrypted */
	int			 max_in_flight;
	int			 reconcile_interval;

	/* <rekey>: the cryptoperiod (rekey_max_age 0: none). */
	long			 rekey_max_age;		/* seconds */
	int			 rekey_per_hour;
	int			 rekey_win_from, rekey_win_to;	/* seconds of the local
							   day; both -1: always */
	char			*rekey_window;		/* as written, NULL: always */

	struct exclusion	*exclusions;
	size_t			 nexclusions;

	char			*state_dir;
	char			*log_level;
	int			 ha_enabled, lease_seconds, heartbeat_seconds;	/* <ha> */
	char			*metrics_listen;	/* "host:port", "" = off */

	/* <evidence> */
	int			 exposure_slo;		/* seconds */
	long			 evidence_max_bytes;

	/* <canary>: where check --canary creates its VM (NULL: a default). */
	char			*canary_folder, *canary_pool;	/* inventory paths */
	char			*canary_datastore;		/* a name */
	int			 canary_timeout;		/* seconds per task */

	char			*trace_dir;	/* SOAP trace (trace.h); NULL: off */
	int			 trace_keep;	/* exchanges kept */
};

/*
 * Loads and validates the file at path.  On success returns 0 and a new
 * config in *out (free with config_free).  On failure returns -1, changes
 * nothing, and writes every problem as "file:line: what is wrong" lines into
 * err (truncated to errlen).
 */
int	config_load(const char *path, struct config **out, char *err, size_t errlen);
void	config_free(struct config *);

/*
 * Reads the vCenter password: systemd's credential vcenter.password in
 * $CREDENTIALS_DIRECTORY when there is one, else cfg->password_file (which
 * must not be readable by group or other), else VMCRYPT_VC_PASSWORD.  Returns a
 * malloc'd string the caller wipes with secret_free, or NULL with a reason
 * in err.
 */
char	*config_read_password(const struct config *cfg, char *err, size_t errlen);
/* The same from the password-file path (NULL: none) and the configuration's
 * path (for the message); what a session reads again when vCenter refuses
 * the password. */
char	*config_password_read(const char *password_file, const char *cfg_path,
	    char *err, size_t errlen);
/* Names where that password comes from now (never the secret). */
void	 config_password_source(const char *password_file, char *buf, size_t len);
/*
 * A secret `credential set` handed to the running agent (credsock.c): only
 * vcenter.password is taken (the OVHcloud ones are not read by `run`);
 * anything else is refused with why in reply.  A copy is held in memory
 * and config_password_read returns it before its file, for as long as
 * that file (the credential in $CREDENTIALS_DIRECTORY, or the
 * password-file it was last called with) is the copy it was at the
 * hand-over: systemd before 260 never refreshes it, and a newer file wins.
 * 0 or -1.  Thread-safe.
 */
int	 config_password_handover(const char *name, const char *secret, size_t len,
	    char *reply, size_t rlen);
void	 secret_free(char *);

/*
 * A configuration snapshot shared by reference: the running agent holds
 * the current one, and every job takes a reference when it is submitted
 * and drops it when it is done, so a worker never reads a configuration
 * that a reload (SIGHUP) may change or free.  Thread-safe counts.
 */
struct cfgref;
/* Owns c; one reference. */
struct cfgref		*cfgref_new(struct config *c);
struct cfgref		*cfgref_hold(struct cfgref *);
/* The last drop frees the configuration. */
void			 cfgref_drop(struct cfgref *);
const struct config	*cfgref_get(const struct cfgref *);

#endif
