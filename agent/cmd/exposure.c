/*
 * Exposure windows from the evidence log (exposure.h).
 *
 * Per VM, in chain order: "created" from any of its records; an action
 * record with result "done" gives the completion of a reconfigure (its
 * vc_time, vCenter's completeTime); the first "state" record that makes
 * it compliant closes the window at the last such completion.  Its first
 * state record naming no old state and compliant as the new one: it was
 * compliant before the agent saw it.
 */
#include "exposure.h"

#include "evidence.h"
#include "kmsinfo.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBUCKETS	(1u << 16)

struct exposure_walk {
	struct exposures  x[1];
	size_t		  cap;
	long		 *bucket;	/* index + 1 of the first entry, 0 none */
	long		 *chain;	/* per entry: the next in its bucket */
	double		 *done;		/* per entry: last completion seen */
	int		 *seen;		/* per entry: a state record was seen */
};

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (NBUCKETS - 1);
}

static const char *
str(json_object *rec, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

/* The entry of vm, made if new. */
static size_t
entry(struct exposure_walk *w, const char *vm)
{
	unsigned h = hash(vm);
	for (long i = w->bucket[h]; i > 0; i = w->chain[i - 1])
		if (strcmp(w->x->e[i - 1].vm, vm) == 0)
			return (size_t)(i - 1);
	if (w->x->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->x->e = xreallocarray(w->x->e, w->cap, sizeof(*w->x->e));
		w->chain = xreallocarray(w->chain, w->cap, sizeof(*w->chain));
		w->done = xreallocarray(w->done, w->cap, sizeof(*w->done));
		w->seen = xreallocarray(w->seen, w->cap, sizeof(*w->seen));
	}
	size_t i = w->x->n++;
	memset(&w->x->e[i], 0, sizeof(w->x->e[i]));
	snprintf(w->x->e[i].vm, sizeof(w->x->e[i].vm), "%s", vm);
	w->x->e[i].seconds = -1;
	w->chain[i] = w->bucket[h];
	w->done[i] = 0;
	w->seen[i] = 0;
	w->bucket[h] = (long)i + 1;
	return i;
}

double
exposure_time(const char *t)
{
	time_t v = t ? kms_parse_time(t) : (time_t)-1;
	const char *dot;

	if (v == (time_t)-1)
		return 0;
	dot = strchr(t, '.');
	return (double)v + (dot && dot[1] >= '0' && dot[1] <= '9' ? strtod(dot, NULL) : 0);
}

/* A state record: the first compliant one closes the window. */
static void
on_state(struct exposure_walk *w, size_t i, json_object *rec)
{
	struct exposure *e = &w->x->e[i];
	const char *old = str(rec, "old"), *new_ = str(rec, "new");
	int first = !w->seen[i];

	w->seen[i] = 1;
	if (new_ == NULL || e->kind == EXP_MEASURED || e->kind == EXP_BEFORE_SEEN ||
	    e->kind == EXP_NO_CREATE_DATE)
		return;
	if (strcmp(new_, "compliant") != 0) {
		e->kind = EXP_OPEN;
		return;
	}
	if (first && old == NULL && w->done[i] == 0) {
		e->kind = EXP_BEFORE_SEEN;
		return;
	}
	e->compliant = w->done[i];
	if (e->compliant == 0 || e->created == 0) {
		e->kind = e->compliant == 0 ? EXP_BEFORE_SEEN : EXP_NO_CREATE_DATE;
		return;
	}
	e->kind = EXP_MEASURED;
	e->seconds = e->compliant - e->created;
}

void
exposure_walk_add(struct exposure_walk *w, json_object *rec)
{
	const char *kind = str(rec, "kind"), *vm = str(rec, "vm");

	if (kind == NULL || vm == NULL || vm[0] == '\0')
		return;
	size_t i = entry(w, vm);
	struct exposure *e = &w->x->e[i];
	const char *name = str(rec, "name"), *created = str(rec, "created");
	if (name && *name)
		snprintf(e->name, sizeof(e->name), "%s", name);
	if (created && *created) {
		/* The earliest creation any log gives (a VM re-registered keeps
		 * the first). */
		double c = exposure_time(created);
		if (c > 0 && (e->created == 0 || c < e->created))
			e->created = c;
	}
	if (strcmp(kind, "action") == 0) {
		const char *result = str(rec, "result");
		if (result && strcmp(result, "done") == 0)
			w->done[i] = exposure_time(str(rec, "vc_time"));
	} else if (strcmp(kind, "state") == 0) {
		on_state(w, i, rec);
	}
}

static int
on_record(void *arg, json_object *rec, const char *file, long line)
{
	(void)file;
	(void)line;
	exposure_walk_add(arg, rec);
	return 0;
}

static int
by_vm(const void *a, const void *b)
{
	return strcmp(((const struct exposure *)a)->vm, ((const struct exposure *)b)->vm);
}

struct exposure_walk *
exposure_walk_new(void)
{
	struct exposure_walk *w = xcalloc(1, sizeof(*w));
	w->bucket = xcalloc(NBUCKETS, sizeof(*w->bucket));
	return w;
}

static void
walk_free(struct exposure_walk *w)
{
	free(w->bucket);
	free(w->chain);
	free(w->done);
	free(w->seen);
	free(w);
}

void
exposure_walk_end(struct exposure_walk *w, struct exposures *x)
{
	*x = w->x[0];
	if (x->n > 1)
		qsort(x->e, x->n, sizeof(*x->e), by_vm);
	walk_free(w);
}

int
exposures_read(const char *dir, struct exposures *x, char *err, size_t errlen)
{
	struct exposure_walk *w;
	char bad_file[256];
	long bad_line = 0;
	int rc;

	memset(x, 0, sizeof(*x));
	if (access(dir, F_OK) != 0)
		return 0;		/* no log yet: nothing measured */
	w = exposure_walk_new();
	rc = evidence_verify(dir, on_record, w, bad_file, sizeof(bad_file), &bad_line, NULL,
	    NULL, err, errlen);
	if (rc != 0) {
		free(w->x->e);
		walk_free(w);
		return -1;
	}
	exposure_walk_end(w, x);
	return 0;
}

const struct exposure *
exposures_find(const struct exposures *x, const char *vm)
{
	struct exposure key;

	if (x == NULL || x->n == 0)
		return NULL;
	snprintf(key.vm, sizeof(key.vm), "%s", vm);
	return bsearch(&key, x->e, x->n, sizeof(*x->e), by_vm);
}

void
exposures_free(struct exposures *x)
{
	free(x->e);
	memset(x, 0, sizeof(*x));
}

const char *
exposure_kind_name(enum exposure_kind k)
{
	static const char *const names[] = {
		"unknown", "measured", "compliant-before-seen", "open", "no-create-date",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}
