#!/usr/bin/env python3
"""Follow a bus receiver's JSON-lines output and print each node's device
inventory whenever it changes (used by examples/local-cluster.sh).

Usage: inventory_view.py BUS.jsonl
"""
import json
import os
import sys
import time


def describe(dev):
    types = ",".join(dev.get("types", [])) or "-"
    state = dev.get("state", "?")
    line = "  %-40s %-6s %-12s %-18s state=%s" % (
        dev.get("root", "?"), dev.get("fs_type", "dir" if dev.get("is_directory") else "?"),
        dev.get("block_device", "-"), types, state)
    for key in ("serial", "device_id", "error", "conflict"):
        if dev.get(key):
            line += " %s=%s" % (key, json.dumps(dev[key]))
    if dev.get("bootstrap"):
        line += " bootstrap"
    return line


def show(node, devices, why):
    stamp = time.strftime("%H:%M:%S")
    print("[%s] %s: %s; %d device(s)" % (stamp, node, why, len(devices)), flush=True)
    for key in sorted(devices, key=lambda k: devices[k].get("root", k)):
        print(describe(devices[key]), flush=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    while not os.path.exists(path):
        time.sleep(0.05)
    nodes = {}
    with open(path) as f:
        buf = ""
        while True:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.05)
                continue
            buf += chunk
            if not buf.endswith("\n"):
                continue
            line, buf = buf, ""
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("kind")
            node = (msg.get("node") or {}).get("agent_id", "?")
            if kind == "rejected":
                print("rejected message: %s" % msg.get("error"), flush=True)
            elif kind == "snapshot":
                nodes[node] = {d["key"]: d for d in msg.get("devices", [])}
                show(node, nodes[node], "snapshot generation %s" % msg.get("generation"))
            elif kind == "delta":
                devs = nodes.setdefault(node, {})
                for d in msg.get("upserted", []):
                    devs[d["key"]] = d
                for k in msg.get("removed", []):
                    devs.pop(k, None)
                what = []
                if msg.get("upserted"):
                    what.append("%d changed" % len(msg["upserted"]))
                if msg.get("removed"):
                    what.append("%d removed" % len(msg["removed"]))
                show(node, devs, "delta to generation %s (%s)" % (
                    msg.get("generation"), ", ".join(what) or "client mount point"))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
