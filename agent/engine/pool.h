/*
 * Work off the loop, after libuv's uv_queue_work: pool_submit() stores a
 * work function (run on a pool thread, with a vCenter connection from a
 * small free list) and a done function (run on the loop thread after it),
 * and knows nothing of what the work is.
 *
 * pool_submit() either returns an error or will call done: never both
 * (libuv's rule).  A caller undoes what it marked for the work when it
 * returns an error.
 */
#ifndef VMCRYPT_POOL_H
#define VMCRYPT_POOL_H

#include <pthread.h>

#include <uv.h>

struct vconn;
struct vsession;

typedef void (*pool_work_fn)(struct vconn *, void *arg);
typedef void (*pool_done_fn)(void *arg);

struct pool {
	uv_loop_t	*loop;
	struct vsession	*s;
	int		 timeout;	/* per call, for new connections */
	int		 running;	/* submitted, done not yet called */
	pthread_mutex_t	 mtx;		/* guards the free list */
	struct vconn	*conns[16];
	int		 nconns;
	int		 fail_next;	/* tests: the next submit fails */
};

void	pool_init(struct pool *, uv_loop_t *, struct vsession *, int timeout);
/* Frees the idle connections; nothing may be running. */
void	pool_destroy(struct pool *);
/* 0, or a negative libuv error (nothing will be called). */
int	pool_submit(struct pool *, pool_work_fn work, pool_done_fn done, void *arg);

#endif
