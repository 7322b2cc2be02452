/*
 * The engine's side of the evidence log (record.h).
 */
#include "record.h"

#include "config.h"
#include "core.h"
#include "enforce.h"
#include "evidence.h"
#include "kmsinfo.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "vim.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A burst of records (a start-up scan deciding 45,000 VMs in one loop
 * callback: about 750 bytes each) is written while it is appended: past
 * RECORD_SPILL_BYTES a flush starts at once, without waiting for the
 * loop's next turn, and keeps writing while that much waits.  Without it
 * the whole burst sat in memory: 33 MB at 45,000 VMs, the agent's peak
 * (heaptrack, issue #26).
 */
#define RECORD_SPILL_BYTES	(1u << 20)

static void	spill(struct record *);

/* Only the agent that acts keeps the record of what was done. */
static int
recording(const struct record *rc)
{
	return rc->ev != NULL && lease_may_act(rc->c->lease);
}

/* A VM's decided state changed (the VM table's hook). */
static void
on_decided(void *arg, struct vmrec *r, int old, const struct verdict *v)
{
	struct record *rc = arg;
	char created[64] = "";

	/* How long it ran unencrypted: from its creation to the completion
	 * of the reconfigure that made it compliant (a VM compliant before
	 * the agent first saw it has no window). */
	if (v->state == VS_COMPLIANT && old >= 0 && r->done_at > 0 && v->created &&
	    v->created[0]) {
		time_t born = kms_parse_time(v->created);
		if (born != (time_t)-1 && r->done_at >= born)
			metrics_observe_exposure(rc->c->met, (double)(r->done_at - born));
	}
	if (!recording(rc))
		return;
	snprintf(created, sizeof(created), "%s", v->created ? v->created : "");
	const struct evrec rec = {
		.kind = "state", .vm = r->moref, .uuid = v->uuid, .name = v->name,
		.created = created, .old = old >= 0 ? vm_state_name(old) : NULL,
		.new_ = vm_state_name(v->state), .code = v->code, .reason = v->reason,
	};
	evidence_append(rc->ev, &rec);
	rc->dirty = 1;
	spill(rc);
}

void
record_issued(struct record *rc, const struct vmrec *r, const struct outcome *o,
    const char *actions)
{
	if (!recording(rc))
		return;
	const struct evrec rec = {
		.kind = "action", .vm = r->moref, .uuid = o->uuid, .name = o->name,
		.created = o->created, .actions = actions,
		.result = o->adopted ? "adopted" : "issued", .task = o->task.value,
		.provider = o->key.provider, .key_id = o->key.key_id,
		.replaces = o->replaces,
	};
	evidence_append(rc->ev, &rec);
	rc->dirty = 1;
	spill(rc);
}

/* ---------------------------------------------------------------- */
/* flushing                                                          */

struct flush_job {
	struct record	*rc;
	int		 rc_;
	char		 err[512];
};

static void
flush_work(struct vconn *c, void *arg)
{
	struct flush_job *j = arg;
	(void)c;
	do
		j->rc_ = evidence_flush(j->rc->ev, j->err, sizeof(j->err));
	while (j->rc_ == 0 && evidence_pending(j->rc->ev) >= RECORD_SPILL_BYTES);
	atomic_fetch_sub(&j->rc->writing, 1);
}

static void
flush_done(void *arg)
{
	struct flush_job *j = arg;
	struct record *rc = j->rc;

	rc->flushing--;
	if (j->rc_ != 0) {
		if (!rc->failing)
			log_error("evidence: %s; the records wait in memory and are "
			    "written again at the next flush", j->err);
		rc->failing = 1;
		rc->dirty = 1;
	} else if (rc->failing) {
		log_info("evidence: written again");
		rc->failing = 0;
	}
	free(j);
}

static uint64_t
flush_submit(struct record *rc, uint64_t now)
{
	struct flush_job *j = xcalloc(1, sizeof(*j));
	j->rc = rc;
	rc->dirty = 0;
	rc->flushing++;
	atomic_fetch_add(&rc->writing, 1);
	rc->last = now;
	if (pool_submit(rc->c->pool, flush_work, flush_done, j) != 0) {
		rc->flushing--;
		atomic_fetch_sub(&rc->writing, 1);
		rc->dirty = 1;
		free(j);
		return now + RECORD_FLUSH_MS;
	}
	return UINT64_MAX;
}

uint64_t
record_maybe_flush(struct record *rc)
{
	if (rc->ev == NULL || !rc->dirty || rc->flushing || rc->c->closing)
		return UINT64_MAX;
	uint64_t now = rc->c->now(rc->c);
	if (rc->last != 0 && now < rc->last + RECORD_FLUSH_MS)
		return rc->last + RECORD_FLUSH_MS;
	return flush_submit(rc, now);
}

static void
spill(struct record *rc)
{
	/* Not rc->flushing: a job that has ended has its done callback
	 * waiting for this very callback to return. */
	if (atomic_load(&rc->writing) > 0 || rc->c->closing ||
	    evidence_pending(rc->ev) < RECORD_SPILL_BYTES)
		return;
	(void)flush_submit(rc, rc->c->now(rc->c));
}

int
record_busy(const struct record *rc)
{
	return rc->flushing;
}

/* ---------------------------------------------------------------- */
/* open and close                                                    */

void
record_attach(struct record *rc)
{
	vm_table_on_decided(rc->c->vms, on_decided, rc);
}

int
record_open(struct record *rc, const struct core *c, struct vsession *s,
    const char *identity)
{
	const struct config *cfg = core_cfg(c);
	char dir[4096], note[512] = "", err[1024];

	memset(rc, 0, sizeof(*rc));
	rc->c = c;
	if (c->dry_run || c->once)
		return 0;
	snprintf(dir, sizeof(dir), "%s/evidence", cfg->state_dir);
	rc->ev = evidence_open(dir, identity, vsession_about(s, "instanceUuid"),
	    cfg->vc_url, cfg->evidence_max_bytes, note, sizeof(note), err, sizeof(err));
	if (rc->ev == NULL) {
		log_error("evidence: %s; the agent keeps no record it cannot continue: "
		    "`vmcrypt-agent evidence verify` says more", err);
		return -1;
	}
	if (note[0])
		log_warnx("evidence: %s", note);
	const struct evrec rec = { .kind = "open", .version = VMCRYPT_VERSION };
	evidence_append(rc->ev, &rec);
	rc->dirty = 1;
	return 0;
}

void
record_close(struct record *rc)
{
	char err[512];

	if (rc->ev == NULL)
		return;
	const struct evrec rec = { .kind = "close" };
	evidence_append(rc->ev, &rec);
	if (evidence_flush(rc->ev, err, sizeof(err)) != 0)
		log_error("evidence: %s", err);
	evidence_close(rc->ev);
	rc->ev = NULL;
}
