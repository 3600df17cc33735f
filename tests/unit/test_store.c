/* Store tests.
 *
 * The conformance suite (marked below) is written once against a small
 * backend description and runs on both backends: this file built as
 * test_store runs it on the file backend (suite "store", with the file-only
 * tests); CMakeLists.txt builds it again as zk_test_store with
 * QM_STORE_TEST_ZK defined, which runs the same suite on the ZooKeeper
 * backend (suite "store_zk", with the ZooKeeper-only tests at the end)
 * against the real server tests/zk/run.sh starts and names in QM_TEST_ZK
 * ("zk://127.0.0.1:<port>"). Without QM_TEST_ZK every ZooKeeper test fails
 * and says so. */
#include "state/store.h"
#include "log.h"
#include "qm_error.h"
#include "state/state.h"
#include "state/store_zk.h"
#include "state/zk.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------- */

static char tmpdir[64];
static char url[512];    /* what state_open takes */
static char where[512];  /* what messages about the state must name */

__attribute__((unused)) static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/qm-store-test.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

__attribute__((unused)) static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

__attribute__((unused)) static void path_of(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

__attribute__((unused)) static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return b;
}

__attribute__((unused)) static void spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct store_task mk_task(int i)
{
	struct store_task t;
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "quobyte-data.node-%d.%016x", i, i);
	snprintf(t.service, sizeof t.service, "%s", i % 2 ? "data" : "metadata");
	snprintf(t.agent_id, sizeof t.agent_id, "5e1f-S%d", i);
	snprintf(t.hostname, sizeof t.hostname, "node-%d.example.com", i);
	snprintf(t.version, sizeof t.version, "3.%d", i % 7);
	t.launched_ms = 1718000000000ll + i;
	snprintf(t.state, sizeof t.state, "TASK_RUNNING");
	t.unwanted_since_ms = i % 3 ? 0 : 1718000000500ll;
	t.kill_requested = i % 5 == 0;
	t.nports = 2;
	t.ports[0] = 7863;
	t.ports[1] = 31000 + (uint32_t)(i % 1000);
	if (i % 4) { /* tasks of older coordinators have no mounts */
		t.mounts_known = true;
		t.mounts_shared = i % 2;
		snprintf(t.mounts, sizeof t.mounts, "/mnt/quobyte,/var/lib/quobyte/dev-%d", i);
	}
	return t;
}

static void fill(struct store_state *s, int ntasks)
{
	store_state_init(s);
	snprintf(s->framework_id, sizeof s->framework_id, "5e1f2b7c-0000");
	snprintf(s->target_version, sizeof s->target_version, "3.0.1");
	snprintf(s->progress, sizeof s->progress,
		 "upgrade \"3.0\" -> 3.0.1: data 2/5 \xc3\xbc\n");
	for (int i = 0; i < ntasks; i++) {
		struct store_task t = mk_task(i);
		cr_assert_not_null(store_state_put_task(s, &t));
	}
	struct store_failure *f = store_state_failure(s, "data", "5e1f-S3", true);
	cr_assert_not_null(f);
	f->consecutive = 4;
	f->last_failure_ms = 1718000000999ll;
}

static void assert_same(const struct store_state *a, const struct store_state *b)
{
	cr_assert_str_eq(a->framework_id, b->framework_id);
	cr_assert_str_eq(a->target_version, b->target_version);
	cr_assert_str_eq(a->progress, b->progress);
	cr_assert_eq(a->ntasks, b->ntasks);
	for (size_t i = 0; i < a->ntasks; i++) {
		const struct store_task *x = &a->tasks[i], *y = &b->tasks[i];
		cr_assert_str_eq(x->task_id, y->task_id);
		cr_assert_str_eq(x->service, y->service);
		cr_assert_str_eq(x->agent_id, y->agent_id);
		cr_assert_str_eq(x->hostname, y->hostname);
		cr_assert_str_eq(x->version, y->version);
		cr_assert_str_eq(x->state, y->state);
		cr_assert_eq(x->launched_ms, y->launched_ms);
		cr_assert_eq(x->unwanted_since_ms, y->unwanted_since_ms);
		cr_assert_eq(x->kill_requested, y->kill_requested);
		cr_assert_eq(x->nports, y->nports);
		for (unsigned p = 0; p < x->nports; p++)
			cr_assert_eq(x->ports[p], y->ports[p]);
		cr_assert_eq(x->mounts_known, y->mounts_known);
		cr_assert_eq(x->mounts_shared, y->mounts_shared);
		cr_assert_str_eq(x->mounts, y->mounts);
	}
	cr_assert_eq(a->nfailures, b->nfailures);
	for (size_t i = 0; i < a->nfailures; i++) {
		cr_assert_str_eq(a->failures[i].service, b->failures[i].service);
		cr_assert_str_eq(a->failures[i].agent_id, b->failures[i].agent_id);
		cr_assert_eq(a->failures[i].consecutive, b->failures[i].consecutive);
		cr_assert_eq(a->failures[i].last_failure_ms,
			     b->failures[i].last_failure_ms);
	}
}

/* state_open for the tests: a ZooKeeper store's connection is kept beside
 * it and closed after it by close_st (as the coordinator does). Any thread
 * (mix_writer opens its own). */
static pthread_mutex_t opened_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct store *st;
	struct zk_conn *zk;
} opened[16];

static struct store *try_open(const char *u, char *err, size_t errlen)
{
	struct store *st;
	struct zk_conn *zk;
	if (state_open(u, NULL, &st, &zk, err, errlen) != 0) {
		cr_assert_null(st);
		cr_assert_null(zk);
		return NULL;
	}
	if (!zk)
		return st;
	pthread_mutex_lock(&opened_mu);
	size_t i = 0;
	while (i < sizeof opened / sizeof opened[0] && opened[i].st)
		i++;
	cr_assert_lt(i, sizeof opened / sizeof opened[0], "too many stores open");
	opened[i].st = st;
	opened[i].zk = zk;
	pthread_mutex_unlock(&opened_mu);
	return st;
}

static void close_st(struct store *st)
{
	struct zk_conn *zk = NULL;
	pthread_mutex_lock(&opened_mu);
	for (size_t i = 0; st && i < sizeof opened / sizeof opened[0]; i++)
		if (opened[i].st == st) {
			zk = opened[i].zk;
			opened[i].st = NULL;
			opened[i].zk = NULL;
		}
	pthread_mutex_unlock(&opened_mu);
	state_close(&st, &zk);
}

static struct store *open_url(const char *u)
{
	char err[512] = "";
	struct store *st = try_open(u, err, sizeof err);
	cr_assert_not_null(st, "state_open(%s): %s", u, err);
	return st;
}

static struct store *open_ok(void)
{
	return open_url(url);
}

/* ---- backends ------------------------------------------------------- */
/* be_setup: a fresh, empty location in url/where. raw_write/raw_read: the
 * state's bytes as the backend keeps them (state.json, or the head znode),
 * bypassing the store; raw_read gives NULL when there is none. */

#ifndef QM_STORE_TEST_ZK

#define SUITE store
#define BACKEND "file"

static void be_setup(void)
{
	make_tmpdir();
	snprintf(url, sizeof url, "%s", tmpdir);
	snprintf(where, sizeof where, "%s", tmpdir);
}

static void be_teardown(void)
{
	remove_tmpdir();
}

static void raw_write(const char *data, size_t len)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	spew(p, data, len);
}

static char *raw_read(size_t *len)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	if (access(p, F_OK) != 0)
		return NULL;
	return slurp(p, len);
}

#else /* QM_STORE_TEST_ZK */

#define SUITE store_zk
#define BACKEND "zk"

/* "zk://127.0.0.1:<port>" from the runner. */
static const char *zk_server(void)
{
	const char *e = getenv("QM_TEST_ZK");
	cr_assert(e && strncmp(e, "zk://", 5) == 0,
		  "QM_TEST_ZK is not set (or not zk://host:port): the ZooKeeper "
		  "tests need a real server - run tests/zk/run.sh, which starts "
		  "one and sets it");
	return e;
}

static struct zk_conn *raw_conn(const char *u)
{
	struct zk_conn *c = NULL;
	char err[512] = "";
	struct zk_opts o = {.session_timeout_ms = 4000, .op_timeout_ms = 10000};
	cr_assert_eq(zk_conn_open(u, &o, &c, err, sizeof err), 0, "%s", err);
	return c;
}

/* Run one op; returns it answered (caller frees). */
static struct zk_op *run1(struct zk_conn *c, struct zk_op *op)
{
	char err[512] = "";
	int rv = zk_run(c, &op, 1, err, sizeof err);
	cr_assert_eq(rv, 0, "zk_run: %s", err);
	return op;
}

static int run1_rc(struct zk_conn *c, struct zk_op *op)
{
	op = run1(c, op);
	int rc = op->rc;
	zk_op_free(op);
	return rc;
}

static void zk_mkdirs(struct zk_conn *c, const char *path)
{
	char buf[512];
	for (const char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			snprintf(buf, sizeof buf, "%.*s", (int)(p - path), path);
			struct zk_op *op = zk_op_new(ZK_CREATE, buf);
			zk_op_set_data(op, NULL, 0);
			int rc = run1_rc(c, op);
			cr_assert(rc == ZOK || rc == ZNODEEXISTS, "create %s: %s", buf,
				  zk_strerror(rc));
		}
		if (!*p)
			break;
	}
}

static void zk_put(struct zk_conn *c, const char *path, const void *d,
		   size_t len)
{
	struct zk_op *op = zk_op_new(ZK_SET, path);
	zk_op_set_data(op, d, len);
	int rc = run1_rc(c, op);
	if (rc == ZNONODE) {
		op = zk_op_new(ZK_CREATE, path);
		zk_op_set_data(op, d, len);
		rc = run1_rc(c, op);
	}
	cr_assert_eq(rc, ZOK, "write %s: %s", path, zk_strerror(rc));
}

/* Data of path, NUL-terminated, or NULL when absent. */
static char *zk_fetch(struct zk_conn *c, const char *path, size_t *len)
{
	struct zk_op *op = run1(c, zk_op_new(ZK_GET, path));
	if (op->rc == ZNONODE) {
		zk_op_free(op);
		return NULL;
	}
	cr_assert_eq(op->rc, ZOK, "read %s: %s", path, zk_strerror(op->rc));
	char *b = malloc(op->len + 1);
	memcpy(b, op->data ? op->data : "", op->len);
	b[op->len] = '\0';
	if (len)
		*len = op->len;
	zk_op_free(op);
	return b;
}

/* Sorted names of path's children joined by ' '. */
static void zk_list(struct zk_conn *c, const char *path, char *out, size_t cap)
{
	struct zk_op *op = run1(c, zk_op_new(ZK_CHILDREN, path));
	out[0] = '\0';
	if (op->rc == ZNONODE) {
		zk_op_free(op);
		return;
	}
	cr_assert_eq(op->rc, ZOK);
	for (size_t i = 1; i < op->nchildren; i++)
		for (size_t k = i; k > 0 && strcmp(op->children[k - 1], op->children[k]) > 0; k--) {
			char *t = op->children[k];
			op->children[k] = op->children[k - 1];
			op->children[k - 1] = t;
		}
	size_t o = 0;
	for (size_t i = 0; i < op->nchildren && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? " " : "",
				      op->children[i]);
	zk_op_free(op);
}

static size_t zk_count(struct zk_conn *c, const char *path)
{
	struct zk_op *op = run1(c, zk_op_new(ZK_CHILDREN, path));
	size_t n = op->rc == ZOK ? op->nchildren : 0;
	zk_op_free(op);
	return n;
}

static void zk_rmtree(struct zk_conn *c, const char *path)
{
	struct zk_op *op = run1(c, zk_op_new(ZK_CHILDREN, path));
	for (size_t i = 0; op->rc == ZOK && i < op->nchildren; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", path, op->children[i]);
		zk_rmtree(c, p);
	}
	zk_op_free(op);
	run1_rc(c, zk_op_new(ZK_DELETE, path));
}

static char zpath[256];  /* the store's root znode */

static void be_setup(void)
{
	static unsigned n;
	log_set_level(LOG_WARN); /* no line per session */
	const char *srv = zk_server();
	snprintf(zpath, sizeof zpath, "/qm-test/store-%ld-%u-%ld", (long)getpid(),
		 n++, (long)(now_ms() % 100000));
	snprintf(url, sizeof url, "%s%s", srv, zpath);
	snprintf(where, sizeof where, "%s", url);
}

static void be_teardown(void)
{
	const char *srv = getenv("QM_TEST_ZK");
	if (!srv || !zpath[0])
		return;
	struct zk_conn *c = raw_conn(url);
	zk_rmtree(c, zpath);
	zk_conn_close(c);
}

static void head_path(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" STORE_ZK_HEAD, zpath);
}

