/*
 * The vCenter password: where it comes from (systemd's credential, the
 * password file, the environment), read again when vCenter refuses it,
 * and wiped after use (config.h).
 */
#include "config.h"
#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
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
 * The vCenter password: systemd's credential (LoadCredentialEncrypted= or
 * LoadCredential= vcenter.password, in $CREDENTIALS_DIRECTORY: what the unit,
 * or an instance of the template unit, hands over), else password-file, else
 * VMCRYPT_VC_PASSWORD.  Read again when vCenter refuses it (vlogin.c), so it
 * takes only what a session keeps: the file's path and the configuration's.
 */
char *
config_password_read(const char *password_file, const char *cfg_path, char *err,
    size_t errlen)
{
	const char *cd = getenv("CREDENTIALS_DIRECTORY");

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
