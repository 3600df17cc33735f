"""Mesos resource arithmetic for the emulator (docs §5).

Resources are kept internally in one canonical form: the
post-refinement reservation stack (`reservations`, possibly empty), scalars
in integer milli-units, ranges coalesced. Two resources are the "same kind"
when everything except the value is equal (name, type, reservations with
principal and labels, allocation_info, disk, revocable, shared, provider).
MOUNT/BLOCK/RAW disks and persistent volumes are indivisible: they match only
an identical resource.
"""

import copy
import json
import math
import re


class ResourceError(Exception):
    """A resource description is invalid."""


def _labels_key(labels):
    # Labels compare as multisets, but present-and-empty differs from absent
    # (src/common/resources.cpp operator==(ReservationInfo) compares
    # has_labels(); src/common/type_utils.cpp operator==(Labels) ignores
    # order; 1.4.0..1.11.0).
    if labels is None:
        return None
    items = labels.get("labels") or []
    return sorted((item.get("key"), item.get("value")) for item in items)


def _reservation_canonical(reservation):
    out = {}
    for field in ("type", "role", "principal"):
        if reservation.get(field) is not None:
            out[field] = reservation[field]
    if reservation.get("labels") is not None:
        out["labels"] = reservation["labels"]
    return out


def validate_role(role):
    """Return an error string for an invalid role name, else None."""
    if not isinstance(role, str) or role == "":
        return "Role name must not be empty"
    if role == "*":
        return None
    for part in role.split("/"):
        if part in ("", ".", ".."):
            return ("Role '%s' has an empty, '.' or '..' path component"
                    % role)
        if part.startswith("-"):
            return "Role '%s' has a component starting with '-'" % role
    if re.search(r"[\s\\]", role) or any(ord(c) < 32 for c in role):
        return ("Role '%s' must not contain whitespace, backslash or control "
                "characters" % role)
    if "*" in role:
        return "Role '%s' must not contain '*'" % role
    return None


def is_strict_subrole(child, parent):
    return child.startswith(parent + "/")


def milli(value):
    return int(round(float(value) * 1000))


