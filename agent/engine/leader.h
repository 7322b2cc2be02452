/*
 * The engine's side of the leader lease (lease.c): whether this agent acts
 * at all.  A standby watches events and keeps its VM table warm but starts
 * no work (sched_run asks lease_may_act, and each job asks again right
 * before GenerateKey or ReconfigVM_Task); a new leader catches up on every
 * VM before it acts on new events.  `reconcile` waits for the lease at
 * start, up to a lease time and two heartbeats, and refuses to act
 * without it.  Loop thread only.
 */
#ifndef VMCRYPT_LEADER_H
#define VMCRYPT_LEADER_H

struct core;
struct note;
struct vsession;

/* Before the loop: the lease's settings (identity: this instance's, from
 * the state directory); `reconcile` takes it now.  EXIT_OK or an exit
 * code (said). */
int	leader_setup(const struct core *, struct vsession *, const char *identity);
/* `run`, once the loop exists: one look now (a free lease, or ours from a
 * previous run, is taken at once), then the lease thread. */
void	leader_begin(const struct core *);
/*
 * A role change from the lease thread (N_LEADER, N_STANDBY), said.
 * Returns 1 when this agent just became the leader while watching: every
 * VM's next look checks for the old leader's task, and the caller must
 * catch up on every VM (reconcile_catch_up with takeover).
 */
int	leader_note(const struct core *, const struct note *, int watching);

#endif
