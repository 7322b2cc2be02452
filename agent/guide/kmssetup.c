/*
 * `vmcrypt-agent kms setup`: the vCenter side of OVHcloud's guide, from
 * the configuration's <kms cluster><server .../></kms>.  In order, each
 * step read before it is changed, so a second run changes nothing:
 *
 *   kms-certificate     the KMS's certificate, read over TLS from here; its
 *                       SHA-1 thumbprint must match --thumbprint (or be
 *                       confirmed at a terminal) before anything is changed
 *   key-provider        RegisterKmipServer for each server vCenter lacks
 *                       (the provider is created with its first server)
 *   vcenter-trusts-kms  vCenter trusts the KMS, and
 *   kms-trusts-vcenter  the KMS trusts vCenter (kmstrust.c)
 *   default             MarkDefault, unless it is vCenter's default
 *   connection          RetrieveKmipServersStatus_Task until every server
 *                       is green and trusted both ways, or --timeout
 *   wrapping-rotation   with --wrapping-rotation-days, vSphere 9.0: the
 *                       wrapping key's rotation interval (kmswrap.c; a
 *                       vCenter before 9.0 is refused before any change)
 *
 * Secrets (the KMS password, the client key) come from files or the
 * environment, never argv; the SOAP trace redacts them.
 */
#include "kmssetup.h"

#include "config.h"
#include "exitcode.h"
#include "kms.h"
#include "kmsinfo.h"
#include "kmstrust.h"
#include "kmswrap.h"
#include "smallfile.h"
#include "tls.h"
#include "vim.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "sha1 Fingerprint=AB:CD..." or "abcd...": 40 hex digits, upper case. */
void
kset_thumb_norm(const char *in, char *out, size_t len)
{
	const char *eq = strchr(in, '=');
	size_t n = 0;

	for (const char *p = eq ? eq + 1 : in; *p && n + 1 < len; p++)
		if (isxdigit((unsigned char)*p))
			out[n++] = (char)toupper((unsigned char)*p);
	out[n] = '\0';
}

/* Each server's certificate, read over TLS from here, and its thumbprint
 * held against --thumbprint (or confirmed at a terminal). */
int
kset_certificates(struct setup *s)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < cfg->nkms_servers && i < MAX_SERVERS; i++) {
		const struct kms_server_expect *e = &cfg->kms_servers[i];
		struct tls_client_opts o = { NULL, NULL, NULL, 0, 10 };
		struct tls_client *c = NULL;
		struct tls_cert_info ci;
		char port[16], err[512], got[64], want[64];

		snprintf(port, sizeof(port), "%d", e->port);
		struct step *st = steps_add(&s->steps, "kms-certificate", STEP_INFO, "%s (%s:%d): ",
		    e->name, e->address, e->port);
		int rc = tls_client_open(e->address, port, &o, &c, err, sizeof(err));
		if (c == NULL || tls_client_peer(c, &ci) != 0 || ci.pem[0] == '\0') {
			tls_client_free(c);
			snprintf(st->detail + strlen(st->detail), sizeof(st->detail) -
			    strlen(st->detail), "%s", err[0] ? err : "no certificate received");
			return steps_fail(&s->steps, st, rc == TLS_E_CONNECT || rc == TLS_E_RESOLVE ?
			    EXIT_KMS_UNREACHABLE : EXIT_KMS_TLS, "check that this host reaches "
			    "the KMS at %s:%d and that it speaks TLS (vmcrypt-agent kms-probe "
			    "%s:%d)", e->address, e->port, e->address, e->port);
		}
		tls_client_free(c);
		s->pem[i] = xstrdup(ci.pem);
		kset_thumb_norm(ci.sha1, got, sizeof(got));
		const char *eq = strchr(ci.sha1, '=');
		snprintf(s->sha1[i], sizeof(s->sha1[i]), "%s", eq ? eq + 1 : ci.sha1);
		snprintf(st->detail + strlen(st->detail), sizeof(st->detail) - strlen(st->detail),
		    "SHA-1 %s, subject %s, expires %s", s->sha1[i], ci.subject, ci.not_after);
		int match = 0;
		for (size_t t = 0; t < s->nthumbprints && !match; t++) {
			kset_thumb_norm(s->thumbprints[t], want, sizeof(want));
			match = strcmp(got, want) == 0;
		}
		if (match)
			continue;
		if (s->nthumbprints > 0)
			return steps_fail(&s->steps, st, EXIT_KMS_TLS, "the certificate is not the one "
			    "--thumbprint names: nothing was changed.  Ask the KMS administrator "
			    "for the thumbprint (OVHcloud: the one registered with `vmcrypt-agent "
			    "ovh register-kms`); if the KMS certificate was renewed, run again with "
			    "the new one");
		if (s->dry_run)
			continue;
		if (!s->json && isatty(STDIN_FILENO)) {
			char line[16] = "";
			printf("Trust this KMS certificate (%s)? [y/N] ", ci.sha1);
			fflush(stdout);
			if (fgets(line, sizeof(line), stdin) != NULL &&
			    (line[0] == 'y' || line[0] == 'Y'))
				continue;
		}
		return steps_fail(&s->steps, st, EXIT_FAIL, "check the thumbprint with the KMS "
		    "administrator, then run again with --thumbprint %s", got);
	}
	return 0;
}

