/*
 * `vmcrypt-agent run`: the daemon core.  libuv owns the process:
 *
 *   loop thread   signals (TERM/INT stop, HUP reload), timers (keep-alive),
 *                 and every decision; it never blocks.
 *   watcher       a dedicated thread parked in WaitForUpdatesEx on a private
 *                 property collector; what it sees is queued and the loop is
 *                 woken with uv_async_send.
 *   pool          short calls (CurrentTime, CancelWaitForUpdates) run on
 *                 libuv's bounded thread pool with connections taken from a
 *                 small pool, results handed back in the after-work callback.
 */
#include "cli.h"
#include "config.h"
#include "log.h"
#include "vim.h"
#include "xmalloc.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define WAIT_SECONDS	30		/* WaitForUpdatesEx maxWaitSeconds */
#define KEEPALIVE_MS	(10 * 60 * 1000)
#define QUEUE_MAX	100000		/* updates held for the loop */

struct update {
	struct update	*next;
	char		 kind[8];	/* enter / modify / leave */
	char		 moref[96];
	char		*name;
	char		*hw;
	char		*power;
};

struct agent {
	uv_loop_t	 loop;
	uv_signal_t	 sigterm, sigint, sighup;
	uv_timer_t	 keepalive;
	uv_async_t	 wake;
	uv_thread_t	 watcher;
	int		 watcher_started;
	atomic_int	 stopping;
	atomic_int	 watcher_done;

	char		*config_path;
	struct config	*cfg;
	struct vsession	*s;

	pthread_mutex_t	 mtx;		/* guards queue, pc, conns */
	struct update	*head, **tail;
	size_t		 queued;
	size_t		 dropped;
	struct vmoref	 pc;		/* the watcher's collector */
	struct vconn	*conns[4];
	int		 nconns;

	size_t		 nvms;
	int		 exit_code;
};

/* ---------------------------------------------------------------- */
/* connection pool for short calls                                  */

static struct vconn *
conn_take(struct agent *a)
{
	struct vconn *c = NULL;
	pthread_mutex_lock(&a->mtx);
	if (a->nconns > 0)
		c = a->conns[--a->nconns];
	pthread_mutex_unlock(&a->mtx);
	if (c == NULL) {
		c = vconn_new(a->s);
		vconn_set_timeout(c, a->cfg->timeout);
	}
	return c;
}

static void
conn_give(struct agent *a, struct vconn *c)
{
	pthread_mutex_lock(&a->mtx);
	if (a->nconns < (int)(sizeof(a->conns) / sizeof(a->conns[0]))) {
		a->conns[a->nconns++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&a->mtx);
	vconn_free(c);
}

/* ---------------------------------------------------------------- */
/* watcher thread                                                    */

static int
on_update(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	struct agent *a = arg;
	struct update *u = xcalloc(1, sizeof(*u));

	snprintf(u->kind, sizeof(u->kind), "%s", kind);
	snprintf(u->moref, sizeof(u->moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "name") == 0)
			u->name = xstrdup(xnode_text(vals[i]));
		else if (strcmp(names[i], "config.version") == 0)
			u->hw = xstrdup(xnode_text(vals[i]));
		else if (strcmp(names[i], "runtime.powerState") == 0)
			u->power = xstrdup(xnode_text(vals[i]));
	}
	pthread_mutex_lock(&a->mtx);
	if (a->queued >= QUEUE_MAX) {
		/* The periodic reconcile catches up on whatever is dropped. */
		a->dropped++;
		pthread_mutex_unlock(&a->mtx);
		free(u->name); free(u->hw); free(u->power); free(u);
		return 0;
	}
	*a->tail = u;
	a->tail = &u->next;
	a->queued++;
	pthread_mutex_unlock(&a->mtx);
	uv_async_send(&a->wake);
	return 0;
}

/* Sleeps up to ms, waking early when the agent stops. */
static void
nap(struct agent *a, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&a->stopping); t += 100)
		usleep(100 * 1000);
}

