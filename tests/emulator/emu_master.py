"""State machine of the Mesos master emulator: masters, frameworks, agents,
offers, tasks and their status update streams.

Layout (mirrors the real system):
  Cluster  - process-wide truth: agents, tasks running on them, each task's
             agent-side status update stream, the replicated "registry"
             (agent admitted/unreachable/gone, removed frameworks).
  Master   - one per listening address; at most one is the leader. Holds
             only in-memory master state (frameworks, offers, which agents
             have (re-)registered with it). Losing leadership drops it all,
             as a real master failover does.

Every method that touches state expects `cluster.lock` held unless it says
otherwise. Events are queued on Stream objects; the HTTP layer writes them.
"""

import base64
import collections
import copy
import math
import queue
import re
import shutil
import signal
import socket
import threading
import time
import uuid

import emu_profiles
import emu_resources as R
import emu_schema
import emu_tasks
from emu_util import Timers, ip_to_packed, log, validate_id

TERMINAL = frozenset([
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
    "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
])

MIN_CPUS = 10        # milli-cpus: the allocator's default minimum (0.01)
MIN_MEM = 32000      # milli-MB: 32 MB
MAX_REFUSE = 31536000.0
DEFAULT_REFUSE = 5.0


class Response:
    def __init__(self, status, body="", headers=None, reason=None,
                 stream=None, content_type=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.reason = reason
        self.stream = stream
        self.content_type = content_type


def error_response(status, text):
    return Response(status, text, reason=text)


class Stream:
    """One SUBSCRIBE connection. The HTTP handler thread drains `queue`."""

    def __init__(self, master, client):
        self.id = str(uuid.uuid4())
        self.master = master
        self.client = client
        self.framework_id = None
        self.queue = queue.Queue()
        self.closing = False
        self.subscribed = False
        self.sock = None

    def send(self, event):
        if not self.closing:
            self.queue.put(("event", event))

    def close(self):
        """Flush queued events, end the chunked body, close."""
        if not self.closing:
            self.closing = True
            self.queue.put(("close", None))

    def inject(self, data, what):
        """Queue raw bytes to be written into the body as they are (the
        test composes the RecordIO framing itself: bad records, oversized
        length prefixes, garbage)."""
        if not self.closing:
            self.queue.put(("raw", (data, what)))

    def abort(self):
        """Drop the TCP connection at once (no final chunk)."""
        self.closing = True
        self.queue.put(("abort", None))
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Agent:
    def __init__(self, agent_id, spec, total):
        self.id = agent_id
        self.hostname = spec["hostname"]
        self.ip = spec.get("ip", "127.0.0.1")
        self.port = int(spec.get("port", 5051))
        self.attributes = R.parse_attributes(spec.get("attributes") or [])
        self.domain = spec.get("domain")
        self.total = total          # Pool, canonical, no allocation_info
        self.partitioned = False
        self.gone = False
        self.executors = {}         # (fid, executor_id) -> ExecutorRecord
        self.maintenance = None     # Maintenance, see below

    def has_gpus(self):
        return self.total.scalar_total("gpus") > 0

    def region(self):
        try:
            return self.domain["fault_domain"]["region"]["name"]
        except (KeyError, TypeError):
            return None

    def zone(self):
        try:
            return self.domain["fault_domain"]["zone"]["name"]
        except (KeyError, TypeError):
            return None


class Maintenance:
    """A maintenance window of one agent (master's MachineInfo.unavailability
    plus the allocator's Slave::Maintenance, 1.4.0..1.11.0
    src/master/allocator/mesos/hierarchical.cpp)."""

    def __init__(self, start_ns, duration_ns):
        self.start_ns = start_ns
        self.duration_ns = duration_ns
        self.statuses = {}      # fid -> "ACCEPT"/"DECLINE" (last response)
        self.outstanding = {}   # fid -> inverse offer id (leader's)
        self.filters = {}       # fid -> monotonic expiry (refused inv. offers)

    def unavailability(self):
        # mesos.proto Unavailability {required TimeInfo start; optional
        # DurationInfo duration}; int64 nanoseconds written as JSON numbers,
        # as elsewhere in the emulator (status timestamps).
        out = {"start": {"nanoseconds": self.start_ns}}
        if self.duration_ns is not None:
            out["duration"] = {"nanoseconds": self.duration_ns}
        return out


class ExecutorRecord:
    def __init__(self, info, resources):
        self.info = info
        self.resources = resources
        self.tasks = set()


class HealthState:
    def __init__(self):
        self.failures = 0
        self.seen_success = False
        self.last = None


class Task:
    def __init__(self, framework, agent, info, resources, role, kind):
        self.fid = framework.id
        self.tid = info["task_id"]["value"]
        self.agent = agent
        self.info = info
        self.resources = resources     # canonical, with allocation_info
        self.role = role
        self.kind = kind               # command | docker | image | executor
        self.user = ((info.get("command") or {}).get("user") or
                     framework.info.get("user"))
        self.checkpoint = emu_schema.as_bool(
            framework.info.get("checkpoint"))
        self.killing_capable = framework.has("TASK_KILLING_STATE")
        self.executor_id = None        # custom/default executor, if any
        self.container_id = str(uuid.uuid4())
        self.sandbox = None
        self.env = {}
        self.argv = None
        self.proc = None
        self.pid = None
        self.docker = None             # emu_docker.ContainerRun (podman)
        self.state = "TASK_STAGING"
        self.statuses = []
        self.queue = collections.deque()
        self.retry_timer = None
        self.retry_interval = None
        self.status_update_state = None
        self.status_update_uuid = None
        self.container_status = None
        self.healthy = None
        self.health = HealthState()
        self.health_override = None
        self.health_wake = threading.Event()
        self.done = threading.Event()
        self.killing = False
        self.kill_requested = False
        self.killed_by_health = False
        self.kill_timer = None
        self.kill_deadline = None
        self.forced = None
        self.removed = False
        self.group = None
        self.launched_at = time.time()
        self.acked = 0

    def key(self):
        return (self.fid, self.tid)

    def summary(self):
        return {
            "framework_id": self.fid, "task_id": self.tid,
            "name": self.info.get("name"), "agent_id": self.agent.id,
            "hostname": self.agent.hostname, "kind": self.kind,
            "state": self.state,
            "status_update_state": self.status_update_state,
            "pending_updates": [s["state"] for s in self.queue],
            "acknowledged_updates": self.acked,
            "healthy": self.healthy, "pid": self.pid,
            "sandbox": self.sandbox, "container_id": self.container_id,
            "executor_id": self.executor_id, "role": self.role,
            "user": self.user, "env": self.env, "argv": self.argv,
            "resources": [R.render(r, True) for r in self.resources],
            "states": [s["state"] for s in self.statuses],
            "removed": self.removed,
            "image": (((self.info.get("container") or {}).get("docker") or {})
                      .get("image")),
        }


class Offer:
    def __init__(self, offer_id, fid, agent_id, role, resources):
        self.id = offer_id
        self.fid = fid
        self.agent_id = agent_id
        self.role = role
        self.resources = resources     # canonical, with allocation_info
        self.timer = None
        self.created = time.time()


class Framework:
    def __init__(self, fid, info):
        self.id = fid
        self.info = info
        self.stream = None
        self.filters = []              # [role, agent_id, Pool, deadline]
        self.suppressed = set()
        self.failover_timer = None
        self.failover_deadline = None
        self.offer_constraints = None
        self.registered_time = time.time()

    def caps(self):
        return {c.get("type") for c in self.info.get("capabilities") or []}

    def has(self, cap):
        return cap in self.caps()

    @property
    def pa(self):
        return self.has("PARTITION_AWARE")

    @property
    def connected(self):
        return self.stream is not None

    def roles(self):
        return roles_of(self.info)

    @property
    def principal(self):
        return self.info.get("principal")


def _json_res(resources):
    """Internal resources -> Mesos JSON (post-refinement format)."""
    return [R.render(r, True) for r in resources]


def roles_of(info):
    caps = {c.get("type") for c in info.get("capabilities") or []}
    if "MULTI_ROLE" in caps:
        return list(info.get("roles") or [])
    return [info.get("role") or "*"]


def b64uuid():
    return base64.b64encode(uuid.uuid4().bytes).decode("ascii")


def _duration_ns(message):
    if not message:
        return None
    return emu_schema.as_int(message.get("nanoseconds"))


class Cluster:
    """Process-wide emulator state. See the module docstring."""

    def __init__(self, config, journal):
        self.config = config
        self.journal = journal
        self.lock = threading.RLock()
        self.timers = Timers()
        self.masters = []
        self.servers = {}        # address -> its HTTP server (kill/start)
        self.zk = None           # emu_zk.Group with --zk
        self.docker = None       # emu_docker.Runtime (--docker-runtime podman)
        self.refusals = []       # injected answers to calls (calls/refuse)
        self.call_delays = {}    # call type -> seconds held (calls/delay)
        self.leader = None
        self.external_leader = None
        self.external_location = None   # its MasterInfo hostname:port
        self.unavailable = None
        self.agents = {}
        self.registry = {}
        self.removed_frameworks = set()
        self.tasks = {}
        self.completed = collections.deque(maxlen=2000)
        # Competitor framework (control API /control/competitor): None when
        # stopped, else {"agents": set of hostnames/ids or None (= all),
        # "holdings": {agent_id: [{"task_id", "resources"}]}}.
        self.competitor = None
        self.competitor_counter = 0
        self.agent_prefix = None
        self.agent_counter = 0
        self.stopping = False
        self._alloc_event = threading.Event()
        # hierarchical.cpp allocate(slaveId) (1.4.0; generateOffers(slaveId)
        # 1.11.0): an event about one agent makes it an allocation
        # candidate, an allocation run offers only the candidates; the
        # periodic run (allocation_interval) and framework events take
        # every agent. _alloc_all: the next run takes every agent.
        self._alloc_candidates = set()
        self._alloc_all = False
        self._alloc_thread = threading.Thread(target=self._allocator,
                                              name="allocator", daemon=True)

    # ------------------------------------------------------------ lifecycle
    def start(self, agent_specs):
        with self.lock:
            self.leader = self.masters[0]
            self.leader.elect(initial=True)
            self.agent_prefix = self.leader.id
            for spec in agent_specs:
                self.add_agent(spec)
        self._alloc_thread.start()

    def shutdown(self):
        with self.lock:
            self.stopping = True
            for master in self.masters:
                for fw in master.frameworks.values():
                    if fw.stream is not None:
                        fw.stream.abort()
            procs = []
            for task in list(self.tasks.values()):
                task.done.set()
                task.health_wake.set()
                task.removed = True
                if task.pid is not None:
                    procs.append(task)
        for task in procs:
            emu_tasks.signal_group(task.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for task in procs:
            proc = task.proc
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except Exception:
                pass
            emu_tasks.signal_group(task.pid, signal.SIGKILL)
        if self.docker is not None:
            self.docker.shutdown()     # podman rm -f of all our containers
        self.timers.stop()
        self._alloc_event.set()

    # ---------------------------------------------------------- allocation
    def trigger_allocation(self, agent_id=None):
        """An allocation run soon: of agent_id only (an event about that
        agent: hierarchical.cpp allocate(slaveId)), or of every agent."""
        if agent_id is None:
            self._alloc_all = True
        else:
            self._alloc_candidates.add(agent_id)
        self._alloc_event.set()

    def _allocator(self):
        while not self.stopping:
            woken = self._alloc_event.wait(self.config.allocation_interval)
            self._alloc_event.clear()
            if self.stopping:
                return
            with self.lock:
                # taken under the lock: the triggers of the calls handled
                # meanwhile (under it too) wait for the next run
                every = not woken or self._alloc_all
                only, self._alloc_candidates = self._alloc_candidates, set()
                self._alloc_all = False
                if not every and not only:
                    continue    # taken by the run before
                if self.leader is not None:
                    try:
                        self.leader.allocate(None if every else only)
                    except Exception:
                        log.exception("allocation failed")

    # -------------------------------------------------------------- agents
    def add_agent(self, spec):
        resources = spec.get("resources")
        if isinstance(resources, str):
            resources = R.parse_text(resources)
        total = R.Pool()
        for res in resources or []:
            total.add(R.normalize(res))
        agent_id = "%s-S%d" % (self.agent_prefix, self.agent_counter)
        self.agent_counter += 1
        agent = Agent(agent_id, spec, total)
        self.agents[agent_id] = agent
        self.registry[agent_id] = {"state": "admitted"}
        if self.leader is not None:
            self.leader.registered_agents.add(agent_id)
        self.journal.note("agent_added", agent_id=agent_id,
                          hostname=agent.hostname)
        self.trigger_allocation(agent_id)
        return agent

    def find_agent(self, agent_id=None, hostname=None):
        if agent_id is not None:
            return self.agents.get(agent_id)
        for agent in self.agents.values():
            if agent.hostname == hostname and not agent.gone:
                return agent
        return None

    def agent_unreachable(self, agent):
        if agent.gone or agent.partitioned:
            return
        agent.partitioned = True
        now = time.time()
        self.registry[agent.id] = {"state": "unreachable",
                                   "unreachable_time": now}
        for task in self.tasks.values():
            if task.agent is agent and task.retry_timer is not None:
                task.retry_timer.cancel()
                task.retry_timer = None
        if self.leader is not None:
            self.leader.agent_lost(agent, gone=False, when=now)
        self.journal.note("agent_unreachable", agent_id=agent.id)

    def agent_reregister(self, agent):
        if agent.gone:
            return False
        was = agent.partitioned
        agent.partitioned = False
        self.registry[agent.id] = {"state": "admitted"}
        if self.leader is not None:
            self.leader.register_agent(agent, was_unreachable=was)
        self.journal.note("agent_reregistered", agent_id=agent.id)
        return True

    def agent_remove(self, agent):
        if agent.gone:
            return
        was_unreachable = agent.partitioned
        agent.gone = True
        self.registry[agent.id] = {"state": "gone"}
        if self.leader is not None:
            self.leader.agent_lost(agent, gone=True, when=time.time(),
                                   was_unreachable=was_unreachable)
        for task in [t for t in self.tasks.values() if t.agent is agent]:
            self._discard_task(task, "TASK_GONE_BY_OPERATOR")
        self.competitor_drop_agent(agent)
        self.journal.note("agent_removed", agent_id=agent.id)

    def agent_used(self, agent, live_tasks=None):
        """What tasks, executors and the competitor hold on agent.
        live_tasks: agent's non-terminal tasks when the caller has them at
        hand (Master.allocate indexes them once per allocation); else every
        task is looked at."""
        used = R.Pool()
        if live_tasks is None:
            live_tasks = [t for t in self.tasks.values()
                          if t.agent is agent and t.state not in TERMINAL]
        for task in live_tasks:
            used.add_all(R.strip_allocation(r) for r in task.resources)
        for record in agent.executors.values():
            used.add_all(R.strip_allocation(r) for r in record.resources)
        if self.competitor is not None:
            for held in self.competitor["holdings"].get(agent.id, []):
                used.add_all(held["resources"])
        return used

    # ---------------------------------------------------------- competitor
    # A second framework internal to the emulator (role "*", no reservations
    # of its own) that, at every allocation and before any real framework is
    # offered anything, takes every UNRESERVED resource of its agents that no
    # task, executor or outstanding offer uses, by "launching" a simulated
    # long-running task competitor-<n> holding it. Its tasks are not in
    # self.tasks (no status updates, never visible to real frameworks); they
    # count as used in agent_used(), so every allocation path (offers,
    # filters, re-registration after failover) sees them.
    def competitor_start(self, agents):
        if self.competitor is None:
            self.competitor = {"agents": None, "holdings": {}}
        self.competitor["agents"] = set(agents) if agents is not None \
            else None
        self.journal.note("competitor_started",
                          agents=sorted(agents) if agents is not None
                          else None)
        self.trigger_allocation()

    def competitor_stop(self):
        if self.competitor is None:
            return []
        freed = []
        for agent_id, held in sorted(self.competitor["holdings"].items()):
            for item in held:
                freed.append(item["task_id"])
                self.journal.note("competitor_freed", agent_id=agent_id,
                                  task_id=item["task_id"],
                                  resources=_json_res(item["resources"]))
        self.competitor = None
        self.journal.note("competitor_stopped", tasks=freed)
        self.trigger_allocation()
        return freed

    def competitor_drop_agent(self, agent):
        if self.competitor is None:
            return
        for item in self.competitor["holdings"].pop(agent.id, []):
            self.journal.note("competitor_freed", agent_id=agent.id,
                              task_id=item["task_id"],
                              resources=_json_res(item["resources"]),
                              why="agent_gone")

    def competitor_view(self):
        if self.competitor is None:
            return {"running": False, "agents": None, "holdings": {}}
        holdings = {}
        for agent_id, held in self.competitor["holdings"].items():
            agent = self.agents.get(agent_id)
            holdings[agent_id] = {
                "hostname": agent.hostname if agent else None,
                "tasks": [{"task_id": i["task_id"],
                           "resources": _json_res(i["resources"]),
                           "text": R.describe(i["resources"])}
                          for i in held]}
        wanted = self.competitor["agents"]
        return {"running": True,
                "agents": sorted(wanted) if wanted is not None else None,
                "holdings": holdings}

    def competitor_allocate(self, master, agents):
        """Called by Master.allocate() before the real frameworks."""
        if self.competitor is None:
            return
        wanted = self.competitor["agents"]
        for agent in agents:
            if wanted is not None and agent.id not in wanted and \
                    agent.hostname not in wanted:
                continue
            take = [res for res in master.agent_available(agent).resources()
                    if not res.get("reservations") and "revocable" not in res
                    and "shared" not in res]
            if not take:
                continue
            self.competitor_counter += 1
            task_id = "competitor-%d" % self.competitor_counter
            self.competitor["holdings"].setdefault(agent.id, []).append(
                {"task_id": task_id, "resources": take})
            self.journal.note("competitor_took", agent_id=agent.id,
                              hostname=agent.hostname, task_id=task_id,
                              resources=_json_res(take))

    # --------------------------------------------------------------- tasks
    def visible(self, task, master=None):
        master = master or self.leader
        return (master is not None and not task.agent.partitioned and
                not task.agent.gone and
                task.agent.id in master.registered_agents)

    def launch_task(self, framework, agent, info, resources, role,
                    executor=None, executor_resources=None, group=None):
        kind = emu_tasks.task_kind(info, executor)
        task = Task(framework, agent, info, resources, role, kind)
        if executor is not None:
            task.executor_id = executor["executor_id"]["value"]
            key = (framework.id, task.executor_id)
            record = agent.executors.get(key)
            if record is None:
                record = ExecutorRecord(executor, executor_resources or [])
                agent.executors[key] = record
            record.tasks.add(task.tid)
        task.group = group
        if group is not None:
            group.append(task)
        self.tasks[task.key()] = task
        self.journal.note("task_launched", framework_id=task.fid,
                          task_id=task.tid, agent_id=agent.id, kind=kind)
        emu_tasks.start(self, task, framework)
        return task

    def emit(self, task, state, source, reason=None, message=None,
             healthy=None, data=None):
        """The agent/executor produced a status update for `task`: record
        it, and queue it on the task's status update stream."""
        if task.removed:
            return
        status = {
            "task_id": {"value": task.tid},
            "state": state,
            "source": source,
            "agent_id": {"value": task.agent.id},
            "executor_id": {"value": task.executor_id or task.tid},
            "timestamp": round(time.time(), 6),
            "uuid": b64uuid(),
        }
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        if healthy is not None:
            status["healthy"] = healthy
            task.healthy = healthy
        if data is not None:
            status["data"] = data
        if task.container_status is not None:
            status["container_status"] = copy.deepcopy(task.container_status)
        check = task.info.get("check")
        if check and check.get("type") in ("COMMAND", "HTTP", "TCP"):
            kind = check["type"].lower()
            status["check_status"] = {"type": check["type"], kind: {}}
        task.state = state
        task.statuses.append(status)
        if state in TERMINAL:
            self._on_terminal(task)
        task.queue.append(status)
        if len(task.queue) == 1:
            task.retry_interval = self.config.update_retry
            self.forward_head(task)

    def _on_terminal(self, task):
        task.done.set()
        task.health_wake.set()
        if task.kill_timer is not None:
            task.kill_timer.cancel()
            task.kill_timer = None
        if task.executor_id is not None:
            key = (task.fid, task.executor_id)
            record = task.agent.executors.get(key)
            if record is not None:
                record.tasks.discard(task.tid)
                if not record.tasks:
                    del task.agent.executors[key]
        self.trigger_allocation(task.agent.id)

    def forward_head(self, task):
        """Send the head of the task's update stream to the leader (and so
        to the framework), and arm the agent's retry timer."""
        if not task.queue or task.removed:
            return
        if task.retry_timer is not None:
            task.retry_timer.cancel()
            task.retry_timer = None
        if not self.visible(task):
            return
        status = task.queue[0]
        self.leader.forward_update(task, status)
        interval = task.retry_interval or self.config.update_retry
        task.retry_timer = self.timers.schedule(
            interval, lambda: self._retry(task, status["uuid"]),
            "update-retry")

    def _retry(self, task, status_uuid):
        with self.lock:
            if not task.queue or task.queue[0]["uuid"] != status_uuid:
                return
            task.retry_interval = min(
                (task.retry_interval or self.config.update_retry) * 2,
                self.config.update_retry_max)
            self.journal.note("update_resend", framework_id=task.fid,
                              task_id=task.tid, uuid=status_uuid,
                              state=task.queue[0]["state"])
            task.retry_timer = None
            self.forward_head(task)

    def resume_updates(self, fid=None, agent=None):
        for task in list(self.tasks.values()):
            if fid is not None and task.fid != fid:
                continue
            if agent is not None and task.agent is not agent:
                continue
            if task.queue:
                task.retry_interval = self.config.update_retry
                self.forward_head(task)

    def acknowledge(self, fid, agent_id, task_id, raw_uuid):
        """Scheduler ACK forwarded to the agent. Returns None when it
        matched the pending update, else why it was ignored."""
        task = self.tasks.get((fid, task_id))
        if task is None:
            return "task is unknown (or already completed)"
        if task.agent.id != agent_id:
            return "task runs on agent %s, not %s" % (task.agent.id, agent_id)
        if not self.visible(task):
            return "agent is not reachable; acknowledgement dropped"
        if not task.queue:
            return "no status update is pending for this task"
        head = task.queue[0]
        if base64.b64decode(head["uuid"]) != raw_uuid:
            return ("unexpected uuid (the pending update has %s)"
                    % head["uuid"])
        task.queue.popleft()
        task.acked += 1
        if task.retry_timer is not None:
            task.retry_timer.cancel()
            task.retry_timer = None
        if task.queue:
            task.retry_interval = self.config.update_retry
            self.forward_head(task)
        elif task.state in TERMINAL:
            self._complete(task)
        return None

    def _complete(self, task):
        self.tasks.pop(task.key(), None)
        self.completed.append(task)

    def _discard_task(self, task, final_state):
        """The task disappears without further updates (framework removed,
        agent gone): its processes are killed, its stream dropped."""
        task.removed = True
        task.done.set()
        task.health_wake.set()
        for timer in (task.retry_timer, task.kill_timer):
            if timer is not None:
                timer.cancel()
        task.queue.clear()
        if task.state not in TERMINAL:
            task.state = final_state
        if task.pid is not None:
            emu_tasks.signal_group(task.pid, signal.SIGKILL)
        if task.docker is not None:
            task.docker.remove()
        if task.executor_id is not None:
            task.agent.executors.pop((task.fid, task.executor_id), None)
        self.tasks.pop(task.key(), None)
        self.completed.append(task)
        self.trigger_allocation(task.agent.id)

    def kill_framework_tasks(self, fid):
        for task in [t for t in self.tasks.values() if t.fid == fid]:
            self._discard_task(task, "TASK_KILLED")

    def kill_task(self, task, grace_ns=None):
        if task.state in TERMINAL:
            self.journal.note("kill_ignored", framework_id=task.fid,
                              task_id=task.tid, why="task is terminal")
            return
        if task.state == "TASK_STAGING":
            task.kill_requested = True
            return
        if grace_ns is None:
            grace_ns = _duration_ns((task.info.get("kill_policy") or {})
                                    .get("grace_period"))
        grace = (self.config.default_kill_grace if grace_ns is None
                 else max(0.0, grace_ns / 1e9))
        if task.killing:
            deadline = time.monotonic() + grace
            if task.kill_deadline is None or deadline < task.kill_deadline:
                if task.docker is not None:
                    task.kill_deadline = deadline
                    task.docker.stop(grace)
                else:
                    self._arm_kill(task, grace)
            return
        task.killing = True
        if task.killing_capable:
            self.emit(task, "TASK_KILLING", "SOURCE_EXECUTOR")
        if task.docker is not None:
            # emu_docker: `podman stop -t <grace>` (docker executor)
            task.kill_deadline = time.monotonic() + grace
            task.docker.stop(grace)
        elif task.pid is not None:
            emu_tasks.signal_group(task.pid, signal.SIGTERM)
            self._arm_kill(task, grace)
        else:
            delay = min(grace, self.config.docker_stop_delay)
            self.timers.schedule(delay, lambda: self._simulated_killed(task),
                                 "simulated-kill")
        if task.group:
            for other in task.group:
                if other is not task and other.state not in TERMINAL:
                    self.kill_task(other, grace_ns)

    def _arm_kill(self, task, grace):
        if task.kill_timer is not None:
            task.kill_timer.cancel()
        task.kill_deadline = time.monotonic() + grace

        def force():
            with self.lock:
                if task.pid is not None and task.state not in TERMINAL:
                    emu_tasks.signal_group(task.pid, signal.SIGKILL)
        task.kill_timer = self.timers.schedule(grace, force, "kill-escalate")

    def _simulated_killed(self, task):
        with self.lock:
            if task.state in TERMINAL or task.removed:
                return
            healthy = False if task.killed_by_health else None
            self.emit(task, "TASK_KILLED", "SOURCE_EXECUTOR",
                      message="Container was stopped", healthy=healthy)

    def process_exited(self, task, returncode):
        if task.kill_timer is not None:
            task.kill_timer.cancel()
            task.kill_timer = None
        emu_tasks.signal_group(task.pid, signal.SIGKILL)
        if task.removed or task.state in TERMINAL:
            return
        text = emu_tasks.describe_exit(returncode)
        if task.forced is not None:
            state, message, reason = task.forced
            self.emit(task, state, "SOURCE_EXECUTOR", reason=reason,
                      message=message)
        elif task.killing:
            self.emit(task, "TASK_KILLED", "SOURCE_EXECUTOR",
                      message="Command " + text,
                      healthy=False if task.killed_by_health else None)
        elif returncode == 0:
            self.emit(task, "TASK_FINISHED", "SOURCE_EXECUTOR",
                      message="Command " + text)
        else:
            self.emit(task, "TASK_FAILED", "SOURCE_EXECUTOR",
                      message="Command " + text)

    def force_end(self, task, state, message=None, reason=None):
        """Control API: make a task finish or fail."""
        if task.state in TERMINAL:
            return False
        if message is None:
            if task.kind == "command":
                message = ("Command exited with status 0"
                           if state == "TASK_FINISHED"
                           else "Command exited with status 1")
            else:
                message = ("Container exited with status 0"
                           if state == "TASK_FINISHED"
                           else "Container exited with status 1")
        if task.pid is not None and task.proc is not None:
            task.forced = (state, message, reason)
            emu_tasks.signal_group(task.pid, signal.SIGKILL)
        elif task.docker is not None:
            task.forced = (state, message, reason)
            task.docker.kill()
        else:
            self.emit(task, state, "SOURCE_EXECUTOR", reason=reason,
                      message=message)
        return True

    def health_result(self, task, healthy, started, grace):
        """One health check result, interpreted as the built-in executors
        do (docs §6.4)."""
        check = task.info.get("health_check") or {}
        max_failures = emu_schema.as_int(check.get("consecutive_failures"), 3)
        state = task.health
        if healthy:
            state.failures = 0
            if not state.seen_success or state.last is False:
                self.emit(task, "TASK_RUNNING", "SOURCE_EXECUTOR",
                          reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
                          healthy=True)
            state.seen_success = True
            state.last = True
            return
        if not state.seen_success and time.monotonic() - started < grace:
            return
        state.failures += 1
        state.last = False
        self.emit(task, "TASK_RUNNING", "SOURCE_EXECUTOR",
                  reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
                  healthy=False, message="Health check failed")
        if state.failures >= max_failures:
            task.killed_by_health = True
            self.kill_task(task)

    # ----------------------------------------------------------- leadership
    def leader_address(self):
        if self.leader is not None:
            return self.leader.address
        return self.external_leader

    def leader_location(self):
        """Where a redirect points: the leader's MasterInfo hostname and
        port (src/master/http.cpp Master::Http::redirect())."""
        if self.leader is not None:
            return "%s:%d" % (self.config.hostname or self.leader.host,
                              self.leader.port)
        return self.external_location or self.external_leader

    def move_leader(self, address, location=None, follow_zk=False):
        """Make the master at `address` lead (one of ours, or another
        process's: then we redirect to it), None = no leader. With --zk the
        group decides (emu_zk.Group.elect calls this with follow_zk=True);
        a control request re-orders the group so that it agrees."""
        if self.zk is not None and not follow_zk:
            self.zk.request_leader(self, address)
            return
        ours = any(m.address == address for m in self.masters)
        if self.leader is None and not ours and \
                self.external_leader == address:
            # no change (a foreign leader, or none, as before)
            if address is not None and location:
                self.external_location = location
            return
        old = self.leader
        target = None
        for master in self.masters:
            if address is not None and master.address == address:
                target = master
        if old is not None and old is not target:
            old.resign()
        elif old is not None and old is target:
            return
        self.leader = target
        self.external_leader = None if target is not None else address
        self.external_location = None if target is not None else \
            (location or address)
        if target is not None:
            target.elect(initial=False)
        self.journal.note("leader_changed", leader=address)

    def take_refusal(self, call_type):
        """An injected answer for the next call of this type, if any."""
        for r in self.refusals:
            if r["type"] == call_type and r["count"] > 0:
                r["count"] -= 1
                return r
        return None

    def consume_unavailable(self):
        if self.unavailable is None:
            return None
        message = self.unavailable["message"]
        remaining = self.unavailable["remaining"]
        if remaining is not None:
            remaining -= 1
            if remaining <= 0:
                self.unavailable = None
            else:
                self.unavailable["remaining"] = remaining
        return message


class Master:
    def __init__(self, cluster, host, port):
        self.cluster = cluster
        self.host = host
        self.port = port
        self.id = None
        self.frameworks = {}
        self.offers = {}
        self.inverse_offers = {}    # inverse offer id -> (fid, agent id)
        self.registered_agents = set()
        self.offer_counter = 0
        self.framework_counter = 0
        self.elected_time = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def config(self):
        return self.cluster.config

    @property
    def journal(self):
        return self.cluster.journal

    # ---------------------------------------------------------- leadership
    def elect(self, initial):
        self.id = str(uuid.uuid4())
        self.frameworks = {}
        self.offers = {}
        self.inverse_offers = {}
        for agent in self.cluster.agents.values():
            if agent.maintenance is not None:
                agent.maintenance.outstanding = {}
        self.offer_counter = 0
        self.framework_counter = 0
        self.elected_time = time.time()
        self.registered_agents = set()
        if initial:
            return
        delay = self.config.reregister_delay
        my_id = self.id
        self.cluster.timers.schedule(delay, lambda: self._reregister_all(my_id),
                                     "agent-reregistration")

    def _reregister_all(self, term):
        with self.cluster.lock:
            if self.cluster.leader is not self or self.id != term:
                return
            for agent in self.cluster.agents.values():
                if not agent.gone and not agent.partitioned:
                    self.register_agent(agent)

    def reregister_now(self):
        for agent in self.cluster.agents.values():
            if not agent.gone and not agent.partitioned:
                self.register_agent(agent)

    def register_agent(self, agent, was_unreachable=False):
        self.registered_agents.add(agent.id)
        if was_unreachable:
            self.agent_back(agent)
        self.cluster.resume_updates(agent=agent)
        self.cluster.trigger_allocation(agent.id)

    def agent_back(self, agent):
        """An unreachable agent reregistered. From 1.5.0 the master sends,
        for each of its tasks, an update with the task's current state
        (src/master/master.cpp Master::__reregisterSlave, commit 5e5a8102c
        "Send status updates when an unreachable agent re-registers": source
        SOURCE_MASTER, reason REASON_SLAVE_REREGISTERED, message
        "Unreachable agent re-reregistered"); 1.4.0 sends nothing, so a
        framework only learns it by reconciling."""
        if not emu_profiles.at_least(self.config.version, "1.5.0"):
            return
        for task in list(self.cluster.tasks.values()):
            if task.agent is not agent or task.state in TERMINAL:
                continue
            fw = self.frameworks.get(task.fid)
            if fw is None:
                continue
            # protobuf::getTaskHealth(task): the last health it reported
            extra = ({"healthy": task.healthy}
                     if task.healthy is not None else None)
            self.master_update(fw, task.tid, task.state,
                               "REASON_SLAVE_REREGISTERED",
                               "Unreachable agent re-reregistered",
                               agent_id=agent.id, extra=extra)

    def resign(self):
        for fw in self.frameworks.values():
            if fw.failover_timer is not None:
                fw.failover_timer.cancel()
            if fw.stream is not None:
                fw.stream.abort()
                fw.stream = None
        for offer in self.offers.values():
            if offer.timer is not None:
                offer.timer.cancel()
        self.frameworks = {}
        self.offers = {}
        self.inverse_offers = {}
        self.registered_agents = set()
        self.id = None

    def master_info(self):
        ip = self.host
        try:
            socket.inet_aton(ip)
        except OSError:
            ip = "127.0.0.1"
        hostname = self.config.hostname or self.host
        info = {
            "id": self.id, "ip": ip_to_packed(ip), "port": self.port,
            "pid": "master@%s:%d" % (ip, self.port), "hostname": hostname,
            "version": self.config.version,
            "address": {"hostname": hostname, "ip": ip, "port": self.port},
        }
        caps = emu_schema.PROFILE.master_capabilities
        if caps:
            info["capabilities"] = [{"type": c} for c in caps]
        if self.config.region:
            info["domain"] = {"fault_domain": {
                "region": {"name": self.config.region},
                "zone": {"name": self.config.zone or self.config.region}}}
        return info

    def agent_status(self, agent_id):
        entry = self.cluster.registry.get(agent_id)
        if entry is None:
            return "unknown"
        if entry["state"] in ("gone", "unreachable"):
            return entry["state"]
        if agent_id in self.registered_agents:
            return "registered"
        return "recovered"

    # --------------------------------------------------------- call checks
    def framework_for_call(self, fid, stream_id, principal):
        """Common checks of every non-SUBSCRIBE call (docs §1.3, §1.4).
        Returns a Framework or an error Response."""
        fw = self.frameworks.get(fid)
        if fw is None:
            recovered = any(t.fid == fid and self.cluster.visible(t, self)
                            for t in self.cluster.tasks.values())
            if recovered:
                return error_response(403, "Framework is not subscribed")
            return error_response(400, "Framework cannot be found")
        if principal is not None and principal != fw.principal:
            return error_response(
                400, "Authenticated principal '%s' does not match principal "
                "'%s' set in `FrameworkInfo`" % (principal, fw.principal))
        if not fw.connected:
            return error_response(403, "Framework is not subscribed")
        if stream_id is None:
            return error_response(
                400, "All non-subscribe calls should include the "
                "'Mesos-Stream-Id' header")
        if stream_id != fw.stream.id:
            return error_response(
                400, "The stream ID '%s' included in this request didn't "
                "match the stream ID currently associated with framework ID "
                "%s" % (stream_id, fid))
        return fw

    def validate_framework_info(self, info, suppressed, constraints):
        caps = {c.get("type") for c in info.get("capabilities") or []}
        multi = "MULTI_ROLE" in caps
        if multi and info.get("role") is not None:
            return ("'FrameworkInfo.role' must not be set when the framework "
                    "is MULTI_ROLE capable")
        if not multi and info.get("roles"):
            return ("'FrameworkInfo.roles' must not be set when the framework "
                    "is not MULTI_ROLE capable")
        roles = roles_of(info)
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            return ("'FrameworkInfo.roles' contains duplicate items: %s"
                    % ", ".join(duplicates))
        for role in roles:
            error = R.validate_role(role)
            if error:
                return "Invalid role '%s': %s" % (role, error)
        # src/master/master.cpp Master::subscribe(HttpConnection, ...)
        # (validateFrameworkSubscription() from 1.9.0): stringify(set)
        invalid = sorted({r for r in roles if self.config.roles is not None
                          and r != "*" and r not in self.config.roles})
        if invalid:
            return "Roles { %s } are not present in %smaster's --roles" % (
                ", ".join(invalid),
                "the " if emu_schema.PROFILE.roles_the else "")
        if not info.get("user") and emu_schema.PROFILE.strict:
            return "'FrameworkInfo.user' must not be empty"
        if info.get("id") is not None:
            error = validate_id(info["id"].get("value"), "FrameworkID")
            if error:
                return "Invalid 'FrameworkInfo.id': %s" % error
        for role in suppressed or []:
            if role not in roles:
                return ("Suppressed role '%s' is not contained in the list of "
                        "roles" % role)
        for role, filters in (info.get("offer_filters") or {}).items():
            if role not in roles:
                return ("Offer filters are specified for role '%s' that the "
                        "framework is not subscribed to" % role)
            mins = (filters.get("min_allocatable_resources") or {})
            for quantities in mins.get("quantities") or []:
                for name, scalar in (quantities.get("quantities") or
                                     {}).items():
                    value = emu_schema.as_float(scalar.get("value"))
                    if not math.isfinite(value) or value < 0:
                        return ("Invalid offer filter quantity for '%s' in "
                                "role '%s'" % (name, role))
        for role, rc in ((constraints or {}).get("role_constraints") or
                         {}).items():
            if role not in roles:
                return ("Offer constraints specified for role '%s' which the "
                        "framework is not subscribed to" % role)
            for group in rc.get("groups") or []:
                for constraint in group.get("attribute_constraints") or []:
                    error = _validate_constraint(constraint)
                    if error:
                        return "Invalid offer constraint: " + error
        return None

    @staticmethod
    def failover_timeout_error(info):
        """master.cpp isValidFailoverTimeout(): Duration::create() of it
        (stout duration.hpp: in int64 nanoseconds' range; negative is
        valid). --wire-rules strict also refuses negative ones."""
        timeout = emu_schema.as_float(info.get("failover_timeout"), 0.0)
        bad = not math.isfinite(timeout) or abs(timeout) * 1e9 > 2 ** 63 - 1
        if emu_schema.PROFILE.strict and timeout < 0:
            bad = True
        if bad:
            return ("The framework failover_timeout (%g) is invalid"
                    % timeout)
        return None

    # ------------------------------------------------------------ subscribe
    def subscribe(self, call, principal, client):
        sub = call["subscribe"]
        info = copy.deepcopy(sub["framework_info"])
        if principal is not None and info.get("principal") is None:
            info["principal"] = principal
        stream = Stream(self, client)
        suppressed = list(sub.get("suppressed_roles") or [])
        constraints = sub.get("offer_constraints")
        error = self.validate_framework_info(info, suppressed, constraints)
        fid = (info.get("id") or {}).get("value")
        # master.cpp (1.4.0 ... 1.11.0): a removed framework's ID is
        # refused after the role checks and before the failover_timeout one
        if error is None and fid in self.cluster.removed_frameworks:
            error = "Framework has been removed"
        if error is None:
            error = self.failover_timeout_error(info)
        existing = self.frameworks.get(fid) if fid else None
        if error is None and existing is not None and \
                existing.principal != info.get("principal"):
            if emu_schema.PROFILE.principal_change_refused:
                # src/master/validation.cpp validateUpdate() from 1.9.0
                error = "Changing framework's principal is not allowed."
            else:
                # master.hpp Framework::update() before 1.9.0: a warning,
                # the old principal stays
                info["principal"] = existing.principal
        if error is not None:
            stream.send({"type": "ERROR", "error": {"message": error}})
            stream.close()
            self.journal.note("subscribe_refused", framework_id=fid,
                              error=error, stream_id=stream.id)
            return stream, error

        cleared = set()
        if existing is not None:
            # src/master/allocator/mesos/hierarchical.cpp updateFramework()
            # on a re-SUBSCRIBE: decline filters stay, except those of roles
            # no longer subscribed; 1.4.x also erases those of roles that
            # became suppressed, 1.9.0+ those of roles no longer suppressed
            # (reviveRoles()). A disconnected framework has none left
            # (stream_ended: deactivateFramework() cleared them).
            old_roles, new_roles = set(existing.roles()), set(roles_of(info))
            old_supp, new_supp = existing.suppressed, set(suppressed)
            cleared = old_roles - new_roles
            if emu_schema.PROFILE.suppress_clears_filters:
                cleared |= new_supp - old_supp
            if emu_schema.PROFILE.unsuppress_clears_filters:
                cleared |= (old_supp - new_supp) & new_roles
        if existing is None:
            if fid is None:
                fid = "%s-%04d" % (self.id, self.framework_counter)
                self.framework_counter += 1
            info["id"] = {"value": fid}
            fw = Framework(fid, info)
            self.frameworks[fid] = fw
        else:
            fw = existing
            if fw.stream is not None:
                old = fw.stream
                fw.stream = None
                old.send({"type": "ERROR",
                          "error": {"message": "Framework failed over"}})
                old.close()
            if fw.failover_timer is not None:
                fw.failover_timer.cancel()
                fw.failover_timer = None
                fw.failover_deadline = None
            # user and checkpoint cannot change; other fields are updated.
            info["user"] = fw.info.get("user")
            if "checkpoint" in fw.info:
                info["checkpoint"] = fw.info["checkpoint"]
            else:
                info.pop("checkpoint", None)
            info["id"] = {"value": fid}
            fw.info = info
            for offer in [o for o in self.offers.values() if o.fid == fid]:
                self.remove_offer(offer)
        fw.filters = [f for f in fw.filters if f[0] not in cleared]
        fw.suppressed = set(suppressed)
        fw.offer_constraints = constraints
        fw.stream = stream
        stream.framework_id = fid
        stream.subscribed = True
        caps_killing = fw.has("TASK_KILLING_STATE")
        for task in self.cluster.tasks.values():
            if task.fid == fid:
                task.killing_capable = caps_killing
        stream.send({"type": "SUBSCRIBED", "subscribed": {
            "framework_id": {"value": fid},
            "heartbeat_interval_seconds":
                float(self.config.heartbeat_interval),
            "master_info": self.master_info()}})
        stream.send({"type": "HEARTBEAT"})
        self.journal.note("framework_subscribed", framework_id=fid,
                          stream_id=stream.id, failover=existing is not None)
        self.cluster.resume_updates(fid=fid)
        self.cluster.trigger_allocation()
        return stream, None

    def stream_ended(self, stream, why):
        """The SUBSCRIBE connection is gone (client EOF, write error,
        dropped by the control API)."""
        fid = stream.framework_id
        fw = self.frameworks.get(fid)
        if fw is None or fw.stream is not stream:
            return
        fw.stream = None
        for offer in [o for o in self.offers.values() if o.fid == fid]:
            self.remove_offer(offer)
        # master.cpp deactivate(framework): its inverse offers are removed.
        for io_id in [i for i, (f, _) in self.inverse_offers.items()
                      if f == fid]:
            self.drop_inverse_offer(io_id, rescind=False)
        fw.filters = []
        timeout = emu_schema.as_float(fw.info.get("failover_timeout"), 0.0)
        if self.config.failover_max is not None:
            timeout = min(timeout, self.config.failover_max)
        fw.failover_deadline = time.time() + timeout
        term = self.id
        fw.failover_timer = self.cluster.timers.schedule(
            timeout, lambda: self._failover_expired(fid, term),
            "failover-timeout")
        self.journal.note("framework_disconnected", framework_id=fid,
                          stream_id=stream.id, why=why,
                          failover_timeout=timeout)
        self.cluster.trigger_allocation()

    def _failover_expired(self, fid, term):
        with self.cluster.lock:
            if self.id != term:
                return
            fw = self.frameworks.get(fid)
            if fw is None or fw.connected:
                return
            self.remove_framework(fw, "failover timeout expired")

    def expire_failover(self, fid):
        fw = self.frameworks.get(fid)
        if fw is None or fw.connected:
            return False
        self.remove_framework(fw, "failover timeout expired (control API)")
        return True

    def remove_framework(self, fw, why):
        if fw.failover_timer is not None:
            fw.failover_timer.cancel()
            fw.failover_timer = None
        for offer in [o for o in self.offers.values() if o.fid == fw.id]:
            self.remove_offer(offer)
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        self.cluster.kill_framework_tasks(fw.id)
        self.frameworks.pop(fw.id, None)
        self.cluster.removed_frameworks.add(fw.id)
        self.journal.note("framework_removed", framework_id=fw.id, why=why)
        self.cluster.trigger_allocation()

    # --------------------------------------------------------------- events
    def forward_update(self, task, status):
        task.status_update_state = status["state"]
        task.status_update_uuid = status.get("uuid")
        fw = self.frameworks.get(task.fid)
        if fw is not None and fw.stream is not None:
            fw.stream.send({"type": "UPDATE", "update": {"status": status}})

    def master_update(self, fw, task_id, state, reason, message,
                      agent_id=None, extra=None):
        """A status update made by the master: no uuid, never retried."""
        status = {"task_id": {"value": task_id}, "state": state,
                  "source": "SOURCE_MASTER", "reason": reason,
                  "timestamp": round(time.time(), 6)}
        if message:
            status["message"] = message
        if agent_id:
            status["agent_id"] = {"value": agent_id}
        if extra:
            status.update(extra)
        if fw.stream is not None:
            fw.stream.send({"type": "UPDATE", "update": {"status": status}})

    # -------------------------------------------------------------- offers
    def remove_offer(self, offer, rescind=False):
        self.offers.pop(offer.id, None)
        if offer.timer is not None:
            offer.timer.cancel()
            offer.timer = None
        if rescind:
            fw = self.frameworks.get(offer.fid)
            if fw is not None and fw.stream is not None:
                fw.stream.send({"type": "RESCIND", "rescind": {
                    "offer_id": {"value": offer.id}}})
        self.cluster.trigger_allocation(offer.agent_id)

    def rescind_offers(self, offer_id=None):
        count = 0
        for offer in list(self.offers.values()):
            if offer_id is None or offer.id == offer_id:
                self.remove_offer(offer, rescind=True)
                count += 1
        return count

    def _offer_expired(self, offer_id):
        with self.cluster.lock:
            offer = self.offers.get(offer_id)
            if offer is None:
                return
            self.journal.note("offer_timeout", offer_id=offer_id,
                              framework_id=offer.fid)
            self.remove_offer(offer, rescind=True)

    def agent_available(self, agent, index=None):
        """agent's total minus what tasks, executors and outstanding
        offers hold. index: an _alloc_index() (the same answer without
        walking every task and offer of the cluster)."""
        available = agent.total.copy()
        if index is None:
            used = self.cluster.agent_used(agent)
            offers = [o for o in self.offers.values()
                      if o.agent_id == agent.id]
        else:
            used = self.cluster.agent_used(
                agent, index["tasks"].get(id(agent), ()))
            offers = index["offers"].get(agent.id, ())
        available.subtract_all(used.resources())
        for offer in offers:
            available.subtract_all(R.strip_allocation(r)
                                   for r in offer.resources)
        return available

    def _alloc_index(self):
        """Per-agent views built once per allocation: outstanding offers
        and live tasks by agent id. An allocation walked every offer and
        task (and every filter) for each agent: quadratic, minutes per
        allocation with 10,000 agents, under the cluster lock. Same
        answers; allocate() adds the offers it makes as it goes."""
        offers, tasks = {}, {}      # agent id -> offers, id(Agent) -> tasks
        for o in self.offers.values():
            offers.setdefault(o.agent_id, []).append(o)
        for t in self.cluster.tasks.values():
            if t.state not in TERMINAL:
                # by the Agent object, as agent_used() compares them
                tasks.setdefault(id(t.agent), []).append(t)
        return {"offers": offers, "tasks": tasks}

    def _live_filters(self, fw):
        """Drop fw's expired filters; its live ones by (role, agent id)."""
        now = time.monotonic()
        fw.filters = [f for f in fw.filters if f[3] > now]
        by = {}
        for f in fw.filters:
            by.setdefault((f[0], f[1]), []).append(f[2])
        return by

    def _filtered(self, fw, role, agent, resources, live=None):
        """A live filter of fw's for (role, agent) that holds all of
        resources. live: a _live_filters(fw) taken in this allocation."""
        if live is None:
            live = self._live_filters(fw)
        candidate = [R.strip_allocation(r) for r in resources]
        for pool in live.get((role, agent.id), ()):
            if pool.contains_all(candidate):
                return True
        return False

    def add_filter(self, fw, role, agent_id, resources, filters):
        refuse = DEFAULT_REFUSE
        if filters and filters.get("refuse_seconds") is not None:
            refuse = emu_schema.as_float(filters["refuse_seconds"])
            if not math.isfinite(refuse) and refuse > 0:
                refuse = MAX_REFUSE
            if refuse < 0 or math.isnan(refuse):
                refuse = DEFAULT_REFUSE
        refuse = min(refuse, MAX_REFUSE)
        if refuse == 0 or not resources:
            return
        pool = R.Pool(R.strip_allocation(r) for r in resources)
        fw.filters.append([role, agent_id, pool, time.monotonic() + refuse])
        self.cluster.timers.schedule(
            refuse, lambda: self.cluster.trigger_allocation(agent_id),
            "filter-expiry")

    def _allocatable(self, fw, role, resources):
        pool = R.Pool(resources)
        cpus = pool.scalar_total("cpus")
        mem = pool.scalar_total("mem")
        filters = (fw.info.get("offer_filters") or {}).get(role)
        mins = ((filters or {}).get("min_allocatable_resources") or
                {}).get("quantities")
        if mins:
            for quantities in mins:
                ok = True
                for name, scalar in (quantities.get("quantities") or
                                     {}).items():
                    needed = R.milli(emu_schema.as_float(scalar.get("value")))
                    if pool.scalar_total(name) < needed:
                        ok = False
                if ok:
                    return True
            return False
        return cpus >= MIN_CPUS or mem >= MIN_MEM

    def _constraints_match(self, fw, role, agent):
        rc = ((fw.offer_constraints or {}).get("role_constraints") or
              {}).get(role)
        if not rc or not rc.get("groups"):
            return True
        for group in rc["groups"]:
            if all(_constraint_matches(c, agent)
                   for c in group.get("attribute_constraints") or []):
                return True
        return False

    def allocate(self, only=None):
        """One allocation run (hierarchical.cpp __allocate, 1.4.0; 1.11.0
        __generateOffers) over the agents in only (ids), or over every
        agent when None."""
        ids = self.registered_agents if only is None else \
            self.registered_agents & set(only)
        agents = [self.cluster.agents[a] for a in sorted(ids)
                  if a in self.cluster.agents]
        agents = [a for a in agents if not a.partitioned and not a.gone]
        self.cluster.competitor_allocate(self, agents)
        index = self._alloc_index()
        for fid in sorted(self.frameworks):
            fw = self.frameworks[fid]
            if not fw.connected:
                continue
            refinement = fw.has("RESERVATION_REFINEMENT")
            live = self._live_filters(fw)
            new = []
            for agent in agents:
                if agent.has_gpus() and not fw.has("GPU_RESOURCES"):
                    continue
                if self.config.region and agent.region() and \
                        agent.region() != self.config.region and \
                        not fw.has("REGION_AWARE"):
                    continue
                for role in fw.roles():
                    if role in fw.suppressed:
                        continue
                    if not self._constraints_match(fw, role, agent):
                        continue
                    available = self.agent_available(agent,
                                                     index).resources()
                    chosen = []
                    for res in available:
                        if not R.allocatable_to(res, role):
                            continue
                        if not refinement and len(res.get("reservations")
                                                  or []) > 1:
                            continue
                        if "revocable" in res and \
                                not fw.has("REVOCABLE_RESOURCES"):
                            continue
                        if "shared" in res and \
                                not fw.has("SHARED_RESOURCES"):
                            continue
                        chosen.append(R.with_allocation(res, role))
                    if not chosen or not self._allocatable(fw, role, chosen):
                        continue
                    if self._filtered(fw, role, agent, chosen, live):
                        continue
                    body = self._make_offer(fw, agent, role, chosen,
                                            refinement)
                    index["offers"].setdefault(agent.id, []).append(
                        self.offers[body["id"]["value"]])
                    new.append(body)
            if new:
                fw.stream.send({"type": "OFFERS",
                                "offers": {"offers": new}})
        self._generate_inverse_offers(agents)

    # --------------------------------------------------------- maintenance
    def _generate_inverse_offers(self, agents):
        """hierarchical.cpp generateInverseOffers (1.4.0..1.11.0): at every
        allocation, each active framework with resources offered or
        allocated on an agent with a maintenance window gets one inverse
        offer for it (empty resources), unless one is outstanding or its
        refused-inverse-offer filter for the agent runs. Sent by master.cpp
        Master::inverseOffer as INVERSE_OFFERS with url and unavailability."""
        now = time.monotonic()
        per_fw = {}
        for agent in agents:
            maint = agent.maintenance
            if maint is None:
                continue
            users = {o.fid for o in self.offers.values()
                     if o.agent_id == agent.id}
            users.update(t.fid for t in self.cluster.tasks.values()
                         if t.agent is agent and t.state not in TERMINAL)
            users.update(f for (f, _) in agent.executors)
            for fid in sorted(users):
                fw = self.frameworks.get(fid)
                if fw is None or not fw.connected:
                    continue
                if fid in maint.outstanding:
                    continue
                if maint.filters.get(fid, 0) > now:
                    continue
                io_id = "%s-O%d" % (self.id, self.offer_counter)
                self.offer_counter += 1
                maint.outstanding[fid] = io_id
                self.inverse_offers[io_id] = (fid, agent.id)
                per_fw.setdefault(fid, []).append({
                    "id": {"value": io_id},
                    "url": {"scheme": "http",
                            "address": {"hostname": agent.hostname,
                                        "ip": agent.ip, "port": agent.port},
                            "path": "/slave(1)"},
                    "framework_id": {"value": fid},
                    "agent_id": {"value": agent.id},
                    "unavailability": maint.unavailability()})
        for fid, items in sorted(per_fw.items()):
            for item in items:
                self.journal.note("inverse_offer_sent", framework_id=fid,
                                  agent_id=item["agent_id"]["value"],
                                  inverse_offer_id=item["id"]["value"])
            self.frameworks[fid].stream.send({
                "type": "INVERSE_OFFERS",
                "inverse_offers": {"inverse_offers": items}})

    def drop_inverse_offer(self, io_id, rescind):
        fid, agent_id = self.inverse_offers.pop(io_id)
        agent = self.cluster.agents.get(agent_id)
        if agent is not None and agent.maintenance is not None and \
                agent.maintenance.outstanding.get(fid) == io_id:
            del agent.maintenance.outstanding[fid]
        fw = self.frameworks.get(fid)
        if rescind and fw is not None and fw.stream is not None:
            # master.cpp removeInverseOffer(rescind=true) → scheduler Event
            # RESCIND_INVERSE_OFFER {inverse_offer_id} (scheduler.proto).
            fw.stream.send({"type": "RESCIND_INVERSE_OFFER",
                            "rescind_inverse_offer": {
                                "inverse_offer_id": {"value": io_id}}})

    def call_inverse_offers(self, fw, body, accept):
        """ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS, master.cpp
        acceptInverseOffers/declineInverseOffers (1.4.0..1.11.0): answered
        202 whatever the IDs; unknown (or no longer valid) IDs are only
        logged ("Ignoring accept of inverse offer ... no longer valid"); an
        empty accept list is logged as "No inverse offers specified". Each
        known one records the framework's response (allocator
        InverseOfferStatus ACCEPT/DECLINE), is removed, and the allocator
        installs a refused-inverse-offer filter for the agent from
        `filters` (the master always passes call.filters(), so an absent
        `filters` means the default refuse_seconds 5; > 365 days → 365
        days; negative → default; 0 → none). After it expires, the
        inverse offer is sent again (accepted ones too).
        The emulator also ignores (journal note) an inverse offer of
        another framework, which the master's validation only logs."""
        ids = [i.get("value") for i in body.get("inverse_offer_ids") or []]
        what = "accepted" if accept else "declined"
        if not ids:
            self.journal.note("inverse_offers_ignored", framework_id=fw.id,
                              why="No inverse offers specified")
        for io_id in ids:
            known = self.inverse_offers.get(io_id)
            if known is None or known[0] != fw.id:
                self.journal.note("inverse_offer_ignored", framework_id=fw.id,
                                  inverse_offer_id=io_id, response=what,
                                  why="no longer valid" if known is None
                                  else "of another framework")
                continue
            agent = self.cluster.agents.get(known[1])
            self.drop_inverse_offer(io_id, rescind=False)
            if agent is None or agent.maintenance is None:
                continue
            agent.maintenance.statuses[fw.id] = "ACCEPT" if accept \
                else "DECLINE"
            refuse = DEFAULT_REFUSE
            filters = body.get("filters")
            if filters and filters.get("refuse_seconds") is not None:
                value = emu_schema.as_float(filters["refuse_seconds"])
                if math.isnan(value) or value < 0:
                    refuse = DEFAULT_REFUSE
                else:
                    refuse = min(value, 365 * 86400.0)
            if refuse > 0:
                agent.maintenance.filters[fw.id] = time.monotonic() + refuse
                self.cluster.timers.schedule(
                    refuse, self.cluster.trigger_allocation,
                    "inverse-filter-expiry")
            self.journal.note("inverse_offer_" + what, framework_id=fw.id,
                              agent_id=agent.id, hostname=agent.hostname,
                              inverse_offer_id=io_id, refuse_seconds=refuse)
        self.cluster.trigger_allocation()

    def set_maintenance(self, agent, start_ns, duration_ns):
        """Schedule (start_ns not None) or clear a window. A change
        rescinds the agent's outstanding inverse offers and clears the
        frameworks' inverse offer filters and responses (master.cpp
        updateMaintenanceSchedule/updateUnavailability, hierarchical.cpp
        updateUnavailability, 1.4.0..1.11.0)."""
        for io_id, (fid, agent_id) in list(self.inverse_offers.items()):
            if agent_id == agent.id:
                self.drop_inverse_offer(io_id, rescind=True)
        if start_ns is None:
            agent.maintenance = None
        else:
            agent.maintenance = Maintenance(start_ns, duration_ns)
        self.cluster.trigger_allocation(agent.id)

    def _make_offer(self, fw, agent, role, resources, refinement):
        offer_id = "%s-O%d" % (self.id, self.offer_counter)
        self.offer_counter += 1
        offer = Offer(offer_id, fw.id, agent.id, role, resources)
        self.offers[offer_id] = offer
        if self.config.offer_timeout:
            offer.timer = self.cluster.timers.schedule(
                self.config.offer_timeout,
                lambda: self._offer_expired(offer_id), "offer-timeout")
        body = {
            "id": {"value": offer_id},
            "framework_id": {"value": fw.id},
            "agent_id": {"value": agent.id},
            "hostname": agent.hostname,
            "url": {"scheme": "http",
                    "address": {"hostname": agent.hostname, "ip": agent.ip,
                                "port": agent.port},
                    "path": "/slave(1)"},
            "allocation_info": {"role": role},
            "resources": [R.render(r, refinement) for r in resources],
        }
        if agent.maintenance is not None:
            # master.cpp Master::offer (1.4.0..1.11.0): an offer for an agent
            # with a maintenance window carries Offer.unavailability.
            body["unavailability"] = agent.maintenance.unavailability()
        if agent.domain:
            body["domain"] = copy.deepcopy(agent.domain)
        if agent.attributes:
            body["attributes"] = copy.deepcopy(agent.attributes)
        executors = sorted(eid for (f, eid) in agent.executors if f == fw.id)
        if executors:
            body["executor_ids"] = [{"value": e} for e in executors]
        return body

    # ---------------------------------------------------------------- calls
    def call_teardown(self, fw):
        self.remove_framework(fw, "TEARDOWN")

    def call_decline(self, fw, body):
        by_target = {}
        for item in body.get("offer_ids") or []:
            offer = self.offers.get(item["value"])
            if offer is None or offer.fid != fw.id:
                self.journal.note("decline_ignored", framework_id=fw.id,
                                  offer_id=item["value"],
                                  why="offer is not valid")
                continue
            self.remove_offer(offer)
            by_target.setdefault((offer.role, offer.agent_id),
                                 []).extend(offer.resources)
        for (role, agent_id), resources in by_target.items():
            self.add_filter(fw, role, agent_id, resources, body.get("filters"))

    def call_revive(self, fw, body, suppress):
        roles = list((body or {}).get("roles") or [])
        subscribed = fw.roles()
        for role in roles:
            if role not in subscribed:
                self.journal.note(
                    "suppress_ignored" if suppress else "revive_ignored",
                    framework_id=fw.id, why="role '%s' is not subscribed"
                    % role)
                return
        roles = roles or subscribed
        if suppress:
            fw.suppressed.update(roles)
        else:
            fw.suppressed.difference_update(roles)
            fw.filters = [f for f in fw.filters if f[0] not in roles]
            self.cluster.trigger_allocation()

    def call_kill(self, fw, body):
        task_id = body["task_id"]["value"]
        agent_id = (body.get("agent_id") or {}).get("value")
        task = self.cluster.tasks.get((fw.id, task_id))
        if task is None or not self.cluster.visible(task, self):
            self.journal.note("kill_unknown_task", framework_id=fw.id,
                              task_id=task_id)
            self.reconcile_explicit(fw, [(task_id, agent_id)])
            return
        if agent_id is not None and agent_id != task.agent.id:
            self.journal.note("kill_ignored", framework_id=fw.id,
                              task_id=task_id,
                              why="agent_id %s does not match %s"
                              % (agent_id, task.agent.id))
            return
        grace = _duration_ns((body.get("kill_policy") or {})
                             .get("grace_period"))
        self.cluster.kill_task(task, grace)

    def call_shutdown(self, fw, body):
        agent = self.cluster.agents.get(body["agent_id"]["value"])
        eid = body["executor_id"]["value"]
        if agent is None:
            return
        for task in list(self.cluster.tasks.values()):
            if task.agent is agent and task.fid == fw.id and \
                    task.executor_id == eid and task.state not in TERMINAL:
                self.cluster.kill_task(task)

    def call_acknowledge(self, fw, body, raw_uuid):
        why = self.cluster.acknowledge(fw.id, body["agent_id"]["value"],
                                       body["task_id"]["value"], raw_uuid)
        if why is not None:
            self.journal.note("ack_ignored", framework_id=fw.id,
                              task_id=body["task_id"]["value"],
                              uuid=body["uuid"], why=why)

    def _latest_status(self, fw, task, message):
        state = task.status_update_state or "TASK_STAGING"
        if not fw.pa and state in ("TASK_UNREACHABLE", "TASK_DROPPED",
                                   "TASK_GONE", "TASK_GONE_BY_OPERATOR",
                                   "TASK_UNKNOWN"):
            state = "TASK_LOST"
        extra = {}
        if task.healthy is not None:
            extra["healthy"] = task.healthy
        if task.container_status is not None:
            extra["container_status"] = copy.deepcopy(task.container_status)
        if task.executor_id is not None:
            extra["executor_id"] = {"value": task.executor_id}
        self.master_update(fw, task.tid, state, "REASON_RECONCILIATION",
                           message, agent_id=task.agent.id, extra=extra)

    def call_reconcile(self, fw, body):
        items = (body or {}).get("tasks") or []
        if not items:
            self._reconcile_implicit(fw)
            return
        self.reconcile_explicit(
            fw, [(i["task_id"]["value"], (i.get("agent_id") or {})
                  .get("value")) for i in items])

    def _reconcile_implicit(self, fw):
        for task in list(self.cluster.tasks.values()):
            if task.fid != fw.id:
                continue
            if self.cluster.visible(task, self):
                self._latest_status(fw, task,
                                    "Reconciliation: Latest task state")
            elif self.agent_status(task.agent.id) == "unreachable":
                self._unreachable_status(fw, task.tid, task.agent.id)

    def _unreachable_status(self, fw, task_id, agent_id):
        entry = self.cluster.registry.get(agent_id) or {}
        when = entry.get("unreachable_time", time.time())
        state = "TASK_UNREACHABLE" if fw.pa else "TASK_LOST"
        self.master_update(fw, task_id, state, "REASON_RECONCILIATION",
                           "Reconciliation: Task is unreachable",
                           agent_id=agent_id,
                           extra={"unreachable_time": {
                               "nanoseconds": int(when * 1e9)}})

    def reconcile_explicit(self, fw, items):
        recovered = any(self.agent_status(a) == "recovered"
                        for a in self.cluster.registry)
        for task_id, agent_id in items:
            task = self.cluster.tasks.get((fw.id, task_id))
            if task is not None and self.cluster.visible(task, self):
                self._latest_status(fw, task,
                                    "Reconciliation: Latest task state")
                continue
            status = self.agent_status(agent_id) if agent_id else None
            if agent_id is not None and status == "recovered":
                continue
            if agent_id is None and recovered:
                continue
            lost = None if fw.pa else "TASK_LOST"
            if status == "registered":
                self.master_update(fw, task_id, lost or "TASK_GONE",
                                   "REASON_RECONCILIATION",
                                   "Reconciliation: Task is unknown to the "
                                   "agent", agent_id=agent_id)
            elif status == "unreachable":
                self._unreachable_status(fw, task_id, agent_id)
            elif status == "gone":
                self.master_update(fw, task_id,
                                   lost or "TASK_GONE_BY_OPERATOR",
                                   "REASON_RECONCILIATION",
                                   "Reconciliation: Task is gone",
                                   agent_id=agent_id)
            else:
                self.master_update(fw, task_id, lost or "TASK_UNKNOWN",
                                   "REASON_RECONCILIATION",
                                   "Reconciliation: Task is unknown",
                                   agent_id=agent_id)

    def call_update_framework(self, fw, body):
        info = copy.deepcopy(body["framework_info"])
        if (info.get("id") or {}).get("value") != fw.id:
            return error_response(400, "'update_framework.framework_info.id' "
                                  "must equal 'framework_id'")
        suppressed = list(body.get("suppressed_roles") or [])
        constraints = body.get("offer_constraints")
        error = self.validate_framework_info(info, suppressed, constraints) \
            or self.failover_timeout_error(info)
        if error:
            return error_response(400, "Invalid UPDATE_FRAMEWORK: " + error)
        for field in ("principal", "user", "checkpoint"):
            old = fw.info.get(field)
            new = info.get(field)
            if field == "checkpoint":
                old, new = emu_schema.as_bool(old), emu_schema.as_bool(new)
            if old != new:
                return error_response(
                    400, "Invalid UPDATE_FRAMEWORK: updating "
                    "'FrameworkInfo.%s' is unsupported" % field)
        new_roles = roles_of(info)
        for offer in [o for o in self.offers.values() if o.fid == fw.id]:
            if offer.role not in new_roles:
                self.remove_offer(offer, rescind=True)
        # hierarchical.cpp updateFramework() (1.9.0+): filters of removed
        # roles erased, unsuppressed roles revived (filters erased)
        cleared = (set(fw.roles()) - set(new_roles)) | \
            (fw.suppressed - set(suppressed))
        fw.filters = [f for f in fw.filters if f[0] not in cleared]
        fw.info = info
        fw.suppressed = set(suppressed)
        fw.offer_constraints = constraints
        for task in self.cluster.tasks.values():
            if task.fid == fw.id:
                task.killing_capable = fw.has("TASK_KILLING_STATE")
        self.cluster.trigger_allocation()
        return Response(200, "")

    def call_reconcile_operations(self, fw, body):
        statuses = []
        for item in (body or {}).get("operations") or []:
            status = {"operation_id": item["operation_id"],
                      "state": "OPERATION_UNKNOWN"}
            agent_id = (item.get("agent_id") or {}).get("value")
            if agent_id:
                status["agent_id"] = {"value": agent_id}
                agent_state = self.agent_status(agent_id)
                if agent_state == "recovered":
                    status["state"] = "OPERATION_RECOVERING"
                elif agent_state == "unreachable":
                    status["state"] = "OPERATION_UNREACHABLE"
                elif agent_state == "gone":
                    status["state"] = "OPERATION_GONE_BY_OPERATOR"
            statuses.append(status)
        return {"type": "RECONCILE_OPERATIONS",
                "reconcile_operations": {"operation_statuses": statuses}}

    # --------------------------------------------------------------- ACCEPT
    def call_accept(self, fw, body):
        offer_ids = [o["value"] for o in body.get("offer_ids") or []]
        operations = body.get("operations") or []
        error = None
        own = []
        seen = set()
        if not offer_ids:
            error = "No offers specified"
        for oid in offer_ids:
            if oid in seen:
                error = error or "Duplicate offer %s in offer list" % oid
                continue
            seen.add(oid)
            offer = self.offers.get(oid)
            if offer is None:
                error = error or "Offer %s is no longer valid" % oid
                continue
            if offer.fid != fw.id:
                error = error or ("Offer %s has invalid framework %s while "
                                  "framework %s is expected"
                                  % (oid, offer.fid, fw.id))
                continue
            own.append(offer)
        if error is None and len({o.agent_id for o in own}) > 1:
            error = "Aggregated offers must belong to one single agent"
        if error is None and len({o.role for o in own}) > 1:
            error = "Aggregated offers must be allocated to the same role"
        for offer in own:
            self.remove_offer(offer)
        if error is not None:
            state = "TASK_DROPPED" if fw.pa else "TASK_LOST"
            for info in _launched_task_infos(operations):
                self.master_update(
                    fw, _task_id_of(info), state, "REASON_INVALID_OFFERS",
                    "Task launched with invalid offers: " + error,
                    agent_id=(info.get("agent_id") or {}).get("value"))
            self.journal.note("accept_invalid_offers", framework_id=fw.id,
                              error=error)
            return
        agent = self.cluster.agents[own[0].agent_id]
        role = own[0].role
        pool = R.Pool()
        for offer in own:
            pool.add_all(offer.resources)
        for index, operation in enumerate(operations):
            self._apply_operation(fw, agent, role, pool, operation, index)
        leftover = pool.resources()
        if leftover:
            self.add_filter(fw, role, agent.id, leftover, body.get("filters"))

    def _drop_operation(self, fw, index, optype, why, operation):
        self.journal.note("operation_dropped", framework_id=fw.id,
                          index=index, type=optype, why=why)
        if operation.get("id") is not None and fw.stream is not None:
            fw.stream.send({"type": "UPDATE_OPERATION_STATUS",
                            "update_operation_status": {"status": {
                                "operation_id": operation["id"],
                                "state": "OPERATION_ERROR",
                                "message": why}}})

    def _apply_operation(self, fw, agent, role, pool, operation, index):
        optype = operation.get("type")
        body_key = {"LAUNCH": "launch", "LAUNCH_GROUP": "launch_group",
                    "RESERVE": "reserve", "UNRESERVE": "unreserve",
                    "CREATE": "create", "DESTROY": "destroy"}.get(optype)
        if optype in (None, "UNKNOWN"):
            self._drop_operation(fw, index, optype, "operation has no type",
                                 operation)
            return
        if body_key is None:
            self._drop_operation(fw, index, optype, "operation type %s is not "
                                 "supported by the emulator" % optype,
                                 operation)
            return
        if operation.get(body_key) is None:
            self._drop_operation(fw, index, optype,
                                 "Expecting '%s' to be present" % body_key,
                                 operation)
            return
        if optype == "LAUNCH":
            for info in operation["launch"].get("task_infos") or []:
                if operation.get("id") is not None:
                    self.master_update(
                        fw, _task_id_of(info), "TASK_ERROR",
                        "REASON_TASK_INVALID",
                        "The 'id' field of a LAUNCH operation is not supported"
                        " (no operation feedback for launches)",
                        agent_id=agent.id)
                    continue
                self._launch(fw, agent, role, pool, info)
            return
        if optype == "LAUNCH_GROUP":
            self._launch_group(fw, agent, role, pool, operation)
            return
        if operation.get("id") is not None:
            self._drop_operation(
                fw, index, optype, "Operation requested feedback, but agent "
                "%s does not have the required AGENT_OPERATION_FEEDBACK and "
                "RESOURCE_PROVIDER capabilities" % agent.id, operation)
            return
        try:
            if optype == "RESERVE":
                if operation["reserve"].get("source"):
                    raise R.ResourceError("'reserve.source' must not be set "
                                          "through the scheduler API")
                self._reserve(fw, agent, role, pool,
                              operation["reserve"].get("resources") or [])
            elif optype == "UNRESERVE":
                self._unreserve(fw, agent, role, pool,
                                operation["unreserve"].get("resources") or [])
            elif optype == "CREATE":
                self._create(fw, agent, role, pool,
                             operation["create"].get("volumes") or [])
            else:
                self._destroy(fw, agent, role, pool,
                              operation["destroy"].get("volumes") or [])
            self.journal.note("operation_applied", framework_id=fw.id,
                              index=index, type=optype, agent_id=agent.id)
        except R.ResourceError as err:
            self._drop_operation(fw, index, optype, "Invalid %s operation: %s"
                                 % (optype, err), operation)

    def _replace(self, agent, pool, old, new):
        pool.subtract(old)
        pool.add(new)
        agent.total.subtract(R.strip_allocation(old))
        agent.total.add(R.strip_allocation(new))

    def _reserve(self, fw, agent, role, pool, resources):
        if role == "*":
            raise R.ResourceError("role '*' cannot reserve resources")
        if not resources:
            raise R.ResourceError("no resources to reserve")
        pairs = []
        probe = pool.copy()
        for res in resources:
            new = R.normalize(res, role)
            stack = new["reservations"]
            if not stack or stack[-1]["type"] != "DYNAMIC":
                raise R.ResourceError("%s is not dynamically reserved"
                                      % R.describe([new]))
            if stack[-1]["role"] != role:
                raise R.ResourceError(
                    "reservation role '%s' does not match the offer's "
                    "allocation role '%s'" % (stack[-1]["role"], role))
            if fw.principal is not None and \
                    stack[-1].get("principal") != fw.principal:
                raise R.ResourceError(
                    "reservation principal '%s' does not match the framework "
                    "principal '%s'" % (stack[-1].get("principal"),
                                        fw.principal))
            old = dict(new, reservations=stack[:-1])
            if not probe.contains(old):
                raise R.ResourceError("%s is not contained in the offered %s"
                                      % (R.describe([old]),
                                         R.describe(probe.resources())))
            probe.subtract(old)
            pairs.append((old, new))
        for old, new in pairs:
            self._replace(agent, pool, old, new)

    def _unreserve(self, fw, agent, role, pool, resources):
        pairs = []
        probe = pool.copy()
        for res in resources:
            cur = R.normalize(res, role)
            stack = cur["reservations"]
            if not stack or stack[-1]["type"] != "DYNAMIC":
                raise R.ResourceError("%s is not dynamically reserved"
                                      % R.describe([cur]))
            if (cur.get("disk") or {}).get("persistence") is not None:
                raise R.ResourceError("a persistent volume must be destroyed "
                                      "before it is unreserved")
            if not probe.contains(cur):
                raise R.ResourceError("%s is not contained in the offered %s"
                                      % (R.describe([cur]),
                                         R.describe(probe.resources())))
            probe.subtract(cur)
            pairs.append((cur, dict(cur, reservations=stack[:-1])))
        for old, new in pairs:
            self._replace(agent, pool, old, new)

    @staticmethod
    def _volume_base(volume):
        base = copy.deepcopy(volume)
        disk = base.get("disk") or {}
        disk.pop("persistence", None)
        disk.pop("volume", None)
        if disk:
            base["disk"] = disk
        else:
            base.pop("disk", None)
        return base

    def _create(self, fw, agent, role, pool, volumes):
        pairs = []
        probe = pool.copy()
        for res in volumes:
            vol = R.normalize(res, role)
            disk = vol.get("disk") or {}
            if disk.get("persistence") is None or disk.get("volume") is None:
                raise R.ResourceError("CREATE needs 'disk.persistence' and "
                                      "'disk.volume'")
            path = disk["volume"].get("container_path", "")
            if path.startswith("/") or ".." in path.split("/"):
                raise R.ResourceError("volume container_path '%s' must be "
                                      "relative and not contain '..'" % path)
            pid = disk["persistence"]["id"]
            for existing in agent.total.resources():
                ex = (existing.get("disk") or {}).get("persistence") or {}
                if ex.get("id") == pid and \
                        existing["reservations"][-1]["role"] == \
                        vol["reservations"][-1]["role"]:
                    raise R.ResourceError("persistence ID '%s' already exists "
                                          "on agent %s" % (pid, agent.id))
            base = self._volume_base(vol)
            if not probe.contains(base):
                raise R.ResourceError("%s is not contained in the offered %s"
                                      % (R.describe([base]),
                                         R.describe(probe.resources())))
            probe.subtract(base)
            pairs.append((base, vol))
        for old, new in pairs:
            self._replace(agent, pool, old, new)

    def _destroy(self, fw, agent, role, pool, volumes):
        pairs = []
        probe = pool.copy()
        for res in volumes:
            vol = R.normalize(res, role)
            pid = ((vol.get("disk") or {}).get("persistence") or {}).get("id")
            if pid is None:
                raise R.ResourceError("DESTROY needs a persistent volume")
            for task in self.cluster.tasks.values():
                if task.agent is agent and task.state not in TERMINAL and any(
                        ((r.get("disk") or {}).get("persistence") or {})
                        .get("id") == pid for r in task.resources):
                    raise R.ResourceError("volume '%s' is in use by task %s"
                                          % (pid, task.tid))
            if not probe.contains(vol):
                raise R.ResourceError("volume '%s' is not in the offer" % pid)
            probe.subtract(vol)
            pairs.append((vol, self._volume_base(vol)))
        for old, new in pairs:
            self._replace(agent, pool, old, new)
            # DESTROY deletes the volume's data.
            shutil.rmtree(emu_tasks.volume_path(self.config, old),
                          ignore_errors=True)

    # --------------------------------------------------------------- launch
    def _validate_task(self, fw, agent, role, info, in_group):
        """Master-side TaskInfo validation (docs §3.3, §6). Returns
        (error text or None, canonical resources)."""
        task_id = _task_id_of(info)
        error = validate_id(task_id, "Task ID")
        if error:
            return "Task ID is invalid: " + error, None
        if (fw.id, task_id) in self.cluster.tasks:
            return "Task has duplicate ID: " + task_id, None
        agent_id = info["agent_id"]["value"]
        if agent_id != agent.id:
            return "Task uses invalid agent: " + agent_id, None
        grace = _duration_ns((info.get("kill_policy") or {})
                             .get("grace_period"))
        if grace is not None and grace < 0:
            return ("Task's 'kill_policy.grace_period' must be "
                    "non-negative"), None
        mct = _duration_ns(info.get("max_completion_time"))
        if mct is not None and mct < 0:
            return "Task's 'max_completion_time' must be non-negative", None
        if info.get("health_check") is not None:
            error = _validate_health_check(info["health_check"])
            if error:
                return "Task uses invalid health check: " + error, None
        if info.get("check") is not None:
            error = _validate_check(info["check"])
            if error:
                return "Task uses invalid check: " + error, None
        if not info.get("resources"):
            return "Task uses no resources", None
        try:
            resources = [R.normalize(r, role) for r in info["resources"]]
        except R.ResourceError as err:
            return "Task uses invalid resources: %s" % err, None
        has_command = info.get("command") is not None
        has_executor = info.get("executor") is not None
        if not in_group and has_command == has_executor:
            return ("Task should have at least one (but not both) of "
                    "CommandInfo or ExecutorInfo present"), None
        if info.get("container") is not None:
            error = _validate_container(info["container"])
            if error:
                return "Task's ContainerInfo is invalid: " + error, None
        if has_command:
            error = _validate_command(info["command"])
            if error:
                return "Task's CommandInfo is invalid: " + error, None
        if info.get("executor") is not None and not in_group:
            error = self._validate_executor(fw, info["executor"])
            if error:
                return "Task's ExecutorInfo is invalid: " + error, None
        return None, resources

    def _validate_executor(self, fw, executor):
        error = validate_id(executor["executor_id"]["value"], "Executor ID")
        if error:
            return error
        efid = (executor.get("framework_id") or {}).get("value")
        if efid is not None and efid != fw.id:
            return ("ExecutorInfo has an invalid FrameworkID (Actual: %s vs "
                    "Expected: %s)" % (efid, fw.id))
        etype = executor.get("type")
        if etype == "DEFAULT" and executor.get("command") is not None:
            return "'ExecutorInfo.command' must not be set for the DEFAULT " \
                   "executor"
        if etype in (None, "UNKNOWN", "CUSTOM") and \
                executor.get("command") is None:
            return "'ExecutorInfo.command' must be set for a CUSTOM executor"
        if executor.get("command") is not None:
            return _validate_command(executor["command"])
        return None

    def _executor_resources(self, fw, agent, role, executor):
        key = (fw.id, executor["executor_id"]["value"])
        if key in agent.executors:
            return []
        return [R.normalize(r, role) for r in executor.get("resources") or []]

    def _launch(self, fw, agent, role, pool, info):
        task_id = _task_id_of(info)
        error, resources = self._validate_task(fw, agent, role, info, False)
        executor = info.get("executor")
        executor_resources = []
        if error is None and executor is not None:
            executor = copy.deepcopy(executor)
            executor.setdefault("framework_id", {"value": fw.id})
            try:
                executor_resources = self._executor_resources(fw, agent, role,
                                                              executor)
            except R.ResourceError as err:
                error = "Executor uses invalid resources: %s" % err
        if error is None:
            needed = resources + executor_resources
            if not pool.contains_all(needed):
                error = ("Task uses more resources %s than available %s"
                         % (R.describe(needed), R.describe(pool.resources())))
        if error is not None:
            self.master_update(fw, task_id, "TASK_ERROR", "REASON_TASK_INVALID",
                               error, agent_id=agent.id)
            self.journal.note("task_error", framework_id=fw.id,
                              task_id=task_id, error=error)
            return
        pool.subtract_all(resources + executor_resources)
        self.cluster.launch_task(fw, agent, info, resources, role,
                                 executor=executor,
                                 executor_resources=executor_resources)

    def _launch_group(self, fw, agent, role, pool, operation):
        group = operation["launch_group"]
        executor = copy.deepcopy(group["executor"])
        infos = group["task_group"].get("tasks") or []
        error = None
        if executor.get("type") not in ("DEFAULT", "CUSTOM"):
            error = "'ExecutorInfo.type' must be set (DEFAULT or CUSTOM) for " \
                    "LAUNCH_GROUP"
        elif executor.get("framework_id") is None:
            error = "'ExecutorInfo.framework_id' must be set for LAUNCH_GROUP"
        else:
            error = self._validate_executor(fw, executor)
        if error is None and not infos:
            error = "Task group is empty"
        all_resources = []
        if error is None:
            try:
                all_resources.extend(self._executor_resources(fw, agent, role,
                                                              executor))
            except R.ResourceError as err:
                error = "Executor uses invalid resources: %s" % err
        if error is None:
            ids = [_task_id_of(i) for i in infos]
            if len(set(ids)) != len(ids):
                error = "Task group has duplicate task IDs"
        per_task = []
        if error is None:
            for info in infos:
                task_error, resources = self._validate_task(fw, agent, role,
                                                            info, True)
                if task_error is None and info.get("executor") is not None \
                        and info["executor"]["executor_id"] != \
                        executor["executor_id"]:
                    task_error = ("Task's executor does not match the task "
                                  "group's executor")
                if task_error:
                    error = "Task %s: %s" % (_task_id_of(info), task_error)
                    break
                per_task.append(resources)
                all_resources.extend(resources)
        if error is None and not pool.contains_all(all_resources):
            error = ("Task group uses more resources %s than available %s"
                     % (R.describe(all_resources),
                        R.describe(pool.resources())))
        if error is not None:
            for info in infos:
                self.master_update(fw, _task_id_of(info), "TASK_ERROR",
                                   "REASON_TASK_GROUP_INVALID", error,
                                   agent_id=agent.id)
            self.journal.note("task_group_error", framework_id=fw.id,
                              error=error)
            return
        pool.subtract_all(all_resources)
        executor_resources = self._executor_resources(fw, agent, role,
                                                      executor)
        members = []
        for info, resources in zip(infos, per_task):
            self.cluster.launch_task(fw, agent, info, resources, role,
                                     executor=executor,
                                     executor_resources=executor_resources,
                                     group=members)
            executor_resources = []

    # ----------------------------------------------------------- agent loss
    def agent_lost(self, agent, gone, when, was_unreachable=False):
        for offer in [o for o in self.offers.values()
                      if o.agent_id == agent.id]:
            self.remove_offer(offer, rescind=True)
        registered = agent.id in self.registered_agents
        self.registered_agents.discard(agent.id)
        for fw in self.frameworks.values():
            if fw.stream is not None:
                fw.stream.send({"type": "FAILURE", "failure": {
                    "agent_id": {"value": agent.id}}})
        if not registered and not (gone and was_unreachable):
            return
        for task in list(self.cluster.tasks.values()):
            if task.agent is not agent:
                continue
            fw = self.frameworks.get(task.fid)
            if fw is None:
                continue
            if gone:
                state = "TASK_GONE_BY_OPERATOR" if fw.pa else "TASK_LOST"
                self.master_update(fw, task.tid, state,
                                   "REASON_AGENT_REMOVED_BY_OPERATOR",
                                   "Agent %s marked as gone by an operator"
                                   % agent.hostname, agent_id=agent.id)
            else:
                state = "TASK_UNREACHABLE" if fw.pa else "TASK_LOST"
                self.master_update(fw, task.tid, state, "REASON_AGENT_REMOVED",
                                   "Agent %s is unreachable" % agent.hostname,
                                   agent_id=agent.id,
                                   extra={"unreachable_time": {
                                       "nanoseconds": int(when * 1e9)}})
        self.cluster.trigger_allocation()

    # ------------------------------------------------------------- listing
    def state(self):
        frameworks = []
        for fw in self.frameworks.values():
            frameworks.append({
                "id": fw.id, "name": fw.info.get("name"),
                "connected": fw.connected,
                "stream_id": fw.stream.id if fw.stream else None,
                "roles": fw.roles(), "suppressed_roles": sorted(fw.suppressed),
                "capabilities": sorted(c for c in fw.caps() if c),
                "principal": fw.principal,
                "failover_timeout": emu_schema.as_float(
                    fw.info.get("failover_timeout"), 0.0),
                "failover_deadline": fw.failover_deadline,
                "filters": [{"role": f[0], "agent_id": f[1],
                             "resources": R.describe(f[2].resources()),
                             "expires_in": round(f[3] - time.monotonic(), 3)}
                            for f in fw.filters if f[3] > time.monotonic()],
            })
        return {
            "id": self.id, "address": self.address,
            "frameworks": frameworks,
            "offers": [{"id": o.id, "framework_id": o.fid,
                        "agent_id": o.agent_id, "role": o.role,
                        "resources": R.describe(o.resources)}
                       for o in self.offers.values()],
            "registered_agents": sorted(self.registered_agents),
        }


# ------------------------------------------------------------ validations
def _task_id_of(info):
    return ((info or {}).get("task_id") or {}).get("value", "")


def _launched_task_infos(operations):
    out = []
    for operation in operations:
        if operation.get("type") == "LAUNCH":
            out.extend((operation.get("launch") or {}).get("task_infos") or [])
        elif operation.get("type") == "LAUNCH_GROUP":
            group = (operation.get("launch_group") or {}).get("task_group")
            out.extend((group or {}).get("tasks") or [])
    return out


def _validate_health_check(check):
    ctype = check.get("type")
    if ctype in (None, "UNKNOWN"):
        return "HealthCheck must specify 'type'"
    field = ctype.lower()
    if check.get(field) is None:
        return "Expecting '%s' to be set for %s health check" % (field, ctype)
    for other in ("command", "http", "tcp"):
        if other != field and check.get(other) is not None:
            return "'%s' must not be set for %s health check" % (other, ctype)
    if ctype == "COMMAND":
        command = check["command"]
        if emu_schema.as_bool(command.get("shell"), True) and \
                not command.get("value"):
            return "Command health check must contain 'shell command'"
        error = _validate_command(command)
        if error:
            return error
    if ctype == "HTTP":
        http = check["http"]
        scheme = http.get("scheme")
        if scheme is not None and scheme not in ("http", "https"):
            return "Unsupported HTTP health check scheme: '%s'" % scheme
        path = http.get("path")
        if path is not None and not path.startswith("/"):
            return "The path '%s' of HTTP health check must start with '/'" \
                   % path
        for status in http.get("statuses") or []:
            if not 100 <= emu_schema.as_int(status) <= 599:
                return "Invalid HTTP status code %s" % status
    if ctype in ("HTTP", "TCP"):
        port = emu_schema.as_int(check[field].get("port"))
        if port > 65535:
            return "Port %d is out of range" % port
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds",
                 "grace_period_seconds"):
        value = check.get(name)
        if value is not None and emu_schema.as_float(value) < 0:
            return "Expecting '%s' to be non-negative" % name
    return None


def _validate_check(check):
    ctype = check.get("type")
    if ctype in (None, "UNKNOWN"):
        return "CheckInfo must specify 'type'"
    field = ctype.lower()
    if check.get(field) is None:
        return "Expecting '%s' to be set for %s check" % (field, ctype)
    for other in ("command", "http", "tcp"):
        if other != field and check.get(other) is not None:
            return "'%s' must not be set for %s check" % (other, ctype)
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds"):
        value = check.get(name)
        if value is not None and emu_schema.as_float(value) < 0:
            return "Expecting '%s' to be non-negative" % name
    return None


def _validate_environment(environment):
    for var in (environment or {}).get("variables") or []:
        name = var["name"]
        vtype = var.get("type", "VALUE")
        if vtype == "UNKNOWN":
            return ("Environment variable '%s' of type 'UNKNOWN' is not "
                    "allowed" % name)
        if vtype == "VALUE":
            if var.get("value") is None:
                return ("Environment variable '%s' of type 'VALUE' must have "
                        "a value set" % name)
            if var.get("secret") is not None:
                return ("Environment variable '%s' of type 'VALUE' must not "
                        "have a secret set" % name)
        if vtype == "SECRET":
            secret = var.get("secret")
            if secret is None:
                return ("Environment variable '%s' of type 'SECRET' must have "
                        "a secret set" % name)
            if var.get("value") is not None:
                return ("Environment variable '%s' of type 'SECRET' must not "
                        "have a value set" % name)
            error = _validate_secret(secret)
            if error:
                return "Environment variable '%s': %s" % (name, error)
    return None


def _validate_secret(secret):
    stype = secret.get("type")
    if stype == "REFERENCE":
        if secret.get("reference") is None or secret.get("value") is not None:
            return "Secret of type REFERENCE must have only 'reference' set"
    elif stype == "VALUE":
        if secret.get("value") is None or secret.get("reference") is not None:
            return "Secret of type VALUE must have only 'value' set"
    else:
        return "Secret must have a type (REFERENCE or VALUE)"
    return None


def _validate_command(command):
    return _validate_environment(command.get("environment"))


def _validate_container(container):
    ctype = container["type"]
    if ctype == "DOCKER":
        if container.get("docker") is None:
            return "DockerInfo 'docker' is not set for DOCKER typed " \
                   "ContainerInfo"
        if container.get("mesos") is not None:
            return "MesosInfo 'mesos' must not be set for DOCKER typed " \
                   "ContainerInfo"
        if not container["docker"].get("image"):
            return "DockerInfo 'image' must not be empty"
    else:
        if container.get("docker") is not None:
            return "DockerInfo 'docker' must not be set for MESOS typed " \
                   "ContainerInfo"
        image = (container.get("mesos") or {}).get("image")
        if image is not None:
            itype = image["type"]
            if itype == "DOCKER" and image.get("docker") is None:
                return "Image of type DOCKER must have 'docker' set"
            if itype == "APPC" and image.get("appc") is None:
                return "Image of type APPC must have 'appc' set"
    for index, volume in enumerate(container.get("volumes") or []):
        sources = [k for k in ("host_path", "image", "source")
                   if volume.get(k) is not None]
        if len(sources) > 1:
            return ("volumes[%d]: only one of 'host_path', 'image' and "
                    "'source' may be set" % index)
        if not volume.get("container_path"):
            return "volumes[%d]: 'container_path' must not be empty" % index
        source = volume.get("source")
        if source is not None:
            stype = source.get("type")
            field = {"DOCKER_VOLUME": "docker_volume",
                     "HOST_PATH": "host_path", "SANDBOX_PATH": "sandbox_path",
                     "SECRET": "secret", "CSI_VOLUME": "csi_volume"}.get(stype)
            if field is None:
                return "volumes[%d]: source type must be set" % index
            if source.get(field) is None:
                return "volumes[%d]: source of type %s must set '%s'" % (
                    index, stype, field)
    return None


def _validate_constraint(constraint):
    selector = constraint["selector"]
    chosen = [k for k in ("pseudoattribute_type", "attribute_name")
              if selector.get(k) is not None]
    if len(chosen) != 1:
        return "a selector must set exactly one of 'pseudoattribute_type' " \
               "and 'attribute_name'"
    if selector.get("pseudoattribute_type") == "UNKNOWN":
        return "unknown pseudoattribute type"
    predicate = constraint["predicate"]
    chosen = [k for k, v in predicate.items() if v is not None]
    if len(chosen) != 1:
        return "a predicate must set exactly one condition"
    for key in ("text_matches", "text_not_matches"):
        if predicate.get(key) is not None:
            try:
                re.compile(predicate[key].get("regex") or "")
            except re.error as err:
                return "invalid regex: %s" % err
    return None


def _constraint_matches(constraint, agent):
    selector = constraint["selector"]
    predicate = constraint["predicate"]
    value = None
    exists = False
    pseudo = selector.get("pseudoattribute_type")
    if pseudo == "HOSTNAME":
        value, exists = agent.hostname, True
    elif pseudo == "REGION":
        value = agent.region()
        exists = value is not None
    elif pseudo == "ZONE":
        value = agent.zone()
        exists = value is not None
    else:
        for attribute in agent.attributes:
            if attribute["name"] == selector.get("attribute_name"):
                exists = True
                if attribute["type"] == "TEXT":
                    value = attribute["text"]["value"]
                break
    if predicate.get("exists") is not None:
        return exists
    if predicate.get("not_exists") is not None:
        return not exists
    if not exists:
        return False
    if value is None:
        return True   # text predicates accept non-TEXT attributes (unverified)
    if predicate.get("text_equals") is not None:
        return value == predicate["text_equals"].get("value")
    if predicate.get("text_not_equals") is not None:
        return value != predicate["text_not_equals"].get("value")
    if predicate.get("text_matches") is not None:
        return re.fullmatch(predicate["text_matches"].get("regex") or "",
                            value) is not None
    if predicate.get("text_not_matches") is not None:
        return re.fullmatch(predicate["text_not_matches"].get("regex") or "",
                            value) is None
    return True
