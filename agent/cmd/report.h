/* The compliance report: the model (pure, unit-tested) and its three
 * formats; cmd_report gathers it from vCenter. */
#ifndef VMCRYPT_REPORT_H
#define VMCRYPT_REPORT_H

#include <stdio.h>

#include "inventory.h"
#include "policy.h"

struct report_vm {
	const struct vm_info	*vm;
	int			 state;		/* enum vm_state, -1 unknown */
	char			 action[512];	/* last "vmcrypt-agent: ..." event */
	char			 action_time[64];
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
};

void	report_init(struct report *, const struct inventory *, const char *generated);
void	report_note_action(struct report *, const char *moref, const char *msg,
	    const char *time);
void	report_free(struct report *);
int	report_json(const struct report *, FILE *);
int	report_csv(const struct report *, FILE *);
int	report_html(const struct report *, FILE *);

/* The pieces, for the fleet report (reportcmd.c). */
struct json_object;
struct vconn;
int	report_read_audit(struct vconn *, struct report *, int days, char *err,
	    size_t errlen);
struct json_object *report_json_vm(const struct report_vm *, const char *vcenter);
void	report_csv_cell(FILE *, const char *, int last);
void	report_csv_head(FILE *, int fleet);
void	report_csv_vm(FILE *, const struct report_vm *, const char *vcenter);
void	report_esc(FILE *, const char *);
void	report_html_head(FILE *);
void	report_html_chart(FILE *, const size_t *counts);
void	report_html_table_head(FILE *, int fleet);
void	report_html_vm(FILE *, const struct report_vm *, const char *vcenter);
int	report_html_tail(FILE *);

#endif
