/* Store tests.
 *
 * The conformance suite (marked below) is written once against a small
 * backend description (store_fixture.h) and runs on both backends: this
 * file built as test_store runs it on the file backend (suite "store", with
 * the file-only tests and those of the state codec); CMakeLists.txt builds
 * it again as zk_test_store with QM_STORE_TEST_ZK defined, which runs the
 * same suite on the ZooKeeper backend (suite "store_zk") against the real
 * server tests/zk/run.sh starts. The ZooKeeper-only tests are
 * tests/zk/test_store_zk.c. */
#include "store_fixture.h"
#include "clock.h"
#include "jtext.h"
#include "state/stindex.h"
#include "state/store_file.h"
#include "state/store_snap.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <sys/statfs.h>

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

/* The index of agents with tasks (agents.c: a node nobody expected) is
 * right after every way the tasks change: added, a second task on an
 * agent, removed, replaced onto another agent, the state reloaded (through
 * the store, and replaced whole), emptied. */
Test(store, agent_index_follows_the_tasks)
{
	struct sti ix;
	sti_init(&ix);
	struct store_state s;
	store_state_init(&s);
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S1"));

	struct store_task t1 = mk_task(1), t2 = mk_task(2), t3 = mk_task(3);
	snprintf(t3.agent_id, sizeof t3.agent_id, "5e1f-S1");
	cr_assert_not_null(store_state_put_task(&s, &t1));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S1"));
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S2"));
	cr_assert_not_null(store_state_put_task(&s, &t2));
	cr_assert_not_null(store_state_put_task(&s, &t3));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S2"));
	cr_assert(store_state_remove_task(&s, t1.task_id));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S1"), "t3 is still there");
	cr_assert(store_state_remove_task(&s, t3.task_id));
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S1"));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S2"));

	/* the same task id put again on another agent */
	snprintf(t2.agent_id, sizeof t2.agent_id, "5e1f-S9");
	cr_assert_not_null(store_state_put_task(&s, &t2));
	cr_assert_eq(s.ntasks, 1);
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S2"));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S9"));

	/* reloaded through the store: another state, and back */
	struct store *st = open_ok();
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &s, 0, &v, err, sizeof err), 0, "%s", err);
	struct store_state r;
	cr_assert_eq(store_load(st, &r, &v, err, sizeof err), 0, "%s", err);
	close_st(st);
	cr_assert(sti_agent_has_tasks(&ix, &r, "5e1f-S9"));
	cr_assert(store_state_remove_task(&r, t2.task_id));
	cr_assert(!sti_agent_has_tasks(&ix, &r, "5e1f-S9"));
	cr_assert(sti_agent_has_tasks(&ix, &s, "5e1f-S9"));

	/* replaced whole, as the coordinator does after a load */
	struct store_state fresh;
	fill(&fresh, 3); /* agents 5e1f-S0 .. 5e1f-S2 */
	store_state_fini(&s);
	s = fresh;
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S9"));
	for (int i = 0; i < 3; i++) {
		char id[32];
		snprintf(id, sizeof id, "5e1f-S%d", i);
		cr_assert(sti_agent_has_tasks(&ix, &s, id), "%s", id);
	}
	store_state_fini(&s);
	cr_assert(!sti_agent_has_tasks(&ix, &s, "5e1f-S0"));
	store_state_fini(&r);
	sti_fini(&ix);
}

/* The codec writes its text itself (no cJSON tree: codec.c); it must be
 * exactly what cJSON's formatted print makes of the same JSON, so that an
 * operator's diff of two states, and every reader, sees one layout. */
