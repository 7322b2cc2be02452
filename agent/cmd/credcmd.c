/*
 * `credential set NAME`: one secret, read from stdin (never argv; not
 * echoed on a terminal), written as a systemd encrypted credential by
 * `systemd-creds encrypt --name=NAME - FILE` (the secret on its stdin too),
 * where the unit's LoadCredentialEncrypted= reads it.  Without
 * systemd-creds (systemd older than 250), a plain file, mode 0600, for
 * LoadCredential=, said as such.  Written to a new file and renamed over
 * the old: a failure leaves the credential as it was.  Then, where it is
 * used: vcenter.password handed to the running agent (credsend.c: systemd
 * before 260 gives a service its credentials only at start); an OVHcloud
 * secret gets the renewal unit's drop-in that loads it (a unit listing a
 * credential file that is missing fails, so the unit cannot list them).
 */
#include "cli.h"
#include "credsend.h"
#include "exitcode.h"
#include "opts.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_MAX	4096
/* systemd's credential stores; each unit its own directory in them, since
 * the names (vcenter.password) are not ours alone on a host. */
#define DIR_ENCRYPTED	"/etc/credstore.encrypted"
#define DIR_PLAIN	"/etc/credstore"
/* The renewal unit's drop-ins: one per OVHcloud secret, named after it. */
#define DIR_DROPIN	"/etc/systemd/system/vmcrypt-agent-renew.service.d"

/* The credentials the agent's units load.  */
static const char *const cred_names[] = {
	"vcenter.password",		/* run and every vCenter command */
	"ovh.application-secret",	/* the OVHcloud commands (registration) */
	"ovh.consumer-key",
	NULL,
};

struct credset {
	const char	*name;
	const char	*dir;
	const char	*with_key;
	const char	*instance;
	const char	*dropin_dir;
	int		 json;
	char		 path[4096];
	int		 encrypted;
	/* vcenter.password: the hand-over to the running agent */
	int		 handover;	/* 0 not tried, else 1 + enum credsend_result */
	char		 sock[4096], why[512];
	/* an OVHcloud secret: the renewal unit's drop-in */
	int		 dropin;	/* 0 none, 1 written, 2 unchanged, -1 failed */
	int		 reloaded;	/* daemon-reload: 1 done, 0 no systemd, -1 failed */
	char		 dropin_path[4200];
};

static int
name_known(const char *name)
{
	for (size_t i = 0; cred_names[i] != NULL; i++)
		if (strcmp(name, cred_names[i]) == 0)
			return 1;
	return 0;
}

/* Reads the secret from stdin, without echo on a terminal; trailing
 * newlines dropped.  Its length, -1 (nothing there) or -2 (too long). */
