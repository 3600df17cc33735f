#include "mesos/detector.h"

#include "log.h"
#include "qm_error.h"
#include "state/zk.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define REOPEN_MS 2000u

/* --- the detector ------------------------------------------------------- */

#define RETRY_MS 1000u

struct detector {
	struct ev_loop *loop;
	struct det_spec spec;
	det_fn fn;
	void *arg;
	int session_timeout_ms;
	uint64_t timer; /* DET_URLS: next answer; DET_ZK: open / renew */
	size_t idx;     /* DET_URLS: current candidate */

	/* DET_ZK. Client threads (listener, op callbacks) only queue under mu
	 * and wake the loop through efd; everything else is on the loop. */
	struct zk_conn *zk;
	int efd;
	pthread_mutex_t mu;
	struct zk_op **done;
	size_t ndone, done_cap;
	bool ev_session, ev_watch;
	int ev_state;
	uint64_t ev_gen;
	struct zk_op *inflight; /* the one read in flight: CHILDREN, GET, EXISTS */
	bool reread;            /* the group changed while reading */
	bool force;             /* det_failed: answer even if unchanged */
	bool connected;
	bool have; /* `cur` is the answer last given */
	struct det_leader cur;
	char why[400];          /* the last "no leader" answer */
	uint64_t contact_timer; /* no contact for a session timeout */
	uint64_t retry_timer;   /* a read failed while connected */
	uint64_t repeat_timer;  /* det_failed while ZooKeeper is out of reach */
};

/* Hand over an answer unless it repeats the last one (d->force: always). */
static void answer(struct detector *d, const struct det_leader *l, const char *why)
{
	bool force = d->force;
	d->force = false;
	if (l) {
		if (!force && d->have && strcmp(d->cur.url, l->url) == 0 &&
		    strcmp(d->cur.id, l->id) == 0)
			return;
		d->cur = *l;
		d->have = true;
		d->why[0] = '\0';
	} else {
		if (!force && !d->have && strcmp(d->why, why) == 0)
			return;
		d->have = false;
		snprintf(d->why, sizeof d->why, "%.390s", why);
	}
	d->fn(d->arg, l, why);
}

/* DET_URLS */
static void urls_fire(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->timer = 0;
	struct det_leader l;
	memset(&l, 0, sizeof l);
	snprintf(l.url, sizeof l.url, "%s", d->spec.urls[d->idx % d->spec.nurls]);
	d->force = true;
	answer(d, &l, NULL);
}

/* DET_ZK: client threads */
static void wake(struct detector *d)
{
	uint64_t one = 1;
	ssize_t w = write(d->efd, &one, sizeof one);
	(void)w; /* EAGAIN: the counter is already non-zero, a wake-up is due */
}

static void zk_listener(void *arg, const struct zk_event *ev)
{
	struct detector *d = arg;
	pthread_mutex_lock(&d->mu);
	if (ev->type == ZOO_SESSION_EVENT) {
		d->ev_session = true;
		d->ev_state = ev->state;
		d->ev_gen = ev->generation;
	} else {
		d->ev_watch = true;
	}
	pthread_mutex_unlock(&d->mu);
	wake(d);
}

static void op_done(struct zk_op *op, void *arg)
{
	struct detector *d = arg;
	pthread_mutex_lock(&d->mu);
	if (d->ndone == d->done_cap) {
		d->done_cap = d->done_cap ? d->done_cap * 2 : 4;
		d->done = qm_realloc(d->done, d->done_cap * sizeof *d->done);
	}
	d->done[d->ndone++] = op;
	pthread_mutex_unlock(&d->mu);
	wake(d);
}

/* DET_ZK: the loop */
static void zk_open(struct ev_loop *loop, void *arg);
static void read_group(struct detector *d);

static void on_retry(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->retry_timer = 0;
	read_group(d);
}

static void retry_later(struct detector *d)
{
	if (!d->retry_timer)
		d->retry_timer = ev_timer_add(d->loop, RETRY_MS, on_retry, d);
}

