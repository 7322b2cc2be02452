/*
 * `vmcrypt-agent report`: one vCenter's report, or with several --config,
 * the fleet's: one file with a row per vCenter (its summary, or why it
 * could not be read) and a row per VM naming its vCenter.  Every
 * configuration is loaded before any vCenter is contacted; a vCenter that
 * cannot be read is in the report as such, its reason in its row, and the
 * exit status says so.
 *
 * The evidence logs (each vCenter's STATE-DIR/evidence, or those named
 * with --evidence) are verified before any vCenter is contacted: a broken
 * one stops the report, naming its file and line, with nothing written.
 * Each row gets its VM's exposure window from them, the report the
 * period's summary and, with --since/--until, the history.
 *
 * The report is rendered in memory and written whole (reportout.c:
 * with --sign, its signature beside it).
 */
#include "cli.h"
#include "config.h"
#include "enforce.h"
#include "inventory.h"
#include "keyage.h"
#include "kmsinfo.h"
#include "opts.h"
#include "report.h"
#include "reportcmd.h"
#include "reportevid.h"
#include "sign.h"
#include "vim.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DAYS	3650

/*
 * --since DAYS|DATE, --until DATE: unix time.  DAYS: that many days
 * before now.  DATE: YYYY-MM-DD (UTC; --until takes the whole day) or an
 * xsd:dateTime.  0, or -1 (said on stderr).
 */
