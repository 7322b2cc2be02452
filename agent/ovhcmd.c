/*
 * `vmcrypt-agent ovh ...`: the one-time KMS registration on OVHcloud's side
 * (Hosted Private Cloud), its status, and the consumer key it needs.  The
 * daemon never calls the OVHcloud API; only these commands do.
 */
#include "cli.h"
#include "log.h"
#include "ovh.h"
#include "ovhapi.h"
#include "tls.h"
#include "xmalloc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


struct opts {
	const char	*service, *kms_ip, *thumbprint, *fetch, *description;
	const char	*endpoint, *ca_file, *conf, *redirect;
	int		 update, dry_run, json, poll, wait, timeout;
};

static int
exit_for(int rc)
{
	switch (rc) {
	case 0:
		return EXIT_OK;
	case OVH_E_TRANSPORT:
	case OVH_E_PROTO:
		return EXIT_CONNECT;
	case OVH_E_AUTH:
		return EXIT_LOGIN;
	case OVH_E_DENIED:
		return EXIT_OVH_DENIED;
	default:
		return EXIT_FAIL;
	}
}

/* What to do about a refusal, added to its one line. */
static const char *
advice(int rc)
{
	switch (rc) {
	case OVH_E_AUTH:
		return "check OVH_APPLICATION_KEY / OVH_APPLICATION_SECRET / OVH_CONSUMER_KEY "
		    "(or ovh.conf); a consumer key must be validated at its validationUrl";
	case OVH_E_DENIED:
		return "this consumer key was not granted that call: make one with "
		    "`vmcrypt-agent ovh consumer-key` and validate it";
	case OVH_E_TRANSPORT:
		return "is the endpoint right (--endpoint ovh-eu|ovh-ca|ovh-us|URL)?";
	default:
		return NULL;
	}
}

static void
report(const char *err, int rc)
{
	const char *a = advice(rc);
	fprintf(stderr, "vmcrypt-agent: %s%s%s\n", err, a ? "; " : "", a ? a : "");
}

static int
parse_int(const char *name, const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "vmcrypt-agent: %s must be %d..%d\n", name, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Credentials and a client; needs_ck: the call is signed. */
static int
connect_api(const struct opts *o, int needs_ck, struct ovh_client **out, char *base,
    size_t baselen)
{
	struct ovh_creds cr;
	char err[768];
	int rc;

	*out = NULL;
	if (ovh_creds_load(&cr, o->conf, o->endpoint, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		return EXIT_CONFIG;
	}
	const char *ep = cr.endpoint[0] ? cr.endpoint : NULL;
	if (ep == NULL) {
		fprintf(stderr, "vmcrypt-agent: no OVHcloud endpoint: give --endpoint "
		    "ovh-eu|ovh-ca|ovh-us, set OVH_ENDPOINT, or endpoint= in the [default] "
		    "section of ovh.conf\n");
		return EXIT_CONFIG;
	}
	if (ovh_endpoint_url(ep, base, baselen) == NULL) {
		fprintf(stderr, "vmcrypt-agent: unknown endpoint '%s': ovh-eu, ovh-ca, ovh-us "
		    "(or kimsufi-*, soyoustart-*), or an https:// URL\n", ep);
		explicit_bzero(&cr, sizeof(cr));
		return EXIT_USAGE;
	}
	char missing[160] = "";
	if (!cr.application_key[0])
		strcat(missing, " OVH_APPLICATION_KEY");
	if (!cr.application_secret[0] && needs_ck)
		strcat(missing, " OVH_APPLICATION_SECRET");
	if (!cr.consumer_key[0] && needs_ck)
		strcat(missing, " OVH_CONSUMER_KEY");
	if (missing[0]) {
		fprintf(stderr, "vmcrypt-agent: OVHcloud credentials missing:%s; set them in "
		    "the environment or in ovh.conf (./ovh.conf, ~/.ovh.conf, /etc/ovh.conf: "
		    "application_key, application_secret, consumer_key under [%s]); create an "
		    "application at %s/createApp/%s\n", missing, ep,
		    strncmp(base, "https://", 8) == 0 ? "https://eu.api.ovh.com" : base,
		    needs_ck && !cr.consumer_key[0] && cr.application_key[0] ?
		    ", then a consumer key with `vmcrypt-agent ovh consumer-key`" : "");
		explicit_bzero(&cr, sizeof(cr));
		return EXIT_CONFIG;
	}
	struct ovh_client *c = ovh_client_new(base, &cr, o->ca_file, o->timeout, err,
	    sizeof(err));
	explicit_bzero(&cr, sizeof(cr));
	if (c == NULL) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		return EXIT_USAGE;
	}
	if ((rc = ovh_sync_time(c, err, sizeof(err))) != 0) {
		report(err, rc);
		ovh_client_free(c);
		return exit_for(rc);
	}
	*out = c;
	return EXIT_OK;
}

/* ---------------------------------------------------------------- */
/* JSON helpers                                                      */

static const char *
jstr(json_object *o, const char *k)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static int
jint(json_object *o, const char *k, long long *out)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	return -1;
}