static void assert_cjson_layout(const struct store_state *a, uint64_t version)
{
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(store_state_to_json(a, version, &text, &len), 0);
	cr_assert_eq(strlen(text), len);
	cr_assert_eq(text[len - 1], '\n', "the text ends in a newline");
	struct store_state b;
	uint64_t v = 0;
	char err[256] = "";
	cr_assert_eq(store_state_from_json(text, len, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, version);
	assert_same(a, &b); /* every value, numbers past %1.15g too */
	store_state_fini(&b);
	cJSON *j = cJSON_ParseWithLength(text, len);
	cr_assert_not_null(j, "not JSON: %.200s", text);
	char *again = cJSON_Print(j);
	cJSON_Delete(j);
	text[len - 1] = '\0';
	size_t at = 0;
	while (text[at] && text[at] == again[at])
		at++;
	cr_assert(text[at] == '\0' && again[at] == '\0',
		  "differs from cJSON's print at byte %zu: ours '%.40s', cJSON's '%.40s'",
		  at, text + at, again + at);
	cJSON_free(again);
	free(text);
}

Test(store, the_text_is_laid_out_as_cjson_prints_it)
{
	struct store_state a;
	store_state_init(&a);
	assert_cjson_layout(&a, 1); /* empty lists */
	store_state_fini(&a);

	fill(&a, 9); /* quotes, a newline and UTF-8 in progress; mounts; ports */
	snprintf(a.tasks[1].hostname, sizeof a.tasks[1].hostname, "tab\there\\back\x01\x1f");
	a.tasks[2].launched_ms = 2147483647;       /* INT_MAX: printed as an int */
	a.tasks[3].launched_ms = 2147483648ll;     /* past it: %1.15g */
	a.tasks[4].launched_ms = 1000000000000001ll; /* 16 digits: %1.17g */
	a.tasks[5].nports = 0;                     /* an empty array */
	a.tasks[6].launched_ms = 999999999999999ll; /* the longest written as digits */
	a.tasks[7].unwanted_since_ms = 4294967296ll; /* 2^32 */
	struct store_drain *d = store_state_drain(&a, "5e1f-S7", true);
	cr_assert_not_null(d);
	snprintf(d->hostname, sizeof d->hostname, "node-7");
	d->since_ms = 1718000000777ll;
	d->forced = true;
	assert_cjson_layout(&a, 1000000000000003ull); /* %1.17g */
	store_state_fini(&a);
}

/* Encoding into a kept buffer (as the ZooKeeper store does save after
 * save) gives the same text as a fresh one, whether the last text was
 * longer or shorter. */
Test(store, a_kept_buffer_gives_the_same_text)
{
	struct store_state big, small;
	fill(&big, 200);
	fill(&small, 3);
	struct jtext kept = {0};
	const struct store_state *order[] = {&small, &big, &small, &big};
	for (size_t i = 0; i < 4; i++) {
		char *fresh;
		size_t len;
		cr_assert_eq(store_state_to_json(order[i], 7 + i, &fresh, &len), 0);
		cr_assert_eq(store_state_to_jtext(order[i], 7 + i, 0, &kept), 0);
		cr_assert_eq(kept.len, len, "encoding %zu", i);
		cr_assert_eq(memcmp(kept.buf, fresh, len + 1), 0, "encoding %zu", i);
		free(fresh);
	}
	free(kept.buf);
	store_state_fini(&big);
	store_state_fini(&small);
}

/* Reservations are never forgotten (issue 10): they survive the codec, a
 * state holding them is format 2 so a coordinator from before reservations
 * refuses it instead of dropping them on its next save, and a state
 * without them stays readable by such a coordinator (format 1). */
Test(store, reservations_keep_their_format)
{
	struct store_state a, b;
	fill(&a, 1);
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(store_state_to_json(&a, 7, &text, &len), 0);
	cr_assert_not_null(strstr(text, "\"format_version\":\t2"), "%s", text);
	cr_assert_not_null(strstr(text, "\"release_requested\":\ttrue"), "%s", text);
	uint64_t v = 0;
	char err[256] = "";
	cr_assert_eq(store_state_from_json(text, len, &b, &v, err, sizeof err), 0, "%s", err);
	assert_same(&a, &b);
	free(text);
	store_state_fini(&b);

	cr_assert(store_state_remove_reservation(&a, "data", "5e1f-S3"));
	cr_assert(store_state_remove_reservation(&a, "prober", "5e1f-S3"));
	cr_assert_not(store_state_remove_reservation(&a, "prober", "5e1f-S3"));
	cr_assert_eq(store_state_to_json(&a, 8, &text, &len), 0);
	cr_assert_not_null(strstr(text, "\"format_version\":\t1"), "%s", text);
	cr_assert_null(strstr(text, "reservations"), "%s", text);
	free(text);
	store_state_fini(&a);

	const char *dup = "{\"format\":\"quobyte-mesos-state\",\"format_version\":2,\"version\":1,"
			  "\"reservations\":[{\"service\":\"data\",\"agent_id\":\"S1\"},"
			  "{\"service\":\"data\",\"agent_id\":\"S1\"}]}";
	cr_assert_eq(store_state_from_json(dup, strlen(dup), &b, &v, err, sizeof err),
		     QM_ECORRUPT);
	cr_assert_not_null(strstr(err, "duplicate slot"), "%s", err);
	store_state_fini(&b);
	const char *bad = "{\"format\":\"quobyte-mesos-state\",\"format_version\":2,\"version\":1,"
			  "\"reservations\":[{\"service\":\"Data\",\"agent_id\":\"S1\"}]}";
	cr_assert_eq(store_state_from_json(bad, strlen(bad), &b, &v, err, sizeof err),
		     QM_ECORRUPT);
	cr_assert_not_null(strstr(err, "reservations[0]"), "%s", err);
	store_state_fini(&b);
}

/* Drained nodes (issue 14) survive the codec, so a failover keeps a node
 * drained; a state holding any is format 3 (a coordinator from before
 * drains refuses it instead of relaunching the node's services), one
 * without stays 2 or 1, and states written before drains load with none. */
Test(store, drains_keep_their_format)
{
	struct store_state a, b;
	store_state_init(&a);
	cr_assert_null(store_state_drain(&a, "S1", false));
	struct store_drain *d = store_state_drain(&a, "5e1f-S1", true);
	cr_assert_not_null(d);
	snprintf(d->hostname, sizeof d->hostname, "h1");
	d->since_ms = 1700000000123;
	d->forced = true;
	cr_assert_not_null(store_state_drain(&a, "5e1f-S2", true));
	cr_assert_eq(store_state_drain(&a, "5e1f-S1", true), &a.drains[0], "no second entry");
	cr_assert_eq(a.ndrains, 2);
	/* an agent back under a new id on a drained host stays drained */
	cr_assert_eq(store_state_drain_covering(&a, "5e1f-S9", "h1"), &a.drains[0]);
	cr_assert_eq(store_state_drain_covering(&a, "5e1f-S2", "h7"), &a.drains[1]);
	cr_assert_null(store_state_drain_covering(&a, "5e1f-S9", "h2"));
	cr_assert_null(store_state_drain_covering(&a, "5e1f-S9", ""));
	cr_assert_null(store_state_drain_covering(&a, "5e1f-S9", NULL));
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(store_state_to_json(&a, 3, &text, &len), 0);
	cr_assert_not_null(strstr(text, "\"format_version\":\t3"), "%s", text);
	uint64_t v = 0;
	char err[256] = "";
	cr_assert_eq(store_state_from_json(text, len, &b, &v, err, sizeof err), 0, "%s", err);
	free(text);
	cr_assert_eq(b.ndrains, 2);
	cr_assert_str_eq(b.drains[0].agent_id, "5e1f-S1");
	cr_assert_str_eq(b.drains[0].hostname, "h1");
	cr_assert_eq(b.drains[0].since_ms, 1700000000123);
	cr_assert(b.drains[0].forced);
	cr_assert_str_eq(b.drains[1].agent_id, "5e1f-S2");
	cr_assert_not(b.drains[1].forced);
	store_state_fini(&b);

	cr_assert(store_state_remove_drain(&a, "5e1f-S1"));
	cr_assert_not(store_state_remove_drain(&a, "5e1f-S1"));
	cr_assert_str_eq(a.drains[0].agent_id, "5e1f-S2");
	cr_assert(store_state_remove_drain(&a, "5e1f-S2"));
	cr_assert_eq(store_state_to_json(&a, 4, &text, &len), 0);
	cr_assert_not_null(strstr(text, "\"format_version\":\t1"), "%s", text);
	cr_assert_null(strstr(text, "drained"), "%s", text);
	free(text);
	store_state_fini(&a);

	/* a state from before drains (format 2, reservations) loads undrained */
	const char *old = "{\"format\":\"quobyte-mesos-state\",\"format_version\":2,\"version\":9,"
			  "\"reservations\":[{\"service\":\"data\",\"agent_id\":\"S1\"}]}";
	cr_assert_eq(store_state_from_json(old, strlen(old), &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(b.ndrains, 0);
	cr_assert_eq(b.nreservations, 1);
	store_state_fini(&b);
	/* an over-long agent id is no key */
	char longid[STORE_ID_MAX + 2];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	store_state_init(&a);
	cr_assert_null(store_state_drain(&a, longid, true));
	store_state_fini(&a);
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
		cr_assert_str_eq(names, "state.json state.lock state.log",
				 "after save %d: %s",
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
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":5,\"version\":1}",
		 QM_EVERSION, "newer coordinator"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":3,\"version\":1,"
		 "\"drained\":{}}",
		 QM_ECORRUPT, "drained: not an array"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":3,\"version\":1,"
		 "\"drained\":[{\"hostname\":\"h1\"}]}",
		 QM_ECORRUPT, "drained[0].agent_id: missing"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":3,\"version\":1,"
		 "\"drained\":[{\"agent_id\":\"../x\"}]}",
		 QM_ECORRUPT, "drained[0].agent_id: not a valid Mesos agent ID"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":3,\"version\":1,"
		 "\"drained\":[{\"agent_id\":\"S1\",\"forced\":1}]}",
		 QM_ECORRUPT, "drained[0].forced: not a boolean"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":3,\"version\":1,"
		 "\"drained\":[{\"agent_id\":\"S1\"},{\"agent_id\":\"S1\"}]}",
		 QM_ECORRUPT, "drained[1].agent_id: duplicate 'S1'"},
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
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"rollout_paused\":\"yes\"}",
		 QM_ECORRUPT, "rollout_paused: not a boolean"},
		{"{\"format\":\"quobyte-mesos-state\",\"format_version\":1,\"version\":1,"
		 "\"previous_version\":7}",
		 QM_ECORRUPT, "previous_version: not a string"},
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

/* ==== the file store's record log (issue 11) ========================= */

#ifndef QM_STORE_TEST_ZK

static long file_size(const char *name)
{
	char p[256];
	path_of(p, sizeof p, name);
	struct stat sb;
	return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static void load_expect(const struct store_state *want, uint64_t want_v)
{
	struct store *st = open_ok();
	struct store_state b;
	uint64_t v = 0;
	char err[512] = "";
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, want_v);
	assert_same(want, &b);
	store_state_fini(&b);
	close_st(st);
}

static void clone_state(struct store_state *dst, const struct store_state *src)
{
	char *text;
	size_t len;
	uint64_t v;
	char err[256] = "";
	store_state_fini(dst);
	cr_assert_eq(store_state_to_json(src, 1, &text, &len), 0);
	cr_assert_eq(store_state_from_json(text, len, dst, &v, err, sizeof err), 0,
		     "%s", err);
	free(text);
}

static void rename_to(const char *from, const char *to)
{
	char p[256], q[256];
	path_of(p, sizeof p, from);
	path_of(q, sizeof q, to);
	cr_assert_eq(rename(p, q), 0);
}

static int hook_fired;
static void copy_file(const char *from, const char *to)
{
	char p[256], q[256];
	path_of(p, sizeof p, from);
	path_of(q, sizeof q, to);
	size_t n;
	char *b = slurp(p, &n);
	spew(q, b, n);
	free(b);
}

/* At the crash point between the durable snapshot and the log reset. */
static void crash_copy(void)
{
	if (hook_fired++)
		return;
	copy_file("state.json", "crash.json");
	copy_file("state.log", "crash.log");
}

/* Saves in which no task is added or removed carry only what changed; the
 * store's own copy then takes the changed collections and keeps the rest.
 * Each collection changed and then changed back (with a task's change
 * saved after each): a copy that missed the first change would take the
 * second for no change and write nothing. */
Test(store, log_same_shape_saves_keep_or_take_each_collection)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 20, 0, &v);
	char err[512] = "";
	for (int c = 0; c < 3; c++) {
		for (int back = 0; back < 2; back++) {
			if (c == 0) {
				struct store_reservation *r =
					store_state_reservation(&a, "data", "5e1f-S3", false);
				cr_assert_not_null(r);
				snprintf(r->summary, sizeof r->summary, "%s",
					 back ? "cpus=1 mem=1024 ports=[7873]" : "cpus=9");
			} else if (c == 1 && !back) {
				cr_assert_not_null(store_state_drain(&a, "5e1f-S7", true));
			} else if (c == 1) {
				cr_assert(store_state_remove_drain(&a, "5e1f-S7"));
			} else if (!back) {
				store_state_failure(&a, "registry", "5e1f-S1", true)->consecutive = 3;
			} else {
				cr_assert(store_state_clear_failure(&a, "registry", "5e1f-S1"));
			}
			cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
			snprintf(a.tasks[c * 2 + back].state, sizeof a.tasks[0].state,
				 "TASK_RUNNING");
			cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
		}
		close_st(st);
		load_expect(&a, v);
		st = open_ok();
	}
	close_st(st);
	store_state_fini(&a);
}

/* Mounts live out of line (store_task.mounts): a save that changes only a
 * task's or a reservation's mounts must still write them, and a load
 * gives them back (a change detection that compared the pointers, or the
 * entries without their mounts, loses the change). The state's own copy
 * is changed in place, as reserve.c and a relaunch do. */
Test(store, log_mounts_only_changes_are_saved)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 20, 0, &v);
	char err[512] = "";
	cr_assert(store_task_set_mounts(&a.tasks[1], "/mnt/quobyte,/srv/new-disk"));
	cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
	struct store_reservation *r = store_state_reservation(&a, "data", "5e1f-S3", false);
	cr_assert_not_null(r);
	cr_assert(store_reservation_set_mounts(r, "/mnt/d1,/mnt/d2,/mnt/d3"));
	cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
	cr_assert(store_task_set_mounts(&a.tasks[2], NULL));
	cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
	close_st(st);
	load_expect(&a, v);
	cr_assert_str_eq(store_task_mounts(&a.tasks[1]), "/mnt/quobyte,/srv/new-disk");
	cr_assert_str_eq(store_task_mounts(&a.tasks[2]), "");
	/* longer than a state may hold: refused, nothing changed */
	char big[STORE_MOUNTS_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cr_assert_not(store_task_set_mounts(&a.tasks[1], big));
	cr_assert_str_eq(store_task_mounts(&a.tasks[1]), "/mnt/quobyte,/srv/new-disk");
	store_state_fini(&a);
}

