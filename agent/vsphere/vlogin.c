/*
 * The password Login sends (vsession.c sends it).  A password rotated in vCenter and in
 * its source (systemd's credential, password-file) is taken without a
 * restart: when vCenter refuses the one held (InvalidLogin), the source is
 * read again before the caller backs off, and a new one is tried at once.
 * A refused password is not sent again for REFUSED_RESEND_S, whoever asks
 * (watcher, lease, pool): vCenter's SSO locks an account after a few failed
 * logins, and an agent that retried in a loop would lock its own.
 * And the exit code a command ends with when its session failed.
 */
#include "vsoap_int.h"

#include "config.h"
#include "exitcode.h"
#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFUSED_RESEND_S	300.0

enum reread { PW_SAME, PW_NEW, PW_UNREADABLE };

static void login_refused(struct vsession *, enum reread, const char *, char *, size_t);

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
login_refused(struct vsession *s, enum reread rr, const char *rerr, char *err,
    size_t errlen)
{
	const char *src = s->pw_src;

	if (rr == PW_UNREADABLE)
		snprintf(err, errlen,
		    "login failed for user '%s' at %s: vCenter rejected the user name or password, "
		    "and it could not be read again: %s", s->user, s->base, rerr);
	else
		snprintf(err, errlen,
		    "login failed for user '%s' at %s: vCenter rejected the user name or password "
		    "from %s; if it was changed in vCenter, put the new one there "
		    "(vmcrypt-agent credential set vcenter.password): it is read again at the next "
		    "login, and the refused one is sent again at most every %d minutes",
		    s->user, s->base, src, (int)(REFUSED_RESEND_S / 60));
}

/*
 * Takes the login turn (logins take turns: the first to find the session
 * gone logs in for all).  VP_SKIP: another thread logged in while this one
 * waited (turn given back); VP_REFUSED: the password held was refused
 * lately and its source holds no other (err says so; turn given back);
 * VP_GO: send Login, then vpassword_end.
 */
int
vpassword_begin(struct vsession *s, char *err, size_t errlen)
{
	char rerr[512];
	enum reread rr;
	unsigned gen;
	int refused;
	double since;

	pthread_mutex_lock(&s->mtx);
	gen = s->generation;
	pthread_mutex_unlock(&s->mtx);
	pthread_mutex_lock(&s->login_mtx);
	pthread_mutex_lock(&s->mtx);
	refused = s->refused;
	since = mono_now() - s->refused_at;
	int skip = s->logged_in && s->generation != gen;
	pthread_mutex_unlock(&s->mtx);
	s->reread_new = 0;
	config_password_source(s->pw_file, s->pw_src, sizeof(s->pw_src));
	if (skip || !refused || since >= REFUSED_RESEND_S) {
		if (skip)
			pthread_mutex_unlock(&s->login_mtx);
		return skip ? VP_SKIP : VP_GO;
	}
	if ((rr = password_reread(s, s->pw_src, rerr, sizeof(rerr))) != PW_NEW) {
		login_refused(s, rr, rerr, err, errlen);
		pthread_mutex_unlock(&s->login_mtx);
		return VP_REFUSED;
	}
	s->reread_new = 1;
	log_info("%s holds a new password for user '%s': logging in with it", s->pw_src,
	    s->user);
	return VP_GO;
}

/* vCenter refused the password just sent: 1 if its source holds a new one
 * (send Login again), else 0 with the refusal and its fix in err. */
int
vpassword_refused(struct vsession *s, char *err, size_t errlen)
{
	char rerr[512] = "";
	enum reread rr = PW_SAME;

	pthread_mutex_lock(&s->mtx);
	s->refused = 1;
	s->refused_at = mono_now();
	pthread_mutex_unlock(&s->mtx);
	if (!s->reread_new &&
	    (rr = password_reread(s, s->pw_src, rerr, sizeof(rerr))) == PW_NEW) {
		s->reread_new = 1;
		log_info("vCenter refused the password for user '%s'; %s holds a new one: "
		    "logging in with it", s->user, s->pw_src);
		return 1;
	}
	login_refused(s, rr, rerr, err, errlen);
	return 0;
}

/* Gives the turn back after Login (rc: its outcome). */
void
vpassword_end(struct vsession *s, int rc)
{
	if (rc == 0) {
		pthread_mutex_lock(&s->mtx);
		s->refused = 0;
		pthread_mutex_unlock(&s->mtx);
		if (s->reread_new)
			log_info("logged in to %s as %s with the new password from %s",
			    s->base, s->user, s->pw_src);
	}
	pthread_mutex_unlock(&s->login_mtx);
}

/* A copy of the password held, for one Login; wipe it with secret_free. */
char *
vpassword_copy(struct vsession *s)
{
	pthread_mutex_lock(&s->mtx);
	char *pw = xstrdup(s->password ? s->password : "");
	pthread_mutex_unlock(&s->mtx);
	return pw;
}

/* The exit code a command ends with after a V_ERR_* failure (exitcode.h). */
int
vim_exit_code(int verr)
{
	switch (verr) {
	case 0:
		return EXIT_OK;
	case V_ERR_LOGIN:
		return EXIT_LOGIN;
	case V_ERR_TRANSPORT:
	case V_ERR_TLS:
	case V_ERR_PROTO:
		return EXIT_CONNECT;
	default:
		return EXIT_FAIL;
	}
}
