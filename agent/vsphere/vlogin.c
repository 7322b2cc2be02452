/*
 * Login, and the password it sends.  A password rotated in vCenter and in
 * its source (systemd's credential, password-file) is taken without a
 * restart: when vCenter refuses the one held (InvalidLogin), the source is
 * read again before the caller backs off, and a new one is tried at once.
 * A refused password is not sent again for REFUSED_RESEND_S, whoever asks
 * (watcher, lease, pool): vCenter's SSO locks an account after a few failed
 * logins, and an agent that retried in a loop would lock its own.
 */
#include "vsoap_int.h"

#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFUSED_RESEND_S	300.0

enum reread { PW_SAME, PW_NEW, PW_UNREADABLE };

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
vsession_set_password(struct vsession *s, const char *password)
{
	char *old;

	pthread_mutex_lock(&s->mtx);
	old = s->password;
	s->password = xstrdup(password);
	s->has_password = 1;
	s->refused = 0;
	pthread_mutex_unlock(&s->mtx);
	secret_free(old);
}

/* One Login with the password held now; a refusal is remembered. */
static int
login_once(struct vconn *c)
{
	struct vsession *s = c->s;
	struct vim__LoginResponse out = { 0 };
	struct vim__ManagedObjectReference *sm;
	char *pw;
	int rc;

	pthread_mutex_lock(&s->mtx);
	s->cookie[0] = '\0';
	pw = xstrdup(s->password ? s->password : "");
	pthread_mutex_unlock(&s->mtx);
	sm = vmoref_soap(c->soap, &s->mo[VMO_SESSION_MANAGER]);
	vconn_prepare(c, 0);
	rc = vconn_finish(c, soap_call_vim__Login(c->soap, s->url, s->action, sm,
	    s->user, pw, NULL, &out), "Login", 1);
	secret_free(pw);
	if (rc == V_ERR_LOGIN) {
		pthread_mutex_lock(&s->mtx);
		s->refused = 1;
		s->refused_at = mono_now();
		pthread_mutex_unlock(&s->mtx);
		return rc;
	}
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&s->mtx);
	copystr(s->session_key, sizeof(s->session_key),
	    out.returnval ? out.returnval->key : NULL);
	s->generation++;
	s->logged_in = 1;
	s->pbm_ready = 0;
	s->refused = 0;
	int have_cookie = s->cookie[0] != '\0';
	pthread_mutex_unlock(&s->mtx);
	if (!have_cookie) {
		snprintf(c->err, sizeof(c->err),
		    "Login: %s set no vmware_soap_session cookie", s->base);
		return V_ERR_PROTO;
	}
	return 0;
}

/* Reads the password's source again (src: its name); a different password
 * replaces the one held.  VMCRYPT_VC_PASSWORD is read once, at start. */
static enum reread
password_reread(struct vsession *s, const char *src, char *err, size_t errlen)
{
	char *pw;
	int same;

	err[0] = '\0';
	if (strncmp(src, "VMCRYPT_VC_PASSWORD", 19) == 0)
		return PW_SAME;
	if ((pw = config_password_read(s->pw_file, s->cfg_path, err, errlen)) == NULL)
		return PW_UNREADABLE;
	pthread_mutex_lock(&s->mtx);
	same = s->password != NULL && strcmp(pw, s->password) == 0;
	pthread_mutex_unlock(&s->mtx);
	if (!same)
		vsession_set_password(s, pw);
	secret_free(pw);
	return same ? PW_SAME : PW_NEW;
}

static void
login_refused(struct vconn *c, const char *src, enum reread rr, const char *rerr)
{
	struct vsession *s = c->s;

	if (rr == PW_UNREADABLE)
		snprintf(c->err, sizeof(c->err),
		    "login failed for user '%s' at %s: vCenter rejected the user name or password, "
		    "and it could not be read again: %s", s->user, s->base, rerr);
	else
		snprintf(c->err, sizeof(c->err),
		    "login failed for user '%s' at %s: vCenter rejected the user name or password "
		    "from %s; if it was changed in vCenter, put the new one there "
		    "(vmcrypt-agent credential set vcenter.password): it is read again at the next "
		    "login, and the refused one is sent again at most every %d minutes",
		    s->user, s->base, src, (int)(REFUSED_RESEND_S / 60));
}

int
vsession_login(struct vconn *c)
{
	struct vsession *s = c->s;
	char src[600], rerr[512];
	enum reread rr = PW_SAME;
	unsigned gen;
	int rc, refused;
	double since;

	pthread_mutex_lock(&s->mtx);
	gen = s->generation;
	pthread_mutex_unlock(&s->mtx);
	pthread_mutex_lock(&s->login_mtx);
	pthread_mutex_lock(&s->mtx);
	refused = s->refused;
	since = mono_now() - s->refused_at;
	/* Another thread logged in while this one waited: its session serves. */
	if (s->logged_in && s->generation != gen) {
		pthread_mutex_unlock(&s->mtx);
		pthread_mutex_unlock(&s->login_mtx);
		return 0;
	}
	pthread_mutex_unlock(&s->mtx);
	config_password_source(s->pw_file, src, sizeof(src));

	if (refused && since < REFUSED_RESEND_S) {
		rr = password_reread(s, src, rerr, sizeof(rerr));
		if (rr != PW_NEW) {
			login_refused(c, src, rr, rerr);
			pthread_mutex_unlock(&s->login_mtx);
			return V_ERR_LOGIN;
		}
		log_info("%s holds a new password for user '%s': logging in with it", src, s->user);
	}
	rc = login_once(c);
	if (rc == V_ERR_LOGIN && rr != PW_NEW &&
	    (rr = password_reread(s, src, rerr, sizeof(rerr))) == PW_NEW) {
		log_info("vCenter refused the password for user '%s'; %s holds a new one: "
		    "logging in with it", s->user, src);
		rc = login_once(c);
	}
	if (rc == V_ERR_LOGIN)
		login_refused(c, src, rr, rerr);
	else if (rc == 0 && rr == PW_NEW)
		log_info("logged in to %s as %s with the new password from %s",
		    s->base, s->user, src);
	pthread_mutex_unlock(&s->login_mtx);
	return rc;
}
