/*
 * vmcrypt-agent: makes VM encryption the default in vCenter.
 * Command dispatch; each command lives in its own function.
 */
#include "cli.h"
#include "exposure.h"
#include "config.h"
#include "enforce.h"
#include "inventory.h"
#include "log.h"
#include "opts.h"
#include "vim.h"
#include "xmalloc.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <malloc.h>
#include <signal.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VMCRYPT_VERSION
#define VMCRYPT_VERSION "0.1.0"
#endif

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: vmcrypt-agent COMMAND [OPTIONS]\n"
	    "\n"
	    "Makes VM encryption the default in vCenter: every VM of virtual hardware 13\n"
	    "or newer gets the encryption storage policy on its home and disks and\n"
	    "Encrypted vMotion set to Required.\n"
	    "\n"
	    "commands (without --config FILE: $VMCRYPT_AGENT_CONFIG, else\n"
	    "          " CLI_DEFAULT_CONFIG "):\n"
	    "  run [--config FILE]           run the agent in the foreground\n"
	    "  reconcile [--config FILE]     one pass: bring every VM to policy, report\n"
	    "  inventory [--config FILE]     list every VM and its encryption state\n"
	    "  check [--config FILE]         is vCenter ready? KMS, default provider,\n"
	    "                                KMS health, encryption policy, privileges\n"
	    "  setup [--config FILE]         the whole guide: thumbprint, OVHcloud\n"
	    "                                registration, kms setup, policy, check\n"
	    "  kms setup [--config FILE]     add the KMS to vCenter as the default key\n"
	    "                                provider, trusted both ways (idempotent)\n"
	    "  kms renew-client-cert [--config FILE]\n"
	    "                                renew vCenter's KMS client certificate\n"
	    "                                before it expires (daily timer)\n"
	    "  policy ensure [--config FILE] the encryption storage policy exists\n"
	    "  kms-thumbprint HOST[:PORT]    the KMS certificate's SHA-1 thumbprint\n"
	    "  kms-probe HOST[:PORT]         KMIP over TLS: versions and operations\n"
	    "  ovh register-kms|status|consumer-key\n"
	    "                                register the KMS on OVHcloud's side (once)\n"
	    "  report [--config FILE]        compliance report: json, csv or html\n"
	    "  evidence verify [--config FILE] [--evidence DIR]...\n"
	    "                                check the evidence log's hash chain\n"
	    "  support-bundle [--config FILE] -o FILE.tar.gz\n"
	    "                                what to attach to a bug report (secrets removed)\n"
	    "  credential set NAME < SECRET  a secret as a systemd encrypted credential\n"
	    "                                (vcenter.password, ovh.application-secret,\n"
	    "                                ovh.consumer-key), read from stdin\n"
	    "  check-config FILE             validate a configuration file\n"
	    "  version                       print the version\n"
	    "\n"
	    "Run `vmcrypt-agent COMMAND --help` for a command's options.\n"
	    "\n"
	    "exit status: 0 success, 1 failure, 2 usage, 3 bad configuration,\n"
	    "4 vCenter unreachable or TLS refused, 5 login failed; kms-thumbprint and\n"
	    "kms-probe: 6 KMS unreachable, 7 TLS failed, 8 not KMIP; ovh: 9 call not\n"
	    "granted, 10 no such service (see `vmcrypt-agent ovh --help`).\n"
	    "The vCenter password comes from systemd's credential vcenter.password,\n"
	    "the config's password-file or the environment variable\n"
	    "VMCRYPT_VC_PASSWORD, never from the command line.\n");
}

