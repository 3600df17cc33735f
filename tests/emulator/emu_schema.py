"""Strict schema of the v1 scheduler Call messages, for the Mesos emulator.

Field names, labels and enum values follow apache/mesos
include/mesos/v1/mesos.proto and include/mesos/v1/scheduler/scheduler.proto
(Mesos 1.11: UpdateFramework and OfferConstraints included) as summarised in
docs/mesos-v1-scheduler-api.md.

parse() reads a call as the release's JSON-to-protobuf parser does
(3rdparty/stout/include/stout/protobuf.hpp at the tag, see emu_profiles.py):
null is "unset"; quoted numbers/bools from 1.6.0; unknown enum names refused
by 1.4.x, dropped from optional/repeated fields by 1.5.0+. The real master
ignores unknown JSON keys; under --wire-rules strict (the default) they are
refused with the field path, as are unknown enum names, so that a typo in
the coordinator fails a test instead of a production launch. Under
--wire-rules release the emulator ignores/drops them as the release does.
"""

import base64
import binascii
import math
import re

import emu_profiles

# The release whose parsing rules apply (mesos_emulator.py --version).
PROFILE = emu_profiles.Profile("1.11.0")


def configure(version, wire_rules="strict"):
    """Apply the JSON rules of Mesos `version` (emu_profiles.py);
    wire_rules "strict" or "release" (see emu_profiles)."""
    global PROFILE
    PROFILE = emu_profiles.Profile(version, wire_rules)

# Field spec: (label, type). label: "opt", "req" or "rep".
# type: "string", "bytes", "bool", "double", "int32", "int64", "uint32",
# "uint64", "enum:<Enum>", "msg:<Message>", "map:<value type>" (string keys).

