#!/usr/bin/env python3
"""Read the host's apt sources (one-line *.list and deb822 *.sources) and
print the Debian entries of one release, for building a base image that
uses the same mirrors as the host.

  apt_mirror.py mirror   [--suite bookworm]   the URI serving SUITE itself
                                              (for debootstrap)
  apt_mirror.py sources  [--suite bookworm]   one-line "deb URI SUITE COMP..."
                                              for SUITE, SUITE-updates and
                                              SUITE-security (for the image)

Only "deb" entries whose suite is SUITE or SUITE-<something> count: other
repositories configured on the host (third-party, disabled files) are left
out. Options such as [signed-by=...] are dropped: the image has Debian's
own keyring. Exit status 1 when no entry serves SUITE."""

import glob
import os
import sys

ROOT = os.environ.get("QM_APT_ROOT", "/etc/apt")


def one_line_entries(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            if words[0] != "deb":
                continue
            words = words[1:]
            if words and words[0].startswith("["):
                while words and not words[0].endswith("]"):
                    words.pop(0)
                if words:
                    words.pop(0)
            if len(words) >= 2:
                yield words[0], words[1], words[2:]


def deb822_entries(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
                continue
            if ":" in raw:
                key, value = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite, fields.get("components", "main").split()


def entries():
    files = [os.path.join(ROOT, "sources.list")]
    files += sorted(glob.glob(os.path.join(ROOT, "sources.list.d", "*.list")))
    for path in files:
        if os.path.isfile(path):
            yield from one_line_entries(path)
    for path in sorted(glob.glob(os.path.join(ROOT, "sources.list.d", "*.sources"))):
        yield from deb822_entries(path)


def main(argv):
    if len(argv) < 2 or argv[1] not in ("mirror", "sources"):
        print(__doc__, file=sys.stderr)
        return 2
    suite = "bookworm"
    if len(argv) == 4 and argv[2] == "--suite":
        suite = argv[3]
    wanted = [(u.rstrip("/"), s, c or ["main"]) for u, s, c in entries()
              if s == suite or s.startswith(suite + "-")]
    main_uris = [u for u, s, _ in wanted if s == suite]
    if not main_uris:
        print("apt_mirror: no deb entry for %s in %s" % (suite, ROOT),
              file=sys.stderr)
        return 1
    if argv[1] == "mirror":
        print(main_uris[0])
        return 0
    seen = set()
    for u, s, c in wanted:
        if (u, s) in seen:
            continue
        seen.add((u, s))
        print("deb %s %s %s" % (u, s, " ".join(c)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
