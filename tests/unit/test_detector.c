/* The pure parts of master detection: what --master accepts (the three
 * forms), and MasterInfo as the masters publish it in ZooKeeper (samples in
 * tests/data/masterinfo/). Detection against a real ZooKeeper is covered
 * by tests/e2e/test_masters.py and tests/bench/leader_change.py. */
#include "detector.h"
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

Test(detector, masterinfo_fallbacks_and_garbage)
{
	struct det_leader l;
	size_t n;
	char *j = slurp("pid-only.json", &n);
	cr_assert_eq(det_masterinfo_parse(j, n, NULL, &l, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://192.168.1.5:5051");
	cr_assert_str_eq(l.version, "");
	free(j);

	j = slurp("hostname-only.json", &n);
	cr_assert_eq(det_masterinfo_parse(j, n, NULL, &l, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(l.url, "http://m6:5050");
	free(j);

	j = slurp("no-address.json", &n);
	cr_assert_neq(det_masterinfo_parse(j, n, NULL, &l, err, sizeof err), 0);
	cr_assert_not_null(strstr(err, "no address"), "%s", err);
	free(j);

	j = slurp("protobuf.bin", &n);
	cr_assert_neq(det_masterinfo_parse(j, n, NULL, &l, err, sizeof err), 0);
	cr_assert_not_null(strstr(err, "not a JSON object"), "%s", err);
	free(j);

	cr_assert_neq(det_masterinfo_parse("[1,2]", 5, NULL, &l, err, sizeof err), 0);
	const char *bad = "{\"address\":{\"ip\":\"10.0.0.1; rm -rf /\",\"port\":5050}}";
	cr_assert_neq(det_masterinfo_parse(bad, strlen(bad), NULL, &l, err, sizeof err), 0,
		      "a hostile address is refused, not spliced into a URL");
	char *big = calloc(1, 70000);
	memset(big, ' ', 69999);
	cr_assert_neq(det_masterinfo_parse(big, 69999, NULL, &l, err, sizeof err), 0);
	free(big);
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
