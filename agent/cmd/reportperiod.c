/*
 * What the evidence log says of the report's period, in each format: the
 * exposure summary (count, p50, p99, max of the windows closed in the
 * period, the VMs over exposure-slo-seconds, the VMs still exposed) and,
 * with --since/--until, the history: each VM's timeline of states and the
 * VMs per state at the end of each day, as a stacked chart in the HTML.
 */
#include "exposure.h"
#include "period.h"
#include "policy.h"
#include "report.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DAYS	3660	/* ten years a day a column */
#define MAX_HTML_TIMELINES 500	/* VMs whose timeline the HTML page lists */

static int
in_period(const struct report_period *p, double t)
{
	return (p->since == 0 || t >= p->since) && (p->until == 0 || t <= p->until);
}

static int
by_longest(const void *a, const void *b)
{
	double x = (*(const struct exposure *const *)a)->seconds;
	double y = (*(const struct exposure *const *)b)->seconds;
	return x > y ? -1 : x < y;
}

void
report_set_evidence(struct report *r, const struct exposures *x, const struct history *h,
    int slo, double since, double until, int history)
{
	struct report_period *p = &r->period;
	double *v = xcalloc(x->n ? x->n : 1, sizeof(*v));
	size_t n = 0;

	p->since = since;
	p->until = until;
	p->history = history;
	p->slo = slo;
	p->exp = x;
	p->hist = h;
	for (size_t i = 0; i < r->nvms; i++)
		r->vms[i].exp = exposures_find(x, r->vms[i].vm->moref);
	p->over = xcalloc(x->n ? x->n : 1, sizeof(*p->over));
	for (size_t i = 0; i < x->n; i++) {
		const struct exposure *e = &x->e[i];
		if (e->kind == EXP_OPEN)
			p->open++;
		if (e->kind != EXP_MEASURED || !in_period(p, e->compliant))
			continue;
		v[n++] = e->seconds;
		if (e->seconds > slo)
			p->over[p->nover++] = e;
	}
	period_stats(v, n, &p->stats);
	free(v);
	if (p->nover > 1)
		qsort(p->over, p->nover, sizeof(*p->over), by_longest);
	if (history && h != NULL) {
		time_t from = (time_t)since, to = until ? (time_t)until : time(NULL);
		if (since == 0) {	/* from the first record the log has */
			from = to;
			for (size_t i = 0; i < h->n; i++)
				if (h->vms[i].n && h->vms[i].ch[0].at < (double)from)
					from = (time_t)h->vms[i].ch[0].at;
		}
		p->ndays = history_days(h, from, to, VS_COUNT, MAX_DAYS, &p->day0, &p->days);
	}
}

