/*
 * `vmcrypt-agent report`: every VM with its state, reason and the agent's
 * last action, for compliance teams.  The states come from the same scan
 * as `inventory`; the last action comes from vCenter's own event history
 * (the "vmcrypt-agent: ..." audit events the agent logs on each VM), so the
 * report does not depend on the agent's local state.
 *
 * Formats: json, csv (RFC 4180; cells that a spreadsheet would run as a
 * formula are prefixed with '), html (one self-contained file: inline CSS,
 * an SVG bar chart, a table sortable by any column; no network needed).
 */
#include "cli.h"
#include "config.h"
#include "enforce.h"
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

void
report_note_action(struct report *r, const char *moref, const char *msg, const char *time)
{
	/* r->byref is sorted by moref: a lookup per event, not a scan (a
	 * month of audit events over 10,000 VMs). */
	struct vm_info key_vm;
	struct report_vm key = { .vm = &key_vm };
	snprintf(key_vm.moref, sizeof(key_vm.moref), "%s", moref);
	struct report_vm **hit = r->nvms == 0 ? NULL :
	    bsearch(&key, r->byref, r->nvms, sizeof(*r->byref), by_ref);
	if (hit == NULL)
		return;
	struct report_vm *v = *hit;
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
	r->vms = NULL;
	r->byref = NULL;
}

/* ---------------------------------------------------------------- */
/* json                                                              */

static json_object *
jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

int
report_json(const struct report *r, FILE *f)
{
	json_object *o = json_object_new_object(), *sum = json_object_new_object();
	json_object *vms = json_object_new_array();

	json_object_object_add(o, "generated", jstr(r->generated));
	json_object_object_add(o, "vcenter", jstr(r->url));
	json_object_object_add(o, "vcenter_version", jstr(r->inv->vcenter));
	for (int s = 0; s < VS_COUNT; s++)
		json_object_object_add(sum, vm_state_name((enum vm_state)s),
		    json_object_new_int64((int64_t)r->counts[s]));
	json_object_object_add(o, "summary", sum);
	json_object_object_add(o, "in_scope", json_object_new_int64((int64_t)r->in_scope));
	json_object_object_add(o, "compliant_in_scope",
	    json_object_new_int64((int64_t)r->counts[VS_COMPLIANT]));
	for (size_t i = 0; i < r->nvms; i++)
		json_object_array_add(vms, report_json_vm(&r->vms[i], NULL));
	json_object_object_add(o, "vms", vms);
	int rc = fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -1 : 0;
	json_object_put(o);
	return rc;
}

/* One VM's row (with its vCenter in a fleet report). */
json_object *
report_json_vm(const struct report_vm *v, const char *vcenter)
{
	json_object *x = json_object_new_object();
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
	json_object_object_add(x, "migrate_encryption", jstr(v->vm->migrate_encryption));
	json_object_object_add(x, "last_action", v->action[0] ? jstr(v->action) : NULL);
	json_object_object_add(x, "last_action_time", v->action_time[0] ?
	    jstr(v->action_time) : NULL);
	return x;
}

/* ---------------------------------------------------------------- */
/* csv                                                               */

