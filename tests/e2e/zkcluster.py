"""Harness for the failover tests: the end-to-end cluster of e2e.py (the
Mesos master emulator, real probers, loop disks) with a private real
ZooKeeper server (tests/zk/zkserver.sh) and several coordinators standing
for election with --zk.

Each coordinator is a Member: a seat with its own REST and bus ports, its
own --state-dir and its own log directory (<logs>/coordinator-<name>/, one
coordinator[.N].stderr per incarnation); every member shares the ZooKeeper
URL and one --secret-file. A member keeps its ports across restarts, so a
restarted coordinator has the same identity (REST URL) as before.

Who did what is read from the emulator's journal: a SUBSCRIBE call carries
the coordinator's FrameworkInfo.webui_url (http://<hostname>:<REST port>/,
which is also its election id), every other call the Mesos-Stream-Id of the
subscription it belongs to.

Environment (besides e2e.py's):
  QM_FAILOVER_SESSION_TIMEOUT   --zk-session-timeout of every coordinator, in
                                seconds (default 2: a killed leader blocks
                                its successor this long)
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import time
import types

import e2e
from e2e import RESOURCES, TERMINAL, qmtest, task_service, wait_until

ZKSERVER = os.path.join(e2e.SRC_DIR, "tests", "zk", "zkserver.sh")
SESSION_TIMEOUT = float(os.environ.get("QM_FAILOVER_SESSION_TIMEOUT", "2"))
ZK_PATH = "/quobyte-mesos"

VERSION = "3.0.1"
STANDARD = {"registry": ["agent1"], "metadata": ["agent2"],
            "data": ["agent2", "agent3"], "api": 1, "webconsole": 1,
            "prober": ["agent1", "agent2", "agent3"]}
# services placed anywhere, this many at most (--api-count and
# --webconsole-count default to 1)
ANYWHERE = {"api": 1, "webconsole": 1}


BUG_SIGTERM = (  # fixed in coord.c; kept for the history of the test

    "BUG: a --zk coordinator dies of a process-directed SIGTERM (exit by "
    "signal 15: no event=signal, no coordinator_stopped, no "
    "leader_resigned, so the successor waits out the session timeout): "
    "coord_run() opens the ZooKeeper store (state_open, shell/coord.c, "
    "whose client threads start then) before it blocks SIGTERM/SIGINT for "
    "its signalfd (pthread_sigmask, shell/coord.c); the ZooKeeper threads "
    "keep the signals unblocked and the kernel delivers the SIGTERM to one "
    "of them")

BUG_PAUSED = (
    "BUG: a leader whose ZooKeeper session expired while it was paused "
    "(SIGSTOP; a long GC pause or VM freeze) exits with status 1 "
    "(event=coordinator_stop reason=\"the stored state was changed by "
    "another coordinator, or this one no longer leads\") instead of "
    "stepping down and standing again, whenever its loop saves before it "
    "has handled the session events its ZooKeeper thread queued (here: "
    "POST /v1/version requests received while paused): the save's "
    "zk_run()/wait_connected() (zk.c ~764-800) renews the expired session "
    "synchronously on the loop thread, the save then fails with "
    "QM_ECONFLICT (\"stale state version\", or the fence: \"election znode "
    "is gone\") and coord_save() (coord.c ~319-336) calls coord_fatal(); "
    "coord.c never consults leader_is_leader() before acting")

_libc = ctypes.CDLL(None, use_errno=True)


def tgkill(pid, sig):
    """A signal to the main thread of process pid only."""
    if _libc.tgkill(pid, pid, sig) != 0:
        e = ctypes.get_errno()
        if e != 3:  # ESRCH: already gone
            raise OSError(e, os.strerror(e))


def duration(seconds):
    return "%dms" % round(seconds * 1000)


# --------------------------------------------------------------------------
# ZooKeeper


class ZooKeeperServer:
    """A private standalone server (tests/zk/zkserver.sh) in `directory` on a
    fixed loopback port (a free one unless given), so it can be stopped and
    started again where the coordinators expect it. Stopped, and its log
    copied to `logdir`, by the resource stack."""

    def __init__(self, directory, logdir, port=None, start=True):
        self.dir = directory
        self.logdir = logdir
        os.makedirs(directory, exist_ok=True)
        self.port = port or qmtest.free_tcp_port()
        self.address = "127.0.0.1:%d" % self.port
        self._token = RESOURCES.push("zookeeper " + directory, self._release)
        if start:
            self.start()

    def url(self, path=ZK_PATH):
        return "zk://%s%s" % (self.address, path)

    def start(self):
        p = qmtest.run([ZKSERVER, "start", self.dir, str(self.port)],
                       check=False, timeout=90)
        if p.returncode != 0:
            raise RuntimeError("zkserver.sh start failed: %s%s"
                               % (p.stdout, p.stderr))

    def stop(self):
        p = qmtest.run([ZKSERVER, "stop", self.dir], check=False, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("zkserver.sh stop failed: %s%s"
                               % (p.stdout, p.stderr))

    def running(self):
        try:
            with open(os.path.join(self.dir, "zk.pid")) as f:
                os.kill(int(f.read().strip()), 0)
            return True
        except (OSError, ValueError):
            return False

    def _release(self):
        try:
            self.stop()
        finally:
            log = os.path.join(self.dir, "zk.log")
            if os.path.exists(log) and os.path.isdir(self.logdir):
                shutil.copy(log, os.path.join(self.logdir, "zookeeper.log"))


class BlackholeProxy:
    """A TCP proxy on a free loopback port to `target` (host:port) that can
    be cut off like a network partition: while cut, nothing is forwarded in
    either direction and new connections are accepted but left hanging --
    no reset, no close, just silence, as when packets are dropped. Stopped
    by the resource stack."""

    def __init__(self, target):
        import threading
        self.target = target
        self.cut = False
        self._stop = False
        self._lock = threading.Lock()
        self._socks = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        self._token = RESOURCES.push("proxy " + self.address, self._release)

    def _accept(self):
        import threading
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._socks.append(client)
            threading.Thread(target=self._serve, args=(client,),
                             daemon=True).start()

    def _serve(self, client):
        import select
        while self.cut and not self._stop:   # a connection made while cut
            time.sleep(0.05)
        host, port = self.target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), 5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._socks.append(upstream)
        peers = {client: upstream, upstream: client}
        try:
            while not self._stop:
                if self.cut:
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for s in ready:
                    if self.cut:
                        break
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def _release(self):
        self._stop = True
        self.listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass
        self._thread.join(5)


# --------------------------------------------------------------------------
# Coordinators


class Member:
    """One coordinator seat: REST and bus ports, state dir and log dir of its
    own; start() launches a (new) coordinator process on them."""

    def __init__(self, cluster, name, zk_url, secret_file):
        self.cluster = cluster
        self.name = name
        self.zk_url = zk_url
        self.secret_file = secret_file
        port = qmtest.free_tcp_port()
        self.rest = "127.0.0.1:%d" % port
        self.bus_url = "tcp://127.0.0.1:%d" % qmtest.free_tcp_port()
        # the coordinator's election id and FrameworkInfo.webui_url
        self.webui = "http://%s:%d/" % (socket.gethostname(), port)
        self.state_dir = os.path.join(cluster.root, "state-" + name)
        self.logs = os.path.join(cluster.logs, "coordinator-" + name)
        os.makedirs(self.state_dir)
        os.makedirs(self.logs)
        self.proc = None
        self.incarnations = []

    def __repr__(self):
        return "coordinator %s (%s)" % (self.name, self.webui)

    def start(self, extra=(), zk=True, session_timeout=None):
        """A new coordinator process on this seat (the previous one must be
        gone). With zk, it stands for election on the shared ZooKeeper."""
        if self.proc is not None and self.proc.alive():
            raise AssertionError("%r is still running" % self)
        shim = types.SimpleNamespace(
            emulator=self.cluster.emulator, state_dir=self.state_dir,
            rest=self.rest, bus_url=self.bus_url, logs=self.logs)
        args = []
        if zk:
            args += ["--zk", self.zk_url, "--secret-file", self.secret_file,
                     "--zk-session-timeout",
                     duration(session_timeout or SESSION_TIMEOUT)]
        self.proc = e2e.Coordinator(shim, args + list(extra))
        self.incarnations.append(self.proc)
        self.cluster.coordinators.append(self.proc)
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def kill(self):
        """SIGKILL, as a crash would."""
        self.proc.kill()

    def stop(self):
        """SIGTERM to the process, as Mesos and Marathon send it; returns the
        exit status."""
        rc, _ = self.proc.stop(timeout=15)
        return rc

    # -- REST ---------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, timeout=5):
        return e2e.http_request(self.rest, method, path, body, headers,
                                timeout)

    def health(self):
        """(HTTP status, JSON document); (None, None) when not answering."""
        try:
            status, _, data = self.call("GET", "/v1/health", timeout=3)
        except OSError:
            return None, None
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"unparsable": data[:200].decode("replace")}

    def acting(self):
        status, doc = self.health()
        return status == 200 and doc.get("status") == "ok" and \
            doc.get("leader") is True

    def standby(self):
        status, doc = self.health()
        return status == 200 and doc.get("status") == "standby"

    def state(self):
        status, _, data = self.call("GET", "/v1/state")
        if status != 200:
            raise AssertionError("%r: GET /v1/state answered %d: %r"
                                 % (self, status, data[:300]))
        return json.loads(data)

    def post_version(self, version):
        return self.call("POST", "/v1/version", version,
                         {"Content-Type": "text/plain"})

    def log_events(self, event, since=0, all_incarnations=False):
        procs = self.incarnations if all_incarnations else [self.proc]
        out = []
        for p in procs:
            out += p.log_events(event, since if p is self.proc else 0)
        return out

    def log_lines(self):
        return len(self.proc.stderr_lines())


def point_at(cluster, member):
    """Make the e2e Cluster's REST helpers (state, set_version, quiesce,
    wait_reporting, finish) talk to this member."""
    cluster.rest = member.rest
    cluster.bus_url = member.bus_url
    cluster.coordinator = member.proc


def wait_one_leader(cluster, members, timeout=30, exclude=()):
    """Wait until exactly one live member acts (health 200 "ok", leader) and
    every other live one is standby naming it; returns the leader. Fails at
    once if two act at the same time."""
    def check():
        acting = []
        for m in members:
            if m.alive() and m.acting():
                acting.append(m)
        if len(acting) > 1:
            raise AssertionError("two coordinators act at once: %s" % acting)
        if len(acting) != 1 or acting[0] in exclude:
            return None
        leader = acting[0]
        for m in members:
            if m is leader or not m.alive():
                continue
            status, doc = m.health()
            if status != 200 or doc.get("status") != "standby" or \
                    doc.get("leader_id") != leader.webui:
                return None
        return leader
    for m in members:
        if m.proc is not None and not m.alive() and not m.proc.stopped:
            raise AssertionError("%r exited (%s):\n%s" % (
                m, m.proc.proc.returncode, m.proc.stderr_text()[-3000:]))
    leader = wait_until(check, timeout, interval=0.05,
                        what="one acting coordinator, the others standby")
    point_at(cluster, leader)
    return leader


# --------------------------------------------------------------------------
# The journal, by coordinator


def subscribe_owner(record):
    """webui_url of a SUBSCRIBE call record."""
    body = record.get("body") or {}
    return (((body.get("subscribe") or {}).get("framework_info") or {})
            .get("webui_url"))


def subscribes(records, status=200):
    return [r for r in records if r.get("direction") == "call" and
            r.get("call_type") == "SUBSCRIBE" and
            (status is None or r.get("status") == status)]


def stream_owners(records):
    """{stream id: webui_url} of every successful SUBSCRIBE."""
    return {r.get("stream_id"): subscribe_owner(r)
            for r in subscribes(records) if r.get("stream_id")}


def call_owner(record, owners):
    """webui_url of the coordinator that made a call (None: unknown)."""
    if record.get("call_type") == "SUBSCRIBE":
        return subscribe_owner(record)
    sid = (record.get("headers") or {}).get("Mesos-Stream-Id")
    return owners.get(sid)


def calls_of(records, webui, call_type=None):
    owners = stream_owners(records)
    return [r for r in records if r.get("direction") == "call" and
            (call_type is None or r.get("call_type") == call_type) and
            call_owner(r, owners) == webui]


def launches(records):
    """[(record, TaskInfo)] of every accepted LAUNCH."""
    out = []
    for r in records:
        if r.get("direction") == "call" and \
                r.get("call_type") == "ACCEPT" and \
                200 <= int(r.get("status") or 0) < 300:
            for op in (r.get("body") or {}).get("accept", {}).get(
                    "operations") or []:
                for info in (op.get("launch") or {}).get("task_infos") or []:
                    out.append((r, info))
    return out


def prober_urls(records):
    """{prober task id: the bus URL it was launched with}."""
    return {info["task_id"]["value"]:
            e2e.env_of(info).get("QUOBYTE_PROBER_COORDINATOR")
            for _, info in launches(records)
            if task_service(info) == "prober"}


def agent_hosts(cluster):
    return {a["agent_id"]: a["hostname"]
            for a in cluster.emulator.control("agents")["agents"]}


def terminal_updates(records):
    """{task id: journal line of its first terminal UPDATE event}."""
    out = {}
    for r in records:
        if r.get("direction") != "event":
            continue
        ev = r.get("event") or {}
        if ev.get("type") != "UPDATE":
            continue
        st = ev["update"]["status"]
        if st.get("state") in TERMINAL:
            out.setdefault(st["task_id"]["value"], r["_line"])
    return out


def overlap_violations(records, hosts):
    """The journal, replayed: a task lives from its LAUNCH (accepted ACCEPT)
    to its first terminal UPDATE. Never may two tasks of one service live on
    one agent at once. Of api and webconsole (placed anywhere) never more
    than wanted may live at one version, nor more than one extra in all:
    a rolling upgrade launches the new one on another agent in the same
    planning pass that kills the old one (the two calls race to the
    master), so old and new may live side by side for a moment. An api or
    webconsole whose agent is unreachable (TASK_UNREACHABLE) is replaced
    elsewhere after --unreachable-grace (plan_rules.c, by design): from
    that update until its next non-terminal one it does not count against
    the wanted number, but it still holds its node. Returns a list of
    messages."""
    ends = terminal_updates(records)
    events = []
    info_of = {}
    for r, info in launches(records):
        tid = info["task_id"]["value"]
        svc = task_service(info)
        host = hosts.get(info["agent_id"]["value"], info["agent_id"]["value"])
        version = e2e.labels_of(info).get("version")
        info_of[tid] = (svc, host, version)
        events.append((r["_line"], 1, tid, svc, host, version, "launch"))
        if tid in ends:
            # a launch the master refuses at once (an offer of an agent
            # removed meanwhile: TASK_DROPPED) has its terminal update
            # journalled BEFORE the ACCEPT record: it ends right after it
            events.append((max(ends[tid], r["_line"] + 0.5), 0, tid, svc,
                           host, version, "end"))
    for r in records:
        ev = r.get("event") or {}
        if r.get("direction") != "event" or ev.get("type") != "UPDATE":
            continue
        st = ev["update"]["status"]
        tid = st["task_id"]["value"]
        if tid not in info_of or info_of[tid][0] not in ANYWHERE or \
                st.get("state") in TERMINAL:
            continue
        kind = "away" if st.get("state") == "TASK_UNREACHABLE" else "back"
        events.append((r["_line"], 0, tid) + info_of[tid] + (kind,))
    events.sort(key=lambda e: (e[0], e[1]))
    live_slot = {}
    live_version = {}
    live_svc = {}
    away = set()
    ended = set()
    out = []
    for line, start, tid, svc, host, version, kind in events:
        sets = (live_slot.setdefault((svc, host), set()),
                live_version.setdefault((svc, version), set()),
                live_svc.setdefault(svc, set()))
        if kind in ("away", "back"):
            if tid in ended or (kind == "back") != (tid in away):
                continue
            for s in sets[1:]:
                (s.discard if kind == "away" else s.add)(tid)
            (away.add if kind == "away" else away.discard)(tid)
            continue
        if not start:
            ended.add(tid)
        for s in sets:
            (s.add if start else s.discard)(tid)
        if not start:
            continue
        slot, same_version, anywhere = sets
        if len(slot) > 1:
            out.append("line %d: %d live %s tasks on %s: %s"
                       % (line, len(slot), svc, host, sorted(slot)))
        if svc in ANYWHERE and (len(same_version) > ANYWHERE[svc] or
                                len(anywhere) > ANYWHERE[svc] + 1):
            out.append("line %d: %d live %s tasks (%d at version %s): %s"
                       % (line, len(anywhere), svc, len(same_version),
                          version, sorted(anywhere)))
    return out


def relaunch_violations(records, hosts):
    """Nothing failed, so no service may ever be launched twice at one
    version: one task per (service, agent, version), one api and one
    webconsole per version. Probers are replaced on a failover and are not
    counted. Returns a list of messages."""
    seen = {}
    for r, info in launches(records):
        svc = task_service(info)
        if svc == "prober":
            continue
        version = e2e.labels_of(info).get("version")
        host = hosts.get(info["agent_id"]["value"], info["agent_id"]["value"])
        key = (svc, version) if svc in ANYWHERE else (svc, host, version)
        seen.setdefault(key, []).append((r["_line"],
                                         info["task_id"]["value"]))
    return ["%s launched %d times: %s" % ("/".join(k), len(v), v)
            for k, v in sorted(seen.items()) if len(v) > 1]


def service_kills(records, since=0):
    """KILL calls naming a service (non-prober) task after journal line
    `since`."""
    return [r for r in records if r.get("direction") == "call" and
            r.get("call_type") == "KILL" and r["_line"] > since and
            task_service(r["body"]["kill"]["task_id"]["value"]) != "prober"]


def known_tasks(state):
    """Task ids the leader's /v1/state knows (services and probers)."""
    known = set()
    for node in state["nodes"]:
        known.update(s["task_id"] for s in node["services"])
        if node["prober"].get("task"):
            known.add(node["prober"]["task"]["task_id"])
    known.update(t["task_id"] for t in state["tasks_on_unknown_agents"])
    return known


