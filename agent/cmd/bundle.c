/*
 * `vmcrypt-agent support-bundle`: what an admin attaches to a bug report,
 * in one .tar.gz: the version and platform, `check --json`, the
 * configuration with secrets removed, the newest SOAP traces, the last log
 * lines, the agent's own /metrics and /healthz, and a MANIFEST saying what
 * each file is.  Every file goes through trace_redact on its way in, so a
 * secret that reached a log or a trace by some other path still stops here.
 * The archive is a plain ustar stream through zlib, mode 0600.
 */
#include "cli.h"
#include "config.h"
#include "log.h"
#include "opts.h"
#include "trace.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#define BUNDLE_TRACES	200		/* newest exchanges taken */
#define BUNDLE_FILE_MAX	(32L << 20)	/* per file read into the bundle */
#define BUNDLE_LOG_LINES 2000
#define STR(x)		#x
#define XSTR(x)		STR(x)		/* a number above, in a help text */

struct bundle {
	gzFile		 gz;
	int		 failed;
	FILE		*manifest;	/* memstream */
	char		*mtext;
	size_t		 mlen;
};

/* ---------------------------------------------------------------- */
/* ustar                                                             */

static void
octal(char *dst, size_t width, unsigned long long v)
{
	snprintf(dst, width, "%0*llo", (int)width - 1, v);
}

static void
tar_put(struct bundle *b, const char *name, const char *data, size_t len)
{
	char h[512];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	snprintf(h, 100, "%s", name);
	octal(h + 100, 8, 0600);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, len);
	octal(h + 136, 12, (unsigned long long)time(NULL));
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	snprintf(h + 265, 32, "root");
	snprintf(h + 297, 32, "root");
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	static const char zeros[512];
	if (gzwrite(b->gz, h, sizeof(h)) != (int)sizeof(h) ||
	    (len > 0 && gzwrite(b->gz, data, (unsigned)len) != (int)len) ||
	    (len % 512 && gzwrite(b->gz, zeros, (unsigned)(512 - len % 512)) !=
	    (int)(512 - len % 512)))
		b->failed = 1;
}

/* Adds a file to the bundle, redacted, and a line to the manifest. */
static void
add(struct bundle *b, const char *name, const char *data, size_t len, const char *what)
{
	size_t n;
	char *red = trace_redact(data, len, &n);
	tar_put(b, name, red, n);
	explicit_bzero(red, n);
	free(red);
	fprintf(b->manifest, "%-44s %s\n", name, what);
}

static void
addf(struct bundle *b, const char *name, const char *what, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	add(b, name, s, strlen(s), what);
	free(s);
}

/* ---------------------------------------------------------------- */
/* sources                                                           */

