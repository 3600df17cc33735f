#include "mesos/subscribe.h"

#include "clock.h"
#include "jarena.h"
#include "log.h"
#include "mesos/client.h"
#include "mesos/queue.h"
#include "mesos/url.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void subscribe_now(struct mesos_client *mc);

static void on_retry(struct ev_loop *loop, void *arg)
{
	(void)loop;
	subscribe_now(arg);
}

/* A 307's Location (mesos_url_redirect), for the current attempt only, at
 * most 5 in a row. Returns false when unusable. */
static bool follow_redirect(struct mesos_client *mc, const char *loc)
{
	if (!*loc || ++mc->redirects > 5 || !mc->leader)
		return false;
	char *e = mesos_url_redirect(mc->leader, loc, MESOS_PATH);
	if (!e)
		return false;
	log_info("mesos_redirected", "from=%s to=%s", log_qs(mc->endpoint), log_qs(e));
	free(mc->endpoint);
	mc->endpoint = e;
	return true;
}

static cJSON *framework_info(const struct mesos_client *mc)
{
	cJSON *fi = cJSON_CreateObject();
	cJSON_AddStringToObject(fi, "user", mc->user);
	cJSON_AddStringToObject(fi, "name", mc->name);
	if (mc->framework_id)
		cJSON_AddItemToObject(fi, "id", mesos_id(mc->framework_id));
	cJSON_AddNumberToObject(fi, "failover_timeout", mc->failover_timeout_s);
	cJSON_AddBoolToObject(fi, "checkpoint", 1);
	cJSON *roles = cJSON_AddArrayToObject(fi, "roles");
	cJSON_AddItemToArray(roles, cJSON_CreateString(mc->role));
	if (mc->principal)
		cJSON_AddStringToObject(fi, "principal", mc->principal);
	if (mc->hostname)
		cJSON_AddStringToObject(fi, "hostname", mc->hostname);
	if (mc->webui_url)
		cJSON_AddStringToObject(fi, "webui_url", mc->webui_url);
	cJSON *caps = cJSON_AddArrayToObject(fi, "capabilities");
	const char *names[8];
	size_t n = mesos_capabilities_for(mc->master_version, names, 8);
	for (size_t i = 0; i < n; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "type", names[i]);
		cJSON_AddItemToArray(caps, c);
	}
	return fi;
}

void mesos_sub_retry(struct mesos_client *mc, uint64_t d)
{
	if (mc->retry)
		ev_timer_cancel(mc->loop, mc->retry);
	mc->retry = ev_timer_add(mc->loop, d, on_retry, mc);
}

static void schedule_resubscribe(struct mesos_client *mc)
{
	if (!mc->running || mc->retry)
		return;
	if (mc->refused) {
		/* retrying cannot change the answer: ask again only rarely, in
		 * case the operator fixed the master's side (roles, ACLs) */
		log_info("mesos_resubscribe_scheduled", "in_ms=%llu refused=%s",
			 (unsigned long long)mc->refused_retry_ms, log_qs(mc->refusal));
		mesos_sub_retry(mc, mc->refused_retry_ms);
		return;
	}
	/* full jitter on top of half the delay: spreads coordinators that lost
	 * the same master, never waits less than half the step */
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)ev_now_ms();
	uint64_t d = mc->backoff_ms / 2 + r % (mc->backoff_ms / 2 + 1);
	mc->backoff_ms =
		mc->backoff_ms * 2 > mc->backoff_max_ms ? mc->backoff_max_ms : mc->backoff_ms * 2;
	log_info("mesos_resubscribe_scheduled", "in_ms=%llu", (unsigned long long)d);
	mesos_sub_retry(mc, d);
}

static void on_watchdog(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->watchdog = 0;
	mesos_sub_drop(mc, "no event from the master for too long (missed heartbeats)", true);
}

static void arm_watchdog(struct mesos_client *mc)
{
	if (mc->watchdog)
		ev_timer_cancel(mc->loop, mc->watchdog);
	double iv = mc->heartbeat_s > 0 ? mc->heartbeat_s : 15.0;
	mc->watchdog = ev_timer_add(mc->loop, (uint64_t)(iv * 1000.0 * mc->heartbeat_misses),
				    on_watchdog, mc);
}

static void stop_watchdog(struct mesos_client *mc)
{
	if (mc->watchdog) {
		ev_timer_cancel(mc->loop, mc->watchdog);
		mc->watchdog = 0;
	}
}

