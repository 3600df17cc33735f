"""Real Docker runtime for the emulator's agents (--docker-runtime podman).

DOCKER tasks run as real containers, driven through the podman CLI the way
the Mesos Docker containerizer and Docker executor drive the docker CLI.
Every rule below names the apache/mesos file and tag it was read from
(mirror: /work/.mirror/apache+mesos/repo, `git show 1.11.0:<file>`):

  src/docker/docker.cpp            Docker::RunOptions::create, Docker::run,
                                   Docker::stop, Docker::pull, failure()
  src/docker/executor.cpp          launchTask, killTask, _killTask, reaped,
                                   _reaped, launchHealthCheck
  src/slave/containerizer/docker.cpp   container name, pull, launch
  src/slave/slave.cpp              executorLaunched (launch failures)
  src/checks/checker_process.cpp   Docker COMMAND/HTTP/TCP checks

Every podman call is an argv list (never a shell string) with a timeout.
Every container carries the label quobyte-mesos.emulator=<instance> and
quobyte-mesos.emulator.pid=<emulator pid>: leftovers of dead emulators are
removed at start, ours at exit; a reaper process (its stdin is a pipe from
the emulator) removes ours if the emulator dies without cleaning up.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import emu_profiles
import emu_resources
import emu_schema
from emu_util import log

LABEL = "quobyte-mesos.emulator"
PID_LABEL = "quobyte-mesos.emulator.pid"
CALL_TIMEOUT = 30.0          # any podman call but `run` itself
# src/docker/executor.cpp (1.4.0 ... 1.11.0): DOCKER_INSPECT_DELAY 500ms
# between inspects until the container has started; shorter here.
INSPECT_DELAY = 0.1
INSPECT_TIMEOUT = 60.0       # give up waiting for the container to start
STDERR_TAIL = 4096           # bytes of podman's stderr kept for messages
SHUTDOWN_GRACE = 2           # seconds between SIGTERM and SIGKILL at exit
# src/slave/containerizer/mesos/isolators/cgroups/constants.hpp (1.11.0):
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
MIN_MEMORY = 32 * 1024 * 1024
# src/slave/flags.cpp (1.4.0 ... 1.11.0): --sandbox_directory default.
MAPPED_SANDBOX = "/mnt/mesos/sandbox"
ZERO_TIME = "0001-01-01T00:00:00Z"


class RunOptionsError(Exception):
    """Docker::RunOptions::create() returned an Error."""


def _status_text(returncode):
    # WSTRINGIFY of a wait status (src/common/status_utils.hpp, 1.11.0):
    # 'exited with status N' / 'terminated with signal <strsignal>'.
    if returncode is None:
        return "exited"
    if returncode >= 0:
        return "exited with status %d" % returncode
    return "terminated with signal %s" % (
        signal.strsignal(-returncode) or str(-returncode))


def _scalar(resources, name):
    total = 0.0
    found = False
    for resource in resources:
        if resource.get("name") == name and resource.get("type", "SCALAR") \
                == "SCALAR":
            total += emu_schema.as_float((resource.get("scalar") or {})
                                         .get("value"), 0.0)
            found = True
    return total if found else None


def _is_abs(path):
    return path.startswith("/")


def docker_environment(task, version):
    """The container's environment: Docker::RunOptions::create() in
    src/docker/docker.cpp. The hooks' task environment is empty here; then
    CommandInfo.environment (1.4.0 ... 1.11.0), then MESOS_SANDBOX (the
    mapped directory) and MESOS_CONTAINER_NAME (1.4.0 ... 1.11.0), then
    MESOS_ALLOCATION_ROLE (added in 1.9.0). Nothing of the agent's own
    environment reaches the container."""
    import emu_tasks
    env = dict(emu_tasks._task_environment(task))
    env["MESOS_SANDBOX"] = MAPPED_SANDBOX
    env["MESOS_CONTAINER_NAME"] = container_name(task)
    if emu_profiles.at_least(version, "1.9.0"):
        env["MESOS_ALLOCATION_ROLE"] = task.role
    return env


def container_name(task):
    # src/slave/containerizer/docker.hpp (1.4.0 ... 1.11.0):
    # DOCKER_NAME_PREFIX + ContainerID.
    return "mesos-" + task.container_id


def run_options(task, sandbox, env):
    """The `docker run` arguments after `run`, in Docker::run()'s order
    (src/docker/docker.cpp 1.11.0; the same order in 1.4.0), from the
    options Docker::RunOptions::create() derives from the TaskInfo.
    Raises RunOptionsError with Mesos's wording."""
    container = task.info["container"]
    docker = container.get("docker") or {}
    command = task.info.get("command") or {}
    # Mesos JSON form (task.resources are canonical milli-units).
    resources = [emu_resources.render(r, True) for r in task.resources]
    args = []
    if emu_schema.as_bool(docker.get("privileged")):
        args.append("--privileged")
    # cpu shares = max(1024 * cpus, 2); memory = max(mem, 32 MB). CFS
    # quota only with the agent's --cgroups_enable_cfs (default false);
    # TaskInfo.limits (1.11.0 --cpu-quota/--memory-reservation) not used.
    cpus = _scalar(resources, "cpus")
    if cpus is not None:
        args += ["--cpu-shares",
                 str(max(int(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES))]
    mem = _scalar(resources, "mem")
    if mem is not None:
        args += ["--memory",
                 str(max(int(mem) * 1024 * 1024, MIN_MEMORY))]
    for key in sorted(env):            # options.env is a std::map
        args += ["-e", "%s=%s" % (key, env[key])]
    volume_driver = None
    for volume in container.get("volumes") or []:
        cpath = volume["container_path"]
        target = cpath if _is_abs(cpath) else \
            os.path.join(MAPPED_SANDBOX, cpath)
        mode = volume.get("mode", "RW")
        if mode not in ("RW", "RO"):
            raise RunOptionsError("Unsupported volume mode")
        if volume.get("host_path") is not None:
            host = volume["host_path"]
            if not _is_abs(host) and not _is_abs(cpath):
                raise RunOptionsError(
                    "Both host_path '%s' and container_path '%s' of a "
                    "volume are relative" % (host, cpath))
            if not _is_abs(host) and not docker.get("volume_driver"):
                host = os.path.join(sandbox, host)
            spec = "%s:%s" % (host, target)
        elif volume.get("source") is not None:
            source = volume["source"]
            if source.get("type") != "DOCKER_VOLUME":
                continue           # ignored: only DOCKER_VOLUME
            dvol = source.get("docker_volume") or {}
            spec = "%s:%s" % (dvol.get("name"), target)
            driver = dvol.get("driver")
            if driver:
                if volume_driver is not None and volume_driver != driver:
                    raise RunOptionsError("Only one volume driver is "
                                          "supported")
                volume_driver = driver
        else:
            raise RunOptionsError("Host path or volume source is required")
        args += ["-v", spec + (":rw" if mode == "RW" else ":ro")]
    args += ["-v", "%s:%s" % (sandbox, MAPPED_SANDBOX)]
    if docker.get("volume_driver"):
        if volume_driver is not None and \
                volume_driver != docker["volume_driver"]:
            raise RunOptionsError("Only one volume driver per task is "
                                  "supported")
        volume_driver = docker["volume_driver"]
    if volume_driver is not None:
        args.append("--volume-driver=" + volume_driver)
    network = docker.get("network", "HOST")
    if network == "USER":
        infos = container.get("network_infos") or []
        if not infos:
            raise RunOptionsError("No network info found in container info")
        if len(infos) > 1:
            raise RunOptionsError("Only a single network can be defined in "
                                  "Docker run")
        if not infos[0].get("name"):
            raise RunOptionsError("No network name found in network info")
        net = infos[0]["name"]
    else:
        net = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}[network]
    args += ["--net", net]
    if container.get("hostname"):
        if net == "host":
            raise RunOptionsError("Unable to set hostname with host network "
                                  "mode")
        args += ["--hostname", container["hostname"]]
    mappings = docker.get("port_mappings") or []
    if mappings:
        if net in ("host", "none"):
            raise RunOptionsError("Port mappings are only supported for "
                                  "bridge and user-defined networks")
        ranges = []
        for resource in resources:
            if resource.get("name") == "ports":
                ranges += (resource.get("ranges") or {}).get("range") or []
        if not ranges:
            raise RunOptionsError("Port mappings require port resources")
        for mapping in mappings:
            host_port = emu_schema.as_int(mapping["host_port"])
            if not any(emu_schema.as_int(r["begin"]) <= host_port <=
                       emu_schema.as_int(r["end"]) for r in ranges):
                raise RunOptionsError("Port [%d] not included in resources"
                                      % host_port)
            spec = "%d:%d" % (host_port,
                              emu_schema.as_int(mapping["container_port"]))
            if mapping.get("protocol"):
                spec += "/" + mapping["protocol"].lower()
            args += ["-p", spec]
    # shell=true: --entrypoint /bin/sh, arguments -c value (MESOS-1770);
    # shell=false: value (if any) then arguments, image's entrypoint kept.
    shell = emu_schema.as_bool(command.get("shell"), True)
    if shell:
        if not command.get("value"):
            raise RunOptionsError("Shell specified but no command value "
                                  "provided")
        args += ["--entrypoint", "/bin/sh"]
    args += ["--name", container_name(task)]
    for parameter in docker.get("parameters") or []:
        args.append("--%s=%s" % (parameter["key"], parameter["value"]))
    tail = [docker["image"]]
    if shell:
        tail += ["-c", command["value"]]
    else:
        if command.get("value"):
            tail.append(command["value"])
        tail += list(command.get("arguments") or [])
    return args, tail


