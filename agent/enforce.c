#include "enforce.h"
#include "config.h"
#include "inventory.h"
#include "log.h"
#include "pbm.h"
#include "xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The data-service component VMware's default "VM Encryption Policy"
 * refers to (api-facts F.4). */
#define DEFAULT_ENCRYPTION_COMPONENT	"ad5a249d-cbc2-43af-9366-694d7664fa52"
#define DATASERVICE_NS			"com.vmware.storageprofile.dataservice"

struct fcache {
	char	 moref[96];
	char	*name;
	char	 parent[96];
};

struct enforcer {
	pthread_mutex_t		 mtx;
	const struct config	*cfg;
	char			 policy_id[64];
	char			 policy_name[256];
	int			 ft_supported;
	/* caches, behind mtx */
	struct fcache		*folders;
	size_t			 nfolders;
	struct custom_fields	 fields;
};

struct enforcer *
enforcer_new(void)
{
	struct enforcer *e = xcalloc(1, sizeof(*e));
	pthread_mutex_init(&e->mtx, NULL);
	return e;
}

void
enforcer_free(struct enforcer *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nfolders; i++)
		free(e->folders[i].name);
	free(e->folders);
	custom_fields_free(&e->fields);
	pthread_mutex_destroy(&e->mtx);
	free(e);
}

void
enforcer_set_config(struct enforcer *e, const struct config *cfg)
{
	pthread_mutex_lock(&e->mtx);
	e->cfg = cfg;
	pthread_mutex_unlock(&e->mtx);
}

const char *
enforcer_policy_id(struct enforcer *e)
{
	return e->policy_id;
}

const char *
enforcer_policy_name(struct enforcer *e)
{
	return e->policy_name;
}

/* ---------------------------------------------------------------- */
/* encryption policy                                                 */

static int
is_named(const xnode *n, const char *name)
{
	return strcmp(xnode_name(n), name) == 0;
}

int
policy_profile_is_encryption(const xnode *prof, char (*ds)[64], size_t *nds,
    size_t nds_max)
{
	const xnode *cons = xnode_child(prof, "constraints");
	int yes = 0;

	*nds = 0;
	if (cons == NULL)
		return 0;
	for (const xnode *sp = xnode_first(cons); sp; sp = xnode_next(sp)) {
		if (!is_named(sp, "subProfiles"))
			continue;
		for (const xnode *cap = xnode_first(sp); cap; cap = xnode_next(cap)) {
			if (!is_named(cap, "capability"))
				continue;
			const char *ns = xnode_path_text(cap, "id.namespace");
			const char *id = xnode_path_text(cap, "id.id");
			if (ns == NULL || id == NULL)
				continue;
			if (strcmp(ns, "vmwarevmcrypt") == 0 || strstr(id, "@ENCRYPTION") != NULL)
				yes = 1;
			if (strcmp(ns, DATASERVICE_NS) != 0)
				continue;
			if (strcmp(id, DEFAULT_ENCRYPTION_COMPONENT) == 0) {
				yes = 1;
				continue;
			}
			if (*nds < nds_max) {
				snprintf(ds[*nds], 64, "%s", id);
				(*nds)++;
			}
		}
	}
	return yes;
}

struct polsearch {
	const char	*want_name, *want_id;
	char		 id[64];
	char		 name[256];
	int		 found, encryption;
	char		 ds[8][64];
	size_t		 nds;
	int		 ds_encryption;
};

static void
polsearch_cb(void *arg, const xnode *p)
{
	struct polsearch *ps = arg;
	const char *id = xnode_path_text(p, "profileId.uniqueId");
	const char *name = xnode_path_text(p, "name");

	if (id == NULL || ps->found)
		return;
	if ((ps->want_id && strcmp(ps->want_id, id) == 0) ||
	    (!ps->want_id && ps->want_name && name && strcmp(ps->want_name, name) == 0)) {
		ps->found = 1;
		snprintf(ps->id, sizeof(ps->id), "%s", id);
		snprintf(ps->name, sizeof(ps->name), "%s", name ? name : "");
		ps->encryption = policy_profile_is_encryption(p, ps->ds, &ps->nds, 8);
	}
}

static void
dscheck_cb(void *arg, const xnode *p)
{
	struct polsearch *ps = arg;
	char ds[8][64];
	size_t nds;

	if (policy_profile_is_encryption(p, ds, &nds, 8))
		ps->ds_encryption = 1;
}

