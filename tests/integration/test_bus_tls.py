"""The bus over TLS (tls+tcp://, common/bus_tls.h): a prober delivers its
inventory to a TLS listener it verifies with the CA it was given; a wrong
CA, a certificate for another name, or a listener wanting a client
certificate the prober lacks, delivers nothing and (on the prober's side)
says why. The CA and certificates are made here with the openssl CLI and
live only in the test's temp root. Also the flag rules of both daemons
(half a set is a configuration error, exit 2)."""

import os
import subprocess
import time
import unittest

from qmtest import (EVENT_TIMEOUT, START_TIMEOUT, ProberTestCase, Receiver,
                    binary, free_tcp_port, wait_until, write_marker)

# one curve for everything: quick to make, and what mbedtls 2.28 verifies
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), p.stderr))


class Pki:
    """Throwaway CAs and leaf certificates under one directory."""

    def __init__(self, directory):
        self.dir = os.path.join(directory, "pki")
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name):
        """A self-signed CA; returns (cert, key) paths."""
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        openssl("req", "-x509", *EC, "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=" + name)
        return cert, key

    def leaf(self, name, ca, san, usage):
        """A certificate for san (subjectAltName text) signed by ca;
        returns (cert, key) paths."""
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        csr, ext = self.path(name + ".csr"), self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=%s\n"
                    % (san, usage))
        openssl("req", *EC, "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key


class BusTlsTests(ProberTestCase):

    def setUp(self):
        super().setUp()
        self.pki = Pki(self.env.root)
        self.ca = self.pki.ca("qm-test-ca")
        self.other_ca = self.pki.ca("qm-other-ca")
        # mbedtls 2.28 matches names against DNS names only, never IP
        # entries; the probers dial the address and check the DNS name with
        # --bus-tls-server-name (a name that need not resolve: a minimal
        # Debian chroot has no /etc/hosts, so not even "localhost" does)
        self.server = self.pki.leaf("bus-server", self.ca,
                                    "DNS:localhost,IP:127.0.0.1", "serverAuth")
        self.port = free_tcp_port()
        # the prober (Env.prober_args) dials env.url
        self.env.url = "tls+tcp://127.0.0.1:%d" % self.port
        self.dir_device = self.env.directory_device("tls")
        write_marker(self.dir_device, types=("DATA_DEVICE",))

    def start_tls_receiver(self, cert=None, client_ca=None):
        cert = cert or self.server
        extra = ["--bus-tls-cert", cert[0], "--bus-tls-key", cert[1]]
        if client_ca:
            extra += ["--bus-tls-ca", client_ca]
        rx = Receiver("tls+tcp://127.0.0.1:%d" % self.port,
                      self.env.secret_file, self.env.logs, extra)
        self.env.receiver = rx
        self.assertIn("tls=on", rx.stderr_text())
        return rx

    def tls_prober(self, ca, client=None, server_name="localhost"):
        extra = ["--bus-tls-ca", ca]
        if server_name:
            extra += ["--bus-tls-server-name", server_name]
        if client:
            extra += ["--bus-tls-cert", client[0], "--bus-tls-key", client[1]]
        return self.start_prober(extra)

    def assert_refused(self, rx, p, log_event="bus_tls_refused", quiet=2.0):
        """Nothing reaches the receiver, not even a frame to reject, and
        (log_event) the prober says why."""
        if log_event:
            try:
                wait_until(lambda: log_event in p.stderr_text(), EVENT_TIMEOUT,
                           what=log_event + " in the prober's log")
            except TimeoutError as e:
                self.fail("%s; prober stderr tail:\n%s" % (
                    e, "\n".join(p.stderr_text().splitlines()[-20:])))
        time.sleep(quiet)  # room for a frame that should not come
        self.assertTrue(p.alive(), "a refused prober keeps retrying")
        self.assertEqual(rx.accepted(), [], "nothing may be delivered")
        self.assertEqual(rx.rejected(), [], "no frame may even reach the receiver")
        self.assertNotIn("event=connected", p.stderr_text())

    # -- delivery ---------------------------------------------------------

    def test_inventory_delivered_over_tls(self):
        rx = self.start_tls_receiver()
        p = self.tls_prober(self.ca[0])
        snap = self.first_snapshot(rx, p, "snapshot over tls+tcp://")
        self.assertEqual(snap["node"]["agent_id"], self.env.agent_id)
        self.assertEqual([d["root"] for d in snap["devices"]], [self.dir_device])
        log = p.stderr_text()
        self.assertIn("event=bus_dialing url=%s" % self.env.url, log)
        self.assertIn("tls=on", log)
        self.assertIn("event=connected", log)
        self.assertNotIn("bus_tls_refused", log)
        # the session goes on: a change arrives as a delta
        os.unlink(os.path.join(self.dir_device, "QUOBYTE_DEV_SETUP"))
        self.next_delta(rx, lambda m: True, "delta over tls+tcp://")

    def test_hmac_credential_still_checked_under_tls(self):
        """TLS does not replace the node credential: a prober with the
        right CA but another node's credential is rejected by the receiver."""
        rx = self.start_tls_receiver()
        forged = self.env.credential_file("another-node-S9")
        p = self.start_prober(["--bus-tls-ca", self.ca[0], "--bus-tls-server-name",
                               "localhost"], credential_file=forged)
        rej = rx.next(lambda m: m.get("kind") == "rejected", START_TIMEOUT,
                      what="rejected frame")
        self.assertEqual(rej.get("agent_id"), self.env.agent_id)
        self.assertEqual(rx.accepted(), [])
        self.assertTrue(p.alive())

    def test_mutual_tls(self):
        client = self.pki.leaf("prober-client", self.ca, "DNS:it-node",
                               "clientAuth")
        rx = self.start_tls_receiver(client_ca=self.ca[0])
        p = self.tls_prober(self.ca[0], client)
        self.first_snapshot(rx, p, "snapshot with a client certificate")

    def test_mutual_tls_refuses_prober_without_client_certificate(self):
        rx = self.start_tls_receiver(client_ca=self.ca[0])
        p = self.tls_prober(self.ca[0])
        # the listener ends the handshake; how NNG counts that on the
        # dialer's side is its business: only "nothing delivered" is ours
        self.assert_refused(rx, p, log_event=None, quiet=3.0)

    # -- refusals ---------------------------------------------------------

    def test_wrong_ca_refused_with_log_line(self):
        rx = self.start_tls_receiver()
        p = self.tls_prober(self.other_ca[0])
        self.assert_refused(rx, p)
        line = [l for l in p.stderr_text().splitlines() if "bus_tls_refused" in l][0]
        self.assertIn("level=warn", line)
        self.assertIn("url=%s" % self.env.url, line)
        self.assertIn("ca=%s" % self.other_ca[0], line)
        self.assertIn("--bus-tls-ca", line)

    def test_certificate_for_another_name_refused(self):
        """Signed by the right CA, but for a host the prober did not dial:
        the server name check is on (--bus-tls-server-name, else the URL's
        host)."""
        elsewhere = self.pki.leaf("elsewhere", self.ca, "DNS:bus.example",
                                  "serverAuth")
        rx = self.start_tls_receiver(cert=elsewhere)
        p = self.tls_prober(self.ca[0])
        self.assert_refused(rx, p)

    def test_an_address_is_not_a_dns_name_to_mbedtls(self):
        """Dialing 127.0.0.1 without --bus-tls-server-name checks the
        address itself, which mbedtls 2.28 looks for among DNS names only:
        a certificate with IP:127.0.0.1 (and DNS:localhost) is refused."""
        rx = self.start_tls_receiver()
        p = self.tls_prober(self.ca[0], server_name=None)
        self.assert_refused(rx, p)

    def test_plain_prober_gets_nothing_through_a_tls_listener(self):
        rx = self.start_tls_receiver()
        self.env.url = "tcp://127.0.0.1:%d" % self.port
        p = self.start_prober()
        self.assert_refused(rx, p, log_event=None)

    # -- configuration ----------------------------------------------------

    def run_prober_config(self, *args):
        cred = "0" * 64
        argv = [binary("quobyte-prober"), "--check-config", "--agent-id", "a1",
                "--udev-source", "none", "--credential", cred] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    def run_coordinator_config(self, *args):
        argv = [binary("quobyte-coordinator"), "--check-config",
                "--master", "http://127.0.0.1:1",
                "--state-dir", os.path.join(self.env.root, "state"),
                "--http-listen", "127.0.0.1:%d" % free_tcp_port()] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    def path_missing(self):
        return os.path.join(self.env.root, "pki", "missing.pem")

    def test_prober_flag_rules(self):
        url = ["--coordinator", "tls+tcp://localhost:7001"]
        cases = [
            (url + ["--bus-tls-ca", self.ca[0]], 0, "configuration ok"),
            (url + ["--bus-tls-ca", self.ca[0], "--bus-tls-cert", self.server[0]],
             2, "--bus-tls-cert needs --bus-tls-key"),
            (url + ["--bus-tls-ca", self.ca[0], "--bus-tls-key", self.server[1]],
             2, "--bus-tls-key needs --bus-tls-cert"),
            (url, 2, "needs --bus-tls-ca"),
            (["--coordinator", "tcp://localhost:7001", "--bus-tls-ca", self.ca[0]],
             2, "is not tls+tcp://"),
            # --check-config loads the files
            (url + ["--bus-tls-ca", self.path_missing()], 2, "refused"),
            (url + ["--bus-tls-ca", self.ca[0], "--bus-tls-cert", self.server[0],
                    "--bus-tls-key", self.path_missing()], 2, "cannot read"),
        ]
        for args, rc, says in cases:
            p = self.run_prober_config(*args)
            self.assertEqual(p.returncode, rc, "%s: %s" % (args, p.stderr))
            self.assertIn(says, p.stderr, args)
        # the environment twin counts as the flag
        env = dict(os.environ, QUOBYTE_PROBER_BUS_TLS_CA=self.ca[0])
        p = subprocess.run([binary("quobyte-prober"), "--check-config",
                            "--agent-id", "a1", "--udev-source", "none",
                            "--credential", "0" * 64] + url,
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_coordinator_flag_rules(self):
        tls = ["--bus-listen", "tls+tcp://0.0.0.0:7001"]
        pair = ["--bus-tls-cert", self.server[0], "--bus-tls-key", self.server[1]]
        agents = ["--prober-bus-tls-ca", "/etc/quobyte/bus-ca.pem"]
        cases = [
            (tls + pair + agents, 0, "configuration ok"),
            (tls + pair[:2] + agents, 2, "--bus-tls-cert needs --bus-tls-key"),
            (tls + pair[2:] + agents, 2, "--bus-tls-key needs --bus-tls-cert"),
            (tls + agents, 2, "needs --bus-tls-cert and --bus-tls-key"),
            (tls + pair, 2, "needs --prober-bus-tls-ca"),
            (pair, 2, "is not tls+tcp://"),
            (tls + ["--bus-tls-cert", self.server[0], "--bus-tls-key",
                    self.path_missing()] + agents, 2, "cannot read"),
            (tls + ["--bus-tls-cert", self.server[1], "--bus-tls-key",
                    self.server[1]] + agents, 2, "refused"),
            (tls + pair + agents + ["--bus-advertise", "tcp://bus:7001"], 2,
             "both use tls+tcp://"),
            (tls + pair + agents + ["--bus-tls-ca", self.ca[0]], 2,
             "needs --prober-bus-tls-cert"),
            (tls + pair + agents + ["--bus-tls-ca", self.ca[0],
                                    "--prober-bus-tls-cert", "/etc/q/c.pem"], 2,
             "--prober-bus-tls-cert needs --prober-bus-tls-key"),
            (tls + pair + agents + ["--bus-tls-ca", self.ca[0],
                                    "--prober-bus-tls-cert", "/etc/q/c.pem",
                                    "--prober-bus-tls-key", "/etc/q/k.pem"], 0,
             "configuration ok"),
        ]
        for args, rc, says in cases:
            p = self.run_coordinator_config(*args)
            self.assertEqual(p.returncode, rc, "%s: %s" % (args, p.stderr))
            self.assertIn(says, p.stdout + p.stderr, args)


if __name__ == "__main__":
    unittest.main()
