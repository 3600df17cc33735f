"""Containers for the Python tests and benchmarks: podman as
tests/container/podman_lib.sh sets it up, and the images they run.

  env = podman_env()                 # or raises ContainerError
  build_standin(["2.0", "2.1"])      # tests/standin/build.sh
  build_prober_image(env)            # localhost/quobyte-mesos:test
  podman(env, "ps", ...)             # one podman call, argv only

Every step has a timeout and fails with one line (ContainerError), never a
hang.
"""

import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
PROBER_IMAGE = "localhost/quobyte-mesos:test"


class ContainerError(Exception):
    """podman cannot run containers here, or an image did not build."""


def _run(argv, timeout):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ContainerError("%s did not finish in %d s"
                             % (os.path.basename(argv[1] if argv[0] == "bash"
                                                 else argv[0]), timeout))


def podman_env(timeout=900):
    """podman_lib.sh env as a dict, plus 'args' and 'ulimits' as lists and
    'seconds' (how long the setup took: debootstrap when cold)."""
    t0 = time.monotonic()
    r = _run(["bash", os.path.join(HERE, "podman_lib.sh"), "env"], timeout)
    if r.returncode != 0:
        last = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise ContainerError("podman cannot run containers here: " + last)
    env = dict(line.split("=", 1) for line in r.stdout.splitlines()
               if line.startswith("QM_") and "=" in line)
    env["args"] = env.get("QM_PODMAN_ARGS", "").split()
    env["ulimits"] = env.get("QM_PODMAN_ULIMITS", "").split()
    env["seconds"] = time.monotonic() - t0
    return env


def podman(env, *args, timeout=60, check=True):
    """stdout of one podman call with env's global options."""
    r = subprocess.run(["podman"] + env["args"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise ContainerError("podman %s: %s" % (
            " ".join(args[:2]), r.stderr.strip()[-500:]))
    return r.stdout


def build_standin(versions, timeout=600):
    """The stand-in quobyte-server images of these versions (each also as
    <version>-unhealthy); seconds taken."""
    t0 = time.monotonic()
    r = _run(["bash", os.path.join(SRC, "tests", "standin", "build.sh")] +
             list(versions), timeout)
    if r.returncode != 0:
        raise ContainerError("stand-in image build failed: %s"
                             % r.stdout.strip()[-800:])
    return time.monotonic() - t0


def build_prober_image(env, image=PROBER_IMAGE, timeout=1200):
    """Our image (containers/Dockerfile) from this tree, for the Docker-mode
    prober. podman's layer cache makes an unchanged tree a few seconds (~30
    s after a change, ~3 min cold). Seconds taken."""
    t0 = time.monotonic()
    r = _run(["podman"] + env["args"] +
             ["build", "--pull=never", "--network=host"] + env["ulimits"] +
             ["--build-arg", "BASE_IMAGE=" + env["QM_BASE_IMAGE"],
              "-f", os.path.join(SRC, "containers", "Dockerfile"),
              "-t", image, SRC], timeout)
    if r.returncode != 0:
        raise ContainerError("building %s failed: %s"
                             % (image, r.stdout.strip()[-800:]))
    return time.monotonic() - t0
