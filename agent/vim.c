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

static void
copystr(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

void
vmoref_set(struct vmoref *m, const struct vim__ManagedObjectReference *r)
{
	copystr(m->type, sizeof(m->type), r ? r->type : NULL);
	copystr(m->value, sizeof(m->value), r ? r->__item : NULL);
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

static int vsession_login(struct vconn *c);

/* Classifies a finished call; may log in again and ask for a retry. */
int
vconn_finish(struct vconn *c, int soaprc, const char *op, int attempt)
{
	struct soap *soap = c->soap;
	const char *fs, *detail_type = "";

	trace_flush(c);
	if (soaprc == SOAP_OK)
		return 0;

	if (soap->fault != NULL && soap->fault->detail != NULL)
		detail_type = xnode_type(&soap->fault->detail->__any);
	if (soap->fault != NULL && soap->fault->SOAP_ENV__Detail != NULL && !*detail_type)
		detail_type = xnode_type(&soap->fault->SOAP_ENV__Detail->__any);
	copystr(c->fault_type, sizeof(c->fault_type), detail_type);

	if (soaprc == SOAP_FAULT || (soaprc >= 400 && soaprc < 600 && soap->fault &&
	    soap->fault->faultstring)) {
		fs = soap->fault && soap->fault->faultstring ?
		    soap->fault->faultstring : "no fault string";
		if (strcmp(c->fault_type, "NotAuthenticated") == 0 && attempt == 0 &&
		    c->s->password != NULL && strcmp(op, "Login") != 0) {
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

/* Keeps in best the newest public version not newer than the cap. */
static void
version_consider(char *best, size_t len, const char *v)
{
	if (v == NULL || !vim_version_public(v) || vim_version_cmp(v, VIM_MAX_VERSION) > 0)
		return;
	if (best[0] == '\0' || vim_version_cmp(v, best) > 0)
		copystr(best, len, v);
}

void
vim_versions_pick(const xnode *namespaces, char *best, size_t len)
{
	best[0] = '\0';
	for (const xnode *ns = xnode_first(namespaces); ns; ns = xnode_next(ns)) {
		const char *name = xnode_path_text(ns, "name");
		if (name == NULL || strcmp(name, "urn:vim25") != 0)
			continue;
		for (const xnode *v = xnode_first(ns); v; v = xnode_next(v)) {
			if (strcmp(xnode_name(v), "version") == 0)
				version_consider(best, len, xnode_text(v));
			else if (strcmp(xnode_name(v), "priorVersions") == 0)
				for (const xnode *p = xnode_first(v); p; p = xnode_next(p))
					version_consider(best, len, xnode_text(p));
		}
	}
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
		    soap_in_xsd__anyType(p, NULL, &dom, NULL) != NULL)
			vim_versions_pick(&dom, s->api_version, sizeof(s->api_version));
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

static int
vsession_login(struct vconn *c)
{
	struct vsession *s = c->s;
	struct vim__LoginResponse out = { 0 };
	struct vim__ManagedObjectReference *sm;
	int rc;

	pthread_mutex_lock(&s->mtx);
	s->cookie[0] = '\0';
	pthread_mutex_unlock(&s->mtx);
	sm = vmoref_soap(c->soap, &s->mo[VMO_SESSION_MANAGER]);
	vconn_prepare(c, 0);
	rc = vconn_finish(c, soap_call_vim__Login(c->soap, s->url, s->action, sm,
	    s->user, s->password, NULL, &out), "Login", 1);
	if (rc == V_ERR_LOGIN) {
		snprintf(c->err, sizeof(c->err),
		    "login failed for user '%s' at %s: vCenter rejected the user name or password",
		    s->user, s->base);
		return rc;
	}
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
vsession_open(struct vsession *s, const char *password, char *err, size_t errlen)
{
	struct vconn *c = vconn_new(s);
	struct vim__RetrieveServiceContentResponse out = { 0 };
	struct vim__ManagedObjectReference si = { "ServiceInstance", "ServiceInstance" };
	struct vim__ServiceContent *sc;
	int rc;

	vconn_set_timeout(c, s->timeout);
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	s->password = xstrdup(password);

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
	copystr(s->about_full, sizeof(s->about_full), sc->about.fullName);
	copystr(s->about_type, sizeof(s->about_type), sc->about.apiType);
	copystr(s->about_version, sizeof(s->about_version), sc->about.apiVersion);
	copystr(s->about_uuid, sizeof(s->about_uuid), sc->about.instanceUuid);
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

/* ---------------------------------------------------------------- */
/* calls                                                             */
/* ---------------------------------------------------------------- */

int
vim_current_time(struct vconn *c, char *out, size_t outlen)
{
	struct vim__CurrentTimeResponse r = { 0 };
	struct vim__ManagedObjectReference si = { "ServiceInstance", "ServiceInstance" };
	int rc;

	VCALL(c, 0, "CurrentTime", rc,
	    soap_call_vim__CurrentTime(c->soap, c->s->url, c->s->action, &si, &r));
	if (rc == 0)
		copystr(out, outlen, r.returnval);
	return rc;
}

int
vim_create_container_view(struct vconn *c, const struct vmoref *container,
    const char *type, int recursive, struct vmoref *out)
{
	struct vim__CreateContainerViewResponse r = { 0 };
	char *types[1] = { (char *)type };
	int rc;

	VCALL(c, 0, "CreateContainerView", rc,
	    soap_call_vim__CreateContainerView(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_VIEW_MANAGER]),
	    vmoref_soap(c->soap, container), 1, types,
	    recursive ? true_ : false_, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(out, r.returnval);
	}
	return rc;
}

/*
 * Clean-up calls (destroying a view, filter or collector) made after a
 * failure keep that failure's message: it is the one worth reporting.
 */
struct saved_err {
	char	err[sizeof(((struct vconn *)0)->err)];
	char	fault_type[sizeof(((struct vconn *)0)->fault_type)];
};

static void
err_save(const struct vconn *c, struct saved_err *e)
{
	copystr(e->err, sizeof(e->err), c->err);
	copystr(e->fault_type, sizeof(e->fault_type), c->fault_type);
}

static void
err_restore(struct vconn *c, const struct saved_err *e)
{
	if (e->err[0] == '\0')
		return;
	copystr(c->err, sizeof(c->err), e->err);
	copystr(c->fault_type, sizeof(c->fault_type), e->fault_type);
}

int
vim_destroy_view(struct vconn *c, const struct vmoref *view)
{
	struct vim__DestroyViewResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyView", rc,
	    soap_call_vim__DestroyView(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, view), &r));
	err_restore(c, &saved);
	return rc;
}

/* A PropertyFilterSpec over every object of type in a container view. */
static struct vim__PropertyFilterSpec *
view_spec(struct soap *soap, const struct vmoref *view, const char *type,
    const char *const *paths, size_t npaths)
{
	struct vim__PropertyFilterSpec *spec = soap_malloc(soap, sizeof(*spec));
	struct vim__PropertySpec *ps = soap_malloc(soap, sizeof(*ps));
	struct vim__ObjectSpec *os = soap_malloc(soap, sizeof(*os));
	struct vim__TraversalSpec *ts = soap_malloc(soap, sizeof(*ts));
	struct vim__SelectionSpecRef *sel = soap_malloc(soap, sizeof(*sel));
	enum xsd__boolean *yes = soap_malloc(soap, sizeof(*yes));

	if (!spec || !ps || !os || !ts || !sel || !yes)
		fatalx("out of memory");
	*yes = true_;
	soap_default_vim__PropertySpec(soap, ps);
	ps->type = soap_strdup(soap, type);
	ps->__sizepathSet = (int)npaths;
	ps->pathSet = (char **)paths;

	soap_default_vim__TraversalSpec(soap, ts);
	ts->name = "view";
	ts->type = "ContainerView";
	ts->path = "view";
	sel->__type = SOAP_TYPE_vim__TraversalSpec;
	sel->selectSet = ts;

	soap_default_vim__ObjectSpec(soap, os);
	os->obj = *vmoref_soap(soap, view);
	os->skip = yes;
	os->__sizeselectSet_ = 1;
	os->__selectSet = sel;

	soap_default_vim__PropertyFilterSpec(soap, spec);
	spec->__sizepropSet = 1;
	spec->propSet = ps;
	spec->__sizeobjectSet = 1;
	spec->objectSet = os;
	return spec;
}

/* NotAuthenticated can come back inside a successful response. */
static int
missing_notauth(const struct vim__MissingProperty *m, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(xnode_type(m[i].fault.fault), "NotAuthenticated") == 0)
			return 1;
	return 0;
}

/*
 * Hands each object to cb.  An answer in which any property is missing with
 * NotAuthenticated (the session ended; govmomi's recorded fixture) is
 * refused whole, before cb sees anything, so a caller can log in again and
 * ask again without seeing an object twice.
 */
int
vim_deliver_objects(struct vconn *c, const struct vim__RetrieveResult *res,
    vobject_cb cb, void *arg)
{
	const char *names[64];
	const xnode *vals[64];
	struct vmoref obj;

	for (int i = 0; res && i < res->__sizeobjects; i++) {
		const struct vim__ObjectContent *oc = &res->objects[i];
		if (missing_notauth(oc->missingSet, oc->__sizemissingSet)) {
			snprintf(c->err, sizeof(c->err),
			    "RetrievePropertiesEx: NotAuthenticated for %s",
			    oc->obj.__item ? oc->obj.__item : "?");
			log_redact(c->err);
			copystr(c->fault_type, sizeof(c->fault_type), "NotAuthenticated");
			return V_ERR_FAULT;
		}
	}
	for (int i = 0; res && i < res->__sizeobjects; i++) {
		const struct vim__ObjectContent *oc = &res->objects[i];
		size_t n = 0;
		vmoref_set(&obj, &oc->obj);
		for (int j = 0; j < oc->__sizepropSet && n < 64; j++) {
			/* name is required; an answer without it is not trusted
			 * for that property (found by fuzz_soap). */
			if (oc->propSet[j].name == NULL)
				continue;
			names[n] = oc->propSet[j].name;
			vals[n] = oc->propSet[j].val;
			n++;
		}
		int r = cb(arg, &obj, n, names, vals);
		if (r != 0)
			return r;
	}
	return 0;
}

int
vim_retrieve_view(struct vconn *c, const struct vmoref *view, const char *type,
    const char *const *paths, size_t npaths, int page, vobject_cb cb, void *arg)
{
	struct vim__RetrievePropertiesExResponse r = { 0 };
	struct vim__RetrieveOptions opt = { &page };
	char token[256];
	int rc;

	VCALL(c, 0, "RetrievePropertiesEx", rc,
	    soap_call_vim__RetrievePropertiesEx(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), 1,
	    view_spec(c->soap, view, type, paths, npaths), &opt, &r));
	while (rc == 0) {
		rc = vim_deliver_objects(c, r.returnval, cb, arg);
		if (rc == V_ERR_FAULT &&
		    strcmp(c->fault_type, "NotAuthenticated") == 0) {
			/* The view died with the old session: log in again and
			 * fail this retrieval; the caller sees the generation
			 * change and recreates its view. */
			char msg[sizeof(c->err)];
			memcpy(msg, c->err, sizeof(msg));
			vsession_login(c);
			memcpy(c->err, msg, sizeof(msg));
			snprintf(c->fault_type, sizeof(c->fault_type), "NotAuthenticated");
			break;
		}
		if (rc != 0 || r.returnval == NULL || r.returnval->token == NULL)
			break;
		copystr(token, sizeof(token), r.returnval->token);
		vconn_reset(c);
		struct vim__ContinueRetrievePropertiesExResponse cr = { 0 };
		VCALL(c, 0, "ContinueRetrievePropertiesEx", rc,
		    soap_call_vim__ContinueRetrievePropertiesEx(c->soap, c->s->url,
		    c->s->action, vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]),
		    token, &cr));
		r.returnval = cr.returnval;
	}
	vconn_reset(c);
	return rc;
}