/* The master's release, as far as we know it, for the leader we talk to. */
static void set_master_version(struct mesos_client *mc, const char *base, const char *v)
{
	free(mc->version_of);
	mc->version_of = qm_strdup(base);
	snprintf(mc->master_version, sizeof mc->master_version, "%s", v ? v : "");
}

/* An attempt (GET /version or SUBSCRIBE) failed before SUBSCRIBED: forget
 * any redirect, tell the detector when the master itself is the problem
 * (unreachable, not leading) so it can offer the next candidate, back off. */
static void attempt_failed(struct mesos_client *mc, const char *why, bool blame_master)
{
	mc->attempts_failed++;
	snprintf(mc->last_error, sizeof mc->last_error, "%s", why);
	log_warn("mesos_subscribe_failed", "master=%s reason=%s",
		 log_qs(mc->leader ? mc->leader : "(none)"), log_qs(why));
	free(mc->endpoint);
	mc->endpoint = NULL;
	mc->redirects = 0;
	if (blame_master && mc->det && mc->leader) {
		mc->awaiting_det = true;
		det_failed(mc->det, mc->leader, why);
	}
	schedule_resubscribe(mc);
}

static void start_probe(struct mesos_client *mc)
{
	char *url = mesos_url_with_path(mc->leader, "/version");
	if (!url) {
		attempt_failed(mc, "the master's URL is not usable", true);
		return;
	}
	mc->probe = mesos_xfer_get(mc, url, "GET /version");
	free(url);
	curl_multi_add_handle(mc->multi, mc->probe->easy);
}

/* GET /version answered (src/version/version.cpp: {"version": "1.4.0",
 * "build_date": ..., ...}). A master that does not say is taken for the
 * oldest supported release: the capabilities it is sent are then the ones
 * every supported release knows. */
void mesos_sub_probe_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res)
{
	mc->probe = NULL;
	char why[360], err[300];
	if (res != CURLE_OK) {
		mesos_xfer_error(x, res, err, sizeof err);
		snprintf(why, sizeof why, "GET %s/version: %s", mc->leader, err);
		mesos_xfer_free(x);
		attempt_failed(mc, why, true);
		return;
	}
	if (x->status == 503 || x->status == 307) {
		snprintf(why, sizeof why, "GET %s/version answered %ld (not the leading master)",
			 mc->leader, x->status);
		mesos_xfer_free(x);
		attempt_failed(mc, why, true);
		return;
	}
	cJSON *j = x->status == 200 ? cJSON_ParseWithLength(x->errbody, x->errlen) : NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
	if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof mc->master_version) {
		set_master_version(mc, mc->leader, v->valuestring);
		log_info("mesos_master_version", "master=%s version=%s", log_qs(mc->leader),
			 log_qs(v->valuestring));
	} else {
		set_master_version(mc, mc->leader, "");
		log_warn("mesos_master_version",
			 "master=%s version=unknown status=%ld "
			 "assumed=%s",
			 log_qs(mc->leader), x->status, MESOS_OLDEST_SUPPORTED);
	}
	cJSON_Delete(j);
	mesos_xfer_free(x);
	subscribe_now(mc);
}

static void refuse(struct mesos_client *mc, const char *what, const char *remedy)
{
	if (!mc->refused)
		mc->refused_since_ms = (int64_t)clock_real_ms();
	mc->refused = true;
	snprintf(mc->refusal, sizeof mc->refusal, "%s", what);
	snprintf(mc->remedy, sizeof mc->remedy, "%s", remedy);
	log_error("mesos_refused", "master=%s refusal=%s remedy=%s retry_in_ms=%llu",
		  log_qs(mc->leader ? mc->leader : "(none)"), log_qs(what), log_qs(remedy),
		  (unsigned long long)mc->refused_retry_ms);
}

/* SUBSCRIBE with the framework id both top-level and in framework_info
 * (shared/docs/mesos-v1-scheduler-api.md §1.8). */
static cJSON *subscribe_call(const struct mesos_client *mc)
{
	cJSON *call = cJSON_CreateObject();
	if (mc->framework_id)
		cJSON_AddItemToObject(call, "framework_id", mesos_id(mc->framework_id));
	cJSON_AddStringToObject(call, "type", "SUBSCRIBE");
	cJSON *sub = cJSON_AddObjectToObject(call, "subscribe");
	cJSON_AddItemToObject(sub, "framework_info", framework_info(mc));
	if (mc->start_suppressed) {
		cJSON *sr = cJSON_AddArrayToObject(sub, "suppressed_roles");
		cJSON_AddItemToArray(sr, cJSON_CreateString(mc->role));
	}
	return call;
}

