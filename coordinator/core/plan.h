/* The coordinator's planner: a pure function from observations to actions.
 *
 * The shell (event loop) gathers what it knows -- the agents seen in offers,
 * each prober's device report, the tasks it launched and their last Mesos
 * state, per-slot failure history, the operator's target version and the
 * configuration -- into a struct plan_input, calls plan_compute(), and turns
 * the resulting actions into Mesos calls (LAUNCH into a matching offer on the
 * named agent, KILL, REVIVE/SUPPRESS from want_offers). Every placement,
 * upgrade and recovery decision lives here so it can be tested
 * table-driven; the planner does no I/O, reads no clock (now_ms is an input)
 * and keeps no state between calls. Whatever must persist between calls
 * (unwanted_since_ms) is returned in the output for the shell to store and
 * hand back next time.
 *
 * Determinism: the output depends only on the input's content, not on the
 * order of the agents/tasks/history/reservations/inverse_offers arrays.
 * Actions are sorted in two groups. First the task actions (KILL, LAUNCH,
 * LAUNCH_PROBER) by phase (probers, registry, metadata, data,
 * api+webconsole, client), then agent id, then service, then KILL before
 * LAUNCH, then task id. After them the resource actions (UNRESERVE,
 * ACCEPT_INVERSE, DECLINE_INVERSE) by agent id, then UNRESERVE before the
 * inverse-offer answers, then service, then inverse offer id.
 *
 * The rules, in the order the planner applies them:
 *
 *  1. Probers: one per active agent that passes the prober restriction
 *     (hostname allow-list and/or attribute). A second live prober on an
 *     agent is killed at once; a prober on an agent that no longer passes the
 *     restriction is killed after the removal grace. A prober whose agent's
 *     report is older than prober_stale_ms (or that never reported although
 *     it has been RUNNING that long) is flagged stale; staleness is reported,
 *     it does not change the agent's inventory (the last report stays the
 *     best knowledge).
 *  2. Registry / metadata / data: one service of a type on a node iff the
 *     node reports >= 1 OK device of that type. An active agent without a
 *     report yet has an unknown inventory: its live pinned tasks are kept,
 *     nothing new is launched there (a restarted coordinator must not kill
 *     services before the probers resend their snapshots).
 *  3. API / webconsole: api_count / webconsole_count instances on distinct
 *     active agents matching the restriction. Existing instances stay where
 *     they are (ranked: not marked unwanted, then running+healthy, then agent
 *     id); new ones go to agents not in relaunch backoff for that service,
 *     then with the fewest Quobyte services wanted by this plan, then by
 *     agent id. API is placed before webconsole, so they spread.
 *  4. Client: on nodes whose report says the client mount point exists, only
 *     when client_enabled.
 *  5. Phases registry -> metadata -> data -> api+webconsole -> client: a
 *     phase's launches are issued only when every wanted task of the earlier
 *     phases is ready and each earlier disk phase has at least one wanted
 *     task. "Ready" = RUNNING, no kill requested, and healthy: for services
 *     in config.health_checked an unknown health is NOT ready (the check has
 *     not passed yet); for others RUNNING suffices unless health is
 *     explicitly failing. In the registry phase, the node whose registry
 *     device has device.bootstrap=true launches first; other registries wait
 *     until it is ready.
 *  6. A wanted slot with a live task needs nothing. Without one it is
 *     launched, unless its (service, agent) slot is in backoff:
 *     delay = min(base * 2^(failures-1), max) after last_failure_ms.
 *     The SHELL maintains struct plan_history: it increments
 *     consecutive_failures and sets last_failure_ms when a task of the slot
 *     ends in a terminal state it did not ask for (a KILL the planner issued
 *     is not a failure), and resets consecutive_failures to 0 once a task of
 *     the slot has been ready (running and healthy).
 *  7. A live task that is no longer wanted gets unwanted_since_ms = now (if
 *     0) and is killed once now - unwanted_since_ms >= removal_grace_ms; if
 *     it is wanted again before that, unwanted_since_ms goes back to 0 and
 *     the task stays. An empty target version kills every live Quobyte
 *     service task at once (probers stay). A task with kill_requested is
 *     never killed again (the shell may retry KILLs on its own timer).
 *  8. Rolling upgrade: live wanted tasks whose version differs from the
 *     target, or that carry a replace_reason (a device their container
 *     cannot see), are replaced one at a time in action order, and only
 *     while every other wanted task is ready: the planner KILLs one; rule 6
 *     launches its replacement (with the target version) once it is
 *     terminal. New launches always use the target version. Tasks on a
 *     node with a maintenance window near or in progress are skipped
 *     (rule 13). Services of an inactive agent are not "wanted" here (they
 *     are dormant), so they neither block the upgrade nor are upgraded.
 *  9. Unreachable: a task in TASK_UNREACHABLE, in TASK_UNKNOWN on an
 *     inactive/unknown agent, or any live task on an inactive agent, is
 *     "unreachable": it is never killed (a KILL cannot reach it) and never
 *     counted as ready. Pinned services (registry/metadata/data, client,
 *     prober) wait for their node and are reported: a partition never
 *     produces a second copy of a pinned service. An unreachable API /
 *     webconsole instance keeps its place for removal_grace_ms (tracked in
 *     unwanted_since_ms), then a replacement is placed elsewhere; if it comes
 *     back, the surplus instance is removed by rule 7: the returning one
 *     still carries the unwanted_since of its absence, so it ranks after
 *     its replacement and is the one killed (the newer one wins, even
 *     before the replacement is ready). TASK_UNKNOWN on an ACTIVE agent is
 *     treated as terminal: the master knows every task of a registered
 *     agent, so "unknown" there means "not running".
 *     Two live tasks in one (service, agent) slot: one is kept, the others
 *     are killed at once (PLAN_KILL_DUPLICATE; an unreachable one when it
 *     returns). Kept is, in order: a task with no KILL requested, a
 *     reachable one, a ready one (rule 5), then the NEWER one (larger
 *     launched_ms; equal: the larger task id). So a task that comes back
 *     after its replacement started (is ready) is killed and the newer one
 *     wins; a returning task that is ready is not killed for a replacement
 *     that is not ready yet (the replacement is killed instead, leaving
 *     the slot served).
 * 10. Minimum: with a target version set, if no node offers a registry,
 *     metadata or data service, problems[] says exactly which is missing.
 * 11. Reservations. Every LAUNCH of registry, metadata, data or client and
 *     every LAUNCH_PROBER carries reserve = config.reserve: the shell runs
 *     it on (and creates, if missing) a dynamic reservation for that
 *     (service, agent). API and webconsole move between agents and never
 *     reserve. releasable[i] says whether input reservation i could go:
 *     no live (non-terminal, unreachable included) task of its (service,
 *     agent) slot exists AND the plan does not want the service there.
 *     "Does not want" must be known: an inactive agent is never
 *     releasable, nor is a registry/metadata/data slot (or a client slot
 *     while client_enabled) on an agent whose prober has not reported yet.
 *     An agent that is not in agents[] at all is releasable once no live
 *     task of the slot names it (nothing of ours can run there). With an
 *     empty target version no Quobyte service is wanted, so those are
 *     releasable (on active agents); a prober reservation is releasable
 *     only where the agent no longer passes the prober restriction.
 *     A reservation is released (PLAN_UNRESERVE) only when the operator
 *     asked (release_requested) and it is releasable; otherwise a problem
 *     line says what it waits for. The planner NEVER releases on its own:
 *     a lost device, an empty target or an unknown agent only make a
 *     reservation releasable.
 * 12. Inverse offers (a maintenance drain of an agent): ACCEPTed iff the
 *     agent can go without losing the registry quorum. W = the wanted
 *     registry slots (those on inactive and drained agents included); the
 *     registries that stay ready are the ready wanted ones NOT on that
 *     agent, not on an agent whose maintenance window is in progress (now
 *     in [start, start + duration), open-ended when the duration is 0) and
 *     not on an agent whose inverse offer this plan already accepts
 *     (inverse offers are decided in (agent id, id) order, so two drains
 *     cannot together break the quorum). Accept iff that count >= W/2 + 1.
 *     Accepted outright: an empty target version, an agent with no wanted
 *     registry slot (a registry being retired there is no quorum member),
 *     an agent not in agents[] (nothing of ours runs there), a drained
 *     agent whose registry is gone (rule 15). A DECLINE's reason is also a
 *     problem line ("host h1: 1 of 3 registries would stay ready, a quorum
 *     needs 2"). While inverse offers are pending, wake_ms covers every
 *     window's start and end.
 * 13. Maintenance and upgrades: a task on an agent whose maintenance window
 *     is in progress or starts within maintenance_lookahead_ms is not
 *     chosen for an upgrade/replace KILL (rule 8); the upgrade moves on to
 *     the next old task elsewhere and a problem line says who waits
 *     ("upgrade of data on h1 waits: maintenance window starts in 12 min").
 *     Such held tasks do not block the upgrade; a wanted task that is NOT
 *     ready still blocks it wherever it is, a node in maintenance included
 *     (one node down is all the quorum can spare). wake_ms covers the
 *     moments a hold begins (start - lookahead) and ends (start + duration).
 * 14. Paused rollout: with config.rollout_paused no upgrade/replace KILL is
 *     made (rule 8) while old tasks remain; missing services are still
 *     launched. A problem line says "rollout paused by the operator".
 * 15. Drain (the operator's per-node maintenance, plan_agent.drained): no
 *     Quobyte service is wanted on a drained agent -- registry, metadata,
 *     data, client (rules 2, 4) nor api/webconsole (rule 3 places them
 *     elsewhere) -- and nothing is launched there; its prober stays, so its
 *     inventory stays known. Its live services are killed at once
 *     (PLAN_KILL_DRAIN, no grace) in REVERSE phase order, one phase at a
 *     time: client, then api+webconsole, then data, metadata, registry; a
 *     phase's KILLs are made only once no live task of a later phase is
 *     left on that node (a task with a KILL requested is live until its
 *     terminal update). An unreachable task there is not killed (rule 9)
 *     and holds the drain. Its reservations are kept: never releasable
 *     while the node is drained (rule 11), whatever the target. Its
 *     registry slot stays a member of the quorum (W of rule 12) but is never
 *     counted as staying; an inverse offer for a drained agent whose
 *     registry is gone is accepted outright. Undrained, the node is wanted
 *     again and rules 5-6 relaunch its services (on their reservations).
 *     drain[i] is the verdict for agent i: safe = draining it now keeps the
 *     registry quorum by rule 12's count (its own registry not staying, nor
 *     those on drained agents, agents in a maintenance window now or whose
 *     inverse offer this plan accepts); always safe with an empty target, on
 *     an agent with no registry slot, or on one already drained. left = the
 *     live Quobyte service tasks (probers aside) still on a drained agent;
 *     0 = fully drained. The shell refuses an operator's drain that is not
 *     safe unless forced; the planner itself carries out every drain it is
 *     given.
 *
 * Threads: plan_compute is reentrant and touches only its arguments. */
