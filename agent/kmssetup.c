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
 *
 * Secrets (the KMS password, the client key) come from files or the
 * environment, never argv; the SOAP trace redacts them.
 */
#include "cli.h"
#include "config.h"
#include "kms.h"
#include "kmssetup.h"
#include "log.h"
#include "tls.h"
#include "vim.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const result_words[] = { "unchanged", "done", "would", "failed", "info" };

struct step *
kset_step(struct setup *s, const char *name, enum step_result r, const char *fmt, ...)
{
	static struct step overflow;
	struct step *st = s->nsteps < MAX_STEPS ? &s->steps[s->nsteps++] : &overflow;
	va_list ap;

	memset(st, 0, sizeof(*st));
	st->name = name;
	st->result = r;
	va_start(ap, fmt);
	vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
	return st;
}

int
kset_failed(struct setup *s, struct step *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->result = ST_FAILED;
	va_start(ap, fmt);
	vsnprintf(st->fix, sizeof(st->fix), fmt, ap);
	va_end(ap);
	s->exit_code = code;
	return -1;
}

/* "sha1 Fingerprint=AB:CD..." or "abcd...": 40 hex digits, upper case. */
static void
thumb_norm(const char *in, char *out, size_t len)
{
	const char *eq = strchr(in, '=');
	size_t n = 0;

	for (const char *p = eq ? eq + 1 : in; *p && n + 1 < len; p++)
		if (isxdigit((unsigned char)*p))
			out[n++] = (char)toupper((unsigned char)*p);
	out[n] = '\0';
}

char *
kset_read_small(const char *path, int secret, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    fd < 0 ? strerror(errno) : "not a regular file of at most 64 KB");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "%s is accessible by group or other (mode %03o); run: "
		    "chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return NULL;
	}
	char *buf = xcalloc(1, (size_t)st.st_size + 1);
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "cannot read %s: short read", path);
		secret_free(buf);
		return NULL;
	}
	return buf;
}

/* Each server's certificate, read over TLS from here, and its thumbprint
 * held against --thumbprint (or confirmed at a terminal). */