static void
watcher_main(void *arg)
{
	static const char *const paths[] = { "name", "config.version", "runtime.powerState" };
	struct agent *a = arg;
	struct vconn *c = vconn_new(a->s);
	struct vmoref pc = { "", "" }, view = { "", "" }, filter;
	unsigned gen = 0;
	char version[256] = "";
	int backoff = 1000, rc;

	/* recv_timeout must outlast the server-side wait. */
	vconn_set_timeout(c, WAIT_SECONDS + a->cfg->timeout);
	while (!atomic_load(&a->stopping)) {
		if (pc.value[0] == '\0' || gen != vsession_generation(a->s)) {
			/* (Re)create the session-scoped objects. */
			gen = vsession_generation(a->s);
			version[0] = '\0';
			rc = vim_create_property_collector(c, &pc);
			if (rc == 0)
				rc = vim_create_container_view(c,
				    vsession_mo(a->s, VMO_ROOT_FOLDER), "VirtualMachine", 1, &view);
			if (rc == 0)
				rc = vim_create_view_filter(c, &pc, &view, "VirtualMachine",
				    paths, 3, &filter);
			if (rc != 0) {
				log_warnx("watcher: %s; retrying in %d s", vconn_error(c), backoff / 1000);
				pc.value[0] = '\0';
				nap(a, backoff);
				backoff = backoff < 60000 ? backoff * 2 : 60000;
				continue;
			}
			pthread_mutex_lock(&a->mtx);
			a->pc = pc;
			pthread_mutex_unlock(&a->mtx);
			log_debug("watcher: collector %s, view %s", pc.value, view.value);
		}
		rc = vim_wait_for_updates(c, &pc, version, sizeof(version),
		    WAIT_SECONDS, on_update, a);
		if (rc == V_ERR_CANCELED)
			continue;		/* loop condition decides */
		if (rc != 0) {
			log_warnx("watcher: %s; retrying in %d s", vconn_error(c), backoff / 1000);
			nap(a, backoff);
			backoff = backoff < 60000 ? backoff * 2 : 60000;
			continue;
		}
		backoff = 1000;
	}
	if (pc.value[0]) {
		vconn_set_timeout(c, 10);
		vim_destroy_property_collector(c, &pc);
	}
	vconn_free(c);
	atomic_store(&a->watcher_done, 1);
	uv_async_send(&a->wake);
}

/* ---------------------------------------------------------------- */
/* pool work                                                         */

struct work {
	uv_work_t	 req;
	struct agent	*a;
	int		 op;		/* 0 keep-alive, 1 cancel wait */
	int		 rc;
	char		 msg[768];
};

static void
work_run(uv_work_t *req)
{
	struct work *w = req->data;
	struct agent *a = w->a;
	struct vconn *c = conn_take(a);
	char now[64];

	if (w->op == 0) {
		w->rc = vim_current_time(c, now, sizeof(now));
	} else {
		struct vmoref pc;
		pthread_mutex_lock(&a->mtx);
		pc = a->pc;
		pthread_mutex_unlock(&a->mtx);
		w->rc = pc.value[0] ? vim_cancel_wait(c, &pc) : 0;
	}
	if (w->rc != 0)
		snprintf(w->msg, sizeof(w->msg), "%s", vconn_error(c));
	vconn_reset(c);
	conn_give(a, c);
}

static void
work_done(uv_work_t *req, int status)
{
	struct work *w = req->data;
	if (status == 0 && w->rc != 0)
		log_warnx("%s: %s", w->op == 0 ? "keep-alive" : "cancel", w->msg);
	else if (status == 0 && w->op == 0)
		log_debug("keep-alive: session alive");
	free(w);
}

static void
submit(struct agent *a, int op)
{
	struct work *w = xcalloc(1, sizeof(*w));
	w->a = a;
	w->op = op;
	w->req.data = w;
	if (uv_queue_work(&a->loop, &w->req, work_run, work_done) != 0)
		free(w);
}

/* ---------------------------------------------------------------- */
/* loop callbacks                                                    */

static void
on_keepalive(uv_timer_t *t)
{
	submit(t->data, 0);
}

static void
close_all(struct agent *a)
{
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sighup, NULL);
	uv_close((uv_handle_t *)&a->keepalive, NULL);
	uv_close((uv_handle_t *)&a->wake, NULL);
}

static void
drain(struct agent *a)
{
	struct update *list;

	pthread_mutex_lock(&a->mtx);
	list = a->head;
	a->head = NULL;
	a->tail = &a->head;
	a->queued = 0;
	pthread_mutex_unlock(&a->mtx);
	while (list != NULL) {
		struct update *u = list;
		list = u->next;
		if (strcmp(u->kind, "enter") == 0)
			a->nvms++;
		else if (strcmp(u->kind, "leave") == 0 && a->nvms > 0)
			a->nvms--;
		if (strcmp(u->kind, "leave") == 0)
			log_info("VM %s removed", u->moref);
		else
			log_info("VM %s (%s)%s%s%s%s %s", u->name ? u->name : "?", u->moref,
			    u->hw ? " " : "", u->hw ? u->hw : "",
			    u->power ? " " : "", u->power ? u->power : "",
			    strcmp(u->kind, "enter") == 0 ? "seen" : "changed");
		free(u->name); free(u->hw); free(u->power); free(u);
	}
}

