/*
 * The vCenter password: where it comes from (one handed over by
 * `credential set`, systemd's credential, the password file, the
 * environment), read again when vCenter refuses it, and wiped after use
 * (config.h).
 */
#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* The password handed over, and the file it stands in for as that file
 * was then (known 0: there was none). */
static struct {
	pthread_mutex_t	 mtx;
	char		*secret;
	int		 known;
	struct stat	 st;
	char		 pw_file[4096];	/* password-file as last read ("": none) */
} handed = { .mtx = PTHREAD_MUTEX_INITIALIZER };

#define HANDOVER_SOURCE	"the password handed over by `vmcrypt-agent credential set`"

/* The file config_password_read reads (NULL: the environment) into buf. */
static const char *
password_path(const char *password_file, char *buf, size_t len)
{
	const char *cd = getenv("CREDENTIALS_DIRECTORY");

	if (cd != NULL && cd[0] == '/') {
		snprintf(buf, len, "%s/vcenter.password", cd);
		if (access(buf, F_OK) == 0)
			return buf;
	}
	return password_file;
}

/* 1 if the file now is the one the hand-over stood in for. */
static int
same_file(int known, const struct stat *then, const char *path)
{
	struct stat now;
	int exists = path != NULL && stat(path, &now) == 0;

	if (!known || !exists)
		return known == exists;
	return now.st_dev == then->st_dev && now.st_ino == then->st_ino &&
	    now.st_size == then->st_size && now.st_mtim.tv_sec == then->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == then->st_mtim.tv_nsec;
}

int
config_password_handover(const char *name, const char *secret, size_t len, char *reply,
    size_t rlen)
{
	char buf[4096], pw_file[sizeof(handed.pw_file)];
	const char *path;
	char *old;

	if (strcmp(name, "vcenter.password") != 0) {
		snprintf(reply, rlen, "%.64s is not taken by the running agent (only "
		    "vcenter.password is: `run` does not call OVHcloud); the file written is "
		    "read at the next start of the unit that loads it", name);
		return -1;
	}
	if (len == 0 || strlen(secret) != len) {
		snprintf(reply, rlen, "an empty secret");
		return -1;
	}
	pthread_mutex_lock(&handed.mtx);
	memcpy(pw_file, handed.pw_file, sizeof(pw_file));
	path = password_path(pw_file[0] ? pw_file : NULL, buf, sizeof(buf));
	old = handed.secret;
	handed.secret = xstrdup(secret);
	handed.known = path != NULL && stat(path, &handed.st) == 0;
	pthread_mutex_unlock(&handed.mtx);
	secret_free(old);
	return 0;
}

/* A copy of the password handed over, or NULL: none, or its file has
 * changed since (then it is dropped: the file is newer). */
static char *
handover_copy(const char *password_file)
{
	char buf[4096];
	const char *path = password_path(password_file, buf, sizeof(buf));
	char *pw = NULL, *drop = NULL;

	pthread_mutex_lock(&handed.mtx);
	snprintf(handed.pw_file, sizeof(handed.pw_file), "%s",
	    password_file ? password_file : "");
	if (handed.secret != NULL && same_file(handed.known, &handed.st, path))
		pw = xstrdup(handed.secret);
	else if (handed.secret != NULL) {
		drop = handed.secret;
		handed.secret = NULL;
	}
	pthread_mutex_unlock(&handed.mtx);
	if (drop != NULL)
		log_info("%s is newer than the password handed over by `credential set`: "
		    "it is used from now on", path ? path : "the password's source");
	secret_free(drop);
	return pw;
}

static char *
read_password_file(const char *path, char *err, size_t errlen)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		snprintf(err, errlen, "password-file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "password-file %s: not a regular file",
		    path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
		    "password-file %s is accessible by group or other (mode %03o); run: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "password-file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "password-file %s is empty", path);
		return NULL;
	}
	char *s = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return s;
}

/*
 * The vCenter password: the one handed over by `credential set` while its
 * file is unchanged (config_password_handover), else systemd's credential
 * (LoadCredentialEncrypted= or LoadCredential= vcenter.password, in
 * $CREDENTIALS_DIRECTORY: what the unit, or an instance of the template
 * unit, hands over), else password-file, else
 * VMCRYPT_VC_PASSWORD.  Read again when vCenter refuses it (vlogin.c), so it
 * takes only what a session keeps: the file's path and the configuration's.
 */
char *
config_password_read(const char *password_file, const char *cfg_path, char *err,
    size_t errlen)
{
	const char *cd = getenv("CREDENTIALS_DIRECTORY");
	char *handover = handover_copy(password_file);

	if (handover != NULL)
		return handover;
	if (cd != NULL && cd[0] == '/') {
		char path[4096];
		snprintf(path, sizeof(path), "%s/vcenter.password", cd);
		if (access(path, F_OK) == 0)
			return read_password_file(path, err, errlen);
	}
	if (password_file != NULL)
		return read_password_file(password_file, err, errlen);
	const char *env = getenv("VMCRYPT_VC_PASSWORD");
	if (env == NULL || *env == '\0') {
		snprintf(err, errlen,
		    "no vCenter password: set password-file in %s, the credential vcenter.password (vmcrypt-agent credential set vcenter.password) or the environment variable VMCRYPT_VC_PASSWORD",
		    cfg_path);
		return NULL;
	}
	char *pw = xstrdup(env);
	/* Wipe it where /proc/PID/environ shows it (the process's initial
	 * environment block), not just from environ[]. */
	explicit_bzero((char *)env, strlen(env));
	return pw;
}

char *
config_read_password(const struct config *cfg, char *err, size_t errlen)
{
	return config_password_read(cfg->password_file, cfg->path, err, errlen);
}

/* Where config_password_read takes the password from, for messages. */
void
config_password_source(const char *password_file, char *buf, size_t len)
{
	const char *cd = getenv("CREDENTIALS_DIRECTORY");
	char *handover = handover_copy(password_file);

	if (handover != NULL) {
		secret_free(handover);
		snprintf(buf, len, HANDOVER_SOURCE);
		return;
	}
	if (cd != NULL && cd[0] == '/') {
		snprintf(buf, len, "%s/vcenter.password", cd);
		if (access(buf, F_OK) == 0) {
			snprintf(buf, len, "the credential vcenter.password (%s/vcenter.password)", cd);
			return;
		}
	}
	if (password_file != NULL)
		snprintf(buf, len, "password-file %s", password_file);
	else
		snprintf(buf, len, "VMCRYPT_VC_PASSWORD (read once, at start)");
}
