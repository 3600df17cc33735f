/* The ZooKeeper backend of the store interface (store.h).
 *
 * Layout under the URL's path P (zk.h: zk://[user:pw@]hosts/P):
 *   P/state          the head, one of
 *                    - the state's JSON text itself (as in the file backend)
 *                      when it is at most STORE_ZK_PLAIN_MAX bytes: small
 *                      states stay readable with zkCli.sh;
 *                    - "QMZ1" + the text compressed with zlib (deflate), when
 *                      that fits in one znode (the text compresses ~25:1: a
 *                      10,000-node state of ~19 MB becomes <1 MB);
 *                    - a small reference {"format":"quobyte-mesos-state-ref",
 *                      "version":N,"generation":G,"chunks":K,"chunk_bytes":C,
 *                      "bytes":B,"encoding":"zlib"|"json","raw_bytes":R,
 *                      "sha256":H} to K chunks holding the B stored bytes
 *                      (the zlib stream, or the plain text when compression
 *                      is off); H is over the stored bytes;
 *   P/state-chunks/  the chunks: G-0000 ... G-(K-1), each at most C bytes,
 *                    G = <next version, 20 digits>-<64 random bits in hex>.
 *                    Chunks are never rewritten.
 *   P/leader/        leader election (leader.h), not used here.
 *
 * Compare-and-set: the store version lives in the state text (and the
 * reference); the CAS is on the head znode's own version (ZooKeeper's
 * setData with an expected version, create for the first save), so of two
 * coordinators saving on top of the same version exactly one wins and the
 * other gets QM_ECONFLICT and must reload. A fence (store_zk_set_fence)
 * makes a save one transaction with "our election znode still exists", so a
 * coordinator that lost leadership cannot write even on top of the version
 * it knows.
 *
 * Large states: a save writes the new chunks under a fresh generation
 * first, then CAS-updates the head to point at them (one small write), then
 * deletes the previous generation's chunks. A reader follows one head, so
 * it sees the old chunk set or the new one, never a mix; the sha256 and
 * sizes in the head are checked anyway. A reader that races with the
 * deletion (chunk missing, head moved on) simply reads again. Chunks left
 * by a crashed or losing writer are named with a version not above the
 * current one and are swept on the first load of each store handle.
 *
 * Failures: corrupt, truncated or mismatching data is QM_ECORRUPT naming
 * the znode and is never overwritten; a newer format is QM_EVERSION;
 * unreadable because of ACLs is QM_EAUTH; an unreachable ensemble is
 * QM_ETIMEDOUT after op_timeout_ms (zk.h) with a message naming it; a
 * connection lost in the middle of a save is QM_EIO "outcome unknown" and
 * the next save re-reads the head first.
 *
 * Threads and blocking as in store.h; load/save block for at most the
 * connection's op_timeout_ms per ZooKeeper round (a load of a chunked state
 * takes two rounds, a save up to three). */
#ifndef QM_STORE_ZK_H
#define QM_STORE_ZK_H

#include "state/store.h"
#include "state/zk.h"

#include <stdbool.h>
#include <stddef.h>

#define STORE_ZK_HEAD "state"
#define STORE_ZK_CHUNKS "state-chunks"
#define STORE_ZK_REF_FORMAT "quobyte-mesos-state-ref"
/* Chunk size of new saves: well below ZooKeeper's 1 MiB request limit. */
#define STORE_ZK_CHUNK_BYTES (900u * 1024u)
/* Larger states are compressed (unless store_zk_set_compress(st, false)). */
#define STORE_ZK_PLAIN_MAX (64u * 1024u)

/* A store on conn's path. conn is borrowed: it must outlive the store
 * (state_open makes both, state_close closes them in order; leader
 * election shares the connection). Does not touch the network (store_load
 * does). Never NULL. */
struct store *store_zk_new(struct zk_conn *conn);

/* Fence later saves on znode (a full path, e.g. leader_znode()), or remove
 * the fence with NULL. QM_EINVAL when st is not a ZooKeeper store. A save
 * whose fence is gone fails with QM_ECONFLICT and changes nothing. */
int store_zk_set_fence(struct store *st, const char *znode);
/* Offer asynchronous saves (store_save_start, store.h) whose answers are
 * delivered on loop (the owner's; NULL: none, the default). Settles a
 * save in flight first. QM_EINVAL when st is not a ZooKeeper store. */
struct ev_loop;
int store_zk_set_loop(struct store *st, struct ev_loop *loop);

/* Chunk size for later saves, clamped to [64, ZK_ZNODE_MAX] (tests use a
 * small one to exercise chunking). QM_EINVAL for other stores. */
int store_zk_set_chunk_bytes(struct store *st, size_t n);

/* Compress states over STORE_ZK_PLAIN_MAX (the default) or not: then a
 * state is plain JSON in the head up to the chunk size, chunks beyond.
 * Either is read back whatever the setting. QM_EINVAL for other stores. */
int store_zk_set_compress(struct store *st, bool on);

#endif
