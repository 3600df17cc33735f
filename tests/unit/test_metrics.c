/* api/metrics.c: histograms, label escaping, the capped buffer and the
 * per-device families with their series cap. */
#include "api/metrics.h"
#include "clock.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t le3[] = {5000, 100000, 2500000}; /* 5 ms, 100 ms, 2.5 s */

static char *render(const struct metrics_hist *h)
{
	struct metrics_buf b;
	metrics_buf_init(&b);
	metrics_hist_write(&b, "x_seconds", "A test histogram.", h);
	cr_assert_not(b.full);
	char *s = strdup(b.p);
	metrics_buf_fini(&b);
	return s;
}

Test(metrics, histogram_buckets_are_inclusive_and_cumulative)
{
	struct metrics_hist h;
	metrics_hist_init(&h, le3, 3);
	uint64_t obs[] = {0, 5, 6, 100, 101, 2500, 2501, 60000};
	for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
		metrics_hist_observe_ms(&h, obs[i]);
	cr_assert_eq(h.count, 8);
	cr_assert_eq(h.counts[0], 2); /* 0, 5 */
	cr_assert_eq(h.counts[1], 2); /* 6, 100 */
	cr_assert_eq(h.counts[2], 2); /* 101, 2500 */
	cr_assert_eq(h.counts[3], 2); /* above the last bound */
	char *s = render(&h);
	cr_assert_str_eq(s, "# HELP x_seconds A test histogram.\n"
			    "# TYPE x_seconds histogram\n"
			    "x_seconds_bucket{le=\"0.005\"} 2\n"
			    "x_seconds_bucket{le=\"0.1\"} 4\n"
			    "x_seconds_bucket{le=\"2.5\"} 6\n"
			    "x_seconds_bucket{le=\"+Inf\"} 8\n"
			    "x_seconds_sum 65.213\n"
			    "x_seconds_count 8\n");
	free(s);
}

Test(metrics, empty_histogram_and_whole_seconds)
{
	static const uint32_t le[] = {1000000, 10000000};
	struct metrics_hist h;
	metrics_hist_init(&h, le, 2);
	char *s = render(&h);
	cr_assert_str_eq(s, "# HELP x_seconds A test histogram.\n"
			    "# TYPE x_seconds histogram\n"
			    "x_seconds_bucket{le=\"1\"} 0\n"
			    "x_seconds_bucket{le=\"10\"} 0\n"
			    "x_seconds_bucket{le=\"+Inf\"} 0\n"
			    "x_seconds_sum 0\n"
			    "x_seconds_count 0\n");
	free(s);
}

Test(metrics, since_zero_counts_nothing_and_bounds_are_capped)
{
	struct metrics_hist h;
	metrics_hist_init(&h, le3, 3);
	metrics_hist_since(&h, 0);
	cr_assert_eq(h.count, 0);
	metrics_hist_since(&h, 1); /* a start long ago */
	cr_assert_eq(h.count, 1);

	static uint32_t many[METRICS_HIST_MAX_BUCKETS + 4];
	for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
		many[i] = (uint32_t)(i + 1);
	metrics_hist_init(&h, many, sizeof many / sizeof many[0]);
	cr_assert_eq(h.nle, METRICS_HIST_MAX_BUCKETS);
	metrics_hist_observe_ms(&h, 1000);
	cr_assert_eq(h.counts[METRICS_HIST_MAX_BUCKETS], 1);
}

/* OFFERS -> ACCEPT has a goal of about a millisecond: its histogram tells
 * 100 us from 250 us from 1 ms, and the sum keeps every microsecond. */
