/*
 * The command line of every command, parsed one way: a command describes
 * its options in a table (like Redis's one table of config options) and
 * opts_parse() does the rest for all of them alike: getopt_long, each
 * value checked and stored, the same wording for every error, --help.
 * What involves two options (these go together, one of those three) the
 * command checks after the parse: only it knows why.
 */
#ifndef VMCRYPT_OPTS_H
#define VMCRYPT_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

enum opt_kind {
	OPT_FLAG,	/* no argument: *(int *)to = 1 */
	OPT_STRING,	/* *(const char **)to = the argument; the last one given wins */
	OPT_LIST,	/* may be repeated: ((const char **)to)[(*count)++], at most max */
	OPT_INT,	/* *(int *)to = the argument, an integer in min..max */
};

struct opt {
	const char	*name;		/* the long name, without "--" */
	int		 letter;	/* the short one (-c), or 0 */
	enum opt_kind	 kind;
	const char	*arg;		/* what the argument is, for --help (FILE) */
	void		*to;		/* where it is stored (see enum opt_kind) */
	size_t		*count;		/* OPT_LIST: how many are stored */
	long		 min, max;	/* OPT_INT: the range; OPT_LIST: max only */
	const char	*unit;		/* OPT_INT: said after the range ("seconds") */
	const char	*help;		/* one line; "\n" continues it beneath */
};

/* A command's command line.  Texts end with a newline. */
struct opts_cmd {
	const char	*usage;		/* "usage: vmcrypt-agent NAME ...", first in --help,
					 * alone on stderr after a usage error */
	const char	*about;		/* --help: after the usage; NULL none */
	const char	*tail;		/* --help: after the options (exit status) */
	const struct opt *opts;		/* ends with a zeroed entry; --help is added */
	int		 min_args, max_args;	/* operands (after the options) */
	const char	*args_name;	/* what they are ("HOST[:PORT]"), for "missing" */
	const char	**args;		/* where they go: max_args of them */
};

/* The help line of --config and of --trace-soap, the same everywhere. */
#define OPTS_HELP_CONFIG	"the configuration (default $VMCRYPT_AGENT_CONFIG\n" \
				"or " CLI_DEFAULT_CONFIG ")"
#define OPTS_HELP_TRACE		"write every request and answer to DIR\n" \
				"(secrets redacted)"

/* opts_parse: --help was asked for and printed; the command is done. */
#define OPTS_HELP	(-1)

/*
 * Parses argv[1..argc-1] (argv[0] is the command's name) against cmd,
 * storing each value where its entry says; operands go to cmd->args.
 * Every value is checked; the first problem is one line on stderr
 * ("vmcrypt-agent: --timeout 0: 1..3600 seconds"), an unknown option or a
 * wrong number of operands adds the usage, and the result is EXIT_USAGE.
 * --help or -h prints the full help on stdout: OPTS_HELP.  Otherwise
 * EXIT_OK.  May be called again for another command (getopt is reset).
 */
int	opts_parse(const struct opts_cmd *cmd, int argc, char **argv);
/* The usage lines, then the options each with its help line, to f. */
void	opts_help(const struct opts_cmd *cmd, FILE *f);

#endif
