/*
 * `kms renew-client-cert` (kmsrenew.h).
 */
#include "kmsrenew.h"

#include "config.h"
#include "exitcode.h"
#include "kmsfacts.h"
#include "kmsokms.h"
#include "kmssetup.h"
#include "okms.h"
#include "smallfile.h"
#include "steps.h"
#include "vim.h"
#include "xmalloc.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

struct renewal {
	time_t	 old_after;		/* the certificate vCenter presents now */
	char	*old_pem;
	char	 old_ids[8][40];	/* OKMS: our credentials before this run */
	size_t	 nold;
};

/* A certificate's notAfter (0: not a certificate). */
static time_t
pem_not_after(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	struct tm tm;
	time_t t = 0;

	if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		t = timegm(&tm);
	X509_free(x);
	BIO_free(b);
	return t;
}

static const char *
utc(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* certificate: 1 go on, 0 nothing to do, -1 failed. */
static int
step_certificate(struct setup *s, struct vconn *c, int force, struct renewal *rn)
{
	struct kms_verdict v;
	char at[32], from[32];
	int rc, days = s->cfg->kms_renew_days;

	if ((rc = kms_check(c, s->cfg, &v)) != 0) {
		struct step *st = steps_add(&s->steps, "certificate", STEP_FAILED, "the key "
		    "provider's status: %s", v.reason);
		return steps_fail(&s->steps, st, vim_exit_code(rc), "check the connection to "
		    "vCenter (`vmcrypt-agent check` says more), then run again");
	}
	if (v.client_cert_not_after == 0) {
		struct step *st = steps_add(&s->steps, "certificate", STEP_FAILED, "vCenter "
		    "reports no client certificate for key provider %s", v.provider);
		return steps_fail(&s->steps, st, EXIT_FAIL, "give vCenter one first: "
		    "`vmcrypt-agent kms setup`");
	}
	rn->old_after = v.client_cert_not_after;
	s->provider_exists = 1;		/* its status says so: its CSR is read */
	long long left = (long long)(rn->old_after - time(NULL));
	if (!force && left > (long long)days * 86400) {
		steps_add(&s->steps, "certificate", STEP_UNCHANGED, "vCenter's client certificate "
		    "for %s expires in %lld days (%s): nothing to do before %s (renew-days %d)",
		    v.provider, left / 86400, utc(rn->old_after, at, sizeof(at)),
		    utc(rn->old_after - (time_t)days * 86400, from, sizeof(from)), days);
		return 0;
	}
	steps_add(&s->steps, "certificate", STEP_INFO, "vCenter's client certificate for %s "
	    "%s %lld days (%s)%s: renewing", v.provider, left < 0 ? "EXPIRED" : "expires in",
	    (left < 0 ? -left : left) / 86400, utc(rn->old_after, at, sizeof(at)),
	    force && left > (long long)days * 86400 ? " (--force)" : "");
	if (vim_kms_client_cert(c, s->cfg->kms_cluster, VKMS_CURRENT, &rn->old_pem) != 0)
		rn->old_pem = NULL;	/* then it cannot be put back: said if needed */
	vconn_reset(c);
	return 1;
}

/* The new certificate in vCenter, then the status green with it; else the
 * old one back.  0, or -1 (the step says which certificate is in place). */
static int
install(struct setup *s, struct vconn *c, struct renewal *rn, const char *crt)
{
	const char *cluster = s->cfg->kms_cluster;
	time_t want = pem_not_after(crt);
	char at[32];
	struct kms_verdict v;

	memset(&v, 0, sizeof(v));
	if (want == 0) {
		struct step *st = steps_add(&s->steps, "vcenter-certificate", STEP_FAILED,
		    "the signed certificate is not a PEM certificate");
		return steps_fail(&s->steps, st, EXIT_FAIL, "it must be the certificate the KMS "
		    "signed on the CSR vCenter holds; vCenter still presents the old one");
	}
	if (vim_kms_update_signed_cert(c, cluster, crt) != 0) {
		/* vCenter refused it and kept its old certificate: it was not
		 * switched, so there is nothing to put back. */
		struct step *st = steps_add(&s->steps, "vcenter-certificate", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, EXIT_FAIL, "vCenter refused the signed "
		    "certificate and still presents the old one; if vCenter's CSR changed "
		    "meanwhile (one generated in the vSphere Client), run `vmcrypt-agent kms "
		    "renew-client-cert` again to have the new CSR signed; else see vCenter's "
		    "reason above");
	}
	steps_add(&s->steps, "vcenter-certificate", STEP_DONE, "vCenter presents the new "
	    "certificate (valid until %s)", utc(want, at, sizeof(at)));
	for (time_t until = time(NULL) + RENEW_GREEN_WAIT;; sleep(2)) {
		int rc = kms_check(c, s->cfg, &v);
		time_t got = v.client_cert_not_after;
		if (rc == 0 && v.usable && got >= want - 1 && got <= want + 1) {
			steps_add(&s->steps, "connection", STEP_DONE, "key provider %s green and "
			    "trusted both ways with the new certificate", v.provider);
			return 0;
		}
		if (time(NULL) >= until)
			break;
	}
	int back = rn->old_pem != NULL &&
	    vim_kms_update_signed_cert(c, cluster, rn->old_pem) == 0;
	struct step *st = steps_add(&s->steps, "connection", STEP_FAILED, "not usable with the "
	    "new certificate after %d s: %s; %s", RENEW_GREEN_WAIT, v.reason[0] ? v.reason :
	    "its status is not green", back ? "the old certificate is back in vCenter" :
	    "the old certificate could not be put back");
	return steps_fail(&s->steps, st, EXIT_FAIL, "%s", back ? "the KMS does not accept the "
	    "new certificate: check that it trusts the CA that signed it, then run again" :
	    "give vCenter a working certificate now: `vmcrypt-agent kms setup` (Key "
	    "Providers > Make KMS Trust vCenter in the vSphere Client)");
}

/* Our credentials (named after this vCenter) before the renewal. */
static int
old_credentials(struct setup *s, struct renewal *rn)
{
	struct okms_trust *o = s->okms;
	json_object *list = NULL;
	char err[768];

	if (okms_credential_list(o->api, o->okms_id, &list, err, sizeof(err)) != 0) {
		struct step *st = steps_add(&s->steps, "credential", STEP_FAILED, "listing the "
		    "credentials: %s", err);
		return steps_fail(&s->steps, st, EXIT_FAIL, "grant okms:apiovh:credential/get, "
		    "then run again");
	}
	for (size_t i = 0; i < json_object_array_length(list) && rn->nold < 8; i++) {
		json_object *e = json_object_array_get_idx(list, i), *n, *id, *st;
		const char *status = json_object_object_get_ex(e, "status", &st) ?
		    json_object_get_string(st) : "";
		/* READY or EXPIRED: one still CREATING is not in use (and
		 * cannot be deleted yet). */
		if (json_object_object_get_ex(e, "name", &n) &&
		    json_object_object_get_ex(e, "id", &id) &&
		    strcmp(json_object_get_string(n), o->name) == 0 &&
		    (strcmp(status, "READY") == 0 || strcmp(status, "EXPIRED") == 0) &&
		    okms_id_ok(json_object_get_string(id)))
			snprintf(rn->old_ids[rn->nold++], sizeof(rn->old_ids[0]), "%s",
			    json_object_get_string(id));
	}
	json_object_put(list);
	return 0;
}

/* Deletes the credentials in ids (ours); which failed is said. */
static int
delete_credentials(struct setup *s, char (*ids)[40], size_t n, const char *why)
{
	struct okms_trust *o = s->okms;
	char err[768], done[400] = "";
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		if (okms_credential_delete(o->api, o->okms_id, ids[i], err, sizeof(err)) != 0) {
			struct step *st = steps_add(&s->steps, "old-credential", STEP_FAILED,
			    "credential %s: %s", ids[i], err);
			steps_fail(&s->steps, st, EXIT_FAIL, "delete it in the OVHcloud Control "
			    "Panel (OKMS > Access certificates); the renewal itself is done");
			failed = 1;
			continue;
		}
		snprintf(done + strlen(done), sizeof(done) - strlen(done), "%s%s", i ? ", " : "",
		    ids[i]);
	}
	if (done[0])
		steps_add(&s->steps, "old-credential", STEP_DONE, "%s: deleted %s", why, done);
	return failed ? -1 : 0;
}

static void
renew_okms(struct setup *s, struct vconn *c, struct renewal *rn)
{
	struct okms_trust *o = s->okms;
	char *csr = NULL, *crt = NULL;
	int made = 0;

	if (okmstrust_csr(s, c, &csr, &made) != 0 || old_credentials(s, rn) != 0)
		goto out;
	if (s->dry_run) {
		steps_add(&s->steps, "credential", STEP_WOULD, "would have OKMS %s sign %s CSR "
		    "(a new credential \"%s\", %d days), give vCenter its certificate, check the "
		    "connection, then delete the %zu old credential%s named so", o->okms_id,
		    csr ? "vCenter's" : "a new", o->name, o->validity, rn->nold,
		    rn->nold == 1 ? "" : "s");
		goto out;
	}
	steps_add(&s->steps, "csr", made ? STEP_DONE : STEP_UNCHANGED, "vCenter's CSR %s",
	    made ? "generated (its key stays in vCenter)" : "kept (its key stays in vCenter)");
	o->cred_id[0] = '\0';
	if (okmstrust_create(s, csr, o->validity) != 0)
		goto out;
	steps_add(&s->steps, "credential", STEP_DONE, "credential %s (\"%s\", %d days) for "
	    "vCenter's CSR", o->cred_id, o->name, o->validity);
	if (okmstrust_wait(s, &crt) != 0)
		goto out;
	if (install(s, c, rn, crt) != 0) {
		char mine[1][40];
		snprintf(mine[0], sizeof(mine[0]), "%s", o->cred_id);
		delete_credentials(s, mine, 1, "the unused new credential");
		o->cred_id[0] = '\0';
		goto out;
	}
	delete_credentials(s, rn->old_ids, rn->nold, "this vCenter's old credentials");
out:
	free(csr);
	free(crt);
}