/* An array of strings or of integers, checked. */
static int
jarray(json_object *o, json_type t)
{
	if (o == NULL || !json_object_is_type(o, json_type_array))
		return -1;
	for (size_t i = 0; i < json_object_array_length(o); i++)
		if (!json_object_is_type(json_object_array_get_idx(o, i), t))
			return -1;
	return 0;
}

static int
unexpected(const char *call, const char *what)
{
	fprintf(stderr, "vmcrypt-agent: %s: the answer is not %s: is this the OVHcloud "
	    "API?\n", call, what);
	return EXIT_CONNECT;
}

/* ---------------------------------------------------------------- */
/* calls                                                             */

/* GET /dedicatedCloud; *out the array.  Exit code. */
static int
list_services(struct ovh_client *c, json_object **out)
{
	char err[768];
	int rc = ovh_call(c, "GET", "/dedicatedCloud", NULL, 1, out, err, sizeof(err));
	if (rc != 0) {
		report(err, rc);
		return exit_for(rc);
	}
	if (jarray(*out, json_type_string) != 0) {
		json_object_put(*out);
		*out = NULL;
		return unexpected("GET /dedicatedCloud", "a list of service names");
	}
	return EXIT_OK;
}

static void
print_services(FILE *f, json_object *list)
{
	size_t n = json_object_array_length(list);
	if (n == 0)
		fprintf(f, "  (none: this account has no Hosted Private Cloud)\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %s\n", json_object_get_string(json_object_array_get_idx(list, i)));
}

/* The service exists among list; exit code (EXIT_OVH_NO_SERVICE). */
static int
find_service(json_object *list, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)), name) == 0)
			return EXIT_OK;
	fprintf(stderr, "vmcrypt-agent: no Hosted Private Cloud service '%s' on this "
	    "account; it has:\n", name);
	print_services(stderr, list);
	return EXIT_OVH_NO_SERVICE;
}

/* A path segment from user input: the API's names are [A-Za-z0-9._-]. */
static int
safe_segment(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 100)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
	    == strlen(s);
}

static int
get_state(struct ovh_client *c, const char *svc, char *state, size_t len)
{
	char path[256], err[768];
	json_object *o = NULL;
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption", svc);
	int rc = ovh_call(c, "GET", path, NULL, 1, &o, err, sizeof(err));
	if (rc != 0) {
		report(err, rc);
		return exit_for(rc);
	}
	const char *s = jstr(o, "state");
	if (s == NULL) {
		json_object_put(o);
		return unexpected(path, "a vmEncryption object with a state");
	}
	snprintf(state, len, "%s", s);
	json_object_put(o);
	return EXIT_OK;
}