/* Only reads: ZK_CHILDREN, ZK_GET, ZK_EXISTS. Nothing here writes. */
static void start_op(struct detector *d, enum zk_op_type type, const char *path, bool watch)
{
	struct zk_op *op = zk_op_new(type, path);
	op->watch = watch;
	op->done = op_done;
	op->arg = d;
	if (zk_start(d->zk, op) != 0) {
		zk_op_free(op);
		retry_later(d); /* the session is gone: its renewal reads again */
		return;
	}
	d->inflight = op;
}

static void read_group(struct detector *d)
{
	if (!d->zk || !d->connected)
		return;
	if (d->inflight) {
		d->reread = true;
		return;
	}
	d->reread = false;
	start_op(d, ZK_CHILDREN, zk_conn_path(d->zk), true);
}

/* A read failed: name it unless the connection is the problem (then the
 * session's events decide: kept leader, "no contact", or expiry), and
 * read again soon. */
static void read_failed(struct detector *d, const char *path, int rc)
{
	char why[400];
	snprintf(why, sizeof why, "reading %s in ZooKeeper %s: %s", path, zk_conn_ensemble(d->zk),
		 zk_strerror(rc));
	bool conn = rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
		    rc == ZSESSIONMOVED || rc == ZCLOSING || rc == ZINVALIDSTATE;
	if (conn) {
		log_debug("detector_zk_read", "reason=%s", log_qs(why));
	} else {
		log_warn("detector_zk_failed", "reason=%s", log_qs(why));
		answer(d, NULL, why);
	}
	retry_later(d);
}

/* The group's children -> its leader (det_group_leader: the rules of
 * src/zookeeper/group.cpp and src/zookeeper/detector.cpp), whose data is
 * read and parsed by label as src/master/detector/zookeeper.cpp
 * ZooKeeperMasterDetectorProcess::fetched() does: "json.info"
 * (MASTER_INFO_JSON_LABEL, src/master/constants.hpp) is MasterInfo JSON;
 * "info" (MASTER_INFO_LABEL, protobuf, deprecated since 0.24, MESOS-2340)
 * and no label (a bare UPID, older still) are what masters older than 0.24
 * wrote: not supported here, and said so; any other label Mesos refuses
 * too ("Failed to parse data of unknown label"). */
static void on_children(struct detector *d, struct zk_op *op)
{
	const char *path = zk_conn_path(d->zk);
	char why[400];
	if (op->rc == ZNONODE) {
		/* Mesos's group gives up on a non-retryable error; we keep
		 * watching, so the path's creation is noticed */
		snprintf(why, sizeof why,
			 "znode %s does not exist in ZooKeeper %s (no Mesos master "
			 "uses this path: check --master)",
			 path, zk_conn_ensemble(d->zk));
		answer(d, NULL, why);
		start_op(d, ZK_EXISTS, path, true);
		return;
	}
	if (op->rc != ZOK) {
		read_failed(d, path, op->rc);
		return;
	}
	char label[64];
	long i = det_group_leader((const char *const *)op->children, op->nchildren, label,
				  sizeof label);
	if (i < 0) {
		snprintf(why, sizeof why,
			 "no json.info_ znode under %s in ZooKeeper %s (no master "
			 "elected yet, or --master names the wrong path)",
			 path, zk_conn_ensemble(d->zk));
		answer(d, NULL, why);
		return;
	}
	const char *name = op->children[i];
	if (strcmp(label, "json.info") != 0) {
		if (strcmp(label, "info") == 0 || !label[0])
			snprintf(
				why, sizeof why,
				"the leading master's znode %s/%.100s is not "
				"json.info_ but the protobuf/UPID format of Mesos before 0.24 (not "
				"supported: masters 1.4 and later write json.info_)",
				path, name);
		else
			snprintf(why, sizeof why,
				 "the leading member %s/%.100s is not json.info_ "
				 "(unknown label '%.60s'; Mesos refuses it too)",
				 path, name, label);
		answer(d, NULL, why);
		return;
	}
	/* Mesos reads "<label>_%010d" (group.cpp zkBasename); for the names
	 * ZooKeeper gives sequential znodes that is the child's own name */
	char child[ZK_PATH_MAX + 260];
	snprintf(child, sizeof child, "%s/%.250s", path, name);
	start_op(d, ZK_GET, child, false);
}

