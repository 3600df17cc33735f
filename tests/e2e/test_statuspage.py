"""End-to-end test of the status page (coordinator/statuspage.c): a marker
whose serial and model are HTML is shown as text, checked in the DOM that
headless Chromium builds from the page; the page and its resources carry
the security headers and the Content-Security-Policy."""

import html.parser
import os
import shutil
import subprocess
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
