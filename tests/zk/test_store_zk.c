/* The ZooKeeper store's own tests (beyond the conformance suite that
 * tests/unit/test_store.c runs on both backends): compare-and-set between
 * handles, chunking, compression, corrupt chunks, generations, the sweep,
 * digest credentials and ACLs, fencing, the znode layout. Against the real
 * server tests/zk/run.sh starts (QM_TEST_ZK); built with QM_STORE_TEST_ZK
 * like every tests/zk binary. */
#include "../unit/store_fixture.h"
#include "evloop.h"

TestSuite(SUITE, .init = be_setup, .fini = be_teardown);

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
/* A store fenced on an ephemeral znode under its root, which lives on a
 * session of its own, *c (closing it deletes the fence). */
static struct store *open_fenced(char *fence, size_t cap, struct zk_conn **c)
{
	*c = raw_conn(url);
	zk_mkdirs(*c, zpath);
	snprintf(fence, cap, "%s/fence", zpath);
	struct zk_op *op = zk_op_new(ZK_CREATE, fence);
	op->create_mode = ZOO_EPHEMERAL;
	zk_op_set_data(op, NULL, 0);
	cr_assert_eq(run1_rc(*c, op), ZOK);
	struct store *st = open_ok();
	cr_assert_eq(store_zk_set_fence(st, fence), 0);
	return st;
}

