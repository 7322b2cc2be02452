/*
 * The plan: a decision about one VM (policy_decide) turned into the one
 * ReconfigVM_Task that carries it out.  Pure: no I/O, no clock; every
 * action combination is unit-tested (tests/unit/test_plan.c).
 *
 *   ACT_ENCRYPT        a new key (from GenerateKey) on the VM and on every
 *                      encryptable disk, the encryption policy on home and
 *                      on those disks;
 *   ACT_ENCRYPT_DISKS  an encrypted VM: its own key on the disks that are
 *                      plain (never a new key for the VM: no rekey);
 *   ACT_POLICY         an encrypted VM: the policy where it is missing;
 *   ACT_MIGRATE        migrateEncryption = the configured mode (also sent
 *                      with ACT_ENCRYPT);
 *   ACT_FT             ftEncryptionMode = ftEncryptionRequired;
 *   ACT_REKEY          alone: CryptoSpecShallowRecrypt with a new key (from
 *                      the expected provider) on the VM and its encrypted
 *                      disks; no policy or mode change.
 */
#ifndef VMCRYPT_PLAN_H
#define VMCRYPT_PLAN_H

#include <stddef.h>

#include "policy.h"
#include "vim.h"

struct vm_info;

/* Whether carrying out d needs a new key from the KMS first. */
int	plan_needs_key(const struct decision *d);

/*
 * Fills rs for vm (read with its config.hardware.device as devices) and
 * decision d under policy p.  key is the new key for ACT_ENCRYPT (NULL
 * otherwise).  disks must have room for vm->ndisks entries; rs points
 * into disks, vm, key and p.  Returns 0, or -1 if a disk the plan needs is
 * missing from devices (the VM changed between two reads).
 */
int	plan_reconfigure(const struct policy *p, const struct decision *d,
	    const struct vm_info *vm, const xnode *devices, const struct vkey *key,
	    const xnode **disks, struct vreconfig *rs);

#endif
