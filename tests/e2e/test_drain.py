"""Per-node drain and undrain (issue 14, planner rule 15), end to end.

An operator drains a node before maintenance: its Quobyte services are
killed in reverse phase order (data before metadata before registry, each
phase only once the later one's tasks are gone), its prober stays, its
reservations stay (no UNRESERVE or DESTROY: the journal audit checks), and
nothing is relaunched there while it is drained. Undrained, its services
come back on their reservations; a restarted coordinator keeps the node
drained. A drain that would leave fewer than a
quorum of the registries ready elsewhere answers 409 unless forced; an
unknown node 404, a call without a token 401, an undrain of a node that is
not drained 409."""

import json
import time
import unittest

import qmtest
from e2e import E2ETestCase, TERMINAL, task_service, wait_until
from test_reservations import operations
from test_security import admin_token

VERSION = "3.0.1"


def kills(c, records):
    """[task id] of the KILL calls in records, in order."""
    return [r["body"]["kill"]["task_id"]["value"]
            for r in c.calls("KILL", records)]


def terminal_at(records, task_id):
    """Index of the first terminal update of task_id in records, or None."""
    for i, r in enumerate(records):
        if r.get("direction") != "event":
            continue
        st = ((r.get("event") or {}).get("update") or {}).get("status") or {}
        if (st.get("task_id") or {}).get("value") == task_id and \
                st.get("state") in TERMINAL:
            return i
    return None


def kill_at(c, records, task_id):
    for i, r in enumerate(records):
        if r.get("direction") == "call" and r.get("call_type") == "KILL" and \
                r["body"]["kill"]["task_id"]["value"] == task_id:
            return i
    return None


