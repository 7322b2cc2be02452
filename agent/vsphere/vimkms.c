/*
 * vim25 calls about key management and the account's privileges: part of
 * the SOAP module (it shares vsession.c's session and call wrapper).  Results
 * are handed out as the plain types of kms.h.
 */
#include "vsoap_int.h"

#include "kmsinfo.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
no_crypto_manager(struct vconn *c, const char *op)
{
	if (strcmp(c->s->mo[VMO_CRYPTO_MANAGER].type, "CryptoManagerKmip") == 0)
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: this endpoint has no CryptoManagerKmip "
	    "(crypto manager: %s)", op, c->s->mo[VMO_CRYPTO_MANAGER].value[0] ?
	    c->s->mo[VMO_CRYPTO_MANAGER].type : "none");
	return 1;
}

int
vim_kms_list(struct vconn *c, struct kms_cluster **out, size_t *n)
{
	struct vim__ListKmipServersResponse r = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	if (no_crypto_manager(c, "ListKmipServers"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "ListKmipServers", rc,
	    soap_call_vim__ListKmipServers(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), NULL, &r));
	if (rc == 0 && r.__sizereturnval > 0) {
		*out = xcalloc((size_t)r.__sizereturnval, sizeof(**out));
		for (int i = 0; i < r.__sizereturnval; i++) {
			const struct vim__KmipClusterInfo *ci = &r.returnval[i];
			struct kms_cluster *k = &(*out)[i];
			copystr(k->id, sizeof(k->id), ci->clusterId.id);
			k->use_as_default = ci->useAsDefault == true_;
			copystr(k->mgmt, sizeof(k->mgmt), ci->managementType);
			if (ci->__sizeservers > 0)
				k->servers = xcalloc((size_t)ci->__sizeservers, sizeof(*k->servers));
			for (int j = 0; j < ci->__sizeservers; j++) {
				copystr(k->servers[j].name, sizeof(k->servers[j].name),
				    ci->servers[j].name);
				copystr(k->servers[j].address, sizeof(k->servers[j].address),
				    ci->servers[j].address);
				k->servers[j].port = ci->servers[j].port;
			}
			k->nservers = ci->__sizeservers > 0 ? (size_t)ci->__sizeservers : 0;
			if (ci->__sizeuseAsEntityDefault > 0)
				k->entities = xcalloc((size_t)ci->__sizeuseAsEntityDefault,
				    sizeof(*k->entities));
			for (int j = 0; j < ci->__sizeuseAsEntityDefault; j++) {
				struct kms_entity *en = &k->entities[k->nentities++];
				copystr(en->type, sizeof(en->type), ci->useAsEntityDefault[j].type);
				copystr(en->value, sizeof(en->value),
				    ci->useAsEntityDefault[j].__item);
			}
		}
		*n = (size_t)r.__sizereturnval;
	}
	vconn_reset(c);
	return rc;
}

int
vim_kms_default(struct vconn *c, char *id, size_t idlen)
{
	struct vim__GetDefaultKmsClusterResponse r = { 0 };
	int rc;

	id[0] = '\0';
	if (no_crypto_manager(c, "GetDefaultKmsCluster"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "GetDefaultKmsCluster", rc,
	    soap_call_vim__GetDefaultKmsCluster(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), NULL, NULL, &r));
	if (rc == 0 && r.returnval != NULL)
		copystr(id, idlen, r.returnval->id);
	/* vCenter answers "none" with an empty response; the simulator (and,
	 * by its messages, some builds) with a RuntimeFault saying so. */
	if (rc == V_ERR_FAULT && strcmp(c->fault_type, "RuntimeFault") == 0 &&
	    strstr(c->err, "No default provider") != NULL)
		rc = 0;
	vconn_reset(c);
	return rc;
}

int
vim_kms_status(struct vconn *c, int timeout, const xnode **result)
{
	struct vim__RetrieveKmipServersStatus_USCORETaskResponse r = { 0 };
	struct vmoref task;
	int rc;

	*result = NULL;
	if (no_crypto_manager(c, "RetrieveKmipServersStatus_Task"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "RetrieveKmipServersStatus_Task", rc,
	    soap_call_vim__RetrieveKmipServersStatus_USCORETask(c->soap, c->s->url,
	    c->s->action, vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), 0, NULL, &r));
	if (rc != 0)
		return rc;
	if (r.returnval == NULL) {
		snprintf(c->err, sizeof(c->err), "RetrieveKmipServersStatus_Task: no task returned");
		return V_ERR_PROTO;
	}
	vmoref_set(&task, r.returnval);
	/* The task asks every KMS; one that never answers is vCenter's
	 * trouble to report, ours to wait for no longer than timeout. */
	rc = vim_wait_task(c, &task, "RetrieveKmipServersStatus_Task", timeout, result);
	return rc == V_ERR_TIMEOUT ? V_ERR_TRANSPORT : rc;
}