Test(SUITE, fenced_save_refused_after_losing_the_fence)
{
	char fence[400];
	struct zk_conn *c;
	struct store *st = open_fenced(fence, sizeof fence, &c);
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

/* ---- asynchronous saves (store_save_start) ---------------------------- */

static void stop_cb(struct ev_loop *loop, void *arg)
{
	(void)arg;
	ev_stop(loop);
}

struct answer {
	int calls;
	int rv;
	uint64_t version;
	char err[512];
	struct ev_loop *loop;
};

static void on_saved(void *arg, int rv, uint64_t v, const char *err)
{
	struct answer *a = arg;
	a->calls++;
	a->rv = rv;
	a->version = v;
	snprintf(a->err, sizeof a->err, "%s", err ? err : "");
	if (a->loop)
		ev_stop(a->loop);
}

/* The answer comes on the loop, once; the state is encoded when the save
 * starts (changing it after does not change what is saved); another save
 * of either kind, and a load, first settle the one in flight. */
Test(SUITE, async_save_answers_on_the_loop_and_settles_before_anything_else)
{
	struct ev_loop *loop = ev_loop_new();
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 3);
	char err[512] = "";
	struct answer ans = {.loop = loop};
	cr_assert_not(store_saves_async(st), "no loop yet");
	cr_assert_eq(store_save_start(st, &a, 0, on_saved, &ans, err, sizeof err), QM_EINVAL,
		     "no loop yet: asynchronous saves are refused");
	cr_assert_eq(store_zk_set_loop(st, loop), 0);
	cr_assert(store_saves_async(st));
	cr_assert_eq(store_save_start(st, &a, 0, on_saved, &ans, err, sizeof err), 0, "%s", err);
	snprintf(a.target_version, sizeof a.target_version, "after the start");
	cr_assert_eq(ans.calls, 0, "answered before the loop ran");
	ev_timer_add(loop, 10000, stop_cb, NULL);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_eq(ans.calls, 1);
	cr_assert_eq(ans.rv, 0, "%s", ans.err);
	cr_assert_eq(ans.version, 1);
	uint64_t v = 0;
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_str_eq(b.target_version, "3.0.1", "what was saved is the state at the start");
	store_state_fini(&b);

	/* in flight, then a synchronous save: it waits, then goes on at 2 */
	ans.loop = NULL;
	cr_assert_eq(store_save_start(st, &a, 1, on_saved, &ans, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_save(st, &a, 1, &v, err, sizeof err), QM_ECONFLICT,
		     "the save in flight made version 2");
	cr_assert_eq(ans.calls, 2, "settled by the synchronous save");
	cr_assert_eq(ans.rv, 0, "%s", ans.err);
	cr_assert_eq(ans.version, 2);
	cr_assert_eq(store_save(st, &a, 2, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 3);

	/* in flight, then a load: it sees the save */
	cr_assert_eq(store_save_start(st, &a, 3, on_saved, &ans, err, sizeof err), 0, "%s", err);
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(ans.calls, 3);
	cr_assert_eq(v, 4);
	cr_assert_str_eq(b.target_version, "after the start");
	store_state_fini(&b);

	/* a stale version is refused at the start, and no answer comes */
	cr_assert_eq(store_save_start(st, &a, 3, on_saved, &ans, err, sizeof err), QM_ECONFLICT);
	cr_assert_eq(ans.calls, 3);

	/* in flight at close: answered by the close */
	cr_assert_eq(store_save_start(st, &a, 4, on_saved, &ans, err, sizeof err), 0, "%s", err);
	close_st(st);
	cr_assert_eq(ans.calls, 4);
	cr_assert_eq(ans.version, 5);
	/* the work the answer posted runs, and finds nothing left to do */
	ev_timer_add(loop, 50, stop_cb, NULL);
	(void)ev_run(loop);
	cr_assert_eq(ans.calls, 4);
	store_state_fini(&a);
	ev_loop_free(loop);
}

/* The fence's session c closed, an asynchronous save of *a at version
 * v is answered QM_ECONFLICT on the loop, once, and the head is as it
 * was. */
static void expect_fenced_off(struct store *st, struct ev_loop *loop, struct zk_conn *c,
			      struct store_state *a, uint64_t v, struct answer *ans)
{
	char err[512] = "";
	char *before = raw_read(NULL);
	int calls = ans->calls;
	zk_conn_close(c); /* the ephemeral fence goes with the session */
	ans->loop = loop;
	snprintf(a->target_version, sizeof a->target_version, "stale");
	cr_assert_eq(store_save_start(st, a, v, on_saved, ans, err, sizeof err), 0, "%s", err);
	ev_timer_add(loop, 20000, stop_cb, NULL);
	(void)ev_run(loop);
	cr_assert_eq(ans->calls, calls + 1);
	cr_assert_eq(ans->rv, QM_ECONFLICT, "%d %s", ans->rv, ans->err);
	cr_assert(strstr(ans->err, "no longer the leader"), "%s", ans->err);
	char *after = raw_read(NULL);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
}

/* A fenced asynchronous save whose fence is gone answers QM_ECONFLICT,
 * and the state is as it was. */
Test(SUITE, async_save_refused_after_losing_the_fence)
{
	char fence[400];
	struct zk_conn *c;
	struct store *st = open_fenced(fence, sizeof fence, &c);
	struct ev_loop *loop = ev_loop_new();
	cr_assert_eq(store_zk_set_loop(st, loop), 0);
	struct store_state a;
	fill(&a, 2);
	char err[512] = "";
	uint64_t v;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	struct answer ans = {0};
	expect_fenced_off(st, loop, c, &a, 1, &ans);
	store_state_fini(&a);
	close_st(st);
	ev_loop_free(loop);
}

/* A state large enough to be compressed is compressed on a thread of its
 * own while the loop goes on, then written: what is stored is the state at
 * the start, in one znode or in chunks; a settle (here: a load) in the
 * middle of the compression finishes the save at once, answered once; a
 * lost fence still refuses the write that follows the compression. */
Test(SUITE, async_compressed_save_is_the_state_at_its_start)
{
	struct ev_loop *loop = ev_loop_new();
	char fence[400];
	struct zk_conn *fc;
	struct store *st = open_fenced(fence, sizeof fence, &fc);
	cr_assert_eq(store_zk_set_loop(st, loop), 0);
	struct store_state a, b;
	fill(&a, 10000);
	char err[512] = "";
	struct answer ans = {.loop = loop};
	cr_assert_eq(store_save_start(st, &a, 0, on_saved, &ans, err, sizeof err), 0, "%s", err);
	snprintf(a.target_version, sizeof a.target_version, "after the start");
	cr_assert_eq(ans.calls, 0, "answered before the loop ran");
	ev_timer_add(loop, 20000, stop_cb, NULL);
	cr_assert_eq(ev_run(loop), 0);
	cr_assert_eq(ans.calls, 1);
	cr_assert_eq(ans.rv, 0, "%s", ans.err);
	cr_assert_eq(ans.version, 1);
	size_t hl;
	char *head = raw_read(&hl);
	cr_assert_eq(memcmp(head, "QMZ1", 4), 0, "compressed");
	free(head);
	struct store *other = open_ok();
	uint64_t v = 0;
	cr_assert_eq(store_load(other, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_str_eq(b.target_version, "3.0.1", "what was saved is the state at the start");
	store_state_fini(&b);
	close_st(other);

	/* chunked, and settled by a load while (likely) still compressing */
	store_zk_set_chunk_bytes(st, 16 * 1024);
	ans.loop = NULL;
	cr_assert_eq(store_save_start(st, &a, 1, on_saved, &ans, err, sizeof err), 0, "%s", err);
	snprintf(a.target_version, sizeof a.target_version, "not saved");
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(ans.calls, 2, "settled by the load");
	cr_assert_eq(ans.rv, 0, "%s", ans.err);
	cr_assert_eq(v, 2);
	cr_assert_str_eq(b.target_version, "after the start");
	store_state_fini(&b);
	char *ref = raw_read(NULL);
	cr_assert(strstr(ref, "\"encoding\":\"zlib\""), "chunked: %s", ref);
	free(ref);
	/* the work the compression posted runs, and finds nothing to do */
	ev_timer_add(loop, 50, stop_cb, NULL);
	(void)ev_run(loop);
	cr_assert_eq(ans.calls, 2);

	/* the fence goes while the state is compressed: refused, unchanged */
	expect_fenced_off(st, loop, fc, &a, 2, &ans);
	store_state_fini(&a);
	close_st(st);
	ev_loop_free(loop);
}
