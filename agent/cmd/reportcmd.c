/*
 * `vmcrypt-agent report`: one vCenter's report, or with several --config,
 * the fleet's: one file with a row per vCenter (its summary, or why it
 * could not be read) and a row per VM naming its vCenter.  Every
 * configuration is loaded before any vCenter is contacted; a vCenter that
 * cannot be read is in the report as such, and the exit status says so.
 */
#include "cli.h"
#include "config.h"
#include "enforce.h"
#include "inventory.h"
#include "opts.h"
#include "report.h"
#include "vim.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONFIGS	64

struct report_opts {
	const char	*configs[MAX_CONFIGS];
	size_t		 nconfigs;
	const char	*format, *output;
	int		 days;
};

/* One vCenter of the report. */
struct site {
	const char	*path;
	struct config	*cfg;
	struct inventory inv;
	struct report	 rep;
	int		 read;		/* inv and rep are filled */
	int		 rc;		/* EXIT_OK, or why it could not be read */
	char		 err[1024];
};

/* EXIT_OK to go on, an exit code, or OPTS_HELP (--help said). */
static int
report_args(int argc, char **argv, struct report_opts *o)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_LIST, "FILE", o->configs, &o->nconfigs, .max = MAX_CONFIGS,
		  .help = OPTS_HELP_CONFIG "\n(once for each vCenter: one fleet report)" },
		{ "format", 'f', OPT_STRING, "FORMAT", &o->format,
		  .help = "json, csv or html (the default)" },
		{ "output", 'o', OPT_STRING, "FILE", &o->output,
		  .help = "write the report there (default: stdout)" },
		{ "since", 0, OPT_INT, "DAYS", &o->days, .min = 1, .max = 3650, .unit = "days",
		  .help = "the agent's actions of the last DAYS (30)" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent report [--config FILE]... [--format json|csv|html]\n"
		    "                            [--output FILE] [--since DAYS]\n",
		.about =
		    "Every VM with its state (compliant, pending, deferred, blocked,\n"
		    "hw-too-old, excluded, template, inaccessible, wrong-provider,\n"
		    "vsan-encrypted), the reason, and the agent's last action on it, read from\n"
		    "vCenter's event history (the \"vmcrypt-agent: ...\" events of the last\n"
		    "DAYS, default 30).  html (the default) is one self-contained file,\n"
		    "readable offline: a summary chart and a table sortable by any column.\n"
		    "Changes nothing.\n\n"
		    "With --config given more than once (one per vCenter), one fleet report:\n"
		    "a row per vCenter with its summary, and a row per VM naming its vCenter.\n"
		    "A vCenter that cannot be read is reported as such, the others still are.\n",
		.tail =
		    "exit status: 0 written; 2 usage; 3 bad configuration; 4 vCenter\n"
		    "unreachable; 5 login failed; 1 anything else (e.g. cannot write).  In a\n"
		    "fleet report, the status of the first vCenter that could not be read.\n",
		.opts = opts,
	};
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	if (strcmp(o->format, "json") != 0 && strcmp(o->format, "csv") != 0 &&
	    strcmp(o->format, "html") != 0) {
		fprintf(stderr, "vmcrypt-agent: --format %s: json, csv or html\n", o->format);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------- */
/* gathering                                                         */

/* Reads every VM and the audit events of one vCenter into st. */
static void
site_read(struct site *st, const struct report_opts *o, const char *generated)
{
	struct vsession *s = NULL;
	struct enforcer *e;
	unsigned *acts = NULL;
	char err[1024];
	int vr;

	if ((st->rc = cli_open_session(st->cfg, &s)) != EXIT_OK) {
		snprintf(st->err, sizeof(st->err), "cannot log in to %s (exit %d; the reason "
		    "is on stderr)", st->cfg->vc_url, st->rc);
		return;
	}
	struct vconn *c = vconn_new(s);
	vconn_set_timeout(c, st->cfg->timeout);
	e = enforcer_new();
	if ((vr = enforcer_configure(e, st->cfg, c, st->err, sizeof(st->err))) != 0) {
		st->rc = EXIT_FAIL;
		goto out;
	}
	vr = enforce_scan(e, st->cfg, c, 500, 0, &st->inv, &acts);
	free(acts);
	if (vr != 0) {
		snprintf(st->err, sizeof(st->err), "report: %s", vconn_error(c));
		st->rc = vim_exit_code(vr);
		goto out;
	}
	report_init(&st->rep, &st->inv, generated);
	st->rep.url = st->cfg->vc_url;
	st->read = 1;
	if (report_read_audit(c, &st->rep, o->days, err, sizeof(err)) != 0)
		fprintf(stderr, "vmcrypt-agent: warning: %s: %s; the last actions are left "
		    "empty\n", st->cfg->vc_url, err);
out:
	enforcer_free(e);
	vconn_free(c);
	vsession_close(s);
	vsession_free(s);
}

/* ---------------------------------------------------------------- */
/* the fleet's formats                                               */

static void
totals(const struct site *sites, size_t n, size_t *counts, size_t *nvms, size_t *in_scope)
{
	memset(counts, 0, VS_COUNT * sizeof(*counts));
	*nvms = *in_scope = 0;
	for (size_t i = 0; i < n; i++) {
		if (!sites[i].read)
			continue;
		for (int s = 0; s < VS_COUNT; s++)
			counts[s] += sites[i].rep.counts[s];
		*nvms += sites[i].rep.nvms;
		*in_scope += sites[i].rep.in_scope;
	}
}

static json_object *
json_counts(const size_t *counts)
{
	json_object *sum = json_object_new_object();
	for (int s = 0; s < VS_COUNT; s++)
		json_object_object_add(sum, vm_state_name((enum vm_state)s),
		    json_object_new_int64((int64_t)counts[s]));
	return sum;
}

static int
fleet_json(const struct site *sites, size_t n, const char *generated, FILE *f)
{
	json_object *o = json_object_new_object(), *vcs = json_object_new_array();
	json_object *vms = json_object_new_array();
	size_t counts[VS_COUNT], nvms, in_scope;

	totals(sites, n, counts, &nvms, &in_scope);
	json_object_object_add(o, "generated", json_object_new_string(generated));
	for (size_t i = 0; i < n; i++) {
		const struct site *st = &sites[i];
		json_object *x = json_object_new_object();
		json_object_object_add(x, "vcenter", json_object_new_string(st->cfg->vc_url));
		json_object_object_add(x, "config", json_object_new_string(st->path));
		if (st->read) {
			json_object_object_add(x, "vcenter_version", st->inv.vcenter ?
			    json_object_new_string(st->inv.vcenter) : NULL);
			json_object_object_add(x, "vms", json_object_new_int64((int64_t)st->rep.nvms));
			json_object_object_add(x, "summary", json_counts(st->rep.counts));
			json_object_object_add(x, "in_scope",
			    json_object_new_int64((int64_t)st->rep.in_scope));
			json_object_object_add(x, "compliant_in_scope",
			    json_object_new_int64((int64_t)st->rep.counts[VS_COMPLIANT]));
			for (size_t k = 0; k < st->rep.nvms; k++)
				json_object_array_add(vms, report_json_vm(&st->rep.vms[k],
				    st->cfg->vc_url));
		}
		json_object_object_add(x, "error", st->read ? NULL :
		    json_object_new_string(st->err));
		json_object_array_add(vcs, x);
	}
	json_object_object_add(o, "vcenters", vcs);
	json_object_object_add(o, "summary", json_counts(counts));
	json_object_object_add(o, "in_scope", json_object_new_int64((int64_t)in_scope));
	json_object_object_add(o, "compliant_in_scope",
	    json_object_new_int64((int64_t)counts[VS_COMPLIANT]));
	json_object_object_add(o, "vms", vms);
	int rc = fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -1 : 0;
	json_object_put(o);
	return rc;
}

/* A vCenter that could not be read is one row: state "error", the reason. */
static int
fleet_csv(const struct site *sites, size_t n, FILE *f)
{
	report_csv_head(f, 1);
	for (size_t i = 0; i < n; i++) {
		const struct site *st = &sites[i];
		if (!st->read) {
			report_csv_cell(f, st->cfg->vc_url, 0);
			for (int c = 0; c < 3; c++)		/* name, moref, folder */
				report_csv_cell(f, "", 0);
			report_csv_cell(f, "error", 0);
			report_csv_cell(f, st->err, 0);
			for (int c = 0; c < 7; c++)	/* hw_version .. last_action_time */
				report_csv_cell(f, "", c == 6);
			continue;
		}
		for (size_t k = 0; k < st->rep.nvms; k++)
			report_csv_vm(f, &st->rep.vms[k], st->cfg->vc_url);
	}
	return ferror(f) ? -1 : 0;
}

static void
html_sites(const struct site *sites, size_t n, FILE *f)
{
	fputs("<table id=\"vcenters\"><thead><tr><th>vCenter</th><th>version</th><th>VMs</th>"
	    "<th>in scope</th><th>compliant</th><th>compliant in scope</th></tr></thead>"
	    "<tbody>\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct site *st = &sites[i];
		fputs("<tr><td>", f);
		report_esc(f, st->cfg->vc_url);
		fputs("</td>", f);
		if (!st->read) {
			fputs("<td colspan=\"5\" class=\"error\">not read: ", f);
			report_esc(f, st->err);
			fputs("</td></tr>\n", f);
			continue;
		}
		fputs("<td>", f);
		report_esc(f, st->inv.vcenter ? st->inv.vcenter : "?");
		fprintf(f, "</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%.1f%%</td></tr>\n",
		    st->rep.nvms, st->rep.in_scope, st->rep.counts[VS_COMPLIANT],
		    st->rep.in_scope ? 100.0 * (double)st->rep.counts[VS_COMPLIANT] /
		    (double)st->rep.in_scope : 100.0);
	}
	fputs("</tbody></table>\n", f);
}

static int
fleet_html(const struct site *sites, size_t n, const char *generated, FILE *f)
{
	size_t counts[VS_COUNT], nvms, in_scope, unread = 0;

	totals(sites, n, counts, &nvms, &in_scope);
	for (size_t i = 0; i < n; i++)
		unread += !sites[i].read;
	report_html_head(f);
	fprintf(f, "<h1>VM encryption compliance report: %zu vCenters</h1>\n"
	    "<div class=\"meta\">generated ", n);
	report_esc(f, generated);
	fputs(" by vmcrypt-agent " VMCRYPT_VERSION "</div>\n<div class=\"cards\">", f);
	fprintf(f, "<div class=\"card\" id=\"pct\"><b>%.1f%%</b>in-scope VMs compliant</div>"
	    "<div class=\"card\"><b>%zu</b>VMs in total</div>"
	    "<div class=\"card\"><b>%zu</b>in scope</div>"
	    "<div class=\"card\"><b>%zu</b>compliant</div>"
	    "<div class=\"card\" id=\"unread\"><b>%zu</b>vCenters not read</div></div>\n",
	    in_scope ? 100.0 * (double)counts[VS_COMPLIANT] / (double)in_scope : 100.0,
	    nvms, in_scope, counts[VS_COMPLIANT], unread);
	html_sites(sites, n, f);
	report_html_chart(f, counts);
	report_html_table_head(f, 1);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; sites[i].read && k < sites[i].rep.nvms; k++)
			report_html_vm(f, &sites[i].rep.vms[k], sites[i].cfg->vc_url);
	return report_html_tail(f);
}

