#include "mesos/mesos.h"

#include "mesos/detector.h"
#include "log.h"
#include "qm_error.h"
#include "mesos/recordio.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MESOS_PATH "/api/v1/scheduler"
#define MAX_ERRBODY 1024
#define MAX_HEADER 512

/* One HTTP transfer: the SUBSCRIBE stream or an ordinary call. */
struct xfer {
	struct mesos_client *mc;
	CURL *easy;
	struct curl_slist *headers;
	char *body;           /* request body, owned */
	bool is_stream;
	long status;          /* from the status line */
	char location[MAX_HEADER];
	char stream_id[MAX_HEADER];
	char errbody[MAX_ERRBODY]; /* first bytes of a non-2xx answer */
	size_t errlen;
	char call_type[32];
	struct xfer *next;    /* list of ordinary calls in flight */
	struct xfer *qnext;   /* queue of calls not yet handed to curl */
	bool queued;
	bool handed;          /* an ordinary call handed to curl, not done */
	bool barrier;         /* REVIVE/SUPPRESS: see flush_calls() */
	bool is_probe;        /* GET /version before a SUBSCRIBE */
};

struct mesos_client {
	struct ev_loop *loop;
	struct mesos_handlers h;
	void *arg;
	/* config, copied */
	char *user, *name, *role, *principal, *secret, *hostname, *webui_url;
	double failover_timeout_s;
	bool start_suppressed;
	uint64_t backoff_min_ms, backoff_max_ms, backoff_ms;
	unsigned heartbeat_misses;
	long call_timeout_ms;

	/* Where the master is. `leader` is the detector's current answer
	 * (base URL, NULL while none is known); `endpoint` is the scheduler URL
	 * of the current attempt: the leader's, or where a 307 sent this
	 * attempt. It is reset to the leader's whenever an attempt fails, so a
	 * redirect never outlives the attempt it was given to. */
	struct det_spec spec;
	struct detector *det;
	bool awaiting_det;    /* det_failed() called, its answer not seen yet */
	char *master_scheme;
	int zk_session_timeout_ms;
	char *leader;
	char leader_version[32];  /* from the detector (MasterInfo), may be "" */
	char *endpoint;       /* http://host:port/api/v1/scheduler, or NULL */
	/* The release of the master at `version_of` (a base URL), learned by
	 * GET /version, the detector or SUBSCRIBED; "" = it did not say. */
	char *version_of;
	char master_version[32];
	struct xfer *probe;   /* GET /version in flight */
	bool waiting_logged;
	char detection[320];
	char last_error[320];
	uint64_t leader_changes, attempts_failed;
	uint64_t leader_changed_at; /* monotonic ms of the last change, 0 = none */
	/* A refusal that retrying cannot change (see classify_refusal). */
	bool refused;
	bool refusal_pending; /* set while the stream that carried it winds down */
	char refusal[320], remedy[320];
	int64_t refused_since_ms;
	uint64_t refused_retry_ms;
	char *framework_id;   /* known id, or NULL */
	char *stream_id;      /* while subscribed */
	bool running;         /* mesos_start() called, not stopped */
	bool subscribed;
	unsigned redirects;   /* consecutive 307s, bounded */

	CURLM *multi;
	uint64_t curl_timer;
	struct xfer *stream;
	struct xfer *calls;   /* in flight, freed on completion or mesos_free */
	/* Calls made while curl is inside a callback cannot be added there
	 * (CURLM_RECURSIVE_API_CALL), so every call is queued and handed to
	 * curl from a zero-delay timer, in the order it was made. */
	struct xfer *qhead, *qtail;
	uint64_t flush_timer;
	unsigned inflight;    /* ordinary calls handed to curl, not done */
	bool barrier_inflight;
	struct recordio rio;
	uint64_t watchdog;    /* timer id */
	uint64_t retry;       /* timer id */
	double heartbeat_s;
	bool in_dispatch;     /* stream dropped during dispatch: defer cleanup */
	bool drop_pending;
	bool rio_ready;
	char drop_why[320];
};

