#!/usr/bin/env python3
"""Failover time: the leading coordinator SIGKILLed -> the follower
subscribed and reconciled.

The cluster is the failover tests' (tests/e2e/zkcluster.py on top of
tests/e2e/e2e.py): the Mesos master emulator with three agents, a private
ZooKeeper server (tests/zk/zkserver.sh), two coordinators standing for
election with --zk (their own REST and bus ports and state dirs, one
secret), real probers and four ext4 loop disks; the target version is set
and every service runs (six service tasks and three probers). Each round
SIGKILLs the leader, starts it again at once (it follows), and measures from
the kill (this process's time.time()) to

  session expired   the ZooKeeper server expiring the dead leader's session
                    ("Expiring session 0x..." in its log, millisecond stamps)
  SUBSCRIBE         the new leader's SUBSCRIBE call, as the emulator's
                    journal stamps it (after answering it)
  first RECONCILE   its first RECONCILE call (the explicit one, with every
                    stored task, and the implicit one go out together)
  reconciled        the last reconciliation update (REASON_RECONCILIATION)
                    answering a task the explicit RECONCILE named
  converged         every prober replaced (they were launched with the old
                    leader's bus URL) and reporting, exactly the desired
                    tasks running, the leader knowing exactly them (polled
                    every 0.1 s)

then waits for a quiet cluster before the next round. One machine, one
clock (the ZooKeeper log is in local time). Numbers are printed, never
judged. Needs root, java and Debian's zookeeper package.

  python3 tests/bench/failover.py [--rounds 20] [--session-timeout 2]

QM_BUILD_DIR defaults to build-release (as for every benchmark).
"""

import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
# the optimised build, as for every benchmark (benchlib's default), as a
# real path: --prober-command takes no '..'
os.environ.setdefault("QM_BUILD_DIR", os.path.realpath(
    os.path.join(HERE, "..", "..", "build-release")))

import benchlib  # noqa: E402
import e2e  # noqa: E402
import zkcluster  # noqa: E402
from e2e import RESOURCES, qmtest, wait_until  # noqa: E402

EXPIRY = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .*"
                    r"Expiring session (0x[0-9a-f]+)")


def session_of(proc):
    """The last ZooKeeper session id (0x...) a coordinator connected with."""
    sid = None
    for rec in proc.log_events("zk_session"):
        if rec.get("state") == "connected":
            sid = rec.get("session")
    return sid


def expiry_time(zk_dir, sid):
    """time.time() of the server's expiry of session sid, or None."""
    try:
        with open(os.path.join(zk_dir, "zk.log"), errors="replace") as f:
            for line in f:
                m = EXPIRY.match(line)
                if m and int(m.group(3), 16) == int(sid, 16):
                    t = time.mktime(time.strptime(m.group(1),
                                                  "%Y-%m-%d %H:%M:%S"))
                    return t + int(m.group(2)) / 1000.0
    except OSError:
        pass
    return None


def reconcile_answered(records, sub, rec_call):
    """ts of the last reconciliation update (reason REASON_RECONCILIATION,
    on the stream SUBSCRIBE `sub` opened) answering a task the explicit
    RECONCILE rec_call named: the first such update of each task counts.
    The emulator may journal an answer before the call itself, so the
    search starts at the SUBSCRIBE. None when one is missing."""
    wanted = {t["task_id"]["value"] for t in
              rec_call["body"]["reconcile"].get("tasks") or []}
    last = None
    for r in records:
        if r["_line"] <= sub["_line"] or not wanted:
            continue
        if r.get("direction") != "event" or \
                r.get("stream_id") != sub.get("stream_id"):
            continue
        ev = r.get("event") or {}
        if ev.get("type") != "UPDATE":
            continue
        st = ev["update"]["status"]
        if st.get("reason") != "REASON_RECONCILIATION":
            continue
        tid = st["task_id"]["value"]
        if tid in wanted:
            wanted.discard(tid)
            last = r["ts"]
    return last if not wanted else None


