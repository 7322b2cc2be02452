/* `kms setup --wrapping-rotation-days N` (kmswrap.c): the key provider's
 * wrapping key rotation interval, vSphere 9.0 and later; kmssetup.c runs
 * it in its order. */
#ifndef VMCRYPT_KMSWRAP_H
#define VMCRYPT_KMSWRAP_H

struct setup;
struct vconn;

/* The vSphere version a wrapping key's rotation interval needs. */
#define KMSWRAP_API	"9.0.0.0"

/* Before anything changes: with --wrapping-rotation-days, a vCenter that
 * does not speak API 9.0 is refused plainly (the step failed, exit 1).
 * 0 when there is nothing to refuse, else -1. */
int	kmswrap_available(struct setup *, struct vconn *);
/* wrapping-rotation: the provider's rotation interval read, set only if
 * it differs (UpdateKmipServer), read back.  0, or -1 with the step
 * failed.  Nothing to do without --wrapping-rotation-days. */
int	kmswrap_step(struct setup *, struct vconn *);

#endif
