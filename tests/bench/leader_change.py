#!/usr/bin/env python3
"""Mesos leader change -> the coordinator subscribed to the new leader.

The coordinator runs with --master zk://.../mesos against the Mesos master
emulator with two masters publishing themselves in a private real ZooKeeper
as Mesos does (json.info_ znodes, tests/emulator/emu_zk.py), one agent and
its prober. Each round does one of two things, alternately:

  moved    the leadership moves to the other master (the old leader's znode
           goes, the other's is now the lowest): from the emulator's
           leader_changed note to the SUBSCRIBE on the new leader;
  killed   the leader dies (its listener refuses connections, its streams
           are cut); its znode outlives it by the masters' ZooKeeper session
           timeout (--session-timeout), then the other master leads: from
           the kill to the SUBSCRIBE on the survivor, and from the election
           (leader_changed) to that SUBSCRIBE.

Times are the emulator journal's stamps (one process, one clock). The goal
of issue 8: killed -> SUBSCRIBE under the session timeout + 2 s. Numbers are
printed, never judged.

  python3 tests/bench/leader_change.py [--rounds 20] [--session-timeout 2]

QM_BUILD_DIR defaults to build-release (as for every benchmark).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
os.environ.setdefault("QM_BUILD_DIR", os.path.realpath(
    os.path.join(HERE, "..", "..", "build-release")))

import benchlib  # noqa: E402
import e2e  # noqa: E402
import zkcluster  # noqa: E402
from e2e import RESOURCES, qmtest, wait_until  # noqa: E402


def subscribed_on(cluster, listener, since):
    for r in cluster.journal():
        if r.get("direction") == "call" and r.get("call_type") == \
                "SUBSCRIBE" and r.get("status") == 200 and \
                r.get("listener") == listener and r["ts"] >= since:
            return r["ts"]
    return None


def note_ts(cluster, what, since):
    for r in cluster.journal():
        if r.get("direction") == "note" and r.get("what") == what and \
                r["ts"] >= since:
            return r["ts"]
    return None


def row(name, values):
    v = sorted(x * 1000 for x in values)
    if not v:
        return "%-40s %4d" % (name, 0)
    return "%-40s %4d %8.0f %8.0f %8.0f %8.0f" % (
        name, len(v), benchlib.percentile(v, 50), benchlib.percentile(v, 99),
        v[-1], v[0])


def run(cluster, zk, args):
    emu = cluster.emulator
    cluster.start_coordinator(["--master", zk.url("/mesos"),
                               "--zk-session-timeout", "2s"])
    cluster.wait_running({"prober": cluster.hosts})
    m = {"moved": [], "killed": [], "elected": []}
    for i in range(args.rounds):
        leader = emu.control("state")["leader"]
        other = [a for a in emu.addresses if a != leader][0]
        t = time.time()
        if i % 2 == 0:
            emu.control("leader", {"leader": other})
            sub = wait_until(lambda: subscribed_on(cluster, other, t), 30,
                             interval=0.02, what="SUBSCRIBE after the move")
            moved = note_ts(cluster, "leader_changed", t)
            m["moved"].append(sub - moved)
            print("round %2d: moved  %s -> %s  SUBSCRIBE %5.0f ms"
                  % (i + 1, leader, other, (sub - moved) * 1000))
        else:
            emu.control("master/kill", {"address": leader})
            killed = note_ts(cluster, "master_killed", t)
            sub = wait_until(lambda: subscribed_on(cluster, other, t),
                             args.session_timeout + 30, interval=0.02,
                             what="SUBSCRIBE on the survivor")
            elected = note_ts(cluster, "leader_changed", t)
            m["killed"].append(sub - killed)
            m["elected"].append(sub - elected)
            print("round %2d: killed %s -> %s  SUBSCRIBE %5.0f ms after the "
                  "kill, %4.0f ms after the election"
                  % (i + 1, leader, other, (sub - killed) * 1000,
                     (sub - elected) * 1000))
            emu.control("master/start", {"address": leader})
        sys.stdout.flush()
        cluster.wait_subscribed(timeout=30)
    print()
    print("leader change: %d rounds, masters' ZooKeeper session timeout %gs"
          % (args.rounds, args.session_timeout))
    print("%-40s %4s %8s %8s %8s %8s" % ("to SUBSCRIBE on the new leader (ms)",
                                         "n", "p50", "p99", "max", "min"))
    print(row("leadership moved (from the change)", m["moved"]))
    print(row("leader killed (from the kill)", m["killed"]))
    print(row("leader killed (from the election)", m["elected"]))
    c = cluster.coordinator
    rc, _ = c.stop(timeout=15)
    if rc != 0 or c.sanitizer_findings():
        print("leader_change bench: coordinator exit %s %s"
              % (rc, c.sanitizer_findings()))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--session-timeout", type=float, default=2.0,
                    help="how long a killed master's znode outlives it, in "
                    "seconds (default %(default)s)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("leader_change bench: needs root")
        return 1
    print(benchlib.build_info())
    print("logs: %s" % e2e.log_dir())
    d = tempfile.mkdtemp(prefix="qm-bench-lc-", dir=qmtest.TMP_PARENT)
    try:
        zk = zkcluster.ZooKeeperServer(os.path.join(d, "zk"), d)
        cluster = e2e.Cluster(
            "bench.leader_change", nagents=1, listeners=2,
            emulator_extra=("--zk", zk.url("/mesos"), "--zk-session-timeout",
                            str(args.session_timeout)))
        return run(cluster, zk, args)
    finally:
        RESOURCES.release_all()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
