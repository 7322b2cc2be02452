/*
 * The canary's run: its steps in order, each timed, and the clean-up that
 * always follows (canary.h).
 */
#include "canary.h"

#include "config.h"
#include "enforce.h"
#include "exitcode.h"
#include "log.h"
#include "policy.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- */
/* the steps that act                                                */

/* The marker and the custom attribute's value: "vmcrypt-agent canary
 * TIME HOST:PID", TIME vCenter's (canary_leftovers compares it). */
static void
mark(struct canary *k, char *out, size_t len)
{
	char host[128] = "localhost";

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "vmcrypt-agent canary %s %s:%d", k->stamp, host, (int)getpid());
}

/* The custom attribute: defined for VirtualMachine if absent, then set. */
static int
set_attribute(struct canary *k, const char *value)
{
	struct custom_fields f;
	int rc;

	if (k->field_key < 0) {
		if ((rc = custom_fields_read(k->c, &f)) != 0)
			return rc;
		for (size_t i = 0; i < f.n; i++)
			if (strcmp(f.names[i], CANARY_MARK) == 0)
				k->field_key = f.keys[i];
		custom_fields_free(&f);
		vconn_reset(k->c);
	}
	if (k->field_key < 0) {
		if ((rc = vim_field_add(k->c, CANARY_MARK, "VirtualMachine", &k->field_key)) != 0)
			return rc;
		k->field_made = 1;
	}
	return vim_field_set(k->c, &k->vm, k->field_key, value);
}

static int
step_create(struct canary *k)
{
	struct step *st = canary_step(k, "create", STEP_DONE, "%s", k->name);
	struct vnewvm n = {
		.name = k->name, .version = "vmx-13", .guest_id = "otherGuest64",
		.folder = k->folder, .pool = k->pool, .datastore = k->datastore,
		.host = k->host, .datastore_name = k->datastore_name,
		.memory_mb = 128, .disk_kb = 1024, .extra_key = CANARY_MARK,
	};
	char value[256];
	const xnode *res;
	struct vmoref task;
	int rc;

	mark(k, value, sizeof(value));
	n.extra_value = value;
	if ((rc = vim_create_vm(k->c, &n, &task)) != 0 ||
	    (rc = vim_wait_task(k->c, &task, "CreateVM_Task", k->cfg->canary_timeout, &res)) != 0) {
		/* A task that ran out of time may still make the VM: the
		 * clean-up looks for it by name. */
		k->maybe_made = rc == V_ERR_TIMEOUT;
		return canary_fail_vc(k, st, "CreateVM_Task", rc);
	}
	if (res == NULL || xnode_text(res)[0] == '\0') {
		vconn_reset(k->c);
		return steps_fail(&k->steps, st, EXIT_FAIL, "CreateVM_Task succeeded without "
		    "naming the VM: look for %s in %s and delete it", k->name, k->folder_path);
	}
	snprintf(k->vm.type, sizeof(k->vm.type), "VirtualMachine");
	snprintf(k->vm.value, sizeof(k->vm.value), "%s", xnode_text(res));
	vconn_reset(k->c);
	if ((rc = set_attribute(k, value)) != 0)
		return canary_fail_vc(k, st, "the custom attribute " CANARY_MARK, rc);
	snprintf(st->detail, sizeof(st->detail), "%s (%s) in %.300s on %.200s, datastore %.200s: "
	    "hardware vmx-13, one 1 MB thin disk, powered off; marked %s", k->name,
	    k->vm.value, k->folder_path, k->host_name, k->datastore_name, CANARY_MARK);
	return 0;
}

