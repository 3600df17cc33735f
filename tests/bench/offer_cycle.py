#!/usr/bin/env python3
"""Offer-cycle cost and memory of the coordinator with many agents.

For each agent count N: a master with N agents (--master fast, the default:
tests/bench/fastmaster.py, which answers at once; --master emulator: the
strict Mesos master emulator: 10,000 agents take it about 80 s to launch
every prober, against 4 s for fastmaster), the real
coordinator with no target version (only probers are wanted) and its
probers as Docker tasks (simulated by either master: N probers cost no
processes); once every prober task runs, tests/tools/fake_probers publishes
a snapshot with --devices synthetic devices for every agent over the real
bus (NNG, signed with each node's credential derived from the coordinator's
<state-dir>/bus.secret), so the coordinator holds N nodes x D devices, as
with real probers. Then one heartbeat per agent.

The offer cycle measured is the steady state: the coordinator is idle and
suppressed; its periodic REVIVE (--revive-interval, agent discovery) makes
the master offer every agent again in one OFFERS event; the coordinator
parses it, plans, DECLINEs every offer (refuse 1 h) and SUPPRESSes. CPU per
cycle = the coordinator's run time (all threads, /proc/PID/task/*/schedstat)
from the REVIVE (journal) until the last DECLINE/SUPPRESS of the cycle was
answered: receiving and parsing the event, planning, and sending the k
answers. The coordinator is otherwise idle, so nothing else is counted
(master HEARTBEAT events aside). The loop thread's share is shown too.

  python3 tests/bench/offer_cycle.py [--agents 1000,10000] [--devices 24]
        [--cycles 5] [--revive-interval auto] [--master fast|emulator]
        [--probers docker|none] [--store file|zk] [--parallel 8] [--no-heap]
        [--profile [--callgraph fp|dwarf] [--profile-dir DIR]] [--json F]

--probers none: probers restricted to a host that does not exist
(--prober-hostnames), so no prober task is launched and the coordinator
holds no tasks. --profile: `perf record` on the coordinator while the
snapshots load and during the measured cycles; prints the top symbols by
self time and the coordinator's functions by inclusive time.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import benchlib
import clusterlib
from benchlib import qmtest

RESOURCES = "cpus:8;mem:32768;disk:102400;ports:[7000-9000,31000-32000]"
ZKSERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zk",
                        "zkserver.sh")


TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
            "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}


def journal_keep(rec):
    d = rec.get("direction")
    if d == "call":
        ct = rec.get("call_type")
        if ct not in ("ACCEPT", "DECLINE", "REVIVE", "SUPPRESS",
                      "ACKNOWLEDGE", "SUBSCRIBE"):
            return None
        out = {"ts": rec["ts"], "kind": ct, "status": rec.get("status")}
        if ct in ("ACCEPT", "DECLINE"):
            # offer ids the answer named (one DECLINE may carry many)
            if "offers" in rec:     # fastmaster's compact record
                out["offers"] = rec["offers"]
            else:
                out["offers"] = len(((rec.get("body") or {}).get(
                    ct.lower()) or {}).get("offer_ids") or [])
        if ct == "ACCEPT":
            body = rec.get("body") or {}
            out["launches"] = sum(
                len((op.get("launch") or {}).get("task_infos", []))
                for op in body.get("accept", {}).get("operations", []))
        return out
    if d == "event":
        ev = rec.get("event") or {}
        t = ev.get("type")
        if t == "OFFERS":
            if "n" in rec:      # fastmaster's compact record
                return {"ts": rec["ts"], "kind": "OFFERS", "n": rec["n"],
                        "bytes": rec.get("bytes")}
            return {"ts": rec["ts"], "kind": "OFFERS",
                    "n": len(ev["offers"]["offers"]),
                    "bytes": len(json.dumps(ev, separators=(",", ":")))}
        if t == "UPDATE":
            st = ev["update"]["status"]
            return {"ts": rec["ts"], "kind": "UPDATE",
                    "task_id": st["task_id"]["value"], "state": st["state"],
                    "agent_id": (st.get("agent_id") or {}).get("value")}
        return None
    return None


def cycle_at(recs, i):
    """The offer cycle started by the REVIVE at recs[i]: its first OFFERS
    event, the answers (DECLINE/ACCEPT calls) naming its k offers that
    follow it, the SUPPRESS. None while incomplete."""
    offs = next((j for j in range(i + 1, len(recs))
                 if recs[j]["kind"] == "OFFERS"), None)
    if offs is None:
        return None
    k = recs[offs]["n"]
    answers, answered, sup, accepts = [], 0, None, 0
    # the strict emulator at 10,000 agents takes seconds to allocate: the
    # coordinator's SUPPRESS can reach it first (the offers it computed
    # before are sent anyway), so a SUPPRESS after the REVIVE counts
    sup = next((r["ts"] for r in recs[i + 1:offs]
                if r["kind"] == "SUPPRESS"), None)
    for r in recs[offs + 1:]:
        if r["kind"] in ("DECLINE", "ACCEPT") and answered < k:
            answers.append(r["ts"])
            answered += r.get("offers", 1)
            accepts += r["kind"] == "ACCEPT"
        elif r["kind"] == "SUPPRESS" and sup is None:
            sup = r["ts"]
        if sup is not None and answered >= k:
            break
    if sup is None or answered < k:
        return None
    return {"offers": k, "bytes": recs[offs].get("bytes"),
            "t_revive": recs[i]["ts"], "calls": len(answers),
            "t_offers": recs[offs]["ts"], "t_suppress": sup,
            "t_end": max(answers + [sup]), "accepts": accepts}


def offer_accept_ms(recs):
    """OFFERS -> ACCEPT latencies (ms) in the journal records recs: for
    every ACCEPT, from the OFFERS event before it ("all"), and for the
    first ACCEPT after each OFFERS event ("first"; the figure of one
    launch: the plan, the save before the LAUNCH, the call)."""
    t_off, first_seen, every, first = None, False, [], []
    for r in recs:
        if r["kind"] == "OFFERS":
            t_off, first_seen = r["ts"], False
        elif r["kind"] == "ACCEPT" and t_off is not None:
            ms = (r["ts"] - t_off) * 1000.0
            every.append(ms)
            if not first_seen:
                first.append(ms)
                first_seen = True
    return {"all": sorted(every), "first": sorted(first)}


def cjson_floor_us(n_agents, reps=None):
    """The cJSON parse floor (cjson_floor_here), measured in a fresh
    interpreter, so that it does not depend on what this run did to its
    own heap. On a 2-core VM it still moves with the host's load (4.7 to
    11.3 us per offer at 10,000 agents in three runs back to back): the
    run measures it before and after the cycles and takes the lower.
    (us per offer, event bytes) or None."""
    cmd = [sys.executable, os.path.abspath(__file__), "--cjson-floor",
           str(n_agents)]
    if reps:
        cmd += ["--cjson-floor-reps", str(reps)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=600, check=True).stdout
        fl = json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        log("cJSON floor not measured: %s" % e)
        return None
    return tuple(fl) if fl else None


def cjson_floor_here(n_agents, reps=None):
    """The cJSON parse floor: parse + delete (libcjson through ctypes, the
    library the coordinator links) of an OFFERS event with n_agents offers
    in the shape fastmaster sends (tests/bench/fastmaster.py: Master
    .offer_all). Best of reps (default: enough for ~20,000 offers, at
    least 5: a small event's parse is a few ms, at the mercy of one
    preemption); (us per offer, event bytes) or None."""
    if reps is None:
        reps = max(5, 20000 // max(1, n_agents))
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("cjson")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    lib.cJSON_ParseWithLength.restype = ctypes.c_void_p
    lib.cJSON_ParseWithLength.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.cJSON_Delete.argtypes = [ctypes.c_void_p]
    import fastmaster
    fid = "0c1f4a9e-7d1b-4d52-9a8e-5b2f3c4d5e6f-0000"
    offers = []
    for i in range(n_agents):
        aid, host = "%s-S%d" % (fid, i), "agent%d" % (i + 1)
        offers.append({
            "id": {"value": "%s-O%d" % (fid, 100000 + i)},
            "framework_id": {"value": fid},
            "agent_id": {"value": aid}, "hostname": host,
            "url": {"scheme": "http", "address": {
                "hostname": host, "ip": "127.0.0.1", "port": 5051},
                "path": "/slave(1)"},
            "allocation_info": {"role": "*"},
            "resources": [dict(r, allocation_info={"role": "*"})
                          for r in fastmaster.RESOURCES]})
    data = json.dumps({"type": "OFFERS", "offers": {"offers": offers}},
                      separators=(",", ":")).encode()
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        root = lib.cJSON_ParseWithLength(data, len(data))
        lib.cJSON_Delete(root)
        dt = time.perf_counter() - t
        if not root:
            return None
        best = dt if best is None else min(best, dt)
    return best * 1e6 / n_agents, len(data)


def loop_stall_ms(coord):
    """(longest loop iteration since the previous scrape, since the start,
    stalls >= 50 ms) in ms from the coordinator's /metrics; the scrape
    starts a new "recent" window. None if the coordinator has no gauge."""
    try:
        req = urllib.request.urlopen(coord.rest + "/metrics", timeout=60)
        text = req.read().decode()
    except Exception:
        return None
    v = {}
    for line in text.splitlines():
        for k in ("loop_iteration_recent_max_seconds",
                  "loop_iteration_max_seconds", "loop_stalls_total",
                  "loop_iteration_save_max_seconds",
                  "loop_iterations_saving_total"):
            if line.startswith("quobyte_mesos_" + k + " "):
                v[k] = float(line.split()[1])
    if "loop_iteration_recent_max_seconds" not in v:
        return None
    return {"recent_ms": v["loop_iteration_recent_max_seconds"] * 1000,
            "max_ms": v.get("loop_iteration_max_seconds", 0) * 1000,
            "stalls": int(v.get("loop_stalls_total", 0)),
            # every iteration that saved the state (a save made, started
            # or answered), whole run: "during a save"
            "save_max_ms": v.get("loop_iteration_save_max_seconds", 0) * 1000,
            "saving": int(v.get("loop_iterations_saving_total", 0))}


# what the status page asks for every 2 s (statuspage.c NODE_ROWS, RSV_ROWS)
STATUS_PAGE_QUERY = "?nodes_offset=0&nodes_limit=100&reservations_limit=100"


def state_cost(coord, query=""):
    """One GET /v1/state + query of the idle coordinator: (wall ms, KiB,
    the longest loop iteration meanwhile in ms), read like scrape_cost:
    the read of the loop gauges just before (scrape_cost's, or a call
    before this one) starts the window this one reads. None on error."""
    try:
        t0 = time.monotonic()
        with urllib.request.urlopen(coord.rest + "/v1/state" + query,
                                    timeout=120) as r:
            body = r.read()
        wall = (time.monotonic() - t0) * 1000
    except Exception as e:
        log("  GET /v1/state failed: %s" % e)
        return None
    st = loop_stall_ms(coord)
    return (wall, len(body) / 1024.0, st["recent_ms"] if st else None)


def scrape_cost(coord):
    """One GET /metrics of the idle coordinator: (wall ms, KiB, samples,
    the longest loop iteration meanwhile in ms). The page is built on the
    coordinator's loop, so the iteration that builds it is the scrape's
    cost to everything else; the scrape before this one (plan_counts)
    started the "recent" window, the one after reads it. None on error."""
    try:
        t0 = time.monotonic()
        with urllib.request.urlopen(coord.rest + "/metrics", timeout=60) as r:
            body = r.read()
        wall = (time.monotonic() - t0) * 1000
    except Exception:
        return None
    samples = sum(1 for line in body.split(b"\n")
                  if line and not line.startswith(b"#"))
    st = loop_stall_ms(coord)
    return (wall, len(body) / 1024.0, samples,
            st["recent_ms"] if st else None)


def rss_after_trim(coord, timeout=45):
    """The coordinator's memory at rest: read after its next heap trim
    (trim_soon(): TRIM_DELAY_MS after an OFFERS event of >= 1,000 offers,
    malloc_trim(0) gives back what the burst freed; while big events keep
    coming the trims are ARENA_KEEP_MS apart). The memory, with the parse
    arena, record buffer and offers' pool kept for the next event in
    "arena_kib"
    (coord.c trim_cb), or None when no trim
    comes (fewer offers per event)."""
    try:
        _, _, text = coord.wait_line(lambda t: "event=memory_trimmed" in t,
                                     coord.mark(), timeout=timeout,
                                     what="memory_trimmed")
    except Exception:
        return None
    mem = clusterlib.proc_mem_kb(coord.pid)
    m = re.search(r"arena_kept_kib=(\d+)", text)
    mem["arena_kib"] = int(m.group(1)) if m else 0
    for key in ("record_kept_kib", "pool_kept_kib"):
        m = re.search(key + r"=(\d+)", text)
        mem["arena_kib"] += int(m.group(1)) if m else 0
    return mem


def trims(coord):
    """(heap trims so far, the longest in ms) from the coordinator's log."""
    n, longest = 0, 0
    for _, _, text in list(coord.lines):
        if "event=memory_trimmed" in text:
            n += 1
            m = re.search(r"took_ms=(\d+)", text)
            if m:
                longest = max(longest, int(m.group(1)))
    return n, longest


