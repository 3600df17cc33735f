/* A small event loop (in the spirit of Redis's ae): epoll over file
 * descriptors, one-shot timers on the monotonic clock, and a thread-safe
 * ev_post() that wakes the loop through an eventfd. One loop per thread,
 * never shared: every callback runs on the thread inside ev_run(), so state
 * touched only from callbacks needs no locks. Library threads (NNG
 * callbacks, an HTTP server thread) talk to the loop only through ev_post().
 *
 * Order of one iteration: expired timers (earliest first), then fd events,
 * then posted work (in posting order). */
#ifndef QM_EVLOOP_H
#define QM_EVLOOP_H

#include <stdint.h>

struct ev_loop;

enum { EV_READ = 1u << 0, EV_WRITE = 1u << 1, EV_PRI = 1u << 2, EV_ERR = 1u << 3 };

typedef void (*ev_fd_cb)(struct ev_loop *loop, int fd, unsigned events, void *arg);
typedef void (*ev_cb)(struct ev_loop *loop, void *arg);

/* New loop; NULL (with errno) if epoll/eventfd cannot be created. */
struct ev_loop *ev_loop_new(void);
/* Free the loop. Posted work not yet run is dropped (its callbacks never
 * run); timers and fd registrations are forgotten, fds are not closed. */
void ev_loop_free(struct ev_loop *loop);

/* Watch fd for events (EV_READ|EV_WRITE|EV_PRI). The callback gets the
 * events that fired, EV_ERR for EPOLLERR/EPOLLHUP. One registration per fd;
 * 0, QM_EINVAL (already watched) or QM_EIO. */
int ev_fd_add(struct ev_loop *loop, int fd, unsigned events, ev_fd_cb cb, void *arg);
/* Change the event set of a watched fd. */
int ev_fd_mod(struct ev_loop *loop, int fd, unsigned events);
/* Stop watching fd (safe from within its own callback). */
void ev_fd_del(struct ev_loop *loop, int fd);

/* One-shot timer after delay_ms. Returns an id > 0; ids are never reused.
 * Cancelling an id that already fired or was cancelled is harmless. */
uint64_t ev_timer_add(struct ev_loop *loop, uint64_t delay_ms, ev_cb cb, void *arg);
void ev_timer_cancel(struct ev_loop *loop, uint64_t id);

/* Run cb(arg) on the loop thread soon. Thread-safe; callable from any
 * thread, including signal-free library callbacks. Wake-ups coalesce. */
void ev_post(struct ev_loop *loop, ev_cb cb, void *arg);

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t ev_now_ms(void);

/* Run until ev_stop(). Returns 0, or QM_EIO if epoll_wait fails. */
int ev_run(struct ev_loop *loop);
/* Make ev_run() return after the current iteration. Thread-safe. */
void ev_stop(struct ev_loop *loop);

#endif
