"""The coordinator's bus over TLS: it serves tls+tcp:// with its
certificate and hands the CA path (--prober-bus-tls-ca, a path on every
agent) to the probers it launches, which then report through TLS; with the
wrong CA on the agents nothing is reported and the probers say why. The CA
is made by the test (tests/integration/test_bus_tls.py's Pki)."""

import os

import qmtest
import test_bus_tls as tls_it  # tests/integration: the throwaway PKI
from e2e import E2ETestCase, wait_until


class BusTlsClusterTest(E2ETestCase):
    NAGENTS = 1

    def start_tls_coordinator(self, agents_ca):
        c = self.cluster
        pki = tls_it.Pki(c.root)
        self.ca = pki.ca("qm-test-ca")
        self.other_ca = pki.ca("qm-other-ca")
        server = pki.leaf("bus-server", self.ca, "DNS:localhost,IP:127.0.0.1",
                          "serverAuth")
        port = qmtest.free_tcp_port()
        c.bus_url = "tls+tcp://127.0.0.1:%d" % port
        # an address, checked as the DNS name localhost (bus_tls.h: mbedtls
        # ignores IP entries; a minimal chroot does not resolve localhost)
        self.advertised = "tls+tcp://127.0.0.1:%d" % port
        ca = self.ca[0] if agents_ca == "right" else self.other_ca[0]
        return c.start_coordinator((
            "--bus-advertise", self.advertised,
            "--bus-tls-cert", server[0], "--bus-tls-key", server[1],
            "--prober-bus-tls-ca", ca,
            "--prober-bus-tls-server-name", "localhost"))

    def prober_logs(self):
        return "".join(open(p, errors="replace").read()
                       for p in self.cluster.sandbox_stderr())

    def test_launched_probers_report_over_tls(self):
        co = self.start_tls_coordinator("right")
        self.cluster.wait_reporting()
        listening = co.log_events("bus_listening")
        self.assertEqual(listening[0].get("tls"), "on", listening)
        logs = self.prober_logs()
        self.assertIn("event=connected url=%s" % self.advertised, logs)
        self.assertIn("tls=on", logs)
        self.assertNotIn("bus_tls_refused", logs)
        self.cluster.finish(self)

    def test_wrong_ca_on_the_agents_reports_nothing(self):
        self.start_tls_coordinator("wrong")
        wait_until(lambda: "bus_tls_refused" in self.prober_logs(), 30,
                   what="bus_tls_refused in a prober's log")
        node = self.cluster.node(self.cluster.hosts[0])
        self.assertFalse(node and node["prober"]["reporting"],
                         "a prober that cannot verify the bus reports nothing")
        self.cluster.finish(self)
