/*
 * The canary read back, independently of the code that encrypted it
 * (canary.h): not through vmread.c, inventory.c or policy_decide(), but
 * the raw properties and SPBM's answer, each expectation checked here:
 *
 *   - VM home has a key (config.keyId), and every disk a key of its own
 *     backing (backing.keyId), all from one provider;
 *   - that provider is the VM's expected one: the default of its compute
 *     resource (or a host folder above it) where vCenter has one, else
 *     <kms cluster>, else vCenter's default;
 *   - the encryption storage policy on VM home and on every disk (SPBM
 *     PbmQueryAssociatedProfiles);
 *   - config.migrateEncryption is required;
 *   - vCenter says the key is available (QueryCryptoKeyStatus, API 6.7.2+).
 */
#include "canary.h"

#include "config.h"
#include "exitcode.h"
#include "kmsinfo.h"
#include "pbm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXDISKS	16

struct readback {
	char	home_key[256], home_prov[256];
	char	migrate[32], crypto_state[32];
	size_t	ndisks;
	struct {
		char	key[16];		/* the device key */
		char	key_id[256], prov[256];
		char	policy[128];
	} disk[MAXDISKS];
	char	home_policy[128];
	int	avail;				/* QueryCryptoKeyStatus: 1, 0, -1 not asked */
	char	avail_reason[128];
};

static int
vm_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct readback *r = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		const xnode *v = vals[i];
		const char *t;
		if (strcmp(names[i], "config.keyId") == 0) {
			snprintf(r->home_key, sizeof(r->home_key), "%s",
			    (t = xnode_path_text(v, "keyId")) ? t : "");
			snprintf(r->home_prov, sizeof(r->home_prov), "%s",
			    (t = xnode_path_text(v, "providerId.id")) ? t : "");
		} else if (strcmp(names[i], "config.migrateEncryption") == 0) {
			snprintf(r->migrate, sizeof(r->migrate), "%s", xnode_text(v));
		} else if (strcmp(names[i], "runtime.cryptoState") == 0) {
			snprintf(r->crypto_state, sizeof(r->crypto_state), "%s", xnode_text(v));
		} else if (strcmp(names[i], "config.hardware.device") == 0) {
			for (const xnode *d = xnode_first(v); d && r->ndisks < MAXDISKS;
			    d = xnode_next(d)) {
				if (strcmp(xnode_type(d), "VirtualDisk") != 0)
					continue;
				size_t j = r->ndisks++;
				snprintf(r->disk[j].key, sizeof(r->disk[j].key), "%s",
				    (t = xnode_path_text(d, "key")) ? t : "");
				snprintf(r->disk[j].key_id, sizeof(r->disk[j].key_id), "%s",
				    (t = xnode_path_text(d, "backing.keyId.keyId")) ? t : "");
				snprintf(r->disk[j].prov, sizeof(r->disk[j].prov), "%s",
				    (t = xnode_path_text(d, "backing.keyId.providerId.id")) ? t : "");
			}
		}
	}
	return 0;
}

struct assoc {
	struct readback	*r;
	const char	*vm;
};

static void
assoc_cb(void *arg, const char *key, const char *profile)
{
	struct assoc *a = arg;
	const char *colon = strchr(key, ':');

	if (colon == NULL) {
		if (strcmp(key, a->vm) == 0 && profile[0])
			snprintf(a->r->home_policy, sizeof(a->r->home_policy), "%s", profile);
		return;
	}
	for (size_t i = 0; i < a->r->ndisks; i++)
		if (strcmp(colon + 1, a->r->disk[i].key) == 0 && profile[0])
			snprintf(a->r->disk[i].policy, sizeof(a->r->disk[i].policy), "%s", profile);
}

static void
status_cb(void *arg, size_t i, const xnode *status)
{
	struct readback *r = arg;
	const char *a = xnode_path_text(status, "keyAvailable");
	const char *why = xnode_path_text(status, "reason");

	(void)i;
	r->avail = a != NULL && strcmp(a, "true") == 0;
	snprintf(r->avail_reason, sizeof(r->avail_reason), "%s", why ? why : "");
}

/* One moref-valued property (owner, parent) into arg. */
static int
ref_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vmoref *r = arg;
	const char *t;

	(void)obj;
	(void)names;
	if (n > 0) {
		snprintf(r->type, sizeof(r->type), "%s", (t = xnode_attr(vals[0], "type")) ? t : "");
		snprintf(r->value, sizeof(r->value), "%s", xnode_text(vals[0]));
	}
	return 0;
}

/* The key provider the canary's key should come from. */
static int
expected_provider(struct canary *k, char *out, size_t len)
{
	static const char *const paths[] = { "owner", "parent" };
	struct kms_cluster *cl = NULL;
	size_t n = 0;
	int rc;

	out[0] = '\0';
	if ((rc = vim_kms_list(k->c, &cl, &n)) != 0)
		return rc;
	vconn_reset(k->c);
	/* The pool's compute resource, then each folder above it. */
	struct vmoref obj = k->pool;
	for (int depth = 0; depth < 32 && obj.value[0] && !out[0]; depth++) {
		struct vmoref next = { "", "" };
		for (size_t i = 0; i < n && !out[0]; i++)
			for (size_t j = 0; j < cl[i].nentities; j++)
				if (strcmp(cl[i].entities[j].value, obj.value) == 0)
					snprintf(out, len, "%s", cl[i].id);
		const char *path = strcmp(obj.type, "ResourcePool") == 0 ? paths[0] : paths[1];
		rc = vim_retrieve_objects(k->c, &obj, 1, obj.type, &path, 1, ref_cb, &next);
		vconn_reset(k->c);
		if (rc != 0 || strcmp(next.type, "Datacenter") == 0)
			break;
		obj = next;
	}
	if (!out[0] && k->cfg->kms_cluster)
		snprintf(out, len, "%s", k->cfg->kms_cluster);
	for (size_t i = 0; i < n && !out[0]; i++)
		if (cl[i].use_as_default)
			snprintf(out, len, "%s", cl[i].id);
	kms_clusters_free(cl, n);
	return 0;
}

