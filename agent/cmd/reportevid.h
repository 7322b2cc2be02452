/*
 * The evidence logs a report is made from (base/evidence.h): one agent's
 * (STATE-DIR/evidence) or several (--evidence DIR repeated: an HA pair's
 * leader and the standby that took over).  Every log is verified whole
 * before anything is reported from it; their records are merged in time
 * order per vCenter, so a VM's window opened in one agent's log and
 * closed in the other's is one window.
 */
#ifndef VMCRYPT_REPORTEVID_H
#define VMCRYPT_REPORTEVID_H

#include <stddef.h>

#include "exposure.h"
#include "period.h"

/* One log, verified: its chain's head is what a signed report covers. */
struct evlog {
	char		*dir;
	char		 vcenter[128];	/* instanceUuid of its records, "" none */
	char		 vc_url[512];
	long long	 records;
	long long	 head_seq;	/* 0: no record */
	char		 head_hash[65];
};

struct evline;

struct evset {
	struct evlog	*logs;
	size_t		 nlogs;
	struct evline	*lines;		/* every record of every log */
	size_t		 nlines;
};

/*
 * Reads and verifies each log in dirs.  A directory without a log is an
 * error unless missing_ok (a state directory whose agent never ran).
 * 0, or -1 with err naming the file and line that breaks a chain.
 */
int	evset_load(struct evset *, const char *const *dirs, size_t n, int missing_ok,
	    char *err, size_t errlen);
void	evset_free(struct evset *);

/* What the logs of vCenter vcenter (instanceUuid; NULL: every log) say,
 * their records merged in time order: exposure windows and states. */
void	evset_view(const struct evset *, const char *vcenter, struct exposures *,
	    struct history *);
/* The heads of the logs of vcenter (NULL: every one): "DIR#SEQ:HASH",
 * "; " between them; "" when none. */
void	evset_heads(const struct evset *, const char *vcenter, char *out, size_t len);

#endif
