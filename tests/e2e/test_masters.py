"""The real-world master: detection through ZooKeeper, a leader that
changes or dies, a redirect to a dead master, a framework the master
removed, an ACCEPT the master refuses. Run under every emulated release
(scripts/test.sh: QM_MESOS_VERSION=1.4.0 and 1.11.0)."""

import json
import os
import shutil
import sys
import tempfile
import time

import e2e
from e2e import E2ETestCase, qmtest, task_service, wait_until
from test_e2e import subscribe_fid, subscribes
from zkcluster import ZooKeeperServer

VERSION = "3.0.1"
BASE = {"registry": ["agent1"], "metadata": ["agent2"], "data": ["agent2"],
        "api": 1,
        "webconsole": 1, "prober": ["agent1", "agent2"]}
TOKEN = "e2e-masters-token"
NEXT = "3.0.2"


def mesos_of(cluster):
    """The coordinator's view of the master (/v1/health works whatever the
    phase; /v1/state only while it leads)."""
    _, _, data = cluster.rest_call("GET", "/v1/health", timeout=3)
    return json.loads(data).get("mesos") or {}


def mesos_when(cluster, pred):
    """For wait_until: the coordinator's view of the master once pred(view)
    holds, False before (or while its REST API does not answer yet)."""
    def ok():
        try:
            m = mesos_of(cluster)
        except (OSError, ValueError):
            return False
        return pred(m) and m
    return ok


def deploy(cluster, extra=()):
    cluster.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
    cluster.disk("agent2", "md", ["METADATA_DEVICE"])
    cluster.disk("agent2", "data", ["DATA_DEVICE"])
    cluster.start_coordinator(extra)
    cluster.wait_reporting()
    cluster.set_version(VERSION, token=TOKEN if "--api-token" in extra
                        else None)
    cluster.wait_running(BASE)
    cluster.quiesce()


