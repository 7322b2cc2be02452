/*
 * OVHcloud API v1 client: signed requests over gSOAP's HTTP client and
 * OpenSSL (the stack every other outbound call uses), JSON through json-c.
 * Only idempotent GETs are retried; a POST is sent once.
 */
#ifndef VMCRYPT_OVHAPI_H
#define VMCRYPT_OVHAPI_H

#include <json-c/json.h>

#include "ovh.h"

/* Failure classes; each maps to one exit code of `ovh`. */
#define OVH_E_TRANSPORT	-1	/* unreachable, TLS refused, timeout */
#define OVH_E_PROTO	-2	/* a 2xx whose body is not the JSON expected */
#define OVH_E_AUTH	-3	/* credentials refused (key, credential, signature, time) */
#define OVH_E_DENIED	-4	/* 403: this consumer key may not make the call */
#define OVH_E_NOTFOUND	-5	/* 404 */
#define OVH_E_API	-6	/* any other refusal */

struct ovh_client;

/*
 * A client for base_url ("https://eu.api.ovh.com/1.0") with creds (copied).
 * ca_file NULL: the system store (honouring SSL_CERT_FILE / SSL_CERT_DIR).
 * Returns NULL with err on a TLS setup failure.
 */
struct ovh_client *ovh_client_new(const char *base_url, const struct ovh_creds *creds,
	    const char *ca_file, int timeout, char *err, size_t errlen);
void	ovh_client_free(struct ovh_client *);

/* GET /auth/time: the offset between OVH's clock and ours, used for every
 * signed call after.  0 or OVH_E_*. */
int	ovh_sync_time(struct ovh_client *, char *err, size_t errlen);

/*
 * method path [body]: signed (unless sign is 0: /auth/credential) and
 * sent; a 2xx answer is parsed into *out (NULL for an empty body).
 * Returns 0 or OVH_E_* with one line in err that names the call, the
 * status, OVH's errorCode/class and message, and the X-Ovh-QueryID.
 */
int	ovh_call(struct ovh_client *, const char *method, const char *path,
	    json_object *body, int sign, json_object **out, char *err, size_t errlen);

/*
 * GET path of an API v2 list, paged by cursor (okms-facts §2): each
 * answer's X-Pagination-Cursor-Next sent back as X-Pagination-Cursor until
 * an answer has none; every page's items in *out, one array (the caller
 * puts it).  The server's page size is taken (X-Pagination-Size is not
 * sent: its maximum is not documented).  Bounded: 1,000 pages, 100,000
 * items, a cursor given twice in a row refused.  0 or OVH_E_* (err names
 * the page, and a refused cursor's class, e.g.
 * CredentialPaginationCursorInvalidValue).
 */
int	ovh_list(struct ovh_client *, const char *path, json_object **out, char *err,
	    size_t errlen);

/* The last refusal's class ("Client::Forbidden", or v1's errorCode) and
 * the IAM actions it said were not granted ("" if none); valid until the
 * next call. */
const char *ovh_client_error_class(const struct ovh_client *);
const char *ovh_client_error_actions(const struct ovh_client *);

/* Requests sent so far (retries included), for tests and --verbose. */
unsigned ovh_client_requests(const struct ovh_client *);

#endif