def normalize(resource, allocation_role=None):
    """Validate a Mesos Resource (JSON, pre- or post-refinement format) and
    return the canonical dict. If `allocation_role` is given and the resource
    has no allocation_info, it is filled in (as the master does for offer
    operations); if it is set and differs, that is an error.
    """
    if not isinstance(resource, dict):
        raise ResourceError("Resource must be an object")
    name = resource.get("name")
    rtype = resource.get("type")
    if not name:
        raise ResourceError("Resource name must not be empty")
    out = {"name": name, "type": rtype}

    present = [k for k in ("scalar", "ranges", "set") if
               resource.get(k) is not None]
    if rtype == "SCALAR":
        if present != ["scalar"]:
            raise ResourceError("Resource '%s' of type SCALAR must have only "
                                "'scalar' set" % name)
        value = float(resource["scalar"]["value"])
        if not math.isfinite(value) or value < 0:
            raise ResourceError("Resource '%s' has an invalid scalar value %r"
                                % (name, value))
        out["scalar"] = milli(value)
    elif rtype == "RANGES":
        if present != ["ranges"]:
            raise ResourceError("Resource '%s' of type RANGES must have only "
                                "'ranges' set" % name)
        ranges = []
        for item in resource["ranges"].get("range") or []:
            begin, end = int(item["begin"]), int(item["end"])
            if begin > end:
                raise ResourceError("Resource '%s' has an invalid range "
                                    "[%d-%d]" % (name, begin, end))
            ranges.append((begin, end))
        out["ranges"] = coalesce(ranges)
    elif rtype == "SET":
        if present != ["set"]:
            raise ResourceError("Resource '%s' of type SET must have only "
                                "'set' set" % name)
        items = list(resource["set"].get("item") or [])
        if len(set(items)) != len(items):
            raise ResourceError("Resource '%s' has duplicate set items" % name)
        out["set"] = sorted(items)
    else:
        raise ResourceError("Resource '%s' has unsupported type %s"
                            % (name, rtype))

    reservations = resource.get("reservations") or []
    if reservations:
        if resource.get("role") is not None or \
                resource.get("reservation") is not None:
            raise ResourceError(
                "Resource '%s' must not set 'role' or 'reservation' together "
                "with 'reservations' (do not mix the formats)" % name)
        stack = []
        parent = None
        for index, reservation in enumerate(reservations):
            rtype_ = reservation.get("type")
            role = reservation.get("role")
            if rtype_ not in ("STATIC", "DYNAMIC"):
                raise ResourceError("Resource '%s': reservations[%d].type must "
                                    "be STATIC or DYNAMIC" % (name, index))
            if index > 0 and rtype_ != "DYNAMIC":
                raise ResourceError("Resource '%s': only the first "
                                    "reservation may be STATIC" % name)
            if role is None or role == "*":
                raise ResourceError("Resource '%s': reservations[%d].role "
                                    "must be set and not '*'" % (name, index))
            error = validate_role(role)
            if error:
                raise ResourceError(error)
            if parent is not None and not is_strict_subrole(role, parent):
                raise ResourceError("Resource '%s': a refined reservation "
                                    "role '%s' must be a child of '%s'"
                                    % (name, role, parent))
            parent = role
            stack.append(_reservation_canonical(reservation))
        out["reservations"] = stack
    else:
        role = resource.get("role", "*")
        reservation = resource.get("reservation")
        if role is None:
            role = "*"
        if role == "*":
            if reservation is not None:
                raise ResourceError("Resource '%s' with role '*' must not "
                                    "have a reservation" % name)
            out["reservations"] = []
        else:
            error = validate_role(role)
            if error:
                raise ResourceError(error)
            if reservation is None:
                out["reservations"] = [{"type": "STATIC", "role": role}]
            else:
                if reservation.get("type") is not None or \
                        reservation.get("role") is not None:
                    raise ResourceError(
                        "Resource '%s': 'reservation' (pre-refinement format) "
                        "must not set 'type' or 'role'" % name)
                entry = {"type": "DYNAMIC", "role": role}
                entry.update(_reservation_canonical(
                    {"principal": reservation.get("principal"),
                     "labels": reservation.get("labels")}))
                out["reservations"] = [entry]

    alloc = resource.get("allocation_info")
    if alloc is not None and alloc.get("role") is not None:
        if allocation_role is not None and alloc["role"] != allocation_role:
            raise ResourceError("Resource '%s' is allocated to role '%s' but "
                                "the offer is for role '%s'"
                                % (name, alloc["role"], allocation_role))
        out["allocation_info"] = {"role": alloc["role"]}
    elif allocation_role is not None:
        out["allocation_info"] = {"role": allocation_role}

    for field in ("disk", "provider_id"):
        if resource.get(field) is not None:
            out[field] = copy.deepcopy(resource[field])
    if "disk" in out and not out["disk"]:
        del out["disk"]
    for field in ("revocable", "shared"):
        if resource.get(field) is not None:
            out[field] = {}
    if out.get("disk", {}).get("persistence") is not None and \
            not out["reservations"]:
        raise ResourceError("Persistent volume '%s' must be on reserved disk"
                            % out["disk"]["persistence"].get("id"))
    return out


def coalesce(ranges):
    ranges = sorted(ranges)
    merged = []
    for begin, end in ranges:
        if merged and begin <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    return merged


def ranges_contain(outer, inner):
    for begin, end in inner:
        if not any(b <= begin and end <= e for b, e in outer):
            return False
    return True


def ranges_subtract(outer, inner):
    result = list(outer)
    for begin, end in inner:
        nxt = []
        for b, e in result:
            if end < b or begin > e:
                nxt.append((b, e))
                continue
            if b < begin:
                nxt.append((b, begin - 1))
            if end < e:
                nxt.append((end + 1, e))
        result = nxt
    return coalesce(result)


def is_whole(res):
    """Indivisible resources: MOUNT/BLOCK/RAW disks and persistent volumes."""
    disk = res.get("disk") or {}
    if disk.get("persistence") is not None:
        return True
    source = disk.get("source") or {}
    return source.get("type") in ("MOUNT", "BLOCK", "RAW")


def _value_fields(res):
    return {k: res[k] for k in ("scalar", "ranges", "set") if k in res}


def kind_key(res):
    """Key identifying the 'same kind' class of a canonical resource."""
    template = {k: v for k, v in res.items()
                if k not in ("scalar", "ranges", "set")}
    template["reservations"] = [
        dict(r, labels=_labels_key(r.get("labels")))
        for r in template.get("reservations", [])]
    if is_whole(res):
        template["__value"] = _value_fields(res)
    return json.dumps(template, sort_keys=True, default=list)