class ZooKeeperDetectionTest(E2ETestCase):
    """--master zk://.../mesos against an emulator that publishes its
    leader as Mesos does (json.info_ znodes, MasterInfo JSON)."""

    NAGENTS = 2
    LISTENERS = 2

    def setUp(self):
        d = tempfile.mkdtemp(prefix="qm-e2e-mzk-", dir=qmtest.TMP_PARENT)
        self.addCleanup(shutil.rmtree, d, True)
        self.zk = ZooKeeperServer(os.path.join(d, "zk"), d)
        self.addCleanup(e2e.RESOURCES.release, self.zk._token)
        self.EMULATOR_EXTRA = ("--zk", self.zk.url("/mesos"),
                               "--zk-session-timeout", "2")
        super().setUp()

    def test_leader_change_through_zookeeper_and_a_dead_leader(self):
        c = self.cluster
        emu = c.emulator
        old, new = emu.addresses
        deploy(c, ["--master", self.zk.url("/mesos"),
                   "--zk-session-timeout", "2s"])
        fid = c.state()["framework_id"]
        m = mesos_of(c)
        self.assertEqual(m["phase"], "subscribed")
        self.assertEqual(m["leader"], "http://" + old)
        self.assertEqual(m["version"], e2e.MESOS_VERSION,
                         "the release comes from MasterInfo in ZooKeeper")
        self.assertNotIn("zk://", json.dumps(c.journal()[:1]))

        # 1. leadership moves: the new leader's znode is found through
        # the watch and subscribed to directly, with the same framework id
        mark = len(c.journal())
        t0 = time.monotonic()
        emu.control("leader", {"leader": new})
        wait_until(lambda: [r for r in subscribes(c.journal()[mark:])
                            if r["listener"] == new], 20,
                   what="SUBSCRIBE to the new leader")
        c.wait_subscribed()
        took = time.monotonic() - t0
        r = [r for r in subscribes(c.journal()[mark:])
             if r["listener"] == new][0]
        self.assertEqual(subscribe_fid(r), (fid, fid))
        self.assertEqual(mesos_of(c)["leader"], "http://" + new)
        changes = c.coordinator.log_events("mesos_subscribed")
        since = int(changes[-1]["since_leader_change_ms"])
        self.assertGreaterEqual(since, 0)
        self.note("ZooKeeper leader change -> SUBSCRIBED: %.0f ms "
                  "(coordinator: %d ms from detection)" % (took * 1000, since))

        # 2. the leader dies: its listener refuses connections and its
        # znode goes when its ZooKeeper session expires (2 s); the other
        # master is elected and the coordinator follows it
        mark = len(c.journal())
        t0 = time.monotonic()
        emu.control("master/kill", {"address": new})
        wait_until(lambda: [r for r in subscribes(c.journal()[mark:])
                            if r["listener"] == old], 30,
                   what="SUBSCRIBE to the surviving master")
        c.wait_subscribed()
        took = time.monotonic() - t0
        self.assertEqual(mesos_of(c)["leader"], "http://" + old)
        self.assertLess(took, 2 + 2 + 5,
                        "under the ZooKeeper session timeout + 2 s, with "
                        "slack for a loaded CI machine")
        self.note("leader killed -> SUBSCRIBED to its successor: %.1f s "
                  "(ZooKeeper session timeout 2 s)" % took)
        self.assertEqual(c.state()["framework_id"], fid)
        c.wait_running(BASE)
        emu.control("master/start", {"address": new})
        c.finish(self)


    def test_bad_groups_are_named_and_nothing_is_lost(self):
        """A path no master uses, garbage MasterInfo, a protobuf-era
        leader: each is one clear line on /v1/health while the coordinator
        keeps running, and the real group is followed once it is right."""
        c = self.cluster
        sys.path.append("/usr/lib/python3/dist-packages")
        from kazoo.client import KazooClient
        kz = KazooClient(hosts=self.zk.address)
        kz.start(timeout=15)
        self.addCleanup(kz.stop)
        c.start_coordinator(["--master", self.zk.url("/elsewhere"),
                             "--zk-session-timeout", "2s"], wait=False)

        def detection(text):
            return mesos_when(c, lambda m: m.get("phase") == "detecting" and
                              text in m.get("detection", ""))
        wait_until(detection("does not exist"), 20, what="missing znode named")
        self.assertEqual(c.health(), 503)
        kz.create("/elsewhere/json.info_0000000007", b"<html>not json",
                  makepath=True)
        wait_until(detection("is not MasterInfo JSON"), 20,
                   what="garbage MasterInfo named")
        kz.create("/elsewhere/info_0000000003", b"\x0a\x05proto")
        wait_until(detection("not json.info_"), 20,
                   what="a protobuf leader named")
        kz.delete("/elsewhere/info_0000000003")
        info = {"id": "m1", "pid": "master@" + c.emulator.address,
                "address": {"ip": c.emulator.address.split(":")[0],
                            "port": int(c.emulator.address.split(":")[1])},
                "version": e2e.MESOS_VERSION}
        kz.create("/elsewhere/json.info_0000000005",
                  json.dumps(info).encode())
        c.wait_subscribed(timeout=30)
        self.assertTrue(c.coordinator_alive())
        c.finish(self)