static void
iso(double t, char *out, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
date(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d", &tm);
}

/* ---------------------------------------------------------------- */
/* json                                                              */

static json_object *
jnum(double v)
{
	return json_object_new_double(v);
}

static json_object *
jtime(double t)
{
	char s[32];
	if (t == 0)
		return NULL;
	iso(t, s, sizeof(s));
	return json_object_new_string(s);
}

static json_object *
json_history(const struct report_period *p)
{
	json_object *o = json_object_new_object(), *days = json_object_new_array();
	json_object *tl = json_object_new_array();
	char d[16];

	for (size_t i = 0; i < p->ndays; i++) {
		json_object *x = json_object_new_object(), *by = json_object_new_object();
		size_t total = 0;
		date(p->day0 + (time_t)i * 86400, d, sizeof(d));
		json_object_object_add(x, "date", json_object_new_string(d));
		for (int s = 0; s < VS_COUNT; s++) {
			size_t c = p->days[i * VS_COUNT + (size_t)s];
			total += c;
			json_object_object_add(by, vm_state_name((enum vm_state)s),
			    json_object_new_int64((int64_t)c));
		}
		json_object_object_add(x, "vms", json_object_new_int64((int64_t)total));
		json_object_object_add(x, "by_state", by);
		json_object_array_add(days, x);
	}
	json_object_object_add(o, "days", days);
	for (size_t i = 0; p->hist && i < p->hist->n; i++) {
		const struct hist_vm *v = &p->hist->vms[i];
		json_object *x = json_object_new_object(), *ch = json_object_new_array();
		int before = -1;
		for (size_t k = 0; k < v->n; k++) {
			const struct hist_change *c = &v->ch[k];
			if (p->since && c->at < p->since) {
				before = c->state;
				continue;
			}
			if (p->until && c->at > p->until)
				break;
			json_object *e = json_object_new_object();
			json_object_object_add(e, "at", jtime(c->at));
			json_object_object_add(e, "state", json_object_new_string(
			    vm_state_name((enum vm_state)c->state)));
			json_object_object_add(e, "code", c->code ? json_object_new_string(c->code) :
			    NULL);
			json_object_object_add(e, "reason", c->reason ?
			    json_object_new_string(c->reason) : NULL);
			json_object_array_add(ch, e);
		}
		if (json_object_array_length(ch) == 0 && before < 0) {
			json_object_put(ch);	/* seen only after the period */
			json_object_put(x);
			continue;
		}
		json_object_object_add(x, "moref", json_object_new_string(v->vm));
		json_object_object_add(x, "name", json_object_new_string(v->name));
		json_object_object_add(x, "state_at_start", before >= 0 ? json_object_new_string(
		    vm_state_name((enum vm_state)before)) : NULL);
		json_object_object_add(x, "changes", ch);
		json_object_array_add(tl, x);
	}
	json_object_object_add(o, "timelines", tl);
	return o;
}

void
report_period_json(const struct report_period *p, json_object *o)
{
	json_object *s = json_object_new_object(), *over = json_object_new_array();

	json_object_object_add(s, "since", jtime(p->since));
	json_object_object_add(s, "until", jtime(p->until));
	json_object_object_add(s, "evidence", json_object_new_boolean(p->exp != NULL));
	json_object_object_add(s, "count", json_object_new_int64((int64_t)p->stats.count));
	json_object_object_add(s, "p50", p->stats.count ? jnum(p->stats.p50) : NULL);
	json_object_object_add(s, "p99", p->stats.count ? jnum(p->stats.p99) : NULL);
	json_object_object_add(s, "max", p->stats.count ? jnum(p->stats.max) : NULL);
	json_object_object_add(s, "slo_seconds", json_object_new_int(p->slo));
	for (size_t i = 0; i < p->nover; i++) {
		json_object *x = json_object_new_object();
		json_object_object_add(x, "moref", json_object_new_string(p->over[i]->vm));
		json_object_object_add(x, "name", json_object_new_string(p->over[i]->name));
		json_object_object_add(x, "exposure_seconds", jnum(p->over[i]->seconds));
		json_object_object_add(x, "compliant", jtime(p->over[i]->compliant));
		json_object_array_add(over, x);
	}
	json_object_object_add(s, "over_slo", over);
	json_object_object_add(s, "open", json_object_new_int64((int64_t)p->open));
	json_object_object_add(o, "exposure_summary", s);
	if (p->history)
		json_object_object_add(o, "history", json_history(p));
}

/* ---------------------------------------------------------------- */
/* csv                                                               */

static void
cell_vc(FILE *f, const char *vcenter)
{
	if (vcenter != NULL)
		report_csv_cell(f, vcenter, 0);
}

static void
cell_num(FILE *f, double v, int have, int last)
{
	char s[48] = "";
	if (have)
		snprintf(s, sizeof(s), "%.3f", v);
	report_csv_cell(f, s, last);
}

void
report_period_csv_summary(FILE *f, const struct report_period *p, const char *vcenter,
    int head)
{
	char since[32] = "", until[32] = "", n[32];

	if (head) {
		if (vcenter != NULL)
			report_csv_cell(f, "vcenter", 0);
		fputs("\"since\",\"until\",\"count\",\"p50\",\"p99\",\"max\",\"slo_seconds\","
		    "\"over_slo\",\"over_slo_vms\",\"open\"\r\n", f);
	}
	if (p->since)
		iso(p->since, since, sizeof(since));
	if (p->until)
		iso(p->until, until, sizeof(until));
	cell_vc(f, vcenter);
	report_csv_cell(f, since, 0);
	report_csv_cell(f, until, 0);
	snprintf(n, sizeof(n), "%zu", p->stats.count);
	report_csv_cell(f, n, 0);
	cell_num(f, p->stats.p50, p->stats.count > 0, 0);
	cell_num(f, p->stats.p99, p->stats.count > 0, 0);
	cell_num(f, p->stats.max, p->stats.count > 0, 0);
	snprintf(n, sizeof(n), "%d", p->slo);
	report_csv_cell(f, n, 0);
	snprintf(n, sizeof(n), "%zu", p->nover);
	report_csv_cell(f, n, 0);
	/* "name (moref) 75.2;..." */
	size_t len = 0, cap = 64 + p->nover * 400;
	char *names = xcalloc(1, cap);
	for (size_t i = 0; i < p->nover && len < cap; i++)
		len += (size_t)snprintf(names + len, cap - len, "%s%s (%s) %.3f", i ? ";" : "",
		    p->over[i]->name, p->over[i]->vm, p->over[i]->seconds);
	report_csv_cell(f, names, 0);
	free(names);
	snprintf(n, sizeof(n), "%zu", p->open);
	report_csv_cell(f, n, 1);
}

void
report_period_csv_days(FILE *f, const struct report_period *p, const char *vcenter, int head)
{
	char d[16], n[32];

	if (head) {
		if (vcenter != NULL)
			report_csv_cell(f, "vcenter", 0);
		report_csv_cell(f, "date", 0);
		report_csv_cell(f, "vms", 0);
		for (int s = 0; s < VS_COUNT; s++)
			report_csv_cell(f, vm_state_name((enum vm_state)s), s == VS_COUNT - 1);
	}
	for (size_t i = 0; i < p->ndays; i++) {
		size_t total = 0;
		for (int s = 0; s < VS_COUNT; s++)
			total += p->days[i * VS_COUNT + (size_t)s];
		cell_vc(f, vcenter);
		date(p->day0 + (time_t)i * 86400, d, sizeof(d));
		report_csv_cell(f, d, 0);
		snprintf(n, sizeof(n), "%zu", total);
		report_csv_cell(f, n, 0);
		for (int s = 0; s < VS_COUNT; s++) {
			snprintf(n, sizeof(n), "%zu", p->days[i * VS_COUNT + (size_t)s]);
			report_csv_cell(f, n, s == VS_COUNT - 1);
		}
	}
}

void
report_period_csv_timeline(FILE *f, const struct report_period *p, const char *vcenter,
    int head)
{
	char at[32];

	if (head) {
		if (vcenter != NULL)
			report_csv_cell(f, "vcenter", 0);
		fputs("\"moref\",\"name\",\"at\",\"state\",\"code\",\"reason\"\r\n", f);
	}
	for (size_t i = 0; p->hist && i < p->hist->n; i++) {
		const struct hist_vm *v = &p->hist->vms[i];
		for (size_t k = 0; k < v->n; k++) {
			const struct hist_change *c = &v->ch[k];
			if (!in_period(p, c->at))
				continue;
			cell_vc(f, vcenter);
			report_csv_cell(f, v->vm, 0);
			report_csv_cell(f, v->name, 0);
			iso(c->at, at, sizeof(at));
			report_csv_cell(f, at, 0);
			report_csv_cell(f, vm_state_name((enum vm_state)c->state), 0);
			report_csv_cell(f, c->code, 0);
			report_csv_cell(f, c->reason, 1);
		}
	}
}

/* ---------------------------------------------------------------- */
/* html                                                              */

/* The step between y ticks: 1, 2 or 5 times a power of ten, for at most
 * six ticks up to max. */
static size_t
tick_step(size_t max)
{
	size_t step = 1;
	for (;;) {
		for (int m = 1; m <= 5; m += m == 1 ? 1 : 3)	/* 1, 2, 5 */
			if (max / (step * (size_t)m) <= 5)
				return step * (size_t)m;
		step *= 10;
	}
}

void
report_html_days(FILE *f, const struct report_period *p)
{
	const int pw = 760, ph = 260, left = 56, top = 16, bottom = 56, legend = 190;
	const int w = left + pw + 20 + legend, h = top + ph + bottom;
	size_t max = 1, step, every;
	char d[16];
	int used[VS_COUNT] = { 0 };

	for (size_t i = 0; i < p->ndays; i++) {
		size_t total = 0;
		for (int s = 0; s < VS_COUNT; s++) {
			total += p->days[i * VS_COUNT + (size_t)s];
			used[s] |= p->days[i * VS_COUNT + (size_t)s] > 0;
		}
		if (total > max)
			max = total;
	}
	step = tick_step(max);
	max = (max + step - 1) / step * step;
	fprintf(f, "<svg id=\"days\" role=\"img\" aria-label=\"VMs by state, per day\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\">\n", w, h, w, h);
	/* y axis: ticks, grid lines, its title */
	for (size_t v = 0; v <= max; v += step) {
		int y = top + ph - (int)((double)v / (double)max * ph);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#e3e8eb\"/>"
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"num\">%zu</text>\n",
		    left, y, left + pw, y, left - 6, y + 4, v);
	}
	fprintf(f, "<text x=\"14\" y=\"%d\" class=\"lbl\" transform=\"rotate(-90 14 %d)\" "
	    "text-anchor=\"middle\">VMs</text>\n", top + ph / 2, top + ph / 2);
	/* the bars, compliant at the bottom */
	double slot = (double)pw / (double)(p->ndays ? p->ndays : 1);
	double bw = slot * 0.8 < 1 ? 1 : slot * 0.8;
	every = p->ndays / 10 + 1;
	for (size_t i = 0; i < p->ndays; i++) {
		double x = left + slot * (double)i + (slot - bw) / 2, y = top + ph;
		date(p->day0 + (time_t)i * 86400, d, sizeof(d));
		for (int s = 0; s < VS_COUNT; s++) {
			size_t c = p->days[i * VS_COUNT + (size_t)s];
			if (c == 0)
				continue;
			double bh = (double)c / (double)max * ph;
			y -= bh;
			fprintf(f, "<rect class=\"day\" data-date=\"%s\" data-state=\"%s\" "
			    "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			    "<title>%s: %zu %s</title></rect>\n", d,
			    vm_state_name((enum vm_state)s), x, y, bw, bh, report_state_color(s), d,
			    c, vm_state_name((enum vm_state)s));
		}
		if (i % every == 0)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
			    "class=\"num\">%s</text>\n", x + bw / 2, top + ph + 18, d + 5);
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1d2a33\"/>"
	    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1d2a33\"/>\n",
	    left, top, left, top + ph, left, top + ph, left + pw, top + ph);
	if (p->ndays > 0) {
		char d1[16];
		date(p->day0, d, sizeof(d));
		date(p->day0 + (time_t)(p->ndays - 1) * 86400, d1, sizeof(d1));
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"lbl\">day "
		    "(UTC), %s to %s: the VMs in each state at the day's end</text>\n",
		    left + pw / 2, top + ph + 44, d, d1);
	}
	/* the legend: the states that appear */
	int ly = top + 4;
	for (int s = 0; s < VS_COUNT; s++) {
		if (!used[s])
			continue;
		fprintf(f, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
		    "fill=\"%s\"/><text x=\"%d\" y=\"%d\" class=\"lbl\">%s</text>\n",
		    left + pw + 20, ly, report_state_color(s), left + pw + 40, ly + 12,
		    vm_state_name((enum vm_state)s));
		ly += 22;
	}
	fputs("</svg>\n", f);
}

