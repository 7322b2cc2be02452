/* evmap.c: what each vCenter event means (issue #24's crypto events
 * among them), and their counter on /metrics (metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evmap.h"
#include "metrics.h"

/* Written from the issue, not from the table: each crypto event and what
 * it must cause. */
static const struct {
	const char	*type;
	unsigned	 what;
} crypto[] = {
	{ "com.vmware.vc.vm.crypto.RekeyFail", EVM_LOOK | EVM_ALERT },
	{ "com.vmware.vc.vm.crypto.DiskchainUsingMixedKeys", EVM_LOOK | EVM_ALERT },
	{ "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnHost", EVM_LOOK | EVM_ALERT },
	{ "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnKMS", EVM_LOOK | EVM_ALERT },
	{ "com.vmware.vc.vm.Crypto.VMLocked.KMSClusterError", EVM_LOOK | EVM_KMS | EVM_ALERT },
	{ "com.vmware.vc.kms.crypto.NotBackedUp", EVM_KMS | EVM_ALERT },
	{ "com.vmware.vc.kms.crypto.NotBackedUpAfterUpdate", EVM_KMS | EVM_ALERT },
};
#define NCRYPTO (sizeof(crypto) / sizeof(crypto[0]))

static void
test_crypto_events(void **st)
{
	(void)st;
	for (size_t i = 0; i < NCRYPTO; i++) {
		const struct evmap *m = evmap_find(crypto[i].type);
		assert_non_null(m);
		assert_int_equal(m->what, crypto[i].what);
		assert_non_null(m->means);
		assert_true(strlen(m->means) > 20);
		assert_int_equal(evmap_what(crypto[i].type, "vm-1"), crypto[i].what);
		assert_int_equal(evmap_what(crypto[i].type, ""), crypto[i].what);
	}
}

/* The events the agent followed before stay followed, as they were. */
static void
test_vm_and_kms_events(void **st)
{
	(void)st;
	static const char *const look[] = { "VmCreatedEvent", "VmClonedEvent",
	    "VmDeployedEvent", "VmRegisteredEvent", "VmDiscoveredEvent", "VmMigratedEvent",
	    "DrsVmMigratedEvent", "VmRelocatedEvent", "VmPoweredOffEvent",
	    "VmReconfiguredEvent", "VmRenamedEvent", "VmRemovedEvent",
	    "com.vmware.vc.VmInstantClonedEvent", "com.vmware.vc.vm.DstVmMigratedEvent",
	    "com.vmware.vc.vm.DstVmClonedEvent", "com.vmware.vc.vm.Crypto.VMUnlocked" };
	static const char *const kms[] = { "com.vmware.vc.kms.crypto.Unreachable",
	    "com.vmware.vc.kms.crypto.KeyGenerateFail",
	    "com.vmware.vc.kms.crypto.SendKeyError.KMSClusterError",
	    "com.vmware.vc.vecs.KMSServerCertExpirationEvent",
	    "com.vmware.vc.vecs.KMSClientCertExpirationEvent" };
	for (size_t i = 0; i < sizeof(look) / sizeof(look[0]); i++)
		assert_int_equal(evmap_what(look[i], "vm-1"), EVM_LOOK);
	for (size_t i = 0; i < sizeof(kms) / sizeof(kms[0]); i++)
		assert_int_equal(evmap_what(kms[i], ""), EVM_KMS);
	/* Not followed: about a VM, looked at; about nothing, nothing. */
	assert_null(evmap_find("VmPoweredOnEvent"));
	assert_int_equal(evmap_what("VmPoweredOnEvent", "vm-1"), EVM_LOOK);
	assert_int_equal(evmap_what("com.vmware.vc.Something", ""), 0);
	assert_int_equal(evmap_what(NULL, NULL), 0);
}

/* One row per type, and room for each in the counters. */
static void
test_table(void **st)
{
	(void)st;
	assert_true(evmap_count <= EVMAP_MAX);
	for (size_t i = 0; i < evmap_count; i++) {
		assert_ptr_equal(evmap_find(evmap_table[i].type), &evmap_table[i]);
		assert_int_equal(evmap_index(&evmap_table[i]), i);
		assert_true(evmap_table[i].what != 0);
		assert_true(!(evmap_table[i].what & EVM_ALERT) || evmap_table[i].means);
	}
}

/* vmcrypt_crypto_events_total: every alert type, counted, zeros too. */
static void
test_metrics(void **st)
{
	(void)st;
	struct metrics m;
	struct gauges g;
	size_t len, alerts = 0;

	memset(&m, 0, sizeof(m));
	memset(&g, 0, sizeof(g));
	g.version = "test";
	const struct evmap *r = evmap_find("com.vmware.vc.vm.crypto.RekeyFail");
	metrics_crypto_event(&m, evmap_index(r));
	metrics_crypto_event(&m, evmap_index(r));
	metrics_crypto_event(&m, EVMAP_MAX);		/* out of range: ignored */
	char *page = metrics_render(&m, &g, &len);
	assert_non_null(strstr(page, "# TYPE vmcrypt_crypto_events_total counter\n"));
	assert_non_null(strstr(page, "vmcrypt_crypto_events_total{type=\""
	    "com.vmware.vc.vm.crypto.RekeyFail\"} 2\n"));
	assert_non_null(strstr(page, "vmcrypt_crypto_events_total{type=\""
	    "com.vmware.vc.kms.crypto.NotBackedUp\"} 0\n"));
	assert_null(strstr(page, "vmcrypt_crypto_events_total{type=\"VmCreatedEvent\"}"));
	for (const char *p = page; (p = strstr(p, "vmcrypt_crypto_events_total{")) != NULL; p++)
		alerts++;
	assert_int_equal(alerts, NCRYPTO);
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crypto_events),
		cmocka_unit_test(test_vm_and_kms_events),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
