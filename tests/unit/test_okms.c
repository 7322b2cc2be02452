/* OKMS (agent/ovh/okms.c), the pure part: ids, the credential request's
 * body (never without a CSR: PCI DSS), finding ours by name, its name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "okms.h"

#define CSR "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"

static json_object *
urns(int n)
{
	json_object *a = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(
		    "urn:v1:eu:identity:account:xx1111-ovh"));
	return a;
}

static void
test_ids(void **st)
{
	(void)st;
	assert_true(okms_id_ok("3f2c9a56-7d1e-4b8a-9c0f-1a2b3c4d5e6f"));
	assert_false(okms_id_ok("3f2c9a56-7d1e-4b8a-9c0f-1a2b3c4d5e6"));
	assert_false(okms_id_ok("3f2c9a56-7d1e-4b8a-9c0f/1a2b3c4d5e6f"));
	assert_false(okms_id_ok("../../../../../../../../../../../etc"));
	assert_false(okms_id_ok(NULL));
}

static void
test_body(void **st)
{
	char err[512];
	json_object *u = urns(1), *b, *v;
	(void)st;

	/* No CSR: refused, with the reason. */
	assert_null(okms_credential_body("vmcrypt-agent vc", NULL, u, NULL, 365, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "PCI DSS"));
	assert_null(okms_credential_body("vmcrypt-agent vc", NULL, u, "not a csr", 365, err,
	    sizeof(err)));
	assert_null(okms_credential_body("vmcrypt-agent vc", NULL, u, CSR, 366, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "365"));
	assert_null(okms_credential_body("vmcrypt-agent vc", NULL, u, CSR, 0, err, sizeof(err)));
	assert_null(okms_credential_body("x23456789012345678901234567890123456789012345678901",
	    NULL, u, CSR, 365, err, sizeof(err)));
	assert_null(okms_credential_body("tab\there", NULL, u, CSR, 365, err, sizeof(err)));
	json_object *none = urns(0), *many = urns(26);
	assert_null(okms_credential_body("n", NULL, none, CSR, 365, err, sizeof(err)));
	assert_null(okms_credential_body("n", NULL, many, CSR, 365, err, sizeof(err)));
	json_object_put(none);
	json_object_put(many);

	b = okms_credential_body("vmcrypt-agent vc", "d", u, CSR, 365, err, sizeof(err));
	assert_non_null(b);
	assert_true(json_object_object_get_ex(b, "csr", &v));
	assert_string_equal(json_object_get_string(v), CSR);
	assert_true(json_object_object_get_ex(b, "validity", &v));
	assert_int_equal(json_object_get_int(v), 365);
	assert_true(json_object_object_get_ex(b, "identityURNs", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_false(json_object_object_get_ex(b, "certificateType", &v));
	json_object_put(b);
	json_object_put(u);
}

static void
test_named(void **st)
{
	(void)st;
	json_object *l = json_tokener_parse("[{\"id\":\"a\",\"name\":\"other\","
	    "\"createdAt\":\"2026-01-03T00:00:00+00:00\"},{\"id\":\"b\",\"name\":\"mine\","
	    "\"createdAt\":\"2026-01-01T00:00:00+00:00\"},{\"id\":\"c\",\"name\":\"mine\","
	    "\"createdAt\":\"2026-01-02T00:00:00+00:00\"},{\"name\":\"mine\"}]");
	json_object *e = okms_credential_named(l, "mine"), *id;
	assert_non_null(e);
	assert_true(json_object_object_get_ex(e, "id", &id));
	assert_string_equal(json_object_get_string(id), "c");
	assert_null(okms_credential_named(l, "nobody"));
	json_object_put(l);
}

static void
test_name(void **st)
{
	char n[64];
	(void)st;
	okms_credential_name("https://vc01.example.net/sdk", n, sizeof(n));
	assert_string_equal(n, "vmcrypt-agent vc01.example.net");
	okms_credential_name("https://a-very-long-vcenter-host-name.in.a.deep.domain.example:443"
	    "/sdk", n, sizeof(n));
	assert_true(strlen(n) <= OKMS_NAME_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
