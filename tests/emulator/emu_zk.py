"""The masters' ZooKeeper group, as real Mesos masters keep it, for
frameworks that detect the leader with --master zk://host:port/path.

Format (1.4.0 ... 1.11.0, read at the tags in apache/mesos):
* every live master is a member: an EPHEMERAL|SEQUENCE znode
  "<path>/json.info_<10-digit seq>" (src/zookeeper/group.cpp
  GroupProcess::join(): znode + "/" + label + "_", ZOO_SEQUENCE |
  ZOO_EPHEMERAL; the label MASTER_INFO_JSON_LABEL "json.info",
  src/master/constants.hpp) holding its MasterInfo as compact JSON
  (src/master/contender/zookeeper.cpp contend(): stringify(
  JSON::protobuf(masterInfo))): id, ip (IPv4 in network order read as a
  uint32), port, pid "master@ip:port", hostname, version, address
  {hostname, ip, port}, and from 1.5.0 capabilities.
* the leader is the member with the lowest sequence, whatever its label
  (src/zookeeper/detector.cpp LeaderDetectorProcess::watched(): min of the
  memberships; group.cpp cache(): a child's sequence is its last
  "_"-separated token, children without one are skipped).

The group decides who leads, here too: every emulator process with --zk
watches the group and makes its own master lead when that master's znode
is the lowest, and otherwise redirects (307) to the leader the group names
(503 "No leader elected" when the group is empty or the leader's data
cannot be read). Several emulator processes may share one group; each has
its own agents and tasks (masters of one process, --listen repeated, share
them). A control request to move leadership re-orders this process's own
members: those ahead of the wanted leader leave and join again at the end,
as a master that lost its session and contends anew would.

Needs python3-kazoo (Debian's package; the emulator may run under another
Python, so Debian's dist-packages are added to the path when needed).
"""

import json
import logging
import sys
import threading
import urllib.parse

log = logging.getLogger("mesos-emulator.zk")

LABEL = "json.info"


def _import_kazoo():
    try:
        import kazoo.client  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import kazoo.client  # noqa: F401
    return sys.modules["kazoo.client"]


def parse_url(url):
    """zk://[user:pass@]host:port[,host:port]/path -> (hosts, path, auth)."""
    if not url.startswith("zk://"):
        raise ValueError("expected zk://host:port[,...]/path, got %r" % url)
    rest = url[5:]
    slash = rest.find("/")
    if slash <= 0 or slash == len(rest) - 1:
        raise ValueError("expected zk://host:port[,...]/path, got %r" % url)
    hosts, path = rest[:slash], rest[slash:].rstrip("/")
    auth = None
    if "@" in hosts:
        cred, hosts = hosts.rsplit("@", 1)
        auth = urllib.parse.unquote(cred)
    return hosts, path, auth


def sequence_of(name):
    """(sequence, label) of a group child as group.cpp cache() reads it,
    or None for a child that is not a member."""
    tokens = [t for t in name.split("_") if t]
    if not tokens:
        return None
    try:
        seq = int(tokens[-1])
    except ValueError:
        return None
    if not -2 ** 31 <= seq < 2 ** 31:
        return None
    return seq, (tokens[0] if len(tokens) > 1 else None)


def leader_of(info):
    """(address ip:port, location hostname:port) from MasterInfo JSON, as
    src/master/detector + http.cpp redirect() use it."""
    address = info.get("address") or {}
    port = address.get("port") or info.get("port")
    ip = address.get("ip")
    if ip is None and isinstance(info.get("pid"), str) and \
            "@" in info["pid"]:
        ip, _, pid_port = info["pid"].split("@", 1)[1].rpartition(":")
        port = port or int(pid_port)
    hostname = info.get("hostname") or address.get("hostname") or ip
    if ip is None or port is None:
        return None, None
    return "%s:%d" % (ip, int(port)), "%s:%d" % (hostname, int(port))


