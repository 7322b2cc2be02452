/*
 * Where this agent stands, kept in its state directory: the checkpoint
 * (the oldest event not yet handled, written off the loop), the lock that
 * keeps one process per state directory, and the instance identity the
 * leader lease names (lease.h).
 */
#include "config.h"
#include "engine.h"
#include "log.h"
#include "xmalloc.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>


struct ckpt_job {
	struct engine	*e;
	char		 dir[4096];
	struct checkpoint cp;
	int		 rc;
	char		 err[512];
};

static void
ckpt_work(struct vconn *c, void *arg)
{
	struct ckpt_job *j = arg;
	(void)c;
	j->rc = checkpoint_write(j->dir, &j->cp, j->err, sizeof(j->err));
}

static void
ckpt_done(void *arg)
{
	struct ckpt_job *j = arg;
	struct engine *e = j->e;

	e->cp_writing = 0;
	if (j->rc != 0) {
		log_warnx("checkpoint: %s", j->err);
		e->cp_recheck = 1;
	} else {
		e->cp_written = j->cp;
		e->cp_valid = 1;
	}
	free(j);
}

struct low {
	long long	 key;
	const char	*time;
};

static void
lowest(void *arg, struct vmrec *r)
{
	struct low *l = arg;
	if (r->pend_key >= 0 && (l->key < 0 || r->pend_key < l->key)) {
		l->key = r->pend_key;
		l->time = r->pend_time;
	}
}

/* Where the next start resumes: 0 and *cp, or -1 if nothing to write. */
static int
ckpt_target(struct engine *e, struct checkpoint *cp)
{
	struct low l = { -1, NULL };

	if (e->once || e->dry_run || e->max_key < 0 || e->max_time[0] == '\0')
		return -1;
	if (e->vms.npend > 0)
		vm_each(&e->vms, VM_SCHED_COUNT, lowest, &l);
	if (l.key >= 0) {
		cp->key = l.key - 1;
		snprintf(cp->time, sizeof(cp->time), "%s", l.time);
	} else {
		cp->key = e->max_key;
		snprintf(cp->time, sizeof(cp->time), "%s", e->max_time);
	}
	if (e->cp_valid && cp->key == e->cp_written.key &&
	    strcmp(cp->time, e->cp_written.time) == 0)
		return -1;
	return 0;
}

/* A pool job writes it (write, fsync, rename: never on the loop). */
void
progress_maybe(struct engine *e)
{
	struct checkpoint cp;

	if (e->cp_writing || e->closing)
		return;
	if (!e->cp_recheck && e->vms.pend_gen == e->cp_gen && e->max_key == e->cp_max)
		return;
	e->cp_gen = e->vms.pend_gen;
	e->cp_max = e->max_key;
	e->cp_recheck = 0;
	if (ckpt_target(e, &cp) != 0)
		return;
	struct ckpt_job *j = xcalloc(1, sizeof(*j));
	j->e = e;
	snprintf(j->dir, sizeof(j->dir), "%s", engine_cfg(e)->state_dir);
	j->cp = cp;
	e->cp_writing = 1;
	if (pool_submit(&e->pool, ckpt_work, ckpt_done, j) != 0) {
		e->cp_writing = 0;
		e->cp_recheck = 1;
		free(j);
	}
}

/* The last one, on the way out (the loop is done: blocking is fine). */
void
progress_final(struct engine *e)
{
	struct checkpoint cp;
	char err[512];

	if (ckpt_target(e, &cp) == 0 &&
	    checkpoint_write(engine_cfg(e)->state_dir, &cp, err, sizeof(err)) != 0)
		log_warnx("checkpoint: %s", err);
}

/* ---------------------------------------------------------------- */
/* the state directory                                               */

/* One process per state directory: a second agent on it is refused (the
 * lease's identity, and the checkpoint, are the directory's). */
static int
lock_state_dir(struct engine *e, const char *dir)
{
	char *path = xasprintf("%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_error("state directory %s: cannot open %s: %s", dir, path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("state directory %s is in use by another vmcrypt-agent%s%s%s; run one "
		    "agent per state directory (each instance its own <state-dir>)", dir,
		    pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		close(fd);
		return -1;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	e->lock_fd = fd;
	return 0;
}

/* This instance's name in the lease: host, state directory and a random
 * id kept there (two hosts may share a name and a path). */
static void
instance_identity(struct engine *e, const char *dir)
{
	char host[256] = "localhost", id[64] = "";
	char *path = xasprintf("%s/instance-id", dir);
	FILE *f = fopen(path, "r");

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (f != NULL) {
		if (fgets(id, sizeof(id), f) == NULL)
			id[0] = '\0';
		id[strcspn(id, "\r\n")] = '\0';
		fclose(f);
	}
	if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16) {
		unsigned char b[8];
		if (RAND_bytes(b, sizeof(b)) != 1)
			fatalx("RAND_bytes failed");
		for (size_t i = 0; i < sizeof(b); i++)
			snprintf(id + 2 * i, 3, "%02x", b[i]);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dprintf(fd, "%s\n", id) < 0)
			log_warnx("state directory: cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	free(path);
	snprintf(e->lease.identity, sizeof(e->lease.identity), "%s:%s#%s", host, dir, id);
}

/* The state directory made, locked, and read: the checkpoint (where
 * events resume) and the identity.  0, or -1 (said). */
int
progress_open(struct engine *e)
{
	struct checkpoint cp;
	char err[512];
	const struct config *cfg = engine_cfg(e);

	if (e->dry_run || e->once)
		return 0;
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		log_error("state directory %s: %s; create it (owned by the agent's user) "
		    "or set <state-dir> in %s", cfg->state_dir, strerror(errno), e->config_path);
		return -1;
	}
	if (lock_state_dir(e, cfg->state_dir) != 0)
		return -1;
	instance_identity(e, cfg->state_dir);
	int rc = checkpoint_read(cfg->state_dir, &cp, err, sizeof(err));
	if (rc == 0) {
		snprintf(e->begin_time, sizeof(e->begin_time), "%s", cp.time);
		e->max_key = cp.key;
		snprintf(e->max_time, sizeof(e->max_time), "%s", cp.time);
		e->cp_written = cp;
		e->cp_valid = 1;
		log_info("checkpoint: resuming events from %s (after key %lld)", cp.time, cp.key);
	} else if (rc < 0) {
		log_warnx("checkpoint: %s", err);
	}
	return 0;
}
