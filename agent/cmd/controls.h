/*
 * The controls a report row evidences: one table (controls.c), each
 * control with its id, its source, what it requires and which VM facts
 * satisfy it, and a judge that reads only those facts.  Pure: no I/O, no
 * clock; tests/unit/test_controls.c runs every branch.
 */
#ifndef VMCRYPT_CONTROLS_H
#define VMCRYPT_CONTROLS_H

#include <stddef.h>

struct vm_info;

enum ctl_result {
	CTL_NOT_APPLICABLE,	/* nothing of the VM the control is about */
	CTL_SATISFIED,
	CTL_NOT_SATISFIED,
	CTL_UNLISTED,		/* not evidenced either way: left out of the row */
};

/* What the judges read of one VM.  -1 in a tri-state: not known (the
 * report could not read it). */
struct ctl_facts {
	int		 readable;	/* its configuration was read (has_config) */
	int		 encrypted;	/* config.keyId: the VM home is encrypted */
	size_t		 ndisks;
	size_t		 disks_encrypted;
	int		 vsan;		/* uses a vSAN datastore: 1, 0, -1 */
	int		 vsan_encrypted;	/* every datastore it uses is vSAN encrypting at rest */
	const char	*migrate;	/* config.migrateEncryption; NULL: not set (opportunistic) */
	int		 ft;		/* fault tolerance configured: 1, 0, -1 */
	const char	*ft_mode;	/* config.ftEncryptionMode; NULL: not reported */
	const char	*rekeyed;	/* when its key was changed at the end of its
					 * cryptoperiod (a later issue); NULL: no record */
};

struct control {
	const char	*id;		/* "vm-9.vmotion-encrypted" */
	const char	*source;	/* the guide or standard, and its version */
	const char	*requires;	/* what it requires, in its source's words (shortened) */
	const char	*satisfied_by;	/* which VM facts satisfy it */
	/* The result, and why in a few words (why may be NULL). */
	enum ctl_result (*judge)(const struct ctl_facts *, char *why, size_t len);
};

/* The table, in the order every report lists it; at most CONTROLS_MAX. */
#define CONTROLS_MAX	8
extern const struct control controls[];
extern const size_t ncontrols;

/* "satisfied", "not satisfied", "not applicable" (what every format
 * prints); "unlisted" for CTL_UNLISTED. */
const char	*ctl_result_name(enum ctl_result);
/* The control with that id, or NULL. */
const struct control *controls_find(const char *id);
/* vm's facts; ft and vsan are the tri-states above (read by the report,
 * not by the inventory), rekeyed may be NULL.  The strings stay vm's. */
void		 controls_facts(const struct vm_info *vm, int ft, int vsan,
		    const char *rekeyed, struct ctl_facts *out);

#endif
