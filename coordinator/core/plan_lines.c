/* What the planner's passes emit and read in common: problem lines,
 * actions, wake-ups, the readiness and backoff tests; then the per-agent
 * report (rule 10) and the final ordering and capping of the output.
 * See plan_ctx.h. */
#include "core/plan_ctx.h"

#include "core/text.h"
#include "qm_error.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the input -------------------------------------------------- */

/* The name operators know a node by. */
const char *pl_node(const struct ctx *c, size_t pos)
{
	const struct plan_agent *a = pl_agent_at(c, pos);
	return a->hostname && *a->hostname ? a->hostname : a->agent_id;
}

const char *pl_task_node(const struct ctx *c, size_t ti)
{
	return c->tpos[ti] < c->na ? pl_node(c, c->tpos[ti])
				   : c->in->tasks[ti].agent_id;
}

void pl_wake(struct ctx *c, long long t)
{
	/* LLONG_MAX is "never" (an open-ended window, a saturated sum) */
	if (t > c->now && t != LLONG_MAX && (c->out->wake_ms == 0 || t < c->out->wake_ms))
		c->out->wake_ms = t;
}

bool pl_attr_matches(const struct plan_agent *a, const struct plan_attr *r)
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

bool pl_prober_allowed(const struct ctx *c, const struct plan_agent *a)
{
	if (c->cfg->n_prober_hosts > 0) {
		bool found = false;
		for (size_t i = 0; i < c->cfg->n_prober_hosts && !found; i++)
			found = a->hostname &&
				strcmp(a->hostname, c->cfg->prober_hosts[i]) == 0;
		if (!found)
			return false;
	}
	return pl_attr_matches(a, &c->cfg->prober_restriction);
}

unsigned pl_device_count(const struct plan_report *r, enum service s)
{
	switch (s) {
	case SERVICE_REGISTRY: return r->registry_devices;
	case SERVICE_METADATA: return r->metadata_devices;
	case SERVICE_DATA: return r->data_devices;
	default: return 0;
	}
}

bool pl_version_is_target(const struct ctx *c, size_t ti)
{
	const char *v = c->in->tasks[ti].version;
	return v && c->target && strcmp(v, c->target) == 0;
}

/* Rule 5's "ready". Probers additionally need a fresh report, which the
 * prober pass checks itself. */
bool pl_task_ready(const struct ctx *c, size_t ti)
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

void pl_problem(struct ctx *c, unsigned sect, const char *fmt, ...)
{
	char line[PLAN_PROBLEM_MAX];
	va_list ap;
	va_start(ap, fmt);
	/* Hostnames and ids come from outside: keep a line one line. */
	bool ok = text_vline(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!ok)
		return;
	if (c->n_probs == c->cap_probs) {
		c->cap_probs = c->cap_probs ? c->cap_probs * 2 : 16;
		c->probs = qm_realloc(c->probs, c->cap_probs * sizeof *c->probs);
	}
	c->probs[c->n_probs] = (struct prob){qm_strdup(line), sect, c->n_probs};
	c->n_probs++;
}

unsigned pl_phase_sect(enum service s)
{
	return SECT_PHASE + (unsigned)plan_phase_of(s);
}

