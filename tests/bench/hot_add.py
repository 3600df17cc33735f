#!/usr/bin/env python3
"""Hot-add latency: a marker written and closed on an already-mounted
filesystem -> the delta carrying the device received by the coordinator's
end (bus_receiver). Trials alternate: create the marker (with a new serial
each time), then delete it; both directions are reported.

Latency = receiver's CLOCK_MONOTONIC at receipt (recv_mono_ns) minus
time.monotonic_ns() read right after close()/unlink() returned; the same
clock on one machine. Each action comes --gap after the previous delta
(default 50 ms: longer than the debounce window, as when an operator marks
a disk; with --gap 0 every action falls into the window the previous one
opened and measures the coalescing instead).

  python3 tests/bench/hot_add.py [--trials 200] [--debounce DUR]
                                 [--udev-source kernel|udev] [--gap MS]
                                 [--mode command|docker|both]

--mode docker runs the prober as a Docker-mode prober task runs it: from
our image (containers/Dockerfile, built from this tree), entry point
overridden, root, host network and PID namespace, privileged, /dev, /run/udev
and /sys from the host, the host's mounts reached through --host-root
(/proc/<this process>/root: the same mechanism as /proc/1/root, which also
works where the disks live in a mount namespace of their own, as in CI's
chroot). --mode both measures one after the other and prints both.
"""

import argparse
import os
import sys
import time

import benchlib
from benchlib import qmtest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "container"))
import qmcontainers  # noqa: E402  (tests/container)


def docker_prober(env, podman, extra):
    """The prober in a container of our image, as the coordinator's Docker
    prober task specifies it (coordinator/core/taskinfo.c
    taskspec_prober_task), plus the credential file bound in."""
    cred = env.credential_file()
    args = env.prober_args(credential_file=cred, extra=list(extra) + [
        "--host-root", "/proc/%d/root" % os.getpid()], log_level="info")
    argv = ["podman"] + podman["args"] + [
        "run", "--rm", "--name", "qm-bench-prober-%d" % os.getpid(),
        "--label", "qm.bench=hot_add", "--network", "host", "--pid", "host",
        "--privileged", "--user", "0", "--entrypoint",
        "/usr/local/bin/quobyte-prober",
        "-v", "/dev:/dev", "-v", "/run/udev:/run/udev:ro",
        "-v", "/sys:/sys:ro", "-v", "%s:%s:ro" % (cred, cred)] + \
        podman["ulimits"] + [qmcontainers.PROBER_IMAGE] + args
    return qmtest.Process("prober-docker", argv, env.logs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200,
                    help="marker creations measured (each followed by a "
                         "measured deletion)")
    ap.add_argument("--debounce", help="pass --debounce to the prober "
                    "(default: the prober's own default)")
    ap.add_argument("--udev-source", default="kernel")
    ap.add_argument("--gap", type=float, default=50.0,
                    help="milliseconds between a delta and the next action")
    ap.add_argument("--fs", default="ext4", choices=("ext4", "xfs"))
    ap.add_argument("--mode", default="command",
                    choices=("command", "docker", "both"),
                    help="how the prober runs (see above)")
    a = ap.parse_args()
    podman = None
    if a.mode != "command":
        try:
            podman = qmcontainers.podman_env()
            took = qmcontainers.build_prober_image(podman)
        except qmcontainers.ContainerError as e:
            print("hot_add: %s" % e)
            return 1
        print("hot_add: %s built in %.1f s" % (qmcontainers.PROBER_IMAGE,
                                               took))
    modes = ("command", "docker") if a.mode == "both" else (a.mode,)
    rows, rc = [], 0
    for mode in modes:
        create, delete, resyncs, code = measure(a, mode, podman)
        rows.append((mode, create, delete, resyncs, code))
        rc = rc or (0 if code == 0 else 1)

    print("hot_add: marker close -> delta at receiver (%s, %s source, "
          "debounce %s, gap %g ms)" % (a.fs, a.udev_source,
                                       a.debounce or "default", a.gap))
    print(benchlib.build_info())
    print(benchlib.latency_header())
    for mode, create, delete, _, _ in rows:
        tag = "" if len(rows) == 1 and mode == "command" else \
            "%s: " % mode
        print(benchlib.latency_row(tag + "marker created", create))
        print(benchlib.latency_row(tag + "marker deleted", delete))
        print(benchlib.latency_row(tag + "both", create + delete))
    for mode, _, _, resyncs, code in rows:
        print("%s prober: resyncs requested: %d, exit status: %s"
              % (mode, resyncs, code))
    return rc


def measure(a, mode, podman):
    """(create latencies, delete latencies, resyncs, prober exit status)
    with the prober run in `mode`."""

    env = qmtest.Env("bench-hot-add", a.udev_source)
    udevd = None
    try:
        if a.udev_source == "udev":
            udevd = qmtest.Udevd()
        lo, mp, uuid = env.filesystem(a.fs, "hot")
        rx = env.start_receiver()
        extra = ["--debounce", a.debounce] if a.debounce else []
        if mode == "docker":
            p = docker_prober(env, podman, extra)
        else:
            p = env.start_prober(extra, log_level="info")
        rx.next(lambda m: m.get("kind") == "snapshot", qmtest.START_TIMEOUT,
                what="first snapshot")
        marker = os.path.join(mp, qmtest.MARKER_FILE)
        create, delete = [], []
        key = "uuid:" + uuid
        for i in range(a.trials):
            serial = "BENCH-%d-%d" % (os.getpid(), i)
            text = qmtest.marker_text(serial=serial).encode()
            time.sleep(a.gap / 1000.0)
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, text)
            os.close(fd)
            t0 = time.monotonic_ns()
            m = rx.next(lambda m: m.get("kind") == "delta" and any(
                d.get("serial") == serial for d in m.get("upserted", [])),
                qmtest.EVENT_TIMEOUT, what="delta of trial %d" % i,
                interval=0.002)
            create.append(int(m["recv_mono_ns"]) - t0)

            time.sleep(a.gap / 1000.0)
            os.unlink(marker)
            t0 = time.monotonic_ns()
            m = rx.next(lambda m: m.get("kind") == "delta" and
                        key in m.get("removed", []), qmtest.EVENT_TIMEOUT,
                        what="removal delta of trial %d" % i, interval=0.002)
            delete.append(int(m["recv_mono_ns"]) - t0)
            if (i + 1) % 50 == 0:
                sys.stderr.write("hot_add: %d/%d\n" % (i + 1, a.trials))
        resyncs = sum(1 for m in rx.accepted() if m.get("reply_send_snapshot"))
        rc, _ = p.stop()
        rx.stop()
    finally:
        env.close()
        if udevd:
            udevd.stop()
    return create, delete, resyncs, rc


if __name__ == "__main__":
    sys.exit(main())