def bind_sources(options):
    """Host paths of the bind mounts in `docker run` options: every
    `-v HOST:...` and `--volume=HOST:...` whose HOST is absolute (a name is
    a named volume)."""
    out = []
    for i, arg in enumerate(options):
        spec = None
        if arg in ("-v", "--volume") and i + 1 < len(options):
            spec = options[i + 1]
        elif arg.startswith("--volume="):
            spec = arg[len("--volume="):]
        if spec and spec.startswith("/"):
            out.append(spec.split(":", 1)[0])
    return out


def make_bind_sources(options):
    """What dockerd does for `-v` and `--volume` and podman does not: a
    missing host path of a bind mount is created as a directory (Docker's
    bind-mount documentation: "-v creates the endpoint for you. It is
    always created as a directory"; Mesos relies on it: it passes
    ContainerInfo.volumes and DockerInfo parameters through unchanged,
    src/docker/docker.cpp 1.4.0 ... 1.11.0). None, or why a path cannot be
    made (docker run then fails: exit status 125)."""
    for path in bind_sources(options):
        if os.path.lexists(path):
            continue
        try:
            os.makedirs(path, 0o755, exist_ok=True)
        except OSError as err:
            return "Error response from daemon: mkdir %s: %s" % (
                path, err.strerror or err)
    return None


def _http_probe(url, timeout):
    """An HTTP check as curl -s -S -L -k -g does it: redirects followed,
    TLS not verified, healthy on 200..399 (src/checks/checker_process.cpp
    1.11.0 httpCheckCommand/processHttpCheckResult)."""
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout,
                                    context=context) as response:
            return 200 <= response.status < 400
    except urllib.error.HTTPError as err:
        return 200 <= err.code < 400
    except (OSError, ValueError):
        return False


def _tcp_probe(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class Runtime:
    """podman for all agents of this emulator process."""

    def __init__(self, config):
        self.podman = ["podman"] + list(config.podman_args)
        self.ulimits = list(config.docker_ulimits)
        self.version = config.version
        self.pull_timeout = config.docker_pull_timeout
        self.instance = uuid.uuid4().hex[:16]
        self.label = "%s=%s" % (LABEL, self.instance)
        self._reaper = None

    # ---------------------------------------------------------- helpers
    def call(self, args, timeout=CALL_TIMEOUT):
        """One podman call: (returncode, stdout, stderr); 124 on timeout,
        127 when podman cannot be executed."""
        try:
            result = subprocess.run(
                self.podman + list(args), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "", "podman %s timed out after %gs" % (
                args[0] if args else "", timeout)
        except OSError as err:
            return 127, "", str(err)
        return (result.returncode,
                result.stdout.decode("utf-8", "replace"),
                result.stderr.decode("utf-8", "replace")[-STDERR_TAIL:])

    def command_line(self, args):
        return " ".join(self.podman + list(args))

    # -------------------------------------------------------- lifecycle
    def start(self):
        """Check podman, remove leftovers of dead emulators, start the
        reaper. Returns None or why podman is unusable."""
        code, _, err = self.call(["version", "--format", "{{.Client.Version}}"],
                                 timeout=30)
        if code != 0:
            return "podman does not work: %s" % (
                " / ".join(err.strip().splitlines()[:2]) or code)
        self.remove_leftovers()
        self._reaper = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--reap",
             json.dumps(self.podman), self.label],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        return None

    def remove_leftovers(self):
        """Containers labelled by an emulator whose process is gone."""
        code, out, err = self.call(["ps", "-a", "--filter", "label=" + LABEL,
                                    "--format", "json"])
        if code != 0:
            log.warning("podman ps for leftovers failed: %s", err.strip())
            return
        try:
            listed = json.loads(out or "[]")
        except ValueError:
            return
        stale = []
        for entry in listed:
            labels = entry.get("Labels") or {}
            try:
                pid = int(labels.get(PID_LABEL, ""))
            except ValueError:
                pid = None
            if pid is None or not _emulator_alive(pid):
                stale.append(entry.get("Id"))
        stale = [s for s in stale if s]
        if stale:
            log.info("removing %d leftover container(s)", len(stale))
            self.call(["rm", "-f", "-t", "0"] + stale, timeout=60)

    def shutdown(self):
        """Remove every container of this emulator (SIGTERM, control
        shutdown); then let the reaper go without work. They are stopped
        first, all at once, with SHUTDOWN_GRACE: SIGTERM, as an agent that
        drains its tasks, so a service that cleans up on it (the client
        unmounting /quobyte on the host) does; SIGKILL after the grace."""
        self.call(["stop", "-t", str(SHUTDOWN_GRACE), "--filter",
                   "label=" + self.label], timeout=60)
        self.call(["rm", "-f", "-t", "0", "--filter", "label=" + self.label],
                  timeout=60)
        if self._reaper is not None:
            try:
                self._reaper.stdin.write(b"done\n")
                self._reaper.stdin.close()
            except OSError:
                pass
            try:
                self._reaper.wait(5)
            except subprocess.TimeoutExpired:
                pass

    # ------------------------------------------------------------ image
    def ensure_image(self, task):
        """The containerizer's pull step (src/slave/containerizer/docker.cpp
        pull(), src/docker/docker.cpp Docker::pull: `inspect` the image,
        `pull` it when absent, ':latest' added to a tagless name). With
        --docker-pull-timeout 0 (default) nothing is pulled (--pull=never).
        A failure fails the launch: 'Failed to launch container: ' +
        "Failed to run '<cmd>': exited with status N; stderr='...'"
        (docker.cpp failure(), slave.cpp executorLaunched, 1.4.0 ...
        1.11.0); the caller raises it as emu_tasks.LaunchError."""
        image = task.info["container"]["docker"]["image"]
        if not image.split("/")[-1].count(":"):
            image += ":latest"
        code, _, err = self.call(["image", "exists", image])
        if code == 0:
            return None
        if code not in (1,):
            return "Failed to run '%s': %s; stderr='%s'" % (
                self.command_line(["image", "exists", image]),
                _status_text(code), err.strip())
        pull = ["pull", image]
        if self.pull_timeout <= 0:
            return ("Failed to run '%s': not run: the image is not present "
                    "locally and pulling is disabled (--pull=never; see "
                    "--docker-pull-timeout)" % self.command_line(pull))
        code, _, err = self.call(pull, timeout=self.pull_timeout)
        if code != 0:
            return "Failed to run '%s': %s; stderr='%s'" % (
                self.command_line(pull), _status_text(code), err.strip())
        return None

    # ------------------------------------------------------------ launch
    def launch(self, cluster, task):
        """Under cluster.lock: the Docker executor's launchTask()
        (src/docker/executor.cpp). Returns the ContainerRun to monitor, or
        None when the task already ended."""
        task.env = docker_environment(task, self.version)
        # TASK_STARTING first: src/docker/executor.cpp launchTask() sends
        # it since 1.5.0 (1.4.0 does not).
        if emu_profiles.at_least(self.version, "1.5.0"):
            cluster.emit(task, "TASK_STARTING", "SOURCE_EXECUTOR")
        try:
            options, tail = run_options(task, task.sandbox, task.env)
        except (RunOptionsError, KeyError, ValueError) as err:
            # launchTask(): "Failed to create docker run options: ..."
            cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                         message="Failed to create docker run options: %s"
                         % err)
            return None
        why = make_bind_sources(options)
        if why is not None:
            # the daemon refuses the run: the `docker run` exits 125
            cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                         reason="REASON_CONTAINER_LAUNCH_FAILED",
                         message="Container exited with status 125; docker: %s"
                         % why)
            return None
        ours = ["--label", self.label,
                "--label", "%s=%d" % (PID_LABEL, os.getpid()),
                "--pull=never"] + self.ulimits
        argv = self.podman + ["run"] + ours + options + tail
        task.argv = argv
        out = err = None
        try:
            # docker run's stdout/stderr are the executor's, which the
            # agent points at the sandbox's stdout/stderr files.
            out = open(os.path.join(task.sandbox, "stdout"), "ab")
            err = open(os.path.join(task.sandbox, "stderr"), "ab")
            err_offset = err.tell()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        except OSError as error:
            # _reaped(): run future failed
            cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                         reason="REASON_CONTAINER_LAUNCH_FAILED",
                         message="Failed to run docker container: %s" % error)
            return None
        finally:
            for handle in (out, err):
                if handle is not None:
                    handle.close()
        run = ContainerRun(self, cluster, task, proc, err_offset)
        task.docker = run
        return run


def _emulator_alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return b"mesos_emulator" in handle.read()
    except OSError:
        return False


class ContainerRun:
    """One `podman run` (the Docker executor's `docker run`)."""

    def __init__(self, runtime, cluster, task, proc, err_offset):
        self.runtime = runtime
        self.cluster = cluster
        self.task = task
        self.proc = proc
        self.name = container_name(task)
        self.err_offset = err_offset
        self.inspected = threading.Event()
        self.start_timed_out = False
        self.container_pid = None
        self.network = ((task.info["container"].get("docker") or {})
                        .get("network", "HOST"))

    # --------------------------------------------------------- monitor
    def monitor(self):
        """The executor's inspect loop, TASK_RUNNING, then reaped()."""
        import emu_tasks
        task, cluster = self.task, self.cluster
        raw, info = self._inspect_until_started()
        with cluster.lock:
            if info is not None and not task.killing and not task.removed \
                    and task.state not in ("TASK_FINISHED", "TASK_FAILED",
                                           "TASK_KILLED"):
                state = info.get("State") or {}
                self.container_pid = state.get("Pid") or None
                ip = task.agent.ip
                settings = info.get("NetworkSettings") or {}
                if self.network != "HOST" and settings.get("IPAddress"):
                    ip = settings["IPAddress"]
                task.container_status = {
                    "container_id": {"value": task.container_id},
                    "executor_pid": self.proc.pid,
                    "network_infos": [{"ip_addresses": [
                        {"protocol": "IPv4", "ip_address": ip}]}],
                }
                # TASK_RUNNING with data = the `docker inspect` output
                # (executor.cpp launchTask(), 1.4.0 ... 1.11.0).
                cluster.emit(task, "TASK_RUNNING", "SOURCE_EXECUTOR",
                             data=base64.b64encode(raw).decode("ascii"))
                emu_tasks._after_running(cluster, task)
        self.inspected.set()
        if info is None and self.proc.poll() is None and not task.removed:
            # No hang: `podman run` that has not started the container
            # within INSPECT_TIMEOUT is killed (the executor discards its
            # inspect after DOCKER_INSPECT_TIMEOUT, executor.cpp 1.11.0).
            log.warning("container %s did not start within %gs; killing "
                        "podman run", self.name, INSPECT_TIMEOUT)
            self.start_timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.runtime.call(["rm", "-f", "-t", "0", self.name])
        returncode = self.proc.wait()
        stderr = self._stderr_tail()
        if self.start_timed_out:
            stderr = "the container did not start within %gs" % \
                INSPECT_TIMEOUT
        with cluster.lock:
            self._reaped(returncode, started=info is not None,
                         stderr=stderr)
        # Mesos keeps exited containers for --docker_remove_delay (6hrs);
        # the emulator removes them at once.
        self.runtime.call(["rm", "-f", "-t", "0", self.name])

    def _inspect_until_started(self):
        deadline = time.monotonic() + INSPECT_TIMEOUT
        while time.monotonic() < deadline and not self.task.removed:
            exited = self.proc.poll() is not None
            code, out, _ = self.runtime.call(
                ["container", "inspect", self.name], timeout=CALL_TIMEOUT)
            if code == 0:
                try:
                    info = json.loads(out)[0]
                except (ValueError, IndexError, TypeError):
                    info = None
                # src/docker/docker.cpp Docker::_inspect(): retried while
                # the container has not started (StartedAt unset).
                if info is not None and (info.get("State") or {}).get(
                        "StartedAt", ZERO_TIME) not in ("", ZERO_TIME):
                    return out.encode("utf-8"), info
            if exited:
                return None, None
            time.sleep(INSPECT_DELAY)
        return None, None

    def _stderr_tail(self):
        path = os.path.join(self.task.sandbox, "stderr")
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(self.err_offset, size - STDERR_TAIL))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [l for l in text.splitlines() if l.strip()]
        errors = [l for l in lines if l.startswith("Error:")]
        return (errors or lines[-1:] or [""])[-1].strip()

    def _reaped(self, returncode, started, stderr):
        """src/docker/executor.cpp _reaped() (1.4.0 ... 1.11.0):
        killed → TASK_KILLED, exit 0 → TASK_FINISHED, else TASK_FAILED,
        message 'Container ' + WSTRINGIFY(status); healthy=false when a
        health check killed it."""
        task, cluster = self.task, self.cluster
        if task.kill_timer is not None:
            task.kill_timer.cancel()
            task.kill_timer = None
        if task.removed or task.state in ("TASK_FINISHED", "TASK_FAILED",
                                          "TASK_KILLED"):
            return
        message = "Container " + _status_text(returncode)
        if task.forced is not None:
            state, forced_message, reason = task.forced
            cluster.emit(task, state, "SOURCE_EXECUTOR", reason=reason,
                         message=forced_message)
        elif task.killing:
            cluster.emit(task, "TASK_KILLED", "SOURCE_EXECUTOR",
                         message=message,
                         healthy=False if task.killed_by_health else None)
        elif not started and returncode != 0:
            # `podman run` failed before the container ran (bad volume,
            # missing executable, runtime error). Mesos sends TASK_FAILED
            # 'Container exited with status 125' without a reason; the
            # emulator adds REASON_CONTAINER_LAUNCH_FAILED and podman's
            # error so that tests can tell a launch failure.
            cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                         reason="REASON_CONTAINER_LAUNCH_FAILED",
                         message="%s; podman: %s" % (message, stderr))
        elif returncode == 0:
            cluster.emit(task, "TASK_FINISHED", "SOURCE_EXECUTOR",
                         message=message)
        else:
            cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                         message=message)

    # ------------------------------------------------------------- kill
    def stop(self, grace):
        """_killTask(): `docker stop -t <grace>` once the inspect is done
        (src/docker/executor.cpp; Docker::stop truncates the grace to whole
        seconds, src/docker/docker.cpp 1.4.0 ... 1.11.0). A later kill
        issues a new stop with its grace, as 1.11.0 does after discarding
        the pending one."""
        threading.Thread(target=self._stop, args=(grace,),
                         name="docker-stop-" + self.task.tid,
                         daemon=True).start()

    def _stop(self, grace):
        self.inspected.wait(INSPECT_TIMEOUT + CALL_TIMEOUT)
        if self.proc.poll() is not None:
            return
        seconds = max(0, int(grace))
        code, _, err = self.runtime.call(
            ["stop", "-t", str(seconds), self.name],
            timeout=seconds + CALL_TIMEOUT)
        if code != 0 and self.proc.poll() is None:
            log.warning("podman stop %s failed (%s); killing", self.name,
                        err.strip())
            self.kill()

    def kill(self):
        """SIGKILL the container (control API finish/fail, max completion
        time); `podman run` then exits."""
        threading.Thread(target=self._kill, name="docker-kill-" +
                         self.task.tid, daemon=True).start()

    def _kill(self):
        self.inspected.wait(INSPECT_TIMEOUT + CALL_TIMEOUT)
        self.runtime.call(["kill", "-s", "KILL", self.name])

    def remove(self):
        """The task is discarded (framework removed, agent gone)."""
        threading.Thread(target=self.runtime.call,
                         args=(["rm", "-f", "-t", "0", self.name],),
                         daemon=True).start()

    # ---------------------------------------------------- health checks
    def health_check(self, check, timeout):
        """One health check as the Docker executor runs it
        (src/checks/checker_process.cpp 1.11.0, runtime::Docker; 1.4.0
        src/docker/executor.cpp launchHealthCheck): COMMAND through
        `docker exec <container> sh -c value` (shell) or `value args`;
        HTTP and TCP in the container's network namespace (namespaces
        {"net"}) against 127.0.0.1 (::1 for IPv6)."""
        limit = timeout if timeout > 0 else None
        ctype = check.get("type")
        if ctype == "COMMAND":
            command = check.get("command") or {}
            argv = self.runtime.podman + ["exec", self.name]
            if emu_schema.as_bool(command.get("shell"), True):
                argv += ["sh", "-c", command.get("value", "")]
            else:
                if command.get("value"):
                    argv.append(command["value"])
                argv += list(command.get("arguments") or [])
            try:
                result = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL,
                                        timeout=limit or CALL_TIMEOUT)
            except (subprocess.SubprocessError, OSError):
                return False
            return result.returncode == 0
        if ctype not in ("HTTP", "TCP"):
            return False
        body = check.get("http" if ctype == "HTTP" else "tcp") or {}
        host = "::1" if body.get("protocol") == "IPv6" else "127.0.0.1"
        port = emu_schema.as_int(body.get("port"))
        if ctype == "HTTP":
            target = "%s://%s:%d%s" % (
                body.get("scheme") or "http",
                "[::1]" if host == "::1" else host, port,
                body.get("path") or "")
        else:
            target = "%s:%d" % (host, port)
        if self.network == "HOST" or not self.container_pid:
            if ctype == "HTTP":
                return _http_probe(target, limit)
            return _tcp_probe(host, port, limit)
        # Enter the container's network namespace (argv only).
        argv = ["nsenter", "--net=/proc/%d/ns/net" % self.container_pid,
                sys.executable, os.path.abspath(__file__), "--probe",
                ctype, target, str(limit or 0)]
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    timeout=(limit or CALL_TIMEOUT) + 5)
        except (subprocess.SubprocessError, OSError):
            return False
        return result.returncode == 0


def _reap_main(podman_json, label):
    """Reaper: wait for EOF on stdin (the emulator is gone, however it
    died), then remove its containers unless it said 'done'."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    data = b""
    while True:
        chunk = sys.stdin.buffer.read(64)
        if not chunk:
            break
        data = (data + chunk)[-64:]
    if data.endswith(b"done\n"):
        return 0
    podman = json.loads(podman_json)
    try:
        subprocess.run(podman + ["rm", "-f", "-t", "0", "--filter",
                                 "label=" + label],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    except (subprocess.SubprocessError, OSError):
        return 1
    return 0


def _probe_main(kind, target, timeout):
    limit = float(timeout) or None
    if kind == "HTTP":
        return 0 if _http_probe(target, limit) else 1
    host, _, port = target.rpartition(":")
    return 0 if _tcp_probe(host, int(port), limit) else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--reap":
        sys.exit(_reap_main(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        sys.exit(_probe_main(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit("usage: emu_docker.py --reap PODMAN_JSON LABEL | "
             "--probe HTTP|TCP TARGET TIMEOUT")
