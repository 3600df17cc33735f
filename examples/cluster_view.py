#!/usr/bin/env python3
"""Follow a quobyte-coordinator's GET /v1/state and print one line for every
change: target version, probers, devices, services (state and health) and the
planner's problems. Used by examples/local-cluster.sh; works against any
coordinator. Python 3 standard library only.

  cluster_view.py http://127.0.0.1:7000            follow until killed
  cluster_view.py http://127.0.0.1:7000 --once     print the summary once

Options:
  --interval S     poll period (default 1)
  --t0 EPOCH       print times as seconds since this Unix time (default: now)
  --ready-file F   when the cluster first has everything running, write the
                   seconds since --t0 to F
  --hints-file F   print F's text once, right after the first summary
  --once           print the summary of the current state and exit
                   (exit 0 if everything runs, 1 if not, 2 if unreachable)

"Everything running" means: a target version is set, every agent's prober
runs and reports, every planner phase has as many ready services as it wants
(registry, metadata and data at least one each), no service is in another
state than TASK_RUNNING or unhealthy, and the planner reports no problem.
"""
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request


def fetch(url, timeout=2.0):
    with urllib.request.urlopen(url.rstrip("/") + "/v1/state", timeout=timeout) as r:
        return json.load(r)


def short_state(s):
    return (s or "?").replace("TASK_", "")


def device_text(d):
    types = ",".join(d.get("types") or []) or "no type"
    what = d.get("fs_type") or ("directory" if d.get("is_directory") else "?")
    bits = [what]
    if d.get("block_device"):
        bits.append(d["block_device"])
    if d.get("bootstrap"):
        types += " (bootstrap)"
    text = "%s [%s] %s: %s" % (d.get("root", "?"), ", ".join(bits), types, d.get("state", "?"))
    for k in ("error", "conflict"):
        if d.get(k):
            text += " %s=%s" % (k, d[k])
    return text


def service_text(t):
    text = "%s service %s %s %s" % (t.get("service", "?"), t.get("task_id", "?"),
                                    t.get("state", "?"), t.get("health", "?"))
    if t.get("kill_requested"):
        text += " (kill requested)"
    return text


def prober_text(p):
    t = p.get("task") or {}
    if not t:
        return "prober: no task"
    rep = "reporting" if p.get("reporting") else "not reporting"
    if p.get("stale"):
        rep = "stale"
    return "prober %s %s, %s" % (t.get("task_id", "?"), t.get("state", "?"), rep)


def flatten(state):
    """(key -> line) for everything worth a line, plus the problems."""
    items = {}
    items[("cluster", "version")] = "target version %s" % (state.get("target_version") or "(none: only probers run)")
    items[("cluster", "subscribed")] = ("subscribed to %s as %s" % (state.get("master"), state.get("framework_id"))
                                        if state.get("subscribed") else "NOT subscribed to %s" % state.get("master"))
    for n in state.get("nodes", []):
        host = n.get("hostname") or n.get("agent_id")
        if not n.get("active", True):
            items[(host, "inactive")] = "%s: agent inactive" % host
        items[(host, "prober")] = "%s: %s" % (host, prober_text(n.get("prober") or {}))
        for d in n.get("devices", []):
            items[(host, "dev", d.get("key") or d.get("root"))] = "%s: device %s" % (host, device_text(d))
        for t in n.get("services", []):
            items[(host, "svc", t.get("task_id"))] = "%s: %s" % (host, service_text(t))
    for t in state.get("tasks_on_unknown_agents", []):
        items[("?", "svc", t.get("task_id"))] = "unknown agent %s: %s" % (t.get("agent_id"), service_text(t))
    return items, list(state.get("problems", []))


def readiness(state):
    """(ready, why-not or counts)"""
    if not state.get("subscribed"):
        return False, "not subscribed"
    if not state.get("target_version"):
        return False, "no target version"
    probers = services = healthy = unchecked = 0
    for n in state.get("nodes", []):
        p = n.get("prober") or {}
        t = p.get("task") or {}
        if t.get("state") != "TASK_RUNNING" or not p.get("reporting") or p.get("stale"):
            return False, "prober on %s not running/reporting" % n.get("hostname")
        probers += 1
        for s in n.get("services", []):
            if s.get("state") != "TASK_RUNNING" or s.get("health") == "unhealthy":
                return False, "%s on %s is %s %s" % (s.get("service"), n.get("hostname"),
                                                     s.get("state"), s.get("health"))
            services += 1
            if s.get("health") == "healthy":
                healthy += 1
            else:
                unchecked += 1
    wanted = {}
    for ph in state.get("phases", []):
        wanted[ph["phase"]] = ph.get("wanted", 0)
        if ph.get("ready", 0) < ph.get("wanted", 0):
            return False, "phase %s: %d of %d ready" % (ph["phase"], ph.get("ready", 0), ph.get("wanted", 0))
    for need in ("registry", "metadata", "data"):
        if wanted.get(need, 0) < 1:
            return False, "no %s wanted" % need
    if state.get("problems"):
        return False, state["problems"][0]
    return True, (probers, services, healthy, unchecked)


