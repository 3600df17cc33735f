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
  releases_permitted  no UNRESERVE or DESTROY operation in an ACCEPT unless
                      an earlier journal note "operator_release" (control
                      "note", written by a test when it makes the operator's
                      REST call) names the offer's agent (id or hostname);
                      one note permits one such ACCEPT.
  offers_answered     (not in the default set) no offer is held: each one
                      is answered (ACCEPT or DECLINE naming it) within
                      hold_seconds (default 5) of its OFFERS event, or
                      voided sooner (its stream ended, a new subscription,
                      a leader change, the framework removed); one
                      rescinded (also by --offer-timeout) or still
                      unanswered at the end of the journal after longer
                      than that was held.

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
    for record in records:
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
        if acks.get(key, 0) == 0:
            _violation(out, "ack_once", record, key[0],
                       "update %s (%s, task %s) was never acknowledged" % (
                           key[1], status["state"],
                           status["task_id"]["value"]))


def _check_offers(records, out):
    offered = {}      # offer id -> (fid, stream id)
    used = {}         # offer id -> line
    rescinded = set()
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
                rescinded.add(event["rescind"]["offer_id"]["value"])
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
                    elif oid in rescinded:
                        problem = "was rescinded"
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


RELEASE_OPERATIONS = ("UNRESERVE", "DESTROY")


def releases(records):
    """[(record, agent_id, hostname, operation)] of every UNRESERVE or
    DESTROY operation in an ACCEPT (the agent from the OFFERS event that
    carried the first accepted offer)."""
    agent_of = {}     # offer id -> (agent id, hostname)
    out = []
    for record in records:
        if record.get("direction") == "event":
            event = record.get("event") or {}
            if event.get("type") == "OFFERS":
                for offer in event["offers"]["offers"]:
                    agent_of[offer["id"]["value"]] = (
                        offer["agent_id"]["value"], offer.get("hostname"))
            continue
        if record.get("direction") != "call" or \
                record.get("call_type") != "ACCEPT":
            continue
        accept = (record.get("body") or {}).get("accept") or {}
        ids = [o.get("value") for o in accept.get("offer_ids") or []]
        agent = agent_of.get(ids[0]) if ids else None
        for op in accept.get("operations") or []:
            if op.get("type") in RELEASE_OPERATIONS:
                out.append((record, agent[0] if agent else None,
                            agent[1] if agent else None, op))
    return out


def _check_releases(records, out):
    by_line = {}      # ACCEPT journal line -> its first release operation
    for rec, agent_id, hostname, op in releases(records):
        by_line.setdefault(rec["_line"], (agent_id, hostname, op))
    permits = []      # agents named by operator_release notes, not yet used
    for record in records:
        if record.get("direction") == "note" and \
                record.get("what") == "operator_release":
            permits.append(record.get("agent"))
            continue
        if record.get("direction") != "call" or \
                record.get("_line") not in by_line:
            continue
        agent_id, hostname, op = by_line[record["_line"]]
        match = [p for p in permits if p is not None and
                 p in (agent_id, hostname)]
        if match:
            permits.remove(match[0])
            continue
        _violation(out, "releases_permitted", record,
                   record.get("framework_id"),
                   "%s on agent %s (%s) without the operator's release (no "
                   "operator_release note names it)"
                   % (op.get("type"), agent_id, hostname))


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


def audit(journal, checks=DEFAULT_CHECKS, allow_unacked=False,
          hold_seconds=DEFAULT_HOLD_SECONDS):
    """Return the list of violations found in `journal` (a path or a list
    of already parsed records)."""
    if isinstance(journal, str):
        records = load(journal)
    else:
        records = [dict(r, _line=r.get("_line", i + 1))
                   for i, r in enumerate(journal)]
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
    if "releases_permitted" in checks:
        _check_releases(records, out)
    if "offers_answered" in checks:
        _check_offers_answered(records, out, hold_seconds)
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