static void drop_stream(struct mesos_client *mc, const char *why);
static void subscribe_now(struct mesos_client *mc);
static void on_retry(struct ev_loop *loop, void *arg)
{
	(void)loop;
	subscribe_now(arg);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? qm_strdup(s) : NULL;
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "http://host:5050" (the detector's normalised form) + path. */
static char *url_join(const char *base, const char *path)
{
	size_t cap = strlen(base) + strlen(path) + 1;
	char *e = qm_malloc(cap);
	snprintf(e, cap, "%s%s", base, path);
	return e;
}

/* The base ("scheme://host:port") of an endpoint URL, into out. */
static void url_base(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t n = (size_t)(h - url) + strcspn(h, "/");
	snprintf(out, cap, "%.*s", (int)n, url);
}

/* --- libcurl <-> evloop glue -------------------------------------------- */

static void check_done(struct mesos_client *mc);
static void flush_calls(struct ev_loop *loop, void *arg);

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
	int running;
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

/* --- transfers ---------------------------------------------------------- */

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->queued) {
		struct mesos_client *m = x->mc;
		struct xfer *prev = NULL;
		for (struct xfer *q = m->qhead; q; prev = q, q = q->qnext) {
			if (q != x)
				continue;
			if (prev)
				prev->qnext = q->qnext;
			else
				m->qhead = q->qnext;
			if (m->qtail == q)
				m->qtail = prev;
			break;
		}
		x->queued = false;
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	if (x->handed) {
		x->handed = false;
		x->mc->inflight--;
		if (x->barrier)
			x->mc->barrier_inflight = false;
	}
	for (struct xfer **pp = &x->mc->calls; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	if (x->easy) {
		curl_multi_remove_handle(x->mc->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
	free(x->body);
	free(x);
}

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new status line: a fresh response (redirects are by hand,
		 * so this is the only one unless curl sees 100-continue) */
		const char *sp = memchr(buf, ' ', len);
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->location[0] = x->stream_id[0] = '\0';
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t klen = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vlen = len - klen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	char *dst = NULL;
	if (klen == 8 && strncasecmp(buf, "Location", 8) == 0)
		dst = x->location;
	else if (klen == 15 && strncasecmp(buf, "Mesos-Stream-Id", 15) == 0)
		dst = x->stream_id;
	if (dst) {
		if (vlen >= MAX_HEADER)
			vlen = MAX_HEADER - 1;
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
	}
	return len;
}

static void keep_errbody(struct xfer *x, const char *buf, size_t len)
{
	size_t room = MAX_ERRBODY - 1 - x->errlen;
	if (len > room)
		len = room;
	memcpy(x->errbody + x->errlen, buf, len);
	x->errlen += len;
	x->errbody[x->errlen] = '\0';
}

static int on_record(void *arg, const char *rec, size_t len);

static size_t stream_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct mesos_client *mc = x->mc;
	size_t len = size * n;
	if (x->status != 200) {
		keep_errbody(x, buf, len);
		return len;
	}
	if (!mc->stream || mc->stream != x)
		return 0; /* abort: stream superseded */
	mc->in_dispatch = true;
	int rv = recordio_feed(&mc->rio, buf, len, on_record, mc);
	mc->in_dispatch = false;
	if (rv != 0 && !mc->drop_pending) {
		mc->drop_pending = true;
		snprintf(mc->drop_why, sizeof mc->drop_why, "bad record on the event stream: %s",
			 recordio_error(&mc->rio));
	}
	/* Returning less than len makes curl abort the transfer; the
	 * completion handler then performs the pending drop. */
	return mc->drop_pending ? 0 : len;
}

static size_t call_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	keep_errbody(x, buf, size * n);
	return size * n;
}

/* HTTP basic authentication with the principal, when a secret is set. */
static void set_auth(const struct mesos_client *mc, CURL *e)
{
	if (mc->principal && mc->secret) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, mc->principal);
		curl_easy_setopt(e, CURLOPT_PASSWORD, mc->secret);
	}
}

static struct xfer *xfer_new(struct mesos_client *mc, cJSON *body, bool is_stream)
{
	struct xfer *x = qm_calloc(1, sizeof *x);
	x->mc = mc;
	x->is_stream = is_stream;
	x->body = cJSON_PrintUnformatted(body);
	if (!x->body)
		qm_oom();
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");
	snprintf(x->call_type, sizeof x->call_type, "%s",
		 cJSON_IsString(t) ? t->valuestring : "?");
	x->barrier = strcmp(x->call_type, "REVIVE") == 0 ||
		     strcmp(x->call_type, "SUPPRESS") == 0;
	x->easy = curl_easy_init();
	if (!x->easy)
		qm_oom();
	x->headers = curl_slist_append(NULL, "Content-Type: application/json");
	x->headers = curl_slist_append(x->headers, "Accept: application/json");
	x->headers = curl_slist_append(x->headers, "Expect:");
	if (!is_stream && mc->stream_id) {
		char h[MAX_HEADER + 20];
		snprintf(h, sizeof h, "Mesos-Stream-Id: %s", mc->stream_id);
		x->headers = curl_slist_append(x->headers, h);
	}
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, mc->endpoint);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, is_stream ? stream_write_cb : call_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!is_stream)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, mc->call_timeout_ms);
	set_auth(mc, e);
	return x;
}

