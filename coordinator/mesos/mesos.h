/* The coordinator's Mesos client: v1 HTTP scheduler API over libcurl (multi
 * socket interface, driven by the coordinator's evloop) with JSON via cJSON.
 * See shared/docs/mesos-v1-scheduler-api.md, sections cited below.
 *
 * What it does on its own:
 *  - SUBSCRIBE with the configured FrameworkInfo (and the framework id once
 *    known, both top-level and in framework_info, §1.8), reads the chunked
 *    RecordIO stream incrementally with a bounded record size (§1.2), keeps
 *    Mesos-Stream-Id for every other call (§1.3);
 *  - finds the leading master (coordinator/mesos/detector.h: one URL, a list
 *    tried in turn, or zk:// detection as Mesos's own drivers do); a 307
 *    is followed by hand for the current attempt only (§1.5, the
 *    protocol-relative Location); a refused connection, a timeout, a 503 or
 *    a dropped stream goes back to detection;
 *  - learns the master's release (GET /version before subscribing to a
 *    master whose release it does not know, MasterInfo from ZooKeeper or
 *    SUBSCRIBED) and sends only the FrameworkInfo capabilities that release
 *    knows (stout refuses unknown enum names before 1.5.0);
 *  - tells refusals that retrying cannot change ("Framework has been
 *    removed", a role or user the master refuses, authentication failed,
 *    a call the master cannot parse) from transient ones: those are
 *    reported as `refused`, retried only every few minutes, until the
 *    owner starts over (mesos_reset_framework);
 *  - a missed-heartbeat watchdog: no event for `heartbeat_misses` heartbeat
 *    intervals drops the stream (§1.6);
 *  - on EOF, error, ERROR event, 503 or a bad record: drops the stream and
 *    re-subscribes after a jittered exponential backoff (same framework id);
 *  - HTTP basic authentication when a principal and secret are configured.
 *  - https masters verified against the system's CAs or `ca_file`; a
 *    failed verification is a failed attempt (named as such in last_error
 *    and the log, retried with backoff), never a crash.
 * What it leaves to its owner: every decision. Events are handed over
 * parsed; calls are built by the owner (helpers below) and sent with
 * mesos_send().
 *
 * Threads: everything runs on the evloop thread, but for the parsing of big
 * records (and the handlers' `prepare`), done on a thread of the client's
 * own (evparse.h); no callback is ever invoked from inside mesos_send() or
 * mesos_start(). */
#ifndef QM_MESOS_H
#define QM_MESOS_H

#include "evloop.h"
#include "mesos/call.h"
#include "mesos/compat.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

struct mesos_config {
	const char *master;        /* "http://host:5050" (scheme optional) */
	const char *user;          /* FrameworkInfo.user */
	const char *name;          /* FrameworkInfo.name */
	const char *role;          /* the single role, sent as roles[] (MULTI_ROLE) */
	const char *principal;     /* NULL: none */
	const char *secret;        /* with principal: HTTP basic auth */
	const char *hostname;      /* FrameworkInfo.hostname, optional */
	const char *webui_url;     /* optional */
	const char *master_scheme; /* for zk://-detected masters: "http" (default) or "https" */
	const char *ca_file;       /* https masters: verify against this CA bundle only
				      * (CURLOPT_CAINFO); NULL: the system's CAs. Must be
				      * readable at mesos_new. */
	bool tls_insecure;         /* https masters: verify nothing (warned at start) */
	int zk_session_timeout_ms; /* zk:// detection session (0 = default) */
	double failover_timeout_s; /* e.g. 604800 (one week) */
	bool start_suppressed;     /* SUBSCRIBE with suppressed_roles=[role] */
	uint64_t backoff_min_ms;   /* first re-subscribe delay (default 500) */
	uint64_t backoff_max_ms;   /* cap (default 15000) */
	unsigned heartbeat_misses; /* default 5 */
	size_t max_record;         /* RecordIO cap (default 16 MiB) */
	/* Records of this many bytes or more are parsed on a thread of the
	 * client's own while the loop goes on (evparse.h), and so is every
	 * record behind one still there (the stream keeps its order).
	 * 0: the default, MESOS_PARSE_OFF_LOOP_MIN; SIZE_MAX: never. */
	size_t parse_off_loop_min;
	long call_timeout_ms;      /* ordinary calls (default 75000) */
	uint64_t refused_retry_ms; /* retry after a terminal refusal (default 300000) */
};

