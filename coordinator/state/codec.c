#include "state/codec.h"

#include "jtext.h"
#include "qm_error.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers travel as JSON numbers; beyond 2^53 a double is not exact. */
#define JSON_INT_MAX 9007199254740992.0

/* True when s is NUL-terminated within cap bytes. */
static bool fits(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

/* ---- state in memory ------------------------------------------------ */

/* A new content number (store_state.gen; state/stindex.h): process-wide,
 * so two states that are not copies of each other never share one (states
 * live on several threads: the ZooKeeper store decodes on its own). */
static _Atomic uint64_t gen_seq;

void store_state_changed(struct store_state *s)
{
	s->gen = atomic_fetch_add_explicit(&gen_seq, 1, memory_order_relaxed) + 1;
}

void store_state_init(struct store_state *s)
{
	memset(s, 0, sizeof *s);
	store_state_changed(s);
}

void store_state_fini(struct store_state *s)
{
	store_tasks_free(s->tasks, s->ntasks);
	free(s->failures);
	store_reservations_free(s->reservations, s->nreservations);
	free(s->drains);
	store_state_init(s);
}

/* ---- mounts, out of line --------------------------------------------- */

static bool mounts_ok(const char *m)
{
	return !m || strnlen(m, STORE_MOUNTS_MAX + 1) <= STORE_MOUNTS_MAX;
}

/* A copy of m for a state to own; NULL for none. */
static char *mounts_dup(const char *m)
{
	return m && m[0] ? qm_strdup(m) : NULL;
}

const char *store_task_mounts(const struct store_task *t)
{
	return t->mounts ? t->mounts : "";
}

const char *store_reservation_mounts(const struct store_reservation *r)
{
	return r->mounts ? r->mounts : "";
}

static bool set_mounts(char **dst, const char *m)
{
	if (!mounts_ok(m))
		return false;
	char *c = mounts_dup(m);
	free(*dst);
	*dst = c;
	return true;
}

bool store_task_set_mounts(struct store_task *t, const char *m)
{
	return set_mounts(&t->mounts, m);
}

bool store_reservation_set_mounts(struct store_reservation *r, const char *m)
{
	return set_mounts(&r->mounts, m);
}

void store_task_assign(struct store_task *d, const struct store_task *t)
{
	char *m = mounts_dup(t->mounts), *old = d->mounts;
	*d = *t;
	d->mounts = m;
	free(old);
}

/* Bytes compared with the pointers out: padding and the bytes after a
 * string's NUL may differ, and then a save writes an equal entry again
 * (harmless), never the other way round. */
bool store_task_same(const struct store_task *a, const struct store_task *b)
{
	struct store_task x = *a, y = *b;
	x.mounts = y.mounts = NULL;
	return memcmp(&x, &y, sizeof x) == 0 &&
	       strcmp(store_task_mounts(a), store_task_mounts(b)) == 0;
}

bool store_reservation_same(const struct store_reservation *a,
			    const struct store_reservation *b)
{
	struct store_reservation x = *a, y = *b;
	x.mounts = y.mounts = NULL;
	return memcmp(&x, &y, sizeof x) == 0 &&
	       strcmp(store_reservation_mounts(a), store_reservation_mounts(b)) == 0;
}

/* n entries of size bytes whose char * at off is owned mounts: a deep
 * copy, and the release (tasks and reservations alike). */
static void *dup_owning(const void *v, size_t n, size_t size, size_t off)
{
	if (!n)
		return NULL;
	unsigned char *d = qm_malloc_big(n * size); /* a whole state's: 10 MB at 10,000 */
	memcpy(d, v, n * size);
	for (size_t i = 0; i < n; i++) {
		char **m = (char **)(void *)(d + i * size + off);
		*m = mounts_dup(*m);
	}
	return d;
}

static void free_owning(void *v, size_t n, size_t size, size_t off)
{
	for (size_t i = 0; i < n; i++)
		free(*(char **)(void *)((unsigned char *)v + i * size + off));
	free(v);
}

struct store_task *store_tasks_dup(const struct store_task *v, size_t n)
{
	return dup_owning(v, n, sizeof *v, offsetof(struct store_task, mounts));
}

void store_tasks_free(struct store_task *v, size_t n)
{
	free_owning(v, n, sizeof *v, offsetof(struct store_task, mounts));
}

struct store_reservation *store_reservations_dup(const struct store_reservation *v, size_t n)
{
	return dup_owning(v, n, sizeof *v, offsetof(struct store_reservation, mounts));
}

void store_reservations_free(struct store_reservation *v, size_t n)
{
	free_owning(v, n, sizeof *v, offsetof(struct store_reservation, mounts));
}

static bool task_ok(const struct store_task *t)
{
	return fits(t->task_id, sizeof t->task_id) && t->task_id[0] && mounts_ok(t->mounts) &&
	       fits(t->service, sizeof t->service) &&
	       fits(t->agent_id, sizeof t->agent_id) &&
	       fits(t->hostname, sizeof t->hostname) &&
	       fits(t->version, sizeof t->version) &&
	       fits(t->state, sizeof t->state) && t->nports <= STORE_TASK_PORTS;
}

struct store_task *store_state_find_task(struct store_state *s,
					 const char *task_id)
{
	for (size_t i = 0; i < s->ntasks; i++)
		if (strcmp(s->tasks[i].task_id, task_id) == 0)
			return &s->tasks[i];
	return NULL;
}

static struct store_task *append_task(struct store_state *s)
{
	if (s->ntasks == s->tasks_cap) {
		s->tasks_cap = s->tasks_cap ? s->tasks_cap * 2 : 16;
		s->tasks = qm_realloc(s->tasks, s->tasks_cap * sizeof *s->tasks);
	}
	struct store_task *t = &s->tasks[s->ntasks++];
	memset(t, 0, sizeof *t);
	store_state_changed(s);
	return t;
}

bool store_task_valid(const struct store_task *t)
{
	return task_ok(t);
}

struct store_task *store_state_put_task(struct store_state *s,
					const struct store_task *t)
{
	if (!task_ok(t))
		return NULL;
	struct store_task *d = store_state_find_task(s, t->task_id);
	if (!d)
		d = append_task(s);
	store_task_assign(d, t);
	store_state_changed(s); /* a replaced task's agent may differ */
	return d;
}

struct store_task *store_state_append_task(struct store_state *s, const struct store_task *t)
{
	if (!task_ok(t))
		return NULL;
	struct store_task *d = append_task(s);
	store_task_assign(d, t);
	return d;
}

bool store_state_remove_task(struct store_state *s, const char *task_id)
{
	struct store_task *t = store_state_find_task(s, task_id);
	if (!t)
		return false;
	store_state_remove_task_at(s, (size_t)(t - s->tasks));
	return true;
}

void store_state_remove_task_at(struct store_state *s, size_t i)
{
	struct store_task *t = &s->tasks[i];
	free(t->mounts);
	memmove(t, t + 1, (s->ntasks - i - 1) * sizeof *t);
	s->ntasks--;
	store_state_changed(s);
}

static struct store_failure *append_failure(struct store_state *s)
{
	if (s->nfailures == s->failures_cap) {
		s->failures_cap = s->failures_cap ? s->failures_cap * 2 : 16;
		s->failures = qm_realloc(s->failures,
					 s->failures_cap * sizeof *s->failures);
	}
	struct store_failure *f = &s->failures[s->nfailures++];
	memset(f, 0, sizeof *f);
	return f;
}

struct store_failure *store_state_failure(struct store_state *s,
					  const char *service,
					  const char *agent_id, bool create)
{
	if (!service || !agent_id || strlen(service) > STORE_SERVICE_MAX ||
	    strlen(agent_id) > STORE_ID_MAX)
		return NULL;
	for (size_t i = 0; i < s->nfailures; i++)
		if (strcmp(s->failures[i].service, service) == 0 &&
		    strcmp(s->failures[i].agent_id, agent_id) == 0)
			return &s->failures[i];
	if (!create)
		return NULL;
	struct store_failure *f = append_failure(s);
	copy_str(f->service, sizeof f->service, service);
	copy_str(f->agent_id, sizeof f->agent_id, agent_id);
	return f;
}

bool store_state_clear_failure(struct store_state *s, const char *service,
			       const char *agent_id)
{
	struct store_failure *f = store_state_failure(s, service, agent_id, false);
	if (!f)
		return false;
	size_t i = (size_t)(f - s->failures);
	memmove(f, f + 1, (s->nfailures - i - 1) * sizeof *f);
	s->nfailures--;
	return true;
}

struct store_reservation *store_state_reservation(struct store_state *s,
						  const char *service,
						  const char *agent_id,
						  bool create)
{
	if (!service || !agent_id || strlen(service) > STORE_SERVICE_MAX ||
	    strlen(agent_id) > STORE_ID_MAX)
		return NULL;
	for (size_t i = 0; i < s->nreservations; i++)
		if (strcmp(s->reservations[i].service, service) == 0 &&
		    strcmp(s->reservations[i].agent_id, agent_id) == 0)
			return &s->reservations[i];
	if (!create)
		return NULL;
	return store_state_append_reservation(s, service, agent_id);
}

struct store_reservation *store_state_append_reservation(struct store_state *s,
							 const char *service,
							 const char *agent_id)
{
	if (!service || !agent_id || strlen(service) > STORE_SERVICE_MAX ||
	    strlen(agent_id) > STORE_ID_MAX)
		return NULL;
	if (s->nreservations == s->reservations_cap) {
		s->reservations_cap = s->reservations_cap ? s->reservations_cap * 2 : 16;
		s->reservations = qm_realloc(s->reservations,
					     s->reservations_cap * sizeof *s->reservations);
	}
	struct store_reservation *r = &s->reservations[s->nreservations++];
	memset(r, 0, sizeof *r);
	copy_str(r->service, sizeof r->service, service);
	copy_str(r->agent_id, sizeof r->agent_id, agent_id);
	store_state_changed(s);
	return r;
}

bool store_state_remove_reservation(struct store_state *s, const char *service,
				    const char *agent_id)
{
	struct store_reservation *r = store_state_reservation(s, service, agent_id, false);
	if (!r)
		return false;
	size_t i = (size_t)(r - s->reservations);
	free(r->mounts);
	memmove(r, r + 1, (s->nreservations - i - 1) * sizeof *r);
	s->nreservations--;
	store_state_changed(s);
	return true;
}

struct store_drain *store_state_drain(struct store_state *s, const char *agent_id,
				      bool create)
{
	if (!agent_id || strlen(agent_id) > STORE_ID_MAX)
		return NULL;
	for (size_t i = 0; i < s->ndrains; i++)
		if (strcmp(s->drains[i].agent_id, agent_id) == 0)
			return &s->drains[i];
	if (!create)
		return NULL;
	if (s->ndrains == s->drains_cap) {
		s->drains_cap = s->drains_cap ? s->drains_cap * 2 : 8;
		s->drains = qm_realloc(s->drains, s->drains_cap * sizeof *s->drains);
	}
	struct store_drain *d = &s->drains[s->ndrains++];
	memset(d, 0, sizeof *d);
	copy_str(d->agent_id, sizeof d->agent_id, agent_id);
	return d;
}

struct store_drain *store_state_drain_covering(struct store_state *s, const char *agent_id,
					       const char *hostname)
{
	struct store_drain *d = store_state_drain(s, agent_id, false);
	for (size_t i = 0; !d && hostname && *hostname && i < s->ndrains; i++)
		if (strcmp(s->drains[i].hostname, hostname) == 0)
			d = &s->drains[i];
	return d;
}

bool store_state_remove_drain(struct store_state *s, const char *agent_id)
{
	struct store_drain *d = store_state_drain(s, agent_id, false);
	if (!d)
		return false;
	size_t i = (size_t)(d - s->drains);
	memmove(d, d + 1, (s->ndrains - i - 1) * sizeof *d);
	s->ndrains--;
	return true;
}

/* ---- JSON ----------------------------------------------------------- */

/* The text is written directly, not built as a cJSON tree and printed:
 * at 10,000 agents the state is ~5.5 MB and the tree's million
 * allocations plus cJSON's number printing (a sprintf and an sscanf per
 * number) took 125-166 ms of the loop on every ZooKeeper save
 * (offer_cycle.py --agents 10000 --store zk). The layout is exactly
 * cJSON's formatted print (cJSON_Print): tab indents, one key per line,
 * arrays on one line with ", " between elements; test_store checks that
 * cJSON re-prints what this writes byte for byte. */
struct jw {
	struct jtext t;
	int depth;
	bool first[8]; /* per depth: nothing written in it yet */
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	jtext_raw(&w->t, s, n);
}

static void jw_ch(struct jw *w, char c)
{
	jtext_ch(&w->t, c);
}

static void jw_tabs(struct jw *w, int n)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t";
	jw_raw(w, tabs, (size_t)n); /* n < 8: the state is four levels deep */
}

