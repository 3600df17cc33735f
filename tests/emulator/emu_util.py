"""Small shared pieces of the Mesos emulator: journal, timers, IDs."""

import heapq
import itertools
import json
import logging
import threading
import time

log = logging.getLogger("mesos-emulator")


class Journal:
    """Append-only JSON-lines record of every call and event.

    One line per record, flushed at once, so a crashed run can still be
    audited. Thread-safe.
    """

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, record):
        record = dict(record)
        record.setdefault("ts", round(time.time(), 6))
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            if self._file is None:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def note(self, what, **fields):
        fields["direction"] = "note"
        fields["what"] = what
        self.write(fields)

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Timer:
    __slots__ = ("when", "fn", "cancelled", "name")

    def __init__(self, when, fn, name):
        self.when = when
        self.fn = fn
        self.cancelled = False
        self.name = name

    def cancel(self):
        self.cancelled = True


class Timers:
    """One thread running callbacks at monotonic deadlines.

    Callbacks must be short; they run on the timer thread, one at a time.
    """

    def __init__(self):
        self._heap = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="timers",
                                        daemon=True)
        self._thread.start()

    def schedule(self, delay, fn, name=""):
        timer = Timer(time.monotonic() + max(0.0, delay), fn, name)
        with self._cond:
            heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
            self._cond.notify()
        return timer

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap:
                        delay = self._heap[0][0] - time.monotonic()
                        if delay <= 0:
                            break
                        self._cond.wait(delay)
                    else:
                        self._cond.wait()
                if self._stopped:
                    return
                _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                timer.fn()
            except Exception:  # a bug in one callback must not stop the rest
                log.exception("timer callback %s failed", timer.name)


def validate_id(value, what="ID"):
    """Mesos's common ID rule (task, executor IDs...). Returns an error text
    or None."""
    if not isinstance(value, str) or value == "":
        return "%s must not be empty" % what
    if len(value.encode("utf-8")) > 255:
        return "%s is longer than 255 bytes" % what
    if value in (".", ".."):
        return "%s must not be '.' or '..'" % what
    for char in value:
        if char in "/\\":
            return "%s '%s' contains '/' or '\\'" % (what, value)
        if ord(char) < 32 or ord(char) == 127:
            return "%s contains a control character" % what
    return None


def ip_to_packed(ip):
    """MasterInfo.ip: IPv4 in network order read as a little-endian uint32,
    as Mesos writes it (127.0.0.1 -> 16777343)."""
    try:
        parts = [int(p) for p in ip.split(".")]
        if len(parts) != 4:
            return 0
    except ValueError:
        return 0
    return parts[0] | (parts[1] << 8) | (parts[2] << 16) | (parts[3] << 24)
