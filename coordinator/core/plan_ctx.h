/* The planner's scratch state and the helpers its passes share; internal
 * to core/plan*.c (the public surface is core/plan.h).
 *
 * One plan_compute() call owns one struct ctx on its stack: plan.c builds
 * the index (agents sorted by id, tasks attached to their (agent, service)
 * slot, failure history per slot), plan_rules.c runs one pass per rule over
 * it, plan_rsv.c the resource rules (reservations, inverse offers,
 * maintenance windows), and plan_lines.c holds what the passes emit
 * (actions, problem lines, wake-ups), the per-agent report and the final
 * assembly.
 *
 * Slots are indexed pos * SERVICE_COUNT + service, where pos is the
 * agent's rank in agent-id order; iterating pos in order is what makes the
 * output independent of the input's array order.
 *
 * Pure like the planner: no I/O, no clock, no globals. Every function takes
 * the ctx of the one call it serves. */
#ifndef QM_PLAN_CTX_H
#define QM_PLAN_CTX_H

#include "core/plan.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NONE SIZE_MAX
#define NSVC SERVICE_COUNT

/* Problem sections, in the order operators read them. */
enum sect {
	SECT_MINIMUM,
	SECT_TARGET,
	SECT_UPGRADE,
	SECT_AGENT,
	SECT_PHASE /* + enum plan_phase */
};

/* Per-task flags. */
enum {
	TF_LIVE = 1,    /* not terminal (rule 9's reading of UNKNOWN included) */
	TF_UNREACH = 2, /* live but out of reach: never killed, never ready */
	TF_KILLED = 4   /* a KILL for it is in this plan already */
};

/* Per-slot flags. */
enum {
	SF_WANTED = 1,  /* the plan wants a task here */
	SF_DORMANT = 2, /* would be wanted, but the agent is inactive */
	SF_READY = 4,   /* wanted and its keeper is ready */
	SF_DRAINED = 8  /* would be wanted, but the operator drained the node */
};

struct prob {
	char *text;
	unsigned sect;
	size_t seq;
};

struct ctx {
	const struct plan_input *in;
	const struct plan_config *cfg;
	struct plan_output *out;
	long long now;
	const char *target; /* NULL: shut Quobyte down */
	size_t na;
	size_t *aord;        /* pos -> index in in->agents */
	size_t apfx;         /* bytes every agent id shares (a master's ids are
			      * '<master id>-S<n>': 38 of ~40), skipped by the
			      * compares of the sort and of pl_find_agent */
	size_t *tpos;        /* task -> pos, na when the agent is unknown */
	unsigned char *tflag;
	size_t *tnext;       /* next live task of the same slot, by task id */
	size_t *head;        /* slot -> first live task */
	size_t *keeper;      /* slot -> kept live task */
	size_t *hist;        /* slot -> history entry */
	unsigned char *sflag;
	unsigned *load;      /* pos -> Quobyte services this plan wants there */
	size_t *rord;        /* reservations by (agent id, service) */
	size_t *ioord;       /* inverse offers by (agent id, id) */
	bool *gone;          /* pos -> its inverse offer is accepted (rule 12) */
	size_t cap_actions;
	struct prob *probs;
	size_t n_probs, cap_probs;
};

static inline long long pl_sat_add(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return LLONG_MAX;
	return a + b;
}

static inline const struct plan_agent *pl_agent_at(const struct ctx *c, size_t pos)
{
	return &c->in->agents[c->aord[pos]];
}

static inline size_t pl_slot_of(size_t pos, enum service s)
{
	return pos * NSVC + (size_t)s;
}

/* ---- plan.c ----------------------------------------------------------- */

/* The device type a disk service needs, as named in problem lines
 * ("REGISTRY (DIR_DEVICE)", "METADATA", "DATA"); NULL for the others. */
const char *pl_device_name(enum service s);
/* Malformed input: the reason into out->error; returns QM_EINVAL. */
int pl_fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The pos of agent id, c->na when it is not in agents[]. */
size_t pl_find_agent(const struct ctx *c, const char *id);