/* --- the subscription --------------------------------------------------- */

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

static void schedule_retry(struct mesos_client *mc, uint64_t d)
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
		schedule_retry(mc, mc->refused_retry_ms);
		return;
	}
	/* full jitter on top of half the delay: spreads coordinators that lost
	 * the same master, never waits less than half the step */
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)ev_now_ms();
	uint64_t d = mc->backoff_ms / 2 + r % (mc->backoff_ms / 2 + 1);
	mc->backoff_ms = mc->backoff_ms * 2 > mc->backoff_max_ms ? mc->backoff_max_ms
								   : mc->backoff_ms * 2;
	log_info("mesos_resubscribe_scheduled", "in_ms=%llu", (unsigned long long)d);
	schedule_retry(mc, d);
}

static void on_watchdog(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->watchdog = 0;
	drop_stream(mc, "no event from the master for too long (missed heartbeats)");
}

static void arm_watchdog(struct mesos_client *mc)
{
	if (mc->watchdog)
		ev_timer_cancel(mc->loop, mc->watchdog);
	double iv = mc->heartbeat_s > 0 ? mc->heartbeat_s : 15.0;
	mc->watchdog = ev_timer_add(mc->loop, (uint64_t)(iv * 1000.0 * mc->heartbeat_misses),
				    on_watchdog, mc);
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
	struct xfer *x = qm_calloc(1, sizeof *x);
	x->mc = mc;
	x->is_probe = true;
	snprintf(x->call_type, sizeof x->call_type, "GET /version");
	x->easy = curl_easy_init();
	if (!x->easy)
		qm_oom();
	char *url = url_join(mc->leader, "/version");
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, call_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	set_auth(mc, e); /* masters with --authenticate_http_readonly want it */
	mc->probe = x;
	curl_multi_add_handle(mc->multi, x->easy);
}

/* GET /version answered (src/version/version.cpp: {"version": "1.4.0",
 * "build_date": ..., ...}). A master that does not say is taken for the
 * oldest supported release: the capabilities it is sent are then the ones
 * every supported release knows. */
static void probe_done(struct mesos_client *mc, struct xfer *x, CURLcode res)
{
	mc->probe = NULL;
	char why[360];
	if (res != CURLE_OK) {
		snprintf(why, sizeof why, "GET %s/version: %s", mc->leader, curl_easy_strerror(res));
		xfer_free(x);
		attempt_failed(mc, why, true);
		return;
	}
	if (x->status == 503 || x->status == 307) {
		snprintf(why, sizeof why, "GET %s/version answered %ld (not the leading master)",
			 mc->leader, x->status);
		xfer_free(x);
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
		log_warn("mesos_master_version", "master=%s version=unknown status=%ld "
			 "assumed=%s", log_qs(mc->leader), x->status, MESOS_OLDEST_SUPPORTED);
	}
	cJSON_Delete(j);
	xfer_free(x);
	subscribe_now(mc);
}

static void refuse(struct mesos_client *mc, const char *what, const char *remedy)
{
	if (!mc->refused)
		mc->refused_since_ms = wall_now_ms();
	mc->refused = true;
	snprintf(mc->refusal, sizeof mc->refusal, "%s", what);
	snprintf(mc->remedy, sizeof mc->remedy, "%s", remedy);
	log_error("mesos_refused", "master=%s refusal=%s remedy=%s retry_in_ms=%llu",
		  log_qs(mc->leader ? mc->leader : "(none)"), log_qs(what), log_qs(remedy),
		  (unsigned long long)mc->refused_retry_ms);
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
		mc->endpoint = url_join(mc->leader, MESOS_PATH);
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
		snprintf(what, sizeof what, "the master runs Mesos %s, older than the oldest "
			 "supported release %s", mc->master_version, MESOS_OLDEST_SUPPORTED);
		refuse(mc, what, "upgrade the Mesos masters to 1.4.0 or later");
		schedule_resubscribe(mc);
		return;
	}
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
	recordio_reset(&mc->rio);
	mc->drop_pending = false;
	mc->stream = xfer_new(mc, call, true);
	cJSON_Delete(call);
	log_info("mesos_subscribing", "endpoint=%s framework_id=%s master_version=%s",
		 log_qs(mc->endpoint), log_qs(mc->framework_id ? mc->framework_id : "(new)"),
		 log_qs(mc->master_version[0] ? mc->master_version : "unknown"));
	curl_multi_add_handle(mc->multi, mc->stream->easy);
	/* a connect that hangs is caught by the watchdog too */
	arm_watchdog(mc);
}

