"""End-to-end tests: emulator + coordinator + real probers + loop devices.

What an operator would check, one test each; every test ends with
Cluster.finish(): the cluster quiesces, the coordinator is stopped with
SIGTERM (exit status 0, no sanitizer report on its stderr), the emulator is
stopped and its journal audited (tests/emulator/audit.py: updates
acknowledged once, no launch on a used offer, SUPPRESS when idle, unique
task ids, no offer held).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from e2e import (IMAGE, E2ETestCase, env_of, labels_of, parse_prometheus,
                 qmtest, scaled, task_service, wait_until)

VERSION = "3.0.1"
STANDARD = {"registry": ["agent1"], "metadata": ["agent2"],
            "data": ["agent2", "agent3"], "api": 1, "webconsole": 1,
            "prober": ["agent1", "agent2", "agent3"]}


class DeployTest(E2ETestCase):
    def test_deploy_places_services_with_promised_taskinfo(self):
        """Three agents, devices marked -> after POST /v1/version exactly
        the right services on exactly the right agents, with the TaskInfo
        the task builders promise, launched in phase order."""
        c = self.cluster
        c.standard_disks()
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()
        c.set_version(VERSION)
        c.wait_running(STANDARD)

        records = c.journal()
        launches = [(r, info) for r, info in c.launches(records)
                    if task_service(info) != "prober"]
        by_service = {}
        for r, info in launches:
            by_service.setdefault(task_service(info), []).append((r, info))
        self.assertEqual(sorted(by_service), sorted(
            ["registry", "metadata", "data", "api", "webconsole"]))
        agents = {a["hostname"]: a["agent_id"]
                  for a in c.emulator.control("agents")["agents"]}
        hosts = {v: k for k, v in agents.items()}
        placed = {svc: sorted(hosts[info["agent_id"]["value"]]
                              for _, info in lst)
                  for svc, lst in by_service.items()}
        self.assertEqual(placed["registry"], ["agent1"])
        self.assertEqual(placed["metadata"], ["agent2"])
        self.assertEqual(placed["data"], ["agent2", "agent3"])
        self.assertEqual(len(placed["api"]), 1)
        self.assertEqual(len(placed["webconsole"]), 1)

        # phase order: every registry launch before every metadata launch
        # before every data launch before api/webconsole
        def lines(svc):
            return [r["_line"] for r, _ in by_service[svc]]
        self.assertLess(max(lines("registry")), min(lines("metadata")))
        self.assertLess(max(lines("metadata")), min(lines("data")))
        self.assertLess(max(lines("data")),
                        min(lines("api") + lines("webconsole")))

        roots = {"registry": [c.device_root("agent1") + "/reg"],
                 "metadata": [c.device_root("agent2") + "/md"]}
        data_roots = {"agent2": [c.device_root("agent2") + "/data"],
                      "agent3": [c.device_root("agent3") + "/data"]}
        for svc, lst in by_service.items():
            for r, info in lst:
                host = hosts[info["agent_id"]["value"]]
                what = "%s on %s" % (svc, host)
                ct = info.get("container") or {}
                self.assertEqual(ct.get("type"), "DOCKER", what)
                dk = ct.get("docker") or {}
                self.assertEqual(dk.get("image"), "%s:%s" % (IMAGE, VERSION),
                                 what)
                self.assertEqual(dk.get("network"), "HOST", what)
                self.assertIs(dk.get("privileged"), True, what)
                self.assertNotIn("value", info.get("command") or {},
                                 "%s: nothing spliced into a shell" % what)
                self.assertIs((info.get("command") or {}).get("shell"),
                              False, what)
                env = env_of(info)
                self.assertEqual(env.get("QUOBYTE_SERVICE"), svc, what)
                self.assertEqual(env.get("QUOBYTE_REGISTRY"),
                                 "agent1:7861", what)
                ports = set()
                for res in info["resources"]:
                    if res["name"] == "ports":
                        for rg in res["ranges"]["range"]:
                            ports.update(range(int(rg["begin"]),
                                               int(rg["end"]) + 1))
                main = {"registry": "QUOBYTE_RPC_PORT",
                        "metadata": "QUOBYTE_RPC_PORT",
                        "data": "QUOBYTE_RPC_PORT",
                        "api": "QUOBYTE_API_PORT",
                        "webconsole": "QUOBYTE_WEBCONSOLE_PORT"}[svc]
                self.assertIn(main, env, what)
                self.assertIn(int(env[main]), ports,
                              "%s: %s is a port of the task's resources"
                              % (what, main))
                if svc == "registry":
                    self.assertEqual(env[main], "7861")
                labels = labels_of(info)
                self.assertEqual(labels.get("service"), svc, what)
                self.assertEqual(labels.get("version"), VERSION, what)
                self.assertEqual(labels.get("hostname"), host, what)
                self.assertTrue(info["task_id"]["value"].startswith(
                    "quobyte-%s.%s." % (svc, host)), what)
                cpus = [x for x in info["resources"] if x["name"] == "cpus"]
                mem = [x for x in info["resources"] if x["name"] == "mem"]
                self.assertTrue(cpus and mem, what)
                vols = {v["container_path"]: v for v in ct.get("volumes")
                        or []}
                self.assertIn("/dev", vols, what)
                self.assertIn("/lib/modules", vols, what)
                if svc in ("registry", "metadata", "data"):
                    self.assertIn("QUOBYTE_HTTP_PORT", env, what)
                    http_port = int(env["QUOBYTE_HTTP_PORT"])
                    self.assertIn(http_port, ports, what)
                    hc = info.get("health_check") or {}
                    self.assertEqual(hc.get("type"), "HTTP", what)
                    self.assertEqual(int(hc["http"]["port"]), http_port,
                                     "%s: health check on the status port"
                                     % what)
                    want = roots.get(svc) or data_roots[host]
                    # the agent's device root, shared (docker -v with
                    # rshared propagation): its devices, and disks mounted
                    # under it later, show up in the running container
                    params = {(p["key"], p["value"])
                              for p in dk.get("parameters") or []}
                    root = c.device_root(host)
                    shared = ("volume", "%s:%s:rw,rshared" % (root, root))
                    self.assertIn(shared, params, "%s: device root %s shared "
                                  "in: %s %s" % (what, root, sorted(vols),
                                                 sorted(params)))
                    for d in want:
                        self.assertTrue(d.startswith(root + "/"), what)
                    others = [v for v in vols if v.startswith(c.root)] + \
                        [p[1] for p in params if c.root in p[1]]
                    self.assertEqual(others, [shared[1]],
                                     "%s: only its node's device root: %s"
                                     % (what, others))
        # one prober per agent: a command task of the configured binary,
        # no shell, its node identity and credential in the environment
        with open(os.path.join(c.state_dir, "bus.secret"), "rb") as f:
            secret = f.read().strip()
        probers = [info for _, info in c.launches(records)
                   if task_service(info) == "prober"]
        self.assertEqual(sorted(hosts[i["agent_id"]["value"]]
                                for i in probers), c.hosts)
        for info in probers:
            aid = info["agent_id"]["value"]
            host = hosts[aid]
            cmd = info["command"]
            self.assertNotIn("container", info, "a plain command task")
            self.assertIs(cmd.get("shell"), False)
            self.assertEqual(cmd.get("value"),
                             qmtest.binary("quobyte-prober"))
            self.assertEqual(cmd.get("arguments"), ["quobyte-prober"])
            env = env_of(info)
            self.assertEqual(env.get("QUOBYTE_PROBER_COORDINATOR"),
                             c.bus_url)
            self.assertEqual(env.get("QUOBYTE_PROBER_AGENT_ID"), aid)
            self.assertEqual(env.get("QUOBYTE_PROBER_HOSTNAME"), host)
            self.assertEqual(env.get("QUOBYTE_PROBER_DEVICE_ROOTS"),
                             c.device_root(host),
                             "the agent's quobyte_device_roots attribute")
            self.assertEqual(env.get("QUOBYTE_PROBER_CREDENTIAL"),
                             qmtest.derive_credential(secret, aid),
                             "the node credential of this agent")
            self.assertEqual(labels_of(info).get("service"), "prober")
        # the coordinator's view agrees with the emulator's
        st = c.state()
        self.assertEqual(st["target_version"], VERSION)
        for node in st["nodes"]:
            svcs = sorted(s["service"] for s in node["services"])
            self.assertTrue(node["prober"]["reporting"], node["hostname"])
            self.assertEqual(node["prober"]["task"]["state"], "TASK_RUNNING")
            want = [s for s, h in STANDARD.items()
                    if isinstance(h, list) and node["hostname"] in h
                    and s != "prober"]
            for s in want:
                self.assertIn(s, svcs, node["hostname"])
        self.assertEqual(st["problems"], [])
        c.finish(self)


def ids_by_service(tasks, service):
    return sorted(t["task_id"] for t in tasks
                  if task_service(t["task_id"]) == service)


class NoVersionAndShutdownTest(E2ETestCase):
    def test_only_probers_without_version_and_empty_post_shuts_down(self):
        """No target version: only probers run (and the coordinator
        suppresses offers). Then a deployment, and an empty POST body shuts
        Quobyte down: every service task killed, the probers keep
        running."""
        c = self.cluster
        c.standard_disks()
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()
        c.quiesce()
        st = c.state()
        self.assertEqual(st["target_version"], "")
        self.assertEqual(
            sorted({task_service(i) for _, i in c.launches()}), ["prober"],
            "without a target version only probers are launched")
        status, _, body = c.rest_call("GET", "/v1/version")
        self.assertEqual((status, body.strip()), (200, b""))

        c.set_version(VERSION)
        c.wait_running(STANDARD)
        before = c.emulator.live_tasks()
        probers = ids_by_service(before, "prober")
        services = [t["task_id"] for t in before
                    if task_service(t["task_id"]) != "prober"]
        self.assertEqual(len(services), 6)

        doc = c.set_version("")
        self.assertEqual(doc, {"target_version": "",
                               "previous_version": VERSION})
        c.wait_running({"prober": c.hosts}, timeout=30)
        after = c.emulator.tasks()
        self.assertEqual(ids_by_service(
            [t for t in after if not t.get("completed")], "prober"), probers,
            "the probers kept running (same tasks)")
        ended = {t["task_id"]: t["state"] for t in after
                 if t["task_id"] in services}
        self.assertEqual(set(ended.values()), {"TASK_KILLED"}, ended)
        killed = {r["body"]["kill"]["task_id"]["value"]
                  for r in c.calls("KILL")}
        self.assertEqual(killed, set(services),
                         "a KILL for each service task, none for probers")
        self.assertEqual(c.state()["target_version"], "")
        c.finish(self)


class HotAddTest(E2ETestCase):
    def test_hot_add_launches_and_marker_removal_kills_after_grace(self):
        """A disk marked on a running cluster gets its service on that
        agent; a deleted marker gets the service killed after the removal
        grace (2 s here), not before."""
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent2", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data", ["DATA_DEVICE"])
        c.start_coordinator()
        c.wait_reporting()
        c.set_version(VERSION)
        base = {"registry": ["agent1"], "metadata": ["agent2"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(base)
        c.quiesce()
        # marker->LAUNCH (issue 14): the prober stamps when it saw each
        # device, the coordinator counts the first LAUNCH after it once:
        # registry, metadata and data so far
        m2l = "quobyte_mesos_marker_to_launch_seconds_"
        self.assertEqual(metric_value(c, m2l + "count"), 3.0)
        sum0 = metric_value(c, m2l + "sum")

        # 1. a new disk, mounted with its marker already on it
        t0 = time.time()
        mp3 = c.disk("agent3", "data", ["DATA_DEVICE"])
        c.wait_running(dict(base, data=["agent2", "agent3"]))
        launch = [r for r, i in c.launches() if task_service(i) == "data"
                  and i["task_id"]["value"].startswith("quobyte-data.agent3.")]
        self.assertEqual(len(launch), 1)
        self.note("hot-add, disk mounted with its marker -> LAUNCH: %.0f ms"
                  % ((launch[0]["ts"] - t0) * 1000))
        self.assertEqual(metric_value(c, m2l + "count"), 4.0)
        took = metric_value(c, m2l + "sum") - sum0
        self.assertTrue(0 <= took < 60, took)
        self.note("the same as the coordinator measured it, from the "
                  "prober's stamp (marker_to_launch_seconds): %.0f ms"
                  % (took * 1000))

        # 2. a mounted, unmarked disk that gets its marker later
        mp1 = c.disk("agent1", "data", ["DATA_DEVICE"], mark=False)
        c.wait_reporting()
        time.sleep(0.5)
        self.assertNotIn("agent1", c.live().get("data", []),
                         "an unmarked disk gets no service")
        t0 = time.time()
        c.mark(mp1, ["DATA_DEVICE"])
        c.wait_running(dict(base, data=["agent1", "agent2", "agent3"]))
        launch = [r for r, i in c.launches() if
                  i["task_id"]["value"].startswith("quobyte-data.agent1.")]
        self.assertEqual(len(launch), 1)
        self.note("hot-add, marker written on a mounted disk -> LAUNCH: "
                  "%.0f ms" % ((launch[0]["ts"] - t0) * 1000))
        c.quiesce()

        # 3. marker deleted: killed after the grace, not before
        victim = [t for t in c.emulator.live_tasks()
                  if t["task_id"].startswith("quobyte-data.agent3.")][0]
        t0 = time.time()
        c.unmark(mp3)
        c.wait_running(dict(base, data=["agent1", "agent2"]), timeout=30)
        kills = [r for r in c.calls("KILL")
                 if r["body"]["kill"]["task_id"]["value"] ==
                 victim["task_id"]]
        self.assertEqual(len(kills), 1, "one KILL for the data task")
        waited = kills[0]["ts"] - t0
        self.note("marker deleted -> KILL: %.2fs (removal grace 2s)" % waited)
        self.assertGreaterEqual(waited, 1.9, "killed %.2fs after the marker "
                                "was deleted: before the 2s grace" % waited)
        self.assertLess(waited, 2 + scaled(8), "the grace is 2s")
        self.assertEqual(len(c.calls("KILL")), 1, "nothing else was killed")
        c.finish(self)


def update_events(records, task_id, state):
    return [r for r in records if r.get("direction") == "event" and
            (r.get("event") or {}).get("type") == "UPDATE" and
            r["event"]["update"]["status"]["task_id"]["value"] == task_id and
            r["event"]["update"]["status"]["state"] == state]


class FailureTest(E2ETestCase):
    # Tasks stay STARTING for 0.5 s: time for the test to fail a relaunched
    # task before it turns healthy (which would reset its failure count).
    EMULATOR_EXTRA = ("--docker-start-delay", "0.5")

    def _launch_of(self, records, prefix, after_line):
        for r, info in self.cluster.launches(records):
            if r["_line"] > after_line and \
                    info["task_id"]["value"].startswith(prefix):
                return r, info["task_id"]["value"]
        return None

    def _fail(self, task_id):
        self.cluster.emulator.control("task/fail", {
            "task_id": task_id, "message": "e2e: induced failure"})

    def test_failed_tasks_replaced_with_backoff_and_probers_resync(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent2", "md", ["METADATA_DEVICE"])
        c.disk("agent3", "data", ["DATA_DEVICE"])
        c.start_coordinator()
        c.wait_reporting()
        c.set_version(VERSION)
        base = {"registry": ["agent1"], "metadata": ["agent2"],
                "data": ["agent3"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(base)
        c.quiesce()

        # --- a service task fails twice in a row: 1 s, then 2 s backoff
        prefix = "quobyte-data.agent3."
        first = [t["task_id"] for t in c.emulator.live_tasks()
                 if t["task_id"].startswith(prefix)][0]
        self._fail(first)
        gaps = []
        current = first
        for attempt in (1, 2):
            failed = wait_until(lambda: update_events(
                c.journal(), current, "TASK_FAILED"), 10,
                what="TASK_FAILED of %s" % current)[0]
            found = wait_until(lambda: self._launch_of(
                c.journal(), prefix, failed["_line"]), 15,
                what="relaunch #%d of data on agent3" % attempt)
            gaps.append(found[0]["ts"] - failed["ts"])
            current = found[1]
            if attempt == 1:
                # fail the replacement before it turns healthy
                wait_until(lambda: any(
                    t["task_id"] == current and t["state"] in (
                        "TASK_STARTING", "TASK_RUNNING") and not t["healthy"]
                    for t in c.emulator.tasks()), 5,
                    interval=0.01, what="replacement starting")
                self._fail(current)
        self.note("relaunch delays after consecutive failures: %s "
                  "(backoff base 1s)" % ", ".join("%.2fs" % g for g in gaps))
        self.assertGreaterEqual(gaps[0], 0.95, "first relaunch waits the "
                                "1s backoff base: %.2fs" % gaps[0])
        self.assertGreaterEqual(gaps[1], 1.95, "second consecutive failure "
                                "waits 2s: %.2fs" % gaps[1])
        self.assertGreater(gaps[1], gaps[0] + 0.5)
        c.wait_running(base)

        # --- probers: one SIGKILLed, one failed through the agent
        services_before = sorted(t["task_id"] for t in c.emulator.live_tasks()
                                 if task_service(t["task_id"]) != "prober")
        for host, how in (("agent1", "kill"), ("agent2", "fail")):
            t = [t for t in c.emulator.live_tasks()
                 if t["task_id"].startswith("quobyte-prober.%s." % host)][0]
            mark = len(c.coordinator.stderr_lines())
            if how == "kill":
                os.kill(t["pid"], signal.SIGKILL)
            else:
                self._fail(t["task_id"])
            ended = wait_until(lambda: update_events(
                c.journal(), t["task_id"], "TASK_FAILED"), 10,
                what="the prober's TASK_FAILED")[0]
            c.wait_running(base)
            relaunch = self._launch_of(c.journal(), "quobyte-prober.%s."
                                       % host, ended["_line"])
            self.assertIsNotNone(relaunch)
            gap = relaunch[0]["ts"] - ended["ts"]
            self.assertGreaterEqual(gap, 0.95, "a dead prober is relaunched "
                                    "with backoff (1s): after %.2fs" % gap)
            self.note("prober %s (%s) relaunched after %.2fs"
                      % (how == "kill" and "SIGKILLed" or "failed", host,
                         gap))
            node = c.node(host)
            new_id = node["prober"]["task"]["task_id"]
            self.assertNotEqual(new_id, t["task_id"])

            def resynced():
                return [e for e in c.coordinator.log_events("inventory",
                                                            since=mark)
                        if e.get("hostname") == host and
                        e.get("kind") == "snapshot"]
            wait_until(resynced, 15, what="a snapshot from the new prober "
                       "on %s" % host)
            node = c.node(host)
            self.assertTrue(node["prober"]["reporting"])
            self.assertFalse(node["prober"]["stale"])
            self.assertEqual(len(node["devices"]), 1, node["devices"])
        services_after = sorted(t["task_id"] for t in c.emulator.live_tasks()
                                if task_service(t["task_id"]) != "prober")
        self.assertEqual(services_after, services_before,
                         "a prober restart leaves the services alone")
        c.finish(self)


def subscribes(records, status=200):
    return [r for r in records if r.get("direction") == "call" and
            r.get("call_type") == "SUBSCRIBE" and r.get("status") == status]


def subscribe_fid(record):
    body = record["body"]
    return ((body.get("framework_id") or {}).get("value"),
            ((body["subscribe"]["framework_info"].get("id")) or {})
            .get("value"))


class KillRestartTest(E2ETestCase):
    def _kill_after_launch_of(self, service, extra=()):
        """SIGKILL the coordinator right after the master got the first
        LAUNCH of `service`, then start a new one on the same state."""
        c = self.cluster
        wait_until(lambda: any(task_service(i) == service
                               for _, i in c.launches()), 20,
                   interval=0.005, what="a %s launch" % service)
        c.kill_coordinator()
        killed_at = len(c.journal())
        c.start_coordinator(extra)
        return killed_at

    def test_sigkill_mid_deploy_and_restart(self):
        """SIGKILL right after the registry launch and again right after
        the first data launch: each restart subscribes with the same
        framework id, reconciles, and the deployment completes with no
        duplicate and no orphaned task."""
        self._sigkill_mid_deploy(())

    def test_sigkill_between_launch_slices(self):
        """The same with --launch-slice 0: every offer's launches are
        saved and sent in a loop iteration of their own (planning.c, struct
        carry), so the three probers' launches are three slices, and the
        kill after the first data launch (data goes to agent2 and agent3)
        may come while the other is still to be sent (4 ms apart here).
        Nothing is lost or launched twice."""
        c = self.cluster
        extra = ("--launch-slice", "0")
        self._sigkill_mid_deploy(extra, before_version=lambda: (
            self.assertGreaterEqual(
                metric_value(c, "quobyte_mesos_launch_slices_total"), 3,
                "three probers on three offers: three slices"),
            self.assertEqual(
                sorted(len(r["body"]["accept"]["offer_ids"])
                       for r in c.calls("ACCEPT")), [1, 1, 1],
                "one ACCEPT per prober's offer")))

    def _sigkill_mid_deploy(self, extra, before_version=None):
        c = self.cluster
        c.standard_disks()
        c.start_coordinator(extra)
        c.wait_reporting()
        fid = c.state()["framework_id"]
        self.assertTrue(fid)
        if before_version:
            before_version()
        c.set_version(VERSION)
        marks = [self._kill_after_launch_of("registry", extra)]
        c.wait_reporting()
        marks.append(self._kill_after_launch_of("data", extra))
        c.wait_running(STANDARD)
        c.quiesce()

        records = c.journal()
        for mark in marks:
            later = records[mark:]
            sub = subscribes(later)
            self.assertTrue(sub, "a SUBSCRIBE after the restart")
            self.assertEqual(subscribe_fid(sub[0]), (fid, fid),
                             "resubscribed with the same framework id "
                             "(top level and framework_info.id)")
            rec = [r for r in c.calls("RECONCILE", later)
                   if r["_line"] > sub[0]["_line"]]
            explicit = [r for r in rec if r["body"]["reconcile"].get("tasks")]
            implicit = [r for r in rec
                        if not r["body"]["reconcile"].get("tasks")]
            self.assertTrue(explicit, "explicit reconciliation of the "
                            "stored tasks after the restart")
            self.assertTrue(implicit, "implicit reconciliation after the "
                            "restart")
            known = {t["task_id"]["value"]
                     for t in explicit[0]["body"]["reconcile"]["tasks"]}
            launched_before = {i["task_id"]["value"]
                               for _, i in c.launches(records[:mark])}
            self.assertTrue(launched_before <= known,
                            "every task launched before the kill is "
                            "reconciled: missing %s"
                            % sorted(launched_before - known))
        self.assertEqual(c.state()["framework_id"], fid)

        # no duplicates: one task ever per (service, agent) -- nothing
        # failed, so nothing needed a second one -- and none orphaned
        tasks = c.emulator.tasks()
        per = {}
        for t in tasks:
            per.setdefault((task_service(t["task_id"]), t["hostname"]),
                           []).append(t["task_id"])
        dups = {k: v for k, v in per.items()
                if len(v) > 1 and k[0] not in ("api", "webconsole")}
        self.assertEqual(dups, {}, "more than one task of a service on an "
                         "agent")
        for svc in ("api", "webconsole"):
            self.assertEqual(len([t for t in tasks
                                  if task_service(t["task_id"]) == svc]), 1,
                             "one %s task ever" % svc)
        live = {t["task_id"] for t in c.emulator.live_tasks()}
        st = c.state()
        known = set()
        for node in st["nodes"]:
            known.update(s["task_id"] for s in node["services"])
            if node["prober"].get("task"):
                known.add(node["prober"]["task"]["task_id"])
        known.update(t["task_id"] for t in st["tasks_on_unknown_agents"])
        self.assertEqual(st["tasks_on_unknown_agents_total"],
                         len(st["tasks_on_unknown_agents"]))
        self.assertEqual(st["nodes_total"], len(st["nodes"]))
        self.assertEqual(live, known, "the coordinator knows exactly the "
                         "tasks that run: no orphans, no ghosts")
        c.finish(self)


class MasterDisruptionTest(E2ETestCase):
    LISTENERS = 2

    def _wait_resubscribed(self, after_line, fid, listener=None):
        c = self.cluster

        def ok():
            for r in subscribes(c.journal()):
                if r["_line"] > after_line and \
                        (listener is None or r["listener"] == listener):
                    return r
            return None
        r = wait_until(ok, 20, interval=0.05, what="a new subscription")
        self.assertEqual(subscribe_fid(r), (fid, fid))
        c.wait_subscribed()
        return r

    def test_stream_drop_503_and_leader_move(self):
        c = self.cluster
        emu = c.emulator
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent2", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data", ["DATA_DEVICE"])
        c.start_coordinator()
        c.wait_reporting()
        c.set_version(VERSION)
        base = {"registry": ["agent1"], "metadata": ["agent2"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(base)
        c.quiesce()
        fid = c.state()["framework_id"]
        old, new = emu.addresses

        # 1. the event stream is dropped (abrupt TCP close)
        mark = len(c.journal())
        emu.control("stream/drop", {})
        self._wait_resubscribed(mark, fid)
        self.assertTrue(c.coordinator.log_events("mesos_disconnected"))

        # 2. the master answers 503 for a while
        emu.control("unavailable", {})
        mark = len(c.journal())
        emu.control("stream/drop", {"graceful": True})
        wait_until(lambda: len([r for r in subscribes(c.journal(), 503)
                                if r["_line"] > mark]) >= 2, 20,
                   what="SUBSCRIBE attempts answered 503")
        self.assertEqual(c.health(), 503, "not healthy while unsubscribed")
        self.assertFalse(c.state()["subscribed"])
        emu.control("unavailable/clear", {})
        self._wait_resubscribed(mark, fid)

        # 3. leadership moves: the old master answers 307
        mark = len(c.journal())
        emu.control("leader", {"leader": new})
        r = self._wait_resubscribed(mark, fid, listener=new)
        redirected = [x for x in c.journal()[mark:]
                      if x.get("direction") == "call" and
                      x.get("status") == 307 and x["listener"] == old]
        self.assertTrue(redirected, "the old master answered 307")
        self.assertLess(redirected[0]["_line"], r["_line"])
        self.assertIn(new, c.state()["master"])
        self.assertEqual(c.state()["framework_id"], fid)

        # ... and everything keeps working: the tasks are still known,
        # a hot-added disk gets its service through the new leader
        c.wait_running(base)
        c.disk("agent3", "data", ["DATA_DEVICE"])
        c.wait_running(dict(base, data=["agent2", "agent3"]))
        launch = [rec for rec, i in c.launches() if
                  i["task_id"]["value"].startswith("quobyte-data.agent3.")]
        self.assertEqual([x["listener"] for x in launch], [new])
        self.assertEqual(len(subscribes(c.journal())), 4,
                         "one subscription per disruption, no more")
        c.finish(self)


class OfferFloodTest(E2ETestCase):
    """A master that sends one OFFERS event with more offers than the
    coordinator parses (OFFERS_PER_EVENT_MAX, 50,000): bounded memory, the
    rest declined unread, and the coordinator carries on. Then 10,000
    malformed offers: declined in 3 calls with 4 log lines, counted in
    /metrics (issue 11's bad input)."""
    NAGENTS = 1

    def test_offers_over_the_cap_are_declined_unread(self):
        c = self.cluster
        c.start_coordinator()
        c.wait_reporting()
        n = 60000
        offers = [{} for _ in range(n - 1)] + [
            {"id": {"value": "flood-last"}}]
        c.emulator.control("stream/inject", {"event": {
            "type": "OFFERS", "offers": {"offers": offers}}})
        wait_until(lambda: c.coordinator.log_events("offers_over_cap"), 30,
                   what="event=offers_over_cap")
        ev = c.coordinator.log_events("offers_over_cap")[0]
        self.assertEqual((ev["offers"], ev["cap"]), (str(n), "50000"))
        wait_until(lambda: any(
            o.get("value") == "flood-last"
            for r in c.calls("DECLINE")
            for o in r["body"]["decline"]["offer_ids"]), 30,
            what="the last offer declined unread")
        # declined in a handful of calls, not one per offer (4,096 ids a
        # call at most): 10,000 unread offers are 3 calls
        over = [r for r in c.calls("DECLINE")
                if any(o.get("value") == "flood-last"
                       for o in r["body"]["decline"]["offer_ids"])]
        self.assertEqual(len(over), 1)
        self.assertLessEqual(len(over[0]["body"]["decline"]["offer_ids"]), 4096)
        self.assertEqual(metric_value(c, "quobyte_mesos_offers_over_cap_total"),
                         n - 50000)

        # 10,000 malformed offers (no hostname): each declined, in 3 calls,
        # a few log lines and one summary, counted in /metrics
        mark_calls, mark_log = len(c.journal()), len(c.coordinator.stderr_lines())
        # the first flood's 50,000 parsed offers were all malformed
        self.assertEqual(metric_value(c, "quobyte_mesos_offers_malformed_total"), 50000)
        m = 10000
        bad = [{"id": {"value": "bad-%d" % i}, "agent_id": {"value": "agent-x"},
                "framework_id": {"value": c.state()["framework_id"]}}
               for i in range(m)]
        c.emulator.control("stream/inject", {"event": {
            "type": "OFFERS", "offers": {"offers": bad}}})

        def bad_declined():
            ids = [o.get("value") for r in c.calls("DECLINE", c.journal()[mark_calls:])
                   for o in r["body"]["decline"]["offer_ids"]]
            return [i for i in ids if i.startswith("bad-")]
        wait_until(lambda: len(bad_declined()) == m, 30,
                   what="all %d malformed offers declined" % m)
        calls = [r for r in c.calls("DECLINE", c.journal()[mark_calls:])
                 if any(o.get("value", "").startswith("bad-")
                        for o in r["body"]["decline"]["offer_ids"])]
        self.assertEqual(len(calls), 3, "4,096 ids a call")
        self.assertEqual(len(c.coordinator.log_events("offer_malformed", since=mark_log)), 3)
        summary = c.coordinator.log_events("offers_malformed", since=mark_log)
        self.assertEqual(len(summary), 1)
        self.assertEqual(summary[0]["count"], str(m))
        self.assertEqual(metric_value(c, "quobyte_mesos_offers_malformed_total"), 50000 + m)
        print("\n    10,000 malformed offers: %d DECLINE calls, %d log lines"
              % (len(calls), 3 + len(summary)))
        self.assertEqual(c.health(), 200)
        self.assertTrue(c.coordinator_alive())
        c.finish(self, quiesce=False, audit_checks=("ack_once",))


class UnexpectedAgentsFloodTest(E2ETestCase):
    """Snapshots from 1,100 agents that were never offered to the framework
    and run none of its tasks (a prober fleet whose framework lost its
    state, or a misconfigured one holding the cluster secret): nodes are
    kept for the first UNEXPECTED_NODES_MAX (1,024), the rest are refused
    with a clear Ack, counted in /metrics and logged in one line; the real
    agent's prober goes on (issue 11's bad input)."""
    NAGENTS = 1

    def test_snapshots_of_unexpected_agents_are_bounded(self):
        c = self.cluster
        c.start_coordinator()
        c.wait_reporting()
        mark = len(c.coordinator.stderr_lines())
        n = 1100
        agents = os.path.join(c.root, "flood-agents")
        with open(agents, "w") as f:
            for i in range(n):
                f.write("flood-%05d-S0 flood-host-%d\n" % (i, i))
        fp = subprocess.run(
            [qmtest.binary("fake_probers"), "--url", c.bus_url,
             "--secret-file", os.path.join(c.state_dir, "bus.secret"),
             "--agents", agents, "--devices", "2", "--parallel", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=300)
        out = json.loads(fp.stdout.splitlines()[0])
        self.assertEqual(fp.returncode, 1, "some Acks carried an error")
        self.assertEqual(out["errors"], n - 1024, fp.stderr[-500:])
        self.assertIn("never offered to this framework", fp.stderr)
        self.assertEqual(
            metric_value(c, "quobyte_mesos_bus_unexpected_agents_refused_total"),
            n - 1024)
        lines = c.coordinator.log_events("bus_unexpected_agent_refused", since=mark)
        self.assertEqual(len(lines), 1, "one line per 10 s, not one per message")
        self.assertEqual(lines[0]["cap"], "1024")
        # the real agent's prober is still heard
        c.wait_reporting()
        self.assertEqual(c.health(), 200)
        print("\n    %d unexpected agents: %d kept, %d refused, %d log line"
              % (n, n - out["errors"], out["errors"], len(lines)))
        # the kept nodes report data disks on agents never offered: the
        # coordinator rightly keeps asking for offers (no suppress_when_idle)
        c.finish(self, quiesce=False, audit_checks=("ack_once",))


class BadInputTest(E2ETestCase):
    TOKEN = "e2e-secret-token"

    def _inject(self, **body):
        return self.cluster.emulator.control("stream/inject", body)

    def test_bad_master_records_and_bad_rest_input(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent2", "md", ["METADATA_DEVICE"])
        c.disk("agent3", "data", ["DATA_DEVICE"])
        self.errors_seen = []
        c.start_coordinator(["--api-token", self.TOKEN])
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()
        c.quiesce()
        fid = c.state()["framework_id"]
        co = c.coordinator

        def subscriptions():
            return len(subscribes(c.journal()))

        # --- from the master: records the stream survives (framing intact)
        cases = [
            ("malformed JSON", {"record": '{"type":"HEARTBEAT",'},
             "mesos_bad_event", 'reason="not JSON"'),
            ("JSON without a type", {"record": '{"heartbeat":{}}'},
             "mesos_bad_event", 'reason="no type"'),
            ("unknown event type", {"event": {"type": "FROBNICATE",
                                              "frobnicate": {"x": 1}}},
             "event_unknown", "type=FROBNICATE"),
        ]
        for what, body, event, text in cases:
            n, mark = subscriptions(), len(co.stderr_lines())
            self._inject(**body)
            found = wait_until(lambda: [
                e for e in co.log_events(event, since=mark)
                if text in e["_line"]], 10,
                what="log line %s for %s" % (event, what))
            self.assertEqual(found[0]["level"],
                             "warn" if event == "event_unknown" else "error")
            time.sleep(0.3)
            self.assertTrue(co.alive(), what)
            self.assertEqual(subscriptions(), n,
                             "%s: the stream goes on" % what)
            self.assertEqual(c.health(), 200, what)

        # --- records that break the framing: the stream is dropped with a
        # clear reason and the coordinator resubscribes (same framework id)
        cases = [
            ("oversized record (16 MiB + 1 byte, really sent)",
             {"record": '{"type":"HEARTBEAT"}', "pad_to": (16 << 20) + 1},
             "record larger than the cap"),
            ("length prefix beyond the cap",
             {"raw": "99999999999\n{\"type\":\"HEARTBEAT\"}"},
             "record larger than the cap"),
            ("binary garbage",
             {"raw_b64": "//79AAECAwQFBgcICQoLDA0ODw=="},
             "record length is not decimal"),
        ]
        for what, body, reason in cases:
            mark_log, mark = len(co.stderr_lines()), len(c.journal())
            self._inject(**body)
            found = wait_until(lambda: [
                e for e in co.log_events("mesos_disconnected", since=mark_log)
                if reason in e.get("reason", "")], 10,
                what="mesos_disconnected for %s" % what)
            self.assertIn("bad record on the event stream",
                          found[0]["reason"])
            r = wait_until(lambda: [x for x in subscribes(c.journal())
                                    if x["_line"] > mark], 20,
                           what="resubscription after %s" % what)[0]
            self.assertEqual(subscribe_fid(r), (fid, fid), what)
            c.wait_subscribed()
            self.assertTrue(co.alive(), what)

        # --- the REST API: bad versions and bodies
        def post(body, token=self.TOKEN, ctype="text/plain"):
            headers = {"Content-Type": ctype}
            if token:
                headers["Authorization"] = "Bearer " + token
            status, h, data = c.rest_call("POST", "/v1/version", body,
                                          headers)
            return status, h, data

        def target():
            status, _, data = c.rest_call("GET", "/v1/version")
            self.assertEqual(status, 200)
            return data.decode().strip()

        self.assertEqual(target(), "")
        bad = [
            ("bad version!", b"bad version!", 400, "not a valid version"),
            ("300 characters", b"3" * 300, 400, "too long"),
            ("leading dot", b".1", 400, "not a valid version"),
            ("a shell metacharacter", b"1.0;reboot", 400,
             "not a valid version"),
            ("binary garbage", bytes(range(256)) * 2, 400, "version"),
            # (answered "version too long: ..." -- a misleading message,
            # rest_version_post() checks the length and NUL bytes at once)
            ("a NUL byte", b"1.0\x00", 400, "version"),
            ("a huge body (2 MiB)", b"1" * (2 << 20), 413, "too large"),
        ]
        for what, body, want, text in bad:
            status, h, data = post(body)
            self.assertEqual(status, want, "%s: %r" % (what, data[:200]))
            self.assertTrue(h.get("content-type", "").startswith(
                "application/json"), what)
            doc = json.loads(data)
            self.assertIsInstance(doc.get("error"), str, what)
            self.assertIn(text, doc["error"], what)
            self.errors_seen.append("%s -> %d %s" % (what, status,
                                                     doc["error"]))
            self.assertEqual(target(), "", "%s: target unchanged" % what)
            self.assertTrue(co.alive(), what)
        # the bearer token
        for what, token in (("no token", None), ("a wrong token", "nope")):
            status, h, data = post(b"3.0.1", token=token)
            self.assertEqual(status, 401, what)
            self.assertIn("error", json.loads(data))
            self.assertEqual(target(), "", "%s: target unchanged" % what)
        status, _, _ = c.rest_call("GET", "/v1/state")
        self.assertEqual(status, 200, "reading needs no token")
        if os.environ.get("QM_E2E_VERBOSE"):
            for line in self.errors_seen:
                self.note(line)

        # ... and it all still works: a deployment
        status, _, data = post(b"3.0.1\n")
        self.assertEqual(status, 200, data)
        self.assertEqual(target(), "3.0.1")
        c.wait_running({"registry": ["agent1"], "metadata": ["agent2"],
                        "data": ["agent3"], "api": 1, "webconsole": 1,
                        "prober": c.hosts})
        c.finish(self)


def metric_value(cluster, name):
    """One unlabelled sample of the coordinator's /metrics (None if absent)."""
    status, _, data = cluster.rest_call("GET", "/metrics")
    if status != 200:
        raise AssertionError("GET /metrics answered %d" % status)
    for line in data.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return None


def promtool_check(text):
    """`promtool check metrics` on an exposition: (exit status, its output),
    or None when promtool (Debian's prometheus package, which
    scripts/install-deps.sh installs) is missing."""
    exe = shutil.which("promtool")
    if not exe:
        return None
    r = subprocess.run([exe, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60, check=False)
    return r.returncode, r.stdout.decode(errors="replace")


def families_without_help_or_type(text):
    """Sample names whose family lacks a # HELP or a # TYPE line (a
    histogram's _bucket, _sum and _count belong to its family)."""
    helps, types = set(), {}
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] == "HELP":
            helps.add(parts[2])
        elif len(parts) == 4 and parts[0] == "#" and parts[1] == "TYPE":
            types[parts[2]] = parts[3]
    missing = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
        if family not in helps or family not in types:
            missing.add(family)
    return missing


DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "examples", "grafana-dashboard.json")


def dashboard_exprs(dash):
    """The PromQL of every panel target of a Grafana dashboard (rows'
    panels included)."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(t["expr"])
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def dashboard_problems(dash, exposition):
    """What is wrong with the example dashboard against a real scrape: a
    quobyte_mesos_ name its expressions or variables use that the scrape
    has neither as a family (# TYPE) nor as a sample; a panel id used
    twice."""
    known = set()
    for line in exposition.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[:2] == ["#", "TYPE"]:
            known.add(parts[2])
        elif parts and not line.startswith("#"):
            known.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    texts = dashboard_exprs(dash)
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        texts.append(q.get("query", "") if isinstance(q, dict) else str(q or ""))
    problems = []
    for text in texts:
        for name in re.findall(r"\bquobyte_mesos_[a-zA-Z0-9_]+", text):
            if name not in known:
                problems.append("%s (in %s)" % (name, text))
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p["id"])
            walk(p.get("panels", []))
    walk(dash["panels"])
    if len(ids) != len(set(ids)):
        problems.append("panel ids used twice: %r" % ids)
    return problems


def promtool_check_exprs(exprs):
    """`promtool check rules` on the expressions as recording rules (the
    Grafana variables replaced by values): (exit status, output), or None
    without promtool. Catches PromQL that does not parse."""
    exe = shutil.which("promtool")
    if not exe:
        return None
    rules = []
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        rules.append({"record": "dashboard:expr_%d" % i, "expr": e})
    doc = {"groups": [{"name": "dashboard", "rules": rules}]}
    fd, path = tempfile.mkstemp(suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)  # JSON is YAML
        r = subprocess.run([exe, "check", "rules", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, check=False)
    finally:
        os.unlink(path)
    return r.returncode, r.stdout.decode(errors="replace")


class RestSurfaceTest(E2ETestCase):
    def test_health_metrics_and_status_page(self):
        c = self.cluster
        emu = c.emulator
        # a disk, so that the per-device families have samples (a DATA
        # device alone launches nothing: no registry yet)
        c.disk("agent2", 'data "1"', ["DATA_DEVICE"])
        emu.control("unavailable", {})
        c.start_coordinator(wait=False)
        wait_until(lambda: c.health() is not None, 15,
                   what="the REST API listening")
        wait_until(lambda: subscribes(c.journal(), 503), 15,
                   what="a SUBSCRIBE answered 503")
        status, h, data = c.rest_call("GET", "/v1/health")
        self.assertEqual(status, 503, "unhealthy before subscribing")
        self.assertEqual(json.loads(data)["subscribed"], False)
        st = c.state()
        self.assertFalse(st["subscribed"])
        emu.control("unavailable/clear", {})
        c.wait_subscribed()
        status, h, data = c.rest_call("GET", "/v1/health")
        self.assertEqual(status, 200)
        doc = json.loads(data)
        self.assertTrue(doc["subscribed"])
        self.assertTrue(doc["framework_id"])
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()

        status, h, data = c.rest_call("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/plain"),
                        h["content-type"])
        self.assertIn("version=0.0.4", h["content-type"])
        samples = parse_prometheus(data.decode())
        values = {name: v for (name, labels), v in samples.items()
                  if not labels}
        self.assertEqual(values.get("quobyte_mesos_subscribed"), 1.0)
        self.assertGreaterEqual(values.get(
            "quobyte_mesos_subscriptions_total", 0), 1.0)
        self.assertGreaterEqual(values.get(
            "quobyte_mesos_offers_received_total", 0), 3.0)
        self.assertGreaterEqual(values.get(
            "quobyte_mesos_tasks_launched_total", 0), 3.0)
        self.assertEqual(values.get("quobyte_mesos_nodes_reporting"), 3.0)
        phases = {dict(labels)["phase"] for (name, labels) in samples
                  if name == "quobyte_mesos_phase_wanted"}
        self.assertIn("registry", phases)

        # issue 14: HELP and TYPE everywhere, histograms, labelled gauges
        text = data.decode()
        self.assertEqual(families_without_help_or_type(text), set())
        for h in ("plan_duration", "store_save_duration",
                  "offer_accept_latency", "offer_accept_beyond_sync",
                  "bus_message_age"):
            name = "quobyte_mesos_%s_seconds" % h
            self.assertIn("# TYPE %s histogram" % name, text)
            self.assertGreaterEqual(values.get(name + "_count", 0), 1.0, name)
            self.assertEqual(samples[(name + "_bucket", (("le", "+Inf"),))],
                             values[name + "_count"], name)
        self.assertEqual(samples[("quobyte_mesos_service_tasks_running",
                                  (("service", "prober"),))], 3.0)
        self.assertEqual(samples[("quobyte_mesos_service_tasks_healthy",
                                  (("service", "prober"),))], 3.0)
        self.assertIn(("quobyte_mesos_service_tasks_at_target_version",
                       (("service", "registry"),)), samples)
        devs = {dict(labels)["node"]: v for (name, labels), v in samples.items()
                if name == "quobyte_mesos_node_devices"
                and dict(labels)["type"] == "data"
                and dict(labels)["state"] == "ok"}
        self.assertEqual(devs, {"agent2": 1.0}, text)
        roots = {dict(labels)["root"]: v for (name, labels), v
                 in samples.items()
                 if name == "quobyte_mesos_device_size_bytes"}
        escaped = [r for r in roots if r.endswith('/data \\"1\\"')]
        self.assertEqual(len(escaped), 1, "a quoted root, escaped: %r"
                         % sorted(roots))
        self.assertGreater(roots[escaped[0]], 0)
        self.assertEqual(values.get(
            "quobyte_mesos_metrics_series_dropped_total"), 0.0)
        # the probers' own counters, through the coordinator, per node
        for fam in ("prober_resyncs_total", "prober_rebuilds_total",
                    "prober_resident_memory_bytes",
                    "prober_messages_sent_total"):
            per_node = {dict(labels)["node"]: v for (name, labels), v
                        in samples.items()
                        if name == "quobyte_mesos_" + fam}
            self.assertEqual(sorted(per_node), c.hosts, fam)
            self.assertGreaterEqual(min(per_node.values()), 1.0, fam)
        rss = max(v for (name, _), v in samples.items()
                  if name == "quobyte_mesos_prober_resident_memory_bytes")
        self.assertLess(rss, 512 << 20, "a prober's RSS, sanity")
        checked = promtool_check(text)
        if checked is not None:
            rc, out = checked
            self.note("promtool check metrics: exit %d%s" % (
                rc, (", " + out.strip()) if out.strip() else ", no findings"))
            self.assertEqual((rc, out.strip()), (0, ""), text)

        # the example Grafana dashboard uses only names this scrape has,
        # and its PromQL parses
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertEqual(dashboard_problems(dash, text), [])
        exprs = dashboard_exprs(dash)
        self.assertGreater(len(exprs), 20)
        parsed = promtool_check_exprs(exprs)
        if parsed is not None:
            self.assertEqual(parsed[0], 0, parsed[1])
            self.note("examples/grafana-dashboard.json: %d expressions, "
                      "names in the scrape, promtool check rules clean"
                      % len(exprs))

        status, h, data = c.rest_call("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))
        page = data.decode()
        self.assertTrue(page.lstrip().lower().startswith("<!doctype html"))
        self.assertIn("</html>", page)
        self.assertIn("/v1/state", page, "the page renders /v1/state")

        status, h, data = c.rest_call("GET", "/no/such/thing")
        self.assertEqual(status, 404)
        c.finish(self)
        if checked is None:
            self.skipTest("promtool missing: /metrics was not checked with "
                          "`promtool check metrics` (Debian's prometheus "
                          "package; scripts/install-deps.sh installs it); "
                          "everything else in this test passed")


class AgentDiscoveryTest(E2ETestCase):
    REGISTERED = 0

    def test_agents_registering_later_get_probers(self):
        """The coordinator starts before any agent registers: it must not
        suppress offers before it has seen any (it would miss every agent
        until its periodic revive, 5 minutes by default), nor right after
        the first: agents register one after the other, and one offered
        after the SUPPRESS would wait for the periodic revive
        (--discovery-grace keeps offers on until no new agent came for
        that long). Later, with a short --revive-interval, an agent joining
        a quiet (suppressed) cluster is found by the periodic REVIVE."""
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.start_coordinator(["--discovery-grace", "5s"])
        time.sleep(1.0)
        c.add_agent("agent1")
        # its prober launched: without the grace, offers are suppressed now
        c.wait_running({"prober": ["agent1"]}, timeout=10)
        c.add_agent("agent2")
        c.wait_running({"prober": ["agent1", "agent2"]}, timeout=10)
        c.wait_reporting(["agent1", "agent2"])
        c.quiesce()
        first = c.coordinator
        fid = c.state()["framework_id"]
        rc, _ = first.stop()
        self.assertEqual(rc, 0, "SIGTERM: clean exit")

        c.start_coordinator(["--revive-interval", "1s"])
        c.quiesce()
        t0 = time.time()
        c.add_agent("agent3")
        c.wait_running({"prober": c.hosts}, timeout=10)
        self.note("agent joining a suppressed cluster -> prober RUNNING: "
                  "%.1fs (--revive-interval 1s)" % (time.time() - t0))
        c.wait_reporting()
        rc, _ = c.coordinator.stop()
        self.assertEqual(rc, 0, "SIGTERM: clean exit")

        # a clean restart (default revive interval, so the audit sees a
        # quiet end): same framework, nothing relaunched
        probers = ids_by_service(c.emulator.live_tasks(), "prober")
        c.start_coordinator()
        c.quiesce()
        self.assertEqual(c.state()["framework_id"], fid)
        self.assertEqual(ids_by_service(c.emulator.live_tasks(), "prober"),
                         probers)
        self.assertEqual(len([i for _, i in c.launches()]), 3)
        c.finish(self)