int
vim_create_property_collector(struct vconn *c, struct vmoref *out)
{
	struct vim__CreatePropertyCollectorResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreatePropertyCollector", rc,
	    soap_call_vim__CreatePropertyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(out, r.returnval);
	}
	return rc;
}

int
vim_destroy_property_collector(struct vconn *c, const struct vmoref *pc)
{
	struct vim__DestroyPropertyCollectorResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyPropertyCollector", rc,
	    soap_call_vim__DestroyPropertyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), &r));
	err_restore(c, &saved);
	return rc;
}

int
vim_create_view_filter(struct vconn *c, const struct vmoref *pc,
    const struct vmoref *view, const char *type, const char *const *paths,
    size_t npaths, struct vmoref *filter)
{
	struct vim__CreateFilterResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreateFilter", rc,
	    soap_call_vim__CreateFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), view_spec(c->soap, view, type, paths, npaths),
	    false_, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(filter, r.returnval);
	}
	return rc;
}

int
vim_deliver_updates(const struct vim__UpdateSet *us, vupdate_cb cb, void *arg)
{
	const char *names[64];
	const xnode *vals[64];
	struct vmoref obj;
	int rc = 0;

	for (int f = 0; f < us->__sizefilterSet && rc == 0; f++) {
		struct vim__PropertyFilterUpdate *fu = &us->filterSet[f];
		for (int i = 0; i < fu->__sizeobjectSet && rc == 0; i++) {
			struct vim__ObjectUpdate *ou = &fu->objectSet[i];
			size_t n = 0;
			vmoref_set(&obj, &ou->obj);
			for (int j = 0; j < ou->__sizechangeSet && n < 64; j++) {
				if (ou->changeSet[j].name == NULL)
					continue;
				names[n] = ou->changeSet[j].name;
				vals[n] = ou->changeSet[j].val;
				n++;
			}
			rc = cb(arg, ou->kind ? ou->kind : "", &obj, n, names, vals);
		}
	}
	return rc;
}

