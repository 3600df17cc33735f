#!/usr/bin/env python3
"""Tests of the Mesos master emulator against a live emulator process.

Run: python3 tests/emulator/test_emulator.py [TestClass[.test_name] ...]
The last line is "emulator: N passed, N failed"; exit status 0 only when
everything passed.
"""

import base64
import copy
import http.server
import io
import json
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import audit  # noqa: E402
from harness import (Emulator, SchedulerClient,  # noqa: E402
                     b64, command_task, framework_info, http_call, launch,
                     scalar)

# Short intervals so the whole suite stays fast.
FAST = ["--heartbeat-interval", "0.3", "--update-retry", "0.4",
        "--allocation-interval", "0.1", "--health-time-scale", "0.02",
        "--docker-start-delay", "0.01", "--docker-stop-delay", "0.01",
        "--reregister-delay", "0.3", "--default-kill-grace", "2",
        "--log-level", "debug"]


def no_uuid_master_update(test, status, state, reason):
    test.assertEqual(status["state"], state, status)
    test.assertEqual(status["reason"], reason, status)
    test.assertEqual(status["source"], "SOURCE_MASTER", status)
    test.assertNotIn("uuid", status, "master-made updates carry no uuid")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def wait_until(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class EmulatorCase(unittest.TestCase):
    ARGS = []
    LISTENERS = 1

    def setUp(self):
        self.emu = Emulator(FAST + self.ARGS, listeners=self.LISTENERS)
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        # Keep the temp dir (log, journal, sandboxes) of a failed test.
        result = getattr(self._outcome, "result", None)
        failed = result is not None and any(
            test is self for test, _ in result.errors + result.failures)
        log = self.emu.log()
        code = self.emu.stop(cleanup=False if failed else None)
        if code != 0 or failed:
            print("--- emulator log (%s):\n%s" % (self.emu.tmp, log),
                  file=sys.stderr)
        self.assertEqual(code, 0, "emulator must exit cleanly on SIGTERM")

    def subscribe(self, info=None, address=None, auto_ack=True, **kwargs):
        client = SchedulerClient(address or self.emu.address,
                                 auto_ack=auto_ack)
        client.subscribe(info or framework_info(), **kwargs)
        self.clients.append(client)
        return client

    def offers(self, client, start=0, agent_id=None):
        return client.wait_offers(start=start, agent_id=agent_id)

    def sandbox(self, task_id):
        for task in self.emu.tasks():
            if task["task_id"] == task_id:
                return task["sandbox"]
        raise AssertionError("no task " + task_id)

    def task(self, task_id):
        for task in self.emu.tasks():
            if task["task_id"] == task_id:
                return task
        return None


# ---------------------------------------------------------------- transport
class TransportTest(EmulatorCase):
    def test_subscribe_stream_headers_subscribed_then_heartbeats(self):
        client = self.subscribe()
        self.assertEqual(client.status, 200)
        self.assertEqual(client.headers["content-type"], "application/json")
        self.assertEqual(client.headers["transfer-encoding"], "chunked")
        self.assertTrue(client.headers["mesos-stream-id"])
        first, second = client.events[0], client.wait_for(
            lambda e: True, start=1)
        self.assertEqual(first["type"], "SUBSCRIBED")
        sub = first["subscribed"]
        self.assertTrue(sub["framework_id"]["value"].endswith("-0000"))
        self.assertEqual(sub["heartbeat_interval_seconds"], 0.3)
        port = int(self.emu.address.rsplit(":", 1)[1])
        self.assertEqual(sub["master_info"]["address"]["port"], port)
        self.assertEqual(sub["master_info"]["ip"], 16777343)
        self.assertEqual(second["type"], "HEARTBEAT")
        # ...and then periodically.
        client.heartbeats_pass(2)

    def test_missing_and_stale_stream_id_rejected(self):
        client = self.subscribe()
        status, _, text = client.call("SUPPRESS", stream_id=None)
        self.assertEqual(status, 400)
        self.assertIn("Mesos-Stream-Id", text)
        status, _, text = client.call("SUPPRESS", stream_id=str(uuid.uuid4()))
        self.assertEqual(status, 400)
        self.assertIn("didn't match", text)
        self.assertEqual(client.call("SUPPRESS")[0], 202)

    def test_content_type_must_be_exactly_json(self):
        client = self.subscribe()
        body = {"framework_id": {"value": client.framework_id},
                "type": "SUPPRESS"}
        hdr = {"Mesos-Stream-Id": client.stream_id}
        status, _, _ = http_call(self.emu.address, body, dict(
            hdr, **{"Content-Type": "application/json; charset=utf-8"}))
        self.assertEqual(status, 415)
        status, _, _ = http_call(self.emu.address, body, dict(
            hdr, **{"Content-Type": "text/plain"}))
        self.assertEqual(status, 415)
        status, _, text = http_call(self.emu.address, body, dict(
            hdr, **{"Content-Type": None}))
        self.assertEqual(status, 400)
        self.assertIn("Content-Type", text)

    def test_method_and_accept(self):
        status, headers, _ = http_call(self.emu.address, None, method="GET")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "POST")
        sub = {"type": "SUBSCRIBE",
               "subscribe": {"framework_info": framework_info()}}
        for accept in ("application/x-protobuf", "text/html"):
            status, _, _ = http_call(self.emu.address, sub,
                                     {"Accept": accept})
            self.assertEqual(status, 406, accept)

    def test_unknown_field_rejected_with_path(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        task = command_task("t1", offer["agent_id"]["value"], "true")
        task["comand"] = task.pop("command")
        status, _, text = client.accept([offer["id"]["value"]],
                                        [launch(task)])
        self.assertEqual(status, 400)
        self.assertIn("Unknown field "
                      "'accept.operations[0].launch.task_infos[0].comand'",
                      text)
        status, _, text = http_call(self.emu.address, {
            "framwork_id": {"value": client.framework_id},
            "type": "SUPPRESS"}, {"Mesos-Stream-Id": client.stream_id})
        self.assertEqual(status, 400)
        self.assertIn("'framwork_id'", text)

    def test_types_enums_and_required_fields(self):
        client = self.subscribe()
        status, _, text = client.call("DECLINE", {
            "offer_ids": [], "filters": {"refuse_seconds": True}})
        self.assertEqual(status, 400)
        self.assertIn("decline.filters.refuse_seconds", text)
        status, _, text = client.call("ACCEPT", {
            "offer_ids": [], "operations": [{"type": "LAUNCHH"}]})
        self.assertEqual(status, 400)
        self.assertIn("LAUNCHH", text)
        status, _, text = http_call(self.emu.address, {
            "type": "SUBSCRIBE", "subscribe": {"framework_info": {
                "name": "x"}}})
        self.assertEqual(status, 400)
        self.assertIn("Missing required fields: subscribe.framework_info.user",
                      text)
        status, _, text = client.call("ACCEPT")
        self.assertEqual(status, 400)
        self.assertIn("Expecting 'accept' to be present", text)
        status, _, text = client.call("KILL", {"task_id": {"value": "a/b"}})
        self.assertEqual(status, 400)
        self.assertIn("kill.task_id.value", text)

    def test_subscribe_header_and_id_checks(self):
        sub = {"type": "SUBSCRIBE",
               "subscribe": {"framework_info": framework_info()}}
        status, _, text = http_call(self.emu.address, sub,
                                    {"Mesos-Stream-Id": str(uuid.uuid4())})
        self.assertEqual(status, 400)
        self.assertIn("should not include", text)
        mismatch = json.loads(json.dumps(sub))
        mismatch["framework_id"] = {"value": "other-0000"}
        status, _, text = http_call(self.emu.address, mismatch)
        self.assertEqual(status, 400)
        self.assertIn("differs", text)

    def test_unknown_type_501_and_bad_ack_uuid_400(self):
        client = self.subscribe()
        self.assertEqual(client.call("UNKNOWN")[0], 501)
        status, _, text = client.call("ACKNOWLEDGE", {
            "agent_id": {"value": "x-S0"}, "task_id": {"value": "t"},
            "uuid": b64(b"12345678")})
        self.assertEqual(status, 400)
        self.assertIn("16 bytes", text)

    def test_disconnected_framework_gets_403(self):
        client = self.subscribe()
        client.close()
        wait_until(lambda: not self.emu.control("state")[1]["master"]
                   ["frameworks"][0]["connected"], what="disconnect")
        status, _, text = client.call("SUPPRESS")
        self.assertEqual(status, 403)
        self.assertIn("not subscribed", text)

    def test_semantic_subscribe_error_is_200_error_close(self):
        info = framework_info(capabilities=("PARTITION_AWARE",))
        info["roles"] = ["quobyte"]          # roles without MULTI_ROLE
        client = SchedulerClient(self.emu.address)
        client.subscribe(info)
        self.clients.append(client)
        self.assertEqual(client.status, 200)
        self.assertEqual(client.events[0]["type"], "ERROR")
        self.assertIn("MULTI_ROLE", client.events[0]["error"]["message"])
        self.assertTrue(client.closed.wait(5))
        self.assertEqual(len(client.events), 1)

    def test_second_subscribe_fails_over_old_stream(self):
        first = self.subscribe()
        second = self.subscribe(framework_id=first.framework_id)
        error = first.wait_for(lambda e: e["type"] == "ERROR")
        self.assertEqual(error["error"]["message"], "Framework failed over")
        self.assertTrue(first.closed.wait(5))
        self.assertEqual(second.framework_id, first.framework_id)
        self.assertNotEqual(second.stream_id, first.stream_id)
        self.assertEqual(first.call("SUPPRESS")[0], 400)
        self.assertEqual(second.call("SUPPRESS")[0], 202)

    def test_principal_change_refused(self):
        first = self.subscribe()
        first.close()
        info = framework_info(principal="someone-else")
        client = SchedulerClient(self.emu.address)
        client.subscribe(info, framework_id=first.framework_id)
        self.clients.append(client)
        self.assertEqual(client.events[0]["type"], "ERROR")
        self.assertIn("principal", client.events[0]["error"]["message"])

    def test_more_semantic_subscribe_errors(self):
        cases = [
            (dict(failover_timeout=-1.0), "failover_timeout"),
            (dict(role="quobyte"), "MULTI_ROLE"),
            (dict(roles=["quobyte", "quobyte"]), "duplicate"),
            (dict(roles=["bad role"]), "whitespace"),
        ]
        for extra, expected in cases:
            client = SchedulerClient(self.emu.address)
            client.subscribe(framework_info(**extra))
            self.clients.append(client)
            self.assertEqual(client.status, 200)
            self.assertEqual(client.events[0]["type"], "ERROR", extra)
            self.assertIn(expected, client.events[0]["error"]["message"])
            self.assertTrue(client.closed.wait(5))
        client = SchedulerClient(self.emu.address)
        client.subscribe(framework_info(), suppressed_roles=["other"])
        self.clients.append(client)
        self.assertEqual(client.events[0]["type"], "ERROR")
        self.assertIn("Suppressed role", client.events[0]["error"]["message"])

    def test_update_framework(self):
        client = self.subscribe()
        offers = self.offers(client)
        info = framework_info(roles=("other",))
        info["id"] = {"value": client.framework_id}
        mark = client.mark()
        status, _, text = client.call("UPDATE_FRAMEWORK",
                                      {"framework_info": info})
        self.assertEqual((status, text), (200, ""))
        for offer in offers:
            client.wait_for(lambda e, o=offer: e["type"] == "RESCIND" and
                            e["rescind"]["offer_id"] == o["id"], start=mark)
        offer = self.offers(client, start=mark)[0]
        self.assertEqual(offer["allocation_info"], {"role": "other"})
        status, _, text = client.call("UPDATE_FRAMEWORK", {
            "framework_info": dict(info, user="somebody-else")})
        self.assertEqual(status, 400)
        self.assertIn("user", text)
        status, _, text = client.call("UPDATE_FRAMEWORK", {
            "framework_info": dict(info, id={"value": "other-0001"})})
        self.assertEqual(status, 400)


class AuthTest(EmulatorCase):
    def setUp(self):
        self.creds = tempfile.NamedTemporaryFile("w", suffix=".creds",
                                                 delete=False)
        self.creds.write("qc s3cret\nother pw\n")
        self.creds.close()
        self.ARGS = ["--credentials", self.creds.name]
        super().setUp()

    def tearDown(self):
        super().tearDown()
        os.unlink(self.creds.name)

    def test_basic_auth(self):
        def auth(user, secret):
            token = base64.b64encode(("%s:%s" % (user, secret)).encode())
            return {"Authorization": "Basic " + token.decode()}
        sub = {"type": "SUBSCRIBE",
               "subscribe": {"framework_info": framework_info()}}
        status, headers, _ = http_call(self.emu.address, sub)
        self.assertEqual(status, 401)
        self.assertEqual(headers["www-authenticate"],
                         'Basic realm="mesos-master-scheduler"')
        self.assertEqual(http_call(self.emu.address, sub,
                                   auth("qc", "wrong"))[0], 401)
        status, _, text = http_call(self.emu.address, sub, auth("other", "pw"))
        self.assertEqual(status, 400)
        self.assertIn("does not match principal", text)
        client = self.subscribe(extra_headers=auth("qc", "s3cret"))
        self.assertEqual(client.events[0]["type"], "SUBSCRIBED")


class TLSTest(EmulatorCase):
    """--tls-cert/--tls-key: the master listens with https; the control
    listener stays plain; a client that does not trust the certificate
    is refused in the handshake, and the emulator says so and goes on."""

    def setUp(self):
        import emu_tls
        if not emu_tls.available():
            self.skipTest("no openssl command")
        self.ca_dir = tempfile.mkdtemp(prefix="emu-tls-")
        self.pki = emu_tls.make_ca(self.ca_dir)
        self.ARGS = ["--tls-cert", self.pki["cert"], "--tls-key",
                     self.pki["key"], "--control-listen", "127.0.0.1:0"]
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.ca_dir, True)

    def https(self, cafile, method, path, body=None):
        import http.client
        import ssl
        host, port = self.emu.address.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=cafile)
        conn = http.client.HTTPSConnection(host, int(port), timeout=10,
                                           context=ctx)
        try:
            conn.request(method, path, body,
                         {"Content-Type": "application/json",
                          "Accept": "application/json"} if body else {})
            resp = conn.getresponse()
            data = resp.read(200) if body else resp.read()
            return resp.status, resp.getheader("Mesos-Stream-Id"), data
        finally:
            conn.close()

    def test_https_master_and_plain_control(self):
        import ssl
        self.assertTrue(self.emu.ready["tls"])
        status, _, data = self.https(self.pki["ca"], "GET", "/version")
        self.assertEqual(status, 200)
        self.assertIn("version", json.loads(data))
        sub = json.dumps({"type": "SUBSCRIBE", "subscribe": {
            "framework_info": framework_info()}})
        status, stream_id, data = self.https(self.pki["ca"], "POST",
                                             "/api/v1/scheduler", sub)
        self.assertEqual(status, 200)
        self.assertTrue(stream_id)
        self.assertIn(b"SUBSCRIBED", data)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https(self.pki["other_ca"], "GET", "/version")
        wait_until(lambda: [r for r in audit.load(self.emu.journal_path)
                            if r.get("what") == "tls_handshake_failed"],
                   what="the refused handshake journalled")
        status, state = self.emu.control("state",
                                         address=self.emu.ready["control"])
        self.assertEqual(status, 200)


