/* The planner: see plan.h for the rules. This file is organised as one pass
 * per concern over a small amount of scratch state:
 *
 *   index      agents sorted by id, tasks attached to their (agent, service)
 *              slot, failure history per slot;
 *   keepers    the one live task each slot keeps; the others are duplicates;
 *   probers    rule 1, independent of the target version;
 *   wanted     rules 2-4 decide which slots the plan wants, retiring the
 *              tasks of slots it no longer wants (rule 7);
 *   launches   rules 5-6 with the phase gate and backoff;
 *   upgrade    rule 8;
 *   report     minimum and per-agent problems, sorting, capping.
 *
 * Slots are indexed pos * SERVICE_COUNT + service, where pos is the
 * agent's rank in agent-id order; iterating pos in order is what makes the
 * output independent of the input's array order. */
#include "core/plan.h"

#include "qm_error.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX
#define NSVC SERVICE_COUNT

static const struct {
	enum plan_phase phase;
	const char *device; /* the device type named in problem lines */
} svc_table[NSVC] = {
	[SERVICE_REGISTRY] = {PLAN_PHASE_REGISTRY, "REGISTRY (DIR_DEVICE)"},
	[SERVICE_METADATA] = {PLAN_PHASE_METADATA, "METADATA"},
	[SERVICE_DATA] = {PLAN_PHASE_DATA, "DATA"},
	[SERVICE_API] = {PLAN_PHASE_MANAGEMENT, NULL},
	[SERVICE_WEBCONSOLE] = {PLAN_PHASE_MANAGEMENT, NULL},
	[SERVICE_CLIENT] = {PLAN_PHASE_CLIENT, NULL},
	[SERVICE_PROBER] = {PLAN_PHASE_PROBERS, NULL},
};

static const char *const phase_names[PLAN_PHASE_COUNT] = {
	"probers", "registry", "metadata", "data", "api+webconsole", "client",
};

static const struct {
	const char *name;
	bool terminal;
} state_table[PLAN_TASK_STATE_COUNT] = {
	[PLAN_TASK_LAUNCHING] = {"LAUNCHING", false},
	[PLAN_TASK_STAGING] = {"TASK_STAGING", false},
	[PLAN_TASK_STARTING] = {"TASK_STARTING", false},
	[PLAN_TASK_RUNNING] = {"TASK_RUNNING", false},
	[PLAN_TASK_KILLING] = {"TASK_KILLING", false},
	[PLAN_TASK_FINISHED] = {"TASK_FINISHED", true},
	[PLAN_TASK_FAILED] = {"TASK_FAILED", true},
	[PLAN_TASK_KILLED] = {"TASK_KILLED", true},
	[PLAN_TASK_ERROR] = {"TASK_ERROR", true},
	[PLAN_TASK_LOST] = {"TASK_LOST", true},
	[PLAN_TASK_DROPPED] = {"TASK_DROPPED", true},
	[PLAN_TASK_UNREACHABLE] = {"TASK_UNREACHABLE", false},
	[PLAN_TASK_GONE] = {"TASK_GONE", true},
	[PLAN_TASK_GONE_BY_OPERATOR] = {"TASK_GONE_BY_OPERATOR", true},
	[PLAN_TASK_UNKNOWN] = {"TASK_UNKNOWN", false},
};

static const char *const kill_names[PLAN_KILL_REASON_COUNT] = {
	"none", "shutdown", "no-device", "no-mount", "disabled",
	"restricted", "excess", "duplicate", "upgrade", "replace",
};

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
	SF_READY = 4    /* wanted and its keeper is ready */
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
	size_t *tpos;        /* task -> pos, na when the agent is unknown */
	unsigned char *tflag;
	size_t *tnext;       /* next live task of the same slot, by task id */
	size_t *head;        /* slot -> first live task */
	size_t *keeper;      /* slot -> kept live task */
	size_t *hist;        /* slot -> history entry */
	unsigned char *sflag;
	unsigned *load;      /* pos -> Quobyte services this plan wants there */
	size_t cap_actions;
	struct prob *probs;
	size_t n_probs, cap_probs;
};

/* ---- names ------------------------------------------------------------ */

const char *plan_phase_name(enum plan_phase p)
{
	return (unsigned)p < PLAN_PHASE_COUNT ? phase_names[p] : "?";
}

const char *plan_task_state_name(enum plan_task_state s)
{
	return (unsigned)s < PLAN_TASK_STATE_COUNT ? state_table[s].name : "?";
}

const char *plan_kill_reason_name(enum plan_kill_reason r)
{
	return (unsigned)r < PLAN_KILL_REASON_COUNT ? kill_names[r] : "?";
}

enum plan_phase plan_phase_of(enum service s)
{
	return (unsigned)s < NSVC ? svc_table[s].phase : PLAN_PHASE_COUNT;
}

int plan_task_state_parse(const char *name, enum plan_task_state *out)
{
	if (!name || !out)
		return QM_EINVAL;
	for (unsigned i = 0; i < PLAN_TASK_STATE_COUNT; i++) {
		if (strcmp(name, state_table[i].name) == 0) {
			*out = (enum plan_task_state)i;
			return 0;
		}
	}
	return QM_EINVAL;
}

bool plan_task_state_terminal(enum plan_task_state s)
{
	return (unsigned)s < PLAN_TASK_STATE_COUNT && state_table[s].terminal;
}

void plan_config_init(struct plan_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->api_count = 1;
	cfg->webconsole_count = 1;
	cfg->removal_grace_ms = 5 * 60 * 1000;
	cfg->backoff_base_ms = 10 * 1000;
	cfg->backoff_max_ms = 10 * 60 * 1000;
	cfg->prober_stale_ms = 90 * 1000;
	cfg->health_checked = 1u << SERVICE_REGISTRY | 1u << SERVICE_METADATA |
			      1u << SERVICE_DATA | 1u << SERVICE_CLIENT;
}

