"""Harness for the prober's integration tests and benchmarks.

Everything here is real: loop devices (truncate + losetup), mkfs.ext4 /
mkfs.xfs, mounts, udevd, the quobyte-prober binary and the bus_receiver test
tool (the coordinator's end of the bus), both from a build directory.

Environment:
  QM_BUILD_DIR     build directory holding quobyte-prober and bus_receiver
                   (default /work/main/build-asan; benchmarks default to
                   /work/main/build-release)
  QM_IT_TMPDIR     where per-test temporary roots are made (default /tmp)
  QM_IT_LOGDIR     where each test's process logs are kept after the test
                   (default: a fresh /tmp/qm-integration-logs-XXXX)
  QM_IT_TIMEOUT    scale factor for every wait (default 1; raise it on slow
                   machines)

Every resource (process, mount, loop device, udevd, temp dir) is registered
the moment it exists and released in reverse order by the owning test's
cleanup, or at interpreter exit, or on SIGINT/SIGTERM — so an interrupted
or failing run leaves no loop devices or mounts behind.
"""

import atexit
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SRC_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TMP_PARENT = os.environ.get("QM_IT_TMPDIR", "/tmp")
TMP_PREFIX = "qmit-"
TIMEOUT_SCALE = float(os.environ.get("QM_IT_TIMEOUT", "1"))

# Generous upper bounds that only catch hangs; nothing asserts speed.
EVENT_TIMEOUT = 20.0
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

MARKER_FILE = "QUOBYTE_DEV_SETUP"
MARKER_ID_FILE = "QUOBYTE_DEV_ID"
CRED_LABEL = b"quobyte-mesos/bus/node/v1"


def scaled(t):
    return t * TIMEOUT_SCALE


def build_dir(default=os.path.join(SRC_DIR, "build-asan")):
    return os.environ.get("QM_BUILD_DIR", default)


def binary(name, bdir=None):
    path = os.path.join(bdir or build_dir(), name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not found or not executable (QM_BUILD_DIR=%s)"
                           % (path, bdir or build_dir()))
    return path


def log_dir():
    d = os.environ.get("QM_IT_LOGDIR")
    if not d:
        d = tempfile.mkdtemp(prefix="qm-integration-logs-")
        os.environ["QM_IT_LOGDIR"] = d
    os.makedirs(d, exist_ok=True)
    return d


