#!/usr/bin/env python3
"""Tests of the emulator's real Docker runtime (--docker-runtime podman,
emu_docker.py): DOCKER tasks run as podman containers.

Run: python3 tests/emulator/test_docker.py [TestClass[.test_name] ...]
Needs root and podman (tests/container/podman_lib.sh env sets it up and
names the base image). The last line is "docker: N passed, N failed"; exit
status 0 only when everything passed. When podman cannot run containers the
suite fails with one line saying why.
"""

import base64
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness import (Emulator, SchedulerClient,  # noqa: E402
                     command_task, framework_info, launch)

PODMAN = {}       # QM_* of podman_lib.sh env
TIMEOUT = 15


def podman_env():
    """QM_PODMAN_ARGS, QM_PODMAN_ULIMITS, QM_BASE_IMAGE ... or raise."""
    try:
        result = subprocess.run(
            ["bash", os.path.join(ROOT, "tests", "container", "podman_lib.sh"),
             "env"], stdin=subprocess.DEVNULL, capture_output=True,
            timeout=600)
    except subprocess.TimeoutExpired:
        raise RuntimeError("podman_lib.sh env timed out")
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else "podman_lib.sh env failed")
    env = {}
    for line in result.stdout.decode().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key] = value
    for key in ("QM_PODMAN_ARGS", "QM_PODMAN_ULIMITS", "QM_BASE_IMAGE"):
        if key not in env:
            raise RuntimeError("podman_lib.sh env did not print " + key)
    return env


def podman(*args, timeout=30):
    argv = ["podman"] + PODMAN["QM_PODMAN_ARGS"].split() + list(args)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)


def labelled(pid):
    """IDs of the containers an emulator (by pid) labelled."""
    result = podman("ps", "-a", "-q", "--filter",
                    "label=quobyte-mesos.emulator.pid=%d" % pid)
    return result.stdout.decode().split()


def emulator_args():
    return ["--allocation-interval", "0.1", "--update-retry", "2",
            "--heartbeat-interval", "5", "--default-kill-grace", "2",
            "--docker-runtime", "podman",
            "--podman-args", PODMAN["QM_PODMAN_ARGS"],
            "--docker-ulimits", PODMAN["QM_PODMAN_ULIMITS"],
            "--log-level", "debug"]


