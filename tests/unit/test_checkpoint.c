/* checkpoint.c: the file is parsed strictly, written atomically. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"

static void
test_parse(void **st)
{
	(void)st;
	struct checkpoint cp;
	assert_int_equal(checkpoint_parse("vmcrypt-agent checkpoint 1\nkey 74\n"
	    "time 2026-11-24T18:31:26.095334236Z\n", &cp), 0);
	assert_int_equal(cp.key, 74);
	assert_string_equal(cp.time, "2026-11-24T18:31:26.095334236Z");
	/* Torn or foreign content is refused, never half-used. */
	static const char *const bad[] = {
		"", "vmcrypt-agent checkpoint 1\n",
		"vmcrypt-agent checkpoint 1\nkey 74\n",
		"vmcrypt-agent checkpoint 1\nkey 74\ntime 2026-11-24T18:3",
		"vmcrypt-agent checkpoint 1\nkey -3\ntime 2026-11-24T18:31:26Z\n",
		"vmcrypt-agent checkpoint 1\nkey 7\ntime 2026-11-24T18:31:26Z\nextra\n",
		"vmcrypt-agent checkpoint 2\nkey 7\ntime 2026-11-24T18:31:26Z\n",
		"vmcrypt-agent checkpoint 1\nkey x\ntime 2026-11-24T18:31:26Z\n",
		"vmcrypt-agent checkpoint 1\nkey 7\ntime <script>\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(checkpoint_parse(bad[i], &cp), -1);
}

/*
 * A torn write: the file cut after any number of bytes.  Only the whole
 * file parses; no prefix is taken for a checkpoint (a prefix that cut the
 * time's fraction would otherwise resume from a different instant).
 */
static void
test_every_prefix_refused(void **st)
{
	(void)st;
	static const char whole[] = "vmcrypt-agent checkpoint 1\nkey 1234567\n"
	    "time 2026-11-24T18:31:26.095334236Z\n";
	char buf[sizeof(whole)];
	struct checkpoint cp;
	for (size_t n = 0; n < sizeof(whole) - 1; n++) {
		memcpy(buf, whole, n);
		buf[n] = '\0';
		if (checkpoint_parse(buf, &cp) != -1)
			fail_msg("a %zu-byte prefix parsed: \"%s\"", n, buf);
	}
	assert_int_equal(checkpoint_parse(whole, &cp), 0);
	assert_int_equal(cp.key, 1234567);
}

static void
test_write_read(void **st)
{
	(void)st;
	char dir[] = "/tmp/vmcrypt-cp-XXXXXX", err[256], path[300];
	struct checkpoint w = { 123456, "2026-11-24T18:31:26Z" }, r;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(checkpoint_read(dir, &r, err, sizeof(err)), 1);
	assert_int_equal(checkpoint_write(dir, &w, err, sizeof(err)), 0);
	assert_int_equal(checkpoint_read(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.key, 123456);
	assert_string_equal(r.time, w.time);
	w.key = 123457;
	assert_int_equal(checkpoint_write(dir, &w, err, sizeof(err)), 0);
	assert_int_equal(checkpoint_read(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.key, 123457);
	/* Owner-only, and no temporary file left behind. */
	struct stat sb;
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	snprintf(path, sizeof(path), "%s/.checkpoint.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	/* A torn file is reported, not trusted. */
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	FILE *f = fopen(path, "w");
	fputs("vmcrypt-agent checkpoint 1\nkey 12", f);
	fclose(f);
	assert_int_equal(checkpoint_read(dir, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a valid checkpoint"));
	unlink(path);
	rmdir(dir);
	/* An unwritable directory is an error with the path in it. */
	assert_int_equal(checkpoint_write("/nonexistent-dir", &w, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-dir"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_every_prefix_refused),
		cmocka_unit_test(test_write_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
