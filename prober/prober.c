#include "prober.h"

#include "clock.h"
#include "evloop.h"
#include "inventory.h"
#include "log.h"
#include "marker.h"
#include "mountinfo.h"
#include "probe.h"
#include "publisher.h"
#include "qm_error.h"
#include "qm_version.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* Follow-up scans after new watches, at most this many in a row: enough
 * for a mount that appears while its parent directory is being watched,
 * bounded against a directory that keeps being re-created. */
#define MAX_FOLLOWUPS 3

struct prober {
	const struct prober_opts *o;
	struct ev_loop *loop;
	int sigfd;
	struct ev_async *probe_wake; /* sent by probe workers */
	uint64_t debounce_timer;     /* 0 = not armed */
	uint64_t rescan_due;         /* monotonic ms, on a fixed grid (on_rescan) */
	bool recheck_armed; /* debounce_timer holds the longer recheck delay */
	long long last_events_ms; /* monotonic ms of the last rebuild for events */
	unsigned idle_leads;      /* leading rebuilds in a row that changed nothing */
	unsigned followups;
	struct probe_ctx *probe;
	struct src *src;
	struct pub *pub;
	struct inv cur;
	uint64_t gen;
	bool built;
	size_t last_bad_lines;
	size_t last_dropped;
	size_t last_subdirs_dropped;
	size_t last_aliases_dropped;
	/* for ProberStats */
	uint64_t n_rebuilds, n_resyncs, n_udev_overflows, n_inotify_overflows;
};

int prober_boot_id(char *buf, size_t cap)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return QM_EIO;
	ssize_t r = read(fd, buf, cap - 1);
	close(fd);
	if (r <= 0)
		return QM_EIO;
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	return r > 0 ? 0 : QM_EIO;
}

static void node_identity(const struct prober_opts *o, Quobyte__Bus__NodeIdentity *n)
{
	quobyte__bus__node_identity__init(n);
	n->agent_id = (char *)o->agent_id;
	n->hostname = (char *)o->hostname;
	n->boot_id = (char *)o->boot_id;
}

static void print_json(const struct prober_opts *o, const struct inv *inv,
		       FILE *out, bool pretty)
{
	Quobyte__Bus__NodeIdentity node;
	node_identity(o, &node);
	cJSON *j = inv_to_json(inv, &node);
	char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
	if (!s)
		qm_oom();
	fputs(s, out);
	fputc('\n', out);
	fflush(out);
	cJSON_free(s);
	cJSON_Delete(j);
}

static int read_mountinfo_path(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return QM_EIO;
	int rv = mountinfo_read_fd(fd, text, len);
	int e = errno;
	close(fd);
	errno = e;
	return rv;
}

static void probe_unblocked_hook(void *arg);

/* unblocked: sent when a timed-out probe returns; NULL = nobody told. */
static struct probe_ctx *new_probe(const struct prober_opts *o,
				   struct ev_async *unblocked)
{
	struct probe_config pc = {
		.host_root = o->host_root,
		.fs_types = o->scan.scope.fs_types,
		.n_fs_types = o->scan.scope.n_fs_types,
		.timeout_ms = o->probe_timeout_ms,
		.unblocked = unblocked ? probe_unblocked_hook : NULL,
		.unblocked_arg = unblocked,
	};
	struct probe_ctx *ctx;
	if (probe_ctx_new(&pc, &ctx) != 0) {
		log_error("host_root_unusable", "path=%s reason=%s",
			  log_qs(o->host_root), log_qs(strerror(errno)));
		return NULL;
	}
	return ctx;
}

static void check_roots(const struct prober_opts *o);

int prober_once(const struct prober_opts *o, FILE *out)
{
	check_roots(o);
	struct probe_ctx *ctx = new_probe(o, NULL);
	if (!ctx)
		return QM_EIO;
	char *text = NULL;
	size_t len = 0;
	int rv = read_mountinfo_path(o->mountinfo_path, &text, &len);
	if (rv != 0) {
		log_error("mountinfo_unreadable", "path=%s reason=%s",
			  log_qs(o->mountinfo_path),
			  log_qs(rv == QM_EIO ? strerror(errno) : qm_strerror(rv)));
		probe_ctx_free(ctx);
		return rv;
	}
	struct scan_result r;
	scan_run(ctx, &o->scan, text, len, &r);
	free(text);
	if (r.bad_lines)
		log_warn("mountinfo_bad_lines", "count=%zu first_line=%zu",
			 r.bad_lines, r.first_bad_line);
	if (r.inv.dropped)
		log_warn("devices_dropped", "count=%zu max=%u", r.inv.dropped,
			 BUS_MAX_DEVICES);
	print_json(o, &r.inv, out, true);
	scan_result_free(&r);
	probe_ctx_free(ctx);
	return 0;
}

/* ---- the loop ---------------------------------------------------------------- */

static void on_debounce(struct ev_loop *loop, void *arg);

static void set_debounce(struct prober *p, long long ms)
{
	if (p->debounce_timer)
		ev_timer_cancel(p->loop, p->debounce_timer);
	p->debounce_timer = ev_timer_add(p->loop, ms > 0 ? (uint64_t)ms : 0,
					 on_debounce, p);
}

/* A rebuild for events after `wait_ms` (the trailing edge of a burst). */
static void arm_debounce_in(struct prober *p, long long wait_ms)
{
	if (p->debounce_timer && !p->recheck_armed)
		return;
	set_debounce(p, wait_ms);
	p->recheck_armed = false;
}


/* Scan again later (a marker was being written, probe.h), unless a scan is
 * already due: that one looks again and re-arms if need be. */
static void arm_recheck(struct prober *p, long long ms)
{
	if (p->debounce_timer)
		return;
	set_debounce(p, ms);
	p->recheck_armed = true;
}

/* "a,b,c" into buf, cut at cap. */
static const char *join_list(char *const *v, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		int w = snprintf(buf + o, cap - o, "%s%s", i ? "," : "", v[i]);
		if (w < 0)
			break;
		o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
	}
	return buf;
}

static void types_text(unsigned types, char *buf, size_t cap)
{
	static const unsigned bits[] = {MARKER_REGISTRY, MARKER_METADATA, MARKER_DATA};
	char *names[3];
	size_t n = 0;
	for (size_t i = 0; i < 3; i++)
		if (types & bits[i])
			names[n++] = (char *)marker_service_name(bits[i]);
	join_list(names, n, buf, cap);
	if (n == 0)
		snprintf(buf, cap, "-");
}

static const char *state_text(enum inv_state s)
{
	switch (s) {
	case INV_STATE_OK: return "ok";
	case INV_STATE_NO_TYPE: return "no_type";
	case INV_STATE_ERROR: return "error";
	case INV_STATE_PROBE_TIMEOUT: return "probe_timeout";
	default: return "unknown";
	}
}

static void log_change(const struct prober *p, const struct inv_change *c)
{
	const char *node = p->o->agent_id;
	char types[64];
	if (c->kind == INV_REMOVED) {
		log_info("device_removed", "node=%s root=%s key=%s", log_qs(node),
			 log_qs(c->old->root), log_qs(c->old->key));
		return;
	}
	const struct inv_device *d = c->cur;
	types_text(d->types, types, sizeof types);
	if (c->kind == INV_ADDED)
		log_info("device_added",
			 "node=%s root=%s key=%s types=%s state=%s%s%s%s%s",
			 log_qs(node), log_qs(d->root), log_qs(d->key), types,
			 state_text(d->state), d->error ? " error=" : "",
			 d->error ? log_qs(d->error) : "",
			 d->conflict ? " conflict=" : "",
			 d->conflict ? log_qs(d->conflict) : "");
	else
		log_info("device_changed",
			 "node=%s root=%s key=%s fields=%s types=%s state=%s%s%s%s%s",
			 log_qs(node), log_qs(d->root), log_qs(d->key), c->fields,
			 types, state_text(d->state), d->error ? " error=" : "",
			 d->error ? log_qs(d->error) : "",
			 d->conflict ? " conflict=" : "",
			 d->conflict ? log_qs(d->conflict) : "");
}

/* Take a freshly scanned inventory: publish only real differences. */
/* Carry each device's changed_ms over from its old record; stamp now on
 * those that appeared or whose types or state changed (a marker written,
 * rewritten or removed): the start of the coordinator's marker->LAUNCH. */
static void stamp_changes(const struct inv *old, struct inv *fresh, const struct inv_diff *d)
{
	size_t i = 0, j = 0;
	while (i < old->n && j < fresh->n) {
		int c = strcmp(old->dev[i].key, fresh->dev[j].key);
		if (c == 0)
			fresh->dev[j++].changed_ms = old->dev[i++].changed_ms;
		else if (c < 0)
			i++;
		else
			j++;
	}
	uint64_t now = clock_real_ms();
	for (size_t k = 0; k < d->n; k++) {
		const struct inv_change *ch = &d->v[k];
		if (!ch->cur)
			continue;
		char f[sizeof ch->fields + 2];
		snprintf(f, sizeof f, ",%s,", ch->fields);
		if (ch->kind == INV_ADDED || strstr(f, ",types,") || strstr(f, ",state,"))
			fresh->dev[ch->cur - fresh->dev].changed_ms = now;
	}
}

static void apply(struct prober *p, struct inv *fresh)
{
	struct inv_diff d;
	inv_diff(&p->cur, fresh, &d);
	bool first = !p->built;
	p->built = true;
	if (d.n == 0 && !d.client_changed) {
		inv_diff_free(&d);
		inv_fini(fresh);
		if (first) {
			p->gen = 1;
			log_info("inventory", "node=%s generation=%llu devices=0",
				 log_qs(p->o->agent_id), (unsigned long long)p->gen);
			if (p->o->json)
				print_json(p->o, &p->cur, stdout, false);
		}
		return;
	}
	for (size_t i = 0; i < d.n; i++)
		log_change(p, &d.v[i]);
	stamp_changes(&p->cur, fresh, &d);
	if (d.client_changed && fresh->client_mount_point)
		log_info("client_mount_point", "node=%s path=%s exists=%s",
			 log_qs(p->o->agent_id), log_qs(fresh->client_mount_point),
			 fresh->client_mount_point_exists ? "true" : "false");
	inv_diff_free(&d);
	if (fresh->dropped != p->last_dropped && fresh->dropped)
		log_warn("devices_dropped", "count=%zu max=%u", fresh->dropped,
			 BUS_MAX_DEVICES);
	p->last_dropped = fresh->dropped;
	inv_keep_unchanged(&p->cur, fresh);
	inv_fini(&p->cur);
	p->cur = *fresh;
	inv_init(fresh);
	p->gen++;
	if (first)
		log_info("inventory", "node=%s generation=%llu devices=%zu",
			 log_qs(p->o->agent_id), (unsigned long long)p->gen, p->cur.n);
	if (p->o->json)
		print_json(p->o, &p->cur, stdout, false);
}

static void rebuild(struct prober *p, const char *why)
{
	char *text = NULL;
	size_t len = 0;
	int rv = mountinfo_read_fd(src_mountinfo_fd(p->src), &text, &len);
	if (rv != 0) {
		/* keep the current inventory: an empty table would look
		 * like every device was unmounted */
		log_error("mountinfo_unreadable", "path=%s reason=%s",
			  log_qs(p->o->mountinfo_path),
			  log_qs(rv == QM_EIO ? strerror(errno) : qm_strerror(rv)));
		return;
	}
	log_debug("rebuild", "reason=%s", why);
	p->n_rebuilds++;
	struct scan_result r;
	scan_run(p->probe, &p->o->scan, text, len, &r);
	free(text);
	if (r.bad_lines != p->last_bad_lines && r.bad_lines)
		log_warn("mountinfo_bad_lines", "count=%zu first_line=%zu",
			 r.bad_lines, r.first_bad_line);
	p->last_bad_lines = r.bad_lines;
	if (r.subdirs_dropped != p->last_subdirs_dropped && r.subdirs_dropped)
		log_warn("device_dir_too_big", "subdirs_dropped=%zu max=%u",
			 r.subdirs_dropped, PROBE_MAX_SUBDIRS);
	p->last_subdirs_dropped = r.subdirs_dropped;
	if (r.aliases_dropped != p->last_aliases_dropped && r.aliases_dropped)
		log_warn("aliases_dropped", "count=%zu max=%u", r.aliases_dropped,
			 INV_MAX_ALIASES);
	p->last_aliases_dropped = r.aliases_dropped;

	size_t added = 0;
	if (src_watch_sync(p->src, p->probe, r.watch, r.n_watch, &added) == 0 &&
	    added > 0 && p->followups < MAX_FOLLOWUPS) {
		/* what happened in a directory before its watch existed was
		 * no event: look once more now that it is watched */
		p->followups++;
		arm_recheck(p, p->o->debounce_ms); /* a look again, no burst */
	} else if (added == 0) {
		p->followups = 0;
	}
	if (r.markers_pending)
		arm_recheck(p, PROBE_MARKER_SETTLE_MS);
	apply(p, &r.inv);
	scan_result_free(&r);
	if (p->pub)
		pub_step(p->pub, &p->cur, p->gen);
}

