#include "inventory.h"
#include "log.h"
#include "pbm.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

const char *const inventory_vm_paths[] = {
	"name", "parent", "config.version", "config.template", "config.keyId",
	"config.migrateEncryption", "config.ftEncryptionMode",
	"runtime.powerState", "snapshot", "config.hardware.device",
	"config.changeVersion", "runtime.connectionState", "customValue", "runtime.host",
	"datastore", "config.createDate", "config.instanceUuid",
};
const size_t inventory_nvm_paths =
    sizeof(inventory_vm_paths) / sizeof(inventory_vm_paths[0]);

static char *
dup_text(const xnode *n)
{
	return xstrdup(xnode_text(n));
}

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

static void
disks_from_devices(struct vm_info *vm, const xnode *arr)
{
	for (size_t i = 0; i < vm->ndisks; i++) {
		free(vm->disks[i].backing);
		free(vm->disks[i].label);
		free(vm->disks[i].file);
		free(vm->disks[i].key_id);
		free(vm->disks[i].provider);
		free(vm->disks[i].policy_id);
	}
	free(vm->disks);
	vm->disks = NULL;
	vm->ndisks = 0;
	vm->vtpm = 0;
	int ide[8], nide = 0;
	for (const xnode *d = xnode_first(arr); d; d = xnode_next(d)) {
		const char *s = xnode_path_text(d, "key");
		if (strcmp(xnode_type(d), "VirtualIDEController") == 0 && s && nide < 8)
			ide[nide++] = atoi(s);
	}
	for (const xnode *d = xnode_first(arr); d; d = xnode_next(d)) {
		if (strcmp(xnode_type(d), "VirtualTPM") == 0)
			vm->vtpm = 1;
		if (strcmp(xnode_type(d), "VirtualDisk") != 0)
			continue;
		vm->disks = xreallocarray(vm->disks, vm->ndisks + 1, sizeof(*vm->disks));
		struct disk_info *k = &vm->disks[vm->ndisks++];
		const char *s;
		memset(k, 0, sizeof(*k));
		s = xnode_path_text(d, "key");
		k->key = s ? atoi(s) : 0;
		s = xnode_path_text(d, "controllerKey");
		k->controller_key = s ? atoi(s) : 0;
		for (int j = 0; j < nide; j++)
			k->ide |= s != NULL && ide[j] == k->controller_key;
		s = xnode_path_text(d, "unitNumber");
		k->unit_number = s ? atoi(s) : -1;
		k->label = xstrdup_or_null(xnode_path_text(d, "deviceInfo.label"));
		k->file = xstrdup_or_null(xnode_path_text(d, "backing.fileName"));
		k->key_id = xstrdup_or_null(xnode_path_text(d, "backing.keyId.keyId"));
		k->provider = xstrdup_or_null(xnode_path_text(d, "backing.keyId.providerId.id"));
		k->encrypted = xnode_path(d, "backing.keyId") != NULL;
		const xnode *b = xnode_child(d, "backing");
		const char *bt = b ? xnode_type(b) : "";
		k->backing = *bt ? xstrdup(bt) : NULL;
		k->encryptable = strcmp(bt, "VirtualDiskFlatVer2BackingInfo") == 0 ||
		    strcmp(bt, "VirtualDiskSeSparseBackingInfo") == 0 ||
		    strcmp(bt, "VirtualDiskSparseVer2BackingInfo") == 0;
	}
}

/* The snapshots form one chain (each has at most one child): what a
 * shallow rekey allows (vSphere API reference, CryptoSpecShallowRecrypt;
 * the simulator's check). */
static int
snapshot_chain(const xnode *info)
{
	const xnode *node = NULL;
	int n = 0;

	for (const xnode *r = xnode_first(info); r; r = xnode_next(r))
		if (strcmp(xnode_name(r), "rootSnapshotList") == 0 && n++ == 0)
			node = r;
	if (n > 1)
		return 0;
	for (int depth = 0; node != NULL && depth < 10000; depth++) {
		const xnode *next = NULL;
		n = 0;
		for (const xnode *c = xnode_first(node); c; c = xnode_next(c))
			if (strcmp(xnode_name(c), "childSnapshotList") == 0 && n++ == 0)
				next = c;
		if (n > 1)
			return 0;
		node = next;
	}
	return 1;
}

