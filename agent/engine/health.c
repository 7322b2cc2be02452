/*
 * The KMS, seen from the loop: health checks (before enforcing, every
 * health-interval, at once on a KMS event or when the breaker trips), the
 * verdict that holds or releases the breaker, and what the breaker's moves
 * mean for the VMs waiting on it.  While the key provider is unusable no VM
 * is handed to GenerateKey; Encrypted vMotion is still enforced.
 */
#include "kmsfacts.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "notify.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct health_job {
	struct engine	*e;
	struct cfgref	*cfg;
	int		 rc;
	int		 usable;
	char		 provider[256];
	char		 msg[1024];
};

static void
health_work(struct vconn *c, void *arg)
{
	struct health_job *j = arg;
	struct kms_verdict v;

	j->rc = kms_check(c, cfgref_get(j->cfg), &v);
	j->usable = v.usable;
	snprintf(j->provider, sizeof(j->provider), "%s", v.provider);
	snprintf(j->msg, sizeof(j->msg), "%s", v.reason);
}

static void
health_done(void *arg)
{
	struct health_job *j = arg;
	struct engine *e = j->e;

	e->kms_checking = 0;
	if (j->rc != 0)
		log_warnx("KMS health: cannot ask vCenter: %s", j->msg);
	else
		health_verdict(e, j->usable, j->provider, j->msg);
	if (e->kms_again)
		health_check_now(e);
	cfgref_drop(j->cfg);
	free(j);
}

void
health_check_now(struct engine *e)
{
	if (e->closing || !e->accepting || e->once)
		return;
	if (e->kms_checking) {
		e->kms_again = 1;
		return;
	}
	struct health_job *j = xcalloc(1, sizeof(*j));
	j->e = e;
	j->cfg = cfgref_hold(e->cfg);
	e->kms_checking = 1;
	e->kms_again = 0;
	if (pool_submit(&e->pool, health_work, health_done, j) != 0) {
		e->kms_checking = 0;
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
released(struct engine *e)
{
	vm_each(&e->vms, VM_PAUSED, requeue_paused, &e->vms);
}

/* A verdict: an unusable KMS holds encryption (no probes: the health
 * check is the probe), a usable one releases it. */
void
health_verdict(struct engine *e, int usable, const char *provider, const char *reason)
{
	struct kms_health *h = &e->kms;

	h->known = 1;
	h->checks++;
	h->checked = time(NULL);
	snprintf(h->provider, sizeof(h->provider), "%s", provider);
	snprintf(h->reason, sizeof(h->reason), "%s", usable ? "" : reason);
	h->usable = usable;
	if (!usable) {
		h->unusable++;
		if (breaker_hold(&e->breaker, 1)) {
			log_error("KMS health: %s; encryption paused until it recovers "
			    "(Encrypted vMotion is still enforced); `vmcrypt-agent check` "
			    "says how to fix it", reason);
			notify_send("STATUS=KMS unusable, encryption paused: %.200s", reason);
		}
		return;
	}
	if (breaker_hold(&e->breaker, 0)) {
		log_info("KMS health: key provider %s is usable again", provider);
		notify_send("STATUS=KMS %s usable again: encryption resumed", provider);
		log_info("KMS usable again: encryption resumed");
		released(e);
	} else {
		log_debug("KMS health: key provider %s usable", provider);
	}
}

/* A KMS failure seen by a job (GenerateKey refused, a task's error). */
void
kms_tripped(struct engine *e, const char *why, int probe)
{
	e->n_kms_err++;
	switch (breaker_trip(&e->breaker, e->now(e), probe)) {
	case 1:
		log_error("KMS unusable: %s; encryption paused (next try in %.0f s); "
		    "check the key provider in vCenter (Configure > Key Providers)",
		    why, (double)e->breaker.ms / 1000);
		health_check_now(e);	/* it may say why, and hold the pause */
		break;
	case 2:
		log_warnx("KMS still unusable: %s; next try in %.0f s", why,
		    (double)e->breaker.ms / 1000);
		break;
	}
}

/* A key was used: the breaker closes (unless the health check holds it). */
void
kms_worked(struct engine *e)
{
	if (breaker_close(&e->breaker)) {
		log_info("KMS usable again: encryption resumed");
		released(e);
	}
}

int
health_is_kms_event(const char *type)
{
	return strncmp(type, "com.vmware.vc.kms.", 18) == 0 ||
	    strstr(type, "KMSClusterError") != NULL || strstr(type, "CertExpirationEvent") != NULL;
}

/* Before enforcing: is the key provider usable?  (Synchronous, at start.) */
void
health_first_check(struct engine *e, struct vconn *c, struct kms_health *out)
{
	struct kms_verdict v;

	memset(out, 0, sizeof(*out));
	if (kms_check(c, engine_cfg(e), &v) != 0)
		return;
	out->known = 1;
	out->usable = v.usable;
	snprintf(out->provider, sizeof(out->provider), "%s", v.provider);
	snprintf(out->reason, sizeof(out->reason), "%s", v.reason);
	if (v.usable)
		log_info("KMS health: key provider %s usable", v.provider);
}