def run(cmd, check=True, timeout=120, **kw):
    """Run a command, capture its output; raise with the output on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                   p.stderr.strip()))
    return p


# --------------------------------------------------------------------------
# Resource registry: release in reverse order, exactly once, whatever happens


class Resources:
    def __init__(self):
        self._stack = []  # (description, callable)

    def push(self, what, release):
        token = (what, release)
        self._stack.append(token)
        return token

    def discard(self, token):
        """The owner released it itself."""
        try:
            self._stack.remove(token)
        except ValueError:
            pass

    def release(self, token):
        if token in self._stack:
            self._stack.remove(token)
            _call_quietly(token)

    def release_all(self):
        while self._stack:
            _call_quietly(self._stack.pop())

    def mark(self):
        return len(self._stack)

    def release_to(self, mark):
        while len(self._stack) > mark:
            _call_quietly(self._stack.pop())


def _call_quietly(token):
    what, release = token
    try:
        release()
    except Exception as e:  # cleanup must go on with the rest
        sys.stderr.write("qmtest: cleanup of %s failed: %s\n" % (what, e))


RESOURCES = Resources()
atexit.register(RESOURCES.release_all)


def _on_fatal_signal(signum, frame):
    RESOURCES.release_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_fatal_signal)


# --------------------------------------------------------------------------
# Block devices, filesystems, mounts


def mounted_at(path):
    """Mount points (as in /proc/self/mountinfo) equal to or below path."""
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def umount(mp):
    """Unmount; retry briefly, then lazily, so a busy mount never leaks."""
    for _ in range(10):
        if mp not in mounted_at(mp):
            return
        if run(["umount", mp], check=False).returncode == 0:
            continue
        time.sleep(0.2)
    if mp in mounted_at(mp):
        run(["umount", "-l", mp], check=False)


class LoopDevice:
    """A sparse image file attached to a free loop device."""

    def __init__(self, image, size):
        self.image = image
        self.path = None
        with open(image, "wb") as f:
            f.truncate(size)
        self.path = run(["losetup", "-f", "--show", image]).stdout.strip()
        self._token = RESOURCES.push("loop " + self.path, self._detach)

    def _detach(self):
        if self.path is None:
            return
        for _ in range(25):
            p = run(["losetup", "-d", self.path], check=False)
            if p.returncode == 0 or not self.attached():
                break
            time.sleep(0.2)
        self.path = None

    def attached(self):
        if self.path is None:
            return False
        p = run(["losetup", "-n", "-O", "BACK-FILE", self.path], check=False)
        return p.returncode == 0 and os.path.basename(self.image) in p.stdout

    def detach(self):
        RESOURCES.release(self._token)

    def mkfs(self, fstype, label=None, options=()):
        """Make a filesystem; returns its UUID as blkid reports it."""
        if fstype == "ext4":
            cmd = ["mkfs.ext4", "-q", "-F"] + (["-L", label] if label else [])
        elif fstype == "xfs":
            cmd = ["mkfs.xfs", "-q", "-f"] + (["-L", label] if label else [])
        else:
            raise ValueError(fstype)
        run(cmd + list(options) + [self.path])
        return fs_uuid(self.path)


def fs_uuid(dev):
    # -p: probe the device itself, not blkid's (or udev's) cache
    return run(["blkid", "-p", "-o", "value", "-s", "UUID", dev]).stdout.strip()


class Mount:
    def __init__(self, source, target, options=None, bind=False):
        os.makedirs(target, exist_ok=True)
        cmd = ["mount"]
        if bind:
            cmd.append("--bind")
        if options:
            cmd += ["-o", options]
        run(cmd + [source, target])
        self.source, self.target = source, target
        self._token = RESOURCES.push("mount " + target, lambda: umount(target))

    def umount(self):
        RESOURCES.release(self._token)


# mount(2)/umount2(2) directly, for timing: mount(8) does work after the
# system call (utab, process exit) that would be counted otherwise.
_libc = None


def sys_mount(source, target, fstype):
    global _libc
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0,
                   None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def sys_umount(target):
    """umount2(target, 0). EBUSY is retried for up to a second: the prober
    looks at a new mount once more right after reporting it (its follow-up
    scan once the root is watched) and may hold the root open for that
    instant."""
    global _libc
    import ctypes
    import errno
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    deadline = time.monotonic() + scaled(1.0)
    while _libc.umount2(target.encode(), 0) != 0:
        e = ctypes.get_errno()
        if e != errno.EBUSY or time.monotonic() >= deadline:
            raise OSError(e, "umount %s: %s" % (target, os.strerror(e)))
        time.sleep(0.005)


# The hung-disk tests: a FUSE mount whose daemon can be paused (SIGSTOP),
# so a loop device over an image file on it blocks every read.
BINDFS = shutil.which("bindfs")


class Bindfs:
    """A FUSE mirror of a directory whose daemon can be paused."""

    def __init__(self, source, target):
        os.makedirs(source)
        os.makedirs(target)
        self.target = target
        # -f: stays in the foreground, so its pid is the daemon's
        self.proc = subprocess.Popen([BINDFS, "-f", source, target],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.paused = False
        self._token = RESOURCES.push("bindfs %s" % target, self._stop)
        wait_until(lambda: os.path.ismount(target), 10, what="bindfs mounted")

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.paused = False

    def _stop(self):
        self.resume()
        run(["umount", "-l", self.target], check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def marker_text(types=("DATA_DEVICE",), serial=None, model="Loop-Test",
                extra=()):
    lines = ["# Quobyte device identifier file",
             "# Created by the quobyte-mesos integration tests"]
    if serial:
        lines.append("device.serial=" + serial)
    if model:
        lines.append("device.model=" + model)
    for t in types:
        lines.append("device.type=" + t)
    lines.extend(extra)
    return "\n".join(lines) + "\n"


def write_marker(directory, text=None, atomic=False, **kw):
    """Write QUOBYTE_DEV_SETUP: in place (open/write/close, IN_CLOSE_WRITE)
    or atomically (temp name + rename, IN_MOVED_TO). Returns its path."""
    data = text if text is not None else marker_text(**kw)
    if isinstance(data, str):
        data = data.encode()
    path = os.path.join(directory, MARKER_FILE)
    target = path + ".tmp" if atomic else path
    with open(target, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if atomic:
        os.rename(target, path)
    return path


def remove_marker(directory):
    os.unlink(os.path.join(directory, MARKER_FILE))


# --------------------------------------------------------------------------
# udevd: started for tests of the "udev" event source, stopped by its pid


def _pids_named(comm):
    pids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() == comm:
                        pids.add(int(d))
            except OSError:
                pass
    return pids


class Udevd:
    """systemd-udevd in daemon mode. If one is already running (not ours),
    it is used and left alone."""

    BINARY = "/lib/systemd/systemd-udevd"
    CONTROL = "/run/udev/control"

    def __init__(self):
        self.pid = None
        before = _pids_named("systemd-udevd")
        if before:
            return
        if not os.access(self.BINARY, os.X_OK):
            raise RuntimeError("%s missing (package udev)" % self.BINARY)
        # udevd leaves its control socket behind when it stops; remove it
        # then unless it was there before, so later tests see no udev
        self._had_control = os.path.exists(self.CONTROL)
        run([self.BINARY, "--daemon"])
        deadline = time.monotonic() + scaled(10)
        while time.monotonic() < deadline:
            # the daemon is the one without a systemd-udevd parent (workers
            # are its children)
            pids = _pids_named("systemd-udevd") - before
            for pid in pids:
                if _ppid(pid) not in pids:
                    self.pid = pid
            if self.pid and os.path.exists(self.CONTROL):
                break
            time.sleep(0.05)
        if not self.pid:
            raise RuntimeError("systemd-udevd did not start")
        self._token = RESOURCES.push("udevd %d" % self.pid, self._stop)
        # let it process the current device state so ID_FS_* is in its db
        run(["udevadm", "trigger", "--action=add", "--subsystem-match=block"],
            check=False)
        run(["udevadm", "settle", "--timeout=10"], check=False)

    def _stop(self):
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % self.pid):
            try:
                # reap if it happens to be our child; it normally is not
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None
        if not self._had_control:
            try:
                os.unlink(self.CONTROL)
            except FileNotFoundError:
                pass

    def stop(self):
        if self.pid:
            RESOURCES.release(self._token)


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def settle():
    """Wait for udev to finish processing, when it runs."""
    if os.path.exists("/run/udev/control"):
        run(["udevadm", "settle", "--timeout=10"], check=False)


# --------------------------------------------------------------------------
# Processes


class Process:
    """A child with stdout/stderr in files; stop() = SIGTERM + exit status."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.argv = argv
        self.stdout_path = _unique(os.path.join(logdir, name + ".stdout"))
        self.stderr_path = self.stdout_path[:-len(".stdout")] + ".stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS",
                            "detect_leaks=1:abort_on_error=0:exitcode=86")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=full_env)
        self.pid = self.proc.pid
        self.stopped = False
        self._token = RESOURCES.push("%s pid %d" % (name, self.pid), self._kill)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal and wait; returns (exit status, seconds it took). A process
        that does not exit within the timeout is killed and reported as
        status None."""
        t0 = time.monotonic()
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        took = time.monotonic() - t0
        RESOURCES.discard(self._token)
        self._close_files()
        return rc, took

    def kill(self):
        """SIGKILL (a crash, as far as peers can tell)."""
        self.stopped = True
        self.proc.kill()
        self.proc.wait()
        RESOURCES.discard(self._token)
        self._close_files()

    def stderr_text(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stdout_text(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()


def _unique(path):
    if not os.path.exists(path):
        return path
    base, ext = os.path.splitext(path)
    i = 2
    while os.path.exists("%s.%d%s" % (base, i, ext)):
        i += 1
    return "%s.%d%s" % (base, i, ext)


_HANDED_OUT = set()


def free_tcp_port():
    """A loopback port free right now and never handed out before by this
    process: two ports asked for in a row (REST and bus of one coordinator)
    must differ, and the kernel may offer a just-closed port again."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no fresh free TCP port")