#ifndef QM_PLAN_H
#define QM_PLAN_H

#include "core/service.h"

#include <stdbool.h>
#include <stddef.h>

/* Phases in launch order; also the index of plan_output.progress[]. */
enum plan_phase {
	PLAN_PHASE_PROBERS = 0,
	PLAN_PHASE_REGISTRY,
	PLAN_PHASE_METADATA,
	PLAN_PHASE_DATA,
	PLAN_PHASE_MANAGEMENT, /* api + webconsole */
	PLAN_PHASE_CLIENT,
	PLAN_PHASE_COUNT
};

/* Mesos task states (scheduler API §7) plus LAUNCHING: the shell sent the
 * ACCEPT with the LAUNCH and has had no update yet. */
enum plan_task_state {
	PLAN_TASK_LAUNCHING = 0,
	PLAN_TASK_STAGING,
	PLAN_TASK_STARTING,
	PLAN_TASK_RUNNING,
	PLAN_TASK_KILLING,
	PLAN_TASK_FINISHED,
	PLAN_TASK_FAILED,
	PLAN_TASK_KILLED,
	PLAN_TASK_ERROR,
	PLAN_TASK_LOST,
	PLAN_TASK_DROPPED,
	PLAN_TASK_UNREACHABLE,
	PLAN_TASK_GONE,
	PLAN_TASK_GONE_BY_OPERATOR,
	PLAN_TASK_UNKNOWN,
	PLAN_TASK_STATE_COUNT
};

