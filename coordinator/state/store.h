/* The coordinator's durable state behind one backend-neutral interface.
 *
 * What a store keeps is a struct store_state (codec.h, which also encodes
 * it); a backend supplies struct store_ops and wraps itself with
 * store_new(). Backends: the file store (store_file.h) and the ZooKeeper
 * store (store_zk.h). Which one a coordinator uses is decided by the wiring
 * (state.h: state_open), not here.
 *
 * Versions: every successful save increments the state's version by one
 * (first save: 0 -> 1). store_save() is a compare-and-set: it succeeds only
 * when the caller's expected version is the store's current one, else
 * QM_ECONFLICT. A missing state (first start) is version 0 and empty.
 *
 * Never silently reset: a corrupt, truncated, oversized or unreadable state
 * is refused with a message that says what is wrong and how to reset it;
 * it is never treated as empty and never overwritten.
 *
 * Threads: a store and a store_state are used by one thread at a time (the
 * coordinator's loop). load/save block on the backend's I/O (disk including
 * fsync, or ZooKeeper rounds). */
#ifndef QM_STORE_H
#define QM_STORE_H

#include "state/codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* The answer to an asynchronous save (store_save_start). */
typedef void (*store_done_fn)(void *arg, int rv, uint64_t new_version, const char *err);

/* A backend. Each function gets the impl pointer given to store_new(). The
 * contracts are those of store_load/store_save/store_close below, except
 * that save is called only when known answers true: store_save() first
 * loads (and so learns the version, or refuses a corrupt state) when the
 * backend does not know what is stored. known: whether the backend's view
 * of the stored state and its version is current (set by a successful load
 * or save, cleared by anything that leaves it in doubt). */
struct store_ops {
	const char *name; /* "file", "zk" */
	/* A save costs about what changed (the file store's record), not the
	 * whole state (ZooKeeper): callers may size their batches by it. */
	bool save_follows_change;
	int (*load)(void *impl, struct store_state *out, uint64_t *version,
		    char *err, size_t errlen);
	bool (*known)(void *impl);
	int (*save)(void *impl, const struct store_state *s, uint64_t expected,
		    uint64_t *new_version, char *err, size_t errlen);
	void (*close)(void *impl);
	/* Optional (NULL: the backend saves synchronously only): the
	 * contracts of store_saves_async, store_save_start and store_settle
	 * below. */
	bool (*saves_async)(void *impl);
	int (*save_start)(void *impl, const struct store_state *s, uint64_t expected,
			  store_done_fn done, void *arg, char *err, size_t errlen);
	void (*settle)(void *impl);
	/* Optional (NULL: 0): the contract of store_last_sync_us below. */
	uint64_t (*last_sync_us)(void *impl);
};

/* Wrap a backend; location is copied (for messages). Never NULL. */
struct store *store_new(const struct store_ops *ops, void *impl,
			const char *location);

/* Backend-private data of st if st was made with ops (store_new), else
 * NULL: how a backend's own functions find their data. */
void *store_impl(struct store *st, const struct store_ops *ops);

/* Read the current state into *out (initialised first; free with
 * store_state_fini, also after an error) and its version (0 and empty when
 * nothing was ever saved). Errors: QM_ECORRUPT (corrupt or truncated,
 * err says where and that the state is kept), QM_ETOOBIG (over
 * STORE_MAX_BYTES), QM_EVERSION (written by a newer coordinator), QM_EIO
 * (cannot read, err has the OS reason); the ZooKeeper backend adds QM_EAUTH
 * (refused by ACLs) and QM_ETIMEDOUT (ensemble unreachable: retry). */
int store_load(struct store *st, struct store_state *out, uint64_t *version,
	       char *err, size_t errlen);

/* Save *s if the store is still at expected_version; *new_version (may be
 * NULL) gets expected_version + 1. Errors: QM_ECONFLICT (another version is
 * current, or the state was changed behind the store's back), QM_ECORRUPT
 * (the current state is corrupt: it is not overwritten), QM_ETOOBIG,
 * QM_EIO (ZooKeeper: also QM_EAUTH, QM_ETIMEDOUT). On any error the stored
 * state is unchanged, except that a ZooKeeper save whose connection broke
 * may or may not have happened (QM_EIO "outcome unknown"; the next save
 * re-reads and answers QM_ECONFLICT if it did). */
int store_save(struct store *st, const struct store_state *s,
	       uint64_t expected_version, uint64_t *new_version, char *err,
	       size_t errlen);

/* Asynchronous saves (the ZooKeeper backend, once it has a loop:
 * store_zk_set_loop). store_save_start() does on the calling thread what
 * needs the state (it is encoded at once: the caller may change *s as soon
 * as it returns) and sends the write; done(arg, rv, new_version, err) runs
 * later on the loop's thread with what store_save() would have returned,
 * exactly once, unless store_save_start() itself fails (then it returns
 * that error with err set, done is never called, and the stored state is
 * unchanged or, for QM_EIO, unknown as store_save's). At most one save is
 * in flight: starting another, store_load, store_save and store_close
 * first settle it. store_settle() waits for the save in flight, if any,
 * and runs its done() now, on the caller's thread (the owner's). */
bool store_saves_async(const struct store *st);
int store_save_start(struct store *st, const struct store_state *s,
		     uint64_t expected_version, store_done_fn done, void *arg, char *err,
		     size_t errlen);
void store_settle(struct store *st);

/* How long the last successful store_save() waited for the disk to make
 * its append durable (the file store: the fdatasync of its log record), in
 * microseconds; 0 when it appended nothing (it wrote a compacted snapshot
 * instead) or the backend has no such wait (ZooKeeper: its server syncs). What the "OFFERS -> ACCEPT <= 1 ms plus one fdatasync"
 * goal subtracts. */
uint64_t store_last_sync_us(const struct store *st);

/* Release the store and what its backend holds (the file store's lock; not
 * a ZooKeeper connection, which its opener owns). NULL is fine. */
void store_close(struct store *st);

/* Backend name ("file", "zk") and location (the directory; the zk:// URL
 * with the password masked) for logs. */
const char *store_backend(const struct store *st);
/* The backend's save_follows_change (struct store_ops). */
bool store_save_follows_change(const struct store *st);
const char *store_location(const struct store *st);

#endif
