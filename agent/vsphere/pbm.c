#include "vsoap_int.h"
#include "pbm.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <string.h>

#define PBM_ACTION	"urn:pbm/"	/* what govmomi sends to vCenter */
#define PBM_BATCH	500

/* PbmRetrieveServiceContent once per login.  vcsim serves SPBM at /pbm,
 * vCenter at /pbm/sdk: on HTTP 404 the other path is tried once. */
static int
pbm_ready(struct vconn *c)
{
	struct vsession *s = c->s;
	struct vim__ManagedObjectReference si = { "PbmServiceInstance", "ServiceInstance" };
	int rc;

	pthread_mutex_lock(&s->mtx);
	int ready = s->pbm_ready;
	pthread_mutex_unlock(&s->mtx);
	if (ready)
		return 0;
	for (int alt = 0; alt < 2; alt++) {
		struct pbm__PbmRetrieveServiceContentResponse r = { 0 };
		VCALL(c, 1, "PbmRetrieveServiceContent", rc,
		    soap_call_pbm__PbmRetrieveServiceContent(c->soap, s->pbm_url,
		    PBM_ACTION, &si, &r));
		if (rc == 0 && r.returnval != NULL) {
			pthread_mutex_lock(&s->mtx);
			vmoref_set(&s->pbm_profile_mgr, &r.returnval->profileManager);
			s->pbm_ready = 1;
			pthread_mutex_unlock(&s->mtx);
			return 0;
		}
		if (c->soap->error != 404 || alt == 1)
			break;
		const char *other = strstr(s->pbm_url, "/pbm/sdk") ? "/pbm" : "/pbm/sdk";
		char *u = xasprintf("%s%s", s->base, other);
		log_debug("SPBM not at %s, trying %s", s->pbm_url, u);
		free(s->pbm_url);
		s->pbm_url = u;
	}
	if (rc == 0)
		rc = V_ERR_PROTO;
	snprintf(c->err + strlen(c->err), sizeof(c->err) - strlen(c->err),
	    " (SPBM endpoint %s)", s->pbm_url);
	return rc;
}

int
pbm_query_profiles(struct vconn *c, const struct pbm_ref *refs, size_t n,
    pbm_assoc_cb cb, void *arg)
{
	int rc = n > 0 ? pbm_ready(c) : 0;

	for (size_t off = 0; rc == 0 && off < n; off += PBM_BATCH) {
		size_t k = n - off < PBM_BATCH ? n - off : PBM_BATCH;
		struct pbm__PbmServerObjectRef *ents = soap_malloc(c->soap, k * sizeof(*ents));
		struct pbm__PbmQueryAssociatedProfilesResponse r = { 0 };
		if (ents == NULL)
			fatalx("out of memory");
		for (size_t i = 0; i < k; i++) {
			soap_default_pbm__PbmServerObjectRef(c->soap, &ents[i]);
			ents[i].objectType = (char *)refs[off + i].type;
			ents[i].key = (char *)refs[off + i].key;
		}
		VCALL(c, 1, "PbmQueryAssociatedProfiles", rc,
		    soap_call_pbm__PbmQueryAssociatedProfiles(c->soap, c->s->pbm_url,
		    PBM_ACTION, vmoref_soap(c->soap, &c->s->pbm_profile_mgr),
		    (int)k, ents, &r));
		for (int i = 0; rc == 0 && i < r.__sizereturnval; i++) {
			struct pbm__PbmQueryProfileResult *q = &r.returnval[i];
			if (q->object.key == NULL)
				continue;
			if (q->__sizeprofileId == 0)
				cb(arg, q->object.key, "");
			for (int j = 0; j < q->__sizeprofileId; j++)
				cb(arg, q->object.key, q->profileId[j].uniqueId ?
				    q->profileId[j].uniqueId : "");
		}
		/* Between batches only: the caller may still hold trees it
		 * read on this connection before (devices to send back). */
		if (off + PBM_BATCH < n)
			vconn_reset(c);
	}
	return rc;
}

