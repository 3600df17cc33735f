/* A small event loop (in the spirit of Redis's ae): epoll over file
 * descriptors, one-shot timers on the monotonic clock, and two thread-safe
 * ways in from other threads: ev_post() (a queue of work items) and
 * ev_async (a handle whose sends coalesce, like libuv's uv_async_t). One
 * loop per thread, never shared: every callback runs on the thread inside
 * ev_run(), so state touched only from callbacks needs no locks. Library
 * threads (NNG callbacks, an HTTP server thread, probe workers) talk to the
 * loop only through ev_post() and ev_async_send().
 *
 * Order of one iteration: expired timers (earliest first), then fd events,
 * then async callbacks (in creation order), then posted work (in posting
 * order).
 *
 * Stale events: epoll reports a batch of events before any of them is
 * dispatched, and an earlier callback in the same iteration (a timer, or
 * another fd's) may close a watched fd and watch a new one that got the
 * same number. Every registration therefore carries a generation in its
 * epoll data; an event whose generation is not the fd's current one is
 * dropped, never delivered to the new watcher. */
#ifndef QM_EVLOOP_H
#define QM_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct ev_async;

enum { EV_READ = 1u << 0, EV_WRITE = 1u << 1, EV_PRI = 1u << 2, EV_ERR = 1u << 3 };

typedef void (*ev_fd_cb)(struct ev_loop *loop, int fd, unsigned events, void *arg);
typedef void (*ev_cb)(struct ev_loop *loop, void *arg);

/* New loop; NULL (with errno) if epoll/eventfd cannot be created. */
struct ev_loop *ev_loop_new(void);
/* Free the loop. Posted work not yet run is dropped (its callbacks never
 * run); timers and fd registrations are forgotten, fds are not closed.
 * Every ev_async must have been freed before. */
void ev_loop_free(struct ev_loop *loop);

/* Watch fd for events (EV_READ|EV_WRITE|EV_PRI). The callback gets the
 * events that fired, EV_ERR for EPOLLERR/EPOLLHUP. One registration per fd;
 * 0, QM_EINVAL (already watched) or QM_EIO. An fd that is closed must be
 * ev_fd_del'ed first (or at least before its number is watched again). */
int ev_fd_add(struct ev_loop *loop, int fd, unsigned events, ev_fd_cb cb, void *arg);
/* Change the event set of a watched fd. */
int ev_fd_mod(struct ev_loop *loop, int fd, unsigned events);
/* Stop watching fd (safe from within any callback, its own included):
 * no event of this registration is delivered after it returns. */
void ev_fd_del(struct ev_loop *loop, int fd);

/* One-shot timer after delay_ms. Returns an id > 0; ids are never reused.
 * Cancelling an id that already fired or was cancelled is harmless. */
uint64_t ev_timer_add(struct ev_loop *loop, uint64_t delay_ms, ev_cb cb, void *arg);
void ev_timer_cancel(struct ev_loop *loop, uint64_t id);

/* Run cb(arg) on the loop thread soon; every posted item runs once, in
 * posting order. An iteration runs the items posted before its posted-work
 * phase began, until the iteration has lasted EV_POST_BUDGET_US; the rest
 * run first in the next iteration (a burst of thousands of posts, e.g. a
 * prober report each, is spread over iterations instead of holding the
 * loop in one). Thread-safe; callable from any thread (not from a signal
 * handler: it allocates and locks). Wake-ups coalesce: while one is
 * pending, further posts, sends and stops do not write the eventfd again. */
#define EV_POST_BUDGET_US 10000u
void ev_post(struct ev_loop *loop, ev_cb cb, void *arg);

/* An async handle (libuv's uv_async_t): ev_async_send() from any thread
 * makes cb(loop, arg) run once on the loop thread soon; any number of sends
 * before it runs give one run (the handle's pending flag is cleared just
 * before the callback, so a send during the callback gives one more run).
 * new and free: loop thread only (free is safe from within callbacks, the
 * handle's own included). No send may run concurrently with or after free:
 * stop the threads that send first. Never fails (allocation aborts). */
