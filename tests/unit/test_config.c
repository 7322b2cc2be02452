/* config.c: the XSD is enforced, errors name file:line, bad files change
 * nothing, password files must be private. */
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

#include "config.h"

static char path[64];

static const char *
write_cfg(const char *body)
{
	snprintf(path, sizeof(path), "/tmp/vmcrypt-test-%d.xml", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	return path;
}

static void
test_minimal_defaults(void **st)
{
	(void)st;
	struct config *c;
	char err[4096];
	write_cfg("<vmcrypt-agent version=\"1\"><vcenter url=\"https://vc.example/sdk\" user=\"u\">"
	    "<tls thumbprint=\"ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01\"/></vcenter>"
	    "</vmcrypt-agent>");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->vc_url, "https://vc.example/sdk");
	assert_int_equal(c->tls.mode, TLS_PINNED);
	assert_string_equal(c->tls.thumbprint, "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01");
	assert_string_equal(c->policy_name, "VM Encryption Policy");
	assert_int_equal(c->min_hw_version, 13);
	assert_int_equal(c->max_in_flight, 8);
	assert_false(c->rekey_shallow);
	assert_false(c->vtpm_report);		/* vtpm-disks="encrypt" */
	assert_string_equal(c->migrate_encryption, "required");
	assert_string_equal(c->pbm_path, "/pbm/sdk");
	assert_int_equal(c->timeout, 60);
	/* The metrics listener is loopback unless the file says otherwise. */
	assert_string_equal(c->metrics_listen, "127.0.0.1:9480");
	config_free(c);
	write_cfg("<vmcrypt-agent version=\"1\"><vcenter url=\"https://vc.example/sdk\" user=\"u\">"
	    "<tls thumbprint=\"ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01\"/></vcenter>"
	    "<metrics/></vmcrypt-agent>");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->metrics_listen, "127.0.0.1:9480");
	config_free(c);
}

/* <ha>: defaults, values, the heartbeat/lease rule; $STATE_DIRECTORY wins
 * over <state-dir> (systemd's StateDirectory=, one per template instance). */
