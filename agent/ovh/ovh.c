/*
 * OVHcloud API v1, the pure half (see ovh.h).  ovh.conf is read with
 * inih, the INI parser Debian ships (libinih), in the same format and
 * places as python-ovh's configparser reading.
 */
#include "ovh.h"

#include "smallfile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>

static const struct {
	const char *name, *url;
} endpoints[] = {
	{ "ovh-eu", "https://eu.api.ovh.com/1.0" },
	{ "ovh-ca", "https://ca.api.ovh.com/1.0" },
	{ "ovh-us", "https://api.us.ovhcloud.com/1.0" },
	{ "kimsufi-eu", "https://eu.api.kimsufi.com/1.0" },
	{ "kimsufi-ca", "https://ca.api.kimsufi.com/1.0" },
	{ "soyoustart-eu", "https://eu.api.soyoustart.com/1.0" },
	{ "soyoustart-ca", "https://ca.api.soyoustart.com/1.0" },
};

const char *
ovh_endpoint_url(const char *s, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (strcmp(s, endpoints[i].name) == 0) {
			snprintf(buf, len, "%s", endpoints[i].url);
			return buf;
		}
	if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || s[8] == '/' ||
	    strlen(s) >= len || strpbrk(s, " \t\r\n?#") != NULL)
		return NULL;
	snprintf(buf, len, "%s", s);
	size_t n = strlen(buf);
	while (n > 8 && buf[n - 1] == '/')
		buf[--n] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- */
/* credentials                                                       */

#define CONF_MAX	64

struct conf {
	struct { char section[64], key[64], value[256]; } e[CONF_MAX];
	size_t	n;
	int	overflow;
	int	secrets;	/* application_secret / consumer_key lines seen */
};

static int
conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf *c = user;
	size_t i;

	if (strcasecmp(name, "application_secret") == 0 ||
	    strcasecmp(name, "consumer_key") == 0)
		c->secrets++;
	for (i = 0; i < c->n; i++)
		if (strcasecmp(c->e[i].section, section) == 0 &&
		    strcasecmp(c->e[i].key, name) == 0)
			break;
	if (i == c->n) {
		if (c->n == CONF_MAX) {
			c->overflow = 1;
			return 1;
		}
		c->n++;
	}
	snprintf(c->e[i].section, sizeof(c->e[i].section), "%s", section);
	snprintf(c->e[i].key, sizeof(c->e[i].key), "%s", name);
	if (snprintf(c->e[i].value, sizeof(c->e[i].value), "%s", value) >=
	    (int)sizeof(c->e[i].value))
		return 0;	/* a value this long is not a key: say so */
	return 1;
}

static const char *
conf_get(const struct conf *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].section, section) == 0 &&
		    strcasecmp(c->e[i].key, key) == 0)
			return c->e[i].value;
	return NULL;
}