static void raw_write(const char *data, size_t len)
{
	struct zk_conn *c = raw_conn(url);
	zk_mkdirs(c, zpath);
	char h[300];
	head_path(h, sizeof h);
	zk_put(c, h, data, len);
	zk_conn_close(c);
}

static char *raw_read(size_t *len)
{
	struct zk_conn *c = raw_conn(url);
	char h[300];
	head_path(h, sizeof h);
	char *b = zk_fetch(c, h, len);
	zk_conn_close(c);
	return b;
}

#endif /* QM_STORE_TEST_ZK */

TestSuite(SUITE, .init = be_setup, .fini = be_teardown);

/* ==== conformance: the same on every backend =========================== */

Test(SUITE, first_start_is_empty)
{
	struct store *st = open_ok();
	cr_assert_str_eq(store_backend(st), BACKEND);
	struct store_state s;
	uint64_t v = 99;
	char err[512] = "";
	cr_assert_eq(store_load(st, &s, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 0);
	cr_assert_eq(s.ntasks, 0);
	cr_assert_str_eq(s.framework_id, "");
	store_state_fini(&s);
	close_st(st);
	cr_assert_null(raw_read(NULL), "a load wrote something");
}

Test(SUITE, round_trip)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 3);
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	close_st(st);

	st = open_ok();
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	assert_same(&a, &b);

	/* a second save increments again */
	b.tasks[0].kill_requested = true;
	cr_assert_eq(store_save(st, &b, 1, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	store_state_fini(&b);
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	cr_assert(b.tasks[0].kill_requested);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

Test(SUITE, cas_conflict)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 1);
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	char *before = raw_read(NULL);
	cr_assert_not_null(before);

	snprintf(a.target_version, sizeof a.target_version, "9.9");
	v = 77;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert_eq(v, 77, "new_version untouched on failure");
	cr_assert(strstr(err, "stale"), "%s", err);
	cr_assert(strstr(err, where), "message does not name the store: %s", err);
	cr_assert_eq(store_save(st, &a, 5, NULL, err, sizeof err), QM_ECONFLICT);
	char *after = raw_read(NULL);
	cr_assert_str_eq(before, after, "a failed save changed the state");
	free(after);

	cr_assert_eq(store_save(st, &a, 1, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	close_st(st);

	/* a fresh store learns the version before its first save */
	st = open_ok();
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), QM_ECONFLICT);
	cr_assert_eq(store_save(st, &a, 1, NULL, err, sizeof err), QM_ECONFLICT);
	cr_assert_eq(store_save(st, &a, 2, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 3);
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 3);
	cr_assert_str_eq(b.target_version, "9.9");
	free(before);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

static void expect_refused(int want_rv, const char *must_contain)
{
	struct store *st = open_ok();
	struct store_state s;
	uint64_t v = 123;
	char err[512] = "";
	int rv = store_load(st, &s, &v, err, sizeof err);
	cr_assert_eq(rv, want_rv, "load gave %d (%s)", rv, err);
	cr_assert(strstr(err, where), "message does not name the state: %s", err);
	cr_assert(strstr(err, must_contain), "'%s' not in: %s", must_contain, err);
	store_state_fini(&s);
	/* and it is never overwritten */
	size_t n0 = 0, n1 = 0;
	char *before = raw_read(&n0);
	struct store_state e;
	store_state_init(&e);
	cr_assert_neq(store_save(st, &e, 0, NULL, err, sizeof err), 0);
	cr_assert_neq(store_save(st, &e, 1, NULL, err, sizeof err), 0);
	char *after = raw_read(&n1);
	cr_assert_eq(n0, n1);
	cr_assert(memcmp(before, after, n0) == 0, "a refused state was changed");
	free(before);
	free(after);
	close_st(st);
}

Test(SUITE, corrupt_state_refused_with_message)
{
	const char *bad = "{\"format\":\"quobyte-mesos-state\",\"format_version\":1,"
			  "\"version\":3,\"tasks\":[{\"task_id\" 12}]}";
	raw_write(bad, strlen(bad));
	expect_refused(QM_ECORRUPT, "is corrupt: JSON syntax error at byte 83");
	expect_refused(QM_ECORRUPT, "refusing");
}

Test(SUITE, truncated_state_refused)
{
	struct store *st = open_ok();
	struct store_state a;
	fill(&a, 20);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	close_st(st);
	store_state_fini(&a);
	size_t len;
	char *full = raw_read(&len);
	cr_assert_not_null(full);
	raw_write(full, len / 2);
	expect_refused(QM_ECORRUPT, "truncated");
	raw_write(full, 0);
	expect_refused(QM_ECORRUPT, "empty");
	free(full);
}

Test(SUITE, newer_format_refused_on_load)
{
	const char *t = "{\"format\":\"quobyte-mesos-state\",\"format_version\":9,\"version\":1}";
	raw_write(t, strlen(t));
	expect_refused(QM_EVERSION, "newer coordinator");
}

Test(SUITE, large_state_10000_tasks)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 10000);
	for (int i = 0; i < 500; i++) {
		char agent[32];
		snprintf(agent, sizeof agent, "5e1f-S%d", 1000 + i);
		store_state_failure(&a, "metadata", agent, true)->consecutive = (uint32_t)i;
	}
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	close_st(st);
	st = open_ok();
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_eq(b.ntasks, 10000);
	cr_assert_eq(b.nfailures, 501);
	assert_same(&a, &b);
	cr_assert_not_null(store_state_find_task(&b, a.tasks[9999].task_id));
	/* and once more on top of it */
	b.tasks[5000].kill_requested = !b.tasks[5000].kill_requested;
	cr_assert_eq(store_save(st, &b, 1, &v, err, sizeof err), 0, "%s", err);
	store_state_fini(&a);
	cr_assert_eq(store_load(st, &a, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	assert_same(&a, &b);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

/* No server needed: an ensemble nobody answers for gives a bounded, clear
 * error on both load and save, and opening never blocks. */
Test(SUITE, unreachable_zookeeper_bounded_error)
{
	struct zk_conn *c;
	char err[512] = "";
	struct zk_opts o = {.session_timeout_ms = 2000, .op_timeout_ms = 1500};
	uint64_t t0 = now_ms();
	cr_assert_eq(zk_conn_open("zk://127.0.0.1:1/qm-unreachable", &o, &c, err,
				  sizeof err), 0, "%s", err);
	cr_assert_lt(now_ms() - t0, 500, "open blocked");
	struct store *st = store_zk_new(c);
	struct store_state s;
	uint64_t v;
	t0 = now_ms();
	int rv = store_load(st, &s, &v, err, sizeof err);
	uint64_t took = now_ms() - t0;
	cr_assert_eq(rv, QM_ETIMEDOUT, "load gave %d: %s", rv, err);
	cr_assert_geq(took, 1400);
	cr_assert_lt(took, 5000, "load took %llu ms", (unsigned long long)took);
	cr_assert(strstr(err, "127.0.0.1:1"), "ensemble not named: %s", err);
	cr_assert(strstr(err, "not reachable"), "%s", err);
	store_state_fini(&s);
	fill(&s, 2);
	t0 = now_ms();
	cr_assert_eq(store_save(st, &s, 0, NULL, err, sizeof err), QM_ETIMEDOUT,
		     "%s", err);
	cr_assert_lt(now_ms() - t0, 5000);
	store_state_fini(&s);
	store_close(st); /* the store only borrows c */
	zk_conn_close(c);

	/* state_open does not block either, and hands out the connection */
	t0 = now_ms();
	c = NULL;
	cr_assert_eq(state_open("zk://127.0.0.1:1,127.0.0.1:2/qm-unreachable", &o, &st,
				&c, err, sizeof err), 0, "%s", err);
	cr_assert_not_null(c);
	cr_assert_str_eq(store_backend(st), "zk");
	cr_assert_str_eq(store_location(st), "zk://127.0.0.1:1,127.0.0.1:2/qm-unreachable");
	cr_assert_str_eq(zk_conn_display(c), store_location(st));
	state_close(&st, &c);
	cr_assert_null(st);
	cr_assert_null(c);
	cr_assert_lt(now_ms() - t0, 3000);
}

/* ==== the file backend only ========================================= */

#ifndef QM_STORE_TEST_ZK

/* Names in the state directory, sorted, joined by ' '. */
static void listing(char *out, size_t cap)
{
	char names[16][128];
	int n = 0;
	DIR *d = opendir(tmpdir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 16)
		if (e->d_name[0] != '.')
			snprintf(names[n++], sizeof names[0], "%.127s", e->d_name);
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[128];
			memcpy(t, names[k], sizeof t);
			memcpy(names[k], names[k - 1], sizeof t);
			memcpy(names[k - 1], t, sizeof t);
		}
	out[0] = '\0';
	size_t o = 0;
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? " " : "", names[i]);
}