/* Every registered KMS entry, as an array of objects. */
static int
list_kms(struct ovh_client *c, const char *svc, json_object **out)
{
	char path[256], err[768];
	json_object *ids = NULL;
	int rc;

	*out = NULL;
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption/kms", svc);
	if ((rc = ovh_call(c, "GET", path, NULL, 1, &ids, err, sizeof(err))) != 0) {
		report(err, rc);
		return exit_for(rc);
	}
	if (jarray(ids, json_type_int) != 0) {
		json_object_put(ids);
		return unexpected(path, "a list of KMS ids");
	}
	json_object *all = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		long long id = json_object_get_int64(json_object_array_get_idx(ids, i));
		json_object *e = NULL;
		snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption/kms/%lld", svc, id);
		if ((rc = ovh_call(c, "GET", path, NULL, 1, &e, err, sizeof(err))) != 0) {
			report(err, rc);
			json_object_put(ids);
			json_object_put(all);
			return exit_for(rc);
		}
		if (e == NULL || !json_object_is_type(e, json_type_object) ||
		    jstr(e, "ip") == NULL) {
			json_object_put(e);
			json_object_put(ids);
			json_object_put(all);
			return unexpected(path, "a KMS entry with an ip");
		}
		json_object_array_add(all, e);
	}
	json_object_put(ids);
	*out = all;
	return EXIT_OK;
}

static json_object *
kms_by_ip(json_object *all, const char *ip)
{
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *e = json_object_array_get_idx(all, i);
		if (strcmp(jstr(e, "ip"), ip) == 0)
			return e;
	}
	return NULL;
}

static void
print_kms(FILE *f, json_object *e)
{
	long long id = -1, port = 0;
	const char *tp = jstr(e, "sslThumbprint"), *st = jstr(e, "state");
	const char *d = jstr(e, "description");
	jint(e, "kmsId", &id);
	jint(e, "kmsTcpPort", &port);
	fprintf(f, "  kmsId %lld: %s port %lld, thumbprint %s, state %s%s%s%s\n", id,
	    jstr(e, "ip"), port, tp ? tp : "?", st ? st : "?", d && d[0] ? ", \"" : "",
	    d && d[0] ? d : "", d && d[0] ? "\"" : "");
}

/* Follows a dedicatedCloud task to its end.  Exit code. */
static int
follow_task(struct ovh_client *c, const char *svc, json_object *task, const struct opts *o,
    json_object **final)
{
	char path[256], err[768], last[512] = "";
	long long id;
	time_t deadline = time(NULL) + o->wait;

	*final = NULL;
	if (jint(task, "taskId", &id) != 0)
		return unexpected("the task returned", "a dedicatedCloud task with a taskId");
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/task/%lld", svc, id);
	json_object *t = json_object_get(task);
	for (;;) {
		const char *state = jstr(t, "state"), *name = jstr(t, "name");
		const char *desc = jstr(t, "description");
		long long prog = 0;
		char line[512];
		jint(t, "progress", &prog);
		snprintf(line, sizeof(line), "task %lld (%s): %s %lld%%%s%s", id,
		    name ? name : "?", state ? state : "?", prog, desc && desc[0] ? " - " : "",
		    desc && desc[0] ? desc : "");
		if (strcmp(line, last) != 0) {
			fprintf(stderr, "%s\n", line);
			snprintf(last, sizeof(last), "%s", line);
		}
		if (state == NULL) {
			json_object_put(t);
			return unexpected(path, "a task with a state");
		}
		if (strcmp(state, "done") == 0) {
			*final = t;
			return EXIT_OK;
		}
		if (strcmp(state, "error") == 0 || strcmp(state, "canceled") == 0) {
			fprintf(stderr, "vmcrypt-agent: OVHcloud task %lld (%s) ended in %s%s%s; "
			    "nothing was registered. Fix the cause and run the command again, or "
			    "ask OVHcloud support quoting the task id\n", id, name ? name : "?",
			    state, desc && desc[0] ? ": " : "", desc && desc[0] ? desc : "");
			*final = t;
			return EXIT_FAIL;
		}
		if (time(NULL) >= deadline) {
			fprintf(stderr, "vmcrypt-agent: OVHcloud task %lld is still %s after %d s; "
			    "it goes on without us: see `vmcrypt-agent ovh status --service %s`\n",
			    id, state, o->wait, svc);
			*final = t;
			return EXIT_FAIL;
		}
		sleep((unsigned)o->poll);
		json_object *n = NULL;
		int rc = ovh_call(c, "GET", path, NULL, 1, &n, err, sizeof(err));
		if (rc != 0) {
			report(err, rc);
			json_object_put(t);
			return exit_for(rc);
		}
		if (n == NULL || !json_object_is_type(n, json_type_object)) {
			json_object_put(n);
			json_object_put(t);
			return unexpected(path, "a dedicatedCloud task");
		}
		json_object_put(t);
		t = n;
	}
}

