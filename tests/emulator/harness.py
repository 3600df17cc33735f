"""Test helpers for the Mesos master emulator (stdlib only).

  Emulator        start/stop an emulator process on free loopback ports,
                  call its control API.
  SchedulerClient a minimal v1 scheduler client: SUBSCRIBE stream reader
                  (RecordIO over chunked HTTP) and one-shot calls.

Usable by other test suites: `sys.path.insert(0, "tests/emulator")`.
"""

import base64
import http.client
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "mesos_emulator.py")


class Emulator:
    """An emulator process. `args` are extra command-line flags."""

    def __init__(self, args=(), listeners=1, startup_timeout=15.0):
        self.tmp = tempfile.mkdtemp(prefix="emu-test-")
        self.ready_file = os.path.join(self.tmp, "ready.json")
        self.log_path = os.path.join(self.tmp, "emulator.log")
        cmd = [sys.executable, EMULATOR, "--ready-file", self.ready_file,
               "--work-dir", os.path.join(self.tmp, "work"),
               "--journal", os.path.join(self.tmp, "journal.jsonl")]
        for _ in range(listeners):
            cmd += ["--listen", "127.0.0.1:0"]
        cmd += list(args)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator did not start:\n" + self.log())
            time.sleep(0.02)
        with open(self.ready_file, encoding="utf-8") as handle:
            self.ready = json.load(handle)
        self.addresses = self.ready["listen"]
        self.address = self.addresses[0]
        self.journal_path = self.ready["journal"]
        self.work_dir = self.ready["work_dir"]

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def control(self, action, body=None, method=None, address=None):
        method = method or ("POST" if body is not None else "GET")
        host, port = (address or self.address).rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, "/control/" + action, payload, headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            conn.close()

    def tasks(self):
        return self.control("tasks")[1]["tasks"]

    def journal(self):
        with open(self.journal_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def stop(self, cleanup=None):
        """SIGTERM the emulator; returns its exit status. The temp dir
        (log, journal, sandboxes) is removed unless EMU_KEEP_TMP is set or
        `cleanup` is False."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        if cleanup is None:
            cleanup = not os.environ.get("EMU_KEEP_TMP")
        if cleanup:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return self.proc.returncode


def http_call(address, body, headers=None, method="POST",
              path="/api/v1/scheduler", raw=None):
    """One request on a fresh connection: (status, headers dict, body)."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        hdrs = {"Content-Type": "application/json",
                "Accept": "application/json"}
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        payload = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, payload, hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, \
            data.decode("utf-8", "replace")
    finally:
        conn.close()


class StreamClosed(Exception):
    pass


