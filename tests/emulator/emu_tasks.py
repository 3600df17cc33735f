"""Agent side of the emulator: sandboxes, the URI fetcher, command tasks as
real local processes, simulated Docker/image/executor tasks, health checks.
Docker tasks run as real containers with --docker-runtime podman
(emu_docker.py; reached through cluster.docker and task.docker).

Command tasks run the way the Mesos command executor runs them (docs §6.1,
§9): in a per-task sandbox, in their own session and process group, with
the agent environment plus the MESOS_* variables plus
CommandInfo.environment, stdout/stderr to files in the sandbox.
"""

import base64
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import emu_schema
from emu_util import log

ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz",
            ".txz", ".zip")


class LaunchError(Exception):
    """The agent could not launch the container (fetch, user, secrets)."""


def task_kind(info, executor):
    """command (real process), docker, image (Mesos containerizer with an
    image: simulated) or executor (custom executor: simulated)."""
    if executor is not None and executor.get("type") != "DEFAULT":
        return "executor"
    container = info.get("container")
    if container is None:
        return "command"
    if container.get("type") == "DOCKER":
        return "docker"
    if (container.get("mesos") or {}).get("image") is not None:
        return "image"
    return "command"


def signal_group(pid, sig):
    if pid is None:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def describe_exit(returncode):
    if returncode is None:
        return "exited"
    if returncode >= 0:
        return "exited with status %d" % returncode
    name = signal.strsignal(-returncode) or str(-returncode)
    return "terminated with signal %s" % name


def start(cluster, task, framework):
    thread = threading.Thread(target=_run, args=(cluster, task),
                              name="task-" + task.tid, daemon=True)
    thread.start()


# ------------------------------------------------------------------ launch
def volume_path(config, resource):
    """Host directory of a persistent volume (as the agent keeps it under
    <work_dir>/volumes/roles/<role>/<id>; MOUNT roots are not touched)."""
    role = resource["reservations"][-1]["role"].replace("/", " ")
    return os.path.join(config.work_dir, "volumes", "roles", role,
                        resource["disk"]["persistence"]["id"])


def _link_volumes(config, task, sandbox):
    for resource in task.resources:
        disk = resource.get("disk") or {}
        if disk.get("persistence") is None or disk.get("volume") is None:
            continue
        target = volume_path(config, resource)
        os.makedirs(target, exist_ok=True)
        link = os.path.join(sandbox, disk["volume"]["container_path"])
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(target, link)


def _sandbox_path(config, task):
    return os.path.join(config.work_dir, "slaves", task.agent.id,
                        "frameworks", task.fid, "executors",
                        task.executor_id or task.tid, "runs",
                        task.container_id)


def _resolve_user(config, task):
    """Popen keyword arguments to run as the task's user, as an agent with
    --switch_user does."""
    if not config.switch_user or task.kind != "command":
        return {}
    try:
        entry = pwd.getpwnam(task.user)
    except KeyError:
        raise LaunchError("Failed to get user information for '%s'"
                          % task.user)
    if os.geteuid() == 0:
        if entry.pw_uid == 0:
            return {}
        return {"user": entry.pw_uid, "group": entry.pw_gid,
                "extra_groups": []}
    if entry.pw_uid == os.geteuid():
        return {}
    raise LaunchError("Cannot switch to user '%s': the agent is not running "
                      "as root" % task.user)


def _chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            try:
                os.chown(os.path.join(root, name), uid, gid,
                         follow_symlinks=False)
            except OSError:
                pass


def fetch(uri, sandbox, timeout=60):
    """Fetch one CommandInfo.URI into the sandbox (http, https, file://,
    absolute paths), honouring output_file, executable and extract."""
    value = uri["value"]
    parsed = urllib.parse.urlparse(value)
    output = uri.get("output_file")
    if output is not None:
        if output == "" or os.path.isabs(output) or \
                ".." in output.split("/"):
            raise LaunchError("Invalid output_file '%s' for URI '%s'"
                              % (output, value))
    name = output or os.path.basename(parsed.path.rstrip("/")) or "download"
    dest = os.path.join(sandbox, name)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        if parsed.scheme in ("http", "https"):
            with urllib.request.urlopen(value, timeout=timeout) as response, \
                    open(dest, "wb") as out:
                shutil.copyfileobj(response, out)
        elif parsed.scheme == "file" or (parsed.scheme == "" and
                                         value.startswith("/")):
            source = urllib.parse.unquote(parsed.path) \
                if parsed.scheme == "file" else value
            if not os.path.isfile(source):
                raise LaunchError("Failed to fetch '%s': no such file"
                                  % value)
            shutil.copyfile(source, dest)
        else:
            raise LaunchError("Failed to fetch '%s': unsupported URI scheme"
                              % value)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise LaunchError("Failed to fetch '%s': %s" % (value, err))
    if emu_schema.as_bool(uri.get("executable")):
        os.chmod(dest, 0o755)
    elif emu_schema.as_bool(uri.get("extract"), True) and \
            dest.endswith(ARCHIVES):
        _extract(dest, os.path.dirname(dest), value)


def _extract(path, target, value):
    try:
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    archive.extract(member, target)
                    mode = member.external_attr >> 16
                    if mode:
                        os.chmod(os.path.join(target, member.filename),
                                 mode & 0o777)
        else:
            with tarfile.open(path, "r:*") as archive:
                try:
                    archive.extractall(target, filter="data")
                except TypeError:
                    archive.extractall(target)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
        raise LaunchError("Failed to extract '%s': %s" % (value, err))


def _task_environment(task):
    out = {}
    variables = (((task.info.get("command") or {}).get("environment") or {})
                 .get("variables") or [])
    for var in variables:
        if var.get("type", "VALUE") == "VALUE":
            out[var["name"]] = var.get("value", "")
            continue
        secret = var.get("secret") or {}
        if secret.get("type") == "VALUE":
            data = base64.b64decode(secret["value"]["data"])
            out[var["name"]] = data.decode("utf-8", "replace")
        else:
            raise LaunchError("Failed to resolve secret reference '%s' for "
                              "variable '%s': no secret resolver module is "
                              "loaded" % ((secret.get("reference") or {})
                                          .get("name"), var["name"]))
    return out


def _command_environment(task, sandbox):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MESOS_", "LIBPROCESS_"))}
    agent = task.agent
    env.update({
        "MESOS_SANDBOX": sandbox,
        "MESOS_DIRECTORY": sandbox,
        "MESOS_FRAMEWORK_ID": task.fid,
        "MESOS_EXECUTOR_ID": task.executor_id or task.tid,
        "MESOS_SLAVE_ID": agent.id,
        "MESOS_SLAVE_PID": "slave(1)@%s:%d" % (agent.ip, agent.port),
        "MESOS_AGENT_ENDPOINT": "%s:%d" % (agent.ip, agent.port),
        "MESOS_CHECKPOINT": "1" if task.checkpoint else "0",
        "MESOS_ALLOCATION_ROLE": task.role,
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
        "MESOS_HTTP_COMMAND_EXECUTOR": "0",
        "LIBPROCESS_IP": agent.ip,
        "LIBPROCESS_PORT": "0",
    })
    if task.checkpoint:
        env["MESOS_RECOVERY_TIMEOUT"] = "15mins"
        env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs"
    if task.kind == "image":
        env["MESOS_SANDBOX"] = "/mnt/mesos/sandbox"
    env.update(_task_environment(task))
    return env


def _docker_environment(task):
    env = {
        "MESOS_SANDBOX": "/mnt/mesos/sandbox",
        "MESOS_CONTAINER_NAME": "mesos-" + task.container_id,
        "MESOS_ALLOCATION_ROLE": task.role,
    }
    env.update(_task_environment(task))
    return env


def _run(cluster, task):
    config = cluster.config
    try:
        popen_user = _resolve_user(config, task)
        sandbox = _sandbox_path(config, task)
        os.makedirs(sandbox, exist_ok=True)
        task.sandbox = sandbox
        _link_volumes(config, task, sandbox)
        command = task.info.get("command") or {}
        uris = list(command.get("uris") or [])
        if task.kind == "executor":
            uris += ((task.info.get("executor") or {}).get("command") or
                     {}).get("uris") or []
        for uri in uris:
            fetch(uri, sandbox, config.fetch_timeout)
        if popen_user.get("user") is not None:
            _chown_tree(sandbox, popen_user["user"], popen_user["group"])
        runtime = cluster.docker if task.kind == "docker" else None
        if runtime is not None:
            problem = runtime.ensure_image(task)
            if problem:
                raise LaunchError(problem)
        if task.kind == "docker":
            task.env = _docker_environment(task)
        else:
            task.env = _command_environment(task, sandbox)
        _launch_checks(task)
    except LaunchError as err:
        with cluster.lock:
            if task.removed or task.state != "TASK_STAGING":
                return
            if task.kill_requested:
                _killed_during_launch(cluster, task)
                return
            cluster.emit(task, "TASK_FAILED", "SOURCE_AGENT",
                         reason="REASON_CONTAINER_LAUNCH_FAILED",
                         message="Failed to launch container: %s" % err)
        return
    proc = run = None
    with cluster.lock:
        if task.removed or task.state != "TASK_STAGING":
            return
        if task.kill_requested:
            _killed_during_launch(cluster, task)
            return
        if task.kind == "command":
            proc = _start_command(cluster, task, popen_user)
        elif runtime is not None:
            run = runtime.launch(cluster, task)   # emu_docker: real container
        else:
            _start_simulated(cluster, task)
    if run is not None:
        run.monitor()
        return
    if proc is None:
        return
    returncode = proc.wait()
    with cluster.lock:
        cluster.process_exited(task, returncode)


def _killed_during_launch(cluster, task):
    cluster.emit(task, "TASK_KILLED", "SOURCE_AGENT",
                 reason="REASON_TASK_KILLED_DURING_LAUNCH",
                 message="Task was killed before delivery to the executor")


def _launch_checks(task):
    """Failures the agent/containerizer reports as TASK_FAILED."""
    command = task.info.get("command") or {}
    shell = emu_schema.as_bool(command.get("shell"), True)
    if task.kind == "command":
        if not command.get("value"):
            raise LaunchError("%s command is not specified"
                              % ("Shell" if shell else "Executable"))
    if task.kind == "docker":
        docker = task.info["container"]["docker"]
        if shell and not command.get("value"):
            raise LaunchError("Shell command is not specified for the Docker "
                              "task (shell:true requires 'value')")
        if docker.get("port_mappings") and \
                docker.get("network", "HOST") not in ("BRIDGE", "USER"):
            raise LaunchError("Port mappings are only supported for bridge "
                              "and user-defined networks")


def _start_command(cluster, task, popen_user):
    command = task.info["command"]
    shell = emu_schema.as_bool(command.get("shell"), True)
    value = command["value"]
    if shell:
        argv, executable = ["/bin/sh", "-c", value], None
    else:
        argv = list(command.get("arguments") or []) or [value]
        executable = value
    task.argv = argv
    cluster.emit(task, "TASK_STARTING", "SOURCE_EXECUTOR")
    out = err = None
    try:
        out = open(os.path.join(task.sandbox, "stdout"), "ab")
        err = open(os.path.join(task.sandbox, "stderr"), "ab")
        proc = subprocess.Popen(
            argv, executable=executable, cwd=task.sandbox, env=task.env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, close_fds=True, **popen_user)
    except OSError as error:
        cluster.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                     message="Failed to execute command: %s" % error)
        return None
    finally:
        for handle in (out, err):
            if handle is not None:
                handle.close()
    task.proc = proc
    task.pid = proc.pid
    task.container_status = {
        "container_id": {"value": task.container_id},
        "executor_pid": proc.pid,
        "network_infos": [{"ip_addresses": [
            {"protocol": "IPv4", "ip_address": task.agent.ip}]}],
    }
    cluster.emit(task, "TASK_RUNNING", "SOURCE_EXECUTOR")
    _after_running(cluster, task)
    return proc


def _start_simulated(cluster, task):
    cluster.emit(task, "TASK_STARTING", "SOURCE_EXECUTOR")
    cluster.timers.schedule(cluster.config.docker_start_delay,
                            lambda: _simulated_running(cluster, task),
                            "simulated-start")


def _simulated_running(cluster, task):
    with cluster.lock:
        if task.removed or task.state != "TASK_STARTING" or task.killing:
            return
        ip = task.agent.ip
        data = None
        if task.kind == "docker":
            docker = task.info["container"]["docker"]
            if docker.get("network") in ("BRIDGE", "USER"):
                ip = "172.17.0.%d" % (2 + abs(hash(task.container_id)) % 250)
            inspect = [{
                "Id": task.container_id.replace("-", "") * 2,
                "Name": "/mesos-" + task.container_id,
                "Config": {"Image": docker.get("image"),
                           "Env": ["%s=%s" % kv for kv in
                                   sorted(task.env.items())]},
                "HostConfig": {"NetworkMode":
                               docker.get("network", "HOST").lower(),
                               "Privileged": emu_schema.as_bool(
                                   docker.get("privileged"))},
                "NetworkSettings": {"IPAddress": "" if ip == task.agent.ip
                                    else ip},
                "State": {"Running": True},
            }]
            data = base64.b64encode(json.dumps(inspect).encode()).decode()
        task.container_status = {
            "container_id": {"value": task.container_id},
            "network_infos": [{"ip_addresses": [
                {"protocol": "IPv4", "ip_address": ip}]}],
        }
        cluster.emit(task, "TASK_RUNNING", "SOURCE_EXECUTOR", data=data)
        _after_running(cluster, task)


def _after_running(cluster, task):
    if task.info.get("health_check") is not None:
        threading.Thread(target=_health_loop, args=(cluster, task),
                         name="health-" + task.tid, daemon=True).start()
    limit = (task.info.get("max_completion_time") or {}).get("nanoseconds")
    if limit is not None:
        seconds = emu_schema.as_int(limit) / 1e9
        cluster.timers.schedule(seconds, lambda: _max_completion(cluster, task),
                                "max-completion")


def _max_completion(cluster, task):
    with cluster.lock:
        if task.removed or task.state in ("TASK_FINISHED", "TASK_FAILED",
                                          "TASK_KILLED"):
            return
        cluster.force_end(task, "TASK_FAILED",
                          "Task exceeded its max completion time",
                          "REASON_MAX_COMPLETION_TIME_REACHED")


# ----------------------------------------------------------- health checks
def _sleep(task, seconds, wakeable=True):
    """Wait; True if the task is done. A control-API health change wakes
    the loop early so the next check happens at once (not during the
    initial delay: wakeable=False)."""
    deadline = time.monotonic() + seconds
    while True:
        if task.done.is_set():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if task.health_wake.wait(remaining):
            task.health_wake.clear()
            if task.done.is_set():
                return True
            if wakeable:
                return False


def _health_loop(cluster, task):
    check = task.info["health_check"]
    scale = cluster.config.health_time_scale
    delay = emu_schema.as_float(check.get("delay_seconds"), 15.0) * scale
    interval = max(0.01, emu_schema.as_float(check.get("interval_seconds"),
                                             10.0) * scale)
    timeout = emu_schema.as_float(check.get("timeout_seconds"), 20.0)
    grace = emu_schema.as_float(check.get("grace_period_seconds"),
                                10.0) * scale
    started = time.monotonic()
    # src/checks/checker_process.cpp CheckerProcess::initialize():
    # scheduleNext(checkDelay): the first check (so the first healthy
    # result) no sooner than delay_seconds after the checker starts, when
    # the task is running (src/checks/health_checker.cpp toCheckInfo(),
    # 1.4.0 ... 1.11.0); a control-API override does not shorten it.
    if _sleep(task, delay, wakeable=False):
        return
    while True:
        override = task.health_override
        if override is not None:
            result = override
        elif task.kind == "command":
            result = run_health_check(check, task, timeout)
        elif task.docker is not None:
            result = task.docker.health_check(check, timeout)
        else:
            result = True
        with cluster.lock:
            if task.done.is_set() or task.removed or task.killing or \
                    task.state != "TASK_RUNNING":
                return
            cluster.health_result(task, result, started, grace)
        if _sleep(task, interval):
            return


def run_health_check(check, task, timeout):
    limit = timeout if timeout > 0 else None
    ctype = check.get("type")
    try:
        if ctype == "COMMAND":
            command = check["command"]
            env = dict(task.env)
            for var in ((command.get("environment") or {})
                        .get("variables") or []):
                if var.get("type", "VALUE") == "VALUE":
                    env[var["name"]] = var.get("value", "")
            if emu_schema.as_bool(command.get("shell"), True):
                argv, executable = ["/bin/sh", "-c", command["value"]], None
            else:
                argv = list(command.get("arguments") or []) or \
                    [command["value"]]
                executable = command["value"]
            result = subprocess.run(argv, executable=executable,
                                    cwd=task.sandbox, env=env,
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=limit)
            return result.returncode == 0
        if ctype == "HTTP":
            http = check["http"]
            url = "%s://127.0.0.1:%d%s" % (
                http.get("scheme") or "http",
                emu_schema.as_int(http["port"]), http.get("path") or "/")
            with urllib.request.urlopen(url, timeout=limit) as response:
                return 200 <= response.status < 400
        if ctype == "TCP":
            port = emu_schema.as_int(check["tcp"]["port"])
            with socket.create_connection(("127.0.0.1", port), timeout=limit):
                return True
    except (OSError, subprocess.SubprocessError, urllib.error.URLError,
            ValueError) as err:
        log.debug("health check of %s failed: %s", task.tid, err)
        return False
    return False
