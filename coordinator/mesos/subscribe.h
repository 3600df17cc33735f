/* The Mesos client's subscription: the detector's answers, GET /version
 * before a master of unknown release, SUBSCRIBE (by hand through one 307
 * per attempt), the RecordIO event stream and its watchdog, refusals, and
 * the backoff between attempts. Part of the client
 * (coordinator/mesos/client.h); loop thread only; no handler of the owner
 * runs from inside these functions except where said. */
#ifndef QM_MESOS_SUBSCRIBE_H
#define QM_MESOS_SUBSCRIBE_H

#include "mesos/detector.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct mesos_client;
struct mesos_xfer;

/* Subscribe (again) after delay_ms, replacing a retry already scheduled. */
void mesos_sub_retry(struct mesos_client *mc, uint64_t delay_ms);
/* Drop the stream and any probe, void the stream id and the calls not sent
 * yet, tell the owner (disconnected) if we were subscribed, and schedule
 * the next attempt; redetect: tell the detector the leader failed first.
 * Inside the stream's write callback the drop is deferred to its end. */
void mesos_sub_drop(struct mesos_client *mc, const char *why, bool redetect);
/* The SUBSCRIBE stream's / the probe's transfer finished with res. */
void mesos_sub_stream_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res);
void mesos_sub_probe_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res);
/* A record parsed on evparse's thread, back on the loop (evparse_deliver_fn,
 * arg = mc). */
struct evparse_item;
void mesos_sub_parsed(void *arg, struct evparse_item *it);
/* The detector's answer (det_fn, arg = mc). */
void mesos_sub_on_leader(void *arg, const struct det_leader *l, const char *why);

#endif
