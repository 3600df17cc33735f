/* Probing: turns one candidate mount or directory into a device record.
 *
 * What is read, and how (strictly read-only towards devices):
 *  - the marker files at the device root (common/marker.h), QUOBYTE_DEV_ID
 *    and the legacy marker directories, every time (they are what changes),
 *    except while QUOBYTE_DEV_SETUP is being written (open for writing by
 *    some process and modified within PROBE_MARKER_SETTLE_MS): then what
 *    was read at that root last time stands in for it, or the root is not
 *    a device yet;
 *  - free space by fstatvfs() on the opened root, every time;
 *  - per block device (cached by dev_t, because it does not change while
 *    mounted and blkid is the expensive part): filesystem UUID and label
 *    from the udev database when udev has processed the device, else from
 *    libblkid restricted to the configured filesystem types (a few small
 *    reads, O_RDONLY on the device node, never a write: opening for write
 *    makes udev emit a synthetic "change"); size from sysfs (or
 *    BLKGETSIZE64); rotational from sysfs (the parent disk's queue for a
 *    partition); udev identity ID_SERIAL / ID_WWN / ID_MODEL; the
 *    partition number.
 *
 * Host paths (from the host's mount table) are reached through --host-root:
 * with openat2(RESOLVE_IN_ROOT) on the host root directory, so an absolute
 * symlink on the host resolves inside the host, not in the container;
 * plain prefix concatenation where openat2 is missing.
 *
 * Blocking: a candidate's reads (root, markers, free space, udev, blkid)
 * run on worker threads (probe_pool.h), so a hung disk or a stalled mount
 * costs the scan at most the probe timeout once: that candidate is then
 * reported in state PROBE_TIMEOUT with the types last read there, and,
 * while its worker stays blocked, at once on every later scan; when the
 * read returns, the unblocked hook runs (on the worker thread) and a scan
 * finds it again. What is left on the calling thread touches no device file
 * system: the host-root directory fd, O_PATH opens, listing --device-dirs.
 * The context itself is not thread-safe: one thread uses it. */
#ifndef QM_PROBE_H
#define QM_PROBE_H

#include "inventory.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Subdirectories considered per --device-dirs directory. */
#define PROBE_MAX_SUBDIRS 4096u
/* udev property values longer than this are ignored (logged), not cut. */
#define PROBE_MAX_PROP 256u
/* A marker open for writing counts as being written (its last read stands)
 * while it was modified less than this long ago. */
#define PROBE_MARKER_SETTLE_MS 5000
/* Default wait for one scan's probes (probe_config.timeout_ms). */
#define PROBE_TIMEOUT_MS 1000

struct probe_config {
	const char *host_root; /* NULL or "" = paths are local */
	char **fs_types;       /* blkid filter; ext4 implies ext2/ext3 */
	size_t n_fs_types;
	long long timeout_ms; /* per scan's probes; <= 0: PROBE_TIMEOUT_MS */
	/* A probe that had timed out returned: time for a scan. Runs on a
	 * worker thread (probe_pool.h: hand over only, e.g. ev_async_send);
	 * NULL = nobody is told. */
	void (*unblocked)(void *arg);
	void *unblocked_arg;
};

struct probe_ctx;

/* Open the host root (if any) and a libudev context. 0, QM_EIO (host root
 * cannot be opened; errno kept). Sets SIGIO to SIG_IGN for the process: the
 * marker check takes a file lease for an instant, and a lease break
 * signals SIGIO. */
int probe_ctx_new(const struct probe_config *cfg, struct probe_ctx **out);
void probe_ctx_free(struct probe_ctx *ctx);

/* Open a host path as a directory, O_RDONLY|O_DIRECTORY|O_CLOEXEC, through
 * the host root. Returns the fd, or -1 with errno set. */
int probe_open_dir(struct probe_ctx *ctx, const char *path);

/* Same with O_PATH (no read access, no side effect on the directory):
 * for inotify watches through /proc/self/fd. */
int probe_open_path(struct probe_ctx *ctx, const char *path);

/* Does the host path exist as a directory? */
bool probe_is_dir(struct probe_ctx *ctx, const char *path);

/* Bracket every scan: begin before its first probe_mount/probe_dir, end
 * after its last. end returns how many markers were being written (their
 * roots kept what the previous scan read, or were left out): when non-zero
 * the caller scans again within PROBE_MARKER_SETTLE_MS, as the writer may
 * never close the file. It also forgets what was read at roots that were
 * no device in this scan. */
void probe_scan_begin(struct probe_ctx *ctx);
size_t probe_scan_end(struct probe_ctx *ctx);

/* One scan's probes. begin; then for each candidate, mount or directory
 * device, probe_batch_mount / probe_batch_dir (each starts at once on a
 * worker; m must stay valid until end); then end, which waits up to the
 * probe timeout for them all and appends to inv, in submission order, a
 * device for each candidate whose root holds a marker or legacy marker
 * directories (state OK / NO_TYPE / ERROR with the reason) and for each
 * that timed out (PROBE_TIMEOUT). Roots that cannot be reached are logged
 * once per path while the failure lasts. Returns how many timed out. */
struct probe_batch;
struct probe_batch *probe_batch_begin(struct probe_ctx *ctx);
void probe_batch_mount(struct probe_batch *b, const struct inv_mount *m);
void probe_batch_dir(struct probe_batch *b, const char *path);
size_t probe_batch_end(struct probe_batch *b, struct inv *inv);

/* Probes still blocked past their timeout. */
size_t probe_blocked(struct probe_ctx *ctx);

/* Names of the immediate subdirectories of a host directory, sorted, at
 * most PROBE_MAX_SUBDIRS (*dropped counts the rest). *names is owned by
 * the caller (free each, then the array). 0, or -1 with errno when the
 * directory cannot be read. */
int probe_list_subdirs(struct probe_ctx *ctx, const char *path, char ***names,
		       size_t *n, size_t *dropped);

/* Cache control. drop: a udev add/change/remove for this device.
 * flush: a full resync. retain: forget devices no longer mounted, so a
 * re-used dev_t (loop device re-attached to another image) is re-probed. */
void probe_cache_drop(struct probe_ctx *ctx, dev_t devnum);
void probe_cache_flush(struct probe_ctx *ctx);
void probe_cache_retain(struct probe_ctx *ctx, const struct inv_mount *m, size_t n);
/* Number of cached devices and blkid runs so far (for tests and logs). */
size_t probe_cache_size(const struct probe_ctx *ctx);
unsigned long probe_blkid_runs(const struct probe_ctx *ctx);

#endif
