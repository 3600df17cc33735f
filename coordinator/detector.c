#include "detector.h"

#include "log.h"
#include "qm_error.h"
#include "zk.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MASTERINFO_MAX (64u * 1024u)
#define REOPEN_MS 2000u
#define DEFAULT_PORT 5050

/* --- parsing (pure) ------------------------------------------------------ */

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* "host:port", "[v6]:port", "host" -> "scheme://host:port". */
static int parse_url(const char *s, size_t n, char *out, size_t cap, char *why, size_t wl)
{
	const char *scheme = "http";
	if (n >= 7 && strncmp(s, "http://", 7) == 0) {
		s += 7;
		n -= 7;
	} else if (n >= 8 && strncmp(s, "https://", 8) == 0) {
		scheme = "https";
		s += 8;
		n -= 8;
	} else if (memmem(s, n, "://", 3)) {
		snprintf(why, wl, "only http:// and https:// masters (or one zk:// URL) are supported");
		return QM_EINVAL;
	}
	/* an optional trailing "/" and nothing else: the scheduler path is ours */
	const char *slash = memchr(s, '/', n);
	if (slash) {
		if ((size_t)(slash - s) != n - 1) {
			snprintf(why, wl, "a master URL has no path (the API is at /api/v1/scheduler)");
			return QM_EINVAL;
		}
		n--;
	}
	size_t hl;
	const char *colon;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1) {
			snprintf(why, wl, "bad IPv6 address");
			return QM_EINVAL;
		}
		for (const char *p = s + 1; p < close; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
				snprintf(why, wl, "bad IPv6 address");
				return QM_EINVAL;
			}
		hl = (size_t)(close - s) + 1;
		colon = hl < n ? s + hl : NULL;
		if (colon && *colon != ':') {
			snprintf(why, wl, "expected ':' after the IPv6 address");
			return QM_EINVAL;
		}
	} else {
		colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
		for (size_t i = 0; i < hl; i++)
			if (!host_char(s[i])) {
				snprintf(why, wl, "bad character in host name");
				return QM_EINVAL;
			}
	}
	if (hl == 0) {
		snprintf(why, wl, "no host");
		return QM_EINVAL;
	}
	if (hl > 253) {
		snprintf(why, wl, "host name longer than 253 characters");
		return QM_EINVAL;
	}
	long port = DEFAULT_PORT;
	if (colon) {
		const char *p = colon + 1;
		size_t pl = n - (size_t)(p - s);
		port = 0;
		if (pl == 0 || pl > 5) {
			snprintf(why, wl, "bad port");
			return QM_EINVAL;
		}
		for (size_t i = 0; i < pl; i++) {
			if (p[i] < '0' || p[i] > '9') {
				snprintf(why, wl, "bad port");
				return QM_EINVAL;
			}
			port = port * 10 + (p[i] - '0');
		}
		if (port < 1 || port > 65535) {
			snprintf(why, wl, "port out of range 1..65535");
			return QM_EINVAL;
		}
	}
	snprintf(out, cap, "%s://%.*s:%ld", scheme, (int)hl, s, port);
	return 0;
}

int det_spec_parse(const char *master, const char *scheme, struct det_spec *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (scheme && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "master scheme '%.20s' is neither http nor https", scheme);
		return QM_EINVAL;
	}
	snprintf(out->scheme, sizeof out->scheme, "%s", scheme ? scheme : "http");
	if (!master || !*master) {
		snprintf(err, errlen, "no master given");
		return QM_EINVAL;
	}
	if (strlen(master) > 1000) {
		snprintf(err, errlen, "master longer than 1000 characters");
		return QM_EINVAL;
	}
	for (const char *p = master; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen, "master '%.80s' contains a blank or control character",
				 master);
			return QM_EINVAL;
		}
	if (strncmp(master, "zk://", 5) == 0) {
		struct zk_url u;
		char why[256];
		if (zk_url_parse(master, &u, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s", why);
			return QM_EINVAL;
		}
		out->kind = DET_ZK;
		snprintf(out->zk, sizeof out->zk, "%s", master);
		snprintf(out->display, sizeof out->display, "%.1000s", u.display);
		return 0;
	}
	out->kind = DET_URLS;
	const char *p = master;
	for (size_t i = 1;; i++) {
		size_t n = strcspn(p, ",");
		char why[160];
		if (n == 0) {
			snprintf(err, errlen, "master list entry %zu is empty", i);
			return QM_EINVAL;
		}
		if (out->nurls == DET_MAX_URLS) {
			snprintf(err, errlen, "more than %d masters in the list", DET_MAX_URLS);
			return QM_EINVAL;
		}
		if (parse_url(p, n, out->urls[out->nurls], sizeof out->urls[0], why, sizeof why)) {
			if (i == 1 && !p[n])
				snprintf(err, errlen, "master '%.*s': %s", (int)(n > 200 ? 200 : n), p,
					 why);
			else
				snprintf(err, errlen, "master list entry %zu '%.*s': %s", i,
					 (int)(n > 200 ? 200 : n), p, why);
			return QM_EINVAL;
		}
		out->nurls++;
		if (!p[n])
			break;
		p += n + 1;
	}
	snprintf(out->display, sizeof out->display, "%s", master);
	return 0;
}

