#!/usr/bin/env python3
"""Run the end-to-end tests (emulator + coordinator + real probers + loop
devices).

  python3 tests/e2e/run.py                 # everything
  python3 tests/e2e/run.py NAME [NAME...]  # tests whose id contains a NAME
                                           # component, e.g. DeployTest or
                                           # test_hot_add_and_removal

Needs root. Environment: QM_BUILD_DIR (default /work/main/build-asan: the
coordinator and prober binaries), QM_IT_TMPDIR, QM_IT_TIMEOUT (see
tests/integration/qmtest.py), QM_MESOS_VERSION (the Mesos release the
emulator plays, default 1.11.0), QM_E2E_LOGDIR (each test's logs, journal and
probers' stderr are kept there; default a fresh /tmp/qm-e2e-logs-*).

Prints one line per test and ends with exactly one line
"e2e: N passed, N failed[, N skipped]" (expected failures, each naming a
known coordinator bug, count as skipped). Exit status 0 only if none
failed, including the final check that no mount, loop device or task
process was left behind.
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e  # noqa: E402  (path set above)
import qmtest  # noqa: E402  (e2e put tests/integration on the path)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def selected(test, names):
    if not names:
        return True
    parts = test.id().split(".")
    return any(n == test.id() or n in parts or test.id().endswith("." + n)
               for n in names)


class LineResult(unittest.TestResult):
    """One line per test as it finishes; details of failures at the end."""

    def __init__(self):
        super().__init__()
        self.passed = 0
        self.details = []
        self._t0 = 0.0

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()
        sys.stdout.write("%-72s " % test.id())
        sys.stdout.flush()

    def stopTest(self, test):
        super().stopTest(test)
        for text in getattr(test, "notes", ()):
            sys.stdout.write("    %s\n" % text)
        sys.stdout.flush()

    def _line(self, status, extra=""):
        sys.stdout.write("%s (%.1fs)%s\n" % (status,
                                             time.monotonic() - self._t0,
                                             extra))
        sys.stdout.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line("ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line("FAIL")
        self.details.append((test, "FAIL", self.failures[-1][1]))

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):
            sys.stdout.write("%s ERROR\n" % test)
        else:
            self._line("ERROR")
        self.details.append((test, "ERROR", self.errors[-1][1]))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line("skipped", ": " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line("expected failure (known bug)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line("UNEXPECTED SUCCESS (remove expectedFailure)")
        self.details.append((test, "UNEXPECTED SUCCESS", ""))


def show_logs(test):
    """Tail of the coordinator's and emulator's logs of a failed test."""
    d = os.path.join(e2e.log_dir(), e2e.safe_name(test.id()))
    if not os.path.isdir(d):
        return
    print("  logs kept in %s" % d)
    for name in sorted(os.listdir(d)):
        if not (name.startswith("coordinator") or name.startswith("emulator")):
            continue
        if not name.endswith(".stderr"):
            continue
        path = os.path.join(d, name)
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        if not lines:
            continue
        print("  --- %s (last %d of %d lines)" % (name, min(30, len(lines)),
                                                 len(lines)))
        for line in lines[-30:]:
            print("    " + line[:300])


def fail_early(msg, name="e2e"):
    print("%s: %s" % (name, msg))
    print("%s: 0 passed, 1 failed" % name)
    return 1


def preflight(name):
    """None if the suite can run here, else the exit status of fail_early."""
    if os.geteuid() != 0:
        return fail_early("needs root (loop devices, mkfs, mount)", name)
    for tool in ("quobyte-coordinator", "quobyte-prober"):
        try:
            qmtest.binary(tool)
        except RuntimeError as e:
            return fail_early(str(e), name)
    return None


def run_tests(name, found, names, t0, logs=show_logs, leftovers=None):
    """Run the tests of suite `found` selected by names, then check that no
    mount, loop device, task process (nor anything leftovers(roots) lists)
    was left behind. Prints one line per test and ends with exactly one
    line "NAME: N passed, N failed[, N skipped]" (expected failures, each
    naming a known coordinator bug, count as skipped); returns the exit
    status."""
    tests = [t for t in iter_tests(found) if selected(t, names)]
    if names and not tests:
        return fail_early("no test matches %s" % " ".join(names), name)
    before = set(qmtest.leftovers())
    result = LineResult()
    unittest.TestSuite(tests).run(result)

    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    skipped = len(result.skipped) + len(result.expectedFailures)

    qmtest.RESOURCES.release_all()
    left = [x for x in qmtest.leftovers() if x not in before]
    for root in qmtest.CREATED_ROOTS:
        for pid in e2e.processes_under(root):
            left.append("process %d" % pid)
    if leftovers is not None:
        left += leftovers(qmtest.CREATED_ROOTS)
    if left:
        print("cleanup check: FAIL, left behind: %s" % "; ".join(left))
        failed += 1

    for test, kind, text in result.details:
        print("\n==== %s: %s" % (kind, test.id() if hasattr(test, "id")
                                else test))
        print(text.rstrip())
        if isinstance(test, unittest.TestCase):
            logs(test)
    for test, text in result.expectedFailures:
        print("\n==== expected failure (known bug): %s" % test.id())
        print(text.rstrip().splitlines()[-1])

    print("%s: took %.0fs" % (name, time.monotonic() - t0))
    summary = "%s: %d passed, %d failed" % (name, result.passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary)
    return 0 if failed == 0 else 1


def main(argv):
    names = argv[1:]
    bad = preflight("e2e")
    if bad is not None:
        return bad
    t0 = time.monotonic()
    print("e2e: build %s, logs in %s, emulated Mesos %s"
          % (qmtest.build_dir(), e2e.log_dir(), e2e.MESOS_VERSION))
    found = unittest.TestLoader().discover(HERE, pattern="test_*.py",
                                           top_level_dir=HERE)
    return run_tests("e2e", found, names, t0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
