#!/usr/bin/env python3
"""Stress: SIGTERM right after a publish, while its Ack may be on the way.

Not part of run.py (it hunts an intermittent race, so it is slow and its
outcome is statistical). Each attempt starts a receiver and a prober, mounts
and unmounts a marked filesystem a few times, and sends SIGTERM the moment
the receiver has printed the last delta. A prober that has not exited 5 s
later is reported as hung, with a gdb backtrace of all threads when gdb is
installed.

  python3 tests/integration/stress_shutdown.py [ATTEMPTS] [CYCLES] [DELAY_US]

DELAY_US (default 0): the receiver holds each Ack back for up to this many
microseconds (bus_receiver --ack-delay-us), swept over eleven steps from 0
across the attempts, so the SIGTERM lands at different points before and
while the Ack arrives rather than always just before it.

Default build: QM_BUILD_DIR or build-asan, like the integration tests.
Last line: "stress-shutdown: N clean, N hung, N other failures".
"""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qmtest  # noqa: E402


def attempt(n, cycles, delay_us=0):
    env = qmtest.Env("stress-shutdown-%d" % n)
    mp = os.path.join(env.mnt, "m")
    try:
        lo = env.loop()
        key = "uuid:" + lo.mkfs("ext4")
        m = qmtest.Mount(lo.path, mp)
        qmtest.write_marker(mp)
        m.umount()
        rx = env.start_receiver(
            ("--ack-delay-us", str(delay_us)) if delay_us else ())
        p = env.start_prober(log_level="info")
        rx.next(lambda m: m.get("kind") == "snapshot", qmtest.START_TIMEOUT)
        for _ in range(cycles):
            qmtest.sys_mount(lo.path, mp, "ext4")
            rx.next(lambda m: m.get("kind") == "delta" and any(
                d.get("key") == key for d in m.get("upserted", [])),
                qmtest.EVENT_TIMEOUT, interval=0.002)
            qmtest.sys_umount(mp)
            rx.next(lambda m: m.get("kind") == "delta" and
                    key in m.get("removed", []), qmtest.EVENT_TIMEOUT,
                    interval=0.002)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.proc.wait(timeout=qmtest.scaled(5))
        except subprocess.TimeoutExpired:
            print("attempt %d: HUNG after SIGTERM (pid %d)" % (n, p.pid))
            if shutil.which("gdb"):
                bt = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex",
                                     "thread apply all bt"],
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True).stdout
                print("\n".join(l for l in bt.splitlines()
                                if l.startswith(("#", "Thread"))))
            print("prober log tail:\n" + "\n".join(
                p.stderr_text().splitlines()[-6:]))
            p.kill()
            return "hung"
        p.stop()
        rx.stop()
        if rc != 0:
            print("attempt %d: exit status %s" % (n, rc))
            return "other"
        return "clean"
    except Exception as e:  # report and go on with the next attempt
        print("attempt %d: %s" % (n, e))
        return "other"
    finally:
        qmtest.umount(mp)
        env.close()


def main(argv):
    attempts = int(argv[1]) if len(argv) > 1 else 200
    cycles = int(argv[2]) if len(argv) > 2 else 3
    max_delay_us = int(argv[3]) if len(argv) > 3 else 0
    counts = {"clean": 0, "hung": 0, "other": 0}
    for n in range(attempts):
        counts[attempt(n, cycles, max_delay_us * (n % 11) // 10)] += 1
    print("stress-shutdown: %(clean)d clean, %(hung)d hung, "
          "%(other)d other failures" % counts)
    return 0 if counts["hung"] == 0 and counts["other"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
