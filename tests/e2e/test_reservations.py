"""Reservations, MOUNT disks and maintenance (issue 10), end to end.

A node-pinned service reserves what it runs on, with labels naming this
framework and the service; a competing framework that takes every
unreserved resource it is offered (the emulator's competitor) is what makes
a missing reservation visible. Nothing is ever released without the
operator's REST call: the journal audit of every e2e test
(audit.releases_permitted) counts UNRESERVE/DESTROY calls not preceded by
the operator's note, and must find none."""

import json
import os
import time
import unittest

import qmtest
from e2e import (AGENT_RESOURCES, E2ETestCase, TERMINAL, task_service,
                 wait_until)
from test_security import admin_token

VERSION = "3.0.1"
FRAMEWORK = "quobyte"
ROLE = "quobyte"


def labels(reservation):
    return {lb["key"]: lb.get("value") for lb in
            (reservation.get("labels") or {}).get("labels") or []}


def top_reservation(res):
    """The innermost reservation of a resource in either format."""
    stack = res.get("reservations")
    if stack:
        return dict(stack[-1])
    if res.get("role") not in (None, "*"):
        return dict(res.get("reservation") or {}, role=res["role"])
    return None


def reserved_for(res):
    """(role, framework label, service label) of a resource, or None."""
    top = top_reservation(res)
    if top is None:
        return None
    lb = labels(top)
    return (top.get("role"), lb.get("quobyte-mesos.framework"),
            lb.get("quobyte-mesos.service"))


def operations(records, optype):
    """[(record, operation)] of every ACCEPT operation of a type."""
    out = []
    for r in records:
        if r.get("direction") != "call" or r.get("call_type") != "ACCEPT":
            continue
        for op in ((r.get("body") or {}).get("accept") or {}) \
                .get("operations") or []:
            if op.get("type") == optype:
                out.append((r, op))
    return out


def deploy(c, data_host, extra=(), token=None):
    c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
    c.disk("agent1", "md", ["METADATA_DEVICE"])
    mp = c.disk(data_host, "data1", ["DATA_DEVICE"])
    c.start_coordinator(extra)
    c.wait_reporting()
    c.set_version(VERSION, token=token)
    want = {"registry": ["agent1"], "metadata": ["agent1"],
            "data": [data_host], "api": 1, "webconsole": 1,
            "prober": c.hosts}
    c.wait_running(want)
    c.quiesce()
    return mp, want


def data_task(c, host):
    for t in c.emulator.live_tasks():
        if task_service(t["task_id"]) == "data" and \
                t.get("hostname", host) == host:
            return t
    return None