class Group:
    def __init__(self, url, session_timeout, cluster):
        kc = _import_kazoo()
        self.hosts, self.path, auth = parse_url(url)
        self.session_timeout = session_timeout
        self.cluster = cluster
        self.members = {}   # our master address -> znode name
        self.stopping = False
        self.lost = False
        self.wake = threading.Event()
        self.client = kc.KazooClient(
            hosts=self.hosts, timeout=max(session_timeout, 2.0),
            auth_data=[("digest", auth)] if auth else None)
        self.client.start(timeout=15)
        self.client.ensure_path(self.path)
        self.client.add_listener(self._state)
        self.thread = None

    def start_watching(self):
        """After the first members joined: follow the group."""
        self.client.ChildrenWatch(self.path, self._children)
        self.thread = threading.Thread(target=self._loop, name="zk-group",
                                       daemon=True)
        self.thread.start()

    # kazoo threads: never block them on the cluster lock
    def _children(self, children):
        if self.stopping:
            return False
        self.wake.set()
        return True

    def _state(self, state):
        if state == "LOST":
            self.lost = True    # our ephemeral znodes are gone
        self.wake.set()

    def _loop(self):
        while not self.stopping:
            self.wake.wait(1.0)
            self.wake.clear()
            if self.stopping:
                return
            try:
                with self.cluster.lock:
                    if self.lost and self.client.connected:
                        self.lost = False
                        self._rejoin()
                    if self.client.connected:
                        self.elect()
            except Exception as err:  # ZooKeeper trouble: try again
                log.warning("zk: group update failed: %s", err)

    def _rejoin(self):
        """Our session expired (ZooKeeper lost it): the live masters
        contend again, in their old order."""
        order = sorted(self.members.items(), key=lambda kv: kv[1])
        self.members = {}
        for address, _ in order:
            master = self._master(address)
            if master is not None and not getattr(master, "dead", False):
                self.join(master)

    def _master(self, address):
        for master in self.cluster.masters:
            if master.address == address:
                return master
        return None

    # ----------------------------------------------------- membership
    def join(self, master):
        """Contend: a new member at the end of the line."""
        self.leave(master.address)
        data = json.dumps(master.master_info(),
                          separators=(",", ":")).encode("utf-8")
        created = self.client.create(self.path + "/" + LABEL + "_", data,
                                     ephemeral=True, sequence=True)
        self.members[master.address] = created.rsplit("/", 1)[1]
        log.info("zk: %s joined as %s", master.address, created)

    def leave(self, address):
        name = self.members.pop(address, None)
        if name is not None:
            try:
                self.client.delete(self.path + "/" + name)
            except Exception as err:  # gone already
                log.info("zk: %s: %s", name, err)

    def order(self):
        """[(znode, sequence, label)] of the group, the leader first."""
        out = []
        for name in self.client.get_children(self.path):
            parsed = sequence_of(name)
            if parsed is not None:
                out.append((name, parsed[0], parsed[1]))
        out.sort(key=lambda item: item[1])
        return out

    def our_order(self):
        """Our members' addresses in group order."""
        names = {name: address for address, name in self.members.items()}
        return [names[n] for n, _, _ in self.order() if n in names]

    # ------------------------------------------------------- election
    def elect(self):
        """Make the cluster follow the group (caller holds cluster.lock)."""
        cluster = self.cluster
        group = self.order()
        if not group:
            cluster.move_leader(None, follow_zk=True)
            return
        name, _, label = group[0]
        for address, member in self.members.items():
            if member == name:
                cluster.move_leader(address, follow_zk=True)
                self._refresh(address)
                return
        address = location = None
        if label == LABEL:
            try:
                data, _ = self.client.get(self.path + "/" + name)
                address, location = leader_of(json.loads(data))
            except Exception as err:
                log.warning("zk: leader %s: unreadable MasterInfo: %s",
                            name, err)
        else:
            log.warning("zk: leader %s is not a %s member", name, LABEL)
        cluster.move_leader(address, location=location, follow_zk=True)

    def _refresh(self, address):
        """The leader's znode shows its current MasterInfo (the emulator
        gives a master a new id whenever it is elected)."""
        master = self._master(address)
        name = self.members.get(address)
        if master is None or name is None:
            return
        data = json.dumps(master.master_info(),
                          separators=(",", ":")).encode("utf-8")
        current, _ = self.client.get(self.path + "/" + name)
        if current != data:
            self.client.set(self.path + "/" + name, data)

    def request_leader(self, cluster, address):
        """Control `leader`: re-order our members so that `address` leads
        (or, None, withdraw them all), then follow the group."""
        target = self._master(address) if address else None
        if address is None:
            for ours in list(self.members):
                self.leave(ours)
        elif target is not None:
            if address not in self.members:
                self.join(target)
            for ours in self.our_order():
                if ours == address:
                    break
                master = self._master(ours)
                if getattr(master, "dead", False):
                    self.leave(ours)
                else:
                    self.join(master)
        self.elect()

    def close(self):
        self.stopping = True
        self.wake.set()
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass
