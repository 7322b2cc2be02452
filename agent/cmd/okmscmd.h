/*
 * `kms setup --okms ID` (and `setup --okms`): the OVHcloud side before
 * vCenter's (okmscmd.c), then guide/kmsokms.c signs vCenter's CSR.
 */
#ifndef VMCRYPT_OKMSCMD_H
#define VMCRYPT_OKMSCMD_H

#include <json-c/json.h>

#include "kmsokms.h"
#include "okms.h"

struct setup;

#define OKMS_MAX_ADDRS	8

struct okms_run {
	/* options */
	const char	*okms_id, *service;
	int		 wait, validity;
	/* what was found */
	struct okms_resource res;
	char		 addrs[OKMS_MAX_ADDRS][16];	/* the KMIP host's IPv4 addresses */
	size_t		 naddrs;
	struct okms_trust trust;
};

/*
 * Before vCenter, each a step of s: the OVHcloud API (credentials as `ovh`
 * takes them), the OKMS resource (KMIP endpoint, public CA), the endpoint's
 * IPv4 addresses and the certificate each serves, checked against the
 * public CA, then each address in the firewall of Hosted Private Cloud
 * r->service, delivered.  Then s is set for kset_vcenter: one server, the
 * host name and port; the CA to upload; the OKMS way to trust vCenter.
 * 0, or -1 with the step failed.
 */
int	okms_prepare(struct setup *s, struct okms_run *r);
/* After kset_vcenter: the state file (which credential is ours, the
 * addresses registered) when it worked; frees r. */
void	okms_finish(struct setup *s, struct okms_run *r);
/* r's part of `kms setup --json`. */
json_object *okms_json(const struct okms_run *r);

#endif