long long plan_backoff_ms(long long base_ms, long long max_ms,
			  unsigned failures)
{
	if (failures == 0 || base_ms <= 0)
		return 0;
	if (max_ms <= base_ms)
		return max_ms < 0 ? 0 : max_ms;
	long long d = base_ms;
	for (unsigned i = 1; i < failures && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	return d < max_ms ? d : max_ms;
}

/* ---- small helpers ------------------------------------------------------ */

static long long sat_add(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return LLONG_MAX;
	return a + b;
}

static const struct plan_agent *agent_at(const struct ctx *c, size_t pos)
{
	return &c->in->agents[c->aord[pos]];
}

static size_t slot_of(size_t pos, enum service s)
{
	return pos * NSVC + (size_t)s;
}

/* The name operators know a node by. */
static const char *node(const struct ctx *c, size_t pos)
{
	const struct plan_agent *a = agent_at(c, pos);
	return a->hostname && *a->hostname ? a->hostname : a->agent_id;
}

static const char *task_node(const struct ctx *c, size_t ti)
{
	return c->tpos[ti] < c->na ? node(c, c->tpos[ti])
				   : c->in->tasks[ti].agent_id;
}

static void wake(struct ctx *c, long long t)
{
	if (t > c->now && (c->out->wake_ms == 0 || t < c->out->wake_ms))
		c->out->wake_ms = t;
}

static bool attr_matches(const struct plan_agent *a, const struct plan_attr *r)
{
	if (!r->name || !*r->name)
		return true;
	const char *want = r->value ? r->value : "";
	for (size_t i = 0; i < a->n_attrs; i++)
		if (strcmp(a->attrs[i].name, r->name) == 0 &&
		    strcmp(a->attrs[i].value, want) == 0)
			return true;
	return false;
}

static bool prober_allowed(const struct ctx *c, const struct plan_agent *a)
{
	if (c->cfg->n_prober_hosts > 0) {
		bool found = false;
		for (size_t i = 0; i < c->cfg->n_prober_hosts && !found; i++)
			found = a->hostname &&
				strcmp(a->hostname, c->cfg->prober_hosts[i]) == 0;
		if (!found)
			return false;
	}
	return attr_matches(a, &c->cfg->prober_restriction);
}

static unsigned device_count(const struct plan_report *r, enum service s)
{
	switch (s) {
	case SERVICE_REGISTRY: return r->registry_devices;
	case SERVICE_METADATA: return r->metadata_devices;
	case SERVICE_DATA: return r->data_devices;
	default: return 0;
	}
}

static bool version_is_target(const struct ctx *c, size_t ti)
{
	const char *v = c->in->tasks[ti].version;
	return v && c->target && strcmp(v, c->target) == 0;
}

/* Rule 5's "ready". Probers additionally need a fresh report, which the
 * prober pass checks itself. */
static bool task_ready(const struct ctx *c, size_t ti)
{
	const struct plan_task *t = &c->in->tasks[ti];
	if ((c->tflag[ti] & (TF_LIVE | TF_UNREACH)) != TF_LIVE ||
	    t->kill_requested || t->state != PLAN_TASK_RUNNING ||
	    t->health == PLAN_HEALTH_FAILING)
		return false;
	if (c->cfg->health_checked & (1u << t->service))
		return t->health == PLAN_HEALTH_OK;
	return true;
}

/* ---- output building ---------------------------------------------------- */

static void problem(struct ctx *c, unsigned sect, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct ctx *c, unsigned sect, const char *fmt, ...)
{
	char line[PLAN_PROBLEM_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		memcpy(line + sizeof line - 4, "...", 4);
	/* Hostnames and ids come from outside: keep a line one line. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (c->n_probs == c->cap_probs) {
		c->cap_probs = c->cap_probs ? c->cap_probs * 2 : 16;
		c->probs = qm_realloc(c->probs, c->cap_probs * sizeof *c->probs);
	}
	c->probs[c->n_probs] = (struct prob){qm_strdup(line), sect, c->n_probs};
	c->n_probs++;
}

static unsigned phase_sect(enum service s)
{
	return SECT_PHASE + (unsigned)svc_table[s].phase;
}

static struct plan_action *new_action(struct ctx *c, enum plan_action_type type,
				      enum service svc, const char *agent_id)
{
	struct plan_output *o = c->out;
	if (o->n_actions == c->cap_actions) {
		c->cap_actions = c->cap_actions ? c->cap_actions * 2 : 16;
		o->actions = qm_realloc(o->actions,
					c->cap_actions * sizeof *o->actions);
	}
	struct plan_action *a = &o->actions[o->n_actions++];
	memset(a, 0, sizeof *a);
	a->type = type;
	a->service = svc;
	a->agent_id = qm_strdup(agent_id);
	return a;
}

static void kill_task(struct ctx *c, size_t ti, enum plan_kill_reason r,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void kill_task(struct ctx *c, size_t ti, enum plan_kill_reason r,
		      const char *fmt, ...)
{
	if (c->tflag[ti] & TF_KILLED)
		return;
	c->tflag[ti] |= TF_KILLED;
	const struct plan_task *t = &c->in->tasks[ti];
	struct plan_action *a = new_action(c, PLAN_KILL, t->service, t->agent_id);
	a->task_id = qm_strdup(t->task_id);
	a->kill_reason = r;
	char why[PLAN_PROBLEM_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (n < 0)
		why[0] = '\0';
	for (char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	a->reason = qm_strdup(why);
}

/* A LAUNCH for the slot, unless its failure history says to back off. */
static bool backoff_until(const struct ctx *c, size_t pos, enum service s,
			  long long *until, unsigned *failures)
{
	size_t h = c->hist[slot_of(pos, s)];
	if (h == NONE)
		return false;
	const struct plan_history *hi = &c->in->history[h];
	long long d = plan_backoff_ms(c->cfg->backoff_base_ms,
				      c->cfg->backoff_max_ms,
				      hi->consecutive_failures);
	if (d <= 0)
		return false;
	*until = sat_add(hi->last_failure_ms, d);
	*failures = hi->consecutive_failures;
	return c->now < *until;
}

static void try_launch(struct ctx *c, size_t pos, enum service s)
{
	long long until;
	unsigned failures;
	if (backoff_until(c, pos, s, &until, &failures)) {
		problem(c, phase_sect(s),
			"relaunch of %s on %s backs off until %lld (%lld ms from now; %u consecutive failures)",
			service_name(s), node(c, pos), until, until - c->now,
			failures);
		wake(c, until);
		return;
	}
	const struct plan_agent *a = agent_at(c, pos);
	if (s == SERVICE_PROBER) {
		new_action(c, PLAN_LAUNCH_PROBER, s, a->agent_id);
		return;
	}
	struct plan_action *act = new_action(c, PLAN_LAUNCH, s, a->agent_id);
	act->version = qm_strdup(c->target);
}

/* Rule 7: the task is not wanted here. Mark it and kill it once the grace
 * has passed (or at once). `why` completes "no longer wanted (...)". */
static void retire(struct ctx *c, size_t ti, enum plan_kill_reason r,
		   bool at_once, const char *why)
{
	const struct plan_task *t = &c->in->tasks[ti];
	long long *since = &c->out->unwanted_since_ms[ti];
	if (*since == 0)
		*since = c->now;
	if (t->kill_requested || (c->tflag[ti] & TF_KILLED))
		return;
	if (c->tflag[ti] & TF_UNREACH) {
		problem(c, phase_sect(t->service),
			"%s on %s is no longer wanted (%s) but is unreachable; it is killed when it returns",
			service_name(t->service), task_node(c, ti), why);
		return;
	}
	long long due = at_once ? c->now : sat_add(*since, c->cfg->removal_grace_ms);
	if (c->now >= due) {
		kill_task(c, ti, r, "%s on %s no longer wanted: %s",
			  service_name(t->service), task_node(c, ti), why);
		return;
	}
	problem(c, phase_sect(t->service),
		"%s on %s is no longer wanted (%s); it is killed in %lld ms unless wanted again",
		service_name(t->service), task_node(c, ti), why, due - c->now);
	wake(c, due);
}

/* ---- validation and indexing ------------------------------------------- */

static int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->out->error, sizeof c->out->error, fmt, ap);
	va_end(ap);
	for (char *p = c->out->error; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return QM_EINVAL;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

static int validate(struct ctx *c)
{
	const struct plan_input *in = c->in;
	const struct plan_config *cfg = &in->config;
	if (in->now_ms <= 0)
		return fail(c, "now_ms must be > 0");
	if (cfg->removal_grace_ms < 0 || cfg->backoff_base_ms < 0 ||
	    cfg->backoff_max_ms < 0 || cfg->prober_stale_ms < 0)
		return fail(c, "config: negative duration");
	if (cfg->n_prober_hosts && !cfg->prober_hosts)
		return fail(c, "config: prober_hosts is NULL");
	for (size_t i = 0; i < cfg->n_prober_hosts; i++)
		if (!cfg->prober_hosts[i])
			return fail(c, "config: prober_hosts[%zu] is NULL", i);
	if ((in->n_agents && !in->agents) || (in->n_tasks && !in->tasks) ||
	    (in->n_history && !in->history))
		return fail(c, "an array is NULL but its count is not 0");
	for (size_t i = 0; i < in->n_agents; i++) {
		const struct plan_agent *a = &in->agents[i];
		if (empty(a->agent_id))
			return fail(c, "agents[%zu]: missing agent id", i);
		if (a->n_attrs && !a->attrs)
			return fail(c, "agents[%zu]: attrs is NULL", i);
		for (size_t j = 0; j < a->n_attrs; j++)
			if (!a->attrs[j].name || !a->attrs[j].value)
				return fail(c, "agents[%zu].attrs[%zu]: missing name or value",
					    i, j);
	}
	for (size_t i = 0; i < in->n_tasks; i++) {
		const struct plan_task *t = &in->tasks[i];
		if (empty(t->task_id) || empty(t->agent_id))
			return fail(c, "tasks[%zu]: missing task id or agent id", i);
		if ((unsigned)t->service >= NSVC)
			return fail(c, "tasks[%zu]: service out of range", i);
		if ((unsigned)t->state >= PLAN_TASK_STATE_COUNT)
			return fail(c, "tasks[%zu]: state out of range", i);
		if ((unsigned)t->health > PLAN_HEALTH_FAILING)
			return fail(c, "tasks[%zu]: health out of range", i);
	}
	for (size_t i = 0; i < in->n_history; i++) {
		const struct plan_history *h = &in->history[i];
		if (empty(h->agent_id) || (unsigned)h->service >= NSVC)
			return fail(c, "history[%zu]: missing agent id or service out of range",
				    i);
	}
	return 0;
}

static int cmp_agent_idx(const void *a, const void *b, void *arg)
{
	const struct plan_agent *ag = arg;
	return strcmp(ag[*(const size_t *)a].agent_id,
		      ag[*(const size_t *)b].agent_id);
}

static int cmp_task_idx(const void *a, const void *b, void *arg)
{
	const struct plan_task *t = arg;
	return strcmp(t[*(const size_t *)a].task_id, t[*(const size_t *)b].task_id);
}

static size_t find_agent(const struct ctx *c, const char *id)
{
	size_t lo = 0, hi = c->na;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(id, agent_at(c, mid)->agent_id);
		if (r == 0)
			return mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return c->na;
}

static int build_index(struct ctx *c)
{
	const struct plan_input *in = c->in;
	size_t na = c->na = in->n_agents, nt = in->n_tasks;

	c->aord = qm_calloc(na, sizeof *c->aord);
	for (size_t i = 0; i < na; i++)
		c->aord[i] = i;
	qsort_r(c->aord, na, sizeof *c->aord, cmp_agent_idx,
		(void *)in->agents);
	for (size_t p = 1; p < na; p++)
		if (strcmp(agent_at(c, p - 1)->agent_id, agent_at(c, p)->agent_id) == 0)
			return fail(c, "agents[%zu]: duplicate agent id '%.60s'",
				    c->aord[p], agent_at(c, p)->agent_id);

	size_t *byid = qm_calloc(nt, sizeof *byid);
	for (size_t i = 0; i < nt; i++)
		byid[i] = i;
	qsort_r(byid, nt, sizeof *byid, cmp_task_idx, (void *)in->tasks);
	for (size_t i = 1; i < nt; i++) {
		if (strcmp(in->tasks[byid[i - 1]].task_id,
			   in->tasks[byid[i]].task_id) == 0) {
			int rv = fail(c, "tasks[%zu]: duplicate task id '%.60s'",
				      byid[i], in->tasks[byid[i]].task_id);
			free(byid);
			return rv;
		}
	}

	size_t nslots = na * NSVC;
	c->tpos = qm_calloc(nt, sizeof *c->tpos);
	c->tflag = qm_calloc(nt, 1);
	c->tnext = qm_calloc(nt, sizeof *c->tnext);
	c->head = qm_calloc(nslots, sizeof *c->head);
	c->keeper = qm_calloc(nslots, sizeof *c->keeper);
	c->hist = qm_calloc(nslots, sizeof *c->hist);
	c->sflag = qm_calloc(nslots, 1);
	c->load = qm_calloc(na, sizeof *c->load);
	for (size_t s = 0; s < nslots; s++)
		c->head[s] = c->keeper[s] = c->hist[s] = NONE;

	/* Visiting tasks in reverse id order and pushing at the front leaves
	 * every slot's list sorted by task id. */
	for (size_t k = nt; k-- > 0;) {
		size_t ti = byid[k];
		const struct plan_task *t = &in->tasks[ti];
		size_t pos = find_agent(c, t->agent_id);
		c->tpos[ti] = pos;
		c->tnext[ti] = NONE;
		bool active = pos < na && agent_at(c, pos)->active;
		bool terminal = plan_task_state_terminal(t->state) ||
				(t->state == PLAN_TASK_UNKNOWN && active);
		if (terminal)
			continue;
		c->tflag[ti] = TF_LIVE;
		if (!active || t->state == PLAN_TASK_UNREACHABLE ||
		    t->state == PLAN_TASK_UNKNOWN)
			c->tflag[ti] |= TF_UNREACH;
		if (pos < na) {
			size_t s = slot_of(pos, t->service);
			c->tnext[ti] = c->head[s];
			c->head[s] = ti;
		}
	}
	free(byid);

	for (size_t i = 0; i < in->n_history; i++) {
		const struct plan_history *h = &in->history[i];
		size_t pos = find_agent(c, h->agent_id);
		if (pos == na)
			continue;
		size_t s = slot_of(pos, h->service);
		if (c->hist[s] != NONE)
			return fail(c, "history[%zu]: second entry for %s on '%.60s'",
				    i, service_name(h->service), h->agent_id);
		c->hist[s] = i;
	}
	return 0;
}

/* ---- keepers and duplicates -------------------------------------------- */

/* < 0 when task a is the better one to keep: a task not being killed, then
 * a reachable one, a ready one, a running one, one at the target version,
 * the older one, and finally the task id, so the choice is total. */
static int keep_cmp(const struct ctx *c, size_t a, size_t b)
{
	const struct plan_task *ta = &c->in->tasks[a], *tb = &c->in->tasks[b];
	int ka[5] = {ta->kill_requested, !!(c->tflag[a] & TF_UNREACH),
		     !task_ready(c, a), ta->state != PLAN_TASK_RUNNING,
		     ta->service != SERVICE_PROBER && !version_is_target(c, a)};
	int kb[5] = {tb->kill_requested, !!(c->tflag[b] & TF_UNREACH),
		     !task_ready(c, b), tb->state != PLAN_TASK_RUNNING,
		     tb->service != SERVICE_PROBER && !version_is_target(c, b)};
	for (int i = 0; i < 5; i++)
		if (ka[i] != kb[i])
			return ka[i] - kb[i];
	if (ta->launched_ms != tb->launched_ms)
		return ta->launched_ms < tb->launched_ms ? -1 : 1;
	return strcmp(ta->task_id, tb->task_id);
}

static void pick_keepers(struct ctx *c)
{
	for (size_t pos = 0; pos < c->na; pos++) {
		for (unsigned s = 0; s < NSVC; s++) {
			size_t sl = slot_of(pos, (enum service)s);
			size_t best = c->head[sl];
			if (best == NONE)
				continue;
			for (size_t ti = c->tnext[best]; ti != NONE; ti = c->tnext[ti])
				if (keep_cmp(c, ti, best) < 0)
					best = ti;
			c->keeper[sl] = best;
			/* On shutdown every service task goes anyway. */
			if (!c->target && s != SERVICE_PROBER)
				continue;
			for (size_t ti = c->head[sl]; ti != NONE; ti = c->tnext[ti]) {
				if (ti == best || c->in->tasks[ti].kill_requested)
					continue;
				if (c->tflag[ti] & TF_UNREACH) {
					problem(c, phase_sect((enum service)s),
						"a second %s task %s on %s is unreachable; it is killed when it returns",
						service_name((enum service)s),
						c->in->tasks[ti].task_id, node(c, pos));
					continue;
				}
				kill_task(c, ti, PLAN_KILL_DUPLICATE,
					  "duplicate %s on %s; keeping %s",
					  service_name((enum service)s), node(c, pos),
					  c->in->tasks[best].task_id);
			}
		}
	}
}

/* ---- rule 1: probers ---------------------------------------------------- */

static void plan_probers(struct ctx *c)
{
	struct plan_progress *pg = &c->out->progress[PLAN_PHASE_PROBERS];
	long long stale_ms = c->cfg->prober_stale_ms;
	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = agent_at(c, pos);
		size_t k = c->keeper[slot_of(pos, SERVICE_PROBER)];
		if (!a->active)
			continue;
		if (!prober_allowed(c, a)) {
			if (k != NONE)
				retire(c, k, PLAN_KILL_RESTRICTED, false,
				       "the agent does not pass the prober restriction");
			continue;
		}
		pg->wanted++;
		bool stale = false;
		if (stale_ms > 0 && a->report.has_report) {
			long long due = sat_add(a->report.last_report_ms, stale_ms);
			if (c->now >= due) {
				stale = true;
				problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
					"prober on %s is stale: last report %lld ms ago",
					node(c, pos), c->now - a->report.last_report_ms);
			} else {
				wake(c, due);
			}
		} else if (stale_ms > 0 && k != NONE &&
			   c->in->tasks[k].state == PLAN_TASK_RUNNING &&
			   !(c->tflag[k] & TF_UNREACH)) {
			long long due = sat_add(c->in->tasks[k].launched_ms, stale_ms);
			if (c->now >= due) {
				stale = true;
				problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
					"prober on %s has not reported since its launch %lld ms ago",
					node(c, pos), c->now - c->in->tasks[k].launched_ms);
			} else {
				wake(c, due);
			}
		}
		c->out->prober_stale[c->aord[pos]] = stale;
		if (k == NONE) {
			try_launch(c, pos, SERVICE_PROBER);
			continue;
		}
		c->out->unwanted_since_ms[k] = 0;
		if (task_ready(c, k) && a->report.has_report && !stale) {
			pg->ready++;
			pg->at_target++;
		}
		if (c->tflag[k] & TF_UNREACH)
			problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
				"prober on %s is unreachable; waiting for it", node(c, pos));
	}
}

