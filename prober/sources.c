#include "sources.h"

#include "log.h"
#include "marker.h"
#include "qm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Events that can change what a watched directory contributes. IN_UNMOUNT
 * and IN_IGNORED are always delivered. IN_CREATE is here for directories
 * (subdirectories of device dirs, legacy marker directories, watched names)
 * only: see event_matters for why it never counts for a marker file. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
		    IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* A marker file is complete when it is closed after writing
 * (IN_CLOSE_WRITE) or renamed into place (IN_MOVED_TO), and gone on
 * IN_DELETE / IN_MOVED_FROM. IN_CREATE is the open(O_CREAT) of a writer
 * that may still be writing: a scan then would read and publish a marker
 * cut in the middle of a line ("device.type=METADATA_DEV"), so it does not
 * count. The price: a marker made by link() or mknod() (IN_CREATE alone)
 * is found by the next scan, whatever triggers it, at the latest the
 * safety rescan. */
#define MARKER_FILE_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)
/* A directory appears whole: mkdir of a legacy marker directory counts. */
#define MARKER_DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

/* Names at a device root that matter. The legacy names mirror the marker
 * module's legacy directories. */
static const char *const marker_names[] = {
	MARKER_FILE, MARKER_ID_FILE, "quobyte-dir", "quobyte-metadata",
	"quobyte-data",
};

#define MAX_NAMES 8u

struct watch {
	int wd;
	unsigned kinds;
	bool seen;
	char *names[MAX_NAMES]; /* SCAN_WATCH_NAME filters */
	size_t n_names;
};

enum src_kind { SRC_UDEV, SRC_MOUNTINFO, SRC_INOTIFY };

struct src {
	struct ev_loop *loop;
	src_events_cb cb;
	void *cb_arg;
	struct udev *udev;
	struct udev_monitor *mon;
	int udev_fd;
	int mi_fd;
	int in_fd;
	bool in_full_warned;
	struct watch *w;
	size_t n_w, cap_w;
};

int src_udev_mode_parse(const char *s, enum src_udev_mode *out)
{
	static const char *const names[] = {"auto", "udev", "kernel", "none"};
	for (size_t i = 0; i < 4; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum src_udev_mode)i;
			return 0;
		}
	return QM_EINVAL;
}

static void on_fd(struct ev_loop *loop, int fd, unsigned events, void *arg);

static void open_udev(struct src *s, const struct src_config *cfg)
{
	bool udevd = access("/run/udev/control", F_OK) == 0;
	const char *name;
	switch (cfg->udev_mode) {
	case SRC_UDEV_NONE:
		log_warn("source_unavailable",
			 "source=udev reason=\"disabled by --udev-source none; "
			 "block devices seen on mount changes and rescans only\"");
		return;
	case SRC_UDEV_UDEV:
		name = "udev";
		if (!udevd)
			log_warn("source_degraded",
				 "source=udev reason=\"--udev-source udev but "
				 "/run/udev/control missing: libudev joins no "
				 "group, no events will arrive\"");
		break;
	case SRC_UDEV_KERNEL:
		name = "kernel";
		break;
	default:
		name = udevd ? "udev" : "kernel";
		if (!udevd)
			log_warn("source_unavailable",
				 "source=udev reason=\"/run/udev/control missing: "
				 "no udevd; using kernel events\"");
		break;
	}
	s->udev = udev_new();
	if (!s->udev) {
		log_warn("source_unavailable", "source=%s reason=%s", name,
			 log_qs("udev_new failed"));
		return;
	}
	s->mon = udev_monitor_new_from_netlink(s->udev, name);
	const char *why = NULL;
	if (!s->mon)
		why = "cannot open netlink monitor";
	else if (udev_monitor_filter_add_match_subsystem_devtype(s->mon, "block",
								  NULL) < 0)
		why = "cannot install block filter";
	else if (udev_monitor_enable_receiving(s->mon) < 0)
		why = "cannot bind netlink socket";
	if (!why) {
		/* the default buffer overflows on a burst of disks; on
		 * failure libudev keeps the default, which ENOBUFS covers */
		int want = cfg->udev_rcvbuf > 0 ? cfg->udev_rcvbuf : SRC_UDEV_RCVBUF;
		if (udev_monitor_set_receive_buffer_size(s->mon, want) < 0)
			log_warn("udev_rcvbuf", "requested=%d reason=%s", want,
				 log_qs(strerror(errno)));
		s->udev_fd = udev_monitor_get_fd(s->mon);
		if (s->udev_fd < 0 ||
		    ev_fd_add(s->loop, s->udev_fd, EV_READ, on_fd, s) != 0)
			why = "cannot poll monitor";
	}
	if (why) {
		log_warn("source_unavailable", "source=%s reason=%s", name,
			 log_qs(why));
		if (s->mon)
			udev_monitor_unref(s->mon);
		s->mon = NULL;
		s->udev_fd = -1;
		return;
	}
	log_info("source_live", "source=%s subsystem=block", name);
}

