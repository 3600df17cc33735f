/* The planner: see plan.h for the rules. It runs one pass per concern over
 * a small amount of scratch state (core/plan_ctx.h):
 *
 *   index      agents sorted by id, tasks attached to their (agent, service)
 *              slot, failure history per slot (this file);
 *   keepers    the one live task each slot keeps; the others are duplicates;
 *   probers    rule 1, independent of the target version;
 *   wanted     rules 2-4 decide which slots the plan wants, retiring the
 *              tasks of slots it no longer wants (rule 7);
 *   launches   rules 5-6 with the phase gate and backoff;
 *   upgrade    rule 8 (plan_rules.c, all of them);
 *   drain      rule 15: the drained nodes' services stopped in reverse
 *              phase order (plan_rsv.c, next to the quorum it shares
 *              with rule 12);
 *   resources  rules 11-12: reservations and inverse offers
 *              (plan_rsv.c, which also validates their input);
 *   report     minimum and per-agent problems, sorting, capping
 *              (plan_lines.c).
 *
 * This file: the names, the defaults, input validation, the index, and
 * plan_compute() running the passes in order. */
#include "core/plan_ctx.h"

#include "core/text.h"
#include "qm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	"restricted", "excess", "duplicate", "upgrade", "replace", "drain",
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

const char *pl_device_name(enum service s)
{
	return (unsigned)s < NSVC ? svc_table[s].device : NULL;
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
	cfg->reserve = true;
	cfg->maintenance_lookahead_ms = 60 * 60 * 1000;
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

/* ---- validation and indexing ------------------------------------------- */

int pl_fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_vline(c->out->error, sizeof c->out->error, fmt, ap);
	va_end(ap);
	return QM_EINVAL;
}

static int validate(struct ctx *c)
{
	const struct plan_input *in = c->in;
	const struct plan_config *cfg = &in->config;
	if (in->now_ms <= 0)
		return pl_fail(c, "now_ms must be > 0");
	if (cfg->removal_grace_ms < 0 || cfg->backoff_base_ms < 0 ||
	    cfg->backoff_max_ms < 0 || cfg->prober_stale_ms < 0 ||
	    cfg->maintenance_lookahead_ms < 0)
		return pl_fail(c, "config: negative duration");
	if (cfg->n_prober_hosts && !cfg->prober_hosts)
		return pl_fail(c, "config: prober_hosts is NULL");
	for (size_t i = 0; i < cfg->n_prober_hosts; i++)
		if (!cfg->prober_hosts[i])
			return pl_fail(c, "config: prober_hosts[%zu] is NULL", i);
	if ((in->n_agents && !in->agents) || (in->n_tasks && !in->tasks) ||
	    (in->n_history && !in->history) ||
	    (in->n_reservations && !in->reservations) ||
	    (in->n_inverse_offers && !in->inverse_offers))
		return pl_fail(c, "an array is NULL but its count is not 0");
	for (size_t i = 0; i < in->n_agents; i++) {
		const struct plan_agent *a = &in->agents[i];
		if (!text_is_set(a->agent_id))
			return pl_fail(c, "agents[%zu]: missing agent id", i);
		if (a->n_attrs && !a->attrs)
			return pl_fail(c, "agents[%zu]: attrs is NULL", i);
		for (size_t j = 0; j < a->n_attrs; j++)
			if (!a->attrs[j].name || !a->attrs[j].value)
				return pl_fail(c, "agents[%zu].attrs[%zu]: missing name or value",
					    i, j);
		if (a->maint_start_ms < 0 || a->maint_duration_ms < 0)
			return pl_fail(c, "agents[%zu]: negative maintenance window", i);
	}
	for (size_t i = 0; i < in->n_tasks; i++) {
		const struct plan_task *t = &in->tasks[i];
		if (!text_is_set(t->task_id) || !text_is_set(t->agent_id))
			return pl_fail(c, "tasks[%zu]: missing task id or agent id", i);
		if ((unsigned)t->service >= NSVC)
			return pl_fail(c, "tasks[%zu]: service out of range", i);
		if ((unsigned)t->state >= PLAN_TASK_STATE_COUNT)
			return pl_fail(c, "tasks[%zu]: state out of range", i);
		if ((unsigned)t->health > PLAN_HEALTH_FAILING)
			return pl_fail(c, "tasks[%zu]: health out of range", i);
	}
	for (size_t i = 0; i < in->n_history; i++) {
		const struct plan_history *h = &in->history[i];
		if (!text_is_set(h->agent_id) || (unsigned)h->service >= NSVC)
			return pl_fail(c, "history[%zu]: missing agent id or service out of range",
				    i);
	}
	return 0;
}

