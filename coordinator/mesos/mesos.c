#include "mesos/mesos.h"

#include "clock.h"
#include "log.h"
#include "mesos/client.h"
#include "mesos/queue.h"
#include "mesos/subscribe.h"
#include "qm_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_or_null(const char *s)
{
	return s && *s ? qm_strdup(s) : NULL;
}

/* --- libcurl <-> evloop glue -------------------------------------------- */

static void check_done(struct mesos_client *mc);

static void on_curl_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	int flags = 0;
	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & EV_ERR)
		flags |= CURL_CSELECT_ERR;
	int running;
	mc->feed_from_ms = clock_mono_ms();
	curl_multi_socket_action(mc->multi, fd, flags, &running);
	check_done(mc);
}

static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	(void)e;
	(void)sockp;
	struct mesos_client *mc = userp;
	if (what == CURL_POLL_REMOVE) {
		ev_fd_del(mc->loop, s);
		return 0;
	}
	unsigned ev = 0;
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (ev_fd_mod(mc->loop, s, ev) != 0)
		ev_fd_add(mc->loop, s, ev, on_curl_fd, mc);
	return 0;
}

static void on_curl_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->curl_timer = 0;
	mesos_curl_settle(mc);
}

void mesos_curl_settle(struct mesos_client *mc)
{
	int running;
	mc->feed_from_ms = clock_mono_ms();
	curl_multi_socket_action(mc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(mc);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct mesos_client *mc = userp;
	if (mc->curl_timer) {
		ev_timer_cancel(mc->loop, mc->curl_timer);
		mc->curl_timer = 0;
	}
	if (timeout_ms >= 0)
		mc->curl_timer = ev_timer_add(mc->loop, (uint64_t)timeout_ms, on_curl_timer, mc);
	return 0;
}

static void check_done(struct mesos_client *mc)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(mc->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct mesos_xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode res = m->data.result;
		if (x)
			mesos_xfer_status(x);
		if (x && x == mc->stream)
			mesos_sub_stream_done(mc, x, res);
		else if (x && x == mc->probe)
			mesos_sub_probe_done(mc, x, res);
		else if (x)
			mesos_queue_done(mc, x, res);
	}
}

/* --- public -------------------------------------------------------------- */

/* https masters: the CA bundle must be readable now (a typo is a start-up
 * error, not a TLS failure on every attempt); no verification is worth a
 * warning at start. */
static int tls_setup(struct mesos_client *mc, const struct mesos_config *cfg)
{
	mc->tls_insecure = cfg->tls_insecure;
	if (cfg->ca_file && *cfg->ca_file) {
		if (access(cfg->ca_file, R_OK) != 0) {
			log_error("mesos_bad_ca_file", "path=%s reason=%s", log_qs(cfg->ca_file),
				  log_qs("not readable"));
			return QM_EINVAL;
		}
		mc->ca_file = qm_strdup(cfg->ca_file);
	}
	if (mc->tls_insecure)
		log_warn("mesos_tls_insecure", "master=%s reason=%s", log_qs(mc->spec.display),
			 log_qs("--mesos-tls-insecure: the certificate of an https master is not "
				"verified; anyone on the path can pose as the master"));
	return 0;
}

