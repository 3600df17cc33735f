/* Finding the leading Mesos master, as Mesos's own scheduler drivers do
 * (src/master/detector/ in apache/mesos, 1.4.0 ... 1.11.0).
 *
 * `--master` takes one of:
 *   - a single URL: "http://host:5050", "https://host:5050", "host:5050";
 *   - a comma-separated list of such URLs, tried in turn (the next one
 *     after each failure, round robin);
 *   - "zk://[user:pass@]host:port[,host:port...]/path": the masters' own
 *     ZooKeeper group. As in Mesos's ZooKeeperMasterDetector (and
 *     src/zookeeper/group.cpp): the children of /path named
 *     "<label>_<sequence>" are the contenders, the one with the lowest
 *     sequence among those whose label is "json.info" leads, and its data is
 *     the leader's MasterInfo as JSON (the protobuf "info_" znodes older
 *     releases wrote are not read). The group is watched, so a new leader is
 *     known as soon as ZooKeeper tells us.
 *
 * The detector hands over a leader (a base URL "scheme://host:port" and
 * what MasterInfo said) through one callback, on the loop thread, never
 * from inside a det_ call. After det_failed() it hands over the next
 * candidate (list) or the current leader again (zk: the old leader's znode
 * outlives its process by up to a ZooKeeper session timeout; the caller
 * backs off between attempts).
 *
 * Threads: everything on the owner loop; ZooKeeper callbacks only ev_post.
 * Out of memory aborts (qm_oom). */
#ifndef QM_DETECTOR_H
#define QM_DETECTOR_H

#include "evloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DET_MAX_URLS 16
#define DET_URL_MAX 255

enum det_kind { DET_URLS, DET_ZK };

struct det_spec {
	enum det_kind kind;
	size_t nurls;                            /* DET_URLS: 1..DET_MAX_URLS */
	char urls[DET_MAX_URLS][DET_URL_MAX + 1]; /* normalised "http://h:p" */
	char zk[1024];                           /* DET_ZK: the zk:// URL */
	char scheme[8];                          /* "http"/"https" for zk leaders */
	char display[1100];                      /* for logs: password masked */
};

/* Parse --master. `scheme` ("http" or "https", NULL = "http") is what
 * leaders detected through ZooKeeper are spoken to with. 0, or QM_EINVAL
 * with one line in err naming the bad part ("master list entry 2
 * 'ftp://x': ..."). Pure. */
int det_spec_parse(const char *master, const char *scheme, struct det_spec *out,
		   char *err, size_t errlen);

struct det_leader {
	char url[DET_URL_MAX + 1]; /* "http://10.0.0.1:5050" */
	char id[128];              /* MasterInfo.id, "" if unknown */
	char version[32];          /* MasterInfo.version, "" if unknown */
	char hostname[256];        /* MasterInfo.hostname or address.hostname */
};

/* MasterInfo JSON (as in a json.info_ znode) -> leader. The address is
 * MasterInfo.address {ip, port} when present, else MasterInfo.pid
 * ("master@ip:port"), else hostname + port. 0 or QM_EINVAL with err. Pure. */
int det_masterinfo_parse(const char *json, size_t len, const char *scheme,
			 struct det_leader *out, char *err, size_t errlen);

/* leader == NULL: no leader known; `why` says why in one line ("no
 * json.info_ znode under /mesos", "ZooKeeper zk://... unreachable: ...",
 * "znode /mesos/json.info_0000000003 is not MasterInfo JSON: ..."). */
typedef void (*det_fn)(void *arg, const struct det_leader *leader, const char *why);

struct detector;

/* Start detecting. The first answer comes soon through fn (DET_URLS: the
 * first URL, at once; DET_ZK: once ZooKeeper answered).
 * zk_session_timeout_ms 0 = default. Never NULL. */
struct detector *det_new(struct ev_loop *loop, const struct det_spec *spec,
			 int zk_session_timeout_ms, det_fn fn, void *arg);
/* The leader handed over last could not be used (url says which, why in
 * words): DET_URLS moves on to the next URL, DET_ZK re-reads the group;
 * either way fn runs again soon. */
void det_failed(struct detector *d, const char *url, const char *why);
/* Stop; fn never runs afterwards. May block briefly (closing the ZooKeeper
 * session). NULL ok. */
void det_free(struct detector *d);

#endif
