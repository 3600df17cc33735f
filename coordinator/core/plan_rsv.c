/* The planner's resource rules (plan.h rules 11-13 and 15): which
 * reservations could go and which the operator's release requests may
 * release, the answers to inverse offers, the maintenance windows that hold
 * back an upgrade, and the operator's drains, which share rule 12's
 * registry quorum. See plan_ctx.h. */
#include "core/plan_ctx.h"

#include "core/text.h"
#include "qm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation and order ---------------------------------------------- */

static int cmp_rsv(const void *a, const void *b, void *arg)
{
	const struct plan_reservation *r = arg;
	const struct plan_reservation *ra = &r[*(const size_t *)a], *rb = &r[*(const size_t *)b];
	int d = strcmp(ra->agent_id, rb->agent_id);
	if (d)
		return d;
	return (ra->service > rb->service) - (ra->service < rb->service);
}

static int cmp_inverse(const void *a, const void *b, void *arg)
{
	const struct plan_inverse_offer *v = arg;
	const struct plan_inverse_offer *va = &v[*(const size_t *)a], *vb = &v[*(const size_t *)b];
	int d = strcmp(va->agent_id, vb->agent_id);
	return d ? d : strcmp(va->id, vb->id);
}

static size_t *identity(size_t n)
{
	size_t *p = qm_calloc(n ? n : 1, sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = i;
	return p;
}

static int cmp_inverse_id(const void *a, const void *b, void *arg)
{
	const struct plan_inverse_offer *v = arg;
	return strcmp(v[*(const size_t *)a].id, v[*(const size_t *)b].id);
}

/* One printable line into buf. */
static void linef(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void linef(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_vline(buf, cap, fmt, ap);
	va_end(ap);
}

int pl_check_resources(struct ctx *c)
{
	const struct plan_input *in = c->in;
	size_t nr = in->n_reservations, ni = in->n_inverse_offers;
	for (size_t i = 0; i < nr; i++) {
		const struct plan_reservation *r = &in->reservations[i];
		if (!text_is_set(r->agent_id) || (unsigned)r->service >= NSVC)
			return pl_fail(
				c, "reservations[%zu]: missing agent id or service out of range",
				i);
	}
	for (size_t i = 0; i < ni; i++) {
		const struct plan_inverse_offer *v = &in->inverse_offers[i];
		if (!text_is_set(v->id) || !text_is_set(v->agent_id))
			return pl_fail(c, "inverse_offers[%zu]: missing id or agent id", i);
	}
	c->rord = identity(nr);
	qsort_r(c->rord, nr, sizeof *c->rord, cmp_rsv, (void *)in->reservations);
	for (size_t k = 1; k < nr; k++) {
		if (cmp_rsv(&c->rord[k - 1], &c->rord[k], (void *)in->reservations) == 0) {
			const struct plan_reservation *r = &in->reservations[c->rord[k]];
			return pl_fail(c, "reservations[%zu]: second reservation for %s on '%.60s'",
				       c->rord[k], service_name(r->service), r->agent_id);
		}
	}
	/* Unique ids: sort a second index by id alone. */
	size_t *byid = identity(ni);
	const struct plan_inverse_offer *v = in->inverse_offers;
	qsort_r(byid, ni, sizeof *byid, cmp_inverse_id, (void *)v);
	for (size_t i = 1; i < ni; i++) {
		if (strcmp(v[byid[i - 1]].id, v[byid[i]].id) == 0) {
			int rv = pl_fail(c,
					 "inverse_offers[%zu]: duplicate inverse offer id '%.60s'",
					 byid[i], v[byid[i]].id);
			free(byid);
			return rv;
		}
	}
	free(byid);
	c->ioord = identity(ni);
	qsort_r(c->ioord, ni, sizeof *c->ioord, cmp_inverse, (void *)v);
	return 0;
}

/* ---- maintenance windows ------------------------------------------------ */

static long long window_end(const struct plan_agent *a)
{
	return a->maint_duration_ms > 0 ? pl_sat_add(a->maint_start_ms, a->maint_duration_ms)
					: LLONG_MAX;
}

bool pl_maint_now(const struct ctx *c, size_t pos)
{
	const struct plan_agent *a = pl_agent_at(c, pos);
	return a->maint_start_ms > 0 && c->now >= a->maint_start_ms && c->now < window_end(a);
}

bool pl_maint_hold(const struct ctx *c, size_t pos, long long *starts_in)
{
	const struct plan_agent *a = pl_agent_at(c, pos);
	*starts_in = 0;
	if (a->maint_start_ms <= 0 || c->now >= window_end(a))
		return false;
	if (c->now >= a->maint_start_ms)
		return true;
	*starts_in = a->maint_start_ms - c->now;
	return *starts_in <= c->cfg->maintenance_lookahead_ms;
}

/* ---- rule 11: reservations --------------------------------------------- */

static bool live_on_unknown_agent(const struct ctx *c, enum service s, const char *agent_id)
{
	for (size_t ti = 0; ti < c->in->n_tasks; ti++) {
		const struct plan_task *t = &c->in->tasks[ti];
		if ((c->tflag[ti] & TF_LIVE) && c->tpos[ti] == c->na && t->service == s &&
		    strcmp(t->agent_id, agent_id) == 0)
			return true;
	}
	return false;
}

/* NULL when the reservation is releasable, else what keeps it. */
static const char *keeps_reservation(const struct ctx *c, const struct plan_reservation *r)
{
	size_t pos = pl_find_agent(c, r->agent_id);
	if (pos == c->na)
		return live_on_unknown_agent(c, r->service, r->agent_id)
			       ? "a task of it is still live"
			       : NULL;
	size_t sl = pl_slot_of(pos, r->service);
	const struct plan_agent *a = pl_agent_at(c, pos);
	if (c->head[sl] != NONE)
		return "a task of it is still live";
	if (!a->active)
		return "the agent is inactive";
	if (a->drained && r->service != SERVICE_PROBER) /* rule 15 */
		return "the node is drained (undrain brings its services back)";
	if (r->service == SERVICE_PROBER)
		return pl_prober_allowed(c, a) ? "the agent still passes the prober restriction"
					       : NULL;
	if (!c->target)
		return NULL;
	bool by_inventory = r->service <= SERVICE_DATA ||
			    (r->service == SERVICE_CLIENT && c->cfg->client_enabled);
	if (by_inventory && !a->report.has_report)
		return "the agent's devices are unknown (its prober has not reported yet)";
	return (c->sflag[sl] & SF_WANTED) ? "the plan still wants it there" : NULL;
}

void pl_reservations(struct ctx *c)
{
	for (size_t k = 0; k < c->in->n_reservations; k++) {
		size_t i = c->rord[k];
		const struct plan_reservation *r = &c->in->reservations[i];
		const char *why = keeps_reservation(c, r);
		c->out->releasable[i] = why == NULL;
		if (!r->release_requested)
			continue;
		size_t pos = pl_find_agent(c, r->agent_id);
		const char *node = pos < c->na ? pl_node(c, pos) : r->agent_id;
		if (why) {
			pl_problem(c, SECT_AGENT, "release of the %s reservation on %s waits: %s",
				   service_name(r->service), node, why);
			continue;
		}
		struct plan_action *a = pl_new_action(c, PLAN_UNRESERVE, r->service, r->agent_id);
		char line[PLAN_PROBLEM_MAX];
		linef(line, sizeof line, "release the %s reservation on %s (operator request)",
		      service_name(r->service), node);
		a->reason = qm_strdup(line);
	}
}

/* ---- rule 12: inverse offers ------------------------------------------- */

static void answer(struct ctx *c, const struct plan_inverse_offer *v, bool accept, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static void answer(struct ctx *c, const struct plan_inverse_offer *v, bool accept, const char *fmt,
		   ...)
{
	char line[PLAN_PROBLEM_MAX];
	va_list ap;
	va_start(ap, fmt);
	text_vline(line, sizeof line, fmt, ap);
	va_end(ap);
	struct plan_action *a =
		pl_new_action(c, accept ? PLAN_ACCEPT_INVERSE : PLAN_DECLINE_INVERSE,
			      SERVICE_PROBER, v->agent_id);
	a->inverse_offer_id = qm_strdup(v->id);
	a->reason = qm_strdup(line);
	if (!accept)
		pl_problem(c, SECT_AGENT, "%s", line);
}

/* Rule 12's W: the registry slots that are quorum members -- wanted,
 * waiting for an inactive agent, or on a drained node (rule 15). */
static const unsigned char quorum_member = SF_WANTED | SF_DORMANT | SF_DRAINED;

static unsigned quorum_members(const struct ctx *c)
{
	unsigned w = 0;
	for (size_t pos = 0; pos < c->na; pos++)
		w += (c->sflag[pl_slot_of(pos, SERVICE_REGISTRY)] & quorum_member) != 0;
	return w;
}

/* The ready registries that stay if the agent at pos goes: not on it, not
 * on an agent whose window is in progress or whose inverse offer this plan
 * accepts. (A drained node's registry is never SF_READY: not wanted.) */
static unsigned registry_stays(const struct ctx *c, size_t p)
{
	return !c->gone[p] && !pl_maint_now(c, p) &&
	       (c->sflag[pl_slot_of(p, SERVICE_REGISTRY)] & SF_READY);
}

static unsigned registries_staying(const struct ctx *c, size_t pos)
{
	unsigned stay = 0;
	for (size_t p = 0; p < c->na; p++)
		stay += p != pos && registry_stays(c, p);
	return stay;
}

void pl_inverse_offers(struct ctx *c)
{
	size_t ni = c->in->n_inverse_offers;
	if (ni == 0)
		return;
	for (size_t pos = 0; pos < c->na; pos++) {
		/* The decisions change when a window opens or closes. */
		const struct plan_agent *a = pl_agent_at(c, pos);
		if (a->maint_start_ms > 0) {
			pl_wake(c, a->maint_start_ms);
			pl_wake(c, window_end(a));
		}
	}
	unsigned wanted = quorum_members(c);
	unsigned quorum = wanted / 2 + 1;
	for (size_t k = 0; k < ni; k++) {
		const struct plan_inverse_offer *v = &c->in->inverse_offers[c->ioord[k]];
		size_t pos = pl_find_agent(c, v->agent_id);
		if (pos == c->na) {
			answer(c, v, true, "agent %s is unknown: nothing of ours runs there",
			       v->agent_id);
			continue;
		}
		const char *node = pl_node(c, pos);
		size_t rsl = pl_slot_of(pos, SERVICE_REGISTRY);
		if (!c->target) {
			answer(c, v, true,
			       "host %s: no target version, no Quobyte service is wanted", node);
			c->gone[pos] = true;
			continue;
		}
		if (!(c->sflag[rsl] & quorum_member)) {
			answer(c, v, true, "host %s: no registry there", node);
			c->gone[pos] = true;
			continue;
		}
		if (pl_agent_at(c, pos)->drained && c->head[rsl] == NONE) {
			answer(c, v, true, "host %s is drained: its registry is stopped already",
			       node);
			c->gone[pos] = true;
			continue;
		}
		unsigned stay = registries_staying(c, pos);
		if (stay >= quorum) {
			answer(c, v, true, "quorum kept: %u of %u registries stay ready", stay,
			       wanted);
			c->gone[pos] = true;
		} else {
			answer(c, v, false,
			       "host %s: %u of %u registries would stay ready, a quorum needs %u",
			       node, stay, wanted, quorum);
		}
	}
}

/* ---- rule 15: drain ----------------------------------------------------- */

/* Stop the services of a drained node: the live tasks of its latest phase
 * that has any, all of them at once; earlier phases wait for those to be
 * gone. */
static void drain_node(struct ctx *c, size_t pos)
{
	const char *node = pl_node(c, pos);
	if (!pl_agent_at(c, pos)->active) {
		for (unsigned s = 0; s < SERVICE_PROBER; s++)
			if (c->head[pl_slot_of(pos, (enum service)s)] != NONE) {
				pl_problem(c, SECT_AGENT,
					   "drain of %s waits: the agent is inactive", node);
				return;
			}
	}
	for (unsigned p = PLAN_PHASE_CLIENT; p >= PLAN_PHASE_REGISTRY; p--) {
		size_t live = 0;
		for (unsigned s = 0; s < SERVICE_PROBER; s++) {
			if (plan_phase_of((enum service)s) != p)
				continue;
			for (size_t ti = c->head[pl_slot_of(pos, (enum service)s)]; ti != NONE;
			     ti = c->tnext[ti]) {
				live++;
				pl_retire(c, ti, PLAN_KILL_DRAIN, true,
					  "its node is drained by the operator");
			}
		}
		if (live) {
			pl_problem(c, SECT_AGENT,
				   "draining %s: stopping %s (%zu task(s)); earlier phases follow",
				   node, plan_phase_name((enum plan_phase)p), live);
			return;
		}
	}
	pl_problem(c, SECT_AGENT,
		   "%s is drained by the operator: its services stay stopped until it is undrained; its reservations are kept",
		   node);
}

void pl_drain(struct ctx *c)
{
	for (size_t pos = 0; pos < c->na; pos++)
		if (pl_agent_at(c, pos)->drained)
			drain_node(c, pos);
}

void pl_drain_verdicts(struct ctx *c)
{
	unsigned members = quorum_members(c);
	unsigned quorum = members ? members / 2 + 1 : 0;
	/* nothing is marked gone here: the ones that stay if pos goes are all
	 * of them but pos's own (once, not once per agent: at 10,000 agents
	 * the per-agent count was 88% of a plan's CPU) */
	unsigned staying_all = 0;
	size_t ids = 0;
	for (size_t p = 0; p < c->na; p++) {
		staying_all += registry_stays(c, p);
		ids += strlen(pl_agent_at(c, p)->agent_id) + 1;
	}
	/* the agents' ids in one block: 10,000 of them were 10,000 allocations
	 * and frees per plan */
	char *id = c->out->drain_ids = qm_malloc(ids ? ids : 1);
	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = pl_agent_at(c, pos);
		struct plan_drain *d = &c->out->drain[c->aord[pos]];
		size_t len = strlen(a->agent_id) + 1;
		d->agent_id = memcpy(id, a->agent_id, len);
		id += len;
		d->members = members;
		d->quorum = quorum;
		d->staying = staying_all - registry_stays(c, pos);
		d->drained = a->drained;
		if (a->drained)
			for (unsigned s = 0; s < SERVICE_PROBER; s++)
				for (size_t ti = c->head[pl_slot_of(pos, (enum service)s)];
				     ti != NONE; ti = c->tnext[ti])
					d->left++;
		bool member = c->sflag[pl_slot_of(pos, SERVICE_REGISTRY)] & quorum_member;
		d->safe = !c->target || a->drained || !member || d->staying >= quorum;
	}
}
