#include "evloop.h"

#include "clock.h"
#include "qm_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* epoll data of a registration: the fd (the watch's slot) in the low 32
 * bits, the registration's generation in the high 32. The wake-up eventfd
 * has a slot no fd can have. */
#define WAKE_SLOT UINT32_MAX

static uint64_t tag_of(uint32_t slot, uint32_t gen)
{
	return (uint64_t)gen << 32 | slot;
}

struct ev_watch {
	unsigned events;
	uint32_t gen; /* 0 = not watched */
	ev_fd_cb cb;
	void *arg;
};

struct ev_timer {
	uint64_t id;
	uint64_t due;
	ev_cb cb;
	void *arg;
};

struct ev_work {
	ev_cb cb;
	void *arg;
	struct ev_work *next;
};

struct ev_async {
	struct ev_loop *loop;
	ev_cb cb;
	void *arg;
	atomic_bool pending;
};

/* Watches are kept in an array indexed by fd (fds are small integers); timers
 * in an unsorted array scanned for the earliest: a coordinator or prober
 * holds tens of timers, where a heap would buy nothing. */
struct ev_loop {
	int epfd;
	int wakefd;
	struct ev_watch *watches;
	size_t nwatches;
	uint32_t last_gen;
	struct ev_timer *timers;
	size_t ntimers, captimers;
	uint64_t next_timer_id;
	struct ev_async **asyncs; /* loop thread only; NULL = freed meanwhile */
	size_t nasyncs, capasyncs;
	bool in_asyncs;           /* the async phase runs: free leaves a NULL */
	atomic_bool wake_pending; /* the eventfd was written, not yet read */
	atomic_uint_fast64_t wakeups;
	pthread_mutex_t lock; /* guards posted, stop */
	struct ev_work *posted, **posted_tail;
	bool stop;
	struct ev_iter_stats iter; /* loop thread only */
	unsigned marks;            /* this iteration's ev_mark kinds, a bit each */
	unsigned cb_marks;         /* the running callback's, for det */
	struct ev_stall_detail det; /* this iteration's, for a stall's report */
	bool posted_left;          /* run_posted left work for the next iteration */
	uint64_t cpu_at_end;       /* thread CPU time at the last iteration's end */
	ev_stall_fn stall_fn;      /* told of each stall; NULL = none */
	void *stall_arg;
};

uint64_t ev_now_ms(void)
{
	return clock_mono_ms();
}

static uint64_t mono_us(void);

/* Around each callback: its time and what it marked, the longest of the
 * iteration kept in l->det (two vDSO clock reads a callback). */
static uint64_t cb_begin(struct ev_loop *l)
{
	l->cb_marks = 0;
	return mono_us();
}

static void cb_end(struct ev_loop *l, enum ev_phase phase, uint64_t t)
{
	uint64_t dt = mono_us() - t;
	if (dt > l->det.longest_us) {
		l->det.longest_us = dt;
		l->det.longest_phase = phase;
		l->det.longest_marks = l->cb_marks;
	}
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *l = qm_calloc(1, sizeof *l);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag_of(WAKE_SLOT, 0)};
	if (l->epfd < 0 || l->wakefd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		int e = errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		errno = e;
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->wake_pending, false);
	atomic_init(&l->wakeups, 0);
	l->posted_tail = &l->posted;
	return l;
}

void ev_loop_free(struct ev_loop *l)
{
	if (!l)
		return;
	struct ev_work *w = l->posted;
	while (w) {
		struct ev_work *n = w->next;
		free(w);
		w = n;
	}
	close(l->epfd);
	close(l->wakefd);
	pthread_mutex_destroy(&l->lock);
	free(l->watches);
	free(l->timers);
	free(l->asyncs);
	free(l);
}

/* ---- fds ------------------------------------------------------------------ */

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;
	if (events & EV_READ)
		e |= EPOLLIN;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	if (events & EV_PRI)
		e |= EPOLLPRI;
	return e;
}

static unsigned from_epoll(uint32_t e)
{
	unsigned got = 0;
	if (e & EPOLLIN)
		got |= EV_READ;
	if (e & EPOLLOUT)
		got |= EV_WRITE;
	if (e & EPOLLPRI)
		got |= EV_PRI;
	if (e & (EPOLLERR | EPOLLHUP))
		got |= EV_ERR;
	return got;
}

