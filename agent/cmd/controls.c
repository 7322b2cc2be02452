/*
 * The controls a report row evidences (controls.h), and the one table
 * that maps each to the VM facts that satisfy it.
 *
 * Sources, as read (README, "Controls"):
 *  - VMware Cloud Foundation Security Configuration Guide 9.0, controls
 *    spreadsheet (component version 9.0.2), github.com/vmware/
 *    vcf-security-and-compliance-guidelines: vm-9.vmotion-encrypted
 *    (VCFV-9X-000208), vm-9.ft-encrypted (VCFV-9X-000209),
 *    vsan-9.encryption-rest (VCFA-9X-000191).  The guide has no control for
 *    VM Encryption of a VM's home and disks (none among its vm-9.* ids, and
 *    none in 9.1's PCI DSS 3.5 crosswalk), so that fact evidences PCI DSS
 *    3.5.1 only; no guide id is made up for it.
 *  - PCI DSS v4.0.1 (June 2024): 3.5.1 (PAN rendered unreadable anywhere
 *    it is stored), 3.7.4 (key changes at the end of a cryptoperiod).
 *
 * A result is about facts, never scope: an excluded or hw-too-old VM that
 * is not encrypted does not satisfy 3.5.1, whatever the policy says of it
 * (the row's state says why it is left so).
 */
#include "controls.h"

#include "inventory.h"

#include <stdio.h>
#include <string.h>

#define SCG_9	"VMware Cloud Foundation Security Configuration Guide 9.0"
#define PCI	"PCI DSS v4.0.1"

static enum ctl_result
say(enum ctl_result r, char *why, size_t len, const char *text)
{
	if (why != NULL && len > 0)
		snprintf(why, len, "%s", text);
	return r;
}

static enum ctl_result
judge_vmotion(const struct ctl_facts *f, char *why, size_t len)
{
	char b[128];

	if (!f->readable)
		return say(CTL_NOT_SATISFIED, why, len, "configuration not readable");
	if (f->migrate != NULL && strcmp(f->migrate, "required") == 0)
		return say(CTL_SATISFIED, why, len, "migrateEncryption required");
	snprintf(b, sizeof(b), "migrateEncryption %s", f->migrate ? f->migrate :
	    "opportunistic (not set)");
	return say(CTL_NOT_SATISFIED, why, len, b);
}

static enum ctl_result
judge_ft(const struct ctl_facts *f, char *why, size_t len)
{
	char b[128];

	if (f->ft == 0)
		return say(CTL_NOT_APPLICABLE, why, len, "fault tolerance not configured");
	if (f->ft < 0)
		return say(CTL_NOT_SATISFIED, why, len, "fault tolerance state not read");
	if (f->ft_mode != NULL && strcmp(f->ft_mode, "ftEncryptionRequired") == 0)
		return say(CTL_SATISFIED, why, len, "ftEncryptionMode ftEncryptionRequired");
	snprintf(b, sizeof(b), "ftEncryptionMode %s", f->ft_mode ? f->ft_mode :
	    "not reported (vSphere before 7.0.2)");
	return say(CTL_NOT_SATISFIED, why, len, b);
}

static enum ctl_result
judge_vsan(const struct ctl_facts *f, char *why, size_t len)
{
	if (f->vsan_encrypted)
		return say(CTL_SATISFIED, why, len,
		    "every datastore it uses is vSAN encrypting at rest");
	if (f->vsan == 0)
		return say(CTL_NOT_APPLICABLE, why, len, "not on vSAN");
	if (f->vsan < 0)
		return say(CTL_NOT_SATISFIED, why, len, "datastore types not read");
	return say(CTL_NOT_SATISFIED, why, len,
	    "on a vSAN datastore that does not encrypt at rest (or beside other storage)");
}