/* A save that adds, changes or removes a few of many reservations writes
 * just those (reservations=2: the new and changed ones, the removed ones
 * by key), and a load gives the collection back in the same order. A
 * change that moves one (removed, then made again: now last) or touches
 * most of them writes the whole collection. Each record's size shows which
 * it was: 300 reservations written whole are ~40 KB. */
static void rsv_add(struct store_state *a, int i)
{
	char agent[64];
	snprintf(agent, sizeof agent, "5e1f-a2c4-S%d", i);
	struct store_reservation *r = store_state_reservation(a, "prober", agent, true);
	cr_assert_not_null(r);
	snprintf(r->hostname, sizeof r->hostname, "node%d", i);
	snprintf(r->summary, sizeof r->summary, "cpus=0.1 mem=64");
	r->since_ms = 1700000000000LL + i;
}

static long save_grew(struct store *st, struct store_state *a, uint64_t *v)
{
	char err[512] = "";
	long before = file_size("state.log");
	cr_assert_eq(store_save(st, a, *v, v, err, sizeof err), 0, "%s", err);
	return file_size("state.log") - before;
}

Test(store, log_reservation_changes_are_saved_as_changes)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 20, 0, &v);
	for (int i = 0; i < 300; i++)
		rsv_add(&a, i);
	long whole = save_grew(st, &a, &v);
	cr_assert_gt(whole, 30000, "300 new of 302: written whole (%ld bytes)", whole);

	rsv_add(&a, 1000); /* one more */
	long one = save_grew(st, &a, &v);
	cr_assert_lt(one, 2000, "one new reservation: %ld bytes", one);
	struct store_reservation *r = store_state_reservation(&a, "prober", "5e1f-a2c4-S7", false);
	cr_assert_not_null(r);
	snprintf(r->summary, sizeof r->summary, "cpus=0.2 mem=128");
	cr_assert(store_reservation_set_mounts(r, "/mnt/a,/mnt/b"));
	cr_assert(store_state_remove_reservation(&a, "prober", "5e1f-a2c4-S100"));
	cr_assert(store_state_remove_reservation(&a, "data", "5e1f-S3"));
	rsv_add(&a, 1001);
	long mixed = save_grew(st, &a, &v);
	cr_assert_lt(mixed, 2000, "one changed, two removed, one new: %ld bytes", mixed);
	/* the store's own copy took those changes: the next change is made
	 * against it (a removal it did not know of would not be written) */
	cr_assert(store_state_remove_reservation(&a, "prober", "5e1f-a2c4-S1001"));
	r = store_state_reservation(&a, "prober", "5e1f-a2c4-S7", false);
	cr_assert(store_reservation_set_mounts(r, "/mnt/c"));
	long again = save_grew(st, &a, &v);
	cr_assert_lt(again, 2000, "the new one removed, the changed one changed again: %ld bytes",
		     again);
	close_st(st);
	load_expect(&a, v);

	/* moved: removed and made again, it is last now */
	st = open_ok();
	cr_assert(store_state_remove_reservation(&a, "prober", "5e1f-a2c4-S5"));
	rsv_add(&a, 5);
	long moved = save_grew(st, &a, &v);
	cr_assert_gt(moved, 30000, "a moved reservation: written whole (%ld bytes)", moved);
	close_st(st);
	load_expect(&a, v);
	store_state_fini(&a);
}