static void drop_stream_ex(struct mesos_client *mc, const char *why, bool redetect)
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
	if (mc->watchdog) {
		ev_timer_cancel(mc->loop, mc->watchdog);
		mc->watchdog = 0;
	}
	if (mc->stream) {
		xfer_free(mc->stream);
		mc->stream = NULL;
	}
	if (mc->probe) {
		xfer_free(mc->probe);
		mc->probe = NULL;
	}
	/* calls not sent yet carry the old stream id: pointless now */
	while (mc->qhead)
		xfer_free(mc->qhead);
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

static void drop_stream(struct mesos_client *mc, const char *why)
{
	drop_stream_ex(mc, why, true);
}

/* Location: //host:port/master/api/v1/scheduler (protocol-relative, §1.5;
 * src/master/http.cpp redirect()), or an absolute http(s):// URL. Used for
 * the current attempt only. Returns false when unusable. */
static bool follow_redirect(struct mesos_client *mc, const char *loc)
{
	if (!*loc || ++mc->redirects > 5)
		return false;
	const char *hostpart;
	const char *scheme = mc->leader && strncmp(mc->leader, "https:", 6) == 0 ? "https"
										 : "http";
	if (strncmp(loc, "//", 2) == 0)
		hostpart = loc + 2;
	else if (strncmp(loc, "http://", 7) == 0)
		hostpart = loc + 7, scheme = "http";
	else if (strncmp(loc, "https://", 8) == 0)
		hostpart = loc + 8, scheme = "https";
	else
		return false;
	size_t n = strcspn(hostpart, "/");
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = hostpart[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	const char *path = hostpart + n;
	if (!*path || strlen(path) > 255 || strpbrk(path, " \r\n\t"))
		path = MESOS_PATH;
	size_t cap = strlen(scheme) + 3 + n + strlen(path) + 1;
	char *e = qm_malloc(cap);
	snprintf(e, cap, "%s://%.*s%s", scheme, (int)n, hostpart, path);
	log_info("mesos_redirected", "from=%s to=%s", log_qs(mc->endpoint), log_qs(e));
	free(mc->endpoint);
	mc->endpoint = e;
	return true;
}

bool mesos_refusal_remedy(const char *message, char *remedy, size_t cap)
{
	/* Messages of src/master/master.cpp (validateFramework*,
	 * checkSubscribeAuthorization; same wording 1.4.0 ... 1.11.0 except
	 * "master's"/"the master's") that no retry can change. */
	static const struct {
		const char *needle, *remedy;
	} terminal[] = {
		{"Framework has been removed",
		 "the master forgot this framework (its failover timeout expired or it was "
		 "torn down) and will never take its id again; its tasks are gone. Start over "
		 "with a new framework id: POST /v1/framework/reset"},
		{"not present in", "add the role to the masters' --roles, or start the "
				   "coordinator with a role they allow (--role)"},
		{"is not allowed to run frameworks",
		 "run the framework as another user (--user) or start the masters with "
		 "--root_submissions"},
		{"Not authorized to", "grant this principal the register_frameworks ACL for the "
				      "role on the masters (--acls), or use another --principal"},
		{"is not contained in the list of roles",
		 "a suppressed role must be one of the framework's roles: check --role"},
		{"failover_timeout", "set a valid --failover-timeout"},
		{"Failed to convert JSON", "the master cannot parse what this coordinator "
					   "sends: check the supported Mesos releases in README"},
		{"Failed to validate", "the master refuses what this coordinator sends: check "
				       "the supported Mesos releases in README"},
	};
	for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++) {
		if (strstr(message, terminal[i].needle)) {
			snprintf(remedy, cap, "%s", terminal[i].remedy);
			return true;
		}
	}
	return false;
}

