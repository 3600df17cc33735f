"""Shared bits of the prober benchmarks: the integration harness (real loop
devices, receiver, prober) and a few statistics. Benchmarks print numbers;
they never pass or fail on them."""

import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

# Benchmarks measure the optimised build unless told otherwise: ASan
# distorts time and memory.
os.environ.setdefault("QM_BUILD_DIR", os.path.join(HERE, "..", "..",
                                                   "build-release"))

import qmtest  # noqa: E402,F401  (re-exported for the benchmarks)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1,
                   math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_row(name, values_ns):
    v = sorted(values_ns)
    ms = lambda x: x / 1e6  # noqa: E731
    return "%-24s %6d %9.2f %9.2f %9.2f %9.2f" % (
        name, len(v), ms(percentile(v, 50)), ms(percentile(v, 99)),
        ms(v[-1]) if v else float("nan"), ms(v[0]) if v else float("nan"))


def latency_header():
    return "%-24s %6s %9s %9s %9s %9s" % ("latency (ms)", "n", "p50", "p99",
                                           "max", "min")


def build_info():
    return "build: %s" % os.path.realpath(qmtest.build_dir())


def fdatasync_floor_ms(directory, size=1024, rounds=200):
    """The fdatasync floor of an append-sized record: size bytes appended
    to a file in directory (the coordinator's state directory, so the same
    filesystem and disk) and fdatasync'ed, rounds times; sorted ms."""
    path = os.path.join(directory, "bench-fdatasync-floor")
    rec = (b"x" * (size - 1)) + b"\n"
    out = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(rounds):
            t = time.perf_counter()
            os.write(fd, rec)
            os.fdatasync(fd)
            out.append((time.perf_counter() - t) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(out)
