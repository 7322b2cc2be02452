/*
 * check's OKMS item (issue #25 point 4): the addresses OVHcloud's KMS
 * endpoint resolves to now, against the Hosted Private Cloud's firewall
 * registration itself, read through the OVHcloud API when its
 * credentials are given (as `ovh` takes them); without them, against what
 * `kms setup --okms` registered (the state file), as `run` does.
 */
#include "checkokms.h"

#include "config.h"
#include "endpoint.h"
#include "kms.h"
#include "ovhapi.h"
#include "ovhcalls.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

static void
join(char *out, size_t len, char (*list)[16], size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? ", " : "", list[i]);
}

/* The firewall of d->service, through the API: 0 and the item filled, or
 * -1 (no credentials, or the API did not answer: the caller falls back). */
static int
against_firewall(const struct endpoint_drift *d, struct chk_item *it, char *why,
    size_t whylen)
{
	struct ovhc_opts oo = { .json = 1 };
	struct ovh_client *api = NULL;
	json_object *all = NULL;
	char base[256], missing[200] = "", have[200] = "";
	int rc;

	if (!ovhc_safe_segment(d->service) ||
	    ovhc_connect_api(&oo, 1, &api, base, sizeof(base)) != 0) {
		snprintf(why, whylen, "no OVHcloud API credentials (OVH_* or ovh.conf)");
		ovh_client_free(api);
		return -1;
	}
	if ((rc = ovhc_list_kms(api, d->service, &all)) != 0) {
		snprintf(why, whylen, "the firewall of %s could not be read (exit %d)",
		    d->service, rc);
		ovh_client_free(api);
		return -1;
	}
	for (size_t i = 0; i < d->nresolved; i++) {
		json_object *e = ovhc_kms_by_ip(all, d->resolved[i]);
		const char *st = e ? ovhc_jstr(e, "state") : NULL;
		char *into = st != NULL && strcmp(st, "delivered") == 0 ? have : missing;
		snprintf(into + strlen(into), 200 - strlen(into), "%s%s%s%s%s", into[0] ? ", " : "",
		    d->resolved[i], st && strcmp(st, "delivered") != 0 ? " (" : "",
		    st && strcmp(st, "delivered") != 0 ? st : "", st && strcmp(st, "delivered") != 0 ?
		    ")" : "");
	}
	json_object_put(all);
	ovh_client_free(api);
	if (missing[0]) {
		it->result = CHK_FAIL;
		snprintf(it->detail, sizeof(it->detail), "OKMS endpoint %s resolves to %s, not "
		    "delivered in the firewall of %s%s%s", d->host, missing, d->service,
		    have[0] ? "; registered: " : "", have);
		snprintf(it->fix, sizeof(it->fix), "register it: `vmcrypt-agent kms setup --okms "
		    "%s --ovh-service %s`", d->okms_id, d->service);
	} else {
		it->result = CHK_PASS;
		snprintf(it->detail, sizeof(it->detail), "OKMS endpoint %s: %s, each delivered in "
		    "the firewall of %s (read through the OVHcloud API)", d->host, have, d->service);
	}
	return 0;
}

void
check_okms_firewall(const struct config *cfg, struct chk_report *r)
{
	struct endpoint_drift d;
	char why[200], list[200];

	if (cfg->okms_id == NULL || cfg->kms_cluster == NULL || r->n >= CHK_MAX)
		return;
	struct chk_item *it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->id = "okms-firewall";
	it->title = "OKMS endpoint in the firewall";
	if (endpoint_drift(cfg->state_dir, cfg->kms_cluster, &d) != 0) {
		it->result = CHK_FAIL;
		snprintf(it->detail, sizeof(it->detail), "%.900s", d.err);
		snprintf(it->fix, sizeof(it->fix), "check this host's name resolution, or run "
		    "`vmcrypt-agent kms setup --okms %s` again", cfg->okms_id);
		return;
	}
	if (!d.known) {
		it->result = CHK_SKIP;
		snprintf(it->detail, sizeof(it->detail), "no `kms setup --okms` from this state "
		    "directory (%s/okms-%s.json)", cfg->state_dir, cfg->kms_cluster);
		return;
	}
	if (against_firewall(&d, it, why, sizeof(why)) == 0)
		return;
	/* Without the API: what setup registered, as run compares. */
	join(list, sizeof(list), d.nmissing ? d.missing : d.resolved,
	    d.nmissing ? d.nmissing : d.nresolved);
	it->result = d.nmissing ? CHK_FAIL : CHK_WARN;
	snprintf(it->detail, sizeof(it->detail), "OKMS endpoint %s resolves to %s, %s what kms "
	    "setup registered in the firewall of %s; %s: the firewall itself is not read",
	    d.host, list, d.nmissing ? "not" : "each", d.service, why);
	snprintf(it->fix, sizeof(it->fix), "%s", d.nmissing ? "register it: `vmcrypt-agent kms "
	    "setup --okms ID --ovh-service NAME`" : "give the OVHcloud credentials (as "
	    "`vmcrypt-agent ovh --help` says) to compare with the firewall itself");
}