int
vim_has_privileges(struct vconn *c, const struct vmoref *entity,
    const char *const *privs, size_t n, int *granted)
{
	struct vim__HasPrivilegeOnEntityResponse r = { 0 };
	char key[128];
	int rc;

	if (c->s->mo[VMO_AUTH_MANAGER].value[0] == '\0') {
		snprintf(c->err, sizeof(c->err), "HasPrivilegeOnEntity: no authorization manager");
		return V_ERR_REFUSED;
	}
	pthread_mutex_lock(&c->s->mtx);
	copystr(key, sizeof(key), c->s->session_key);
	pthread_mutex_unlock(&c->s->mtx);
	VCALL(c, 0, "HasPrivilegeOnEntity", rc,
	    soap_call_vim__HasPrivilegeOnEntity(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_AUTH_MANAGER]),
	    vmoref_soap(c->soap, entity), key, (int)n, (char **)privs, &r));
	explicit_bzero(key, sizeof(key));
	if (rc == 0 && (size_t)r.__sizereturnval != n) {
		snprintf(c->err, sizeof(c->err), "HasPrivilegeOnEntity: %d answers for %zu "
		    "privileges", r.__sizereturnval, n);
		rc = V_ERR_PROTO;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		granted[i] = r.returnval[i] == true_;
	vconn_reset(c);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Key provider setup: register, default, trust (kms setup)         */
/* ---------------------------------------------------------------- */

int
vim_kms_register(struct vconn *c, const char *cluster, const char *name,
    const char *address, int port, const char *user, const char *password)
{
	struct vim__RegisterKmipServerResponse r = { 0 };
	struct vim__KmipServerSpec spec;
	int rc;

	if (no_crypto_manager(c, "RegisterKmipServer"))
		return V_ERR_REFUSED;
	memset(&spec, 0, sizeof(spec));
	spec.clusterId.id = (char *)cluster;
	spec.info.name = (char *)name;
	spec.info.address = (char *)address;
	spec.info.port = port;
	spec.info.userName = (char *)user;
	spec.password = (char *)password;
	VCALL(c, 0, "RegisterKmipServer", rc,
	    soap_call_vim__RegisterKmipServer(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &spec, &r));
	vconn_reset(c);
	return rc;
}

int
vim_kms_mark_default(struct vconn *c, const char *cluster)
{
	struct vim__MarkDefaultResponse r = { 0 };
	struct vim__KeyProviderId id = { (char *)cluster };
	int rc;

	if (no_crypto_manager(c, "MarkDefault"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "MarkDefault", rc,
	    soap_call_vim__MarkDefault(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
	vconn_reset(c);
	return rc;
}

int
vim_kms_upload_server_cert(struct vconn *c, const char *cluster, const char *pem)
{
	struct vim__UploadKmipServerCertResponse r = { 0 };
	struct vim__KeyProviderId id = { (char *)cluster };
	int rc;

	if (no_crypto_manager(c, "UploadKmipServerCert"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "UploadKmipServerCert", rc,
	    soap_call_vim__UploadKmipServerCert(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, (char *)pem, &r));
	vconn_reset(c);
	return rc;
}

int
vim_kms_upload_client_cert(struct vconn *c, const char *cluster, const char *cert,
    const char *key)
{
	struct vim__UploadClientCertResponse r = { 0 };
	struct vim__KeyProviderId id = { (char *)cluster };
	int rc;

	if (no_crypto_manager(c, "UploadClientCert"))
		return V_ERR_REFUSED;
	/* The private key is in the request: the trace redacts <privateKey>. */
	VCALL(c, 0, "UploadClientCert", rc,
	    soap_call_vim__UploadClientCert(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, (char *)cert,
	    (char *)key, &r));
	vconn_reset(c);
	return rc;
}

int
vim_kms_client_cert(struct vconn *c, const char *cluster, enum vkms_cert which,
    char **pem)
{
	struct vim__KeyProviderId id = { (char *)cluster };
	static const char *const ops[] = {
		[VKMS_CURRENT] = "RetrieveClientCert",
		[VKMS_SELF_SIGNED] = "RetrieveSelfSignedClientCert",
		[VKMS_GENERATE] = "GenerateSelfSignedClientCert",
		[VKMS_CSR] = "RetrieveClientCsr",
		[VKMS_GENERATE_CSR] = "GenerateClientCsr",
	};
	const char *op = ops[which];
	char *got = NULL;
	int rc;

	*pem = NULL;
	if (no_crypto_manager(c, op))
		return V_ERR_REFUSED;
	if (which == VKMS_GENERATE) {
		struct vim__GenerateSelfSignedClientCertResponse r = { 0 };
		VCALL(c, 0, op, rc, soap_call_vim__GenerateSelfSignedClientCert(c->soap,
		    c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
		got = r.returnval;
	} else if (which == VKMS_SELF_SIGNED) {
		struct vim__RetrieveSelfSignedClientCertResponse r = { 0 };
		VCALL(c, 0, op, rc, soap_call_vim__RetrieveSelfSignedClientCert(c->soap,
		    c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
		got = r.returnval;
	} else if (which == VKMS_CSR) {
		struct vim__RetrieveClientCsrResponse r = { 0 };
		VCALL(c, 0, op, rc, soap_call_vim__RetrieveClientCsr(c->soap,
		    c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
		got = r.returnval;
	} else if (which == VKMS_GENERATE_CSR) {
		struct vim__GenerateClientCsrResponse r = { 0 };
		VCALL(c, 0, op, rc, soap_call_vim__GenerateClientCsr(c->soap,
		    c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
		got = r.returnval;
	} else {
		struct vim__RetrieveClientCertResponse r = { 0 };
		VCALL(c, 0, op, rc, soap_call_vim__RetrieveClientCert(c->soap,
		    c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, &r));
		got = r.returnval;
	}
	if (rc == 0 && got != NULL && got[0] != '\0')
		*pem = xstrdup(got);
	vconn_reset(c);
	return rc;
}

int
vim_kms_update_signed_cert(struct vconn *c, const char *cluster, const char *pem)
{
	struct vim__KeyProviderId id = { (char *)cluster };
	struct vim__UpdateKmsSignedCsrClientCertResponse r = { 0 };
	int rc;

	if (no_crypto_manager(c, "UpdateKmsSignedCsrClientCert"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "UpdateKmsSignedCsrClientCert", rc,
	    soap_call_vim__UpdateKmsSignedCsrClientCert(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &id, (char *)pem, &r));
	vconn_reset(c);
	return rc;
}

int
vim_kms_set_entity_default(struct vconn *c, const char *cluster, const struct vmoref *entity)
{
	struct vim__SetDefaultKmsClusterResponse r = { 0 };
	struct vim__KeyProviderId id = { (char *)cluster };
	int rc;

	if (no_crypto_manager(c, "SetDefaultKmsCluster"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "SetDefaultKmsCluster", rc,
	    soap_call_vim__SetDefaultKmsCluster(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), vmoref_soap(c->soap, entity),
	    &id, &r));
	vconn_reset(c);
	return rc;
}

int
vim_find_by_path(struct vconn *c, const char *path, struct vmoref *out)
{
	struct vim__FindByInventoryPathResponse r = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	VCALL(c, 0, "FindByInventoryPath", rc,
	    soap_call_vim__FindByInventoryPath(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_SEARCH_INDEX]), (char *)path, &r));
	if (rc == 0 && r.returnval != NULL)
		vmoref_set(out, r.returnval);
	vconn_reset(c);
	return rc;
}

int
vim_vsan_encryption(struct vconn *c, const struct vmoref *cluster, int *enabled)
{
	struct vim__ManagedObjectReference sys = { "VsanVcClusterConfigSystem",
	    "vsan-cluster-config-system" };
	struct vsan__VsanClusterGetConfigResponse r = { 0 };
	char *url = xasprintf("%s/vsanHealth", c->s->base);
	int rc;

	*enabled = 0;
	VCALL(c, 0, "VsanClusterGetConfig", rc,
	    soap_call_vsan__VsanClusterGetConfig(c->soap, url, "urn:vsan", &sys,
	    vmoref_soap(c->soap, cluster), &r));
	if (rc == 0 && r.returnval != NULL) {
		const char *v = xnode_path_text(r.returnval,
		    "dataEncryptionConfig.encryptionEnabled");
		*enabled = v != NULL && strcmp(v, "true") == 0;
	}
	free(url);
	vconn_reset(c);
	return rc;
}

/* ---------------------------------------------------------------- */
/* The wrapping key (API 9.0): read and rotation interval            */
/* ---------------------------------------------------------------- */

/* keyInfo and keySpec exist from API 9.0.0.0: these calls are sent at that
 * version (vCenter sends and reads a member only at a version that has
 * it), the rest of the session at the one it negotiated. */
#define WRAP_VERSION	"9.0.0.0"
#define WRAP_ACTION	"urn:vim25/" WRAP_VERSION

static int
no_wrapping(struct vconn *c, const char *op)
{
	if (no_crypto_manager(c, op))
		return 1;
	if (vim_version_cmp(vsession_server_api(c->s), WRAP_VERSION) >= 0)
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: wrapping keys need vSphere API %s; this "
	    "vCenter speaks %s", op, WRAP_VERSION, vsession_server_api(c->s));
	return 1;
}

/* ListKmipServers at 9.0.0.0: the answer, valid until vconn_reset. */
static int
list_at_9(struct vconn *c, struct vim__ListKmipServersResponse *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	VCALL(c, 0, "ListKmipServers", rc,
	    soap_call_vim__ListKmipServers(c->soap, c->s->url, WRAP_ACTION,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), NULL, r));
	return rc;
}

/* The provider named cluster in that answer, or NULL. */
static struct vim__KmipClusterInfo *
find_ci(const struct vim__ListKmipServersResponse *r, const char *cluster)
{
	for (int i = 0; i < r->__sizereturnval; i++)
		if (r->returnval[i].clusterId.id != NULL &&
		    strcmp(r->returnval[i].clusterId.id, cluster) == 0)
			return &r->returnval[i];
	return NULL;
}

int
vim_kms_wrapping(struct vconn *c, const char *cluster, struct kms_wrapping *w, int *found)
{
	struct vim__ListKmipServersResponse r;
	struct vim__KmipClusterInfo *ci;
	int rc;

	memset(w, 0, sizeof(*w));
	*found = 0;
	if (no_wrapping(c, "ListKmipServers"))
		return V_ERR_REFUSED;
	if ((rc = list_at_9(c, &r)) == 0 && (ci = find_ci(&r, cluster)) != NULL) {
		*found = 1;
		kms_wrapping_parse(ci->keyInfo, ci->defaultKeyType, w);
	}
	vconn_reset(c);
	return rc;
}

int
vim_kms_wrappings(struct vconn *c, struct kms_cluster *cl, size_t n)
{
	struct vim__ListKmipServersResponse r;
	int rc;

	for (size_t i = 0; i < n; i++)
		memset(&cl[i].wrap, 0, sizeof(cl[i].wrap));
	if (no_wrapping(c, "ListKmipServers"))
		return V_ERR_REFUSED;
	if ((rc = list_at_9(c, &r)) == 0)
		for (size_t i = 0; i < n; i++) {
			const struct vim__KmipClusterInfo *ci = find_ci(&r, cl[i].id);
			if (ci != NULL)
				kms_wrapping_parse(ci->keyInfo, ci->defaultKeyType, &cl[i].wrap);
		}
	vconn_reset(c);
	return rc;
}

int
vim_kms_set_rotation(struct vconn *c, const char *cluster, int days)
{
	struct vim__KmipServerSpecWrappingRotationIntervalKeySpec ks = { &days };
	struct vim__KmipServerSpecKeySpecRef ref = {
		SOAP_TYPE_vim__KmipServerSpecWrappingRotationIntervalKeySpec, &ks };
	struct vim__UpdateKmipServerResponse r = { 0 };
	struct vim__ListKmipServersResponse list;
	struct vim__KmipServerSpec spec;
	struct vim__KmipClusterInfo *ci;
	int rc;

	if (no_wrapping(c, "UpdateKmipServer"))
		return V_ERR_REFUSED;
	if ((rc = list_at_9(c, &list)) != 0)
		goto out;
	ci = find_ci(&list, cluster);
	if (ci == NULL || ci->__sizeservers < 1) {
		snprintf(c->err, sizeof(c->err), "UpdateKmipServer: key provider '%s' %s", cluster,
		    ci == NULL ? "is not in vCenter" : "has no server");
		rc = V_ERR_REFUSED;
		goto out;
	}
	/* The spec names one server and carries all of it, as vCenter sent
	 * it (an update replaces the server's info); no password: kept. */
	memset(&spec, 0, sizeof(spec));
	spec.clusterId = ci->clusterId;
	spec.info = ci->servers[0];
	spec.__keySpec = &ref;
	VCALL(c, 0, "UpdateKmipServer", rc,
	    soap_call_vim__UpdateKmipServer(c->soap, c->s->url, WRAP_ACTION,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), &spec, &r));
out:
	vconn_reset(c);
	return rc;
}