class ReservationTest(E2ETestCase):
    NAGENTS = 2
    # api and webconsole land on agent2 too: room for them and data
    AGENT_RESOURCES = AGENT_RESOURCES

    def test_first_launch_reserves_with_labels(self):
        c = self.cluster
        deploy(c, "agent2")
        recs = c.journal()
        reserves = operations(recs, "RESERVE")
        self.assertTrue(reserves, "no RESERVE was sent")
        pinned = {"registry", "metadata", "data", "prober"}
        seen = set()
        for rec, op in reserves:
            ops = [o["type"] for o in rec["body"]["accept"]["operations"]]
            self.assertLess(ops.index("RESERVE"), ops.index("LAUNCH"),
                            "the RESERVE goes before the LAUNCH: %s" % ops)
            for res in op["reserve"]["resources"]:
                role, fw, svc = reserved_for(res)
                self.assertEqual((role, fw), (ROLE, FRAMEWORK), res)
                self.assertIn(svc, pinned, res)
                seen.add(svc)
        self.assertEqual(seen, pinned)
        # api and webconsole run unreserved
        for _, info in c.launches(recs):
            svc = task_service(info)
            for res in info["resources"]:
                r = reserved_for(res)
                if svc in pinned:
                    self.assertEqual(r[2], svc, (svc, res))
                else:
                    self.assertIsNone(r, (svc, res))
        st = c.state()
        have = {(r["service"], r["hostname"]) for r in st["reservations"]}
        self.assertIn(("data", "agent2"), have)
        self.assertIn(("prober", "agent1"), have)
        self.assertFalse(any(r["releasable"] for r in st["reservations"]))
        # without API tokens nobody may release anything
        status, _, body = c.rest_call("DELETE", "/v1/reservations/%s/data"
                                      % c.node("agent2")["agent_id"])
        self.assertEqual(status, 403, body)
        self.assertIn(b"--api-token-file", body)
        c.finish(self)

    def _kill_data_under_competition(self, c):
        """The competitor takes every unreserved resource; then the data
        task fails. Returns the failed task id."""
        c.emulator.control("competitor", {"agents": ["agent2"]})
        wait_until(lambda: c.emulator.control("competitor").get("holdings"),
                   10, what="the competitor holding agent2's resources")
        task = data_task(c, "agent2")
        self.assertIsNotNone(task)
        c.emulator.control("task/fail", {"task_id": task["task_id"]})
        return task["task_id"]

    def test_killed_data_service_comes_back_on_its_reservation(self):
        c = self.cluster
        deploy(c, "agent2")
        mark = len(c.journal())
        old = self._kill_data_under_competition(c)
        t0 = time.monotonic()
        wait_until(lambda: any(t["service"] == "data" and
                               t["state"] == "TASK_RUNNING" and
                               t["task_id"] != old
                               for t in c.node("agent2")["services"]),
                   40, interval=0.05, what="data running again on agent2")
        self.note("data failed -> running again on its reservation, "
                  "competitor holding the rest: %.2fs (backoff base 1s)"
                  % (time.monotonic() - t0))
        relaunch = [i for _, i in c.launches(c.journal()[mark:])
                    if task_service(i) == "data"]
        self.assertEqual(len(relaunch), 1)
        for res in relaunch[0]["resources"]:
            self.assertEqual(reserved_for(res), (ROLE, FRAMEWORK, "data"),
                             "the relaunch runs on the reservation: %s" % res)
        self.assertEqual(operations(c.journal()[mark:], "RESERVE"), [],
                         "nothing new to reserve on a relaunch")
        held = c.emulator.control("competitor")
        self.assertTrue(held.get("holdings"), held)
        c.emulator.control("competitor/stop", {})
        c.finish(self)

    def test_without_reservations_the_competitor_wins(self):
        """The control case: with --reserve=false the same failure leaves
        data without resources, which is what the reservations prevent."""
        c = self.cluster
        deploy(c, "agent2", ["--reserve=false"])
        self.assertEqual(operations(c.journal(), "RESERVE"), [])
        mark = len(c.journal())
        old = self._kill_data_under_competition(c)
        # with its reservation data is back within about a second (the test
        # above); here the competitor holds everything it ran on
        time.sleep(5)
        self.assertEqual([i for _, i in c.launches(c.journal()[mark:])
                          if task_service(i) == "data"], [],
                         "no resources for data on agent2")
        self.assertFalse(any(t["service"] == "data" and t["task_id"] != old
                             and t["state"] not in TERMINAL
                             for t in c.node("agent2")["services"]))
        phases = {p["phase"]: p for p in c.state()["phases"]}
        self.assertEqual(phases["data"]["ready"], 0)
        # the competitor lets go: data comes back
        c.emulator.control("competitor/stop", {})
        wait_until(lambda: any(t["service"] == "data" and
                               t["state"] == "TASK_RUNNING" and
                               t["task_id"] != old
                               for t in c.node("agent2")["services"]),
                   40, what="data running again once the resources are free")
        c.quiesce()
        c.finish(self)

    def test_operator_release_only(self):
        c = self.cluster
        token, tokfile, auth = admin_token(c)
        mp, _ = deploy(c, "agent2", ["--api-token-file", tokfile,
                                     "--removal-grace", "1s"], token=token)
        agent2 = c.node("agent2")["agent_id"]
        agent1 = c.node("agent1")["agent_id"]
        path = "/v1/reservations/%s/data" % agent2

        # still wanted: kept
        status, _, body = c.rest_call("DELETE", path, headers=auth)
        self.assertEqual(status, 409, body)
        # the device goes: the data service goes, the reservation stays
        c.unmark(mp)
        wait_until(lambda: not any(t["service"] == "data"
                                   for t in c.node("agent2")["services"]
                                   if t["state"] not in TERMINAL), 30,
                   what="data service removed from agent2")

        def releasable():
            st, _, b = c.rest_call("GET", "/v1/reservations", headers=auth)
            rs = json.loads(b)["reservations"]
            return [r for r in rs if r["releasable"]]
        wait_until(lambda: [(r["service"], r["agent_id"])
                            for r in releasable()] == [("data", agent2)],
                   20, what="the data reservation releasable")
        time.sleep(1.5)  # several offer cycles: still nothing released
        self.assertEqual(operations(c.journal(), "UNRESERVE"), [])

        # hostile and wrong calls
        self.assertEqual(c.rest_call("DELETE", path)[0], 401)
        self.assertEqual(c.rest_call("DELETE", "/v1/reservations/%s/data"
                                     % agent1, headers=auth)[0], 404)
        self.assertEqual(c.rest_call("DELETE", "/v1/reservations/%s/registry"
                                     % agent1, headers=auth)[0], 409)
        self.assertEqual(c.rest_call("DELETE", "/v1/reservations/x/y/z",
                                     headers=auth)[0], 400)
        self.assertEqual(c.rest_call("DELETE", "/v1/reservations/%s/nope"
                                     % agent2, headers=auth)[0], 400)
        self.assertEqual(operations(c.journal(), "UNRESERVE"), [])

        c.emulator.control("note", {"kind": "operator_release",
                                    "agent": agent2, "service": "data"})
        status, _, body = c.rest_call("DELETE", path, headers=auth)
        self.assertEqual(status, 202, body)
        wait_until(lambda: operations(c.journal(), "UNRESERVE"), 20,
                   what="the UNRESERVE in an ACCEPT")
        unres = operations(c.journal(), "UNRESERVE")
        self.assertEqual(len(unres), 1)
        for res in unres[0][1]["unreserve"]["resources"]:
            self.assertEqual(reserved_for(res), (ROLE, FRAMEWORK, "data"))
        wait_until(lambda: not any(r["service"] == "data"
                                   for r in c.state()["reservations"]), 10,
                   what="the released reservation gone from the state")
        c.finish(self)


