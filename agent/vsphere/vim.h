/*
 * The vSphere SOAP client: one session (login, cookie, negotiated API
 * version, service content) shared by per-thread connections.  This module
 * and pbm.c are the only code that sees gSOAP's generated stubs; callers get
 * plain C types and xnode trees.
 *
 * Threads: a vsession is shared (its mutable state is behind a mutex); a
 * vconn belongs to one thread at a time.  Every call blocks; the engine
 * runs them off its loop, in the pool (agent/pool.c) and the watcher
 * (agent/watch.c).
 */
#ifndef VMCRYPT_VIM_H
#define VMCRYPT_VIM_H

#include <stddef.h>

#include "xnode.h"

struct config;
struct vsession;
struct vconn;

/* Return codes of every call (0 = success). */
#define V_ERR_TRANSPORT	-1	/* connect, timeout, HTTP */
#define V_ERR_TLS	-2	/* certificate refused */
#define V_ERR_FAULT	-3	/* SOAP fault; see vconn_fault_type() */
#define V_ERR_LOGIN	-4	/* InvalidLogin */
#define V_ERR_CANCELED	-5	/* RequestCanceled (CancelWaitForUpdates) */
#define V_ERR_PROTO	-6	/* response we cannot use */
#define V_ERR_REFUSED	-7	/* answered, but said no (GenerateKey success=false) */
#define V_ERR_TIMEOUT	-8	/* a task did not end in the time given */

struct vmoref {
	char	type[64];
	char	value[96];
};

enum vmo {
	VMO_ROOT_FOLDER, VMO_PROPERTY_COLLECTOR, VMO_VIEW_MANAGER,
	VMO_SESSION_MANAGER, VMO_EVENT_MANAGER, VMO_CUSTOM_FIELDS_MANAGER,
	VMO_CRYPTO_MANAGER, VMO_TASK_MANAGER, VMO_AUTH_MANAGER, VMO_SEARCH_INDEX,
	VMO_COUNT
};

/* Compares dotted version strings numerically (<0, 0, >0). */
int		 vim_version_cmp(const char *a, const char *b);
/* 1 if v is a public API version (dotted decimal), 0 for anything else
 * (an internal build string such as "uA046D008", "2.5u2"). */
int		 vim_version_public(const char *v);
/* From a parsed vimServiceVersions.xml (<namespaces>): the newest public
 * urn:vim25 version, current or prior, that this client knows; "" if none. */
void		 vim_versions_pick(const xnode *namespaces, char *best, size_t len);

/* Session.  vsession_new never contacts vCenter. */
struct vsession	*vsession_new(const struct config *cfg, char *err, size_t errlen);
void		 vsession_free(struct vsession *);
/*
 * Negotiates the API version, reads the service content and logs in.  The
 * password is kept (wiped on free) so an expired session can log in again.
 * Returns 0 or a V_ERR_* code with one line in err.
 */
int		 vsession_open(struct vsession *, const char *password,
		    char *err, size_t errlen);
/* Logs out (best effort). */
void		 vsession_close(struct vsession *);
/* Bumped on every re-login: session-scoped objects must be recreated. */
unsigned	 vsession_generation(struct vsession *);
const char	*vsession_api_version(const struct vsession *);
/* The negotiated API version is version or newer ("7.0.2.0"). */
int		 vsession_api_at_least(const struct vsession *, const char *version);
/* The newest public API version vCenter lists (vimServiceVersions.xml,
 * else about.apiVersion), uncapped: what it can do, not what we speak. */
const char	*vsession_server_api(const struct vsession *);
const char	*vsession_about(const struct vsession *, const char *field);
const struct vmoref *vsession_mo(const struct vsession *, enum vmo);

/* Per-thread connection sharing the session's login and TLS trust. */
struct vconn	*vconn_new(struct vsession *);
void		 vconn_free(struct vconn *);
struct vsession	*vconn_session(struct vconn *);
void		 vconn_set_timeout(struct vconn *, int seconds);
/* One line describing the last failure on this connection. */
const char	*vconn_error(const struct vconn *);
/* xsi:type of the last SOAP fault ("" if none). */
const char	*vconn_fault_type(const struct vconn *);
/* A NoPermission fault's privilegeId (the call's, or a failed task's); "" none. */
const char	*vconn_fault_privilege(const struct vconn *);
/* Frees everything the last calls returned (xnodes included). */
void		 vconn_reset(struct vconn *);

int	vim_current_time(struct vconn *, char *out, size_t outlen);

int	vim_create_container_view(struct vconn *, const struct vmoref *container,
	    const char *type, int recursive, struct vmoref *out);
int	vim_destroy_view(struct vconn *, const struct vmoref *view);

/*
 * Called once per object; names[i] / vals[i] are the properties present
 * (absent properties are simply missing).  Valid only during the call.
 * A nonzero return stops the retrieval and is returned.
 */
