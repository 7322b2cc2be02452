/*
 * The engine's work on one VM and what its results mean (jobs.h).
 */
#include "jobs.h"

#include "backoff.h"
#include "core.h"
#include "enforce.h"
#include "health.h"
#include "keyage.h"
#include "kmsinfo.h"
#include "record.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "notes.h"
#include "pace.h"
#include "pool.h"
#include "sched.h"
#include "tasks.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* audit events                                                      */

struct audit_job {
	char		 vm[96];
	char		 msg[1024];
	const char	*by;
};

/* One audit event on the VM, naming the agent that acted (with several
 * agents on one vCenter, the leader). */
static void
audit(struct vconn *c, const char *vm, const char *msg, const char *by)
{
	struct vmoref obj;
	char m[1600];

	snprintf(obj.type, sizeof(obj.type), "VirtualMachine");
	snprintf(obj.value, sizeof(obj.value), "%s", vm);
	if (by != NULL && by[0] != '\0')
		snprintf(m, sizeof(m), "%s (agent %s)", msg, by);
	else
		snprintf(m, sizeof(m), "%s", msg);
	if (vim_log_user_event(c, &obj, m) != 0)
		log_warnx("%s: LogUserEvent failed: %s", vm, vconn_error(c));
}

static void
audit_work(struct vconn *c, void *arg)
{
	struct audit_job *j = arg;
	audit(c, j->vm, j->msg, j->by);
}

/* Who acted, in the audit events: with several agents on one vCenter,
 * the leader. */
static const char *
acting_agent(const struct core *c)
{
	return c->lease->enabled ? c->lease->identity : NULL;
}

void
jobs_audit(struct jobs *js, const char *vm, const char *msg)
{
	if (js->c->dry_run)
		return;
	struct audit_job *j = xcalloc(1, sizeof(*j));
	snprintf(j->vm, sizeof(j->vm), "%s", vm);
	snprintf(j->msg, sizeof(j->msg), "%s", msg);
	j->by = acting_agent(js->c);
	if (pool_submit(js->c->pool, audit_work, free, j) != 0)
		free(j);
}

/* The audit event's words for a state the agent leaves a VM in. */
static void
refusal_text(enum vm_state s, const char *reason, char *out, size_t len)
{
	if (s == VS_KEY_MISSING)
		snprintf(out, len, "vmcrypt-agent: key-missing, leaving this VM alone: %s",
		    reason ? reason : "");
	else
		snprintf(out, len, "vmcrypt-agent: not encrypting (%s): %s", vm_state_name(s),
		    reason ? reason : "");
}

void
jobs_key_seen(struct jobs *js, struct vmrec *r)
{
	char m[1024];
	int was = r->logged != NULL && strcmp(r->logged, vm_state_name(VS_KEY_MISSING)) == 0;

	if (r->state == VS_KEY_MISSING && !was) {
		log_warnx("VM %s (%s): key-missing: %s", vm_name(r), r->moref,
		    r->reason ? r->reason : "");
		refusal_text(r->state, r->reason, m, sizeof(m));
		jobs_audit(js, r->moref, m);
		r->logged = vm_state_name(VS_KEY_MISSING);
	} else if (r->state != VS_KEY_MISSING && was) {
		log_info("VM %s (%s): its keys are available again (%s)", vm_name(r), r->moref,
		    vm_state_name(r->state));
		r->logged = NULL;
	}
}

/* ---------------------------------------------------------------- */
/* enforcing one VM                                                  */

struct enforce_job {
	struct jobs	*js;
	struct cfgref	*cfg;
	char		 vm[96];
	enum crypto_gate gate;
	unsigned	 allow;		/* ENF_* */
	int		 check_running;
	int		 audit;
	int		 dry_run;
	const char	*logged;	/* static vm_state_name(), NULL none */
	struct outcome	 out;
};

/* States worth an audit event when the agent will not encrypt. */
static int
refusal(enum vm_state s)
{
	return s == VS_HW_TOO_OLD || s == VS_BLOCKED || s == VS_DEFERRED ||
	    s == VS_EXCLUDED || s == VS_TEMPLATE || s == VS_WRONG_PROVIDER ||
	    s == VS_VSAN_ENCRYPTED || s == VS_KEY_MISSING || s == VS_VTPM_ONLY;
}

