#!/usr/bin/env python3
"""Record master event streams from the Mesos emulator as fuzz seeds for
tests/fuzz/fuzz_events.c (tests/fuzz/seeds/events/).

    python3 tests/fuzz/record_stream.py [OUTDIR]

Each scenario starts tests/emulator/mesos_emulator.py, subscribes as a
scheduler and drives the emulator through its control API; the SUBSCRIBE
response body is written as received (RecordIO framing and all), once as
the whole stream (<scenario>.rio) and once per record (<scenario>-NN-TYPE.rio).

The emulator's IDs carry random UUIDs; they are rewritten, length for length,
to the fixed ones fuzz_events.c builds its coordinator state around (so the
RecordIO length prefixes stay right):
    framework   00000000-0000-4000-8000-000000000001-0000
    agents      00000000-0000-4000-8000-000000000002-S<n>
    offers      00000000-0000-4000-8000-000000000003-O<n>

What the emulator does not send by itself -- MESSAGE, INVERSE_OFFERS,
RESCIND_INVERSE_OFFER and an offer with `unavailability` (maintenance) --
is injected through its stream/inject control action, shaped by
include/mesos/v1/scheduler/scheduler.proto and include/mesos/v1/mesos.proto
(Mesos 1.11.0: Event.Message, Event.InverseOffers, Event.RescindInverseOffer,
InverseOffer, Unavailability), around IDs and resources of the recording.
"""

import json
import os
import queue
import re
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
import harness  # noqa: E402

FW_ID = "00000000-0000-4000-8000-000000000001"
AGENT_ID = "00000000-0000-4000-8000-000000000002"
OFFER_ID = "00000000-0000-4000-8000-000000000003"
PROBER_A = "quobyte-prober.node-a.00000000000000a1"
PROBER_B = "quobyte-prober.node-b.00000000000000b1"
DATA_B = "quobyte-data.node-b.00000000000000b2"

AGENTS = {"agents": [
    # static reservations in the agent's text form (pre-refinement or
    # "reservations" in offers, by the framework's capability)
    {"hostname": "node-a", "ip": "127.0.0.1", "port": 5051,
     "attributes": "rack:r1;quobyte_device_roots:/srv/quobyte",
     "resources": "cpus:4;mem:8192;disk:20000;ports:[31000-31099];"
                  "cpus(quobyte):2;mem(quobyte):4096"},
    # a MOUNT disk reserved for the role, and one unreserved
    {"hostname": "node-b", "ip": "127.0.0.2", "port": 5052,
     "attributes": {"rack": "r2", "level": 2},
     "resources": [
         {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}},
         {"name": "mem", "type": "SCALAR", "scalar": {"value": 8192}},
         {"name": "ports", "type": "RANGES",
          "ranges": {"range": [{"begin": 31000, "end": 31099}]}},
         {"name": "disk", "type": "SCALAR", "scalar": {"value": 5000},
          "role": "quobyte",
          "disk": {"source": {"type": "MOUNT", "mount": {"root": "/mnt/d1"}}}},
         {"name": "disk", "type": "SCALAR", "scalar": {"value": 7000},
          "disk": {"source": {"type": "MOUNT", "mount": {"root": "/mnt/d2"}}}},
     ]},
]}


class RawStream:
    """SUBSCRIBE and keep the raw response body; records are split as they
    come so the scenario can wait for them."""

    def __init__(self, address, info):
        import http.client
        self.address = address
        self.acks = queue.Queue()
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if "id" in info:
            body["framework_id"] = info["id"]
        self.conn.request("POST", "/api/v1/scheduler", json.dumps(body).encode(),
                          {"Content-Type": "application/json",
                           "Accept": "application/json"})
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError("SUBSCRIBE: %d %s" % (resp.status, resp.read()))
        self.stream_id = resp.getheader("Mesos-Stream-Id")
        self.conn.sock.settimeout(None)
        self.raw = b""
        self.records = []  # (raw bytes incl. prefix, event)
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(resp,),
                                       daemon=True)
        self.thread.start()
        first = self.wait(lambda e: True)
        self.framework_id = first["subscribed"]["framework_id"]["value"]
        threading.Thread(target=self._acker, daemon=True).start()

    def _acker(self):
        """Acknowledge every update with a uuid, as a scheduler must for
        the agent to send the task's next one."""
        while True:
            st = self.acks.get()
            if st is None:
                return
            try:
                self.call("ACKNOWLEDGE", {"agent_id": st["agent_id"],
                                          "task_id": st["task_id"],
                                          "uuid": st["uuid"]})
            except (OSError, RuntimeError):
                pass

    def _read(self, resp):
        buf = b""
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    size = int(buf[:nl])
                    if len(buf) < nl + 1 + size:
                        break
                    rec = buf[:nl + 1 + size]
                    buf = buf[nl + 1 + size:]
                    with self.cond:
                        self.raw += rec
                        ev = json.loads(rec[nl + 1:])
                        self.records.append((rec, ev))
                        self.cond.notify_all()
                    if ev["type"] == "UPDATE" and ev["update"]["status"].get("uuid"):
                        self.acks.put(ev["update"]["status"])
        except Exception:  # the stream ended
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def wait(self, pred, timeout=15, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, ev in self.records[start:]:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise RuntimeError("no such event; got %s" % [
                        e["type"] for _, e in self.records])
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.records)

    def call(self, ctype, body):
        payload = {"framework_id": {"value": self.framework_id},
                   "type": ctype, ctype.lower(): body}
        status, _, text = harness.http_call(
            self.address, payload, {"Mesos-Stream-Id": self.stream_id})
        if status != 202:
            raise RuntimeError("%s: %d %s" % (ctype, status, text))

    def close(self):
        self.acks.put(None)
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.thread.join(5)
        self.conn.close()


