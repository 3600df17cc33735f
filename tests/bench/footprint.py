#!/usr/bin/env python3
"""Footprint of an idle prober watching many marked devices: memory
(VmRSS, VmHWM from /proc/PID/status), CPU time (utime+stime from
/proc/PID/stat) and wakeups (voluntary + involuntary context switches,
summed over all threads from /proc/PID/task/*/status) over an idle window.
The prober runs with its default rescan and heartbeat intervals, log level
info, on the optimised build.

  python3 tests/bench/footprint.py [--devices 24] [--idle 60]
"""

import argparse
import os
import sys
import time

import benchlib
from benchlib import qmtest

TICK = os.sysconf("SC_CLK_TCK")
TYPES = ("DATA_DEVICE", "METADATA_DEVICE", "DIR_DEVICE")


def status(pid):
    return status_path("/proc/%d/status" % pid)


def kb(v):
    return int(v.split()[0])


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def run_ns(pid):
    """CPU time in ns summed over live threads (/proc/PID/task/*/schedstat);
    finer than utime+stime, which count 10 ms ticks."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def wakeups(pid):
    vol = invol = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            st = status_path("/proc/%d/task/%s/status" % (pid, tid))
        except OSError:
            continue  # thread ended meanwhile
        vol += int(st["voluntary_ctxt_switches"])
        invol += int(st["nonvoluntary_ctxt_switches"])
    return vol, invol


def status_path(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=24)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds")
    ap.add_argument("--udev-source", default="kernel")
    a = ap.parse_args()

    env = qmtest.Env("bench-footprint", a.udev_source)
    try:
        for i in range(a.devices):
            lo, mp, uuid = env.filesystem("ext4", "d%02d" % i)
            qmtest.write_marker(mp, serial="FOOT-%02d" % i,
                                types=(TYPES[i % 3],))
        rx = env.start_receiver()
        p = env.start_prober(rescan=None, log_level="info")
        t_start = time.monotonic()
        rx.wait_inventory(env.agent_id, lambda inv: len(inv) == a.devices,
                          timeout=60, what="%d devices" % a.devices)
        t_inventory = time.monotonic() - t_start
        time.sleep(2.0)  # let start-up work finish
        pid = p.pid
        s0 = status(pid)
        c0, w0, r0 = cpu_ticks(pid), wakeups(pid), run_ns(pid)
        n0 = len(rx.accepted())
        m0 = time.monotonic()
        time.sleep(a.idle)
        elapsed = time.monotonic() - m0
        c1, w1, r1 = cpu_ticks(pid), wakeups(pid), run_ns(pid)
        s1 = status(pid)
        fds = len(os.listdir("/proc/%d/fd" % pid))
        idle_msgs = rx.accepted()[n0:]
        rc, _ = p.stop()
        rx.stop()
    finally:
        env.close()

    cpu_ms = (c1 - c0) * 1000.0 / TICK
    vol, invol = w1[0] - w0[0], w1[1] - w0[1]
    kinds = {}
    for m in idle_msgs:
        kinds[m["kind"]] = kinds.get(m["kind"], 0) + 1
    print("footprint: prober with %d marked loop devices (%s source), "
          "idle %.0fs" % (a.devices, a.udev_source, elapsed))
    print(benchlib.build_info())
    rows = [
        ("first inventory complete after", "%.2f s" % t_inventory),
        ("VmRSS", "%d KiB" % kb(s1["VmRSS"])),
        ("VmHWM (peak RSS)", "%d KiB" % kb(s1["VmHWM"])),
        ("RSS growth over idle", "%+d KiB" % (kb(s1["VmRSS"]) - kb(s0["VmRSS"]))),
        ("threads", s1["Threads"]),
        ("open fds", str(fds)),
        ("CPU time over idle (utime+stime)", "%.0f ms (%.3f%% of one core)"
         % (cpu_ms, cpu_ms / (elapsed * 10.0))),
        ("CPU time over idle (schedstat)", "%.2f ms" % ((r1 - r0) / 1e6)),
        ("wakeups over idle (ctx switches)", "%d (%d voluntary, %d involuntary)"
         % (vol + invol, vol, invol)),
        ("wakeups per second", "%.2f" % ((vol + invol) / elapsed)),
        ("bus messages over idle", ", ".join("%s %d" % kv for kv in
                                             sorted(kinds.items())) or "none"),
        ("prober exit status", str(rc)),
    ]
    for k, v in rows:
        print("%-36s %s" % (k, v))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
