/* The exit codes every command shares (documented in the README and in
 * `vmcrypt-agent --help`); vim_exit_code() maps a vSphere failure to one. */
#ifndef VMCRYPT_EXITCODE_H
#define VMCRYPT_EXITCODE_H

#define EXIT_OK		0
#define EXIT_FAIL	1	/* the command ran and the answer is "no" */
#define EXIT_USAGE	2	/* bad command line */
#define EXIT_CONFIG	3	/* configuration file rejected */
#define EXIT_CONNECT	4	/* vCenter unreachable, TLS refused, protocol */
#define EXIT_LOGIN	5	/* vCenter rejected the credentials */
/* kms-thumbprint, kms-probe */
#define EXIT_KMS_UNREACHABLE	6	/* name, refused, timeout */
#define EXIT_KMS_TLS		7	/* not TLS, certificate refused, client cert wanted */
#define EXIT_KMS_PROTOCOL	8	/* TLS works, KMIP does not */
/* ovh: 3 credentials missing, 4 API unreachable, 5 credentials refused, and */
#define EXIT_OVH_DENIED		9	/* the consumer key may not make this call */
#define EXIT_OVH_NO_SERVICE	10	/* no such dedicatedCloud service */
/* check --canary */
#define EXIT_CANARY_HOST_KEY	11	/* a host could not get the key from the KMS */
#define EXIT_CANARY_PRIVILEGE	12	/* the account lacks a privilege the canary needs */
#define EXIT_CANARY_NO_PROVIDER	13	/* no usable default key provider */
#define EXIT_CANARY_LEFT	14	/* the canary VM could not be deleted */
/* credential set */
#define EXIT_HANDOVER_REFUSED	15	/* written, but the running agent did not take it */

#endif
