"""A local cluster for the coordinator benchmarks: the Mesos master emulator
(tests/emulator) and a real quobyte-coordinator, started on free loopback
ports, with their output kept and every process released by the qmtest
resource registry (so an interrupted run leaves nothing behind).

  Emulator(root, args, env)       mesos_emulator.py with --ready-file/--journal
  Coordinator(root, master, args) quobyte-coordinator; stderr is read by a
                                  thread that stamps every line on arrival
  JournalTail(path, keep)         incremental reader of the emulator journal
  proc_cpu_ns(pid)                CPU time of a process (schedstat, threads)

Timestamps: the journal's "ts" is the emulator's time.time() (CLOCK_REALTIME,
taken when the call is answered or just before the event is written); the
coordinator's log lines are stamped with time.time() when this process reads
them from the pipe. Everything runs on one machine, so the clocks agree.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import benchlib
from benchlib import qmtest

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "emulator", "mesos_emulator.py")


def http_json(url, body=None, method=None, timeout=30):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or
                                 ("POST" if data is not None else "GET"))
    if data is not None and not isinstance(body, bytes):
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read()
    return json.loads(text) if text.strip() else None


class _Child:
    """A child process registered for cleanup: SIGTERM, then SIGKILL."""

    def __init__(self, name, argv, stdout, stderr, env=None, cwd=None):
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, env=env,
                                     cwd=cwd)
        self.pid = self.proc.pid
        self._token = qmtest.RESOURCES.push("%s pid %d" % (name, self.pid),
                                            self._release)

    def _release(self):
        self.terminate()

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stop(self, timeout=15):
        rc = self.terminate(timeout)
        qmtest.RESOURCES.discard(self._token)
        return rc


class Emulator(_Child):
    def __init__(self, root, args, env=None, startup_timeout=120):
        self.dir = os.path.join(root, "emulator")
        os.makedirs(self.dir, exist_ok=True)
        self.ready_file = os.path.join(self.dir, "ready.json")
        self.journal_path = os.path.join(self.dir, "journal.jsonl")
        self.log_path = os.path.join(self.dir, "emulator.log")
        argv = [sys.executable, EMULATOR, "--listen", "127.0.0.1:0",
                "--ready-file", self.ready_file,
                "--journal", self.journal_path,
                "--work-dir", os.path.join(self.dir, "work"),
                "--log-level", "warning"] + list(args)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        super().__init__("mesos-emulator", argv, self._log, subprocess.STDOUT,
                         env=full_env)
        deadline = time.monotonic() + startup_timeout
        while not os.path.exists(self.ready_file):
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start:\n" + self.log())
            time.sleep(0.05)
        with open(self.ready_file) as f:
            self.ready = json.load(f)
        self.address = self.ready["listen"][0]
        self.url = "http://" + self.address

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def control(self, action, body=None):
        return http_json(self.url + "/control/" + action, body,
                         method="POST" if body is not None else "GET")

    def task_pids(self):
        """pids of the emulator's real task processes (command tasks)."""
        try:
            tasks = self.control("tasks")["tasks"]
        except Exception:
            return []
        return [t["pid"] for t in tasks if t.get("pid")]

    def stop(self, timeout=15):
        pids = self.task_pids()
        rc = super().stop(timeout)
        self._log.close()
        # the emulator kills its tasks on SIGTERM; make sure, by pid
        for pid in pids:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"quobyte-prober" not in f.read():
                        continue
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return rc