# -------------------------------------------------------------------- offers
class OfferTest(EmulatorCase):
    def test_offer_shape(self):
        client = self.subscribe()
        event = client.wait_for(lambda e: e["type"] == "OFFERS")
        offers = event["offers"]["offers"]
        self.assertEqual(sorted(o["hostname"] for o in offers),
                         ["agent1", "agent2", "agent3"])
        for offer in offers:
            self.assertIn("-O", offer["id"]["value"])
            self.assertIn("-S", offer["agent_id"]["value"])
            self.assertEqual(offer["framework_id"]["value"],
                             client.framework_id)
            self.assertEqual(offer["allocation_info"], {"role": "quobyte"})
            by_name = {r["name"]: r for r in offer["resources"]}
            self.assertEqual(by_name["cpus"]["scalar"]["value"], 4.0)
            self.assertEqual(by_name["cpus"]["role"], "*")
            self.assertEqual(by_name["cpus"]["allocation_info"],
                             {"role": "quobyte"})
            self.assertEqual(by_name["ports"]["ranges"]["range"],
                             [{"begin": 31000, "end": 32000}])

    def test_refinement_format(self):
        info = framework_info(capabilities=("MULTI_ROLE",
                                            "RESERVATION_REFINEMENT"))
        client = self.subscribe(info)
        offer = self.offers(client)[0]
        for res in offer["resources"]:
            self.assertNotIn("role", res)
            self.assertNotIn("reservations", res)

    def test_accept_used_offer_drops_tasks(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        oid = offer["id"]["value"]
        self.assertEqual(client.accept([oid], [launch(command_task(
            "first", agent, "sleep 30"))])[0], 202)
        client.wait_update("first", "TASK_RUNNING")
        self.assertEqual(client.accept([oid], [launch(command_task(
            "second", agent, "true"))])[0], 202)
        status = client.wait_update("second")
        no_uuid_master_update(self, status, "TASK_DROPPED",
                              "REASON_INVALID_OFFERS")
        self.assertIn("no longer valid", status["message"])
        self.assertIsNone(self.task("second"))

    def test_foreign_offer_is_invalid_and_not_consumed(self):
        owner = self.subscribe()
        offer = self.offers(owner)[0]
        agent = offer["agent_id"]["value"]
        thief = self.subscribe()
        thief.accept([offer["id"]["value"]], [launch(command_task(
            "stolen", agent, "true"))])
        status = thief.wait_update("stolen")
        no_uuid_master_update(self, status, "TASK_DROPPED",
                              "REASON_INVALID_OFFERS")
        self.assertIn("invalid framework", status["message"])
        owner.accept([offer["id"]["value"]], [launch(command_task(
            "mine", agent, "true"))])
        owner.wait_update("mine", "TASK_FINISHED")

    def test_invalid_offer_without_partition_awareness_is_lost(self):
        info = framework_info(capabilities=("MULTI_ROLE",))
        client = self.subscribe(info)
        self.offers(client)
        client.accept(["no-such-offer"], [launch(command_task(
            "t", "x-S0", "true"))])
        no_uuid_master_update(self, client.wait_update("t"), "TASK_LOST",
                              "REASON_INVALID_OFFERS")

    def test_tasks_beyond_offer_get_task_error(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(
            command_task("big", agent, "true", cpus=100))],
            filters={"refuse_seconds": 0})
        status = client.wait_update("big")
        no_uuid_master_update(self, status, "TASK_ERROR",
                              "REASON_TASK_INVALID")
        self.assertIn("more resources", status["message"])
        # Summed over all tasks of one ACCEPT: 3 + 3 cpus > 4.
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        client.accept([offer["id"]["value"]], [launch(
            command_task("a", agent, "sleep 30", cpus=3),
            command_task("b", agent, "sleep 30", cpus=3))])
        client.wait_update("a", "TASK_RUNNING")
        no_uuid_master_update(self, client.wait_update("b"), "TASK_ERROR",
                              "REASON_TASK_INVALID")

    def test_task_validation_errors(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        no_res = command_task("nores", agent, "true")
        no_res["resources"] = []
        both = command_task("both", agent, "true", executor={
            "executor_id": {"value": "e"}, "command": {"value": "true"}})
        neither = command_task("neither", agent, "true")
        del neither["command"]
        foreign = command_task("foreign", "someone-S9", "true")
        bad_id = command_task("bad/id", agent, "true")
        client.accept([offer["id"]["value"]], [launch(
            no_res, both, neither, foreign, bad_id)])
        messages = {}
        for tid in ("nores", "both", "neither", "foreign", "bad/id"):
            status = client.wait_update(tid)
            no_uuid_master_update(self, status, "TASK_ERROR",
                                  "REASON_TASK_INVALID")
            messages[tid] = status["message"]
        self.assertIn("no resources", messages["nores"])
        self.assertIn("not both", messages["both"])
        self.assertIn("not both", messages["neither"])
        self.assertIn("invalid agent", messages["foreign"])
        self.assertIn("Task ID", messages["bad/id"])

    def test_duplicate_live_task_id(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(
            command_task("dup", agent, "sleep 30"))],
            filters={"refuse_seconds": 0})
        client.wait_update("dup", "TASK_RUNNING")
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        client.accept([offer["id"]["value"]], [launch(
            command_task("dup", agent, "true"))])
        status = client.wait_update(
            "dup", "TASK_ERROR", start=mark)
        self.assertIn("duplicate", status["message"])

    def test_decline_filter_then_revive(self):
        client = self.subscribe()
        offers = self.offers(client)
        target = offers[0]["agent_id"]["value"]
        mark = client.mark()
        client.decline([offers[0]["id"]["value"]], refuse_seconds=3600)
        events = client.heartbeats_pass(3)
        self.assertFalse(any(
            e["type"] == "OFFERS" and any(o["agent_id"]["value"] == target
                                          for o in e["offers"]["offers"])
            for e in events), "declined agent re-offered despite its filter")
        client.call("REVIVE", {"roles": ["quobyte"]})
        self.offers(client, start=mark, agent_id=target)

    def test_short_decline_filter_expires(self):
        client = self.subscribe()
        offers = self.offers(client)
        target = offers[0]["agent_id"]["value"]
        mark = client.mark()
        client.decline([offers[0]["id"]["value"]], refuse_seconds=0.5)
        self.offers(client, start=mark, agent_id=target)

    def test_suppress_and_revive(self):
        client = self.subscribe(suppressed_roles=["quobyte"])
        events = client.heartbeats_pass(3)
        self.assertFalse([e for e in events if e["type"] == "OFFERS"])
        mark = client.mark()
        self.assertEqual(client.call("REVIVE")[0], 202)
        offers = self.offers(client, start=mark)
        self.assertTrue(offers)
        self.assertEqual(client.call("SUPPRESS", {"roles": ["quobyte"]})[0],
                         202)
        client.decline([o["id"]["value"] for o in offers], refuse_seconds=0)
        events = client.heartbeats_pass(3)
        self.assertFalse([e for e in events if e["type"] == "OFFERS"])

    def test_unused_resources_declined_with_accept_filters(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(
            command_task("small", agent, "sleep 30"))],
            filters={"refuse_seconds": 3600})
        client.wait_update("small", "TASK_RUNNING")
        events = client.heartbeats_pass(3)
        self.assertFalse(any(
            e["type"] == "OFFERS" and any(o["agent_id"]["value"] == agent
                                          for o in e["offers"]["offers"])
            for e in events))
        client.call("REVIVE")
        leftover = self.offers(client, start=mark, agent_id=agent)[0]
        cpus = [r for r in leftover["resources"] if r["name"] == "cpus"]
        self.assertAlmostEqual(cpus[0]["scalar"]["value"], 3.9)

    def test_freed_resources_reoffered_after_task_ends(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        # The unused mem/disk/ports are declined with the default 5 s
        # filter; the whole agent, once the task ended, is not a subset of
        # them and so is offered at once.
        client.accept([offer["id"]["value"]], [launch(
            command_task("all", agent, "sleep 0.3", cpus=4))])
        client.wait_update("all", "TASK_FINISHED")

        def full(event):
            return event["type"] == "OFFERS" and any(
                o["agent_id"]["value"] == agent and any(
                    r["name"] == "cpus" and r["scalar"]["value"] == 4.0
                    for r in o["resources"])
                for o in event["offers"]["offers"])
        client.wait_for(full, start=mark)

    def test_reserve_and_unreserve(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        reserved = {"name": "cpus", "type": "SCALAR",
                    "scalar": {"value": 1.0}, "role": "quobyte",
                    "reservation": {"principal": "qc"}}
        client.accept([offer["id"]["value"]], [{
            "type": "RESERVE", "reserve": {"resources": [reserved]}}],
            filters={"refuse_seconds": 0})
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        cpus = sorted((r for r in offer["resources"] if r["name"] == "cpus"),
                      key=lambda r: r["role"])
        self.assertEqual(cpus[0]["role"], "*")
        self.assertEqual(cpus[0]["scalar"]["value"], 3.0)
        self.assertEqual(cpus[1]["role"], "quobyte")
        self.assertEqual(cpus[1]["reservation"], {"principal": "qc"})
        # A task may use the reservation, copied verbatim.
        task = command_task("onres", agent, "sleep 30")
        task["resources"] = [dict(reserved, scalar={"value": 0.5})]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(task)],
                      filters={"refuse_seconds": 0})
        client.wait_update("onres", "TASK_RUNNING")
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        left = [r for r in offer["resources"]
                if r["name"] == "cpus" and r["role"] == "quobyte"]
        self.assertEqual(left[0]["scalar"]["value"], 0.5)
        # UNRESERVE the unused half: it comes back unreserved.
        mark = client.mark()
        client.accept([offer["id"]["value"]], [{
            "type": "UNRESERVE", "unreserve": {"resources": [
                dict(left[0], allocation_info=None)]}}],
            filters={"refuse_seconds": 0})
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        cpus = [r for r in offer["resources"] if r["name"] == "cpus"]
        self.assertEqual([(r["role"], r["scalar"]["value"]) for r in cpus],
                         [("*", 3.5)])

    def test_task_killing_and_killed(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("victim", agent, "sleep 30"))])
        client.wait_update("victim", "TASK_RUNNING")
        pid = self.task("victim")["pid"]
        self.assertTrue(pid_alive(pid))
        self.assertEqual(client.call("KILL", {
            "task_id": {"value": "victim"},
            "agent_id": {"value": agent}})[0], 202)
        client.wait_update("victim", "TASK_KILLING")
        status = client.wait_update("victim", "TASK_KILLED")
        self.assertEqual(status["source"], "SOURCE_EXECUTOR")
        self.assertTrue(status["uuid"])
        self.assertFalse(pid_alive(pid))

    def test_kill_unknown_task_answers_like_reconciliation(self):
        client = self.subscribe()
        agent = self.offers(client)[0]["agent_id"]["value"]
        client.call("KILL", {"task_id": {"value": "ghost"},
                             "agent_id": {"value": agent}})
        no_uuid_master_update(self, client.wait_update("ghost"), "TASK_GONE",
                              "REASON_RECONCILIATION")