class ReconcileAfterMasterFailoverTest(E2ETestCase):
    """A coordinator that restarts while the master fails over subscribes to
    a new master whose agents have not reregistered yet: that master drops
    the explicit reconciliation of every task (src/master/master.cpp
    Master::_reconcileTasks, "(4) Task is unknown, slave is transitioning:
    no-op") and says nothing when the agents come back. The coordinator
    asks again, with backoff, until every task is heard of: else their
    health stays unknown and a rolling upgrade waits for the next full
    reconciliation (--reconcile-interval, 15 min). Found by the fault
    campaign (round 31 of seed 20261204: zk_restart + master_failover)."""

    NAGENTS = 2
    LISTENERS = 2
    EMULATOR_EXTRA = ("--reregister-delay", "5")

    def test_tasks_dropped_by_a_recovering_master_are_asked_again(self):
        c = self.cluster
        emu = c.emulator
        old, new = emu.addresses
        masters = "http://%s,http://%s" % (old, new)
        deploy(c, ["--master", masters])
        c.kill_coordinator()
        emu.control("leader", {"leader": new})  # empty; agents in 5 s
        mark = len(c.journal())
        t0 = time.monotonic()
        c.start_coordinator(["--master", masters])
        c.set_version(NEXT)

        def upgraded():
            done = [t["service"] for n in c.state()["nodes"]
                    for t in n["services"]
                    if t["service"] != "prober" and
                    t["state"] == "TASK_RUNNING" and
                    t.get("version") == NEXT and
                    t.get("health") == "healthy"]
            return sorted(done) == sorted(
                ["registry", "metadata", "data", "api", "webconsole"])
        wait_until(upgraded, 60, interval=0.2,
                   what="every service upgraded and healthy")
        took = time.monotonic() - t0
        records = c.journal()[mark:]
        recs = [r for r in records if r.get("direction") == "call" and
                r.get("call_type") == "RECONCILE" and
                r.get("listener") == new and
                (r.get("body") or {}).get("reconcile", {}).get("tasks")]
        self.assertGreaterEqual(len(recs), 2, "asked again after the drop")
        retried = c.coordinator.log_events("reconcile_retry")
        self.assertTrue(retried)
        self.note("restart during a master failover (agents back after "
                  "5 s): every service upgraded %.1fs after the restart; "
                  "%d explicit reconciliations" % (took, len(recs)))
        c.wait_running(BASE)
        c.finish(self)


class AgentRemovedDuringMasterFailoverTest(E2ETestCase):
    """The master fails over and, meanwhile, an operator removes agent2,
    which comes back under a new agent id (fault campaign round 67, seed
    20261204: master_failover + agent_remove). The FAILURE event that says
    the agent is gone went to nobody (the coordinator was between masters);
    the only word is reconciliation's TASK_GONE_BY_OPERATOR. The old agent
    must count as gone and be replaced by the new one: else its node (a
    prober that will never report again) keeps wanting its services and a
    rolling upgrade waits forever for them."""

    NAGENTS = 2
    LISTENERS = 2

    def test_old_agent_replaced_and_upgrade_completes(self):
        c = self.cluster
        emu = c.emulator
        old, new = emu.addresses
        deploy(c, ["--master", "http://%s,http://%s" % (old, new)])
        gone = c.node("agent2")["agent_id"]
        emu.control("leader", {"leader": new})
        emu.control("agent/remove", {"hostname": "agent2"})
        time.sleep(1)
        c.add_agent("agent2")   # a new agent id
        c.set_version(NEXT)

        def upgraded():
            st = c.state()
            ids = [n["agent_id"] for n in st["nodes"]
                   if n["hostname"] == "agent2"]
            done = [t["service"] for n in st["nodes"]
                    for t in n["services"]
                    if t["service"] != "prober" and
                    t["state"] == "TASK_RUNNING" and
                    t.get("version") == NEXT and
                    t.get("health") == "healthy"]
            return len(ids) == 1 and ids[0] != gone and sorted(done) == \
                sorted(["registry", "metadata", "data", "api", "webconsole"])
        wait_until(upgraded, 60, interval=0.2,
                   what="agent2 under its new id only, everything upgraded")
        lost = [e for e in c.coordinator.log_events("agent_lost")
                if e.get("agent_id") == gone]
        self.assertTrue(lost, "the old agent counted as gone")
        self.assertNotIn("stale", " ".join(c.state()["problems"]))
        c.wait_running(BASE)
        c.finish(self)


