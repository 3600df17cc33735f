/* Leader election against a real ZooKeeper server (tests/zk/run.sh starts
 * it and sets QM_TEST_ZK=zk://127.0.0.1:<port> and QM_TEST_ZK_DIR, the
 * server's directory, which tests/zk/zkserver.sh can stop and start again).
 * Contenders run on one event loop in this process, each with its own
 * ZooKeeper session, except where a child process plays a coordinator that
 * is killed. */
#include "evloop.h"
#include "state/leader.h"
#include "zk_fixture.h"
#include "log.h"
#include "qm_error.h"
#include "state/store_zk.h"
#include "state/zk.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SESSION_MS 3000

static char base[512];   /* zk://127.0.0.1:<port>/qm-test/leader-... */
static char zpath[256];

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void setup(void)
{
	static unsigned n;
	log_set_level(LOG_WARN);
	snprintf(zpath, sizeof zpath, "/qm-test/leader-%ld-%u-%ld", (long)getpid(),
		 n++, (long)(now_ms() % 100000));
	snprintf(base, sizeof base, "%s%s", zk_server(), zpath);
}

TestSuite(leader, .init = setup, .timeout = 120);

/* ---- ZooKeeper server control (tests/zk/zkserver.sh) ----------------- */

static void zkserver(const char *cmd)
{
	const char *dir = getenv("QM_TEST_ZK_DIR");
	cr_assert(dir && *dir, "QM_TEST_ZK_DIR is not set: run tests/zk/run.sh");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execl("/bin/bash", "bash", QM_ZK_SCRIPTS "/zkserver.sh", cmd, dir,
		      (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "zkserver.sh %s failed (status %d)", cmd, status);
}

/* ---- contenders ------------------------------------------------------- */

struct contender {
	char name[32];
	struct zk_conn *zk;
	struct leader *l;
	int elected, lost, changed;
	char reason[256];
	char current[LEADER_ID_MAX + 1];
	bool leader_at_lost; /* leader_is_leader() inside lost() */
	uint64_t lost_at;
};

static void cb_elected(void *arg)
{
	struct contender *c = arg;
	c->elected++;
}

static void cb_lost(void *arg, const char *reason)
{
	struct contender *c = arg;
	c->lost++;
	c->lost_at = now_ms();
	c->leader_at_lost = leader_is_leader(c->l);
	snprintf(c->reason, sizeof c->reason, "%s", reason);
}

static void cb_changed(void *arg, const char *id)
{
	struct contender *c = arg;
	c->changed++;
	snprintf(c->current, sizeof c->current, "%s", id ? id : "");
}

static const struct leader_cbs cbs = {cb_elected, cb_lost, cb_changed};

static void stand(struct ev_loop *loop, struct contender *c, const char *name)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	char err[512] = "";
	struct zk_opts o = {.session_timeout_ms = SESSION_MS, .op_timeout_ms = 8000};
	cr_assert_eq(zk_conn_open(base, &o, &c->zk, err, sizeof err), 0, "%s", err);
	cr_assert_eq(leader_new(loop, c->zk, name, &cbs, c, &c->l, err, sizeof err),
		     0, "%s", err);
}

static void retire(struct contender *c)
{
	leader_free(c->l);
	c->l = NULL;
	zk_conn_close(c->zk);
	c->zk = NULL;
}

struct waitctx {
	struct ev_loop *loop;
	bool (*pred)(void *);
	void *arg;
	uint64_t deadline;
	bool ok;
};

static void tick(struct ev_loop *loop, void *arg)
{
	struct waitctx *w = arg;
	if (w->pred && w->pred(w->arg)) {
		w->ok = true;
		ev_stop(loop);
		return;
	}
	if (now_ms() >= w->deadline) {
		ev_stop(loop);
		return;
	}
	ev_timer_add(loop, 10, tick, w);
}

/* Run the loop until pred(arg) holds (true) or timeout_ms passed (false);
 * pred NULL: just run for timeout_ms. */
static bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg,
		      uint64_t timeout_ms)
{
	struct waitctx w = {loop, pred, arg, now_ms() + timeout_ms, false};
	ev_timer_add(loop, 0, tick, &w); /* re-armed until it stops the loop */
	ev_run(loop);
	return w.ok;
}

struct pair {
	struct contender *a, *b;
};

static bool one_leader_known(void *arg)
{
	struct pair *p = arg;
	int leaders = leader_is_leader(p->a->l) + leader_is_leader(p->b->l);
	return leaders == 1 && p->a->current[0] && p->b->current[0] &&
	       strcmp(p->a->current, p->b->current) == 0;
}

