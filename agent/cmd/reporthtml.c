/*
 * The report as one self-contained HTML page: inline CSS, an SVG bar chart
 * of the states, a table sortable by any column (each VM's controls in
 * one), no network needed.  Every value from vCenter is escaped.
 */
#include "controls.h"
#include "exposure.h"
#include "inventory.h"
#include "policy.h"
#include "report.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* html                                                              */


void
report_html_chart(FILE *f, const size_t *counts)
{
	size_t max = 1;
	const int w = 560, rowh = 30, left = 190;
	int n = (int)report_nstates;
	const struct report_state *bars = report_states;

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
	    "h2{font-size:17px;margin:24px 0 6px}\n"
	    "table{border-collapse:collapse;width:100%;margin-top:16px}\n"
	    "th,td{border-bottom:1px solid #e3e8eb;padding:6px 8px;text-align:left;"
	    "vertical-align:top}\n"
	    "th{background:#f3f6f8;cursor:pointer;user-select:none;position:sticky;top:0}\n"
	    "th.asc::after{content:\" \\25B2\"}th.desc::after{content:\" \\25BC\"}\n"
	    "td.state{font-weight:600}\n"
	    "tr.s-compliant td.state{color:#2e7d32}tr.s-blocked td.state{color:#c62828}\n"
	    "tr.s-pending td.state,tr.s-deferred td.state{color:#b26a00}\n"
	    "ul.ctl{list-style:none;margin:0;padding:0;white-space:nowrap}\n"
	    "ul.ctl li.c-sat{color:#2e7d32}ul.ctl li.c-not{color:#c62828}"
	    "ul.ctl li.c-na{color:#78909c}\n"
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
	    "<th>vMotion encryption</th><th>last action</th><th>when</th>"
	    "<th>exposed (s)</th><th>controls</th>"
	    "</tr></thead>"
	    "<tbody>\n", f);
}

/* The controls cell: one line per control, its result, why as a tooltip. */
static void
html_controls(FILE *f, const struct report_vm *v)
{
	struct report_ctl c[CONTROLS_MAX];
	size_t n = report_vm_controls(v, c);

	fputs("<ul class=\"ctl\">", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "<li class=\"%s\" title=\"", c[i].r == CTL_SATISFIED ? "c-sat" :
		    c[i].r == CTL_NOT_SATISFIED ? "c-not" : "c-na");
		report_esc(f, c[i].c->source);
		fputs(": ", f);
		report_esc(f, c[i].why);
		fputs("\">", f);
		report_esc(f, c[i].c->id);
		fputs(": ", f);
		report_esc(f, ctl_result_name(c[i].r));
		fputs("</li>", f);
	}
	fputs("</ul>", f);
}

void
report_html_attest(FILE *f, const char *generated, const char *evidence,
    const struct report_signing *sg)
{
	fputs(" &middot; generated ", f);
	report_esc(f, generated);
	fputs(" by vmcrypt-agent " VMCRYPT_VERSION " &middot; <span id=\"evidence\">evidence "
	    "log: ", f);
	report_esc(f, evidence ? evidence : "none yet");
	fputs("</span>", f);
	if (sg != NULL) {
		fputs(" &middot; <span id=\"signature\">signed (", f);
		report_esc(f, sg->algorithm);
		fputs(", public key SHA-256 ", f);
		report_esc(f, sg->key_sha256);
		fputs(") in ", f);
		report_esc(f, sg->sig_file);
		fputs("</span>", f);
	}
	fputs("</div>\n", f);
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
	fputs("</td><td class=\"exposure\">", f);
	if (v->exp != NULL && v->exp->kind == EXP_MEASURED)
		fprintf(f, "%.3f", v->exp->seconds);
	else
		report_esc(f, v->exp ? exposure_kind_name(v->exp->kind) : "-");
	fputs("</td><td>", f);
	html_controls(f, v);
	fputs("</td></tr>\n", f);
}

void
report_html_table_end(FILE *f)
{
	fputs("</tbody></table>\n", f);
}

/* The sorting script, the end of the page. */
int
report_html_tail(FILE *f)
{
	fputs("<script>\n"
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
	report_html_attest(f, r->generated, r->evidence, r->signing);
	fputs("<div class=\"cards\">", f);
	fprintf(f, "<div class=\"card\" id=\"pct\"><b>%.1f%%</b>in-scope VMs compliant</div>"
	    "<div class=\"card\"><b>%zu</b>VMs in total</div>"
	    "<div class=\"card\"><b>%zu</b>in scope</div>"
	    "<div class=\"card\"><b>%zu</b>compliant</div></div>\n", pct, r->nvms,
	    r->in_scope, r->counts[VS_COMPLIANT]);
	report_html_chart(f, r->counts);
	report_html_table_head(f, 0);
	for (size_t i = 0; i < r->nvms; i++)
		report_html_vm(f, &r->vms[i], NULL);
	report_html_table_end(f);
	report_period_html(f, &r->period, NULL);
	return report_html_tail(f);
}
