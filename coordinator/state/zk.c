#include "state/zk.h"

#include "evloop.h"
#include "log.h"
#include "qm_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LISTENERS 8

/* ---- sessions ----------------------------------------------------------- */

struct zk_session {
	struct zk_conn *conn;
	zhandle_t *zh;
	uint64_t gen;
	pthread_mutex_t mu;      /* guards everything below */
	pthread_cond_t cond;     /* state changes */
	int state;
	int64_t session_id;
	struct zk_op *inflight;  /* started, not yet answered */
};

struct listener {
	zk_listener_fn fn;
	void *arg;
};

struct zk_conn {
	struct zk_url url;
	char auth[2 * ZK_CRED_MAX + 2]; /* "user:password" */
	int session_timeout_ms;
	int op_timeout_ms;
	struct zk_session *s;    /* owner thread */
	uint64_t gens;
	pthread_mutex_t lmu;     /* listeners; held while calling them */
	struct listener listeners[MAX_LISTENERS];
	size_t nlisteners;
};

const char *zk_state_name(int state)
{
	if (state == ZOO_CONNECTED_STATE)
		return "connected";
	if (state == ZOO_CONNECTING_STATE)
		return "connecting";
	if (state == ZOO_ASSOCIATING_STATE)
		return "associating";
	if (state == ZOO_EXPIRED_SESSION_STATE)
		return "expired";
	if (state == ZOO_AUTH_FAILED_STATE)
		return "auth_failed";
	if (state == ZOO_READONLY_STATE)
		return "read_only";
	if (state == 0)
		return "closed";
	return "not_connected";
}

/* The C client's own log lines: debug only. Its errors while the ensemble is
 * down repeat every reconnect attempt; our session events say what matters. */
static void client_log(const char *msg)
{
	log_debug("zk_client", "msg=%s", log_qs(msg));
}