static ssize_t
read_secret(const char *name, char *buf, size_t len)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t n = 0;
	ssize_t r;

	if (tty) {
		fprintf(stderr, "%s (not echoed): ", name);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (n < len - 1 && (r = read(STDIN_FILENO, buf + n, len - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
		if (tty && memchr(buf + n - r, '\n', (size_t)r) != NULL)
			break;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n == len - 1)
		return -2;
	buf[n] = '\0';
	if (tty && memchr(buf, '\n', n) != NULL)
		n = (size_t)((char *)memchr(buf, '\n', n) - buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return n > 0 ? (ssize_t)n : -1;
}

/* systemd-creds in PATH (systemd 250 and newer have it). */
static int
have_systemd_creds(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p != '\0';) {
		size_t n = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/systemd-creds", (int)n, p);
		if (n > 0 && access(buf, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/* systemd-creds encrypt, the secret on its stdin, into tmp.  0 or -1. */
static int
encrypt_to(const struct credset *cs, const char *tmp, const char *secret, size_t n)
{
	char name_arg[128], key_arg[64];
	char *argv[8];
	int fds[2], st, i = 0;
	pid_t pid;

	snprintf(name_arg, sizeof(name_arg), "--name=%s", cs->name);
	argv[i++] = "systemd-creds";
	argv[i++] = "encrypt";
	argv[i++] = name_arg;
	if (cs->with_key != NULL) {
		snprintf(key_arg, sizeof(key_arg), "--with-key=%s", cs->with_key);
		argv[i++] = key_arg;
	}
	argv[i++] = "-";
	argv[i++] = (char *)tmp;
	argv[i] = NULL;
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		fprintf(stderr, "vmcrypt-agent: credential set: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		if (cs->json)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		umask(077);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fds[1], secret + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "vmcrypt-agent: credential set: systemd-creds encrypt failed "
		    "(status %d); %s is unchanged\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		    cs->path);
		return -1;
	}
	return 0;
}

/* The secret in clear, mode 0600, into tmp.  0 or -1. */
static int
plain_to(const char *tmp, const char *secret, size_t n)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = -1;

	if (fd == -1)
		goto out;
	if (write(fd, secret, n) == (ssize_t)n && fsync(fd) == 0)
		rc = 0;
	close(fd);
out:
	if (rc != 0)
		fprintf(stderr, "vmcrypt-agent: credential set: %s: %s\n", tmp, strerror(errno));
	return rc;
}

/* Writes the secret where cs says; EXIT_OK or EXIT_FAIL, cs->path set. */
static int
credential_write(struct credset *cs, const char *secret, size_t n)
{
	char tmp[4200], unitdir[512];
	const char *dir = cs->dir, *store;
	int rc;

	cs->encrypted = have_systemd_creds();
	if (dir == NULL) {
		store = cs->encrypted ? DIR_ENCRYPTED : DIR_PLAIN;
		(void)mkdir(store, 0700);
		snprintf(unitdir, sizeof(unitdir), "%s/vmcrypt-agent%s%s", store,
		    cs->instance ? "@" : "", cs->instance ? cs->instance : "");
		dir = unitdir;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "vmcrypt-agent: credential set: %s: %s\n", dir, strerror(errno));
		return EXIT_FAIL;
	}
	snprintf(cs->path, sizeof(cs->path), "%s/%s", dir, cs->name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.new-%d", dir, cs->name, (int)getpid());
	unlink(tmp);
	rc = cs->encrypted ? encrypt_to(cs, tmp, secret, n) : plain_to(tmp, secret, n);
	if (rc == 0 && chmod(tmp, 0600) == -1)
		rc = -1;
	if (rc == 0 && rename(tmp, cs->path) == -1) {
		fprintf(stderr, "vmcrypt-agent: credential set: %s: %s\n", cs->path,
		    strerror(errno));
		rc = -1;
	}
	if (rc != 0) {
		unlink(tmp);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* vcenter.password to the running agent, if one listens. */
static void
hand_over(struct credset *cs, const char *secret, size_t n)
{
	credsend_path(cs->instance, cs->sock, sizeof(cs->sock));
	cs->handover = 1 + (int)credsend(cs->sock, cs->name, secret, n, cs->why,
	    sizeof(cs->why));
}

/* `systemctl daemon-reload` where systemd runs (sd_booted's test): 1 done,
 * 0 not running here, -1 failed. */
static int
daemon_reload(void)
{
	int st;
	pid_t pid;

	if (access("/run/systemd/system", F_OK) != 0)
		return 0;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null != -1)
			dup2(null, STDOUT_FILENO);
		execlp("systemctl", "systemctl", "daemon-reload", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 1 : -1;
}

/* The renewal unit's drop-in loading this OVHcloud secret: written (or
 * found as it should be), then systemd told.  0 or -1 (said). */
static int
dropin_write(struct credset *cs)
{
	char want[8400], have[8400] = "", tmp[4300], abs[4096];
	const char *dir = cs->dropin_dir ? cs->dropin_dir : DIR_DROPIN;
	FILE *f;
	size_t got = 0;

	if (realpath(cs->path, abs) == NULL)
		snprintf(abs, sizeof(abs), "%s", cs->path);
	snprintf(want, sizeof(want), "# Written by `vmcrypt-agent credential set %s`: the "
	    "renewal\n# (kms renew-client-cert with OKMS) calls the OVHcloud API with it.\n"
	    "[Service]\n%s=%s:%s\n", cs->name, cs->encrypted ? "LoadCredentialEncrypted" :
	    "LoadCredential", cs->name, abs);
	snprintf(cs->dropin_path, sizeof(cs->dropin_path), "%s/%s.conf", dir, cs->name);
	if ((f = fopen(cs->dropin_path, "r")) != NULL) {
		got = fread(have, 1, sizeof(have) - 1, f);
		have[got] = '\0';
		fclose(f);
	}
	if (strcmp(have, want) == 0) {
		cs->dropin = 2;
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.conf.new-%d", dir, cs->name, (int)getpid());
	if ((mkdir(dir, 0755) != 0 && errno != EEXIST) ||
	    (f = fopen(tmp, "w")) == NULL || (fputs(want, f) < 0) + (fclose(f) != 0) ||
	    chmod(tmp, 0644) != 0 || rename(tmp, cs->dropin_path) != 0) {
		fprintf(stderr, "vmcrypt-agent: credential set: %s: %s; the renewal unit does "
		    "not load %s: add `%s=%s:%s` under [Service] with `systemctl edit "
		    "vmcrypt-agent-renew.service`\n", cs->dropin_path, strerror(errno),
		    cs->name, cs->encrypted ? "LoadCredentialEncrypted" : "LoadCredential",
		    cs->name, abs);
		unlink(tmp);
		cs->dropin = -1;
		return -1;
	}
	cs->dropin = 1;
	cs->reloaded = daemon_reload();
	return 0;
}

static void
report_json(const struct credset *cs)
{
	static const char *const handed[] = { "ok", "no-agent", "refused", "failed" };
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(cs->name));
	json_object_object_add(o, "path", json_object_new_string(cs->path));
	json_object_object_add(o, "encrypted", json_object_new_boolean(cs->encrypted));
	if (cs->handover) {
		json_object_object_add(o, "socket", json_object_new_string(cs->sock));
		json_object_object_add(o, "handover",
		    json_object_new_string(handed[cs->handover - 1]));
	}
	if (cs->dropin) {
		json_object_object_add(o, "dropin", json_object_new_string(cs->dropin_path));
		json_object_object_add(o, "dropin_changed", json_object_new_boolean(cs->dropin == 1));
		json_object_object_add(o, "daemon_reload", json_object_new_string(
		    cs->dropin != 1 ? "not needed" : cs->reloaded == 1 ? "done" :
		    cs->reloaded == 0 ? "no systemd" : "failed"));
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* What the hand-over or the drop-in did, in words. */
static void
report_where(const struct credset *cs)
{
	const char *unit_at = cs->instance ? "@" : "", *inst = cs->instance ? cs->instance : "";

	if (cs->handover == 1 + CREDSEND_OK)
		printf("Handed over to the running agent (%s): it logs in with it as soon as "
		    "vCenter refuses the old one; no restart.\n", cs->sock);
	else if (cs->handover == 1 + CREDSEND_NOBODY)
		printf("No agent listens at %s: vmcrypt-agent%s%s reads it when it next starts.\n",
		    cs->sock, unit_at, inst);
	if (cs->dropin == 1 || cs->dropin == 2)
		printf("%s: %s; vmcrypt-agent-renew.service loads %s%s\n", cs->dropin_path,
		    cs->dropin == 1 ? "written" : "unchanged", cs->name, cs->dropin == 2 ? "" :
		    cs->reloaded == 1 ? " (systemctl daemon-reload done)" : cs->reloaded == 0 ?
		    " (systemd is not running here: no daemon-reload)" :
		    " once `systemctl daemon-reload` has run (it failed here)");
	else if (cs->dropin == 0 && cs->instance != NULL && strncmp(cs->name, "ovh.", 4) == 0)
		printf("No renewal unit per instance: load it in the unit that renews for "
		    "vmcrypt-agent@%s with %s=%s:%s\n", inst, cs->encrypted ?
		    "LoadCredentialEncrypted" : "LoadCredential", cs->name, cs->path);
}

static void
credential_report(const struct credset *cs)
{
	if (cs->json) {
		report_json(cs);
		return;
	}
	if (cs->encrypted) {
		printf("%s: written, encrypted by systemd-creds (LoadCredentialEncrypted=%s:%s)\n",
		    cs->path, cs->name, cs->path);
	} else {
		printf("%s: written IN CLEAR, mode 0600: systemd-creds was not found (systemd "
		    "250 or newer has it); the unit must load it with LoadCredential=%s:%s "
		    "(README, Install as a service)\n", cs->path, cs->name, cs->path);
	}
	report_where(cs);
}

int
cmd_credential(int argc, char **argv)
{
	struct credset cs = { 0 };
	const char *args[2] = { NULL, NULL };
	const struct opt opts[] = {
		{ "instance", 'i', OPT_STRING, "NAME", &cs.instance, NULL, 0, 0, NULL,
		  "for vmcrypt-agent@NAME (default: vmcrypt-agent)" },
		{ "dir", 'd', OPT_STRING, "DIR", &cs.dir, NULL, 0, 0, NULL,
		  "write it in DIR (default " DIR_ENCRYPTED "/UNIT,\nor "
		  DIR_PLAIN "/UNIT without systemd-creds)" },
		{ "with-key", 0, OPT_STRING, "KEY", &cs.with_key, NULL, 0, 0, NULL,
		  "systemd-creds's --with-key: host, tpm2,\nhost+tpm2, auto (its default)" },
		{ "dropin-dir", 0, OPT_STRING, "DIR", &cs.dropin_dir, NULL, 0, 0, NULL,
		  "ovh.*: the renewal unit's drop-in in DIR\n(default /etc/systemd/system/\n"
		  "vmcrypt-agent-renew.service.d)" },
		{ "json", 0, OPT_FLAG, NULL, &cs.json, NULL, 0, 0, NULL,
		  "say what was written as JSON" },
		{ 0 },
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent credential set NAME < SECRET\n",
		.about =
		    "Reads one secret from stdin (not echoed on a terminal; never on the\n"
		    "command line) and writes it as the systemd credential NAME, encrypted\n"
		    "with systemd-creds, where the unit's LoadCredentialEncrypted= reads it.\n"
		    "NAME: vcenter.password, ovh.application-secret, ovh.consumer-key.\n"
		    "vcenter.password is then handed to the running agent, no restart, over\n"
		    "its socket: $VMCRYPT_CREDENTIAL_SOCKET, else\n"
		    CREDSEND_DEFAULT " (/run/vmcrypt-agent@NAME/... with --instance).\n"
		    "An ovh.* secret gets the drop-in that makes vmcrypt-agent-renew.service\n"
		    "load it, then `systemctl daemon-reload` where systemd runs.\n",
		.tail =
		    "exit status: 0 written (and handed over, or no agent listens),\n"
		    "1 not written (the old one is kept), 2 usage (an unknown NAME, nothing\n"
		    "on stdin), 15 written but the running agent did not take it (restart\n"
		    "it).\n",
		.opts = opts, .min_args = 2, .max_args = 2,
		.args_name = "set NAME", .args = args,
	};
	char secret[SECRET_MAX];
	ssize_t n;
	int rc;

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if (strcmp(args[0], "set") != 0) {
		fprintf(stderr, "vmcrypt-agent: credential: unknown subcommand '%s' (set)\n",
		    args[0]);
		return EXIT_USAGE;
	}
	cs.name = args[1];
	if (cs.instance != NULL && (cs.instance[0] == '\0' || cs.instance[0] == '.' ||
	    strchr(cs.instance, '/') != NULL)) {
		fprintf(stderr, "vmcrypt-agent: credential set: --instance %s: an instance "
		    "name (vmcrypt-agent@NAME), without '/'\n", cs.instance);
		return EXIT_USAGE;
	}
	if (!name_known(cs.name)) {
		fprintf(stderr, "vmcrypt-agent: credential set: unknown name '%s'; one of:",
		    cs.name);
		for (size_t i = 0; cred_names[i] != NULL; i++)
			fprintf(stderr, " %s", cred_names[i]);
		fputc('\n', stderr);
		return EXIT_USAGE;
	}
	if ((n = read_secret(cs.name, secret, sizeof(secret))) < 0) {
		fprintf(stderr, "vmcrypt-agent: credential set %s: %s; nothing written\n",
		    cs.name, n == -1 ? "nothing on stdin" : "longer than 4095 bytes");
		explicit_bzero(secret, sizeof(secret));
		return EXIT_USAGE;
	}
	rc = credential_write(&cs, secret, (size_t)n);
	if (rc == EXIT_OK && strcmp(cs.name, "vcenter.password") == 0)
		hand_over(&cs, secret, (size_t)n);
	explicit_bzero(secret, sizeof(secret));
	if (rc != EXIT_OK)
		return rc;
	if (strncmp(cs.name, "ovh.", 4) == 0 && cs.instance == NULL && dropin_write(&cs) != 0)
		rc = EXIT_FAIL;
	credential_report(&cs);
	if (cs.handover == 1 + CREDSEND_REFUSED || cs.handover == 1 + CREDSEND_FAILED) {
		fprintf(stderr, "vmcrypt-agent: credential set %s: written, but the running "
		    "agent did not take it (%s): `systemctl restart vmcrypt-agent%s%s` makes it "
		    "read the new one\n", cs.name, cs.why, cs.instance ? "@" : "",
		    cs.instance ? cs.instance : "");
		rc = EXIT_HANDOVER_REFUSED;
	}
	return rc;
}
