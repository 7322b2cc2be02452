/*
 * The evidence logs of a report (reportevid.h).  Each log is walked once
 * by evidence_verify (the chain checked); its records are kept as text
 * with their time, then merged across logs by the agents' clocks ("at",
 * fixed-width UTC: text order is time order), ties kept in log and seq
 * order.
 */
#include "reportevid.h"

#include "evidence.h"
#include "kmsinfo.h"
#include "policy.h"
#include "xmalloc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct evline {
	char		 at[32];
	size_t		 log;
	long long	 seq;
	char		*text;
};

struct loading {
	struct evset	*set;
	size_t		 cap;
	size_t		 log;
};

static const char *
str(json_object *rec, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static int
on_record(void *arg, json_object *rec, const char *file, long line)
{
	struct loading *ld = arg;
	struct evset *set = ld->set;
	struct evlog *lg = &set->logs[ld->log];
	const char *at = str(rec, "at"), *vc = str(rec, "vcenter"), *url = str(rec, "vc_url");
	json_object *seq;

	(void)file;
	(void)line;
	lg->records++;
	if (vc && lg->vcenter[0] == '\0')
		snprintf(lg->vcenter, sizeof(lg->vcenter), "%s", vc);
	if (url && lg->vc_url[0] == '\0')
		snprintf(lg->vc_url, sizeof(lg->vc_url), "%s", url);
	if (set->nlines == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 1024;
		set->lines = xreallocarray(set->lines, ld->cap, sizeof(*set->lines));
	}
	struct evline *l = &set->lines[set->nlines++];
	snprintf(l->at, sizeof(l->at), "%s", at ? at : "");
	l->log = ld->log;
	l->seq = json_object_object_get_ex(rec, "seq", &seq) ? json_object_get_int64(seq) : 0;
	l->text = xstrdup(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN));
	return 0;
}

int
evset_load(struct evset *set, const char *const *dirs, size_t n, int missing_ok, char *err,
    size_t errlen)
{
	struct loading ld = { .set = set };
	char bad_file[4352];
	long bad_line;
	struct stat st;

	memset(set, 0, sizeof(*set));
	set->logs = xcalloc(n ? n : 1, sizeof(*set->logs));
	for (size_t i = 0; i < n; i++) {
		if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
			if (missing_ok && errno == ENOENT)
				continue;
			snprintf(err, errlen, "the evidence log %s: %s", dirs[i],
			    stat(dirs[i], &st) != 0 ? strerror(errno) : "not a directory");
			return -1;
		}
		struct evlog *lg = &set->logs[set->nlogs];
		memset(lg, 0, sizeof(*lg));
		lg->dir = xstrdup(dirs[i]);
		ld.log = set->nlogs++;
		if (evidence_verify(dirs[i], on_record, &ld, bad_file, sizeof(bad_file),
		    &bad_line, &lg->head_seq, lg->head_hash, err, errlen) != 0)
			return -1;
		if (lg->records == 0 && !missing_ok) {
			snprintf(err, errlen, "%s: no evidence log here (no evidence-NNNNNN.jsonl "
			    "with a record)", dirs[i]);
			return -1;
		}
	}
	return 0;
}

void
evset_free(struct evset *set)
{
	for (size_t i = 0; i < set->nlogs; i++)
		free(set->logs[i].dir);
	for (size_t i = 0; i < set->nlines; i++)
		free(set->lines[i].text);
	free(set->logs);
	free(set->lines);
	memset(set, 0, sizeof(*set));
}

static int
by_time(const void *a, const void *b)
{
	const struct evline *x = *(const struct evline *const *)a;
	const struct evline *y = *(const struct evline *const *)b;
	int c = strcmp(x->at, y->at);
	if (c != 0)
		return c;
	if (x->log != y->log)
		return x->log < y->log ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
state_of(const char *name)
{
	for (int s = 0; name != NULL && s < VS_COUNT; s++)
		if (strcmp(vm_state_name((enum vm_state)s), name) == 0)
			return s;
	return -1;
}

static int
mine(const struct evset *set, size_t log, const char *vcenter)
{
	return vcenter == NULL || strcmp(set->logs[log].vcenter, vcenter) == 0;
}

void
evset_view(const struct evset *set, const char *vcenter, struct exposures *x,
    struct history *h)
{
	const struct evline **order = xcalloc(set->nlines ? set->nlines : 1, sizeof(*order));
	struct exposure_walk *w = exposure_walk_new();
	size_t n = 0;

	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < set->nlines; i++)
		if (mine(set, set->lines[i].log, vcenter))
			order[n++] = &set->lines[i];
	qsort(order, n, sizeof(*order), by_time);
	for (size_t i = 0; i < n; i++) {
		json_object *rec = json_tokener_parse(order[i]->text);
		const char *kind, *vm;
		if (rec == NULL)
			continue;		/* it parsed once: cannot happen */
		exposure_walk_add(w, rec);
		kind = str(rec, "kind");
		vm = str(rec, "vm");
		if (kind && strcmp(kind, "state") == 0 && vm && vm[0]) {
			int s = state_of(str(rec, "new"));
			if (s >= 0)
				history_add(h, vm, str(rec, "name"), exposure_time(order[i]->at), s,
				    str(rec, "code"), str(rec, "reason"));
		}
		json_object_put(rec);
	}
	exposure_walk_end(w, x);
	free(order);
}

void
evset_heads(const struct evset *set, const char *vcenter, char *out, size_t len)
{
	size_t used = 0;

	if (len > 0)
		out[0] = '\0';
	for (size_t i = 0; i < set->nlogs && used < len; i++) {
		const struct evlog *lg = &set->logs[i];
		if (!mine(set, i, vcenter) || lg->head_seq == 0)
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s#%lld:%s", used ? "; " : "",
		    lg->dir, lg->head_seq, lg->head_hash);
	}
}
