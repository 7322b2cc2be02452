/*
 * `vmcrypt-agent kms renew-client-cert`: its command line and its report;
 * the steps are guide/kmsrenew.c's.  Run daily by the packages' timer: it
 * does nothing while the certificate is further than renew-days from its
 * expiry.
 */
#include "cli.h"
#include "config.h"
#include "kmsokms.h"
#include "kmsrenew.h"
#include "kmssetup.h"
#include "log.h"
#include "okms.h"
#include "opts.h"
#include "ovhapi.h"
#include "ovhcalls.h"
#include "vim.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: vmcrypt-agent kms renew-client-cert [--config FILE] [--force]\n"
    "           [--csr-out FILE | --signed-cert FILE]\n"
    "           [--okms-wait S] [--okms-validity DAYS]\n"
    "           [--dry-run] [--json] [--trace-soap DIR]\n";

static const char about[] =
    "Renews the client certificate vCenter presents to its key provider\n"
    "(<kms cluster>) before it expires.  Nothing is done while it expires\n"
    "further than renew-days (<okms renew-days>, 30) away, unless --force: the\n"
    "packages run this daily (vmcrypt-agent-renew.timer).  Steps:\n"
    "  certificate          its expiry, from the key provider's status\n"
    "  csr                  vCenter's certificate signing request (the one it\n"
    "                       keeps, else a new one; its key never leaves vCenter)\n"
    "With <okms id> (OVHcloud's KMS; OVHcloud credentials as `vmcrypt-agent ovh\n"
    "--help` says):\n"
    "  credential, ready    a new OKMS credential for that CSR, until READY\n"
    "  vcenter-certificate  its certificate given to vCenter\n"
    "                       (UpdateKmsSignedCsrClientCert)\n"
    "  connection           the key provider green and trusted both ways with the\n"
    "                       new certificate (else the old one is put back)\n"
    "  old-credential       only then, this vCenter's old credentials deleted\n"
    "                       (those named after it; no other credential)\n"
    "With another KMS: the CSR is written to --csr-out (default\n"
    "STATE-DIR/kms-client-renew.csr) for the KMS administrator to sign; run\n"
    "again with --signed-cert FILE to give vCenter the signed certificate\n"
    "(vcenter-certificate, connection as above).\n\n"
    "A failure at any step leaves the old certificate in vCenter.\n";

static const char tail[] =
    "exit status: 0 nothing to do, or renewed; 1 a step failed, or the CSR waits\n"
    "for the KMS's signature (the old certificate is in place); 2 usage; 3 the\n"
    "configuration; other codes as `vmcrypt-agent --help` lists (vCenter, the\n"
    "OVHcloud API).\n";

struct renew_opts {
	struct setup	 s;
	int		 force, wait, validity;
};

static int
renew_args(int argc, char **argv, struct renew_opts *o)
{
	struct setup *s = &o->s;
	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &s->config_path, .help = OPTS_HELP_CONFIG },
		{ "force", 0, OPT_FLAG, NULL, &o->force,
		  .help = "renew however far the expiry is" },
		{ "csr-out", 0, OPT_STRING, "FILE", &s->csr_out,
		  .help = "another KMS: where vCenter's CSR is written" },
		{ "signed-cert", 0, OPT_STRING, "FILE", &s->signed_cert,
		  .help = "another KMS: the certificate it signed on that CSR" },
		{ "okms-wait", 0, OPT_INT, "S", &o->wait, .min = 1, .max = 3600,
		  .unit = "seconds", .help = "how long a new credential may take (120)" },
		{ "okms-validity", 0, OPT_INT, "DAYS", &o->validity, .min = 1, .max = 365,
		  .unit = "days", .help = "the new credential's validity (365, the maximum)" },
		{ "dry-run", 0, OPT_FLAG, NULL, &s->dry_run,
		  .help = "say what each step would do, change nothing" },
		{ "json", 0, OPT_FLAG, NULL, &s->json, .help = "the steps as JSON" },
		{ "trace-soap", 0, OPT_STRING, "DIR", &s->trace, .help = OPTS_HELP_TRACE },
		{ NULL }
	};
	const struct opts_cmd cmd = { .usage = usage, .about = about, .tail = tail,
		.opts = opts };

	o->wait = 120;
	o->validity = 365;
	int rc = opts_parse(&cmd, argc, argv);
	if (rc == EXIT_OK && s->csr_out != NULL && s->signed_cert != NULL) {
		fprintf(stderr, "vmcrypt-agent: --csr-out or --signed-cert, not both\n");
		return EXIT_USAGE;
	}
	return rc;
}