static void full_resync(struct prober *p, const char *why)
{
	p->n_resyncs++;
	probe_cache_flush(p->probe);
	rebuild(p, why);
}

/* A rebuild for events; the debounce window opens only when it published
 * a change (a rebuild that found nothing new is no burst to coalesce). */
static bool events_rebuild(struct prober *p)
{
	uint64_t gen = p->gen;
	long long now = (long long)clock_mono_ms();
	rebuild(p, "events");
	if (p->gen == gen)
		return false;
	p->last_events_ms = now;
	return true;
}

static void on_sources(void *arg, const struct src_events *ev)
{
	struct prober *p = arg;
	if (ev->resync) {
		log_warn("resync", "reason=%s", ev->resync);
		p->n_resyncs++;
		if (strcmp(ev->resync, "udev_enobufs") == 0)
			p->n_udev_overflows++;
		else if (strcmp(ev->resync, "inotify_overflow") == 0)
			p->n_inotify_overflows++;
		probe_cache_flush(p->probe);
	} else if (ev->drop_all) {
		probe_cache_flush(p->probe);
	} else {
		for (size_t i = 0; i < ev->n_drop; i++)
			probe_cache_drop(p->probe, ev->drop[i]);
	}
	if (!ev->changed)
		return;
	/* Leading edge: the first change after a quiet debounce window is
	 * published at once; changes within the window are coalesced into one
	 * rebuild at its end. A marker still being written is caught by the
	 * settle recheck (PROBE_MARKER_SETTLE_MS), as before. */
	long long now = (long long)clock_mono_ms();
	long long since = now - p->last_events_ms;
	/* A leading rebuild that changed nothing (a marker's IN_CREATE before
	 * its writer closed it) does not open the window: the event that
	 * completes the change is published at once too. Bounded, so a flood
	 * of events that change nothing still coalesces. */
	bool quiet = since >= p->o->debounce_ms || (p->idle_leads > 0 && p->idle_leads < 3);
	/* a pending settle recheck (a marker still open) is no burst */
	if ((!p->debounce_timer || p->recheck_armed) && quiet) {
		bool published = events_rebuild(p);
		p->idle_leads = published ? 0 : p->idle_leads + 1;
		return;
	}
	p->idle_leads = 0;
	arm_debounce_in(p, p->o->debounce_ms - since);
}

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)events;
	struct prober *p = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("resync", "reason=sighup");
			full_resync(p, "sighup");
			continue;
		}
		log_info("stopping", "signal=%s",
			 si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
		ev_stop(loop);
	}
}

static void on_debounce(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct prober *p = arg;
	p->debounce_timer = 0;
	p->recheck_armed = false;
	(void)events_rebuild(p);
}

/* The safety net re-reads markers, mounts and free space; cached
 * blkid/udev facts stay (they are dropped by udev events and on unmount).
 * On a fixed grid from the start, as a periodic timer: a slow rebuild does
 * not push the next one back, and missed ticks fold into one. */
