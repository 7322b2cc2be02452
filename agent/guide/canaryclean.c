/*
 * Nothing left behind (canary.h): the canary deleted (powered off first
 * when it is on), and what a killed run left: a VM named CANARY_PREFIX...
 * that carries the marker (extraConfig vmcrypt.canary, or the custom
 * attribute of that name) and is older than a run can last, or was made
 * on this host by a process that is gone; the custom attribute's
 * definition once no VM carries it.  A VM with the prefix but
 * no marker is never touched: it may be somebody's.
 */
#include "canary.h"

#include "config.h"
#include "kmsinfo.h"
#include "xmalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXFOUND	32

/* ---------------------------------------------------------------- */
/* deleting one                                                      */

struct vmstate {
	char	power[32];
	char	mark[256];	/* extraConfig vmcrypt.canary */
	char	attr[256];	/* the custom attribute's value */
	int	key;		/* the custom attribute's key, -1 none */
};

static int
state_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vmstate *s = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "runtime.powerState") == 0)
			snprintf(s->power, sizeof(s->power), "%s", xnode_text(vals[i]));
		if (strcmp(names[i], "config.extraConfig") == 0)
			for (const xnode *o = xnode_first(vals[i]); o; o = xnode_next(o))
				if (strcmp(xnode_path_text(o, "key") ? xnode_path_text(o, "key") :
				    "", CANARY_MARK) == 0)
					snprintf(s->mark, sizeof(s->mark), "%s",
					    xnode_path_text(o, "value") ?
					    xnode_path_text(o, "value") : "");
		if (strcmp(names[i], "customValue") == 0 && s->key >= 0)
			for (const xnode *o = xnode_first(vals[i]); o; o = xnode_next(o)) {
				const char *key = xnode_path_text(o, "key");
				if (key && atoi(key) == s->key)
					snprintf(s->attr, sizeof(s->attr), "%s",
					    xnode_path_text(o, "value") ?
					    xnode_path_text(o, "value") : "");
			}
	}
	return 0;
}

static int
read_state(struct vconn *c, const struct vmoref *vm, int key, struct vmstate *s)
{
	static const char *const paths[] = { "runtime.powerState", "config.extraConfig",
	    "customValue" };

	memset(s, 0, sizeof(*s));
	s->key = key;
	int rc = vim_retrieve_objects(c, vm, 1, "VirtualMachine", paths, 3, state_cb, s);
	vconn_reset(c);
	return rc;
}

int
canary_destroy(struct canary *k, struct vmoref *vm)
{
	struct vmstate s;
	struct vmoref task;
	int rc;

	if ((rc = read_state(k->c, vm, -1, &s)) != 0) {
		if (strcmp(vconn_fault_type(k->c), "ManagedObjectNotFound") == 0)
			return 0;	/* already gone */
		return -1;
	}
	if (strcmp(s.power, "poweredOn") == 0 &&
	    ((rc = vim_power(k->c, vm, 0, &task)) != 0 ||
	    (rc = vim_wait_task(k->c, &task, "PowerOffVM_Task", k->cfg->canary_timeout,
	    NULL)) != 0))
		return -1;
	vconn_reset(k->c);
	if ((rc = vim_destroy(k->c, vm, &task)) != 0 ||
	    (rc = vim_wait_task(k->c, &task, "Destroy_Task", k->cfg->canary_timeout, NULL)) != 0)
		return -1;
	vconn_reset(k->c);
	return 0;
}

/* ---------------------------------------------------------------- */
/* finding them                                                      */

struct found {
	const char	*exact;		/* a name, or NULL: every CANARY_PREFIX one */
	struct vmoref	 vm[MAXFOUND];
	char		 name[MAXFOUND][128];
	size_t		 n;
};

static int
name_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct found *f = arg;
	for (size_t i = 0; i < n && f->n < MAXFOUND; i++) {
		if (strcmp(names[i], "name") != 0)
			continue;
		const char *nm = xnode_text(vals[i]);
		if (f->exact ? strcmp(nm, f->exact) == 0 :
		    strncmp(nm, CANARY_PREFIX, strlen(CANARY_PREFIX)) == 0) {
			f->vm[f->n] = *obj;
			snprintf(f->name[f->n++], sizeof(f->name[0]), "%s", nm);
		}
	}
	return 0;
}

/* Every VM's name, in pages: the ones that match. */
static int
find_vms(struct canary *k, struct found *f)
{
	static const char *const paths[] = { "name" };
	struct vmoref view;
	int rc = vim_create_container_view(k->c, vsession_mo(k->s, VMO_ROOT_FOLDER),
	    "VirtualMachine", 1, &view);

	if (rc == 0) {
		rc = vim_retrieve_view(k->c, &view, "VirtualMachine", paths, 1, 1000, name_cb, f);
		vim_destroy_view(k->c, &view);
	}
	vconn_reset(k->c);
	return rc;
}

