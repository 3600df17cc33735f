/* One ZooKeeper connection (Debian's multi-threaded C client,
 * libzookeeper_mt). A coordinator holds exactly one session on its state
 * ensemble: state_open (state.h) makes the connection and owns it, and the
 * state store (store_zk) and leader election (leader) borrow it. Master
 * detection (mesos/detector) has its own, to the Mesos ensemble.
 *
 * URL: zk://[user:password@]host[:port][,host[:port]...]/path (zk_url.h).
 *
 * Sessions. The client connects in the background; zk_conn_open never
 * blocks on the network. When the ensemble expires the session (we were
 * partitioned for longer than the session timeout), the handle is dead for
 * good and must be replaced: zk_conn_renew() does that, and zk_run() does it
 * by itself. Each session gets a new generation number, and listeners see
 * every session state change and every watch event tagged with it.
 *
 * Operations are asynchronous (zk_start: the done callback runs exactly
 * once, on a ZooKeeper client thread, or on the owner thread inside
 * zk_conn_close/zk_conn_renew with rc ZCLOSING for operations the client
 * never answered) or synchronous with a deadline (zk_run: waits for the
 * session and then for all given operations, at most op_timeout_ms).
 *
 * Threads: one owner thread (the coordinator's loop) calls everything here
 * except that listeners and done callbacks run on the client's threads; they
 * must only hand work over (ev_post) and must not call back into zk_conn.
 * Out of memory aborts (qm_oom). */
#ifndef QM_ZK_H
#define QM_ZK_H

#include "state/zk_url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zookeeper/zookeeper.h>

#define ZK_DEFAULT_SESSION_TIMEOUT_MS 10000
#define ZK_DEFAULT_OP_TIMEOUT_MS 15000
/* Largest znode payload we write. ZooKeeper refuses requests larger than
 * jute.maxbuffer (1 MiB - 1 byte by default) including path and headers. */
#define ZK_ZNODE_MAX (1000u * 1000u)

struct zk_opts {
	int session_timeout_ms; /* 0 = ZK_DEFAULT_SESSION_TIMEOUT_MS; the
				   server clamps it to [2, 20] x its tickTime */
	int op_timeout_ms;      /* bound of one zk_run; 0 = default */
};

struct zk_conn;

/* Parse url and start connecting (in the background). opts may be NULL.
 * Returns 0 and *out, or QM_EINVAL (bad URL) / QM_EIO (the client could not
 * be started, e.g. no host name resolves) with err set. */
int zk_conn_open(const char *url, const struct zk_opts *opts,
		 struct zk_conn **out, char *err, size_t errlen);

/* Close the session (the server deletes its ephemeral znodes at once),
 * answer unanswered operations with ZCLOSING, free. While connected it
 * first waits up to min(op_timeout_ms, 5 s) for operations in flight (e.g.
 * a store's fire-and-forget chunk deletions) and then up to ~4.5 s for the
 * server to acknowledge the close. NULL is fine. Listeners must have been
 * removed. */
void zk_conn_close(struct zk_conn *c);

const char *zk_conn_path(const struct zk_conn *c);      /* "/quobyte" */
const char *zk_conn_ensemble(const struct zk_conn *c);  /* "h1:2181,..." */
const char *zk_conn_display(const struct zk_conn *c);   /* masked URL */
bool zk_conn_has_auth(const struct zk_conn *c);
int zk_conn_op_timeout_ms(const struct zk_conn *c);

/* Generation of the current session (1 for the first; +1 per renewal). */
uint64_t zk_conn_generation(const struct zk_conn *c);
/* State of the current session: ZOO_CONNECTED_STATE, ZOO_CONNECTING_STATE,
 * ZOO_EXPIRED_SESSION_STATE, ZOO_AUTH_FAILED_STATE, ... */
int zk_conn_state(struct zk_conn *c);
/* Id of the current session, 0 before it first connected. */
int64_t zk_conn_session_id(struct zk_conn *c);
/* The session timeout in force: the negotiated one, capped at the one asked
 * for. Any thread. */
int zk_conn_session_timeout_ms(struct zk_conn *c);
/* Id and password of the current session as the client holds them (valid
 * once connected): for diagnostics and tests (e.g. to expire a session). */
clientid_t zk_conn_client_id(struct zk_conn *c);

/* Replace the session when it is expired or its authentication failed
 * (else a no-op returning 0): closes the old handle (its ephemeral znodes
 * are gone already) and starts a new session in the background. 0 or
 * QM_EIO. Owner thread. */
int zk_conn_renew(struct zk_conn *c);

/* Events of the current session, as the client reports them:
 * type ZOO_SESSION_EVENT with a new state (path ""), or a watch firing
 * (ZOO_CREATED_EVENT, ZOO_DELETED_EVENT, ZOO_CHANGED_EVENT,
 * ZOO_CHILD_EVENT) on path. session_id is set for ZOO_CONNECTED_STATE. */
struct zk_event {
	uint64_t generation;
	int type;
	int state;
	int64_t session_id;
	const char *path; /* valid during the call only */
};
typedef void (*zk_listener_fn)(void *arg, const struct zk_event *ev);