struct ev_async *ev_async_new(struct ev_loop *loop, ev_cb cb, void *arg);
/* Thread-safe, lock-free, never blocks, does not allocate. */
void ev_async_send(struct ev_async *a);
void ev_async_free(struct ev_async *a);

/* How many times the loop's eventfd was written (one per wake-up that was
 * not already pending); for tests and metrics. Thread-safe. */
uint64_t ev_wakeups(const struct ev_loop *loop);

/* How long the loop's iterations took: from epoll_wait returning to the
 * end of the posted-work phase (callbacks only, never the wait). A long
 * iteration is a stall: every fd, timer and posted item waited for it. */
#define EV_STALL_US 50000u /* an iteration this long counts as a stall */
#define EV_MARKS 8 /* kinds of work an iteration can be marked with */
struct ev_iter_stats {
	uint64_t iterations;
	uint64_t max_us;        /* longest iteration since ev_loop_new */
	uint64_t recent_max_us; /* longest since the last reset_recent read */
	uint64_t stalls;        /* iterations of EV_STALL_US or more */
	/* per kind (ev_mark): iterations marked with it, the longest one */
	uint64_t marked[EV_MARKS];
	uint64_t mark_max_us[EV_MARKS];
};
/* Copy the figures; with reset_recent, start a new recent window. Loop
 * thread only (from a callback): the iteration running it is not counted
 * yet. */
void ev_iter_stats(struct ev_loop *loop, struct ev_iter_stats *out, bool reset_recent);

/* Mark the running iteration as one that did work of kind (< EV_MARKS,
 * the caller's numbering, e.g. "saved the state"): the longest such
 * iteration is kept apart (ev_iter_stats). Loop thread only; a NULL
 * loop is fine (nothing to mark). */
void ev_mark(struct ev_loop *loop, unsigned kind);
/* The kinds the running iteration was marked with so far, a bit each
 * (0 for a NULL loop). */
unsigned ev_marks(const struct ev_loop *loop);

/* Tell fn of every stall (an iteration of EV_STALL_US or more) when it
 * ends: its length, the loop thread's CPU time in it (far less than us:
 * the thread waited for a CPU, or in a blocking call) and the kinds it
 * was marked with (a bit per ev_mark kind), e.g. to log what held the
 * loop. fn runs on the loop thread, in no iteration's time; NULL stops
 * it. Loop thread, or before ev_run. */
typedef void (*ev_stall_fn)(struct ev_loop *loop, uint64_t us, uint64_t cpu_us, unsigned marks,
			    void *arg);
void ev_on_stall(struct ev_loop *loop, ev_stall_fn fn, void *arg);

/* Where a stalled iteration's time went, for its report: each phase of
 * the iteration (due timers, fd events, asyncs, posted work), and the
 * longest single callback in it, with its phase and the kinds it marked
 * itself (ev_mark). Which of a turn's timers or posts held the loop, not
 * only that it was held. */
enum ev_phase { EV_PHASE_TIMERS, EV_PHASE_FDS, EV_PHASE_ASYNCS, EV_PHASE_POSTED, EV_PHASES };
struct ev_stall_detail {
	uint64_t phase_us[EV_PHASES];
	uint64_t longest_us;
	enum ev_phase longest_phase;
	unsigned longest_marks;
};
/* The detail of the iteration whose stall an ev_stall_fn is being told
 * of (only there). */
void ev_stall_detail(const struct ev_loop *loop, struct ev_stall_detail *out);
/* "timers", "fds", "asyncs", "posted" */
const char *ev_phase_name(enum ev_phase p);

/* Monotonic milliseconds (CLOCK_MONOTONIC); the same as clock_mono_ms(). */
uint64_t ev_now_ms(void);

/* Run until ev_stop(). Returns 0, or QM_EIO if epoll_wait fails. */
int ev_run(struct ev_loop *loop);
/* Make ev_run() return after the current iteration. Thread-safe. */
void ev_stop(struct ev_loop *loop);

#endif