/* ---- shutdown (empty target) ------------------------------------------- */

static void plan_shutdown(struct ctx *c)
{
	size_t live = 0;
	for (size_t ti = 0; ti < c->in->n_tasks; ti++) {
		const struct plan_task *t = &c->in->tasks[ti];
		if (!(c->tflag[ti] & TF_LIVE) || t->service == SERVICE_PROBER)
			continue;
		live++;
		retire(c, ti, PLAN_KILL_SHUTDOWN, true, "target version is empty");
	}
	if (live)
		problem(c, SECT_TARGET,
			"target version is empty: stopping %zu Quobyte task(s); probers keep running",
			live);
}

/* ---- rules 2 and 4: pinned services and clients ------------------------ */

static void plan_pinned(struct ctx *c)
{
	static const enum service pinned[] = {SERVICE_REGISTRY, SERVICE_METADATA,
						   SERVICE_DATA, SERVICE_CLIENT};
	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = agent_at(c, pos);
		const struct plan_report *r = &a->report;
		for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
			enum service s = pinned[i];
			size_t sl = slot_of(pos, s);
			size_t k = c->keeper[sl];
			bool enabled = s != SERVICE_CLIENT || c->cfg->client_enabled;
			bool by_report = s == SERVICE_CLIENT ? r->client_mount
							  : device_count(r, s) > 0;
			bool wanted = enabled &&
				      (r->has_report ? by_report : k != NONE);
			if (!a->active) {
				/* Out of reach: nothing to launch or kill there;
				 * remember what waits for the agent. */
				if (wanted)
					c->sflag[sl] |= SF_DORMANT;
				continue;
			}
			if (wanted) {
				c->sflag[sl] |= SF_WANTED;
				c->load[pos]++;
				if (k != NONE)
					c->out->unwanted_since_ms[k] = 0;
				continue;
			}
			if (k == NONE)
				continue;
			char why[96];
			if (!enabled) {
				retire(c, k, PLAN_KILL_DISABLED, false,
				       "client is disabled");
			} else if (s == SERVICE_CLIENT) {
				retire(c, k, PLAN_KILL_NO_MOUNT, false,
				       "client mount point is gone");
			} else {
				snprintf(why, sizeof why, "no %s device left",
					 svc_table[s].device);
				retire(c, k, PLAN_KILL_NO_DEVICE, false, why);
			}
		}
	}
}