typedef int (*vobject_cb)(void *arg, const struct vmoref *obj, size_t nprops,
    const char *const *names, const xnode *const *vals);

/*
 * Retrieves paths of every object of type in a container view, page by page
 * (maxObjects = page), calling cb per object.  Memory is released after each
 * page.  Returns 0 or a V_ERR_* code.
 */
int	vim_retrieve_view(struct vconn *, const struct vmoref *view,
	    const char *type, const char *const *paths, size_t npaths, int page,
	    vobject_cb cb, void *arg);

/* Property collector long poll. */
int	vim_create_property_collector(struct vconn *, struct vmoref *out);
int	vim_destroy_property_collector(struct vconn *, const struct vmoref *pc);
int	vim_create_view_filter(struct vconn *, const struct vmoref *pc,
	    const struct vmoref *view, const char *type, const char *const *paths,
	    size_t npaths, struct vmoref *filter);

/* kind is "enter", "modify" or "leave". */
typedef int (*vupdate_cb)(void *arg, const char *kind, const struct vmoref *obj,
    size_t nchanges, const char *const *names, const xnode *const *vals);

/*
 * One WaitForUpdatesEx round: version (in/out, "" the first time) is kept
 * up to date; truncated sets are followed at once.  Returns 0 (updates or
 * a timeout with none), V_ERR_CANCELED, or another V_ERR_* code.
 */
int	vim_wait_for_updates(struct vconn *, const struct vmoref *pc,
	    char *version, size_t versionlen, int max_wait_seconds,
	    vupdate_cb cb, void *arg);
int	vim_cancel_wait(struct vconn *, const struct vmoref *pc);

/*
 * Retrieves paths of the given objects (all of one type).  The trees
 * passed to cb stay valid until vconn_reset (so a device can be sent back
 * in a reconfigure on the same connection).
 */
int	vim_retrieve_objects(struct vconn *, const struct vmoref *objs, size_t nobjs,
	    const char *type, const char *const *paths, size_t npaths,
	    vobject_cb cb, void *arg);
/* The same, but an object that no longer exists is left out rather than
 * failing the call (reportMissingObjectsInResults). */
int	vim_retrieve_present(struct vconn *, const struct vmoref *objs, size_t nobjs,
	    const char *type, const char *const *paths, size_t npaths,
	    vobject_cb cb, void *arg);
/* A filter on one object (a Task, an event collector) in collector pc. */
int	vim_create_object_filter(struct vconn *, const struct vmoref *pc,
	    const struct vmoref *obj, const char *type, const char *const *paths,
	    size_t npaths, struct vmoref *filter);
int	vim_destroy_filter(struct vconn *, const struct vmoref *filter);

/* Event history collector over the whole inventory; begin_time may be NULL. */
int	vim_create_event_collector(struct vconn *, const char *begin_time,
	    const char *const *type_ids, size_t ntypes, int page, struct vmoref *out);
/* The same over one entity's own events (recursion "self"). */
int	vim_create_event_collector_on(struct vconn *, const struct vmoref *entity,
	    const char *begin_time, const char *const *type_ids, size_t ntypes, int page,
	    struct vmoref *out);
typedef int (*vevent_cb)(void *arg, const xnode *event);

/* What the agent takes from an event (pointers into the event's tree). */
struct vevent_fields {
	long long	 key;		/* -1 if absent */
	const char	*time;		/* createdTime, "" if absent */
	const char	*vm;		/* vm.vm moref (an EventEx's objectId on a
					   VirtualMachine), "" if none */
	const char	*vm_name;	/* vm.name, "" if none */
	const char	*type;		/* xsi:type, or an EventEx's eventTypeId */
	const char	*msg;
};
void	vim_event_fields(const xnode *event, struct vevent_fields *);
/* ReadNextEvents(max); *count is the number of events read. */
int	vim_read_next_events(struct vconn *, const struct vmoref *coll, int max,
	    vevent_cb cb, void *arg, int *count);
int	vim_destroy_collector(struct vconn *, const struct vmoref *coll);

/* CustomFieldsManager.field: the custom attribute definitions.  Does not
 * reset the connection (trees read before stay valid). */
struct custom_fields {
	int	*keys;
	char	**names;
	size_t	 n;
};
int	custom_fields_read(struct vconn *, struct custom_fields *);
void	custom_fields_free(struct custom_fields *);

/* CustomFieldsManager: a field definition for objects of motype (its key
 * in *key; DuplicateName when the name is taken), its removal, and one
 * entity's value. */
int	vim_field_add(struct vconn *, const char *name, const char *motype, int *key);
int	vim_field_remove(struct vconn *, int key);
int	vim_field_set(struct vconn *, const struct vmoref *entity, int key,
	    const char *value);