static struct ev_watch *watch_of(struct ev_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nwatches || l->watches[fd].gen == 0)
		return NULL;
	return &l->watches[fd];
}

int ev_fd_add(struct ev_loop *l, int fd, unsigned events, ev_fd_cb cb, void *arg)
{
	if (fd < 0 || !cb)
		return QM_EINVAL;
	if ((size_t)fd >= l->nwatches) {
		size_t n = (size_t)fd + 16;
		l->watches = qm_realloc(l->watches, n * sizeof *l->watches);
		memset(l->watches + l->nwatches, 0, (n - l->nwatches) * sizeof *l->watches);
		l->nwatches = n;
	}
	struct ev_watch *w = &l->watches[fd];
	if (w->gen != 0)
		return QM_EINVAL;
	uint32_t gen = ++l->last_gen;
	if (gen == 0) /* wrapped: 0 means "not watched" */
		gen = l->last_gen = 1;
	struct epoll_event ev = {.events = to_epoll(events),
				 .data.u64 = tag_of((uint32_t)fd, gen)};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return QM_EIO;
	*w = (struct ev_watch){.events = events, .gen = gen, .cb = cb, .arg = arg};
	return 0;
}

int ev_fd_mod(struct ev_loop *l, int fd, unsigned events)
{
	struct ev_watch *w = watch_of(l, fd);
	if (!w)
		return QM_EINVAL;
	struct epoll_event ev = {.events = to_epoll(events),
				 .data.u64 = tag_of((uint32_t)fd, w->gen)};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return QM_EIO;
	w->events = events;
	return 0;
}

void ev_fd_del(struct ev_loop *l, int fd)
{
	struct ev_watch *w = watch_of(l, fd);
	if (!w)
		return;
	/* fails harmlessly when fd was closed already (epoll dropped it) */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->gen = 0;
}

/* Deliver one event of the batch, unless its registration is gone: removed,
 * or removed and replaced by a new one on the same fd number. */
static void dispatch_fd(struct ev_loop *l, const struct epoll_event *e)
{
	uint32_t slot = (uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	if (slot >= l->nwatches || l->watches[slot].gen != gen)
		return; /* stale: an earlier callback of this iteration */
	struct ev_watch w = l->watches[slot];
	uint64_t t = cb_begin(l);
	w.cb(l, (int)slot, from_epoll(e->events), w.arg);
	cb_end(l, EV_PHASE_FDS, t);
}

/* ---- timers --------------------------------------------------------------- */

uint64_t ev_timer_add(struct ev_loop *l, uint64_t delay_ms, ev_cb cb, void *arg)
{
	if (l->ntimers == l->captimers) {
		l->captimers = l->captimers ? l->captimers * 2 : 16;
		l->timers = qm_realloc(l->timers, l->captimers * sizeof *l->timers);
	}
	uint64_t id = ++l->next_timer_id, now = ev_now_ms();
	/* saturated: a delay near the end of time must not wrap to "due now" */
	uint64_t due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
	l->timers[l->ntimers++] = (struct ev_timer){.id = id, .due = due, .cb = cb, .arg = arg};
	return id;
}

void ev_timer_cancel(struct ev_loop *l, uint64_t id)
{
	for (size_t i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
	}
}

static int next_timeout(struct ev_loop *l)
{
	if (l->posted_left)
		return 0;
	if (l->ntimers == 0)
		return -1;
	uint64_t now = ev_now_ms(), best = UINT64_MAX;
	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].due < best)
			best = l->timers[i].due;
	if (best <= now)
		return 0;
	uint64_t d = best - now;
	return d > 60000 ? 60000 : (int)d;
}

/* Fire due timers one at a time, earliest first; a callback may add or
 * cancel timers, so the array is rescanned after each. Timers added during
 * this phase with delay 0 run in the next iteration, so a timer cannot
 * starve fd events. */
static void run_timers(struct ev_loop *l)
{
	uint64_t now = ev_now_ms(), limit = l->next_timer_id;
	for (;;) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < l->ntimers; i++)
			if (l->timers[i].due <= now && l->timers[i].id <= limit &&
			    (best == SIZE_MAX || l->timers[i].due < l->timers[best].due))
				best = i;
		if (best == SIZE_MAX)
			return;
		struct ev_timer t = l->timers[best];
		l->timers[best] = l->timers[--l->ntimers];
		uint64_t t0 = cb_begin(l);
		t.cb(l, t.arg);
		cb_end(l, EV_PHASE_TIMERS, t0);
	}
}