static void
test_ha_and_state_directory(void **st)
{
	(void)st;
	struct config *c;
	char err[4096];
	const char *head = "<vmcrypt-agent version=\"1\"><vcenter url=\"https://vc.example/sdk\" "
	    "user=\"u\"><tls insecure=\"true\"/></vcenter>";
	char body[1024];

	snprintf(body, sizeof(body), "%s<state-dir>/srv/a</state-dir></vmcrypt-agent>", head);
	write_cfg(body);
	unsetenv("STATE_DIRECTORY");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->lease_seconds, 15);
	assert_int_equal(c->heartbeat_seconds, 5);
	assert_string_equal(c->state_dir, "/srv/a");
	config_free(c);
	setenv("STATE_DIRECTORY", "/var/lib/vmcrypt-agent/paris", 1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->state_dir, "/var/lib/vmcrypt-agent/paris");
	config_free(c);
	unsetenv("STATE_DIRECTORY");

	snprintf(body, sizeof(body), "%s<ha lease-seconds=\"30\" heartbeat-seconds=\"10\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->lease_seconds, 30);
	assert_int_equal(c->heartbeat_seconds, 10);
	config_free(c);
	snprintf(body, sizeof(body), "%s<ha lease-seconds=\"10\" heartbeat-seconds=\"6\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_not_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "heartbeat-seconds (6) must be at most half of lease-seconds (10)"));
	snprintf(body, sizeof(body), "%s<ha lease-seconds=\"1\"/></vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_not_equal(config_load(path, &c, err, sizeof(err)), 0);
}

static void
test_full(void **st)
{
	(void)st;
	struct config *c;
	char err[4096];
	write_cfg("<vmcrypt-agent version=\"1\">\n"
	    "<vcenter url=\"https://vc:8443/sdk\" user=\"u\" timeout=\"30\"><tls insecure=\"true\"/></vcenter>\n"
	    "<encryption-policy id=\"4d5f673c-536f-11e6-beb8-9e71128cae77\"/>\n"
	    "<kms cluster=\"k\"><server name=\"a\" address=\"10.0.0.1\"/><server name=\"b\" address=\"10.0.0.2\" port=\"5697\"/>"
	    "<default-for path=\"/DC/host/C1\"/><default-for path=\"/DC/host/C2\"/></kms>\n"
	    "<enforce min-hw-version=\"14\" ft-encryption=\"required\" dry-run=\"true\" rekey=\"shallow\"\n"
	    "  vtpm-disks=\"report\"/>\n"
	    "<exclusions><name-pattern>vCLS-*</name-pattern><folder>/DC/vm/x</folder>"
	    "<custom-attribute name=\"vmcrypt.exempt\"/></exclusions>\n"
	    "<log level=\"debug\"/></vmcrypt-agent>\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->tls.mode, TLS_INSECURE);
	assert_null(c->policy_name);
	assert_string_equal(c->policy_id, "4d5f673c-536f-11e6-beb8-9e71128cae77");
	assert_int_equal(c->nkms_servers, 2);
	assert_int_equal(c->kms_servers[0].port, 5696);
	assert_int_equal(c->kms_servers[1].port, 5697);
	assert_int_equal(c->nkms_default_for, 2);
	assert_string_equal(c->kms_default_for[1], "/DC/host/C2");
	assert_int_equal(c->min_hw_version, 14);
	assert_true(c->dry_run);
	assert_true(c->rekey_shallow);
	assert_true(c->vtpm_report);
	assert_int_equal(c->nexclusions, 3);
	assert_int_equal(c->exclusions[2].kind, EXCL_CUSTOM_ATTR);
	assert_string_equal(c->exclusions[2].value, "true");
	assert_int_equal(c->timeout, 30);
	config_free(c);
}

/* Each bad file: rejected, *out untouched (NULL), error names the line. */
static void
expect_error(const char *body, const char *line_tag, const char *needle)
{
	struct config *c = (struct config *)0x1;
	char err[4096];
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_null(c);
	char want[128];
	snprintf(want, sizeof(want), "%s:%s", path, line_tag);
	if (strstr(err, want) == NULL || strstr(err, needle) == NULL)
		fail_msg("expected '%s' and '%s' in: %s", want, needle, err);
}

static void
test_errors(void **st)
{
	(void)st;
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"http://vc/sdk\" user=\"u\"/>\n</vmcrypt-agent>",
	    "2:", "url");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\">\n"
	    "<tls thumbprint=\"zz\"/></vcenter></vmcrypt-agent>", "3:", "thumbprint");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\"/>\n"
	    "<surprise/>\n</vmcrypt-agent>", "3:", "surprise");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/other\" user=\"u\"/>\n</vmcrypt-agent>",
	    "2:", "/sdk");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\">\n"
	    "<tls insecure=\"true\" thumbprint=\"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01\"/>"
	    "</vcenter></vmcrypt-agent>", "3:", "one of");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\"", "", "");
	expect_error("<vmcrypt-agent version=\"2\"><vcenter url=\"https://vc/sdk\" user=\"u\"/></vmcrypt-agent>",
	    "1:", "version");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\"/>\n"
	    "<enforce min-hw-version=\"11\"/>\n</vmcrypt-agent>", "3:", "min-hw-version");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\"/>\n"
	    "<enforce rekey=\"deep\"/>\n</vmcrypt-agent>", "3:", "rekey");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\"/>\n"
	    "<kms><default-for path=\"/DC/host/C\"/></kms>\n</vmcrypt-agent>", "", "needs <kms cluster");
	expect_error("<vmcrypt-agent version=\"1\">\n<vcenter url=\"https://vc/sdk\" user=\"u\"/>\n"
	    "<kms cluster=\"k\"><default-for path=\"DC/host/C\"/></kms>\n</vmcrypt-agent>", "3:", "path");
	/* An entity must not be fetched or expanded from outside. */
	expect_error("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n<vmcrypt-agent version=\"1\">\n"
	    "<vcenter url=\"https://vc/sdk\" user=\"&e;\"/></vmcrypt-agent>", "", "");
}