/* A launch slice appends tasks and saves: the store keeps its copy of the
 * last saved state up to date with just the new tasks (no copy of the
 * whole state per save), and the next save writes only what changed after
 * them. */
Test(store, log_appended_tasks_then_one_change_is_a_small_record)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 300, 0, &v);
	for (int i = 0; i < 200; i++) {
		struct store_task t = mk_task(200000 + i);
		cr_assert_not_null(store_state_put_task(&a, &t));
	}
	long appended = save_grew(st, &a, &v);
	cr_assert_gt(appended, 20000, "200 new tasks are written (%ld bytes)", appended);
	snprintf(a.tasks[450].state, sizeof a.tasks[450].state, "TASK_RUNNING");
	long one = save_grew(st, &a, &v);
	cr_assert_lt(one, 2000, "one appended task changed: %ld bytes, not the 200 again", one);
	struct store_task t = mk_task(300000);
	cr_assert_not_null(store_state_put_task(&a, &t));
	snprintf(a.tasks[10].state, sizeof a.tasks[10].state, "TASK_FAILED");
	long two = save_grew(st, &a, &v);
	cr_assert_lt(two, 2000, "one more task and an old one changed: %ld bytes", two);
	close_st(st);
	load_expect(&a, v);
	store_state_fini(&a);
}