enum plan_health {
	PLAN_HEALTH_UNKNOWN = 0, /* no health report yet (or no check) */
	PLAN_HEALTH_OK,
	PLAN_HEALTH_FAILING
};

/* A text attribute: Mesos agent attributes as name/value text (the shell
 * renders scalars/ranges/sets as text); also used for restrictions, where a
 * NULL or empty name means "no restriction". Matching is exact and
 * case-sensitive. */
struct plan_attr {
	const char *name;
	const char *value;
};

struct plan_config {
	unsigned api_count;            /* default 1 */
	unsigned webconsole_count;     /* default 1 */
	struct plan_attr api_restriction;
	struct plan_attr webconsole_restriction;
	bool client_enabled;           /* default false (opt-in) */
	long long removal_grace_ms;    /* default 5 min */
	long long backoff_base_ms;     /* default 10 s; 0 disables backoff */
	long long backoff_max_ms;      /* default 10 min */
	/* Prober restriction: when n_prober_hosts > 0 the agent's hostname must
	 * be in the list; when prober_restriction.name is set the agent must
	 * carry that attribute. Both apply when both are set. */
	const char *const *prober_hosts;
	size_t n_prober_hosts;
	struct plan_attr prober_restriction;
	long long prober_stale_ms;     /* default 90 s; 0 = never stale */
	/* Set of (1u << enum service) whose task specs carry a health
	 * check; default registry, metadata, data, client. */
	unsigned health_checked;
	bool reserve;                  /* default true: pinned services reserve (rule 11) */
	long long maintenance_lookahead_ms; /* default 1 h (rule 13) */
	bool rollout_paused;           /* default false: no upgrade KILLs (rule 8) */
};