int
enforcer_configure(struct enforcer *e, const struct config *cfg, struct vconn *c,
    char *err, size_t errlen)
{
	struct polsearch ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.want_name = cfg->policy_name;
	ps.want_id = cfg->policy_id;
	if (ps.want_name == NULL && ps.want_id == NULL)
		ps.want_name = "VM Encryption Policy";
	rc = pbm_requirement_profiles(c, polsearch_cb, &ps);
	if (rc != 0) {
		snprintf(err, errlen, "cannot list storage policies: %s", vconn_error(c));
		return -1;
	}
	if (!ps.found) {
		snprintf(err, errlen, "storage policy %s%s%s not found in SPBM; create it "
		    "(vSphere Client: Policies and Profiles > VM Storage Policies) or fix "
		    "<encryption-policy> in %s",
		    ps.want_id ? "id " : "\"", ps.want_id ? ps.want_id : ps.want_name,
		    ps.want_id ? "" : "\"", cfg->path ? cfg->path : "the configuration");
		return -1;
	}
	if (!ps.encryption && ps.nds > 0) {
		const char *ids[8];
		for (size_t i = 0; i < ps.nds; i++)
			ids[i] = ps.ds[i];
		if (pbm_retrieve_profiles(c, ids, ps.nds, dscheck_cb, &ps) == 0 &&
		    ps.ds_encryption)
			ps.encryption = 1;
	}
	if (!ps.encryption) {
		snprintf(err, errlen, "storage policy \"%s\" (%s) is not an encryption "
		    "policy: it has no vmwarevmcrypt/ENCRYPTION rule; use \"VM Encryption "
		    "Policy\" or a policy with host-based encryption", ps.name, ps.id);
		return -1;
	}
	pthread_mutex_lock(&e->mtx);
	e->cfg = cfg;
	snprintf(e->policy_id, sizeof(e->policy_id), "%s", ps.id);
	snprintf(e->policy_name, sizeof(e->policy_name), "%s", ps.name);
	e->ft_supported = vsession_api_at_least(vconn_session(c), "7.0.2.0");
	pthread_mutex_unlock(&e->mtx);
	log_info("encryption storage policy: \"%s\" (%s)", ps.name, ps.id);
	return 0;
}

static void
make_policy(struct enforcer *e, struct policy *p, const struct config **cfgp)
{
	pthread_mutex_lock(&e->mtx);
	const struct config *cfg = e->cfg;
	memset(p, 0, sizeof(*p));
	p->min_hw = cfg->min_hw_version;
	p->encrypt = cfg->encrypt;
	p->migrate = strcmp(cfg->migrate_encryption, "leave") == 0 ? NULL :
	    cfg->migrate_encryption;
	p->ft_required = strcmp(cfg->ft_encryption, "required") == 0;
	p->ft_supported = e->ft_supported;
	p->templates_enforce = strcmp(cfg->templates, "enforce") == 0;
	p->attach_policy = cfg->attach_policy;
	p->policy_id = e->policy_id;
	p->excl = cfg->exclusions;
	p->nexcl = cfg->nexclusions;
	pthread_mutex_unlock(&e->mtx);
	*cfgp = cfg;
}

