"""End-to-end tests on real containers (issue 16): the emulator's agents run
every Docker task through podman, the Quobyte services from the stand-in
quobyte-server image (tests/standin), the Docker-mode prober from our own
image (containers/Dockerfile). What a user of a real cluster would check:

* every service container runs as the coordinator specified it (image, host
  network, privileged, environment) and answers on its ports;
* the data container lists its disks; a disk marked at runtime shows up
  inside the running container (through the device root's shared mount),
  an unmarked one leaves it, and the container is never replaced for it;
* the client's /quobyte mount inside its container is visible on the host;
* real health checks gate a rolling upgrade: a stand-in told to fail its
  health check holds the rollout, a good version completes it;
* a container killed from outside is TASK_FAILED and replaced;
* the Docker-mode prober, in its own container, finds the host's marked
  loop devices and reports a hot-add;
* no container is left behind by any test.

Run by run_containers.py, which sets podman up (tests/container/
podman_lib.sh) and builds the images first; module globals below are set
there.
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import qmtest
from e2e import E2ETestCase, env_of, task_service, wait_until

# set by run_containers.setup()
PODMAN_ARGS = []          # podman's global options (store, runtime)
PODMAN_ULIMITS = []       # --ulimit options for `podman run`
STANDIN = "localhost/quobyte-server-standin"
PROBER_IMAGE = "localhost/quobyte-mesos:test"   # qmcontainers.PROBER_IMAGE
LABEL = "quobyte-mesos.emulator"
VERSION = "2.0"
NEXT = "2.1"


def podman(*args, timeout=60, check=True):
    r = subprocess.run(["podman"] + PODMAN_ARGS + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True)
    if check and r.returncode != 0:
        raise AssertionError("podman %s: %s" % (" ".join(args),
                                                r.stderr.strip()[-500:]))
    return r.stdout


def our_containers(all_states=True):
    """Every container any emulator of these tests started (by label)."""
    args = ["ps", "--format", "json", "--filter", "label=" + LABEL]
    if all_states:
        args.insert(1, "-a")
    return json.loads(podman(*args) or "[]")


def inspect(name):
    doc = json.loads(podman("inspect", "--type", "container", name))
    return doc[0]


def agent_ports(i):
    """Each agent its own port range: all agents share this machine, and a
    real container binds its ports on the host."""
    lo = 20000 + 200 * i
    return "cpus:8;mem:32768;disk:102400;ports:[%d-%d]" % (lo, lo + 199)


def http_get(port, path, timeout=3):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=timeout) as r:
        return r.status, r.read()


class ContainerTestCase(E2ETestCase):
    """Clusters whose Docker tasks are real containers. Each agent's device
    root is a shared mount, as a node's disk directory must be for rshared
    bind mounts (Docker refuses rshared on a private source; a disk mounted
    later then propagates into the running container)."""

    NAGENTS = 2
    AGENT_RESOURCES = staticmethod(agent_ports)

    def emulator_extra(self):
        return ["--docker-runtime", "podman",
                "--podman-args", " ".join(PODMAN_ARGS),
                "--docker-ulimits", " ".join(PODMAN_ULIMITS)]

    def setUp(self):
        super().setUp()
        c = self.cluster
        for h in c.hosts:
            self.shared(c.device_root(h))
        self.addCleanup(self.no_container_left)

    def shared(self, path):
        os.makedirs(path, exist_ok=True)
        qmtest.Mount(path, path, bind=True)
        qmtest.run(["mount", "--make-shared", path])

    def no_container_left(self):
        """Runs after the cluster's cleanup (registered later, runs
        earlier: so stop the emulator first)."""
        self.cluster.close()
        left = [c.get("Names") for c in our_containers()]
        self.assertEqual(left, [], "containers left behind")

    # -- helpers ----------------------------------------------------------

    def start(self, extra=()):
        c = self.cluster
        c.start_coordinator(["--image", STANDIN] + list(extra))
        c.wait_reporting()
        return c

    def task(self, service, host):
        """The emulator's live task of service on host (one)."""
        ts = [t for t in self.cluster.emulator.live_tasks()
              if task_service(t["task_id"]) == service and
              t["hostname"] == host]
        self.assertEqual(len(ts), 1, "%s on %s: %s" % (service, host, ts))
        return ts[0]

    def info(self, task_id):
        for _, info in reversed(self.cluster.launches()):
            if info["task_id"]["value"] == task_id:
                return info
        raise AssertionError("no LAUNCH of %s" % task_id)

    def container(self, task):
        return inspect("mesos-" + task["container_id"])

    def report(self, task, timeout=3):
        env = env_of(self.info(task["task_id"]))
        port = int(env.get("QUOBYTE_HTTP_PORT") or
                   env.get("QUOBYTE_API_PORT") or
                   env.get("QUOBYTE_WEBCONSOLE_PORT"))
        status, body = http_get(port, "/report", timeout)
        self.assertEqual(status, 200)
        return json.loads(body)

    def device_paths(self, task):
        return sorted(d["path"] for d in self.report(task)["devices"])