/* MasterInfo (include/mesos/v1/mesos.proto, as JSON in a json.info_ znode,
 * written by src/master/contender/zookeeper.cpp through
 * JSON::protobuf(MasterInfo)): address {hostname, ip, port} since 0.24, pid
 * "master@ip:port" always, hostname and port. */
int det_masterinfo_parse(const char *json, size_t len, const char *scheme, struct det_leader *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len > MASTERINFO_MAX) {
		snprintf(err, errlen, "MasterInfo of %zu bytes (more than %u)", len, MASTERINFO_MAX);
		return QM_EINVAL;
	}
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(err, errlen, "not a JSON object");
		return QM_EINVAL;
	}
	const char *sch = scheme && *scheme ? scheme : "http";
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(j, "address");
	const cJSON *aip = cJSON_GetObjectItemCaseSensitive(addr, "ip");
	const cJSON *ahost = cJSON_GetObjectItemCaseSensitive(addr, "hostname");
	const cJSON *aport = cJSON_GetObjectItemCaseSensitive(addr, "port");
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "hostname");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(j, "port");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
	char hp[300] = "";
	if (cJSON_IsString(aip) && cJSON_IsNumber(aport)) {
		snprintf(hp, sizeof hp, "%.253s:%d", aip->valuestring, aport->valueint);
	} else if (cJSON_IsString(pid) && strchr(pid->valuestring, '@')) {
		snprintf(hp, sizeof hp, "%.280s", strchr(pid->valuestring, '@') + 1);
	} else if (cJSON_IsString(host) && cJSON_IsNumber(port)) {
		snprintf(hp, sizeof hp, "%.253s:%d", host->valuestring, port->valueint);
	}
	char why[160];
	int rv = hp[0] ? parse_url(hp, strlen(hp), out->url, sizeof out->url, why, sizeof why)
		       : QM_EINVAL;
	if (rv != 0) {
		snprintf(err, errlen, "%s", hp[0] ? why : "no address, pid or hostname+port");
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	if (strcmp(sch, "https") == 0) {
		char tmp[DET_URL_MAX + 2];
		snprintf(tmp, sizeof tmp, "https%s", out->url + 4);
		if (strlen(tmp) > DET_URL_MAX) {
			snprintf(err, errlen, "address too long");
			cJSON_Delete(j);
			return QM_EINVAL;
		}
		memcpy(out->url, tmp, strlen(tmp) + 1);
	}
	if (cJSON_IsString(id))
		snprintf(out->id, sizeof out->id, "%s", id->valuestring);
	if (cJSON_IsString(ver))
		snprintf(out->version, sizeof out->version, "%s", ver->valuestring);
	const cJSON *hn = cJSON_IsString(host) ? host : cJSON_IsString(ahost) ? ahost : NULL;
	if (hn)
		snprintf(out->hostname, sizeof out->hostname, "%s", hn->valuestring);
	cJSON_Delete(j);
	return 0;
}

/* --- the detector ------------------------------------------------------- */

struct detector {
	struct ev_loop *loop;
	struct det_spec spec;
	det_fn fn;
	void *arg;
	int session_timeout_ms;
	uint64_t timer;      /* DET_URLS: next answer; DET_ZK: reopen / no-contact */
	size_t idx;          /* DET_URLS: current candidate */