static enum ctl_result
judge_rest(const struct ctl_facts *f, char *why, size_t len)
{
	char b[128];

	if (!f->readable)
		return say(CTL_NOT_SATISFIED, why, len, "configuration not readable");
	if (f->encrypted && f->disks_encrypted == f->ndisks) {
		snprintf(b, sizeof(b), "VM Encryption: home and %zu of %zu disks", f->ndisks,
		    f->ndisks);
		return say(CTL_SATISFIED, why, len, b);
	}
	if (f->vsan_encrypted)
		return say(CTL_SATISFIED, why, len, "vSAN data-at-rest encryption");
	if (!f->encrypted)
		return say(CTL_NOT_SATISFIED, why, len, "not encrypted");
	snprintf(b, sizeof(b), "%zu of %zu disks not encrypted",
	    f->ndisks - f->disks_encrypted, f->ndisks);
	return say(CTL_NOT_SATISFIED, why, len, b);
}

static enum ctl_result
judge_rekey(const struct ctl_facts *f, char *why, size_t len)
{
	char b[128];

	if (f->rekeyed == NULL)
		return say(CTL_UNLISTED, why, len, "no key change on record");
	snprintf(b, sizeof(b), "key changed %s", f->rekeyed);
	return say(CTL_SATISFIED, why, len, b);
}

const struct control controls[] = {
	{ "vm-9.vmotion-encrypted", SCG_9,
	  "Virtual machines must require encryption for vMotion.",
	  "config.migrateEncryption is \"required\"", judge_vmotion },
	{ "vm-9.ft-encrypted", SCG_9,
	  "Virtual machines must require encryption for Fault Tolerance.",
	  "config.ftEncryptionMode is \"ftEncryptionRequired\"; not applicable where "
	  "runtime.faultToleranceState is notConfigured", judge_ft },
	{ "vsan-9.encryption-rest", SCG_9,
	  "vSAN must protect data at rest.",
	  "every datastore of the VM is a vSAN datastore whose cluster has "
	  "data-at-rest encryption; not applicable to a VM on no vSAN datastore",
	  judge_vsan },
	{ "pci-dss-4.0.1-3.5.1", PCI,
	  "PAN is rendered unreadable anywhere it is stored (strong cryptography "
	  "with associated key management).",
	  "the VM home (config.keyId) and every disk are encrypted (VM Encryption), "
	  "or every datastore it uses is vSAN encrypting at rest", judge_rest },
	{ "pci-dss-4.0.1-3.7.4", PCI,
	  "Cryptographic keys are changed at the end of their defined cryptoperiod.",
	  "a record of the VM's key changed at the end of its cryptoperiod; listed only "
	  "where such a record exists", judge_rekey },
};
const size_t ncontrols = sizeof(controls) / sizeof(controls[0]);

const char *
ctl_result_name(enum ctl_result r)
{
	switch (r) {
	case CTL_NOT_APPLICABLE: return "not applicable";
	case CTL_SATISFIED: return "satisfied";
	case CTL_NOT_SATISFIED: return "not satisfied";
	case CTL_UNLISTED: return "unlisted";
	}
	return "unlisted";
}

const struct control *
controls_find(const char *id)
{
	for (size_t i = 0; i < ncontrols; i++)
		if (strcmp(controls[i].id, id) == 0)
			return &controls[i];
	return NULL;
}

void
controls_facts(const struct vm_info *vm, int ft, int vsan, const char *rekeyed,
    struct ctl_facts *out)
{
	memset(out, 0, sizeof(*out));
	out->readable = vm->has_config;
	out->encrypted = vm->encrypted;
	out->ndisks = vm->ndisks;
	for (size_t i = 0; i < vm->ndisks; i++)
		out->disks_encrypted += vm->disks[i].encrypted != 0;
	out->vsan = vsan;
	out->vsan_encrypted = vm->vsan_encrypted;
	out->migrate = vm->migrate_encryption;
	out->ft = ft;
	out->ft_mode = vm->ft_encryption_mode;
	out->rekeyed = rekeyed;
}
