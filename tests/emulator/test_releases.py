"""The emulator's release profiles (--version, emu_profiles.py), its
ZooKeeper group (--zk, emu_zk.py), masters that die and come back, and
injected refusals. Run by tests/emulator/test_emulator.py's runner."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Emulator, framework_info, http_call  # noqa: E402

ZKSERVER = os.path.join(HERE, "..", "zk", "zkserver.sh")
FAST = ["--heartbeat-interval", "0.3", "--allocation-interval", "0.1",
        "--reregister-delay", "0.1"]


def subscribe_call(info=None):
    return {"type": "SUBSCRIBE",
            "subscribe": {"framework_info": info or framework_info()}}


def subscribe_status(address, info=None):
    """Status and body of a SUBSCRIBE, without keeping the stream."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/api/v1/scheduler",
                     json.dumps(subscribe_call(info)).encode(),
                     {"Content-Type": "application/json",
                      "Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read(300) if resp.status != 200 else b""
        return resp.status, body.decode("utf-8", "replace")
    finally:
        conn.close()


def quoted_info():
    info = framework_info()
    info["failover_timeout"] = "60"   # a double, quoted
    return info


class ReleaseRulesTest(unittest.TestCase):
    def emulator(self, version, listeners=1, extra=()):
        emu = Emulator(FAST + ["--version", version] + list(extra),
                       listeners=listeners)
        self.addCleanup(emu.stop)
        return emu

    def test_quoted_numbers_refused_before_1_6(self):
        # 3rdparty/stout/include/stout/protobuf.hpp at 1.4.0 and 1.5.0
        for version in ("1.4.0", "1.5.0"):
            emu = self.emulator(version)
            status, body = subscribe_status(emu.address, quoted_info())
            self.assertEqual(status, 400, version)
            self.assertIn("Not expecting a JSON string for field "
                          "'failover_timeout'", body)
        # ... parsed as numbers from 1.6.0
        emu = self.emulator("1.6.0")
        status, _ = subscribe_status(emu.address, quoted_info())
        self.assertEqual(status, 200)

    def test_unknown_enum_names_and_calls_per_release(self):
        emu = self.emulator("1.4.0")
        info = framework_info(capabilities=("MULTI_ROLE", "QUOTA_V2"))
        status, body = subscribe_status(emu.address, info)
        self.assertEqual(status, 400)
        self.assertIn("Failed to find enum for 'QUOTA_V2'", body)
        # UPDATE_FRAMEWORK arrived in 1.9.0 (scheduler.proto)
        call = {"type": "UPDATE_FRAMEWORK", "framework_id": {"value": "x"},
                "update_framework": {"framework_info": framework_info()}}
        status, _, body = http_call(emu.address, call)
        self.assertEqual(status, 400, body)
        self.assertIn("UPDATE_FRAMEWORK", body)
        # every capability the coordinator sends is known to 1.4.0
        info = framework_info(capabilities=(
            "MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE",
            "RESERVATION_REFINEMENT"))
        status, _ = subscribe_status(emu.address, info)
        self.assertEqual(status, 200)

    def test_version_endpoint_and_unsupported_release(self):
        emu = self.emulator("1.7.0")
        status, _, body = http_call(emu.address, None, method="GET",
                                    path="/version")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["version"], "1.7.0")
        p = subprocess.run([sys.executable,
                            os.path.join(HERE, "mesos_emulator.py"),
                            "--version", "1.3.0"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("outside the supported", p.stderr)

    def test_injected_refusal_answers_once(self):
        emu = self.emulator("1.11.0")
        status, doc = emu.control("calls/refuse", {
            "type": "SUBSCRIBE", "status": 400, "message": "no thanks"})
        self.assertEqual(status, 200, doc)
        self.assertEqual(subscribe_status(emu.address)[0], 400)
        self.assertEqual(subscribe_status(emu.address)[0], 200)


class ZooKeeperGroupTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="emu-zk-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        p = subprocess.run([ZKSERVER, "start", self.dir], capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            self.fail("zkserver.sh: %s %s" % (p.stdout, p.stderr))
        self.addCleanup(subprocess.run, [ZKSERVER, "stop", self.dir],
                        capture_output=True, timeout=60)
        self.zk_address = p.stdout.strip().splitlines()[-1]
        sys.path.append("/usr/lib/python3/dist-packages")
        from kazoo.client import KazooClient
        self.kz = KazooClient(hosts=self.zk_address)
        self.kz.start(timeout=15)
        self.addCleanup(self.kz.stop)

    def group(self):
        """[(znode, MasterInfo)] in sequence order: [0] leads."""
        out = []
        from kazoo.exceptions import NoNodeError
        for name in sorted(self.kz.get_children("/mesos")):
            try:
                data, _ = self.kz.get("/mesos/" + name)
            except NoNodeError:  # left the group between the two reads
                continue
            out.append((name, json.loads(data)))
        return out

    def test_group_follows_leadership_and_a_killed_master(self):
        emu = Emulator(FAST + ["--zk", "zk://%s/mesos" % self.zk_address,
                               "--zk-session-timeout", "1",
                               "--version", "1.4.0"], listeners=2)
        self.addCleanup(emu.stop)
        a, b = emu.addresses
        g = self.group()
        self.assertEqual([n.split("_")[0] for n, _ in g], ["json.info"] * 2)
        self.assertEqual(g[0][1]["pid"], "master@" + a)
        self.assertEqual(g[0][1]["version"], "1.4.0")
        self.assertEqual(g[0][1]["address"]["port"], int(a.rsplit(":")[1]))

        # leadership moves: the old leader rejoins behind the new one
        emu.control("leader", {"leader": b})
        g = self.group()
        self.assertEqual(g[0][1]["pid"], "master@" + b)
        self.assertEqual(len(g), 2)

        # the leader dies: connections refused at once, its znode lasts
        # for the session timeout, then the other master leads
        emu.control("master/kill", {"address": b})
        with self.assertRaises(OSError):
            http_call(b, None, method="GET", path="/version")
        self.assertEqual(self.group()[0][1]["pid"], "master@" + b)
        deadline = time.monotonic() + 10
        while self.group()[0][1]["pid"] != "master@" + a:
            self.assertLess(time.monotonic(), deadline, self.group())
            time.sleep(0.1)
        self.assertEqual(len(self.group()), 1)
        # it comes back and contends again, behind the leader
        emu.control("master/start", {"address": b})
        g = self.group()
        self.assertEqual([i["pid"] for _, i in g],
                         ["master@" + a, "master@" + b])
        self.assertEqual(http_call(b, None, method="GET",
                                   path="/version")[0], 200)


if __name__ == "__main__":
    unittest.main()
