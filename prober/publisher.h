/* Publishing the inventory to the coordinator: an NNG REQ socket dialing
 * the coordinator's REP listener, driven from the prober's event loop
 * (common/evloop.h).
 *
 * Protocol (what the coordinator can rely on):
 *  - one request outstanding at a time; every reply is an Ack, verified
 *    with the node credential (bus_decode) before it is believed;
 *  - the first message after every (re)connection, after a lost request
 *    (no Ack within the ack timeout), after a rejected one, and whenever an
 *    Ack says send_snapshot, is a full snapshot; otherwise a delta from the
 *    generation the coordinator last acknowledged to the current state;
 *  - changes made while a request is outstanding or while disconnected are
 *    not queued: they fold into the next message (memory stays bounded:
 *    the current, the in-flight and the acknowledged inventory);
 *  - when nothing changed, a heartbeat every heartbeat interval carries the
 *    current (acknowledged) generation.
 *
 * Threads: NNG completes aios and pipe events on its own threads; those
 * callbacks only set atomic flags and send the publisher's ev_async.
 * Everything else runs on the loop thread: in the async's callback, in the
 * publisher's heartbeat/retry timer and in pub_step(). */
#ifndef QM_PUBLISHER_H
#define QM_PUBLISHER_H

#include "bus.h"
#include "bus_tls.h"
#include "evloop.h"
#include "inventory.h"

#include <stdbool.h>
#include <stdint.h>

struct pub_config {
	const char *url;               /* tcp://host:port, ipc://... */
	struct bus_tls tls;            /* for tls+tcp:// (bus_tls.h); read by pub_new */
	uint8_t cred[BUS_CRED_LEN];    /* node credential */
	const char *agent_id;
	const char *hostname;
	const char *boot_id;
	uint64_t session;              /* random per start */
	long long heartbeat_ms;
	long long ack_timeout_ms;
	long long reconnect_min_ms;
	long long reconnect_max_ms;
	/* The inventory to publish and its generation, asked for when a
	 * completion or a timer (not pub_step) makes something due. Loop
	 * thread; the result is not retained. */
	const struct inv *(*current)(void *arg, uint64_t *gen);
	void *current_arg;
	/* Optional: the prober's counters, filled into every message sent
	 * (messages_sent and send_failures are the publisher's own). Loop
	 * thread; called with current_arg. */
	void (*stats)(void *arg, Quobyte__Bus__ProberStats *st);
};

struct pub;

/* Is url a transport NNG can dial ("tcp://", "ipc://", ...)? For config
 * validation; does not resolve or connect. */
bool pub_url_valid(const char *url);

/* Open the socket and start dialing without waiting (NNG redials forever
 * with backoff between the reconnect bounds); its completions and timers
 * run on loop. Strings in cfg are copied. 0, QM_EINVAL (URL refused by
 * NNG), QM_EIO. Loop thread. */
int pub_new(const struct pub_config *cfg, struct ev_loop *loop, struct pub **out);

/* Let a request in flight finish first (its Ack arrives or it fails; sends
 * nothing new): blocks for at most the ack timeout, capped at 1 s, because
 * closing while an Ack arrives can hang NNG 1.5 (see settle() in
 * publisher.c). Then stop every aio (waits for running callbacks), close the
 * socket, free. Loop thread only, the loop not running (ev_run returned):
 * the wait happens here, not on the loop; before ev_loop_free. */
void pub_free(struct pub *p);

/* Process what was posted, then send what is due for the current state
 * (cur at generation gen). Call after every inventory change (completions
 * and timers call it by themselves, with cfg->current). Loop thread only;
 * never blocks. cur is copied when sent, not retained. */
void pub_step(struct pub *p, const struct inv *cur, uint64_t gen);

bool pub_connected(const struct pub *p);
/* Generation the coordinator acknowledged last (0 = none yet). */
uint64_t pub_acked_generation(const struct pub *p);

#endif
