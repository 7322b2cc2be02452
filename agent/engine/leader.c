/*
 * The engine's side of the leader lease (leader.h).
 */
#include "leader.h"

#include "config.h"
#include "core.h"
#include "enforce.h"
#include "exitcode.h"
#include "lease.h"
#include "log.h"
#include "notes.h"
#include "notify.h"
#include "vmtable.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The enforcer's fence: asked right before GenerateKey and ReconfigVM_Task. */
static int
may_act(void *lease)
{
	return lease_may_act(lease);
}

int
leader_setup(const struct core *c, struct vsession *s, const char *identity)
{
	const struct config *cfg = core_cfg(c);
	struct lease *l = c->lease;
	char err[1024] = "", who[512];

	if (c->once) {		/* `reconcile` names itself, not the directory */
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(who, sizeof(who), "%s:reconcile (pid %d)", host, (int)getpid());
		identity = who;
	}
	lease_configure(l, s, identity, !c->dry_run && cfg->ha_enabled,
	    cfg->lease_seconds * 1000, cfg->heartbeat_seconds * 1000, cfg->timeout);
	if (!l->enabled)
		return EXIT_OK;
	enforcer_set_fence(c->enf, may_act, l);
	if (!c->once)
		return EXIT_OK;
	int rc = lease_acquire(l, l->lease_ms + 2 * l->beat_ms, err, sizeof(err));
	if (rc == 1)
		return EXIT_OK;
	lease_holder(l, who, sizeof(who));
	if (rc < 0)
		log_error("%s", err);
	else
		log_error("reconcile: another agent holds the lease on %s (%s) and acts there; "
		    "reconcile acts only when it can hold it: stop that agent, or read with "
		    "`inventory` or `report`", cfg->vc_url, who[0] ? who : "unknown");
	return rc < 0 ? EXIT_CONNECT : EXIT_FAIL;
}

void
leader_begin(const struct core *c)
{
	struct lease *l = c->lease;
	char err[1024];

	if (!l->enabled || c->once)
		return;
	log_info("lease: this agent is %s; lease %d s, heartbeat %d s", l->identity,
	    l->lease_ms / 1000, l->beat_ms / 1000);
	int rc = lease_first(l, c->notes, err, sizeof(err));
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

int
leader_note(const struct core *c, const struct note *n, int watching)
{
	if (n->kind == N_STANDBY) {
		log_warnx("%s", n->msg);
		notify_send("STATUS=%s", n->msg);
		return 0;
	}
	log_info("%s", n->msg);
	notify_send("STATUS=%s", n->msg);
	/* Leader after a standby spell: catch up on every VM first (what the
	 * old leader left undone); at start-up the first scan does it. */
	if (!watching)
		return 0;
	/* The old leader's reconfigures may still run: every VM's next look
	 * checks for a task on it (followed, never doubled). */
	vm_each(c->vms, VM_SCHED_COUNT, mark_look_for_tasks, NULL);
	log_info("leader: catching up on every VM");
	return 1;
}
