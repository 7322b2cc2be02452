/*
 * `vmcrypt-agent policy ensure`: the encryption storage policy the
 * configuration names exists in SPBM and is an encryption policy.  If it
 * does not exist it is created (PbmCreate, with the VM Encryption
 * data-service rule of vCenter's default "VM Encryption Policy"), then
 * read back and verified.  A policy of that name that is not an
 * encryption policy is reported, never changed.
 */
#include "cli.h"
#include "config.h"
#include "encpolicy.h"
#include "log.h"
#include "pbm.h"
#include "vim.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_POLICY	"VM Encryption Policy"

struct ensure {
	const char	*config_path, *trace;
	int		 dry_run, json;
	const char	*result;	/* unchanged, created, would-create, failed */
	char		 id[64];
	char		 name[256];
	char		 detail[1024];
	char		 fix[512];
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmcrypt-agent policy ensure [--config FILE] [--dry-run] [--json]\n"
	    "                                   [--trace-soap DIR]\n");
}

static int
ensure_args(int argc, char **argv, struct ensure *e)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "trace-soap", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': e->config_path = optarg; break;
		case 'n': e->dry_run = 1; break;
		case 'j': e->json = 1; break;
		case 'T': e->trace = optarg; break;
		case 'h':
			usage(stdout);
			printf("\nMakes sure the encryption storage policy of <encryption-policy>\n"
			    "(default \"" DEFAULT_POLICY "\") exists in SPBM and is an encryption\n"
			    "policy.  If it is missing it is created with the VM Encryption\n"
			    "data-service rule that vCenter's default policy has, then read back\n"
			    "and verified.  A policy of that name that does not encrypt is\n"
			    "reported and left alone.  A second run changes nothing.\n\n"
			    "Exit codes: 0 the policy exists (or was created); 1 it cannot be\n"
			    "(a policy of that name does not encrypt, or only an id is\n"
			    "configured); 2 usage; 3 configuration; 4 vCenter unreachable;\n"
			    "5 login failed.\n");
			return -1;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Against SPBM: find, or create and verify.  The exit code. */
static int
ensure_run(struct vconn *c, const struct config *cfg, struct ensure *e)
{
	struct encpolicy ep;
	char err[1024];
	int rc = encpolicy_resolve(c, cfg, &ep, err, sizeof(err));

	e->result = "failed";
	snprintf(e->name, sizeof(e->name), "%s", cfg->policy_name ? cfg->policy_name :
	    cfg->policy_id ? "" : DEFAULT_POLICY);
	if (rc == 0) {
		e->result = "unchanged";
		snprintf(e->id, sizeof(e->id), "%s", ep.id);
		snprintf(e->detail, sizeof(e->detail), "\"%s\" (%s) exists and is an "
		    "encryption policy", ep.name, ep.id);
		return EXIT_OK;
	}
	snprintf(e->detail, sizeof(e->detail), "%s", err);
	if (rc == ENCPOLICY_NOT_ENCRYPTION) {
		snprintf(e->id, sizeof(e->id), "%s", ep.id);
		snprintf(e->fix, sizeof(e->fix), "the policy is left as it is: name an "
		    "encryption policy in <encryption-policy> in %s, or rename that policy "
		    "in vCenter and run policy ensure again", cfg->path);
		return EXIT_FAIL;
	}
	if (rc != ENCPOLICY_NOT_FOUND)
		return vim_exit_code(V_ERR_FAULT);
	if (e->name[0] == '\0') {
		snprintf(e->fix, sizeof(e->fix), "a policy is created by name, not id: give "
		    "<encryption-policy name=\"...\"> in %s", cfg->path);
		return EXIT_FAIL;
	}
	if (e->dry_run) {
		e->result = "would-create";
		snprintf(e->detail, sizeof(e->detail), "\"%s\" does not exist: would create "
		    "it with the VM Encryption data-service rule", e->name);
		return EXIT_OK;
	}
	if ((rc = pbm_create_encryption_policy(c, e->name, "Created by vmcrypt-agent: "
	    "VM Encryption (as the default VM Encryption Policy)", e->id,
	    sizeof(e->id))) != 0) {
		snprintf(e->detail, sizeof(e->detail), "%s", vconn_error(c));
		snprintf(e->fix, sizeof(e->fix), "the account needs StorageProfile.Update "
		    "(Profile-driven storage update) on the vCenter root");
		return vim_exit_code(rc);
	}
	/* Read back: it must now resolve, and be an encryption policy. */
	if ((rc = encpolicy_resolve(c, cfg, &ep, err, sizeof(err))) != 0) {
		snprintf(e->detail, sizeof(e->detail), "created %s, but reading it back: %.700s",
		    e->id, err);
		return EXIT_FAIL;
	}
	e->result = "created";
	snprintf(e->detail, sizeof(e->detail), "created \"%s\" (%s): an encryption policy",
	    ep.name, ep.id);
	return EXIT_OK;
}

static void
ensure_print(const struct ensure *e)
{
	if (e->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "policy", json_object_new_string(e->name));
		json_object_object_add(o, "id", json_object_new_string(e->id));
		json_object_object_add(o, "result", json_object_new_string(e->result));
		json_object_object_add(o, "detail", json_object_new_string(e->detail));
		if (e->fix[0])
			json_object_object_add(o, "fix", json_object_new_string(e->fix));
		json_object_object_add(o, "dry_run", json_object_new_boolean(e->dry_run));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("vmcrypt-agent policy ensure: %s: %s\n", e->result, e->detail);
	if (e->fix[0])
		printf("  fix: %s\n", e->fix);
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
	if (argc < 2 || strcmp(argv[1], "ensure") != 0) {
		if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = ensure_args(argc - 1, argv + 1, &e)) != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
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
		rc = ensure_run(c, cfg, &e);
		ensure_print(&e);
		vconn_free(c);
		vsession_close(s);
	}
	vsession_free(s);
	config_free(cfg);
	return rc;
}