/* Through the very code `run` uses: read, decide, key, plan, reconfigure. */
static int
step_encrypt(struct canary *k)
{
	struct step *st = canary_step(k, "encrypt", STEP_DONE, "%s", k->name);
	struct outcome o;
	char acts[128];

	enforce_vm(k->enf, k->cfg, k->c, k->vm.value, ENF_CRYPTO | ENF_REKEY | ENF_CANARY, 0, 0, &o);
	if (o.key.key_id[0]) {
		k->keys++;
		snprintf(k->key_id, sizeof(k->key_id), "%s", o.key.key_id);
		snprintf(k->provider, sizeof(k->provider), "%s", o.key.provider);
	}
	if (o.err != 0 && !o.issued) {
		snprintf(st->detail, sizeof(st->detail), "%s", o.msg);
		enum canary_kind kind = canary_kind(vconn_fault_type(k->c), o.msg,
		    vconn_fault_privilege(k->c));
		if (kind != CK_OTHER || o.kms)
			return canary_fail_vc(k, st, o.kms ? "GenerateKey" : "ReconfigVM_Task",
			    o.err);
		return steps_fail(&k->steps, st, EXIT_FAIL, "the agent could not bring the "
		    "canary to policy; vCenter's answer is above");
	}
	if (!o.issued) {
		snprintf(st->detail, sizeof(st->detail), "the agent decided %s: %s",
		    vm_state_name(o.state), o.reason);
		return steps_fail(&k->steps, st, EXIT_FAIL, "with this configuration the agent "
		    "would not encrypt a new VM in %s; see <exclusions> and <enforce> in %s",
		    k->folder_path, k->cfg->path);
	}
	policy_actions_str(o.actions, acts, sizeof(acts));
	int rc = vim_wait_task(k->c, &o.task, "ReconfigVM_Task", k->cfg->canary_timeout, NULL);
	if (rc != 0)
		return canary_fail_vc(k, st, "ReconfigVM_Task", rc);
	vconn_reset(k->c);
	snprintf(st->detail, sizeof(st->detail), "%s: %.300s; ReconfigVM_Task %s succeeded "
	    "(key %.200s from %.200s)", acts, o.reason, o.task.value, k->key_id[0] ? k->key_id :
	    "none", k->provider[0] ? k->provider : "the default provider");
	return 0;
}

static int
power_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	(void)obj;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], "runtime.powerState") == 0)
			snprintf(arg, 32, "%s", xnode_text(vals[i]));
	return 0;
}

/* The VM's power state now (1 on, 0 off, -1 unknown). */
static int
powered_on(struct canary *k)
{
	static const char *const paths[] = { "runtime.powerState" };
	struct vmoref vm = k->vm;
	char state[32] = "";
	int rc;

	rc = vim_retrieve_objects(k->c, &vm, 1, "VirtualMachine", paths, 1, power_cb, state);
	vconn_reset(k->c);
	return rc != 0 ? -1 : strcmp(state, "poweredOn") == 0;
}

static int
step_power(struct canary *k)
{
	struct step *st = canary_step(k, "power", STEP_DONE, "%s", k->name);
	struct vmoref task;
	int rc;

	if ((rc = vim_power(k->c, &k->vm, 1, &task)) != 0 ||
	    (rc = vim_wait_task(k->c, &task, "PowerOnVM_Task", k->cfg->canary_timeout, NULL)) != 0)
		return canary_fail_vc(k, st, "PowerOnVM_Task", rc);
	vconn_reset(k->c);
	if (powered_on(k) != 1)
		return steps_fail(&k->steps, st, EXIT_FAIL, "PowerOnVM_Task succeeded but the "
		    "VM is not powered on; see its events in vCenter");
	if ((rc = vim_power(k->c, &k->vm, 0, &task)) != 0 ||
	    (rc = vim_wait_task(k->c, &task, "PowerOffVM_Task", k->cfg->canary_timeout, NULL)) != 0)
		return canary_fail_vc(k, st, "PowerOffVM_Task", rc);
	vconn_reset(k->c);
	snprintf(st->detail, sizeof(st->detail), "powered on on %s and off again: the host "
	    "got the key", k->host_name);
	return 0;
}

/* Always, once something exists: the VM, then the attribute's definition
 * if this run made it. */