/* Tasks after the old ones are new only while every old one kept its
 * place: a task moved to the end behind a new one is still found (not
 * written as new, nor its old place as deleted), and the reload holds
 * every task with its content. (In the old place: the log records what
 * changed, not the order; task ids are unique per launch, so the
 * coordinator never moves one.) */
Test(store, log_a_moved_task_and_an_appended_one_load_equal)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 50, 0, &v);
	struct store_task moved;
	memset(&moved, 0, sizeof moved);
	store_task_assign(&moved, &a.tasks[7]);
	cr_assert(store_state_remove_task(&a, moved.task_id));
	struct store_task fresh = mk_task(400000);
	cr_assert_not_null(store_state_put_task(&a, &fresh));
	cr_assert_not_null(store_state_put_task(&a, &moved)); /* now last */
	free(moved.mounts);
	long grew = save_grew(st, &a, &v);
	cr_assert_gt(grew, 0);
	cr_assert_lt(grew, 4000, "one new task and a moved one: %ld bytes", grew);
	close_st(st);
	st = open_ok();
	struct store_state b;
	uint64_t lv = 0;
	char err[512] = "";
	cr_assert_eq(store_load(st, &b, &lv, err, sizeof err), 0, "%s", err);
	cr_assert_eq(lv, v);
	cr_assert_eq(b.ntasks, a.ntasks);
	for (size_t i = 0; i < a.ntasks; i++) {
		struct store_task *t = store_state_find_task(&b, a.tasks[i].task_id);
		cr_assert_not_null(t, "%s lost", a.tasks[i].task_id);
		cr_assert(store_task_same(t, &a.tasks[i]), "%s changed", t->task_id);
	}
	store_state_fini(&b);
	close_st(st);
	store_state_fini(&a);
}

/* The figure the OFFERS -> ACCEPT goal subtracts: what an append's
 * fdatasync took, never more than the save; 0 for a save that appended
 * nothing (the first one writes a snapshot). */
Test(store, log_save_says_how_long_it_waited_for_the_disk)
{
	struct store *st = open_ok();
	struct store_state a;
	fill(&a, 50);
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_last_sync_us(st), 0, "the first save writes a snapshot");
	struct statfs fsb;
	cr_assert_eq(statfs(tmpdir, &fsb), 0);
	for (int i = 0; i < 5; i++) {
		small_change(&a, i);
		uint64_t t0 = clock_mono_us();
		cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
		uint64_t took = clock_mono_us() - t0, sync = store_last_sync_us(st);
		cr_assert_leq(sync, took, "fdatasync %" PRIu64 " us of a %" PRIu64 " us save",
			      sync, took);
		if (fsb.f_type != TMPFS_MAGIC) /* there it writes nothing */
			cr_assert_gt(sync, 0, "an appended record waits for the disk");
	}
	close_st(st);
	store_state_fini(&a);
}

