/*
 * `vmcrypt-agent evidence verify`: every evidence log named (or the one
 * in the configuration's state directory) walked from its first record to
 * its last, its hash chain checked; the first record that breaks it named
 * by file and line.  Reads only: nothing is repaired or rewritten.
 */
#include "cli.h"
#include "config.h"
#include "evidence.h"
#include "evidsig.h"
#include "exitcode.h"
#include "opts.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LOGS	64

struct tally {
	long long	 records;
	char		 first[64], last[64];	/* "at" of the first and last */
	char		 vcenter[256], vc_url[512];
	long long	 vms_seen;
};

static const char *
field(json_object *rec, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static int
count(void *arg, json_object *rec, const char *file, long line)
{
	struct tally *t = arg;
	const char *at = field(rec, "at"), *vc = field(rec, "vcenter"), *url = field(rec, "vc_url");

	(void)file;
	(void)line;
	t->records++;
	if (at && t->first[0] == '\0')
		snprintf(t->first, sizeof(t->first), "%s", at);
	if (at)
		snprintf(t->last, sizeof(t->last), "%s", at);
	if (vc && t->vcenter[0] == '\0')
		snprintf(t->vcenter, sizeof(t->vcenter), "%s", vc);
	if (url && t->vc_url[0] == '\0')
		snprintf(t->vc_url, sizeof(t->vc_url), "%s", url);
	return 0;
}

/* One log: said on stdout (text) or added to arr (json).  1 when it holds. */
static int
verify_one(const char *dir, int json, json_object *arr)
{
	struct tally t = { 0 };
	char bad_file[4352] = "", hash[65], err[1536] = "";
	long bad_line = 0;
	long long head = 0;
	struct stat st;
	int ok, missing = 0;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, sizeof(err), "%s: %s", dir, stat(dir, &st) != 0 ? strerror(errno) :
		    "not a directory");
		ok = 0;
		missing = 1;
	} else {
		ok = evidence_verify(dir, count, &t, bad_file, sizeof(bad_file), &bad_line, &head,
		    hash, err, sizeof(err)) == 0;
		if (ok && t.records == 0) {
			snprintf(err, sizeof(err), "%s: no evidence log here (no "
			    "evidence-NNNNNN.jsonl with a record)", dir);
			ok = 0;
			missing = 1;
		}
	}
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dir", json_object_new_string(dir));
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "records", json_object_new_int64(t.records));
		if (t.vcenter[0])
			json_object_object_add(o, "vcenter", json_object_new_string(t.vcenter));
		if (t.vc_url[0])
			json_object_object_add(o, "vc_url", json_object_new_string(t.vc_url));
		if (t.first[0]) {
			json_object_object_add(o, "first", json_object_new_string(t.first));
			json_object_object_add(o, "last", json_object_new_string(t.last));
		}
		if (ok) {
			json_object_object_add(o, "head_seq", json_object_new_int64(head));
			json_object_object_add(o, "head_hash", json_object_new_string(hash));
		} else {
			json_object_object_add(o, "error", json_object_new_string(err));
			if (bad_file[0])
				json_object_object_add(o, "file", json_object_new_string(bad_file));
			if (bad_line > 0)
				json_object_object_add(o, "line", json_object_new_int64(bad_line));
		}
		json_object_array_add(arr, o);
	} else if (ok) {
		printf("%s: the chain holds: %lld records, %s to %s, vCenter %s; head seq %lld "
		    "sha256 %s\n", dir, t.records, t.first, t.last,
		    t.vcenter[0] ? t.vcenter : "(not named)", head, hash);
	} else {
		printf("%s: %s: %s\n", dir, missing ? "NO LOG" : "BROKEN", err);
	}
	return ok;
}

