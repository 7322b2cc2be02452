/* OVHcloud API, the pure half: the official signature test vectors,
 * endpoints, thumbprints, error lines, and ovh.conf as the official
 * clients read it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovh.h"

/* python-ovh tests/test_client.py (the same values in go-ovh's tests). */
#define AS "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk"
#define CK "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"
#define URL "https://eu.api.ovh.com/1.0/auth"

static void
test_signature_vectors(void **st)
{
	char sig[44];
	(void)st;
	ovh_sign(AS, CK, "GET", URL, "", 1457018875, sig);
	assert_string_equal(sig, "$1$e9556054b6309771395efa467c22e627407461ad");
	ovh_sign(AS, CK, "GET", URL, NULL, 1457018875, sig);
	assert_string_equal(sig, "$1$e9556054b6309771395efa467c22e627407461ad");
	ovh_sign(AS, CK, "POST", URL, "{\"a\":\"b\",\"c\":\"d\"}", 1457018875, sig);
	assert_string_equal(sig, "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1");
	ovh_sign(AS, CK, "PUT", URL, "{\"a\":\"b\",\"c\":\"d\"}", 1457018875, sig);
	assert_string_equal(sig, "$1$8a75a9e7c8e7296c9dbeda6a2a735eb6bd58ec4b");
	ovh_sign(AS, CK, "DELETE", URL, "", 1457018875, sig);
	assert_string_equal(sig, "$1$a1eecd00b3b02b6cf5708b84b9ff42059a950d85");
	/* One byte of body changes it. */
	ovh_sign(AS, CK, "POST", URL, "{\"a\":\"b\", \"c\":\"d\"}", 1457018875, sig);
	assert_string_not_equal(sig, "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1");
}

static void
test_endpoints(void **st)
{
	char b[256];
	(void)st;
	assert_string_equal(ovh_endpoint_url("ovh-eu", b, sizeof(b)), "https://eu.api.ovh.com/1.0");
	assert_string_equal(ovh_endpoint_url("ovh-ca", b, sizeof(b)), "https://ca.api.ovh.com/1.0");
	assert_string_equal(ovh_endpoint_url("ovh-us", b, sizeof(b)),
	    "https://api.us.ovhcloud.com/1.0");
	assert_string_equal(ovh_endpoint_url("https://127.0.0.1:8443/1.0/", b, sizeof(b)),
	    "https://127.0.0.1:8443/1.0");
	assert_null(ovh_endpoint_url("ovh-xx", b, sizeof(b)));
	assert_null(ovh_endpoint_url("http://eu.api.ovh.com/1.0", b, sizeof(b)));
	assert_null(ovh_endpoint_url("https://", b, sizeof(b)));
	assert_null(ovh_endpoint_url("https://h/1.0?x=1", b, sizeof(b)));
}

static void
test_thumbprints(void **st)
{
	char t[60];
	const char *want = "A7:61:68:0E:9B:32:86:0C:3D:17:0A:6F:7E:25:38:4D:11:9C:74:2F";
	(void)st;
	assert_int_equal(ovh_thumbprint_norm(want, t), 0);
	assert_string_equal(t, want);
	assert_int_equal(ovh_thumbprint_norm("a761680e9b32860c3d170a6f7e25384d119c742f", t), 0);
	assert_string_equal(t, want);
	assert_int_equal(ovh_thumbprint_norm(
	    "sha1 Fingerprint=a7:61:68:0e:9b:32:86:0c:3d:17:0a:6f:7e:25:38:4d:11:9c:74:2f\n", t), 0);
	assert_string_equal(t, want);
	assert_int_equal(ovh_thumbprint_norm("A7-61-68-0E-9B-32-86-0C-3D-17-0A-6F-7E-25-38-4D-11-9C-74-2F", t), 0);
	assert_int_equal(ovh_thumbprint_norm("A7:61", t), -1);
	assert_int_equal(ovh_thumbprint_norm("", t), -1);
	assert_int_equal(ovh_thumbprint_norm(":A7:61:68:0E:9B:32:86:0C:3D:17:0A:6F:7E:25:38:4D:11:9C:74:2F", t), -1);
	assert_int_equal(ovh_thumbprint_norm("A7:61:68:0E:9B:32:86:0C:3D:17:0A:6F:7E:25:38:4D:11:9C:74:2F:00", t), -1);
	assert_int_equal(ovh_thumbprint_norm("G7:61:68:0E:9B:32:86:0C:3D:17:0A:6F:7E:25:38:4D:11:9C:74:2F", t), -1);
	/* SHA-256 is not what OVHcloud takes. */
	assert_int_equal(ovh_thumbprint_norm("37:55:7E:01:4F:DE:B0:20:C0:88:97:B3:68:34:7C:65:C0:EC:18:C3:EB:AC:DA:05:B0:9F:19:3B:F6:7B:43:89", t), -1);
}

