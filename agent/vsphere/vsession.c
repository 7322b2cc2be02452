/*
 * The session: one login (cookie, negotiated API version, service content)
 * shared by per-thread connections, and each call's wrapping: the cookie
 * and SPBM header going out, faults and re-login coming back, the limits
 * every answer is read under, and the SOAP trace hooks.
 */
#include "vsoap_int.h"

#include "config.h"
#include "log.h"
#include "tls.h"
#include "trace.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vim.nsmap"

/* Newest API this client was written against; never send a newer one. */
#define VIM_MAX_VERSION	"8.0.3.0"
#define VIM_MIN_VERSION	"6.5"
/*
 * Caps on one response.  The largest legitimate answer is a scan page of
 * 500 VMs with their devices (a few MB); anything past VIM_RECV_MAX, Content-
 * Length or chunked, is cut off and refused before it can exhaust memory.
 * No single string vim25 sends us comes near VIM_STRING_MAX.
 */
#define VIM_RECV_MAX	(32UL * 1024 * 1024)
#define VIM_STRING_MAX	(1UL * 1024 * 1024)

static int (*http_parse_header)(struct soap *, const char *, const char *);
static int (*wire_send)(struct soap *, const char *, size_t);
static size_t (*wire_recv)(struct soap *, char *, size_t);

/* ---------------------------------------------------------------- */
/* helpers                                                           */
/* ---------------------------------------------------------------- */

void
vmoref_set(struct vmoref *m, const struct vim__ManagedObjectReference *r)
{
	copystr(m->type, sizeof(m->type), r ? r->type : NULL);
	copystr(m->value, sizeof(m->value), r ? r->__item : NULL);
}

int
vmoref_answer(int rc, const struct vim__ManagedObjectReference *r, struct vmoref *out)
{
	if (rc != 0)
		return rc;
	if (r == NULL)
		return V_ERR_PROTO;
	vmoref_set(out, r);
	return 0;
}

struct vim__ManagedObjectReference *
vmoref_soap(struct soap *soap, const struct vmoref *m)
{
	struct vim__ManagedObjectReference *r = soap_malloc(soap, sizeof(*r));
	if (r == NULL)
		fatalx("out of memory");
	r->type = soap_strdup(soap, m->type);
	r->__item = soap_strdup(soap, m->value);
	return r;
}

int
vim_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = strtol(a, (char **)&a, 10);
		long y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if (!*a && !*b)
			break;
		if ((*a && *a < '0') || (*a > '9') || (*b && *b < '0') || (*b > '9'))
			break;
	}
	return 0;
}

/* Keeps vmware_soap_session out of gSOAP's cookie jar (which scopes it to
 * /sdk, so it would never reach SPBM) and in the session instead.  SPBM
 * sets a vmware_soap_session of its own (recorded from vCenter 6.5 in
 * real-vcenter/pyvmomi-8.0.3/pbm_check_compatibility.yaml): it is not the
 * vim25 session and must not replace it, or the next vim25 call is sent
 * with SPBM's token and fails with NotAuthenticated. */
static int
parse_header(struct soap *soap, const char *key, const char *val)
{
	struct vconn *c = soap->user;
	static const char name[] = "vmware_soap_session=";

	if (c != NULL && strcasecmp(key, "Set-Cookie") == 0 &&
	    strncmp(val, name, sizeof(name) - 1) == 0) {
		if (c->pbm_call)
			return SOAP_OK;
		const char *v = val + sizeof(name) - 1;
		size_t n = strcspn(v, ";");
		pthread_mutex_lock(&c->s->mtx);
		if (n < sizeof(c->s->cookie)) {
			memcpy(c->s->cookie, v, n);
			c->s->cookie[n] = '\0';
		}
		pthread_mutex_unlock(&c->s->mtx);
		return SOAP_OK;
	}
	return http_parse_header(soap, key, val);
}

/* ---------------------------------------------------------------- */
/* SOAP traces: the bytes of each call, written by trace.c           */
/* ---------------------------------------------------------------- */

#define TRACE_MSG_MAX	(16UL * 1024 * 1024)	/* per message; the rest is cut */

