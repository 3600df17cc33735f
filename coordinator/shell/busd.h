/* The coordinator's end of the bus: an NNG REP listener (probers dial it)
 * whose messages are decoded and answered on the coordinator's loop thread.
 *
 * NNG completes receives on its own threads; those callbacks only post the
 * received message to the loop (ev_post). Decoding, authentication against
 * the cluster secret, the handler and the encoding of the Ack all run on the
 * loop thread, so the handler may touch coordinator state freely. A fixed
 * number of NNG contexts bounds how many prober messages are in flight.
 *
 * A frame that fails to decode is logged with its reason and answered with
 * nothing (the REP context simply receives again): an unauthenticated peer
 * learns nothing. An authenticated message the handler refuses gets an Ack
 * with `error`. */
#ifndef QM_BUSD_H
#define QM_BUSD_H

#include "bus.h"
#include "bus_tls.h"
#include "evloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct busd;

/* Called on the loop thread for each authenticated message. Fill *ack
 * (initialised, generation unset); strings put into it must outlive the
 * call's return only until busd encodes it (immediately after). */
typedef void (*busd_handler)(void *arg, const char *agent_id, const bus_envelope *env,
			     Quobyte__Bus__Ack *ack);

/* Listen on url (tcp://host:port, or tls+tcp://host:port with tls's
 * certificate and key: bus_tls.h). secret is copied; tls is used during the
 * call only. Returns NULL with err filled when the URL cannot be listened on
 * or the TLS files are refused. */
struct busd *busd_new(struct ev_loop *loop, const char *url, const struct bus_tls *tls,
		      const uint8_t *secret, size_t secretlen, busd_handler h, void *arg,
		      char *err, size_t errlen);

/* Stop receiving and release everything; call on the loop thread. Waits for
 * NNG's callbacks to finish; messages already posted to the loop are
 * dropped, and the memory is released by a final posted item, so the loop
 * must run (or be freed) afterwards. */
void busd_free(struct busd *b);

/* Counters for /metrics and tests. */
struct busd_stats {
	uint64_t received, accepted, rejected, replies;
};
void busd_stats(const struct busd *b, struct busd_stats *out);

#endif
