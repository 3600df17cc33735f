#!/usr/bin/env python3
"""Audit a Mesos emulator journal for scheduler protocol mistakes.

    from audit import audit
    violations = audit("/path/journal.jsonl")        # [] when clean

or `python3 tests/emulator/audit.py JOURNAL [--check NAME ...]
[--allow-unacked]` (exit status 1 when violations are found).

Checks (names usable in `checks=`):
  ack_once            every UPDATE carrying a uuid is acknowledged, never
                      more often than it was delivered (a resend may be
                      acknowledged again), never with an unknown uuid, and
                      with the agent and task IDs of the update.
  offer_use           no ACCEPT names an offer that was never offered to
                      that framework, already accepted or declined,
                      rescinded, or offered on an older subscription.
  unique_task_ids     no task ID is launched twice by one framework.
  suppress_when_idle  at the end of the journal every role of every
                      subscribed framework is suppressed again after its
                      last REVIVE or unsuppressed SUBSCRIBE (or
                      UPDATE_FRAMEWORK). An ACCEPT does not change the
                      master's suppression, and offers already on their way
                      when a SUPPRESS arrives may still be accepted, so a
                      launch after the SUPPRESS is no violation.
  rejected_calls      (not in the default set) no call was answered with a
                      4xx/5xx status other than 307 and 503 (and those
                      the test injected with control calls/refuse).
  offers_answered     (not in the default set) no offer is held: each one
                      is answered (ACCEPT or DECLINE naming it) within
                      hold_seconds (default 5) of its OFFERS event, or
                      voided sooner (its stream ended, a new subscription,
                      a leader change, the framework removed); one
                      rescinded (also by --offer-timeout) or still
                      unanswered at the end of the journal after longer
                      than that was held.

  releases_permitted  every ACCEPT (answered 2xx) holding UNRESERVE or
                      DESTROY operations needs an earlier journal note
                      `operator_release` (written by POST /control/note
                      {"kind":"operator_release","agent":...,"service":...})
                      for an agent the ACCEPT's offers are on (matched by
                      agent ID or hostname). One note permits one such
                      ACCEPT, however many release operations it holds.

`releases(journal)` lists the UNRESERVE/DESTROY operations of accepted
ACCEPTs: [{"line", "framework_id", "type", "agent_id", "hostname",
"resources"}].

Each violation is a dict: {"check", "line" (1-based journal line),
"framework_id", "message"}.
"""

import argparse
import json
import sys

DEFAULT_CHECKS = ("ack_once", "offer_use", "unique_task_ids",
                  "suppress_when_idle", "releases_permitted")
ALL_CHECKS = DEFAULT_CHECKS + ("rejected_calls", "offers_answered")
DEFAULT_HOLD_SECONDS = 5.0


def load(path):
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = {"direction": "corrupt", "text": line[:200]}
            record["_line"] = number
            records.append(record)
    return records


def _ok(record):
    return 200 <= int(record.get("status") or 0) < 300


def _roles(info):
    caps = {c.get("type") for c in info.get("capabilities") or []}
    if "MULTI_ROLE" in caps:
        return list(info.get("roles") or [])
    return [info.get("role") or "*"]


def _launched(call):
    out = []
    for op in (call.get("accept") or {}).get("operations") or []:
        if op.get("type") == "LAUNCH":
            out.extend((op.get("launch") or {}).get("task_infos") or [])
        elif op.get("type") == "LAUNCH_GROUP":
            group = (op.get("launch_group") or {}).get("task_group") or {}
            out.extend(group.get("tasks") or [])
    return out


def _violation(out, check, record, fid, message):
    out.append({"check": check, "line": record.get("_line"),
                "framework_id": fid, "message": message})


