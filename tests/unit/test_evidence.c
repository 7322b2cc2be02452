/*
 * base/evidence.c: the chain written, rotated, continued, and every kind
 * of tampering found and named by file and line.  The hashes are checked
 * here against OpenSSL's SHA-256 of the lines as read from the file, not
 * against the writer's own bookkeeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence.h"

#define VC	"11111111-2222-3333-4444-555555555555"

static char *
tmpdir(void)
{
	char tpl[] = "/tmp/test-evidence-XXXXXX";
	char *d = mkdtemp(tpl);
	assert_non_null(d);
	char *out = malloc(strlen(d) + 10);
	sprintf(out, "%s/evidence", d);	/* created by evidence_open */
	return out;
}

static void
rmtree(const char *dir)
{
	char cmd[600];
	const char *slash = strrchr(dir, '/');
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(slash - dir), dir);
	assert_int_equal(system(cmd), 0);
}

static char *
path_of(const char *dir, unsigned num)
{
	static char p[600];
	snprintf(p, sizeof(p), "%s/evidence-%06u.jsonl", dir, num);
	return p;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void
spit(const char *path, const char *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

static struct evidence *
open_log(const char *dir, const char *vc, long max, char *note)
{
	char err[1024] = "", n[512];
	struct evidence *ev = evidence_open(dir, "test:/tmp#1", vc, "https://vc/sdk", max,
	    note ? note : n, 512, err, sizeof(err));
	if (ev == NULL)
		fail_msg("evidence_open: %s", err);
	return ev;
}

static void
write_n(struct evidence *ev, int n, int from)
{
	char err[512], vm[32], name[32];
	for (int i = 0; i < n; i++) {
		snprintf(vm, sizeof(vm), "vm-%d", from + i);
		snprintf(name, sizeof(name), "web \"%d\"\n", from + i);	/* quotes, newline */
		const struct evrec r = { .kind = "state", .vm = vm, .name = name,
		    .old = "pending", .new_ = "compliant", .code = "ok", .reason = "encrypted" };
		evidence_append(ev, &r);
	}
	assert_int_equal(evidence_flush(ev, err, sizeof(err)), 0);
}

/* verify: 0 or -1, with the line it names and why. */
static int
verify(const char *dir, long *line, char *err, size_t errlen)
{
	char bad[1024];
	long l = 0;
	int rc = evidence_verify(dir, NULL, NULL, bad, sizeof(bad), &l, NULL, NULL, err,
	    errlen);
	if (line)
		*line = l;
	return rc;
}

/* The lines of a file, as the file holds them. */
static int
lines_of(const char *path, char ***out)
{
	size_t len;
	char *b = slurp(path, &len), *s = b, *nl;
	int n = 0;
	*out = NULL;
	while ((nl = strchr(s, '\n')) != NULL) {
		*out = realloc(*out, sizeof(char *) * (size_t)(n + 1));
		(*out)[n++] = strndup(s, (size_t)(nl - s));
		s = nl + 1;
	}
	free(b);
	return n;
}

static void
free_lines(char **l, int n)
{
	for (int i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static void
sha_hex(const char *s, char out[65])
{
	unsigned char md[32];
	SHA256((const unsigned char *)s, strlen(s), md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* ---------------------------------------------------------------- */

static void
test_chain_as_written(void **st)
{
	(void)st;
	char *dir = tmpdir(), **l, h[65], err[1024];
	struct evidence *ev = open_log(dir, VC, 0, NULL);
	write_n(ev, 5, 0);
	long long seq;
	char head[65];
	evidence_head(ev, &seq, head);
	evidence_close(ev);

	int n = lines_of(path_of(dir, 1), &l);
	assert_int_equal(n, 5);
	char prev[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	for (int i = 0; i < n; i++) {
		json_object *o = json_tokener_parse(l[i]);
		assert_non_null(o);
		json_object *v;
		assert_true(json_object_object_get_ex(o, "seq", &v));
		assert_int_equal(json_object_get_int64(v), i + 1);
		assert_true(json_object_object_get_ex(o, "prev", &v));
		assert_string_equal(json_object_get_string(v), prev);
		assert_true(json_object_object_get_ex(o, "vcenter", &v));
		assert_string_equal(json_object_get_string(v), VC);
		/* the name with its quote and newline comes back as written */
		assert_true(json_object_object_get_ex(o, "name", &v));
		char want[32];
		snprintf(want, sizeof(want), "web \"%d\"\n", i);
		assert_string_equal(json_object_get_string(v), want);
		json_object_put(o);
		sha_hex(l[i], h);
		memcpy(prev, h, 65);
	}
	assert_int_equal(seq, 5);
	assert_string_equal(head, prev);
	assert_int_equal(verify(dir, NULL, err, sizeof(err)), 0);
	free_lines(l, n);
	rmtree(dir);
	free(dir);
}

/* Continued by a new open (a restart), rotated by size: one chain. */
static void
test_continue_and_rotate(void **st)
{
	(void)st;
	char *dir = tmpdir(), err[1024];
	struct evidence *ev = open_log(dir, VC, 2000, NULL);
	write_n(ev, 10, 0);
	evidence_close(ev);
	ev = open_log(dir, VC, 2000, NULL);
	write_n(ev, 10, 10);
	long long seq;
	char head[65];
	evidence_head(ev, &seq, head);
	evidence_close(ev);
	assert_int_equal(seq, 20);
	/* Several files, none past 2000 bytes, the chain whole. */
	struct stat sb;
	int files = 0;
	for (unsigned i = 1; stat(path_of(dir, i), &sb) == 0; i++, files++)
		assert_true(sb.st_size <= 2000);
	assert_true(files >= 3);
	long long hs;
	char hh[65], bad[1024];
	long line;
	assert_int_equal(evidence_verify(dir, NULL, NULL, bad, sizeof(bad), &line, &hs, hh, err,
	    sizeof(err)), 0);
	assert_int_equal(hs, 20);
	assert_string_equal(hh, head);
	/* A file in the middle removed: named. */
	char from[600], to[700];
	snprintf(from, sizeof(from), "%s", path_of(dir, 2));
	snprintf(to, sizeof(to), "%s.gone", from);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "evidence-000002.jsonl"));
	assert_non_null(strstr(err, "missing"));
	/* And the first file's last line cut at its newline: the next file's
	 * first record does not chain on. */
	assert_int_equal(rename(to, from), 0);
	char **l;
	int n = lines_of(path_of(dir, 1), &l);
	FILE *f = fopen(path_of(dir, 1), "wb");
	for (int i = 0; i < n - 1; i++)
		fprintf(f, "%s\n", l[i]);
	fclose(f);
	assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "evidence-000002.jsonl:1"));
	free_lines(l, n);
	rmtree(dir);
	free(dir);
}

/* Rewrites line `at` (1-based) of file 1 by f. */
typedef void (*tamper_fn)(char **l, int *n, int at);

static void
flip_byte(char **l, int *n, int at)
{
	(void)n;
	char *p = strstr(l[at - 1], "\"vm\":\"vm-");
	assert_non_null(p);
	p[9] ^= 1;			/* vm-3 -> vm-2: still valid JSON */
}

static void
delete_line(char **l, int *n, int at)
{
	free(l[at - 1]);
	memmove(&l[at - 1], &l[at], sizeof(char *) * (size_t)(*n - at));
	(*n)--;
}

static void
swap_lines(char **l, int *n, int at)
{
	(void)n;
	char *t = l[at - 1];
	l[at - 1] = l[at];
	l[at] = t;
}

static void
tamper(const char *dir, tamper_fn fn, int at)
{
	char **l;
	int n = lines_of(path_of(dir, 1), &l);
	fn(l, &n, at);
	FILE *f = fopen(path_of(dir, 1), "wb");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n", l[i]);
	fclose(f);
	free_lines(l, n);
}

static void
test_tampering_named(void **st)
{
	(void)st;
	static const struct {
		tamper_fn	 fn;
		int		 at;
		long		 line;		/* the line verify names */
		const char	*why;
	} cases[] = {
		{ flip_byte, 4, 4, "changed" },
		{ flip_byte, 1, 1, "changed" },
		{ delete_line, 4, 4, "missing" },
		{ swap_lines, 4, 4, "seq 5 after seq 3" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = tmpdir(), err[1024];
		long line;
		struct evidence *ev = open_log(dir, VC, 0, NULL);
		write_n(ev, 8, 0);
		evidence_close(ev);
		assert_int_equal(verify(dir, NULL, err, sizeof(err)), 0);
		tamper(dir, cases[i].fn, cases[i].at);
		assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
		if (line != cases[i].line || strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: line %ld: %s", i, line, err);
		/* and the agent will not continue it */
		char n[512];
		assert_null(evidence_open(dir, "x", VC, "u", 0, n, sizeof(n), err, sizeof(err)));
		assert_non_null(strstr(err, "evidence-000001.jsonl:"));
		rmtree(dir);
		free(dir);
	}
}

static int
count_records(void *arg, json_object *rec, const char *file, long line)
{
	(void)rec;
	(void)file;
	(void)line;
	(*(int *)arg)++;
	return 0;
}

/* A write cut short (SIGKILL mid-line): open keeps its bytes in a "torn"
 * record, says so, and the chain goes on whole. */
static void
test_torn_last_line(void **st)
{
	(void)st;
	char *dir = tmpdir(), err[1024], note[512] = "";
	struct evidence *ev = open_log(dir, VC, 0, NULL);
	write_n(ev, 3, 0);
	evidence_close(ev);
	/* verify alone: the cut file is named */
	size_t len;
	char *b = slurp(path_of(dir, 1), &len);
	spit(path_of(dir, 1), b, len - 7);
	long line;
	assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
	assert_int_equal(line, 3);
	assert_non_null(strstr(err, "no end"));
	/* a reader beside the running agent takes the whole lines before it
	 * (the last one may be a write in progress) */
	int seen = 0;
	assert_int_equal(evidence_read_live(dir, count_records, &seen, err, sizeof(err)), 0);
	assert_int_equal(seen, 2);
	/* the agent starting again repairs it in the open */
	ev = open_log(dir, VC, 0, note);
	assert_non_null(strstr(note, "had no end"));
	write_n(ev, 1, 3);
	evidence_close(ev);
	assert_int_equal(verify(dir, NULL, err, sizeof(err)), 0);
	char **l;
	int n = lines_of(path_of(dir, 1), &l);
	assert_int_equal(n, 4);		/* 2 whole, torn, 1 new */
	json_object *o = json_tokener_parse(l[2]), *v;
	assert_true(json_object_object_get_ex(o, "kind", &v));
	assert_string_equal(json_object_get_string(v), "torn");
	assert_true(json_object_object_get_ex(o, "bytes", &v));
	size_t cut = len - 7, whole = cut;
	while (whole > 0 && b[whole - 1] != '\n')
		whole--;
	assert_int_equal(json_object_get_int64(v), (long long)(cut - whole));
	json_object_put(o);
	free_lines(l, n);
	free(b);
	rmtree(dir);
	free(dir);
}

static void
test_other_vcenter_refused(void **st)
{
	(void)st;
	char *dir = tmpdir(), err[1024], note[512];
	struct evidence *ev = open_log(dir, VC, 0, NULL);
	write_n(ev, 2, 0);
	evidence_close(ev);
	size_t before_len, after_len;
	char *before = slurp(path_of(dir, 1), &before_len);
	assert_null(evidence_open(dir, "x", "99999999-0000-0000-0000-000000000000", "u", 0,
	    note, sizeof(note), err, sizeof(err)));
	assert_non_null(strstr(err, VC));
	assert_non_null(strstr(err, "its own state directory"));
	char *after = slurp(path_of(dir, 1), &after_len);
	assert_int_equal(before_len, after_len);	/* nothing written */
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
	rmtree(dir);
	free(dir);
}

/* Lines that are not records: each named, nothing crashes. */
static void
test_garbage_named(void **st)
{
	(void)st;
	static const char *const bad[] = {
		"not json\n",
		"[1,2]\n",
		"{\"v\":2,\"seq\":1}\n",
		"{\"v\":1,\"seq\":1,\"prev\":\"abc\",\"at\":\"x\",\"kind\":\"open\"}\n",
		"{\"v\":1,\"seq\":0,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"x\",\"kind\":\"open\"}\n",
		"{\"v\":1,\"seq\":2,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"x\",\"kind\":\"open\"}\n",
		"{\"v\":1,\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"x\",\"kind\":\"open\"} trailing\n",
		"{\"v\":1,\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"x\"}\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *dir = tmpdir(), err[1024];
		long line;
		struct evidence *ev = open_log(dir, VC, 0, NULL);
		evidence_close(ev);
		spit(path_of(dir, 1), bad[i], strlen(bad[i]));
		assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
		if (line != 1)
			fail_msg("case %zu: line %ld: %s", i, line, err);
		rmtree(dir);
		free(dir);
	}
	/* A line of 2 MB: too long, named, never held whole. */
	char *dir = tmpdir(), err[1024];
	long line;
	evidence_close(open_log(dir, VC, 0, NULL));
	size_t big = 2u << 20;
	char *b = malloc(big + 1);
	memset(b, 'x', big);
	b[big] = '\n';
	spit(path_of(dir, 1), b, big + 1);
	assert_int_equal(verify(dir, &line, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than any record"));
	free(b);
	rmtree(dir);
	free(dir);
}

/* Every byte a name can hold (1..255) comes back as written, through
 * json-c's reader: the writer escapes what JSON requires and no more. */
static void
test_every_byte_escaped(void **st)
{
	(void)st;
	char *dir = tmpdir(), name[256], err[1024];
	for (int i = 1; i < 256; i++)
		name[i - 1] = (char)i;
	name[255] = '\0';
	struct evidence *ev = open_log(dir, VC, 0, NULL);
	const struct evrec r = { .kind = "state", .vm = "vm-1", .name = name, .reason = "\"\\/" };
	evidence_append(ev, &r);
	evidence_close(ev);
	assert_int_equal(verify(dir, NULL, err, sizeof(err)), 0);
	char **l;
	int n = lines_of(path_of(dir, 1), &l);
	assert_int_equal(n, 1);
	json_object *o = json_tokener_parse(l[0]), *v;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_int_equal(json_object_get_string_len(v), 255);
	assert_memory_equal(json_object_get_string(v), name, 255);
	assert_true(json_object_object_get_ex(o, "reason", &v));
	assert_string_equal(json_object_get_string(v), "\"\\/");
	json_object_put(o);
	free_lines(l, n);
	rmtree(dir);
	free(dir);
}

struct writer {
	struct evidence	*ev;
	int		 id;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char err[256];
	for (int i = 0; i < 200; i++) {
		char vm[32];
		snprintf(vm, sizeof(vm), "vm-%d-%d", w->id, i);
		const struct evrec r = { .kind = "state", .vm = vm, .new_ = "compliant" };
		evidence_append(w->ev, &r);
		if (i % 17 == 0 && evidence_flush(w->ev, err, sizeof(err)) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Four threads appending and flushing at once: one chain, every record. */
static void
test_threads(void **st)
{
	(void)st;
	char *dir = tmpdir(), err[1024];
	struct evidence *ev = open_log(dir, VC, 4096, NULL);
	pthread_t t[4];
	struct writer w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ ev, i };
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	evidence_close(ev);
	long long hs;
	char hh[65], bad[1024];
	long line;
	assert_int_equal(evidence_verify(dir, NULL, NULL, bad, sizeof(bad), &line, &hs, hh, err,
	    sizeof(err)), 0);
	assert_int_equal(hs, 800);
	rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_as_written),
		cmocka_unit_test(test_continue_and_rotate),
		cmocka_unit_test(test_tampering_named),
		cmocka_unit_test(test_torn_last_line),
		cmocka_unit_test(test_other_vcenter_refused),
		cmocka_unit_test(test_garbage_named),
		cmocka_unit_test(test_every_byte_escaped),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