Test(metrics, bounds_and_sum_under_a_millisecond)
{
	static const uint32_t le[] = {100, 250, 1000};
	struct metrics_hist h;
	metrics_hist_init(&h, le, 3);
	uint64_t obs[] = {99, 100, 101, 250, 999, 1001};
	for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
		metrics_hist_observe_us(&h, obs[i]);
	char *s = render(&h);
	cr_assert_str_eq(s, "# HELP x_seconds A test histogram.\n"
			    "# TYPE x_seconds histogram\n"
			    "x_seconds_bucket{le=\"0.0001\"} 2\n"
			    "x_seconds_bucket{le=\"0.00025\"} 4\n"
			    "x_seconds_bucket{le=\"0.001\"} 5\n"
			    "x_seconds_bucket{le=\"+Inf\"} 6\n"
			    "x_seconds_sum 0.00255\n"
			    "x_seconds_count 6\n");
	free(s);
	/* a start 2 ms ago lands above the last bound, not in "0" */
	metrics_hist_since(&h, clock_mono_us() - 2000);
	cr_assert_eq(h.counts[3], 2);
}

Test(metrics, metrics_init_sets_every_histogram)
{
	struct metrics_state m;
	metrics_init(&m);
	cr_assert_gt(m.plan.nle, 0);
	cr_assert_gt(m.store_save.nle, 0);
	cr_assert_gt(m.offer_accept.nle, 0);
	cr_assert_gt(m.bus_age.nle, 0);
	for (size_t i = 1; i < m.bus_age.nle; i++)
		cr_assert_lt(m.bus_age.le_us[i - 1], m.bus_age.le_us[i], "ascending bounds");
	/* durations: from 100 us to 10 s, none cut off by the bucket cap */
	cr_assert_eq(m.offer_accept.le_us[0], 100);
	cr_assert_eq(m.offer_accept.le_us[m.offer_accept.nle - 1], 10000000);
	for (size_t i = 1; i < m.offer_accept.nle; i++)
		cr_assert_lt(m.offer_accept.le_us[i - 1], m.offer_accept.le_us[i]);
}

static char *label(const char *v)
{
	struct metrics_buf b;
	metrics_buf_init(&b);
	metrics_label(&b, v);
	char *s = strdup(b.p);
	cr_assert_eq(strlen(s), b.len);
	metrics_buf_fini(&b);
	return s;
}

Test(metrics, label_values_are_escaped)
{
	struct {
		const char *in, *out;
	} t[] = {
		{"", ""},
		{"/srv/disk1", "/srv/disk1"},
		{"a\\b", "a\\\\b"},
		{"say \"hi\"", "say \\\"hi\\\""},
		{"two\nlines", "two\\nlines"},
		{"\\\"\n", "\\\\\\\"\\n"},
		{"tab\there", "tab\there"}, /* only the three are escaped */
		{"m\xc3\xbcnchen", "m\xc3\xbcnchen"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *s = label(t[i].in);
		cr_assert_str_eq(s, t[i].out, "case %zu", i);
		free(s);
	}
}

Test(metrics, buffer_stops_at_its_cap)
{
	struct metrics_buf b;
	metrics_buf_init(&b);
	static char chunk[1 << 16];
	memset(chunk, 'x', sizeof chunk - 1);
	size_t writes = 0;
	while (!b.full) {
		metrics_printf(&b, "%s", chunk);
		writes++;
		cr_assert_lt(writes, 1000, "the cap holds");
	}
	cr_assert_lt(b.len, (size_t)METRICS_BUF_CAP);
	size_t len = b.len;
	metrics_label(&b, "more");
	metrics_printf(&b, "more");
	cr_assert_eq(b.len, len, "nothing is written once full");
	metrics_buf_fini(&b);
}

/* --- the per-device families ------------------------------------------ */

static struct nodes_device device(const char *root, int type, int state, uint64_t size,
				  uint64_t free_bytes)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	Quobyte__Bus__DeviceType t = (Quobyte__Bus__DeviceType)type;
	d.key = (char *)root;
	d.root = (char *)root;
	if (type) {
		d.n_types = 1;
		d.types = &t;
	}
	d.has_state = true;
	d.state = (Quobyte__Bus__DeviceState)state;
	d.has_size_bytes = d.has_free_bytes = true;
	d.size_bytes = size;
	d.free_bytes = free_bytes;
	struct nodes_device v;
	nodes_device_copy(&v, &d);
	return v;
}

