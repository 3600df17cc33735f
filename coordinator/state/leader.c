#include "state/leader.h"

#include "clock.h"
#include "log.h"
#include "qm_error.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_LEN (2 + 16 + 1 + 10) /* n_<sid>_<seq> */
#define RETRY_MS 1000
#define AUTH_RETRY_MS 5000

enum tag { T_IGNORE, T_LIST, T_CREATE, T_PRED, T_LOWEST, T_MINE, T_LEASE };

/* The lease: a leader acts only while ZooKeeper answered a request it sent
 * less than LEASE_NUM/LEASE_DEN of the session timeout ago. The server
 * cannot expire the session (and let another contender win) before a full
 * timeout after it heard that request, so a leader whose process was frozen
 * (SIGSTOP, a VM pause, swap) past its session stops acting the moment it
 * runs again, before its ZooKeeper thread has even noticed the expiry. It is
 * renewed LEASE_RENEWALS times per lease. */
#define LEASE_NUM 2
#define LEASE_DEN 3
#define LEASE_RENEWALS 3

/* Something the ZooKeeper threads hand to the loop. */
struct lev {
	struct zk_event ev;   /* a session change or a watch (op == NULL) */
	char *path;
	struct zk_op *op;     /* an answered operation */
	struct lev *next;
};

struct leader {
	struct ev_loop *loop;
	struct zk_conn *zk;
	char *id;
	char *dir;            /* P/leader */
	struct leader_cbs cbs;
	void *arg;

	/* Shared with the ZooKeeper threads, under mu. */
	pthread_mutex_t mu;
	unsigned refs;        /* owner + ops in flight + a pending drain */
	bool dead;
	bool kick_pending;
	struct lev *head, **tail;
	/* The client's latest session state, written by its thread: what
	 * leader_is_leader trusts before the loop has seen the event. */
	atomic_int zk_state;
	atomic_uint_fast64_t zk_gen;
	/* Monotonic ms until which leading is trusted (see LEASE_NUM). */
	atomic_uint_fast64_t lease_until;

	/* Loop thread only. */
	uint64_t gen;         /* session generation acted on */
	int64_t session_id;
	bool connected;
	bool leading;
	bool creating;        /* a create is in flight in session gen */
	char *my_node;        /* our znode's name under dir */
	char *my_path;
	char *leader_id;
	uint64_t epoch;       /* answers of older evaluations are ignored */
	uint64_t timer;
	uint64_t list_sent;   /* when the latest T_LIST was sent */
	uint64_t lease_timer;
	uint64_t lease_sent;  /* when the T_LEASE in flight was sent, or 0 */
};

static void drain(struct ev_loop *loop, void *arg);
static void evaluate(struct leader *l);

static void lev_free(struct lev *e)
{
	zk_op_free(e->op);
	free(e->path);
	free(e);
}

static void destroy(struct leader *l)
{
	struct lev *e = l->head;
	while (e) {
		struct lev *n = e->next;
		lev_free(e);
		e = n;
	}
	pthread_mutex_destroy(&l->mu);
	free(l->id);
	free(l->dir);
	free(l->my_node);
	free(l->my_path);
	free(l->leader_id);
	free(l);
}

static void unref(struct leader *l)
{
	pthread_mutex_lock(&l->mu);
	bool last = --l->refs == 0;
	pthread_mutex_unlock(&l->mu);
	if (last)
		destroy(l);
}

/* Any thread: queue e for the loop (dropped once the leader is dead). */
static void enqueue_locked(struct leader *l, struct lev *e, bool *post)
{
	*post = false;
	e->next = NULL;
	*l->tail = e;
	l->tail = &e->next;
	if (!l->kick_pending) {
		l->kick_pending = true;
		l->refs++;
		*post = true;
	}
}

static void enqueue(struct leader *l, struct lev *e)
{
	bool post;
	pthread_mutex_lock(&l->mu);
	if (l->dead) {
		pthread_mutex_unlock(&l->mu);
		lev_free(e);
		return;
	}
	enqueue_locked(l, e, &post);
	pthread_mutex_unlock(&l->mu);
	if (post)
		ev_post(l->loop, drain, l);
}

