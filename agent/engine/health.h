/*
 * The KMS, seen from the loop: health checks (before enforcing, every
 * health-interval, at once on a KMS event or when the breaker trips), the
 * KMS circuit breaker (breaker.c) and what its moves mean for the VMs
 * waiting on it.  While the key provider is unusable no VM is handed to
 * GenerateKey; Encrypted vMotion is still enforced.  Loop thread only.
 */
#ifndef VMCRYPT_HEALTH_H
#define VMCRYPT_HEALTH_H

#include <stdint.h>
#include <time.h>

#include "breaker.h"
#include "kms.h"

struct core;
struct vconn;

struct health {
	const struct core *c;
	struct breaker	 breaker;
	struct kms_health kms;		/* the last verdict */
	int		 checking;	/* a check is out */
	int		 again;		/* ... and another was asked for meanwhile */
	unsigned long	 kms_errors;	/* KMS failures seen by jobs */
	/* vCenter's client certificate for that provider (the last check). */
	time_t		 cert_not_after;	/* 0 unknown */
	time_t		 cert_said;		/* its expiry last warned of */
	/* OKMS: endpoint addresses not in the firewall (-1 unknown). */
	int		 unregistered;
	char		 unregistered_said[160];	/* the list last said */
};

void		 health_init(struct health *, const struct core *);
/* Before the loop: is the key provider usable?  (Blocking.)  *out is
 * filled when vCenter answered (out->known). */
void		 health_first_check(struct health *, struct vconn *, struct kms_health *out);
/* A check in the pool now (or once the one out is back). */
void		 health_check_now(struct health *);
/* A verdict: an unusable KMS holds encryption (no probes: the health
 * check is the probe), a usable one releases it and the VMs waiting. */
void		 health_verdict(struct health *, int usable, const char *provider,
		    const char *reason);
/* The client certificate's expiry the last check read (0 unknown):
 * warned of in the log from <okms renew-days> before it on, once a day. */
void		 health_client_cert(struct health *, time_t not_after, const char *provider);
/* The OKMS endpoint's drift, as the last check read it (kms/endpoint.h):
 * rc of endpoint_drift. */
struct endpoint_drift;
void		 health_endpoint(struct health *, const struct endpoint_drift *, int rc);
/* Its words for /healthz when it is due for renewal ("" otherwise). */
void		 health_cert_note(const struct health *, char *out, size_t len);
/* A KMS failure seen by a job (GenerateKey refused, a task's error);
 * probe: it was the breaker's probe. */
void		 health_tripped(struct health *, const char *why, int probe);
/* A key was used: the breaker closes (unless a health check holds it). */
void		 health_worked(struct health *);

/* What a job may do with keys now (the half-open breaker's one probe). */
enum crypto_gate health_gate(struct health *, uint64_t now);
/* The half-open breaker wants a probe now (and none is out). */
int		 health_probe_due(const struct health *, uint64_t now);
/* The probe ended without testing the KMS. */
void		 health_probe_done(struct health *);
/* When the breaker next lets a probe through (UINT64_MAX: not scheduled). */
uint64_t	 health_next(const struct health *);
/* A health check says the key provider is unusable. */
int		 health_held(const struct health *);
/* Encryption is held or the breaker open: a VM needing a key waits. */
int		 health_paused(const struct health *);

#endif
