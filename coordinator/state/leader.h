/* Leader election through ZooKeeper (the ephemeral-sequential recipe).
 *
 * Each contender creates an ephemeral sequential znode
 *   P/leader/n_<session id, 16 hex>_<sequence, 10 digits>
 * holding its identity (e.g. its REST URL), P being the zk:// URL's path.
 * The contender with the lowest sequence number leads; every other one
 * watches only its predecessor (no herd effect when the leader goes) and
 * reads the lowest znode's data to know who leads. The znode vanishes with
 * its session: a leader that dies, is partitioned beyond the session timeout
 * or closes its session is replaced within that time.
 *
 * Stepping down: the moment the client reports the connection to the
 * ensemble lost (before the session is known to be expired: during a
 * partition the others may already have elected someone), leader_is_leader()
 * turns false - it reads a flag the ZooKeeper thread sets, so it is right
 * even before the loop has seen the event - and `lost` is the first thing the
 * loop runs for this election. After the connection comes back with the same
 * session the contender checks its znode again and is elected again if it
 * is still the lowest; after session expiry it starts a new session and
 * stands again with a new znode.
 *
 * A create whose answer was lost (connection broke) is recovered by the
 * session id in the name: the znode is found and adopted, never left behind
 * as a ghost contender.
 *
 * Threads: every function and callback here runs on the loop thread;
 * ZooKeeper's callbacks only post to the loop (ev_post). The zk_conn is
 * shared (e.g. with store_zk) and must outlive the leader; one leader per
 * zk_conn (znodes are recognised by their session id).
 *
 * Fencing: an elected coordinator should fence its store on its znode
 * (store_zk_set_fence(store, leader_znode(l)) in `elected`; the znode
 * changes when the session is renewed): every save then also checks that
 * this znode still exists, in the same ZooKeeper transaction, so writes of
 * a coordinator that lost leadership fail even before `lost` has run. */
#ifndef QM_LEADER_H
#define QM_LEADER_H

#include "evloop.h"
#include "state/zk.h"

#include <stdbool.h>
#include <stddef.h>

#define LEADER_DIR "leader"
#define LEADER_ID_MAX 1024

struct leader_cbs {
	/* This contender now leads: start acting (subscribe, launch, ...). */
	void (*elected)(void *arg);
	/* This contender no longer leads (connection lost, session expired,
	 * znode deleted, closed): stop acting at once. reason is for logs. Only
	 * called after elected. */
	void (*lost)(void *arg, const char *reason);
	/* The leader's identity changed: its id string, or NULL while unknown
	 * (e.g. disconnected, or nobody stands). Optional (may be NULL). */
	void (*leader_changed)(void *arg, const char *leader_id);
};

struct leader;

/* Stand for election under zk_conn_path(zk)/leader with identity id (at
 * most LEADER_ID_MAX bytes, stored as the znode's data; followers show it,
 * e.g. "http://host:port"). Starts at once if the session is connected,
 * else when it connects. cbs is copied. 0, or QM_EINVAL (bad id). */
int leader_new(struct ev_loop *loop, struct zk_conn *zk, const char *id,
	       const struct leader_cbs *cbs, void *arg, struct leader **out,
	       char *err, size_t errlen);

/* Resign and free: deletes our znode when connected (the next contender
 * takes over at once; else it goes with the session), no callback runs
 * after this returns. Loop thread. Events already posted to the loop are
 * dropped and the memory is released by them, so the loop must run (or be
 * freed) afterwards. NULL is fine. */
void leader_free(struct leader *l);

/* True while elected and the connection is up. */
bool leader_is_leader(const struct leader *l);

/* Identity of the current leader (ours when leading), NULL when unknown.
 * Valid until the next callback. */
const char *leader_current(const struct leader *l);

/* Full path of our election znode, NULL while we have none. Use it as the
 * store's fence (store_zk_set_fence) while leading. */
const char *leader_znode(const struct leader *l);

#endif
