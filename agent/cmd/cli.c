/* What every command shares: loading the configuration, and mapping a
 * failure to the exit codes documented in cli.h. */
#include "cli.h"
#include "enforce.h"
#include "keyage.h"
#include "kmipio.h"

#include "config.h"
#include "log.h"
#include "steps.h"
#include "vim.h"
#include "trace.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
cli_default_config(void)
{
	const char *env = getenv("VMCRYPT_AGENT_CONFIG");

	return env != NULL && env[0] != '\0' ? env : CLI_DEFAULT_CONFIG;
}

int
cli_load_config(const char *path, struct config **out)
{
	char err[8192];

	if (path == NULL) {
		path = cli_default_config();
		if (access(path, F_OK) != 0) {
			fprintf(stderr, "vmcrypt-agent: no --config FILE given, and %s (the "
			    "default, as the service uses) does not exist: give --config, or "
			    "install the package and edit that file\n", path);
			return EXIT_CONFIG;
		}
	}
	if (config_load(path, out, err, sizeof(err)) != 0) {
		fputs(err, stderr);
		if (err[0] && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		return EXIT_CONFIG;
	}
	enum log_level lvl;
	if (log_parse_level((*out)->log_level, &lvl) == 0 && getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(lvl);
	return EXIT_OK;
}

/* Opens a logged-in session for a one-shot command. */
int
cli_open_session(const struct config *cfg, struct vsession **out)
{
	char err[1024];
	int rc = cli_open_session_err(cfg, out, err, sizeof(err));

	if (rc != EXIT_OK)
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
	return rc;
}

int
cli_open_session_err(const struct config *cfg, struct vsession **out, char *err,
    size_t errlen)
{
	char *password;
	struct vsession *s;
	int rc;

	*out = NULL;
	if ((password = config_read_password(cfg, err, errlen)) == NULL)
		return EXIT_CONFIG;
	if ((s = vsession_new(cfg, err, errlen)) == NULL) {
		secret_free(password);
		return EXIT_CONNECT;
	}
	rc = vsession_open(s, password, err, errlen);
	secret_free(password);
	if (rc != 0) {
		vsession_free(s);
		return vim_exit_code(rc);
	}
	*out = s;
	return EXIT_OK;
}

int
cli_trace_soap(struct config *cfg, const char *dir)
{
	char err[512];

	if (dir != NULL) {
		free(cfg->trace_dir);
		cfg->trace_dir = xstrdup(dir);
		if (cfg->trace_keep <= 0)
			cfg->trace_keep = 2000;
	}
	if (cfg->trace_dir == NULL)
		return EXIT_OK;
	if (trace_dir_ready(cfg->trace_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

void
cli_key_ages(struct enforcer *e, const struct config *cfg)
{
	char dir[4096], err[1024];

	const struct kmip_target *t = kmip_target_of(cfg);
	if (t != NULL)
		keybook_set_kms(enforcer_keybook(e), kmip_key_since_cb, (void *)t);
	snprintf(dir, sizeof(dir), "%s/evidence", cfg->state_dir);
	if (access(dir, R_OK | X_OK) != 0)
		return;		/* no log here, or not this user's to read */
	if (keybook_load(enforcer_keybook(e), dir, err, sizeof(err)) != 0)
		fprintf(stderr, "vmcrypt-agent: key ages: the evidence log cannot be read (%s); "
		    "they come from vCenter's events\n", err);
}

void
cli_guide_vcenter(const struct config *cfg, struct steps *st,
    void (*fn)(struct vconn *, void *), void *arg)
{
	struct vsession *vs = NULL;
	char err[1024];
	int rc;

	char *password = config_read_password(cfg, err, sizeof(err));
	if (password == NULL || (vs = vsession_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		st->exit_code = EXIT_CONFIG;
	} else if ((rc = vsession_open(vs, password, err, sizeof(err))) != 0) {
		struct step *s = steps_add(st, "vcenter", STEP_FAILED, "%s", err);
		steps_fail(st, s, vim_exit_code(rc), "check <vcenter url>, the account and its "
		    "password (vmcrypt-agent check says more)");
	} else {
		secret_free(password);
		password = NULL;
		struct vconn *c = vconn_new(vs);
		vconn_set_timeout(c, cfg->timeout);
		fn(c, arg);
		vconn_free(c);
		vsession_close(vs);
	}
	secret_free(password);
	vsession_free(vs);
}
