/*
 * A signed report, checked (evidsig.h).  The signature file is report's
 * (reportout.c): the key id, the signature of the report's bytes, the
 * chain heads.  Every failure names the file it is about.
 */
#include "evidsig.h"

#include "evidence.h"
#include "sign.h"
#include "smallfile.h"
#include "xmalloc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPORT_MAX	(1L << 30)	/* a report read whole to check */
#define MAX_HEADS	64

struct head {
	const char	*dir, *vcenter, *hash;
	char		*real;		/* dir's realpath, NULL if it is gone */
	int		 anywhere;	/* no log walked is dir: look in each */
	long long	 seq;
	int		 found;		/* 1 the same record, -1 another hash there */
};

/* One log walked for the heads that name it. */
struct walk {
	struct head	*h;
	size_t		 n;
	const char	*real;
};

static int
walk_has(const struct walk *w, const struct head *h)
{
	return h->anywhere || (h->real && w->real && strcmp(h->real, w->real) == 0);
}

static const char *
str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

/* A record's "prev" is the hash of the record before it: the head seq S
 * is there with hash H if record S+1's prev is H, or S is the last. */
static int
on_record(void *arg, json_object *rec, const char *file, long line)
{
	struct walk *w = arg;
	json_object *v;
	long long seq = json_object_object_get_ex(rec, "seq", &v) ? json_object_get_int64(v) : 0;
	const char *prev = str(rec, "prev");

	(void)file;
	(void)line;
	for (size_t i = 0; i < w->n; i++)
		if (w->h[i].found <= 0 && walk_has(w, &w->h[i]) && w->h[i].seq + 1 == seq &&
		    prev != NULL)
			w->h[i].found = strcmp(prev, w->h[i].hash) == 0 ? 1 : -1;
	return 0;
}

static char *
read_report(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;

	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > REPORT_MAX) {
		snprintf(err, errlen, "%s: %s", path, f == NULL ? strerror(errno) :
		    "not a regular file of at most 1 GiB");
		if (f)
			fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || *len != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	return buf;
}

/* The signature file's heads into h (at most MAX_HEADS): their number, or
 * -1 with err. */
static long
heads_of(json_object *doc, const char *sigfile, struct head *h, char *err, size_t errlen)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(doc, "evidence", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "%s: no \"evidence\" list (not a report signature)", sigfile);
		return -1;
	}
	n = json_object_array_length(arr);
	if (n > MAX_HEADS) {
		snprintf(err, errlen, "%s: %zu evidence heads, at most %d", sigfile, n, MAX_HEADS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *seq;
		memset(&h[i], 0, sizeof(h[i]));
		h[i].dir = str(e, "dir");
		h[i].vcenter = str(e, "instance_uuid");
		h[i].hash = str(e, "hash");
		h[i].real = h[i].dir ? realpath(h[i].dir, NULL) : NULL;
		if (h[i].dir == NULL || h[i].hash == NULL || strlen(h[i].hash) != 64 ||
		    !json_object_object_get_ex(e, "seq", &seq) ||
		    (h[i].seq = json_object_get_int64(seq)) < 1) {
			snprintf(err, errlen, "%s: evidence head %zu is not {dir, seq, hash}",
			    sigfile, i + 1);
			for (size_t k = 0; k <= i; k++)
				free(h[k].real);
			return -1;
		}
	}
	return (long)n;
}

/* The signature over the report, by pubkey: 0, or -1 with err. */
static int
check_signature(const char *pubkey, const char *sigfile, const char *report,
    json_object *doc, const char *buf, size_t len, char *err, size_t errlen)
{
	struct sign_key *k;
	unsigned char sig[SIGN_ED25519_LEN + 4];
	char id[65];
	const char *alg = str(doc, "algorithm"), *kid = str(doc, "key_id");
	const char *b64 = str(doc, "signature");
	long n;
	int rc = -1;

	if ((k = sign_pubkey_load(pubkey, err, errlen)) == NULL)
		return -1;
	sign_key_id(k, id);
	if (alg == NULL || strcmp(alg, "Ed25519") != 0) {
		snprintf(err, errlen, "%s: algorithm %s, not Ed25519", sigfile, alg ? alg : "absent");
	} else if (b64 == NULL || (n = sign_unbase64(b64, sig, sizeof(sig))) !=
	    SIGN_ED25519_LEN) {
		snprintf(err, errlen, "%s: \"signature\" is not 64 bytes in base64", sigfile);
	} else if (kid != NULL && strcmp(kid, id) != 0) {
		snprintf(err, errlen, "%s: signed by key %s; %s is key %s", sigfile, kid, pubkey, id);
	} else if (!sign_check(k, buf, len, sig, SIGN_ED25519_LEN)) {
		snprintf(err, errlen, "%s: the signature in %s does not match its bytes (the "
		    "report was changed after it was signed)", report, sigfile);
	} else {
		rc = 0;
	}
	sign_key_free(k);
	return rc;
}