void
report_csv_cell(FILE *f, const char *s, int last)
{
	if (s == NULL)
		s = "";
	int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
	    s[0] == '\t' || s[0] == '\r';
	fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

void
report_csv_head(FILE *f, int fleet)
{
	static const char *const hdr[] = { "name", "moref", "folder", "state", "reason",
	    "hw_version", "power_state", "encrypted", "key_provider", "migrate_encryption",
	    "last_action", "last_action_time" };
	if (fleet)
		report_csv_cell(f, "vcenter", 0);
	for (size_t i = 0; i < 12; i++)
		report_csv_cell(f, hdr[i], i == 11);
}

int
report_csv(const struct report *r, FILE *f)
{
	report_csv_head(f, 0);
	for (size_t i = 0; i < r->nvms; i++)
		report_csv_vm(f, &r->vms[i], NULL);
	return ferror(f) ? -1 : 0;
}

/* One VM's row (its vCenter first, in a fleet report). */
void
report_csv_vm(FILE *f, const struct report_vm *v, const char *vcenter)
{
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
	report_csv_cell(f, v->action_time, 1);
}

/* ---------------------------------------------------------------- */
/* html                                                              */

void
report_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const struct {
	enum vm_state	 s;
	const char	*label, *color;
} bars[] = {
	{ VS_COMPLIANT, "compliant", "#2e7d32" },
	{ VS_PENDING, "pending", "#f9a825" },
	{ VS_DEFERRED, "deferred (powered on)", "#fbc02d" },
	{ VS_BLOCKED, "blocked", "#c62828" },
	{ VS_EXCLUDED, "excluded", "#78909c" },
	{ VS_HW_TOO_OLD, "hardware too old", "#6d4c41" },
	{ VS_TEMPLATE, "template", "#90a4ae" },
	{ VS_INACCESSIBLE, "inaccessible", "#4a148c" },
	{ VS_WRONG_PROVIDER, "wrong key provider", "#e65100" },
	{ VS_VSAN_ENCRYPTED, "vSAN-encrypted", "#00838f" },
};

void
report_html_chart(FILE *f, const size_t *counts)
{
	size_t max = 1;
	const int w = 560, rowh = 30, left = 190;
	int n = (int)(sizeof(bars) / sizeof(bars[0]));

	for (int i = 0; i < n; i++)
		if (counts[bars[i].s] > max)
			max = counts[bars[i].s];
	fprintf(f, "<svg id=\"chart\" role=\"img\" aria-label=\"VMs by state\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\">\n", w + left + 60, n * rowh + 10, w + left + 60,
	    n * rowh + 10);
	for (int i = 0; i < n; i++) {
		size_t c = counts[bars[i].s];
		int bw = (int)((double)c / (double)max * w);
		int y = 5 + i * rowh;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"lbl\">%s</text>"
		    "<rect class=\"bar\" data-state=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" "
		    "height=\"%d\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" class=\"num\">%zu</text>\n",
		    left - 10, y + 19, bars[i].label, vm_state_name(bars[i].s), left, y + 4,
		    bw > 0 ? bw : (c ? 1 : 0), rowh - 8, bars[i].color, left + bw + 8, y + 19, c);
	}
	fputs("</svg>\n", f);
}

/* The page up to <body>: style and title. */
void
report_html_head(FILE *f)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>VM encryption compliance report</title>\n<style>\n"
	    "body{font:14px/1.4 system-ui,-apple-system,\"Segoe UI\",sans-serif;margin:24px;"
	    "color:#1d2a33;background:#fff}\n"
	    "h1{font-size:22px;margin:0 0 4px}.meta{color:#5b6b75;margin-bottom:16px}\n"
	    ".cards{display:flex;gap:12px;margin:12px 0 20px;flex-wrap:wrap}\n"
	    ".card{border:1px solid #d5dde2;border-radius:6px;padding:10px 16px;min-width:120px}\n"
	    ".card b{display:block;font-size:24px}\n"
	    "svg .lbl,svg .num{font:13px system-ui,sans-serif;fill:#1d2a33}\n"
	    "table{border-collapse:collapse;width:100%;margin-top:16px}\n"
	    "th,td{border-bottom:1px solid #e3e8eb;padding:6px 8px;text-align:left;"
	    "vertical-align:top}\n"
	    "th{background:#f3f6f8;cursor:pointer;user-select:none;position:sticky;top:0}\n"
	    "th.asc::after{content:\" \\25B2\"}th.desc::after{content:\" \\25BC\"}\n"
	    "td.state{font-weight:600}\n"
	    "tr.s-compliant td.state{color:#2e7d32}tr.s-blocked td.state{color:#c62828}\n"
	    "tr.s-pending td.state,tr.s-deferred td.state{color:#b26a00}\n"
	    "@media print{th{position:static}}\n"
	    "</style></head><body>\n", f);
}

void
report_html_table_head(FILE *f, int fleet)
{
	fputs("<table id=\"vms\"><thead><tr>", f);
	if (fleet)
		fputs("<th>vCenter</th>", f);
	fputs("<th>VM</th><th>folder</th><th>state</th>"
	    "<th>reason</th><th>hardware</th><th>power</th><th>encrypted</th>"
	    "<th>vMotion encryption</th><th>last action</th><th>when</th></tr></thead>"
	    "<tbody>\n", f);
}