static int on_record(void *arg, const char *rec, size_t len);

/* curl hands over every chunk it can read in one socket action: the
 * 10,000 TASK_RUNNING updates of a launch of 10,000 probers, arriving
 * faster than they were handled, held the loop 160-330 ms at a time
 * (offer_cycle.py --agents 10000). Past STREAM_FEED_MS of one action, the
 * stream pauses (curl keeps the chunk) and goes on at the next iteration. */
#define STREAM_FEED_MS 20

static void resume_stream(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->resume_timer = 0;
	if (!mc->stream)
		return; /* dropped meanwhile; a new stream was never paused */
	mc->feed_from_ms = clock_mono_ms();
	/* curl feeds what it kept from inside curl_easy_pause */
	curl_easy_pause(mc->stream->easy, CURLPAUSE_CONT);
	mesos_curl_settle(mc);
}

static size_t stream_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct mesos_xfer *x = arg;
	struct mesos_client *mc = x->mc;
	size_t len = size * n;
	if (mesos_xfer_status(x) != 200) {
		mesos_xfer_keep(x, buf, len);
		return len;
	}
	if (!mc->stream || mc->stream != x)
		return 0; /* abort: stream superseded */
	if (clock_mono_ms() - mc->feed_from_ms >= STREAM_FEED_MS) {
		if (!mc->resume_timer) {
			mc->resume_timer = ev_timer_add(mc->loop, 0, resume_stream, mc);
			mc->stream_pauses++;
		}
		return CURL_WRITEFUNC_PAUSE;
	}
	mc->in_dispatch = true;
	int rv = recordio_feed(&mc->rio, buf, len, on_record, mc);
	mc->in_dispatch = false;
	if (rv != 0 && !mc->drop_pending) {
		mc->records_refused++;
		mc->drop_pending = true;
		snprintf(mc->drop_why, sizeof mc->drop_why, "bad record on the event stream: %s",
			 recordio_error(&mc->rio));
	}
	/* Returning less than len makes curl abort the transfer; the
	 * completion handler then performs the pending drop. */
	return mc->drop_pending ? 0 : len;
}

static void subscribe_now(struct mesos_client *mc)
{
	mc->retry = 0;
	if (!mc->running || mc->stream || mc->probe)
		return;
	if (!mc->leader) {
		if (!mc->waiting_logged)
			log_warn("mesos_no_leader", "master=%s reason=%s", log_qs(mc->spec.display),
				 log_qs(mc->detection));
		mc->waiting_logged = true;
		return; /* the detector's next answer calls us */
	}
	if (!mc->endpoint)
		mc->endpoint = mesos_url_with_path(mc->leader, MESOS_PATH);
	if (!mc->endpoint) {
		attempt_failed(mc, "the master's URL is not usable", true);
		return;
	}
	if (!mc->version_of || strcmp(mc->version_of, mc->leader) != 0) {
		if (mc->leader_version[0]) {
			set_master_version(mc, mc->leader, mc->leader_version);
		} else {
			start_probe(mc);
			return;
		}
	}
	if (mc->master_version[0] &&
	    mesos_version_cmp(mc->master_version, MESOS_OLDEST_SUPPORTED) < 0) {
		char what[200];
		snprintf(what, sizeof what,
			 "the master runs Mesos %s, older than the oldest "
			 "supported release %s",
			 mc->master_version, MESOS_OLDEST_SUPPORTED);
		refuse(mc, what, "upgrade the Mesos masters to 1.4.0 or later");
		schedule_resubscribe(mc);
		return;
	}
	cJSON *call = subscribe_call(mc);
	recordio_reset(&mc->rio);
	mc->drop_pending = false;
	mc->stream_gen++;
	mc->stream = mesos_xfer_post(mc, call, stream_write_cb);
	cJSON_Delete(call);
	log_info("mesos_subscribing", "endpoint=%s framework_id=%s master_version=%s",
		 log_qs(mc->endpoint), log_qs(mc->framework_id ? mc->framework_id : "(new)"),
		 log_qs(mc->master_version[0] ? mc->master_version : "unknown"));
	curl_multi_add_handle(mc->multi, mc->stream->easy);
	/* a connect that hangs is caught by the watchdog too */
	arm_watchdog(mc);
}

