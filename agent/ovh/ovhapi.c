/*
 * OVHcloud API v1 client (see ovhapi.h).  gSOAP does the HTTP and TLS:
 * soap_GET / soap_POST with the X-Ovh-* headers in http_extra_header; its
 * header parser is wrapped so that a 4xx answer's body (OVH's error JSON)
 * is read rather than dropped, and a hook keeps X-Ovh-QueryID.
 */
#include "ovhapi.h"

#include "config.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "soapH.h"

#define MAX_BODY	(4U << 20)	/* an answer larger than this is refused */
#define GET_ATTEMPTS	3
#define LIST_MAX_PAGES	1000		/* a list longer than this is refused */
#define LIST_MAX_ITEMS	100000

struct ovh_client {
	struct soap	*soap;
	char		 base[256];
	struct ovh_creds cr;
	struct tls_trust trust;
	long long	 delta;		/* OVH's clock minus ours */
	char		 qid[128];	/* X-Ovh-QueryID of the last answer */
	char		 headers[1600];
	char		 cursor[512];	/* X-Pagination-Cursor to send ("": none) */
	char		 next[512];	/* the last answer's X-Pagination-Cursor-Next */
	int		 next_bad;	/* ... too long or not printable */
	unsigned	 nreq;
	char		 eclass[128];	/* the last refusal's class (or errorCode) */
	char		 eactions[256];	/* and its details.unauthorizedActionsByIAM */
};

static int (*http_parse_orig)(struct soap *);
static int (*http_parsehdr_orig)(struct soap *, const char *, const char *);

/* gSOAP turns a 3xx/4xx status into an error before the body is read (and
 * keeps the body only where a SOAP fault detail is a string, which ours is
 * not).  The status stays in soap->status; the body is read as any other. */
static int
parse_keep_status(struct soap *soap)
{
	int rc = http_parse_orig(soap);
	if (rc >= 300 && rc < 600 && rc == soap->status)
		return soap->error = SOAP_OK;
	return rc;
}

static int
parse_header(struct soap *soap, const char *key, const char *val)
{
	struct ovh_client *c = soap->user;
	if (c != NULL && strcasecmp(key, "X-Ovh-QueryID") == 0)
		snprintf(c->qid, sizeof(c->qid), "%s", val);
	if (c != NULL && strcasecmp(key, "X-Pagination-Cursor-Next") == 0) {
		/* Sent back in a header of ours: printable, no space, bounded. */
		c->next_bad = strlen(val) >= sizeof(c->next);
		for (const char *p = val; !c->next_bad && *p; p++)
			c->next_bad = *p <= ' ' || *p > '~';
		snprintf(c->next, sizeof(c->next), "%s", c->next_bad ? "" : val);
	}
	return http_parsehdr_orig(soap, key, val);
}

struct ovh_client *
ovh_client_new(const char *base, const struct ovh_creds *cr, const char *ca_file,
    int timeout, char *err, size_t errlen)
{
	struct ovh_client *c = xcalloc(1, sizeof(*c));

	snprintf(c->base, sizeof(c->base), "%s", base);
	c->cr = *cr;
	c->trust.mode = ca_file ? TLS_CA_FILE : TLS_SYSTEM_CA;
	c->trust.ca_file = ca_file ? xstrdup(ca_file) : NULL;
	c->trust.hint = ca_file ? "is --ca-file the CA that issued the API's certificate?" :
	    "the system CA store (or SSL_CERT_FILE / SSL_CERT_DIR) does not trust it; "
	    "give its CA with --ca-file";
	c->soap = soap_new1(SOAP_IO_KEEPALIVE | SOAP_C_UTFSTRING);
	if (c->soap == NULL)
		fatalx("out of memory");
	if (http_parse_orig == NULL) {
		http_parse_orig = c->soap->fparse;
		http_parsehdr_orig = c->soap->fparsehdr;
	}
	c->soap->fparse = parse_keep_status;
	c->soap->fparsehdr = parse_header;
	c->soap->user = c;
	c->soap->connect_timeout = timeout;
	c->soap->send_timeout = timeout;
	c->soap->recv_timeout = timeout;
	c->soap->recv_maxlength = MAX_BODY;
	if (tls_setup_soap(c->soap, &c->trust, err, errlen) != 0) {
		ovh_client_free(c);
		return NULL;
	}
	return c;
}

