/*
 * kms-trusts-vcenter with OVHcloud's KMS (okms-facts §1 step 4, §4):
 *
 *   vCenter's CSR      RetrieveClientCsr, else GenerateClientCsr (kept
 *                      across runs: its key never leaves vCenter)
 *   our credential     the one named after this vCenter, found in the
 *                      OKMS's list, else POSTed with the CSR, the identity
 *                      URNs (configured, else GET /auth/details) and a
 *                      validity of 365 days
 *   ready              GET until READY (bounded by --okms-wait)
 *   vCenter's cert     UpdateKmsSignedCsrClientCert with its certificatePEM,
 *                      unless vCenter presents it already
 *
 * A second run finds its credential by name and POSTs nothing.  A
 * credential without a CSR is never asked for (okms.c refuses it: PCI DSS).
 */
#include "kmsokms.h"

#include "config.h"
#include "exitcode.h"
#include "kms.h"
#include "kmssetup.h"
#include "okms.h"
#include "ovhapi.h"
#include "smallfile.h"
#include "steps.h"
#include "vim.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEP	"kms-trusts-vcenter"

static const char *
jstr(json_object *o, const char *k)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* An OVHcloud API refusal as a failed step, with the fix for its kind. */
static int
api_failed(struct setup *s, const char *what, int rc, const char *err)
{
	struct okms_trust *o = s->okms;
	const char *cls = ovh_client_error_class(o->api);
	const char *act = ovh_client_error_actions(o->api);
	struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "%s: %s", what, err);

	if (rc == OKMS_E_NO_CSR)
		return steps_fail(&s->steps, st, EXIT_FAIL, "only credentials made from "
		    "vCenter's CSR are asked for (OVHcloud's PCI DSS scope)");
	if (rc == OVH_E_DENIED)
		return steps_fail(&s->steps, st, EXIT_OVH_DENIED, "the OVHcloud identity lacks "
		    "the IAM action %s on OKMS %s: add it to an IAM policy for this identity "
		    "(Control Panel > Identity and Access Management > Policies) and, for a "
		    "consumer key, make one with `vmcrypt-agent ovh consumer-key`; then run "
		    "again", act[0] ? act : "named above", o->okms_id);
	if (strstr(cls, "CredentialCSR") != NULL)
		return steps_fail(&s->steps, st, EXIT_FAIL, "OKMS refused vCenter's certificate "
		    "signing request (%s): have vCenter make a new one (vSphere Client: Key "
		    "Providers > %s > Make KMS Trust vCenter > New Certificate Signing Request), "
		    "then run again", cls, s->cfg->kms_cluster);
	if (strstr(cls, "CredentialValidity") != NULL)
		return steps_fail(&s->steps, st, EXIT_FAIL, "OKMS refused a validity of %d "
		    "days (%s): OVHcloud's maximum is lower than the documented %d; give "
		    "--okms-validity DAYS within it and run again", o->validity, cls,
		    OKMS_MAX_VALIDITY);
	if (strstr(cls, "CredentialIdentityURNs") != NULL)
		return steps_fail(&s->steps, st, EXIT_CONFIG, "OKMS refused the identity URNs "
		    "(%s): give the user or group URNs in %s (<okms id=\"...\"><identity "
		    "urn=\"urn:v1:eu:identity:user:NIC/LOGIN\"/></okms>)", cls, s->cfg->path);
	return steps_fail(&s->steps, st, rc == OVH_E_TRANSPORT || rc == OVH_E_PROTO ?
	    EXIT_CONNECT : rc == OVH_E_AUTH ? EXIT_LOGIN : EXIT_FAIL, "%s", rc == OVH_E_AUTH ?
	    "check the OVHcloud credentials (OVH_* or ovh.conf), as `vmcrypt-agent ovh "
	    "--help` says" : "run again; if it persists, quote the X-Ovh-QueryID above to "
	    "OVHcloud support");
}

/* vCenter's CSR: the one it keeps, or a new one.  *pem NULL in a dry run
 * that would make one. */
