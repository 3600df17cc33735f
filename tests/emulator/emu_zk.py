"""The masters' ZooKeeper group, as real Mesos masters keep it, for
frameworks that detect the leader with --master zk://host:port/path.

Every live master is a member: an EPHEMERAL_SEQUENTIAL znode
"<path>/json.info_<10-digit seq>" holding its MasterInfo as JSON
(src/master/contender/zookeeper.cpp and src/master/constants.cpp
MASTER_INFO_JSON_LABEL, 1.4.0 ... 1.11.0), and the member with the lowest
sequence leads (src/zookeeper/detector.cpp). The emulator decides who leads
(its `leader` control, a killed leader's successor); this module makes the
group say the same: members ahead of the leader leave and join again at the
end, as a master that lost its session and contends anew would.

Needs python3-kazoo (Debian's package; the emulator may run under another
Python, so Debian's dist-packages are added to the path when needed).
"""

import json
import logging
import sys
import threading
import urllib.parse

log = logging.getLogger("mesos-emulator.zk")

LABEL = "json.info_"


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


class Group:
    def __init__(self, url, session_timeout):
        kc = _import_kazoo()
        self.hosts, self.path, auth = parse_url(url)
        self.session_timeout = session_timeout
        self.lock = threading.Lock()
        self.members = {}   # master address -> znode name
        self.client = kc.KazooClient(
            hosts=self.hosts, timeout=max(session_timeout, 2.0),
            auth_data=[("digest", auth)] if auth else None)
        self.client.start(timeout=15)
        self.client.ensure_path(self.path)

    def join(self, master):
        """Contend: a new member at the end of the line."""
        with self.lock:
            self._leave(master.address)
            data = json.dumps(master.master_info()).encode("utf-8")
            created = self.client.create(self.path + "/" + LABEL, data,
                                         ephemeral=True, sequence=True)
            self.members[master.address] = created.rsplit("/", 1)[1]
            log.info("zk: %s joined as %s", master.address, created)

    def _leave(self, address):
        name = self.members.pop(address, None)
        if name is not None:
            try:
                self.client.delete(self.path + "/" + name)
            except Exception as err:  # gone already
                log.info("zk: %s: %s", name, err)

    def leave(self, address):
        with self.lock:
            self._leave(address)

    def order(self):
        with self.lock:
            return sorted(self.members.items(), key=lambda kv: kv[1])

    def make_leader(self, master, others):
        """Members ahead of `master` rejoin behind it (their sessions were
        lost); `master` gets fresh MasterInfo (a new id after election)."""
        if master.address not in self.members:
            self.join(master)
        ahead = []
        for address, _ in self.order():
            if address == master.address:
                break
            ahead.append(address)
        for m in others:
            if m.address in ahead:
                self.join(m)
        self._refresh(master)

    def _refresh(self, master):
        with self.lock:
            name = self.members.get(master.address)
            if name is None:
                return
            self.client.set(self.path + "/" + name, json.dumps(
                master.master_info()).encode("utf-8"))

    def close(self):
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass
