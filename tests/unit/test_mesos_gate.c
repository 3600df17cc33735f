/* The Mesos client's send gate (mesos_handlers.may_send): a scheduler that
 * can no longer be sure it leads -- a leader paused past its ZooKeeper
 * lease wakes up with a stream id the master already gave its successor --
 * must send nothing. Checked against a master of our own (libmicrohttpd,
 * its own thread) that answers GET /version, streams SUBSCRIBED and
 * counts every other call it receives: what the gate holds back must
 * never reach it, neither a new call nor one already queued. */
#include "evloop.h"
#include "loop_wait.h"
#include "mesos/mesos.h"
#include "qm_error.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUBSCRIBED_REC                                                                             \
	"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"gate-fw\"},"       \
	"\"heartbeat_interval_seconds\":60}}"

static struct {
	struct MHD_Daemon *d;
	atomic_bool stop;
	pthread_mutex_t mu;
	int calls;     /* non-SUBSCRIBE calls received */
	char last[32]; /* the last one's type */
} master = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct upload {
	char *body;
	size_t len;
};

/* What the master streams: SUBSCRIBED as one RecordIO record, then the
 * records a test put in stream_more (RecordIO-framed), then an open stream
 * until the end */
static char *stream_more;
static size_t stream_more_len;
/* with it, the first stream ends after stream_more, and the ones after it
 * carry SUBSCRIBED only */
static atomic_bool first_stream_ends;
static atomic_int streams;

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	int nth = (int)(intptr_t)cls; /* 1 = the first stream */
	bool ends = atomic_load(&first_stream_ends);
	char rec[512];
	int n = snprintf(rec, sizeof rec, "%zu\n%s", strlen(SUBSCRIBED_REC), SUBSCRIBED_REC);
	if (pos < (uint64_t)n) {
		size_t k = (size_t)n - (size_t)pos;
		k = k < max ? k : max;
		memcpy(buf, rec + pos, k);
		return (ssize_t)k;
	}
	pos -= (uint64_t)n;
	if (pos < stream_more_len && (!ends || nth == 1)) {
		size_t k = stream_more_len - (size_t)pos;
		k = k < max ? k : max;
		memcpy(buf, stream_more + pos, k);
		return (ssize_t)k;
	}
	if (ends && nth == 1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	while (!atomic_load(&master.stop))
		usleep(10 * 1000);
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rv = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	(void)cls, (void)version;
	if (strcmp(method, "GET") == 0)
		return strcmp(url, "/version") == 0 ? reply(conn, 200, "{\"version\":\"1.11.0\"}")
						    : reply(conn, 404, "");
	struct upload *u = *con_cls;
	if (!u) {
		*con_cls = qm_calloc(1, sizeof *u);
		return MHD_YES;
	}
	if (*data_size) {
		u->body = qm_realloc(u->body, u->len + *data_size + 1);
		memcpy(u->body + u->len, data, *data_size);
		u->len += *data_size;
		u->body[u->len] = '\0';
		*data_size = 0;
		return MHD_YES;
	}
	cJSON *j = cJSON_ParseWithLength(u->body ? u->body : "", u->len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
	const char *type = cJSON_IsString(t) ? t->valuestring : "?";
	enum MHD_Result rv;
	if (strcmp(type, "SUBSCRIBE") == 0) {
		struct MHD_Response *r = MHD_create_response_from_callback(
			MHD_SIZE_UNKNOWN, 1024, stream_reader,
			(void *)(intptr_t)atomic_fetch_add(&streams, 1) + 1, NULL);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "Mesos-Stream-Id", "gate-stream");
		rv = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
	} else {
		pthread_mutex_lock(&master.mu);
		master.calls++;
		snprintf(master.last, sizeof master.last, "%s", type);
		pthread_mutex_unlock(&master.mu);
		rv = reply(conn, 202, "");
	}
	cJSON_Delete(j);
	return rv;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)conn, (void)why;
	struct upload *u = *con_cls;
	if (u)
		free(u->body);
	free(u);
	*con_cls = NULL;
}

static int calls_received(char *last, size_t cap)
{
	pthread_mutex_lock(&master.mu);
	int n = master.calls;
	if (last)
		snprintf(last, cap, "%s", master.last);
	pthread_mutex_unlock(&master.mu);
	return n;
}

