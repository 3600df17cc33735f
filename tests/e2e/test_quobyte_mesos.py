"""quobyte-mesos, the operator CLI (cli/), against a real coordinator and
the Mesos emulator: the status table, version set/show, pause/resume with
the server's 409 reasons, a missing token (401, exit 1), --json, an
unreachable coordinator (exit 3), and the exact requests of drain/undrain
and release (against a recording stand-in server, since the drain
endpoint lands separately)."""

import http.server
import json
import os
import subprocess
import threading
import unittest

import qmtest
from e2e import E2ETestCase, wait_until
from test_security import tok, token_file
from test_tls_rest import make_pki

VERSION = "3.0.1"


def cli_binary():
    return qmtest.binary("quobyte-mesos")


def run_cli(args, env=None, timeout=30):
    """(exit status, stdout, stderr) of quobyte-mesos ARGS, with the
    QUOBYTE_MESOS_* variables of this process removed (they would leak
    into the test) and `env` added."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("QUOBYTE_MESOS_")}
    full.update(env or {})
    p = subprocess.run([cli_binary()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout,
                       env=full)
    return p.returncode, p.stdout, p.stderr


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request 404 with a JSON error and records it."""

    requests = []

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        Recorder.requests.append((self.command, self.path,
                                  dict(self.headers), body))
        data = json.dumps({"error": "no node named like that"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, *args):
        pass


class CliRequestTest(unittest.TestCase):
    """What the CLI sends, checked on the wire (no cluster needed)."""

    def setUp(self):
        Recorder.requests = []
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)

    def test_drain_undrain_release_requests(self):
        token = tok()
        tf = token_file(os.path.join(qmtest.TMP_PARENT,
                                     "qm-cli-%d.token" % os.getpid()),
                        [("ops", "admin", token)])
        self.addCleanup(os.unlink, tf)
        rc, out, err = run_cli(["--url", self.url, "--token-file", tf,
                                "drain", "agent 1/x"])
        self.assertEqual(rc, 1, err)
        self.assertEqual(err.strip(), "quobyte-mesos: drain: 404 Not Found: "
                         "no node named like that")
        self.assertEqual(out, "")
        rc, _, err = run_cli(["drain", "--force", "agent1"],
                             env={"QUOBYTE_MESOS_URL": self.url,
                                  "QUOBYTE_MESOS_API_TOKEN": token})
        self.assertEqual(rc, 1, err)
        rc, _, err = run_cli(["--url", self.url + "/", "undrain", "agent1"])
        self.assertEqual(rc, 1, err)
        self.assertIn("undrain: 404 Not Found", err)
        rc, _, err = run_cli(["--url", self.url, "release", "S0", "data"])
        self.assertEqual(rc, 1, err)
        got = [(m, p, h.get("Authorization"), b)
               for m, p, h, b in Recorder.requests]
        self.assertEqual(got, [
            ("POST", "/v1/nodes/agent%201%2Fx/drain", "Bearer " + token, b""),
            ("POST", "/v1/nodes/agent1/drain?force=true", "Bearer " + token,
             b""),
            ("POST", "/v1/nodes/agent1/undrain", None, b""),
            ("DELETE", "/v1/reservations/S0/data", None, b"")])

    def test_usage_errors_exit_2(self):
        for args, text in ((["frobnicate"], "unknown command 'frobnicate'"),
                           (["drain"], "usage: drain NODE [--force]"),
                           (["status", "--bogus"], "unknown flag --bogus"),
                           (["status", "--token", "x", "--token-file", "/x"],
                            "exclude each other"),
                           (["status", "--token-file", "/nonexistent"],
                            "/nonexistent")):
            rc, out, err = run_cli(["--url", self.url] + args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(text, err)
            self.assertEqual(out, "")
        self.assertEqual(Recorder.requests, [], "no request on a usage error")
        rc, out, _ = run_cli(["--help"])
        self.assertEqual(rc, 0)
        for word in ("QUOBYTE_MESOS_URL", "Exit codes", "drain NODE [--force]",
                     "3  the coordinator could not be reached"):
            self.assertIn(word, out)
        rc, out, _ = run_cli(["pause", "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("POST /v1/rollout/pause", out)
        rc, out, _ = run_cli(["--version"])
        self.assertEqual((rc, out.split()[0]), (0, "quobyte-mesos"))


class CliTest(E2ETestCase):
    NAGENTS = 2

    def test_against_a_coordinator(self):
        c = self.cluster
        token = tok()
        tokfile = token_file(os.path.join(c.root, "api.tokens"),
                             [("ops", "admin", token)])
        url = "http://" + c.rest
        base = ["--url", url, "--token-file", tokfile]
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data1", ["DATA_DEVICE"])
        c.start_coordinator(["--api-token-file", tokfile])
        c.wait_reporting()

        # unreachable: exit 3, one line naming the URL
        port = qmtest.free_tcp_port()
        rc, out, err = run_cli(["--url", "http://127.0.0.1:%d" % port,
                                "--timeout", "3s", "status"])
        self.assertEqual(rc, 3, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("quobyte-mesos: status: cannot reach http://127.0.0.1:%d"
                      % port, err)

        # no token on a mutating call: 401, exit 1
        rc, out, err = run_cli(["--url", url, "pause"])
        self.assertEqual(rc, 1, err)
        self.assertTrue(err.startswith("quobyte-mesos: pause: 401 Unauthorized"),
                        err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)

        # version set, then shown (the coordinator's own file as token file)
        rc, out, err = run_cli(base + ["version", "set", VERSION])
        self.assertEqual(rc, 0, err)
        self.assertIn("target version set: target version %s" % VERSION, out)
        rc, out, err = run_cli(["version"], env={"QUOBYTE_MESOS_URL": url})
        self.assertEqual((rc, out), (0, VERSION + "\n"), err)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want)
        c.quiesce()

        # status: the nodes and their services in tables
        rc, out, err = run_cli(base + ["status"])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(c.logs, "cli-status.txt"), "w") as f:
            f.write(out)
        self.assertIn("COORDINATOR  leader", out)
        self.assertIn("ROLLOUT      complete", out)
        self.assertIn("target %s" % VERSION, out)
        lines = out.splitlines()
        hdr = [ln for ln in lines if ln.startswith("NODE    AGENT ID")]
        self.assertEqual(len(hdr), 1, out)
        for host in c.hosts:
            self.assertTrue(any(ln.startswith(host + "  ") for ln in lines),
                            "%s in\n%s" % (host, out))
        self.assertTrue(any(ln.startswith("agent1") and "registry" in ln
                            and "TASK_RUNNING" in ln for ln in lines), out)
        self.assertNotIn("PROBLEMS", out)
        for ln in lines:
            self.assertEqual(ln, ln.rstrip(), "no trailing blanks")

        # --json is the server's document
        rc, out, err = run_cli(base + ["--json", "status"])
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(sorted(n["hostname"] for n in doc["nodes"]), c.hosts)
        rc, out, err = run_cli(base + ["reservations", "--json"])
        self.assertEqual(rc, 0, err)
        self.assertIn("reservations", json.loads(out))
        rc, out, err = run_cli(base + ["reservations"])
        self.assertEqual(rc, 0, err)
        self.assertIn("releasable", out)

        # pause and resume: 200, then the coordinator's 409 reasons
        rc, out, err = run_cli(base + ["pause"])
        self.assertEqual(rc, 0, err)
        self.assertIn("rollout paused", out)
        rc, out, err = run_cli(base + ["pause"])
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "quobyte-mesos: pause: 409 Conflict: "
                         "the rollout is already paused")
        rc, out, err = run_cli(base + ["status"])
        self.assertIn("ROLLOUT      paused", out)
        rc, out, err = run_cli(base + ["resume"])
        self.assertEqual(rc, 0, err)
        rc, out, err = run_cli(base + ["resume"])
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "quobyte-mesos: resume: 409 Conflict: "
                         "the rollout is not paused")

        # drain of a node the coordinator does not know (or, before the
        # drain endpoint exists, a route it does not have): 404, exit 1
        rc, out, err = run_cli(base + ["drain", "no-such-node"])
        self.assertEqual(rc, 1, err)
        self.assertTrue(err.startswith("quobyte-mesos: drain: 404 Not Found"),
                        err)
        c.finish(self)


