#include "evloop.h"

#include "qm_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct ev_watch {
	int fd;
	unsigned events;
	ev_fd_cb cb;
	void *arg;
	bool live;
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

/* Watches are kept in an array indexed by fd (fds are small integers); timers
 * in an unsorted array scanned for the earliest: a coordinator or prober
 * holds tens of timers, where a heap would buy nothing. */
struct ev_loop {
	int epfd;
	int wakefd;
	struct ev_watch *watches;
	size_t nwatches;
	struct ev_timer *timers;
	size_t ntimers, captimers;
	uint64_t next_timer_id;
	pthread_mutex_t lock; /* guards posted, stop */
	struct ev_work *posted, **posted_tail;
	bool stop;
};

uint64_t ev_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *l = qm_calloc(1, sizeof *l);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wakefd < 0) {
		int e = errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		errno = e;
		return NULL;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->wakefd};
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev);
	pthread_mutex_init(&l->lock, NULL);
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
	free(l);
}

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
	if (w->live)
		return QM_EINVAL;
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return QM_EIO;
	*w = (struct ev_watch){.fd = fd, .events = events, .cb = cb, .arg = arg, .live = true};
	return 0;
}

int ev_fd_mod(struct ev_loop *l, int fd, unsigned events)
{
	if (fd < 0 || (size_t)fd >= l->nwatches || !l->watches[fd].live)
		return QM_EINVAL;
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return QM_EIO;
	l->watches[fd].events = events;
	return 0;
}

void ev_fd_del(struct ev_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nwatches || !l->watches[fd].live)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->watches[fd].live = false;
}

uint64_t ev_timer_add(struct ev_loop *l, uint64_t delay_ms, ev_cb cb, void *arg)
{
	if (l->ntimers == l->captimers) {
		l->captimers = l->captimers ? l->captimers * 2 : 16;
		l->timers = qm_realloc(l->timers, l->captimers * sizeof *l->timers);
	}
	uint64_t id = ++l->next_timer_id;
	l->timers[l->ntimers++] = (struct ev_timer){
		.id = id, .due = ev_now_ms() + delay_ms, .cb = cb, .arg = arg};
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
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof one);
	(void)r; /* EAGAIN: the counter is already non-zero, a wake-up is pending */
}

void ev_stop(struct ev_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_mutex_unlock(&l->lock);
	uint64_t one = 1;
	ssize_t r = write(l->wakefd, &one, sizeof one);
	(void)r;
}

static int next_timeout(struct ev_loop *l)
{
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
		t.cb(l, t.arg);
	}
}

static bool run_posted(struct ev_loop *l)
{
	pthread_mutex_lock(&l->lock);
	struct ev_work *w = l->posted;
	l->posted = NULL;
	l->posted_tail = &l->posted;
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	while (w) {
		struct ev_work *n = w->next;
		w->cb(l, w->arg);
		free(w);
		w = n;
	}
	return stop;
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
		run_timers(l);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == l->wakefd) {
				uint64_t v;
				ssize_t r = read(l->wakefd, &v, sizeof v);
				(void)r;
				continue;
			}
			if ((size_t)fd >= l->nwatches || !l->watches[fd].live)
				continue; /* removed by an earlier callback */
			unsigned got = 0;
			if (evs[i].events & EPOLLIN)
				got |= EV_READ;
			if (evs[i].events & EPOLLOUT)
				got |= EV_WRITE;
			if (evs[i].events & EPOLLPRI)
				got |= EV_PRI;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				got |= EV_ERR;
			struct ev_watch w = l->watches[fd];
			w.cb(l, fd, got, w.arg);
		}
		if (run_posted(l)) {
			pthread_mutex_lock(&l->lock);
			l->stop = false;
			pthread_mutex_unlock(&l->lock);
			return 0;
		}
	}
}
