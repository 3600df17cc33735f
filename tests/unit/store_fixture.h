/* What the store tests share (test-only; static definitions, included once
 * per test binary): temp directories, state builders and comparison, and
 * the backend the conformance suite runs on - the file store in a temp
 * directory, or (with QM_STORE_TEST_ZK) the ZooKeeper store under a fresh
 * znode of the server tests/zk/run.sh names in QM_TEST_ZK
 * ("zk://127.0.0.1:<port>"). Without QM_TEST_ZK every ZooKeeper test fails
 * and says so.
 *
 * be_setup gives a fresh, empty location in url/where. raw_write/raw_read:
 * the state's bytes as the backend keeps them (state.json, or the head
 * znode), bypassing the store; raw_read gives NULL when there is none. */
#ifndef QM_TEST_STORE_FIXTURE_H
#define QM_TEST_STORE_FIXTURE_H

#include "state/store.h"
#include "log.h"
#include "qm_error.h"
#include "state/state.h"
#include "state/store_zk.h"
#include "state/zk.h"
#include "../zk/zk_fixture.h"

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

__attribute__((unused)) static char tmpdir[64];
__attribute__((unused)) static char url[512];    /* what state_open takes */
__attribute__((unused)) static char where[512];  /* what messages about the state must name */

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

__attribute__((unused)) static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A task as the coordinator builds one before storing it: its mounts
 * borrowed (from one of a few buffers, reused in turn), since the state
 * stores a copy. */
__attribute__((unused)) static struct store_task mk_task(int i)
{
	static char mounts[16][STORE_MOUNTS_MAX + 1];
	static unsigned next;
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
		t.mounts = mounts[next++ % 16];
		snprintf(t.mounts, STORE_MOUNTS_MAX + 1, "/mnt/quobyte,/var/lib/quobyte/dev-%d", i);
	}
	return t;
}

__attribute__((unused)) static void fill(struct store_state *s, int ntasks)
{
	store_state_init(s);
	snprintf(s->framework_id, sizeof s->framework_id, "5e1f2b7c-0000");
	snprintf(s->target_version, sizeof s->target_version, "3.0.1");
	snprintf(s->previous_version, sizeof s->previous_version, "3.0.0");
	s->rollout_paused = true;
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
	struct store_reservation *r = store_state_reservation(s, "data", "5e1f-S3", true);
	cr_assert_not_null(r);
	snprintf(r->hostname, sizeof r->hostname, "node-3");
	r->since_ms = 1718000000123ll;
	r->release_requested = true;
	snprintf(r->summary, sizeof r->summary, "cpus=1 mem=1024 ports=[7873]");
	cr_assert(store_reservation_set_mounts(r, "/mnt/d1,/mnt/d2"));
	cr_assert_not_null(store_state_reservation(s, "prober", "5e1f-S3", true));
}

/* One small change of the kind the coordinator makes: a task's state, a
 * new task, a removed task, a failure counter. */
__attribute__((unused)) static void small_change(struct store_state *s, int i)
{
	switch (i % 4) {
	case 0:
		snprintf(s->tasks[(size_t)i % s->ntasks].state, sizeof s->tasks[0].state,
			 "TASK_RUNNING");
		s->tasks[(size_t)i % s->ntasks].launched_ms = i;
		break;
	case 1: {
		struct store_task t = mk_task(100000 + i);
		cr_assert_not_null(store_state_put_task(s, &t));
		break;
	}
	case 2:
		cr_assert(store_state_remove_task(s, s->tasks[0].task_id));
		break;
	default: {
		struct store_failure *f = store_state_failure(s, "data", "5e1f-S3", true);
		f->consecutive = (uint32_t)i;
		snprintf(s->progress, sizeof s->progress, "step %d", i);
	}
	}
}

