"""Secure by default (issue 17): no mutating REST call without a credential,
token files with roles, rotation on SIGHUP, limits on guessing, an audit
trail, and no secret anywhere a run leaves traces."""

import base64
import json
import os
import secrets
import signal
import subprocess

import qmtest
from e2e import E2ETestCase, wait_until


def token_file(path, entries, mode=0o600):
    """entries: [(name, role, token)]; written with `mode`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, "".join("%s %s %s\n" % e for e in entries).encode())
    os.close(fd)
    os.chmod(path, mode)
    return path


def tok():
    return secrets.token_urlsafe(32)


def admin_token(cluster):
    """A fresh admin token in <cluster root>/api.tokens: (token, the file
    for --api-token-file, the Authorization header that carries it)."""
    token = tok()
    path = token_file(os.path.join(cluster.root, "api.tokens"),
                      [("ops", "admin", token)])
    return token, path, {"Authorization": "Bearer " + token}


class StartupRefusalTest(E2ETestCase):
    NAGENTS = 1

    def run_coordinator(self, *extra):
        c = self.cluster
        argv = [qmtest.binary("quobyte-coordinator"),
                "--master", "http://" + c.emulator.address,
                "--state-dir", os.path.join(c.root, "state-refusal"),
                "--bus-listen", "tcp://127.0.0.1:%d" % qmtest.free_tcp_port(),
                "--prober-command", qmtest.binary("quobyte-prober")] + \
            list(extra)
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=30)

    def test_open_listener_needs_a_token_or_http_insecure(self):
        port = qmtest.free_tcp_port()
        r = self.run_coordinator("--http-listen", "0.0.0.0:%d" % port)
        self.assertEqual(r.returncode, 2, r.stderr[-500:])
        self.assertIn("--api-token-file", r.stderr)
        self.assertIn("--http-insecure", r.stderr)
        # a token file that others may read, one that is too short, a bad
        # role: one clear line each, no start
        d = self.cluster.root
        cases = [
            (token_file(os.path.join(d, "t1"), [("ops", "admin", tok())], 0o644),
             "group or others may access it"),
            (token_file(os.path.join(d, "t2"), [("ops", "admin", "short")]),
             "line 1 (ops): the token has 5 characters"),
            (token_file(os.path.join(d, "t3"), [("ops", "root", tok())]),
             "line 1: the role must be admin or read"),
            (os.path.join(d, "missing"), "No such file"),
        ]
        for path, want in cases:
            r = self.run_coordinator("--http-listen", "0.0.0.0:%d" % port,
                                     "--api-token-file", path)
            self.assertEqual(r.returncode, 2, (path, r.stderr[-500:]))
            self.assertIn(want, r.stderr)

    def test_http_insecure_starts_and_says_so(self):
        c = self.cluster
        port = qmtest.free_tcp_port()
        c.rest = "127.0.0.1:%d" % port
        c.start_coordinator(["--http-listen", "0.0.0.0:%d" % port,
                             "--http-insecure"])
        warn = c.coordinator.log_events("http_insecure")
        self.assertTrue(warn and warn[0]["level"] == "warn", warn)
        status, _, body = c.rest_call("GET", "/v1/health")
        sec = json.loads(body)["security"]
        self.assertTrue(sec["insecure"])
        self.assertIn("--http-insecure", sec["warning"])
        self.assertTrue(c.state()["security"]["insecure"])
        c.finish(self)


class TokenTest(E2ETestCase):
    NAGENTS = 1

    def setUp(self):
        super().setUp()
        c = self.cluster
        self.admin, self.read = tok(), tok()
        self.path = token_file(os.path.join(c.root, "api.tokens"),
                               [("ops", "admin", self.admin),
                                ("prom", "read", self.read)])
        c.start_coordinator(["--api-token-file", self.path])

    def post(self, authz=None, body="3.0.1", path="/v1/version", extra=None):
        h = {"Content-Type": "text/plain"}
        if authz:
            h["Authorization"] = authz
        h.update(extra or {})
        return self.cluster.rest_call("POST", path, body, h)

    def test_roles_schemes_origin_sighup_audit_and_limits(self):
        c = self.cluster
        basic = "Basic " + base64.b64encode(
            ("x:" + self.admin).encode()).decode()
        # reads stay open (no --http-auth-read); health too
        self.assertEqual(c.rest_call("GET", "/v1/state")[0], 200)
        self.assertEqual(c.state()["security"],
                         {"insecure": False, "auth_read": False, "tokens": 2})
        # 401: none, wrong, Basic on a mutating call; same answer each time
        for authz in (None, "Bearer " + tok(), basic, "Bearer"):
            st, hdrs, body = self.post(authz)
            self.assertEqual(st, 401, authz)
            self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
            self.assertEqual(json.loads(body), {"error": "unauthorized"})
        # 403: a read token on a mutating call
        self.assertEqual(self.post("Bearer " + self.read)[0], 403)
        # 403: a page of another site cannot post, even with the token
        st, _, _ = self.post("Bearer " + self.admin,
                             extra={"Origin": "http://evil.example"})
        self.assertEqual(st, 403)
        # the admin token works (and an Origin naming us)
        st, _, _ = self.post("Bearer " + self.admin,
                             extra={"Origin": "http://" + c.rest})
        self.assertEqual(st, 200)
        self.assertEqual(c.state()["target_version"], "3.0.1")
        # /v1/audit: admin only; Basic is fine for a GET (a browser)
        self.assertEqual(c.rest_call("GET", "/v1/audit")[0], 401)
        self.assertEqual(c.rest_call("GET", "/v1/audit", headers={
            "Authorization": "Bearer " + self.read})[0], 403)
        st, _, body = c.rest_call("GET", "/v1/audit",
                                  headers={"Authorization": basic})
        self.assertEqual(st, 200)
        entries = json.loads(body)["entries"]
        self.assertEqual([(e["token"], e["method"], e["path"], e["status"])
                          for e in entries],
                         [("-", "POST", "/v1/version", 401)] * 4 +
                         [("prom", "POST", "/v1/version", 403),
                          ("ops", "POST", "/v1/version", 403),
                          ("ops", "POST", "/v1/version", 200)])
        self.assertEqual(entries[-1]["summary"], "3.0.1")
        self.assertTrue(all(e["peer"].startswith("127.0.0.1:")
                            for e in entries))
        audit = c.coordinator.log_events("audit")
        self.assertEqual(len(audit), 7)
        self.assertEqual(audit[-1]["token"], "ops")
        self.assertEqual(audit[-1]["status"], "200")

        # rotation: SIGHUP re-reads the file; the old token is gone
        new = tok()
        token_file(self.path, [("ops2", "admin", new)])
        c.coordinator.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: c.coordinator.log_events("api_tokens_reloaded"),
                   10, what="tokens reloaded")
        self.assertEqual(self.post("Bearer " + new, "3.0.2")[0], 200)
        self.assertEqual(self.post("Bearer " + self.admin, "3.0.3")[0], 401)
        # a broken file keeps the tokens it had, and says why
        token_file(self.path, [("ops3", "admin", tok())], 0o640)
        c.coordinator.proc.send_signal(signal.SIGHUP)
        bad = wait_until(lambda: c.coordinator.log_events(
            "api_tokens_reload_failed"), 10, what="reload refused")
        self.assertIn("group or others", bad[0]["error"])
        self.assertEqual(bad[0]["kept"], "1")
        self.assertEqual(self.post("Bearer " + new, "3.0.4")[0], 200)

        # guessing: 10 failures within a minute -> 429 for a minute, also
        # for the right token; what needs none still answers
        # 6 failures so far (4 above, /v1/audit without a credential, the
        # old token after the rotation)
        failures = [self.post("Bearer " + tok())[0] for _ in range(4)]
        self.assertEqual(failures, [401] * 4)
        st, hdrs, _ = self.post("Bearer " + new, "3.0.5")
        self.assertEqual(st, 429)
        self.assertEqual(hdrs.get("retry-after"), "60")
        self.assertEqual(c.rest_call("GET", "/v1/state")[0], 200)
        self.assertEqual(c.health(), 200)
        _, _, metrics = c.rest_call("GET", "/metrics")
        m = metrics.decode()
        self.assertIn("quobyte_mesos_http_auth_failures_total 10\n", m)
        self.assertIn("quobyte_mesos_http_auth_limited_total 1\n", m)
        self.assertIn("quobyte_mesos_http_auth_forbidden_total 3\n", m)

        # no token in what the API serves ...
        secrets_ = [self.admin, self.read, new]
        served = b"".join(c.rest_call("GET", p, headers={
            "Authorization": "Bearer " + self.read})[2]
            for p in ("/v1/state", "/metrics", "/v1/health", "/"))
        self.assertFalse([s_ for s_ in secrets_ if s_.encode() in served])
        # ... nor anywhere a run leaves traces
        c.finish(self, quiesce=False)
        with open(os.path.join(c.state_dir, "bus.secret"), "rb") as f:
            bus = f.read().strip()
        found = []
        for top in (c.root, c.logs):
            for dirpath, _, files in os.walk(top):
                for name in files:
                    p = os.path.join(dirpath, name)
                    if p == self.path or name == "bus.secret" or \
                            not os.path.isfile(p) or os.path.islink(p):
                        continue
                    try:
                        with open(p, "rb") as f:
                            data = f.read(64 << 20)
                    except OSError:
                        continue
                    for s in secrets_:
                        if s.encode() in data:
                            found.append((p, "an API token"))
                    if bus and bus in data:
                        found.append((p, "the bus secret"))
        self.assertEqual(found, [])


class ReadAuthTest(E2ETestCase):
    NAGENTS = 1

    def test_http_auth_read_protects_gets_but_not_health(self):
        c = self.cluster
        read = tok()
        path = token_file(os.path.join(c.root, "api.tokens"),
                          [("prom", "read", read)])
        c.start_coordinator(["--api-token-file", path, "--http-auth-read"])
        st, hdrs, _ = c.rest_call("GET", "/v1/state")
        self.assertEqual(st, 401)
        self.assertTrue(hdrs.get("www-authenticate", "").startswith("Basic"))
        self.assertEqual(c.rest_call("GET", "/metrics")[0], 401)
        self.assertEqual(c.rest_call("GET", "/v1/state", headers={
            "Authorization": "Bearer " + read})[0], 200)
        basic = "Basic " + base64.b64encode(("me:" + read).encode()).decode()
        self.assertEqual(c.rest_call("GET", "/", headers={
            "Authorization": basic})[0], 200)
        self.assertEqual(c.health(), 200)
        # a SIGTERM-clean stop (the harness's finish reads /v1/state)
        rc, _ = c.coordinator.stop(timeout=15)
        self.assertEqual(rc, 0)