static void client_log_level(void)
{
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

static void dispatch(struct zk_conn *c, const struct zk_event *ev)
{
	pthread_mutex_lock(&c->lmu);
	for (size_t i = 0; i < c->nlisteners; i++)
		c->listeners[i].fn(c->listeners[i].arg, ev);
	pthread_mutex_unlock(&c->lmu);
}

/* Client thread: session state changes and watch events. */
static void watcher(zhandle_t *zh, int type, int state, const char *path,
		    void *ctx)
{
	struct zk_session *s = ctx;
	struct zk_event ev = {.generation = s->gen, .type = type, .state = state,
			      .path = path ? path : ""};
	if (type == ZOO_SESSION_EVENT) {
		int64_t sid = 0;
		if (state == ZOO_CONNECTED_STATE)
			sid = zoo_client_id(zh)->client_id;
		pthread_mutex_lock(&s->mu);
		int old = s->state;
		s->state = state;
		if (sid)
			s->session_id = sid;
		ev.session_id = s->session_id;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
		if (old != state) {
			enum log_level lvl = state == ZOO_CONNECTED_STATE ? LOG_INFO
									 : LOG_WARN;
			log_event(lvl, "zk_session",
				  "ensemble=%s state=%s session=0x%llx generation=%llu",
				  log_qs(s->conn->url.hosts), zk_state_name(state),
				  (unsigned long long)ev.session_id,
				  (unsigned long long)s->gen);
		}
	}
	dispatch(s->conn, &ev);
}

static struct zk_session *session_new(struct zk_conn *c, char *err,
				      size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, client_log_level);
	struct zk_session *s = qm_calloc(1, sizeof *s);
	s->conn = c;
	s->gen = ++c->gens;
	s->state = ZOO_CONNECTING_STATE;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	errno = 0;
	s->zh = zookeeper_init2(c->url.hosts, watcher, c->session_timeout_ms,
				NULL, s, 0, client_log);
	if (!s->zh) {
		int e = errno;
		qm_fail(err, errlen, QM_EIO,
		     "cannot start a ZooKeeper client for %s: %s (does every "
		     "host name resolve?)", c->url.display,
		     e ? strerror(e) : "unknown error");
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	if (c->auth[0]) {
		/* Sent before any request of ours and again after every
		 * reconnection by the client itself. Digest never fails here; a
		 * wrong password shows as ZNOAUTH on our znodes. */
		int rc = zoo_add_auth(s->zh, "digest", c->auth, (int)strlen(c->auth),
				      NULL, NULL);
		if (rc != ZOK)
			log_warn("zk_auth_failed", "ensemble=%s error=%s",
				 log_qs(c->url.hosts), log_qs(zerror(rc)));
	}
	return s;
}

static void op_unlink(struct zk_session *s, struct zk_op *op)
{
	if (op->prev_)
		op->prev_->next_ = op->next_;
	else
		s->inflight = op->next_;
	if (op->next_)
		op->next_->prev_ = op->prev_;
	op->prev_ = op->next_ = NULL;
}

static void deadline_ts(uint64_t deadline_ms, struct timespec *ts);

/* Close the handle. While connected, first give requests in flight up to
 * wait_ms to be answered: fire-and-forget writes (e.g. deleting chunks)
 * then really happen, and the client does not drop requests it still holds
 * (it leaks their bookkeeping when closed with requests outstanding). */
static void session_close(struct zk_session *s, int wait_ms)
{
	if (!s)
		return;
	/* After zookeeper_close no client thread runs, so every operation
	 * still listed was never answered: answer it with ZCLOSING. */
	struct timespec ts;
	deadline_ts(ev_now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0), &ts);
	pthread_mutex_lock(&s->mu);
	while (wait_ms > 0 && s->inflight && s->state == ZOO_CONNECTED_STATE)
		if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->mu);
	zookeeper_close(s->zh);
	pthread_mutex_lock(&s->mu);
	struct zk_op *op = s->inflight;
	s->inflight = NULL;
	pthread_mutex_unlock(&s->mu);
	while (op) {
		struct zk_op *next = op->next_;
		op->prev_ = op->next_ = NULL;
		op->sess_ = NULL;
		op->rc = ZCLOSING;
		op->finished_ = true;
		op->done(op, op->arg);
		op = next;
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int zk_conn_open(const char *url, const struct zk_opts *opts,
		 struct zk_conn **out, char *err, size_t errlen)
{
	*out = NULL;
	struct zk_conn *c = qm_calloc(1, sizeof *c);
	int rv = zk_url_parse(url, &c->url, err, errlen);
	if (rv) {
		explicit_bzero(c, sizeof *c);
		free(c);
		return rv;
	}
	if (c->url.user[0])
		snprintf(c->auth, sizeof c->auth, "%s:%s", c->url.user,
			 c->url.password);
	c->session_timeout_ms = opts && opts->session_timeout_ms > 0
					? opts->session_timeout_ms
					: ZK_DEFAULT_SESSION_TIMEOUT_MS;
	c->op_timeout_ms = opts && opts->op_timeout_ms > 0
				   ? opts->op_timeout_ms
				   : ZK_DEFAULT_OP_TIMEOUT_MS;
	pthread_mutex_init(&c->lmu, NULL);
	c->s = session_new(c, err, errlen);
	if (!c->s) {
		pthread_mutex_destroy(&c->lmu);
		explicit_bzero(c, sizeof *c);
		free(c);
		return QM_EIO;
	}
	*out = c;
	return 0;
}

void zk_conn_close(struct zk_conn *c)
{
	if (!c)
		return;
	session_close(c->s, c->op_timeout_ms < 5000 ? c->op_timeout_ms : 5000);
	pthread_mutex_destroy(&c->lmu);
	explicit_bzero(c->auth, sizeof c->auth);
	explicit_bzero(c->url.password, sizeof c->url.password);
	free(c);
}

const char *zk_conn_path(const struct zk_conn *c) { return c->url.path; }
const char *zk_conn_ensemble(const struct zk_conn *c) { return c->url.hosts; }
const char *zk_conn_display(const struct zk_conn *c) { return c->url.display; }
bool zk_conn_has_auth(const struct zk_conn *c) { return c->auth[0] != '\0'; }
int zk_conn_op_timeout_ms(const struct zk_conn *c) { return c->op_timeout_ms; }
uint64_t zk_conn_generation(const struct zk_conn *c) { return c->s->gen; }

int zk_conn_state(struct zk_conn *c)
{
	pthread_mutex_lock(&c->s->mu);
	int st = c->s->state;
	pthread_mutex_unlock(&c->s->mu);
	return st;
}

int64_t zk_conn_session_id(struct zk_conn *c)
{
	pthread_mutex_lock(&c->s->mu);
	int64_t id = c->s->session_id;
	pthread_mutex_unlock(&c->s->mu);
	return id;
}

int zk_conn_session_timeout_ms(struct zk_conn *c)
{
	/* the negotiated one once connected (the server may shorten it);
	 * never more than was asked for */
	int t = zoo_recv_timeout(c->s->zh);
	if (t <= 0 || t > c->session_timeout_ms)
		t = c->session_timeout_ms;
	return t;
}

clientid_t zk_conn_client_id(struct zk_conn *c)
{
	return *zoo_client_id(c->s->zh);
}

int zk_conn_renew(struct zk_conn *c)
{
	int st = zk_conn_state(c);
	if (st != ZOO_EXPIRED_SESSION_STATE && st != ZOO_AUTH_FAILED_STATE &&
	    is_unrecoverable(c->s->zh) == ZOK)
		return 0;
	char err[256];
	struct zk_session *s = session_new(c, err, sizeof err);
	if (!s) {
		log_error("zk_renew_failed", "ensemble=%s error=%s",
			  log_qs(c->url.hosts), log_qs(err));
		return QM_EIO;
	}
	struct zk_session *old = c->s;
	c->s = s;
	log_info("zk_session_renewed", "ensemble=%s old_generation=%llu "
		 "generation=%llu", log_qs(c->url.hosts),
		 (unsigned long long)old->gen, (unsigned long long)s->gen);
	session_close(old, 0);
	return 0;
}

int zk_conn_listen(struct zk_conn *c, zk_listener_fn fn, void *arg)
{
	int rv = QM_ETOOBIG;
	pthread_mutex_lock(&c->lmu);
	if (c->nlisteners < MAX_LISTENERS) {
		c->listeners[c->nlisteners++] = (struct listener){fn, arg};
		rv = 0;
	}
	pthread_mutex_unlock(&c->lmu);
	return rv;
}

void zk_conn_unlisten(struct zk_conn *c, zk_listener_fn fn, void *arg)
{
	pthread_mutex_lock(&c->lmu);
	for (size_t i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].fn == fn && c->listeners[i].arg == arg) {
			memmove(&c->listeners[i], &c->listeners[i + 1],
				(c->nlisteners - i - 1) * sizeof c->listeners[0]);
			c->nlisteners--;
			break;
		}
	pthread_mutex_unlock(&c->lmu);
}

