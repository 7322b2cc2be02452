/* Prometheus text exposition (see metrics.h). */
#include "metrics.h"

#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double metrics_buckets[METRICS_NBUCKETS] = {
	0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600,
};

void
metrics_observe_latency(struct metrics *m, double s)
{
	if (s < 0)
		s = 0;
	m->lat_n++;
	m->lat_sum += s;
	for (int i = 0; i < METRICS_NBUCKETS; i++)
		if (s <= metrics_buckets[i]) {
			m->lat_count[i]++;
			return;
		}
	m->lat_inf++;
}

const double metrics_exposure_buckets[METRICS_NEXPOSURE] = {
	1, 5, 10, 30, 60, 120, 300, 900, 3600, 14400, 86400, 604800,
};

void
metrics_key_oldest(struct metrics *m, double since)
{
	m->oldest_key = since;
}

void
metrics_observe_exposure(struct metrics *m, double s)
{
	if (s < 0)
		s = 0;
	m->exp_n++;
	m->exp_sum += s;
	for (int i = 0; i < METRICS_NEXPOSURE; i++)
		if (s <= metrics_exposure_buckets[i]) {
			m->exp_count[i]++;
			return;
		}
	m->exp_inf++;
}

void
metrics_count(struct metrics *m, enum metrics_counter which)
{
	switch (which) {
	case M_REMEDIATION_OK:
		m->remediation_ok++;
		break;
	case M_REFUSED:
		m->remediation_refused++;
		break;
	case M_EVENTS:
		m->events++;
		break;
	case M_RECONNECTS:
		m->reconnects++;
		break;
	}
}

void
metrics_crypto_event(struct metrics *m, size_t i)
{
	if (i < EVMAP_MAX)
		m->crypto_events[i]++;
}

void
metrics_task_failed(struct metrics *m, const char *fault)
{
	const char *f = fault && fault[0] ? fault : "unknown";
	size_t i;

	m->remediation_err++;
	for (i = 0; i < m->nfaults; i++)
		if (strcmp(m->faults[i].name, f) == 0)
			break;
	if (i == m->nfaults) {
		if (m->nfaults == METRICS_MAX_FAULTS) {
			i = METRICS_MAX_FAULTS;		/* the "other" slot */
			snprintf(m->faults[i].name, sizeof(m->faults[i].name), "other");
		} else {
			snprintf(m->faults[i].name, sizeof(m->faults[i].name), "%s", f);
			m->nfaults++;
		}
	}
	m->faults[i].n++;
}

struct out {
	char	*p;
	size_t	 len, cap;
};

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		o->cap = o->cap * 2 + (n > 0 ? (size_t)n : 0);
		o->p = xreallocarray(o->p, o->cap, 1);
	}
}

/* A label value: \\, " and newline escaped; bounded. */
static void
label(char *dst, size_t cap, const char *s)
{
	size_t j = 0;
	for (; s && *s && j + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			dst[j++] = '\\';
			dst[j++] = *s;
		} else if (*s == '\n') {
			dst[j++] = '\\';
			dst[j++] = 'n';
		} else {
			dst[j++] = *s;
		}
	}
	dst[j] = '\0';
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A Prometheus histogram from non-cumulative bucket counts. */
static void
histogram(struct out *o, const char *name, const char *help, const double *le,
    const unsigned long *counts, int n, double sum, unsigned long total)
{
	unsigned long cum = 0;

	head(o, name, "histogram", help);
	for (int i = 0; i < n; i++) {
		cum += counts[i];
		put(o, "%s_bucket{le=\"%g\"} %lu\n", name, le[i], cum);
	}
	put(o, "%s_bucket{le=\"+Inf\"} %lu\n", name, total);
	put(o, "%s_sum %.6f\n", name, sum);
	put(o, "%s_count %lu\n", name, total);
}

