"""Harness for the end-to-end tests: the Mesos master emulator, the real
quobyte-coordinator, real quobyte-prober processes (Mesos command tasks the
emulator runs) and real loop devices, mkfs, mounts and marker files.

Everything one test makes lives under one fresh temp root
(`$QM_IT_TMPDIR/qme2e-*`) and is registered with tests/integration/qmtest.py's
resource stack the moment it exists, so it is released in reverse order by
the test's cleanup, at interpreter exit or on SIGINT/SIGTERM/SIGHUP --
whatever happened. Processes started by the emulator (the probers) are
stopped by the emulator's own SIGTERM handling and, should one survive,
found by their working directory (a sandbox under the test's root) and
killed by pid.

Environment (besides qmtest's QM_BUILD_DIR, QM_IT_TMPDIR, QM_IT_TIMEOUT):
  QM_E2E_LOGDIR   where each test's logs, journal and sandboxes' output
                  are kept (default: a fresh /tmp/qm-e2e-logs-XXXX)
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC_DIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC_DIR, "tests", "emulator"))

import audit  # noqa: E402  (tests/emulator)
import qmtest  # noqa: E402  (tests/integration)
from qmtest import RESOURCES, scaled, wait_until  # noqa: E402,F401

EMULATOR = os.path.join(SRC_DIR, "tests", "emulator", "mesos_emulator.py")
TMP_PREFIX = "qme2e-"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error")
# Enough for registry (2048 MB), metadata and data (4096 MB each), api and
# webconsole (1024 MB each) and a prober on one agent; the services' fixed
# ports (7860-7873, 8080) inside the port ranges.
AGENT_RESOURCES = "cpus:8;mem:32768;disk:102400;ports:[7000-9000,31000-32000]"
IMAGE = "quay.io/quobyte/quobyte-server"
SERVICES = ("registry", "metadata", "data", "api", "webconsole", "prober")
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
            "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
            "TASK_UNKNOWN")

_LOG_DIR = None


def log_dir():
    global _LOG_DIR
    if _LOG_DIR is None:
        _LOG_DIR = os.environ.get("QM_E2E_LOGDIR") or \
            tempfile.mkdtemp(prefix="qm-e2e-logs-")
        os.makedirs(_LOG_DIR, exist_ok=True)
    return _LOG_DIR


def safe_name(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


# --------------------------------------------------------------------------
# small HTTP client (REST API of the coordinator, control API of the
# emulator): every request on a fresh connection


def http_request(address, method, path, body=None, headers=None,
                 timeout=10.0):
    """-> (status, headers dict (lower-case names), body bytes)."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def task_service(info_or_id):
    """Service of a TaskInfo (its 'service' label) or of a task id
    (quobyte-<service>.<hostname>.<random>)."""
    if isinstance(info_or_id, dict):
        for label in (info_or_id.get("labels") or {}).get("labels") or []:
            if label.get("key") == "service":
                return label.get("value")
        info_or_id = (info_or_id.get("task_id") or {}).get("value", "")
    m = re.match(r"quobyte-([a-z]+)\.", info_or_id)
    return m.group(1) if m else None


def env_of(info):
    """TaskInfo command environment as a dict."""
    return {v["name"]: v.get("value") for v in
            ((info.get("command") or {}).get("environment") or {})
            .get("variables") or []}


def labels_of(info):
    return {lb["key"]: lb.get("value") for lb in
            (info.get("labels") or {}).get("labels") or []}


def parse_prometheus(text):
    """Parse the Prometheus text exposition format (0.0.4) strictly enough
    to catch a malformed page: returns {(name, labels tuple): value}."""
    sample = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
        r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
        r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\})?'
        r' ([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|NaN|[-+]?Inf))'
        r'( -?[0-9]+)?$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
    types = {}
    out = {}
    if text and not text.endswith("\n"):
        raise ValueError("the exposition does not end with a line feed")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in (
                        "counter", "gauge", "histogram", "summary",
                        "untyped"):
                    raise ValueError("line %d: bad TYPE line %r"
                                     % (number, line))
                if parts[2] in types:
                    raise ValueError("line %d: second TYPE for %s"
                                     % (number, parts[2]))
                types[parts[2]] = parts[3]
            continue
        m = sample.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (number, line))
        labels = tuple(sorted(label.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        if key in out:
            raise ValueError("line %d: duplicate sample %r" % (number, line))
        out[key] = float(m.group(3))
    return out


# --------------------------------------------------------------------------
# The emulator process


# scripts/test.sh runs the e2e suite under the oldest supported release and
# under the newest.
MESOS_VERSION = os.environ.get("QM_MESOS_VERSION", "1.11.0")


class Emulator(qmtest.Process):
    """mesos_emulator.py with its journal and sandboxes under root."""

    def __init__(self, root, agents, logdir, listeners=1, extra=()):
        self.root = root
        self.ready_file = os.path.join(root, "emulator.ready")
        self.journal_path = os.path.join(logdir, "journal.jsonl")
        self.work_dir = os.path.join(root, "emulator")
        spec = os.path.join(root, "agents.json")
        with open(spec, "w") as f:
            json.dump({"agents": agents}, f)
        argv = [sys.executable, EMULATOR, "--ready-file", self.ready_file,
                "--work-dir", self.work_dir, "--journal", self.journal_path,
                "--agent-spec", spec, "--heartbeat-interval", "1",
                "--health-time-scale", "0.02", "--update-retry", "3",
                "--allocation-interval", "0.5", "--reregister-delay", "0.5"]
        for _ in range(listeners):
            argv += ["--listen", "127.0.0.1:0"]
        # the Mesos release the emulator plays (its JSON rules, enum sets
        # and calls; tests/emulator/emu_profiles.py)
        argv += ["--version", MESOS_VERSION]
        argv += list(extra)
        # the probers it runs inherit this (tests/e2e/nng-lsan.supp: an
        # upstream NNG leak at socket close)
        supp = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "nng-lsan.supp")
        lsan = os.environ.get("LSAN_OPTIONS")
        env = {"LSAN_OPTIONS": "suppressions=%s%s"
               % (supp, ":" + lsan if lsan else "")}
        super().__init__("emulator", argv, logdir, env=env)
        RESOURCES.discard(self._token)
        self._token = RESOURCES.push("emulator pid %d" % self.pid,
                                     self._shutdown)
        try:
            wait_until(lambda: os.path.exists(self.ready_file) or
                       not self.alive(), 20, what="emulator ready")
        except TimeoutError:
            pass
        if not self.alive() or not os.path.exists(self.ready_file):
            raise RuntimeError("emulator did not start: %s"
                               % self.stderr_text()[-2000:])
        with open(self.ready_file) as f:
            self.ready = json.load(f)
        self.addresses = self.ready["listen"]
        self.address = self.addresses[0]

    # -- lifecycle --------------------------------------------------------

    def _shutdown(self):
        """SIGTERM: the emulator drops its streams and SIGTERMs, then
        SIGKILLs, every task's process group. Then no process may be left
        with its working directory in our sandboxes."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stopped = True
        self._close_files()
        kill_processes_under(self.work_dir)

    def stop(self):
        """SIGTERM and wait (see _shutdown); returns the exit status."""
        RESOURCES.release(self._token)
        return self.proc.returncode

    # -- control API ------------------------------------------------------

    def control(self, action, body=None, method=None, address=None,
                expect=200):
        method = method or ("POST" if body is not None else "GET")
        payload = json.dumps(body) if body is not None else None
        status, _, data = http_request(
            address or self.address, method, "/control/" + action, payload,
            {"Content-Type": "application/json"} if payload else {})
        doc = json.loads(data) if data else None
        if expect is not None and status != expect:
            raise AssertionError("emulator control %s answered %d: %s"
                                 % (action, status, doc))
        return doc

    def delay_calls(self, call_type, seconds):
        """Hold every call of call_type `seconds` before the master takes
        it (control calls/delay: then checked and answered as things are
        then, journaled with "delayed_s"), as a master busy with other work
        would; 0 clears it."""
        return self.control("calls/delay", {"type": call_type,
                                            "seconds": seconds})

    def tasks(self):
        """Every task the emulator knows: live and completed."""
        return self.control("tasks")["tasks"]

    def live_tasks(self):
        return [t for t in self.tasks() if not t.get("completed") and
                t["state"] not in TERMINAL]

    def journal(self):
        return audit.load(self.journal_path)


def processes_under(directory):
    """Pids of the processes whose working directory is at or below
    directory (task processes run in their sandboxes)."""
    directory = os.path.realpath(directory)
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % d)
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + "/"):
            found.append(int(d))
    return found


def kill_processes_under(directory):
    """SIGKILL, by pid, the task processes that survived the emulator."""
    for pid in processes_under(directory):
        try:
            os.kill(pid, signal.SIGKILL)
            sys.stderr.write("e2e: killed leftover task process %d\n" % pid)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# The coordinator process


class Coordinator(qmtest.Process):
    """quobyte-coordinator under ASan/UBSan with its stderr in the logs."""

    def __init__(self, cluster, extra=()):
        self.cluster = cluster
        argv = [qmtest.binary("quobyte-coordinator"),
                "--master", "http://" + cluster.emulator.address,
                "--state-dir", cluster.state_dir,
                "--http-listen", cluster.rest,
                "--bus-listen", cluster.bus_url,
                "--image", IMAGE,
                "--backoff-base", "1s", "--backoff-max", "30s",
                "--removal-grace", "2s",
                "--revive-interval", "5m",
                # suppress as soon as nothing is to be launched: the
                # tests' agents are there before the coordinator, and
                # quiesce() would wait out the grace (AgentDiscoveryTest
                # covers it)
                "--discovery-grace", "0",
                "--log-level", "info"]
        # probers are command tasks of the build's binary unless the test
        # asks for another kind
        if not {"--prober-image", "--prober-uri", "--prober-binary"} & \
                set(extra):
            argv += ["--prober-command", qmtest.binary("quobyte-prober")]
        argv += list(extra)
        super().__init__("coordinator", argv, cluster.logs)

    def stderr_lines(self):
        return self.stderr_text().splitlines()

    def sanitizer_findings(self):
        text = self.stderr_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    def log_events(self, event, since=0):
        """Parsed log lines (dicts of key=value, plus 'event' and 'level')
        whose event name is `event`, from line `since` on."""
        out = []
        for line in self.stderr_lines()[since:]:
            rec = parse_log_line(line)
            if rec and rec.get("event") == event:
                out.append(rec)
        return out


_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """One coordinator log line ('level=info event=name key=value ...',
    values quoted when they need it) -> dict; None if it is not one."""
    rec = {}
    for k, v in _KV.findall(line):
        if v.startswith('"'):
            try:
                v = json.loads(v)
            except ValueError:
                v = v[1:-1]
        rec.setdefault(k, v)
    if "level" not in rec or "event" not in rec:
        return None
    rec["_line"] = line
    return rec


# --------------------------------------------------------------------------
# A cluster: temp root, agents with device roots, loop disks, emulator,
# coordinator


class Cluster:
    """nagents agents agent1..N, each with its own device root (agent
    attribute quobyte_device_roots); the first `registered` of them (default
    all) exist when the emulator starts, add_agent() registers the others.
    agent_resources: one resource string for all, or a function of the
    agent's index (0..N-1) giving each its own."""

    def __init__(self, test_id, nagents=3, listeners=1, emulator_extra=(),
                 agent_resources=AGENT_RESOURCES, registered=None, roots=True):
        self.test_id = test_id
        self._mark = RESOURCES.mark()
        self.root = os.path.realpath(tempfile.mkdtemp(
            prefix=TMP_PREFIX, dir=qmtest.TMP_PARENT))
        qmtest.CREATED_ROOTS.append(self.root)
        RESOURCES.push("tmp " + self.root, self._remove_root)
        self.logs = os.path.join(self.root, "logs")
        self.img = os.path.join(self.root, "img")
        self.state_dir = os.path.join(self.root, "state")
        for d in (self.logs, self.img, self.state_dir):
            os.makedirs(d)
        self.hosts = ["agent%d" % (i + 1) for i in range(nagents)]
        self.agent_specs = {}
        for i, h in enumerate(self.hosts):
            os.makedirs(self.device_root(h))
            self.agent_specs[h] = {
                "hostname": h, "port": 5051 + i,
                "resources": agent_resources(i) if callable(agent_resources)
                else agent_resources}
            if roots:  # else the probers see every mount of this machine
                self.agent_specs[h]["attributes"] = \
                    "quobyte_device_roots:%s" % self.device_root(h)
        if registered is None:
            registered = nagents
        agents = [self.agent_specs[h] for h in self.hosts[:registered]]
        self.coordinators = []
        self.coordinator = None
        self.disks = {}
        self._nloops = 0
        try:
            self.emulator = Emulator(self.root, agents, self.logs, listeners,
                                     emulator_extra)
        except BaseException:
            self.close()
            raise
        # after the emulator listens: picked before, a port just probed
        # free and closed went to the emulator's own bind to port 0 (a CI
        # run's coordinator found its bus port taken by the master it was
        # to subscribe to: bus_listen_failed, Address in use)
        self.rest = "127.0.0.1:%d" % qmtest.free_tcp_port()
        self.bus_url = "tcp://127.0.0.1:%d" % qmtest.free_tcp_port()

    def add_agent(self, host):
        """Register one of the agents held back (control API agent/add)."""
        return self.emulator.control("agent/add", self.agent_specs[host])

    # -- resources --------------------------------------------------------

    def device_root(self, host):
        return os.path.join(self.root, "devices", host)

    def _remove_root(self):
        keep = os.path.join(log_dir(), safe_name(self.test_id))
        try:
            os.makedirs(keep, exist_ok=True)
            if os.path.isdir(self.logs):
                shutil.copytree(self.logs, keep, dirs_exist_ok=True)
            self._keep_sandbox_logs(keep)
        except OSError as e:
            sys.stderr.write("e2e: keeping logs of %s failed: %s\n"
                             % (self.test_id, e))
        for mp in sorted(qmtest.mounted_at(self.root), reverse=True):
            qmtest.umount(mp)
        if qmtest.mounted_at(self.root):
            sys.stderr.write("e2e: %s still has mounts; not removed\n"
                             % self.root)
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def sandbox_stderr(self):
        """The stderr file of every command task (prober) sandbox."""
        base = os.path.join(self.root, "emulator", "slaves")
        out = []
        for dirpath, _, files in os.walk(base):
            if "stderr" in files:
                out.append(os.path.join(dirpath, "stderr"))
        return sorted(out)

    def _keep_sandbox_logs(self, keep):
        """Each prober's stderr, named after its task."""
        for path in self.sandbox_stderr():
            m = re.search(r"/executors/([^/]+)/runs/", path)
            name = m.group(1) if m else "task"
            shutil.copy(path, os.path.join(keep, "%s.stderr"
                                           % safe_name(name)))

    def close(self):
        RESOURCES.release_to(self._mark)

    # -- disks ------------------------------------------------------------

    def disk(self, host, name, types, bootstrap=False, mark=True,
             size=16 << 20):
        """A loop device with ext4 mounted at <device root of host>/<name>,
        marked for `types` (DIR_DEVICE, METADATA_DEVICE, DATA_DEVICE)
        unless mark is False. Returns the mount point."""
        self._nloops += 1
        lo = qmtest.LoopDevice(os.path.join(self.img, "disk%d.img"
                                            % self._nloops), size)
        lo.mkfs("ext4")
        mp = os.path.join(self.device_root(host), name)
        m = qmtest.Mount(lo.path, mp)
        self.disks[mp] = (lo, m)
        if mark:
            self.mark(mp, types, bootstrap)
        return mp

    def mark(self, mp, types, bootstrap=False):
        extra = ("device.bootstrap=true",) if bootstrap else ()
        serial = "e2e-%s" % safe_name(os.path.relpath(mp, self.root))
        return qmtest.write_marker(mp, types=tuple(types), serial=serial,
                                   extra=extra)

    def unmark(self, mp):
        qmtest.remove_marker(mp)

    def standard_disks(self):
        """registry (bootstrap) on agent1, metadata on agent2, data on
        agent2 and agent3."""
        self.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        self.disk("agent2", "md", ["METADATA_DEVICE"])
        self.disk("agent2", "data", ["DATA_DEVICE"])
        self.disk("agent3", "data", ["DATA_DEVICE"])

    # -- coordinator ------------------------------------------------------

    def start_coordinator(self, extra=(), wait=True):
        c = Coordinator(self, extra)
        self.coordinators.append(c)
        self.coordinator = c
        if wait:
            self.wait_subscribed()
        return c

    def kill_coordinator(self):
        """SIGKILL, as a crash would."""
        self.coordinator.kill()

    def rest_call(self, method, path, body=None, headers=None, timeout=10):
        return http_request(self.rest, method, path, body, headers, timeout)

    def state(self):
        status, _, data = self.rest_call("GET", "/v1/state")
        if status != 200:
            raise AssertionError("GET /v1/state answered %d: %r"
                                 % (status, data[:300]))
        return json.loads(data)

    def health(self):
        try:
            return self.rest_call("GET", "/v1/health", timeout=3)[0]
        except OSError:
            return None

    def set_version(self, version, token=None):
        headers = {"Content-Type": "text/plain"}
        if token:
            headers["Authorization"] = "Bearer " + token
        status, _, data = self.rest_call("POST", "/v1/version", version,
                                         headers)
        if status != 200:
            raise AssertionError("POST /v1/version %r answered %d: %r"
                                 % (version, status, data[:300]))
        return json.loads(data)

    def coordinator_alive(self):
        return self.coordinator is not None and self.coordinator.alive()

    def wait_subscribed(self, timeout=20):
        def ok():
            if not self.coordinator_alive():
                raise AssertionError("coordinator exited (%s):\n%s" % (
                    self.coordinator.proc.returncode,
                    self.coordinator.stderr_text()[-3000:]))
            return self.health() == 200
        wait_until(ok, timeout, interval=0.05, what="coordinator subscribed")

    # -- observation ------------------------------------------------------

    def journal(self):
        return self.emulator.journal()

    def launches(self, records=None):
        """[(record, TaskInfo)] of every accepted (2xx) ACCEPT's LAUNCH."""
        out = []
        for r in records if records is not None else self.journal():
            if r.get("direction") == "call" and \
                    r.get("call_type") == "ACCEPT" and \
                    200 <= int(r.get("status") or 0) < 300:
                for info in audit._launched(r.get("body") or {}):
                    out.append((r, info))
        return out

    def calls(self, call_type, records=None):
        return [r for r in (records if records is not None
                            else self.journal())
                if r.get("direction") == "call" and
                r.get("call_type") == call_type]

    def events(self, event_type, records=None):
        return [r for r in (records if records is not None
                            else self.journal())
                if r.get("direction") == "event" and
                (r.get("event") or {}).get("type") == event_type]

    def running(self):
        """{service: sorted [hostnames]} of the emulator's live tasks that
        are RUNNING (and healthy, when they are health-checked)."""
        out = {}
        for t in self.emulator.live_tasks():
            if t["state"] != "TASK_RUNNING" or t.get("healthy") is False:
                continue
            out.setdefault(task_service(t["task_id"]), []).append(
                t["hostname"])
        return {k: sorted(v) for k, v in out.items()}

    def live(self):
        """{service: sorted [hostnames]} of every live task."""
        out = {}
        for t in self.emulator.live_tasks():
            out.setdefault(task_service(t["task_id"]), []).append(
                t["hostname"])
        return {k: sorted(v) for k, v in out.items()}

    def wait_running(self, expected, timeout=40, exact=True):
        """Wait until the RUNNING tasks per service are `expected`:
        {service: [hostnames] or an int (that many, anywhere)}; with exact,
        no other live task may exist (probers included)."""
        def match():
            run = self.running()
            live = self.live()
            for svc, want in expected.items():
                got = run.get(svc, [])
                if isinstance(want, int):
                    if len(got) != want:
                        return False
                elif sorted(want) != got:
                    return False
            if exact:
                for svc, hosts in live.items():
                    want = expected.get(svc, [])
                    n = want if isinstance(want, int) else len(want)
                    if len(hosts) != n:
                        return False
            return True
        try:
            wait_until(match, timeout, interval=0.1,
                       what="running tasks %s" % expected)
        except TimeoutError as e:
            raise AssertionError("%s; running now %s, live %s; problems %s"
                                 % (e, self.running(), self.live(),
                                    self._problems()))

    def _problems(self):
        try:
            return self.state().get("problems")
        except Exception as e:  # the coordinator may be gone
            return "(state unavailable: %s)" % e

    def wait_reporting(self, hosts=None, timeout=30):
        """Wait until the probers of these agents (default all) report."""
        hosts = hosts or self.hosts

        def ok():
            nodes = {n["hostname"]: n for n in self.state()["nodes"]}
            return all(h in nodes and nodes[h]["prober"]["reporting"]
                       for h in hosts)
        wait_until(ok, timeout, interval=0.1, what="probers reporting")

    def node(self, host):
        for n in self.state()["nodes"]:
            if n["hostname"] == host:
                return n
        return None

    # -- the end of every test -------------------------------------------

    def quiesce(self, timeout=30):
        """Wait until nothing is in flight: the coordinator suppressed offers
        after its last REVIVE or launch (journal), every status update the
        emulator holds was acknowledged, and every running service has had
        its first health check result (else its update may arrive while the
        test stops the coordinator)."""
        def quiet():
            records = self.journal()
            if audit.audit(records, checks=("suppress_when_idle",)):
                return False
            for t in self.emulator.tasks():
                if t.get("pending_updates"):
                    return False
            st = self.state()
            for n in st.get("nodes", []):
                for t in n.get("services", []):
                    if t.get("state") == "TASK_RUNNING" and \
                            t.get("health") == "unknown":
                        return False
            return st.get("offers_suppressed") is True
        try:
            wait_until(quiet, timeout, interval=0.1, what="a quiet cluster")
        except TimeoutError as e:
            raise AssertionError("%s; pending updates: %s" % (e, [
                (t["task_id"], t["pending_updates"])
                for t in self.emulator.tasks() if t.get("pending_updates")]))

    def finish(self, testcase, quiesce=True, audit_checks=None):
        """Quiesce, stop the coordinator (SIGTERM: clean exit, no sanitizer
        report), stop the emulator, audit the journal."""
        if quiesce:
            self.quiesce()
        c = self.coordinator
        if c is not None and not c.stopped:
            testcase.assertTrue(c.alive(), "coordinator died: exit %s\n%s"
                                % (c.proc.returncode,
                                   c.stderr_text()[-3000:]))
            rc, _ = c.stop(timeout=15)
            testcase.assertEqual(rc, 0, "coordinator exit status %s on "
                                 "SIGTERM; stderr tail:\n%s"
                                 % (rc, c.stderr_text()[-3000:]))
        for c in self.coordinators:
            found = c.sanitizer_findings()
            testcase.assertEqual(found, [], "coordinator stderr (%s) has %s"
                                 % (c.stderr_path, found))
            testcase.assertNotIn(c.proc.returncode,
                                 (-signal.SIGSEGV, -signal.SIGABRT,
                                  -signal.SIGBUS, -signal.SIGFPE, 86),
                                 "coordinator crashed")
        self.emulator.stop()
        for path in self.sandbox_stderr():
            with open(path, errors="replace") as f:
                text = f.read()
            found = [m for m in SANITIZER_MARKERS if m in text]
            # the sandbox is deleted with the run: the report goes into
            # the message, or the failure cannot be read afterwards
            at = min([text.find(m) for m in found] or [0])
            testcase.assertEqual(found, [], "prober task stderr %s has %s:\n%s"
                                 % (path, found, text[max(0, at - 200):at + 4000]))
        violations = audit.audit(self.emulator.journal_path,
                                 checks=audit_checks or AUDIT_CHECKS)
        violations += suppressed_before_offers(
            audit.load(self.emulator.journal_path))
        testcase.assertEqual(violations, [], "journal audit of %s:\n%s" % (
            self.emulator.journal_path, "\n".join(
                "line %s: %s: %s" % (v["line"], v["check"], v["message"])
                for v in violations)))


# every check audit.py has, the non-default ones included: no call answered
# 4xx (other than 307/503), no offer held
AUDIT_CHECKS = audit.ALL_CHECKS


def suppressed_before_offers(records):
    """The coordinator's own rule on top of the audit: after a successful
    SUBSCRIBE it must not SUPPRESS before the subscription's first OFFERS
    (until then it knows no agent, and a fresh coordinator would hide every
    agent that needs a prober). Returns audit-style violations."""
    out = []
    current = {}   # framework id -> [stream id, offers seen]
    for r in records:
        fid = r.get("framework_id")
        if r.get("direction") == "event":
            etype = (r.get("event") or {}).get("type")
            if etype == "SUBSCRIBED":
                current[fid] = [r.get("stream_id"), False]
            elif etype == "OFFERS" and fid in current and \
                    current[fid][0] == r.get("stream_id"):
                current[fid][1] = True
        elif r.get("direction") == "call" and \
                r.get("call_type") == "SUPPRESS" and \
                200 <= int(r.get("status") or 0) < 300:
            entry = current.get(fid)
            if entry and not entry[1]:
                out.append({"check": "suppress_before_offers",
                            "line": r["_line"], "framework_id": fid,
                            "message": "SUPPRESS before the first OFFERS of "
                            "subscription %s" % entry[0]})
    return out


class E2ETestCase(unittest.TestCase):
    """Each test gets a fresh Cluster (released whatever happens)."""

    NAGENTS = 3
    REGISTERED = None
    LISTENERS = 1
    EMULATOR_EXTRA = ()
    ROOTS = True
    AGENT_RESOURCES = AGENT_RESOURCES

    def setUp(self):
        self.notes = []
        self.cluster = Cluster(self.id(), self.NAGENTS, self.LISTENERS,
                               self.emulator_extra(),
                               agent_resources=self.AGENT_RESOURCES,
                               registered=self.REGISTERED, roots=self.ROOTS)
        self.addCleanup(self.cluster.close)

    def emulator_extra(self):
        return self.EMULATOR_EXTRA

    def note(self, text):
        """A figure worth printing (the runner shows it under the test's
        result line); never an assertion."""
        self.notes.append(text)