/* RegisterKmipServer for one server (the provider is created with its
 * first); the KMS user's password from a file or the environment. */
static int
register_server(struct setup *s, struct vconn *c, const struct kms_server_expect *e)
{
	const char *cluster = s->cfg->kms_cluster;
	char err[512], *password = NULL;

	if (s->dry_run) {
		steps_add(&s->steps, "key-provider", STEP_WOULD,
		    "%s: would register server %s (%s:%d)", cluster, e->name, e->address, e->port);
		return 0;
	}
	if (s->kms_user != NULL && s->kms_password_file != NULL) {
		password = smallfile_read(s->kms_password_file, 1, err, sizeof(err));
		if (password == NULL) {
			struct step *st = steps_add(&s->steps, "key-provider", STEP_FAILED, "%s", err);
			return steps_fail(&s->steps, st, EXIT_CONFIG, "give a KMS password file "
			    "readable only by its owner, or VMCRYPT_KMS_PASSWORD");
		}
		password[strcspn(password, "\r\n")] = '\0';
	} else if (s->kms_user != NULL && getenv("VMCRYPT_KMS_PASSWORD") != NULL) {
		password = xstrdup(getenv("VMCRYPT_KMS_PASSWORD"));
	}
	int rc = vim_kms_register(c, cluster, e->name, e->address, e->port, s->kms_user,
	    password);
	secret_free(password);
	if (rc != 0) {
		struct step *st = steps_add(&s->steps, "key-provider", STEP_FAILED, "%s",
		    vconn_error(c));
		if (strcmp(vconn_fault_type(c), "NoPermission") == 0)
			return steps_fail(&s->steps, st, EXIT_FAIL, "the account %s lacks "
			    "Cryptographer.ManageKeyServers (Manage key servers): grant it on "
			    "the vCenter root, then run kms setup again", s->cfg->vc_user);
		return steps_fail(&s->steps, st, vim_exit_code(rc), "check that the account has "
		    "Cryptographer.ManageKeyServers and that no other server of '%s' is "
		    "named %s", cluster, e->name);
	}
	s->provider_exists = 1;
	steps_add(&s->steps, "key-provider", STEP_DONE, "%s: registered server %s (%s:%d)",
	    cluster, e->name, e->address, e->port);
	return 0;
}

/* The provider's servers against the configuration: what to register;
 * -1 (nothing changed) if a server vCenter has differs. */
static int
step_provider(struct setup *s, struct vconn *c)
{
	const struct config *cfg = s->cfg;
	struct kms_cluster *cl = NULL, *want = NULL;
	size_t n = 0;
	int rc = 0, todo[MAX_SERVERS] = { 0 };

	if ((rc = vim_kms_list(c, &cl, &n)) != 0) {
		struct step *st = steps_add(&s->steps, "key-provider", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "grant the account "
		    "Cryptographer.ManageKeyServers on the vCenter root");
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(cl[i].id, cfg->kms_cluster) == 0)
			want = &cl[i];
	s->provider_exists = want != NULL;
	if (want != NULL && strcmp(want->mgmt, "vCenter") != 0 && want->mgmt[0] != '\0') {
		struct step *st = steps_add(&s->steps, "key-provider", STEP_FAILED, "key provider "
		    "'%s' is not a standard key provider (managementType %s)", want->id,
		    want->mgmt);
		kms_clusters_free(cl, n);
		return steps_fail(&s->steps, st, EXIT_FAIL, "name a standard key provider in <kms "
		    "cluster> in %s", cfg->path);
	}
	for (size_t i = 0; i < cfg->nkms_servers && i < MAX_SERVERS; i++) {
		const struct kms_server_expect *e = &cfg->kms_servers[i];
		const struct kms_server *have = NULL;
		for (size_t j = 0; want && j < want->nservers && !have; j++)
			if (strcmp(want->servers[j].name, e->name) == 0)
				have = &want->servers[j];
		if (have == NULL) {
			todo[i] = 1;
		} else if (strcasecmp(have->address, e->address) != 0 || have->port != e->port) {
			struct step *st = steps_add(&s->steps, "key-provider", STEP_FAILED, "server %s "
			    "of '%s' is %s:%d in vCenter, %s:%d in the configuration", e->name,
			    cfg->kms_cluster, have->address, have->port, e->address, e->port);
			kms_clusters_free(cl, n);
			return steps_fail(&s->steps, st, EXIT_FAIL, "correct <server name=\"%s\"> in "
			    "%s, or remove the server from key provider '%s' in vCenter first; nothing "
			    "was changed", e->name, cfg->path, cfg->kms_cluster);
		} else {
			steps_add(&s->steps, "key-provider", STEP_UNCHANGED,
			    "%s: server %s (%s:%d) registered", cfg->kms_cluster, e->name,
			    e->address, e->port);
		}
	}
	kms_clusters_free(cl, n);
	for (size_t i = 0; i < cfg->nkms_servers && i < MAX_SERVERS; i++)
		if (todo[i] && (rc = register_server(s, c, &cfg->kms_servers[i])) != 0)
			return rc;
	return 0;
}