static void jw_str(struct jw *w, const char *s)
{
	jtext_str(&w->t, s);
}

/* Before a member or an element at the current depth. */
static void jw_sep(struct jw *w, bool in_object)
{
	if (!w->first[w->depth])
		jw_raw(w, in_object ? ",\n" : ", ", 2);
	w->first[w->depth] = false;
}

/* A member's separator, indent and key in one go: keys are the codec's
 * own names, which need no escaping. */
static void jw_key(struct jw *w, const char *k)
{
	size_t kl = strlen(k), d = (size_t)w->depth;
	jtext_need(&w->t, 2 + d + kl + 4);
	char *o = w->t.buf + w->t.len;
	if (!w->first[w->depth]) {
		*o++ = ',';
		*o++ = '\n';
	}
	w->first[w->depth] = false;
	memset(o, '\t', d);
	o += d;
	*o++ = '"';
	memcpy(o, k, kl);
	o += kl;
	memcpy(o, "\":\t", 3);
	o += 3;
	*o = '\0';
	w->t.len = (size_t)(o - w->t.buf);
}

static void jw_open(struct jw *w, char c)
{
	jw_ch(w, c);
	w->depth++;
	if (w->depth >= (int)(sizeof w->first / sizeof w->first[0]))
		abort(); /* the state is four levels deep */
	w->first[w->depth] = true;
	if (c == '{')
		jw_ch(w, '\n');
}

