/* The shell's tables of what Mesos and the probers told us about agents:
 * the agents themselves (id, hostname, attributes from their last offer,
 * active or lost), the health of each task from its last status update, and
 * the launches that wait because an agent's offer did not fit (logged once
 * per reason, shown in /v1/state). Lookups by id go through a strmap index
 * beside each array. Runs on the loop thread (coord_priv.h). */
#include "shell/coord_priv.h"

#include "clock.h"
#include "log.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agents_init(struct coord *c)
{
	strmap_init(&c->agent_idx);
	strmap_init(&c->health_idx);
	strmap_init(&c->unsent);
	c->health_layout++;
	memset(&c->health_pos, 0, sizeof c->health_pos);
}

/* Frees the tables; c->nodes is the caller's. */
void agents_fini(struct coord *c)
{
	for (size_t i = 0; i < c->nagents; i++) {
		agent_clear_attrs(&c->agents[i]);
		free(c->agents[i].id);
		free(c->agents[i].hostname);
	}
	free(c->agents);
	strmap_fini(&c->agent_idx);
	strmap_fini(&c->health_idx);
	strmap_fini(&c->unsent);
	for (size_t i = 0; i < c->nhealth; i++)
		free(c->health[i].task_id);
	free(c->health);
	free(c->health_pos.pos);
	memset(&c->health_pos, 0, sizeof c->health_pos);
	while (c->nwaits)
		wait_remove_at(c, c->nwaits - 1);
	free(c->waits);
	for (size_t i = 0; i < c->nunexpected; i++)
		free(c->unexpected[i]);
	free(c->unexpected);
}

struct agent *agent_find(struct coord *c, const char *id)
{
	size_t i;
	return strmap_get(&c->agent_idx, id, &i) ? &c->agents[i] : NULL;
}

void agent_set_active(struct coord *c, struct agent *a, bool active)
{
	if (a->active == active)
		return;
	a->active = active;
	if (active)
		c->agents_inactive--;
	else
		c->agents_inactive++;
}

void agent_clear_attrs(struct agent *a)
{
	for (size_t i = 0; i < a->nattrs; i++) {
		free((char *)a->attrs[i].name);
		free((char *)a->attrs[i].value);
	}
	free(a->attrs);
	a->attrs = NULL;
	a->nattrs = 0;
}

/* Forget agent i: its node, its table entry, and the records of our
 * reservations there -- an agent that registers under a new id on the same
 * host (Mesos gives a removed agent a new id when it comes back) has none
 * of the old one's reservations: they went with the old id, nothing was
 * released by us. */
static void agent_forget_at(struct coord *c, size_t i)
{
	struct agent *a = &c->agents[i];
	agent_set_active(c, a, true); /* leaves the inactive count */
	for (size_t k = c->st.nreservations; k-- > 0;) {
		struct store_reservation *v = &c->st.reservations[k];
		if (strcmp(v->agent_id, a->id) != 0)
			continue;
		log_warn("reservation_gone_with_agent", "service=%s agent_id=%s hostname=%s",
			 v->service, log_qs(v->agent_id), log_qs(v->hostname));
		char svc[sizeof v->service];
		snprintf(svc, sizeof svc, "%s", v->service);
		store_state_remove_reservation(&c->st, svc, a->id);
		c->st_dirty = true;
	}
	(void)nodes_remove(&c->nodes, a->id);
	c->agents_nodes_layout = 0;
	strmap_del(&c->agent_idx, a->id);
	agent_clear_attrs(a);
	for (size_t j = 0; j < a->nmounts; j++) {
		free(a->mounts[j].root);
		free(a->mounts[j].reserved_for);
	}
	free(a->mounts);
	free(a->maint_answer);
	free(a->id);
	free(a->hostname);
	if (i != c->nagents - 1) {
		c->agents[i] = c->agents[c->nagents - 1];
		strmap_put(&c->agent_idx, c->agents[i].id, i);
	}
	c->nagents--;
	c->agents_gen++;
}

/* A new agent id on a host whose old agent is inactive: the old one was
 * removed and this is it coming back (issue 12's agent removal). Only
 * inactive agents are looked at, and most often there is none: the scan
 * per new agent made the first OFFERS of 10,000 agents 50 million steps
 * (~40 of the 60 ms it spent on agents; offer_cycle.py --agents 10000). */