/* The keys, the KMS and the loop's own gauges. */
static void
render_gauges(struct out *op, const struct metrics *m, const struct gauges *g)
{
	struct out o = *op;
	char l[300];

	head(&o, "vmcrypt_key_age_oldest_seconds", "gauge",
	    "Age of the oldest VM key the agent knows the age of (the last scan; -1: none "
	    "known).");
	put(&o, "vmcrypt_key_age_oldest_seconds %.0f\n", m->oldest_key > 0 ?
	    (double)time(NULL) - m->oldest_key : -1.0);

	head(&o, "vmcrypt_kms_healthy", "gauge",
	    "1 if the key provider the agent encrypts with is usable, per cluster.");
	if (g->kms_provider != NULL) {
		label(l, sizeof(l), g->kms_provider[0] ? g->kms_provider : "(none)");
		put(&o, "vmcrypt_kms_healthy{cluster=\"%s\"} %d\n", l, g->kms_usable ? 1 : 0);
	}
	head(&o, "vmcrypt_kms_client_cert_expiry_seconds", "gauge",
	    "Seconds until vCenter's client certificate for the key provider expires "
	    "(negative: expired), as the last KMS health check read it.");
	if (g->kms_provider != NULL && g->cert_not_after > 0)
		put(&o, "vmcrypt_kms_client_cert_expiry_seconds{cluster=\"%s\"} %.0f\n", l,
		    g->cert_not_after - (double)time(NULL));
	head(&o, "vmcrypt_okms_endpoint_unregistered_addresses", "gauge",
	    "OKMS: addresses the endpoint resolves to that kms setup did not register in "
	    "the Hosted Private Cloud's firewall (-1: unknown, or no OKMS).");
	put(&o, "vmcrypt_okms_endpoint_unregistered_addresses %d\n", g->okms_unregistered);
	head(&o, "vmcrypt_kms_last_check_timestamp_seconds", "gauge",
	    "When KMS health was last checked.");
	put(&o, "vmcrypt_kms_last_check_timestamp_seconds %.0f\n", g->last_kms_check);
	head(&o, "vmcrypt_kms_breaker_open", "gauge",
	    "1 while encryption is paused by the KMS circuit breaker.");
	put(&o, "vmcrypt_kms_breaker_open %d\n", g->breaker_open ? 1 : 0);

	head(&o, "vmcrypt_vcenter_up", "gauge", "1 while logged in to vCenter.");
	put(&o, "vmcrypt_vcenter_up %d\n", g->vcenter_up ? 1 : 0);
	head(&o, "vmcrypt_event_stream_up", "gauge",
	    "1 while the event stream from vCenter is live.");
	put(&o, "vmcrypt_event_stream_up %d\n", g->stream_live ? 1 : 0);
	head(&o, "vmcrypt_event_lag_seconds", "gauge",
	    "Receipt time minus vCenter's createdTime, for the last event (-1: none yet).");
	put(&o, "vmcrypt_event_lag_seconds %.3f\n", g->event_lag);
	head(&o, "vmcrypt_last_reconcile_timestamp_seconds", "gauge",
	    "When the last full reconcile finished (0: not yet).");
	put(&o, "vmcrypt_last_reconcile_timestamp_seconds %.0f\n", g->last_reconcile);
	head(&o, "vmcrypt_tasks_in_flight", "gauge", "Reconfigure tasks running now.");
	put(&o, "vmcrypt_tasks_in_flight %d\n", g->in_flight);
	head(&o, "vmcrypt_dry_run", "gauge", "1 if the agent changes nothing.");
	put(&o, "vmcrypt_dry_run %d\n", g->dry_run ? 1 : 0);
	head(&o, "vmcrypt_leader", "gauge",
	    "1 while this agent holds the leader lease and acts; 0 as a standby.");
	put(&o, "vmcrypt_leader %d\n", !g->ha || g->leader ? 1 : 0);
	head(&o, "vmcrypt_leader_failovers_total", "counter",
	    "Times this agent took the lease over from another agent whose heartbeat "
	    "stopped.");
	put(&o, "vmcrypt_leader_failovers_total %lu\n", g->failovers);
	head(&o, "vmcrypt_lease_age_seconds", "gauge",
	    "Leader: since its last renewal; standby: since the holder's heartbeat last "
	    "changed (-1: unknown).");
	put(&o, "vmcrypt_lease_age_seconds %.3f\n", g->lease_age);
	*op = o;
}

