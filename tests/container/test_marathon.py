#!/usr/bin/env python3
"""Checks examples/marathon.json, the coordinator's Marathon app, for what an
operator relies on when posting it:

  * a singleton that Marathon never runs twice on purpose (instances 1,
    upgrade strategy 0/0, MARATHON_SINGLE_INSTANCE_APP);
  * a MESOS_HTTP health check on GET /v1/health on the REST port;
  * host networking with fixed ports that are the ones the coordinator is
    told to listen on (and that containers/Dockerfile exposes);
  * the Docker image built from containers/Dockerfile, also used for the
    probers;
  * configuration through QUOBYTE_MESOS_* variables only, every file they
    name inside a volume mounted into the container;
  * with a built coordinator ($QM_BUILD_DIR/quobyte-coordinator, default
    build-asan/): every variable is one its --help lists, and the whole
    environment passes --check-config. Without the binary these two are
    reported as skipped.

  python3 tests/container/test_marathon.py [path/to/marathon.json]

Ends with one line "marathon: N passed, N failed, N skipped"; exit status 1
when a check failed."""

import json
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "examples", "marathon.json")
DOCKERFILE = os.path.join(TOP, "containers", "Dockerfile")
BUILD = os.environ.get("QM_BUILD_DIR", os.path.join(TOP, "build-asan"))
COORD = os.path.join(BUILD, "quobyte-coordinator")

results = {"passed": 0, "failed": 0, "skipped": 0}


class Skip(Exception):
    pass


def check(name, fn):
    try:
        fn()
    except Skip as e:
        results["skipped"] += 1
        print("  skip %s: %s" % (name, e))
    except AssertionError as e:
        results["failed"] += 1
        print("  FAIL %s: %s" % (name, e))
    except Exception as e:  # a malformed app shows up as a failed check
        results["failed"] += 1
        print("  FAIL %s: %s: %s" % (name, type(e).__name__, e))
    else:
        results["passed"] += 1
        print("  ok   %s" % name)


app = None


def parses():
    global app
    with open(APP, encoding="utf-8") as f:
        app = json.load(f)
    assert isinstance(app, dict), "top level is not an object"
    assert isinstance(app.get("id"), str) and app["id"].startswith("/"), \
        "id must be an absolute app id"


def env():
    e = app.get("env")
    assert isinstance(e, dict) and e, "no env object"
    return e


def listen_port(value, what):
    m = re.search(r":(\d+)/?$", value or "")
    assert m, "%s %r has no port" % (what, value)
    return int(m.group(1))


def port_defs():
    defs = app.get("portDefinitions")
    assert isinstance(defs, list) and defs, "no portDefinitions"
    return defs


def singleton():
    assert app.get("instances") == 1, "instances is %r, not 1" % app.get("instances")
    labels = app.get("labels") or {}
    assert labels.get("MARATHON_SINGLE_INSTANCE_APP") == "true", \
        "label MARATHON_SINGLE_INSTANCE_APP=\"true\" missing (keeps a scale-up from starting a second coordinator)"


def upgrade_strategy():
    u = app.get("upgradeStrategy") or {}
    # 0/0: Marathon kills the old task before it starts the new one, so a
    # redeploy never runs two coordinators side by side
    assert u.get("minimumHealthCapacity") == 0, "minimumHealthCapacity %r" % u.get("minimumHealthCapacity")
    assert u.get("maximumOverCapacity") == 0, "maximumOverCapacity %r" % u.get("maximumOverCapacity")