int
vim_wait_for_updates(struct vconn *c, const struct vmoref *pc, char *version,
    size_t versionlen, int max_wait, vupdate_cb cb, void *arg)
{
	struct vim__WaitOptions opt = { &max_wait, NULL };
	int rc;

	for (;;) {
		struct vim__WaitForUpdatesExResponse r = { 0 };
		VCALL(c, 0, "WaitForUpdatesEx", rc,
		    soap_call_vim__WaitForUpdatesEx(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, pc), version[0] ? version : NULL, &opt, &r));
		if (rc != 0 || r.returnval == NULL)
			break;		/* error, or timed out with no change */
		struct vim__UpdateSet *us = r.returnval;
		rc = vim_deliver_updates(us, cb, arg);
		copystr(version, versionlen, us->version);
		int truncated = us->truncated && *us->truncated == true_;
		vconn_reset(c);
		if (rc != 0 || !truncated)
			break;
	}
	vconn_reset(c);
	return rc;
}

int
vim_cancel_wait(struct vconn *c, const struct vmoref *pc)
{
	struct vim__CancelWaitForUpdatesResponse r;
	int rc;

	VCALL(c, 0, "CancelWaitForUpdates", rc,
	    soap_call_vim__CancelWaitForUpdates(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), &r));
	return rc;
}

