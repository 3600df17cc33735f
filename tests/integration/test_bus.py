"""The prober on the bus: sessions, restarts of either end, heartbeats,
snapshot requests, lost acks, authentication, shutdown."""

import os
import signal
import time
import unittest

from qmtest import (EVENT_TIMEOUT, START_TIMEOUT, ProberTestCase, by_root,
                    write_marker)


class BusTests(ProberTestCase):

    def test_prober_restart_sends_new_session_snapshot(self):
        lo, mp, uuid = self.env.filesystem("ext4", "d0")
        write_marker(mp, types=("DATA_DEVICE",))
        d1 = self.env.directory_device("r")
        write_marker(d1, types=("DIR_DEVICE",))
        rx, p, snap1 = self.start()
        self.assertIn("session=%s" % snap1["session"], p.stderr_text(),
                      "the session on the bus is the one the prober logs")
        self.stop_prober(p)
        p2 = self.start_prober()
        snap2 = self.first_snapshot(rx, p2, "snapshot of the restarted prober")
        self.assertNotEqual(snap2["session"], snap1["session"],
                            "a restarted prober starts a new session")
        self.assertEqual(sorted(d["key"] for d in snap2["devices"]),
                         sorted(d["key"] for d in snap1["devices"]))
        self.assertEqual(len(snap2["devices"]), 2)
        self.assertEqual(snap2["node"].get("boot_id"), snap1["node"].get("boot_id"))

    def test_receiver_restart_gets_snapshot_with_changes_made_meanwhile(self):
        lo, mp, uuid = self.env.filesystem("ext4", "before")
        write_marker(mp, types=("DATA_DEVICE",))
        lo2, mp2, uuid2 = self.env.filesystem("ext4", "during")
        rx, p, snap = self.start(extra=("--heartbeat-interval", "1s"))
        self.assertEqual(len(snap["devices"]), 1)
        rx.kill()  # the coordinator crashes
        # a device is marked while nobody listens
        write_marker(mp2, types=("METADATA_DEVICE",))
        time.sleep(1.0)
        self.assertTrue(p.alive(), "the prober must survive a lost coordinator")
        rx2 = self.env.start_receiver()  # same URL
        snap2 = self.first_snapshot(rx2, p, "snapshot at the restarted receiver")
        self.assertEqual(snap2["session"], snap["session"])
        self.assertEqual(len(snap2["devices"]), 2)
        self.assertEqual(self.device_in(snap2["devices"], mp2)["types"], ["metadata"])
        self.assertEqual(self.device_in(snap2["devices"], mp)["key"], "uuid:" + uuid)
        # and deltas continue on top of it
        os.unlink(os.path.join(mp2, "QUOBYTE_DEV_SETUP"))
        rx2.wait_inventory(self.env.agent_id, lambda inv: len(inv) == 1
                           and by_root(inv, mp))

    def test_prober_started_before_receiver(self):
        lo, mp, uuid = self.env.filesystem("ext4", "early")
        write_marker(mp, types=("DATA_DEVICE",))
        p = self.start_prober()
        time.sleep(1.0)
        self.assertTrue(p.alive())
        rx = self.start_receiver()
        snap = self.first_snapshot(rx, p)
        self.assertEqual(len(snap["devices"]), 1)

    def test_heartbeat_carries_acked_generation(self):
        lo, mp, uuid = self.env.filesystem("ext4", "hb")
        write_marker(mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start(extra=("--heartbeat-interval", "1s"))
        hb = rx.next(lambda m: m.get("kind") == "heartbeat", EVENT_TIMEOUT,
                     what="heartbeat")
        self.assertEqual(hb["session"], snap["session"])
        self.assertEqual(hb["generation"], snap["generation"])
        self.assertIn("uptime_seconds", hb)
        self.assertFalse(hb["reply_send_snapshot"])
        # after a change the heartbeat follows the new generation
        write_marker(mp, types=("METADATA_DEVICE",))
        delta = self.next_delta(rx, lambda m: True, "delta")
        hb2 = rx.next(lambda m: m.get("kind") == "heartbeat", EVENT_TIMEOUT,
                      what="heartbeat after the delta")
        self.assertEqual(hb2["generation"], delta["generation"])
        self.assert_no_resync(rx)

    def test_snapshot_resent_when_receiver_asks(self):
        lo, mp, uuid = self.env.filesystem("ext4", "ask")
        write_marker(mp, types=("DATA_DEVICE",))
        # every non-snapshot message is answered "send a snapshot"
        rx, p, snap = self.start(extra=("--heartbeat-interval", "1s"),
                                 receiver_extra=("--request-snapshot-every", "1"))
        asked = rx.next(lambda m: m.get("kind") in ("heartbeat", "delta"),
                        EVENT_TIMEOUT, what="heartbeat")
        self.assertTrue(asked["reply_send_snapshot"])
        again = rx.next(lambda m: m.get("kind") != "rejected", EVENT_TIMEOUT,
                        what="message after the snapshot request")
        self.assertEqual(again["kind"], "snapshot",
                         "the answer to send_snapshot must be a snapshot")
        self.assertEqual(again["session"], snap["session"])
        self.assertEqual([d["key"] for d in again["devices"]],
                         [d["key"] for d in snap["devices"]])

    def test_lost_ack_is_retried(self):
        lo, mp, uuid = self.env.filesystem("ext4", "lost")
        write_marker(mp, types=("DATA_DEVICE",))
        rx = self.start_receiver(extra=("--drop-first-acks", "1"))
        p = self.start_prober(extra=("--heartbeat-interval", "1s"))
        first = rx.next(lambda m: m.get("kind") == "snapshot", START_TIMEOUT,
                        what="first snapshot")
        self.assertTrue(first["reply_dropped"])
        # no ack came: the prober must try again and end up in sync
        inv = rx.wait_inventory(self.env.agent_id, lambda inv: by_root(inv, mp),
                                timeout=90, what="snapshot after the lost ack")
        self.assertEqual(len(inv), 1)

    def test_forged_credential_rejected(self):
        lo, mp, uuid = self.env.filesystem("ext4", "forged")
        write_marker(mp, types=("DATA_DEVICE",))
        rx = self.start_receiver()
        # the prober holds node A's credential but claims to be node B
        cred_a = self.env.credential_file("agent-A-S1")
        p = self.start_prober(agent_id="agent-B-S2", credential_file=cred_a)
        rej = rx.next(lambda m: m.get("kind") == "rejected", START_TIMEOUT,
                      what="rejected frame")
        self.assertEqual(rej["agent_id"], "agent-B-S2")
        self.assertIn("auth", rej["error"].lower())
        time.sleep(1.0)
        self.assertEqual(rx.accepted(), [], "nothing forged may be accepted")
        self.assertTrue(p.alive(), "a rejected prober keeps running (and retrying)")

    def test_sigterm_exits_zero_promptly(self):
        lo, mp, uuid = self.env.filesystem("ext4", "term")
        write_marker(mp, types=("DATA_DEVICE",))
        rx, p, snap = self.start()
        took = self.stop_prober(p)
        print("(SIGTERM -> exit %.3fs)" % took, end=" ", flush=True)

    def test_sigterm_while_waiting_for_an_ack(self):
        # the receiver swallows every message: the prober waits for an Ack
        rx = self.start_receiver(extra=("--drop-first-acks", "1000"))
        p = self.start_prober()
        rx.next(lambda m: m.get("kind") == "snapshot", START_TIMEOUT,
                what="first snapshot")
        took = self.stop_prober(p)
        print("(%.3fs)" % took, end=" ", flush=True)

    def test_sigterm_without_coordinator(self):
        p = self.start_prober()
        time.sleep(1.0)
        self.assertTrue(p.alive())
        self.stop_prober(p)

    def test_sigint_exits_zero(self):
        rx, p, snap = self.start()
        rc, _ = p.stop(sig=signal.SIGINT)
        self.assertEqual(rc, 0)


class ReceiverToolTests(ProberTestCase):
    """The coordinator stand-in itself must be right, or the other tests
    prove nothing."""

    def test_derived_credential_matches_documented_formula(self):
        from qmtest import derive_credential
        for aid in ("a", "20160503-101244-1-0001-S7", "x" * 255):
            self.assertEqual(self.env.credential(aid),
                             derive_credential(self.env.secret, aid))

    def test_receiver_survives_garbage_and_checks_protocol(self):
        from qmtest import SpReq, envelope, frame, pb_field, pb_parse, unframe
        rx = self.start_receiver()
        aid = "agent-raw-S3"
        cred = self.env.credential(aid)
        c = SpReq(self.env.url)
        try:
            garbage = [b"", b"hello", os.urandom(1000),
                       b"QMBF" + os.urandom(40),
                       frame(aid, b"\x08\x01", "00" * 32)]  # wrong key
            for g in garbage:
                reply = c.request(g)
                if reply:
                    got_aid, payload = unframe(reply, cred)
                    ack = pb_parse(pb_parse(payload)[13][0])
                    self.assertIn(3, ack, "a rejection carries an error")
            rejected = rx.rejected()
            self.assertEqual(len(rejected), len(garbage))
            self.assertEqual(rejected[-1]["agent_id"], aid)
            self.assertIn("auth", rejected[-1]["error"].lower())

            # a valid snapshot built from the spec is accepted and acked
            dev = pb_field(1, "path:/x") + pb_field(2, "/x") + pb_field(9, 3) \
                + pb_field(10, 1)
            snap = pb_field(1, pb_field(1, dev))
            reply = c.request(frame(aid, envelope(aid, 5, 77, 10, snap), cred))
            got_aid, payload = unframe(reply, cred)
            self.assertEqual(got_aid, aid)
            ack = pb_parse(pb_parse(payload)[13][0])
            self.assertEqual(ack.get(1), [5])
            self.assertNotIn(2, ack)
            m = rx.next(lambda m: m.get("kind") == "snapshot")
            self.assertEqual(m["devices"][0]["types"], ["data"])
            self.assertEqual(m["devices"][0]["state"], "ok")

            # a delta on the held generation is applied ...
            delta = pb_field(1, 5) + pb_field(3, "path:/x")
            reply = c.request(frame(aid, envelope(aid, 6, 77, 11, delta), cred))
            ack = pb_parse(pb_parse(unframe(reply, cred)[1])[13][0])
            self.assertEqual(ack.get(1), [6])
            # ... one on another base is answered "send a snapshot"
            delta = pb_field(1, 4) + pb_field(3, "path:/y")
            reply = c.request(frame(aid, envelope(aid, 7, 77, 11, delta), cred))
            ack = pb_parse(pb_parse(unframe(reply, cred)[1])[13][0])
            self.assertEqual(ack.get(2), [1])
            # a frame signed for another node is refused
            other = self.env.credential("agent-other")
            c.request(frame(aid, envelope(aid, 8, 77, 12, b""), other))
            self.assertEqual(len(rx.rejected()), len(garbage) + 1)
        finally:
            c.close()
        self.assertTrue(rx.alive())
        rc, _ = rx.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
