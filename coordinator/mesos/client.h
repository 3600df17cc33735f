/* The Mesos client's insides, shared by the files that make it up (as curl's
 * urldata.h is): mesos.c (lifecycle, libcurl <-> evloop, the public
 * accessors), subscribe.c (detection answers, GET /version, SUBSCRIBE and
 * the event stream), queue.c (the ordinary calls and their answers) and
 * xfer.c (one libcurl transfer). The pure helpers they use have no state
 * of their own: url.c (URLs through libcurl's URL API), call.c (call
 * builders), compat.c (releases, capabilities, refusals). Nothing outside
 * coordinator/mesos/ includes this file; the public surface is mesos.h.
 * Everything here runs on the loop thread. */
#ifndef QM_MESOS_CLIENT_H
#define QM_MESOS_CLIENT_H

#include "mesos/detector.h"
#include "mesos/evparse.h"
#include "mesos/mesos.h"
#include "mesos/recordio.h"
#include "mesos/xfer.h"

#include <curl/curl.h>

#define MESOS_PATH "/api/v1/scheduler"

struct mesos_client {
	struct ev_loop *loop;
	struct mesos_handlers h;
	void *arg;
	/* config, copied */
	char *user, *name, *role, *principal, *secret, *hostname, *webui_url;
	char *ca_file;     /* CURLOPT_CAINFO for https masters, or NULL */
	bool tls_insecure; /* no verification of https masters */
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
	bool awaiting_det; /* det_failed() called, its answer not seen yet */
	int zk_session_timeout_ms;
	char *leader;
	char leader_version[32]; /* from the detector (MasterInfo), may be "" */
	char *endpoint;          /* http://host:port/api/v1/scheduler, or NULL */
	/* The release of the master at `version_of` (a base URL), learned by
	 * GET /version, the detector or SUBSCRIBED; "" = it did not say. */
	char *version_of;
	char master_version[32];
	struct mesos_xfer *probe; /* GET /version in flight */
	bool waiting_logged;
	char detection[320];
	char last_error[320];
	uint64_t leader_changes, attempts_failed, records_refused;
	uint64_t leader_changed_at; /* monotonic ms of the last change, 0 = none */
	/* A refusal that retrying cannot change (see mesos_refusal_remedy). */
	bool refused;
	char refusal[320], remedy[320];
	int64_t refused_since_ms;
	uint64_t refused_retry_ms;
	char *framework_id; /* known id, or NULL */
	char *stream_id;    /* while subscribed */
	bool running;       /* mesos_start() called, not stopped */
	bool subscribed;
	unsigned redirects; /* consecutive 307s, bounded */

	CURLM *multi;
	uint64_t curl_timer;
	struct mesos_xfer *stream;
	struct mesos_xfer *calls; /* in flight, freed on completion or mesos_free */
	/* Calls made while curl is inside a callback cannot be added there
	 * (CURLM_RECURSIVE_API_CALL), so every call is queued and handed to
	 * curl from a zero-delay timer, in the order it was made. */
	struct mesos_xfer *qhead, *qtail;
	uint64_t flush_timer;
	unsigned inflight; /* ordinary calls handed to curl, not done */
	bool barrier_inflight;
	struct recordio rio;
	/* A burst on the stream is handled STREAM_FEED_MS at a time: when
	 * curl's socket action (started at feed_from_ms) has fed the stream
	 * that long, the stream pauses and resume_timer resumes it on the
	 * next loop iteration (subscribe.c). */
	uint64_t feed_from_ms;
	uint64_t resume_timer;
	uint64_t stream_pauses;
	/* Big records are parsed on evparse's thread; each is tagged with
	 * the stream it came on (stream_gen, counted up per SUBSCRIBE), so
	 * one of a stream since dropped is never handled. */
	struct evparse *evp;
	size_t parse_off_loop_min;
	uint64_t stream_gen;
	uint64_t records_off_loop;
	uint64_t watchdog; /* timer id */
	uint64_t retry;    /* timer id */
	double heartbeat_s;
	/* A drain (mesos_drain; h.event is cleared for it: dispatch drops
	 * the events), its bound and the zero-delay timer that reports its
	 * end, what the report counts. */
	bool draining;
	mesos_drained_fn drain_done;
	void *drain_arg;
	uint64_t drain_bound, drain_end; /* timer ids */
	uint64_t drain_from_ms;
	struct mesos_drain_report drain_report;
	bool in_dispatch; /* stream dropped during dispatch: defer cleanup */
	bool drop_pending;
	bool rio_ready;
	char drop_why[320];
};

/* Let curl act on what is due and take the finished transfers (mesos.c):
 * after an action of ours outside its callbacks (resuming the stream). */
void mesos_curl_settle(struct mesos_client *mc);
/* A call taken during a drain is done (answered: ok says whether the master
 * took it; or dropped unsent): count it and, when it was the last one, end
 * the drain from a zero-delay timer (mesos.c). Nothing outside a drain. */
void mesos_drain_call_done(struct mesos_client *mc, bool ok);

#endif
