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