struct plan_action *pl_new_action(struct ctx *c, enum plan_action_type type,
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

void pl_kill_task(struct ctx *c, size_t ti, enum plan_kill_reason r,
		  const char *fmt, ...)
{
	if (c->tflag[ti] & TF_KILLED)
		return;
	c->tflag[ti] |= TF_KILLED;
	const struct plan_task *t = &c->in->tasks[ti];
	struct plan_action *a = pl_new_action(c, PLAN_KILL, t->service, t->agent_id);
	a->task_id = qm_strdup(t->task_id);
	a->kill_reason = r;
	char why[PLAN_PROBLEM_MAX];
	va_list ap;
	va_start(ap, fmt);
	text_vline(why, sizeof why, fmt, ap);
	va_end(ap);
	a->reason = qm_strdup(why);
}

/* A LAUNCH for the slot, unless its failure history says to back off. */
bool pl_backoff_until(const struct ctx *c, size_t pos, enum service s,
		      long long *until, unsigned *failures)
{
	size_t h = c->hist[pl_slot_of(pos, s)];
	if (h == NONE)
		return false;
	const struct plan_history *hi = &c->in->history[h];
	long long d = plan_backoff_ms(c->cfg->backoff_base_ms,
				      c->cfg->backoff_max_ms,
				      hi->consecutive_failures);
	if (d <= 0)
		return false;
	*until = pl_sat_add(hi->last_failure_ms, d);
	*failures = hi->consecutive_failures;
	return c->now < *until;
}

void pl_try_launch(struct ctx *c, size_t pos, enum service s)
{
	long long until;
	unsigned failures;
	if (pl_backoff_until(c, pos, s, &until, &failures)) {
		/* in seconds from now: an epoch in ms read as noise on the
		 * status page and in the CLI */
		long long left = until - c->now;
		pl_problem(c, pl_phase_sect(s),
			   "relaunch of %s on %s backs off for %lld.%llds more (%u consecutive "
			   "failure%s)",
			   service_name(s), pl_node(c, pos), left / 1000, left % 1000 / 100,
			   failures, failures == 1 ? "" : "s");
		pl_wake(c, until);
		return;
	}
	const struct plan_agent *a = pl_agent_at(c, pos);
	/* Rule 11: what stays on its node reserves; api/webconsole move. */
	bool reserve = c->cfg->reserve && s != SERVICE_API && s != SERVICE_WEBCONSOLE;
	if (s == SERVICE_PROBER) {
		pl_new_action(c, PLAN_LAUNCH_PROBER, s, a->agent_id)->reserve = reserve;
		return;
	}
	struct plan_action *act = pl_new_action(c, PLAN_LAUNCH, s, a->agent_id);
	act->version = qm_strdup(c->target);
	act->reserve = reserve;
}

/* Rule 7: the task is not wanted here. Mark it and kill it once the grace
 * has passed (or at once). `why` completes "no longer wanted (...)". */
void pl_retire(struct ctx *c, size_t ti, enum plan_kill_reason r,
	       bool at_once, const char *why)
{
	const struct plan_task *t = &c->in->tasks[ti];
	long long *since = &c->out->unwanted_since_ms[ti];
	if (*since == 0)
		*since = c->now;
	if (t->kill_requested || (c->tflag[ti] & TF_KILLED))
		return;
	if (c->tflag[ti] & TF_UNREACH) {
		pl_problem(c, pl_phase_sect(t->service),
			   "%s on %s is no longer wanted (%s) but is unreachable; it is killed when it returns",
			   service_name(t->service), pl_task_node(c, ti), why);
		return;
	}
	long long due = at_once ? c->now : pl_sat_add(*since, c->cfg->removal_grace_ms);
	if (c->now >= due) {
		pl_kill_task(c, ti, r, "%s on %s no longer wanted: %s",
			     service_name(t->service), pl_task_node(c, ti), why);
		return;
	}
	pl_problem(c, pl_phase_sect(t->service),
		   "%s on %s is no longer wanted (%s); it is killed in %lld ms unless wanted again",
		   service_name(t->service), pl_task_node(c, ti), why, due - c->now);
	pl_wake(c, due);
}

/* ---- rule 10 and per-agent lines --------------------------------------- */

void pl_report(struct ctx *c)
{
	if (c->target) {
		size_t unreported = 0;
		for (size_t pos = 0; pos < c->na; pos++)
			if (pl_agent_at(c, pos)->active &&
			    !pl_agent_at(c, pos)->report.has_report)
				unreported++;
		for (unsigned si = SERVICE_REGISTRY; si <= SERVICE_DATA; si++) {
			enum service s = (enum service)si;
			size_t n = 0, dormant = NONE, drained = NONE;
			for (size_t pos = 0; pos < c->na; pos++) {
				unsigned char f = c->sflag[pl_slot_of(pos, s)];
				n += (f & SF_WANTED) != 0;
				if ((f & SF_DORMANT) && dormant == NONE)
					dormant = pos;
				if ((f & SF_DRAINED) && drained == NONE)
					drained = pos;
			}
			if (n)
				continue;
			char extra[PLAN_PROBLEM_MAX / 2] = "";
			size_t len = 0;
			if (dormant != NONE)
				len = (size_t)snprintf(extra, sizeof extra,
						       "; %.100s has one but is inactive",
						       pl_node(c, dormant));
			else if (drained != NONE)
				len = (size_t)snprintf(extra, sizeof extra,
						       "; %.100s has one but is drained",
						       pl_node(c, drained));
			if (unreported && len < sizeof extra)
				snprintf(extra + len, sizeof extra - len,
					 "; %zu agent(s) have not reported their devices yet",
					 unreported);
			pl_problem(c, SECT_MINIMUM,
				   "cluster cannot reach its minimum: no node has a %s device%s",
				   pl_device_name(s), extra);
		}
	}

	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = pl_agent_at(c, pos);
		if (a->active) {
			if (!a->report.has_report && pl_prober_allowed(c, a))
				pl_problem(c, SECT_AGENT,
					   "devices of %s are unknown: its prober has not reported yet",
					   pl_node(c, pos));
			continue;
		}
		char list[128] = "";
		size_t len = 0, n = 0;
		for (unsigned s = 0; s < SERVICE_PROBER; s++) {
			if (!(c->sflag[pl_slot_of(pos, (enum service)s)] & SF_DORMANT))
				continue;
			int w = snprintf(list + len, sizeof list - len, "%s%s",
					 n ? ", " : "", service_name(s));
			if (w > 0 && (size_t)w < sizeof list - len)
				len += (size_t)w;
			n++;
		}
		if (n)
			pl_problem(c, SECT_AGENT, "%s is inactive: %s wait%s for it to return",
				   pl_node(c, pos), list, n == 1 ? "s" : "");
	}

	for (size_t ti = 0; ti < c->in->n_tasks; ti++)
		if ((c->tflag[ti] & TF_LIVE) && c->tpos[ti] == c->na)
			pl_problem(c, SECT_AGENT,
				   "%s task %s is on unknown agent %s; waiting for reconciliation",
				   service_name(c->in->tasks[ti].service),
				   c->in->tasks[ti].task_id, c->in->tasks[ti].agent_id);
}

