/*
 * `vmcrypt-agent run` and `reconcile`: the command line of the engine
 * (engine/engine.c runs it).
 */
#include "cli.h"
#include "config.h"
#include "engine.h"

#include <getopt.h>
#include <stdio.h>

static void
usage_full(int once)
{
	if (once)
		printf("usage: vmcrypt-agent reconcile [--config FILE] [--dry-run] [--json]\n"
		    "                                 [--trace-soap DIR]\n\n"
		    "One pass over every VM: brings each in-scope VM to policy (one\n"
		    "ReconfigVM_Task each, at most max-in-flight at a time), follows\n"
		    "the tasks to the end, then prints every VM with its state and reason.\n"
		    "--dry-run computes and prints what would change and changes nothing.\n\n"
		    "exit status: 0 every VM in scope is compliant; 1 some are not (pending,\n"
		    "deferred until power-off, blocked by snapshots, failed); 3 bad\n"
		    "configuration; 4 vCenter unreachable; 5 login failed.\n\n"
		    "  --trace-soap DIR  write every request and answer to DIR (secrets redacted)\n");
	else
		printf("usage: vmcrypt-agent run [--config FILE] [--dry-run] [--trace-soap DIR]\n\n"
		    "Runs the agent in the foreground: logs in to vCenter, reconciles every\n"
		    "VM, then follows vCenter's events and brings each new or changed VM of\n"
		    "hardware version 13+ to policy (encryption storage policy and key on\n"
		    "home and disks, Encrypted vMotion required).  A full reconcile runs\n"
		    "every reconcile-interval.  --dry-run logs every change and makes none.\n"
		    "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads FILE.\n\n"
		    "  --trace-soap DIR  write every request and answer to DIR (secrets redacted)\n"
		    "  (or <trace-soap dir=... keep=.../> in FILE; the newest keep exchanges)\n");
}

struct run_opts {
	const char	*config;
	const char	*trace;
	int		 dry, json;
};

/* EXIT_OK to run, or the exit code (-1: --help, done). */
static int
run_args(int argc, char **argv, int once, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "trace-soap", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:nT:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'n': o->dry = 1; break;
		case 'T': o->trace = optarg; break;
		case 'j': o->json = 1; break;
		case 'h': usage_full(once); return -1;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc || (o->json && !once)) {
		fprintf(stderr, "usage: vmcrypt-agent %s [--config FILE] [--dry-run]%s\n",
		    once ? "reconcile" : "run", once ? " [--json]" : "");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int
run_common(int argc, char **argv, int once)
{
	struct run_opts o = { 0 };
	struct config *cfg;
	int rc;

	if ((rc = run_args(argc, argv, once, &o)) != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = cli_load_config(o.config, &cfg)) != EXIT_OK)
		return rc;
	if ((rc = cli_trace_soap(cfg, o.trace)) != EXIT_OK) {
		config_free(cfg);
		return rc;
	}
	struct engine_opts eo = { once, o.json, o.dry, o.config ? o.config : cli_default_config() };
	return engine_main(cfg, &eo);
}

int
cmd_run(int argc, char **argv)
{
	return run_common(argc, argv, 0);
}

int
cmd_reconcile(int argc, char **argv)
{
	return run_common(argc, argv, 1);
}