struct vkey {
	char	key_id[256];
	char	provider[256];
};
/* CryptoManagerKmip.GenerateKey (provider NULL: the default cluster).
 * success=false is V_ERR_REFUSED with the reason in vconn_error. */
int	vim_generate_key(struct vconn *, const char *provider, struct vkey *out);

/* One ReconfigVM_Task.  Disk trees come from vim_retrieve_objects on the
 * same connection (config.hardware.device children) and are sent back
 * unchanged apart from their element name. */
struct vreconfig {
	const char	 *change_version;	/* optimistic concurrency guard */
	const char	 *profile_id;		/* storage policy to attach */
	int		  home_profile;		/* ... on VM home */
	int		  disk_profile;		/* ... on each disk */
	int		  crypto_vm;		/* CryptoSpecEncrypt on the VM */
	int		  disk_crypto;		/* ... and on each disk's backing */
	int		  rekey;		/* CryptoSpecShallowRecrypt instead */
	const char	 *key_id, *provider;
	const xnode	**disks;
	size_t		  ndisks;
	const char	 *migrate;		/* migrateEncryption or NULL */
	const char	 *ft;			/* ftEncryptionMode or NULL */
};
int	vim_reconfigure(struct vconn *, const struct vmoref *vm,
	    const struct vreconfig *, struct vmoref *task);
/* The SOAP envelope vim_reconfigure would send, as text (malloc'd; NULL
 * if it cannot be written): what tests compare with vCenter's devices. */
char	*vim_reconfigure_xml(const struct vmoref *vm, const struct vreconfig *);
int	vim_log_user_event(struct vconn *, const struct vmoref *entity, const char *msg);

/*
 * Key management (agent/vimkms.c).  Each returns 0 or a V_ERR_* code with
 * the message in vconn_error.
 */
struct kms_cluster;
/* ListKmipServers: every key provider (malloc'd; kms_clusters_free). */
int	vim_kms_list(struct vconn *, struct kms_cluster **out, size_t *n);
/* GetDefaultKmsCluster (API 7.0+): id is "" when none is selected. */
int	vim_kms_default(struct vconn *, char *id, size_t idlen);
/* RetrieveKmipServersStatus_Task for every provider, followed to its end
 * (at most timeout seconds); *result is the TaskInfo.result tree, valid
 * until vconn_reset. */
int	vim_kms_status(struct vconn *, int timeout, const xnode **result);
/* The provider's wrapping key (KmipClusterInfo.keyInfo, API 9.0), read
 * with ListKmipServers at 9.0.0.0; *found 0 if vCenter has no provider of
 * that id.  V_ERR_REFUSED before 9.0 (vsession_server_api), said in
 * vconn_error. */
struct kms_wrapping;
int	vim_kms_wrapping(struct vconn *, const char *cluster, struct kms_wrapping *,
	    int *found);
/* The same for every provider in cl (each cl[i].wrap), in one call. */
int	vim_kms_wrappings(struct vconn *, struct kms_cluster *cl, size_t n);
/* UpdateKmipServer at 9.0.0.0 of the provider's first server, as vCenter
 * has it, with keySpec KmipServerSpecWrappingRotationIntervalKeySpec{days}:
 * the wrapping key rotates every `days` days.  V_ERR_REFUSED before 9.0. */
int	vim_kms_set_rotation(struct vconn *, const char *cluster, int days);
/* Key provider setup (kms setup).  RegisterKmipServer creates the provider
 * on first use; user and password may be NULL. */
int	vim_kms_register(struct vconn *, const char *cluster, const char *name,
	    const char *address, int port, const char *user, const char *password);
int	vim_kms_mark_default(struct vconn *, const char *cluster);
/* SetDefaultKmsCluster(entity, cluster): cluster becomes the default key
 * provider of that compute cluster or host folder (API 7.0+). */
int	vim_kms_set_entity_default(struct vconn *, const char *cluster,
	    const struct vmoref *entity);
/* vSAN Management API (/vsanHealth): whether vSAN encrypts cluster's
 * datastore at rest (VsanClusterGetConfig, dataEncryptionConfig). */
int	vim_vsan_encryption(struct vconn *, const struct vmoref *cluster, int *enabled);
/* SearchIndex.FindByInventoryPath ("/DC/host/Cluster"): out->value is ""
 * when nothing is there. */
int	vim_find_by_path(struct vconn *, const char *path, struct vmoref *out);
/* vCenter trusts the KMS: a certificate (the KMS's or its CA's), PEM. */
int	vim_kms_upload_server_cert(struct vconn *, const char *cluster, const char *pem);
/* The KMS trusts vCenter: the client certificate and key vCenter presents. */
int	vim_kms_upload_client_cert(struct vconn *, const char *cluster,
	    const char *cert, const char *key);
