/*
 * Reading one VM (or a batch) for a decision: its properties and recent
 * tasks in one RetrievePropertiesEx, the storage policies on home and disks
 * from SPBM, and the names exclusions match on (folder path, custom
 * attributes), through caches shared by the worker threads.
 */
#ifndef VMCRYPT_VMREAD_H
#define VMCRYPT_VMREAD_H

#include <stddef.h>

#include "inventory.h"
#include "vim.h"

struct vmread {
	struct vm_info	 vm;
	const xnode	*devices;	/* config.hardware.device, as read */
	const xnode	*recent;	/* recentTask */
	int		 seen;
};

/* A vobject_cb: fills a struct vmread from one object's properties. */
int	vmread_cb(void *arg, const struct vmoref *obj, size_t n,
	    const char *const *names, const xnode *const *vals);
/* Records one SPBM association ("vm-42" or "vm-42:2000") on vm. */
void	vmread_assoc(struct vm_info *vm, const char *key, const char *profile);
/* Reads the policies on VM home and on each disk.  0 or V_ERR_*. */
int	vmread_policies(struct vconn *, struct vm_info *vm);

/*
 * A task already queued or running on the VM, from its recentTask list:
 * ours from before a restart (the process died after ReconfigVM_Task was
 * sent), or another client's.  Reconfiguring now would apply the change a
 * second time or be refused with TaskInProgress; the caller follows it and
 * looks at the VM again when it ends.  Returns 1 with *task (and *ours: a
 * reconfigure by user); 2 if none runs but a reconfigure has ended (it may
 * have ended after the VM was read); 0 otherwise.
 */
int	vmread_running_task(struct vconn *, const xnode *recent, const char *user,
	    struct vmoref *task, int *ours);

/* Folder names and custom attribute names, cached; thread-safe. */
struct vmnames;
struct vmnames	*vmnames_new(void);
void		 vmnames_free(struct vmnames *);
/* The inventory path of folder moref ("/DC0/vm/prod"); malloc'd. */
char		*vmnames_folder_path(struct vmnames *, struct vconn *, const char *moref);
/* Names vm's custom attributes (reads the field list again if one is new). */
void		 vmnames_attrs(struct vmnames *, struct vconn *, struct vm_info *vm);

#endif
