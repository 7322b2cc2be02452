/* Readiness checks: the facts about key providers, the encryption policy
 * and the account, read from vCenter (the I/O half; kms.c judges). */
#ifndef VMCRYPT_CHECK_H
#define VMCRYPT_CHECK_H

struct config;
struct kms_facts;
struct vconn;

/*
 * Reads what kms_evaluate() needs into *f (free with kms_facts_free): the
 * key providers (kms_gather), the encryption policy and the privileges.
 * A step that fails is recorded in f; returns nonzero (V_ERR_*) only if
 * vCenter stopped answering.
 */
int	check_gather(struct vconn *c, const struct config *cfg, struct kms_facts *f);

#endif
