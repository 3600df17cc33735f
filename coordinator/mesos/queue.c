#include "mesos/queue.h"

#include "log.h"
#include "mesos/client.h"
#include "mesos/subscribe.h"

#include <stdio.h>

/* Calls travel on parallel connections, so the master may see them in
 * another order than they were made (the e2e journals showed ACCEPTs made
 * before a SUPPRESS arriving after it). That is harmless for most calls but
 * not for REVIVE and SUPPRESS: a SUPPRESS overtaking the REVIVE made after
 * it leaves the framework suppressed while launches wait (and nothing
 * revives again: the coordinator believes it did), a REVIVE overtaking an
 * earlier DECLINE lets the decline's long filter hide that agent. So REVIVE
 * and SUPPRESS are barriers: handed to curl only when no call is in flight,
 * and nothing is handed while one is (the master answers a call after
 * processing it). A call that hangs delays them by at most its timeout.
 *
 * At most MESOS_CALLS_INFLIGHT calls are handed to curl at once; the rest
 * wait here, in order, and their timeout starts when they are handed. A
 * cycle that ACCEPTs offers of 10,000 agents made as many connections at
 * once before (more sockets than the usual soft limit of 1,024 fds holds,
 * TCP handshakes, curl_multi bookkeeping). The cap stays under that limit
 * but is not small: answers are only read between the loop's other work
 * (today a whole-state save per status update), so a small cap holds a
 * burst of launches back, and a large one lets a burst of status updates
 * (each saved) stall the loop. Measured with tests/bench/offer_cycle.py
 * --agents 1000 on a busy 2-core machine, every OFFERS -> ACCEPT p50/p99
 * and the longest loop iteration while launching: 32 in flight 8.7/16.9 s,
 * 0.6 s; 256: 4.2/9.7 s, 3.5 s; 512: 0.9/10.5 s, 10.0 s; uncapped
 * 1.5/1.8 s, not measured. The real fix is fewer saves, not this number. */
#define MESOS_CALLS_INFLIGHT 256

static void flush_calls(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct mesos_client *mc = arg;
	mc->flush_timer = 0;
	if (mc->qhead && mc->h.may_send && !mc->h.may_send(mc->arg)) {
		log_warn("mesos_calls_dropped", "reason=%s",
			 log_qs("this scheduler may no longer send (no longer sure it leads)"));
		mesos_queue_drop_unsent(mc);
		return;
	}
	while (mc->qhead) {
		struct mesos_xfer *x = mc->qhead;
		if (mc->barrier_inflight || (x->barrier && mc->inflight > 0) ||
		    mc->inflight >= MESOS_CALLS_INFLIGHT)
			break; /* mesos_queue_done() flushes again */
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
			mesos_xfer_free(x);
			mesos_drain_call_done(mc, false);
		}
	}
}

static void flush_soon(struct mesos_client *mc)
{
	if (mc->qhead && !mc->flush_timer)
		mc->flush_timer = ev_timer_add(mc->loop, 0, flush_calls, mc);
}

void mesos_queue_push(struct mesos_client *mc, const cJSON *call)
{
	struct mesos_xfer *x = mesos_xfer_post(mc, call, NULL);
	x->next = mc->calls;
	x->prev = NULL;
	if (mc->calls)
		mc->calls->prev = x;
	mc->calls = x;
	x->queued = true;
	if (mc->qtail)
		mc->qtail->qnext = x;
	else
		mc->qhead = x;
	mc->qtail = x;
	flush_soon(mc);
}

void mesos_queue_drop_unsent(struct mesos_client *mc)
{
	while (mc->qhead) {
		mesos_xfer_free(mc->qhead);
		mesos_drain_call_done(mc, false);
	}
}

void mesos_queue_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res)
{
	long status = 0;
	char reason[MESOS_XFER_ERRBODY + 64];
	if (res != CURLE_OK) {
		mesos_xfer_error(x, res, reason, sizeof reason);
		log_warn("mesos_call_failed", "call=%s reason=%s", x->call_type, log_qs(reason));
	} else if (x->status != 202 && x->status != 200) {
		status = x->status;
		snprintf(reason, sizeof reason, "%s", x->errbody);
		log_warn("mesos_call_rejected", "call=%s status=%ld reason=%s", x->call_type,
			 x->status, log_qs(x->errbody));
	} else {
		log_debug("mesos_call_ok", "call=%s", x->call_type);
		mesos_xfer_free(x);
		flush_soon(mc);
		mesos_drain_call_done(mc, true);
		return;
	}
	if (mc->h.call_failed) {
		cJSON *call = cJSON_Parse(x->body);
		mc->h.call_failed(mc->arg, x->call_type, status, reason, call);
		cJSON_Delete(call);
	}
	mesos_xfer_free(x);
	mesos_drain_call_done(mc, false);
	if (status == 307 || status == 403) {
		/* not (or no longer) the leader that knows our stream */
		mesos_sub_drop(mc, "a call was answered by a master that does not hold our stream",
			       true);
		return;
	}
	flush_soon(mc);
}
