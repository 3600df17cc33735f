/* The pure parts of the Mesos client: which capabilities each release is
 * sent, release comparison, which refusals are terminal, and its URLs
 * (where a 307 sends us, which master an endpoint names); and its drain
 * (mesos_drain), against a master of our own below. The rest of the
 * client's network behaviour is covered end to end (tests/e2e) against the
 * emulator's release profiles. */
#include "evloop.h"
#include "loop_wait.h"
#include "mesos/mesos.h"
#include "mesos/url.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has(const char **names, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], want) == 0)
			return true;
	return false;
}

Test(mesos, version_cmp)
{
	cr_assert_eq(mesos_version_cmp("1.4.0", "1.4.0"), 0);
	cr_assert_lt(mesos_version_cmp("1.4.0", "1.10.0"), 0, "numeric, not lexical");
	cr_assert_gt(mesos_version_cmp("1.11.0", "1.9.2"), 0);
	cr_assert_lt(mesos_version_cmp("1.3.2", MESOS_OLDEST_SUPPORTED), 0);
	cr_assert_eq(mesos_version_cmp("1.4", "1.4.0"), 0, "a missing part counts 0");
	cr_assert_gt(mesos_version_cmp("1.6.0-rc1", "1.5.9"), 0);
	cr_assert_eq(mesos_version_cmp("x", "0.0.0"), 0, "unparsable counts 0");
}

/* include/mesos/v1/mesos.proto, FrameworkInfo.Capability at each tag:
 * TASK_KILLING_STATE 1.0.0, PARTITION_AWARE 1.1.0, MULTI_ROLE 1.2.0,
 * RESERVATION_REFINEMENT 1.4.0. */
Test(mesos, capabilities_per_release)
{
	const char *names[8];
	size_t n = mesos_capabilities_for("1.1.0", names, 8);
	cr_assert_eq(n, 2);
	cr_assert(has(names, n, "PARTITION_AWARE") && has(names, n, "TASK_KILLING_STATE"));
	cr_assert_not(has(names, n, "MULTI_ROLE"));

	n = mesos_capabilities_for("1.3.1", names, 8);
	cr_assert_eq(n, 3);
	cr_assert_not(has(names, n, "RESERVATION_REFINEMENT"));

	for (const char *const *v = (const char *const[]){"1.4.0", "1.6.2", "1.11.0", NULL}; *v;
	     v++) {
		n = mesos_capabilities_for(*v, names, 8);
		cr_assert_eq(n, 4, "%s", *v);
		cr_assert(has(names, n, "RESERVATION_REFINEMENT"), "%s", *v);
		cr_assert(has(names, n, "MULTI_ROLE"), "%s", *v);
	}
}

Test(mesos, unknown_release_gets_the_oldest_supported_set)
{
	const char *a[8], *b[8];
	size_t na = mesos_capabilities_for(NULL, a, 8);
	size_t nb = mesos_capabilities_for(MESOS_OLDEST_SUPPORTED, b, 8);
	cr_assert_eq(na, nb);
	cr_assert_eq(mesos_capabilities_for("", a, 8), nb);
	cr_assert_eq(mesos_capabilities_for("1.11.0", a, 2), 2, "capped");
}

/* Wording of src/master/master.cpp (1.4.0 and 1.11.0). */
Test(mesos, terminal_refusals)
{
	static const char *const terminal[] = {
		"Framework has been removed",
		"Roles { quobyte } are not present in the master's --roles",
		"Roles { quobyte } are not present in master's --roles",
		"User 'root' is not allowed to run frameworks without --root_submissions set",
		"Not authorized to register framework with principal 'p' and role 'quobyte'",
		"Not authorized to use roles 'quobyte'",
		"Suppressed role 'x' is not contained in the list of roles",
		"The framework failover_timeout (-1) is invalid",
		"SUBSCRIBE answered 400: Failed to convert JSON into Call protobuf: Not expecting "
		"a JSON string for field 'nanoseconds'",
	};
	for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++) {
		char remedy[320] = "";
		cr_assert(mesos_refusal_remedy(terminal[i], remedy, sizeof remedy), "%s",
			  terminal[i]);
		cr_assert_gt(strlen(remedy), 20, "a way out is named for '%s'", terminal[i]);
	}
	char remedy[320];
	cr_assert(mesos_refusal_remedy("Framework has been removed", remedy, sizeof remedy));
	cr_assert_not_null(strstr(remedy, "/v1/framework/reset"));

	static const char *const transient[] = {
		"Framework failed over",
		"Authorization failure: could not create ObjectApprovers for a framework: timeout",
		"Re-authentication in progress",
		"Framework disconnected",
		"",
	};
	for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
		char r[320] = "";
		cr_assert_not(mesos_refusal_remedy(transient[i], r, sizeof r), "%s", transient[i]);
	}
}

