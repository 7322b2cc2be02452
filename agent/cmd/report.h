/* The compliance report: the model, what it reads from vCenter beside the
 * inventory (report.c), its formats (report.c: JSON, CSV; reporthtml.c:
 * HTML; oscal.c: OSCAL), the controls each row evidences (controls.h),
 * what the evidence log says of the period (reportperiod.c: exposure
 * summary, history); cmd_report (reportcmd.c) gathers, writes and signs
 * it. */
#ifndef VMCRYPT_REPORT_H
#define VMCRYPT_REPORT_H

#include <stdio.h>

#include "controls.h"
#include "exposure.h"
#include "inventory.h"
#include "period.h"
#include "policy.h"

struct report_vm {
	const struct vm_info	*vm;
	int			 state;		/* enum vm_state, -1 unknown */
	char			 action[512];	/* last "vmcrypt-agent: ..." event */
	char			 action_time[64];
	int			 ft;		/* fault tolerance configured: 1, 0, -1 not read */
	int			 vsan;		/* uses a vSAN datastore: 1, 0, -1 not read */
	const struct exposure	*exp;		/* from the evidence log; NULL: it says nothing */
};

/* What the evidence log says of the report's period (reportperiod.c). */
struct report_period {
	double			 since, until;	/* unix time; since 0: from the first record */
	int			 history;	/* --since or --until given: timelines, days */
	int			 slo;		/* exposure-slo-seconds */
	const struct exposures	*exp;		/* every VM the log knows, NULL: no log */
	const struct history	*hist;
	struct exp_stats	 stats;		/* windows closed in the period */
	const struct exposure	**over;		/* those over slo, longest first */
	size_t			 nover;
	size_t			 open;		/* VMs exposed now (window not closed) */
	time_t			 day0;		/* compliance per day */
	size_t			 ndays;
	size_t			*days;		/* [ndays][VS_COUNT] */
};

/* What a signed report records of its signature (reportcmd.c fills it). */
struct report_signing {
	const char	*algorithm;	/* "Ed25519" */
	char		 key_sha256[65];	/* hex SHA-256 of the raw public key */
	const char	*sig_file;	/* the signature's file name, beside the report */
};

struct report {
	const struct inventory	*inv;
	struct report_vm	*vms;
	struct report_vm	**byref;	/* vms sorted by moref */
	size_t			 nvms;
	size_t			 counts[VS_COUNT];
	size_t			 unknown;
	size_t			 in_scope;
	char			 generated[64];
	const char		*url;		/* the vCenter the report is of */
	const char		*evidence;	/* the evidence log's chain head "SEQ:HASH";
						 * NULL: no evidence yet */
	const struct report_signing *signing;	/* NULL: not signed */
	struct report_period	 period;
	long			 rekeys_done;	/* the evidence log's; -1 no log read */
};

/* One vCenter of a fleet (or a one-vCenter) report, as oscal.c sees it. */
struct report_site {
	const char		*vcenter;	/* its URL */
	const struct report	*rep;		/* NULL: it could not be read */
	const char		*error;		/* why, when rep is NULL */
	const char		*evidence;	/* as in struct report */
};

/* One control's result on one VM. */
struct report_ctl {
	const struct control	*c;
	enum ctl_result		 r;
	char			 why[128];
};

void	report_init(struct report *, const struct inventory *, const char *generated);
/* Each row's window from x (which must outlive r), and the period's
 * summary and history from x and h; since/until 0: unbounded. */
void	report_set_evidence(struct report *, const struct exposures *x,
	    const struct history *h, int slo, double since, double until, int history);
void	report_note_action(struct report *, const char *moref, const char *msg,
	    const char *time);
void	report_free(struct report *);
int	report_json(const struct report *, FILE *);
int	report_csv(const struct report *, FILE *);
int	report_html(const struct report *, FILE *);

/* The controls v's row lists (those CTL_UNLISTED left out), in the
 * table's order, into out (room for CONTROLS_MAX); returns how many. */
size_t	report_vm_controls(const struct report_vm *v, struct report_ctl *out);

/* Reading vCenter (0, or a V_ERR_* with err). */
struct json_object;
struct vconn;
int	report_read_audit(struct vconn *, struct report *, int days, char *err,
	    size_t errlen);
/* Each VM's fault tolerance state and whether it uses vSAN (v->ft, v->vsan). */
int	report_read_facts(struct vconn *, struct report *, char *err, size_t errlen);

/* The pieces, for the fleet report (reportcmd.c). */
struct json_object *report_json_vm(const struct report_vm *, const char *vcenter);
/* {"evidence": ..., "signature": ...}: what a signature covers, added to o. */
void	report_json_attest(struct json_object *o, const char *evidence,
	    const struct report_signing *);
void	report_csv_cell(FILE *, const char *, int last);
void	report_csv_head(FILE *, int fleet);
void	report_csv_vm(FILE *, const struct report_vm *, const char *vcenter,
	    const char *generated, const char *evidence);
/* The row of a vCenter that could not be read: state "error", the reason. */
void	report_csv_unread(FILE *, const char *vcenter, const char *err,
	    const char *generated, const char *evidence);

/* HTML (reporthtml.c). */
void	report_esc(FILE *, const char *);
void	report_html_head(FILE *);
/* "generated ... by ...; evidence ...; signed ..." in the page's meta line. */
void	report_html_attest(FILE *, const char *generated, const char *evidence,
	    const struct report_signing *);
void	report_html_chart(FILE *, const size_t *counts);
void	report_html_table_head(FILE *, int fleet);
void	report_html_vm(FILE *, const struct report_vm *, const char *vcenter);
void	report_html_table_end(FILE *);
int	report_html_tail(FILE *);

/* The period (reportperiod.c).  JSON: "exposure_summary" and, with
 * history, "history" added to o.  CSV: the summary, the days and the
 * timelines, each its own table (vcenter: a first column, NULL none;
 * head: write the header line).  HTML: the summary cards, the VMs over
 * the SLO, the chart of compliance per day and the timelines. */
void	report_period_json(const struct report_period *, struct json_object *o);
void	report_period_csv_summary(FILE *, const struct report_period *, const char *vcenter,
	    int head);
void	report_period_csv_days(FILE *, const struct report_period *, const char *vcenter,
	    int head);
void	report_period_csv_timeline(FILE *, const struct report_period *, const char *vcenter,
	    int head);
void	report_period_html(FILE *, const struct report_period *, const char *vcenter);
/* The days chart alone: stacked counts per day by state (inline SVG). */
void	report_html_days(FILE *, const struct report_period *);
/* Each state's label and colour in every chart (reportfmt.c), in the
 * order the charts list them. */
struct report_state {
	enum vm_state	 s;
	const char	*label, *color;
};
extern const struct report_state report_states[];
extern const size_t report_nstates;
const char *report_state_color(int state);
/* "exposure_seconds" as a cell: "12.345", "" when not measured. */
void	report_exposure_text(const struct exposure *, char *out, size_t len);

/* OSCAL 1.1.2 assessment results (oscal.c): one observation per VM, one
 * finding per control that applies to any; 0 or -1 (cannot write, or no
 * random numbers for the uuids). */
int	report_oscal(const struct report_site *, size_t n, const char *generated,
	    const struct report_signing *, FILE *);

#endif
