/*
 * The event table (evmap.h).  Ids and wording: vCenter 8.0U3's event
 * list (lamw/vcenter-event-mapping, vsphere-8.0u3.md; api-facts B.4-B.6)
 * and the vSphere Security guide for what a locked VM means.
 */
#include "evmap.h"

#include <string.h>

const struct evmap evmap_table[] = {
	/* A VM appeared, moved, changed or went away: look at it. */
	{ "VmCreatedEvent", EVM_LOOK, NULL },
	{ "VmClonedEvent", EVM_LOOK, NULL },
	{ "VmDeployedEvent", EVM_LOOK, NULL },
	{ "VmRegisteredEvent", EVM_LOOK, NULL },
	{ "VmDiscoveredEvent", EVM_LOOK, NULL },
	{ "VmMigratedEvent", EVM_LOOK, NULL },
	{ "DrsVmMigratedEvent", EVM_LOOK, NULL },
	{ "VmRelocatedEvent", EVM_LOOK, NULL },
	{ "VmPoweredOffEvent", EVM_LOOK, NULL },
	{ "VmReconfiguredEvent", EVM_LOOK, NULL },
	{ "VmRenamedEvent", EVM_LOOK, NULL },
	{ "VmRemovedEvent", EVM_LOOK, NULL },
	{ "com.vmware.vc.VmInstantClonedEvent", EVM_LOOK, NULL },
	{ "com.vmware.vc.vm.DstVmMigratedEvent", EVM_LOOK, NULL },
	{ "com.vmware.vc.vm.DstVmClonedEvent", EVM_LOOK, NULL },
	/* Key provider trouble: check the KMS now rather than at the timer. */
	{ "com.vmware.vc.kms.crypto.Unreachable", EVM_KMS, NULL },
	{ "com.vmware.vc.kms.crypto.KeyGenerateFail", EVM_KMS, NULL },
	{ "com.vmware.vc.kms.crypto.SendKeyError.KMSClusterError", EVM_KMS, NULL },
	{ "com.vmware.vc.vecs.KMSServerCertExpirationEvent", EVM_KMS, NULL },
	{ "com.vmware.vc.vecs.KMSClientCertExpirationEvent", EVM_KMS, NULL },
	/* A VM's keys in trouble: look at it (its key status decides
	 * key-missing), and say so. */
	{ "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnKMS", EVM_LOOK | EVM_ALERT,
	    "the VM is locked, its keys missing on the key provider: restore the key on "
	    "the KMS, then unlock the VM (vSphere Client: Unlock VM)" },
	{ "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnHost", EVM_LOOK | EVM_ALERT,
	    "the VM is locked, its keys missing on its host: check that the host reaches "
	    "the KMS (on OVHcloud, the KMS's IP registered), then unlock the VM" },
	{ "com.vmware.vc.vm.Crypto.VMLocked.KMSClusterError", EVM_LOOK | EVM_KMS | EVM_ALERT,
	    "the VM is locked, an error on its key provider: checking the KMS now" },
	{ "com.vmware.vc.vm.Crypto.VMUnlocked", EVM_LOOK, NULL },
	{ "com.vmware.vc.vm.crypto.RekeyFail", EVM_LOOK | EVM_ALERT,
	    "a rekey of the VM failed: looking at it again; its keys may be mixed" },
	{ "com.vmware.vc.vm.crypto.DiskchainUsingMixedKeys", EVM_LOOK | EVM_ALERT,
	    "a disk of the VM is encrypted with mixed keys (an interrupted rekey): rekey "
	    "it again once it can be" },
	/* A key provider not backed up (the Native Key Provider's keys are
	 * lost with vCenter): checked now, and said. */
	{ "com.vmware.vc.kms.crypto.NotBackedUp", EVM_KMS | EVM_ALERT,
	    "a key provider is not backed up: back it up (vSphere Client: Key Providers > "
	    "Back Up), or a Native Key Provider's keys are lost with vCenter" },
	{ "com.vmware.vc.kms.crypto.NotBackedUpAfterUpdate", EVM_KMS | EVM_ALERT,
	    "a key provider changed since its last backup: back it up again" },
};
const size_t evmap_count = sizeof(evmap_table) / sizeof(evmap_table[0]);

const struct evmap *
evmap_find(const char *type)
{
	for (size_t i = 0; type != NULL && i < evmap_count; i++)
		if (strcmp(evmap_table[i].type, type) == 0)
			return &evmap_table[i];
	return NULL;
}

size_t
evmap_index(const struct evmap *m)
{
	return (size_t)(m - evmap_table);
}

unsigned
evmap_what(const char *type, const char *vm)
{
	const struct evmap *m = evmap_find(type);

	if (m != NULL)
		return m->what;
	return vm != NULL && vm[0] != '\0' ? EVM_LOOK : 0;
}