void
ovh_client_free(struct ovh_client *c)
{
	if (c == NULL)
		return;
	if (c->soap != NULL) {
		soap_closesock(c->soap);
		soap_destroy(c->soap);
		soap_end(c->soap);
		soap_free(c->soap);
	}
	free(c->trust.ca_file);
	explicit_bzero(&c->cr, sizeof(c->cr));
	free(c);
}

unsigned
ovh_client_requests(const struct ovh_client *c)
{
	return c->nreq;
}

const char *
ovh_client_error_class(const struct ovh_client *c)
{
	return c->eclass;
}

const char *
ovh_client_error_actions(const struct ovh_client *c)
{
	return c->eactions;
}

/* The refusal's class (or errorCode) and the IAM actions it names,
 * printable and bounded. */
static void
keep_refusal(struct ovh_client *c, const char *body, size_t len)
{
	json_object *o = NULL, *d, *a;

	c->eclass[0] = c->eactions[0] = '\0';
	if (body == NULL || ovh_json_parse(body, len, MAX_BODY, &o) != 0)
		return;
	ovh_error_code(body, len, c->eclass, sizeof(c->eclass));
	if (c->eclass[0] == '\0' && json_object_object_get_ex(o, "class", &a) &&
	    json_object_is_type(a, json_type_string))
		snprintf(c->eclass, sizeof(c->eclass), "%.120s", json_object_get_string(a));
	if (json_object_object_get_ex(o, "details", &d) &&
	    json_object_object_get_ex(d, "unauthorizedActionsByIAM", &a) &&
	    json_object_is_type(a, json_type_array)) {
		size_t n = 0;
		for (size_t i = 0; i < json_object_array_length(a) && i < 8; i++) {
			const char *v = json_object_get_string(json_object_array_get_idx(a, i));
			int w = snprintf(c->eactions + n, sizeof(c->eactions) - n, "%s%.80s",
			    n ? ", " : "", v ? v : "?");
			if (w < 0 || (size_t)w >= sizeof(c->eactions) - n)
				break;
			n += (size_t)w;
		}
	}
	for (char *p = c->eclass; *p; p++)
		if (*p < ' ' || *p > '~')
			*p = '?';
	for (char *p = c->eactions; *p; p++)
		if (*p < ' ' || *p > '~')
			*p = '?';
	json_object_put(o);
}

/* One HTTP exchange.  0 with *status and a malloc'd body, or -1 with err
 * (transport: nothing usable came back). */
static int
exchange(struct ovh_client *c, const char *method, const char *url, const char *body,
    int sign, int *status, char **rbody, size_t *rlen, char *err, size_t errlen)
{
	struct soap *soap = c->soap;
	char sig[44], ts[24];
	size_t blen = body ? strlen(body) : 0;
	int rc;

	*rbody = NULL;
	*rlen = 0;
	c->qid[0] = c->next[0] = '\0';
	c->next_bad = 0;
	if (sign) {
		long long now = (long long)time(NULL) + c->delta;
		snprintf(ts, sizeof(ts), "%lld", now);
		ovh_sign(c->cr.application_secret, c->cr.consumer_key, method, url, body, now,
		    sig);
		snprintf(c->headers, sizeof(c->headers), "Accept: application/json\r\n"
		    "X-Ovh-Application: %s\r\nX-Ovh-Consumer: %s\r\nX-Ovh-Timestamp: %s\r\n"
		    "X-Ovh-Signature: %s%s%s", c->cr.application_key, c->cr.consumer_key, ts, sig,
		    c->cursor[0] ? "\r\nX-Pagination-Cursor: " : "", c->cursor);
	} else {
		snprintf(c->headers, sizeof(c->headers), "Accept: application/json%s%s",
		    c->cr.application_key[0] ? "\r\nX-Ovh-Application: " : "",
		    c->cr.application_key);
	}
	soap->http_extra_header = c->headers;
	c->nreq++;
	tls_clear_verify_error();
	if (body != NULL) {
		/* Stored, so Content-Length is sent; the bytes are the ones hashed. */
		soap_set_omode(soap, SOAP_IO_STORE);
		rc = soap_POST(soap, url, NULL, "application/json");
		if (rc == SOAP_OK)
			rc = soap_send_raw(soap, body, blen) || soap_end_send(soap);
		soap_clr_omode(soap, SOAP_IO_STORE);
	} else if (strcmp(method, "DELETE") == 0) {
		/* The answer is read below, as a GET's (soap_DELETE expects none). */
		rc = soap_connect_command(soap, SOAP_DEL, url, NULL);
		if (rc == SOAP_OK)
			rc = soap_end_send_flush(soap);
	} else {
		rc = soap_GET(soap, url, NULL);
	}
	soap->http_extra_header = NULL;
	explicit_bzero(c->headers, sizeof(c->headers));
	if (rc == SOAP_OK)
		rc = soap_begin_recv(soap);
	if (rc != SOAP_OK && !(rc == soap->status && rc >= 200 && rc < 600)) {
		const char *v = tls_last_verify_error();
		if (v[0] != '\0')
			snprintf(err, errlen, "%s", v);
		else if (soap->errnum != 0)
			snprintf(err, errlen, "%s", strerror(soap->errnum));
		else if (rc == SOAP_EOF)
			snprintf(err, errlen, "the connection was closed without an answer");
		else if (rc == SOAP_SSL_ERROR)
			snprintf(err, errlen, "TLS handshake failed");
		else if (soap->recv_maxlength && soap->count > soap->recv_maxlength)
			snprintf(err, errlen, "answer larger than %u bytes", MAX_BODY);
		else
			snprintf(err, errlen, "no HTTP answer (gSOAP error %d)", rc);
		soap_closesock(soap);
		soap_destroy(soap);
		soap_end(soap);
		return -1;
	}
	*status = soap->status;
	if (rc == SOAP_OK) {
		size_t n = 0;
		const char *b = soap_http_get_body(soap, &n);
		if (b == NULL && soap->error != SOAP_OK) {
			snprintf(err, errlen, "%s", soap->recv_maxlength && soap->count >
			    soap->recv_maxlength ? "answer larger than 4 MB: refused" :
			    "the answer's body was cut off");
			soap_closesock(soap);
			soap_destroy(soap);
			soap_end(soap);
			return -1;
		}
		*rbody = xmalloc(n + 1);
		if (n)
			memcpy(*rbody, b, n);
		(*rbody)[n] = '\0';
		*rlen = n;
		soap_end_recv(soap);
	}
	soap_closesock(soap);
	soap_destroy(soap);
	soap_end(soap);
	return 0;
}