static void
attrs_clear(struct vm_info *vm)
{
	for (size_t i = 0; i < vm->nattrs; i++) {
		free(vm->attrs[i].name);
		free(vm->attrs[i].value);
	}
	free(vm->attrs);
	vm->attrs = NULL;
	vm->nattrs = 0;
}

void
vm_info_set_prop(struct vm_info *vm, const char *name, const xnode *val)
{
	if (strcmp(name, "name") == 0) {
		set_str(&vm->name, xnode_text(val));
	} else if (strcmp(name, "parent") == 0) {
		snprintf(vm->parent, sizeof(vm->parent), "%s", xnode_text(val));
	} else if (strcmp(name, "config.version") == 0) {
		const char *v = xnode_text(val);
		set_str(&vm->hw_version, v);
		vm->hw_number = strncmp(v, "vmx-", 4) == 0 ? atoi(v + 4) : 0;
		vm->has_config = 1;
	} else if (strcmp(name, "config.template") == 0) {
		vm->template = strcmp(xnode_text(val), "true") == 0;
		vm->has_config = 1;
	} else if (strcmp(name, "config.keyId") == 0) {
		vm->encrypted = val != NULL && xnode_child(val, "keyId") != NULL;
		set_str(&vm->key_id, xnode_path_text(val, "keyId"));
		set_str(&vm->provider, xnode_path_text(val, "providerId.id"));
	} else if (strcmp(name, "config.migrateEncryption") == 0) {
		/* These enums have no empty value: an empty element is unset. */
		set_str(&vm->migrate_encryption, *xnode_text(val) ? xnode_text(val) : NULL);
	} else if (strcmp(name, "config.ftEncryptionMode") == 0) {
		set_str(&vm->ft_encryption_mode, *xnode_text(val) ? xnode_text(val) : NULL);
	} else if (strcmp(name, "runtime.powerState") == 0) {
		set_str(&vm->power_state, xnode_text(val));
	} else if (strcmp(name, "snapshot") == 0) {
		vm->snapshot = val != NULL && xnode_first(val) != NULL;
		vm->snapshot_tree = val != NULL && !snapshot_chain(val);
	} else if (strcmp(name, "config.hardware.device") == 0) {
		disks_from_devices(vm, val);
	} else if (strcmp(name, "config.changeVersion") == 0) {
		set_str(&vm->change_version, xnode_text(val));
	} else if (strcmp(name, "datastore") == 0) {
		free(vm->datastores);
		vm->datastores = NULL;
		vm->ndatastores = 0;
		for (const xnode *d = xnode_first(val); d; d = xnode_next(d)) {
			vm->datastores = xreallocarray(vm->datastores, vm->ndatastores + 1,
			    sizeof(*vm->datastores));
			snprintf(vm->datastores[vm->ndatastores++], sizeof(*vm->datastores), "%s",
			    xnode_text(d));
		}
	} else if (strcmp(name, "runtime.host") == 0) {
		snprintf(vm->host, sizeof(vm->host), "%s", xnode_text(val));
	} else if (strcmp(name, "config.createDate") == 0) {
		snprintf(vm->created, sizeof(vm->created), "%s", xnode_text(val));
	} else if (strcmp(name, "config.instanceUuid") == 0) {
		snprintf(vm->uuid, sizeof(vm->uuid), "%s", xnode_text(val));
	} else if (strcmp(name, "runtime.connectionState") == 0) {
		set_str(&vm->connection_state, xnode_text(val));
	} else if (strcmp(name, "customValue") == 0) {
		attrs_clear(vm);
		for (const xnode *v = xnode_first(val); v; v = xnode_next(v)) {
			const char *k = xnode_path_text(v, "key");
			if (k == NULL)
				continue;
			vm->attrs = xreallocarray(vm->attrs, vm->nattrs + 1, sizeof(*vm->attrs));
			struct vm_attr *a = &vm->attrs[vm->nattrs++];
			a->key = atoi(k);
			a->name = NULL;
			a->value = xstrdup(xnode_path_text(v, "value") ?
			    xnode_path_text(v, "value") : "");
		}
	}
}

void
vm_info_name_attrs(struct vm_info *vm, const int *keys, const char *const *names,
    size_t n)
{
	for (size_t i = 0; i < vm->nattrs; i++)
		for (size_t j = 0; j < n; j++)
			if (vm->attrs[i].key == keys[j])
				set_str(&vm->attrs[i].name, names[j]);
}

