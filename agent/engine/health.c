/*
 * The KMS, seen from the loop (health.h).
 */
#include "health.h"

#include "core.h"
#include "endpoint.h"
#include "kmsfacts.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "vmtable.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct health_job {
	struct health	*h;
	struct cfgref	*cfg;
	int		 rc;
	int		 usable;
	char		 provider[256];
	char		 msg[1024];
	time_t		 cert_not_after;
	int		 okms;		/* an OKMS is configured: its endpoint watched */
	int		 drift_rc;
	struct endpoint_drift drift;
};

static void
health_work(struct vconn *c, void *arg)
{
	struct health_job *j = arg;
	struct kms_verdict v;

	j->rc = kms_check(c, cfgref_get(j->cfg), &v);
	j->usable = v.usable;
	j->cert_not_after = v.client_cert_not_after;
	const struct config *cfg = cfgref_get(j->cfg);
	if ((j->okms = cfg->okms_id != NULL && cfg->kms_cluster != NULL))
		j->drift_rc = endpoint_drift(cfg->state_dir, cfg->kms_cluster, &j->drift);
	snprintf(j->provider, sizeof(j->provider), "%s", v.provider);
	snprintf(j->msg, sizeof(j->msg), "%s", v.reason);
}

static void
health_done(void *arg)
{
	struct health_job *j = arg;
	struct health *h = j->h;

	h->checking = 0;
	if (j->rc != 0)
		log_warnx("KMS health: cannot ask vCenter: %s", j->msg);
	else {
		health_verdict(h, j->usable, j->provider, j->msg);
		health_client_cert(h, j->cert_not_after, j->provider);
		if (j->okms)
			health_endpoint(h, &j->drift, j->drift_rc);
	}
	if (h->again)
		health_check_now(h);
	cfgref_drop(j->cfg);
	free(j);
}

void
health_check_now(struct health *h)
{
	const struct core *c = h->c;

	if (c->closing || !c->accepting || c->once)
		return;
	if (h->checking) {
		h->again = 1;
		return;
	}
	struct health_job *j = xcalloc(1, sizeof(*j));
	j->h = h;
	j->cfg = cfgref_hold(c->cfg);
	h->checking = 1;
	h->again = 0;
	if (pool_submit(c->pool, health_work, health_done, j) != 0) {
		h->checking = 0;
		cfgref_drop(j->cfg);
		free(j);
	}
}

static void
requeue_paused(void *arg, struct vmrec *r)
{
	r->attempts = 0;
	vm_enqueue(arg, r, "the KMS is usable again");
}

/* The breaker closed: every VM waiting for a key is looked at again. */
static void
released(struct health *h)
{
	vm_each(h->c->vms, VM_PAUSED, requeue_paused, h->c->vms);
}

/* How to renew vCenter's client certificate, said with its expiry. */
#define RENEW_HOW "renew it: `vmcrypt-agent kms setup --csr-out FILE`, have the KMS sign " \
	"the CSR, then `vmcrypt-agent kms setup --signed-cert FILE`"