class ServiceContainersTest(ContainerTestCase):

    def test_services_run_as_specified_and_see_their_disks(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        d1 = c.disk("agent2", "data1", ["DATA_DEVICE"])
        self.start(["--removal-grace", "20s"])
        c.set_version(VERSION)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want, timeout=90)
        c.quiesce(timeout=60)

        # every service container as specified, answering on its ports
        for svc in ("registry", "metadata", "data", "api", "webconsole"):
            t = [t for t in c.emulator.live_tasks()
                 if task_service(t["task_id"]) == svc][0]
            info = self.info(t["task_id"])
            ct = self.container(t)
            self.assertTrue(ct["State"]["Running"], svc)
            self.assertEqual(ct["ImageName"], "%s:%s" % (STANDIN, VERSION))
            self.assertEqual(ct["HostConfig"]["NetworkMode"], "host", svc)
            self.assertTrue(ct["HostConfig"]["Privileged"], svc)
            env = dict(e.split("=", 1) for e in ct["Config"]["Env"])
            for k, v in env_of(info).items():
                self.assertEqual(env.get(k), v, "%s: %s" % (svc, k))
            self.assertEqual(env.get("MESOS_SANDBOX"), "/mnt/mesos/sandbox")
            rep = self.report(t)
            self.assertTrue(rep["standin"])
            self.assertEqual(rep["service"], svc)
            self.assertEqual(rep["version"], VERSION)

        # the data container lists its disk: an ext4 mount point
        data = self.task("data", "agent2")
        rep = self.report(data)
        self.assertEqual([d["path"] for d in rep["devices"]], [d1])
        self.assertTrue(rep["devices"][0]["mount_point"])
        self.assertEqual(rep["devices"][0]["fstype"], "ext4")
        self.assertGreater(rep["devices"][0]["bytes_total"], 0)
        cid = self.container(data)["Id"]

        # hot-add: a disk marked at runtime is in the running container
        mark = len(c.journal())
        t0 = time.monotonic()
        d2 = c.disk("agent2", "data2", ["DATA_DEVICE"])
        wait_until(lambda: d2 in self.device_paths(data), 10, interval=0.02,
                   what="the new disk inside the running data container")
        seen = time.monotonic() - t0
        self.note("disk mounted + marked on the host -> in the running "
                  "data container's report: %.0f ms" % (seen * 1000))
        self.assertLess(seen, 2.0, "within 2 s of the marker")
        wait_until(lambda: any(d["root"] == d2 for d in
                               c.node("agent2")["devices"]), 20,
                   what="the second data device reported")
        c.quiesce(timeout=60)
        recs = c.journal()[mark:]
        self.assertEqual([i for _, i in c.launches(recs)], [],
                         "no second data container")
        self.assertEqual(self.container(self.task("data", "agent2"))["Id"],
                         cid, "the same container")

        # unmarking one of the two leaves the report; the service stays
        c.unmark(d2)
        wait_until(lambda: self.device_paths(data) == [d1], 10,
                   what="the unmarked disk gone from the container's report")
        wait_until(lambda: not any(d["root"] == d2 for d in
                                   c.node("agent2")["devices"]), 20,
                   what="the unmarked device gone from the inventory")
        c.quiesce(timeout=60)
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [])
        self.assertEqual(self.container(self.task("data", "agent2"))["Id"],
                         cid)

        # a container killed from outside: TASK_FAILED, then replaced
        old = data["task_id"]
        podman("kill", "mesos-" + data["container_id"])

        def failed():
            for t in c.emulator.tasks():
                if t["task_id"] == old and t["state"] == "TASK_FAILED":
                    return t
            return None
        wait_until(failed, 20, what="the killed container's task failed")
        c.wait_running(want, timeout=60)
        new = self.task("data", "agent2")
        self.assertNotEqual(new["task_id"], old)
        self.assertEqual(self.device_paths(new), [d1])
        c.finish(self)


class OneNodeClusterTest(ContainerTestCase):
    """Every service on one node, the client included."""

    NAGENTS = 1

    def test_client_mount_on_the_host_and_health_gated_rollout(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent1", "data", ["DATA_DEVICE"])
        mnt = os.path.join(c.root, "quobyte")
        self.shared(mnt)
        self.start(["--client", "--client-mount-point", mnt])
        c.set_version(VERSION)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent1"], "api": 1, "webconsole": 1,
                "client": ["agent1"], "prober": ["agent1"]}
        c.wait_running(want, timeout=90)
        c.quiesce(timeout=60)

        # the client container's mount at /quobyte is on the host
        client = self.task("client", "agent1")
        self.assertEqual(self.container(client)["HostConfig"]["PidMode"],
                         "host")
        marker = os.path.join(mnt, ".quobyte-standin")
        wait_until(lambda: os.path.exists(marker), 10,
                   what="the client's mount visible on the host")
        self.assertIn(mnt, qmtest.mounted_at(c.root))
        self.assertTrue(self.report(client)["client"]["mounted"])

        bad = NEXT + "-unhealthy"
        c.set_version(bad)

        def images():
            return {task_service(t["task_id"]): t.get("image")
                    for t in c.emulator.live_tasks()}

        def held():
            st = c.state()
            probs = " ".join(str(p) for p in st.get("problems") or [])
            return "waits for" in probs and bad in probs and probs
        why = wait_until(held, 60, what="the rollout held on a failing "
                         "health check")
        # held: exactly one service on the bad version, unhealthy; the
        # others still on the old one
        time.sleep(3)
        imgs = images()
        on_bad = [s for s, i in imgs.items() if i and i.endswith(":" + bad)]
        self.assertEqual(len(on_bad), 1, "%s (%s)" % (imgs, why))
        t = self.task(on_bad[0], "agent1")
        self.assertFalse(t.get("healthy"), "the stand-in reports unhealthy")
        self.assertEqual(self.container(t)["State"]["Running"], True)
        for s, i in imgs.items():
            if s not in on_bad and s != "prober":
                self.assertTrue(i.endswith(":" + VERSION), (s, i))

        # a good version goes all the way
        c.set_version(NEXT)

        def done():
            imgs = images()
            return all(i.endswith(":" + NEXT) for s, i in imgs.items()
                       if s != "prober") and len(imgs) == len(want)
        wait_until(done, 120, what="the rollout to %s completed" % NEXT)
        c.wait_running(want, timeout=60)
        c.quiesce(timeout=60)
        c.finish(self)
        # the client's stop unmounted it: the host sees that too
        self.assertFalse(os.path.exists(marker), "client mount left")