static void
tbuf_add(struct tbuf *b, const char *s, size_t n)
{
	if (b->len >= TRACE_MSG_MAX)
		return;
	if (n > TRACE_MSG_MAX - b->len)
		n = TRACE_MSG_MAX - b->len;
	if (b->len + n > b->cap) {
		b->cap = b->len + n > 2 * b->cap ? b->len + n : 2 * b->cap;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static int
traced_send(struct soap *soap, const char *s, size_t n)
{
	struct vconn *c = soap->user;
	if (c != NULL && c->s->trace != NULL)
		tbuf_add(&c->tx, s, n);
	return wire_send(soap, s, n);
}

static size_t
traced_recv(struct soap *soap, char *s, size_t n)
{
	struct vconn *c = soap->user;
	size_t r = wire_recv(soap, s, n);
	if (c != NULL && c->s->trace != NULL && r > 0)
		tbuf_add(&c->rx, s, r);
	return r;
}

/* Writes the exchange that just ended, if any, and starts afresh. */
static void
trace_flush(struct vconn *c)
{
	if (c->s->trace != NULL && c->tx.len > 0)
		trace_exchange(c->s->trace, c->tx.p, c->tx.len, c->rx.p, c->rx.len);
	if (c->tx.p != NULL)
		explicit_bzero(c->tx.p, c->tx.len);
	if (c->rx.p != NULL)
		explicit_bzero(c->rx.p, c->rx.len);
	c->tx.len = c->rx.len = 0;
}

/* ---------------------------------------------------------------- */
/* connections                                                       */
/* ---------------------------------------------------------------- */

struct soap *
vsoap_new(void)
{
	struct soap *soap = soap_new1(SOAP_IO_KEEPALIVE | SOAP_C_UTFSTRING);
	if (soap == NULL)
		fatalx("out of memory");
	soap_set_namespaces(soap, namespaces);
	/* vim25 and SPBM are document/literal: no SOAP-encoded id/href.
	 * SOAP_XML_TREE on input tells gSOAP so; without it every array it
	 * reads walks its whole id hash (soap_update_pointers,
	 * soap_end_block), a fifth of a large scan's CPU (issue #26). */
	soap_set_imode(soap, SOAP_XML_TREE);
	soap->recv_maxlength = VIM_RECV_MAX;
	soap->maxlength = VIM_STRING_MAX;
	soap->maxlevel = 64;
	if (http_parse_header == NULL) {
		http_parse_header = soap->fparsehdr;
		wire_send = soap->fsend;
		wire_recv = soap->frecv;
	}
	soap->fparsehdr = parse_header;
	soap->fsend = traced_send;
	soap->frecv = traced_recv;
	return soap;
}

struct vconn *
vconn_new(struct vsession *s)
{
	struct vconn *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->soap = soap_copy(s->master);
	if (c->soap == NULL)
		fatalx("out of memory");
	c->soap->user = c;
	return c;
}

void
vconn_free(struct vconn *c)
{
	if (c == NULL)
		return;
	trace_flush(c);
	free(c->tx.p);
	free(c->rx.p);
	if (c->soap != NULL) {
		soap_destroy(c->soap);
		soap_end(c->soap);
		soap_free(c->soap);
	}
	free(c);
}

struct vsession *
vconn_session(struct vconn *c)
{
	return c->s;
}

void
vconn_set_timeout(struct vconn *c, int seconds)
{
	c->soap->connect_timeout = seconds < 30 ? seconds : 30;
	c->soap->send_timeout = seconds;
	c->soap->recv_timeout = seconds;
	/* recv_timeout bounds each read; a peer that trickles a byte at a time
	 * is bounded by the whole transfer's time. */
	c->soap->transfer_timeout = 2 * seconds;
}

const char *
vconn_error(const struct vconn *c)
{
	return c->err;
}

const char *
vconn_fault_type(const struct vconn *c)
{
	return c->fault_type;
}

const char *
vconn_fault_privilege(const struct vconn *c)
{
	return c->fault_privilege;
}

void
vconn_reset(struct vconn *c)
{
	soap_destroy(c->soap);
	soap_end(c->soap);
}

void
vconn_prepare(struct vconn *c, int pbm)
{
	struct timespec ts;
	char token[512];

	trace_flush(c);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->started = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	c->pbm_call = pbm;
	c->err[0] = '\0';
	c->fault_type[0] = '\0';
	c->fault_privilege[0] = '\0';
	tls_clear_verify_error();
	pthread_mutex_lock(&c->s->mtx);
	if (c->s->cookie[0] != '\0')
		snprintf(c->hdr, sizeof(c->hdr), "Cookie: vmware_soap_session=%s",
		    c->s->cookie);
	else
		c->hdr[0] = '\0';
	copystr(token, sizeof(token), c->s->cookie);
	pthread_mutex_unlock(&c->s->mtx);
	/* gSOAP clears this after each request: set it every time. */
	c->soap->http_extra_header = c->hdr[0] ? c->hdr : NULL;
	c->soap->header = NULL;
	if (pbm && token[0] != '\0') {
		/* SPBM wants the bare token, without vCenter's quotes. */
		char *t = token;
		size_t n = strlen(t);
		if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
			t[n - 1] = '\0';
			t++;
		}
		soap_header(c->soap);
		c->soap->header->vcSessionCookie = soap_strdup(c->soap, t);
	}
}


/* An answer that is not SOAP at all (the vSphere Client's web page, a
 * proxy's error page): says what came back and where the SDK lives. */
static int
not_soap(struct vconn *c, int soaprc, const char *op)
{
	const char *ct = c->soap->http_content;

	if (ct == NULL || *ct == '\0' || strstr(ct, "xml") != NULL)
		return 0;
	char status[32] = "";

	if (soaprc > 200 && soaprc < 600)
		snprintf(status, sizeof(status), "HTTP %d with ", soaprc);
	if (strncmp(op, "Pbm", 3) == 0)		/* pbm_ready names the endpoint */
		snprintf(c->err, sizeof(c->err), "%s: answered %s%.60s, not SOAP", op,
		    status, ct);
	else
		snprintf(c->err, sizeof(c->err), "%s: %.200s answered %s%.60s, not SOAP: "
		    "not a vCenter SDK endpoint; the URL should be https://HOST/sdk with "
		    "vCenter's own address (not a web page's or a proxy's)", op,
		    c->s->url, status, ct);
	return 1;
}

/* Classifies a finished call; may log in again and ask for a retry. */
int
vconn_finish(struct vconn *c, int soaprc, const char *op, int attempt)
{
	struct soap *soap = c->soap;
	const char *fs, *detail_type = "";

	trace_flush(c);
	if (soaprc == SOAP_OK)
		return 0;
	if (not_soap(c, soaprc, op)) {
		soap_force_closesock(soap);
		return V_ERR_PROTO;
	}

	const xnode *detail = NULL;
	if (soap->fault != NULL && soap->fault->detail != NULL)
		detail = &soap->fault->detail->__any;
	if (soap->fault != NULL && soap->fault->SOAP_ENV__Detail != NULL &&
	    (detail == NULL || !*xnode_type(detail)))
		detail = &soap->fault->SOAP_ENV__Detail->__any;
	if (detail != NULL) {
		const char *priv = xnode_path_text(detail, "privilegeId");
		detail_type = xnode_type(detail);
		copystr(c->fault_privilege, sizeof(c->fault_privilege), priv ? priv : "");
	}
	copystr(c->fault_type, sizeof(c->fault_type), detail_type);

	if (soaprc == SOAP_FAULT || (soaprc >= 400 && soaprc < 600 && soap->fault &&
	    soap->fault->faultstring)) {
		fs = soap->fault && soap->fault->faultstring ?
		    soap->fault->faultstring : "no fault string";
		if (strcmp(c->fault_type, "NotAuthenticated") == 0 && attempt == 0 &&
		    c->s->has_password && strcmp(op, "Login") != 0) {
			log_info("%s: session no longer valid, logging in again", op);
			if (vsession_login(c) == 0)
				return V_RETRY;
		}
		snprintf(c->err, sizeof(c->err), "%s: %s%s%s", op,
		    c->fault_type[0] ? c->fault_type : "fault",
		    ": ", fs);
		log_redact(c->err);
		if (strcmp(c->fault_type, "InvalidLogin") == 0)
			return V_ERR_LOGIN;
		if (strcmp(c->fault_type, "RequestCanceled") == 0)
			return V_ERR_CANCELED;
		return V_ERR_FAULT;
	}
	/* Not a SOAP fault: what is left on the connection (the rest of a
	 * refused answer, a half-read chunk) is unknown.  The next call
	 * connects again. */
	int too_big = soap->recv_maxlength && soap->count > soap->recv_maxlength;
	soap_force_closesock(soap);
	if (tls_last_verify_error()[0] != '\0') {
		snprintf(c->err, sizeof(c->err), "TLS: %s: %s", c->s->base,
		    tls_last_verify_error());
		return V_ERR_TLS;
	}
	fs = *soap_faultstring(soap);
	if (too_big) {
		snprintf(c->err, sizeof(c->err), "%s: answer from %s larger than %lu MB: "
		    "refused", op, c->s->base, (unsigned long)(soap->recv_maxlength >> 20));
		return V_ERR_PROTO;
	}
	if (soaprc == SOAP_OCCURS) {
		snprintf(c->err, sizeof(c->err), "%s: answer from %s holds more than %zu "
		    "items in one list: refused", op, c->s->base, soap->maxoccurs);
		return V_ERR_PROTO;
	}
	if (soaprc == SOAP_LENGTH) {
		snprintf(c->err, sizeof(c->err), "%s: answer from %s holds a value longer "
		    "than %lu MB: refused", op, c->s->base, VIM_STRING_MAX >> 20);
		return V_ERR_PROTO;
	}
	if (soaprc == SOAP_SSL_ERROR) {
		snprintf(c->err, sizeof(c->err), "TLS: %s: handshake failed: %s",
		    c->s->base, fs ? fs : "unknown error");
		return V_ERR_TLS;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double took = (double)ts.tv_sec + ts.tv_nsec / 1e9 - c->started;
	if (soaprc > 200 && soaprc < 600)
		snprintf(c->err, sizeof(c->err), "%s: HTTP %d from %s", op, soaprc,
		    c->s->base);
	else if (soap->transfer_timeout > 0 && took >= soap->transfer_timeout)
		snprintf(c->err, sizeof(c->err), "%s: no complete answer from %s within "
		    "%d s: gave up", op, c->s->base, soap->transfer_timeout);
	else if (soap->recv_timeout > 0 && took >= soap->recv_timeout && !fs)
		snprintf(c->err, sizeof(c->err), "%s: %s sent nothing for %d s: gave up",
		    op, c->s->base, soap->recv_timeout);
	else
		snprintf(c->err, sizeof(c->err), "%s: cannot talk to %s: %s", op,
		    c->s->base, fs ? fs : "transport error");
	log_redact(c->err);
	/* Make the message one line. */
	for (char *p = c->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return V_ERR_TRANSPORT;
}

/* ---------------------------------------------------------------- */
/* session                                                           */
/* ---------------------------------------------------------------- */

struct vsession *
vsession_new(const struct config *cfg, char *err, size_t errlen)
{
	struct vsession *s = xcalloc(1, sizeof(*s));
	const char *p;

	pthread_mutex_init(&s->mtx, NULL);
	s->url = xstrdup(cfg->vc_url);
	p = strchr(cfg->vc_url + strlen("https://"), '/');
	s->base = p ? strndup(cfg->vc_url, (size_t)(p - cfg->vc_url)) : xstrdup(cfg->vc_url);
	if (s->base == NULL)
		fatalx("out of memory");
	s->pbm_url = xasprintf("%s%s", s->base, cfg->pbm_path);
	s->user = xstrdup(cfg->vc_user);
	s->pw_file = cfg->password_file ? xstrdup(cfg->password_file) : NULL;
	s->cfg_path = xstrdup(cfg->path ? cfg->path : "the configuration");
	pthread_mutex_init(&s->login_mtx, NULL);
	s->timeout = cfg->timeout;
	copystr(s->action, sizeof(s->action), "urn:vim25/" VIM_MIN_VERSION);

	s->master = vsoap_new();
	if (cfg->trace_dir != NULL &&
	    (s->trace = trace_open(cfg->trace_dir, cfg->trace_keep, err, errlen)) == NULL) {
		vsession_free(s);
		return NULL;
	}
	if (cfg->tls.mode == TLS_INSECURE)
		log_warnx("TLS verification of %s is OFF (<tls insecure=\"true\"/>): "
		    "anyone on the path can read the vCenter password; use ca-file or thumbprint",
		    s->base);
	if (tls_setup_soap(s->master, &cfg->tls, err, errlen) != 0) {
		vsession_free(s);
		return NULL;
	}
	return s;
}

void
vsession_free(struct vsession *s)
{
	if (s == NULL)
		return;
	if (s->master != NULL) {
		soap_destroy(s->master);
		soap_end(s->master);
		soap_free(s->master);
	}
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	explicit_bzero(s->cookie, sizeof(s->cookie));
	explicit_bzero(s->session_key, sizeof(s->session_key));
	trace_close(s->trace);
	free(s->url);
	free(s->base);
	free(s->pbm_url);
	free(s->user);
	free(s->pw_file);
	free(s->cfg_path);
	pthread_mutex_destroy(&s->login_mtx);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

unsigned
vsession_generation(struct vsession *s)
{
	pthread_mutex_lock(&s->mtx);
	unsigned g = s->generation;
	pthread_mutex_unlock(&s->mtx);
	return g;
}

const char *
vsession_api_version(const struct vsession *s)
{
	return s->api_version;
}

int
vsession_api_at_least(const struct vsession *s, const char *version)
{
	return vim_version_cmp(s->api_version, version) >= 0;
}

const char *
vsession_server_api(const struct vsession *s)
{
	return s->server_api[0] ? s->server_api : s->api_version;
}

const char *
vsession_about(const struct vsession *s, const char *field)
{
	if (strcmp(field, "fullName") == 0)
		return s->about_full;
	if (strcmp(field, "apiType") == 0)
		return s->about_type;
	if (strcmp(field, "apiVersion") == 0)
		return s->about_version;
	if (strcmp(field, "instanceUuid") == 0)
		return s->about_uuid;
	return "";
}

const struct vmoref *
vsession_mo(const struct vsession *s, enum vmo which)
{
	return &s->mo[which];
}

/* A public API version: dotted decimal ("8.0.3.0", "6.7"); not an internal
 * build string ("uA046D008") nor a suffixed one ("2.5u2"). */
int
vim_version_public(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 16 || v[0] == '.' || v[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] >= '0' && v[i] <= '9') && !(v[i] == '.' && v[i + 1] != '.'))
			return 0;
	return 1;
}

/* Keeps in best the newest public version not newer than cap (if any). */
static void
version_consider(char *best, size_t len, const char *v, const char *cap)
{
	if (v == NULL || !vim_version_public(v) || (cap && vim_version_cmp(v, cap) > 0))
		return;
	if (best[0] == '\0' || vim_version_cmp(v, best) > 0)
		copystr(best, len, v);
}

static void
versions_walk(const xnode *namespaces, char *best, size_t len, const char *cap)
{
	best[0] = '\0';
	for (const xnode *ns = xnode_first(namespaces); ns; ns = xnode_next(ns)) {
		const char *name = xnode_path_text(ns, "name");
		if (name == NULL || strcmp(name, "urn:vim25") != 0)
			continue;
		for (const xnode *v = xnode_first(ns); v; v = xnode_next(v)) {
			if (strcmp(xnode_name(v), "version") == 0)
				version_consider(best, len, xnode_text(v), cap);
			else if (strcmp(xnode_name(v), "priorVersions") == 0)
				for (const xnode *p = xnode_first(v); p; p = xnode_next(p))
					version_consider(best, len, xnode_text(p), cap);
		}
	}
}

void
vim_versions_pick(const xnode *namespaces, char *best, size_t len)
{
	versions_walk(namespaces, best, len, VIM_MAX_VERSION);
}

/*
 * GET /sdk/vimServiceVersions.xml (no session needed) and pick the newest
 * version both sides speak: among the versions the server lists (current
 * and prior), the newest public one not newer than VIM_MAX_VERSION.  A
 * vCenter 8.0.3 lists an internal build string as current ("uA046D008")
 * and the public versions as prior ones.  Leaves api_version empty on any
 * failure (about.apiVersion is used then).
 */
static void
negotiate_version(struct vconn *c)
{
	struct vsession *s = c->s;
	struct soap *soap = c->soap;
	char *url = xasprintf("%s/sdk/vimServiceVersions.xml", s->base);
	char *body = NULL;
	size_t len = 0;

	vconn_prepare(c, 0);
	int g = soap_GET(soap, url, NULL);
	if (g == SOAP_OK)
		g = soap_begin_recv(soap);
	if (g == SOAP_OK)
		body = soap_http_get_body(soap, &len);
	log_debug("GET %s: gSOAP %d, %zu bytes", url, g, len);
	if (body != NULL) {
		soap_end_recv(soap);
		struct soap *p = soap_new1(SOAP_C_UTFSTRING);
		struct soap_dom_element dom;
		p->is = body;
		p->recv_maxlength = 1 << 20;
		soap_default_xsd__anyType(p, &dom);
		if (soap_begin_recv(p) == SOAP_OK &&
		    soap_in_xsd__anyType(p, NULL, &dom, NULL) != NULL) {
			vim_versions_pick(&dom, s->api_version, sizeof(s->api_version));
			versions_walk(&dom, s->server_api, sizeof(s->server_api), NULL);
		}
		soap_end_recv(p);
		soap_destroy(p);
		soap_end(p);
		soap_free(p);
	}
	/* A fresh connection for the SOAP calls that follow. */
	soap->keep_alive = 0;
	soap_closesock(soap);
	if (s->api_version[0] == '\0')
		log_debug("%s: no usable vimServiceVersions.xml; using about.apiVersion", url);
	free(url);
	vconn_reset(c);
}

/* One Login with the password held now. */
static int
login_once(struct vconn *c)
{
	struct vsession *s = c->s;
	struct vim__LoginResponse out = { 0 };
	char *pw = vpassword_copy(s);
	int rc;

	pthread_mutex_lock(&s->mtx);
	s->cookie[0] = '\0';
	pthread_mutex_unlock(&s->mtx);
	vconn_prepare(c, 0);
	rc = vconn_finish(c, soap_call_vim__Login(c->soap, s->url, s->action,
	    vmoref_soap(c->soap, &s->mo[VMO_SESSION_MANAGER]), s->user, pw, NULL, &out),
	    "Login", 1);
	secret_free(pw);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&s->mtx);
	copystr(s->session_key, sizeof(s->session_key),
	    out.returnval ? out.returnval->key : NULL);
	s->generation++;
	s->logged_in = 1;
	s->pbm_ready = 0;
	int have_cookie = s->cookie[0] != '\0';
	pthread_mutex_unlock(&s->mtx);
	if (!have_cookie) {
		snprintf(c->err, sizeof(c->err),
		    "Login: %s set no vmware_soap_session cookie", s->base);
		return V_ERR_PROTO;
	}
	return 0;
}

int
vsession_login(struct vconn *c)
{
	int rc = vpassword_begin(c->s, c->err, sizeof(c->err));

	if (rc != VP_GO)
		return rc == VP_SKIP ? 0 : V_ERR_LOGIN;
	rc = login_once(c);
	if (rc == V_ERR_LOGIN && vpassword_refused(c->s, c->err, sizeof(c->err))) {
		rc = login_once(c);
		if (rc == V_ERR_LOGIN)	/* the new one refused too: its words */
			(void)vpassword_refused(c->s, c->err, sizeof(c->err));
	}
	vpassword_end(c->s, rc);
	return rc;
}

int
vsession_open(struct vsession *s, const char *password, char *err, size_t errlen)
{
	struct vconn *c = vconn_new(s);
	struct vim__RetrieveServiceContentResponse out = { 0 };
	struct vim__ManagedObjectReference si = { "ServiceInstance", "ServiceInstance" };
	struct vim__ServiceContent *sc;
	int rc;

	vconn_set_timeout(c, s->timeout);
	vsession_set_password(s, password);

	negotiate_version(c);
	if (s->api_version[0] != '\0')
		snprintf(s->action, sizeof(s->action), "urn:vim25/%s", s->api_version);

	VCALL(c, 0, "RetrieveServiceContent", rc,
	    soap_call_vim__RetrieveServiceContent(c->soap, s->url, s->action, &si, &out));
	if (rc != 0)
		goto out;
	sc = out.returnval;
	if (sc == NULL || sc->sessionManager == NULL) {
		snprintf(c->err, sizeof(c->err),
		    "RetrieveServiceContent: %s answered without a session manager; is this a vSphere SDK endpoint?",
		    s->url);
		rc = V_ERR_PROTO;
		goto out;
	}
	vmoref_set(&s->mo[VMO_ROOT_FOLDER], &sc->rootFolder);
	vmoref_set(&s->mo[VMO_PROPERTY_COLLECTOR], &sc->propertyCollector);
	vmoref_set(&s->mo[VMO_VIEW_MANAGER], sc->viewManager);
	vmoref_set(&s->mo[VMO_SESSION_MANAGER], sc->sessionManager);
	vmoref_set(&s->mo[VMO_EVENT_MANAGER], sc->eventManager);
	vmoref_set(&s->mo[VMO_CUSTOM_FIELDS_MANAGER], sc->customFieldsManager);
	vmoref_set(&s->mo[VMO_CRYPTO_MANAGER], sc->cryptoManager);
	vmoref_set(&s->mo[VMO_TASK_MANAGER], sc->taskManager);
	vmoref_set(&s->mo[VMO_AUTH_MANAGER], sc->authorizationManager);
	vmoref_set(&s->mo[VMO_SEARCH_INDEX], sc->searchIndex);
	copystr(s->about_full, sizeof(s->about_full), sc->about.fullName);
	copystr(s->about_type, sizeof(s->about_type), sc->about.apiType);
	copystr(s->about_version, sizeof(s->about_version), sc->about.apiVersion);
	copystr(s->about_uuid, sizeof(s->about_uuid), sc->about.instanceUuid);
	if (s->server_api[0] == '\0' && vim_version_public(s->about_version))
		copystr(s->server_api, sizeof(s->server_api), s->about_version);
	if (s->api_version[0] == '\0') {
		const char *v = sc->about.apiVersion;
		if (v == NULL || !vim_version_public(v))
			v = VIM_MIN_VERSION;
		copystr(s->api_version, sizeof(s->api_version),
		    vim_version_cmp(v, VIM_MAX_VERSION) > 0 ? VIM_MAX_VERSION : v);
		snprintf(s->action, sizeof(s->action), "urn:vim25/%s", s->api_version);
	}
	if (vim_version_cmp(s->api_version, VIM_MIN_VERSION) < 0) {
		snprintf(c->err, sizeof(c->err),
		    "%s speaks vSphere API %s; VM encryption needs %s or newer",
		    s->base, s->api_version, VIM_MIN_VERSION);
		rc = V_ERR_PROTO;
		goto out;
	}
	rc = vsession_login(c);
	if (rc == 0)
		log_info("logged in to %s (%s, API %s) as %s", s->base, s->about_full,
		    s->api_version, s->user);
out:
	if (rc != 0)
		snprintf(err, errlen, "%s", c->err);
	vconn_free(c);
	return rc;
}

void
vsession_close(struct vsession *s)
{
	struct vim__LogoutResponse out;
	struct vconn *c;
	int rc;

	if (!s->logged_in)
		return;
	c = vconn_new(s);
	vconn_set_timeout(c, 10);
	vconn_prepare(c, 0);
	rc = vconn_finish(c, soap_call_vim__Logout(c->soap, s->url, s->action,
	    vmoref_soap(c->soap, &s->mo[VMO_SESSION_MANAGER]), &out), "Logout", 1);
	if (rc != 0)
		log_warnx("%s", c->err);
	else
		log_info("logged out of %s", s->base);
	s->logged_in = 0;
	explicit_bzero(s->cookie, sizeof(s->cookie));
	vconn_free(c);
}