/* ---------------------------------------------------------------- */
/* single objects, events, tasks, keys, reconfiguration             */
/* ---------------------------------------------------------------- */

/* A PropertyFilterSpec over a list of objects of one type. */
static struct vim__PropertyFilterSpec *
objects_spec(struct soap *soap, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths)
{
	struct vim__PropertyFilterSpec *spec = soap_malloc(soap, sizeof(*spec));
	struct vim__PropertySpec *ps = soap_malloc(soap, sizeof(*ps));
	struct vim__ObjectSpec *os = soap_malloc(soap, (nobjs ? nobjs : 1) * sizeof(*os));

	if (!spec || !ps || !os)
		fatalx("out of memory");
	soap_default_vim__PropertySpec(soap, ps);
	ps->type = soap_strdup(soap, type);
	ps->__sizepathSet = (int)npaths;
	ps->pathSet = (char **)paths;
	for (size_t i = 0; i < nobjs; i++) {
		soap_default_vim__ObjectSpec(soap, &os[i]);
		os[i].obj = *vmoref_soap(soap, &objs[i]);
	}
	soap_default_vim__PropertyFilterSpec(soap, spec);
	spec->__sizepropSet = 1;
	spec->propSet = ps;
	spec->__sizeobjectSet = (int)nobjs;
	spec->objectSet = os;
	return spec;
}

/* An object reported only as missing (reportMissingObjectsInResults):
 * no property, and ManagedObjectNotFound in its missingSet. */
static int
object_missing(const struct vim__ObjectContent *oc)
{
	if (oc->__sizepropSet > 0)
		return 0;
	for (int i = 0; i < oc->__sizemissingSet; i++)
		if (strcmp(xnode_type(oc->missingSet[i].fault.fault),
		    "ManagedObjectNotFound") == 0)
			return 1;
	return 0;
}

