"""A disk whose reads hang must not stall the prober.

The hung disk is real: an ext4 filesystem on a loop device whose image file
lives on a FUSE mount (bindfs). Stopping the bindfs process (SIGSTOP) makes
every read that reaches the image block in the kernel; dropping the page
cache makes the next look at the marker such a read. That is what a dying
disk or a stalled network mount does to a prober that reads on its loop
thread: no other device is published, no heartbeat leaves."""

import json
import os
import time
import unittest

from qmtest import (BINDFS, EVENT_TIMEOUT, Bindfs, LoopDevice, Mount,
                    Process, ProberTestCase, binary, by_root, drop_caches,
                    settle, wait_until, write_marker)

@unittest.skipUnless(BINDFS, "bindfs is not installed (scripts/test.sh "
                     "installs it)")
class HungDeviceTest(ProberTestCase):
    TIMEOUT_MS = 300

    def hung_disk(self):
        """A marked ext4 disk whose image is on a pausable FUSE mount."""
        fuse = Bindfs(os.path.join(self.env.root, "fuse-src"),
                      os.path.join(self.env.root, "fuse"))
        lo = LoopDevice(os.path.join(fuse.target, "hung.img"), 64 << 20)
        lo.mkfs("ext4")
        mp = os.path.join(self.env.mnt, "hung")
        Mount(lo.path, mp)
        settle()
        write_marker(mp, serial="SER-HUNG", types=("DATA_DEVICE",))
        return fuse, mp

    def test_hung_disk_times_out_others_and_heartbeats_go_on(self):
        fuse, hung = self.hung_disk()
        _, ok, _ = self.env.filesystem("ext4", "ok")
        write_marker(ok, serial="SER-OK", types=("DATA_DEVICE",))
        rx, p, snap = self.start(extra=(
            "--probe-timeout", "%dms" % self.TIMEOUT_MS,
            "--heartbeat-interval", "200ms"))
        self.assertEqual(self.device_in(snap["devices"], hung)["state"], "ok")
        self.assertEqual(self.device_in(snap["devices"], ok)["state"], "ok")

        os.sync()  # nothing dirty may wait for the paused daemon
        fuse.pause()
        # the first cleanup: a prober with a blocked read cannot exit
        self.addCleanup(fuse.resume)
        drop_caches()
        t0 = time.monotonic()
        # a change on the healthy disk makes the prober scan both
        write_marker(ok, serial="SER-OK", types=("DATA_DEVICE",
                                                 "METADATA_DEVICE"))
        inv = rx.wait_inventory(
            self.env.agent_id,
            lambda inv: by_root(inv, ok) and
            sorted(by_root(inv, ok).get("types", [])) == ["data", "metadata"] and
            by_root(inv, hung) and
            by_root(inv, hung).get("state") == "probe_timeout",
            what="the healthy disk's change and the hung disk as probe_timeout")
        took = time.monotonic() - t0
        self.note("marker change -> published with one hung disk: %.0f ms "
                  "(--probe-timeout %d ms)" % (took * 1000, self.TIMEOUT_MS))
        d = by_root(inv, hung)
        self.assertEqual(d.get("types"), ["data"],
                         "the last known types stand: its service keeps running")
        self.assertIn("blocked", d.get("error", ""))
        self.assertEqual(d.get("serial"), "SER-HUNG")

        # heartbeats keep flowing while the reads stay blocked
        mark = len(rx.messages)
        rx.next(lambda m: m.get("kind") == "heartbeat", EVENT_TIMEOUT,
                what="a heartbeat while the disk hangs")
        rx.next(lambda m: m.get("kind") == "heartbeat", EVENT_TIMEOUT,
                what="a second heartbeat while the disk hangs")
        self.assertTrue(any(m.get("kind") == "heartbeat"
                            for m in rx.messages[mark:]))

        # a later change is not held up again by the same hung disk
        t1 = time.monotonic()
        write_marker(ok, serial="SER-OK-2", types=("DATA_DEVICE",))
        rx.wait_inventory(self.env.agent_id,
                          lambda inv: by_root(inv, ok) and
                          by_root(inv, ok).get("serial") == "SER-OK-2",
                          what="a second change while the disk hangs")
        self.note("second change while still hung: %.0f ms"
                  % ((time.monotonic() - t1) * 1000))
        warnings = [l for l in p.stderr_text().splitlines()
                    if "event=probe_timeout" in l]
        self.assertEqual(len(warnings), 1, "one warning per hang, not per "
                         "scan:\n" + "\n".join(warnings))
        self.assertIn("root=%s" % hung, warnings[0])
        self.assertTrue(p.alive())

        # the disk answers again: it is back without any event of its own
        fuse.resume()
        inv = rx.wait_inventory(
            self.env.agent_id,
            lambda inv: by_root(inv, hung) and
            by_root(inv, hung).get("state") == "ok",
            what="the disk back to ok once its reads return")
        self.assertEqual(by_root(inv, hung).get("types"), ["data"])
        self.assertIsNone(by_root(inv, hung).get("error"))
        wait_until(lambda: "event=probe_unblocked" in p.stderr_text(), 10,
                   what="the probe_unblocked log line")
        self.stop_prober(p)

    def test_first_probe_of_a_hung_disk(self):
        """Hung before the prober ever read it: reported, without types."""
        fuse, hung = self.hung_disk()
        os.sync()
        fuse.pause()
        self.addCleanup(fuse.resume)
        drop_caches()
        argv = [binary("quobyte-prober"), "--agent-id", self.env.agent_id,
                "--device-roots", self.env.root, "--fs-types", "ext4,xfs",
                "--udev-source", self.env.udev_source, "--once", "--json",
                "--probe-timeout", "%dms" % self.TIMEOUT_MS]
        p = Process("prober-once", argv, self.env.logs)
        # the inventory is printed at once; the process itself can only end
        # when the blocked read does (no thread leaves an uninterruptible
        # read early), so the disk is resumed before waiting for the exit
        def printed():
            try:
                return json.loads(p.stdout_text())
            except ValueError:
                return None
        doc = wait_until(printed, 10, what="the --once inventory")
        fuse.resume()
        self.assertEqual(p.proc.wait(timeout=20), 0)
        p.stopped = True
        err = p.stderr_text()
        d = self.device_in(doc["devices"], hung)
        self.assertEqual(d.get("state"), "probe_timeout")
        self.assertEqual(d.get("types", []), [])
        self.assertIn("event=probe_timeout", err)
        self.assertIn("known=false", err)

    def note(self, text):
        print("\n    " + text, end="", flush=True)


if __name__ == "__main__":
    unittest.main()