Test(store, state_helpers)
{
	struct store_state s;
	store_state_init(&s);
	struct store_task t = mk_task(1);
	cr_assert_not_null(store_state_put_task(&s, &t));
	t.launched_ms = 42;
	snprintf(t.state, sizeof t.state, "TASK_FAILED");
	cr_assert_not_null(store_state_put_task(&s, &t));
	cr_assert_eq(s.ntasks, 1, "same id replaces");
	cr_assert_eq(store_state_find_task(&s, t.task_id)->launched_ms, 42);
	struct store_task t2 = mk_task(2), t3 = mk_task(3);
	store_state_put_task(&s, &t2);
	store_state_put_task(&s, &t3);
	cr_assert(store_state_remove_task(&s, t2.task_id));
	cr_assert(!store_state_remove_task(&s, t2.task_id));
	cr_assert_eq(s.ntasks, 2);
	cr_assert_str_eq(s.tasks[0].task_id, t.task_id);
	cr_assert_str_eq(s.tasks[1].task_id, t3.task_id, "order kept");
	struct store_task empty;
	memset(&empty, 0, sizeof empty);
	cr_assert_null(store_state_put_task(&s, &empty));

	cr_assert_null(store_state_failure(&s, "data", "S1", false));
	struct store_failure *f = store_state_failure(&s, "data", "S1", true);
	f->consecutive = 2;
	cr_assert_eq(store_state_failure(&s, "data", "S1", false)->consecutive, 2);
	cr_assert_null(store_state_failure(&s, "metadata", "S1", false));
	cr_assert(store_state_clear_failure(&s, "data", "S1"));
	cr_assert_eq(s.nfailures, 0);
	store_state_fini(&s);
	cr_assert_eq(s.ntasks, 0);
}