/* The provider's status as vCenter sees it (NULL: not listed). */
static const struct kms_cluster_status *
status_of(struct setup *s, struct vconn *c, struct kms_cluster_status **all, size_t *n,
    int *rc)
{
	const xnode *res = NULL;

	*all = NULL;
	*n = 0;
	if ((*rc = vim_kms_status(c, 60, &res)) != 0)
		return NULL;
	kms_status_parse(res, time(NULL), all, n);
	vconn_reset(c);
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*all)[i].id, s->cfg->kms_cluster) == 0)
			return &(*all)[i];
	return NULL;
}

/* Each <default-for> path: a compute cluster or a host folder, all of them
 * found before anything changes.  0, or -1 with the step failed. */
static int
resolve_entities(struct setup *s, struct vconn *c, struct vmoref *ents)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < cfg->nkms_default_for; i++) {
		const char *path = cfg->kms_default_for[i];
		int rc = vim_find_by_path(c, path, &ents[i]);
		if (rc != 0) {
			struct step *st = steps_add(&s->steps, "default", STEP_FAILED, "%s",
			    vconn_error(c));
			return steps_fail(&s->steps, st, vim_exit_code(rc), "the account needs "
			    "System.View on the inventory");
		}
		const char *why = ents[i].value[0] == '\0' ? "nothing is there" :
		    strcmp(ents[i].type, "ClusterComputeResource") != 0 &&
		    strcmp(ents[i].type, "Folder") != 0 ? ents[i].type : NULL;
		if (why != NULL) {
			struct step *st = steps_add(&s->steps, "default", STEP_FAILED, "<default-for "
			    "path=\"%s\">: %s", path, why);
			return steps_fail(&s->steps, st, EXIT_CONFIG, "give the inventory path of a "
			    "compute cluster or a host folder (/Datacenter/host/Cluster) in %s",
			    cfg->path);
		}
	}
	return 0;
}

/* <default-for>: the provider becomes the default of those clusters or
 * host folders (SetDefaultKmsCluster with an entity), not vCenter's. */
static int
step_entity_defaults(struct setup *s, struct vconn *c, const struct vmoref *ents)
{
	const struct config *cfg = s->cfg;
	struct kms_cluster *cl = NULL;
	size_t n = 0, changed = 0, len = 0;
	char detail[1024] = "";
	int rc;

	if ((rc = vim_kms_list(c, &cl, &n)) != 0) {
		struct step *st = steps_add(&s->steps, "default", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "grant the account "
		    "Cryptographer.ManageKeyServers on the vCenter root");
	}
	const struct kms_cluster *k = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(cl[i].id, cfg->kms_cluster) == 0)
			k = &cl[i];
	for (size_t i = 0; i < cfg->nkms_default_for && rc == 0; i++) {
		int have = 0;
		for (size_t j = 0; k != NULL && j < k->nentities; j++)
			have = have || strcmp(k->entities[j].value, ents[i].value) == 0;
		if (!have && !s->dry_run)
			rc = vim_kms_set_entity_default(c, cfg->kms_cluster, &ents[i]);
		changed += !have;
		int w = snprintf(detail + len, sizeof(detail) - len, "%s%s %s (%s)",
		    len ? "; " : "", have ? "already the default of" : s->dry_run ?
		    "would be made the default of" : "made the default of",
		    cfg->kms_default_for[i], ents[i].value);
		if (w > 0 && (size_t)w < sizeof(detail) - len)
			len += (size_t)w;
	}
	kms_clusters_free(cl, n);
	if (rc != 0) {
		struct step *st = steps_add(&s->steps, "default", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "in the vSphere Client: the "
		    "cluster > Configure > Key Provider > Change; the account needs "
		    "Cryptographer.ManageKeyServers");
	}
	steps_add(&s->steps, "default", changed == 0 ? STEP_UNCHANGED :
	    s->dry_run ? STEP_WOULD : STEP_DONE, "'%s': %s", cfg->kms_cluster, detail);
	return 0;
}

