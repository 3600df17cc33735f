#!/usr/bin/env python3
"""Run the end-to-end tests on real containers (containers_tests.py): the
emulator's agents run every Docker task through podman.

  python3 tests/e2e/run_containers.py                 # everything
  python3 tests/e2e/run_containers.py NAME [NAME...]  # tests whose id
                                                      # contains a NAME

First sets podman up and makes sure the images exist:
  * tests/container/podman_lib.sh env: podman, its store and runtime, the
    debootstrapped Debian base (cached);
  * tests/standin/build.sh: the stand-in quobyte-server image, versions 2.0
    and 2.1, each also as <version>-unhealthy (skipped when up to date);
  * localhost/quobyte-mesos:test (containers/Dockerfile) for the
    Docker-mode prober, built from this tree (podman's layer cache: a few
    seconds when nothing changed, ~30 s after a change, ~3 min cold).
Any of these failing is one clear line and one failure, never a hang.

Needs root. Environment as for run.py (QM_BUILD_DIR, QM_IT_TMPDIR,
QM_IT_TIMEOUT, QM_MESOS_VERSION, QM_E2E_LOGDIR).

Ends with exactly one line "containers: N passed, N failed[, N skipped]";
exit status 0 only if none failed, including the check that no mount, loop
device, task process or container was left behind.
"""

import importlib.util
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e  # noqa: E402  (path set above)
import qmtest  # noqa: E402  (e2e put tests/integration on the path)
import containers_tests  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "e2e_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

NAME = "containers"
SRC = e2e.SRC_DIR
VERSIONS = (containers_tests.VERSION, containers_tests.NEXT)


def sh(argv, timeout):
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def setup():
    """None, or why the containers cannot run here."""
    t0 = time.monotonic()
    try:
        r = sh(["bash", os.path.join(SRC, "tests", "container",
                                     "podman_lib.sh"), "env"], 900)
    except subprocess.TimeoutExpired:
        return "podman setup did not finish in 15 min"
    if r.returncode != 0:
        return "podman cannot run containers here: %s" % \
            r.stdout.strip().splitlines()[-1:]
    env = dict(line.split("=", 1) for line in r.stdout.splitlines()
               if "=" in line)
    containers_tests.PODMAN_ARGS = env["QM_PODMAN_ARGS"].split()
    containers_tests.PODMAN_ULIMITS = env["QM_PODMAN_ULIMITS"].split()
    print("%s: podman %s (storage %s, runtime %s), base %s: %.1f s"
          % (NAME, " ".join(containers_tests.PODMAN_ARGS),
             env.get("QM_PODMAN_DRIVER"), env.get("QM_PODMAN_RUNTIME"),
             env.get("QM_BASE_HOW"), time.monotonic() - t0))

    t0 = time.monotonic()
    r = sh(["bash", os.path.join(SRC, "tests", "standin", "build.sh")] +
           list(VERSIONS), 600)
    if r.returncode != 0:
        return "stand-in image build failed: %s" % r.stdout.strip()[-800:]
    print("%s: stand-in images %s: %.1f s"
          % (NAME, ", ".join(VERSIONS), time.monotonic() - t0))

    # always built from this tree: podman's layer cache makes an unchanged
    # tree a few seconds (right after tests/container/build_test.sh, all
    # of it is cached)
    image = containers_tests.PROBER_IMAGE
    t0 = time.monotonic()
    try:
        r = sh(["podman"] + containers_tests.PODMAN_ARGS +
               ["build", "--pull=never", "--network=host"] +
               containers_tests.PODMAN_ULIMITS +
               ["--build-arg", "BASE_IMAGE=" + env["QM_BASE_IMAGE"],
                "-f", os.path.join(SRC, "containers", "Dockerfile"),
                "-t", image, SRC], 1200)
    except subprocess.TimeoutExpired:
        return "building %s did not finish in 20 min" % image
    if r.returncode != 0:
        return "building %s failed: %s" % (image, r.stdout.strip()[-800:])
    print("%s: built %s: %.1f s" % (NAME, image, time.monotonic() - t0))
    return None


def containers_left(roots):
    try:
        return ["container %s" % c.get("Names")
                for c in containers_tests.our_containers()]
    except Exception as e:  # podman itself failing is a finding too
        return ["(podman ps failed: %s)" % e]


def main(argv):
    names = argv[1:]
    bad = run.preflight(NAME)
    if bad is not None:
        return bad
    t0 = time.monotonic()
    why = setup()
    if why is not None:
        return run.fail_early(why, NAME)
    print("%s: build %s, logs in %s, emulated Mesos %s"
          % (NAME, qmtest.build_dir(), e2e.log_dir(), e2e.MESOS_VERSION))
    found = unittest.TestLoader().loadTestsFromModule(containers_tests)
    return run.run_tests(NAME, found, names, t0, leftovers=containers_left)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