static int
retrieve_objects(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, int present,
    vobject_cb cb, void *arg)
{
	struct vim__RetrievePropertiesExResponse r = { 0 };
	struct vim__RetrieveOptions opt = { NULL };
	struct vim__PropertyFilterSpec *spec;
	int rc;

	if (nobjs == 0)
		return 0;
	spec = objects_spec(c->soap, objs, nobjs, type, paths, npaths);
	if (present) {
		enum xsd__boolean *yes = soap_malloc(c->soap, sizeof(*yes));
		if (yes == NULL)
			fatalx("out of memory");
		*yes = true_;
		spec->reportMissingObjectsInResults = yes;
	}
	for (int attempt = 0;; attempt++) {
		VCALL(c, 0, "RetrievePropertiesEx", rc,
		    soap_call_vim__RetrievePropertiesEx(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), 1, spec, &opt,
		    &r));
		if (rc == 0 && present && r.returnval != NULL) {
			/* Left out, as vcsim leaves them out. */
			int k = 0;
			for (int i = 0; i < r.returnval->__sizeobjects; i++)
				if (!object_missing(&r.returnval->objects[i]))
					r.returnval->objects[k++] = r.returnval->objects[i];
			r.returnval->__sizeobjects = k;
		}
		if (rc == 0)
			rc = vim_deliver_objects(c, r.returnval, cb, arg);
		/* NotAuthenticated inside the answer: these objects are not
		 * tied to the session, so log in again and ask once more. */
		if (rc == V_ERR_FAULT && attempt == 0 && c->s->password != NULL &&
		    strcmp(c->fault_type, "NotAuthenticated") == 0) {
			log_info("RetrievePropertiesEx: session no longer valid, logging in again");
			if (vsession_login(c) == 0)
				continue;
		}
		return rc;
	}
}

int
vim_retrieve_present(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, vobject_cb cb,
    void *arg)
{
	return retrieve_objects(c, objs, nobjs, type, paths, npaths, 1, cb, arg);
}

int
vim_retrieve_objects(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, vobject_cb cb,
    void *arg)
{
	int rc = retrieve_objects(c, objs, nobjs, type, paths, npaths, 0, cb, arg);
	/* Not reset: callers may keep using the returned trees (a device sent
	 * back in a reconfigure) until they call vconn_reset. */
	return rc;
}

int
vim_create_object_filter(struct vconn *c, const struct vmoref *pc,
    const struct vmoref *obj, const char *type, const char *const *paths,
    size_t npaths, struct vmoref *filter)
{
	struct vim__CreateFilterResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreateFilter", rc,
	    soap_call_vim__CreateFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), objects_spec(c->soap, obj, 1, type, paths, npaths),
	    false_, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			rc = V_ERR_PROTO;
		else
			vmoref_set(filter, r.returnval);
	}
	vconn_reset(c);
	return rc;
}

int
vim_destroy_filter(struct vconn *c, const struct vmoref *filter)
{
	struct vim__DestroyPropertyFilterResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyPropertyFilter", rc,
	    soap_call_vim__DestroyPropertyFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, filter), &r));
	vconn_reset(c);
	err_restore(c, &saved);
	return rc;
}

int
vim_create_event_collector(struct vconn *c, const char *begin_time,
    const char *const *type_ids, size_t ntypes, int page, struct vmoref *out)
{
	struct vim__CreateCollectorForEventsResponse r = { 0 };
	struct vim__EventFilterSpecByEntity ent;
	struct vim__EventFilterSpecByTime tm = { NULL, NULL };
	struct vim__EventFilterSpec f;
	enum xsd__boolean full = false_;
	int rc;

	memset(&f, 0, sizeof(f));
	ent.entity = *vmoref_soap(c->soap, &c->s->mo[VMO_ROOT_FOLDER]);
	ent.recursion = "all";
	f.entity = &ent;
	if (begin_time != NULL && *begin_time) {
		tm.beginTime = (char *)begin_time;
		f.time = &tm;
	}
	/* disableFullMessage=false: the audit trail wants the message. */
	f.disableFullMessage = &full;
	f.__sizeeventTypeId = (int)ntypes;
	f.eventTypeId = (char **)type_ids;
	f.maxCount = &page;
	VCALL(c, 0, "CreateCollectorForEvents", rc,
	    soap_call_vim__CreateCollectorForEvents(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_EVENT_MANAGER]), &f, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			rc = V_ERR_PROTO;
		else
			vmoref_set(out, r.returnval);
	}
	vconn_reset(c);
	return rc;
}