/* The CSR for the KMS administrator (not a secret: 0644). */
static int
write_csr(const char *path, const char *pem, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	int bad = f == NULL;

	if (f != NULL) {
		bad = fputs(pem, f) < 0;
		bad |= fclose(f) != 0;
	}
	if (bad) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	chmod(path, 0644);
	return 0;
}

/* Another KMS: the CSR for its administrator, or the certificate they
 * signed on it. */
static void
renew_other(struct setup *s, struct vconn *c, struct renewal *rn)
{
	char *csr = NULL, path[1024], err[1200];
	int made = 0;

	if (s->signed_cert != NULL) {
		char *crt = smallfile_read(s->signed_cert, 0, err, sizeof(err));
		if (crt == NULL) {
			struct step *st = steps_add(&s->steps, "vcenter-certificate", STEP_FAILED,
			    "%s", err);
			steps_fail(&s->steps, st, EXIT_USAGE, "give the PEM certificate the KMS "
			    "signed with --signed-cert FILE");
		} else if (s->dry_run) {
			steps_add(&s->steps, "vcenter-certificate", STEP_WOULD, "would give vCenter "
			    "%s and check the connection", s->signed_cert);
		} else {
			install(s, c, rn, crt);
		}
		free(crt);
		return;
	}
	if (okmstrust_csr(s, c, &csr, &made) != 0)
		return;
	snprintf(path, sizeof(path), "%s", s->csr_out ? s->csr_out : "");
	if (!path[0])
		snprintf(path, sizeof(path), "%s/kms-client-renew.csr", s->cfg->state_dir);
	if (s->dry_run) {
		steps_add(&s->steps, "csr", STEP_WOULD, "would write vCenter's CSR to %s", path);
	} else if (csr == NULL || write_csr(path, csr, err, sizeof(err)) != 0) {
		struct step *st = steps_add(&s->steps, "csr", STEP_FAILED, "%s", csr ? err :
		    "vCenter gave no CSR");
		steps_fail(&s->steps, st, EXIT_FAIL, "give a writable --csr-out FILE");
	} else {
		steps_add(&s->steps, "csr", made ? STEP_DONE : STEP_UNCHANGED, "vCenter's CSR "
		    "(%s) written to %s", made ? "new" : "the one it keeps", path);
		struct step *st = steps_add(&s->steps, "signed-certificate", STEP_FAILED,
		    "waiting for the KMS to sign it: vCenter still presents the old certificate");
		steps_fail(&s->steps, st, EXIT_FAIL, "have the KMS administrator sign %s, then "
		    "run `vmcrypt-agent kms renew-client-cert --signed-cert FILE`", path);
	}
	free(csr);
}

void
kmsrenew_run(struct setup *s, struct vconn *c, int force)
{
	struct renewal rn;

	memset(&rn, 0, sizeof(rn));
	if (step_certificate(s, c, force, &rn) == 1) {
		if (s->okms != NULL)
			renew_okms(s, c, &rn);
		else
			renew_other(s, c, &rn);
	}
	free(rn.old_pem);
}
