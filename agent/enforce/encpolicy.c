#include "encpolicy.h"
#include "config.h"
#include "pbm.h"
#include "vim.h"

#include <stdio.h>
#include <string.h>

/* The data-service component VMware's default "VM Encryption Policy"
 * refers to (api-facts F.4). */
#define DEFAULT_ENCRYPTION_COMPONENT	"ad5a249d-cbc2-43af-9366-694d7664fa52"
#define DATASERVICE_NS			"com.vmware.storageprofile.dataservice"

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
encpolicy_resolve(struct vconn *c, const struct config *cfg, struct encpolicy *out,
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
		    "(`vmcrypt-agent policy ensure`, or vSphere Client: Policies and "
		    "Profiles > VM Storage Policies) or fix <encryption-policy> in %s",
		    ps.want_id ? "id " : "\"", ps.want_id ? ps.want_id : ps.want_name,
		    ps.want_id ? "" : "\"", cfg->path ? cfg->path : "the configuration");
		return ENCPOLICY_NOT_FOUND;
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
		snprintf(out->id, sizeof(out->id), "%s", ps.id);
		snprintf(out->name, sizeof(out->name), "%s", ps.name);
		return ENCPOLICY_NOT_ENCRYPTION;
	}
	snprintf(out->id, sizeof(out->id), "%s", ps.id);
	snprintf(out->name, sizeof(out->name), "%s", ps.name);
	return 0;
}
