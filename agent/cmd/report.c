/*
 * `vmcrypt-agent report`: every VM with its state, reason and the agent's
 * last action, for compliance teams.  The states come from the same scan
 * as `inventory`; the last action comes from vCenter's own event history
 * (the "vmcrypt-agent: ..." audit events the agent logs on each VM), so the
 * report does not depend on the agent's local state.
 *
 * Each row names the controls it evidences (controls.c), judged on the
 * VM's facts: the inventory's, and two this file reads itself (whether
 * fault tolerance is configured, whether the VM uses vSAN).
 *
 * Formats here: json, csv (RFC 4180; cells that a spreadsheet would run as
 * a formula are prefixed with ').  html is reporthtml.c, oscal oscal.c.
 */
#include "cli.h"
#include "config.h"
#include "controls.h"
#include "enforce.h"
#include "exposure.h"
#include "inventory.h"
#include "log.h"
#include "policy.h"
#include "report.h"
#include "vim.h"
#include "xmalloc.h"
#include "xnode.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* the audit trail                                                   */

static int
on_audit(void *arg, const xnode *ev)
{
	struct report *r = arg;
	const char *vm = xnode_path_text(ev, "vm.vm");
	const char *msg = xnode_path_text(ev, "fullFormattedMessage");
	const char *t = xnode_path_text(ev, "createdTime");

	if (msg == NULL || msg[0] == '\0')
		msg = xnode_path_text(ev, "message");
	if (vm == NULL || msg == NULL || strncmp(msg, "vmcrypt-agent: ", 15) != 0)
		return 0;
	report_note_action(r, vm, msg + 15, t ? t : "");
	return 0;
}

static int
by_ref(const void *key, const void *elem)
{
	const struct report_vm *k = key, *const *e = elem;
	return strcmp(k->vm->moref, (*e)->vm->moref);
}

static int
by_ref_sort(const void *a, const void *b)
{
	const struct report_vm *const *x = a, *const *y = b;
	return strcmp((*x)->vm->moref, (*y)->vm->moref);
}

/* The row of the VM with that moref, or NULL.  r->byref is sorted by
 * moref: a lookup per event, not a scan (a month of audit events over
 * 10,000 VMs). */
static struct report_vm *
report_find(struct report *r, const char *moref)
{
	struct vm_info key_vm;
	struct report_vm key = { .vm = &key_vm };
	snprintf(key_vm.moref, sizeof(key_vm.moref), "%s", moref);
	struct report_vm **hit = r->nvms == 0 ? NULL :
	    bsearch(&key, r->byref, r->nvms, sizeof(*r->byref), by_ref);
	return hit ? *hit : NULL;
}

void
report_note_action(struct report *r, const char *moref, const char *msg, const char *time)
{
	struct report_vm *v = report_find(r, moref);
	if (v == NULL)
		return;
	/* Events arrive oldest first; a later one replaces. */
	if (v->action_time[0] == '\0' || strcmp(time, v->action_time) >= 0) {
		snprintf(v->action, sizeof(v->action), "%s", msg);
		snprintf(v->action_time, sizeof(v->action_time), "%s", time);
	}
}

int
report_read_audit(struct vconn *c, struct report *r, int days, char *err, size_t errlen)
{
	static const char *const types[] = { "GeneralUserEvent" };
	struct vmoref coll;
	char begin[64];
	time_t t = time(NULL) - (time_t)days * 86400;
	struct tm tm;
	int rc, n;

	gmtime_r(&t, &tm);
	strftime(begin, sizeof(begin), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((rc = vim_create_event_collector(c, begin, types, 1, 1000, &coll)) != 0) {
		snprintf(err, errlen, "reading the audit trail (CreateCollectorForEvents): %s",
		    vconn_error(c));
		return rc;
	}
	do {
		n = 0;
		if ((rc = vim_read_next_events(c, &coll, 1000, on_audit, r, &n)) != 0) {
			snprintf(err, errlen, "reading the audit trail (ReadNextEvents): %s",
			    vconn_error(c));
			break;
		}
	} while (n == 1000);
	vim_destroy_collector(c, &coll);
	return rc;
}

/* ---------------------------------------------------------------- */
/* the facts the controls need beyond the inventory                  */

struct vsan_ds {
	char	(*ds)[96];	/* vSAN datastores' morefs */
	size_t	 n;
};

static int
on_ft(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct report_vm *v = report_find(arg, obj->value);
	for (size_t i = 0; v != NULL && i < n; i++) {
		if (strcmp(names[i], "runtime.faultToleranceState") != 0)
			continue;
		const char *t = xnode_text(vals[i]);
		v->ft = t[0] != '\0' && strcmp(t, "notConfigured") != 0;
	}
	return 0;
}

static int
on_datastore(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vsan_ds *vs = arg;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "summary.type") != 0 ||
		    strcasecmp(xnode_text(vals[i]), "vsan") != 0)
			continue;
		vs->ds = xreallocarray(vs->ds, vs->n + 1, sizeof(*vs->ds));
		snprintf(vs->ds[vs->n++], sizeof(*vs->ds), "%s", obj->value);
	}
	return 0;
}

