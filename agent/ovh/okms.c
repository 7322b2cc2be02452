/*
 * OKMS, API v2 (okms.h).  The shapes are okms-facts.md §4; every answer
 * is checked before it is used.
 */
#include "okms.h"

#include "ovhapi.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
okms_id_ok(const char *id)
{
	static const int dash[] = { 8, 13, 18, 23 };

	if (id == NULL || strlen(id) != 36)
		return 0;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (id[i] != '-')
				return 0;
			d++;
		} else if (!isxdigit((unsigned char)id[i])) {
			return 0;
		}
	}
	return 1;
}

static const char *
jstr(json_object *o, const char *k)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

void
okms_resource_clear(struct okms_resource *r)
{
	free(r->public_ca);
	memset(r, 0, sizeof(*r));
}

/* "host:port" into r; -1 if it is not that. */
static int
split_endpoint(const char *ep, struct okms_resource *r)
{
	const char *colon = strrchr(ep, ':');
	char *end;

	if (colon == NULL || colon == ep || (size_t)(colon - ep) >= sizeof(r->host))
		return -1;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(colon - ep), ep);
	if (strspn(r->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
	    != strlen(r->host))
		return -1;
	r->port = (int)port;
	return 0;
}

int
okms_resource_get(struct ovh_client *c, const char *id, struct okms_resource *r,
    char *err, size_t errlen)
{
	char path[128];
	json_object *o = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "/v2/okms/resource/%s?publicCA=true", id);
	if ((rc = ovh_call(c, "GET", path, NULL, 1, &o, err, errlen)) != 0)
		return rc;
	const char *ep = jstr(o, "kmipEndpoint"), *ca = jstr(o, "publicCA");
	const char *region = jstr(o, "region");
	if (ep == NULL || split_endpoint(ep, r) != 0) {
		snprintf(err, errlen, "GET %s: no kmipEndpoint \"host:port\" in the answer "
		    "(%.100s)", path, ep ? ep : "none");
		json_object_put(o);
		return OVH_E_PROTO;
	}
	if (ca == NULL || strstr(ca, "-----BEGIN CERTIFICATE-----") == NULL) {
		snprintf(err, errlen, "GET %s: no publicCA certificate in the answer", path);
		json_object_put(o);
		return OVH_E_PROTO;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->region, sizeof(r->region), "%.63s", region ? region : "?");
	r->public_ca = xstrdup(ca);
	json_object_put(o);
	return 0;
}

int
okms_identities(struct ovh_client *c, json_object **out, char *err, size_t errlen)
{
	json_object *o = NULL, *ids;
	int rc;

	*out = NULL;
	if ((rc = ovh_call(c, "GET", "/auth/details", NULL, 1, &o, err, errlen)) != 0)
		return rc;
	if (!json_object_object_get_ex(o, "identities", &ids) ||
	    !json_object_is_type(ids, json_type_array)) {
		snprintf(err, errlen, "GET /auth/details: no identities in the answer");
		json_object_put(o);
		return OVH_E_PROTO;
	}
	json_object *urns = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		json_object *v = json_object_array_get_idx(ids, i);
		if (json_object_is_type(v, json_type_string) &&
		    strncmp(json_object_get_string(v), "urn:", 4) == 0)
			json_object_array_add(urns, json_object_get(v));
	}
	json_object_put(o);
	*out = urns;
	return 0;
}

static int
printable(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			return 0;
	return 1;
}

json_object *
okms_credential_body(const char *name, const char *desc, json_object *urns,
    const char *csr, int validity, char *err, size_t errlen)
{
	size_t n = urns && json_object_is_type(urns, json_type_array) ?
	    json_object_array_length(urns) : 0;

	if (csr == NULL || strstr(csr, "-----BEGIN CERTIFICATE REQUEST-----") == NULL) {
		snprintf(err, errlen, "refused: a credential without a certificate signing "
		    "request would have OVHcloud generate the private key, and only "
		    "certificates made from a CSR are covered by OVHcloud's PCI DSS "
		    "certification; vCenter makes the CSR and keeps its key");
		return NULL;
	}
	if (name == NULL || name[0] == '\0' || strlen(name) > OKMS_NAME_MAX ||
	    !printable(name) || (desc != NULL && (strlen(desc) > 200 || !printable(desc)))) {
		snprintf(err, errlen, "the credential's name must be 1 to %d printable ASCII "
		    "characters, its description at most 200", OKMS_NAME_MAX);
		return NULL;
	}
	if (n == 0 || n > 25) {
		snprintf(err, errlen, "a credential carries 1 to 25 identity URNs, not %zu", n);
		return NULL;
	}
	if (validity < 1 || validity > OKMS_MAX_VALIDITY) {
		snprintf(err, errlen, "validity %d days: OVHcloud takes 1 to %d", validity,
		    OKMS_MAX_VALIDITY);
		return NULL;
	}
	json_object *b = json_object_new_object();
	json_object_object_add(b, "name", json_object_new_string(name));
	if (desc != NULL)
		json_object_object_add(b, "description", json_object_new_string(desc));
	json_object_object_add(b, "identityURNs", json_object_get(urns));
	json_object_object_add(b, "csr", json_object_new_string(csr));
	json_object_object_add(b, "validity", json_object_new_int(validity));
	return b;
}

