"""A second disk marked on a node that already runs the service reaches the
running service (issue 9): under a device root the running container sees
it through the root's shared mount (nothing is relaunched); outside every
root the service is replaced once, health-gated. One of two devices going
away keeps the service running."""

import os
import time
import unittest

import qmtest
from e2e import E2ETestCase, task_service, wait_until

VERSION = "3.0.1"


def volume_params(info):
    return [p["value"] for p in
            info.get("container", {}).get("docker", {}).get("parameters", [])
            if p["key"] == "volume"]


def service_tasks(cluster, service, host):
    node = cluster.node(host)
    return [t for t in node["services"] if t["service"] == service]


def deploy(c, data_host, extra=()):
    """registry and metadata on agent1, one data disk on data_host, every
    service running; returns (the data disk's mount point, wanted tasks)."""
    c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
    c.disk("agent1", "md", ["METADATA_DEVICE"])
    mp = c.disk(data_host, "data1", ["DATA_DEVICE"])
    c.start_coordinator(extra)
    c.wait_reporting()
    c.set_version(VERSION)
    want = {"registry": ["agent1"], "metadata": ["agent1"],
            "data": [data_host], "api": 1, "webconsole": 1,
            "prober": c.hosts}
    c.wait_running(want)
    c.quiesce()
    return mp, want


class HotAddUnderRootTest(E2ETestCase):
    NAGENTS = 2

    def test_second_data_disk_reaches_the_running_service(self):
        c = self.cluster
        # a removal grace long enough for the come-back below on a slow
        # machine
        d1, _ = deploy(c, "agent2", ["--removal-grace", "20s"])
        root = c.device_root("agent2")
        launches = [i for _, i in c.launches() if task_service(i) == "data"]
        self.assertEqual(len(launches), 1)
        self.assertIn("%s:%s:rw,rshared" % (root, root),
                      volume_params(launches[0]),
                      "the device root is shared into the container")
        tid = launches[0]["task_id"]["value"]
        mark = len(c.journal())

        mp = c.disk("agent2", "data2", ["DATA_DEVICE"])
        wait_until(lambda: any(d["root"] == mp for d in
                               c.node("agent2")["devices"]), 20,
                   what="the second data device reported")
        c.quiesce()
        recs = c.journal()[mark:]
        self.assertEqual([i for _, i in c.launches(recs)], [],
                         "nothing relaunched: the container sees the disk")
        self.assertEqual(c.calls("KILL", recs), [])
        data = service_tasks(c, "data", "agent2")
        self.assertEqual([t["task_id"] for t in data], [tid])
        self.assertNotIn("replacing", data[0])
        self.assertEqual(data[0]["mounts"], root)

        # one of the two data devices goes: the service stays
        c.unmark(mp)
        wait_until(lambda: not any(d["root"] == mp for d in
                                   c.node("agent2")["devices"]), 20,
                   what="the unmarked device gone from the inventory")
        c.quiesce()
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        self.assertEqual([t["task_id"] for t in
                          service_tasks(c, "data", "agent2")], [tid])

        # the last data device goes and comes back within the grace: the
        # pending removal is cancelled, the service never stopped
        c.unmark(d1)
        wait_until(lambda: service_tasks(c, "data", "agent2")[0]
                   .get("unwanted_since_unix_ms"), 20,
                   what="the data service marked for removal")
        c.mark(d1, ["DATA_DEVICE"])
        wait_until(lambda: not service_tasks(c, "data", "agent2")[0]
                   .get("unwanted_since_unix_ms"), 20,
                   what="the removal cancelled")
        c.quiesce()
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        self.assertEqual([t["task_id"] for t in
                          service_tasks(c, "data", "agent2")], [tid])
        c.finish(self)


class HotAddOutsideRootsTest(E2ETestCase):
    """No device roots anywhere: each device directory is its own bind
    mount, so a new one needs a new container."""

    NAGENTS = 1
    ROOTS = False

    def test_second_data_disk_replaces_the_service_once(self):
        c = self.cluster
        d1, want = deploy(c, "agent1")
        first = [i for _, i in c.launches() if task_service(i) == "data"]
        self.assertEqual(len(first), 1)
        old = first[0]["task_id"]["value"]
        mark = len(c.journal())

        d2 = c.disk("agent1", "data2", ["DATA_DEVICE"])

        def replaced():
            ls = [i for _, i in c.launches(c.journal()[mark:])
                  if task_service(i) == "data"]
            return ls if ls else None
        launches = wait_until(replaced, 30, what="the data service replaced")
        c.wait_running(want)
        c.quiesce()
        recs = c.journal()[mark:]
        kills = c.calls("KILL", recs)
        self.assertEqual([k["body"]["kill"]["task_id"]["value"]
                          for k in kills], [old], "exactly the old data task")
        self.assertEqual(len(launches), 1, "replaced once")
        vols = [v["host_path"] for v in
                launches[0]["container"].get("volumes", [])] + \
            [p.split(":")[0] for p in volume_params(launches[0])]
        self.assertIn(d1, vols)
        self.assertIn(d2, vols)
        # never two data services on the node: the KILL came first and the
        # new task launched only after the old one ended
        kill_line = kills[0]["_line"]
        launch_line = [r for r, i in c.launches(recs)
                       if task_service(i) == "data"][0]["_line"]
        self.assertLess(kill_line, launch_line)
        ended = [r for r in recs if r.get("direction") == "event" and
                 r["event"].get("type") == "UPDATE" and
                 r["event"]["update"]["status"]["task_id"]["value"] == old
                 and r["event"]["update"]["status"]["state"] in
                 ("TASK_KILLED", "TASK_FINISHED", "TASK_FAILED")]
        self.assertTrue(ended and ended[0]["_line"] < launch_line,
                        "the old task ended before its successor launched")
        why = [x for x in c.coordinator.log_events("task_kill")
               if x.get("task_id") == old]
        self.assertEqual(why[0]["reason"], "replace", why)
        self.assertIn(d2, why[0]["detail"])
        c.finish(self)