static void on_data(struct detector *d, struct zk_op *op)
{
	char why[440];
	if (op->rc == ZNONODE) {
		d->reread = true; /* the leader went while we read it */
		return;
	}
	if (op->rc != ZOK) {
		read_failed(d, op->path, op->rc);
		return;
	}
	struct det_leader l;
	char err[200];
	if (det_masterinfo_parse(op->data, op->data ? op->len : 0, d->spec.scheme, &l, err,
				 sizeof err) != 0) {
		snprintf(why, sizeof why, "znode %.200s is not MasterInfo JSON: %.180s", op->path,
			 err);
		answer(d, NULL, why);
		return;
	}
	answer(d, &l, NULL);
}

static void on_exists(struct detector *d, struct zk_op *op)
{
	if (op->rc == ZOK)
		read_group(d); /* created meanwhile */
	else if (op->rc != ZNONODE)
		read_failed(d, op->path, op->rc);
	/* ZNONODE: the exists watch tells us when it appears */
}

static void on_no_contact(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->contact_timer = 0;
	if (d->connected)
		return;
	char why[400];
	snprintf(why, sizeof why, "no contact with ZooKeeper %.300s for %d ms", d->spec.display,
		 d->session_timeout_ms);
	/* the session is as good as expired: the leader it showed may be gone */
	answer(d, NULL, why);
}

static void start_contact_timer(struct detector *d)
{
	if (!d->contact_timer)
		d->contact_timer =
			ev_timer_add(d->loop, (uint64_t)d->session_timeout_ms, on_no_contact, d);
}

static void on_renew(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->timer = 0;
	if (zk_conn_renew(d->zk) != 0) {
		d->timer = ev_timer_add(d->loop, REOPEN_MS, on_renew, d);
		return;
	}
	start_contact_timer(d);
}

static void on_session(struct detector *d, int state)
{
	if (state == ZOO_CONNECTED_STATE) {
		if (!d->connected)
			log_info("detector_zk_connected", "zk=%s", log_qs(d->spec.display));
		d->connected = true;
		if (d->contact_timer) {
			ev_timer_cancel(d->loop, d->contact_timer);
			d->contact_timer = 0;
		}
		d->reread = true; /* watches may have been missed: read afresh */
		return;
	}
	bool was = d->connected;
	d->connected = false;
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
		char why[400];
		snprintf(why, sizeof why, "ZooKeeper session %s (%.300s); renewing it",
			 state == ZOO_AUTH_FAILED_STATE ? "refused our credentials" : "expired",
			 d->spec.display);
		answer(d, NULL, why);
		/* expiry: a new session at once; refused credentials: not in a
		 * tight loop */
		if (!d->timer)
			d->timer = ev_timer_add(d->loop,
						state == ZOO_AUTH_FAILED_STATE ? REOPEN_MS : 0,
						on_renew, d);
	} else if (was) {
		/* disconnected, session alive: keep the leader for now, as
		 * Mesos's detector does until the session expires */
		start_contact_timer(d);
	}
}

static void on_wake(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)events;
	struct detector *d = arg;
	uint64_t n;
	ssize_t r = read(fd, &n, sizeof n);
	(void)r;
	pthread_mutex_lock(&d->mu);
	bool sess = d->ev_session, watch = d->ev_watch;
	int state = d->ev_state;
	uint64_t gen = d->ev_gen;
	d->ev_session = d->ev_watch = false;
	struct zk_op **ops = d->done;
	size_t nops = d->ndone;
	d->done = NULL;
	d->ndone = d->done_cap = 0;
	pthread_mutex_unlock(&d->mu);

	for (size_t i = 0; i < nops; i++) {
		struct zk_op *op = ops[i];
		if (op == d->inflight) {
			d->inflight = NULL;
			if (op->type == ZK_CHILDREN)
				on_children(d, op);
			else if (op->type == ZK_GET)
				on_data(d, op);
			else
				on_exists(d, op);
		}
		zk_op_free(op);
	}
	free(ops);

	/* a state of an older session (before a renewal) says nothing */
	if (sess && d->zk && gen == zk_conn_generation(d->zk))
		on_session(d, state);
	if (watch || d->reread)
		read_group(d);
}