static void redirect_is(const char *leader, const char *loc, const char *want)
{
	char *got = mesos_url_redirect(leader, loc, "/api/v1/scheduler");
	if (!want)
		cr_assert_null(got, "%s + %s: unusable, got %s", leader, loc, got);
	else
		cr_assert(got && strcmp(got, want) == 0, "%s + %s: want %s, got %s", leader, loc,
			  want, got ? got : "NULL");
	free(got);
}

/* src/master/http.cpp redirect() (1.4.0 ... 1.11.0): "//" + hostname + ":"
 * + port + the request's path, protocol-relative. */
Test(mesos, redirect_targets)
{
	redirect_is("http://m1:5050", "//m2:5050/api/v1/scheduler",
		    "http://m2:5050/api/v1/scheduler");
	redirect_is("https://m1:5050", "//m2:5051/master/api/v1/scheduler",
		    "https://m2:5051/master/api/v1/scheduler");
	redirect_is("http://m1:5050", "https://m2:5050/api/v1/scheduler",
		    "https://m2:5050/api/v1/scheduler");
	redirect_is("https://m1:5050", "http://m2:5050/x", "http://m2:5050/x");
	/* /redirect's answer: no path, so the scheduler's */
	redirect_is("http://m1:5050", "//m2:5050", "http://m2:5050/api/v1/scheduler");
	redirect_is("http://m1:5050", "//10.0.0.2:5050", "http://10.0.0.2:5050/api/v1/scheduler");
	redirect_is("http://m1:5050", "//m2:5050/a b", "http://m2:5050/api/v1/scheduler");
	redirect_is("http://[::1]:5050", "//[fe80::1]:5050/api/v1/scheduler",
		    "http://[fe80::1]:5050/api/v1/scheduler");
	/* unusable */
	redirect_is("http://m1:5050", "", NULL);
	redirect_is("http://m1:5050", "/api/v1/scheduler", NULL);
	redirect_is("http://m1:5050", "api/v1/scheduler", NULL);
	redirect_is("http://m1:5050", "ftp://m2/x", NULL);
	redirect_is("http://m1:5050", "//user:pw@m2:5050/x", NULL);
	redirect_is("http://m1:5050", "//m2_x:5050/x", NULL);
	redirect_is("http://m1:5050", "//m2:notaport/x", NULL);
	/* fuzz_mesos_url: a protocol-relative Location keeps the leader's
	 * scheme, so only an http(s) leader yields a usable target */
	redirect_is("Ftp:/%5", "//v/v", NULL);
	redirect_is("ftp://m1:21", "//m2:5050/api/v1/scheduler", NULL);
}