/* ZooKeeper thread: session changes and watches. */
static void on_zk(void *arg, const struct zk_event *ev)
{
	struct leader *l = arg;
	if (ev->type == ZOO_SESSION_EVENT) {
		atomic_store(&l->zk_gen, ev->generation);
		atomic_store(&l->zk_state, ev->state);
	}
	struct lev *e = qm_calloc(1, sizeof *e);
	e->ev = *ev;
	e->path = qm_strdup(ev->path ? ev->path : "");
	e->ev.path = e->path;
	enqueue(l, e);
}

/* ZooKeeper thread (or the loop inside zk_conn_renew): an answer. */
static void op_done(struct zk_op *op, void *arg)
{
	struct leader *l = arg;
	struct lev *e = qm_calloc(1, sizeof *e);
	e->op = op;
	enqueue(l, e);
	unref(l); /* the op's reference */
}

static void op_forget(struct zk_op *op, void *arg)
{
	(void)arg;
	zk_op_free(op);
}

static void on_timer(struct ev_loop *loop, void *arg);
static void on_lease_timer(struct ev_loop *loop, void *arg);
static void on_lease(struct leader *l, struct zk_op *op);

static uint64_t lease_ms(struct leader *l)
{
	return (uint64_t)zk_conn_session_timeout_ms(l->zk) * LEASE_NUM / LEASE_DEN;
}

static void lease_schedule(struct leader *l)
{
	if (!l->lease_timer && !l->dead)
		l->lease_timer = ev_timer_add(l->loop, lease_ms(l) / LEASE_RENEWALS + 1,
					      on_lease_timer, l);
}

static void schedule(struct leader *l, uint64_t ms)
{
	if (!l->timer)
		l->timer = ev_timer_add(l->loop, ms, on_timer, l);
}

static void start_op(struct leader *l, struct zk_op *op, enum tag tag,
		     uint64_t seq)
{
	op->tag = tag;
	op->seq = seq;
	if (tag == T_IGNORE) {
		op->done = op_forget;
		op->arg = NULL;
		if (zk_start(l->zk, op))
			zk_op_free(op);
		return;
	}
	op->done = op_done;
	op->arg = l;
	pthread_mutex_lock(&l->mu);
	l->refs++;
	pthread_mutex_unlock(&l->mu);
	if (zk_start(l->zk, op)) {
		zk_op_free(op);
		unref(l); /* never the last: the owner holds one */
		schedule(l, RETRY_MS);
	}
}

static void set_node(struct leader *l, const char *name)
{
	free(l->my_node);
	free(l->my_path);
	l->my_node = NULL;
	l->my_path = NULL;
	if (name) {
		l->my_node = qm_strdup(name);
		size_t n = strlen(l->dir) + strlen(name) + 2;
		l->my_path = qm_malloc(n);
		snprintf(l->my_path, n, "%s/%s", l->dir, name);
	}
}

static void set_leader(struct leader *l, const char *id)
{
	if ((!id && !l->leader_id) ||
	    (id && l->leader_id && strcmp(id, l->leader_id) == 0))
		return;
	free(l->leader_id);
	l->leader_id = qm_strdup_or_null(id);
	log_info("leader_changed", "leader=%s self=%s",
		 id ? log_qs(id) : "unknown", l->leading ? "yes" : "no");
	if (l->cbs.leader_changed)
		l->cbs.leader_changed(l->arg, l->leader_id);
}

static void step_down(struct leader *l, const char *reason)
{
	if (!l->leading)
		return;
	l->leading = false;
	log_warn("leader_lost", "znode=%s reason=%s",
		 log_qs(l->my_path ? l->my_path : ""), log_qs(reason));
	if (l->cbs.lost)
		l->cbs.lost(l->arg, reason);
}

static void renew(struct leader *l)
{
	if (zk_conn_renew(l->zk))
		schedule(l, RETRY_MS);
}

