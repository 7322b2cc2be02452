/*
 * The engine's side of the leader lease (lease.c): whether this agent acts
 * at all.  A standby watches events and keeps its VM table warm but starts
 * no work (sched_run asks leader_may_act, and each job asks again right
 * before GenerateKey or ReconfigVM_Task); a new leader catches up on every
 * VM before it acts on new events.  `reconcile` waits for the lease at
 * start, up to a lease time and two heartbeats, and refuses to act
 * without it.
 */
#include "exitcode.h"
#include "config.h"
#include "engine.h"
#include "enforce.h"
#include "log.h"
#include "notify.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
leader_may_act(void *arg)
{
	struct engine *e = arg;
	return lease_may_act(&e->lease);
}

/* Before the loop: the lease's settings; `reconcile` takes it now.
 * EXIT_OK or an exit code (said). */
int
lease_setup(struct engine *e)
{
	const struct config *cfg = engine_cfg(e);
	struct lease *l = &e->lease;
	char err[1024] = "";

	l->s = e->s;
	l->enabled = !e->dry_run && cfg->ha_enabled;
	l->lease_ms = cfg->lease_seconds * 1000;
	l->beat_ms = cfg->heartbeat_seconds * 1000;
	l->timeout = cfg->timeout;
	if (!l->enabled)
		return EXIT_OK;
	enforcer_set_fence(e->enf, leader_may_act, e);
	if (!e->once)
		return EXIT_OK;
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(l->identity, sizeof(l->identity), "%s:reconcile (pid %d)", host, (int)getpid());
	int rc = lease_acquire(l, l->lease_ms + 2 * l->beat_ms, err, sizeof(err));
	if (rc == 1)
		return EXIT_OK;
	char who[512];
	lease_holder(l, who, sizeof(who));
	if (rc < 0)
		log_error("%s", err);
	else
		log_error("reconcile: another agent holds the lease on %s (%s) and acts there; "
		    "reconcile acts only when it can hold it: stop that agent, or read with "
		    "`inventory` or `report`", cfg->vc_url, who[0] ? who : "unknown");
	return rc < 0 ? EXIT_CONNECT : EXIT_FAIL;
}

/* `run`, once the loop exists: one look now (a free lease, or ours from a
 * previous run, is taken at once), then the thread. */
void
lease_begin(struct engine *e)
{
	struct lease *l = &e->lease;
	char err[1024];

	if (!l->enabled)
		return;
	log_info("lease: this agent is %s; lease %d s, heartbeat %d s", l->identity,
	    l->lease_ms / 1000, l->beat_ms / 1000);
	l->notes = &e->notes;
	int rc = lease_first(l, err, sizeof(err));
	if (rc < 0)
		log_warnx("%s; looking again every %d s", err, l->beat_ms / 1000);
	else if (rc == 0) {
		char who[512];
		lease_holder(l, who, sizeof(who));
		log_info("standby: %s holds the lease; watching, acting on nothing until it "
		    "stops", who[0] ? who : "another agent");
		notify_send("STATUS=standby: %s holds the lease", who[0] ? who : "another agent");
	}
	if (lease_start(l) != 0)
		fatalx("cannot start the lease thread");
}

static void
mark_look_for_tasks(void *arg, struct vmrec *r)
{
	(void)arg;
	r->start_scan = 1;
}

/* A role change, from the lease thread. */
void
leader_note(struct engine *e, const struct note *n)
{
	if (n->kind == N_STANDBY) {
		log_warnx("%s", n->msg);
		notify_send("STATUS=%s", n->msg);
		return;
	}
	log_info("%s", n->msg);
	notify_send("STATUS=%s", n->msg);
	/* Leader after a standby spell: catch up on every VM first (what the
	 * old leader left undone); at start-up the first scan does it. */
	if (!e->collector_ready)
		return;
	/* The old leader's reconfigures may still run: every VM's next look
	 * checks for a task on it (followed, never doubled). */
	vm_each(&e->vms, VM_SCHED_COUNT, mark_look_for_tasks, NULL);
	e->takeover_scan = 1;
	log_info("leader: catching up on every VM");
	if (e->scanning)
		e->rescan = 1;
	else
		sched_start_scan(e);
}
