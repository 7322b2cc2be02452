#include "policy.h"
#include "config.h"
#include "inventory.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[VS_COUNT] = {
	[VS_COMPLIANT] = "compliant",
	[VS_PENDING] = "pending",
	[VS_DEFERRED] = "deferred",
	[VS_BLOCKED] = "blocked",
	[VS_HW_TOO_OLD] = "hw-too-old",
	[VS_EXCLUDED] = "excluded",
	[VS_TEMPLATE] = "template",
	[VS_INACCESSIBLE] = "inaccessible",
	[VS_WRONG_PROVIDER] = "wrong-provider",
	[VS_VSAN_ENCRYPTED] = "vsan-encrypted",
	[VS_KEY_MISSING] = "key-missing",
	[VS_VTPM_ONLY] = "vtpm-only",
	[VS_REKEY_DUE] = "rekey-due",
};

const char *
vm_state_name(enum vm_state s)
{
	return (unsigned)s < VS_COUNT ? state_names[s] : "unknown";
}

int
vm_state_open(enum vm_state s)
{
	return s == VS_PENDING || s == VS_DEFERRED || s == VS_BLOCKED ||
	    s == VS_INACCESSIBLE || s == VS_WRONG_PROVIDER || s == VS_KEY_MISSING ||
	    s == VS_REKEY_DUE ||
	    s == VS_VTPM_ONLY;
}

/* CryptoManagerKmipCryptoKeyStatusKeyUnavailableReason (vSphere API
 * reference; govmomi enum.go), and what the agent makes of each. */
static const struct {
	const char	*reason;
	enum key_avail	 avail;
	const char	*text;
} key_reasons[] = {
	{ "KeyStateMissingInKMS", KEY_MISSING, "missing on the KMS" },
	{ "KeyStateClusterUnreachable", KEY_MISSING, "its KMS is unreachable" },
	{ "KeyStateNotActiveOrEnabled", KEY_MISSING, "not active or not enabled on the KMS" },
	{ "KeyStateClusterInvalid", KEY_MISSING, "its key provider is not valid in vCenter" },
	{ "KeyStateMissingInCache", KEY_MISSING,
	    "not in vCenter's cache, and no key provider is named for it" },
	{ "WrappingKeyMissingInKMS", KEY_MISSING, "its wrapping key is missing on the KMS" },
	{ "WrappingKeyNotActiveOrEnabled", KEY_MISSING,
	    "its wrapping key is not active or not enabled on the KMS" },
	{ "KeyStateManagedByTrustAuthority", KEY_UNKNOWN,
	    "managed by a Trust Authority key provider" },
	{ "KeyStateManagedByNKP", KEY_UNKNOWN, "managed by the Native Key Provider" },
	{ "NoPermissionToAccessKeyProvider", KEY_UNKNOWN,
	    "this account may not access its key provider" },
};
#define NKEY_REASONS (sizeof(key_reasons) / sizeof(key_reasons[0]))

enum key_avail
policy_key_avail(int available, const char *reason)
{
	if (available == 1)
		return KEY_AVAILABLE;
	if (available != 0)
		return KEY_UNKNOWN;
	for (size_t i = 0; reason != NULL && i < NKEY_REASONS; i++)
		if (strcmp(reason, key_reasons[i].reason) == 0)
			return key_reasons[i].avail;
	return KEY_MISSING;	/* a reason newer than this agent: still not there */
}

const char *
policy_key_reason_text(const char *reason)
{
	if (reason == NULL || reason[0] == '\0')
		return "not available (vCenter gave no reason)";
	for (size_t i = 0; i < NKEY_REASONS; i++)
		if (strcmp(reason, key_reasons[i].reason) == 0)
			return key_reasons[i].text;
	return reason;
}

