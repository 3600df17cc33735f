"""End-to-end test of the status page (coordinator/api/statuspage.c): a marker
whose serial and model are HTML is shown as text, checked in the DOM that
headless Chromium builds from the page; the page and its resources carry
the security headers and the Content-Security-Policy."""

import html.parser
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import qmtest
from e2e import E2ETestCase, log_dir, safe_name, wait_until

# Text anyone with root on a node can put into a marker file. The prober
# keeps a device.serial / device.model value as written (common/marker.c:
# printable bytes, trimmed, first '=' splits key and value), so all of it
# reaches /v1/state.
EVIL_SERIAL = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"
EVIL_MODEL = "<svg onload=alert(3)><b>bold</b>"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "connect-src 'self'; img-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'; "
       "require-trusted-types-for 'script'; trusted-types 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
RESOURCES = {
    "/": "text/html",
    "/status.js": "text/javascript",
    "/status.css": "text/css",
}
# fetches finish well within this much virtual time; the page refreshes
# every 2 s, so it renders at least twice
VIRTUAL_TIME_MS = 5000
CHROMIUM_TIMEOUT = 90


def html_escape_like_chromium(text):
    """How a DOM serializer writes a text node (HTML spec "escaping a
    string", not in attribute mode): & < > escaped, quotes kept."""
    return text.replace("&", "&amp;").replace("<", "&lt;") \
        .replace(">", "&gt;")


