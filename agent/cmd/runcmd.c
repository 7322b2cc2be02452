/*
 * `vmcrypt-agent run` and `reconcile`: the command line of the engine
 * (engine/engine.c runs it).
 */
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "opts.h"

#include <stdio.h>

struct run_opts {
	const char	*config;
	const char	*trace;
	int		 dry, json;
};

static int
run_args(int argc, char **argv, int once, struct run_opts *o)
{
	const struct opt run[] = {
		{ "config", 'c', OPT_STRING, "FILE", &o->config, .help = OPTS_HELP_CONFIG },
		{ "dry-run", 'n', OPT_FLAG, NULL, &o->dry,
		  .help = "log every change, make none" },
		{ "trace-soap", 'T', OPT_STRING, "DIR", &o->trace, .help = OPTS_HELP_TRACE "\n"
		  "(or <trace-soap dir=... keep=.../> in FILE:\nthe newest keep exchanges)" },
		{ NULL }
	};
	const struct opt reconcile[] = {
		{ "config", 'c', OPT_STRING, "FILE", &o->config, .help = OPTS_HELP_CONFIG },
		{ "dry-run", 'n', OPT_FLAG, NULL, &o->dry,
		  .help = "print what would change, change nothing" },
		{ "json", 0, OPT_FLAG, NULL, &o->json, .help = "the VMs as JSON" },
		{ "trace-soap", 'T', OPT_STRING, "DIR", &o->trace, .help = OPTS_HELP_TRACE },
		{ NULL }
	};
	const struct opts_cmd cmd_run = {
		.usage = "usage: vmcrypt-agent run [--config FILE] [--dry-run] "
		    "[--trace-soap DIR]\n",
		.about =
		    "Runs the agent in the foreground: logs in to vCenter, reconciles every\n"
		    "VM, then follows vCenter's events and brings each new or changed VM of\n"
		    "hardware version 13+ to policy (encryption storage policy and key on\n"
		    "home and disks, Encrypted vMotion required).  A full reconcile runs\n"
		    "every reconcile-interval.  --dry-run logs every change and makes none.\n"
		    "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads FILE.\n",
		.opts = run,
	};
	const struct opts_cmd cmd_reconcile = {
		.usage = "usage: vmcrypt-agent reconcile [--config FILE] [--dry-run] [--json]\n"
		    "                                 [--trace-soap DIR]\n",
		.about =
		    "One pass over every VM: brings each in-scope VM to policy (one\n"
		    "ReconfigVM_Task each, at most max-in-flight at a time), follows\n"
		    "the tasks to the end, then prints every VM with its state and reason.\n"
		    "--dry-run computes and prints what would change and changes nothing.\n",
		.tail =
		    "exit status: 0 every VM in scope is compliant; 1 some are not (pending,\n"
		    "deferred until power-off, blocked by snapshots, failed); 3 bad\n"
		    "configuration; 4 vCenter unreachable; 5 login failed.\n",
		.opts = reconcile,
	};

	return opts_parse(once ? &cmd_reconcile : &cmd_run, argc, argv);
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