static void stream_done(struct mesos_client *mc, struct xfer *x, CURLcode res)
{
	char why[400];
	bool was = mc->subscribed;
	if (x->status == 307 && !was) {
		char loc[MAX_HEADER];
		snprintf(loc, sizeof loc, "%s", x->location);
		xfer_free(x);
		mc->stream = NULL;
		if (follow_redirect(mc, loc)) {
			subscribe_now(mc);
			return;
		}
		if (mc->watchdog) {
			ev_timer_cancel(mc->loop, mc->watchdog);
			mc->watchdog = 0;
		}
		snprintf(why, sizeof why, "307 without a usable Location (%.100s)", loc);
		attempt_failed(mc, why, true);
		return;
	}
	if (!was && !mc->drop_pending && x->status && x->status != 200) {
		/* SUBSCRIBE itself was answered: classify */
		char remedy[320];
		long st = x->status;
		snprintf(why, sizeof why, "SUBSCRIBE answered %ld: %.200s", st, x->errbody);
		xfer_free(x);
		mc->stream = NULL;
		if (mc->watchdog) {
			ev_timer_cancel(mc->loop, mc->watchdog);
			mc->watchdog = 0;
		}
		if (st == 401)
			refuse(mc, why, "the master did not accept our credentials: check "
					"--principal/--secret against the masters' --credentials");
		else if ((st == 400 || st == 403) && mesos_refusal_remedy(why, remedy, sizeof remedy))
			refuse(mc, why, remedy);
		attempt_failed(mc, why, st == 503 || st == 307 || st >= 500);
		return;
	}
	if (mc->drop_pending)
		snprintf(why, sizeof why, "%s", mc->drop_why);
	else if (x->status && x->status != 200)
		snprintf(why, sizeof why, "SUBSCRIBE answered %ld: %.200s", x->status, x->errbody);
	else if (res == CURLE_PARTIAL_FILE)
		snprintf(why, sizeof why, "the master cut the event stream mid-chunk "
			 "(connection closed: master restarted, failed over or network)");
	else if (res != CURLE_OK)
		snprintf(why, sizeof why, "event stream: %s", curl_easy_strerror(res));
	else
		snprintf(why, sizeof why, "event stream closed by the master");
	mc->drop_pending = false;
	if (!was) {
		/* never subscribed on this attempt: it counts as a failed one */
		xfer_free(x);
		mc->stream = NULL;
		if (mc->watchdog) {
			ev_timer_cancel(mc->loop, mc->watchdog);
			mc->watchdog = 0;
		}
		attempt_failed(mc, why, !mc->refused);
		return;
	}
	drop_stream(mc, why);
}

static void call_done(struct mesos_client *mc, struct xfer *x, CURLcode res)
{
	long status = 0;
	char reason[MAX_ERRBODY + 64];
	if (res != CURLE_OK) {
		snprintf(reason, sizeof reason, "%s", curl_easy_strerror(res));
		log_warn("mesos_call_failed", "call=%s reason=%s", x->call_type, log_qs(reason));
	} else if (x->status != 202 && x->status != 200) {
		status = x->status;
		snprintf(reason, sizeof reason, "%s", x->errbody);
		log_warn("mesos_call_rejected", "call=%s status=%ld reason=%s", x->call_type,
			 x->status, log_qs(x->errbody));
	} else {
		log_debug("mesos_call_ok", "call=%s", x->call_type);
		xfer_free(x);
		if (mc->qhead && !mc->flush_timer)
			mc->flush_timer = ev_timer_add(mc->loop, 0, flush_calls, mc);
		return;
	}
	if (mc->h.call_failed) {
		cJSON *call = cJSON_Parse(x->body);
		mc->h.call_failed(mc->arg, x->call_type, status, reason, call);
		cJSON_Delete(call);
	}
	xfer_free(x);
	if (status == 307 || status == 403) {
		/* not (or no longer) the leader that knows our stream */
		drop_stream(mc, "a call was answered by a master that does not hold our stream");
		return;
	}
	if (mc->qhead && !mc->flush_timer)
		mc->flush_timer = ev_timer_add(mc->loop, 0, flush_calls, mc);
}

static void check_done(struct mesos_client *mc)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(mc->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode res = m->data.result;
		if (x && x == mc->stream)
			stream_done(mc, x, res);
		else if (x && x == mc->probe)
			probe_done(mc, x, res);
		else if (x)
			call_done(mc, x, res);
	}
}