/* 256 KiB: a record this long takes cJSON ~2 ms; an OFFERS event of 300
 * agents or so. Shorter ones are parsed on the loop (a thread hop costs
 * more than it saves). */
#define MESOS_PARSE_OFF_LOOP_MIN (256u << 10)

struct mesos_handlers {
	/* SUBSCRIBED: the framework id to persist before anything else. */
	void (*subscribed)(void *arg, const char *framework_id, double heartbeat_interval_s,
			   const cJSON *event);
	/* Every other event (OFFERS, UPDATE, RESCIND, FAILURE, HEARTBEAT, ...),
	 * type in `type`. The event is valid only during the call. `prepared`
	 * is what `prepare` made of it, or NULL (no prepare, or the record was
	 * parsed on the loop): the handler may take parts out of it; the
	 * client frees the rest with prepared_free after the call. */
	void (*event)(void *arg, const char *type, const cJSON *event, void *prepared);
	/* Run on the client's parser thread for a record parsed there
	 * (mesos_config.parse_off_loop_min), with the whole event: the pure
	 * part of its handling (reading an OFFERS event's offers), done off the
	 * loop. Must touch nothing but the event and what it returns. NULL:
	 * nothing is prepared. prepared_free runs on that thread too. */
	void *(*prepare)(const cJSON *event);
	void (*prepared_free)(void *prepared);
	/* The stream is gone (why in words); a re-subscribe is scheduled. All
	 * outstanding offers are void (§1.8). */
	void (*disconnected)(void *arg, const char *why);
	/* The master sent ERROR (e.g. "Framework has been removed"). Called
	 * before disconnected. */
	void (*error)(void *arg, const char *message);
	/* A call other than SUBSCRIBE was answered with a non-2xx status (the
	 * master did not take it: offers of a refused ACCEPT are still held).
	 * `call` is the call as sent, valid only during the handler; status 0
	 * means no answer at all (connection failed or timed out: the master may
	 * or may not have seen it). Runs on the loop, never inside mesos_send. */
	void (*call_failed)(void *arg, const char *type, long status, const char *reason,
			    const cJSON *call);
	/* Asked before a call is taken (mesos_send) and again before a queued
	 * one goes out: false drops it (mesos_send answers QM_EAGAIN). A
	 * scheduler that can no longer be sure it leads answers false: a
	 * leader paused past its lease wakes up with a stream id the master
	 * has already given to its successor. NULL: always true. */
	bool (*may_send)(void *arg);
};

/* Where the client stands, for /v1/health and /v1/state. */
enum mesos_phase {
	MESOS_DETECTING,  /* no leading master known yet */
	MESOS_CONNECTING, /* subscribing (or backing off between attempts) */
	MESOS_SUBSCRIBED,
	MESOS_REFUSED, /* a refusal retrying cannot change: see `refusal` */
	MESOS_STOPPED
};

struct mesos_status {
	enum mesos_phase phase;
	char master[1100];        /* --master as configured (password masked) */
	char leader[256];         /* current leader / candidate URL, "" if none */
	char master_version[32];  /* "" if unknown */
	char detection[320];      /* why no leader is known, "" otherwise */
	char last_error[320];     /* last failed attempt, "" if none */
	char refusal[320];        /* MESOS_REFUSED: what the master said */
	char remedy[320];         /* MESOS_REFUSED: the operator's way out */
	int64_t refused_since_ms; /* wall clock */
	uint64_t leader_changes;
	uint64_t attempts_failed;
	/* records of the event stream that could not be read (over the size
	 * cap, bad framing); each dropped the stream */
	uint64_t records_refused;
	/* records parsed on the parser thread and handled */
	uint64_t records_off_loop;
	/* times a burst on the stream was paused for the next loop iteration */
	uint64_t stream_pauses;
};

struct mesos_client;

