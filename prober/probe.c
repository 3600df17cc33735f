#include "probe.h"

#include "log.h"
#include "probe_env.h"
#include "probe_facts.h"
#include "probe_pool.h"
#include "marker.h"
#include "qm_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MAX_WARNED 64

/* What the markers at one device root said when last read while nobody was
 * writing them: stands in for them while they are being written. */
struct settled {
	char *root;
	unsigned long scan; /* the last scan that found a device there */
	struct inv_device d; /* marker fields only (copy_marker_fields) */
};

struct probe_ctx {
	struct probe_env *env;
	long long timeout_ms;
	void (*unblocked)(void *arg);
	void *unblocked_arg;
	struct ppool *pool; /* started with the first batch */
	struct probe_facts *cache;
	size_t n_cache, cap_cache;
	/* paths whose root could not be opened: warned once while failing */
	char *warned[MAX_WARNED];
	size_t n_warned;
	struct settled *settled; /* devices of the last scans, by root */
	size_t n_settled, cap_settled;
	unsigned long scan_no;   /* probe_scan_begin count */
	size_t pending;          /* markers deferred in this scan */
};

int probe_ctx_new(const struct probe_config *cfg, struct probe_ctx **out)
{
	*out = NULL;
	struct probe_env *e;
	if (probe_env_new(cfg->host_root, cfg->fs_types, cfg->n_fs_types, &e) != 0)
		return QM_EIO;
	struct probe_ctx *c = qm_calloc(1, sizeof *c);
	c->env = e;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : PROBE_TIMEOUT_MS;
	c->unblocked = cfg->unblocked;
	c->unblocked_arg = cfg->unblocked_arg;
	/* the lease of marker_being_written: a writer opening the marker
	 * while it is held makes the kernel send SIGIO, whose default action
	 * would end the process */
	signal(SIGIO, SIG_IGN);
	*out = c;
	return 0;
}

void probe_ctx_free(struct probe_ctx *c)
{
	if (!c)
		return;
	ppool_free(c->pool);
	probe_cache_flush(c);
	free(c->cache);
	for (size_t i = 0; i < c->n_warned; i++)
		free(c->warned[i]);
	for (size_t i = 0; i < c->n_settled; i++) {
		free(c->settled[i].root);
		inv_device_fini(&c->settled[i].d);
	}
	free(c->settled);
	probe_env_unref(c->env);
	free(c);
}

/* ---- host paths ------------------------------------------------------------- */

