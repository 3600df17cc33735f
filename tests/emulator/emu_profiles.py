"""What each supported Mesos release (1.4.0 ... 1.11.0) does on the v1
scheduler API, for the emulator's --version. Every rule names the file of
apache/mesos, at the release's tag, it was read from (a mirror:
/work/.mirror/apache+mesos/repo, `git show 1.4.0:<file>`).

The table in README.md ("Release rules") lists them; the per-release data
(fields, enum names) is generated from the .proto files by gen_profiles.py.

--wire-rules decides what the emulator does where Mesos is lenient:
  strict  (default) refuse what Mesos would silently ignore or drop:
          unknown JSON keys (including fields the release does not have
          yet), unknown enum names, scalars for repeated fields, duplicate
          keys, bodies of other call types, invalid IDs in calls;
  release exactly what the release does: such things are ignored/dropped
          and the call is handled without them.
Rules that make a release REFUSE something apply in both modes.
"""

SUPPORTED = ["1.4.0", "1.5.0", "1.6.0", "1.7.0", "1.8.0", "1.9.0",
             "1.10.0", "1.11.0"]

# `git rev-list -n1 <tag>` in apache/mesos: GET /version's git_sha.
GIT_SHA = {
    "1.4.0": "b3fd2e7ab26e118222fe18af4b92c53a3c01e6cc",
    "1.5.0": "f7e3872b0359c6095f8eeaefe408cb7dcef5bb83",
    "1.6.0": "c7df5eadc075adcf525ea091f65786aaffb9b072",
    "1.7.0": "8419b870c571ac11825c883fa20ea3b7d4348d34",
    "1.8.0": "acefa90695a32f8e8d6361f8192a6522aeaadbb9",
    "1.9.0": "5e79a584e6ec3e9e2f96e8bf418411df9dafac2e",
    "1.10.0": "1fb36dcc5a0099f147cd01bd82cd7b4f0aec2256",
    "1.11.0": "04bc7ee1984d86fbb0bd782ccc69ce44c13ae4b9",
}


def _key(version):
    parts = []
    for p in version.split("-")[0].split(".")[:3]:
        parts.append(int(p))
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


