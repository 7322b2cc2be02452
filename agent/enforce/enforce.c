/*
 * Enforcement: one VM as a straight line, read -> decide -> key -> plan ->
 * reconfigure, and the read-only looks (the batched confirmation, the
 * reconcile scan).  Runs on worker threads with the configuration snapshot
 * its job holds; the enforcer itself keeps what never changes after start
 * (the resolved encryption policy), thread-safe name caches, and two maps
 * read again at every scan behind a mutex: each host's expected key
 * provider (provmap.c) and the datastores vSAN encrypts (vsanmap.c).
 * Every decision on an encrypted VM is made with its keys' availability
 * read just before (keystat.c).
 */
#include "enforce.h"
#include "config.h"
#include "encpolicy.h"
#include "inventory.h"
#include "keyage.h"
#include "keystat.h"
#include "log.h"
#include "pbm.h"
#include "plan.h"
#include "provmap.h"
#include "vsanmap.h"
#include "vmread.h"
#include "xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct enforcer {
	struct encpolicy	 pol;
	int			 ft_supported;	/* API 7.0.2+ */
	struct vmnames		*names;
	pthread_mutex_t		 pm_mtx;	/* guards pm, vs: read by every job */
	struct provmap		 pm;		/* clusters' default providers */
	struct vsanmap		 vs;		/* datastores vSAN encrypts */
	int			 loaded;	/* pm and vs read at least once */
	int			 keys_old_said;	/* the API is too old for key status: said */
	int			 keys_fault;	/* asking for key status faults: said */
	int			(*fence)(void *);	/* may this agent act now? */
	void			*fence_arg;
	struct keybook		*book;		/* each key's age (keyage.c) */
};

struct keybook *
enforcer_keybook(struct enforcer *e)
{
	return e->book;
}

void
enforcer_set_fence(struct enforcer *e, int (*fence)(void *), void *arg)
{
	e->fence = fence;
	e->fence_arg = arg;
}

/* Right before a call that changes vCenter: is this agent still the one
 * that acts (the leader lease)?  0, or 1 with the outcome said. */
static int
fenced(struct enforcer *e, const char *call, struct outcome *o)
{
	if (e->fence == NULL || e->fence(e->fence_arg))
		return 0;
	o->fenced = 1;
	o->err = V_ERR_REFUSED;
	snprintf(o->msg, sizeof(o->msg), "not calling %s: this agent no longer holds the "
	    "leader lease; the leader acts", call);
	return 1;
}

struct enforcer *
enforcer_new(void)
{
	struct enforcer *e = xcalloc(1, sizeof(*e));
	e->names = vmnames_new();
	e->book = keybook_new();
	pthread_mutex_init(&e->pm_mtx, NULL);
	return e;
}

void
enforcer_free(struct enforcer *e)
{
	if (e == NULL)
		return;
	vmnames_free(e->names);
	keybook_free(e->book);
	provmap_free(&e->pm);
	vsanmap_free(&e->vs);
	pthread_mutex_destroy(&e->pm_mtx);
	free(e);
}

/* The compute clusters' (and host folders') default key providers, and
 * the datastores vSAN encrypts, read again: at every scan, and before the
 * first look at a VM.  A fault (a privilege missing, say) keeps the old
 * map with a warning; vCenter trouble fails the caller as any call does:
 * 0 or that V_ERR_*, its message in vconn_error. */
static int
refresh_facts(struct enforcer *e, struct vconn *c)
{
	struct provmap m;
	struct vsanmap v;
	int rc;

	if ((rc = provmap_read(c, &m)) == 0) {
		pthread_mutex_lock(&e->pm_mtx);
		struct provmap old = e->pm;
		e->pm = m;
		pthread_mutex_unlock(&e->pm_mtx);
		provmap_free(&old);
	} else if (rc != V_ERR_FAULT) {
		return rc;
	} else {
		log_warnx("reading the clusters' default key providers: %s", vconn_error(c));
		vconn_reset(c);
	}
	if ((rc = vsanmap_read(c, &v)) == 0) {
		pthread_mutex_lock(&e->pm_mtx);
		struct vsanmap old = e->vs;
		e->vs = v;
		pthread_mutex_unlock(&e->pm_mtx);
		vsanmap_free(&old);
	} else if (rc != V_ERR_FAULT) {
		return rc;
	} else {
		log_warnx("reading vSAN datastores: %s", vconn_error(c));
		vconn_reset(c);
	}
	pthread_mutex_lock(&e->pm_mtx);
	e->loaded = 1;
	pthread_mutex_unlock(&e->pm_mtx);
	return 0;
}

