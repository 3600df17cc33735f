/* The wiring of the state room: which store a coordinator uses, and the one
 * place its ZooKeeper connection is made.
 *
 * state_open() reads the location:
 *   - "file:///abs/dir", "file://localhost/dir" or a plain directory path:
 *     the file store (store_file.h); no ZooKeeper connection;
 *   - "zk://[user:password@]host:port[,host:port...]/path": one ZooKeeper
 *     connection (zk.h: the URL, digest credentials and ACLs) and the
 *     ZooKeeper store on it (store_zk.h).
 * The caller owns both results and hands the connection to whoever else
 * needs the same session - leader election (leader.h) - which borrows it.
 * Close in reverse: leader_free first, then state_close (the store, then
 * the connection).
 *
 * Threads: the owner thread (the coordinator's loop, or main before it). */
#ifndef QM_STATE_STATE_H
#define QM_STATE_STATE_H

#include "state/store.h"
#include "state/zk.h"

#include <stddef.h>

/* Open the store named by url. opts (may be NULL: defaults) are the
 * ZooKeeper connection's timeouts and are ignored for a file store. 0 with
 * *store set and *zk set for a ZooKeeper store (NULL for a file store), or
 * QM_EINVAL (URL not understood) / QM_EIO / QM_ECONFLICT (the file store's
 * directory cannot be used or is held by another process) with a message
 * in err and both left NULL. A file store is opened (and locked) here,
 * blocking; a ZooKeeper connection starts in the background and never
 * blocks here. Neither reads the state (store_load does). */
int state_open(const char *url, const struct zk_opts *opts,
	       struct store **store, struct zk_conn **zk, char *err,
	       size_t errlen);

/* Close the store, then the connection (NULL is fine for either), and
 * clear both pointers. Whoever borrowed the connection (leader election)
 * must be gone. */
void state_close(struct store **store, struct zk_conn **zk);

#endif