static char *
read_file(const char *path, size_t *len, long max_tail)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (size < 0)
		size = 0;
	if (size > max_tail)
		fseek(f, size - max_tail, SEEK_SET), size = max_tail;
	else
		fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)size + 1);
	*len = fread(buf, 1, (size_t)size, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Runs argv (this binary, or a tool), its stdout and stderr into *out. */
static int
capture(char *const argv[], char **out, size_t *len)
{
	int p[2], status = -1;
	pid_t pid;
	FILE *m = open_memstream(out, len);

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		fprintf(m, "cannot run %s: %s\n", argv[0], strerror(errno));
		fclose(m);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	char buf[8192];
	ssize_t r;
	size_t total = 0;
	while ((r = read(p[0], buf, sizeof(buf))) > 0)
		if ((total += (size_t)r) < (size_t)BUNDLE_FILE_MAX)
			fwrite(buf, 1, (size_t)r, m);
	close(p[0]);
	waitpid(pid, &status, 0);
	fclose(m);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
add_command(struct bundle *b, const char *name, const char *what, char *const argv[])
{
	char *out = NULL;
	size_t len = 0;
	int rc = capture(argv, &out, &len);
	char *w = xasprintf("%s (exit status %d)", what, rc);
	add(b, name, out, len, w);
	free(w);
	free(out);
}

/* GET path from the agent's own listener (loopback, plain HTTP). */
static void
add_http(struct bundle *b, const char *listen, const char *path, const char *name,
    const char *what)
{
	char host[256], port[16], req[256], buf[65536];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	size_t len = 0;
	int fd = -1;

	if (listen == NULL || *listen == '\0' ||
	    cli_split_hostport(listen, "9480", host, sizeof(host), port, sizeof(port)) != 0 ||
	    getaddrinfo(host, port, &hints, &ai) != 0 ||
	    (fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		addf(b, name, what, "not read: no metrics listener (<metrics listen>)\n");
		goto out;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct pollfd pfd = { fd, POLLOUT, 0 };
	if ((connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) ||
	    poll(&pfd, 1, 2000) != 1) {
		addf(b, name, what, "not read: nothing answers on %s (is the agent running?)\n",
		    listen);
		goto out;
	}
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (write(fd, req, (size_t)n) != n) {
		addf(b, name, what, "not read: %s: %s\n", listen, strerror(errno));
		goto out;
	}
	pfd.events = POLLIN;
	while (len < sizeof(buf) && poll(&pfd, 1, 2000) == 1) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	add(b, name, buf, len, what);
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The newest BUNDLE_TRACES exchanges of a trace directory. */
static void
add_traces(struct bundle *b, const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (d == NULL) {
		addf(b, "trace/NONE.txt", "why there are no SOAP traces",
		    "no SOAP trace: %s%s\nrun the agent with --trace-soap DIR or "
		    "<trace-soap dir=\"...\"/>, reproduce the problem, then make the bundle "
		    "again (with --trace-dir DIR if it is not the configuration's).\n",
		    dir ? dir : "none configured", dir ? ": cannot be read" : "");
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".http") != NULL) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	size_t first = n > 2 * BUNDLE_TRACES ? n - 2 * BUNDLE_TRACES : 0;
	for (size_t i = 0; i < n; i++) {
		if (i >= first) {
			char *path = xasprintf("%s/%s", dir, names[i]);
			char *tname = xasprintf("trace/%.80s", names[i]);
			size_t len = 0;
			char *data = read_file(path, &len, BUNDLE_FILE_MAX);
			if (data != NULL)
				add(b, tname, data, len, "SOAP exchange (request or answer)");
			free(data);
			free(tname);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	if (n == 0)
		addf(b, "trace/NONE.txt", "why there are no SOAP traces",
		    "the trace directory %s is empty\n", dir);
}

/* The configuration as written, with secrets removed (trace_redact:
 * any password or secret element or attribute). */
static void
add_config(struct bundle *b, const char *path, const char *load_err)
{
	size_t len = 0;
	char *text = read_file(path, &len, 1 << 20);

	if (text == NULL) {
		addf(b, "config.xml.txt", "the configuration", "cannot read %s: %s\n", path,
		    strerror(errno));
		return;
	}
	/* Attribute values that could hold a secret: password="..." etc. */
	for (char *p = text; (p = strcasestr(p, "password=")) != NULL; p++)
		if (p == text || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n') {
			char *q = p + strlen("password=");
			char quote = *q;
			if (quote == '"' || quote == '\'')
				for (q++; *q && *q != quote; q++)
					*q = '*';
		}
	add(b, "config.xml", text, len, load_err ? "the configuration (rejected: see "
	    "config-error.txt)" : "the configuration, secrets removed");
	if (load_err)
		add(b, "config-error.txt", load_err, strlen(load_err), "why it was rejected");
	free(text);
}

/* ---------------------------------------------------------------- */

struct bundle_opts {
	const char	*config, *output, *trace, *log, *unit;
	int		 nocheck;
};

/* EXIT_OK to go on, an exit code, or OPTS_HELP (--help said). */
static int
bundle_args(int argc, char **argv, struct bundle_opts *o)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &o->config, .help = OPTS_HELP_CONFIG },
		{ "output", 'o', OPT_STRING, "FILE.tar.gz", &o->output,
		  .help = "the bundle to write (required)" },
		{ "trace-dir", 'T', OPT_STRING, "DIR", &o->trace,
		  .help = "the SOAP traces to take (default: the\n"
		  "configuration's <trace-soap dir>)" },
		{ "log", 'l', OPT_STRING, "FILE", &o->log,
		  .help = "the log to take (default: the journal)" },
		{ "unit", 'u', OPT_STRING, "NAME", &o->unit,
		  .help = "the unit whose journal is taken (vmcrypt-agent)" },
		{ "no-check", 'n', OPT_FLAG, NULL, &o->nocheck, .help = "do not run check" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent support-bundle [--config FILE] -o FILE.tar.gz\n"
		    "                 [--trace-dir DIR] [--log FILE] [--unit NAME] [--no-check]\n",
		.about = "Writes one .tar.gz to attach to a bug report:\n"
		    "  MANIFEST.txt      what each file is\n"
		    "  version.txt       the agent's version, the platform, the libraries\n"
		    "  check.json        `vmcrypt-agent check --json` run now "
		    "(--no-check: skipped)\n"
		    "  config.xml        the configuration, secrets removed\n"
		    "  trace/            the newest " XSTR(BUNDLE_TRACES) " SOAP exchanges of the "
		    "trace directory\n"
		    "                    (--trace-dir, or the configuration's <trace-soap dir>)\n"
		    "  log.txt           the last " XSTR(BUNDLE_LOG_LINES) " log lines: "
		    "--log FILE, else the journal\n"
		    "                    of --unit (default vmcrypt-agent)\n"
		    "  metrics.txt, healthz.txt  the running agent's own answers\n"
		    "Passwords, session cookies and keys, key material and OVHcloud\n"
		    "credentials are removed from every file.  The archive is mode 0600.\n",
		.tail = "exit status: 0 written; 1 it could not be written; 2 usage.\n",
		.opts = opts,
	};
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	if (o->config == NULL)
		o->config = cli_default_config();
	if (o->output == NULL) {
		fprintf(stderr, "vmcrypt-agent: give the bundle to write: -o FILE.tar.gz\n");
		fputs(cmd.usage, stderr);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void
add_version(struct bundle *b)
{
	struct utsname u;
	size_t oslen = 0;

	uname(&u);
	char *os = read_file("/etc/os-release", &oslen, 4096);
	addf(b, "version.txt", "version and platform",
	    "vmcrypt-agent %s\n%s %s %s %s\nzlib %s\n\n%s", VMCRYPT_VERSION, u.sysname,
	    u.release, u.version, u.machine, zlibVersion(), os ? os : "");
	free(os);
}

static void
add_log(struct bundle *b, const struct bundle_opts *o)
{
	if (o->log == NULL) {
		char lines[16];
		snprintf(lines, sizeof(lines), "%d", BUNDLE_LOG_LINES);
		char *const av[] = { "journalctl", "-u", (char *)o->unit, "--no-pager", "-n",
			lines, "-o", "short-iso", NULL };
		add_command(b, "log.txt", "the journal of the unit", av);
		return;
	}
	size_t len = 0;
	char *text = read_file(o->log, &len, 512L * 1024);
	if (text != NULL)
		add(b, "log.txt", text, len, "the last lines of --log FILE");
	else
		addf(b, "log.txt", "the log", "cannot read %s: %s\n", o->log, strerror(errno));
	free(text);
}

/* What the running agent says of itself, and where it stands. */
static void
add_running(struct bundle *b, const struct config *cfg)
{
	size_t len = 0;

	add_http(b, cfg->metrics_listen, "/metrics", "metrics.txt",
	    "the running agent's /metrics");
	add_http(b, cfg->metrics_listen, "/healthz", "healthz.txt",
	    "the running agent's /healthz");
	char *cp = xasprintf("%s/checkpoint", cfg->state_dir);
	char *text = read_file(cp, &len, 4096);
	if (text != NULL)
		add(b, "checkpoint.txt", text, len, "the last event handled");
	free(text);
	free(cp);
}

/* Every part, the manifest and the end of the archive; 0 or -1. */
static int
bundle_write(struct bundle *b, const struct bundle_opts *o, const struct config *cfg,
    const char *load_err)
{
	static const char end[1024];
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(b->manifest, "vmcrypt-agent support bundle, written %s\n\n", when);
	add_version(b);
	add_config(b, o->config, load_err);
	if (!o->nocheck && load_err == NULL) {
		char *const av[] = { "/proc/self/exe", "check", "--config", (char *)o->config,
			"--json", NULL };
		add_command(b, "check.json", "`vmcrypt-agent check --json`", av);
	}
	add_traces(b, o->trace ? o->trace : cfg ? cfg->trace_dir : NULL);
	add_log(b, o);
	if (cfg != NULL)
		add_running(b, cfg);
	fclose(b->manifest);
	tar_put(b, "MANIFEST.txt", b->mtext, b->mlen);
	free(b->mtext);
	if (gzwrite(b->gz, end, sizeof(end)) != (int)sizeof(end))
		b->failed = 1;
	if (gzclose(b->gz) != Z_OK)
		b->failed = 1;
	return b->failed ? -1 : 0;
}

int
cmd_support_bundle(int argc, char **argv)
{
	struct bundle_opts o = { .unit = "vmcrypt-agent" };
	struct config *cfg = NULL;
	struct bundle b;
	char err[4096];
	int rc, fd;

	if ((rc = bundle_args(argc, argv, &o)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	fd = open(o.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || (b.gz = gzdopen(fd, "wb9")) == NULL) {
		fprintf(stderr, "vmcrypt-agent: cannot write %s: %s\n", o.output, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_FAIL;
	}
	b.failed = 0;
	b.manifest = open_memstream(&b.mtext, &b.mlen);
	const char *load_err = config_load(o.config, &cfg, err, sizeof(err)) != 0 ? err : NULL;
	rc = bundle_write(&b, &o, cfg, load_err);
	config_free(cfg);
	if (rc != 0) {
		fprintf(stderr, "vmcrypt-agent: writing %s failed\n", o.output);
		return EXIT_FAIL;
	}
	fprintf(stderr, "vmcrypt-agent: support bundle written to %s%s\n", o.output,
	    load_err ? " (the configuration was rejected: see config-error.txt)" : "");
	return EXIT_OK;
}