def _check_acks(records, out, allow_unacked):
    deliveries = {}   # (fid, uuid) -> [count, first record, status]
    acks = {}         # (fid, uuid) -> count
    removed = set()   # agents removed (the emulator's agent_removed note):
    # an update of theirs the framework could not acknowledge in time is
    # gone with the agent's status update manager, not lost by the framework
    for record in records:
        if record.get("direction") == "note" and \
                record.get("what") == "agent_removed":
            removed.add(record.get("agent_id"))
        if record.get("direction") == "event":
            event = record.get("event") or {}
            if event.get("type") != "UPDATE":
                continue
            status = event["update"]["status"]
            if not status.get("uuid"):
                continue
            key = (record.get("framework_id"), status["uuid"])
            entry = deliveries.setdefault(key, [0, record, status])
            entry[0] += 1
        elif record.get("direction") == "call" and \
                record.get("call_type") == "ACKNOWLEDGE" and _ok(record):
            body = (record.get("body") or {}).get("acknowledge") or {}
            fid = record.get("framework_id")
            key = (fid, body.get("uuid"))
            entry = deliveries.get(key)
            if entry is None:
                _violation(out, "ack_once", record, fid,
                           "ACKNOWLEDGE of uuid %s that was never delivered "
                           "(master-made updates carry no uuid)"
                           % body.get("uuid"))
                continue
            acks[key] = acks.get(key, 0) + 1
            status = entry[2]
            if (body.get("task_id") or {}).get("value") != \
                    status["task_id"]["value"] or \
                    (body.get("agent_id") or {}).get("value") != \
                    (status.get("agent_id") or {}).get("value"):
                _violation(out, "ack_once", record, fid,
                           "ACKNOWLEDGE of uuid %s does not echo the update's"
                           " task_id/agent_id" % body.get("uuid"))
            if acks[key] > entry[0]:
                _violation(out, "ack_once", record, fid,
                           "update %s (%s, task %s) acknowledged %d times but "
                           "delivered %d times" % (
                               body.get("uuid"), status["state"],
                               status["task_id"]["value"], acks[key],
                               entry[0]))
    if allow_unacked:
        return
    for key, (count, record, status) in deliveries.items():
        if (status.get("agent_id") or {}).get("value") in removed:
            continue
        if acks.get(key, 0) == 0:
            _violation(out, "ack_once", record, key[0],
                       "update %s (%s, task %s) was never acknowledged" % (
                           key[1], status["state"],
                           status["task_id"]["value"]))


# An ACCEPT that reaches the master this soon after the RESCIND of one of
# its offers was on its way before the framework could have read the
# RESCIND: the race every framework has, which the master answers (the
# launches come back TASK_DROPPED/TASK_LOST, "Offer ... is no longer valid",
# src/master/master.cpp Master::accept). Later than that, the framework
# used an offer it had been told was gone.
RESCIND_RACE_S = 1.0


def _check_offers(records, out):
    offered = {}      # offer id -> (fid, stream id)
    used = {}         # offer id -> line
    rescinded = {}    # offer id -> time of the RESCIND
    current = {}      # fid -> stream id of the latest SUBSCRIBED
    for record in records:
        direction = record.get("direction")
        if direction == "event":
            event = record.get("event") or {}
            etype = event.get("type")
            fid = record.get("framework_id")
            if etype == "SUBSCRIBED":
                current[fid] = record.get("stream_id")
            elif etype == "OFFERS":
                for offer in event["offers"]["offers"]:
                    offered[offer["id"]["value"]] = (fid,
                                                     record.get("stream_id"))
            elif etype == "RESCIND":
                rescinded[event["rescind"]["offer_id"]["value"]] = \
                    float(record.get("ts") or 0)
        elif direction == "call" and _ok(record) and \
                record.get("call_type") in ("ACCEPT", "DECLINE"):
            fid = record.get("framework_id")
            key = "accept" if record["call_type"] == "ACCEPT" else "decline"
            ids = [o.get("value") for o in
                   ((record.get("body") or {}).get(key) or {})
                   .get("offer_ids") or []]
            for oid in ids:
                if key == "accept":
                    if oid not in offered or offered[oid][0] != fid:
                        problem = "was never offered to this framework"
                    elif oid in used:
                        problem = ("was already used on journal line %d"
                                   % used[oid])
                    elif oid in rescinded and \
                            float(record.get("ts") or 0) - rescinded[oid] \
                            > RESCIND_RACE_S:
                        problem = "was rescinded %.2fs before" % (
                            float(record.get("ts") or 0) - rescinded[oid])
                    elif offered[oid][1] != current.get(fid):
                        problem = "belongs to an earlier subscription"
                    else:
                        problem = None
                    if problem:
                        _violation(out, "offer_use", record, fid,
                                   "ACCEPT of offer %s which %s"
                                   % (oid, problem))
                used.setdefault(oid, record["_line"])


def _check_task_ids(records, out):
    seen = {}
    for record in records:
        if record.get("direction") != "call" or not _ok(record) or \
                record.get("call_type") != "ACCEPT":
            continue
        fid = record.get("framework_id")
        for info in _launched(record.get("body") or {}):
            tid = (info.get("task_id") or {}).get("value")
            key = (fid, tid)
            if key in seen:
                _violation(out, "unique_task_ids", record, fid,
                           "task ID '%s' launched again (first on journal "
                           "line %d)" % (tid, seen[key]))
            else:
                seen[key] = record["_line"]