static bool is_leader(void *arg)
{
	struct contender *c = arg;
	return c->l && leader_is_leader(c->l);
}

static bool has_lost(void *arg)
{
	struct contender *c = arg;
	return c->lost > 0;
}

static void finish(struct ev_loop *loop)
{
	/* let posted releases run, then free the loop */
	run_until(loop, NULL, NULL, 50);
	ev_loop_free(loop);
}

/* ---- tests ------------------------------------------------------------ */

Test(leader, exactly_one_of_two_is_elected)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a, b;
	stand(loop, &a, "http://a:7000");
	stand(loop, &b, "http://b:7000");
	struct pair p = {&a, &b};
	cr_assert(run_until(loop, one_leader_known, &p, 15000),
		  "no single leader: a=%d/%d b=%d/%d", a.elected,
		  leader_is_leader(a.l), b.elected, leader_is_leader(b.l));
	/* and it stays that way */
	run_until(loop, NULL, NULL, 1000);
	cr_assert_eq(leader_is_leader(a.l) + leader_is_leader(b.l), 1);
	cr_assert_eq(a.elected + b.elected, 1);
	cr_assert_eq(a.lost + b.lost, 0);
	struct contender *w = leader_is_leader(a.l) ? &a : &b;
	struct contender *f = w == &a ? &b : &a;
	cr_assert_str_eq(leader_current(f->l), w->name);
	cr_assert_str_eq(leader_current(w->l), w->name);
	cr_assert_not_null(leader_znode(w->l));
	cr_assert_not_null(leader_znode(f->l));
	cr_assert(strstr(leader_znode(w->l), "/leader/n_"), "%s", leader_znode(w->l));
	cr_assert_lt(strcmp(strrchr(leader_znode(w->l), '_'),
			    strrchr(leader_znode(f->l), '_')), 0, "leader is not the lowest");
	retire(&a);
	retire(&b);
	finish(loop);
}

/* The leader resigns and closes its session: the other takes over at once
 * (the ephemeral znode goes with the session, no session timeout to wait). */
Test(leader, closing_the_leaders_session_elects_the_other)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a, b;
	stand(loop, &a, "http://a:7000");
	struct pair p = {&a, &b};
	cr_assert(run_until(loop, is_leader, &a, 15000));
	stand(loop, &b, "http://b:7000");
	cr_assert(run_until(loop, one_leader_known, &p, 15000));
	cr_assert(leader_is_leader(a.l));
	cr_assert_str_eq(b.current, "http://a:7000");
	uint64_t t0 = now_ms();
	retire(&a);
	cr_assert(run_until(loop, is_leader, &b, 15000), "b not elected");
	uint64_t took = now_ms() - t0;
	cr_assert_lt(took, SESSION_MS, "took %llu ms: waited for a timeout?",
		     (unsigned long long)took);
	cr_assert_eq(b.elected, 1);
	cr_assert_str_eq(leader_current(b.l), "http://b:7000");
	retire(&b);
	finish(loop);
}

/* A coordinator process killed with SIGKILL: its session is not closed, so
 * the follower takes over when the session times out. */
Test(leader, killed_leader_process_is_replaced_after_its_session_timeout)
{
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct ev_loop *l2 = ev_loop_new();
		struct contender k;
		stand(l2, &k, "http://killed:7000");
		ev_run(l2); /* until SIGKILL */
		_exit(0);
	}
	struct ev_loop *loop = ev_loop_new();
	struct contender b;
	uint64_t t0 = now_ms();
	while (now_ms() - t0 < 15000) { /* the child stands first */
		struct zk_conn *c;
		char err[256];
		struct zk_opts o = {.op_timeout_ms = 5000};
		cr_assert_eq(zk_conn_open(base, &o, &c, err, sizeof err), 0, "%s", err);
		char dir[600];
		snprintf(dir, sizeof dir, "%s/" LEADER_DIR, zpath);
		struct zk_op *op = zk_op_new(ZK_CHILDREN, dir);
		int rv = zk_run(c, &op, 1, err, sizeof err);
		size_t n = !rv && op->rc == ZOK ? op->nchildren : 0;
		zk_op_free(op);
		zk_conn_close(c);
		if (n > 0)
			break;
		usleep(50000);
	}
	stand(loop, &b, "http://b:7000");
	bool known = false;
	for (int i = 0; i < 1500 && !known; i++) {
		run_until(loop, NULL, NULL, 10);
		known = strcmp(b.current, "http://killed:7000") == 0;
	}
	cr_assert(known, "b does not see the child as leader: '%s'", b.current);
	cr_assert(!leader_is_leader(b.l));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	t0 = now_ms();
	cr_assert(run_until(loop, is_leader, &b, 4 * SESSION_MS + 5000),
		  "b not elected after the leader died");
	uint64_t took = now_ms() - t0;
	cr_assert_geq(took, SESSION_MS / 2, "elected before the session could expire");
	cr_assert_str_eq(leader_current(b.l), "http://b:7000");
	retire(&b);
	finish(loop);
}

