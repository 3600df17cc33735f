"""The prober as it runs in a container: its own (private) mount namespace,
the host's mount table read through --mountinfo /proc/<host pid>/mountinfo
and the host's paths reached through --host-root /proc/<host pid>/root.
Mounts made on the host after the prober started must still be seen (the
original framework's prober never saw them).

In production <host pid> is 1 (the container shares the host's PID
namespace). Here pid 1 belongs to the sandbox and may not be inspectable, so
a process started by the test in the test's own mount namespace stands in
for it: the mechanism (another process's mountinfo and root) is the same."""

import os
import unittest

from qmtest import Process, ProberTestCase, binary, write_marker


class ContainerModeTests(ProberTestCase):

    def start_in_private_namespace(self, extra=(), mountinfo=True):
        """mountinfo=False: only --host-root /proc/<pid>/root, the mount
        table derived from it (/proc/<pid>/mountinfo), as a Docker prober
        task gets it (QUOBYTE_PROBER_HOST_ROOT)."""
        rx = self.env.receiver or self.start_receiver()
        host = Process("host-anchor", ["sleep", "3600"], self.env.logs)
        host_args = ["--host-root", "/proc/%d/root" % host.pid]
        if mountinfo:
            host_args += ["--mountinfo", "/proc/%d/mountinfo" % host.pid]
        # unshare execs the prober: the pid is the prober's
        argv = ["unshare", "--mount", "--propagation", "private", "--",
                binary("quobyte-prober")] + \
            self.env.prober_args(extra=host_args + list(extra))
        p = Process("prober", argv, self.env.logs)
        self.addCleanup(self._stop_if_running, p)
        snap = self.first_snapshot(rx, p)
        self.assertNotEqual(os.readlink("/proc/%d/ns/mnt" % p.pid),
                            os.readlink("/proc/self/ns/mnt"),
                            "the prober should run in its own namespace")
        return rx, p, snap

    def test_existing_device_reported_with_host_paths(self):
        lo, mp, uuid = self.env.filesystem("ext4", "c0")
        write_marker(mp, types=("DATA_DEVICE",), serial="CT-1")
        rx, p, snap = self.start_in_private_namespace()
        d = self.device_in(snap["devices"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="CT-1")

    def test_host_mount_made_later_is_seen(self):
        rx, p, snap = self.start_in_private_namespace(mountinfo=False)
        self.assertEqual(snap["devices"], [])
        lo, mp, uuid = self.env.filesystem("ext4", "later")
        # the prober's own namespace does not have the new mount ...
        with open("/proc/%d/mountinfo" % p.pid) as f:
            self.assertNotIn(" %s " % mp, f.read())
        # ... the host's table does, and the marker is reached through it
        write_marker(mp, types=("METADATA_DEVICE",), serial="CT-LATER")
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp for d in m.get("upserted", [])),
            "delta with the host's new mount")
        self.assert_block_device(self.device_in(delta["upserted"], mp), lo,
                                 mp, uuid, "ext4", ["metadata"],
                                 serial="CT-LATER")
        # marker changes on it are events too
        write_marker(mp, types=("DATA_DEVICE",), serial="CT-LATER")
        self.next_delta(rx, lambda m: any(
            d.get("root") == mp and d.get("types") == ["data"]
            for d in m.get("upserted", [])), "delta with the new type")
        lo.mount.umount()
        self.next_delta(rx, lambda m: "uuid:" + uuid in m.get("removed", []),
                        "delta removing the host's unmounted device")

    def test_directory_device_through_host_root(self):
        rx, p, snap = self.start_in_private_namespace()
        d = self.env.directory_device("ctdir")
        write_marker(d, types=("DIR_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            x.get("root") == d for x in m.get("upserted", [])),
            "delta with the directory device")
        self.assertTrue(delta["upserted"][0].get("is_directory"))
        self.assertEqual(delta["upserted"][0]["key"], "path:" + d)


if __name__ == "__main__":
    unittest.main()