static int
parse_when(const char *opt, const char *arg, int end_of_day, double *out)
{
	char *endp;
	long days = strtol(arg, &endp, 10);
	int y, m, d, n = 0;

	if (!end_of_day && endp != arg && *endp == '\0') {
		if (days < 1 || days > MAX_DAYS) {
			fprintf(stderr, "vmcrypt-agent: --%s %s: from 1 to %d days\n", opt, arg,
			    MAX_DAYS);
			return -1;
		}
		*out = (double)(time(NULL) - (time_t)days * 86400);
		return 0;
	}
	if (sscanf(arg, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && arg[n] == '\0' &&
	    m >= 1 && m <= 12 && d >= 1 && d <= 31) {
		char t[40];
		snprintf(t, sizeof(t), "%04d-%02d-%02dT00:00:00Z", y, m, d);
		time_t v = kms_parse_time(t);
		if (v != (time_t)-1) {
			*out = (double)v + (end_of_day ? 86399.999 : 0);
			return 0;
		}
	} else if (exposure_time(arg) > 0) {
		*out = exposure_time(arg);
		return 0;
	}
	fprintf(stderr, "vmcrypt-agent: --%s %s: %sa date (YYYY-MM-DD, UTC) or a time "
	    "(2026-12-07T18:00:00Z)\n", opt, arg, end_of_day ? "" : "a number of days, ");
	return -1;
}

/* EXIT_OK to go on, an exit code, or OPTS_HELP (--help said). */
static int
report_args(int argc, char **argv, struct report_opts *o)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_LIST, "FILE", o->configs, &o->nconfigs, .max = MAX_CONFIGS,
		  .help = OPTS_HELP_CONFIG "\n(once for each vCenter: one fleet report)" },
		{ "format", 'f', OPT_STRING, "FORMAT", &o->format,
		  .help = "json, csv, html (the default) or oscal" },
		{ "output", 'o', OPT_STRING, "FILE", &o->output,
		  .help = "write the report there (default: stdout)" },
		{ "evidence", 'e', OPT_LIST, "DIR", o->evidence, &o->nevidence,
		  .max = MAX_EVIDENCE,
		  .help = "an evidence log's directory (default: each\n"
		    "configuration's STATE-DIR/evidence); may be repeated:\n"
		    "the logs of several agents (an HA pair's) merged" },
		{ "since", 0, OPT_STRING, "DAYS|DATE", &o->since_arg,
		  .help = "the period: from DAYS days ago, or from DATE\n"
		    "(YYYY-MM-DD, UTC); adds the history: each VM's\n"
		    "states, compliance per day" },
		{ "until", 0, OPT_STRING, "DATE", &o->until_arg,
		  .help = "the period's end, DATE included (default: now); adds\n"
		    "the history" },
		{ "sign", 0, OPT_STRING, "KEYFILE", &o->sign,
		  .help = "sign the report with this Ed25519 private key\n"
		    "(PEM, mode 0600): OUTPUT.sig; needs --output" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent report [--config FILE]... [--evidence DIR]...\n"
		    "                            [--format json|csv|html|oscal] [--output FILE]\n"
		    "                            [--since DAYS|DATE] [--until DATE] "
		    "[--sign KEYFILE]\n",
		.about =
		    "Every VM with its state (compliant, pending, deferred, blocked,\n"
		    "hw-too-old, excluded, template, inaccessible, wrong-provider,\n"
		    "vsan-encrypted, key-missing, vtpm-only), the reason, the agent's last\n"
		    "action on it (read from vCenter's event history, the \"vmcrypt-agent:\n"
		    "...\" events of the period, 30 days by default), its exposure window\n"
		    "and the controls it evidences (VCF Security Configuration Guide 9.0,\n"
		    "PCI DSS v4.0.1).\n"
		    "Changes nothing.\n\n"
		    "From the evidence log (which outlives vCenter's events): each VM's\n"
		    "exposure (seconds from its creation to the completion of the\n"
		    "reconfigure that made it compliant: exposure, exposure_seconds), and\n"
		    "for the period the windows' count, p50, p99 and max and the VMs over\n"
		    "<evidence exposure-slo-seconds>.  With --since or --until, the\n"
		    "history: each VM's timeline of states and the VMs per state at the end\n"
		    "of each day (in html, a chart).  Every log is verified first: a broken\n"
		    "one is named (file:line) and nothing is written.\n\n"
		    "html (the default) is one self-contained file, readable offline.  csv\n"
		    "is the VM rows; with --output FILE.csv, beside it FILE.summary.csv\n"
		    "and, with the history, FILE.days.csv and FILE.timeline.csv.  oscal is\n"
		    "an OSCAL 1.1.2 assessment-results document (JSON): one observation per\n"
		    "VM, one finding per control.\n\n"
		    "--sign KEYFILE writes OUTPUT.sig: JSON with the algorithm (Ed25519),\n"
		    "the key id (SHA-256 of the raw public key), the signature of the\n"
		    "report's bytes (base64), and the evidence chain heads (seq, hash) the\n"
		    "report covers.  `vmcrypt-agent evidence verify --pubkey FILE\n"
		    "--signature OUTPUT.sig --report OUTPUT` checks both.\n\n"
		    "With --config given more than once (one per vCenter), one fleet report:\n"
		    "a row per vCenter with its summary, and a row per VM naming its vCenter.\n"
		    "A vCenter that cannot be read is reported as such, the reason in its\n"
		    "row; the others still are.\n",
		.tail =
		    "exit status: 0 written; 2 usage; 3 bad configuration or --sign key; 4 vCenter\n"
		    "unreachable; 5 login failed; 1 anything else (a broken evidence log,\n"
		    "cannot write).  In a fleet report, the status of the first vCenter that\n"
		    "could not be read.\n",
		.opts = opts,
	};
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	if (strcmp(o->format, "json") != 0 && strcmp(o->format, "csv") != 0 &&
	    strcmp(o->format, "html") != 0 && strcmp(o->format, "oscal") != 0) {
		fprintf(stderr, "vmcrypt-agent: --format %s: json, csv, html or oscal\n",
		    o->format);
		return EXIT_USAGE;
	}
	if (o->sign != NULL && o->output == NULL) {
		fprintf(stderr, "vmcrypt-agent: --sign needs --output FILE: the signature is "
		    "written beside it, to FILE.sig\n");
		return EXIT_USAGE;
	}
	if ((o->since_arg && parse_when("since", o->since_arg, 0, &o->since) != 0) ||
	    (o->until_arg && parse_when("until", o->until_arg, 1, &o->until) != 0))
		return EXIT_USAGE;
	if (o->since && o->until && o->until < o->since) {
		fprintf(stderr, "vmcrypt-agent: --until %s is before --since %s\n", o->until_arg,
		    o->since_arg);
		return EXIT_USAGE;
	}
	if (o->since > 0) {	/* vCenter's events of the period, for the last actions */
		double d = ((double)time(NULL) - o->since) / 86400 + 1;
		o->days = d < 1 ? 1 : d > MAX_DAYS ? MAX_DAYS : (int)d;
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

	if ((st->rc = cli_open_session_err(st->cfg, &s, st->err, sizeof(st->err))) != EXIT_OK)
		return;
	const char *uuid = vsession_about(s, "instanceUuid");
	snprintf(st->uuid, sizeof(st->uuid), "%s", uuid ? uuid : "");
	struct vconn *c = vconn_new(s);
	vconn_set_timeout(c, st->cfg->timeout);
	e = enforcer_new();
	cli_key_ages(e, st->cfg);
	if ((vr = enforcer_configure(e, st->cfg, c, st->err, sizeof(st->err))) != 0) {
		st->rc = EXIT_FAIL;
		goto out;
	}
	vr = enforce_scan(e, st->cfg, c, 500, SCAN_KEY_EVENTS, &st->inv, &acts);
	free(acts);
	if (vr != 0) {
		snprintf(st->err, sizeof(st->err), "report: %s", vconn_error(c));
		st->rc = vim_exit_code(vr);
		goto out;
	}
	report_init(&st->rep, &st->inv, generated);
	st->rep.url = st->cfg->vc_url;
	st->rep.rekeys_done = (long)keybook_rekeys_done(enforcer_keybook(e));
	st->read = 1;
	if (report_read_audit(c, &st->rep, o->days, err, sizeof(err)) != 0)
		fprintf(stderr, "vmcrypt-agent: warning: %s: %s; the last actions are left "
		    "empty\n", st->cfg->vc_url, err);
	if (report_read_facts(c, &st->rep, err, sizeof(err)) != 0)
		fprintf(stderr, "vmcrypt-agent: warning: %s: %s; the controls that need it "
		    "are not satisfied\n", st->cfg->vc_url, err);
out:
	enforcer_free(e);
	vconn_free(c);
	vsession_close(s);
	vsession_free(s);
}