Test(mesos, url_with_path_and_same_master)
{
	char *e = mesos_url_with_path("http://m1:5050", "/api/v1/scheduler");
	cr_assert_str_eq(e, "http://m1:5050/api/v1/scheduler");
	free(e);
	e = mesos_url_with_path("https://[::1]:5443", "/version");
	cr_assert_str_eq(e, "https://[::1]:5443/version");
	free(e);
	cr_assert(mesos_url_same_master("http://m1:5050/api/v1/scheduler", "http://m1:5050"));
	cr_assert(mesos_url_same_master("http://M1:80/x", "http://m1"), "default port, any case");
	cr_assert_not(mesos_url_same_master("https://m1:5050/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("http://m1:5051/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("http://m2:5050/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master(NULL, "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("", "http://m1:5050"));
}

/* Mesos's validateID (src/common/validation.cpp, 1.4.0 and 1.11.0). */
Test(mesos, id_valid)
{
	char longest[257];
	memset(longest, 'a', 255);
	longest[255] = '\0';
	cr_expect(mesos_id_valid("2d3f6a1e-0000-4000-8000-000000000001-0000"));
	cr_expect(mesos_id_valid(longest));
	longest[255] = 'a';
	longest[256] = '\0';
	cr_expect(!mesos_id_valid(longest), "256 bytes");
	cr_expect(!mesos_id_valid(""));
	cr_expect(!mesos_id_valid(NULL));
	cr_expect(!mesos_id_valid("."));
	cr_expect(!mesos_id_valid(".."));
	cr_expect(mesos_id_valid("..."));
	cr_expect(!mesos_id_valid("a/b"));
	cr_expect(!mesos_id_valid("a\\b"));
	cr_expect(!mesos_id_valid("000000\x10" "0-0000"), "control character");
	cr_expect(!mesos_id_valid("a\x7f"));
}

/* A SUBSCRIBED whose framework id the store could not keep is refused by
 * the client (found by fuzz_events: tests/fuzz/seeds/events/
 * regress-subscribed-ctrl-framework-id.rio; the id was saved and the
 * coordinator could not read its own state back). */
Test(mesos, subscribed_framework_id)
{
	const char *good = "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
			   "{\"value\":\"fw-0000\"},\"heartbeat_interval_seconds\":15}}";
	const char *bad[] = {
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
		"{\"value\":\"000000\\u00100-0000\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"a/b\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":7}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{}}",
		"{\"type\":\"SUBSCRIBED\"}",
	};
	cJSON *ev = cJSON_Parse(good);
	cr_assert_not_null(ev);
	cr_expect_str_eq(mesos_subscribed_framework_id(ev), "fw-0000");
	cJSON_Delete(ev);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ev = cJSON_Parse(bad[i]);
		cr_assert_not_null(ev, "%s", bad[i]);
		cr_expect_null(mesos_subscribed_framework_id(ev), "%s", bad[i]);
		cJSON_Delete(ev);
	}
	cr_expect_null(mesos_subscribed_framework_id(NULL));
}

/* ---- mesos_drain, against a master of our own ----------------------------
 * libmicrohttpd on its own threads: GET /version, SUBSCRIBE answered with
 * an open stream (SUBSCRIBED, then a HEARTBEAT each time the test asks for
 * one), every other call answered 202 after hold_ms. */

#define DRAIN_SUBSCRIBED                                                                           \
	"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"drain-fw\"},"      \
	"\"heartbeat_interval_seconds\":60}}"
#define DRAIN_HEARTBEAT "{\"type\":\"HEARTBEAT\"}"

static struct {
	struct MHD_Daemon *d;
	atomic_bool stop;
	atomic_int hold_ms;    /* before a call is answered */
	atomic_int heartbeats; /* sent after SUBSCRIBED */
	atomic_int calls;      /* answered */
	atomic_int streams_closed;
} fm;

static ssize_t fm_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	char text[1024];
	for (;;) {
		int n = snprintf(text, sizeof text, "%zu\n%s", strlen(DRAIN_SUBSCRIBED),
				 DRAIN_SUBSCRIBED);
		for (int i = 0; i < atomic_load(&fm.heartbeats) && n < 900; i++)
			n += snprintf(text + n, sizeof text - (size_t)n, "%zu\n%s",
				      strlen(DRAIN_HEARTBEAT), DRAIN_HEARTBEAT);
		if (pos < (uint64_t)n) {
			size_t k = (size_t)n - (size_t)pos;
			k = k < max ? k : max;
			memcpy(buf, text + pos, k);
			return (ssize_t)k;
		}
		if (atomic_load(&fm.stop))
			return MHD_CONTENT_READER_END_OF_STREAM;
		usleep(5 * 1000);
	}
}

