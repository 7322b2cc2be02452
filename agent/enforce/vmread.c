#include "vmread.h"
#include "pbm.h"
#include "xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fcache {
	char	 moref[96];
	char	*name;
	char	 parent[96];
};

struct vmnames {
	pthread_mutex_t		 mtx;
	struct fcache		*folders;
	size_t			 nfolders;
	struct custom_fields	 fields;
};

struct vmnames *
vmnames_new(void)
{
	struct vmnames *n = xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->mtx, NULL);
	return n;
}

void
vmnames_free(struct vmnames *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nfolders; i++)
		free(n->folders[i].name);
	free(n->folders);
	custom_fields_free(&n->fields);
	pthread_mutex_destroy(&n->mtx);
	free(n);
}

int
vmread_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vmread *r = arg;
	r->seen = 1;
	snprintf(r->vm.moref, sizeof(r->vm.moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++) {
		vm_info_set_prop(&r->vm, names[i], vals[i]);
		if (strcmp(names[i], "config.hardware.device") == 0)
			r->devices = vals[i];
		else if (strcmp(names[i], "recentTask") == 0)
			r->recent = vals[i];
	}
	return 0;
}

struct taskread {
	const char	*user;
	struct vmoref	 running;
	int		 ours;
	int		 reconfig_ended;
};

/* vCenter's descriptionId for ReconfigVM_Task; vcsim's own is reconfigVm. */
static int
is_reconfigure(const char *desc)
{
	return strcmp(desc, "VirtualMachine.reconfigure") == 0 ||
	    strcmp(desc, "VirtualMachine.reconfigVm") == 0;
}

static int
taskread_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct taskread *t = arg;
	const char *state = "", *desc = "", *user = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "info.state") == 0)
			state = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.descriptionId") == 0)
			desc = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.reason") == 0) {
			const char *u = xnode_path_text(vals[i], "userName");
			user = u ? u : "";
		}
	}
	if (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0) {
		if (t->running.value[0] == '\0') {
			t->running = *obj;
			t->ours = is_reconfigure(desc) && t->user != NULL &&
			    strcmp(user, t->user) == 0;
		}
	} else if (is_reconfigure(desc))
		t->reconfig_ended = 1;
	return 0;
}

int
vmread_running_task(struct vconn *c, const xnode *recent, const char *user, struct vmoref *task,
    int *ours)
{
	static const char *const paths[] = { "info.state", "info.descriptionId",
	    "info.reason" };
	struct vmoref refs[16];
	struct taskread t = { .user = user };
	size_t n = 0;

	for (const xnode *x = xnode_first(recent); x && n < 16; x = xnode_next(x)) {
		const char *type = xnode_attr(x, "type");
		if (type != NULL && strcmp(type, "Task") != 0)
			continue;
		snprintf(refs[n].type, sizeof(refs[n].type), "Task");
		snprintf(refs[n].value, sizeof(refs[n].value), "%s", xnode_text(x));
		if (refs[n].value[0] != '\0')
			n++;
	}
	/* A task purged meanwhile fails the call: then nothing is known to be
	 * running, and vCenter itself refuses a clash (TaskInProgress). */
	if (n == 0 || vim_retrieve_objects(c, refs, n, "Task", paths, 3, taskread_cb, &t) != 0)
		return 0;
	if (t.running.value[0] == '\0')
		return t.reconfig_ended ? 2 : 0;
	*task = t.running;
	*ours = t.ours;
	return 1;
}

void
vmread_assoc(struct vm_info *vm, const char *key, const char *profile)
{
	const char *colon = strchr(key, ':');

	if (*profile == '\0')
		return;
	if (colon == NULL) {
		if (vm->home_policy_id == NULL)
			vm->home_policy_id = xstrdup(profile);
		return;
	}
	int dk = atoi(colon + 1);
	for (size_t i = 0; i < vm->ndisks; i++)
		if (vm->disks[i].key == dk && vm->disks[i].policy_id == NULL)
			vm->disks[i].policy_id = xstrdup(profile);
}

static void
assoc_cb(void *arg, const char *key, const char *profile)
{
	vmread_assoc(arg, key, profile);
}

