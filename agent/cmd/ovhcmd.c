/*
 * `vmcrypt-agent ovh ...`: the one-time KMS registration on OVHcloud's side
 * (Hosted Private Cloud), its status, and the consumer key it needs.  The
 * daemon never calls the OVHcloud API; only these commands do.
 */
#include "cli.h"
#include "log.h"
#include "opts.h"
#include "ovh.h"
#include "ovhapi.h"
#include "ovhcalls.h"
#include "ovhcmd.h"
#include "tls.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* ---------------------------------------------------------------- */
/* commands                                                          */

static int
thumbprint_of(const struct ovhc_opts *o, char tp[60])
{
	char host[256], port[16];
	struct tls_cert_info ci;
	const char *target = o->fetch ? o->fetch : o->kms_ip;

	if (o->thumbprint != NULL) {
		if (ovh_thumbprint_norm(o->thumbprint, tp) != 0) {
			fprintf(stderr, "vmcrypt-agent: --thumbprint '%s' is not a SHA-1 "
			    "thumbprint (20 hex pairs, e.g. from `vmcrypt-agent kms-thumbprint`)\n",
			    o->thumbprint);
			return EXIT_USAGE;
		}
		return EXIT_OK;
	}
	int rc = kms_fetch_certificate(target, o->timeout, &ci, host, sizeof(host), port,
	    sizeof(port));
	if (rc != EXIT_OK) {
		fprintf(stderr, "vmcrypt-agent: cannot fetch the KMS thumbprint from %s\n",
		    target);
		return rc;
	}
	if (ovh_thumbprint_norm(strchr(ci.sha1, '=') + 1, tp) != 0)
		return EXIT_KMS_TLS;
	fprintf(stderr, "KMS certificate at %s:%s: %s (subject %s, valid until %s)\n", host,
	    port, tp, ci.subject, ci.not_after);
	if (ci.expires_in < 0)
		fprintf(stderr, "warning: that certificate has EXPIRED: vCenter will not trust "
		    "it; renew it on the KMS before registering\n");
	return EXIT_OK;
}

