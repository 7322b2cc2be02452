#include "notes.h"

#include <stdlib.h>

void
notes_init(struct notes *q, uv_async_t *wake)
{
	pthread_mutex_init(&q->mtx, NULL);
	q->head = NULL;
	q->tail = &q->head;
	q->n = q->dropped = 0;
	q->wake = wake;
}

void
notes_destroy(struct notes *q)
{
	while (q->head != NULL) {
		struct note *n = q->head;
		q->head = n->next;
		free(n);
	}
	pthread_mutex_destroy(&q->mtx);
}

void
notes_post(struct notes *q, struct note *n, int wake)
{
	pthread_mutex_lock(&q->mtx);
	if (q->n >= NOTES_MAX && n->kind == N_EVENT) {
		q->dropped++;
		pthread_mutex_unlock(&q->mtx);
		free(n);
		return;
	}
	n->next = NULL;
	*q->tail = n;
	q->tail = &n->next;
	q->n++;
	pthread_mutex_unlock(&q->mtx);
	if (wake)
		notes_wake(q);
}

void
notes_wake(struct notes *q)
{
	if (q->wake != NULL)
		uv_async_send(q->wake);
}

struct note *
notes_take(struct notes *q, size_t *dropped)
{
	pthread_mutex_lock(&q->mtx);
	struct note *list = q->head;
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
	*dropped = q->dropped;
	q->dropped = 0;
	pthread_mutex_unlock(&q->mtx);
	return list;
}
