/* ZooKeeper state store benchmark: save latency (p50/p99) and bytes per
 * state save for the state of 1,000 and 10,000 nodes (5 tasks per node, one
 * failure slot per 20 nodes), each save changing one task as a status
 * update does; with compression (the default) and without. Prints figures
 * only; asserts nothing about time. bytes_per_save is what one save puts
 * into ZooKeeper (head + chunks); json_bytes the state's text.
 *
 *   zk_store_bench zk://127.0.0.1:2181/qm-bench [saves]
 *
 * start_p50_ms is what an asynchronous save (store_save_start, as the
 * coordinator's loop makes them) costs its caller's thread: the rest
 * (compression, the write) runs on other threads.
 *
 * kept_encode_p50_ms is the encoding alone into a buffer kept from the
 * save before (as the ZooKeeper store encodes); json_encode_p50_ms into
 * fresh memory.
 *
 * Every save is a real compare-and-set on a real server (tests/zk/run.sh
 * --bench starts one). Under ASan the JSON encoding dominates; build with
 * CMAKE_BUILD_TYPE=Release for production-like figures. The tree under the
 * given path is deleted afterwards. */
#include "evloop.h"
#include "jtext.h"
#include "log.h"
#include "qm_error.h"
#include "state/store.h"
#include "state/store_zk.h"
#include "state/zk.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void fill(struct store_state *s, int nodes)
{
	static const char *svc[] = {"registry", "metadata", "data", "api", "prober"};
	store_state_init(s);
	snprintf(s->framework_id, sizeof s->framework_id,
		 "5e1f2b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c-0042");
	snprintf(s->target_version, sizeof s->target_version, "3.14.2");
	snprintf(s->progress, sizeof s->progress, "steady");
	for (int n = 0; n < nodes; n++) {
		for (int k = 0; k < 5; k++) {
			struct store_task t;
			memset(&t, 0, sizeof t);
			snprintf(t.task_id, sizeof t.task_id,
				 "quobyte-%s.node-%05d.example.com.%016" PRIx64, svc[k], n,
				 (uint64_t)n * 7919u + (uint64_t)k * 104729u);
			snprintf(t.service, sizeof t.service, "%s", svc[k]);
			snprintf(t.agent_id, sizeof t.agent_id,
				 "5e1f2b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c-S%d", n);
			snprintf(t.hostname, sizeof t.hostname, "node-%05d.example.com", n);
			snprintf(t.version, sizeof t.version, "%s",
				 k == 4 ? "" : "3.14.2");
			t.launched_ms = 1718000000000ll + n;
			snprintf(t.state, sizeof t.state, "TASK_RUNNING");
			t.nports = k == 4 ? 0 : 1;
			t.ports[0] = 7860u + (uint32_t)k;
			if (!store_state_put_task(s, &t))
				abort();
		}
		if (n % 20 == 0) {
			char agent[64];
			snprintf(agent, sizeof agent,
				 "5e1f2b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c-S%d", n);
			struct store_failure *f = store_state_failure(s, "data", agent, true);
			f->consecutive = 1;
			f->last_failure_ms = 1718000000000ll;
		}
	}
}

struct answer {
	int rv;
	uint64_t v;
	char err[512];
};

static void answered(void *arg, int rv, uint64_t nv, const char *err)
{
	struct answer *a = arg;
	a->rv = rv;
	a->v = nv;
	snprintf(a->err, sizeof a->err, "%s", err ? err : "");
}

