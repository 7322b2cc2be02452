/*
 * The evidence log read back and checked (evidread.h): its files, its
 * lines through one bounded buffer, and the walk along the chain that
 * evidence_verify() runs over every file and evidence_open() over the
 * last ones.
 *
 * Checking: every line of every file in order.  A line that is not a
 * record, a seq that does not follow, a prev that is not the hash of the
 * line before, another vCenter: the first one found is the break, named
 * by file and line.  A record changed after it was written keeps its own
 * seq and prev: it shows as the next record's prev not matching, so on
 * such a mismatch the walk looks one line further: if that line chains on
 * from the mismatching one, the record before it was the one changed.
 */
#include "evidread.h"

#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
evhash_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void
evfile_name(char name[EVIDENCE_NAME_LEN], unsigned num)
{
	snprintf(name, EVIDENCE_NAME_LEN, "evidence-%06u.jsonl", num);
}

/* "evidence-NNNNNN.jsonl" -> NNNNNN; 0 for any other name. */
static unsigned
file_num(const char *name)
{
	unsigned n = 0;

	if (strlen(name) != 21 || strncmp(name, "evidence-", 9) != 0 ||
	    strcmp(name + 15, ".jsonl") != 0)
		return 0;
	for (int i = 9; i < 15; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		n = n * 10 + (unsigned)(name[i] - '0');
	}
	return n;
}

static int
by_num(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

/* The log's files, ascending.  0 (no directory: none), or -1 with err. */
int
evfile_list(const char *dir, unsigned **nums, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*nums = NULL;
	*n = 0;
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned num = file_num(de->d_name);
		if (num == 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*nums = xreallocarray(*nums, cap, sizeof(**nums));
		}
		(*nums)[(*n)++] = num;
	}
	closedir(d);
	if (*n > 1)
		qsort(*nums, *n, sizeof(**nums), by_num);
	return 0;
}

/* ---------------------------------------------------------------- */
/* reading: lines, bounded                                            */

struct reader {
	FILE	*f;
	char	*line;
	size_t	 len, cap;
	long	 no;
	off_t	 start, off;	/* the line's first byte; the next one's */
	int	 nl;		/* it ended with a newline */
	int	 tooLong;
	size_t	 whole;		/* its length, even when too long */
};

/* Next line: 1, or 0 at the end.  A line past EVIDENCE_LINE_MAX is read to
 * its end but not kept (tooLong). */
static int
reader_next(struct reader *r)
{
	int ch;

	r->len = 0;
	r->whole = 0;
	r->nl = 0;
	r->tooLong = 0;
	r->start = r->off;
	while ((ch = getc_unlocked(r->f)) != EOF) {
		r->off++;
		if (ch == '\n') {
			r->nl = 1;
			break;
		}
		r->whole++;
		if (r->whole > EVIDENCE_LINE_MAX) {
			r->tooLong = 1;
			continue;
		}
		if (r->len + 1 >= r->cap) {
			r->cap = r->cap ? r->cap * 2 : 4096;
			r->line = xreallocarray(r->line, r->cap, 1);
		}
		r->line[r->len++] = (char)ch;
	}
	if (r->whole == 0 && !r->nl)
		return 0;
	if (r->line)
		r->line[r->len] = '\0';
	r->no++;
	return 1;
}

/* ---------------------------------------------------------------- */
/* checking: the walk along the chain                                  */



static int
walk_break(struct evwalk *w, const char *file, long no, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
walk_break(struct evwalk *w, const char *file, long no, const char *fmt, ...)
{
	va_list ap;

	w->broken = 1;
	snprintf(w->bad_file, sizeof(w->bad_file), "%s", file);
	w->bad_no = no;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static int
is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* The line as a record: its object (to put), or NULL with why. */
static json_object *
parse_record(const char *text, size_t len, long long *seq, const char **prev, char *why,
    size_t whylen)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o, *v;

	if (memchr(text, '\0', len) != NULL) {
		snprintf(why, whylen, "a NUL byte in the line: not a record");
		json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		snprintf(why, whylen, "not a JSON object (%s)",
		    o == NULL ? json_tokener_error_desc(json_tokener_get_error(tok)) :
		    "text after it");
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "JSON, but not an object");
		goto bad;
	}
	if (!json_object_object_get_ex(o, "v", &v) || !json_object_is_type(v, json_type_int)) {
		snprintf(why, whylen, "no \"v\": not a record of the evidence log");
		goto bad;
	}
	if (json_object_get_int64(v) != EVIDENCE_VERSION) {
		snprintf(why, whylen, "record version %lld: this agent reads version %d",
		    (long long)json_object_get_int64(v), EVIDENCE_VERSION);
		goto bad;
	}
	if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1) {
		snprintf(why, whylen, "no valid \"seq\"");
		goto bad;
	}
	*seq = json_object_get_int64(v);
	*prev = jstr(o, "prev");
	if (!is_hex64(*prev)) {
		snprintf(why, whylen, "no valid \"prev\" (64 hex digits)");
		goto bad;
	}
	if (jstr(o, "kind") == NULL || jstr(o, "at") == NULL) {
		snprintf(why, whylen, "no \"kind\" or \"at\"");
		goto bad;
	}
	return o;