/* ---- rule 3: api and webconsole ---------------------------------------- */

struct rank {
	size_t pos;
	int key[3];
};

static int rank_cmp(const void *a, const void *b)
{
	const struct rank *ra = a, *rb = b;
	for (int i = 0; i < 3; i++)
		if (ra->key[i] != rb->key[i])
			return ra->key[i] < rb->key[i] ? -1 : 1;
	return ra->pos < rb->pos ? -1 : ra->pos > rb->pos;
}

static void restriction_text(char *buf, size_t cap, const struct plan_attr *r)
{
	if (empty(r->name))
		buf[0] = '\0';
	else
		snprintf(buf, cap, " matching %s=%s", r->name,
			 r->value ? r->value : "");
}

static void plan_management(struct ctx *c, enum service s, unsigned count,
			    const struct plan_attr *restr)
{
	struct rank *rk = qm_calloc(c->na, sizeof *rk);
	size_t n = 0;
	char rtext[160];
	restriction_text(rtext, sizeof rtext, restr);

	for (size_t pos = 0; pos < c->na; pos++) {
		size_t k = c->keeper[slot_of(pos, s)];
		if (k == NONE || c->in->tasks[k].kill_requested)
			continue;
		bool ok = attr_matches(agent_at(c, pos), restr);
		long long *since = &c->out->unwanted_since_ms[k];
		char why[200];
		if (!ok) {
			snprintf(why, sizeof why, "agent no longer%s", rtext);
			retire(c, k, PLAN_KILL_RESTRICTED, false, why);
			continue;
		}
		if (c->tflag[k] & TF_UNREACH) {
			/* The grace clock of an unreachable instance runs in
			 * unwanted_since: it keeps its place until then. */
			if (*since == 0)
				*since = c->now;
			long long due = sat_add(*since, c->cfg->removal_grace_ms);
			if (c->now >= due) {
				problem(c, phase_sect(s),
					"%s on %s is unreachable; replaced elsewhere",
					service_name(s), node(c, pos));
				continue;
			}
			problem(c, phase_sect(s),
				"%s on %s is unreachable; it is replaced elsewhere in %lld ms unless it returns",
				service_name(s), node(c, pos), due - c->now);
			wake(c, due);
		}
		rk[n].pos = pos;
		rk[n].key[0] = *since != 0;
		rk[n].key[1] = !task_ready(c, k);
		rk[n].key[2] = 0;
		n++;
	}
	qsort(rk, n, sizeof *rk, rank_cmp);
	size_t kept = n < count ? n : count;
	for (size_t i = 0; i < n; i++) {
		size_t sl = slot_of(rk[i].pos, s), k = c->keeper[sl];
		if (i < kept) {
			c->sflag[sl] |= SF_WANTED;
			c->load[rk[i].pos]++;
			if (!(c->tflag[k] & TF_UNREACH))
				c->out->unwanted_since_ms[k] = 0;
		} else if (!(c->tflag[k] & TF_UNREACH)) {
			char why[96];
			snprintf(why, sizeof why, "more than the %u %s instance(s) configured",
				 count, service_name(s));
			retire(c, k, PLAN_KILL_EXCESS, false, why);
		}
	}

	size_t need = count - kept, m = 0;
	if (need) {
		for (size_t pos = 0; pos < c->na; pos++) {
			const struct plan_agent *a = agent_at(c, pos);
			if (!a->active || !attr_matches(a, restr) ||
			    c->head[slot_of(pos, s)] != NONE)
				continue;
			long long until;
			unsigned failures;
			rk[m].pos = pos;
			rk[m].key[0] = backoff_until(c, pos, s, &until, &failures);
			rk[m].key[1] = c->load[pos] > INT_MAX ? INT_MAX : (int)c->load[pos];
			rk[m].key[2] = 0;
			m++;
		}
		qsort(rk, m, sizeof *rk, rank_cmp);
		for (size_t i = 0; i < m && i < need; i++) {
			c->sflag[slot_of(rk[i].pos, s)] |= SF_WANTED;
			c->load[rk[i].pos]++;
		}
		if (m < need)
			problem(c, phase_sect(s),
				"%s wants %u instance(s) but only %zu more agent(s)%s can take one",
				service_name(s), count, m, rtext);
	}
	free(rk);
}