class Pool:
    """A bag of canonical resources with Mesos containment semantics."""

    def __init__(self, resources=()):
        self.items = {}
        for res in resources:
            self.add(res)

    def copy(self):
        other = Pool()
        other.items = {k: dict(v) for k, v in self.items.items()}
        return other

    def add(self, res):
        key = kind_key(res)
        entry = self.items.get(key)
        if is_whole(res):
            if entry is None:
                self.items[key] = {"res": res, "count": 1}
            else:
                entry["count"] += 1
            return
        if entry is None:
            entry = {"res": {k: v for k, v in res.items()
                             if k not in ("scalar", "ranges", "set")}}
            if res["type"] == "SCALAR":
                entry["value"] = 0
            elif res["type"] == "RANGES":
                entry["value"] = []
            else:
                entry["value"] = frozenset()
            self.items[key] = entry
        if res["type"] == "SCALAR":
            entry["value"] += res["scalar"]
        elif res["type"] == "RANGES":
            entry["value"] = coalesce(entry["value"] + res["ranges"])
        else:
            entry["value"] = entry["value"] | frozenset(res["set"])

    def add_all(self, resources):
        for res in resources:
            self.add(res)

    def contains(self, res):
        entry = self.items.get(kind_key(res))
        if entry is None:
            return False
        if is_whole(res):
            return entry["count"] >= 1
        if res["type"] == "SCALAR":
            return entry["value"] >= res["scalar"]
        if res["type"] == "RANGES":
            return ranges_contain(entry["value"], res["ranges"])
        return frozenset(res["set"]) <= entry["value"]

    def contains_all(self, resources):
        probe = self.copy()
        for res in resources:
            if not probe.contains(res):
                return False
            probe.subtract(res)
        return True

    def subtract(self, res):
        key = kind_key(res)
        entry = self.items.get(key)
        if entry is None:
            return
        if is_whole(res):
            entry["count"] -= 1
            if entry["count"] <= 0:
                del self.items[key]
            return
        if res["type"] == "SCALAR":
            entry["value"] = max(0, entry["value"] - res["scalar"])
        elif res["type"] == "RANGES":
            entry["value"] = ranges_subtract(entry["value"], res["ranges"])
        else:
            entry["value"] = entry["value"] - frozenset(res["set"])
        if self._empty(entry):
            del self.items[key]

    def subtract_all(self, resources):
        for res in resources:
            self.subtract(res)

    @staticmethod
    def _empty(entry):
        value = entry["value"]
        return value == 0 or value == [] or value == frozenset()

    def is_empty(self):
        return not any(not self._empty(e) if "value" in e else e["count"] > 0
                       for e in self.items.values())

    def resources(self):
        """Canonical resources, one per kind (whole ones repeated)."""
        out = []
        for entry in self.items.values():
            if "count" in entry:
                out.extend(copy.deepcopy(entry["res"])
                           for _ in range(entry["count"]))
                continue
            if self._empty(entry):
                continue
            res = copy.deepcopy(entry["res"])
            if res["type"] == "SCALAR":
                res["scalar"] = entry["value"]
            elif res["type"] == "RANGES":
                res["ranges"] = list(entry["value"])
            else:
                res["set"] = sorted(entry["value"])
            out.append(res)
        out.sort(key=lambda r: (r["name"], kind_key(r)))
        return out

    def scalar_total(self, name):
        return sum(r["scalar"] for r in self.resources()
                   if r["name"] == name and r["type"] == "SCALAR")


def strip_allocation(res):
    out = dict(res)
    out.pop("allocation_info", None)
    return out


def with_allocation(res, role):
    out = dict(res)
    out["allocation_info"] = {"role": role}
    return out


def allocatable_to(res, role):
    stack = res.get("reservations") or []
    if not stack:
        return True
    current = stack[-1]["role"]
    return role == current or is_strict_subrole(role, current)


def render(res, refinement):
    """Canonical resource -> Mesos JSON as the master writes it to a
    framework. Returns None for refined reservations when the framework lacks
    RESERVATION_REFINEMENT (they are never offered to it)."""
    out = {"name": res["name"], "type": res["type"]}
    if res["type"] == "SCALAR":
        out["scalar"] = {"value": res["scalar"] / 1000.0}
    elif res["type"] == "RANGES":
        out["ranges"] = {"range": [{"begin": b, "end": e}
                                   for b, e in res["ranges"]]}
    else:
        out["set"] = {"item": list(res["set"])}
    stack = res.get("reservations") or []
    if refinement:
        if stack:
            out["reservations"] = copy.deepcopy(stack)
    else:
        if len(stack) > 1:
            return None
        if not stack:
            out["role"] = "*"
        else:
            out["role"] = stack[0]["role"]
            if stack[0]["type"] == "DYNAMIC":
                reservation = {}
                if stack[0].get("principal") is not None:
                    reservation["principal"] = stack[0]["principal"]
                if stack[0].get("labels") is not None:
                    reservation["labels"] = stack[0]["labels"]
                out["reservation"] = reservation
    for field in ("allocation_info", "disk", "provider_id", "revocable",
                  "shared"):
        if field in res:
            out[field] = copy.deepcopy(res[field])
    return out