/* Every object of type under the root folder: path, through cb. */
static int
read_all(struct vconn *c, const char *type, const char *path, vobject_cb cb, void *arg)
{
	struct vmoref view = { "", "" };
	const char *paths[] = { path };
	int rc = vim_create_container_view(c, vsession_mo(vconn_session(c), VMO_ROOT_FOLDER),
	    type, 1, &view);
	if (rc == 0)
		rc = vim_retrieve_view(c, &view, type, paths, 1, 1000, cb, arg);
	if (view.value[0])
		vim_destroy_view(c, &view);
	return rc;
}

int
report_read_facts(struct vconn *c, struct report *r, char *err, size_t errlen)
{
	struct vsan_ds vs = { NULL, 0 };
	int rc;

	if ((rc = read_all(c, "VirtualMachine", "runtime.faultToleranceState", on_ft, r)) != 0) {
		snprintf(err, errlen, "reading the VMs' fault tolerance state: %s",
		    vconn_error(c));
		goto out;
	}
	if ((rc = read_all(c, "Datastore", "summary.type", on_datastore, &vs)) != 0) {
		snprintf(err, errlen, "reading the datastores' types: %s", vconn_error(c));
		goto out;
	}
	for (size_t i = 0; i < r->nvms; i++) {
		const struct vm_info *vm = r->vms[i].vm;
		r->vms[i].vsan = 0;
		for (size_t d = 0; d < vm->ndatastores && !r->vms[i].vsan; d++)
			for (size_t k = 0; k < vs.n && !r->vms[i].vsan; k++)
				r->vms[i].vsan = strcmp(vm->datastores[d], vs.ds[k]) == 0;
	}
out:
	free(vs.ds);
	return rc;
}

size_t
report_vm_controls(const struct report_vm *v, struct report_ctl *out)
{
	struct ctl_facts f;
	size_t n = 0;

	controls_facts(v->vm, v->ft, v->vsan, NULL, &f);
	for (size_t i = 0; i < ncontrols && n < CONTROLS_MAX; i++) {
		out[n].c = &controls[i];
		out[n].r = controls[i].judge(&f, out[n].why, sizeof(out[n].why));
		if (out[n].r != CTL_UNLISTED)
			n++;
	}
	return n;
}

/* ---------------------------------------------------------------- */
/* the model                                                         */

void
report_init(struct report *r, const struct inventory *inv, const char *generated)
{
	memset(r, 0, sizeof(*r));
	r->inv = inv;
	r->nvms = inv->nvms;
	r->vms = xcalloc(inv->nvms ? inv->nvms : 1, sizeof(*r->vms));
	snprintf(r->generated, sizeof(r->generated), "%s", generated);
	for (size_t i = 0; i < inv->nvms; i++) {
		r->vms[i].vm = &inv->vms[i];
		r->vms[i].ft = r->vms[i].vsan = -1;
		int s = inv->vms[i].decided ? (int)inv->vms[i].state : -1;
		r->vms[i].state = s;
		if (s >= 0)
			r->counts[s]++;
		else
			r->unknown++;
	}
	size_t in_scope = r->nvms - r->counts[VS_EXCLUDED] - r->counts[VS_TEMPLATE] -
	    r->counts[VS_HW_TOO_OLD] - r->counts[VS_INACCESSIBLE] - r->unknown;
	r->in_scope = in_scope;
	r->byref = xcalloc(r->nvms ? r->nvms : 1, sizeof(*r->byref));
	for (size_t i = 0; i < r->nvms; i++)
		r->byref[i] = &r->vms[i];
	if (r->nvms > 0)
		qsort(r->byref, r->nvms, sizeof(*r->byref), by_ref_sort);
}

