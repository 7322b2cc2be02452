/*
 * Confirmation: a VM whose reconfigure succeeded is read again (the agent
 * is level-triggered), together with the others that finished within
 * CONFIRM_MS: one RetrievePropertiesEx and one SPBM query for up to
 * CONFIRM_BATCH VMs instead of two calls each.  The VM stays in
 * VM_CONFIRM meanwhile, so an event for it waits for the read, which
 * covers it.  Entering VM_CONFIRM (vm_set_sched) is what adds a VM to
 * the batch.  Loop thread only.
 */
#ifndef VMCRYPT_CONFIRM_H
#define VMCRYPT_CONFIRM_H

#include <stddef.h>

#include <uv.h>

struct core;
struct sched;
struct vmrec;

struct confirm {
	const struct core *c;
	struct sched	*sched;
	struct vmrec	*head, **tail;	/* the batch, oldest first */
	size_t		 n;
	uv_timer_t	 timer;
};

/* Registers VM_CONFIRM's on-enter action; the timer on c->loop. */
void	confirm_init(struct confirm *, const struct core *, struct sched *);
/* Stopping: the confirmations not yet sent are left to the next start's
 * reconcile (the tasks succeeded; the audit events are sent). */
void	confirm_drop(struct confirm *);
/* uv_close on the timer (engine teardown). */
void	confirm_close(struct confirm *);

#endif