int
okmstrust_csr(struct setup *s, struct vconn *c, char **pem, int *made)
{
	const char *cluster = s->cfg->kms_cluster;
	int rc = 0, empty = 0;

	*pem = NULL;
	*made = 0;
	if (s->provider_exists)
		rc = vim_kms_client_cert(c, cluster, VKMS_CSR, pem);
	if (rc == 0 && *pem == NULL && !s->dry_run) {
		rc = vim_kms_client_cert(c, cluster, VKMS_GENERATE_CSR, pem);
		*made = 1;
		empty = rc == 0 && *pem == NULL;
	}
	if (rc != 0 || empty) {
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "%s", empty ?
		    "GenerateClientCsr: no request" : vconn_error(c));
		free(*pem);
		*pem = NULL;
		return steps_fail(&s->steps, st, empty ? EXIT_CONNECT : vim_exit_code(rc),
		    "grant the account Cryptographer.ManageKeyServers; in the vSphere Client: "
		    "Key Providers > %s > Make KMS Trust vCenter > New Certificate Signing "
		    "Request", cluster);
	}
	return 0;
}

/* The identity URNs the credential carries. */
static int
identities(struct setup *s, json_object **urns)
{
	struct okms_trust *o = s->okms;
	char err[768];
	int rc;

	if (o->urns != NULL) {
		*urns = json_object_get(o->urns);
		return 0;
	}
	if ((rc = okms_identities(o->api, urns, err, sizeof(err))) != 0)
		return api_failed(s, "the caller's identities", rc, err);
	if (json_object_array_length(*urns) == 0) {
		json_object_put(*urns);
		*urns = NULL;
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "GET /auth/details "
		    "names no identity URN");
		return steps_fail(&s->steps, st, EXIT_CONFIG, "give the identity URNs in %s "
		    "(<okms id=\"...\"><identity urn=\"...\"/></okms>)", s->cfg->path);
	}
	return 0;
}

/* POSTs our credential for csr.  0 with o->cred_id set. */
int
okmstrust_create(struct setup *s, const char *csr, int validity)
{
	struct okms_trust *o = s->okms;
	json_object *urns = NULL, *out = NULL;
	char err[768], desc[160];
	int rc;

	if (identities(s, &urns) != 0)
		return -1;
	snprintf(desc, sizeof(desc), "vCenter %.60s, key provider %.60s (vmcrypt-agent)",
	    o->name + strlen("vmcrypt-agent "), s->cfg->kms_cluster);
	json_object *body = okms_credential_body(o->name, desc, urns, csr, validity, err,
	    sizeof(err));
	json_object_put(urns);
	if (body == NULL) {
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "%s", err);
		return steps_fail(&s->steps, st, EXIT_CONFIG, "correct the identity URNs in %s",
		    s->cfg->path);
	}
	rc = okms_credential_create(o->api, o->okms_id, body, &out, err, sizeof(err));
	json_object_put(body);
	if (rc != 0)
		return api_failed(s, "creating the credential", rc, err);
	snprintf(o->cred_id, sizeof(o->cred_id), "%s", jstr(out, "id"));
	o->posted = 1;
	json_object_put(out);
	return 0;
}

/* GET our credential until READY; *pem its certificate. */
int
okmstrust_wait(struct setup *s, char **pem)
{
	struct okms_trust *o = s->okms;
	time_t until = time(NULL) + o->wait;
	char err[768];

	for (;;) {
		json_object *cr = NULL;
		int rc = okms_credential_get(o->api, o->okms_id, o->cred_id, &cr, err,
		    sizeof(err));
		if (rc != 0)
			return api_failed(s, "reading the credential", rc, err);
		const char *st = jstr(cr, "status"), *crt = jstr(cr, "certificatePEM");
		if (strcmp(st, "READY") == 0 && crt != NULL) {
			*pem = xstrdup(crt);
			json_object_put(cr);
			return 0;
		}
		if (strcmp(st, "CREATING") != 0 || time(NULL) >= until) {
			int creating = strcmp(st, "CREATING") == 0;
			struct step *f = steps_add(&s->steps, STEP, STEP_FAILED, "credential %s (%s) "
			    "of OKMS %s is %s%s", o->cred_id, o->name, o->okms_id, st, creating ?
			    " after the wait" : "");
			json_object_put(cr);
			if (creating)
				return steps_fail(&s->steps, f, EXIT_FAIL, "OKMS has not signed it "
				    "within %d s: run again later (the run finds this credential by "
				    "its name and creates no other), or give --okms-wait more", o->wait);
			return steps_fail(&s->steps, f, EXIT_FAIL, "it will not become READY: "
			    "delete credential %s in the OVHcloud Control Panel (OKMS > Access "
			    "certificates), then run again", o->cred_id);
		}
		json_object_put(cr);
		sleep(1);
	}
}