/* Expire a's session the way a long partition does (zk_fixture.h). */
static void expire_session(struct zk_conn *c)
{
	zkf_expire_session(zk_conn_ensemble(c), zk_conn_client_id(c), SESSION_MS);
}

static bool restood_as_follower(void *arg)
{
	struct pair *p = arg; /* a: expired, b: the other */
	return leader_is_leader(p->b->l) && !leader_is_leader(p->a->l) &&
	       leader_znode(p->a->l) &&
	       strcmp(p->a->current, p->b->name) == 0;
}

Test(leader, session_expiry_steps_down_then_stands_again)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a, b;
	stand(loop, &a, "http://a:7000");
	cr_assert(run_until(loop, is_leader, &a, 15000));
	stand(loop, &b, "http://b:7000");
	struct pair p = {&a, &b};
	cr_assert(run_until(loop, one_leader_known, &p, 15000));
	char old_node[512];
	snprintf(old_node, sizeof old_node, "%s", leader_znode(a.l));
	uint64_t gen = zk_conn_generation(a.zk);

	expire_session(a.zk);
	cr_assert(run_until(loop, has_lost, &a, 15000), "a never stepped down");
	cr_assert_eq(a.lost, 1);
	cr_assert(!a.leader_at_lost, "still leader inside lost()");
	cr_assert(run_until(loop, restood_as_follower, &p, 30000),
		  "a=%d/%s b=%d", leader_is_leader(a.l), a.current,
		  leader_is_leader(b.l));
	cr_assert_gt(zk_conn_generation(a.zk), gen, "no new session");
	cr_assert_str_neq(leader_znode(a.l), old_node);
	cr_assert_eq(a.elected, 1);
	cr_assert_eq(b.elected, 1);
	retire(&a);
	retire(&b);
	finish(loop);
}

static bool elected_twice(void *arg)
{
	struct contender *c = arg;
	return c->elected >= 2 && leader_is_leader(c->l);
}

/* Alone: lose the session, get elected again with a new one; the store on
 * the same connection is fenced on the election znode. */