/* ---------------------------------------------------------------- */
/* commands                                                          */

static int
thumbprint_of(const struct opts *o, char tp[60])
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
cmd_register(const struct opts *o)
{
	struct ovh_client *c = NULL;
	json_object *svcs = NULL, *all = NULL, *task = NULL, *final = NULL, *res;
	char base[256], tp[60], state[64], path[256], err[768];
	const char *action;
	int rc;

	if (o->kms_ip == NULL || !ovh_is_ipv4(o->kms_ip)) {
		fprintf(stderr, "vmcrypt-agent: --kms-ip %s: OVHcloud registers a KMS by its "
		    "IPv4 address (not a name)\n", o->kms_ip ? o->kms_ip : "is required");
		return EXIT_USAGE;
	}
	if (o->service && !safe_segment(o->service)) {
		fprintf(stderr, "vmcrypt-agent: --service '%s' is not a service name\n",
		    o->service);
		return EXIT_USAGE;
	}
	if (o->description && strlen(o->description) > 255) {
		fprintf(stderr, "vmcrypt-agent: --description is longer than 255 characters\n");
		return EXIT_USAGE;
	}
	if ((rc = thumbprint_of(o, tp)) != EXIT_OK)
		return rc;
	if ((rc = connect_api(o, 1, &c, base, sizeof(base))) != EXIT_OK)
		return rc;
	res = json_object_new_object();
	if ((rc = list_services(c, &svcs)) != EXIT_OK)
		goto out;
	if (o->service == NULL) {
		fprintf(stderr, "vmcrypt-agent: give --service; this account's Hosted Private "
		    "Cloud services:\n");
		print_services(stderr, svcs);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = find_service(svcs, o->service)) != EXIT_OK)
		goto out;
	if ((rc = get_state(c, o->service, state, sizeof(state))) != EXIT_OK)
		goto out;
	if (!o->json)
		printf("service %s: VM encryption %s\n", o->service, state);
	if ((rc = list_kms(c, o->service, &all)) != EXIT_OK)
		goto out;
	json_object *cur = kms_by_ip(all, o->kms_ip);
	json_object *body = json_object_new_object();
	char cur_tp[60] = "";
	if (cur != NULL && ovh_thumbprint_norm(jstr(cur, "sslThumbprint") ?
	    jstr(cur, "sslThumbprint") : "", cur_tp) != 0)
		snprintf(cur_tp, sizeof(cur_tp), "%s", jstr(cur, "sslThumbprint") ?
		    jstr(cur, "sslThumbprint") : "");
	json_object_object_add(res, "service", json_object_new_string(o->service));
	json_object_object_add(res, "vmEncryption", json_object_new_string(state));
	if (cur != NULL && strcmp(cur_tp, tp) == 0) {
		if (!o->json) {
			printf("KMS %s is already registered with thumbprint %s: nothing to do\n",
			    o->kms_ip, tp);
			print_kms(stdout, cur);
		}
		json_object_object_add(res, "action", json_object_new_string("unchanged"));
		json_object_object_add(res, "kms", json_object_get(cur));
		json_object_put(body);
		rc = EXIT_OK;
		goto out;
	}
	if (cur != NULL) {
		long long id = -1;
		jint(cur, "kmsId", &id);
		fprintf(stderr, "KMS %s is registered (kmsId %lld) with thumbprint %s, but its "
		    "certificate now has %s: a renewed or replaced KMS certificate. Until the "
		    "registration matches, the KMS connection from vCenter fails.\n",
		    o->kms_ip, id, cur_tp, tp);
		if (!o->update) {
			fprintf(stderr, "vmcrypt-agent: not changed; run again with --update to "
			    "register the new thumbprint\n");
			json_object_object_add(res, "action",
			    json_object_new_string("thumbprint-differs"));
			json_object_object_add(res, "kms", json_object_get(cur));
			json_object_put(body);
			rc = EXIT_FAIL;
			goto out;
		}
		snprintf(path, sizeof(path),
		    "/dedicatedCloud/%s/vmEncryption/kms/%lld/changeProperties", o->service, id);
		json_object_object_add(body, "sslThumbprint", json_object_new_string(tp));
		if (o->description)
			json_object_object_add(body, "description",
			    json_object_new_string(o->description));
		action = "updated";
	} else {
		snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption/kms", o->service);
		json_object_object_add(body, "ip", json_object_new_string(o->kms_ip));
		json_object_object_add(body, "sslThumbprint", json_object_new_string(tp));
		if (o->description)
			json_object_object_add(body, "description",
			    json_object_new_string(o->description));
		action = "registered";
	}
	if (o->dry_run) {
		const char *b = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!o->json)
			printf("dry run: would POST %s %s\n", path, b);
		json_object_object_add(res, "action", json_object_new_string(
		    cur ? "would-update" : "would-register"));
		json_object_object_add(res, "request", json_object_new_string(b));
		json_object_put(body);
		rc = EXIT_OK;
		goto out;
	}
	fprintf(stderr, "%s KMS %s with thumbprint %s: POST %s\n", cur ? "updating" :
	    "registering", o->kms_ip, tp, path);
	rc = ovh_call(c, "POST", path, body, 1, &task, err, sizeof(err));
	json_object_put(body);
	if (rc != 0) {
		report(err, rc);
		rc = exit_for(rc);
		goto out;
	}
	rc = follow_task(c, o->service, task, o, &final);
	if (final)
		json_object_object_add(res, "task", json_object_get(final));
	if (rc != EXIT_OK) {
		json_object_object_add(res, "action", json_object_new_string("failed"));
		goto out;
	}
	json_object_put(all);
	all = NULL;
	if ((rc = list_kms(c, o->service, &all)) != EXIT_OK)
		goto out;
	cur = kms_by_ip(all, o->kms_ip);
	if (cur == NULL) {
		fprintf(stderr, "vmcrypt-agent: the task is done but no KMS entry with ip %s is "
		    "listed\n", o->kms_ip);
		rc = EXIT_FAIL;
		goto out;
	}
	json_object_object_add(res, "action", json_object_new_string(action));
	json_object_object_add(res, "kms", json_object_get(cur));
	if (!o->json) {
		printf("KMS %s %s:\n", o->kms_ip, action);
		print_kms(stdout, cur);
		printf("next: add it to vCenter as a standard key provider, make it the "
		    "default, and check it with `vmcrypt-agent check`\n");
	}
	rc = EXIT_OK;