/* Add/remove a listener (at most 8). Called on a client thread, with a lock
 * held that zk_conn_unlisten also takes: after unlisten returns, the
 * listener is never called again. The listener must not call zk_conn_*. */
int zk_conn_listen(struct zk_conn *c, zk_listener_fn fn, void *arg);
void zk_conn_unlisten(struct zk_conn *c, zk_listener_fn fn, void *arg);

/* ---- operations ----------------------------------------------------- */

enum zk_op_type {
	ZK_GET,      /* data + stat of path (watch: a data watch) */
	ZK_EXISTS,   /* stat of path; ZNONODE if absent (watch: exists watch) */
	ZK_CHILDREN, /* names of path's children (watch: child watch) */
	ZK_CREATE,   /* path with data, create_mode; created = actual path */
	ZK_SET,      /* data of path if its version is `version` (-1: any) */
	ZK_DELETE    /* path if its version is `version` (-1: any) */
};

struct zk_op;
typedef void (*zk_done_fn)(struct zk_op *op, void *arg);

struct zk_op {
	/* request, set by the caller (zk_op_new + the setters) */
	enum zk_op_type type;
	char *path;
	char *data;          /* CREATE/SET input; GET output (may be NULL) */
	size_t len;
	int version;         /* SET/DELETE; -1 = any (the default) */
	int create_mode;     /* CREATE: ZOO_PERSISTENT (default),
				ZOO_EPHEMERAL_SEQUENTIAL, ... */
	bool watch;          /* GET/EXISTS/CHILDREN: leave a watch; it fires
				once, as an event to the listeners */
	/* CREATE/SET only: when set, the write is one transaction (zoo_multi)
	 * with "fence exists": it fails, changing nothing, once that znode is
	 * gone (e.g. our election znode after we lost leadership); then
	 * fence_failed is true and rc the check's error (ZNONODE). */
	char *fence;
	zk_done_fn done;     /* zk_start only */
	void *arg;
	int tag;             /* free for the caller */
	uint64_t seq;        /* free for the caller */

	/* results, valid once done */
	int rc;              /* ZOK, ZNONODE, ZNODEEXISTS, ZBADVERSION, ... */
	bool fence_failed;
	struct Stat stat;    /* GET, EXISTS, SET */
	char *created;       /* CREATE: the new znode's path */
	char **children;     /* CHILDREN, nchildren names (not sorted) */
	size_t nchildren;

	/* private */
	struct zk_session *sess_;
	struct zk_op *prev_, *next_;
	zoo_op_t mops_[2];
	zoo_op_result_t mres_[2];
	char *cbuf_;
	bool finished_;
	bool answered_;     /* zk_run: seen by its waiter */
};

/* A new operation of type on path (copied); version -1, ZOO_PERSISTENT. */
struct zk_op *zk_op_new(enum zk_op_type type, const char *path);
/* Copy data into op->data (CREATE/SET); NULL/0 stores empty data. */
void zk_op_set_data(struct zk_op *op, const void *data, size_t len);
/* Copy the fence path (NULL clears it). */
void zk_op_set_fence(struct zk_op *op, const char *fence);
/* Free an operation and its results; not while it is in flight. NULL ok. */
void zk_op_free(struct zk_op *op);

/* Start op on the current session. 0: op->done(op, op->arg) runs exactly
 * once later (see the top of this file) and the op must not be touched or
 * freed before. Non-zero (QM_EIO: session expired or closed, QM_EINVAL: bad
 * path): done never runs. Owner thread. */
int zk_start(struct zk_conn *c, struct zk_op *op);

/* Run ops[0..n) (pipelined, in order: ZooKeeper executes one session's
 * requests in the order sent) and wait until all are answered, at most
 * op_timeout_ms in total including waiting for the session to connect
 * (renewing an expired one). 0: every op answered, each with its own rc;
 * the caller still owns and frees them. Else the ops are taken over (freed
 * now or when the client answers them) and the array entries set to NULL:
 * QM_ETIMEDOUT (the ensemble did not answer in time: err names it and says
 * whether we were connected), QM_EAUTH (authentication failed), QM_EIO.
 * Owner thread; blocks. */
int zk_run(struct zk_conn *c, struct zk_op **ops, size_t n, char *err,
	   size_t errlen);

/* Text for a ZooKeeper return code (zerror), and its project error:
 * ZNOAUTH/ZAUTHFAILED -> QM_EAUTH, ZOPERATIONTIMEOUT -> QM_ETIMEDOUT,
 * ZNONODE -> QM_ENOENT, ZBADVERSION/ZNODEEXISTS -> QM_ECONFLICT, other
 * failures -> QM_EIO; ZOK -> 0. */
const char *zk_strerror(int zrc);
int zk_to_qm(int zrc);

/* True for the codes that mean "we do not know whether the server applied
 * the write": the connection broke or the session ended before the answer. */
bool zk_rc_uncertain(int zrc);

/* Name of a session state for logs ("connected", "connecting", ...). */
const char *zk_state_name(int state);

#endif