static void
enforce_work(struct vconn *c, void *arg)
{
	struct enforce_job *j = arg;
	struct outcome *o = &j->out;

	enforce_vm(j->js->c->enf, cfgref_get(j->cfg), c, j->vm, j->allow, j->dry_run,
	    j->check_running, o);
	/* An issued task is followed once the loop has counted it. */
	if (!o->issued && j->audit && !j->dry_run && o->err == 0 && !o->gone &&
	    refusal(o->state) && (j->logged == NULL ||
	    strcmp(j->logged, vm_state_name(o->state)) != 0)) {
		char m[1024];
		refusal_text(o->state, o->reason, m, sizeof(m));
		audit(c, j->vm, m, acting_agent(j->js->c));
		j->logged = vm_state_name(o->state);
	}
	/* Its key is back: the next time it goes missing is said again. */
	if (o->err == 0 && !o->gone && o->state != VS_KEY_MISSING &&
	    j->logged != NULL && strcmp(j->logged, vm_state_name(VS_KEY_MISSING)) == 0)
		j->logged = NULL;
}

/*
 * A failure of the KMS is the KMS's, not the VM's: once it has tripped
 * the breaker, the VM waits in PAUSED for the breaker's probe and is
 * re-queued when the breaker closes, like every VM that needs a key.
 * Backing it off on its own clock instead doubled its wait with every
 * failure of a flaky KMS that fell on its turn (5, 10, 20 ... 320 s)
 * while the KMS itself had long worked again.  Anything else backs off.
 */
static void
failed_on(struct jobs *js, struct vmrec *r, int kms, const char *why)
{
	if (kms && health_paused(js->health)) {
		log_info("VM %s (%s): waits for the KMS (%s)", vm_name(r), r->moref, why);
		vm_set_sched(js->c->vms, r, VM_PAUSED, why);
		return;
	}
	sched_backoff(js->sched, r, why);
}

/* The job failed before any task: said, then backed off (or paused). */
static void
enforce_failed(struct jobs *js, struct vmrec *r, const struct enforce_job *j)
{
	const struct outcome *o = &j->out;

	vm_decide(js->c->vms, r, o);
	if (o->actions)
		metrics_count(js->c->met, M_REFUSED);
	log_warnx("VM %s (%s): %s", vm_name(r), r->moref, o->msg);
	if (o->kms)
		health_tripped(js->health, o->msg, j->gate == CRYPTO_PROBE);
	failed_on(js, r, o->kms, o->kms ? "KMS failure" : "failed");
	vm_set_pend(js->c->vms, r, -1, NULL);
}

/* A task was started (or one already running adopted): followed now. */
static void
enforce_issued(struct jobs *js, struct vmrec *r, const struct enforce_job *j)
{
	const struct outcome *o = &j->out;
	char acts[128];

	vm_decide(js->c->vms, r, o);	/* what the task fixes */
	policy_actions_str(o->actions, acts, sizeof(acts));
	r->probe = j->gate == CRYPTO_PROBE && !o->adopted && (o->actions & ACT_KMS);
	r->task_actions = o->actions;
	r->origin = !o->adopted ? TASK_OURS : o->adopted_ours ? TASK_ADOPTED_OURS :
	    TASK_ADOPTED_OTHER;
	free(r->task);
	r->task = xstrdup(o->task.value);
	free(r->task_key);
	r->task_key = o->key.key_id[0] && !o->adopted ? xstrdup(o->key.key_id) : NULL;
	vm_set_sched(js->c->vms, r, VM_TASK, o->adopted ? "a task already runs" : "task issued");
	if (js->record != NULL)
		record_issued(js->record, r, o, acts);
	if (!o->adopted) {
		r->reconfigs++;
		js->reconfigs++;
		log_info("VM %s (%s): %s: %s; ReconfigVM_Task %s", vm_name(r), r->moref, acts,
		    o->reason, o->task.value);
	} else {
		log_info("VM %s (%s): %s: %s; %s %s is already running on it: following it, "
		    "then looking again", vm_name(r), r->moref, acts, o->reason,
		    o->adopted_ours ? "our ReconfigVM_Task" : "another client's task",
		    o->task.value);
	}
}