static void on_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct leader *l = arg;
	l->timer = 0;
	int st = zk_conn_state(l->zk);
	if (st == ZOO_EXPIRED_SESSION_STATE || st == ZOO_AUTH_FAILED_STATE)
		renew(l);
	else
		evaluate(l);
}

/* "n_<16 hex>_<10 digits>": session id and sequence number. */
static bool parse_name(const char *s, uint64_t *sid, uint64_t *seq)
{
	if (strlen(s) != NAME_LEN || s[0] != 'n' || s[1] != '_' || s[18] != '_')
		return false;
	uint64_t a = 0, b = 0;
	for (int i = 2; i < 18; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		a = a * 16 + (uint64_t)v;
	}
	for (int i = 19; i < NAME_LEN; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		b = b * 10 + (uint64_t)(s[i] - '0');
	}
	*sid = a;
	*seq = b;
	return true;
}

struct cand {
	const char *name;
	uint64_t sid, seq;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

static char *child_path(const struct leader *l, const char *name)
{
	size_t n = strlen(l->dir) + strlen(name) + 2;
	char *p = qm_malloc(n);
	snprintf(p, n, "%s/%s", l->dir, name);
	return p;
}

static void create_node(struct leader *l)
{
	if (l->creating || !l->connected)
		return;
	l->creating = true;
	/* The parents, in order before our znode: a session's requests run in
	 * the order sent, so their answers need not be awaited. */
	char buf[ZK_PATH_MAX + 16];
	for (const char *c = l->dir + 1; ; c++) {
		if (*c == '/' || *c == '\0') {
			snprintf(buf, sizeof buf, "%.*s", (int)(c - l->dir), l->dir);
			struct zk_op *op = zk_op_new(ZK_CREATE, buf);
			zk_op_set_data(op, NULL, 0);
			start_op(l, op, T_IGNORE, 0);
		}
		if (!*c)
			break;
	}
	snprintf(buf, sizeof buf, "%s/n_%016" PRIx64 "_", l->dir,
		 (uint64_t)l->session_id);
	struct zk_op *op = zk_op_new(ZK_CREATE, buf);
	zk_op_set_data(op, l->id, strlen(l->id));
	op->create_mode = ZOO_EPHEMERAL_SEQUENTIAL;
	start_op(l, op, T_CREATE, l->gen);
}

static void become_leader(struct leader *l)
{
	set_leader(l, l->id);
	if (l->dead)
		return;
	struct zk_op *op = zk_op_new(ZK_EXISTS, l->my_path);
	op->watch = true; /* notice if someone deletes it */
	start_op(l, op, T_MINE, l->epoch);
	if (l->leading)
		return;
	/* A disconnect the loop has not seen yet: it is queued; do not start
	 * acting for the blink of an eye in between. */
	if (atomic_load(&l->zk_state) != ZOO_CONNECTED_STATE ||
	    atomic_load(&l->zk_gen) != l->gen)
		return;
	/* the listing that elected us is the first lease */
	uint64_t until = l->list_sent + lease_ms(l);
	if (clock_mono_ms() >= until) {
		evaluate(l); /* answered too late to trust: ask again */
		return;
	}
	atomic_store(&l->lease_until, until);
	l->lease_sent = 0;
	l->leading = true;
	lease_schedule(l);
	log_info("leader_elected", "znode=%s id=%s", log_qs(l->my_path),
		 log_qs(l->id));
	if (l->cbs.elected)
		l->cbs.elected(l->arg);
}

static void become_follower(struct leader *l, const char *pred,
			    const char *lowest)
{
	step_down(l, "another contender holds a lower election znode");
	if (l->dead)
		return;
	char *p = child_path(l, pred);
	struct zk_op *op = zk_op_new(ZK_EXISTS, p);
	op->watch = true;
	start_op(l, op, T_PRED, l->epoch);
	free(p);
	p = child_path(l, lowest);
	op = zk_op_new(ZK_GET, p);
	op->watch = true;
	start_op(l, op, T_LOWEST, l->epoch);
	free(p);
	log_debug("leader_following", "znode=%s predecessor=%s", log_qs(l->my_node),
		  log_qs(pred));
}

static void on_list(struct leader *l, struct zk_op *op)
{
	if (op->rc == ZNONODE) {
		create_node(l);
		return;
	}
	if (op->rc != ZOK) {
		if (!zk_rc_uncertain(op->rc)) {
			log_error("leader_list_failed", "dir=%s error=%s",
				  log_qs(l->dir), log_qs(zk_strerror(op->rc)));
			schedule(l, RETRY_MS);
		}
		return;
	}
	struct cand *v = qm_calloc(op->nchildren + 1, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < op->nchildren; i++) {
		struct cand c = {.name = op->children[i]};
		if (parse_name(c.name, &c.sid, &c.seq))
			v[n++] = c;
	}
	qsort(v, n, sizeof *v, cmp_cand);
	ssize_t me = -1;
	for (size_t i = 0; i < n && l->my_node; i++)
		if (strcmp(v[i].name, l->my_node) == 0)
			me = (ssize_t)i;
	if (me < 0) /* one we created without hearing the answer */
		for (size_t i = 0; i < n; i++)
			if (v[i].sid == (uint64_t)l->session_id) {
				me = (ssize_t)i;
				log_info("leader_znode_adopted", "znode=%s",
					 log_qs(v[i].name));
				set_node(l, v[i].name);
				break;
			}
	/* More of ours (uncertain creates): keep one. */
	for (size_t i = 0; i < n; i++)
		if (v[i].sid == (uint64_t)l->session_id && (ssize_t)i != me) {
			char *p = child_path(l, v[i].name);
			start_op(l, zk_op_new(ZK_DELETE, p), T_IGNORE, 0);
			free(p);
		}
	if (me < 0) {
		if (l->my_node)
			log_warn("leader_znode_gone", "znode=%s", log_qs(l->my_path));
		set_node(l, NULL);
		step_down(l, "our election znode is gone");
		if (!l->dead)
			create_node(l);
	} else if (me == 0) {
		become_leader(l);
	} else {
		become_follower(l, v[me - 1].name, v[0].name);
	}
	free(v);
}

static void on_create(struct leader *l, struct zk_op *op)
{
	if (op->seq != l->gen)
		return; /* an older session's znode dies with it */
	l->creating = false;
	if (op->rc == ZOK && op->created) {
		const char *name = strrchr(op->created, '/');
		name = name ? name + 1 : op->created;
		if (!l->my_node) {
			set_node(l, name);
			log_info("leader_standing", "znode=%s", log_qs(l->my_path));
		} else if (strcmp(name, l->my_node) != 0) {
			start_op(l, zk_op_new(ZK_DELETE, op->created), T_IGNORE, 0);
		}
		evaluate(l);
	} else if (!zk_rc_uncertain(op->rc)) {
		/* e.g. ZNOAUTH: P/leader belongs to other credentials */
		log_error("leader_create_failed", "dir=%s error=%s", log_qs(l->dir),
			  log_qs(zk_strerror(op->rc)));
		schedule(l, RETRY_MS);
	}
	/* uncertain: found by our session id after reconnecting */
}

static void on_op(struct leader *l, struct zk_op *op)
{
	if (op->tag == T_CREATE) {
		on_create(l, op);
		return;
	}
	if (op->tag == T_LEASE) {
		on_lease(l, op);
		return;
	}
	if (op->seq != l->epoch || !l->connected)
		return;
	switch ((enum tag)op->tag) {
	case T_LIST:
		on_list(l, op);
		break;
	case T_PRED:
	case T_MINE:
		if (op->rc == ZNONODE)
			evaluate(l);
		break;
	case T_LOWEST:
		if (op->rc == ZOK) {
			size_t n = op->len > LEADER_ID_MAX ? LEADER_ID_MAX : op->len;
			char *id = qm_strndup(op->data ? op->data : "", n);
			set_leader(l, id);
			free(id);
		} else if (op->rc == ZNONODE) {
			evaluate(l);
		}
		break;
	default:
		break;
	}
}

static void on_session(struct leader *l, const struct zk_event *ev)
{
	if (ev->generation < l->gen)
		return;
	if (ev->generation > l->gen) {
		/* a new session: nothing of ours (the old one's end was seen
		 * first, this is only belt and braces) */
		step_down(l, "ZooKeeper session replaced");
		if (l->dead)
			return;
		l->gen = ev->generation;
		set_node(l, NULL);
		l->creating = false;
	}
	if (ev->state == ZOO_CONNECTED_STATE) {
		l->connected = true;
		l->session_id = ev->session_id;
		evaluate(l);
		return;
	}
	l->connected = false;
	l->epoch++;
	if (ev->state == ZOO_EXPIRED_SESSION_STATE) {
		step_down(l, "ZooKeeper session expired");
		if (l->dead)
			return;
		set_node(l, NULL);
		set_leader(l, NULL);
		if (!l->dead)
			renew(l);
	} else if (ev->state == ZOO_AUTH_FAILED_STATE) {
		step_down(l, "ZooKeeper authentication failed");
		if (!l->dead)
			set_leader(l, NULL);
		if (!l->dead)
			schedule(l, AUTH_RETRY_MS);
	} else {
		step_down(l, "lost the connection to ZooKeeper");
		if (!l->dead)
			set_leader(l, NULL);
	}
}

static void on_watch(struct leader *l, const struct zk_event *ev)
{
	size_t dl = strlen(l->dir);
	if (ev->generation != l->gen || !l->connected)
		return;
	if (strncmp(ev->path, l->dir, dl) == 0 &&
	    (ev->path[dl] == '/' || ev->path[dl] == '\0'))
		evaluate(l);
}

static void evaluate(struct leader *l)
{
	if (!l->connected || l->dead)
		return;
	l->epoch++;
	l->list_sent = clock_mono_ms();
	start_op(l, zk_op_new(ZK_CHILDREN, l->dir), T_LIST, l->epoch);
}

/* Lapsed: step down, and stand again at once (elected again if our znode is
 * still the lowest). True when it had lapsed. */
static bool lease_lapsed(struct leader *l, uint64_t now)
{
	if (now < atomic_load(&l->lease_until))
		return false;
	char why[128];
	snprintf(why, sizeof why, "no answer from ZooKeeper within the %llu ms lease",
		 (unsigned long long)lease_ms(l));
	step_down(l, why);
	if (!l->dead)
		evaluate(l);
	return true;
}

/* While leading: renew the lease with a read of our own znode. */
static void on_lease_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct leader *l = arg;
	l->lease_timer = 0;
	if (!l->leading || l->dead)
		return;
	uint64_t now = clock_mono_ms();
	if (lease_lapsed(l, now))
		return;
	if (!l->lease_sent || now - l->lease_sent >= lease_ms(l)) {
		l->lease_sent = now;
		start_op(l, zk_op_new(ZK_EXISTS, l->my_path), T_LEASE, l->gen);
	}
	lease_schedule(l);
}

