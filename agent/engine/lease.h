/*
 * The leader lease, held in vCenter: of all the agents watching one
 * vCenter, exactly one acts.  Its own thread (like the watcher's), its own
 * connection, so that a busy pool never delays a heartbeat.
 *
 * The lease is a custom field definition named vmcrypt-agent.lease.EPOCH
 * (AddCustomFieldDef is atomic: every creator but one gets DuplicateName),
 * and its value on the root folder, "BEAT IDENTITY", rewritten by the
 * holder every heartbeat.  A standby that has seen the same value for a
 * whole lease time claims EPOCH+1; the holder acts only while its last
 * renewal, measured on its own monotonic clock from before it was sent,
 * is younger than the lease time (less a tenth for clock-rate drift), and
 * stops at once when a higher epoch exists.  ARCHITECTURE.md says why no
 * two agents can act at once.
 */
#ifndef VMCRYPT_LEASE_H
#define VMCRYPT_LEASE_H

#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

struct notes;
struct vsession;

#define LEASE_PREFIX	"vmcrypt-agent.lease."

/* What one look at vCenter saw. */
struct lease_view {
	long long	 epoch;		/* the highest lease field; 0: none */
	int		 key;		/* its field key */
	char		 value[512];	/* its value on the root folder; "" none */
	size_t		 nold;		/* lower epochs still defined */
	int		 old[16];	/* their keys */
};

enum lease_role { LEASE_STANDBY, LEASE_LEADER };

/* The decision part, without I/O (lease_step), for the tests. */
struct lease_state {
	enum lease_role	 role;
	long long	 epoch;		/* ours, as leader */
	int		 key;
	unsigned long	 beat;
	uint64_t	 valid_until;	/* ms, monotonic; 0: not leader */
	/* As standby: the value seen, and when it was first seen. */
	long long	 seen_epoch;
	char		 seen_value[512];
	uint64_t	 seen_at;
};

enum lease_action {
	LA_NONE,	/* wait for the next heartbeat */
	LA_CLAIM,	/* AddCustomFieldDef(epoch + 1) */
	LA_LOST,	/* a higher epoch exists, or ours lapsed: stop acting */
};

/*
 * Standby: given what the read that started at t0 and ended at t1 saw,
 * what to do.  identity: ours (a value naming it is a lease we held).
 */
enum lease_action lease_decide(struct lease_state *, const struct lease_view *,
		    const char *identity, uint64_t t0, uint64_t t1, int lease_ms);
/*
 * Leader: a renewal sent at t0 that ended at t1 (ok: the value was
 * written), and what the read after it saw.  Keeps or ends the lease.
 */
enum lease_action lease_renewed(struct lease_state *, int ok, const struct lease_view *,
		    uint64_t t0, uint64_t t1, int lease_ms);
/* The identity in a value ("BEAT IDENTITY" or "released IDENTITY"). */
const char	*lease_value_identity(const char *value);

struct lease {
	/* Set before lease_start, read-only after. */
	struct vsession	*s;
	struct notes	*notes;
	int		 enabled;	/* 0: always acts (dry-run) */
	int		 lease_ms, beat_ms, timeout;
	char		 identity[512];
	/* Shared. */
	atomic_int	 stopping;
	atomic_ullong	 valid_until;	/* ms, CLOCK_BOOTTIME */
	atomic_llong	 epoch;
	atomic_int	 leader;
	atomic_ullong	 renewed_at;	/* ms: the last renewal or fresh look */
	atomic_ulong	 failovers;	/* leaderships taken from another holder */
	char		 holder[512];	/* under mtx: who holds it, as last seen */
	pthread_mutex_t	 mtx;
	uv_thread_t	 thread;
	int		 started;
	/* Lease thread only. */
	struct lease_state st;
};

uint64_t lease_clock_ms(void);
/* Before anything else: the session its thread opens a connection on,
 * this instance's name, and the settings (enabled 0: always acts). */
void	lease_configure(struct lease *, struct vsession *, const char *identity,
	    int enabled, int lease_ms, int beat_ms, int timeout);
/*
 * One attempt, before the loop runs: takes the lease if nobody holds it
 * (or we did); 1 leader, 0 standby, -1 vCenter trouble (said in err).
 * Role changes from now on are posted to notes (NULL: said in the log).
 */
int	lease_first(struct lease *, struct notes *, char *err, size_t errlen);
/* lease_first, then looks every heartbeat for up to wait_ms: 1 leader,
 * 0 still standby, -1 trouble. */
int	lease_acquire(struct lease *, int wait_ms, char *err, size_t errlen);
/* The thread: looks or renews every heartbeat until lease_stop. */
int	lease_start(struct lease *);
/* Any thread: may this agent act now? */
int	lease_may_act(struct lease *);
/* Stops the thread; a leader writes "released" so a standby takes over
 * at once. */
void	lease_stop(struct lease *);
/* After lease_stop (or when lease_first failed). */
void	lease_destroy(struct lease *);
/* Who holds it, for /healthz and the log. */
void	lease_holder(struct lease *, char *out, size_t len);

#endif