bad:
	json_object_put(o);
	return NULL;
}

/* Gives a good record to cb.  1 when cb stopped the walk. */
static int
walk_give(struct evwalk *w, json_object *o, const char *file, long no)
{
	w->records++;
	if (w->cb != NULL && w->cb(w->arg, o, file, no) != 0) {
		w->stopped = 1;
		return 1;
	}
	return 0;
}

/*
 * One complete line (its newline seen).  0 on, 1 stopped by cb, -1 broken.
 */
static int
walk_line(struct evwalk *w, const char *file, long no, const char *text, size_t len)
{
	char why[256], h[65];
	long long seq;
	const char *prev;
	json_object *o = parse_record(text, len, &seq, &prev, why, sizeof(why));
	int rc = 0;

	if (o == NULL) {
		if (w->suspect)
			return walk_break(w, w->sus.file, w->sus.no, "its \"prev\" is not the hash "
			    "of the record before it (%s:%ld): one of the two was changed",
			    w->last.file, w->last.no);
		return walk_break(w, file, no, "%s", why);
	}
	evhash_hex(text, len, h);
	if (w->suspect) {
		/* The line after a mismatch: does it chain on from it? */
		if (seq == w->sus.seq + 1 && strcmp(prev, w->sus.hash) == 0)
			rc = walk_break(w, w->last.file, w->last.no, "this record was changed after "
			    "it was written: the record after it (%s:%ld) names another hash "
			    "for it", w->sus.file, w->sus.no);
		else
			rc = walk_break(w, w->sus.file, w->sus.no, "its \"prev\" is not the hash "
			    "of the record before it (%s:%ld)", w->last.file, w->last.no);
		json_object_put(o);
		return rc;
	}
	if (!w->seeded) {
		if (seq != 1 || strcmp(prev, EVIDENCE_ZERO_HASH) != 0) {
			rc = walk_break(w, file, no, "the log starts at seq %lld, not 1: its "
			    "first records (or files) are missing", seq);
			goto out;
		}
	} else if (seq != w->last.seq + 1) {
		if (seq <= w->last.seq)
			rc = walk_break(w, file, no, "seq %lld after seq %lld: records out of "
			    "order (moved or repeated)", seq, w->last.seq);
		else
			rc = walk_break(w, file, no, "seq %lld after seq %lld: %lld record%s "
			    "missing before this line", seq, w->last.seq, seq - w->last.seq - 1,
			    seq - w->last.seq - 1 == 1 ? " is" : "s are");
		goto out;
	} else if (strcmp(prev, w->last.hash) != 0) {
		/* Hold it: the next line says which of the two was changed. */
		w->suspect = 1;
		snprintf(w->sus.file, sizeof(w->sus.file), "%s", file);
		w->sus.no = no;
		w->sus.seq = seq;
		memcpy(w->sus.hash, h, sizeof(h));
		goto out;
	}
	const char *vc = jstr(o, "vcenter");
	if (vc != NULL && vc[0] != '\0') {
		if (w->vcenter[0] == '\0')
			snprintf(w->vcenter, sizeof(w->vcenter), "%s", vc);
		else if (strcmp(w->vcenter, vc) != 0) {
			rc = walk_break(w, file, no, "a record of vCenter %s in the log of "
			    "vCenter %s: one log per vCenter", vc, w->vcenter);
			goto out;
		}
	}
	w->before = w->last;
	snprintf(w->last.file, sizeof(w->last.file), "%s", file);
	w->last.no = no;
	w->last.seq = seq;
	memcpy(w->last.hash, h, sizeof(h));
	w->seeded = 1;
	rc = walk_give(w, o, file, no);
out:
	json_object_put(o);
	return rc;
}

/* The end of the log. */
int
evwalk_end(struct evwalk *w)
{
	if (w->suspect && !w->broken)
		return walk_break(w, w->sus.file, w->sus.no, "its \"prev\" is not the hash of "
		    "the record before it (%s:%ld): one of the two was changed", w->last.file,
		    w->last.no);
	return w->broken ? -1 : 0;
}

/*
 * Walks one file.  A last line without its newline: *torn_at (if not
 * NULL) gets its offset and the walk goes on (open cuts it off);
 * otherwise it is a break.  0, 1 (cb stopped) or -1.
 */