static void jw_close(struct jw *w, char c)
{
	if (c == '}') {
		if (!w->first[w->depth])
			jw_ch(w, '\n');
		jw_tabs(w, w->depth - 1);
	}
	jw_ch(w, c);
	w->depth--;
}

/* A number as cJSON prints it: an int as %d, else the shortest of
 * %1.15g and %1.17g that reads back as the same double. Whole numbers
 * below 1e15 (every number the state holds: ports, counts, times in ms)
 * print as their digits either way, and are written here without
 * snprintf and strtod: those two were most of a ZooKeeper save's
 * encoding (times in ms are past INT_MAX, so took the %g path). */
static void jw_num(struct jw *w, double d)
{
	char b[32];
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d) {
		long long v = (long long)d;
		unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
		char *e = b + sizeof b, *p = e;
		do
			*--p = (char)('0' + u % 10);
		while (u /= 10);
		if (v < 0)
			*--p = '-';
		jw_raw(w, p, (size_t)(e - p));
		return;
	}
	int vi = d >= (double)INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	if (d == (double)vi) {
		snprintf(b, sizeof b, "%d", vi);
	} else {
		snprintf(b, sizeof b, "%1.15g", d);
		double back = strtod(b, NULL);
		double ab = back < 0 ? -back : back, ad = d < 0 ? -d : d;
		double diff = back > d ? back - d : d - back;
		if (!(diff <= (ab > ad ? ab : ad) * DBL_EPSILON))
			snprintf(b, sizeof b, "%1.17g", d);
	}
	jw_raw(w, b, strlen(b));
}

