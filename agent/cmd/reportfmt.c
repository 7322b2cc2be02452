/*
 * The report's smallest pieces, shared by every format: a CSV cell, HTML
 * escaping, each state's colour and label in every chart, a window as
 * text.  Uses nothing of the report's other files.
 */
#include "exposure.h"
#include "policy.h"
#include "report.h"

#include <stdio.h>
#include <string.h>

/* In the order the charts stack and list them. */
const struct report_state report_states[] = {
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
	{ VS_KEY_MISSING, "key missing", "#ad1457" },
	{ VS_VTPM_ONLY, "vTPM only (disks plain)", "#ff8f00" },
	{ VS_REKEY_DUE, "rekey due (key past its cryptoperiod)", "#6a1b9a" },
};
const size_t report_nstates = sizeof(report_states) / sizeof(report_states[0]);

const char *
report_state_color(int state)
{
	for (size_t i = 0; i < report_nstates; i++)
		if ((int)report_states[i].s == state)
			return report_states[i].color;
	return "#9e9e9e";
}

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

void
report_exposure_text(const struct exposure *e, char *out, size_t len)
{
	if (e != NULL && e->kind == EXP_MEASURED)
		snprintf(out, len, "%.3f", e->seconds);
	else if (len > 0)
		out[0] = '\0';
}