static int
cmd_check_config(int argc, char **argv)
{
	const char *path = NULL;
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent check-config FILE\n",
		.about =
		    "Validates FILE against the configuration schema and prints every\n"
		    "problem as FILE:LINE: message.  Exit 0 if valid, 3 if not.\n",
		.min_args = 1, .max_args = 1, .args_name = "FILE", .args = &path,
	};
	struct config *cfg;
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(path, &cfg)) != EXIT_OK)
		return rc;
	printf("%s: valid (vCenter %s, user %s, TLS %s)\n", path, cfg->vc_url,
	    cfg->vc_user, cfg->tls.mode == TLS_PINNED ? "pinned thumbprint" :
	    cfg->tls.mode == TLS_CA_FILE ? "CA file" :
	    cfg->tls.mode == TLS_INSECURE ? "NOT VERIFIED" : "system CA store");
	config_free(cfg);
	return EXIT_OK;
}


/* Each VM's exposure window, from the evidence log, in its JSON object. */
static void
add_exposure(void *arg, const struct vm_info *vm, json_object *o)
{
	const struct exposure *x = exposures_find(arg, vm->moref);

	json_object_object_add(o, "exposure", json_object_new_string(
	    exposure_kind_name(x ? x->kind : EXP_UNKNOWN)));
	json_object_object_add(o, "exposure_seconds", x && x->kind == EXP_MEASURED ?
	    json_object_new_double(x->seconds) : NULL);
}

/* inventory --json: the VMs, with what the evidence log says of each. */
static int
inventory_json(const struct config *cfg, const struct inventory *inv)
{
	struct exposures x;
	char dir[4096], err[1024];

	snprintf(dir, sizeof(dir), "%s/evidence", cfg->state_dir);
	if (exposures_read(dir, &x, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmcrypt-agent: the evidence log in %s: %s; exposure not "
		    "given (vmcrypt-agent evidence verify says more)\n", dir, err);
		memset(&x, 0, sizeof(x));
	}
	int rc = inventory_print_json(inv, stdout, add_exposure, &x) == 0 ? EXIT_OK : EXIT_FAIL;
	exposures_free(&x);
	return rc;
}

static int
cmd_inventory(int argc, char **argv)
{
	const char *path = NULL, *trace = NULL;
	int json = 0, page = 500, rc;
	struct config *cfg = NULL;
	struct vsession *s = NULL;
	struct vconn *c;
	struct inventory inv;

	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &path, .help = OPTS_HELP_CONFIG },
		{ "json", 'j', OPT_FLAG, NULL, &json, .help = "the VMs as JSON" },
		{ "page-size", 'p', OPT_INT, "N", &page, .min = 1, .max = 10000,
		  .help = "objects read per round trip (default 500)" },
		{ "trace-soap", 'T', OPT_STRING, "DIR", &trace, .help = OPTS_HELP_TRACE },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent inventory [--config FILE] [--json] [--page-size N]\n"
		    "                                 [--trace-soap DIR]\n",
		.about =
		    "Lists every VM with its moref, folder, hardware version, power state,\n"
		    "template flag, encryption (config.keyId and key provider), disks and\n"
		    "their encryption, migrateEncryption, ftEncryptionMode, snapshots and\n"
		    "the storage policies on VM home and disks, and the state the agent\n"
		    "sees (compliant, pending, deferred, blocked, hw-too-old, excluded,\n"
		    "template, inaccessible, wrong-provider, vsan-encrypted, key-missing,\n"
		    "vtpm-only) with the reason (key availability: QueryCryptoKeyStatus,\n"
		    "API 6.7.2+).  Objects are read N per round trip (default 500).\n"
		    "Changes nothing.\n",
		.opts = opts,
	};

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(path, &cfg)) != EXIT_OK)
		return rc;
	if ((rc = cli_trace_soap(cfg, trace)) != EXIT_OK ||
	    (rc = cli_open_session(cfg, &s)) != EXIT_OK)
		goto out;
	c = vconn_new(s);
	vconn_set_timeout(c, cfg->timeout);
	/* With the policy resolved, each VM also gets its state and reason. */
	struct enforcer *e = enforcer_new();
	cli_key_ages(e, cfg);
	char perr[512];
	unsigned *acts = NULL;
	int vr;
	if (enforcer_configure(e, cfg, c, perr, sizeof(perr)) == 0) {
		vr = enforce_scan(e, cfg, c, page, SCAN_KEY_EVENTS, &inv, &acts);
	} else {
		fprintf(stderr, "vmcrypt-agent: %s; states not computed\n", perr);
		vr = inventory_collect(c, page, &inv);
	}
	free(acts);
	enforcer_free(e);
	if (vr != 0) {
		fprintf(stderr, "vmcrypt-agent: inventory: %s\n", vconn_error(c));
		rc = vim_exit_code(vr);
	} else {
		if (json)
			rc = inventory_json(cfg, &inv);
		else
			inventory_print_table(&inv, stdout);
		inventory_free(&inv);
	}
	vconn_free(c);
	vsession_close(s);
