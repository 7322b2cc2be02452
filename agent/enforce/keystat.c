/*
 * Key availability (keystat.h): each distinct key asked once, in batches,
 * however many VMs and disks share it.
 */
#include "keystat.h"

#include "inventory.h"
#include "policy.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One key one VM uses (home or a disk). */
struct use {
	const char	*key, *prov;	/* into the VM's vm_info */
	size_t		 vm;
	size_t		 uniq;		/* its index among the distinct keys */
};

/* vCenter's answer on one distinct key. */
struct answer {
	int	available;		/* 1, 0, -1 not said */
	char	reason[64];
};

struct batch {
	const struct vkey	*keys;
	size_t			 n;
	struct answer		*ans;
};

static int
use_cmp(const void *a, const void *b)
{
	const struct use *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->prov, y->prov);
}

static void
add_use(struct use **u, size_t *n, size_t *cap, const char *key, const char *prov, size_t vm)
{
	if (key == NULL || key[0] == '\0')
		return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*u = xreallocarray(*u, *cap, sizeof(**u));
	}
	(*u)[(*n)++] = (struct use){ key, prov ? prov : "", vm, 0 };
}

/* One status, matched to the key it is about: the answers come in the
 * order asked (the API reference), but the key id says for sure. */
static void
status_cb(void *arg, size_t i, const xnode *st)
{
	struct batch *b = arg;
	const char *id = xnode_path_text(st, "keyId.keyId");
	const char *av = xnode_path_text(st, "keyAvailable");
	const char *why = xnode_path_text(st, "reason");

	if (id != NULL && (i >= b->n || strcmp(b->keys[i].key_id, id) != 0))
		for (i = 0; i < b->n && strcmp(b->keys[i].key_id, id) != 0; i++)
			;
	if (i >= b->n)
		return;
	b->ans[i].available = av == NULL ? -1 : strcmp(av, "true") == 0 ? 1 : 0;
	snprintf(b->ans[i].reason, sizeof(b->ans[i].reason), "%s", why ? why : "");
}

static void
reset_vm(struct vm_info *vm)
{
	vm->key_avail = KEY_UNKNOWN;
	free(vm->key_missing);
	free(vm->key_reason);
	vm->key_missing = vm->key_reason = NULL;
}

/* A VM's verdict from one of its keys: a missing key decides it. */
static void
judge(struct vm_info *vm, const struct use *u, const struct answer *a)
{
	enum key_avail k = policy_key_avail(a->available, a->reason);

	if (vm->key_avail == KEY_MISSING || k == KEY_UNKNOWN)
		return;
	vm->key_avail = k;
	if (k == KEY_MISSING) {
		vm->key_missing = xstrdup(u->key);
		vm->key_reason = xstrdup(a->reason);
	}
}

int
keystat_read(struct vconn *c, struct vm_info *const *vms, size_t n, int *asked)
{
	struct use *u = NULL;
	struct vkey *keys = NULL;
	struct answer *ans = NULL;
	size_t nu = 0, cap = 0, nk = 0;
	int rc = 0;

	*asked = 0;
	for (size_t i = 0; i < n; i++)
		reset_vm(vms[i]);
	if (!vsession_api_at_least(vconn_session(c), KEYSTAT_API))
		return 0;
	*asked = 1;
	for (size_t i = 0; i < n; i++) {
		const struct vm_info *vm = vms[i];
		if (!vm->has_config)
			continue;
		if (vm->encrypted)
			add_use(&u, &nu, &cap, vm->key_id, vm->provider, i);
		for (size_t d = 0; d < vm->ndisks; d++)
			if (vm->disks[d].encrypted)
				add_use(&u, &nu, &cap, vm->disks[d].key_id,
				    vm->disks[d].provider, i);
	}
	if (nu == 0)
		goto out;
	qsort(u, nu, sizeof(*u), use_cmp);
	keys = xcalloc(nu, sizeof(*keys));
	for (size_t i = 0; i < nu; i++) {
		if (nk == 0 || use_cmp(&u[i], &u[i - 1]) != 0) {
			snprintf(keys[nk].key_id, sizeof(keys[nk].key_id), "%s", u[i].key);
			snprintf(keys[nk].provider, sizeof(keys[nk].provider), "%s", u[i].prov);
			nk++;
		}
		u[i].uniq = nk - 1;
	}
	ans = xcalloc(nk, sizeof(*ans));
	for (size_t i = 0; i < nk; i++)
		ans[i].available = -1;
	for (size_t b = 0; rc == 0 && b < nk; b += KEYSTAT_BATCH) {
		struct batch bt = { keys + b, nk - b < KEYSTAT_BATCH ? nk - b : KEYSTAT_BATCH,
		    ans + b };
		rc = vim_key_status(c, bt.keys, bt.n, 0x01, status_cb, &bt);
	}
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < nu; i++)
		judge(vms[u[i].vm], &u[i], &ans[u[i].uniq]);
out:
	free(ans);
	free(keys);
	free(u);
	return rc;
}

/* ---------------------------------------------------------------- */
/* check's census                                                    */

struct census_read {
	struct vm_info	*vms;
	size_t		 n, cap;
};

static int
census_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct census_read *cr = arg;
	struct vm_info vm;

	memset(&vm, 0, sizeof(vm));
	for (size_t i = 0; i < n; i++)
		vm_info_set_prop(&vm, names[i], vals[i]);
	if (!vm.encrypted) {
		vm_info_clear(&vm);
		return 0;
	}
	vm.has_config = 1;
	snprintf(vm.moref, sizeof(vm.moref), "%s", obj->value);
	if (cr->n == cr->cap) {
		cr->cap = cr->cap ? cr->cap * 2 : 64;
		cr->vms = xreallocarray(cr->vms, cr->cap, sizeof(*cr->vms));
	}
	cr->vms[cr->n++] = vm;
	return 0;
}

int
keystat_census(struct vconn *c, int page, struct keystat_census *out, int *asked)
{
	static const char *const paths[] = { "name", "config.keyId" };
	struct vsession *s = vconn_session(c);
	struct census_read cr = { NULL, 0, 0 };
	struct vmoref view = { "", "" };
	struct vm_info **p = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	*asked = 0;
	if (!vsession_api_at_least(s, KEYSTAT_API))
		return 0;
	rc = vim_create_container_view(c, vsession_mo(s, VMO_ROOT_FOLDER), "VirtualMachine",
	    1, &view);
	if (rc == 0)
		rc = vim_retrieve_view(c, &view, "VirtualMachine", paths, 2, page, census_cb,
		    &cr);
	if (view.value[0])
		vim_destroy_view(c, &view);
	vconn_reset(c);
	if (rc != 0)
		goto out;
	p = xcalloc(cr.n ? cr.n : 1, sizeof(*p));
	for (size_t i = 0; i < cr.n; i++)
		p[i] = &cr.vms[i];
	if ((rc = keystat_read(c, p, cr.n, asked)) != 0)
		goto out;
	out->encrypted = cr.n;
	for (size_t i = 0; i < cr.n; i++) {
		const struct vm_info *vm = &cr.vms[i];
		if (vm->key_avail != KEY_MISSING)
			continue;
		size_t len = strlen(out->detail);
		if (out->missing < 10 && len < sizeof(out->detail) - 1)
			snprintf(out->detail + len, sizeof(out->detail) - len, "%s%s (%s)",
			    len ? ", " : "", vm->name ? vm->name : vm->moref,
			    policy_key_reason_text(vm->key_reason));
		out->missing++;
	}
out:
	for (size_t i = 0; i < cr.n; i++)
		vm_info_clear(&cr.vms[i]);
	free(cr.vms);
	free(p);
	vconn_reset(c);
	return rc;
}