/* The detector's answer (on the loop). A new leader found in ZooKeeper is
 * tried at once, with the backoff reset; the next entry of a list, handed
 * over after our own det_failed(), only sets the candidate for the retry
 * that is already scheduled (a list must not be hammered through). */
static void on_leader(void *arg, const struct det_leader *l, const char *why)
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
		char base[300];
		url_base(mc->endpoint ? mc->endpoint : "", base, sizeof base);
		if (mc->probe || strcmp(base, l->url) != 0)
			drop_stream_ex(mc, "another master leads now", false);
	}
	/* A new leader from ZooKeeper is news: subscribe at once. The next
	 * entry of a list, handed over because we said the last one failed,
	 * waits for the backoff already scheduled. */
	bool news = mc->spec.kind == DET_ZK || !asked;
	if (news && !mc->refused) {
		mc->backoff_ms = mc->backoff_min_ms;
		schedule_retry(mc, 0);
	} else if (!mc->retry && !mc->stream) {
		schedule_resubscribe(mc);
	}
}

/* --- events -------------------------------------------------------------- */

static int on_record(void *arg, const char *rec, size_t len)
{
	struct mesos_client *mc = arg;
	cJSON *ev = cJSON_ParseWithLength(rec, len);
	const cJSON *type = ev ? cJSON_GetObjectItemCaseSensitive(ev, "type") : NULL;
	if (!cJSON_IsString(type)) {
		/* framing is intact, so the stream can go on: log and skip */
		char head[81];
		snprintf(head, sizeof head, "%.*s", (int)(len < 80 ? len : 80), rec);
		log_error("mesos_bad_event", "reason=%s bytes=%zu head=%s",
			  log_qs(ev ? "no type" : "not JSON"), len, log_qs(head));
		cJSON_Delete(ev);
		return 0;
	}
	arm_watchdog(mc);
	const char *t = type->valuestring;
	if (strcmp(t, "SUBSCRIBED") == 0) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "subscribed");
		const cJSON *fid = cJSON_GetObjectItemCaseSensitive(s, "framework_id");
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(fid, "value");
		const cJSON *hb = cJSON_GetObjectItemCaseSensitive(s, "heartbeat_interval_seconds");
		if (!cJSON_IsString(val) || !*val->valuestring) {
			log_error("mesos_bad_event", "reason=%s", log_qs("SUBSCRIBED without framework_id"));
			cJSON_Delete(ev);
			mc->drop_pending = true;
			snprintf(mc->drop_why, sizeof mc->drop_why, "SUBSCRIBED without framework_id");
			return 1;
		}
		free(mc->framework_id);
		mc->framework_id = qm_strdup(val->valuestring);
		mc->heartbeat_s = cJSON_IsNumber(hb) && hb->valuedouble > 0 ? hb->valuedouble : 15.0;
		free(mc->stream_id);
		mc->stream_id = qm_strdup(mc->stream->stream_id);
		mc->subscribed = true;
		mc->backoff_ms = mc->backoff_min_ms;
		mc->redirects = 0;
		mc->refused = false;
		mc->refusal[0] = mc->remedy[0] = mc->last_error[0] = '\0';
		/* MasterInfo.version (SUBSCRIBED.master_info since 1.1.0,
		 * include/mesos/v1/scheduler/scheduler.proto) */
		const cJSON *mi = cJSON_GetObjectItemCaseSensitive(s, "master_info");
		const cJSON *mv = cJSON_GetObjectItemCaseSensitive(mi, "version");
		if (cJSON_IsString(mv) && strlen(mv->valuestring) < sizeof mc->master_version &&
		    mc->leader)
			set_master_version(mc, mc->leader, mv->valuestring);
		arm_watchdog(mc);
		long long since = mc->leader_changed_at
					  ? (long long)(ev_now_ms() - mc->leader_changed_at)
					  : -1;
		log_info("mesos_subscribed",
			 "framework_id=%s heartbeat_s=%.1f endpoint=%s master_version=%s "
			 "since_leader_change_ms=%lld",
			 log_qs(mc->framework_id), mc->heartbeat_s, log_qs(mc->endpoint),
			 log_qs(mc->master_version[0] ? mc->master_version : "unknown"), since);
		mc->leader_changed_at = 0;
		if (mc->h.subscribed)
			mc->h.subscribed(mc->arg, mc->framework_id, mc->heartbeat_s, ev);
	} else if (strcmp(t, "ERROR") == 0) {
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
		cJSON_Delete(ev);
		return 1; /* the master closes the stream after ERROR */
	} else if (!mc->subscribed) {
		log_error("mesos_bad_event", "reason=%s type=%s", log_qs("event before SUBSCRIBED"),
			  log_qs(t));
	} else if (mc->h.event) {
		mc->h.event(mc->arg, t, ev);
	}
	cJSON_Delete(ev);
	return 0;
}