/* One VM's row (its vCenter first, in a fleet report). */
void
report_html_vm(FILE *f, const struct report_vm *v, const char *vcenter)
{
	fputs("<tr class=\"s-", f);
	report_esc(f, vm_info_state(v->vm) ? vm_info_state(v->vm) : "unknown");
	fputs("\">", f);
	if (vcenter != NULL) {
		fputs("<td>", f);
		report_esc(f, vcenter);
		fputs("</td>", f);
	}
	fputs("<td>", f);
	report_esc(f, v->vm->name);
	fputs("<br><small>", f);
	report_esc(f, v->vm->moref);
	fputs("</small></td><td>", f);
	report_esc(f, v->vm->folder);
	fputs("</td><td class=\"state\">", f);
	report_esc(f, vm_info_state(v->vm) ? vm_info_state(v->vm) : "unknown");
	fputs("</td><td>", f);
	report_esc(f, v->vm->reason && v->vm->reason[0] ? v->vm->reason : "-");
	fputs("</td><td>", f);
	report_esc(f, v->vm->hw_version);
	fputs("</td><td>", f);
	report_esc(f, v->vm->power_state);
	fputs("</td><td>", f);
	fputs(v->vm->encrypted ? "yes" : "no", f);
	fputs("</td><td>", f);
	report_esc(f, v->vm->migrate_encryption ? v->vm->migrate_encryption : "-");
	fputs("</td><td>", f);
	report_esc(f, v->action[0] ? v->action : "-");
	fputs("</td><td>", f);
	if (v->action_time[0]) {	/* "2026-11-26T12:14:00.9156Z" -> "2026-11-26 12:14:00Z" */
		char t[64];
		snprintf(t, sizeof(t), "%.19sZ", v->action_time);
		if (strlen(t) > 10 && t[10] == 'T')
			t[10] = ' ';
		report_esc(f, t);
	} else {
		fputs("-", f);
	}
	fputs("</td></tr>\n", f);
}

/* The table's end, the sorting script, the end of the page. */
int
report_html_tail(FILE *f)
{
	fputs("</tbody></table>\n<script>\n"
	    "(function(){var t=document.getElementById('vms');var hs=t.tHead.rows[0].cells;\n"
	    "for(var i=0;i<hs.length;i++)(function(c){hs[c].onclick=function(){\n"
	    "var asc=!this.classList.contains('asc');for(var k=0;k<hs.length;k++)"
	    "hs[k].className='';this.className=asc?'asc':'desc';\n"
	    "var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);\n"
	    "rows.sort(function(x,y){var p=x.cells[c].textContent,q=y.cells[c].textContent;"
	    "return (asc?1:-1)*p.localeCompare(q,undefined,{numeric:true});});\n"
	    "rows.forEach(function(r){b.appendChild(r);});};})(i);})();\n"
	    "</script>\n</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}

int
report_html(const struct report *r, FILE *f)
{
	double pct = r->in_scope ? 100.0 * (double)r->counts[VS_COMPLIANT] /
	    (double)r->in_scope : 100.0;

	report_html_head(f);
	fputs("<h1>VM encryption compliance report</h1>\n<div class=\"meta\">vCenter ", f);
	report_esc(f, r->url ? r->url : "?");
	fputs(" (", f);
	report_esc(f, r->inv->vcenter ? r->inv->vcenter : "?");
	fputs(")", f);
	fputs(" &middot; generated ", f);
	report_esc(f, r->generated);
	fputs(" by vmcrypt-agent " VMCRYPT_VERSION "</div>\n<div class=\"cards\">", f);
	fprintf(f, "<div class=\"card\" id=\"pct\"><b>%.1f%%</b>in-scope VMs compliant</div>"
	    "<div class=\"card\"><b>%zu</b>VMs in total</div>"
	    "<div class=\"card\"><b>%zu</b>in scope</div>"
	    "<div class=\"card\"><b>%zu</b>compliant</div></div>\n", pct, r->nvms,
	    r->in_scope, r->counts[VS_COMPLIANT]);
	report_html_chart(f, r->counts);
	report_html_table_head(f, 0);
	for (size_t i = 0; i < r->nvms; i++)
		report_html_vm(f, &r->vms[i], NULL);
	return report_html_tail(f);
}
