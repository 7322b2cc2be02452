/*
 * `vmcrypt-agent policy ensure`: its command line and its report; the
 * finding or creating is guide/policyensure.c's.
 */
#include "cli.h"
#include "config.h"
#include "encpolicy.h"
#include "log.h"
#include "opts.h"
#include "policyensure.h"
#include "steps.h"
#include "vim.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ensure {
	const char	*config_path, *trace;
	int		 dry_run, json;
	struct encpolicy policy;	/* its name and id */
	struct steps	 steps;		/* the one step, and the exit code */
};

static const char usage[] =
    "usage: vmcrypt-agent policy ensure [--config FILE] [--dry-run] [--json]\n"
    "                                   [--trace-soap DIR]\n";

/* argv[0] is "ensure" (or "policy", for `policy --help`). */
static int
ensure_args(int argc, char **argv, struct ensure *e)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &e->config_path, .help = OPTS_HELP_CONFIG },
		{ "dry-run", 0, OPT_FLAG, NULL, &e->dry_run,
		  .help = "say whether it would be created, create nothing" },
		{ "json", 0, OPT_FLAG, NULL, &e->json, .help = "the result as JSON" },
		{ "trace-soap", 0, OPT_STRING, "DIR", &e->trace, .help = OPTS_HELP_TRACE },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = usage,
		.about =
		    "Makes sure the encryption storage policy of <encryption-policy>\n"
		    "(default \"" POLICYENSURE_DEFAULT "\") exists in SPBM and is an encryption\n"
		    "policy.  If it is missing it is created with the VM Encryption\n"
		    "data-service rule that vCenter's default policy has, then read back\n"
		    "and verified.  A policy of that name that does not encrypt is\n"
		    "reported and left alone.  A second run changes nothing.\n",
		.tail =
		    "Exit codes: 0 the policy exists (or was created); 1 it cannot be\n"
		    "(a policy of that name does not encrypt, or only an id is\n"
		    "configured); 2 usage; 3 configuration; 4 vCenter unreachable;\n"
		    "5 login failed.\n",
		.opts = opts,
	};

	return opts_parse(&cmd, argc, argv);
}

/* The step's result as policy ensure has always said it. */
static const char *const result_words[] = {
	"unchanged", "created", "would-create", "failed", "info"
};

static void
ensure_print(const struct ensure *e)
{
	const struct step *st = &e->steps.list[0];
	const char *word = result_words[st->result];

	if (e->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "policy", json_object_new_string(e->policy.name));
		json_object_object_add(o, "id", json_object_new_string(e->policy.id));
		step_json_add(o, st, word);
		json_object_object_add(o, "dry_run", json_object_new_boolean(e->dry_run));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	step_print_line(st, "vmcrypt-agent policy ensure", word, stdout);
}

int
cmd_policy(int argc, char **argv)
{
	struct ensure e;
	struct config *cfg = NULL;
	struct vsession *s = NULL;
	char err[1024];
	int rc;

	memset(&e, 0, sizeof(e));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return ensure_args(argc, argv, &e) == OPTS_HELP ? EXIT_OK : EXIT_USAGE;
	if (argc < 2 || strcmp(argv[1], "ensure") != 0) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if ((rc = ensure_args(argc - 1, argv + 1, &e)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(e.config_path, &cfg)) != EXIT_OK)
		return rc;
	if ((rc = cli_trace_soap(cfg, e.trace)) != EXIT_OK) {
		config_free(cfg);
		return rc;
	}
	if (getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(LOG_LVL_WARN);
	char *password = config_read_password(cfg, err, sizeof(err));
	if (password == NULL || (s = vsession_new(cfg, err, sizeof(err))) == NULL) {
		secret_free(password);
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		config_free(cfg);
		return EXIT_CONFIG;
	}
	rc = vsession_open(s, password, err, sizeof(err));
	secret_free(password);
	if (rc != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		rc = vim_exit_code(rc);
	} else {
		struct vconn *c = vconn_new(s);
		vconn_set_timeout(c, cfg->timeout);
		rc = policyensure_run(c, cfg, e.dry_run, &e.steps, &e.policy);
		ensure_print(&e);
		vconn_free(c);
		vsession_close(s);
	}
	vsession_free(s);
	config_free(cfg);
	return rc;
}