class CliTlsTest(E2ETestCase):
    """--ca against a coordinator serving HTTPS (--http-tls-cert): the CA
    verifies it, no CA or another one does not (exit 3), --insecure is
    explicit and warned about."""
    NAGENTS = 1

    def test_https_with_ca_and_insecure(self):
        c = self.cluster
        pki = make_pki(os.path.join(c.root, "pki"))
        c.rest = "127.0.0.1:%d" % qmtest.free_tcp_port()
        c.start_coordinator(["--http-listen", c.rest,
                             "--http-tls-cert", pki["server.pem"],
                             "--http-tls-key", pki["server.key"]],
                            wait=False)
        url = "https://" + c.rest

        def up():
            if not c.coordinator_alive():
                raise AssertionError("coordinator exited:\n%s"
                                     % c.coordinator.stderr_text()[-3000:])
            rc, out, _ = run_cli(["--url", url, "--ca", pki["ca.pem"],
                                  "--json", "status"])
            return rc == 0 and json.loads(out).get("subscribed") is True
        wait_until(up, 30, interval=0.3, what="status over HTTPS")

        rc, out, err = run_cli(["--url", url, "--ca", pki["ca.pem"], "status"])
        self.assertEqual(rc, 0, err)
        self.assertIn("COORDINATOR  leader", out)
        self.assertEqual(err, "")
        for extra in ([], ["--ca", pki["other.pem"]]):
            rc, out, err = run_cli(["--url", url] + extra + ["status"])
            self.assertEqual(rc, 3, (extra, err))
            self.assertIn("quobyte-mesos: status: cannot reach", err)
            self.assertEqual(out, "")
        rc, out, err = run_cli(["--url", url, "--insecure", "version"])
        self.assertEqual(rc, 0, err)
        self.assertIn("warning: --insecure", err)
        rc, _, err = run_cli(["--url", url, "--insecure", "--ca",
                              pki["ca.pem"], "status"])
        self.assertEqual(rc, 2, err)
        # plain http to the TLS port: no HTTP answer
        rc, _, err = run_cli(["--url", "http://" + c.rest, "status"])
        self.assertEqual(rc, 3, err)
        c.finish(self, quiesce=False)


if __name__ == "__main__":
    unittest.main()
