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
 * Reading and checking it back: evidread.c.
 */
#include "evidence.h"

#include "evidread.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TORN_KEEP	4096		/* bytes of a torn line kept in its record */

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
	put_str(ev, "replaces", r->replaces);
	put_str(ev, "text", torn_b64);
	if (torn_bytes >= 0) {
		n = snprintf(head, sizeof(head), ",\"bytes\":%lld", torn_bytes);
		put(ev, head, (size_t)n);
	}
	put_str(ev, "version", r->version);
	put(ev, "}", 1);
	evhash_hex(ev->buf + start, ev->len - start, ev->hash);
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
	char name[EVIDENCE_NAME_LEN], path[4096];
	struct stat st;

	evfile_name(name, num);
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
			char name[EVIDENCE_NAME_LEN];
			evfile_name(name, ev->num);
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

size_t
evidence_pending(struct evidence *ev)
{
	pthread_mutex_lock(&ev->mu);
	size_t n = ev->len;
	pthread_mutex_unlock(&ev->mu);
	return n;
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

/* A last line without its end, found at open. */
struct torn {
	off_t	 at;		/* -1: none */
	char	*bytes;
	size_t	 len;
};

/*
 * The chain goes on from the last record: the last file that holds a whole
 * line is walked from its first record (which continues the file before:
 * `evidence verify` checks the whole log), with any files after it (empty,
 * or only a torn line).  0, or -1 with err (a break, another vCenter).
 */
static int
continue_chain(struct evidence *ev, const unsigned *nums, size_t n, struct torn *t,
    char *err, size_t errlen)
{
	struct evwalk w = { 0 };
	size_t j = n;
	int rc = 0;

	while (j > 0 && !evfile_has_whole_line(ev->dir, nums[j - 1]))
		j--;
	if (j > 0 && evwalk_seed(&w, ev->dir, nums[j - 1], err, errlen) != 0)
		return -1;
	for (size_t i = j > 0 ? j - 1 : n - 1; rc == 0 && i < n; i++)
		rc = evwalk_file(&w, ev->dir, nums[i], i == n - 1 ? &t->at : NULL, &t->bytes,
		    &t->len);
	if (rc == 0)
		rc = evwalk_end(&w);
	if (rc != 0) {
		evwalk_error(&w, ev->dir, err, errlen);
		return -1;
	}
	if (w.vcenter[0] && ev->vcenter[0] && strcmp(w.vcenter, ev->vcenter) != 0) {
		snprintf(err, errlen, "%s holds the evidence of vCenter %s; this agent is "
		    "connected to vCenter %s: give each vCenter its own state directory",
		    ev->dir, w.vcenter, ev->vcenter);
		return -1;
	}
	ev->seq = w.last.seq;
	memcpy(ev->hash, w.seeded ? w.last.hash : EVIDENCE_ZERO_HASH, 65);
	return 0;
}

/* A write cut short: its bytes are kept in a record of their own, and the
 * file ends at its last whole line again.  0, or -1 with err. */
static int
keep_torn(struct evidence *ev, const struct torn *t, char *note, size_t notelen, char *err,
    size_t errlen)
{
	char name[EVIDENCE_NAME_LEN];
	size_t keep = t->len < TORN_KEEP ? t->len : TORN_KEEP;
	char *b64 = xmalloc(4 * ((keep + 2) / 3) + 1);

	evfile_name(name, ev->num);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)t->bytes, (int)keep);
	if (ftruncate(ev->fd, t->at) != 0 || fdatasync(ev->fd) != 0) {
		snprintf(err, errlen, "%s/%s: cannot cut its torn last line: %s", ev->dir, name,
		    strerror(errno));
		free(b64);
		return -1;
	}
	ev->size = t->at;
	const struct evrec rec = { .kind = "torn" };
	pthread_mutex_lock(&ev->mu);
	long long seq = append_locked(ev, &rec, b64, (long long)t->len);
	pthread_mutex_unlock(&ev->mu);
	snprintf(note, notelen, "%s/%s: its last line (%zu bytes) had no end: a write cut "
	    "short by a crash or SIGKILL; its bytes are kept in record %lld (\"torn\")",
	    ev->dir, name, t->len, seq);
	free(b64);
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
	struct torn t = { .at = -1 };
	int rc;

	if (notelen)
		note[0] = '\0';
	if (make_dirs(dir, err, errlen) != 0 || evfile_list(dir, &nums, &n, err, errlen) != 0)
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
	memcpy(ev->hash, EVIDENCE_ZERO_HASH, sizeof(ev->hash));
	if (n == 0)
		rc = open_file(ev, 1, 1, err, errlen);
	else if ((rc = continue_chain(ev, nums, n, &t, err, errlen)) == 0 &&
	    (rc = open_file(ev, nums[n - 1], 0, err, errlen)) == 0 && t.at >= 0)
		rc = keep_torn(ev, &t, note, notelen, err, errlen);
	free(t.bytes);
	free(nums);
	if (rc != 0) {
		evidence_close(ev);
		return NULL;
	}
	return ev;
}