int
canary_find(struct canary *k, const char *name, struct vmoref *vm)
{
	struct found f = { .exact = name };
	int rc = find_vms(k, &f);

	memset(vm, 0, sizeof(*vm));
	if (rc == 0 && f.n > 0)
		*vm = f.vm[0];
	return rc;
}

/* The run that made it has ended for sure: it ran on this host and its
 * process is gone (a run killed with SIGKILL). */
static int
maker_gone(const char *mark)
{
	char t[64], who[192], host[128] = "localhost";
	const char *colon;

	if (sscanf(mark, "vmcrypt-agent canary %63s %191s", t, who) != 2 ||
	    (colon = strrchr(who, ':')) == NULL)
		return 0;
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if ((size_t)(colon - who) != strlen(host) || strncmp(who, host, strlen(host)) != 0)
		return 0;
	pid_t pid = (pid_t)atol(colon + 1);
	return pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

/* The marker's vCenter time; age in seconds against k->stamp (-1 unknown). */
static long long
mark_age(const struct canary *k, const char *mark)
{
	char t[64];
	time_t then, now = kms_parse_time(k->stamp);

	if (sscanf(mark, "vmcrypt-agent canary %63s", t) != 1)
		return -1;
	then = kms_parse_time(t);
	return then == (time_t)-1 || now == (time_t)-1 ? -1 : (long long)(now - then);
}

/* The custom attribute's key, -1 when it is not defined. */
static int
field_key(struct canary *k, int *key)
{
	struct custom_fields f;
	int rc = custom_fields_read(k->c, &f);

	*key = -1;
	if (rc == 0) {
		for (size_t i = 0; i < f.n; i++)
			if (strcmp(f.names[i], CANARY_MARK) == 0)
				*key = f.keys[i];
		custom_fields_free(&f);
	}
	vconn_reset(k->c);
	return rc;
}

/* One candidate: deleted (1), left alone (0, said in note), or -1. */
static int
leftover(struct canary *k, int key, const struct vmoref *vm, const char *name,
    char *note, size_t len, int *carried)
{
	struct vmstate s;
	struct vmoref v = *vm;

	if (read_state(k->c, vm, key, &s) != 0)
		return -1;
	const char *mark = s.mark[0] ? s.mark : s.attr;
	if (mark[0] == '\0') {
		snprintf(note + strlen(note), len - strlen(note), "; %s has no %s marker: "
		    "left alone", name, CANARY_MARK);
		return 0;
	}
	long long age = mark_age(k, mark);
	if (age >= 0 && age < 4LL * k->cfg->canary_timeout && !maker_gone(mark)) {
		snprintf(note + strlen(note), len - strlen(note), "; %s was made %lld s ago "
		    "(a run still going?): left alone", name, age);
		(*carried)++;
		return 0;
	}
	if (canary_destroy(k, &v) != 0) {
		snprintf(note + strlen(note), len - strlen(note), "; cannot delete %s (%s): "
		    "%s", name, vm->value, vconn_error(k->c));
		(*carried)++;
		return 0;
	}
	return 1;
}

int
canary_leftovers(struct canary *k)
{
	struct step *st = canary_step(k, "leftovers", STEP_UNCHANGED, "none");
	struct found f = { .exact = NULL };
	char deleted[512] = "", note[768] = "";
	int key, rc, carried = 0;
	size_t ndel = 0;

	if ((rc = field_key(k, &key)) != 0 || (rc = find_vms(k, &f)) != 0)
		return canary_fail_vc(k, st, "looking for a previous run's canary", rc);
	for (size_t i = 0; i < f.n; i++) {
		int r = leftover(k, key, &f.vm[i], f.name[i], note, sizeof(note), &carried);
		if (r < 0)
			return canary_fail_vc(k, st, "reading a previous run's canary", V_ERR_FAULT);
		if (r == 1)
			snprintf(deleted + strlen(deleted), sizeof(deleted) - strlen(deleted),
			    "%s%s (%s)", ndel++ ? ", " : "", f.name[i], f.vm[i].value);
	}
	/* Its definition, once nothing carries it: no attribute left behind. */
	if (key >= 0 && carried == 0 && vim_field_remove(k->c, key) == 0)
		snprintf(note + strlen(note), sizeof(note) - strlen(note),
		    "; the custom attribute %s a killed run defined, removed", CANARY_MARK);
	vconn_reset(k->c);
	if (ndel > 0 || note[0]) {
		st->result = ndel > 0 || key >= 0 ? STEP_DONE : STEP_INFO;
		snprintf(st->detail, sizeof(st->detail), "%s%s%s", ndel ? "deleted a previous "
		    "run's canary: " : "", deleted, ndel ? note : note + 2);
	}
	return 0;
}
