/* What every command shares: loading the configuration, and mapping a
 * failure to the exit codes documented in cli.h. */
#include "cli.h"

#include "config.h"
#include "log.h"
#include "vim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_load_config(const char *path, struct config **out)
{
	char err[8192];

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

int
cli_exit_for(int verr)
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