static void
step_delete(struct canary *k)
{
	struct step *st = canary_step(k, "delete", STEP_DONE, "%s", k->name);
	char what[300];

	if (k->vm.value[0] == '\0' && k->maybe_made)
		canary_find(k, k->name, &k->vm);	/* a create that ran out of time */
	snprintf(what, sizeof(what), "%s%s%s%s", k->name, k->vm.value[0] ? " (" : "",
	    k->vm.value, k->vm.value[0] ? ")" : "");
	if (k->vm.value[0] && canary_destroy(k, &k->vm) != 0) {
		k->left = 1;
		snprintf(st->detail, sizeof(st->detail), "cannot delete %s in %s: %s", what,
		    k->folder_path, vconn_error(k->c));
		steps_fail(&k->steps, st, k->steps.exit_code ? k->steps.exit_code :
		    EXIT_CANARY_LEFT, "delete the VM %s in %s with the vSphere Client; the next "
		    "check --canary deletes it too (it carries the %s marker)", k->name,
		    k->folder_path, CANARY_MARK);
		vconn_reset(k->c);
		return;
	}
	if (k->field_made && vim_field_remove(k->c, k->field_key) == 0)
		k->field_made = 0;
	vconn_reset(k->c);
	snprintf(st->detail, sizeof(st->detail), "%s deleted%s", what, k->field_made ?
	    "; the custom attribute " CANARY_MARK " could not be removed" : "");
	k->vm.value[0] = '\0';
}

/* ---------------------------------------------------------------- */
/* the run                                                           */

/* A signal arrived between two steps: said, and the run stops. */
static int
stopped(struct canary *k)
{
	if (k->stop == NULL || *k->stop == 0)
		return 0;
	k->interrupted = (int)*k->stop;
	struct step *st = canary_step(k, "interrupted", STEP_FAILED, "%s: stopping; "
	    "what the canary created is deleted now", k->interrupted == SIGINT ? "SIGINT" :
	    "SIGTERM");
	steps_fail(&k->steps, st, 128 + k->interrupted, "nothing to fix; run it again");
	return 1;
}

/* The encryption storage policy, resolved as `run` resolves it. */
static int
step_policy(struct canary *k)
{
	struct step *st = canary_step(k, "policy", STEP_DONE, "%s",
	    k->cfg->policy_name ? k->cfg->policy_name : k->cfg->policy_id);
	char err[512];

	if (enforcer_configure(k->enf, k->cfg, k->c, err, sizeof(err)) != 0) {
		snprintf(st->detail, sizeof(st->detail), "%s", err);
		vconn_reset(k->c);
		return steps_fail(&k->steps, st, EXIT_FAIL, "vmcrypt-agent policy ensure creates "
		    "it");
	}
	vconn_reset(k->c);
	snprintf(st->detail, sizeof(st->detail), "%.300s (%s), an encryption policy",
	    enforcer_policy_name(k->enf), enforcer_policy_id(k->enf));
	return 0;
}

static int
step_verify(struct canary *k)
{
	return canary_verify(k, enforcer_policy_id(k->enf));
}

static int
step_power_if(struct canary *k)
{
	return k->power ? step_power(k) : 0;
}

/* The steps in order; each either succeeds or fails its step. */
static int (*const run_steps[])(struct canary *) = {
	canary_leftovers, canary_place, canary_privileges, step_policy, step_create,
	step_encrypt, step_verify, step_power_if,
};

int
canary_run(struct canary *k)
{
	char host[64] = "localhost", ts[32];
	time_t now = time(NULL);

	k->enf = enforcer_new();
	k->field_key = -1;
	canary_clock(k);
	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = '\0';
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", gmtime(&now));
	snprintf(k->name, sizeof(k->name), CANARY_PREFIX "%s-%s", host, ts);
	if (vim_current_time(k->c, k->stamp, sizeof(k->stamp)) != 0)
		strftime(k->stamp, sizeof(k->stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	vconn_reset(k->c);
	/* A signal is looked at between two steps: the call under way ends
	 * first (a task is followed to its end), so what it made is known. */
	for (size_t i = 0; i < sizeof(run_steps) / sizeof(run_steps[0]); i++)
		if (run_steps[i](k) != 0 || stopped(k))
			break;
	/* Whatever happened, nothing is left behind; a second signal does
	 * not stop this. */
	if (k->vm.value[0] || k->field_made || k->maybe_made)
		step_delete(k);
	canary_step_end(k);
	enforcer_free(k->enf);
	k->enf = NULL;
	return k->steps.exit_code;
}