/* ---------------------------------------------------------------- */

/* The report in its format, to --output or stdout: EXIT_OK or EXIT_FAIL. */
static int
report_write(const struct site *sites, size_t n, const struct report_opts *o,
    const char *generated)
{
	FILE *f = stdout;
	int w;

	if (o->output != NULL && (f = fopen(o->output, "w")) == NULL) {
		fprintf(stderr, "vmcrypt-agent: cannot write %s: %m\n", o->output);
		return EXIT_FAIL;
	}
	if (n == 1)
		w = strcmp(o->format, "json") == 0 ? report_json(&sites[0].rep, f) :
		    strcmp(o->format, "csv") == 0 ? report_csv(&sites[0].rep, f) :
		    report_html(&sites[0].rep, f);
	else
		w = strcmp(o->format, "json") == 0 ? fleet_json(sites, n, generated, f) :
		    strcmp(o->format, "csv") == 0 ? fleet_csv(sites, n, f) :
		    fleet_html(sites, n, generated, f);
	if (f != stdout && fclose(f) != 0)
		w = -1;
	if (w != 0) {
		fprintf(stderr, "vmcrypt-agent: writing the report failed\n");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void
now_utc(char *gen, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(gen, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
cmd_report(int argc, char **argv)
{
	struct report_opts o = { .format = "html", .days = 30 };
	struct site *sites;
	char gen[64];
	int rc;

	if ((rc = report_args(argc, argv, &o)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if (o.nconfigs == 0)
		o.configs[o.nconfigs++] = NULL;		/* the default file */
	sites = xcalloc(o.nconfigs, sizeof(*sites));
	/* Every configuration first: a bad one stops the run before any
	 * vCenter is asked anything. */
	for (size_t i = 0; i < o.nconfigs && rc == EXIT_OK; i++) {
		sites[i].path = o.configs[i] ? o.configs[i] : "(default)";
		rc = cli_load_config(o.configs[i], &sites[i].cfg);
	}
	/* VMCRYPT_VC_PASSWORD is read once (then wiped): one vCenter at most. */
	size_t nopw = 0;
	for (size_t i = 0; i < o.nconfigs && rc == EXIT_OK; i++)
		nopw += sites[i].cfg->password_file == NULL;
	if (rc == EXIT_OK && nopw > 1) {
		fprintf(stderr, "vmcrypt-agent: %zu of these configurations have no "
		    "password-file; the VMCRYPT_VC_PASSWORD variable serves one vCenter only: "
		    "give each vCenter's configuration its password-file\n", nopw);
		rc = EXIT_CONFIG;
	}
	now_utc(gen, sizeof(gen));
	int first = EXIT_OK;
	for (size_t i = 0; i < o.nconfigs && rc == EXIT_OK; i++) {
		site_read(&sites[i], &o, gen);
		if (sites[i].rc != EXIT_OK && first == EXIT_OK)
			first = sites[i].rc;
		if (!sites[i].read && sites[i].rc != EXIT_OK && sites[i].err[0] &&
		    strstr(sites[i].err, "on stderr") == NULL)
			fprintf(stderr, "vmcrypt-agent: %s: %s\n", sites[i].cfg->vc_url,
			    sites[i].err);
	}
	/* One vCenter: nothing written if it could not be read (as before). */
	if (rc == EXIT_OK && (o.nconfigs > 1 || sites[0].read))
		rc = report_write(sites, o.nconfigs, &o, gen);
	if (rc == EXIT_OK)
		rc = first;
	for (size_t i = 0; i < o.nconfigs; i++) {
		if (sites[i].read) {
			report_free(&sites[i].rep);
			inventory_free(&sites[i].inv);
		}
		config_free(sites[i].cfg);
	}
	free(sites);
	return rc;
}