Test(leader, sole_contender_reelected_after_expiry_and_store_fenced)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a;
	stand(loop, &a, "http://a:7000");
	cr_assert(run_until(loop, is_leader, &a, 15000));
	struct store *st = store_zk_new(a.zk); /* shares the session */
	cr_assert_eq(store_zk_set_fence(st, leader_znode(a.l)), 0);
	struct store_state s;
	store_state_init(&s);
	snprintf(s.framework_id, sizeof s.framework_id, "fw-1");
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &s, 0, &v, err, sizeof err), 0, "%s", err);

	expire_session(a.zk);
	cr_assert(run_until(loop, has_lost, &a, 15000));
	/* a save fenced on the old znode can no longer happen, even though
	 * nobody else wrote the state */
	cr_assert_neq(store_save(st, &s, 1, &v, err, sizeof err), 0);
	cr_assert(run_until(loop, elected_twice, &a, 30000), "not re-elected");
	cr_assert_eq(a.lost, 1);
	cr_assert_eq(store_zk_set_fence(st, leader_znode(a.l)), 0);
	struct store_state r;
	cr_assert_eq(store_load(st, &r, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_str_eq(r.framework_id, "fw-1");
	cr_assert_eq(store_save(st, &r, v, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	store_state_fini(&r);
	store_state_fini(&s);
	store_close(st);
	retire(&a);
	finish(loop);
}

static bool both_lost_connection(void *arg)
{
	struct pair *p = arg;
	return p->a->lost > 0 && !p->a->current[0] && !p->b->current[0];
}

static bool single_leader(void *arg)
{
	struct pair *p = arg;
	return leader_is_leader(p->a->l) + leader_is_leader(p->b->l) == 1 &&
	       p->a->current[0] && strcmp(p->a->current, p->b->current) == 0;
}

/* The server goes away: the leader stops at once - leader_is_leader is
 * false before the loop even ran - and after the server is back one leader
 * is elected again. */
Test(leader, server_restart_steps_down_at_once_then_reelects)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a, b;
	stand(loop, &a, "http://a:7000");
	cr_assert(run_until(loop, is_leader, &a, 15000));
	stand(loop, &b, "http://b:7000");
	struct pair p = {&a, &b};
	cr_assert(run_until(loop, one_leader_known, &p, 15000));

	zkserver("stop");
	uint64_t stopped = now_ms();
	/* the client thread notices the closed connection; the loop has not
	 * run, so no callback yet - but the leader already says no */
	while (leader_is_leader(a.l) && now_ms() - stopped < 3000)
		usleep(5000);
	cr_assert(!leader_is_leader(a.l), "still leader 3 s after the server died");
	cr_assert_eq(a.lost, 0, "callbacks run only on the loop");
	cr_assert(run_until(loop, both_lost_connection, &p, 5000));
	cr_assert_eq(a.lost, 1);
	cr_assert_lt(a.lost_at - stopped, 3000);
	/* the lease may run out first while the server shuts down */
	cr_assert(strstr(a.reason, "connection") || strstr(a.reason, "lease"), "%s",
		  a.reason);
	cr_assert(!leader_is_leader(b.l));

	zkserver("start");
	cr_assert(run_until(loop, single_leader, &p, 30000),
		  "after restart: a=%d b=%d", leader_is_leader(a.l),
		  leader_is_leader(b.l));
	/* no split brain while it settles */
	run_until(loop, NULL, NULL, 1000);
	cr_assert_eq(leader_is_leader(a.l) + leader_is_leader(b.l), 1);
	retire(&a);
	retire(&b);
	finish(loop);
}

/* Freed inside its own callback, with answers still on their way. */
static void free_on_elected(void *arg)
{
	struct contender *c = arg;
	c->elected++;
	leader_free(c->l);
	c->l = NULL;
}

static bool freed(void *arg)
{
	struct contender *c = arg;
	return c->l == NULL;
}

Test(leader, free_from_a_callback)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a;
	memset(&a, 0, sizeof a);
	char err[512] = "";
	cr_assert_eq(zk_conn_open(base, NULL, &a.zk, err, sizeof err), 0, "%s", err);
	struct leader_cbs c2 = {free_on_elected, cb_lost, cb_changed};
	cr_assert_eq(leader_new(loop, a.zk, "x", &c2, &a, &a.l, err, sizeof err), 0);
	cr_assert(run_until(loop, freed, &a, 15000));
	cr_assert_eq(a.elected, 1);
	cr_assert_eq(a.lost, 0);
	run_until(loop, NULL, NULL, 200);
	zk_conn_close(a.zk);
	finish(loop);
	cr_assert_eq(leader_new(NULL, NULL, "", NULL, NULL, &a.l, err, sizeof err),
		     QM_EINVAL);
}

/* The loop thread stalls past the lease (a frozen process looks the same to
 * it: SIGSTOP freezes the ZooKeeper thread too, and the server expires the
 * session while the successor takes over). The moment it runs again, before
 * any event is handled, leader_is_leader() is false; then the loop steps
 * down and, the session being alive here, is elected again. */
Test(leader, stalled_loop_stops_leading_at_once_then_reelects)
{
	struct ev_loop *loop = ev_loop_new();
	struct contender a;
	stand(loop, &a, "http://a:7000");
	cr_assert(run_until(loop, is_leader, &a, 15000));
	run_until(loop, NULL, NULL, SESSION_MS / 2); /* some renewals */
	cr_assert(leader_is_leader(a.l), "lease renewals did not keep it");
	cr_assert_eq(a.lost, 0);
	struct timespec ts = {.tv_sec = SESSION_MS / 1000,
			      .tv_nsec = (SESSION_MS % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* > the lease (2/3 of the session) */
	cr_assert_not(leader_is_leader(a.l), "still leads after the lease ran out");
	cr_assert(run_until(loop, elected_twice, &a, 15000), "not elected again");
	cr_assert_eq(a.lost, 1);
	cr_assert(strstr(a.reason, "lease"), "reason: %s", a.reason);
	cr_assert_not(a.leader_at_lost);
	retire(&a);
	finish(loop);
}