class OfferTimeoutTest(EmulatorCase):
    ARGS = ["--offer-timeout", "0.5"]

    def test_offer_timeout_rescinds(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        oid = offer["id"]["value"]
        client.wait_for(lambda e: e["type"] == "RESCIND" and
                        e["rescind"]["offer_id"]["value"] == oid)
        client.accept([oid], [launch(command_task(
            "late", offer["agent_id"]["value"], "true"))])
        no_uuid_master_update(self, client.wait_update("late"),
                              "TASK_DROPPED", "REASON_INVALID_OFFERS")


# --------------------------------------------------------------------- tasks
class _FileServer:
    """A tiny HTTP server for fetcher tests."""

    def __init__(self, directory):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa
            *a, directory=directory, **k)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     handler)
        self.httpd.RequestHandlerClass.log_message = lambda *a: None
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TaskTest(EmulatorCase):
    def launch_one(self, client, task_builder):
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        task = task_builder(agent)
        self.assertEqual(client.accept([offer["id"]["value"]],
                                       [launch(task)])[0], 202)
        return agent, task

    def test_command_task_runs_with_mesos_environment(self):
        client = self.subscribe()
        script = ('echo "$MESOS_SLAVE_ID" > out; echo "$MESOS_FRAMEWORK_ID" '
                  '>> out; echo "$MESOS_EXECUTOR_ID" >> out; '
                  'echo "$MESOS_SANDBOX" >> out; echo "$FOO" >> out; '
                  'echo "$MESOS_ALLOCATION_ROLE" >> out; pwd >> out; '
                  'echo to-stdout')
        agent, _ = self.launch_one(client, lambda agent: command_task(
            "env", agent, script, command={
                "shell": True, "value": script,
                "environment": {"variables": [
                    {"name": "FOO", "value": "bar"}]}}))
        states = [client.wait_update("env", s)
                  for s in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED")]
        for status in states:
            self.assertEqual(status["source"], "SOURCE_EXECUTOR")
            self.assertEqual(len(base64.b64decode(status["uuid"])), 16)
            self.assertEqual(status["executor_id"]["value"], "env")
            self.assertEqual(status["agent_id"]["value"], agent)
        self.assertEqual(states[2]["message"], "Command exited with status 0")
        sandbox = self.sandbox("env")
        with open(os.path.join(sandbox, "out")) as handle:
            lines = handle.read().splitlines()
        self.assertEqual(lines, [agent, client.framework_id, "env", sandbox,
                                 "bar", "quobyte", sandbox])
        with open(os.path.join(sandbox, "stdout")) as handle:
            self.assertEqual(handle.read(), "to-stdout\n")

    def test_nonzero_exit_fails_task(self):
        client = self.subscribe()
        self.launch_one(client, lambda agent: command_task(
            "fails", agent, "echo oops >&2; exit 3"))
        status = client.wait_update("fails", "TASK_FAILED")
        self.assertEqual(status["message"], "Command exited with status 3")
        with open(os.path.join(self.sandbox("fails"), "stderr")) as handle:
            self.assertEqual(handle.read(), "oops\n")

    def test_shell_false_uses_arguments_as_argv(self):
        client = self.subscribe()
        self.launch_one(client, lambda agent: command_task(
            "argv", agent, "", command={
                "shell": False, "value": "/bin/sh",
                "arguments": ["sh", "-c", 'echo "$0:$1" > argv', "zero",
                              "one"]}))
        client.wait_update("argv", "TASK_FINISHED")
        with open(os.path.join(self.sandbox("argv"), "argv")) as handle:
            self.assertEqual(handle.read(), "zero:one\n")

    def test_uris_fetched_into_sandbox(self):
        source = tempfile.mkdtemp(prefix="emu-fetch-")
        self.addCleanup(shutil.rmtree, source, True)
        with open(os.path.join(source, "tool.sh"), "w") as handle:
            handle.write("#!/bin/sh\necho tool-ran > tool.out\n")
        payload = b"from the archive\n"
        with tarfile.open(os.path.join(source, "bundle.tar.gz"),
                          "w:gz") as archive:
            info = tarfile.TarInfo("bundle/data.txt")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        server = _FileServer(source)
        try:
            client = self.subscribe()
            command = {"shell": True,
                       "value": "./bin/tool && cat bundle/data.txt > copy",
                       "uris": [
                           {"value": "file://" + os.path.join(source,
                                                              "tool.sh"),
                            "executable": True, "output_file": "bin/tool"},
                           {"value": server.url + "/bundle.tar.gz"}]}
            self.launch_one(client, lambda agent: command_task(
                "fetch", agent, "", command=command))
            client.wait_update("fetch", "TASK_FINISHED")
            sandbox = self.sandbox("fetch")
            with open(os.path.join(sandbox, "tool.out")) as handle:
                self.assertEqual(handle.read(), "tool-ran\n")
            with open(os.path.join(sandbox, "copy"), "rb") as handle:
                self.assertEqual(handle.read(), payload)
        finally:
            server.stop()

    def test_failed_fetch_fails_task(self):
        client = self.subscribe()
        self.launch_one(client, lambda agent: command_task(
            "nofetch", agent, "true", command={
                "value": "true", "uris": [{"value": "file:///nonexistent"}]}))
        status = client.wait_update("nofetch", "TASK_FAILED")
        self.assertEqual(status["source"], "SOURCE_AGENT")
        self.assertEqual(status["reason"], "REASON_CONTAINER_LAUNCH_FAILED")

    def test_updates_held_until_ack_and_resent(self):
        client = self.subscribe(auto_ack=False)
        self.launch_one(client, lambda agent: command_task(
            "slow", agent, "true"))
        starting = client.wait_update("slow", "TASK_STARTING")
        # Not acknowledged: the same update comes again, and nothing else
        # of this task is sent meanwhile.
        mark = client.mark()
        again = client.wait_update("slow", start=mark)
        self.assertEqual(again["uuid"], starting["uuid"])
        self.assertEqual(again["state"], "TASK_STARTING")
        wait_until(lambda: self.task("slow")["state"] == "TASK_FINISHED",
                   what="the process to finish")
        for event in client.since(0):
            if event["type"] == "UPDATE":
                self.assertEqual(event["update"]["status"]["state"],
                                 "TASK_STARTING")
        mark = client.mark()
        self.assertEqual(client.ack(starting)[0], 202)
        # The next update after STARTING (resends of STARTING that crossed
        # the ACK aside) is RUNNING, never FINISHED.
        running = client.wait_update(
            "slow", start=mark,
            predicate=lambda s: s["state"] != "TASK_STARTING")
        self.assertEqual(running["state"], "TASK_RUNNING")
        self.assertEqual(client.ack(running)[0], 202)
        finished = client.wait_update("slow", "TASK_FINISHED", start=mark)
        self.assertEqual(client.ack(finished)[0], 202)
        wait_until(lambda: self.task("slow")["pending_updates"] == [] and
                   any(t.get("completed") and t["task_id"] == "slow"
                       for t in self.emu.tasks()), what="completion")

    def test_docker_task_simulated_with_health(self):
        client = self.subscribe()
        health = {"type": "HTTP", "http": {"port": 8080, "path": "/"},
                  "delay_seconds": 1, "interval_seconds": 1,
                  "consecutive_failures": 2, "grace_period_seconds": 1}

        def docker(agent):
            task = command_task("dock", agent, "", command={
                "shell": False, "arguments": ["--flag"],
                "environment": {"variables": [{"name": "X", "value": "1"}]}},
                container={"type": "DOCKER", "docker": {
                    "image": "quay.io/quobyte/quobyte-server:3.0",
                    "network": "HOST", "privileged": True,
                    "parameters": [{"key": "pid", "value": "host"}]},
                    "volumes": [{"container_path": "/etc/quobyte",
                                 "host_path": "/etc/quobyte", "mode": "RO"}]},
                health_check=health)
            return task
        self.launch_one(client, docker)
        client.wait_update("dock", "TASK_STARTING")
        running = client.wait_update("dock", "TASK_RUNNING")
        self.assertNotIn("healthy", running)
        ips = running["container_status"]["network_infos"][0]["ip_addresses"]
        self.assertEqual(ips[0]["ip_address"], "127.0.0.1")
        inspect = json.loads(base64.b64decode(running["data"]))
        self.assertEqual(inspect[0]["Config"]["Image"],
                         "quay.io/quobyte/quobyte-server:3.0")
        healthy = client.wait_update(
            "dock", "TASK_RUNNING", predicate=lambda s: "healthy" in s)
        self.assertTrue(healthy["healthy"])
        self.assertEqual(healthy["reason"],
                         "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
        task = self.task("dock")
        self.assertEqual(task["kind"], "docker")
        self.assertEqual(task["env"]["X"], "1")
        self.assertEqual(task["env"]["MESOS_SANDBOX"], "/mnt/mesos/sandbox")
        mark = client.mark()
        self.assertEqual(self.emu.control("task/health", {
            "task_id": "dock", "healthy": False})[0], 200)
        unhealthy = client.wait_update("dock", "TASK_RUNNING", start=mark,
                                       predicate=lambda s: "healthy" in s)
        self.assertFalse(unhealthy["healthy"])
        killed = client.wait_update("dock", "TASK_KILLED", start=mark)
        self.assertFalse(killed["healthy"])

    def test_control_finish_and_fail(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        docker = {"type": "DOCKER", "docker": {"image": "busybox"}}
        client.accept([offer["id"]["value"]], [launch(
            command_task("d1", agent, "sleep 1", container=docker),
            command_task("d2", agent, "sleep 1", container=docker),
            command_task("p3", agent, "sleep 30"))])
        for tid in ("d1", "d2", "p3"):
            client.wait_update(tid, "TASK_RUNNING")
        self.assertEqual(self.emu.control("task/finish",
                                          {"task_id": "d1"})[0], 200)
        self.assertEqual(self.emu.control("task/fail", {
            "task_id": "d2", "message": "boom"})[0], 200)
        self.assertEqual(self.emu.control("task/fail",
                                          {"task_id": "p3"})[0], 200)
        client.wait_update("d1", "TASK_FINISHED")
        self.assertEqual(client.wait_update("d2", "TASK_FAILED")["message"],
                         "boom")
        client.wait_update("p3", "TASK_FAILED")

    def test_failover_timeout_removes_framework_and_kills_tasks(self):
        client = self.subscribe(framework_info(failover_timeout=0.5))
        self.launch_one(client, lambda agent: command_task(
            "orphan", agent, "sleep 30"))
        client.wait_update("orphan", "TASK_RUNNING")
        pid = self.task("orphan")["pid"]
        client.close()
        wait_until(lambda: client.framework_id in
                   self.emu.control("state")[1]["removed_frameworks"],
                   what="framework removal")
        wait_until(lambda: not pid_alive(pid), what="task process killed")
        again = SchedulerClient(self.emu.address)
        again.subscribe(framework_info(), framework_id=client.framework_id)
        self.clients.append(again)
        self.assertEqual(again.events[0], {
            "type": "ERROR", "error": {"message": "Framework has been removed"}})

    def test_dropped_stream_resubscribe_resends_pending_update(self):
        client = self.subscribe(auto_ack=False)
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("pending", agent, "sleep 30"))],
            filters={"refuse_seconds": 0})
        starting = client.wait_update("pending", "TASK_STARTING")
        stale = [o["id"]["value"] for e in client.events
                 if e["type"] == "OFFERS" for o in e["offers"]["offers"]
                 if o["id"] != offer["id"]]
        status, body = self.emu.control("stream/drop", {})
        self.assertEqual((status, body["dropped"]),
                         (200, [client.framework_id]))
        self.assertTrue(client.closed.wait(5))
        # the master learns of the closed connection asynchronously (as
        # Mesos does): the client may see its EOF first
        wait_until(lambda: client.call("SUPPRESS")[0] == 403,
                   what="calls of the disconnected framework refused")
        again = self.subscribe(framework_id=client.framework_id,
                               auto_ack=False)
        resent = again.wait_update("pending")
        self.assertEqual((resent["state"], resent["uuid"]),
                         ("TASK_STARTING", starting["uuid"]))
        self.assertEqual(again.ack(resent)[0], 202)
        again.wait_update("pending", "TASK_RUNNING")
        # Offers never survive a re-subscribe.
        again.accept(stale[:1], [launch(command_task("late", agent, "true"))])
        no_uuid_master_update(self, again.wait_update("late"),
                              "TASK_DROPPED", "REASON_INVALID_OFFERS")
        self.assertEqual(self.emu.control("journal")[1]["path"],
                         self.emu.journal_path)

    def test_stream_inject(self):
        client = self.subscribe()
        fid = client.framework_id
        status, body = self.emu.control("stream/inject", {
            "event": {"type": "FROBNICATE", "frobnicate": {"x": 1}}})
        self.assertEqual((status, body["injected"]), (200, [fid]))
        client.wait_for(lambda e: e["type"] == "FROBNICATE")
        status, _ = self.emu.control("stream/inject", {
            "record": '{"type":"HEARTBEAT","e":1}', "pad_to": 40})
        self.assertEqual(status, 200)
        beat = client.wait_for(lambda e: e.get("e") == 1)
        self.assertEqual(beat["type"], "HEARTBEAT")
        self.assertEqual(self.emu.control("stream/inject", {
            "event": {"type": "X"}, "raw": "1\n"})[0], 400)
        self.assertEqual(self.emu.control("stream/inject", {
            "raw_b64": "not base64!"})[0], 400)
        status, body = self.emu.control("stream/inject", {"raw": "9999\n{"})
        self.assertEqual((status, body["bytes"]), (200, 6))
        note = wait_until(lambda: [r for r in self.emu.journal()
                                   if r.get("what") == "stream_injected" and
                                   r.get("kind") == "raw"])
        self.assertEqual((note[0]["framework_id"], note[0]["bytes"],
                          note[0]["head"]), (fid, 6, "9999\n{"))
        client.close()
        wait_until(lambda: not self.emu.control("state")[1]["master"]
                   ["frameworks"][0]["connected"], what="disconnected")
        self.assertEqual(self.emu.control("stream/inject", {
            "raw": "1\n{"})[0], 409)

    def test_teardown(self):
        client = self.subscribe()
        self.launch_one(client, lambda agent: command_task(
            "td", agent, "sleep 30"))
        client.wait_update("td", "TASK_RUNNING")
        pid = self.task("td")["pid"]
        self.assertEqual(client.call("TEARDOWN")[0], 202)
        self.assertTrue(client.closed.wait(5))
        self.assertFalse([e for e in client.events if e["type"] == "ERROR"])
        wait_until(lambda: not pid_alive(pid), what="task killed")
        status, _, text = client.call("SUPPRESS")
        self.assertEqual(status, 400)
        self.assertIn("cannot be found", text)