class Sampler(threading.Thread):
    """Samples the coordinator's CPU (all threads and the loop thread)."""

    def __init__(self, pid, interval=0.005):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples = []   # (unix time, all threads ns, main thread ns)
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                a = clusterlib.proc_cpu_ns(self.pid)
                m = clusterlib.thread_cpu_ns(self.pid)
            except OSError:
                return
            self.samples.append((time.time(), a, m))
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()
        self.join(2)

    def at(self, t, after=False):
        """Sample just before t (or just after, with after=True)."""
        best = None
        for s in self.samples:
            if s[0] <= t:
                best = s
            elif after:
                return s
            else:
                break
        return best


def wait_idle(pid, quiet_s=1.0, timeout=600, threshold_ms=5.0):
    """Until the process used < threshold_ms CPU over quiet_s seconds."""
    deadline = time.monotonic() + timeout
    last = clusterlib.proc_cpu_ns(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = clusterlib.proc_cpu_ns(pid)
        if (now - last) / 1e6 < threshold_ms:
            return
        last = now
    raise AssertionError("coordinator did not become idle")


HEAP = {"enabled": True}


def heap_in_use(coord, timeout=60):
    """glibc heap bytes in use (all arenas and mmapped chunks), from
    malloc_stats() called in the idle coordinator through gdb (it prints to
    the coordinator's stderr, which is read anyway). None without gdb, with
    --no-heap, or after a first failure (e.g. an AddressSanitizer build,
    whose allocator prints nothing)."""
    if not HEAP["enabled"] or not shutil.which("gdb"):
        return None
    mark = coord.mark()
    try:
        subprocess.run(["gdb", "-p", str(coord.pid), "-batch", "-nx",
                        "-ex", "call (void)malloc_stats()"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout)
        i, _, _ = coord.wait_line(lambda t: t.startswith("Total (incl. mmap)"),
                                  mark, timeout=3, what="malloc_stats")
        _, _, text = coord.wait_line(lambda t: t.startswith("in use bytes"),
                                     i, timeout=3, what="malloc_stats")
        return int(text.split("=")[1])
    except Exception as e:
        log("  heap measurement failed (%s); not tried again" % e)
        HEAP["enabled"] = False
        return None


def metric(coord, name):
    """One unlabelled sample of the coordinator's /metrics, or None."""
    try:
        return coord.metric_samples().get(name)
    except Exception:
        return None


def plan_counts(coord):
    """The coordinator's plans run, replans deferred behind a costly plan,
    seconds spent planning and OFFERS events planned a turn after their
    booking (GET /metrics), or None."""
    want = {"quobyte_mesos_plans_total": 0,
            "quobyte_mesos_replans_deferred_total": 1,
            "quobyte_mesos_plan_duration_seconds_sum": 2,
            "quobyte_mesos_offer_events_planned_later_total": 3}
    got = [None, None, None, None]
    try:
        req = urllib.request.urlopen(coord.rest + "/metrics", timeout=30)
        for line in req.read().decode().splitlines():
            f = line.split()
            if len(f) == 2 and f[0] in want:
                got[want[f[0]]] = float(f[1])
    except Exception:
        return None
    return None if None in got else tuple(got)


def coord_counts(coord):
    """(tasks launched, ACCEPT calls failed) from the coordinator's log."""
    launched = failed = 0
    for _, _, text in list(coord.lines):
        if "event=task_launch " in text:
            launched += 1
        elif "event=mesos_call_failed" in text and "call=ACCEPT" in text:
            failed += 1
    return launched, failed


def log(msg):
    sys.stderr.write("offer_cycle: %s\n" % msg)
    sys.stderr.flush()


def run_scale(n, a):
    res = {"agents": n}
    t_run = time.monotonic()
    env = qmtest.Env("bench-offer-cycle-%d" % n)
    try:
        run_dir = os.path.join(env.root, "run")
        os.makedirs(run_dir)
        t = time.monotonic()
        if a.master == "emulator":
            emu = clusterlib.Emulator(run_dir, [
                "--agents", str(n), "--resources", RESOURCES,
                "--heartbeat-interval", "15", "--allocation-interval", "60",
                "--update-retry", "120"], startup_timeout=600)
            agents = [(x["agent_id"], x["hostname"])
                      for x in emu.control("agents")["agents"]]
        else:
            emu = clusterlib.FastMaster(run_dir, n)
            agents = emu.agents()
        res["emulator_start_s"] = time.monotonic() - t
        agents_file = os.path.join(run_dir, "agents.txt")
        with open(agents_file, "w") as f:
            for aid, host in agents:
                f.write("%s %s\n" % (aid, host))
        log("%d agents: %s ready in %.1f s" % (n, a.master,
                                               res["emulator_start_s"]))
        jt = clusterlib.JournalTail(emu.journal_path, journal_keep)

        ri = a.revive_interval
        if ri == "auto":
            ri = "%ds" % max(3, n // 100)
        # no periodic reconciliation (its N updates would land in a cycle);
        # probers never go stale (fake probers send no heartbeats)
        # every agent is there before the coordinator: no discovery grace
        # (it would hold the first SUPPRESS, which ends the setup, 3 s)
        args = ["--revive-interval", ri, "--prober-stale", "0",
                "--discovery-grace", "0",
                "--reconcile-interval", "24h",
                "--heartbeat-misses", "100", "--log-level", "info"]
        if a.probers == "none":
            args += ["--prober-hostnames", "no-such-host.invalid"]
        if a.launch_slice is not None:
            args += ["--launch-slice", a.launch_slice]
        if a.store == "zk":
            # the state in a private ZooKeeper server (Debian's package, as
            # the tests start it): every save is a ZooKeeper save
            zk_dir = os.path.join(run_dir, "zk")
            os.makedirs(zk_dir)
            hostport = subprocess.run(
                [ZKSERVER, "start", zk_dir], check=True, text=True,
                stdout=subprocess.PIPE).stdout.strip().splitlines()[-1]
            res["zk_dir"] = zk_dir
            # a --zk coordinator derives prober credentials from a shared
            # secret file, not one generated in its state directory
            secret = os.path.join(zk_dir, "bus.secret")
            with open(secret, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
            os.chmod(secret, 0o600)
            res["secret_file"] = secret
            args += ["--zk", "zk://%s/quobyte-bench" % hostport,
                     "--secret-file", secret]
        t_start = time.time()
        coord = clusterlib.Coordinator(run_dir, emu.url, args)
        res["revive_interval"] = ri
        perf = start_perf(a, coord.pid, "setup-%d-agents" % n)
        res["stall_start"] = loop_stall_ms(coord)

        # --- setup: every prober task launched (and running, unless its
        # ACCEPT failed), the coordinator suppressed
        want = n if a.probers == "docker" else 0
        running = set()
        # an agent's prober tasks running at the same time: more than one
        # is a prober launched twice (a relaunch after one ended is not)
        live, doubled = {}, set()
        idx = 0
        deadline = time.monotonic() + a.setup_timeout
        last_report = time.monotonic()
        while True:
            jt.poll()
            for r in jt.records[idx:]:
                if r["kind"] != "UPDATE" or \
                        not r["task_id"].startswith("quobyte-prober."):
                    continue
                on = live.setdefault(r.get("agent_id"), set())
                if r["state"] == "TASK_RUNNING":
                    running.add(r["task_id"])
                    on.add(r["task_id"])
                    if len(on) > 1:
                        doubled.add(r.get("agent_id"))
                elif r["state"] in TERMINAL:
                    on.discard(r["task_id"])
            idx = len(jt.records)
            ctrl = [r for r in jt.records if r["kind"] in ("REVIVE",
                                                           "SUPPRESS")]
            offers = [r for r in jt.records if r["kind"] == "OFFERS"]
            launched, failed = coord_counts(coord)
            if launched >= want and len(running) + failed >= want and \
                    offers and ctrl and ctrl[-1]["kind"] == "SUPPRESS":
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    "setup: %d of %d probers running after %d s"
                    % (len(running), want, a.setup_timeout))
            if time.monotonic() - last_report > 30:
                log("  setup: %d/%d probers launched, %d running, %d "
                    "ACCEPTs failed" % (launched, want, len(running), failed))
                last_report = time.monotonic()
            time.sleep(0.2)
        res["accepts_failed"] = failed
        t_running = time.time()
        wait_idle(coord.pid)
        if perf:
            res["profile_setup"] = stop_perf(perf)
        res["setup_s"] = time.time() - t_start
        if want:
            res["launch_s"] = t_running - t_start
        res["offer_accept"] = offer_accept_ms(jt.records)
        res["stall_setup"] = loop_stall_ms(coord)
        res["prober_tasks"] = len(running)
        res["probers_doubled"] = sorted(doubled, key=str)
        res["mem_before"] = clusterlib.proc_mem_kb(coord.pid)
        res["heap_before"] = heap_in_use(coord)
        res["launch_slices"] = metric(coord, "quobyte_mesos_launch_slices_total")
        log("  setup done in %.1f s (%d prober tasks running, %d ACCEPTs "
            "failed, launches in %s slices)" % (
                res["setup_s"], len(running), failed,
                "%d" % res["launch_slices"]
                if res["launch_slices"] is not None else "?"))

        # --- fake probers: N snapshots x D devices
        secret = res.get("secret_file") or os.path.join(coord.state_dir,
                                                        "bus.secret")
        seed = str(os.getpid())
        fp_cmd = [qmtest.binary("fake_probers"), "--url", coord.bus_url,
                  "--secret-file", secret, "--agents", agents_file,
                  "--devices", str(a.devices), "--parallel", str(a.parallel),
                  "--session-seed", seed]
        plans0 = plan_counts(coord)
        perf = start_perf(a, coord.pid, "load-%d-agents" % n)
        cpu0 = clusterlib.proc_cpu_ns(coord.pid)
        lsampler = Sampler(coord.pid, interval=0.01)
        lsampler.start()
        fp = subprocess.run(fp_cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            timeout=a.setup_timeout)
        if fp.returncode != 0:
            raise AssertionError("fake_probers failed (%d): %s"
                                 % (fp.returncode, fp.stderr[-2000:]))
        snap = json.loads(fp.stdout.splitlines()[0])
        res["load"] = snap
        # the replans posted by the last snapshots end when the loop idles:
        # the last 10 ms sample in which the coordinator ran >= 1 ms
        wait_idle(coord.pid, quiet_s=1.0)
        lsampler.stop()
        busy = [b[0] for a_, b in zip(lsampler.samples, lsampler.samples[1:])
                if b[1] - a_[1] >= 1e6]
        t_done = busy[-1] if busy else snap["end_unix_ms"] / 1000.0
        res["load_settle_s"] = max(0.0, t_done - snap["end_unix_ms"] / 1000.0)
        res["load_cpu_ms"] = (clusterlib.proc_cpu_ns(coord.pid) - cpu0) / 1e6
        # the loop figures first: every /metrics scrape starts a new
        # "recent" window, so a scrape before it would leave only itself
        res["stall_load"] = loop_stall_ms(coord)
        plans1 = plan_counts(coord)
        if plans0 is not None and plans1 is not None:
            res["load_plans"] = int(plans1[0] - plans0[0])
            res["load_deferred"] = int(plans1[1] - plans0[1])
        res["mem_after"] = clusterlib.proc_mem_kb(coord.pid)
        if perf:
            res["profile_load"] = stop_perf(perf)
        res["heap_after"] = heap_in_use(coord)
        log("  %d snapshots x %d devices loaded in %.2f s (+%.1f s until "
            "idle)" % (snap["messages"], a.devices, snap["seconds"],
                       res["load_settle_s"]))

        # --- one heartbeat per agent: CPU per heartbeat message
        cpu0 = clusterlib.proc_cpu_ns(coord.pid)
        fp2 = subprocess.run(fp_cmd + ["--heartbeats-only",
                                       "--heartbeat-rounds", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=a.setup_timeout)
        wait_idle(coord.pid, quiet_s=0.5)
        if fp2.returncode == 0:
            h = json.loads(fp2.stdout.splitlines()[0])
            res["heartbeat_phase"] = h
            res["heartbeat_us"] = ((clusterlib.proc_cpu_ns(coord.pid) - cpu0)
                                   / 1e3 / h["messages"])
        else:
            log("  heartbeats failed: %s" % fp2.stderr[-500:])

        # the cJSON floor once before the cycles too (see below)
        floor_before = cjson_floor_us(n)

        # --- offer cycles
        jt.poll()
        mark = len(jt.records)
        loop_stall_ms(coord)    # the heartbeats' window ends here
        perf = start_perf(a, coord.pid, "cycles-%d-agents" % n)
        cyc_plans0 = plan_counts(coord)
        sampler = Sampler(coord.pid, interval=0.005)
        sampler.start()
        cycles = []
        deadline = time.monotonic() + a.setup_timeout
        while len(cycles) < a.cycles:
            if time.monotonic() > deadline:
                raise AssertionError("only %d offer cycles within %d s"
                                     % (len(cycles), a.setup_timeout))
            time.sleep(0.2)
            jt.poll()
            recs = jt.records[mark:]
            cycles = []
            revs = [i for i, r in enumerate(recs) if r["kind"] == "REVIVE"]
            for j, ri_ in enumerate(revs):
                c = cycle_at(recs, ri_)
                if c is None:
                    break
                nxt = recs[revs[j + 1]]["ts"] if j + 1 < len(revs) else None
                c["overlap"] = nxt is not None and nxt < c["t_end"]
                if time.time() < c["t_end"] + 0.3:
                    break   # let the sampler see the coordinator idle again
                if sampler.at(c["t_revive"]) is None:
                    continue  # began before the sampler's first sample
                cycles.append(c)
            overlapped = sum(1 for c in cycles if c["overlap"])
            cycles = [c for c in cycles if not c["overlap"]]
        if perf:
            res["profile"] = stop_perf(perf)
        sampler.stop()
        for c in cycles:
            s0 = sampler.at(c["t_revive"])
            s1 = sampler.at(c["t_end"] + 0.05, after=True)
            c["cpu_ms"] = (s1[1] - s0[1]) / 1e6
            c["loop_cpu_ms"] = (s1[2] - s0[2]) / 1e6
            c["wall_ms"] = (c["t_end"] - c["t_offers"]) * 1000
            c["master_delay_ms"] = (c["t_offers"] - c["t_revive"]) * 1000
        res["cycles"] = cycles
        res["cycles_overlapped"] = overlapped
        res["stall_cycles"] = loop_stall_ms(coord)  # first: see above
        cyc_plans1 = plan_counts(coord)
        if cyc_plans0 and cyc_plans1 and cyc_plans1[0] > cyc_plans0[0]:
            # every plan of the phase: the cycles' and the periodic ones
            res["cycle_plan_ms"] = (1000.0 * (cyc_plans1[2] - cyc_plans0[2])
                                    / (cyc_plans1[0] - cyc_plans0[0]))
        if cyc_plans1:
            res["planned_later"] = int(cyc_plans1[3])
        res["scrape"] = scrape_cost(coord)  # after plan_counts: see there
        res["mem_end"] = clusterlib.proc_mem_kb(coord.pid)
        res["mem_rest"] = rss_after_trim(coord)
        res["trims"] = trims(coord)
        res["heap_end"] = heap_in_use(coord)
        # the REST reads after the memory figures: a page of 1,000 nodes
        # holds its tree and text for a moment (VmHWM after them, below)
        loop_stall_ms(coord)  # starts the window state_cost reads
        res["state_page"] = state_cost(coord, STATUS_PAGE_QUERY)
        res["state_get"] = state_cost(coord)
        res["mem_state"] = clusterlib.proc_mem_kb(coord.pid)
        # the floors, measured in the same run, on the same machine; the
        # cJSON floor before and after the cycles, the lower counts
        fl = cjson_floor_us(n)
        fls = [x for x in (floor_before, fl) if x]
        if fls:
            res["cjson_floor_us"], res["cjson_floor_bytes"] = min(fls)
            res["cjson_floors"] = [x[0] for x in fls]
        res["fdatasync_ms"] = benchlib.fdatasync_floor_ms(coord.state_dir)
        jt.close()
        res["coordinator_exit"] = coord.stop(timeout=60)
        # a call the master refused (4xx: a malformed or invalid call; the
        # strict emulator says no wherever a Mesos release would)
        res["calls_rejected"] = [t for _, _, t in list(coord.lines)
                                 if "event=mesos_call_rejected" in t]
        res["emulator_exit"] = emu.stop(timeout=60)
    finally:
        if res.get("zk_dir"):
            subprocess.run([ZKSERVER, "stop", res.pop("zk_dir")],
                           stdout=subprocess.DEVNULL)
        env.close()
    res["run_s"] = time.monotonic() - t_run
    return res


def start_perf(a, pid, name):
    if not a.profile:
        return None
    path = os.path.join(a.profile_dir, "perf-%s.data" % name)
    cg = (["-F", "499", "--call-graph", "dwarf,16384"]
          if a.callgraph == "dwarf" else ["-F", "1999", "-g"])
    p = subprocess.Popen(["perf", "record", "-e", "cpu-clock"] + cg +
                         ["-p", str(pid), "-o", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.path = path
    time.sleep(0.5)     # perf attaches
    return p


def stop_perf(p):
    p.send_signal(2)
    p.wait(120)
    return perf_top(p.path)


def perf_top(path, limit=20):
    """Top symbols by self time (no children) from a perf.data file."""
    p = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--no-children",
         "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # "12.34%  dso  [.] symbol  -  -"
        pct, _, rest = line.partition(" ")
        dso, _, sym = rest.strip().partition(" ")
        sym = sym.strip()
        for tag in ("[.] ", "[k] "):
            if sym.startswith(tag):
                sym = sym[len(tag):]
        sym = sym.split("  ")[0].strip()
        if pct.endswith("%"):
            rows.append((pct, "%s (%s)" % (sym, dso)))
        if len(rows) >= limit:
            break
    # inclusive time (self + callees) of the coordinator's own functions:
    # meaningful with frame pointers (see README)
    inc = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--children",
         "--sort", "dso,symbol", "-g", "none", "--percent-limit", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    incl = []
    for line in inc.stdout.splitlines():
        f = line.split()
        # "children%  self%  dso  [.]  symbol ..."
        if len(f) >= 5 and f[0].endswith("%") and f[1].endswith("%") and \
                f[3] == "[.]" and not f[4].startswith("0x") and (
                    f[2].startswith("quobyte-coordinator") or
                    f[2].startswith("libcurl") or
                    f[2].startswith("libcjson")):
            incl.append((f[0], "%s (%s)" % (f[4], f[2])))
    return {"top": rows, "inclusive": incl[:25]}


def fmt_mem(m, heap=None):
    return "VmRSS %7.1f MiB  VmHWM %7.1f MiB  heap in use %s" % (
        m["VmRSS"] / 1024.0, m["VmHWM"] / 1024.0,
        "%7.1f MiB" % (heap / 1048576.0) if heap is not None else "-")


def print_figures(results, a):
    """The figures of issue 11's goal table, one column per agent count."""
    rs = [r for r in results if r.get("cycles")]
    if not rs:
        return
    p = benchlib.percentile

    def us_offer(r):
        cy = r["cycles"]
        cpu = sorted(c["cpu_ms"] for c in cy)
        k = sorted(c["offers"] for c in cy)
        return 1000.0 * p(cpu, 50) / max(1, p(k, 50))

    def pq(v, fmt="%.1f"):
        return (fmt + " / " + fmt) % (p(v, 50), p(v, 99)) if v else "-"

    def stall(r, key):
        st = r.get(key)
        return "%.1f" % st["recent_ms"] if st else "-"

    def state_rows(key, title):
        """state_cost's (ms, KiB, loop ms) of r[key] as two rows."""
        return [
            (title + ": ms / KiB",
             lambda r: "%.0f / %.0f" % r[key][:2] if r.get(key) else "-"),
            ("  the loop iteration that builds it (ms)",
             lambda r: "%.1f" % r[key][2]
             if r.get(key) and r[key][2] is not None else "-"),
        ]

    base = us_offer(rs[0])
    rows = [
        ("coordinator CPU per offer, all threads, p50 (us)",
         lambda r: "%.1f" % us_offer(r)),
        ("  of it a whole plan, mean while cycling (us per agent)",
         lambda r: "%.2f" % (1000.0 * r["cycle_plan_ms"] / r["agents"])
         if "cycle_plan_ms" in r else "-"),
        ("cJSON parse floor, best of before/after (us)",
         lambda r: "%.1f (%s)" % (r["cjson_floor_us"], "/".join(
             "%.1f" % x for x in r.get("cjson_floors", [])))
         if "cjson_floor_us" in r
         else "-"),
        ("  CPU per offer / floor (goal <= 2)",
         lambda r: "%.1fx" % (us_offer(r) / r["cjson_floor_us"])
         if "cjson_floor_us" in r else "-"),
        ("  CPU per offer growth vs %d agents" % rs[0]["agents"],
         lambda r: "%.2fx" % (us_offer(r) / base)),
        ("answer calls per cycle (DECLINE+ACCEPT), p50",
         lambda r: "%d" % p(sorted(c.get("calls", 0) for c in r["cycles"]),
                            50)),
        ("cycle wall, OFFERS -> last answer, p50 (ms)",
         lambda r: "%.1f" % p(sorted(c["wall_ms"] for c in r["cycles"]), 50)),
        ("OFFERS -> first ACCEPT p50 / p99 (ms)",
         lambda r: pq(r.get("offer_accept", {}).get("first"))),
        ("OFFERS -> every ACCEPT p50 / p99 (ms)",
         lambda r: pq(r.get("offer_accept", {}).get("all"))),
        ("fdatasync floor, 1 KiB append, p50 / p99 (ms)",
         lambda r: pq(r.get("fdatasync_ms"), "%.2f")),
        ("probers launched: start -> all running (s)",
         lambda r: "%.1f" % r["launch_s"] if "launch_s" in r else "-"),
        ("  ... and reporting (+ N snapshots loaded) (s)",
         lambda r: "%.1f" % (r["launch_s"] + r["load"]["seconds"])
         if "launch_s" in r and r.get("load") else "-"),
        ("longest loop iteration: launching (ms)",
         lambda r: stall(r, "stall_setup")),
        ("longest loop iteration: loading N x D devices (ms)",
         lambda r: stall(r, "stall_load")),
        ("longest loop iteration: offer cycles (ms)",
         lambda r: stall(r, "stall_cycles")),
        ("OFFERS events planned a loop turn after their booking",
         lambda r: "%d" % r["planned_later"] if "planned_later" in r else "-"),
        ("longest loop iteration saving the state, whole run (ms) / of N",
         lambda r: "%.1f / %d" % (r["stall_cycles"]["save_max_ms"],
                                  r["stall_cycles"]["saving"])
         if r.get("stall_cycles") else "-"),
        ("GET /metrics idle: ms / KiB / samples",
         lambda r: "%.0f / %.0f / %d" % r["scrape"][:3]),
        ("  the loop iteration that builds it (ms)",
         lambda r: "%.1f" % r["scrape"][3]),
        ("  loop stalls >= 50 ms, whole run",
         lambda r: "%d" % r["stall_cycles"]["stalls"]
         if r.get("stall_cycles") else "-"),
    ] + state_rows("state_page",
                   "GET /v1/state as the status page asks (100 nodes)") + \
        state_rows("state_get",
                   "GET /v1/state, its default page (1,000 nodes)") + [
        ("  VmHWM after these two GETs (MiB)",
         lambda r: "%.1f" % (r["mem_state"]["VmHWM"] / 1024.0)
         if r.get("mem_state") else "-"),
        ("RSS after N x D devices (MiB)",
         lambda r: "%.1f" % (r["mem_after"]["VmRSS"] / 1024.0)),
        ("RSS after the cycles / VmHWM (MiB)",
         lambda r: "%.1f / %.1f" % (r["mem_end"]["VmRSS"] / 1024.0,
                                    r["mem_end"]["VmHWM"] / 1024.0)),
        ("RSS at rest, after the coordinator's heap trim (MiB)",
         lambda r: "%.1f" % (r["mem_rest"]["VmRSS"] / 1024.0)
         if r.get("mem_rest") else "-"),
        ("  of it the parse arena, record and offers kept for the next event (MiB)",
         lambda r: "%.1f" % (r["mem_rest"].get("arena_kib", 0) / 1024.0)
         if r.get("mem_rest") else "-"),
        ("  heap trims (malloc_trim) / longest (ms)",
         lambda r: "%d / %d" % r["trims"] if r.get("trims") else "-"),
        ("this agent count's run, wall (s)",
         lambda r: "%.0f" % r["run_s"] if "run_s" in r else "-"),
    ]
    print()
    print("issue 11 figures (%d devices per agent; state in %s)" % (
        a.devices, "ZooKeeper (--store zk): every save is a ZooKeeper save"
        if a.store == "zk" else "the file store (--store zk for ZooKeeper "
        "saves)"))
    w = 52
    print("%-*s" % (w, "figure") + "".join("%16s" % ("%d agents" %
                                                    r["agents"]) for r in rs))
    for name, f in rows:
        cells = []
        for r in rs:
            try:
                cells.append(f(r))
            except Exception:
                cells.append("-")
        print("%-*s" % (w, name) + "".join("%16s" % c for c in cells))


def print_results(results, a):
    print("offer_cycle: coordinator CPU per OFFERS event and memory; master: "
          "%s; probers: %s; %d devices per agent (fake_probers)"
          % ("tests/bench/fastmaster.py" if a.master == "fast"
             else "tests/emulator", "Docker tasks (no processes), one per "
             "agent" if a.probers == "docker" else "none launched",
             a.devices))
    print(benchlib.build_info())
    print("%-8s %6s %7s %8s %8s %8s %8s %9s %9s %10s %9s" % (
        "agents", "cycles", "offers", "event", "cpu p50", "cpu mean",
        "cpu max", "loop p50", "us/offer", "wall p50", "master"))
    print("%-8s %6s %7s %8s %8s %8s %8s %9s %9s %10s %9s" % (
        "", "", "/event", "MiB", "(ms)", "(ms)", "(ms)", "(ms)", "", "(ms)",
        "delay ms"))
    for r in results:
        cy = r.get("cycles") or []
        if not cy:
            print("%-8d  (no cycle measured: %s)" % (r["agents"],
                                                      r.get("error", "?")))
            continue
        cpu = sorted(c["cpu_ms"] for c in cy)
        loop = sorted(c["loop_cpu_ms"] for c in cy)
        wall = sorted(c["wall_ms"] for c in cy)
        md = sorted(c["master_delay_ms"] for c in cy)
        k = sorted(c["offers"] for c in cy)
        p = benchlib.percentile
        mib = max(c.get("bytes") or 0 for c in cy) / 1048576.0
        print("%-8d %6d %7d %8.1f %8.1f %8.1f %8.1f %9.1f %9.1f %10.1f "
              "%9.1f" % (
            r["agents"], len(cy), p(k, 50), mib, p(cpu, 50),
            sum(cpu) / len(cpu), cpu[-1], p(loop, 50),
            1000.0 * p(cpu, 50) / max(1, p(k, 50)), p(wall, 50), p(md, 50)))
    print()
    print("%-8s %11s %9s %9s %9s %10s %12s %7s %9s %11s" % (
        "agents", "devices", "load (s)", "snap/s", "rtt p99", "settle (s)",
        "load cpu(ms)", "plans", "deferred", "hb cpu(us)"))
    for r in results:
        ld = r.get("load")
        if not ld:
            continue
        print("%-8d %11d %9.2f %9.0f %9.2f %10.2f %12.0f %7s %9s %11s" % (
            r["agents"], r["agents"] * a.devices, ld["seconds"],
            ld["rate_per_s"], ld["rtt_ms"]["p99"], r["load_settle_s"],
            r["load_cpu_ms"], r.get("load_plans", "-"),
            r.get("load_deferred", "-"),
            "%.1f" % r["heartbeat_us"] if "heartbeat_us" in r else "-"))
    print()
    for r in results:
        if "mem_after" not in r:
            continue
        print("%-6d agents: before devices %s" % (
            r["agents"], fmt_mem(r["mem_before"], r.get("heap_before"))))
        print("%-6s         after %5d x %-3d %s" % (
            "", r["agents"], a.devices,
            fmt_mem(r["mem_after"], r.get("heap_after"))))
        print("%-6s         after cycles    %s" % (
            "", fmt_mem(r["mem_end"], r.get("heap_end"))))
        if r.get("heap_before") is not None and \
                r.get("heap_after") is not None:
            print("%-6s         heap per device: %.0f bytes" % (
                "", (r["heap_after"] - r["heap_before"]) /
                float(r["agents"] * a.devices)))
        print("%-6s         setup (subscribe -> %d probers running, idle): "
              "%.1f s; %d ACCEPTs failed; revive interval %s; %d cycles "
              "overlapped the next REVIVE (not counted)" % (
                  "", r["prober_tasks"], r["setup_s"], r["accepts_failed"],
                  r["revive_interval"], r.get("cycles_overlapped", 0)))
    for r in results:
        for key, what in (("profile_setup", "subscribing and launching "
                           "the probers"),
                          ("profile_load", "loading the snapshots"),
                          ("profile", "the measured cycles")):
            if key in r:
                print()
                print("perf, %d agents, self time while %s:"
                      % (r["agents"], what))
                for pct, sym in r[key]["top"]:
                    print("  %7s  %s" % (pct, sym))
                if r[key].get("inclusive"):
                    print("  inclusive (self + callees), coordinator, "
                          "libcurl and cJSON functions:")
                    for pct, sym in r[key]["inclusive"]:
                        print("  %7s  %s" % (pct, sym))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default="1000,10000",
                    help="comma-separated agent counts")
    ap.add_argument("--devices", type=int, default=24)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--revive-interval", default="auto",
                    help="coordinator --revive-interval (the cycle period); "
                    "auto: max(3 s, agents/250 s)")
    ap.add_argument("--master", choices=("fast", "emulator"), default="fast",
                    help="fast: tests/bench/fastmaster.py (default: it "
                    "answers at once, so the figures are the coordinator's); "
                    "emulator: tests/emulator, the strict master (10,000 "
                    "agents: minutes, its answers take seconds)")
    ap.add_argument("--store", choices=("file", "zk"), default="file",
                    help="where the coordinator keeps its state: file "
                    "(--state-dir, default) or zk (a private ZooKeeper "
                    "server, tests/zk/zkserver.sh; the longest loop "
                    "iterations then include ZooKeeper saves)")
    ap.add_argument("--probers", choices=("docker", "none"),
                    default="docker")
    ap.add_argument("--launch-slice", default=None, metavar="DURATION",
                    help="coordinator --launch-slice (default: its own, "
                    "20ms); 0 makes every prober's launch a slice of its "
                    "own (the suite's smoke run does)")
    ap.add_argument("--parallel", type=int, default=8,
                    help="fake_probers --parallel")
    ap.add_argument("--setup-timeout", type=int, default=3600)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--callgraph", choices=("fp", "dwarf"), default="fp",
                    help="perf call chains: frame pointers (build with "
                    "-fno-omit-frame-pointer) or DWARF (any build, bigger "
                    "data, 499 Hz)")
    ap.add_argument("--profile-dir", default=None,
                    help="where perf data is kept (default: a new "
                    "directory under /tmp)")
    ap.add_argument("--no-heap", action="store_true",
                    help="skip the heap-in-use figures (gdb + malloc_stats)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--cjson-floor", type=int, default=None,
                    help=argparse.SUPPRESS)  # cjson_floor_us's own process
    ap.add_argument("--cjson-floor-reps", type=int, default=None,
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cjson_floor is not None:
        print(json.dumps(cjson_floor_here(a.cjson_floor, a.cjson_floor_reps)))
        return 0

    HEAP["enabled"] = not a.no_heap
    if a.profile and not a.profile_dir:
        import tempfile
        a.profile_dir = tempfile.mkdtemp(prefix="qm-offer-cycle-perf-")
    if a.profile:
        os.makedirs(a.profile_dir, exist_ok=True)   # perf record needs it
    results = []
    failed = False
    for n in [int(x) for x in a.agents.split(",") if x.strip()]:
        try:
            results.append(run_scale(n, a))
        except Exception as e:  # report what worked, then fail
            log("%d agents: %s" % (n, e))
            results.append({"agents": n, "error": str(e)})
            failed = True
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    print_results(results, a)
    print_figures(results, a)
    for r in results:
        # every OFFERS event of >= 1,000 offers is planned in a loop turn
        # of its own (events.c PLAN_LATER_OFFERS_MIN): a functional check
        if (r.get("agents", 0) >= 1000 and r.get("cycles")
                and r.get("planned_later") == 0):
            log("%d agents: no OFFERS event was planned a turn after its "
                "booking" % r["agents"])
            failed = True
        if r.get("calls_rejected"):
            log("%d agents: the master rejected %d calls (first: %s)"
                % (r["agents"], len(r["calls_rejected"]),
                   r["calls_rejected"][0].strip()))
            failed = True
        if r.get("probers_doubled"):
            log("%d agents: %d agents ran two probers at once (first: %s)"
                % (r["agents"], len(r["probers_doubled"]),
                   r["probers_doubled"][0]))
            failed = True
        for what in ("coordinator_exit", "emulator_exit"):
            if r.get(what) not in (None, 0):
                log("%d agents: %s status %s" % (r["agents"], what, r[what]))
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