static void
html_time(FILE *f, double t)
{
	char s[32];
	iso(t, s, sizeof(s));
	if (s[10] == 'T')
		s[10] = ' ';
	report_esc(f, s);
}

static void
html_timelines(FILE *f, const struct report_period *p)
{
	size_t shown = 0;

	fputs("<h2>Each VM's states</h2>\n<table id=\"timelines\"><thead><tr><th>VM</th>"
	    "<th>changes (UTC)</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; p->hist && i < p->hist->n && shown < MAX_HTML_TIMELINES; i++) {
		const struct hist_vm *v = &p->hist->vms[i];
		size_t k = 0, any = 0;
		for (; k < v->n; k++)
			any += in_period(p, v->ch[k].at);
		if (any == 0)
			continue;
		shown++;
		fputs("<tr><td>", f);
		report_esc(f, v->name);
		fputs("<br><small>", f);
		report_esc(f, v->vm);
		fputs("</small></td><td>", f);
		for (k = 0; k < v->n; k++) {
			if (!in_period(p, v->ch[k].at))
				continue;
			html_time(f, v->ch[k].at);
			fprintf(f, " <b style=\"color:%s\">", report_state_color(v->ch[k].state));
			report_esc(f, vm_state_name((enum vm_state)v->ch[k].state));
			fputs("</b>", f);
			if (v->ch[k].reason) {
				fputs(" (", f);
				report_esc(f, v->ch[k].reason);
				fputs(")", f);
			}
			fputs("<br>", f);
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	if (p->hist && shown == MAX_HTML_TIMELINES)
		fprintf(f, "<p>The first %d VMs; the JSON and CSV reports list every one.</p>\n",
		    MAX_HTML_TIMELINES);
}

void
report_period_html(FILE *f, const struct report_period *p, const char *vcenter)
{
	fputs("<h2>Exposure", f);
	if (vcenter != NULL) {
		fputs(": ", f);
		report_esc(f, vcenter);
	}
	fputs("</h2>\n", f);
	if (p->exp == NULL) {
		fputs("<p class=\"meta\">No evidence log: no exposure window measured.</p>\n", f);
		return;
	}
	fputs("<div class=\"cards\" id=\"exposure\">", f);
	fprintf(f, "<div class=\"card\"><b>%zu</b>windows closed</div>", p->stats.count);
	if (p->stats.count > 0)
		fprintf(f, "<div class=\"card\"><b>%.1f s</b>p50</div>"
		    "<div class=\"card\"><b>%.1f s</b>p99</div>"
		    "<div class=\"card\"><b>%.1f s</b>max</div>", p->stats.p50, p->stats.p99,
		    p->stats.max);
	fprintf(f, "<div class=\"card\" id=\"over-slo\"><b>%zu</b>over the %d s SLO</div>"
	    "<div class=\"card\"><b>%zu</b>still exposed</div></div>\n", p->nover, p->slo,
	    p->open);
	if (p->nover > 0) {
		fputs("<table id=\"over\"><thead><tr><th>VM over the SLO</th><th>exposed (s)</th>"
		    "<th>compliant at (UTC)</th></tr></thead><tbody>\n", f);
		for (size_t i = 0; i < p->nover; i++) {
			fputs("<tr><td>", f);
			report_esc(f, p->over[i]->name);
			fputs(" <small>", f);
			report_esc(f, p->over[i]->vm);
			fprintf(f, "</small></td><td>%.3f</td><td>", p->over[i]->seconds);
			html_time(f, p->over[i]->compliant);
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
	if (!p->history)
		return;
	fputs("<h2>Compliance per day</h2>\n", f);
	report_html_days(f, p);
	html_timelines(f, p);
}