static void put_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

static void put_num(struct jw *w, const char *k, double v)
{
	jw_key(w, k);
	jw_num(w, v);
}

static void put_bool(struct jw *w, const char *k, bool v)
{
	jw_key(w, k);
	if (v)
		jw_raw(w, "true", 4);
	else
		jw_raw(w, "false", 5);
}

static void put_list(struct jw *w, const char *k)
{
	jw_key(w, k);
	jw_open(w, '[');
}

static void elem_open(struct jw *w)
{
	jw_sep(w, false);
	jw_open(w, '{');
}

int store_state_to_json(const struct store_state *s, uint64_t version,
			char **out, size_t *len)
{
	return store_state_to_json_fmt(s, version, 0, out, len);
}

int store_state_to_json_fmt(const struct store_state *s, uint64_t version,
			    int min_format, char **out, size_t *len)
{
	*out = NULL;
	if (len)
		*len = 0;
	struct jtext t = {0};
	int rv = store_state_to_jtext(s, version, min_format, &t);
	if (rv) {
		free(t.buf);
		return rv;
	}
	*out = t.buf;
	if (len)
		*len = t.len;
	return 0;
}

int store_state_to_jtext(const struct store_state *s, uint64_t version, int min_format,
			 struct jtext *out)
{
	struct jw w;
	memset(&w, 0, sizeof w);
	w.t = *out;
	w.t.len = 0;
	/* ~480 bytes per task at 10,000 agents: grown a few times at most */
	size_t hint = 4096 + s->ntasks * 320;
	jtext_need(&w.t, hint < STORE_MAX_BYTES ? hint : STORE_MAX_BYTES);
	jw_open(&w, '{');
	put_str(&w, "format", STORE_FORMAT);
	int fv = s->ndrains	      ? STORE_FORMAT_VERSION_DRAINS
		 : s->nreservations ? STORE_FORMAT_VERSION_RESERVATIONS
				    : STORE_FORMAT_VERSION_PLAIN;
	put_num(&w, "format_version", fv > min_format ? fv : min_format);
	put_num(&w, "version", (double)version);
	put_str(&w, "framework_id", s->framework_id);
	put_str(&w, "target_version", s->target_version);
	put_str(&w, "progress", s->progress);
	put_str(&w, "previous_version", s->previous_version);
	put_bool(&w, "rollout_paused", s->rollout_paused);
	put_list(&w, "tasks");
	for (size_t i = 0; i < s->ntasks; i++) {
		const struct store_task *t = &s->tasks[i];
		elem_open(&w);
		put_str(&w, "task_id", t->task_id);
		put_str(&w, "service", t->service);
		put_str(&w, "agent_id", t->agent_id);
		put_str(&w, "hostname", t->hostname);
		put_str(&w, "version", t->version);
		put_num(&w, "launched_ms", (double)t->launched_ms);
		put_str(&w, "state", t->state);
		put_bool(&w, "kill_requested", t->kill_requested);
		put_num(&w, "unwanted_since_ms", (double)t->unwanted_since_ms);
		put_list(&w, "ports");
		for (unsigned p = 0; p < t->nports && p < STORE_TASK_PORTS; p++) {
			jw_sep(&w, false);
			jw_num(&w, t->ports[p]);
		}
		jw_close(&w, ']');
		if (t->mounts_known) {
			put_str(&w, "mounts", store_task_mounts(t));
			put_bool(&w, "mounts_shared", t->mounts_shared);
		}
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	put_list(&w, "failures");
	for (size_t i = 0; i < s->nfailures; i++) {
		const struct store_failure *f = &s->failures[i];
		elem_open(&w);
		put_str(&w, "service", f->service);
		put_str(&w, "agent_id", f->agent_id);
		put_num(&w, "consecutive", f->consecutive);
		put_num(&w, "last_failure_ms", (double)f->last_failure_ms);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	if (s->nreservations) {
		put_list(&w, "reservations");
		for (size_t i = 0; i < s->nreservations; i++) {
			const struct store_reservation *v = &s->reservations[i];
			elem_open(&w);
			put_str(&w, "service", v->service);
			put_str(&w, "agent_id", v->agent_id);
			put_str(&w, "hostname", v->hostname);
			put_num(&w, "since_ms", (double)v->since_ms);
			put_bool(&w, "release_requested", v->release_requested);
			put_str(&w, "summary", v->summary);
			put_str(&w, "mounts", store_reservation_mounts(v));
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
	}
	if (s->ndrains) {
		put_list(&w, "drained");
		for (size_t i = 0; i < s->ndrains; i++) {
			const struct store_drain *d = &s->drains[i];
			elem_open(&w);
			put_str(&w, "agent_id", d->agent_id);
			put_str(&w, "hostname", d->hostname);
			put_num(&w, "since_ms", (double)d->since_ms);
			put_bool(&w, "forced", d->forced);
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
	}
	jw_close(&w, '}');
	if (w.t.len > STORE_MAX_BYTES) {
		w.t.len = 0;
		w.t.buf[0] = '\0';
		*out = w.t;
		return QM_ETOOBIG;
	}
	jw_ch(&w, '\n');
	*out = w.t;
	return 0;
}

/* Reading: each helper names the field in its message. */
struct rd {
	char *err;
	size_t errlen;
	char where[48]; /* "tasks[12]" or "" */
};

static int corrupt(struct rd *r, const char *key, const char *what)
{
	return qm_fail(r->err, r->errlen, QM_ECORRUPT, "%s%s%s: %s", r->where,
		    r->where[0] ? "." : "", key, what);
}

static int rd_str(struct rd *r, const cJSON *o, const char *key, char *dst,
		  size_t cap, bool required)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!x) {
		dst[0] = '\0';
		return required ? corrupt(r, key, "missing") : 0;
	}
	if (!cJSON_IsString(x))
		return corrupt(r, key, "not a string");
	size_t n = strlen(x->valuestring);
	if (n >= cap) {
		char m[64];
		snprintf(m, sizeof m, "too long (%zu bytes, max %zu)", n, cap - 1);
		return corrupt(r, key, m);
	}
	memcpy(dst, x->valuestring, n + 1);
	return 0;
}

static int rd_int(struct rd *r, const cJSON *o, const char *key, int64_t min,
		  int64_t *out, bool required)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = 0;
	if (!x)
		return required ? corrupt(r, key, "missing") : 0;
	double d = cJSON_IsNumber(x) ? x->valuedouble : -1e300;
	if (!cJSON_IsNumber(x) || !(d >= (double)min && d <= JSON_INT_MAX) ||
	    (double)(int64_t)d != d)
		return corrupt(r, key, "not an integer in range");
	*out = (int64_t)d;
	return 0;
}

static int rd_bool(struct rd *r, const cJSON *o, const char *key, bool *out)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = false;
	if (!x)
		return 0;
	if (!cJSON_IsBool(x))
		return corrupt(r, key, "not a boolean");
	*out = cJSON_IsTrue(x);
	return 0;
}

