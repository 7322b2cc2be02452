/* Private to the SOAP module (vsession.c, vprop.c, vimvm.c, vimdecode.c,
 * vimkms.c, pbm.c): the shape of a session and a
 * connection, and the call wrapper.  Nothing else includes this. */
#ifndef VMCRYPT_VSOAP_INT_H
#define VMCRYPT_VSOAP_INT_H

#include <pthread.h>
#include <stdio.h>

#include "soapH.h"
#include "vim.h"

struct vsession {
	pthread_mutex_t	 mtx;
	char		*url;		/* https://host[:port]/sdk */
	char		*base;		/* https://host[:port] */
	char		*pbm_url;
	char		*user;
	/* The password (vlogin.c): kept for re-login, wiped on free, swapped
	 * under mtx when its source gives a new one; logins take turns on
	 * login_mtx. */
	char		*password;
	int		 has_password;	/* set once, by vsession_open */
	char		*pw_file;	/* its source: password-file (or NULL) */
	char		*cfg_path;
	pthread_mutex_t	 login_mtx;
	int		 refused;	/* vCenter refused the current one */
	double		 refused_at;	/* CLOCK_MONOTONIC s */
	/* Under login_mtx: where the password comes from, and whether this
	 * login turn read a new one from there. */
	char		 pw_src[600];
	int		 reread_new;
	int		 timeout;
	struct soap	*master;	/* TLS set up; copied per vconn */
	char		 action[48];	/* urn:vim25/<negotiated version> */
	char		 api_version[32];
	char		 server_api[32];	/* the newest it lists, uncapped */
	char		 cookie[512];	/* raw Set-Cookie value, quotes kept */
	char		 session_key[128];	/* UserSession.key (privilege checks) */
	unsigned	 generation;
	int		 logged_in;
	struct vmoref	 mo[VMO_COUNT];
	char		 about_full[256];
	char		 about_type[32];
	char		 about_version[32];
	char		 about_uuid[64];
	struct vmoref	 pbm_profile_mgr;
	int		 pbm_ready;
	struct trace	*trace;		/* NULL: calls are not traced */
};

/* What crossed the wire in the call under way (SOAP traces). */
struct tbuf {
	char	*p;
	size_t	 len, cap;
};

struct vconn {
	struct vsession	*s;
	struct soap	*soap;
	char		 hdr[600];
	char		 err[768];
	char		 fault_type[64];
	char		 fault_privilege[128];	/* NoPermission.privilegeId */
	double		 started;	/* CLOCK_MONOTONIC s, of the call under way */
	int		 pbm_call;	/* the call under way goes to SPBM */
	struct tbuf	 tx, rx;	/* traced: request and answer bytes */
};

#define V_RETRY	1

void	vconn_prepare(struct vconn *, int pbm);
int	vconn_finish(struct vconn *, int soaprc, const char *op, int attempt);

/* Runs expr (a soap_call_*) with the session cookie, re-logging in once on
 * NotAuthenticated.  Sets rc to 0 or a V_ERR_* code. */
#define VCALL(c, pbm, op, rc, expr) do {				\
	for (int try_ = 0;; try_++) {					\
		vconn_prepare((c), (pbm));				\
		(rc) = vconn_finish((c), (expr), (op), try_);		\
		if ((rc) != V_RETRY)					\
			break;						\
	}								\
} while (0)

/* A gSOAP context with the limits every answer is read under. */
struct soap *vsoap_new(void);
/* Hand a decoded answer to the callbacks (vprop.c). */
int	vim_deliver_objects(struct vconn *, const struct vim__RetrieveResult *,
	    vobject_cb, void *);
int	vim_deliver_updates(const struct vim__UpdateSet *, vupdate_cb, void *);

void	vmoref_set(struct vmoref *, const struct vim__ManagedObjectReference *);
/* Logs in (again, after NotAuthenticated) on c; 0 or a V_ERR_* code
 * (vlogin.c).  A refused password is read again from its source first. */
int	vsession_login(struct vconn *);
/* The password for Login (vlogin.c): kept, read again from its source when
 * vCenter refuses it, a refused one not resent for minutes. */
void	vsession_set_password(struct vsession *, const char *password);
enum { VP_GO, VP_SKIP, VP_REFUSED };
int	vpassword_begin(struct vsession *, char *err, size_t errlen);
int	vpassword_refused(struct vsession *, char *err, size_t errlen);
void	vpassword_end(struct vsession *, int rc);
char	*vpassword_copy(struct vsession *);

static inline void
copystr(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/*
 * Clean-up calls (destroying a view, filter or collector) made after a
 * failure keep that failure's message: it is the one worth reporting.
 */
struct saved_err {
	char	err[sizeof(((struct vconn *)0)->err)];
	char	fault_type[sizeof(((struct vconn *)0)->fault_type)];
};

static inline void
err_save(const struct vconn *c, struct saved_err *e)
{
	copystr(e->err, sizeof(e->err), c->err);
	copystr(e->fault_type, sizeof(e->fault_type), c->fault_type);
}

static inline void
err_restore(struct vconn *c, const struct saved_err *e)
{
	if (e->err[0] == '\0')
		return;
	copystr(c->err, sizeof(c->err), e->err);
	copystr(c->fault_type, sizeof(c->fault_type), e->fault_type);
}
struct vim__ManagedObjectReference *vmoref_soap(struct soap *, const struct vmoref *);
/* A call that answers with a moref (a task, a view): rc, or
 * V_ERR_PROTO when it came back without one; *out set on success. */
int	vmoref_answer(int rc, const struct vim__ManagedObjectReference *r, struct vmoref *out);

#endif
