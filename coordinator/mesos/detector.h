/* Finding the leading Mesos master, as Mesos's own scheduler drivers do
 * (src/master/detector/ in apache/mesos, 1.4.0 ... 1.11.0).
 *
 * `--master` takes one of:
 *   - a single URL: "http://host:5050", "https://host:5050", "host:5050";
 *   - a comma-separated list of such URLs, tried in turn (the next one
 *     after each failure, round robin);
 *   - "zk://[user:pass@]host:port[,host:port...]/path": the masters' own
 *     ZooKeeper group, read exactly as Mesos's ZooKeeperMasterDetector
 *     reads it (det_group_leader in detspec.h): the member with the lowest
 *     sequence leads, whatever its label, and a "json.info_" leader's data
 *     is its MasterInfo as JSON. Masters since 0.24 write only json.info_
 *     znodes; a leading "info_" (protobuf, Mesos 0.23 and older) or
 *     unlabelled member is reported as unsupported, never skipped: skipping
 *     it would hand over a master that is not the leader. The group is
 *     watched, so a new leader is known as soon as ZooKeeper tells us.
 *     Read-only: the detector never creates, changes or deletes a znode.
 *
 * The detector hands over a leader (a base URL "scheme://host:port" and
 * what MasterInfo said) through one callback, on the loop thread, never
 * from inside a det_ call. After det_failed() it hands over the next
 * candidate (list) or the current leader again (zk: the old leader's znode
 * outlives its process by up to a ZooKeeper session timeout; the caller
 * backs off between attempts).
 *
 * Threads: everything on the owner loop; ZooKeeper callbacks only queue
 * and wake the loop. fn must not call det_free() (free from a later loop
 * callback). Out of memory aborts (qm_oom). */
#ifndef QM_DETECTOR_H
#define QM_DETECTOR_H

#include "evloop.h"
#include "mesos/detspec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* leader == NULL: no leader known; `why` says why in one line ("no
 * json.info_ znode under /mesos in ZooKeeper z1:2181 (...)", "no contact
 * with ZooKeeper z1:2181 for 10000 ms", "znode /mesos/json.info_0000000003
 * is not MasterInfo JSON: ..."). */
typedef void (*det_fn)(void *arg, const struct det_leader *leader, const char *why);

struct detector;
struct zk_conn;

/* Start detecting. The first answer comes soon through fn, never from
 * inside det_new: DET_URLS the first URL (a 0 ms timer); DET_ZK once
 * ZooKeeper answered, or "no contact" after zk_session_timeout_ms.
 * zk_session_timeout_ms 0 = default. Never NULL. */
struct detector *det_new(struct ev_loop *loop, const struct det_spec *spec,
			 int zk_session_timeout_ms, det_fn fn, void *arg);
/* The leader handed over last could not be used (url says which, why in
 * words): DET_URLS moves on to the next URL (round robin), DET_ZK re-reads
 * the group (or, while ZooKeeper is out of reach, repeats what it knows);
 * either way fn runs again soon, even with the same leader, and never from
 * inside det_failed. */
void det_failed(struct detector *d, const char *url, const char *why);
/* DET_ZK: the ZooKeeper connection the detector reads through (its own
 * session), NULL before it is open or for DET_URLS. For diagnostics and
 * tests (e.g. to expire the session); the detector keeps owning it. */
struct zk_conn *det_zk(struct detector *d);
/* Stop; fn never runs afterwards. May block briefly (closing the ZooKeeper
 * session). NULL ok. */
void det_free(struct detector *d);

#endif