/* ---- rules 5 and 6: phase gate and launches ---------------------------- */

static void plan_launches(struct ctx *c)
{
	unsigned wanted[PLAN_PHASE_COUNT] = {0}, ready[PLAN_PHASE_COUNT] = {0};
	unsigned at[PLAN_PHASE_COUNT] = {0};
	for (size_t pos = 0; pos < c->na; pos++) {
		for (unsigned s = 0; s < SERVICE_PROBER; s++) {
			size_t sl = slot_of(pos, (enum service)s);
			if (!(c->sflag[sl] & SF_WANTED))
				continue;
			enum plan_phase ph = svc_table[s].phase;
			wanted[ph]++;
			size_t k = c->keeper[sl];
			if (k != NONE && task_ready(c, k)) {
				c->sflag[sl] |= SF_READY;
				ready[ph]++;
				at[ph] += version_is_target(c, k);
			}
		}
	}
	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		struct plan_progress *pg = &c->out->progress[p];
		pg->wanted = wanted[p];
		pg->ready = ready[p];
		pg->at_target = at[p];
	}
	c->out->progress[PLAN_PHASE_MANAGEMENT].wanted =
		c->cfg->api_count + c->cfg->webconsole_count;

	/* blocked[p]: the first earlier phase that is not complete, or 0. A disk
	 * phase with nothing wanted is not complete: data without metadata is
	 * no cluster. */
	unsigned blocked[PLAN_PHASE_COUNT] = {0};
	unsigned first_bad = 0;
	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		blocked[p] = first_bad;
		bool disk = p <= PLAN_PHASE_DATA;
		if (!first_bad && (ready[p] < wanted[p] || (disk && wanted[p] == 0)))
			first_bad = p;
	}

	/* The bootstrap registry starts first (rule 5). */
	size_t boot = NONE, nboot = 0;
	for (size_t pos = 0; pos < c->na; pos++) {
		if ((c->sflag[slot_of(pos, SERVICE_REGISTRY)] & SF_WANTED) &&
		    agent_at(c, pos)->report.registry_bootstrap) {
			if (boot == NONE)
				boot = pos;
			nboot++;
		}
	}
	if (nboot > 1)
		problem(c, SECT_PHASE + PLAN_PHASE_REGISTRY,
			"%zu nodes have a bootstrap registry device; %s starts first",
			nboot, node(c, boot));
	bool boot_pending = boot != NONE &&
			    !(c->sflag[slot_of(boot, SERVICE_REGISTRY)] & SF_READY);

	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		for (size_t pos = 0; pos < c->na; pos++) {
			for (unsigned si = 0; si < SERVICE_PROBER; si++) {
				enum service s = (enum service)si;
				if (svc_table[s].phase != p)
					continue;
				size_t sl = slot_of(pos, s), k = c->keeper[sl];
				if (!(c->sflag[sl] & SF_WANTED))
					continue;
				if (k != NONE) {
					const struct plan_task *t = &c->in->tasks[k];
					if ((c->tflag[k] & TF_UNREACH) &&
					    p != PLAN_PHASE_MANAGEMENT)
						problem(c, phase_sect(s),
							"%s on %s is unreachable; waiting for it to return (pinned to its node)",
							service_name(s), node(c, pos));
					else if (t->state == PLAN_TASK_RUNNING &&
						 t->health == PLAN_HEALTH_FAILING)
						problem(c, phase_sect(s),
							"%s on %s is running but failing its health check",
							service_name(s), node(c, pos));
					continue;
				}
				unsigned b = blocked[p];
				if (b && wanted[b] == 0) {
					problem(c, phase_sect(s),
						"%s on %s waits for %s: no node has a %s device",
						service_name(s), node(c, pos), phase_names[b],
						svc_table[b - PLAN_PHASE_REGISTRY].device);
					continue;
				}
				if (b) {
					problem(c, phase_sect(s),
						"%s on %s waits for %s to be running and healthy",
						service_name(s), node(c, pos), phase_names[b]);
					continue;
				}
				if (s == SERVICE_REGISTRY && boot_pending && pos != boot) {
					problem(c, phase_sect(s),
						"registry on %s waits for the bootstrap registry on %s to be running and healthy",
						node(c, pos), node(c, boot));
					continue;
				}
				try_launch(c, pos, s);
			}
		}
	}
}