int
evwalk_file(struct evwalk *w, const char *dir, unsigned num, off_t *torn_at, char **torn,
    size_t *torn_len)
{
	char name[EVIDENCE_NAME_LEN], path[4096];
	struct reader r = { 0 };
	struct stat st;
	int rc = 0;

	evfile_name(name, num);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((r.f = fopen(path, "re")) == NULL)
		return walk_break(w, name, 0, "cannot read it: %s", strerror(errno));
	if (fstat(fileno(r.f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(r.f);
		return walk_break(w, name, 0, "not a regular file");
	}
	while (rc == 0 && reader_next(&r)) {
		if (r.tooLong) {
			rc = walk_break(w, name, r.no, "a line of %zu bytes: longer than any record "
			    "(%d bytes at most)", r.whole, EVIDENCE_LINE_MAX);
		} else if (!r.nl) {
			if (torn_at != NULL) {
				*torn_at = r.start;
				*torn = xmalloc(r.len + 1);
				memcpy(*torn, r.line, r.len + 1);
				*torn_len = r.whole;
				break;
			}
			rc = walk_break(w, name, r.no, "the last line has no end (%zu bytes): the "
			    "file was cut short", r.whole);
		} else {
			rc = walk_line(w, name, r.no, r.line ? r.line : "", r.len);
		}
	}
	if (rc == 0 && ferror(r.f))
		rc = walk_break(w, name, r.no + 1, "read error: %s", strerror(errno));
	fclose(r.f);
	free(r.line);
	return rc;
}

void
evwalk_error(const struct evwalk *w, const char *dir, char *err, size_t errlen)
{
	if (w->bad_no > 0)
		snprintf(err, errlen, "%s/%s:%ld: %s", dir, w->bad_file, w->bad_no, w->why);
	else
		snprintf(err, errlen, "%s/%s: %s", dir, w->bad_file, w->why);
}

/* live: a last line still being written (no newline yet) ends the walk
 * instead of breaking it (a reader beside the running agent). */
static int
verify(const char *dir, evidence_cb cb, void *arg, int live, char *bad_file,
    size_t bad_file_len, long *bad_line, long long *head_seq, char head_hash[65],
    char *err, size_t errlen)
{
	struct evwalk w = { .cb = cb, .arg = arg };
	unsigned *nums;
	size_t n;
	int rc = 0;

	if (bad_file && bad_file_len)
		bad_file[0] = '\0';
	if (bad_line)
		*bad_line = 0;
	if (evfile_list(dir, &nums, &n, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char name[EVIDENCE_NAME_LEN];
		if (nums[i] != (i == 0 ? 1 : nums[i - 1] + 1)) {
			evfile_name(name, i == 0 ? 1 : nums[i - 1] + 1);
			rc = walk_break(&w, name, 0, "this file is missing (the next is "
			    "evidence-%06u.jsonl)", nums[i]);
			break;
		}
		off_t at = 0;
		char *torn = NULL;
		size_t tlen = 0;
		rc = evwalk_file(&w, dir, nums[i], live && i + 1 == n ? &at : NULL, &torn, &tlen);
		free(torn);
	}
	free(nums);
	if (rc == 0)
		rc = evwalk_end(&w);
	if (rc == 1)
		rc = 0;
	if (head_seq)
		*head_seq = w.last.seq;
	if (head_hash)
		memcpy(head_hash, w.seeded ? w.last.hash : EVIDENCE_ZERO_HASH, 65);
	if (rc != 0) {
		if (bad_file && bad_file_len)
			snprintf(bad_file, bad_file_len, "%s/%s", dir, w.bad_file);
		if (bad_line)
			*bad_line = w.bad_no;
		evwalk_error(&w, dir, err, errlen);
		return -1;
	}
	return 0;
}

int
evidence_verify(const char *dir, evidence_cb cb, void *arg, char *bad_file,
    size_t bad_file_len, long *bad_line, long long *head_seq, char head_hash[65],
    char *err, size_t errlen)
{
	return verify(dir, cb, arg, 0, bad_file, bad_file_len, bad_line, head_seq, head_hash,
	    err, errlen);
}

int
evidence_read_live(const char *dir, evidence_cb cb, void *arg, char *err, size_t errlen)
{
	return verify(dir, cb, arg, 1, NULL, 0, NULL, NULL, NULL, err, errlen);
}

/* The file holds at least one whole line (a newline). */
int
evfile_has_whole_line(const char *dir, unsigned num)
{
	char name[EVIDENCE_NAME_LEN], path[4096], buf[8192];
	int fd, found = 0;
	ssize_t got;

	evfile_name(name, num);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;		/* the walk says why */
	while (!found && (got = read(fd, buf, sizeof(buf))) > 0)
		found = memchr(buf, '\n', (size_t)got) != NULL;
	close(fd);
	return found;
}

/*
 * Seeds the walk from file num's first record: a file after the first
 * continues the chain of the one before, so its first record's seq and
 * prev are taken as the record before (checked by `evidence verify`).
 * A first record that is not one is left to the walk to name.
 */
int
evwalk_seed(struct evwalk *w, const char *dir, unsigned num, char *err, size_t errlen)
{
	char name[EVIDENCE_NAME_LEN], path[4096], why[256];
	struct reader r = { 0 };
	long long seq;
	const char *prev;

	evfile_name(name, num);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((r.f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(errno));
		return -1;
	}
	if (reader_next(&r) && r.nl && !r.tooLong) {
		json_object *o = parse_record(r.line ? r.line : "", r.len, &seq, &prev, why,
		    sizeof(why));
		if (o != NULL && seq > 1) {
			w->seeded = 1;
			w->last.seq = seq - 1;
			memcpy(w->last.hash, prev, 65);
			snprintf(w->last.file, sizeof(w->last.file), "the file before");
		}
		json_object_put(o);
	}
	fclose(r.f);
	free(r.line);
	return 0;
}
