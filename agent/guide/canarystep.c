/*
 * The canary's report, shared by its steps (canary.h): each step timed as
 * it begins and ends, and a failure from vCenter classified into its
 * kind, its exit code and its fix.
 */
#include "canary.h"

#include "config.h"
#include "exitcode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* what went wrong                                                   */

enum canary_kind
canary_kind(const char *fault_type, const char *msg, const char *privilege)
{
	static const char *const host_key[] = {
		"required key was not found", "KeyMissingOnHost", "is locked",
		"keys are missing", "key is not available", "Key not available",
	};
	static const char *const no_provider[] = {
		"No default key provider", "No default provider", "no default key provider",
		"Cannot generate key", "cannot generate key", "KMS cluster",
	};
	const char *f = fault_type ? fault_type : "", *m = msg ? msg : "";

	if ((privilege && *privilege) || strcmp(f, "NoPermission") == 0)
		return CK_PRIVILEGE;
	if (strcmp(f, "EncryptionKeyRequired") == 0)
		return CK_HOST_KEY;
	for (size_t i = 0; i < sizeof(host_key) / sizeof(host_key[0]); i++)
		if (strstr(m, host_key[i]) != NULL)
			return CK_HOST_KEY;
	if (strcmp(f, "CryptoKeyResult") == 0)
		return CK_NO_PROVIDER;
	for (size_t i = 0; i < sizeof(no_provider) / sizeof(no_provider[0]); i++)
		if (strstr(m, no_provider[i]) != NULL)
			return CK_NO_PROVIDER;
	return CK_OTHER;
}

int
canary_exit(enum canary_kind k)
{
	switch (k) {
	case CK_HOST_KEY:
		return EXIT_CANARY_HOST_KEY;
	case CK_PRIVILEGE:
		return EXIT_CANARY_PRIVILEGE;
	case CK_NO_PROVIDER:
		return EXIT_CANARY_NO_PROVIDER;
	default:
		return EXIT_FAIL;
	}
}

int
canary_fail_vc(struct canary *k, struct step *st, const char *doing, int rc)
{
	const char *ft = vconn_fault_type(k->c), *msg = vconn_error(k->c);
	const char *priv = vconn_fault_privilege(k->c);
	enum canary_kind kind = canary_kind(ft, msg, priv);

	snprintf(st->detail, sizeof(st->detail), "%s: %s", doing, msg);
	switch (kind) {
	case CK_HOST_KEY:
		return steps_fail(&k->steps, st, canary_exit(kind), "the host %s could not get "
		    "the key from the KMS: vCenter gives each host the keys of its VMs, "
		    "from the key provider; check that the key provider's Connection Status "
		    "is Normal (vmcrypt-agent check) and that the KMS answers vCenter and "
		    "the hosts (on OVHcloud Hosted Private Cloud, the KMS's IP must be "
		    "registered: vmcrypt-agent ovh register-kms)",
		    k->host_name[0] ? k->host_name : "of the canary");
	case CK_PRIVILEGE:
		return steps_fail(&k->steps, st, canary_exit(kind), "grant %s to %s (a role on "
		    "vCenter's root, propagated), then run check --canary again",
		    priv && *priv ? priv : "the privilege named above", k->cfg->vc_user);
	case CK_NO_PROVIDER:
		return steps_fail(&k->steps, st, canary_exit(kind), "vCenter has no usable "
		    "default key provider: vmcrypt-agent kms setup adds the KMS and makes it "
		    "the default (vmcrypt-agent check says what is missing)");
	default:
		return steps_fail(&k->steps, st, rc == V_ERR_TIMEOUT ? EXIT_FAIL : vim_exit_code(rc),
		    rc == V_ERR_TIMEOUT ? "the task is still running in vCenter: see it in the "
		    "vSphere Client (Recent Tasks); <canary timeout> sets how long to wait" :
		    "see vCenter's message above; the SOAP trace named below has the call");
	}
}

/* ---------------------------------------------------------------- */
/* time                                                              */

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The step under way has ended: its time. */
void
canary_step_end(struct canary *k)
{
	double t = now_s();
	if (k->steps.n > 0 && k->steps.n <= STEPS_MAX)
		k->secs[k->steps.n - 1] = t - k->t_mark;
	k->t_mark = t;
}

struct step *
canary_step(struct canary *k, const char *name, enum step_result r, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	canary_step_end(k);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return steps_add(&k->steps, name, r, "%s", detail);
}

void
canary_clock(struct canary *k)
{
	k->t_mark = now_s();
}
