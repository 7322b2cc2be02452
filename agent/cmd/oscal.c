/*
 * `report --format oscal`: the report as an OSCAL 1.1.2 assessment-results
 * document (JSON), for GRC tools that read OSCAL.
 *
 *   metadata       title, last-modified, version, oscal-version, and props
 *                  naming what a signature covers (evidence, key)
 *   import-ap      "#UUID": the back-matter resource that describes the
 *                  assessment (how each VM was read and judged), inline
 *   results[0]     start (generated) .. end (written); the VMs as
 *                  inventory items (local-definitions); reviewed-controls
 *     observations one per VM (its facts: state, reason, keys, policy, when),
 *                  one per vCenter that could not be read (why)
 *     findings     one per control that applies to any VM: its target's
 *                  status satisfied only if every VM it applies to satisfies
 *                  it and every vCenter was read; related: those VMs'
 *                  observations (and the unread vCenters')
 *
 * Every uuid is a new version 4 one (uuid.c, OpenSSL's RAND).  Props are
 * in the project's namespace; empty values are left out (OSCAL wants none).
 */
#include "controls.h"
#include "exposure.h"
#include "inventory.h"
#include "policy.h"
#include "report.h"
#include "uuid.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OSCAL_VERSION	"1.1.2"
#define NS		"https://vmcrypt-agent.example.org/ns/oscal"
#define LIST_NAMES	20	/* VMs named in a finding's description */

/* What the document is being built from, and its uuids as they come. */
struct doc {
	const struct report_site *sites;
	size_t		 nsites;
	char		(*obs)[UUID_STR_LEN];	/* per VM, in site order; then per unread site */
	size_t		 nobs;
	int		 failed;		/* no random numbers: stop */
};

static json_object *
jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static json_object *
new_uuid(struct doc *d)
{
	char u[UUID_STR_LEN];
	if (uuid_v4(u) != 0) {
		d->failed = 1;
		return jstr("00000000-0000-4000-8000-000000000000");
	}
	return jstr(u);
}

/* One {name, ns, value} into props; NULL or blank values are left out,
 * line breaks flattened, the ends trimmed (an OSCAL value has neither). */
static void
prop(json_object *props, const char *name, const char *value)
{
	if (value == NULL)
		return;
	while (*value == ' ' || *value == '\t' || *value == '\n' || *value == '\r')
		value++;
	size_t n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' ||
	    value[n - 1] == '\n' || value[n - 1] == '\r'))
		n--;
	if (n == 0)
		return;
	char *v = xasprintf("%.*s", (int)n, value);
	for (char *p = v; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	json_object *x = json_object_new_object();
	json_object_object_add(x, "name", jstr(name));
	json_object_object_add(x, "ns", jstr(NS));
	json_object_object_add(x, "value", jstr(v));
	json_object_array_add(props, x);
	free(v);
}

static void
add_props(json_object *o, json_object *props)
{
	if (json_object_array_length(props) > 0)
		json_object_object_add(o, "props", props);
	else
		json_object_put(props);
}

static json_object *
metadata(struct doc *d, const char *generated, const struct report_signing *sg)
{
	json_object *m = json_object_new_object(), *props = json_object_new_array();
	char title[160];

	snprintf(title, sizeof(title), "VM encryption controls: assessment results "
	    "(%zu vCenter%s)", d->nsites, d->nsites == 1 ? "" : "s");
	json_object_object_add(m, "title", jstr(title));
	json_object_object_add(m, "last-modified", jstr(generated));
	json_object_object_add(m, "version", jstr(generated));
	json_object_object_add(m, "oscal-version", jstr(OSCAL_VERSION));
	prop(props, "generator", "vmcrypt-agent " VMCRYPT_VERSION);
	for (size_t i = 0; i < d->nsites; i++) {
		char v[512];
		snprintf(v, sizeof(v), "%s %s", d->sites[i].vcenter,
		    d->sites[i].evidence ? d->sites[i].evidence : "none");
		prop(props, "evidence-head", v);
	}
	if (sg != NULL) {
		prop(props, "signature-algorithm", sg->algorithm);
		prop(props, "signature-public-key-sha256", sg->key_sha256);
		prop(props, "signature-file", sg->sig_file);
	}
	add_props(m, props);
	return m;
}