def describe(resources):
    """Short human text, like Mesos's 'cpus(allocated: r)(reservations: ...):1'."""
    parts = []
    for res in resources:
        name = res["name"]
        stack = res.get("reservations") or []
        if stack:
            name += "(reservations: [%s])" % ",".join(
                "(%s,%s%s)" % (r["type"], r["role"],
                               "," + r["principal"] if r.get("principal")
                               else "") for r in stack)
        if res.get("allocation_info"):
            name += "(allocated: %s)" % res["allocation_info"].get("role")
        if is_whole(res):
            disk = res.get("disk") or {}
            if disk.get("persistence"):
                name += "[%s]" % disk["persistence"].get("id")
            elif disk.get("source"):
                name += "[%s:%s]" % (
                    disk["source"].get("type"),
                    (disk["source"].get("mount") or
                     disk["source"].get("path") or {}).get("root", ""))
        if res["type"] == "SCALAR":
            value = res["scalar"] / 1000.0
            text = ("%d" % value) if value == int(value) else ("%g" % value)
        elif res["type"] == "RANGES":
            text = "[%s]" % ", ".join("%d-%d" % r for r in res["ranges"])
        else:
            text = "{%s}" % ", ".join(res["set"])
        parts.append("%s:%s" % (name, text))
    return "; ".join(parts) if parts else "{}"


_TEXT_ITEM = re.compile(r"^\s*([^:(\s]+)\s*(?:\(([^)]*)\))?\s*:\s*(.+?)\s*$")


def parse_text(text):
    """Parse the agent --resources text format:
    "cpus:4;mem:8192;ports:[31000-32000];cpus(quobyte):2;disks:{a,b}"
    into Mesos JSON resources (pre-refinement; a role in parentheses is a
    static reservation)."""
    out = []
    for item in text.split(";"):
        if not item.strip():
            continue
        match = _TEXT_ITEM.match(item)
        if not match:
            raise ResourceError("Bad resource text '%s'" % item)
        name, role, value = match.groups()
        res = {"name": name}
        if value.startswith("["):
            ranges = []
            for part in value.strip("[]").split(","):
                part = part.strip()
                if not part:
                    continue
                begin, _, end = part.partition("-")
                ranges.append({"begin": int(begin), "end": int(end or begin)})
            res["type"] = "RANGES"
            res["ranges"] = {"range": ranges}
        elif value.startswith("{"):
            res["type"] = "SET"
            res["set"] = {"item": [s.strip() for s in
                                   value.strip("{}").split(",") if s.strip()]}
        else:
            res["type"] = "SCALAR"
            res["scalar"] = {"value": float(value)}
        if role and role != "*":
            res["role"] = role
        out.append(res)
    return out


def parse_attributes(spec):
    """Attributes from "rack:r1;level:2" text, a {"name": value} dict or a
    list already in Mesos shape. Returns Mesos Attribute JSON."""
    if isinstance(spec, list):
        return copy.deepcopy(spec)
    pairs = []
    if isinstance(spec, dict):
        pairs = list(spec.items())
    elif isinstance(spec, str):
        for item in spec.split(";"):
            if item.strip():
                name, _, value = item.partition(":")
                pairs.append((name.strip(), value.strip()))
    out = []
    for name, value in pairs:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append({"name": name, "type": "SCALAR",
                        "scalar": {"value": float(value)}})
            continue
        value = str(value)
        if re.match(r"^-?[0-9]+(\.[0-9]+)?$", value):
            out.append({"name": name, "type": "SCALAR",
                        "scalar": {"value": float(value)}})
        elif value.startswith("["):
            ranges = []
            for part in value.strip("[]").split(","):
                begin, _, end = part.strip().partition("-")
                ranges.append({"begin": int(begin), "end": int(end or begin)})
            out.append({"name": name, "type": "RANGES",
                        "ranges": {"range": ranges}})
        elif value.startswith("{"):
            out.append({"name": name, "type": "SET", "set": {
                "item": [s.strip() for s in value.strip("{}").split(",")]}})
        else:
            out.append({"name": name, "type": "TEXT",
                        "text": {"value": value}})
    return out