void mesos_sub_drop(struct mesos_client *mc, const char *why, bool redetect)
{
	if (mc->in_dispatch) {
		/* inside curl's write callback: abort from there */
		if (!mc->drop_pending) {
			mc->drop_pending = true;
			snprintf(mc->drop_why, sizeof mc->drop_why, "%.300s", why);
		}
		return;
	}
	bool was = mc->subscribed;
	stop_watchdog(mc);
	if (mc->stream) {
		mesos_xfer_free(mc->stream);
		mc->stream = NULL;
	}
	if (mc->probe) {
		mesos_xfer_free(mc->probe);
		mc->probe = NULL;
	}
	/* calls not sent yet carry the old stream id: pointless now */
	mesos_queue_drop_unsent(mc);
	free(mc->stream_id);
	mc->stream_id = NULL;
	mc->subscribed = false;
	free(mc->endpoint);
	mc->endpoint = NULL;
	mc->redirects = 0;
	log_warn("mesos_disconnected", "reason=%s", log_qs(why));
	if (was && mc->h.disconnected)
		mc->h.disconnected(mc->arg, why);
	if (redetect && mc->running && !mc->refused && mc->det && mc->leader) {
		/* back to detection: the leader may be gone (a list moves on,
		 * ZooKeeper is read again) */
		mc->awaiting_det = true;
		det_failed(mc->det, mc->leader, why);
	}
	schedule_resubscribe(mc);
}

void mesos_sub_stream_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res)
{
	char why[400];
	bool was = mc->subscribed;
	if (x->status == 307 && !was) {
		char loc[MESOS_XFER_HEADER];
		mesos_xfer_header(x, "Location", loc, sizeof loc);
		mesos_xfer_free(x);
		mc->stream = NULL;
		if (follow_redirect(mc, loc)) {
			subscribe_now(mc);
			return;
		}
		stop_watchdog(mc);
		snprintf(why, sizeof why, "307 without a usable Location (%.100s)", loc);
		attempt_failed(mc, why, true);
		return;
	}
	if (!was && !mc->drop_pending && x->status && x->status != 200) {
		/* SUBSCRIBE itself was answered: classify */
		char remedy[320];
		long st = x->status;
		snprintf(why, sizeof why, "SUBSCRIBE answered %ld: %.200s", st, x->errbody);
		mesos_xfer_free(x);
		mc->stream = NULL;
		stop_watchdog(mc);
		if (st == 401)
			refuse(mc, why,
			       "the master did not accept our credentials: check "
			       "--principal/--secret against the masters' --credentials");
		else if ((st == 400 || st == 403) &&
			 mesos_refusal_remedy(why, remedy, sizeof remedy))
			refuse(mc, why, remedy);
		attempt_failed(mc, why, st == 503 || st == 307 || st >= 500);
		return;
	}
	if (mc->drop_pending)
		snprintf(why, sizeof why, "%s", mc->drop_why);
	else if (x->status && x->status != 200)
		snprintf(why, sizeof why, "SUBSCRIBE answered %ld: %.200s", x->status, x->errbody);
	else if (res == CURLE_PARTIAL_FILE)
		snprintf(why, sizeof why,
			 "the master cut the event stream mid-chunk "
			 "(connection closed: master restarted, failed over or network)");
	else if (res != CURLE_OK) {
		char err[300];
		mesos_xfer_error(x, res, err, sizeof err);
		snprintf(why, sizeof why, "event stream: %s", err);
	} else
		snprintf(why, sizeof why, "event stream closed by the master");
	mc->drop_pending = false;
	if (!was) {
		/* never subscribed on this attempt: it counts as a failed one */
		mesos_xfer_free(x);
		mc->stream = NULL;
		stop_watchdog(mc);
		attempt_failed(mc, why, !mc->refused);
		return;
	}
	mesos_sub_drop(mc, why, true);
}

/* The detector's answer (on the loop). A new leader found in ZooKeeper is
 * tried at once, with the backoff reset; the next entry of a list, handed
 * over after our own det_failed(), only sets the candidate for the retry
 * that is already scheduled (a list must not be hammered through). */