struct mesos_client *mesos_new(struct ev_loop *loop, const struct mesos_config *cfg,
			       const struct mesos_handlers *h, void *arg)
{
	static bool curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return NULL;
		curl_ready = true;
	}
	struct mesos_client *mc = qm_calloc(1, sizeof *mc);
	mc->loop = loop;
	mc->h = *h;
	mc->arg = arg;
	mc->user = qm_strdup(cfg->user ? cfg->user : "root");
	mc->name = qm_strdup(cfg->name ? cfg->name : "quobyte");
	mc->role = qm_strdup(cfg->role ? cfg->role : "quobyte");
	mc->principal = dup_or_null(cfg->principal);
	mc->secret = dup_or_null(cfg->secret);
	mc->hostname = dup_or_null(cfg->hostname);
	mc->webui_url = dup_or_null(cfg->webui_url);
	mc->failover_timeout_s = cfg->failover_timeout_s;
	mc->start_suppressed = cfg->start_suppressed;
	mc->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 500;
	mc->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 15000;
	if (mc->backoff_max_ms < mc->backoff_min_ms)
		mc->backoff_max_ms = mc->backoff_min_ms;
	mc->backoff_ms = mc->backoff_min_ms;
	mc->heartbeat_misses = cfg->heartbeat_misses ? cfg->heartbeat_misses : 5;
	mc->call_timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : 75000;
	char err[400];
	if (det_spec_parse(cfg->master ? cfg->master : "127.0.0.1:5050", cfg->master_scheme,
			   &mc->spec, err, sizeof err) != 0) {
		log_error("mesos_bad_master", "reason=%s", log_qs(err));
		mc->multi = NULL;
		mesos_free(mc);
		return NULL;
	}
	if (tls_setup(mc, cfg) != 0) {
		mc->multi = NULL;
		mesos_free(mc);
		return NULL;
	}
	mc->zk_session_timeout_ms = cfg->zk_session_timeout_ms;
	mc->refused_retry_ms = cfg->refused_retry_ms ? cfg->refused_retry_ms : 300000;
	snprintf(mc->detection, sizeof mc->detection, "detection not started");
	recordio_init(&mc->rio, cfg->max_record ? cfg->max_record : RECORDIO_DEFAULT_CAP);
	mc->rio_ready = true;
	mc->parse_off_loop_min =
		cfg->parse_off_loop_min ? cfg->parse_off_loop_min : MESOS_PARSE_OFF_LOOP_MIN;
	mc->evp = evparse_new(loop, mc->h.prepare, mc->h.prepared_free, mesos_sub_parsed, mc);
	if (!mc->evp)
		log_warn("mesos_parser_thread_failed", "reason=%s action=%s", log_qs(strerror(errno)),
			 log_qs("every record is parsed on the loop"));
	mc->multi = curl_multi_init();
	if (!mc->multi) {
		mesos_free(mc);
		return NULL;
	}
	curl_multi_setopt(mc->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(mc->multi, CURLMOPT_SOCKETDATA, mc);
	curl_multi_setopt(mc->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(mc->multi, CURLMOPT_TIMERDATA, mc);
	return mc;
}

void mesos_free(struct mesos_client *mc)
{
	if (!mc)
		return;
	mc->running = false;
	/* first: no record is handed over afterwards */
	evparse_free(mc->evp);
	mc->evp = NULL;
	det_free(mc->det);
	mc->det = NULL;
	if (mc->retry)
		ev_timer_cancel(mc->loop, mc->retry);
	if (mc->watchdog)
		ev_timer_cancel(mc->loop, mc->watchdog);
	if (mc->curl_timer)
		ev_timer_cancel(mc->loop, mc->curl_timer);
	if (mc->flush_timer)
		ev_timer_cancel(mc->loop, mc->flush_timer);
	if (mc->resume_timer)
		ev_timer_cancel(mc->loop, mc->resume_timer);
	if (mc->drain_bound)
		ev_timer_cancel(mc->loop, mc->drain_bound);
	if (mc->drain_end)
		ev_timer_cancel(mc->loop, mc->drain_end);
	if (mc->multi) {
		while (mc->calls)
			mesos_xfer_free(mc->calls);
		mesos_xfer_free(mc->stream);
		mc->stream = NULL;
		mesos_xfer_free(mc->probe);
		mc->probe = NULL;
		curl_multi_cleanup(mc->multi);
	}
	if (mc->rio_ready)
		recordio_fini(&mc->rio);
	free(mc->leader);
	free(mc->version_of);
	free(mc->user);
	free(mc->name);
	free(mc->role);
	free(mc->principal);
	free(mc->secret);
	free(mc->hostname);
	free(mc->webui_url);
	free(mc->ca_file);
	free(mc->endpoint);
	free(mc->framework_id);
	free(mc->stream_id);
	free(mc);
}

void mesos_start(struct mesos_client *mc, const char *framework_id)
{
	if (framework_id && *framework_id) {
		free(mc->framework_id);
		mc->framework_id = qm_strdup(framework_id);
	}
	mc->running = true;
	mc->backoff_ms = mc->backoff_min_ms;
	if (!mc->det) {
		snprintf(mc->detection, sizeof mc->detection,
			 "waiting for the first answer "
			 "from %.250s",
			 mc->spec.display);
		mc->det = det_new(mc->loop, &mc->spec, mc->zk_session_timeout_ms,
				  mesos_sub_on_leader, mc);
	}
	if (!mc->stream && !mc->probe && !mc->retry)
		mesos_sub_retry(mc, 0);
}

void mesos_reset_framework(struct mesos_client *mc)
{
	log_warn("mesos_framework_reset", "old_framework_id=%s",
		 log_qs(mc->framework_id ? mc->framework_id : "(none)"));
	free(mc->framework_id);
	mc->framework_id = NULL;
	mc->refused = false;
	mc->refusal[0] = mc->remedy[0] = '\0';
	if (mc->stream || mc->probe)
		mesos_sub_drop(mc, "framework reset by the operator", false);
	mc->backoff_ms = mc->backoff_min_ms;
	if (mc->running)
		mesos_sub_retry(mc, 0);
}

const char *mesos_phase_name(enum mesos_phase p)
{
	static const char *const names[] = {"detecting", "connecting", "subscribed", "refused",
					    "stopped"};
	return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "?";
}

void mesos_status(const struct mesos_client *mc, struct mesos_status *out)
{
	memset(out, 0, sizeof *out);
	if (!mc->running)
		out->phase = MESOS_STOPPED;
	else if (mc->subscribed)
		out->phase = MESOS_SUBSCRIBED;
	else if (mc->refused)
		out->phase = MESOS_REFUSED;
	else if (!mc->leader)
		out->phase = MESOS_DETECTING;
	else
		out->phase = MESOS_CONNECTING;
	snprintf(out->leader, sizeof out->leader, "%s", mc->leader ? mc->leader : "");
	snprintf(out->master_version, sizeof out->master_version, "%s", mc->master_version);
	snprintf(out->detection, sizeof out->detection, "%s", mc->leader ? "" : mc->detection);
	snprintf(out->last_error, sizeof out->last_error, "%s", mc->last_error);
	snprintf(out->refusal, sizeof out->refusal, "%s", mc->refused ? mc->refusal : "");
	snprintf(out->remedy, sizeof out->remedy, "%s", mc->refused ? mc->remedy : "");
	out->refused_since_ms = mc->refused ? mc->refused_since_ms : 0;
	out->leader_changes = mc->leader_changes;
	out->attempts_failed = mc->attempts_failed;
	out->records_refused = mc->records_refused;
	out->records_off_loop = mc->records_off_loop;
	out->stream_pauses = mc->stream_pauses;
	snprintf(out->master, sizeof out->master, "%s", mc->spec.display);
}

void mesos_stop(struct mesos_client *mc)
{
	mc->running = false;
	if (mc->retry) {
		ev_timer_cancel(mc->loop, mc->retry);
		mc->retry = 0;
	}
	if (mc->stream || mc->probe)
		mesos_sub_drop(mc, "stopped by the coordinator", false);
}

bool mesos_subscribed(const struct mesos_client *mc)
{
	return mc->subscribed;
}
const char *mesos_framework_id(const struct mesos_client *mc)
{
	return mc->framework_id;
}
const char *mesos_endpoint(const struct mesos_client *mc)
{
	return mc->endpoint;
}

/* --- drain --------------------------------------------------------------- */

unsigned mesos_calls_pending(const struct mesos_client *mc)
{
	unsigned n = 0;
	for (const struct mesos_xfer *x = mc->calls; x; x = x->next)
		n++;
	return n;
}

static void cancel(struct mesos_client *mc, uint64_t *timer)
{
	if (*timer)
		ev_timer_cancel(mc->loop, *timer);
	*timer = 0;
}

/* Hand the report over, once. */
static void drain_finish(struct mesos_client *mc, bool timed_out)
{
	cancel(mc, &mc->drain_bound);
	cancel(mc, &mc->drain_end);
	mesos_drained_fn done = mc->drain_done;
	mc->drain_done = NULL;
	struct mesos_drain_report r = mc->drain_report;
	r.dropped = timed_out ? mesos_calls_pending(mc) : 0;
	r.timed_out = timed_out;
	r.took_ms = ev_now_ms() - mc->drain_from_ms;
	if (done)
		done(mc->drain_arg, &r);
}

static void drain_end_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->drain_end = 0;
	if (mc->calls)
		return; /* an acknowledgement taken since: its answer ends it */
	drain_finish(mc, false);
}

