#include "prober.h"

#include "inventory.h"
#include "log.h"
#include "marker.h"
#include "mountinfo.h"
#include "probe.h"
#include "publisher.h"
#include "qm_error.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* epoll tags; the sources take SRC_NKINDS values from TAG_SRC on */
enum {
	TAG_SIGNAL = 1,
	TAG_DEBOUNCE,
	TAG_RESCAN,
	TAG_PUB_WAKE,
	TAG_PUB_TIMER,
	TAG_PROBE_WAKE,
	TAG_SRC = 100,
};

/* Follow-up scans after new watches, at most this many in a row: enough
 * for a mount that appears while its parent directory is being watched,
 * bounded against a directory that keeps being re-created. */
#define MAX_FOLLOWUPS 3

struct prober {
	const struct prober_opts *o;
	int epfd, sigfd, debounce_fd, rescan_fd;
	bool debounce_armed;
	bool recheck_armed; /* debounce_fd holds the longer recheck delay */
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

static struct probe_ctx *new_probe(const struct prober_opts *o)
{
	struct probe_config pc = {
		.host_root = o->host_root,
		.fs_types = o->scan.scope.fs_types,
		.n_fs_types = o->scan.scope.n_fs_types,
		.timeout_ms = o->probe_timeout_ms,
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
	struct probe_ctx *ctx = new_probe(o);
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

static int ep_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.u64 = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void set_timer(int fd, long long ms, bool periodic)
{
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	long long ns = ms > 0 ? ms * 1000000LL : 1;
	its.it_value.tv_sec = (time_t)(ns / 1000000000LL);
	its.it_value.tv_nsec = (long)(ns % 1000000000LL);
	if (periodic)
		its.it_interval = its.it_value;
	timerfd_settime(fd, 0, &its, NULL);
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
		;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A rebuild for events after `wait_ms` (the trailing edge of a burst). */
static void arm_debounce_in(struct prober *p, long long wait_ms)
{
	if (p->debounce_armed && !p->recheck_armed)
		return;
	set_timer(p->debounce_fd, wait_ms > 0 ? wait_ms : 1, false);
	p->debounce_armed = true;
	p->recheck_armed = false;
}


/* Scan again later (a marker was being written, probe.h), unless a scan is
 * already due: that one looks again and re-arms if need be. */
static void arm_recheck(struct prober *p, long long ms)
{
	if (p->debounce_armed)
		return;
	set_timer(p->debounce_fd, ms, false);
	p->debounce_armed = true;
	p->recheck_armed = true;
}

static void types_text(unsigned types, char *buf, size_t cap)
{
	static const unsigned bits[] = {MARKER_REGISTRY, MARKER_METADATA, MARKER_DATA};
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < 3; i++) {
		if (!(types & bits[i]))
			continue;
		int w = snprintf(buf + o, cap - o, "%s%s", o ? "," : "",
				 marker_service_name(bits[i]));
		if (w > 0 && (size_t)w < cap - o)
			o += (size_t)w;
	}
	if (o == 0)
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
	probe_cache_flush(p->probe);
	rebuild(p, why);
}

/* A rebuild for events; the debounce window opens only when it published
 * a change (a rebuild that found nothing new is no burst to coalesce). */
static bool events_rebuild(struct prober *p)
{
	uint64_t gen = p->gen;
	long long now = mono_ms();
	rebuild(p, "events");
	if (p->gen == gen)
		return false;
	p->last_events_ms = now;
	return true;
}

static void on_sources(struct prober *p, enum src_kind kind)
{
	struct src_events ev;
	memset(&ev, 0, sizeof ev);
	src_handle(p->src, kind, &ev);
	if (ev.resync) {
		log_warn("resync", "reason=%s", ev.resync);
		probe_cache_flush(p->probe);
	} else if (ev.drop_all) {
		probe_cache_flush(p->probe);
	} else {
		for (size_t i = 0; i < ev.n_drop; i++)
			probe_cache_drop(p->probe, ev.drop[i]);
	}
	if (!ev.changed)
		return;
	/* Leading edge: the first change after a quiet debounce window is
	 * published at once; changes within the window are coalesced into one
	 * rebuild at its end. A marker still being written is caught by the
	 * settle recheck (PROBE_MARKER_SETTLE_MS), as before. */
	long long now = mono_ms();
	long long since = now - p->last_events_ms;
	/* A leading rebuild that changed nothing (a marker's IN_CREATE before
	 * its writer closed it) does not open the window: the event that
	 * completes the change is published at once too. Bounded, so a flood
	 * of events that change nothing still coalesces. */
	bool quiet = since >= p->o->debounce_ms || (p->idle_leads > 0 && p->idle_leads < 3);
	/* a pending settle recheck (a marker still open) is no burst */
	if ((!p->debounce_armed || p->recheck_armed) && quiet) {
		bool published = events_rebuild(p);
		p->idle_leads = published ? 0 : p->idle_leads + 1;
		return;
	}
	p->idle_leads = 0;
	arm_debounce_in(p, p->o->debounce_ms - since);
}

/* Returns true when the loop should stop. */
static bool on_signal(struct prober *p)
{
	struct signalfd_siginfo si;
	bool stop = false;
	while (read(p->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("resync", "reason=sighup");
			full_resync(p, "sighup");
			continue;
		}
		log_info("stopping", "signal=%s",
			 si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
		stop = true;
	}
	return stop;
}

static void prober_fini(struct prober *p)
{
	pub_free(p->pub);
	src_free(p->src);
	probe_ctx_free(p->probe);
	inv_fini(&p->cur);
	if (p->debounce_fd >= 0)
		close(p->debounce_fd);
	if (p->rescan_fd >= 0)
		close(p->rescan_fd);
	if (p->sigfd >= 0)
		close(p->sigfd);
	if (p->epfd >= 0)
		close(p->epfd);
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
		 prober_version(), log_qs(o->agent_id), log_qs(o->hostname),
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

int prober_run(const struct prober_opts *o)
{
	struct prober p;
	memset(&p, 0, sizeof p);
	p.o = o;
	p.epfd = p.sigfd = p.debounce_fd = p.rescan_fd = -1;
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
	int rv = QM_EIO;
	p.epfd = epoll_create1(EPOLL_CLOEXEC);
	p.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	p.debounce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	p.rescan_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p.epfd < 0 || p.sigfd < 0 || p.debounce_fd < 0 || p.rescan_fd < 0 ||
	    ep_add(p.epfd, p.sigfd, EPOLLIN, TAG_SIGNAL) != 0 ||
	    ep_add(p.epfd, p.debounce_fd, EPOLLIN, TAG_DEBOUNCE) != 0 ||
	    ep_add(p.epfd, p.rescan_fd, EPOLLIN, TAG_RESCAN) != 0) {
		log_error("loop_setup", "reason=%s", log_qs(strerror(errno)));
		goto out;
	}
	if (!(p.probe = new_probe(o)))
		goto out;
	if (ep_add(p.epfd, probe_wake_fd(p.probe), EPOLLIN, TAG_PROBE_WAKE) != 0) {
		log_error("loop_setup", "reason=%s", log_qs(strerror(errno)));
		goto out;
	}
	struct src_config sc = {.udev_mode = o->udev_mode,
				.udev_rcvbuf = o->udev_buffer,
				.mountinfo_path = o->mountinfo_path};
	if ((rv = src_new(&sc, p.epfd, TAG_SRC, &p.src)) != 0)
		goto out;
	set_timer(p.rescan_fd, o->rescan_ms, true);
	log_info("source_live", "source=rescan interval_ms=%lld", o->rescan_ms);
	if (o->coordinator) {
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
		};
		memcpy(pc.cred, o->cred, BUS_CRED_LEN);
		if ((rv = pub_new(&pc, &p.pub)) != 0)
			goto out;
		if (ep_add(p.epfd, pub_wake_fd(p.pub), EPOLLIN, TAG_PUB_WAKE) != 0 ||
		    ep_add(p.epfd, pub_timer_fd(p.pub), EPOLLIN, TAG_PUB_TIMER) != 0) {
			rv = QM_EIO;
			goto out;
		}
	} else {
		log_info("publishing_disabled", "reason=\"no --coordinator: "
						"changes are logged only\"");
	}

	full_resync(&p, "start");
	rv = 0;
	bool stop = false;
	while (!stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(p.epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait", "reason=%s", log_qs(strerror(errno)));
			rv = QM_EIO;
			break;
		}
		for (int i = 0; i < n && !stop; i++) {
			uint64_t tag = evs[i].data.u64;
			switch (tag) {
			case TAG_SIGNAL:
				stop = on_signal(&p);
				break;
			case TAG_DEBOUNCE:
				drain(p.debounce_fd);
				p.debounce_armed = false;
				p.recheck_armed = false;
				(void)events_rebuild(&p);
				break;
			case TAG_RESCAN:
				/* the safety net re-reads markers, mounts and
				 * free space; cached blkid/udev facts stay (they
				 * are dropped by udev events and on unmount) */
				drain(p.rescan_fd);
				rebuild(&p, "rescan");
				break;
			case TAG_PROBE_WAKE:
				/* a probe that had timed out returned: its
				 * device may answer again */
				drain(probe_wake_fd(p.probe));
				log_info("probe_unblocked", "still_blocked=%zu",
					 probe_blocked(p.probe));
				rebuild(&p, "probe_unblocked");
				break;
			case TAG_PUB_WAKE:
			case TAG_PUB_TIMER:
				pub_step(p.pub, &p.cur, p.gen);
				break;
			default:
				if (tag >= TAG_SRC && tag < TAG_SRC + SRC_NKINDS)
					on_sources(&p, (enum src_kind)(tag - TAG_SRC));
				break;
			}
		}
	}
out:
	prober_fini(&p);
	return rv;
}
