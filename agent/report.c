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

#include <getopt.h>
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

static int
read_audit(struct vconn *c, struct report *r, int days, char *err, size_t errlen)
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
	for (size_t i = 0; i < r->nvms; i++) {
		const struct report_vm *v = &r->vms[i];
		json_object *x = json_object_new_object();
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
		json_object_array_add(vms, x);
	}
	json_object_object_add(o, "vms", vms);
	int rc = fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -1 : 0;
	json_object_put(o);
	return rc;
}

/* ---------------------------------------------------------------- */
/* csv                                                               */

static void
csv_cell(FILE *f, const char *s, int last)
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

int
report_csv(const struct report *r, FILE *f)
{
	static const char *const hdr[] = { "name", "moref", "folder", "state", "reason",
	    "hw_version", "power_state", "encrypted", "key_provider", "migrate_encryption",
	    "last_action", "last_action_time" };
	for (size_t i = 0; i < 12; i++)
		csv_cell(f, hdr[i], i == 11);
	for (size_t i = 0; i < r->nvms; i++) {
		const struct report_vm *v = &r->vms[i];
		csv_cell(f, v->vm->name, 0);
		csv_cell(f, v->vm->moref, 0);
		csv_cell(f, v->vm->folder, 0);
		csv_cell(f, vm_info_state(v->vm), 0);
		csv_cell(f, v->vm->reason, 0);
		csv_cell(f, v->vm->hw_version, 0);
		csv_cell(f, v->vm->power_state, 0);
		csv_cell(f, v->vm->encrypted ? "yes" : "no", 0);
		csv_cell(f, v->vm->provider, 0);
		csv_cell(f, v->vm->migrate_encryption, 0);
		csv_cell(f, v->action, 0);
		csv_cell(f, v->action_time, 1);
	}
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- */
/* html                                                              */

static void
esc(FILE *f, const char *s)
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

static void
html_chart(const struct report *r, FILE *f)
{
	size_t max = 1;
	const int w = 560, rowh = 30, left = 190;
	int n = (int)(sizeof(bars) / sizeof(bars[0]));

	for (int i = 0; i < n; i++)
		if (r->counts[bars[i].s] > max)
			max = r->counts[bars[i].s];
	fprintf(f, "<svg id=\"chart\" role=\"img\" aria-label=\"VMs by state\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\">\n", w + left + 60, n * rowh + 10, w + left + 60,
	    n * rowh + 10);
	for (int i = 0; i < n; i++) {
		size_t c = r->counts[bars[i].s];
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

int
report_html(const struct report *r, FILE *f)
{
	double pct = r->in_scope ? 100.0 * (double)r->counts[VS_COMPLIANT] /
	    (double)r->in_scope : 100.0;

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
	fputs("<h1>VM encryption compliance report</h1>\n<div class=\"meta\">vCenter ", f);
	esc(f, r->url ? r->url : "?");
	fputs(" (", f);
	esc(f, r->inv->vcenter ? r->inv->vcenter : "?");
	fputs(")", f);
	fputs(" &middot; generated ", f);
	esc(f, r->generated);
	fputs(" by vmcrypt-agent " VMCRYPT_VERSION "</div>\n<div class=\"cards\">", f);
	fprintf(f, "<div class=\"card\" id=\"pct\"><b>%.1f%%</b>in-scope VMs compliant</div>"
	    "<div class=\"card\"><b>%zu</b>VMs in total</div>"
	    "<div class=\"card\"><b>%zu</b>in scope</div>"
	    "<div class=\"card\"><b>%zu</b>compliant</div></div>\n", pct, r->nvms,
	    r->in_scope, r->counts[VS_COMPLIANT]);
	html_chart(r, f);
	fputs("<table id=\"vms\"><thead><tr><th>VM</th><th>folder</th><th>state</th>"
	    "<th>reason</th><th>hardware</th><th>power</th><th>encrypted</th>"
	    "<th>vMotion encryption</th><th>last action</th><th>when</th></tr></thead>"
	    "<tbody>\n", f);
	for (size_t i = 0; i < r->nvms; i++) {
		const struct report_vm *v = &r->vms[i];
		fputs("<tr class=\"s-", f);
		esc(f, vm_info_state(v->vm) ? vm_info_state(v->vm) : "unknown");
		fputs("\"><td>", f);
		esc(f, v->vm->name);
		fputs("<br><small>", f);
		esc(f, v->vm->moref);
		fputs("</small></td><td>", f);
		esc(f, v->vm->folder);
		fputs("</td><td class=\"state\">", f);
		esc(f, vm_info_state(v->vm) ? vm_info_state(v->vm) : "unknown");
		fputs("</td><td>", f);
		esc(f, v->vm->reason && v->vm->reason[0] ? v->vm->reason : "-");
		fputs("</td><td>", f);
		esc(f, v->vm->hw_version);
		fputs("</td><td>", f);
		esc(f, v->vm->power_state);
		fputs("</td><td>", f);
		fputs(v->vm->encrypted ? "yes" : "no", f);
		fputs("</td><td>", f);
		esc(f, v->vm->migrate_encryption ? v->vm->migrate_encryption : "-");
		fputs("</td><td>", f);
		esc(f, v->action[0] ? v->action : "-");
		fputs("</td><td>", f);
		if (v->action_time[0]) {	/* "2026-11-26T12:14:00.9156Z" -> "2026-11-26 12:14:00Z" */
			char t[64];
			snprintf(t, sizeof(t), "%.19sZ", v->action_time);
			if (strlen(t) > 10 && t[10] == 'T')
				t[10] = ' ';
			esc(f, t);
		} else {
			fputs("-", f);
		}
		fputs("</td></tr>\n", f);
	}
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

/* ---------------------------------------------------------------- */

struct report_opts {
	const char	*config, *format, *output;
	int		 days;
};

/* EXIT_OK to go on, an exit code, or -1 (--help said). */
static int
report_args(int argc, char **argv, struct report_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	char *end;
	long v;

	while ((ch = getopt_long(argc, argv, "c:f:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'f': o->format = optarg; break;
		case 'o': o->output = optarg; break;
		case 's':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3650) {
				fprintf(stderr, "vmcrypt-agent: --since must be 1..3650 days\n");
				return EXIT_USAGE;
			}
			o->days = (int)v;
			break;
		case 'h':
			printf("usage: vmcrypt-agent report [--config FILE] [--format json|csv|html]\n"
			    "                            [--output FILE] [--since DAYS]\n\n"
			    "Every VM with its state (compliant, pending, deferred, blocked,\n"
			    "hw-too-old, excluded, template, inaccessible, wrong-provider), the\n"
			    "reason, and the agent's last action on it, read from vCenter's event\n"
			    "history (the\n"
			    "\"vmcrypt-agent: ...\" events of the last DAYS, default 30).  html (the\n"
			    "default) is one self-contained file, readable offline: a summary chart\n"
			    "and a table sortable by any column.  Changes nothing.\n\n"
			    "exit status: 0 written; 2 usage; 3 bad configuration; 4 vCenter\n"
			    "unreachable; 5 login failed; 1 anything else (e.g. cannot write).\n");
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (strcmp(o->format, "json") != 0 &&
	    strcmp(o->format, "csv") != 0 && strcmp(o->format, "html") != 0)) {
		fprintf(stderr, "usage: vmcrypt-agent report [--config FILE] [--format "
		    "json|csv|html] [--output FILE]\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The report in its format, to --output or stdout: EXIT_OK or EXIT_FAIL. */
static int
report_write(struct report *rep, const struct report_opts *o)
{
	FILE *f = stdout;

	if (o->output != NULL && (f = fopen(o->output, "w")) == NULL) {
		fprintf(stderr, "vmcrypt-agent: cannot write %s: %m\n", o->output);
		return EXIT_FAIL;
	}
	int w = strcmp(o->format, "json") == 0 ? report_json(rep, f) :
	    strcmp(o->format, "csv") == 0 ? report_csv(rep, f) : report_html(rep, f);
	if (f != stdout && fclose(f) != 0)
		w = -1;
	if (w != 0) {
		fprintf(stderr, "vmcrypt-agent: writing the report failed\n");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* Reads every VM and the audit events, then writes the report. */
static int
report_run(const struct config *cfg, struct vconn *c, const struct report_opts *o)
{
	struct enforcer *e = enforcer_new();
	struct inventory inv;
	struct report rep;
	unsigned *acts = NULL;
	char err[1024], gen[64];
	int vr, rc;

	if ((vr = enforcer_configure(e, cfg, c, err, sizeof(err))) != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		enforcer_free(e);
		return EXIT_FAIL;
	}
	vr = enforce_scan(e, cfg, c, 500, 0, &inv, &acts);
	free(acts);
	enforcer_free(e);
	if (vr != 0) {
		fprintf(stderr, "vmcrypt-agent: report: %s\n", vconn_error(c));
		return cli_exit_for(vr);
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(gen, sizeof(gen), "%Y-%m-%dT%H:%M:%SZ", &tm);
	report_init(&rep, &inv, gen);
	rep.url = cfg->vc_url;
	if (read_audit(c, &rep, o->days, err, sizeof(err)) != 0)
		fprintf(stderr, "vmcrypt-agent: warning: %s; the last actions are left "
		    "empty\n", err);
	rc = report_write(&rep, o);
	report_free(&rep);
	inventory_free(&inv);
	return rc;
}

int
cmd_report(int argc, char **argv)
{
	struct report_opts o = { NULL, "html", NULL, 30 };
	struct config *cfg = NULL;
	struct vsession *s = NULL;
	int rc;

	if ((rc = report_args(argc, argv, &o)) != EXIT_OK)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = cli_load_config(o.config, &cfg)) != EXIT_OK)
		return rc;
	if ((rc = cli_open_session(cfg, &s)) != EXIT_OK) {
		config_free(cfg);
		return rc;
	}
	struct vconn *c = vconn_new(s);
	vconn_set_timeout(c, cfg->timeout);
	rc = report_run(cfg, c, &o);
	vconn_free(c);
	vsession_close(s);
	vsession_free(s);
	config_free(cfg);
	return rc;
}