class MarkerTypeChangeTest(E2ETestCase):
    """A disk re-marked from DATA to METADATA on a node that runs both
    services moves to the metadata service: counted once, nothing
    relaunched while another data disk remains; the data service goes only
    with the last data disk."""

    NAGENTS = 1

    def test_data_disk_remarked_metadata_moves_once(self):
        c = self.cluster
        d1, want = deploy(c, "agent1", ["--removal-grace", "1s"])
        d2 = c.disk("agent1", "data2", ["DATA_DEVICE"])
        wait_until(lambda: any(d["root"] == d2 for d in
                               c.node("agent1")["devices"]), 20,
                   what="the second data device reported")
        c.quiesce()
        mark = len(c.journal())
        tasks = {s: [t["task_id"] for t in service_tasks(c, s, "agent1")]
                 for s in ("data", "metadata")}

        c.mark(d2, ["METADATA_DEVICE"])

        def moved():
            devs = [d for d in c.node("agent1")["devices"] if d["root"] == d2]
            return devs if devs and devs[0]["types"] == ["metadata"] else None
        devs = wait_until(moved, 20, what="the device re-typed")
        self.assertEqual(len(devs), 1, "one device, not one per type")
        c.quiesce()
        recs = c.journal()[mark:]
        self.assertEqual([i for _, i in c.launches(recs)], [])
        self.assertEqual(c.calls("KILL", recs), [])
        for s in ("data", "metadata"):
            self.assertEqual([t["task_id"] for t in
                              service_tasks(c, s, "agent1")], tasks[s],
                             "%s service untouched" % s)
        roots = [d["root"] for d in c.node("agent1")["devices"]]
        self.assertEqual(sorted(roots), sorted(set(roots)),
                         "no device listed twice")

        # the last data disk becomes metadata too: the data service goes
        # (after the grace), the metadata service stays
        c.mark(d1, ["METADATA_DEVICE"])
        wait_until(lambda: not service_tasks(c, "data", "agent1"), 30,
                   what="the data service removed with its last disk")
        c.quiesce()
        kills = c.calls("KILL", c.journal()[mark:])
        self.assertEqual([k["body"]["kill"]["task_id"]["value"]
                          for k in kills], tasks["data"])
        self.assertEqual([t["task_id"] for t in
                          service_tasks(c, "metadata", "agent1")],
                         tasks["metadata"])
        c.finish(self)


@unittest.skipUnless(qmtest.BINDFS, "bindfs is not installed "
                     "(scripts/install-deps.sh installs it)")
class HungDataDiskTest(E2ETestCase):
    """The only data disk of a node hangs (its loop device's image is on a
    paused FUSE mount): the prober reports it as probe_timeout with its
    last types, the coordinator keeps the data service, and the disk is
    back to ok when its reads return."""

    NAGENTS = 1

    def test_hung_data_disk_keeps_its_service(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        md = c.disk("agent1", "md", ["METADATA_DEVICE"])
        fuse = qmtest.Bindfs(os.path.join(c.root, "fuse-src"),
                             os.path.join(c.root, "fuse"))
        lo = qmtest.LoopDevice(os.path.join(fuse.target, "hung.img"), 16 << 20)
        lo.mkfs("ext4")
        hung = os.path.join(c.device_root("agent1"), "hung")
        qmtest.Mount(lo.path, hung)
        c.mark(hung, ["DATA_DEVICE"])
        c.start_coordinator(["--removal-grace", "1s"])
        c.wait_reporting()
        c.set_version(VERSION)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent1"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want)
        c.quiesce()
        data = [t["task_id"] for t in service_tasks(c, "data", "agent1")]
        mark = len(c.journal())

        os.sync()
        fuse.pause()
        # the first cleanup: a prober with a blocked read cannot exit
        self.addCleanup(fuse.resume)
        qmtest.drop_caches()
        c.mark(md, ["METADATA_DEVICE"])  # any event makes the prober look

        def state_of(root):
            ds = [d for d in c.node("agent1")["devices"] if d["root"] == root]
            return ds[0] if ds else None
        d = wait_until(lambda: (state_of(hung) or {}).get("state") ==
                       "probe_timeout" and state_of(hung), 30,
                       what="the hung disk reported as probe_timeout")
        self.assertEqual(d["types"], ["data"])
        self.assertIn("blocked", d.get("error", ""))
        # longer than the removal grace: a disk gone would lose its service
        time.sleep(2.5)
        c.quiesce()
        recs = c.journal()[mark:]
        self.assertEqual(c.calls("KILL", recs), [], "the data service stays")
        self.assertEqual([t["task_id"] for t in
                          service_tasks(c, "data", "agent1")], data)
        self.assertTrue(c.node("agent1")["prober"]["reporting"],
                        "the prober still reports (heartbeats flow)")

        fuse.resume()
        wait_until(lambda: (state_of(hung) or {}).get("state") == "ok", 30,
                   what="the disk back to ok once its reads return")
        c.quiesce()
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        c.finish(self)