def task_versions(records):
    """{task id: its TaskInfo's version label} of every launched task."""
    return {info["task_id"]["value"]: e2e.labels_of(info).get("version")
            for _, info in launches(records)}


def wait_converged(cluster, leader, expected=STANDARD, version=None,
                   timeout=60):
    """The cluster runs exactly `expected` (e2e's wait_running, exact), every
    live service task at `version` (when given), every live prober was
    launched with the leader's bus URL and reports to it, and the leader
    knows exactly the tasks that live."""
    point_at(cluster, leader)
    cluster.wait_running(expected, timeout=timeout)
    if version is not None:
        def at_version():
            versions = task_versions(cluster.journal())
            return all(versions.get(t["task_id"]) == version
                       for t in cluster.emulator.live_tasks()
                       if task_service(t["task_id"]) != "prober")
        try:
            wait_until(at_version, timeout, interval=0.1,
                       what="every service task at version %s" % version)
        except TimeoutError as e:
            versions = task_versions(cluster.journal())
            raise AssertionError("%s: %s; problems %s" % (e, {
                t["task_id"]: versions.get(t["task_id"])
                for t in cluster.emulator.live_tasks()},
                leader.state().get("problems")))
        cluster.wait_running(expected, timeout=timeout)

    def probers_current():
        urls = prober_urls(cluster.journal())
        return all(urls.get(t["task_id"]) == leader.bus_url
                   for t in cluster.emulator.live_tasks()
                   if task_service(t["task_id"]) == "prober")
    try:
        wait_until(probers_current, timeout, interval=0.1,
                   what="every prober launched with %s" % leader.bus_url)
    except TimeoutError as e:
        urls = prober_urls(cluster.journal())
        raise AssertionError("%s: %s" % (e, {
            t["task_id"]: urls.get(t["task_id"])
            for t in cluster.emulator.live_tasks()
            if task_service(t["task_id"]) == "prober"}))
    cluster.wait_running(expected, timeout=timeout)
    cluster.wait_reporting(timeout=timeout)

    def known_is_live():
        live = {t["task_id"] for t in cluster.emulator.live_tasks()}
        return known_tasks(leader.state()) == live
    try:
        wait_until(known_is_live, timeout, interval=0.1,
                   what="the leader knows exactly the live tasks")
    except TimeoutError as e:
        live = {t["task_id"] for t in cluster.emulator.live_tasks()}
        known = known_tasks(leader.state())
        raise AssertionError("%s: unknown to it %s, gone %s"
                             % (e, sorted(live - known), sorted(known - live)))


