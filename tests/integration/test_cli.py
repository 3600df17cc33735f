"""The prober's command line as an operator uses it: --once --json, flags,
environment twins, errors."""

import os
import subprocess
import unittest

from qmtest import ProberTestCase, binary, write_marker

# The documented flags (see the prober's CLI contract).
FLAGS = ["coordinator", "credential", "credential-file", "agent-id",
         "hostname", "device-roots", "device-dirs", "fs-types", "host-root",
         "mountinfo", "rescan-interval", "heartbeat-interval", "debounce",
         "udev-source", "client-mount-point", "once", "json", "log-level",
         "check-config"]


def env_twin(flag):
    return "QUOBYTE_PROBER_" + flag.upper().replace("-", "_")


class CliTests(ProberTestCase):

    def prober(self, args, env=None):
        full = dict(os.environ)
        full.update(env or {})
        return subprocess.run([binary("quobyte-prober")] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30, env=full)

    def test_once_json_inventory(self):
        lo, mp, uuid = self.env.filesystem("ext4", "once")
        write_marker(mp, serial="SER-ONCE", types=("DATA_DEVICE",))
        dd = self.env.directory_device("reg")
        write_marker(dd, types=("DIR_DEVICE",))
        client = os.path.join(self.env.root, "quobyte")
        os.mkdir(client)
        rc, doc, err = self.env.prober_once(["--client-mount-point", client])
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(doc, "stdout must be one JSON document")
        self.assertEqual(doc["node"]["agent_id"], self.env.agent_id)
        self.assertEqual(doc["node"]["hostname"], self.env.hostname)
        with open("/proc/sys/kernel/random/boot_id") as f:
            self.assertEqual(doc["node"].get("boot_id"), f.read().strip())
        self.assertEqual(len(doc["devices"]), 2)
        d = self.device_in(doc["devices"], mp)
        self.assert_block_device(d, lo, mp, uuid, "ext4", ["data"],
                                 serial="SER-ONCE")
        self.assertTrue(self.device_in(doc["devices"], dd).get("is_directory"))
        self.assertEqual(doc["client_mount_point"], client)
        self.assertIs(doc["client_mount_point_exists"], True)

        os.rmdir(client)
        rc, doc, err = self.env.prober_once(["--client-mount-point", client])
        self.assertEqual(rc, 0, err)
        self.assertIs(doc["client_mount_point_exists"], False)

    def test_once_json_empty_node(self):
        rc, doc, err = self.env.prober_once()
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["devices"], [])

    def test_environment_twins(self):
        lo, mp, uuid = self.env.filesystem("ext4", "envtw")
        write_marker(mp, types=("DATA_DEVICE",))
        env = {env_twin("agent-id"): "agent-from-env",
               env_twin("hostname"): "host-from-env",
               env_twin("device-roots"): self.env.root,
               env_twin("fs-types"): "ext4"}
        rc, doc, err = self.env.prober_once(args=[], env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["node"]["agent_id"], "agent-from-env")
        self.assertEqual(doc["node"]["hostname"], "host-from-env")
        self.assertEqual([d["root"] for d in doc["devices"]], [mp])
        # a flag beats its environment twin
        rc, doc, err = self.env.prober_once(args=["--agent-id", "agent-flag"],
                                            env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["node"]["agent_id"], "agent-flag")

    def test_fs_types_filter(self):
        lo, mp, uuid = self.env.filesystem("xfs", "x")
        write_marker(mp, types=("DATA_DEVICE",))
        rc, doc, err = self.env.prober_once(
            args=["--agent-id", "a", "--device-roots", self.env.root,
                  "--fs-types", "ext4"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["devices"], [], "xfs is not in --fs-types")

    def test_help_lists_every_flag_and_its_env_twin(self):
        p = self.prober(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout + p.stderr
        for flag in FLAGS:
            self.assertIn("--" + flag, text)
        for flag in ("coordinator", "agent-id", "device-roots", "udev-source"):
            self.assertIn(env_twin(flag), text)

    def test_bad_flag_exits_2_naming_it(self):
        p = self.prober(["--no-such-flag"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--no-such-flag", p.stderr)

    def test_bad_values_exit_2_naming_the_flag(self):
        for args, name in ((["--rescan-interval", "soon"], "rescan-interval"),
                           (["--heartbeat-interval=fast"], "heartbeat-interval"),
                           (["--debounce", "1 fortnight"], "debounce"),
                           (["--udev-source", "carrier-pigeon"], "udev-source"),
                           (["--log-level", "loud"], "log-level"),
                           (["--credential", "abc"], "credential")):
            p = self.prober(["--agent-id", "a"] + args + ["--check-config"])
            self.assertEqual(p.returncode, 2, "%s: %s" % (args, p.stderr))
            self.assertIn(name, p.stderr, args)

    def test_bad_environment_value_names_the_variable(self):
        var = env_twin("rescan-interval")
        p = self.prober(["--agent-id", "a", "--check-config"], env={var: "never"})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(var, p.stderr)

    def test_check_config_accepts_a_good_configuration(self):
        cred = self.env.credential_file()
        p = self.prober(self.env.prober_args(credential_file=cred) +
                        ["--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