static void on_rescan(struct ev_loop *loop, void *arg)
{
	struct prober *p = arg;
	uint64_t now = clock_mono_ms();
	uint64_t every = p->o->rescan_ms > 0 ? (uint64_t)p->o->rescan_ms : 1;
	while (p->rescan_due <= now)
		p->rescan_due += every;
	ev_timer_add(loop, p->rescan_due - now, on_rescan, p);
	rebuild(p, "rescan");
}

/* A probe that had timed out returned: its device may answer again. */
static void on_probe_unblocked(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct prober *p = arg;
	log_info("probe_unblocked", "still_blocked=%zu", probe_blocked(p->probe));
	rebuild(p, "probe_unblocked");
}

/* From a probe worker thread: hand over only. */
static void probe_unblocked_hook(void *arg)
{
	ev_async_send(arg);
}

static const struct inv *current_inv(void *arg, uint64_t *gen)
{
	struct prober *p = arg;
	*gen = p->gen;
	return &p->cur;
}

/* Resident set size from /proc/self/statm (pages), 0 when unreadable. */
static uint64_t rss_bytes(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	unsigned long long size = 0, resident = 0;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	return resident * (uint64_t)(page > 0 ? page : 4096);
}

static void fill_stats(void *arg, Quobyte__Bus__ProberStats *st)
{
	struct prober *p = arg;
	st->has_rebuilds = true;
	st->rebuilds = p->n_rebuilds;
	st->has_resyncs = true;
	st->resyncs = p->n_resyncs;
	st->has_udev_overflows = true;
	st->udev_overflows = p->n_udev_overflows;
	st->has_inotify_overflows = true;
	st->inotify_overflows = p->n_inotify_overflows;
	uint64_t rss = rss_bytes();
	st->has_rss_bytes = rss != 0;
	st->rss_bytes = rss;
}

/* The order matters: the publisher and the probe workers send asyncs
 * until they are freed, the loop outlives every watcher. */
static void prober_fini(struct prober *p)
{
	pub_free(p->pub);
	src_free(p->src);
	probe_ctx_free(p->probe);
	inv_fini(&p->cur);
	if (p->loop) {
		ev_async_free(p->probe_wake);
		if (p->sigfd >= 0)
			ev_fd_del(p->loop, p->sigfd);
		ev_loop_free(p->loop);
	}
	if (p->sigfd >= 0)
		close(p->sigfd);
}

static void log_start(const struct prober_opts *o)
{
	char roots[1024], dirs[1024], types[256];
	join_list(o->scan.scope.roots, o->scan.scope.n_roots, roots, sizeof roots);
	join_list(o->scan.device_dirs, o->scan.n_device_dirs, dirs, sizeof dirs);
	join_list(o->scan.scope.fs_types, o->scan.scope.n_fs_types, types,
		  sizeof types);
	log_info("started",
		 "version=%s node=%s hostname=%s boot_id=%s session=%016llx "
		 "coordinator=%s fs_types=%s device_roots=%s device_dirs=%s "
		 "host_root=%s rescan_ms=%lld debounce_ms=%lld",
		 QM_VERSION, log_qs(o->agent_id), log_qs(o->hostname),
		 log_qs(o->boot_id), (unsigned long long)o->session,
		 log_qs(o->coordinator ? o->coordinator : "-"), log_qs(types),
		 log_qs(o->scan.scope.n_roots ? roots : "(all)"),
		 log_qs(o->scan.n_device_dirs ? dirs : "-"),
		 log_qs(o->host_root ? o->host_root : "-"), o->rescan_ms,
		 o->debounce_ms);
}

/* Device roots that cannot work get one clear warning at start-up: one that
 * does not exist (nothing under it is seen until it does), and one whose
 * mount is not a propagation peer (Docker refuses an rshared bind of it, and
 * disks mounted under it later would not reach running service containers:
 * `mount --make-rshared` on that mount point fixes it). */
static void check_roots(const struct prober_opts *o)
{
	char *text = NULL;
	size_t len = 0;
	struct mountinfo mi;
	memset(&mi, 0, sizeof mi);
	bool have_mi = read_mountinfo_path(o->mountinfo_path, &text, &len) == 0 &&
		       mountinfo_parse(text, len, &mi) == 0;
	for (size_t i = 0; i < o->scan.scope.n_roots; i++) {
		const char *root = o->scan.scope.roots[i];
		char path[4096];
		snprintf(path, sizeof path, "%s%s",
			 o->host_root && strcmp(o->host_root, "/") ? o->host_root : "", root);
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
			log_warn("device_root_missing", "root=%s reason=%s", log_qs(root),
				 log_qs(stat(path, &st) != 0 ? strerror(errno) : "not a directory"));
			continue;
		}
		long k = have_mi ? mountinfo_find_path(&mi, root) : -1;
		if (k >= 0 && !mi.v[k].shared)
			log_warn("device_root_not_shared", "root=%s mount=%s reason=%s", log_qs(root),
				 log_qs(mi.v[k].mount_point),
				 log_qs("not a shared mount: service containers cannot get it "
					"with rshared propagation; run mount --make-rshared on it"));
	}
	mountinfo_free(&mi);
	free(text);
}

/* The publisher, when there is a coordinator; its own asyncs and timer
 * then live on the loop. 0 or the error of pub_new. */
static int start_publisher(struct prober *p)
{
	const struct prober_opts *o = p->o;
	if (!o->coordinator) {
		log_info("publishing_disabled", "reason=\"no --coordinator: "
						"changes are logged only\"");
		return 0;
	}
	struct pub_config pc = {
		.url = o->coordinator,
		.tls = o->tls,
		.agent_id = o->agent_id,
		.hostname = o->hostname,
		.boot_id = o->boot_id,
		.session = o->session,
		.heartbeat_ms = o->heartbeat_ms,
		.ack_timeout_ms = o->ack_timeout_ms,
		.reconnect_min_ms = o->reconnect_min_ms,
		.reconnect_max_ms = o->reconnect_max_ms,
		.current = current_inv,
		.current_arg = p,
		.stats = fill_stats,
	};
	memcpy(pc.cred, o->cred, BUS_CRED_LEN);
	return pub_new(&pc, p->loop, &p->pub);
}

/* Loop, signalfd, probes, sources, rescan timer, publisher. 0 or a
 * negative qm_err (logged). */
static int prober_start(struct prober *p, const sigset_t *set)
{
	const struct prober_opts *o = p->o;
	p->loop = ev_loop_new();
	p->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (!p->loop || p->sigfd < 0 ||
	    ev_fd_add(p->loop, p->sigfd, EV_READ, on_signal, p) != 0) {
		log_error("loop_setup", "reason=%s", log_qs(strerror(errno)));
		return QM_EIO;
	}
	p->probe_wake = ev_async_new(p->loop, on_probe_unblocked, p);
	if (!(p->probe = new_probe(o, p->probe_wake)))
		return QM_EIO;
	struct src_config sc = {.udev_mode = o->udev_mode,
				.udev_rcvbuf = o->udev_buffer,
				.mountinfo_path = o->mountinfo_path};
	int rv = src_new(&sc, p->loop, on_sources, p, &p->src);
	if (rv != 0)
		return rv;
	uint64_t every = o->rescan_ms > 0 ? (uint64_t)o->rescan_ms : 1;
	p->rescan_due = clock_mono_ms() + every;
	ev_timer_add(p->loop, every, on_rescan, p);
	log_info("source_live", "source=rescan interval_ms=%lld", o->rescan_ms);
	return start_publisher(p);
}

int prober_run(const struct prober_opts *o)
{
	struct prober p;
	memset(&p, 0, sizeof p);
	p.o = o;
	p.sigfd = -1;
	inv_init(&p.cur);

	/* before any thread exists (NNG starts its own): every thread then
	 * has these blocked and they are only ever read from the signalfd */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_start(o);
	check_roots(o);
	int rv = prober_start(&p, &set);
	if (rv == 0) {
		full_resync(&p, "start");
		if ((rv = ev_run(p.loop)) != 0)
			log_error("epoll_wait", "reason=%s", log_qs(strerror(errno)));
	}
	prober_fini(&p);
	return rv;
}
