/*
 * Decoding what vCenter says about its key providers (kmsinfo.h): pure,
 * fed real vCenter answers by the tests and fuzzed (tests/fuzz/fuzz_soap.c).
 */
#include "kmsinfo.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- */
/* parsing                                                           */

time_t
kms_parse_time(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	struct tm tm;
	const char *p;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &sec, &n) != 6 || n < 19)
		return (time_t)-1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return (time_t)-1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int oh, om, m = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || p[6] != '\0')
			return (time_t)-1;
		long off = (long)oh * 3600 + (long)om * 60;
		t += *p == '+' ? -off : off;
	} else if (!(*p == '\0' || (*p == 'Z' && p[1] == '\0'))) {
		return (time_t)-1;
	}
	return t;
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static int
tri_bool(const xnode *n, const char *name)
{
	const char *v = xnode_path_text(n, name);
	if (v == NULL)
		return KMS_UNKNOWN;
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static void
parse_cert(const xnode *n, time_t now, struct kms_cert *c)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	if (n == NULL)
		return;
	c->present = 1;
	copy(c->subject, sizeof(c->subject), xnode_path_text(n, "subject"));
	copy(c->not_after, sizeof(c->not_after), xnode_path_text(n, "notAfter"));
	/* secondsBeforeExpire is omitted when zero: notAfter is the truth. */
	time_t na = kms_parse_time(c->not_after);
	if (na != (time_t)-1)
		c->expires_in = (long long)(na - now);
	else if ((v = xnode_path_text(n, "secondsBeforeExpire")) != NULL)
		c->expires_in = strtoll(v, NULL, 10);
	else
		c->present = 0;		/* nothing to judge */
}

void
kms_status_parse(const xnode *result, time_t now, struct kms_cluster_status **out,
    size_t *n)
{
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (result == NULL)
		return;
	for (const xnode *cs = xnode_first(result); cs; cs = xnode_next(cs)) {
		if (strcmp(xnode_name(cs), "CryptoManagerKmipClusterStatus") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		struct kms_cluster_status *st = &(*out)[(*n)++];
		memset(st, 0, sizeof(*st));
		copy(st->id, sizeof(st->id), xnode_path_text(cs, "clusterId.id"));
		copy(st->overall, sizeof(st->overall), xnode_path_text(cs, "overallStatus"));
		parse_cert(xnode_child(cs, "clientCertInfo"), now, &st->client_cert);
		size_t ns = xnode_count(cs, "servers");
		if (ns > 0)
			st->servers = xcalloc(ns, sizeof(*st->servers));
		for (const xnode *s = xnode_first(cs); s; s = xnode_next(s)) {
			if (strcmp(xnode_name(s), "servers") != 0 || st->nservers >= ns)
				continue;
			struct kms_server_status *ss = &st->servers[st->nservers++];
			copy(ss->name, sizeof(ss->name), xnode_path_text(s, "name"));
			copy(ss->status, sizeof(ss->status), xnode_path_text(s, "status"));
			copy(ss->connection, sizeof(ss->connection),
			    xnode_path_text(s, "connectionStatus"));
			ss->client_trust_server = tri_bool(s, "clientTrustServer");
			ss->server_trust_client = tri_bool(s, "serverTrustClient");
			parse_cert(xnode_child(s, "certInfo"), now, &ss->cert);
		}
	}
}

void
kms_wrapping_parse(const xnode *ki, const char *default_key_type, struct kms_wrapping *w)
{
	memset(w, 0, sizeof(*w));
	copy(w->default_key_type, sizeof(w->default_key_type), default_key_type);
	if (ki == NULL)
		return;
	copy(w->type, sizeof(w->type), xnode_type(ki));
	if (strcmp(w->type, "KmipClusterInfoWrappingRotationIntervalKeyInfo") == 0)
		w->kind = KMS_WRAP_ROTATING;
	else if (strcmp(w->type, "KmipClusterInfoWrappingKeyIdKeyInfo") == 0)
		w->kind = KMS_WRAP_FIXED;
	else
		w->kind = KMS_WRAP_OTHER;
	copy(w->key_id, sizeof(w->key_id), xnode_path_text(ki, "keyId"));
	copy(w->last_rotation, sizeof(w->last_rotation), xnode_path_text(ki, "lastRotation"));
	copy(w->configured, sizeof(w->configured), xnode_path_text(ki, "configuredTime"));
	const char *v = xnode_path_text(ki, "rotationInterval");
	char *end = NULL;
	long d = v ? strtol(v, &end, 10) : 0;
	if (v != NULL && end != v && *end == '\0' && d > 0 && d <= 100000)
		w->rotation_days = (int)d;
}

void
kms_status_free(struct kms_cluster_status *st, size_t n)
{
	for (size_t i = 0; st && i < n; i++)
		free(st[i].servers);
	free(st);
}

void
kms_clusters_free(struct kms_cluster *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].servers);
		free(c[i].entities);
	}
	free(c);
}

void
kms_release_of(const char *v, char *out, size_t len)
{
	size_t dots = 0, i = 0;

	for (; v[i] && i + 1 < len && !(v[i] == '.' && ++dots == 3); i++)
		out[i] = v[i];
	out[i] = '\0';
}

int
kms_all_trust(const struct kms_cluster_status *cs, enum kms_trust way)
{
	if (cs == NULL || cs->nservers == 0)
		return 0;
	for (size_t i = 0; i < cs->nservers; i++)
		if ((way == KMS_TRUSTS_VC ? cs->servers[i].server_trust_client :
		    cs->servers[i].client_trust_server) != 1)
			return 0;
	return 1;
}
