#!/usr/bin/env python3
"""Mesos master emulator: the v1 scheduler HTTP API, as strict as the real
master (stricter where Mesos silently accepts mistakes), with agents that
run command tasks as real local processes and simulate Docker tasks.

Usage: python3 tests/emulator/mesos_emulator.py --listen 127.0.0.1:5050 ...
See README.md next to this file for flags, the control API and the
journal format.
"""

import argparse
import base64
import binascii
import json
import logging
import math
import os
import queue
import re
import select
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import emu_docker  # noqa: E402
import emu_master  # noqa: E402
import emu_resources as R  # noqa: E402
import emu_profiles  # noqa: E402
import emu_schema  # noqa: E402
import emu_zk  # noqa: E402
from emu_util import Journal, log, validate_id  # noqa: E402

SCHEDULER_PATHS = ("/api/v1/scheduler", "/master/api/v1/scheduler")
MAX_BODY = 16 * 1024 * 1024

# Body key of each call type, and whether the body is required [src].
CALL_BODIES = {
    "SUBSCRIBE": ("subscribe", True),
    "TEARDOWN": (None, False),
    "ACCEPT": ("accept", True),
    "DECLINE": ("decline", True),
    "ACCEPT_INVERSE_OFFERS": ("accept_inverse_offers", True),
    "DECLINE_INVERSE_OFFERS": ("decline_inverse_offers", True),
    "REVIVE": ("revive", False),
    "KILL": ("kill", True),
    "SHUTDOWN": ("shutdown", True),
    "ACKNOWLEDGE": ("acknowledge", True),
    "ACKNOWLEDGE_OPERATION_STATUS": ("acknowledge_operation_status", True),
    "RECONCILE": ("reconcile", True),
    "RECONCILE_OPERATIONS": ("reconcile_operations", True),
    "MESSAGE": ("message", True),
    "REQUEST": ("request", True),
    "SUPPRESS": ("suppress", False),
    "UPDATE_FRAMEWORK": ("update_framework", True),
    "UNKNOWN": (None, False),
}
BODY_KEYS = {v[0] for v in CALL_BODIES.values() if v[0]}

# IDs inside calls that are checked like task IDs (stricter than Mesos,
# which would just not find them). TaskInfo.task_id is NOT here: an invalid
# one is answered with TASK_ERROR, as the real master does.
ID_PATHS = [
    ("framework_id",),
    ("accept", "offer_ids", "*"), ("decline", "offer_ids", "*"),
    ("kill", "task_id"), ("kill", "agent_id"),
    ("acknowledge", "task_id"), ("acknowledge", "agent_id"),
    ("reconcile", "tasks", "*", "task_id"),
    ("reconcile", "tasks", "*", "agent_id"),
    ("shutdown", "executor_id"), ("shutdown", "agent_id"),
]


class BodyError(Exception):
    pass


def _walk_ids(obj, path, prefix=""):
    if not path:
        if isinstance(obj, dict) and "value" in obj:
            yield prefix + ".value", obj["value"]
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for index, item in enumerate(obj if isinstance(obj, list) else []):
            yield from _walk_ids(item, rest, "%s[%d]" % (prefix, index))
        return
    if isinstance(obj, dict) and obj.get(head) is not None:
        yield from _walk_ids(obj[head], rest,
                             prefix + "." + head if prefix else head)


def _strict_json(text):
    """The body as JSON. NaN/Infinity literals are not JSON (picojson, used
    by stout's JSON::parse, refuses them too). A duplicate key: the last one
    wins in picojson (the master takes it); refused under --wire-rules
    strict."""
    def no_constant(name):
        raise ValueError("invalid JSON literal %s" % name)

    def no_duplicates(pairs):
        out = {}
        for key, value in pairs:
            if key in out and emu_schema.PROFILE.strict:
                raise ValueError("duplicate key '%s'" % key)
            out[key] = value
        return out
    return json.loads(text, parse_constant=no_constant,
                      object_pairs_hook=no_duplicates)


def _accepts_json(value):
    if value is None or value.strip() == "":
        return True
    for part in value.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media in ("application/json", "application/*",
                                     "*/*"):
            return True
    return False