/* The inventory item and the observation of one VM. */
static void
vm_observation(struct doc *d, const struct report_site *st, const struct report_vm *v,
    const char *generated, json_object *items, json_object *observations, char *obs_uuid)
{
	json_object *item = json_object_new_object(), *ip = json_object_new_array();
	json_object *o = json_object_new_object(), *props = json_object_new_array();
	json_object *subj = json_object_new_object(), *subjects = json_object_new_array();
	json_object *ev = json_object_new_object(), *evs = json_object_new_array();
	json_object *methods = json_object_new_array(), *iu = new_uuid(d), *ou = new_uuid(d);
	const struct vm_info *vm = v->vm;
	char text[1024], disks[64];
	size_t enc = 0;

	snprintf(obs_uuid, UUID_STR_LEN, "%s", json_object_get_string(ou));
	snprintf(text, sizeof(text), "VM %s (%s) on %s", vm->name ? vm->name : "?",
	    vm->moref, st->vcenter);
	json_object_object_add(item, "uuid", iu);
	json_object_object_add(item, "description", jstr(text));
	prop(ip, "vcenter", st->vcenter);
	prop(ip, "moref", vm->moref);
	prop(ip, "vm-name", vm->name);
	prop(ip, "folder", vm->folder);
	add_props(item, ip);
	json_object_array_add(items, item);

	json_object_object_add(o, "uuid", ou);
	json_object_object_add(o, "title", jstr(text));
	snprintf(text, sizeof(text), "%s: %s", vm_info_state(vm) ? vm_info_state(vm) : "unknown",
	    vm->reason && vm->reason[0] ? vm->reason : "nothing to do");
	json_object_object_add(o, "description", jstr(text));
	json_object_array_add(methods, jstr("TEST"));
	json_object_object_add(o, "methods", methods);
	prop(props, "state", vm_info_state(vm) ? vm_info_state(vm) : "unknown");
	prop(props, "reason", vm->reason);
	prop(props, "encrypted", vm->encrypted ? "yes" : "no");
	prop(props, "key-provider", vm->provider);
	prop(props, "key-id", vm->key_id);
	for (size_t i = 0; i < vm->ndisks; i++)
		enc += vm->disks[i].encrypted != 0;
	snprintf(disks, sizeof(disks), "%zu of %zu", enc, vm->ndisks);
	prop(props, "disks-encrypted", disks);
	prop(props, "storage-policy", vm->home_policy_name ? vm->home_policy_name :
	    vm->home_policy_id);
	prop(props, "migrate-encryption", vm->migrate_encryption);
	prop(props, "ft-encryption-mode", vm->ft_encryption_mode);
	prop(props, "hw-version", vm->hw_version);
	prop(props, "power-state", vm->power_state);
	prop(props, "last-action", v->action);
	prop(props, "last-action-time", v->action_time);
	prop(props, "exposure", exposure_kind_name(v->exp ? v->exp->kind : EXP_UNKNOWN));
	report_exposure_text(v->exp, disks, sizeof(disks));
	prop(props, "exposure-seconds", disks);
	add_props(o, props);
	json_object_object_add(subj, "subject-uuid", jstr(json_object_get_string(iu)));
	json_object_object_add(subj, "type", jstr("inventory-item"));
	json_object_object_add(subj, "title", jstr(vm->name ? vm->name : vm->moref));
	json_object_array_add(subjects, subj);
	json_object_object_add(o, "subjects", subjects);
	snprintf(text, sizeof(text), "Read from vCenter %s (property collector, SPBM, event "
	    "history) by vmcrypt-agent report", st->vcenter);
	json_object_object_add(ev, "description", jstr(text));
	json_object_array_add(evs, ev);
	json_object_object_add(o, "relevant-evidence", evs);
	json_object_object_add(o, "collected", jstr(generated));
	json_object_array_add(observations, o);
}

static void
unread_observation(struct doc *d, const struct report_site *st, const char *generated,
    json_object *observations, char *obs_uuid)
{
	json_object *o = json_object_new_object(), *methods = json_object_new_array();
	json_object *ou = new_uuid(d);
	char text[1200];

	snprintf(obs_uuid, UUID_STR_LEN, "%s", json_object_get_string(ou));
	json_object_object_add(o, "uuid", ou);
	snprintf(text, sizeof(text), "vCenter %s not read", st->vcenter);
	json_object_object_add(o, "title", jstr(text));
	snprintf(text, sizeof(text), "vCenter %s could not be read, so none of its VMs is "
	    "evidenced: %s", st->vcenter, st->error ? st->error : "unknown error");
	json_object_object_add(o, "description", jstr(text));
	json_object_array_add(methods, jstr("TEST"));
	json_object_object_add(o, "methods", methods);
	json_object_object_add(o, "collected", jstr(generated));
	json_object_array_add(observations, o);
}