/* ---- the scheduler side ------------------------------------------------ */

static atomic_bool allowed;
static bool subscribed;
static atomic_int nsubscribed;
static atomic_bool hold_prepare; /* prepare waits for the 2nd SUBSCRIBE call */

static bool may_send(void *arg)
{
	(void)arg;
	return atomic_load(&allowed);
}

static void on_subscribed(void *arg, const char *fid, double hb, const cJSON *ev)
{
	(void)arg, (void)fid, (void)hb, (void)ev;
	subscribed = true;
	atomic_fetch_add(&nsubscribed, 1);
}

/* What reached the handlers, in order: one line per event, "TYPE" or
 * "TYPE+<what prepare made>" */
static char seen[16][64];
static int nseen, prepared_freed;
static char dropped_why[200];

/* For an OFFERS event parsed on the parser thread: its number of offers,
 * as a string (pure, as prepare must be) */
static void *prepare(const cJSON *ev)
{
	const cJSON *offers = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "offers"), "offers");
	if (!cJSON_IsArray(offers))
		return NULL; /* as the coordinator's: only OFFERS are prepared */
	for (int i = 0; i < 1000 && atomic_load(&hold_prepare) && atomic_load(&streams) < 2; i++)
		usleep(10 * 1000);
	char *s = qm_malloc(24);
	snprintf(s, 24, "%d", cJSON_GetArraySize(offers));
	return s;
}

static void prepared_free(void *p)
{
	prepared_freed++;
	free(p);
}

static int slow_first_ms; /* the first event takes this long to handle */

static void on_event(void *arg, const char *type, const cJSON *ev, void *prepared)
{
	(void)arg, (void)ev;
	if (nseen == 0 && slow_first_ms)
		usleep((useconds_t)slow_first_ms * 1000);
	if (nseen < 16)
		snprintf(seen[nseen++], sizeof seen[0], "%s%s%s", type, prepared ? "+" : "",
			 prepared ? (const char *)prepared : "");
}

static void on_disconnected(void *arg, const char *why)
{
	(void)arg;
	snprintf(dropped_why, sizeof dropped_why, "%s", why);
}

static const struct mesos_handlers handlers = {
	.subscribed = on_subscribed,
	.event = on_event,
	.prepare = prepare,
	.prepared_free = prepared_free,
	.disconnected = on_disconnected,
	.may_send = may_send,
};

static bool is_subscribed(void)
{
	return subscribed;
}
static bool never(void)
{
	return false;
}
static int want_calls;
static bool enough_calls(void)
{
	return calls_received(NULL, 0) >= want_calls;
}

static struct ev_loop *loop;
static struct mesos_client *mc;

static void setup_with(size_t parse_off_loop_min)
{
	atomic_store(&master.stop, false);
	master.calls = 0;
	master.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				    0, NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED,
				    on_done, NULL, MHD_OPTION_END);
	cr_assert_not_null(master.d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(master.d, MHD_DAEMON_INFO_BIND_PORT);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)di->port);
	loop = ev_loop_new();
	struct mesos_config cfg = {
		.master = url, .user = "root", .name = "gate-test", .role = "quobyte",
		.parse_off_loop_min = parse_off_loop_min};
	atomic_store(&allowed, true);
	subscribed = false;
	atomic_store(&nsubscribed, 0);
	atomic_store(&streams, 0);
	mc = mesos_new(loop, &cfg, &handlers, NULL);
	cr_assert_not_null(mc);
	mesos_start(mc, NULL);
	run_until(loop, is_subscribed, 10000);
	cr_assert(subscribed, "never SUBSCRIBED to the test master");
}

static void setup(void)
{
	setup_with(0);
}

static void teardown(void)
{
	atomic_store(&first_stream_ends, false);
	atomic_store(&hold_prepare, false);
	atomic_store(&master.stop, true);
	mesos_free(mc);
	ev_loop_free(loop);
	MHD_stop_daemon(master.d);
	free(stream_more);
	stream_more = NULL;
	stream_more_len = 0;
}

/* The gate opens again: the next call reaches the master, and it is the
 * only call that ever did. */
static void reopen_and_see_only_the_next_call(void)
{
	atomic_store(&allowed, true);
	cr_assert_eq(mesos_send(mc, mesos_call_suppress("quobyte")), 0);
	want_calls = 1;
	run_until(loop, enough_calls, 10000);
	run_until(loop, never, 200);
	char last[32];
	cr_assert_eq(calls_received(last, sizeof last), 1);
	cr_assert_str_eq(last, "SUPPRESS");
}

TestSuite(mesos_gate, .init = setup, .fini = teardown, .timeout = 60);

Test(mesos_gate, a_closed_gate_refuses_a_call_and_nothing_reaches_the_master)
{
	atomic_store(&allowed, false);
	cr_assert_eq(mesos_send(mc, mesos_call_revive("quobyte")), QM_EAGAIN);
	run_until(loop, never, 300);
	cr_assert_eq(calls_received(NULL, 0), 0);
	reopen_and_see_only_the_next_call();
}

Test(mesos_gate, calls_queued_before_the_gate_closes_are_dropped_unsent)
{
	/* taken while the gate is open: queued for the loop's next flush */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(mesos_send(mc, mesos_call_revive("quobyte")), 0);
	atomic_store(&allowed, false); /* the lease is lost before the flush */
	run_until(loop, never, 300);
	cr_assert_eq(calls_received(NULL, 0), 0, "a call queued before the gate closed went out");
	reopen_and_see_only_the_next_call();
}

/* ---- big records are parsed off the loop, in the stream's order --------- */

static void stream_add(const char *rec)
{
	char hdr[24];
	int h = snprintf(hdr, sizeof hdr, "%zu\n", strlen(rec));
	stream_more = qm_realloc(stream_more, stream_more_len + (size_t)h + strlen(rec));
	memcpy(stream_more + stream_more_len, hdr, (size_t)h);
	memcpy(stream_more + stream_more_len + h, rec, strlen(rec));
	stream_more_len += (size_t)h + strlen(rec);
}

/* An OFFERS event of n offers, each padded so that the record is big */
static char *big_offers(int n)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "OFFERS");
	cJSON *list = cJSON_AddArrayToObject(cJSON_AddObjectToObject(ev, "offers"), "offers");
	char pad[1024];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "hostname", pad);
		cJSON_AddItemToArray(list, o);
	}
	char *text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	return text;
}

static const char *const HEARTBEAT_REC = "{\"type\":\"HEARTBEAT\"}";
#define PARSE_MIN (16u << 10)

static int want_seen;
static bool enough_seen(void)
{
	return nseen >= want_seen;
}
static bool was_dropped(void)
{
	return dropped_why[0] != '\0';
}

static void stream_records(void)
{
	qm_cjson_policy(); /* as the coordinator: trees in arenas (jarena.h) */
	nseen = prepared_freed = 0;
	slow_first_ms = 0;
	dropped_why[0] = '\0';
	char *big = big_offers(40); /* ~40 KiB: over PARSE_MIN */
	cr_assert_gt(strlen(big), PARSE_MIN);
	stream_add(HEARTBEAT_REC);   /* small: on the loop */
	stream_add(big);             /* big: off the loop */
	stream_add(HEARTBEAT_REC);   /* small, but behind a big one */
	stream_add("not JSON at all"); /* logged and skipped, the stream goes on */
	stream_add("{\"type\":\"RESCIND\",\"rescind\":{}}");
	free(big);
}

static void stream_setup(void)
{
	stream_records();
	setup_with(PARSE_MIN);
}

/* the same, then an ERROR and one more event */
static void stream_setup_error(void)
{
	stream_records();
	stream_add("{\"type\":\"ERROR\",\"error\":{\"message\":\"test error\"}}");
	stream_add(HEARTBEAT_REC);
	setup_with(PARSE_MIN);
}

/* stream_records()'s events, once each and in the stream's order: the
 * small record on the loop, the big OFFERS with what prepare made of it on
 * the parser thread, the small record behind it after it, and the RESCIND
 * after the record that was not JSON */
static void assert_the_four_events(void)
{
	for (int i = 0; i < nseen; i++)
		cr_log_info("event %d: %s", i, seen[i]);
	cr_assert_eq(nseen, 4, "events handled: %d", nseen);
	cr_assert_str_eq(seen[0], "HEARTBEAT");
	cr_assert_str_eq(seen[1], "OFFERS+40", "the big OFFERS, prepared: %s", seen[1]);
	cr_assert_str_eq(seen[2], "HEARTBEAT");
	cr_assert_str_eq(seen[3], "RESCIND");
}

