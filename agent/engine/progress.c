/*
 * The state directory: lock, identity, checkpoint (progress.h).
 */
#include "progress.h"

#include "core.h"
#include "log.h"
#include "pool.h"
#include "vmtable.h"
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
	struct progress	*p;
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
	struct progress *p = j->p;

	p->writing = 0;
	if (j->rc != 0) {
		log_warnx("checkpoint: %s", j->err);
		p->recheck = 1;
	} else {
		p->written = j->cp;
		p->valid = 1;
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
ckpt_target(struct progress *p, struct checkpoint *cp)
{
	const struct core *c = p->c;
	struct low l = { -1, NULL };

	if (c->once || c->dry_run || p->max_key < 0 || p->max_time[0] == '\0')
		return -1;
	if (c->vms->npend > 0)
		vm_each(c->vms, VM_SCHED_COUNT, lowest, &l);
	if (l.key >= 0) {
		cp->key = l.key - 1;
		snprintf(cp->time, sizeof(cp->time), "%s", l.time ? l.time : "");
	} else {
		cp->key = p->max_key;
		snprintf(cp->time, sizeof(cp->time), "%s", p->max_time);
	}
	if (p->valid && cp->key == p->written.key && strcmp(cp->time, p->written.time) == 0)
		return -1;
	return 0;
}

/* A pool job writes it (write, fsync, rename: never on the loop). */
void
progress_maybe(struct progress *p)
{
	const struct core *c = p->c;
	struct checkpoint cp;

	if (p->writing || c->closing)
		return;
	if (!p->recheck && c->vms->pend_gen == p->gen && p->max_key == p->seen_max)
		return;
	p->gen = c->vms->pend_gen;
	p->seen_max = p->max_key;
	p->recheck = 0;
	if (ckpt_target(p, &cp) != 0)
		return;
	struct ckpt_job *j = xcalloc(1, sizeof(*j));
	j->p = p;
	snprintf(j->dir, sizeof(j->dir), "%s", core_cfg(c)->state_dir);
	j->cp = cp;
	p->writing = 1;
	if (pool_submit(c->pool, ckpt_work, ckpt_done, j) != 0) {
		p->writing = 0;
		p->recheck = 1;
		free(j);
	}
}

int
progress_busy(const struct progress *p)
{
	return p->writing;
}

void
progress_saw(struct progress *p, long long key, const char *time)
{
	if (key > p->max_key) {
		p->max_key = key;
		snprintf(p->max_time, sizeof(p->max_time), "%s", time);
	}
}

void
progress_begin_at(struct progress *p, const char *vcenter_now)
{
	if (p->begin_time[0] == '\0')
		snprintf(p->begin_time, sizeof(p->begin_time), "%s", vcenter_now);
}

void
progress_init(struct progress *p, const struct core *c)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->lock_fd = -1;
	p->max_key = -1;
	p->recheck = 1;
}

/* The last one, on the way out (the loop is done: blocking is fine). */
void
progress_final(struct progress *p)
{
	struct checkpoint cp;
	char err[512];

	if (ckpt_target(p, &cp) == 0 &&
	    checkpoint_write(core_cfg(p->c)->state_dir, &cp, err, sizeof(err)) != 0)
		log_warnx("checkpoint: %s", err);
}

void
progress_close(struct progress *p)
{
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	p->lock_fd = -1;
}

/* ---------------------------------------------------------------- */
/* the state directory                                               */

/* One process per state directory: a second agent on it is refused (the
 * lease's identity, and the checkpoint, are the directory's). */
static int
lock_state_dir(struct progress *p, const char *dir)
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
	p->lock_fd = fd;
	return 0;
}

/* This instance's name in the lease: host, state directory and a random
 * id kept there (two hosts may share a name and a path). */
static void
instance_identity(struct progress *p, const char *dir)
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
	snprintf(p->identity, sizeof(p->identity), "%s:%s#%s", host, dir, id);
}

/* The state directory made, locked, and read: the checkpoint (where
 * events resume) and the identity.  0, or -1 (said). */
int
progress_open(struct progress *p)
{
	struct checkpoint cp;
	char err[512];
	const struct config *cfg = core_cfg(p->c);

	if (p->c->dry_run || p->c->once)
		return 0;
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		log_error("state directory %s: %s; create it (owned by the agent's user) "
		    "or set <state-dir> in %s", cfg->state_dir, strerror(errno), p->c->config_path);
		return -1;
	}
	if (lock_state_dir(p, cfg->state_dir) != 0)
		return -1;
	instance_identity(p, cfg->state_dir);
	int rc = checkpoint_read(cfg->state_dir, &cp, err, sizeof(err));
	if (rc == 0) {
		snprintf(p->begin_time, sizeof(p->begin_time), "%s", cp.time);
		p->max_key = cp.key;
		snprintf(p->max_time, sizeof(p->max_time), "%s", cp.time);
		p->written = cp;
		p->valid = 1;
		log_info("checkpoint: resuming events from %s (after key %lld)", cp.time, cp.key);
	} else if (rc < 0) {
		log_warnx("checkpoint: %s", err);
	}
	return 0;
}