/* Ours, found by name in the OKMS's list: 0 (o->cred_id set or not). */
static int
find_ours(struct setup *s)
{
	struct okms_trust *o = s->okms;
	json_object *list = NULL;
	char err[768];
	int rc;

	if ((rc = okms_credential_list(o->api, o->okms_id, &list, err, sizeof(err))) != 0)
		return api_failed(s, "listing the credentials", rc, err);
	json_object *e = okms_credential_named(list, o->name);
	const char *st = jstr(e, "status");
	if (e != NULL && st != NULL && (strcmp(st, "READY") == 0 ||
	    strcmp(st, "CREATING") == 0))
		snprintf(o->cred_id, sizeof(o->cred_id), "%s", jstr(e, "id"));
	json_object_put(list);
	return 0;
}

int
okmstrust_kms_trusts_vc(struct setup *s, struct vconn *c)
{
	struct okms_trust *o = s->okms;
	const char *cluster = s->cfg->kms_cluster;
	char *csr = NULL, *crt = NULL, *have = NULL;
	int made = 0, rc = -1;

	if (find_ours(s) != 0)
		return -1;
	if (s->kms_trusts_vc && o->cred_id[0]) {
		steps_add(&s->steps, STEP, STEP_UNCHANGED, "OKMS %s trusts vCenter: credential "
		    "%s (\"%s\")", o->okms_id, o->cred_id, o->name);
		return 0;
	}
	if (okmstrust_csr(s, c, &csr, &made) != 0)
		return -1;
	if (s->dry_run) {
		if (o->cred_id[0])
			steps_add(&s->steps, STEP, STEP_WOULD, "would give vCenter the certificate "
			    "of credential %s (\"%s\")", o->cred_id, o->name);
		else
			steps_add(&s->steps, STEP, STEP_WOULD, "would have %s OKMS sign it (POST "
			    "credential \"%s\", %d days)", csr ? "vCenter's CSR kept," :
			    "vCenter generate a CSR and", o->name, o->validity);
		free(csr);
		return 0;
	}
	if (!o->cred_id[0] && okmstrust_create(s, csr, o->validity) != 0)
		goto out;
	if (okmstrust_wait(s, &crt) != 0)
		goto out;
	if (vim_kms_client_cert(c, cluster, VKMS_CURRENT, &have) == 0 && have != NULL &&
	    pem_same(have, crt)) {
		steps_add(&s->steps, STEP, STEP_UNCHANGED, "vCenter presents the certificate of "
		    "credential %s (\"%s\")", o->cred_id, o->name);
		rc = 0;
		goto out;
	}
	if (vim_kms_update_signed_cert(c, cluster, crt) != 0) {
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "%s", vconn_error(c));
		steps_fail(&s->steps, st, EXIT_FAIL, "credential %s (\"%s\") was signed on "
		    "another CSR than the one vCenter now holds: delete it in the OVHcloud "
		    "Control Panel (OKMS > Access certificates), then run again", o->cred_id,
		    o->name);
		goto out;
	}
	steps_add(&s->steps, STEP, STEP_DONE, "%s vCenter's CSR%s, OKMS signed it "
	    "(credential %s, \"%s\"); vCenter presents the certificate", made ? "generated" :
	    "kept", o->posted ? "" : " (credential found by name)", o->cred_id, o->name);
	rc = 0;
out:
	free(csr);
	free(crt);
	free(have);
	return rc;
}