/* A fake inventory of one node with the given devices (owned by the test;
 * nodes_fini is not used on it). */
static void one_node(struct nodes *ns, struct nodes_node *n, struct nodes_device *devs,
		     size_t ndevs, const char *hostname)
{
	memset(ns, 0, sizeof *ns);
	memset(n, 0, sizeof *n);
	n->agent_id = (char *)"agent-1";
	n->hostname = (char *)hostname;
	n->has_snapshot = true;
	n->devices = devs;
	n->ndevices = ndevs;
	nodes_recount(n);
	ns->v = n;
	ns->n = 1;
}

static void free_devs(struct nodes_device *devs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		nodes_device_free(&devs[i]);
}

Test(metrics, devices_by_type_and_state_and_bytes_with_escaped_labels)
{
	struct nodes_device devs[3] = {
		device("/mnt/data\"1", QUOBYTE__BUS__DEVICE_TYPE__DATA,
			QUOBYTE__BUS__DEVICE_STATE__OK, 1000, 400),
		device("/mnt/data2", QUOBYTE__BUS__DEVICE_TYPE__DATA,
			QUOBYTE__BUS__DEVICE_STATE__OK, 2000, 2000),
		device("/mnt/new", 0, QUOBYTE__BUS__DEVICE_STATE__NO_TYPE, 5, 5),
	};
	struct nodes ns;
	struct nodes_node n;
	one_node(&ns, &n, devs, 3, "host\\a");
	struct metrics_buf b;
	metrics_buf_init(&b);
	size_t budget = 100;
	uint64_t dropped = 0;
	metrics_write_devices(&b, &ns, &budget, &dropped);
	cr_assert_eq(dropped, 0);
	cr_assert_eq(budget, 100 - 2 - 3 - 3);
	const char *want[] = {
		"# HELP quobyte_mesos_node_devices ",
		"# TYPE quobyte_mesos_node_devices gauge\n",
		"quobyte_mesos_node_devices{node=\"host\\\\a\",type=\"data\",state=\"ok\"} 2\n",
		"quobyte_mesos_node_devices{node=\"host\\\\a\",type=\"none\",state=\"no_type\"} "
		"1\n",
		"quobyte_mesos_device_free_bytes{node=\"host\\\\a\",root=\"/mnt/data\\\"1\"} 400\n",
		"quobyte_mesos_device_size_bytes{node=\"host\\\\a\",root=\"/mnt/data2\"} 2000\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_assert(strstr(b.p, want[i]), "missing %s in:\n%s", want[i], b.p);
	metrics_buf_fini(&b);
	free_devs(devs, 3);
}

Test(metrics, series_over_the_cap_are_dropped_and_counted)
{
	struct nodes_device devs[2] = {
		device("/a", QUOBYTE__BUS__DEVICE_TYPE__DATA, QUOBYTE__BUS__DEVICE_STATE__OK, 1,
			1),
		device("/b", QUOBYTE__BUS__DEVICE_TYPE__METADATA,
			QUOBYTE__BUS__DEVICE_STATE__ERROR, 1, 1),
	};
	struct nodes ns;
	struct nodes_node n;
	one_node(&ns, &n, devs, 2, ""); /* no hostname: the agent id */
	struct metrics_buf b;
	metrics_buf_init(&b);
	size_t budget = 3; /* 2 device-count series + 4 byte series wanted */
	uint64_t dropped = 0;
	metrics_write_devices(&b, &ns, &budget, &dropped);
	cr_assert_eq(budget, 0);
	cr_assert_eq(dropped, 3);
	cr_assert(strstr(b.p, "node=\"agent-1\""));
	/* the families stay announced even when their samples are cut */
	cr_assert(strstr(b.p, "# TYPE quobyte_mesos_device_free_bytes gauge\n"));
	cr_assert_null(strstr(b.p, "quobyte_mesos_device_free_bytes{"));
	metrics_buf_fini(&b);
	free_devs(devs, 2);
}