/* ---- operations ------------------------------------------------------- */

struct zk_op *zk_op_new(enum zk_op_type type, const char *path)
{
	struct zk_op *op = qm_calloc(1, sizeof *op);
	op->type = type;
	op->path = qm_strdup(path);
	op->version = -1;
	op->create_mode = ZOO_PERSISTENT;
	return op;
}

void zk_op_set_data(struct zk_op *op, const void *data, size_t len)
{
	free(op->data);
	op->data = qm_malloc(len ? len : 1);
	if (len)
		memcpy(op->data, data, len);
	op->len = len;
}

void zk_op_set_fence(struct zk_op *op, const char *fence)
{
	free(op->fence);
	op->fence = qm_strdup_or_null(fence);
}

static void free_children(struct zk_op *op)
{
	for (size_t i = 0; i < op->nchildren; i++)
		free(op->children[i]);
	free(op->children);
	op->children = NULL;
	op->nchildren = 0;
}

void zk_op_free(struct zk_op *op)
{
	if (!op)
		return;
	free(op->path);
	free(op->data);
	free(op->fence);
	free(op->created);
	free(op->cbuf_);
	free_children(op);
	free(op);
}

/* Client thread: record the answer, unlist, hand over. */
static void finish(struct zk_op *op, int rc)
{
	struct zk_session *s = op->sess_;
	pthread_mutex_lock(&s->mu);
	op_unlink(s, op);
	if (!s->inflight)
		pthread_cond_broadcast(&s->cond); /* session_close waits */
	pthread_mutex_unlock(&s->mu);
	op->sess_ = NULL;
	op->rc = rc;
	op->finished_ = true;
	op->done(op, op->arg);
}

static void data_cb(int rc, const char *value, int len, const struct Stat *st,
		    const void *data)
{
	struct zk_op *op = (struct zk_op *)data;
	if (rc == ZOK) {
		if (st)
			op->stat = *st;
		if (value && len > 0)
			zk_op_set_data(op, value, (size_t)len);
		else
			zk_op_set_data(op, NULL, 0);
	}
	finish(op, rc);
}

static void stat_cb(int rc, const struct Stat *st, const void *data)
{
	struct zk_op *op = (struct zk_op *)data;
	if (rc == ZOK && st)
		op->stat = *st;
	finish(op, rc);
}

static void string_cb(int rc, const char *value, const void *data)
{
	struct zk_op *op = (struct zk_op *)data;
	if (rc == ZOK && value)
		op->created = qm_strdup(value);
	finish(op, rc);
}

