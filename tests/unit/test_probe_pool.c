/* probe_pool: jobs that return, jobs that block past the deadline (a read
 * on a pipe nobody writes stands in for a hung disk), what the caller sees
 * of each, and a pool freed while a thread is still blocked. */
#include "probe_pool.h"

#include "qm_error.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tjob {
	struct ppool_job base;
	int fd;       /* read one byte from it: blocks until written */
	int *freed;   /* counts frees */
	char got;
	void *thread_ctx;
};

static void tjob_run(struct ppool_job *j, void *ctx)
{
	struct tjob *t = (struct tjob *)j;
	t->thread_ctx = ctx;
	if (t->fd >= 0)
		(void)!read(t->fd, &t->got, 1);
}

static void tjob_free(struct ppool_job *j)
{
	struct tjob *t = (struct tjob *)j;
	if (t->freed)
		__atomic_add_fetch(t->freed, 1, __ATOMIC_SEQ_CST);
	free(t->base.key);
	free(t);
}

static struct tjob *tjob_new(const char *key, int fd, int *freed)
{
	struct tjob *t = qm_calloc(1, sizeof *t);
	t->base.run = tjob_run;
	t->base.free = tjob_free;
	t->base.key = qm_strdup(key);
	t->fd = fd;
	t->freed = freed;
	return t;
}

static int ctx_made, ctx_freed;
static char the_ctx;

static void *tinit(void)
{
	__atomic_add_fetch(&ctx_made, 1, __ATOMIC_SEQ_CST);
	return &the_ctx;
}

static void tfini(void *c)
{
	cr_assert_eq(c, &the_ctx);
	__atomic_add_fetch(&ctx_freed, 1, __ATOMIC_SEQ_CST);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The unblocked hook: the prober sends an ev_async; here an eventfd of the
 * test's own says it ran, and how often. */
static void to_eventfd(void *arg)
{
	uint64_t one = 1;
	cr_assert_eq(write(*(int *)arg, &one, sizeof one), (ssize_t)sizeof one);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1;
}

Test(probe_pool, jobs_that_return_are_handed_back)
{
	ctx_made = ctx_freed = 0;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct ppool *p = ppool_new(tinit, tfini, to_eventfd, &efd);
	cr_assert_not_null(p);
	struct ppool_job *v[5];
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "/d%d", i);
		v[i] = &tjob_new(key, -1, NULL)->base;
		ppool_submit(p, v[i]);
	}
	cr_assert_eq(ppool_wait(p, v, 5, 5000), 0);
	for (int i = 0; i < 5; i++) {
		cr_assert_not_null(v[i], "job %d was done: handed back", i);
		cr_assert_eq(((struct tjob *)v[i])->thread_ctx, &the_ctx,
			     "every job runs with its thread's context");
		tjob_free(v[i]);
	}
	cr_assert_leq(ppool_n_threads(p), PPOOL_PARALLEL);
	cr_assert_geq(ppool_n_threads(p), 1);
	cr_assert_eq(ppool_n_stuck(p), 0);
	cr_assert_not(readable(efd, 0), "nothing was abandoned");
	ppool_free(p);
	close(efd);
	cr_assert_eq(ctx_made, ctx_freed, "every thread's context freed");
}