static int
cmd_verify(int argc, char **argv)
{
	const char *path = NULL, *dirs[MAX_LOGS];
	const char *pubkey = NULL, *sigfile = NULL, *report = NULL;
	size_t ndirs = 0;
	int json = 0, rc, bad = 0;
	char own[4096];

	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &path, .help = OPTS_HELP_CONFIG
		  "\n(its state directory's evidence log, without --evidence)" },
		{ "evidence", 'e', OPT_LIST, "DIR", dirs, &ndirs, .max = MAX_LOGS,
		  .help = "an evidence log's directory (STATE-DIR/evidence);\nmay be repeated" },
		{ "pubkey", 0, OPT_STRING, "FILE", &pubkey,
		  .help = "with --signature and --report: the Ed25519 public key\n"
		    "(PEM) the report was signed with" },
		{ "signature", 0, OPT_STRING, "FILE", &sigfile,
		  .help = "a signed report's signature (REPORT.sig, of report --sign)" },
		{ "report", 0, OPT_STRING, "FILE", &report,
		  .help = "the signed report" },
		{ "json", 'j', OPT_FLAG, NULL, &json, .help = "the result as JSON" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent evidence verify [--config FILE] [--evidence DIR]...\n"
		    "           [--pubkey FILE --signature FILE --report FILE] [--json]\n",
		.about =
		    "Checks each evidence log from its first record to its last: every line\n"
		    "a record, each one's seq following the one before and its \"prev\" the\n"
		    "SHA-256 of the line before (across files), one vCenter throughout.  The\n"
		    "first record that breaks the chain is named by file and line: a record\n"
		    "changed, deleted, moved, or a file cut short.  Reads only.\n\n"
		    "With --pubkey, --signature and --report: also that the signature (of\n"
		    "report --sign) is the key's over the report's bytes, and that each\n"
		    "evidence chain head it names is still a record of the log, with the\n"
		    "same hash: a log cut after the report was signed, or its last record\n"
		    "changed, fails here even though its chain holds.  The logs are those\n"
		    "of --evidence, or else those the signature names.\n",
		.tail =
		    "exit status: 0 every chain holds, 1 one is broken or missing, 2 usage,\n"
		    "3 bad configuration.\n",
		.opts = opts,
	};

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	int sig = (pubkey != NULL) + (sigfile != NULL) + (report != NULL);
	if (sig != 0 && sig != 3) {
		fprintf(stderr, "vmcrypt-agent: evidence verify: --pubkey, --signature and "
		    "--report go together\n");
		return EXIT_USAGE;
	}
	if (sig == 3) {
		/* The logs the signature names, unless given. */
		json_object *top = json ? json_object_new_object() : NULL;
		int ok = evidsig_verify(pubkey, sigfile, report, dirs, ndirs, top);
		if (top != NULL) {
			json_object_object_add(top, "ok", json_object_new_boolean(ok));
			printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(top);
		}
		return ok ? EXIT_OK : EXIT_FAIL;
	}
	if (ndirs == 0) {
		struct config *cfg = NULL;
		if ((rc = cli_load_config(path, &cfg)) != EXIT_OK)
			return rc;
		snprintf(own, sizeof(own), "%s/evidence", cfg->state_dir);
		config_free(cfg);
		dirs[ndirs++] = own;
	}
	json_object *arr = json ? json_object_new_array() : NULL;
	for (size_t i = 0; i < ndirs; i++)
		bad += !verify_one(dirs[i], json, arr);
	if (json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "ok", json_object_new_boolean(bad == 0));
		json_object_object_add(top, "logs", arr);
		printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(top);
	}
	return bad ? EXIT_FAIL : EXIT_OK;
}

int
cmd_evidence(int argc, char **argv)
{
	static const char usage[] =
	    "usage: vmcrypt-agent evidence verify [--config FILE] [--evidence DIR]...\n"
	    "           [--pubkey FILE --signature FILE --report FILE] [--json]\n";

	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, stdout);
		printf("\nThe evidence log: what the agent saw and did to each VM, hash-chained\n"
		    "(STATE-DIR/evidence).  `evidence verify --help` says more.\n");
		return EXIT_OK;
	}
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	fprintf(stderr, "vmcrypt-agent: evidence: unknown subcommand '%s'\n", argv[1]);
	fputs(usage, stderr);
	return EXIT_USAGE;
}