def _check_suppress(records, out):
    state = {}        # fid -> {role: [last_unsuppress, last_suppress, rec]}
    removed = set()
    for record in records:
        direction = record.get("direction")
        if direction == "note" and record.get("what") == "framework_removed":
            removed.add(record.get("framework_id"))
            continue
        if direction != "call" or not _ok(record):
            continue
        ctype = record.get("call_type")
        body = record.get("body") or {}
        fid = record.get("framework_id")
        line = record["_line"]
        if ctype == "SUBSCRIBE" and \
                str(record.get("reason") or "").startswith("refused"):
            continue
        if ctype in ("SUBSCRIBE", "UPDATE_FRAMEWORK"):
            key = "subscribe" if ctype == "SUBSCRIBE" else "update_framework"
            info = (body.get(key) or {}).get("framework_info") or {}
            suppressed = set((body.get(key) or {})
                             .get("suppressed_roles") or [])
            roles = state.setdefault(fid, {})
            for role in list(roles):
                if role not in _roles(info):
                    del roles[role]
            for role in _roles(info):
                entry = roles.setdefault(role, [0, 0, record])
                if role in suppressed:
                    entry[1] = line
                else:
                    entry[0] = line
                    entry[2] = record
        elif ctype in ("SUPPRESS", "REVIVE"):
            roles = state.setdefault(fid, {})
            named = (body.get(ctype.lower()) or {}).get("roles") or \
                list(roles)
            for role in named:
                entry = roles.setdefault(role, [0, 0, record])
                if ctype == "SUPPRESS":
                    entry[1] = line
                else:
                    entry[0] = line
                    entry[2] = record
        elif ctype == "TEARDOWN":
            removed.add(fid)
    for fid, roles in state.items():
        if fid in removed:
            continue
        for role, (unsuppressed, suppressed, record) in roles.items():
            if unsuppressed > suppressed:
                _violation(out, "suppress_when_idle", record, fid,
                           "role '%s' is left unsuppressed: no SUPPRESS after "
                           "journal line %d" % (role, unsuppressed))


def _check_rejected(records, out):
    for record in records:
        if record.get("direction") != "call":
            continue
        status = int(record.get("status") or 0)
        if str(record.get("reason") or "").startswith("injected: "):
            continue  # a refusal the test asked for (control calls/refuse)
        if status >= 400 and status != 503:
            _violation(out, "rejected_calls", record,
                       record.get("framework_id"),
                       "%s call answered %d: %s" % (
                           record.get("call_type"), status,
                           record.get("reason")))


def _check_offers_answered(records, out, hold_seconds):
    outstanding = {}  # offer id -> (record, framework id, stream id, ts)
    last_ts = None

    def settle(oid, record, how, violation_if_late=True):
        first, fid, _, since = outstanding.pop(oid)
        when = record.get("ts")
        if since is None or when is None:
            return
        held = float(when) - float(since)
        if held > hold_seconds and violation_if_late:
            _violation(out, "offers_answered", first, fid,
                       "offer %s held %.1fs (limit %.1fs) before it was %s "
                       "on journal line %s" % (oid, held, hold_seconds, how,
                                               record.get("_line")))

    for record in records:
        if record.get("ts") is not None:
            last_ts = record["ts"]
        direction = record.get("direction")
        fid = record.get("framework_id")
        if direction == "event":
            event = record.get("event") or {}
            etype = event.get("type")
            if etype == "OFFERS":
                for offer in (event.get("offers") or {}).get("offers") or []:
                    oid = (offer.get("id") or {}).get("value")
                    outstanding[oid] = (record, fid, record.get("stream_id"),
                                        record.get("ts"))
            elif etype == "RESCIND":
                oid = ((event.get("rescind") or {}).get("offer_id") or {}) \
                    .get("value")
                if oid in outstanding:
                    settle(oid, record, "rescinded")
            elif etype == "SUBSCRIBED":
                for oid, entry in list(outstanding.items()):
                    if entry[1] == fid and \
                            entry[2] != record.get("stream_id"):
                        settle(oid, record, "voided by a new subscription")
        elif direction == "note":
            what = record.get("what")
            if what == "framework_disconnected":
                for oid, entry in list(outstanding.items()):
                    if entry[2] == record.get("stream_id"):
                        settle(oid, record, "voided by the end of its stream")
            elif what == "framework_removed":
                for oid, entry in list(outstanding.items()):
                    if entry[1] == fid:
                        settle(oid, record, "voided by the framework's removal")
            elif what in ("leader_changed", "stopped"):
                for oid in list(outstanding):
                    settle(oid, record, "voided by '%s'" % what)
            elif what == "offer_timeout":
                oid = record.get("offer_id")
                if oid in outstanding:
                    settle(oid, record, "rescinded by the master's offer "
                           "timeout")
        elif direction == "call" and \
                record.get("call_type") in ("ACCEPT", "DECLINE"):
            key = "accept" if record["call_type"] == "ACCEPT" else "decline"
            for o in ((record.get("body") or {}).get(key) or {}) \
                    .get("offer_ids") or []:
                oid = o.get("value")
                if oid in outstanding:
                    settle(oid, record, "answered (%s)" % record["call_type"])
    for oid, (first, fid, _, since) in outstanding.items():
        if since is None or last_ts is None:
            _violation(out, "offers_answered", first, fid,
                       "offer %s was never answered" % oid)
        elif float(last_ts) - float(since) > hold_seconds:
            _violation(out, "offers_answered", first, fid,
                       "offer %s never answered: held %.1fs by the end of "
                       "the journal (limit %.1fs)"
                       % (oid, float(last_ts) - float(since), hold_seconds))