void
health_client_cert(struct health *h, time_t not_after, const char *provider)
{
	int days = core_cfg(h->c)->kms_renew_days;
	time_t now = time(NULL);

	h->cert_not_after = not_after;
	if (not_after == 0 || not_after - now > (time_t)days * 86400 ||
	    (h->cert_said != 0 && now - h->cert_said < 86400))
		return;
	h->cert_said = now;
	char at[32];
	struct tm tm;
	gmtime_r(&not_after, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (not_after <= now)
		log_error("KMS: vCenter's client certificate for key provider %s EXPIRED at %s: "
		    "the KMS can refuse vCenter keys (new VMs cannot be encrypted, encrypted "
		    "VMs cannot start on a rebooted host); " RENEW_HOW, provider, at);
	else
		log_warnx("KMS: vCenter's client certificate for key provider %s expires in "
		    "%lld days (%s), within renew-days (%d); " RENEW_HOW, provider,
		    (long long)((not_after - now) / 86400), at, days);
}

void
health_endpoint(struct health *h, const struct endpoint_drift *d, int rc)
{
	char list[160] = "", reg[160] = "";

	if (rc != 0) {
		h->unregistered = -1;
		if (strcmp(h->unregistered_said, "?") != 0)
			log_warnx("OKMS endpoint: %s; its addresses are not compared with the "
			    "firewall's until it answers", d->err);
		snprintf(h->unregistered_said, sizeof(h->unregistered_said), "?");
		return;
	}
	if (!d->known) {
		h->unregistered = -1;
		return;
	}
	for (size_t i = 0; i < d->nmissing; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
		    d->missing[i]);
	for (size_t i = 0; i < d->nregistered; i++)
		snprintf(reg + strlen(reg), sizeof(reg) - strlen(reg), "%s%s", i ? ", " : "",
		    d->registered[i]);
	h->unregistered = (int)d->nmissing;
	if (strcmp(list, h->unregistered_said) == 0)
		return;			/* said already (or nothing to say) */
	if (d->nmissing > 0)
		log_warnx("OKMS endpoint %s now resolves to %s, not registered in the Hosted "
		    "Private Cloud's firewall (registered: %s): hosts may not reach the KMS; "
		    "register %s: `vmcrypt-agent kms setup --okms %s --ovh-service %s`", d->host,
		    list, reg[0] ? reg : "none", d->nmissing == 1 ? "it" : "them",
		    d->okms_id[0] ? d->okms_id : "ID", d->service[0] ? d->service : "NAME");
	else if (h->unregistered_said[0])
		log_info("OKMS endpoint %s: every address it resolves to is registered (%s)",
		    d->host, reg);
	snprintf(h->unregistered_said, sizeof(h->unregistered_said), "%s", list);
}

void
health_cert_note(const struct health *h, char *out, size_t len)
{
	time_t now = time(NULL);
	int days = core_cfg(h->c)->kms_renew_days;

	out[0] = '\0';
	if (h->cert_not_after == 0 || h->cert_not_after - now > (time_t)days * 86400)
		return;
	if (h->cert_not_after <= now)
		snprintf(out, len, "; KMS client certificate EXPIRED: %s", RENEW_HOW);
	else
		snprintf(out, len, "; KMS client certificate expires in %lld days: %s",
		    (long long)((h->cert_not_after - now) / 86400), RENEW_HOW);
}

void
health_verdict(struct health *hl, int usable, const char *provider, const char *reason)
{
	struct kms_health *h = &hl->kms;

	h->known = 1;
	h->checks++;
	h->checked = time(NULL);
	snprintf(h->provider, sizeof(h->provider), "%s", provider);
	snprintf(h->reason, sizeof(h->reason), "%s", usable ? "" : reason);
	h->usable = usable;
	if (!usable) {
		h->unusable++;
		if (breaker_hold(&hl->breaker, 1)) {
			log_error("KMS health: %s; encryption paused until it recovers "
			    "(Encrypted vMotion is still enforced); `vmcrypt-agent check` "
			    "says how to fix it", reason);
			notify_send("STATUS=KMS unusable, encryption paused: %.200s", reason);
		}
		return;
	}
	if (breaker_hold(&hl->breaker, 0)) {
		log_info("KMS health: key provider %s is usable again", provider);
		notify_send("STATUS=KMS %s usable again: encryption resumed", provider);
		log_info("KMS usable again: encryption resumed");
		released(hl);
	} else {
		log_debug("KMS health: key provider %s usable", provider);
	}
}

void
health_tripped(struct health *h, const char *why, int probe)
{
	h->kms_errors++;
	switch (breaker_trip(&h->breaker, h->c->now(h->c), probe)) {
	case 1:
		log_error("KMS unusable: %s; encryption paused (next try in %.0f s); "
		    "check the key provider in vCenter (Configure > Key Providers)",
		    why, (double)h->breaker.ms / 1000);
		health_check_now(h);	/* it may say why, and hold the pause */
		break;
	case 2:
		log_warnx("KMS still unusable: %s; next try in %.0f s", why,
		    (double)h->breaker.ms / 1000);
		break;
	}
}

void
health_worked(struct health *h)
{
	if (breaker_close(&h->breaker)) {
		log_info("KMS usable again: encryption resumed");
		released(h);
	}
}

enum crypto_gate
health_gate(struct health *h, uint64_t now)
{
	return breaker_gate(&h->breaker, now);
}

int
health_probe_due(const struct health *h, uint64_t now)
{
	const struct breaker *b = &h->breaker;
	return b->open && !b->held && !b->probing && now >= b->until;
}

void
health_probe_done(struct health *h)
{
	breaker_probe_done(&h->breaker);
}

uint64_t
health_next(const struct health *h)
{
	return breaker_next(&h->breaker);
}

int
health_held(const struct health *h)
{
	return h->breaker.held;
}

int
health_paused(const struct health *h)
{
	return h->breaker.held || h->breaker.open;
}

void
health_init(struct health *h, const struct core *c)
{
	memset(h, 0, sizeof(*h));
	h->c = c;
	h->unregistered = -1;
}

/* Before enforcing: is the key provider usable?  (Synchronous, at start.) */
void
health_first_check(struct health *h, struct vconn *c, struct kms_health *out)
{
	struct kms_verdict v;

	memset(out, 0, sizeof(*out));
	if (kms_check(c, core_cfg(h->c), &v) != 0)
		return;
	out->known = 1;
	out->usable = v.usable;
	health_client_cert(h, v.client_cert_not_after, v.provider);
	snprintf(out->provider, sizeof(out->provider), "%s", v.provider);
	snprintf(out->reason, sizeof(out->reason), "%s", v.reason);
	if (v.usable)
		log_info("KMS health: key provider %s usable", v.provider);
}
