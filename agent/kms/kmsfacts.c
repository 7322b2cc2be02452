/*
 * The key provider's facts, read from vCenter: the endpoint, the key
 * providers, the default one and their status (kms_gather), and what the
 * running agent asks before and while it encrypts: is the key provider
 * usable now (kms_check)?  kms.c judges; this file only reads.
 */
#include "kmsfacts.h"

#include "config.h"
#include "kms.h"
#include "kmsinfo.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_TIMEOUT	60	/* RetrieveKmipServersStatus_Task, seconds */

static void
err_set(struct kms_err *e, int rc, struct vconn *c)
{
	e->rc = rc;
	snprintf(e->msg, sizeof(e->msg), "%s", rc ? vconn_error(c) : "");
}

int
kms_gather(struct vconn *c, struct kms_facts *f)
{
	struct vsession *s = vconn_session(c);
	const struct vmoref *cm = vsession_mo(s, VMO_CRYPTO_MANAGER);
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->api_type, sizeof(f->api_type), "%s", vsession_about(s, "apiType"));
	snprintf(f->api_version, sizeof(f->api_version), "%s", vsession_api_version(s));
	snprintf(f->full_name, sizeof(f->full_name), "%s", vsession_about(s, "fullName"));
	snprintf(f->crypto_manager_type, sizeof(f->crypto_manager_type), "%s", cm->type);
	f->has_crypto_manager = strcmp(cm->type, "CryptoManagerKmip") == 0;
	if (strcmp(f->api_type, "VirtualCenter") != 0 || !f->has_crypto_manager)
		return 0;

	rc = vim_kms_list(c, &f->clusters, &f->nclusters);
	err_set(&f->list_err, rc, c);
	f->listed = rc == 0;
	if (rc == V_ERR_TRANSPORT || rc == V_ERR_TLS)
		return rc;
	if (rc == 0 && vsession_api_at_least(s, "7.0")) {
		rc = vim_kms_default(c, f->default_id, sizeof(f->default_id));
		err_set(&f->default_err, rc, c);
		f->default_asked = 1;
	}
	if (f->listed && f->nclusters > 0) {
		const xnode *res = NULL;
		rc = vim_kms_status(c, STATUS_TIMEOUT, &res);
		err_set(&f->status_err, rc, c);
		if (rc == 0) {
			f->status_read = 1;
			kms_status_parse(res, time(NULL), &f->status, &f->nstatus);
		}
		vconn_reset(c);
		if (rc == V_ERR_TRANSPORT || rc == V_ERR_TLS)
			return rc;
	}
	return 0;
}

int
kms_check(struct vconn *c, const struct config *cfg, struct kms_verdict *out)
{
	struct kms_facts f;
	struct chk_report *rep = xcalloc(1, sizeof(*rep));
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = kms_gather(c, &f)) == 0) {
		kms_evaluate(cfg, &f, rep);
		out->usable = rep->kms_usable;
		snprintf(out->provider, sizeof(out->provider), "%s", rep->provider);
		for (size_t i = 0; i < f.nstatus; i++) {
			const struct kms_cert *cc = &f.status[i].client_cert;
			if (strcmp(f.status[i].id, rep->provider) != 0 || !cc->present)
				continue;
			time_t t = kms_parse_time(cc->not_after);
			out->client_cert_not_after = t != (time_t)-1 ? t :
			    time(NULL) + (time_t)cc->expires_in;
		}
		snprintf(out->reason, sizeof(out->reason), "%s", rep->kms_reason);
	} else {
		snprintf(out->reason, sizeof(out->reason), "%s", vconn_error(c));
	}
	kms_facts_free(&f);
	free(rep);
	vconn_reset(c);
	return rc;
}