static void void_cb(int rc, const void *data)
{
	finish((struct zk_op *)data, rc);
}

static void strings_cb(int rc, const struct String_vector *v, const void *data)
{
	struct zk_op *op = (struct zk_op *)data;
	if (rc == ZOK && v && v->count > 0) {
		op->children = qm_calloc((size_t)v->count, sizeof *op->children);
		for (int32_t i = 0; i < v->count; i++)
			op->children[i] = qm_strdup(v->data[i]);
		op->nchildren = (size_t)v->count;
	}
	finish(op, rc);
}

static void multi_cb(int rc, const void *data)
{
	struct zk_op *op = (struct zk_op *)data;
	if (rc != ZOK && op->mres_[0].err != ZOK) {
		op->fence_failed = true;
		rc = op->mres_[0].err;
	} else if (rc != ZOK && op->mres_[1].err != ZOK &&
		   op->mres_[1].err != ZRUNTIMEINCONSISTENCY) {
		rc = op->mres_[1].err;
	}
	if (rc == ZOK && op->type == ZK_CREATE && op->cbuf_)
		op->created = qm_strdup(op->cbuf_);
	finish(op, rc);
}

static const struct ACL_vector *acl_of(const struct zk_conn *c)
{
	return c->auth[0] ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
}

static int issue(struct zk_conn *c, zhandle_t *zh, struct zk_op *op)
{
	const char *d = op->data;
	int dl = op->data ? (int)op->len : -1;
	if (op->fence && (op->type == ZK_CREATE || op->type == ZK_SET)) {
		zoo_check_op_init(&op->mops_[0], op->fence, -1);
		if (op->type == ZK_CREATE) {
			size_t cap = strlen(op->path) + 16;
			op->cbuf_ = qm_calloc(1, cap);
			zoo_create_op_init(&op->mops_[1], op->path, d, dl, acl_of(c),
					   op->create_mode, op->cbuf_, (int)cap);
		} else {
			zoo_set_op_init(&op->mops_[1], op->path, d, dl, op->version,
					&op->stat);
		}
		return zoo_amulti(zh, 2, op->mops_, op->mres_, multi_cb, op);
	}
	switch (op->type) {
	case ZK_GET:
		return zoo_aget(zh, op->path, op->watch, data_cb, op);
	case ZK_EXISTS:
		return zoo_aexists(zh, op->path, op->watch, stat_cb, op);
	case ZK_CHILDREN:
		return zoo_aget_children(zh, op->path, op->watch, strings_cb, op);
	case ZK_CREATE:
		return zoo_acreate(zh, op->path, d, dl, acl_of(c), op->create_mode,
				   string_cb, op);
	case ZK_SET:
		return zoo_aset(zh, op->path, d, dl, op->version, stat_cb, op);
	case ZK_DELETE:
		return zoo_adelete(zh, op->path, op->version, void_cb, op);
	}
	return ZBADARGUMENTS;
}

int zk_start(struct zk_conn *c, struct zk_op *op)
{
	struct zk_session *s = c->s;
	if (!op->done || !op->path)
		return QM_EINVAL;
	if (op->data && op->len > ZK_ZNODE_MAX)
		return QM_ETOOBIG;
	op->rc = ZOK;
	op->fence_failed = false;
	op->finished_ = false;
	op->sess_ = s;
	/* Listed before the call: the answer may come before it returns. */
	pthread_mutex_lock(&s->mu);
	op->prev_ = NULL;
	op->next_ = s->inflight;
	if (s->inflight)
		s->inflight->prev_ = op;
	s->inflight = op;
	pthread_mutex_unlock(&s->mu);
	int rc = issue(c, s->zh, op);
	if (rc != ZOK) {
		/* Refused before it was queued: no answer will come. */
		pthread_mutex_lock(&s->mu);
		op_unlink(s, op);
		pthread_mutex_unlock(&s->mu);
		op->sess_ = NULL;
		return rc == ZBADARGUMENTS ? QM_EINVAL : QM_EIO;
	}
	return 0;
}

