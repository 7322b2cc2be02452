/*
 * OVHcloud API v1, the pure half: endpoints, credentials (environment and
 * ovh.conf, as OVHcloud's own clients read them), request signatures,
 * thumbprint and error formatting.  No I/O but reading ovh.conf.
 */
#ifndef VMCRYPT_OVH_H
#define VMCRYPT_OVH_H

#include <stddef.h>

#include <json-c/json.h>

/* "ovh-eu" -> "https://eu.api.ovh.com/1.0"; an https:// URL is taken as
 * it is (no trailing slash).  NULL for an unknown name. */
const char *ovh_endpoint_url(const char *name_or_url, char *buf, size_t len);

struct ovh_creds {
	char	endpoint[256];		/* name or URL, "" if none was given */
	char	application_key[128];
	char	application_secret[128];
	char	consumer_key[128];
	char	source[512];		/* where they came from, for messages */
};

/*
 * Fills c the way python-ovh and go-ovh do: each value from its
 * environment variable (OVH_ENDPOINT, OVH_APPLICATION_KEY,
 * OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY) if set, else from the ovh.conf
 * files, read in increasing priority /etc/ovh.conf, ~/.ovh.conf,
 * ./ovh.conf: [default] endpoint=..., then the endpoint's own section.
 * endpoint, if not NULL (--endpoint), wins over both and names the section.
 * conf_override, if not NULL, is the only file read.  Returns 0, or -1
 * with one line in err (an unreadable or malformed file).  Missing values
 * are not an error here: the caller knows which it needs.
 */
int	ovh_creds_load(struct ovh_creds *c, const char *conf_override,
	    const char *endpoint, char *err, size_t errlen);

/*
 * Parses exactly one JSON value from buf[0, len) (whitespace around it
 * allowed; buf need not be NUL-terminated; nothing over max bytes).
 * Returns 0 with *out (put it), or -1.
 */
int	ovh_json_parse(const char *buf, size_t len, size_t max, json_object **out);

/*
 * The X-Ovh-Signature value: "$1$" + hex(SHA1(secret+"+"+ck+"+"+METHOD+
 * "+"+url+"+"+body+"+"+timestamp)).  out needs 44 bytes.
 */
void	ovh_sign(const char *secret, const char *consumer_key, const char *method,
	    const char *url, const char *body, long long timestamp, char out[44]);

/*
 * A SHA-1 thumbprint as OVHcloud takes it: 20 hex pairs, upper-case,
 * joined by colons.  Accepts colons, dashes, spaces or nothing between
 * pairs, and openssl's "sha1 Fingerprint=" prefix.  -1 if it is not 20
 * bytes of hex.
 */
int	ovh_thumbprint_norm(const char *in, char out[60]);

/* 1 if s is a dotted IPv4 address (the API takes nothing else). */
int	ovh_is_ipv4(const char *s);

/*
 * One line from an error response: the HTTP status, OVH's errorCode or
 * class, its message, and the query id, e.g. "403 NOT_GRANTED_CALL: This
 * call has not been granted (X-Ovh-QueryID EU.ext-3.abc)".  The body may
 * be anything (JSON or not); it is never trusted to be short or printable.
 */
void	ovh_error_line(int status, const char *body, size_t bodylen,
	    const char *query_id, char *out, size_t len);
/* The errorCode (or "") of an error body. */
void	ovh_error_code(const char *body, size_t bodylen, char *out, size_t len);

/* The consumer key's access rules: what these commands call, no more. */
struct ovh_rule { const char *method, *path; };
extern const struct ovh_rule ovh_access_rules[];
extern const size_t ovh_naccess_rules;

#endif