void
policy_actions_str(unsigned a, char *out, size_t len)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ ACT_ENCRYPT, "encrypt" }, { ACT_ENCRYPT_DISKS, "encrypt-disks" },
		{ ACT_POLICY, "attach-policy" }, { ACT_MIGRATE, "migrate-encryption" },
		{ ACT_FT, "ft-encryption" }, { ACT_REKEY, "rekey" },
	};
	size_t n = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(a & names[i].bit))
			continue;
		int w = snprintf(out + n, len - n, "%s%s", n ? "+" : "", names[i].name);
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
	}
	if (n == 0)
		snprintf(out, len, "none");
}

static void
why(struct decision *d, const char *fmt, ...)
{
	size_t n = strlen(d->reason);
	va_list ap;

	if (n >= sizeof(d->reason) - 1)
		return;
	if (n > 0) {
		snprintf(d->reason + n, sizeof(d->reason) - n, "; ");
		n = strlen(d->reason);
	}
	va_start(ap, fmt);
	vsnprintf(d->reason + n, sizeof(d->reason) - n, fmt, ap);
	va_end(ap);
}

/* "/DC0/vm/sub" is inside "/DC0/vm" and "/DC0/vm/" but not "/DC0/v". */
static int
in_folder(const char *path, const char *folder)
{
	size_t n = strlen(folder);

	while (n > 1 && folder[n - 1] == '/')
		n--;
	return strncmp(path, folder, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int
excluded(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	if (!p->canary_own && vm->name && strncmp(vm->name, POLICY_CANARY_PREFIX,
	    strlen(POLICY_CANARY_PREFIX)) == 0) {
		why(d, "a canary of vmcrypt-agent check --canary, which encrypts and deletes it");
		d->code = "canary";
		return 1;
	}
	for (size_t i = 0; i < p->nexcl; i++) {
		const struct exclusion *e = &p->excl[i];
		switch (e->kind) {
		case EXCL_NAME_PATTERN:
			if (vm->name && fnmatch(e->pattern, vm->name, 0) == 0) {
				why(d, "name matches exclusion \"%s\"", e->pattern);
				d->code = "excluded-name";
				return 1;
			}
			break;
		case EXCL_FOLDER:
			if (vm->folder && in_folder(vm->folder, e->pattern)) {
				why(d, "in excluded folder %s", e->pattern);
				d->code = "excluded-folder";
				return 1;
			}
			break;
		case EXCL_CUSTOM_ATTR:
			for (size_t j = 0; j < vm->nattrs; j++) {
				const struct vm_attr *a = &vm->attrs[j];
				if (a->name && strcmp(a->name, e->pattern) == 0 &&
				    strcmp(a->value, e->value ? e->value : "true") == 0) {
					why(d, "custom attribute %s=%s", a->name, a->value);
					d->code = "excluded-attribute";
					return 1;
				}
			}
			break;
		}
	}
	return 0;
}

static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The VMs the policy does not act on, decided: 1, or 0 if in scope. */
static int
out_of_scope(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	if (!vm->has_config) {
		d->state = VS_INACCESSIBLE;
		why(d, "no configuration readable (connection state %s)",
		    vm->connection_state ? vm->connection_state : "unknown");
	} else if (excluded(p, vm, d)) {
		d->state = VS_EXCLUDED;
	} else if (vm->template && !p->templates_enforce) {
		d->state = VS_TEMPLATE;
		why(d, "template (templates=report)");
	} else if (vm->template) {
		d->state = vm->encrypted ? VS_COMPLIANT : VS_BLOCKED;
		if (!vm->encrypted)
			why(d, "template: vCenter cannot reconfigure a template; "
			    "convert it to a VM to encrypt it");
	} else if (vm->hw_number < p->min_hw) {
		d->state = VS_HW_TOO_OLD;
		if (vm->hw_number == 0)
			why(d, "hardware version %s unknown; needs vmx-%d",
			    vm->hw_version ? vm->hw_version : "(none)", p->min_hw);
		else
			why(d, "vmx-%02d < vmx-%d", vm->hw_number, p->min_hw);
	} else {
		return 0;
	}
	return 1;
}

/* A vTPM encrypts VM home (the vSphere Client adds one that way), not the
 * disks: a vTPM VM with an encrypted home and every disk plain.  Its own
 * state, never compliant; its disks are encrypted as any VM's unless
 * vtpm-disks="report". */
static int
vtpm_only(const struct vm_info *vm)
{
	size_t plain = 0;

	if (!vm->encrypted || !vm->vtpm)
		return 0;
	for (size_t i = 0; i < vm->ndisks; i++) {
		if (!vm->disks[i].encryptable)
			continue;
		if (vm->disks[i].encrypted)
			return 0;
		plain++;
	}
	return plain > 0;
}

/* An encrypted VM: its plain disks and the policy; never a rekey. */
static unsigned
wants_encrypted(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	size_t plain = 0, missing_policy = 0;
	unsigned want = 0;

	for (size_t i = 0; i < vm->ndisks; i++) {
		const struct disk_info *k = &vm->disks[i];
		if (!k->encryptable)
			continue;
		if (!k->encrypted)
			plain++;
		if (!same(k->policy_id, p->policy_id))
			missing_policy++;
	}
	if (plain > 0 && vtpm_only(vm)) {
		why(d, "vTPM: VM home encrypted, its disk%s plain (%zu)%s",
		    plain == 1 ? "" : "s", plain,
		    p->vtpm_report ? "; reported only (vtpm-disks=\"report\")" : "");
		if (p->encrypt && !p->vtpm_report)
			want |= ACT_ENCRYPT_DISKS;
	} else if (plain > 0 && p->encrypt) {
		want |= ACT_ENCRYPT_DISKS;
		why(d, "encrypted VM with %zu unencrypted disk%s", plain, plain == 1 ? "" : "s");
	}
	int home = same(vm->home_policy_id, p->policy_id);
	if (p->attach_policy && p->policy_id && (!home || missing_policy > 0)) {
		want |= ACT_POLICY;
		why(d, "encryption policy missing on %s",
		    !home ? (missing_policy ? "home and disks" : "home") : "disks");
	}
	return want;
}

/* Encrypted vMotion and FT encryption, on every VM: an encrypted VM's
 * migrateEncryption can be set back to opportunistic, and the guide asks
 * for Required everywhere.  Restored by a reconfigure of that setting
 * alone, never a rekey. */
static unsigned
wants_modes(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	unsigned want = 0;

	const char *mig = vm->migrate_encryption ? vm->migrate_encryption : "opportunistic";
	if (p->migrate && strcmp(mig, p->migrate) != 0) {
		want |= ACT_MIGRATE;
		if (vm->encrypted)
			why(d, "drift: migrateEncryption %s on an encrypted VM, %s expected",
			    mig, p->migrate);
		else
			why(d, "migrateEncryption %s", mig);
	}
	const char *ft = vm->ft_encryption_mode ? vm->ft_encryption_mode :
	    "ftEncryptionOpportunistic";
	if (p->ft_required && p->ft_supported && strcmp(ft, "ftEncryptionRequired") != 0) {
		want |= ACT_FT;
		why(d, "ftEncryptionMode %s", ft);
	}
	return want;
}

/* A shallow rekey (a new key-encryption key; the disks are not rewritten):
 * vCenter allows it powered on, with snapshots only in a single chain;
 * the agent waits for none at all. */
static unsigned
wants_rekey(const struct vm_info *vm, struct decision *d)
{
	if (vm->snapshot) {
		why(d, "has snapshots: the shallow rekey waits until they are consolidated "
		    "or deleted");
		return 0;
	}
	why(d, "shallow rekey");
	return ACT_REKEY;
}

/* Any encrypted disk on an IDE controller. */
static int
ide_disk(const struct vm_info *vm)
{
	for (size_t i = 0; i < vm->ndisks; i++)
		if (vm->disks[i].encrypted && vm->disks[i].ide)
			return 1;
	return 0;
}

/* A duration for people: "400.0 days", "3.5 h", "12 s". */
static const char *
span(double sec, char *buf, size_t len)
{
	if (sec >= 2 * 86400.0)
		snprintf(buf, len, "%.1f days", sec / 86400.0);
	else if (sec >= 7200.0)
		snprintf(buf, len, "%.1f h", sec / 3600.0);
	else if (sec >= 120.0)
		snprintf(buf, len, "%.1f min", sec / 60.0);
	else
		snprintf(buf, len, "%.0f s", sec);
	return buf;
}

/* An encrypted, otherwise compliant VM whose key is older than the
 * cryptoperiod: rekey-due, and one shallow rekey when its turn comes
 * (p->age_rekey), unless vCenter would refuse it now or the agent already
 * replaced this key once. */
static int
key_too_old(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	if (p->max_key_age <= 0 || !vm->encrypted || vm->key_since <= 0 ||
	    p->now - vm->key_since <= (double)p->max_key_age)
		return 0;
	char age[32], max[32];
	d->state = VS_REKEY_DUE;
	why(d, "key %s is %s old (from %s), over the cryptoperiod of %s",
	    vm->key_id ? vm->key_id : "?", span(p->now - vm->key_since, age, sizeof(age)),
	    vm->key_since_src ? vm->key_since_src : "?",
	    span((double)p->max_key_age, max, sizeof(max)));
	if (vm->key_rekeyed) {
		d->code = "key-age-rekeyed";
		why(d, "the agent already issued a rekey replacing this key: not again (see "
		    "that task's fault in vCenter and the evidence log)");
	} else if (vm->snapshot_tree) {
		d->code = "key-age-snapshots";
		why(d, "snapshots in a tree: vCenter allows a shallow rekey only with a single "
		    "chain; waits until they are consolidated or deleted");
	} else if (ide_disk(vm) && (vm->power_state == NULL ||
	    strcmp(vm->power_state, "poweredOff") != 0)) {
		d->code = "key-age-ide";
		why(d, "powered on with an encrypted disk on an IDE controller: vCenter refuses "
		    "a shallow rekey; waits for a power-off");
	} else {
		d->code = "key-age";
		if (p->age_rekey) {
			why(d, "shallow rekey");
			d->actions = ACT_REKEY;
		} else {
			why(d, "shallow rekey waits for its turn (window, rate)");
		}
	}
	return 1;
}

static unsigned
wants_plain(const struct policy *p, struct decision *d)
{
	if (!p->encrypt)
		return 0;
	why(d, "not encrypted");
	return ACT_ENCRYPT;
}

/* The main cause of the state decided, for machines (the evidence log). */
static const char *
code_of(const struct vm_info *vm, const struct decision *d, unsigned want)
{
	switch (d->state) {
	case VS_INACCESSIBLE:	return "no-config";
	case VS_TEMPLATE:	return "template";
	case VS_HW_TOO_OLD:	return vm->hw_number == 0 ? "hw-unknown" : "hw-too-old";
	case VS_VSAN_ENCRYPTED:	return "vsan-encrypted";
	case VS_WRONG_PROVIDER:	return "wrong-provider";
	case VS_VTPM_ONLY:	return "vtpm-only";
	case VS_COMPLIANT:	return "compliant";
	case VS_BLOCKED:	return vm->template ? "template-plain" : "snapshots";
	case VS_DEFERRED:	return vm->power_state ? "powered-on" : "power-unknown";
	default:		break;
	}
	if (want & ACT_ENCRYPT)
		return "not-encrypted";
	if (want & ACT_ENCRYPT_DISKS)
		return "plain-disks";
	if (want & ACT_POLICY)
		return "policy-missing";
	if (want & ACT_MIGRATE)
		return vm->encrypted ? "migrate-drift" : "migrate-opportunistic";
	if (want & ACT_FT)
		return "ft-not-required";
	return "pending";
}

static void decide(const struct policy *, const struct vm_info *, struct decision *);

/* vCenter says a key of this VM is not available: whatever else it would
 * need, nothing is done to it (a reconfigure would use or replace a key
 * vCenter cannot serve), until vCenter has the key again.  VMs out of
 * scope keep their state. */
static void
key_missing(const struct vm_info *vm, struct decision *d)
{
	switch (d->state) {
	case VS_INACCESSIBLE: case VS_EXCLUDED: case VS_TEMPLATE: case VS_HW_TOO_OLD:
		return;
	default:
		break;
	}
	d->reason[0] = '\0';
	d->state = VS_KEY_MISSING;
	d->actions = 0;
	d->code = "key-missing";
	why(d, "key %s not available to vCenter: %s (%s); nothing is changed on this VM "
	    "until it is", vm->key_missing ? vm->key_missing : "(unnamed)",
	    policy_key_reason_text(vm->key_reason), vm->key_reason && vm->key_reason[0] ?
	    vm->key_reason : "no reason given");
}

void
policy_decide(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	decide(p, vm, d);
	/* Whatever is done now (disks encrypted, deferred to a power-off,
	 * reported only), the state names the case. */
	if (vtpm_only(vm) && (d->state == VS_PENDING || d->state == VS_DEFERRED ||
	    d->state == VS_BLOCKED || d->state == VS_COMPLIANT ||
	    d->state == VS_WRONG_PROVIDER))
		d->state = VS_VTPM_ONLY;
	if (vm->key_avail == KEY_MISSING)
		key_missing(vm, d);
	if (d->code == NULL)
		d->code = code_of(vm, d, d->actions | (d->state == VS_BLOCKED ||
		    d->state == VS_DEFERRED ? ACT_CRYPTO : 0));
}

static void
decide(const struct policy *p, const struct vm_info *vm, struct decision *d)
{
	memset(d, 0, sizeof(*d));
	if (out_of_scope(p, vm, d))
		return;
	/* vSAN encrypts it at rest: VMware advises against VM Encryption on
	 * top (KB 437757); Encrypted vMotion is still set. */
	if (!vm->encrypted && p->vsan_skip && vm->vsan_encrypted && p->encrypt) {
		unsigned modes = wants_modes(p, vm, d);
		why(d, "on vSAN with data-at-rest encryption: VM Encryption not added on top");
		d->state = modes ? VS_PENDING : VS_VSAN_ENCRYPTED;
		d->actions = modes;
		return;
	}
	unsigned want = vm->encrypted ? wants_encrypted(p, vm, d) : wants_plain(p, d);
	want |= wants_modes(p, vm, d);
	/* A key from another provider than the expected one: its own state
	 * once nothing else is to do; a shallow rekey only when configured. */
	int wrong = vm->encrypted && p->provider != NULL && vm->provider != NULL &&
	    strcmp(vm->provider, p->provider) != 0;
	if (wrong)
		why(d, "key from key provider '%s', expected '%s'", vm->provider, p->provider);
	if (want == 0 && !wrong && key_too_old(p, vm, d))
		return;
	if (want == 0) {
		d->state = wrong ? VS_WRONG_PROVIDER : VS_COMPLIANT;
		if (wrong && p->rekey)
			d->actions = wants_rekey(vm, d);
		return;
	}
	d->state = VS_PENDING;
	/* vCenter encrypts only powered-off VMs without snapshots. */
	if ((want & ACT_CRYPTO) && vm->snapshot) {
		want &= ~ACT_CRYPTO;
		d->state = VS_BLOCKED;
		why(d, "has snapshots: encryption waits until they are consolidated or deleted");
	} else if ((want & ACT_CRYPTO) && (vm->power_state == NULL ||
	    strcmp(vm->power_state, "poweredOff") != 0)) {
		want &= ~ACT_CRYPTO;
		d->state = VS_DEFERRED;
		why(d, "%s: encryption deferred to the next power-off",
		    vm->power_state ? vm->power_state : "power state unknown");
	}
	d->actions = want;
}
