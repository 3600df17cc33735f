/* The Mesos client's send gate (mesos_handlers.may_send): a scheduler that
 * can no longer be sure it leads -- a leader paused past its ZooKeeper
 * lease wakes up with a stream id the master already gave its successor --
 * must send nothing. Checked against a master of our own (libmicrohttpd,
 * its own thread) that answers GET /version, streams SUBSCRIBED and
 * counts every other call it receives: what the gate holds back must
 * never reach it, neither a new call nor one already queued. */
#include "evloop.h"
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

/* SUBSCRIBED as one RecordIO record, then an open stream until the end */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	char rec[512];
	int n = snprintf(rec, sizeof rec, "%zu\n%s", strlen(SUBSCRIBED_REC), SUBSCRIBED_REC);
	if (pos < (uint64_t)n) {
		size_t k = (size_t)n - (size_t)pos;
		k = k < max ? k : max;
		memcpy(buf, rec + pos, k);
		return (ssize_t)k;
	}
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
			MHD_SIZE_UNKNOWN, 1024, stream_reader, NULL, NULL);
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

static bool may_send(void *arg)
{
	(void)arg;
	return atomic_load(&allowed);
}

static void on_subscribed(void *arg, const char *fid, double hb, const cJSON *ev)
{
	(void)arg, (void)fid, (void)hb, (void)ev;
	subscribed = true;
}

static void on_event(void *arg, const char *type, const cJSON *ev)
{
	(void)arg, (void)type, (void)ev;
}

static const struct mesos_handlers handlers = {
	.subscribed = on_subscribed,
	.event = on_event,
	.may_send = may_send,
};

struct wait {
	struct ev_loop *loop;
	bool (*done)(void);
	uint64_t until;
};

static void poll_cb(struct ev_loop *loop, void *arg)
{
	struct wait *w = arg;
	if (w->done() || ev_now_ms() >= w->until)
		ev_stop(loop);
	else
		ev_timer_add(loop, 10, poll_cb, w);
}

/* Run the loop until done() or ms have passed. */
static void run_until(struct ev_loop *loop, bool (*done)(void), uint64_t ms)
{
	struct wait w = {loop, done, ev_now_ms() + ms};
	ev_timer_add(loop, 10, poll_cb, &w);
	cr_assert_eq(ev_run(loop), 0);
}

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

static void setup(void)
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
		.master = url, .user = "root", .name = "gate-test", .role = "quobyte"};
	atomic_store(&allowed, true);
	subscribed = false;
	mc = mesos_new(loop, &cfg, &handlers, NULL);
	cr_assert_not_null(mc);
	mesos_start(mc, NULL);
	run_until(loop, is_subscribed, 10000);
	cr_assert(subscribed, "never SUBSCRIBED to the test master");
}

static void teardown(void)
{
	atomic_store(&master.stop, true);
	mesos_free(mc);
	ev_loop_free(loop);
	MHD_stop_daemon(master.d);
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
