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
 */
#include "cli.h"
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS	24

struct setup_opts {
	const char	*config, *thumbprint, *ovh_service, *trace;
	const char	*trust[2][2];	/* kms setup's trust options, passed on */
	int		 dry_run;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmcrypt-agent setup [--config FILE] [--thumbprint SHA1]\n"
	    "           [--ovh-service NAME] [--dry-run] [--trace-soap DIR]\n"
	    "           [--client-cert FILE --client-key FILE | --csr-out FILE |\n"
	    "            --signed-cert FILE]\n");
}

static void
help(void)
{
	usage(stdout);
	printf("\nOVHcloud's VM Encryption guide in one command, from the configuration's\n"
	    "<vcenter>, <kms cluster><server .../></kms> and <encryption-policy>:\n"
	    "  1. kms-thumbprint   the KMS certificate's SHA-1 thumbprint, shown\n"
	    "  2. ovh register-kms the KMS on OVHcloud's side, with --ovh-service\n"
	    "                      (credentials: OVH_* or ovh.conf, as `ovh --help` says)\n"
	    "  3. kms setup        key provider, trust both ways, default, connection\n"
	    "                      (--client-cert/--client-key, --csr-out, --signed-cert\n"
	    "                      go to it: see `vmcrypt-agent kms setup --help`)\n"
	    "  4. policy ensure    the encryption storage policy\n"
	    "  5. check            vCenter is ready for the agent\n"
	    "Each step is idempotent; setup stops at the first that fails, prints its\n"
	    "fix and exits with its code (see each command's --help).  --dry-run\n"
	    "shows every step and changes nothing.\n");
}

