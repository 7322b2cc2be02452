/*
 * `vmcrypt-agent setup`: OVHcloud's VM Encryption guide from nothing to
 * enforced, one command.  It runs the commands that do each part, in the
 * guide's order, and stops at the first that fails, with that command's
 * fix and exit code:
 *
 *   1. kms-thumbprint   the KMS certificate's SHA-1 thumbprint, shown
 *   2. ovh register-kms the KMS on OVHcloud's side (with --ovh-service)
 *   3. kms setup        key provider, trust both ways, default, connection
 *   4. policy ensure    the encryption storage policy
 *   5. check            vCenter is ready (skipped by --dry-run: nothing
 *                       was changed for it to see)
 *
 * With --okms ID (OVHcloud's KMS), steps 1 to 3 are one: `kms setup --okms
 * ID --ovh-service NAME` reads the endpoint and its CA through the API,
 * opens the firewall, and has OKMS sign vCenter's CSR.
 */
#include "cli.h"
#include "config.h"
#include "opts.h"
#include "steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS	24

struct setup_opts {
	const char	*config, *thumbprint, *ovh_service, *trace, *okms;
	const char	*client_cert, *client_key, *csr_out, *signed_cert;	/* kms setup's */
	int		 dry_run;
	int		 canary, power;	/* the last step: check --canary [--power] */
};

