#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

/* The schema, embedded by the Makefile from policies/vmcrypt-agent.xsd. */
extern const unsigned char config_xsd[];
extern const size_t config_xsd_len;

struct errbuf {
	char	*buf;
	size_t	 len;
	size_t	 used;
	int	 count;
	const char *file;
};

static void
errbuf_add(struct errbuf *eb, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	eb->count++;
	if (eb->used + 1 >= eb->len)
		return;
	if (line > 0)
		n = snprintf(eb->buf + eb->used, eb->len - eb->used, "%s:%d: ",
		    eb->file, line);
	else
		n = snprintf(eb->buf + eb->used, eb->len - eb->used, "%s: ",
		    eb->file);
	if (n < 0 || (size_t)n >= eb->len - eb->used) {
		eb->used = eb->len - 1;
		return;
	}
	eb->used += n;
	va_start(ap, fmt);
	n = vsnprintf(eb->buf + eb->used, eb->len - eb->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= eb->len - eb->used) {
		eb->used = eb->len - 1;
		return;
	}
	eb->used += n;
	if (eb->used + 1 < eb->len) {
		eb->buf[eb->used++] = '\n';
		eb->buf[eb->used] = '\0';
	}
}

/* libxml2 reports parser and schema errors here, with the line number. */
static void
xml_error(void *ctx, const xmlError *e)
{
	struct errbuf *eb = ctx;
	char msg[512];
	size_t n;

	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "invalid XML");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	errbuf_add(eb, e->line, "%s", msg);
}

static char *
attr(xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s;
	if (v == NULL)
		return NULL;
	s = xstrdup((const char *)v);
	xmlFree(v);
	return s;
}

static int
attr_bool(xmlNode *n, const char *name, int dflt)
{
	char *v = attr(n, name);
	int r = dflt;
	if (v != NULL) {
		r = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		free(v);
	}
	return r;
}

static int
attr_int(xmlNode *n, const char *name, int dflt)
{
	char *v = attr(n, name);
	int r = dflt;
	if (v != NULL) {
		r = (int)strtol(v, NULL, 10);	/* range checked by the XSD */
		free(v);
	}
	return r;
}

static char *
attr_or(xmlNode *n, const char *name, const char *dflt)
{
	char *v = attr(n, name);
	return v ? v : xstrdup_or_null(dflt);
}

static char *
text(xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *s = xstrdup(v ? (const char *)v : "");
	xmlFree(v);
	return s;
}

static int
is(xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0;
}

static void
upcase(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s -= 'a' - 'A';
}

/* Checks the schema cannot express; each names the line it is about. */
static void
config_semantic(struct config *c, xmlNode *vc, xmlNode *tls, xmlNode *pol,
    xmlNode *ha, struct errbuf *eb)
{
	const char *p;

	p = c->vc_url + strlen("https://");
	if (strchr(p, '/') == NULL || strcmp(strchr(p, '/'), "/sdk") != 0)
		errbuf_add(eb, xmlGetLineNo(vc),
		    "vcenter url '%s' must end in /sdk (expected https://HOST[:PORT]/sdk)",
		    c->vc_url);
	if (tls != NULL) {
		int n = (c->tls.ca_file != NULL) + (c->tls.thumbprint != NULL) +
		    (c->tls.mode == TLS_INSECURE);
		if (n > 1)
			errbuf_add(eb, xmlGetLineNo(tls),
			    "tls: give one of ca-file, thumbprint or insecure=\"true\", not %d", n);
		if (c->tls.ca_file != NULL && access(c->tls.ca_file, R_OK) != 0)
			errbuf_add(eb, xmlGetLineNo(tls),
			    "tls ca-file '%s' cannot be read: %s (expected a PEM file of CA certificates)",
			    c->tls.ca_file, strerror(errno));
	}
	if (c->nkms_default_for > 0 && c->kms_cluster == NULL)
		errbuf_add(eb, 0, "kms default-for needs <kms cluster=\"NAME\">: the key "
		    "provider to make the default of those clusters");
	if (c->okms_id != NULL && c->kms_cluster == NULL)
		errbuf_add(eb, 0, "kms okms needs <kms cluster=\"NAME\">: the key provider "
		    "the OKMS becomes in vCenter");
	if (pol != NULL && c->policy_name == NULL && c->policy_id == NULL)
		errbuf_add(eb, xmlGetLineNo(pol),
		    "encryption-policy needs a name or an id attribute");
	if (c->heartbeat_seconds * 2 > c->lease_seconds)
		errbuf_add(eb, ha ? xmlGetLineNo(ha) : 0, "ha: heartbeat-seconds (%d) must be at most "
		    "half of lease-seconds (%d), so that one late heartbeat does not lose the "
		    "lease", c->heartbeat_seconds, c->lease_seconds);
	for (size_t i = 0; i < c->nexclusions; i++) {
		if (c->exclusions[i].kind == EXCL_FOLDER &&
		    strlen(c->exclusions[i].pattern) > 1 &&
		    c->exclusions[i].pattern[strlen(c->exclusions[i].pattern) - 1] == '/')
			errbuf_add(eb, 0, "exclusion folder '%s' must not end in '/'",
			    c->exclusions[i].pattern);
	}
}