static void agent_replace_old(struct coord *c, const char *id, const char *hostname)
{
	for (size_t i = c->nagents; hostname && c->agents_inactive && i-- > 0;) {
		struct agent *o = &c->agents[i];
		if (o->active || !o->hostname || strcmp(o->hostname, hostname) != 0 ||
		    strcmp(o->id, id) == 0)
			continue;
		log_warn("agent_replaced", "hostname=%s old_agent_id=%s new_agent_id=%s",
			 log_qs(hostname), log_qs(o->id), log_qs(id));
		agent_forget_at(c, i);
	}
}

void agent_drop_if_replaced(struct coord *c, const char *id)
{
	struct agent *a = agent_find(c, id);
	if (!a || a->active || !a->hostname)
		return;
	for (size_t i = 0; i < c->nagents; i++) {
		const struct agent *n = &c->agents[i];
		if (n != a && n->active && n->hostname && strcmp(n->hostname, a->hostname) == 0) {
			log_warn("agent_replaced", "hostname=%s old_agent_id=%s new_agent_id=%s",
				 log_qs(a->hostname), log_qs(a->id), log_qs(n->id));
			agent_forget_at(c, (size_t)(a - c->agents));
			return;
		}
	}
}

struct agent *agent_get(struct coord *c, const char *id, const char *hostname)
{
	struct agent *a = agent_find(c, id);
	if (!a) {
		agent_replace_old(c, id, hostname);
		if (c->nagents == c->agents_cap) {
			c->agents_cap = c->agents_cap ? c->agents_cap * 2 : 16;
			c->agents = qm_realloc(c->agents, c->agents_cap * sizeof *c->agents);
		}
		strmap_put(&c->agent_idx, id, c->nagents);
		c->agents_gen++;
		a = &c->agents[c->nagents++];
		memset(a, 0, sizeof *a);
		a->id = qm_strdup(id);
		a->active = true;
		if (!c->seen_capped || c->seen_logged++ < AGENTS_SEEN_LOG_MAX)
			log_info("agent_seen", "agent_id=%s hostname=%s", log_qs(id),
				 log_qs(hostname ? hostname : ""));
		else
			c->seen_unlogged++;
	}
	if (hostname && (!a->hostname || strcmp(a->hostname, hostname) != 0)) {
		free(a->hostname);
		a->hostname = qm_strdup(hostname);
	}
	return a;
}

const char *agent_attr(const struct agent *a, const char *name)
{
	for (size_t i = 0; a && i < a->nattrs; i++)
		if (strcmp(a->attrs[i].name, name) == 0)
			return a->attrs[i].value;
	return NULL;
}

static struct health *health_find(struct coord *c, const char *task_id)
{
	size_t i;
	return strmap_get(&c->health_idx, task_id, &i) ? &c->health[i] : NULL;
}

enum plan_health health_of(struct coord *c, const char *task_id)
{
	struct health *h = health_find(c, task_id);
	return h ? h->h : PLAN_HEALTH_UNKNOWN;
}

/* Positions are found again only when they may have moved: a task added
 * or removed gives the state a new gen (codec.h), an entry added or
 * dropped (health_set, health_drop: the last one moves into the hole)
 * a new health_layout; a value changed in place moves nothing. */
enum plan_health health_at(struct coord *c, size_t i)
{
	struct store_state *st = &c->st;
	struct health_pos *hp = &c->health_pos;
	if (hp->st_gen != st->gen || hp->layout != c->health_layout || hp->n != st->ntasks) {
		hp->pos = qm_realloc(hp->pos, (st->ntasks ? st->ntasks : 1) * sizeof *hp->pos);
		for (size_t k = 0; k < st->ntasks; k++) {
			size_t at;
			hp->pos[k] = strmap_get(&c->health_idx, st->tasks[k].task_id, &at) ? at
											 : SIZE_MAX;
		}
		hp->st_gen = st->gen;
		hp->layout = c->health_layout;
		hp->n = st->ntasks;
	}
	size_t at = hp->pos[i];
	return at < c->nhealth ? c->health[at].h : PLAN_HEALTH_UNKNOWN;
}

void health_set(struct coord *c, const char *task_id, enum plan_health v)
{
	struct health *h = health_find(c, task_id);
	if (!h) {
		if (c->nhealth == c->health_cap) {
			c->health_cap = c->health_cap ? c->health_cap * 2 : 16;
			c->health = qm_realloc(c->health, c->health_cap * sizeof *c->health);
		}
		strmap_put(&c->health_idx, task_id, c->nhealth);
		c->health_layout++;
		h = &c->health[c->nhealth++];
		h->task_id = qm_strdup(task_id);
		h->heard_in = 0;
	}
	h->h = v;
}

