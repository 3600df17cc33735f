"""A fault campaign: rounds of random faults on a cluster of two
coordinators (ZooKeeper election and store), the emulated master, three
agents with real probers and loop disks, while every round runs a rolling
upgrade and now and then a disk change. After every round the invariants
are checked; at the end a summary table.

  QM_CHAOS_ROUNDS  rounds (default 100; scripts/test.sh runs a CI-sized 6)
  QM_CHAOS_SEED    random seed (default: a new one, printed)
  QM_CHAOS_FAULTS  comma-separated fault kinds to draw from (default all)

Faults (1 or 2 per round, each at a random moment of the round's upgrade):
  coord_kill       SIGKILL of the leading coordinator, restarted at once
  coord_stop       SIGSTOP of the leader past its ZooKeeper session, SIGCONT
  stream_drop      the master cuts the event stream
  master_503       the master answers 503 for a few calls
  zk_restart       the ZooKeeper server stopped and started again
  prober_kill      a prober task fails (the coordinator relaunches it)
  disk_remount     a data disk unmounted and mounted again within the grace
  marker_rewrite   a marker rewritten with the same content
  agent_partition  an agent unreachable, then back
  agent_remove     an agent removed by the operator (MARK_AGENT_GONE: its
                   tasks TASK_GONE_BY_OPERATOR, its processes and its
                   reservations gone), then the same host registers again
                   as Mesos has it: a NEW agent id (a gone id never comes
                   back, src/master/master.cpp markGone, 1.4.0 .. 1.11.0);
                   the node's pinned services must return on the new agent
  master_failover  the leading master hands leadership to the other one
                   (the new leader starts empty, agents re-register)
  master_kill      the leading master dies (listener closed, streams cut);
                   the other leads once its ZooKeeper session would have
                   expired (the emulator's --zk-session-timeout), then the
                   dead one starts again as a standby

The coordinators are given both masters as a list (--master
http://a,http://b); the control API moves to a listener of its own so that
it survives a dead master. A full disk under the file store does not apply:
the campaign's coordinators keep their state in ZooKeeper.

Invariants (after every round, on the whole journal):
  at most one live task per (service, node)          overlap_violations
  no service task on a node without a device of its type
  every marked disk of every node in the leader's state
  no live task on a removed agent (its services back on the new agent id:
  the convergence check counts tasks by hostname)
  no UNRESERVE or DESTROY operation, ever
  convergence to the target (exact tasks, all at the round's version,
  probers reporting to the leader) within CONVERGE_S
  every status update acknowledged exactly once      finish(): ack_once
"""

import collections
import json
import os
import shutil
import subprocess
import random
import signal
import time
import unittest

import audit
import qmtest
import zkcluster
from e2e import E2ETestCase, task_service, wait_until
from zkcluster import (FailoverTestCase, overlap_violations, wait_converged)

ROUNDS = int(os.environ.get("QM_CHAOS_ROUNDS", "100"))
CONVERGE_S = 90
MAX_DELAY = 2.5
# services that need a device of their own name's type
DISK_SERVICES = ("registry", "metadata", "data")
# the emulator's masters: a dead leader's session lasts this long (seconds)
MASTER_SESSION_S = 2