/* Reads one file if it exists; 0, or -1 with err. */
static int
conf_read(struct conf *c, const char *path, int must_exist, struct ovh_creds *cr,
    char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct stat st;

	if (f == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	int secrets = c->secrets;
	int line = ini_parse_file(f, conf_handler, c);
	fclose(f);
	/* Secrets others can read are refused, not used with a warning. */
	if (c->secrets > secrets && (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "refusing %s: it holds API secrets and is readable "
		    "by group or others (mode %04o); run: chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: not a valid ovh.conf line (expected "
		    "[section] or key = value)", path, line);
		return -1;
	}
	if (c->overflow) {
		snprintf(err, errlen, "%s: too many entries for an ovh.conf", path);
		return -1;
	}
	size_t n = strlen(cr->source);
	snprintf(cr->source + n, sizeof(cr->source) - n, "%s%s", n ? ", " : "", path);
	return 0;
}

/* A systemd credential (vmcrypt-agent credential set NAME): the service
 * gets its decrypted copy in $CREDENTIALS_DIRECTORY.  1 if dst was set. */
static int
from_credential(char *dst, size_t len, const char *name)
{
	const char *d = getenv("CREDENTIALS_DIRECTORY");
	char path[1024], err[256];

	if (d == NULL || d[0] != '/')
		return 0;
	snprintf(path, sizeof(path), "%s/%s", d, name);
	if (access(path, F_OK) != 0)
		return 0;
	char *v = smallfile_read(path, 1, err, sizeof(err));
	if (v == NULL)
		return 0;
	v[strcspn(v, "\r\n")] = '\0';
	snprintf(dst, len, "%s", v);
	explicit_bzero(v, strlen(v));
	free(v);
	return dst[0] != '\0';
}

static void
pick(char *dst, size_t len, const char *env, const struct conf *c,
    const char *section, const char *key)
{
	const char *v = getenv(env);
	if (v == NULL || v[0] == '\0')
		v = section ? conf_get(c, section, key) : NULL;
	snprintf(dst, len, "%s", v ? v : "");
}

int
ovh_creds_load(struct ovh_creds *cr, const char *override, const char *endpoint,
    char *err, size_t errlen)
{
	struct conf *c = calloc(1, sizeof(*c));
	char home[512];
	int rc = 0;

	memset(cr, 0, sizeof(*cr));
	if (c == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	if (override != NULL) {
		rc = conf_read(c, override, 1, cr, err, errlen);
	} else {
		const char *h = getenv("HOME");
		rc = conf_read(c, "/etc/ovh.conf", 0, cr, err, errlen);
		if (rc == 0 && h != NULL && h[0] != '\0') {
			snprintf(home, sizeof(home), "%s/.ovh.conf", h);
			rc = conf_read(c, home, 0, cr, err, errlen);
		}
		if (rc == 0)
			rc = conf_read(c, "ovh.conf", 0, cr, err, errlen);
	}
	if (rc == 0) {
		if (endpoint != NULL)
			snprintf(cr->endpoint, sizeof(cr->endpoint), "%s", endpoint);
		else
			pick(cr->endpoint, sizeof(cr->endpoint), "OVH_ENDPOINT", c, "default",
			    "endpoint");
		const char *sec = cr->endpoint[0] ? cr->endpoint : NULL;
		pick(cr->application_key, sizeof(cr->application_key),
		    "OVH_APPLICATION_KEY", c, sec, "application_key");
		if (!from_credential(cr->application_secret, sizeof(cr->application_secret),
		    "ovh.application-secret"))
			pick(cr->application_secret, sizeof(cr->application_secret),
			    "OVH_APPLICATION_SECRET", c, sec, "application_secret");
		if (!from_credential(cr->consumer_key, sizeof(cr->consumer_key),
		    "ovh.consumer-key"))
			pick(cr->consumer_key, sizeof(cr->consumer_key), "OVH_CONSUMER_KEY", c,
			    sec, "consumer_key");
	}
	free(c);
	return rc;
}

/* ---------------------------------------------------------------- */
/* signature                                                         */

void
ovh_sign(const char *secret, const char *ck, const char *method, const char *url,
    const char *body, long long ts, char out[44])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char tsbuf[24];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	snprintf(tsbuf, sizeof(tsbuf), "%lld", ts);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		out[0] = '\0';
		return;
	}
	const char *parts[] = { secret, ck, method, url, body ? body : "", tsbuf };
	for (size_t i = 0; i < 6; i++) {
		if (i > 0)
			EVP_DigestUpdate(ctx, "+", 1);
		EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(out, "$1$", 3);
	for (unsigned int i = 0; i < mdlen && i < 20; i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

/* ---------------------------------------------------------------- */
/* checks and formatting                                             */

int
ovh_thumbprint_norm(const char *in, char out[60])
{
	const char *p = in;
	int n = 0;

	if (strncasecmp(p, "sha1 fingerprint=", 17) == 0)
		p += 17;
	while (*p && n < 20) {
		if (*p == ':' || *p == '-' || *p == ' ') {
			if (n == 0)
				return -1;
			p++;
		}
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -1;
		snprintf(out + 3 * n, 4, "%c%c%s", toupper((unsigned char)p[0]),
		    toupper((unsigned char)p[1]), n < 19 ? ":" : "");
		p += 2;
		n++;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	return n == 20 && *p == '\0' ? 0 : -1;
}

int
ovh_is_ipv4(const char *s)
{
	unsigned char b[4];
	return inet_pton(AF_INET, s, b) == 1;
}

/* Printable, bounded copy of untrusted text. */
static void
clean(char *dst, size_t len, const char *src, size_t srclen)
{
	size_t j = 0;
	for (size_t i = 0; i < srclen && src[i] && j + 1 < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[j++] = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' :
		    ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[j] = '\0';
}

int
ovh_json_parse(const char *buf, size_t len, size_t max, json_object **out)
{
	json_tokener *tok;
	char *copy;
	int rc = -1;

	*out = NULL;
	if (buf == NULL || len == 0 || len > max || len > INT32_MAX - 1 ||
	    memchr(buf, '\0', len) != NULL)
		return -1;
	/* NUL-terminated, and the NUL handed to the tokener: it ends a bare
	 * number ("1457018875"), which it would otherwise wait on. */
	if ((copy = malloc(len + 1)) == NULL || (tok = json_tokener_new()) == NULL) {
		free(copy);
		return -1;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	json_object *o = json_tokener_parse_ex(tok, copy, (int)len + 1);
	if (json_tokener_get_error(tok) == json_tokener_success) {
		size_t end = json_tokener_get_parse_end(tok);
		while (end < len && strchr(" \t\r\n", copy[end]) != NULL)
			end++;
		if (end >= len) {
			*out = o;
			o = NULL;
			rc = 0;
		}
	}
	json_object_put(o);
	json_tokener_free(tok);
	free(copy);
	return rc;
}

/* An error body as a JSON object, or NULL. */
static json_object *
parse_obj(const char *body, size_t len)
{
	json_object *o;
	if (ovh_json_parse(body, len, 1U << 20, &o) != 0)
		return NULL;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *
str_field(json_object *o, const char *k)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

void
ovh_error_code(const char *body, size_t len, char *out, size_t outlen)
{
	json_object *o = parse_obj(body, len);
	const char *c = str_field(o, "errorCode");
	clean(out, outlen, c ? c : "", c ? strlen(c) : 0);
	json_object_put(o);
}

void
ovh_error_line(int status, const char *body, size_t len, const char *qid, char *out,
    size_t outlen)
{
	json_object *o = parse_obj(body, len);
	const char *code = str_field(o, "errorCode"), *cls = str_field(o, "class");
	const char *msg = str_field(o, "message");
	char what[128], text[400], q[128] = "";

	clean(what, sizeof(what), code ? code : cls ? cls : "", code ? strlen(code) :
	    cls ? strlen(cls) : 0);
	if (msg != NULL)
		clean(text, sizeof(text), msg, strlen(msg));
	else if (o == NULL && body != NULL && len > 0)
		clean(text, sizeof(text), body, len < 200 ? len : 200);
	else
		snprintf(text, sizeof(text), "no error message");
	if (qid != NULL && qid[0] != '\0') {
		char cq[96];
		clean(cq, sizeof(cq), qid, strlen(qid));
		snprintf(q, sizeof(q), " (X-Ovh-QueryID %s)", cq);
	}
	snprintf(out, outlen, "HTTP %d%s%s: %s%s", status, what[0] ? " " : "", what, text, q);
	json_object_put(o);
}

const struct ovh_rule ovh_access_rules[] = {
	{ "GET", "/dedicatedCloud" },
	{ "GET", "/dedicatedCloud/*/vmEncryption" },
	{ "GET", "/dedicatedCloud/*/vmEncryption/kms" },
	{ "GET", "/dedicatedCloud/*/vmEncryption/kms/*" },
	{ "GET", "/dedicatedCloud/*/task/*" },
	{ "POST", "/dedicatedCloud/*/vmEncryption/kms" },
	{ "POST", "/dedicatedCloud/*/vmEncryption/kms/*/changeProperties" },
	/* `setup --okms`: the caller's identities, the OKMS and its
	 * credentials (API v2 rules name the path from the host root:
	 * an inference, okms-facts §2). */
	{ "GET", "/auth/details" },
	{ "GET", "/v2/okms/resource/*" },
	{ "POST", "/v2/okms/resource/*/credential" },
	/* `kms renew-client-cert`: this vCenter's old credential, once the
	 * new one works. */
	{ "DELETE", "/v2/okms/resource/*/credential/*" },
};
const size_t ovh_naccess_rules = sizeof(ovh_access_rules) / sizeof(ovh_access_rules[0]);