# Fields of the scheduler Call graph (emu_schema.MESSAGES names) that a
# release before the one named does not have: include/mesos/v1/mesos.proto
# and include/mesos/v1/scheduler/scheduler.proto at each tag (walked from
# mesos.v1.scheduler.Call by gen_profiles.py). Everything else in
# emu_schema.MESSAGES exists in 1.4.0. A field a release lacks is an unknown
# JSON key to it: ignored (stout protobuf.hpp parse(): FindFieldByName ==
# nullptr is skipped), refused under --wire-rules strict.
FIELDS_ADDED = {
    "1.5.0": [
        ("Call", "acknowledge_operation_status"),
        ("Call", "reconcile_operations"),
        ("Call.AcknowledgeOperationStatus", "agent_id"),
        ("Call.AcknowledgeOperationStatus", "operation_id"),
        ("Call.AcknowledgeOperationStatus", "resource_provider_id"),
        ("Call.AcknowledgeOperationStatus", "uuid"),
        ("Call.ReconcileOperations", "operations"),
        ("Call.ReconcileOperations.Operation", "agent_id"),
        ("Call.ReconcileOperations.Operation", "operation_id"),
        ("Call.ReconcileOperations.Operation", "resource_provider_id"),
        ("HealthCheck.HTTPCheckInfo", "protocol"),
        ("HealthCheck.TCPCheckInfo", "protocol"),
        ("MountPropagation", "mode"),
        ("Offer.Operation", "id"),
        ("OperationID", "value"),
        ("Resource.DiskInfo.Source", "id"),
        ("Resource.DiskInfo.Source", "metadata"),
        ("Resource.DiskInfo.Source", "profile"),
        ("Volume.Source", "host_path"),
        ("Volume.Source.HostPath", "mount_propagation"),
        ("Volume.Source.HostPath", "path"),
    ],
    "1.6.0": [
        ("Offer.Operation", "grow_volume"),
        ("Offer.Operation", "shrink_volume"),
        ("Offer.Operation.GrowVolume", "addition"),
        ("Offer.Operation.GrowVolume", "volume"),
        ("Offer.Operation.ShrinkVolume", "subtract"),
        ("Offer.Operation.ShrinkVolume", "volume"),
        ("TaskInfo", "max_completion_time"),
    ],
    "1.7.0": [
        ("Offer.Operation", "create_disk"),
        ("Offer.Operation", "destroy_disk"),
        ("Offer.Operation.CreateDisk", "source"),
        ("Offer.Operation.CreateDisk", "target_type"),
        ("Offer.Operation.DestroyDisk", "source"),
    ],
    "1.8.0": [
        ("FrameworkInfo", "offer_filters"),
        ("LinuxInfo", "seccomp"),
        ("Offer.Operation.CreateDisk", "target_profile"),
        ("OfferFilters", "min_allocatable_resources"),
        ("OfferFilters.MinAllocatableResources", "quantities"),
        ("OfferFilters.ResourceQuantities", "quantities"),
        ("Resource.DiskInfo.Source", "vendor"),
        ("SeccompInfo", "profile_name"),
        ("SeccompInfo", "unconfined"),
    ],
    "1.9.0": [
        ("Call", "update_framework"),
        ("Call.UpdateFramework", "framework_info"),
        ("Call.UpdateFramework", "suppressed_roles"),
        ("LinuxInfo", "ipc_mode"),
        ("LinuxInfo", "shm_size"),
    ],
    "1.10.0": [
        ("LinuxInfo", "share_cgroups"),
        ("Offer.Operation.Reserve", "source"),
        ("TaskInfo", "limits"),
    ],
    "1.11.0": [
        ("AttributeConstraint", "predicate"),
        ("AttributeConstraint", "selector"),
        ("AttributeConstraint.Predicate", "exists"),
        ("AttributeConstraint.Predicate", "not_exists"),
        ("AttributeConstraint.Predicate", "text_equals"),
        ("AttributeConstraint.Predicate", "text_matches"),
        ("AttributeConstraint.Predicate", "text_not_equals"),
        ("AttributeConstraint.Predicate", "text_not_matches"),
        ("AttributeConstraint.Selector", "attribute_name"),
        ("AttributeConstraint.Selector", "pseudoattribute_type"),
        ("CSIVolume.AccessMode", "mode"),
        ("CSIVolume.MountVolume", "fs_type"),
        ("CSIVolume.MountVolume", "mount_flags"),
        ("CSIVolume.StaticProvisioning", "node_publish_secrets"),
        ("CSIVolume.StaticProvisioning", "node_stage_secrets"),
        ("CSIVolume.StaticProvisioning", "volume_capability"),
        ("CSIVolume.StaticProvisioning", "volume_context"),
        ("CSIVolume.StaticProvisioning", "volume_id"),
        ("CSIVolume.VolumeCapability", "access_mode"),
        ("CSIVolume.VolumeCapability", "block"),
        ("CSIVolume.VolumeCapability", "mount"),
        ("Call.Subscribe", "offer_constraints"),
        ("Call.UpdateFramework", "offer_constraints"),
        ("OfferConstraints", "role_constraints"),
        ("OfferConstraints.Group", "attribute_constraints"),
        ("OfferConstraints.RoleConstraints", "groups"),
        ("Predicate.Regex", "regex"),
        ("Predicate.Text", "value"),
        ("Volume.Source", "csi_volume"),
        ("Volume.Source.CSIVolume", "plugin_name"),
        ("Volume.Source.CSIVolume", "static_provisioning"),
    ],
}

# Enum names (emu_schema.ENUMS names) a release before the one named does
# not know (same .proto files). Unknown names: see Profile.unknown_enum.
ENUM_NAMES_ADDED = {
    "1.5.0": [
        ("Call.Type", "ACKNOWLEDGE_OPERATION_STATUS"),
        ("Call.Type", "RECONCILE_OPERATIONS"),
        ("DiskInfo.Source.Type", "BLOCK"),
        ("DiskInfo.Source.Type", "RAW"),
        ("MountPropagation.Mode", "BIDIRECTIONAL"),
        ("MountPropagation.Mode", "HOST_TO_CONTAINER"),
        ("MountPropagation.Mode", "UNKNOWN"),
        ("Volume.Source.Type", "HOST_PATH"),
    ],
    "1.6.0": [
        ("Offer.Operation.Type", "GROW_VOLUME"),
        ("Offer.Operation.Type", "SHRINK_VOLUME"),
    ],
    "1.7.0": [
        ("Offer.Operation.Type", "CREATE_DISK"),
        ("Offer.Operation.Type", "DESTROY_DISK"),
    ],
    "1.9.0": [
        ("Call.Type", "UPDATE_FRAMEWORK"),
        ("LinuxInfo.IpcMode", "PRIVATE"),
        ("LinuxInfo.IpcMode", "SHARE_PARENT"),
        ("LinuxInfo.IpcMode", "UNKNOWN"),
    ],
    "1.11.0": [
        ("AccessMode.Mode", "MULTI_NODE_MULTI_WRITER"),
        ("AccessMode.Mode", "MULTI_NODE_READER_ONLY"),
        ("AccessMode.Mode", "MULTI_NODE_SINGLE_WRITER"),
        ("AccessMode.Mode", "SINGLE_NODE_READER_ONLY"),
        ("AccessMode.Mode", "SINGLE_NODE_WRITER"),
        ("AccessMode.Mode", "UNKNOWN"),
        ("Selector.PseudoattributeType", "HOSTNAME"),
        ("Selector.PseudoattributeType", "REGION"),
        ("Selector.PseudoattributeType", "UNKNOWN"),
        ("Selector.PseudoattributeType", "ZONE"),
        ("Volume.Source.Type", "CSI_VOLUME"),
    ],
}