AGENT_SPEC = {"agents": [
    {"hostname": "node-a", "attributes": "rack:r1;level:2",
     "resources": "cpus:2;mem:2048;cpus(quobyte):1;ports:[31000-31010]"},
    {"hostname": "node-b", "resources": [
        scalar("cpus", 2), scalar("mem", 1024),
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 5000},
         "role": "quobyte", "disk": {"source": {
             "type": "MOUNT", "mount": {"root": "/mnt/d1"}}}}]},
]}


class AgentSpecTest(EmulatorCase):
    def setUp(self):
        self.spec = tempfile.NamedTemporaryFile("w", suffix=".json",
                                                delete=False)
        json.dump(AGENT_SPEC, self.spec)
        self.spec.close()
        self.ARGS = ["--agent-spec", self.spec.name, "--roles",
                     "quobyte,other", "--control-listen", "127.0.0.1:0"]
        super().setUp()

    def tearDown(self):
        super().tearDown()
        os.unlink(self.spec.name)

    def by_host(self, client, start=0):
        event = client.wait_for(lambda e: e["type"] == "OFFERS", start=start)
        return {o["hostname"]: o for o in event["offers"]["offers"]}

    def test_static_reservation_in_both_formats(self):
        client = self.subscribe()
        offer = self.by_host(client)["node-a"]
        cpus = sorted(((r["role"], r["scalar"]["value"])
                       for r in offer["resources"] if r["name"] == "cpus"))
        self.assertEqual(cpus, [("*", 2.0), ("quobyte", 1.0)])
        self.assertNotIn("reservation", [r for r in offer["resources"]
                                         if r.get("role") == "quobyte"][0])
        self.assertEqual(offer["attributes"], [
            {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
            {"name": "level", "type": "SCALAR", "scalar": {"value": 2.0}}])
        self.assertEqual(client.call("TEARDOWN")[0], 202)
        refined = self.subscribe(framework_info(capabilities=(
            "MULTI_ROLE", "RESERVATION_REFINEMENT")))
        offer = self.by_host(refined)["node-a"]
        cpus = [r for r in offer["resources"] if r["name"] == "cpus"]
        self.assertEqual(sorted(json.dumps(r.get("reservations"))
                                for r in cpus),
                         sorted([json.dumps(None), json.dumps(
                             [{"type": "STATIC", "role": "quobyte"}])]))
        for res in offer["resources"]:
            self.assertNotIn("role", res)

    def test_role_whitelist_and_control_port(self):
        client = SchedulerClient(self.emu.address)
        client.subscribe(framework_info(roles=("elsewhere",)))
        self.clients.append(client)
        self.assertIn("--roles", client.events[0]["error"]["message"])
        status, body = self.emu.control("health",
                                        address=self.emu.ready["control"])
        self.assertEqual((status, body), (200, {"ok": True}))
        status, _, _ = http_call(self.emu.ready["control"], {
            "type": "SUBSCRIBE"})
        self.assertEqual(status, 404, "the control port serves no master")

    def test_offers_of_two_agents_cannot_be_combined(self):
        client = self.subscribe()
        offers = self.by_host(client)
        agent = offers["node-a"]["agent_id"]["value"]
        client.accept([offers["node-a"]["id"]["value"],
                       offers["node-b"]["id"]["value"]],
                      [launch(command_task("two", agent, "true"))])
        status = client.wait_update("two")
        no_uuid_master_update(self, status, "TASK_DROPPED",
                              "REASON_INVALID_OFFERS")
        self.assertIn("single agent", status["message"])

    def test_persistent_volume_on_mount_disk(self):
        client = self.subscribe()
        offer = self.by_host(client)["node-b"]
        agent = offer["agent_id"]["value"]
        disk = [r for r in offer["resources"] if r["name"] == "disk"][0]
        volume = json.loads(json.dumps(disk))
        volume["disk"]["persistence"] = {"id": "qb-1", "principal": "qc"}
        volume["disk"]["volume"] = {"container_path": "data", "mode": "RW"}
        mark = client.mark()
        client.accept([offer["id"]["value"]], [
            {"type": "CREATE", "create": {"volumes": [volume]}}],
            filters={"refuse_seconds": 0})
        offer = client.wait_offers(start=mark, agent_id=agent)[0]
        offered = [r for r in offer["resources"] if r["name"] == "disk"][0]
        self.assertEqual(offered["disk"]["persistence"]["id"], "qb-1")
        # A MOUNT disk is used whole or not at all.
        partial = command_task("partial", agent, "true")
        partial["resources"].append(dict(offered, scalar={"value": 100}))
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(partial)],
                      filters={"refuse_seconds": 0})
        no_uuid_master_update(self, client.wait_update("partial",
                                                       start=mark),
                              "TASK_ERROR", "REASON_TASK_INVALID")
        offer = client.wait_offers(start=mark, agent_id=agent)[0]
        whole = command_task("whole", agent, "echo kept > data/file")
        whole["resources"].append(offered)
        client.accept([offer["id"]["value"]], [launch(whole)])
        client.wait_update("whole", "TASK_FINISHED")
        path = os.path.join(self.emu.work_dir, "volumes", "roles",
                            "quobyte", "qb-1", "file")
        with open(path) as handle:
            self.assertEqual(handle.read(), "kept\n")

    def test_launch_group_runs_tasks_under_default_executor(self):
        client = self.subscribe()
        offer = self.by_host(client)["node-a"]
        agent = offer["agent_id"]["value"]
        group = {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": {"type": "DEFAULT", "executor_id": {"value": "E1"},
                         "framework_id": {"value": client.framework_id},
                         "resources": [scalar("cpus", 0.1),
                                       scalar("mem", 32)]},
            "task_group": {"tasks": [
                command_task("g1", agent, "sleep 30"),
                command_task("g2", agent, "sleep 30")]}}}
        self.assertEqual(client.accept([offer["id"]["value"]],
                                       [group])[0], 202)
        for tid in ("g1", "g2"):
            status = client.wait_update(tid, "TASK_RUNNING")
            self.assertEqual(status["executor_id"], {"value": "E1"})
        client.call("KILL", {"task_id": {"value": "g1"}})
        client.wait_update("g1", "TASK_KILLED")
        client.wait_update("g2", "TASK_KILLED")