/* Decided and nothing issued: the VM is where it will stay for now. */
static void
enforce_decided(struct jobs *js, struct vmrec *r, const struct enforce_job *j)
{
	const struct outcome *o = &j->out;
	char acts[128];
	int changed = !r->known || r->state != o->state || r->reason == NULL ||
	    strcmp(r->reason, o->reason) != 0;

	vm_decide(js->c->vms, r, o);
	vm_set_pend(js->c->vms, r, -1, NULL);
	sched_settled(js->sched, r);
	policy_actions_str(o->actions, acts, sizeof(acts));
	if (j->dry_run && o->actions)
		log_info("dry-run: VM %s (%s): would %s: %s", vm_name(r), r->moref, acts,
		    o->reason);
	else if (!changed)
		log_debug("VM %s (%s): %s (unchanged)", vm_name(r), r->moref,
		    vm_state_name(o->state));
	else if (o->state == VS_COMPLIANT)
		log_info("VM %s (%s): compliant", vm_name(r), r->moref);
	else if (o->state == VS_KEY_MISSING)
		log_warnx("VM %s (%s): %s: %s", vm_name(r), r->moref, vm_state_name(o->state),
		    o->reason);
	else
		log_info("VM %s (%s): %s: %s", vm_name(r), r->moref, vm_state_name(o->state),
		    o->reason);
	if (o->state == VS_COMPLIANT || !o->actions)
		r->attempts = 0;
	/* It needs a key and the KMS is held: it waits for the breaker.  If
	 * the breaker closed while this job ran, the release has already
	 * re-queued the paused VMs: this one is looked at again now rather
	 * than parked with nothing left to wake it. */
	if (j->gate == CRYPTO_HELD && o->held && o->state != VS_COMPLIANT && !r->dirty) {
		if (health_paused(js->health)) {
			vm_set_sched(js->c->vms, r, VM_PAUSED, "needs a key; the KMS is unusable");
			return;
		}
		vm_done(js->c->vms, r, "decided while the KMS was held");
		vm_enqueue(js->c->vms, r, "the KMS is usable again");
		return;
	}
	vm_done(js->c->vms, r, "decided");
	jobs_age_due(js, r, o->state, o->code, 0);
}

void
jobs_age_due(struct jobs *js, struct vmrec *r, enum vm_state s, const char *code,
    double key_since)
{
	int due = s == VS_REKEY_DUE && code != NULL && strcmp(code, "key-age") == 0;

	if (js->pace == NULL)
		return;
	if (due && js->c->dry_run) {
		if (!r->age_told)
			log_info("dry-run: VM %s (%s): would be rekeyed in its turn: %s",
			    vm_name(r), r->moref, r->reason ? r->reason : "");
		r->age_told = 1;
	} else if (due) {
		pace_add(js->pace, r);
	} else if (s == VS_COMPLIANT && key_since > 0) {
		pace_key_due(js->pace, r, key_since);	/* a dry run looks too */
	}
}

static void
enforce_done(void *arg)
{
	struct enforce_job *j = arg;
	struct jobs *js = j->js;
	const struct outcome *o = &j->out;
	struct vmrec *r = vm_find(js->c->vms, j->vm, 1);

	sched_job_ended(js->sched);
	r->logged = j->logged;
	if (j->gate == CRYPTO_PROBE && !(o->issued && !o->adopted && (o->actions & ACT_KMS)))
		health_probe_done(js->health);	/* the probe did not test the KMS */
	if (o->gone) {
		log_info("VM %s: no longer exists", j->vm);
		vm_remove(js->c->vms, r);
	} else if (o->fenced) {
		/* Lost the lease mid-job: nothing changed; the VM waits in the
		 * queue for this agent to lead again (or the leader's scan). */
		log_info("VM %s (%s): %s", vm_name(r), r->moref, o->msg);
		vm_done(js->c->vms, r, "not the leader");
		vm_enqueue(js->c->vms, r, "left for the leader");
	} else {
		if (o->err == 0 || o->issued)
			r->start_scan = 0;	/* looked at (and any old task found) */
		if (o->err != 0 && !o->issued)
			enforce_failed(js, r, j);
		else if (o->issued)
			enforce_issued(js, r, j);
		else
			enforce_decided(js, r, j);
	}
	cfgref_drop(j->cfg);
	free(j);
}

int
jobs_submit_enforce(void *arg, struct vmrec *r, enum crypto_gate gate)
{
	struct jobs *js = arg;
	struct enforce_job *j = xcalloc(1, sizeof(*j));

	j->js = js;
	j->cfg = cfgref_hold(js->c->cfg);
	snprintf(j->vm, sizeof(j->vm), "%s", r->moref);
	j->gate = gate;
	j->allow = (gate != CRYPTO_HELD ? ENF_CRYPTO : 0) | (r->rekeyed ? 0 : ENF_REKEY) |
	    (r->age_slot ? ENF_AGE_REKEY : 0);
	r->age_slot = 0;		/* a turn is one look */
	/* A task the previous run left running can only be met right after
	 * start: before the first scan is done, or on a VM that scan found.
	 * Later, every task on a VM is this run's. */
	j->check_running = !js->scanned || r->start_scan;
	j->audit = r->audit;
	j->dry_run = js->c->dry_run;
	j->logged = r->logged;
	int rc = pool_submit(js->c->pool, enforce_work, enforce_done, j);
	if (rc != 0) {
		cfgref_drop(j->cfg);
		free(j);
	}
	return rc;
}

/* ---------------------------------------------------------------- */
/* a followed task ended                                             */