/* The finding of control c: NULL if it applies to no VM. */
static json_object *
finding(struct doc *d, const struct control *c, size_t nunread)
{
	json_object *f, *target, *status, *rel = json_object_new_array();
	size_t k = 0, applies = 0, ok = 0, listed = 0;
	char names[2048] = "", text[2600];
	size_t len = 0;

	for (size_t s = 0; s < d->nsites; s++) {
		const struct report *r = d->sites[s].rep;
		for (size_t i = 0; r != NULL && i < r->nvms; i++, k++) {
			struct report_ctl rc[CONTROLS_MAX];
			size_t n = report_vm_controls(&r->vms[i], rc);
			for (size_t j = 0; j < n; j++) {
				if (rc[j].c != c || rc[j].r == CTL_NOT_APPLICABLE)
					continue;
				json_object *x = json_object_new_object();
				json_object_object_add(x, "observation-uuid", jstr(d->obs[k]));
				json_object_array_add(rel, x);
				applies++;
				if (rc[j].r == CTL_SATISFIED) {
					ok++;
				} else if (listed++ < LIST_NAMES && len < sizeof(names)) {
					len += (size_t)snprintf(names + len, sizeof(names) - len,
					    "%s%s (%s: %s)", listed > 1 ? ", " : "",
					    r->vms[i].vm->name ? r->vms[i].vm->name : "?",
					    r->vms[i].vm->moref, rc[j].why);
				}
			}
		}
	}
	if (applies == 0) {
		json_object_put(rel);
		return NULL;
	}
	for (size_t u = 0; u < nunread; u++, k++) {
		json_object *x = json_object_new_object();
		json_object_object_add(x, "observation-uuid", jstr(d->obs[k]));
		json_object_array_add(rel, x);
	}
	int satisfied = ok == applies && nunread == 0;
	snprintf(text, sizeof(text), "%s (%s): %zu of %zu VMs it applies to satisfy it%s%s%s%s.",
	    c->requires, c->source, ok, applies, ok < applies ? "; not: " : "", names,
	    listed > LIST_NAMES ? ", ..." : "",
	    nunread ? "; and not every vCenter could be read" : "");
	f = json_object_new_object();
	json_object_object_add(f, "uuid", new_uuid(d));
	json_object_object_add(f, "title", jstr(c->id));
	json_object_object_add(f, "description", jstr(text));
	target = json_object_new_object();
	json_object_object_add(target, "type", jstr("objective-id"));
	json_object_object_add(target, "target-id", jstr(c->id));
	json_object_object_add(target, "description", jstr(c->satisfied_by));
	status = json_object_new_object();
	json_object_object_add(status, "state", jstr(satisfied ? "satisfied" : "not-satisfied"));
	json_object_object_add(target, "status", status);
	json_object_object_add(f, "target", target);
	json_object_object_add(f, "related-observations", rel);
	return f;
}

/* The back-matter resource that stands for the assessment plan. */
static json_object *
plan_resource(struct doc *d, char *uuid_out)
{
	json_object *res = json_object_new_object(), *ru = new_uuid(d);
	json_object *bm = json_object_new_object(), *list = json_object_new_array();

	snprintf(uuid_out, UUID_STR_LEN, "%s", json_object_get_string(ru));
	json_object_object_add(res, "uuid", ru);
	json_object_object_add(res, "title", jstr("vmcrypt-agent report: the assessment"));
	json_object_object_add(res, "description", jstr(
	    "Every VM of each vCenter is read through the vSphere API (property collector, "
	    "SPBM, event history), decided against the agent's policy, and judged against "
	    "each control on its facts alone (controls.c, listed in the README): a control "
	    "is satisfied by a VM whose facts show it, not applicable where the VM has "
	    "nothing it is about. No separate assessment plan document exists."));
	json_object_array_add(list, res);
	json_object_object_add(bm, "resources", list);
	return bm;
}