# ------------------------------------------------------------ reconciliation
class ReconcileTest(EmulatorCase):
    def test_explicit_and_implicit(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("live", agent, "sleep 30"))])
        client.wait_update("live", "TASK_RUNNING")
        mark = client.mark()
        client.call("RECONCILE", {"tasks": [
            {"task_id": {"value": "live"}, "agent_id": {"value": agent}},
            {"task_id": {"value": "gone"}, "agent_id": {"value": agent}},
            {"task_id": {"value": "nowhere"},
             "agent_id": {"value": "unknown-S99"}},
            {"task_id": {"value": "noagent"}}]})
        live = client.wait_update("live", start=mark)
        no_uuid_master_update(self, live, "TASK_RUNNING",
                              "REASON_RECONCILIATION")
        no_uuid_master_update(self, client.wait_update("gone", start=mark),
                              "TASK_GONE", "REASON_RECONCILIATION")
        no_uuid_master_update(self, client.wait_update("nowhere", start=mark),
                              "TASK_UNKNOWN", "REASON_RECONCILIATION")
        no_uuid_master_update(self, client.wait_update("noagent", start=mark),
                              "TASK_UNKNOWN", "REASON_RECONCILIATION")
        mark = client.mark()
        client.call("RECONCILE", {"tasks": []})
        implicit = client.wait_update("live", start=mark)
        no_uuid_master_update(self, implicit, "TASK_RUNNING",
                              "REASON_RECONCILIATION")
        client.heartbeats_pass(2)
        updates = [e for e in client.since(mark) if e["type"] == "UPDATE"]
        self.assertEqual(len(updates), 1)

    def test_without_partition_awareness_unknown_is_lost(self):
        client = self.subscribe(framework_info(capabilities=("MULTI_ROLE",)))
        agent = self.offers(client)[0]["agent_id"]["value"]
        client.call("RECONCILE", {"tasks": [
            {"task_id": {"value": "gone"}, "agent_id": {"value": agent}}]})
        no_uuid_master_update(self, client.wait_update("gone"), "TASK_LOST",
                              "REASON_RECONCILIATION")


