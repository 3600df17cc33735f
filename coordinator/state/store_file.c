#include "state/store_file.h"

#include "clock.h"
#include "jtext.h"
#include "log.h"
#include "qm_error.h"
#include "state/store_snap.h"
#include "strmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define STATE_FILE STORE_FILE_STATE
#define LOCK_FILE STORE_FILE_LOCK
#define LOG_FILE STORE_FILE_LOG
/* A record: "QMR1", payload length (u32 LE), version (u64 LE), CRC-32 of
 * bytes 4..15 and the payload (u32 LE), then the payload. */
#define REC_MAGIC "QMR1"
#define REC_HDR 20u
/* Compaction: when the log would pass max(4 x snapshot, 1 MiB), capped at
 * half of STORE_MAX_BYTES, or holds STORE_FILE_LOG_MAX_RECORDS records. */
#define LOG_MIN_BOUND (1u << 20)
#define TMP_PREFIX "state.json.tmp."
#define RESET_HINT "refusing to start with an empty state - move it away to reset"

void (*store_file_compact_hook)(void);
#define compact_hook store_file_compact_hook

struct file_store;
static void bg_reap(struct file_store *fs, bool wait);

static const char *errstr(int e, char *buf, size_t cap)
{
	return strerror_r(e, buf, cap); /* GNU variant: returns the text */
}

struct file_store {
	char *dir;
	char *path;         /* <dir>/state.json, for messages */
	char *lpath;        /* <dir>/state.log */
	int dirfd;
	int lockfd;
	bool known;         /* everything below reflects the files on disk */
	bool exists;
	uint64_t version;
	struct stat st;     /* state.json as last read or written */
	bool log_exists;
	struct stat lst;    /* state.log as last read or written */
	uint64_t log_good;  /* end of its last complete record (torn tail after) */
	size_t log_records;
	uint64_t sync_us;   /* the last save's append fdatasync (store_last_sync_us) */
	struct store_state cur; /* the state at version, what records diff to */
	unsigned seq;       /* temp file names */
	/* A compaction in the background (store_snap.h): the snapshot of
	 * version bg_version is being written to bg_name, whose record ends
	 * the log at bg_log_end, the bg_log_records-th record. */
	struct snap_job *bg;
	struct jtext snap_text; /* its text (the thread reads it), kept for the next */
	char bg_name[64];
	uint64_t bg_version;
	uint64_t bg_log_end;
	size_t bg_log_records;
	uint64_t bg_started_ms;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read name (state.json or state.log; path is it for messages) whole: 0,
 * QM_ENOENT, QM_ETOOBIG, QM_EIO (message set). */
static int file_read(struct file_store *fs, const char *name, const char *path,
		     char **buf, size_t *len, struct stat *sb, char *err,
		     size_t errlen)
{
	char eb[128];
	*buf = NULL;
	*len = 0;
	int fd = openat(fs->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return QM_ENOENT;
		return qm_fail(err, errlen, QM_EIO, "cannot open state file %s: %s",
			    path, errstr(errno, eb, sizeof eb));
	}
	if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return qm_fail(err, errlen, QM_EIO,
			    "state file %s is not a regular file", path);
	}
	if ((uint64_t)sb->st_size > STORE_MAX_BYTES) {
		close(fd);
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "state file %s is %lld bytes, more than the %u MiB "
			    "cap; " RESET_HINT, path, (long long)sb->st_size,
			    STORE_MAX_BYTES >> 20);
	}
	/* Read to the cap + 1 whatever st_size said: the file may grow. */
	size_t cap = (size_t)sb->st_size + 1, n = 0;
	char *b = qm_malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > STORE_MAX_BYTES)
				break;
			cap = cap * 2 > STORE_MAX_BYTES + 1 ? STORE_MAX_BYTES + 1
							    : cap * 2;
			b = qm_realloc(b, cap + 1);
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			close(fd);
			return qm_fail(err, errlen, QM_EIO,
				    "cannot read state file %s: %s", path,
				    errstr(e, eb, sizeof eb));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > STORE_MAX_BYTES) {
		free(b);
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "state file %s is larger than the %u MiB cap; "
			    RESET_HINT, path, STORE_MAX_BYTES >> 20);
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rec_crc(const unsigned char *hdr, const char *payload,
			size_t plen)
{
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, hdr + 4, 12);
	c = crc32_z(c, (const Bytef *)payload, plen);
	return (uint32_t)c;
}

/* Deep copy of a state (dst initialised or finalised first). */
static void state_copy(struct store_state *dst, const struct store_state *src)
{
	store_state_fini(dst);
	*dst = *src;
	dst->tasks = NULL;
	dst->failures = NULL;
	dst->reservations = NULL;
	dst->drains = NULL;
	dst->tasks_cap = dst->ntasks;
	dst->failures_cap = dst->nfailures;
	dst->reservations_cap = dst->nreservations;
	dst->drains_cap = dst->ndrains;
#define COPY_ARR(f, n)                                                     \
	if (src->n) {                                                      \
		dst->f = qm_malloc(src->n * sizeof *src->f);               \
		memcpy(dst->f, src->f, src->n * sizeof *src->f);           \
	}
	/* tasks and reservations own their mounts: deep */
	dst->tasks = store_tasks_dup(src->tasks, src->ntasks);
	COPY_ARR(failures, nfailures)
	dst->reservations = store_reservations_dup(src->reservations, src->nreservations);
	COPY_ARR(drains, ndrains)
#undef COPY_ARR
}

static bool same_reservations(const struct store_state *a, const struct store_state *b)
{
	if (a->nreservations != b->nreservations)
		return false;
	for (size_t i = 0; i < a->nreservations; i++)
		if (!store_reservation_same(&a->reservations[i], &b->reservations[i]))
			return false;
	return true;
}

#define SAME_ARR(a, b, f, n)                                               \
	((a)->n == (b)->n &&                                               \
	 ((a)->n == 0 || memcmp((a)->f, (b)->f, (a)->n * sizeof *(a)->f) == 0))

/* Swap collection f of delta into s (apply of a record). */
#define TAKE_ARR(s, d, f, n, cap)                                          \
	do {                                                               \
		free((s)->f);                                              \
		(s)->f = (d)->f;                                           \
		(s)->n = (d)->n;                                           \
		(s)->cap = (d)->cap;                                       \
		(d)->f = NULL;                                             \
		(d)->n = (d)->cap = 0;                                     \
	} while (0)

/* Which collections a record carries (make_record's *colls). */
#define COLL_FAILURES 1u
#define COLL_RESERVATIONS 2u
#define COLL_DRAINS 4u