/* --- public -------------------------------------------------------------- */

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
	mc->zk_session_timeout_ms = cfg->zk_session_timeout_ms;
	mc->refused_retry_ms = cfg->refused_retry_ms ? cfg->refused_retry_ms : 300000;
	snprintf(mc->detection, sizeof mc->detection, "detection not started");
	recordio_init(&mc->rio, cfg->max_record ? cfg->max_record : RECORDIO_DEFAULT_CAP);
	mc->rio_ready = true;
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
	if (mc->multi) {
		while (mc->calls)
			xfer_free(mc->calls);
		xfer_free(mc->stream);
		mc->stream = NULL;
		xfer_free(mc->probe);
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
		snprintf(mc->detection, sizeof mc->detection, "waiting for the first answer "
			 "from %.250s", mc->spec.display);
		mc->det = det_new(mc->loop, &mc->spec, mc->zk_session_timeout_ms, on_leader, mc);
	}
	if (!mc->stream && !mc->probe && !mc->retry)
		mc->retry = ev_timer_add(mc->loop, 0, on_retry, mc);
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
		drop_stream_ex(mc, "framework reset by the operator", false);
	mc->backoff_ms = mc->backoff_min_ms;
	if (mc->running)
		schedule_retry(mc, 0);
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
	snprintf(out->master, sizeof out->master, "%s", mc->spec.display);
}

/* FrameworkInfo.Capability, include/mesos/v1/mesos.proto: the release that
 * first has each name. Before 1.5.0 stout refuses a whole call that names
 * an enum value it does not know (3rdparty/stout/include/stout/protobuf.hpp
 * at 1.4.0: "Failed to find enum for ..."), so a capability is only sent to
 * masters that know it. */
static const struct {
	const char *name, *since;
} caps_table[] = {
	{"MULTI_ROLE", "1.2.0"},
	{"PARTITION_AWARE", "1.1.0"},
	{"TASK_KILLING_STATE", "1.0.0"},
	{"RESERVATION_REFINEMENT", "1.4.0"},
};

size_t mesos_capabilities_for(const char *version, const char **names, size_t cap)
{
	const char *v = version && *version ? version : MESOS_OLDEST_SUPPORTED;
	size_t n = 0;
	for (size_t i = 0; i < sizeof caps_table / sizeof caps_table[0] && n < cap; i++)
		if (mesos_version_cmp(v, caps_table[i].since) >= 0)
			names[n++] = caps_table[i].name;
	return n;
}

int mesos_version_cmp(const char *a, const char *b)
{
	for (int part = 0; part < 3; part++) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		a += strspn(a, ".");
		b += strspn(b, ".");
		if (!*a && !*b)
			break;
	}
	return 0;
}

void mesos_stop(struct mesos_client *mc)
{
	mc->running = false;
	if (mc->retry) {
		ev_timer_cancel(mc->loop, mc->retry);
		mc->retry = 0;
	}
	if (mc->stream || mc->probe)
		drop_stream_ex(mc, "stopped by the coordinator", false);
}

bool mesos_subscribed(const struct mesos_client *mc) { return mc->subscribed; }
const char *mesos_framework_id(const struct mesos_client *mc) { return mc->framework_id; }
const char *mesos_endpoint(const struct mesos_client *mc) { return mc->endpoint; }

/* Calls travel on parallel connections, so the master may see them in
 * another order than they were made (the e2e journals showed ACCEPTs made
 * before a SUPPRESS arriving after it). That is harmless for most calls but
 * not for REVIVE and SUPPRESS: a SUPPRESS overtaking the REVIVE made after
 * it leaves the framework suppressed while launches wait (and nothing
 * revives again: the coordinator believes it did), a REVIVE overtaking an
 * earlier DECLINE lets the decline's long filter hide that agent. So REVIVE
 * and SUPPRESS are barriers: handed to curl only when no call is in flight,
 * and nothing is handed while one is (the master answers a call after
 * processing it). A call that hangs delays them by at most its timeout. */
