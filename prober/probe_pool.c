#include "probe_pool.h"

#include "log.h"
#include "qm_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { JOB_QUEUED = 1, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

struct worker {
	pthread_t tid;
	struct ppool *pool;
	struct ppool_job *job; /* running now, or NULL */
	bool detached;         /* blocked when ppool_free ran */
};

struct ppool {
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* workers: a job was queued, or quit */
	pthread_cond_t done_cv; /* the waiter: a job finished */
	struct ppool_job *head, *tail;
	struct worker *workers[PPOOL_MAX_THREADS];
	size_t n_threads, n_idle, n_stuck;
	bool quit;       /* ppool_free was called */
	bool joined_all; /* ... and has joined every thread not blocked */
	size_t n_detached; /* blocked threads at ppool_free, still alive */
	void (*unblocked)(void *arg);
	void *unblocked_arg;
	void *(*thread_init)(void);
	void (*thread_fini)(void *);
};

static void pool_destroy(struct ppool *p)
{
	for (size_t i = 0; i < p->n_threads; i++)
		free(p->workers[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	free(p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ppool *p = w->pool;
	void *ctx = p->thread_init ? p->thread_init() : NULL;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->quit)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (!p->head)
			break; /* quit */
		struct ppool_job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		j->state = JOB_RUNNING;
		w->job = j;
		p->n_idle--;
		pthread_mutex_unlock(&p->mu);

		j->run(j, ctx);

		pthread_mutex_lock(&p->mu);
		w->job = NULL;
		p->n_idle++;
		if (j->state == JOB_ABANDONED) {
			p->n_stuck--;
			j->free(j);
			if (!p->quit && p->unblocked)
				p->unblocked(p->unblocked_arg);
		} else {
			j->state = JOB_DONE;
			pthread_cond_broadcast(&p->done_cv);
		}
	}
	p->n_idle--;
	/* the last detached thread out frees the pool, once ppool_free has
	 * joined the others (exactly one of the two sees both true) */
	bool last = false;
	if (w->detached) {
		p->n_detached--;
		last = p->joined_all && p->n_detached == 0;
	}
	pthread_mutex_unlock(&p->mu);
	if (ctx && p->thread_fini)
		p->thread_fini(ctx);
	if (last)
		pool_destroy(p);
	return NULL;
}

struct ppool *ppool_new(void *(*thread_init)(void), void (*thread_fini)(void *),
			void (*unblocked)(void *arg), void *arg)
{
	struct ppool *p = qm_calloc(1, sizeof *p);
	p->thread_init = thread_init;
	p->thread_fini = thread_fini;
	p->unblocked = unblocked;
	p->unblocked_arg = arg;
	pthread_condattr_t ca;
	bool ok = pthread_condattr_init(&ca) == 0;
	if (ok) {
		ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
		     pthread_mutex_init(&p->mu, NULL) == 0 &&
		     pthread_cond_init(&p->work_cv, NULL) == 0 &&
		     pthread_cond_init(&p->done_cv, &ca) == 0;
		pthread_condattr_destroy(&ca);
	}
	if (!ok) {
		free(p);
		return NULL;
	}
	return p;
}

void ppool_submit(struct ppool *p, struct ppool_job *j)
{
	pthread_mutex_lock(&p->mu);
	j->state = JOB_QUEUED;
	j->next = NULL;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	size_t queued = 0;
	for (struct ppool_job *q = p->head; q; q = q->next)
		queued++;
	if (queued > p->n_idle && p->n_threads - p->n_stuck < PPOOL_PARALLEL &&
	    p->n_threads < PPOOL_MAX_THREADS) {
		struct worker *w = qm_calloc(1, sizeof *w);
		w->pool = p;
		/* counted idle before it runs, so a burst starts one thread
		 * per job and no more */
		p->n_idle++;
		if (pthread_create(&w->tid, NULL, worker_main, w) == 0) {
			p->workers[p->n_threads++] = w;
		} else {
			p->n_idle--;
			free(w);
			if (p->n_threads == 0)
				log_warn("probe_thread_failed", "reason=%s",
					 log_qs(strerror(errno)));
		}
	}
	pthread_cond_signal(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
}

static void deadline_after(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void unqueue(struct ppool *p, struct ppool_job *j)
{
	struct ppool_job **pp = &p->head;
	struct ppool_job *prev = NULL;
	while (*pp && *pp != j) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = j->next;
	if (p->tail == j)
		p->tail = prev;
}

size_t ppool_wait(struct ppool *p, struct ppool_job **v, size_t n,
		  long long timeout_ms)
{
	struct timespec dl;
	deadline_after(&dl, timeout_ms);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t open = 0;
		for (size_t i = 0; i < n; i++)
			if (v[i] && v[i]->state != JOB_DONE)
				open++;
		if (open == 0)
			break;
		if (pthread_cond_timedwait(&p->done_cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	}
	size_t abandoned = 0;
	for (size_t i = 0; i < n; i++) {
		struct ppool_job *j = v[i];
		if (!j || j->state == JOB_DONE)
			continue;
		abandoned++;
		v[i] = NULL;
		if (j->state == JOB_QUEUED) {
			/* never started (every thread busy): nothing to wait
			 * for, nothing blocked on its key */
			unqueue(p, j);
			j->free(j);
		} else {
			j->state = JOB_ABANDONED;
			p->n_stuck++;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return abandoned;
}

bool ppool_stuck(struct ppool *p, const char *key)
{
	bool stuck = false;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_threads && !stuck; i++) {
		const struct ppool_job *j = p->workers[i]->job;
		stuck = j && j->state == JOB_ABANDONED && j->key &&
			strcmp(j->key, key) == 0;
	}
	pthread_mutex_unlock(&p->mu);
	return stuck;
}

size_t ppool_n_stuck(struct ppool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->n_stuck;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t ppool_n_threads(struct ppool *p)
{
	pthread_mutex_lock(&p->mu);
	size_t n = p->n_threads;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void ppool_free(struct ppool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	/* jobs nobody waits for any more */
	while (p->head) {
		struct ppool_job *j = p->head;
		p->head = j->next;
		j->free(j);
	}
	p->tail = NULL;
	pthread_cond_broadcast(&p->work_cv);
	/* at quit, a thread with a job is one blocked in an abandoned job
	 * (the caller waits for every other): detach it, join the rest */
	size_t n = p->n_threads;
	for (size_t i = 0; i < n; i++)
		if (p->workers[i]->job) {
			p->workers[i]->detached = true;
			p->n_detached++;
		}
	size_t n_blocked = p->n_detached;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		if (p->workers[i]->detached)
			pthread_detach(p->workers[i]->tid);
		else
			pthread_join(p->workers[i]->tid, NULL);
	}
	if (n_blocked)
		log_warn("probe_threads_blocked", "count=%zu reason=\"left to "
			 "finish their blocked reads\"", n_blocked);
	pthread_mutex_lock(&p->mu);
	p->joined_all = true;
	bool destroy = p->n_detached == 0;
	pthread_mutex_unlock(&p->mu);
	if (destroy)
		pool_destroy(p);
}
