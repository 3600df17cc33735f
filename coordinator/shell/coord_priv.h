/* The coordinator shell's private state, shared by its files and by the
 * REST handlers (api/rest.c); nothing outside the coordinator includes it.
 * Everything here runs on the one loop thread that owns struct coord (see
 * coord.c), so nothing needs a lock.
 *
 *   shell/coord.c     lifecycle: start-up, leadership, saving, stopping
 *   shell/setup.c     the configuration turned into parts, at start-up
 *   shell/agents.c    the agent, health and launch-wait tables
 *   shell/planning.c  one planning cycle: plan input, actions, ACCEPT/DECLINE
 *   shell/events.c    Mesos events, failed calls, prober reports, timers
 *   shell/evlog.c     the ring of recent events for operators (evlog.h)
 *   api/rest.c        the REST handlers (/v1/state, /metrics, ...) */
#ifndef QM_COORD_PRIV_H
#define QM_COORD_PRIV_H

#include "shell/coord.h"

#include "api/auth.h"
#include "api/http.h"
#include "api/metrics.h"
#include "bus.h"
#include "clock.h"
#include "core/nodes.h"
#include "core/plan.h"
#include "core/service.h"
#include "core/taskspec.h"
#include "evloop.h"
#include "jtext.h"
#include "mesos/mesos.h"
#include "state/leader.h"
#include "state/stindex.h"
#include "state/store.h"
#include "qm_version.h"
#include "shell/evlog.h"
#include "strmap.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Agent attribute naming the device roots its prober watches (the local
 * one-machine cluster gives every emulated agent its own directory). */
#define ATTR_DEVICE_ROOTS "quobyte_device_roots"
#define SHORT_REFUSE_S 5.0       /* an offer that did not fit a pending launch */
#define KILL_RETRY_MS 30000      /* resend KILL for tasks that do not die */
#define REVIVE_MIN_GAP_MS 1000   /* at most one REVIVE per second for changes */
#define CALL_RETRY_MS 1000       /* a failed DECLINE/REVIVE/SUPPRESS tried again */
#define UNREACHABLE_RECONCILE_MS 10000 /* ask again about unreachable tasks */
/* After a SUBSCRIBE, tasks not heard of are asked about again after
 * RECONCILE_RETRY_MIN_MS, doubling to RECONCILE_RETRY_MAX_MS: a master
 * drops an explicit reconciliation of a task whose agent has not
 * reregistered yet (src/master/master.cpp Master::_reconcileTasks, case
 * "(4) Task is unknown, slave is transitioning: no-op", 1.4.0 to 1.11.0),
 * and says nothing when the agent comes back. */
#define RECONCILE_RETRY_MIN_MS 2000
#define RECONCILE_RETRY_MAX_MS 60000
#define RETRY_CALLS_MAX 1024     /* DECLINE/KILL/ACKNOWLEDGE calls waiting for a retry */
#define RETRY_MAX_MS 30000       /* their retry delay doubles up to this */
#define INVERSE_REFUSE_S 30.0    /* a declined inverse offer is asked again after */
#define INVERSES_MAX 100000      /* inverse offers held; beyond, declined at once */
#define AGENT_MOUNTS_MAX 256     /* MOUNT disks remembered per agent */
#define OFFERS_PER_EVENT_MAX 50000 /* offers parsed from one OFFERS event */
#define AGENTS_SEEN_LOG_MAX 20 /* new agents of one OFFERS event logged one by one */

/* A Mesos MOUNT disk an agent offered (issue 10). */
struct agent_mount {
	char *root;
	double size_mb;
	char *reserved_for;      /* service name when reserved by us, else NULL */
};

struct agent {
	char *id;
	char *hostname;
	struct plan_attr *attrs; /* owned strings */
	size_t nattrs;
	bool active;
	bool offered;            /* seen in an offer (else only from a prober) */
	int64_t last_offer_ms;
	/* Maintenance window from the master (Offer/InverseOffer
	 * unavailability); maint_start_ms 0 = none, duration 0 = open-ended. */
	int64_t maint_start_ms, maint_duration_ms;
	/* Our last answer to an inverse offer for it: "accepted: ..." or
	 * "declined: ..." (the planner's reason); NULL = none yet. */
	char *maint_answer;
	struct agent_mount *mounts; /* seen in offers, by root */
	size_t nmounts;
	/* per device-pinned service: the newest device change already counted
	 * in the marker->LAUNCH histogram */
	uint64_t marker_counted_ms[SERVICE_DATA + 1];
	/* its node's position in c->nodes (nodes_find_cached) */
	size_t node_ix;
	uint64_t node_layout;
};

