/*
 * Every vCenter event the agent follows, and what it means: one table.
 * watch.c subscribes to exactly these types; engine.c dispatches on them.
 * An event never carries a decision: a VM's state always comes from its
 * current properties (policy_decide), so an event says at most "look at
 * this VM now", "check the KMS now" and "tell someone" (an alert: logged
 * with the VM named, and counted in vmcrypt_crypto_events_total).  Pure
 * (no I/O), unit-tested (tests/unit/test_evmap.c).
 */
#ifndef VMCRYPT_EVMAP_H
#define VMCRYPT_EVMAP_H

#include <stddef.h>

#define EVM_LOOK	0x1	/* look at its VM now */
#define EVM_KMS		0x2	/* run the KMS health check now */
#define EVM_ALERT	0x4	/* an alert: logged with its VM, counted */

struct evmap {
	const char	*type;		/* xsi:type, or an EventEx's eventTypeId */
	unsigned	 what;		/* EVM_* */
	const char	*means;		/* an alert's words: what it means, what to do */
};

extern const struct evmap evmap_table[];
extern const size_t evmap_count;
#define EVMAP_MAX	40		/* room in per-type counters */

/* The entry of type, or NULL for one the agent does not follow. */
const struct evmap *evmap_find(const char *type);
/* Its index in evmap_table (for per-type counters). */
size_t		 evmap_index(const struct evmap *);
/* What the agent does on an event of type about VM vm ("" none): an
 * unknown type about a VM is looked at, anything else about no VM is
 * not. */
unsigned	 evmap_what(const char *type, const char *vm);

#endif