out:
	vsession_free(s);
	config_free(cfg);
	return rc;
}

/*
 * The process holds the vCenter password, the session cookie and OVH
 * secrets: no core dump may carry them.  Not dumpable also keeps other
 * processes of the same user from attaching to it or reading its memory.
 * (LeakSanitizer stops the process with ptrace at exit: sanitizer builds
 * keep only the zero core limit.)
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
#if !defined(__SANITIZE_ADDRESS__)
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

int
main(int argc, char **argv)
{
	no_core_dumps();
	/*
	 * A peer that closed its end (vCenter restarting under a kept-alive
	 * connection, a KMS, a /metrics client gone early) makes the next
	 * write fail with EPIPE, which every caller handles; the signal would
	 * kill the process without a word instead.  OpenSSL and libuv write
	 * with plain write(2), so it is ignored for the whole process.
	 */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Two malloc arenas, not one per thread (glibc's default allows 8 per
	 * core): each pool thread in turn decodes large answers, and a
	 * per-thread arena keeps that thread's peak.  Measured on a
	 * 5,000-VM catch-up: peak RSS 59 MB with per-thread arenas, 24 MB with
	 * two, at the same speed (BENCHMARKS.md).  Before any thread exists.
	 */
	mallopt(M_ARENA_MAX, 2);
	/*
	 * gSOAP allocates every element, string and DOM node of an answer
	 * with malloc and frees them all after each page; most are under 160
	 * bytes.  Fast bins up to 160 bytes (glibc's maximum; 128 by default)
	 * let those be reused without sorting glibc's unsorted bin on every
	 * page.  Measured on a 10,000-VM start-up scan: 43 -> 27 us of CPU
	 * per VM, peak RSS unchanged (BENCHMARKS.md, issue #26).
	 */
	mallopt(M_MXFAST, 160);
	log_init(getenv("VMCRYPT_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage_main(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("vmcrypt-agent %s\n", VMCRYPT_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "credential") == 0)
		return cmd_credential(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "inventory") == 0)
		return cmd_inventory(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "kms") == 0)
		return cmd_kms(argc - 1, argv + 1);
	if (strcmp(cmd, "policy") == 0)
		return cmd_policy(argc - 1, argv + 1);
	if (strcmp(cmd, "setup") == 0)
		return cmd_setup(argc - 1, argv + 1);
	if (strcmp(cmd, "kms-thumbprint") == 0)
		return cmd_kms_thumbprint(argc - 1, argv + 1);
	if (strcmp(cmd, "kms-probe") == 0)
		return cmd_kms_probe(argc - 1, argv + 1);
	if (strcmp(cmd, "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(cmd, "evidence") == 0)
		return cmd_evidence(argc - 1, argv + 1);
	if (strcmp(cmd, "support-bundle") == 0)
		return cmd_support_bundle(argc - 1, argv + 1);
	if (strcmp(cmd, "ovh") == 0)
		return cmd_ovh(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "reconcile") == 0)
		return cmd_reconcile(argc - 1, argv + 1);
	fprintf(stderr, "vmcrypt-agent: unknown command '%s'\n\n", cmd);
	usage_main(stderr);
	return EXIT_USAGE;
}
