#!/usr/bin/env python3
"""New-mount latency: mount(2) of a marked filesystem returns -> the delta
carrying the device received by the coordinator's end; then umount2(2)
returns -> the delta removing it. One loop device, mounted and unmounted
once per trial. Unmounting is also timed from the call: the mount leaves the
mount table before umount2() has finished shutting the filesystem down, so
the delta can arrive before the call returns.

Latency = receiver's recv_mono_ns minus time.monotonic_ns() read right after
the system call returned (same clock, one machine).

  python3 tests/bench/new_mount.py [--trials 50] [--debounce DUR]
                                   [--udev-source kernel|udev]
"""

import argparse
import os
import sys
import time

import benchlib
from benchlib import qmtest

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--debounce", help="pass --debounce to the prober")
    ap.add_argument("--udev-source", default="kernel")
    ap.add_argument("--fs", default="ext4", choices=("ext4", "xfs"))
    a = ap.parse_args()

    env = qmtest.Env("bench-new-mount", a.udev_source)
    udevd = None
    try:
        if a.udev_source == "udev":
            udevd = qmtest.Udevd()
        lo = env.loop((320 << 20) if a.fs == "xfs" else (64 << 20))
        uuid = lo.mkfs(a.fs)
        key = "uuid:" + uuid
        mp = os.path.join(env.mnt, "m")
        os.mkdir(mp)
        m = qmtest.Mount(lo.path, mp)
        qmtest.write_marker(mp, serial="BENCH-MOUNT")
        m.umount()

        rx = env.start_receiver()
        extra = ["--debounce", a.debounce] if a.debounce else []
        p = env.start_prober(extra, log_level="info")
        rx.next(lambda m: m.get("kind") == "snapshot", qmtest.START_TIMEOUT,
                what="first snapshot")
        mounted, unmounted, unmounted_call, umount_took = [], [], [], []
        for i in range(a.trials):
            qmtest.sys_mount(lo.path, mp, a.fs)
            t0 = time.monotonic_ns()
            msg = rx.next(lambda m: m.get("kind") == "delta" and any(
                d.get("key") == key for d in m.get("upserted", [])),
                qmtest.EVENT_TIMEOUT, what="mount delta %d" % i, interval=0.002)
            mounted.append(int(msg["recv_mono_ns"]) - t0)

            t_call = time.monotonic_ns()
            qmtest.sys_umount(mp)
            t0 = time.monotonic_ns()
            msg = rx.next(lambda m: m.get("kind") == "delta" and
                          key in m.get("removed", []), qmtest.EVENT_TIMEOUT,
                          what="umount delta %d" % i, interval=0.002)
            unmounted.append(int(msg["recv_mono_ns"]) - t0)
            unmounted_call.append(int(msg["recv_mono_ns"]) - t_call)
            umount_took.append(t0 - t_call)
        rc, _ = p.stop()
        rx.stop()
    finally:
        qmtest.umount(os.path.join(env.mnt, "m"))
        env.close()
        if udevd:
            udevd.stop()

    print("new_mount: mount(2)/umount2(2) returns -> delta at receiver (%s, %s "
          "source, debounce %s)" % (a.fs, a.udev_source,
                                    a.debounce or "default"))
    print(benchlib.build_info())
    print(benchlib.latency_header())
    print(benchlib.latency_row("mount", mounted))
    print(benchlib.latency_row("umount (from return)", unmounted))
    print(benchlib.latency_row("umount (from call)", unmounted_call))
    print(benchlib.latency_row("umount2() duration", umount_took))
    print("note: the mount leaves the table (and the prober sees it) before "
          "umount2() has\nfinished shutting the filesystem down, so "
          "'from return' can be negative.")
    print("prober exit status: %s" % rc)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
