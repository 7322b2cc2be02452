#include "pool.h"
#include "log.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdlib.h>

struct work {
	uv_work_t	 req;
	struct pool	*pool;
	pool_work_fn	 work;
	pool_done_fn	 done;
	void		*arg;
};

void
pool_init(struct pool *p, uv_loop_t *loop, struct vsession *s, int timeout)
{
	p->loop = loop;
	p->s = s;
	p->timeout = timeout;
	p->running = 0;
	p->nconns = 0;
	p->fail_next = 0;
	pthread_mutex_init(&p->mtx, NULL);
}

void
pool_destroy(struct pool *p)
{
	for (int i = 0; i < p->nconns; i++)
		vconn_free(p->conns[i]);
	p->nconns = 0;
	pthread_mutex_destroy(&p->mtx);
}

static struct vconn *
conn_take(struct pool *p)
{
	struct vconn *c = NULL;
	pthread_mutex_lock(&p->mtx);
	if (p->nconns > 0)
		c = p->conns[--p->nconns];
	pthread_mutex_unlock(&p->mtx);
	if (c == NULL) {
		c = vconn_new(p->s);
		vconn_set_timeout(c, p->timeout);
	}
	return c;
}

static void
conn_give(struct pool *p, struct vconn *c)
{
	pthread_mutex_lock(&p->mtx);
	if (p->nconns < (int)(sizeof(p->conns) / sizeof(p->conns[0]))) {
		p->conns[p->nconns++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&p->mtx);
	vconn_free(c);
}

static void
run(uv_work_t *req)
{
	struct work *w = req->data;
	struct vconn *c = conn_take(w->pool);
	w->work(c, w->arg);
	vconn_reset(c);
	conn_give(w->pool, c);
}

static void
after(uv_work_t *req, int status)
{
	struct work *w = req->data;
	(void)status;		/* work is never cancelled */
	w->pool->running--;
	w->done(w->arg);
	free(w);
}

int
pool_submit(struct pool *p, pool_work_fn work, pool_done_fn done, void *arg)
{
	struct work *w;
	int rc;

	if (p->fail_next) {
		p->fail_next = 0;
		return UV_EINVAL;
	}
	w = xcalloc(1, sizeof(*w));
	w->req.data = w;
	w->pool = p;
	w->work = work;
	w->done = done;
	w->arg = arg;
	if ((rc = uv_queue_work(p->loop, &w->req, run, after)) != 0) {
		log_warnx("cannot queue work: %s", uv_strerror(rc));
		free(w);
		return rc;
	}
	p->running++;
	return 0;
}
