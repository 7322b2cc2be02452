/*
 * `kms setup`'s trust steps, both ways (the guide's "Make vCenter Trust
 * KMS" and "Make KMS Trust vCenter"):
 *
 *   vcenter-trusts-kms  UploadKmipServerCert, unless vCenter already
 *                       trusts the KMS (RetrieveKmipServersStatus_Task)
 *   kms-trusts-vcenter  UploadClientCert (--client-cert/--client-key); or
 *                       vCenter's CSR (GenerateClientCsr) written to
 *                       --csr-out for the KMS to sign, and the signed
 *                       certificate given back (--signed-cert,
 *                       UpdateKmsSignedCsrClientCert); or the certificate
 *                       vCenter has, or a self-signed one it generates,
 *                       written to a file for the KMS admin
 */
#include "kmstrust.h"

#include "config.h"
#include "exitcode.h"
#include "kms.h"
#include "kmsinfo.h"
#include "kmsokms.h"
#include "kmssetup.h"
#include "smallfile.h"
#include "steps.h"
#include "vim.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
kmstrust_vc_trusts_kms(struct setup *s, struct vconn *c,
    const struct kms_cluster_status *cs)
{
	const char *cluster = s->cfg->kms_cluster;

	if (kms_all_trust(cs, VC_TRUSTS_KMS)) {
		steps_add(&s->steps, "vcenter-trusts-kms", STEP_UNCHANGED, "vCenter trusts the KMS "
		    "certificate of '%s'", cluster);
		return 0;
	}
	for (size_t i = 0; i < s->cfg->nkms_servers && i < MAX_SERVERS; i++) {
		if (s->dry_run) {
			steps_add(&s->steps, "vcenter-trusts-kms", STEP_WOULD, "would upload the "
			    "certificate of %s (%s) to '%s'", s->cfg->kms_servers[i].name, s->sha1[i],
			    cluster);
			continue;
		}
		int rc = vim_kms_upload_server_cert(c, cluster, s->pem[i]);
		if (rc != 0) {
			struct step *st = steps_add(&s->steps, "vcenter-trusts-kms", STEP_FAILED, "%s",
			    vconn_error(c));
			return steps_fail(&s->steps, st, vim_exit_code(rc), "upload the KMS "
			    "certificate in the vSphere Client: Key Providers > %s > Make vCenter "
			    "Trust KMS", cluster);
		}
		steps_add(&s->steps, "vcenter-trusts-kms", STEP_DONE, "uploaded the certificate of "
		    "%s (%s)", s->cfg->kms_servers[i].name, s->sha1[i]);
	}
	return 0;
}

/* Where vCenter's client certificate is written for the KMS admin. */
static int
write_client_cert(struct setup *s, const char *pem, char *path, size_t len)
{
	if (s->cert_out != NULL)
		snprintf(path, len, "%s", s->cert_out);
	else
		snprintf(path, len, "%s/vcenter-client-%s.pem", s->cfg->state_dir ?
		    s->cfg->state_dir : ".", s->cfg->kms_cluster);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(pem, f) < 0 || fclose(f) != 0) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	return 0;
}

static int step_kms_trusts_vc_cert(struct setup *, struct vconn *);

/* The KMS signed vCenter's CSR: the certificate given back to vCenter. */
static int
step_signed_cert(struct setup *s, struct vconn *c)
{
	const char *cluster = s->cfg->kms_cluster;
	char err[512], *have = NULL;
	int rc = 0;

	char *crt = smallfile_read(s->signed_cert, 0, err, sizeof(err));
	if (crt == NULL) {
		struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
		    err);
		return steps_fail(&s->steps, st, EXIT_CONFIG, "give the certificate the KMS signed "
		    "on vCenter's CSR (kms setup --csr-out FILE), PEM");
	}
	if (s->provider_exists)
		rc = vim_kms_client_cert(c, cluster, VKMS_CURRENT, &have);
	int same = rc == 0 && have != NULL && pem_same(have, crt);
	if (rc == 0 && !same && !s->dry_run)
		rc = vim_kms_update_signed_cert(c, cluster, crt);
	free(crt);
	free(have);
	if (rc != 0) {
		struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "%s must be the KMS's "
		    "signature on the CSR this vCenter generated for '%s' (kms setup --csr-out "
		    "FILE), PEM", s->signed_cert, cluster);
	}
	steps_add(&s->steps, "kms-trusts-vcenter",
	    same ? STEP_UNCHANGED : s->dry_run ? STEP_WOULD : STEP_DONE, "%s %s",
	    same ? "vCenter presents the signed certificate" : s->dry_run ?
	    "would give vCenter the signed certificate" :
	    "vCenter now presents the certificate the KMS signed,", s->signed_cert);
	return 0;
}