void
vm_info_clear(struct vm_info *vm)
{
	disks_from_devices(vm, NULL);
	free(vm->name);
	free(vm->folder);
	free(vm->hw_version);
	free(vm->power_state);
	free(vm->key_id);
	free(vm->provider);
	free(vm->migrate_encryption);
	free(vm->ft_encryption_mode);
	free(vm->home_policy_id);
	free(vm->home_policy_name);
	free(vm->change_version);
	free(vm->connection_state);
	free(vm->reason);
	free(vm->datastores);
	free(vm->key_missing);
	free(vm->key_reason);
	attrs_clear(vm);
	memset(vm, 0, sizeof(*vm));
}

/* ---------------------------------------------------------------- */

struct folder {
	char	 moref[96];
	char	*name;
	char	 parent[96];
};

struct collect {
	struct inventory *inv;
	size_t		  cap;
	struct folder	 *folders;
	size_t		  nfolders;
	const char	 *root;
	char		**ids;		/* distinct profile ids */
	size_t		  nids;
};

static int
vm_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct collect *cs = arg;
	struct inventory *inv = cs->inv;

	if (inv->nvms == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 256;
		inv->vms = xreallocarray(inv->vms, cs->cap, sizeof(*inv->vms));
	}
	struct vm_info *vm = &inv->vms[inv->nvms++];
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->moref, sizeof(vm->moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++)
		vm_info_set_prop(vm, names[i], vals[i]);
	return 0;
}

static int
folder_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct collect *cs = arg;
	cs->folders = xreallocarray(cs->folders, cs->nfolders + 1, sizeof(*cs->folders));
	struct folder *f = &cs->folders[cs->nfolders++];
	memset(f, 0, sizeof(*f));
	snprintf(f->moref, sizeof(f->moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "name") == 0)
			f->name = dup_text(vals[i]);
		else if (strcmp(names[i], "parent") == 0)
			snprintf(f->parent, sizeof(f->parent), "%s", xnode_text(vals[i]));
	}
	return 0;
}

static int
folder_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folder *)a)->moref, ((const struct folder *)b)->moref);
}

static const struct folder *
folder_find(const struct collect *cs, const char *moref)
{
	struct folder key;
	snprintf(key.moref, sizeof(key.moref), "%s", moref);
	if (cs->nfolders == 0)
		return NULL;
	return bsearch(&key, cs->folders, cs->nfolders, sizeof(*cs->folders), folder_cmp);
}

/* Inventory path of a folder ("/DC0/vm/sub"), as govc prints it: the root
 * folder is "/" and has no name in the path.  Names with '/' are escaped
 * as %2f by vCenter already. */
static char *
folder_path(const struct collect *cs, const char *moref)
{
	const char *parts[64];
	size_t n = 0;
	const struct folder *f;

	while (n < 64 && strcmp(moref, cs->root) != 0 && (f = folder_find(cs, moref)) != NULL) {
		parts[n++] = f->name ? f->name : "?";
		moref = f->parent;
	}
	return inventory_path(parts, n);
}

char *
inventory_path(const char *const *parts, size_t n)
{
	size_t len = 2;
	for (size_t i = 0; i < n; i++)
		len += strlen(parts[i]) + 1;
	char *p = xmalloc(len), *w = p;
	if (n == 0)
		*w++ = '/';
	while (n > 0) {
		size_t l = strlen(parts[--n]);
		*w++ = '/';
		memcpy(w, parts[n], l);
		w += l;
	}
	*w = '\0';
	return p;
}

static int
vm_cmp(const void *a, const void *b)
{
	const struct vm_info *x = a, *y = b;
	int r = strcmp(x->name ? x->name : "", y->name ? y->name : "");
	return r ? r : strcmp(x->moref, y->moref);
}

static int
vm_moref_cmp(const void *key, const void *elt)
{
	return strcmp(key, ((const struct vm_info *)elt)->moref);
}