static void flush_calls(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->flush_timer = 0;
	while (mc->qhead) {
		struct xfer *x = mc->qhead;
		if (mc->barrier_inflight || (x->barrier && mc->inflight > 0))
			break; /* call_done() flushes again */
		mc->qhead = x->qnext;
		if (!mc->qhead)
			mc->qtail = NULL;
		x->qnext = NULL;
		x->queued = false;
		CURLMcode rc = curl_multi_add_handle(mc->multi, x->easy);
		if (rc == CURLM_OK) {
			x->handed = true;
			mc->inflight++;
			if (x->barrier)
				mc->barrier_inflight = true;
		} else {
			log_error("mesos_call_failed", "type=%s error=%s", x->call_type,
				  log_qs(curl_multi_strerror(rc)));
			xfer_free(x);
		}
	}
}

int mesos_send(struct mesos_client *mc, cJSON *body)
{
	if (!mc->subscribed || !mc->framework_id) {
		cJSON_Delete(body);
		return QM_EAGAIN;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(body, "framework_id");
	cJSON_AddItemToObject(body, "framework_id", mesos_id(mc->framework_id));
	struct xfer *x = xfer_new(mc, body, false);
	cJSON_Delete(body);
	x->next = mc->calls;
	mc->calls = x;
	x->queued = true;
	if (mc->qtail)
		mc->qtail->qnext = x;
	else
		mc->qhead = x;
	mc->qtail = x;
	if (!mc->flush_timer)
		mc->flush_timer = ev_timer_add(mc->loop, 0, flush_calls, mc);
	return 0;
}

/* --- call builders --------------------------------------------------------- */

cJSON *mesos_id(const char *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "value", s);
	return o;
}

static cJSON *call_new(const char *type)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "type", type);
	return c;
}

static cJSON *filters(double refuse_seconds)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "refuse_seconds", refuse_seconds);
	return f;
}

cJSON *mesos_call_accept(cJSON *offer_ids, cJSON *operations, double refuse_seconds)
{
	cJSON *c = call_new("ACCEPT");
	cJSON *a = cJSON_AddObjectToObject(c, "accept");
	cJSON_AddItemToObject(a, "offer_ids", offer_ids);
	cJSON_AddItemToObject(a, "operations", operations);
	cJSON_AddItemToObject(a, "filters", filters(refuse_seconds));
	return c;
}

cJSON *mesos_call_decline(cJSON *offer_ids, double refuse_seconds)
{
	cJSON *c = call_new("DECLINE");
	cJSON *d = cJSON_AddObjectToObject(c, "decline");
	cJSON_AddItemToObject(d, "offer_ids", offer_ids);
	cJSON_AddItemToObject(d, "filters", filters(refuse_seconds));
	return c;
}

cJSON *mesos_call_kill(const char *task_id, const char *agent_id)
{
	cJSON *c = call_new("KILL");
	cJSON *k = cJSON_AddObjectToObject(c, "kill");
	cJSON_AddItemToObject(k, "task_id", mesos_id(task_id));
	if (agent_id && *agent_id)
		cJSON_AddItemToObject(k, "agent_id", mesos_id(agent_id));
	return c;
}

cJSON *mesos_call_acknowledge(const char *agent_id, const char *task_id, const char *uuid_b64)
{
	cJSON *c = call_new("ACKNOWLEDGE");
	cJSON *a = cJSON_AddObjectToObject(c, "acknowledge");
	cJSON_AddItemToObject(a, "agent_id", mesos_id(agent_id));
	cJSON_AddItemToObject(a, "task_id", mesos_id(task_id));
	cJSON_AddStringToObject(a, "uuid", uuid_b64);
	return c;
}

cJSON *mesos_call_reconcile(cJSON *tasks)
{
	cJSON *c = call_new("RECONCILE");
	cJSON *r = cJSON_AddObjectToObject(c, "reconcile");
	cJSON_AddItemToObject(r, "tasks", tasks);
	return c;
}

static cJSON *roles_call(const char *type, const char *key, const char *role)
{
	cJSON *c = call_new(type);
	cJSON *b = cJSON_AddObjectToObject(c, key);
	cJSON *roles = cJSON_AddArrayToObject(b, "roles");
	cJSON_AddItemToArray(roles, cJSON_CreateString(role));
	return c;
}

cJSON *mesos_call_revive(const char *role) { return roles_call("REVIVE", "revive", role); }
cJSON *mesos_call_suppress(const char *role) { return roles_call("SUPPRESS", "suppress", role); }
cJSON *mesos_call_teardown(void) { return call_new("TEARDOWN"); }
