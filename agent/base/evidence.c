/*
 * The evidence log (evidence.h): hash-chained JSON lines, written by one
 * agent, read back and checked by anyone.
 *
 * Writing: evidence_append() builds the record's line under the chain's
 * mutex (its seq and prev come from the record before), hashes it and
 * adds it to a buffer; evidence_flush() takes the buffer under the writer's
 * mutex, writes it (rotating files by size between lines) and fdatasync()s.
 * A flush that fails cuts its file back to what was on disk before it and
 * puts its lines back in front of the buffer: the next flush writes them
 * again, in order, and nothing half-written stays in the file.
 *
 * Checking: every line of every file in order (struct walk).  A line that
 * is not a record, a seq that does not follow, a prev that is not the hash
 * of the line before, another vCenter: the first one found is the break,
 * named by file and line.  A record changed after it was written keeps its
 * own seq and prev: it shows as the next record's prev not matching, so on
 * such a mismatch the walk looks one line further: if that line chains on
 * from the mismatching one, the record before it was the one changed.
 */
#include "evidence.h"

#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES	(1024 * 1024)	/* a record's line, newline not counted */
#define TORN_KEEP	4096		/* bytes of a torn line kept in its record */
#define ZERO_HASH	"0000000000000000000000000000000000000000000000000000000000000000"
#define NAME_LEN	32

struct evidence {
	pthread_mutex_t	 mu;		/* the chain's head and the buffer */
	pthread_mutex_t	 wmu;		/* one flush at a time: the file */
	char		*dir, *identity, *vcenter, *vc_url;
	long		 max_bytes;
	long long	 seq;
	char		 hash[65];
	char		*buf;		/* lines appended, not yet written */
	size_t		 len, cap;
	char		*spare;		/* the buffer the last flush wrote, kept */
	size_t		 spare_cap;
	int		 fd;
	unsigned	 num;		/* the file being written */
	off_t		 size;		/* its bytes on disk */
};

static void
hash_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
file_name(char name[NAME_LEN], unsigned num)
{
	snprintf(name, NAME_LEN, "evidence-%06u.jsonl", num);
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
static int
list_files(const char *dir, unsigned **nums, size_t *n, char *err, size_t errlen)
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

/* Next line: 1, or 0 at the end.  A line past LINE_MAX_BYTES is read to
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
		if (r->whole > LINE_MAX_BYTES) {
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

struct spot {
	char		 file[NAME_LEN];
	long		 no;
	long long	 seq;
	char		 hash[65];
};

struct walk {
	evidence_cb	 cb;
	void		*arg;
	int		 seeded;	/* prev/seq known (any record before) */
	struct spot	 last;		/* the last good record */
	struct spot	 before;	/* the one before it */
	char		 vcenter[256];
	/* a record whose prev did not match, waiting for the next line */
	int		 suspect;
	struct spot	 sus;
	char		 sus_prev[65];
	/* the break */
	int		 broken;
	char		 bad_file[NAME_LEN];
	long		 bad_no;
	char		 why[768];
	int		 stopped;
	long long	 records;
};

