/*
 * How old each VM's key is: when its home key (config.keyId) was put on
 * it.  Who says so, in this order: the agent's own record (the evidence
 * log: the completed reconfigure that put the key on, vCenter's
 * completeTime), else vCenter's events for the VM (the latest
 * VmReconfiguredEvent whose configSpec carries that key), else nobody (the
 * age is unknown, said so, never made up).  The book is shared by the
 * enforcer's threads and the loop (a mutex); it also remembers the keys
 * the agent replaced with a rekey, so that no key is rekeyed twice.
 */
#ifndef VMCRYPT_KEYAGE_H
#define VMCRYPT_KEYAGE_H

#include <stddef.h>

struct vconn;
struct vm_info;
struct keybook;

#define KEYAGE_SRC_AGENT	"agent"
#define KEYAGE_SRC_EVENTS	"vcenter-events"
#define KEYAGE_SRC_KMS		"kms"

struct keybook	*keybook_new(void);
void		 keybook_free(struct keybook *);
/* key_id was put on a VM at since (unix time; the earliest is kept), by
 * src's account (KEYAGE_SRC_*). */
void		 keybook_note(struct keybook *, const char *key_id, double since,
		    const char *src);
/* The third source: the KMS's own dates for a key (fn: 0 with *since,
 * 0 none given; -1 with err).  arg outlives the book. */
typedef int (*keyage_kms_fn)(void *arg, const char *key_id, double *since, char *err,
    size_t errlen);
void		 keybook_set_kms(struct keybook *, keyage_kms_fn fn, void *arg);
/* A rekey replacing key_id was issued: never another for it. */
void		 keybook_replaced(struct keybook *, const char *key_id);
/*
 * Reads the evidence log in dir: each completed reconfigure's key and
 * completeTime, each rekey's old key.  0 (no log: nothing), or -1 with err
 * (a broken chain: nothing is taken from it).
 */
int		 keybook_load(struct keybook *, const char *dir, char *err, size_t errlen);
/* The rekeys the loaded log shows completed (a "done" task that replaced
 * a key). */
unsigned long	 keybook_rekeys_done(const struct keybook *);

/*
 * Sets key_since, key_since_src and key_rekeyed of each encrypted VM among
 * vms[0..n) from the book; VMs the book does not know are looked up in
 * vCenter's events (three calls each), then the KMS (when a kms hook is
 * set), at most *budget of them (decreased; NULL: none), and the answer
 * (found or not) kept in the book.  A fault
 * leaves the VM's age unknown and is not an error: the age is a fact
 * the decision does without.  Resets the connection only when it calls.
 */
void		 keyage_fill(struct keybook *, struct vconn *, struct vm_info *const *vms,
		    size_t n, int *budget);

/* The events' answer for one VM: when its current home key was put on it
 * (unix time), 0 none found, or -1 (a fault: vconn_error). */
double		 keyage_from_events(struct vconn *, const struct vm_info *vm);

#endif