def summary(state):
    rows = []  # (host, what, name, text)
    for n in state.get("nodes", []):
        host = n.get("hostname") or n.get("agent_id")
        p = n.get("prober") or {}
        t = p.get("task") or {}
        rows.append((host, "prober", t.get("task_id", "-"), "%s%s" % (
            short_state(t.get("state")),
            ", reporting" if p.get("reporting") and not p.get("stale") else ", NOT reporting")))
        for d in n.get("devices", []):
            types = ",".join(d.get("types") or []) or "no type"
            if d.get("bootstrap"):
                types += "+bootstrap"
            rows.append(("", "device", d.get("root", "?"), "%s %s %s" % (
                d.get("fs_type") or "dir", types, d.get("state", "?"))))
        for s in sorted(n.get("services", []), key=lambda s: s.get("service", "")):
            ports = ",".join(str(x) for x in s.get("ports", []))
            rows.append(("", s.get("service", "?"), s.get("task_id", "?"), "%s %s%s" % (
                short_state(s.get("state")), s.get("health", "?"),
                (" ports " + ports) if ports else "")))
    w = [max([len(r[i]) for r in rows] + [1]) for i in range(3)]
    out = ["what runs where (target version %s, framework %s):" % (
        state.get("target_version") or "none", state.get("framework_id") or "-")]
    for r in rows:
        out.append("  %-*s  %-*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], r[3]))
    probs = state.get("problems") or []
    out.append("  problems: %s" % ("none" if not probs else "; ".join(probs)))
    return "\n".join(out)


def main(argv):
    url = None
    interval, t0, ready_file, hints_file, once = 1.0, time.time(), None, None, False
    i = 0
    try:
        while i < len(argv):
            a = argv[i]
            if a in ("-h", "--help"):
                print(__doc__.strip())
                return 0
            if a == "--once":
                once = True
            elif a in ("--interval", "--t0", "--ready-file", "--hints-file"):
                i += 1
                v = argv[i]
                if a == "--interval":
                    interval = float(v)
                elif a == "--t0":
                    t0 = float(v)
                elif a == "--ready-file":
                    ready_file = v
                else:
                    hints_file = v
            elif a.startswith("-") or url:
                raise ValueError("unexpected argument %r" % a)
            else:
                url = a
            i += 1
        if not url:
            raise ValueError("the coordinator URL is missing")
    except (IndexError, ValueError) as e:
        print("cluster_view: %s (see --help)" % e, file=sys.stderr)
        return 2

    if once:
        try:
            st = fetch(url)
        except (OSError, ValueError) as e:
            print("cluster_view: %s: %s" % (url, e), file=sys.stderr)
            return 2
        print(summary(st))
        ok, why = readiness(st)
        print("  everything running: %s" % ("yes" if ok else "no (%s)" % why))
        return 0 if ok else 1

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def say(text):
        print("[+%5.1fs] %s" % (time.time() - t0, text), flush=True)

    prev, prev_probs = {}, set()
    was_ready, ever_ready, down = False, False, None
    ready_counts = None
    while True:
        try:
            st = fetch(url)
            if down is not None:
                say("coordinator answers again")
            down = None
        except (OSError, ValueError) as e:
            err = str(getattr(e, "reason", e))
            if down != err:
                say("coordinator not answering: %s" % err)
            down = err
            time.sleep(interval)
            continue
        items, probs = flatten(st)
        for k in sorted(set(prev) - set(items), key=str):
            say("%s -> gone" % prev[k])
        for k in sorted(items, key=lambda k: (0 if k[0] == "cluster" else 1, str(k))):
            if prev.get(k) != items[k]:
                say(items[k])
        # a problem is new unless only its numbers changed (countdowns)
        keys = {re.sub(r"[0-9]+", "#", p): p for p in probs}
        for k, p in keys.items():
            if k not in prev_probs:
                say("problem: %s" % p)
        prev, prev_probs = items, set(keys)

        ok, why = readiness(st)
        # a service that came up between two polls changes the count while
        # everything stays running: say so too
        if ok and not was_ready or (ok and why != ready_counts):
            probers, services, healthy, unchecked = why
            elapsed = time.time() - t0
            say("ALL RUNNING: %d services (%d healthy, %d without a health check) and %d probers" % (
                services, healthy, unchecked, probers))
            if not ever_ready:
                print(summary(st), flush=True)
                if ready_file:
                    tmp = ready_file + ".tmp"
                    with open(tmp, "w") as f:
                        f.write("%.1f\n" % elapsed)
                    os.replace(tmp, ready_file)
                if hints_file:
                    try:
                        with open(hints_file) as f:
                            sys.stdout.write(f.read())
                        sys.stdout.flush()
                    except OSError:
                        pass
            ever_ready = True
        elif not ok and was_ready:
            say("not everything running: %s" % why)
        was_ready = ok
        ready_counts = why if ok else None
        time.sleep(interval)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
    except BrokenPipeError:
        sys.exit(0)
