/*
 * The OVHcloud API calls behind `vmcrypt-agent ovh ...` (cmd/ovhcmd.c): the
 * client with its credentials, the Hosted Private Cloud services, the
 * registered KMS entries and the tasks that change them.  Each prints its
 * own one-line error with what to do, and returns an exit code (exitcode.h).
 */
#ifndef VMCRYPT_OVHCALLS_H
#define VMCRYPT_OVHCALLS_H

#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

struct ovh_client;

struct ovhc_opts {
	const char	*service, *kms_ip, *thumbprint, *fetch, *description;
	const char	*endpoint, *ca_file, *conf, *redirect;
	int		 update, dry_run, json, poll, wait, timeout;
};

/* The exit code for an ovh_call() error (ovh.h OVH_E_*). */
int		 ovhc_exit_for(int rc);
/* err on stderr, with what to do about that kind of refusal. */
void		 ovhc_report(const char *err, int rc);
/* Credentials and a client (the clock synchronised); needs_ck: the calls
 * are signed.  *base: the endpoint's URL. */
int		 ovhc_connect_api(const struct ovhc_opts *, int needs_ck,
		    struct ovh_client **out, char *base, size_t baselen);
/* call's answer is not what: said (is this the OVHcloud API?); EXIT_CONNECT. */
int		 ovhc_unexpected(const char *call, const char *what);
/* The string / integer member k of o, if it is one. */
const char	*ovhc_jstr(json_object *o, const char *k);
int		 ovhc_jint(json_object *o, const char *k, long long *out);
/* GET /dedicatedCloud: *out the array of service names. */
int		 ovhc_list_services(struct ovh_client *, json_object **out);
void		 ovhc_print_services(FILE *, json_object *list);
/* name among list, or EXIT_OVH_NO_SERVICE (said, with the list). */
int		 ovhc_find_service(json_object *list, const char *name);
/* A path segment from user input: the API's names are [A-Za-z0-9._-]. */
int		 ovhc_safe_segment(const char *s);
/* The service's vmEncryption state. */
int		 ovhc_get_state(struct ovh_client *, const char *svc, char *state, size_t len);
/* Every registered KMS entry, as an array of objects. */
int		 ovhc_list_kms(struct ovh_client *, const char *svc, json_object **out);
json_object	*ovhc_kms_by_ip(json_object *all, const char *ip);
void		 ovhc_print_kms(FILE *, json_object *entry);
/* Follows a dedicatedCloud task to its end; *final its last state. */
int		 ovhc_follow_task(struct ovh_client *, const char *svc, json_object *task,
		    const struct ovhc_opts *, json_object **final);

#endif
