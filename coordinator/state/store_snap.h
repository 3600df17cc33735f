/* A file store snapshot (store_file.h) written durably into a temp file,
 * here or on a thread of its own.
 *
 * What it does: encode a state at a version (codec.h, format
 * STORE_FORMAT_VERSION_LOG), write it to <dir>/<name> (created; O_NOFOLLOW),
 * fsync it and close it. What it does not: rename it into place or touch
 * the log. That is the file store's, on its own thread, so the store alone
 * decides what state.json and state.log are.
 *
 * Why a thread: at 10,000 agents a snapshot is tens of MB; encoding,
 * writing and fsyncing it took 64-260 ms, all of it a stall of the
 * coordinator's loop when done inside a save. snap_start hands the work to
 * a thread with a state the thread owns (a copy the caller made), so the
 * loop goes on saving (appending to the log) meanwhile.
 *
 * Threads: a snap_job is started, polled (snap_done) and finished by one
 * thread; the job's own thread touches only the state it was given and the
 * temp file. */
#ifndef QM_STORE_SNAP_H
#define QM_STORE_SNAP_H

#include "state/codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Create dirfd/name (O_NOFOLLOW, mode 0600, truncated) with the n bytes
 * at p, fsync and close it; *sb gets its stat. 0, or -1 with errno and
 * *step naming what failed ("create", "write", "fsync", "stat", "close");
 * the file may be left behind then. */
int snap_write_bytes(int dirfd, const char *name, const char *p, size_t n,
		     struct stat *sb, const char **step);

/* Write s at version into dirfd/name durably; *sb gets the file's stat.
 * 0, or QM_ETOOBIG (over STORE_MAX_BYTES) or QM_EIO with a message naming
 * dir and the failed step; the temp file is removed on failure. Blocking. */
int snap_write(int dirfd, const char *dir, const char *name,
	       const struct store_state *s, uint64_t version, struct stat *sb,
	       char *err, size_t errlen);

struct snap_job;

/* Tests only: called on a job's thread before it writes anything (to hold
 * a compaction back while saves go on). */
extern void (*store_snap_hook)(void);

/* snap_write on a thread of its own. Takes *s (moved: *s is left empty and
 * must still be store_state_fini'd or reused by the caller). NULL when no
 * thread could be started; then *s is untouched. */
struct snap_job *snap_start(int dirfd, const char *dir, const char *name,
			    struct store_state *s, uint64_t version);

/* The same for a snapshot already encoded (the whole file's bytes,
 * written as they are): text is borrowed until snap_finish. A caller that
 * keeps its text buffer from one snapshot to the next encodes into pages
 * already mapped, where a copy of the state for snap_start was ~13 MB of
 * fresh pages at 10,000 tasks (20-30 ms of page faults on the caller's
 * thread). */
struct snap_job *snap_start_text(int dirfd, const char *dir, const char *name,
				 const char *text, size_t len);

/* Has the job's thread finished (snap_finish will not wait)? */
bool snap_done(const struct snap_job *j);

/* Wait for the job, then free it: snap_write's result, *sb and err. */
int snap_finish(struct snap_job *j, struct stat *sb, char *err, size_t errlen);

#endif
