/*
 * `vmcrypt-agent check`: is this vCenter ready for encryption by default?
 * check_gather() reads the facts: the key providers (kms_gather, which the
 * running agent's KMS health check uses too), the encryption policy and
 * the account's privileges; kms_evaluate() (kms/kms.c) judges them.
 */
#include "check.h"

#include "canary.h"
#include "checkcanary.h"
#include "checkokms.h"

#include "cli.h"
#include "config.h"
#include "enforce.h"
#include "keystat.h"
#include "kms.h"
#include "kmsfacts.h"
#include "log.h"
#include "opts.h"
#include "vim.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
check_gather(struct vconn *c, const struct config *cfg, struct kms_facts *f)
{
	struct vsession *s = vconn_session(c);
	int rc;

	if ((rc = kms_gather(c, f)) != 0)
		return rc;
	if (strcmp(f->api_type, "VirtualCenter") != 0 || !f->has_crypto_manager)
		return 0;

	struct enforcer *e = enforcer_new();
	f->policy_checked = 1;
	if (enforcer_configure(e, cfg, c, f->policy_err.msg, sizeof(f->policy_err.msg)) == 0) {
		f->policy_err.msg[0] = '\0';
		snprintf(f->policy_id, sizeof(f->policy_id), "%s", enforcer_policy_id(e));
		snprintf(f->policy_name, sizeof(f->policy_name), "%s", enforcer_policy_name(e));
	} else {
		f->policy_err.rc = V_ERR_REFUSED;
	}
	enforcer_free(e);
	vconn_reset(c);

	const char *ids[32];
	for (size_t i = 0; i < kms_nprivileges && i < 32; i++)
		ids[i] = kms_privileges[i].id;
	rc = vim_has_privileges(c, vsession_mo(s, VMO_ROOT_FOLDER), ids, kms_nprivileges,
	    f->granted);
	f->privs_err.rc = rc;
	snprintf(f->privs_err.msg, sizeof(f->privs_err.msg), "%s", rc ? vconn_error(c) : "");
	f->privs_checked = 1;

	struct keystat_census kc;
	int asked = 0;
	rc = keystat_census(c, 500, &kc, &asked);
	f->keys_checked = rc != 0 || asked ? 1 : -1;
	f->keys_err.rc = rc;
	snprintf(f->keys_err.msg, sizeof(f->keys_err.msg), "%s", rc ? vconn_error(c) : "");
	f->keys_encrypted = kc.encrypted;
	f->keys_missing = kc.missing;
	snprintf(f->keys_detail, sizeof(f->keys_detail), "%s", kc.detail);

	/* The wrapping keys: asked at API 9.0 only, said unavailable before. */
	snprintf(f->server_api, sizeof(f->server_api), "%s", vsession_server_api(s));
	f->wrap_checked = vim_version_cmp(f->server_api, "9.0.0.0") >= 0 ? 1 : -1;
	if (f->wrap_checked > 0 && f->listed) {
		rc = vim_kms_wrappings(c, f->clusters, f->nclusters);
		f->wrap_err.rc = rc;
		snprintf(f->wrap_err.msg, sizeof(f->wrap_err.msg), "%s", rc ? vconn_error(c) : "");
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* output                                                            */

static void
print_text(const struct config *cfg, const struct chk_report *r, FILE *out)
{
	static const char *tag[] = { "PASS", "WARN", "FAIL", "SKIP" };
	size_t failed = 0;

	fprintf(out, "vmcrypt-agent check: %s as %s\n\n", cfg->vc_url, cfg->vc_user);
	for (size_t i = 0; i < r->n; i++) {
		const struct chk_item *it = &r->items[i];
		fprintf(out, "  %s  %s: %s\n", tag[it->result], it->title, it->detail);
		if (it->fix[0])
			fprintf(out, "        fix: %s\n", it->fix);
		failed += it->result == CHK_FAIL;
	}
	fprintf(out, "\n%s: %zu of %zu checks failed\n", failed ? "NOT READY" : "ready",
	    failed, r->n);
}

/* The provider's wrapping key: {"available": false, "api"} before 9.0;
 * else its kind, interval (days, null if not sent) and last rotation;
 * null when not asked. */
static json_object *
wrapping_json(const struct chk_report *r)
{
	static const char *const kinds[] = { "none", "rotating", "fixed", "other" };
	const struct kms_wrapping *w = &r->wrap;
	json_object *o;

	if (r->wrap_state == 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "available", json_object_new_boolean(r->wrap_state > 0));
	if (r->wrap_state < 0) {
		json_object_object_add(o, "api", json_object_new_string(r->wrap_api));
		return o;
	}
	json_object_object_add(o, "provider", json_object_new_string(r->provider));
	json_object_object_add(o, "kind", json_object_new_string(kinds[w->kind]));
	json_object_object_add(o, "rotation_days", w->rotation_days ?
	    json_object_new_int(w->rotation_days) : NULL);
	json_object_object_add(o, "last_rotation", w->last_rotation[0] ?
	    json_object_new_string(w->last_rotation) : NULL);
	json_object_object_add(o, "key_id", w->key_id[0] ?
	    json_object_new_string(w->key_id) : NULL);
	json_object_object_add(o, "default_key_type", w->default_key_type[0] ?
	    json_object_new_string(w->default_key_type) : NULL);
	return o;
}

static void
print_json(const struct config *cfg, const struct chk_report *r, json_object *canary,
    FILE *out)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();

	json_object_object_add(root, "vcenter", json_object_new_string(cfg->vc_url));
	json_object_object_add(root, "ok", json_object_new_boolean(chk_ok(r)));
	json_object_object_add(root, "key_provider", r->provider[0] ?
	    json_object_new_string(r->provider) : NULL);
	json_object_object_add(root, "kms_usable", json_object_new_boolean(r->kms_usable));
	/* Encrypted VMs whose key vCenter says is not available (null: not
	 * asked, API before 6.7.2). */
	json_object_object_add(root, "key_missing_vms", r->keys_counted ?
	    json_object_new_int64((int64_t)r->key_missing_vms) : NULL);
	json_object_object_add(root, "wrapping_key", wrapping_json(r));
	for (size_t i = 0; i < r->n; i++) {
		const struct chk_item *it = &r->items[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(it->id));
		json_object_object_add(o, "title", json_object_new_string(it->title));
		json_object_object_add(o, "result",
		    json_object_new_string(chk_result_name(it->result)));
		json_object_object_add(o, "detail", json_object_new_string(it->detail));
		json_object_object_add(o, "fix", it->fix[0] ?
		    json_object_new_string(it->fix) : NULL);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "checks", arr);
	if (canary != NULL)
		json_object_object_add(root, "canary", canary);
	fprintf(out, "%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

/* The one item when vCenter cannot be reached or logged in to. */
static void
report_unreachable(struct chk_report *r, int rc, const char *why)
{
	struct chk_item *it = &r->items[0];

	memset(r, 0, sizeof(*r));
	r->n = 1;
	it->id = "vcenter";
	it->title = "vCenter reachable and logged in";
	it->result = CHK_FAIL;
	snprintf(it->detail, sizeof(it->detail), "%s", why);
	snprintf(it->fix, sizeof(it->fix), "%s",
	    rc == V_ERR_LOGIN ? "check <vcenter user> and the password (password-file or "
	    "VMCRYPT_VC_PASSWORD)" :
	    rc == V_ERR_TLS ? "trust vCenter's certificate: <tls ca-file=\"...\"/> or pin the "
	    "thumbprint shown with <tls thumbprint=\"...\"/>" :
	    "check <vcenter url>, that vCenter is up and that this host reaches it on 443");
	snprintf(r->kms_reason, sizeof(r->kms_reason), "%s", why);
}

/* Logged in on s: the facts, the verdict, and the canary if asked for and
 * nothing failed.  The exit code. */
static int
check_vcenter(struct config *cfg, struct vsession *s, struct chk_report *rep,
    struct canary *k)
{
	struct vconn *c = vconn_new(s);
	struct kms_facts f;
	int rc, vr;

	vconn_set_timeout(c, cfg->timeout);
	if ((vr = check_gather(c, cfg, &f)) != 0) {
		report_unreachable(rep, vr, vconn_error(c));
		rc = vim_exit_code(vr);
	} else {
		kms_evaluate(cfg, &f, rep);
		check_okms_firewall(cfg, rep);
		rc = chk_ok(rep) ? EXIT_OK : EXIT_FAIL;
	}
	kms_facts_free(&f);
	vconn_reset(c);
	if (k != NULL && rc == EXIT_OK) {
		k->cfg = cfg;
		k->s = s;
		k->c = c;
		rc = canary_check(k);
	}
	vconn_free(c);
	vsession_close(s);
	return rc;
}

/* Logs in (or says why not in rep) and checks; the exit code. */
static int
check_login(struct config *cfg, struct chk_report *rep, struct canary *k)
{
	struct vsession *s;
	char err[1024];
	char *password;
	int vr, rc;

	if ((password = config_read_password(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		return -EXIT_CONFIG;
	}
	if ((s = vsession_new(cfg, err, sizeof(err))) == NULL) {
		secret_free(password);
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		return -EXIT_CONFIG;
	}
	vr = vsession_open(s, password, err, sizeof(err));
	secret_free(password);
	if (vr != 0) {
		report_unreachable(rep, vr, err);
		rc = vim_exit_code(vr);
	} else {
		rc = check_vcenter(cfg, s, rep, k);
	}
	vsession_free(s);
	return rc;
}

/* --canary asked for, not run: a check failed. */
static json_object *
canary_not_run(void)
{
	json_object *cj = json_object_new_object();

	json_object_object_add(cj, "ran", json_object_new_boolean(0));
	json_object_object_add(cj, "ok", json_object_new_boolean(0));
	json_object_object_add(cj, "why", json_object_new_string("a check failed: "
	    "the canary runs only on a vCenter that passes them"));
	return cj;
}

int
cmd_check(int argc, char **argv)
{
	const char *path = NULL, *trace = NULL;
	int json = 0, canary = 0, power = 0, rc;
	struct config *cfg = NULL;
	struct chk_report rep;
	struct canary *k = NULL;
	char tdir[4096] = "";

	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &path, .help = OPTS_HELP_CONFIG },
		{ "json", 'j', OPT_FLAG, NULL, &json, .help = "the report as JSON" },
		{ "canary", 0, OPT_FLAG, NULL, &canary, .help = "then prove the whole path on a "
		    "throwaway VM\n(created, encrypted, read back, deleted)" },
		{ "power", 0, OPT_FLAG, NULL, &power, .help = "with --canary: power the canary on "
		    "and off\nonce (its host got the key)" },
		{ "trace-soap", 'T', OPT_STRING, "DIR", &trace, .help = OPTS_HELP_TRACE },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent check [--config FILE] [--json] [--canary [--power]]\n"
		    "                           [--trace-soap DIR]\n",
		.about =
		    "Checks that vCenter is ready for encryption by default, and says for\n"
		    "each item what is wrong and how to fix it:\n"
		    "  vCenter reachable, logged in, really a vCenter (not an ESXi host);\n"
		    "  API version enough for the configuration (ft-encryption: 7.0.2);\n"
		    "  key management present; key providers (KMS clusters) configured;\n"
		    "  the expected provider (<kms cluster>) with its servers; a default\n"
		    "  provider selected, and the expected one; its Connection Status\n"
		    "  (status, trust both ways, certificate expiry); the encryption\n"
		    "  storage policy exists and is an encryption policy; the account\n"
		    "  holds the privileges the agent uses; the encrypted VMs whose key\n"
		    "  vCenter says is not available, counted (QueryCryptoKeyStatus, API\n"
		    "  6.7.2+).  Changes nothing.\n\n"
		    "--canary then proves the whole path once, on a VM that does not\n"
		    "matter: a previous run's canary is deleted; the placement (<canary\n"
		    "folder pool datastore> or the first datacenter's) and the privileges\n"
		    "the canary needs there are checked before anything is created; a VM\n"
		    "named vmcrypt-canary-HOST-TIME (hardware 13, one 1 MB thin disk,\n"
		    "powered off) is created, encrypted by the very code `run` uses, read\n"
		    "back on its own (keys, policy on home and disk, Encrypted vMotion, key\n"
		    "provider, key status), powered on and off with --power, and deleted,\n"
		    "also on failure and on SIGINT or SIGTERM.  Each step is timed; the\n"
		    "SOAP trace is kept in STATE-DIR/canary-TIME (or --trace-soap DIR).\n",
		.tail =
		    "exit status: 0 every check passed (warnings allowed) and the canary, if\n"
		    "asked for, too; 1 some failed; 2 usage; 3 bad configuration; 4 vCenter\n"
		    "unreachable or TLS refused; 5 login failed; with --canary: 11 a host\n"
		    "could not get the key from the KMS; 12 a privilege is missing; 13 no\n"
		    "usable default key provider; 14 the canary VM could not be deleted;\n"
		    "130 / 143 stopped by SIGINT / SIGTERM (after its clean-up).\n",
		.opts = opts,
	};

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if (power && !canary) {
		fprintf(stderr, "vmcrypt-agent: --power goes with --canary\n");
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(path, &cfg)) != EXIT_OK)
		return rc;
	rc = canary ? canary_trace(cfg, trace, tdir, sizeof(tdir)) : cli_trace_soap(cfg, trace);
	if (rc != EXIT_OK) {
		config_free(cfg);
		return rc;
	}
	if (getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(LOG_LVL_WARN);	/* the report says it all */
	if (canary) {
		k = xcalloc(1, sizeof(*k));
		k->power = power;
	}
	if ((rc = check_login(cfg, &rep, k)) < 0) {
		free(k);
		config_free(cfg);
		return -rc;
	}
	int ran = k != NULL && k->steps.n > 0;
	if (json) {
		print_json(cfg, &rep, ran ? canary_json(k, tdir) : k != NULL ? canary_not_run() :
		    NULL, stdout);
	} else {
		print_text(cfg, &rep, stdout);
		if (ran)
			canary_print_text(k, tdir, stdout);
		else if (k != NULL)
			printf("\ncanary: not run: fix what failed above first\n");
	}
	free(k);
	config_free(cfg);
	return rc;
}
