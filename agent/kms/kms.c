/*
 * The KMS and encryption-policy verdict (pure): facts read from vCenter in,
 * check items with a reason and a fix out.  `vmcrypt-agent check` prints
 * them; the running agent uses kms_usable to pause encryption.
 */
#include "kms.h"

#include "config.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct kms_priv kms_privileges[] = {
	{ "System.Read", "read VMs, events and tasks" },
	{ "VirtualMachine.Config.Settings", "set Encrypted vMotion (migrateEncryption)" },
	{ "Cryptographer.Encrypt", "encrypt a VM and its disks" },
	{ "Cryptographer.RegisterHost", "enable host encryption mode on first use" },
	{ "Cryptographer.ManageKeys", "GenerateKey" },
	{ "Cryptographer.ManageKeyServers", "read key providers and their status" },
	{ "StorageProfile.View", "read storage policies and associations" },
	{ "StorageProfile.Apply", "apply the encryption storage policy" },
	{ "Global.LogEvent", "write the audit trail (LogUserEvent)" },
	{ "Global.ManageCustomFields", "hold the leader lease (AddCustomFieldDef)" },
	{ "Global.SetCustomField", "renew the leader lease (SetField)" },
};
const size_t kms_nprivileges = sizeof(kms_privileges) / sizeof(kms_privileges[0]);

void
kms_facts_free(struct kms_facts *f)
{
	kms_clusters_free(f->clusters, f->nclusters);
	kms_status_free(f->status, f->nstatus);
	f->clusters = NULL;
	f->status = NULL;
	f->nclusters = f->nstatus = 0;
}

/* ---------------------------------------------------------------- */
/* verdict                                                           */

const char *
chk_result_name(enum chk_result r)
{
	switch (r) {
	case CHK_PASS: return "pass";
	case CHK_WARN: return "warn";
	case CHK_FAIL: return "fail";
	case CHK_SKIP: return "skip";
	}
	return "?";
}

int
chk_ok(const struct chk_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].result == CHK_FAIL)
			return 0;
	return 1;
}

static struct chk_item *
item(struct chk_report *r, const char *id, const char *title, enum chk_result res,
    const char *fmt, ...)
{
	struct chk_item *it = &r->items[r->n < CHK_MAX ? r->n++ : CHK_MAX - 1];
	va_list ap;

	memset(it, 0, sizeof(*it));
	it->id = id;
	it->title = title;
	it->result = res;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	return it;
}

static void
fix(struct chk_item *it, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->fix, sizeof(it->fix), fmt, ap);
	va_end(ap);
}