void
report_free(struct report *r)
{
	free(r->vms);
	free(r->byref);
	free(r->period.over);
	free(r->period.days);
	r->vms = NULL;
	r->byref = NULL;
	r->period.over = NULL;
	r->period.days = NULL;
}

/* ---------------------------------------------------------------- */
/* json                                                              */

static json_object *
jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

void
report_json_attest(json_object *o, const char *evidence, const struct report_signing *sg)
{
	json_object *x = NULL;

	json_object_object_add(o, "evidence", jstr(evidence));
	if (sg != NULL) {
		x = json_object_new_object();
		json_object_object_add(x, "algorithm", jstr(sg->algorithm));
		json_object_object_add(x, "public_key_sha256", jstr(sg->key_sha256));
		json_object_object_add(x, "file", jstr(sg->sig_file));
		json_object_object_add(x, "covers", jstr("this file's bytes, as written"));
	}
	json_object_object_add(o, "signature", x);
}

int
report_json(const struct report *r, FILE *f)
{
	json_object *o = json_object_new_object(), *sum = json_object_new_object();
	json_object *vms = json_object_new_array();

	json_object_object_add(o, "generated", jstr(r->generated));
	report_json_attest(o, r->evidence, r->signing);
	json_object_object_add(o, "vcenter", jstr(r->url));
	json_object_object_add(o, "vcenter_version", jstr(r->inv->vcenter));
	for (int s = 0; s < VS_COUNT; s++)
		json_object_object_add(sum, vm_state_name((enum vm_state)s),
		    json_object_new_int64((int64_t)r->counts[s]));
	json_object_object_add(o, "summary", sum);
	json_object_object_add(o, "in_scope", json_object_new_int64((int64_t)r->in_scope));
	json_object_object_add(o, "compliant_in_scope",
	    json_object_new_int64((int64_t)r->counts[VS_COMPLIANT]));
	/* The cryptoperiod: rekeys the evidence log shows done, VMs due now. */
	json_object *rk = json_object_new_object();
	json_object_object_add(rk, "done", json_object_new_int64(r->rekeys_done));
	json_object_object_add(rk, "due", json_object_new_int64((int64_t)r->counts[VS_REKEY_DUE]));
	json_object_object_add(o, "rekeys", rk);
	for (size_t i = 0; i < r->nvms; i++)
		json_object_array_add(vms, report_json_vm(&r->vms[i], NULL));
	json_object_object_add(o, "vms", vms);
	report_period_json(&r->period, o);
	int rc = fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -1 : 0;
	json_object_put(o);
	return rc;
}

/* One VM's row (with its vCenter in a fleet report). */
json_object *
report_json_vm(const struct report_vm *v, const char *vcenter)
{
	json_object *x = json_object_new_object(), *ctl = json_object_new_array();
	struct report_ctl c[CONTROLS_MAX];
	size_t n = report_vm_controls(v, c);

	if (vcenter != NULL)
		json_object_object_add(x, "vcenter", jstr(vcenter));
	json_object_object_add(x, "name", jstr(v->vm->name));
	json_object_object_add(x, "moref", jstr(v->vm->moref));
	json_object_object_add(x, "folder", jstr(v->vm->folder));
	json_object_object_add(x, "state", jstr(vm_info_state(v->vm)));
	json_object_object_add(x, "reason", jstr(v->vm->reason));
	json_object_object_add(x, "hw_version", jstr(v->vm->hw_version));
	json_object_object_add(x, "power_state", jstr(v->vm->power_state));
	json_object_object_add(x, "encrypted", json_object_new_boolean(v->vm->encrypted));
	json_object_object_add(x, "key_provider", jstr(v->vm->provider));
	json_object_object_add(x, "key_age_days", v->vm->key_since > 0 ?
	    json_object_new_double(((double)time(NULL) - v->vm->key_since) / 86400.0) : NULL);
	json_object_object_add(x, "key_age_source", jstr(v->vm->key_since > 0 ?
	    v->vm->key_since_src : NULL));
	json_object_object_add(x, "migrate_encryption", jstr(v->vm->migrate_encryption));
	json_object_object_add(x, "last_action", v->action[0] ? jstr(v->action) : NULL);
	json_object_object_add(x, "last_action_time", v->action_time[0] ?
	    jstr(v->action_time) : NULL);
	/* As inventory --json says them. */
	json_object_object_add(x, "exposure", jstr(exposure_kind_name(v->exp ? v->exp->kind :
	    EXP_UNKNOWN)));
	json_object_object_add(x, "exposure_seconds", v->exp && v->exp->kind == EXP_MEASURED ?
	    json_object_new_double(v->exp->seconds) : NULL);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "id", jstr(c[i].c->id));
		json_object_object_add(e, "source", jstr(c[i].c->source));
		json_object_object_add(e, "result", jstr(ctl_result_name(c[i].r)));
		json_object_object_add(e, "why", jstr(c[i].why));
		json_object_array_add(ctl, e);
	}
	json_object_object_add(x, "controls", ctl);
	return x;
}