enum vkms_cert { VKMS_CURRENT, VKMS_SELF_SIGNED, VKMS_GENERATE, VKMS_CSR, VKMS_GENERATE_CSR };
/* RetrieveClientCert, RetrieveSelfSignedClientCert,
 * GenerateSelfSignedClientCert, RetrieveClientCsr or GenerateClientCsr:
 * *pem malloc'd, NULL when vCenter has none. */
int	vim_kms_client_cert(struct vconn *, const char *cluster, enum vkms_cert,
	    char **pem);
/* UpdateKmsSignedCsrClientCert: the KMS's signature on vCenter's CSR, PEM,
 * becomes the client certificate vCenter presents. */
int	vim_kms_update_signed_cert(struct vconn *, const char *cluster, const char *pem);
/* AuthorizationManager.HasPrivilegeOnEntity for this session:
 * granted[i] is 1 or 0 for privs[i]. */
int	vim_has_privileges(struct vconn *, const struct vmoref *entity,
	    const char *const *privs, size_t n, int *granted);

/*
 * Decodes one answer from text, with the limits a live connection has,
 * and hands it to the same callbacks the call would: for fuzzing and
 * tests.  0, or V_ERR_* with err.
 */
enum vim_answer { VIM_ANSWER_PROPERTIES, VIM_ANSWER_UPDATES, VIM_ANSWER_EVENTS };
int	vim_decode(enum vim_answer, const char *text, vobject_cb, vupdate_cb, vevent_cb,
	    void *arg, char *err, size_t errlen);
/*
 * Decodes text as the answer to method (a SOAP envelope: a response or a
 * fault) with the decoder the call itself uses, and classifies it as the
 * call would: 0, or a V_ERR_* code with the fault's xsi:type in fault and
 * one line in err (V_ERR_LOGIN for InvalidLogin, V_ERR_FAULT with
 * "NotAuthenticated" for an ended session, ...).  vim_decode_known says
 * whether the agent ever makes that call.
 */
int	vim_decode_answer(const char *method, const char *text, char *fault,
	    size_t faultlen, char *err, size_t errlen);
int	vim_decode_known(const char *method);
/* vim_versions_pick over the text of a vimServiceVersions.xml: 0, or -1
 * if it is not XML. */
int	vim_versions_text(const char *text, char *best, size_t len);
/* A PbmRetrieveContent answer's profiles, each handed to cb (as
 * pbm_requirement_profiles hands them).  0 or V_ERR_PROTO with err. */
int	pbm_decode_profiles(const char *text, void (*cb)(void *, const xnode *),
	    void *arg, char *err, size_t errlen);

/*
 * A VM's life (vimlife.c).  Each returns 0 or a V_ERR_* code with the
 * message in vconn_error.
 */
/* Follows task until it ends (at most timeout seconds; then
 * V_ERR_TIMEOUT): 0 on success with *result its info.result (valid until
 * vconn_reset; may be NULL), V_ERR_FAULT when it failed (vconn_error
 * names what, the task, the fault type and vCenter's message;
 * vconn_fault_type, vconn_fault_privilege). */
int	vim_wait_task(struct vconn *, const struct vmoref *task, const char *what,
	    int timeout, const xnode **result);
/* A small VM of our own: one CPU, memory_mb, a paravirtual SCSI
 * controller and one thin disk of disk_kb on datastore; optionally one
 * extraConfig key. */
struct vnewvm {
	const char	*name;
	const char	*version;		/* "vmx-13" */
	const char	*guest_id;		/* "otherGuest64" */
	struct vmoref	 folder, pool, datastore, host;	/* host: "" any */
	const char	*datastore_name;
	int		 memory_mb, disk_kb;
	const char	*extra_key, *extra_value;
};
/* Folder.CreateVM_Task; *task to follow (its result is the VM). */
int	vim_create_vm(struct vconn *, const struct vnewvm *, struct vmoref *task);
/* PowerOnVM_Task (on) or PowerOffVM_Task. */
int	vim_power(struct vconn *, const struct vmoref *vm, int on, struct vmoref *task);
/* ManagedEntity.Destroy_Task. */
int	vim_destroy(struct vconn *, const struct vmoref *obj, struct vmoref *task);
/* CryptoManagerKmip.QueryCryptoKeyStatus (API 6.7.2+) of n keys with
 * checkKeyBitMap bitmap: cb(arg, i, status) for each answer, i the key's
 * index (a CryptoManagerKmipCryptoKeyStatus tree: keyAvailable, reason,
 * encryptedVMs, ...). */
int	vim_key_status(struct vconn *, const struct vkey *keys, size_t n, int bitmap,
	    void (*cb)(void *arg, size_t i, const xnode *status), void *arg);

/* The exit code (exitcode.h) a command ends with after a V_ERR_* failure. */
int	vim_exit_code(int verr);

#endif