# -------------------------------------------------------- cluster conditions
class ClusterTest(EmulatorCase):
    LISTENERS = 2

    def test_leader_change_redirects_and_new_leader_relearns_tasks(self):
        old, new = self.emu.addresses
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("survivor", agent, "sleep 30"))])
        client.wait_update("survivor", "TASK_RUNNING")
        status, headers, _ = http_call(new, {"type": "SUBSCRIBE"})
        self.assertEqual(status, 307)
        self.assertEqual(headers["location"],
                         "//%s/master/api/v1/scheduler" % old)
        self.assertEqual(self.emu.control("leader", {"leader": new})[0], 200)
        self.assertTrue(client.closed.wait(5), "old leader drops streams")
        status, headers, _ = http_call(old, {"type": "SUBSCRIBE"})
        self.assertEqual(status, 307)
        self.assertEqual(headers["location"],
                         "//%s/master/api/v1/scheduler" % new)
        again = self.subscribe(address=new,
                               framework_id=client.framework_id)
        self.assertEqual(again.framework_id, client.framework_id)

        def reconciled():
            mark = again.mark()
            again.call("RECONCILE", {"tasks": []})
            try:
                return again.wait_update("survivor", start=mark, timeout=1)
            except AssertionError:
                return None
        status = wait_until(reconciled, what="agent re-registration")
        self.assertEqual(status["state"], "TASK_RUNNING")
        self.assertEqual(self.emu.control("leader", {"leader": None})[0], 200)
        status, _, text = http_call(new, {"type": "SUBSCRIBE"})
        self.assertEqual(status, 503)
        self.assertIn("No leader", text)

    def test_call_read_while_its_master_is_killed_gets_no_answer(self):
        """A dead process answers nothing: a call whose body was still
        being read when its master was killed (control master/kill) is
        not answered from the state the kill cleared (it was answered 400
        "Framework cannot be found", which the fault campaign took for a
        malformed call of the coordinator's)."""
        leader, other = self.emu.addresses
        client = self.subscribe()
        offer = self.offers(client)[0]
        body = json.dumps({
            "type": "DECLINE",
            "framework_id": {"value": client.framework_id},
            "decline": {"offer_ids": [offer["id"]]}}).encode()
        host, port = leader.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(("POST /api/v1/scheduler HTTP/1.1\r\nHost: %s\r\n"
                      "Content-Type: application/json\r\n"
                      "Accept: application/json\r\n"
                      "Mesos-Stream-Id: %s\r\nContent-Length: %d\r\n\r\n"
                      % (leader, client.stream_id, len(body))).encode()
                     + body[:10])
        time.sleep(0.3)     # the master reads the body
        status, _ = self.emu.control("master/kill", {"address": leader},
                                     address=other)
        self.assertEqual(status, 200)
        sock.sendall(body[10:])
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
        self.assertEqual(answer, b"", "a killed master answered")
        calls = [r for r in self.emu.journal() if r.get("call_type") == "DECLINE"]
        self.assertEqual(len(calls), 1, calls)
        self.assertIsNone(calls[0]["status"])
        self.assertEqual(calls[0]["reason"], "no answer: the master was killed")

    def test_503_mode(self):
        client = self.subscribe()
        self.emu.control("unavailable", {"count": 2})
        self.assertEqual(client.call("SUPPRESS")[0], 503)
        self.assertEqual(client.call("SUPPRESS")[0], 503)
        self.assertEqual(client.call("SUPPRESS")[0], 202)
        self.emu.control("unavailable", {})
        for _ in range(3):
            self.assertEqual(client.call("SUPPRESS")[0], 503)
        self.emu.control("unavailable/clear", {})
        self.assertEqual(client.call("SUPPRESS")[0], 202)

    def test_agent_unreachable_then_back(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(
            command_task("part", agent, "sleep 30"))],
            filters={"refuse_seconds": 0})
        client.wait_update("part", "TASK_RUNNING")
        leftover = self.offers(client, start=mark, agent_id=agent)[0]
        mark = client.mark()
        self.assertEqual(self.emu.control("agent/unreachable",
                                          {"agent_id": agent})[0], 200)
        failure = client.wait_for(lambda e: e["type"] == "FAILURE",
                                  start=mark)
        self.assertEqual(failure["failure"], {"agent_id": {"value": agent}})
        status = client.wait_update("part", start=mark)
        no_uuid_master_update(self, status, "TASK_UNREACHABLE",
                              "REASON_AGENT_REMOVED")
        self.assertIn("nanoseconds", status["unreachable_time"])
        client.wait_for(lambda e: e["type"] == "RESCIND" and
                        e["rescind"]["offer_id"] == leftover["id"],
                        start=mark)
        mark = client.mark()
        client.call("RECONCILE", {"tasks": [
            {"task_id": {"value": "part"}, "agent_id": {"value": agent}}]})
        no_uuid_master_update(self, client.wait_update("part", start=mark),
                              "TASK_UNREACHABLE", "REASON_RECONCILIATION")
        self.emu.control("agent/reregister", {"agent_id": agent})
        mark = client.mark()
        client.call("RECONCILE", {"tasks": []})
        self.assertEqual(client.wait_update("part", start=mark)["state"],
                         "TASK_RUNNING")

    def test_agent_removed_tasks_gone_by_operator(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("doomed", agent, "sleep 30"))])
        client.wait_update("doomed", "TASK_RUNNING")
        pid = self.task("doomed")["pid"]
        mark = client.mark()
        self.emu.control("agent/remove", {"agent_id": agent})
        no_uuid_master_update(self, client.wait_update("doomed", start=mark),
                              "TASK_GONE_BY_OPERATOR",
                              "REASON_AGENT_REMOVED_BY_OPERATOR")
        client.wait_for(lambda e: e["type"] == "FAILURE", start=mark)
        wait_until(lambda: not pid_alive(pid), what="processes killed")
        mark = client.mark()
        client.call("RECONCILE", {"tasks": [
            {"task_id": {"value": "doomed"}, "agent_id": {"value": agent}}]})
        no_uuid_master_update(self, client.wait_update("doomed", start=mark),
                              "TASK_GONE_BY_OPERATOR", "REASON_RECONCILIATION")

    def test_added_agent_is_offered(self):
        client = self.subscribe()
        self.offers(client)
        mark = client.mark()
        status, body = self.emu.control("agent/add", {
            "hostname": "agent9", "resources": "cpus:2;mem:1024",
            "attributes": {"rack": "r9"}})
        self.assertEqual(status, 200)
        offer = self.offers(client, start=mark,
                            agent_id=body["agent_id"])[0]
        self.assertEqual(offer["hostname"], "agent9")
        self.assertEqual(offer["attributes"], [
            {"name": "rack", "type": "TEXT", "text": {"value": "r9"}}])


# --------------------------------------------------------------------- audit
def _event(fid, event, stream="s1"):
    return {"direction": "event", "framework_id": fid, "stream_id": stream,
            "event": event}


def _call(fid, ctype, body, status=202):
    call = {"framework_id": {"value": fid}, "type": ctype}
    if body is not None:
        call[ctype.lower()] = body
    return {"direction": "call", "framework_id": fid, "call_type": ctype,
            "status": status, "body": call}


class AuditTest(unittest.TestCase):
    def crafted(self):
        update = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING",
                  "agent_id": {"value": "m-S0"}, "uuid": b64(b"0" * 16)}
        ack = {"agent_id": {"value": "m-S0"}, "task_id": {"value": "t1"},
               "uuid": update["uuid"]}
        offer = {"id": {"value": "m-O1"}, "agent_id": {"value": "m-S0"}}
        task = command_task("t1", "m-S0", "true")
        return [
            _call("F", "SUBSCRIBE", {"framework_info": framework_info()},
                  status=200),
            _event("F", {"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": "F"}}}),
            _event("F", {"type": "OFFERS", "offers": {"offers": [offer]}}),
            _call("F", "ACCEPT", {"offer_ids": [offer["id"]],
                                  "operations": [launch(task)]}),
            _event("F", {"type": "UPDATE", "update": {"status": update}}),
            _call("F", "ACKNOWLEDGE", ack),
            _call("F", "SUPPRESS", {}),
        ], ack

    def test_clean_crafted_journal(self):
        records, _ = self.crafted()
        self.assertEqual(audit.audit(records), [])

    def test_accept_racing_a_rescind(self):
        """An ACCEPT that reaches the master within RESCIND_RACE_S of the
        RESCIND of its offer was in flight (the master drops its tasks);
        later, the framework ignored the RESCIND."""
        for late, found in ((0.3, []), (1.5, ["offer_use"])):
            records, _ = self.crafted()
            for i, r in enumerate(records):
                r["ts"] = 100.0 + i * 0.01
            rescind = _event("F", {"type": "RESCIND", "rescind": {
                "offer_id": {"value": "m-O1"}}})
            rescind["ts"] = records[3]["ts"] - late
            records.insert(3, rescind)
            self.assertEqual([v["check"] for v in audit.audit(records)],
                             found, late)

    def test_unacked_update_of_a_removed_agent(self):
        """The update of an agent removed before it was acknowledged is
        gone with the agent; any other must be acknowledged."""
        records, _ = self.crafted()
        del records[5]
        self.assertEqual([v["check"] for v in audit.audit(records)],
                         ["ack_once"])
        records.append({"direction": "note", "what": "agent_removed",
                        "agent_id": "m-S0"})
        self.assertEqual(audit.audit(records), [])

    def test_double_ack_found(self):
        records, ack = self.crafted()
        records.append(_call("F", "ACKNOWLEDGE", ack))
        violations = audit.audit(records)
        self.assertEqual([v["check"] for v in violations], ["ack_once"])
        self.assertIn("acknowledged 2 times", violations[0]["message"])
        self.assertEqual(violations[0]["line"], len(records))

    def test_offer_reuse_duplicate_task_and_missing_suppress(self):
        records, _ = self.crafted()
        records.pop()          # no SUPPRESS at the end
        records.append(records[3])         # same ACCEPT again
        checks = sorted(v["check"] for v in audit.audit(records))
        self.assertEqual(checks, ["offer_use", "suppress_when_idle",
                                  "unique_task_ids"])

    def test_unacked_and_unknown_uuid(self):
        records, ack = self.crafted()
        del records[5]
        records.append(_call("F", "ACKNOWLEDGE", dict(
            ack, uuid=b64(b"1" * 16))))
        messages = [v["message"] for v in audit.audit(records)]
        self.assertEqual(len(messages), 2)
        self.assertTrue(any("never delivered" in m for m in messages))
        self.assertTrue(any("never acknowledged" in m for m in messages))


    def test_offers_answered(self):
        records, _ = self.crafted()
        for i, r in enumerate(records):
            r["ts"] = 100.0 + i
        self.assertEqual(audit.audit(records, checks=audit.ALL_CHECKS), [])
        # answered 6 s after it was offered
        late = [dict(r) for r in records]
        late[3]["ts"] = 108.0
        violations = audit.audit(late, checks=("offers_answered",))
        self.assertEqual(len(violations), 1)
        self.assertIn("held 6.0s", violations[0]["message"])
        self.assertEqual(audit.audit(late, checks=("offers_answered",),
                                     hold_seconds=7), [])
        # never answered: fine while young, held once the journal goes on
        unanswered = records[:3] + records[4:]
        self.assertEqual(audit.audit(unanswered,
                                     checks=("offers_answered",)), [])
        unanswered.append({"direction": "note", "what": "x", "ts": 110.0})
        self.assertEqual([v["check"] for v in audit.audit(
            unanswered, checks=("offers_answered",))], ["offers_answered"])
        # voided in time by the end of its stream
        voided = records[:3] + [{"direction": "note",
                                 "what": "framework_disconnected",
                                 "framework_id": "F", "stream_id": "s1",
                                 "ts": 104.0},
                                {"direction": "note", "what": "x",
                                 "ts": 200.0}]
        self.assertEqual(audit.audit(voided, checks=("offers_answered",)),
                         [])

    def test_launch_after_suppress_is_not_idle(self):
        """Offers on their way when SUPPRESS arrives may be accepted."""
        records, _ = self.crafted()
        suppress = records.pop()
        records.insert(3, suppress)
        self.assertEqual(audit.audit(records), [])