/* Every expectation, each unmet one added to bad. */
static void
judge(const struct readback *r, const char *policy, const char *want,
    char *bad, size_t len)
{
#define BAD(...) snprintf(bad + strlen(bad), len - strlen(bad), __VA_ARGS__)
	if (!r->home_key[0])
		BAD("; VM home has no key (config.keyId)");
	if (r->ndisks == 0)
		BAD("; no disk read back");
	for (size_t i = 0; i < r->ndisks; i++) {
		if (!r->disk[i].key_id[0])
			BAD("; disk %s has no key", r->disk[i].key);
		else if (strcmp(r->disk[i].prov, r->home_prov) != 0)
			BAD("; disk %s's key is from %s, VM home's from %s", r->disk[i].key,
			    r->disk[i].prov, r->home_prov);
		if (strcmp(r->disk[i].policy, policy) != 0)
			BAD("; disk %s has policy %s, not %s", r->disk[i].key,
			    r->disk[i].policy[0] ? r->disk[i].policy : "none", policy);
	}
	if (r->home_key[0] && want[0] && strcmp(r->home_prov, want) != 0)
		BAD("; the key is from %s, not from the expected provider %s", r->home_prov, want);
	if (strcmp(r->home_policy, policy) != 0)
		BAD("; VM home has policy %s, not %s", r->home_policy[0] ? r->home_policy : "none",
		    policy);
	if (strcmp(r->migrate, "required") != 0)
		BAD("; Encrypted vMotion is %s, not required", r->migrate[0] ? r->migrate : "unset");
	if (r->avail == 0)
		BAD("; vCenter says the key is not available (%s)", r->avail_reason);
#undef BAD
}

int
canary_verify(struct canary *k, const char *policy_id)
{
	static const char *const paths[] = { "config.keyId", "config.hardware.device",
	    "config.migrateEncryption", "runtime.cryptoState" };
	struct step *st = canary_step(k, "verify", STEP_DONE, "%s", k->name);
	struct readback r;
	struct pbm_ref refs[MAXDISKS + 1];
	char keys[MAXDISKS][160], want[256], bad[1024] = "";
	int rc;

	memset(&r, 0, sizeof(r));
	r.avail = -1;
	if ((rc = vim_retrieve_objects(k->c, &k->vm, 1, "VirtualMachine", paths, 4, vm_cb,
	    &r)) != 0)
		return canary_fail_vc(k, st, "reading the canary back", rc);
	vconn_reset(k->c);
	refs[0] = (struct pbm_ref){ "virtualMachine", k->vm.value };
	for (size_t i = 0; i < r.ndisks; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s:%s", k->vm.value, r.disk[i].key);
		refs[i + 1] = (struct pbm_ref){ "virtualDiskId", keys[i] };
	}
	struct assoc a = { &r, k->vm.value };
	if ((rc = pbm_query_profiles(k->c, refs, r.ndisks + 1, assoc_cb, &a)) != 0)
		return canary_fail_vc(k, st, "PbmQueryAssociatedProfiles", rc);
	vconn_reset(k->c);
	if ((rc = expected_provider(k, want, sizeof(want))) != 0)
		return canary_fail_vc(k, st, "the expected key provider", rc);
	struct vkey key = { "", "" };
	snprintf(key.key_id, sizeof(key.key_id), "%s", r.home_key);
	snprintf(key.provider, sizeof(key.provider), "%s", r.home_prov);
	if (r.home_key[0] && vsession_api_at_least(k->s, "6.7.2") &&
	    (rc = vim_key_status(k->c, &key, 1, 0x01, status_cb, &r)) != 0)
		return canary_fail_vc(k, st, "QueryCryptoKeyStatus", rc);
	vconn_reset(k->c);
	judge(&r, policy_id, want, bad, sizeof(bad));
	if (bad[0]) {
		snprintf(st->detail, sizeof(st->detail), "%s", bad + 2);
		return steps_fail(&k->steps, st, EXIT_FAIL, "vCenter accepted the reconfigure "
		    "but the VM is not as the agent made it: send the SOAP trace named below "
		    "(vmcrypt-agent support-bundle)");
	}
	snprintf(st->detail, sizeof(st->detail), "VM home and %zu disk%s encrypted with key "
	    "%s from %s (the expected provider); policy %s on home and every disk; "
	    "Encrypted vMotion required; key %s", r.ndisks, r.ndisks == 1 ? "" : "s",
	    r.home_key, r.home_prov, policy_id, r.avail == 1 ? "available "
	    "(QueryCryptoKeyStatus)" : "status not asked (API before 6.7.2)");
	return 0;
}
