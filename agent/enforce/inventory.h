/* The inventory: every VM with the facts encryption enforcement depends on,
 * read in pages through a container view, plus each VM home's storage
 * policy from SPBM.  vm_info_set_prop is pure and unit-tested. */
#ifndef VMCRYPT_INVENTORY_H
#define VMCRYPT_INVENTORY_H

#include <stddef.h>
#include <stdio.h>

#include "vmstate.h"
#include "xnode.h"

struct vconn;

struct disk_info {
	int	 key;
	int	 controller_key;	/* the controller it hangs off */
	int	 unit_number;		/* -1 if not reported */
	char	*backing;		/* backing xsi:type (VirtualDiskFlatVer2BackingInfo) */
	char	*label;
	char	*file;
	int	 encrypted;
	char	*key_id;
	char	*provider;
	int	 encryptable;		/* flat/seSparse/sparse backing (not RDM) */
	int	 ide;			/* on an IDE controller */
	char	*policy_id;		/* SPBM, NULL if none or unknown */
};

struct vm_attr {
	int	 key;			/* custom field key */
	char	*name;			/* resolved from CustomFieldsManager.field */
	char	*value;
};

struct vm_info {
	char		 moref[96];
	char		*name;
	char		 parent[96];
	char		 host[96];		/* runtime.host: where it runs */
	char		 uuid[40];		/* config.instanceUuid */
	char		 created[40];		/* config.createDate (API 6.7+), "" unknown */
	char		(*datastores)[96];	/* datastore: the ones it uses */
	size_t		 ndatastores;
	int		 vsan_encrypted;	/* all of them vSAN, encrypted at rest */
	char		*folder;		/* inventory path of the parent */
	char		*hw_version;		/* "vmx-13" */
	int		 hw_number;		/* 13, or 0 if unknown */
	char		*power_state;
	int		 template;
	int		 encrypted;		/* config.keyId present */
	char		*key_id;
	char		*provider;
	struct disk_info *disks;
	size_t		 ndisks;
	char		*migrate_encryption;	/* NULL: not reported (default) */
	char		*ft_encryption_mode;
	int		 snapshot;
	int		 snapshot_tree;		/* more than one chain of snapshots */
	int		 vtpm;			/* a VirtualTPM device */
	char		*home_policy_id;
	char		*home_policy_name;
	int		 has_config;
	char		*change_version;	/* config.changeVersion */
	char		*connection_state;
	struct vm_attr	*attrs;			/* customValue */
	size_t		 nattrs;
	/* Its keys (home and disks) as vCenter sees them: set by the
	 * enforcer (keystat.c) for encrypted VMs, read by policy_decide. */
	enum key_avail	 key_avail;
	char		*key_missing;		/* the key not available */
	char		*key_reason;		/* vCenter's reason ("KeyStateMissingInKMS") */
	/* When its home key (config.keyId) was put on it: set by the
	 * enforcer (keyage.c) for encrypted VMs. */
	double		 key_since;		/* unix time, 0 unknown */
	const char	*key_since_src;		/* "agent", "vcenter-events"; static */
	int		 key_rekeyed;		/* the agent already issued a rekey
						   replacing this key */
	/* Filled by the enforcement engine, reported by inventory/reconcile. */
	int		 decided;		/* state and reason are set */
	enum vm_state	 state;
	const char	*code;			/* the state's main cause (policy.h) */
	char		*reason;
};

struct inventory {
	struct vm_info	*vms;
	size_t		 nvms;
	char		*vcenter;
	char		*api_version;
};

/* The property paths inventory reads for each VM. */
extern const char *const inventory_vm_paths[];
extern const size_t inventory_nvm_paths;

/* Applies one retrieved property to vm.  Unknown names are ignored. */
void	vm_info_set_prop(struct vm_info *vm, const char *name, const xnode *val);
void	vm_info_clear(struct vm_info *vm);
/* Names custom attribute keys from CustomFieldsManager.field (key, name). */
void	vm_info_name_attrs(struct vm_info *vm, const int *keys,
	    const char *const *names, size_t n);

/* "/DC0/vm/sub" from folder names leaf first ({"sub", "vm", "DC0"}); "/"
 * for none.  As govc prints inventory paths. */
char	*inventory_path(const char *const *parts, size_t n);


/*
 * Reads every VM under the root folder (page = objects per round trip) and
 * each VM home's storage policy.  Returns 0 and fills inv, or a V_ERR_*
 * code (vconn_error says why).
 */
int	inventory_collect(struct vconn *, int page, struct inventory *inv);
/*
 * The same; with INV_LEAN, devices (disks) and storage policies are read
 * only for encrypted VMs, the only ones whose decision depends on them
 * (policy_decide): the agent's reconcile scan.  Reports want them all.
 */
#define INV_LEAN	0x1
struct pbm_ref;
/*
 * The SPBM objects of vm, appended at refs: its home, then each disk
 * ("vm-42:2000").  Disk keys are malloc'd into keys[] at the same index
 * (home entries get NULL); the caller frees them.  Returns how many;
 * refs and keys need room for 1 + vm->ndisks.
 */
size_t	inventory_pbm_refs(const struct vm_info *vm, struct pbm_ref *refs, char **keys);
int	inventory_collect_ex(struct vconn *, int page, unsigned flags,
	    struct inventory *inv);
void	inventory_free(struct inventory *);

void	inventory_print_table(const struct inventory *, FILE *);
/* JSON via json-c; returns 0 or -1. */
struct json_object;
/* Adds what the caller knows of vm to its JSON object (exposure, ...). */
typedef void (*inventory_json_fn)(void *arg, const struct vm_info *vm, struct json_object *o);
int	inventory_print_json(const struct inventory *, FILE *, inventory_json_fn extra, void *arg);

/* The decided state's name, or NULL before a decision. */
const char	*vm_info_state(const struct vm_info *);

#endif
