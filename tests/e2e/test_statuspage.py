"""End-to-end test of the status page (coordinator/api/statuspage.c), checked
in the DOM that headless Chromium builds from the page against the local
cluster: device capacity bars as wide as the devices are full, the rollout's
progress across a version change (paused, resumed, done), the event log
with launches and a hot-add, a marker whose serial and model are HTML shown
as text, no script error; the page and its resources carry the security
headers and the Content-Security-Policy. A screenshot at 1280x800 is kept
in the log directory."""

import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time

import qmtest
from e2e import E2ETestCase, log_dir, safe_name, wait_until
from test_security import admin_token

VERSION = "3.0.1"
NEXT = "3.0.2"

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


VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col",
        "embed", "source", "track", "wbr"}


class DomScan(html.parser.HTMLParser):
    """Elements of a serialized DOM: tag names with their attributes, the
    text of every element with an id, all text, and a tree (Node) to look
    up elements by class."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.text = []
        self.by_id = {}
        self._open = []
        self.root = Node("#root", {})
        self._tree = [self.root]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        node = Node(tag, a)
        self._tree[-1].children.append(node)
        if tag in VOID:
            return
        self._tree.append(node)
        if "id" in a:
            self.by_id[a["id"]] = (a, [])
            self._open.append((tag, a["id"]))
        else:
            self._open.append((tag, None))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self._open:
            t, _ = self._open.pop()
            self._tree.pop()
            if t == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        self._tree[-1].children.append(data)
        for _, ident in self._open:
            if ident:
                self.by_id[ident][1].append(data)

    def id_text(self, ident):
        return "".join(self.by_id[ident][1]) if ident in self.by_id else None

    def find(self, cls=None, ident=None):
        return self.root.find(cls, ident)


class Node:
    """An element of DomScan's tree: tag, attributes, children (Nodes and
    text)."""

    def __init__(self, tag, attrs):
        self.tag, self.attrs, self.children = tag, attrs, []

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def find(self, cls=None, ident=None):
        """Every element below this one (depth first) with the class cls
        and/or the id ident."""
        out = []
        for c in self.children:
            if isinstance(c, str):
                continue
            if (cls is None or cls in c.classes()) and \
                    (ident is None or c.attrs.get("id") == ident):
                out.append(c)
            out.extend(c.find(cls, ident))
        return out

    def width(self):
        """The percentage of the first .fill below (a bar), or None."""
        fills = self.find("fill")
        if not fills:
            return None
        m = re.search(r"width:\s*([0-9.]+)%", fills[0].attrs.get("style", ""))
        return float(m.group(1)) if m else None


def table_rows(scan, ident):
    """The rows (<tr>) of the table with that id."""
    def count(node):
        return sum((c.tag == "tr") + count(c) for c in node.children
                   if not isinstance(c, str))
    return count(scan.find(ident=ident)[0])


def script_errors(stderr):
    """Console errors and policy violations Chromium logged
    (--enable-logging=stderr): an exception thrown by the page's script, a
    resource or an inline thing the Content-Security-Policy refused."""
    bad = []
    for line in stderr.splitlines():
        if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line:
            if "favicon.ico" in line:
                continue
            bad.append(line)
    return bad


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


EVIL_HOST = "node<1>&<b>x</b>"
EVIL_EVENT = "device /srv/<i>hot</i> on node<1>: data"


def mock_state():
    """A /v1/state with the security block and HTML wherever the
    coordinator quotes someone else: a node's device, its hostname, the
    master, a problem, an event; devices full, nearly full and of unknown
    size; a rollout paused in its metadata step."""
    return {
        "framework_id": "fw-1", "master": "http://m:5050",
        "subscribed": True, "target_version": "2.0",
        "coordinator_version": "test",
        "mesos": {"phase": "subscribed", "leader": "<i>master</i>",
                  "version": "1.11.0"},
        "security": {"insecure": True, "auth_read": False},
        "rollout": {"paused": True, "target_version": "2.0",
                    "previous_version": "<b>1.0</b>",
                    "nodes_with_services": 1, "nodes_at_target": 0},
        "phases": [
            {"phase": "probers", "wanted": 2, "ready": 2, "at_target": 2},
            {"phase": "registry", "wanted": 1, "ready": 1, "at_target": 1},
            {"phase": "metadata", "wanted": 1, "ready": 1, "at_target": 0},
            {"phase": "data", "wanted": 2, "ready": 2, "at_target": 0},
            {"phase": "api+webconsole", "wanted": 2, "ready": 2,
             "at_target": 0},
            {"phase": "client", "wanted": 0, "ready": 0, "at_target": 0}],
        "problems": ["the master says <img src=x onerror=alert(4)>",
                     "rollout paused by the operator"],
        "events": [
            {"seq": 3, "time_unix_ms": 1780000002000, "kind": "hotadd",
             "text": EVIL_EVENT},
            {"seq": 2, "time_unix_ms": 1780000001000, "kind": "<b>kind</b>",
             "text": "launch data on " + EVIL_HOST},
            {"seq": 1, "time_unix_ms": 1780000000000, "kind": "failure",
             "text": "data on node2: TASK_FAILED: <svg onload=alert(6)>"}],
        "nodes": [{
            "agent_id": "S0", "hostname": EVIL_HOST, "active": True,
            "prober": {"reporting": True, "stale": False,
                       "last_report_age_s": 1.5},
            "devices": [
                {"root": "/srv/disk", "types": ["data"],
                 "state": "ok", "serial": EVIL_SERIAL,
                 "model": EVIL_MODEL, "size_bytes": 1 << 40,
                 "free_bytes": 1 << 39},
                {"root": "/srv/<i>hot&", "types": ["data"],
                 "state": "ok", "size_bytes": 1000, "free_bytes": 20},
                {"root": "/srv/new", "types": [], "state": "no_type"}],
            "services": [{"service": "data", "state": "TASK_RUNNING",
                          "health": "healthy", "version": "<b>1.0</b>"},
                         {"service": "metadata", "state": "TASK_RUNNING",
                          "health": "unhealthy", "version": "2.0"}]},
            {"agent_id": "S1", "hostname": "node2", "active": False,
             "prober": {"reporting": False, "stale": False},
             "devices": [], "services": []}],
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
        """Run headless Chromium on url -> (stdout text, seconds); its
        console (script errors, policy violations) must be clean."""
        argv = [chromium_binary(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking",
                "--enable-logging=stderr", "--v=0",
                "--user-data-dir=" + profile,
                "--virtual-time-budget=%d" % VIRTUAL_TIME_MS] + \
            list(mode) + [url]
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CHROMIUM_TIMEOUT)
        took = time.monotonic() - t0
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "chromium %s: exit %d\n%s" % (
            " ".join(mode), p.returncode, err[-3000:]))
        self.assertEqual(script_errors(err), [],
                         "chromium %s: the console has errors" % " ".join(mode))
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

    def render(self, profile, url, keep, name):
        """The DOM Chromium builds from the page -> DomScan; kept as
        <name>.dom.html in the log directory."""
        dom, took = self.chromium(profile, url, "--dump-dom")
        with open(os.path.join(keep, name + ".dom.html"), "w") as f:
            f.write(dom)
        self.note("chromium --dump-dom (%s): %.1fs" % (name, took))
        scan = DomScan()
        scan.feed(dom)
        scan.dom = dom
        # the script ran and rendered the state without an exception (it
        # writes "updated" only after every part is rendered)
        self.assertTrue((scan.id_text("updated") or "").startswith("updated "),
                        "the page did not render /v1/state: %r"
                        % scan.id_text("updated"))
        return scan

    def check_safe(self, scan):
        """Only the page's own script, no element made from data."""
        tags = [t for t, _ in scan.elements]
        scripts = [a for t, a in scan.elements if t == "script"]
        self.assertEqual(scripts, [{"src": "/status.js", "defer": ""}],
                         "the page's own script only")
        for tag in ("img", "svg", "b", "i", "style", "iframe", "object"):
            self.assertNotIn(tag, tags, "a <%s> element in the DOM" % tag)
        for tag, attrs in scan.elements:
            for name in attrs:
                self.assertFalse(name.startswith("on"),
                                 "%s= on <%s>" % (name, tag))

    def check_paging(self, c, profile, url, keep):
        """/v1/state gives a page of nodes and of reservations (bad page
        parameters get a 400 naming them); the page shows the one its
        address asks for, with links to the pages around it."""
        n = len(c.hosts)
        self.assertGreaterEqual(n, 2)
        whole = c.state()
        self.assertEqual(whole["nodes_total"], n)
        self.assertEqual(whole["nodes_offset"], 0)
        self.assertEqual(whole["reservations_total"],
                         len(whole["reservations"]))
        st, _, body = c.rest_call("GET", "/v1/state?nodes_offset=1&nodes_limit=1"
                                  "&reservations_limit=1")
        self.assertEqual(st, 200, body)
        page = json.loads(body)
        self.assertEqual([x["agent_id"] for x in page["nodes"]],
                         [x["agent_id"] for x in whole["nodes"][1:2]])
        self.assertEqual((page["nodes_total"], page["nodes_offset"],
                          page["nodes_limit"]), (n, 1, 1))
        self.assertEqual(page["nodes"][0]["services"],
                         whole["nodes"][1]["services"])
        self.assertEqual(len(page["reservations"]),
                         min(1, whole["reservations_total"]))
        # past the end: no nodes, the totals still right
        st, _, body = c.rest_call("GET", "/v1/state?nodes_offset=%d" % (n + 5))
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["nodes"], [])
        for bad in ("nodes_limit=0", "nodes_limit=1001", "nodes_offset=-1",
                    "nodes_limit=2x", "reservations_offset=%00",
                    "nodes_offset=9999999999"):
            st, _, body = c.rest_call("GET", "/v1/state?" + bad)
            self.assertEqual(st, 400, bad)
            name = bad.split("=")[0]
            self.assertIn(name, json.loads(body)["error"], bad)
        # the page of node 2 of its address, with a link back
        scan = self.render(profile, url + "?nodes_offset=1&nodes_limit=1",
                           keep, "paged")
        self.check_safe(scan)
        self.assertEqual(scan.id_text("nodes-n"), "(2 of %d)" % n)
        self.assertEqual(table_rows(scan, "nodes"), 1 + 1)
        shown = scan.id_text("nodes")
        for x in page["nodes"]:
            self.assertIn(x["hostname"], shown)
        self.assertNotIn(whole["nodes"][0]["hostname"], shown)
        prev = scan.by_id["nodes-prev"][0]
        self.assertNotIn("hidden", prev)
        self.assertEqual(prev.get("href"), "?nodes_offset=0&nodes_limit=1")
        if n == 2:
            self.assertIn("hidden", scan.by_id["nodes-next"][0])
        self.assertEqual(scan.id_text("devs-n"), "(of the nodes shown)")

    def check_capacity(self, scan, state):
        """One capacity bar per reported device, in its node's row, as wide
        as the device is full (used = size - free)."""
        table = scan.find(ident="nodes")[0]
        caps = table.find("cap")
        want = {}
        for n in state["nodes"]:
            for d in n["devices"]:
                want[d["root"]] = d
        self.assertEqual(len(caps), len(want), [c.attrs for c in caps])
        for cap in caps:
            root = cap.attrs.get("title", "").split(" (")[0]
            self.assertIn(root, want)
            d = want[root]
            used = (d["size_bytes"] - d["free_bytes"]) / d["size_bytes"]
            w = cap.width()
            self.assertIsNotNone(w, root)
            self.assertTrue(0 < w <= 100, (root, w))
            # the device may fill a little between the state and the page
            self.assertAlmostEqual(w, 100 * used, delta=5, msg=root)
            self.assertEqual(cap.find("capname")[0].text(),
                             os.path.basename(root))
        return caps

    def check_rollout(self, scan, state):
        """The bar: tasks at the target version out of all wanted ones."""
        wanted = sum(p["wanted"] for p in state["phases"])
        at = sum(p["at_target"] for p in state["phases"])
        bar = scan.find(ident="ro-bar")[0]
        self.assertAlmostEqual(bar.width(), 100.0 * at / wanted, delta=0.1)
        self.assertTrue(scan.id_text("ro-text").startswith(
            "%d of %d tasks" % (at, wanted)), scan.id_text("ro-text"))
        return at, wanted

    def test_page_against_the_cluster(self):
        c = self.cluster
        token, tokfile, auth = admin_token(c)
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        mp = c.disk("agent2", "evil", ["DATA_DEVICE"], mark=False)
        qmtest.write_marker(mp, types=("DATA_DEVICE",), serial=EVIL_SERIAL,
                            model=EVIL_MODEL)
        c.start_coordinator(["--api-token-file", tokfile])
        c.wait_reporting()
        c.set_version(VERSION, token=token)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want)
        c.quiesce()

        def shown():
            node = c.node("agent2") or {}
            return any(d.get("serial") == EVIL_SERIAL and
                       d.get("model") == EVIL_MODEL
                       for d in node.get("devices", []))
        wait_until(shown, 30, interval=0.1,
                   what="the marker's serial in /v1/state")

        # a disk hot-added to a node that runs its data service, with 4 MiB
        # on it before it is marked (the prober reads the free bytes when it
        # probes a device, not as they change), so its bar is not empty
        hot = c.disk("agent2", "hot", ["DATA_DEVICE"], mark=False)
        with open(os.path.join(hot, "fill"), "wb") as f:
            f.write(os.urandom(4 << 20))
            os.fsync(f.fileno())
        c.mark(hot, ["DATA_DEVICE"])
        wait_until(lambda: any(
            d["root"] == hot and "data" in d.get("types", []) and
            d["size_bytes"] - d["free_bytes"] > 4 << 20
            for d in c.node("agent2")["devices"]), 30,
            what="the hot-added device reported, filled")

        # the next version, paused before it moves
        for path in ("/v1/rollout/pause",):
            st, _, body = c.rest_call("POST", path, b"", auth)
            self.assertEqual(st, 200, body)
        c.set_version(NEXT, token=token)
        wait_until(lambda: "rollout paused by the operator"
                   in c.state().get("problems", []), 15,
                   what="the pause problem line")

        self.check_headers(c)
        browser = chromium_binary()
        if not browser:
            c.finish(self)
            self.skipTest("no chromium (scripts/install-deps.sh installs it)")

        state = c.state()
        profile = os.path.join(c.root, "chromium-profile")
        url = "http://%s/" % c.rest
        keep = os.path.join(log_dir(), safe_name(self.id()))
        os.makedirs(keep, exist_ok=True)
        scan = self.render(profile, url, keep, "paused")
        self.check_safe(scan)
        self.assertIn("framework " + state["framework_id"],
                      scan.id_text("sum"))
        self.assertEqual(scan.id_text("nodes-n"), "(%d)" % len(c.hosts))
        self.assertEqual(table_rows(scan, "nodes"), 1 + len(c.hosts))
        self.assertIn("hidden", scan.by_id["nodes-next"][0])
        self.check_paging(c, profile, url, keep)

        # capacity bars
        caps = self.check_capacity(scan, state)
        hotcap = [x for x in caps if x.attrs["title"].startswith(hot + " ")]
        self.assertEqual(len(hotcap), 1)
        self.assertGreater(hotcap[0].width(), 20, "4 MiB of 16 used")

        # the rollout, paused on its way to NEXT
        at, wanted = self.check_rollout(scan, state)
        self.assertLess(at, wanted)
        self.assertEqual(scan.id_text("ro-state"), "PAUSED")
        self.assertIn("target version %s (previous %s" % (NEXT, VERSION),
                      scan.id_text("ro-head"))
        self.assertIn("In progress: registry (0 of 1); waiting: metadata",
                      scan.id_text("ro-text"))
        steps = {s.text().split()[0]: s.classes()
                 for s in scan.find(ident="ro-steps")[0].find("step")}
        self.assertIn("done", steps["probers"])
        self.assertIn("current", steps["registry"])
        self.assertIn("next", steps["metadata"])
        self.assertIn("rollout paused by the operator",
                      scan.id_text("prob"))
        self.assertIn("has", scan.by_id["problems"][0]["class"])

        # services by health, at the old version (dashed) while paused
        chips = scan.find(ident="nodes")[0].find("chip")
        data = [x for x in chips if x.text().startswith("data")]
        self.assertEqual(len(data), 1)
        self.assertEqual(data[0].text(), "data " + VERSION)
        self.assertIn("old", data[0].classes())
        self.assertTrue({"ok", "warn"} & set(data[0].classes()),
                        data[0].classes())

        # the events: newest first, with the launches and the hot-add
        events = scan.find(ident="events")[0].find("ev")
        kinds = [e.find("kind")[0].text() for e in events]
        texts = [e.find("evtext")[0].text() for e in events]
        self.assertEqual(len(events), min(len(state["events"]), 100))
        self.assertIn("launch", kinds)
        self.assertTrue(any(t.startswith("launch data on agent2, version " +
                                         VERSION) for t in texts), texts)
        self.assertTrue(any(k == "hotadd" and
                            t.startswith("device %s on agent2: " % hot)
                            for k, t in zip(kinds, texts)), texts)
        self.assertIn("rollout", kinds)
        self.assertEqual(texts[0], state["events"][0]["text"])
        for e in events:
            t = [x for x in e.children if not isinstance(x, str)][0]
            self.assertEqual(t.tag, "time")
            self.assertRegex(t.text(), r"^\d\d:\d\d:\d\d$")

        # the marker's text as text: escaped in the serialized DOM, whole
        # in the parsed text, and not one element made of it
        self.assertIn(html_escape_like_chromium(EVIL_SERIAL), scan.dom)
        self.assertIn(html_escape_like_chromium(EVIL_MODEL), scan.dom)
        self.assertIn(EVIL_SERIAL, scan.id_text("devs"))
        self.assertIn(EVIL_MODEL, scan.id_text("devs"))
        self.assertIn("agent2", scan.id_text("devs"))

        # the insecure banner follows security.insecure; the audit section
        # says a token is needed (the browser has none)
        self.assertFalse(state["security"]["insecure"])
        self.assertIn("hidden", scan.by_id["insecure"][0])
        self.assertNotIn("hidden", scan.by_id["audit"][0])
        self.assertEqual(scan.id_text("audit-msg"),
                         "audit: an admin token is needed")

        shot = os.path.join(keep, "statuspage.png")
        _, took = self.chromium(profile, url, "--screenshot=" + shot,
                                "--window-size=1280,800",
                                "--hide-scrollbars")
        self.assertTrue(os.path.getsize(shot) > 0, shot)
        self.note("chromium --screenshot: %.1fs -> %s" % (took, shot))

        # resumed: the rollout goes through and the page says so
        st, _, body = c.rest_call("POST", "/v1/rollout/resume", b"", auth)
        self.assertEqual(st, 200, body)

        def at_next():
            s = c.state()
            return all(p["at_target"] == p["wanted"] for p in s["phases"]) \
                and any(e["text"].startswith("rollout done") for e in
                        s["events"])
        wait_until(at_next, 90, interval=0.3, what="every service at " + NEXT)
        c.quiesce()
        state = c.state()
        scan = self.render(profile, url, keep, "done")
        self.check_safe(scan)
        at, wanted = self.check_rollout(scan, state)
        self.assertEqual(at, wanted)
        self.assertEqual(scan.id_text("ro-state"), "done")
        self.assertIn("Every phase is at the target version",
                      scan.id_text("ro-text"))
        self.check_capacity(scan, state)
        texts = [e.text() for e in scan.find(ident="events")[0].find("evtext")]
        self.assertIn("rollout done: all %d tasks at version %s"
                      % (wanted, NEXT), texts)
        self.assertIn("rollout resumed by an operator (target %s)" % NEXT,
                      texts)
        self.assertTrue(any(t.startswith("kill data on agent2: ")
                            for t in texts), texts)
        chips = scan.find(ident="nodes")[0].find("chip")
        data = [x for x in chips if x.text().startswith("data")]
        self.assertEqual([x.text() for x in data], ["data"], "at target")
        _, took = self.chromium(profile, url, "--screenshot=" +
                                os.path.join(keep, "statuspage-done.png"),
                                "--window-size=1280,800", "--hide-scrollbars")
        c.finish(self)

    def test_banner_and_audit(self):
        """The insecure banner, the audit section, the event log, capacity
        bars, health colours and the rollout, rendered from a made-up state
        and audit log that hold HTML in every field the page shows (a
        hostname, a device root, an event, a version ...) and cases the
        local cluster does not make (a device nearly full or of unknown
        size, an unhealthy service, an inactive agent): the page itself is
        the one the coordinator serves, with its headers."""
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
                     "<i>master</i>", EVIL_HOST, EVIL_SERIAL, EVIL_EVENT,
                     "<b>1.0</b>", "<b>kind</b>",
                     "data on node2: TASK_FAILED: <svg onload=alert(6)>"):
            self.assertIn(html_escape_like_chromium(text), dom, text)
        # the events as sent, newest first
        evs = scan.find(ident="events")[0].find("ev")
        self.assertEqual([e.find("evtext")[0].text() for e in evs],
                         [x["text"] for x in mock_state()["events"]])
        self.assertEqual(evs[0].find("kind")[0].classes(),
                         ["kind", "k-hotadd"])
        self.assertEqual(evs[1].find("kind")[0].classes(), ["kind", "k-bkindb"])
        # capacity: half full, 98 % full (red), unknown size (no bar)
        caps = scan.find(ident="nodes")[0].find("cap")
        self.assertEqual([x.width() for x in caps], [50.0, 98.0, None])
        self.assertIn("full", caps[1].find("bar")[0].classes())
        self.assertEqual(caps[1].find("capname")[0].text(), "<i>hot&")
        # health colours: healthy at the old version, unhealthy
        chips = {x.text(): x.classes() for x in
                 scan.find(ident="nodes")[0].find("chip")}
        self.assertEqual(chips["data <b>1.0</b>"], ["chip", "ok", "old"])
        self.assertEqual(chips["metadata"], ["chip", "bad"])
        self.assertEqual(chips["agent inactive"], ["chip", "bad"])
        self.assertEqual(chips["not reporting"], ["chip", "bad"])
        # the rollout: 3 of 8 at the target, paused in metadata
        self.assertEqual(scan.id_text("ro-state"), "PAUSED")
        self.assertEqual(scan.find(ident="ro-bar")[0].width(), 37.5)
        self.assertEqual(scan.id_text("ro-text"),
                         "3 of 8 tasks and 0 of 1 nodes at the target "
                         "version. "
                         "In progress: metadata (0 of 1); waiting: data. "
                         "Paused by an operator: POST /v1/rollout/resume "
                         "goes on")
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