/* Collection f of dst (its arrays just copied from src by value): a copy
 * of src's when changed, else kept's (equal to src's), taken. */
#define KEEP_OR_COPY(changed, dst, kept, src, f, n, cap)                   \
	do {                                                               \
		if (changed) {                                             \
			(dst)->f = NULL;                                   \
			if ((src)->n) {                                    \
				(dst)->f = qm_malloc((src)->n * sizeof *(src)->f); \
				memcpy((dst)->f, (src)->f,                 \
				       (src)->n * sizeof *(src)->f);       \
			}                                                  \
			(dst)->n = (src)->n;                               \
			(dst)->cap = (src)->n;                             \
		} else {                                                   \
			(dst)->f = (kept)->f;                              \
			(dst)->n = (kept)->n;                              \
			(dst)->cap = (kept)->cap;                          \
			(kept)->f = NULL;                                  \
			(kept)->n = (kept)->cap = 0;                       \
		}                                                          \
	} while (0)

/* A reservation's key in a strmap: service, a newline, agent id (neither
 * holds a newline). */
static void rsv_key(const struct store_reservation *r, char *out, size_t cap)
{
	snprintf(out, cap, "%s\n%s", r->service, r->agent_id);
}

/* The reservations as a change from old to s: put[] the indexes in s of
 * the new and changed ones, del[] the indexes in old of the removed ones.
 * false when the change is not one that replaying puts (changed in place,
 * new ones appended) and removals (the rest keeping their order) gives
 * back in s's order, or when it touches more than half of them: the whole
 * collection is written then. A launch of 10,000 probers adds ~700
 * reservations a slice, and writing them all each time made a slice's save
 * grow from 4 to 83 ms (offer_cycle.py --agents 10000). */
#define RSV_KEY_MAX (STORE_SERVICE_MAX + STORE_ID_MAX + 2)

/* idx (initialised here): each reservation's key -> its index in s. */
static void rsv_index(const struct store_state *s, struct strmap *idx)
{
	strmap_init(idx);
	char key[RSV_KEY_MAX + 1];
	for (size_t k = 0; k < s->nreservations; k++) {
		rsv_key(&s->reservations[k], key, sizeof key);
		strmap_put(idx, key, k);
	}
}

/* A change of the reservations as rsv_delta finds it: put[k] the index in
 * s of a new or changed one, at[k] its index in old (SIZE_MAX: new), del[]
 * the indexes in old of the removed ones, ascending. */
struct rsv_change {
	size_t *put, *at, *del;
	size_t nput, ndel;
};

static void rsv_change_free(struct rsv_change *rc)
{
	free(rc->put);
	free(rc->at);
	free(rc->del);
	memset(rc, 0, sizeof *rc);
}

static bool rsv_delta(const struct store_state *old, const struct store_state *s,
		      struct rsv_change *rc)
{
	size_t **put = &rc->put, **del = &rc->del, *nput = &rc->nput, *ndel = &rc->ndel;
	rc->at = qm_malloc((s->nreservations + 1) * sizeof *rc->at);
	*put = qm_malloc((s->nreservations + 1) * sizeof **put);
	*del = qm_malloc((old->nreservations + 1) * sizeof **del);
	*nput = *ndel = 0;
	struct strmap idx;
	rsv_index(old, &idx);
	char key[RSV_KEY_MAX + 1];
	/* the kept ones must come in old's order, the new ones after them;
	 * the old ones skipped between two kept ones are the removed ones */
	bool ok = true, added = false;
	size_t from = 0; /* old entries before it are kept or removed */
	for (size_t i = 0; i < s->nreservations && ok; i++) {
		size_t j;
		rsv_key(&s->reservations[i], key, sizeof key);
		if (!strmap_get(&idx, key, &j)) {
			added = true; /* from here on, only new ones */
			rc->at[*nput] = SIZE_MAX;
			(*put)[(*nput)++] = i;
			continue;
		}
		if (added || j < from) {
			ok = false; /* moved: not an append-and-remove change */
			break;
		}
		while (from < j)
			(*del)[(*ndel)++] = from++;
		from = j + 1;
		if (!store_reservation_same(&old->reservations[j], &s->reservations[i])) {
			rc->at[*nput] = j;
			(*put)[(*nput)++] = i;
		}
	}
	while (ok && from < old->nreservations)
		(*del)[(*ndel)++] = from++;
	strmap_fini(&idx);
	size_t n = s->nreservations > old->nreservations ? s->nreservations
							  : old->nreservations;
	if (ok && 2 * (*nput + *ndel) <= n)
		return true;
	*nput = *ndel = 0; /* written whole: nothing of this is used */
	return false;
}

static void rsv_assign(struct store_reservation *d, const struct store_reservation *r)
{
	char *m = qm_strdup_or_null(r->mounts);
	free(d->mounts);
	*d = *r;
	d->mounts = m;
}

/* Make cur's reservations s's by the change rsv_delta found from cur to
 * s: the changed ones in place, the removed ones out (the rest keeping
 * their order), the new ones appended -- s's order, as a replay gives it.
 * Copies only what changed: a deep copy of every reservation per save
 * (3.1 KB each) made each launch slice's save grow with the cluster. */
static void rsv_apply(struct store_state *cur, const struct store_state *s,
		      const struct rsv_change *rc)
{
	for (size_t k = 0; k < rc->nput; k++)
		if (rc->at[k] != SIZE_MAX)
			rsv_assign(&cur->reservations[rc->at[k]], &s->reservations[rc->put[k]]);
	size_t w = 0, d = 0;
	for (size_t i = 0; i < cur->nreservations; i++) {
		if (d < rc->ndel && rc->del[d] == i) {
			free(cur->reservations[i].mounts);
			d++;
			continue;
		}
		cur->reservations[w++] = cur->reservations[i];
	}
	cur->nreservations = w;
	for (size_t k = 0; k < rc->nput; k++) {
		if (rc->at[k] != SIZE_MAX)
			continue;
		if (cur->nreservations == cur->reservations_cap) {
			cur->reservations_cap = cur->reservations_cap ? 2 * cur->reservations_cap : 16;
			cur->reservations = qm_realloc(cur->reservations, cur->reservations_cap *
									  sizeof *cur->reservations);
		}
		struct store_reservation *r = &cur->reservations[cur->nreservations++];
		memset(r, 0, sizeof *r);
		rsv_assign(r, &s->reservations[rc->put[k]]);
	}
}

/* A record's payload: the line "del=<n> failures=<0|1>
 * reservations=<0|1|2> drains=<0|1>" -- with reservations=2 followed by "
 * rdel=<m>" --, n lines of removed task IDs (IDs hold no control
 * characters), m lines of removed reservations ("<service>\t<agent id>"),
 * then a state in the codec's JSON (store_state_to_json) with the
 * top-level fields, the upserted tasks and each collection flagged 1
 * (whole; a 0 collection is unchanged and written empty); reservations=2
 * carries only the new and changed reservations (rsv_delta). A reader
 * without reservations=2 refuses such a record ("bad record header
 * line"): nothing is read wrong. NULL when nothing but the version changes
 * is impossible: a record is always made. */
static int make_record(const struct store_state *old,
		       const struct store_state *s, uint64_t version,
		       char **out, size_t *outlen, size_t **changed,
		       size_t *nchanged, unsigned *colls, struct rsv_change *rc)
{
	struct store_state d;
	store_state_init(&d);
	memcpy(d.framework_id, s->framework_id, sizeof d.framework_id);
	memcpy(d.target_version, s->target_version, sizeof d.target_version);
	memcpy(d.progress, s->progress, sizeof d.progress);
	memcpy(d.previous_version, s->previous_version,
	       sizeof d.previous_version);
	d.rollout_paused = s->rollout_paused;

	/* Tasks: the same position first (the usual case: order kept), the
	 * index of the old tasks by ID otherwise. */
	struct strmap idx;
	bool indexed = false;
	unsigned char *seen = qm_calloc(old->ntasks + 1, 1);
	d.tasks = qm_malloc((s->ntasks + 1) * sizeof *d.tasks);
	/* When every old task kept its position (none removed; new ones
	 * only appended, as a launch slice adds them), the indexes of the
	 * changed and new ones: the caller updates its copy with just those
	 * instead of copying the whole state (a slice's save at 10,000 agents
	 * copied 10,000 tasks). */
	bool kept = s->ntasks >= old->ntasks;
	size_t *chg = qm_malloc((s->ntasks + 1) * sizeof *chg);
	size_t nchg = 0;
	/* While every old task is found in its own place, the tasks after
	 * them are new (a state's task ids are unique): no index is built for
	 * them. It had been built for every slice's appended launches, a
	 * hash of every old task id per save (16% of a save's CPU at 8,000
	 * to 16,000 tasks, perf over a throwaway benchmark). */
	bool in_place = true;
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct store_task *t = &s->tasks[i];
		size_t j = i;
		bool found = i < old->ntasks &&
			     strcmp(old->tasks[i].task_id, t->task_id) == 0;
		if (i < old->ntasks && !found)
			in_place = false;
		if (!found && !(in_place && i >= old->ntasks)) {
			if (!indexed) {
				strmap_init(&idx);
				for (size_t k = 0; k < old->ntasks; k++)
					strmap_put(&idx, old->tasks[k].task_id, k);
				indexed = true;
			}
			found = strmap_get(&idx, t->task_id, &j);
		}
		if (found)
			seen[j] = 1;
		/* memcmp also sees bytes after a string's NUL: a false
		 * "changed" only writes an unchanged task again. */
		if (i < old->ntasks ? !found || j != i : found)
			kept = false;
		if (!found || !store_task_same(&old->tasks[j], t)) {
			d.tasks[d.ntasks++] = *t; /* borrowed: see the fini below */
			chg[nchg++] = i;
		}
	}
	if (indexed)
		strmap_fini(&idx);
	store_state_changed(&d);
	bool fch = !SAME_ARR(old, s, failures, nfailures);
	int rch = same_reservations(old, s) ? 0 : 1;
	bool dch = !SAME_ARR(old, s, drains, ndrains);
	*colls = (fch ? COLL_FAILURES : 0) | (rch ? COLL_RESERVATIONS : 0) |
		 (dch ? COLL_DRAINS : 0);
	memset(rc, 0, sizeof *rc);
	struct store_reservation *rv_put = NULL;
	if (rch && rsv_delta(old, s, rc))
		rch = 2;
	else
		rsv_change_free(rc);
	size_t *rput = rc->put, *rdel = rc->del, nrput = rc->nput, nrdel = rc->ndel;
	/* Borrowed, not owned: reset before the fini below. */
	if (fch) {
		d.failures = s->failures;
		d.nfailures = s->nfailures;
	}
	if (rch == 1) {
		d.reservations = s->reservations;
		d.nreservations = s->nreservations;
	} else if (rch == 2) {
		/* shallow copies of s's entries (their mounts borrowed) */
		rv_put = qm_malloc((nrput + 1) * sizeof *rv_put);
		for (size_t k = 0; k < nrput; k++)
			rv_put[k] = s->reservations[rput[k]];
		d.reservations = rv_put;
		d.nreservations = nrput;
	}
	if (dch) {
		d.drains = s->drains;
		d.ndrains = s->ndrains;
	}
	size_t ndel = 0, dellen = 0;
	for (size_t k = 0; k < old->ntasks; k++)
		if (!seen[k]) {
			ndel++;
			dellen += strlen(old->tasks[k].task_id) + 1;
		}
	char *json;
	size_t jlen;
	int rv = store_state_to_json(&d, version, &json, &jlen);
	free(rv_put);
	free(d.tasks); /* the entries are s's */
	d.tasks = NULL;
	d.ntasks = 0;
	d.failures = NULL;
	d.reservations = NULL;
	d.drains = NULL;
	d.nfailures = d.nreservations = d.ndrains = 0;
	store_state_fini(&d);
	if (rv) {
		free(seen);
		free(chg);
		rsv_change_free(rc);
		return rv;
	}
	if (kept) {
		*changed = chg;
		*nchanged = nchg;
	} else {
		free(chg);
		*changed = NULL;
		*nchanged = 0;
	}
	char head[128];
	int hl = rch == 2 ? snprintf(head, sizeof head,
				     "del=%zu failures=%d reservations=2 drains=%d rdel=%zu\n",
				     ndel, fch, dch, nrdel)
			  : snprintf(head, sizeof head,
				     "del=%zu failures=%d reservations=%d drains=%d\n", ndel,
				     fch, rch, dch);
	size_t rdellen = 0;
	for (size_t k = 0; k < nrdel; k++)
		rdellen += strlen(old->reservations[rdel[k]].service) + 1 +
			   strlen(old->reservations[rdel[k]].agent_id) + 1;
	size_t total = (size_t)hl + dellen + rdellen + jlen;
	char *p = qm_malloc(total + 1);
	memcpy(p, head, (size_t)hl);
	size_t o = (size_t)hl;
	for (size_t k = 0; k < old->ntasks; k++)
		if (!seen[k]) {
			size_t l = strlen(old->tasks[k].task_id);
			memcpy(p + o, old->tasks[k].task_id, l);
			p[o + l] = '\n';
			o += l + 1;
		}
	for (size_t k = 0; k < nrdel; k++) {
		const struct store_reservation *r = &old->reservations[rdel[k]];
		o += (size_t)snprintf(p + o, total + 1 - o, "%s\t%s\n", r->service, r->agent_id);
	}
	memcpy(p + o, json, jlen);
	p[total] = '\0';
	free(json);
	free(seen);
	*out = p;
	*outlen = total;
	return 0;
}