static atomic_int bg_started, bg_release, bg_hold_ms = 10000;
static uint64_t snapshot_version(const char *name);

/* The compaction's thread waits until the test lets it go on (or for
 * bg_hold_ms). */
static void hold_compaction(void)
{
	atomic_fetch_add(&bg_started, 1);
	for (int i = 0; i < atomic_load(&bg_hold_ms) / 5 && !atomic_load(&bg_release); i++)
		usleep(5000);
}

static int temp_files(void)
{
	DIR *d = opendir(tmpdir);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "state.json.tmp.", 15) == 0;
	closedir(d);
	return n;
}

/* Saves until the next compaction has started on its thread (held there;
 * the thread may start only during the save after the one that began it). */
static void save_until_compaction(struct store *st, struct store_state *a, uint64_t *v)
{
	char err[512] = "";
	int started = atomic_load(&bg_started);
	for (int i = 0; i < 3000 && atomic_load(&bg_started) == started; i++) {
		small_change(a, i);
		cr_assert_eq(store_save(st, a, *v, v, err, sizeof err), 0, "save %d: %s", i, err);
	}
	cr_assert_eq(atomic_load(&bg_started), started + 1, "no compaction started");
}

/* A compaction still writing when the store is closed is finished by the
 * close; one still writing when the store loads again is dropped. Neither
 * loses a save or leaves a temp file behind. */
Test(store, log_compaction_under_way_at_close_and_at_load)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 200, 0, &v);
	char err[512] = "";
	store_snap_hook = hold_compaction;
	atomic_store(&bg_started, 0);
	atomic_store(&bg_release, 0);
	atomic_store(&bg_hold_ms, 300);
	uint64_t sv = snapshot_version("state.json");
	save_until_compaction(st, &a, &v);
	uint64_t v_compacted = v;
	for (int k = 0; k < 3; k++) {
		small_change(&a, 5000 + k);
		cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0, "%s", err);
	}
	cr_assert_eq(snapshot_version("state.json"), sv, "the snapshot is still held");
	close_st(st); /* waits for it and puts it in place */
	uint64_t nv = snapshot_version("state.json");
	cr_assert(nv > sv && nv <= v_compacted, "snapshot %llu: not in (%llu, %llu]",
		  (unsigned long long)nv, (unsigned long long)sv,
		  (unsigned long long)v_compacted);
	cr_assert_eq(temp_files(), 0);
	load_expect(&a, v);

	st = open_ok();
	struct store_state b;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	sv = snapshot_version("state.json");
	save_until_compaction(st, &b, &v);
	struct store_state c;
	uint64_t vc;
	cr_assert_eq(store_load(st, &c, &vc, err, sizeof err), 0, "%s", err);
	cr_assert_eq(vc, v);
	assert_same(&b, &c);
	cr_assert_eq(snapshot_version("state.json"), sv, "a dropped compaction was put in place");
	cr_assert_eq(temp_files(), 0);
	small_change(&c, 1);
	cr_assert_eq(store_save(st, &c, vc, &vc, err, sizeof err), 0, "%s", err);
	store_snap_hook = NULL;
	close_st(st);
	load_expect(&c, vc);
	store_state_fini(&c);
	store_state_fini(&b);
	store_state_fini(&a);
}

static uint64_t snapshot_version(const char *name)
{
	char p[256];
	path_of(p, sizeof p, name);
	size_t len;
	char *text = slurp(p, &len);
	struct store_state s;
	uint64_t v = 0;
	char err[256] = "";
	cr_assert_eq(store_state_from_json(text, len, &s, &v, err, sizeof err), 0, "%s", err);
	store_state_fini(&s);
	free(text);
	return v;
}

/* Past its bound the log is compacted on a thread while saves go on: the
 * snapshot takes the version whose record ended the log, the records saved
 * meanwhile stay in the log after it, and every state loads back equal -
 * also at the crash point between the new snapshot and the log's
 * shortening, where the log still holds the records the snapshot covers. */
