/* The credential hand-over: the message's parser (every way a peer can get
 * it wrong) and the password handed over against its file (it wins while
 * the file is the copy it stood in for; a newer file wins). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "credsock.h"

static int
parse(const char *msg, const char **name, const char **secret, size_t *slen,
    const char **why)
{
	static char buf[CREDSOCK_MAX + 1];
	size_t n = strlen(msg);
	memcpy(buf, msg, n);
	return credsock_parse(buf, n, name, secret, slen, why);
}

static void
test_parse(void **st)
{
	const char *name, *secret, *why;
	size_t n;
	char big[CREDSOCK_NAME_MAX + 10];
	(void)st;

	assert_int_equal(parse("vcenter.password\ns3cret\n", &name, &secret, &n, &why), 0);
	assert_string_equal(name, "vcenter.password");
	assert_string_equal(secret, "s3cret");
	assert_int_equal(n, 6);
	assert_int_equal(parse("vcenter.password\nwith space\r\n", &name, &secret, &n, &why), 0);
	assert_string_equal(secret, "with space");
	/* Refused, each with its reason. */
	assert_int_equal(parse("", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "no NAME line"));
	assert_int_equal(parse("vcenter.password", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "no NAME line"));
	assert_int_equal(parse("vcenter.password\nhalf-a-secr", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "cut off"));
	assert_int_equal(parse("vcenter.password\n", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "cut off"));
	assert_int_equal(parse("vcenter.password\n\n", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "empty secret"));
	assert_int_equal(parse("\nsecret\n", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "empty NAME"));
	assert_int_equal(parse("vcenter password\nsecret\n", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "printable"));
	assert_int_equal(parse("vcenter.password\ntwo\nlines\n", &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "newline"));
	memset(big, 'a', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(big, &name, &secret, &n, &why), -1);
	assert_non_null(strstr(why, "too long"));
	/* A NUL inside the secret. */
	char nul[] = "vcenter.password\nab\0cd\n";
	assert_int_equal(credsock_parse(nul, sizeof(nul) - 1, &name, &secret, &n, &why), -1);
}

static void
put(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(tmp, 0600);		/* read_password_file refuses group/other */
	assert_int_equal(rename(tmp, path), 0);
}

static void
test_handover_against_its_file(void **st)
{
	char dir[] = "/tmp/test_credsock.XXXXXX", path[512], err[256], reply[256], src[256];
	(void)st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vcenter.password", dir);
	put(path, "old-password\n");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	char *pw = config_password_read(NULL, "cfg.xml", err, sizeof(err));
	assert_string_equal(pw, "old-password");
	secret_free(pw);
	/* Only vcenter.password is taken. */
	assert_int_equal(config_password_handover("ovh.consumer-key", "ck", 2, reply,
	    sizeof(reply)), -1);
	assert_non_null(strstr(reply, "only vcenter.password"));
	pw = config_password_read(NULL, "cfg.xml", err, sizeof(err));
	assert_string_equal(pw, "old-password");
	secret_free(pw);
	/* Handed over: it wins over the stale copy, and is named as the source. */
	assert_int_equal(config_password_handover("vcenter.password", "new-password", 12,
	    reply, sizeof(reply)), 0);
	pw = config_password_read(NULL, "cfg.xml", err, sizeof(err));
	assert_string_equal(pw, "new-password");
	secret_free(pw);
	config_password_source(NULL, src, sizeof(src));
	assert_non_null(strstr(src, "handed over by `vmcrypt-agent credential set`"));
	/* The file rewritten since (systemd 260's refresh): the file wins. */
	sleep(1);
	put(path, "newest-password\n");
	pw = config_password_read(NULL, "cfg.xml", err, sizeof(err));
	assert_string_equal(pw, "newest-password");
	secret_free(pw);
	config_password_source(NULL, src, sizeof(src));
	assert_non_null(strstr(src, "credential vcenter.password"));
	unlink(path);
	rmdir(dir);
	unsetenv("CREDENTIALS_DIRECTORY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_handover_against_its_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
