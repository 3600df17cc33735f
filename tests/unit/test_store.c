#include "store.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/qm-store-test.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
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

TestSuite(store, .init = make_tmpdir, .fini = remove_tmpdir);

static void path_of(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static char *slurp(const char *path, size_t *len)
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

static void spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

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

static struct store *open_ok(void)
{
	char err[512] = "";
	struct store *st = store_open(tmpdir, err, sizeof err);
	cr_assert_not_null(st, "store_open: %s", err);
	return st;
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

/* ---- state in memory ------------------------------------------------ */

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

/* ---- the file store ------------------------------------------------- */

Test(store, missing_file_is_empty_first_start)
{
	char sub[128];
	path_of(sub, sizeof sub, "state");  /* not there yet: created */
	char err[256] = "";
	struct store *st = store_open(sub, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
	cr_assert_str_eq(store_backend(st), "file");
	struct store_state s;
	uint64_t v = 99;
	cr_assert_eq(store_load(st, &s, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 0);
	cr_assert_eq(s.ntasks, 0);
	cr_assert_str_eq(s.framework_id, "");
	store_state_fini(&s);
	store_close(st);
	struct stat sb;
	cr_assert_eq(stat(sub, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	char p[256];
	snprintf(p, sizeof p, "%s/state.lock", sub);
	unlink(p);
	rmdir(sub);
}

Test(store, round_trip)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 3);
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	store_close(st);

	char url[128];
	snprintf(url, sizeof url, "file://%s", tmpdir);
	st = store_open(url, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
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
	store_close(st);
}

Test(store, cas_conflict)
{
	struct store *st = open_ok();
	struct store_state a, b;
	fill(&a, 1);
	char err[512] = "";
	uint64_t v = 0;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), 0, "%s", err);
	char p[256];
	path_of(p, sizeof p, "state.json");
	char *before = slurp(p, NULL);

	snprintf(a.target_version, sizeof a.target_version, "9.9");
	v = 77;
	cr_assert_eq(store_save(st, &a, 0, &v, err, sizeof err), QM_ECONFLICT);
	cr_assert_eq(v, 77, "new_version untouched on failure");
	cr_assert(strstr(err, "stale"), "%s", err);
	cr_assert_eq(store_save(st, &a, 5, NULL, err, sizeof err), QM_ECONFLICT);
	char *after = slurp(p, NULL);
	cr_assert_str_eq(before, after, "a failed save changed the state");
	free(after);

	cr_assert_eq(store_save(st, &a, 1, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 2);
	store_close(st);

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
	store_close(st);
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
	store_close(st);
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
	store_close(st);
}

static void expect_refused(int want_rv, const char *must_contain)
{
	struct store *st = open_ok();
	struct store_state s;
	uint64_t v = 123;
	char err[512] = "";
	int rv = store_load(st, &s, &v, err, sizeof err);
	cr_assert_eq(rv, want_rv, "load gave %d (%s)", rv, err);
	cr_assert(strstr(err, tmpdir), "message does not name the file: %s", err);
	cr_assert(strstr(err, must_contain), "'%s' not in: %s", must_contain, err);
	store_state_fini(&s);
	/* and it is never overwritten */
	char p[256];
	path_of(p, sizeof p, "state.json");
	char *before = slurp(p, NULL);
	struct store_state e;
	store_state_init(&e);
	cr_assert_neq(store_save(st, &e, 0, NULL, err, sizeof err), 0);
	cr_assert_neq(store_save(st, &e, 1, NULL, err, sizeof err), 0);
	char *after = slurp(p, NULL);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	store_close(st);
}

Test(store, corrupt_file_refused_with_message)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	const char *bad = "{\"format\":\"quobyte-mesos-state\",\"format_version\":1,"
			  "\"version\":3,\"tasks\":[{\"task_id\" 12}]}";
	spew(p, bad, strlen(bad));
	expect_refused(QM_ECORRUPT, "is corrupt: JSON syntax error at byte 83");
	expect_refused(QM_ECORRUPT, "move it away to reset");
}

Test(store, truncated_file_refused)
{
	struct store *st = open_ok();
	struct store_state a;
	fill(&a, 20);
	char err[512] = "";
	cr_assert_eq(store_save(st, &a, 0, NULL, err, sizeof err), 0, "%s", err);
	store_close(st);
	store_state_fini(&a);
	char p[256];
	path_of(p, sizeof p, "state.json");
	size_t len;
	char *full = slurp(p, &len);
	spew(p, full, len / 2);
	expect_refused(QM_ECORRUPT, "truncated");
	spew(p, full, 0);
	expect_refused(QM_ECORRUPT, "empty");
	free(full);
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

Test(store, newer_format_refused_on_load)
{
	char p[256];
	path_of(p, sizeof p, "state.json");
	const char *t = "{\"format\":\"quobyte-mesos-state\",\"format_version\":9,\"version\":1}";
	spew(p, t, strlen(t));
	expect_refused(QM_EVERSION, "newer coordinator");
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
	store_close(st);
}

Test(store, large_state_10000_tasks)
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
	store_close(st);
	st = open_ok();
	cr_assert_eq(store_load(st, &b, &v, err, sizeof err), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_eq(b.ntasks, 10000);
	cr_assert_eq(b.nfailures, 501);
	assert_same(&a, &b);
	cr_assert_not_null(store_state_find_task(&b, a.tasks[9999].task_id));
	store_state_fini(&a);
	store_state_fini(&b);
	store_close(st);
}

Test(store, second_opener_refused)
{
	struct store *st = open_ok();
	char err[512] = "";
	struct store *other = store_open(tmpdir, err, sizeof err);
	cr_assert_null(other);
	cr_assert(strstr(err, "in use by another coordinator"), "%s", err);
	char pid[32];
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	cr_assert(strstr(err, pid), "%s", err);
	store_close(st);
	other = store_open(tmpdir, err, sizeof err);
	cr_assert_not_null(other, "%s", err);
	store_close(other);
}

Test(store, urls)
{
	char err[512] = "";
	cr_assert_null(store_open("zk://zk1:2181,zk2:2181/quobyte", err, sizeof err));
	cr_assert(strstr(err, "not built yet"), "%s", err);
	cr_assert_null(store_open("s3://bucket/x", err, sizeof err));
	cr_assert(strstr(err, "unknown scheme"), "%s", err);
	cr_assert_null(store_open("file://host/x", err, sizeof err));
	cr_assert(strstr(err, "file:///"), "%s", err);
	cr_assert_null(store_open("", err, sizeof err));
	cr_assert_null(store_open("/nonexistent-parent-qm/x/y", err, sizeof err));
	cr_assert(strstr(err, "cannot create"), "%s", err);

	char url[128];
	snprintf(url, sizeof url, "file://localhost%s", tmpdir);
	struct store *st = store_open(url, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
	cr_assert_str_eq(store_location(st), tmpdir);
	store_close(st);
	store_close(NULL);
}
