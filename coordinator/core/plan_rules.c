/* The planner's rules 1-9 and 13 (plan.h), one pass each over the index
 * that plan.c built; rules 11-12 and 15 are in plan_rsv.c. See
 * plan_ctx.h. */
#include "core/plan_ctx.h"

#include "core/text.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keepers and duplicates -------------------------------------------- */

/* < 0 when task a is the better one to keep (rule 9): a task not being
 * killed, then a reachable one, a ready one, and then the NEWER one: a task
 * that comes back after its replacement started loses to it. The task id
 * (larger wins, like the newer) makes the choice total. */
static int keep_cmp(const struct ctx *c, size_t a, size_t b)
{
	const struct plan_task *ta = &c->in->tasks[a], *tb = &c->in->tasks[b];
	int ka[3] = {ta->kill_requested, !!(c->tflag[a] & TF_UNREACH),
		     !pl_task_ready(c, a)};
	int kb[3] = {tb->kill_requested, !!(c->tflag[b] & TF_UNREACH),
		     !pl_task_ready(c, b)};
	for (int i = 0; i < 3; i++)
		if (ka[i] != kb[i])
			return ka[i] - kb[i];
	if (ta->launched_ms != tb->launched_ms)
		return ta->launched_ms > tb->launched_ms ? -1 : 1;
	return -strcmp(ta->task_id, tb->task_id);
}

void pl_pick_keepers(struct ctx *c)
{
	for (size_t pos = 0; pos < c->na; pos++) {
		for (unsigned s = 0; s < NSVC; s++) {
			size_t sl = pl_slot_of(pos, (enum service)s);
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
					pl_problem(c, pl_phase_sect((enum service)s),
						   "a second %s task %s on %s is unreachable; it is killed when it returns",
						   service_name((enum service)s),
						   c->in->tasks[ti].task_id, pl_node(c, pos));
					continue;
				}
				pl_kill_task(c, ti, PLAN_KILL_DUPLICATE,
					     "duplicate %s on %s; keeping %s",
					     service_name((enum service)s), pl_node(c, pos),
					     c->in->tasks[best].task_id);
			}
		}
	}
}

/* ---- rule 1: probers ---------------------------------------------------- */

void pl_probers(struct ctx *c)
{
	struct plan_progress *pg = &c->out->progress[PLAN_PHASE_PROBERS];
	long long stale_ms = c->cfg->prober_stale_ms;
	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = pl_agent_at(c, pos);
		size_t k = c->keeper[pl_slot_of(pos, SERVICE_PROBER)];
		if (!a->active)
			continue;
		if (!pl_prober_allowed(c, a)) {
			if (k != NONE)
				pl_retire(c, k, PLAN_KILL_RESTRICTED, false,
					  "the agent does not pass the prober restriction");
			continue;
		}
		pg->wanted++;
		bool stale = false;
		if (stale_ms > 0 && a->report.has_report) {
			long long due = pl_sat_add(a->report.last_report_ms, stale_ms);
			if (c->now >= due) {
				stale = true;
				pl_problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
					   "prober on %s is stale: last report %lld ms ago",
					   pl_node(c, pos), c->now - a->report.last_report_ms);
			} else {
				pl_wake(c, due);
			}
		} else if (stale_ms > 0 && k != NONE &&
			   c->in->tasks[k].state == PLAN_TASK_RUNNING &&
			   !(c->tflag[k] & TF_UNREACH)) {
			long long due = pl_sat_add(c->in->tasks[k].launched_ms, stale_ms);
			if (c->now >= due) {
				stale = true;
				pl_problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
					   "prober on %s has not reported since its launch %lld ms ago",
					   pl_node(c, pos), c->now - c->in->tasks[k].launched_ms);
			} else {
				pl_wake(c, due);
			}
		}
		c->out->prober_stale[c->aord[pos]] = stale;
		if (k == NONE) {
			pl_try_launch(c, pos, SERVICE_PROBER);
			continue;
		}
		c->out->unwanted_since_ms[k] = 0;
		if (pl_task_ready(c, k) && a->report.has_report && !stale) {
			pg->ready++;
			pg->at_target++;
		}
		if (c->tflag[k] & TF_UNREACH)
			pl_problem(c, SECT_PHASE + PLAN_PHASE_PROBERS,
				   "prober on %s is unreachable; waiting for it", pl_node(c, pos));
	}
}