static int bench(const char *base, int nodes, int saves, bool compress)
{
	char url[1024], err[1024];
	snprintf(url, sizeof url, "%s/n%d-%s", base, nodes, compress ? "z" : "plain");
	struct zk_conn *zk;
	struct zk_opts o = {.session_timeout_ms = 10000, .op_timeout_ms = 30000};
	if (zk_conn_open(url, &o, &zk, err, sizeof err)) {
		fprintf(stderr, "zk_store_bench: %s\n", err);
		return 1;
	}
	struct store *st = store_zk_new(zk);
	store_zk_set_compress(st, compress);
	struct store_state s, tmp;
	fill(&s, nodes);
	uint64_t v = 0;
	if (store_load(st, &tmp, &v, err, sizeof err)) {
		fprintf(stderr, "zk_store_bench: %s\n", err);
		return 1;
	}
	store_state_fini(&tmp);
	if (store_save(st, &s, v, &v, err, sizeof err)) { /* warm-up */
		fprintf(stderr, "zk_store_bench: %s\n", err);
		return 1;
	}
	double *lat = calloc((size_t)saves, sizeof *lat);
	double *enc = calloc((size_t)saves, sizeof *enc);
	double *kenc = calloc((size_t)saves, sizeof *kenc);
	struct jtext kept = {0};
	size_t bytes = 0, written = 0, znodes = 0;
	for (int i = 0; i < saves; i++) {
		struct store_task *t = &s.tasks[(size_t)(i * 37) % s.ntasks];
		snprintf(t->state, sizeof t->state, i % 2 ? "TASK_RUNNING" : "TASK_STAGING");
		char *text;
		size_t len;
		double e0 = now_ms();
		store_state_to_json(&s, v + 1, &text, &len);
		enc[i] = now_ms() - e0;
		free(text);
		bytes = len;
		e0 = now_ms();
		store_state_to_jtext(&s, v + 1, 0, &kept);
		kenc[i] = now_ms() - e0;
		double t0 = now_ms();
		if (store_save(st, &s, v, &v, err, sizeof err)) {
			fprintf(stderr, "zk_store_bench: save %d: %s\n", i, err);
			return 1;
		}
		lat[i] = now_ms() - t0;
	}
	/* the same saves, asynchronous: what the caller's thread pays */
	struct ev_loop *loop = ev_loop_new();
	double *start = calloc((size_t)saves, sizeof *start);
	store_zk_set_loop(st, loop);
	for (int i = 0; i < saves; i++) {
		struct store_task *t = &s.tasks[(size_t)(i * 41) % s.ntasks];
		snprintf(t->state, sizeof t->state, i % 2 ? "TASK_RUNNING" : "TASK_STAGING");
		struct answer a = {.rv = -1};
		double t0 = now_ms();
		int rv = store_save_start(st, &s, v, answered, &a, a.err, sizeof a.err);
		start[i] = now_ms() - t0;
		if (!rv) {
			store_settle(st);
			rv = a.rv;
		}
		if (rv) {
			fprintf(stderr, "zk_store_bench: async save %d: %s\n", i, a.err);
			return 1;
		}
		v = a.v;
	}
	store_zk_set_loop(st, NULL);
	ev_stop(loop);
	ev_run(loop); /* the answers' posted work, after the settles: no-ops */
	ev_loop_free(loop);
	/* what the last save put into ZooKeeper: the head + its chunks */
	{
		char hp[700], cd[700];
		snprintf(hp, sizeof hp, "%s/%s", zk_conn_path(zk), STORE_ZK_HEAD);
		snprintf(cd, sizeof cd, "%s/%s", zk_conn_path(zk), STORE_ZK_CHUNKS);
		struct zk_op *h = zk_op_new(ZK_GET, hp);
		struct zk_op *c = zk_op_new(ZK_CHILDREN, cd);
		struct zk_op *ops[2] = {h, c};
		if (zk_run(zk, ops, 2, err, sizeof err) == 0) {
			written = h->len;
			znodes = 1;
			for (size_t i = 0; i < c->nchildren; i++) {
				char p[800];
				snprintf(p, sizeof p, "%s/%s", cd, c->children[i]);
				struct zk_op *g = zk_op_new(ZK_EXISTS, p);
				if (zk_run(zk, &g, 1, err, sizeof err) == 0) {
					if (g->rc == ZOK) {
						written += (size_t)g->stat.dataLength;
						znodes++;
					}
					zk_op_free(g);
				}
			}
			zk_op_free(h);
			zk_op_free(c);
		}
	}
	double l0 = now_ms();
	if (store_load(st, &tmp, &v, err, sizeof err)) {
		fprintf(stderr, "zk_store_bench: %s\n", err);
		return 1;
	}
	double load_ms = now_ms() - l0;
	store_state_fini(&tmp);
	qsort(lat, (size_t)saves, sizeof *lat, cmp_d);
	qsort(enc, (size_t)saves, sizeof *enc, cmp_d);
	qsort(start, (size_t)saves, sizeof *start, cmp_d);
	qsort(kenc, (size_t)saves, sizeof *kenc, cmp_d);
	printf("nodes=%d tasks=%zu compress=%s saves=%d json_bytes=%zu "
	       "bytes_per_save=%zu znodes_per_save=%zu save_p50_ms=%.1f "
	       "save_p99_ms=%.1f json_encode_p50_ms=%.1f kept_encode_p50_ms=%.1f "
	       "start_p50_ms=%.1f "
	       "start_p99_ms=%.1f load_ms=%.1f\n",
	       nodes, s.ntasks, compress ? "zlib" : "off", saves, bytes, written,
	       znodes,
	       pct(lat, (size_t)saves, 0.50), pct(lat, (size_t)saves, 0.99),
	       pct(enc, (size_t)saves, 0.50), pct(kenc, (size_t)saves, 0.50),
	       pct(start, (size_t)saves, 0.50),
	       pct(start, (size_t)saves, 0.99), load_ms);
	fflush(stdout);
	free(lat);
	free(enc);
	free(kenc);
	free(kept.buf);
	free(start);
	store_state_fini(&s);
	store_close(st);
	/* clean up the tree */
	const char *p = zk_conn_path(zk);
	char paths[3][600];
	snprintf(paths[0], sizeof paths[0], "%s/%s", p, STORE_ZK_CHUNKS);
	snprintf(paths[1], sizeof paths[1], "%s/%s", p, STORE_ZK_HEAD);
	struct zk_op *op = zk_op_new(ZK_CHILDREN, paths[0]);
	if (zk_run(zk, &op, 1, err, sizeof err) == 0) {
		for (size_t i = 0; i < op->nchildren; i++) {
			char c[800];
			snprintf(c, sizeof c, "%s/%s", paths[0], op->children[i]);
			struct zk_op *d = zk_op_new(ZK_DELETE, c);
			if (zk_run(zk, &d, 1, err, sizeof err) == 0)
				zk_op_free(d);
		}
		zk_op_free(op);
	}
	const char *del[] = {paths[0], paths[1], p};
	for (int i = 0; i < 3; i++) {
		struct zk_op *d = zk_op_new(ZK_DELETE, del[i]);
		if (zk_run(zk, &d, 1, err, sizeof err) == 0)
			zk_op_free(d);
	}
	zk_conn_close(zk);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strncmp(argv[1], "zk://", 5) != 0) {
		fprintf(stderr, "usage: %s zk://host:port/path [saves]\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_WARN);
	int saves = argc > 2 ? atoi(argv[2]) : 0;
	int rv = 0;
	for (int z = 1; z >= 0 && !rv; z--) {
		rv = bench(argv[1], 1000, saves > 0 ? saves : 100, z);
		if (!rv)
			rv = bench(argv[1], 10000, saves > 0 ? saves : 30, z);
	}
	return rv;
}
