/* enforce.c's pure parts: recognising an encryption storage policy from
 * the PbmCapabilityProfile SPBM sends, and telling KMS failures apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "encpolicy.h"
#include "enforce.h"
#include "domtest.h"


#define NS " xmlns=\"urn:pbm\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
#define PROFILE(caps) "<returnval" NS " xsi:type=\"PbmCapabilityProfile\">" \
	"<profileId><uniqueId>p-1</uniqueId></profileId><name>x</name>" \
	"<constraints xsi:type=\"PbmCapabilitySubProfileConstraints\">" \
	"<subProfiles><name>sp-1</name>" caps "</subProfiles></constraints></returnval>"
#define CAP(ns, id) "<capability><id><namespace>" ns "</namespace><id>" id \
	"</id></id><constraint><propertyInstance><id>" id "</id></propertyInstance>" \
	"</constraint></capability>"

static void
test_encryption_policy(void **st)
{
	(void)st;
	char ds[8][64];
	size_t nds;

	/* VMware's default "VM Encryption Policy": the well-known component. */
	assert_int_equal(policy_profile_is_encryption(dom_parse(PROFILE(
	    CAP("com.vmware.storageprofile.dataservice",
	    "ad5a249d-cbc2-43af-9366-694d7664fa52"))), ds, &nds, 8), 1);
	/* The component itself: the vmwarevmcrypt I/O filter. */
	assert_int_equal(policy_profile_is_encryption(dom_parse(PROFILE(
	    CAP("vmwarevmcrypt", "vmwarevmcrypt@ENCRYPTION"))), ds, &nds, 8), 1);
	/* Another data-service component: not known yet, handed back for a
	 * second look instead of being guessed. */
	assert_int_equal(policy_profile_is_encryption(dom_parse(PROFILE(
	    CAP("com.vmware.storageprofile.dataservice", "1111-2222"))), ds, &nds, 8), 0);
	assert_int_equal(nds, 1);
	assert_string_equal(ds[0], "1111-2222");
	/* vSAN rules are not encryption. */
	assert_int_equal(policy_profile_is_encryption(dom_parse(PROFILE(
	    CAP("VSAN", "hostFailuresToTolerate") CAP("VSAN", "stripeWidth"))),
	    ds, &nds, 8), 0);
	assert_int_equal(nds, 0);
	/* No constraints at all (a malformed or empty profile). */
	assert_int_equal(policy_profile_is_encryption(dom_parse("<returnval" NS
	    " xsi:type=\"PbmCapabilityProfile\"><name>empty</name></returnval>"),
	    ds, &nds, 8), 0);
	/* More components than room: bounded. */
	assert_int_equal(policy_profile_is_encryption(dom_parse(PROFILE(
	    CAP("com.vmware.storageprofile.dataservice", "a")
	    CAP("com.vmware.storageprofile.dataservice", "b")
	    CAP("com.vmware.storageprofile.dataservice", "c"))), ds, &nds, 2), 0);
	assert_int_equal(nds, 2);
}

static void
test_kms_errors(void **st)
{
	(void)st;
	assert_true(enforce_is_kms_error("RuntimeFault",
	    "GenerateKey: RuntimeFault: Cannot generate key"));
	assert_true(enforce_is_kms_error("RuntimeFault", "No default provider"));
	assert_true(enforce_is_kms_error("CryptoKeyResult", "success=false"));
	assert_true(enforce_is_kms_error("EncryptionKeyRequired", ""));
	assert_false(enforce_is_kms_error("InvalidPowerState", "The attempted operation "
	    "cannot be performed in the current state (Powered on)."));
	assert_false(enforce_is_kms_error("ConcurrentAccess", "changed"));
	assert_false(enforce_is_kms_error(NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encryption_policy),
		cmocka_unit_test(test_kms_errors),
	};
	return cmocka_run_group_tests(tests, dom_open, dom_close);
}
