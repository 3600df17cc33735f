/* Master detection against a real ZooKeeper server (tests/zk/run.sh starts
 * it and sets QM_TEST_ZK=zk://127.0.0.1:<port> and QM_TEST_ZK_DIR). The
 * test plays the masters: it writes their group with the raw C client, as
 * Mesos's contender would (src/master/contender/zookeeper.cpp: children
 * "json.info_<10-digit sequence>" holding MasterInfo JSON), except that the
 * znodes are persistent and named by the test, so each case picks its own
 * sequences and labels. The detector under test only reads. */
#define THREADED 1 /* the C client's synchronous calls (libzookeeper_mt) */
#include "mesos/detector.h"
#include "evloop.h"
#include "log.h"
#include "state/zk.h"
#include "zk_fixture.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SESSION_MS 4000

static char root[256];  /* /qm-test/det-<pid>-<n>-<ms> */
static char group[300]; /* root + "/mesos" */
static char url[600];   /* zk://127.0.0.1:<port>/qm-test/.../mesos */
static zhandle_t *zh;   /* the test's own session: plays the masters */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void quiet_watcher(zhandle_t *h, int type, int state, const char *path, void *ctx)
{
	(void)h, (void)type, (void)state, (void)path, (void)ctx;
}

static void quiet_log(const char *msg)
{
	(void)msg;
}

static zhandle_t *raw_connect(const clientid_t *id)
{
	zhandle_t *h = zookeeper_init2(zk_server() + 5, quiet_watcher, SESSION_MS, id, NULL, 0,
				       quiet_log);
	cr_assert_not_null(h);
	uint64_t t0 = now_us();
	while (zoo_state(h) != ZOO_CONNECTED_STATE && now_us() - t0 < 15000000u)
		usleep(10000);
	cr_assert_eq(zoo_state(h), ZOO_CONNECTED_STATE, "the test's client did not connect");
	return h;
}

static void setup(void)
{
	static unsigned n;
	log_set_level(LOG_WARN);
	snprintf(root, sizeof root, "/qm-test/det-%ld-%u-%ld", (long)getpid(), n++,
		 (long)(now_us() / 1000 % 100000));
	snprintf(group, sizeof group, "%s/mesos", root);
	snprintf(url, sizeof url, "%s%s", zk_server(), group);
	zh = raw_connect(NULL);
}

static void teardown(void)
{
	if (zh)
		zookeeper_close(zh);
	zh = NULL;
}

