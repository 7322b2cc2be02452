/*
 * The OVHcloud API calls of `vmcrypt-agent ovh ...` (ovhcmd.h).
 */
#include "exitcode.h"
#include "ovh.h"
#include "ovhapi.h"
#include "ovhcalls.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
ovhc_exit_for(int rc)
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

void
ovhc_report(const char *err, int rc)
{
	const char *a = advice(rc);
	fprintf(stderr, "vmcrypt-agent: %s%s%s\n", err, a ? "; " : "", a ? a : "");
}

/* Credentials and a client; needs_ck: the call is signed. */
int
ovhc_connect_api(const struct ovhc_opts *o, int needs_ck, struct ovh_client **out, char *base,
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
		ovhc_report(err, rc);
		ovh_client_free(c);
		return ovhc_exit_for(rc);
	}
	*out = c;
	return EXIT_OK;
}

/* ---------------------------------------------------------------- */
/* JSON helpers                                                      */

const char *
ovhc_jstr(json_object *o, const char *k)
{
	json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

int
ovhc_jint(json_object *o, const char *k, long long *out)
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

int
ovhc_unexpected(const char *call, const char *what)
{
	fprintf(stderr, "vmcrypt-agent: %s: the answer is not %s: is this the OVHcloud "
	    "API?\n", call, what);
	return EXIT_CONNECT;
}

/* ---------------------------------------------------------------- */
/* calls                                                             */

/* GET /dedicatedCloud; *out the array.  Exit code. */
int
ovhc_list_services(struct ovh_client *c, json_object **out)
{
	char err[768];
	int rc = ovh_call(c, "GET", "/dedicatedCloud", NULL, 1, out, err, sizeof(err));
	if (rc != 0) {
		ovhc_report(err, rc);
		return ovhc_exit_for(rc);
	}
	if (jarray(*out, json_type_string) != 0) {
		json_object_put(*out);
		*out = NULL;
		return ovhc_unexpected("GET /dedicatedCloud", "a list of service names");
	}
	return EXIT_OK;
}

void
ovhc_print_services(FILE *f, json_object *list)
{
	size_t n = json_object_array_length(list);
	if (n == 0)
		fprintf(f, "  (none: this account has no Hosted Private Cloud)\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %s\n", json_object_get_string(json_object_array_get_idx(list, i)));
}

/* The service exists among list; exit code (EXIT_OVH_NO_SERVICE). */
int
ovhc_find_service(json_object *list, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)), name) == 0)
			return EXIT_OK;
	fprintf(stderr, "vmcrypt-agent: no Hosted Private Cloud service '%s' on this "
	    "account; it has:\n", name);
	ovhc_print_services(stderr, list);
	return EXIT_OVH_NO_SERVICE;
}

/* A path segment from user input: the API's names are [A-Za-z0-9._-]. */
int
ovhc_safe_segment(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 100)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
	    == strlen(s);
}

int
ovhc_get_state(struct ovh_client *c, const char *svc, char *state, size_t len)
{
	char path[256], err[768];
	json_object *o = NULL;
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption", svc);
	int rc = ovh_call(c, "GET", path, NULL, 1, &o, err, sizeof(err));
	if (rc != 0) {
		ovhc_report(err, rc);
		return ovhc_exit_for(rc);
	}
	const char *s = ovhc_jstr(o, "state");
	if (s == NULL) {
		json_object_put(o);
		return ovhc_unexpected(path, "a vmEncryption object with a state");
	}
	snprintf(state, len, "%s", s);
	json_object_put(o);
	return EXIT_OK;
}