/* The maps, read once if no scan has read them yet. */
static int
ensure_facts(struct enforcer *e, struct vconn *c)
{
	pthread_mutex_lock(&e->pm_mtx);
	int loaded = e->loaded;
	pthread_mutex_unlock(&e->pm_mtx);
	return loaded ? 0 : refresh_facts(e, c);
}

/* What the decision needs beyond vm's own properties: whether vSAN
 * encrypts all its datastores, and the provider it is expected to be
 * encrypted by (returned): its cluster's default where one is set, else
 * <kms cluster> (NULL: vCenter's default). */
static const char *
vm_facts(struct enforcer *e, const struct config *cfg, struct vm_info *vm, char *buf,
    size_t len)
{
	pthread_mutex_lock(&e->pm_mtx);
	const char *p = provmap_lookup(&e->pm, vm->host);
	if (p != NULL)
		snprintf(buf, len, "%s", p);
	vm->vsan_encrypted = vsanmap_covers(&e->vs, vm);
	pthread_mutex_unlock(&e->pm_mtx);
	return p != NULL ? buf : cfg->kms_cluster;
}

int
enforcer_configure(struct enforcer *e, const struct config *cfg, struct vconn *c,
    char *err, size_t errlen)
{
	if (encpolicy_resolve(c, cfg, &e->pol, err, errlen) != 0)
		return -1;
	e->ft_supported = vsession_api_at_least(vconn_session(c), "7.0.2.0");
	log_info("encryption storage policy: \"%s\" (%s)", e->pol.name, e->pol.id);
	return 0;
}

const char *
enforcer_policy_id(struct enforcer *e)
{
	return e->pol.id;
}

const char *
enforcer_policy_name(struct enforcer *e)
{
	return e->pol.name;
}