# FrameworkInfo.Capability.Type names, first release (include/mesos/v1/
# mesos.proto at 1.0.0 ... 1.4.0; all exist in every supported release):
# GPU_RESOURCES, REVOCABLE_RESOURCES, TASK_KILLING_STATE <= 1.0.0,
# SHARED_RESOURCES and PARTITION_AWARE 1.1.0, MULTI_ROLE 1.2.0,
# RESERVATION_REFINEMENT and REGION_AWARE 1.4.0.
CAPABILITY_SINCE = {
    "REVOCABLE_RESOURCES": "1.0.0", "TASK_KILLING_STATE": "1.0.0",
    "GPU_RESOURCES": "1.0.0", "SHARED_RESOURCES": "1.1.0",
    "PARTITION_AWARE": "1.1.0", "MULTI_ROLE": "1.2.0",
    "RESERVATION_REFINEMENT": "1.4.0", "REGION_AWARE": "1.4.0",
}


def _index(table):
    out = {}
    for release, keys in table.items():
        for key in keys:
            out[key] = release
    return out


FIELD_SINCE = _index(FIELDS_ADDED)
ENUM_SINCE = _index(ENUM_NAMES_ADDED)


class Profile:
    """The rules of one release. Attributes name their source."""

    def __init__(self, version, wire_rules="strict"):
        self.version = version
        self.strict = wire_rules == "strict"
        # 3rdparty/stout/include/stout/protobuf.hpp, Parser::operator()(
        # const JSON::String&): a JSON string for a number or bool field is
        # "Not expecting a JSON string for field 'f'" up to 1.5.x; 1.6.0
        # parses it ("Failed to parse 'x' as a JSON number for field 'f'").
        self.quoted_scalars = at_least(version, "1.6.0")
        # same file: "Infinity"/"-Infinity" strings for double/float from
        # 1.10.0 (before: a JSON number parse error).
        self.infinity_strings = at_least(version, "1.10.0")
        # same file, TYPE_ENUM: 1.4.x "Failed to find enum for 'X'" for any
        # unknown name; from 1.5.0 only a required enum field refuses it,
        # in an optional/repeated field the name is dropped (proto2).
        self.unknown_enum_dropped = at_least(version, "1.5.0")
        # same file, operator()(const JSON::Object&): map fields (is_map())
        # parsed from a JSON object from 1.6.0. (No field of the Call graph
        # is a map before 1.8.0, so only the field sets show this.)
        self.maps = at_least(version, "1.6.0")
        # src/master/master.cpp, Master::subscribe(HttpConnection, ...):
        # "Roles { a } are not present in master's --roles" up to 1.8.x,
        # "... in the master's --roles" from 1.9.0.
        self.roles_the = at_least(version, "1.9.0")
        # src/master/validation.cpp validateUpdate() (from 1.9.0): a
        # re-SUBSCRIBE with another principal gets ERROR "Changing
        # framework's principal is not allowed."; before, master.hpp
        # Framework::update() only logs a warning and keeps the old one.
        self.principal_change_refused = at_least(version, "1.9.0")
        # src/master/allocator/mesos/hierarchical.cpp updateFramework(),
        # called by a re-SUBSCRIBE of a known framework: decline filters of
        # roles no longer subscribed are erased (all releases); 1.4.x also
        # erases those of roles that became suppressed; from 1.9.0 roles
        # that stop being suppressed are revived (reviveRoles(): their
        # filters erased). A disconnect clears all filters
        # (deactivateFramework(), all releases).
        self.suppress_clears_filters = not at_least(version, "1.5.0")
        self.unsuppress_clears_filters = at_least(version, "1.9.0")
        # src/master/constants.cpp MASTER_CAPABILITIES(), copied into
        # MasterInfo (master.cpp Master::initialize); MasterInfo.capabilities
        # is new in 1.5.0 (include/mesos/mesos.proto).
        if at_least(version, "1.9.0"):
            self.master_capabilities = ["AGENT_UPDATE", "AGENT_DRAINING",
                                        "QUOTA_V2"]
        elif at_least(version, "1.5.0"):
            self.master_capabilities = ["AGENT_UPDATE"]
        else:
            self.master_capabilities = None

    def knows_enum(self, enum, name):
        since = ENUM_SINCE.get((enum, name))
        return since is None or at_least(self.version, since)

    def knows_field(self, message, field):
        since = FIELD_SINCE.get((message, field))
        return since is None or at_least(self.version, since)

    def field_since(self, message, field):
        return FIELD_SINCE.get((message, field))

    def git_sha(self):
        return GIT_SHA.get(self.version)