Test(store, missing_file_is_empty_first_start)
{
	char sub[128];
	path_of(sub, sizeof sub, "state");  /* not there yet: created */
	char err[256] = "";
	struct store *st = try_open(sub, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
	cr_assert_str_eq(store_backend(st), "file");
	struct store_state s;
	uint64_t v = 99;
	cr_assert_eq(store_load(st, &s, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 0);
	cr_assert_eq(s.ntasks, 0);
	cr_assert_str_eq(s.framework_id, "");
	store_state_fini(&s);
	close_st(st);
	struct stat sb;
	cr_assert_eq(stat(sub, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	char p[256];
	snprintf(p, sizeof p, "%s/state.lock", sub);
	unlink(p);
	rmdir(sub);
}

Test(store, corrupt_file_says_how_to_reset)
{
	const char *bad = "{\"format\":\"quobyte-mesos-state\",\"format_version\":1,"
			  "\"version\":3,\"tasks\":[{\"task_id\" 12}]}";
	raw_write(bad, strlen(bad));
	expect_refused(QM_ECORRUPT, "move it away to reset");
}

Test(store, replaced_behind_our_back_is_a_conflict)
{
	struct store *st = open_ok();
	struct store_state a;
	fill(&a, 1);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	/* someone else writes a valid state with the same version */
	char *text;
	size_t len;
	cr_assert_eq(store_state_to_json(&a, 1, &text, &len), 0);
	char p[256], q[256];
	path_of(p, sizeof p, "state.json");
	path_of(q, sizeof q, "other");
	spew(q, text, len);
	cr_assert_eq(rename(q, p), 0);
	free(text);
	cr_assert_eq(store_save(st, &a, 1, NULL, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "changed by someone else"), "%s", err);
	/* after reading it again, saving works */
	struct store_state b;
	uint64_t v;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_save(st, &b, v, NULL, err, sizeof err), 0, "%s", err);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

Test(store, atomic_write_leaves_no_temp_files)
{
	char p[256];
	path_of(p, sizeof p, "state.json.tmp.4242.0");
	spew(p, "{half", 5);   /* what a crash mid-write leaves */
	struct store *st = open_ok();
	char names[512];
	listing(names, sizeof names);
	cr_assert_str_eq(names, "state.lock", "stale temp not removed: %s", names);

	struct store_state a;
	fill(&a, 50);
	char err[512] = "";
	uint64_t v = 0;
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
		listing(names, sizeof names);
		cr_assert_str_eq(names, "state.json state.lock", "after save %d: %s",
				 i, names);
	}
	cr_assert_eq(v, 5);
	store_state_fini(&a);
	close_st(st);
}

/* Every proper prefix of a saved state, up to its closing brace, is refused
 * (none may read as a smaller valid state). */
Test(store, every_prefix_is_refused)
{
	struct store_state a, b;
	fill(&a, 3);
	char *text;
	size_t len;
	cr_assert_eq(store_state_to_json(&a, 7, &text, &len), 0);
	const char *close = strrchr(text, '}');
	size_t whole = (size_t)(close - text) + 1;
	for (size_t n = 0; n < whole; n++) {
		uint64_t v;
		char err[256] = "";
		int rv = store_state_from_json(text, n, &b, &v, err, sizeof err);
		cr_assert_eq(rv, QM_ECORRUPT, "prefix of %zu/%zu bytes accepted", n, len);
		cr_assert_neq(err[0], '\0');
		store_state_fini(&b);
	}
	uint64_t v;
	cr_assert_eq(store_state_from_json(text, whole, &b, &v, NULL, 0), 0);
	cr_assert_eq(v, 7);
	assert_same(&a, &b);
	store_state_fini(&b);
	free(text);
	store_state_fini(&a);
}

Test(store, schema_errors_refused)
{
	static const struct {
		const char *text;
		int rv;
		const char *msg;
	} cases[] = {
		{"[]", QM_ECORRUPT, "not a JSON object"},
		{"{\"format\":\"other\",\"format_version\":1,\"version\":1}",
		 QM_ECORRUPT, "not a quobyte-mesos state"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":2,\"version\":1}",
		 QM_EVERSION, "newer coordinator"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1}",
		 QM_ECORRUPT, "version: missing"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1.5}",
		 QM_ECORRUPT, "version: not an integer"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,\"tasks\":{}}",
		 QM_ECORRUPT, "not an array"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"tasks\":[{\"task_id\":\"a\",\"service\":\"data\",\"agent_id\":\"S\"},"
		 "{\"task_id\":\"a\",\"service\":\"api\",\"agent_id\":\"S\"}]}",
		 QM_ECORRUPT, "tasks[1].task_id: duplicate 'a'"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"tasks\":[{\"task_id\":\"a/b\",\"service\":\"data\",\"agent_id\":\"S\"}]}",
		 QM_ECORRUPT, "tasks[0].task_id: not a valid Mesos task ID"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"tasks\":[{\"task_id\":\"a\",\"agent_id\":\"S\"}]}",
		 QM_ECORRUPT, "tasks[0].service: missing"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"tasks\":[{\"task_id\":\"a\",\"service\":\"data\",\"agent_id\":\"S\",\"ports\":[0]}]}",
		 QM_ECORRUPT, "tasks[0].ports"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"target_version\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
		 QM_ECORRUPT, "target_version: too long"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1} x",
		 QM_ECORRUPT, "trailing data"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"failures\":[{\"service\":\"data\",\"agent_id\":\"S\",\"consecutive\":1},"
		 "{\"service\":\"data\",\"agent_id\":\"S\",\"consecutive\":2}]}",
		 QM_ECORRUPT, "duplicate slot"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store_state s;
		uint64_t v;
		char err[256] = "";
		int rv = store_state_from_json(cases[i].text, strlen(cases[i].text),
					       &s, &v, err, sizeof err);
		cr_assert_eq(rv, cases[i].rv, "case %zu: rv %d (%s)", i, rv, err);
		cr_assert(strstr(err, cases[i].msg), "case %zu: '%s' not in '%s'", i,
			  cases[i].msg, err);
		store_state_fini(&s);
	}
	/* a minimal valid state: absent optional fields are empty */
	const char *ok = "{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":4}";
	struct store_state s;
	uint64_t v;
	cr_assert_eq(store_state_from_json(ok, strlen(ok), &s, &v, NULL, 0), 0);
	cr_assert_eq(v, 4);
	cr_assert_eq(s.ntasks, 0);
	store_state_fini(&s);
}

Test(store, oversized_file_refused)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)STORE_MAX_BYTES + 1), 0); /* sparse */
	close(fd);
	struct store *st = open_ok();
	struct store_state s;
	uint64_t v;
	char err[512] = "";
	cr_assert_eq(store_load(st, &s, &v, err, sizeof err), QM_ETOOBIG);
	cr_assert(strstr(err, "64 MiB"), "%s", err);
	store_state_fini(&s);
	close_st(st);
}

Test(store, second_opener_refused)
{
	struct store *st = open_ok();
	char err[512] = "";
	struct store *other = try_open(tmpdir, err, sizeof err);
	cr_assert_null(other);
	cr_assert(strstr(err, "in use by another coordinator"), "%s", err);
	char pid[32];
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	cr_assert(strstr(err, pid), "%s", err);
	close_st(st);
	other = try_open(tmpdir, err, sizeof err);
	cr_assert_not_null(other, "%s", err);
	close_st(other);
}

Test(store, urls)
{
	char err[512] = "";
	cr_assert_null(try_open("s3://bucket/x", err, sizeof err));
	cr_assert(strstr(err, "unknown scheme"), "%s", err);
	cr_assert_null(try_open("file://host/x", err, sizeof err));
	cr_assert(strstr(err, "file:///"), "%s", err);
	cr_assert_null(try_open("", err, sizeof err));
	cr_assert_null(try_open("/nonexistent-parent-qm/x/y", err, sizeof err));
	cr_assert(strstr(err, "cannot create"), "%s", err);

	char u[128];
	snprintf(u, sizeof u, "file://localhost%s", tmpdir);
	struct store *st = NULL;
	struct zk_conn *zk = (struct zk_conn *)1;
	cr_assert_eq(state_open(u, NULL, &st, &zk, err, sizeof err), 0, "%s", err);
	cr_assert_null(zk, "a file store has no ZooKeeper connection");
	cr_assert_str_eq(store_location(st), tmpdir);
	state_close(&st, &zk);
	close_st(NULL);
}