__attribute__((unused)) static void assert_same(const struct store_state *a, const struct store_state *b)
{
	cr_assert_str_eq(a->framework_id, b->framework_id);
	cr_assert_str_eq(a->target_version, b->target_version);
	cr_assert_str_eq(a->previous_version, b->previous_version);
	cr_assert_eq(a->rollout_paused, b->rollout_paused);
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
		cr_assert_str_eq(store_task_mounts(x), store_task_mounts(y));
	}
	cr_assert_eq(a->nreservations, b->nreservations);
	for (size_t i = 0; i < a->nreservations; i++) {
		const struct store_reservation *x = &a->reservations[i], *y = &b->reservations[i];
		cr_assert_str_eq(x->service, y->service);
		cr_assert_str_eq(x->agent_id, y->agent_id);
		cr_assert_str_eq(x->hostname, y->hostname);
		cr_assert_eq(x->since_ms, y->since_ms);
		cr_assert_eq(x->release_requested, y->release_requested);
		cr_assert_str_eq(x->summary, y->summary);
		cr_assert_str_eq(store_reservation_mounts(x), store_reservation_mounts(y));
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

__attribute__((unused)) static struct store *try_open(const char *u, char *err, size_t errlen)
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

__attribute__((unused)) static void close_st(struct store *st)
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

__attribute__((unused)) static struct store *open_url(const char *u)
{
	char err[512] = "";
	struct store *st = try_open(u, err, sizeof err);
	cr_assert_not_null(st, "state_open(%s): %s", u, err);
	return st;
}

__attribute__((unused)) static struct store *open_ok(void)
{
	return open_url(url);
}

/* A store with history: open it, save fill(s, ntasks) (the file store's
 * snapshot), then small_change(s, 0 .. nchanges - 1), each saved (its log's
 * records); every save must succeed. Returns the store still open
 * (close_st); *v: its version, 1 + nchanges. */
__attribute__((unused)) static struct store *open_saved(struct store_state *s, int ntasks,
							int nchanges, uint64_t *v)
{
	struct store *st = open_ok();
	fill(s, ntasks);
	char err[512] = "";
	*v = 0;
	cr_assert_eq(store_save(st, s, *v, v, err, sizeof err), 0, "%s", err);
	for (int i = 0; i < nchanges; i++) {
		small_change(s, i);
		cr_assert_eq(store_save(st, s, *v, v, err, sizeof err), 0, "%s", err);
	}
	return st;
}

/* ---- backends ------------------------------------------------------- */

#ifndef QM_STORE_TEST_ZK

#define SUITE store
#define BACKEND "file"

__attribute__((unused)) static void be_setup(void)
{
	make_tmpdir();
	snprintf(url, sizeof url, "%s", tmpdir);
	snprintf(where, sizeof where, "%s", tmpdir);
}

__attribute__((unused)) static void be_teardown(void)
{
	remove_tmpdir();
}

__attribute__((unused)) static void raw_write(const char *data, size_t len)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	spew(p, data, len);
}

__attribute__((unused)) static char *raw_read(size_t *len)
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

__attribute__((unused)) static struct zk_conn *raw_conn(const char *u)
{
	struct zk_conn *c = NULL;
	char err[512] = "";
	struct zk_opts o = {.session_timeout_ms = 4000, .op_timeout_ms = 10000};
	cr_assert_eq(zk_conn_open(u, &o, &c, err, sizeof err), 0, "%s", err);
	return c;
}

/* Run one op; returns it answered (caller frees). */
__attribute__((unused)) static struct zk_op *run1(struct zk_conn *c, struct zk_op *op)
{
	char err[512] = "";
	int rv = zk_run(c, &op, 1, err, sizeof err);
	cr_assert_eq(rv, 0, "zk_run: %s", err);
	return op;
}

__attribute__((unused)) static int run1_rc(struct zk_conn *c, struct zk_op *op)
{
	op = run1(c, op);
	int rc = op->rc;
	zk_op_free(op);
	return rc;
}

__attribute__((unused)) static void zk_mkdirs(struct zk_conn *c, const char *path)
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

__attribute__((unused)) static void zk_put(struct zk_conn *c, const char *path, const void *d,
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
__attribute__((unused)) static char *zk_fetch(struct zk_conn *c, const char *path, size_t *len)
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
__attribute__((unused)) static void zk_list(struct zk_conn *c, const char *path, char *out, size_t cap)
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

__attribute__((unused)) static size_t zk_count(struct zk_conn *c, const char *path)
{
	struct zk_op *op = run1(c, zk_op_new(ZK_CHILDREN, path));
	size_t n = op->rc == ZOK ? op->nchildren : 0;
	zk_op_free(op);
	return n;
}

__attribute__((unused)) static void zk_rmtree(struct zk_conn *c, const char *path)
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

__attribute__((unused)) static char zpath[256];  /* the store's root znode */

__attribute__((unused)) static void be_setup(void)
{
	static unsigned n;
	log_set_level(LOG_WARN); /* no line per session */
	const char *srv = zk_server();
	snprintf(zpath, sizeof zpath, "/qm-test/store-%ld-%u-%ld", (long)getpid(),
		 n++, (long)(now_ms() % 100000));
	snprintf(url, sizeof url, "%s%s", srv, zpath);
	snprintf(where, sizeof where, "%s", url);
}

__attribute__((unused)) static void be_teardown(void)
{
	const char *srv = getenv("QM_TEST_ZK");
	if (!srv || !zpath[0])
		return;
	struct zk_conn *c = raw_conn(url);
	zk_rmtree(c, zpath);
	zk_conn_close(c);
}

__attribute__((unused)) static void head_path(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" STORE_ZK_HEAD, zpath);
}

__attribute__((unused)) static void raw_write(const char *data, size_t len)
{
	struct zk_conn *c = raw_conn(url);
	zk_mkdirs(c, zpath);
	char h[300];
	head_path(h, sizeof h);
	zk_put(c, h, data, len);
	zk_conn_close(c);
}

__attribute__((unused)) static char *raw_read(size_t *len)
{
	struct zk_conn *c = raw_conn(url);
	char h[300];
	head_path(h, sizeof h);
	char *b = zk_fetch(c, h, len);
	zk_conn_close(c);
	return b;
}


__attribute__((unused)) static void chunk_dir(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" STORE_ZK_CHUNKS, zpath);
}


#endif /* QM_STORE_TEST_ZK */

/* ---- checks --------------------------------------------------------- */

/* The state as it is now is refused on load with want_rv and a message
 * naming it and containing must_contain, and saves do not overwrite it. */
__attribute__((unused)) static void expect_refused(int want_rv, const char *must_contain)
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

#endif
