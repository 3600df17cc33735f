"""A full disk under the file store (issue 12's fault list).

The coordinator's state directory sits on a 1 MiB tmpfs that the test fills
to the last byte while the cluster runs. What a storage operator expects:
nothing is done that is not on disk first -- no LAUNCH of a task that could
not be recorded, no status update acknowledged that could not be recorded, a
version change refused rather than half made -- a problem line that names
the disk and the error, and, once space is freed, the cluster catches up by
itself: the hot-added disk gets its service, the failed one comes back, every
update is acknowledged exactly once (the journal audit)."""

import errno
import os
import subprocess
import time
import unittest

from e2e import E2ETestCase, task_service, wait_until

VERSION = "3.0.1"
NEXT = "3.0.2"  # the change refused while the disk is full


def fill(path):
    """Write zeros to `path` until the filesystem is full; returns bytes."""
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chunk = b"\0" * 4096
    try:
        while True:
            n += os.write(fd, chunk)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return n


def save_problems(c):
    return [p for p in c.state().get("problems", [])
            if "cannot be saved" in p]


class FullStateDiskTest(E2ETestCase):
    NAGENTS = 3

    def test_full_disk_holds_launches_and_acks_then_catches_up(self):
        c = self.cluster
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700",
                        "quobyte-state-test", c.state_dir], check=True)
        c.disk("agent1", "reg", ["DIR_DEVICE"], bootstrap=True)
        c.disk("agent1", "md", ["METADATA_DEVICE"])
        c.disk("agent2", "data1", ["DATA_DEVICE"])
        c.start_coordinator()
        c.wait_reporting()
        c.set_version(VERSION)
        want = {"registry": ["agent1"], "metadata": ["agent1"],
                "data": ["agent2"], "api": 1, "webconsole": 1,
                "prober": c.hosts}
        c.wait_running(want)
        c.quiesce()

        filler = os.path.join(c.state_dir, "filler")
        filled = fill(filler)
        # The file store appends a small record per save (state.log): one
        # still fits in the page tmpfs already gave the log's tail, and is
        # then stored for real. Use that slack up with rollout pause/resume
        # (records without side effects, no smaller than a version
        # change's) until a save fails.
        for i in range(400):
            status, _, body = c.rest_call(
                "POST", "/v1/rollout/" + ("resume" if i % 2 else "pause"))
            if status == 500:
                break
            self.assertEqual(status, 200, body)
        else:
            self.fail("every save still fits on the full disk")
        mark = len(c.journal())
        t_full = time.time()

        # a version change that cannot be recorded is refused, not half made
        status, _, body = c.rest_call("POST", "/v1/version", NEXT,
                                      {"Content-Type": "text/plain"})
        self.assertEqual(status, 500, body)
        self.assertIn(b"No space left on device", body)
        self.assertEqual(c.state()["target_version"], VERSION)
        problems = wait_until(lambda: save_problems(c), 10,
                              what="a problem line about the state")
        self.assertIn("No space left on device", problems[0])
        self.assertIn(c.state_dir, problems[0])

        # a hot-added disk and a failed data service: both need a record
        # before anything is launched
        c.disk("agent3", "data1", ["DATA_DEVICE"])
        data2 = [t for t in c.node("agent2")["services"]
                 if t["service"] == "data"][0]
        c.emulator.control("task/fail", {"task_id": data2["task_id"],
                                         "message": "disk-full test"})
        # the offers of a few cycles come and go (the emulator resends an
        # unacknowledged update every 3 s)
        time.sleep(8)
        records = c.journal()[mark:]
        launched = [task_service(i) for _, i in c.launches(records)]
        self.assertEqual(launched, [], "launched while the state could "
                         "not be saved")
        acks = [r for r in records if r.get("direction") == "call" and
                r.get("call_type") == "ACKNOWLEDGE" and
                r.get("body", {}).get("acknowledge", {}).get(
                    "task_id", {}).get("value") == data2["task_id"]]
        self.assertEqual(acks, [], "the TASK_FAILED was acknowledged "
                         "before it was on disk")
        self.assertTrue(c.coordinator_alive())
        held = time.time() - t_full

        # space again: it catches up by itself
        os.unlink(filler)
        t_free = time.time()
        want["data"] = ["agent2", "agent3"]
        c.wait_running(want, timeout=60)
        caught_up = time.time() - t_free
        wait_until(lambda: not save_problems(c), 10,
                   what="the problem line gone")
        c.quiesce()
        self.note("state disk full (%d KiB written to fill it) for %.1fs: "
                  "no launch, no acknowledgement; after freeing it, both "
                  "data services ran %.1fs later"
                  % (filled >> 10, held, caught_up))
        c.finish(self)


if __name__ == "__main__":
    unittest.main()
