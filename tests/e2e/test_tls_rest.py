"""The REST API and status page over HTTPS (--http-tls-cert, --http-tls-key):
a throwaway CA made here with the openssl CLI signs the server's
certificate. A client that trusts the CA gets answers, one that does not
fails verification, and plain HTTP to the TLS port gets no HTTP answer.
Half a pair, or a pair that does not load, is a configuration error."""

import json
import os
import socket
import subprocess

import qmtest
from e2e import E2ETestCase, wait_until


def openssl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                   capture_output=True, timeout=120)


def make_pki(d):
    """ca.pem (trusted), server.pem + server.key signed by it for
    127.0.0.1, and other.pem/other.key: a second CA nobody trusts."""
    os.makedirs(d, exist_ok=True)
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=quobyte-mesos test CA")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "ext.cnf")
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", "other.key", "-out", "other.pem", "-days", "2",
            "-subj", "/CN=somebody else")
    return {n: os.path.join(d, n) for n in
            ("ca.pem", "server.pem", "server.key", "other.pem", "other.key")}


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args),
                          capture_output=True, text=True, timeout=30)


class TlsRestTest(E2ETestCase):
    NAGENTS = 1

    def run_coordinator(self, extra, env=None):
        c = self.cluster
        argv = [qmtest.binary("quobyte-coordinator"),
                "--master", "http://" + c.emulator.address,
                "--state-dir", os.path.join(c.root, "state-tls"),
                "--bus-listen", "tcp://127.0.0.1:%d" % qmtest.free_tcp_port(),
                "--http-listen", "127.0.0.1:%d" % qmtest.free_tcp_port(),
                "--prober-command", qmtest.binary("quobyte-prober")] + \
            list(extra)
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=60, env=e)

    def test_rest_and_status_page_over_https(self):
        c = self.cluster
        pki = make_pki(os.path.join(c.root, "pki"))
        port = qmtest.free_tcp_port()
        c.rest = "127.0.0.1:%d" % port
        c.start_coordinator(["--http-listen", c.rest,
                             "--http-tls-cert", pki["server.pem"],
                             "--http-tls-key", pki["server.key"]],
                            wait=False)
        base = "https://127.0.0.1:%d" % port

        def up():
            if not c.coordinator_alive():
                raise AssertionError("coordinator exited:\n%s"
                                     % c.coordinator.stderr_text()[-3000:])
            r = curl("--cacert", pki["ca.pem"], "-o", "/dev/null",
                     "-w", "%{http_code}", base + "/v1/health")
            return r.returncode == 0 and r.stdout == "200"
        wait_until(up, 30, interval=0.2, what="health over HTTPS")

        r = curl("--cacert", pki["ca.pem"], base + "/v1/health")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsInstance(json.loads(r.stdout), dict)
        r = curl("--cacert", pki["ca.pem"], "-o", "/dev/null",
                 "-w", "%{http_code}", base + "/")
        self.assertEqual((r.returncode, r.stdout), (0, "200"), r.stderr)
        # the loopback rule is unchanged: no token needed here
        r = curl("--cacert", pki["ca.pem"], "-o", "/dev/null",
                 "-w", "%{http_code}", base + "/v1/state")
        self.assertEqual((r.returncode, r.stdout), (0, "200"), r.stderr)

        # no trust in the CA, or trust in another one: verification fails
        # (curl: 60, "peer certificate cannot be authenticated")
        for args in ([], ["--cacert", pki["other.pem"]]):
            r = curl(*(args + [base + "/v1/health"]))
            self.assertEqual(r.returncode, 60, (args, r.stdout, r.stderr))
            self.assertEqual(r.stdout, "")

        # plain HTTP to the TLS port: no HTTP answer, no data
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except OSError:
            pass
        s.close()
        self.assertNotIn(b"HTTP/", data)
        self.assertNotIn(b"{", data)
        r = curl("http://127.0.0.1:%d/v1/health" % port)
        self.assertNotEqual(r.returncode, 0, r.stdout)

        self.assertTrue(c.coordinator.log_events("http_tls"))
        self.assertTrue(c.coordinator_alive())
        # quiesce() reads /v1/state over plain HTTP: not here
        c.finish(self, quiesce=False)

    def test_half_a_pair_or_a_bad_pair_is_a_config_error(self):
        pki = make_pki(os.path.join(self.cluster.root, "pki"))
        r = self.run_coordinator(["--http-tls-cert", pki["server.pem"]])
        self.assertEqual(r.returncode, 2, r.stderr[-500:])
        self.assertIn("--http-tls-cert and --http-tls-key go together",
                      r.stderr)
        r = self.run_coordinator(
            ["--check-config"],
            env={"QUOBYTE_MESOS_HTTP_TLS_KEY": pki["server.key"]})
        self.assertEqual(r.returncode, 2, r.stderr[-500:])
        self.assertIn("go together", r.stderr)
        # a key that is not the certificate's, a missing file
        for cert, key, want in (
                (pki["server.pem"], pki["other.key"], "do not load"),
                (pki["server.pem"], pki["server.pem"], "do not load"),
                (pki["server.pem"], pki["server.key"] + ".missing",
                 "No such file")):
            r = self.run_coordinator(["--check-config",
                                      "--http-tls-cert", cert,
                                      "--http-tls-key", key])
            self.assertEqual(r.returncode, 2, (key, r.stderr[-500:]))
            self.assertIn(want, r.stderr)
        r = self.run_coordinator(["--check-config",
                                  "--http-tls-cert", pki["server.pem"],
                                  "--http-tls-key", pki["server.key"]])
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        self.assertIn("configuration ok", r.stdout)
        # and through the environment
        r = self.run_coordinator(
            ["--check-config"],
            env={"QUOBYTE_MESOS_HTTP_TLS_CERT": pki["server.pem"],
                 "QUOBYTE_MESOS_HTTP_TLS_KEY": pki["server.key"]})
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