static void
on_wake(uv_async_t *h)
{
	struct agent *a = h->data;

	drain(a);
	if (atomic_load(&a->watcher_done) && a->watcher_started) {
		uv_thread_join(&a->watcher);
		a->watcher_started = 0;
		close_all(a);
	}
}

static void
on_stop(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (atomic_exchange(&a->stopping, 1)) {
		log_warnx("second %s: exiting now", signum == SIGINT ? "SIGINT" : "SIGTERM");
		exit(EXIT_FAIL);
	}
	log_info("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	uv_timer_stop(&a->keepalive);
	submit(a, 1);			/* wakes the watcher out of its wait */
}

static int
same_connection(const struct config *x, const struct config *y)
{
#define SAME(f) ((x->f == NULL && y->f == NULL) || (x->f && y->f && strcmp(x->f, y->f) == 0))
	return SAME(vc_url) && SAME(vc_user) && SAME(password_file) &&
	    SAME(tls.ca_file) && SAME(tls.thumbprint) && x->tls.mode == y->tls.mode;
#undef SAME
}

static void
on_reload(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	struct config *n;
	char err[8192];

	(void)signum;
	if (config_load(a->config_path, &n, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s is invalid, keeping the running configuration:\n%s",
		    a->config_path, err);
		return;
	}
	if (!same_connection(a->cfg, n)) {
		log_warnx("SIGHUP: vCenter connection settings changed; they take effect at the next restart");
		config_free(n);
		return;
	}
	enum log_level lvl;
	if (log_parse_level(n->log_level, &lvl) == 0)
		log_setlevel(lvl);
	/* The watcher reads only connection settings, which are unchanged, so
	 * swapping the rest on the loop thread is safe. */
	struct config *old = a->cfg;
	n->timeout = old->timeout;
	a->cfg = n;
	config_free(old);
	log_info("SIGHUP: configuration reloaded from %s", a->config_path);
}

int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent a;
	char err[1024];
	char *password;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': a.config_path = optarg; break;
		case 'h':
			printf("usage: vmcrypt-agent run --config FILE\n\n"
			    "Runs the agent in the foreground: logs in to vCenter, watches the\n"
			    "inventory and logs every VM it sees.  SIGTERM/SIGINT stop it cleanly\n"
			    "(logout included); SIGHUP reloads FILE.\n");
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (a.config_path == NULL || optind != argc) {
		fprintf(stderr, "usage: vmcrypt-agent run --config FILE\n");
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(a.config_path, &a.cfg)) != EXIT_OK)
		return rc;
	if ((password = config_read_password(a.cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		config_free(a.cfg);
		return EXIT_CONFIG;
	}
	if ((a.s = vsession_new(a.cfg, err, sizeof(err))) == NULL) {
		secret_free(password);
		log_error("%s", err);
		config_free(a.cfg);
		return EXIT_CONNECT;
	}
	rc = vsession_open(a.s, password, err, sizeof(err));
	secret_free(password);
	if (rc != 0) {
		log_error("%s", err);
		vsession_free(a.s);
		config_free(a.cfg);
		return cli_exit_for(rc);
	}

	pthread_mutex_init(&a.mtx, NULL);
	a.tail = &a.head;
	if (uv_loop_init(&a.loop) != 0)
		fatalx("uv_loop_init failed");
	uv_signal_init(&a.loop, &a.sigterm);
	uv_signal_init(&a.loop, &a.sigint);
	uv_signal_init(&a.loop, &a.sighup);
	uv_timer_init(&a.loop, &a.keepalive);
	uv_async_init(&a.loop, &a.wake, on_wake);
	a.sigterm.data = a.sigint.data = a.sighup.data = &a;
	a.keepalive.data = a.wake.data = &a;
	uv_signal_start(&a.sigterm, on_stop, SIGTERM);
	uv_signal_start(&a.sigint, on_stop, SIGINT);
	uv_signal_start(&a.sighup, on_reload, SIGHUP);
	uv_timer_start(&a.keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);

	if (uv_thread_create(&a.watcher, watcher_main, &a) != 0)
		fatalx("cannot start the watcher thread");
	a.watcher_started = 1;
	log_info("agent running (pid %d); watching the inventory", (int)getpid());

	uv_run(&a.loop, UV_RUN_DEFAULT);
	drain(&a);

	for (int i = 0; i < a.nconns; i++)
		vconn_free(a.conns[i]);
	vsession_close(a.s);
	vsession_free(a.s);
	rc = uv_loop_close(&a.loop);
	if (rc != 0)
		log_warnx("event loop closed with handles still open: %s", uv_strerror(rc));
	pthread_mutex_destroy(&a.mtx);
	config_free(a.cfg);
	log_info("stopped");
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}
