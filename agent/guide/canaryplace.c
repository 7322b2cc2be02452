/*
 * Where the canary goes and what it must find there: its placement
 * (folder, pool, host, datastore: configured in <canary>, or the first
 * datacenter's), the privileges it needs on them, a previous run's
 * leftovers, and its removal (canary.h).
 */
#include "canary.h"

#include "config.h"
#include "exitcode.h"
#include "kmsinfo.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* reading objects                                                   */

#define MAXREFS	64

/* What a read of one object saw, by property name. */
struct props {
	char		 name[256];
	char		 conn[32];		/* runtime.connectionState */
	int		 maint;			/* runtime.inMaintenanceMode */
	int		 accessible;		/* summary.accessible */
	long long	 free;			/* summary.freeSpace */
	struct vmoref	 parent, vm_folder, host_folder, pool, owner;
	struct vmoref	 hosts[MAXREFS], ds[MAXREFS];
	size_t		 nhosts, nds;
};

static void
ref_of(struct vmoref *r, const xnode *n)
{
	const char *t = xnode_attr(n, "type");
	snprintf(r->type, sizeof(r->type), "%s", t ? t : "");
	snprintf(r->value, sizeof(r->value), "%s", xnode_text(n));
}

static void
refs_of(struct vmoref *out, size_t *n, const xnode *arr)
{
	for (const xnode *e = xnode_first(arr); e != NULL && *n < MAXREFS; e = xnode_next(e))
		ref_of(&out[(*n)++], e);
}

static int
props_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct props *p = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		const char *k = names[i];
		const xnode *v = vals[i];
		if (strcmp(k, "name") == 0 || strcmp(k, "summary.name") == 0)
			snprintf(p->name, sizeof(p->name), "%s", xnode_text(v));
		else if (strcmp(k, "runtime.connectionState") == 0)
			snprintf(p->conn, sizeof(p->conn), "%s", xnode_text(v));
		else if (strcmp(k, "runtime.inMaintenanceMode") == 0)
			p->maint = strcmp(xnode_text(v), "true") == 0;
		else if (strcmp(k, "summary.accessible") == 0)
			p->accessible = strcmp(xnode_text(v), "true") == 0;
		else if (strcmp(k, "summary.freeSpace") == 0)
			p->free = atoll(xnode_text(v));
		else if (strcmp(k, "parent") == 0)
			ref_of(&p->parent, v);
		else if (strcmp(k, "vmFolder") == 0)
			ref_of(&p->vm_folder, v);
		else if (strcmp(k, "hostFolder") == 0)
			ref_of(&p->host_folder, v);
		else if (strcmp(k, "resourcePool") == 0)
			ref_of(&p->pool, v);
		else if (strcmp(k, "owner") == 0)
			ref_of(&p->owner, v);
		else if (strcmp(k, "host") == 0)
			refs_of(p->hosts, &p->nhosts, v);
		else if (strcmp(k, "datastore") == 0)
			refs_of(p->ds, &p->nds, v);
	}
	return 0;
}

/* paths (NULL-terminated) of obj into *p. */
static int
read_props(struct vconn *c, const struct vmoref *obj, const char *const *paths,
    struct props *p)
{
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	while (paths[n] != NULL)
		n++;
	int rc = vim_retrieve_objects(c, obj, 1, obj->type, paths, n, props_cb, p);
	vconn_reset(c);
	return rc;
}

/* The first object of type under root (recursive), with paths. */
struct first {
	struct props	 p;
	struct vmoref	 obj;
	int		 found;
	int		 need_hosts;	/* a compute resource with a host */
};

static int
first_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct first *f = arg;
	struct props p;

	if (f->found)
		return 0;
	memset(&p, 0, sizeof(p));
	props_cb(&p, obj, n, names, vals);
	if (f->need_hosts && p.nhosts == 0)
		return 0;
	f->p = p;
	f->obj = *obj;
	f->found = 1;
	return 0;
}