static void
task_failed(struct jobs *js, struct vmrec *r, const struct note *n, const char *acts)
{
	char m[900];

	metrics_task_failed(js->c->met, n->fault);
	if (strcmp(n->fault, "ConcurrentAccess") == 0 && r->attempts + 1 < RETRY_ATTEMPTS) {
		/* changeVersion guarded it: someone changed the VM between our
		 * read and our reconfigure.  Nothing was applied; read it again
		 * now and decide from what it is. */
		r->attempts++;
		log_info("VM %s (%s): changed by someone else before %s ran (%s: %s); "
		    "reading it again", vm_name(r), r->moref, acts, n->task, n->fault);
		vm_requeue(js->c->vms, r, "ConcurrentAccess");
		return;
	}
	log_error("VM %s (%s): %s failed (%s): %s%s%s", vm_name(r), r->moref, acts,
	    n->task, n->fault[0] ? n->fault : "error", n->msg[0] ? ": " : "", n->msg);
	snprintf(m, sizeof(m), "vmcrypt-agent: %s failed [%s]: %.300s (was: %.200s)", acts,
	    n->task, n->msg, r->reason && r->reason[0] ? r->reason : "not compliant");
	jobs_audit(js, r->moref, m);
	int kms = enforce_is_kms_error(n->fault, n->msg) && (r->task_actions & ACT_KMS);
	if (kms)
		health_tripped(js->health, n->msg, r->probe);
	failed_on(js, r, kms, kms ? "its task failed: KMS" : "its task failed");
}

void
jobs_task_done(struct jobs *js, const struct note *n)
{
	struct vmrec *r = vm_find(js->c->vms, n->vm, 1);
	char acts[128], m[900];

	tasks_ended(js->c->tasks);
	vm_set_pend(js->c->vms, r, -1, NULL);
	policy_actions_str(r->task_actions, acts, sizeof(acts));
	if (r->sched != VM_TASK)
		return;			/* dropped meanwhile (stopping) */
	if (r->origin == TASK_ADOPTED_OTHER) {
		/* Not ours: nothing to count or audit; decide afresh. */
		log_info("VM %s (%s): task %s ended (%s); looking again", vm_name(r), r->moref,
		    n->task, n->ok ? "success" : "error");
		vm_requeue(js->c->vms, r, "another client's task ended");
		return;
	}
	char *key = r->task_key;
	r->task_key = NULL;
	if (!n->ok) {
		free(key);
		task_failed(js, r, n, acts);
		return;
	}
	metrics_count(js->c->met, M_REMEDIATION_OK);
	r->attempts = 0;
	r->done_at = kms_parse_time(n->time);
	if (r->done_at == (time_t)-1)
		r->done_at = 0;
	/* The key it put on is as old as this completion (the look that
	 * confirms it reads its age from the book). */
	if (key != NULL) {
		double since = (double)(r->done_at ? r->done_at : time(NULL));
		keybook_note(enforcer_keybook(js->c->enf), key, since, KEYAGE_SRC_AGENT);
		if (js->pace != NULL)
			pace_key_due(js->pace, r, since);
	}
	free(key);
	log_info("VM %s (%s): %s done (%s)", vm_name(r), r->moref, acts, n->task);
	if (r->task_actions & ACT_KMS)
		health_worked(js->health);
	/* One audit event per remediation, with what it found. */
	snprintf(m, sizeof(m), "vmcrypt-agent: %s completed [%s] (was: %.600s)", acts, n->task,
	    r->reason && r->reason[0] ? r->reason : "not compliant");
	jobs_audit(js, r->moref, m);
	/* Level-triggered: read it again to confirm, with the others that
	 * finished about now (entering VM_CONFIRM batches it). */
	r->ok_ms = js->c->now(js->c);
	vm_set_sched(js->c->vms, r, VM_CONFIRM, "its task succeeded");
}

/* Entering VM_TASK: the task is followed until it ends (tasks.c). */
static void
enter_task(void *arg, struct vmrec *r, const char *why)
{
	struct jobs *js = arg;
	struct vmoref task;

	(void)why;
	snprintf(task.type, sizeof(task.type), "Task");
	snprintf(task.value, sizeof(task.value), "%s", r->task ? r->task : "");
	tasks_follow(js->c->tasks, &task, r->moref);
}

void
jobs_scanned(struct jobs *js)
{
	js->scanned = 1;
}

void
jobs_init(struct jobs *js, const struct core *c, struct sched *s, struct health *h,
    struct record *rec, struct pace *pace)
{
	memset(js, 0, sizeof(*js));
	js->pace = pace;
	js->c = c;
	js->sched = s;
	js->health = h;
	js->record = rec;
	vm_table_on_enter(c->vms, VM_TASK, enter_task, js);
}