def wait_until(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s"
                               % (scaled(timeout), what))
        time.sleep(interval)


# --------------------------------------------------------------------------
# The receiver and what it saw


class Receiver(Process):
    """bus_receiver listening on url; reads its JSON lines incrementally."""

    def __init__(self, url, secret_file, logdir, extra=(), bdir=None):
        argv = [binary("bus_receiver", bdir), "--listen", url,
                "--secret-file", secret_file] + list(extra)
        super().__init__("receiver", argv, logdir)
        self.url = url
        self.messages = []
        self._pos = 0
        self._partial = b""
        self._cursor = 0  # index of the first message not yet consumed
        wait_until(lambda: "receiver_listening" in self.stderr_text()
                   or not self.alive(), START_TIMEOUT, what="receiver listening")
        if not self.alive():
            raise RuntimeError("bus_receiver exited: " + self.stderr_text())

    def poll(self):
        """Read new complete lines; returns the number of new messages."""
        with open(self.stdout_path, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.messages.append(json.loads(line))
        return len(lines)

    def next(self, pred=lambda m: True, timeout=EVENT_TIMEOUT, what="message",
             interval=0.02):
        """The first not yet consumed message matching pred (messages before
        it are consumed too)."""
        def find():
            self.poll()
            for i in range(self._cursor, len(self.messages)):
                if pred(self.messages[i]):
                    self._cursor = i + 1
                    return self.messages[i]
            return None
        return wait_until(find, timeout, interval=interval, what=what)

    def skip_all(self):
        """Consume everything seen so far."""
        self.poll()
        self._cursor = len(self.messages)

    def accepted(self, agent_id=None):
        self.poll()
        return [m for m in self.messages if m.get("kind") != "rejected" and
                (agent_id is None or m.get("node", {}).get("agent_id") == agent_id)]

    def rejected(self):
        self.poll()
        return [m for m in self.messages if m.get("kind") == "rejected"]

    def inventory(self, agent_id):
        """The node's device inventory as the receiver holds it now: {key:
        device}, or None before any accepted snapshot. Mirrors the
        receiver's own rules (a delta answered with send_snapshot is not
        applied)."""
        devices = None
        for m in self.accepted(agent_id):
            if m.get("reply_dropped"):
                continue
            kind = m.get("kind")
            if kind == "snapshot":
                devices = {d["key"]: d for d in m.get("devices", [])}
            elif kind == "delta" and devices is not None and \
                    not m.get("reply_send_snapshot"):
                for d in m.get("upserted", []):
                    devices[d["key"]] = d
                for k in m.get("removed", []):
                    devices.pop(k, None)
            elif m.get("reply_send_snapshot"):
                devices = None
        return devices

    def wait_inventory(self, agent_id, pred, timeout=EVENT_TIMEOUT,
                       what="inventory"):
        """Wait until pred(inventory dict) holds; returns the inventory."""
        def check():
            inv = self.inventory(agent_id)
            # wrapped: an empty inventory is a valid answer, yet falsy
            return (inv,) if inv is not None and pred(inv) else None
        try:
            return wait_until(check, timeout, what=what)[0]
        except TimeoutError as e:
            raise AssertionError("%s; inventory held: %s" % (
                e, json.dumps(self.inventory(agent_id), indent=1)))


def by_root(inv, root):
    """The device whose root or one of whose aliases is root, else None."""
    for d in inv.values():
        if d.get("root") == root or root in d.get("aliases", []):
            return d
    return None


def derive_credential(secret, agent_id):
    """The node credential, computed here from the documented formula."""
    return hmac.new(secret, CRED_LABEL + b"\0" + agent_id.encode(),
                    hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------
# A per-test environment: temp root, secret, receiver, prober(s)


class Env:
    """Owns everything one test makes. close() releases it all."""

    def __init__(self, test_id, udev_source="kernel"):
        self.test_id = test_id
        self.udev_source = udev_source
        self._mark = RESOURCES.mark()
        self.root = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=TMP_PARENT)
        self.root = os.path.realpath(self.root)
        CREATED_ROOTS.append(self.root)
        RESOURCES.push("tmp " + self.root, self._remove_root)
        self.mnt = os.path.join(self.root, "mnt")
        self.img = os.path.join(self.root, "img")
        self.dirs = os.path.join(self.root, "dirs")
        self.logs = os.path.join(self.root, "logs")
        for d in (self.mnt, self.img, self.dirs, self.logs):
            os.makedirs(d)
        self.secret = secrets.token_hex(32).encode()
        self.secret_file = os.path.join(self.root, "cluster.secret")
        with open(self.secret_file, "wb") as f:
            f.write(self.secret + b"\n")
        self.url = "tcp://127.0.0.1:%d" % free_tcp_port()
        self.receiver = None
        self.agent_id = "agent-" + secrets.token_hex(4) + "-S0"
        self.hostname = "it-node"
        self._nloops = 0

    # -- resources --------------------------------------------------------

    def _remove_root(self):
        keep = os.path.join(log_dir(), _safe(self.test_id))
        if os.path.isdir(self.logs):
            shutil.copytree(self.logs, keep, dirs_exist_ok=True)
        for mp in sorted(mounted_at(self.root), reverse=True):
            umount(mp)
        if mounted_at(self.root):
            sys.stderr.write("qmtest: %s still has mounts; not removed\n"
                             % self.root)
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def close(self):
        RESOURCES.release_to(self._mark)

    def loop(self, size=64 << 20):
        self._nloops += 1
        return LoopDevice(os.path.join(self.img, "disk%d.img" % self._nloops),
                          size)

    def filesystem(self, fstype="ext4", name=None, size=None, label=None,
                   mkfs_options=(), mount_options=None):
        """A loop device with a fresh filesystem mounted under mnt/.
        Returns (loop, mountpoint, uuid)."""
        if size is None:
            size = (320 << 20) if fstype == "xfs" else (64 << 20)
        lo = self.loop(size)
        uuid = lo.mkfs(fstype, label, mkfs_options)
        mp = os.path.join(self.mnt, name or "dev%d" % self._nloops)
        m = Mount(lo.path, mp, mount_options)
        lo.mount = m
        settle()
        return lo, mp, uuid

    def directory_device(self, name):
        d = os.path.join(self.dirs, name)
        os.makedirs(d)
        return d

    # -- processes --------------------------------------------------------

    def credential(self, agent_id=None, bdir=None):
        p = run([binary("bus_receiver", bdir), "--derive",
                 agent_id or self.agent_id, "--secret-file", self.secret_file])
        return p.stdout.strip()

    def credential_file(self, agent_id=None):
        path = os.path.join(self.root, "cred-%s" % (agent_id or self.agent_id))
        with open(path, "w") as f:
            f.write(self.credential(agent_id) + "\n")
        return path

    def start_receiver(self, extra=()):
        self.receiver = Receiver(self.url, self.secret_file, self.logs, extra)
        return self.receiver

    def prober_args(self, agent_id=None, credential_file=None, extra=(),
                    rescan="10m", log_level="debug"):
        """Flags for a prober of this env. By default the safety rescan is
        pushed out to 10 minutes: events, not the rescan, must drive every
        test. rescan/log_level None = the prober's own default."""
        args = ["--coordinator", self.url,
                "--credential-file", credential_file or self.credential_file(agent_id),
                "--agent-id", agent_id or self.agent_id,
                "--hostname", self.hostname,
                "--device-roots", self.root,
                "--device-dirs", self.dirs,
                "--fs-types", "ext4,xfs",
                "--udev-source", self.udev_source]
        if rescan:
            args += ["--rescan-interval", rescan]
        if log_level:
            args += ["--log-level", log_level]
        return args + list(extra)

    def start_prober(self, extra=(), agent_id=None, credential_file=None,
                     env=None, rescan="10m", log_level="debug"):
        argv = [binary("quobyte-prober")] + self.prober_args(
            agent_id, credential_file, extra, rescan, log_level)
        return Process("prober", argv, self.logs, env)

    def prober_once(self, extra=(), env=None, args=None):
        """quobyte-prober --once --json; returns (exit status, parsed JSON or
        None, stderr)."""
        if args is None:
            args = ["--agent-id", self.agent_id, "--hostname", self.hostname,
                    "--device-roots", self.root, "--device-dirs", self.dirs,
                    "--fs-types", "ext4,xfs", "--udev-source", self.udev_source]
        argv = [binary("quobyte-prober")] + args + ["--once", "--json"] + list(extra)
        p = Process("prober-once", argv, self.logs, env)
        try:
            rc = p.proc.wait(timeout=scaled(START_TIMEOUT))
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("quobyte-prober --once did not exit")
        RESOURCES.discard(p._token)
        p._close_files()
        out = p.stdout_text()
        try:
            doc = json.loads(out) if out.strip() else None
        except ValueError:
            doc = None
        return rc, doc, p.stderr_text()


def _safe(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


# Temp roots made by this process: other harness runs on the machine (and
# their mounts) are none of our business.
CREATED_ROOTS = []


def leftovers():
    """Mounts and loop devices under this process's temp roots (including
    siblings named root + "-...") that still exist."""
    def ours(path):
        return any(path == r or path.startswith(r + "/") or
                   path.startswith(r + "-") for r in CREATED_ROOTS)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if ours(mp):
                found.append("mount " + mp)
    p = run(["losetup", "-a", "-n", "-O", "NAME,BACK-FILE"], check=False)
    for line in p.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and ours(parts[1].strip()):
            found.append("loop %s (%s)" % (parts[0], parts[1].strip()))
    return found


# --------------------------------------------------------------------------
# A minimal SP (nanomsg scalability protocols) REQ client over TCP, and
# protobuf + frame encoding, so tests can talk to bus_receiver directly:
# garbage frames, forged MACs, valid envelopes built from the spec.

SP_REQ, SP_REP = 0x30, 0x31


class SpReq:
    def __init__(self, url, timeout=10):
        assert url.startswith("tcp://")
        host, port = url[6:].rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.s.sendall(b"\0SP\0" + struct.pack(">HH", SP_REQ, 0))
        hdr = self._read(8)
        if hdr[:4] != b"\0SP\0" or struct.unpack(">H", hdr[4:6])[0] != SP_REP:
            raise RuntimeError("peer is not an SP REP socket: %r" % hdr)
        self.req_id = 0x80000001

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed")
            buf += chunk
        return buf

    def request(self, body):
        rid = self.req_id
        self.req_id = 0x80000000 | ((self.req_id + 1) & 0x7fffffff)
        msg = struct.pack(">I", rid) + body
        self.s.sendall(struct.pack(">Q", len(msg)) + msg)
        n = struct.unpack(">Q", self._read(8))[0]
        reply = self._read(n)
        if struct.unpack(">I", reply[:4])[0] != rid:
            raise RuntimeError("reply to another request")
        return reply[4:]

    def close(self):
        self.s.close()


def pb_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num, value):
    """Encode one field: int -> varint, bytes/str -> length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return pb_varint(num << 3) + pb_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return pb_varint((num << 3) | 2) + pb_varint(len(value)) + value


def pb_parse(data):
    """Decode one message level: {field number: [values]} (varints as int,
    length-delimited as bytes)."""
    out, i = {}, 0
    while i < len(data):
        key, i = _pb_read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _pb_read_varint(data, i)
        elif wt == 2:
            n, i = _pb_read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _pb_read_varint(data, i):
    shift = v = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def envelope(agent_id, generation, session, body_field, body,
             version=1, hostname="it-node"):
    """Envelope bytes: body_field 10 snapshot, 11 delta, 12 heartbeat."""
    node = pb_field(1, agent_id) + pb_field(2, hostname)
    return (pb_field(1, version) + pb_field(2, node) + pb_field(3, generation)
            + pb_field(4, int(time.time() * 1000)) + pb_field(5, session)
            + pb_field(body_field, body))


def frame(agent_id, payload, cred_hex):
    aid = agent_id.encode()
    head = b"QMBF" + struct.pack(">HHIH", 1, 0, len(payload), len(aid)) + aid
    mac = hmac.new(bytes.fromhex(cred_hex), head + payload, hashlib.sha256)
    return head + payload + mac.digest()


def unframe(data, cred_hex):
    """Check a frame's header and MAC; returns (agent id, payload)."""
    if data[:4] != b"QMBF":
        raise ValueError("bad magic")
    fmt, flags, plen, alen = struct.unpack(">HHIH", data[4:14])
    aid = data[14:14 + alen]
    payload = data[14 + alen:14 + alen + plen]
    mac = data[14 + alen + plen:]
    if fmt != 1 or flags != 0 or len(mac) != 32:
        raise ValueError("bad header")
    want = hmac.new(bytes.fromhex(cred_hex), data[:14 + alen + plen],
                    hashlib.sha256).digest()
    if not hmac.compare_digest(want, mac):
        raise ValueError("bad MAC")
    return aid.decode(), payload


# --------------------------------------------------------------------------
# unittest base class


import unittest  # noqa: E402


class ProberTestCase(unittest.TestCase):
    """Each test gets an Env (temp root, secret, free port) that is released
    afterwards whatever happens. Every prober a test starts is stopped with
    SIGTERM at the end and must exit with status 0 (under ASan a leak or a
    memory error makes it non-zero: a real failure)."""

    UDEV_SOURCE = "kernel"

    def setUp(self):
        self.env = Env(self.id(), self.UDEV_SOURCE)
        self.addCleanup(self.env.close)

    # -- processes --------------------------------------------------------

    def start_receiver(self, extra=()):
        return self.env.start_receiver(extra)

    def start_prober(self, extra=(), **kw):
        p = self.env.start_prober(extra, **kw)
        self.addCleanup(self._stop_if_running, p)
        return p

    def _stop_if_running(self, p):
        if not p.stopped:
            self.stop_prober(p)

    def stop_prober(self, p):
        """SIGTERM; assert a clean exit. Returns the seconds it took."""
        rc, took = p.stop()
        self.assertIsNotNone(rc, "prober did not exit within %.0fs of SIGTERM"
                             % scaled(STOP_TIMEOUT))
        self.assertEqual(rc, 0, "prober exit status %s on SIGTERM; stderr tail:\n%s"
                         % (rc, "\n".join(p.stderr_text().splitlines()[-30:])))
        return took

    def start(self, extra=(), receiver_extra=()):
        """Receiver + prober; returns (receiver, prober, first snapshot)."""
        rx = self.env.receiver or self.start_receiver(receiver_extra)
        p = self.start_prober(extra)
        snap = self.first_snapshot(rx, p)
        return rx, p, snap

    def first_snapshot(self, rx, p, what="first snapshot"):
        try:
            return rx.next(lambda m: m.get("kind") == "snapshot" and
                           not m.get("reply_dropped"), START_TIMEOUT, what=what)
        except TimeoutError as e:
            self.fail("%s (prober %s); prober stderr tail:\n%s" % (
                e, "running" if p.alive() else "exited %s" % p.proc.returncode,
                "\n".join(p.stderr_text().splitlines()[-30:])))

    def next_delta(self, rx, pred, what):
        """The next delta for this node satisfying pred(delta message)."""
        try:
            return rx.next(lambda m: m.get("kind") == "delta" and
                           m.get("node", {}).get("agent_id") == self.env.agent_id
                           and pred(m), EVENT_TIMEOUT, what=what)
        except TimeoutError as e:
            later = [m.get("kind") for m in rx.messages[rx._cursor:]]
            self.fail("%s; messages seen since: %s" % (e, later))

    def assert_no_resync(self, rx):
        """A healthy run never needs the receiver to ask for a snapshot."""
        asked = [m for m in rx.accepted(self.env.agent_id)
                 if m.get("reply_send_snapshot")]
        self.assertEqual(asked, [], "receiver had to ask for a snapshot "
                         "(delta base or heartbeat generation did not match)")

    # -- assertions on devices --------------------------------------------

    def device_in(self, devices, root):
        """The one device with this root (or alias) in a device list."""
        found = [d for d in devices if d.get("root") == root or
                 root in d.get("aliases", [])]
        self.assertEqual(len(found), 1, "expected one device at %s in %s"
                         % (root, json.dumps(devices, indent=1)))
        return found[0]

    def assert_block_device(self, d, lo, mp, uuid, fstype, types, serial=None):
        self.assertEqual(d.get("root"), mp)
        self.assertEqual(d.get("block_device"), lo.path)
        self.assertEqual(d.get("fs_type"), fstype)
        self.assertEqual(d.get("fs_uuid"), uuid)
        self.assertEqual(d.get("key"), "uuid:" + uuid,
                         "a loop device has no WWN/serial: key is the fs uuid")
        self.assertFalse(d.get("is_directory", False))
        self.assertEqual(sorted(d.get("types", [])), sorted(types))
        self.assertEqual(d.get("state"), "ok" if types else "no_type")
        if serial is not None:
            self.assertEqual(d.get("serial"), serial)
        size = d.get("size_bytes")
        self.assertIsNotNone(size, "size_bytes missing")
        self.assertTrue(0 < size <= os.path.getsize(lo.image),
                        "size_bytes %s vs image %d" % (size, os.path.getsize(lo.image)))
        if d.get("free_bytes") is not None:
            self.assertLessEqual(d["free_bytes"], size)