def offers_of(stream, agent_host, start=0):
    ev = stream.wait(lambda e: e["type"] == "OFFERS" and any(
        o["hostname"] == agent_host for o in e["offers"]["offers"]), start=start)
    return [o for o in ev["offers"]["offers"] if o["hostname"] == agent_host]


def take(offer, names, amounts):
    """Resources of the offer for a task: `amounts` of each scalar (with the
    offer's reservation fields kept), the first port, whole MOUNT disks."""
    out = []
    for r in offer["resources"]:
        if r["name"] in amounts and r["type"] == "SCALAR" and "disk" not in r:
            want = amounts[r["name"]]
            if want <= 0:
                continue
            got = min(want, r["scalar"]["value"])
            amounts[r["name"]] -= got
            out.append(dict(r, scalar={"value": got}))
        elif r["name"] == "ports" and "ports" in names:
            first = r["ranges"]["range"][0]["begin"]
            out.append(dict(r, ranges={"range": [{"begin": first, "end": first}]}))
            names = [n for n in names if n != "ports"]
        elif r["name"] == "disk" and "disk" in r and "mount" in names:
            out.append(r)
    return out


def task(tid, offer, resources, health=False):
    t = {"name": tid, "task_id": {"value": tid},
         "agent_id": offer["agent_id"], "resources": resources,
         "command": {"shell": True, "value": "sleep 600"}}
    if health:
        t["health_check"] = {"type": "COMMAND", "command": {"value": "true"},
                             "delay_seconds": 0, "interval_seconds": 1,
                             "grace_period_seconds": 0}
    return t


def launch(stream, offer, *tasks):
    stream.call("ACCEPT", {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
        "filters": {"refuse_seconds": 0}})


def inject(emu, event):
    status, answer = emu.control("stream/inject", {"event": event})
    if status != 200:
        raise RuntimeError("inject: %s" % answer)


def framework_info(refinement):
    caps = ["MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE"]
    if refinement:
        caps.append("RESERVATION_REFINEMENT")
    info = harness.framework_info(roles=("quobyte",), capabilities=caps)
    info.pop("principal", None)
    info["name"] = "quobyte"
    return info