static void
appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	if (used >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static const struct kms_cluster *
find_cluster(const struct kms_facts *f, const char *id)
{
	for (size_t i = 0; id && i < f->nclusters; i++)
		if (strcmp(f->clusters[i].id, id) == 0)
			return &f->clusters[i];
	return NULL;
}

static const struct kms_cluster_status *
find_status(const struct kms_facts *f, const char *id)
{
	for (size_t i = 0; i < f->nstatus; i++)
		if (strcmp(f->status[i].id, id) == 0)
			return &f->status[i];
	return NULL;
}

/* A standard key provider is one the agent can ask for keys. */
static int
is_standard(const struct kms_cluster *c)
{
	return c->mgmt[0] == '\0' || strcmp(c->mgmt, "vCenter") == 0 ||
	    strcmp(c->mgmt, "unknown") == 0;
}

static const char *
mgmt_words(const char *mgmt)
{
	if (strcmp(mgmt, "nativeProvider") == 0)
		return "a native key provider (vSphere NKP), not a KMS";
	if (strcmp(mgmt, "trustAuthority") == 0)
		return "a Trusted Key Provider (vSphere Trust Authority), not a standard KMS";
	return "not a standard key provider";
}

static void
describe_cluster(char *buf, size_t len, const struct kms_cluster *c)
{
	appendf(buf, len, "%s (%s%s, ", c->id, c->mgmt[0] ? c->mgmt : "standard",
	    c->use_as_default ? ", default" : "");
	for (size_t j = 0; j < c->nservers; j++)
		appendf(buf, len, "%s%s %s:%d", j ? "; " : "", c->servers[j].name,
		    c->servers[j].address, c->servers[j].port);
	appendf(buf, len, "%s)", c->nservers ? "" : "no servers");
}

/* Judges one certificate; returns CHK_PASS, CHK_WARN or CHK_FAIL. */
static enum chk_result
cert_verdict(const struct kms_cert *c, const char *whose, char *buf, size_t len)
{
	if (!c->present)
		return CHK_PASS;
	if (c->expires_in < 0) {
		appendf(buf, len, "; %s certificate expired (notAfter %s)", whose, c->not_after);
		return CHK_FAIL;
	}
	if (c->expires_in < KMS_CERT_WARN_SECONDS) {
		appendf(buf, len, "; %s certificate expires in %lld days (notAfter %s)", whose,
		    c->expires_in / 86400, c->not_after);
		return CHK_WARN;
	}
	return CHK_PASS;
}

static enum chk_result
worse(enum chk_result a, enum chk_result b)
{
	return a > b ? a : b;	/* PASS < WARN < FAIL */
}

/* The KMS health of provider id; fills the item and says if it is usable. */
static int
judge_health(struct chk_report *r, const struct kms_facts *f, const char *id)
{
	static const char *title = "KMS connection status";
	const struct kms_cluster_status *st;
	char d[1024] = "";
	struct chk_item *it;

	if (!f->status_read) {
		it = item(r, "kms-health", title, CHK_FAIL,
		    "cannot read the status of key provider %s: %s", id, f->status_err.msg);
		fix(it, "check the key provider in vCenter (Configure > Security > Key "
		    "Providers) and that the account holds Cryptographer.ManageKeyServers");
		return 0;
	}
	if ((st = find_status(f, id)) == NULL) {
		it = item(r, "kms-health", title, CHK_FAIL,
		    "vCenter reported no status for key provider %s", id);
		fix(it, "open Key Providers in vCenter and check %s's Connection Status", id);
		return 0;
	}
	enum chk_result res = CHK_PASS;
	size_t good = 0;
	appendf(d, sizeof(d), "%s: overall %s", id, st->overall[0] ? st->overall : "not reported");
	if (strcmp(st->overall, "red") == 0)
		res = CHK_FAIL;
	else if (strcmp(st->overall, "yellow") == 0 || strcmp(st->overall, "gray") == 0)
		res = CHK_WARN;
	for (size_t i = 0; i < st->nservers; i++) {
		const struct kms_server_status *s = &st->servers[i];
		int ok = strcmp(s->status, "green") == 0 || strcmp(s->status, "yellow") == 0;
		appendf(d, sizeof(d), "; %s %s", s->name, s->status[0] ? s->status : "no status");
		if (s->connection[0])
			appendf(d, sizeof(d), " (%s)", s->connection);
		if (s->client_trust_server == 0) {
			appendf(d, sizeof(d), "; vCenter does not trust %s's certificate", s->name);
			ok = 0;
		}
		if (s->server_trust_client == 0) {
			appendf(d, sizeof(d), "; %s does not trust vCenter's client certificate",
			    s->name);
			ok = 0;
		}
		enum chk_result cr = cert_verdict(&s->cert, s->name, d, sizeof(d));
		if (cr == CHK_FAIL)
			ok = 0;
		if (!ok)
			res = worse(res, CHK_WARN);	/* one bad server of several */
		else
			res = worse(res, cr);
		good += ok;
	}
	res = worse(res, cert_verdict(&st->client_cert, "vCenter's client", d, sizeof(d)));
	int usable = good > 0 && strcmp(st->overall, "red") != 0 &&
	    !(st->client_cert.present && st->client_cert.expires_in < 0);
	if (st->nservers == 0)
		appendf(d, sizeof(d), "; no KMS server reported");
	if (!usable)
		res = CHK_FAIL;
	it = item(r, "kms-health", title, res, "%s", d);
	if (res == CHK_FAIL)
		fix(it, "in vCenter open Configure > Security > Key Providers > %s: the "
		    "Connection Status must be Normal; establish trust both ways (Make "
		    "vCenter Trust KMS, Make KMS Trust vCenter) and check the KMS is "
		    "reachable on its KMIP port (vmcrypt-agent kms-probe HOST)", id);
	else if (res == CHK_WARN)
		fix(it, "renew what expires and repair the servers named before they are "
		    "the last ones");
	return usable;
}

/* The step failed: its detail is why the KMS is unusable; stop there. */
static int
stop_at(struct chk_report *r, const struct chk_item *it)
{
	snprintf(r->kms_reason, sizeof(r->kms_reason), "%s", it->detail);
	return -1;
}

/* vCenter itself, its API and its key management: 0 to go on. */
static int
eval_vcenter(const struct config *cfg, const struct kms_facts *f, struct chk_report *r)
{
	struct chk_item *it;

	item(r, "vcenter", "vCenter reachable and logged in", CHK_PASS, "%s",
	    f->full_name[0] ? f->full_name : "logged in");
	int is_vc = strcmp(f->api_type, "VirtualCenter") == 0;
	it = item(r, "vcenter-type", "Really a vCenter", is_vc ? CHK_PASS : CHK_FAIL,
	    is_vc ? "about.apiType %s" : "about.apiType is %s: this is a standalone ESXi "
	    "host, and KMS-backed VM encryption needs vCenter", f->api_type[0] ? f->api_type :
	    "empty");
	if (!is_vc) {
		fix(it, "point <vcenter url> at the vCenter that manages this host");
		return stop_at(r, it);
	}
	int ft = cfg->ft_encryption && strcmp(cfg->ft_encryption, "required") == 0;
	int old_ft = ft && vim_version_cmp(f->api_version, "7.0.2") < 0;
	it = item(r, "api-version", "API version", old_ft ? CHK_FAIL : CHK_PASS,
	    "vSphere API %s%s", f->api_version, old_ft ? ": ft-encryption=\"required\" "
	    "needs 7.0.2 or newer" : "");
	if (old_ft)
		fix(it, "set ft-encryption=\"leave\" in <enforce>, or upgrade vCenter to 7.0 U2+");
	it = item(r, "crypto-manager", "Key management (CryptoManagerKmip)",
	    f->has_crypto_manager ? CHK_PASS : CHK_FAIL, f->has_crypto_manager ?
	    "present" : "this vCenter has no CryptoManagerKmip (crypto manager: %s)",
	    f->crypto_manager_type[0] ? f->crypto_manager_type : "none");
	if (!f->has_crypto_manager) {
		fix(it, "VM encryption needs vCenter 6.5 or newer with key management");
		return stop_at(r, it);
	}
	return 0;
}

/* The key providers vCenter lists: 0 if there is at least one. */
static int
eval_providers(const struct config *cfg, const struct kms_facts *f, struct chk_report *r)
{
	struct chk_item *it;
	char d[1024] = "";

	if (!f->listed) {
		it = item(r, "kms-providers", "Key providers (ListKmipServers)", CHK_FAIL,
		    "%s", f->list_err.msg);
		fix(it, "grant the account Cryptographer.ManageKeyServers on the vCenter root");
		return stop_at(r, it);
	}
	if (f->nclusters == 0) {
		it = item(r, "kms-providers", "Key providers (ListKmipServers)", CHK_FAIL,
		    "no key provider is configured in vCenter");
		if (cfg->kms_cluster != NULL && cfg->nkms_servers > 0)
			fix(it, "run `vmcrypt-agent kms setup` to add '%s' (%s:%d) as a "
			    "standard key provider, trusted both ways and the default "
			    "(or in the vSphere Client: Key Providers > Add Standard Key "
			    "Provider)", cfg->kms_cluster, cfg->kms_servers[0].address,
			    cfg->kms_servers[0].port);
		else if (cfg->kms_cluster != NULL)
			fix(it, "add the key provider '%s' that %s names: in the vSphere "
			    "Client (Key Providers > Add Standard Key Provider, name '%s'), "
			    "or give its server in %s (<kms cluster=\"%s\"><server "
			    "name=\"...\" address=\"...\" port=\"5696\"/></kms>) and run "
			    "`vmcrypt-agent kms setup`", cfg->kms_cluster,
			    cfg->path ? cfg->path : "the configuration", cfg->kms_cluster,
			    cfg->path ? cfg->path : "the configuration", cfg->kms_cluster);
		else
			fix(it, "name the KMS in %s (<kms cluster=\"NAME\"><server "
			    "name=\"...\" address=\"...\" port=\"5696\"/></kms>), then run "
			    "`vmcrypt-agent kms setup` (or in the vSphere Client: Key "
			    "Providers > Add Standard Key Provider)",
			    cfg->path ? cfg->path : "the configuration");
		return stop_at(r, it);
	}
	for (size_t i = 0; i < f->nclusters; i++) {
		appendf(d, sizeof(d), "%s", i ? ", " : "");
		describe_cluster(d, sizeof(d), &f->clusters[i]);
	}
	item(r, "kms-providers", "Key providers (ListKmipServers)", CHK_PASS, "%zu: %s",
	    f->nclusters, d);
	return 0;
}

/* The servers of the expected provider against <kms><server>: CHK_PASS or
 * CHK_FAIL, with what differs appended to d. */
static enum chk_result
compare_servers(const struct config *cfg, const struct kms_cluster *want, char *d, size_t dlen)
{
	enum chk_result res = CHK_PASS;

	for (size_t i = 0; i < cfg->nkms_servers; i++) {
		const struct kms_server_expect *e = &cfg->kms_servers[i];
		const struct kms_server *s = NULL;
		for (size_t j = 0; j < want->nservers && !s; j++)
			if (strcmp(want->servers[j].name, e->name) == 0)
				s = &want->servers[j];
		if (s == NULL) {
			appendf(d, dlen, "; server %s (%s:%d) is missing", e->name, e->address,
			    e->port);
			res = CHK_FAIL;
		} else if (strcasecmp(s->address, e->address) != 0 || s->port != e->port) {
			appendf(d, dlen, "; server %s is %s:%d, expected %s:%d", e->name,
			    s->address, s->port, e->address, e->port);
			res = CHK_FAIL;
		}
	}
	return res;
}

/* The provider <kms cluster> names (NULL if none is named or it is not
 * there); *ok cleared if it does not match. */
static const struct kms_cluster *
eval_expected(const struct config *cfg, const struct kms_facts *f, struct chk_report *r,
    int *ok)
{
	const char *cfgpath = cfg->path ? cfg->path : "the configuration";
	const struct kms_cluster *want;
	struct chk_item *it;
	char d[1024] = "";

	if (cfg->kms_cluster == NULL) {
		item(r, "kms-expected", "Expected key provider", CHK_PASS,
		    "none named in the configuration: the agent uses vCenter's default");
		return NULL;
	}
	if ((want = find_cluster(f, cfg->kms_cluster)) == NULL) {
		for (size_t i = 0; i < f->nclusters; i++)
			appendf(d, sizeof(d), "%s%s", i ? ", " : "", f->clusters[i].id);
		it = item(r, "kms-expected", "Expected key provider", CHK_FAIL,
		    "key provider '%s' (<kms cluster>) is not in vCenter, which has: %s",
		    cfg->kms_cluster, d);
		fix(it, "add '%s' as a standard key provider in vCenter, or name one of "
		    "those in <kms cluster=\"...\"> in %s", cfg->kms_cluster, cfgpath);
		*ok = 0;
		return NULL;
	}
	enum chk_result res = CHK_PASS;
	describe_cluster(d, sizeof(d), want);
	if (!is_standard(want)) {
		appendf(d, sizeof(d), ": %s", mgmt_words(want->mgmt));
		res = CHK_FAIL;
	}
	if (compare_servers(cfg, want, d, sizeof(d)) != CHK_PASS)
		res = CHK_FAIL;
	it = item(r, "kms-expected", "Expected key provider", res, "%s", d);
	if (res == CHK_FAIL) {
		fix(it, "make key provider '%s' in vCenter match <kms> in %s (servers, "
		    "addresses, ports), or correct the configuration", want->id, cfgpath);
		*ok = 0;
	}
	return want;
}

/* vCenter's default provider (NULL: none); *ok cleared if it will not do. */
static const char *
eval_default(const struct config *cfg, const struct kms_facts *f,
    const struct kms_cluster *want, struct chk_report *r, int *ok)
{
	const char *def = NULL, *how = "GetDefaultKmsCluster";
	struct chk_item *it;

	if (f->default_asked && f->default_err.rc == 0) {
		def = f->default_id[0] ? f->default_id : NULL;
	} else {
		how = "useAsDefault";
		for (size_t i = 0; i < f->nclusters && def == NULL; i++)
			if (f->clusters[i].use_as_default)
				def = f->clusters[i].id;
	}
	const struct kms_cluster *defc = find_cluster(f, def);
	const char *name = want ? want->id : f->clusters[0].id;
	if (want != NULL && cfg->nkms_default_for > 0) {
		/* <default-for>: the default of clusters, not vCenter's. */
		enum chk_result res = want->nentities > 0 ? CHK_PASS :
		    cfg->kms_require_default ? CHK_FAIL : CHK_WARN;
		it = item(r, "kms-default", "Default key provider", res, "'%s' is the default "
		    "key provider of %zu cluster%s or host folder%s (useAsEntityDefault); "
		    "<default-for> lists %zu", want->id, want->nentities,
		    want->nentities == 1 ? "" : "s", want->nentities == 1 ? "" : "s",
		    cfg->nkms_default_for);
		if (res != CHK_PASS)
			fix(it, "run `vmcrypt-agent kms setup`: it makes '%s' the default of each "
			    "<default-for> path", want->id);
		if (res == CHK_FAIL)
			*ok = 0;
		return def;
	}
	if (def == NULL) {
		it = item(r, "kms-default", "Default key provider",
		    cfg->kms_require_default ? CHK_FAIL : CHK_WARN,
		    "no default key provider is selected in vCenter (%s)", how);
		fix(it, "select one: Key Providers > %s > Set as default (or `vmcrypt-agent "
		    "kms setup` with <kms cluster=\"%s\">)", name, name);
		if (cfg->kms_require_default || want == NULL)
			*ok = 0;
	} else if (want != NULL && strcmp(def, want->id) != 0) {
		it = item(r, "kms-default", "Default key provider",
		    cfg->kms_require_default ? CHK_FAIL : CHK_PASS,
		    "the default is '%s', the configuration expects '%s'%s", def, want->id,
		    cfg->kms_require_default ? "" : " (require-default=\"false\": the agent "
		    "names it in every request)");
		if (cfg->kms_require_default) {
			fix(it, "make '%s' the default (Key Providers > %s > Set as default, or "
			    "`vmcrypt-agent kms setup`), or set <kms require-default=\"false\">",
			    want->id, want->id);
			*ok = 0;
		}
	} else if (defc != NULL && !is_standard(defc)) {
		it = item(r, "kms-default", "Default key provider", CHK_FAIL,
		    "the default, '%s', is %s: the agent cannot generate keys with it",
		    def, mgmt_words(defc->mgmt));
		fix(it, "make a standard key provider (a KMS) the default, or name one in "
		    "<kms cluster=\"...\">");
		if (want == NULL)
			*ok = 0;
	} else {
		item(r, "kms-default", "Default key provider", CHK_PASS, "%s (%s)", def, how);
	}
	return def;
}

/* The health of the provider the agent uses; r->kms_usable and, if not,
 * r->kms_reason (the first failed or skipped step). */
static void
eval_health(const struct config *cfg, const struct kms_facts *f,
    const struct kms_cluster *want, const char *def, struct chk_report *r, int ok)
{
	const char *use = want ? want->id : def;
	const struct kms_cluster *usec = find_cluster(f, use);

	if (use != NULL)
		snprintf(r->provider, sizeof(r->provider), "%s", use);
	if (use == NULL || (want == NULL && cfg->kms_cluster != NULL)) {
		item(r, "kms-health", "KMS connection status", CHK_SKIP,
		    "no key provider to check");
		ok = 0;
	} else if (usec != NULL && !is_standard(usec)) {
		item(r, "kms-health", "KMS connection status", CHK_SKIP, "%s is not a KMS", use);
		ok = 0;
	} else if (!judge_health(r, f, use)) {
		ok = 0;
	}
	r->kms_usable = ok;
	for (size_t i = 0; !ok && i < r->n; i++)
		if (r->items[i].result == CHK_FAIL || r->items[i].result == CHK_SKIP) {
			snprintf(r->kms_reason, sizeof(r->kms_reason), "%s", r->items[i].detail);
			break;
		}
}

static void
eval_policy(const struct kms_facts *f, struct chk_report *r)
{
	if (!f->policy_checked)
		return;
	if (f->policy_err.rc == 0 && f->policy_err.msg[0] == '\0') {
		item(r, "encryption-policy", "Encryption storage policy", CHK_PASS,
		    "\"%s\" (%s) is an encryption policy", f->policy_name, f->policy_id);
		return;
	}
	struct chk_item *it = item(r, "encryption-policy", "Encryption storage policy",
	    CHK_FAIL, "%s", f->policy_err.msg);
	fix(it, "run `vmcrypt-agent policy ensure` to create it (or in the vSphere "
	    "Client: Policies and Profiles > VM Storage Policies), or name an "
	    "existing encryption policy in <encryption-policy name=\"...\"/>");
}

/* Privileges on the root folder. */
static void
eval_privileges(const struct kms_facts *f, struct chk_report *r)
{
	struct chk_item *it;
	char d[1024] = "";
	size_t missing = 0;

	if (!f->privs_checked)
		return;
	if (f->privs_err.rc != 0) {
		it = item(r, "privileges", "Privileges of the account", CHK_WARN,
		    "cannot check: %s", f->privs_err.msg);
		fix(it, "check the role by hand (README: vCenter role)");
		return;
	}
	for (size_t i = 0; i < kms_nprivileges; i++)
		if (!f->granted[i]) {
			appendf(d, sizeof(d), "%s%s (%s)", missing ? ", " : "",
			    kms_privileges[i].id, kms_privileges[i].why);
			missing++;
		}
	if (missing == 0) {
		item(r, "privileges", "Privileges of the account", CHK_PASS,
		    "all %zu granted on the vCenter root", kms_nprivileges);
		return;
	}
	it = item(r, "privileges", "Privileges of the account", CHK_FAIL,
	    "missing on the vCenter root: %s", d);
	fix(it, "add them to the account's role, assigned on the vCenter root and "
	    "propagated (README: vCenter role)");
}

/* The encrypted VMs' keys: a VM whose key vCenter cannot serve keeps
 * running, and cannot power on again once its host has lost the key.
 * A warning: the agent works, and leaves those VMs alone. */
static void
eval_keys(const struct kms_facts *f, struct chk_report *r)
{
	static const char title[] = "Keys of the encrypted VMs (QueryCryptoKeyStatus)";
	struct chk_item *it;

	if (f->keys_checked == 0)
		return;
	if (f->keys_checked < 0) {
		item(r, "key-availability", title, CHK_SKIP, "not checked: needs vSphere API "
		    "6.7.2, this vCenter speaks %s", f->api_version);
		return;
	}
	if (f->keys_err.rc != 0) {
		it = item(r, "key-availability", title, CHK_WARN, "cannot ask: %s",
		    f->keys_err.msg);
		fix(it, "the account needs Cryptographer.ManageKeys on the vCenter root");
		return;
	}
	r->keys_counted = 1;
	r->key_missing_vms = f->keys_missing;
	if (f->keys_missing == 0) {
		item(r, "key-availability", title, CHK_PASS, "%zu encrypted VM%s, every key "
		    "available", f->keys_encrypted, f->keys_encrypted == 1 ? "" : "s");
		return;
	}
	it = item(r, "key-availability", title, CHK_WARN, "%zu of %zu encrypted VM%s with a "
	    "key vCenter says is not available: %s%s", f->keys_missing, f->keys_encrypted,
	    f->keys_encrypted == 1 ? "" : "s", f->keys_detail, f->keys_missing > 10 ? ", ..." :
	    "");
	fix(it, "restore the key on the KMS, or the key provider's connection (vSphere "
	    "Client: Configure > Key Providers); the agent leaves these VMs alone "
	    "(state key-missing) until vCenter has their keys again");
}

/* The wrapping key of the provider the agent uses (API 9.0): shown, never
 * failed; before 9.0 said to be unavailable. */
static void
eval_wrapping(const struct kms_facts *f, struct chk_report *r)
{
	static const char title[] = "wrapping-key rotation";
	const struct kms_cluster *k = find_cluster(f, r->provider[0] ? r->provider : NULL);
	const struct kms_wrapping *w;

	if (f->wrap_checked == 0)
		return;
	if (f->wrap_checked < 0) {
		r->wrap_state = -1;
		kms_release_of(f->server_api, r->wrap_api, sizeof(r->wrap_api));
		item(r, "wrapping-key", title, CHK_SKIP, "not available (API %s)", r->wrap_api);
		return;
	}
	if (f->wrap_err.rc != 0) {
		struct chk_item *it = item(r, "wrapping-key", title, CHK_WARN, "cannot read: %s",
		    f->wrap_err.msg);
		fix(it, "the account needs Cryptographer.ManageKeyServers on the vCenter root");
		return;
	}
	if (k == NULL) {
		item(r, "wrapping-key", title, CHK_SKIP, "no key provider to look at");
		return;
	}
	r->wrap_state = 1;
	r->wrap = k->wrap;
	w = &k->wrap;
	if (w->kind == KMS_WRAP_ROTATING && w->rotation_days > 0)
		item(r, "wrapping-key", title, CHK_PASS, "'%s': every %d days, last rotation %s",
		    k->id, w->rotation_days, w->last_rotation[0] ? w->last_rotation : "never");
	else if (w->kind == KMS_WRAP_ROTATING)
		item(r, "wrapping-key", title, CHK_PASS, "'%s': vCenter's default interval, last "
		    "rotation %s", k->id, w->last_rotation[0] ? w->last_rotation : "never");
	else if (w->kind == KMS_WRAP_FIXED)
		item(r, "wrapping-key", title, CHK_PASS, "'%s': none, a fixed wrapping key %s "
		    "(set %s)", k->id, w->key_id, w->configured[0] ? w->configured : "?");
	else if (w->kind == KMS_WRAP_OTHER)
		item(r, "wrapping-key", title, CHK_PASS, "'%s': a wrapping key of a kind this "
		    "agent does not know (%s)", k->id, w->type);
	else
		item(r, "wrapping-key", title, CHK_PASS, "'%s': not set (vmcrypt-agent kms setup "
		    "--wrapping-rotation-days N sets it)", k->id);
}

void
kms_evaluate(const struct config *cfg, const struct kms_facts *f, struct chk_report *r)
{
	int ok = 1;

	memset(r, 0, sizeof(*r));
	if (eval_vcenter(cfg, f, r) != 0 || eval_providers(cfg, f, r) != 0)
		return;
	const struct kms_cluster *want = eval_expected(cfg, f, r, &ok);
	const char *def = eval_default(cfg, f, want, r, &ok);
	eval_health(cfg, f, want, def, r, ok);
	eval_policy(f, r);
	eval_privileges(f, r);
	eval_keys(f, r);
	eval_wrapping(f, r);
}
