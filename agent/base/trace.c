#include "trace.h"
#include "log.h"
#include "xmalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define REDACTED	"[redacted]"

struct trace {
	pthread_mutex_t	 mtx;
	char		*dir;
	int		 keep;
	unsigned	 seq;
	char		(*names)[64];	/* method of exchange seq, at seq % keep */
};

/* ---------------------------------------------------------------- */
/* redaction (pure)                                                  */

struct buf {
	char	*p;
	size_t	 len, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* HTTP headers whose values are secrets, whole or per cookie. */
static const char *const secret_headers[] = {
	"Authorization", "Proxy-Authorization", "X-Ovh-Application", "X-Ovh-Consumer",
	"X-Ovh-Signature", "X-Ovh-Application-Secret",
};

/* "a=1; b=2" -> "a=[redacted]; b=[redacted]"; Set-Cookie keeps its
 * attributes (Path, HttpOnly) after the first pair. */
static void
redact_cookies(struct buf *b, const char *v, size_t n, int set)
{
	size_t i = 0;
	int first = 1;

	while (i < n) {
		size_t start = i;
		while (i < n && v[i] != ';')
			i++;
		const char *eq = memchr(v + start, '=', i - start);
		if (eq != NULL && (!set || first)) {
			put(b, v + start, (size_t)(eq - (v + start)) + 1);
			puts_(b, REDACTED);
		} else {
			put(b, v + start, i - start);
		}
		first = 0;
		if (i < n)
			put(b, ";", 1), i++;
	}
}

static void
redact_head(struct buf *b, const char *h, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t end = i;
		while (end < n && h[end] != '\n')
			end++;
		const char *line = h + i;
		size_t len = end - i;
		const char *colon = memchr(line, ':', len);
		int done = 0;
		if (colon != NULL) {
			size_t name = (size_t)(colon - line);
			const char *v = colon + 1;
			size_t vlen = len - name - 1;
			if (vlen > 0 && v[vlen - 1] == '\r')
				vlen--;
			int cookie = name == 6 && strncasecmp(line, "Cookie", 6) == 0;
			int setc = name == 10 && strncasecmp(line, "Set-Cookie", 10) == 0;
			for (size_t k = 0; !done && k < sizeof(secret_headers) /
			    sizeof(secret_headers[0]); k++) {
				if (strlen(secret_headers[k]) == name &&
				    strncasecmp(line, secret_headers[k], name) == 0) {
					put(b, line, name + 1);
					puts_(b, " " REDACTED "\r");
					done = 1;
				}
			}
			if (!done && (cookie || setc)) {
				put(b, line, name + 1);
				redact_cookies(b, v, vlen, setc);
				puts_(b, "\r");
				done = 1;
			}
		}
		if (!done)
			put(b, line, len);
		if (end < n)
			put(b, "\n", 1);
		i = end + 1;
	}
}

/* Elements whose text is a secret, by local name. */
static const char *const secret_elements[] = {
	"password", "vcSessionCookie", "sessionId", "sessionID", "privateKey",
	"keyData", "secret", "applicationSecret", "consumerKey",
};

static int
secret_element(const char *name, size_t n)
{
	for (size_t k = 0; k < sizeof(secret_elements) / sizeof(secret_elements[0]); k++)
		if (strlen(secret_elements[k]) == n && memcmp(secret_elements[k], name, n) == 0)
			return 1;
	return 0;
}

