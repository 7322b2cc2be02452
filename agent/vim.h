/*
 * The vSphere SOAP client: one session (login, cookie, negotiated API
 * version, service content) shared by per-thread connections.  This module
 * and pbm.c are the only code that sees gSOAP's generated stubs; callers get
 * plain C types and xnode trees.
 *
 * Threads: a vsession is shared (its mutable state is behind a mutex); a
 * vconn belongs to one thread at a time.  Every call blocks; run them off
 * the event loop (agent/loop.c).
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

struct vmoref {
	char	type[64];
	char	value[96];
};

enum vmo {
	VMO_ROOT_FOLDER, VMO_PROPERTY_COLLECTOR, VMO_VIEW_MANAGER,
	VMO_SESSION_MANAGER, VMO_EVENT_MANAGER, VMO_CUSTOM_FIELDS_MANAGER,
	VMO_CRYPTO_MANAGER, VMO_TASK_MANAGER, VMO_COUNT
};

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

#endif