class SchedulerClient:
    """Subscribes and records every event; send calls with `call`."""

    def __init__(self, address, auto_ack=False):
        self.address = address
        self.auto_ack = auto_ack
        self.ack_results = []
        self._acks = queue.Queue()
        self.events = []
        self.stream_id = None
        self.framework_id = None
        self.status = None
        self.headers = {}
        self.closed = threading.Event()
        self._cond = threading.Condition()
        self._conn = None
        self._thread = None

    # ------------------------------------------------------------ stream
    def subscribe(self, framework_info, suppressed_roles=None,
                  framework_id=None, extra_headers=None, timeout=10):
        body = {"type": "SUBSCRIBE",
                "subscribe": {"framework_info": dict(framework_info)}}
        if framework_id:
            body["framework_id"] = {"value": framework_id}
            body["subscribe"]["framework_info"]["id"] = {"value":
                                                         framework_id}
        if suppressed_roles is not None:
            body["subscribe"]["suppressed_roles"] = suppressed_roles
        host, port = self.address.rsplit(":", 1)
        self._conn = http.client.HTTPConnection(host, int(port),
                                                timeout=timeout)
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json"}
        headers.update(extra_headers or {})
        self._conn.request("POST", "/api/v1/scheduler",
                           json.dumps(body).encode(), headers)
        resp = self._conn.getresponse()
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.status != 200:
            self.body = resp.read().decode("utf-8", "replace")
            self._conn.close()
            self.closed.set()
            return self
        self._conn.sock.settimeout(None)
        self.stream_id = self.headers.get("mesos-stream-id")
        self._thread = threading.Thread(target=self._reader, args=(resp,),
                                        daemon=True)
        self._thread.start()
        if self.auto_ack:
            threading.Thread(target=self._acker, daemon=True).start()
        first = self.wait_for(lambda e: True, timeout=timeout)
        if first["type"] == "SUBSCRIBED":
            self.framework_id = first["subscribed"]["framework_id"]["value"]
        return self

    def _reader(self, resp):
        buffer = b""
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    newline = buffer.find(b"\n")
                    if newline < 0:
                        break
                    size = int(buffer[:newline])
                    if len(buffer) < newline + 1 + size:
                        break
                    record = buffer[newline + 1:newline + 1 + size]
                    buffer = buffer[newline + 1 + size:]
                    event = json.loads(record)
                    with self._cond:
                        self.events.append(event)
                        self._cond.notify_all()
                    if self.auto_ack and event["type"] == "UPDATE" and \
                            event["update"]["status"].get("uuid"):
                        self._acks.put(event["update"]["status"])
        except Exception:   # any failure of the connection ends the stream
            pass
        finally:
            self.closed.set()
            with self._cond:
                self._cond.notify_all()

    def _acker(self):
        while True:
            status = self._acks.get()
            if status is None:
                return
            try:
                self.ack_results.append(self.ack(status)[0])
            except OSError:
                self.ack_results.append(None)

    def close(self):
        """Drop the stream connection (as a crashed scheduler would)."""
        self._acks.put(None)
        if self._conn is None:
            return
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(2)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        self._conn.close()

    def wait_for(self, predicate, timeout=10, start=0):
        """First event (from index `start`) matching `predicate`; raises
        AssertionError on timeout or StreamClosed if the stream ended."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                if self.closed.is_set():
                    raise StreamClosed("stream closed; events: %s"
                                       % [e["type"] for e in self.events])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "timed out waiting for an event; got %s"
                        % [summarize(e) for e in self.events[start:]])
                self._cond.wait(remaining)

    def mark(self):
        with self._cond:
            return len(self.events)

    def since(self, start):
        with self._cond:
            return list(self.events[start:])

    def wait_update(self, task_id, state=None, timeout=10, start=0,
                    predicate=None):
        def match(event):
            if event["type"] != "UPDATE":
                return False
            status = event["update"]["status"]
            return (status["task_id"]["value"] == task_id and
                    (state is None or status["state"] == state) and
                    (predicate is None or predicate(status)))
        return self.wait_for(match, timeout, start)["update"]["status"]

    def wait_offers(self, timeout=10, start=0, agent_id=None):
        def match(event):
            if event["type"] != "OFFERS":
                return False
            return agent_id is None or any(
                o["agent_id"]["value"] == agent_id
                for o in event["offers"]["offers"])
        event = self.wait_for(match, timeout, start)
        offers = event["offers"]["offers"]
        if agent_id is not None:
            offers = [o for o in offers if o["agent_id"]["value"] == agent_id]
        return offers

    def heartbeats_pass(self, count=2, timeout=10):
        """Wait until `count` more HEARTBEAT events arrived: a way to let
        time pass measured in the emulator's own clock."""
        start = self.mark()
        seen = 0
        while seen < count:
            self.wait_for(lambda e: e["type"] == "HEARTBEAT", timeout, start)
            with self._cond:
                seen = sum(1 for e in self.events[start:]
                           if e["type"] == "HEARTBEAT")
        return self.since(start)

    # ------------------------------------------------------------- calls
    def call(self, call_type, body=None, stream_id=True, **extra):
        payload = {"framework_id": {"value": self.framework_id},
                   "type": call_type}
        if body is not None:
            payload[call_type.lower()] = body
        payload.update(extra)
        headers = {}
        if stream_id is True:
            headers["Mesos-Stream-Id"] = self.stream_id
        elif stream_id:
            headers["Mesos-Stream-Id"] = stream_id
        return http_call(self.address, payload, headers)

    def ack(self, status):
        return self.call("ACKNOWLEDGE", {
            "agent_id": status["agent_id"], "task_id": status["task_id"],
            "uuid": status["uuid"]})

    def accept(self, offer_ids, operations, filters=None):
        body = {"offer_ids": [{"value": o} for o in offer_ids],
                "operations": operations}
        if filters is not None:
            body["filters"] = filters
        return self.call("ACCEPT", body)

    def decline(self, offer_ids, refuse_seconds=None):
        body = {"offer_ids": [{"value": o} for o in offer_ids]}
        if refuse_seconds is not None:
            body["filters"] = {"refuse_seconds": refuse_seconds}
        return self.call("DECLINE", body)


def summarize(event):
    if event["type"] == "UPDATE":
        status = event["update"]["status"]
        return "UPDATE(%s %s)" % (status["task_id"]["value"], status["state"])
    if event["type"] == "OFFERS":
        return "OFFERS(%d)" % len(event["offers"]["offers"])
    return event["type"]


def framework_info(roles=("quobyte",), capabilities=("MULTI_ROLE",
                                                     "PARTITION_AWARE",
                                                     "TASK_KILLING_STATE"),
                   **extra):
    info = {"user": _current_user(), "name": "emulator-test",
            "principal": "qc", "failover_timeout": 60.0,
            "capabilities": [{"type": c} for c in capabilities]}
    if "MULTI_ROLE" in capabilities:
        info["roles"] = list(roles)
    info.update(extra)
    return info


def _current_user():
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def command_task(task_id, agent_id, script, cpus=0.1, mem=32, **extra):
    """A TaskInfo running `script` with /bin/sh; keyword arguments replace
    or add TaskInfo fields (e.g. command=..., container=...)."""
    task = {"name": task_id, "task_id": {"value": task_id},
            "agent_id": {"value": agent_id},
            "resources": [scalar("cpus", cpus), scalar("mem", mem)],
            "command": {"shell": True, "value": script}}
    task.update(extra)
    return task


def launch(*tasks):
    return {"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}


def b64(data):
    return base64.b64encode(data).decode("ascii")