/*
 * The evidence logs, verified before any vCenter is contacted: those
 * named (one set, shared by every vCenter: each takes the logs of its
 * own), or each vCenter's own STATE-DIR/evidence (none yet is no error).
 * EXIT_OK, or EXIT_FAIL said.
 */
static int
evidence_load(struct site *sites, size_t n, const struct report_opts *o, struct evset *shared)
{
	char err[8192], dir[4200];

	if (o->nevidence > 0) {
		if (evset_load(shared, o->evidence, o->nevidence, 0, err, sizeof(err)) != 0)
			goto bad;
		for (size_t i = 0; i < n; i++)
			sites[i].ev = shared;
		return EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		const char *d = dir;
		snprintf(dir, sizeof(dir), "%s/evidence", sites[i].cfg->state_dir);
		sites[i].ev = xcalloc(1, sizeof(*sites[i].ev));
		sites[i].own_ev = 1;
		if (evset_load(sites[i].ev, &d, 1, 1, err, sizeof(err)) != 0)
			goto bad;
	}
	return EXIT_OK;
bad:
	fprintf(stderr, "vmcrypt-agent: %s; nothing written (`vmcrypt-agent evidence "
	    "verify` says more)\n", err);
	return EXIT_FAIL;
}

/* Every log is of a vCenter of this report: each configuration's own log
 * of its vCenter, a named one of any.  Only vCenters read are known. */