/* The file parsed and validated against the embedded schema, or NULL
 * (every problem in eb). */
static xmlDocPtr
load_valid(const char *path, struct errbuf *eb)
{
	xmlSchemaParserCtxtPtr spctx;
	xmlSchemaPtr schema;
	xmlSchemaValidCtxtPtr vctx;
	xmlParserCtxtPtr pctx;
	xmlDocPtr doc = NULL;
	int fd;

	/* Said plainly, not as libxml2's "failed to load external entity". */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(eb->buf, eb->len, "cannot open %s: %s", path, strerror(errno));
		eb->used = strlen(eb->buf);
		eb->count++;
		return NULL;
	}
	close(fd);
	spctx = xmlSchemaNewMemParserCtxt((const char *)config_xsd, (int)config_xsd_len);
	schema = spctx ? xmlSchemaParse(spctx) : NULL;
	xmlSchemaFreeParserCtxt(spctx);
	if (schema == NULL) {
		errbuf_add(eb, 0, "internal error: embedded schema does not load");
		return NULL;
	}
	if ((pctx = xmlNewParserCtxt()) == NULL)
		fatalx("out of memory");
	xmlSetStructuredErrorFunc(eb, (xmlStructuredErrorFunc)xml_error);
	/* No network, no entity expansion, no DTD loading: a config is data. */
	doc = xmlCtxtReadFile(pctx, path, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING);
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (doc == NULL && eb->count == 0)
		errbuf_add(eb, 0, "cannot read: %s", strerror(errno));
	xmlFreeParserCtxt(pctx);
	if (doc != NULL && eb->count == 0) {
		if ((vctx = xmlSchemaNewValidCtxt(schema)) == NULL)
			fatalx("out of memory");
		xmlSchemaSetValidStructuredErrors(vctx, (xmlStructuredErrorFunc)xml_error, eb);
		if (xmlSchemaValidateDoc(vctx, doc) != 0 && eb->count == 0)
			errbuf_add(eb, 0, "does not match the configuration schema");
		xmlSchemaFreeValidCtxt(vctx);
	}
	xmlSchemaFree(schema);
	if (eb->count > 0) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* The nodes config_semantic() names in its errors. */
struct where {
	xmlNode	*vc, *tls, *pol, *ha, *rekey;
};

static void
read_vcenter(struct config *c, xmlNode *n, struct where *w)
{
	w->vc = n;
	c->vc_url = attr(n, "url");
	c->vc_user = attr(n, "user");
	c->password_file = attr(n, "password-file");
	c->pbm_path = attr(n, "pbm-path");
	c->timeout = attr_int(n, "timeout", 60);
	for (xmlNode *t = n->children; t; t = t->next) {
		if (!is(t, "tls"))
			continue;
		w->tls = t;
		c->tls.ca_file = attr(t, "ca-file");
		c->tls.thumbprint = attr(t, "thumbprint");
		upcase(c->tls.thumbprint);
		if (attr_bool(t, "insecure", 0))
			c->tls.mode = TLS_INSECURE;
		else if (c->tls.thumbprint)
			c->tls.mode = TLS_PINNED;
		else if (c->tls.ca_file)
			c->tls.mode = TLS_CA_FILE;
	}
}

