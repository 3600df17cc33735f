#!/usr/bin/env python3
"""Memory of a prober under a day's churn, compressed into minutes: marker
re-types, device directories created and removed, filesystems unmounted
and mounted again, loop devices attached and detached, and a full resync
(SIGHUP, as the 5-minute safety rescan does 288 times a day) every
--resync-every cycles. Samples VmRSS, open fds and threads every --sample
cycles and prints them, with the growth from the first sample after the
warm-up to the end. The optimised build, info logging, a bus receiver
acknowledging everything.

  python3 tests/bench/churn.py [--cycles 10000] [--devices 8]
                               [--resync-every 35] [--sample 1000]
"""

import argparse
import os
import shutil
import signal
import sys
import time

import benchlib
from benchlib import qmtest
from footprint import kb, status

TYPES = ("DATA_DEVICE", "METADATA_DEVICE", "DIR_DEVICE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=10000)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--resync-every", type=int, default=35)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--udev-source", default="kernel")
    a = ap.parse_args()

    env = qmtest.Env("bench-churn", a.udev_source)
    samples = []
    try:
        disks = []
        for i in range(a.devices):
            lo, mp, _ = env.filesystem("ext4", "d%02d" % i)
            qmtest.write_marker(mp, serial="CHURN-%02d" % i,
                                types=(TYPES[i % 3],))
            disks.append((lo, mp))
        rx = env.start_receiver()
        p = env.start_prober(rescan=None, log_level="info")
        rx.wait_inventory(env.agent_id, lambda inv: len(inv) == a.devices,
                          timeout=60, what="%d devices" % a.devices)
        pid = p.pid
        busy = 0
        t0 = time.monotonic()
        for n in range(1, a.cycles + 1):
            lo, mp = disks[n % len(disks)]
            kind = n % 4
            if kind == 0:    # a marker re-typed
                qmtest.write_marker(mp, serial="CHURN-%d" % n,
                                    types=(TYPES[n % 3],))
            elif kind == 1:  # a directory device comes and goes
                d = os.path.join(env.dirs, "dir%d" % (n % 50))
                if os.path.isdir(d):
                    shutil.rmtree(d)
                else:
                    os.makedirs(d)
                    qmtest.write_marker(d, types=("DATA_DEVICE",))
            elif kind == 2 and n % 20 == 2:  # unmount and mount again
                # a probe holds the root open for a moment: EBUSY then
                for _ in range(50):
                    if qmtest.run(["umount", mp], check=False).returncode == 0:
                        break
                    busy += 1
                    time.sleep(0.01)
                qmtest.run(["mount", lo.path, mp])
            elif kind == 3 and n % 40 == 3:  # a loop device's life
                extra = qmtest.LoopDevice(
                    os.path.join(env.img, "churn.img"), 1 << 20)
                extra.detach()
            if n % a.resync_every == 0:
                os.kill(pid, signal.SIGHUP)
            if n % a.sample == 0 or n == a.cycles:
                st = status(pid)
                samples.append((n, time.monotonic() - t0, kb(st["VmRSS"]),
                                kb(st["VmHWM"]),
                                len(os.listdir("/proc/%d/fd" % pid)),
                                int(st["Threads"])))
        msgs = len(rx.accepted())
        rc, _ = p.stop()
        rx.stop()
    finally:
        env.close()

    print("churn: prober, %d marked loop devices, %d cycles (a resync every "
          "%d), %s source" % (a.devices, a.cycles, a.resync_every,
                              a.udev_source))
    print(benchlib.build_info())
    print("%8s %8s %10s %10s %6s %8s" % ("cycle", "seconds", "VmRSS KiB",
                                         "VmHWM KiB", "fds", "threads"))
    for s in samples:
        print("%8d %8.1f %10d %10d %6d %8d" % s)
    base = samples[1] if len(samples) > 2 else samples[0]
    print("RSS growth from cycle %d to %d: %+d KiB; bus messages %d; "
          "umount EBUSY retries %d; prober exit status %s" % (
              base[0], samples[-1][0], samples[-1][2] - base[2], msgs, busy,
              rc))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