static void
print_steps(const struct setup *s)
{
	if (s->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "key_provider",
		    json_object_new_string(s->cfg->kms_cluster));
		json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
		json_object_object_add(o, "ok", json_object_new_boolean(s->steps.exit_code == 0));
		json_object_object_add(o, "changes",
		    json_object_new_int((int)steps_changed(&s->steps)));
		json_object_object_add(o, "steps", steps_json(&s->steps));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("vmcrypt-agent kms renew-client-cert: key provider '%s'%s\n\n",
	    s->cfg->kms_cluster, s->dry_run ? " (dry run: nothing is changed)" : "");
	steps_print_table(&s->steps, stdout);
}

/* OVHcloud's API for an OKMS renewal: s->okms, or an exit code (said). */
static int
okms_open(struct renew_opts *o, struct okms_trust *t)
{
	const struct config *cfg = o->s.cfg;
	struct ovhc_opts oo = { .dry_run = o->s.dry_run, .json = 1 };
	char base[256];
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = ovhc_connect_api(&oo, 1, &t->api, base, sizeof(base))) != EXIT_OK)
		return rc;
	t->okms_id = cfg->okms_id;
	t->wait = o->wait;
	t->validity = o->validity;
	okms_credential_name(cfg->vc_url, t->name, sizeof(t->name));
	if (cfg->nokms_identities > 0) {
		t->urns = json_object_new_array();
		for (size_t i = 0; i < cfg->nokms_identities; i++)
			json_object_array_add(t->urns,
			    json_object_new_string(cfg->okms_identities[i]));
	}
	o->s.okms = t;
	return EXIT_OK;
}

/* STATE-DIR/okms-CLUSTER.json (kms setup's) names the new credential. */
static void
note_credential(const struct setup *s, const char *cred_id)
{
	char path[1024], tmp[1040];

	snprintf(path, sizeof(path), "%s/okms-%s.json", s->cfg->state_dir, s->cfg->kms_cluster);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	json_object *o = json_object_from_file(path);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	json_object_object_add(o, "credential", json_object_new_string(cred_id));
	json_object_object_add(o, "credential_created", json_object_new_boolean(1));
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY) != 0 ||
	    rename(tmp, path) != 0)
		fprintf(stderr, "vmcrypt-agent: warning: cannot write %s (the renewal is done; "
		    "the state file only records it)\n", path);
	json_object_put(o);
}

/* The steps on a logged-in session. */
static void
renew_run(struct vconn *c, void *arg)
{
	struct renew_opts *o = arg;
	kmsrenew_run(&o->s, c, o->force);
}

static void
renew_vcenter(struct renew_opts *o)
{
	cli_guide_vcenter(o->s.cfg, &o->s.steps, renew_run, o);
}

int
cmd_kms_renew(int argc, char **argv)
{
	struct renew_opts o;
	struct okms_trust t;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	if ((rc = renew_args(argc, argv, &o)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(o.s.config_path, &o.s.cfg)) != EXIT_OK)
		return rc;
	if (o.s.cfg->kms_cluster == NULL) {
		fprintf(stderr, "vmcrypt-agent: kms renew-client-cert needs <kms cluster=\"NAME\"> "
		    "in %s: the key provider whose client certificate is renewed\n",
		    o.s.cfg->path);
		config_free(o.s.cfg);
		return EXIT_CONFIG;
	}
	if (o.s.cfg->okms_id != NULL && (o.s.csr_out != NULL || o.s.signed_cert != NULL)) {
		fprintf(stderr, "vmcrypt-agent: with <okms id> OKMS signs vCenter's CSR itself: "
		    "no --csr-out or --signed-cert\n");
		config_free(o.s.cfg);
		return EXIT_USAGE;
	}
	if ((rc = cli_trace_soap(o.s.cfg, o.s.trace)) != EXIT_OK) {
		config_free(o.s.cfg);
		return rc;
	}
	if (getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(LOG_LVL_WARN);
	if (o.s.cfg->okms_id == NULL || (rc = okms_open(&o, &t)) == EXIT_OK)
		renew_vcenter(&o);
	else
		o.s.steps.exit_code = rc;
	if (o.s.steps.n > 0)
		print_steps(&o.s);
	if (!o.s.dry_run && o.s.steps.exit_code == EXIT_OK && t.cred_id[0])
		note_credential(&o.s, t.cred_id);
	ovh_client_free(t.api);
	json_object_put(t.urns);
	config_free(o.s.cfg);
	return o.s.steps.exit_code;
}