/* Every registered KMS entry, as an array of objects. */
int
ovhc_list_kms(struct ovh_client *c, const char *svc, json_object **out)
{
	char path[256], err[768];
	json_object *ids = NULL;
	int rc;

	*out = NULL;
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption/kms", svc);
	if ((rc = ovh_call(c, "GET", path, NULL, 1, &ids, err, sizeof(err))) != 0) {
		ovhc_report(err, rc);
		return ovhc_exit_for(rc);
	}
	if (jarray(ids, json_type_int) != 0) {
		json_object_put(ids);
		return ovhc_unexpected(path, "a list of KMS ids");
	}
	json_object *all = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		long long id = json_object_get_int64(json_object_array_get_idx(ids, i));
		json_object *e = NULL;
		snprintf(path, sizeof(path), "/dedicatedCloud/%s/vmEncryption/kms/%lld", svc, id);
		if ((rc = ovh_call(c, "GET", path, NULL, 1, &e, err, sizeof(err))) != 0) {
			ovhc_report(err, rc);
			json_object_put(ids);
			json_object_put(all);
			return ovhc_exit_for(rc);
		}
		if (e == NULL || !json_object_is_type(e, json_type_object) ||
		    ovhc_jstr(e, "ip") == NULL) {
			json_object_put(e);
			json_object_put(ids);
			json_object_put(all);
			return ovhc_unexpected(path, "a KMS entry with an ip");
		}
		json_object_array_add(all, e);
	}
	json_object_put(ids);
	*out = all;
	return EXIT_OK;
}

json_object *
ovhc_kms_by_ip(json_object *all, const char *ip)
{
	for (size_t i = 0; all && i < json_object_array_length(all); i++) {
		json_object *e = json_object_array_get_idx(all, i);
		if (strcmp(ovhc_jstr(e, "ip"), ip) == 0)
			return e;
	}
	return NULL;
}

void
ovhc_print_kms(FILE *f, json_object *e)
{
	long long id = -1, port = 0;
	const char *tp = ovhc_jstr(e, "sslThumbprint"), *st = ovhc_jstr(e, "state");
	const char *d = ovhc_jstr(e, "description");
	ovhc_jint(e, "kmsId", &id);
	ovhc_jint(e, "kmsTcpPort", &port);
	fprintf(f, "  kmsId %lld: %s port %lld, thumbprint %s, state %s%s%s%s\n", id,
	    ovhc_jstr(e, "ip"), port, tp ? tp : "?", st ? st : "?", d && d[0] ? ", \"" : "",
	    d && d[0] ? d : "", d && d[0] ? "\"" : "");
}

/* Follows a dedicatedCloud task to its end.  Exit code. */
int
ovhc_follow_task(struct ovh_client *c, const char *svc, json_object *task,
    const struct ovhc_opts *o, json_object **final)
{
	char path[256], err[768], last[512] = "";
	long long id;
	time_t deadline = time(NULL) + o->wait;

	*final = NULL;
	if (ovhc_jint(task, "taskId", &id) != 0)
		return ovhc_unexpected("the task returned", "a dedicatedCloud task with a taskId");
	snprintf(path, sizeof(path), "/dedicatedCloud/%s/task/%lld", svc, id);
	json_object *t = json_object_get(task);
	for (;;) {
		const char *state = ovhc_jstr(t, "state"), *name = ovhc_jstr(t, "name");
		const char *desc = ovhc_jstr(t, "description");
		long long prog = 0;
		char line[512];
		ovhc_jint(t, "progress", &prog);
		snprintf(line, sizeof(line), "task %lld (%s): %s %lld%%%s%s", id,
		    name ? name : "?", state ? state : "?", prog, desc && desc[0] ? " - " : "",
		    desc && desc[0] ? desc : "");
		if (strcmp(line, last) != 0) {
			fprintf(stderr, "%s\n", line);
			snprintf(last, sizeof(last), "%s", line);
		}
		if (state == NULL) {
			json_object_put(t);
			return ovhc_unexpected(path, "a task with a state");
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
			ovhc_report(err, rc);
			json_object_put(t);
			return ovhc_exit_for(rc);
		}
		if (n == NULL || !json_object_is_type(n, json_type_object)) {
			json_object_put(n);
			json_object_put(t);
			return ovhc_unexpected(path, "a dedicatedCloud task");
		}
		json_object_put(t);
		t = n;
	}
}
