#!/usr/bin/env python3
"""Run the failover tests (failover_tests.py) and the fault campaign
(chaos_tests.py, QM_CHAOS_ROUNDS, QM_CHAOS_SEED): two coordinators standing for
election on a real ZooKeeper server (tests/zk/zkserver.sh, one private
server per test), the Mesos master emulator, real probers, loop devices.

  python3 tests/e2e/run_failover.py                 # everything
  python3 tests/e2e/run_failover.py NAME [NAME...]  # tests whose id contains
                                                    # a NAME component

Needs root, java and Debian's zookeeper package. Environment as for run.py
(QM_BUILD_DIR, QM_IT_TMPDIR, QM_IT_TIMEOUT, QM_E2E_LOGDIR) plus
QM_FAILOVER_SESSION_TIMEOUT (seconds, default 2) and QM_FAILOVER_ROUNDS
(kill-and-restart rounds, default 20) and QM_FAILOVER_SEED (the random
moments of those rounds; default: random, printed).

Prints one line per test and ends with exactly one line
"failover: N passed, N failed[, N skipped]" (expected failures, each naming
a known coordinator bug, count as skipped). Exit status 0 only if none
failed, including the final check that no mount, loop device, task process
or ZooKeeper server was left behind.
"""

import importlib.util
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e  # noqa: E402  (path set above)
import qmtest  # noqa: E402  (e2e put tests/integration on the path)

# The e2e runner (result lines, selection), by path: e2e put
# tests/integration, which has a run.py of its own, first on the path.
_spec = importlib.util.spec_from_file_location(
    "e2e_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

NAME = "failover"


def show_logs(test):
    """Tails of the coordinators' (every member, every incarnation) and the
    emulator's logs of a failed test."""
    d = os.path.join(e2e.log_dir(), e2e.safe_name(test.id()))
    if not os.path.isdir(d):
        return
    print("  logs kept in %s" % d)
    for dirpath, _, files in sorted(os.walk(d)):
        for name in sorted(files):
            if not (name.startswith("coordinator") or
                    name.startswith("emulator")) or \
                    not name.endswith(".stderr"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
            if not lines:
                continue
            print("  --- %s (last %d of %d lines)"
                  % (os.path.relpath(path, d), min(25, len(lines)),
                     len(lines)))
            for line in lines[-25:]:
                print("    " + line[:300])


def zk_servers_left(roots):
    """Pids of ZooKeeper servers (java) whose zoo.cfg lies under one of our
    temp roots."""
    left = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        for root in roots:
            if any(a.startswith(root.encode() + b"/") and
                   a.endswith(b"zoo.cfg") for a in argv):
                left.append(int(d))
    return left


def main(argv):
    names = argv[1:]
    bad = run.preflight(NAME)
    if bad is not None:
        return bad
    if not os.path.exists("/usr/share/java/zookeeper.jar"):
        return run.fail_early("needs java and Debian's zookeeper package "
                              "(scripts/install-deps.sh)", NAME)
    t0 = time.monotonic()
    print("%s: build %s, logs in %s" % (NAME, qmtest.build_dir(),
                                        e2e.log_dir()))

    loader = unittest.TestLoader()
    import chaos_tests  # noqa: E402
    import failover_tests  # noqa: E402
    found = unittest.TestSuite([loader.loadTestsFromModule(failover_tests),
                                loader.loadTestsFromModule(chaos_tests)])

    def zk_left(roots):
        return ["ZooKeeper server %d" % pid for pid in zk_servers_left(roots)]
    return run.run_tests(NAME, found, names, t0, logs=show_logs,
                         leftovers=zk_left)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