/* An inverse offer held until the plan answers it. */
struct inverse {
	char *id;
	char *agent_id;
	bool answering; /* a plan's answer waits for its save: no other answers it */
};

/* A reservation of ours as the last plan judged it (REST, /v1/state). */
struct rsv_view {
	enum service service;
	char *agent_id;
	bool releasable;
};

/* Where each task of the state has its health (agents.c health_at). */
struct health_pos {
	uint64_t st_gen, layout;
	size_t n;
	size_t *pos; /* per task: its index in coord.health, or SIZE_MAX */
};

struct health {
	char *task_id;
	enum plan_health h;
	uint64_t heard_in;  /* the subscription (counters.subscriptions) of its
			     * last update, 0 = none heard this term */
};

/* A launch the planner wants that did not fit the agent's last offer. */
struct wait {
	char *agent_id;
	enum service service;
	char reason[192];
	bool seen; /* still pending in the latest plan */
};

struct counters {
	uint64_t offers, accepted, declined, launches, kills, updates, acks;
	uint64_t revives, suppresses, plans, orphans_killed, subscriptions;
	uint64_t replans_deferred; /* replan_soon() held back behind a costly plan */
	uint64_t bus_changes, store_saves, store_errors;
	uint64_t launch_slices; /* slices of a plan's launches carried out (planning.c) */
	uint64_t plans_later;   /* OFFERS events planned in a turn of their own */
	uint64_t reserves, unreserves, reservations_found, inverse_accepted, inverse_declined;
	uint64_t offers_malformed, offers_over_cap, bus_unexpected_refused;
};

struct coord {
	const struct coord_config *cfg;
	struct ev_loop *loop;
	struct mesos_client *mc;
	struct busd *busd;
	struct http_server *http;
	struct auth *auth;        /* REST API tokens, limits, audit (auth.h) */
	bool http_open;           /* no token on a listener others reach */
	uint64_t insecure_timer;
	struct store *store;
	struct zk_conn *zk;       /* with --zk: store and election share it */
	struct store_state st;
	struct sti sti; /* look-ups in st: use sti_* on c->st, not the scans */
	uint64_t st_version;
	struct nodes nodes;
	/* c->nodes.layout when agents_from_nodes last found an agent for every
	 * node; 0 after an agent is forgotten */
	uint64_t agents_nodes_layout;
	struct agent *agents;
	size_t nagents, agents_cap;
	size_t agents_inactive; /* how many of them are not active (agent_set_active) */
	/* While an OFFERS event is read, agent_get logs the first
	 * AGENTS_SEEN_LOG_MAX new agents one by one and counts the rest
	 * (handle_offers logs the count): a line per agent was 10,000 writes,
	 * ~20 ms of the first OFFERS event's loop iteration at 10,000 agents */
	bool seen_capped;
	size_t seen_logged, seen_unlogged;
	struct strmap agent_idx;  /* agent id -> index in agents */
	uint64_t agents_gen;      /* bumped when agents[] gains, loses or moves one */
	/* nodes made for agents nobody expected (agents.c agent_admit_node) */
	char **unexpected;
	size_t nunexpected;
	int64_t unexpected_rescan_ms;
	int64_t unexpected_logged_ms;
	struct health *health;
	size_t nhealth, health_cap;
	struct strmap health_idx; /* task id -> index in health */
	/* health_at: where each task of c->st has its health, found for the
	 * state of gen st_gen and the health table of layout `layout`
	 * (c->health_layout, new whenever an entry is added or dropped) */
	uint64_t health_layout;
	struct health_pos health_pos;
	/* Tasks in c->st whose LAUNCH waits for an asynchronous save (a
	 * launch slice's, planning.c): the master does not know them yet, so
	 * an explicit reconciliation must not ask about them (it would answer
	 * TASK_GONE, and the task would be launched twice). */
	struct strmap unsent;
	struct wait *waits;
	size_t nwaits;