class FailoverTestCase(e2e.E2ETestCase):
    """A Cluster (e2e.py), a ZooKeeper server in <root>/zk and a shared
    secret file; members() makes coordinator seats."""

    START_ZK = True

    def setUp(self):
        super().setUp()
        c = self.cluster
        self.zk = ZooKeeperServer(os.path.join(c.root, "zk"), c.logs,
                                  start=self.START_ZK)
        self.secret_file = os.path.join(c.root, "cluster.secret")
        with open(self.secret_file, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        self.members = []

    def member(self, name):
        m = Member(self.cluster, name, self.zk.url(), self.secret_file)
        self.members.append(m)
        return m

    def wait_leader(self, timeout=30, exclude=()):
        return wait_one_leader(self.cluster, self.members, timeout, exclude)

    def finish(self, leader, audit_checks=None):
        """Quiesce (e2e), stop every member, the leader last (SIGTERM to the
        main thread, see Member.stop: exit status 0), then e2e's finish():
        sanitizer check of every coordinator that ran, none crashed,
        emulator stopped, probers' stderr checked, journal audited."""
        point_at(self.cluster, leader)
        self.cluster.quiesce()
        self.assertTrue(leader.alive(), "%r died" % leader)
        for m in [m for m in self.members if m is not leader] + [leader]:
            if m.alive():
                rc = m.stop()
                self.assertEqual(rc, 0, "%r: exit status %s on SIGTERM:\n%s"
                                 % (m, rc, m.proc.stderr_text()[-3000:]))
        self.cluster.finish(self, quiesce=False, audit_checks=audit_checks)