static bool id_ok(const char *id)
{
	if (!*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
			return false;
	return true;
}

static bool word_ok(const char *w)
{
	if (!*w)
		return false;
	for (; *w; w++)
		if (*w < 'a' || *w > 'z')
			return false;
	return true;
}

static int rd_task(struct rd *r, const cJSON *o, struct store_task *t)
{
	int rv;
	int64_t v;
	if (!cJSON_IsObject(o))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "%s: not an object",
			    r->where);
	if ((rv = rd_str(r, o, "task_id", t->task_id, sizeof t->task_id, true)))
		return rv;
	if (!id_ok(t->task_id))
		return corrupt(r, "task_id", "not a valid Mesos task ID");
	if ((rv = rd_str(r, o, "service", t->service, sizeof t->service, true)))
		return rv;
	if (!word_ok(t->service))
		return corrupt(r, "service", "not a service name");
	if ((rv = rd_str(r, o, "agent_id", t->agent_id, sizeof t->agent_id, true)))
		return rv;
	if (!id_ok(t->agent_id))
		return corrupt(r, "agent_id", "not a valid Mesos agent ID");
	if ((rv = rd_str(r, o, "hostname", t->hostname, sizeof t->hostname, false)) ||
	    (rv = rd_str(r, o, "version", t->version, sizeof t->version, false)) ||
	    (rv = rd_str(r, o, "state", t->state, sizeof t->state, false)))
		return rv;
	if ((rv = rd_int(r, o, "launched_ms", 0, &v, false)))
		return rv;
	t->launched_ms = v;
	if ((rv = rd_int(r, o, "unwanted_since_ms", 0, &v, false)))
		return rv;
	t->unwanted_since_ms = v;
	if ((rv = rd_bool(r, o, "kill_requested", &t->kill_requested)))
		return rv;
	t->mounts_known = cJSON_GetObjectItemCaseSensitive(o, "mounts") != NULL;
	char mounts[STORE_MOUNTS_MAX + 1] = "";
	if ((rv = rd_str(r, o, "mounts", mounts, sizeof mounts, false)) ||
	    (rv = rd_bool(r, o, "mounts_shared", &t->mounts_shared)))
		return rv;
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(o, "ports");
	if (ports) {
		if (!cJSON_IsArray(ports) ||
		    cJSON_GetArraySize(ports) > STORE_TASK_PORTS)
			return corrupt(r, "ports", "not an array of at most 4 ports");
		const cJSON *p;
		cJSON_ArrayForEach(p, ports) {
			double d = cJSON_IsNumber(p) ? p->valuedouble : -1;
			if (!(d >= 1 && d <= 65535) || (double)(uint32_t)d != d)
				return corrupt(r, "ports", "not a port number");
			t->ports[t->nports++] = (uint32_t)d;
		}
	}
	/* last: a task refused above owns nothing */
	(void)store_task_set_mounts(t, mounts);
	return 0;
}

