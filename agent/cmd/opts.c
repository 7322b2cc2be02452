/*
 * One parser for every command's options (opts.h).  The getopt_long table
 * and the short-option string are built from the command's table, so the
 * two can never disagree; opterr is off and every error is worded here,
 * the same for every command, where getopt's own would name the command
 * ("check: unrecognized option") and say nothing of what was expected.
 */
#include "opts.h"

#include "exitcode.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define OPTS_MAX	32		/* options in one table, --help included */
#define VAL_LONG	256		/* getopt_long's value for entry i: VAL_LONG + i */
#define HELP_COLUMN_MAX	30		/* the help lines start at most there */

static const struct opt help_opt = { "help", 'h', OPT_FLAG, NULL, NULL, NULL, 0, 0, NULL,
	"this help" };

/* The table's entries, then --help: n of them. */
static size_t
entries(const struct opts_cmd *cmd, const struct opt **out)
{
	size_t n = 0;

	for (const struct opt *o = cmd->opts; o != NULL && o->name != NULL &&
	    n < OPTS_MAX - 1; o++)
		out[n++] = o;
	out[n++] = &help_opt;
	return n;
}

/* Stores one value.  EXIT_OK, or EXIT_USAGE after its one line. */
static int
store(const struct opt *o, const char *arg)
{
	const char **list;
	char *end;
	long v;

	switch (o->kind) {
	case OPT_FLAG:
		*(int *)o->to = 1;
		return EXIT_OK;
	case OPT_STRING:
		*(const char **)o->to = arg;
		return EXIT_OK;
	case OPT_LIST:
		if (*o->count >= (size_t)o->max) {
			fprintf(stderr, "vmcrypt-agent: at most %ld --%s\n", o->max, o->name);
			return EXIT_USAGE;
		}
		list = o->to;
		list[(*o->count)++] = arg;
		return EXIT_OK;
	case OPT_INT:
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || v < o->min || v > o->max) {
			fprintf(stderr, "vmcrypt-agent: --%s %s: %ld..%ld%s%s\n", o->name, arg,
			    o->min, o->max, o->unit ? " " : "", o->unit ? o->unit : "");
			return EXIT_USAGE;
		}
		*(int *)o->to = (int)v;
		return EXIT_OK;
	}
	return EXIT_USAGE;
}

/* A command line getopt could not read: one line, then the usage. */
static int
misused(const struct opts_cmd *cmd, int ch, char **argv, const struct opt *const *e,
    size_t n)
{
	const struct opt *o = NULL;

	/* getopt's optopt: the entry's value (a long option), the letter
	 * (a short one), or 0 (a long option it does not know). */
	for (size_t i = 0; i < n && o == NULL && optopt != 0; i++)
		if (optopt == VAL_LONG + (int)i || optopt == e[i]->letter)
			o = e[i];
	if (ch == ':' && o != NULL)
		fprintf(stderr, "vmcrypt-agent: --%s needs %s\n", o->name, o->arg);
	else if (o != NULL)		/* --json=x */
		fprintf(stderr, "vmcrypt-agent: --%s takes no argument\n", o->name);
	else if (optopt > 0 && optopt < VAL_LONG)
		fprintf(stderr, "vmcrypt-agent: unknown option '-%c'\n", optopt);
	else
		fprintf(stderr, "vmcrypt-agent: unknown option '%s'\n", argv[optind - 1]);
	fputs(cmd->usage, stderr);
	return EXIT_USAGE;
}

/* The operands left after the options: how many, and where they go. */
static int
operands(const struct opts_cmd *cmd, int argc, char **argv)
{
	int n = argc - optind;

	if (n < cmd->min_args) {
		fprintf(stderr, "vmcrypt-agent: missing %s\n", cmd->args_name);
		fputs(cmd->usage, stderr);
		return EXIT_USAGE;
	}
	if (n > cmd->max_args) {
		fprintf(stderr, "vmcrypt-agent: unexpected argument '%s'\n",
		    argv[optind + cmd->max_args]);
		fputs(cmd->usage, stderr);
		return EXIT_USAGE;
	}
	for (int i = 0; i < n; i++)
		cmd->args[i] = argv[optind + i];
	return EXIT_OK;
}

int
opts_parse(const struct opts_cmd *cmd, int argc, char **argv)
{
	const struct opt *e[OPTS_MAX];
	struct option lo[OPTS_MAX + 1];
	char shorts[2 * OPTS_MAX + 2] = ":";	/* ':' reports a missing argument */
	size_t n = entries(cmd, e), ns = 1;
	int ch, rc;

	for (size_t i = 0; i < n; i++) {
		lo[i] = (struct option){ e[i]->name, e[i]->kind == OPT_FLAG ? no_argument :
		    required_argument, NULL, VAL_LONG + (int)i };
		if (e[i]->letter) {
			shorts[ns++] = (char)e[i]->letter;
			if (e[i]->kind != OPT_FLAG)
				shorts[ns++] = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[ns] = '\0';
	/* 0, not 1: glibc starts over (a command may run several in turn). */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct opt *o = NULL;
		for (size_t i = 0; i < n && o == NULL; i++)
			if (ch == VAL_LONG + (int)i || (ch < VAL_LONG && ch == e[i]->letter))
				o = e[i];
		if (o == NULL)
			return misused(cmd, ch, argv, e, n);
		if (o == &help_opt) {
			opts_help(cmd, stdout);
			return OPTS_HELP;
		}
		if ((rc = store(o, optarg)) != EXIT_OK)
			return rc;
	}
	return operands(cmd, argc, argv);
}

/* "  -c, --config FILE", or "      --json": its width. */
static int
left_side(const struct opt *o, char *buf, size_t len)
{
	return snprintf(buf, len, "  %c%c%c --%s%s%s", o->letter ? '-' : ' ',
	    o->letter ? o->letter : ' ', o->letter ? ',' : ' ', o->name, o->arg ? " " : "",
	    o->arg ? o->arg : "");
}

void
opts_help(const struct opts_cmd *cmd, FILE *f)
{
	const struct opt *e[OPTS_MAX];
	size_t n = entries(cmd, e);
	char left[96];
	int col = 0;

	/* The help lines start past the longest left side that is not
	 * too long; a longer one has its help on the next line. */
	for (size_t i = 0; i < n; i++) {
		int w = left_side(e[i], left, sizeof(left)) + 2;
		if (w > col && w <= HELP_COLUMN_MAX)
			col = w;
	}
	fputs(cmd->usage, f);
	if (cmd->about != NULL)
		fprintf(f, "\n%s", cmd->about);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		int w = left_side(e[i], left, sizeof(left));
		fputs(left, f);
		if (w + 2 > col)
			fprintf(f, "\n%*s", col, "");
		else
			fprintf(f, "%*s", col - w, "");
		for (const char *p = e[i]->help ? e[i]->help : ""; *p; p++) {
			fputc(*p, f);
			if (*p == '\n')
				fprintf(f, "%*s", col, "");
		}
		fputc('\n', f);
	}
	if (cmd->tail != NULL)
		fprintf(f, "\n%s", cmd->tail);
}
