/* sign.c: a signature round trip with a key made here, the key id, keys
 * refused (missing, group-readable, not Ed25519), base64 both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sign.h"

static char dir[64];

static void
write_key(const char *path, int ed25519, mode_t mode)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, ed25519 ? "ED25519" : "EC", "P-256");
	FILE *f = fopen(path, "w");
	assert_non_null(k);
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	chmod(path, mode);
	char pub[128];
	snprintf(pub, sizeof(pub), "%s.pub", path);
	f = fopen(pub, "w");
	PEM_write_PUBKEY(f, k);
	fclose(f);
	EVP_PKEY_free(k);
}

static void
test_round_trip(void **st)
{
	char key[128], pub[160], err[512], id[65], id2[65];
	unsigned char sig[SIGN_ED25519_LEN];
	const char msg[] = "a report's bytes\n";

	(void)st;
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(pub, sizeof(pub), "%s.pub", key);
	write_key(key, 1, 0600);
	struct sign_key *k = sign_key_load(key, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(sign_bytes(k, msg, strlen(msg), sig, err, sizeof(err)), 0);
	struct sign_key *p = sign_pubkey_load(pub, err, sizeof(err));
	assert_non_null(p);
	sign_key_id(k, id);
	sign_key_id(p, id2);
	assert_int_equal(strlen(id), 64);
	assert_string_equal(id, id2);
	assert_true(sign_check(p, msg, strlen(msg), sig, sizeof(sig)));
	assert_false(sign_check(p, msg, strlen(msg) - 1, sig, sizeof(sig)));
	sig[10] ^= 1;
	assert_false(sign_check(p, msg, strlen(msg), sig, sizeof(sig)));
	assert_false(sign_check(p, msg, strlen(msg), sig, 63));
	sign_key_free(k);
	sign_key_free(p);
	sign_key_free(NULL);
}

static void
test_bad_keys(void **st)
{
	char key[128], err[512];

	(void)st;
	snprintf(key, sizeof(key), "%s/missing.pem", dir);
	assert_null(sign_key_load(key, err, sizeof(err)));
	assert_non_null(strstr(err, key));
	snprintf(key, sizeof(key), "%s/open.pem", dir);
	write_key(key, 1, 0644);
	assert_null(sign_key_load(key, err, sizeof(err)));
	assert_non_null(strstr(err, key));
	snprintf(key, sizeof(key), "%s/ec.pem", dir);
	write_key(key, 0, 0600);
	assert_null(sign_key_load(key, err, sizeof(err)));
	assert_non_null(strstr(err, "not Ed25519"));
	snprintf(key, sizeof(key), "%s/junk.pem", dir);
	FILE *f = fopen(key, "w");
	fputs("not a key\n", f);
	fclose(f);
	chmod(key, 0600);
	assert_null(sign_key_load(key, err, sizeof(err)));
	assert_null(sign_pubkey_load(key, err, sizeof(err)));
	assert_non_null(strstr(err, key));
}

static void
test_base64(void **st)
{
	unsigned char in[64], out[70];

	(void)st;
	for (int i = 0; i < 64; i++)
		in[i] = (unsigned char)(i * 37);
	for (size_t n = 1; n <= 64; n++) {
		char *t = sign_base64(in, n);
		assert_int_equal(sign_unbase64(t, out, sizeof(out)), (long)n);
		assert_memory_equal(in, out, n);
		free(t);
	}
	assert_int_equal(sign_unbase64("", out, sizeof(out)), -1);
	assert_int_equal(sign_unbase64("abc", out, sizeof(out)), -1);
	assert_int_equal(sign_unbase64("ab!d", out, sizeof(out)), -1);
	char *t = sign_base64(in, 64);
	assert_int_equal(sign_unbase64(t, out, 32), -1);	/* too long for out */
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_base64),
	};
	snprintf(dir, sizeof(dir), "/tmp/test_sign.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