/* vCenter's CSR for the KMS to sign: the one it has, or a new one. */
static int
step_csr(struct setup *s, struct vconn *c)
{
	const char *cluster = s->cfg->kms_cluster;
	enum step_result r = STEP_UNCHANGED;
	char *pem = NULL;
	int rc = 0;

	if (s->kms_trusts_vc) {
		steps_add(&s->steps, "kms-trusts-vcenter", STEP_UNCHANGED, "the KMS trusts "
		    "vCenter's client certificate for '%s': no CSR needed", cluster);
		return 0;
	}
	if (s->provider_exists)
		rc = vim_kms_client_cert(c, cluster, VKMS_CSR, &pem);
	if (rc == 0 && pem == NULL && s->dry_run) {
		steps_add(&s->steps, "kms-trusts-vcenter", STEP_WOULD, "would have vCenter "
		    "generate a certificate signing request for '%s', written to %s", cluster,
		    s->csr_out);
		return 0;
	}
	if (rc == 0 && pem == NULL) {
		rc = vim_kms_client_cert(c, cluster, VKMS_GENERATE_CSR, &pem);
		r = STEP_DONE;
	}
	if (rc != 0 || pem == NULL) {
		struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
		    rc ? vconn_error(c) : "GenerateClientCsr: no request");
		return steps_fail(&s->steps, st, rc ? vim_exit_code(rc) : EXIT_CONNECT, "in the "
		    "vSphere Client: Key Providers > %s > Make KMS Trust vCenter > New "
		    "Certificate Signing Request", cluster);
	}
	FILE *f = s->dry_run ? NULL : fopen(s->csr_out, "w");
	int wrote = f != NULL && fputs(pem, f) >= 0;
	if (f != NULL && fclose(f) != 0)
		wrote = 0;
	free(pem);
	if (!s->dry_run && !wrote) {
		struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "cannot "
		    "write %.400s: %s", s->csr_out, strerror(errno));
		return steps_fail(&s->steps, st, EXIT_FAIL, "give --csr-out a writable path");
	}
	struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", r, "%s vCenter's "
	    "certificate signing request for '%s'%s%s", r == STEP_DONE ? "generated" : "kept",
	    cluster, s->dry_run ? "" : "; written to ", s->dry_run ? "" : s->csr_out);
	if (!s->dry_run)
		step_next(st, "have the KMS sign %.300s, then run: "
		    "vmcrypt-agent kms setup --signed-cert SIGNED.pem", s->csr_out);
	s->awaiting_signature = !s->dry_run;
	return 0;
}

/* The KMS trusts vCenter: the client certificate the user gives, the CSR
 * way, or the one vCenter has, or a self-signed one vCenter makes. */
int
kmstrust_kms_trusts_vc(struct setup *s, struct vconn *c)
{
	if (s->okms != NULL)
		return okmstrust_kms_trusts_vc(s, c);
	if (s->signed_cert != NULL)
		return step_signed_cert(s, c);
	if (s->csr_out != NULL)
		return step_csr(s, c);
	return step_kms_trusts_vc_cert(s, c);
}

/* The client certificate the user gives, or the one vCenter has, or a
 * self-signed one vCenter makes. */
static int
step_kms_trusts_vc_cert(struct setup *s, struct vconn *c)
{
	const char *cluster = s->cfg->kms_cluster;
	char err[512], path[1024], *have = NULL;
	int rc = 0;

	if (s->provider_exists &&
	    (rc = vim_kms_client_cert(c, cluster, VKMS_CURRENT, &have)) != 0) {
		struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "grant the account "
		    "Cryptographer.ManageKeyServers on the vCenter root");
	}
	if (s->client_cert != NULL) {
		char *crt = smallfile_read(s->client_cert, 0, err, sizeof(err));
		char *key = crt ? smallfile_read(s->client_key, 1, err, sizeof(err)) : NULL;
		if (key == NULL) {
			free(crt);
			free(have);
			struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
			    err);
			return steps_fail(&s->steps, st, EXIT_CONFIG, "give the client certificate and "
			    "its private key as PEM files (the key readable only by its owner)");
		}
		int same = have != NULL && pem_same(have, crt);
		if (!same && !s->dry_run)
			rc = vim_kms_upload_client_cert(c, cluster, crt, key);
		secret_free(key);
		free(crt);
		free(have);
		if (rc != 0) {
			struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
			    vconn_error(c));
			return steps_fail(&s->steps, st, vim_exit_code(rc), "check that %s and %s are "
			    "a certificate and its key, PEM", s->client_cert, s->client_key);
		}
		steps_add(&s->steps, "kms-trusts-vcenter",
		    same ? STEP_UNCHANGED : s->dry_run ? STEP_WOULD : STEP_DONE,
		    "%s client certificate %s", same ? "vCenter presents the" :
		    s->dry_run ? "would upload the" : "uploaded the", s->client_cert);
		return 0;
	}
	enum step_result r = STEP_UNCHANGED;
	if (have == NULL && s->dry_run) {
		steps_add(&s->steps, "kms-trusts-vcenter", STEP_WOULD, "would have vCenter "
		    "generate a self-signed client certificate for '%s'", cluster);
		return 0;
	}
	if (have == NULL) {
		if ((rc = vim_kms_client_cert(c, cluster, VKMS_GENERATE, &have)) != 0 ||
		    have == NULL) {
			struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", STEP_FAILED, "%s",
			    rc ? vconn_error(c) : "GenerateSelfSignedClientCert: no certificate");
			return steps_fail(&s->steps, st, rc ? vim_exit_code(rc) : EXIT_CONNECT, "in "
			    "the vSphere Client: Key Providers > %s > Make KMS Trust vCenter", cluster);
		}
		r = STEP_DONE;
	}
	if (s->dry_run) {
		free(have);
		steps_add(&s->steps, "kms-trusts-vcenter", STEP_UNCHANGED, "vCenter has a client "
		    "certificate for '%s'", cluster);
		return 0;
	}
	rc = write_client_cert(s, have, path, sizeof(path));
	free(have);
	struct step *st = steps_add(&s->steps, "kms-trusts-vcenter", r, "%s vCenter's client "
	    "certificate for '%s'; written to %s", r == STEP_DONE ? "generated" : "kept",
	    cluster, rc == 0 ? path : "(not written)");
	if (rc != 0)
		return steps_fail(&s->steps, st, EXIT_FAIL, "cannot write %.400s: %s; give "
		    "--client-cert-out FILE", path, strerror(errno));
	step_next(st, "the KMS must trust this certificate: give %.400s "
	    "to the KMS administrator", path);
	return 0;
}