int
okms_credential_list(struct ovh_client *c, const char *okms_id, json_object **out,
    char *err, size_t errlen)
{
	char path[128];

	snprintf(path, sizeof(path), "/v2/okms/resource/%s/credential", okms_id);
	return ovh_list(c, path, out, err, errlen);
}

json_object *
okms_credential_named(json_object *list, const char *name)
{
	json_object *best = NULL;

	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *n = jstr(e, "name"), *at = jstr(e, "createdAt");
		const char *bat = jstr(best, "createdAt");
		if (n == NULL || jstr(e, "id") == NULL || strcmp(n, name) != 0)
			continue;
		if (best == NULL || (at && bat && strcmp(at, bat) > 0))
			best = e;
	}
	return best;
}

int
okms_credential_get(struct ovh_client *c, const char *okms_id, const char *cred_id,
    json_object **out, char *err, size_t errlen)
{
	char path[160];
	int rc;

	if (!okms_id_ok(cred_id)) {
		snprintf(err, errlen, "credential id '%.40s' is not a UUID", cred_id);
		return OVH_E_PROTO;
	}
	snprintf(path, sizeof(path), "/v2/okms/resource/%s/credential/%s", okms_id, cred_id);
	if ((rc = ovh_call(c, "GET", path, NULL, 1, out, err, errlen)) != 0)
		return rc;
	if (jstr(*out, "status") == NULL) {
		snprintf(err, errlen, "GET %s: not a credential with a status", path);
		json_object_put(*out);
		*out = NULL;
		return OVH_E_PROTO;
	}
	return 0;
}

int
okms_credential_create(struct ovh_client *c, const char *okms_id, json_object *body,
    json_object **out, char *err, size_t errlen)
{
	char path[128];
	int rc;

	*out = NULL;
	if (jstr(body, "csr") == NULL) {
		okms_credential_body(NULL, NULL, NULL, NULL, 0, err, errlen);
		return OKMS_E_NO_CSR;
	}
	snprintf(path, sizeof(path), "/v2/okms/resource/%s/credential", okms_id);
	if ((rc = ovh_call(c, "POST", path, body, 1, out, err, errlen)) != 0)
		return rc;
	const char *id = jstr(*out, "id");
	if (id == NULL || !okms_id_ok(id)) {
		snprintf(err, errlen, "POST %s: the answer has no credential id", path);
		json_object_put(*out);
		*out = NULL;
		return OVH_E_PROTO;
	}
	return 0;
}

void
okms_credential_name(const char *vc_url, char *out, size_t len)
{
	const char *h = strstr(vc_url, "://");
	char host[64];
	size_t n = 0;

	h = h ? h + 3 : vc_url;
	for (; *h && *h != '/' && n + 1 < sizeof(host); h++)
		host[n++] = *h >= ' ' && *h <= '~' ? *h : '_';
	host[n] = '\0';
	snprintf(out, len, "vmcrypt-agent %.36s", host);
	if (strlen(out) > OKMS_NAME_MAX)
		out[OKMS_NAME_MAX] = '\0';
}

int
okms_credential_delete(struct ovh_client *c, const char *okms_id, const char *cred_id,
    char *err, size_t errlen)
{
	json_object *out = NULL;
	char path[160];

	if (!okms_id_ok(cred_id)) {
		snprintf(err, errlen, "credential id '%.40s' is not a UUID", cred_id);
		return OVH_E_PROTO;
	}
	snprintf(path, sizeof(path), "/v2/okms/resource/%s/credential/%s", okms_id, cred_id);
	int rc = ovh_call(c, "DELETE", path, NULL, 1, &out, err, errlen);
	json_object_put(out);
	return rc;
}