static void
test_missing_file(void **st)
{
	(void)st;
	struct config *c;
	char err[512];
	assert_int_equal(config_load("/nonexistent/vmcrypt.xml", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/vmcrypt.xml"));
}

static void
test_password_file_mode(void **st)
{
	(void)st;
	struct config c = { .path = "cfg.xml" };
	char pw[64], err[512], *s;
	snprintf(pw, sizeof(pw), "/tmp/vmcrypt-pw-%d", (int)getpid());
	FILE *f = fopen(pw, "w");
	fputs("hunter2\n", f);
	fclose(f);
	c.password_file = pw;
	chmod(pw, 0640);
	assert_null(config_read_password(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "chmod 600"));
	assert_null(strstr(err, "hunter2"));
	chmod(pw, 0600);
	s = config_read_password(&c, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "hunter2");
	secret_free(s);
	unlink(pw);
	c.password_file = NULL;
	unsetenv("VMCRYPT_VC_PASSWORD");
	assert_null(config_read_password(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "VMCRYPT_VC_PASSWORD"));
	setenv("VMCRYPT_VC_PASSWORD", "from-env", 1);
	s = config_read_password(&c, err, sizeof(err));
	assert_string_equal(s, "from-env");
	secret_free(s);

	/* systemd's credential (LoadCredential=vcenter.password) comes first;
	 * a credentials directory without it changes nothing. */
	char cd[64], cp[96];
	snprintf(cd, sizeof(cd), "/tmp/vmcrypt-cred-%d", (int)getpid());
	mkdir(cd, 0700);
	setenv("CREDENTIALS_DIRECTORY", cd, 1);
	setenv("VMCRYPT_VC_PASSWORD", "from-env", 1);
	s = config_read_password(&c, err, sizeof(err));
	assert_string_equal(s, "from-env");
	secret_free(s);
	snprintf(cp, sizeof(cp), "%s/vcenter.password", cd);
	f = fopen(cp, "w");
	fputs("from-credential\n", f);
	fclose(f);
	chmod(cp, 0400);
	c.password_file = "/nonexistent/password";
	s = config_read_password(&c, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "from-credential");
	secret_free(s);
	/* Where it comes from, named for messages (never the secret), in the
	 * same order; read again, a rewritten credential gives the new one. */
	char src[512];
	config_password_source(c.password_file, src, sizeof(src));
	assert_non_null(strstr(src, "the credential vcenter.password"));
	f = fopen(cp, "w");
	fputs("rotated\n", f);
	fclose(f);
	chmod(cp, 0400);
	s = config_password_read(c.password_file, c.path, err, sizeof(err));
	assert_string_equal(s, "rotated");
	secret_free(s);
	unlink(cp);
	config_password_source(c.password_file, src, sizeof(src));
	assert_string_equal(src, "password-file /nonexistent/password");
	config_password_source(NULL, src, sizeof(src));
	assert_non_null(strstr(src, "VMCRYPT_VC_PASSWORD"));
	rmdir(cd);
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* <rekey>: units s, m, h, d; the window's ends as seconds of the day;
 * none at all: no cryptoperiod; a zero age, a bad unit, an empty window
 * refused with the line. */
static void
test_rekey(void **st)
{
	(void)st;
	struct config *c;
	char err[4096], body[1024];
	const char *head = "<vmcrypt-agent version=\"1\"><vcenter url=\"https://vc.example/sdk\" "
	    "user=\"u\"><tls insecure=\"true\"/></vcenter><enforce/>\n";

	snprintf(body, sizeof(body), "%s</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->rekey_max_age, 0);
	config_free(c);
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"365d\" window=\"22:00-06:00\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->rekey_max_age, 365L * 86400);
	assert_int_equal(c->rekey_per_hour, 20);
	assert_int_equal(c->rekey_win_from, 22 * 3600);
	assert_int_equal(c->rekey_win_to, 6 * 3600);
	assert_string_equal(c->rekey_window, "22:00-06:00");
	config_free(c);
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"90s\" max-per-hour=\"36000\" "
	    "window=\"21:05:30-21:06:10\"/></vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->rekey_max_age, 90);
	assert_int_equal(c->rekey_per_hour, 36000);
	assert_int_equal(c->rekey_win_from, 21 * 3600 + 5 * 60 + 30);
	assert_int_equal(c->rekey_win_to, 21 * 3600 + 6 * 60 + 10);
	config_free(c);
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"2h\"/></vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c->rekey_max_age, 7200);
	assert_int_equal(c->rekey_win_from, -1);
	assert_null(c->rekey_window);
	config_free(c);
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"0d\"/></vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: rekey max-key-age must be more than 0"));
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"5y\"/></vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "max-key-age"));
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"1d\" window=\"06:00-06:00\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "rekey window '06:00-06:00' is empty"));
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"1d\" window=\"25:00-06:00\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "window"));
	snprintf(body, sizeof(body), "%s<rekey max-key-age=\"1d\" max-per-hour=\"0\"/>"
	    "</vmcrypt-agent>", head);
	write_cfg(body);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "max-per-hour"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ha_and_state_directory),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_password_file_mode),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return rc;
}