struct agent_cmp {
	const struct plan_agent *ag;
	size_t skip; /* a prefix every id shares */
};

static int cmp_agent_idx(const void *a, const void *b, void *arg)
{
	const struct agent_cmp *k = arg;
	return strcmp(k->ag[*(const size_t *)a].agent_id + k->skip,
		      k->ag[*(const size_t *)b].agent_id + k->skip);
}

/* The length of the prefix all n ids share. */
static size_t shared_prefix(const struct plan_agent *ag, size_t n)
{
	if (!n)
		return 0;
	const char *first = ag[0].agent_id;
	size_t len = strlen(first);
	for (size_t i = 1; i < n && len; i++) {
		const char *id = ag[i].agent_id;
		size_t j = 0;
		while (j < len && id[j] == first[j])
			j++;
		len = j;
	}
	return len;
}

static int cmp_task_idx(const void *a, const void *b, void *arg)
{
	const struct plan_task *t = arg;
	return strcmp(t[*(const size_t *)a].task_id, t[*(const size_t *)b].task_id);
}

size_t pl_find_agent(const struct ctx *c, const char *id)
{
	if (!c->na || strncmp(id, pl_agent_at(c, 0)->agent_id, c->apfx) != 0)
		return c->na;
	id += c->apfx;
	size_t lo = 0, hi = c->na;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(id, pl_agent_at(c, mid)->agent_id + c->apfx);
		if (r == 0)
			return mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return c->na;
}

/* Is hint (NULL: none) a permutation of 0..n-1 along which id(i) strictly
 * increases? One pass: indices in range with strictly increasing ids are
 * n different ones. A caller's hint is never trusted. */
static bool order_hint_ok(const size_t *hint, size_t n, const char *(*id)(const void *, size_t),
			  const void *arg)
{
	if (!hint)
		return false;
	for (size_t k = 0; k < n; k++)
		if (hint[k] >= n || (k > 0 && strcmp(id(arg, hint[k - 1]), id(arg, hint[k])) >= 0))
			return false;
	return true;
}

static const char *agent_id_at(const void *arg, size_t i)
{
	return ((const struct plan_agent *)arg)[i].agent_id;
}

static const char *task_id_at(const void *arg, size_t i)
{
	return ((const struct plan_task *)arg)[i].task_id;
}

/* A copy of hint when it is a good order (order_hint_ok: then its ids
 * are all different, *hinted), else the indices sorted with cmp
 * (duplicates next to each other). */
static size_t *sorted_indices(const size_t *hint, size_t n,
			      const char *(*id)(const void *, size_t), const void *ids,
			      int (*cmp)(const void *, const void *, void *), void *cmp_arg,
			      bool *hinted)
{
	size_t *ord = qm_malloc((n ? n : 1) * sizeof *ord);
	*hinted = order_hint_ok(hint, n, id, ids);
	if (*hinted) {
		memcpy(ord, hint, n * sizeof *ord);
		return ord;
	}
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	qsort_r(ord, n, sizeof *ord, cmp, cmp_arg);
	return ord;
}

/* The pos of task ti's agent: from the caller's hint when it names an
 * agent with that id, else looked up. rank: agents[] index -> pos. */
static size_t task_pos(const struct ctx *c, const size_t *rank, size_t ti)
{
	const struct plan_input *in = c->in;
	const char *id = in->tasks[ti].agent_id;
	if (in->task_agent && rank) {
		size_t i = in->task_agent[ti];
		if (i < c->na && strcmp(in->agents[i].agent_id, id) == 0)
			return rank[i];
	}
	return pl_find_agent(c, id);
}