static int
step_certificates(struct setup *s)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < cfg->nkms_servers && i < MAX_SERVERS; i++) {
		const struct kms_server_expect *e = &cfg->kms_servers[i];
		struct tls_client_opts o = { NULL, NULL, NULL, 0, 10 };
		struct tls_client *c = NULL;
		struct tls_cert_info ci;
		char port[16], err[512], got[64], want[64];

		snprintf(port, sizeof(port), "%d", e->port);
		struct step *st = kset_step(s, "kms-certificate", ST_INFO, "%s (%s:%d): ", e->name,
		    e->address, e->port);
		int rc = tls_client_open(e->address, port, &o, &c, err, sizeof(err));
		if (c == NULL || tls_client_peer(c, &ci) != 0 || ci.pem[0] == '\0') {
			tls_client_free(c);
			snprintf(st->detail + strlen(st->detail), sizeof(st->detail) -
			    strlen(st->detail), "%s", err[0] ? err : "no certificate received");
			return kset_failed(s, st, rc == TLS_E_CONNECT || rc == TLS_E_RESOLVE ?
			    EXIT_KMS_UNREACHABLE : EXIT_KMS_TLS, "check that this host reaches "
			    "the KMS at %s:%d and that it speaks TLS (vmcrypt-agent kms-probe "
			    "%s:%d)", e->address, e->port, e->address, e->port);
		}
		tls_client_free(c);
		s->pem[i] = xstrdup(ci.pem);
		thumb_norm(ci.sha1, got, sizeof(got));
		const char *eq = strchr(ci.sha1, '=');
		snprintf(s->sha1[i], sizeof(s->sha1[i]), "%s", eq ? eq + 1 : ci.sha1);
		snprintf(st->detail + strlen(st->detail), sizeof(st->detail) - strlen(st->detail),
		    "SHA-1 %s, subject %s, expires %s", s->sha1[i], ci.subject, ci.not_after);
		int match = 0;
		for (size_t t = 0; t < s->nthumbprints && !match; t++) {
			thumb_norm(s->thumbprints[t], want, sizeof(want));
			match = strcmp(got, want) == 0;
		}
		if (match)
			continue;
		if (s->nthumbprints > 0)
			return kset_failed(s, st, EXIT_KMS_TLS, "the certificate is not the one "
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
			if (fgets(line, sizeof(line), stdin) != NULL && (line[0] == 'y' || line[0] == 'Y'))
				continue;
		}
		return kset_failed(s, st, EXIT_FAIL, "check the thumbprint with the KMS "
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
		kset_step(s, "key-provider", ST_WOULD, "%s: would register server %s (%s:%d)",
		    cluster, e->name, e->address, e->port);
		return 0;
	}
	if (s->kms_user != NULL && s->kms_password_file != NULL) {
		if ((password = kset_read_small(s->kms_password_file, 1, err, sizeof(err))) == NULL) {
			struct step *st = kset_step(s, "key-provider", ST_FAILED, "%s", err);
			return kset_failed(s, st, EXIT_CONFIG, "give a KMS password file readable "
			    "only by its owner, or VMCRYPT_KMS_PASSWORD");
		}
		password[strcspn(password, "\r\n")] = '\0';
	} else if (s->kms_user != NULL && getenv("VMCRYPT_KMS_PASSWORD") != NULL) {
		password = xstrdup(getenv("VMCRYPT_KMS_PASSWORD"));
	}
	int rc = vim_kms_register(c, cluster, e->name, e->address, e->port, s->kms_user,
	    password);
	secret_free(password);
	if (rc != 0) {
		struct step *st = kset_step(s, "key-provider", ST_FAILED, "%s", vconn_error(c));
		if (strcmp(vconn_fault_type(c), "NoPermission") == 0)
			return kset_failed(s, st, EXIT_FAIL, "the account %s lacks "
			    "Cryptographer.ManageKeyServers (Manage key servers): grant it on "
			    "the vCenter root, then run kms setup again", s->cfg->vc_user);
		return kset_failed(s, st, cli_exit_for(rc), "check that the account has "
		    "Cryptographer.ManageKeyServers and that no other server of '%s' is "
		    "named %s", cluster, e->name);
	}
	s->provider_exists = 1;
	kset_step(s, "key-provider", ST_DONE, "%s: registered server %s (%s:%d)", cluster,
	    e->name, e->address, e->port);
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
		struct step *st = kset_step(s, "key-provider", ST_FAILED, "%s", vconn_error(c));
		return kset_failed(s, st, cli_exit_for(rc), "grant the account "
		    "Cryptographer.ManageKeyServers on the vCenter root");
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(cl[i].id, cfg->kms_cluster) == 0)
			want = &cl[i];
	s->provider_exists = want != NULL;
	if (want != NULL && strcmp(want->mgmt, "vCenter") != 0 && want->mgmt[0] != '\0') {
		struct step *st = kset_step(s, "key-provider", ST_FAILED, "key provider '%s' is "
		    "not a standard key provider (managementType %s)", want->id, want->mgmt);
		kms_clusters_free(cl, n);
		return kset_failed(s, st, EXIT_FAIL, "name a standard key provider in <kms "
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
			struct step *st = kset_step(s, "key-provider", ST_FAILED, "server %s of '%s' "
			    "is %s:%d in vCenter, %s:%d in the configuration", e->name,
			    cfg->kms_cluster, have->address, have->port, e->address, e->port);
			kms_clusters_free(cl, n);
			return kset_failed(s, st, EXIT_FAIL, "correct <server name=\"%s\"> in %s, or "
			    "remove the server from key provider '%s' in vCenter first; nothing "
			    "was changed", e->name, cfg->path, cfg->kms_cluster);
		} else {
			kset_step(s, "key-provider", ST_UNCHANGED, "%s: server %s (%s:%d) registered",
			    cfg->kms_cluster, e->name, e->address, e->port);
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

int
kset_all_trust(const struct kms_cluster_status *cs, int kms_trusts_vc)
{
	if (cs == NULL || cs->nservers == 0)
		return 0;
	for (size_t i = 0; i < cs->nservers; i++)
		if ((kms_trusts_vc ? cs->servers[i].server_trust_client :
		    cs->servers[i].client_trust_server) != 1)
			return 0;
	return 1;
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
			struct step *st = kset_step(s, "default", ST_FAILED, "%s", vconn_error(c));
			return kset_failed(s, st, cli_exit_for(rc), "the account needs System.View "
			    "on the inventory");
		}
		const char *why = ents[i].value[0] == '\0' ? "nothing is there" :
		    strcmp(ents[i].type, "ClusterComputeResource") != 0 &&
		    strcmp(ents[i].type, "Folder") != 0 ? ents[i].type : NULL;
		if (why != NULL) {
			struct step *st = kset_step(s, "default", ST_FAILED, "<default-for "
			    "path=\"%s\">: %s", path, why);
			return kset_failed(s, st, EXIT_CONFIG, "give the inventory path of a "
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
		struct step *st = kset_step(s, "default", ST_FAILED, "%s", vconn_error(c));
		return kset_failed(s, st, cli_exit_for(rc), "grant the account "
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
		struct step *st = kset_step(s, "default", ST_FAILED, "%s", vconn_error(c));
		return kset_failed(s, st, cli_exit_for(rc), "in the vSphere Client: the cluster "
		    "> Configure > Key Provider > Change; the account needs "
		    "Cryptographer.ManageKeyServers");
	}
	kset_step(s, "default", changed == 0 ? ST_UNCHANGED : s->dry_run ? ST_WOULD : ST_DONE,
	    "'%s': %s", cfg->kms_cluster, detail);
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
		kset_step(s, "default", ST_UNCHANGED, "'%s' is vCenter's default key provider",
		    cluster);
		return 0;
	}
	if (s->dry_run) {
		kset_step(s, "default", ST_WOULD, "would make '%s' the default (now: %s)", cluster,
		    def[0] ? def : "none");
		return 0;
	}
	if ((rc = vim_kms_mark_default(c, cluster)) != 0) {
		struct step *st = kset_step(s, "default", ST_FAILED, "%s", vconn_error(c));
		return kset_failed(s, st, cli_exit_for(rc), "in the vSphere Client: Key Providers "
		    "> %s > Set as Default", cluster);
	}
	kset_step(s, "default", ST_DONE, "made '%s' the default key provider (was: %s)",
	    cluster, def[0] ? def : "none");
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
		int ok = cs != NULL && kset_all_trust(cs, 0) && kset_all_trust(cs, 1);
		for (size_t i = 0; ok && i < cs->nservers; i++)
			ok = strcmp(cs->servers[i].status, "green") == 0;
		if (ok) {
			kset_step(s, "connection", ST_UNCHANGED, "'%s': every server green, "
			    "connected, trusted both ways", s->cfg->kms_cluster);
			kms_status_free(all, n);
			return 0;
		}
		if (rc != 0 || time(NULL) >= until || s->dry_run) {
			struct step *st = kset_step(s, "connection", s->dry_run ? ST_INFO : ST_FAILED,
			    "'%s': %s", s->cfg->kms_cluster, rc ? vconn_error(c) : cs == NULL ?
			    "not in the status vCenter reports" : cs->nservers ?
			    cs->servers[0].connection : "no servers");
			int kms_side = cs != NULL && kset_all_trust(cs, 0) && !kset_all_trust(cs, 1);
			kms_status_free(all, n);
			if (s->dry_run)
				return 0;
			if (kms_side && s->awaiting_signature)
				return kset_failed(s, st, EXIT_FAIL, "the KMS does not trust vCenter "
				    "yet: have the KMS sign %.300s, then run vmcrypt-agent kms setup "
				    "--signed-cert SIGNED.pem", s->csr_out);
			return kset_failed(s, st, EXIT_FAIL, "%s", kms_side ? "the KMS does not trust "
			    "vCenter yet: give it vCenter's client certificate (the file named "
			    "above), then run kms setup again" : "check that vCenter reaches the "
			    "KMS and that vCenter trusts its certificate, then run kms setup again");
		}
		kms_status_free(all, n);
		sleep(2);
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmcrypt-agent kms setup [--config FILE] [--thumbprint SHA1]...\n"
	    "           [--kms-user NAME [--kms-password-file FILE]]\n"
	    "           [--client-cert FILE --client-key FILE | --csr-out FILE |\n"
	    "            --signed-cert FILE] [--client-cert-out FILE]\n"
	    "           [--timeout SECONDS] [--dry-run] [--json] [--trace-soap DIR]\n");
}

static void
help(void)
{
	usage(stdout);
	printf("\nAdds the KMS of <kms cluster=\"NAME\"><server name address port/></kms>\n"
	    "to vCenter as a standard key provider and makes it usable, as OVHcloud's\n"
	    "VM Encryption guide does by hand; each step is read first, so a second\n"
	    "run changes nothing and says so:\n"
	    "  kms-certificate     read the KMS certificate from here; its SHA-1\n"
	    "                      thumbprint must match --thumbprint (or be confirmed\n"
	    "                      at a terminal) before anything changes\n"
	    "  key-provider        RegisterKmipServer for each server vCenter lacks\n"
	    "  vcenter-trusts-kms  UploadKmipServerCert (Make vCenter Trust KMS)\n"
	    "  kms-trusts-vcenter  UploadClientCert with --client-cert/--client-key; or\n"
	    "                      vCenter's certificate signing request written to\n"
	    "                      --csr-out for the KMS to sign (OVHcloud's KMS signs\n"
	    "                      one), then the signed certificate given back with\n"
	    "                      --signed-cert (UpdateKmsSignedCsrClientCert); or\n"
	    "                      the client certificate vCenter has or generates\n"
	    "                      (self-signed), written to --client-cert-out (default\n"
	    "                      STATE-DIR/vcenter-client-NAME.pem) for the KMS admin\n"
	    "  default             MarkDefault: the default key provider\n"
	    "  connection          RetrieveKmipServersStatus_Task until every server is\n"
	    "                      green and trusted both ways (--timeout, default 60)\n\n"
	    "The KMS user's password comes from --kms-password-file (mode 600) or\n"
	    "VMCRYPT_KMS_PASSWORD, never the command line.\n\n"
	    "Exit codes: 0 set up (or nothing to change); 1 a step failed (its fix is\n"
	    "printed); 2 usage; 3 configuration; 4 vCenter unreachable; 5 login failed;\n"
	    "6 KMS unreachable from here; 7 KMS TLS failed or thumbprint mismatch.\n");
}

static int
setup_args(int argc, char **argv, struct setup *s)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "thumbprint", required_argument, NULL, 't' },
		{ "kms-user", required_argument, NULL, 'u' },
		{ "kms-password-file", required_argument, NULL, 'p' },
		{ "client-cert", required_argument, NULL, 'C' },
		{ "client-key", required_argument, NULL, 'K' },
		{ "client-cert-out", required_argument, NULL, 'o' },
		{ "csr-out", required_argument, NULL, 'r' },
		{ "signed-cert", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "trace-soap", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int ch;

	s->timeout = 60;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': s->config_path = optarg; break;
		case 't':
			if (s->nthumbprints == MAX_THUMBPRINTS)
				return EXIT_USAGE;
			s->thumbprints[s->nthumbprints++] = optarg;
			break;
		case 'u': s->kms_user = optarg; break;
		case 'p': s->kms_password_file = optarg; break;
		case 'C': s->client_cert = optarg; break;
		case 'K': s->client_key = optarg; break;
		case 'o': s->cert_out = optarg; break;
		case 'r': s->csr_out = optarg; break;
		case 's': s->signed_cert = optarg; break;
		case 'w':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 3600) {
				fprintf(stderr, "vmcrypt-agent: --timeout %s: 1..3600 seconds\n", optarg);
				return EXIT_USAGE;
			}
			s->timeout = (int)v;
			break;
		case 'n': s->dry_run = 1; break;
		case 'j': s->json = 1; break;
		case 'T': s->trace = optarg; break;
		case 'h': help(); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (s->client_cert == NULL) != (s->client_key == NULL)) {
		if (s->client_cert == NULL || s->client_key == NULL)
			fprintf(stderr, "vmcrypt-agent: --client-cert and --client-key go together\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((s->client_cert != NULL) + (s->csr_out != NULL) + (s->signed_cert != NULL) > 1) {
		fprintf(stderr, "vmcrypt-agent: one way for the KMS to trust vCenter: "
		    "--client-cert/--client-key, --csr-out, or --signed-cert\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < s->nthumbprints; i++) {
		char t[64];
		thumb_norm(s->thumbprints[i], t, sizeof(t));
		if (strlen(t) != 40) {
			fprintf(stderr, "vmcrypt-agent: --thumbprint %s: not a SHA-1 thumbprint "
			    "(40 hex digits, colons allowed)\n", s->thumbprints[i]);
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

static void
print_steps(const struct setup *s)
{
	static const char *const tag[] = { "OK   ", "DONE ", "WOULD", "FAIL ", "     " };
	size_t changed = 0, failures = 0;

	if (s->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();
		for (size_t i = 0; i < s->nsteps; i++) {
			const struct step *st = &s->steps[i];
			json_object *j = json_object_new_object();
			json_object_object_add(j, "step", json_object_new_string(st->name));
			json_object_object_add(j, "result",
			    json_object_new_string(result_words[st->result]));
			json_object_object_add(j, "detail", json_object_new_string(st->detail));
			if (st->fix[0])
				json_object_object_add(j, "fix", json_object_new_string(st->fix));
			json_object_array_add(a, j);
			changed += st->result == ST_DONE || st->result == ST_WOULD;
		}
		json_object_object_add(o, "key_provider",
		    json_object_new_string(s->cfg->kms_cluster));
		json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
		json_object_object_add(o, "ok", json_object_new_boolean(s->exit_code == 0));
		json_object_object_add(o, "changes", json_object_new_int((int)changed));
		json_object_object_add(o, "steps", a);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("vmcrypt-agent kms setup: key provider '%s'%s\n\n", s->cfg->kms_cluster,
	    s->dry_run ? " (dry run: nothing is changed)" : "");
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct step *st = &s->steps[i];
		printf("  %s %-19s %s\n", tag[st->result], st->name, st->detail);
		if (st->fix[0])
			printf("        %-19s %s: %s\n", "", st->result == ST_FAILED ? "fix" :
			    "next", st->fix);
		changed += st->result == ST_DONE || st->result == ST_WOULD;
		failures += st->result == ST_FAILED;
	}
	if (failures)
		printf("\nstopped at the first failure; %zu change%s made before it\n",
		    s->dry_run ? 0 : changed, changed == 1 ? "" : "s");
	else if (changed == 0)
		printf("\nnothing to change: '%s' is registered, trusted both ways, the "
		    "default, and connected\n", s->cfg->kms_cluster);
	else
		printf("\n%zu change%s %s\n", changed, changed == 1 ? "" : "s",
		    s->dry_run ? "would be made" : "made");
}

/* The steps against vCenter, in order, stopping at the first failure. */
static void
setup_vcenter(struct setup *s, struct vconn *c)
{
	struct kms_cluster_status *all = NULL;
	struct vmoref ents[64];		/* <default-for> maxOccurs in the XSD */
	size_t n = 0;
	int rc;

	/* Every <default-for> found before anything changes. */
	if (resolve_entities(s, c, ents) != 0 || step_provider(s, c) != 0)
		return;
	const struct kms_cluster_status *cs = NULL;
	if (s->provider_exists)		/* a dry run may not have made it */
		cs = status_of(s, c, &all, &n, &rc);
	int r = step_vc_trusts_kms(s, c, cs);
	s->kms_trusts_vc = kset_all_trust(cs, 1);
	kms_status_free(all, n);
	if (r != 0 || step_kms_trusts_vc(s, c) != 0 || step_default(s, c, ents) != 0)
		return;
	if (s->dry_run && cs == NULL)
		return;
	step_connection(s, c);
}

int
cmd_kms(int argc, char **argv)
{
	struct setup s;
	struct vsession *vs = NULL;
	char err[1024];
	int rc;

	memset(&s, 0, sizeof(s));
	if (argc < 2 || strcmp(argv[1], "setup") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			help();
			return EXIT_OK;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = setup_args(argc - 1, argv + 1, &s)) != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = cli_load_config(s.config_path, &s.cfg)) != EXIT_OK)
		return rc;
	if (s.cfg->kms_cluster == NULL || s.cfg->nkms_servers == 0) {
		fprintf(stderr, "vmcrypt-agent: kms setup needs <kms cluster=\"NAME\"><server "
		    "name=\"...\" address=\"...\" port=\"5696\"/></kms> in %s\n", s.cfg->path);
		config_free(s.cfg);
		return EXIT_CONFIG;
	}
	if ((rc = cli_trace_soap(s.cfg, s.trace)) != EXIT_OK) {
		config_free(s.cfg);
		return rc;
	}
	if (getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(LOG_LVL_WARN);
	if (step_certificates(&s) == 0) {
		char *password = config_read_password(s.cfg, err, sizeof(err));
		if (password == NULL || (vs = vsession_new(s.cfg, err, sizeof(err))) == NULL) {
			secret_free(password);
			fprintf(stderr, "vmcrypt-agent: %s\n", err);
			s.exit_code = EXIT_CONFIG;
		} else if ((rc = vsession_open(vs, password, err, sizeof(err))) != 0) {
			secret_free(password);
			struct step *st = kset_step(&s, "vcenter", ST_FAILED, "%s", err);
			kset_failed(&s, st, cli_exit_for(rc), "check <vcenter url>, the account and "
			    "its password (vmcrypt-agent check says more)");
		} else {
			secret_free(password);
			struct vconn *c = vconn_new(vs);
			vconn_set_timeout(c, s.cfg->timeout);
			setup_vcenter(&s, c);
			vconn_free(c);
			vsession_close(vs);
		}
	}
	if (s.exit_code != EXIT_CONFIG || s.nsteps > 0)
		print_steps(&s);
	vsession_free(vs);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		free(s.pem[i]);
	config_free(s.cfg);
	return s.exit_code;
}
