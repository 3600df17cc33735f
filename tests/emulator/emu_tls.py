"""A throwaway certificate authority for tests of https masters: a CA and
one server certificate it signed, for 127.0.0.1 and localhost, made with
the openssl command-line tool (scripts/install-deps.sh installs it). Nothing
here is fit for anything but a test: the keys are unencrypted and live in
the test's temporary directory."""

import os
import shutil
import subprocess


def available():
    return shutil.which("openssl") is not None


def _openssl(*args, cwd):
    # argv only, no shell: every argument is ours
    res = subprocess.run(["openssl"] + list(args), cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s"
                           % (args[0], res.stderr.strip()[-500:]))


def make_ca(directory, name="qm-test"):
    """-> {"ca": ca.pem, "cert": server.pem, "key": server.key, "other_ca":
    a second CA that signed nothing here}, all in directory."""
    os.makedirs(directory, exist_ok=True)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w", encoding="utf-8") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                 "2", "-subj", "/CN=%s %s" % (name, ca), "-keyout",
                 ca + ".key", "-out", ca + ".pem", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
             "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr",
             cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
             "ca.key", "-CAcreateserial", "-days", "2", "-extfile", ext,
             "-out", "server.pem", cwd=directory)
    return {k: os.path.join(directory, v) for k, v in
            (("ca", "ca.pem"), ("cert", "server.pem"),
             ("key", "server.key"), ("other_ca", "other-ca.pem"))}