static void on_lease(struct leader *l, struct zk_op *op)
{
	uint64_t sent = l->lease_sent;
	l->lease_sent = 0;
	if (op->seq != l->gen || !l->connected || !l->leading || !sent)
		return;
	/* lapsed before this answer came: the loop may already have stopped
	 * acting on leader_is_leader(); step down properly, not resume */
	if (lease_lapsed(l, clock_mono_ms()))
		return;
	if (op->rc == ZOK) {
		uint64_t until = sent + lease_ms(l);
		if (until > atomic_load(&l->lease_until))
			atomic_store(&l->lease_until, until);
	} else if (op->rc == ZNONODE) {
		evaluate(l);
	}
}

/* Loop thread: everything queued, in order. */
static void drain(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct leader *l = arg;
	pthread_mutex_lock(&l->mu);
	struct lev *e = l->head;
	l->head = NULL;
	l->tail = &l->head;
	l->kick_pending = false;
	pthread_mutex_unlock(&l->mu);
	while (e) {
		struct lev *next = e->next;
		if (!l->dead) {
			if (e->op)
				on_op(l, e->op);
			else if (e->ev.type == ZOO_SESSION_EVENT)
				on_session(l, &e->ev);
			else
				on_watch(l, &e->ev);
		}
		lev_free(e);
		e = next;
	}
	unref(l); /* the drain's reference */
}