class DomScan(html.parser.HTMLParser):
    """Elements of a serialized DOM: tag names with their attributes, the
    text of every element with an id, and all text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.text = []
        self.by_id = {}
        self._open = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if "id" in a:
            self.by_id[a["id"]] = (a, [])
            self._open.append((tag, a["id"]))
        else:
            self._open.append((tag, None))

    def handle_endtag(self, tag):
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for _, ident in self._open:
            if ident:
                self.by_id[ident][1].append(data)

    def id_text(self, ident):
        return "".join(self.by_id[ident][1]) if ident in self.by_id else None


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class MockCoordinator:
    """An HTTP server that answers like the coordinator for the page: the
    page's three resources as the real coordinator served them (body and
    headers), and a made-up /v1/state and /v1/audit, so the parts of the
    page whose data this build's coordinator does not produce yet (the
    security block, the audit log) can be rendered too."""

    def __init__(self, resources, state, audit_status, audit):
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path in mock.resources:
                    status, headers, body = mock.resources[path]
                elif path == "/v1/state":
                    status, headers, body = 200, {
                        "content-type": "application/json"}, \
                        json.dumps(mock.state).encode()
                elif path == "/v1/audit":
                    status, headers = mock.audit_status, {
                        "content-type": "application/json"}
                    body = json.dumps(mock.audit if status == 200 else
                                      {"error": "no"}).encode()
                else:
                    status, headers, body = 404, {}, b""
                self.send_response(status)
                for k, v in headers.items():
                    if k in ("content-type", "content-security-policy",
                             "x-frame-options", "x-content-type-options",
                             "referrer-policy"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.resources = resources
        self.state = state
        self.audit_status = audit_status
        self.audit = audit
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def mock_state():
    """A /v1/state with the security block and HTML wherever the
    coordinator quotes someone else: a node's device, the master, a
    problem."""
    return {
        "framework_id": "fw-1", "master": "http://m:5050",
        "subscribed": True, "target_version": "2.0",
        "coordinator_version": "test",
        "mesos": {"phase": "subscribed", "leader": "<i>master</i>",
                  "version": "1.11.0"},
        "security": {"insecure": True, "auth_read": False},
        "phases": [{"phase": "registry", "wanted": 1, "ready": 0,
                    "at_target": 0}],
        "problems": ["the master says <img src=x onerror=alert(4)>"],
        "nodes": [{
            "agent_id": "S0", "hostname": "node<1>", "active": True,
            "prober": {"reporting": True, "stale": False},
            "devices": [{"root": "/srv/disk", "types": ["data"],
                         "state": "ok", "serial": EVIL_SERIAL,
                         "model": EVIL_MODEL, "size_bytes": 1 << 40,
                         "free_bytes": 1 << 39}],
            "services": [{"service": "data", "state": "TASK_RUNNING",
                          "health": "healthy"}]}],
    }


def mock_audit(n):
    """n audit entries, oldest first, every field HTML."""
    return {"entries": [{
        "time_unix_ms": 1780000000000 + i * 1000,
        "peer": "127.0.0.1:%d" % (40000 + i), "token": "<b>admin</b>",
        "method": "POST", "path": "/v1/version",
        "summary": "entry %d <script>alert(5)</script>" % i,
        "status": 200 if i % 5 else 403} for i in range(n)]}


class StatusPageTest(E2ETestCase):
    NAGENTS = 2

    def chromium(self, profile, url, *mode):
        """Run headless Chromium on url -> (stdout text, seconds)."""
        argv = [chromium_binary(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking",
                "--user-data-dir=" + profile,
                "--virtual-time-budget=%d" % VIRTUAL_TIME_MS] + \
            list(mode) + [url]
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CHROMIUM_TIMEOUT)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, "chromium %s: exit %d\n%s" % (
            " ".join(mode), p.returncode, p.stderr.decode(errors="replace")
            [-3000:]))
        return p.stdout.decode(errors="replace"), took

    def check_headers(self, c):
        for path, ctype in RESOURCES.items():
            for method in ("GET", "HEAD"):
                status, h, body = c.rest_call(method, path)
                self.assertEqual(status, 200, "%s %s" % (method, path))
                self.assertTrue(h.get("content-type", "").startswith(ctype),
                                "%s %s: %r" % (method, path,
                                               h.get("content-type")))
                for name, value in SECURITY_HEADERS.items():
                    self.assertEqual(h.get(name), value,
                                     "%s %s: %s" % (method, path, name))
                if method == "GET":
                    self.assertTrue(body, path)
        _, _, page = c.rest_call("GET", "/")
        page = page.decode()
        self.assertTrue(page.lstrip().lower().startswith("<!doctype html"))
        # nothing inline for the policy to forbid: one external script, no
        # <style> element, no style= or on*= attribute
        scan = DomScan()
        scan.feed(page)
        scripts = [a for t, a in scan.elements if t == "script"]
        self.assertEqual(scripts, [{"src": "/status.js", "defer": None}])
        self.assertNotIn("style", [t for t, _ in scan.elements])
        for tag, attrs in scan.elements:
            for name in attrs:
                self.assertFalse(name == "style" or name.startswith("on"),
                                 "inline %s on <%s>" % (name, tag))

    def test_marker_html_is_text(self):
        c = self.cluster
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        mp = c.disk("agent2", "evil", ["DATA_DEVICE"], mark=False)
        qmtest.write_marker(mp, types=("DATA_DEVICE",), serial=EVIL_SERIAL,
                            model=EVIL_MODEL)
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        c.wait_reporting()

        def shown():
            node = c.node("agent2") or {}
            return any(d.get("serial") == EVIL_SERIAL and
                       d.get("model") == EVIL_MODEL
                       for d in node.get("devices", []))
        wait_until(shown, 30, interval=0.1,
                   what="the marker's serial in /v1/state")

        self.check_headers(c)

        browser = chromium_binary()
        if not browser:
            c.finish(self)
            self.skipTest("no chromium (scripts/install-deps.sh installs it)")

        state = c.state()
        audit_status, _, _ = c.rest_call("GET", "/v1/audit")
        profile = os.path.join(c.root, "chromium-profile")
        url = "http://%s/" % c.rest
        dom, took = self.chromium(profile, url, "--dump-dom")
        keep = os.path.join(log_dir(), safe_name(self.id()))
        os.makedirs(keep, exist_ok=True)
        with open(os.path.join(keep, "statuspage.dom.html"), "w") as f:
            f.write(dom)
        self.note("chromium --dump-dom: %.1fs" % took)

        scan = DomScan()
        scan.feed(dom)
        tags = [t for t, _ in scan.elements]
        # the script ran and rendered the state
        self.assertNotIn("loading", scan.id_text("sum") or "loading",
                         "the page did not render /v1/state")
        self.assertIn("framework " + state["framework_id"],
                      scan.id_text("sum"))
        self.assertIn("agent2", scan.id_text("devs"))
        # the marker's text as text: escaped in the serialized DOM, whole
        # in the parsed text, and not one element made of it
        self.assertIn(html_escape_like_chromium(EVIL_SERIAL), dom)
        self.assertIn(html_escape_like_chromium(EVIL_MODEL), dom)
        self.assertIn(EVIL_SERIAL, scan.id_text("devs"))
        self.assertIn(EVIL_MODEL, scan.id_text("devs"))
        scripts = [a for t, a in scan.elements if t == "script"]
        self.assertEqual(scripts, [{"src": "/status.js", "defer": ""}],
                         "the page's own script only")
        for tag in ("img", "svg", "b", "style", "iframe", "object"):
            self.assertNotIn(tag, tags, "a <%s> element in the DOM" % tag)
        for tag, attrs in scan.elements:
            for name in attrs:
                self.assertFalse(name.startswith("on"),
                                 "%s= on <%s>" % (name, tag))

        # the insecure banner follows security.insecure (when the state has
        # it); the audit section follows what /v1/audit answers this client
        insecure = (state.get("security") or {}).get("insecure") is True
        banner = scan.by_id["insecure"][0]
        self.assertEqual("hidden" not in banner, insecure, banner)
        audit = scan.by_id["audit"][0]
        if audit_status == 404:
            self.assertIn("hidden", audit, "no /v1/audit: no audit section")
        elif audit_status in (401, 403):
            self.assertNotIn("hidden", audit)
            self.assertEqual(scan.id_text("audit-msg"),
                             "audit: an admin token is needed")
        self.note("/v1/audit answered %d, security.insecure %s"
                  % (audit_status, insecure))

        shot = os.path.join(keep, "statuspage.png")
        _, took = self.chromium(profile, url, "--screenshot=" + shot,
                                "--window-size=1280,800",
                                "--hide-scrollbars")
        self.assertTrue(os.path.getsize(shot) > 0, shot)
        self.note("chromium --screenshot: %.1fs -> %s" % (took, shot))
        c.finish(self)

    def test_banner_and_audit(self):
        """The insecure banner and the audit section, rendered from a
        made-up state and audit log that hold HTML in every field the page
        shows (this build's coordinator has neither yet): the page itself
        is the one the coordinator serves, with its headers."""
        c = self.cluster
        c.start_coordinator()
        c.wait_running({"prober": c.hosts})
        resources = {}
        for path in RESOURCES:
            status, h, body = c.rest_call("GET", path)
            self.assertEqual(status, 200, path)
            resources[path] = (status, h, body)
        c.finish(self)
        if not chromium_binary():
            self.skipTest("no chromium (scripts/install-deps.sh installs it)")

        profile = os.path.join(c.root, "chromium-profile")
        keep = os.path.join(log_dir(), safe_name(self.id()))
        os.makedirs(keep, exist_ok=True)
        mock = MockCoordinator(resources, mock_state(), 200, mock_audit(25))
        self.addCleanup(mock.close)

        dom, _ = self.chromium(profile, mock.url, "--dump-dom")
        scan = DomScan()
        scan.feed(dom)
        self.assertNotIn("hidden", scan.by_id["insecure"][0])
        self.assertEqual(scan.id_text("insecure"),
                         "REST API is open: started with --http-insecure; "
                         "anyone who reaches it can change the cluster")
        self.assertNotIn("hidden", scan.by_id["audit"][0])
        self.assertEqual(scan.id_text("audit-msg"),
                         "the last 20 entries, newest first")
        audit_rows = dom.split('id="audit-t"', 1)[1].split("</table>")[0]
        self.assertEqual(audit_rows.count("<tr>"), 21, "header + 20 rows")
        first = audit_rows.index("entry 24 ")
        self.assertLess(first, audit_rows.index("entry 5 "), "newest first")
        self.assertNotIn("entry 4 ", audit_rows, "only the last 20")
        self.assertIn(html_escape_like_chromium(
            "entry 24 <script>alert(5)</script>"), dom)
        self.assertIn("2026-05-28 20:27:04.000", scan.id_text("audit-t"))
        for text in ("the master says <img src=x onerror=alert(4)>",
                     "<i>master</i>", "node<1>", EVIL_SERIAL):
            self.assertIn(html_escape_like_chromium(text), dom, text)
        tags = [t for t, _ in scan.elements]
        for tag in ("img", "svg", "b", "i", "style"):
            self.assertNotIn(tag, tags, "a <%s> element in the DOM" % tag)
        self.assertEqual([a for t, a in scan.elements if t == "script"],
                         [{"src": "/status.js", "defer": ""}])
        _, took = self.chromium(profile, mock.url, "--screenshot=" +
                                os.path.join(keep, "statuspage-mock.png"),
                                "--window-size=1280,800", "--hide-scrollbars")

        # an audit log this client may not read
        mock.audit_status = 403
        dom, _ = self.chromium(profile, mock.url, "--dump-dom")
        scan = DomScan()
        scan.feed(dom)
        self.assertNotIn("hidden", scan.by_id["audit"][0])
        self.assertEqual(scan.id_text("audit-msg"),
                         "audit: an admin token is needed")
        self.assertEqual(scan.id_text("audit-t"), "")