static void
now_utc(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* results[0]: observations first (their uuids), then the findings. */
static json_object *
result(struct doc *d, const char *generated)
{
	json_object *res = json_object_new_object(), *items = json_object_new_array();
	json_object *obs = json_object_new_array(), *finds = json_object_new_array();
	json_object *incl = json_object_new_array(), *sel = json_object_new_object();
	json_object *sels = json_object_new_array(), *rev = json_object_new_object();
	json_object *ld = json_object_new_object();
	size_t k = 0, nunread = 0;
	char end[64], title[128];

	for (size_t s = 0; s < d->nsites; s++) {
		const struct report *r = d->sites[s].rep;
		for (size_t i = 0; r != NULL && i < r->nvms; i++)
			vm_observation(d, &d->sites[s], &r->vms[i], generated, items, obs,
			    d->obs[k++]);
	}
	for (size_t s = 0; s < d->nsites; s++)
		if (d->sites[s].rep == NULL)
			unread_observation(d, &d->sites[s], generated, obs, d->obs[k + nunread++]);
	for (size_t i = 0; i < ncontrols; i++) {
		json_object *f = finding(d, &controls[i], nunread);
		if (f == NULL)
			continue;
		json_object *ctl = json_object_new_object();
		json_object_object_add(ctl, "control-id", jstr(controls[i].id));
		json_object_array_add(incl, ctl);
		json_object_array_add(finds, f);
	}
	json_object_object_add(res, "uuid", new_uuid(d));
	snprintf(title, sizeof(title), "VM encryption controls on %zu VMs", k);
	json_object_object_add(res, "title", jstr(title));
	json_object_object_add(res, "description", jstr("Each VM's encryption facts as "
	    "vCenter reports them, and each control's result over the VMs it applies to."));
	json_object_object_add(res, "start", jstr(generated));
	now_utc(end, sizeof(end));
	json_object_object_add(res, "end", jstr(strcmp(end, generated) < 0 ? generated : end));
	if (json_object_array_length(items) > 0) {
		json_object_object_add(ld, "inventory-items", items);
		json_object_object_add(res, "local-definitions", ld);
	} else {
		json_object_put(items);
		json_object_put(ld);
	}
	if (json_object_array_length(incl) > 0)
		json_object_object_add(sel, "include-controls", incl);
	else {
		json_object_put(incl);
		json_object_object_add(sel, "description", jstr("No control applies to any VM read."));
	}
	json_object_array_add(sels, sel);
	json_object_object_add(rev, "control-selections", sels);
	json_object_object_add(res, "reviewed-controls", rev);
	if (json_object_array_length(obs) > 0)
		json_object_object_add(res, "observations", obs);
	else
		json_object_put(obs);
	if (json_object_array_length(finds) > 0)
		json_object_object_add(res, "findings", finds);
	else
		json_object_put(finds);
	return res;
}

int
report_oscal(const struct report_site *sites, size_t n, const char *generated,
    const struct report_signing *sg, FILE *f)
{
	struct doc d = { .sites = sites, .nsites = n };
	json_object *root = json_object_new_object(), *ar = json_object_new_object();
	json_object *ap = json_object_new_object(), *results = json_object_new_array();
	char plan[UUID_STR_LEN], href[UUID_STR_LEN + 1];
	int rc = -1;

	for (size_t s = 0; s < n; s++)
		d.nobs += sites[s].rep ? sites[s].rep->nvms : 1;
	d.obs = xcalloc(d.nobs ? d.nobs : 1, sizeof(*d.obs));
	json_object_object_add(ar, "uuid", new_uuid(&d));
	json_object_object_add(ar, "metadata", metadata(&d, generated, sg));
	json_object *bm = plan_resource(&d, plan);
	snprintf(href, sizeof(href), "#%s", plan);
	json_object_object_add(ap, "href", jstr(href));
	json_object_object_add(ar, "import-ap", ap);
	json_object_array_add(results, result(&d, generated));
	json_object_object_add(ar, "results", results);
	json_object_object_add(ar, "back-matter", bm);
	json_object_object_add(root, "assessment-results", ar);
	if (d.failed) {
		fprintf(stderr, "vmcrypt-agent: no random numbers for the OSCAL uuids "
		    "(OpenSSL RAND_bytes failed)\n");
		goto out;
	}
	rc = fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -1 : 0;
out:
	json_object_put(root);
	free(d.obs);
	return rc;
}