	/* DET_ZK. Client threads (listener, op callbacks) only queue under mu
	 * and wake the loop through efd; everything else is on the loop. */
	struct zk_conn *zk;
	int efd;
	pthread_mutex_t mu;
	struct zk_op **done;
	size_t ndone, done_cap;
	bool ev_session, ev_watch;
	int ev_state;
	bool reading;        /* a CHILDREN or GET in flight */
	bool reread;         /* the group changed while reading */
	bool force;          /* det_failed: answer even if unchanged */
	bool connected;
	bool have;           /* `cur` is the answer last given */
	struct det_leader cur;
	char why[400];       /* the last "no leader" answer */
	uint64_t contact_timer;
};

static void answer(struct detector *d, const struct det_leader *l, const char *why)
{
	bool force = d->force;
	d->force = false;
	if (l) {
		if (!force && d->have && strcmp(d->cur.url, l->url) == 0)
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
static void zk_open(struct detector *d);

static void on_reopen(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->timer = 0;
	zk_open(d);
}

static void start_op(struct detector *d, enum zk_op_type type, const char *path, bool watch)
{
	struct zk_op *op = zk_op_new(type, path);
	op->watch = watch;
	op->done = op_done;
	op->arg = d;
	if (zk_start(d->zk, op) != 0) {
		zk_op_free(op);
		d->reading = false;
		return; /* the session is gone: its renewal reads again */
	}
	d->reading = true;
}

static void read_group(struct detector *d)
{
	if (!d->zk || !d->connected)
		return;
	if (d->reading) {
		d->reread = true;
		return;
	}
	d->reread = false;
	start_op(d, ZK_CHILDREN, zk_conn_path(d->zk), true);
}

/* src/zookeeper/group.cpp (1.4.0 ... 1.11.0): a member znode is
 * "<label>_<sequence>" (the part after the last '_' must be a number; other
 * children are ignored); src/zookeeper/detector.cpp: the leader is the
 * member with the lowest sequence, whatever its label;
 * src/master/detector/zookeeper.cpp: its data is parsed by label, and
 * "json.info" (MASTER_INFO_JSON_LABEL, src/master/constants.cpp) is JSON
 * MasterInfo. Masters since 0.24 write only json.info_ znodes; the protobuf
 * "info_" format of older ones is reported, not read. */
static void on_children(struct detector *d, struct zk_op *op)
{
	const char *path = zk_conn_path(d->zk);
	char why[400];
	if (op->rc == ZNONODE) {
		snprintf(why, sizeof why, "znode %s does not exist in ZooKeeper %s (no Mesos master "
			 "uses this path: check --master)", path, zk_conn_ensemble(d->zk));
		answer(d, NULL, why);
		/* notice when it appears */
		start_op(d, ZK_EXISTS, path, true);
		return;
	}
	if (op->rc != ZOK) {
		snprintf(why, sizeof why, "reading %s: %s", path, zk_strerror(op->rc));
		log_warn("detector_zk_failed", "reason=%s", log_qs(why));
		return; /* a connection loss: read again on reconnection */
	}
	long best = -1;
	const char *best_name = NULL;
	for (size_t i = 0; i < op->nchildren; i++) {
		const char *name = op->children[i];
		const char *us = strrchr(name, '_');
		if (!us || !us[1] || strlen(us + 1) > 10)
			continue;
		char *end;
		errno = 0;
		long seq = strtol(us + 1, &end, 10);
		if (*end || errno || seq < 0 || seq > 2147483647L)
			continue;
		if (best < 0 || seq < best) {
			best = seq;
			best_name = name;
		}
	}
	if (!best_name) {
		snprintf(why, sizeof why, "no master in the group %s of ZooKeeper %s (no json.info_ "
			 "znode: no master is elected yet)", path, zk_conn_ensemble(d->zk));
		answer(d, NULL, why);
		return;
	}
	size_t ll = (size_t)(strrchr(best_name, '_') - best_name);
	if (ll != 9 || strncmp(best_name, "json.info", 9) != 0) {
		snprintf(why, sizeof why, "the leading master's znode %s/%.100s is not json.info_ "
			 "MasterInfo (Mesos before 0.24 is not supported)", path, best_name);
		answer(d, NULL, why);
		return;
	}
	char child[ZK_PATH_MAX + 128];
	snprintf(child, sizeof child, "%s/%s", path, best_name);
	start_op(d, ZK_GET, child, false);
}

static void on_data(struct detector *d, struct zk_op *op)
{
	char why[400];
	if (op->rc == ZNONODE) {
		read_group(d); /* the leader went while we read it */
		return;
	}
	if (op->rc != ZOK) {
		snprintf(why, sizeof why, "reading %s: %s", op->path, zk_strerror(op->rc));
		log_warn("detector_zk_failed", "reason=%s", log_qs(why));
		return;
	}
	struct det_leader l;
	char err[200];
	if (det_masterinfo_parse(op->data ? op->data : "", op->data ? op->len : 0,
				 d->spec.scheme, &l, err, sizeof err) != 0) {
		snprintf(why, sizeof why, "znode %s is not MasterInfo JSON: %s", op->path, err);
		answer(d, NULL, why);
		return;
	}
	answer(d, &l, NULL);
}

static void on_no_contact(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct detector *d = arg;
	d->contact_timer = 0;
	if (d->connected)
		return;
	char why[400];
	snprintf(why, sizeof why, "no contact with ZooKeeper %s for %d ms",
		 zk_conn_ensemble(d->zk), d->session_timeout_ms);
	/* the session is as good as expired: the leader it showed may be gone */
	answer(d, NULL, why);
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
	d->ev_session = d->ev_watch = false;
	struct zk_op **ops = d->done;
	size_t nops = d->ndone;
	d->done = NULL;
	d->ndone = d->done_cap = 0;
	pthread_mutex_unlock(&d->mu);

	for (size_t i = 0; i < nops; i++) {
		struct zk_op *op = ops[i];
		d->reading = false;
		if (op->type == ZK_CHILDREN)
			on_children(d, op);
		else if (op->type == ZK_GET)
			on_data(d, op);
		else if (op->type == ZK_EXISTS && op->rc == ZOK)
			read_group(d);
		zk_op_free(op);
	}
	free(ops);

	if (sess) {
		if (state == ZOO_CONNECTED_STATE) {
			if (!d->connected)
				log_info("detector_zk_connected", "zk=%s", log_qs(d->spec.display));
			d->connected = true;
			if (d->contact_timer) {
				ev_timer_cancel(d->loop, d->contact_timer);
				d->contact_timer = 0;
			}
			watch = true;
		} else {
			bool was = d->connected;
			d->connected = false;
			d->reading = false;
			if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
				char why[400];
				snprintf(why, sizeof why, "ZooKeeper session %s (%.300s); reconnecting",
					 state == ZOO_AUTH_FAILED_STATE ? "refused our credentials"
									: "expired",
					 d->spec.display);
				answer(d, NULL, why);
				if (zk_conn_renew(d->zk) != 0)
					log_warn("detector_zk_failed", "reason=%s",
						 log_qs("could not renew the session"));
			} else if (was && !d->contact_timer) {
				/* disconnected, session alive: keep the leader for now,
				 * as Mesos's detector does until the session expires */
				d->contact_timer = ev_timer_add(d->loop, (uint64_t)d->session_timeout_ms,
								on_no_contact, d);
			}
		}
	}
	if (watch || (d->reread && !d->reading))
		read_group(d);
}

static void zk_open(struct detector *d)
{
	struct zk_opts o = {.session_timeout_ms = d->session_timeout_ms};
	char err[400];
	if (zk_conn_open(d->spec.zk, &o, &d->zk, err, sizeof err) != 0) {
		d->zk = NULL;
		char why[460];
		snprintf(why, sizeof why, "ZooKeeper %.200s: %.240s", d->spec.display, err);
		answer(d, NULL, why);
		d->timer = ev_timer_add(d->loop, REOPEN_MS, on_reopen, d);
		return;
	}
	zk_conn_listen(d->zk, zk_listener, d);
	d->contact_timer = ev_timer_add(d->loop, (uint64_t)d->session_timeout_ms, on_no_contact, d);
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
	zk_open(d);
	return d;
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
		read_group(d);
	/* not connected: the next answer comes with the connection */
}

void det_free(struct detector *d)
{
	if (!d)
		return;
	if (d->timer)
		ev_timer_cancel(d->loop, d->timer);
	if (d->contact_timer)
		ev_timer_cancel(d->loop, d->contact_timer);
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