static int rd_failure(struct rd *r, const cJSON *o, struct store_failure *f)
{
	int rv;
	int64_t v;
	if (!cJSON_IsObject(o))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "%s: not an object",
			    r->where);
	if ((rv = rd_str(r, o, "service", f->service, sizeof f->service, true)) ||
	    (rv = rd_str(r, o, "agent_id", f->agent_id, sizeof f->agent_id, true)))
		return rv;
	if (!word_ok(f->service) || !id_ok(f->agent_id))
		return corrupt(r, "service/agent_id", "invalid");
	if ((rv = rd_int(r, o, "consecutive", 0, &v, true)))
		return rv;
	if (v > UINT32_MAX)
		return corrupt(r, "consecutive", "out of range");
	f->consecutive = (uint32_t)v;
	if ((rv = rd_int(r, o, "last_failure_ms", 0, &v, false)))
		return rv;
	f->last_failure_ms = v;
	return 0;
}

static int rd_reservation(struct rd *r, const cJSON *o, struct store_reservation *v)
{
	int rv;
	int64_t n;
	if (!cJSON_IsObject(o))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "%s: not an object",
			    r->where);
	if ((rv = rd_str(r, o, "service", v->service, sizeof v->service, true)) ||
	    (rv = rd_str(r, o, "agent_id", v->agent_id, sizeof v->agent_id, true)))
		return rv;
	if (!word_ok(v->service) || !id_ok(v->agent_id))
		return corrupt(r, "service/agent_id", "invalid");
	char mounts[STORE_MOUNTS_MAX + 1] = "";
	if ((rv = rd_str(r, o, "hostname", v->hostname, sizeof v->hostname, false)) ||
	    (rv = rd_str(r, o, "summary", v->summary, sizeof v->summary, false)) ||
	    (rv = rd_str(r, o, "mounts", mounts, sizeof mounts, false)) ||
	    (rv = rd_bool(r, o, "release_requested", &v->release_requested)))
		return rv;
	if ((rv = rd_int(r, o, "since_ms", 0, &n, false)))
		return rv;
	v->since_ms = n;
	/* last: a reservation refused above owns nothing */
	(void)store_reservation_set_mounts(v, mounts);
	return 0;
}

static int rd_drain(struct rd *r, const cJSON *o, struct store_drain *d)
{
	int rv;
	int64_t n;
	if (!cJSON_IsObject(o))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "%s: not an object",
			    r->where);
	if ((rv = rd_str(r, o, "agent_id", d->agent_id, sizeof d->agent_id, true)))
		return rv;
	if (!id_ok(d->agent_id))
		return corrupt(r, "agent_id", "not a valid Mesos agent ID");
	if ((rv = rd_str(r, o, "hostname", d->hostname, sizeof d->hostname, false)) ||
	    (rv = rd_bool(r, o, "forced", &d->forced)))
		return rv;
	if ((rv = rd_int(r, o, "since_ms", 0, &n, false)))
		return rv;
	d->since_ms = n;
	return 0;
}

static int cmp_task_ptr(const void *a, const void *b)
{
	const struct store_task *x = *(const struct store_task *const *)a;
	const struct store_task *y = *(const struct store_task *const *)b;
	return strcmp(x->task_id, y->task_id);
}

