/* The coordinator's Mesos client: v1 HTTP scheduler API over libcurl (multi
 * socket interface, driven by the coordinator's evloop) with JSON via cJSON.
 * See shared/docs/mesos-v1-scheduler-api.md, sections cited below.
 *
 * What it does on its own:
 *  - SUBSCRIBE with the configured FrameworkInfo (and the framework id once
 *    known, both top-level and in framework_info, §1.8), reads the chunked
 *    RecordIO stream incrementally with a bounded record size (§1.2), keeps
 *    Mesos-Stream-Id for every other call (§1.3);
 *  - follows 307 redirects to the leading master by hand (§1.5, the
 *    protocol-relative Location);
 *  - a missed-heartbeat watchdog: no event for `heartbeat_misses` heartbeat
 *    intervals drops the stream (§1.6);
 *  - on EOF, error, ERROR event, 503 or a bad record: drops the stream and
 *    re-subscribes after a jittered exponential backoff (same framework id);
 *  - HTTP basic authentication when a principal and secret are configured.
 * What it leaves to its owner: every decision. Events are handed over
 * parsed; calls are built by the owner (helpers below) and sent with
 * mesos_send().
 *
 * Threads: everything runs on the evloop thread; no callback is ever invoked
 * from inside mesos_send() or mesos_start(). */
#ifndef QM_MESOS_H
#define QM_MESOS_H

#include "evloop.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

struct mesos_config {
	const char *master;          /* "http://host:5050" (scheme optional) */
	const char *user;            /* FrameworkInfo.user */
	const char *name;            /* FrameworkInfo.name */
	const char *role;            /* the single role, sent as roles[] (MULTI_ROLE) */
	const char *principal;       /* NULL: none */
	const char *secret;          /* with principal: HTTP basic auth */
	const char *hostname;        /* FrameworkInfo.hostname, optional */
	const char *webui_url;       /* optional */
	double failover_timeout_s;   /* e.g. 604800 (one week) */
	bool start_suppressed;       /* SUBSCRIBE with suppressed_roles=[role] */
	uint64_t backoff_min_ms;     /* first re-subscribe delay (default 500) */
	uint64_t backoff_max_ms;     /* cap (default 15000) */
	unsigned heartbeat_misses;   /* default 5 */
	size_t max_record;           /* RecordIO cap (default 16 MiB) */
	long call_timeout_ms;        /* ordinary calls (default 75000) */
};

struct mesos_handlers {
	/* SUBSCRIBED: the framework id to persist before anything else. */
	void (*subscribed)(void *arg, const char *framework_id,
			   double heartbeat_interval_s, const cJSON *event);
	/* Every other event (OFFERS, UPDATE, RESCIND, FAILURE, HEARTBEAT, ...),
	 * type in `type`. The event is valid only during the call. */
	void (*event)(void *arg, const char *type, const cJSON *event);
	/* The stream is gone (why in words); a re-subscribe is scheduled. All
	 * outstanding offers are void (§1.8). */
	void (*disconnected)(void *arg, const char *why);
	/* The master sent ERROR (e.g. "Framework has been removed"). Called
	 * before disconnected. */
	void (*error)(void *arg, const char *message);
};

struct mesos_client;

/* Create a client on loop. The config strings are copied. Nothing happens
 * until mesos_start(). NULL on curl initialisation failure. */
struct mesos_client *mesos_new(struct ev_loop *loop, const struct mesos_config *cfg,
			       const struct mesos_handlers *h, void *arg);
/* Stop all transfers, cancel timers, free. No callback runs afterwards. */
void mesos_free(struct mesos_client *mc);

/* Start subscribing (again), with framework_id (NULL or "" = new framework).
 * Returns at once; the result arrives through the handlers. */
void mesos_start(struct mesos_client *mc, const char *framework_id);
/* Drop the stream and do not re-subscribe until mesos_start() (used when a
 * coordinator loses leadership). */
void mesos_stop(struct mesos_client *mc);

bool mesos_subscribed(const struct mesos_client *mc);
const char *mesos_framework_id(const struct mesos_client *mc);
/* URL of the scheduler endpoint currently used (after redirects). */
const char *mesos_endpoint(const struct mesos_client *mc);

/* Send a call. Takes ownership of `body` (a Call object whose "type" is set
 * and whose type-specific body is filled in); the client adds framework_id
 * and sends it with the stream id. QM_EAGAIN when not subscribed (the call
 * is dropped: offers and stream ids do not survive a re-subscribe anyway).
 * A non-202 answer is logged with the master's plain-text reason; a 307 or
 * 403 also drops the stream, since it means we no longer talk to a leader
 * that knows us. */
int mesos_send(struct mesos_client *mc, cJSON *body);

/* Call builders (§3). Each returns a new Call object for mesos_send(). */
cJSON *mesos_call_accept(cJSON *offer_ids /* taken: array of {"value"} */,
			 cJSON *operations /* taken: array */, double refuse_seconds);
cJSON *mesos_call_decline(cJSON *offer_ids /* taken */, double refuse_seconds);
cJSON *mesos_call_kill(const char *task_id, const char *agent_id /* may be NULL */);
cJSON *mesos_call_acknowledge(const char *agent_id, const char *task_id,
			      const char *uuid_b64);
/* tasks: array of {"task_id":{"value"},"agent_id":{"value"}} (taken); an
 * empty array asks for implicit reconciliation. */
cJSON *mesos_call_reconcile(cJSON *tasks);
cJSON *mesos_call_revive(const char *role);
cJSON *mesos_call_suppress(const char *role);
cJSON *mesos_call_teardown(void);
/* {"value": s} */
cJSON *mesos_id(const char *s);

#endif