RELEASE_TYPES = ("UNRESERVE", "DESTROY")


def _records(journal):
    if isinstance(journal, str):
        return load(journal)
    return [dict(r, _line=r.get("_line", i + 1))
            for i, r in enumerate(journal)]


def _release_accepts(records):
    """Yield (record, fid, agents {(agent_id, hostname)}, [operations]) for
    each accepted ACCEPT holding UNRESERVE/DESTROY operations; a release
    note (what == operator_release) is yielded as (record, None, None,
    None)."""
    offer_agent = {}      # offer id -> (agent id, hostname)
    for record in records:
        direction = record.get("direction")
        if direction == "event":
            event = record.get("event") or {}
            if event.get("type") == "OFFERS":
                for offer in event["offers"]["offers"]:
                    offer_agent[offer["id"]["value"]] = (
                        offer["agent_id"]["value"], offer.get("hostname"))
        elif direction == "note" and record.get("what") == "operator_release":
            yield record, None, None, None
        elif direction == "call" and _ok(record) and \
                record.get("call_type") == "ACCEPT":
            accept = (record.get("body") or {}).get("accept") or {}
            ops = [op for op in accept.get("operations") or []
                   if op.get("type") in RELEASE_TYPES]
            if not ops:
                continue
            agents = {offer_agent.get(o.get("value"), (None, None))
                      for o in accept.get("offer_ids") or []}
            yield record, record.get("framework_id"), agents, ops


def releases(journal):
    """The UNRESERVE/DESTROY operations of accepted ACCEPT calls."""
    out = []
    for record, fid, agents, ops in _release_accepts(_records(journal)):
        if ops is None:
            continue
        agent_id, hostname = sorted(agents, key=str)[0] if agents \
            else (None, None)
        for op in ops:
            key = op["type"].lower()
            body = op.get(key) or {}
            out.append({"line": record["_line"], "framework_id": fid,
                        "type": op["type"], "agent_id": agent_id,
                        "hostname": hostname,
                        "resources": body.get("resources") or
                        body.get("volumes") or []})
    return out


def _check_releases(records, out):
    permits = []          # agent names of unused operator_release notes
    for record, fid, agents, ops in _release_accepts(records):
        if ops is None:
            permits.append({record.get("agent"), record.get("agent_id"),
                            record.get("hostname")} - {None})
            continue
        names = {n for pair in agents for n in pair if n}
        for index, permit in enumerate(permits):
            if permit & names:
                del permits[index]
                break
        else:
            _violation(out, "releases_permitted", record, fid,
                       "ACCEPT with %s on agent %s without an earlier "
                       "operator_release note for it" % (
                           "+".join(op["type"] for op in ops),
                           ",".join(sorted(names)) or "?"))


def audit(journal, checks=DEFAULT_CHECKS, allow_unacked=False,
          hold_seconds=DEFAULT_HOLD_SECONDS):
    """Return the list of violations found in `journal` (a path or a list
    of already parsed records)."""
    records = _records(journal)
    out = []
    if "ack_once" in checks:
        _check_acks(records, out, allow_unacked)
    if "offer_use" in checks:
        _check_offers(records, out)
    if "unique_task_ids" in checks:
        _check_task_ids(records, out)
    if "suppress_when_idle" in checks:
        _check_suppress(records, out)
    if "rejected_calls" in checks:
        _check_rejected(records, out)
    if "offers_answered" in checks:
        _check_offers_answered(records, out, hold_seconds)
    if "releases_permitted" in checks:
        _check_releases(records, out)
    out.sort(key=lambda v: (v["line"] or 0, v["check"]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal")
    parser.add_argument("--check", action="append", choices=ALL_CHECKS,
                        help="run only these checks (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help="also run the non-default checks")
    parser.add_argument("--allow-unacked", action="store_true",
                        help="do not report updates never acknowledged")
    parser.add_argument("--hold-seconds", type=float,
                        default=DEFAULT_HOLD_SECONDS,
                        help="offers_answered: longest an offer may be held")
    args = parser.parse_args(argv)
    checks = args.check or (ALL_CHECKS if args.all else DEFAULT_CHECKS)
    violations = audit(args.journal, checks, args.allow_unacked,
                       args.hold_seconds)
    for v in violations:
        print("%s:%s: %s: %s" % (args.journal, v["line"], v["check"],
                                 v["message"]))
    print("audit: %d violation(s)" % len(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