/* A session key, as vCenter writes UserSession.key: 8-4-4-4-12 hex. */
static int
uuid_shaped(const char *s, size_t n)
{
	static const int dash[] = { 8, 13, 18, 23 };
	if (n != 36)
		return 0;
	for (size_t i = 0, d = 0; i < n; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return 0;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* Replaces the text of secret elements, of <key> elements that hold a
 * session key, of session[...] in object names, and of secret JSON keys. */
static void
redact_body(struct buf *b, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (s[i] == '<' && i + 1 < n && s[i + 1] != '/' && s[i + 1] != '?' &&
		    s[i + 1] != '!') {
			size_t j = i + 1, name = j;
			while (j < n && !isspace((unsigned char)s[j]) && s[j] != '>' && s[j] != '/')
				j++;
			const char *colon = memchr(s + name, ':', j - name);
			if (colon != NULL)
				name = (size_t)(colon - s) + 1;
			size_t nlen = j - name;
			while (j < n && s[j] != '>')
				j++;
			if (j >= n) {
				put(b, s + i, n - i);
				return;
			}
			int selfclose = s[j - 1] == '/';
			put(b, s + i, j + 1 - i);
			i = j + 1;
			if (selfclose)
				continue;
			size_t end = i;
			while (end < n && s[end] != '<')
				end++;
			int is_key = nlen == 3 && memcmp(s + name, "key", 3) == 0 &&
			    uuid_shaped(s + i, end - i);
			if ((secret_element(s + name, nlen) || is_key) && end > i) {
				puts_(b, REDACTED);
				i = end;
			}
			continue;
		}
		if (n - i > 8 && memcmp(s + i, "session[", 8) == 0) {
			put(b, s + i, 8);
			i += 8;
			size_t end = i;
			while (end < n && s[end] != ']' && s[end] != '<')
				end++;
			puts_(b, REDACTED);
			i = end;
			continue;
		}
		if (s[i] == '"') {
			/* "consumerKey": "..." in a JSON body. */
			size_t j = i + 1;
			while (j < n && s[j] != '"')
				j++;
			size_t k = j + 1;
			while (k < n && isspace((unsigned char)s[k]))
				k++;
			if (j < n && k < n && s[k] == ':' && secret_element(s + i + 1, j - i - 1)) {
				size_t v = k + 1;
				while (v < n && isspace((unsigned char)s[v]))
					v++;
				if (v < n && s[v] == '"') {
					size_t ve = v + 1;
					while (ve < n && s[ve] != '"')
						ve++;
					put(b, s + i, v + 1 - i);
					puts_(b, REDACTED);
					i = ve;
					continue;
				}
			}
			put(b, s + i, 1);
			i++;
			continue;
		}
		put(b, s + i, 1);
		i++;
	}
}

/* Joins a chunked body; what does not parse is kept as it came. */
static void
dechunk(struct buf *b, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		/* The size in hex, read within the message (strtoul would read
		 * past its end: it is not a C string). */
		size_t e = i, sz = 0;
		while (e < n && isxdigit((unsigned char)s[e]) && sz <= (SIZE_MAX >> 4))
			sz = sz * 16 + (size_t)(isdigit((unsigned char)s[e]) ? s[e] - '0' :
			    (tolower((unsigned char)s[e]) - 'a' + 10)), e++;
		if (e == i)
			break;
		const char *nl = memchr(s + e, '\n', n - e);
		if (nl == NULL)
			break;
		i = (size_t)(nl - s) + 1;
		if (sz == 0)
			return;
		if (sz > n - i)
			sz = n - i;
		put(b, s + i, sz);
		i += sz;
		while (i < n && (s[i] == '\r' || s[i] == '\n'))
			i++;
	}
	if (i < n)
		put(b, s + i, n - i);
}

static int
head_has(const char *h, size_t n, const char *name, const char *value)
{
	size_t ln = strlen(name);
	for (size_t i = 0; i + ln < n; i++) {
		if ((i == 0 || h[i - 1] == '\n') && strncasecmp(h + i, name, ln) == 0 &&
		    h[i + ln] == ':') {
			size_t e = i + ln + 1;
			while (e < n && h[e] != '\n')
				e++;
			for (size_t k = i + ln + 1; k + strlen(value) <= e; k++)
				if (strncasecmp(h + k, value, strlen(value)) == 0)
					return 1;
		}
	}
	return 0;
}

/* A gzip or deflate body inflated (vCenter may compress its answers: the
 * client offers it); what does not inflate is kept as it came. */
static int
inflate_body(struct buf *b, const char *s, size_t n)
{
	z_stream z;
	char out[16384];
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -1;
	z.next_in = (Bytef *)s;
	z.avail_in = (uInt)n;
	do {
		z.next_out = (Bytef *)out;
		z.avail_out = sizeof(out);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END) {
			inflateEnd(&z);
			return -1;
		}
		put(b, out, sizeof(out) - z.avail_out);
	} while (rc != Z_STREAM_END && z.avail_in > 0);
	inflateEnd(&z);
	return 0;
}

char *
trace_redact(const char *msg, size_t len, size_t *outlen)
{
	struct buf out = { NULL, 0, 0 }, body = { NULL, 0, 0 };
	size_t head = len;
	const char *sep = NULL;

	/* An HTTP message starts with a request or status line. */
	if (len > 5 && (memcmp(msg, "HTTP/", 5) == 0 || memcmp(msg, "POST ", 5) == 0 ||
	    memcmp(msg, "GET ", 4) == 0)) {
		for (size_t i = 0; i + 1 < len && sep == NULL; i++) {
			if (msg[i] == '\n' && msg[i + 1] == '\n')
				sep = msg + i, head = i + 2;
			else if (i + 3 < len && memcmp(msg + i, "\r\n\r\n", 4) == 0)
				sep = msg + i, head = i + 4;
		}
		if (sep == NULL)
			head = len;
	} else {
		head = 0;
	}
	puts_(&out, "");
	redact_head(&out, msg, head);
	if (head < len) {
		if (head_has(msg, head, "Transfer-Encoding", "chunked"))
			dechunk(&body, msg + head, len - head);
		else
			put(&body, msg + head, len - head);
		if (head_has(msg, head, "Content-Encoding", "gzip") ||
		    head_has(msg, head, "Content-Encoding", "deflate")) {
			struct buf plain = { NULL, 0, 0 };
			if (inflate_body(&plain, body.p, body.len) == 0) {
				free(body.p);
				body = plain;
			} else {
				free(plain.p);
			}
		}
		if (body.p != NULL)
			redact_body(&out, body.p, body.len);
	}
	free(body.p);
	*outlen = out.len;
	return out.p;
}