static enum MHD_Result fm_reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rv = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rv;
}

struct fm_upload {
	char body[4096];
	size_t len;
};

static enum MHD_Result fm_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	(void)cls, (void)version;
	if (strcmp(method, "GET") == 0)
		return strcmp(url, "/version") == 0
			       ? fm_reply(conn, 200, "{\"version\":\"1.11.0\"}")
			       : fm_reply(conn, 404, "");
	struct fm_upload *u = *con_cls;
	if (!u) {
		*con_cls = calloc(1, sizeof *u);
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t k = *data_size < sizeof u->body - 1 - u->len ? *data_size
								    : sizeof u->body - 1 - u->len;
		memcpy(u->body + u->len, data, k);
		u->len += k;
		*data_size = 0;
		return MHD_YES;
	}
	if (strstr(u->body, "\"SUBSCRIBE\"")) {
		struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
									   fm_stream, NULL, NULL);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "Mesos-Stream-Id", "drain-stream");
		enum MHD_Result rv = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
		return rv;
	}
	for (int waited = 0; waited < atomic_load(&fm.hold_ms) && !atomic_load(&fm.stop);
	     waited += 5)
		usleep(5 * 1000);
	atomic_fetch_add(&fm.calls, 1);
	return fm_reply(conn, 202, "");
}

static void fm_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)conn, (void)why;
	free(*con_cls);
	*con_cls = NULL;
}

/* ---- the scheduler side ---- */

static struct ev_loop *dloop;
static struct mesos_client *dmc;
static bool dsubscribed;
static int devents; /* events handed to the owner */
static int ddisconnected;
static int ddone_runs; /* times done ran */
static bool in_send;   /* inside mesos_send (done must never run there) */
static struct mesos_drain_report dreport;

static void d_subscribed(void *arg, const char *fid, double hb, const cJSON *ev)
{
	(void)arg, (void)fid, (void)hb, (void)ev;
	dsubscribed = true;
}
static void d_event(void *arg, const char *type, const cJSON *ev, void *prepared)
{
	(void)arg, (void)type, (void)ev, (void)prepared;
	devents++;
}
static void d_disconnected(void *arg, const char *why)
{
	(void)arg, (void)why;
	ddisconnected++;
}
static void d_done(void *arg, const struct mesos_drain_report *r)
{
	cr_expect_eq(arg, &dreport);
	cr_expect(!in_send, "done ran inside mesos_send");
	ddone_runs++;
	dreport = *r;
}

static const struct mesos_handlers dhandlers = {
	.subscribed = d_subscribed, .event = d_event, .disconnected = d_disconnected};

static void drun(bool (*done)(void), uint64_t ms)
{
	run_until(dloop, done, ms);
}
static bool d_is_subscribed(void)
{
	return dsubscribed;
}
static bool d_drained(void)
{
	return ddone_runs > 0;
}
static bool d_never(void)
{
	return false;
}
static int want_events;
static bool d_enough_events(void)
{
	return devents >= want_events;
}

static void drain_setup(void)
{
	memset(&fm, 0, sizeof fm);
	fm.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
				NULL, NULL, fm_request, NULL, MHD_OPTION_NOTIFY_COMPLETED, fm_done,
				NULL, MHD_OPTION_END);
	cr_assert_not_null(fm.d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(fm.d, MHD_DAEMON_INFO_BIND_PORT);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)di->port);
	dloop = ev_loop_new();
	struct mesos_config cfg = {
		.master = url, .user = "root", .name = "drain-test", .role = "quobyte"};
	dsubscribed = false;
	devents = ddisconnected = ddone_runs = 0;
	memset(&dreport, 0, sizeof dreport);
	dmc = mesos_new(dloop, &cfg, &dhandlers, &dreport);
	cr_assert_not_null(dmc);
	mesos_start(dmc, NULL);
	drun(d_is_subscribed, 10000);
	cr_assert(dsubscribed, "never SUBSCRIBED to the test master");
}