class LostStateTest(E2ETestCase):
    NAGENTS = 2

    def test_empty_state_finds_reservations_and_releases_none(self):
        c = self.cluster
        deploy(c, "agent2")
        before = {(r["service"], r["hostname"])
                  for r in c.state()["reservations"]}
        old_fw = c.state()["framework_id"]
        c.kill_coordinator()
        # the state is lost; the old framework's tasks end with it
        for name in os.listdir(c.state_dir):
            if name.startswith("state"):
                os.unlink(os.path.join(c.state_dir, name))
        # once the emulator saw the stream end, the failover timeout is cut
        # short: the old framework and its tasks are removed
        wait_until(lambda: c.emulator.control(
            "framework/expire", {"framework_id": old_fw}, expect=None)
            .get("removed") == old_fw, 15,
            what="the old framework removed by the master")
        mark = len(c.journal())
        c.start_coordinator()
        self.assertNotEqual(c.state()["framework_id"], old_fw)
        wait_until(lambda: before <= {(r["service"], r["hostname"])
                                      for r in c.state()["reservations"]},
                   30, what="every reservation found again by its labels")
        c.wait_reporting()
        c.set_version(VERSION)
        c.wait_running({"registry": ["agent1"], "metadata": ["agent1"],
                        "data": ["agent2"], "api": 1, "webconsole": 1,
                        "prober": c.hosts})
        c.quiesce()
        recs = c.journal()[mark:]
        self.assertEqual(operations(recs, "UNRESERVE"), [])
        self.assertEqual(operations(recs, "DESTROY"), [])
        for _, info in c.launches(recs):
            svc = task_service(info)
            if svc in ("registry", "metadata", "data", "prober"):
                for res in info["resources"]:
                    self.assertEqual(reserved_for(res),
                                     (ROLE, FRAMEWORK, svc), res)
        found = {(e.get("service"), e.get("hostname"))
                 for e in c.coordinator.log_events("reservation_found")}
        self.assertTrue(before <= found, (before, found))
        c.finish(self)


def mount_disk(root, mb):
    return {"name": "disk", "type": "SCALAR", "scalar": {"value": mb},
            "disk": {"source": {"type": "MOUNT", "mount": {"root": root}}}}


