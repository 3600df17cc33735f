#!/usr/bin/env python3
"""Derive emu_profiles.py's per-release field and enum tables from the
Mesos sources (a developer tool, not run by the tests).

For every supported tag it reads include/mesos/v1/mesos.proto and
include/mesos/v1/scheduler/scheduler.proto from a git mirror of
apache/mesos, walks the v1 scheduler Call message graph alongside
emu_schema.MESSAGES (same field names), and prints, as Python literals:

  FIELD_SINCE  {(schema message, field): first release having it}
  FIELD_LABEL  {(schema message, field): {release: label}} where the label
               (required/optional/repeated) differs between releases
  ENUM_SINCE   {(schema enum, name): first release having it}
  MISSING      schema fields/enum names no supported release has

    python3 tests/emulator/gen_profiles.py /work/.mirror/apache+mesos/repo
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import emu_profiles  # noqa: E402
import emu_schema  # noqa: E402

FILES = [("mesos.v1", "include/mesos/v1/mesos.proto"),
         ("mesos.v1.scheduler", "include/mesos/v1/scheduler/scheduler.proto")]


def _tokens(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    return re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|\d+|[{}\[\]<>=;,()\"-]|\S",
                      text)


def parse_proto(text, package, messages, enums):
    """Fill messages {full name: {field: (label, type name as written,
    scope)}} and enums {full name: [value names]}."""
    toks = _tokens(text)
    pos = 0
    scope = [package]

    def skip_statement():
        nonlocal pos
        depth = 0
        while pos < len(toks):
            t = toks[pos]
            pos += 1
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
                if depth == 0:
                    return
            elif t == ";" and depth == 0:
                return

    def skip_options():
        nonlocal pos
        if pos < len(toks) and toks[pos] == "[":
            depth = 0
            while True:
                t = toks[pos]
                pos += 1
                if t == "[":
                    depth += 1
                elif t == "]":
                    depth -= 1
                    if depth == 0:
                        break

    def parse_enum(name):
        nonlocal pos
        full = ".".join(scope + [name])
        values = enums.setdefault(full, [])
        assert toks[pos] == "{"
        pos += 1
        while toks[pos] != "}":
            if toks[pos] in ("option", "reserved"):
                skip_statement()
                continue
            values.append(toks[pos])
            while toks[pos] != ";":
                pos += 1
            pos += 1
        pos += 1

    def parse_body(full, in_oneof=False):
        nonlocal pos
        fields = messages.setdefault(full, {})
        while toks[pos] != "}":
            t = toks[pos]
            if t == "message":
                name = toks[pos + 1]
                pos += 3
                scope.append(name)
                parse_body(".".join(scope))
                scope.pop()
                pos += 1
            elif t == "enum":
                name = toks[pos + 1]
                pos += 2
                parse_enum(name)
            elif t == "oneof":
                pos += 3
                parse_body(full, in_oneof=True)
                pos += 1
            elif t in ("option", "reserved", "extensions", "extend"):
                skip_statement()
            elif t == "map":
                # map < K , V > name = N ;
                vtype = toks[pos + 4]
                name = toks[pos + 6]
                fields[name] = ("map", vtype, full)
                pos += 9
                skip_options()
                assert toks[pos] == ";", toks[pos - 5:pos + 2]
                pos += 1
            else:
                if t in ("optional", "required", "repeated"):
                    label = t
                    pos += 1
                else:
                    assert in_oneof, (full, toks[pos:pos + 6])
                    label = "optional"
                ftype = toks[pos]
                name = toks[pos + 1]
                fields[name] = (label, ftype, full)
                pos += 4
                skip_options()
                assert toks[pos] == ";", (full, name, toks[pos - 4:pos + 2])
                pos += 1

    while pos < len(toks):
        t = toks[pos]
        if t == "message":
            name = toks[pos + 1]
            pos += 3
            scope.append(name)
            parse_body(".".join(scope))
            scope.pop()
            pos += 1
        elif t == "enum":
            name = toks[pos + 1]
            pos += 2
            parse_enum(name)
        else:
            skip_statement()


def resolve(name, scope, known):
    """Protobuf name resolution: innermost scope outwards."""
    if name.startswith("."):
        return name[1:]
    parts = scope.split(".")
    while parts:
        cand = ".".join(parts + [name])
        if cand in known:
            return cand
        parts.pop()
    return name if name in known else None


def load(repo, tag):
    messages, enums = {}, {}
    for package, path in FILES:
        text = subprocess.run(["git", "-C", repo, "show", "%s:%s" % (tag, path)],
                              capture_output=True, text=True,
                              check=True).stdout
        parse_proto(text, package, messages, enums)
    return messages, enums


def walk(messages, enums):
    """{schema message: {field: label}} and {schema enum: set(names)}
    present at one tag."""
    fields_out, enums_out = {}, {}
    todo = [("Call", "mesos.v1.scheduler.Call")]
    seen = set()
    while todo:
        sname, pname = todo.pop()
        if (sname, pname) in seen:
            continue
        seen.add((sname, pname))
        proto = messages.get(pname, {})
        have = fields_out.setdefault(sname, {})
        for field, (_, stype) in emu_schema.MESSAGES[sname].items():
            if field not in proto:
                continue
            label, ptype, pscope = proto[field]
            have[field] = label
            target = stype
            for prefix in ("map:",):
                if target.startswith(prefix):
                    target = target[len(prefix):]
            if target.startswith("msg:"):
                full = resolve(ptype, pscope, messages)
                assert full, (pname, field, ptype)
                todo.append((target[4:], full))
            elif target.startswith("enum:"):
                full = resolve(ptype, pscope, enums)
                assert full, (pname, field, ptype)
                enums_out.setdefault(target[5:], set()).update(enums[full])
    return fields_out, enums_out


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else \
        "/work/.mirror/apache+mesos/repo"
    per_tag = {}
    for tag in emu_profiles.SUPPORTED:
        per_tag[tag] = walk(*load(repo, tag))
    field_since, field_label, enum_since, missing = {}, {}, {}, []
    for sname, schema in emu_schema.MESSAGES.items():
        for field in schema:
            present = [t for t in emu_profiles.SUPPORTED
                       if field in per_tag[t][0].get(sname, {})]
            if not present:
                missing.append("%s.%s" % (sname, field))
                continue
            first = present[0]
            later = emu_profiles.SUPPORTED[emu_profiles.SUPPORTED.index(first):]
            assert present == later, (sname, field, present)
            if first != emu_profiles.SUPPORTED[0]:
                field_since[(sname, field)] = first
            labels = {t: per_tag[t][0][sname][field] for t in present}
            if len(set(labels.values())) > 1:
                field_label[(sname, field)] = labels
    for ename, names in emu_schema.ENUMS.items():
        for name in names:
            present = [t for t in emu_profiles.SUPPORTED
                       if name in per_tag[t][1].get(ename, set())]
            if not present:
                missing.append("enum %s.%s" % (ename, name))
                continue
            if present[0] != emu_profiles.SUPPORTED[0]:
                enum_since[(ename, name)] = present[0]
    # proto names the schema does not list (accepted by the master)
    extra = []
    for ename, names in sorted(per_tag["1.11.0"][1].items()):
        for name in sorted(names - set(emu_schema.ENUMS.get(ename, []))):
            extra.append("enum %s.%s" % (ename, name))
    print(emit("FIELDS_ADDED", field_since))
    print(emit("ENUM_NAMES_ADDED", enum_since))
    print("# labels that differ between releases: %r" % field_label)
    print("# in the schema but in no supported release: %r" % missing)
    print("# enum names in 1.11.0 the schema lacks: %r" % extra)


def emit(name, since):
    """{release: [(a, b), ...]} as a Python literal, releases in order."""
    by_release = {}
    for key, release in since.items():
        by_release.setdefault(release, []).append(key)
    lines = ["%s = {" % name]
    for release in emu_profiles.SUPPORTED:
        if release not in by_release:
            continue
        lines.append('    "%s": [' % release)
        for a, b in sorted(by_release[release]):
            lines.append('        ("%s", "%s"),' % (a, b))
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