/* ---- rule 8: rolling upgrade ------------------------------------------- */

/* Not at the target: another version, or to be replaced for a reason. */
static bool stale(const struct ctx *c, size_t k)
{
	return !version_is_target(c, k) || c->in->tasks[k].replace_reason;
}

static void plan_upgrade(struct ctx *c)
{
	size_t n_wanted = 0, n_at = 0, n_old = 0, n_not_ready = 0;
	size_t first_old = NONE, first_nr = NONE;
	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		for (size_t pos = 0; pos < c->na; pos++) {
			for (unsigned si = 0; si < SERVICE_PROBER; si++) {
				if (svc_table[si].phase != p)
					continue;
				size_t sl = slot_of(pos, (enum service)si);
				if (!(c->sflag[sl] & SF_WANTED))
					continue;
				size_t k = c->keeper[sl];
				bool ready = c->sflag[sl] & SF_READY;
				bool old = k != NONE && stale(c, k);
				n_wanted++;
				if (ready && !old)
					n_at++;
				if (old && n_old++ == 0)
					first_old = sl;
				if (!ready && n_not_ready++ == 0)
					first_nr = sl;
			}
		}
	}
	if (n_old == 0)
		return;

	size_t cand = NONE;
	if (n_not_ready == 0) {
		cand = first_old;
	} else if (n_not_ready == 1 && c->keeper[first_nr] != NONE) {
		/* The only task that is not ready is an old one: replacing it
		 * can only help. */
		size_t k = c->keeper[first_nr];
		if (stale(c, k) && !c->in->tasks[k].kill_requested &&
		    !(c->tflag[k] & TF_UNREACH))
			cand = first_nr;
	}
	if (cand != NONE) {
		size_t k = c->keeper[cand];
		const struct plan_task *t = &c->in->tasks[k];
		const char *from = t->version ? t->version : "(unknown)";
		if (version_is_target(c, k)) {
			kill_task(c, k, PLAN_KILL_REPLACE, "replace %s on %s: %s",
				  service_name(t->service), task_node(c, k), t->replace_reason);
			problem(c, SECT_UPGRADE, "replacing %s on %s: %s",
				service_name(t->service), task_node(c, k), t->replace_reason);
			return;
		}
		kill_task(c, k, PLAN_KILL_UPGRADE, "upgrade %s on %s from %s to %s",
			  service_name(t->service), task_node(c, k), from, c->target);
		problem(c, SECT_UPGRADE,
			"upgrade to %s: %zu of %zu task(s) at the target version; replacing %s on %s (%s)",
			c->target, n_at, n_wanted, service_name(t->service),
			task_node(c, k), from);
		return;
	}
	size_t sl = first_nr;
	enum service s = (enum service)(sl % NSVC);
	size_t k = c->keeper[sl];
	if (k != NONE && c->in->tasks[k].kill_requested && stale(c, k))
		problem(c, SECT_UPGRADE,
			"upgrade to %s: %zu of %zu task(s) at the target version; replacing %s on %s",
			c->target, n_at, n_wanted, service_name(s), node(c, sl / NSVC));
	else
		problem(c, SECT_UPGRADE,
			"upgrade to %s: %zu of %zu task(s) at the target version; waits for %s on %s to be running and healthy",
			c->target, n_at, n_wanted, service_name(s), node(c, sl / NSVC));
}