/* What the agent's prober last reported (all zero before its first report).
 * Device counts are OK devices only (typed, mounted, marker valid). */
struct plan_report {
	bool has_report;
	long long last_report_ms;
	unsigned registry_devices;     /* DIR_DEVICE */
	unsigned metadata_devices;
	unsigned data_devices;
	bool registry_bootstrap;       /* a registry device has device.bootstrap=true */
	bool client_mount;             /* the client mount point exists */
};

struct plan_agent {
	const char *agent_id;          /* required, unique */
	const char *hostname;          /* may be NULL; used in problem lines */
	const struct plan_attr *attrs;
	size_t n_attrs;
	bool active;                   /* false after agent loss / partition */
	struct plan_report report;
	/* The agent's maintenance window (Mesos Unavailability), rules 12-13. */
	long long maint_start_ms;      /* 0 = no maintenance window scheduled */
	long long maint_duration_ms;   /* 0 with a start = open-ended */
	bool drained;                  /* the operator drained it (rule 15) */
};

struct plan_task {
	const char *task_id;           /* required, unique */
	enum service service;
	const char *agent_id;          /* required; may name an agent not in agents[] */
	const char *version;           /* image version; ignored for probers; NULL = unknown */
	enum plan_task_state state;
	enum plan_health health;
	long long launched_ms;
	bool kill_requested;           /* the shell sent a KILL for it */
	long long unwanted_since_ms;   /* as returned by the previous plan; 0 = not marked */
	/* Non-NULL: this task must be replaced although its version is the
	 * target (e.g. "device /mnt/d2 added": its container cannot see a new
	 * device). Replaced like an upgrade (rule 8): one at a time, only while
	 * every other wanted task is ready. */
	const char *replace_reason;
};

/* Failure history of one (service, agent) slot; maintained by the shell (see
 * rule 6). Slots without an entry have no failures. */
struct plan_history {
	enum service service;
	const char *agent_id;
	unsigned consecutive_failures;
	long long last_failure_ms;
};

/* A reservation of ours that the shell knows (rule 11); one per
 * (service, agent). */
struct plan_reservation {
	enum service service;
	const char *agent_id;          /* required; may name an agent not in agents[] */
	bool release_requested;        /* the operator asked to release it */
};

/* An inverse offer the master sent (rule 12). */
struct plan_inverse_offer {
	const char *id;                /* required, unique */
	const char *agent_id;          /* required; may name an agent not in agents[] */
};

/* Borrowed views: plan_compute never keeps or frees any of these pointers. */
struct plan_input {
	long long now_ms;              /* must be > 0 (0 is the "unset" marker) */
	const char *target_version;    /* NULL or "" = no Quobyte services wanted */
	struct plan_config config;
	const struct plan_agent *agents;
	size_t n_agents;
	const struct plan_task *tasks;
	size_t n_tasks;
	const struct plan_history *history;
	size_t n_history;
	const struct plan_reservation *reservations;
	size_t n_reservations;
	const struct plan_inverse_offer *inverse_offers;
	size_t n_inverse_offers;
	/* Optional hints from a caller that keeps them between plans (NULL:
	 * none). The plan sorts agents and tasks by id and finds each task's
	 * agent: at 10,000 agents that was most of a plan's index work
	 * (offer_cycle.py --profile: build_index), done again for every
	 * OFFERS event although agents and tasks seldom change. Each hint is
	 * checked in one pass and ignored when wrong, so a stale one costs
	 * time, never a wrong plan.
	 *  agent_order: n_agents indices of agents[], in increasing agent_id
	 *  task_order:  n_tasks indices of tasks[], in increasing task_id
	 *  task_agent:  per task, the index in agents[] of its agent_id, or
	 *               SIZE_MAX when no agent has it (used with agent_order) */
	const size_t *agent_order;
	const size_t *task_order;
	const size_t *task_agent;
};

enum plan_action_type {
	PLAN_LAUNCH = 0,       /* service, agent_id, version */
	PLAN_KILL,             /* task_id (+ service, agent_id), kill_reason, reason */
	PLAN_LAUNCH_PROBER,    /* agent_id */
	PLAN_UNRESERVE,        /* agent_id, service, reason: release that reservation now */
	PLAN_ACCEPT_INVERSE,   /* inverse_offer_id, agent_id, reason (service unused) */
	PLAN_DECLINE_INVERSE   /* inverse_offer_id, agent_id, reason (service unused) */
};

enum plan_kill_reason {
	PLAN_KILL_NONE = 0,    /* not a KILL */
	PLAN_KILL_SHUTDOWN,    /* target version is empty */
	PLAN_KILL_NO_DEVICE,   /* the node lost its last device of the type */
	PLAN_KILL_NO_MOUNT,    /* the client mount point is gone */
	PLAN_KILL_DISABLED,    /* client no longer enabled */
	PLAN_KILL_RESTRICTED,  /* the agent no longer passes the restriction */
	PLAN_KILL_EXCESS,      /* more api/webconsole instances than configured */
	PLAN_KILL_DUPLICATE,   /* a second live task in one (service, agent) slot */
	PLAN_KILL_UPGRADE,     /* rolling upgrade: replaced by the target version */
	PLAN_KILL_REPLACE,     /* replaced for its replace_reason (rule 8) */
	PLAN_KILL_DRAIN,       /* its node is drained by the operator (rule 15) */
	PLAN_KILL_REASON_COUNT
};

/* Strings are owned by the plan_output (freed by plan_output_free). */
struct plan_action {
	enum plan_action_type type;
	enum service service;     /* SERVICE_PROBER for LAUNCH_PROBER */
	char *agent_id;                /* always set */
	char *version;                 /* LAUNCH: the target version; else NULL */
	char *task_id;                 /* KILL: the task; else NULL */
	enum plan_kill_reason kill_reason;
	/* KILL, UNRESERVE, ACCEPT/DECLINE_INVERSE: one line for logs; else NULL */
	char *reason;
	/* LAUNCH/LAUNCH_PROBER: run on (and create if missing) a reservation
	 * for (service, agent) (rule 11). */
	bool reserve;
	char *inverse_offer_id;        /* ACCEPT/DECLINE_INVERSE; else NULL */
};

/* Per phase: wanted tasks (for api+webconsole: the configured counts, even
 * when fewer agents qualify), how many of them are ready, and how many are
 * ready at the target version (probers: ready and reporting fresh). */
struct plan_progress {
	unsigned wanted;
	unsigned ready;
	unsigned at_target;
};

/* At most this many problem lines; beyond it the last line says how many
 * were left out. */
#define PLAN_MAX_PROBLEMS 256

/* Rule 15's verdict on draining one agent. */
struct plan_drain {
	char *agent_id;     /* a copy of the agent's id (in the output's drain_ids) */
	bool safe;          /* draining it now keeps the registry quorum */
	unsigned staying;   /* ready registries that would stay elsewhere */
	unsigned members;   /* W: the registry quorum's members */
	unsigned quorum;    /* W/2 + 1 (0 when W is 0) */
	bool drained;       /* the input said the agent is drained */
	unsigned left;      /* drained agent: live service tasks still there */
};
/* Longer problem lines end in "...". */
#define PLAN_PROBLEM_MAX 512

