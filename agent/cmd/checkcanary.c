/*
 * `check --canary`: what the command adds around the canary (guide/
 * canary.c): the SOAP trace it keeps (the state directory, unless
 * --trace-soap says where), SIGINT and SIGTERM turned into "clean up and
 * stop", and its report, as text or JSON, each step with its time.
 */
#include "checkcanary.h"

#include "canary.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "xmalloc.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int
canary_trace(struct config *cfg, const char *given, char *dir, size_t len)
{
	char ts[32];
	time_t now = time(NULL);

	if (given != NULL || cfg->trace_dir != NULL) {
		snprintf(dir, len, "%s", given ? given : cfg->trace_dir);
		return cli_trace_soap(cfg, given);
	}
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", gmtime(&now));
	snprintf(dir, len, "%s/canary-%s", cfg->state_dir, ts);
	if ((mkdir(cfg->state_dir, 0700) == 0 || errno == EEXIST) &&
	    cli_trace_soap(cfg, dir) == EXIT_OK)
		return EXIT_OK;
	/* The state directory is the service's: a person running check may
	 * not write there.  The trace still goes somewhere, said. */
	snprintf(dir, len, "/tmp/vmcrypt-canary-%s-XXXXXX", ts);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "vmcrypt-agent: cannot make a directory for the canary's SOAP "
		    "trace (%s): give --trace-soap DIR\n", strerror(errno));
		return EXIT_CONFIG;
	}
	fprintf(stderr, "vmcrypt-agent: %s is not writable; the canary's SOAP trace goes "
	    "to %s\n", cfg->state_dir, dir);
	return cli_trace_soap(cfg, dir);
}

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = sig;
}

int
canary_check(struct canary *k)
{
	struct sigaction sa, old_int, old_term;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: a wait ends early */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	stop = 0;
	k->stop = &stop;
	rc = canary_run(k);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}

static double
total(const struct canary *k)
{
	double t = 0;
	for (size_t i = 0; i < k->steps.n; i++)
		t += k->secs[i];
	return t;
}

void
canary_print_text(const struct canary *k, const char *trace, FILE *out)
{
	static const char *const tag[] = { "OK   ", "DONE ", "WOULD", "FAIL ", "     " };
	const struct step *failed = steps_failed(&k->steps, NULL);

	fprintf(out, "\ncanary: %s\n\n", k->name);
	for (size_t i = 0; i < k->steps.n; i++) {
		const struct step *st = &k->steps.list[i];
		fprintf(out, "  %s %-11s %6.2f s  %s\n", tag[st->result], st->name, k->secs[i],
		    st->detail);
		if (st->fix[0])
			fprintf(out, "        %-11s %9s fix: %s\n", "", "", st->fix);
	}
	fprintf(out, "\nkeys generated: %d%s\n", k->keys, k->keys ? " (the KMS keeps a key "
	    "after its VM is deleted)" : "");
	fprintf(out, "SOAP trace: %s (vmcrypt-agent support-bundle --trace-dir %s)\n", trace,
	    trace);
	if (k->left)
		fprintf(out, "LEFT BEHIND: %s in %s\n", k->name, k->folder_path);
	fprintf(out, "%s in %.1f s\n", failed ? "canary FAILED" : "canary passed: the whole "
	    "path works on this vCenter", total(k));
}

json_object *
canary_json(const struct canary *k, const char *trace)
{
	json_object *o = json_object_new_object();
	json_object *arr = steps_json(&k->steps);

	for (size_t i = 0; i < k->steps.n; i++)
		json_object_object_add(json_object_array_get_idx(arr, i), "seconds",
		    json_object_new_double(k->secs[i]));
	json_object_object_add(o, "ran", json_object_new_boolean(1));
	json_object_object_add(o, "ok", json_object_new_boolean(k->steps.exit_code == 0));
	json_object_object_add(o, "vm", json_object_new_string(k->name));
	json_object_object_add(o, "folder", json_object_new_string(k->folder_path));
	json_object_object_add(o, "host", json_object_new_string(k->host_name));
	json_object_object_add(o, "datastore", json_object_new_string(k->datastore_name));
	json_object_object_add(o, "keys_generated", json_object_new_int(k->keys));
	json_object_object_add(o, "key_provider", k->provider[0] ?
	    json_object_new_string(k->provider) : NULL);
	json_object_object_add(o, "left_behind", json_object_new_boolean(k->left));
	json_object_object_add(o, "interrupted", k->interrupted ?
	    json_object_new_string(k->interrupted == SIGINT ? "SIGINT" : "SIGTERM") : NULL);
	json_object_object_add(o, "trace", json_object_new_string(trace));
	json_object_object_add(o, "seconds", json_object_new_double(total(k)));
	json_object_object_add(o, "steps", arr);
	return o;
}