def dump_stacks(members):
    """Every live coordinator's threads (gdb, when installed) into its log
    directory: a round that does not converge may be a loop blocked on
    something. Returns a line for the notes."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "no gdb: no stacks of the coordinators"
    out = []
    for m in members:
        if m.proc is None or not m.alive():
            continue
        path = os.path.join(m.logs, "stacks.txt")
        with open(path, "w") as f:
            subprocess.run([gdb, "-p", str(m.proc.pid), "-batch",
                            "-ex", "thread apply all bt 25"], stdout=f,
                           stderr=subprocess.STDOUT, timeout=60, check=False)
        out.append(path)
    return "coordinator stacks: %s" % (", ".join(out) or "none alive")


class ChaosTest(FailoverTestCase):

    LISTENERS = 2
    EMULATOR_EXTRA = ("--control-listen", "127.0.0.1:0",
                      "--zk-session-timeout", str(MASTER_SESSION_S))

    def setUp(self):
        super().setUp()
        emu = self.cluster.emulator
        plain, control = emu.control, emu.ready["control"]

        def control_on_its_listener(action, body=None, method=None,
                                    address=None, expect=200):
            return plain(action, body, method, address or control, expect)
        emu.control = control_on_its_listener
        # A removed agent returns under a new id, which a suppressed
        # framework only sees after its periodic REVIVE (agent discovery,
        # --revive-interval, default 5m: beyond CONVERGE_S); the campaign
        # revives every 10 s so that agent_remove converges within bound.
        self.coord_extra = ["--removal-grace", "20s", "--master", ",".join(
            "http://" + a for a in emu.addresses), "--revive-interval", "10s"]

    def test_fault_campaign(self):
        seed = os.environ.get("QM_CHAOS_SEED") or str(random.randrange(1 << 32))
        rnd = random.Random(int(seed))
        self.note("seed %s (QM_CHAOS_SEED), %d rounds" % (seed, ROUNDS))
        c = self.cluster
        c.standard_disks()
        a, b = self.member("a"), self.member("b")
        # a removal grace no disk_remount outlasts
        for m in (a, b):
            m.start(extra=self.coord_extra)
        leader = self.wait_leader()
        c.wait_reporting()
        status, _, body = leader.post_version("3.2.0")
        self.assertEqual(status, 200, body)
        wait_converged(c, leader, version="3.2.0", timeout=CONVERGE_S)

        faults = {
            "coord_kill": self.coord_kill,
            "coord_stop": self.coord_stop,
            "stream_drop": lambda: c.emulator.control("stream/drop", {}),
            "master_503": self.master_503,
            "zk_restart": self.zk_restart,
            "prober_kill": lambda: self.prober_kill(rnd),
            "disk_remount": lambda: self.disk_remount(rnd),
            "marker_rewrite": lambda: self.marker_rewrite(rnd),
            "agent_partition": lambda: self.agent_partition(rnd),
            "agent_remove": lambda: self.agent_remove(rnd),
            "master_failover": self.master_failover,
            "master_kill": self.master_kill,
        }
        only = [k for k in os.environ.get("QM_CHAOS_FAULTS", "").split(",")
                if k]
        unknown = sorted(set(only) - set(faults))
        self.assertEqual(unknown, [], "QM_CHAOS_FAULTS: unknown kinds")
        if only:
            faults = {k: faults[k] for k in only}
        counts = collections.Counter()
        converge = []
        violations = []
        t_start = time.time()
        for i in range(1, ROUNDS + 1):
            version = "3.2.%d" % i
            leader = self.wait_leader(timeout=zkcluster.SESSION_TIMEOUT + 30)
            status, _, body = leader.post_version(version)
            self.assertEqual(status, 200, "round %d: %s" % (i, body))
            t0 = time.time()
            kinds = rnd.sample(sorted(faults),
                               min(len(faults), rnd.choice((1, 2))))
            for kind in kinds:
                time.sleep(rnd.uniform(0, MAX_DELAY / len(kinds)))
                faults[kind]()
                counts[kind] += 1
            leader = self.wait_leader(timeout=zkcluster.SESSION_TIMEOUT + 30)
            try:
                wait_converged(c, leader, version=version, timeout=CONVERGE_S)
            except AssertionError as e:
                # the table so far, then the failure
                self.note("stopped in round %d; %d rounds converged: %s"
                          % (i, len(converge), ", ".join(
                              "%s %d" % kv for kv in sorted(counts.items()))))
                if converge:
                    self.note("slowest convergence so far %.1fs (round %d: "
                              "%s)" % (max(converge)[0], max(converge)[1],
                                       ",".join(max(converge)[2])))
                self.note(dump_stacks(self.members))
                raise AssertionError("round %d (faults %s, seed %s): %s"
                                     % (i, kinds, seed, e))
            converge.append((time.time() - t0, i, kinds))
            problems = self.invariants(leader)
            violations += ["round %d (%s): %s" % (i, ",".join(kinds), p)
                           for p in problems]
            self.assertEqual(problems, [], "round %d, faults %s, seed %s"
                             % (i, kinds, seed))

        slow = max(converge)
        lines = ["%d rounds in %.0fs, seed %s" % (ROUNDS, time.time() - t_start,
                                                   seed),
                 "%-16s %6s" % ("fault", "count")]
        lines += ["%-16s %6d" % (k, counts[k]) for k in sorted(faults)]
        times = sorted(t for t, _, _ in converge)
        lines.append("invariant violations: %d" % len(violations))
        lines.append("convergence after the POST: median %.1fs, slowest "
                     "%.1fs (round %d: %s)" % (times[len(times) // 2], slow[0],
                                              slow[1], ",".join(slow[2])))
        # Calls the faults themselves cut: 403 "not subscribed" (the
        # stream was dropped under calls in flight), 400 "stream ID ...
        # didn't match" (a coordinator woken from SIGSTOP, or a call in
        # flight over a re-SUBSCRIBE: the master's fence working) and 5xx.
        # Any other refusal is a malformed call: a bug.
        rejected = collections.Counter()
        bad = []
        for r in c.journal():
            status = int(r.get("status") or 0) if r.get("direction") == "call" else 0
            if status < 400:
                continue
            why = str(r.get("reason") or "")
            rejected["%s %d" % (r.get("call_type"), status)] += 1
            if not (status >= 500 or (status == 403 and "not subscribed" in why)
                    or (status == 400 and "stream ID" in why)):
                bad.append("line %d: %s %d %s" % (r["_line"], r.get("call_type"),
                                                  status, why))
        lines.append("calls the faults cut: %s" % (", ".join(
            "%s x%d" % kv for kv in sorted(rejected.items())) or "none"))
        self.note("\n    ".join(lines))
        self.assertEqual(bad, [], "calls refused for another reason")
        self.finish(leader, audit_checks=tuple(
            ch for ch in audit.ALL_CHECKS if ch != "rejected_calls"))

    # -- faults -------------------------------------------------------------

    def current_leader(self):
        return self.wait_leader(timeout=zkcluster.SESSION_TIMEOUT + 30)

    def coord_kill(self):
        victim = self.current_leader()
        victim.kill()
        victim.start(extra=self.coord_extra)

    def coord_stop(self):
        victim = self.current_leader()
        os.kill(victim.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(zkcluster.SESSION_TIMEOUT + 1)
        finally:
            os.kill(victim.proc.pid, signal.SIGCONT)

    def master_503(self):
        self.cluster.emulator.control("unavailable", {"count": 3})

    def zk_restart(self):
        self.zk.stop()
        time.sleep(0.5)
        self.zk.start()

    def prober_kill(self, rnd):
        probers = [t for t in self.cluster.emulator.live_tasks()
                   if task_service(t["task_id"]) == "prober" and
                   t["state"] == "TASK_RUNNING"]
        if probers:
            t = rnd.choice(probers)
            self.cluster.emulator.control(
                "task/fail", {"task_id": t["task_id"], "message": "chaos"},
                expect=None)

    def data_disks(self):
        return sorted(mp for mp in self.cluster.disks
                      if os.path.basename(mp) == "data")

    def disk_remount(self, rnd):
        mp = rnd.choice(self.data_disks())
        lo, m = self.cluster.disks[mp]
        qmtest.run(["umount", mp])
        time.sleep(rnd.uniform(0.1, 1.0))
        qmtest.run(["mount", lo.path, mp])

    def marker_rewrite(self, rnd):
        mp = rnd.choice(self.data_disks())
        self.cluster.mark(mp, ["DATA_DEVICE"])

    def agent_partition(self, rnd):
        host = rnd.choice(["agent2", "agent3"])
        emu = self.cluster.emulator
        emu.control("agent/unreachable", {"hostname": host})
        time.sleep(rnd.uniform(0.5, 2.0))
        emu.control("agent/reregister", {"hostname": host})

    def agent_remove(self, rnd):
        host = rnd.choice(self.cluster.hosts)
        emu = self.cluster.emulator
        emu.control("agent/remove", {"hostname": host})
        time.sleep(rnd.uniform(0.5, 2.0))
        self.cluster.add_agent(host)  # a new agent id

    def leading_master(self):
        return self.cluster.emulator.control("state").get("leader")

    def master_failover(self):
        emu = self.cluster.emulator
        old = self.leading_master()
        new = [a for a in emu.addresses if a != old][0]
        emu.control("leader", {"leader": new})

    def master_kill(self):
        emu = self.cluster.emulator
        old = self.leading_master()
        emu.control("master/kill", {"address": old})
        time.sleep(MASTER_SESSION_S + 1)
        emu.control("master/start", {"address": old})

    # -- invariants ----------------------------------------------------------

    def invariants(self, leader):
        c = self.cluster
        problems = []
        records = c.journal()
        hosts = zkcluster.agent_hosts(c)
        problems += ["overlap: %s" % v for v in overlap_violations(records, hosts)]
        for r in records:
            if r.get("direction") != "call":
                continue
            text = json.dumps(r.get("body", {}))
            if '"UNRESERVE"' in text or '"DESTROY"' in text:
                problems.append("line %d: %s" % (r["_line"], text[:200]))
        # a removed agent never returns under its old id: nothing may live
        # there, and every host runs on its one current agent
        agents = c.emulator.control("agents")["agents"]
        gone = {a["agent_id"] for a in agents if a.get("gone")}
        for t in c.emulator.live_tasks():
            if t["agent_id"] in gone:
                problems.append("%s lives on the removed agent %s"
                                % (t["task_id"], t["agent_id"]))
        state = leader.state()
        nodes = {n["hostname"]: n for n in state["nodes"]}
        for t in c.emulator.live_tasks():
            svc = task_service(t["task_id"])
            if svc not in DISK_SERVICES:
                continue
            host = hosts.get(t["agent_id"])
            node = nodes.get(host, {})
            types = {ty for d in node.get("devices", [])
                     if d.get("state") in ("ok", "probe_timeout")
                     for ty in d.get("types", [])}
            if svc not in types:
                problems.append("%s runs on %s without a %s device"
                                % (t["task_id"], host, svc))
        for mp in c.disks:
            host = os.path.basename(os.path.dirname(mp))
            roots = {d["root"] for d in nodes.get(host, {}).get("devices", [])}
            if mp not in roots:
                problems.append("%s of %s missing from the leader's state"
                                % (mp, host))
        return problems


class OverlapCheckTest(unittest.TestCase):
    """The overlap invariant on hand-made journals (no cluster)."""

    @staticmethod
    def journal(*steps):
        recs = []
        for step in steps:
            kind, tid = step[0], step[1]
            if kind == "launch":
                info = {"task_id": {"value": tid},
                        "agent_id": {"value": step[2]},
                        "labels": {"labels": [{"key": "version",
                                               "value": "1.0"}]}}
                recs.append({"direction": "call", "call_type": "ACCEPT",
                             "status": 202, "body": {"accept": {
                                 "operations": [{"launch": {
                                     "task_infos": [info]}}]}}})
            else:
                recs.append({"direction": "event", "event": {
                    "type": "UPDATE", "update": {"status": {
                        "task_id": {"value": tid}, "state": kind}}}})
        for i, r in enumerate(recs):
            r["_line"] = i + 1
        return recs

    def test_api_replaced_while_unreachable_is_no_overlap(self):
        a, b = "quobyte-api.agent3.1", "quobyte-api.agent1.2"
        # replaced after the unreachable grace: allowed (plan_rules.c)
        self.assertEqual(overlap_violations(self.journal(
            ("launch", a, "S2"), ("TASK_RUNNING", a),
            ("TASK_UNREACHABLE", a), ("launch", b, "S0"),
            ("TASK_RUNNING", a), ("TASK_KILLED", a)), {}), [])
        # a second one while the first is reachable: a violation
        self.assertEqual(len(overlap_violations(self.journal(
            ("launch", a, "S2"), ("TASK_RUNNING", a),
            ("launch", b, "S0")), {})), 1)
        # back from unreachable, it counts again
        self.assertEqual(len(overlap_violations(self.journal(
            ("launch", a, "S2"), ("TASK_UNREACHABLE", a),
            ("TASK_RUNNING", a), ("launch", b, "S0")), {})), 1)
        # unreachable still holds its node
        self.assertEqual(len(overlap_violations(self.journal(
            ("launch", a, "S2"), ("TASK_UNREACHABLE", a),
            ("launch", "quobyte-api.agent3.3", "S2")), {})), 1)


class AgentReturnTest(E2ETestCase):
    """A removed agent that comes back (the chaos campaign's agent_remove,
    alone, with the coordinator's default --revive-interval of 5 minutes
    as e2e.Coordinator passes it)."""

    def test_removed_agent_returns_under_a_new_id(self):
        c = self.cluster
        c.standard_disks()
        c.start_coordinator()
        c.wait_reporting()
        c.set_version("3.2.0")
        c.wait_running(zkcluster.STANDARD, timeout=CONVERGE_S)
        c.quiesce()
        old = c.emulator.control("agent/remove", {"hostname": "agent2"})
        new = c.add_agent("agent2")
        self.assertNotEqual(old["agent_id"], new["agent_id"])
        # a new id on the same host replaces the lost agent: offers stay
        # revived while it is missing, so the default 5 min revive interval
        # does not delay its prober and services
        c.wait_running(zkcluster.STANDARD, timeout=30)

        def no_stale_line():
            return not [p for p in c.state().get("problems", [])
                        if "agent2 is inactive" in p]
        wait_until(no_stale_line, 30,
                   what="no problem line about the removed agent2")
        c.finish(self)


class LeaderAgainTest(FailoverTestCase):
    """Round 34 of the campaign (seed 20261204): a coordinator that led,
    stood by while the other led, and leads again must not plan with the
    agents of its earlier term. Here agent3 is removed and returns under
    a new id while coordinator X stands by; X leads again."""

    def test_agent_removed_while_standing_by(self):
        c = self.cluster
        c.standard_disks()
        members = [self.member("a"), self.member("b")]
        extra = ["--removal-grace", "20s", "--revive-interval", "10s"]
        for m in members:
            m.start(extra=extra)
        x = self.wait_leader()
        c.wait_reporting()
        status, _, body = x.post_version("3.2.0")
        self.assertEqual(status, 200, body)
        wait_converged(c, x, version="3.2.0", timeout=CONVERGE_S)
        # x loses its session (paused past it) and stands again
        os.kill(x.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(zkcluster.SESSION_TIMEOUT + 1)
        finally:
            os.kill(x.proc.pid, signal.SIGCONT)
        y = self.wait_leader(timeout=zkcluster.SESSION_TIMEOUT + 30)
        self.assertIsNot(y, x)
        wait_converged(c, y, version="3.2.0", timeout=CONVERGE_S)
        c.emulator.control("agent/remove", {"hostname": "agent3"})
        c.add_agent("agent3")  # a new agent id
        wait_converged(c, y, version="3.2.0", timeout=CONVERGE_S)
        y.kill()
        x2 = self.wait_leader(timeout=zkcluster.SESSION_TIMEOUT + 30)
        self.assertIs(x2, x)
        status, _, body = x.post_version("3.2.1")
        self.assertEqual(status, 200, body)
        wait_converged(c, x, version="3.2.1", timeout=60)
        y.start(extra=extra)
        self.wait_leader()
        self.finish(x)
