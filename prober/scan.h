/* One full scan of the node: mount table -> candidate mounts -> probes ->
 * directory devices -> client mount point -> finished inventory, plus the
 * set of directories that must be watched (inotify) so the next change to
 * any of them is an event rather than something a rescan finds.
 *
 * Split from the loop so `--once` and the daemon build the inventory by the
 * same code path. The probes run on worker threads and are waited for at
 * most the probe timeout (probe.h); loop thread only. */
#ifndef QM_SCAN_H
#define QM_SCAN_H

#include "inventory.h"
#include "probe.h"

#include <stdbool.h>
#include <stddef.h>

struct scan_config {
	struct inv_scope scope;   /* fs types and --device-roots */
	char **device_dirs;       /* --device-dirs, normalised */
	size_t n_device_dirs;
	const char *client_mount_point; /* NULL = not configured */
};

/* What a watch on a directory is for; one directory may serve several. */
enum scan_watch_kind {
	SCAN_WATCH_ROOT = 1u << 0,   /* a device root: marker files */
	SCAN_WATCH_DEVDIR = 1u << 1, /* a --device-dirs dir: its subdirs */
	SCAN_WATCH_NAME = 1u << 2,   /* a parent dir: one entry `name` */
};

struct scan_watch {
	char *path;    /* host path */
	unsigned kind; /* one enum scan_watch_kind bit */
	char *name;    /* SCAN_WATCH_NAME only */
};

struct scan_result {
	struct inv inv;            /* finalised */
	struct scan_watch *watch;
	size_t n_watch;
	size_t n_candidates;       /* candidate mounts probed */
	size_t bad_lines;          /* malformed mountinfo lines */
	size_t first_bad_line;
	bool mountinfo_truncated;
	size_t subdirs_dropped;    /* beyond PROBE_MAX_SUBDIRS */
	size_t aliases_dropped;    /* beyond INV_MAX_ALIASES */
	size_t markers_pending;    /* being written: scan again (probe.h) */
	size_t probe_timeouts;     /* candidates reported PROBE_TIMEOUT */
};

/* Scan with the given mount table text. Also evicts probe cache entries
 * of devices no longer mounted. Always fills *out (free with
 * scan_result_free); returns 0 or QM_ETOOBIG (mount table over its cap:
 * the inventory then holds directory devices only). */
int scan_run(struct probe_ctx *ctx, const struct scan_config *cfg,
	     const char *mountinfo, size_t len, struct scan_result *out);

void scan_result_free(struct scan_result *r);

/* Normalise a user-given absolute path: collapse "//", drop "." segments
 * and a trailing "/". Returns a heap string, or NULL when the path is not
 * absolute or contains "..". */
char *scan_normalize_path(const char *path);

#endif
