/*
 * OVHcloud KMS (OKMS), API v2 (okms-facts.md): the resource (its KMIP
 * endpoint and public CA), the caller's identities, and the access
 * credentials that sign vCenter's CSR.  Calls go through ovhapi.c, signed
 * as v1.  Each returns 0 or OVH_E_* with one line in err.
 */
#ifndef VMCRYPT_OKMS_H
#define VMCRYPT_OKMS_H

#include <stddef.h>

#include <json-c/json.h>

struct ovh_client;

#define OKMS_MAX_VALIDITY	365	/* days: okms.credential.Creation, §4 */
#define OKMS_NAME_MAX		50
#define OKMS_E_NO_CSR		-20	/* a credential without a CSR: refused here */

struct okms_resource {
	char	 id[40], region[64];
	char	 host[256];		/* kmipEndpoint's host name */
	int	 port;			/* and port */
	char	*public_ca;		/* PEM, malloc'd */
};

/* 1 if id is a UUID (an OKMS or credential id), so safe in a path. */
int	okms_id_ok(const char *id);

/* GET /v2/okms/resource/{id}?publicCA=true into r (clear it after). */
int	okms_resource_get(struct ovh_client *, const char *id, struct okms_resource *r,
	    char *err, size_t errlen);
void	okms_resource_clear(struct okms_resource *);

/* GET /1.0/auth/details: *out the identities (an array of URN strings). */
int	okms_identities(struct ovh_client *, json_object **out, char *err, size_t errlen);

/*
 * The body of a credential request (pure): name ([ -~], 1..50), an
 * optional description, identity URNs (1..25), the CSR (PEM) and the
 * validity in days (1..365).  NULL with err if one is not acceptable; a
 * missing CSR is refused: only certificates made from a CSR are in
 * OVHcloud's PCI DSS scope (okms-facts §6).
 */
json_object *okms_credential_body(const char *name, const char *description,
	    json_object *urns, const char *csr, int validity, char *err, size_t errlen);

/* Every credential of the OKMS, every page (ovh_list); *out an array of
 * objects. */
int	okms_credential_list(struct ovh_client *, const char *okms_id, json_object **out,
	    char *err, size_t errlen);
/* The one named name among list (the newest if several), or NULL. */
json_object *okms_credential_named(json_object *list, const char *name);
/* GET one credential (with its certificatePEM once READY). */
int	okms_credential_get(struct ovh_client *, const char *okms_id, const char *cred_id,
	    json_object **out, char *err, size_t errlen);
/* DELETE one credential ("Revoke and delete an access credential"). */
int	okms_credential_delete(struct ovh_client *, const char *okms_id, const char *cred_id,
	    char *err, size_t errlen);
/* POST body (from okms_credential_body; one without a "csr" is refused,
 * OKMS_E_NO_CSR, and not sent). */
int	okms_credential_create(struct ovh_client *, const char *okms_id, json_object *body,
	    json_object **out, char *err, size_t errlen);

/* The credential name naming this vCenter, from its URL: "vmcrypt-agent
 * HOST" (printable ASCII, at most 50 characters). */
void	okms_credential_name(const char *vc_url, char *out, size_t len);

#endif
