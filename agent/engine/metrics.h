/*
 * The agent's numbers in Prometheus text format (version 0.0.4).  Pure:
 * the loop thread keeps a struct metrics and fills a struct gauges at
 * scrape time; metrics_render() writes the page.
 */
#ifndef VMCRYPT_METRICS_H
#define VMCRYPT_METRICS_H

#include <stddef.h>

#include "evmap.h"
#include "policy.h"

/* Event-to-compliant latency buckets, in seconds (le=). */
#define METRICS_NBUCKETS	12
extern const double metrics_buckets[METRICS_NBUCKETS];

/* Exposure window buckets, in seconds (le=). */
#define METRICS_NEXPOSURE	12
extern const double metrics_exposure_buckets[METRICS_NEXPOSURE];

#define METRICS_MAX_FAULTS	32	/* distinct fault names kept; then "other" */

struct metrics {
	unsigned long	 remediation_ok;	/* tasks that succeeded */
	unsigned long	 remediation_err;	/* tasks that failed */
	unsigned long	 remediation_refused;	/* vCenter refused to start one */
	unsigned long	 events;
	unsigned long	 reconnects;	/* event stream re-established */
	unsigned long	 lat_count[METRICS_NBUCKETS];	/* non-cumulative */
	unsigned long	 lat_inf;
	unsigned long	 lat_n;
	double		 lat_sum;
	unsigned long	 exp_count[METRICS_NEXPOSURE];	/* non-cumulative */
	unsigned long	 exp_inf, exp_n;
	double		 exp_sum;
	struct { char name[64]; unsigned long n; } faults[METRICS_MAX_FAULTS + 1];
	size_t		 nfaults;
	unsigned long	 crypto_events[EVMAP_MAX];	/* per evmap_table entry */
	double		 oldest_key;	/* when the oldest key known was put on
					   its VM (unix time), 0 none known */
};

struct gauges {
	unsigned long	 vms[VS_COUNT];
	int		 vcenter_up;
	int		 stream_live;
	double		 event_lag;		/* seconds, -1 unknown */
	double		 last_reconcile;	/* unix time, 0 never */
	double		 last_kms_check;
	const char	*kms_provider;		/* NULL: not checked */
	int		 kms_usable;
	double		 cert_not_after;	/* vCenter's client certificate, 0 unknown */
	int		 okms_unregistered;	/* OKMS endpoint addresses not in the
						   firewall, -1 unknown */
	int		 breaker_open;
	int		 in_flight;
	int		 dry_run;
	const char	*version;
	int		 ha;			/* the lease is in use */
	int		 leader;
	unsigned long	 failovers;
	double		 lease_age;		/* seconds since the lease was renewed
						   (leader) or its heartbeat last
						   changed (standby); -1 unknown */
};

enum metrics_counter {
	M_REMEDIATION_OK,	/* a task of ours succeeded */
	M_REFUSED,		/* vCenter refused to start one */
	M_EVENTS,		/* a vCenter event handled */
	M_RECONNECTS,		/* the event stream came back */
};
void	metrics_count(struct metrics *, enum metrics_counter);
void	metrics_observe_latency(struct metrics *, double seconds);
/* A VM's exposure window: from its creation to the completion of the
 * reconfigure that made it compliant. */
void	metrics_observe_exposure(struct metrics *, double seconds);
/* The last scan's oldest key: when it was put on its VM (unix time, 0
 * none known). */
void	metrics_key_oldest(struct metrics *, double since);
/* An alert event (evmap.h: EVM_ALERT), by its index in evmap_table. */
void	metrics_crypto_event(struct metrics *, size_t index);
/* A failed task, by fault type ("" is counted as "unknown"). */
void	metrics_task_failed(struct metrics *, const char *fault);
/* The page; *len its length.  malloc'd. */
char	*metrics_render(const struct metrics *, const struct gauges *, size_t *len);

#endif