static int
setup_args(int argc, char **argv, struct setup_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "thumbprint", required_argument, NULL, 't' },
		{ "ovh-service", required_argument, NULL, 's' },
		{ "client-cert", required_argument, NULL, 'C' },
		{ "client-key", required_argument, NULL, 'K' },
		{ "csr-out", required_argument, NULL, 'r' },
		{ "signed-cert", required_argument, NULL, 'S' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "trace-soap", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 't': o->thumbprint = optarg; break;
		case 's': o->ovh_service = optarg; break;
		case 'K': o->trust[1][0] = "--client-key"; o->trust[1][1] = optarg; break;
		case 'C': case 'r': case 'S':
			if (o->trust[0][0] != NULL) {
				fprintf(stderr, "vmcrypt-agent: one way for the KMS to trust "
				    "vCenter: --client-cert/--client-key, --csr-out, or "
				    "--signed-cert\n");
				return EXIT_USAGE;
			}
			o->trust[0][0] = ch == 'C' ? "--client-cert" : ch == 'r' ? "--csr-out" :
			    "--signed-cert";
			o->trust[0][1] = optarg;
			break;
		case 'n': o->dry_run = 1; break;
		case 'T': o->trace = optarg; break;
		case 'h': help(); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The vCenter password from the environment: each step reads it and wipes
 * it there (config_read_password), so it is put back for the next. */
static char *env_password;

/* Runs one step: a command of this binary, in this process. */
static int
run_step(int n, const char *title, int (*cmd)(int, char **), const char **args)
{
	if (env_password != NULL)
		setenv("VMCRYPT_VC_PASSWORD", env_password, 1);
	char *argv[MAX_ARGS];
	int argc = 0;

	printf("\n== %d. %s:", n, title);
	for (; args[argc] != NULL && argc < MAX_ARGS - 1; argc++) {
		argv[argc] = (char *)args[argc];
		printf(" %s", args[argc]);
	}
	argv[argc] = NULL;
	printf("\n");
	fflush(stdout);
	optind = 0;
	int rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	if (rc != EXIT_OK)
		printf("\nsetup stopped at step %d (%s), exit %d: its fix is above; run "
		    "setup again once it is done\n", n, title, rc);
	return rc;
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

int
cmd_setup(int argc, char **argv)
{
	struct setup_opts o = { 0 };
	struct config *cfg = NULL;
	char target[320], port[16];
	int rc;

	if ((rc = setup_args(argc, argv, &o)) != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = cli_load_config(o.config, &cfg)) != EXIT_OK)
		return rc;
	if (cfg->kms_cluster == NULL || cfg->nkms_servers == 0) {
		fprintf(stderr, "vmcrypt-agent: setup needs <kms cluster=\"NAME\"><server "
		    "name=\"...\" address=\"...\" port=\"5696\"/></kms> in %s\n", cfg->path);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	if (cfg->password_file == NULL) {
		char err[512];
		if ((env_password = config_read_password(cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "vmcrypt-agent: %s\n", err);
			config_free(cfg);
			return EXIT_CONFIG;
		}
	}
	const struct kms_server_expect *k = &cfg->kms_servers[0];
	snprintf(target, sizeof(target), "%s:%d", k->address, k->port);
	snprintf(port, sizeof(port), "%d", k->port);
	printf("vmcrypt-agent setup: vCenter %s, key provider '%s' (%s)%s\n", cfg->vc_url,
	    cfg->kms_cluster, target, o.dry_run ? ", dry run: nothing is changed" : "");

	const char *a[MAX_ARGS] = { "kms-thumbprint", target, NULL };
	if ((rc = run_step(1, "the KMS certificate", cmd_kms_thumbprint, a)) != EXIT_OK)
		goto out;
	if (o.ovh_service != NULL) {
		const char *b[MAX_ARGS] = { "register-kms", "--service", o.ovh_service,
		    "--kms-ip", k->address, NULL };
		int n = 5;
		if (o.thumbprint) {
			b[n++] = "--thumbprint";
			b[n++] = o.thumbprint;
		} else {
			b[n++] = "--fetch-thumbprint";
			b[n++] = target;
		}
		if (o.dry_run)
			b[n++] = "--dry-run";
		b[n] = NULL;
		const char *ovh[MAX_ARGS] = { "ovh" };
		for (int i = 0; i <= n; i++)
			ovh[i + 1] = b[i];
		if ((rc = run_step(2, "register the KMS on OVHcloud's side", cmd_ovh,
		    ovh)) != EXIT_OK)
			goto out;
	} else {
		printf("\n== 2. OVHcloud registration: skipped (no --ovh-service; once per "
		    "KMS: `vmcrypt-agent ovh register-kms`)\n");
	}
	const char *c[MAX_ARGS] = { "kms", "setup" };
	int n = 2;
	if (o.thumbprint) {
		c[n++] = "--thumbprint";
		c[n++] = o.thumbprint;
	}
	for (int i = 0; i < 2; i++)
		if (o.trust[i][0] != NULL) {
			c[n++] = o.trust[i][0];
			c[n++] = o.trust[i][1];
		}
	common(&o, c, &n, 1, 1);
	if ((rc = run_step(3, "the key provider in vCenter", cmd_kms, c)) != EXIT_OK)
		goto out;
	const char *p[MAX_ARGS] = { "policy", "ensure" };
	n = 2;
	common(&o, p, &n, 1, 1);
	if ((rc = run_step(4, "the encryption storage policy", cmd_policy, p)) != EXIT_OK)
		goto out;
	if (o.dry_run) {
		printf("\n== 5. check: skipped in a dry run (nothing was changed for it to "
		    "see)\n\ndry run done: every step above shows what it would do\n");
		goto out;
	}
	const char *q[MAX_ARGS] = { "check" };
	n = 1;
	common(&o, q, &n, 0, 1);
	if ((rc = run_step(5, "is vCenter ready", cmd_check, q)) != EXIT_OK)
		goto out;
	printf("\nsetup done: start the agent (systemctl start vmcrypt-agent, or "
	    "vmcrypt-agent run)\n");
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
