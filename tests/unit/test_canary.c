/* The canary's failure kinds (guide/canary.c canary_kind): what vCenter
 * said -> the exit code and the fix a user gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "canary.h"
#include "exitcode.h"

static void
test_kinds(void **st)
{
	(void)st;
	/* A host that cannot get the key: vCenter's power-on text (vSphere
	 * Security, "Resolve locked virtual machines"), the lock, the fault. */
	assert_int_equal(canary_kind("GenericVmConfigFault", "PowerOnVM_Task task-9: "
	    "GenericVmConfigFault: The disk [ds1] c/c.vmdk is encrypted and a required key "
	    "was not found.", ""), CK_HOST_KEY);
	assert_int_equal(canary_kind("EncryptionKeyRequired", "", NULL), CK_HOST_KEY);
	assert_int_equal(canary_kind("InvalidState", "The virtual machine is locked",
	    NULL), CK_HOST_KEY);
	/* A privilege, from the fault type or its privilegeId. */
	assert_int_equal(canary_kind("NoPermission", "denied", ""), CK_PRIVILEGE);
	assert_int_equal(canary_kind("", "task failed", "Cryptographer.Encrypt"), CK_PRIVILEGE);
	/* No usable key provider. */
	assert_int_equal(canary_kind("InvalidState", "ReconfigVM_Task task-3: InvalidState: "
	    "No default key provider", ""), CK_NO_PROVIDER);
	assert_int_equal(canary_kind("RuntimeFault", "GenerateKey: Cannot generate key", ""),
	    CK_NO_PROVIDER);
	assert_int_equal(canary_kind("CryptoKeyResult", "GenerateKey: success=false", ""),
	    CK_NO_PROVIDER);
	/* Anything else is not guessed at. */
	assert_int_equal(canary_kind("InvalidDatastore", "no space", ""), CK_OTHER);
	assert_int_equal(canary_kind(NULL, NULL, NULL), CK_OTHER);
}

static void
test_exits(void **st)
{
	(void)st;
	assert_int_equal(canary_exit(CK_HOST_KEY), EXIT_CANARY_HOST_KEY);
	assert_int_equal(canary_exit(CK_PRIVILEGE), EXIT_CANARY_PRIVILEGE);
	assert_int_equal(canary_exit(CK_NO_PROVIDER), EXIT_CANARY_NO_PROVIDER);
	assert_int_equal(canary_exit(CK_OTHER), EXIT_FAIL);
	/* Distinct from every other command's codes. */
	assert_true(EXIT_CANARY_HOST_KEY > EXIT_OVH_NO_SERVICE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_exits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