int
vim_read_next_events(struct vconn *c, const struct vmoref *coll, int max,
    vevent_cb cb, void *arg, int *count)
{
	struct vim__ReadNextEventsResponse r = { 0 };
	int rc;

	*count = 0;
	VCALL(c, 0, "ReadNextEvents", rc,
	    soap_call_vim__ReadNextEvents(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, coll), max, &r));
	for (int i = 0; rc == 0 && i < r.__sizereturnval; i++) {
		(*count)++;
		rc = cb(arg, &r.returnval[i]);
	}
	vconn_reset(c);
	return rc;
}

int
vim_destroy_collector(struct vconn *c, const struct vmoref *coll)
{
	struct vim__DestroyCollectorResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyCollector", rc,
	    soap_call_vim__DestroyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, coll), &r));
	vconn_reset(c);
	err_restore(c, &saved);
	return rc;
}

int
vim_generate_key(struct vconn *c, const char *provider, struct vkey *out)
{
	struct vim__GenerateKeyResponse r = { 0 };
	struct vim__KeyProviderId pid = { (char *)provider };
	int rc;

	memset(out, 0, sizeof(*out));
	if (c->s->mo[VMO_CRYPTO_MANAGER].value[0] == '\0') {
		snprintf(c->err, sizeof(c->err),
		    "GenerateKey: this vCenter has no CryptoManagerKmip (no key management)");
		return V_ERR_REFUSED;
	}
	VCALL(c, 0, "GenerateKey", rc,
	    soap_call_vim__GenerateKey(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]),
	    provider ? &pid : NULL, &r));
	if (rc == 0 && r.returnval == NULL)
		rc = V_ERR_PROTO;
	if (rc == 0) {
		struct vim__CryptoKeyResult *k = r.returnval;
		if (k->success != true_ || k->keyId.keyId == NULL) {
			snprintf(c->err, sizeof(c->err), "GenerateKey: success=false%s%s%s%s",
			    k->reason ? ": " : "", k->reason ? k->reason : "",
			    k->fault ? " " : "", k->fault ? xnode_type(k->fault) : "");
			copystr(c->fault_type, sizeof(c->fault_type), "CryptoKeyResult");
			rc = V_ERR_REFUSED;
		} else {
			copystr(out->key_id, sizeof(out->key_id), k->keyId.keyId);
			if (k->keyId.providerId && k->keyId.providerId->id)
				copystr(out->provider, sizeof(out->provider), k->keyId.providerId->id);
			else if (provider)
				copystr(out->provider, sizeof(out->provider), provider);
		}
	}
	return rc;
}

static struct vim__CryptoSpecRef *
crypto_encrypt(struct soap *soap, const char *key_id, const char *provider)
{
	struct vim__CryptoSpecRef *ref = soap_malloc(soap, sizeof(*ref));
	struct vim__CryptoSpecEncrypt *enc = soap_malloc(soap, sizeof(*enc));

	if (!ref || !enc)
		fatalx("out of memory");
	enc->cryptoKeyId.keyId = soap_strdup(soap, key_id);
	enc->cryptoKeyId.providerId = NULL;
	if (provider && *provider) {
		enc->cryptoKeyId.providerId = soap_malloc(soap, sizeof(struct vim__KeyProviderId));
		if (enc->cryptoKeyId.providerId == NULL)
			fatalx("out of memory");
		enc->cryptoKeyId.providerId->id = soap_strdup(soap, provider);
	}
	ref->__type = SOAP_TYPE_vim__CryptoSpecEncrypt;
	ref->crypto = enc;
	return ref;
}