/* ---------------------------------------------------------------- */
/* csv                                                               */

static const char *const csv_cols[] = { "name", "moref", "folder", "state", "reason",
    "hw_version", "power_state", "encrypted", "key_provider", "migrate_encryption",
    "last_action", "last_action_time", "exposure", "exposure_seconds", "controls",
    "generated", "evidence" };
#define CSV_NCOLS	(sizeof(csv_cols) / sizeof(csv_cols[0]))

void
report_csv_head(FILE *f, int fleet)
{
	if (fleet)
		report_csv_cell(f, "vcenter", 0);
	for (size_t i = 0; i < CSV_NCOLS; i++)
		report_csv_cell(f, csv_cols[i], i == CSV_NCOLS - 1);
}

int
report_csv(const struct report *r, FILE *f)
{
	report_csv_head(f, 0);
	for (size_t i = 0; i < r->nvms; i++)
		report_csv_vm(f, &r->vms[i], NULL, r->generated, r->evidence);
	return ferror(f) ? -1 : 0;
}

/* One VM's row (its vCenter first, in a fleet report).  The controls
 * cell: "ID=RESULT;ID=RESULT", in the table's order. */
void
report_csv_vm(FILE *f, const struct report_vm *v, const char *vcenter,
    const char *generated, const char *evidence)
{
	struct report_ctl c[CONTROLS_MAX];
	size_t n = report_vm_controls(v, c), len = 0;
	char ctl[CONTROLS_MAX * 64] = "", secs[48];

	if (vcenter != NULL)
		report_csv_cell(f, vcenter, 0);
	report_csv_cell(f, v->vm->name, 0);
	report_csv_cell(f, v->vm->moref, 0);
	report_csv_cell(f, v->vm->folder, 0);
	report_csv_cell(f, vm_info_state(v->vm), 0);
	report_csv_cell(f, v->vm->reason, 0);
	report_csv_cell(f, v->vm->hw_version, 0);
	report_csv_cell(f, v->vm->power_state, 0);
	report_csv_cell(f, v->vm->encrypted ? "yes" : "no", 0);
	report_csv_cell(f, v->vm->provider, 0);
	report_csv_cell(f, v->vm->migrate_encryption, 0);
	report_csv_cell(f, v->action, 0);
	report_csv_cell(f, v->action_time, 0);
	report_csv_cell(f, exposure_kind_name(v->exp ? v->exp->kind : EXP_UNKNOWN), 0);
	report_exposure_text(v->exp, secs, sizeof(secs));
	report_csv_cell(f, secs, 0);
	for (size_t i = 0; i < n && len < sizeof(ctl); i++)
		len += (size_t)snprintf(ctl + len, sizeof(ctl) - len, "%s%s=%s", i ? ";" : "",
		    c[i].c->id, ctl_result_name(c[i].r));
	report_csv_cell(f, ctl, 0);
	report_csv_cell(f, generated, 0);
	report_csv_cell(f, evidence, 1);
}

void
report_csv_unread(FILE *f, const char *vcenter, const char *err, const char *generated,
    const char *evidence)
{
	report_csv_cell(f, vcenter, 0);
	for (size_t c = 0; c < CSV_NCOLS; c++) {
		const char *s = strcmp(csv_cols[c], "state") == 0 ? "error" :
		    strcmp(csv_cols[c], "reason") == 0 ? err :
		    strcmp(csv_cols[c], "generated") == 0 ? generated :
		    strcmp(csv_cols[c], "evidence") == 0 ? evidence : "";
		report_csv_cell(f, s, c == CSV_NCOLS - 1);
	}
}