/* Each head in the logs as they are now: 0, or -1 with err. */
static int
check_heads(struct head *h, size_t nh, const char *buf, size_t len,
    const char *const *dirs, size_t nd, const char *sigfile, char *err, size_t errlen)
{
	char bad_file[4352], hash[65], why[2048];
	long bad_line;
	long long head;

	for (size_t i = 0; i < nh; i++)
		if (memmem(buf, len, h[i].hash, 64) == NULL) {
			snprintf(err, errlen, "%s: evidence head %s seq %lld (%s) is not in the "
			    "signed report", sigfile, h[i].dir, h[i].seq, h[i].hash);
			return -1;
		}
	size_t nw = nd ? nd : nh;
	char **real = xcalloc(nw ? nw : 1, sizeof(*real));
	int rc = -1;
	for (size_t d = 0; d < nw; d++)
		real[d] = realpath(nd ? dirs[d] : h[d].dir, NULL);
	for (size_t i = 0; i < nh; i++) {
		h[i].anywhere = 1;
		for (size_t d = 0; d < nw && h[i].anywhere; d++)
			h[i].anywhere = !(h[i].real && real[d] && strcmp(h[i].real, real[d]) == 0);
	}
	for (size_t d = 0; d < nw; d++) {
		const char *dir = nd ? dirs[d] : h[d].dir;
		struct walk w = { .h = h, .n = nh, .real = real[d] };
		if (evidence_verify(dir, on_record, &w, bad_file, sizeof(bad_file), &bad_line,
		    &head, hash, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s", why);
			goto out;
		}
		for (size_t i = 0; i < nh; i++)
			if (h[i].found <= 0 && walk_has(&w, &h[i]) && h[i].seq == head)
				h[i].found = strcmp(hash, h[i].hash) == 0 ? 1 : -1;
	}
	for (size_t i = 0; i < nh; i++) {
		if (h[i].found == 1)
			continue;
		snprintf(err, errlen, "%s: the signed evidence head %s seq %lld (sha256 %s) %s",
		    sigfile, h[i].dir, h[i].seq, h[i].hash, h[i].found < 0 ?
		    "is another record in the log now: that record was changed" :
		    "is not in the log now: the log was cut before it");
		goto out;
	}
	rc = 0;
out:
	for (size_t d = 0; d < nw; d++)
		free(real[d]);
	free(real);
	return rc;
}

int
evidsig_verify(const char *pubkey, const char *sigfile, const char *report,
    const char *const *dirs, size_t n, json_object *json)
{
	struct head h[MAX_HEADS];
	char err[8192] = "", *text = NULL, *buf = NULL;
	json_object *doc = NULL;
	size_t len = 0;
	long nh = 0;
	int ok = 0;

	if ((text = smallfile_read(sigfile, 0, err, sizeof(err))) == NULL)
		goto out;
	if ((doc = json_tokener_parse(text)) == NULL || !json_object_is_type(doc,
	    json_type_object)) {
		snprintf(err, sizeof(err), "%s: not a report signature (JSON)", sigfile);
		goto out;
	}
	if ((buf = read_report(report, &len, err, sizeof(err))) == NULL)
		goto out;
	if (check_signature(pubkey, sigfile, report, doc, buf, len, err, sizeof(err)) != 0)
		goto out;
	if ((nh = heads_of(doc, sigfile, h, err, sizeof(err))) < 0)
		goto out;
	if (check_heads(h, (size_t)nh, buf, len, dirs, n, sigfile, err, sizeof(err)) != 0)
		goto out;
	ok = 1;
out:
	for (long i = 0; i < nh; i++)
		free(h[i].real);
	if (json != NULL) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "report", json_object_new_string(report));
		json_object_object_add(o, "signature", json_object_new_string(sigfile));
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "heads", json_object_new_int64(nh > 0 ? nh : 0));
		if (!ok)
			json_object_object_add(o, "error", json_object_new_string(err));
		json_object_object_add(json, "signed_report", o);
	} else if (ok) {
		printf("%s: the signature holds (%s, key %s), and its %ld evidence head%s %s in "
		    "the log\n", report, sigfile, pubkey, nh, nh == 1 ? "" : "s",
		    nh == 1 ? "is" : "are");
	} else {
		printf("%s: NOT VERIFIED: %s\n", report, err);
	}
	json_object_put(doc);
	free(text);
	free(buf);
	return ok;
}