static int cmp_failure_ptr(const void *a, const void *b)
{
	const struct store_failure *x = *(const struct store_failure *const *)a;
	const struct store_failure *y = *(const struct store_failure *const *)b;
	int c = strcmp(x->service, y->service);
	return c ? c : strcmp(x->agent_id, y->agent_id);
}

static int cmp_reservation_ptr(const void *a, const void *b)
{
	const struct store_reservation *x = *(const struct store_reservation *const *)a;
	const struct store_reservation *y = *(const struct store_reservation *const *)b;
	int c = strcmp(x->service, y->service);
	return c ? c : strcmp(x->agent_id, y->agent_id);
}

static int cmp_drain_ptr(const void *a, const void *b)
{
	const struct store_drain *x = *(const struct store_drain *const *)a;
	const struct store_drain *y = *(const struct store_drain *const *)b;
	return strcmp(x->agent_id, y->agent_id);
}

/* Index of an element of base[0..n) (elements of size bytes) equal under
 * cmp (which compares pointers to elements) to another one, or -1. Sorting
 * pointers keeps it O(n log n) for large states. */
static long first_dup(const void *base, size_t n, size_t size,
		      int (*cmp)(const void *, const void *))
{
	if (n < 2)
		return -1;
	const char **p = qm_calloc(n, sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = (const char *)base + i * size;
	qsort(p, n, sizeof *p, cmp);
	long dup = -1;
	for (size_t i = 1; i < n && dup < 0; i++)
		if (cmp(&p[i], &p[i - 1]) == 0)
			dup = (long)((size_t)(p[i] - (const char *)base) / size);
	free(p);
	return dup;
}

static int check_unique(struct store_state *s, char *err, size_t errlen)
{
	long d = first_dup(s->tasks, s->ntasks, sizeof *s->tasks, cmp_task_ptr);
	if (d >= 0)
		return qm_fail(err, errlen, QM_ECORRUPT, "tasks[%ld].task_id: duplicate '%.64s'",
			       d, s->tasks[d].task_id);
	d = first_dup(s->failures, s->nfailures, sizeof *s->failures, cmp_failure_ptr);
	if (d >= 0)
		return qm_fail(err, errlen, QM_ECORRUPT, "failures[%ld]: duplicate slot", d);
	d = first_dup(s->reservations, s->nreservations, sizeof *s->reservations,
		      cmp_reservation_ptr);
	if (d >= 0)
		return qm_fail(err, errlen, QM_ECORRUPT, "reservations[%ld]: duplicate slot", d);
	/* a drain's key is its first field */
	d = first_dup(s->drains, s->ndrains, sizeof *s->drains, cmp_drain_ptr);
	if (d >= 0)
		return qm_fail(err, errlen, QM_ECORRUPT, "drained[%ld].agent_id: duplicate '%.64s'",
			       d, s->drains[d].agent_id);
	return 0;
}

/* The tasks, failures, reservations and drained arrays of root into s
 * (allocated here). */
static int rd_lists(struct rd *r, const cJSON *root, struct store_state *s)
{
	int rv;
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
	const cJSON *fails = cJSON_GetObjectItemCaseSensitive(root, "failures");
	if ((tasks && !cJSON_IsArray(tasks)) || (fails && !cJSON_IsArray(fails)))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT,
			       "tasks/failures: not an array");
	size_t nt = (size_t)cJSON_GetArraySize(tasks);
	if (nt) {
		s->tasks = qm_calloc(nt, sizeof *s->tasks);
		s->tasks_cap = nt;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, tasks) {
		snprintf(r->where, sizeof r->where, "tasks[%zu]", s->ntasks);
		struct store_task *t = &s->tasks[s->ntasks];
		memset(t, 0, sizeof *t);
		if ((rv = rd_task(r, it, t)))
			return rv;
		s->ntasks++;
	}
	size_t nf = (size_t)cJSON_GetArraySize(fails);
	if (nf) {
		s->failures = qm_calloc(nf, sizeof *s->failures);
		s->failures_cap = nf;
	}
	cJSON_ArrayForEach(it, fails) {
		snprintf(r->where, sizeof r->where, "failures[%zu]", s->nfailures);
		struct store_failure *f = &s->failures[s->nfailures];
		memset(f, 0, sizeof *f);
		if ((rv = rd_failure(r, it, f)))
			return rv;
		s->nfailures++;
	}
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "reservations");
	if (rs && !cJSON_IsArray(rs))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "reservations: not an array");
	size_t nr = (size_t)cJSON_GetArraySize(rs);
	if (nr) {
		s->reservations = qm_calloc(nr, sizeof *s->reservations);
		s->reservations_cap = nr;
	}
	cJSON_ArrayForEach(it, rs) {
		snprintf(r->where, sizeof r->where, "reservations[%zu]", s->nreservations);
		struct store_reservation *v = &s->reservations[s->nreservations];
		memset(v, 0, sizeof *v);
		if ((rv = rd_reservation(r, it, v)))
			return rv;
		s->nreservations++;
	}
	const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "drained");
	if (ds && !cJSON_IsArray(ds))
		return qm_fail(r->err, r->errlen, QM_ECORRUPT, "drained: not an array");
	size_t nd = (size_t)cJSON_GetArraySize(ds);
	if (nd) {
		s->drains = qm_calloc(nd, sizeof *s->drains);
		s->drains_cap = nd;
	}
	cJSON_ArrayForEach(it, ds) {
		snprintf(r->where, sizeof r->where, "drained[%zu]", s->ndrains);
		struct store_drain *d = &s->drains[s->ndrains];
		memset(d, 0, sizeof *d);
		if ((rv = rd_drain(r, it, d)))
			return rv;
		s->ndrains++;
	}
	store_state_changed(s); /* written directly above */
	return 0;
}