class DockerProberTest(ContainerTestCase):
    """The prober as Mesos runs it by default: a Docker task from our image,
    host PID namespace, reaching the host's mounts through
    --prober-host-root. Here the agent's mounts live in the test's mount
    namespace (in CI a chroot's), so the host root named is this test
    process's own /proc/PID/root: the same mechanism as /proc/1/root."""

    NAGENTS = 1

    def test_containerised_prober_finds_marked_disks_and_hot_adds(self):
        c = self.cluster
        d1 = c.disk("agent1", "data1", ["DATA_DEVICE"])
        c.start_coordinator([
            "--image", STANDIN, "--prober-image", PROBER_IMAGE,
            "--prober-host-root", "/proc/%d/root" % os.getpid()])
        c.wait_reporting(timeout=60)
        prober = self.task("prober", "agent1")
        self.assertIn("mesos-", self.container(prober)["Name"])
        wait_until(lambda: any(d["root"] == d1 for d in
                               c.node("agent1")["devices"]), 20,
                   what="the containerised prober reports the marked disk")
        t0 = time.monotonic()
        d2 = c.disk("agent1", "data2", ["DATA_DEVICE"])
        wait_until(lambda: any(d["root"] == d2 for d in
                               c.node("agent1")["devices"]), 20,
                   interval=0.01, what="the hot-added disk reported")
        self.note("Docker-mode prober: disk mounted + marked -> in the "
                  "coordinator's inventory: %.0f ms"
                  % ((time.monotonic() - t0) * 1000))
        c.quiesce(timeout=60)
        c.finish(self)


class MissingImageTest(ContainerTestCase):
    """A target version whose image does not exist on the agent: each
    launch fails as the Docker containerizer fails it (TASK_FAILED,
    REASON_CONTAINER_LAUNCH_FAILED, nothing pulled), the coordinator backs
    off between attempts, loses nothing, and a good version recovers."""

    NAGENTS = 1

    def test_missing_image_fails_launches_with_backoff_and_recovers(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent1", "data", ["DATA_DEVICE"])
        self.start()
        c.wait_running({"prober": ["agent1"]}, timeout=60)
        missing = "0.0-no-such-image"
        c.set_version(missing)

        def failures():
            out = []
            for r in c.journal():
                ev = r.get("event") or {}
                st = (ev.get("update") or {}).get("status") or {}
                if r.get("direction") == "event" and \
                        ev.get("type") == "UPDATE" and \
                        st.get("state") == "TASK_FAILED" and \
                        st["task_id"]["value"].startswith("quobyte-registry."):
                    out.append((r, st))
            return out if len(out) >= 3 else None
        failed = wait_until(failures, 60, what="three failed launches")
        for _, st in failed:
            self.assertEqual(st.get("reason"),
                             "REASON_CONTAINER_LAUNCH_FAILED", st)
            self.assertIn(missing, st.get("message", ""))
        launches = [r["ts"] for r, i in c.launches()
                    if task_service(i) == "registry"]
        gaps = [b - a for a, b in zip(launches, launches[1:])]
        self.note("relaunch gaps after launch failures (missing image): %s "
                  "(backoff base 1s)" % ", ".join("%.1fs" % g
                                                  for g in gaps[:3]))
        self.assertGreaterEqual(gaps[0], 0.9, gaps)
        self.assertGreater(gaps[1], gaps[0] * 1.5, "doubling: %s" % gaps)
        st = c.state()
        self.assertEqual(st.get("target_version"), missing)
        self.assertEqual(sorted(d["root"] for d in c.node("agent1")["devices"]),
                         sorted(c.disks))
        # nothing else started while the first phase cannot
        self.assertEqual(c.running(), {"prober": ["agent1"]})

        c.set_version(VERSION)
        c.wait_running({"registry": ["agent1"], "metadata": ["agent1"],
                        "data": ["agent1"], "api": 1, "webconsole": 1,
                        "prober": ["agent1"]}, timeout=90)
        c.quiesce(timeout=60)
        c.finish(self)