static int
step_default(struct setup *s, struct vconn *c, const struct vmoref *ents)
{
	const char *cluster = s->cfg->kms_cluster;
	char def[256] = "";

	if (s->cfg->nkms_default_for > 0)
		return step_entity_defaults(s, c, ents);
	int rc = vim_kms_default(c, def, sizeof(def));

	if (rc == 0 && strcmp(def, cluster) == 0) {
		steps_add(&s->steps, "default", STEP_UNCHANGED,
		    "'%s' is vCenter's default key provider", cluster);
		return 0;
	}
	if (s->dry_run) {
		steps_add(&s->steps, "default", STEP_WOULD, "would make '%s' the default (now: %s)",
		    cluster, def[0] ? def : "none");
		return 0;
	}
	if ((rc = vim_kms_mark_default(c, cluster)) != 0) {
		struct step *st = steps_add(&s->steps, "default", STEP_FAILED, "%s",
		    vconn_error(c));
		return steps_fail(&s->steps, st, vim_exit_code(rc), "in the vSphere Client: Key "
		    "Providers > %s > Set as Default", cluster);
	}
	steps_add(&s->steps, "default", STEP_DONE,
	    "made '%s' the default key provider (was: %s)", cluster, def[0] ? def : "none");
	return 0;
}

/* Waits until every server is green and trusted both ways. */
static int
step_connection(struct setup *s, struct vconn *c)
{
	struct kms_cluster_status *all = NULL;
	size_t n = 0;
	int rc = 0;
	/* A CSR out for signing: nothing to wait for yet. */
	time_t until = time(NULL) + (s->awaiting_signature ? 0 : s->timeout);

	for (;;) {
		const struct kms_cluster_status *cs = status_of(s, c, &all, &n, &rc);
		int vc_side = kms_all_trust(cs, VC_TRUSTS_KMS);
		int kms_side = kms_all_trust(cs, KMS_TRUSTS_VC);
		int ok = vc_side && kms_side;
		for (size_t i = 0; ok && i < cs->nservers; i++)
			ok = strcmp(cs->servers[i].status, "green") == 0;
		if (ok) {
			steps_add(&s->steps, "connection", STEP_UNCHANGED, "'%s': every server green, "
			    "connected, trusted both ways", s->cfg->kms_cluster);
			kms_status_free(all, n);
			return 0;
		}
		if (rc != 0 || time(NULL) >= until || s->dry_run) {
			struct step *st = steps_add(&s->steps, "connection",
			    s->dry_run ? STEP_INFO : STEP_FAILED, "'%s': %s", s->cfg->kms_cluster,
			    rc ? vconn_error(c) : cs == NULL ? "not in the status vCenter reports" :
			    cs->nservers ? cs->servers[0].connection : "no servers");
			/* Only the KMS's half of the trust is missing. */
			int kms_lacks = vc_side && !kms_side;
			kms_status_free(all, n);
			if (s->dry_run)
				return 0;
			if (kms_lacks && s->awaiting_signature)
				return steps_fail(&s->steps, st, EXIT_FAIL, "the KMS does not trust "
				    "vCenter yet: have the KMS sign %.300s, then run vmcrypt-agent kms "
				    "setup --signed-cert SIGNED.pem", s->csr_out);
			return steps_fail(&s->steps, st, EXIT_FAIL, "%s", kms_lacks ?
			    "the KMS does not trust vCenter yet: give it vCenter's client "
			    "certificate (the file named above), then run kms setup again" :
			    "check that vCenter reaches the KMS and that vCenter trusts its "
			    "certificate, then run kms setup again");
		}
		kms_status_free(all, n);
		sleep(2);
	}
}

/* The steps against vCenter, in order, stopping at the first failure. */
void
kset_vcenter(struct setup *s, struct vconn *c)
{
	struct kms_cluster_status *all = NULL;
	struct vmoref ents[64];		/* <default-for> maxOccurs in the XSD */
	size_t n = 0;
	int rc;

	/* Every <default-for> found, and a wrapping key's rotation possible,
	 * before anything changes. */
	if (kmswrap_available(s, c) != 0 || resolve_entities(s, c, ents) != 0 ||
	    step_provider(s, c) != 0)
		return;
	const struct kms_cluster_status *cs = NULL;
	if (s->provider_exists)		/* a dry run may not have made it */
		cs = status_of(s, c, &all, &n, &rc);
	int r = kmstrust_vc_trusts_kms(s, c, cs);
	s->kms_trusts_vc = kms_all_trust(cs, KMS_TRUSTS_VC);
	kms_status_free(all, n);
	if (r != 0 || kmstrust_kms_trusts_vc(s, c) != 0 || step_default(s, c, ents) != 0)
		return;
	/* The wrapping key is made on the KMS: after the connection works. */
	if ((s->dry_run && cs == NULL) || step_connection(s, c) == 0)
		kmswrap_step(s, c);
}

