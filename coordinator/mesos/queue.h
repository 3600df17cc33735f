/* The Mesos client's ordinary calls (everything but SUBSCRIBE): queued in
 * the order they are made, handed to curl from a zero-delay timer (curl
 * refuses new transfers from inside its own callbacks), REVIVE and SUPPRESS
 * as barriers, and their answers judged. Part of the client
 * (coordinator/mesos/client.h); loop thread only. */
#ifndef QM_MESOS_QUEUE_H
#define QM_MESOS_QUEUE_H

#include <cjson/cJSON.h>
#include <curl/curl.h>

struct mesos_client;
struct mesos_xfer;

/* Queue `call` (complete: framework id set; printed, not taken) to
 * mc->endpoint with mc->stream_id, and arrange a flush. Never fails. */
void mesos_queue_push(struct mesos_client *mc, const cJSON *call);
/* A queued call's transfer finished with res: log, tell the owner of a
 * call the master did not take (call_failed), drop the stream on 307/403,
 * free x, flush what waited. */
void mesos_queue_done(struct mesos_client *mc, struct mesos_xfer *x, CURLcode res);
/* Free the calls not handed to curl yet (they carry a stream id that is
 * void now). */
void mesos_queue_drop_unsent(struct mesos_client *mc);

#endif