/* ---- rule 10 and per-agent lines --------------------------------------- */

static void plan_report(struct ctx *c)
{
	if (c->target) {
		size_t unreported = 0;
		for (size_t pos = 0; pos < c->na; pos++)
			if (agent_at(c, pos)->active &&
			    !agent_at(c, pos)->report.has_report)
				unreported++;
		for (unsigned si = SERVICE_REGISTRY; si <= SERVICE_DATA; si++) {
			enum service s = (enum service)si;
			size_t n = 0, dormant = NONE;
			for (size_t pos = 0; pos < c->na; pos++) {
				unsigned char f = c->sflag[slot_of(pos, s)];
				n += (f & SF_WANTED) != 0;
				if ((f & SF_DORMANT) && dormant == NONE)
					dormant = pos;
			}
			if (n)
				continue;
			char extra[PLAN_PROBLEM_MAX / 2] = "";
			size_t len = 0;
			if (dormant != NONE)
				len = (size_t)snprintf(extra, sizeof extra,
						       "; %.100s has one but is inactive",
						       node(c, dormant));
			if (unreported && len < sizeof extra)
				snprintf(extra + len, sizeof extra - len,
					 "; %zu agent(s) have not reported their devices yet",
					 unreported);
			problem(c, SECT_MINIMUM,
				"cluster cannot reach its minimum: no node has a %s device%s",
				svc_table[s].device, extra);
		}
	}

	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = agent_at(c, pos);
		if (a->active) {
			if (!a->report.has_report && prober_allowed(c, a))
				problem(c, SECT_AGENT,
					"devices of %s are unknown: its prober has not reported yet",
					node(c, pos));
			continue;
		}
		char list[128] = "";
		size_t len = 0, n = 0;
		for (unsigned s = 0; s < SERVICE_PROBER; s++) {
			if (!(c->sflag[slot_of(pos, (enum service)s)] & SF_DORMANT))
				continue;
			int w = snprintf(list + len, sizeof list - len, "%s%s",
					 n ? ", " : "", service_name(s));
			if (w > 0 && (size_t)w < sizeof list - len)
				len += (size_t)w;
			n++;
		}
		if (n)
			problem(c, SECT_AGENT, "%s is inactive: %s wait%s for it to return",
				node(c, pos), list, n == 1 ? "s" : "");
	}

	for (size_t ti = 0; ti < c->in->n_tasks; ti++)
		if ((c->tflag[ti] & TF_LIVE) && c->tpos[ti] == c->na)
			problem(c, SECT_AGENT,
				"%s task %s is on unknown agent %s; waiting for reconciliation",
				service_name(c->in->tasks[ti].service),
				c->in->tasks[ti].task_id, c->in->tasks[ti].agent_id);
}