static void
json_out(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int
register_usage_ok(const struct ovhc_opts *o)
{
	if (o->kms_ip == NULL || !ovh_is_ipv4(o->kms_ip)) {
		fprintf(stderr, "vmcrypt-agent: --kms-ip %s: OVHcloud registers a KMS by its "
		    "IPv4 address (not a name)\n", o->kms_ip ? o->kms_ip : "is required");
		return EXIT_USAGE;
	}
	if (o->service && !ovhc_safe_segment(o->service)) {
		fprintf(stderr, "vmcrypt-agent: --service '%s' is not a service name\n",
		    o->service);
		return EXIT_USAGE;
	}
	if (o->description && strlen(o->description) > 255) {
		fprintf(stderr, "vmcrypt-agent: --description is longer than 255 characters\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The service named, and its vmEncryption state. */
static int
register_service(struct ovh_client *c, const struct ovhc_opts *o, char *state, size_t len)
{
	json_object *svcs = NULL;
	int rc;

	if ((rc = ovhc_list_services(c, &svcs)) != EXIT_OK)
		return rc;
	if (o->service == NULL) {
		fprintf(stderr, "vmcrypt-agent: give --service; this account's Hosted Private "
		    "Cloud services:\n");
		ovhc_print_services(stderr, svcs);
		rc = EXIT_USAGE;
	} else if ((rc = ovhc_find_service(svcs, o->service)) == EXIT_OK &&
	    (rc = ovhc_get_state(c, o->service, state, len)) == EXIT_OK && !o->json) {
		printf("service %s: VM encryption %s\n", o->service, state);
	}
	json_object_put(svcs);
	return rc;
}

struct reg {
	json_object	*cur;		/* the entry of this KMS, if registered */
	char		 cur_tp[60];	/* its thumbprint */
	char		 path[256];
	json_object	*body;
	const char	*action;
};

/*
 * What to POST: a new entry, or the new thumbprint of the existing one
 * (--update).  EXIT_OK with r->body, or the final exit code (nothing to
 * do, or not allowed) with res's "action" said.
 */
static int
register_plan(const struct ovhc_opts *o, const char *tp, struct reg *r, json_object *res)
{
	long long id = -1;
	const char *cur_tp = ovhc_jstr(r->cur, "sslThumbprint");

	if (r->cur != NULL && ovh_thumbprint_norm(cur_tp ? cur_tp : "", r->cur_tp) != 0)
		snprintf(r->cur_tp, sizeof(r->cur_tp), "%s", cur_tp ? cur_tp : "");
	if (r->cur != NULL && strcmp(r->cur_tp, tp) == 0) {
		if (!o->json) {
			printf("KMS %s is already registered with thumbprint %s: nothing to do\n",
			    o->kms_ip, tp);
			ovhc_print_kms(stdout, r->cur);
		}
		json_object_object_add(res, "action", json_object_new_string("unchanged"));
		json_object_object_add(res, "kms", json_object_get(r->cur));
		return EXIT_OK;
	}
	if (r->cur != NULL) {
		ovhc_jint(r->cur, "kmsId", &id);
		fprintf(stderr, "KMS %s is registered (kmsId %lld) with thumbprint %s, but its "
		    "certificate now has %s: a renewed or replaced KMS certificate. Until the "
		    "registration matches, the KMS connection from vCenter fails.\n",
		    o->kms_ip, id, r->cur_tp, tp);
		if (!o->update) {
			fprintf(stderr, "vmcrypt-agent: not changed; run again with --update to "
			    "register the new thumbprint\n");
			json_object_object_add(res, "action",
			    json_object_new_string("thumbprint-differs"));
			json_object_object_add(res, "kms", json_object_get(r->cur));
			return EXIT_FAIL;
		}
		snprintf(r->path, sizeof(r->path),
		    "/dedicatedCloud/%s/vmEncryption/kms/%lld/changeProperties", o->service, id);
		r->action = "updated";
	} else {
		snprintf(r->path, sizeof(r->path), "/dedicatedCloud/%s/vmEncryption/kms",
		    o->service);
		r->action = "registered";
	}
	r->body = json_object_new_object();
	if (r->cur == NULL)
		json_object_object_add(r->body, "ip", json_object_new_string(o->kms_ip));
	json_object_object_add(r->body, "sslThumbprint", json_object_new_string(tp));
	if (o->description)
		json_object_object_add(r->body, "description",
		    json_object_new_string(o->description));
	return EXIT_OK;
}

/* POSTs r->body, follows the task, reads the entry back. */
static int
register_apply(struct ovh_client *c, const struct ovhc_opts *o, const char *tp,
    struct reg *r, json_object *res)
{
	json_object *task = NULL, *final = NULL, *all = NULL;
	char err[768];
	int rc;

	fprintf(stderr, "%s KMS %s with thumbprint %s: POST %s\n", r->cur ? "updating" :
	    "registering", o->kms_ip, tp, r->path);
	if ((rc = ovh_call(c, "POST", r->path, r->body, 1, &task, err, sizeof(err))) != 0) {
		ovhc_report(err, rc);
		return ovhc_exit_for(rc);
	}
	rc = ovhc_follow_task(c, o->service, task, o, &final);
	json_object_put(task);
	if (final)
		json_object_object_add(res, "task", final);
	if (rc != EXIT_OK) {
		json_object_object_add(res, "action", json_object_new_string("failed"));
		return rc;
	}
	if ((rc = ovhc_list_kms(c, o->service, &all)) != EXIT_OK)
		return rc;
	json_object *cur = ovhc_kms_by_ip(all, o->kms_ip);
	if (cur == NULL) {
		fprintf(stderr, "vmcrypt-agent: the task is done but no KMS entry with ip %s is "
		    "listed\n", o->kms_ip);
		json_object_put(all);
		return EXIT_FAIL;
	}
	json_object_object_add(res, "action", json_object_new_string(r->action));
	json_object_object_add(res, "kms", json_object_get(cur));
	if (!o->json) {
		printf("KMS %s %s:\n", o->kms_ip, r->action);
		ovhc_print_kms(stdout, cur);
		printf("next: add it to vCenter as a standard key provider, make it the "
		    "default, and check it with `vmcrypt-agent check`\n");
	}
	json_object_put(all);
	return EXIT_OK;
}

int
ovhcmd_register(struct ovh_client *c, const struct ovhc_opts *o, const char *tp,
    json_object *res)
{
	json_object *all = NULL;
	struct reg r = { 0 };
	char state[64];
	int rc;

	if ((rc = register_service(c, o, state, sizeof(state))) != EXIT_OK ||
	    (rc = ovhc_list_kms(c, o->service, &all)) != EXIT_OK)
		return rc;
	r.cur = ovhc_kms_by_ip(all, o->kms_ip);
	json_object_object_add(res, "service", json_object_new_string(o->service));
	json_object_object_add(res, "vmEncryption", json_object_new_string(state));
	if ((rc = register_plan(o, tp, &r, res)) != EXIT_OK || r.body == NULL) {
		json_object_put(all);
		return rc;
	}
	if (o->dry_run) {
		const char *b = json_object_to_json_string_ext(r.body, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!o->json)
			printf("dry run: would POST %s %s\n", r.path, b);
		json_object_object_add(res, "action", json_object_new_string(
		    r.cur ? "would-update" : "would-register"));
		json_object_object_add(res, "request", json_object_new_string(b));
	} else {
		rc = register_apply(c, o, tp, &r, res);
	}
	json_object_put(r.body);
	json_object_put(all);
	return rc;
}

static int
cmd_register(const struct ovhc_opts *o)
{
	struct ovh_client *c = NULL;
	char base[256], tp[60];
	int rc;

	if ((rc = register_usage_ok(o)) != EXIT_OK || (rc = thumbprint_of(o, tp)) != EXIT_OK ||
	    (rc = ovhc_connect_api(o, 1, &c, base, sizeof(base))) != EXIT_OK)
		return rc;
	json_object *res = json_object_new_object();
	rc = ovhcmd_register(c, o, tp, res);
	if (o->json && json_object_object_length(res) > 0)
		json_out(res);
	json_object_put(res);
	ovh_client_free(c);
	return rc;
}

static int
cmd_status(const struct ovhc_opts *o)
{
	struct ovh_client *c = NULL;
	json_object *svcs = NULL, *all = NULL, *res = json_object_new_object();
	char base[256], state[64];
	int rc;

	if (o->service && !ovhc_safe_segment(o->service)) {
		fprintf(stderr, "vmcrypt-agent: --service '%s' is not a service name\n",
		    o->service);
		json_object_put(res);
		return EXIT_USAGE;
	}
	if ((rc = ovhc_connect_api(o, 1, &c, base, sizeof(base))) != EXIT_OK) {
		json_object_put(res);
		return rc;
	}
	if ((rc = ovhc_list_services(c, &svcs)) != EXIT_OK)
		goto out;
	if (o->service == NULL) {
		if (o->json) {
			json_object_object_add(res, "services", json_object_get(svcs));
		} else {
			printf("Hosted Private Cloud services:\n");
			ovhc_print_services(stdout, svcs);
		}
		goto out;
	}
	if ((rc = ovhc_find_service(svcs, o->service)) != EXIT_OK)
		goto out;
	if ((rc = ovhc_get_state(c, o->service, state, sizeof(state))) != EXIT_OK)
		goto out;
	if ((rc = ovhc_list_kms(c, o->service, &all)) != EXIT_OK)
		goto out;
	json_object_object_add(res, "service", json_object_new_string(o->service));
	json_object_object_add(res, "vmEncryption", json_object_new_string(state));
	json_object_object_add(res, "kms", json_object_get(all));
	if (!o->json) {
		size_t n = json_object_array_length(all);
		printf("service %s: VM encryption %s\nregistered KMS:%s\n", o->service, state,
		    n ? "" : " none");
		for (size_t i = 0; i < n; i++)
			ovhc_print_kms(stdout, json_object_array_get_idx(all, i));
	}
out:
	if (o->json && rc == EXIT_OK)
		json_out(res);
	json_object_put(res);
	json_object_put(all);
	json_object_put(svcs);
	ovh_client_free(c);
	return rc;
}

static int
cmd_consumer_key(const struct ovhc_opts *o)
{
	struct ovh_client *c = NULL;
	json_object *out = NULL;
	char base[256], err[768];
	int rc;

	if ((rc = ovhc_connect_api(o, 0, &c, base, sizeof(base))) != EXIT_OK)
		return rc;
	json_object *body = json_object_new_object(), *rules = json_object_new_array();
	for (size_t i = 0; i < ovh_naccess_rules; i++) {
		json_object *r = json_object_new_object();
		json_object_object_add(r, "method", json_object_new_string(ovh_access_rules[i].method));
		json_object_object_add(r, "path", json_object_new_string(ovh_access_rules[i].path));
		json_object_array_add(rules, r);
	}
	json_object_object_add(body, "accessRules", rules);
	if (o->redirect)
		json_object_object_add(body, "redirection", json_object_new_string(o->redirect));
	rc = ovh_call(c, "POST", "/auth/credential", body, 0, &out, err, sizeof(err));
	json_object_put(body);
	if (rc != 0) {
		ovhc_report(err, rc);
		ovh_client_free(c);
		return ovhc_exit_for(rc);
	}
	const char *ck = ovhc_jstr(out, "consumerKey"), *url = ovhc_jstr(out, "validationUrl");
	const char *st = ovhc_jstr(out, "state");
	if (ck == NULL || url == NULL) {
		json_object_put(out);
		ovh_client_free(c);
		return ovhc_unexpected("POST /auth/credential", "a credential request");
	}
	if (o->json) {
		json_out(out);
	} else {
		printf("consumer key: %s (state %s)\n", ck, st ? st : "?");
		printf("validate it (log in with the OVHcloud account that owns the service):\n"
		    "  %s\n", url);
		printf("then give it to `vmcrypt-agent ovh` as OVH_CONSUMER_KEY or as "
		    "consumer_key= in ovh.conf (mode 600).\nIt grants only:\n");
		for (size_t i = 0; i < ovh_naccess_rules; i++)
			printf("  %-4s %s\n", ovh_access_rules[i].method, ovh_access_rules[i].path);
	}
	json_object_put(out);
	ovh_client_free(c);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- */

static const char usage[] =
    "usage: vmcrypt-agent ovh register-kms --service NAME --kms-ip IP\n"
    "           [--thumbprint HEX | --fetch-thumbprint HOST[:PORT]] [--description TEXT]\n"
    "           [--update] [--dry-run] [--json] [--wait S] [--poll-interval S]\n"
    "       vmcrypt-agent ovh status [--service NAME] [--json]\n"
    "       vmcrypt-agent ovh consumer-key [--redirect URL] [--json]\n"
    "  common: [--endpoint ovh-eu|ovh-ca|ovh-us|URL] [--ca-file FILE] [--conf FILE]\n"
    "          [--timeout S]\n";

static const char about[] =
    "The one-time registration of a KMS on OVHcloud's side (Hosted Private Cloud),\n"
    "before it is added to vCenter.  The daemon never calls the OVHcloud API.\n"
    "\n"
    "register-kms  checks the service exists, shows its VM encryption state and the\n"
    "              KMS entries; the same IP and thumbprint: nothing to do; the same\n"
    "              IP with another thumbprint: explained, changed only with --update;\n"
    "              else POST /dedicatedCloud/NAME/vmEncryption/kms, then follows the\n"
    "              task to its end and prints the new entry.  The thumbprint is\n"
    "              --thumbprint, or read from the KMS (--fetch-thumbprint, by default\n"
    "              the KMS IP, port 5696).  --dry-run shows the request, sends no POST.\n"
    "status        VM encryption state and KMS entries (the services, without --service).\n"
    "consumer-key  asks for a consumer key granting only the calls above; prints it\n"
    "              and the URL where it must be validated.\n"
    "\n"
    "Credentials as OVHcloud's own clients take them, never from the command line:\n"
    "OVH_ENDPOINT, OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY, else\n"
    "ovh.conf ([default] endpoint=..., then [ENDPOINT] application_key=...,\n"
    "application_secret=..., consumer_key=...) from ./ovh.conf, ~/.ovh.conf,\n"
    "/etc/ovh.conf (nearest first), or --conf FILE.  TLS is verified against the\n"
    "system CA store (SSL_CERT_FILE / SSL_CERT_DIR honoured) or --ca-file.\n";

static const char tail[] =
    "exit status: 0 done or nothing to do; 1 failed (task error, thumbprint differs\n"
    "without --update, still running after --wait); 2 usage; 3 credentials missing\n"
    "or ovh.conf unreadable; 4 API unreachable, TLS refused, or not the API; 5\n"
    "credentials refused; 6/7 KMS unreachable / TLS failed (fetching the\n"
    "thumbprint); 9 call not granted to this consumer key; 10 no such service.\n";

/* argv[0] is the subcommand (or "ovh", for `ovh --help`). */
static int
ovh_args(int argc, char **argv, struct ovhc_opts *o)
{
	const struct opt opts[] = {
		{ "service", 0, OPT_STRING, "NAME", &o->service,
		  .help = "the Hosted Private Cloud service (pcc-...)" },
		{ "kms-ip", 0, OPT_STRING, "IP", &o->kms_ip, .help = "the KMS's IPv4 address" },
		{ "thumbprint", 0, OPT_STRING, "HEX", &o->thumbprint,
		  .help = "the KMS certificate's SHA-1 thumbprint" },
		{ "fetch-thumbprint", 0, OPT_STRING, "HOST[:PORT]", &o->fetch,
		  .help = "read it from the KMS there" },
		{ "description", 0, OPT_STRING, "TEXT", &o->description,
		  .help = "the entry's description (255 characters)" },
		{ "update", 0, OPT_FLAG, NULL, &o->update,
		  .help = "register a new thumbprint for a registered IP" },
		{ "dry-run", 0, OPT_FLAG, NULL, &o->dry_run,
		  .help = "show the request, send no POST" },
		{ "json", 0, OPT_FLAG, NULL, &o->json, .help = "the result as JSON" },
		{ "wait", 0, OPT_INT, "S", &o->wait, .min = 1, .max = 86400, .unit = "seconds",
		  .help = "follow the task this long (1800)" },
		{ "poll-interval", 0, OPT_INT, "S", &o->poll, .min = 1, .max = 300,
		  .unit = "seconds", .help = "look at the task this often (5)" },
		{ "redirect", 0, OPT_STRING, "URL", &o->redirect,
		  .help = "where the validation page sends you after" },
		{ "endpoint", 0, OPT_STRING, "NAME|URL", &o->endpoint,
		  .help = "ovh-eu, ovh-ca, ovh-us or the API's URL" },
		{ "ca-file", 0, OPT_STRING, "FILE", &o->ca_file,
		  .help = "verify the API against these CAs" },
		{ "conf", 0, OPT_STRING, "FILE", &o->conf, .help = "the ovh.conf to read" },
		{ "timeout", 0, OPT_INT, "S", &o->timeout, .min = 1, .max = 300,
		  .unit = "seconds", .help = "give up on a call after S seconds (30)" },
		{ NULL }
	};
	const struct opts_cmd cmd = { .usage = usage, .about = about, .tail = tail,
		.opts = opts };

	return opts_parse(&cmd, argc, argv);
}

int
cmd_ovh(int argc, char **argv)
{
	struct ovhc_opts o = { .poll = 5, .wait = 1800, .timeout = 30 };
	int rc;

	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		char *help[] = { argv[0], "--help", NULL };
		return ovh_args(2, help, &o) == OPTS_HELP ? EXIT_OK : EXIT_USAGE;
	}
	if (strcmp(sub, "register-kms") != 0 && strcmp(sub, "status") != 0 &&
	    strcmp(sub, "consumer-key") != 0) {
		fprintf(stderr, "vmcrypt-agent: unknown ovh command '%s' (register-kms, status, "
		    "consumer-key)\n", sub);
		return EXIT_USAGE;
	}
	if ((rc = ovh_args(argc - 1, argv + 1, &o)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if (o.thumbprint && o.fetch) {
		fprintf(stderr, "vmcrypt-agent: --thumbprint and --fetch-thumbprint exclude "
		    "each other\n");
		return EXIT_USAGE;
	}
	if (strcmp(sub, "register-kms") == 0)
		return cmd_register(&o);
	if (o.kms_ip || o.thumbprint || o.fetch || o.update || o.dry_run || o.description) {
		fprintf(stderr, "vmcrypt-agent: ovh %s takes no KMS options\n", sub);
		return EXIT_USAGE;
	}
	return strcmp(sub, "status") == 0 ? cmd_status(&o) : cmd_consumer_key(&o);
}
