/* `evidence verify --pubkey FILE --signature FILE --report FILE`: a
 * signed report checked against its key and against the evidence logs
 * as they are now (evidsig.c). */
#ifndef VMCRYPT_EVIDSIG_H
#define VMCRYPT_EVIDSIG_H

#include <stddef.h>

struct json_object;

/*
 * Checks that sigfile holds pubkey's Ed25519 signature of report's bytes,
 * and that every evidence chain head it names is a record of the current
 * log (the same seq with the same hash): a log cut after the report was
 * signed, or a record changed, fails.  The logs: dirs (n of them), or
 * when n is 0 those the signature names.  Says the result on stdout
 * (text) or adds it to json.  1 when everything holds, 0 when not.
 */
int	evidsig_verify(const char *pubkey, const char *sigfile, const char *report,
	    const char *const *dirs, size_t n, struct json_object *json);

#endif