/* The VirtualMachineConfigSpec of one reconfigure, in soap's memory. */
static void
reconfig_spec(struct soap *soap, const struct vreconfig *rs,
    struct vim__VirtualMachineConfigSpec *specp)
{
	struct vim__VirtualMachineConfigSpec spec;
	struct vim__VirtualMachineDefinedProfileSpec *prof = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.changeVersion = (char *)rs->change_version;
	if (rs->profile_id != NULL) {
		prof = soap_malloc(soap, sizeof(*prof));
		if (prof == NULL)
			fatalx("out of memory");
		prof->profileId = soap_strdup(soap, rs->profile_id);
	}
	if (rs->home_profile && prof != NULL) {
		spec.__sizevmProfile_ = 1;
		spec.__vmProfile = soap_malloc(soap, sizeof(*spec.__vmProfile));
		if (spec.__vmProfile == NULL)
			fatalx("out of memory");
		spec.__vmProfile->__type = SOAP_TYPE_vim__VirtualMachineDefinedProfileSpec;
		spec.__vmProfile->vmProfile = prof;
	}
	if (rs->crypto_vm)
		spec.__crypto = crypto_encrypt(soap, rs->key_id, rs->provider);
	if (rs->ndisks > 0) {
		spec.__sizedeviceChange_ = (int)rs->ndisks;
		spec.__deviceChange = soap_malloc(soap, rs->ndisks * sizeof(*spec.__deviceChange));
		if (spec.__deviceChange == NULL)
			fatalx("out of memory");
		for (size_t i = 0; i < rs->ndisks; i++) {
			struct vim__VirtualDeviceConfigSpec *d = soap_malloc(soap, sizeof(*d));
			if (d == NULL)
				fatalx("out of memory");
			memset(d, 0, sizeof(*d));
			spec.__deviceChange[i].__type = SOAP_TYPE_vim__VirtualDeviceConfigSpec;
			spec.__deviceChange[i].deviceChange = d;
			d->operation = "edit";
			d->device = (xnode *)rs->disks[i];
			xnode_rename(d->device, "device");
			if (rs->disk_profile && prof != NULL) {
				d->__sizeprofile_ = 1;
				d->__profile = soap_malloc(soap, sizeof(*d->__profile));
				if (d->__profile == NULL)
					fatalx("out of memory");
				d->__profile->__type = SOAP_TYPE_vim__VirtualMachineDefinedProfileSpec;
				d->__profile->profile = prof;
			}
			if (rs->disk_crypto) {
				d->backing = soap_malloc(soap, sizeof(*d->backing));
				if (d->backing == NULL)
					fatalx("out of memory");
				d->backing->__crypto = crypto_encrypt(soap, rs->key_id, rs->provider);
			}
		}
	}
	spec.migrateEncryption = (char *)rs->migrate;
	spec.ftEncryptionMode = (char *)rs->ft;
	*specp = spec;
}

int
vim_reconfigure(struct vconn *c, const struct vmoref *vm, const struct vreconfig *rs,
    struct vmoref *task)
{
	struct vim__ReconfigVM_USCORETaskResponse r = { 0 };
	struct vim__VirtualMachineConfigSpec spec;
	int rc;

	reconfig_spec(c->soap, rs, &spec);
	VCALL(c, 0, "ReconfigVM_Task", rc,
	    soap_call_vim__ReconfigVM_USCORETask(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, vm), &spec, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			rc = V_ERR_PROTO;
		else
			vmoref_set(task, r.returnval);
	}
	return rc;
}

char *
vim_reconfigure_xml(const struct vmoref *vm, const struct vreconfig *rs)
{
	struct soap *soap = vsoap_new();
	struct vim__ReconfigVM_USCORETask req;
	struct vim__VirtualMachineConfigSpec spec;
	char *out = NULL, *copy;

	reconfig_spec(soap, rs, &spec);
	req._USCOREthis = vmoref_soap(soap, vm);
	req.spec = &spec;
	soap->os = (const char **)&out;
	soap_begin_send(soap);
	soap_set_version(soap, 1);
	soap->encodingStyle = NULL;
	soap_serializeheader(soap);
	soap_serialize_vim__ReconfigVM_USCORETask(soap, &req);
	if (soap_envelope_begin_out(soap) || soap_putheader(soap) ||
	    soap_body_begin_out(soap) ||
	    soap_put_vim__ReconfigVM_USCORETask(soap, &req, "vim:ReconfigVM_Task", "") ||
	    soap_body_end_out(soap) || soap_envelope_end_out(soap))
		out = NULL;
	soap_end_send(soap);
	soap->os = NULL;
	copy = out ? xstrdup(out) : NULL;
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return copy;
}

int
vim_log_user_event(struct vconn *c, const struct vmoref *entity, const char *msg)
{
	struct vim__LogUserEventResponse r;
	int rc;

	VCALL(c, 0, "LogUserEvent", rc,
	    soap_call_vim__LogUserEvent(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_EVENT_MANAGER]),
	    vmoref_soap(c->soap, entity), (char *)msg, &r));
	vconn_reset(c);
	return rc;
}

