/* Tests that drive a real event loop (common/evloop.h): run it until a
 * condition holds or a deadline passes, looking every 10 ms. */
#ifndef QM_TEST_LOOP_WAIT_H
#define QM_TEST_LOOP_WAIT_H

#include "evloop.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

struct loop_wait {
	bool (*done)(void);
	uint64_t until;
};

static inline void loop_wait_cb(struct ev_loop *loop, void *arg)
{
	struct loop_wait *w = arg;
	if (w->done() || ev_now_ms() >= w->until)
		ev_stop(loop);
	else
		ev_timer_add(loop, 10, loop_wait_cb, w);
}

/* Run loop until done() or ms have passed. */
static inline void run_until(struct ev_loop *loop, bool (*done)(void), uint64_t ms)
{
	struct loop_wait w = {done, ev_now_ms() + ms};
	ev_timer_add(loop, 10, loop_wait_cb, &w);
	cr_assert_eq(ev_run(loop), 0);
}

#endif
