/* Worker threads for I/O that may never return: the probes of a scan run
 * here so that one hung disk or stalled mount cannot stall the prober's
 * loop (heartbeats, other devices, events).
 *
 * The loop thread submits jobs and waits for them with a deadline. A job
 * still queued or running at the deadline is abandoned: the caller gets
 * NULL in its place and never touches it again; a running one is freed by
 * its worker when (if ever) its system call returns, which then calls the
 * pool's unblocked hook (on that worker thread) so the caller can look
 * again. While an
 * abandoned job runs, ppool_stuck() answers true for its key, so the
 * caller reports that path at once instead of piling threads onto it.
 *
 * Threads start on demand, PPOOL_PARALLEL working at once; a thread
 * blocked in an abandoned job keeps its slot up to PPOOL_MAX_THREADS, and
 * another starts in its place. A blocked read in the kernel cannot be cancelled
 * (uninterruptible sleep), which is why the thread is left, not killed.
 * Each thread owns a context made by thread_init (libudev contexts are
 * not thread-safe). Submit, wait, stuck and free: one thread only. */
#ifndef QM_PROBE_POOL_H
#define QM_PROBE_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* Threads working at once (blocked ones not counted), and threads at most
 * (blocked ones counted); jobs beyond wait in the queue (and time out
 * there when every thread is blocked). */
#define PPOOL_PARALLEL 4u
#define PPOOL_MAX_THREADS 16u

struct ppool;

struct ppool_job {
	/* set by the caller */
	void (*run)(struct ppool_job *j, void *thread_ctx); /* on a worker */
	void (*free)(struct ppool_job *j);                    /* any thread */
	char *key;   /* for ppool_stuck; owned by the job's free */
	/* the pool's */
	int state;
	struct ppool_job *next;
};

/* thread_init runs first on every new worker, thread_fini last (NULL: no
 * context). unblocked(arg) runs on a worker thread, with the pool's lock
 * held, after an abandoned job returned, and never once ppool_free has
 * begun: it must only hand over (ev_async_send) and not call the pool.
 * NULL: nobody is told. NULL when a mutex or condition cannot be made. */
struct ppool *ppool_new(void *(*thread_init)(void), void (*thread_fini)(void *),
			void (*unblocked)(void *arg), void *arg);

/* Queue a job; starts a thread when none is idle and the cap allows. */
void ppool_submit(struct ppool *p, struct ppool_job *j);

/* Wait until every job of v is done or timeout_ms has passed. Entries not
 * done are abandoned and set to NULL (the pool frees them). Returns how
 * many were abandoned. Done jobs belong to the caller again. */
size_t ppool_wait(struct ppool *p, struct ppool_job **v, size_t n,
		  long long timeout_ms);

/* Is an abandoned job with this key still blocked in its worker? */
bool ppool_stuck(struct ppool *p, const char *key);

/* Abandoned jobs still blocked, and threads started so far. */
size_t ppool_n_stuck(struct ppool *p);
size_t ppool_n_threads(struct ppool *p);

/* Stops idle threads and joins them. Threads still blocked are detached;
 * the last of them frees what is left when its job returns. */
void ppool_free(struct ppool *p);

#endif
