#!/usr/bin/env python3
"""Run the prober integration tests (real loop devices, mounts, udev).

  python3 tests/integration/run.py                 # everything
  python3 tests/integration/run.py NAME [NAME...]  # tests whose id contains
                                                   # a NAME component, e.g.
                                                   # test_xfs_marker or
                                                   # UdevSourceTests

Needs root. Environment: QM_BUILD_DIR (default /work/main/build-asan),
QM_IT_TMPDIR, QM_IT_LOGDIR, QM_IT_TIMEOUT (see qmtest.py), ASAN_OPTIONS /
UBSAN_OPTIONS (defaults set for the children when unset).

Prints one line per test and ends with exactly one line
"integration: N passed, N failed[, N skipped]" (expected failures, each a
known bug named in the test, count as skipped). Exit status 0 only if none
failed, including the final check that no mount or loop device was left.
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import qmtest  # noqa: E402  (path set above)


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
        sys.stdout.write("%-78s " % test.id())
        sys.stdout.flush()

    def _line(self, status, extra=""):
        sys.stdout.write("%s (%.1fs)%s\n" % (status, time.monotonic() - self._t0,
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
        # errors in class fixtures are reported with a placeholder "test"
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
    """Tail of each process log the failed test left behind."""
    d = os.path.join(qmtest.log_dir(), qmtest._safe(test.id()))
    if not os.path.isdir(d):
        return
    print("  logs kept in %s" % d)
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        if not lines:
            continue
        print("  --- %s (last %d of %d lines)" % (name, min(25, len(lines)),
                                                 len(lines)))
        for line in lines[-25:]:
            print("    " + line[:400])


def main(argv):
    names = argv[1:]
    if os.geteuid() != 0:
        print("integration: needs root (loop devices, mkfs, mount)")
        print("integration: 0 passed, 1 failed")
        return 1
    for tool in ("quobyte-prober", "bus_receiver"):
        try:
            qmtest.binary(tool)
        except RuntimeError as e:
            print("integration: %s" % e)
            print("integration: 0 passed, 1 failed")
            return 1
    print("integration: build %s, logs in %s" % (qmtest.build_dir(),
                                                qmtest.log_dir()))

    loader = unittest.TestLoader()
    found = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = [t for t in iter_tests(found) if selected(t, names)]
    if names and not tests:
        print("integration: no test matches %s" % " ".join(names))
        print("integration: 0 passed, 1 failed")
        return 1
    before = set(qmtest.leftovers())
    result = LineResult()
    unittest.TestSuite(tests).run(result)

    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    skipped = len(result.skipped) + len(result.expectedFailures)

    qmtest.RESOURCES.release_all()
    left = [x for x in qmtest.leftovers() if x not in before]
    if left:
        print("cleanup check: FAIL, left behind: %s" % "; ".join(left))
        failed += 1

    for test, kind, text in result.details:
        print("\n==== %s: %s" % (kind, test.id() if hasattr(test, "id") else test))
        print(text.rstrip())
        if isinstance(test, unittest.TestCase):
            show_logs(test)
    for test, text in result.expectedFailures:
        print("\n==== expected failure (known bug): %s" % test.id())
        print(text.rstrip().splitlines()[-1])

    summary = "integration: %d passed, %d failed" % (result.passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