static void
test_json(void **st)
{
	json_object *o;
	(void)st;
	assert_int_equal(ovh_json_parse("1457018875", 10, 64, &o), 0);	/* bare number */
	assert_int_equal(json_object_get_int64(o), 1457018875);
	json_object_put(o);
	assert_int_equal(ovh_json_parse(" [\"a\"] \n", 7, 64, &o), 0);
	json_object_put(o);
	assert_int_equal(ovh_json_parse("[1] x", 5, 64, &o), -1);		/* trailing */
	assert_int_equal(ovh_json_parse("[1", 2, 64, &o), -1);			/* cut */
	assert_int_equal(ovh_json_parse("[1,\0]", 5, 64, &o), -1);		/* NUL */
	assert_int_equal(ovh_json_parse("[1234]", 6, 5, &o), -1);		/* too big */
	assert_int_equal(ovh_json_parse("", 0, 64, &o), -1);
}

static void
test_ipv4(void **st)
{
	(void)st;
	assert_true(ovh_is_ipv4("203.0.113.10"));
	assert_false(ovh_is_ipv4("kms.example.com"));
	assert_false(ovh_is_ipv4("2001:db8::1"));
	assert_false(ovh_is_ipv4("203.0.113.256"));
	assert_false(ovh_is_ipv4(""));
}

static void
test_error_lines(void **st)
{
	char l[512], code[64];
	const char *b = "{\"errorCode\":\"NOT_GRANTED_CALL\",\"httpCode\":\"403 Forbidden\","
	    "\"message\":\"This call has not been granted\"}";
	(void)st;
	ovh_error_line(403, b, strlen(b), "EU.ext-3.abc", l, sizeof(l));
	assert_string_equal(l, "HTTP 403 NOT_GRANTED_CALL: This call has not been granted "
	    "(X-Ovh-QueryID EU.ext-3.abc)");
	ovh_error_code(b, strlen(b), code, sizeof(code));
	assert_string_equal(code, "NOT_GRANTED_CALL");

	b = "{\"class\":\"Client::NotFound\",\"message\":\"The requested object "
	    "(serviceName = pcc-x) does not exist\"}";
	ovh_error_line(404, b, strlen(b), "", l, sizeof(l));
	assert_string_equal(l, "HTTP 404 Client::NotFound: The requested object "
	    "(serviceName = pcc-x) does not exist");
	ovh_error_code(b, strlen(b), code, sizeof(code));
	assert_string_equal(code, "");

	/* Not JSON, control characters, truncated, huge, empty: one clean line. */
	b = "<html>\r\n<h1>502 Bad Gateway</h1>\x01</html>";
	ovh_error_line(502, b, strlen(b), NULL, l, sizeof(l));
	assert_string_equal(l, "HTTP 502: <html>  <h1>502 Bad Gateway</h1>?</html>");
	ovh_error_line(500, "{\"message\":", 11, NULL, l, sizeof(l));
	assert_non_null(strstr(l, "HTTP 500: {\"message\":"));
	ovh_error_line(503, NULL, 0, NULL, l, sizeof(l));
	assert_string_equal(l, "HTTP 503: no error message");
	ovh_error_line(400, "[1,2]", 5, NULL, l, sizeof(l));
	assert_string_equal(l, "HTTP 400: [1,2]");
	char *big = malloc(100000);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	ovh_error_line(500, big, 99999, NULL, l, sizeof(l));
	assert_true(strlen(l) < 260);
	assert_null(strchr(l, '\n'));
	free(big);
	/* A message with a newline stays one line. */
	b = "{\"message\":\"two\\nlines\",\"errorCode\":\"X\\u0001\"}";
	ovh_error_line(400, b, strlen(b), "q\nid", l, sizeof(l));
	assert_string_equal(l, "HTTP 400 X?: two lines (X-Ovh-QueryID q id)");
}

static char dir[64];

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
setup_dir(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/test_ovh.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	unsetenv("OVH_ENDPOINT");
	unsetenv("OVH_APPLICATION_KEY");
	unsetenv("OVH_APPLICATION_SECRET");
	unsetenv("OVH_CONSUMER_KEY");
	return 0;
}