static void
read_kms(struct config *c, xmlNode *n)
{
	c->kms_cluster = attr(n, "cluster");
	c->kms_require_default = attr_bool(n, "require-default", 1);
	c->kms_health_interval = attr_int(n, "health-interval", 300);
	for (xmlNode *s = n->children; s; s = s->next) {
		if (is(s, "default-for")) {
			c->kms_default_for = xreallocarray(c->kms_default_for,
			    c->nkms_default_for + 1, sizeof(*c->kms_default_for));
			c->kms_default_for[c->nkms_default_for++] = attr(s, "path");
			continue;
		}
		if (is(s, "okms")) {
			c->okms_id = attr(s, "id");
			c->kms_renew_days = attr_int(s, "renew-days", 30);
			for (xmlNode *u = s->children; u; u = u->next) {
				if (!is(u, "identity"))
					continue;
				c->okms_identities = xreallocarray(c->okms_identities,
				    c->nokms_identities + 1, sizeof(*c->okms_identities));
				c->okms_identities[c->nokms_identities++] = attr(u, "urn");
			}
			continue;
		}
		if (is(s, "kmip-client")) {
			c->kmip_address = attr(s, "address");
			c->kmip_port = attr_int(s, "port", 5696);
			c->kmip_cert = attr(s, "cert");
			c->kmip_key = attr(s, "key");
			c->kmip_ca = attr(s, "ca");
			continue;
		}
		if (!is(s, "server"))
			continue;
		c->kms_servers = xreallocarray(c->kms_servers, c->nkms_servers + 1,
		    sizeof(*c->kms_servers));
		struct kms_server_expect *k = &c->kms_servers[c->nkms_servers++];
		k->name = attr(s, "name");
		k->address = attr(s, "address");
		k->port = attr_int(s, "port", 5696);
	}
}

static void
read_enforce(struct config *c, xmlNode *n)
{
	c->min_hw_version = attr_int(n, "min-hw-version", 13);
	c->encrypt = attr_bool(n, "encrypt", 1);
	c->migrate_encryption = attr(n, "migrate-encryption");
	c->ft_encryption = attr(n, "ft-encryption");
	c->templates = attr(n, "templates");
	c->dry_run = attr_bool(n, "dry-run", 0);
	c->attach_policy = attr_bool(n, "attach-policy", 0);
	char *vs = attr(n, "vsan-encrypted");
	c->vsan_skip = vs == NULL || strcmp(vs, "skip") == 0;
	free(vs);
	char *vt = attr(n, "vtpm-disks");
	c->vtpm_report = vt != NULL && strcmp(vt, "report") == 0;
	free(vt);
	char *rk = attr(n, "rekey");
	c->rekey_shallow = rk != NULL && strcmp(rk, "shallow") == 0;
	free(rk);
	c->max_in_flight = attr_int(n, "max-in-flight", 8);
	c->reconcile_interval = attr_int(n, "reconcile-interval", 3600);
}

/* "365d", "30s": seconds, or -1 (the schema allows only these forms). */
static long
duration(const char *s)
{
	char *end;
	long v = strtol(s ? s : "", &end, 10);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 's': return v;
	case 'm': return v * 60;
	case 'h': return v * 3600;
	case 'd': return v * 86400;
	default: return -1;
	}
}

/* "HH:MM[:SS]" as seconds of the day. */
static int
clock_of(const char *s)
{
	int h = 0, m = 0, sec = 0;

	if (sscanf(s, "%d:%d:%d", &h, &m, &sec) < 2)
		return -1;
	return h * 3600 + m * 60 + sec;
}