static void drain_bound_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->drain_bound = 0;
	drain_finish(mc, true);
}

/* From a timer, so that done never runs inside mesos_send or curl's
 * completion handling (the owner frees the client from it). */
static void drain_end_soon(struct mesos_client *mc)
{
	if (mc->drain_done && !mc->calls && !mc->drain_end)
		mc->drain_end = ev_timer_add(mc->loop, 0, drain_end_cb, mc);
}

void mesos_drain_call_done(struct mesos_client *mc, bool ok)
{
	if (!mc->draining)
		return;
	if (ok)
		mc->drain_report.answered++;
	else
		mc->drain_report.failed++;
	drain_end_soon(mc);
}

unsigned mesos_drain(struct mesos_client *mc, uint64_t max_ms, mesos_drained_fn done, void *arg)
{
	unsigned n = mesos_calls_pending(mc);
	if (mc->draining)
		return n;
	mc->draining = true;
	/* no event is handled from now on (dispatch skips a NULL handler) */
	mc->h.event = NULL;
	/* no re-subscription: a new stream would bring new work, and a
	 * dropped one voids the calls not sent anyway */
	mc->running = false;
	cancel(mc, &mc->retry);
	mc->drain_done = done;
	mc->drain_arg = arg;
	mc->drain_from_ms = ev_now_ms();
	memset(&mc->drain_report, 0, sizeof mc->drain_report);
	mc->drain_report.calls = n;
	mc->drain_bound = ev_timer_add(mc->loop, max_ms, drain_bound_cb, mc);
	drain_end_soon(mc);
	return n;
}

/* During a drain: what finishes the handling of events received before it
 * (acknowledgements) is taken, anything else would start new work. */
static bool drain_takes(const cJSON *body)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");
	return cJSON_IsString(t) && (strcmp(t->valuestring, "ACKNOWLEDGE") == 0 ||
				     strcmp(t->valuestring, "ACKNOWLEDGE_OPERATION_STATUS") == 0);
}

int mesos_send(struct mesos_client *mc, cJSON *body)
{
	if (!mc->subscribed || !mc->framework_id || (mc->h.may_send && !mc->h.may_send(mc->arg))) {
		cJSON_Delete(body);
		return QM_EAGAIN;
	}
	if (mc->draining) {
		if (!drain_takes(body)) {
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");
			log_debug("mesos_call_not_sent", "call=%s reason=%s",
				  cJSON_IsString(t) ? t->valuestring : "?",
				  log_qs("draining: no new work"));
			cJSON_Delete(body);
			return QM_EAGAIN;
		}
		mc->drain_report.calls++;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "framework_id");
	cJSON_AddItemToObject(body, "framework_id", mesos_id(mc->framework_id));
	mesos_queue_push(mc, body);
	cJSON_Delete(body);
	return 0;
}