struct plan_output {
	struct plan_action *actions;
	size_t n_actions;
	/* A LAUNCH or LAUNCH_PROBER is pending: REVIVE, else SUPPRESS. (An
	 * UNRESERVE needs an offer of its agent too; the shell decides.) */
	bool want_offers;
	/* n_tasks entries parallel to input.tasks: the value to store and pass
	 * back as plan_task.unwanted_since_ms next time. */
	long long *unwanted_since_ms;
	size_t n_tasks;
	/* n_agents entries parallel to input.agents: the agent's prober is stale. */
	bool *prober_stale;
	size_t n_agents;
	/* n_reservations entries parallel to input.reservations (rule 11). */
	bool *releasable;
	size_t n_reservations;
	/* n_agents entries parallel to input.agents (rule 15). */
	struct plan_drain *drain;
	char *drain_ids;    /* the drain entries' agent ids, one block */
	struct plan_progress progress[PLAN_PHASE_COUNT];
	/* Human-readable lines for operators (no control characters), most
	 * important first: minimum, shutdown / upgrade status, agents, then per
	 * phase in phase order. */
	char **problems;
	size_t n_problems;
	/* Earliest time > now at which the plan changes with no new input
	 * (a backoff or grace ends, a prober turns stale); 0 = none. The shell
	 * arms a timer for it. */
	long long wake_ms;
	/* On error: why, e.g. "tasks[3]: duplicate task id 't1'". */
	char error[160];
};

/* Fill *cfg with the defaults documented in struct plan_config. */
void plan_config_init(struct plan_config *cfg);

/* Compute the plan. Zeroes *out first, then allocates its arrays and strings
 * (qm_malloc: abort on OOM); the caller releases them with
 * plan_output_free(), also after an error. Temporary memory is freed before
 * returning. Returns 0, or QM_EINVAL with out->error set and no actions when
 * the input is malformed: NULL pointers, now_ms <= 0, an enum out of range,
 * a negative duration in the config or a maintenance window, an empty or
 * duplicate agent id / task id / inverse offer id, two history entries or
 * two reservations for one slot. Durations are added saturating, so
 * huge values cannot overflow.
 * Pure: no I/O, no clock, no globals; reentrant. Never blocks. */
int plan_compute(const struct plan_input *in, struct plan_output *out);

/* Release what plan_compute allocated and zero *out. NULL-safe; idempotent. */
void plan_output_free(struct plan_output *out);

/* Relaunch delay after `failures` consecutive failures:
 * 0 when failures == 0 or base_ms <= 0, else min(base * 2^(failures-1), max)
 * computed without overflow. */
long long plan_backoff_ms(long long base_ms, long long max_ms,
			  unsigned failures);

/* Names for logs, REST and problem lines; static strings, never NULL ("?"
 * when out of range); services are named by service_name(). Phases: "probers", "registry",
 * "metadata", "data", "api+webconsole", "client". States: the Mesos names
 * ("TASK_RUNNING"), "LAUNCHING" for PLAN_TASK_LAUNCHING. Kill reasons:
 * "shutdown", "no-device", "no-mount", "disabled", "restricted", "excess",
 * "duplicate", "upgrade", "replace", "drain". */
const char *plan_phase_name(enum plan_phase p);
const char *plan_task_state_name(enum plan_task_state s);
const char *plan_kill_reason_name(enum plan_kill_reason r);

/* The phase a service belongs to (PLAN_PHASE_COUNT when out of range). */
enum plan_phase plan_phase_of(enum service s);

/* Parse a Mesos state name ("TASK_RUNNING"; "LAUNCHING" too) into *out.
 * 0 or QM_EINVAL. */
int plan_task_state_parse(const char *name, enum plan_task_state *out);

/* Terminal per the Mesos master's own check (§7): FINISHED, FAILED, KILLED,
 * ERROR, LOST, DROPPED, GONE, GONE_BY_OPERATOR. Note the planner
 * additionally treats UNKNOWN on an active agent as terminal (rule 9). */
bool plan_task_state_terminal(enum plan_task_state s);

#endif