Test(probe_pool, blocked_job_is_abandoned_then_returns)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	int freed = 0;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct ppool *p = ppool_new(NULL, NULL, to_eventfd, &efd);
	struct ppool_job *v[2] = {
		&tjob_new("/hung", fds[0], &freed)->base,
		&tjob_new("/fine", -1, &freed)->base,
	};
	ppool_submit(p, v[0]);
	ppool_submit(p, v[1]);
	long long t0 = now_ms();
	cr_assert_eq(ppool_wait(p, v, 2, 100), 1);
	long long took = now_ms() - t0;
	cr_assert_geq(took, 95, "waited the timeout (%lld ms)", took);
	cr_assert_null(v[0], "the blocked job is the pool's now");
	cr_assert_not_null(v[1], "the other one came back");
	tjob_free(v[1]);
	cr_assert_eq(freed, 1);
	cr_assert(ppool_stuck(p, "/hung"));
	cr_assert_not(ppool_stuck(p, "/fine"));
	cr_assert_eq(ppool_n_stuck(p), 1);

	/* more work while one thread is blocked: another thread takes it */
	struct ppool_job *w[1] = {&tjob_new("/later", -1, &freed)->base};
	ppool_submit(p, w[0]);
	cr_assert_eq(ppool_wait(p, w, 1, 5000), 0);
	tjob_free(w[0]);

	/* the read returns: the worker frees the job and says so */
	cr_assert_eq(write(fds[1], "x", 1), 1);
	cr_assert(readable(efd, 5000), "unblocked hook after the return");
	uint64_t n;
	cr_assert_eq(read(efd, &n, sizeof n), (ssize_t)sizeof n);
	cr_assert_eq(n, 1);
	cr_assert_eq(__atomic_load_n(&freed, __ATOMIC_SEQ_CST), 3);
	cr_assert_not(ppool_stuck(p, "/hung"));
	cr_assert_eq(ppool_n_stuck(p), 0);
	ppool_free(p);
	close(fds[0]);
	close(fds[1]);
	close(efd);
}

Test(probe_pool, queued_job_past_the_deadline_never_runs)
{
	/* PPOOL_PARALLEL blocked jobs take every working thread; one more
	 * waits queued and is dropped at the deadline */
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	int freed = 0;
	struct ppool *p = ppool_new(NULL, NULL, NULL, NULL);
	struct ppool_job *v[PPOOL_PARALLEL + 1];
	for (unsigned i = 0; i <= PPOOL_PARALLEL; i++) {
		char key[16];
		snprintf(key, sizeof key, "/h%u", i);
		v[i] = &tjob_new(key, fds[0], &freed)->base;
		ppool_submit(p, v[i]);
	}
	cr_assert_eq(ppool_n_threads(p), PPOOL_PARALLEL);
	cr_assert_eq(ppool_wait(p, v, PPOOL_PARALLEL + 1, 100), PPOOL_PARALLEL + 1);
	cr_assert_eq(ppool_n_stuck(p), PPOOL_PARALLEL,
		     "the queued one is freed at once, not counted stuck");
	cr_assert_eq(__atomic_load_n(&freed, __ATOMIC_SEQ_CST), 1);
	/* blocked threads do not hold up new work: another thread starts */
	struct ppool_job *w[1] = {&tjob_new("/next", -1, &freed)->base};
	ppool_submit(p, w[0]);
	cr_assert_eq(ppool_wait(p, w, 1, 5000), 0);
	cr_assert_eq(ppool_n_threads(p), PPOOL_PARALLEL + 1);
	tjob_free(w[0]);
	/* release them all */
	char buf[PPOOL_PARALLEL];
	memset(buf, 'x', sizeof buf);
	cr_assert_eq(write(fds[1], buf, sizeof buf), (ssize_t)sizeof buf);
	for (int i = 0; i < 500 && ppool_n_stuck(p); i++)
		usleep(10000);
	cr_assert_eq(ppool_n_stuck(p), 0);
	ppool_free(p);
	cr_assert_eq(freed, PPOOL_PARALLEL + 2);
	close(fds[0]);
	close(fds[1]);
}

Test(probe_pool, freed_while_a_thread_is_blocked)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	int freed = 0;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct ppool *p = ppool_new(NULL, NULL, to_eventfd, &efd);
	struct ppool_job *v[2] = {&tjob_new("/hung", fds[0], &freed)->base,
				  &tjob_new("/ok", -1, &freed)->base};
	ppool_submit(p, v[0]);
	ppool_submit(p, v[1]);
	cr_assert_eq(ppool_wait(p, v, 2, 50), 1);
	tjob_free(v[1]);
	ppool_free(p); /* returns at once: the blocked thread is left */
	/* its read returns later: the thread frees the job and the pool */
	cr_assert_eq(write(fds[1], "x", 1), 1);
	for (int i = 0; i < 500 && __atomic_load_n(&freed, __ATOMIC_SEQ_CST) < 2; i++)
		usleep(10000);
	cr_assert_eq(__atomic_load_n(&freed, __ATOMIC_SEQ_CST), 2);
	usleep(50000); /* let it finish freeing the pool (ASan sees a leak if not) */
	close(fds[0]);
	close(fds[1]);
}
