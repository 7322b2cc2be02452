/*
 * `kms setup`: its options, what it finds, and the steps it reports
 * (kmssetup.c runs them; kmstrust.c does the two trust steps).
 */
#ifndef VMCRYPT_KMSSETUP_H
#define VMCRYPT_KMSSETUP_H

#include <stddef.h>

#include "steps.h"

struct config;
struct okms_trust;
struct vconn;

#define MAX_THUMBPRINTS	8
#define MAX_SERVERS	32	/* <kms><server> maxOccurs in the XSD */

struct setup {
	/* options */
	const char	*config_path, *trace, *client_cert, *client_key, *cert_out;
	const char	*csr_out, *signed_cert;		/* the CSR way */
	const char	*kms_user, *kms_password_file;
	const char	*thumbprints[MAX_THUMBPRINTS];
	size_t		 nthumbprints;
	int		 dry_run, json, timeout;
	int		 wrap_days;		/* --wrapping-rotation-days; 0: none */
	struct okms_trust *okms;		/* --okms: OKMS signs vCenter's CSR */
	/* what was found */
	int		 provider_exists;
	int		 kms_trusts_vc;		/* every server said so */
	int		 awaiting_signature;	/* a CSR is out for signing */
	struct config	*cfg;
	char		*pem[MAX_SERVERS];	/* each server's certificate */
	char		 sha1[MAX_SERVERS][128];
	struct steps	 steps;			/* what was done, and the exit code */
};

/* A thumbprint as hex digits, upper case, without colons or spaces. */
void		 kset_thumb_norm(const char *in, char *out, size_t len);
/* The first step, before vCenter: each server's certificate read over TLS
 * and its thumbprint matched.  0, or -1 (the step says why). */
int		 kset_certificates(struct setup *);
/* The steps against vCenter, in order, stopping at the first failure. */
void		 kset_vcenter(struct setup *, struct vconn *);

#endif