/* ---- wake-ups from other threads ----------------------------------------- */

/* One eventfd write per wake-up: while one is pending (written, not yet
 * read by the loop), later ones only set their own flags, which the loop
 * looks at after reading the eventfd. */
static void wake(struct ev_loop *l)
{
	if (atomic_exchange(&l->wake_pending, true))
		return;
	atomic_fetch_add(&l->wakeups, 1);
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof one);
	(void)r; /* EAGAIN only at a counter of 2^64-2: it is non-zero */
}

/* Before the flags are looked at. Read, then clear: a wake-up between the
 * two finds the flag still set and writes nothing, but its flags are looked
 * at after this; one after the clear writes again. (Clear, then read would
 * lose one: written after the clear, consumed by the read, the flag left
 * set with the eventfd at zero.) */
static void take_wakeup(struct ev_loop *l)
{
	uint64_t v;
	ssize_t r = read(l->wakefd, &v, sizeof v);
	(void)r; /* EAGAIN: nothing written since the last read */
	atomic_store(&l->wake_pending, false);
}

uint64_t ev_wakeups(const struct ev_loop *l)
{
	return atomic_load(&((struct ev_loop *)l)->wakeups);
}

void ev_post(struct ev_loop *l, ev_cb cb, void *arg)
{
	struct ev_work *w = qm_malloc(sizeof *w);
	w->cb = cb;
	w->arg = arg;
	w->next = NULL;
	pthread_mutex_lock(&l->lock);
	*l->posted_tail = w;
	l->posted_tail = &w->next;
	pthread_mutex_unlock(&l->lock);
	wake(l);
}

void ev_stop(struct ev_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_mutex_unlock(&l->lock);
	wake(l);
}

struct ev_async *ev_async_new(struct ev_loop *l, ev_cb cb, void *arg)
{
	struct ev_async *a = qm_calloc(1, sizeof *a);
	a->loop = l;
	a->cb = cb;
	a->arg = arg;
	atomic_init(&a->pending, false);
	if (l->nasyncs == l->capasyncs) {
		l->capasyncs = l->capasyncs ? l->capasyncs * 2 : 8;
		l->asyncs = qm_realloc(l->asyncs, l->capasyncs * sizeof *l->asyncs);
	}
	l->asyncs[l->nasyncs++] = a;
	return a;
}

void ev_async_send(struct ev_async *a)
{
	if (!atomic_exchange(&a->pending, true))
		wake(a->loop);
}

void ev_async_free(struct ev_async *a)
{
	if (!a)
		return;
	struct ev_loop *l = a->loop;
	for (size_t i = 0; i < l->nasyncs; i++) {
		if (l->asyncs[i] != a)
			continue;
		if (l->in_asyncs) {
			l->asyncs[i] = NULL; /* compacted after the phase */
		} else {
			memmove(&l->asyncs[i], &l->asyncs[i + 1],
				(l->nasyncs - i - 1) * sizeof *l->asyncs);
			l->nasyncs--;
		}
		break;
	}
	free(a);
}

/* Each pending handle once, in creation order; the flag is cleared before
 * its callback, so a send from the callback (or meanwhile) runs it again in
 * a later iteration. A handle is not touched after its callback returns. */
static void run_asyncs(struct ev_loop *l)
{
	l->in_asyncs = true;
	for (size_t i = 0; i < l->nasyncs; i++) {
		struct ev_async *a = l->asyncs[i];
		if (a && atomic_exchange(&a->pending, false)) {
			uint64_t t = cb_begin(l);
			a->cb(l, a->arg);
			cb_end(l, EV_PHASE_ASYNCS, t);
		}
	}
	l->in_asyncs = false;
	size_t k = 0;
	for (size_t i = 0; i < l->nasyncs; i++)
		if (l->asyncs[i])
			l->asyncs[k++] = l->asyncs[i];
	l->nasyncs = k;
}

/* The posted work taken at the start of the phase, in order; once the
 * iteration (begun at t0) has lasted EV_POST_BUDGET_US, what is left goes
 * back to the front of the queue for the next iteration (which then does
 * not wait), unless the loop is stopping: a stop runs it all. */
