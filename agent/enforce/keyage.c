/*
 * How old each VM's key is (keyage.h).
 */
#include "keyage.h"

#include "evidence.h"
#include "inventory.h"
#include "kmsinfo.h"
#include "log.h"
#include "vim.h"
#include "xmalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#define BOOK_BUCKETS	4096

struct page {
	struct page	*next;
	char		*key;
	double		 since;		/* 0 unknown; -1 looked up, none found */
	int		 rekey;		/* keybook_load's task table: a rekey */
	const char	*src;
	int		 replaced;
	char		*task;		/* keybook_load's task table: the key */
};

struct keybook {
	pthread_mutex_t	 mtx;
	unsigned long	 rekeys_done;	/* keybook_load */
	keyage_kms_fn	 kms;
	void		*kms_arg;
	struct page	*b[BOOK_BUCKETS];
};

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % BOOK_BUCKETS;
}

/* The page of key (made when make); the caller holds the mutex. */
static struct page *
page_of(struct keybook *kb, const char *key, int make)
{
	uint32_t h = hash(key);

	for (struct page *p = kb->b[h]; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	if (!make)
		return NULL;
	struct page *p = xcalloc(1, sizeof(*p));
	p->key = xstrdup(key);
	p->next = kb->b[h];
	kb->b[h] = p;
	return p;
}

struct keybook *
keybook_new(void)
{
	struct keybook *kb = xcalloc(1, sizeof(*kb));
	pthread_mutex_init(&kb->mtx, NULL);
	return kb;
}

void
keybook_free(struct keybook *kb)
{
	if (kb == NULL)
		return;
	for (size_t i = 0; i < BOOK_BUCKETS; i++) {
		while (kb->b[i] != NULL) {
			struct page *p = kb->b[i];
			kb->b[i] = p->next;
			free(p->key);
			free(p->task);
			free(p);
		}
	}
	pthread_mutex_destroy(&kb->mtx);
	free(kb);
}

/* The caller holds the mutex. */
static void
note_locked(struct keybook *kb, const char *key_id, double since, const char *src)
{
	struct page *p = page_of(kb, key_id, 1);
	if (since > 0 && (p->since <= 0 || since < p->since)) {
		p->since = since;
		p->src = src;
	} else if (since < 0 && p->since == 0) {
		p->since = -1;
	}
}

void
keybook_note(struct keybook *kb, const char *key_id, double since, const char *src)
{
	if (kb == NULL || key_id == NULL || key_id[0] == '\0')
		return;
	pthread_mutex_lock(&kb->mtx);
	note_locked(kb, key_id, since, src);
	pthread_mutex_unlock(&kb->mtx);
}

void
keybook_set_kms(struct keybook *kb, keyage_kms_fn fn, void *arg)
{
	kb->kms = fn;
	kb->kms_arg = arg;
}

void
keybook_replaced(struct keybook *kb, const char *key_id)
{
	if (kb == NULL || key_id == NULL || key_id[0] == '\0')
		return;
	pthread_mutex_lock(&kb->mtx);
	page_of(kb, key_id, 1)->replaced = 1;
	pthread_mutex_unlock(&kb->mtx);
}

/* ---------------------------------------------------------------- */
/* the evidence log                                                  */

static const char *
field(json_object *rec, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(rec, name, &v) ? json_object_get_string(v) : NULL;
}

struct loading {
	struct keybook	*kb;
	struct keybook	*tasks;		/* task -> the key it put on (in .task) */
};

/* Each issued reconfigure names its task and key (and a rekey the key it
 * replaces); the task's end, "done", gives vCenter's completeTime. */
static int
on_record(void *arg, json_object *rec, const char *file, long line)
{
	struct loading *ld = arg;
	const char *kind = field(rec, "kind"), *result = field(rec, "result");
	const char *task = field(rec, "task");

	(void)file;
	(void)line;
	if (kind == NULL || strcmp(kind, "action") != 0 || result == NULL || task == NULL ||
	    task[0] == '\0')
		return 0;
	if (strcmp(result, "issued") == 0 || strcmp(result, "adopted") == 0) {
		const char *key = field(rec, "key_id"), *old = field(rec, "replaces");
		if (old != NULL && old[0])
			page_of(ld->kb, old, 1)->replaced = 1;
		if (key != NULL && key[0]) {
			struct page *p = page_of(ld->tasks, task, 1);
			free(p->task);
			p->task = xstrdup(key);
			p->rekey = old != NULL && old[0];
		}
	} else if (strcmp(result, "done") == 0) {
		const char *at = field(rec, "vc_time");
		struct page *p = page_of(ld->tasks, task, 0);
		time_t t = at ? kms_parse_time(at) : (time_t)-1;
		if (p != NULL && p->task != NULL && t != (time_t)-1)
			note_locked(ld->kb, p->task, (double)t, KEYAGE_SRC_AGENT);
		if (p != NULL && p->rekey) {
			ld->kb->rekeys_done++;
			p->rekey = 0;
		}
	}
	return 0;
}

int
keybook_load(struct keybook *kb, const char *dir, char *err, size_t errlen)
{
	struct loading ld = { kb, keybook_new() };

	if (access(dir, F_OK) != 0) {
		keybook_free(ld.tasks);
		return 0;
	}
	pthread_mutex_lock(&kb->mtx);
	int rc = evidence_read_live(dir, on_record, &ld, err, errlen);
	pthread_mutex_unlock(&kb->mtx);
	keybook_free(ld.tasks);
	return rc;
}

unsigned long
keybook_rekeys_done(const struct keybook *kb)
{
	return kb->rekeys_done;
}

/* ---------------------------------------------------------------- */
/* vCenter's events                                                  */

struct evlook {
	const char	*key;
	double		 since;
};

static int
on_event(void *arg, const xnode *ev)
{
	struct evlook *l = arg;
	struct vevent_fields f;
	const char *k = xnode_path_text(ev, "configSpec.crypto.cryptoKeyId.keyId");

	if (k == NULL)
		k = xnode_path_text(ev, "configSpec.crypto.newKeyId.keyId");
	if (k == NULL || strcmp(k, l->key) != 0)
		return 0;
	vim_event_fields(ev, &f);
	time_t t = kms_parse_time(f.time);
	if (t != (time_t)-1 && (double)t > l->since)
		l->since = (double)t;	/* the latest: the key was put on again */
	return 0;
}

double
keyage_from_events(struct vconn *c, const struct vm_info *vm)
{
	static const char *const types[] = { "VmReconfiguredEvent" };
	struct evlook l = { vm->key_id, 0 };
	struct vmoref obj, coll;
	int rc, n;

	snprintf(obj.type, sizeof(obj.type), "VirtualMachine");
	snprintf(obj.value, sizeof(obj.value), "%s", vm->moref);
	if (vim_create_event_collector_on(c, &obj, NULL, types, 1, 1000, &coll) != 0)
		return -1;
	do {
		n = 0;
		rc = vim_read_next_events(c, &coll, 1000, on_event, &l, &n);
	} while (rc == 0 && n == 1000);
	vconn_reset(c);
	vim_destroy_collector(c, &coll);
	vconn_reset(c);
	return rc != 0 ? -1 : l.since;
}

/* The KMS's dates for key (when vCenter's events said nothing): 0, or -1
 * (said once per scan). */
static double
ask_kms(struct keybook *kb, const struct vm_info *vm, int *faults)
{
	char err[768];
	double t = 0;

	if (kb->kms == NULL || *faults > 2)
		return 0;
	if (kb->kms(kb->kms_arg, vm->key_id, &t, err, sizeof(err)) != 0) {
		if ((*faults)++ == 0)
			log_warnx("VM %s (%s): its key's age from the KMS: %s",
			    vm->name ? vm->name : vm->moref, vm->moref, err);
		return -1;
	}
	return t;
}

void
keyage_fill(struct keybook *kb, struct vconn *c, struct vm_info *const *vms, size_t n,
    int *budget)
{
	int faults = 0, kfaults = 0;

	for (size_t i = 0; kb != NULL && i < n; i++) {
		struct vm_info *vm = vms[i];
		if (!vm->encrypted || vm->key_id == NULL || vm->key_id[0] == '\0')
			continue;
		pthread_mutex_lock(&kb->mtx);
		struct page *p = page_of(kb, vm->key_id, 0);
		double since = p ? p->since : 0;
		if (p != NULL) {
			vm->key_since = since > 0 ? since : 0;
			vm->key_since_src = since > 0 ? p->src : NULL;
			vm->key_rekeyed = p->replaced;
		}
		pthread_mutex_unlock(&kb->mtx);
		if (since != 0 || budget == NULL || *budget <= 0 || faults > 2)
			continue;
		(*budget)--;
		double t = keyage_from_events(c, vm);
		if (t < 0) {
			if (faults++ == 0)
				log_warnx("VM %s (%s): its key's age from vCenter's events: %s",
				    vm->name ? vm->name : vm->moref, vm->moref, vconn_error(c));
			continue;
		}
		const char *src = KEYAGE_SRC_EVENTS;
		if (t == 0) {
			src = KEYAGE_SRC_KMS;
			if ((t = ask_kms(kb, vm, &kfaults)) < 0)
				continue;	/* asked again at the next scan */
		}
		keybook_note(kb, vm->key_id, t > 0 ? t : -1, src);
		if (t > 0) {
			vm->key_since = t;
			vm->key_since_src = src;
		}
	}
}
