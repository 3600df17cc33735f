#include "evloop.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

struct trace {
	char order[32];
	int n;
};

static void mark(struct ev_loop *l, void *arg, char c)
{
	(void)l;
	struct trace *t = arg;
	t->order[t->n++] = c;
}
static void mark_a(struct ev_loop *l, void *arg) { mark(l, arg, 'a'); }
static void mark_b(struct ev_loop *l, void *arg) { mark(l, arg, 'b'); }
static void mark_c(struct ev_loop *l, void *arg) { mark(l, arg, 'c'); }
static void stop_cb(struct ev_loop *l, void *arg) { (void)arg; ev_stop(l); }

Test(evloop, timers_fire_in_due_order_and_cancel_works)
{
	struct ev_loop *l = ev_loop_new();
	struct trace t = {0};
	ev_timer_add(l, 30, mark_c, &t);
	uint64_t b = ev_timer_add(l, 20, mark_b, &t);
	ev_timer_add(l, 10, mark_a, &t);
	ev_timer_cancel(l, b);
	ev_timer_add(l, 50, stop_cb, NULL);
	uint64_t t0 = ev_now_ms();
	cr_assert_eq(ev_run(l), 0);
	cr_assert_geq(ev_now_ms() - t0, 50);
	t.order[t.n] = '\0';
	cr_assert_str_eq(t.order, "ac");
	ev_loop_free(l);
}

/* A delay near the end of time is "not in this run": now + delay wrapped
 * around and the timer fired at once (a planner's "never" reached the
 * loop this way; found by fuzz_events). */
Test(evloop, a_timer_at_the_end_of_time_does_not_fire)
{
	struct ev_loop *l = ev_loop_new();
	struct trace t = {0};
	ev_timer_add(l, UINT64_MAX, mark_a, &t);
	ev_timer_add(l, UINT64_MAX - 5, mark_b, &t);
	ev_timer_add(l, 20, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(t.n, 0, "a timer due at the end of time fired");
	ev_loop_free(l);
}

struct fdctx {
	int reads;
	char got[8];
};

static void on_read(struct ev_loop *l, int fd, unsigned ev, void *arg)
{
	struct fdctx *c = arg;
	cr_assert(ev & EV_READ);
	ssize_t n = read(fd, c->got, sizeof c->got - 1);
	cr_assert_eq(n, 3);
	c->reads++;
	ev_fd_del(l, fd);
	ev_stop(l);
}

Test(evloop, fd_readiness_and_double_add)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct ev_loop *l = ev_loop_new();
	struct fdctx c = {0};
	cr_assert_eq(ev_fd_add(l, p[0], EV_READ, on_read, &c), 0);
	cr_assert_eq(ev_fd_add(l, p[0], EV_READ, on_read, &c), QM_EINVAL);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(c.reads, 1);
	cr_assert_str_eq(c.got, "abc");
	ev_loop_free(l);
	close(p[0]);
	close(p[1]);
}

struct poster {
	struct ev_loop *l;
	int count;
};

static void bump(struct ev_loop *l, void *arg)
{
	struct poster *p = arg;
	if (++p->count == 1000)
		ev_stop(l);
}

static void *post_many(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < 1000; i++)
		ev_post(p->l, bump, p);
	return NULL;
}

/* Work posted from another thread runs on the loop thread, every item once. */
Test(evloop, post_from_other_thread_runs_every_item)
{
	struct poster p = {.l = ev_loop_new()};
	pthread_t th;
	pthread_create(&th, NULL, post_many, &p);
	cr_assert_eq(ev_run(p.l), 0);
	pthread_join(th, NULL);
	cr_assert_eq(p.count, 1000);
	ev_loop_free(p.l);
}

/* ---- fd reuse within one iteration ------------------------------------------ */

struct reuse {
	int old_fd;      /* watched, readable when the loop starts */
	int spare[2];    /* the new pipe; its read end takes old_fd's number */
	int old_calls, new_calls;
};

static void on_old(struct ev_loop *l, int fd, unsigned ev, void *arg)
{
	(void)l, (void)fd, (void)ev;
	((struct reuse *)arg)->old_calls++;
}

static void on_new(struct ev_loop *l, int fd, unsigned ev, void *arg)
{
	(void)l, (void)fd, (void)ev;
	((struct reuse *)arg)->new_calls++;
}

/* Runs in the timer phase of the iteration whose epoll_wait already
 * returned old_fd as readable: closes it and watches an unrelated, empty
 * pipe under the same number (as an accept() reusing the number would). */
static void close_and_reuse(struct ev_loop *l, void *arg)
{
	struct reuse *r = arg;
	ev_fd_del(l, r->old_fd);
	close(r->old_fd);
	cr_assert_eq(pipe(r->spare), 0);
	if (r->spare[0] != r->old_fd) { /* usually it gets the lowest, the old one */
		cr_assert_eq(dup2(r->spare[0], r->old_fd), r->old_fd);
		close(r->spare[0]);
	}
	cr_assert_eq(ev_fd_add(l, r->old_fd, EV_READ, on_new, r), 0);
}

Test(evloop, stale_event_of_a_reused_fd_is_dropped)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	struct ev_loop *l = ev_loop_new();
	struct reuse r = {.old_fd = p[0]};
	cr_assert_eq(ev_fd_add(l, p[0], EV_READ, on_old, &r), 0);
	ev_timer_add(l, 0, close_and_reuse, &r);
	ev_timer_add(l, 50, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(r.old_calls, 0, "the old watcher was removed before dispatch");
	cr_assert_eq(r.new_calls, 0, "the new watcher got the old socket's event");
	ev_fd_del(l, r.old_fd);
	ev_loop_free(l);
	close(r.old_fd);
	close(r.spare[1]);
	close(p[1]);
}

/* ---- coalescing wake-ups ----------------------------------------------------- */

struct asyncs {
	struct ev_async *a;
	int runs;
	int resend; /* sends left to make from the callback */
};

static void on_async(struct ev_loop *l, void *arg)
{
	(void)l;
	struct asyncs *s = arg;
	s->runs++;
	if (s->resend > 0) {
		s->resend--;
		ev_async_send(s->a);
	}
}

static void *send_many(void *arg)
{
	struct asyncs *s = arg;
	for (int i = 0; i < 1000; i++)
		ev_async_send(s->a);
	return NULL;
}

/* uv_async_send: many sends before the loop runs give one callback run and
 * one eventfd write; a send from the callback gives exactly one more run. */
Test(evloop, async_sends_before_a_run_coalesce_into_one)
{
	struct ev_loop *l = ev_loop_new();
	struct asyncs s = {.resend = 1};
	s.a = ev_async_new(l, on_async, &s);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, send_many, &s);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(ev_wakeups(l), 1, "one eventfd write for 2000 sends");
	ev_timer_add(l, 50, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(s.runs, 2, "one run for the sends, one for the resend");
	cr_assert_eq(ev_wakeups(l), 3, "the resend and the stop woke it once each");
	ev_async_free(s.a);
	ev_loop_free(l);
}

static void free_self(struct ev_loop *l, void *arg)
{
	struct asyncs *s = arg;
	s->runs++;
	ev_async_free(s->a);
	s->a = NULL;
	ev_stop(l);
}

Test(evloop, async_may_free_itself_and_others_keep_running)
{
	struct ev_loop *l = ev_loop_new();
	struct asyncs first = {0}, second = {0};
	first.a = ev_async_new(l, free_self, &first);
	second.a = ev_async_new(l, on_async, &second);
	ev_async_send(second.a);
	ev_async_send(first.a);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(first.runs, 1);
	cr_assert_eq(second.runs, 1, "a handle after the freed one still ran");
	ev_async_send(second.a);
	ev_timer_add(l, 20, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(second.runs, 2);
	ev_async_free(second.a);
	ev_loop_free(l);
}

/* ev_post keeps every item (the bus server posts one per message) but
 * writes the eventfd once while a wake-up is pending. */
Test(evloop, posts_before_a_run_wake_the_loop_once)
{
	struct poster p = {.l = ev_loop_new()};
	pthread_t th;
	pthread_create(&th, NULL, post_many, &p);
	pthread_join(th, NULL);
	cr_assert_eq(ev_wakeups(p.l), 1, "1000 posts, one eventfd write");
	cr_assert_eq(ev_run(p.l), 0);
	cr_assert_eq(p.count, 1000, "every item ran");
	ev_loop_free(p.l);
}

/* ev_fd_mod keeps the registration's generation: its events still arrive. */
Test(evloop, fd_mod_keeps_delivering)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct ev_loop *l = ev_loop_new();
	struct fdctx c = {0};
	cr_assert_eq(ev_fd_add(l, p[0], 0, on_read, &c), 0);
	cr_assert_eq(ev_fd_mod(l, p[0], EV_READ), 0);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(c.reads, 1);
	ev_loop_free(l);
	close(p[0]);
	close(p[1]);
}

static void slow_marked(struct ev_loop *l, void *arg)
{
	(void)arg;
	ev_mark(l, 1);
	ev_mark(l, 1);        /* twice in one iteration: counted once */
	ev_mark(l, EV_MARKS); /* no such kind: ignored */
	usleep(20000);
}

static void quick_marked(struct ev_loop *l, void *arg)
{
	(void)arg;
	ev_mark(l, 1);
}

static void slow_unmarked(struct ev_loop *l, void *arg)
{
	(void)l;
	(void)arg;
	usleep(150000);
}

/* An iteration marked with a kind counts toward that kind's longest
 * iteration; unmarked ones, however long, only toward the loop's. */
Test(evloop, marked_iterations_keep_their_own_longest)
{
	struct ev_loop *l = ev_loop_new();
	ev_timer_add(l, 0, slow_marked, NULL);
	ev_timer_add(l, 80, quick_marked, NULL);
	ev_timer_add(l, 120, slow_unmarked, NULL);
	ev_timer_add(l, 400, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	struct ev_iter_stats st;
	ev_iter_stats(l, &st, false);
	cr_assert_eq(st.marked[1], 2);
	cr_assert_eq(st.marked[0], 0);
	cr_assert_geq(st.mark_max_us[1], 20000);
	cr_assert_lt(st.mark_max_us[1], st.max_us, "the unmarked 150 ms iteration is not kind 1's");
	cr_assert_geq(st.max_us, 150000);
	cr_assert_eq(st.mark_max_us[0], 0);
	ev_loop_free(l);
}

struct stalls_seen {
	unsigned n;
	uint64_t us, cpu_us;
	unsigned marks;
	struct ev_stall_detail d;
};

static void on_stall(struct ev_loop *l, uint64_t us, uint64_t cpu_us, unsigned marks,
		     void *arg)
{
	struct stalls_seen *s = arg;
	s->n++;
	s->us = us;
	s->cpu_us = cpu_us;
	s->marks = marks;
	ev_stall_detail(l, &s->d);
}

static void slow_marked_2(struct ev_loop *l, void *arg)
{
	(void)arg;
	ev_mark(l, 2);
	usleep(EV_STALL_US + 10000);
}

/* The stall hook hears of the long iteration (with its marks) and of no
 * short one, marked or not. */
Test(evloop, a_stall_is_told_with_what_it_was_marked)
{
	struct ev_loop *l = ev_loop_new();
	struct stalls_seen s = {0};
	ev_on_stall(l, on_stall, &s);
	ev_timer_add(l, 0, quick_marked, NULL);
	ev_timer_add(l, 30, slow_marked_2, NULL);
	ev_timer_add(l, 200, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(s.n, 1, "one stall told, not %u", s.n);
	cr_assert_geq(s.us, EV_STALL_US);
	/* it slept: the thread hardly ran */
	cr_assert_lt(s.cpu_us, s.us / 2, "cpu %llu of %llu us", (unsigned long long)s.cpu_us,
		     (unsigned long long)s.us);
	cr_assert_eq(s.marks, 1u << 2, "marks 0x%x", s.marks);
	struct ev_iter_stats st;
	ev_iter_stats(l, &st, false);
	cr_assert_eq(st.stalls, 1);
	ev_loop_free(l);
}

static void short_post_marked_1(struct ev_loop *l, void *arg)
{
	(void)arg;
	ev_mark(l, 1);
	usleep(5000);
}

static void slow_marked_2_then_post(struct ev_loop *l, void *arg)
{
	ev_mark(l, 2);
	usleep(EV_STALL_US + 10000);
	ev_post(l, short_post_marked_1, arg);
}

/* The stall's detail: the slow timer is the longest callback, in the
 * timers phase, with its own mark only (not the post's); the post of the
 * same iteration shows in the posted phase. Lower bounds only: sleeps. */
Test(evloop, a_stall_says_where_its_time_went)
{
	struct ev_loop *l = ev_loop_new();
	struct stalls_seen s = {0};
	ev_on_stall(l, on_stall, &s);
	ev_timer_add(l, 10, slow_marked_2_then_post, NULL);
	ev_timer_add(l, 300, stop_cb, NULL);
	cr_assert_eq(ev_run(l), 0);
	cr_assert_eq(s.n, 1, "one stall told, not %u", s.n);
	cr_assert_eq(s.marks, (1u << 2) | (1u << 1), "marks 0x%x", s.marks);
	cr_assert_eq(s.d.longest_phase, EV_PHASE_TIMERS);
	cr_assert_eq(s.d.longest_marks, 1u << 2, "longest marks 0x%x", s.d.longest_marks);
	cr_assert_geq(s.d.longest_us, EV_STALL_US + 10000);
	cr_assert_geq(s.d.phase_us[EV_PHASE_TIMERS], EV_STALL_US + 10000);
	cr_assert_geq(s.d.phase_us[EV_PHASE_POSTED], 5000);
	cr_assert_str_eq(ev_phase_name(EV_PHASE_POSTED), "posted");
	ev_loop_free(l);
}

struct slow_posts {
	struct ev_loop *l;
	int order[64];
	uint64_t iter[64]; /* the iteration each ran in */
	int n;
};

struct slow_post {
	struct slow_posts *all;
	int id;
};

static void slow_post_cb(struct ev_loop *l, void *arg)
{
	struct slow_post *p = arg;
	struct ev_iter_stats st;
	ev_iter_stats(l, &st, false);
	p->all->iter[p->all->n] = st.iterations;
	p->all->order[p->all->n++] = p->id;
	usleep(2000);
	if (p->all->n == 40)
		ev_stop(p->all->l);
}

/* A burst of posts that would hold the loop for 80 ms is spread over
 * iterations of about EV_POST_BUDGET_US each, in posting order; none is
 * lost and none waits for a timer or an fd to wake the loop. */
Test(evloop, a_burst_of_posts_is_spread_over_iterations)
{
	struct slow_posts all = {.l = ev_loop_new()};
	struct slow_post p[40];
	for (int i = 0; i < 40; i++) {
		p[i] = (struct slow_post){.all = &all, .id = i};
		ev_post(all.l, slow_post_cb, &p[i]);
	}
	cr_assert_eq(ev_run(all.l), 0);
	cr_assert_eq(all.n, 40);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(all.order[i], i, "item %d ran as %d", i, all.order[i]);
	/* 2 ms each: an iteration holds a few, never all */
	cr_assert_geq(all.iter[39], all.iter[0] + 3, "items ran in iterations %llu..%llu",
		      (unsigned long long)all.iter[0], (unsigned long long)all.iter[39]);
	ev_loop_free(all.l);
}

/* A stop runs what was posted before it in that iteration, budget or not
 * (coord_free relies on its last posted release running). */
Test(evloop, a_stop_runs_every_post_of_its_iteration)
{
	struct slow_posts all = {.l = ev_loop_new()};
	struct slow_post p[20];
	for (int i = 0; i < 20; i++) {
		p[i] = (struct slow_post){.all = &all, .id = i};
		ev_post(all.l, slow_post_cb, &p[i]);
	}
	ev_stop(all.l);
	cr_assert_eq(ev_run(all.l), 0);
	cr_assert_eq(all.n, 20, "%d of 20 ran", all.n);
	cr_assert_eq(all.iter[19], all.iter[0], "all in the stopping iteration");
	ev_loop_free(all.l);
}