static int
setup_args(int argc, char **argv, struct setup_opts *o)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &o->config, .help = OPTS_HELP_CONFIG },
		{ "thumbprint", 0, OPT_STRING, "SHA1", &o->thumbprint,
		  .help = "the KMS certificate's thumbprint, as you have it\n"
		  "from the KMS administrator" },
		{ "ovh-service", 0, OPT_STRING, "NAME", &o->ovh_service,
		  .help = "register the KMS on this OVHcloud service" },
		{ "okms", 0, OPT_STRING, "ID", &o->okms,
		  .help = "OVHcloud's KMS (OKMS) of this id, with\n--ovh-service (see kms setup "
		  "--help)" },
		{ "dry-run", 0, OPT_FLAG, NULL, &o->dry_run,
		  .help = "show every step, change nothing" },
		{ "trace-soap", 0, OPT_STRING, "DIR", &o->trace, .help = OPTS_HELP_TRACE },
		{ "client-cert", 0, OPT_STRING, "FILE", &o->client_cert,
		  .help = "passed to kms setup" },
		{ "client-key", 0, OPT_STRING, "FILE", &o->client_key,
		  .help = "passed to kms setup" },
		{ "csr-out", 0, OPT_STRING, "FILE", &o->csr_out,
		  .help = "passed to kms setup" },
		{ "signed-cert", 0, OPT_STRING, "FILE", &o->signed_cert,
		  .help = "passed to kms setup" },
		{ "canary", 0, OPT_FLAG, NULL, &o->canary,
		  .help = "the last step is check --canary: the whole path\n"
		  "proven on a throwaway VM (see check --help)" },
		{ "power", 0, OPT_FLAG, NULL, &o->power,
		  .help = "with --canary: power the canary on and off" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent setup [--config FILE] [--thumbprint SHA1]\n"
		    "           [--ovh-service NAME] [--dry-run] [--trace-soap DIR]\n"
		    "           [--okms ID --ovh-service NAME]\n"
		    "           [--client-cert FILE --client-key FILE | --csr-out FILE |\n"
		    "            --signed-cert FILE] [--canary [--power]]\n",
		.about =
		    "OVHcloud's VM Encryption guide in one command, from the configuration's\n"
		    "<vcenter>, <kms cluster><server .../></kms> and <encryption-policy>:\n"
		    "  1. kms-thumbprint   the KMS certificate's SHA-1 thumbprint, shown\n"
		    "  2. ovh register-kms the KMS on OVHcloud's side, with --ovh-service\n"
		    "                      (credentials: OVH_* or ovh.conf, as `ovh --help` says)\n"
		    "  3. kms setup        key provider, trust both ways, default, connection\n"
		    "                      (--client-cert/--client-key, --csr-out, --signed-cert\n"
		    "                      go to it: see `vmcrypt-agent kms setup --help`)\n"
		    "  4. policy ensure    the encryption storage policy\n"
		    "  5. check            vCenter is ready for the agent (with --canary, and\n"
		    "                      the whole path proven on a throwaway VM)\n"
		    "With --okms ID (or <okms id> in <kms>), steps 1-3 are `kms setup --okms ID\n"
		    "--ovh-service NAME`: OVHcloud's KMS end to end, nothing to type.\n"
		    "Each step is idempotent; setup stops at the first that fails, prints its\n"
		    "fix and exits with its code (see each command's --help).  --dry-run\n"
		    "shows every step and changes nothing.\n",
		.opts = opts,
	};
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	if (o->power && !o->canary) {
		fprintf(stderr, "vmcrypt-agent: --power goes with --canary\n");
		return EXIT_USAGE;
	}
	/* kms setup's own rules, checked before the first step changes
	 * anything (the OVHcloud registration comes before it). */
	if ((o->client_cert == NULL) != (o->client_key == NULL)) {
		fprintf(stderr, "vmcrypt-agent: --client-cert and --client-key go together\n");
		return EXIT_USAGE;
	}
	if ((o->client_cert != NULL) + (o->csr_out != NULL) + (o->signed_cert != NULL) > 1) {
		fprintf(stderr, "vmcrypt-agent: one way for the KMS to trust vCenter: "
		    "--client-cert/--client-key, --csr-out, or --signed-cert\n");
		return EXIT_USAGE;
	}
	if (o->okms != NULL && (o->client_cert != NULL || o->csr_out != NULL ||
	    o->signed_cert != NULL || o->thumbprint != NULL)) {
		fprintf(stderr, "vmcrypt-agent: %s\n", o->client_cert != NULL ? "refused: with "
		    "--okms, vCenter's client certificate is made from its own CSR; a key made "
		    "elsewhere is not covered by OVHcloud's PCI DSS certification: only "
		    "certificates made from a CSR are" : "--okms does the CSR, the signature "
		    "and the KMS certificate itself: no --csr-out, --signed-cert or --thumbprint");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The vCenter password from the environment: each step reads it and wipes
 * it there (config_read_password), so it is put back for the next. */
static char *env_password;

/*
 * Runs the next step: a command of this binary, in this process, its
 * output beneath the step's heading.  Its exit code; a failure is the
 * step's, and the last (setup stops there).
 */
static int
run_step(struct steps *steps, const char *title, int (*cmd)(int, char **),
    const char **args)
{
	char *argv[MAX_ARGS], line[1024] = "";
	size_t len = 0;
	int argc = 0;

	if (env_password != NULL)
		setenv("VMCRYPT_VC_PASSWORD", env_password, 1);
	for (; args[argc] != NULL && argc < MAX_ARGS - 1; argc++) {
		argv[argc] = (char *)args[argc];
		int w = snprintf(line + len, sizeof(line) - len, "%s%s", argc ? " " : "",
		    args[argc]);
		if (w > 0 && (size_t)w < sizeof(line) - len)
			len += (size_t)w;
	}
	argv[argc] = NULL;
	struct step *st = steps_add(steps, title, STEP_INFO, "%s", line);
	steps_print_numbered(steps, steps->n - 1, stdout);
	fflush(stdout);
	int rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	if (rc == EXIT_OK) {
		st->result = STEP_DONE;
		return rc;
	}
	steps_fail(steps, st, rc, "its fix is above; run setup again once it is done");
	printf("\nsetup stopped at step %zu (%s), exit %d: %s\n", steps->n, title, rc, st->fix);
	return rc;
}

/* A step setup does not take, and why. */
static void
skip_step(struct steps *steps, const char *title, const char *why)
{
	steps_add(steps, title, STEP_INFO, "%s", why);
	steps_print_numbered(steps, steps->n - 1, stdout);
}

/* Appends the common options to a step's arguments. */
static void
common(const struct setup_opts *o, const char **a, int *n, int dry, int trace)
{
	if (o->config) {
		a[(*n)++] = "--config";
		a[(*n)++] = o->config;
	}
	if (dry && o->dry_run)
		a[(*n)++] = "--dry-run";
	if (trace && o->trace) {
		a[(*n)++] = "--trace-soap";
		a[(*n)++] = o->trace;
	}
	a[*n] = NULL;
}

/* Step 2's arguments: ovh register-kms for the first server. */
static void
ovh_args(const struct setup_opts *o, const char *ip, const char *target, const char **a)
{
	int n = 0;

	a[n++] = "ovh";
	a[n++] = "register-kms";
	a[n++] = "--service";
	a[n++] = o->ovh_service;
	a[n++] = "--kms-ip";
	a[n++] = ip;
	a[n++] = o->thumbprint ? "--thumbprint" : "--fetch-thumbprint";
	a[n++] = o->thumbprint ? o->thumbprint : target;
	if (o->dry_run)
		a[n++] = "--dry-run";
	a[n] = NULL;
}

/* Step 3's arguments: kms setup, with the trust options given to setup. */
static void
kms_args(const struct setup_opts *o, const char **a)
{
	const char *trust[][2] = {
		{ "--client-cert", o->client_cert }, { "--csr-out", o->csr_out },
		{ "--signed-cert", o->signed_cert }, { "--client-key", o->client_key },
	};
	int n = 0;

	a[n++] = "kms";
	a[n++] = "setup";
	if (o->thumbprint) {
		a[n++] = "--thumbprint";
		a[n++] = o->thumbprint;
	}
	for (size_t i = 0; i < sizeof(trust) / sizeof(trust[0]); i++)
		if (trust[i][1] != NULL) {
			a[n++] = trust[i][0];
			a[n++] = trust[i][1];
		}
	common(o, a, &n, 1, 1);
}

/* Steps 1-3 with OVHcloud's KMS: kms setup --okms, which does them all. */
static int
okms_step(const struct setup_opts *o, const struct config *cfg, struct steps *steps)
{
	const char *a[MAX_ARGS] = { "kms", "setup", "--okms", o->okms, "--ovh-service",
		o->ovh_service };
	int n = 6;

	printf("vmcrypt-agent setup: vCenter %s, key provider '%s' (OKMS %s, Hosted Private "
	    "Cloud %s)%s\n", cfg->vc_url, cfg->kms_cluster, o->okms, o->ovh_service,
	    o->dry_run ? ", dry run: nothing is changed" : "");
	common(o, a, &n, 1, 1);
	return run_step(steps, "OKMS: firewall, key provider, trust both ways", cmd_kms, a);
}

/* The five steps, in the guide's order, up to the first that fails. */
static void
setup_steps(const struct setup_opts *o, const struct config *cfg, struct steps *steps)
{
	const struct kms_server_expect *k;
	const char *a[MAX_ARGS];
	char target[320];
	int n;

	if (o->okms != NULL) {
		if (okms_step(o, cfg, steps) != EXIT_OK)
			return;
		goto policy;
	}
	k = &cfg->kms_servers[0];
	snprintf(target, sizeof(target), "%s:%d", k->address, k->port);
	printf("vmcrypt-agent setup: vCenter %s, key provider '%s' (%s)%s\n", cfg->vc_url,
	    cfg->kms_cluster, target, o->dry_run ? ", dry run: nothing is changed" : "");
	a[0] = "kms-thumbprint";
	a[1] = target;
	a[2] = NULL;
	if (run_step(steps, "the KMS certificate", cmd_kms_thumbprint, a) != EXIT_OK)
		return;
	if (o->ovh_service != NULL) {
		ovh_args(o, k->address, target, a);
		if (run_step(steps, "register the KMS on OVHcloud's side", cmd_ovh, a) != EXIT_OK)
			return;
	} else {
		skip_step(steps, "OVHcloud registration", "skipped (no --ovh-service; once per "
		    "KMS: `vmcrypt-agent ovh register-kms`)");
	}
	kms_args(o, a);
	if (run_step(steps, "the key provider in vCenter", cmd_kms, a) != EXIT_OK)
		return;
policy:
	a[0] = "policy";
	a[1] = "ensure";
	n = 2;
	common(o, a, &n, 1, 1);
	if (run_step(steps, "the encryption storage policy", cmd_policy, a) != EXIT_OK)
		return;
	if (o->dry_run) {
		skip_step(steps, "check", "skipped in a dry run (nothing was changed for it to "
		    "see)");
		printf("\ndry run done: every step above shows what it would do\n");
		return;
	}
	a[0] = "check";
	n = 1;
	if (o->canary)
		a[n++] = "--canary";
	if (o->power)
		a[n++] = "--power";
	common(o, a, &n, 0, 1);
	if (run_step(steps, "is vCenter ready", cmd_check, a) != EXIT_OK)
		return;
	printf("\nsetup done: start the agent (systemctl start vmcrypt-agent, or "
	    "vmcrypt-agent run)\n");
}

int
cmd_setup(int argc, char **argv)
{
	struct setup_opts o = { 0 };
	struct config *cfg = NULL;
	struct steps steps;
	int rc;

	if ((rc = setup_args(argc, argv, &o)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(o.config, &cfg)) != EXIT_OK)
		return rc;
	if (o.okms == NULL)
		o.okms = cfg->okms_id;
	if (o.okms != NULL && (o.ovh_service == NULL || cfg->kms_cluster == NULL)) {
		fprintf(stderr, "vmcrypt-agent: setup with an OKMS needs %s\n",
		    o.ovh_service == NULL ? "--ovh-service NAME (the Hosted Private Cloud whose "
		    "firewall it is registered in)" : "<kms cluster=\"NAME\"> in the configuration");
		rc = o.ovh_service == NULL ? EXIT_USAGE : EXIT_CONFIG;
		goto out;
	}
	if (o.okms == NULL && (cfg->kms_cluster == NULL || cfg->nkms_servers == 0)) {
		fprintf(stderr, "vmcrypt-agent: setup needs <kms cluster=\"NAME\"><server "
		    "name=\"...\" address=\"...\" port=\"5696\"/></kms> in %s\n", cfg->path);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (cfg->password_file == NULL) {
		char err[512];
		if ((env_password = config_read_password(cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "vmcrypt-agent: %s\n", err);
			rc = EXIT_CONFIG;
			goto out;
		}
	}
	memset(&steps, 0, sizeof(steps));
	setup_steps(&o, cfg, &steps);
	rc = steps.exit_code;
out:
	if (getenv("VMCRYPT_VC_PASSWORD") != NULL) {
		char *left = getenv("VMCRYPT_VC_PASSWORD");
		explicit_bzero(left, strlen(left));
	}
	secret_free(env_password);
	env_password = NULL;
	config_free(cfg);
	return rc;
}