/* The decision's inputs from the job's configuration snapshot. */
static void
make_policy(const struct enforcer *e, const struct config *cfg, struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->min_hw = cfg->min_hw_version;
	p->encrypt = cfg->encrypt;
	p->migrate = strcmp(cfg->migrate_encryption, "leave") == 0 ? NULL :
	    cfg->migrate_encryption;
	p->ft_required = strcmp(cfg->ft_encryption, "required") == 0;
	p->ft_supported = e->ft_supported;
	p->templates_enforce = strcmp(cfg->templates, "enforce") == 0;
	p->attach_policy = cfg->attach_policy;
	p->policy_id = e->pol.id;
	p->provider = cfg->kms_cluster;
	p->rekey = cfg->rekey_shallow;
	p->vsan_skip = cfg->vsan_skip;
	p->vtpm_report = cfg->vtpm_report;
	p->max_key_age = cfg->rekey_max_age;
	p->now = (double)time(NULL);
	p->excl = cfg->exclusions;
	p->nexcl = cfg->nexclusions;
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

static int
has_kind(const struct config *cfg, enum exclusion_kind k)
{
	for (size_t i = 0; i < cfg->nexclusions; i++)
		if (cfg->exclusions[i].kind == k)
			return 1;
	return 0;
}

/* The names exclusions match on, read only when an exclusion needs them. */
static void
name_for_exclusions(struct enforcer *e, const struct config *cfg, struct vconn *c,
    struct vm_info *vm)
{
	if (has_kind(cfg, EXCL_FOLDER) && vm->parent[0])
		vm->folder = vmnames_folder_path(e->names, c, vm->parent);
	if (has_kind(cfg, EXCL_CUSTOM_ATTR) && vm->nattrs > 0)
		vmnames_attrs(e->names, c, vm);
}

/* The keys of vms, asked (keystat.c).  An API too old to ask is said
 * once; a fault (the account lacks Cryptographer.ManageKeys, say) is
 * said once, and leaves the VMs' keys unknown rather than failing the
 * look.  0, or the V_ERR_* of vCenter trouble. */
static int
enforce_keys(struct enforcer *e, struct vconn *c, struct vm_info *const *vms, size_t n)
{
	int asked = 0, rc = keystat_read(c, vms, n, &asked), say = 0;

	pthread_mutex_lock(&e->pm_mtx);
	if (!asked && !e->keys_old_said)
		e->keys_old_said = say = 1;
	else if (rc == V_ERR_FAULT && !e->keys_fault)
		e->keys_fault = say = 2;
	else if (rc == 0 && asked && e->keys_fault) {
		e->keys_fault = 0;
		say = 3;
	}
	pthread_mutex_unlock(&e->pm_mtx);
	if (say == 1)
		log_info("vCenter speaks API %s: key availability (QueryCryptoKeyStatus, API "
		    "%s and later) is not checked", vsession_api_version(vconn_session(c)),
		    KEYSTAT_API);
	else if (say == 2)
		log_warnx("QueryCryptoKeyStatus: %s; key availability is not checked until it "
		    "answers (the account needs Cryptographer.ManageKeys)", vconn_error(c));
	else if (say == 3)
		log_info("QueryCryptoKeyStatus answers again: key availability checked");
	return rc == V_ERR_FAULT ? 0 : rc;
}

/* ---------------------------------------------------------------- */
/* one VM                                                            */

static void
failed(struct outcome *o, struct vconn *c, int rc)
{
	o->err = rc;
	o->retry = 1;
	snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
}

/* read: the VM (and its recentTask), its policies when it is encrypted,
 * the names its exclusions need.  0, or -1 with o saying why. */
static int
enforce_read(struct enforcer *e, const struct config *cfg, struct vconn *c,
    const struct vmoref *obj, struct vmread *r, struct outcome *o)
{
	const char *paths[32];
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
		failed(o, c, rc);
		return -1;
	}
	snprintf(o->name, sizeof(o->name), "%s", r->vm.name ? r->vm.name : obj->value);
	snprintf(o->uuid, sizeof(o->uuid), "%s", r->vm.uuid);
	snprintf(o->created, sizeof(o->created), "%s", r->vm.created);
	/* Storage policies matter only to an encrypted VM: for a plain one
	 * policy_decide() never reads them (the encrypt action attaches the
	 * policy to home and every disk anyway), so a new VM costs no SPBM
	 * call.  tests/unit/test_policy.c holds policy_decide to that. */
	if (r->vm.has_config && r->vm.encrypted && (rc = vmread_policies(c, &r->vm)) != 0) {
		failed(o, c, rc);
		return -1;
	}
	struct vm_info *one = &r->vm;
	if ((rc = enforce_keys(e, c, &one, 1)) != 0) {
		failed(o, c, rc);
		return -1;
	}
	/* Its key's age from the book only: a look at events would reset
	 * the connection under the devices read (the scan asks them). */
	keyage_fill(e->book, c, &one, 1, NULL);
	name_for_exclusions(e, cfg, c, &r->vm);
	return 0;
}

/* decide: policy_decide, minus encryption while the KMS is held. */
static void
enforce_decide(const struct policy *p, const struct vm_info *vm, int allow_crypto,
    struct decision *d, struct outcome *o)
{
	policy_decide(p, vm, d);
	o->state = d->state;
	o->code = d->code;
	snprintf(o->reason, sizeof(o->reason), "%s", d->reason);
	o->held = 0;
	if (!allow_crypto && (d->actions & (ACT_CRYPTO | ACT_REKEY))) {
		d->actions &= ~(ACT_CRYPTO | ACT_REKEY);
		o->held = 1;
		snprintf(o->reason + strlen(o->reason), sizeof(o->reason) - strlen(o->reason),
		    "; encryption paused: KMS unavailable");
	}
	o->actions = d->actions;
}

/* Right after a restart: a task of the previous run (or another client's)
 * still running on the VM is followed instead of reconfiguring again.
 * 1 adopted; 0 go on; -1 read the VM again (a reconfigure just ended). */
static int
enforce_adopt(struct vconn *c, const struct config *cfg, const struct vmread *r,
    struct outcome *o)
{
	int running = r->recent == NULL ? 0 : vmread_running_task(c, r->recent, cfg->vc_user,
	    &o->task, &o->adopted_ours);
	if (running == 1) {
		o->adopted = 1;
		o->issued = 1;
		return 1;
	}
	return running == 2 ? -1 : 0;
}

/* key: a new one from the VM's expected provider (NULL: the default). */
static int
enforce_key(struct vconn *c, const char *provider, struct vkey *key, struct outcome *o)
{
	int rc = vim_generate_key(c, provider, key);
	if (rc == 0)
		o->key = *key;
	if (rc != 0) {
		o->err = rc;
		o->kms = rc == V_ERR_REFUSED || rc == V_ERR_FAULT ||
		    enforce_is_kms_error(vconn_fault_type(c), vconn_error(c));
		snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
	}
	return rc;
}