/* A reservations=2 record's new and changed reservations into s: a
 * changed one in its place, a new one appended (rsv_delta). The entries
 * (their mounts) move from d to s. */
static void put_reservations(struct store_state *s, struct store_state *d)
{
	struct strmap idx;
	rsv_index(s, &idx);
	char key[RSV_KEY_MAX + 1];
	for (size_t i = 0; i < d->nreservations; i++) {
		struct store_reservation *r = &d->reservations[i];
		size_t k;
		rsv_key(r, key, sizeof key);
		struct store_reservation *at;
		if (strmap_get(&idx, key, &k)) {
			at = &s->reservations[k];
			free(at->mounts);
		} else {
			at = store_state_append_reservation(s, r->service, r->agent_id);
			strmap_put(&idx, key, s->nreservations - 1);
		}
		*at = *r;
		r->mounts = NULL; /* moved */
	}
	store_state_changed(s);
	strmap_fini(&idx);
}

/* Apply one record's payload to s. 0 or QM_ECORRUPT with why. */
static int apply_record(struct store_state *s, const char *p, size_t plen,
			uint64_t version, char *why, size_t whylen)
{
	const char *nl = memchr(p, '\n', plen);
	size_t ndel, nrdel = 0;
	int fch, rch, dch;
	char head[128];
	if (!nl || (size_t)(nl - p) >= sizeof head)
		return qm_fail(why, whylen, QM_ECORRUPT, "no record header line");
	memcpy(head, p, (size_t)(nl - p));
	head[nl - p] = '\0';
	int used = 0, more = 0;
	if (sscanf(head, "del=%zu failures=%d reservations=%d drains=%d%n",
		   &ndel, &fch, &rch, &dch, &used) != 4 || rch < 0 || rch > 2 ||
	    (rch == 2 ? sscanf(head + used, " rdel=%zu%n", &nrdel, &more) != 1 ||
				head[used + more] != '\0'
		      : head[used] != '\0'))
		return qm_fail(why, whylen, QM_ECORRUPT,
			       "bad record header line");
	const char *q = nl + 1, *end = p + plen;
	for (size_t k = 0; k < ndel; k++) {
		const char *e = memchr(q, '\n', (size_t)(end - q));
		if (!e || e == q || (size_t)(e - q) > STORE_ID_MAX)
			return qm_fail(why, whylen, QM_ECORRUPT,
				       "bad removed task ID");
		char id[STORE_ID_MAX + 1];
		memcpy(id, q, (size_t)(e - q));
		id[e - q] = '\0';
		if (!store_state_remove_task(s, id))
			return qm_fail(why, whylen, QM_ECORRUPT,
				       "removes task '%s', which is not there", id);
		q = e + 1;
	}
	for (size_t k = 0; k < nrdel; k++) {
		const char *e = memchr(q, '\n', (size_t)(end - q));
		const char *t = e ? memchr(q, '\t', (size_t)(e - q)) : NULL;
		if (!t || t == q || (size_t)(t - q) > STORE_SERVICE_MAX || e == t + 1 ||
		    (size_t)(e - t - 1) > STORE_ID_MAX)
			return qm_fail(why, whylen, QM_ECORRUPT, "bad removed reservation");
		char svc[STORE_SERVICE_MAX + 1], agent[STORE_ID_MAX + 1];
		memcpy(svc, q, (size_t)(t - q));
		svc[t - q] = '\0';
		memcpy(agent, t + 1, (size_t)(e - t - 1));
		agent[e - t - 1] = '\0';
		if (!store_state_remove_reservation(s, svc, agent))
			return qm_fail(why, whylen, QM_ECORRUPT,
				       "removes reservation %s on '%s', which is not there", svc,
				       agent);
		q = e + 1;
	}
	struct store_state d;
	uint64_t v;
	int rv = store_state_from_json(q, (size_t)(end - q), &d, &v, why, whylen);
	if (!rv && v != version)
		rv = qm_fail(why, whylen, QM_ECORRUPT,
			     "payload version %" PRIu64 " in a record of version %"
			     PRIu64, v, version);
	if (rv) {
		store_state_fini(&d);
		return rv == QM_EVERSION ? rv : QM_ECORRUPT;
	}
	memcpy(s->framework_id, d.framework_id, sizeof d.framework_id);
	memcpy(s->target_version, d.target_version, sizeof d.target_version);
	memcpy(s->progress, d.progress, sizeof d.progress);
	memcpy(s->previous_version, d.previous_version,
	       sizeof d.previous_version);
	s->rollout_paused = d.rollout_paused;
	for (size_t i = 0; i < d.ntasks; i++)
		store_state_put_task(s, &d.tasks[i]);
	if (fch)
		TAKE_ARR(s, &d, failures, nfailures, failures_cap);
	if (rch == 1) {
		store_reservations_free(s->reservations, s->nreservations);
		s->reservations = NULL;
		s->nreservations = 0;
		TAKE_ARR(s, &d, reservations, nreservations, reservations_cap);
	} else if (rch == 2) {
		put_reservations(s, &d);
	}
	if (dch)
		TAKE_ARR(s, &d, drains, ndrains, drains_cap);
	store_state_fini(&d);
	return 0;
}

/* Is there a complete record with a good CRC anywhere in buf[from, len)?
 * Then the bad record before it is damage in the middle, not a torn tail. */
static bool record_after(const char *buf, size_t len, size_t from)
{
	for (size_t p = from; p + REC_HDR <= len; p++) {
		const unsigned char *h = (const unsigned char *)buf + p;
		if (memcmp(h, REC_MAGIC, 4) != 0)
			continue;
		uint32_t plen = get32(h + 4);
		if ((uint64_t)plen <= len - p - REC_HDR &&
		    rec_crc(h, buf + p + REC_HDR, plen) == get32(h + 16))
			return true;
	}
	return false;
}