def health_check():
    hcs = app.get("healthChecks") or []
    hs = [h for h in hcs if h.get("path") == "/v1/health"]
    assert len(hs) == 1, "want one health check on /v1/health, found %d" % len(hs)
    h = hs[0]
    assert h.get("protocol") == "MESOS_HTTP", "protocol %r, want MESOS_HTTP" % h.get("protocol")
    idx = h.get("portIndex", 0)
    defs = port_defs()
    assert isinstance(idx, int) and 0 <= idx < len(defs), "portIndex %r out of range" % idx
    rest = listen_port(env().get("QUOBYTE_MESOS_HTTP_LISTEN"), "QUOBYTE_MESOS_HTTP_LISTEN")
    assert defs[idx].get("port") == rest, \
        "health check port %r is not the REST port %d" % (defs[idx].get("port"), rest)
    for k in ("gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "maxConsecutiveFailures"):
        assert isinstance(h.get(k), int) and h[k] > 0, "%s must be a positive integer" % k
    assert h["timeoutSeconds"] < h["intervalSeconds"], "timeoutSeconds must be below intervalSeconds"


def host_network():
    nets = app.get("networks")
    assert nets == [{"mode": "host"}], "networks %r, want [{\"mode\": \"host\"}]" % (nets,)
    assert app.get("requirePorts") is True, \
        "requirePorts must be true: probers and operators reach fixed ports"


def ports_match_listen():
    e = env()
    want = sorted([listen_port(e.get("QUOBYTE_MESOS_HTTP_LISTEN"), "QUOBYTE_MESOS_HTTP_LISTEN"),
                   listen_port(e.get("QUOBYTE_MESOS_BUS_LISTEN"), "QUOBYTE_MESOS_BUS_LISTEN")])
    got = sorted(p.get("port") for p in port_defs())
    assert got == want, "portDefinitions %r, listen ports %r" % (got, want)
    for p in port_defs():
        assert p.get("protocol", "tcp") == "tcp", "port %r is not tcp" % p.get("port")
    adv = e.get("QUOBYTE_MESOS_BUS_ADVERTISE")
    if adv:
        bus = listen_port(e["QUOBYTE_MESOS_BUS_LISTEN"], "QUOBYTE_MESOS_BUS_LISTEN")
        assert listen_port(adv, "QUOBYTE_MESOS_BUS_ADVERTISE") == bus, \
            "BUS_ADVERTISE port differs from the BUS_LISTEN port %d" % bus


def ports_match_dockerfile():
    with open(DOCKERFILE, encoding="utf-8") as f:
        exposed = set()
        for line in f:
            if line.strip().upper().startswith("EXPOSE "):
                exposed |= {int(w.split("/")[0]) for w in line.split()[1:]}
    got = {p.get("port") for p in port_defs()}
    assert exposed == got, "Dockerfile EXPOSE %r, portDefinitions %r" % (sorted(exposed), sorted(got))


def docker_container():
    c = app.get("container") or {}
    assert c.get("type") == "DOCKER", "container.type %r" % c.get("type")
    d = c.get("docker") or {}
    img = d.get("image", "")
    m = re.match(r"^[a-z0-9][a-z0-9._/:-]*?:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$", img)
    assert m, "docker.image %r needs an explicit tag" % img
    assert m.group(1) != "latest", "docker.image tag 'latest' makes restarts unpredictable"
    assert d.get("privileged") in (None, False), "the coordinator needs no privileges"
    assert "network" not in d, "docker.network is the pre-1.5 format; use networks"


def prober_image():
    img = app["container"]["docker"]["image"]
    p = env().get("QUOBYTE_MESOS_PROBER_IMAGE")
    if p is None:
        raise Skip("QUOBYTE_MESOS_PROBER_IMAGE not set (coordinator default applies)")
    assert p == img, "probers run %r, the coordinator %r: one image holds both" % (p, img)


def env_shape():
    e = env()
    for k, v in e.items():
        assert k.startswith("QUOBYTE_MESOS_") and re.fullmatch(r"[A-Z0-9_]+", k), \
            "%s is not a QUOBYTE_MESOS_ variable" % k
        assert isinstance(v, str), "%s: Marathon env values must be strings, got %r" % (k, v)
    for k in ("QUOBYTE_MESOS_MASTER", "QUOBYTE_MESOS_ZK", "QUOBYTE_MESOS_HTTP_LISTEN",
              "QUOBYTE_MESOS_BUS_LISTEN", "QUOBYTE_MESOS_IMAGE", "QUOBYTE_MESOS_ROLE"):
        assert e.get(k), "%s missing or empty" % k
    assert e["QUOBYTE_MESOS_ZK"].startswith("zk://"), \
        "under Marathon the state must live in ZooKeeper (a restart elsewhere loses a file store)"


def files_in_volumes():
    vols = (app.get("container") or {}).get("volumes") or []
    paths = [v.get("containerPath", "").rstrip("/") + "/" for v in vols]
    for k, v in env().items():
        if k.endswith("_FILE") and v:
            assert any(v.startswith(p) for p in paths), \
                "%s=%s is not inside a mounted volume %r" % (k, v, paths)


def coordinator_help():
    if not os.access(COORD, os.X_OK):
        raise Skip("no %s (build first)" % COORD)
    out = subprocess.run([COORD, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, "--help exit %d: %s" % (out.returncode, out.stderr[-300:])
    known = set(re.findall(r"env: (QUOBYTE_MESOS_[A-Z0-9_]+)", out.stdout))
    assert known, "--help lists no QUOBYTE_MESOS_ variables"
    unknown = sorted(set(env()) - known)
    assert not unknown, "not known to quobyte-coordinator --help: %s" % ", ".join(unknown)


def coordinator_check_config():
    """--check-config with the app's environment, its files made as an
    operator makes them (the token file 0600, in a temp dir standing for
    the host volume); without the token file the coordinator must refuse
    (it listens on 0.0.0.0)."""
    if not os.access(COORD, os.X_OK):
        raise Skip("no %s (build first)" % COORD)
    import secrets
    import tempfile
    vols = [v["containerPath"].rstrip("/") + "/" for v in
            (app.get("container") or {}).get("volumes") or []]
    with tempfile.TemporaryDirectory() as tmp:
        app_env = {}
        for k, v in env().items():
            for p in vols:
                if k.endswith("_FILE") and v.startswith(p):
                    v = os.path.join(tmp, v[len(p):])
            app_env[k] = v
        tokens = app_env.get("QUOBYTE_MESOS_API_TOKEN_FILE")
        assert tokens, "the app gives no QUOBYTE_MESOS_API_TOKEN_FILE"
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, ("ops admin %s\n" % secrets.token_urlsafe(32)).encode())
        os.close(fd)

        def run(e):
            child = {k: v for k, v in os.environ.items()
                     if not k.startswith("QUOBYTE_MESOS_")}
            child.update(e)
            return subprocess.run([COORD, "--check-config"], capture_output=True,
                                  text=True, timeout=30, env=child)
        out = run(app_env)
        assert out.returncode == 0 and "configuration ok" in out.stdout, \
            "--check-config with the app's environment: exit %d %s%s" % (
                out.returncode, out.stdout[-300:], out.stderr[-300:])
        bare = {k: v for k, v in app_env.items()
                if k != "QUOBYTE_MESOS_API_TOKEN_FILE"}
        out = run(bare)
        assert out.returncode == 2 and "--api-token-file" in out.stderr, \
            "without a token file on 0.0.0.0 the coordinator must refuse: " \
            "exit %d %s" % (out.returncode, out.stderr[-300:])


def main():
    print("== marathon (%s)" % os.path.relpath(APP, TOP))
    check("parses", parses)
    if app is not None:
        check("singleton", singleton)
        check("upgrade_strategy_never_two", upgrade_strategy)
        check("health_check_v1_health_on_rest_port", health_check)
        check("host_network_fixed_ports", host_network)
        check("ports_match_listen_addresses", ports_match_listen)
        check("ports_match_dockerfile_expose", ports_match_dockerfile)
        check("docker_container_tagged_image", docker_container)
        check("prober_image_is_coordinator_image", prober_image)
        check("env_quobyte_mesos_only", env_shape)
        check("secret_files_in_volumes", files_in_volumes)
        check("env_known_to_coordinator_help", coordinator_help)
        check("env_passes_check_config", coordinator_check_config)
    print("marathon: %d passed, %d failed, %d skipped" % (
        results["passed"], results["failed"], results["skipped"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