/* reconfigure: the one ReconfigVM_Task; what a refusal means. */
static void
enforce_reconfigure(struct vconn *c, const struct vmoref *obj, const struct vreconfig *rs,
    struct outcome *o)
{
	int rc = vim_reconfigure(c, obj, rs, &o->task);
	if (rc == 0) {
		o->issued = 1;
		return;
	}
	const char *ft = vconn_fault_type(c);
	o->err = rc;
	snprintf(o->msg, sizeof(o->msg), "%s", vconn_error(c));
	o->kms = enforce_is_kms_error(ft, o->msg);
	/* Someone changed it, or it is busy: look again, don't overwrite. */
	o->retry = strcmp(ft, "ConcurrentAccess") == 0 || strcmp(ft, "TaskInProgress") == 0 ||
	    strcmp(ft, "InvalidPowerState") == 0 || strcmp(ft, "InvalidState") == 0 ||
	    rc == V_ERR_TRANSPORT;
}

int
enforce_vm(struct enforcer *e, const struct config *cfg, struct vconn *c,
    const char *moref, unsigned allow, int dry_run, int check_running,
    struct outcome *o)
{
	struct policy p;
	struct decision d;
	struct vmread r;
	struct vmoref obj;
	struct vkey key;
	struct vreconfig rs;
	const xnode **disks = NULL;
	char prov[256];

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	memset(&key, 0, sizeof(key));
	make_policy(e, cfg, &p);
	p.rekey = p.rekey && (allow & ENF_REKEY);
	p.age_rekey = (allow & ENF_AGE_REKEY) != 0;
	p.canary_own = (allow & ENF_CANARY) != 0;
	snprintf(obj.type, sizeof(obj.type), "VirtualMachine");
	snprintf(obj.value, sizeof(obj.value), "%s", moref);
	int frc = ensure_facts(e, c);
	if (frc != 0) {
		failed(o, c, frc);
		goto out;
	}
	for (int look = 0; look < 2; look++) {
		if (enforce_read(e, cfg, c, &obj, &r, o) != 0)
			goto out;
		p.provider = vm_facts(e, cfg, &r.vm, prov, sizeof(prov));
		enforce_decide(&p, &r.vm, (allow & ENF_CRYPTO) != 0, &d, o);
		if (d.actions == 0 || dry_run)
			goto out;
		int adopt = check_running ? enforce_adopt(c, cfg, &r, o) : 0;
		if (adopt == 1)
			goto out;
		if (adopt == 0 || look > 0)
			break;
		vm_info_clear(&r.vm);		/* once: it ended between two reads */
		memset(&r, 0, sizeof(r));
	}
	if (plan_needs_key(&d) && (fenced(e, "GenerateKey", o) ||
	    enforce_key(c, p.provider, &key, o) != 0))
		goto out;
	disks = xcalloc(r.vm.ndisks + 1, sizeof(*disks));
	if (plan_reconfigure(&p, &d, &r.vm, r.devices, &key, disks, &rs) != 0) {
		o->err = V_ERR_PROTO;
		o->retry = 1;
		snprintf(o->msg, sizeof(o->msg), "disk device missing from config.hardware.device");
		goto out;
	}
	if (!fenced(e, "ReconfigVM_Task", o))
		enforce_reconfigure(c, &obj, &rs, o);
	/* A rekey issued: its old key is never rekeyed again. */
	if (o->issued && (d.actions & ACT_REKEY) && r.vm.key_id != NULL) {
		keybook_replaced(e->book, r.vm.key_id);
		snprintf(o->replaces, sizeof(o->replaces), "%s", r.vm.key_id);
	}
out:
	free(disks);
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
		vmread_assoc(&ls->r[i].vm, key, profile);
}

