/* The file backend of the store interface (store.h).
 *
 * On disk: a snapshot <dir>/state.json (the whole state's JSON text,
 * codec.h) and a record log <dir>/state.log. A save appends one record with
 * what changed since the last load or save (upserted and removed tasks, the
 * top-level fields, failures and drains whole when they changed, and the
 * new, changed and removed reservations -- or all of them when most
 * changed or one moved) and fdatasyncs it: append-sized I/O instead of
 * rewriting the whole state. The store keeps a private copy of the state at its version
 * to diff against (tasks matched by position, else by an ID index; a task
 * is compared with memcmp).
 *
 * A record: "QMR1", payload length (u32 LE), version (u64 LE), CRC-32 of
 * the length, version and payload (u32 LE), then the payload: a line
 * "del=<n> failures=<0|1> reservations=<0|1|2> drains=<0|1>" (with
 * reservations=2: then " rdel=<m>"), n lines of removed task IDs, m lines
 * of removed reservations ("<service>\t<agent id>"), and a state in the
 * codec's JSON holding the top-level fields, the upserted tasks, the
 * collections flagged 1 and, with reservations=2, the new and changed
 * reservations (a changed one replaces its entry in place, a new one is
 * appended). Releases before reservations=2 refuse such a record as a bad
 * header line: a downgrade stops with an error instead of losing
 * reservations.
 *
 * Compaction: on the first save and when there is no log, the save writes
 * the whole state as a new snapshot atomically (temp file in the same
 * directory, write, fsync, rename, fsync of the directory), then empties the
 * log (ftruncate, fsync). When the log passes max(4 x the snapshot, 1 MiB)
 * (at most STORE_MAX_BYTES / 2) or STORE_FILE_LOG_MAX_RECORDS records, the
 * save appends its record as usual and then hands a copy of the state at
 * its version to a thread (store_snap.h), which encodes, writes and fsyncs
 * the snapshot into a temp file while later saves go on appending. The
 * first save after the thread is done renames the snapshot into place,
 * fsyncs the directory, and makes the records saved meanwhile the whole log
 * (written to a temp file, fsynced, renamed over it) or empties it. A save
 * waits for the thread only when the log reaches STORE_MAX_BYTES or twice
 * the record limit; a load drops a compaction under way, close finishes it.
 *
 * Load: the snapshot, then the records in order. Versions must follow one
 * another; records at or below the snapshot's version are skipped: they
 * are what a compaction covered when a crash came between its snapshot and
 * the log's reset, so no record is applied twice and none is lost. A torn
 * LAST record (a crash mid-append: incomplete header, a length past the
 * end, zeros to the end, or a CRC mismatch of the last record) is ignored
 * with a log line and cut off by the next save. A bad record followed by
 * more data (for a length past the end: by a complete record with a good
 * CRC), or a version out of sequence, is QM_ECORRUPT naming the log;
 * it is never overwritten. A save returns 0 only once its record (or
 * snapshot) is durable; a failed append is cut off again.
 *
 * Downgrades: every snapshot this store writes has format_version
 * STORE_FORMAT_VERSION_LOG (4), so a coordinator from before the log, which
 * reads state.json alone, refuses it ("written by a newer coordinator")
 * instead of missing the log's changes. Older snapshots (format 1 to 3, no
 * log) load; the first save turns them into a snapshot plus log.
 *
 * <dir>/state.lock is held with flock() while the store is open: a second
 * coordinator on the same directory is refused at open instead of racing.
 * A save also checks that state.json and state.log are still the files this
 * store last read or wrote (device, inode, size, mtime) and answers
 * QM_ECONFLICT if someone replaced either. Both are read up to
 * STORE_MAX_BYTES. Temp files a crash left behind are removed at open (the
 * lock says they are ours).
 *
 * Threads and errors as in store.h; everything here blocks on disk I/O,
 * except the snapshot of a compaction past the log's bound, written by a
 * thread of its own that touches nothing but its copy and its temp file. */
#ifndef QM_STORE_FILE_H
#define QM_STORE_FILE_H

#include "state/store.h"

#include <stddef.h>

#define STORE_FILE_STATE "state.json"
#define STORE_FILE_LOCK "state.lock"
#define STORE_FILE_LOG "state.log"
/* Records in the log before a save compacts it into a new snapshot. */
#define STORE_FILE_LOG_MAX_RECORDS 100000u

/* Tests only: called by a compaction after the new snapshot is durable and
 * in place, before the log is emptied or shortened (to copy the files of
 * that crash point). On the saving thread. */
extern void (*store_file_compact_hook)(void);

/* Open the file store in dir (created with mode 0700 when missing; its
 * parent must exist) and take its lock. 0 with *out (store_close releases
 * the lock), or with *out NULL and a message in err: QM_EINVAL (path empty
 * or too long), QM_EIO (the directory cannot be used), QM_ECONFLICT
 * (another process holds it; the message names its pid). Does not read the
 * state (store_load does). Blocking. */
int store_file_open(const char *dir, struct store **out, char *err,
		    size_t errlen);

#endif
