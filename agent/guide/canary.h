/*
 * The canary (`check --canary`): the whole path proven once on the user's
 * own vCenter, on a VM that does not matter.  A throwaway VM (hardware 13,
 * one 1 MB thin disk, powered off) is created, brought to policy through
 * the very code `run` uses (enforce_vm: the same decision, key, plan and
 * reconfigure), read back independently of that code (keys on home and
 * disk, the policy on each through SPBM, Encrypted vMotion, the key's
 * provider, QueryCryptoKeyStatus), powered on and off once if asked (the
 * host got the key), and deleted.  Nothing is left behind: the VM is
 * deleted on success, on failure and on SIGINT/SIGTERM, and a canary a
 * killed run left (its name prefix and its marker) is deleted by the next
 * run.  Each step is timed.
 *
 * The steps, in order (canary.c; placement and privileges in
 * canaryplace.c, leftovers and deletion in canaryclean.c, the read-back in
 * canaryread.c, the report's timing and failures in canarystep.c):
 *   leftovers   a previous run's canary found and deleted
 *   placement   folder, resource pool, host and datastore, named
 *   privileges  what creating, encrypting, (powering) and deleting needs,
 *               held on those entities, before anything is created
 *   policy      the encryption storage policy, resolved as `run` does
 *   create      CreateVM_Task; the marker: extraConfig and a custom attribute
 *   encrypt     enforce_vm and its ReconfigVM_Task, followed to its end
 *   verify      the read-back
 *   power       on, then off (--power)
 *   delete      Destroy_Task; the custom attribute's definition removed
 */
#ifndef VMCRYPT_CANARY_H
#define VMCRYPT_CANARY_H

#include <signal.h>
#include <stddef.h>

#include "policy.h"
#include "steps.h"
#include "vim.h"

struct config;
struct enforcer;
struct vsession;

#define CANARY_PREFIX	POLICY_CANARY_PREFIX
#define CANARY_MARK	"vmcrypt.canary"	/* extraConfig key, custom attribute */

/* What went wrong, and so the exit code and the fix (canary_kind). */
enum canary_kind {
	CK_OTHER,		/* EXIT_FAIL */
	CK_HOST_KEY,		/* a host could not get the key from the KMS */
	CK_PRIVILEGE,		/* the account lacks a privilege */
	CK_NO_PROVIDER,		/* no usable (default) key provider */
};

struct canary {
	/* in */
	const struct config *cfg;
	struct vsession	*s;
	struct vconn	*c;
	struct enforcer	*enf;		/* `run`'s code, for this VM */
	int		 power;		/* --power */
	volatile sig_atomic_t *stop;	/* a signal arrived: clean up, stop */
	/* out */
	struct steps	 steps;
	double		 secs[STEPS_MAX];	/* each step's wall time */
	char		 name[128];	/* the VM's */
	struct vmoref	 vm;		/* value "" until it exists */
	char		 folder_path[512];
	struct vmoref	 folder, pool, host, datastore;
	char		 host_name[256], datastore_name[256];
	int		 field_key;	/* the custom attribute's, -1 none */
	int		 field_made;	/* ... this run defined it */
	int		 keys;		/* keys generated (GenerateKey) */
	char		 key_id[256], provider[256];
	int		 maybe_made;	/* CreateVM_Task ran out of time */
	int		 left;		/* the VM could not be deleted */
	int		 interrupted;	/* the signal's number, 0 none */
	char		 stamp[64];	/* vCenter's time at the start */
	double		 t_mark;	/* when the step under way began */
};

/*
 * Runs every step on c (a logged-in connection of s), stopping at the
 * first failure, and always deletes what it created.  Returns the exit
 * code (exitcode.h: EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_CONNECT,
 * EXIT_CANARY_*, or 128 + the signal), also in k->steps.exit_code.
 */
int	canary_run(struct canary *k);

/* canarystep.c: a step begins (steps_add), and the one before it ends:
 * its time.  canary_clock starts the first; canary_step_end ends the last. */
struct step *canary_step(struct canary *k, const char *name, enum step_result r,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	canary_clock(struct canary *k);
void	canary_step_end(struct canary *k);

/* canarystep.c: a failure's kind from what vCenter said: the fault's type, its message
 * and a NoPermission's privilege (pure). */
enum canary_kind canary_kind(const char *fault_type, const char *msg, const char *privilege);
/* The exit code of a kind. */
int	canary_exit(enum canary_kind);

/* canaryplace.c: the placement step, then the privileges step (0, or -1
 * with the step failed). */
int	canary_place(struct canary *k);
int	canary_privileges(struct canary *k);
/* canaryclean.c: a previous run's canaries deleted; those of a run that
 * may still be going (younger than four task timeouts) left alone. */
int	canary_leftovers(struct canary *k);
/* canaryclean.c: k->vm powered off if on, then destroyed (-1: still there). */
int	canary_destroy(struct canary *k, struct vmoref *vm);
/* canaryread.c: the read-back: 0, or -1 with the step failed. */
int	canary_verify(struct canary *k, const char *policy_id);
/* canaryclean.c: the VM named name (""-valued vm if none). */
int	canary_find(struct canary *k, const char *name, struct vmoref *vm);
/* canarystep.c: the step failed (rc, a V_ERR_* code) with vCenter's error on
 * k->c, classified: the fix and the exit code of its kind.  -1. */
int	canary_fail_vc(struct canary *k, struct step *st, const char *doing, int rc);

#endif
