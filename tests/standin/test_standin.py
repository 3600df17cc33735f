#!/usr/bin/env python3
"""Tests the quobyte-server STAND-IN (tests only, not Quobyte).

    python3 tests/standin/test_standin.py [--host-only]
    QM_STANDIN_BIN=/path/to/binary ... (host part against another build)

Two parts, both for real (needs root: mount, losetup, podman):

 * host: the binary (compiled by compile.sh into a temp dir, as build.sh
   does) run directly: health on every port of every service, the error
   exits, the unhealthy knob, garbage and silent clients, /report listing
   real loop-device ext4 filesystems (one mounted while it runs), the
   client's tmpfs, SIGTERM and the exit knob;
 * container: build.sh, then podman (via tests/container/podman_lib.sh)
   the way the coordinator's tasks run it: --network=host --privileged,
   the device root bind-mounted `rw,rshared` -- a filesystem mounted on the
   host after the container started shows up in its /report; the client's
   tmpfs at /quobyte shows up on the host; stop, kill grace, exit status.

Propagation (found here, podman 4.3 + runc): `-v ROOT:ROOT:rw,rshared` only
propagates when the host mount holding ROOT is shared (ROOT itself or a
mount above it; here made by `mount --bind ROOT ROOT; mount --make-shared
ROOT`, since this host's / is private, as it is in most sandboxes; systemd
hosts make / shared at boot). Otherwise podman and runc accept the option without any error or
warning, the container even shows its copy as `shared:N`, but nothing
crosses in either direction (unlike dockerd, which refuses such a volume).
The test "rshared without a shared host mount" pins that down.

Every container started carries --label qm.test=standin and is removed at
the end, as are every mount and loop device made here, also on failure.
Prints one line per check; the last line is "standin: N passed, N failed"
(exit 0 only if all passed).
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
IMAGE = os.environ.get("QM_STANDIN_IMAGE", "localhost/quobyte-server-standin")
VERSION = "2.0"
PROG = "quobyte-server-standin"

passed = failed = 0


def check(name, fn):
    """Runs one check: fn returns None (ok) or raises (the reason)."""
    global passed, failed
    t0 = time.monotonic()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 -- any failure is a FAIL line
        failed += 1
        msg = str(e).strip().replace("\n", " | ")[:400]
        print(f"  FAIL {name}: {type(e).__name__}: {msg}", flush=True)
        if os.environ.get("QM_STANDIN_DEBUG"):
            import traceback
            traceback.print_exc()
        return
    passed += 1
    print(f"  ok   {name} ({time.monotonic() - t0:.1f} s)", flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


# ------------------------------------------------------------- helpers

def free_port():
    """A TCP port free right now on 0.0.0.0 (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(port, path="/", timeout=3.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def report(port):
    st, body = http_get(port, "/report")
    expect(st == 200, f"/report answered {st}")
    return json.loads(body)


def wait_port(port, proc=None, timeout=10.0):
    """Until GET / on port answers at all (any status)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before serving "
                                 f"port {port}")
        try:
            return http_get(port, timeout=1.0)
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise AssertionError(f"port {port} not serving after {timeout} s: {last}")


def run(cmd, check_rc=True, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"{cmd[0]} {' '.join(cmd[1:3])} ... exit "
                             f"{r.returncode}: {r.stderr.strip()[-300:]}")
    return r


def mountinfo():
    """{mount point: fstype} of this process's mount namespace (last wins)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            mp = re.sub(r"\\([0-3][0-7][0-7])",
                        lambda m: chr(int(m.group(1), 8)), a[4])
            out[mp] = a[a.index("-", 6) + 1]
    return out


class Resources:
    """Mounts, loop devices, processes and containers made by the tests;
    release() undoes all of them, newest first, whatever failed."""

    def __init__(self):
        self.mounts, self.loops, self.procs, self.containers = [], [], [], []
        self.dirs = []
        self.podman = None

    def tmpdir(self, tag):
        d = tempfile.mkdtemp(prefix=f"qm-standin-{tag}.")
        self.dirs.append(d)
        return d

    def mount(self, args, target):
        run(["mount"] + args + [target])
        self.mounts.append(target)

    def shared_root(self, tag):
        """A temp dir that is a shared mount of its own (see the header)."""
        d = self.tmpdir(tag)
        self.mount(["--bind", d], d)
        run(["mount", "--make-shared", d])
        return d

    def loop_fs(self, img_dir, name, target, marker_type):
        """A real ext4 on a loop device, mounted at target, marked."""
        img = os.path.join(img_dir, name + ".img")
        with open(img, "wb") as f:
            f.truncate(32 << 20)
        dev = run(["losetup", "--find", "--show", img]).stdout.strip()
        self.loops.append(dev)
        run(["mkfs.ext4", "-q", "-F", "-L", name[:16], dev])
        os.makedirs(target, exist_ok=True)
        self.mount([dev], target)
        if marker_type is not None:
            with open(os.path.join(target, "QUOBYTE_DEV_SETUP"), "w") as f:
                f.write(f"# stand-in test device\ndevice.serial=standin-{name}"
                        f"\ndevice.type={marker_type}\n")
        return dev

    def start(self, binary, env, **kw):
        p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def release(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stderr:
                p.stderr.close()
        for cid in reversed(self.containers):
            subprocess.run(self.podman + ["rm", "-f", "-t", "0", cid],
                           capture_output=True)
        # anything still mounted under our dirs (client tmpfs left behind,
        # propagated copies), deepest first, then what we mounted
        mi = mountinfo()
        extra = [m for m in mi for d in self.dirs
                 if m.startswith(d + "/") and m not in self.mounts]
        for m in sorted(set(extra), key=len, reverse=True) + \
                list(reversed(self.mounts)):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for dev in reversed(self.loops):
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


R = Resources()


def base_env(service, **ports):
    env = {"PATH": "/usr/bin:/bin", "QUOBYTE_SERVICE": service,
           "QUOBYTE_REGISTRY": "reg1:7861,reg2:7861", "HOST": "node-7",
           "HOST_IP": "10.0.0.7", "QUOBYTE_STANDIN_VERSION": "9.9-test"}
    env.update({k: str(v) for k, v in ports.items()})
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):  # for QM_STANDIN_BIN builds
        if k in os.environ:
            env[k] = os.environ[k]
    return env


# The ports each service takes, as coordinator/core/taskinfo.c gives them.
SERVICE_PORTS = {
    "registry": ("QUOBYTE_RPC_PORT", "QUOBYTE_HTTP_PORT"),
    "metadata": ("QUOBYTE_RPC_PORT", "QUOBYTE_HTTP_PORT"),
    "data": ("QUOBYTE_RPC_PORT", "QUOBYTE_HTTP_PORT"),
    "api": ("QUOBYTE_API_PORT",),
    "webconsole": ("QUOBYTE_WEBCONSOLE_PORT",),
    "client": ("QUOBYTE_HTTP_PORT",),
}


def service_env(service, extra=None):
    ports = {n: free_port() for n in SERVICE_PORTS[service]}
    env = base_env(service, **ports)
    if service == "client":
        env["QUOBYTE_MOUNT_POINT"] = os.path.join(R.tmpdir("client"), "mnt")
    env.update(extra or {})
    return env, ports


def stop(p, sig=signal.SIGTERM, timeout=3.0):
    t0 = time.monotonic()
    p.send_signal(sig)
    rc = p.wait(timeout=timeout)
    return rc, time.monotonic() - t0


def stderr_of(p):
    return p.stderr.read().decode(errors="replace") if p.stderr else ""


# ---------------------------------------------------------- host tests

def host_tests(binary):
    def health_every_service():
        for svc in SERVICE_PORTS:
            env, ports = service_env(svc)
            p = R.start(binary, env)
            try:
                for name, port in ports.items():
                    st, body = wait_port(port, p)
                    expect((st, body) == (200, b"ok\n"),
                           f"{svc} {name}: {st} {body!r}")
                    rep = report(port)
                    expect(rep["service"] == svc and rep["standin"] is True,
                           f"{svc}: report {rep}")
                    st, _ = http_get(port, "/nope")
                    expect(st == 404, f"{svc}: /nope gave {st}")
                expect(rep["version"] == "9.9-test", f"version {rep}")
                expect(rep["pid"] == p.pid, "pid")
                for k in ("QUOBYTE_SERVICE", "QUOBYTE_REGISTRY", "HOST",
                          "HOST_IP", *ports):
                    expect(rep["env"].get(k) == env[k], f"env {k}: {rep}")
                expect("PATH" not in rep["env"], "PATH reported")
                expect(("client" in rep) == (svc == "client"), "client key")
                rc, _ = stop(p)
                expect(rc == 0, f"{svc}: SIGTERM exit {rc}")
            finally:
                if p.poll() is None:
                    p.kill()
    check("host: every service answers GET / (200 ok) on each of its "
          "ports, /report names it, /nope is 404", health_every_service)

    def bad_config():
        cases = [
            ({}, "QUOBYTE_SERVICE is not set"),
            ({"QUOBYTE_SERVICE": "storage"}, "unknown QUOBYTE_SERVICE 'storage'"),
            ({"QUOBYTE_SERVICE": "data", "QUOBYTE_HTTP_PORT": "7873"},
             "data needs QUOBYTE_RPC_PORT"),
            ({"QUOBYTE_SERVICE": "api", "QUOBYTE_API_PORT": "70000"},
             "QUOBYTE_API_PORT='70000' is not a port"),
            ({"QUOBYTE_SERVICE": "registry", "QUOBYTE_RPC_PORT": "7861",
              "QUOBYTE_HTTP_PORT": "x1"}, "QUOBYTE_HTTP_PORT='x1'"),
            ({"QUOBYTE_SERVICE": "client"}, "client needs QUOBYTE_HTTP_PORT"),
            ({"QUOBYTE_SERVICE": "data", "QUOBYTE_RPC_PORT": "7863",
              "QUOBYTE_HTTP_PORT": "7863"}, "both 7863"),
        ]
        for env, msg in cases:
            r = run([binary], check_rc=False, env={"PATH": "/bin", **env},
                    timeout=5)
            lines = r.stderr.strip().splitlines()
            expect(r.returncode == 2 and len(lines) == 1 and
                   lines[0].startswith(PROG + ": ") and msg in lines[0],
                   f"{env}: exit {r.returncode}, stderr {r.stderr!r}")
        r = run([binary, "--bogus"], check_rc=False, timeout=5)
        expect(r.returncode == 2, f"--bogus exit {r.returncode}")
        r = run([binary, "--help"], timeout=5)
        expect("QUOBYTE_SERVICE" in r.stdout and "not Quobyte" in r.stdout,
               "--help text")
        r = run([binary, "--version"], timeout=5,
                env={"QUOBYTE_STANDIN_VERSION": "3.1"})
        expect(r.stdout.startswith(PROG + " 3.1"), f"--version {r.stdout!r}")
    check("host: missing/unknown service, missing/bad/clashing port: exit 2 "
          "with one clear line; --help, --version", bad_config)

    def unhealthy():
        for val, want in (("1", 503), ("yes", 503), ("0", 200), ("", 200)):
            env, ports = service_env("metadata",
                                     {"QUOBYTE_STANDIN_UNHEALTHY": val})
            p = R.start(binary, env)
            st, _ = wait_port(ports["QUOBYTE_HTTP_PORT"], p)
            st2, _ = http_get(ports["QUOBYTE_RPC_PORT"])
            p.kill()
            p.wait()
            expect(st == want and st2 == want,
                   f"UNHEALTHY={val!r}: {st}/{st2}, want {want}")
    check("host: QUOBYTE_STANDIN_UNHEALTHY=1 -> GET / is 503 (0 or empty: "
          "200)", unhealthy)

    def robust():
        env, ports = service_env("data")
        port = ports["QUOBYTE_HTTP_PORT"]
        p = R.start(binary, env)
        wait_port(port, p)
        # garbage
        for junk, want in ((b"\x00\x01\x02garbage\r\n\r\n", b" 400 "),
                           (b"FOO\n\n", b" 400 "),
                           (b"POST / HTTP/1.0\r\n\r\n", b" 405 "),
                           (b"G" * 8192, b" 431 ")):
            with socket.create_connection(("127.0.0.1", port), 3) as s:
                s.sendall(junk)
                head = s.recv(200)
            expect(want in head.split(b"\r\n")[0] + b" ",
                   f"{junk[:20]!r}: {head[:40]!r}")
        # silent clients, more than the 64 connection slots, plus one that
        # sent half a request: health still answers at once
        silent = [socket.create_connection(("127.0.0.1", port), 3)
                  for _ in range(100)]
        silent[-1].sendall(b"GET / HTTP/1.0\r\nHost: x")
        try:
            t0 = time.monotonic()
            st, _ = http_get(port, timeout=2)
            dt = time.monotonic() - t0
            expect(st == 200 and dt < 0.5, f"health {st} after {dt:.2f} s")
            # the server drops a silent connection after its timeout (2 s)
            s = silent[-1]
            s.settimeout(5)
            t0 = time.monotonic()
            data = s.recv(100)
            dt = time.monotonic() - t0
            expect(data == b"" and dt < 4, f"half request: {data!r} {dt:.1f}")
        finally:
            for s in silent:
                s.close()
        st, _ = http_get(port)
        expect(st == 200 and p.poll() is None, "alive afterwards")
        err = stop(p)[0], stderr_of(p)
        expect(err[0] == 0, f"exit {err[0]}")
        # the newest connection (the half request) was not the one dropped
        expect("event=request_timeout port=%d bytes=23" % port in err[1] and
               "event=bad_request" in err[1] and
               "event=connection_dropped" in err[1],
               f"log lines: {err[1][-500:]}")
    check("host: garbage (400/405/431), 100 silent clients and a half "
          "request do not wedge it; silent connections time out", robust)

    def devices():
        root = R.tmpdir("dev")
        imgs = R.tmpdir("img")
        R.loop_fs(imgs, "d1", os.path.join(root, "disk1"), "DATA_DEVICE")
        R.loop_fs(imgs, "nomark", os.path.join(root, "plain"), None)
        env, ports = service_env("data")
        port = ports["QUOBYTE_HTTP_PORT"]
        p = R.start(binary, env)
        wait_port(port, p)
        devs = {d["path"]: d for d in report(port)["devices"]}
        d1 = devs.get(os.path.join(root, "disk1"))
        expect(d1 is not None, f"disk1 not in {list(devs)}")
        expect(os.path.join(root, "plain") not in devs, "unmarked listed")
        st = os.statvfs(d1["path"])
        expect(d1["fstype"] == "ext4" and d1["mount_point"] is True and
               d1["type"] == "DATA_DEVICE" and
               d1["types"] == ["DATA_DEVICE"], f"disk1 {d1}")
        expect(d1["bytes_total"] == st.f_blocks * st.f_frsize and
               0 < d1["bytes_free"] <= d1["bytes_total"] and
               d1["bytes_total"] > 20 << 20, f"sizes {d1}")
        # a second one, mounted later, at a path with a space (mountinfo
        # writes it as \040)
        late = os.path.join(root, "disk 2")
        R.loop_fs(imgs, "d2", late, "METADATA_DEVICE")
        rep = report(port)
        paths = [d["path"] for d in rep["devices"]]
        expect(late in paths, f"late disk not in {paths}")
        expect(paths == sorted(paths), f"not sorted: {paths}")
        d2 = [d for d in rep["devices"] if d["path"] == late][0]
        expect(d2["type"] == "METADATA_DEVICE" and d2["fstype"] == "ext4",
               f"disk 2 {d2}")
        p.kill()
    check("host: /report lists a marked loop-device ext4 (fstype, byte "
          "counts, type), not an unmarked one; one mounted later (path with "
          "a space) is in the next report", devices)

    def json_escaping():
        # the last byte is not UTF-8: reported as U+FFFD
        nasty = b'q"uote\\back\nnl\ttab\x01ctl \xc3\xa9 \xff'
        env, ports = service_env("api")
        env[b"QUOBYTE_EXTRA_SERVICE_CONFIG"] = nasty
        # a UTF-16 surrogate in UTF-8 form (invalid): one U+FFFD per byte
        env[b"QUOBYTE_X_SURROGATE"] = b"a\xed\xa0\x80b"
        p = R.start(binary, env)
        port = ports["QUOBYTE_API_PORT"]
        wait_port(port, p)
        rep = report(port)
        got = rep["env"]["QUOBYTE_EXTRA_SERVICE_CONFIG"]
        want = nasty[:-1].decode() + "\ufffd"
        expect(got == want, f"{got!r} != {want!r}")
        got = rep["env"]["QUOBYTE_X_SURROGATE"]
        expect(got == "a\ufffd\ufffd\ufffdb", f"surrogate: {got!r}")
        p.kill()
    check("host: /report escapes quotes, backslashes, control characters "
          "(valid JSON)", json_escaping)

    def client():
        env, ports = service_env("client")
        mp = env["QUOBYTE_MOUNT_POINT"]
        p = R.start(binary, env)
        port = ports["QUOBYTE_HTTP_PORT"]
        wait_port(port, p)
        expect(mountinfo().get(mp) == "tmpfs", f"{mp} not a tmpfs")
        with open(os.path.join(mp, ".quobyte-standin")) as f:
            expect(f.read() == socket.gethostname() + "\n", "marker content")
        rep = report(port)
        expect(rep["client"] == {"mount_point": mp, "mounted": True,
                                 "fstype": "tmpfs"}, f"client {rep}")
        rc, dt = stop(p)
        expect(rc == 0 and dt < 1.0, f"exit {rc} after {dt:.2f} s")
        expect(mp not in mountinfo(), "still mounted after SIGTERM")
    check("host: client mounts a tmpfs at QUOBYTE_MOUNT_POINT with "
          ".quobyte-standin (hostname), reports it, unmounts on SIGTERM",
          client)

    def signals():
        env, ports = service_env("registry")
        p = R.start(binary, env)
        wait_port(ports["QUOBYTE_HTTP_PORT"], p)
        rc, dt = stop(p)
        expect(rc == 0 and dt < 0.5, f"SIGTERM: exit {rc} after {dt:.2f} s")
        expect("event=exit reason=Terminated status=0" in stderr_of(p),
               "exit log line")
        env, ports = service_env("registry", {"QUOBYTE_STANDIN_IGNORE_TERM": "1"})
        p = R.start(binary, env)
        wait_port(ports["QUOBYTE_HTTP_PORT"], p)
        p.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        expect(p.poll() is None, "IGNORE_TERM: exited on SIGTERM")
        st, _ = http_get(ports["QUOBYTE_HTTP_PORT"])
        expect(st == 200, "IGNORE_TERM: not serving")
        rc, _ = stop(p, signal.SIGINT)
        expect(rc == 0, f"SIGINT: exit {rc}")
        env, ports = service_env("webconsole", {"QUOBYTE_STANDIN_EXIT": "3"})
        t0 = time.monotonic()
        p = R.start(binary, env)
        rc = p.wait(timeout=5)
        dt = time.monotonic() - t0
        expect(rc == 3 and dt < 2, f"EXIT=3: exit {rc} after {dt:.2f} s")
    check("host: SIGTERM -> exit 0 promptly; IGNORE_TERM=1 survives it; "
          "QUOBYTE_STANDIN_EXIT=3 -> exit 3", signals)


# ----------------------------------------------------- container tests

def podman_env():
    r = run(["bash", os.path.join(TOP, "tests/container/podman_lib.sh"),
             "env"], timeout=900)
    kv = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    return ["podman"] + kv["QM_PODMAN_ARGS"].split(), \
        kv["QM_PODMAN_ULIMITS"].split()


def container_tests():
    t0 = time.monotonic()
    r = run([os.path.join(HERE, "build.sh"), VERSION], timeout=900)
    print("  " + r.stdout.strip().replace("\n", "\n  ") +
          f"\n  (build.sh: {time.monotonic() - t0:.1f} s)", flush=True)
    P, ULIM = podman_env()
    R.podman = P

    def prun(image, env, volumes=(), extra=()):
        cmd = P + ["run", "-d", "--label", "qm.test=standin",
                   "--network=host", "--privileged"] + ULIM + list(extra)
        for k, v in env.items():
            if k != "PATH":
                cmd += ["-e", f"{k}={v}"]
        for v in volumes:
            cmd += ["-v", v]
        cid = run(cmd + [image]).stdout.strip()
        R.containers.append(cid)
        return cid

    def exit_code(cid):
        return int(run(P + ["inspect", "--format", "{{.State.ExitCode}}",
                            cid]).stdout.strip())

    def logs(cid):
        r = run(P + ["logs", cid], check_rc=False)
        return r.stdout + r.stderr

    img = f"{IMAGE}:{VERSION}"

    def ctr_devices():
        root = R.shared_root("ctr-dev")
        imgs = R.tmpdir("ctr-img")
        R.loop_fs(imgs, "c1", os.path.join(root, "disk1"), "DATA_DEVICE")
        env, ports = service_env("data", {"HOST": socket.gethostname()})
        del env["QUOBYTE_STANDIN_VERSION"]  # the image's own
        cid = prun(img, env, [f"{root}:{root}:rw,rshared"])
        port = ports["QUOBYTE_HTTP_PORT"]
        st, _ = wait_port(port, timeout=20)
        expect(st == 200, f"health {st}")
        st, _ = http_get(ports["QUOBYTE_RPC_PORT"])
        expect(st == 200, f"rpc port {st}")
        rep = report(port)
        expect(rep["version"] == VERSION and
               rep["env"]["QUOBYTE_STANDIN_VERSION"] == VERSION,
               f"version {rep['version']}")
        paths = [d["path"] for d in rep["devices"]]
        expect(paths == [os.path.join(root, "disk1")], f"devices {paths}")
        late = os.path.join(root, "late disk")
        R.loop_fs(imgs, "c2", late, "REGISTRY")
        rep = report(port)
        devs = {d["path"]: d for d in rep["devices"]}
        expect(late in devs, f"late mount not seen: {list(devs)}")
        expect(devs[late]["fstype"] == "ext4" and
               devs[late]["type"] == "REGISTRY" and
               devs[late]["bytes_total"] > 20 << 20, f"{devs[late]}")
        t = time.monotonic()
        run(P + ["stop", "-t", "10", cid])
        dt = time.monotonic() - t
        expect(exit_code(cid) == 0 and dt < 3,
               f"stop: exit {exit_code(cid)} after {dt:.1f} s")
        expect("event=exit reason=Terminated" in logs(cid), "exit log line")
    check("container: data service (host net, privileged, ROOT:ROOT:rw,"
          "rshared of a shared ROOT): health on both ports, image version, "
          "a disk mounted on the host after start appears in /report; "
          "podman stop -> exit 0", ctr_devices)

    def ctr_no_shared():
        root = R.tmpdir("ctr-private")  # not a mount of its own: private
        imgs = R.tmpdir("ctr-img2")
        env, ports = service_env("data")
        cid = prun(img, env, [f"{root}:{root}:rw,rshared"])
        port = ports["QUOBYTE_HTTP_PORT"]
        wait_port(port, timeout=20)
        R.loop_fs(imgs, "p1", os.path.join(root, "disk1"), "DATA_DEVICE")
        expect(report(port)["devices"] == [],
               "propagated although the host side is private?")
        run(P + ["rm", "-f", "-t", "0", cid])
    check("container: rshared WITHOUT a shared host mount: accepted "
          "silently, but a later host mount never reaches the container",
          ctr_no_shared)

    def ctr_subdir_of_shared():
        shared = R.shared_root("ctr-sub")
        root = os.path.join(shared, "devices")  # not a mount point itself
        os.makedirs(root)
        imgs = R.tmpdir("ctr-img3")
        env, ports = service_env("registry")
        prun(img, env, [f"{root}:{root}:rw,rshared"])
        port = ports["QUOBYTE_HTTP_PORT"]
        wait_port(port, timeout=20)
        R.loop_fs(imgs, "s1", os.path.join(root, "disk1"), "DIR_DEVICE")
        paths = [d["path"] for d in report(port)["devices"]]
        expect(paths == [os.path.join(root, "disk1")], f"devices {paths}")
    check("container: ROOT a plain directory below a shared mount: a later "
          "host mount reaches the container too (the mount holding ROOT "
          "must be shared, ROOT need not be a mount point)",
          ctr_subdir_of_shared)

    def ctr_unhealthy():
        env, ports = service_env("metadata")
        del env["QUOBYTE_STANDIN_VERSION"]
        cid = prun(f"{img}-unhealthy", env)
        st, _ = wait_port(ports["QUOBYTE_HTTP_PORT"], timeout=20)
        expect(st == 503, f"unhealthy image answered {st}")
        expect(report(ports["QUOBYTE_HTTP_PORT"])["version"] == VERSION,
               "version")
        run(P + ["rm", "-f", "-t", "0", cid])
    check("container: the -unhealthy image answers GET / with 503",
          ctr_unhealthy)

    def ctr_exit_and_grace():
        env, _ = service_env("api", {"QUOBYTE_STANDIN_EXIT": "3"})
        cid = prun(img, env)
        rc = run(P + ["wait", cid], timeout=30).stdout.strip()
        expect(rc == "3", f"podman wait: {rc}")
        env, ports = service_env("webconsole",
                                 {"QUOBYTE_STANDIN_IGNORE_TERM": "1"})
        cid = prun(img, env)
        wait_port(ports["QUOBYTE_WEBCONSOLE_PORT"], timeout=20)
        t = time.monotonic()
        run(P + ["stop", "-t", "2", cid], check_rc=False, timeout=30)
        dt = time.monotonic() - t
        rc = exit_code(cid)
        expect(rc == 137 and 1.9 < dt < 6,
               f"IGNORE_TERM stop -t 2: exit {rc} after {dt:.1f} s")
    check("container: QUOBYTE_STANDIN_EXIT=3 -> podman wait 3; "
          "IGNORE_TERM=1 -> stop waits out the grace, exit 137",
          ctr_exit_and_grace)

    def ctr_client(pid_host):
        def t():
            croot = R.shared_root("ctr-client")
            hmp = os.path.join(croot, "mnt")
            os.makedirs(hmp)
            env, ports = service_env("client")
            env["QUOBYTE_MOUNT_POINT"] = "/quobyte"
            cid = prun(img, env, [f"{hmp}:/quobyte:rw,rshared"],
                       ["--pid", "host"] if pid_host else [])
            port = ports["QUOBYTE_HTTP_PORT"]
            wait_port(port, timeout=20)
            rep = report(port)
            expect(rep["client"] == {"mount_point": "/quobyte",
                                     "mounted": True, "fstype": "tmpfs"},
                   f"client {rep.get('client')}")
            expect(mountinfo().get(hmp) == "tmpfs",
                   f"{hmp} on the host: {mountinfo().get(hmp)}")
            with open(os.path.join(hmp, ".quobyte-standin")) as f:
                expect(f.read() == rep["hostname"] + "\n", "file content")
            run(P + ["stop", "-t", "10", cid])
            expect(exit_code(cid) == 0, f"exit {exit_code(cid)}")
            expect(hmp not in mountinfo(), "host mount left after stop")
        return t
    check("container: client --pid host: its tmpfs at /quobyte appears at "
          "the host path (shared), file names its hostname; gone after "
          "podman stop", ctr_client(True))
    check("container: client without --pid host: the same (propagation, "
          "not the PID namespace, carries the mount)", ctr_client(False))

    def ctr_client_killed():
        croot = R.shared_root("ctr-client-kill")
        hmp = os.path.join(croot, "mnt")
        os.makedirs(hmp)
        env, ports = service_env("client", {"QUOBYTE_STANDIN_IGNORE_TERM": "1"})
        env["QUOBYTE_MOUNT_POINT"] = "/quobyte"
        cid = prun(img, env, [f"{hmp}:/quobyte:rw,rshared"],
                   ["--pid", "host"])
        wait_port(ports["QUOBYTE_HTTP_PORT"], timeout=20)
        run(P + ["stop", "-t", "1", cid], check_rc=False, timeout=30)
        left = mountinfo().get(hmp)
        expect(left == "tmpfs", f"expected a stale tmpfs left, got {left}")
        # what a real deployment must clean up: the release() sweep does
    check("container: client SIGKILLed (no unmount) leaves its tmpfs "
          "mounted on the host (a stale client mount, as with real clients)",
          ctr_client_killed)


def main():
    if os.geteuid() != 0:
        print("standin: needs root (mount, losetup, podman)")
        print("standin: 0 passed, 1 failed")
        return 1
    t0 = time.monotonic()
    bindir = tempfile.mkdtemp(prefix="qm-standin-bin.")
    try:
        # QM_STANDIN_BIN: run the host part against another build (e.g.
        # one with sanitizers); the image always holds compile.sh's
        binary = os.environ.get("QM_STANDIN_BIN") or run(
            [os.path.join(HERE, "compile.sh"), bindir]).stdout.strip()
        host_tests(binary)
        if "--host-only" not in sys.argv[1:]:
            container_tests()
    except Exception as e:  # noqa: BLE001 -- setup failure counts as one
        global failed
        failed += 1
        print(f"  FAIL setup: {type(e).__name__}: {e}", flush=True)
    finally:
        R.release()
        shutil.rmtree(bindir, ignore_errors=True)
    print(f"  ({time.monotonic() - t0:.1f} s)")
    print(f"standin: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