void health_heard(struct coord *c, const char *task_id)
{
	if (!health_find(c, task_id))
		health_set(c, task_id, PLAN_HEALTH_UNKNOWN);
	health_find(c, task_id)->heard_in = c->n.subscriptions;
}

bool health_was_heard(struct coord *c, const char *task_id)
{
	struct health *h = health_find(c, task_id);
	return h && h->heard_in == c->n.subscriptions;
}

void health_drop(struct coord *c, const char *task_id)
{
	struct health *h = health_find(c, task_id);
	if (!h)
		return;
	size_t i = (size_t)(h - c->health);
	c->health_layout++;
	strmap_del(&c->health_idx, task_id);
	free(h->task_id);
	*h = c->health[--c->nhealth];
	if (i < c->nhealth)
		strmap_put(&c->health_idx, h->task_id, i);
}

struct wait *wait_find(struct coord *c, const char *agent_id, enum service s)
{
	for (size_t i = 0; i < c->nwaits; i++)
		if (c->waits[i].service == s && strcmp(c->waits[i].agent_id, agent_id) == 0)
			return &c->waits[i];
	return NULL;
}

/* Remember why a launch waits; log only when the reason changes. */
void wait_set(struct coord *c, const char *agent_id, const char *hostname,
		     enum service s, const char *reason)
{
	struct wait *w = wait_find(c, agent_id, s);
	if (w)
		w->seen = true;
	if (w && strcmp(w->reason, reason) == 0)
		return;
	if (!w) {
		c->waits = qm_realloc(c->waits, (c->nwaits + 1) * sizeof *c->waits);
		w = &c->waits[c->nwaits++];
		memset(w, 0, sizeof *w);
		w->agent_id = qm_strdup(agent_id);
		w->service = s;
		w->seen = true;
	}
	snprintf(w->reason, sizeof w->reason, "%s", reason);
	log_info("launch_waits", "service=%s agent_id=%s hostname=%s reason=%s",
		 service_name(s), log_qs(agent_id), log_qs(hostname), log_qs(reason));
}

void wait_remove_at(struct coord *c, size_t i)
{
	free(c->waits[i].agent_id);
	c->waits[i] = c->waits[--c->nwaits];
}

void wait_clear(struct coord *c, const char *agent_id, enum service s)
{
	struct wait *w = wait_find(c, agent_id, s);
	if (w)
		wait_remove_at(c, (size_t)(w - c->waits));
}

/* Make sure every node a prober reported from is an agent (it ran a task
 * there, so the agent exists even before its next offer). */
void agents_from_nodes(struct coord *c)
{
	if (c->agents_nodes_layout == c->nodes.layout)
		return; /* no node came or went, no agent was forgotten */
	for (size_t i = 0; i < c->nodes.n; i++) {
		const struct nodes_node *n = &c->nodes.v[i];
		if (!agent_find(c, n->agent_id))
			(void)agent_get(c, n->agent_id, n->hostname);
	}
	c->agents_nodes_layout = c->nodes.layout;
}

static bool agent_expected(struct coord *c, const char *agent_id)
{
	const struct agent *a = agent_find(c, agent_id);
	if (a && a->offered)
		return true;
	return sti_agent_has_tasks(&c->sti, &c->st, agent_id);
}

/* Keep only the unexpected agents still unexpected and still with a node. */
static void unexpected_rescan(struct coord *c)
{
	size_t k = 0;
	for (size_t i = 0; i < c->nunexpected; i++) {
		char *id = c->unexpected[i];
		if (nodes_find(&c->nodes, id) && !agent_expected(c, id))
			c->unexpected[k++] = id;
		else
			free(id);
	}
	c->nunexpected = k;
}

bool agent_admit_node(struct coord *c, const char *agent_id)
{
	if (agent_expected(c, agent_id))
		return true;
	if (c->nunexpected >= UNEXPECTED_NODES_MAX) {
		int64_t now = (int64_t)clock_mono_ms();
		if (!c->unexpected_rescan_ms || now - c->unexpected_rescan_ms >= UNEXPECTED_RESCAN_MS) {
			c->unexpected_rescan_ms = now;
			unexpected_rescan(c);
		}
		if (c->nunexpected >= UNEXPECTED_NODES_MAX)
			return false;
	}
	if (!c->unexpected)
		c->unexpected = qm_calloc(UNEXPECTED_NODES_MAX, sizeof *c->unexpected);
	c->unexpected[c->nunexpected++] = qm_strdup(agent_id);
	return true;
}
