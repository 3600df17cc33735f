/* The pure parts of master detection: what --master accepts (the three
 * forms), which child of the masters' group leads (det_group_leader, the
 * rules of Mesos's src/zookeeper/group.cpp + detector.cpp), and MasterInfo
 * as the masters publish it in ZooKeeper (samples in
 * tests/data/masterinfo/, written as src/master/master.cpp and stout's
 * JSON::protobuf + stringify produce them at 1.4.0 and 1.11.0). Detection
 * against a real ZooKeeper: tests/zk/test_detector.c (tests/zk/run.sh),
 * end to end: tests/e2e/test_masters.py and tests/bench/leader_change.py. */
#include "mesos/detector.h"
#include "evloop.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct det_spec spec;
static char err[512];

static int parse(const char *m)
{
	err[0] = '\0';
	return det_spec_parse(m, NULL, &spec, err, sizeof err);
}

Test(detector, single_urls_are_normalised)
{
	static const char *const cases[][2] = {
		{"http://m1:5050", "http://m1:5050"},
		{"m1:5050", "http://m1:5050"},
		{"m1", "http://m1:5050"},
		{"https://m1.example.com:5443/", "https://m1.example.com:5443"},
		{"http://10.0.0.1:5050", "http://10.0.0.1:5050"},
		{"http://[fe80::1]:5050", "http://[fe80::1]:5050"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(parse(cases[i][0]), 0, "%s: %s", cases[i][0], err);
		cr_assert_eq(spec.kind, DET_URLS);
		cr_assert_eq(spec.nurls, 1);
		cr_assert_str_eq(spec.urls[0], cases[i][1]);
	}
}

Test(detector, lists_keep_their_order)
{
	cr_assert_eq(parse("http://m1:5050,m2:5051,https://m3:5050"), 0, "%s", err);
	cr_assert_eq(spec.nurls, 3);
	cr_assert_str_eq(spec.urls[0], "http://m1:5050");
	cr_assert_str_eq(spec.urls[1], "http://m2:5051");
	cr_assert_str_eq(spec.urls[2], "https://m3:5050");
}

Test(detector, bad_masters_name_the_bad_part)
{
	static const char *const cases[][2] = {
		{"", "no master"},
		{"http://m1:5050,,m3", "entry 2 is empty"},
		{"http://m1:5050,ftp://m2", "entry 2 'ftp://m2'"},
		{"http://m1:0", "port out of range"},
		{"http://m1:70000", "port out of range"},
		{"http://m1:50x0", "bad port"},
		{"http://m1:5050/master/api", "no path"},
		{"http://:5050", "no host"},
		{"http://m1:5050, m2:5050", "blank"},
		{"http://m$1:5050", "bad character"},
		{"zk://", "no path"},
		{"zk:///mesos", "no ZooKeeper host"},
		{"zk://h:2181", "no path"},
		{"zk://h:abc/mesos", "h:abc"},
		{"zk://h:2181/mesos,http://m1:5050", "zk URL"},
		{"zk://a b:2181/mesos", "blank"},
		{"http://m1:5050,", "entry 2 is empty"},
		{",m1", "entry 1 is empty"},
		{"http://m1:-1", "bad port"},
		{"http://m1:", "bad port"},
		{"http://m1:123456", "bad port"},
		{"http://m1:5050/?x", "no path"},
		{"http://m1:5050?x", "bad port"},
		{"http://user@m1:5050", "bad character"},
		{"HTTP://m1:5050", "only http:// and https://"},
		{"m1:5050,file:///etc/mesos/zk", "entry 2 'file:///etc/mesos/zk'"},
		{"m1:5050,http://m2:5050/api/v1", "entry 2 'http://m2:5050/api/v1': a master URL has no path"},
		{"m1\t:5050", "blank or control"},
		{"http://[fe80::1:5050", "bad IPv6"},
		{"http://[zz::1]:5050", "bad IPv6"},
		{"http://[::1]5050", "expected ':'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_neq(parse(cases[i][0]), 0, "'%s' accepted", cases[i][0]);
		cr_assert_not_null(strstr(err, cases[i][1]), "'%s': '%s' lacks '%s'", cases[i][0],
				   err, cases[i][1]);
	}
	char many[400] = "";
	for (int i = 0; i <= DET_MAX_URLS; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%sm%d:5050",
			 i ? "," : "", i);
	cr_assert_neq(parse(many), 0);
	cr_assert_not_null(strstr(err, "more than"));
	char host[300];
	memset(host, 'a', 260);
	host[260] = '\0';
	cr_assert_neq(parse(host), 0);
	cr_assert_not_null(strstr(err, "longer than 253"), "%s", err);
	char huge[1100];
	memset(huge, 'm', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	cr_assert_neq(parse(huge), 0);
	cr_assert_not_null(strstr(err, "longer than 1000"), "%s", err);
}

Test(detector, edges_that_are_fine)
{
	static const char *const cases[][2] = {
		{"m1:1", "http://m1:1"},
		{"m1:65535", "http://m1:65535"},
		{"https://m1", "https://m1:5050"},
		{"m1/", "http://m1:5050"},
		{"[::1]:5051", "http://[::1]:5051"},
		{"master_1.example.com:05050", "http://master_1.example.com:5050"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(parse(cases[i][0]), 0, "%s: %s", cases[i][0], err);
		cr_assert_str_eq(spec.urls[0], cases[i][1]);
	}
	char many[400] = "";
	for (int i = 0; i < DET_MAX_URLS; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%sm%d:5050",
			 i ? "," : "", i);
	cr_assert_eq(parse(many), 0, "%s", err);
	cr_assert_eq(spec.nurls, DET_MAX_URLS);
	cr_assert_str_eq(spec.urls[DET_MAX_URLS - 1], "http://m15:5050");
	cr_assert_eq(parse("zk://z1:2181,z2:2181/mesos"), 0, "%s", err);
	cr_assert_eq(spec.kind, DET_ZK);
	cr_assert_str_eq(spec.zk, "zk://z1:2181,z2:2181/mesos");
}

Test(detector, zk_urls_mask_the_password)
{
	cr_assert_eq(parse("zk://mesos:s3cret@z1:2181,z2:2181,z3:2181/mesos"), 0, "%s", err);
	cr_assert_eq(spec.kind, DET_ZK);
	cr_assert_null(strstr(spec.display, "s3cret"), "%s", spec.display);
	cr_assert_not_null(strstr(spec.display, "z1:2181,z2:2181,z3:2181/mesos"), "%s",
			   spec.display);
	cr_assert_str_eq(spec.scheme, "http");
	cr_assert_eq(det_spec_parse("zk://z1:2181/mesos", "https", &spec, err, sizeof err), 0);
	cr_assert_str_eq(spec.scheme, "https");
	cr_assert_neq(det_spec_parse("zk://z1:2181/mesos", "ftp", &spec, err, sizeof err), 0);
}

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/masterinfo/%s", QM_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	char *buf = calloc(1, 70000);
	*len = fread(buf, 1, 69999, f);
	fclose(f);
	return buf;
}

Test(detector, masterinfo_of_each_release)
{
	struct det_leader l;
	size_t n;
	char *j = slurp("mesos-1.4.0.json", &n);
	cr_assert_eq(det_masterinfo_parse(j, n, "http", &l, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://10.0.0.11:5050");
	cr_assert_str_eq(l.version, "1.4.0");
	cr_assert_str_eq(l.hostname, "master-1.example.com");
	cr_assert_str_eq(l.id, "2c1b5a0e-6f3e-4c39-9d1f-1c2a9e1b0a01");
	free(j);

	j = slurp("mesos-1.11.0.json", &n);
	cr_assert_eq(det_masterinfo_parse(j, n, "https", &l, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(l.url, "https://10.0.0.12:5050");
	cr_assert_str_eq(l.version, "1.11.0");
	free(j);
}

static int mi(const char *file, const char *scheme, struct det_leader *l)
{
	size_t n;
	char *j = slurp(file, &n);
	err[0] = '\0';
	int rv = det_masterinfo_parse(j, n, scheme, l, err, sizeof err);
	free(j);
	return rv;
}

Test(detector, masterinfo_fallbacks)
{
	struct det_leader l;
	cr_assert_eq(mi("pid-only.json", NULL, &l), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://192.168.1.5:5051");
	cr_assert_str_eq(l.version, "");
	cr_assert_str_eq(l.hostname, "m5");

	/* MasterInfo.ip: s_addr in network byte order (MESOS-1201) */
	cr_assert_eq(mi("ip-only.json", NULL, &l), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://10.0.0.11:5051");

	cr_assert_eq(mi("address-hostname-only.json", NULL, &l), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://master-3.example.com:5052");
	cr_assert_str_eq(l.hostname, "master-3.example.com");

	cr_assert_eq(mi("hostname-only.json", NULL, &l), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://m6:5050");

	const char *v6 = "{\"address\":{\"ip\":\"fd00::5\",\"port\":5050},\"id\":\"6\"}";
	cr_assert_eq(det_masterinfo_parse(v6, strlen(v6), NULL, &l, err, sizeof err), 0, "%s",
		     err);
	cr_assert_str_eq(l.url, "http://[fd00::5]:5050");

	/* address wins over pid, pid over ip */
	const char *both = "{\"address\":{\"ip\":\"10.1.1.1\",\"port\":5050},"
			   "\"pid\":\"master@10.2.2.2:5050\",\"ip\":1,\"port\":5050}";
	cr_assert_eq(det_masterinfo_parse(both, strlen(both), NULL, &l, err, sizeof err), 0);
	cr_assert_str_eq(l.url, "http://10.1.1.1:5050");
	const char *pid = "{\"pid\":\"master@10.2.2.2:5050\",\"ip\":1,\"port\":5050}";
	cr_assert_eq(det_masterinfo_parse(pid, strlen(pid), NULL, &l, err, sizeof err), 0);
	cr_assert_str_eq(l.url, "http://10.2.2.2:5050");
}

Test(detector, masterinfo_garbage_is_named)
{
	struct det_leader l;
	static const char *const files[][2] = {
		{"no-address.json", "no address"},
		{"bad-port.json", "no address"},
		{"protobuf.bin", "not JSON"},
		{"truncated.json", "not JSON"},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		cr_assert_neq(mi(files[i][0], NULL, &l), 0, "%s accepted", files[i][0]);
		cr_assert_not_null(strstr(err, files[i][1]), "%s: '%s' lacks '%s'", files[i][0],
				   err, files[i][1]);
	}
	static const char *const strs[][2] = {
		{"", "empty"},
		{"[1,2]", "not an object"},
		{"\"master@10.0.0.1:5050\"", "not an object"},
		{"{\"pid\":\"master@10.0.0.1:5050\"} trailing", "not JSON"},
		{"{\"address\":{\"ip\":\"10.0.0.1\",\"port\":5050.5}}", "no address"},
		{"{\"address\":{\"ip\":\"10.0.0.1\",\"port\":\"5050\"}}", "no address"},
		{"{\"address\":{\"ip\":\"10.0.0.1; rm -rf /\",\"port\":5050}}", "address '10.0.0.1; rm"},
		{"{\"pid\":\"master@10.0.0.1:5050/x\"}", "pid"},
		{"{\"pid\":\"master\",\"port\":5050}", "no address"},
		/* found by fuzz_detector: the scheme is --master-scheme's, never
		 * the znode's (and "https" + "https://..." made "httpss://") */
		{"{\"pid\":\"r@https://051\"}", "not host:port"},
		{"{\"pid\":\"m@http://10.0.0.1:5050\"}", "not host:port"},
		{"{\"address\":{\"hostname\":\"https://h\",\"port\":5050}}", "not host:port"},
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		const char *j = strs[i][0];
		cr_assert_neq(det_masterinfo_parse(j, strlen(j), NULL, &l, err, sizeof err), 0,
			      "%s accepted", j);
		cr_assert_not_null(strstr(err, strs[i][1]), "%s: '%s' lacks '%s'", j, err,
				   strs[i][1]);
	}
	cr_assert_neq(det_masterinfo_parse(NULL, 0, NULL, &l, err, sizeof err), 0);
	/* the cap: 64 KiB, checked before parsing */
	char *big = calloc(1, 70000);
	memset(big, ' ', 69999);
	const char *ok = "{\"pid\":\"master@10.0.0.1:5050\"}";
	memcpy(big, ok, strlen(ok));
	cr_assert_neq(det_masterinfo_parse(big, 69999, NULL, &l, err, sizeof err), 0);
	cr_assert_not_null(strstr(err, "more than"), "%s", err);
	cr_assert_eq(det_masterinfo_parse(big, 64 * 1024, NULL, &l, err, sizeof err), 0, "%s",
		     err);
	free(big);
}

/* Which child leads: Mesos's rules (src/zookeeper/group.cpp cache(),
 * src/zookeeper/detector.cpp watched(), 1.4.0 and 1.11.0). */
Test(detector, group_leader_is_the_lowest_sequence_of_any_label)
{
	static const struct {
		const char *names[5];
		long want;
		const char *label;
	} cases[] = {
		{{"json.info_0000000003", "json.info_0000000001", "json.info_0000000002"}, 1,
		 "json.info"},
		/* the replicated log's znode sits in the same group path */
		{{"log_replicas", "json.info_0000000004"}, 1, "json.info"},
		/* a protobuf-era master that leads is the leader, not skipped */
		{{"json.info_0000000002", "info_0000000001"}, 1, "info"},
		{{"info_0000000009", "json.info_0000000002"}, 1, "json.info"},
		/* no label at all: a member too (oldest format) */
		{{"json.info_0000000008", "0000000007"}, 1, ""},
		/* first piece is the label, last the sequence, empties dropped */
		{{"json.info__0000000005"}, 0, "json.info"},
		{{"a_b_0000000001", "json.info_0000000002"}, 0, "a"},
		{{"_json.info_0000000001"}, 0, "json.info"},
		/* numify<int32_t>: a sign, decimal, hex after 0x */
		{{"json.info_0000000001", "json.info_-2147483648"}, 1, "json.info"},
		{{"json.info_0x10", "json.info_0000000017"}, 0, "json.info"},
		{{"json.info_+3", "json.info_0000000004"}, 0, "json.info"},
		/* not members */
		{{"json.info_abc", "x", "_", "", "json.info_2147483648"}, -1, ""},
		{{"json.info_1 ", "json.info_0x", "json.info_+0x1", "json.info_1.5", "json.info_-"},
		 -1, ""},
		{{NULL}, -1, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = 0;
		while (n < 5 && cases[i].names[n])
			n++;
		char label[64] = "unset";
		long got = det_group_leader(cases[i].names, n, label, sizeof label);
		cr_assert_eq(got, cases[i].want, "case %zu: leader %ld, want %ld", i, got,
			     cases[i].want);
		cr_assert_str_eq(label, cases[i].label, "case %zu", i);
	}
	/* equal sequences: the later child wins, as group.cpp's hashmap */
	const char *tie[] = {"json.info_0000000001", "info_0000000001"};
	char label[16];
	cr_assert_eq(det_group_leader(tie, 2, label, sizeof label), 1);
	cr_assert_str_eq(label, "info");
	/* a long label is cut, not overflowed */
	const char *longl[] = {"abcdefghijklmnopqrstuvwxyz_0000000001"};
	cr_assert_eq(det_group_leader(longl, 1, label, sizeof label), 0);
	cr_assert_str_eq(label, "abcdefghijklmno");
}

/* A list detector hands over the candidates in turn, never from inside
 * det_new or det_failed. */
struct seen {
	char urls[8][DET_URL_MAX + 1];
	int n;
	struct ev_loop *loop;
};

static void on_leader(void *arg, const struct det_leader *l, const char *why)
{
	(void)why;
	struct seen *s = arg;
	cr_assert_not_null(l);
	snprintf(s->urls[s->n++], sizeof s->urls[0], "%s", l->url);
	ev_stop(s->loop);
}

Test(detector, list_round_robin_on_failure)
{
	struct seen s = {.loop = ev_loop_new()};
	cr_assert_eq(parse("m1:5050,m2:5050"), 0);
	struct detector *d = det_new(s.loop, &spec, 0, on_leader, &s);
	cr_assert_eq(s.n, 0, "no answer from inside det_new");
	ev_run(s.loop);
	det_failed(d, s.urls[0], "connection refused");
	cr_assert_eq(s.n, 1, "no answer from inside det_failed");
	ev_run(s.loop);
	det_failed(d, s.urls[1], "connection refused");
	ev_run(s.loop);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.urls[0], "http://m1:5050");
	cr_assert_str_eq(s.urls[1], "http://m2:5050");
	cr_assert_str_eq(s.urls[2], "http://m1:5050");
	det_free(d);
	ev_loop_free(s.loop);
}

static void stop_loop(struct ev_loop *loop, void *arg)
{
	(void)arg;
	ev_stop(loop);
}

/* One URL: det_failed hands the same one over again (the caller backs
 * off); det_free with an answer pending never calls fn. */
Test(detector, single_url_is_handed_over_again)
{
	struct seen s = {.loop = ev_loop_new()};
	cr_assert_eq(parse("https://m1:5443"), 0);
	struct detector *d = det_new(s.loop, &spec, 0, on_leader, &s);
	cr_assert_null(det_zk(d));
	ev_run(s.loop);
	det_failed(d, s.urls[0], "503");
	ev_run(s.loop);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.urls[1], "https://m1:5443");
	det_failed(d, s.urls[1], "503");
	det_free(d);
	ev_timer_add(s.loop, 20, stop_loop, NULL);
	ev_run(s.loop);
	ev_loop_free(s.loop);
	cr_assert_eq(s.n, 2);
}
