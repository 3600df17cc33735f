"""Devices as an operator sees them: real loop devices with ext4/xfs, mounts,
marker files, directory devices; what the coordinator's end receives."""

import json
import os
import shutil
import signal
import socket
import time
import unittest

from qmtest import (EVENT_TIMEOUT, MARKER_ID_FILE, RESOURCES, Mount,
                    ProberTestCase, Udevd, by_root, marker_text, remove_marker,
                    run, scaled, umount, wait_until, write_marker)

NETLINK_KOBJECT_UEVENT = 15


class BlockDeviceEvents:
    """Tests whose outcome depends on the block/mount event source; run once
    with the kernel uevent source (no udevd) and once with udevd."""

    def start(self, extra=(), receiver_extra=()):
        rx, p, snap = super().start(extra, receiver_extra)
        self.assert_source_live(p, self.UDEV_SOURCE)
        return rx, p, snap

    def assert_source_live(self, p, source):
        """The operator is told at start-up which block event source works."""
        def block_lines():
            return [l for l in p.stderr_text().splitlines()
                    if "event=source_live" in l and "subsystem=block" in l]
        # the mountinfo source is logged first: wait for the block one
        wait_until(block_lines, 10, what="the block source_live log line")
        lines = block_lines()
        self.assertEqual(len(lines), 1, "\n".join(lines))
        self.assertIn("source=%s " % source, lines[0] + " ")

    def test_auto_source_picks_what_works(self):
        p = self.start_prober(extra=("--udev-source", "auto"))
        self.assert_source_live(p, self.UDEV_SOURCE)

    def test_device_created_entirely_live(self):
        # loop device, filesystem, mount and marker all appear while the
        # prober runs: block events arrive before udev (if any) is done
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        lo = self.env.loop()
        uuid = lo.mkfs("ext4")
        mp = os.path.join(self.env.mnt, "live")
        Mount(lo.path, mp)
        write_marker(mp, serial="SERIAL-NEW-DISK", types=("DATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp and d.get("serial") == "SERIAL-NEW-DISK"
            for d in m.get("upserted", [])), "delta with the new disk")
        d = self.device_in(delta["upserted"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="SERIAL-NEW-DISK")
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 1)
        self.assertEqual(list(inv), ["uuid:" + uuid])
        self.assert_no_resync(rx)

    def test_ext4_marked_device_in_first_snapshot(self):
        lo, mp, uuid = self.env.filesystem("ext4", "data0", label="qdata0")
        write_marker(mp, serial="SERIAL-EXT4-1", types=("DATA_DEVICE",))
        _, _, unmarked_uuid = self.env.filesystem("ext4", "plain")
        rx, p, snap = self.start()
        self.assertEqual(snap["node"]["agent_id"], self.env.agent_id)
        self.assertEqual(snap["node"]["hostname"], self.env.hostname)
        d = self.device_in(snap["devices"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="SERIAL-EXT4-1")
        self.assertEqual(d.get("model"), "Loop-Test")
        self.assertEqual(d.get("fs_label"), "qdata0")
        self.assertEqual(len(snap["devices"]), 1,
                         "an unmarked filesystem is not a Quobyte device")

    def test_new_mount_with_marker_arrives_as_delta(self):
        # prepare the filesystem (with marker) unmounted, then mount it live
        lo = self.env.loop()
        uuid = lo.mkfs("ext4")
        stage = os.path.join(self.env.root, "stage")
        m = Mount(lo.path, stage)
        write_marker(stage, serial="SERIAL-HOT", types=("METADATA_DEVICE",))
        m.umount()
        os.rmdir(stage)
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        mp = os.path.join(self.env.mnt, "hot")
        Mount(lo.path, mp)
        delta = self.next_delta(rx, lambda m: by_root(
            {d["key"]: d for d in m.get("upserted", [])}, mp),
            "delta with the new mount")
        d = self.device_in(delta["upserted"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["metadata"],
                                 serial="SERIAL-HOT")
        self.assertEqual(delta["base_generation"], snap["generation"])
        self.assertGreater(delta["generation"], snap["generation"])
        self.assert_no_resync(rx)

    def test_umount_removes_device(self):
        lo, mp, uuid = self.env.filesystem("ext4", "gone")
        write_marker(mp, types=("DATA_DEVICE",))
        lo2, mp2, _ = self.env.filesystem("ext4", "stays")
        write_marker(mp2, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        self.assertEqual(len(snap["devices"]), 2)
        key = self.device_in(snap["devices"], mp)["key"]
        lo.mount.umount()
        delta = self.next_delta(rx, lambda m: key in m.get("removed", []),
                                "delta removing the unmounted device")
        self.assertNotIn(key, [d["key"] for d in delta.get("upserted", [])])
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: key not in inv)
        self.assertIsNotNone(by_root(inv, mp2), "the other device must stay")
        self.assert_no_resync(rx)

    def test_detached_loop_device_not_reported(self):
        lo, mp, uuid = self.env.filesystem("ext4", "detach")
        write_marker(mp, types=("DATA_DEVICE",))
        lo2, mp2, _ = self.env.filesystem("ext4", "other")
        write_marker(mp2, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        key = self.device_in(snap["devices"], mp)["key"]
        lo.mount.umount()
        lo.detach()
        self.assertFalse(lo.attached())
        self.next_delta(rx, lambda m: key in m.get("removed", []),
                        "delta removing the detached device")
        # a later change on the other device must not bring it back
        write_marker(mp2, types=("METADATA_DEVICE",))
        self.next_delta(rx, lambda m: any(
            d.get("root") == mp2 and d.get("types") == ["metadata"]
            for d in m.get("upserted", [])), "delta for the other device")
        inv = rx.inventory(self.env.agent_id)
        self.assertNotIn(key, inv)
        self.assertEqual(len(inv), 1)
        self.assertTrue(p.alive())

    def test_prober_is_read_only(self):
        # no lazy init and no atime updates: any write now is the prober's
        lo, mp, uuid = self.env.filesystem(
            "ext4", "ro", mkfs_options=("-E", "lazy_itable_init=0,lazy_journal_init=0"),
            mount_options="noatime")
        write_marker(mp, types=("DATA_DEVICE",))
        with open(os.path.join(mp, MARKER_ID_FILE), "w") as f:
            f.write("device.id=7\n")
        os.mkdir(os.path.join(mp, "quobyte-data"))
        os.sync()
        dev = os.path.basename(lo.path)

        def writes():
            with open("/sys/block/%s/stat" % dev) as f:
                return int(f.read().split()[4])  # write I/Os completed

        def tree():
            out = {}
            for dirpath, dirnames, filenames in os.walk(mp):
                for n in dirnames + filenames:
                    st = os.lstat(os.path.join(dirpath, n))
                    out[os.path.join(dirpath, n)] = (st.st_size, st.st_mtime_ns,
                                                     st.st_ctime_ns, st.st_mode)
            return out
        time.sleep(1.0)
        # with udevd running, closing a block device opened for writing makes
        # udev announce a "change" (its inotify watch writes to the
        # device's uevent file): listen to the kernel's uevents meanwhile
        uevents = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                NETLINK_KOBJECT_UEVENT)
        self.addCleanup(uevents.close)
        uevents.bind((0, 1))
        uevents.setblocking(False)
        w0, t0 = writes(), tree()
        rx, p, snap = self.start()
        self.device_in(snap["devices"], mp)
        p.send_signal(signal.SIGHUP)  # a full resync, probing everything again
        # events elsewhere make it rebuild a few more times
        other = self.env.directory_device("other")
        for i in range(3):
            write_marker(other, types=("DATA_DEVICE",), serial="S%d" % i)
            rx.wait_inventory(self.env.agent_id, lambda inv, i=i: any(
                d.get("serial") == "S%d" % i for d in inv.values()))
        self.stop_prober(p)
        # no sync here: syncing writes the superblock by itself. A direct
        # write to the block device is flushed when it is closed; a write
        # through the filesystem changes the tree at once.
        self.assertEqual(tree(), t0, "files on the device changed")
        self.assertEqual(writes(), w0, "the device was written to")
        seen = []
        while True:
            try:
                msg = uevents.recv(65536)
            except BlockingIOError:
                break
            head = msg.split(b"\0", 1)[0].decode(errors="replace")
            if head.endswith("/" + dev):
                seen.append(head)
        self.assertEqual(seen, [], "uevents for the device while probing")


class KernelSourceTests(BlockDeviceEvents, ProberTestCase):
    UDEV_SOURCE = "kernel"

    def test_auto_source_picks_what_works(self):
        if os.path.exists("/run/udev/control"):
            self.skipTest("a udevd not started by the tests is running")
        super().test_auto_source_picks_what_works()


class UdevSourceTests(BlockDeviceEvents, ProberTestCase):
    """The same, with systemd-udevd running and --udev-source udev."""

    UDEV_SOURCE = "udev"

    @classmethod
    def setUpClass(cls):
        cls.udevd = Udevd()

    @classmethod
    def tearDownClass(cls):
        cls.udevd.stop()


class DeviceTests(ProberTestCase):
    """Marker files, directory devices and identities (event source:
    kernel; marker changes come from inotify either way)."""

    def test_xfs_marked_device_reported_as_xfs(self):
        lo, mp, uuid = self.env.filesystem("xfs", "xfs0", label="qreg0")
        write_marker(mp, serial="SERIAL-XFS-1", types=("DIR_DEVICE",))
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assert_block_device(d, lo, mp, uuid, "xfs", ["registry"],
                                 serial="SERIAL-XFS-1")
        self.assertEqual(d.get("fs_label"), "qreg0")

    def test_marker_written_on_live_prober_arrives_as_delta(self):
        lo, mp, uuid = self.env.filesystem("ext4", "live")
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        write_marker(mp, serial="SERIAL-LIVE", types=("DATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp for d in m.get("upserted", [])),
            "delta with the newly marked device")
        d = self.device_in(delta["upserted"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="SERIAL-LIVE")
        self.assertEqual(delta["base_generation"], snap["generation"])
        self.assert_no_resync(rx)

    def scan_meanwhile(self, p, name):
        """Make the prober scan now, for a reason unrelated to any marker
        (a new subdirectory of the device dirs), and wait until it has."""
        before = p.stderr_text().count("event=rebuild ")
        os.mkdir(os.path.join(self.env.dirs, name))
        deadline = time.monotonic() + scaled(EVENT_TIMEOUT)
        while p.stderr_text().count("event=rebuild ") == before:
            self.assertLess(time.monotonic(), deadline,
                            "the prober did not scan after mkdir in --device-dirs")
            time.sleep(0.01)

    # A marker is taken when its writer is done with it: not on IN_CREATE,
    # and not by a scan that something else started while the writer still
    # has it open (it would be cut in the middle: "METADATA_DEV").
    def test_marker_being_written_is_not_published_half_done(self):
        lo, mp, uuid = self.env.filesystem("ext4", "slow")
        rx, p, snap = self.start()
        # one open/write.../close, with a pause in the middle (a slow
        # writer, an editor, a script with a few writes), and a scan for
        # another reason during the pause
        with open(os.path.join(mp, "QUOBYTE_DEV_SETUP"), "w") as f:
            f.write("# Quobyte device identifier file\ndevice.serial=SLOW-1\n"
                    "device.type=METADATA_DEV")
            f.flush()
            self.scan_meanwhile(p, "poke")
            time.sleep(0.5)
            f.write("ICE\n")
        rx.wait_inventory(self.env.agent_id, lambda inv: any(
            d.get("serial") == "SLOW-1" and d.get("state") == "ok"
            for d in inv.values()), what="the finished marker")
        published = [d for m in rx.accepted() if m["kind"] == "delta"
                     for d in m.get("upserted", []) if d.get("root") == mp]
        self.assertEqual([(d["state"], d["types"]) for d in published],
                         [("ok", ["metadata"])],
                         "only the finished marker may be published: %s"
                         % json.dumps(published))

    def test_marker_rewritten_in_place_keeps_its_last_state(self):
        lo, mp, uuid = self.env.filesystem("ext4", "rewrite")
        write_marker(mp, serial="RW-1", types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        key = self.device_in(snap["devices"], mp)["key"]
        # truncated and rewritten slowly; a scan in between must neither
        # drop the device nor publish the half-written text
        with open(os.path.join(mp, "QUOBYTE_DEV_SETUP"), "w") as f:
            f.write("device.serial=RW-1\ndevice.type=METADATA_DEV")
            f.flush()
            self.scan_meanwhile(p, "poke")
            time.sleep(0.5)
            f.write("ICE\n")
        delta = self.next_delta(rx, lambda m: True, "next delta")
        self.assertEqual(delta.get("removed", []), [])
        self.assertEqual([(d["key"], d["state"], d["types"])
                          for d in delta.get("upserted", [])],
                         [(key, "ok", ["metadata"])],
                         "one change, to the finished marker: %s"
                         % json.dumps(delta))
        self.assertEqual(delta["base_generation"], snap["generation"])

    def test_marker_held_open_is_taken_after_settling(self):
        # a writer that keeps the file open without writing delays the
        # marker by at most the prober's settle time (5 s), not forever
        lo, mp, uuid = self.env.filesystem("ext4", "held")
        rx, p, snap = self.start()
        with open(os.path.join(mp, "QUOBYTE_DEV_SETUP"), "w") as f:
            f.write(marker_text(serial="HELD-1", types=("DIR_DEVICE",)))
            f.flush()
            self.scan_meanwhile(p, "poke")
            t0 = time.monotonic()
            delta = self.next_delta(rx, lambda m: any(
                d.get("root") == mp for d in m.get("upserted", [])),
                "delta with the marker its writer still holds open")
            took = time.monotonic() - t0
        d = self.device_in(delta["upserted"], mp)
        self.assertEqual((d["state"], d["types"], d.get("serial")),
                         ("ok", ["registry"], "HELD-1"))
        print("(%.1fs)" % took, end=" ", flush=True)

    def test_marker_renamed_in_arrives_as_delta(self):
        lo, mp, uuid = self.env.filesystem("ext4", "renamed")
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        write_marker(mp, serial="SERIAL-MV", types=("DATA_DEVICE",),
                     atomic=True)
        self.assertFalse(os.path.exists(os.path.join(mp, "QUOBYTE_DEV_SETUP.tmp")))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp for d in m.get("upserted", [])),
            "delta with the device whose marker was renamed in")
        d = self.device_in(delta["upserted"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="SERIAL-MV")

    def test_marker_type_change_arrives_as_delta(self):
        lo, mp, uuid = self.env.filesystem("ext4", "retype")
        write_marker(mp, serial="SERIAL-RT", types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        before = self.device_in(snap["devices"], mp)
        self.assertEqual(before["types"], ["data"])
        write_marker(mp, serial="SERIAL-RT", types=("METADATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp and d.get("types") == ["metadata"]
            for d in m.get("upserted", [])), "delta with the new type")
        d = self.device_in(delta["upserted"], mp)
        self.assertEqual(d["key"], before["key"], "identity must not change")
        self.assertEqual(d["state"], "ok")
        self.assertEqual(delta.get("removed", []), [])
        # several types at once form a set
        write_marker(mp, serial="SERIAL-RT",
                     types=("DATA_DEVICE", "METADATA_DEVICE", "data"))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp and len(d.get("types", [])) == 2
            for d in m.get("upserted", [])), "delta with two types")
        d = self.device_in(delta["upserted"], mp)
        self.assertEqual(sorted(d["types"]), ["data", "metadata"])
        self.assert_no_resync(rx)

    def test_marker_deleted_removes_device(self):
        lo, mp, uuid = self.env.filesystem("ext4", "unmark")
        write_marker(mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        key = self.device_in(snap["devices"], mp)["key"]
        remove_marker(mp)
        self.next_delta(rx, lambda m: key in m.get("removed", []),
                        "delta removing the unmarked device")
        rx.wait_inventory(self.env.agent_id, lambda inv: inv == {})
        # and it comes back when marked again
        write_marker(mp, types=("DATA_DEVICE",))
        self.next_delta(rx, lambda m: any(
            d.get("key") == key for d in m.get("upserted", [])),
            "delta with the re-marked device")

    def test_unchanged_marker_rewrite_publishes_nothing(self):
        lo1, mp1, _ = self.env.filesystem("ext4", "steady")
        text = marker_text(serial="SER-STEADY")
        write_marker(mp1, text=text)
        lo2, mp2, _ = self.env.filesystem("ext4", "moving")
        write_marker(mp2, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        # the same bytes rewritten (events fire, nothing changes) ...
        for _ in range(3):
            write_marker(mp1, text=text)
        write_marker(mp1, text=text, atomic=True)
        # ... then a real change elsewhere: the next delta is only that one
        write_marker(mp2, types=("METADATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: True, "next delta")
        self.assertEqual([d["root"] for d in delta.get("upserted", [])], [mp2])
        self.assertEqual(delta.get("removed", []), [])
        self.assertEqual(delta["base_generation"], snap["generation"],
                         "no delta may have been published in between")

    def test_directory_device_reported_then_removed(self):
        reg = self.env.directory_device("registry")
        write_marker(reg, serial="dir-serial-1", model="Kubernetes-hostDir",
                     types=("DIR_DEVICE",), extra=("device.bootstrap=true",))
        unmarked = self.env.directory_device("scratch")
        rx, p, snap = self.start()
        self.assertEqual(len(snap["devices"]), 1, json.dumps(snap["devices"]))
        d = self.device_in(snap["devices"], reg)
        self.assertTrue(d.get("is_directory"))
        self.assertEqual(d.get("types"), ["registry"])
        self.assertEqual(d.get("state"), "ok")
        self.assertEqual(d.get("serial"), "dir-serial-1")
        self.assertEqual(d.get("model"), "Kubernetes-hostDir")
        self.assertTrue(d.get("bootstrap"))
        self.assertEqual(d.get("key"), "path:" + reg)
        self.assertIsNone(by_root({x["key"]: x for x in snap["devices"]},
                                  unmarked))
        remove_marker(reg)
        self.next_delta(rx, lambda m: d["key"] in m.get("removed", []),
                        "delta removing the directory device")
        rx.wait_inventory(self.env.agent_id, lambda inv: inv == {})

    def test_directory_device_renamed(self):
        a = self.env.directory_device("a")
        write_marker(a, types=("DATA_DEVICE",), serial="DIR-MV")
        rx, p, snap = self.start()
        self.assertEqual([d["key"] for d in snap["devices"]], ["path:" + a])
        b = os.path.join(self.env.dirs, "b")
        os.rename(a, b)
        inv = rx.wait_inventory(self.env.agent_id,
                                lambda inv: list(inv) == ["path:" + b],
                                what="device under its new name only")
        self.assertEqual(inv["path:" + b]["serial"], "DIR-MV")
        shutil.rmtree(b)
        rx.wait_inventory(self.env.agent_id, lambda inv: inv == {},
                          what="removed directory gone")

    def test_lazy_umount_of_busy_filesystem_removes_device(self):
        lo, mp, uuid = self.env.filesystem("ext4", "busy")
        write_marker(mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        key = self.device_in(snap["devices"], mp)["key"]
        busy = open(os.path.join(mp, "open-file"), "w")
        try:
            self.assertNotEqual(run(["umount", mp], check=False).returncode, 0,
                                "the filesystem should be busy")
            run(["umount", "-l", mp])
            self.next_delta(rx, lambda m: key in m.get("removed", []),
                            "delta removing the lazily unmounted device")
        finally:
            busy.close()
        self.assertTrue(p.alive())

    def test_directory_device_added_live(self):
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        md = self.env.directory_device("md")
        write_marker(md, types=("METADATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == md for d in m.get("upserted", [])),
            "delta with the new directory device")
        d = self.device_in(delta["upserted"], md)
        self.assertTrue(d.get("is_directory"))
        self.assertEqual(d.get("types"), ["metadata"])

    def test_two_devices_on_one_node(self):
        lo1, mp1, uuid1 = self.env.filesystem("ext4", "a")
        write_marker(mp1, serial="SER-A", types=("DATA_DEVICE",))
        lo2, mp2, uuid2 = self.env.filesystem("xfs", "b")
        write_marker(mp2, serial="SER-B", types=("METADATA_DEVICE",))
        rx, p, snap = self.start()
        self.assertEqual(len(snap["devices"]), 2)
        self.assert_block_device(self.device_in(snap["devices"], mp1), lo1, mp1,
                                 uuid1, "ext4", ["data"], serial="SER-A")
        self.assert_block_device(self.device_in(snap["devices"], mp2), lo2, mp2,
                                 uuid2, "xfs", ["metadata"], serial="SER-B")
        for d in snap["devices"]:
            self.assertFalse(d.get("conflict"), "distinct serials: no conflict")

    def test_malformed_marker_reported_as_error(self):
        lo, mp, uuid = self.env.filesystem("ext4", "garbage")
        write_marker(mp, text=b"\x7fELF\x00\x01\x02garbage\xff\xfe\n\x00" * 20)
        lo2, mp2, _ = self.env.filesystem("ext4", "typo")
        write_marker(mp2, text=marker_text(types=("DATTA_DEVICE",)))
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assertEqual(d.get("state"), "error")
        self.assertTrue(d.get("error"), "an error state needs a reason")
        self.assertEqual(d.get("types", []), [],
                         "nothing may be started for a broken marker")
        d2 = self.device_in(snap["devices"], mp2)
        self.assertEqual(d2.get("state"), "error")
        self.assertIn("DATTA", d2.get("error", ""),
                      "the reason should name the bad value")
        self.assertTrue(p.alive())
        # fixing the marker turns it into a usable device
        write_marker(mp, types=("DATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            x.get("root") == mp and x.get("state") == "ok"
            for x in m.get("upserted", [])), "delta with the repaired marker")
        fixed = self.device_in(delta["upserted"], mp)
        self.assertEqual(fixed["types"], ["data"])
        self.assertFalse(fixed.get("error"))

    def test_oversized_marker_is_error(self):
        lo, mp, uuid = self.env.filesystem("ext4", "huge")
        write_marker(mp, text=marker_text() + "# pad\n" * 20000)
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assertEqual(d.get("state"), "error")
        self.assertTrue(d.get("error"))

    def test_marker_without_type_is_no_type(self):
        lo, mp, uuid = self.env.filesystem("ext4", "notype")
        write_marker(mp, types=(), serial="SER-NT",
                     extra=("some.future.key=1",))
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assertEqual(d.get("state"), "no_type")
        self.assertEqual(d.get("types"), [])
        self.assertEqual(d.get("serial"), "SER-NT",
                         "unknown keys are ignored, the rest is read")

    def test_bind_mount_is_one_device_with_alias(self):
        lo, mp, uuid = self.env.filesystem("ext4", "orig")
        write_marker(mp, types=("DATA_DEVICE",))
        alias = os.path.join(self.env.mnt, "bound")
        Mount(mp, alias, bind=True)
        rx, p, snap = self.start()
        self.assertEqual(len(snap["devices"]), 1, json.dumps(snap["devices"]))
        d = snap["devices"][0]
        self.assertEqual({d["root"]} | set(d.get("aliases", [])), {mp, alias})
        self.assertEqual(d.get("fs_uuid"), uuid)
        self.assertEqual(d.get("block_device"), lo.path)
        # the original mount goes away, the bind mount keeps the device
        lo.mount.umount()
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 1 and
                                list(inv.values())[0]["root"] == alias,
                                what="device now only at the bind mount")
        self.assertEqual(list(inv), [d["key"]], "identity survives")
        self.assertEqual(list(inv.values())[0].get("aliases", []), [])

    def test_overmounted_filesystem_not_reported(self):
        lo1, mp, uuid1 = self.env.filesystem("ext4", "under")
        write_marker(mp, serial="SER-HIDDEN", types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        self.assertEqual(self.device_in(snap["devices"], mp)["fs_uuid"], uuid1)
        # another filesystem mounted on top hides the first one
        lo2 = self.env.loop()
        uuid2 = lo2.mkfs("ext4")
        Mount(lo2.path, mp)
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: inv == {},
                                what="hidden device gone")
        write_marker(mp, serial="SER-TOP", types=("METADATA_DEVICE",))
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 1)
        d = list(inv.values())[0]
        self.assertEqual(d["fs_uuid"], uuid2)
        self.assertEqual(d["serial"], "SER-TOP")
        self.assertEqual(d["block_device"], lo2.path)

    def test_symlinked_marker_is_refused(self):
        lo, mp, uuid = self.env.filesystem("ext4", "symlink")
        target = os.path.join(self.env.root, "elsewhere")
        with open(target, "w") as f:
            f.write(marker_text())
        os.symlink(target, os.path.join(mp, "QUOBYTE_DEV_SETUP"))
        rx, p, snap = self.start()
        for d in snap["devices"]:
            self.assertNotEqual(d.get("state"), "ok",
                                "a marker reached through a symlink is not "
                                "trusted: %s" % json.dumps(d))

    def test_client_mount_point_appears_live(self):
        client = os.path.join(self.env.root, "quobyte")
        rx, p, snap = self.start(extra=("--client-mount-point", client))
        self.assertEqual(snap["client_mount_point"], client)
        self.assertIs(snap["client_mount_point_exists"], False)
        os.mkdir(client)
        delta = self.next_delta(rx, lambda m: m.get("client_mount_point_exists")
                                is True, "delta with the client mount point")
        self.assertEqual(delta["client_mount_point"], client)
        os.rmdir(client)
        self.next_delta(rx, lambda m: m.get("client_mount_point_exists") is False,
                        "delta without the client mount point")

    def test_device_dir_created_after_start(self):
        later = os.path.join(self.env.root, "later")
        rx, p, snap = self.start(extra=("--device-dirs", "%s,%s" % (
            self.env.dirs, later)))
        os.makedirs(os.path.join(later, "dev1"))
        write_marker(os.path.join(later, "dev1"), types=("DATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == os.path.join(later, "dev1")
            for d in m.get("upserted", [])), "delta with the late device dir")
        self.assertTrue(delta["upserted"][0].get("is_directory"))

    def test_burst_of_new_devices_all_arrive(self):
        rx, p, snap = self.start()
        roots = []
        for i in range(40):
            d = self.env.directory_device("burst%02d" % i)
            write_marker(d, types=("DATA_DEVICE",), serial="B%02d" % i)
            roots.append(d)
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 40,
                                what="all 40 devices")
        self.assertEqual(sorted(d["root"] for d in inv.values()), roots)
        self.assert_no_resync(rx)
        deltas = [m for m in rx.accepted() if m["kind"] == "delta"]
        print("(40 devices in %d deltas)" % len(deltas), end=" ", flush=True)

    def test_first_change_at_once_then_the_window_coalesces(self):
        """Leading-edge debounce: after a quiet period the first marked
        device is published on its own, at once; devices marked within the
        window its delta opened arrive together in one later delta."""
        dirs = [self.env.directory_device("lead%d" % i) for i in range(3)]
        rx, p, snap = self.start(extra=("--debounce", "5s"))
        t0 = time.monotonic()
        write_marker(dirs[0], types=("DATA_DEVICE",), serial="LEAD0")
        first = self.next_delta(rx, lambda m: m.get("upserted"),
                                "the first device's delta")
        # not a speed goal (tests/bench/hot_add.py has that): a trailing
        # debounce would hold it for the whole 5 s window
        self.assertLess(time.monotonic() - t0, 5.0, "held for the window")
        self.assertEqual([d["root"] for d in first["upserted"]], [dirs[0]])
        start = len(rx.accepted())
        for i in (1, 2):  # well within the 5 s window
            write_marker(dirs[i], types=("DATA_DEVICE",), serial="LEAD%d" % i)
        rx.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 3,
                          what="the three devices")
        ups = [sorted(d["root"] for d in m.get("upserted", []))
               for m in rx.accepted()[start:]
               if m["kind"] == "delta" and m.get("upserted")]
        self.assertEqual(ups, [sorted(dirs[1:])],
                         "the window's changes in one delta: %s" % ups)

    def test_missing_device_root_is_one_warning_not_a_failure(self):
        lo, mp, uuid = self.env.filesystem("ext4", "present")
        write_marker(mp, types=("DATA_DEVICE",))
        missing = os.path.join(self.env.root + "-gone", "roots")
        rx, p, snap = self.start(extra=(
            "--device-roots", "%s,%s" % (self.env.root, missing)))
        self.assertEqual([d["root"] for d in snap["devices"]], [mp],
                         "the root that exists is scanned as before")
        lines = [l for l in p.stderr_text().splitlines()
                 if "event=device_root_missing" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("root=" + missing, lines[0])
        self.assertIn("No such file or directory", lines[0])
        self.assertTrue(p.alive())

    def test_same_serial_on_two_devices_is_a_conflict(self):
        lo1, mp1, _ = self.env.filesystem("ext4", "twin1")
        write_marker(mp1, serial="CLONED-SERIAL", types=("DATA_DEVICE",))
        lo2, mp2, _ = self.env.filesystem("ext4", "twin2")
        write_marker(mp2, serial="CLONED-SERIAL", types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        self.assertEqual(len(snap["devices"]), 2,
                         "both devices are reported, neither hidden")
        d1 = self.device_in(snap["devices"], mp1)
        d2 = self.device_in(snap["devices"], mp2)
        self.assertNotEqual(d1["key"], d2["key"])
        self.assertTrue(d1.get("conflict"), "conflict must be flagged")
        self.assertTrue(d2.get("conflict"), "conflict must be flagged")

    def test_device_id_reported_when_registered(self):
        lo, mp, uuid = self.env.filesystem("ext4", "reg")
        write_marker(mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assertIsNone(d.get("device_id"), "not registered yet")
        with open(os.path.join(mp, MARKER_ID_FILE), "w") as f:
            f.write("device.id=42\n")
        delta = self.next_delta(rx, lambda m: any(
            x.get("root") == mp and x.get("device_id") == "42"
            for x in m.get("upserted", [])), "delta with the device id")
        self.assertEqual(self.device_in(delta["upserted"], mp)["key"], d["key"])

    def test_legacy_marker_directory(self):
        lo, mp, uuid = self.env.filesystem("ext4", "legacy")
        os.mkdir(os.path.join(mp, "quobyte-data"))
        rx, p, snap = self.start()
        d = self.device_in(snap["devices"], mp)
        self.assertTrue(d.get("legacy_marker"))
        self.assertEqual(d.get("types"), ["data"])
        self.assertEqual(d.get("state"), "ok")

    def test_legacy_marker_directory_made_live_arrives_as_delta(self):
        # a directory appears whole: its mkdir (IN_CREATE) counts, unlike
        # the creation of a marker file
        lo, mp, uuid = self.env.filesystem("ext4", "legacylive")
        rx, p, snap = self.start()
        self.assertEqual(snap["devices"], [])
        os.mkdir(os.path.join(mp, "quobyte-metadata"))
        delta = self.next_delta(rx, lambda m: any(
            d.get("root") == mp for d in m.get("upserted", [])),
            "delta with the device marked by a legacy directory")
        d = self.device_in(delta["upserted"], mp)
        self.assertTrue(d.get("legacy_marker"))
        self.assertEqual(d.get("types"), ["metadata"])
        os.rmdir(os.path.join(mp, "quobyte-metadata"))
        self.next_delta(rx, lambda m: d["key"] in m.get("removed", []),
                        "delta removing the device")

    def test_mounts_outside_device_roots_ignored(self):
        # a sibling whose path merely starts with the root's text
        outside = self.env.root + "-outside"
        os.mkdir(outside)
        RESOURCES.push("tmp " + outside, lambda: (umount(outside + "/m"),
                                                  shutil.rmtree(outside, True)))
        lo, mp, uuid = self.env.filesystem("ext4", "inside")
        write_marker(mp, types=("DATA_DEVICE",))
        lo2 = self.env.loop()
        lo2.mkfs("ext4")
        out_mp = os.path.join(outside, "m")
        Mount(lo2.path, out_mp)
        write_marker(out_mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        self.assertEqual([d["root"] for d in snap["devices"]], [mp])


if __name__ == "__main__":
    unittest.main()