Test(store, log_small_changes_compact_and_load_equal)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 200, 0, &v);
	char err[512] = "";
	long snap = file_size("state.json");
	cr_assert_eq(file_size("state.log"), 0);
	long maxlog = 0;
	bool shrank = false;
	store_file_compact_hook = crash_copy;
	store_snap_hook = hold_compaction;
	hook_fired = 0;
	atomic_store(&bg_started, 0);
	atomic_store(&bg_release, 0);
	atomic_store(&bg_hold_ms, 10000);
	struct store_state before, at_crash;
	store_state_init(&before);
	store_state_init(&at_crash);
	uint64_t v_crash = 0;
	int saves_held = 0;
	for (int i = 0; i < 3000 && !shrank; i++) {
		small_change(&a, i);
		int fired = hook_fired;
		uint64_t v_before = v;
		cr_assert_eq(store_save(st, &a, v, &v, err, sizeof err), 0,
			     "save %d: %s", i, err);
		if (hook_fired && !fired) { /* before this save appended */
			clone_state(&at_crash, &before);
			v_crash = v_before;
		}
		clone_state(&before, &a);
		if (atomic_load(&bg_started) && ++saves_held == 5)
			atomic_store(&bg_release, 1); /* 5 saves during it */
		long l = file_size("state.log");
		if (l < maxlog)
			shrank = true;
		if (l > maxlog)
			maxlog = l;
		/* a record is append-sized, not state-sized */
		if (i == 0)
			cr_assert_lt(l, snap / 4, "record %ld vs snapshot %ld", l, snap);
	}
	store_file_compact_hook = NULL;
	store_snap_hook = NULL;
	cr_assert(shrank, "no compaction: log at %ld", maxlog);
	cr_assert_eq(hook_fired, 1);
	cr_assert_eq(atomic_load(&bg_started), 1);
	cr_assert_lt(file_size("state.log"), maxlog);
	/* the snapshot is of the version that started the compaction; the
	 * saves held back behind it are the log */
	uint64_t sv = snapshot_version("state.json");
	cr_assert_geq(v_crash, sv + 5, "snapshot %llu, crash point %llu",
		      (unsigned long long)sv, (unsigned long long)v_crash);
	cr_assert_gt(file_size("state.log"), 0);
	close_st(st);
	load_expect(&a, v);
	cr_assert_gt(v, 1);

	/* the crash point: the new snapshot and the full old log; its records
	 * up to the snapshot are covered and not applied again, the ones
	 * after it are */
	cr_assert_eq(snapshot_version("crash.json"), sv);
	rename_to("crash.json", "state.json");
	rename_to("crash.log", "state.log");
	st = open_ok();
	struct store_state b;
	uint64_t vb = 0;
	cr_assert_eq(store_load(st, &b, &vb, err, sizeof err), 0, "%s", err);
	cr_assert_eq(vb, v_crash);
	assert_same(&at_crash, &b);
	cr_assert_gt(file_size("state.log"), 0);
	/* and saving goes on from there */
	small_change(&b, 1);
	cr_assert_eq(store_save(st, &b, vb, &vb, err, sizeof err), 0, "%s", err);
	close_st(st);
	load_expect(&b, v_crash + 1);
	store_state_fini(&b);
	store_state_fini(&at_crash);
	store_state_fini(&before);
	store_state_fini(&a);
}

/* A crash between a compaction's snapshot and its log reset, with a small
 * log: the snapshot covers every record (skipped), the next save works and
 * loads again (it must not append after the covered records). */
Test(store, log_records_covered_by_snapshot_skipped)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 10, 3, &v);
	close_st(st);
	char err[512] = "";
	copy_file("state.log", "old.log");  /* records 2..4 */
	/* the snapshot a compaction at version 5 would write */
	small_change(&a, 3);
	char *text;
	size_t len;
	cr_assert_eq(store_state_to_json_fmt(&a, 5, STORE_FORMAT_VERSION_LOG,
					     &text, &len), 0);
	char p[256];
	path_of(p, sizeof p, "state.json");
	spew(p, text, len);
	free(text);
	rename_to("old.log", "state.log");
	load_expect(&a, 5);
	st = open_ok();
	struct store_state b;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	small_change(&b, 4);
	cr_assert_eq(store_save(st, &b, v, &v, err, sizeof err), 0, "%s", err);
	small_change(&b, 5);
	cr_assert_eq(store_save(st, &b, v, &v, err, sizeof err), 0, "%s", err);
	close_st(st);
	load_expect(&b, 7);
	store_state_fini(&a);
	store_state_fini(&b);
}