/* ---- shutdown (empty target) ------------------------------------------- */

void pl_shutdown(struct ctx *c)
{
	size_t live = 0;
	for (size_t ti = 0; ti < c->in->n_tasks; ti++) {
		const struct plan_task *t = &c->in->tasks[ti];
		if (!(c->tflag[ti] & TF_LIVE) || t->service == SERVICE_PROBER)
			continue;
		live++;
		pl_retire(c, ti, PLAN_KILL_SHUTDOWN, true, "target version is empty");
	}
	if (live)
		pl_problem(c, SECT_TARGET,
			   "target version is empty: stopping %zu Quobyte task(s); probers keep running",
			   live);
}

/* ---- rules 2 and 4: pinned services and clients ------------------------ */

void pl_pinned(struct ctx *c)
{
	static const enum service pinned[] = {SERVICE_REGISTRY, SERVICE_METADATA,
						   SERVICE_DATA, SERVICE_CLIENT};
	for (size_t pos = 0; pos < c->na; pos++) {
		const struct plan_agent *a = pl_agent_at(c, pos);
		const struct plan_report *r = &a->report;
		for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
			enum service s = pinned[i];
			size_t sl = pl_slot_of(pos, s);
			size_t k = c->keeper[sl];
			bool enabled = s != SERVICE_CLIENT || c->cfg->client_enabled;
			bool by_report = s == SERVICE_CLIENT ? r->client_mount
							  : pl_device_count(r, s) > 0;
			bool wanted = enabled &&
				      (r->has_report ? by_report : k != NONE);
			if (a->drained) {
				/* Rule 15: pl_drain stops what runs there, in
				 * order; the slot stays a quorum member. */
				if (wanted)
					c->sflag[sl] |= SF_DRAINED;
				continue;
			}
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
				pl_retire(c, k, PLAN_KILL_DISABLED, false,
					  "client is disabled");
			} else if (s == SERVICE_CLIENT) {
				pl_retire(c, k, PLAN_KILL_NO_MOUNT, false,
					  "client mount point is gone");
			} else {
				snprintf(why, sizeof why, "no %s device left",
					 pl_device_name(s));
				pl_retire(c, k, PLAN_KILL_NO_DEVICE, false, why);
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
	if (!text_is_set(r->name))
		buf[0] = '\0';
	else
		snprintf(buf, cap, " matching %s=%s", r->name,
			 r->value ? r->value : "");
}

void pl_management(struct ctx *c, enum service s, unsigned count,
			    const struct plan_attr *restr)
{
	struct rank *rk = qm_calloc(c->na, sizeof *rk);
	size_t n = 0;
	char rtext[160];
	restriction_text(rtext, sizeof rtext, restr);

	for (size_t pos = 0; pos < c->na; pos++) {
		size_t k = c->keeper[pl_slot_of(pos, s)];
		/* On a drained node it is not kept (so it is placed elsewhere)
		 * and pl_drain stops it in its turn (rule 15). */
		if (k == NONE || c->in->tasks[k].kill_requested ||
		    pl_agent_at(c, pos)->drained)
			continue;
		bool ok = pl_attr_matches(pl_agent_at(c, pos), restr);
		long long *since = &c->out->unwanted_since_ms[k];
		char why[200];
		if (!ok) {
			snprintf(why, sizeof why, "agent no longer%s", rtext);
			pl_retire(c, k, PLAN_KILL_RESTRICTED, false, why);
			continue;
		}
		if (c->tflag[k] & TF_UNREACH) {
			/* The grace clock of an unreachable instance runs in
			 * unwanted_since: it keeps its place until then. */
			if (*since == 0)
				*since = c->now;
			long long due = pl_sat_add(*since, c->cfg->removal_grace_ms);
			if (c->now >= due) {
				pl_problem(c, pl_phase_sect(s),
					   "%s on %s is unreachable; replaced elsewhere",
					   service_name(s), pl_node(c, pos));
				continue;
			}
			pl_problem(c, pl_phase_sect(s),
				   "%s on %s is unreachable; it is replaced elsewhere in %lld ms unless it returns",
				   service_name(s), pl_node(c, pos), due - c->now);
			pl_wake(c, due);
		}
		rk[n].pos = pos;
		rk[n].key[0] = *since != 0;
		rk[n].key[1] = !pl_task_ready(c, k);
		rk[n].key[2] = 0;
		n++;
	}
	qsort(rk, n, sizeof *rk, rank_cmp);
	size_t kept = n < count ? n : count;
	for (size_t i = 0; i < n; i++) {
		size_t sl = pl_slot_of(rk[i].pos, s), k = c->keeper[sl];
		if (i < kept) {
			c->sflag[sl] |= SF_WANTED;
			c->load[rk[i].pos]++;
			if (!(c->tflag[k] & TF_UNREACH))
				c->out->unwanted_since_ms[k] = 0;
		} else if (!(c->tflag[k] & TF_UNREACH)) {
			char why[96];
			snprintf(why, sizeof why, "more than the %u %s instance(s) configured",
				 count, service_name(s));
			pl_retire(c, k, PLAN_KILL_EXCESS, false, why);
		}
	}

	size_t need = count - kept, m = 0;
	if (need) {
		for (size_t pos = 0; pos < c->na; pos++) {
			const struct plan_agent *a = pl_agent_at(c, pos);
			if (!a->active || a->drained || !pl_attr_matches(a, restr) ||
			    c->head[pl_slot_of(pos, s)] != NONE)
				continue;
			long long until;
			unsigned failures;
			rk[m].pos = pos;
			rk[m].key[0] = pl_backoff_until(c, pos, s, &until, &failures);
			rk[m].key[1] = c->load[pos] > INT_MAX ? INT_MAX : (int)c->load[pos];
			rk[m].key[2] = 0;
			m++;
		}
		qsort(rk, m, sizeof *rk, rank_cmp);
		for (size_t i = 0; i < m && i < need; i++) {
			c->sflag[pl_slot_of(rk[i].pos, s)] |= SF_WANTED;
			c->load[rk[i].pos]++;
		}
		if (m < need)
			pl_problem(c, pl_phase_sect(s),
				   "%s wants %u instance(s) but only %zu more agent(s)%s can take one",
				   service_name(s), count, m, rtext);
	}
	free(rk);
}

/* ---- rules 5 and 6: phase gate and launches ---------------------------- */

/* Per phase: wanted slots and ready keepers (marking SF_READY), into
 * wanted[] / ready[] and the output's progress. */
static void count_progress(struct ctx *c, unsigned wanted[PLAN_PHASE_COUNT],
			   unsigned ready[PLAN_PHASE_COUNT])
{
	unsigned at[PLAN_PHASE_COUNT] = {0};
	for (size_t pos = 0; pos < c->na; pos++) {
		for (unsigned s = 0; s < SERVICE_PROBER; s++) {
			size_t sl = pl_slot_of(pos, (enum service)s);
			if (!(c->sflag[sl] & SF_WANTED))
				continue;
			enum plan_phase ph = plan_phase_of(s);
			wanted[ph]++;
			size_t k = c->keeper[sl];
			if (k != NONE && pl_task_ready(c, k)) {
				c->sflag[sl] |= SF_READY;
				ready[ph]++;
				at[ph] += pl_version_is_target(c, k);
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
}

/* The node whose bootstrap registry starts first (rule 5), NONE when no
 * wanted registry has a bootstrap device. */
static size_t bootstrap_registry(struct ctx *c)
{
	size_t boot = NONE, nboot = 0;
	for (size_t pos = 0; pos < c->na; pos++) {
		if ((c->sflag[pl_slot_of(pos, SERVICE_REGISTRY)] & SF_WANTED) &&
		    pl_agent_at(c, pos)->report.registry_bootstrap) {
			if (boot == NONE)
				boot = pos;
			nboot++;
		}
	}
	if (nboot > 1)
		pl_problem(c, SECT_PHASE + PLAN_PHASE_REGISTRY,
			   "%zu nodes have a bootstrap registry device; %s starts first",
			   nboot, pl_node(c, boot));
	return boot;
}

/* What the phase gate says about one wanted slot. */
struct gate {
	unsigned blocked[PLAN_PHASE_COUNT]; /* first incomplete earlier phase */
	unsigned wanted[PLAN_PHASE_COUNT];
	size_t boot;                        /* bootstrap registry's node */
	bool boot_pending;                  /* ... not ready yet */
};

/* A wanted slot: report on its live task, or launch one if the gate and
 * the bootstrap registry let it. */
static void launch_slot(struct ctx *c, const struct gate *g, size_t pos,
			enum service s)
{
	unsigned p = plan_phase_of(s);
	size_t k = c->keeper[pl_slot_of(pos, s)];
	if (k != NONE) {
		const struct plan_task *t = &c->in->tasks[k];
		if ((c->tflag[k] & TF_UNREACH) && p != PLAN_PHASE_MANAGEMENT)
			pl_problem(c, pl_phase_sect(s),
				   "%s on %s is unreachable; waiting for it to return (pinned to its node)",
				   service_name(s), pl_node(c, pos));
		else if (t->state == PLAN_TASK_RUNNING &&
			 t->health == PLAN_HEALTH_FAILING)
			pl_problem(c, pl_phase_sect(s),
				   "%s on %s is running but failing its health check",
				   service_name(s), pl_node(c, pos));
		return;
	}
	unsigned b = g->blocked[p];
	if (b && g->wanted[b] == 0) {
		pl_problem(c, pl_phase_sect(s),
			   "%s on %s waits for %s: no node has a %s device",
			   service_name(s), pl_node(c, pos), plan_phase_name(b),
			   pl_device_name((enum service)(b - PLAN_PHASE_REGISTRY)));
		return;
	}
	if (b) {
		pl_problem(c, pl_phase_sect(s),
			   "%s on %s waits for %s to be running and healthy",
			   service_name(s), pl_node(c, pos), plan_phase_name(b));
		return;
	}
	if (s == SERVICE_REGISTRY && g->boot_pending && pos != g->boot) {
		pl_problem(c, pl_phase_sect(s),
			   "registry on %s waits for the bootstrap registry on %s to be running and healthy",
			   pl_node(c, pos), pl_node(c, g->boot));
		return;
	}
	pl_try_launch(c, pos, s);
}

void pl_launches(struct ctx *c)
{
	struct gate g;
	unsigned ready[PLAN_PHASE_COUNT] = {0};
	memset(&g, 0, sizeof g);
	count_progress(c, g.wanted, ready);

	/* blocked[p]: the first earlier phase that is not complete, or 0. A disk
	 * phase with nothing wanted is not complete: data without metadata is
	 * no cluster. */
	unsigned first_bad = 0;
	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		g.blocked[p] = first_bad;
		bool disk = p <= PLAN_PHASE_DATA;
		if (!first_bad &&
		    (ready[p] < g.wanted[p] || (disk && g.wanted[p] == 0)))
			first_bad = p;
	}
	g.boot = bootstrap_registry(c);
	g.boot_pending = g.boot != NONE &&
			 !(c->sflag[pl_slot_of(g.boot, SERVICE_REGISTRY)] & SF_READY);

	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++)
		for (size_t pos = 0; pos < c->na; pos++)
			for (unsigned si = 0; si < SERVICE_PROBER; si++)
				if (plan_phase_of(si) == p &&
				    (c->sflag[pl_slot_of(pos, si)] & SF_WANTED))
					launch_slot(c, &g, pos, (enum service)si);
}

/* ---- rule 8: rolling upgrade ------------------------------------------- */

/* Not at the target: another version, or to be replaced for a reason. */
static bool stale(const struct ctx *c, size_t k)
{
	return !pl_version_is_target(c, k) || c->in->tasks[k].replace_reason;
}

/* Rule 13: an old task whose node has a maintenance window coming or in
 * progress waits; says so and arms the wake-ups. True when it waits. */
static bool held_for_maintenance(struct ctx *c, size_t sl)
{
	size_t pos = sl / NSVC, k = c->keeper[sl];
	const struct plan_agent *a = pl_agent_at(c, pos);
	long long in;
	if (a->maint_start_ms <= 0)
		return false;
	if (!pl_maint_hold(c, pos, &in)) {
		/* Not yet: the hold begins at start - lookahead. */
		pl_wake(c, a->maint_start_ms - c->cfg->maintenance_lookahead_ms);
		return false;
	}
	if (a->maint_duration_ms > 0)
		pl_wake(c, pl_sat_add(a->maint_start_ms, a->maint_duration_ms));
	const struct plan_task *t = &c->in->tasks[k];
	const char *what = pl_version_is_target(c, k) ? "replacement" : "upgrade";
	if (in > 0)
		pl_problem(c, SECT_UPGRADE, "%s of %s on %s waits: maintenance window starts in %lld min",
			   what, service_name(t->service), pl_node(c, pos),
			   (in + 59999) / 60000);
	else
		pl_problem(c, SECT_UPGRADE, "%s of %s on %s waits: maintenance window is in progress",
			   what, service_name(t->service), pl_node(c, pos));
	return true;
}

void pl_upgrade(struct ctx *c)
{
	size_t n_wanted = 0, n_at = 0, n_old = 0, n_not_ready = 0;
	size_t first_old = NONE, first_nr = NONE;
	bool nr_held = false;
	for (unsigned p = PLAN_PHASE_REGISTRY; p < PLAN_PHASE_COUNT; p++) {
		for (size_t pos = 0; pos < c->na; pos++) {
			for (unsigned si = 0; si < SERVICE_PROBER; si++) {
				if (plan_phase_of(si) != p)
					continue;
				size_t sl = pl_slot_of(pos, (enum service)si);
				if (!(c->sflag[sl] & SF_WANTED))
					continue;
				size_t k = c->keeper[sl];
				bool ready = c->sflag[sl] & SF_READY;
				bool old = k != NONE && stale(c, k);
				bool held = old && held_for_maintenance(c, sl);
				n_wanted++;
				if (ready && !old)
					n_at++;
				n_old += old;
				if (old && !held && first_old == NONE)
					first_old = sl;
				if (!ready && n_not_ready++ == 0) {
					first_nr = sl;
					nr_held = held;
				}
			}
		}
	}
	if (n_old == 0)
		return;
	if (c->cfg->rollout_paused) { /* rule 14 */
		pl_problem(c, SECT_UPGRADE, "rollout paused by the operator");
		return;
	}

	size_t cand = NONE;
	if (n_not_ready == 0) {
		cand = first_old;
		if (cand == NONE) /* every old task waits for its maintenance */
			return;
	} else if (n_not_ready == 1 && c->keeper[first_nr] != NONE && !nr_held) {
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
		if (pl_version_is_target(c, k)) {
			pl_kill_task(c, k, PLAN_KILL_REPLACE, "replace %s on %s: %s",
				     service_name(t->service), pl_task_node(c, k), t->replace_reason);
			pl_problem(c, SECT_UPGRADE, "replacing %s on %s: %s",
				   service_name(t->service), pl_task_node(c, k), t->replace_reason);
			return;
		}
		pl_kill_task(c, k, PLAN_KILL_UPGRADE, "upgrade %s on %s from %s to %s",
			     service_name(t->service), pl_task_node(c, k), from, c->target);
		pl_problem(c, SECT_UPGRADE,
			   "upgrade to %s: %zu of %zu task(s) at the target version; replacing %s on %s (%s)",
			   c->target, n_at, n_wanted, service_name(t->service),
			   pl_task_node(c, k), from);
		return;
	}
	size_t sl = first_nr;
	enum service s = (enum service)(sl % NSVC);
	size_t k = c->keeper[sl];
	if (k != NONE && c->in->tasks[k].kill_requested && stale(c, k))
		pl_problem(c, SECT_UPGRADE,
			   "upgrade to %s: %zu of %zu task(s) at the target version; replacing %s on %s",
			   c->target, n_at, n_wanted, service_name(s), pl_node(c, sl / NSVC));
	else
		pl_problem(c, SECT_UPGRADE,
			   "upgrade to %s: %zu of %zu task(s) at the target version; waits for %s on %s to be running and healthy",
			   c->target, n_at, n_wanted, service_name(s), pl_node(c, sl / NSVC));
}