int
pbm_requirement_profiles(struct vconn *c, pbm_profile_cb cb, void *arg)
{
	struct pbm__PbmQueryProfileResponse q = { 0 };
	struct pbm__PbmProfileResourceType rt = { "STORAGE" };
	struct pbm__PbmRetrieveContentResponse r = { 0 };
	int rc;

	if ((rc = pbm_ready(c)) != 0)
		return rc;
	VCALL(c, 1, "PbmQueryProfile", rc,
	    soap_call_pbm__PbmQueryProfile(c->soap, c->s->pbm_url, PBM_ACTION,
	    vmoref_soap(c->soap, &c->s->pbm_profile_mgr), &rt, "REQUIREMENT", &q));
	if (rc != 0 || q.__sizereturnval == 0) {
		vconn_reset(c);
		return rc;
	}
	VCALL(c, 1, "PbmRetrieveContent", rc,
	    soap_call_pbm__PbmRetrieveContent(c->soap, c->s->pbm_url, PBM_ACTION,
	    vmoref_soap(c->soap, &c->s->pbm_profile_mgr), q.__sizereturnval,
	    q.returnval, &r));
	for (int i = 0; rc == 0 && i < r.__sizereturnval; i++)
		cb(arg, &r.returnval[i]);
	vconn_reset(c);
	return rc;
}

int
pbm_retrieve_profiles(struct vconn *c, const char *const *ids, size_t n,
    pbm_profile_cb cb, void *arg)
{
	struct pbm__PbmRetrieveContentResponse r = { 0 };
	struct pbm__PbmProfileId *pids;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = pbm_ready(c)) != 0)
		return rc;
	pids = soap_malloc(c->soap, n * sizeof(*pids));
	if (pids == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < n; i++)
		pids[i].uniqueId = (char *)ids[i];
	VCALL(c, 1, "PbmRetrieveContent", rc,
	    soap_call_pbm__PbmRetrieveContent(c->soap, c->s->pbm_url, PBM_ACTION,
	    vmoref_soap(c->soap, &c->s->pbm_profile_mgr), (int)n, pids, &r));
	for (int i = 0; rc == 0 && i < r.__sizereturnval; i++)
		cb(arg, &r.returnval[i]);
	vconn_reset(c);
	return rc;
}

struct names {
	pbm_name_cb	 cb;
	void		*arg;
};

static void
names_cb(void *arg, const xnode *p)
{
	struct names *nm = arg;
	const char *id = xnode_path_text(p, "profileId.uniqueId");
	const char *name = xnode_path_text(p, "name");
	if (id != NULL)
		nm->cb(nm->arg, id, name ? name : "");
}

int
pbm_profile_names(struct vconn *c, const char *const *ids, size_t n,
    pbm_name_cb cb, void *arg)
{
	struct names nm = { cb, arg };
	return pbm_retrieve_profiles(c, ids, n, names_cb, &nm);
}

/* The data service VMware's default "VM Encryption Policy" names (api-facts
 * F.4; the same id in govmomi's simulator profiles). */
#define ENCRYPTION_DATASERVICE	"ad5a249d-cbc2-43af-9366-694d7664fa52"

int
pbm_create_encryption_policy(struct vconn *c, const char *name, const char *desc,
    char *id, size_t idlen)
{
	struct pbm__PbmCreateResponse r = { 0 };
	/* For a string, gSOAP's void * is the char * itself. */
	struct pbm__PbmCapabilityPropertyInstance prop = {
		ENCRYPTION_DATASERVICE, NULL, { SOAP_TYPE_xsd__string, ENCRYPTION_DATASERVICE } };
	struct pbm__PbmCapabilityConstraintInstance cons = { 1, &prop };
	struct pbm__PbmCapabilityInstance cap = {
		{ "com.vmware.storageprofile.dataservice", ENCRYPTION_DATASERVICE }, 1, &cons };
	struct pbm__PbmCapabilitySubProfile sub = { "sp-1", 1, &cap, NULL };
	struct pbm__PbmCapabilitySubProfileConstraints spc = { 1, &sub };
	struct pbm__PbmCapabilityProfileCreateSpec spec = {
		(char *)name, (char *)desc, "REQUIREMENT", { "STORAGE" },
		{ SOAP_TYPE_pbm__PbmCapabilitySubProfileConstraints, &spc } };
	int rc;

	id[0] = '\0';
	if ((rc = pbm_ready(c)) != 0)
		return rc;
	VCALL(c, 1, "PbmCreate", rc,
	    soap_call_pbm__PbmCreate(c->soap, c->s->pbm_url, PBM_ACTION,
	    vmoref_soap(c->soap, &c->s->pbm_profile_mgr), &spec, &r));
	if (rc == 0 && (r.returnval == NULL || r.returnval->uniqueId == NULL)) {
		snprintf(c->err, sizeof(c->err), "PbmCreate: no profile id returned");
		rc = V_ERR_PROTO;
	}
	if (rc == 0)
		snprintf(id, idlen, "%s", r.returnval->uniqueId);
	vconn_reset(c);
	return rc;
}