static bool run_posted(struct ev_loop *l, uint64_t t0)
{
	pthread_mutex_lock(&l->lock);
	struct ev_work *w = l->posted, **tail = l->posted_tail;
	l->posted = NULL;
	l->posted_tail = &l->posted;
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	l->posted_left = false;
	while (w) {
		struct ev_work *n = w->next;
		uint64_t t = cb_begin(l);
		w->cb(l, w->arg);
		cb_end(l, EV_PHASE_POSTED, t);
		free(w);
		w = n;
		if (w && !stop && mono_us() - t0 >= EV_POST_BUDGET_US)
			break;
	}
	if (w) { /* tail: the next of the last one taken, which is left */
		pthread_mutex_lock(&l->lock);
		*tail = l->posted;
		if (!l->posted)
			l->posted_tail = tail;
		l->posted = w;
		pthread_mutex_unlock(&l->lock);
		l->posted_left = true;
	}
	return stop;
}

/* ---- the loop ------------------------------------------------------------- */

/* Microseconds on the monotonic clock: two vDSO reads per iteration, the
 * whole price of the stall gauge. */
static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void iter_done(struct ev_loop *l, uint64_t us)
{
	/* since the last iteration's end: this one's callbacks and the wait
	 * before them (a syscall's worth while waiting) */
	uint64_t cpu = clock_thread_cpu_us(), cpu_us = cpu - l->cpu_at_end;
	l->cpu_at_end = cpu;
	l->iter.iterations++;
	if (us > l->iter.max_us)
		l->iter.max_us = us;
	if (us > l->iter.recent_max_us)
		l->iter.recent_max_us = us;
	if (us >= EV_STALL_US)
		l->iter.stalls++;
	if (us >= EV_STALL_US && l->stall_fn)
		l->stall_fn(l, us, cpu_us < us ? cpu_us : us, l->marks, l->stall_arg);
	for (unsigned k = 0; l->marks && k < EV_MARKS; k++) {
		if (!(l->marks & (1u << k)))
			continue;
		l->iter.marked[k]++;
		if (us > l->iter.mark_max_us[k])
			l->iter.mark_max_us[k] = us;
	}
	l->marks = 0;
}

void ev_on_stall(struct ev_loop *l, ev_stall_fn fn, void *arg)
{
	l->stall_fn = fn;
	l->stall_arg = arg;
}

unsigned ev_marks(const struct ev_loop *l)
{
	return l ? l->marks : 0;
}

void ev_mark(struct ev_loop *l, unsigned kind)
{
	if (l && kind < EV_MARKS) {
		l->marks |= 1u << kind;
		l->cb_marks |= 1u << kind;
	}
}

void ev_stall_detail(const struct ev_loop *l, struct ev_stall_detail *out)
{
	*out = l->det;
}

const char *ev_phase_name(enum ev_phase p)
{
	static const char *const names[EV_PHASES] = {"timers", "fds", "asyncs", "posted"};
	return p < EV_PHASES ? names[p] : "?";
}

void ev_iter_stats(struct ev_loop *l, struct ev_iter_stats *out, bool reset_recent)
{
	*out = l->iter;
	if (reset_recent)
		l->iter.recent_max_us = 0;
}

int ev_run(struct ev_loop *l)
{
	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(l->epfd, evs, 32, next_timeout(l));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return QM_EIO;
		}
		uint64_t t0 = mono_us();
		memset(&l->det, 0, sizeof l->det);
		run_timers(l);
		uint64_t t1 = mono_us();
		for (int i = 0; i < n; i++) {
			if ((uint32_t)evs[i].data.u64 == WAKE_SLOT)
				take_wakeup(l);
			else
				dispatch_fd(l, &evs[i]);
		}
		uint64_t t2 = mono_us();
		run_asyncs(l);
		uint64_t t3 = mono_us();
		bool stop = run_posted(l, t0);
		uint64_t t4 = mono_us();
		l->det.phase_us[EV_PHASE_TIMERS] = t1 - t0;
		l->det.phase_us[EV_PHASE_FDS] = t2 - t1;
		l->det.phase_us[EV_PHASE_ASYNCS] = t3 - t2;
		l->det.phase_us[EV_PHASE_POSTED] = t4 - t3;
		iter_done(l, t4 - t0);
		if (stop) {
			pthread_mutex_lock(&l->lock);
			l->stop = false;
			pthread_mutex_unlock(&l->lock);
			return 0;
		}
	}
}