def wait_until(predicate, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def docker_task(task_id, agent, script, image=None, network="HOST",
                parameters=None, volumes=None, env=None, **extra):
    docker = {"image": image or PODMAN["QM_BASE_IMAGE"], "network": network}
    if parameters:
        docker["parameters"] = parameters
    container = {"type": "DOCKER", "docker": docker}
    if volumes:
        container["volumes"] = volumes
    command = {"shell": True, "value": script}
    if env:
        command["environment"] = {"variables": [
            {"name": k, "value": v} for k, v in env.items()]}
    return command_task(task_id, agent, script, cpus=0.1, mem=64,
                        container=container, command=command, **extra)


class _Server(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class DockerCase(unittest.TestCase):
    """One emulator for the class; a framework per test (torn down)."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(emulator_args())

    @classmethod
    def tearDownClass(cls):
        pid = cls.emu.ready["pid"]
        code = cls.emu.stop(cleanup=False)
        with open(cls.emu.log_path, encoding="utf-8",
                  errors="replace") as handle:
            log = handle.read()
        if code != 0 or "Traceback" in log:
            print("--- emulator log (%s):\n%s" % (cls.emu.tmp, log[-6000:]),
                  file=sys.stderr)
        else:
            shutil.rmtree(cls.emu.tmp, ignore_errors=True)
        assert code == 0, "emulator must exit cleanly"
        assert "Traceback" not in log, "exception in the emulator"
        left = labelled(pid)
        assert not left, "containers left after the emulator exited: %s" % left

    def setUp(self):
        self.client = SchedulerClient(self.emu.address, auto_ack=True)
        self.client.subscribe(framework_info())

    def tearDown(self):
        self.client.call("TEARDOWN")
        self.client.close()

    def launch(self, make):
        offer = self.client.wait_offers(timeout=TIMEOUT)[0]
        agent = offer["agent_id"]["value"]
        task = make(agent)
        status, _, text = self.client.accept(
            [offer["id"]["value"]], [launch(task)],
            filters={"refuse_seconds": 0})
        self.assertEqual(status, 202, text)
        return task

    def update(self, task_id, state, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return self.client.wait_update(task_id, state, **kwargs)

    def task(self, task_id):
        for task in self.emu.tasks():
            if task["task_id"] == task_id:
                return task
        raise AssertionError("no task " + task_id)

    def running(self, task_id):
        self.update(task_id, "TASK_STARTING")
        return self.update(task_id, "TASK_RUNNING")

    def kill(self, task_id, agent=None):
        agent = agent or self.task(task_id)["agent_id"]
        status, _, text = self.client.call("KILL", {
            "task_id": {"value": task_id}, "agent_id": {"value": agent}})
        self.assertEqual(status, 202, text)


class RunTest(DockerCase):
    def test_running_carries_real_inspect(self):
        self.launch(lambda a: docker_task("run1", a, "sleep 300"))
        running = self.running("run1")
        self.assertEqual(running["source"], "SOURCE_EXECUTOR")
        inspect = json.loads(base64.b64decode(running["data"]))
        task = self.task("run1")
        self.assertEqual(inspect[0]["Name"].lstrip("/"),
                         "mesos-" + task["container_id"])
        self.assertTrue(inspect[0]["State"]["Running"])
        self.assertGreater(inspect[0]["State"]["Pid"], 0)
        self.assertEqual(inspect[0]["Config"]["Labels"]
                         ["quobyte-mesos.emulator.pid"],
                         str(self.emu.ready["pid"]))
        argv = task["argv"]
        self.assertIn("--entrypoint", argv)
        self.assertEqual(argv[-3:], [PODMAN["QM_BASE_IMAGE"], "-c",
                                     "sleep 300"])
        self.assertEqual(argv[argv.index("--cpu-shares") + 1], "102")
        self.assertEqual(argv[argv.index("--memory") + 1], str(64 << 20))
        self.assertEqual(argv[argv.index("--net") + 1], "host")
        self.assertEqual(
            running["container_status"]["container_id"]["value"],
            task["container_id"])

    def test_exit_zero_finished(self):
        self.launch(lambda a: docker_task("fin", a, "exit 0"))
        self.running("fin")
        done = self.update("fin", "TASK_FINISHED")
        self.assertEqual(done["message"], "Container exited with status 0")

    def test_exit_three_failed(self):
        self.launch(lambda a: docker_task("three", a, "exit 3"))
        failed = self.update("three", "TASK_FAILED")
        self.assertEqual(failed["message"], "Container exited with status 3")
        self.assertEqual(failed["source"], "SOURCE_EXECUTOR")
        self.assertNotIn("reason", failed)

    def test_env_and_sandbox_visible(self):
        script = ('printf "%s|%s|%s|%s" "$MESOS_SANDBOX" "$FOO" '
                  '"$MESOS_CONTAINER_NAME" "$MESOS_ALLOCATION_ROLE" '
                  '> /mnt/mesos/sandbox/out')
        self.launch(lambda a: docker_task("envt", a, script,
                                          env={"FOO": "bar baz"}))
        self.update("envt", "TASK_FINISHED")
        task = self.task("envt")
        with open(os.path.join(task["sandbox"], "out")) as handle:
            self.assertEqual(handle.read(), "/mnt/mesos/sandbox|bar baz|"
                             "mesos-%s|quobyte" % task["container_id"])

    def test_docker_parameters_reach_podman(self):
        params = [{"key": "label", "value": "qmtest=yes"},
                  {"key": "env", "value": "PARAM_ENV=p1"}]
        self.launch(lambda a: docker_task(
            "params", a, 'echo "$PARAM_ENV" > /mnt/mesos/sandbox/p; '
            'sleep 300', parameters=params))
        running = self.running("params")
        inspect = json.loads(base64.b64decode(running["data"]))
        self.assertEqual(inspect[0]["Config"]["Labels"]["qmtest"], "yes")
        argv = self.task("params")["argv"]
        self.assertIn("--label=qmtest=yes", argv)
        path = os.path.join(self.task("params")["sandbox"], "p")
        wait_until(lambda: os.path.exists(path) and
                   open(path).read() == "p1\n", what="PARAM_ENV in sandbox")

    def test_bridge_network_port_mapping(self):
        ports = {"name": "ports", "type": "RANGES",
                 "ranges": {"range": [{"begin": 31005, "end": 31005}]}}

        def make(agent):
            task = docker_task("bridged", agent, "sleep 300",
                               network="BRIDGE")
            task["container"]["docker"]["port_mappings"] = [
                {"host_port": 31005, "container_port": 8080,
                 "protocol": "tcp"}]
            task["resources"].append(ports)
            return task
        self.launch(make)
        running = self.running("bridged")
        inspect = json.loads(base64.b64decode(running["data"]))[0]
        ip = inspect["NetworkSettings"]["IPAddress"]
        self.assertTrue(ip)
        self.assertEqual(running["container_status"]["network_infos"][0]
                         ["ip_addresses"][0]["ip_address"], ip)
        self.assertEqual(inspect["HostConfig"]["PortBindings"]["8080/tcp"]
                         [0]["HostPort"], "31005")
        argv = self.task("bridged")["argv"]
        self.assertEqual(argv[argv.index("-p") + 1], "31005:8080/tcp")
        self.assertEqual(argv[argv.index("--net") + 1], "bridge")

    def test_missing_image_fails_launch(self):
        self.launch(lambda a: docker_task(
            "noimg", a, "true", image="localhost/quobyte-mesos/no-such:1"))
        failed = self.update("noimg", "TASK_FAILED")
        self.assertEqual(failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED")
        self.assertEqual(failed["source"], "SOURCE_AGENT")
        self.assertTrue(failed["message"].startswith(
            "Failed to launch container: Failed to run '"), failed)
        self.assertIn("no-such:1", failed["message"])

    def test_missing_bind_source_is_made_as_docker_does(self):
        """dockerd creates a missing host path of `-v` as a directory
        (podman refuses it): /lib/modules of a service task on a node
        without one must not fail the launch."""
        tmp = tempfile.mkdtemp(prefix="qm-bind-")
        self.addCleanup(shutil.rmtree, tmp, True)
        missing = os.path.join(tmp, "not", "yet")
        vols = [{"container_path": "/data", "host_path": missing,
                 "mode": "RO"}]
        self.launch(lambda a: docker_task("mkvol", a, "test -d /data",
                                          volumes=vols))
        self.update("mkvol", "TASK_FINISHED")
        self.assertTrue(os.path.isdir(missing))

    def test_bad_volume_fails_launch(self):
        """A host path that cannot be a directory (below a file) fails the
        run, as dockerd's mkdir does."""
        fd, afile = tempfile.mkstemp(prefix="qm-bind-")
        os.close(fd)
        self.addCleanup(os.unlink, afile)
        bad = os.path.join(afile, "qm")
        vols = [{"container_path": "/data", "host_path": bad, "mode": "RO"}]
        self.launch(lambda a: docker_task("badvol", a, "true", volumes=vols))
        failed = self.update("badvol", "TASK_FAILED")
        self.assertEqual(failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED")
        self.assertIn(bad, failed["message"])
        self.assertIn("exited with status 125", failed["message"])


class KillTest(DockerCase):
    def test_kill_honours_grace_for_sigterm_ignoring_container(self):
        policy = {"grace_period": {"nanoseconds": 2 * 10 ** 9}}
        self.launch(lambda a: docker_task(
            "stubborn", a, "trap '' TERM; while :; do sleep 0.1; done",
            kill_policy=policy))
        self.running("stubborn")
        start = time.monotonic()
        self.kill("stubborn")
        self.update("stubborn", "TASK_KILLING")
        killed = self.update("stubborn", "TASK_KILLED")
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 1.8)
        self.assertLess(took, 6)
        self.assertEqual(killed["message"], "Container exited with status 137")

    def test_kill_of_cooperative_container_is_prompt(self):
        policy = {"grace_period": {"nanoseconds": 20 * 10 ** 9}}
        self.launch(lambda a: docker_task(
            "polite", a, "trap 'exit 0' TERM; while :; do sleep 0.1; done",
            kill_policy=policy))
        self.running("polite")
        start = time.monotonic()
        self.kill("polite")
        killed = self.update("polite", "TASK_KILLED")
        self.assertLess(time.monotonic() - start, 4)
        self.assertEqual(killed["message"], "Container exited with status 0")

    def test_second_kill_with_shorter_grace_escalates(self):
        policy = {"grace_period": {"nanoseconds": 30 * 10 ** 9}}
        self.launch(lambda a: docker_task(
            "escalate", a, "trap '' TERM; while :; do sleep 0.1; done",
            kill_policy=policy))
        self.running("escalate")
        agent = self.task("escalate")["agent_id"]
        self.kill("escalate")
        self.update("escalate", "TASK_KILLING")
        time.sleep(0.5)
        start = time.monotonic()
        status, _, text = self.client.call("KILL", {
            "task_id": {"value": "escalate"}, "agent_id": {"value": agent},
            "kill_policy": {"grace_period": {"nanoseconds": 0}}})
        self.assertEqual(status, 202, text)
        self.update("escalate", "TASK_KILLED")
        self.assertLess(time.monotonic() - start, 5)

    def test_kill_while_starting(self):
        self.launch(lambda a: docker_task(
            "early", a, "trap 'exit 0' TERM; while :; do sleep 0.1; done"))
        self.update("early", "TASK_STARTING")
        self.kill("early")
        killed = self.update("early", "TASK_KILLED")
        self.assertTrue(killed["message"].startswith("Container exited"))

    def test_external_podman_kill_fails_task(self):
        self.launch(lambda a: docker_task("victim", a, "sleep 300"))
        self.running("victim")
        name = "mesos-" + self.task("victim")["container_id"]
        self.assertEqual(podman("kill", name).returncode, 0)
        failed = self.update("victim", "TASK_FAILED")
        self.assertEqual(failed["message"], "Container exited with status 137")


class HealthTest(DockerCase):
    def test_command_check_flips_healthy(self):
        check = {"type": "COMMAND",
                 "command": {"shell": True, "value": "test -f /tmp/ok"},
                 "delay_seconds": 0, "interval_seconds": 0.3,
                 "grace_period_seconds": 0, "consecutive_failures": 100,
                 "timeout_seconds": 5}
        self.launch(lambda a: docker_task(
            "hc", a, "touch /tmp/ok; sleep 300", health_check=check))
        self.running("hc")
        name = "mesos-" + self.task("hc")["container_id"]
        # Where the runtime cannot pivot_root (runc in a nested chroot, as
        # in CI's Debian chroot) `exec` lands in the mount namespace's root,
        # not the container's: then nothing run by exec can be shown.
        probe = podman("exec", name, "sh", "-c",
                       "test -f /tmp/ok && test -f /mnt/mesos/sandbox/stdout")
        if probe.returncode != 0:
            self.skipTest("podman exec does not enter the container's root "
                          "here (runc without pivot_root in a nested "
                          "chroot)")

        def health(value, start):
            return self.update("hc", "TASK_RUNNING", start=start,
                               predicate=lambda s: s.get("healthy") is value)
        health(True, 0)
        mark = self.client.mark()
        podman("exec", name, "rm", "/tmp/ok")
        unhealthy = health(False, mark)
        self.assertEqual(unhealthy["reason"],
                         "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
        mark = self.client.mark()
        podman("exec", name, "touch", "/tmp/ok")
        health(True, mark)

    def test_http_check_host_network(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            check = {"type": "HTTP", "http": {
                "port": server.server_address[1], "path": "/"},
                "delay_seconds": 0, "interval_seconds": 0.3,
                "grace_period_seconds": 0, "consecutive_failures": 3}
            self.launch(lambda a: docker_task("web", a, "sleep 300",
                                              health_check=check))
            healthy = self.update("web", "TASK_RUNNING",
                                  predicate=lambda s: "healthy" in s)
            self.assertTrue(healthy["healthy"])
        finally:
            server.shutdown()
            server.server_close()

    def test_tcp_check_runs_in_container_netns(self):
        # The host listens on the port; a container with network NONE does
        # not see that listener (unhealthy), only one the test opens inside
        # the container's network namespace (healthy): the check runs
        # there (nsenter --net).
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        inner = None
        try:
            check = {"type": "TCP", "tcp": {"port": port},
                     "delay_seconds": 0, "interval_seconds": 0.3,
                     "grace_period_seconds": 0, "consecutive_failures": 100,
                     "timeout_seconds": 2}
            self.launch(lambda a: docker_task("isol", a, "sleep 300",
                                              network="NONE",
                                              health_check=check))
            running = self.running("isol")
            pid = json.loads(base64.b64decode(
                running["data"]))[0]["State"]["Pid"]
            unhealthy = self.update("isol", "TASK_RUNNING",
                                    predicate=lambda s: "healthy" in s)
            self.assertFalse(unhealthy["healthy"])
            mark = self.client.mark()
            inner = subprocess.Popen(
                ["nsenter", "--net=/proc/%d/ns/net" % pid, sys.executable,
                 "-c", "import socket, time; s = socket.socket(); "
                 "s.bind(('127.0.0.1', %d)); s.listen(8); time.sleep(60)"
                 % port], stdin=subprocess.DEVNULL)
            healthy = self.update("isol", "TASK_RUNNING", start=mark,
                                  predicate=lambda s: s.get("healthy"))
            self.assertTrue(healthy["healthy"])
        finally:
            if inner is not None:
                inner.kill()
                inner.wait()
            listener.close()


class CleanupTest(unittest.TestCase):
    def _start_one(self):
        emu = Emulator(emulator_args())
        client = SchedulerClient(emu.address, auto_ack=True)
        client.subscribe(framework_info())
        offer = client.wait_offers(timeout=TIMEOUT)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]],
                      [launch(docker_task("keep", agent, "sleep 300"))])
        client.wait_update("keep", "TASK_RUNNING", timeout=TIMEOUT)
        pid = emu.ready["pid"]
        self.assertEqual(len(labelled(pid)), 1)
        return emu, client, pid

    def test_release_1_4_0_no_starting_no_role(self):
        # src/docker/executor.cpp: TASK_STARTING only from 1.5.0;
        # src/docker/docker.cpp: MESOS_ALLOCATION_ROLE only from 1.9.0.
        emu = Emulator(emulator_args() + ["--version", "1.4.0"])
        client = SchedulerClient(emu.address, auto_ack=True)
        try:
            client.subscribe(framework_info())
            offer = client.wait_offers(timeout=TIMEOUT)[0]
            agent = offer["agent_id"]["value"]
            client.accept([offer["id"]["value"]], [launch(docker_task(
                "old", agent, 'echo "${MESOS_ALLOCATION_ROLE-unset}" '
                '> /mnt/mesos/sandbox/role'))])
            client.wait_update("old", "TASK_FINISHED", timeout=TIMEOUT)
            states = [e["update"]["status"]["state"] for e in client.events
                      if e["type"] == "UPDATE"]
            self.assertEqual(states, ["TASK_RUNNING", "TASK_FINISHED"])
            sandbox = [t for t in emu.tasks()
                       if t["task_id"] == "old"][0]["sandbox"]
            with open(os.path.join(sandbox, "role")) as handle:
                self.assertEqual(handle.read(), "unset\n")
        finally:
            client.close()
            self.assertEqual(emu.stop(), 0)

    def test_sigterm_removes_containers(self):
        emu, client, pid = self._start_one()
        client.close()
        self.assertEqual(emu.stop(), 0)
        self.assertEqual(labelled(pid), [])

    def test_sigkill_of_emulator_reaped(self):
        emu, client, pid = self._start_one()
        client.close()
        emu.proc.send_signal(signal.SIGKILL)
        emu.stop()
        wait_until(lambda: labelled(pid) == [], timeout=30,
                   what="the reaper to remove the container")


def main():
    try:
        PODMAN.update(podman_env())
        probe = podman("run", "--rm", "--pull=never", "--network=none",
                       *PODMAN["QM_PODMAN_ULIMITS"].split(),
                       PODMAN["QM_BASE_IMAGE"], "/bin/true", timeout=120)
        if probe.returncode != 0:
            raise RuntimeError("cannot run a container: " + (
                probe.stderr.decode("utf-8", "replace").strip()
                .splitlines() or ["?"])[-1])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        print("docker: podman unusable: %s" % err)
        print("docker: 0 passed, 1 failed")
        return 1
    loader = unittest.TestLoader()
    module = sys.modules[__name__]
    names = sys.argv[1:]
    suite = (loader.loadTestsFromNames(names, module) if names
             else loader.loadTestsFromModule(module))
    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stderr.flush()
    print("docker: %.1f s" % (time.monotonic() - started))
    skipped = len(result.skipped)
    print("docker: %d passed, %d failed%s" % (
        passed, failed, ", %d skipped" % skipped if skipped else ""))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