out:
	if (o->json && json_object_object_length(res) > 0)
		json_out(res);
	json_object_put(res);
	json_object_put(final);
	json_object_put(task);
	json_object_put(all);
	json_object_put(svcs);
	ovh_client_free(c);
	return rc;
}

static int
cmd_status(const struct opts *o)
{
	struct ovh_client *c = NULL;
	json_object *svcs = NULL, *all = NULL, *res = json_object_new_object();
	char base[256], state[64];
	int rc;

	if (o->service && !safe_segment(o->service)) {
		fprintf(stderr, "vmcrypt-agent: --service '%s' is not a service name\n",
		    o->service);
		json_object_put(res);
		return EXIT_USAGE;
	}
	if ((rc = connect_api(o, 1, &c, base, sizeof(base))) != EXIT_OK) {
		json_object_put(res);
		return rc;
	}
	if ((rc = list_services(c, &svcs)) != EXIT_OK)
		goto out;
	if (o->service == NULL) {
		if (o->json) {
			json_object_object_add(res, "services", json_object_get(svcs));
		} else {
			printf("Hosted Private Cloud services:\n");
			print_services(stdout, svcs);
		}
		goto out;
	}
	if ((rc = find_service(svcs, o->service)) != EXIT_OK)
		goto out;
	if ((rc = get_state(c, o->service, state, sizeof(state))) != EXIT_OK)
		goto out;
	if ((rc = list_kms(c, o->service, &all)) != EXIT_OK)
		goto out;
	json_object_object_add(res, "service", json_object_new_string(o->service));
	json_object_object_add(res, "vmEncryption", json_object_new_string(state));
	json_object_object_add(res, "kms", json_object_get(all));
	if (!o->json) {
		size_t n = json_object_array_length(all);
		printf("service %s: VM encryption %s\nregistered KMS:%s\n", o->service, state,
		    n ? "" : " none");
		for (size_t i = 0; i < n; i++)
			print_kms(stdout, json_object_array_get_idx(all, i));
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
cmd_consumer_key(const struct opts *o)
{
	struct ovh_client *c = NULL;
	json_object *out = NULL;
	char base[256], err[768];
	int rc;

	if ((rc = connect_api(o, 0, &c, base, sizeof(base))) != EXIT_OK)
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
		report(err, rc);
		ovh_client_free(c);
		return exit_for(rc);
	}
	const char *ck = jstr(out, "consumerKey"), *url = jstr(out, "validationUrl");
	const char *st = jstr(out, "state");
	if (ck == NULL || url == NULL) {
		json_object_put(out);
		ovh_client_free(c);
		return unexpected("POST /auth/credential", "a credential request");
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

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vmcrypt-agent ovh register-kms --service NAME --kms-ip IP\n"
	    "           [--thumbprint HEX | --fetch-thumbprint HOST[:PORT]] [--description TEXT]\n"
	    "           [--update] [--dry-run] [--json] [--wait S] [--poll-interval S]\n"
	    "       vmcrypt-agent ovh status [--service NAME] [--json]\n"
	    "       vmcrypt-agent ovh consumer-key [--redirect URL] [--json]\n"
	    "  common: [--endpoint ovh-eu|ovh-ca|ovh-us|URL] [--ca-file FILE] [--conf FILE]\n"
	    "          [--timeout S]\n"
	    "\n"
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
	    "system CA store (SSL_CERT_FILE / SSL_CERT_DIR honoured) or --ca-file.\n"
	    "\n"
	    "exit status: 0 done or nothing to do; 1 failed (task error, thumbprint differs\n"
	    "without --update, still running after --wait); 2 usage; 3 credentials missing\n"
	    "or ovh.conf unreadable; 4 API unreachable, TLS refused, or not the API; 5\n"
	    "credentials refused; 6/7 KMS unreachable / TLS failed (fetching the\n"
	    "thumbprint); 9 call not granted to this consumer key; 10 no such service.\n");
}

int
cmd_ovh(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "kms-ip", required_argument, NULL, 'i' },
		{ "thumbprint", required_argument, NULL, 'T' },
		{ "fetch-thumbprint", required_argument, NULL, 'F' },
		{ "description", required_argument, NULL, 'd' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "ca-file", required_argument, NULL, 'A' },
		{ "conf", required_argument, NULL, 'c' },
		{ "redirect", required_argument, NULL, 'r' },
		{ "update", no_argument, NULL, 'u' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "poll-interval", required_argument, NULL, 'p' },
		{ "wait", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .poll = 5, .wait = 1800, .timeout = 30 };
	int ch;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "register-kms") != 0 && strcmp(sub, "status") != 0 &&
	    strcmp(sub, "consumer-key") != 0) {
		fprintf(stderr, "vmcrypt-agent: unknown ovh command '%s' (register-kms, status, "
		    "consumer-key)\n", sub);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 's': o.service = optarg; break;
		case 'i': o.kms_ip = optarg; break;
		case 'T': o.thumbprint = optarg; break;
		case 'F': o.fetch = optarg; break;
		case 'd': o.description = optarg; break;
		case 'e': o.endpoint = optarg; break;
		case 'A': o.ca_file = optarg; break;
		case 'c': o.conf = optarg; break;
		case 'r': o.redirect = optarg; break;
		case 'u': o.update = 1; break;
		case 'n': o.dry_run = 1; break;
		case 'j': o.json = 1; break;
		case 'p':
			if (parse_int("--poll-interval", optarg, 1, 300, &o.poll) != 0)
				return EXIT_USAGE;
			break;
		case 'w':
			if (parse_int("--wait", optarg, 1, 86400, &o.wait) != 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (parse_int("--timeout", optarg, 1, 300, &o.timeout) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmcrypt-agent: unexpected argument '%s' (secrets are never "
		    "taken from the command line)\n", argv[optind]);
		return EXIT_USAGE;
	}
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