static int
evidence_match(const struct site *sites, size_t n, const struct evset *shared)
{
	for (size_t i = 0; i < n; i++) {
		const struct evset *set = sites[i].own_ev ? sites[i].ev : NULL;
		for (size_t k = 0; set && sites[i].uuid[0] && k < set->nlogs; k++) {
			const struct evlog *lg = &set->logs[k];
			if (lg->vcenter[0] == '\0' || strcmp(lg->vcenter, sites[i].uuid) == 0)
				continue;
			fprintf(stderr, "vmcrypt-agent: %s holds the evidence of vCenter %s (%s), "
			    "not of %s (%s, instanceUuid %s); nothing written\n", lg->dir,
			    lg->vcenter, lg->vc_url, sites[i].cfg->vc_url, sites[i].path,
			    sites[i].uuid);
			return EXIT_FAIL;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!sites[i].read || sites[i].uuid[0] == '\0')
			return EXIT_OK;		/* a log may be of the one not read */
	for (size_t k = 0; k < shared->nlogs; k++) {
		const struct evlog *lg = &shared->logs[k];
		size_t j;
		for (j = 0; j < n && strcmp(sites[j].uuid, lg->vcenter) != 0; j++)
			;
		if (j < n || lg->vcenter[0] == '\0')
			continue;
		fprintf(stderr, "vmcrypt-agent: %s holds the evidence of vCenter %s (%s), of "
		    "no vCenter of this report%s%s; nothing written\n", lg->dir, lg->vcenter,
		    lg->vc_url, n == 1 ? ": " : "", n == 1 ? sites[0].cfg->vc_url : "");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* Each row's window, the period: from the logs of the site's vCenter. */
static void
evidence_apply(struct site *st, const struct report_opts *o)
{
	const char *vc = st->uuid[0] ? st->uuid : NULL;
	int history = o->since_arg != NULL || o->until_arg != NULL;
	long long records = 0;

	for (size_t k = 0; st->ev && k < st->ev->nlogs; k++)
		if (vc == NULL || strcmp(st->ev->logs[k].vcenter, vc) == 0)
			records += st->ev->logs[k].records;
	st->rep.period.slo = st->cfg->exposure_slo;
	st->rep.period.since = o->since;
	st->rep.period.until = o->until;
	if (records == 0)
		return;		/* no log: no window, said as such */
	evset_view(st->ev, vc, &st->exp, &st->hist);
	report_set_evidence(&st->rep, &st->exp, &st->hist, st->cfg->exposure_slo, o->since,
	    o->until, history);
	evset_heads(st->ev, vc, st->heads, sizeof(st->heads));
	st->rep.evidence = st->heads[0] ? st->heads : NULL;
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
		json_object_object_add(x, "evidence", st->heads[0] ?
		    json_object_new_string(st->heads) : NULL);
		if (st->read)
			report_period_json(&st->rep.period, x);
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

/* A vCenter that could not be read is one row: state "error", the reason
 * itself in its reason cell. */
static int
fleet_csv(const struct site *sites, size_t n, const char *generated, FILE *f)
{
	report_csv_head(f, 1);
	for (size_t i = 0; i < n; i++) {
		const struct site *st = &sites[i];
		const char *ev = st->heads[0] ? st->heads : NULL;
		if (!st->read) {
			report_csv_unread(f, st->cfg->vc_url, st->err, generated, ev);
			continue;
		}
		for (size_t k = 0; k < st->rep.nvms; k++)
			report_csv_vm(f, &st->rep.vms[k], st->cfg->vc_url, generated, ev);
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
	report_html_table_end(f);
	for (size_t i = 0; i < n; i++)
		if (sites[i].read)
			report_period_html(f, &sites[i].rep.period, sites[i].cfg->vc_url);
	return report_html_tail(f);
}

/* ---------------------------------------------------------------- */

/* The report in its format, to f: 0 or -1. */
static int
render(const struct site *sites, size_t n, const struct report_opts *o,
    const char *generated, FILE *f)
{
	if (strcmp(o->format, "oscal") == 0) {
		struct report_site *rs = xcalloc(n, sizeof(*rs));
		for (size_t i = 0; i < n; i++) {
			rs[i].vcenter = sites[i].cfg->vc_url;
			rs[i].rep = sites[i].read ? &sites[i].rep : NULL;
			rs[i].error = sites[i].err;
			rs[i].evidence = sites[i].heads[0] ? sites[i].heads : NULL;
		}
		int w = report_oscal(rs, n, generated, n == 1 ? sites[0].rep.signing : NULL, f);
		free(rs);
		return w;
	}
	if (n == 1)
		return strcmp(o->format, "json") == 0 ? report_json(&sites[0].rep, f) :
		    strcmp(o->format, "csv") == 0 ? report_csv(&sites[0].rep, f) :
		    report_html(&sites[0].rep, f);
	return strcmp(o->format, "json") == 0 ? fleet_json(sites, n, generated, f) :
	    strcmp(o->format, "csv") == 0 ? fleet_csv(sites, n, generated, f) :
	    fleet_html(sites, n, generated, f);
}

static void
now_utc(char *gen, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(gen, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
site_free(struct site *st)
{
	if (st->read) {
		report_free(&st->rep);
		inventory_free(&st->inv);
	}
	exposures_free(&st->exp);
	history_free(&st->hist);
	if (st->own_ev) {
		evset_free(st->ev);
		free(st->ev);
	}
	config_free(st->cfg);
}

int
cmd_report(int argc, char **argv)
{
	struct report_opts o = { .format = "html", .days = 30 };
	struct report_signing signing = { .algorithm = "Ed25519" };
	struct sign_key *key = NULL;
	struct evset shared = { 0 };
	struct site *sites;
	char gen[64], err[1024], signame[4200];
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
	/* The key and the evidence, before anything is contacted. */
	if (rc == EXIT_OK && o.sign != NULL) {
		if ((key = sign_key_load(o.sign, err, sizeof(err))) == NULL) {
			fprintf(stderr, "vmcrypt-agent: --sign: %s\n", err);
			rc = EXIT_CONFIG;
		} else {
			const char *base = strrchr(o.output, '/');
			snprintf(signame, sizeof(signame), "%s.sig", base ? base + 1 : o.output);
			sign_key_id(key, signing.key_sha256);
			signing.sig_file = signame;
		}
	}
	if (rc == EXIT_OK)
		rc = evidence_load(sites, o.nconfigs, &o, &shared);
	now_utc(gen, sizeof(gen));
	int first = EXIT_OK;
	for (size_t i = 0; i < o.nconfigs && rc == EXIT_OK; i++) {
		site_read(&sites[i], &o, gen);
		if (sites[i].rc != EXIT_OK && first == EXIT_OK)
			first = sites[i].rc;
		if (!sites[i].read && sites[i].rc != EXIT_OK && sites[i].err[0])
			fprintf(stderr, "vmcrypt-agent: %s: %s\n", sites[i].cfg->vc_url,
			    sites[i].err);
	}
	if (rc == EXIT_OK)
		rc = evidence_match(sites, o.nconfigs, &shared);
	for (size_t i = 0; i < o.nconfigs && rc == EXIT_OK; i++) {
		if (!sites[i].read)
			continue;
		evidence_apply(&sites[i], &o);
		if (key != NULL)
			sites[i].rep.signing = &signing;
	}
	/* One vCenter: nothing written if it could not be read (as before). */
	if (rc == EXIT_OK && (o.nconfigs > 1 || sites[0].read))
		rc = report_emit(sites, o.nconfigs, &o, gen, key, render);
	if (rc == EXIT_OK)
		rc = first;
	for (size_t i = 0; i < o.nconfigs; i++)
		site_free(&sites[i]);
	free(sites);
	evset_free(&shared);
	sign_key_free(key);
	return rc;
}