ENUMS = {
    "Call.Type": [
        "UNKNOWN", "SUBSCRIBE", "TEARDOWN", "ACCEPT", "DECLINE",
        "ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS", "REVIVE", "KILL",
        "SHUTDOWN", "ACKNOWLEDGE", "ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE",
        "RECONCILE_OPERATIONS", "MESSAGE", "REQUEST", "SUPPRESS",
        "UPDATE_FRAMEWORK",
    ],
    "FrameworkInfo.Capability.Type": [
        "UNKNOWN", "REVOCABLE_RESOURCES", "TASK_KILLING_STATE", "GPU_RESOURCES",
        "SHARED_RESOURCES", "PARTITION_AWARE", "MULTI_ROLE",
        "RESERVATION_REFINEMENT", "REGION_AWARE",
    ],
    "Offer.Operation.Type": [
        "UNKNOWN", "LAUNCH", "LAUNCH_GROUP", "RESERVE", "UNRESERVE", "CREATE",
        "DESTROY", "GROW_VOLUME", "SHRINK_VOLUME", "CREATE_DISK",
        "DESTROY_DISK",
    ],
    "Value.Type": ["SCALAR", "RANGES", "SET", "TEXT"],
    "ReservationInfo.Type": ["UNKNOWN", "STATIC", "DYNAMIC"],
    "DiskInfo.Source.Type": ["UNKNOWN", "PATH", "MOUNT", "BLOCK", "RAW"],
    "ExecutorInfo.Type": ["UNKNOWN", "DEFAULT", "CUSTOM"],
    "Environment.Variable.Type": ["UNKNOWN", "VALUE", "SECRET"],
    "Secret.Type": ["UNKNOWN", "REFERENCE", "VALUE"],
    "ContainerInfo.Type": ["DOCKER", "MESOS"],
    "DockerInfo.Network": ["HOST", "BRIDGE", "NONE", "USER"],
    "Image.Type": ["APPC", "DOCKER"],
    "Volume.Mode": ["RW", "RO"],
    "Volume.Source.Type": [
        "UNKNOWN", "DOCKER_VOLUME", "HOST_PATH", "SANDBOX_PATH", "SECRET",
        "CSI_VOLUME",
    ],
    "SandboxPath.Type": ["UNKNOWN", "SELF", "PARENT"],
    "MountPropagation.Mode": ["UNKNOWN", "HOST_TO_CONTAINER", "BIDIRECTIONAL"],
    "AccessMode.Mode": [
        "UNKNOWN", "SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY",
        "MULTI_NODE_READER_ONLY", "MULTI_NODE_SINGLE_WRITER",
        "MULTI_NODE_MULTI_WRITER",
    ],
    "NetworkInfo.Protocol": ["IPv4", "IPv6"],
    "CapabilityInfo.Capability": [
        "UNKNOWN", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER",
        "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT",
        "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
        "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN",
        "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    ],
    "LinuxInfo.IpcMode": ["UNKNOWN", "PRIVATE", "SHARE_PARENT"],
    "RLimit.Type": [
        "UNKNOWN", "RLMT_AS", "RLMT_CORE", "RLMT_CPU", "RLMT_DATA",
        "RLMT_FSIZE", "RLMT_LOCKS", "RLMT_MEMLOCK", "RLMT_MSGQUEUE",
        "RLMT_NICE", "RLMT_NOFILE", "RLMT_NPROC", "RLMT_RSS", "RLMT_RTPRIO",
        "RLMT_RTTIME", "RLMT_SIGPENDING", "RLMT_STACK",
    ],
    "HealthCheck.Type": ["UNKNOWN", "COMMAND", "HTTP", "TCP"],
    "CheckInfo.Type": ["UNKNOWN", "COMMAND", "HTTP", "TCP"],
    "DiscoveryInfo.Visibility": ["FRAMEWORK", "CLUSTER", "EXTERNAL"],
    "Selector.PseudoattributeType": ["UNKNOWN", "HOSTNAME", "REGION", "ZONE"],
}

_ID = {"value": ("req", "string")}

MESSAGES = {
    # --- scheduler.proto -------------------------------------------------
    "Call": {
        "framework_id": ("opt", "msg:FrameworkID"),
        "type": ("opt", "enum:Call.Type"),
        "subscribe": ("opt", "msg:Call.Subscribe"),
        "accept": ("opt", "msg:Call.Accept"),
        "decline": ("opt", "msg:Call.Decline"),
        "accept_inverse_offers": ("opt", "msg:Call.InverseOffers"),
        "decline_inverse_offers": ("opt", "msg:Call.InverseOffers"),
        "revive": ("opt", "msg:Call.Roles"),
        "kill": ("opt", "msg:Call.Kill"),
        "shutdown": ("opt", "msg:Call.Shutdown"),
        "acknowledge": ("opt", "msg:Call.Acknowledge"),
        "acknowledge_operation_status":
            ("opt", "msg:Call.AcknowledgeOperationStatus"),
        "reconcile": ("opt", "msg:Call.Reconcile"),
        "reconcile_operations": ("opt", "msg:Call.ReconcileOperations"),
        "message": ("opt", "msg:Call.Message"),
        "request": ("opt", "msg:Call.Request"),
        "suppress": ("opt", "msg:Call.Roles"),
        "update_framework": ("opt", "msg:Call.UpdateFramework"),
    },
    "Call.Subscribe": {
        "framework_info": ("req", "msg:FrameworkInfo"),
        "suppressed_roles": ("rep", "string"),
        "offer_constraints": ("opt", "msg:OfferConstraints"),
    },
    "Call.UpdateFramework": {
        "framework_info": ("req", "msg:FrameworkInfo"),
        "suppressed_roles": ("rep", "string"),
        "offer_constraints": ("opt", "msg:OfferConstraints"),
    },
    "Call.Accept": {
        "offer_ids": ("rep", "msg:OfferID"),
        "operations": ("rep", "msg:Offer.Operation"),
        "filters": ("opt", "msg:Filters"),
    },
    "Call.Decline": {
        "offer_ids": ("rep", "msg:OfferID"),
        "filters": ("opt", "msg:Filters"),
    },
    "Call.InverseOffers": {
        "inverse_offer_ids": ("rep", "msg:OfferID"),
        "filters": ("opt", "msg:Filters"),
    },
    "Call.Roles": {"roles": ("rep", "string")},
    "Call.Kill": {
        "task_id": ("req", "msg:TaskID"),
        "agent_id": ("opt", "msg:AgentID"),
        "kill_policy": ("opt", "msg:KillPolicy"),
    },
    "Call.Shutdown": {
        "executor_id": ("req", "msg:ExecutorID"),
        "agent_id": ("req", "msg:AgentID"),
    },
    "Call.Acknowledge": {
        "agent_id": ("req", "msg:AgentID"),
        "task_id": ("req", "msg:TaskID"),
        "uuid": ("req", "bytes"),
    },
    "Call.AcknowledgeOperationStatus": {
        "agent_id": ("opt", "msg:AgentID"),
        "resource_provider_id": ("opt", "msg:ResourceProviderID"),
        "uuid": ("req", "bytes"),
        "operation_id": ("req", "msg:OperationID"),
    },
    "Call.Reconcile": {"tasks": ("rep", "msg:Call.Reconcile.Task")},
    "Call.Reconcile.Task": {
        "task_id": ("req", "msg:TaskID"),
        "agent_id": ("opt", "msg:AgentID"),
    },
    "Call.ReconcileOperations": {
        "operations": ("rep", "msg:Call.ReconcileOperations.Operation"),
    },
    "Call.ReconcileOperations.Operation": {
        "operation_id": ("req", "msg:OperationID"),
        "agent_id": ("opt", "msg:AgentID"),
        "resource_provider_id": ("opt", "msg:ResourceProviderID"),
    },
    "Call.Message": {
        "agent_id": ("req", "msg:AgentID"),
        "executor_id": ("req", "msg:ExecutorID"),
        "data": ("req", "bytes"),
    },
    "Call.Request": {"requests": ("rep", "msg:Request")},
    "Request": {
        "agent_id": ("opt", "msg:AgentID"),
        "resources": ("rep", "msg:Resource"),
    },
    "OfferConstraints": {
        "role_constraints": ("opt", "map:msg:OfferConstraints.RoleConstraints"),
    },
    "OfferConstraints.RoleConstraints": {
        "groups": ("rep", "msg:OfferConstraints.Group"),
    },
    "OfferConstraints.Group": {
        "attribute_constraints": ("rep", "msg:AttributeConstraint"),
    },
    "AttributeConstraint": {
        "selector": ("req", "msg:AttributeConstraint.Selector"),
        "predicate": ("req", "msg:AttributeConstraint.Predicate"),
    },
    "AttributeConstraint.Selector": {
        "pseudoattribute_type": ("opt", "enum:Selector.PseudoattributeType"),
        "attribute_name": ("opt", "string"),
    },
    "AttributeConstraint.Predicate": {
        "exists": ("opt", "msg:Empty"),
        "not_exists": ("opt", "msg:Empty"),
        "text_equals": ("opt", "msg:Predicate.Text"),
        "text_not_equals": ("opt", "msg:Predicate.Text"),
        "text_matches": ("opt", "msg:Predicate.Regex"),
        "text_not_matches": ("opt", "msg:Predicate.Regex"),
    },
    "Predicate.Text": {"value": ("req", "string")},
    "Predicate.Regex": {"regex": ("req", "string")},
    "Empty": {},

    # --- mesos.proto: IDs and small messages ----------------------------
    "FrameworkID": dict(_ID), "OfferID": dict(_ID), "AgentID": dict(_ID),
    "TaskID": dict(_ID), "ExecutorID": dict(_ID), "OperationID": dict(_ID),
    "ResourceProviderID": dict(_ID),
    "ContainerID": {
        "value": ("req", "string"),
        "parent": ("opt", "msg:ContainerID"),
    },
    "TimeInfo": {"nanoseconds": ("req", "int64")},
    "DurationInfo": {"nanoseconds": ("req", "int64")},
    "Labels": {"labels": ("rep", "msg:Label")},
    "Label": {"key": ("req", "string"), "value": ("opt", "string")},
    "Parameter": {"key": ("req", "string"), "value": ("req", "string")},
    "Parameters": {"parameter": ("rep", "msg:Parameter")},
    "Filters": {"refuse_seconds": ("opt", "double")},
    "Credential": {
        "principal": ("req", "string"),
        "secret": ("opt", "string"),
    },

    # --- FrameworkInfo ---------------------------------------------------
    "FrameworkInfo": {
        "user": ("req", "string"),
        "name": ("req", "string"),
        "id": ("opt", "msg:FrameworkID"),
        "failover_timeout": ("opt", "double"),
        "checkpoint": ("opt", "bool"),
        "role": ("opt", "string"),
        "roles": ("rep", "string"),
        "hostname": ("opt", "string"),
        "principal": ("opt", "string"),
        "webui_url": ("opt", "string"),
        "capabilities": ("rep", "msg:FrameworkInfo.Capability"),
        "labels": ("opt", "msg:Labels"),
        "offer_filters": ("opt", "map:msg:OfferFilters"),
    },
    "FrameworkInfo.Capability": {
        "type": ("opt", "enum:FrameworkInfo.Capability.Type"),
    },
    "OfferFilters": {
        "min_allocatable_resources":
            ("opt", "msg:OfferFilters.MinAllocatableResources"),
    },
    "OfferFilters.MinAllocatableResources": {
        "quantities": ("rep", "msg:OfferFilters.ResourceQuantities"),
    },
    "OfferFilters.ResourceQuantities": {
        "quantities": ("opt", "map:msg:Value.Scalar"),
    },

    # --- Values, resources -----------------------------------------------
    "Value.Scalar": {"value": ("req", "double")},
    "Value.Range": {"begin": ("req", "uint64"), "end": ("req", "uint64")},
    "Value.Ranges": {"range": ("rep", "msg:Value.Range")},
    "Value.Set": {"item": ("rep", "string")},
    "Value.Text": {"value": ("req", "string")},
    "Resource": {
        "provider_id": ("opt", "msg:ResourceProviderID"),
        "name": ("req", "string"),
        "type": ("req", "enum:Value.Type"),
        "scalar": ("opt", "msg:Value.Scalar"),
        "ranges": ("opt", "msg:Value.Ranges"),
        "set": ("opt", "msg:Value.Set"),
        "role": ("opt", "string"),
        "allocation_info": ("opt", "msg:Resource.AllocationInfo"),
        "reservation": ("opt", "msg:Resource.ReservationInfo"),
        "reservations": ("rep", "msg:Resource.ReservationInfo"),
        "disk": ("opt", "msg:Resource.DiskInfo"),
        "revocable": ("opt", "msg:Empty"),
        "shared": ("opt", "msg:Empty"),
    },
    "Resource.AllocationInfo": {"role": ("opt", "string")},
    "Resource.ReservationInfo": {
        "type": ("opt", "enum:ReservationInfo.Type"),
        "role": ("opt", "string"),
        "principal": ("opt", "string"),
        "labels": ("opt", "msg:Labels"),
    },
    "Resource.DiskInfo": {
        "persistence": ("opt", "msg:Resource.DiskInfo.Persistence"),
        "volume": ("opt", "msg:Volume"),
        "source": ("opt", "msg:Resource.DiskInfo.Source"),
    },
    "Resource.DiskInfo.Persistence": {
        "id": ("req", "string"),
        "principal": ("opt", "string"),
    },
    "Resource.DiskInfo.Source": {
        "type": ("req", "enum:DiskInfo.Source.Type"),
        "path": ("opt", "msg:Resource.DiskInfo.Source.Root"),
        "mount": ("opt", "msg:Resource.DiskInfo.Source.Root"),
        "vendor": ("opt", "string"),
        "id": ("opt", "string"),
        "metadata": ("opt", "msg:Labels"),
        "profile": ("opt", "string"),
    },
    "Resource.DiskInfo.Source.Root": {"root": ("opt", "string")},

    # --- Offer operations -------------------------------------------------
    "Offer.Operation": {
        "type": ("opt", "enum:Offer.Operation.Type"),
        "id": ("opt", "msg:OperationID"),
        "launch": ("opt", "msg:Offer.Operation.Launch"),
        "launch_group": ("opt", "msg:Offer.Operation.LaunchGroup"),
        "reserve": ("opt", "msg:Offer.Operation.Reserve"),
        "unreserve": ("opt", "msg:Offer.Operation.Resources"),
        "create": ("opt", "msg:Offer.Operation.Volumes"),
        "destroy": ("opt", "msg:Offer.Operation.Volumes"),
        "grow_volume": ("opt", "msg:Offer.Operation.GrowVolume"),
        "shrink_volume": ("opt", "msg:Offer.Operation.ShrinkVolume"),
        "create_disk": ("opt", "msg:Offer.Operation.CreateDisk"),
        "destroy_disk": ("opt", "msg:Offer.Operation.DestroyDisk"),
    },
    "Offer.Operation.Launch": {"task_infos": ("rep", "msg:TaskInfo")},
    "Offer.Operation.LaunchGroup": {
        "executor": ("req", "msg:ExecutorInfo"),
        "task_group": ("req", "msg:TaskGroupInfo"),
    },
    "Offer.Operation.Reserve": {
        "source": ("rep", "msg:Resource"),
        "resources": ("rep", "msg:Resource"),
    },
    "Offer.Operation.Resources": {"resources": ("rep", "msg:Resource")},
    "Offer.Operation.Volumes": {"volumes": ("rep", "msg:Resource")},
    "Offer.Operation.GrowVolume": {
        "volume": ("req", "msg:Resource"),
        "addition": ("req", "msg:Resource"),
    },
    "Offer.Operation.ShrinkVolume": {
        "volume": ("req", "msg:Resource"),
        "subtract": ("req", "msg:Value.Scalar"),
    },
    "Offer.Operation.CreateDisk": {
        "source": ("req", "msg:Resource"),
        "target_type": ("req", "enum:DiskInfo.Source.Type"),
        "target_profile": ("opt", "string"),
    },
    "Offer.Operation.DestroyDisk": {"source": ("req", "msg:Resource")},
    "TaskGroupInfo": {"tasks": ("rep", "msg:TaskInfo")},

    # --- Tasks and executors -----------------------------------------------
    "TaskInfo": {
        "name": ("req", "string"),
        "task_id": ("req", "msg:TaskID"),
        "agent_id": ("req", "msg:AgentID"),
        "resources": ("rep", "msg:Resource"),
        "executor": ("opt", "msg:ExecutorInfo"),
        "command": ("opt", "msg:CommandInfo"),
        "container": ("opt", "msg:ContainerInfo"),
        "health_check": ("opt", "msg:HealthCheck"),
        "check": ("opt", "msg:CheckInfo"),
        "kill_policy": ("opt", "msg:KillPolicy"),
        "data": ("opt", "bytes"),
        "labels": ("opt", "msg:Labels"),
        "discovery": ("opt", "msg:DiscoveryInfo"),
        "max_completion_time": ("opt", "msg:DurationInfo"),
        "limits": ("opt", "map:msg:Value.Scalar"),
    },
    "ExecutorInfo": {
        "type": ("opt", "enum:ExecutorInfo.Type"),
        "executor_id": ("req", "msg:ExecutorID"),
        "framework_id": ("opt", "msg:FrameworkID"),
        "command": ("opt", "msg:CommandInfo"),
        "container": ("opt", "msg:ContainerInfo"),
        "resources": ("rep", "msg:Resource"),
        "name": ("opt", "string"),
        "source": ("opt", "string"),
        "data": ("opt", "bytes"),
        "discovery": ("opt", "msg:DiscoveryInfo"),
        "shutdown_grace_period": ("opt", "msg:DurationInfo"),
        "labels": ("opt", "msg:Labels"),
    },
    "CommandInfo": {
        "uris": ("rep", "msg:CommandInfo.URI"),
        "environment": ("opt", "msg:Environment"),
        "shell": ("opt", "bool"),
        "value": ("opt", "string"),
        "arguments": ("rep", "string"),
        "user": ("opt", "string"),
    },
    "CommandInfo.URI": {
        "value": ("req", "string"),
        "executable": ("opt", "bool"),
        "extract": ("opt", "bool"),
        "cache": ("opt", "bool"),
        "output_file": ("opt", "string"),
    },
    "Environment": {"variables": ("rep", "msg:Environment.Variable")},
    "Environment.Variable": {
        "name": ("req", "string"),
        "type": ("opt", "enum:Environment.Variable.Type"),
        "value": ("opt", "string"),
        "secret": ("opt", "msg:Secret"),
    },
    "Secret": {
        "type": ("opt", "enum:Secret.Type"),
        "reference": ("opt", "msg:Secret.Reference"),
        "value": ("opt", "msg:Secret.Value"),
    },
    "Secret.Reference": {
        "name": ("req", "string"),
        "key": ("opt", "string"),
    },
    "Secret.Value": {"data": ("req", "bytes")},
    "KillPolicy": {"grace_period": ("opt", "msg:DurationInfo")},
    "HealthCheck": {
        "delay_seconds": ("opt", "double"),
        "interval_seconds": ("opt", "double"),
        "timeout_seconds": ("opt", "double"),
        "consecutive_failures": ("opt", "uint32"),
        "grace_period_seconds": ("opt", "double"),
        "type": ("opt", "enum:HealthCheck.Type"),
        "command": ("opt", "msg:CommandInfo"),
        "http": ("opt", "msg:HealthCheck.HTTPCheckInfo"),
        "tcp": ("opt", "msg:HealthCheck.TCPCheckInfo"),
    },
    "HealthCheck.HTTPCheckInfo": {
        "protocol": ("opt", "enum:NetworkInfo.Protocol"),
        "scheme": ("opt", "string"),
        "port": ("req", "uint32"),
        "path": ("opt", "string"),
        "statuses": ("rep", "uint32"),
    },
    "HealthCheck.TCPCheckInfo": {
        "protocol": ("opt", "enum:NetworkInfo.Protocol"),
        "port": ("req", "uint32"),
    },
    "CheckInfo": {
        "type": ("opt", "enum:CheckInfo.Type"),
        "command": ("opt", "msg:CheckInfo.Command"),
        "http": ("opt", "msg:CheckInfo.Http"),
        "tcp": ("opt", "msg:CheckInfo.Tcp"),
        "delay_seconds": ("opt", "double"),
        "interval_seconds": ("opt", "double"),
        "timeout_seconds": ("opt", "double"),
    },
    "CheckInfo.Command": {"command": ("req", "msg:CommandInfo")},
    "CheckInfo.Http": {
        "port": ("req", "uint32"),
        "path": ("opt", "string"),
    },
    "CheckInfo.Tcp": {"port": ("req", "uint32")},
    "DiscoveryInfo": {
        "visibility": ("req", "enum:DiscoveryInfo.Visibility"),
        "name": ("opt", "string"),
        "environment": ("opt", "string"),
        "location": ("opt", "string"),
        "version": ("opt", "string"),
        "ports": ("opt", "msg:Ports"),
        "labels": ("opt", "msg:Labels"),
    },
    "Ports": {"ports": ("rep", "msg:Port")},
    "Port": {
        "number": ("req", "uint32"),
        "name": ("opt", "string"),
        "protocol": ("opt", "string"),
        "visibility": ("opt", "enum:DiscoveryInfo.Visibility"),
        "labels": ("opt", "msg:Labels"),
    },

    # --- Containers ----------------------------------------------------------
    "ContainerInfo": {
        "type": ("req", "enum:ContainerInfo.Type"),
        "volumes": ("rep", "msg:Volume"),
        "hostname": ("opt", "string"),
        "docker": ("opt", "msg:ContainerInfo.DockerInfo"),
        "mesos": ("opt", "msg:ContainerInfo.MesosInfo"),
        "network_infos": ("rep", "msg:NetworkInfo"),
        "linux_info": ("opt", "msg:LinuxInfo"),
        "rlimit_info": ("opt", "msg:RLimitInfo"),
        "tty_info": ("opt", "msg:TTYInfo"),
    },
    "ContainerInfo.DockerInfo": {
        "image": ("req", "string"),
        "network": ("opt", "enum:DockerInfo.Network"),
        "port_mappings": ("rep", "msg:PortMapping"),
        "privileged": ("opt", "bool"),
        "parameters": ("rep", "msg:Parameter"),
        "force_pull_image": ("opt", "bool"),
        "volume_driver": ("opt", "string"),
    },
    "PortMapping": {
        "host_port": ("req", "uint32"),
        "container_port": ("req", "uint32"),
        "protocol": ("opt", "string"),
    },
    "ContainerInfo.MesosInfo": {"image": ("opt", "msg:Image")},
    "Image": {
        "type": ("req", "enum:Image.Type"),
        "appc": ("opt", "msg:Image.Appc"),
        "docker": ("opt", "msg:Image.Docker"),
        "cached": ("opt", "bool"),
    },
    "Image.Appc": {
        "name": ("req", "string"),
        "id": ("opt", "string"),
        "labels": ("opt", "msg:Labels"),
    },
    "Image.Docker": {
        "name": ("req", "string"),
        "credential": ("opt", "msg:Credential"),
        "config": ("opt", "msg:Secret"),
    },
    "Volume": {
        "mode": ("req", "enum:Volume.Mode"),
        "container_path": ("req", "string"),
        "host_path": ("opt", "string"),
        "image": ("opt", "msg:Image"),
        "source": ("opt", "msg:Volume.Source"),
    },
    "Volume.Source": {
        "type": ("opt", "enum:Volume.Source.Type"),
        "docker_volume": ("opt", "msg:Volume.Source.DockerVolume"),
        "host_path": ("opt", "msg:Volume.Source.HostPath"),
        "sandbox_path": ("opt", "msg:Volume.Source.SandboxPath"),
        "secret": ("opt", "msg:Secret"),
        "csi_volume": ("opt", "msg:Volume.Source.CSIVolume"),
    },
    "Volume.Source.DockerVolume": {
        "driver": ("opt", "string"),
        "name": ("req", "string"),
        "driver_options": ("opt", "msg:Parameters"),
    },
    "Volume.Source.HostPath": {
        "path": ("req", "string"),
        "mount_propagation": ("opt", "msg:MountPropagation"),
    },
    "MountPropagation": {"mode": ("opt", "enum:MountPropagation.Mode")},
    "Volume.Source.SandboxPath": {
        "type": ("opt", "enum:SandboxPath.Type"),
        "path": ("req", "string"),
    },
    "Volume.Source.CSIVolume": {
        "plugin_name": ("req", "string"),
        "static_provisioning": ("opt", "msg:CSIVolume.StaticProvisioning"),
    },
    "CSIVolume.StaticProvisioning": {
        "volume_id": ("req", "string"),
        "volume_capability": ("req", "msg:CSIVolume.VolumeCapability"),
        "node_stage_secrets": ("opt", "map:msg:Secret"),
        "node_publish_secrets": ("opt", "map:msg:Secret"),
        "volume_context": ("opt", "map:string"),
    },
    "CSIVolume.VolumeCapability": {
        "block": ("opt", "msg:Empty"),
        "mount": ("opt", "msg:CSIVolume.MountVolume"),
        "access_mode": ("req", "msg:CSIVolume.AccessMode"),
    },
    "CSIVolume.MountVolume": {
        "fs_type": ("opt", "string"),
        "mount_flags": ("rep", "string"),
    },
    "CSIVolume.AccessMode": {"mode": ("req", "enum:AccessMode.Mode")},
    "NetworkInfo": {
        "ip_addresses": ("rep", "msg:NetworkInfo.IPAddress"),
        "name": ("opt", "string"),
        "groups": ("rep", "string"),
        "labels": ("opt", "msg:Labels"),
        "port_mappings": ("rep", "msg:PortMapping"),
    },
    "NetworkInfo.IPAddress": {
        "protocol": ("opt", "enum:NetworkInfo.Protocol"),
        "ip_address": ("opt", "string"),
    },
    "LinuxInfo": {
        "capability_info": ("opt", "msg:CapabilityInfo"),
        "bounding_capabilities": ("opt", "msg:CapabilityInfo"),
        "effective_capabilities": ("opt", "msg:CapabilityInfo"),
        "share_pid_namespace": ("opt", "bool"),
        "seccomp": ("opt", "msg:SeccompInfo"),
        "ipc_mode": ("opt", "enum:LinuxInfo.IpcMode"),
        "shm_size": ("opt", "uint32"),
        "share_cgroups": ("opt", "bool"),
    },
    "CapabilityInfo": {
        "capabilities": ("rep", "enum:CapabilityInfo.Capability"),
    },
    "SeccompInfo": {
        "profile_name": ("opt", "string"),
        "unconfined": ("opt", "bool"),
    },
    "RLimitInfo": {"rlimits": ("rep", "msg:RLimitInfo.RLimit")},
    "RLimitInfo.RLimit": {
        "type": ("opt", "enum:RLimit.Type"),
        "hard": ("opt", "uint64"),
        "soft": ("opt", "uint64"),
    },
    "TTYInfo": {"window_size": ("opt", "msg:TTYInfo.WindowSize")},
    "TTYInfo.WindowSize": {
        "rows": ("req", "uint32"),
        "columns": ("req", "uint32"),
    },
}

_INT_RANGES = {
    "int32": (-(2 ** 31), 2 ** 31 - 1),
    "int64": (-(2 ** 63), 2 ** 63 - 1),
    "uint32": (0, 2 ** 32 - 1),
    "uint64": (0, 2 ** 64 - 1),
}

_INT_STRING = re.compile(r"^-?[0-9]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# A JSON number as JSON::parse<JSON::Number> (picojson) reads one, for
# quoted numbers from 1.6.0.
_JSON_NUMBER = re.compile(r"^\s*-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$")
_NUMERIC = ("double", "float") + tuple(_INT_RANGES)


class SchemaError(Exception):
    """A JSON value does not match the message schema (type, unknown key,
    unknown enum name). The text names the field path (strict) or the field
    as stout does (release rules)."""


_DROP = object()   # a value the parser leaves unset (null, unknown enum)


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        return "a JSON array"
    return "a JSON object"


def _kind(value):
    """stout's name of a JSON value kind in "Not expecting a JSON %s"."""
    return _describe(value)[len("a JSON "):]


def _not_expecting(value, name):
    # 3rdparty/stout/include/stout/protobuf.hpp, every Parser visitor
    # (1.4.0 ... 1.11.0): the field's name, not its path.
    return SchemaError("Not expecting a JSON %s for field '%s'"
                       % (_kind(value), name))


def _scalar(value, ftype, name, path, required):
    """One scalar value, converted to what the protobuf would hold.
    Raises SchemaError; returns _DROP for an unknown enum name that the
    release drops."""
    strict = PROFILE.strict
    if isinstance(value, str) and ftype in _NUMERIC + ("bool",):
        # protobuf.hpp Parser::operator()(const JSON::String&)
        if not PROFILE.quoted_scalars:
            raise SchemaError("Not expecting a JSON string for field '%s'"
                              % name)
        if ftype == "bool":
            if value not in ("true", "false"):
                raise SchemaError(
                    "Failed to parse '%s' as a JSON boolean for field '%s'"
                    % (value, name) if not strict else
                    "Field '%s' must be a JSON boolean, got %s"
                    % (path, _describe(value)))
            return value == "true"
        if ftype in ("double", "float") and PROFILE.infinity_strings and \
                value in ("Infinity", "-Infinity"):
            return float(value)
        if not _JSON_NUMBER.match(value):
            if strict:
                raise SchemaError("Field '%s' must be a%s, got %s" % (
                    path, " JSON number" if ftype in ("double", "float")
                    else "n integer (%s)" % ftype, _describe(value)))
            raise SchemaError("Failed to parse '%s' as a JSON number for "
                              "field '%s'" % (value, name))
        value = json_number(value)
    if ftype == "string":
        if not isinstance(value, str):
            if strict:
                raise SchemaError("Field '%s' must be a JSON string, got %s"
                                  % (path, _describe(value)))
            raise _not_expecting(value, name)
        return value
    if ftype == "bytes":
        if not isinstance(value, str):
            if strict:
                raise SchemaError("Field '%s' (bytes) must be a base64 JSON "
                                  "string, got %s" % (path, _describe(value)))
            raise _not_expecting(value, name)
        bad = len(value) % 4 != 0 or not _B64.match(value)
        if not bad:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                bad = True
        if bad:
            if strict:
                raise SchemaError("Field '%s' is not valid standard base64 "
                                  "(with '=' padding)" % path)
            raise SchemaError("Failed to base64 decode bytes field '%s'"
                              % name)
        return value
    if ftype == "bool":
        if not isinstance(value, bool):
            if strict:
                raise SchemaError("Field '%s' must be a JSON boolean, got %s"
                                  % (path, _describe(value)))
            raise _not_expecting(value, name)
        return value
    if ftype in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if strict:
                raise SchemaError("Field '%s' must be a JSON number, got %s"
                                  % (path, _describe(value)))
            raise _not_expecting(value, name)
        return float(value)
    if ftype in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if strict:
                raise SchemaError("Field '%s' must be an integer (%s), got %s"
                                  % (path, ftype, _describe(value)))
            raise _not_expecting(value, name)
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                if strict:
                    raise SchemaError("Field '%s' must be an integer, got %r"
                                      % (path, value))
                # JSON::Number::as<int64_t>(): a C cast, the fraction goes
                return int(value) if math.isfinite(value) else 0
            value = int(value)
        lo, hi = _INT_RANGES[ftype]
        if value < lo or value > hi:
            if strict:
                raise SchemaError("Field '%s' is out of range for %s: %d"
                                  % (path, ftype, value))
            value = value % (2 ** (64 if "64" in ftype else 32))
            if not ftype.startswith("u") and value > hi:
                value -= 2 ** (64 if "64" in ftype else 32)
        return value
    if ftype.startswith("enum:"):
        enum = ftype[5:]
        names = ENUMS[enum]
        if not isinstance(value, str):
            if strict:
                raise SchemaError("Field '%s' must be an enum name string "
                                  "(one of %s), got %s"
                                  % (path, ", ".join(names), _describe(value)))
            raise _not_expecting(value, name)
        if value in names and PROFILE.knows_enum(enum, value):
            return value
        # protobuf.hpp TYPE_ENUM: 1.4.x refuses every unknown name, 1.5.0+
        # only in a required field and drops it elsewhere.
        if not PROFILE.unknown_enum_dropped or required:
            raise SchemaError("Failed to find enum for '%s'" % value)
        if strict:
            raise SchemaError(
                "Unknown enum value '%s' for field '%s' (expected one of %s; "
                "Mesos %s would drop it)" % (value, path, ", ".join(
                    n for n in names if PROFILE.knows_enum(enum, n)),
                    PROFILE.version))
        return _DROP
    raise AssertionError("bad schema type " + ftype)


def json_number(text):
    value = float(text)
    if re.match(r"^\s*-?[0-9]+\s*$", text):
        return int(text)
    return value


def _value(value, ftype, name, path, missing, required):
    if ftype.startswith("msg:"):
        if not isinstance(value, dict):
            if PROFILE.strict:
                raise SchemaError("Field '%s' must be a JSON object, got %s"
                                  % (path or "<root>", _describe(value)))
            raise _not_expecting(value, name)
        return _message(value, ftype[4:], path, missing)
    return _scalar(value, ftype, name, path, required)


def _map(value, ftype, name, path, missing):
    """A protobuf map field (protobuf.hpp 1.6.0+: a JSON object, one entry
    per key; a JSON array of such objects is visited element by element)."""
    objects = [value] if isinstance(value, dict) else value
    if not isinstance(value, (dict, list)) or \
            (PROFILE.strict and not isinstance(value, dict)):
        if PROFILE.strict:
            raise SchemaError("Field '%s' (a map) must be a JSON object, got "
                              "%s" % (path, _describe(value)))
        raise _not_expecting(value, name)
    out = {}
    for obj in objects:
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise _not_expecting(obj, name)
        for key, item in obj.items():
            sub = "%s[%s]" % (path, key)
            if item is None:
                if PROFILE.strict:
                    raise SchemaError("Map entry '%s' must not be null" % sub)
                out.setdefault(key, {} if ftype.startswith("msg:") else "")
                continue
            parsed = _value(item, ftype, "value", sub, missing, False)
            if parsed is not _DROP:
                out[key] = parsed
    return out


def _repeated(value, ftype, name, path, missing, out):
    """Elements of a repeated field (protobuf.hpp Parser::operator()(const
    JSON::Array&) visits each element with the same field: a nested array
    is flattened, null adds nothing, a lone value adds one element)."""
    if not isinstance(value, list):
        if PROFILE.strict:
            raise SchemaError("Field '%s' is repeated and must be a JSON "
                              "array, got %s" % (path, _describe(value)))
        value = [value]
    for item in value:
        item_path = "%s[%d]" % (path, len(out))
        if item is None:
            if PROFILE.strict:
                raise SchemaError("Element '%s' must not be null" % item_path)
            continue
        if isinstance(item, list):
            if PROFILE.strict:
                raise SchemaError("Element '%s' must not be an array"
                                  % item_path)
            _repeated(item, ftype, name, path, missing, out)
            continue
        parsed = _value(item, ftype, name, item_path, missing, False)
        if parsed is not _DROP:
            out.append(parsed)
    return out


def _unknown_key(name, key, path):
    since = PROFILE.field_since(name, key)
    full = path + "." + key if path else key
    if since is not None and not PROFILE.knows_field(name, key):
        return SchemaError("Unknown field '%s' (not in Mesos %s: added in "
                           "%s; the master would ignore it)"
                           % (full, PROFILE.version, since))
    return SchemaError("Unknown field '%s'" % full)


def _message(obj, name, path, missing):
    schema = MESSAGES[name]
    out = {}
    nested = {}
    for key, value in obj.items():
        spec = schema.get(key)
        if spec is None or not PROFILE.knows_field(name, key):
            # stout protobuf.hpp parse(): FindFieldByName() == nullptr is
            # skipped (all releases); strict: refused.
            if PROFILE.strict:
                raise _unknown_key(name, key, path)
            continue
        label, ftype = spec
        sub = path + "." + key if path else key
        if value is None:       # Parser::operator()(const JSON::Null&)
            continue
        found = nested.setdefault(key, [])
        if ftype.startswith("map:"):
            out[key] = _map(value, ftype[4:], key, sub, found)
        elif label == "rep":
            out[key] = _repeated(value, ftype, key, sub, found, [])
        else:
            if isinstance(value, list):
                if PROFILE.strict:
                    raise SchemaError("Field '%s' is not repeated, got a "
                                      "JSON array" % sub)
                raise _not_expecting(value, key)
            parsed = _value(value, ftype, key, sub, found, label == "req")
            if parsed is _DROP:
                out.pop(key, None)
            else:
                out[key] = parsed
    # protobuf InitializationErrorString(): this message's missing required
    # fields, then those of its sub-messages.
    for field, (label, _) in schema.items():
        if label == "req" and field not in out and \
                PROFILE.knows_field(name, field):
            missing.append(path + "." + field if path else field)
    for field in schema:
        missing.extend(nested.get(field, []))
    return out


def parse(obj, name="Call"):
    """Parse a JSON value as message `name` under the release's rules
    (emu_profiles.Profile): returns (message as the master would hold it:
    unknown keys and dropped enum names gone, quoted scalars converted,
    lone values of repeated fields wrapped; missing required field paths
    in protobuf's InitializationErrorString form "a.b[0].c").
    Raises SchemaError for what the release (or --wire-rules strict)
    refuses."""
    if not isinstance(obj, dict):
        raise SchemaError("Expecting a JSON object")
    missing = []
    out = _message(obj, name, "", missing)
    return out, missing


def validate(obj, name="Call"):
    """parse() without the result: the missing required fields."""
    return parse(obj, name)[1]


def as_bool(value, default=False):
    """Decode a bool the way the master does (true/false or strings)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return value == "true"


def as_float(value, default=0.0):
    if value is None:
        return default
    return float(value)


def as_int(value, default=0):
    if value is None:
        return default
    return int(float(value)) if isinstance(value, float) else int(value)
