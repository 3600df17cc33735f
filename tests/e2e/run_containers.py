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
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "container"))

import e2e  # noqa: E402  (path set above)
import qmtest  # noqa: E402  (e2e put tests/integration on the path)
import containers_tests  # noqa: E402
import qmcontainers  # noqa: E402  (tests/container)

_spec = importlib.util.spec_from_file_location(
    "e2e_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

NAME = "containers"
VERSIONS = (containers_tests.VERSION, containers_tests.NEXT)


def setup():
    """None, or why the containers cannot run here."""
    try:
        env = qmcontainers.podman_env()
        containers_tests.PODMAN_ARGS = env["args"]
        containers_tests.PODMAN_ULIMITS = env["ulimits"]
        print("%s: podman %s (storage %s, runtime %s), base %s: %.1f s"
              % (NAME, " ".join(env["args"]), env.get("QM_PODMAN_DRIVER"),
                 env.get("QM_PODMAN_RUNTIME"), env.get("QM_BASE_HOW"),
                 env["seconds"]))
        took = qmcontainers.build_standin(VERSIONS)
        print("%s: stand-in images %s: %.1f s"
              % (NAME, ", ".join(VERSIONS), took))
        # always from this tree (cached: a few seconds when unchanged)
        took = qmcontainers.build_prober_image(env)
        print("%s: built %s: %.1f s" % (NAME, qmcontainers.PROBER_IMAGE,
                                       took))
    except qmcontainers.ContainerError as e:
        return str(e)
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