/* Replay the log over *s (at *version, the snapshot's). Records at or below
 * the snapshot's version are ones a compaction covered (a crash before the
 * log was emptied): skipped. A torn last record (incomplete header, length
 * past the end, CRC mismatch of the last record, or zeros to the end) is
 * ignored; *good is where it starts. A bad record followed by more data,
 * or a version out of sequence, is QM_ECORRUPT. */
static int replay(struct file_store *fs, const char *buf, size_t len,
		  struct store_state *s, uint64_t *version, uint64_t *good,
		  size_t *nrec, size_t *covered, char *err, size_t errlen)
{
	size_t off = 0;
	uint64_t snap = *version, prev = 0;
	char why[256];
	*nrec = 0;
	*covered = 0;
	while (off < len) {
		const unsigned char *h = (const unsigned char *)buf + off;
		size_t rem = len - off;
		const char *torn = NULL;
		uint32_t plen = 0;
		if (rem < REC_HDR) {
			torn = "incomplete record header";
		} else if (memcmp(h, REC_MAGIC, 4) != 0) {
			size_t z = 0;
			while (z < rem && h[z] == 0)
				z++;
			if (z < rem)
				return qm_fail(err, errlen, QM_ECORRUPT,
					       "state log %s is corrupt: no record "
					       "at byte %zu; " RESET_HINT,
					       fs->lpath, off);
			torn = "zeros at the end";
		} else {
			plen = get32(h + 4);
			if ((uint64_t)plen > rem - REC_HDR) {
				/* a damaged length in the middle must not
				 * hide the records after it */
				if (record_after(buf, len, off + 1))
					return qm_fail(err, errlen, QM_ECORRUPT,
						       "state log %s is corrupt: the "
						       "record at byte %zu runs past "
						       "the end, but more records "
						       "follow; " RESET_HINT,
						       fs->lpath, off);
				torn = "record runs past the end";
			}
			else if (rec_crc(h, buf + off + REC_HDR, plen) !=
				 get32(h + 16)) {
				if (off + REC_HDR + plen < len)
					return qm_fail(err, errlen, QM_ECORRUPT,
						       "state log %s is corrupt: "
						       "CRC mismatch in the record "
						       "at byte %zu, followed by "
						       "more records; " RESET_HINT,
						       fs->lpath, off);
				torn = "CRC mismatch in the last record";
			}
		}
		if (torn) {
			log_warn("state_log_torn_tail",
				 "ignoring %zu bytes at the end of %s (%s): a "
				 "save that did not complete; removed on the "
				 "next save", rem, fs->lpath, torn);
			break;
		}
		uint64_t v = (uint64_t)get32(h + 8) |
			     (uint64_t)get32(h + 12) << 32;
		/* Covered records follow one another; the first one after
		 * them follows the snapshot, the others their predecessor. */
		if ((v <= snap && prev && v != prev + 1) ||
		    (v > snap && v != *version + 1))
			return qm_fail(err, errlen, QM_ECORRUPT,
				       "state log %s is corrupt: the record at "
				       "byte %zu has version %" PRIu64
				       ", expected %" PRIu64 "; " RESET_HINT,
				       fs->lpath, off, v,
				       prev ? prev + 1 : *version + 1);
		prev = v;
		if (v > snap) {
			int rv = apply_record(s, buf + off + REC_HDR, plen, v,
					      why, sizeof why);
			if (rv == QM_EVERSION)
				return qm_fail(err, errlen, rv,
					       "state log %s was %s; refusing to "
					       "use or overwrite it", fs->lpath,
					       why);
			if (rv)
				return qm_fail(err, errlen, rv,
					       "state log %s is corrupt: record "
					       "at byte %zu (version %" PRIu64
					       "): %s; " RESET_HINT, fs->lpath,
					       off, v, why);
			*version = v;
		} else {
			(*covered)++;
		}
		(*nrec)++;
		off += REC_HDR + plen;
	}
	*good = off;
	return 0;
}

static int file_load(void *impl, struct store_state *out, uint64_t *version,
		     char *err, size_t errlen)
{
	struct file_store *fs = impl;
	char *buf;
	size_t len;
	struct stat sb, lsb;
	fs->known = false; /* a compaction in the background is dropped */
	bg_reap(fs, true);
	store_state_init(out);
	*version = 0;
	fs->known = false;
	int rv = file_read(fs, STATE_FILE, fs->path, &buf, &len, &sb, err,
			   errlen);
	bool exists = rv != QM_ENOENT;
	if (rv && exists)
		return rv;
	if (exists) {
		char why[256];
		rv = store_state_from_json(buf, len, out, version, why,
					   sizeof why);
		free(buf);
		if (rv == QM_EVERSION)
			return qm_fail(err, errlen, rv,
				       "state file %s was %s; refusing to use "
				       "or overwrite it", fs->path, why);
		if (rv)
			return qm_fail(err, errlen, rv,
				       "state file %s is corrupt: %s; "
				       RESET_HINT, fs->path, why);
	}
	uint64_t good = 0;
	size_t nrec = 0, covered = 0;
	rv = file_read(fs, LOG_FILE, fs->lpath, &buf, &len, &lsb, err, errlen);
	bool log_exists = rv != QM_ENOENT;
	if (rv && log_exists)
		return rv;
	if (log_exists) {
		if (!exists && len > 0) {
			free(buf);
			return qm_fail(err, errlen, QM_ECORRUPT,
				       "state log %s exists without the state "
				       "file %s; " RESET_HINT, fs->lpath,
				       fs->path);
		}
		rv = replay(fs, buf, len, out, version, &good, &nrec, &covered,
			    err, errlen);
		free(buf);
		if (rv)
			return rv;
	}
	fs->known = true;
	fs->exists = exists;
	fs->version = *version;
	if (exists)
		fs->st = sb;
	fs->log_exists = log_exists;
	if (log_exists)
		fs->lst = lsb;
	fs->log_good = good;
	/* Records a compaction covered (it crashed before emptying the log):
	 * the next save compacts again rather than append after them. */
	fs->log_records = covered ? STORE_FILE_LOG_MAX_RECORDS : nrec;
	state_copy(&fs->cur, out);
	return 0;
}

/* Empty the log after a snapshot that covers all of it. This may fail or
 * be lost in a crash; its records are all at or below the snapshot's
 * version then, and a load skips them. */
static void log_reset(struct file_store *fs)
{
	char eb[128];
	int lfd = openat(fs->dirfd, LOG_FILE,
			 O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0 || ftruncate(lfd, 0) != 0 || fsync(lfd) != 0 ||
	    fstat(lfd, &fs->lst) != 0 || (!fs->log_exists && fsync(fs->dirfd) != 0)) {
		log_warn("state_log_reset_failed",
			 "cannot empty the state log %s: %s (the state is "
			 "saved; the next save reads it again)", fs->lpath,
			 errstr(errno, eb, sizeof eb));
		if (lfd >= 0)
			close(lfd);
		fs->known = false;
		return;
	}
	close(lfd);
	fs->log_exists = true;
	fs->log_good = 0;
	fs->log_records = 0;
	fs->known = true;
}