static void
read_rekey(struct config *c, xmlNode *n, struct where *w)
{
	char *age = attr(n, "max-key-age");
	w->rekey = n;
	c->rekey_max_age = duration(age);
	free(age);
	c->rekey_per_hour = attr_int(n, "max-per-hour", 20);
	c->rekey_window = attr(n, "window");
	if (c->rekey_window != NULL) {
		const char *dash = strchr(c->rekey_window, '-');
		c->rekey_win_from = clock_of(c->rekey_window);
		c->rekey_win_to = dash ? clock_of(dash + 1) : -1;
	}
}

static void
read_exclusions(struct config *c, xmlNode *n)
{
	for (xmlNode *x = n->children; x; x = x->next) {
		if (x->type != XML_ELEMENT_NODE)
			continue;
		c->exclusions = xreallocarray(c->exclusions, c->nexclusions + 1,
		    sizeof(*c->exclusions));
		struct exclusion *e = &c->exclusions[c->nexclusions++];
		e->value = NULL;
		if (is(x, "name-pattern")) {
			e->kind = EXCL_NAME_PATTERN;
			e->pattern = text(x);
		} else if (is(x, "folder")) {
			e->kind = EXCL_FOLDER;
			e->pattern = text(x);
		} else {
			e->kind = EXCL_CUSTOM_ATTR;
			e->pattern = attr(x, "name");
			e->value = attr_or(x, "value", "true");
		}
	}
}

static void
default_str(char **f, const char *v)
{
	if (*f == NULL)
		*f = xstrdup(v);
}