/* A base state and three one-task changes: the log holds three records. */
static void three_records(struct store_state *a, struct store_state *after2,
			  long *end2)
{
	uint64_t v;
	struct store *st = open_saved(a, 20, 2, &v);
	clone_state(after2, a);
	*end2 = file_size("state.log");
	small_change(a, 2);
	char err[512] = "";
	cr_assert_eq(store_save(st, a, v, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 4);
	close_st(st);
}

Test(store, log_torn_tail_ignored_then_cut)
{
	struct store_state a, b;
	store_state_init(&b);
	long end2;
	three_records(&a, &b, &end2);
	char p[256];
	path_of(p, sizeof p, "state.log");
	size_t n;
	char *full = slurp(p, &n);
	cr_assert_gt((long)n, end2 + 24);
	long cuts[] = {end2 + 1, end2 + 10, end2 + 20, end2 + 21,
		       (end2 + (long)n) / 2, (long)n - 1};
	for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
		spew(p, full, (size_t)cuts[c]);
		load_expect(&b, 3);
	}
	/* zeros after the last record (a crash after the size grew) too */
	char *z = calloc(1, (size_t)end2 + 100);
	memcpy(z, full, (size_t)end2);
	spew(p, z, (size_t)end2 + 100);
	free(z);
	load_expect(&b, 3);
	/* a CRC mismatch in the last record */
	full[n - 2] ^= 0x55;
	spew(p, full, n);
	load_expect(&b, 3);
	free(full);

	/* the next save cuts the garbage before appending */
	struct store *st = open_ok();
	struct store_state c;
	uint64_t v;
	char err[512] = "";
	cr_assert_eq(store_load(st, &c, &v, err, sizeof err), 0, "%s", err);
	small_change(&c, 7);
	cr_assert_eq(store_save(st, &c, v, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 4);
	cr_assert_lt(file_size("state.log") - end2, 2000);
	close_st(st);
	load_expect(&c, 4);
	store_state_fini(&a);
	store_state_fini(&b);
	store_state_fini(&c);
}

Test(store, log_corrupt_middle_record_refused)
{
	struct store_state a, b;
	store_state_init(&b);
	long end2;
	three_records(&a, &b, &end2);
	char p[256], j[256];
	path_of(p, sizeof p, "state.log");
	path_of(j, sizeof j, "state.json");
	size_t n, jn;
	char *full = slurp(p, &n);
	char *snap = slurp(j, &jn);
	full[30] ^= 0x01; /* in the first record's payload */
	spew(p, full, n);
	struct store *st = open_ok();
	struct store_state c;
	uint64_t v;
	char err[512] = "";
	cr_assert_eq(store_load(st, &c, &v, err, sizeof err), QM_ECORRUPT);
	cr_assert(strstr(err, p), "%s", err);
	cr_assert(strstr(err, "CRC mismatch"), "%s", err);
	cr_assert(strstr(err, "move it away to reset"), "%s", err);
	store_state_fini(&c);
	/* and no save overwrites it */
	cr_assert_eq(store_save(st, &a, 4, NULL, err, sizeof err), QM_ECORRUPT);
	close_st(st);
	size_t n2, jn2;
	char *full2 = slurp(p, &n2), *snap2 = slurp(j, &jn2);
	cr_assert(n2 == n && memcmp(full, full2, n) == 0);
	cr_assert(jn2 == jn && memcmp(snap, snap2, jn) == 0);
	free(full2);
	free(snap);
	free(snap2);

	/* a damaged length in the first record (it would run past the end)
	 * does not hide the two records after it */
	full[30] ^= 0x01;
	full[6] = 0x7f;
	spew(p, full, n);
	st = open_ok();
	cr_assert_eq(store_load(st, &c, &v, err, sizeof err), QM_ECORRUPT);
	cr_assert(strstr(err, "runs past the end, but more records follow"),
		  "%s", err);
	store_state_fini(&c);
	close_st(st);
	full[6] = 0;
	full[30] ^= 0x01;

	/* a record whose version does not follow: the records twice */
	full[30] ^= 0x01;
	char *twice = malloc(2 * n);
	memcpy(twice, full, n);
	memcpy(twice + n, full, n);
	spew(p, twice, 2 * n);
	free(twice);
	st = open_ok();
	cr_assert_eq(store_load(st, &c, &v, err, sizeof err), QM_ECORRUPT);
	cr_assert(strstr(err, "has version 2, expected 5"), "%s", err);
	cr_assert(strstr(err, p), "%s", err);
	store_state_fini(&c);
	close_st(st);
	free(full);
	store_state_fini(&a);
	store_state_fini(&b);
}

Test(store, log_replaced_behind_our_back_is_a_conflict)
{
	struct store_state a;
	uint64_t v;
	struct store *st = open_saved(&a, 5, 1, &v);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, v - 1, NULL, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "stale state version"), "%s", err);
	copy_file("state.log", "other");
	rename_to("other", "state.log");
	cr_assert_eq(store_save(st, &a, v, NULL, err, sizeof err), QM_ECONFLICT);
	cr_assert(strstr(err, "state.log was changed by someone else"), "%s", err);
	struct store_state b;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	cr_assert_eq(store_save(st, &b, v, NULL, err, sizeof err), 0, "%s", err);
	store_state_fini(&a);
	store_state_fini(&b);
	close_st(st);
}

/* A state.json of format 3 and no log (an older coordinator's) loads; the
 * snapshot this store writes is format 4, which that coordinator refuses
 * (it would miss the log). */
Test(store, log_old_snapshot_loads_new_one_refused_by_old)
{
	struct store_state a;
	fill(&a, 3);
	cr_assert_not_null(store_state_drain(&a, "5e1f-S3", true));
	char *text;
	size_t len;
	cr_assert_eq(store_state_to_json(&a, 7, &text, &len), 0);
	cr_assert_not_null(strstr(text, "\"format_version\":\t3"), "%s", text);
	char p[256];
	path_of(p, sizeof p, "state.json");
	spew(p, text, len);
	free(text);
	load_expect(&a, 7);
	struct store *st = open_ok();
	char err[512] = "";
	uint64_t v = 0;
	struct store_state b;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	small_change(&b, 0);
	cr_assert_eq(store_save(st, &b, v, &v, err, sizeof err), 0, "%s", err);
	small_change(&b, 1);
	cr_assert_eq(store_save(st, &b, v, &v, err, sizeof err), 0, "%s", err);
	close_st(st);
	cr_assert_gt(file_size("state.log"), 0);
	text = slurp(p, &len);
	cr_assert_not_null(strstr(text, "\"format_version\":\t4"), "%s", text);
	cr_assert_eq(STORE_FORMAT_VERSION_LOG, 4);
	free(text);
	load_expect(&b, 9);
	store_state_fini(&a);
	store_state_fini(&b);
}
#endif