int
enforce_look(struct enforcer *e, const struct config *cfg, struct vconn *c,
    const char *const *morefs, size_t n, struct outcome *outs)
{
	struct policy p;
	struct lookset ls = { morefs, n, NULL };
	struct vmoref *objs;
	struct pbm_ref *refs = NULL;
	char **keys = NULL;
	struct vm_info **seen = NULL;
	size_t nrefs = 0, nseen = 0;
	int rc;

	make_policy(e, cfg, &p);
	ls.r = xcalloc(n ? n : 1, sizeof(*ls.r));
	objs = xcalloc(n ? n : 1, sizeof(*objs));
	for (size_t i = 0; i < n; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		snprintf(objs[i].type, sizeof(objs[i].type), "VirtualMachine");
		snprintf(objs[i].value, sizeof(objs[i].value), "%s", morefs[i]);
	}
	if ((rc = ensure_facts(e, c)) != 0)
		goto out;
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
	/* Every key of the batch in one QueryCryptoKeyStatus. */
	seen = xcalloc(n ? n : 1, sizeof(*seen));
	for (size_t i = 0; i < n; i++)
		if (ls.r[i].seen)
			seen[nseen++] = &ls.r[i].vm;
	if ((rc = enforce_keys(e, c, seen, nseen)) != 0)
		goto out;
	keyage_fill(e->book, c, seen, nseen, NULL);
	for (size_t i = 0; i < n; i++) {
		struct vmread *r = &ls.r[i];
		struct outcome *o = &outs[i];
		struct decision d;
		if (!r->seen) {
			o->gone = 1;
			continue;
		}
		snprintf(o->name, sizeof(o->name), "%s", r->vm.name ? r->vm.name : morefs[i]);
		name_for_exclusions(e, cfg, c, &r->vm);
		char prov[256];
		p.provider = vm_facts(e, cfg, &r->vm, prov, sizeof(prov));
		policy_decide(&p, &r->vm, &d);
		o->state = d.state;
		o->code = d.code;
		snprintf(o->uuid, sizeof(o->uuid), "%s", r->vm.uuid);
		snprintf(o->created, sizeof(o->created), "%s", r->vm.created);
		snprintf(o->reason, sizeof(o->reason), "%s", d.reason);
		o->actions = d.actions;
	}
out:
	for (size_t i = 0; i < nrefs; i++)
		free(keys[i]);
	free(keys);
	free(refs);
	free(seen);
	for (size_t i = 0; i < n; i++)
		vm_info_clear(&ls.r[i].vm);
	free(ls.r);
	free(objs);
	vconn_reset(c);
	return rc;
}

/* ---------------------------------------------------------------- */

void
enforce_key_ages(struct enforcer *e, struct vconn *c, struct vm_info *const *vms, size_t n)
{
	int budget = KEYAGE_EVENTS_PER_SCAN;

	keyage_fill(e->book, c, vms, n, &budget);
	vconn_reset(c);
}

int
enforce_scan(struct enforcer *e, const struct config *cfg, struct vconn *c, int page,
    unsigned flags, struct inventory *inv, unsigned **acts)
{
	struct policy p;
	int rc;

	*acts = NULL;
	make_policy(e, cfg, &p);
	if ((rc = refresh_facts(e, c)) != 0 ||
	    (rc = inventory_collect_ex(c, page, flags & ~SCAN_KEY_EVENTS, inv)) != 0)
		return rc;
	/* Every encrypted VM's keys, each asked once, 100 to a call. */
	struct vm_info **all = xcalloc(inv->nvms ? inv->nvms : 1, sizeof(*all));
	for (size_t i = 0; i < inv->nvms; i++)
		all[i] = &inv->vms[i];
	rc = enforce_keys(e, c, all, inv->nvms);
	/* Each key's age: the book, then vCenter's events for a bounded
	 * number of keys it does not know (the rest at the next scans). */
	int budget = KEYAGE_EVENTS_PER_SCAN;
	if (rc == 0)
		keyage_fill(e->book, c, all, inv->nvms,
		    (flags & SCAN_KEY_EVENTS) ? &budget : NULL);
	free(all);
	vconn_reset(c);
	if (rc != 0) {
		inventory_free(inv);
		return rc;
	}
	*acts = xcalloc(inv->nvms ? inv->nvms : 1, sizeof(**acts));
	for (size_t i = 0; i < inv->nvms; i++) {
		struct vm_info *vm = &inv->vms[i];
		struct decision d;
		char prov[256];
		p.provider = vm_facts(e, cfg, vm, prov, sizeof(prov));
		policy_decide(&p, vm, &d);
		vm->decided = 1;
		vm->state = d.state;
		vm->code = d.code;
		vm->reason = xstrdup(d.reason);
		(*acts)[i] = d.actions;
	}
	return 0;
}