class MasterRefusalTest(E2ETestCase):
    NAGENTS = 2

    def test_redirect_to_a_dead_master_goes_back_to_detection(self):
        """The master says another one leads, but that one is dead: the
        redirect is followed for one attempt only, then the configured
        master is asked again (the old client kept the dead target for
        good)."""
        c = self.cluster
        emu = c.emulator
        deploy(c)
        fid = c.state()["framework_id"]
        dead = "127.0.0.1:%d" % qmtest.free_tcp_port()
        mark = len(c.journal())
        emu.control("leader", {"leader": dead})  # cuts the stream
        wait_until(lambda: len(subscribes(c.journal()[mark:], 307)) >= 3,
                   20, what="SUBSCRIBE asked again at the configured master")
        m = mesos_of(c)
        self.assertEqual(m["phase"], "connecting")
        self.assertIn(dead, m.get("last_error", "") + json.dumps(
            c.coordinator.log_events("mesos_redirected")))
        self.assertEqual(c.health(), 503)
        emu.control("leader", {"leader": emu.address})
        c.wait_subscribed(timeout=30)
        self.assertEqual(c.state()["framework_id"], fid)
        c.wait_running(BASE)
        c.finish(self)

    def test_removed_framework_is_terminal_until_the_operator_resets(self):
        c = self.cluster
        emu = c.emulator
        extra = ["--api-token", TOKEN, "--refused-retry", "60s"]
        deploy(c, extra)
        fid = c.state()["framework_id"]
        c.kill_coordinator()
        wait_until(lambda: emu.control("framework/expire",
                                       {"framework_id": fid}, expect=None)
                   .get("removed") == fid, 20,
                   what="the master removing the framework")
        mark = len(c.journal())
        c.start_coordinator(extra, wait=False)

        refused = mesos_when(c, lambda m: m.get("phase") == "refused")
        wait_until(refused, 20, what="health naming the refusal")
        status, _, data = c.rest_call("GET", "/v1/health")
        self.assertEqual(status, 503)
        h = json.loads(data)
        self.assertEqual(h["status"], "refused")
        self.assertIn("Framework has been removed", h["mesos"]["refusal"])
        self.assertIn("/v1/framework/reset", h["mesos"]["remedy"])
        time.sleep(3)
        self.assertEqual(len([r for r in c.journal()[mark:]
                              if r.get("call_type") == "SUBSCRIBE"]), 1,
                         "no hammering: one SUBSCRIBE, the next in 60 s")

        # the way out is explicit and authenticated
        status, _, _ = c.rest_call("POST", "/v1/framework/reset", "")
        self.assertEqual(status, 401)
        status, _, data = c.rest_call("POST", "/v1/framework/reset", "",
                                      {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["previous_framework_id"], fid)
        c.wait_subscribed(timeout=30)
        self.assertNotEqual(c.state()["framework_id"], fid)
        c.wait_running(BASE)
        c.finish(self)

    def probers_settled(self):
        """A registry disk on agent1, the coordinator up, every prober
        running and reporting, nothing in flight."""
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()
        c.quiesce()

    def test_unavailable_master_on_accept_is_no_task_failure(self):
        """A 503 on ACCEPT (the master is recovering or failing over) says
        nothing about the tasks: offers handed back, tasks launched again on
        the next offers with no failure backoff (the fault campaign saw a
        50 s stall after three 503s when they counted as failures)."""
        c = self.cluster
        emu = c.emulator
        self.probers_settled()
        emu.control("calls/refuse", {
            "type": "ACCEPT", "count": 1, "status": 503,
            "message": "Master has not finished recovery"})
        mark = len(c.journal())
        c.set_version("3.0.1")  # the registry's launch is the refused one
        backoffs = []

        def relaunched():
            backoffs.extend(p for p in c.state().get("problems", [])
                            if "backs off" in p)
            recs = c.journal()[mark:]
            refused = [r for r in recs if r.get("call_type") == "ACCEPT" and
                       r.get("status") == 503]
            launched = [r for r in recs if r.get("call_type") == "ACCEPT" and
                        r.get("status") in (200, 202) and refused and
                        r["_line"] > refused[0]["_line"]]
            return launched or None
        wait_until(relaunched, 30, interval=0.05,
                   what="an ACCEPT after the refused one")
        c.wait_running({"prober": c.hosts, "registry": ["agent1"]})
        self.assertEqual(backoffs, [], "a 503 is no task failure")
        self.assertTrue(c.coordinator.log_events("task_not_launched"))
        c.wait_reporting()
        c.finish(self)

    def test_failed_decline_is_sent_again(self):
        """A DECLINE the master does not take (503) leaves the offers held
        by the framework, and Mesos does not rescind them by default: sent
        again until it lands, so the agent's resources come back (the fault
        campaign saw a data service never relaunched)."""
        c = self.cluster
        emu = c.emulator
        self.probers_settled()
        # the registry's ACCEPT fails, and so does the DECLINE of its offers
        emu.control("calls/refuse", {
            "type": "ACCEPT", "count": 1, "status": 503,
            "message": "Master has not finished recovery"})
        emu.control("calls/refuse", {
            "type": "DECLINE", "count": 1, "status": 503,
            "message": "Master has not finished recovery"})
        mark = len(c.journal())
        c.set_version("3.0.1")
        c.wait_running({"prober": c.hosts, "registry": ["agent1"]}, timeout=60)

        def sent_again():
            recs = c.journal()[mark:]
            failed = [r for r in recs if r.get("call_type") == "DECLINE" and
                      r.get("status") == 503]
            if len(failed) != 1:
                return None
            ids = {o["value"]
                   for o in failed[0]["body"]["decline"]["offer_ids"]}
            return [r for r in recs if r.get("call_type") == "DECLINE" and
                    r["_line"] > failed[0]["_line"] and
                    r.get("status") != 503 and
                    ids <= {o["value"] for o in
                            r["body"]["decline"]["offer_ids"]}] or None
        wait_until(sent_again, 20, what="the failed DECLINE sent again")
        self.assertTrue([x for x in c.coordinator.log_events("mesos_call_retry")
                         if x.get("call") == "DECLINE"])
        c.finish(self)

    def test_refused_accept_hands_offers_back_and_retries(self):
        """A master that refuses an ACCEPT (400) keeps its offers
        outstanding: they are declined at once, the tasks are not counted
        as launched, and they are launched again after a backoff."""
        c = self.cluster
        emu = c.emulator
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        emu.control("calls/refuse", {
            "type": "ACCEPT", "count": 1, "status": 400,
            "message": "Failed to validate scheduler::Call: injected"})
        mark = len(c.journal())
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        recs = c.journal()[mark:]
        refused = [r for r in recs if r.get("call_type") == "ACCEPT" and
                   r.get("status") == 400]
        self.assertEqual(len(refused), 1)
        ids = [o["value"] for o in refused[0]["body"]["accept"]["offer_ids"]]
        refused_ids = {ti["task_id"]["value"]
                       for op in refused[0]["body"]["accept"]["operations"]
                       for ti in op.get("launch", {}).get("task_infos", [])}
        self.assertTrue(refused_ids)
        declines = [r for r in recs if r.get("call_type") == "DECLINE" and
                    r["_line"] > refused[0]["_line"] and
                    {o["value"] for o in r["body"]["decline"]["offer_ids"]}
                    & set(ids)]
        self.assertTrue(declines, "the refused ACCEPT's offers declined")
        self.assertTrue(c.coordinator.log_events("task_not_launched"))
        relaunched = [i for _, i in c.launches(c.journal()[mark:])
                      if i["task_id"]["value"] not in refused_ids]
        self.assertEqual(len(relaunched), len(c.hosts),
                         "every prober launched again, once")
        c.wait_reporting()
        c.finish(self)


class AgentPartitionTest(E2ETestCase):
    """An agent unreachable, then back: from Mesos 1.5.0 the master sends
    an update per task (REASON_SLAVE_REREGISTERED), 1.4.0 sends nothing and
    the coordinator has to ask (it reconciles unreachable tasks every 10 s).
    Either way the node's services are running again in the coordinator's
    view, without relaunches (found by the fault campaign: under the
    emulator's old behaviour the tasks stayed unreachable until the 15 min
    reconciliation)."""

    NAGENTS = 2

    def test_partitioned_agent_comes_back(self):
        from test_hotadd import deploy
        c = self.cluster
        emu = c.emulator
        _, want = deploy(c, "agent2")
        mark = len(c.journal())

        def unreachable_problems():
            return [p for p in c.state().get("problems", [])
                    if "unreachable" in p]
        emu.control("agent/unreachable", {"hostname": "agent2"})
        wait_until(unreachable_problems, 20,
                   what="the coordinator sees agent2's tasks unreachable")
        emu.control("agent/reregister", {"hostname": "agent2"})
        try:
            wait_until(lambda: not unreachable_problems(), 40,
                       what="agent2's tasks running again for the "
                       "coordinator")
        except TimeoutError as e:
            raise AssertionError("%s: %s" % (e, unreachable_problems()))
        c.wait_running(want)
        c.quiesce()
        relaunched = [i["task_id"]["value"] for _, i in
                      c.launches(c.journal()[mark:])
                      if task_service(i) in ("data", "prober")]
        self.assertEqual(relaunched, [], "pinned tasks came back, not anew")
        if os.environ.get("QM_MESOS_VERSION", "1.11.0") == "1.4.0":
            self.assertTrue(c.coordinator.log_events("reconcile_unreachable"))
        c.finish(self)


class HttpsCase(E2ETestCase):
    """An emulator whose masters speak https, with a certificate (for
    127.0.0.1) from a throwaway CA made here with openssl: self.pki has
    "ca", "cert", "key" and "other_ca" (PEM files)."""

    NAGENTS = 2

    def setUp(self):
        import emu_tls  # tests/emulator
        if not emu_tls.available():
            self.skipTest("no openssl command (scripts/install-deps.sh)")
        d = tempfile.mkdtemp(prefix="qm-e2e-tls-", dir=qmtest.TMP_PARENT)
        self.addCleanup(shutil.rmtree, d, True)
        self.pki = emu_tls.make_ca(d)
        # the masters' listeners speak https; the control API (which the
        # harness speaks plain http to) moves to a listener of its own
        self.EMULATOR_EXTRA = ("--tls-cert", self.pki["cert"],
                               "--tls-key", self.pki["key"],
                               "--control-listen", "127.0.0.1:0") + \
            self.more_emulator_extra(d)
        super().setUp()
        emu = self.cluster.emulator
        plain, control = emu.control, emu.ready["control"]

        def control_plain(action, body=None, method=None, address=None,
                          expect=200):
            return plain(action, body, method, address or control, expect)
        emu.control = control_plain
        self.master = "https://" + emu.address

    def more_emulator_extra(self, tmp):
        return ()


class HttpsMasterTest(HttpsCase):
    """--master https://...: verified against --mesos-ca-file it is used
    as any other master; without that CA the coordinator never subscribes,
    names the TLS failure and the flag that fixes it, and keeps retrying
    with backoff (no crash)."""

    def test_subscribes_with_the_ca_and_launches_probers(self):
        c = self.cluster
        c.start_coordinator(["--master", self.master,
                             "--mesos-ca-file", self.pki["ca"]])
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()
        m = mesos_of(c)
        self.assertEqual(m["phase"], "subscribed")
        self.assertEqual(m["leader"], self.master)
        subs = [r for r in c.journal() if r.get("call_type") == "SUBSCRIBE"]
        self.assertTrue(subs, "SUBSCRIBE reached the https master")
        self.assertFalse([r for r in c.journal()
                          if r.get("what") == "tls_handshake_failed"])
        self.assertFalse(c.coordinator.log_events("mesos_tls_insecure"))
        c.finish(self)

    def test_without_the_ca_no_subscription_and_a_clear_error(self):
        c = self.cluster
        c.start_coordinator(["--master", self.master], wait=False)

        m = wait_until(mesos_when(c, lambda m: m.get("failed_attempts", 0)
                                  >= 3), 30,
                       what="three failed attempts (backoff between them)")
        self.assertEqual(m["phase"], "connecting")
        self.assertIn("TLS", m["last_error"])
        self.assertIn("certificate", m["last_error"])
        self.assertIn("--mesos-ca-file", m["last_error"])
        self.assertEqual(c.health(), 503)
        failed = c.coordinator.log_events("mesos_subscribe_failed")
        self.assertTrue(failed and all("TLS" in f["reason"] for f in failed),
                        failed)
        scheduled = c.coordinator.log_events("mesos_resubscribe_scheduled")
        self.assertGreaterEqual(len(scheduled), 2)
        self.assertEqual([r for r in c.journal()
                          if r.get("call_type") == "SUBSCRIBE"], [],
                         "nothing reached the master unverified")
        self.assertTrue([r for r in c.journal()
                         if r.get("what") == "tls_handshake_failed"])
        self.assertTrue(c.coordinator_alive())
        c.finish(self, quiesce=False)


    def test_insecure_subscribes_unverified_and_says_so(self):
        c = self.cluster
        c.start_coordinator(["--master", self.master, "--mesos-tls-insecure"])
        warned = c.coordinator.log_events("mesos_tls_insecure")
        self.assertEqual(len(warned), 1, "one warning, at start")
        self.assertIn("not verified", warned[0]["reason"])
        self.assertEqual(mesos_of(c)["phase"], "subscribed")
        c.wait_running({"prober": c.hosts})
        c.finish(self)

class HttpsZooKeeperTest(HttpsCase):
    """zk:// detection of https masters: MasterInfo carries no scheme, so
    --master-scheme https says the masters speak TLS (whoever can write to
    ZooKeeper must not choose it), and they are verified as any other."""

    def more_emulator_extra(self, tmp):
        self.zk = ZooKeeperServer(os.path.join(tmp, "zk"), tmp)
        self.addCleanup(e2e.RESOURCES.release, self.zk._token)
        return ("--zk", self.zk.url("/mesos"), "--zk-session-timeout", "2")

    def test_detected_https_master_is_verified(self):
        c = self.cluster
        c.start_coordinator(["--master", self.zk.url("/mesos"),
                             "--master-scheme",
                             "https", "--mesos-ca-file", self.pki["ca"]])
        c.wait_running({"prober": c.hosts})
        m = mesos_of(c)
        self.assertEqual(m["phase"], "subscribed")
        self.assertEqual(m["leader"], "https://" + c.emulator.address)
        c.finish(self)


class GracefulStopTest(E2ETestCase):
    """SIGTERM right after a status update: the coordinator lets the Mesos
    calls it already made (the update's ACKNOWLEDGE) go out and be answered
    on the subscription that is still open, then exits 0 -- at most
    DRAIN_MAX_MS (coordinator/shell/coord.c, 2.5 s) after the signal. The
    journal audit once caught an ACKNOWLEDGE lost to a stop 50 ms after
    its update. The master is made slow to take ACKNOWLEDGEs (control
    calls/delay) so that the signal surely finds one in flight."""

    NAGENTS = 2
    BOUND_S = 2.5
    EXIT_MARGIN_S = 2.0  # the rest of a stop under ASan: save, frees, leak check

    def _update_then_sigterm(self, delay_s):
        """Deploy, make ACKNOWLEDGEs take delay_s, fail agent1's prober,
        SIGTERM the coordinator the moment it logged the update. ->
        (coordinator, exit status, seconds the stop took, the update's
        journal record)."""
        c = self.cluster
        deploy(c)
        c.emulator.delay_calls("ACKNOWLEDGE", delay_s)
        prober = [t["task_id"] for t in c.emulator.live_tasks()
                  if t["task_id"].startswith("quobyte-prober.agent1.")][0]
        coord = c.coordinator
        since = len(coord.stderr_lines())
        c.emulator.control("task/fail", {
            "task_id": prober, "message": "e2e: failed just before a stop"})
        wait_until(lambda: [r for r in coord.log_events("task_update", since)
                            if r.get("task_id") == prober and
                            r.get("state") == "TASK_FAILED"],
                   10, interval=0.002, what="the coordinator's task_update")
        rc, took = coord.stop(timeout=20)
        update = [r for r in c.events("UPDATE")
                  if r["event"]["update"]["status"]["task_id"]["value"] ==
                  prober and r["event"]["update"]["status"]["state"] ==
                  "TASK_FAILED"][0]
        return coord, rc, took, update

    def _acks_of(self, update):
        uuid = update["event"]["update"]["status"]["uuid"]
        return [r for r in self.cluster.calls("ACKNOWLEDGE")
                if ((r.get("body") or {}).get("acknowledge") or {})
                .get("uuid") == uuid]

    def _restart_and_finish(self, **finish):
        """A new coordinator on the same state takes over; nothing lost."""
        c = self.cluster
        c.emulator.delay_calls("ACKNOWLEDGE", 0)
        c.start_coordinator()
        c.wait_running(BASE)
        c.finish(self, **finish)

    def test_sigterm_waits_for_the_acknowledgement_in_flight(self):
        coord, rc, took, update = self._update_then_sigterm(1.0)
        self.assertEqual(rc, 0, coord.stderr_text()[-3000:])
        acks = wait_until(lambda: self._acks_of(update), 5,
                          what="the ACKNOWLEDGE answered")
        self.assertEqual([(a.get("status"), a.get("delayed_s"))
                          for a in acks], [(202, 1.0)],
                         "the update acknowledged once, by the master "
                         "still holding the subscription")
        drain = [r for r in coord.log_events("signal")
                 if r.get("action") == "drain"]
        self.assertEqual(len(drain), 1, "one drain on SIGTERM")
        self.assertGreaterEqual(int(drain[0]["calls"]), 1)
        drained = coord.log_events("drained")
        self.assertEqual(len(drained), 1, coord.stderr_text()[-3000:])
        self.assertGreaterEqual(int(drained[0]["calls_sent"]), 1)
        self.assertGreaterEqual(int(drained[0]["took_ms"]), 900,
                                "waited for the delayed answer")
        self.assertLess(int(drained[0]["took_ms"]), self.BOUND_S * 1000)
        self.assertEqual(coord.log_events("drain_timeout"), [])
        self.assertLess(took, self.BOUND_S + self.EXIT_MARGIN_S)
        self.note("SIGTERM with an ACKNOWLEDGE held 1 s by the master: "
                  "drained in %s ms, exited after %.2f s"
                  % (drained[0]["took_ms"], took))
        self._restart_and_finish()

    def test_drain_is_bounded(self):
        """A master that takes 6 s to answer: the stop gives up after the
        bound, says so, and exits 0; the master answers the ACKNOWLEDGE of
        the framework gone meanwhile 403, sends the update again to the
        next coordinator, which acknowledges it."""
        coord, rc, took, update = self._update_then_sigterm(6.0)
        self.assertEqual(rc, 0, coord.stderr_text()[-3000:])
        self.assertGreaterEqual(took, self.BOUND_S - 0.1)
        self.assertLess(took, self.BOUND_S + self.EXIT_MARGIN_S)
        timeouts = coord.log_events("drain_timeout")
        self.assertEqual(len(timeouts), 1, coord.stderr_text()[-3000:])
        self.assertGreaterEqual(int(timeouts[0]["calls_dropped"]), 1)
        self.assertEqual(coord.log_events("drained"), [])
        # the held ACKNOWLEDGE is judged after the framework left
        late = wait_until(lambda: [a for a in self._acks_of(update)
                                   if a.get("status") is not None], 15,
                          what="the held ACKNOWLEDGE answered")
        self.assertEqual([a["status"] for a in late], [403])
        self.note("SIGTERM with an ACKNOWLEDGE held 6 s by the master: "
                  "exited after %.2f s" % took)
        self._restart_and_finish(audit_checks=[
            ch for ch in e2e.AUDIT_CHECKS if ch != "rejected_calls"])
        acked = [a["status"] for a in self._acks_of(update)]
        self.assertEqual(acked, [403, 202], "acknowledged after the "
                         "update was sent again")
        rejected = [r for r in self.cluster.journal()
                    if r.get("direction") == "call" and
                    int(r.get("status") or 0) >= 400 and
                    r.get("status") != 503]
        self.assertEqual([r.get("call_type") for r in rejected],
                         ["ACKNOWLEDGE"], "no other call refused")
