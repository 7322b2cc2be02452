/*
 * `check --canary`: the command's side of the canary (checkcanary.c).
 */
#ifndef VMCRYPT_CHECKCANARY_H
#define VMCRYPT_CHECKCANARY_H

#include <stddef.h>
#include <stdio.h>

struct canary;
struct config;
struct json_object;

/* Where the canary's SOAP trace goes: --trace-soap's DIR, <trace-soap>,
 * else a new STATE-DIR/canary-TIME (or, not writable, a new /tmp
 * directory, said on stderr).  Set on cfg (cli_trace_soap) before the
 * session is opened; dir gets its path.  EXIT_OK or EXIT_CONFIG. */
int	canary_trace(struct config *cfg, const char *given, char *dir, size_t len);
/* canary_run with SIGINT and SIGTERM asking it to clean up and stop. */
int	canary_check(struct canary *k);
void	canary_print_text(const struct canary *k, const char *trace, FILE *out);
struct json_object *canary_json(const struct canary *k, const char *trace);

#endif
