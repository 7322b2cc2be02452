/* `report`'s pieces shared between its files: the options, one vCenter
 * of the report (reportcmd.c gathers; reportout.c writes and signs). */
#ifndef VMCRYPT_REPORTCMD_H
#define VMCRYPT_REPORTCMD_H

#include <stddef.h>

#include "exposure.h"
#include "inventory.h"
#include "period.h"
#include "report.h"

#define MAX_CONFIGS	64
#define MAX_EVIDENCE	64

struct report_opts {
	const char	*configs[MAX_CONFIGS];
	size_t		 nconfigs;
	const char	*evidence[MAX_EVIDENCE];
	size_t		 nevidence;
	const char	*format, *output, *sign, *since_arg, *until_arg;
	int		 days;		/* of vCenter's events read for the last actions */
	double		 since, until;	/* the period, unix time; 0 unbounded */
};

struct evset;

/* One vCenter of the report. */
struct site {
	const char	*path;
	struct config	*cfg;
	struct inventory inv;
	struct report	 rep;
	int		 read;		/* inv and rep are filled */
	int		 rc;		/* EXIT_OK, or why it could not be read */
	char		 err[1024];
	char		 uuid[128];	/* vCenter's instanceUuid, "" unknown */
	struct evset	*ev;		/* its evidence logs (may be shared); NULL none */
	int		 own_ev;	/* ev is this site's to free */
	struct exposures exp;
	struct history	 hist;
	char		 heads[8192];	/* the logs' chain heads, "" none */
};

/*
 * Writes the report (rendered by render into memory) to o->output or
 * stdout; with o->sign, its signature to OUTPUT.sig: JSON naming the
 * algorithm, the key (SHA-256 of the raw public key), the signature
 * (base64) and the evidence heads the report covers.  The report and the
 * signature are each written beside and renamed: a failure leaves
 * neither half written.  EXIT_OK or EXIT_FAIL (said on stderr).
 */
struct sign_key;
typedef int (*report_render_fn)(const struct site *, size_t n, const struct report_opts *,
    const char *generated, FILE *);
int	report_emit(const struct site *, size_t n, const struct report_opts *,
	    const char *generated, const struct sign_key *, report_render_fn render);

#endif
