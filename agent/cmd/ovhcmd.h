/* `ovh register-kms`'s registration, for `kms setup --okms` too. */
#ifndef VMCRYPT_OVHCMD_H
#define VMCRYPT_OVHCMD_H

#include <json-c/json.h>

struct ovh_client;
struct ovhc_opts;

/*
 * The KMS o->kms_ip with thumbprint tp (normalised) in the firewall of
 * Hosted Private Cloud o->service: nothing if it is there, else POSTed (a
 * new thumbprint only with o->update) and its task followed to its end.
 * res gets "service", "vmEncryption", "action" (unchanged, registered,
 * updated, would-register, would-update, thumbprint-differs, failed) and
 * the entry ("kms").  Prints its progress (and, without o->json, its
 * result).  An exit code.
 */
int	ovhcmd_register(struct ovh_client *, const struct ovhc_opts *o, const char *tp,
	    json_object *res);

#endif
