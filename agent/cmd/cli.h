/* Commands and the exit codes every command shares (documented in the
 * README and in `vmcrypt-agent --help`). */
#ifndef VMCRYPT_CLI_H
#define VMCRYPT_CLI_H

#include <stddef.h>

#include "exitcode.h"

struct config;

/* Where the packages install the configuration and the unit reads it:
 * what every command uses without --config. */
#define CLI_DEFAULT_CONFIG	"/etc/vmcrypt-agent/vmcrypt-agent.xml"

/* The configuration a command uses without --config: $VMCRYPT_AGENT_CONFIG
 * when set and not empty, else CLI_DEFAULT_CONFIG. */
const char *cli_default_config(void);
/* Loads the config (path NULL: cli_default_config()) or prints its errors;
 * returns EXIT_OK or EXIT_CONFIG. */
int	cli_load_config(const char *path, struct config **out);
/* --trace-soap DIR: the command's SOAP trace goes to dir (over any
 * <trace-soap> in the file; dir NULL: the file's).  Call after
 * cli_load_config.  EXIT_OK, or EXIT_CONFIG after one line on stderr if
 * the directory cannot be made or written. */
int	cli_trace_soap(struct config *, const char *dir);
struct vsession;
/* Opens a logged-in session for a one-shot command, or prints why and
 * returns the exit code. */
int	cli_open_session(const struct config *, struct vsession **);
/* The same, the reason in err instead of on stderr (a fleet report puts
 * it in the unread vCenter's row). */
int	cli_open_session_err(const struct config *, struct vsession **, char *err,
	    size_t errlen);

/* The key ages the evidence log in cfg's state directory knows, into e's
 * book (keyage.h); a log that cannot be read is said, not an error. */
struct enforcer;
void	cli_key_ages(struct enforcer *e, const struct config *cfg);
/* A guide command's steps on vCenter: logs in with cfg, runs fn(c, arg),
 * logs out; a login that fails is the step "vcenter" of st, with its fix
 * (a configuration that cannot be used: EXIT_CONFIG, said). */
struct steps;
struct vconn;
void	cli_guide_vcenter(const struct config *cfg, struct steps *st,
	    void (*fn)(struct vconn *, void *), void *arg);
int	cmd_run(int argc, char **argv);
int	cmd_reconcile(int argc, char **argv);
int	cmd_check(int argc, char **argv);
int	cmd_kms_thumbprint(int argc, char **argv);
int	cmd_kms_probe(int argc, char **argv);
int	cmd_ovh(int argc, char **argv);
int	cmd_report(int argc, char **argv);
int	cmd_evidence(int argc, char **argv);
int	cmd_support_bundle(int argc, char **argv);
int	cmd_credential(int argc, char **argv);		/* credcmd.c */
int	cmd_kms(int argc, char **argv);		/* kms setup (kmssetup.c) */
int	cmd_kms_renew(int argc, char **argv);	/* kms renew-client-cert (renewcmd.c) */
int	cmd_policy(int argc, char **argv);	/* policy ensure (policycmd.c) */
int	cmd_setup(int argc, char **argv);	/* the guide in one (setupcmd.c) */

struct tls_cert_info;
/* Connects to a KMS (HOST[:PORT], 5696 by default) and reads its TLS
 * certificate without verifying it (kms-thumbprint, ovh --fetch-thumbprint).
 * EXIT_OK, or an exit code (2, 6, 7) after one line on stderr. */
int	kms_fetch_certificate(const char *target, int timeout, struct tls_cert_info *ci,
	    char *host, size_t hlen, char *port, size_t plen);

/* HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address; port 1..65535.
 * 0, or -1 if arg is none of these. */
int	cli_split_hostport(const char *arg, const char *defport, char *host,
	    size_t hlen, char *port, size_t plen);

#endif