static void
assoc_cb(void *arg, const char *key, const char *profile_id)
{
	struct collect *cs = arg;
	char vm_moref[96];
	const char *colon = strchr(key, ':');

	snprintf(vm_moref, sizeof(vm_moref), "%.*s",
	    colon ? (int)(colon - key) : (int)strlen(key), key);
	struct vm_info *vm = cs->inv->nvms == 0 ? NULL : bsearch(vm_moref, cs->inv->vms,
	    cs->inv->nvms, sizeof(*cs->inv->vms), vm_moref_cmp);
	if (vm == NULL || *profile_id == '\0')
		return;
	if (colon != NULL) {
		int dk = atoi(colon + 1);
		for (size_t i = 0; i < vm->ndisks; i++)
			if (vm->disks[i].key == dk && vm->disks[i].policy_id == NULL)
				vm->disks[i].policy_id = xstrdup(profile_id);
		return;
	}
	if (vm->home_policy_id != NULL)
		return;
	vm->home_policy_id = xstrdup(profile_id);
	for (size_t i = 0; i < cs->nids; i++)
		if (strcmp(cs->ids[i], profile_id) == 0)
			return;
	cs->ids = xreallocarray(cs->ids, cs->nids + 1, sizeof(*cs->ids));
	cs->ids[cs->nids++] = xstrdup(profile_id);
}

static void
name_cb(void *arg, const char *id, const char *name)
{
	struct collect *cs = arg;
	for (size_t i = 0; i < cs->inv->nvms; i++) {
		struct vm_info *vm = &cs->inv->vms[i];
		if (vm->home_policy_id && strcmp(vm->home_policy_id, id) == 0)
			set_str(&vm->home_policy_name, name);
	}
}

static int
morefcmp_vm(const void *a, const void *b)
{
	return strcmp(((const struct vm_info *)a)->moref, ((const struct vm_info *)b)->moref);
}

static int
name_custom_values(struct vconn *c, struct inventory *inv)
{
	struct custom_fields f;
	int any = 0, rc;

	for (size_t i = 0; i < inv->nvms && !any; i++)
		any = inv->vms[i].nattrs > 0;
	if (!any)
		return 0;
	if ((rc = custom_fields_read(c, &f)) != 0)
		return rc;
	for (size_t i = 0; i < inv->nvms; i++)
		vm_info_name_attrs(&inv->vms[i], f.keys, (const char *const *)f.names, f.n);
	custom_fields_free(&f);
	return 0;
}

/* Devices of the encrypted VMs, read after the lean pass (vms sorted by
 * moref). */
static int
devices_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct inventory *inv = arg;
	struct vm_info *vm = bsearch(obj->value, inv->vms, inv->nvms, sizeof(*inv->vms),
	    vm_moref_cmp);

	for (size_t i = 0; vm != NULL && i < n; i++)
		vm_info_set_prop(vm, names[i], vals[i]);
	return 0;
}

static int
needs_disks(const struct vm_info *vm)
{
	return vm->has_config && vm->encrypted && !vm->template;
}

static int
read_devices(struct vconn *c, int page, struct inventory *inv)
{
	static const char *const dpaths[] = { "config.hardware.device" };
	struct vmoref *objs = xcalloc(page > 0 ? (size_t)page : 1, sizeof(*objs));
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i <= inv->nvms; i++) {
		if (i < inv->nvms && needs_disks(&inv->vms[i])) {
			snprintf(objs[n].type, sizeof(objs[n].type), "VirtualMachine");
			snprintf(objs[n].value, sizeof(objs[n].value), "%s", inv->vms[i].moref);
			n++;
		}
		if (n > 0 && (n == (size_t)page || i == inv->nvms)) {
			rc = vim_retrieve_present(c, objs, n, "VirtualMachine", dpaths, 1,
			    devices_cb, inv);
			vconn_reset(c);
			n = 0;
		}
	}
	free(objs);
	return rc;
}

size_t
inventory_pbm_refs(const struct vm_info *vm, struct pbm_ref *refs, char **keys)
{
	size_t n = 0;

	refs[n].type = "virtualMachine";
	refs[n].key = vm->moref;
	keys[n++] = NULL;
	for (size_t d = 0; d < vm->ndisks; d++) {
		keys[n] = xasprintf("%s:%d", vm->moref, vm->disks[d].key);
		refs[n].type = "virtualDiskId";
		refs[n].key = keys[n];
		n++;
	}
	return n;
}

int
inventory_collect(struct vconn *c, int page, struct inventory *inv)
{
	return inventory_collect_ex(c, page, 0, inv);
}