/* The validated document as a configuration. */
static struct config *
config_from(xmlDocPtr doc, const char *path, struct where *w)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	/* Defaults for optional elements; the XSD supplies attribute defaults
	 * only when the element is present. */
	c->kms_require_default = 1;
	c->kms_health_interval = 300;
	c->kms_renew_days = 30;
	c->min_hw_version = 13;
	c->encrypt = 1;
	c->max_in_flight = 8;
	c->reconcile_interval = 3600;
	c->vsan_skip = 1;
	c->ha_enabled = 1;
	c->lease_seconds = 15;
	c->heartbeat_seconds = 5;
	c->canary_timeout = 600;
	c->exposure_slo = 60;
	c->rekey_win_from = c->rekey_win_to = -1;
	c->evidence_max_bytes = 64L * 1024 * 1024;
	for (xmlNode *n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
		if (is(n, "vcenter")) {
			read_vcenter(c, n, w);
		} else if (is(n, "encryption-policy")) {
			w->pol = n;
			c->policy_name = attr(n, "name");
			c->policy_id = attr(n, "id");
		} else if (is(n, "kms")) {
			read_kms(c, n);
		} else if (is(n, "enforce")) {
			read_enforce(c, n);
		} else if (is(n, "rekey")) {
			read_rekey(c, n, w);
		} else if (is(n, "exclusions")) {
			read_exclusions(c, n);
		} else if (is(n, "state-dir")) {
			c->state_dir = text(n);
		} else if (is(n, "log")) {
			c->log_level = attr(n, "level");
		} else if (is(n, "metrics")) {
			c->metrics_listen = attr_or(n, "listen", "127.0.0.1:9480");
		} else if (is(n, "ha")) {
			w->ha = n;
			c->ha_enabled = attr_bool(n, "enabled", 1);
			c->lease_seconds = attr_int(n, "lease-seconds", 15);
			c->heartbeat_seconds = attr_int(n, "heartbeat-seconds", 5);
		} else if (is(n, "evidence")) {
			c->exposure_slo = attr_int(n, "exposure-slo-seconds", 60);
			c->evidence_max_bytes = (long)attr_int(n, "max-file-mb", 64) * 1024 * 1024;
		} else if (is(n, "canary")) {
			c->canary_folder = attr(n, "folder");
			c->canary_pool = attr(n, "pool");
			c->canary_datastore = attr(n, "datastore");
			c->canary_timeout = attr_int(n, "timeout", 600);
		} else if (is(n, "trace-soap")) {
			c->trace_dir = attr(n, "dir");
			c->trace_keep = attr_int(n, "keep", 2000);
		}
	}
	default_str(&c->pbm_path, "/pbm/sdk");
	default_str(&c->migrate_encryption, "required");
	default_str(&c->ft_encryption, "leave");
	default_str(&c->templates, "report");
	/* Under systemd, StateDirectory= is the one writable place
	 * (ProtectSystem=strict): it wins, and each instance of the template
	 * unit gets its own. */
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd != NULL && sd[0] == '/' && strchr(sd, ':') == NULL) {
		free(c->state_dir);
		c->state_dir = xstrdup(sd);
	}
	default_str(&c->state_dir, "/var/lib/vmcrypt-agent");
	default_str(&c->log_level, "info");
	default_str(&c->metrics_listen, "127.0.0.1:9480");
	if (c->policy_id == NULL)
		default_str(&c->policy_name, "VM Encryption Policy");
	return c;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct errbuf eb = { err, errlen, 0, 0, path };
	struct where w = { NULL, NULL, NULL, NULL, NULL };
	xmlDocPtr doc;

	if (errlen > 0)
		err[0] = '\0';
	*out = NULL;
	if ((doc = load_valid(path, &eb)) == NULL)
		return -1;
	struct config *c = config_from(doc, path, &w);
	config_semantic(c, w.vc, w.tls, w.pol, w.ha, &eb);
	if (w.rekey != NULL && c->rekey_max_age <= 0)
		errbuf_add(&eb, xmlGetLineNo(w.rekey), "rekey max-key-age must be more than 0 "
		    "(e.g. \"365d\"; units s, m, h, d)");
	if (w.rekey != NULL && c->rekey_window != NULL &&
	    c->rekey_win_from == c->rekey_win_to)
		errbuf_add(&eb, xmlGetLineNo(w.rekey), "rekey window '%s' is empty: its start "
		    "and end are the same time (leave window out for any time of day)",
		    c->rekey_window);
	xmlFreeDoc(doc);
	if (eb.count > 0) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->vc_url);
	free(c->vc_user);
	free(c->password_file);
	free(c->pbm_path);
	free(c->tls.ca_file);
	free(c->tls.thumbprint);
	free(c->policy_name);
	free(c->policy_id);
	free(c->kms_cluster);
	for (size_t i = 0; i < c->nkms_servers; i++) {
		free(c->kms_servers[i].name);
		free(c->kms_servers[i].address);
	}
	free(c->kms_servers);
	for (size_t i = 0; i < c->nkms_default_for; i++)
		free(c->kms_default_for[i]);
	free(c->kms_default_for);
	free(c->okms_id);
	for (size_t i = 0; i < c->nokms_identities; i++)
		free(c->okms_identities[i]);
	free(c->okms_identities);
	free(c->migrate_encryption);
	free(c->ft_encryption);
	free(c->templates);
	free(c->rekey_window);
	free(c->kmip_address);
	free(c->kmip_cert);
	free(c->kmip_key);
	free(c->kmip_ca);
	for (size_t i = 0; i < c->nexclusions; i++) {
		free(c->exclusions[i].pattern);
		free(c->exclusions[i].value);
	}
	free(c->exclusions);
	free(c->canary_folder);
	free(c->canary_pool);
	free(c->canary_datastore);
	free(c->state_dir);
	free(c->trace_dir);
	free(c->log_level);
	free(c->metrics_listen);
	free(c);
}

struct cfgref {
	atomic_int	 refs;
	struct config	*c;
};

struct cfgref *
cfgref_new(struct config *c)
{
	struct cfgref *r = xcalloc(1, sizeof(*r));
	atomic_init(&r->refs, 1);
	r->c = c;
	return r;
}

struct cfgref *
cfgref_hold(struct cfgref *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void
cfgref_drop(struct cfgref *r)
{
	if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	config_free(r->c);
	free(r);
}

const struct config *
cfgref_get(const struct cfgref *r)
{
	return r->c;
}