/* zk:// URLs: refused with a reason before anything touches the network. */
Test(store, zk_urls)
{
	static const struct {
		const char *url, *msg;
	} bad[] = {
		{"zk://", "no path"},
		{"zk:///quobyte", "no ZooKeeper host"},
		{"zk://zk1:2181", "no path"},
		{"zk://zk1:2181/", "root znode"},
		{"zk://zk1:0/q", "invalid port"},
		{"zk://zk1:99999/q", "invalid port"},
		{"zk://zk1:21x1/q", "invalid port"},
		{"zk://zk1:2181,,zk2:2181/q", "empty host"},
		{"zk://zk 1:2181/q", "invalid character"},
		{"zk://zk1:2181/q/", "trailing slash"},
		{"zk://zk1:2181/a//b", "empty"},
		{"zk://zk1:2181/a/../b", "'..'"},
		{"zk://zk1:2181/a b", "[A-Za-z0-9._-]"},
		{"zk://zk1:2181/q?x=1", "query"},
		{"zk://user@zk1:2181/q", "user:password"},
		{"zk://:pw@zk1:2181/q", "user:password"},
		{"zk://u:%zz@zk1:2181/q", "user:password"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[512] = "";
		cr_assert_null(try_open(bad[i].url, err, sizeof err), "%s", bad[i].url);
		cr_assert(strstr(err, bad[i].msg), "%s: '%s' not in '%s'", bad[i].url,
			  bad[i].msg, err);
	}
	struct zk_url z;
	char err[512] = "";
	cr_assert_eq(zk_url_parse("zk://ops:s%40cret:x@zk1,zk2:2182,10.0.0.3:2181/quobyte/prod",
				  &z, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(z.hosts, "zk1:2181,zk2:2182,10.0.0.3:2181");
	cr_assert_str_eq(z.path, "/quobyte/prod");
	cr_assert_str_eq(z.user, "ops");
	cr_assert_str_eq(z.password, "s@cret:x");
	cr_assert_str_eq(z.display, "zk://ops:***@zk1:2181,zk2:2182,10.0.0.3:2181/quobyte/prod");
	/* a password never appears in messages */
	cr_assert_null(try_open("zk://ops:hunter2@zk1:2181/q/", err, sizeof err));
	cr_assert_null(strstr(err, "hunter2"), "%s", err);
}

#endif /* !QM_STORE_TEST_ZK */

/* ==== the ZooKeeper backend only ====================================== */

#ifdef QM_STORE_TEST_ZK

static void chunk_dir(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" STORE_ZK_CHUNKS, zpath);
}

/* Two coordinators on one state: the second writer on top of the same
 * version loses, is told so, and nothing it sent is visible. */
Test(SUITE, cas_conflict_between_two_handles)
{
	struct store *a = open_ok(), *b = open_ok();
	struct store_state sa, sb;
	char err[512] = "";
	uint64_t v;
	/* both start from nothing: only one first save wins */
	cr_assert_eq(store_load(a, &sa, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_load(b, &sb, &v, err, sizeof err), 0, "%s", err);
	store_state_fini(&sa);
	store_state_fini(&sb);
	fill(&sa, 2);
	fill(&sb, 3);
	snprintf(sb.target_version, sizeof sb.target_version, "from-b");
	cr_assert_eq(store_save(a, &sa, 0, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_save(b, &sb, 0, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "changed by someone else"), "%s", err);

	/* b reloads and writes version 2; a (still at 1) is refused */
	store_state_fini(&sb);
	cr_assert_eq(store_load(b, &sb, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	assert_same(&sa, &sb);
	snprintf(sb.target_version, sizeof sb.target_version, "from-b");
	cr_assert_eq(store_save(b, &sb, 1, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	snprintf(sa.target_version, sizeof sa.target_version, "from-a");
	cr_assert_eq(store_save(a, &sa, 1, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "changed by someone else"), "%s", err);
	cr_assert(strstr(err, where), "%s", err);
	/* the stale writer's retry with its old version is refused too */
	cr_assert_eq(store_save(a, &sa, 1, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "stale"), "%s", err);
	struct store_state check;
	cr_assert_eq(store_load(a, &check, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	cr_assert_str_eq(check.target_version, "from-b");
	cr_assert_eq(store_save(a, &check, 2, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 3);
	store_state_fini(&check);
	store_state_fini(&sa);
	store_state_fini(&sb);
	close_st(a);
	close_st(b);
}

/* More than ZooKeeper's 1 MB per znode (uncompressed, so the state really
 * is): a reference in the head, chunks under one generation, the previous
 * generation removed after a save. */
Test(SUITE, chunked_state_over_1mb)
{
	struct store *st = open_ok();
	cr_assert_eq(store_zk_set_compress(st, false), 0);
	struct store_state a, b;
	fill(&a, 10000);
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	char *text;
	size_t len;
	cr_assert_eq(store_state_to_json(&a, 1, &text, &len), 0);
	free(text);
	cr_assert_gt(len, 1u << 20, "state is only %zu bytes", len);
	size_t hl;
	char *head = raw_read(&hl);
	cr_assert_lt(hl, 1024, "head is %zu bytes", hl);
	cr_assert(strstr(head, STORE_ZK_REF_FORMAT), "%s", head);
	free(head);
	struct zk_conn *c = raw_conn(url);
	char cd[300], names[8192];
	chunk_dir(cd, sizeof cd);
	size_t want = (len + STORE_ZK_CHUNK_BYTES - 1) / STORE_ZK_CHUNK_BYTES;
	cr_assert_eq(zk_count(c, cd), want);
	zk_list(c, cd, names, sizeof names);
	char gen1[40];
	snprintf(gen1, sizeof gen1, "%.37s", names);

	/* another handle reads the same */
	struct store *other = open_ok();
	cr_assert_eq(store_load(other, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	assert_same(&a, &b);
	close_st(other);

	/* a new save: new generation, the old one goes */
	b.tasks[1].kill_requested = !b.tasks[1].kill_requested;
	cr_assert_eq(store_save(st, &b, 1, &v, err, sizeof err), 0, "%s", err);
	uint64_t t0 = now_ms();
	for (;;) {
		zk_list(c, cd, names, sizeof names);
		if (!strstr(names, gen1) || now_ms() - t0 > 5000)
			break;
		usleep(20000);
	}
	cr_assert_null(strstr(names, gen1), "old chunks left: %s", names);
	cr_assert_eq(zk_count(c, cd), want);
	store_state_fini(&a);
	cr_assert_eq(store_load(st, &a, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	assert_same(&a, &b);

	/* shrinking back below one znode: inline again, chunks gone */
	store_state_fini(&b);
	fill(&b, 2);
	cr_assert_eq(store_save(st, &b, 2, &v, err, sizeof err), 0, "%s", err);
	head = raw_read(&hl);
	cr_assert(strstr(head, "quobyte-mesos-state") &&
		  !strstr(head, STORE_ZK_REF_FORMAT), "%.200s", head);
	free(head);
	t0 = now_ms();
	while (zk_count(c, cd) && now_ms() - t0 < 5000)
		usleep(20000);
	cr_assert_eq(zk_count(c, cd), 0);
	zk_conn_close(c);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

/* Large states are compressed: 10,000 tasks fit one znode; with a small
 * chunk size the compressed stream is chunked. Damage is refused. */
Test(SUITE, compressed_state)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 10000);
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	size_t hl;
	char *head = raw_read(&hl);
	cr_assert_eq(memcmp(head, "QMZ1", 4), 0);
	cr_assert_lt(hl, STORE_ZK_CHUNK_BYTES);
	struct store *other = open_ok();
	cr_assert_eq(store_load(other, &b, &v, err, sizeof err), 0, "%s", err);
	assert_same(&a, &b);
	store_state_fini(&b);
	close_st(other);

	/* chunked: a zlib stream over several znodes */
	store_zk_set_chunk_bytes(st, 16 * 1024);
	cr_assert_eq(store_save(st, &a, 1, &v, err, sizeof err), 0, "%s", err);
	char *ref = raw_read(NULL);
	cr_assert(strstr(ref, "\"encoding\":\"zlib\""), "%s", ref);
	struct zk_conn *c = raw_conn(url);
	char cd[300];
	chunk_dir(cd, sizeof cd);
	cr_assert_gt(zk_count(c, cd), 1);
	other = open_ok();
	cr_assert_eq(store_load(other, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	assert_same(&a, &b);
	store_state_fini(&b);
	close_st(other);

	/* a damaged compressed head */
	head[hl / 2] ^= 0x55;
	raw_write(head, hl);
	expect_refused(QM_ECORRUPT, "compressed data is damaged");
	raw_write(head, hl / 2);
	expect_refused(QM_ECORRUPT, "compressed data is damaged");
	free(head);
	free(ref);
	zk_conn_close(c);
	store_state_fini(&a);
	close_st(st);
}

/* A damaged reference or chunk set is refused, never read as something
 * smaller, never overwritten. */
Test(SUITE, corrupt_chunks_refused)
{
	struct store *st = open_ok();
	store_zk_set_chunk_bytes(st, 512);
	struct store_state a;
	fill(&a, 30);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	close_st(st);
	store_state_fini(&a);
	size_t hl;
	char *ref = raw_read(&hl);
	cr_assert(strstr(ref, STORE_ZK_REF_FORMAT), "%s", ref);
	struct zk_conn *c = raw_conn(url);
	char cd[300], names[8192], first[400];
	chunk_dir(cd, sizeof cd);
	zk_list(c, cd, names, sizeof names);
	cr_assert_gt(strlen(names), 0);
	snprintf(first, sizeof first, "%s/%.42s", cd, names);

	/* a chunk with other bytes of the same length */
	size_t cl;
	char *chunk = zk_fetch(c, first, &cl);
	cr_assert_not_null(chunk);
	char *evil = malloc(cl);
	memcpy(evil, chunk, cl);
	evil[cl / 2] = evil[cl / 2] == 'x' ? 'y' : 'x';
	zk_put(c, first, evil, cl);
	expect_refused(QM_ECORRUPT, "sha256");
	/* a shorter chunk */
	zk_put(c, first, chunk, cl - 1);
	expect_refused(QM_ECORRUPT, "bytes");
	/* a missing chunk */
	cr_assert_eq(run1_rc(c, zk_op_new(ZK_DELETE, first)), ZOK);
	expect_refused(QM_ECORRUPT, "is missing");
	/* a reference that does not add up */
	const char *badref = "{\"format\":\"quobyte-mesos-state-ref\",\"format_version\":1,"
			     "\"version\":1,\"generation\":\"nope\",\"chunks\":1,"
			     "\"chunk_bytes\":512,\"bytes\":100,\"sha256\":\"00\"}";
	raw_write(badref, strlen(badref));
	expect_refused(QM_ECORRUPT, "state reference");
	const char *newer = "{\"format\":\"quobyte-mesos-state-ref\",\"format_version\":7}";
	raw_write(newer, strlen(newer));
	expect_refused(QM_EVERSION, "newer coordinator");
	free(chunk);
	free(evil);
	free(ref);
	zk_conn_close(c);
}

struct mixer {
	char url[512];
	volatile bool stop;
	int saves, loads;
	char failure[2048];
};

/* Every state this writer saves is uniform: all tasks carry the save's
 * number, so a reader that got a mix of two saves would see two numbers. */
static void *mix_writer(void *arg)
{
	struct mixer *m = arg;
	char err[512] = "";
	struct store *st = try_open(m->url, err, sizeof err);
	if (!st) {
		snprintf(m->failure, sizeof m->failure, "writer open: %s", err);
		return NULL;
	}
	store_zk_set_chunk_bytes(st, 700);
	store_zk_set_compress(st, false); /* many chunks per save */
	uint64_t v = 0;
	for (int i = 1; !m->stop && i < 100000; i++) {
		struct store_state s;
		store_state_init(&s);
		snprintf(s.progress, sizeof s.progress, "save-%d", i);
		for (int k = 0; k < 10 + (i % 7) * 5; k++) {
			struct store_task t = mk_task(k);
			snprintf(t.version, sizeof t.version, "save-%d", i);
			store_state_put_task(&s, &t);
		}
		int rv = store_save(st, &s, v, &v, err, sizeof err);
		store_state_fini(&s);
		if (rv) {
			snprintf(m->failure, sizeof m->failure, "save %d: %s", i, err);
			break;
		}
		m->saves++;
	}
	close_st(st);
	return NULL;
}

Test(SUITE, readers_never_see_a_mix_of_generations)
{
	struct mixer m = {0};
	snprintf(m.url, sizeof m.url, "%s", url);
	struct store *st = open_ok();
	pthread_t th;
	pthread_create(&th, NULL, mix_writer, &m);
	uint64_t t0 = now_ms();
	char err[512] = "";
	while (now_ms() - t0 < 3000 && !m.failure[0]) {
		struct store_state s;
		uint64_t v;
		int rv = store_load(st, &s, &v, err, sizeof err);
		if (rv) {
			snprintf(m.failure, sizeof m.failure, "load: %s", err);
			store_state_fini(&s);
			break;
		}
		for (size_t i = 0; i < s.ntasks; i++)
			if (strcmp(s.tasks[i].version, s.progress) != 0) {
				snprintf(m.failure, sizeof m.failure,
					 "mixed state at version %llu: task %zu is "
					 "from %s, progress says %s",
					 (unsigned long long)v, i, s.tasks[i].version,
					 s.progress);
				break;
			}
		if (v)
			m.loads++;
		store_state_fini(&s);
	}
	m.stop = true;
	pthread_join(th, NULL);
	cr_log_info("%d saves, %d loads", m.saves, m.loads);
	cr_assert_eq(m.failure[0], '\0', "%s", m.failure);
	cr_assert_gt(m.saves, 5, "only %d saves", m.saves);
	cr_assert_gt(m.loads, 5, "only %d loads", m.loads);
	close_st(st);
}

/* Chunks no head can point at again (a crashed or losing writer's) are
 * swept on a store's first load; those of a possible save in progress (a
 * version above the current one) are not. */
Test(SUITE, orphaned_chunks_swept)
{
	struct store *st = open_ok();
	store_zk_set_chunk_bytes(st, 1024);
	store_zk_set_compress(st, false);
	struct store_state a;
	fill(&a, 20);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_save(st, &a, 1, NULL, err, sizeof err), 0, "%s", err);
	close_st(st);
	struct zk_conn *c = raw_conn(url);
	char cd[300], p[512], names[8192], before[8192];
	chunk_dir(cd, sizeof cd);
	uint64_t t0 = now_ms();
	for (;;) { /* until only the current generation is left */
		zk_list(c, cd, before, sizeof before);
		if (strncmp(before, "00000000000000000002-", 21) == 0 &&
		    !strstr(before, " 00000000000000000001-"))
			break;
		cr_assert_lt(now_ms() - t0, 5000, "%s", before);
		usleep(20000);
	}
	snprintf(p, sizeof p, "%s/00000000000000000002-00000000deadbeef-0000", cd);
	zk_put(c, p, "x", 1);   /* lost the race for version 2 */
	snprintf(p, sizeof p, "%s/00000000000000000001-00000000deadbeef-0003", cd);
	zk_put(c, p, "x", 1);   /* crashed writer of version 1 */
	snprintf(p, sizeof p, "%s/00000000000000000003-00000000cafecafe-0000", cd);
	zk_put(c, p, "x", 1);   /* maybe being written right now */
	st = open_ok();
	struct store_state b;
	uint64_t v;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	assert_same(&a, &b);
	char want[8400];
	/* the listing sorts by name: version 3 after the current (2) chunks */
	snprintf(want, sizeof want, "%s 00000000000000000003-00000000cafecafe-0000", before);
	t0 = now_ms();
	for (;;) {
		zk_list(c, cd, names, sizeof names);
		if (strcmp(names, want) == 0 || now_ms() - t0 > 5000)
			break;
		usleep(20000);
	}
	cr_assert_str_eq(names, want);
	zk_conn_close(c);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

/* user:password in the URL: digest authentication and creator-only ACLs. */
Test(SUITE, digest_credentials_and_acl)
{
	char with[600], wrong[600];
	/* zk://ops:s3cret@127.0.0.1:<port>/... */
	snprintf(with, sizeof with, "zk://ops:s3cret@%s", url + 5);
	snprintf(wrong, sizeof wrong, "zk://ops:guess@%s", url + 5);
	struct store *st = open_url(with);
	cr_assert(strstr(store_location(st), "ops:***@"), "%s", store_location(st));
	cr_assert_null(strstr(store_location(st), "s3cret"));
	struct store_state a, b;
	fill(&a, 3);
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	close_st(st);

	st = open_url(with);
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	assert_same(&a, &b);
	store_state_fini(&b);
	close_st(st);

	const char *others[] = {url, wrong};
	for (int i = 0; i < 2; i++) {
		st = open_url(others[i]);
		int rv = store_load(st, &b, &v, err, sizeof err);
		cr_assert_eq(rv, QM_EAUTH, "%s: load gave %d (%s)", others[i], rv, err);
		cr_assert(strstr(err, "not authorized"), "%s", err);
		cr_assert_null(strstr(err, "guess"), "%s", err);
		store_state_fini(&b);
		cr_assert_eq(store_save(st, &a, 1, NULL, err, sizeof err), QM_EAUTH,
			     "%s", err);
		close_st(st);
	}
	/* teardown runs anonymously: clean up with the credentials here */
	struct zk_conn *c = raw_conn(with);
	zk_rmtree(c, zpath);
	zk_conn_close(c);
	store_state_fini(&a);
}

/* A save fenced on an election znode fails once that znode is gone. */
Test(SUITE, fenced_save_refused_after_losing_the_fence)
{
	struct zk_conn *c = raw_conn(url);
	zk_mkdirs(c, zpath);
	char fence[400];
	snprintf(fence, sizeof fence, "%s/fence", zpath);
	struct zk_op *op = zk_op_new(ZK_CREATE, fence);
	op->create_mode = ZOO_EPHEMERAL;
	zk_op_set_data(op, NULL, 0);
	cr_assert_eq(run1_rc(c, op), ZOK);

	struct store *st = open_ok();
	cr_assert_eq(store_zk_set_fence(st, fence), 0);
	struct store_state a;
	fill(&a, 2);
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_save(st, &a, 1, &v, err, sizeof err), 0, "%s", err);
	char *before = raw_read(NULL);
	zk_conn_close(c); /* the ephemeral fence goes with the session */
	snprintf(a.target_version, sizeof a.target_version, "stale");
	cr_assert_eq(store_save(st, &a, 2, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "no longer the leader"), "%s", err);
	cr_assert(strstr(err, fence), "%s", err);
	char *after = raw_read(NULL);
	cr_assert_str_eq(before, after);
	cr_assert_eq(store_zk_set_fence(st, NULL), 0);
	cr_assert_eq(store_save(st, &a, 2, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 3);
	cr_assert_eq(store_zk_set_fence(NULL, "x"), QM_EINVAL);
	free(before);
	free(after);
	store_state_fini(&a);
	close_st(st);
}

/* The state is in ZooKeeper only: another handle (another host) sees each
 * save, and the znodes are where the documentation says. */
Test(SUITE, layout)
{
	struct store *st = open_ok();
	struct store_state a;
	fill(&a, 1);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	struct zk_conn *c = raw_conn(url);
	char names[512];
	zk_list(c, zpath, names, sizeof names);
	cr_assert_str_eq(names, STORE_ZK_HEAD " " STORE_ZK_CHUNKS);
	char *head = raw_read(NULL);
	struct store_state b;
	uint64_t v;
	cr_assert_eq(store_state_from_json(head, strlen(head), &b, &v, NULL, 0), 0);
	cr_assert_eq(v, 1);
	assert_same(&a, &b);
	free(head);
	zk_conn_close(c);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

#endif /* QM_STORE_TEST_ZK */