static void
test_conf_file(void **st)
{
	struct ovh_creds c;
	char path[128], err[512];
	(void)st;
	snprintf(path, sizeof(path), "%s/ovh.conf", dir);
	write_file(path,
	    "; python-ovh's format\n"
	    "[default]\n"
	    "endpoint=ovh-ca\n"
	    "\n"
	    "[ovh-eu]\n"
	    "application_key=eu-ak\n"
	    "[ovh-ca]\n"
	    "# comment\n"
	    "application_key = ca-ak\n"
	    "application_secret: ca-as\n"
	    "Consumer_Key=ca-ck\n", 0600);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "ovh-ca");
	assert_string_equal(c.application_key, "ca-ak");
	assert_string_equal(c.application_secret, "ca-as");
	assert_string_equal(c.consumer_key, "ca-ck");

	/* The environment wins, value by value, and picks the section. */
	setenv("OVH_ENDPOINT", "ovh-eu", 1);
	setenv("OVH_CONSUMER_KEY", "env-ck", 1);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "ovh-eu");
	assert_string_equal(c.application_key, "eu-ak");
	assert_string_equal(c.application_secret, "");
	assert_string_equal(c.consumer_key, "env-ck");
	/* --endpoint wins over OVH_ENDPOINT and [default], and names the section. */
	assert_int_equal(ovh_creds_load(&c, path, "ovh-ca", err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "ovh-ca");
	assert_string_equal(c.application_key, "ca-ak");
	assert_string_equal(c.consumer_key, "env-ck");
	/* systemd's credentials (the service's decrypted copies) win over both. */
	char cd[600], cp[700];
	snprintf(cd, sizeof(cd), "%s/creds", dir);
	mkdir(cd, 0700);
	snprintf(cp, sizeof(cp), "%s/ovh.consumer-key", cd);
	write_file(cp, "cred-ck\n", 0400);
	setenv("CREDENTIALS_DIRECTORY", cd, 1);
	assert_int_equal(ovh_creds_load(&c, path, "ovh-ca", err, sizeof(err)), 0);
	assert_string_equal(c.consumer_key, "cred-ck");
	assert_string_equal(c.application_secret, "ca-as");	/* no credential: as before */
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(cp);
	rmdir(cd);
	unsetenv("OVH_ENDPOINT");
	unsetenv("OVH_CONSUMER_KEY");

	/* Secrets readable by group or others: refused, with the fix. */
	chmod(path, 0644);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by group or others (mode 0644)"));
	assert_non_null(strstr(err, "chmod 600"));
	chmod(path, 0640);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), -1);
	/* A file with no secret in it (the endpoint only) may be shared. */
	write_file(path, "[default]\nendpoint=ovh-ca\n", 0644);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "ovh-ca");

	/* Malformed: the line is named; missing: said. */
	write_file(path, "[default]\nendpoint=ovh-eu\nthis is not ini\n", 0600);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3:"));
	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	assert_int_equal(ovh_creds_load(&c, path, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read"));
}

static void
test_conf_places(void **st)
{
	struct ovh_creds c;
	char home[128], path[160], cwd[512], err[512];
	(void)st;
	/* ~/.ovh.conf, then ./ovh.conf overriding it key by key. */
	snprintf(home, sizeof(home), "%s/home", dir);
	mkdir(home, 0700);
	snprintf(path, sizeof(path), "%s/.ovh.conf", home);
	write_file(path, "[default]\nendpoint=ovh-eu\n[ovh-eu]\napplication_key=home-ak\n"
	    "application_secret=home-as\n", 0600);
	setenv("HOME", home, 1);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	unlink("ovh.conf");
	write_file("ovh.conf", "[ovh-eu]\napplication_secret=cwd-as\nconsumer_key=cwd-ck\n", 0600);
	assert_int_equal(ovh_creds_load(&c, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "ovh-eu");
	assert_string_equal(c.application_key, "home-ak");
	assert_string_equal(c.application_secret, "cwd-as");
	assert_string_equal(c.consumer_key, "cwd-ck");
	assert_non_null(strstr(c.source, ".ovh.conf"));
	unlink("ovh.conf");
	assert_int_equal(chdir(cwd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_vectors),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_thumbprints),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_error_lines),
		cmocka_unit_test_setup(test_conf_file, setup_dir),
		cmocka_unit_test_setup(test_conf_places, setup_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