/* ---- synchronous runs ------------------------------------------------- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	size_t pending;
	bool abandoned;
};

static void waiter_done(struct zk_op *op, void *arg)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	op->answered_ = true;
	w->pending--;
	bool abandoned = w->abandoned, last = w->pending == 0;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	if (abandoned) {
		zk_op_free(op);
		if (last) {
			pthread_cond_destroy(&w->cond);
			pthread_mutex_destroy(&w->mu);
			free(w);
		}
	}
}

static void deadline_ts(uint64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_ms / 1000);
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
}


/* Wait until the current session is connected (renewing an expired one). */
static int wait_connected(struct zk_conn *c, uint64_t deadline, char *err,
			  size_t errlen)
{
	for (;;) {
		struct zk_session *s = c->s;
		struct timespec ts;
		deadline_ts(deadline, &ts);
		pthread_mutex_lock(&s->mu);
		while (s->state != ZOO_CONNECTED_STATE &&
		       s->state != ZOO_EXPIRED_SESSION_STATE &&
		       s->state != ZOO_AUTH_FAILED_STATE) {
			if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT)
				break;
		}
		int st = s->state;
		pthread_mutex_unlock(&s->mu);
		if (st == ZOO_CONNECTED_STATE)
			return 0;
		if (st == ZOO_AUTH_FAILED_STATE) {
			zk_conn_renew(c);
			return qm_fail(err, errlen, QM_EAUTH,
				    "ZooKeeper %s refused our credentials "
				    "(authentication failed)", c->url.display);
		}
		if (st == ZOO_EXPIRED_SESSION_STATE) {
			if (zk_conn_renew(c))
				return qm_fail(err, errlen, QM_EIO,
					    "ZooKeeper session to %s expired and a "
					    "new one cannot be started", c->url.display);
			continue;
		}
		return qm_fail(err, errlen, QM_ETIMEDOUT,
			    "ZooKeeper ensemble %s not reachable within %d ms "
			    "(session %s); will retry", c->url.hosts,
			    c->op_timeout_ms, zk_state_name(st));
	}
}

int zk_run(struct zk_conn *c, struct zk_op **ops, size_t n, char *err,
	   size_t errlen)
{
	uint64_t deadline = ev_now_ms() + (uint64_t)c->op_timeout_ms;
	int rv = wait_connected(c, deadline, err, errlen);
	if (rv) {
		for (size_t i = 0; i < n; i++) {
			zk_op_free(ops[i]);
			ops[i] = NULL;
		}
		return rv;
	}
	struct waiter *w = qm_calloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	size_t started = 0;
	for (size_t i = 0; i < n; i++) {
		ops[i]->answered_ = false;
		ops[i]->done = waiter_done;
		ops[i]->arg = w;
		pthread_mutex_lock(&w->mu);
		w->pending++;
		pthread_mutex_unlock(&w->mu);
		rv = zk_start(c, ops[i]);
		if (rv) {
			pthread_mutex_lock(&w->mu);
			w->pending--;
			pthread_mutex_unlock(&w->mu);
			qm_fail(err, errlen, rv,
			     "cannot send a request to ZooKeeper %s (session %s)",
			     c->url.display, zk_state_name(zk_conn_state(c)));
			break;
		}
		started++;
	}
	struct timespec ts;
	deadline_ts(deadline, &ts);
	pthread_mutex_lock(&w->mu);
	while (!rv && w->pending > 0)
		if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
			break;
	bool all = w->pending == 0;
	if (all && !rv) {
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return 0;
	}
	/* Give up: answered ops are freed here, the rest when answered. */
	w->abandoned = true;
	bool free_w = w->pending == 0;
	for (size_t i = 0; i < n; i++) {
		if (i >= started || ops[i]->answered_)
			zk_op_free(ops[i]);
		ops[i] = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	if (free_w) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
	if (rv)
		return rv;
	return qm_fail(err, errlen, QM_ETIMEDOUT,
		    "ZooKeeper ensemble %s did not answer within %d ms "
		    "(session %s); will retry", c->url.hosts, c->op_timeout_ms,
		    zk_state_name(zk_conn_state(c)));
}

/* ---- error codes ------------------------------------------------------ */

const char *zk_strerror(int zrc)
{
	return zerror(zrc);
}

int zk_to_qm(int zrc)
{
	if (zrc == ZOK)
		return 0;
	if (zrc == ZNOAUTH || zrc == ZAUTHFAILED)
		return QM_EAUTH;
	if (zrc == ZOPERATIONTIMEOUT)
		return QM_ETIMEDOUT;
	if (zrc == ZNONODE)
		return QM_ENOENT;
	if (zrc == ZBADVERSION || zrc == ZNODEEXISTS)
		return QM_ECONFLICT;
	return QM_EIO;
}

bool zk_rc_uncertain(int zrc)
{
	return zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT ||
	       zrc == ZSESSIONEXPIRED || zrc == ZCLOSING ||
	       zrc == ZINVALIDSTATE || zrc == ZSESSIONMOVED;
}