static void zk_open(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->timer = 0;
	struct zk_opts o = {.session_timeout_ms = d->session_timeout_ms};
	char err[400];
	if (zk_conn_open(d->spec.zk, &o, &d->zk, err, sizeof err) != 0) {
		d->zk = NULL;
		char why[460];
		snprintf(why, sizeof why, "ZooKeeper %.200s: %.240s", d->spec.display, err);
		answer(d, NULL, why);
		d->timer = ev_timer_add(d->loop, REOPEN_MS, zk_open, d);
		return;
	}
	zk_conn_listen(d->zk, zk_listener, d);
	/* connected before the listener was in place: that event was missed */
	if (zk_conn_state(d->zk) == ZOO_CONNECTED_STATE) {
		pthread_mutex_lock(&d->mu);
		d->ev_session = true;
		d->ev_state = ZOO_CONNECTED_STATE;
		d->ev_gen = zk_conn_generation(d->zk);
		pthread_mutex_unlock(&d->mu);
		wake(d);
	}
	start_contact_timer(d);
}

struct detector *det_new(struct ev_loop *loop, const struct det_spec *spec,
			 int zk_session_timeout_ms, det_fn fn, void *arg)
{
	struct detector *d = qm_calloc(1, sizeof *d);
	d->loop = loop;
	d->spec = *spec;
	d->fn = fn;
	d->arg = arg;
	d->efd = -1;
	d->session_timeout_ms =
		zk_session_timeout_ms > 0 ? zk_session_timeout_ms : ZK_DEFAULT_SESSION_TIMEOUT_MS;
	if (spec->kind == DET_URLS) {
		d->timer = ev_timer_add(loop, 0, urls_fire, d);
		return d;
	}
	pthread_mutex_init(&d->mu, NULL);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0 || ev_fd_add(loop, d->efd, EV_READ, on_wake, d) != 0)
		qm_oom(); /* no fd to spare: as fatal as no memory */
	/* opened on the loop: a failure is answered, never inside det_new */
	d->timer = ev_timer_add(loop, 0, zk_open, d);
	return d;
}

/* det_failed while ZooKeeper is out of reach: repeat what we know. */
static void on_repeat(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->repeat_timer = 0;
	if (!d->force)
		return; /* answered meanwhile */
	if (d->have) {
		struct det_leader l = d->cur;
		answer(d, &l, NULL);
	} else {
		char why[400];
		snprintf(why, sizeof why, "%s",
			 d->why[0] ? d->why : "not connected to ZooKeeper yet");
		answer(d, NULL, why);
	}
}

void det_failed(struct detector *d, const char *url, const char *why)
{
	log_info("detector_candidate_failed", "master=%s reason=%s", log_qs(url ? url : ""),
		 log_qs(why ? why : ""));
	if (d->spec.kind == DET_URLS) {
		d->idx++;
		if (!d->timer)
			d->timer = ev_timer_add(d->loop, 0, urls_fire, d);
		return;
	}
	d->force = true;
	if (d->zk && d->connected)
		read_group(d); /* answered when the read completes */
	else if (!d->repeat_timer)
		d->repeat_timer = ev_timer_add(d->loop, 0, on_repeat, d);
}

struct zk_conn *det_zk(struct detector *d)
{
	return d && d->spec.kind == DET_ZK ? d->zk : NULL;
}

void det_free(struct detector *d)
{
	if (!d)
		return;
	uint64_t *timers[] = {&d->timer, &d->contact_timer, &d->retry_timer, &d->repeat_timer};
	for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
		if (*timers[i])
			ev_timer_cancel(d->loop, *timers[i]);
	if (d->spec.kind == DET_ZK) {
		if (d->zk) {
			zk_conn_unlisten(d->zk, zk_listener, d);
			zk_conn_close(d->zk); /* answers ops in flight: into d->done */
		}
		if (d->efd >= 0) {
			ev_fd_del(d->loop, d->efd);
			close(d->efd);
		}
		for (size_t i = 0; i < d->ndone; i++)
			zk_op_free(d->done[i]);
		free(d->done);
		pthread_mutex_destroy(&d->mu);
	}
	free(d);
}