int src_new(const struct src_config *cfg, struct ev_loop *loop, src_events_cb cb,
	    void *arg, struct src **out)
{
	*out = NULL;
	struct src *s = qm_calloc(1, sizeof *s);
	s->loop = loop;
	s->cb = cb;
	s->cb_arg = arg;
	s->udev_fd = s->mi_fd = s->in_fd = -1;

	/* a namespace change reports EPOLLPRI|EPOLLERR (EV_ERR is always on) */
	s->mi_fd = open(cfg->mountinfo_path, O_RDONLY | O_CLOEXEC);
	if (s->mi_fd < 0 || ev_fd_add(loop, s->mi_fd, EV_PRI, on_fd, s) != 0) {
		int e = errno;
		log_error("source_unavailable", "source=mountinfo path=%s reason=%s",
			  log_qs(cfg->mountinfo_path), log_qs(strerror(e)));
		src_free(s);
		errno = e;
		return QM_EIO;
	}
	log_info("source_live", "source=mountinfo path=%s",
		 log_qs(cfg->mountinfo_path));

	open_udev(s, cfg);

	s->in_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->in_fd < 0 || ev_fd_add(loop, s->in_fd, EV_READ, on_fd, s) != 0) {
		log_warn("source_unavailable",
			 "source=inotify reason=%s fallback=rescan",
			 log_qs(strerror(errno)));
		if (s->in_fd >= 0)
			close(s->in_fd);
		s->in_fd = -1;
	} else {
		log_info("source_live", "source=inotify");
	}
	*out = s;
	return 0;
}

static void watch_clear_names(struct watch *w)
{
	for (size_t i = 0; i < w->n_names; i++)
		free(w->names[i]);
	w->n_names = 0;
}

void src_free(struct src *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_w; i++)
		watch_clear_names(&s->w[i]);
	free(s->w);
	if (s->in_fd >= 0) {
		ev_fd_del(s->loop, s->in_fd);
		close(s->in_fd);
	}
	if (s->mi_fd >= 0) {
		ev_fd_del(s->loop, s->mi_fd);
		close(s->mi_fd);
	}
	if (s->udev_fd >= 0)
		ev_fd_del(s->loop, s->udev_fd);
	if (s->mon)
		udev_monitor_unref(s->mon);
	if (s->udev)
		udev_unref(s->udev);
	free(s);
}

int src_mountinfo_fd(const struct src *s)
{
	return s->mi_fd;
}

size_t src_watch_count(const struct src *s)
{
	return s->n_w;
}

static void add_drop(struct src_events *ev, dev_t d)
{
	for (size_t i = 0; i < ev->n_drop; i++)
		if (ev->drop[i] == d)
			return;
	if (ev->n_drop == SRC_MAX_DROPS)
		ev->drop_all = true;
	else
		ev->drop[ev->n_drop++] = d;
}

/* A netlink burst is drained in one go, but not forever: the fd stays
 * readable and the loop comes back after serving the other sources. */
#define UDEV_BATCH 1024

static void handle_udev(struct src *s, struct src_events *ev)
{
	for (int i = 0; i < UDEV_BATCH; i++) {
		errno = 0;
		struct udev_device *d = udev_monitor_receive_device(s->mon);
		if (!d) {
			if (errno == ENOBUFS) {
				ev->resync = "udev_enobufs";
				ev->changed = true;
				continue;
			}
			break;
		}
		const char *action = udev_device_get_action(d);
		dev_t devnum = udev_device_get_devnum(d);
		if (action && (strcmp(action, "add") == 0 ||
			       strcmp(action, "remove") == 0 ||
			       strcmp(action, "change") == 0)) {
			log_debug("udev_event", "action=%s device=%u:%u name=%s",
				  action, major(devnum), minor(devnum),
				  log_qs(udev_device_get_sysname(d)));
			if (devnum)
				add_drop(ev, devnum);
			ev->changed = true;
		}
		udev_device_unref(d);
	}
}

static struct watch *watch_find(struct src *s, int wd)
{
	for (size_t i = 0; i < s->n_w; i++)
		if (s->w[i].wd == wd)
			return &s->w[i];
	return NULL;
}

static void watch_remove_at(struct src *s, size_t i)
{
	watch_clear_names(&s->w[i]);
	s->w[i] = s->w[--s->n_w];
}

static bool is_marker_name(const char *name)
{
	for (size_t i = 0; i < sizeof marker_names / sizeof marker_names[0]; i++)
		if (strcmp(name, marker_names[i]) == 0)
			return true;
	return false;
}

