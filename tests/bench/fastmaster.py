#!/usr/bin/env python3
"""A minimal, fast Mesos master stand-in for the coordinator's scale
benchmark (offer_cycle.py --master fast). NOT a test oracle: the strict
emulator (tests/emulator) is that. This one only has to answer quickly with
10,000 agents, where the emulator's per-call allocation (all agents x all
tasks, offers and filters, under one lock) makes calls wait past the
coordinator's call timeout.

What it does (v1 scheduler API, JSON, asyncio, one thread):
  * SUBSCRIBE -> 200 chunked RecordIO stream with Mesos-Stream-Id,
    SUBSCRIBED, then HEARTBEAT every --heartbeat-interval; one OFFERS event
    with an offer for every agent right after SUBSCRIBED and after every
    REVIVE (one offer per agent without an outstanding offer; the same
    resources every time: there is no resource accounting);
  * SUPPRESS stops nothing already sent; REVIVE offers again at once;
  * ACCEPT: every LAUNCHed task gets TASK_RUNNING (with a uuid; the
    acknowledgement is not awaited); KILL -> TASK_KILLED;
  * RECONCILE: explicit -> the known state or TASK_GONE; implicit -> every
    known task (reason REASON_RECONCILIATION, no uuid);
  * every other call -> 202.
Offer and task shapes are those of the emulator (and of Mesos).

Journal (--journal): one compact JSON line per call and per OFFERS/UPDATE
event, in the subset of the emulator's journal format that offer_cycle.py
reads: {"direction":"call","ts","call_type","status","launches"?,
"offers"? (offer ids an ACCEPT or DECLINE named)} and
{"direction":"event","ts","event":{"type"},"n","bytes"} /
{"direction":"event","ts","event":{"type":"UPDATE","update":{"status":...}}}.
"ts" is time.time() when a call was answered / just before an event was
written.

  fastmaster.py --listen 127.0.0.1:0 --agents N --ready-file F --journal J
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import time
import uuid as uuidlib

RESOURCES = [
    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0}},
    {"name": "disk", "type": "SCALAR", "scalar": {"value": 102400.0}},
    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32768.0}},
    {"name": "ports", "type": "RANGES", "ranges": {"range": [
        {"begin": 7000, "end": 9000}, {"begin": 31000, "end": 32000}]}},
]


class Master:
    def __init__(self, args):
        self.args = args
        self.id = str(uuidlib.uuid4())
        self.agents = [("%s-S%d" % (self.id, i), "agent%d" % (i + 1))
                       for i in range(args.agents)]
        self.framework_id = None
        self.role = "*"
        self.stream = None          # asyncio writer of the SUBSCRIBE stream
        self.stream_id = None
        self.offer_counter = 0
        self.outstanding = {}       # offer id -> agent id
        self.offered_agents = set()
        self.tasks = {}             # task id -> (agent id, state)
        self.journal = open(args.journal, "a") if args.journal else None
        self.hb_task = None
        self.port = 0

    # -------------------------------------------------------------- journal
    def note(self, rec):
        if self.journal:
            rec.setdefault("ts", round(time.time(), 6))
            self.journal.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self.journal.flush()

    # --------------------------------------------------------------- events
    async def send(self, event, journal=None):
        w = self.stream
        if w is None or w.is_closing():
            return
        data = json.dumps(event, separators=(",", ":")).encode()
        rec = str(len(data)).encode() + b"\n" + data
        if journal is not None:
            journal.update({"direction": "event", "bytes": len(data)})
            self.note(journal)
        w.write(b"%x\r\n%s\r\n" % (len(rec), rec))
        await w.drain()

    async def offer_all(self):
        offers = []
        for aid, host in self.agents:
            if aid in self.offered_agents:
                continue
            oid = "%s-O%d" % (self.id, self.offer_counter)
            self.offer_counter += 1
            self.outstanding[oid] = aid
            self.offered_agents.add(aid)
            offers.append({
                "id": {"value": oid},
                "framework_id": {"value": self.framework_id},
                "agent_id": {"value": aid},
                "hostname": host,
                "url": {"scheme": "http", "address": {
                    "hostname": host, "ip": "127.0.0.1", "port": 5051},
                    "path": "/slave(1)"},
                "allocation_info": {"role": self.role},
                "resources": [dict(r, allocation_info={"role": self.role})
                              for r in RESOURCES],
            })
        if offers:
            await self.send({"type": "OFFERS", "offers": {"offers": offers}},
                            {"event": {"type": "OFFERS"}, "n": len(offers)})

    async def update(self, task_id, agent_id, state, reconcile=False):
        st = {"task_id": {"value": task_id}, "state": state,
              "agent_id": {"value": agent_id},
              "timestamp": time.time()}
        if reconcile:
            st["source"] = "SOURCE_MASTER"
            st["reason"] = "REASON_RECONCILIATION"
            st["message"] = "Reconciliation: Latest task state"
        else:
            st["source"] = "SOURCE_EXECUTOR"
            st["executor_id"] = {"value": task_id}
            st["uuid"] = base64.b64encode(os.urandom(16)).decode()
        ev = {"type": "UPDATE", "update": {"status": st}}
        await self.send(ev, {"event": {"type": "UPDATE", "update": {
            "status": {"task_id": {"value": task_id}, "state": state,
                       "agent_id": {"value": agent_id}}}}})

    async def heartbeats(self):
        while self.stream is not None and not self.stream.is_closing():
            await asyncio.sleep(self.args.heartbeat_interval)
            await self.send({"type": "HEARTBEAT"})

    # ---------------------------------------------------------------- calls
    async def subscribe(self, call, writer):
        info = call["subscribe"]["framework_info"]
        roles = info.get("roles") or ([info["role"]] if info.get("role")
                                      else ["*"])
        self.role = roles[0]
        fid = (info.get("id") or {}).get("value")
        self.framework_id = fid or "%s-0000" % self.id
        if self.stream is not None:
            self.stream.close()
        self.stream = writer
        self.stream_id = str(uuidlib.uuid4())
        self.outstanding.clear()
        self.offered_agents.clear()
        writer.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\nMesos-Stream-Id: %s\r\n"
                      "\r\n" % self.stream_id).encode())
        self.note({"direction": "call", "call_type": "SUBSCRIBE",
                   "status": 200})
        await self.send({"type": "SUBSCRIBED", "subscribed": {
            "framework_id": {"value": self.framework_id},
            "heartbeat_interval_seconds": self.args.heartbeat_interval,
            "master_info": {"id": self.id, "ip": 16777343, "port": self.port,
                            "hostname": "127.0.0.1", "version": "1.11.0",
                            "address": {"hostname": "127.0.0.1",
                                        "ip": "127.0.0.1",
                                        "port": self.port}}}})
        await self.send({"type": "HEARTBEAT"})
        if self.hb_task:
            self.hb_task.cancel()
        self.hb_task = asyncio.ensure_future(self.heartbeats())
        await self.offer_all()

    async def call(self, call):
        ct = call.get("type")
        rec = {"direction": "call", "call_type": ct, "status": 202}
        after = []
        if ct == "DECLINE":
            rec["offers"] = len(call["decline"].get("offer_ids", []))
            for o in call["decline"].get("offer_ids", []):
                aid = self.outstanding.pop(o["value"], None)
                self.offered_agents.discard(aid)
        elif ct == "ACCEPT":
            n = 0
            rec["offers"] = len(call["accept"].get("offer_ids", []))
            for o in call["accept"].get("offer_ids", []):
                aid = self.outstanding.pop(o["value"], None)
                self.offered_agents.discard(aid)
            for op in call["accept"].get("operations", []):
                for ti in (op.get("launch") or {}).get("task_infos", []):
                    tid = ti["task_id"]["value"]
                    aid = ti["agent_id"]["value"]
                    self.tasks[tid] = (aid, "TASK_RUNNING")
                    after.append((tid, aid, "TASK_RUNNING", False))
                    n += 1
            rec["launches"] = n
        elif ct == "KILL":
            tid = call["kill"]["task_id"]["value"]
            t = self.tasks.pop(tid, None)
            if t:
                after.append((tid, t[0], "TASK_KILLED", False))
        elif ct == "RECONCILE":
            asked = call["reconcile"].get("tasks") or []
            if asked:
                for x in asked:
                    tid = x["task_id"]["value"]
                    t = self.tasks.get(tid)
                    aid = (x.get("agent_id") or {}).get("value") or ""
                    after.append((tid, t[0] if t else aid,
                                  t[1] if t else "TASK_GONE", True))
            else:
                for tid, (aid, state) in self.tasks.items():
                    after.append((tid, aid, state, True))
        elif ct == "REVIVE":
            after.append("offer")
        self.note(rec)
        return after

    async def run_after(self, after):
        for a in after:
            if a == "offer":
                await self.offer_all()
            else:
                await self.update(*a)

    # ------------------------------------------------------------- HTTP
    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                n = int(headers.get("content-length", "0") or 0)
                if n:
                    body = await reader.readexactly(n)
                if method != "POST" or not path.endswith("/api/v1/scheduler"):
                    writer.write(b"HTTP/1.1 404 Not Found\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                call = json.loads(body)
                if call.get("type") == "SUBSCRIBE":
                    await self.subscribe(call, writer)
                    # the stream stays open until the peer goes away
                    await reader.read()
                    if self.stream is writer:
                        self.stream = None
                    return
                after = await self.call(call)
                writer.write(b"HTTP/1.1 202 Accepted\r\n"
                             b"Content-Length: 0\r\n\r\n")
                await writer.drain()
                if after:
                    await self.run_after(after)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass


async def main_async(args):
    m = Master(args)
    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(m.handle, host, int(port),
                                        backlog=4096, limit=1 << 24)
    m.port = server.sockets[0].getsockname()[1]
    ready = {"listen": ["%s:%d" % (host, m.port)], "pid": os.getpid(),
             "agents": [a for a, _ in m.agents],
             "hostnames": [h for _, h in m.agents],
             "journal": args.journal}
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ready, f)
        os.rename(tmp, args.ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    if m.stream:
        m.stream.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--heartbeat-interval", type=float, default=15.0)
    ap.add_argument("--ready-file")
    ap.add_argument("--journal")
    args = ap.parse_args()
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