static int
first_of(struct vconn *c, const struct vmoref *root, const char *type,
    const char *const *paths, size_t npaths, struct first *f)
{
	struct vmoref view;
	int rc = vim_create_container_view(c, root, type, 1, &view);

	if (rc == 0) {
		rc = vim_retrieve_view(c, &view, type, paths, npaths, 100, first_cb, f);
		vim_destroy_view(c, &view);
	}
	vconn_reset(c);
	return rc;
}

/* The datacenter above obj, walking up parent. */
static int
datacenter_of(struct vconn *c, struct vmoref obj, struct vmoref *dc, char *name, size_t len)
{
	static const char *const paths[] = { "name", "parent", NULL };
	struct props p;

	for (int depth = 0; depth < 32 && obj.value[0]; depth++) {
		int rc = read_props(c, &obj, paths, &p);
		if (rc != 0)
			return rc;
		if (strcmp(obj.type, "Datacenter") == 0) {
			*dc = obj;
			snprintf(name, len, "%s", p.name);
			return 0;
		}
		obj = p.parent;
	}
	memset(dc, 0, sizeof(*dc));
	return 0;
}

/* ---------------------------------------------------------------- */
/* placement                                                         */

/* An inventory path of the configuration, found and of the right type. */
static int
find_path(struct canary *k, struct step *st, const char *what, const char *path,
    const char *type, struct vmoref *out)
{
	int rc = vim_find_by_path(k->c, path, out);

	if (rc != 0)
		return canary_fail_vc(k, st, "FindByInventoryPath", rc);
	if (out->value[0] == '\0' || strcmp(out->type, type) != 0) {
		snprintf(st->detail, sizeof(st->detail), "<canary %s=\"%s\">: %s", what, path,
		    out->value[0] ? "not a " : "nothing there");
		if (out->value[0])
			snprintf(st->detail + strlen(st->detail), sizeof(st->detail) -
			    strlen(st->detail), "%s (a %s)", type, out->type);
		return steps_fail(&k->steps, st, EXIT_CONFIG, "give the path as govc prints "
		    "it (govc ls %s), in %s", path, k->cfg->path);
	}
	return 0;
}

/* The folder (and its datacenter): <canary folder>, or the first
 * datacenter's VM folder. */
static int
place_folder(struct canary *k, struct step *st, struct vmoref *dc, char *dcname, size_t len)
{
	static const char *const dcpaths[] = { "name", "vmFolder", "hostFolder" };
	const struct vmoref *root = vsession_mo(k->s, VMO_ROOT_FOLDER);
	struct first f;
	int rc;

	if (k->cfg->canary_folder != NULL) {
		if (find_path(k, st, "folder", k->cfg->canary_folder, "Folder", &k->folder) != 0)
			return -1;
		snprintf(k->folder_path, sizeof(k->folder_path), "%s", k->cfg->canary_folder);
		if ((rc = datacenter_of(k->c, k->folder, dc, dcname, len)) != 0)
			return canary_fail_vc(k, st, "the folder's datacenter", rc);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	if ((rc = first_of(k->c, root, "Datacenter", dcpaths, 3, &f)) != 0)
		return canary_fail_vc(k, st, "the datacenters", rc);
	if (!f.found) {
		snprintf(st->detail, sizeof(st->detail), "no datacenter in this vCenter");
		return steps_fail(&k->steps, st, EXIT_FAIL, "the canary needs a datacenter with "
		    "a host or cluster");
	}
	*dc = f.obj;
	snprintf(dcname, len, "%s", f.p.name);
	k->folder = f.p.vm_folder;
	snprintf(k->folder_path, sizeof(k->folder_path), "/%s/vm", f.p.name);
	return 0;
}

/* The pool and its compute resource: <canary pool>, or the first compute
 * resource with a host in the folder's datacenter. */
static int
place_pool(struct canary *k, struct step *st, const struct vmoref *dc, struct vmoref *owner)
{
	static const char *const crpaths[] = { "name", "resourcePool", "host" };
	static const char *const poolpaths[] = { "owner", NULL };
	static const char *const dcpaths[] = { "hostFolder", NULL };
	struct props p;
	struct first f;
	int rc;

	if (k->cfg->canary_pool != NULL) {
		if (find_path(k, st, "pool", k->cfg->canary_pool, "ResourcePool", &k->pool) != 0)
			return -1;
		if ((rc = read_props(k->c, &k->pool, poolpaths, &p)) != 0)
			return canary_fail_vc(k, st, "the pool's owner", rc);
		*owner = p.owner;
		return 0;
	}
	if ((rc = read_props(k->c, dc, dcpaths, &p)) != 0)
		return canary_fail_vc(k, st, "the datacenter's host folder", rc);
	memset(&f, 0, sizeof(f));
	f.need_hosts = 1;
	if ((rc = first_of(k->c, &p.host_folder, "ComputeResource", crpaths, 3, &f)) != 0)
		return canary_fail_vc(k, st, "the compute resources", rc);
	if (!f.found) {
		snprintf(st->detail, sizeof(st->detail), "no host or cluster in the datacenter "
		    "of %s", k->folder_path);
		return steps_fail(&k->steps, st, EXIT_FAIL, "set <canary pool=\"...\"> in %s",
		    k->cfg->path);
	}
	k->pool = f.p.pool;
	*owner = f.obj;
	return 0;
}

/* A connected host of owner, not in maintenance. */
static int
place_host(struct canary *k, struct step *st, const struct vmoref *owner)
{
	static const char *const crpaths[] = { "host", "datastore", NULL };
	static const char *const hpaths[] = { "name", "runtime.connectionState",
	    "runtime.inMaintenanceMode", NULL };
	struct props cr, h;
	int rc;

	if ((rc = read_props(k->c, owner, crpaths, &cr)) != 0)
		return canary_fail_vc(k, st, "the compute resource's hosts", rc);
	for (size_t i = 0; i < cr.nhosts; i++) {
		if ((rc = read_props(k->c, &cr.hosts[i], hpaths, &h)) != 0)
			return canary_fail_vc(k, st, "a host's state", rc);
		if (strcmp(h.conn, "connected") == 0 && !h.maint) {
			k->host = cr.hosts[i];
			snprintf(k->host_name, sizeof(k->host_name), "%s", h.name);
			return 0;
		}
	}
	snprintf(st->detail, sizeof(st->detail), "no connected host out of maintenance "
	    "behind the pool");
	return steps_fail(&k->steps, st, EXIT_FAIL, "set <canary pool=\"...\"> to a pool "
	    "of a cluster or host that runs VMs, in %s", k->cfg->path);
}

/* <canary datastore>, or the accessible datastore with the most free space,
 * among owner's. */
static int
place_datastore(struct canary *k, struct step *st, const struct vmoref *owner)
{
	static const char *const crpaths[] = { "datastore", NULL };
	static const char *const dspaths[] = { "summary.name", "summary.accessible",
	    "summary.freeSpace", NULL };
	const char *want = k->cfg->canary_datastore;
	struct props cr, d;
	long long best = -1;
	int rc;

	if ((rc = read_props(k->c, owner, crpaths, &cr)) != 0)
		return canary_fail_vc(k, st, "the compute resource's datastores", rc);
	for (size_t i = 0; i < cr.nds; i++) {
		if ((rc = read_props(k->c, &cr.ds[i], dspaths, &d)) != 0)
			return canary_fail_vc(k, st, "a datastore's summary", rc);
		if (!d.accessible || (want && strcmp(d.name, want) != 0) || d.free <= best)
			continue;
		best = d.free;
		k->datastore = cr.ds[i];
		snprintf(k->datastore_name, sizeof(k->datastore_name), "%s", d.name);
	}
	if (best >= 0)
		return 0;
	snprintf(st->detail, sizeof(st->detail), "%s%s%s", want ? "no accessible datastore "
	    "named " : "no accessible datastore", want ? want : "", " behind the pool");
	return steps_fail(&k->steps, st, EXIT_CONFIG, "set <canary datastore=\"NAME\"> to a "
	    "datastore the pool's hosts mount, in %s", k->cfg->path);
}

/* The privileges the canary needs, on the entities it uses, before it
 * creates anything. */
int
canary_privileges(struct canary *k)
{
	static const char *const on_folder[] = {
		"VirtualMachine.Inventory.Create", "VirtualMachine.Config.AddNewDisk",
		"VirtualMachine.Inventory.Delete", "Cryptographer.Encrypt",
		"VirtualMachine.Interact.PowerOn", "VirtualMachine.Interact.PowerOff",
	};
	static const char *const on_pool[] = { "Resource.AssignVMToPool" };
	static const char *const on_ds[] = { "Datastore.AllocateSpace" };
	static const char *const on_root[] = { "Global.ManageCustomFields", "Global.SetCustomField" };
	const struct {
		const struct vmoref	*ent;
		const char		*what;
		const char *const	*privs;
		size_t			 n;
	} sets[] = {
		{ &k->folder, k->folder_path, on_folder, k->power ? 6 : 4 },
		{ &k->pool, "the resource pool", on_pool, 1 },
		{ &k->datastore, k->datastore_name, on_ds, 1 },
		{ vsession_mo(k->s, VMO_ROOT_FOLDER), "vCenter's root", on_root, 2 },
	};
	struct step *st = canary_step(k, "privileges", STEP_DONE, "%s holds", k->cfg->vc_user);
	char missing[768] = "";
	size_t nheld = 0;
	int granted[8];

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		int rc = vim_has_privileges(k->c, sets[s].ent, sets[s].privs, sets[s].n, granted);
		vconn_reset(k->c);
		if (rc != 0)
			return canary_fail_vc(k, st, "HasPrivilegeOnEntity", rc);
		for (size_t i = 0; i < sets[s].n; i++) {
			char *buf = granted[i] ? st->detail : missing;
			size_t cap = granted[i] ? sizeof(st->detail) : sizeof(missing);
			int first = granted[i] ? nheld++ == 0 : missing[0] == '\0';
			snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s on %.200s",
			    first ? " " : ", ", sets[s].privs[i], sets[s].what);
		}
	}
	if (missing[0] == '\0')
		return 0;
	snprintf(st->detail, sizeof(st->detail), "%s lacks%s", k->cfg->vc_user, missing);
	return steps_fail(&k->steps, st, EXIT_CANARY_PRIVILEGE, "grant them to %s (a role "
	    "with these privileges on those objects), then run check --canary again; "
	    "nothing was created", k->cfg->vc_user);
}

int
canary_place(struct canary *k)
{
	struct step *st = canary_step(k, "placement", STEP_DONE, "%s", "");
	struct vmoref dc, owner, pdc;
	char dcname[256], pdcname[256];
	int rc;

	if (place_folder(k, st, &dc, dcname, sizeof(dcname)) != 0 ||
	    place_pool(k, st, &dc, &owner) != 0)
		return -1;
	if ((rc = datacenter_of(k->c, k->pool, &pdc, pdcname, sizeof(pdcname))) != 0)
		return canary_fail_vc(k, st, "the pool's datacenter", rc);
	if (strcmp(pdc.value, dc.value) != 0) {
		snprintf(st->detail, sizeof(st->detail), "the folder %.300s is in datacenter "
		    "%.200s, the pool in %.200s", k->folder_path, dcname, pdcname);
		return steps_fail(&k->steps, st, EXIT_CONFIG, "give <canary folder> and <canary "
		    "pool> of one datacenter, in %s", k->cfg->path);
	}
	if (place_host(k, st, &owner) != 0 || place_datastore(k, st, &owner) != 0)
		return -1;
	snprintf(st->detail, sizeof(st->detail), "folder %.250s%s, pool %.250s (%s), host %.150s, "
	    "datastore %.150s%s", k->folder_path, k->cfg->canary_folder ? "" : " (the first "
	    "datacenter's)", k->cfg->canary_pool ? k->cfg->canary_pool : "the first compute "
	    "resource's", k->pool.value, k->host_name, k->datastore_name,
	    k->cfg->canary_datastore ? "" : " (the most free space)");
	return 0;
}