static bool event_matters(const struct watch *w, const struct inotify_event *e)
{
	if (e->mask & (IN_UNMOUNT | IN_DELETE_SELF | IN_MOVE_SELF))
		return true;
	if (e->len == 0 || e->name[0] == '\0')
		return false;
	const char *name = e->name;
	bool isdir = e->mask & IN_ISDIR;
	if ((w->kinds & (SCAN_WATCH_ROOT | SCAN_WATCH_DEVDIR)) && is_marker_name(name) &&
	    (e->mask & (isdir ? MARKER_DIR_EVENTS : MARKER_FILE_EVENTS)))
		return true;
	if ((w->kinds & SCAN_WATCH_DEVDIR) && isdir &&
	    (e->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)))
		return true;
	if (w->kinds & SCAN_WATCH_NAME)
		for (size_t i = 0; i < w->n_names; i++)
			if (strcmp(w->names[i], name) == 0)
				return true;
	return false;
}

static void handle_inotify(struct src *s, struct src_events *ev)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t r = read(s->in_fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)r;) {
			const struct inotify_event *e =
				(const struct inotify_event *)(buf + off);
			off += sizeof *e + e->len;
			if (e->mask & IN_Q_OVERFLOW) {
				ev->resync = "inotify_overflow";
				ev->changed = true;
				continue;
			}
			struct watch *w = watch_find(s, e->wd);
			if (!w)
				continue;
			if (e->mask & IN_IGNORED) {
				/* the kernel dropped the watch (unmount,
				 * deletion): the directory changed for sure */
				watch_remove_at(s, (size_t)(w - s->w));
				ev->changed = true;
				continue;
			}
			if (event_matters(w, e)) {
				log_debug("inotify_event", "mask=0x%x name=%s",
					  e->mask, log_qs(e->len ? e->name : ""));
				ev->changed = true;
			}
		}
	}
}

static void handle(struct src *s, enum src_kind kind, struct src_events *ev)
{
	switch (kind) {
	case SRC_UDEV:
		if (s->mon)
			handle_udev(s, ev);
		break;
	case SRC_MOUNTINFO:
		/* the poll itself acknowledged the change; the rebuild
		 * re-reads the table from offset 0 */
		ev->changed = true;
		break;
	case SRC_INOTIFY:
		if (s->in_fd >= 0)
			handle_inotify(s, ev);
		break;
	default:
		break;
	}
}

static void on_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop, (void)events;
	struct src *s = arg;
	struct src_events ev;
	memset(&ev, 0, sizeof ev);
	handle(s, fd == s->mi_fd ? SRC_MOUNTINFO : fd == s->in_fd ? SRC_INOTIFY : SRC_UDEV,
	       &ev);
	s->cb(s->cb_arg, &ev);
}

int src_watch_sync(struct src *s, struct probe_ctx *ctx,
		   const struct scan_watch *want, size_t n, size_t *added)
{
	*added = 0;
	if (s->in_fd < 0)
		return QM_EIO;
	for (size_t i = 0; i < s->n_w; i++)
		s->w[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		/* watch what the path resolves to inside the host root: the
		 * O_PATH fd pins it, /proc/self/fd names it */
		int fd = probe_open_path(ctx, want[i].path);
		if (fd < 0)
			continue;
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		int wd = inotify_add_watch(s->in_fd, proc, WATCH_MASK);
		int e = errno;
		close(fd);
		if (wd < 0) {
			if (e == ENOSPC && !s->in_full_warned) {
				log_warn("inotify_limit",
					 "watches=%zu reason=%s fallback=rescan",
					 s->n_w,
					 log_qs("fs.inotify.max_user_watches reached"));
				s->in_full_warned = true;
			}
			continue;
		}
		struct watch *w = watch_find(s, wd);
		if (!w) {
			if (s->n_w == s->cap_w) {
				s->cap_w = s->cap_w ? s->cap_w * 2 : 32;
				s->w = qm_realloc(s->w, s->cap_w * sizeof *s->w);
			}
			w = &s->w[s->n_w++];
			memset(w, 0, sizeof *w);
			w->wd = wd;
			(*added)++;
		}
		if (!w->seen) {
			w->seen = true;
			w->kinds = 0;
			watch_clear_names(w);
		}
		w->kinds |= want[i].kind;
		if (want[i].name && w->n_names < MAX_NAMES)
			w->names[w->n_names++] = qm_strdup(want[i].name);
	}
	for (size_t i = 0; i < s->n_w;) {
		if (s->w[i].seen) {
			i++;
			continue;
		}
		inotify_rm_watch(s->in_fd, s->w[i].wd);
		watch_remove_at(s, i);
	}
	return 0;
}