class FastMaster(_Child):
    """tests/bench/fastmaster.py: a fast, minimal master for scale runs."""

    def __init__(self, root, agents, heartbeat_interval=15,
                 startup_timeout=120):
        self.dir = os.path.join(root, "fastmaster")
        os.makedirs(self.dir, exist_ok=True)
        self.ready_file = os.path.join(self.dir, "ready.json")
        self.journal_path = os.path.join(self.dir, "journal.jsonl")
        self.log_path = os.path.join(self.dir, "fastmaster.log")
        argv = [sys.executable, os.path.join(HERE, "fastmaster.py"),
                "--listen", "127.0.0.1:0", "--agents", str(agents),
                "--heartbeat-interval", str(heartbeat_interval),
                "--ready-file", self.ready_file,
                "--journal", self.journal_path]
        self._log = open(self.log_path, "wb")
        super().__init__("fastmaster", argv, self._log, subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while not os.path.exists(self.ready_file):
            if not self.alive() or time.monotonic() > deadline:
                with open(self.log_path, errors="replace") as f:
                    raise RuntimeError("fastmaster did not start:\n" +
                                       f.read()[-4000:])
            time.sleep(0.05)
        with open(self.ready_file) as f:
            self.ready = json.load(f)
        self.address = self.ready["listen"][0]
        self.url = "http://" + self.address

    def agents(self):
        return list(zip(self.ready["agents"], self.ready["hostnames"]))

    def stop(self, timeout=15):
        rc = super().stop(timeout)
        self._log.close()
        return rc


class Coordinator(_Child):
    """quobyte-coordinator with stderr read line by line and stamped."""

    def __init__(self, root, master_url, args=(), name="coordinator"):
        self.dir = os.path.join(root, name)
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.http_port = qmtest.free_tcp_port()
        self.bus_port = qmtest.free_tcp_port()
        self.rest = "http://127.0.0.1:%d" % self.http_port
        self.bus_url = "tcp://127.0.0.1:%d" % self.bus_port
        self.log_path = os.path.join(self.dir, "coordinator.log")
        # a private copy: the build tree may be rebuilt while this runs,
        # and perf needs the binary it sampled
        self.binary = os.path.join(self.dir, "quobyte-coordinator")
        shutil.copy2(os.path.realpath(qmtest.binary("quobyte-coordinator")),
                     self.binary)
        argv = [self.binary,
                "--master", master_url,
                "--state-dir", self.state_dir,
                "--http-listen", "127.0.0.1:%d" % self.http_port,
                "--bus-listen", self.bus_url] + list(args)
        self.lines = []          # (unix time read, monotonic ns read, text)
        self._cond = threading.Condition()
        # stderr goes to a file, as in a Mesos sandbox, and is tailed: a
        # pipe to this process's reader thread (which shares the GIL with
        # the benchmark) made a burst of 10,000 launch lines block the
        # coordinator's loop in write(2) for about a second
        self._logf = open(self.log_path, "wb")
        self._stopped = threading.Event()
        super().__init__(name, argv, subprocess.DEVNULL, self._logf)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_line(lambda t: "event=coordinator_start" in t, timeout=30,
                       what="coordinator_start")

    def _read(self):
        """Tails the log file; a line is stamped when it is read (within a
        millisecond of its write while the coordinator runs)."""
        with open(self.log_path, "rb") as f:
            rest = b""
            while True:
                ended = self._stopped.is_set() or not self.alive()
                chunk = f.read(1 << 20)
                if not chunk:
                    if ended:  # read after the end: nothing is left
                        break
                    time.sleep(0.001)
                    continue
                t, m = time.time(), time.monotonic_ns()
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                got = [(t, m, raw.decode("utf-8", "replace")) for raw in parts]
                with self._cond:
                    self.lines.extend(got)
                    self._cond.notify_all()

    def wait_line(self, pred, start=0, timeout=20, what="log line"):
        """First line at index >= start with pred(text); returns (index,
        unix time, text)."""
        deadline = time.monotonic() + qmtest.scaled(timeout)
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    t, _, text = self.lines[i]
                    if pred(text):
                        return i, t, text
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    raise AssertionError("coordinator: no %s within %.0f s"
                                         % (what, timeout))
                self._cond.wait(min(left, 0.5))

    def mark(self):
        with self._cond:
            return len(self.lines)

    def state(self):
        return http_json(self.rest + "/v1/state")

    def set_version(self, v):
        return http_json(self.rest + "/v1/version", v.encode())

    def metric_samples(self, timeout=30):
        """GET /metrics: {series (name and labels, as written): value}."""
        with urllib.request.urlopen(self.rest + "/metrics",
                                    timeout=timeout) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                out[series] = float(value)
        return out

    def stop(self, timeout=15):
        rc = super().stop(timeout)
        self._logf.close()
        self._stopped.set()
        self._reader.join(5)
        return rc


class JournalTail:
    """Reads the journal as it grows. keep(record) -> value to store or
    None; stored values go to .records in journal order."""

    def __init__(self, path, keep=lambda r: r):
        self.path = path
        self.keep = keep
        self.records = []
        self._f = None
        self._partial = b""

    def poll(self):
        if self._f is None:
            if not os.path.exists(self.path):
                return 0
            self._f = open(self.path, "rb")
        n = 0
        while True:
            chunk = self._f.read(1 << 20)
            if not chunk:
                break
            data = self._partial + chunk
            lines = data.split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                v = self.keep(json.loads(line))
                if v is not None:
                    self.records.append(v)
                    n += 1
        return n

    def wait(self, pred, start=0, timeout=20, interval=0.002, what="record"):
        """First stored record at index >= start with pred(v): (index, v)."""
        deadline = time.monotonic() + qmtest.scaled(timeout)
        i = start
        while True:
            self.poll()
            while i < len(self.records):
                if pred(self.records[i]):
                    return i, self.records[i]
                i += 1
            if time.monotonic() > deadline:
                raise AssertionError("journal: no %s within %.0f s"
                                     % (what, timeout))
            time.sleep(interval)

    def close(self):
        if self._f:
            self._f.close()


def proc_cpu_ns(pid):
    """CPU time of all threads of pid in ns, from /proc/PID/task/*/schedstat
    (exact run time, not 10 ms ticks)."""
    total = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def thread_cpu_ns(pid, tid=None):
    """Run time of one thread (default: the main thread, which runs the
    coordinator's event loop)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid or pid)) as f:
        return int(f.read().split()[0])


def proc_ticks_ms(pid):
    """utime+stime of pid in ms (10 ms resolution)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000.0 / hz


def proc_mem_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "VmSize", "RssAnon"):
                out[k] = int(v.split()[0])
    return out


def stats_row(name, values, unit_div=1.0, fmt="%9.2f"):
    """name n p50 p99 max min mean (values already in display units unless
    unit_div is given)."""
    v = sorted(x / unit_div for x in values)
    if not v:
        return "%-34s %6d" % (name, 0)
    p = benchlib.percentile
    cell = lambda x: fmt % x  # noqa: E731
    return "%-34s %6d %s %s %s %s %s" % (
        name, len(v), cell(p(v, 50)), cell(p(v, 99)), cell(v[-1]),
        cell(v[0]), cell(sum(v) / len(v)))


def stats_header(title):
    return "%-34s %6s %9s %9s %9s %9s %9s" % (title, "n", "p50", "p99",
                                              "max", "min", "mean")