/* Describe a syntax error at byte pos of buf[0..len). cJSON's position is
 * approximate (an unterminated string is reported at its start, and it
 * clamps to the last byte), so truncation is recognised by what a state
 * always ends with: its closing brace. */
static int syntax_error(const char *buf, size_t len, size_t pos, char *err,
			size_t errlen)
{
	size_t end = len;
	while (end > 0 && strchr(" \t\r\n", buf[end - 1]))
		end--;
	if (end == 0 || buf[end - 1] != '}')
		return qm_fail(err, errlen, QM_ECORRUPT,
			    "unexpected end of data at byte %zu, no closing '}' "
			    "(truncated?)", len);
	char near[24];
	size_t n = 0;
	for (size_t i = pos; i < len && n < 16; i++)
		near[n++] = (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?';
	near[n] = '\0';
	return qm_fail(err, errlen, QM_ECORRUPT,
		    "JSON syntax error at byte %zu near '%s'", pos, near);
}

int store_state_from_json(const char *buf, size_t len, struct store_state *s,
			  uint64_t *version, char *err, size_t errlen)
{
	store_state_init(s);
	*version = 0;
	if (len == 0)
		return qm_fail(err, errlen, QM_ECORRUPT, "empty (0 bytes)");
	if (len > STORE_MAX_BYTES)
		return qm_fail(err, errlen, QM_ETOOBIG, "larger than %u bytes",
			    STORE_MAX_BYTES);
	if (memchr(buf, '\0', len))
		return qm_fail(err, errlen, QM_ECORRUPT,
			    "contains a NUL byte at byte %zu",
			    (size_t)((const char *)memchr(buf, '\0', len) - buf));
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root)
		return syntax_error(buf, len, end ? (size_t)(end - buf) : 0, err,
				    errlen);
	int rv = 0;
	size_t pos = end ? (size_t)(end - buf) : len;
	while (pos < len && strchr(" \t\r\n", buf[pos]))
		pos++;
	if (pos < len) {
		rv = qm_fail(err, errlen, QM_ECORRUPT,
			  "trailing data after the JSON value at byte %zu", pos);
		goto out;
	}
	struct rd r = {err, errlen, ""};
	if (!cJSON_IsObject(root)) {
		rv = qm_fail(err, errlen, QM_ECORRUPT, "not a JSON object");
		goto out;
	}
	const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
	if (!fmt || strcmp(fmt, STORE_FORMAT) != 0) {
		rv = qm_fail(err, errlen, QM_ECORRUPT,
			  "not a quobyte-mesos state (format is not '%s')",
			  STORE_FORMAT);
		goto out;
	}
	int64_t fv, ver;
	if ((rv = rd_int(&r, root, "format_version", 1, &fv, true)))
		goto out;
	if (fv > STORE_FORMAT_VERSION) {
		rv = qm_fail(err, errlen, QM_EVERSION,
			  "written by a newer coordinator (format_version %" PRId64
			  ", this one reads up to %d)", fv, STORE_FORMAT_VERSION);
		goto out;
	}
	if ((rv = rd_int(&r, root, "version", 1, &ver, true)))
		goto out;
	if ((rv = rd_str(&r, root, "framework_id", s->framework_id,
			 sizeof s->framework_id, false)) ||
	    (rv = rd_str(&r, root, "target_version", s->target_version,
			 sizeof s->target_version, false)) ||
	    (rv = rd_str(&r, root, "progress", s->progress, sizeof s->progress,
			 false)) ||
	    (rv = rd_str(&r, root, "previous_version", s->previous_version,
			 sizeof s->previous_version, false)) ||
	    (rv = rd_bool(&r, root, "rollout_paused", &s->rollout_paused)))
		goto out;
	if (s->framework_id[0] && !id_ok(s->framework_id)) {
		rv = corrupt(&r, "framework_id", "not a valid Mesos ID");
		goto out;
	}
	if ((rv = rd_lists(&r, root, s)))
		goto out;
	if ((rv = check_unique(s, err, errlen)))
		goto out;
	*version = (uint64_t)ver;
out:
	cJSON_Delete(root);
	return rv;
}