int
enforce_is_kms_error(const char *fault_type, const char *msg)
{
	static const char *const needles[] = {
		"Cannot generate key", "cannot generate key", "No default provider",
		"KMS", "Key Management", "key provider", "KeyProvider",
	};
	if (fault_type && (strcmp(fault_type, "CryptoKeyResult") == 0 ||
	    strcmp(fault_type, "EncryptionKeyRequired") == 0))
		return 1;
	for (size_t i = 0; msg && i < sizeof(needles) / sizeof(needles[0]); i++)
		if (strstr(msg, needles[i]) != NULL)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- */
/* one VM                                                            */

struct vmread {
	struct vm_info	 vm;
	const xnode	*devices;
	const xnode	*recent;	/* recentTask */
	int		 seen;
};

static int
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

/*
 * A task already queued or running on the VM, from its recentTask list:
 * ours from before a restart (the process died after ReconfigVM_Task was
 * sent), or another client's.  Reconfiguring now would apply the change a
 * second time or be refused with TaskInProgress; the caller follows it and
 * looks at the VM again when it ends.  Returns 1 with *task then; 2 if
 * none runs but a reconfigure has ended (it may have ended after the VM was
 * read: the caller reads the VM again); 0 otherwise.
 */
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

static int
running_task(struct vconn *c, const xnode *recent, const char *user, struct vmoref *task,
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

static void
policy_assoc_cb(void *arg, const char *key, const char *profile)
{
	struct vm_info *vm = arg;
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

/* Reads the policies on VM home and on each encryptable disk. */
static int
read_policies(struct vconn *c, struct vm_info *vm)
{
	struct pbm_ref *refs = xcalloc(vm->ndisks + 1, sizeof(*refs));
	char **keys = xcalloc(vm->ndisks + 1, sizeof(*keys));
	size_t n = inventory_pbm_refs(vm, refs, keys);
	int rc = pbm_query_profiles(c, refs, n, policy_assoc_cb, vm);

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

/* Inventory path of the VM's parent folder, as inventory prints it,
 * through a cache of folders (name, parent) filled on demand. */
static char *
folder_path(struct enforcer *e, struct vconn *c, const char *moref)
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

static void
name_attrs(struct enforcer *e, struct vconn *c, struct vm_info *vm)
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

static int
has_kind(const struct config *cfg, enum exclusion_kind k)
{
	for (size_t i = 0; i < cfg->nexclusions; i++)
		if (cfg->exclusions[i].kind == k)
			return 1;
	return 0;
}

/* The disk device trees, by key, to send back in the reconfigure. */
static const xnode *
disk_node(const xnode *devices, int key)
{
	for (const xnode *d = xnode_first(devices); d; d = xnode_next(d)) {
		const char *k = xnode_path_text(d, "key");
		if (k && atoi(k) == key && strcmp(xnode_type(d), "VirtualDisk") == 0)
			return d;
	}
	return NULL;
}

/*
 * Reads the VM (and its recentTask), its policies, and decides.  0, or -1
 * with o saying why (gone, or an error worth a retry).
 */
static int
read_and_decide(struct enforcer *e, struct vconn *c, const struct config *cfg,
    const struct policy *p, const struct vmoref *obj, int allow_crypto, struct vmread *r,
    struct decision *d, struct outcome *o)
{
	const char *moref = obj->value, *paths[32];
	size_t npaths = 0;
	int rc;

	for (; npaths < inventory_nvm_paths && npaths < 31; npaths++)
		paths[npaths] = inventory_vm_paths[npaths];
	paths[npaths++] = "recentTask";
	rc = vim_retrieve_objects(c, obj, 1, "VirtualMachine", paths, npaths, vmread_cb, r);
	/* Not found, or simply not returned: the VM no longer exists. */
	if ((rc == 0 && !r->seen) || (rc == V_ERR_FAULT &&
	    strcmp(vconn_fault_type(c), "ManagedObjectNotFound") == 0)) {
		o->gone = 1;
		return -1;
	}
	if (rc != 0) {
		o->err = rc;
		o->retry = 1;
		snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
		return -1;
	}
	snprintf(o->name, sizeof(o->name), "%s", r->vm.name ? r->vm.name : moref);
	/* Storage policies matter only to an encrypted VM: for a plain one
	 * policy_decide() never reads them (the encrypt action attaches the
	 * policy to home and every disk anyway), so a new VM costs no SPBM
	 * call.  tests/unit/test_policy.c holds policy_decide to that. */
	if (r->vm.has_config && r->vm.encrypted && (rc = read_policies(c, &r->vm)) != 0) {
		o->err = rc;
		o->retry = 1;
		snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
		return -1;
	}
	if (has_kind(cfg, EXCL_FOLDER) && r->vm.parent[0])
		r->vm.folder = folder_path(e, c, r->vm.parent);
	if (has_kind(cfg, EXCL_CUSTOM_ATTR) && r->vm.nattrs > 0)
		name_attrs(e, c, &r->vm);

	policy_decide(p, &r->vm, d);
	o->state = d->state;
	snprintf(o->reason, sizeof(o->reason), "%s", d->reason);
	if (!allow_crypto && (d->actions & ACT_CRYPTO)) {
		d->actions &= ~ACT_CRYPTO;
		snprintf(o->reason + strlen(o->reason), sizeof(o->reason) - strlen(o->reason),
		    "; encryption paused: KMS unavailable");
	}
	o->actions = d->actions;
	return 0;
}

int
enforce_vm(struct enforcer *e, struct vconn *c, const char *moref,
    int allow_crypto, int dry_run, int check_running, struct outcome *o)
{
	const struct config *cfg;
	struct policy p;
	struct decision d;
	struct vmread r;
	struct vmoref obj;
	int rc;

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	make_policy(e, &p, &cfg);
	snprintf(obj.type, sizeof(obj.type), "VirtualMachine");
	snprintf(obj.value, sizeof(obj.value), "%s", moref);

	for (int look = 0;; look++) {
		if (read_and_decide(e, c, cfg, &p, &obj, allow_crypto, &r, &d, o) != 0)
			goto out;
		if (d.actions == 0 || dry_run)
			goto out;
		int running = !check_running || r.recent == NULL ? 0 :
		    running_task(c, r.recent, cfg->vc_user, &o->task, &o->adopted_ours);
		if (running == 1) {
			o->adopted = 1;
			o->issued = 1;
			goto out;
		}
		if (running == 0 || look > 0)
			break;
		/* Once: a reconfigure that ended between the two reads. */
		vm_info_clear(&r.vm);
		memset(&r, 0, sizeof(r));
	}

	/* Build the one reconfigure. */
	struct vreconfig rs;
	struct vkey key;
	const xnode **disks = xcalloc(r.vm.ndisks + 1, sizeof(*disks));
	memset(&rs, 0, sizeof(rs));
	rs.change_version = r.vm.change_version;
	rs.profile_id = p.policy_id;
	if (d.actions & ACT_ENCRYPT) {
		const char *prov = cfg->kms_cluster;
		if ((rc = vim_generate_key(c, prov, &key)) != 0) {
			o->err = rc;
			o->kms = rc == V_ERR_REFUSED || enforce_is_kms_error(vconn_fault_type(c),
			    vconn_error(c)) || rc == V_ERR_FAULT;
			snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
			free(disks);
			goto out;
		}
		rs.crypto_vm = rs.disk_crypto = 1;
		rs.home_profile = rs.disk_profile = 1;
		rs.key_id = key.key_id;
		rs.provider = key.provider;
		for (size_t i = 0; i < r.vm.ndisks; i++)
			if (r.vm.disks[i].encryptable)
				disks[rs.ndisks++] = disk_node(r.devices, r.vm.disks[i].key);
	} else if (d.actions & (ACT_ENCRYPT_DISKS | ACT_POLICY)) {
		/* Encrypted VM: the VM's own key for its plain disks, never a new
		 * key for the VM. */
		rs.disk_crypto = (d.actions & ACT_ENCRYPT_DISKS) != 0;
		rs.key_id = r.vm.key_id;
		rs.provider = r.vm.provider;
		rs.disk_profile = 1;
		rs.home_profile = (d.actions & ACT_POLICY) &&
		    (r.vm.home_policy_id == NULL || strcmp(r.vm.home_policy_id, p.policy_id) != 0);
		for (size_t i = 0; i < r.vm.ndisks; i++) {
			const struct disk_info *k = &r.vm.disks[i];
			if (!k->encryptable)
				continue;
			int plain = !k->encrypted && (d.actions & ACT_ENCRYPT_DISKS);
			int nopol = (d.actions & ACT_POLICY) &&
			    (k->policy_id == NULL || strcmp(k->policy_id, p.policy_id) != 0);
			if (plain || nopol)
				disks[rs.ndisks++] = disk_node(r.devices, k->key);
		}
	}
	for (size_t i = 0; i < rs.ndisks; i++)
		if (disks[i] == NULL) {
			o->err = V_ERR_PROTO;
			o->retry = 1;
			snprintf(o->msg, sizeof(o->msg), "disk device missing from config.hardware.device");
			free(disks);
			goto out;
		}
	rs.disks = disks;
	if (d.actions & (ACT_MIGRATE | ACT_ENCRYPT))
		rs.migrate = p.migrate;
	if (d.actions & ACT_FT)
		rs.ft = "ftEncryptionRequired";
	rc = vim_reconfigure(c, &obj, &rs, &o->task);
	free(disks);
	if (rc != 0) {
		const char *ft = vconn_fault_type(c);
		o->err = rc;
		snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
		o->kms = enforce_is_kms_error(ft, o->msg);
		/* Someone changed it, or it is busy: look again, don't overwrite. */
		o->retry = strcmp(ft, "ConcurrentAccess") == 0 ||
		    strcmp(ft, "TaskInProgress") == 0 || strcmp(ft, "InvalidPowerState") == 0 ||
		    strcmp(ft, "InvalidState") == 0 || rc == V_ERR_TRANSPORT;
		goto out;
	}
	o->issued = 1;
out:
	vm_info_clear(&r.vm);
	vconn_reset(c);
	return o->err == 0 || o->issued ? 0 : -1;
}

/* ---------------------------------------------------------------- */
/* many VMs, read only                                               */

struct lookset {
	const char *const	*morefs;
	size_t			 n;
	struct vmread		*r;
};

static long
look_index(const struct lookset *ls, const char *moref, size_t len)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strncmp(ls->morefs[i], moref, len) == 0 && ls->morefs[i][len] == '\0')
			return (long)i;
	return -1;
}

static int
look_read_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct lookset *ls = arg;
	long i = look_index(ls, obj->value, strlen(obj->value));

	if (i < 0 || ls->r[i].seen)
		return 0;
	return vmread_cb(&ls->r[i], obj, n, names, vals);
}

static void
look_assoc_cb(void *arg, const char *key, const char *profile)
{
	struct lookset *ls = arg;
	const char *colon = strchr(key, ':');
	long i = look_index(ls, key, colon ? (size_t)(colon - key) : strlen(key));

	if (i >= 0)
		policy_assoc_cb(&ls->r[i].vm, key, profile);
}

int
enforce_look(struct enforcer *e, struct vconn *c, const char *const *morefs, size_t n,
    struct outcome *outs)
{
	const struct config *cfg;
	struct policy p;
	struct lookset ls = { morefs, n, NULL };
	struct vmoref *objs;
	struct pbm_ref *refs = NULL;
	char **keys = NULL;
	size_t nrefs = 0;
	int rc;

	make_policy(e, &p, &cfg);
	ls.r = xcalloc(n ? n : 1, sizeof(*ls.r));
	objs = xcalloc(n ? n : 1, sizeof(*objs));
	for (size_t i = 0; i < n; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		snprintf(objs[i].type, sizeof(objs[i].type), "VirtualMachine");
		snprintf(objs[i].value, sizeof(objs[i].value), "%s", morefs[i]);
	}
	rc = vim_retrieve_present(c, objs, n, "VirtualMachine", inventory_vm_paths,
	    inventory_nvm_paths, look_read_cb, &ls);
	if (rc != 0)
		goto out;
	/* Every VM home and disk in one SPBM query. */
	size_t cap = 0;
	for (size_t i = 0; i < n; i++)
		cap += ls.r[i].vm.has_config ? 1 + ls.r[i].vm.ndisks : 0;
	refs = xcalloc(cap ? cap : 1, sizeof(*refs));
	keys = xcalloc(cap ? cap : 1, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		if (ls.r[i].seen && ls.r[i].vm.has_config)
			nrefs += inventory_pbm_refs(&ls.r[i].vm, refs + nrefs, keys + nrefs);
	if (nrefs > 0 && (rc = pbm_query_profiles(c, refs, nrefs, look_assoc_cb, &ls)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct vmread *r = &ls.r[i];
		struct outcome *o = &outs[i];
		struct decision d;
		if (!r->seen) {
			o->gone = 1;
			continue;
		}
		snprintf(o->name, sizeof(o->name), "%s", r->vm.name ? r->vm.name : morefs[i]);
		if (has_kind(cfg, EXCL_FOLDER) && r->vm.parent[0])
			r->vm.folder = folder_path(e, c, r->vm.parent);
		if (has_kind(cfg, EXCL_CUSTOM_ATTR) && r->vm.nattrs > 0)
			name_attrs(e, c, &r->vm);
		policy_decide(&p, &r->vm, &d);
		o->state = d.state;
		snprintf(o->reason, sizeof(o->reason), "%s", d.reason);
		o->actions = d.actions;
	}
out:
	for (size_t i = 0; i < nrefs; i++)
		free(keys[i]);
	free(keys);
	free(refs);
	for (size_t i = 0; i < n; i++)
		vm_info_clear(&ls.r[i].vm);
	free(ls.r);
	free(objs);
	vconn_reset(c);
	return rc;
}

/* ---------------------------------------------------------------- */

int
enforce_scan(struct enforcer *e, struct vconn *c, int page, unsigned flags,
    struct inventory *inv, unsigned **acts)
{
	const struct config *cfg;
	struct policy p;
	int rc;

	*acts = NULL;
	make_policy(e, &p, &cfg);
	if ((rc = inventory_collect_ex(c, page, flags, inv)) != 0)
		return rc;
	*acts = xcalloc(inv->nvms ? inv->nvms : 1, sizeof(**acts));
	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		struct decision d;
		policy_decide(&p, vm, &d);
		vm->state = vm_state_name(d.state);
		vm->reason = xstrdup(d.reason);
		(*acts)[i] = d.actions;
	}
	return 0;
}