/* ---- ordering and assembly --------------------------------------------- */

static bool task_action(const struct plan_action *a)
{
	return a->type == PLAN_LAUNCH || a->type == PLAN_KILL ||
	       a->type == PLAN_LAUNCH_PROBER;
}

/* Resource actions (plan.h "Determinism"): agent id, UNRESERVE before the
 * inverse-offer answers, service, inverse offer id. */
static int resource_cmp(const struct plan_action *a, const struct plan_action *b)
{
	int r = strcmp(a->agent_id, b->agent_id);
	if (r)
		return r;
	int ua = a->type != PLAN_UNRESERVE, ub = b->type != PLAN_UNRESERVE;
	if (ua != ub)
		return ua - ub;
	if (a->service != b->service)
		return a->service < b->service ? -1 : 1;
	return strcmp(a->inverse_offer_id ? a->inverse_offer_id : "",
		      b->inverse_offer_id ? b->inverse_offer_id : "");
}

static int action_cmp(const void *pa, const void *pb)
{
	const struct plan_action *a = pa, *b = pb;
	bool ta = task_action(a), tb = task_action(b);
	if (ta != tb)
		return ta ? -1 : 1;
	if (!ta)
		return resource_cmp(a, b);
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

void pl_finish(struct ctx *c)
{
	struct plan_output *o = c->out;
	if (o->n_actions)
		qsort(o->actions, o->n_actions, sizeof *o->actions, action_cmp);
	for (size_t i = 0; i < o->n_actions; i++)
		if (o->actions[i].type == PLAN_LAUNCH ||
		    o->actions[i].type == PLAN_LAUNCH_PROBER)
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