/* ---------------------------------------------------------------- */
/* files                                                             */

int
trace_dir_ready(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "trace directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "trace directory %s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(err, errlen, "trace directory %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

struct trace *
trace_open(const char *dir, int keep, char *err, size_t errlen)
{
	if (trace_dir_ready(dir, err, errlen) != 0)
		return NULL;
	struct trace *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->mtx, NULL);
	/* Numbering goes on after the files already there (a restart). */
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		char *end;
		unsigned long n = strtoul(de->d_name, &end, 10);
		if (end != de->d_name && *end == '-' && n > t->seq && n < 4000000000UL)
			t->seq = (unsigned)n;
	}
	if (d != NULL)
		closedir(d);
	t->dir = xstrdup(dir);
	t->keep = keep > 0 ? keep : 2000;
	t->names = xcalloc((size_t)t->keep, sizeof(*t->names));
	log_info("SOAP trace: every exchange with vCenter goes to %s (secrets redacted; "
	    "the newest %d kept)", dir, t->keep);
	return t;
}

void
trace_close(struct trace *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mtx);
	free(t->names);
	free(t->dir);
	free(t);
}

const char *
trace_dir(const struct trace *t)
{
	return t->dir;
}

/* The method a request calls ("Login"), or the file it GETs. */
static void
method_of(const char *req, size_t len, char *out, size_t outlen)
{
	const char *p = NULL;

	snprintf(out, outlen, "unknown");
	for (size_t i = 0; i + 5 < len && p == NULL; i++)
		if (memcmp(req + i, "Body>", 5) == 0)
			p = req + i + 5;
	if (p != NULL) {
		while (p < req + len && *p != '<')
			p++;
		if (p < req + len)
			p++;
		const char *colon = NULL, *e = p;
		while (e < req + len && (isalnum((unsigned char)*e) || *e == '_' || *e == ':')) {
			if (*e == ':')
				colon = e;
			e++;
		}
		if (colon)
			p = colon + 1;
		snprintf(out, outlen, "%.*s", (int)(e - p), p);
	} else if (len > 4 && memcmp(req, "GET ", 4) == 0) {
		const char *e = memchr(req + 4, ' ', len - 4);
		const char *s = e ? e : req + len;
		while (s > req + 4 && s[-1] != '/')
			s--;
		snprintf(out, outlen, "GET-%.*s", (int)((e ? e : req + len) - s), s);
	}
	for (char *c = out; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
			*c = '_';
}

static void
write_file(const char *path, const char *msg, size_t len)
{
	size_t n;
	char *red = trace_redact(msg, len, &n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_warn("trace: %s", path);
	} else {
		for (size_t off = 0; off < n;) {
			ssize_t w = write(fd, red + off, n - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		close(fd);
	}
	explicit_bzero(red, n);
	free(red);
}

void
trace_exchange(struct trace *t, const char *req, size_t reqlen, const char *resp,
    size_t resplen)
{
	char method[64], path[4200];
	unsigned seq;

	if (t == NULL || reqlen == 0)
		return;
	method_of(req, reqlen, method, sizeof(method));
	char old[64] = "";
	unsigned gone = 0;
	pthread_mutex_lock(&t->mtx);
	seq = ++t->seq;
	/* The exchange that falls out of the window: its slot is reused. */
	char *slot = t->names[seq % (unsigned)t->keep];
	if (seq > (unsigned)t->keep) {
		gone = seq - (unsigned)t->keep;
		snprintf(old, sizeof(old), "%s", slot);
	}
	snprintf(slot, 64, "%s", method);
	pthread_mutex_unlock(&t->mtx);
	snprintf(path, sizeof(path), "%s/%06u-%s.request.http", t->dir, seq, method);
	write_file(path, req, reqlen);
	snprintf(path, sizeof(path), "%s/%06u-%s.response.http", t->dir, seq, method);
	write_file(path, resp, resplen);
	if (gone > 0) {
		snprintf(path, sizeof(path), "%s/%06u-%s.request.http", t->dir, gone, old);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%06u-%s.response.http", t->dir, gone, old);
		unlink(path);
	}
}
