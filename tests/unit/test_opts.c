/* opts.c: every command's options parsed from its table, every value
 * checked, every error worded alike; --help from the same table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "opts.h"

struct vals {
	const char	*config, *trace, *list[3], *arg;
	size_t		 nlist;
	int		 json, timeout;
};

/* What the command under test parses into, and its one result. */
static struct vals v;
static char out[8192], err[8192];

static const struct opt table[] = {
	{ "config", 'c', OPT_STRING, "FILE", &v.config, .help = OPTS_HELP_CONFIG },
	{ "json", 'j', OPT_FLAG, NULL, &v.json, .help = "as JSON" },
	{ "timeout", 0, OPT_INT, "SECONDS", &v.timeout, .min = 1, .max = 3600,
	  .unit = "seconds", .help = "wait this long" },
	{ "thumbprint", 0, OPT_LIST, "SHA1", v.list, &v.nlist, .max = 3,
	  .help = "one certificate" },
	{ "client-certificate-out", 0, OPT_STRING, "FILE", &v.trace, .help = "a long one" },
	{ NULL }
};

static const struct opts_cmd cmd = {
	.usage = "usage: vmcrypt-agent thing [--config FILE] ARG\n",
	.about = "Does a thing.\n",
	.tail = "exit status: 0 done.\n",
	.opts = table,
	.min_args = 1, .max_args = 1, .args_name = "ARG", .args = &v.arg,
};

/* Reads what fd got while it pointed at f, into buf. */
static void
slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* opts_parse on a NULL-terminated list of arguments, stdout and stderr
 * kept in out and err. */
static int
parse(const char *first, ...)
{
	char *argv[32];
	int argc = 0, rc, o = dup(1), e = dup(2);
	FILE *fo = tmpfile(), *fe = tmpfile();
	va_list ap;

	memset(&v, 0, sizeof(v));
	v.timeout = 60;
	argv[argc++] = "thing";
	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(fo), 1);
	dup2(fileno(fe), 2);
	rc = opts_parse(&cmd, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(o, 1);
	dup2(e, 2);
	close(o);
	close(e);
	slurp(fo, out, sizeof(out));
	slurp(fe, err, sizeof(err));
	return rc;
}

static void
test_values_are_stored(void **st)
{
	(void)st;
	assert_int_equal(parse("-c", "a.xml", "--json", "--timeout", "90", "--thumbprint",
	    "t1", "x", "--thumbprint", "t2", NULL), EXIT_OK);
	assert_string_equal(v.config, "a.xml");
	assert_int_equal(v.json, 1);
	assert_int_equal(v.timeout, 90);
	assert_int_equal(v.nlist, 2);
	assert_string_equal(v.list[0], "t1");
	assert_string_equal(v.list[1], "t2");
	assert_string_equal(v.arg, "x");
	assert_string_equal(out, "");
	assert_string_equal(err, "");
	/* Defaults stay; the last of a repeated string wins; a prefix is enough. */
	assert_int_equal(parse("x", "--conf", "a", "--config=b", "-j", NULL), EXIT_OK);
	assert_int_equal(v.timeout, 60);
	assert_string_equal(v.config, "b");
	assert_int_equal(v.nlist, 0);
	/* "--" ends the options. */
	assert_int_equal(parse("--", "--json", NULL), EXIT_OK);
	assert_string_equal(v.arg, "--json");
	assert_int_equal(v.json, 0);
}

static void
test_integer_out_of_range_or_not_a_number(void **st)
{
	(void)st;
	const char *bad[] = { "0", "3601", "5x", "", "-1", "99999999999999999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[128];
		assert_int_equal(parse("x", "--timeout", bad[i], NULL), EXIT_USAGE);
		snprintf(want, sizeof(want), "vmcrypt-agent: --timeout %s: 1..3600 seconds\n",
		    bad[i]);
		assert_string_equal(err, want);
		assert_string_equal(out, "");
	}
	assert_int_equal(parse("x", "--timeout", "3600", NULL), EXIT_OK);
	assert_int_equal(v.timeout, 3600);
}

static void
test_list_has_a_maximum(void **st)
{
	(void)st;
	assert_int_equal(parse("x", "--thumbprint", "1", "--thumbprint", "2", "--thumbprint",
	    "3", NULL), EXIT_OK);
	assert_int_equal(parse("x", "--thumbprint", "1", "--thumbprint", "2", "--thumbprint",
	    "3", "--thumbprint", "4", NULL), EXIT_USAGE);
	assert_string_equal(err, "vmcrypt-agent: at most 3 --thumbprint\n");
}

static void
test_misuse_says_what_and_shows_the_usage(void **st)
{
	(void)st;
	struct { const char *a, *b, *said; } cases[] = {
		{ "--bogus", NULL, "vmcrypt-agent: unknown option '--bogus'\n" },
		{ "-x", NULL, "vmcrypt-agent: unknown option '-x'\n" },
		{ "--t", NULL, "vmcrypt-agent: unknown option '--t'\n" },	/* ambiguous */
		{ "--config", NULL, "vmcrypt-agent: --config needs FILE\n" },
		{ "-c", NULL, "vmcrypt-agent: --config needs FILE\n" },
		{ "--json=yes", NULL, "vmcrypt-agent: --json takes no argument\n" },
		{ "x", "y", "vmcrypt-agent: unexpected argument 'y'\n" },
		{ "--json", NULL, "vmcrypt-agent: missing ARG\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[256];
		/* An operand first, so that only the case is wrong. */
		int rc = cases[i].b != NULL || strcmp(cases[i].a, "--json") == 0 ?
		    parse(cases[i].a, cases[i].b, NULL) : parse("x", cases[i].a, NULL);
		assert_int_equal(rc, EXIT_USAGE);
		snprintf(want, sizeof(want), "%s%s", cases[i].said, cmd.usage);
		assert_string_equal(err, want);
		assert_string_equal(out, "");
	}
}

static void
test_help_lists_every_option(void **st)
{
	(void)st;
	/* --help wins over what is missing, and over what follows it. */
	assert_int_equal(parse("--help", "--bogus", NULL), OPTS_HELP);
	assert_string_equal(err, "");
	assert_non_null(strstr(out, "usage: vmcrypt-agent thing [--config FILE] ARG\n\n"
	    "Does a thing.\n\n"));
	/* The help column: past the longest left side that fits. */
	assert_non_null(strstr(out, "\n\n  -c, --config FILE      the configuration (default "
	    "$VMCRYPT_AGENT_CONFIG\n                         or "));
	assert_non_null(strstr(out, "\n  -j, --json             as JSON\n"));
	assert_non_null(strstr(out, "\n      --timeout SECONDS  wait this long\n"));
	/* Too long for the column: its help on the next line. */
	assert_non_null(strstr(out, "\n      --client-certificate-out FILE\n"
	    "                         a long one\n"));
	assert_non_null(strstr(out, "\n  -h, --help             this help\n\n"
	    "exit status: 0 done.\n"));
	assert_int_equal(parse("-h", NULL), OPTS_HELP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_are_stored),
		cmocka_unit_test(test_integer_out_of_range_or_not_a_number),
		cmocka_unit_test(test_list_has_a_maximum),
		cmocka_unit_test(test_misuse_says_what_and_shows_the_usage),
		cmocka_unit_test(test_help_lists_every_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
