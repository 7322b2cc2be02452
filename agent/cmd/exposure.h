/*
 * Each VM's exposure window, from the evidence log (base/evidence.h): how
 * long it ran unencrypted, from its creation (config.createDate) to the
 * moment vCenter completed the reconfigure that made it compliant (the
 * task's completeTime, recorded when the agent saw the task end).  A VM
 * created while the agent was down has the downtime in its window: the
 * window runs from its creation, not from when the agent saw it.  A VM
 * that was compliant when the agent first saw it has no window (said so,
 * never a made-up one).
 */
#ifndef VMCRYPT_EXPOSURE_H
#define VMCRYPT_EXPOSURE_H

#include <stddef.h>
#include <time.h>

enum exposure_kind {
	EXP_UNKNOWN,		/* the log says nothing of it */
	EXP_MEASURED,		/* created, then made compliant by the agent */
	EXP_BEFORE_SEEN,	/* compliant when the agent first saw it */
	EXP_OPEN,		/* not compliant yet: exposed since created */
	EXP_NO_CREATE_DATE,	/* made compliant, but vCenter gave no createDate */
};

struct exposure {
	char			 vm[96];
	char			 name[256];
	enum exposure_kind	 kind;
	double			 created;	/* unix time, 0 unknown */
	double			 compliant;	/* the reconfigure's completeTime, 0 none */
	double			 seconds;	/* MEASURED: compliant - created; else -1 */
};

struct exposures {
	struct exposure	*e;		/* sorted by vm */
	size_t		 n;
};

/* Reads the log in dir (its chain checked).  0, or -1 with err (a broken
 * chain: file, line, why; a missing log is no error: none measured). */
int	exposures_read(const char *dir, struct exposures *, char *err, size_t errlen);
/*
 * The same from records handed one by one, in the order they happened
 * (report merges the logs of several agents: an HA pair's).  Per VM: the
 * earliest creation any record gives, and the window closed by the first
 * state record that finds it compliant after a completed reconfigure.
 * exposure_walk_end fills x (sorted by vm) and frees the walk.
 */
struct json_object;
struct exposure_walk;
struct exposure_walk *exposure_walk_new(void);
void	exposure_walk_add(struct exposure_walk *, struct json_object *rec);
void	exposure_walk_end(struct exposure_walk *, struct exposures *x);

/* The VM's, or NULL. */
const struct exposure *exposures_find(const struct exposures *, const char *vm);
void	exposures_free(struct exposures *);
/* An xsd:dateTime as unix time, its fraction kept (0: none or not one). */
double	exposure_time(const char *);
/* "measured", "compliant-before-seen", "open", "no-create-date", "unknown". */
const char *exposure_kind_name(enum exposure_kind);

#endif
