/*
 * `kms setup --wrapping-rotation-days N`: vSphere 9.0 wraps a standard key
 * provider's keys with a wrapping key that vCenter rotates by itself every
 * N days (KmipServerSpecWrappingRotationIntervalKeySpec, 30 to 3650;
 * KmipClusterInfo.keyInfo says the interval and the last rotation).  Read
 * first, changed only if it differs, read back.  Before 9.0 vCenter has no
 * such setting, and the run is refused before it changes anything.
 */
#include "kmswrap.h"

#include "config.h"
#include "exitcode.h"
#include "kms.h"
#include "kmsinfo.h"
#include "kmssetup.h"
#include "vim.h"

#include <stdio.h>
#include <string.h>

#define STEP	"wrapping-rotation"

int
kmswrap_available(struct setup *s, struct vconn *c)
{
	const char *v = vsession_server_api(vconn_session(c));
	const char *host = strstr(s->cfg->vc_url, "://");
	char sv[32], hv[256];

	if (s->wrap_days == 0 || vim_version_cmp(v, KMSWRAP_API) >= 0)
		return 0;
	kms_release_of(v, sv, sizeof(sv));
	snprintf(hv, sizeof(hv), "%s", host ? host + 3 : s->cfg->vc_url);
	hv[strcspn(hv, "/")] = '\0';
	struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "not available: vCenter %s "
	    "speaks API %s; wrapping-key rotation needs vSphere 9.0", hv, sv);
	return steps_fail(&s->steps, st, EXIT_FAIL, "run kms setup without "
	    "--wrapping-rotation-days on this vCenter (nothing was changed), or upgrade it "
	    "to vSphere 9.0");
}

/* What the provider's wrapping key does now, in words. */
static void
describe(const struct kms_wrapping *w, char *out, size_t len)
{
	switch (w->kind) {
	case KMS_WRAP_ROTATING:
		if (w->rotation_days > 0)
			snprintf(out, len, "rotates every %d days, last rotation %s",
			    w->rotation_days, w->last_rotation[0] ? w->last_rotation : "never");
		else
			snprintf(out, len, "rotates at vCenter's default interval, last "
			    "rotation %s", w->last_rotation[0] ? w->last_rotation : "never");
		break;
	case KMS_WRAP_FIXED:
		snprintf(out, len, "a fixed wrapping key %s (set %s), never rotated by "
		    "vCenter", w->key_id, w->configured[0] ? w->configured : "at an unknown time");
		break;
	case KMS_WRAP_OTHER:
		snprintf(out, len, "a wrapping key of a kind this agent does not know (%s)",
		    w->type);
		break;
	default:
		snprintf(out, len, "no wrapping key configured");
	}
}

static int
failed(struct setup *s, struct vconn *c, const char *what)
{
	struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "%s: %s", what,
	    vconn_error(c));
	if (strcmp(vconn_fault_type(c), "NoPermission") == 0)
		return steps_fail(&s->steps, st, EXIT_FAIL, "the account %s lacks "
		    "Cryptographer.ManageKeyServers: grant it on the vCenter root, then run "
		    "kms setup again", s->cfg->vc_user);
	return steps_fail(&s->steps, st, EXIT_FAIL, "in the vSphere Client: Key Providers > "
	    "%s > Edit: the wrapping key's rotation interval; then run kms setup again",
	    s->cfg->kms_cluster);
}

int
kmswrap_step(struct setup *s, struct vconn *c)
{
	const char *cluster = s->cfg->kms_cluster;
	struct kms_wrapping w;
	char was[512], now[512];
	int found = 0;

	if (s->wrap_days == 0)
		return 0;
	if (vim_kms_wrapping(c, cluster, &w, &found) != 0)
		return failed(s, c, "reading the key provider");
	if (!found && s->dry_run) {
		steps_add(&s->steps, STEP, STEP_WOULD, "'%s': would have its wrapping key "
		    "rotate every %d days, once registered", cluster, s->wrap_days);
		return 0;
	}
	describe(&w, was, sizeof(was));
	if (found && w.kind == KMS_WRAP_ROTATING && w.rotation_days == s->wrap_days) {
		steps_add(&s->steps, STEP, STEP_UNCHANGED, "'%s': the wrapping key %s",
		    cluster, was);
		return 0;
	}
	if (s->dry_run) {
		steps_add(&s->steps, STEP, STEP_WOULD, "'%s': would have the wrapping key rotate "
		    "every %d days (now: %s)", cluster, s->wrap_days, was);
		return 0;
	}
	if (!found) {
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "'%s' is not a key "
		    "provider in vCenter", cluster);
		return steps_fail(&s->steps, st, EXIT_FAIL, "run kms setup again: its "
		    "key-provider step registers it");
	}
	if (vim_kms_set_rotation(c, cluster, s->wrap_days) != 0)
		return failed(s, c, "UpdateKmipServer");
	/* Read back: what vCenter keeps is what counts. */
	if (vim_kms_wrapping(c, cluster, &w, &found) != 0)
		return failed(s, c, "reading the key provider back");
	describe(&w, now, sizeof(now));
	if (!found || w.kind != KMS_WRAP_ROTATING || w.rotation_days != s->wrap_days) {
		struct step *st = steps_add(&s->steps, STEP, STEP_FAILED, "'%s': vCenter "
		    "accepted a rotation every %d days but now reports: %s", cluster,
		    s->wrap_days, now);
		return steps_fail(&s->steps, st, EXIT_FAIL, "look at Key Providers > %s in the "
		    "vSphere Client; vmcrypt-agent kms setup --trace-soap DIR shows the exchange",
		    cluster);
	}
	steps_add(&s->steps, STEP, STEP_DONE, "'%s': the wrapping key %s (was: %s)", cluster,
	    now, was);
	return 0;
}
