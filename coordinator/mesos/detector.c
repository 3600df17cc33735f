#include "mesos/detector.h"

#include "log.h"
#include "qm_error.h"
#include "state/zk.h"

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

/* A JSON number that is a whole number in lo..hi, else -1. */
static long long json_int(const cJSON *j, long long lo, long long hi)
{
	if (!cJSON_IsNumber(j))
		return -1;
	double v = j->valuedouble;
	if (v < (double)lo || v > (double)hi || v != (double)(long long)v)
		return -1;
	return (long long)v;
}

/* "host:port" with an IPv6 address in brackets. */
static void host_port(char *out, size_t cap, const char *host, long long port)
{
	bool v6 = strchr(host, ':') != NULL && host[0] != '[';
	snprintf(out, cap, "%s%.253s%s:%lld", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* MasterInfo (include/mesos/mesos.proto at 1.4.0 and 1.11.0: required id,
 * ip, port; optional pid, hostname, version, address, domain; 1.11 adds
 * capabilities), as JSON in a json.info_ znode: the master's contender
 * writes stringify(JSON::protobuf(info_)) (src/master/contender/
 * zookeeper.cpp), and src/master/master.cpp fills info_ from its own UPID:
 * ip = self().address.ip.in()->s_addr (network byte order, MESOS-1201),
 * port, pid "master@ip:port", address {ip as text, port, hostname}. So
 * address, pid and ip/port name the same endpoint; Mesos's scheduler
 * library (src/scheduler/scheduler.cpp, detected()) connects to the pid's.
 * We prefer address (the non-deprecated field), then pid, then ip/port,
 * then hostname (older or hand-written data). Lenient where Mesos is
 * strict: a missing id is no error here (::protobuf::parse would refuse
 * it), since only the address matters to us. */
int det_masterinfo_parse(const char *json, size_t len, const char *scheme, struct det_leader *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len > MASTERINFO_MAX) {
		snprintf(err, errlen, "MasterInfo of %zu bytes (more than %u)", len, MASTERINFO_MAX);
		return QM_EINVAL;
	}
	if (!json || len == 0) {
		snprintf(err, errlen, "empty (no MasterInfo JSON)");
		return QM_EINVAL;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!j) {
		size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
		snprintf(err, errlen, "not JSON (error at byte %zu of %zu)", at, len);
		return QM_EINVAL;
	}
	/* stout's JSON::parse (3rdparty/stout/include/stout/json.hpp, 1.4.0 and
	 * 1.11.0) refuses non-whitespace trailing characters too */
	for (const char *p = end; p && p < json + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(j);
			snprintf(err, errlen, "not JSON (trailing characters at byte %zu of %zu)",
				 (size_t)(p - json), len);
			return QM_EINVAL;
		}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(err, errlen, "JSON but not an object");
		return QM_EINVAL;
	}
	const char *sch = scheme && *scheme ? scheme : "http";
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(j, "address");
	const cJSON *aip = cJSON_GetObjectItemCaseSensitive(addr, "ip");
	const cJSON *ahost = cJSON_GetObjectItemCaseSensitive(addr, "hostname");
	long long aport = json_int(cJSON_GetObjectItemCaseSensitive(addr, "port"), 1, 65535);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "hostname");
	long long port = json_int(cJSON_GetObjectItemCaseSensitive(j, "port"), 1, 65535);
	long long ip = json_int(cJSON_GetObjectItemCaseSensitive(j, "ip"), 1, 0xffffffffLL);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
	char hp[300] = "";
	const char *from = NULL;
	if (cJSON_IsString(aip) && aip->valuestring[0] && aport > 0) {
		host_port(hp, sizeof hp, aip->valuestring, aport);
		from = "address";
	} else if (cJSON_IsString(pid) && strchr(pid->valuestring, '@')) {
		snprintf(hp, sizeof hp, "%.280s", strchr(pid->valuestring, '@') + 1);
		from = "pid";
	} else if (ip > 0 && port > 0) {
		/* s_addr read as a host integer: the first octet is the lowest
		 * byte on the little-endian hosts Mesos runs on */
		unsigned long long v = (unsigned long long)ip;
		snprintf(hp, sizeof hp, "%llu.%llu.%llu.%llu:%lld", v & 0xff, (v >> 8) & 0xff,
			 (v >> 16) & 0xff, (v >> 24) & 0xff, port);
		from = "ip";
	} else if (cJSON_IsString(ahost) && ahost->valuestring[0] && aport > 0) {
		host_port(hp, sizeof hp, ahost->valuestring, aport);
		from = "address.hostname";
	} else if (cJSON_IsString(host) && host->valuestring[0] && port > 0) {
		host_port(hp, sizeof hp, host->valuestring, port);
		from = "hostname";
	}
	if (!from) {
		snprintf(err, errlen, "no address: none of address.ip, pid, ip or hostname "
			 "with a port 1..65535");
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	char why[160];
	if (strstr(hp, "://")) {
		/* host:port only: the scheme is --master-scheme's, never the
		 * znode's (whoever can write to ZooKeeper must not pick it) */
		snprintf(err, errlen, "%s '%.100s': not host:port", from, hp);
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	if (parse_url(hp, strlen(hp), out->url, sizeof out->url, why, sizeof why) != 0) {
		snprintf(err, errlen, "%s '%.100s': %s", from, hp, why);
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

/* stout's numify<int32_t> (3rdparty/stout/include/stout/numify.hpp, 1.4.0
 * and 1.11.0): boost::lexical_cast (an optional sign, then decimal digits
 * and nothing else, within int32), or hexadecimal after "0x" or "-0x". */
static bool numify_i32(const char *s, size_t n, long *out)
{
	size_t i = 0;
	bool neg = false, plus = false;
	if (i < n && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		plus = !neg;
		i++;
	}
	int base = 10;
	if (!plus && n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	if (i == n)
		return false;
	long long v = 0;
	for (; i < n; i++) {
		int d;
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return false;
		v = v * base + d;
		if (v > 2147483648LL)
			return false;
	}
	if (neg)
		v = -v;
	if (v > 2147483647LL || (base == 16 && v < -2147483647LL))
		return false;
	*out = (long)v;
	return true;
}

long det_group_leader(const char *const *names, size_t n, char *label, size_t labelcap)
{
	long best = -1, bestseq = 0;
	const char *blabel = NULL;
	size_t blabel_len = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		size_t len = strlen(s), ntok = 0, first_len = 0, last_len = 0;
		const char *first = NULL, *last = NULL;
		/* stout strings::tokenize(name, "_"): empty pieces dropped */
		for (size_t a = 0; a < len;) {
			if (s[a] == '_') {
				a++;
				continue;
			}
			size_t b = a;
			while (b < len && s[b] != '_')
				b++;
			if (ntok++ == 0) {
				first = s + a;
				first_len = b - a;
			}
			last = s + a;
			last_len = b - a;
			a = b;
		}
		long seq;
		if (ntok == 0 || !numify_i32(last, last_len, &seq))
			continue; /* "log_replicas" and the like: no member */
		/* group.cpp keeps one label per sequence in a hashmap, the child
		 * listed later overwriting: so a tie goes to the later name */
		if (best < 0 || seq <= bestseq) {
			best = (long)i;
			bestseq = seq;
			blabel = ntok > 1 ? first : NULL;
			blabel_len = ntok > 1 ? first_len : 0;
		}
	}
	if (label && labelcap)
		snprintf(label, labelcap, "%.*s", (int)blabel_len, blabel ? blabel : "");
	return best;
}

/* --- the detector ------------------------------------------------------- */

#define RETRY_MS 1000u

struct detector {
	struct ev_loop *loop;
	struct det_spec spec;
	det_fn fn;
	void *arg;
	int session_timeout_ms;
	uint64_t timer;         /* DET_URLS: next answer; DET_ZK: open / renew */
	size_t idx;             /* DET_URLS: current candidate */

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
	bool have;              /* `cur` is the answer last given */
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
	snprintf(why, sizeof why, "reading %s in ZooKeeper %s: %s", path,
		 zk_conn_ensemble(d->zk), zk_strerror(rc));
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
		snprintf(why, sizeof why, "znode %s does not exist in ZooKeeper %s (no Mesos master "
			 "uses this path: check --master)", path, zk_conn_ensemble(d->zk));
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
		snprintf(why, sizeof why, "no json.info_ znode under %s in ZooKeeper %s (no master "
			 "elected yet, or --master names the wrong path)", path,
			 zk_conn_ensemble(d->zk));
		answer(d, NULL, why);
		return;
	}
	const char *name = op->children[i];
	if (strcmp(label, "json.info") != 0) {
		if (strcmp(label, "info") == 0 || !label[0])
			snprintf(why, sizeof why, "the leading master's znode %s/%.100s is not "
				 "json.info_ but the protobuf/UPID format of Mesos before 0.24 (not "
				 "supported: masters 1.4 and later write json.info_)", path, name);
		else
			snprintf(why, sizeof why, "the leading member %s/%.100s is not json.info_ "
				 "(unknown label '%.60s'; Mesos refuses it too)", path, name, label);
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
