/*
 * `policy ensure` (policyensure.h).  A policy of the configured name that
 * is not an encryption policy is reported, never changed: it may be in
 * use, and what it should be is the administrator's call.  A created
 * policy is read back through the same resolution the agent uses, so
 * "created" means the agent will find it and accept it.
 */
#include "policyensure.h"

#include "config.h"
#include "encpolicy.h"
#include "exitcode.h"
#include "pbm.h"
#include "steps.h"
#include "vim.h"

#include <stdio.h>

#define STEP	"encryption-policy"

int
policyensure_run(struct vconn *c, const struct config *cfg, int dry_run,
    struct steps *s, struct encpolicy *out)
{
	struct encpolicy ep;
	struct step *st;
	char err[1024];
	int rc = encpolicy_resolve(c, cfg, &ep, err, sizeof(err));

	snprintf(out->name, sizeof(out->name), "%s", cfg->policy_name ? cfg->policy_name :
	    cfg->policy_id ? "" : POLICYENSURE_DEFAULT);
	out->id[0] = '\0';
	if (rc == 0) {
		snprintf(out->id, sizeof(out->id), "%s", ep.id);
		steps_add(s, STEP, STEP_UNCHANGED, "\"%s\" (%s) exists and is an encryption "
		    "policy", ep.name, ep.id);
		return s->exit_code = EXIT_OK;
	}
	if (rc == ENCPOLICY_NOT_ENCRYPTION) {
		snprintf(out->id, sizeof(out->id), "%s", ep.id);
		st = steps_add(s, STEP, STEP_FAILED, "%s", err);
		steps_fail(s, st, EXIT_FAIL, "the policy is left as it is: name an encryption "
		    "policy in <encryption-policy> in %s, or rename that policy in vCenter and "
		    "run policy ensure again", cfg->path);
		return s->exit_code;
	}
	if (rc != ENCPOLICY_NOT_FOUND) {
		st = steps_add(s, STEP, STEP_FAILED, "%s", err);
		steps_fail(s, st, vim_exit_code(V_ERR_FAULT), "%s", "");
		return s->exit_code;
	}
	if (out->name[0] == '\0') {
		st = steps_add(s, STEP, STEP_FAILED, "%s", err);
		steps_fail(s, st, EXIT_FAIL, "a policy is created by name, not id: give "
		    "<encryption-policy name=\"...\"> in %s", cfg->path);
		return s->exit_code;
	}
	if (dry_run) {
		steps_add(s, STEP, STEP_WOULD, "\"%s\" does not exist: would create it with the "
		    "VM Encryption data-service rule", out->name);
		return s->exit_code = EXIT_OK;
	}
	if ((rc = pbm_create_encryption_policy(c, out->name, "Created by vmcrypt-agent: "
	    "VM Encryption (as the default VM Encryption Policy)", out->id,
	    sizeof(out->id))) != 0) {
		st = steps_add(s, STEP, STEP_FAILED, "%s", vconn_error(c));
		steps_fail(s, st, vim_exit_code(rc), "the account needs StorageProfile.Update "
		    "(Profile-driven storage update) on the vCenter root");
		return s->exit_code;
	}
	/* Read back: it must now resolve, and be an encryption policy. */
	if (encpolicy_resolve(c, cfg, &ep, err, sizeof(err)) != 0) {
		st = steps_add(s, STEP, STEP_FAILED, "created %s, but reading it back: %.700s",
		    out->id, err);
		steps_fail(s, st, EXIT_FAIL, "%s", "");
		return s->exit_code;
	}
	steps_add(s, STEP, STEP_DONE, "created \"%s\" (%s): an encryption policy", ep.name,
	    ep.id);
	return s->exit_code = EXIT_OK;
}