/* ---- ordering and assembly --------------------------------------------- */

static int action_cmp(const void *pa, const void *pb)
{
	const struct plan_action *a = pa, *b = pb;
	enum plan_phase fa = plan_phase_of(a->service), fb = plan_phase_of(b->service);
	if (fa != fb)
		return fa < fb ? -1 : 1;
	int r = strcmp(a->agent_id, b->agent_id);
	if (r)
		return r;
	if (a->service != b->service)
		return a->service < b->service ? -1 : 1;
	int ka = a->type != PLAN_KILL, kb = b->type != PLAN_KILL;
	if (ka != kb)
		return ka - kb;
	return strcmp(a->task_id ? a->task_id : "", b->task_id ? b->task_id : "");
}

static int prob_cmp(const void *pa, const void *pb)
{
	const struct prob *a = pa, *b = pb;
	if (a->sect != b->sect)
		return a->sect < b->sect ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void finish(struct ctx *c)
{
	struct plan_output *o = c->out;
	if (o->n_actions)
		qsort(o->actions, o->n_actions, sizeof *o->actions, action_cmp);
	for (size_t i = 0; i < o->n_actions; i++)
		if (o->actions[i].type != PLAN_KILL)
			o->want_offers = true;

	if (c->n_probs)
		qsort(c->probs, c->n_probs, sizeof *c->probs, prob_cmp);
	size_t keep = c->n_probs;
	if (keep > PLAN_MAX_PROBLEMS)
		keep = PLAN_MAX_PROBLEMS - 1;
	o->problems = qm_calloc(keep + 1, sizeof *o->problems);
	for (size_t i = 0; i < c->n_probs; i++) {
		if (i < keep)
			o->problems[i] = c->probs[i].text;
		else
			free(c->probs[i].text);
	}
	o->n_problems = keep;
	if (keep < c->n_probs) {
		char line[96];
		snprintf(line, sizeof line, "%zu more problem(s) not shown",
			 c->n_probs - keep);
		o->problems[o->n_problems++] = qm_strdup(line);
	}
	free(c->probs);
	c->probs = NULL;
	c->n_probs = 0;
}

static void ctx_fini(struct ctx *c)
{
	for (size_t i = 0; i < c->n_probs; i++)
		free(c->probs[i].text);
	free(c->probs);
	free(c->aord);
	free(c->tpos);
	free(c->tflag);
	free(c->tnext);
	free(c->head);
	free(c->keeper);
	free(c->hist);
	free(c->sflag);
	free(c->load);
}

int plan_compute(const struct plan_input *in, struct plan_output *out)
{
	if (!out)
		return QM_EINVAL;
	memset(out, 0, sizeof *out);
	struct ctx c = {.in = in, .out = out};
	if (!in)
		return fail(&c, "input is NULL");
	c.cfg = &in->config;
	c.now = in->now_ms;
	c.target = empty(in->target_version) ? NULL : in->target_version;
	int rv = validate(&c);
	if (!rv)
		rv = build_index(&c);
	if (rv) {
		ctx_fini(&c);
		return rv;
	}

	out->n_tasks = in->n_tasks;
	out->unwanted_since_ms = qm_calloc(in->n_tasks, sizeof *out->unwanted_since_ms);
	for (size_t i = 0; i < in->n_tasks; i++)
		out->unwanted_since_ms[i] = in->tasks[i].unwanted_since_ms;
	out->n_agents = in->n_agents;
	out->prober_stale = qm_calloc(in->n_agents, sizeof *out->prober_stale);

	pick_keepers(&c);
	plan_probers(&c);
	if (c.target) {
		plan_pinned(&c);
		plan_management(&c, SERVICE_API, c.cfg->api_count,
				&c.cfg->api_restriction);
		plan_management(&c, SERVICE_WEBCONSOLE, c.cfg->webconsole_count,
				&c.cfg->webconsole_restriction);
		plan_launches(&c);
		plan_upgrade(&c);
	} else {
		plan_shutdown(&c);
	}
	plan_report(&c);
	finish(&c);
	ctx_fini(&c);
	return 0;
}

void plan_output_free(struct plan_output *out)
{
	if (!out)
		return;
	for (size_t i = 0; i < out->n_actions; i++) {
		free(out->actions[i].agent_id);
		free(out->actions[i].version);
		free(out->actions[i].task_id);
		free(out->actions[i].reason);
	}
	free(out->actions);
	for (size_t i = 0; i < out->n_problems; i++)
		free(out->problems[i]);
	free(out->problems);
	free(out->unwanted_since_ms);
	free(out->prober_stale);
	memset(out, 0, sizeof *out);
}
