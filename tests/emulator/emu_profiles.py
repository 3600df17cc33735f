"""What each supported Mesos release accepts on the v1 scheduler API, for
the emulator's --version. Every rule names the file (in apache/mesos, at
the release's tag) it was read from.

Rules that differ between releases:

* Quoted scalars. stout's JSON-to-protobuf parser
  (3rdparty/stout/include/stout/protobuf.hpp, Parser::operator()(const
  JSON::String&)) refuses a JSON string for an integer, double or bool field
  up to 1.5.x ("Not expecting a JSON string for field 'nanoseconds'");
  1.6.0 added parsing such strings as numbers / booleans.
* Unknown enum names. 1.4.x refuses any name it does not know ("Failed to
  find enum for 'X'"); from 1.5.0 an unknown name in an optional or
  repeated field is dropped and only a required enum field refuses it. The
  emulator refuses unknown names under every release (stricter than 1.5+,
  as strict as 1.4), so enum sets per release matter.
* Enum sets and calls: Call.Type UPDATE_FRAMEWORK exists from 1.9.0
  (include/mesos/v1/scheduler/scheduler.proto); FrameworkInfo.Capability
  names from include/mesos/v1/mesos.proto (TASK_KILLING_STATE 1.0,
  PARTITION_AWARE 1.1, MULTI_ROLE 1.2, RESERVATION_REFINEMENT and
  REGION_AWARE 1.4).

Rules the same in every supported release (1.4.0 ... 1.11.0): unknown JSON
keys are ignored by the master (the emulator refuses them, to catch typos);
a call refused at parse time (400) leaves the offers of an ACCEPT
outstanding (src/master/http.cpp answers before the master sees the call);
GET /version answers {"version": ...} (src/version/version.cpp); the
leading master is published in ZooKeeper as json.info_<seq> MasterInfo JSON
(src/master/contender/zookeeper.cpp, src/master/constants.cpp).
"""

SUPPORTED = ["1.4.0", "1.5.0", "1.6.0", "1.7.0", "1.8.0", "1.9.0",
             "1.10.0", "1.11.0"]


def _key(version):
    parts = []
    for p in version.split("-")[0].split(".")[:3]:
        parts.append(int(p) if p.isdigit() else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def at_least(version, release):
    return _key(version) >= _key(release)


def check(version):
    """None if `version` is a supported release, else why not."""
    try:
        k = _key(version)
    except ValueError:
        return "not a release: %r" % version
    if k < _key(SUPPORTED[0]) or k >= (1, 12, 0):
        return "Mesos %s is outside the supported %s ... %s" % (
            version, SUPPORTED[0], SUPPORTED[-1])
    return None


# (enum, name) -> first release that knows the name
ENUM_SINCE = {
    ("Call.Type", "UPDATE_FRAMEWORK"): "1.9.0",
    ("FrameworkInfo.Capability.Type", "TASK_KILLING_STATE"): "1.0.0",
    ("FrameworkInfo.Capability.Type", "PARTITION_AWARE"): "1.1.0",
    ("FrameworkInfo.Capability.Type", "MULTI_ROLE"): "1.2.0",
    ("FrameworkInfo.Capability.Type", "RESERVATION_REFINEMENT"): "1.4.0",
    ("FrameworkInfo.Capability.Type", "REGION_AWARE"): "1.4.0",
}


class Profile:
    def __init__(self, version):
        self.version = version
        # stout protobuf.hpp: string -> number/bool parsing since 1.6.0
        self.quoted_scalars = at_least(version, "1.6.0")
        self.unknown_enum_dropped = at_least(version, "1.5.0")

    def knows_enum(self, enum, name):
        since = ENUM_SINCE.get((enum, name))
        return since is None or at_least(self.version, since)
