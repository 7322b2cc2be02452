/*
 * `policy ensure`: the encryption storage policy the configuration names
 * exists in SPBM and is an encryption policy, created if it is missing.
 */
#ifndef VMCRYPT_POLICYENSURE_H
#define VMCRYPT_POLICYENSURE_H

struct config;
struct encpolicy;
struct steps;
struct vconn;

/* The policy created when the configuration names none: vCenter's own. */
#define POLICYENSURE_DEFAULT	"VM Encryption Policy"

/*
 * Finds cfg's policy, or creates it (PbmCreate with the VM Encryption
 * data-service rule) and reads it back; dry_run only says it would.  One
 * step, "encryption-policy", goes to steps: unchanged, done (created),
 * would, or failed with its fix.  out: the policy's name (the configured
 * one, the default, or "" when only an id is configured) and its id when
 * known.  Returns the exit code, also in steps->exit_code.
 */
int	policyensure_run(struct vconn *, const struct config *cfg, int dry_run,
	    struct steps *steps, struct encpolicy *out);

#endif
