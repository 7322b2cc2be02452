/*
 * Writing the report's files (reportcmd.h: report_emit).  The report is
 * rendered into memory first: what is signed is exactly what is written.
 * Each file is written beside its place (NAME.tmp.PID) and renamed into
 * it, the signature last of all, so a failure leaves the old files as
 * they were and never a report with another report's signature.
 *
 * The signature file (REPORT.sig), JSON:
 *   {"algorithm": "Ed25519", "key_id": hex SHA-256 of the raw public key,
 *    "signature": base64 of the 64 bytes, "report": its file name,
 *    "report_sha256": hex, "signed": time,
 *    "evidence": [{"vcenter", "instance_uuid", "dir", "seq", "hash"}, ...]}
 * The signature is Ed25519 over the report's bytes alone (`openssl pkeyutl
 * -verify -rawin` checks it); the heads are also in those bytes (every
 * format prints them), so a head changed in the .sig no longer matches
 * what was signed.
 */
#include "config.h"
#include "exitcode.h"
#include "report.h"
#include "reportcmd.h"
#include "reportevid.h"
#include "sign.h"
#include "xmalloc.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct out {
	char	*path, *tmp;
};

/* buf to path's temporary file: 0, or -1 said. */
static int
out_write(struct out *o, const char *path, const void *buf, size_t len)
{
	FILE *f;

	o->path = xstrdup(path);
	o->tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(o->tmp, "w")) == NULL) {
		fprintf(stderr, "vmcrypt-agent: cannot write %s: %s\n", path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	int bad = fwrite(buf, 1, len, f) != len;
	bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "vmcrypt-agent: cannot write %s: %s\n", path, strerror(errno));
		unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	return 0;
}

/* Renames (commit) or removes the temporary file; frees. */
static int
out_end(struct out *o, int commit)
{
	int rc = 0;
	if (o->tmp != NULL) {
		if (commit && rename(o->tmp, o->path) != 0) {
			fprintf(stderr, "vmcrypt-agent: cannot write %s: %s\n", o->path,
			    strerror(errno));
			rc = -1;
		}
		if (!commit || rc != 0)
			unlink(o->tmp);
	}
	free(o->path);
	free(o->tmp);
	o->path = o->tmp = NULL;
	return rc;
}