static void tmp_name(struct file_store *fs, char *out, size_t cap, const char *kind)
{
	snprintf(out, cap, TMP_PREFIX "%s%ld.%u", kind, (long)getpid(), fs->seq++);
}

/* The durable temp file `name` becomes state.json: rename, then fsync of
 * the directory. The file is removed when the rename fails. */
static int install_snapshot(struct file_store *fs, const char *name, char *err,
			    size_t errlen)
{
	char eb[128];
	if (renameat(fs->dirfd, name, fs->dirfd, STATE_FILE) != 0) {
		int e = errno;
		unlinkat(fs->dirfd, name, 0);
		return qm_fail(err, errlen, QM_EIO, "cannot save state file %s (rename): %s",
			       fs->path, errstr(e, eb, sizeof eb));
	}
	/* Durable only once the directory entry is: until then a crash may
	 * bring back the old state, which the version check then reflects. */
	if (fsync(fs->dirfd) != 0) {
		fs->known = false;
		return qm_fail(err, errlen, QM_EIO, "cannot fsync directory %s: %s",
			    fs->dir, errstr(errno, eb, sizeof eb));
	}
	return 0;
}

/* state.json atomically with the whole state at version (format version
 * STORE_FORMAT_VERSION_LOG: see store_file.h), then the log emptied. Here,
 * on the caller's thread: the first save, no log, or no thread. */
static int compact(struct file_store *fs, const struct store_state *s,
		   uint64_t version, char *err, size_t errlen)
{
	char tmpname[64];
	tmp_name(fs, tmpname, sizeof tmpname, "");
	struct stat sb;
	int rv = snap_write(fs->dirfd, fs->dir, tmpname, s, version, &sb, err, errlen);
	if (rv)
		return rv;
	rv = install_snapshot(fs, tmpname, err, errlen);
	if (rv)
		return rv;
	fs->exists = true;
	fs->version = version;
	fs->st = sb;
	if (s != &fs->cur) /* bg_start's fallback compacts fs->cur itself */
		state_copy(&fs->cur, s);
	if (compact_hook)
		compact_hook();
	log_reset(fs);
	return 0;
}

/* ---- compaction on a thread ------------------------------------------ */

/* The records after the background snapshot's version, [bg_log_end,
 * log_good), become the whole log: written to a temp file and renamed over
 * it. A failure leaves the old log, whose records up to that version the
 * snapshot now covers (a load skips them): still one consistent state. */