static int
classify(int status, const char *body, size_t len)
{
	char code[64];

	ovh_error_code(body, len, code, sizeof(code));
	if (status == 401 || strcmp(code, "INVALID_KEY") == 0 ||
	    strcmp(code, "INVALID_CREDENTIAL") == 0 || strcmp(code, "NOT_CREDENTIAL") == 0 ||
	    strcmp(code, "INVALID_SIGNATURE") == 0 || strcmp(code, "QUERY_TIME_OUT") == 0)
		return OVH_E_AUTH;
	if (status == 403)
		return OVH_E_DENIED;
	if (status == 404)
		return OVH_E_NOTFOUND;
	return OVH_E_API;
}

int
ovh_call(struct ovh_client *c, const char *method, const char *path, json_object *jbody,
    int sign, json_object **out, char *err, size_t errlen)
{
	char url[1024], why[512], line[768];
	const char *body = NULL;
	char *rbody = NULL;
	size_t rlen = 0;
	int status = 0, attempts = strcmp(method, "GET") == 0 ? GET_ATTEMPTS : 1;

	*out = NULL;
	c->eclass[0] = c->eactions[0] = '\0';
	/* /v1/ and /v2/ paths go to the host root: the base's /1.0 is dropped,
	 * as python-ovh and go-ovh do (api-facts H.1). */
	int root = strncmp(path, "/v1/", 4) == 0 || strncmp(path, "/v2/", 4) == 0;
	size_t blen = strlen(c->base);
	if (root && blen >= 4 && strcmp(c->base + blen - 4, "/1.0") == 0)
		blen -= 4;
	if (snprintf(url, sizeof(url), "%.*s%s", (int)blen, c->base, path) >=
	    (int)sizeof(url)) {
		snprintf(err, errlen, "%s %s: path too long", method, path);
		return OVH_E_API;
	}
	if (jbody != NULL)	/* compact, as python-ovh sends it */
		body = json_object_to_json_string_ext(jbody, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
	for (int i = 1; i <= attempts; i++) {
		free(rbody);
		rbody = NULL;
		if (exchange(c, method, url, body, sign, &status, &rbody, &rlen, why,
		    sizeof(why)) != 0) {
			if (i < attempts && strstr(why, "not trusted") == NULL) {
				log_warnx("%s %s: %s; retrying (%d of %d)", method, path, why, i + 1,
				    attempts);
				sleep((unsigned)i);
				continue;
			}
			snprintf(err, errlen, "%s %s%s: %s", method, c->base, path, why);
			return OVH_E_TRANSPORT;
		}
		if (status >= 500 && i < attempts) {
			log_warnx("%s %s: HTTP %d; retrying (%d of %d)", method, path, status,
			    i + 1, attempts);
			sleep((unsigned)i);
			continue;
		}
		break;
	}
	if (status < 200 || status > 299) {
		int cls = classify(status, rbody, rlen);
		ovh_error_line(status, rbody, rlen, c->qid, line, sizeof(line));
		keep_refusal(c, rbody, rlen);
		snprintf(err, errlen, "%s %s: %s%s%s%s", method, path, line,
		    c->eactions[0] ? " (not granted by IAM: " : "", c->eactions,
		    c->eactions[0] ? ")" : "");
		free(rbody);
		return cls;
	}
	if (rlen > 0) {
		json_object *o = NULL;
		if (ovh_json_parse(rbody, rlen, MAX_BODY, &o) != 0) {
			snprintf(err, errlen, "%s %s: HTTP %d but the answer is not JSON%s%s%s",
			    method, path, status, c->qid[0] ? " (X-Ovh-QueryID " : "",
			    c->qid, c->qid[0] ? ")" : "");
			free(rbody);
			return OVH_E_PROTO;
		}
		*out = o;
	}
	free(rbody);
	return 0;
}

/* One page of a list, its items appended to all.  0 or OVH_E_*. */
static int
list_page(struct ovh_client *c, const char *path, unsigned n, json_object *all, char *err,
    size_t errlen)
{
	json_object *page = NULL;
	char why[768];
	int rc;

	if ((rc = ovh_call(c, "GET", path, NULL, 1, &page, why, sizeof(why))) == 0 &&
	    (page == NULL || !json_object_is_type(page, json_type_array))) {
		snprintf(why, sizeof(why), "GET %s: not a list", path);
		rc = OVH_E_PROTO;
	}
	if (rc == 0 && c->next_bad) {
		snprintf(why, sizeof(why), "GET %s: X-Pagination-Cursor-Next is not a cursor "
		    "(too long or not printable)", path);
		rc = OVH_E_PROTO;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s%s", why, n > 1 ? " (a later page: its cursor came "
		    "with the page before)" : "");
		json_object_put(page);
		return rc;
	}
	for (size_t i = 0; i < json_object_array_length(page); i++)
		json_object_array_add(all, json_object_get(json_object_array_get_idx(page, i)));
	json_object_put(page);
	return 0;
}

int
ovh_list(struct ovh_client *c, const char *path, json_object **out, char *err,
    size_t errlen)
{
	json_object *all = json_object_new_array();
	unsigned n = 0;
	int rc = 0;

	*out = NULL;
	c->cursor[0] = '\0';
	while ((rc = list_page(c, path, ++n, all, err, errlen)) == 0 && c->next[0] != '\0') {
		if (strcmp(c->next, c->cursor) == 0 || n >= LIST_MAX_PAGES ||
		    json_object_array_length(all) > LIST_MAX_ITEMS) {
			snprintf(err, errlen, "GET %s: the list does not end (%u pages, %zu items, "
			    "the same cursor again or too many)", path, n,
			    json_object_array_length(all));
			rc = OVH_E_PROTO;
			break;
		}
		snprintf(c->cursor, sizeof(c->cursor), "%s", c->next);
	}
	c->cursor[0] = '\0';
	if (rc != 0) {
		json_object_put(all);
		return rc;
	}
	*out = all;
	return 0;
}

int
ovh_sync_time(struct ovh_client *c, char *err, size_t errlen)
{
	json_object *o = NULL;
	int rc = ovh_call(c, "GET", "/auth/time", NULL, 0, &o, err, errlen);

	if (rc != 0)
		return rc;
	if (o == NULL || !json_object_is_type(o, json_type_int)) {
		snprintf(err, errlen, "GET %s/auth/time: not a number: is this the OVHcloud "
		    "API?", c->base);
		json_object_put(o);
		return OVH_E_PROTO;
	}
	c->delta = (long long)json_object_get_int64(o) - (long long)time(NULL);
	json_object_put(o);
	if (c->delta > 30 || c->delta < -30)
		log_info("OVHcloud's clock is %lld s %s ours; requests are stamped with its "
		    "time", c->delta > 0 ? c->delta : -c->delta, c->delta > 0 ? "ahead of" :
		    "behind");
	return 0;
}