static void
hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The signature file's text (to free), or NULL said. */
static char *
sig_doc(const struct site *sites, size_t n, const struct report_opts *o,
    const char *generated, const struct sign_key *key, const char *buf, size_t len)
{
	unsigned char sig[SIGN_ED25519_LEN], md[SHA256_DIGEST_LENGTH];
	char err[512], id[65], sum[65], *b64, *text;
	json_object *d, *heads;
	const char *base = strrchr(o->output, '/');

	if (sign_bytes(key, buf, len, sig, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmcrypt-agent: --sign %s: %s\n", o->sign, err);
		return NULL;
	}
	SHA256((const unsigned char *)buf, len, md);
	hex(md, sizeof(md), sum);
	sign_key_id(key, id);
	b64 = sign_base64(sig, sizeof(sig));
	d = json_object_new_object();
	json_object_object_add(d, "algorithm", json_object_new_string("Ed25519"));
	json_object_object_add(d, "key_id", json_object_new_string(id));
	json_object_object_add(d, "signature", json_object_new_string(b64));
	json_object_object_add(d, "report", json_object_new_string(base ? base + 1 : o->output));
	json_object_object_add(d, "report_sha256", json_object_new_string(sum));
	json_object_object_add(d, "signed", json_object_new_string(generated));
	heads = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		const struct evset *set = sites[i].ev;
		/* A shared set: each log under the vCenter it is of, once. */
		for (size_t k = 0; set && sites[i].read && k < set->nlogs; k++) {
			const struct evlog *lg = &set->logs[k];
			if (lg->head_seq == 0 || (sites[i].uuid[0] &&
			    strcmp(lg->vcenter, sites[i].uuid) != 0))
				continue;
			json_object *h = json_object_new_object();
			json_object_object_add(h, "vcenter", json_object_new_string(
			    sites[i].cfg->vc_url));
			json_object_object_add(h, "instance_uuid", json_object_new_string(
			    lg->vcenter));
			json_object_object_add(h, "dir", json_object_new_string(lg->dir));
			json_object_object_add(h, "seq", json_object_new_int64(lg->head_seq));
			json_object_object_add(h, "hash", json_object_new_string(lg->head_hash));
			json_object_array_add(heads, h);
		}
	}
	json_object_object_add(d, "evidence", heads);
	text = xasprintf("%s\n", json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(d);
	free(b64);
	return text;
}

/* csv: the period's tables beside the VM rows (FILE.summary.csv, and
 * with the history FILE.days.csv and FILE.timeline.csv). */
static int
csv_tables(const struct site *sites, size_t n, const struct report_opts *o, struct out *outs)
{
	static const char *const names[] = { "summary", "days", "timeline" };
	size_t blen = strlen(o->output);
	int history = o->since_arg != NULL || o->until_arg != NULL;

	if (blen > 4 && strcmp(o->output + blen - 4, ".csv") == 0)
		blen -= 4;
	for (int t = 0; t < (history ? 3 : 1); t++) {
		char *buf = NULL, *path;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		int head = 1;
		if (f == NULL)
			return -1;
		for (size_t i = 0; i < n; i++) {
			const struct report_period *p = &sites[i].rep.period;
			const char *vc = n > 1 ? sites[i].cfg->vc_url : NULL;
			if (!sites[i].read)
				continue;
			if (t == 0)
				report_period_csv_summary(f, p, vc, head);
			else if (t == 1)
				report_period_csv_days(f, p, vc, head);
			else
				report_period_csv_timeline(f, p, vc, head);
			head = 0;
		}
		int bad = ferror(f);
		bad |= fclose(f) != 0;
		path = xasprintf("%.*s.%s.csv", (int)blen, o->output, names[t]);
		bad = bad || out_write(&outs[t], path, buf, len) != 0;
		free(path);
		free(buf);
		if (bad)
			return -1;
	}
	return 0;
}

int
report_emit(const struct site *sites, size_t n, const struct report_opts *o,
    const char *generated, const struct sign_key *key, report_render_fn render)
{
	struct out main = { 0 }, sig = { 0 }, tables[3] = { { 0 } };
	char *buf = NULL, *sigtext = NULL, *path;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = EXIT_FAIL, w;

	if (f == NULL) {
		fprintf(stderr, "vmcrypt-agent: writing the report failed: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	w = render(sites, n, o, generated, f);
	w |= ferror(f);
	w |= fclose(f) != 0;
	if (w != 0) {
		fprintf(stderr, "vmcrypt-agent: writing the report failed\n");
		goto out;
	}
	if (o->output == NULL) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
			fprintf(stderr, "vmcrypt-agent: writing the report failed\n");
			goto out;
		}
		rc = EXIT_OK;
		goto out;
	}
	if (key != NULL && (sigtext = sig_doc(sites, n, o, generated, key, buf, len)) == NULL)
		goto out;
	if (out_write(&main, o->output, buf, len) != 0)
		goto out;
	if (strcmp(o->format, "csv") == 0 && csv_tables(sites, n, o, tables) != 0)
		goto out;
	if (sigtext != NULL) {
		path = xasprintf("%s.sig", o->output);
		w = out_write(&sig, path, sigtext, strlen(sigtext));
		free(path);
		if (w != 0)
			goto out;
	}
	rc = EXIT_OK;
out:
	/* The report and its tables, then its signature. */
	if (out_end(&main, rc == EXIT_OK) != 0)
		rc = EXIT_FAIL;
	for (int t = 0; t < 3; t++)
		if (out_end(&tables[t], rc == EXIT_OK) != 0)
			rc = EXIT_FAIL;
	if (out_end(&sig, rc == EXIT_OK) != 0)
		rc = EXIT_FAIL;
	free(sigtext);
	free(buf);
	return rc;
}