char *
metrics_render(const struct metrics *m, const struct gauges *g, size_t *len)
{
	struct out o = { xmalloc(4096), 0, 4096 };
	char l[300];

	head(&o, "vmcrypt_build_info", "gauge", "Version of the running agent.");
	label(l, sizeof(l), g->version);
	put(&o, "vmcrypt_build_info{version=\"%s\"} 1\n", l);

	head(&o, "vmcrypt_vms", "gauge", "VMs by compliance state.");
	for (int s = 0; s < VS_COUNT; s++)
		put(&o, "vmcrypt_vms{state=\"%s\"} %lu\n", vm_state_name((enum vm_state)s),
		    g->vms[s]);

	head(&o, "vmcrypt_remediations_total", "counter",
	    "Reconfigurations by result: success, error (the task failed), refused "
	    "(vCenter would not start it).");
	put(&o, "vmcrypt_remediations_total{result=\"success\"} %lu\n", m->remediation_ok);
	put(&o, "vmcrypt_remediations_total{result=\"error\"} %lu\n", m->remediation_err);
	put(&o, "vmcrypt_remediations_total{result=\"refused\"} %lu\n",
	    m->remediation_refused);

	head(&o, "vmcrypt_event_stream_reconnects_total", "counter",
	    "Times the event stream came back after vCenter went away or the session "
	    "ended; each is followed by a catch-up reconcile.");
	put(&o, "vmcrypt_event_stream_reconnects_total %lu\n", m->reconnects);

	head(&o, "vmcrypt_task_failures_total", "counter", "Failed tasks by vCenter fault.");
	for (size_t i = 0; i <= METRICS_MAX_FAULTS; i++) {
		if (i == m->nfaults && i < METRICS_MAX_FAULTS)
			break;
		if (m->faults[i].n == 0)
			continue;
		label(l, sizeof(l), m->faults[i].name);
		put(&o, "vmcrypt_task_failures_total{fault=\"%s\"} %lu\n", l, m->faults[i].n);
	}

	histogram(&o, "vmcrypt_event_to_compliant_seconds",
	    "From the vCenter event that made a VM non-compliant being received to the "
	    "VM confirmed compliant.", metrics_buckets, m->lat_count, METRICS_NBUCKETS,
	    m->lat_sum, m->lat_n);
	histogram(&o, "vmcrypt_exposure_seconds",
	    "How long a VM ran unencrypted: from its creation (config.createDate) to the "
	    "completion of the reconfigure that made it compliant.",
	    metrics_exposure_buckets, m->exp_count, METRICS_NEXPOSURE, m->exp_sum, m->exp_n);

	head(&o, "vmcrypt_events_total", "counter", "vCenter events received.");
	put(&o, "vmcrypt_events_total %lu\n", m->events);
	head(&o, "vmcrypt_crypto_events_total", "counter",
	    "vCenter's crypto alerts received (a VM locked, a failed rekey, mixed keys, "
	    "a key provider not backed up), by event type.");
	for (size_t i = 0; i < evmap_count && i < EVMAP_MAX; i++)
		if (evmap_table[i].what & EVM_ALERT)
			put(&o, "vmcrypt_crypto_events_total{type=\"%s\"} %lu\n",
			    evmap_table[i].type, m->crypto_events[i]);

	render_gauges(&o, m, g);
	*len = o.len;
	return o.p;
}