	struct taskspec_config ts;
	struct plan_config pc;
	char **prober_hosts;
	size_t nprober_hosts;
	char *restr_buf[4]; /* owned name/value strings of restrictions */

	uint8_t *secret;
	size_t secretlen;
	char *bus_url;       /* handed to probers */
	char *hostname;
	char *webui;
	char *prober_uri;    /* derived from --prober-binary: our own URL */

	/* Leadership. With the file store there is one coordinator per state
	 * directory (flock), so it leads from the start; with ZooKeeper it leads
	 * only between leader elected() and lost(). Everything that acts --
	 * subscribing, launching, killing, saving, taking prober reports -- is
	 * done only while leading. */
	struct leader *leader;
	bool leading;
	bool step_down_posted; /* the store or the election says we no longer lead */

	bool suppressed;
	bool discovering;    /* subscribed, no OFFERS seen yet: keep offers on */
	bool replan_posted;  /* a replan is posted, or armed (replan_timer) */
	uint64_t replan_timer; /* a deferred replan (replan_soon) */
	uint64_t plan_end_ms;  /* monotonic end of the last computed plan */
	uint64_t plan_cost_ms; /* and what it took, its save left out */
	uint64_t plan_save_ms; /* the save within the plan running now */
	uint64_t save_cost_ms; /* what the last save of a plan or slice took */
	uint64_t save_cost_prev_ms; /* and the one before */
	/* Offers a launch slice takes, sized from the slices before so that a
	 * whole slice (build, save, ACCEPTs) lasts its budget (0 = by time
	 * alone: nothing measured yet, or a store whose save does not follow
	 * the change). */
	size_t slice_offers;
	struct carry *carry;   /* launch slices left (planning.c), or NULL */
	uint64_t carry_timer;  /* the next slice */
	struct plan_later *plan_later; /* offers planned in the next turn, or NULL */
	uint64_t plan_later_timer;
	bool replan_after_carry; /* a replan was asked for while slices were left */
	uint64_t revived_sig;
	int64_t last_revive_ms;
	int64_t new_agent_ms; /* loop time an agent was first offered (0 = none this term) */
	uint64_t wake_timer;
	uint64_t trim_timer; /* trim_soon(): freed heap back to the kernel */
	struct trim_job *trim_job; /* the heap trim running on its thread */
	/* the quiet check before it (trim_cb): the loop thread's CPU time and
	 * the clock when the last second's look began, and looks so far */
	uint64_t trim_cpu_at, trim_mono_at;
	unsigned trim_looks;
	int64_t wake_at;
	uint64_t unreach_timer;    /* reconcile of TASK_UNREACHABLE tasks */
	uint64_t recon_retry_timer;  /* reconcile of tasks not heard of since SUBSCRIBE */
	uint64_t recon_retry_ms;     /* its next delay */
	int64_t subscribed_wall_ms;  /* wall_ms() of the last SUBSCRIBED */
	cJSON *retry_calls;        /* calls to send again */
	/* Status updates are saved as a group (events.c flush_updates): the
	 * ACKNOWLEDGE calls of those taken in wait here until the save that
	 * makes them durable, posted once per loop turn. */
	cJSON *held_acks;
	/* and once durable, the ACKNOWLEDGEs a turn had no time left for */
	cJSON *acks_out;
	uint64_t acks_timer;
	bool updates_unsaved;      /* an update changed c->st since the last save */
	/* Asynchronous saves (coord_save_then): the save in flight and what
	 * waits for it, what waits for the next one, the term the save in
	 * flight belongs to (a new term never takes an old term's answer),
	 * and a failed save's state still to be read again (then saves
	 * fail). */
	bool save_inflight;
	uint64_t save_timer;       /* starts the queued save in a turn of its own */
	bool save_postponed;       /* ... a turn later, once */
	uint64_t save_t0, save_term, term; /* save_t0: clock_mono_us() */
	struct save_cont *conts_inflight, *conts_queued;
	/* coord_saved_next_turn: continuations of synchronous saves */
	struct save_cont *conts_saved;
	uint64_t saved_timer;
	uint64_t stall_logged_ms;  /* the last loop_stall line (clock_mono_ms) */
	uint64_t stalls_unlogged;  /* stalls since it, not logged */
	bool reload_pending;
	bool acks_flush_posted;
	bool flush_postponed;      /* ... and moved to a turn of its own */
	uint64_t flush_timer;
	uint64_t retry_timer;
	int64_t retry_delay_ms, retry_last_ms;
	uint64_t revive_timer, reconcile_timer, kill_timer, zk_timer;
	struct plan_output last;      /* last plan, for REST */
	/* The planner's per-agent and per-task input arrays, kept from one
	 * plan to the next (planning.c input_build): made afresh, at 10,000
	 * agents their pages were faulted in and cleared again on every plan,
	 * since the heap trim gives them back between offer cycles. */
	struct plan_scratch {
		struct plan_agent *pa;
		struct plan_task *pt;
		char **reasons;
		size_t agents_cap, tasks_cap, reasons_cap;
		/* the plan's order hints (plan_input.agent_order, ...), sorted
		 * again only when agents or tasks came or went: as of
		 * agents_gen + 1 / st.gen + 1 (0: never made) */
		size_t *agent_order, *task_order, *task_agent;
		uint64_t agent_order_of, task_order_of, task_agent_of_agents,
			task_agent_of_tasks;
	} plan_scratch;
	struct inverse *inverses;     /* reserve.c */
	size_t ninverses, inverses_cap;
	struct rsv_view *rsv_view;    /* parallel to nothing: rebuilt by every plan */
	size_t nrsv_view;
	/* "agent id\x1f<service>" -> index in rsv_view, made by the first
	 * rsv_releasable after a rebuild (zeroed = empty): /v1/state asks
	 * about every reservation, a scan each was 10,000 x 10,000 strcmps */
	struct strmap rsv_view_idx;
	bool rsv_view_indexed;
	bool st_dirty;                /* the state changed outside a plan: save with it */
	int64_t acting_since_ms;      /* wall ms this term began */
	/* The last save's failure ("" after a success) and since when saves
	 * fail (wall ms): a problem line for operators, e.g. a full disk. */
	char store_error[320];
	int64_t store_error_since_ms;
	struct counters n;
	struct metrics_state metrics; /* histograms for /metrics (api/metrics.h) */
	struct evlog *evlog;          /* recent events for /v1/state (shell/evlog.h) */
	sigset_t stop_signals; /* SIGTERM, SIGINT, SIGHUP: blocked, read by sigfd */
	int sigfd;
	int exit_code;
	bool stopping;
	/* SIGTERM/SIGINT seen: the Mesos calls already made are drained
	 * (coord.c on_signal) before `stopping` is set */
	bool draining;
	unsigned drain_signo;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* Real time in ms (stamps in /v1/state and the store), signed as the
 * store's fields are. */
static inline int64_t wall_ms(void)
{
	return (int64_t)clock_real_ms();
}

static inline const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* {"key":{"value":"..."}} -> "..." */
static inline const char *json_id(const cJSON *o, const char *key)
{
	return json_str(cJSON_GetObjectItemCaseSensitive(o, key), "value");
}

static inline enum plan_task_state task_state(const struct store_task *t)
{
	enum plan_task_state s = PLAN_TASK_LAUNCHING;
	if (t->state[0])
		(void)plan_task_state_parse(t->state, &s);
	return s;
}

static inline enum service task_service(const struct store_task *t)
{
	enum service s;
	if (service_parse(t->service, &s) != 0)
		return SERVICE_PROBER;
	return (enum service)s;
}

/* ------------------------------------------------------------------ */
/* coord.c: lifecycle                                                  */

/* An empty coordinator for cfg (borrowed for its life): no loop, store,
 * client or listener yet; coord_run's start-up steps add them. */
void coord_init(struct coord *c, const struct coord_config *cfg);
/* Free whatever of c was set up (any part may be missing). Work still
 * posted to the loop runs inside, after the Mesos client is gone: callers
 * other than coord_run run the loop dry first (tests/fuzz/fuzz_events.c). */
void coord_free(struct coord *c);

/* Log why, and stop the loop with exit code 1. */
void coord_fatal(struct coord *c, const char *why);
/* Save c->st; 0 or the store's error (logged). A conflict means another
 * coordinator writes the state: step down (ZooKeeper) or stop (file). */
int coord_save(struct coord *c);
/* Save c->st, then call fn(c, arg, saved) on the loop: at once with the
 * store's synchronous save, later with an asynchronous one (the ZooKeeper
 * store: the state is encoded in the next loop turn, as it is then, and the
 * loop goes on while ZooKeeper answers). Saves asked for before that turn,
 * or while one is in flight, are coalesced into one. saved is false when the save failed or this coordinator no longer
 * acts for the term that asked; then fn must not send what depended on
 * it. fn may run inside a later coord_save() or coord_settle() (which
 * wait for the save in flight first): it must not free what such a caller
 * may hold (the carry, c->st). */
typedef void (*save_cont_fn)(struct coord *c, void *arg, bool saved);
void coord_save_then(struct coord *c, save_cont_fn fn, void *arg);
/* fn after the save in flight (with its outcome), or at once (saved)
 * when none is: for what an earlier change needs durable and no later one
 * does. */
void coord_after_save(struct coord *c, save_cont_fn fn, void *arg);
/* fn(c, arg, saved) in the next loop turn (at once without a loop), for
 * a synchronous save made now: what it sends goes out a turn later
 * instead of lengthening this one. saved turns false when this
 * coordinator stops acting first. */
void coord_saved_next_turn(struct coord *c, save_cont_fn fn, void *arg, bool saved);
/* Run what coord_saved_next_turn left for the next turn; wait for the
 * save in flight and the one queued behind it (started now), running
 * their continuations. */
void coord_settle(struct coord *c);
/* For work about to join the running iteration: true (and *postponed
 * set) when the iteration is already marked with a kind in busy and the
 * work has not waited yet; the caller then moves it to a 0 ms timer, a
 * turn of its own. It waits once: the next call answers false. */
bool coord_wait_a_turn(struct ev_loop *loop, unsigned busy, bool *postponed);
/* Read the state again after a failed save (planning.c). */
void forget_unsaved(struct coord *c);
/* Stop acting once the current callback is over (leadership is gone). */
void step_down_soon(struct coord *c);

/* ------------------------------------------------------------------ */
/* setup.c: the configuration turned into the coordinator's parts      */

/* Hostname, task builder and planner settings, REST API tokens: 0, or 2
 * (a configuration error, logged). */
int setup_config(struct coord *c);
/* The bus secret (made in the state dir on first start) and the URL
 * probers dial: 0, or 1 (logged). */
int setup_bus(struct coord *c);
/* The Mesos principal's secret when one is configured: 0 with *out (NULL,
 * or a string the caller wipes and frees), or 1 (logged). */
int setup_mesos_secret(const struct coord_config *cfg, char **out);

/* ------------------------------------------------------------------ */
/* planning.c: one planning cycle                                      */

/* One planning cycle: build the plan input from the state, plan, and carry
 * the actions out -- KILLs, LAUNCHes into offers (recorded and saved before
 * the ACCEPT), REVIVE/SUPPRESS. Every one of the noffers offers is answered
 * (ACCEPT or DECLINE) before it returns; they stay the caller's. */
void coord_plan(struct coord *c, struct taskspec_offer *offers, size_t noffers);
/* Declines gathered by filter (planning.c: why one DECLINE carries many
 * offers): decline_add() queues an offer id under its refuse_seconds (a
 * call goes out at DECLINE_IDS_MAX ids), declines_send() sends the rest.
 * Start from {.n = 0}. */
#define DECLINE_IDS_MAX   4096
#define DECLINE_FILTERS   4 /* distinct refuse values in one cycle (2 today) */
struct declines {
	struct {
		double refuse;
		struct jtext ids; /* the offer_ids array's text, "[" onwards */
		int n;
	} v[DECLINE_FILTERS];
	size_t n;
};

void decline_add(struct coord *c, struct declines *d, const char *offer_id, double refuse);
void declines_send(struct coord *c, struct declines *d);
/* Plan once the current callback is over (coalesced; after a costly plan,
 * once a few times its cost have passed: planning.c). */
void replan_soon(struct coord *c);
/* Drop a deferred replan (the caller plans now, or stops leading). */
void replan_cancel(struct coord *c);
/* Forget the launch slices left; with decline, their offers are declined
 * while subscribed (planning.c). */
void carry_drop(struct coord *c, bool decline);
/* Plan offers[0..n) in loop turns of their own (the offers are moved out:
 * the entries are emptied; their event's JSON is taken along), for an
 * OFFERS event whose own handling took long already: the plan is computed
 * in the next turn and carried out in the one after. Until then a replan
 * waits (as behind launch slices) and another event's plan first carries
 * this one out. false (nothing taken) when one waits already or the
 * event's JSON is not in an arena of its own: then plan now. */
bool plan_later(struct coord *c, struct taskspec_offer *offers, size_t n);
/* Forget the offers waiting for plan_later's turn (the master takes them
 * back: on losing the lead or stopping). */
void plan_later_drop(struct coord *c);
/* Forget the durable updates' ACKNOWLEDGEs not yet sent (events.c; the
 * master sends those updates again): on losing the lead or stopping. */
void acks_drop(struct coord *c);
/* Plan again within ms (an earlier wake stands). */
void wake_in(struct coord *c, int64_t ms);
/* After a burst that allocated and freed much (an OFFERS event of
 * thousands of offers, the launches planned into it, the state dropped on
 * losing the lead): in TRIM_DELAY_MS, malloc_trim(0) hands what glibc kept
 * back to the kernel. Coalesced: one pending at a time. */
void trim_soon(struct coord *c);
#define TRIM_OFFERS_MIN 1000 /* offers in one event that call trim_soon() */

/* ev_mark kinds of the coordinator's loop. SAVE: an iteration that saved
 * the state (a synchronous save, an asynchronous one started or
 * answered), for the longest iteration "during a save" (/metrics). The
 * others say what else a stall held (the loop_stall log line): a plan
 * computed, launches built (a plan carried out, a slice), an OFFERS event
 * booked, prober reports taken in, ACKNOWLEDGEs sent, Mesos events of
 * any type handled. */
#define COORD_MARK_SAVE 0
#define COORD_MARK_PLAN 1
#define COORD_MARK_LAUNCH 2
#define COORD_MARK_OFFERS 3
#define COORD_MARK_REPORTS 4
#define COORD_MARK_ACKS 5
#define COORD_MARK_EVENTS 6 /* any Mesos event (status updates ...) */
#define COORD_MARKS 7
/* Send a KILL for t (when subscribed). */
void send_kill(struct coord *c, struct store_task *t);
/* Why the running disk service t must be replaced, written into buf, or
 * NULL. */
const char *replace_reason(struct coord *c, const struct store_task *t, char *buf,
			   size_t cap);

/* ------------------------------------------------------------------ */
/* events.c: Mesos events, failed calls, prober reports, timers        */

/* The Mesos client's handlers (arg: the coordinator). */
extern const struct mesos_handlers events_mesos_handlers;
/* busd's message callback (arg: the coordinator). */
void events_on_bus(void *arg, const char *agent_id, const bus_envelope *env,
		   Quobyte__Bus__Ack *ack);
/* The periodic REVIVE, reconciliation and KILL retries. */
void events_start_timers(struct coord *c);

/* ------------------------------------------------------------------ */
/* agents.c: the agent, health and launch-wait tables                  */

void agents_init(struct coord *c);
void agents_fini(struct coord *c);
/* The agent with this id, or NULL. The pointer lives until the next
 * agent_get(). */
struct agent *agent_find(struct coord *c, const char *id);
/* An inactive agent whose host already has an active agent under a new id
 * is dropped (its node, its reservation records): the agent came back
 * before the master said the old one was gone. */
void agent_drop_if_replaced(struct coord *c, const char *id);
/* The agent with this id, made (active, no attributes) when unknown; a
 * hostname given replaces the one known. */
struct agent *agent_get(struct coord *c, const char *id, const char *hostname);
void agent_clear_attrs(struct agent *a);
/* Mark a active or not (keeps the count of inactive agents). */
void agent_set_active(struct coord *c, struct agent *a, bool active);
/* The value of attribute name (borrowed), or NULL; a may be NULL. */
const char *agent_attr(const struct agent *a, const char *name);
/* Make sure every node a prober reported from is an agent. */
void agents_from_nodes(struct coord *c);
/* Whether a prober message from agent_id, which has no node yet, may make
 * one. An expected agent (offered to us, or running a task of ours in the
 * state) always may; another -- a prober of a framework whose state was
 * lost, a misconfigured or hostile one holding the cluster secret -- only
 * while fewer than UNEXPECTED_NODES_MAX nodes of such agents are held
 * (they are counted again, those since offered or gone dropped, at most
 * every UNEXPECTED_RESCAN_MS when the cap is reached). A refused prober
 * retries with its back-off (1 s doubling to 60 s) and is taken once its
 * agent is offered. */
#define UNEXPECTED_NODES_MAX 1024
#define UNEXPECTED_RESCAN_MS 5000
bool agent_admit_node(struct coord *c, const char *agent_id);
enum plan_health health_of(struct coord *c, const char *task_id);
/* health_of(c, c->st.tasks[i].task_id), i < c->st.ntasks, without a
 * look-up by id while neither the state's tasks (store_state.gen) nor the
 * health table's entries changed: a plan reads every task's health, and
 * at 10,000 tasks the look-ups (a hash, a probe and a compare of two
 * scattered strings each) were a quarter of a whole plan's CPU
 * (offer_cycle.py --profile: health_of under input_tasks). */
enum plan_health health_at(struct coord *c, size_t i);
void health_set(struct coord *c, const char *task_id, enum plan_health v);
void health_drop(struct coord *c, const char *task_id);
/* A status update of task_id arrived in the current subscription. */
void health_heard(struct coord *c, const char *task_id);
/* Was one heard in the current subscription? */
bool health_was_heard(struct coord *c, const char *task_id);
struct wait *wait_find(struct coord *c, const char *agent_id, enum service s);
void wait_set(struct coord *c, const char *agent_id, const char *hostname,
	      enum service s, const char *reason);
void wait_remove_at(struct coord *c, size_t i);
void wait_clear(struct coord *c, const char *agent_id, enum service s);

/* ------------------------------------------------------------------ */
/* reserve.c: reservations, MOUNT disks and maintenance (issue 10)     */

/* Take what an offer tells about our reservations (found by their labels:
 * recorded in the state, never released) and the agent's MOUNT disks and
 * maintenance window. Sets c->st_dirty when the state changed. */
void rsv_note_offer(struct coord *c, const struct taskspec_offer *o);
/* Record a RESERVE we are about to send for (service, agent) (saved with
 * the launch before the ACCEPT). reserve: the RESERVE's resources. */
void rsv_note_reserve(struct coord *c, enum service s, const char *agent_id,
		      const char *hostname, const cJSON *reserve,
		      const struct taskspec_fit *fit);
/* One line "cpus=1 mem=1024 disk=0 ports=[7861] mount=/mnt/d1" of a
 * resources array. */
void rsv_summary(const cJSON *resources, char *buf, size_t cap);
/* Rebuild c->rsv_view from the plan's verdicts. */
void rsv_view_update(struct coord *c, const struct plan_input *in,
		     const struct plan_output *out);
/* The last plan's verdict on (service, agent): 1 releasable, 0 not, -1
 * not judged yet. */
int rsv_releasable(struct coord *c, enum service s, const char *agent_id);
void rsv_fini(struct coord *c);

/* Unavailability {start:{nanoseconds}, duration?:{nanoseconds}} in ms;
 * false when absent or malformed. */
bool maint_window(const cJSON *u, int64_t *start_ms, int64_t *duration_ms);
/* Hold an inverse offer (false: over INVERSES_MAX or a duplicate). */
bool inverse_add(struct coord *c, const char *id, const char *agent_id);
void inverse_remove(struct coord *c, const char *id);
/* Mark the inverse offer id as answered by a plan whose save is in flight
 * (answering), or as open again (its save failed). */
void inverse_answering(struct coord *c, const char *id, bool answering);
bool inverse_is_answering(const struct coord *c, const char *id);
void inverse_clear(struct coord *c);

#endif