int
vmread_policies(struct vconn *c, struct vm_info *vm)
{
	struct pbm_ref *refs = xcalloc(vm->ndisks + 1, sizeof(*refs));
	char **keys = xcalloc(vm->ndisks + 1, sizeof(*keys));
	size_t n = inventory_pbm_refs(vm, refs, keys);
	int rc = pbm_query_profiles(c, refs, n, assoc_cb, vm);

	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(refs);
	free(keys);
	return rc;
}

struct fread {
	struct fcache	 f;
	int		 seen;
};

static int
folder_read_cb(void *arg, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	struct fread *r = arg;
	r->seen = 1;
	snprintf(r->f.moref, sizeof(r->f.moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "name") == 0)
			r->f.name = xstrdup(xnode_text(vals[i]));
		else if (strcmp(names[i], "parent") == 0)
			snprintf(r->f.parent, sizeof(r->f.parent), "%s", xnode_text(vals[i]));
	}
	return 0;
}

/* Filled on demand: (name, parent) by folder. */
char *
vmnames_folder_path(struct vmnames *e, struct vconn *c, const char *moref)
{
	static const char *const paths[] = { "name", "parent" };
	const char *root = vsession_mo(vconn_session(c), VMO_ROOT_FOLDER)->value;
	char *parts[32];
	char cur[96];
	size_t n = 0;

	snprintf(cur, sizeof(cur), "%s", moref);
	while (n < 32 && cur[0] && strcmp(cur, root) != 0) {
		struct fcache hit = { "", NULL, "" };
		pthread_mutex_lock(&e->mtx);
		for (size_t i = 0; i < e->nfolders; i++)
			if (strcmp(e->folders[i].moref, cur) == 0) {
				hit = e->folders[i];
				hit.name = xstrdup(hit.name ? hit.name : "?");
				break;
			}
		pthread_mutex_unlock(&e->mtx);
		if (hit.name == NULL) {
			struct fread r;
			struct vmoref obj;
			memset(&r, 0, sizeof(r));
			snprintf(obj.type, sizeof(obj.type), "%s",
			    strncmp(cur, "datacenter-", 11) == 0 ? "Datacenter" : "Folder");
			snprintf(obj.value, sizeof(obj.value), "%s", cur);
			if (vim_retrieve_objects(c, &obj, 1, "ManagedEntity", paths, 2,
			    folder_read_cb, &r) != 0 || !r.seen) {
				free(r.f.name);
				break;
			}
			pthread_mutex_lock(&e->mtx);
			e->folders = xreallocarray(e->folders, e->nfolders + 1, sizeof(*e->folders));
			e->folders[e->nfolders] = r.f;
			e->folders[e->nfolders].name = xstrdup(r.f.name ? r.f.name : "?");
			e->nfolders++;
			pthread_mutex_unlock(&e->mtx);
			hit = r.f;
			if (hit.name == NULL)
				hit.name = xstrdup("?");
		}
		parts[n++] = hit.name;
		snprintf(cur, sizeof(cur), "%s", hit.parent);
	}
	char *p = inventory_path((const char *const *)parts, n);
	while (n > 0)
		free(parts[--n]);
	return p;
}

void
vmnames_attrs(struct vmnames *e, struct vconn *c, struct vm_info *vm)
{
	struct custom_fields f;
	int unknown = 0;

	pthread_mutex_lock(&e->mtx);
	vm_info_name_attrs(vm, e->fields.keys, (const char *const *)e->fields.names,
	    e->fields.n);
	for (size_t i = 0; i < vm->nattrs; i++)
		unknown |= vm->attrs[i].name == NULL;
	pthread_mutex_unlock(&e->mtx);
	/* A field defined since the cache was filled: read the list again. */
	if (!unknown || custom_fields_read(c, &f) != 0)
		return;
	pthread_mutex_lock(&e->mtx);
	custom_fields_free(&e->fields);
	e->fields = f;
	vm_info_name_attrs(vm, e->fields.keys, (const char *const *)e->fields.names,
	    e->fields.n);
	pthread_mutex_unlock(&e->mtx);
}