def _basic_principal(header, credentials):
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(),
                                   validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    principal, sep, secret = decoded.partition(":")
    if not sep or credentials.get(principal) != secret:
        return None
    return principal


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, cluster, control_only=False):
        super().__init__(address, Handler)
        self.cluster = cluster
        self.master = None
        self.control_only = control_only
        # --tls-cert: the masters' listeners speak https, the control
        # listener stays plain
        self.tls = None if control_only else getattr(cluster.config,
                                                     "tls_context", None)

    def finish_request(self, request, client_address):
        """With --tls-cert, the TLS handshake runs on the connection's own
        thread (ThreadingMixIn), so a client that never finishes it, or
        refuses our certificate, holds up nobody else."""
        if self.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.info("TLS handshake with %s:%d failed: %s",
                     client_address[0], client_address[1], err)
            self.cluster.journal.note(
                "tls_handshake_failed", error=str(err),
                client="%s:%d" % client_address[:2])
            return None
        conn.settimeout(None)
        try:
            return super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mesos-emulator/1.0"

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.address_string(), fmt % args)

    # ----------------------------------------------------------- plumbing
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    @property
    def cluster(self):
        return self.server.cluster

    def _client(self):
        return "%s:%d" % self.client_address[:2]

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError("bad chunked request body")
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BodyError("request body larger than %d bytes"
                                    % MAX_BODY)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            count = int(length)
        except ValueError:
            raise BodyError("bad Content-Length")
        if count < 0 or count > MAX_BODY:
            raise BodyError("request body larger than %d bytes" % MAX_BODY)
        return self.rfile.read(count)

    def _send(self, method, status, body=b"", content_type=None,
              headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body and content_type is None:
            content_type = "text/plain; charset=utf-8"
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)

    def _drop_connection(self):
        """Close the connection unanswered, as a dead process would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method):
        if getattr(self.server, "dead", False):
            # a killed master (control master/kill): a kept-alive
            # connection gets no answer, as from a dead process
            self._drop_connection()
            return
        try:
            body = self._read_body()
        except BodyError as err:
            self.close_connection = True
            self._send(method, 400, str(err))
            return
        path = urllib.parse.urlsplit(self.path).path
        if path == "/control" or path.startswith("/control/"):
            self._control(method, path, body)
        elif self.server.control_only:
            self._send(method, 404, "Not found")
        elif path in SCHEDULER_PATHS:
            self._scheduler(method, path, body)
        elif path in ("/master/redirect", "/redirect"):
            self._redirect(method)
        elif path in ("/version", "/version/"):
            self._version(method)
        elif path in ("/master/teardown", "/teardown"):
            self._operator_teardown(method, body)
        elif path in ("/master/state", "/state", "/master/state.json"):
            self._legacy_state(method)
        else:
            self._send(method, 404, "Not found")

    def _version(self, method):
        """GET /version: src/version/version.cpp (VersionProcess, route "/"
        of process "version", spawned by src/master/main.cpp) and
        src/version/version.hpp version() in 1.4.0 ... 1.11.0: answered by
        every master, leading or not, with the build's version, git
        sha/tag, build date/time/user."""
        version = self.cluster.config.version
        doc = {"version": version, "git_tag": version,
               "build_date": "2020-01-01 00:00:00",
               "build_time": 1577836800.0, "build_user": "emulator"}
        sha = emu_schema.PROFILE.git_sha()
        if sha:
            doc["git_sha"] = sha
        self._send(method, 200, json.dumps(doc),
                   content_type="application/json")

    def _operator_teardown(self, method, body):
        """POST /master/teardown, form body frameworkId=<id>
        (src/master/http.cpp Master::Http::teardown(), 1.4.0 ... 1.11.0;
        no authentication/authorization here)."""
        with self.cluster.lock:
            master = self.server.master
            if self.cluster.leader is not master:
                leader = self.cluster.leader_location()
                if leader:
                    self._send(method, 307, "", headers={
                        "Location": self._location(leader)})
                else:
                    self._send(method, 503, "No leader elected")
                return
            if method != "POST":
                self._send(method, 405, "Expecting one of { 'POST' }, but "
                           "received '%s'" % method, headers={"Allow": "POST"})
                return
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            fid = (form.get("frameworkId") or [None])[-1]
            if fid is None:
                self._send(method, 400, "Missing 'frameworkId' query "
                           "parameter in the request body")
                return
            fw = master.frameworks.get(fid)
            if fw is None:
                self._send(method, 400, "No framework found with ID %s" % fid)
                return
            master.remove_framework(fw, "torn down by the operator")
            self.cluster.journal.write({"direction": "control",
                                        "method": method,
                                        "path": "/master/teardown",
                                        "body": {"frameworkId": fid},
                                        "status": 200})
        self._send(method, 200, "")

    def _location(self, leader):
        """src/master/http.cpp Master::Http::redirect() (1.4.0 ... 1.11.0):
        protocol-relative "//<leader hostname>:<port>" + the request URL;
        libprocess hands /api/v1/scheduler to the "master" delegate as
        /master/api/v1/scheduler (3rdparty/libprocess/src/process.cpp), so
        that is the path a redirect names."""
        query = urllib.parse.urlsplit(self.path).query
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/master/"):
            path = "/master" + path
        return "//%s%s%s" % (leader, path, "?" + query if query else "")

    # ------------------------------------------------------ scheduler API
    def _journal_call(self, record, status, reason=None, **extra):
        record["status"] = status
        if reason:
            record["reason"] = reason
        record.update(extra)
        self.cluster.journal.write(record)

    def _scheduler(self, method, path, body):
        cluster = self.cluster
        master = self.server.master
        headers = self.headers
        record = {
            "direction": "call", "listener": master.address,
            "client": self._client(), "method": method, "path": path,
            "headers": {
                "Mesos-Stream-Id": headers.get("Mesos-Stream-Id"),
                "Content-Type": headers.get("Content-Type"),
                "Accept": headers.get("Accept"),
                "Authorization": headers.get("Authorization") is not None,
            },
        }
        try:
            parsed = _strict_json(body.decode("utf-8")) if body else None
            record["body"] = parsed
        except (ValueError, UnicodeDecodeError):
            parsed = None
            record["raw_body"] = body.decode("utf-8", "replace")[:65536]
        if isinstance(parsed, dict):
            record["call_type"] = parsed.get("type")
            record["framework_id"] = (parsed.get("framework_id") or {}) \
                .get("value") if isinstance(parsed.get("framework_id"),
                                            dict) else None

        def reply(status, text="", extra_headers=None, reason=None,
                  content_type=None):
            self._journal_call(record, status,
                               reason if reason is not None else
                               (text if status >= 300 else None))
            try:
                self._send(method, status, text, content_type, extra_headers)
            except (BrokenPipeError, ConnectionResetError):
                # the scheduler left before the answer (a delayed call)
                self.close_connection = True

        principal = None
        credentials = cluster.config.credentials
        if credentials is not None:
            principal = _basic_principal(headers.get("Authorization"),
                                         credentials)
            if principal is None:
                reply(401, "", {"WWW-Authenticate":
                                'Basic realm="mesos-master-scheduler"'},
                      reason="missing or bad credentials")
                return
        with cluster.lock:
            message = cluster.consume_unavailable()
            leading = cluster.leader is master
            leader = cluster.leader_location()
        if message is not None:
            reply(503, message)
            return
        if not leading:
            # src/master/http.cpp scheduler(): !elected() -> redirect()
            if leader:
                reply(307, "", {"Location": self._location(leader)},
                      reason="not the leader")
            else:
                reply(503, "No leader elected")
            return
        if method != "POST":
            reply(405, "Expecting one of { 'POST' }, but received '%s'"
                  % method, {"Allow": "POST"})
            return
        content_type = headers.get("Content-Type")
        if content_type is None:
            reply(400, "Expecting 'Content-Type' to be present")
            return
        if content_type == "application/x-protobuf":
            reply(415, "Expecting 'Content-Type' of application/json (the "
                  "emulator does not speak application/x-protobuf)")
            return
        if content_type != "application/json":
            reply(415, "Expecting 'Content-Type' of application/json or "
                  "application/x-protobuf")
            return
        if "raw_body" in record or parsed is None:
            try:
                _strict_json(body.decode("utf-8"))
                error = "empty body"
            except (ValueError, UnicodeDecodeError) as err:
                error = str(err)
            reply(400, "Failed to parse body into JSON: %s" % error)
            return
        call = parsed
        if not isinstance(call, dict):
            reply(400, "Failed to convert JSON into Call protobuf: Expecting "
                  "a JSON object")
            return
        # src/master/http.cpp scheduler(): a call refused here (400) never
        # reaches the master, so e.g. an ACCEPT's offers stay outstanding.
        try:
            call, missing = emu_schema.parse(call, "Call")
        except emu_schema.SchemaError as err:
            reply(400, "Failed to convert JSON into Call protobuf: %s" % err)
            return
        if missing:
            reply(400, "Failed to convert JSON into Call protobuf: Missing "
                  "required fields: %s" % ", ".join(missing))
            return
        if call != parsed:
            record["parsed"] = call     # what the release made of it
        error = self._validate_call(call, principal)
        if error:
            reply(400, "Failed to validate scheduler::Call: %s" % error)
            return
        with cluster.lock:
            injected = cluster.take_refusal(call.get("type"))
        if injected is not None:
            reply(injected["status"], injected["message"],
                  reason="injected: " + injected["message"])
            return
        with cluster.lock:
            delay = cluster.call_delays.get(call.get("type"))
        if delay:
            # control calls/delay: a master busy with other work gets to
            # the call only now, and judges it as things are now (a
            # framework whose stream closed meanwhile: 403)
            record["delayed_s"] = delay
            time.sleep(delay)

        ctype = call["type"]
        fid = (call.get("framework_id") or {}).get("value")
        stream_header = headers.get("Mesos-Stream-Id")
        stream = None
        with cluster.lock:
            if getattr(master, "dead", False):
                # killed while this call was read (control master/kill
                # cleared what it knew): a dead process answers nothing
                response = None
            elif cluster.leader is not master:
                leader = cluster.leader_location()
                response = emu_master.Response(
                    307 if leader else 503,
                    "" if leader else "No leader elected",
                    {"Location": self._location(leader)}
                    if leader else None, reason="not the leader")
            elif ctype == "SUBSCRIBE":
                if not _accepts_json(headers.get("Accept")):
                    response = emu_master.error_response(
                        406, "Expecting 'Accept' to allow "
                        "'application/json' (the emulator does not speak "
                        "application/x-protobuf)")
                elif stream_header is not None:
                    response = emu_master.error_response(
                        400, "Subscribe calls should not include the "
                        "'Mesos-Stream-Id' header")
                else:
                    stream, refused = master.subscribe(call, principal,
                                                       self._client())
                    record["stream_id"] = stream.id
                    record["framework_id"] = stream.framework_id or fid
                    response = emu_master.Response(
                        200, reason=("refused: " + refused) if refused
                        else None, stream=stream)
            else:
                found = master.framework_for_call(fid, stream_header,
                                                  principal)
                if isinstance(found, emu_master.Response):
                    response = found
                else:
                    response = self._dispatch_call(master, found, call)
        if response is None:
            self._journal_call(record, None, "no answer: the master was killed")
            self._drop_connection()
            return
        if stream is not None:
            self._journal_call(record, 200, response.reason)
            self._run_stream(stream)
            return
        reply(response.status, response.body, response.headers,
              response.reason, response.content_type)

    def _validate_call(self, call, principal):
        """src/master/validation.cpp scheduler::call::validate() (1.4.0 ...
        1.11.0), plus, under --wire-rules strict, checks Mesos lacks."""
        strict = emu_schema.PROFILE.strict
        ctype = call.get("type")
        if ctype is None:
            return "Expecting 'type' to be present"
        key, required = CALL_BODIES[ctype]
        for other in BODY_KEYS:
            if strict and other != key and call.get(other) is not None:
                return ("Unexpected field '%s' in a %s call (the emulator "
                        "rejects bodies of other call types)" % (other, ctype))
        if required and call.get(key) is None:
            return "Expecting '%s' to be present" % key
        for path in ID_PATHS if strict else ():
            for where, value in _walk_ids(call, path):
                error = validate_id(value, "ID")
                if error:
                    return "Invalid ID at '%s': %s" % (where, error)
        if ctype == "SUBSCRIBE":
            info = call["subscribe"]["framework_info"]
            top = (call.get("framework_id") or {}).get("value")
            inner = (info.get("id") or {}).get("value")
            if top != inner:
                return "'framework_id' differs from " \
                       "'subscribe.framework_info.id'"
            if principal is not None and info.get("principal") is not None \
                    and info["principal"] != principal:
                return ("Authenticated principal '%s' does not match "
                        "principal '%s' set in `FrameworkInfo`"
                        % (principal, info["principal"]))
            return None
        if call.get("framework_id") is None:
            return "Expecting 'framework_id' to be present"
        return None

    def _dispatch_call(self, master, fw, call):
        ctype = call["type"]
        Response = emu_master.Response
        if ctype == "UNKNOWN":
            return emu_master.error_response(501, "Received 'UNKNOWN' call")
        if ctype == "TEARDOWN":
            master.call_teardown(fw)
        elif ctype == "ACCEPT":
            master.call_accept(fw, call["accept"])
        elif ctype == "DECLINE":
            master.call_decline(fw, call["decline"])
        elif ctype in ("ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS"):
            master.call_inverse_offers(
                fw, call[ctype.lower()], accept=ctype.startswith("ACCEPT"))
        elif ctype == "REVIVE":
            master.call_revive(fw, call.get("revive"), suppress=False)
        elif ctype == "SUPPRESS":
            master.call_revive(fw, call.get("suppress"), suppress=True)
        elif ctype == "KILL":
            master.call_kill(fw, call["kill"])
        elif ctype == "SHUTDOWN":
            master.call_shutdown(fw, call["shutdown"])
        elif ctype == "ACKNOWLEDGE":
            raw = base64.b64decode(call["acknowledge"]["uuid"])
            if len(raw) != 16:
                return emu_master.error_response(
                    400, "Failed to validate scheduler::Call: Invalid UUID: "
                    "'acknowledge.uuid' must decode to 16 bytes, got %d"
                    % len(raw))
            master.call_acknowledge(fw, call["acknowledge"], raw)
        elif ctype == "ACKNOWLEDGE_OPERATION_STATUS":
            body = call["acknowledge_operation_status"]
            if body.get("agent_id") is None:
                return emu_master.error_response(
                    400, "Failed to validate scheduler::Call: Expecting "
                    "'acknowledge_operation_status.agent_id' to be present")
            if len(base64.b64decode(body["uuid"])) != 16:
                return emu_master.error_response(
                    400, "Failed to validate scheduler::Call: Invalid UUID")
        elif ctype == "RECONCILE":
            master.call_reconcile(fw, call["reconcile"])
        elif ctype == "RECONCILE_OPERATIONS":
            if not _accepts_json(self.headers.get("Accept")):
                return emu_master.error_response(
                    406, "Expecting 'Accept' to allow 'application/json'")
            result = master.call_reconcile_operations(
                fw, call["reconcile_operations"])
            return Response(200, json.dumps(result),
                            content_type="application/json")
        elif ctype == "UPDATE_FRAMEWORK":
            return master.call_update_framework(fw, call["update_framework"])
        return Response(202, "")

    # ---------------------------------------------------------- streaming
    def _write_event(self, stream, event):
        data = json.dumps(event, separators=(",", ":")).encode("utf-8")
        record = str(len(data)).encode("ascii") + b"\n" + data
        self.cluster.journal.write({
            "direction": "event", "framework_id": stream.framework_id,
            "stream_id": stream.id, "listener": stream.master.address,
            "event": event})
        self.wfile.write(b"%x\r\n%s\r\n" % (len(record), record))

    def _read_ready(self):
        """What a readable stream connection holds: None (nothing yet),
        b"" (closed) or the bytes, consumed."""
        conn = self.connection
        if not isinstance(conn, ssl.SSLSocket):
            data = conn.recv(4096, socket.MSG_PEEK)
            if data:
                conn.recv(len(data))
            return data
        # TLS has no MSG_PEEK, and a readable socket may hold part of a
        # record only: read without blocking
        conn.setblocking(False)
        try:
            return conn.recv(4096)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        finally:
            conn.setblocking(True)

    def _client_gone(self):
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            data = self._read_ready()
            if data is None:
                return False
            if not data:
                return True
            self.cluster.journal.note(
                "data_on_stream_connection", client=self._client(),
                bytes=len(data),
                why="the SUBSCRIBE connection must not carry other requests")
            return False
        except OSError:
            return True

    def _run_stream(self, stream):
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Mesos-Stream-Id", stream.id)
        self.end_headers()
        stream.sock = self.connection
        interval = float(self.cluster.config.heartbeat_interval)
        next_heartbeat = time.monotonic() + interval
        why = "closed"
        try:
            while True:
                try:
                    kind, event = stream.queue.get(timeout=0.05)
                except queue.Empty:
                    if self._client_gone():
                        why = "client closed the connection"
                        break
                    now = time.monotonic()
                    if stream.subscribed and not stream.closing and \
                            now >= next_heartbeat:
                        self._write_event(stream, {"type": "HEARTBEAT"})
                        next_heartbeat = max(next_heartbeat + interval,
                                             now + interval / 2)
                    continue
                if kind == "event":
                    self._write_event(stream, event)
                elif kind == "raw":
                    data, what = event
                    self.cluster.journal.note(
                        "stream_injected", framework_id=stream.framework_id,
                        stream_id=stream.id, listener=stream.master.address,
                        kind=what, bytes=len(data),
                        head=data[:120].decode("utf-8", "replace"))
                    if data:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                elif kind == "close":
                    self.wfile.write(b"0\r\n\r\n")
                    why = "closed by the master"
                    break
                else:
                    why = "connection dropped"
                    break
        except OSError as err:
            why = "write failed: %s" % err
        finally:
            stream.closing = True
            with self.cluster.lock:
                stream.master.stream_ended(stream, why)
            if why == "connection dropped":
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # ------------------------------------------------------ other master
    def _redirect(self, method):
        with self.cluster.lock:
            leader = self.cluster.leader_location()
        if leader is None:
            self._send(method, 503, "No leader elected")
        else:
            self._send(method, 307, "", headers={"Location": "//" + leader})

    def _legacy_state(self, method):
        cluster = self.cluster
        with cluster.lock:
            master = self.server.master
            leader = cluster.leader
            slaves = []
            if leader is master and master is not None:
                for agent in cluster.agents.values():
                    if agent.id not in master.registered_agents:
                        continue
                    flat = {}
                    for res in agent.total.resources():
                        if res["type"] == "SCALAR":
                            flat[res["name"]] = flat.get(res["name"], 0) + \
                                res["scalar"] / 1000.0
                        elif res["type"] == "RANGES":
                            flat[res["name"]] = "[%s]" % ", ".join(
                                "%d-%d" % r for r in res["ranges"])
                    slaves.append({"id": agent.id, "hostname": agent.hostname,
                                   "pid": "slave(1)@%s:%d" % (agent.ip,
                                                              agent.port),
                                   "port": agent.port, "resources": flat,
                                   "active": True})
            frameworks = []
            if leader is master and master is not None:
                for fw in master.frameworks.values():
                    frameworks.append({
                        "id": fw.id, "name": fw.info.get("name"),
                        "user": fw.info.get("user"),
                        "principal": fw.principal, "roles": fw.roles(),
                        "active": fw.connected, "connected": fw.connected,
                        "tasks": [{"id": t.tid, "name": t.info.get("name"),
                                   "framework_id": t.fid,
                                   "slave_id": t.agent.id, "state": t.state}
                                  for t in cluster.tasks.values()
                                  if t.fid == fw.id and
                                  cluster.visible(t, master)]})
            body = {"version": cluster.config.version,
                    "hostname": master.host if master else None,
                    "slaves": slaves, "frameworks": frameworks}
            if master is not None and master.id is not None:
                body["id"] = master.id
                body["pid"] = "master@%s" % master.address
                body["elected_time"] = master.elected_time
            address = cluster.leader_address()
            if address:
                host, _, port = address.rpartition(":")
                body["leader"] = "master@" + address
                body["leader_info"] = {"hostname": host, "port": int(port),
                                       "pid": "master@" + address}
        self._send(method, 200, json.dumps(body),
                   content_type="application/json")

    # -------------------------------------------------------- control API
    def _control(self, method, path, body):
        cluster = self.cluster
        args = {}
        if body.strip():
            try:
                args = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as err:
                self._send(method, 400, json.dumps({"error": str(err)}),
                           content_type="application/json")
                return
            if not isinstance(args, dict):
                args = {}
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        for key, values in query.items():
            args.setdefault(key, values[-1])
        action = path[len("/control"):].strip("/") or "state"
        try:
            status, result = control_action(cluster, method, action, args)
        except Exception as err:  # report, keep serving
            log.exception("control action %s failed", action)
            status, result = 500, {"error": "%s: %s" % (type(err).__name__,
                                                         err)}
        if action not in ("state", "tasks", "offers", "health", "journal"):
            cluster.journal.write({"direction": "control", "method": method,
                                   "path": path, "body": args,
                                   "status": status})
        self._send(method, status, json.dumps(result, default=str),
                   content_type="application/json")


# ------------------------------------------------------------ control API
def _find_task(cluster, args):
    task_id = args.get("task_id")
    fid = args.get("framework_id")
    candidates = [t for t in cluster.tasks.values()
                  if t.tid == task_id and (fid is None or t.fid == fid)]
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, (404, {"error": "no live task '%s'" % task_id})
    return None, (409, {"error": "task id '%s' is ambiguous; give "
                                 "framework_id" % task_id})


def _find_agent(cluster, args):
    agent = cluster.find_agent(args.get("agent_id"), args.get("hostname"))
    if agent is None:
        return None, (404, {"error": "unknown agent"})
    return agent, None


def _inject(leader, args):
    """stream/inject: write something the scheduler must survive into the
    subscribed stream(s), after the events already queued. Exactly one of
      "event":  a JSON object, sent as a well-framed record (e.g. an event
                type the scheduler does not know; journaled as an event);
      "record": a string, sent as the body of a well-framed record (its
                RecordIO length prefix is correct: malformed JSON);
      "raw":    a string sent verbatim, no framing added (e.g. a length
                prefix beyond the scheduler's cap: "99999999999\\n{...");
      "raw_b64": the same as base64 (binary garbage).
    Optional: "framework_id" (default every subscribed framework),
    "pad_to": pad "record" with blanks to this many bytes (an oversized
    record that is really sent; at most 64 MiB)."""
    if leader is None:
        return 409, {"error": "no leader"}
    given = [k for k in ("event", "record", "raw", "raw_b64") if k in args]
    if len(given) != 1:
        return 400, {"error": "give exactly one of event, record, raw, "
                              "raw_b64"}
    kind = given[0]
    if kind == "event":
        if not isinstance(args["event"], dict):
            return 400, {"error": "event must be a JSON object"}
        payload = json.dumps(args["event"], separators=(",", ":"))
    elif kind in ("record", "raw"):
        if not isinstance(args[kind], str):
            return 400, {"error": "%s must be a string" % kind}
        payload = args[kind]
    else:
        try:
            data = base64.b64decode(args["raw_b64"], validate=True)
        except (ValueError, TypeError) as err:
            return 400, {"error": "raw_b64: %s" % err}
    if kind != "raw_b64":
        data = payload.encode("utf-8")
    if kind == "record":
        pad = args.get("pad_to")
        if pad is not None:
            if not isinstance(pad, int) or pad > (64 << 20):
                return 400, {"error": "pad_to must be an integer <= 64 MiB"}
            data = data + b" " * max(0, pad - len(data))
    if kind in ("event", "record"):
        data = str(len(data)).encode("ascii") + b"\n" + data
    injected = []
    for fw in leader.frameworks.values():
        if fw.stream is None or not fw.stream.subscribed:
            continue
        if args.get("framework_id") not in (None, fw.id):
            continue
        if kind == "event":
            fw.stream.send(args["event"])
        else:
            fw.stream.inject(data, kind)
        injected.append(fw.id)
    if not injected:
        return 409, {"error": "no subscribed framework stream"}
    return 200, {"injected": injected, "bytes": len(data)}


def kill_master(cluster, server):
    """A master process dies: its listener refuses connections at once, its
    streams are cut; its ZooKeeper session (and so its membership and, if it
    led, its leadership) lasts until the session timeout, then the next
    member leads (src/zookeeper/detector.cpp: the lowest sequence)."""
    master = server.master
    if getattr(server, "dead", False):
        return {"killed": master.address, "already": True}
    server.dead = True
    server.shutdown()
    server.server_close()
    with cluster.lock:
        master.dead = True
        # its streams are cut and everything it knew is gone with the
        # process (no failover timer of a dead master fires); while its
        # session lasts it still leads as far as the others know
        master.resign()
    cluster.journal.note("master_killed", master=master.address)

    def expire():
        with cluster.lock:
            if not getattr(master, "dead", False):
                return
            if cluster.zk is not None:
                # the session expired: its znode goes, the group elects
                cluster.zk.leave(master.address)
                cluster.zk.elect()
                return
            if cluster.leader is master:
                live = [m for m in cluster.masters
                        if not getattr(m, "dead", False)]
                cluster.move_leader(live[0].address if live else None)
    cluster.timers.schedule(cluster.config.zk_session_timeout, expire,
                            "master-session-expiry")
    return {"killed": master.address}


def start_master(cluster, address):
    """The master process starts again on its address and contends anew
    (a new znode at the end of the group)."""
    old = cluster.servers[address]
    if not getattr(old, "dead", False):
        return {"started": address, "already": True}
    master = old.master
    server = EmulatorServer((master.host, master.port), cluster)
    server.master = master
    cluster.servers[address] = server
    threading.Thread(target=server.serve_forever,
                     kwargs={"poll_interval": 0.1}, daemon=True).start()
    with cluster.lock:
        master.dead = False
        if cluster.leader is master:
            # a new process: it has to be elected again, and starts empty
            cluster.leader = None
        if cluster.zk is not None:
            # contends anew: a new sequence, at the end of the group
            cluster.zk.join(master)
            cluster.zk.elect()
        elif cluster.leader is None and cluster.external_leader is None:
            cluster.move_leader(address)
    cluster.journal.note("master_started", master=address)
    return {"started": address}


def _maintenance_view(cluster):
    out = {}
    for agent in cluster.agents.values():
        maint = agent.maintenance
        if maint is None:
            continue
        frameworks = {}
        for fid, status in maint.statuses.items():
            frameworks[fid] = {"ACCEPT": "accepted",
                               "DECLINE": "declined"}[status]
        for fid in maint.outstanding:
            frameworks.setdefault(fid, "pending")
        out[agent.id] = {
            "hostname": agent.hostname,
            "unavailability": maint.unavailability(),
            "frameworks": frameworks,
            "outstanding": dict(maint.outstanding)}
    return {"agents": out}


def control_action(cluster, method, action, args):
    """Execute one control-API action; returns (HTTP status, JSON)."""
    getters = ("health", "state", "tasks", "offers", "journal", "agents")
    if action == "maintenance" and method in ("GET", "HEAD"):
        with cluster.lock:
            return 200, _maintenance_view(cluster)
    if action == "competitor" and method in ("GET", "HEAD"):
        with cluster.lock:
            return 200, cluster.competitor_view()
    if action in getters and method not in ("GET", "HEAD"):
        return 405, {"error": "use GET"}
    if action not in getters and method != "POST":
        return 405, {"error": "use POST"}
    with cluster.lock:
        leader = cluster.leader
        if action == "health":
            return 200, {"ok": True}
        if action == "journal":
            return 200, {"path": cluster.journal.path}
        if action == "state":
            return 200, {
                "leader": cluster.leader_address(),
                "masters": [m.address for m in cluster.masters],
                "unavailable": cluster.unavailable,
                "master": leader.state() if leader else None,
                "agents": _agents(cluster),
                "tasks": [t.summary() for t in cluster.tasks.values()],
                "removed_frameworks": sorted(cluster.removed_frameworks),
                "work_dir": cluster.config.work_dir,
                "journal": cluster.journal.path,
            }
        if action == "agents":
            return 200, {"agents": _agents(cluster)}
        if action == "competitor":
            agents = args.get("agents")
            if agents is not None and (
                    not isinstance(agents, list) or
                    not all(isinstance(a, str) for a in agents)):
                return 400, {"error": "'agents' must be a list of strings"}
            cluster.competitor_start(agents)
            return 200, cluster.competitor_view()
        if action == "note":
            # An operator note in the journal (audit.py releases_permitted
            # reads kind "operator_release").
            kind = args.get("kind")
            if not isinstance(kind, str) or \
                    not re.match(r"^[a-z][a-z0-9_]{0,63}$", kind):
                return 400, {"error": "'kind' must be a lower-case word"}
            fields = {k: v for k, v in args.items()
                      if k != "kind" and isinstance(v, (str, int, float))}
            name = args.get("agent")
            if kind == "operator_release":
                if not isinstance(name, str) or not name:
                    return 400, {"error": "operator_release needs 'agent'"}
                agent = cluster.agents.get(name) or \
                    cluster.find_agent(hostname=name)
                if agent is not None:
                    fields["agent_id"] = agent.id
                    fields["hostname"] = agent.hostname
            cluster.journal.note(kind, operator=True, **fields)
            return 200, dict(fields, what=kind)
        if action in ("maintenance", "maintenance/clear"):
            agent, error = _find_agent(cluster, {
                "agent_id": args.get("agent")} if args.get("agent") in
                cluster.agents else {"hostname": args.get("agent")})
            if error:
                return error
            if action == "maintenance":
                try:
                    start = float(args["start_s"])
                    duration = args.get("duration_s")
                    duration = None if duration is None else float(duration)
                except (KeyError, TypeError, ValueError):
                    return 400, {"error": "need 'start_s' (and optional "
                                 "'duration_s') as numbers"}
                if not math.isfinite(start) or (
                        duration is not None and
                        (not math.isfinite(duration) or duration < 0)):
                    return 400, {"error": "bad start_s/duration_s"}
                start_ns = int((time.time() + start) * 1e9)
                duration_ns = None if duration is None \
                    else int(duration * 1e9)
            else:
                start_ns = duration_ns = None
            if leader is not None:
                leader.set_maintenance(agent, start_ns, duration_ns)
            else:
                agent.maintenance = None if start_ns is None else \
                    emu_master.Maintenance(start_ns, duration_ns)
            cluster.journal.note(
                "maintenance_scheduled" if start_ns is not None
                else "maintenance_cleared", agent_id=agent.id,
                hostname=agent.hostname, start_ns=start_ns,
                duration_ns=duration_ns)
            return 200, _maintenance_view(cluster)
        if action == "competitor/stop":
            return 200, {"freed": cluster.competitor_stop()}
        if action == "tasks":
            live = [t.summary() for t in cluster.tasks.values()]
            done = [dict(t.summary(), completed=True)
                    for t in cluster.completed]
            return 200, {"tasks": live + done}
        if action == "offers":
            return 200, {"offers": leader.state()["offers"] if leader else []}
        if action == "agent/add":
            spec = dict(args)
            spec.setdefault("hostname", "agent%d" % (cluster.agent_counter + 1))
            spec.setdefault("port", 5051 + cluster.agent_counter)
            spec["resources"] = agent_resources(
                spec.get("resources"), cluster.config.default_resources)
            agent = cluster.add_agent(spec)
            return 200, {"agent_id": agent.id, "hostname": agent.hostname}
        if action in ("agent/unreachable", "agent/reregister",
                      "agent/remove", "agent/gone"):
            agent, error = _find_agent(cluster, args)
            if error:
                return error
            if action == "agent/unreachable":
                cluster.agent_unreachable(agent)
            elif action == "agent/reregister":
                if not cluster.agent_reregister(agent):
                    return 409, {"error": "agent is gone"}
            else:
                cluster.agent_remove(agent)
            return 200, {"agent_id": agent.id}
        if action in ("task/finish", "task/fail"):
            task, error = _find_task(cluster, args)
            if error:
                return error
            state = "TASK_FINISHED" if action == "task/finish" \
                else "TASK_FAILED"
            if task.state in ("TASK_STAGING",):
                return 409, {"error": "task is still staging"}
            if not cluster.force_end(task, state, args.get("message"),
                                     args.get("reason")):
                return 409, {"error": "task is already terminal"}
            return 200, {"task_id": task.tid, "state": state}
        if action == "task/health":
            task, error = _find_task(cluster, args)
            if error:
                return error
            if task.info.get("health_check") is None:
                return 409, {"error": "task has no health_check"}
            healthy = args.get("healthy")
            task.health_override = None if healthy is None else bool(healthy)
            task.health_wake.set()
            return 200, {"task_id": task.tid, "healthy": healthy}
        if action == "stream/drop":
            if leader is None:
                return 409, {"error": "no leader"}
            dropped = []
            for fw in leader.frameworks.values():
                if fw.stream is None:
                    continue
                if args.get("framework_id") not in (None, fw.id):
                    continue
                if args.get("graceful"):
                    fw.stream.close()
                else:
                    fw.stream.abort()
                dropped.append(fw.id)
            return 200, {"dropped": dropped}
        if action == "stream/inject":
            return _inject(leader, args)
        if action == "unavailable":
            count = args.get("count")
            message = args.get("message") or "Master has not finished recovery"
            if count is not None and int(count) <= 0:
                cluster.unavailable = None
            else:
                cluster.unavailable = {
                    "remaining": None if count is None else int(count),
                    "message": message}
            return 200, {"unavailable": cluster.unavailable}
        if action == "unavailable/clear":
            cluster.unavailable = None
            return 200, {"unavailable": None}
        if action == "leader":
            cluster.move_leader(args.get("leader"))
            return 200, {"leader": cluster.leader_address()}
        if action == "calls/delay":
            # {"type": "ACKNOWLEDGE", "seconds": 1.0}: every call of that
            # type is held that long before the master takes it (checked,
            # handled, answered, journaled with "delayed_s"), as by a
            # master busy with other work; "seconds": 0 clears it. For
            # what a scheduler does while its calls are slow to be
            # answered (a graceful stop that waits for them).
            ctype = args.get("type")
            try:
                seconds = float(args.get("seconds", 0))
            except (TypeError, ValueError):
                seconds = float("nan")
            if ctype not in CALL_BODIES or not 0 <= seconds <= 600:
                return 400, {"error": "need a call type and 0 <= seconds "
                             "<= 600"}
            if seconds == 0:
                cluster.call_delays.pop(ctype, None)
            else:
                cluster.call_delays[ctype] = seconds
            return 200, {"delays": dict(cluster.call_delays)}
        if action == "calls/refuse":
            ctype = args.get("type")
            status = int(args.get("status", 400))
            if not isinstance(ctype, str) or not 400 <= status <= 599:
                return 400, {"error": "need type and a 4xx/5xx status"}
            cluster.refusals.append({
                "type": ctype, "status": status,
                "message": str(args.get("message") or "refused"),
                "count": int(args.get("count", 1))})
            return 200, {"refusals": cluster.refusals}
        if action in ("master/kill", "master/start"):
            address = args.get("address") or cluster.leader_address()
            server = cluster.servers.get(address)
            if server is None:
                return 404, {"error": "no master listens on %r" % address}
            if action == "master/kill":
                return 200, kill_master(cluster, server)
            return 200, start_master(cluster, address)
        if action == "leader/reregister-agents":
            if leader is None:
                return 409, {"error": "no leader"}
            leader.reregister_now()
            return 200, {"registered": sorted(leader.registered_agents)}
        if action == "framework/teardown":
            # as the operator's POST /master/teardown (src/master/http.cpp
            # _teardown() -> master.cpp removeFramework(), 1.4.0 ...
            # 1.11.0): the stream is closed without an ERROR event, tasks
            # are killed, later SUBSCRIBEs with the ID get ERROR "Framework
            # has been removed", other calls 400 "Framework cannot be found"
            fid = args.get("framework_id") or args.get("id")
            fw = leader.frameworks.get(fid) if leader else None
            if fw is None:
                return 404, {"error": "No framework found with ID %s" % fid}
            leader.remove_framework(fw, "torn down by the operator")
            return 200, {"removed": fid}
        if action == "framework/expire":
            if leader is None or not leader.expire_failover(
                    args.get("framework_id")):
                return 409, {"error": "framework unknown or connected"}
            return 200, {"removed": args.get("framework_id")}
        if action == "offer/rescind":
            if leader is None:
                return 409, {"error": "no leader"}
            return 200, {"rescinded": leader.rescind_offers(
                args.get("offer_id"))}
        if action == "allocate":
            cluster.trigger_allocation()
            return 200, {}
        if action == "shutdown":
            cluster.config.stop_event.set()
            return 200, {}
    return 404, {"error": "unknown control action '%s'" % action}


def _agents(cluster):
    out = []
    leader = cluster.leader
    for agent in cluster.agents.values():
        out.append({
            "agent_id": agent.id, "hostname": agent.hostname,
            "ip": agent.ip, "port": agent.port,
            "status": leader.agent_status(agent.id) if leader else "unknown",
            "partitioned": agent.partitioned, "gone": agent.gone,
            "resources": R.describe(agent.total.resources()),
            "available": R.describe(leader.agent_available(agent).resources())
            if leader else None,
            "attributes": agent.attributes,
        })
    return out


# ------------------------------------------------------------- agent specs
def agent_resources(spec, default):
    """Agent resources from a Mesos JSON list, a Mesos text string
    ("cpus:4;mem:1024;ports:[31000-32000]") or a {"cpus": 4, "ports":
    "31000-32000"} dict; None means the command-line defaults."""
    if spec is None:
        return default
    if isinstance(spec, str):
        return R.parse_text(spec)
    if isinstance(spec, dict):
        out = []
        for name, value in spec.items():
            if isinstance(value, (int, float)):
                out.append({"name": name, "type": "SCALAR",
                            "scalar": {"value": float(value)}})
            else:
                out.extend(R.parse_text("%s:%s" % (
                    name, value if str(value).startswith(("[", "{"))
                    else "[%s]" % value)))
        return out
    return spec


def parse_listen(text):
    host, _, port = text.rpartition(":")
    if not host:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host, int(port)


def load_credentials(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.strip().startswith("{"):
        data = json.loads(text)
        return {c["principal"]: c.get("secret", "")
                for c in data.get("credentials", [])}
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        principal, _, secret = line.partition(" ")
        out[principal] = secret.strip()
    return out


def build_parser():
    p = argparse.ArgumentParser(
        description="Mesos master emulator (v1 scheduler API)")
    p.add_argument("--listen", action="append", type=parse_listen,
                   help="HOST:PORT to serve the scheduler API on (repeat for "
                   "several masters; the first leads). Port 0 = any.")
    p.add_argument("--control-listen", type=parse_listen,
                   help="extra HOST:PORT serving only /control/*")
    p.add_argument("--tls-cert", help="PEM certificate (chain): the masters "
                   "(--listen) speak https; the control listener stays "
                   "plain http")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--agents", type=int, default=3)
    p.add_argument("--agent-spec", help="JSON file describing the agents")
    p.add_argument("--cpus", type=float, default=4.0)
    p.add_argument("--mem", type=float, default=8192.0)
    p.add_argument("--disk", type=float, default=102400.0)
    p.add_argument("--ports", default="31000-32000")
    p.add_argument("--resources", help="agent resources in Mesos text form; "
                   "overrides --cpus/--mem/--disk/--ports")
    p.add_argument("--attributes", default="",
                   help="attributes for generated agents, 'rack:r1;zone:z'")
    p.add_argument("--agent-ip", default="127.0.0.1")
    p.add_argument("--agent-port-base", type=int, default=5051)
    p.add_argument("--heartbeat-interval", type=float, default=15.0)
    p.add_argument("--update-retry", type=float, default=10.0)
    p.add_argument("--update-retry-max", type=float, default=600.0)
    p.add_argument("--offer-timeout", type=float, default=None)
    p.add_argument("--failover-max", type=float, default=None,
                   help="cap on the failover timer actually waited")
    p.add_argument("--allocation-interval", type=float, default=1.0)
    p.add_argument("--reregister-delay", type=float, default=1.0,
                   help="seconds before agents re-register with a new "
                   "leader")
    p.add_argument("--health-time-scale", type=float, default=1.0,
                   help="multiplies health check delay/interval/grace")
    p.add_argument("--docker-start-delay", type=float, default=0.05)
    p.add_argument("--docker-stop-delay", type=float, default=0.05)
    p.add_argument("--docker-runtime", choices=["simulate", "podman"],
                   default="simulate",
                   help="DOCKER tasks: simulated (default) or real "
                   "containers run by podman (emu_docker.py)")
    p.add_argument("--podman-args", default="",
                   help="podman global options, split on spaces "
                   "(QM_PODMAN_ARGS of tests/container/podman_lib.sh env)")
    p.add_argument("--docker-ulimits", default="",
                   help="extra `podman run` options for ulimits, split on "
                   "spaces (QM_PODMAN_ULIMITS)")
    p.add_argument("--docker-pull-timeout", type=float, default=0.0,
                   help="pull a missing image with this timeout; 0 = never "
                   "pull (the launch fails)")
    p.add_argument("--default-kill-grace", type=float, default=3.0)
    p.add_argument("--fetch-timeout", type=float, default=60.0)
    p.add_argument("--credentials", help="file of 'principal secret' lines")
    p.add_argument("--roles", help="comma-separated role whitelist")
    p.add_argument("--region", help="master fault domain region")
    p.add_argument("--zone", help="master fault domain zone")
    p.add_argument("--hostname", help="advertised master hostname")
    p.add_argument("--version", default="1.11.0", dest="mesos_version",
                   help="Mesos release to behave as (%s ... %s): its JSON "
                   "rules, enum sets and calls (emu_profiles.py)"
                   % (emu_profiles.SUPPORTED[0], emu_profiles.SUPPORTED[-1]))
    p.add_argument("--wire-rules", choices=["strict", "release"],
                   default="strict",
                   help="strict: also refuse what the release would "
                   "silently ignore (unknown keys, unknown enum names, ...); "
                   "release: ignore/drop them as the release does")
    p.add_argument("--zk", help="publish the masters in this ZooKeeper "
                   "group as Mesos does (zk://host:port/mesos: json.info_ "
                   "znodes, lowest sequence leads)")
    p.add_argument("--zk-session-timeout", type=float, default=10.0,
                   help="seconds a killed master's znode (and leadership) "
                   "outlives it, as its ZooKeeper session would")
    p.add_argument("--no-switch-user", action="store_true",
                   help="run command tasks as the emulator's user")
    p.add_argument("--journal", help="journal file (default: "
                   "<work-dir>/journal.jsonl)")
    p.add_argument("--work-dir", help="sandboxes (default: a new temp dir)")
    p.add_argument("--ready-file", help="write JSON with the bound "
                   "addresses here once listening")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"])
    return p


class Config:
    pass


def make_config(args):
    config = Config()
    config.heartbeat_interval = args.heartbeat_interval
    config.update_retry = args.update_retry
    config.update_retry_max = max(args.update_retry_max, args.update_retry)
    config.offer_timeout = args.offer_timeout
    config.failover_max = args.failover_max
    config.allocation_interval = args.allocation_interval
    config.reregister_delay = args.reregister_delay
    config.health_time_scale = args.health_time_scale
    config.docker_start_delay = args.docker_start_delay
    config.docker_stop_delay = args.docker_stop_delay
    config.default_kill_grace = args.default_kill_grace
    config.docker_runtime = args.docker_runtime
    config.podman_args = args.podman_args.split()
    config.docker_ulimits = args.docker_ulimits.split()
    config.docker_pull_timeout = args.docker_pull_timeout
    config.fetch_timeout = args.fetch_timeout
    config.credentials = (load_credentials(args.credentials)
                          if args.credentials else None)
    config.roles = ({r.strip() for r in args.roles.split(",") if r.strip()}
                    if args.roles else None)
    config.region = args.region
    config.zone = args.zone
    config.hostname = args.hostname
    config.version = args.mesos_version
    config.switch_user = not args.no_switch_user
    config.work_dir = os.path.abspath(
        args.work_dir or tempfile.mkdtemp(prefix="mesos-emulator-"))
    os.makedirs(config.work_dir, exist_ok=True)
    if args.resources:
        config.default_resources = R.parse_text(args.resources)
    else:
        config.default_resources = R.parse_text(
            "cpus:%s;mem:%s;disk:%s;ports:[%s]"
            % (args.cpus, args.mem, args.disk, args.ports))
    config.stop_event = threading.Event()
    config.tls_context = None
    if args.tls_cert:
        config.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        config.tls_context.load_cert_chain(args.tls_cert, args.tls_key)
    return config


def agent_specs(args, config):
    if args.agent_spec:
        with open(args.agent_spec, encoding="utf-8") as handle:
            data = json.load(handle)
        specs = data.get("agents", []) if isinstance(data, dict) else data
        out = []
        for index, spec in enumerate(specs):
            spec = dict(spec)
            spec.setdefault("hostname", "agent%d" % (index + 1))
            spec.setdefault("port", args.agent_port_base + index)
            spec.setdefault("ip", args.agent_ip)
            spec["resources"] = agent_resources(spec.get("resources"),
                                                config.default_resources)
            out.append(spec)
        return out
    return [{"hostname": "agent%d" % (i + 1), "ip": args.agent_ip,
             "port": args.agent_port_base + i,
             "resources": config.default_resources,
             "attributes": args.attributes}
            for i in range(args.agents)]


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
        format="%(asctime)s mesos-emulator %(levelname)s %(message)s")
    problem = emu_profiles.check(args.mesos_version)
    if problem:
        print("mesos-emulator: --version: %s" % problem, file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("mesos-emulator: --tls-cert and --tls-key go together",
              file=sys.stderr)
        return 2
    emu_schema.configure(args.mesos_version, args.wire_rules)
    config = make_config(args)
    config.zk_session_timeout = args.zk_session_timeout
    journal = Journal(args.journal or os.path.join(config.work_dir,
                                                   "journal.jsonl"))
    cluster = emu_master.Cluster(config, journal)
    if config.docker_runtime == "podman":
        runtime = emu_docker.Runtime(config)
        problem = runtime.start()
        if problem:
            print("mesos-emulator: --docker-runtime podman: %s" % problem,
                  file=sys.stderr)
            return 2
        cluster.docker = runtime
    listens = args.listen or [("127.0.0.1", 5050)]
    servers = []
    for host, port in listens:
        server = EmulatorServer((host, port), cluster)
        bound = server.server_address
        master = emu_master.Master(cluster, host, bound[1])
        server.master = master
        cluster.masters.append(master)
        cluster.servers[master.address] = server
        servers.append(server)
    if args.control_listen:
        servers.append(EmulatorServer(args.control_listen, cluster,
                                      control_only=True))
    cluster.start(agent_specs(args, config))
    if args.zk:
        group = emu_zk.Group(args.zk, args.zk_session_timeout, cluster)
        with cluster.lock:
            for master in cluster.masters:  # in --listen order
                group.join(master)
            cluster.zk = group
            group.elect()   # another process's master may be ahead
        group.start_watching()
    threads = []
    for server in servers:
        thread = threading.Thread(target=server.serve_forever,
                                  kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        threads.append(thread)

    def stop(signum, frame):
        config.stop_event.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    ready = {
        "listen": ["%s:%d" % (m.host, m.port) for m in cluster.masters],
        "control": ("%s:%d" % servers[-1].server_address[:2]
                    if args.control_listen else None),
        "journal": journal.path, "work_dir": config.work_dir,
        "agents": sorted(cluster.agents), "pid": os.getpid(),
        "tls": config.tls_context is not None,
    }
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(ready, handle)
        os.replace(tmp, args.ready_file)
    print("mesos-emulator ready " + json.dumps(ready), flush=True)
    journal.note("started", **ready)
    log.info("listening on %s", ", ".join(ready["listen"]))

    while not config.stop_event.wait(0.2):
        pass
    log.info("shutting down")
    for server in list(cluster.servers.values()) + servers[len(cluster.masters):]:
        if not getattr(server, "dead", False):
            server.shutdown()
    cluster.shutdown()
    for server in list(cluster.servers.values()) + servers[len(cluster.masters):]:
        server.server_close()
    if cluster.zk is not None:
        cluster.zk.close()
    journal.note("stopped")
    journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