class AuditLiveTest(EmulatorCase):
    def test_well_behaved_run_audits_clean_and_bad_run_does_not(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        client.accept([offer["id"]["value"]], [launch(
            command_task("ok", agent, "true"))])
        client.wait_update("ok", "TASK_FINISHED")
        wait_until(lambda: len(client.ack_results) == 3, what="acks")
        client.call("SUPPRESS")
        events = [e for e in client.events if e["type"] == "OFFERS"]
        others = [o["id"]["value"] for e in events
                  for o in e["offers"]["offers"]
                  if o["id"]["value"] != offer["id"]["value"]]
        client.decline(others)
        client.heartbeats_pass(1)
        self.assertEqual(audit.audit(self.emu.journal_path), [])
        # The same offer accepted again, and an update acknowledged twice.
        client.accept([offer["id"]["value"]], [launch(
            command_task("ok", agent, "true"))])
        finished = client.wait_update("ok", "TASK_FINISHED")
        client.ack(finished)
        client.call("SUPPRESS")
        checks = sorted({v["check"] for v in
                         audit.audit(self.emu.journal_path)})
        self.assertEqual(checks, ["ack_once", "offer_use", "unique_task_ids"])


# ------------------------------------------------------------ competitor
def _roles_in(offer):
    return sorted({r.get("role", "*") for r in offer["resources"]})


class CompetitorTest(EmulatorCase):
    ARGS = ["--agents", "1"]

    def test_competitor_takes_unreserved_and_leaves_reserved(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        # Started while our offer is outstanding: it takes nothing yet.
        status, view = self.emu.control("competitor", {})
        self.assertEqual(status, 200)
        self.assertTrue(view["running"])
        reserved = {"name": "cpus", "type": "SCALAR",
                    "scalar": {"value": 1.0}, "role": "quobyte",
                    "reservation": {"principal": "qc"}}
        mark = client.mark()
        client.accept([offer["id"]["value"]], [
            {"type": "RESERVE", "reserve": {"resources": [reserved]}},
            launch(command_task("short", agent, "sleep 0.4"))],
            filters={"refuse_seconds": 0})
        # Everything unreserved went to the competitor: we see only our
        # reservation.
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        self.assertEqual(_roles_in(offer), ["quobyte"])
        client.decline([offer["id"]["value"]], refuse_seconds=0)
        client.wait_update("short", "TASK_FINISHED")
        # The finished task's unreserved cpus/mem went to the competitor at
        # once, never to us.
        wait_until(lambda: len(self.emu.control("competitor")[1]
                               ["holdings"][agent]["tasks"]) >= 2,
                   what="competitor takes the task's resources")
        time.sleep(0.3)
        for event in client.events[mark:]:
            if event["type"] == "OFFERS":
                for o in event["offers"]["offers"]:
                    self.assertEqual(_roles_in(o), ["quobyte"], o)
            self.assertNotIn("competitor", json.dumps(event))
        held = self.emu.control("competitor")[1]["holdings"][agent]
        self.assertTrue(all(t["task_id"].startswith("competitor-")
                            for t in held["tasks"]))
        names = {r["name"] for t in held["tasks"] for r in t["resources"]}
        self.assertTrue({"cpus", "mem", "disk", "ports"} <= names, names)
        for t in held["tasks"]:
            for r in t["resources"]:
                self.assertNotIn("reservations", r)
        # Stopping frees it all: the unreserved resources come back to us.
        mark = client.mark()
        status, result = self.emu.control("competitor/stop", {})
        self.assertEqual(status, 200)
        self.assertTrue(result["freed"])
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        self.assertIn("*", _roles_in(offer))
        self.assertFalse(self.emu.control("competitor")[1]["running"])
        kinds = [r.get("what") for r in self.emu.journal()]
        for kind in ("competitor_started", "competitor_took",
                     "competitor_freed", "competitor_stopped"):
            self.assertIn(kind, kinds)

    def test_competitor_limited_to_named_agents(self):
        status, _ = self.emu.control("competitor", {"agents": ["extra"]})
        self.assertEqual(status, 200)
        self.emu.control("agent/add", {"hostname": "extra"})
        view = wait_until(lambda: self.emu.control("competitor")[1]
                          ["holdings"] or None, what="competitor holdings")
        self.assertEqual([h["hostname"] for h in view.values()], ["extra"])
        # agent1 is still offered to us, "extra" is not.
        client = self.subscribe()
        offer = self.offers(client)[0]
        self.assertEqual(offer["hostname"], "agent1")
        client.heartbeats_pass(2)
        self.assertEqual(
            [o["hostname"] for e in client.events if e["type"] == "OFFERS"
             for o in e["offers"]["offers"]], ["agent1"])
        self.assertEqual(self.emu.control("competitor", {"agents": "x"})[0],
                         400)


class ReleaseAuditTest(EmulatorCase):
    ARGS = ["--agents", "1"]
    RESERVED = {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
                "role": "quobyte", "reservation": {"principal": "qc"}}

    def _cycle(self, client, offer, agent):
        """RESERVE then UNRESERVE one cpu; returns the next offer."""
        mark = client.mark()
        client.accept([offer["id"]["value"]], [{
            "type": "RESERVE", "reserve": {"resources": [self.RESERVED]}}],
            filters={"refuse_seconds": 0})
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        mine = [r for r in offer["resources"] if r.get("role") == "quobyte"]
        self.assertTrue(mine, offer)
        mark = client.mark()
        client.accept([offer["id"]["value"]], [{
            "type": "UNRESERVE", "unreserve": {"resources": [
                dict(mine[0], allocation_info=None)]}}],
            filters={"refuse_seconds": 0})
        return self.offers(client, start=mark, agent_id=agent)[0]

    def test_unreserve_needs_operator_release_note(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        offer = self._cycle(client, offer, agent)      # not permitted
        bad = audit.audit(self.emu.journal_path,
                          checks=("releases_permitted",))
        self.assertEqual(len(bad), 1, bad)
        self.assertIn("UNRESERVE", bad[0]["message"])
        rel = audit.releases(self.emu.journal_path)
        self.assertEqual([(r["type"], r["agent_id"], r["hostname"])
                          for r in rel], [("UNRESERVE", agent, "agent1")])
        self.assertEqual(rel[0]["resources"][0]["name"], "cpus")
        # A note (agent named by hostname) permits exactly one more.
        status, note = self.emu.control("note", {
            "kind": "operator_release", "agent": "agent1",
            "service": "data"})
        self.assertEqual(status, 200)
        self.assertEqual(note["agent_id"], agent)
        self.assertEqual(self.emu.control("note", {"kind": "Bad!"})[0], 400)
        self.assertEqual(self.emu.control(
            "note", {"kind": "operator_release"})[0], 400)
        offer = self._cycle(client, offer, agent)      # permitted
        self.assertEqual(len(audit.audit(
            self.emu.journal_path, checks=("releases_permitted",))), 1)
        self._cycle(client, offer, agent)              # not permitted
        bad = audit.audit(self.emu.journal_path,
                          checks=("releases_permitted",))
        self.assertEqual(len(bad), 2, bad)
        self.assertEqual(len(audit.releases(self.emu.journal_path)), 3)
        self.assertIn("releases_permitted", audit.DEFAULT_CHECKS)


# ----------------------------------------------------------- maintenance
class MaintenanceTest(EmulatorCase):
    ARGS = ["--agents", "1"]

    def _inverse(self, client, start):
        event = client.wait_for(lambda e: e["type"] == "INVERSE_OFFERS",
                                start=start)
        return event["inverse_offers"]["inverse_offers"]

    def test_window_offers_inverse_offers_and_responses(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        self.assertNotIn("unavailability", offer)
        mark = client.mark()
        client.accept([offer["id"]["value"]], [launch(
            command_task("busy", agent, "sleep 30"))],
            filters={"refuse_seconds": 0})
        client.wait_update("busy", "TASK_RUNNING")
        leftover = self.offers(client, start=mark, agent_id=agent)[0]
        mark = client.mark()
        before = time.time()
        status, view = self.emu.control("maintenance", {
            "agent": "agent1", "start_s": 60, "duration_s": 3600})
        self.assertEqual(status, 200)
        self.assertIn(agent, view["agents"])
        (inverse,) = self._inverse(client, mark)
        client.decline([leftover["id"]["value"]], refuse_seconds=0)
        self.assertEqual(sorted(inverse), ["agent_id", "framework_id", "id",
                                           "unavailability", "url"])
        self.assertEqual(inverse["agent_id"]["value"], agent)
        start = inverse["unavailability"]["start"]["nanoseconds"]
        self.assertIsInstance(start, int)
        self.assertAlmostEqual(start / 1e9, before + 60, delta=5)
        self.assertEqual(inverse["unavailability"]["duration"],
                         {"nanoseconds": 3600 * 10 ** 9})
        # regular offers for the agent carry the unavailability
        offer = self.offers(client, start=mark, agent_id=agent)[0]
        self.assertEqual(offer["unavailability"], inverse["unavailability"])
        self.assertEqual(self.emu.control("maintenance")[1]["agents"][agent]
                         ["frameworks"], {client.framework_id: "pending"})
        # DECLINE with a short filter: recorded, sent again after it.
        mark = client.mark()
        status, _ = client.call("DECLINE_INVERSE_OFFERS", {
            "inverse_offer_ids": [inverse["id"]],
            "filters": {"refuse_seconds": 0.3}})[:2]
        self.assertEqual(status, 202)
        self.assertEqual(self.emu.control("maintenance")[1]["agents"][agent]
                         ["frameworks"], {client.framework_id: "declined"})
        (again,) = self._inverse(client, mark)
        self.assertNotEqual(again["id"], inverse["id"])
        # ACCEPT; an unknown id is ignored (202) as the master does.
        status = client.call("ACCEPT_INVERSE_OFFERS", {
            "inverse_offer_ids": [again["id"], {"value": "nope"}],
            "filters": {"refuse_seconds": 60}})[0]
        self.assertEqual(status, 202)
        self.assertEqual(self.emu.control("maintenance")[1]["agents"][agent]
                         ["frameworks"], {client.framework_id: "accepted"})
        whats = [(r.get("what"), r.get("inverse_offer_id"))
                 for r in self.emu.journal()]
        self.assertIn(("inverse_offer_declined", inverse["id"]["value"]),
                      whats)
        self.assertIn(("inverse_offer_accepted", again["id"]["value"]),
                      whats)
        self.assertIn(("inverse_offer_ignored", "nope"), whats)
        # schema: unknown key and wrong body rejected
        self.assertEqual(client.call("ACCEPT_INVERSE_OFFERS", {
            "inverse_offer_id": [again["id"]]})[0], 400)
        self.assertEqual(client.call("DECLINE_INVERSE_OFFERS")[0], 400)

    def test_clear_rescinds_outstanding_inverse_offer(self):
        client = self.subscribe()
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        mark = client.mark()
        # The held offer is "offered" resources: an inverse offer follows.
        self.emu.control("maintenance", {"agent": agent, "start_s": -10,
                                         "duration_s": 100})
        (inverse,) = self._inverse(client, mark)
        status, view = self.emu.control("maintenance/clear",
                                        {"agent": agent})
        self.assertEqual((status, view), (200, {"agents": {}}))
        rescind = client.wait_for(
            lambda e: e["type"] == "RESCIND_INVERSE_OFFER", start=mark)
        self.assertEqual(rescind["rescind_inverse_offer"],
                         {"inverse_offer_id": inverse["id"]})
        self.assertEqual(self.emu.control("maintenance", {
            "agent": "nosuch", "start_s": 1})[0], 404)
        self.assertEqual(self.emu.control("maintenance", {
            "agent": agent})[0], 400)


# ------------------------------------------------------------ MOUNT disks
class MountDiskTest(EmulatorCase):
    """RESERVE of a whole MOUNT disk with labels in both reservation formats
    (pre-refinement role+reservation, and reservations[] with
    RESERVATION_REFINEMENT), LAUNCH on it in the same ACCEPT, and the disk
    offered again reserved with the same labels after the task ended.
    Principal rule: src/master/validation.cpp operation::validate(Reserve)
    (1.4.0..1.11.0): with a framework principal, the reservation's principal
    must be set and equal to it."""

    LABELS = {"labels": [{"key": "quobyte.service", "value": "data"}]}

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="emu-mnt-")
        spec = os.path.join(self.mnt, "agents.json")
        with open(spec, "w") as handle:
            json.dump({"agents": [{
                "hostname": "node-a",
                "resources": [
                    scalar("cpus", 2), scalar("mem", 1024),
                    dict(scalar("disk", 100), disk={"source": {
                        "type": "MOUNT", "mount": {"root": self.mnt}}})]}]},
                handle)
        self.ARGS = ["--agent-spec", spec]
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.mnt, ignore_errors=True)

    def _disk(self, offer):
        return [r for r in offer["resources"] if r["name"] == "disk"]

    def _run(self, refinement):
        caps = ("MULTI_ROLE",) + (("RESERVATION_REFINEMENT",)
                                  if refinement else ())
        client = self.subscribe(framework_info(capabilities=caps))
        # The competitor takes the free cpus/mem (unreserved), never the
        # reserved disk.
        offer = self.offers(client)[0]
        agent = offer["agent_id"]["value"]
        self.emu.control("competitor", {})
        (disk,) = self._disk(offer)
        self.assertEqual(disk["disk"]["source"]["mount"]["root"], self.mnt)
        base = {k: v for k, v in disk.items() if k not in
                ("allocation_info", "role", "reservations")}
        if refinement:
            reserved = dict(base, reservations=[{
                "type": "DYNAMIC", "role": "quobyte", "principal": "qc",
                "labels": self.LABELS}])
        else:
            reserved = dict(base, role="quobyte", reservation={
                "principal": "qc", "labels": self.LABELS})
        # Only the whole MOUNT disk; and only with our principal.
        half = dict(reserved, scalar={"value": 50})
        wrong = copy.deepcopy(reserved)
        if refinement:
            wrong["reservations"][0]["principal"] = "other"
        else:
            wrong["reservation"]["principal"] = "other"
        nobody = copy.deepcopy(reserved)
        if refinement:
            del nobody["reservations"][0]["principal"]
        else:
            del nobody["reservation"]["principal"]
        # A disk alone is not offerable (the allocator's minimum allocatable
        # resources, cpus:0.01 or mem:32, hierarchical.cpp 1.4.0..1.11.0),
        # so once the competitor holds all unreserved cpus/mem the disk
        # comes back only together with a cpus reservation.
        cpus = {k: v for k, v in reserved.items() if k != "disk"}
        cpus.update(name="cpus", scalar={"value": 0.5})
        task = command_task("ondisk", agent, "sleep 0.3")
        task["resources"] = [cpus, reserved]
        mark = client.mark()
        client.accept([offer["id"]["value"]], [
            {"type": "RESERVE", "reserve": {"resources": [cpus]}},
            {"type": "RESERVE", "reserve": {"resources": [half]}},
            {"type": "RESERVE", "reserve": {"resources": [wrong]}},
            {"type": "RESERVE", "reserve": {"resources": [nobody]}},
            {"type": "RESERVE", "reserve": {"resources": [reserved]}},
            launch(task)], filters={"refuse_seconds": 0})
        client.wait_update("ondisk", "TASK_FINISHED")
        dropped = [r for r in self.emu.journal()
                   if r.get("what") == "operation_dropped"]
        self.assertEqual(len(dropped), 3, dropped)
        self.assertEqual(sum("principal" in json.dumps(d) for d in dropped),
                         2, dropped)
        # Offered again, to us, reserved with the same labels; the
        # competitor never took it.
        def with_disk(event):
            return event["type"] == "OFFERS" and any(
                self._disk(o) for o in event["offers"]["offers"])
        event = client.wait_for(with_disk, start=mark)
        (again,) = [d for o in event["offers"]["offers"]
                    for d in self._disk(o)]
        self.assertEqual(again["disk"]["source"]["mount"]["root"], self.mnt)
        self.assertEqual(again["scalar"]["value"], 100)
        if refinement:
            self.assertEqual(again["reservations"], reserved["reservations"])
        else:
            self.assertEqual(again["role"], "quobyte")
            self.assertEqual(again["reservation"], reserved["reservation"])
        held = self.emu.control("competitor")[1]["holdings"]
        for item in held.values():
            for t in item["tasks"]:
                self.assertNotIn("disk", [r["name"] for r in t["resources"]])

    def test_mount_disk_pre_refinement_format(self):
        self._run(refinement=False)

    def test_mount_disk_refinement_format(self):
        self._run(refinement=True)


class CompetitorFailoverTest(EmulatorCase):
    ARGS = ["--agents", "1"]
    LISTENERS = 2

    def test_new_leader_sees_competitor_holdings_as_used(self):
        old, new = self.emu.addresses
        client = self.subscribe()
        offer = self.offers(client)[0]
        reserved = {"name": "cpus", "type": "SCALAR",
                    "scalar": {"value": 1.0}, "role": "quobyte",
                    "reservation": {"principal": "qc"}}
        self.emu.control("competitor", {})
        client.accept([offer["id"]["value"]], [{
            "type": "RESERVE", "reserve": {"resources": [reserved]}}],
            filters={"refuse_seconds": 0})
        wait_until(lambda: self.emu.control("competitor")[1]["holdings"],
                   what="competitor holdings")
        self.assertEqual(self.emu.control("leader", {"leader": new})[0], 200)
        self.assertTrue(client.closed.wait(5), "old leader drops streams")
        again = self.subscribe(address=new,
                               framework_id=client.framework_id)
        offer = self.offers(again)[0]
        self.assertEqual(_roles_in(offer), ["quobyte"])
        again.heartbeats_pass(2)
        for event in again.events:
            if event["type"] == "OFFERS":
                for o in event["offers"]["offers"]:
                    self.assertEqual(_roles_in(o), ["quobyte"], o)


class ReservationLabelsTest(unittest.TestCase):
    """Reservation equality as the master's: labels compare ignoring order,
    but present-and-empty differs from absent (src/common/resources.cpp,
    src/common/type_utils.cpp, 1.4.0..1.11.0)."""

    def test_labels_order_ignored_empty_differs_from_absent(self):
        import emu_resources as R

        def res(labels):
            reservation = {"principal": "qc"}
            if labels is not None:
                reservation["labels"] = labels
            return R.normalize({"name": "cpus", "type": "SCALAR",
                                "scalar": {"value": 1}, "role": "quobyte",
                                "reservation": reservation})
        a = {"labels": [{"key": "a", "value": "1"}, {"key": "b"}]}
        b = {"labels": [{"key": "b"}, {"key": "a", "value": "1"}]}
        self.assertEqual(R.kind_key(res(a)), R.kind_key(res(b)))
        self.assertNotEqual(R.kind_key(res({})), R.kind_key(res(None)))
        self.assertEqual(R.render(res({}), False)["reservation"],
                         {"principal": "qc", "labels": {}})


def main():
    loader = unittest.defaultTestLoader
    names = sys.argv[1:]
    module = sys.modules[__name__]
    import test_releases  # release profiles, ZooKeeper group, kill/start
    for cls in (test_releases.ReleaseRulesTest,
                test_releases.ZooKeeperGroupTest):
        setattr(module, cls.__name__, cls)
    suite = (loader.loadTestsFromNames(names, module) if names
             else loader.loadTestsFromModule(module))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(
        suite)
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stderr.flush()
    print("emulator: %d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