static void log_keep_tail(struct file_store *fs)
{
	char eb[128];
	size_t n = (size_t)(fs->log_good - fs->bg_log_end);
	char *buf = qm_malloc(n);
	char name[64] = "";
	const char *step = "open";
	struct stat sb;
	int fd = openat(fs->dirfd, LOG_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto fail;
	step = "read";
	for (size_t done = 0; done < n;) {
		ssize_t r = pread(fd, buf + done, n - done, (off_t)(fs->bg_log_end + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			close(fd);
			goto fail;
		}
		done += (size_t)r;
	}
	close(fd);
	tmp_name(fs, name, sizeof name, "log.");
	if (snap_write_bytes(fs->dirfd, name, buf, n, &sb, &step) != 0)
		goto fail;
	step = "rename";
	if (renameat(fs->dirfd, name, fs->dirfd, LOG_FILE) != 0)
		goto fail;
	name[0] = '\0';
	free(buf);
	fs->lst = sb;
	fs->log_good = n;
	fs->log_records -= fs->bg_log_records;
	if (fsync(fs->dirfd) != 0) {
		log_warn("state_log_reset_failed",
			 "cannot fsync directory %s after shortening the state log: "
			 "%s (the state is saved; the next save reads it again)",
			 fs->dir, errstr(errno, eb, sizeof eb));
		fs->known = false;
	}
	return;
fail:
	log_warn("state_log_reset_failed",
		 "cannot shorten the state log %s (%s): %s (the state is saved; "
		 "the log keeps the records the new snapshot covers)",
		 fs->lpath, step, errstr(errno, eb, sizeof eb));
	if (name[0])
		unlinkat(fs->dirfd, name, 0);
	free(buf);
}

static void compaction_failed(const char *err)
{
	log_warn("state_compaction_failed", "%s (the state log keeps every record; a later "
		 "save tries again)", err);
}

/* The background compaction, if any: when it is done (or wait), take its
 * snapshot into place and shorten the log. Dropped instead when the store
 * no longer knows its files (a load comes next) or the snapshot failed:
 * the log is then still whole, so nothing is lost, only not compacted. */
static void bg_reap(struct file_store *fs, bool wait)
{
	if (!fs->bg || (!wait && !snap_done(fs->bg)))
		return;
	char err[512];
	struct stat sb;
	uint64_t t0 = clock_mono_ms();
	int rv = snap_finish(fs->bg, &sb, err, sizeof err);
	uint64_t waited = clock_mono_ms() - t0;
	fs->bg = NULL;
	if (rv) {
		compaction_failed(err);
		return;
	}
	if (!fs->known) {
		unlinkat(fs->dirfd, fs->bg_name, 0);
		return;
	}
	rv = install_snapshot(fs, fs->bg_name, err, sizeof err);
	if (rv) {
		compaction_failed(err);
		return;
	}
	fs->exists = true;
	fs->st = sb;
	if (compact_hook)
		compact_hook();
	size_t tail = fs->log_records - fs->bg_log_records;
	if (fs->bg_log_end == fs->log_good)
		log_reset(fs);
	else
		log_keep_tail(fs);
	log_info("state_compacted", "version=%" PRIu64 " snapshot_bytes=%lld "
		 "records_kept=%zu took_ms=%" PRIu64 " waited_ms=%" PRIu64,
		 fs->bg_version, (long long)sb.st_size, tail,
		 clock_mono_ms() - fs->bg_started_ms, waited);
}

/* Compact on a thread: the snapshot of the state at the version just
 * appended (fs->cur), whose record ends the log. Its text is encoded here,
 * into fs->snap_text (kept: its pages stay mapped for the next one), and
 * the thread writes and fsyncs it. A deep copy of the state for the
 * thread had been the longest stall of a 10,000-agent launch: 43-65 ms
 * of the loop's CPU in the slice whose save started the compaction, most
 * of it page faults of the copy's ~13 MB (offer_cycle.py --agents 10000,
 * loop_stall next to state_compacted); encoding 10,000 tasks takes ~3.5
 * ms. Here when no thread starts. */
static void bg_start(struct file_store *fs)
{
	char err[512];
	int rv = store_state_to_jtext(&fs->cur, fs->version, STORE_FORMAT_VERSION_LOG,
				      &fs->snap_text);
	if (rv) {
		snprintf(err, sizeof err, "state would be larger than the %u MiB cap",
			 STORE_MAX_BYTES >> 20);
		compaction_failed(err);
		return;
	}
	tmp_name(fs, fs->bg_name, sizeof fs->bg_name, "");
	fs->bg_version = fs->version;
	fs->bg_log_end = fs->log_good;
	fs->bg_log_records = fs->log_records;
	fs->bg_started_ms = clock_mono_ms();
	fs->bg = snap_start_text(fs->dirfd, fs->dir, fs->bg_name, fs->snap_text.buf,
				 fs->snap_text.len);
	if (!fs->bg) {
		log_warn("state_compaction_thread_failed",
			 "cannot start a thread to compact the state log; "
			 "compacting here");
		if (compact(fs, &fs->cur, fs->version, err, sizeof err))
			compaction_failed(err);
	}
}

static bool changed_behind(struct file_store *fs, const char *name,
			   bool known_exists, const struct stat *known,
			   const char *path, int *rv, char *err, size_t errlen)
{
	char eb[128];
	struct stat sb;
	bool exists = fstatat(fs->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT) {
		*rv = qm_fail(err, errlen, QM_EIO, "cannot stat %s: %s", path,
			      errstr(errno, eb, sizeof eb));
		return true;
	}
	if (exists != known_exists || (exists && !same_file(&sb, known))) {
		fs->known = false;
		*rv = qm_fail(err, errlen, QM_ECONFLICT,
			      "state file %s was changed by someone else "
			      "since this coordinator last read it", path);
		return true;
	}
	return false;
}

static bool file_known(void *impl)
{
	const struct file_store *fs = impl;
	return fs->known;
}

static int file_save(void *impl, const struct store_state *s,
		     uint64_t expected, uint64_t *new_version, char *err,
		     size_t errlen)
{
	struct file_store *fs = impl;
	char eb[128];
	int rv = 0;

	fs->sync_us = 0;
	/* fs->known: store_save() loads first when it is not. */
	if (changed_behind(fs, STATE_FILE, fs->exists, &fs->st, fs->path, &rv, err, errlen) ||
	    changed_behind(fs, LOG_FILE, fs->log_exists, &fs->lst, fs->lpath, &rv, err, errlen))
		return rv;
	if (expected != fs->version)
		return qm_fail(err, errlen, QM_ECONFLICT,
			    "stale state version: expected %" PRIu64
			    ", %s is at %" PRIu64, expected, fs->path,
			    fs->version);
	bg_reap(fs, false);
	uint64_t v = fs->version + 1;
	if (!fs->exists || !fs->log_exists) {
		rv = compact(fs, s, v, err, errlen);
		goto done;
	}
	char *payload;
	size_t plen;
	size_t *changed = NULL, nchanged = 0;
	unsigned colls = 0;
	struct rsv_change rc;
	rv = make_record(&fs->cur, s, v, &payload, &plen, &changed, &nchanged, &colls, &rc);
	if (rv)
		return qm_fail(err, errlen, rv,
			    "state would be larger than the %u MiB cap",
			    STORE_MAX_BYTES >> 20);
	uint64_t bound = (uint64_t)fs->st.st_size * 4;
	if (bound < LOG_MIN_BOUND)
		bound = LOG_MIN_BOUND;
	if (bound > STORE_MAX_BYTES / 2)
		bound = STORE_MAX_BYTES / 2;
	/* Past the bound the log is compacted on a thread (bg_start, after
	 * this record is appended) while saves go on appending. Only a log
	 * that reaches what a load reads (STORE_MAX_BYTES) or twice the
	 * records before a compaction is done makes a save wait for it, or
	 * compact here. */
	bool compact_now = fs->log_records >= STORE_FILE_LOG_MAX_RECORDS ||
			   fs->log_good + REC_HDR + plen > bound;
	if (compact_now && (fs->log_records >= 2 * STORE_FILE_LOG_MAX_RECORDS ||
			    fs->log_good + REC_HDR + plen > STORE_MAX_BYTES)) {
		free(payload);
		free(changed);
		rsv_change_free(&rc);
		bg_reap(fs, true);
		if (!fs->known) /* the compaction failed half-way: read again */
			return qm_fail(err, errlen, QM_EIO, "state log %s could not be "
				       "compacted; the next save reads it again",
				       fs->lpath);
		rv = compact(fs, s, v, err, errlen);
		goto done;
	}
	unsigned char hdr[REC_HDR];
	memcpy(hdr, REC_MAGIC, 4);
	put32(hdr + 4, (uint32_t)plen);
	put32(hdr + 8, (uint32_t)v);
	put32(hdr + 12, (uint32_t)(v >> 32));
	put32(hdr + 16, rec_crc(hdr, payload, plen));
	size_t total = REC_HDR + plen;
	char *rec = qm_malloc(total);
	memcpy(rec, hdr, REC_HDR);
	memcpy(rec + REC_HDR, payload, plen);
	free(payload);

	const char *step = "open";
	int fd = openat(fs->dirfd, LOG_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto io_error;
	/* A torn tail a crash left: cut it before appending after it. */
	step = "truncate";
	if ((uint64_t)fs->lst.st_size != fs->log_good &&
	    ftruncate(fd, (off_t)fs->log_good) != 0)
		goto io_error;
	step = "write";
	for (size_t done = 0; done < total;) {
		ssize_t w = pwrite(fd, rec + done, total - done,
				   (off_t)(fs->log_good + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			goto io_error;
		}
		done += (size_t)w;
	}
	step = "fdatasync";
	uint64_t sync0 = clock_mono_us();
	if (fdatasync(fd) != 0)
		goto io_error;
	uint64_t synced = clock_mono_us() - sync0;
	step = "stat";
	if (fstat(fd, &fs->lst) != 0)
		goto io_error;
	close(fd);
	free(rec);
	fs->log_good += total;
	fs->log_records++;
	fs->version = v;
	fs->sync_us = synced;
	if (changed) {
		/* Only the changed tasks and collections, the scalars whole: a
		 * copy of every reservation per save was 31 MB at 10,000
		 * agents (3.1 KB each). */
		if (s->ntasks > fs->cur.tasks_cap) { /* new tasks, appended */
			size_t cap = 2 * fs->cur.tasks_cap > s->ntasks ? 2 * fs->cur.tasks_cap
								       : s->ntasks;
			fs->cur.tasks = qm_realloc(fs->cur.tasks, cap * sizeof *fs->cur.tasks);
			fs->cur.tasks_cap = cap;
		}
		for (size_t k = fs->cur.ntasks; k < s->ntasks; k++)
			memset(&fs->cur.tasks[k], 0, sizeof fs->cur.tasks[k]);
		fs->cur.ntasks = s->ntasks;
		for (size_t k = 0; k < nchanged; k++)
			store_task_assign(&fs->cur.tasks[changed[k]], &s->tasks[changed[k]]);
		struct store_state keep = fs->cur;
		fs->cur = *s; /* the scalars; every array is set below */
		fs->cur.tasks = keep.tasks; /* updated above */
		fs->cur.ntasks = keep.ntasks;
		fs->cur.tasks_cap = keep.tasks_cap;
		keep.tasks = NULL;
		keep.ntasks = keep.tasks_cap = 0;
		KEEP_OR_COPY(colls & COLL_FAILURES, &fs->cur, &keep, s, failures, nfailures,
			     failures_cap);
		if ((colls & COLL_RESERVATIONS) && !rc.at) { /* deep: they own their mounts */
			fs->cur.reservations =
				store_reservations_dup(s->reservations, s->nreservations);
			fs->cur.nreservations = fs->cur.reservations_cap = s->nreservations;
		} else {
			if (colls & COLL_RESERVATIONS)
				rsv_apply(&keep, s, &rc); /* just what changed */
			KEEP_OR_COPY(false, &fs->cur, &keep, s, reservations, nreservations,
				     reservations_cap);
		}
		KEEP_OR_COPY(colls & COLL_DRAINS, &fs->cur, &keep, s, drains, ndrains, drains_cap);
		store_state_fini(&keep);
		store_state_changed(&fs->cur);
		free(changed);
	} else {
		state_copy(&fs->cur, s);
	}
	rsv_change_free(&rc);
	if (compact_now && !fs->bg)
		bg_start(fs);
	goto done;

io_error:;
	int e = errno;
	if (fd >= 0) {
		/* Not saved: take back what may have been written. The next
		 * save reads the files again either way. */
		(void)!ftruncate(fd, (off_t)fs->log_good);
		close(fd);
	}
	free(rec);
	free(changed);
	rsv_change_free(&rc);
	fs->known = false;
	return qm_fail(err, errlen, QM_EIO, "cannot append to state log %s (%s): %s",
		       fs->lpath, step, errstr(e, eb, sizeof eb));
done:
	if (!rv && new_version)
		*new_version = v;
	return rv;
}

static void file_close(void *impl)
{
	struct file_store *fs = impl;
	if (!fs)
		return;
	bg_reap(fs, true);
	if (fs->lockfd >= 0)
		close(fs->lockfd); /* releases the flock */
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs->dir);
	free(fs->path);
	free(fs->lpath);
	store_state_fini(&fs->cur);
	free(fs->snap_text.buf);
	free(fs);
}

static uint64_t file_last_sync_us(void *impl)
{
	const struct file_store *fs = impl;
	return fs->sync_us;
}

static const struct store_ops file_ops = {
	.name = "file",
	.save_follows_change = true,
	.load = file_load,
	.known = file_known,
	.save = file_save,
	.close = file_close,
	.last_sync_us = file_last_sync_us,
};

/* Temp files left by a crash: garbage, since we hold the lock. */
static void remove_stale_temps(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) == 0)
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

/* Take the lock of an opened directory. 0, QM_ECONFLICT (held: the
 * message names the holder's pid when it wrote one) or QM_EIO. */
static int lock_dir(struct file_store *fs, const char *dir, char *err,
		    size_t errlen)
{
	char eb[128];
	fs->lockfd = openat(fs->dirfd, LOCK_FILE,
			    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fs->lockfd < 0)
		return qm_fail(err, errlen, QM_EIO, "cannot open %s/%s: %s", dir,
			       LOCK_FILE, errstr(errno, eb, sizeof eb));
	if (flock(fs->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			return qm_fail(err, errlen, QM_EIO, "cannot lock %s/%s: %s",
				       dir, LOCK_FILE, errstr(errno, eb, sizeof eb));
		char pid[24] = "";
		ssize_t n = pread(fs->lockfd, pid, sizeof pid - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		return qm_fail(err, errlen, QM_ECONFLICT,
			       "state directory %s is in use by another "
			       "coordinator (pid %s); only one may use it", dir,
			       pid[0] ? pid : "?");
	}
	/* The pid is only a hint for the "in use" message: best effort. */
	char pid[24];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fs->lockfd, 0) == 0)
		(void)!pwrite(fs->lockfd, pid, (size_t)n, 0);
	return 0;
}

int store_file_open(const char *dir, struct store **out, char *err,
		    size_t errlen)
{
	char eb[128];
	*out = NULL;
	if (!*dir || strlen(dir) > 4000)
		return qm_fail(err, errlen, QM_EINVAL,
			       "state directory path is empty or too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return qm_fail(err, errlen, QM_EIO,
			       "cannot create state directory %s: %s", dir,
			       errstr(errno, eb, sizeof eb));
	struct file_store *fs = qm_calloc(1, sizeof *fs);
	fs->lockfd = -1;
	fs->dir = qm_strdup(dir);
	size_t pl = strlen(dir) + sizeof "/" STATE_FILE;
	fs->path = qm_malloc(pl);
	snprintf(fs->path, pl, "%s%s" STATE_FILE, dir,
		 dir[strlen(dir) - 1] == '/' ? "" : "/");
	pl = strlen(dir) + sizeof "/" LOG_FILE;
	fs->lpath = qm_malloc(pl);
	snprintf(fs->lpath, pl, "%s%s" LOG_FILE, dir,
		 dir[strlen(dir) - 1] == '/' ? "" : "/");
	store_state_init(&fs->cur);
	int rv = 0;
	fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0)
		rv = qm_fail(err, errlen, QM_EIO,
			     "cannot open state directory %s: %s", dir,
			     errstr(errno, eb, sizeof eb));
	if (!rv)
		rv = lock_dir(fs, dir, err, errlen);
	if (rv) {
		file_close(fs);
		return rv;
	}
	remove_stale_temps(fs->dirfd);
	*out = store_new(&file_ops, fs, dir);
	return 0;
}