static int build_index(struct ctx *c)
{
	const struct plan_input *in = c->in;
	size_t na = c->na = in->n_agents, nt = in->n_tasks;

	c->apfx = shared_prefix(in->agents, na);
	struct agent_cmp key = {.ag = in->agents, .skip = c->apfx};
	bool hinted;
	c->aord = sorted_indices(in->agent_order, na, agent_id_at, in->agents, cmp_agent_idx,
				 &key, &hinted);
	for (size_t p = 1; !hinted && p < na; p++)
		if (strcmp(pl_agent_at(c, p - 1)->agent_id + c->apfx,
			   pl_agent_at(c, p)->agent_id + c->apfx) == 0)
			return pl_fail(c, "agents[%zu]: duplicate agent id '%.60s'",
				    c->aord[p], pl_agent_at(c, p)->agent_id);

	size_t *byid = sorted_indices(in->task_order, nt, task_id_at, in->tasks, cmp_task_idx,
				      (void *)in->tasks, &hinted);
	for (size_t i = 1; !hinted && i < nt; i++) {
		if (strcmp(in->tasks[byid[i - 1]].task_id,
			   in->tasks[byid[i]].task_id) == 0) {
			int rv = pl_fail(c, "tasks[%zu]: duplicate task id '%.60s'",
				      byid[i], in->tasks[byid[i]].task_id);
			free(byid);
			return rv;
		}
	}
	size_t *rank = NULL;
	if (in->task_agent) {
		rank = qm_malloc((na ? na : 1) * sizeof *rank);
		for (size_t p = 0; p < na; p++)
			rank[c->aord[p]] = p;
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
	c->gone = qm_calloc(na ? na : 1, sizeof *c->gone);
	for (size_t s = 0; s < nslots; s++)
		c->head[s] = c->keeper[s] = c->hist[s] = NONE;

	/* Visiting tasks in reverse id order and pushing at the front leaves
	 * every slot's list sorted by task id. */
	for (size_t k = nt; k-- > 0;) {
		size_t ti = byid[k];
		const struct plan_task *t = &in->tasks[ti];
		size_t pos = task_pos(c, rank, ti);
		c->tpos[ti] = pos;
		c->tnext[ti] = NONE;
		bool active = pos < na && pl_agent_at(c, pos)->active;
		bool terminal = plan_task_state_terminal(t->state) ||
				(t->state == PLAN_TASK_UNKNOWN && active);
		if (terminal)
			continue;
		c->tflag[ti] = TF_LIVE;
		if (!active || t->state == PLAN_TASK_UNREACHABLE ||
		    t->state == PLAN_TASK_UNKNOWN)
			c->tflag[ti] |= TF_UNREACH;
		if (pos < na) {
			size_t s = pl_slot_of(pos, t->service);
			c->tnext[ti] = c->head[s];
			c->head[s] = ti;
		}
	}
	free(byid);
	free(rank);

	for (size_t i = 0; i < in->n_history; i++) {
		const struct plan_history *h = &in->history[i];
		size_t pos = pl_find_agent(c, h->agent_id);
		if (pos == na)
			continue;
		size_t s = pl_slot_of(pos, h->service);
		if (c->hist[s] != NONE)
			return pl_fail(c, "history[%zu]: second entry for %s on '%.60s'",
				    i, service_name(h->service), h->agent_id);
		c->hist[s] = i;
	}
	return 0;
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
	free(c->rord);
	free(c->ioord);
	free(c->gone);
}

int plan_compute(const struct plan_input *in, struct plan_output *out)
{
	if (!out)
		return QM_EINVAL;
	memset(out, 0, sizeof *out);
	struct ctx c = {.in = in, .out = out};
	if (!in)
		return pl_fail(&c, "input is NULL");
	c.cfg = &in->config;
	c.now = in->now_ms;
	c.target = !text_is_set(in->target_version) ? NULL : in->target_version;
	int rv = validate(&c);
	if (!rv)
		rv = build_index(&c);
	if (!rv)
		rv = pl_check_resources(&c);
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
	out->n_reservations = in->n_reservations;
	out->releasable = qm_calloc(in->n_reservations, sizeof *out->releasable);
	out->drain = qm_calloc(in->n_agents, sizeof *out->drain);

	pl_pick_keepers(&c);
	pl_probers(&c);
	if (c.target) {
		pl_pinned(&c);
		pl_management(&c, SERVICE_API, c.cfg->api_count,
			      &c.cfg->api_restriction);
		pl_management(&c, SERVICE_WEBCONSOLE, c.cfg->webconsole_count,
			      &c.cfg->webconsole_restriction);
		pl_drain(&c);
		pl_launches(&c);
		pl_upgrade(&c);
	} else {
		pl_shutdown(&c);
	}
	pl_reservations(&c);
	pl_inverse_offers(&c);
	pl_drain_verdicts(&c);
	pl_report(&c);
	pl_finish(&c);
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
		free(out->actions[i].inverse_offer_id);
	}
	free(out->actions);
	for (size_t i = 0; i < out->n_problems; i++)
		free(out->problems[i]);
	free(out->problems);
	free(out->unwanted_since_ms);
	free(out->prober_stale);
	free(out->releasable);
	free(out->drain_ids);
	free(out->drain);
	memset(out, 0, sizeof *out);
}