class DrainTest(E2ETestCase):
    NAGENTS = 3

    def post(self, path, auth):
        status, _, body = self.cluster.rest_call("POST", path, b"", auth)
        return status, body

    def reservations(self, auth, agent_id):
        status, _, body = self.cluster.rest_call("GET", "/v1/reservations",
                                                 None, auth)
        self.assertEqual(status, 200, body)
        return sorted(r["service"] for r in json.loads(body)["reservations"]
                      if r["agent_id"] == agent_id)

    def test_drain_and_undrain(self):
        c = self.cluster
        token, tokfile, auth = admin_token(c)
        # three registries (a quorum needs two); agent2 carries a registry,
        # metadata and data: the node to drain
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "reg", ["DIR_DEVICE"])
        c.disk("agent2", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data1", ["DATA_DEVICE"])
        c.disk("agent3", "reg", ["DIR_DEVICE"])
        c.disk("agent3", "data1", ["DATA_DEVICE"])
        c.start_coordinator(["--api-token-file", tokfile])
        c.wait_reporting()
        c.set_version(VERSION, token=token)
        want = {"registry": ["agent1", "agent2", "agent3"],
                "metadata": ["agent1", "agent2"],
                "data": ["agent2", "agent3"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want, timeout=60)
        c.quiesce()

        n2 = c.node("agent2")
        a2 = n2["agent_id"]
        self.assertFalse(n2["drained"])
        tasks2 = {t["service"]: t["task_id"] for t in n2["services"]}
        rsv2 = self.reservations(auth, a2)
        for svc in ("registry", "metadata", "data", "prober"):
            self.assertIn(svc, rsv2)

        # bad input first
        self.assertEqual(self.post("/v1/nodes/agent2/drain", {})[0], 401)
        st, body = self.post("/v1/nodes/no-such-host/drain", auth)
        self.assertEqual(st, 404, body)
        st, body = self.post("/v1/nodes/no-such-host/undrain", auth)
        self.assertEqual(st, 404, body)
        st, body = self.post("/v1/nodes/agent2/undrain", auth)
        self.assertEqual(st, 409, body)
        self.assertIn("not drained", json.loads(body)["error"])
        for bad in ("/v1/nodes/agent%2F2/drain", "/v1/nodes/" + "a" * 300 +
                    "/drain", "/v1/nodes//drain",
                    "/v1/nodes/agent2/drain?force=maybe"):
            st, body = self.post(bad, auth)
            self.assertEqual(st, 400, "%s: %s" % (bad[:60], body))
        st, body = self.post("/v1/nodes/agent2/reboot", auth)
        self.assertEqual(st, 404, body)
        self.assertFalse(c.node("agent2")["drained"])

        # drain agent2 (by hostname): two registries stay, the quorum holds
        mark = len(c.journal())
        st, body = self.post("/v1/nodes/agent2/drain", auth)
        self.assertEqual(st, 200, body)
        d = json.loads(body)
        self.assertTrue(d["drained"])
        self.assertEqual(d["agent_id"], a2)
        self.assertFalse(d["drain"]["forced"])
        # again: idempotent
        st, body = self.post("/v1/nodes/agent2/drain", auth)
        self.assertEqual(st, 200, body)
        self.assertTrue(json.loads(body)["drained"])

        wait_until(lambda: c.node("agent2")["drain"]["state"] == "drained",
                   60, interval=0.3, what="agent2 drained")
        want_drained = {"registry": ["agent1", "agent3"],
                        "metadata": ["agent1"], "data": ["agent3"],
                        "api": 1, "webconsole": 1, "prober": c.hosts}
        c.wait_running(want_drained)
        recs = c.journal()[mark:]
        killed = kills(c, recs)
        for svc in ("registry", "metadata", "data"):
            self.assertIn(tasks2[svc], killed)
        # reverse phase order: data, then metadata, then registry, each
        # KILL only after the later phase's task is gone
        kd = kill_at(c, recs, tasks2["data"])
        km = kill_at(c, recs, tasks2["metadata"])
        kr = kill_at(c, recs, tasks2["registry"])
        self.assertLess(kd, km)
        self.assertLess(km, kr)
        self.assertLess(terminal_at(recs, tasks2["data"]), km)
        self.assertLess(terminal_at(recs, tasks2["metadata"]), kr)
        # the prober stays, the reservations stay
        self.assertNotIn(n2["prober"]["task"]["task_id"], killed)
        self.assertEqual(self.reservations(auth, a2), rsv2)
        self.assertEqual(operations(c.journal(), "UNRESERVE"), [])
        self.assertEqual(operations(c.journal(), "DESTROY"), [])
        st = c.state()
        self.assertTrue(c.node("agent2")["drained"])
        self.assertTrue(any("agent2 is drained" in p for p in st["problems"]),
                        st["problems"])
        status, _, text = c.rest_call("GET", "/metrics", None, auth)
        self.assertEqual(status, 200)
        self.assertIn(b"quobyte_mesos_nodes_drained 1", text)

        # nothing relaunched there while drained
        c.quiesce()
        mark2 = len(c.journal())
        time.sleep(qmtest.scaled(3))
        relaunched = [info for _, info in c.launches(c.journal()[mark2:])
                      if (info.get("agent_id") or {}).get("value") == a2]
        self.assertEqual(relaunched, [])
        self.assertEqual(sorted(c.live().get("data", [])), ["agent3"])

        # a new coordinator on the same state (a crash, a failover) keeps
        # the node drained: nothing is launched there
        c.kill_coordinator()
        mark_restart = len(c.journal())
        c.start_coordinator(["--api-token-file", tokfile])
        c.wait_reporting()
        self.assertTrue(c.node("agent2")["drained"])
        c.wait_running(want_drained)
        c.quiesce()
        time.sleep(qmtest.scaled(2))
        relaunched = [info for _, info in
                      c.launches(c.journal()[mark_restart:])
                      if (info.get("agent_id") or {}).get("value") == a2]
        self.assertEqual(relaunched, [])
        self.assertEqual(self.reservations(auth, a2), rsv2)

        # agent1 too would leave one registry of three: refused ...
        mark3 = len(c.journal())
        st, body = self.post("/v1/nodes/agent1/drain", auth)
        self.assertEqual(st, 409, body)
        self.assertIn("quorum", json.loads(body)["error"])
        self.assertFalse(c.node("agent1")["drained"])
        # ... unless forced (by agent id this time)
        a1 = c.node("agent1")["agent_id"]
        st, body = self.post("/v1/nodes/%s/drain?force=true" % a1, auth)
        self.assertEqual(st, 200, body)
        self.assertTrue(json.loads(body)["drain"]["forced"])
        wait_until(lambda: c.node("agent1")["drain"]["state"] == "drained",
                   60, interval=0.3, what="agent1 drained")
        self.assertNotEqual(kills(c, c.journal()[mark3:]), [])

        # undrain both: their services come back on their reservations
        for host in ("agent1", "agent2"):
            st, body = self.post("/v1/nodes/%s/undrain" % host, auth)
            self.assertEqual(st, 200, body)
            self.assertFalse(json.loads(body)["drained"])
        c.wait_running(want, timeout=90)
        self.assertFalse(c.node("agent2")["drained"])
        self.assertEqual(self.reservations(auth, a2), rsv2)
        back = [info for _, info in c.launches(c.journal()[mark:])
                if (info.get("agent_id") or {}).get("value") == a2]
        self.assertEqual(sorted(task_service(i["task_id"]["value"])
                                for i in back),
                         ["data", "metadata", "registry"])
        self.assertEqual(operations(c.journal(), "UNRESERVE"), [])
        c.finish(self)


if __name__ == "__main__":
    unittest.main()
