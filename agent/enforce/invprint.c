/*
 * The inventory printed: the table, and the JSON of `inventory --json`
 * and `reconcile --json` (inventory.h).
 */
#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

static size_t
disks_encrypted(const struct vm_info *vm)
{
	size_t k = 0;
	for (size_t i = 0; i < vm->ndisks; i++)
		k += vm->disks[i].encrypted != 0;
	return k;
}

void
inventory_print_table(const struct inventory *inv, FILE *f)
{
	fprintf(f, "%-28s %-10s %-7s %-11s %-4s %-9s %-6s %-13s %-22s %-12s %s\n", "NAME", "MOREF",
	    "HW", "POWER", "TMPL", "ENCRYPTED", "DISKS", "VMOTION-ENC", "HOME POLICY",
	    "STATE", "REASON");
	for (size_t i = 0; i < inv->nvms; i++) {
		const struct vm_info *vm = &inv->vms[i];
		char disks[32];
		snprintf(disks, sizeof(disks), "%zu/%zu", disks_encrypted(vm), vm->ndisks);
		fprintf(f, "%-28s %-10s %-7s %-11s %-4s %-9s %-6s %-13s %-22s %-12s %s\n",
		    vm->name ? vm->name : "?", vm->moref,
		    vm->hw_version ? vm->hw_version : "-",
		    vm->power_state ? vm->power_state : "-",
		    vm->template ? "yes" : "no", vm->encrypted ? "yes" : "no", disks,
		    vm->migrate_encryption ? vm->migrate_encryption : "-",
		    vm->home_policy_name ? vm->home_policy_name :
		    vm->home_policy_id ? vm->home_policy_id : "-",
		    vm_info_state(vm) ? vm_info_state(vm) : "-", vm->reason && *vm->reason ? vm->reason : "-");
	}
	fprintf(f, "%zu VMs\n", inv->nvms);
}

/* Days since its key was put on it, to four decimals (about 9 s). */
static double
key_age_days(const struct vm_info *vm)
{
	double d = ((double)time(NULL) - vm->key_since) / 86400.0;
	return d < 0 ? 0 : (double)(long long)(d * 1e4 + 0.5) / 1e4;
}

static json_object *
jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

int
inventory_print_json(const struct inventory *inv, FILE *f, inventory_json_fn extra, void *arg)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();

	json_object_object_add(root, "vcenter", jstr(inv->vcenter));
	json_object_object_add(root, "apiVersion", jstr(inv->api_version));
	json_object_object_add(root, "count", json_object_new_int64((int64_t)inv->nvms));
	for (size_t i = 0; i < inv->nvms; i++) {
		const struct vm_info *vm = &inv->vms[i];
		json_object *o = json_object_new_object(), *disks = json_object_new_array();
		json_object_object_add(o, "name", jstr(vm->name));
		json_object_object_add(o, "moref", jstr(vm->moref));
		json_object_object_add(o, "instanceUuid", jstr(vm->uuid[0] ? vm->uuid : NULL));
		json_object_object_add(o, "created", jstr(vm->created[0] ? vm->created : NULL));
		json_object_object_add(o, "folder", jstr(vm->folder));
		json_object_object_add(o, "hardwareVersion", jstr(vm->hw_version));
		json_object_object_add(o, "powerState", jstr(vm->power_state));
		json_object_object_add(o, "template", json_object_new_boolean(vm->template));
		json_object_object_add(o, "encrypted", json_object_new_boolean(vm->encrypted));
		json_object_object_add(o, "keyId", jstr(vm->key_id));
		json_object_object_add(o, "keyProvider", jstr(vm->provider));
		/* QueryCryptoKeyStatus: null when not asked (plain VM, API
		 * before 6.7.2, a key vCenter does not hold by design). */
		json_object_object_add(o, "keyAvailable", vm->key_avail == KEY_UNKNOWN ? NULL :
		    json_object_new_boolean(vm->key_avail == KEY_AVAILABLE));
		json_object_object_add(o, "keyUnavailableReason", jstr(vm->key_reason));
		/* How old its key is, and who says so (keyage.c). */
		json_object_object_add(o, "key_age_days", vm->key_since > 0 ?
		    json_object_new_double(key_age_days(vm)) : NULL);
		json_object_object_add(o, "key_age_source", jstr(vm->key_since > 0 ?
		    vm->key_since_src : NULL));
		for (size_t d = 0; d < vm->ndisks; d++) {
			const struct disk_info *k = &vm->disks[d];
			json_object *jd = json_object_new_object();
			json_object_object_add(jd, "key", json_object_new_int(k->key));
			json_object_object_add(jd, "controllerKey", json_object_new_int(k->controller_key));
			json_object_object_add(jd, "unitNumber", k->unit_number < 0 ? NULL :
			    json_object_new_int(k->unit_number));
			json_object_object_add(jd, "backing", jstr(k->backing));
			json_object_object_add(jd, "label", jstr(k->label));
			json_object_object_add(jd, "file", jstr(k->file));
			json_object_object_add(jd, "encrypted", json_object_new_boolean(k->encrypted));
			json_object_object_add(jd, "keyId", jstr(k->key_id));
			json_object_object_add(jd, "keyProvider", jstr(k->provider));
			json_object_object_add(jd, "policyId", jstr(k->policy_id));
			json_object_array_add(disks, jd);
		}
		json_object_object_add(o, "disks", disks);
		json_object_object_add(o, "migrateEncryption", jstr(vm->migrate_encryption));
		json_object_object_add(o, "ftEncryptionMode", jstr(vm->ft_encryption_mode));
		json_object_object_add(o, "snapshot", json_object_new_boolean(vm->snapshot));
		json_object_object_add(o, "vtpm", json_object_new_boolean(vm->vtpm));
		json_object *pol = NULL;
		if (vm->home_policy_id) {
			pol = json_object_new_object();
			json_object_object_add(pol, "id", jstr(vm->home_policy_id));
			json_object_object_add(pol, "name", jstr(vm->home_policy_name));
		}
		json_object_object_add(o, "homePolicy", pol);
		json_object_object_add(o, "state", jstr(vm_info_state(vm)));
		json_object_object_add(o, "code", jstr(vm->decided ? vm->code : NULL));
		json_object_object_add(o, "reason", jstr(vm->reason));
		if (extra != NULL)
			extra(arg, vm, o);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "vms", arr);
	int rc = fputs(json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE), f) < 0 ? -1 : 0;
	fputc('\n', f);
	json_object_put(root);
	return rc;
}

const char *
vm_info_state(const struct vm_info *vm)
{
	return vm->decided ? vm_state_name(vm->state) : NULL;
}
