#include "mesos/evparse.h"

#include "jarena.h"
#include "mesos/recordio.h"
#include "qm_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct evparse {
	struct ev_loop *loop;
	struct ev_async *async;
	evparse_prepare_fn prepare;
	evparse_free_fn prepared_free;
	evparse_deliver_fn deliver;
	void *arg;
	size_t submitted, delivered; /* loop thread only */

	pthread_t tid;
	pthread_mutex_t mu; /* guards the two lists and stop */
	pthread_cond_t cv;
	bool stop;
	struct evparse_item *todo, *todo_tail; /* submitted, not parsed */
	struct evparse_item *done, *done_tail; /* parsed, not delivered */
	struct evparse_item *trash, *trash_tail; /* delivered, to be freed */
};

static void push(struct evparse_item **head, struct evparse_item **tail, struct evparse_item *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

static struct evparse_item *pop(struct evparse_item **head, struct evparse_item **tail)
{
	struct evparse_item *it = *head;
	if (it) {
		*head = it->next;
		if (!*head)
			*tail = NULL;
		it->next = NULL;
	}
	return it;
}

/* Free a record and what was made of it, on any thread that holds no
 * arena: its tree is adopted, deleted unless it lies wholly in its arena,
 * and the arena unmapped. */
static void item_free(struct evparse *p, struct evparse_item *it)
{
	jarena_adopt(it->arena);
	it->arena = NULL;
	if (!jarena_whole())
		cJSON_Delete(it->ev);
	jarena_release();
	if (it->prepared && p->prepared_free)
		p->prepared_free(it->prepared);
	recordio_free(it->rec);
	free(it);
}

static void parse(struct evparse *p, struct evparse_item *it)
{
	jarena_begin(it->len);
	it->ev = cJSON_ParseWithLength(it->rec, it->len);
	jarena_end();
	/* after jarena_end: what prepare allocates is the heap's */
	if (it->ev && p->prepare)
		it->prepared = p->prepare(it->ev);
	it->arena = jarena_detach();
	recordio_free(it->rec);
	it->rec = NULL;
}

static void *parser_main(void *arg)
{
	struct evparse *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !p->todo && !p->trash)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		struct evparse_item *it = pop(&p->todo, &p->todo_tail);
		if (!it) { /* nothing to parse: free what was handled */
			it = pop(&p->trash, &p->trash_tail);
			pthread_mutex_unlock(&p->mu);
			item_free(p, it);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		parse(p, it);
		pthread_mutex_lock(&p->mu);
		push(&p->done, &p->done_tail, it);
		ev_async_send(p->async);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* One record per run: two big events never share a loop iteration. */
static void on_parsed(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct evparse *p = arg;
	pthread_mutex_lock(&p->mu);
	struct evparse_item *it = pop(&p->done, &p->done_tail);
	bool more = p->done != NULL;
	pthread_mutex_unlock(&p->mu);
	if (!it)
		return;
	if (more)
		ev_async_send(p->async);
	p->delivered++;
	jarena_adopt(it->arena);
	it->arena = NULL;
	p->deliver(p->arg, it);
	/* what is left of it is freed on the parser thread: unmapping the
	 * arena of an OFFERS event of 10,000 agents and freeing its parsed
	 * offers is 7-8 ms the loop need not wait for */
	if (jarena_taken()) {
		jarena_release(); /* the tree went with the arena */
		it->ev = NULL;
	} else {
		it->arena = jarena_detach();
	}
	pthread_mutex_lock(&p->mu);
	push(&p->trash, &p->trash_tail, it);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

struct evparse *evparse_new(struct ev_loop *loop, evparse_prepare_fn prepare,
			    evparse_free_fn prepared_free, evparse_deliver_fn deliver, void *arg)
{
	struct evparse *p = qm_calloc(1, sizeof *p);
	p->loop = loop;
	p->prepare = prepare;
	p->prepared_free = prepared_free;
	p->deliver = deliver;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->async = ev_async_new(loop, on_parsed, p);
	/* the stop signals stay blocked: the thread inherits the caller's
	 * mask (coord.c blocks them before any thread starts) */
	int rc = pthread_create(&p->tid, NULL, parser_main, p);
	if (rc != 0) {
		ev_async_free(p->async);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		errno = rc;
		return NULL;
	}
	return p;
}

void evparse_free(struct evparse *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->tid, NULL);
	ev_async_free(p->async);
	struct evparse_item *it;
	while ((it = pop(&p->todo, &p->todo_tail))) {
		recordio_free(it->rec);
		free(it);
	}
	while ((it = pop(&p->done, &p->done_tail)))
		item_free(p, it);
	while ((it = pop(&p->trash, &p->trash_tail)))
		item_free(p, it);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void evparse_submit(struct evparse *p, char *rec, size_t len, uint64_t tag)
{
	struct evparse_item *it = qm_calloc(1, sizeof *it);
	it->tag = tag;
	it->len = len;
	snprintf(it->head, sizeof it->head, "%.*s", (int)(len < 80 ? len : 80), rec);
	it->rec = rec;
	p->submitted++;
	pthread_mutex_lock(&p->mu);
	push(&p->todo, &p->todo_tail, it);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t evparse_pending(const struct evparse *p)
{
	return p->submitted - p->delivered;
}
