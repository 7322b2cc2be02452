#include "plan.h"
#include "inventory.h"

#include <stdlib.h>
#include <string.h>

int
plan_needs_key(const struct decision *d)
{
	return (d->actions & (ACT_ENCRYPT | ACT_REKEY)) != 0;
}

/* The disk's tree, by key, to send back in the reconfigure. */
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

static int
without(const char *have, const char *want)
{
	return have == NULL || strcmp(have, want) != 0;
}

/* An encrypted VM: its plain disks get its own key, disks and home the
 * policy where it is missing. */
static void
plan_encrypted(const struct policy *p, const struct decision *d,
    const struct vm_info *vm, const xnode *devices, const xnode **disks,
    struct vreconfig *rs)
{
	rs->disk_crypto = (d->actions & ACT_ENCRYPT_DISKS) != 0;
	rs->key_id = vm->key_id;
	rs->provider = vm->provider;
	rs->disk_profile = 1;
	rs->home_profile = (d->actions & ACT_POLICY) && without(vm->home_policy_id, p->policy_id);
	for (size_t i = 0; i < vm->ndisks; i++) {
		const struct disk_info *k = &vm->disks[i];
		if (!k->encryptable)
			continue;
		int plain = !k->encrypted && (d->actions & ACT_ENCRYPT_DISKS);
		int nopol = (d->actions & ACT_POLICY) && without(k->policy_id, p->policy_id);
		if (plain || nopol)
			disks[rs->ndisks++] = disk_node(devices, k->key);
	}
}

int
plan_reconfigure(const struct policy *p, const struct decision *d,
    const struct vm_info *vm, const xnode *devices, const struct vkey *key,
    const xnode **disks, struct vreconfig *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->change_version = vm->change_version;
	rs->profile_id = p->policy_id;
	rs->disks = disks;
	if (d->actions & ACT_ENCRYPT) {
		rs->crypto_vm = rs->disk_crypto = 1;
		rs->home_profile = rs->disk_profile = 1;
		rs->key_id = key ? key->key_id : NULL;
		rs->provider = key ? key->provider : NULL;
		for (size_t i = 0; i < vm->ndisks; i++)
			if (vm->disks[i].encryptable)
				disks[rs->ndisks++] = disk_node(devices, vm->disks[i].key);
	} else if (d->actions & ACT_REKEY) {
		/* The VM and every encrypted disk onto the new key. */
		rs->rekey = rs->crypto_vm = rs->disk_crypto = 1;
		rs->key_id = key ? key->key_id : NULL;
		rs->provider = key ? key->provider : NULL;
		for (size_t i = 0; i < vm->ndisks; i++)
			if (vm->disks[i].encryptable && vm->disks[i].encrypted)
				disks[rs->ndisks++] = disk_node(devices, vm->disks[i].key);
	} else if (d->actions & (ACT_ENCRYPT_DISKS | ACT_POLICY)) {
		plan_encrypted(p, d, vm, devices, disks, rs);
	}
	if (d->actions & (ACT_MIGRATE | ACT_ENCRYPT))
		rs->migrate = p->migrate;
	if (d->actions & ACT_FT)
		rs->ft = "ftEncryptionRequired";
	for (size_t i = 0; i < rs->ndisks; i++)
		if (disks[i] == NULL)
			return -1;
	return 0;
}
