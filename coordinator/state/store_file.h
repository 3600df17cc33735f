/* The file backend of the store interface (store.h).
 *
 * <dir>/state.json holds the state's JSON text (codec.h), written
 * atomically (temp file in the same directory, write, fsync, rename, fsync
 * of the directory) so a crash leaves the old or the new state, never a mix.
 * <dir>/state.lock is held with flock() while the store is open: a second
 * coordinator on the same directory is refused at open instead of racing.
 * A save also checks that state.json is still the file this store last
 * read or wrote (device, inode, size, mtime) and answers QM_ECONFLICT if
 * someone replaced it. Files are read up to STORE_MAX_BYTES. Temp files a
 * crash left behind are removed at open (the lock says they are ours).
 *
 * Threads and errors as in store.h; everything here blocks on disk I/O. */
#ifndef QM_STORE_FILE_H
#define QM_STORE_FILE_H

#include "state/store.h"

#include <stddef.h>

#define STORE_FILE_STATE "state.json"
#define STORE_FILE_LOCK "state.lock"

/* Open the file store in dir (created with mode 0700 when missing; its
 * parent must exist) and take its lock. 0 with *out (store_close releases
 * the lock), or with *out NULL and a message in err: QM_EINVAL (path empty
 * or too long), QM_EIO (the directory cannot be used), QM_ECONFLICT
 * (another process holds it; the message names its pid). Does not read the
 * state (store_load does). Blocking. */
int store_file_open(const char *dir, struct store **out, char *err,
		    size_t errlen);

#endif
