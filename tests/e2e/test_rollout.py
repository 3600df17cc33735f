"""Rollout control (issue 14): an operator pauses a rolling upgrade (no
upgrade KILL while paused, missing services still launch), resumes it, and
rolls the target version back to the previous one. Wrong-state requests
answer 409 with a reason, requests without a token 401."""

import json
import time
import unittest

import qmtest
from e2e import E2ETestCase, wait_until
from test_security import admin_token

VERSION = "3.0.1"
NEXT = "3.0.2"


def versions(c):
    """{version: count} of the RUNNING Quobyte services (probers aside)."""
    out = {}
    for n in c.state()["nodes"]:
        for t in n["services"]:
            if t["service"] != "prober" and t["state"] == "TASK_RUNNING":
                v = t.get("version", "")
                out[v] = out.get(v, 0) + 1
    return out


def all_at(c, version, n):
    return versions(c) == {version: n}


class RolloutTest(E2ETestCase):
    NAGENTS = 2

    def post(self, path, auth):
        status, _, body = self.cluster.rest_call("POST", path, b"", auth)
        return status, body

    def test_pause_resume_rollback(self):
        c = self.cluster
        token, tokfile, auth = admin_token(c)
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data1", ["DATA_DEVICE"])
        c.start_coordinator(["--api-token-file", tokfile])
        c.wait_reporting()

        # nothing to roll back to, nothing to resume
        st, body = self.post("/v1/rollout/rollback", auth)
        self.assertEqual(st, 409, body)
        self.assertIn("no previous target version", json.loads(body)["error"])
        st, body = self.post("/v1/rollout/resume", auth)
        self.assertEqual(st, 409, body)
        self.assertIn("not paused", json.loads(body)["error"])
        # no token
        self.assertEqual(self.post("/v1/rollout/pause", {})[0], 401)

        c.set_version(VERSION, token=token)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want)
        c.quiesce()
        nsvc = sum(versions(c).values())
        self.assertTrue(all_at(c, VERSION, nsvc))

        st, body = self.post("/v1/rollout/pause", auth)
        self.assertEqual(st, 200, body)
        self.assertTrue(json.loads(body)["paused"])
        st, body = self.post("/v1/rollout/pause", auth)
        self.assertEqual(st, 409, body)
        self.assertIn("already paused", json.loads(body)["error"])

        mark = len(c.journal())
        c.set_version(NEXT, token=token)
        wait_until(lambda: "rollout paused by the operator"
                   in c.state().get("problems", []), 15,
                   what="the pause problem line")
        time.sleep(qmtest.scaled(3))
        self.assertEqual(c.calls("KILL", c.journal()[mark:]), [],
                         "no upgrade KILL while paused")
        st_ = c.state()
        r = st_["rollout"]
        with_svcs = sum(1 for n in st_["nodes"] if n["services"])
        self.assertGreaterEqual(with_svcs, 2)
        self.assertEqual(r, {"paused": True, "previous_version": VERSION,
                             "target_version": NEXT,
                             "nodes_with_services": with_svcs,
                             "nodes_at_target": 0})
        self.assertTrue(all_at(c, VERSION, nsvc))

        st, body = self.post("/v1/rollout/resume", auth)
        self.assertEqual(st, 200, body)
        self.assertFalse(json.loads(body)["paused"])
        wait_until(lambda: all_at(c, NEXT, nsvc), 90, interval=0.3,
                   what="every service at %s" % NEXT)
        self.assertNotEqual(c.calls("KILL", c.journal()[mark:]), [])
        # every node with services at the target: counted over all nodes
        wait_until(lambda: c.state()["rollout"]["nodes_at_target"] ==
                   with_svcs, 15, what="all nodes at the target version")

        st, body = self.post("/v1/rollout/rollback", auth)
        self.assertEqual(st, 200, body)
        back = json.loads(body)
        self.assertEqual({k: back[k] for k in ("paused", "previous_version",
                                               "target_version")},
                         {"paused": False, "previous_version": NEXT,
                          "target_version": VERSION})
        self.assertEqual(back["nodes_at_target"], 0)
        wait_until(lambda: all_at(c, VERSION, nsvc), 90, interval=0.3,
                   what="every service back at %s" % VERSION)
        self.assertEqual(c.state()["target_version"], VERSION)
        c.finish(self)


if __name__ == "__main__":
    unittest.main()