static void drain_teardown(void)
{
	atomic_store(&fm.stop, true);
	mesos_free(dmc);
	ev_loop_free(dloop);
	MHD_stop_daemon(fm.d);
}

static int send_ack(void)
{
	in_send = true;
	int rv = mesos_send(
		dmc, mesos_call_acknowledge("agent-1", "task-1", "AAAAAAAAAAAAAAAAAAAAAA=="));
	in_send = false;
	return rv;
}

TestSuite(mesos_drain, .init = drain_setup, .fini = drain_teardown, .timeout = 60);

Test(mesos_drain, nothing_pending_ends_on_the_next_iteration)
{
	cr_assert_eq(mesos_drain(dmc, 5000, d_done, &dreport), 0);
	cr_assert_eq(ddone_runs, 0, "done ran inside mesos_drain");
	uint64_t t0 = ev_now_ms();
	drun(d_drained, 5000);
	cr_assert_eq(ddone_runs, 1);
	cr_assert_lt(ev_now_ms() - t0, 1000);
	cr_assert(!dreport.timed_out);
	cr_assert_eq(dreport.calls, 0);
	drun(d_never, 100);
	cr_assert_eq(ddone_runs, 1, "done runs once");
}

Test(mesos_drain, calls_in_flight_are_answered_on_the_open_stream_and_nothing_new_starts)
{
	atomic_store(&fm.hold_ms, 300);
	cr_assert_eq(send_ack(), 0);
	cr_assert_eq(mesos_send(dmc, mesos_call_revive("quobyte")), 0);
	cr_assert_eq(mesos_calls_pending(dmc), 2);
	cr_assert_eq(mesos_drain(dmc, 5000, d_done, &dreport), 2);
	/* new work is refused, an acknowledgement is taken and waited for */
	cr_assert_eq(mesos_send(dmc, mesos_call_revive("quobyte")), QM_EAGAIN);
	cr_assert_eq(send_ack(), 0);
	/* an event arriving meanwhile is not handled */
	int before = devents;
	atomic_fetch_add(&fm.heartbeats, 1);
	drun(d_drained, 5000);
	cr_assert_eq(ddone_runs, 1);
	cr_assert(!dreport.timed_out);
	cr_assert_eq(dreport.calls, 3);
	cr_assert_eq(dreport.answered, 3);
	cr_assert_eq(dreport.failed, 0);
	cr_assert_eq(dreport.dropped, 0);
	cr_assert_geq(dreport.took_ms, 250);
	cr_assert_eq(atomic_load(&fm.calls), 3);
	cr_assert_eq(ddisconnected, 0, "the stream stayed open");
	cr_assert(mesos_subscribed(dmc));
	drun(d_never, 100);
	cr_assert_eq(devents, before, "an event was handled during the drain");
	cr_assert_eq(ddone_runs, 1);
}

Test(mesos_drain, the_bound_ends_it_and_counts_what_was_left)
{
	atomic_store(&fm.hold_ms, 10000);
	cr_assert_eq(send_ack(), 0);
	cr_assert_eq(mesos_drain(dmc, 200, d_done, &dreport), 1);
	uint64_t t0 = ev_now_ms();
	drun(d_drained, 5000);
	cr_assert_eq(ddone_runs, 1);
	cr_assert(dreport.timed_out);
	cr_assert_eq(dreport.dropped, 1);
	cr_assert_eq(dreport.answered, 0);
	cr_assert_geq(ev_now_ms() - t0, 150);
	cr_assert_lt(ev_now_ms() - t0, 2000);
	cr_assert_eq(mesos_calls_pending(dmc), 1, "left for mesos_free");
}

Test(mesos_drain, before_the_drain_events_are_handled)
{
	/* the control case of the test above: the same event reaches the
	 * owner when no drain runs */
	want_events = devents + 1;
	atomic_fetch_add(&fm.heartbeats, 1);
	drun(d_enough_events, 5000);
	cr_assert_eq(devents, want_events);
}