def row(name, values):
    v = sorted(values)
    if not v:
        return "%-44s %4d" % (name, 0)
    ms = [x * 1000 for x in v]
    return "%-44s %4d %8.0f %8.0f %8.0f %8.0f" % (
        name, len(v), benchlib.percentile(ms, 50), benchlib.percentile(ms, 99),
        ms[-1], ms[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--session-timeout", type=float,
                    default=zkcluster.SESSION_TIMEOUT,
                    help="--zk-session-timeout of both coordinators, in "
                    "seconds (default %(default)s; the coordinator's own "
                    "default is 10)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("failover bench: needs root (loop devices, mkfs, mount)")
        return 1
    print(benchlib.build_info())
    print("logs: %s" % e2e.log_dir())
    cluster = e2e.Cluster("bench.failover")
    try:
        return run(cluster, args)
    finally:
        RESOURCES.release_all()


def run(cluster, args):
    c = cluster
    zk = zkcluster.ZooKeeperServer(os.path.join(c.root, "zk"), c.logs)
    secret = os.path.join(c.root, "cluster.secret")
    with open(secret, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    c.standard_disks()
    members = [zkcluster.Member(c, n, zk.url(), secret) for n in "ab"]
    a, b = members
    a.start(session_timeout=args.session_timeout)
    wait_until(a.acting, 20, interval=0.05, what="a acting")
    b.start(session_timeout=args.session_timeout)
    leader = zkcluster.wait_one_leader(c, members)
    c.wait_reporting()
    status, _, body = leader.post_version(zkcluster.VERSION)
    if status != 200:
        raise RuntimeError("POST /v1/version: %d %r" % (status, body))
    zkcluster.wait_converged(c, leader, version=zkcluster.VERSION)
    c.quiesce()

    m = {k: [] for k in ("expired", "subscribe", "reconcile", "answered",
                         "converged", "own")}
    for i in range(args.rounds):
        victim = leader
        sid = session_of(victim.proc)
        t0 = time.time()
        victim.kill()
        victim.start(session_timeout=args.session_timeout)
        leader = zkcluster.wait_one_leader(
            c, members, timeout=args.session_timeout + 30, exclude=(victim,))
        zkcluster.wait_converged(c, leader, version=zkcluster.VERSION)
        t_conv = time.time()
        records = c.journal()
        subs = [r for r in zkcluster.calls_of(records, leader.webui,
                                              "SUBSCRIBE")
                if r.get("status") == 200 and r["ts"] >= t0]
        recs = [r for r in zkcluster.calls_of(records, leader.webui,
                                              "RECONCILE")
                if subs and r["_line"] > subs[0]["_line"]]
        expired = expiry_time(zk.dir, sid) if sid else None
        line = "round %2d: %s -> %s" % (i + 1, victim.name, leader.name)
        if subs:
            m["subscribe"].append(subs[0]["ts"] - t0)
            line += "  SUBSCRIBE %5.0f ms" % ((subs[0]["ts"] - t0) * 1000)
        if recs:
            m["reconcile"].append(recs[0]["ts"] - t0)
            line += "  RECONCILE %5.0f ms" % ((recs[0]["ts"] - t0) * 1000)
            explicit = [r for r in recs
                        if r["body"]["reconcile"].get("tasks")]
            done = explicit and reconcile_answered(records, subs[0],
                                                   explicit[0])
            if done:
                m["answered"].append(done - t0)
        if expired is not None and 0 <= expired - t0 < 120:
            m["expired"].append(expired - t0)
            line += "  session expired %5.0f ms" % ((expired - t0) * 1000)
            if subs:
                m["own"].append(subs[0]["ts"] - expired)
        m["converged"].append(t_conv - t0)
        print(line)
        sys.stdout.flush()
        c.quiesce()

    print()
    print("failover: leader SIGKILLed, %d rounds, --zk-session-timeout %gs "
          "(ZooKeeper tickTime 500 ms), 3 agents, 6 services + 3 probers"
          % (args.rounds, args.session_timeout))
    print("%-44s %4s %8s %8s %8s %8s" % ("from the SIGKILL (ms)", "n", "p50",
                                         "p99", "max", "min"))
    print(row("-> session expired (ZooKeeper server)", m["expired"]))
    print(row("-> follower's SUBSCRIBE", m["subscribe"]))
    print(row("-> its first RECONCILE", m["reconcile"]))
    print(row("-> explicit RECONCILE answered (all tasks)",
            m["answered"]))
    print(row("-> converged (probers replaced, reporting)", m["converged"]))
    print(row("session expired -> SUBSCRIBE", m["own"]))
    if m["subscribe"]:
        p50 = benchlib.percentile(sorted(m["subscribe"]), 50)
        print("session timeout share of kill -> SUBSCRIBE (p50): %.0f%% "
              "(%gs of %.2fs)" % (100 * args.session_timeout / p50,
                                  args.session_timeout, p50))
        if m["expired"]:
            pe = benchlib.percentile(sorted(m["expired"]), 50)
            print("server-side expiry share (p50): %.0f%% (%.2fs of %.2fs)"
                  % (100 * pe / p50, pe, p50))
    print("command: python3 tests/bench/failover.py --rounds %d "
          "--session-timeout %g   (QM_BUILD_DIR=%s)"
          % (args.rounds, args.session_timeout,
             os.path.realpath(qmtest.build_dir())))
    # the coordinators: clean exit, the follower first
    for mem in [x for x in members if x is not leader] + [leader]:
        if mem.alive():
            rc = mem.stop()
            if rc != 0:
                print("%r: exit status %s on SIGTERM" % (mem, rc))
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
