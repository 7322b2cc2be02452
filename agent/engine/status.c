/*
 * /metrics and /healthz (status.h).
 */
#include "status.h"

#include "config.h"
#include "engine.h"
#include "httpd.h"
#include "kmsinfo.h"
#include "xmalloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Live: the watcher's calls work and its last wait returned recently. */
static int
stream_live(struct engine *e, char *why, size_t len)
{
	long long ok = atomic_load(&e->watch.ok_at), age = (long long)time(NULL) - ok;
	int stale = WATCH_WAIT_SECONDS + core_cfg(&e->core)->timeout + 10;

	if (!e->watching || ok == 0) {
		snprintf(why, len, "not yet watching vCenter's events");
		return 0;
	}
	if (atomic_load(&e->watch.err)) {
		snprintf(why, len, "the last call to vCenter failed; reconnecting");
		return 0;
	}
	if (age > stale) {
		snprintf(why, len, "no answer from vCenter for %lld s", age);
		return 0;
	}
	snprintf(why, len, "logged in, event stream live (last poll %lld s ago)", age);
	return 1;
}

static void
count_state(void *arg, struct vmrec *r)
{
	struct gauges *g = arg;
	if (r->known)
		g->vms[r->state]++;
}

/* "; leader (epoch N)" or "; standby (leader: X)" for /healthz. */
static void
status_role(struct engine *e, char *out, size_t len)
{
	char who[512];

	out[0] = '\0';
	if (!e->lease.enabled)
		return;
	if (lease_may_act(&e->lease)) {
		snprintf(out, len, "; leader (lease epoch %lld)", atomic_load(&e->lease.epoch));
		return;
	}
	lease_holder(&e->lease, who, sizeof(who));
	snprintf(out, len, "; standby (lease held by %s)", who[0] ? who : "nobody yet");
}

void
status_http(void *arg, const char *path, struct httpd_resp *r)
{
	struct engine *e = arg;
	char why[256];

	if (strcmp(path, "/healthz") == 0) {
		int ok = stream_live(e, why, sizeof(why));
		r->status = ok ? 200 : 503;
		char role[700], cert[400];
		status_role(e, role, sizeof(role));
		health_cert_note(&e->health, cert, sizeof(cert));
		r->body = xasprintf("%s: %s%s%s%s\n", ok ? "ok" : "unhealthy", why,
		    health_held(&e->health) ? "; KMS unusable (encryption paused)" : "", cert,
		    role);
		r->len = strlen(r->body);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		struct gauges g;
		memset(&g, 0, sizeof(g));
		vm_each(&e->vms, VM_SCHED_COUNT, count_state, &g);
		g.stream_live = stream_live(e, why, sizeof(why));
		g.vcenter_up = e->watching && !atomic_load(&e->watch.err);
		g.event_lag = e->event_lag;
		g.last_reconcile = (double)e->rec.last;
		g.last_kms_check = (double)e->health.kms.checked;
		g.kms_provider = e->health.kms.known ? e->health.kms.provider : NULL;
		g.kms_usable = e->health.kms.usable;
		g.cert_not_after = (double)e->health.cert_not_after;
		g.okms_unregistered = e->health.unregistered;
		g.breaker_open = e->health.breaker.open;
		g.in_flight = e->tasks.running;
		g.dry_run = e->core.dry_run;
		g.version = VMCRYPT_VERSION;
		g.ha = e->lease.enabled;
		g.leader = lease_may_act(&e->lease);
		g.failovers = atomic_load(&e->lease.failovers);
		unsigned long long at = atomic_load(&e->lease.renewed_at);
		uint64_t now = lease_clock_ms();
		g.lease_age = g.ha && at > 0 && at <= now ? (double)(now - at) / 1000.0 : -1;
		r->status = 200;
		r->type = "text/plain; version=0.0.4; charset=utf-8";
		r->body = metrics_render(&e->met, &g, &r->len);
	}
}

int
status_event_lag(const char *t, double *lag)
{
	struct timespec now;
	time_t ts = kms_parse_time(t);		/* whole seconds, UTC */
	const char *dot = strchr(t, '.');

	if (ts == (time_t)-1)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	*lag = (double)(now.tv_sec - ts) + now.tv_nsec / 1e9 - (dot ? strtod(dot, NULL) : 0);
	return 0;
}
