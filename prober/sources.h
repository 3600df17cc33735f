/* The prober's event sources, each a file descriptor watched on the
 * prober's event loop (common/evloop.h):
 *
 *  - a libudev monitor on the "block" subsystem: processed "udev" events
 *    when udevd runs (/run/udev/control exists), raw "kernel" events
 *    otherwise (they arrive before udev has finished, so they are only a
 *    trigger). The receive buffer is enlarged; ENOBUFS (events lost)
 *    means a full resync.
 *  - the mount table: an open mountinfo fd reports EPOLLPRI|EPOLLERR when
 *    the mount namespace (fixed at open time) changes.
 *  - inotify on every device root, device directory and watched parent,
 *    re-synced with the scan's watch list after each rebuild. IN_Q_OVERFLOW
 *    means a full resync. Only events that can change the inventory count
 *    (marker names, subdirectories of device dirs, watched names, unmounts
 *    and deletions of the watched directory): a busy data device writing
 *    files at its root does not make the prober rescan.
 *
 * Loop thread only; nothing here blocks except the watch re-sync (a few
 * syscalls per watched directory). */
#ifndef QM_SOURCES_H
#define QM_SOURCES_H

#include "evloop.h"
#include "probe.h"
#include "scan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum src_udev_mode { SRC_UDEV_AUTO, SRC_UDEV_UDEV, SRC_UDEV_KERNEL, SRC_UDEV_NONE };

/* "auto|udev|kernel|none"; 0 or QM_EINVAL. */
int src_udev_mode_parse(const char *s, enum src_udev_mode *out);

/* Requested netlink receive buffer of the udev monitor. */
#define SRC_UDEV_RCVBUF (16 << 20)
/* udev events whose devices are remembered for cache eviction, per batch;
 * beyond that the whole probe cache is dropped. */
#define SRC_MAX_DROPS 64u

struct src_config {
	enum src_udev_mode udev_mode;
	const char *mountinfo_path;
	int udev_rcvbuf; /* netlink receive buffer, bytes; 0 = SRC_UDEV_RCVBUF */
};

/* What a batch of events asks of the prober. */
struct src_events {
	bool changed;       /* something relevant happened: debounce, rebuild */
	const char *resync; /* non-NULL: events were lost; reason (static) */
	dev_t drop[SRC_MAX_DROPS]; /* devices whose cached facts are stale */
	size_t n_drop;
	bool drop_all;      /* more than fit in drop[] */
};

struct src;

/* Called on the loop thread with what one source's fd had to say (one
 * batch: the fd is drained, non-blocking, each time it is ready). */
typedef void (*src_events_cb)(void *arg, const struct src_events *ev);

/* Open the sources and watch them on loop; cb(arg, ...) gets their
 * events. The mount table is required (QM_EIO when it cannot be opened or
 * polled); udev and inotify degrade: each source's state is logged once
 * here ("source_live" or "source_unavailable" with the reason). */
int src_new(const struct src_config *cfg, struct ev_loop *loop, src_events_cb cb,
	    void *arg, struct src **out);
/* Stop watching, close, free. Loop thread; not from within cb. */
void src_free(struct src *s);

/* The open mountinfo fd: read it (mountinfo_read_fd) to scan the same
 * namespace that is being watched. */
int src_mountinfo_fd(const struct src *s);

/* Make the inotify watch set equal to the scan's watch list: add missing
 * watches, drop the ones no longer wanted. *added counts watches that are
 * new: anything that happened in those directories before the watch
 * existed is not an event, so the caller scans once more. 0, or QM_EIO
 * when inotify is unavailable (nothing to sync). */
int src_watch_sync(struct src *s, struct probe_ctx *ctx,
		   const struct scan_watch *w, size_t n, size_t *added);

/* Number of directories currently watched. */
size_t src_watch_count(const struct src *s);

#endif