void mesos_sub_on_leader(void *arg, const struct det_leader *l, const char *why)
{
	struct mesos_client *mc = arg;
	bool asked = mc->awaiting_det;
	mc->awaiting_det = false;
	if (!l) {
		snprintf(mc->detection, sizeof mc->detection, "%s", why ? why : "no leader");
		log_warn("mesos_no_leader", "master=%s reason=%s", log_qs(mc->spec.display),
			 log_qs(mc->detection));
		mc->waiting_logged = true;
		free(mc->leader);
		mc->leader = NULL;
		return;
	}
	mc->detection[0] = '\0';
	mc->waiting_logged = false;
	bool changed = !mc->leader || strcmp(mc->leader, l->url) != 0;
	snprintf(mc->leader_version, sizeof mc->leader_version, "%s", l->version);
	if (!changed)
		return;
	free(mc->leader);
	mc->leader = qm_strdup(l->url);
	mc->leader_changes++;
	mc->leader_changed_at = ev_now_ms();
	log_info("mesos_leader", "master=%s leader=%s id=%s version=%s", log_qs(mc->spec.display),
		 log_qs(l->url), log_qs(l->id), log_qs(l->version[0] ? l->version : "unknown"));
	if (!mc->running)
		return;
	if (mc->stream || mc->probe) {
		if (mc->probe || !mesos_url_same_master(mc->endpoint, l->url))
			mesos_sub_drop(mc, "another master leads now", false);
	}
	/* A new leader from ZooKeeper is news: subscribe at once. The next
	 * entry of a list, handed over because we said the last one failed,
	 * waits for the backoff already scheduled. */
	bool news = mc->spec.kind == DET_ZK || !asked;
	if (news && !mc->refused) {
		mc->backoff_ms = mc->backoff_min_ms;
		mesos_sub_retry(mc, 0);
	} else if (!mc->retry && !mc->stream) {
		schedule_resubscribe(mc);
	}
}

/* --- events -------------------------------------------------------------- */

/* SUBSCRIBED: the framework id, the stream id (the Mesos-Stream-Id header
 * of the SUBSCRIBE answer, src/master/http.cpp scheduler() at 1.4.0 ...
 * 1.11.0, sent with every other call, §1.3), the heartbeat. 1 when the
 * event is unusable (the stream is dropped). */
static int on_subscribed(struct mesos_client *mc, const cJSON *ev)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "subscribed");
	const cJSON *hb = cJSON_GetObjectItemCaseSensitive(s, "heartbeat_interval_seconds");
	/* an id that is not a valid Mesos ID could be neither kept in the
	 * store nor read back from it (found by fuzz_events) */
	const char *fid = mesos_subscribed_framework_id(ev);
	if (!fid) {
		log_error("mesos_bad_event", "reason=%s",
			  log_qs("SUBSCRIBED without a valid framework_id"));
		mc->drop_pending = true;
		snprintf(mc->drop_why, sizeof mc->drop_why,
			 "SUBSCRIBED without a valid framework_id");
		return 1;
	}
	free(mc->framework_id);
	mc->framework_id = qm_strdup(fid);
	mc->heartbeat_s = cJSON_IsNumber(hb) && hb->valuedouble > 0 ? hb->valuedouble : 15.0;
	char sid[MESOS_XFER_HEADER];
	mesos_xfer_header(mc->stream, "Mesos-Stream-Id", sid, sizeof sid);
	free(mc->stream_id);
	mc->stream_id = qm_strdup(sid);
	mc->subscribed = true;
	mc->backoff_ms = mc->backoff_min_ms;
	mc->redirects = 0;
	mc->refused = false;
	mc->refusal[0] = mc->remedy[0] = mc->last_error[0] = '\0';
	/* MasterInfo.version (SUBSCRIBED.master_info since 1.1.0,
	 * include/mesos/v1/scheduler/scheduler.proto) */
	const cJSON *mi = cJSON_GetObjectItemCaseSensitive(s, "master_info");
	const cJSON *mv = cJSON_GetObjectItemCaseSensitive(mi, "version");
	if (cJSON_IsString(mv) && strlen(mv->valuestring) < sizeof mc->master_version && mc->leader)
		set_master_version(mc, mc->leader, mv->valuestring);
	arm_watchdog(mc);
	long long since =
		mc->leader_changed_at ? (long long)(ev_now_ms() - mc->leader_changed_at) : -1;
	log_info("mesos_subscribed",
		 "framework_id=%s heartbeat_s=%.1f endpoint=%s master_version=%s "
		 "since_leader_change_ms=%lld",
		 log_qs(mc->framework_id), mc->heartbeat_s, log_qs(mc->endpoint),
		 log_qs(mc->master_version[0] ? mc->master_version : "unknown"), since);
	mc->leader_changed_at = 0;
	if (mc->h.subscribed)
		mc->h.subscribed(mc->arg, mc->framework_id, mc->heartbeat_s, ev);
	return 0;
}

