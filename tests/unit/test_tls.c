/* tls.c: fingerprints in exactly the format openssl and vCenter use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tls.h"

static void
test_sha1_format(void **st)
{
	(void)st;
	char out[128];
	/* SHA-1("abc"), FIPS 180 test vector. */
	assert_int_equal(tls_fingerprint_der((const unsigned char *)"abc", 3, "sha1", out, sizeof(out)), 0);
	assert_string_equal(out, "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D");
	assert_int_equal(strlen(out), 59);
}

static void
test_sha256_and_limits(void **st)
{
	(void)st;
	char out[128], small[10];
	assert_int_equal(tls_fingerprint_der((const unsigned char *)"abc", 3, "sha256", out, sizeof(out)), 0);
	assert_string_equal(out, "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD");
	assert_int_equal(tls_fingerprint_der((const unsigned char *)"abc", 3, "sha1", small, sizeof(small)), -1);
	assert_int_equal(tls_fingerprint_der((const unsigned char *)"abc", 3, "nope", out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_format),
		cmocka_unit_test(test_sha256_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