TestSuite(mesos_stream, .init = stream_setup, .fini = teardown, .timeout = 60);

Test(mesos_stream, records_behind_a_big_one_wait_for_it_and_keep_their_order)
{
	want_seen = 4;
	run_until(loop, enough_seen, 10000);
	run_until(loop, never, 200);
	assert_the_four_events();
	cr_assert_eq(prepared_freed, 1, "what prepare made is freed once");
	struct mesos_status st;
	mesos_status(mc, &st);
	cr_assert_eq(st.records_off_loop, 4, "the big record and the three behind it");
	cr_assert_eq(st.records_refused, 0);
	cr_assert(mesos_subscribed(mc), "the stream goes on");
}

/* the ERROR is handled on the loop once the parser gives it back; the
 * stream is dropped then, and nothing after the ERROR is handled */
TestSuite(mesos_stream_error, .init = stream_setup_error, .fini = teardown, .timeout = 60);

Test(mesos_stream_error, an_error_behind_a_big_record_drops_the_stream_after_it)
{
	run_until(loop, was_dropped, 10000);
	run_until(loop, never, 200);
	cr_assert_str_eq(dropped_why, "master sent ERROR: test error");
	assert_the_four_events(); /* and nothing after the ERROR */
}

/* A burst the loop cannot keep up with: the first event takes 60 ms to
 * handle, so the chunks after it, read in the same socket action, wait for
 * the next loop iteration (the stream pauses) -- and every event still
 * arrives, once and in order. */
static void stream_setup_slow(void)
{
	stream_records();
	slow_first_ms = 60;
	setup_with(PARSE_MIN);
}

TestSuite(mesos_stream_slow, .init = stream_setup_slow, .fini = teardown, .timeout = 60);

Test(mesos_stream_slow, a_burst_past_the_feed_budget_pauses_and_loses_nothing)
{
	want_seen = 4;
	run_until(loop, enough_seen, 10000);
	run_until(loop, never, 200);
	assert_the_four_events();
	struct mesos_status st;
	mesos_status(mc, &st);
	cr_assert_geq(st.stream_pauses, 1, "the stream paused after the slow event");
	cr_assert(mesos_subscribed(mc));
}

/* The stream ends while its big OFFERS is still on the parser thread, and
 * the client subscribes again before that record comes back: the record,
 * and the ones queued behind it, are of a stream that is gone. They are
 * dropped unhandled and uncounted (their offers are not the new stream's:
 * the master has taken them back) -- not taken for early events of the
 * new stream. */
static void stream_setup_ends(void)
{
	stream_records();
	atomic_store(&first_stream_ends, true);
	atomic_store(&hold_prepare, true);
	setup_with(PARSE_MIN);
}

static bool subscribed_twice(void)
{
	return atomic_load(&nsubscribed) >= 2;
}

TestSuite(mesos_stream_ends, .init = stream_setup_ends, .fini = teardown, .timeout = 60);

Test(mesos_stream_ends, records_of_a_stream_gone_are_dropped_after_a_new_subscribe)
{
	run_until(loop, subscribed_twice, 20000);
	cr_assert_geq(atomic_load(&nsubscribed), 2, "never subscribed again");
	run_until(loop, never, 300); /* the held record comes back meanwhile */
	for (int i = 0; i < nseen; i++)
		cr_log_info("event %d: %s", i, seen[i]);
	cr_assert_eq(nseen, 1, "events handled: %d (the first: %s)", nseen, seen[0]);
	cr_assert_str_eq(seen[0], "HEARTBEAT");
	cr_assert_eq(prepared_freed, 1, "what prepare made is freed once");
	cr_assert(dropped_why[0], "the end of the first stream was said");
	cr_assert(mesos_subscribed(mc));
	struct mesos_status st;
	mesos_status(mc, &st);
	/* at most the new SUBSCRIBED, when it queued behind the old records */
	cr_assert_leq(st.records_off_loop, 1, "records of the old stream counted: %llu",
		      (unsigned long long)st.records_off_loop);
}