int
inventory_collect_ex(struct vconn *c, int page, unsigned flags, struct inventory *inv)
{
	const char *paths[32];
	size_t npaths = 0;
	static const char *const fpaths[] = { "name", "parent" };
	struct vsession *s = vconn_session(c);
	struct collect cs = { .inv = inv };
	struct vmoref view = { "", "" };
	char **keys = NULL;
	struct pbm_ref *refs = NULL;
	int rc;

	memset(inv, 0, sizeof(*inv));
	inv->vcenter = xstrdup(vsession_about(s, "fullName"));
	inv->api_version = xstrdup(vsession_api_version(s));
	cs.root = vsession_mo(s, VMO_ROOT_FOLDER)->value;

	/* Folders and datacenters, for inventory paths. */
	for (int t = 0; t < 2; t++) {
		const char *type = t == 0 ? "Folder" : "Datacenter";
		rc = vim_create_container_view(c, vsession_mo(s, VMO_ROOT_FOLDER), type, 1, &view);
		if (rc == 0)
			rc = vim_retrieve_view(c, &view, type, fpaths, 2, 1000, folder_cb, &cs);
		if (view.value[0])
			vim_destroy_view(c, &view);
		view.value[0] = '\0';
		if (rc != 0)
			goto out;
	}
	if (cs.nfolders > 0)
		qsort(cs.folders, cs.nfolders, sizeof(*cs.folders), folder_cmp);

	for (size_t i = 0; i < inventory_nvm_paths && npaths < 32; i++)
		if (!(flags & INV_LEAN) ||
		    strcmp(inventory_vm_paths[i], "config.hardware.device") != 0)
			paths[npaths++] = inventory_vm_paths[i];
	rc = vim_create_container_view(c, vsession_mo(s, VMO_ROOT_FOLDER),
	    "VirtualMachine", 1, &view);
	if (rc == 0)
		rc = vim_retrieve_view(c, &view, "VirtualMachine", paths, npaths, page,
		    vm_cb, &cs);
	if (view.value[0])
		vim_destroy_view(c, &view);
	if (rc != 0)
		goto out;

	for (size_t i = 0; i < inv->nvms; i++)
		inv->vms[i].folder = folder_path(&cs, inv->vms[i].parent);

	/* Custom attribute names, for exclusions and reports. */
	if ((rc = name_custom_values(c, inv)) != 0)
		goto out;

	/* Storage policy of each VM home and disk (SPBM), joined by moref. */
	if (inv->nvms > 0)	/* qsort's base must not be NULL, even for 0 */
		qsort(inv->vms, inv->nvms, sizeof(*inv->vms), morefcmp_vm);
	if ((flags & INV_LEAN) && (rc = read_devices(c, page, inv)) != 0)
		goto out;
	size_t nrefs = 0, cap = inv->nvms + 1;
	for (size_t i = 0; i < inv->nvms; i++)
		cap += inv->vms[i].ndisks;
	refs = xcalloc(cap, sizeof(*refs));
	keys = xcalloc(cap, sizeof(*keys));
	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		if (!(flags & INV_LEAN) || needs_disks(vm))
			nrefs += inventory_pbm_refs(vm, refs + nrefs, keys + nrefs);
	}
	rc = pbm_query_profiles(c, refs, nrefs, assoc_cb, &cs);
	for (size_t i = 0; i < nrefs; i++)
		free(keys[i]);
	if (rc == 0)
		rc = pbm_profile_names(c, (const char *const *)cs.ids, cs.nids, name_cb, &cs);
	if (inv->nvms > 0)
		qsort(inv->vms, inv->nvms, sizeof(*inv->vms), vm_cmp);
out:
	free(keys);
	free(refs);
	for (size_t i = 0; i < cs.nfolders; i++)
		free(cs.folders[i].name);
	free(cs.folders);
	for (size_t i = 0; i < cs.nids; i++)
		free(cs.ids[i]);
	free(cs.ids);
	if (rc != 0)
		inventory_free(inv);
	return rc;
}

void
inventory_free(struct inventory *inv)
{
	for (size_t i = 0; i < inv->nvms; i++)
		vm_info_clear(&inv->vms[i]);
	free(inv->vms);
	free(inv->vcenter);
	free(inv->api_version);
	memset(inv, 0, sizeof(*inv));
}