int leader_new(struct ev_loop *loop, struct zk_conn *zk, const char *id,
	       const struct leader_cbs *cbs, void *arg, struct leader **out,
	       char *err, size_t errlen)
{
	*out = NULL;
	if (!id || !*id || strlen(id) > LEADER_ID_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "leader id must be 1-%d bytes",
				 LEADER_ID_MAX);
		return QM_EINVAL;
	}
	struct leader *l = qm_calloc(1, sizeof *l);
	l->loop = loop;
	l->zk = zk;
	l->id = qm_strdup(id);
	size_t n = strlen(zk_conn_path(zk)) + sizeof "/" LEADER_DIR;
	l->dir = qm_malloc(n);
	snprintf(l->dir, n, "%s/" LEADER_DIR, zk_conn_path(zk));
	if (cbs)
		l->cbs = *cbs;
	l->arg = arg;
	pthread_mutex_init(&l->mu, NULL);
	l->refs = 1;
	l->tail = &l->head;
	/* Registered and the current state read under mu, so a change after
	 * the read queues behind the synthetic event below. */
	bool post = false;
	pthread_mutex_lock(&l->mu);
	if (zk_conn_listen(zk, on_zk, l) != 0) {
		pthread_mutex_unlock(&l->mu);
		if (err && errlen)
			snprintf(err, errlen, "too many listeners on the ZooKeeper "
				 "connection");
		destroy(l);
		return QM_ETOOBIG;
	}
	int st = zk_conn_state(zk);
	uint64_t gen = zk_conn_generation(zk);
	atomic_store(&l->zk_state, st);
	atomic_store(&l->zk_gen, gen);
	l->gen = gen;
	if (st == ZOO_CONNECTED_STATE || st == ZOO_EXPIRED_SESSION_STATE) {
		struct lev *e = qm_calloc(1, sizeof *e);
		e->path = qm_strdup("");
		e->ev = (struct zk_event){.generation = gen,
					  .type = ZOO_SESSION_EVENT,
					  .state = st,
					  .session_id = zk_conn_session_id(zk),
					  .path = e->path};
		enqueue_locked(l, e, &post);
	}
	pthread_mutex_unlock(&l->mu);
	if (post)
		ev_post(loop, drain, l);
	*out = l;
	return 0;
}

void leader_free(struct leader *l)
{
	if (!l)
		return;
	zk_conn_unlisten(l->zk, on_zk, l);
	if (l->timer)
		ev_timer_cancel(l->loop, l->timer);
	l->timer = 0;
	if (l->lease_timer)
		ev_timer_cancel(l->loop, l->lease_timer);
	l->lease_timer = 0;
	l->leading = false;
	if (l->my_path && l->connected) {
		log_info("leader_resigned", "znode=%s", log_qs(l->my_path));
		start_op(l, zk_op_new(ZK_DELETE, l->my_path), T_IGNORE, 0);
	}
	pthread_mutex_lock(&l->mu);
	l->dead = true;
	pthread_mutex_unlock(&l->mu);
	unref(l);
}

bool leader_is_leader(const struct leader *l)
{
	struct leader *m = (struct leader *)l;
	return l->leading && atomic_load(&m->zk_state) == ZOO_CONNECTED_STATE &&
	       atomic_load(&m->zk_gen) == l->gen &&
	       clock_mono_ms() < atomic_load(&m->lease_until);
}

const char *leader_current(const struct leader *l)
{
	return l->leader_id;
}

const char *leader_znode(const struct leader *l)
{
	return l->my_path;
}