static int
walk_break(struct walk *w, const char *file, long no, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
walk_break(struct walk *w, const char *file, long no, const char *fmt, ...)
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
walk_give(struct walk *w, json_object *o, const char *file, long no)
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
walk_line(struct walk *w, const char *file, long no, const char *text, size_t len)
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
	hash_hex(text, len, h);
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
		if (seq != 1 || strcmp(prev, ZERO_HASH) != 0) {
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
static int
walk_end(struct walk *w)
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
static int
walk_file(struct walk *w, const char *dir, unsigned num, off_t *torn_at, char **torn,
    size_t *torn_len)
{
	char name[NAME_LEN], path[4096];
	struct reader r = { 0 };
	struct stat st;
	int rc = 0;

	file_name(name, num);
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
			    "(%d bytes at most)", r.whole, LINE_MAX_BYTES);
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

int
evidence_verify(const char *dir, evidence_cb cb, void *arg, char *bad_file,
    size_t bad_file_len, long *bad_line, long long *head_seq, char head_hash[65],
    char *err, size_t errlen)
{
	struct walk w = { .cb = cb, .arg = arg };
	unsigned *nums;
	size_t n;
	int rc = 0;

	if (bad_file && bad_file_len)
		bad_file[0] = '\0';
	if (bad_line)
		*bad_line = 0;
	if (list_files(dir, &nums, &n, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char name[NAME_LEN];
		if (nums[i] != (i == 0 ? 1 : nums[i - 1] + 1)) {
			file_name(name, i == 0 ? 1 : nums[i - 1] + 1);
			rc = walk_break(&w, name, 0, "this file is missing (the next is "
			    "evidence-%06u.jsonl)", nums[i]);
			break;
		}
		rc = walk_file(&w, dir, nums[i], NULL, NULL, NULL);
	}
	free(nums);
	if (rc == 0)
		rc = walk_end(&w);
	if (rc == 1)
		rc = 0;
	if (head_seq)
		*head_seq = w.last.seq;
	if (head_hash)
		memcpy(head_hash, w.seeded ? w.last.hash : ZERO_HASH, 65);
	if (rc != 0) {
		if (bad_file && bad_file_len)
			snprintf(bad_file, bad_file_len, "%s/%s", dir, w.bad_file);
		if (bad_line)
			*bad_line = w.bad_no;
		if (w.bad_no > 0)
			snprintf(err, errlen, "%s/%s:%ld: %s", dir, w.bad_file, w.bad_no, w.why);
		else
			snprintf(err, errlen, "%s/%s: %s", dir, w.bad_file, w.why);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* writing                                                            */

static void
now_utc(char out[64])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Room for n more bytes in the buffer (ev->mu held); a buffer the last
 * flush wrote is used again rather than allocated anew. */
static void
room(struct evidence *ev, size_t n)
{
	if (ev->buf == NULL && ev->spare != NULL) {
		ev->buf = ev->spare;
		ev->cap = ev->spare_cap;
		ev->spare = NULL;
	}
	if (ev->len + n <= ev->cap)
		return;
	while (ev->len + n > ev->cap)
		ev->cap = ev->cap ? ev->cap * 2 : 65536;
	ev->buf = xreallocarray(ev->buf, ev->cap, 1);
}

static void
put(struct evidence *ev, const char *s, size_t n)
{
	room(ev, n);
	memcpy(ev->buf + ev->len, s, n);
	ev->len += n;
}

/*
 * ,"key":"value" with value escaped as JSON requires (quote, backslash,
 * control characters); other bytes as they are, as json-c writes them.
 * Written straight into the buffer: json-c objects cost about twenty
 * allocations a record (BENCHMARKS.md, issue #23).
 */
static void
put_str(struct evidence *ev, const char *key, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	size_t klen;

	if (v == NULL || v[0] == '\0')
		return;
	klen = strlen(key);
	room(ev, klen + 6 + 6 * strlen(v));
	char *o = ev->buf + ev->len;
	*o++ = ',';
	*o++ = '"';
	memcpy(o, key, klen);
	o += klen;
	*o++ = '"';
	*o++ = ':';
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '"':  *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		default:
			if (*p < 0x20) {
				memcpy(o, "\\u00", 4);
				o[4] = hex[*p >> 4];
				o[5] = hex[*p & 15];
				o += 6;
			} else {
				*o++ = (char)*p;
			}
		}
	}
	*o++ = '"';
	ev->len = (size_t)(o - ev->buf);
}

/* Appends one line (its hash becomes the head).  ev->mu held. */
static long long
append_locked(struct evidence *ev, const struct evrec *r, const char *torn_b64,
    long long torn_bytes)
{
	char at[64], head[256];
	size_t start;
	int n;

	now_utc(at);
	room(ev, 1);
	start = ev->len;
	n = snprintf(head, sizeof(head), "{\"v\":%d,\"seq\":%lld,\"prev\":\"%s\",\"at\":\"%s\"",
	    EVIDENCE_VERSION, ev->seq + 1, ev->hash, at);
	put(ev, head, (size_t)n);
	put_str(ev, "kind", r->kind);
	put_str(ev, "agent", ev->identity);
	put_str(ev, "vcenter", ev->vcenter);
	put_str(ev, "vc_url", ev->vc_url);
	put_str(ev, "vc_time", r->vc_time);
	put_str(ev, "vm", r->vm);
	put_str(ev, "uuid", r->uuid);
	put_str(ev, "name", r->name);
	put_str(ev, "created", r->created);
	put_str(ev, "old", r->old);
	put_str(ev, "new", r->new_);
	put_str(ev, "code", r->code);
	put_str(ev, "reason", r->reason);
	put_str(ev, "actions", r->actions);
	put_str(ev, "result", r->result);
	put_str(ev, "task", r->task);
	put_str(ev, "fault", r->fault);
	put_str(ev, "provider", r->provider);
	put_str(ev, "key_id", r->key_id);
	put_str(ev, "text", torn_b64);
	if (torn_bytes >= 0) {
		n = snprintf(head, sizeof(head), ",\"bytes\":%lld", torn_bytes);
		put(ev, head, (size_t)n);
	}
	put_str(ev, "version", r->version);
	put(ev, "}", 1);
	hash_hex(ev->buf + start, ev->len - start, ev->hash);
	put(ev, "\n", 1);
	ev->seq++;
	return ev->seq;
}

long long
evidence_append(struct evidence *ev, const struct evrec *r)
{
	long long seq;

	pthread_mutex_lock(&ev->mu);
	seq = append_locked(ev, r, NULL, -1);
	pthread_mutex_unlock(&ev->mu);
	return seq;
}

static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
open_file(struct evidence *ev, unsigned num, int create, char *err, size_t errlen)
{
	char name[NAME_LEN], path[4096];
	struct stat st;

	file_name(name, num);
	snprintf(path, sizeof(path), "%s/%s", ev->dir, name);
	ev->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
	    (create ? O_CREAT | O_EXCL : 0), 0600);
	if (ev->fd < 0 || fstat(ev->fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot open it for writing: %s", path, strerror(errno));
		if (ev->fd >= 0)
			close(ev->fd);
		ev->fd = -1;
		return -1;
	}
	ev->num = num;
	ev->size = st.st_size;
	if (create && sync_dir(ev->dir) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", ev->dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes data (whole lines) to the log, rotating between lines.  0, or -1
 * with err and *done the bytes written and synced for good. */
static int
write_lines(struct evidence *ev, const char *data, size_t n, size_t *done, char *err,
    size_t errlen)
{
	size_t at = 0;

	*done = 0;
	while (at < n) {
		/* As many whole lines as fit in this file (at least one). */
		size_t end = at;
		while (end < n) {
			const char *nl = memchr(data + end, '\n', n - end);
			size_t next = (size_t)(nl - data) + 1;
			if (end > at && ev->size + (off_t)(next - at) > ev->max_bytes)
				break;
			if (end == at && ev->size > 0 && ev->size + (off_t)(next - at) > ev->max_bytes)
				break;
			end = next;
		}
		if (end == at) {
			/* This file is full: the next one. */
			if (fdatasync(ev->fd) != 0) {
				snprintf(err, errlen, "fdatasync: %s", strerror(errno));
				return -1;
			}
			close(ev->fd);
			ev->fd = -1;
			if (open_file(ev, ev->num + 1, 1, err, errlen) != 0)
				return -1;
			continue;
		}
		if (write_all(ev->fd, data + at, end - at) != 0 || fdatasync(ev->fd) != 0) {
			char name[NAME_LEN];
			file_name(name, ev->num);
			snprintf(err, errlen, "%s/%s: %s", ev->dir, name, strerror(errno));
			/* Nothing half-written stays: the file is cut back. */
			if (ftruncate(ev->fd, ev->size) != 0)
				(void)0;
			return -1;
		}
		ev->size += (off_t)(end - at);
		at = end;
		*done = at;
	}
	return 0;
}

int
evidence_flush(struct evidence *ev, char *err, size_t errlen)
{
	char *data;
	size_t n, done, dcap;
	int rc = 0;

	pthread_mutex_lock(&ev->wmu);
	pthread_mutex_lock(&ev->mu);
	data = ev->buf;
	n = ev->len;
	dcap = ev->cap;
	ev->buf = NULL;
	ev->len = ev->cap = 0;
	pthread_mutex_unlock(&ev->mu);
	if (n > 0 && ev->fd < 0) {
		snprintf(err, errlen, "%s: the log is not open", ev->dir);
		done = 0;
		rc = -1;
	} else if (n > 0) {
		rc = write_lines(ev, data, n, &done, err, errlen);
	}
	if (rc != 0) {
		/* What was not written goes back in front of what came since. */
		pthread_mutex_lock(&ev->mu);
		size_t left = n - done;
		char *nb = xmalloc(left + ev->len + 1);
		memcpy(nb, data + done, left);
		if (ev->len)
			memcpy(nb + left, ev->buf, ev->len);
		free(ev->buf);
		ev->buf = nb;
		ev->len += left;
		ev->cap = ev->len + 1;
		pthread_mutex_unlock(&ev->mu);
		free(data);
	} else if (data != NULL) {
		pthread_mutex_lock(&ev->mu);
		if (ev->spare == NULL && dcap <= 4u * 1024 * 1024) {
			ev->spare = data;
			ev->spare_cap = dcap;
			data = NULL;
		}
		pthread_mutex_unlock(&ev->mu);
		free(data);
	}
	pthread_mutex_unlock(&ev->wmu);
	return rc;
}

void
evidence_head(struct evidence *ev, long long *seq, char hash[65])
{
	pthread_mutex_lock(&ev->mu);
	*seq = ev->seq;
	memcpy(hash, ev->hash, 65);
	pthread_mutex_unlock(&ev->mu);
}

void
evidence_close(struct evidence *ev)
{
	char err[512];

	if (ev == NULL)
		return;
	(void)evidence_flush(ev, err, sizeof(err));
	if (ev->fd >= 0)
		close(ev->fd);
	pthread_mutex_destroy(&ev->mu);
	pthread_mutex_destroy(&ev->wmu);
	free(ev->buf);
	free(ev->spare);
	free(ev->dir);
	free(ev->identity);
	free(ev->vcenter);
	free(ev->vc_url);
	free(ev);
}

/* mkdir -p, 0700 for what it makes. */
static int
make_dirs(const char *dir, char *err, size_t errlen)
{
	char p[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(p)) {
		snprintf(err, errlen, "evidence directory name empty or too long");
		return -1;
	}
	memcpy(p, dir, len + 1);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "%s: cannot create it: %s", p, strerror(errno));
				return -1;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* The file holds at least one whole line (a newline). */
static int
has_whole_line(const char *dir, unsigned num)
{
	char name[NAME_LEN], path[4096], buf[8192];
	int fd, found = 0;
	ssize_t got;

	file_name(name, num);
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
static int
seed_walk(struct walk *w, const char *dir, unsigned num, char *err, size_t errlen)
{
	char name[NAME_LEN], path[4096], why[256];
	struct reader r = { 0 };
	long long seq;
	const char *prev;

	file_name(name, num);
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

struct evidence *
evidence_open(const char *dir, const char *identity, const char *vcenter,
    const char *vc_url, long max_bytes, char *note, size_t notelen, char *err,
    size_t errlen)
{
	struct evidence *ev;
	unsigned *nums = NULL;
	size_t n = 0;
	struct walk w = { 0 };
	off_t torn_at = -1;
	char *torn = NULL;
	size_t torn_len = 0;

	if (notelen)
		note[0] = '\0';
	if (make_dirs(dir, err, errlen) != 0 || list_files(dir, &nums, &n, err, errlen) != 0)
		return NULL;
	ev = xcalloc(1, sizeof(*ev));
	pthread_mutex_init(&ev->mu, NULL);
	pthread_mutex_init(&ev->wmu, NULL);
	ev->dir = xstrdup(dir);
	ev->identity = xstrdup(identity ? identity : "");
	ev->vcenter = xstrdup(vcenter ? vcenter : "");
	ev->vc_url = xstrdup(vc_url ? vc_url : "");
	ev->max_bytes = max_bytes > 0 ? max_bytes : EVIDENCE_MAX_BYTES;
	ev->fd = -1;
	memcpy(ev->hash, ZERO_HASH, sizeof(ev->hash));
	if (n == 0) {
		if (open_file(ev, 1, 1, err, errlen) != 0)
			goto fail;
		free(nums);
		return ev;
	}
	/*
	 * The chain goes on from the last record: the last file that holds a
	 * whole line is walked from its first record (which continues the
	 * file before: `evidence verify` checks the whole log), with any
	 * files after it (empty, or only a torn line).
	 */
	size_t j = n;
	while (j > 0 && !has_whole_line(dir, nums[j - 1]))
		j--;
	if (j > 0) {
		int rc = seed_walk(&w, dir, nums[j - 1], err, errlen);
		for (size_t i = j - 1; rc == 0 && i < n; i++)
			rc = walk_file(&w, dir, nums[i], i == n - 1 ? &torn_at : NULL, &torn,
			    &torn_len);
		if (rc == 0)
			rc = walk_end(&w);
		if (rc != 0) {
			if (!w.broken)
				;	/* err set by seed_walk */
			else if (w.bad_no > 0)
				snprintf(err, errlen, "%s/%s:%ld: %s", dir, w.bad_file, w.bad_no, w.why);
			else
				snprintf(err, errlen, "%s/%s: %s", dir, w.bad_file, w.why);
			goto fail;
		}
		if (w.vcenter[0] && ev->vcenter[0] && strcmp(w.vcenter, ev->vcenter) != 0) {
			snprintf(err, errlen, "%s holds the evidence of vCenter %s; this agent is "
			    "connected to vCenter %s: give each vCenter its own state directory",
			    dir, w.vcenter, ev->vcenter);
			goto fail;
		}
		ev->seq = w.last.seq;
		memcpy(ev->hash, w.seeded ? w.last.hash : ZERO_HASH, 65);
	} else {
		/* No whole line anywhere: at most a torn one in the last file. */
		int rc = walk_file(&w, dir, nums[n - 1], &torn_at, &torn, &torn_len);
		if (rc != 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, w.bad_file, w.why);
			goto fail;
		}
	}
	if (open_file(ev, nums[n - 1], 0, err, errlen) != 0)
		goto fail;
	if (torn_at >= 0) {
		/* A write cut short: the bytes are kept in a record of their own,
		 * and the file ends at its last whole line again. */
		char name[NAME_LEN];
		size_t keep = torn_len < TORN_KEEP ? torn_len : TORN_KEEP;
		char *b64 = xmalloc(4 * ((keep + 2) / 3) + 1);
		file_name(name, ev->num);
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)torn, (int)keep);
		if (ftruncate(ev->fd, torn_at) != 0 || fdatasync(ev->fd) != 0) {
			snprintf(err, errlen, "%s/%s: cannot cut its torn last line: %s", dir, name,
			    strerror(errno));
			free(b64);
			goto fail;
		}
		ev->size = torn_at;
		const struct evrec rec = { .kind = "torn" };
		pthread_mutex_lock(&ev->mu);
		long long seq = append_locked(ev, &rec, b64, (long long)torn_len);
		pthread_mutex_unlock(&ev->mu);
		snprintf(note, notelen, "%s/%s: its last line (%zu bytes) had no end: a write cut "
		    "short by a crash or SIGKILL; its bytes are kept in record %lld (\"torn\")",
		    dir, name, torn_len, seq);
		free(b64);
	}
	free(torn);
	free(nums);
	return ev;
fail:
	free(torn);
	free(nums);
	evidence_close(ev);
	return NULL;
}