/* Create a client on loop. The config strings are copied. Nothing happens
 * until mesos_start(). NULL on curl initialisation failure. */
struct mesos_client *mesos_new(struct ev_loop *loop, const struct mesos_config *cfg,
			       const struct mesos_handlers *h, void *arg);
/* Stop all transfers (calls still queued or in flight are dropped: see
 * mesos_drain for a stop that lets them finish), cancel timers, free. No
 * callback runs afterwards. */
void mesos_free(struct mesos_client *mc);

/* Start subscribing (again), with framework_id (NULL or "" = new framework).
 * Returns at once; the result arrives through the handlers. */
void mesos_start(struct mesos_client *mc, const char *framework_id);
/* Drop the stream and do not re-subscribe until mesos_start() (used when a
 * coordinator loses leadership). */
void mesos_stop(struct mesos_client *mc);

/* Forget the framework id and subscribe as a new framework (the operator's
 * way out of a removed framework; never done automatically). */
void mesos_reset_framework(struct mesos_client *mc);

bool mesos_subscribed(const struct mesos_client *mc);
void mesos_status(const struct mesos_client *mc, struct mesos_status *out);
const char *mesos_phase_name(enum mesos_phase p);
const char *mesos_framework_id(const struct mesos_client *mc);
/* URL of the scheduler endpoint currently used (after redirects). */
const char *mesos_endpoint(const struct mesos_client *mc);

/* What a drain came to (mesos_drain). `calls`: the calls it waited for,
 * those taken before it and the acknowledgements taken during it; of
 * them, `answered` were taken by the master (2xx), `failed` refused,
 * unanswered or dropped unsent (the stream went away), `dropped` still
 * queued or in flight when the bound ran out (`timed_out`). */
struct mesos_drain_report {
	unsigned calls, answered, failed, dropped;
	uint64_t took_ms;
	bool timed_out;
};
typedef void (*mesos_drained_fn)(void *arg, const struct mesos_drain_report *r);

/* The first half of a graceful stop: let the calls already taken (queued
 * or in flight) go out and be answered, and start nothing new. Returns how
 * many calls that is (0: done runs at once, on the next loop iteration).
 * Until the client is freed:
 *  - the event stream stays open (a master refuses every call of a
 *    framework whose subscription connection closed: 403 "Framework is not
 *    subscribed", src/master/http.cpp scheduler() at 1.4.0 ... 1.11.0) but
 *    its events are dropped unhandled: an UPDATE not acknowledged is sent
 *    again after the next subscription, OFFERS not answered are rescinded
 *    when the framework disconnects; SUBSCRIBED, ERROR and disconnected
 *    still reach their handlers;
 *  - mesos_send() takes ACKNOWLEDGE and ACKNOWLEDGE_OPERATION_STATUS (they
 *    finish the handling of updates received before the drain, and the
 *    drain waits for them too) and answers any other call QM_EAGAIN;
 *  - a dropped stream is not subscribed again (the calls not sent yet go
 *    with it, as they always do);
 *  - calls still queued or in flight after max_ms are left as they are
 *    (mesos_free drops them) and counted as `dropped`.
 * done(arg, report) runs once, on the loop, from a timer: never inside
 * mesos_drain or mesos_send; not at all if the client is freed first. The
 * report is valid only during the call. Call it once per client. */
unsigned mesos_drain(struct mesos_client *mc, uint64_t max_ms, mesos_drained_fn done, void *arg);

/* Calls taken and not done yet: queued, or handed to curl and not
 * answered. */
unsigned mesos_calls_pending(const struct mesos_client *mc);

/* Send a call. Takes ownership of `body` (a Call object whose "type" is set
 * and whose type-specific body is filled in); the client adds framework_id
 * and sends it with the stream id. QM_EAGAIN when not subscribed (the call
 * is dropped: offers and stream ids do not survive a re-subscribe anyway).
 * A non-202 answer is logged with the master's plain-text reason; a 307 or
 * 403 also drops the stream, since it means we no longer talk to a leader
 * that knows us. During a drain only acknowledgements are taken
 * (mesos_drain). */
int mesos_send(struct mesos_client *mc, cJSON *body);

#endif