class MountDiskTest(E2ETestCase):
    """agent2 registers late, offering two Mesos MOUNT disks whose roots are
    real mounts: one marked as a data device, one not (a candidate)."""
    NAGENTS = 2
    REGISTERED = 1

    def test_marked_mount_disk_is_reserved_and_launched(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        mp = c.disk("agent2", "data1", ["DATA_DEVICE"])
        spare = c.disk("agent2", "spare", ["DATA_DEVICE"], mark=False)
        c.agent_specs["agent2"]["resources"] = [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32768}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 1024}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [
                {"begin": 7000, "end": 9000},
                {"begin": 31000, "end": 32000}]}},
            mount_disk(mp, 16), mount_disk(spare, 16)]
        c.add_agent("agent2")
        c.start_coordinator()
        c.wait_reporting()
        c.set_version(VERSION)
        c.wait_running({"registry": ["agent1"], "metadata": ["agent1"],
                        "data": ["agent2"], "api": 1, "webconsole": 1,
                        "prober": c.hosts})
        c.quiesce()
        recs = c.journal()
        data = [(r, i) for r, i in c.launches(recs)
                if task_service(i) == "data"]
        self.assertEqual(len(data), 1)
        disks = [res for res in data[0][1]["resources"]
                 if res.get("disk", {}).get("source", {}).get("type")
                 == "MOUNT"]
        self.assertEqual([d["disk"]["source"]["mount"]["root"]
                          for d in disks], [mp],
                         "the marked MOUNT disk, and only it, is launched")
        self.assertEqual(reserved_for(disks[0]), (ROLE, FRAMEWORK, "data"))
        reserved = [res for _, op in operations(recs, "RESERVE")
                    for res in op["reserve"]["resources"]
                    if res.get("disk", {}).get("source")]
        self.assertEqual([d["disk"]["source"]["mount"]["root"]
                          for d in reserved], [mp])
        node = c.node("agent2")
        by_root = {d["root"]: d for d in node["mount_disks"]}
        self.assertEqual(by_root[spare]["state"], "candidate", by_root)
        self.assertEqual(by_root[mp].get("reserved_for", "data"), "data")
        rsv = [r for r in c.state()["reservations"]
               if r["service"] == "data"]
        self.assertEqual(len(rsv), 1)
        self.assertIn(mp, rsv[0].get("mount_disks", ""))
        c.finish(self)


class MaintenanceTest(E2ETestCase):
    """One registry, on agent1: letting agent1 go would lose the registry
    quorum (0 of 1 stays), agent2 can go."""
    NAGENTS = 2

    def test_inverse_offers_follow_the_quorum_rule(self):
        c = self.cluster
        deploy(c, "agent2")
        mark = len(c.journal())
        c.emulator.control("maintenance", {"agent": "agent1",
                                           "start_s": 600,
                                           "duration_s": 3600})
        c.emulator.control("maintenance", {"agent": "agent2",
                                           "start_s": 600,
                                           "duration_s": 3600})
        wait_until(lambda: c.calls("DECLINE_INVERSE_OFFERS",
                                   c.journal()[mark:]) and
                   c.calls("ACCEPT_INVERSE_OFFERS", c.journal()[mark:]),
                   20, what="both inverse offers answered")
        status = c.emulator.control("maintenance")
        text = json.dumps(status)
        self.assertIn("declined", text)
        self.assertIn("accepted", text)
        st = c.state()
        self.assertEqual(c.node("agent1")["maintenance"]["state"],
                         "scheduled")
        self.assertTrue(any("agent1" in p and "quorum" in p
                            for p in st["problems"]), st["problems"])
        # nothing was killed for it
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        c.finish(self)

    def test_open_ended_window_in_progress(self):
        """An operator's maintenance without a duration (Unavailability
        without a duration lasts forever: mesos.proto, 1.4.0 to 1.11.0),
        already begun. Each plan while the inverse offer was held asked
        for a wake at the end of time, and now + that overflowed whenever
        the plan took a millisecond or more (found by fuzz_events; so this
        test did not fail every time before the fix: test_plan_rsv and
        test_evloop pin it down). agent2 holds only data, so it may go."""
        c = self.cluster
        deploy(c, "agent2")
        mark = len(c.journal())
        c.emulator.control("maintenance", {"agent": "agent2",
                                           "start_s": -60})
        wait_until(lambda: c.calls("ACCEPT_INVERSE_OFFERS",
                                   c.journal()[mark:]),
                   20, what="the inverse offer for agent2 accepted")
        # replans after the answer (each would ask for the wake)
        c.emulator.control("maintenance", {"agent": "agent1",
                                           "start_s": 600,
                                           "duration_s": 3600})
        wait_until(lambda: c.calls("DECLINE_INVERSE_OFFERS",
                                   c.journal()[mark:]),
                   20, what="the inverse offer for agent1 declined")
        self.assertTrue(c.coordinator.alive(), c.coordinator.stderr_text())
        m = c.node("agent2")["maintenance"]
        self.assertEqual(m["state"], "in progress", m)
        self.assertNotIn("duration_ms", m)
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        c.finish(self)


if __name__ == "__main__":
    unittest.main()