/* ERROR: a terminal refusal or not, the master closes the stream after
 * it. Always 1 (drop). */
static int on_error_event(struct mesos_client *mc, const cJSON *ev)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	const char *text = cJSON_IsString(msg) ? msg->valuestring : "(no message)";
	log_error("mesos_error_event", "message=%s", log_qs(text));
	char remedy[320];
	if (mesos_refusal_remedy(text, remedy, sizeof remedy)) {
		char what[360];
		snprintf(what, sizeof what, "master sent ERROR: %.300s", text);
		refuse(mc, what, remedy);
	}
	if (mc->h.error)
		mc->h.error(mc->arg, text);
	mc->drop_pending = true;
	snprintf(mc->drop_why, sizeof mc->drop_why, "master sent ERROR: %.300s", text);
	return 1;
}

/* Hand one parsed record to its handler (on the loop, with the tree in
 * this thread's arena if it has one); `head`: the record's start, for the
 * log line of one that is no event. 1 when the stream must be dropped. */
static int dispatch(struct mesos_client *mc, const cJSON *ev, const char *head, size_t len,
		    void *prepared)
{
	const cJSON *type = ev ? cJSON_GetObjectItemCaseSensitive(ev, "type") : NULL;
	if (!cJSON_IsString(type)) {
		/* framing is intact, so the stream can go on: log and skip */
		log_error("mesos_bad_event", "reason=%s bytes=%zu head=%s",
			  log_qs(ev ? "no type" : "not JSON"), len, log_qs(head));
		return 0;
	}
	arm_watchdog(mc);
	const char *t = type->valuestring;
	if (strcmp(t, "SUBSCRIBED") == 0)
		return on_subscribed(mc, ev);
	if (strcmp(t, "ERROR") == 0)
		return on_error_event(mc, ev);
	if (!mc->subscribed)
		log_error("mesos_bad_event", "reason=%s type=%s", log_qs("event before SUBSCRIBED"),
			  log_qs(t));
	else if (mc->h.event)
		mc->h.event(mc->arg, t, ev, prepared);
	return 0;
}

static int on_record(void *arg, const char *rec, size_t len)
{
	struct mesos_client *mc = arg;
	/* a big record, or one behind a record still on the parser thread
	 * (the stream keeps its order), is parsed there */
	if (mc->evp && (len >= mc->parse_off_loop_min || evparse_pending(mc->evp) > 0)) {
		/* rec is the decoder's buffer: handed over as it is */
		evparse_submit(mc->evp, recordio_take(&mc->rio), len, mc->stream_gen);
		return 0;
	}
	jarena_begin(len); /* the tree in a mapping of its own (jarena.h) */
	cJSON *ev = cJSON_ParseWithLength(rec, len);
	jarena_end();
	char head[81];
	snprintf(head, sizeof head, "%.*s", (int)(len < 80 ? len : 80), rec);
	int rv = dispatch(mc, ev, head, len, NULL);
	/* handlers get the event read-only: nothing was added to the tree;
	 * one may have kept it, arena and all (jarena_take) */
	if (!jarena_taken() && !jarena_whole())
		cJSON_Delete(ev);
	jarena_release();
	return rv;
}

void mesos_sub_parsed(void *arg, struct evparse_item *it)
{
	struct mesos_client *mc = arg;
	/* of a stream since dropped (or being dropped): nothing of it counts,
	 * as the rest of that stream's bytes never reach on_record */
	if (it->tag != mc->stream_gen || !mc->stream || mc->drop_pending)
		return;
	mc->records_off_loop++;
	int rv = dispatch(mc, it->ev, it->head, it->len, it->prepared);
	if (rv != 0 && !mc->drop_pending) {
		mc->drop_pending = true;
		snprintf(mc->drop_why, sizeof mc->drop_why, "event handler asked to drop");
	}
	/* not inside curl's write callback: the stream is dropped now, as
	 * its end would have */
	if (mc->drop_pending && mc->stream)
		mesos_sub_stream_done(mc, mc->stream, CURLE_WRITE_ERROR);
}
