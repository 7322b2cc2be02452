/*
 * What `kms setup` (kmssetup.c) and its trust steps (kmstrust.c) share:
 * the options, what was found, and the steps reported at the end.
 */
#ifndef VMCRYPT_KMSSETUP_H
#define VMCRYPT_KMSSETUP_H

#include <stddef.h>

struct config;
struct vconn;
struct kms_cluster_status;

#define MAX_THUMBPRINTS	8
#define MAX_STEPS	16
#define MAX_SERVERS	32	/* <kms><server> maxOccurs in the XSD */

enum step_result { ST_UNCHANGED, ST_DONE, ST_WOULD, ST_FAILED, ST_INFO };

struct step {
	const char		*name;
	enum step_result	 result;
	char			 detail[1024];
	char			 fix[512];
};

struct setup {
	/* options */
	const char	*config_path, *trace, *client_cert, *client_key, *cert_out;
	const char	*csr_out, *signed_cert;		/* the CSR way */
	const char	*kms_user, *kms_password_file;
	const char	*thumbprints[MAX_THUMBPRINTS];
	size_t		 nthumbprints;
	int		 dry_run, json, timeout;
	/* what was found */
	int		 provider_exists;
	int		 kms_trusts_vc;		/* every server said so */
	int		 awaiting_signature;	/* a CSR is out for signing */
	struct config	*cfg;
	char		*pem[MAX_SERVERS];	/* each server's certificate */
	char		 sha1[MAX_SERVERS][128];
	struct step	 steps[MAX_STEPS];
	size_t		 nsteps;
	int		 exit_code;
};

/* A step's result, in the order it ran (printed, or as JSON). */
struct step	*kset_step(struct setup *, const char *name, enum step_result,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A step failed: its fix, and the exit code the command ends with; -1. */
int		 kset_failed(struct setup *, struct step *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
/* A small PEM or secret file (at most 64 KB; a secret must be 0600):
 * malloc'd, or NULL with err. */
char		*kset_read_small(const char *path, int secret, char *err, size_t errlen);
/* Whether every server of cs has trust in one direction (kms_trusts_vc
 * 1: the KMS trusts vCenter; 0: vCenter trusts the KMS). */
int		 kset_all_trust(const struct kms_cluster_status *cs, int kms_trusts_vc);

/* "unchanged", "done", "would", "failed", "info". */
const char	*kset_result_name(enum step_result);
/* A thumbprint as hex digits, lower case, without colons or spaces. */
void		 kset_thumb_norm(const char *in, char *out, size_t len);
/* The first step, before vCenter: each server's certificate read over TLS
 * and its thumbprint matched.  0, or -1 (the step says why). */
int		 kset_certificates(struct setup *);
/* The steps against vCenter, in order, stopping at the first failure. */
void		 kset_vcenter(struct setup *, struct vconn *);

/* The trust steps (kmstrust.c). */
int		 step_vc_trusts_kms(struct setup *, struct vconn *,
		    const struct kms_cluster_status *);
int		 step_kms_trusts_vc(struct setup *, struct vconn *);

#endif
