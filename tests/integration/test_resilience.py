"""Event loss the prober must notice: its block event socket overflowing
(ENOBUFS on the netlink socket after a burst of uevents) and its inotify
queue overflowing (IN_Q_OVERFLOW). Both must end in a resync and the right
inventory, with nothing else to trigger it.

The prober is paused (SIGSTOP) while the burst happens, so the kernel has
to queue everything; the queues are made small for the test
(--udev-buffer, fs.inotify.max_queued_events for the prober's instance)
so that a burst a test can afford overflows them."""

import os
import signal

from qmtest import LoopDevice, ProberTestCase, by_root, wait_until, write_marker

INOTIFY_MAX = "/proc/sys/fs/inotify/max_queued_events"


def resyncs(p, reason):
    return [l for l in p.stderr_text().splitlines()
            if "event=resync" in l and "reason=%s" % reason in l]


class OverflowTest(ProberTestCase):

    def pause(self, p):
        os.kill(p.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, p.pid, signal.SIGCONT)

    def resume_and_expect_resync(self, rx, p, mp, reason):
        """SIGCONT; the prober must log a resync for `reason` and publish
        the marker at mp re-typed to metadata while it was paused."""
        os.kill(p.pid, signal.SIGCONT)
        wait_until(lambda: resyncs(p, reason), 20,
                   what="a resync (reason=%s)" % reason)
        inv = rx.wait_inventory(self.env.agent_id, lambda inv:
                                by_root(inv, mp) and
                                by_root(inv, mp).get("types") == ["metadata"],
                                what="the re-typed marker after the resync")
        self.assertEqual(len(inv), 1)
        self.assertTrue(p.alive())

    def test_uevent_burst_overflow_resyncs(self):
        _, mp, _ = self.env.filesystem("ext4", "d1")
        write_marker(mp, types=("DATA_DEVICE",))
        # the smallest buffer the flag takes (the kernel doubles it)
        rx, p, snap = self.start(extra=("--udev-buffer", "4096"))
        self.assertEqual(len(snap["devices"]), 1)
        self.pause(p)
        # a burst of block uevents: loop devices attached and detached
        for i in range(40):
            lo = LoopDevice(os.path.join(self.env.img, "burst%d.img" % i),
                            1 << 20)
            lo.detach()
        # and a real change among them: the marker re-typed
        write_marker(mp, types=("METADATA_DEVICE",))
        self.resume_and_expect_resync(rx, p, mp, "udev_enobufs")

    def test_inotify_queue_overflow_resyncs(self):
        _, mp, _ = self.env.filesystem("ext4", "d1")
        write_marker(mp, types=("DATA_DEVICE",))
        with open(INOTIFY_MAX) as f:
            saved = f.read().strip()
        self.addCleanup(lambda: open(INOTIFY_MAX, "w").write(saved + "\n"))
        with open(INOTIFY_MAX, "w") as f:
            f.write("16\n")  # read at inotify_init: the prober's instance
        rx, p, snap = self.start()
        with open(INOTIFY_MAX, "w") as f:
            f.write(saved + "\n")
        self.assertEqual(len(snap["devices"]), 1)
        self.pause(p)
        for i in range(40):  # far more events than 16 in the watched root
            with open(os.path.join(mp, "noise%d" % i), "w") as f:
                f.write("x")
        write_marker(mp, types=("METADATA_DEVICE",))
        self.resume_and_expect_resync(rx, p, mp, "inotify_overflow")