/* ---- plan_lines.c: reading the input ---------------------------------- */

/* The name operators know a node / a task's node by. */
const char *pl_node(const struct ctx *c, size_t pos);
const char *pl_task_node(const struct ctx *c, size_t ti);
/* The plan changes by itself at t: keep the earliest t > now. */
void pl_wake(struct ctx *c, long long t);
bool pl_attr_matches(const struct plan_agent *a, const struct plan_attr *r);
bool pl_prober_allowed(const struct ctx *c, const struct plan_agent *a);
unsigned pl_device_count(const struct plan_report *r, enum service s);
bool pl_version_is_target(const struct ctx *c, size_t ti);
/* Rule 5's "ready". Probers additionally need a fresh report, which the
 * prober pass checks itself. */
bool pl_task_ready(const struct ctx *c, size_t ti);
/* True while the slot's failure history says to back off; *until and
 * *failures say how long and why. */
bool pl_backoff_until(const struct ctx *c, size_t pos, enum service s,
		      long long *until, unsigned *failures);

/* ---- plan_lines.c: what the passes emit -------------------------------- */

/* A problem line in section sect (enum sect), control characters
 * replaced, cut at PLAN_PROBLEM_MAX with "...". */
void pl_problem(struct ctx *c, unsigned sect, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The problem section of a service's phase. */
unsigned pl_phase_sect(enum service s);
/* A new action for agent_id; the other fields are the caller's to fill. */
struct plan_action *pl_new_action(struct ctx *c, enum plan_action_type type,
				  enum service svc, const char *agent_id);
/* KILL task ti (once per plan) with a reason line. */
void pl_kill_task(struct ctx *c, size_t ti, enum plan_kill_reason r,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A LAUNCH for the slot, unless its failure history says to back off. */
void pl_try_launch(struct ctx *c, size_t pos, enum service s);
/* Rule 7: the task is not wanted here. Mark it and kill it once the grace
 * has passed (or at once). `why` completes "no longer wanted (...)". */
void pl_retire(struct ctx *c, size_t ti, enum plan_kill_reason r,
	       bool at_once, const char *why);
/* Rule 10 and the per-agent lines. */
void pl_report(struct ctx *c);
/* Sort actions and problem lines into *c->out, cap the lines, set
 * want_offers. */
void pl_finish(struct ctx *c);

/* ---- plan_rules.c: one pass per rule ----------------------------------- */

void pl_pick_keepers(struct ctx *c);   /* keepers and duplicates */
void pl_probers(struct ctx *c);        /* rule 1 */
void pl_shutdown(struct ctx *c);       /* empty target */
void pl_pinned(struct ctx *c);         /* rules 2 and 4 */
void pl_management(struct ctx *c, enum service s, unsigned count,
		   const struct plan_attr *restr); /* rule 3 */
void pl_launches(struct ctx *c);       /* rules 5 and 6 */
void pl_upgrade(struct ctx *c);        /* rules 8 and 13 */

/* ---- plan_rsv.c: reservations, inverse offers, maintenance ------------- */

/* Validate the reservations and inverse offers (after the index is built):
 * 0 or QM_EINVAL with out->error set. */
int pl_check_resources(struct ctx *c);
void pl_reservations(struct ctx *c);   /* rule 11 */
void pl_inverse_offers(struct ctx *c); /* rule 12 (after pl_launches) */
void pl_drain(struct ctx *c);          /* rule 15: the KILLs (after rules 2-4) */
/* Rule 15: out->drain[], after pl_inverse_offers. */
void pl_drain_verdicts(struct ctx *c);
/* Rule 13: the agent's maintenance window is in progress (returns true,
 * *starts_in = 0) or starts within the lookahead (true, *starts_in > 0). */
bool pl_maint_hold(const struct ctx *c, size_t pos, long long *starts_in);
/* Rule 12: the window is in progress now. */
bool pl_maint_now(const struct ctx *c, size_t pos);

#endif
