/* Publishing the inventory to the coordinator: an NNG REQ socket dialing
 * the coordinator's REP listener, driven from the prober's loop.
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
 * callbacks only set atomic flags and write the eventfd (pub_wake_fd).
 * Everything else runs on the loop thread inside pub_step(). */
#ifndef QM_PUBLISHER_H
#define QM_PUBLISHER_H

#include "bus.h"
#include "bus_tls.h"
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
};

struct pub;

/* Is url a transport NNG can dial ("tcp://", "ipc://", ...)? For config
 * validation; does not resolve or connect. */
bool pub_url_valid(const char *url);

/* Open the socket and start dialing without waiting (NNG redials forever
 * with backoff between the reconnect bounds). Strings in cfg are copied.
 * 0, QM_EINVAL (URL refused by NNG), QM_EIO. */
int pub_new(const struct pub_config *cfg, struct pub **out);

/* Let a request in flight finish first (its Ack arrives or it fails; sends
 * nothing new): blocks for at most the ack timeout, capped at 1 s, because
 * closing while an Ack arrives can hang NNG 1.5 (see settle() in
 * publisher.c). Then stop every aio (waits for running callbacks), close the
 * socket, free. Loop thread only. */
void pub_free(struct pub *p);

/* Readable when NNG posted a completion or pipe event. */
int pub_wake_fd(const struct pub *p);
/* Readable when a heartbeat or a retry is due. */
int pub_timer_fd(const struct pub *p);

/* Process what was posted, then send what is due for the current state
 * (cur at generation gen). Call after either fd above fired and after
 * every inventory change. Loop thread only; never blocks. cur is copied
 * when sent, not retained. */
void pub_step(struct pub *p, const struct inv *cur, uint64_t gen);

bool pub_connected(const struct pub *p);
/* Generation the coordinator acknowledged last (0 = none yet). */
uint64_t pub_acked_generation(const struct pub *p);

#endif