int probe_open_dir(struct probe_ctx *c, const char *path)
{
	return probe_env_open(c->env, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int probe_open_path(struct probe_ctx *c, const char *path)
{
	return probe_env_open(c->env, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

bool probe_is_dir(struct probe_ctx *c, const char *path)
{
	int fd = probe_open_path(c, path);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool warned_has(struct probe_ctx *c, const char *path, bool remove)
{
	for (size_t i = 0; i < c->n_warned; i++)
		if (strcmp(c->warned[i], path) == 0) {
			if (remove) {
				free(c->warned[i]);
				c->warned[i] = c->warned[--c->n_warned];
			}
			return true;
		}
	return false;
}

static void warn_unreachable(struct probe_ctx *c, const char *path, int err)
{
	if (warned_has(c, path, false))
		return;
	log_warn("root_unreachable", "root=%s reason=%s", log_qs(path),
		 log_qs(strerror(err)));
	if (c->n_warned < MAX_WARNED)
		c->warned[c->n_warned++] = qm_strdup(path);
}

static struct probe_facts *cache_find(struct probe_ctx *c, dev_t devnum)
{
	for (size_t i = 0; i < c->n_cache; i++)
		if (c->cache[i].devnum == devnum)
			return &c->cache[i];
	return NULL;
}

/* Keep facts in the cache; returns the cached copy. */
static struct probe_facts *cache_put(struct probe_ctx *c, const struct probe_facts *e)
{
	if (c->n_cache == c->cap_cache) {
		c->cap_cache = c->cap_cache ? c->cap_cache * 2 : 16;
		c->cache = qm_realloc(c->cache, c->cap_cache * sizeof *c->cache);
	}
	c->cache[c->n_cache] = *e;
	return &c->cache[c->n_cache++];
}

void probe_cache_drop(struct probe_ctx *c, dev_t devnum)
{
	for (size_t i = 0; i < c->n_cache; i++)
		if (c->cache[i].devnum == devnum) {
			probe_facts_fini(&c->cache[i]);
			c->cache[i] = c->cache[--c->n_cache];
			return;
		}
}

void probe_cache_flush(struct probe_ctx *c)
{
	for (size_t i = 0; i < c->n_cache; i++)
		probe_facts_fini(&c->cache[i]);
	c->n_cache = 0;
}

void probe_cache_retain(struct probe_ctx *c, const struct inv_mount *m, size_t n)
{
	for (size_t i = 0; i < c->n_cache;) {
		bool live = false;
		for (size_t k = 0; k < n && !live; k++)
			live = makedev(m[k].major, m[k].minor) == c->cache[i].devnum;
		if (live) {
			i++;
			continue;
		}
		probe_facts_fini(&c->cache[i]);
		c->cache[i] = c->cache[--c->n_cache];
	}
}

size_t probe_cache_size(const struct probe_ctx *c)
{
	return c->n_cache;
}

unsigned long probe_blkid_runs(const struct probe_ctx *c)
{
	return __atomic_load_n(&c->env->blkid_runs, __ATOMIC_RELAXED);
}

/* ---- markers ------------------------------------------------------------------ */

static char *nonempty(const char *s)
{
	return s && s[0] ? qm_strdup(s) : NULL;
}

/* The fields fill_markers_now sets, from src to dst (dst's are replaced). */
static void copy_marker_fields(struct inv_device *dst, const struct inv_device *src)
{
	free(dst->serial);
	free(dst->model);
	free(dst->error);
	free(dst->device_id);
	dst->legacy_marker = src->legacy_marker;
	dst->types = src->types;
	dst->state = src->state;
	dst->serial = src->serial ? qm_strdup(src->serial) : NULL;
	dst->model = src->model ? qm_strdup(src->model) : NULL;
	dst->bootstrap = src->bootstrap;
	dst->error = src->error ? qm_strdup(src->error) : NULL;
	dst->device_id = src->device_id ? qm_strdup(src->device_id) : NULL;
}

/* The table is sorted by root (scans mostly come in that order, so an
 * insertion is usually an append); binary search finds a root. */
static size_t settled_pos(const struct probe_ctx *c, const char *root, bool *found)
{
	size_t lo = 0, hi = c->n_settled;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->settled[mid].root, root);
		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct settled *settled_find(struct probe_ctx *c, const char *root)
{
	bool found;
	size_t i = settled_pos(c, root, &found);
	return found ? &c->settled[i] : NULL;
}

static void settled_store(struct probe_ctx *c, const char *root,
			  const struct inv_device *d)
{
	bool found;
	size_t i = settled_pos(c, root, &found);
	if (!found) {
		if (c->n_settled == c->cap_settled) {
			c->cap_settled = c->cap_settled ? c->cap_settled * 2 : 16;
			c->settled = qm_realloc(c->settled,
						c->cap_settled * sizeof *c->settled);
		}
		memmove(&c->settled[i + 1], &c->settled[i],
			(c->n_settled - i) * sizeof *c->settled);
		c->n_settled++;
		memset(&c->settled[i], 0, sizeof c->settled[i]);
		c->settled[i].root = qm_strdup(root);
	}
	c->settled[i].scan = c->scan_no;
	copy_marker_fields(&c->settled[i].d, d);
}

void probe_scan_begin(struct probe_ctx *c)
{
	c->scan_no++;
	c->pending = 0;
}

size_t probe_scan_end(struct probe_ctx *c)
{
	/* a root that was not a device in this scan has nothing to stand
	 * in for; this also bounds the table by the devices of one scan */
	size_t k = 0;
	for (size_t i = 0; i < c->n_settled; i++) {
		if (c->settled[i].scan == c->scan_no) {
			c->settled[k++] = c->settled[i];
			continue;
		}
		free(c->settled[i].root);
		inv_device_fini(&c->settled[i].d);
	}
	c->n_settled = k;
	return c->pending;
}

/* Is the marker at dirfd being written right now: open for writing by some
 * process (a read lease is refused with EAGAIN exactly then), and modified
 * within PROBE_MARKER_SETTLE_MS? The second condition bounds the wait for
 * a process that keeps the marker open without writing it. When the lease
 * cannot be taken for another reason (no CAP_LEASE and not the owner, a
 * file system without leases) the answer is "no": the marker is read, as
 * it would be without this check.
 *
 * When the answer is "no" because the lease was granted, the lease is kept
 * in *held (an fd; else -1) until lease_release(), after the caller has
 * read the markers: a writer opening the file in between waits for that
 * release (or gets EWOULDBLOCK if it opens non-blocking), so the read can
 * never see a truncated, half-written file. Checking and releasing at once
 * left that window open (a test saw "METADATA_DEV" published under load).
 * Like marker_read, nothing but a regular file is opened. */
static bool marker_being_written(int dirfd, int *held)
{
	*held = -1;
	struct stat st;
	if (fstatat(dirfd, MARKER_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode))
		return false;
	int fd = openat(dirfd, MARKER_FILE,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		*held = fd;
		return false;
	}
	bool busy = false;
	if (errno == EAGAIN) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		long long age_ms = (long long)(now.tv_sec - st.st_mtim.tv_sec) * 1000 +
				   (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
		/* either way: a clock step must not defer a marker for long */
		busy = age_ms < PROBE_MARKER_SETTLE_MS && age_ms > -PROBE_MARKER_SETTLE_MS;
	}
	close(fd);
	return busy;
}

static void lease_release(int fd)
{
	if (fd < 0)
		return;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
}

/* Read the markers at dirfd into d. Returns false when the directory is
 * not a device (no marker file and no legacy marker directories). */
static bool fill_markers_now(int dirfd, struct inv_device *d)
{
	struct marker m;
	int r = marker_read(dirfd, &m);
	unsigned legacy = marker_legacy_types(dirfd);
	if (r == QM_ENOENT && legacy == 0)
		return false;
	d->legacy_marker = legacy != 0;
	d->types = legacy;
	if (r == 0) {
		d->types |= m.types;
		d->serial = nonempty(m.serial);
		d->model = nonempty(m.model);
		d->bootstrap = m.bootstrap;
		d->state = d->types ? INV_STATE_OK : INV_STATE_NO_TYPE;
	} else if (r == QM_ENOENT) {
		d->state = INV_STATE_OK;
	} else {
		/* nothing may be started for a broken marker, whatever the
		 * legacy directories say */
		d->types = 0;
		d->state = INV_STATE_ERROR;
		d->error = qm_strdup(m.error[0] ? m.error : qm_strerror(r));
	}
	char id[MARKER_VALUE_MAX];
	int ri = marker_read_id(dirfd, id, sizeof id);
	if (ri == 0) {
		d->device_id = nonempty(id);
	} else if (ri != QM_ENOENT && d->state != INV_STATE_ERROR) {
		d->types = 0;
		d->state = INV_STATE_ERROR;
		d->error = inv_strf("%s: %s", MARKER_ID_FILE,
				    ri == QM_EINVAL ? "no valid device.id"
						    : qm_strerror(ri));
	}
	return true;
}

static void fill_space(int dirfd, struct inv_device *d, bool want_size)
{
	struct statvfs sv;
	if (fstatvfs(dirfd, &sv) != 0)
		return;
	d->has_free = true;
	d->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (want_size) {
		d->has_size = true;
		d->size_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	}
}

/* ---- probing a scan's candidates on worker threads ---------------------------- */

/* One candidate: what the worker reads (every call that touches the
 * device or its file system), then what the loop thread makes of it. */
struct pjob {
	struct ppool_job base; /* first: the pool hands this back */
	struct probe_env *env; /* a reference */
	/* input */
	bool is_mount;
	char *path; /* = base.key */
	dev_t devnum;
	char *source, *fstype;
	bool need_facts;
	/* output */
	int open_err;      /* open of the root failed: its errno */
	bool mismatch;     /* the root is not on devnum (remounted) */
	bool busy;         /* the marker is being written */
	bool is_dev;       /* markers read (d's marker fields) */
	struct inv_device d;
	bool have_facts, facts_settled;
	struct probe_facts facts;
};

static void pjob_free(struct ppool_job *pj)
{
	struct pjob *j = (struct pjob *)pj;
	inv_device_fini(&j->d);
	probe_facts_fini(&j->facts);
	free(j->path);
	free(j->source);
	free(j->fstype);
	probe_env_unref(j->env);
	free(j);
}

static void pjob_run(struct ppool_job *pj, void *thread_ctx)
{
	struct pjob *j = (struct pjob *)pj;
	int fd = probe_env_open(j->env, j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		j->open_err = errno ? errno : EIO;
		return;
	}
	struct stat st;
	if (j->is_mount && (fstat(fd, &st) != 0 || st.st_dev != j->devnum)) {
		j->mismatch = true;
		close(fd);
		return;
	}
	int held;
	j->busy = marker_being_written(fd, &held);
	if (!j->busy)
		j->is_dev = fill_markers_now(fd, &j->d);
	lease_release(held);
	if (j->busy || j->is_dev)
		fill_space(fd, &j->d, !j->is_mount);
	close(fd);
	if (j->is_mount && j->need_facts && (j->busy || j->is_dev)) {
		j->facts.devnum = j->devnum;
		j->facts_settled = probe_facts_compute(j->env, thread_ctx, j->source,
						 j->fstype, &j->facts);
		j->have_facts = true;
	}
}

static void *worker_udev_new(void)
{
	return udev_new(); /* NULL tolerated: blkid and sysfs still work */
}

static void worker_udev_free(void *u)
{
	udev_unref(u);
}

/* A batch: the candidates of one scan, in scan order. */
struct probe_batch {
	struct probe_ctx *c;
	struct ppool_job **jobs; /* NULL: not submitted (stuck) or abandoned */
	const struct inv_mount **m; /* the caller's, NULL for a directory */
	char **path;
	bool *is_mount, *stuck;
	size_t n, cap;
};

/* The context's pool, started on first use. */
static struct ppool *pool_of(struct probe_ctx *c)
{
	if (!c->pool) {
		c->pool = ppool_new(worker_udev_new, worker_udev_free,
				    c->unblocked, c->unblocked_arg);
		if (!c->pool)
			qm_oom(); /* a mutex or condition that cannot be had */
	}
	return c->pool;
}

struct probe_batch *probe_batch_begin(struct probe_ctx *c)
{
	pool_of(c);
	struct probe_batch *b = qm_calloc(1, sizeof *b);
	b->c = c;
	return b;
}

static void batch_add(struct probe_batch *b, const struct inv_mount *m,
		      const char *path)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->jobs = qm_realloc(b->jobs, b->cap * sizeof *b->jobs);
		b->m = qm_realloc(b->m, b->cap * sizeof *b->m);
		b->path = qm_realloc(b->path, b->cap * sizeof *b->path);
		b->is_mount = qm_realloc(b->is_mount, b->cap * sizeof *b->is_mount);
		b->stuck = qm_realloc(b->stuck, b->cap * sizeof *b->stuck);
	}
	size_t i = b->n++;
	struct probe_ctx *c = b->c;
	b->path[i] = qm_strdup(path);
	b->is_mount[i] = m != NULL;
	b->m[i] = m;
	b->jobs[i] = NULL;
	/* still blocked since an earlier scan: report it as such, and do
	 * not put another thread on the same hung file system */
	b->stuck[i] = ppool_stuck(c->pool, path);
	if (b->stuck[i])
		return;
	struct pjob *j = qm_calloc(1, sizeof *j);
	j->base.run = pjob_run;
	j->base.free = pjob_free;
	j->env = probe_env_ref(c->env);
	j->path = qm_strdup(path);
	j->base.key = j->path;
	j->is_mount = m != NULL;
	j->d.rotational = -1;
	if (m) {
		j->devnum = makedev(m->major, m->minor);
		j->source = m->source ? qm_strdup(m->source) : NULL;
		j->fstype = m->fstype ? qm_strdup(m->fstype) : NULL;
		j->need_facts = cache_find(c, j->devnum) == NULL;
	}
	b->jobs[i] = &j->base;
	ppool_submit(c->pool, &j->base);
}

void probe_batch_mount(struct probe_batch *b, const struct inv_mount *m)
{
	batch_add(b, m, m->mount_point);
}

void probe_batch_dir(struct probe_batch *b, const char *path)
{
	batch_add(b, NULL, path);
}

/* The mount's own facts and the cached device facts into d. */
static void fill_mount_fields(struct inv_device *d, const struct inv_mount *m,
			      const struct probe_facts *ce)
{
	if (m->n_aliases) {
		d->aliases = qm_calloc(m->n_aliases, sizeof(char *));
		for (size_t i = 0; i < m->n_aliases; i++)
			d->aliases[i] = qm_strdup(m->aliases[i]);
		d->n_aliases = m->n_aliases;
	}
	d->block_device = nonempty(m->source);
	d->fs_type = nonempty(m->fstype);
	d->fs_root = qm_strdup(m->fs_root);
	if (!ce)
		return;
	d->fs_uuid = nonempty(ce->uuid);
	d->fs_label = nonempty(ce->label);
	d->udev_serial = nonempty(ce->udev_serial);
	d->udev_wwn = nonempty(ce->udev_wwn);
	d->udev_model = nonempty(ce->udev_model);
	d->partition = ce->partition;
	d->rotational = ce->rotational;
	if (ce->has_size) {
		d->has_size = true;
		d->size_bytes = ce->size;
	}
}

/* A candidate whose probe did not return in time: a device in state
 * PROBE_TIMEOUT carrying what was read there last (its types: the
 * services on it keep running), or nothing but the root if the first
 * probe already hung. */
static void finish_timeout(struct probe_batch *b, size_t i, struct inv *inv)
{
	struct probe_ctx *c = b->c;
	struct inv_device d;
	memset(&d, 0, sizeof d);
	d.rotational = -1;
	struct settled *s = settled_find(c, b->path[i]);
	if (s) {
		s->scan = c->scan_no;
		copy_marker_fields(&d, &s->d);
	}
	free(d.error);
	d.state = INV_STATE_PROBE_TIMEOUT;
	d.error = inv_strf("probing blocked for more than %lld ms (a hung disk "
			   "or a stalled mount); last known types kept",
			   c->timeout_ms);
	d.root = qm_strdup(b->path[i]);
	if (b->is_mount[i])
		fill_mount_fields(&d, b->m[i],
				  cache_find(c, makedev(b->m[i]->major, b->m[i]->minor)));
	else
		d.is_directory = true;
	if (!b->stuck[i])
		log_warn("probe_timeout", "root=%s timeout_ms=%lld known=%s",
			 log_qs(b->path[i]), c->timeout_ms, s ? "true" : "false");
	*inv_add(inv) = d;
}

/* A probe that returned: as the synchronous probe always did. */
static void finish_done(struct probe_batch *b, size_t i, struct pjob *j,
			struct inv *inv)
{
	struct probe_ctx *c = b->c;
	const char *root = b->path[i];
	if (j->open_err) {
		/* gone between reading the mount table and now: a race the
		 * next mount table event resolves, not worth a warning */
		if (j->open_err != ENOENT && j->open_err != ENOTDIR)
			warn_unreachable(c, root, j->open_err);
		return;
	}
	warned_has(c, root, true);
	if (j->mismatch) {
		log_debug("root_mismatch", "root=%s expected=%u:%u", log_qs(root),
			  major(j->devnum), minor(j->devnum));
		return;
	}
	/* A marker being written would be read cut in the middle
	 * ("device.type=METADATA_DEV") by a scan that happens to run now (any
	 * event starts one). What was read there last time stands instead,
	 * or, for a new marker, the root is not a device yet; the writer's
	 * close (IN_CLOSE_WRITE) brings the next scan, and probe_scan_end's
	 * count makes the caller look again within PROBE_MARKER_SETTLE_MS in
	 * case no close comes. */
	if (j->busy) {
		c->pending++;
		struct settled *s = settled_find(c, root);
		log_debug("marker_being_written", "root=%s standing=%s", log_qs(root),
			  s ? "last_read" : "none");
		if (!s)
			return;
		s->scan = c->scan_no;
		copy_marker_fields(&j->d, &s->d);
	} else if (!j->is_dev) {
		return;
	} else {
		settled_store(c, root, &j->d);
	}
	struct inv_device d = j->d;
	memset(&j->d, 0, sizeof j->d);
	d.root = qm_strdup(root);
	if (!j->is_mount) {
		d.is_directory = true;
		*inv_add(inv) = d;
		return;
	}
	const struct probe_facts *ce = cache_find(c, j->devnum);
	if (!ce && j->have_facts) {
		if (j->facts_settled) {
			ce = cache_put(c, &j->facts);
			memset(&j->facts, 0, sizeof j->facts);
		} else {
			ce = &j->facts; /* not cached: asked again next scan */
		}
	}
	fill_mount_fields(&d, b->m[i], ce);
	*inv_add(inv) = d;
}

size_t probe_batch_end(struct probe_batch *b, struct inv *inv)
{
	struct probe_ctx *c = b->c;
	size_t timed_out = ppool_wait(c->pool, b->jobs, b->n, c->timeout_ms);
	for (size_t i = 0; i < b->n; i++) {
		if (b->jobs[i])
			finish_done(b, i, (struct pjob *)b->jobs[i], inv);
		else
			finish_timeout(b, i, inv);
		if (b->jobs[i])
			pjob_free(b->jobs[i]);
		free(b->path[i]);
		if (b->stuck[i])
			timed_out++;
	}
	free(b->jobs);
	free(b->m);
	free(b->path);
	free(b->is_mount);
	free(b->stuck);
	free(b);
	return timed_out;
}

size_t probe_blocked(struct probe_ctx *c)
{
	return c->pool ? ppool_n_stuck(c->pool) : 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int probe_list_subdirs(struct probe_ctx *c, const char *path, char ***names,
		       size_t *n, size_t *dropped)
{
	*names = NULL;
	*n = 0;
	*dropped = 0;
	int fd = probe_open_dir(c, path);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	size_t cap = 0;
	char **v = NULL;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			isdir = fstatat(dirfd(d), de->d_name, &st,
					AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISDIR(st.st_mode);
		}
		if (!isdir)
			continue;
		if (*n == PROBE_MAX_SUBDIRS) {
			(*dropped)++;
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = qm_realloc(v, cap * sizeof *v);
		}
		v[(*n)++] = qm_strdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, cmp_name);
	*names = v;
	return 0;
}