TestSuite(detector, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the masters' side (raw client) ---------------------------------- */

static void zmk(const char *path, const void *data, int len)
{
	/* ancestors first */
	char p[512];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		int rc = zoo_create(zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
		cr_assert(rc == ZOK || rc == ZNODEEXISTS, "create %s: %s", p, zerror(rc));
		*s = '/';
	}
	int rc = zoo_create(zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	cr_assert_eq(rc, ZOK, "create %s: %s", path, zerror(rc));
}

static void member(const char *name, const char *data)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", group, name);
	zmk(p, data, data ? (int)strlen(data) : -1);
}

static void member_rm(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", group, name);
	int rc = zoo_delete(zh, p, -1);
	cr_assert_eq(rc, ZOK, "delete %s: %s", p, zerror(rc));
}

static bool zexists(const char *path)
{
	struct Stat st;
	int rc = zoo_exists(zh, path, 0, &st);
	cr_assert(rc == ZOK || rc == ZNONODE, "exists %s: %s", path, zerror(rc));
	return rc == ZOK;
}

/* MasterInfo JSON as a 1.11 master writes it (keys sorted, no blanks). */
static const char *info(int port)
{
	static char buf[8][600];
	static int i;
	char *b = buf[i++ % 8];
	snprintf(b, sizeof buf[0],
		 "{\"address\":{\"hostname\":\"m%d\",\"ip\":\"127.0.0.1\",\"port\":%d},"
		 "\"capabilities\":[{\"type\":\"AGENT_UPDATE\"},{\"type\":\"AGENT_DRAINING\"},"
		 "{\"type\":\"QUOTA_V2\"}],\"hostname\":\"m%d\",\"id\":\"id-%d\","
		 "\"ip\":16777343,\"pid\":\"master@127.0.0.1:%d\",\"port\":%d,"
		 "\"version\":\"1.11.0\"}",
		 port, port, port, port, port, port);
	return b;
}

/* ---- the detector's side ---------------------------------------------- */

struct obs {
	int n;                 /* answers */
	bool leader;           /* the last answer named one */
	struct det_leader last;
	char why[512];
	uint64_t at;           /* when the last answer came (us) */
	int in_call;           /* answers while a det_ call ran */
	bool calling;
};

static void on_answer(void *arg, const struct det_leader *l, const char *why)
{
	struct obs *o = arg;
	o->n++;
	o->at = now_us();
	if (o->calling)
		o->in_call++;
	o->leader = l != NULL;
	if (l)
		o->last = *l;
	else
		memset(&o->last, 0, sizeof o->last);
	snprintf(o->why, sizeof o->why, "%s", why ? why : "");
}

struct waitctx {
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
	if (now_us() >= w->deadline) {
		ev_stop(loop);
		return;
	}
	ev_timer_add(loop, 1, tick, w);
}

/* Run the loop until pred(arg) holds (true) or timeout_ms passed (false);
 * pred NULL: just run for timeout_ms. */
static bool run_until(struct ev_loop *loop, bool (*pred)(void *), void *arg, uint64_t timeout_ms)
{
	struct waitctx w = {pred, arg, now_us() + timeout_ms * 1000u, false};
	ev_timer_add(loop, 0, tick, &w);
	ev_run(loop);
	return w.ok;
}

/* what a predicate waits for */
static struct {
	struct obs *o;
	int port;          /* a leader on this port; 0: no leader */
	const char *text;  /* no leader, why contains this */
	int after;         /* an answer later than the n-th */
} want;

static bool wanted(void *arg)
{
	(void)arg;
	struct obs *o = want.o;
	if (o->n <= want.after)
		return false;
	if (want.port) {
		char u[64];
		snprintf(u, sizeof u, "http://127.0.0.1:%d", want.port);
		return o->leader && strcmp(o->last.url, u) == 0;
	}
	return !o->leader && strstr(o->why, want.text) != NULL;
}

static void wait_leader(struct ev_loop *loop, struct obs *o, int port, uint64_t ms)
{
	want.o = o;
	want.port = port;
	want.text = NULL;
	want.after = 0;
	cr_assert(run_until(loop, wanted, NULL, ms), "no leader on port %d after %llu ms: %s %s",
		  port, (unsigned long long)ms, o->leader ? o->last.url : "none", o->why);
}

static void wait_none(struct ev_loop *loop, struct obs *o, const char *text, uint64_t ms)
{
	want.o = o;
	want.port = 0;
	want.text = text;
	want.after = 0;
	cr_assert(run_until(loop, wanted, NULL, ms), "no answer '...%s...' after %llu ms: %s %s",
		  text, (unsigned long long)ms, o->leader ? o->last.url : "none", o->why);
}

static struct detector *start(struct ev_loop *loop, struct obs *o, const char *u, int session_ms)
{
	struct det_spec spec;
	char err[512] = "";
	cr_assert_eq(det_spec_parse(u, NULL, &spec, err, sizeof err), 0, "%s", err);
	cr_assert_eq(spec.kind, DET_ZK);
	memset(o, 0, sizeof *o);
	o->calling = true;
	struct detector *d = det_new(loop, &spec, session_ms, on_answer, o);
	o->calling = false;
	cr_assert_not_null(d);
	return d;
}

static void failed(struct detector *d, struct obs *o, const char *why)
{
	o->calling = true;
	det_failed(d, o->leader ? o->last.url : "", why);
	o->calling = false;
}

static void finish(struct ev_loop *loop, struct detector *d, struct obs *o)
{
	int n = o->n;
	det_free(d);
	run_until(loop, NULL, NULL, 30);
	cr_assert_eq(o->n, n, "an answer after det_free");
	cr_assert_eq(o->in_call, 0, "answered from inside a det_ call");
	ev_loop_free(loop);
}

/* ---- tests ------------------------------------------------------------ */

Test(detector, the_lowest_json_info_leads)
{
	member("json.info_0000000003", info(5003));
	member("json.info_0000000001", info(5001));
	member("json.info_0000000002", info(5002));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	cr_assert_eq(o.n, 0);
	wait_leader(loop, &o, 5001, 15000);
	cr_assert_str_eq(o.last.id, "id-5001");
	cr_assert_str_eq(o.last.version, "1.11.0");
	cr_assert_str_eq(o.last.hostname, "m5001");
	cr_assert_not_null(det_zk(d));
	/* one answer, not one per read */
	run_until(loop, NULL, NULL, 300);
	cr_assert_eq(o.n, 1);
	/* a member joining behind the leader changes nothing */
	member("json.info_0000000004", info(5004));
	run_until(loop, NULL, NULL, 300);
	cr_assert_eq(o.n, 1);
	finish(loop, d, &o);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The leader's znode goes (as when its session ends): the next one is
 * handed over as soon as the child watch fires. Prints the bench line. */
Test(detector, leader_change_on_delete_and_its_latency)
{
	enum { ROUNDS = 20 };
	for (int i = 1; i <= ROUNDS + 1; i++) {
		char name[64];
		snprintf(name, sizeof name, "json.info_%010d", i);
		member(name, info(6000 + i));
	}
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_leader(loop, &o, 6001, 15000);
	uint64_t lat[ROUNDS], del[ROUNDS];
	for (int i = 1; i <= ROUNDS; i++) {
		int n = o.n;
		char name[64];
		snprintf(name, sizeof name, "json.info_%010d", i);
		uint64_t t0 = now_us();
		member_rm(name);
		del[i - 1] = now_us() - t0;
		want.o = &o;
		want.port = 6000 + i + 1;
		want.after = n;
		cr_assert(run_until(loop, wanted, NULL, 10000), "round %d: no new leader: %s %s", i,
			  o.leader ? o.last.url : "none", o.why);
		cr_assert_eq(o.n, n + 1, "round %d: %d answers for one change", i, o.n - n);
		lat[i - 1] = o.at - t0;
	}
	qsort(lat, ROUNDS, sizeof lat[0], cmp_u64);
	qsort(del, ROUNDS, sizeof del[0], cmp_u64);
	double med = (double)(lat[ROUNDS / 2 - 1] + lat[ROUNDS / 2]) / 2.0;
	double dmed = (double)(del[ROUNDS / 2 - 1] + del[ROUNDS / 2]) / 2.0;
	/* the delete itself (a logged, synced write) is part of the time */
	printf("detector: leader change -> callback min %.2f median %.2f max %.2f ms "
	       "(%d rounds, from the delete call; the delete's own answer median %.2f ms)\n",
	       (double)lat[0] / 1000.0, med / 1000.0, (double)lat[ROUNDS - 1] / 1000.0, ROUNDS,
	       dmed / 1000.0);
	fflush(stdout);
	cr_assert_lt(lat[ROUNDS - 1], 2000000u, "a change took more than 2 s");
	finish(loop, d, &o);
}

Test(detector, an_empty_group_has_no_leader_until_one_joins)
{
	zmk(group, NULL, -1);
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_none(loop, &o, "no json.info_ znode under", 15000);
	cr_assert_not_null(strstr(o.why, group), "%s", o.why);
	cr_assert_eq(o.n, 1);
	member("json.info_0000000005", info(5005));
	wait_leader(loop, &o, 5005, 10000);
	/* and the last one leaving: no leader again */
	member_rm("json.info_0000000005");
	wait_none(loop, &o, "no json.info_ znode under", 10000);
	finish(loop, d, &o);
}

/* A path no master uses is named, and stays absent: the detector creates
 * nothing in the masters' ZooKeeper (zk_conn only writes on ZK_CREATE and
 * the detector starts only reads). It is watched, so it is noticed once
 * masters create it. */
Test(detector, a_missing_path_is_named_never_created_and_watched)
{
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_none(loop, &o, "does not exist", 15000);
	cr_assert_not_null(strstr(o.why, group), "%s", o.why);
	run_until(loop, NULL, NULL, 300);
	cr_assert_eq(o.n, 1);
	cr_assert(!zexists(group), "the detector created %s", group);
	cr_assert(!zexists(root), "the detector created %s", root);
	member("json.info_0000000001", info(5011));
	wait_leader(loop, &o, 5011, 10000);
	finish(loop, d, &o);
}

Test(detector, garbage_data_is_named_and_the_watch_kept)
{
	member("json.info_0000000001", "<html>502 Bad Gateway</html>");
	member("json.info_0000000002", info(5022));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_none(loop, &o, "is not MasterInfo JSON", 15000);
	cr_assert_not_null(strstr(o.why, "json.info_0000000001"), "%s", o.why);
	member_rm("json.info_0000000001");
	wait_leader(loop, &o, 5022, 10000);
	/* empty data and JSON without an address */
	member("json.info_0000000000", NULL);
	wait_none(loop, &o, "empty", 10000);
	member_rm("json.info_0000000000");
	wait_leader(loop, &o, 5022, 10000);
	member("json.info_-0000000001", "{\"id\":\"x\",\"version\":\"1.11.0\"}");
	wait_none(loop, &o, "no address", 10000);
	finish(loop, d, &o);
}

/* Mesos elects the lowest sequence of any label (src/zookeeper/
 * detector.cpp) and parses the winner by label (src/master/detector/
 * zookeeper.cpp). So an info_ (protobuf) member behind the leader is
 * ignored, non-members ("log_replicas") too; an info_ or unknown-label
 * member in front is the leader, and is reported, not skipped. */
Test(detector, the_lowest_sequence_wins_among_labels)
{
	size_t pbl;
	char pb[256];
	{
		FILE *f = fopen(QM_TEST_DATA "/masterinfo/protobuf.bin", "rb");
		cr_assert_not_null(f);
		pbl = fread(pb, 1, sizeof pb, f);
		fclose(f);
	}
	char p[512];
	snprintf(p, sizeof p, "%s/log_replicas", group);
	zmk(p, NULL, -1);
	member("json.info_0000000003", info(7003));
	snprintf(p, sizeof p, "%s/info_0000000004", group);
	zmk(p, pb, (int)pbl);
	member("json.info_0000000002", info(7002));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_leader(loop, &o, 7002, 15000);

	snprintf(p, sizeof p, "%s/info_0000000001", group);
	zmk(p, pb, (int)pbl);
	wait_none(loop, &o, "not json.info_", 10000);
	cr_assert_not_null(strstr(o.why, "info_0000000001"), "%s", o.why);
	cr_assert_not_null(strstr(o.why, "before 0.24"), "%s", o.why);
	member_rm("info_0000000001");
	wait_leader(loop, &o, 7002, 10000);

	member("other_0000000000", info(7000));
	wait_none(loop, &o, "unknown label 'other'", 10000);
	member_rm("other_0000000000");
	wait_leader(loop, &o, 7002, 10000);

	/* json.info_ with the lowest sequence of all leads again */
	member("json.info_0000000000", info(7010));
	wait_leader(loop, &o, 7010, 10000);
	finish(loop, d, &o);
}

/* det_failed: the group is read again and the answer given again, even
 * when nothing changed, never from inside det_failed. */
Test(detector, det_failed_answers_again)
{
	member("json.info_0000000001", info(5031));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_leader(loop, &o, 5031, 15000);
	for (int i = 1; i <= 3; i++) {
		int n = o.n;
		failed(d, &o, "connection refused");
		cr_assert_eq(o.n, n);
		want.o = &o;
		want.port = 5031;
		want.after = n;
		cr_assert(run_until(loop, wanted, NULL, 5000), "det_failed %d: no answer", i);
		run_until(loop, NULL, NULL, 100);
		cr_assert_eq(o.n, n + 1, "det_failed %d: %d answers", i, o.n - n);
	}
	/* a failure of a "no leader" answer is answered too */
	member_rm("json.info_0000000001");
	wait_none(loop, &o, "no json.info_ znode", 10000);
	int n = o.n;
	failed(d, &o, "no leader");
	want.o = &o;
	want.port = 0;
	want.text = "no json.info_ znode";
	want.after = n;
	cr_assert(run_until(loop, wanted, NULL, 5000));
	finish(loop, d, &o);
}

/* Expire the detector's session the way a long partition does (another
 * client takes over its id and closes it): "expired" is said, a new
 * session is made and the leader read again. */
Test(detector, an_expired_session_is_renewed)
{
	member("json.info_0000000001", info(5041));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_leader(loop, &o, 5041, 15000);
	struct zk_conn *c = det_zk(d);
	cr_assert_not_null(c);
	uint64_t gen = zk_conn_generation(c);
	zkf_expire_session(zk_server() + 5, zk_conn_client_id(c), SESSION_MS);
	wait_none(loop, &o, "expired", 15000);
	/* the group changed while we had no session: seen after renewal */
	member("json.info_0000000000", info(5040));
	wait_leader(loop, &o, 5040, 15000);
	cr_assert_gt(zk_conn_generation(det_zk(d)), gen, "no new session");
	finish(loop, d, &o);
}

/* Nobody listening: "no contact" after the session timeout (not before
 * half of it); det_failed meanwhile repeats that answer. */
Test(detector, unreachable_zookeeper_is_named)
{
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	uint64_t t0 = now_us();
	struct detector *d = start(loop, &o, "zk://127.0.0.1:1/mesos", 2000);
	wait_none(loop, &o, "no contact with ZooKeeper", 10000);
	uint64_t took = (o.at - t0) / 1000;
	cr_assert_geq(took, 1000, "answered after %llu ms", (unsigned long long)took);
	cr_assert_eq(o.n, 1);
	int n = o.n;
	failed(d, &o, "no leader");
	cr_assert_eq(o.n, n);
	want.o = &o;
	want.port = 0;
	want.text = "no contact";
	want.after = n;
	cr_assert(run_until(loop, wanted, NULL, 2000), "det_failed while unreachable: no answer");
	finish(loop, d, &o);
}

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
		execl("/bin/bash", "bash", QM_ZK_SCRIPTS "/zkserver.sh", cmd, dir, (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "zkserver.sh %s failed (status %d)",
		  cmd, status);
}

/* The server goes away: the leader is kept while the session may still be
 * alive (as Mesos does until expiry), "no contact" after the session
 * timeout; the server back: the leader again. */
Test(detector, zookeeper_down_keeps_the_leader_for_a_session_timeout)
{
	member("json.info_0000000001", info(5051));
	struct ev_loop *loop = ev_loop_new();
	struct obs o;
	struct detector *d = start(loop, &o, url, SESSION_MS);
	wait_leader(loop, &o, 5051, 15000);
	zookeeper_close(zh);
	zh = NULL;
	uint64_t t0 = now_us();
	zkserver("stop");
	run_until(loop, NULL, NULL, SESSION_MS / 2);
	cr_assert_eq(o.n, 1, "answered while the session could be alive: %s", o.why);
	wait_none(loop, &o, "no contact with ZooKeeper", SESSION_MS * 3);
	uint64_t took = (o.at - t0) / 1000;
	cr_assert_geq(took, SESSION_MS / 2, "no contact after %llu ms", (unsigned long long)took);
	zkserver("start");
	wait_leader(loop, &o, 5051, 30000);
	finish(loop, d, &o);
}