def scenario_lifecycle(emu, refinement):
    """SUBSCRIBED, HEARTBEAT, OFFERS; launches with UPDATEs (STARTING,
    RUNNING, health), a failed task, RESCIND, the injected maintenance
    events and MESSAGE, FAILURE of an agent, an ERROR at the end."""
    s = RawStream(emu.address, framework_info(refinement))
    s.wait(lambda e: e["type"] == "HEARTBEAT")
    oa = offers_of(s, "node-a")[0]
    ob = offers_of(s, "node-b")[0]
    mark = s.mark()
    launch(s, oa, task(PROBER_A, oa, take(oa, [], {"cpus": 0.1, "mem": 64})))
    launch(s, ob,
           task(PROBER_B, ob, take(ob, [], {"cpus": 0.1, "mem": 64})),
           task(DATA_B, ob, take(ob, ["ports", "mount"], {"cpus": 1, "mem": 1024}),
                health=True))
    for tid in (PROBER_A, PROBER_B, DATA_B):
        s.wait(lambda e, tid=tid: e["type"] == "UPDATE" and
               e["update"]["status"]["task_id"]["value"] == tid and
               e["update"]["status"]["state"] == "TASK_RUNNING", start=mark)
    emu.control("task/health", {"task_id": DATA_B, "healthy": True})
    s.wait(lambda e: e["type"] == "UPDATE" and
           e["update"]["status"].get("healthy") is True, start=mark)
    # a fresh offer of what is left, then the master takes it back
    emu.control("allocate", {})
    time.sleep(0.5)
    with s.cond:
        last = [e for _, e in s.records if e["type"] == "OFFERS"][-1]
    left = last["offers"]["offers"][0]
    mark = s.mark()
    emu.control("offer/rescind", {"offer_id": left["id"]["value"]})
    s.wait(lambda e: e["type"] == "RESCIND", start=mark)
    # maintenance as the allocator would show it (mesos.proto Offer field
    # 9 `unavailability`, InverseOffer, Event.InverseOffers 1.11.0)
    now_ns = int(time.time() * 1e9)
    unav = {"start": {"nanoseconds": now_ns + 3600 * 10**9},
            "duration": {"nanoseconds": 7200 * 10**9}}
    inject(emu, {"type": "OFFERS", "offers": {"offers": [
        dict(left, id={"value": left["id"]["value"] + "0"}, unavailability=unav)]}})
    inverse_id = {"value": left["id"]["value"] + "1"}
    inject(emu, {"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": [{
        "id": inverse_id, "framework_id": {"value": s.framework_id},
        "agent_id": left["agent_id"], "url": left.get("url"),
        "unavailability": unav}]}})
    inject(emu, {"type": "RESCIND_INVERSE_OFFER",
                 "rescind_inverse_offer": {"inverse_offer_id": inverse_id}})
    inject(emu, {"type": "MESSAGE", "message": {
        "agent_id": left["agent_id"], "executor_id": {"value": PROBER_A},
        "data": "aGVsbG8="}})
    s.wait(lambda e: e["type"] == "MESSAGE")
    # a task fails, an agent goes away
    mark = s.mark()
    emu.control("task/fail", {"task_id": PROBER_A, "message": "exited 1"})
    s.wait(lambda e: e["type"] == "UPDATE" and
           e["update"]["status"]["state"] == "TASK_FAILED", start=mark)
    emu.control("agent/unreachable", {"hostname": "node-b"})
    s.wait(lambda e: e["type"] == "UPDATE" and
           e["update"]["status"]["state"] == "TASK_UNREACHABLE", start=mark)
    emu.control("agent/reregister", {"hostname": "node-b"})
    emu.control("agent/remove", {"hostname": "node-b"})
    s.wait(lambda e: e["type"] == "FAILURE", start=mark)
    # another SUBSCRIBE with our id: the old stream gets ERROR
    again = RawStream(emu.address, dict(framework_info(refinement),
                                        id={"value": s.framework_id}))
    s.wait(lambda e: e["type"] == "ERROR")
    time.sleep(0.2)
    s.close()
    again.close()
    return s


def rewrite(data):
    """Random UUIDs of the emulator to the fixed ones, same length: the
    agents' (<master-uuid>-S<n>), the offers' (<leader-uuid>-O<n>) and the
    framework's (<leader-uuid>-NNNN); others (status uuids are base64)
    stay."""
    uuid = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    data = re.sub(uuid + rb"(?=-S\d)", AGENT_ID.encode(), data)
    data = re.sub(uuid + rb"(?=-O\d)", OFFER_ID.encode(), data)
    data = re.sub(uuid + rb"(?=-\d{4}\b)", FW_ID.encode(), data)
    return data


def split(data):
    out = []
    while data:
        nl = data.index(b"\n")
        size = int(data[:nl])
        out.append(data[:nl + 1 + size])
        data = data[nl + 1 + size:]
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "seeds", "events")
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="qm-record-")
    spec = os.path.join(tmp, "agents.json")
    with open(spec, "w", encoding="utf-8") as f:
        json.dump(AGENTS, f)
    for name, refinement in (("refinement", True), ("pre-refinement", False)):
        emu = harness.Emulator(["--agent-spec", spec, "--heartbeat-interval", "1",
                                "--allocation-interval", "0.2",
                                "--health-time-scale", "0.05"])
        try:
            s = scenario_lifecycle(emu, refinement)
        finally:
            emu.stop()
        data = rewrite(s.raw)
        with open(os.path.join(outdir, name + ".rio"), "wb") as f:
            f.write(data)
        seen = {}
        for rec in split(data):
            ev = json.loads(rec[rec.index(b"\n") + 1:])
            t = ev["type"]
            seen[t] = seen.get(t, 0) + 1
            if seen[t] > 2:
                continue
            path = os.path.join(outdir, "%s-%s-%d.rio" % (name, t.lower(), seen[t]))
            with open(path, "wb") as f:
                f.write(rec)
        print("%s: %d bytes, events %s" % (name, len(data), seen))


if __name__ == "__main__":
    main()
