/* What comes in: Mesos events (a table by event type), calls the master did
 * not take, prober reports from the bus, and the periodic timers. Each
 * handler runs on the loop thread (coord_priv.h), takes the observation
 * into the state, saves what must survive a failover, and asks for a plan
 * (replan_soon); OFFERS are planned into at once, since offers are never
 * kept past their event. */
#include "shell/coord_priv.h"

#include "bus.h"
#include "bus_json.h"
#include "log.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void watch_unreachable(struct coord *c);
static void recon_retry_tick(struct ev_loop *loop, void *arg);

/* The {task_id, agent_id} of every task `want` picks (all with NULL), for
 * an explicit RECONCILE; NULL when it picks none. */
static cJSON *task_refs(struct coord *c, bool (*want)(struct coord *, const struct store_task *))
{
	cJSON *tasks = NULL;
	for (size_t i = 0; i < c->st.ntasks; i++) {
		const struct store_task *t = &c->st.tasks[i];
		if (want && !want(c, t))
			continue;
		if (c->unsent.n && strmap_get(&c->unsent, t->task_id, NULL))
			continue; /* its LAUNCH is not sent yet */
		if (!tasks)
			tasks = cJSON_CreateArray();
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "task_id", mesos_id(t->task_id));
		cJSON_AddItemToObject(o, "agent_id", mesos_id(t->agent_id));
		cJSON_AddItemToArray(tasks, o);
	}
	return tasks;
}

static bool is_unreachable(struct coord *c, const struct store_task *t)
{
	(void)c;
	return task_state(t) == PLAN_TASK_UNREACHABLE;
}

/* A task of an earlier subscription not heard of in this one. One
 * launched in this one reports by itself; asked about while its ACCEPT
 * still waited in the client's queue, it was unknown to the master
 * (TASK_GONE), launched again, and the first one, once started, killed
 * as an orphan: 24-134 probers per run of offer_cycle.py --agents 2000
 * --store zk --master emulator, and an agent with two at once in CI. */
static bool not_heard(struct coord *c, const struct store_task *t)
{
	return t->launched_ms < c->subscribed_wall_ms && !health_was_heard(c, t->task_id);
}

static void reconcile(struct coord *c, bool explicit_too)
{
	if (!mesos_subscribed(c->mc))
		return;
	cJSON *tasks = explicit_too ? task_refs(c, NULL) : NULL;
	if (tasks)
		(void)mesos_send(c->mc, mesos_call_reconcile(tasks));
	(void)mesos_send(c->mc, mesos_call_reconcile(cJSON_CreateArray()));
	log_info("reconcile", "explicit_tasks=%zu implicit=true",
		 explicit_too ? c->st.ntasks : (size_t)0);
}

static void on_subscribed(void *arg, const char *framework_id, double hb, const cJSON *ev)
{
	(void)ev;
	struct coord *c = arg;
	c->n.subscriptions++;
	/* offers of an earlier subscription are gone; reconciliation answers
	 * for its kills and updates */
	cJSON_Delete(c->retry_calls);
	c->retry_calls = NULL;
	c->suppressed = false;
	c->discovering = true;
	c->revived_sig = 0;
	inverse_clear(c); /* voided with the old subscription's offers */
	if (strcmp(c->st.framework_id, framework_id) != 0) {
		if (c->st.framework_id[0])
			log_warn("framework_id_changed", "old=%s new=%s",
				 log_qs(c->st.framework_id), log_qs(framework_id));
		snprintf(c->st.framework_id, sizeof c->st.framework_id, "%s", framework_id);
		if (coord_save(c) != 0) {
			coord_fatal(c, "cannot persist the framework id");
			return;
		}
	}
	log_info("subscribed", "framework_id=%s heartbeat_s=%.1f master=%s tasks=%zu",
		 log_qs(framework_id), hb, log_qs(mesos_endpoint(c->mc)), c->st.ntasks);
	{
		struct mesos_status ms;
		mesos_status(c->mc, &ms);
		const char *at = ms.leader[0] ? ms.leader : mesos_endpoint(c->mc);
		evlog_add(c->evlog, wall_ms(), EVLOG_MASTER,
			  "subscribed to the master %s%s%s (leader changes seen: %llu)",
			  at ? at : "?", ms.master_version[0] ? ", Mesos " : "",
			  ms.master_version, (unsigned long long)ms.leader_changes);
	}
	/* KILLs sent before a failover may have been lost */
	for (size_t i = 0; i < c->st.ntasks; i++)
		if (c->st.tasks[i].kill_requested)
			send_kill(c, &c->st.tasks[i]);
	c->subscribed_wall_ms = wall_ms();
	reconcile(c, true);
	if (c->recon_retry_timer)
		ev_timer_cancel(c->loop, c->recon_retry_timer);
	c->recon_retry_ms = RECONCILE_RETRY_MIN_MS;
	c->recon_retry_timer = ev_timer_add(c->loop, c->recon_retry_ms, recon_retry_tick, c);
	/* A re-SUBSCRIBE over a connection the master still thought alive
	 * keeps our DECLINE filters (src/master/master.cpp: filters are only
	 * cleared when a framework is disconnected or fails over), so without
	 * a REVIVE nothing may be offered for up to an hour. One REVIVE per
	 * subscription clears them; the planner suppresses again once nothing
	 * is wanted. */
	if (mesos_send(c->mc, mesos_call_revive(c->cfg->role)) == 0) {
		c->n.revives++;
		c->last_revive_ms = (int64_t)ev_now_ms();
		log_info("offers_revive", "reason=%s", log_qs("subscribed"));
	}
	replan_soon(c);
}

/* Malformed offers of one OFFERS event logged one by one; the rest are
 * counted in one line (and in /metrics). */
#define OFFER_WARN_MAX 3

/* An OFFERS event of this many offers is planned in a loop turn after
 * the one that booked its agents (plan_later): one turn more for its
 * ACCEPTs, against a turn twice as long for everything else. */
#define PLAN_LATER_OFFERS_MIN 1000

/* The pure part of an OFFERS event's handling (mesos_handlers.prepare):
 * run on the Mesos client's parser thread for a big event, on the loop by
 * handle_offers for the others. */
static void *prepare_event(const cJSON *ev)
{
	const char *type = json_str(ev, "type");
	if (!type || strcmp(type, "OFFERS") != 0)
		return NULL;
	/* One parsed offer is ~1.2 KB: a hostile master's 16 MiB record of
	 * empty offers must not make that gigabytes. Past the cap, offers are
	 * declined unparsed. */
	return taskspec_offers_parse(ev, OFFERS_PER_EVENT_MAX);
}

static void prepared_free(void *prepared)
{
	taskspec_offers_free(prepared);
}

static void handle_offers(struct coord *c, const cJSON *ev, void *prepared)
{
	struct taskspec_offers *mine = NULL, *b = prepared;
	if (!b)
		b = mine = prepare_event(ev);
	if (!b || b->n == 0) {
		taskspec_offers_free(mine);
		return;
	}
	c->discovering = false;
	ev_mark(c->loop, COORD_MARK_OFFERS);
	c->metrics.offers_at_us = clock_mono_us();
	c->metrics.offers_sync_us = 0;
	c->n.offers += b->n;
	/* what is not planned is declined in one call per filter, as the
	 * planner's own declines: 10,000 bad offers are 3 calls, not 10,000 */
	struct declines d = {.n = 0};
	size_t over = 0;
	if (b->over) {
		log_warn("offers_over_cap", "offers=%zu cap=%d action=%s", b->n,
			 OFFERS_PER_EVENT_MAX, log_qs("the rest are declined unread"));
		for (const cJSON *o = b->over; o; o = o->next) {
			const char *id = json_id(o, "id");
			over++;
			if (id && taskspec_id_valid(id))
				decline_add(c, &d, id, SHORT_REFUSE_S);
		}
	}
	/* a line for each of the first few malformed ones, then one for the rest */
	for (size_t i = 0; i < b->nbad; i++) {
		const char *id = json_id(b->bad[i].json, "id");
		if (i < OFFER_WARN_MAX)
			log_warn("offer_malformed", "offer_id=%s error=%s", log_qs(id ? id : ""),
				 log_qs(b->bad[i].err));
		if (id && taskspec_id_valid(id))
			decline_add(c, &d, id, SHORT_REFUSE_S);
	}
	c->seen_capped = true;
	c->seen_logged = c->seen_unlogged = 0;
	for (size_t k = 0; k < b->nok; k++) {
		struct taskspec_offer *o = &b->ok[k];
		if (o->skipped)
			log_warn("offer_resources_skipped", "offer_id=%s count=%u first=%s",
				 log_qs(o->id), o->skipped, log_qs(o->skip_reason));
		struct agent *a = agent_get(c, o->agent_id, o->hostname);
		if (!a->active)
			log_info("agent_active", "agent_id=%s", log_qs(a->id));
		agent_set_active(c, a, true);
		if (!a->offered)
			c->new_agent_ms = (int64_t)ev_now_ms();
		a->offered = true;
		a->last_offer_ms = wall_ms();
		agent_clear_attrs(a);
		if (o->nattrs) {
			a->attrs = qm_calloc(o->nattrs, sizeof *a->attrs);
			for (size_t j = 0; j < o->nattrs; j++) {
				a->attrs[j].name = qm_strdup(o->attrs[j].name);
				a->attrs[j].value = qm_strdup(o->attrs[j].value);
			}
			a->nattrs = o->nattrs;
		}
		rsv_note_offer(c, o);
	}
	c->seen_capped = false;
	if (c->seen_unlogged)
		log_info("agents_seen", "count=%zu logged=%d not_logged=%zu where=%s",
			 c->seen_logged, AGENTS_SEEN_LOG_MAX, c->seen_unlogged,
			 log_qs("GET /v1/state lists every agent under nodes"));
	c->n.offers_malformed += b->nbad;
	c->n.offers_over_cap += over;
	if (b->nbad > OFFER_WARN_MAX)
		log_warn("offers_malformed", "count=%zu logged=%d first_unlogged_error=%s action=%s",
			 b->nbad, OFFER_WARN_MAX, log_qs(b->bad[OFFER_WARN_MAX].err),
			 log_qs("declined"));
	declines_send(c, &d);
	/* the plan may move offers out of b->ok (launch slices, a plan in
	 * the next turn): an emptied entry is nothing to free. A big event
	 * is planned in turns of its own (its plan computed in one, carried
	 * out in the next): at 10,000 new agents booking (~30 ms), planning
	 * and carrying out held one turn 70-160 ms (offer_cycle.py --agents
	 * 10000 --store zk). */
	if (b->nok >= PLAN_LATER_OFFERS_MIN && plan_later(c, b->ok, b->nok))
		c->n.plans_later++;
	else
		coord_plan(c, b->ok, b->nok);
	if (b->n >= TRIM_OFFERS_MIN)
		trim_soon(c);
	taskspec_offers_free(mine);
}

/* INVERSE_OFFERS (scheduler.proto at 1.4.0 .. 1.11.0: {"inverse_offers":
 * {"inverse_offers":[InverseOffer]}}; InverseOffer {id, url, framework_id,
 * agent_id, unavailability, resources}, mesos.proto): the master asks
 * whether the agent may go down for maintenance. Held until the next plan
 * answers by the registry quorum rule; one we cannot judge (no agent id) or
 * cannot hold is declined at once: a decline only says "not now", the
 * master asks again after the filter. */
static void handle_inverse_offers(struct coord *c, const cJSON *ev, void *prepared)
{
	(void)prepared; /* only OFFERS are prepared */
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(ev, "inverse_offers"), "inverse_offers");
	const cJSON *io;
	bool added = false;
	cJSON_ArrayForEach(io, list)
	{
		const char *id = json_id(io, "id");
		const char *agent_id = json_id(io, "agent_id");
		if (!id || !taskspec_id_valid(id)) {
			log_warn("inverse_offer_malformed", "reason=%s", log_qs("no valid id"));
			continue;
		}
		if (!agent_id || !taskspec_id_valid(agent_id) || !inverse_add(c, id, agent_id)) {
			log_warn("inverse_offer_declined", "inverse_offer_id=%s reason=%s", log_qs(id),
				 log_qs(agent_id ? "too many held or a duplicate" : "no agent id"));
			(void)mesos_send(c->mc, mesos_call_decline_inverse(id, INVERSE_REFUSE_S));
			c->n.inverse_declined++;
			continue;
		}
		struct agent *a = agent_get(c, agent_id, NULL);
		int64_t start, dur;
		if (maint_window(cJSON_GetObjectItemCaseSensitive(io, "unavailability"), &start,
				 &dur)) {
			a->maint_start_ms = start;
			a->maint_duration_ms = dur;
		}
		log_info("inverse_offer", "inverse_offer_id=%s agent_id=%s hostname=%s start_ms=%lld "
			 "duration_ms=%lld", log_qs(id), log_qs(agent_id),
			 log_qs(a->hostname ? a->hostname : ""), (long long)a->maint_start_ms,
			 (long long)a->maint_duration_ms);
		added = true;
	}
	if (added)
		replan_soon(c);
}

/* RESCIND_INVERSE_OFFER {"rescind_inverse_offer":{"inverse_offer_id"}}. */
static void handle_rescind_inverse(struct coord *c, const cJSON *ev, void *prepared)
{
	(void)prepared; /* only OFFERS are prepared */
	const char *id = json_id(cJSON_GetObjectItemCaseSensitive(ev, "rescind_inverse_offer"),
				 "inverse_offer_id");
	if (id) {
		inverse_remove(c, id);
		log_info("inverse_offer_rescinded", "inverse_offer_id=%s", log_qs(id));
	}
}

/* The master says agent_id is gone (a FAILURE event, or a task update that
 * says its agent was removed): not offered again, so its node must not
 * wait for services, and a new agent id on its host replaces it
 * (agent_replace_old). A live task from it later reactivates it. */
static void agent_gone(struct coord *c, const char *agent_id, const char *why)
{
	struct agent *a = agent_find(c, agent_id);
	if (!a || !a->active)
		return;
	agent_set_active(c, a, false);
	log_warn("agent_lost", "agent_id=%s hostname=%s why=%s", log_qs(agent_id),
		 log_qs(a->hostname ? a->hostname : ""), log_qs(why));
	evlog_add(c->evlog, wall_ms(), EVLOG_FAILURE, "agent %s lost (%s): %s",
		  a->hostname ? a->hostname : agent_id, agent_id, why);
	agent_drop_if_replaced(c, agent_id); /* a is gone after this */
	replan_soon(c);
}

/* A task update that means its agent is gone for good: TASK_GONE_BY_OPERATOR
 * (the operator marked the agent gone) or a removal reason
 * (include/mesos/v1/mesos.proto, TaskStatus.Reason REASON_AGENT_REMOVED
 * since 1.0, REASON_AGENT_REMOVED_BY_OPERATOR since 1.5). The FAILURE event
 * that also says so reaches only the framework subscribed at the time: a
 * master failover in between leaves reconciliation's answer the only word. */
static bool says_agent_gone(const char *state, const char *reason)
{
	return strcmp(state, "TASK_GONE_BY_OPERATOR") == 0 ||
	       (reason && (strcmp(reason, "REASON_AGENT_REMOVED") == 0 ||
			   strcmp(reason, "REASON_AGENT_REMOVED_BY_OPERATOR") == 0));
}

static bool state_ready(struct coord *c, const struct store_task *t, enum plan_task_state s,
			enum plan_health h)
{
	if (s != PLAN_TASK_RUNNING || t->kill_requested)
		return false;
	unsigned bit = 1u << task_service(t);
	if (c->pc.health_checked & bit)
		return h == PLAN_HEALTH_OK;
	return h != PLAN_HEALTH_FAILING;
}

/* Loop time one turn spends sending ACKNOWLEDGEs; the rest wait for the
 * next turn. Each is a call of its own (a JSON text, a curl handle): the
 * ~200 a save made durable took 18-33 ms in one turn while 10,000 probers
 * started (offer_cycle.py --agents 10000 --store zk). */
#define ACKS_TURN_US 5000

static void acks_send_cb(struct ev_loop *loop, void *arg);

/* Send the ACKNOWLEDGEs waiting in c->acks_out for this turn's share. */
static void acks_send(struct coord *c)
{
	uint64_t t0 = clock_mono_us();
	size_t n = 0;
	cJSON *call;
	ev_mark(c->loop, COORD_MARK_ACKS);
	while (c->acks_out && (call = cJSON_DetachItemFromArray(c->acks_out, 0))) {
		if (!c->leading || c->stopping)
			cJSON_Delete(call);
		else if (mesos_send(c->mc, call) == 0)
			c->n.acks++;
		if (c->loop && ++n % 16 == 0 && clock_mono_us() - t0 >= ACKS_TURN_US)
			break;
	}
	if (c->acks_out && c->acks_out->child) {
		if (!c->acks_timer)
			c->acks_timer = ev_timer_add(c->loop, 0, acks_send_cb, c);
		return;
	}
	cJSON_Delete(c->acks_out);
	c->acks_out = NULL;
}

static void acks_send_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->acks_timer = 0;
	acks_send(c);
}

void acks_drop(struct coord *c)
{
	if (c->acks_timer && c->loop)
		ev_timer_cancel(c->loop, c->acks_timer);
	c->acks_timer = 0;
	cJSON_Delete(c->acks_out); /* durable; the master sends them again */
	c->acks_out = NULL;
}

/* Acknowledge updates whose changes are durable, in turns (acks_send),
 * or drop the acks: the master sends the updates again. */
static void acks_saved(struct coord *c, void *arg, bool saved)
{
	cJSON *acks = arg, *call;
	if (!acks)
		return;
	if (!saved || !c->leading || c->stopping) {
		cJSON_Delete(acks);
		return;
	}
	if (!c->acks_out) {
		c->acks_out = acks;
	} else {
		while ((call = cJSON_DetachItemFromArray(acks, 0)))
			cJSON_AddItemToArray(c->acks_out, call);
		cJSON_Delete(acks);
	}
	acks_send(c);
}

/* Group commit of status updates. An update is acknowledged only once
 * what it changed is durable; but a save per update is a whole save per
 * TASK_RUNNING, and the master delivers updates in bursts (10,000 probers
 * starting). So the updates of one loop turn -- every record of the chunks
 * read in it -- are saved once, after the turn's events, and their
 * ACKNOWLEDGEs sent then. A failed save sends none: the master sends the
 * updates again. A plan's save in between covers them as well. */
static void flush_timer_cb(struct ev_loop *loop, void *arg);

static void flush_updates(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	/* this iteration built launches or saved already (a slice; with the
	 * file store the save below is synchronous): once, the next turn */
	unsigned busy = (1u << COORD_MARK_SAVE) | (1u << COORD_MARK_LAUNCH);
	if (!c->stopping && !c->draining && coord_wait_a_turn(loop, busy, &c->flush_postponed)) {
		c->flush_timer = ev_timer_add(loop, 0, flush_timer_cb, c);
		return;
	}
	c->acks_flush_posted = false;
	cJSON *acks = c->held_acks;
	c->held_acks = NULL;
	if (c->stopping || !c->leading) {
		cJSON_Delete(acks);
		return;
	}
	if (c->updates_unsaved)
		coord_save_then(c, acks_saved, acks); /* durable with the next save */
	else
		/* in the state already: durable once the save in flight, which
		 * holds them, is (at once when none is) */
		coord_after_save(c, acks_saved, acks);
}

static void flush_timer_cb(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->flush_timer = 0;
	flush_updates(loop, c);
}

static void flush_soon(struct coord *c)
{
	if (!c->acks_flush_posted) {
		c->acks_flush_posted = true;
		ev_post(c->loop, flush_updates, c);
	}
}

static void hold_ack(struct coord *c, cJSON *call)
{
	if (!c->held_acks)
		c->held_acks = cJSON_CreateArray();
	cJSON_AddItemToArray(c->held_acks, call);
	flush_soon(c);
}

static void handle_update(struct coord *c, const cJSON *ev, void *prepared)
{
	(void)prepared; /* only OFFERS are prepared */
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(ev, "update"), "status");
	const char *task_id = json_id(st, "task_id");
	const char *state = json_str(st, "state");
	const char *agent_id = json_id(st, "agent_id");
	const char *uuid = json_str(st, "uuid");
	const char *reason = json_str(st, "reason");
	const char *message = json_str(st, "message");
	const cJSON *healthy = cJSON_GetObjectItemCaseSensitive(st, "healthy");
	c->n.updates++;
	enum plan_task_state s;
	if (!task_id || !state || plan_task_state_parse(state, &s) != 0) {
		log_warn("update_malformed", "task_id=%s state=%s", log_qs(task_id ? task_id : ""),
			 log_qs(state ? state : ""));
		return; /* no ack: we could not take it in */
	}
	if (agent_id && says_agent_gone(state, reason))
		agent_gone(c, agent_id, state);
	struct store_task *t = sti_find_task(&c->sti, &c->st, task_id);
	if (!t) {
		/* Not in our state. One of ours by its id (launched by an earlier
		 * life whose record was lost, or a task the master still runs after
		 * we forgot it): kill it, nobody will manage it. */
		char svc[32];
		if (!plan_task_state_terminal(s) && s != PLAN_TASK_UNREACHABLE &&
		    taskspec_task_id_parse(task_id, svc, sizeof svc, NULL, 0) == 0) {
			log_warn("task_orphan_kill", "task_id=%s state=%s agent_id=%s",
				 log_qs(task_id), state, log_qs(agent_id ? agent_id : ""));
			(void)mesos_send(c->mc, mesos_call_kill(task_id, agent_id));
			c->n.orphans_killed++;
		}
	} else {
		enum plan_task_state old = task_state(t);
		if (s == PLAN_TASK_UNREACHABLE)
			watch_unreachable(c);
		/* a live task reported from a lost agent: it is back (1.5.0+
		 * says so on reregistration, reconciliation on any release);
		 * offers may be suppressed, so no offer would tell us */
		struct agent *a = agent_find(c, t->agent_id);
		if (a && !a->active && !plan_task_state_terminal(s) &&
		    s != PLAN_TASK_UNREACHABLE && s != PLAN_TASK_UNKNOWN) {
			agent_set_active(c, a, true);
			log_info("agent_active", "agent_id=%s reason=%s", log_qs(a->id),
				 log_qs("a task on it is reported live"));
		}
		enum plan_health h = health_of(c, task_id);
		if (s != old)
			h = PLAN_HEALTH_UNKNOWN;
		if (cJSON_IsBool(healthy))
			h = cJSON_IsTrue(healthy) ? PLAN_HEALTH_OK : PLAN_HEALTH_FAILING;
		bool reconciled = reason && strcmp(reason, "REASON_RECONCILIATION") == 0;
		if (s != old || !reconciled)
			log_info("task_update",
				 "task_id=%s service=%s state=%s healthy=%s reason=%s message=%s",
				 log_qs(task_id), t->service, state,
				 h == PLAN_HEALTH_OK ? "true"
				 : h == PLAN_HEALTH_FAILING ? "false" : "unknown",
				 log_qs(reason ? reason : ""), log_qs(message ? message : ""));
		bool changed = s != old;
		if (s != old && !t->kill_requested &&
		    (plan_task_state_terminal(s) || s == PLAN_TASK_UNREACHABLE))
			evlog_add(c->evlog, wall_ms(), EVLOG_FAILURE, "%s on %s: %s%s%s",
				  t->service, t->hostname[0] ? t->hostname : t->agent_id, state,
				  message || reason ? ": " : "",
				  message ? message : reason ? reason : "");
		if (plan_task_state_terminal(s)) {
			if (!t->kill_requested && !reconciled) {
				struct store_failure *f =
					store_state_failure(&c->st, t->service, t->agent_id, true);
				if (f) {
					f->consecutive++;
					f->last_failure_ms = wall_ms();
				}
			}
			health_drop(c, task_id);
			sti_remove_task(&c->sti, &c->st, task_id);
			t = NULL;
			changed = true;
		} else {
			snprintf(t->state, sizeof t->state, "%s", state);
			health_set(c, task_id, h);
			health_heard(c, task_id);
			if (state_ready(c, t, s, h) &&
			    store_state_failure(&c->st, t->service, t->agent_id, false)) {
				store_state_clear_failure(&c->st, t->service, t->agent_id);
				changed = true;
			}
		}
		if (changed) {
			c->updates_unsaved = true;
			flush_soon(c);
		}
		replan_soon(c);
	}
	if (uuid && agent_id)
		hold_ack(c, mesos_call_acknowledge(agent_id, task_id, uuid));
}

static void handle_failure(struct coord *c, const cJSON *ev, void *prepared)
{
	(void)prepared; /* only OFFERS are prepared */
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(ev, "failure");
	const char *agent_id = json_id(f, "agent_id");
	if (!agent_id || cJSON_GetObjectItemCaseSensitive(f, "executor_id"))
		return;
	agent_gone(c, agent_id, "FAILURE event");
}

/* The events the Mesos client hands to on_event(), by type: every type of
 * scheduler.proto's Event (include/mesos/v1/scheduler/scheduler.proto,
 * 1.4.0 and 1.11.0; UPDATE_OPERATION_STATUS since 1.5.0) but SUBSCRIBED and
 * ERROR, which the client parses and hands to their own handlers
 * (on_subscribed, on_error: mesos.h). A NULL handler: nothing to do, since
 * offers are answered at once (inverse offers are held until the next plan,
 * which follows at once too). A type not
 * listed is logged. */
static const struct {
	const char *type;
	void (*handle)(struct coord *c, const cJSON *ev, void *prepared);
} event_handlers[] = {
	{ "OFFERS", handle_offers },
	{ "UPDATE", handle_update },
	{ "FAILURE", handle_failure },
	{ "RESCIND", NULL },
	{ "HEARTBEAT", NULL },
	{ "RESCIND_INVERSE_OFFER", handle_rescind_inverse },
	{ "INVERSE_OFFERS", handle_inverse_offers },
	{ "MESSAGE", NULL },
	{ "UPDATE_OPERATION_STATUS", NULL },
};

static void on_event(void *arg, const char *type, const cJSON *ev, void *prepared)
{
	struct coord *c = arg;
	if (c->stopping)
		return;
	ev_mark(c->loop, COORD_MARK_EVENTS);
	for (size_t i = 0; i < sizeof event_handlers / sizeof event_handlers[0]; i++) {
		if (strcmp(type, event_handlers[i].type) != 0)
			continue;
		if (event_handlers[i].handle)
			event_handlers[i].handle(c, ev, prepared);
		return;
	}
	log_warn("event_unknown", "type=%s", log_qs(type));
}

static void on_disconnected(void *arg, const char *why)
{
	struct coord *c = arg;
	/* logged by the Mesos client */
	c->suppressed = false;
	evlog_add(c->evlog, wall_ms(), EVLOG_MASTER, "disconnected from the master: %s",
		  why ? why : "no reason given");
}

static void on_error(void *arg, const char *message)
{
	(void)arg;
	log_error("mesos_error", "message=%s", log_qs(message));
}

static void retry_calls_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->retry_timer = 0;
	cJSON *v = c->retry_calls;
	c->retry_calls = NULL;
	if (!v)
		return;
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		const cJSON *call = e;
		const char *type = json_str(call, "type");
		if (type && strcmp(type, "KILL") == 0) {
			/* only while we still want that task dead */
			const char *id = json_id(cJSON_GetObjectItemCaseSensitive(call, "kill"),
						 "task_id");
			const struct store_task *t =
				id ? sti_find_task(&c->sti, &c->st, id) : NULL;
			if (!t || !t->kill_requested ||
			    plan_task_state_terminal(task_state(t)))
				continue;
		}
		log_info("mesos_call_retry", "call=%s delay_ms=%lld", log_qs(type ? type : ""),
			 (long long)c->retry_delay_ms);
		(void)mesos_send(c->mc, cJSON_Duplicate(call, true));
	}
	cJSON_Delete(v);
}

/* A DECLINE, KILL or ACKNOWLEDGE the master did not take for a passing
 * reason (no answer, 5xx) is sent again shortly (found by the fault
 * campaign):
 *  - a lost DECLINE leaves its offers held by this framework, and Mesos
 *    never rescinds them by default (src/master/flags.cpp, 1.4.0 and
 *    1.11.0: --offer_timeout "If not set, offers do not timeout"), so that
 *    agent was never offered again;
 *  - a lost KILL stalled a rolling upgrade until the 30 s kill retry;
 *  - a lost ACKNOWLEDGE holds the task's next updates until the agent's
 *    own retry (10 s and up).
 * A 4xx is not retried (the call itself is wrong), nor anything once the
 * subscription is gone (a new one reconciles). */
static void retry_call(struct coord *c, long status, const cJSON *call)
{
	if (!call || (status != 0 && status < 500))
		return;
	if (!c->retry_calls)
		c->retry_calls = cJSON_CreateArray();
	if (cJSON_GetArraySize(c->retry_calls) >= RETRY_CALLS_MAX)
		return;
	cJSON_AddItemToArray(c->retry_calls, cJSON_Duplicate(call, true));
	if (c->retry_timer)
		return;
	/* 1 s after a quiet minute, doubling while the master keeps failing */
	int64_t now = wall_ms();
	if (!c->retry_delay_ms || now - c->retry_last_ms > 60000)
		c->retry_delay_ms = CALL_RETRY_MS;
	else if (c->retry_delay_ms < RETRY_MAX_MS)
		c->retry_delay_ms = c->retry_delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
									  : c->retry_delay_ms * 2;
	c->retry_last_ms = now;
	c->retry_timer = ev_timer_add(c->loop, (uint64_t)c->retry_delay_ms, retry_calls_cb, c);
}

/* DECLINE, KILL, ACKNOWLEDGE: sent again shortly (retry_call). */
static void retry_failed(struct coord *c, long status, const char *reason, const cJSON *call)
{
	(void)reason;
	retry_call(c, status, call);
}

/* offers may still be suppressed: REVIVE again when needed */
static void revive_failed(struct coord *c, long status, const char *reason, const cJSON *call)
{
	(void)status, (void)reason, (void)call;
	c->suppressed = true;
	c->revived_sig = 0;
	wake_in(c, CALL_RETRY_MS);
}

static void suppress_failed(struct coord *c, long status, const char *reason, const cJSON *call)
{
	(void)status, (void)reason, (void)call;
	c->suppressed = false;
	wake_in(c, CALL_RETRY_MS);
}

/* For an ACCEPT that the master answered (4xx/5xx) the offers are still
 * held by us (src/master/http.cpp answers before the master looks at the
 * offers) and no task was launched: hand the offers back at once and forget
 * the tasks; a 4xx also counts a failure for each (service, agent) so the
 * planner retries with backoff. Without an answer (status 0) the master may
 * have launched them: reconciliation tells. */
static void accept_failed(struct coord *c, long status, const char *reason, const cJSON *call)
{
	if (status == 0) {
		reconcile(c, true);
		return;
	}
	const cJSON *acc = cJSON_GetObjectItemCaseSensitive(call, "accept");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(acc, "offer_ids");
	if (cJSON_GetArraySize(ids) > 0) {
		(void)mesos_send(c->mc, mesos_call_decline(cJSON_Duplicate(ids, true),
							   SHORT_REFUSE_S));
		c->n.declined += (uint64_t)cJSON_GetArraySize(ids);
	}
	size_t dropped = 0;
	const cJSON *op;
	cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(acc, "operations"))
	{
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(op, "launch");
		const cJSON *ti;
		cJSON_ArrayForEach(ti, cJSON_GetObjectItemCaseSensitive(l, "task_infos"))
		{
			const char *id = json_id(ti, "task_id");
			struct store_task *t = id ? sti_find_task(&c->sti, &c->st, id) : NULL;
			if (!t)
				continue;
			log_warn("task_not_launched", "task_id=%s service=%s agent_id=%s status=%ld "
				 "reason=%s", log_qs(id), t->service, log_qs(t->agent_id), status,
				 log_qs(reason));
			/* A 4xx refused this TaskInfo: launching it again as is
			 * fails again, so the service backs off. A 5xx (master
			 * recovering, failing over) says nothing about the task:
			 * counted as a failure, three 503s in a row held the
			 * service back by the backoff (~50 s in the fault
			 * campaign); it is simply launched on the next offer. */
			if (status >= 400 && status < 500) {
				struct store_failure *f = store_state_failure(
					&c->st, t->service, t->agent_id, true);
				if (f) {
					f->consecutive++;
					f->last_failure_ms = wall_ms();
				}
			}
			health_drop(c, id);
			sti_remove_task(&c->sti, &c->st, id);
			dropped++;
		}
	}
	if (dropped)
		(void)coord_save(c);
	replan_soon(c);
}

/* A call the master did not take, by the call's type; other types
 * (RECONCILE, TEARDOWN) need nothing. */
static const struct {
	const char *type;
	void (*handle)(struct coord *c, long status, const char *reason, const cJSON *call);
} call_failed_handlers[] = {
	{ "DECLINE", retry_failed },
	{ "KILL", retry_failed },
	{ "ACKNOWLEDGE", retry_failed },
	{ "REVIVE", revive_failed },
	{ "SUPPRESS", suppress_failed },
	{ "ACCEPT", accept_failed },
};

static void on_call_failed(void *arg, const char *type, long status, const char *reason,
			   const cJSON *call)
{
	struct coord *c = arg;
	for (size_t i = 0; i < sizeof call_failed_handlers / sizeof call_failed_handlers[0]; i++)
		if (strcmp(type, call_failed_handlers[i].type) == 0) {
			call_failed_handlers[i].handle(c, status, reason, call);
			return;
		}
}

/* Device events of one inventory change (shell/evlog.h): a device in n
 * whose key was not among old[] is hot-added, one whose types changed is
 * (un)marked, one no longer there went away. At most DEVICE_EVENTS_MAX per
 * message, so a node reporting a shelf of disks at once does not push
 * everything else out of the ring. */
#define DEVICE_EVENTS_MAX 8
struct old_device {
	char *key, *root;
	char types[64];
};

/* "registry,data", or "no type" */
static void types_text(const struct nodes_device *d, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t j = 0; j < d->n_types && k + 16 < cap; j++)
		k += (size_t)snprintf(out + k, cap - k, "%s%s", j ? "," : "",
				      busjson_type_name(d->types[j]));
	if (!out[0])
		snprintf(out, cap, "no type");
}

static const struct old_device *old_find(const struct old_device *old, size_t n,
					 const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(old[i].key, key) == 0)
			return &old[i];
	return NULL;
}

static void device_events(struct coord *c, const struct nodes_node *n,
			  const struct old_device *old, size_t nold)
{
	const char *host = n->hostname && n->hostname[0] ? n->hostname : n->agent_id;
	int64_t now = wall_ms();
	size_t told = 0, more = 0;
	for (size_t i = 0; i < n->ndevices; i++) {
		const struct nodes_device *d = &n->devices[i];
		const struct old_device *o = old_find(old, nold, d->key);
		char types[64];
		types_text(d, types, sizeof types);
		if (o && strcmp(o->types, types) == 0)
			continue;
		if (told++ >= DEVICE_EVENTS_MAX) {
			more++;
			continue;
		}
		const char *root = d->root ? d->root : d->key;
		if (o)
			evlog_add(c->evlog, now, EVLOG_DEVICE, "device %s on %s: %s (was %s)", root,
				  host, types, o->types);
		else
			evlog_add(c->evlog, now, EVLOG_HOTADD, "device %s on %s: %s%s%s", root, host,
				  types, d->error && d->error[0] ? ", " : "",
				  d->error ? d->error : "");
	}
	for (size_t i = 0; i < nold; i++) {
		bool still = false;
		for (size_t j = 0; j < n->ndevices && !still; j++)
			still = strcmp(n->devices[j].key, old[i].key) == 0;
		if (still)
			continue;
		if (told++ >= DEVICE_EVENTS_MAX) {
			more++;
			continue;
		}
		evlog_add(c->evlog, now, EVLOG_DEVICE, "device %s gone from %s", old[i].root, host);
	}
	if (more)
		evlog_add(c->evlog, now, EVLOG_DEVICE, "%zu more device changes on %s", more, host);
}

void events_on_bus(void *arg, const char *agent_id, const bus_envelope *env,
		   Quobyte__Bus__Ack *ack)
{
	struct coord *c = arg;
	ev_mark(c->loop, COORD_MARK_REPORTS);
	bool changed = false;
	bool was_known = false;
	const struct nodes_node *n = nodes_find(&c->nodes, agent_id);
	if (n && n->has_snapshot)
		was_known = true;
	/* the devices before, to tell what a snapshot or delta changes */
	struct old_device *old = NULL;
	size_t nold = 0;
	if (was_known && env->body_case != QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT &&
	    n->ndevices) {
		old = qm_malloc(n->ndevices * sizeof *old);
		for (size_t i = 0; i < n->ndevices; i++) {
			const struct nodes_device *d = &n->devices[i];
			old[nold].key = qm_strdup(d->key);
			old[nold].root = qm_strdup(d->root ? d->root : d->key);
			types_text(d, old[nold].types, sizeof old[nold].types);
			nold++;
		}
	}
	uint64_t now = (uint64_t)wall_ms();
	if (env->has_sent_unix_ms) /* skew: a message "from the future" is 0 old */
		metrics_hist_observe_ms(&c->metrics.bus_age,
					now > env->sent_unix_ms ? now - env->sent_unix_ms : 0);
	if (!n && !agent_admit_node(c, agent_id)) {
		c->n.bus_unexpected_refused++;
		ack->error = (char *)"no node is kept for this agent: it was never offered to this "
				     "framework and runs none of its tasks (retry once it is)";
		/* one line per 10 s however many are refused */
		int64_t mono = (int64_t)clock_mono_ms();
		if (!c->unexpected_logged_ms || mono - c->unexpected_logged_ms >= 10000) {
			c->unexpected_logged_ms = mono;
			log_warn("bus_unexpected_agent_refused",
				 "agent_id=%s refused_total=%llu held=%zu cap=%d", log_qs(agent_id),
				 (unsigned long long)c->n.bus_unexpected_refused, c->nunexpected,
				 UNEXPECTED_NODES_MAX);
		}
		goto out;
	}
	int rv = nodes_apply(&c->nodes, env, now, ack, &changed);
	if (rv != 0) {
		log_warn("bus_message_refused", "agent_id=%s kind=%s error=%s", log_qs(agent_id),
			 bus_body_name(env), log_qs(ack->error ? ack->error : ""));
		goto out;
	}
	if (changed) {
		c->n.bus_changes++;
		n = nodes_find(&c->nodes, agent_id);
		log_info("inventory", "agent_id=%s hostname=%s kind=%s generation=%llu devices=%zu%s",
			 log_qs(agent_id), log_qs(n && n->hostname ? n->hostname : ""),
			 bus_body_name(env), (unsigned long long)(n ? n->generation : 0),
			 n ? n->ndevices : 0, was_known ? "" : " first=true");
		if (n && was_known)
			device_events(c, n, old, nold);
		else if (n && n->has_snapshot)
			evlog_add(c->evlog, (int64_t)now, EVLOG_DEVICE,
				  "first inventory from %s: %zu device%s",
				  n->hostname && n->hostname[0] ? n->hostname : agent_id,
				  n->ndevices, n->ndevices == 1 ? "" : "s");
		replan_soon(c);
	}
out:
	for (size_t i = 0; i < nold; i++) {
		free(old[i].key);
		free(old[i].root);
	}
	free(old);
}

static void revive_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	/* Agent discovery: a new agent is only seen in an offer; a suppressed
	 * framework gets none, so ask again now and then. */
	if (mesos_subscribed(c->mc) && c->suppressed) {
		if (mesos_send(c->mc, mesos_call_revive(c->cfg->role)) == 0) {
			c->n.revives++;
			c->suppressed = false;
			log_debug("offers_revive", "reason=%s", log_qs("periodic agent discovery"));
		}
	}
	c->revive_timer = ev_timer_add(loop, (uint64_t)c->cfg->revive_interval, revive_tick, c);
}

/* While a task is unreachable, ask about it every UNREACHABLE_RECONCILE_MS.
 * Mesos 1.5.0+ sends an update when its agent reregisters
 * (src/master/master.cpp Master::__reregisterSlave,
 * REASON_SLAVE_REREGISTERED); 1.4.0 sends nothing, and the periodic full
 * reconciliation (--reconcile-interval, 15m) would leave the node's
 * services in limbo that long (found by the fault campaign). */
static void unreach_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->unreach_timer = 0;
	if (!c->leading || !mesos_subscribed(c->mc))
		return;
	cJSON *tasks = task_refs(c, is_unreachable);
	if (!tasks)
		return;
	int n = cJSON_GetArraySize(tasks);
	log_info("reconcile_unreachable", "tasks=%d", n);
	(void)mesos_send(c->mc, mesos_call_reconcile(tasks));
	c->unreach_timer = ev_timer_add(loop, UNREACHABLE_RECONCILE_MS, unreach_tick, c);
}

static void watch_unreachable(struct coord *c)
{
	if (!c->unreach_timer)
		c->unreach_timer =
			ev_timer_add(c->loop, UNREACHABLE_RECONCILE_MS, unreach_tick, c);
}

/* Ask again about the tasks no update has come for since the SUBSCRIBE
 * (RECONCILE_RETRY_MIN_MS), until every one is heard of. */
static void recon_retry_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->recon_retry_timer = 0;
	if (!c->leading || !mesos_subscribed(c->mc))
		return; /* the next SUBSCRIBE starts over */
	cJSON *tasks = task_refs(c, not_heard);
	if (!tasks)
		return;
	int n = cJSON_GetArraySize(tasks);
	log_info("reconcile_retry", "tasks=%d next_in_ms=%llu", n,
		 (unsigned long long)(c->recon_retry_ms * 2 > RECONCILE_RETRY_MAX_MS
					      ? RECONCILE_RETRY_MAX_MS : c->recon_retry_ms * 2));
	(void)mesos_send(c->mc, mesos_call_reconcile(tasks));
	c->recon_retry_ms = c->recon_retry_ms * 2 > RECONCILE_RETRY_MAX_MS
				    ? RECONCILE_RETRY_MAX_MS : c->recon_retry_ms * 2;
	c->recon_retry_timer = ev_timer_add(loop, c->recon_retry_ms, recon_retry_tick, c);
}

static void reconcile_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	reconcile(c, true);
	c->reconcile_timer =
		ev_timer_add(loop, (uint64_t)c->cfg->reconcile_interval, reconcile_tick, c);
}

static void kill_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	int64_t now = wall_ms();
	for (size_t i = 0; i < c->st.ntasks; i++) {
		struct store_task *t = &c->st.tasks[i];
		if (t->kill_requested && now - t->launched_ms > KILL_RETRY_MS)
			send_kill(c, t);
	}
	/* also: a plan now and then, so staleness and time-based rules apply
	 * even when nothing else happens */
	replan_soon(c);
	c->kill_timer = ev_timer_add(loop, KILL_RETRY_MS, kill_tick, c);
}

/* Only a coordinator that leads -- and, with ZooKeeper, still holds its
 * lease (leader.h) -- sends calls: one woken from a pause past its session
 * has a stream id the master gave to the next leader already. */
static bool may_send(void *arg)
{
	const struct coord *c = arg;
	return !c->stopping && c->leading && (!c->leader || leader_is_leader(c->leader));
}

const struct mesos_handlers events_mesos_handlers = {
	.subscribed = on_subscribed,
	.event = on_event,
	.prepare = prepare_event,
	.prepared_free = prepared_free,
	.disconnected = on_disconnected,
	.error = on_error,
	.call_failed = on_call_failed,
	.may_send = may_send,
};

void events_start_timers(struct coord *c)
{
	c->revive_timer = ev_timer_add(c->loop, (uint64_t)c->cfg->revive_interval, revive_tick, c);
	c->reconcile_timer =
		ev_timer_add(c->loop, (uint64_t)c->cfg->reconcile_interval, reconcile_tick, c);
	c->kill_timer = ev_timer_add(c->loop, KILL_RETRY_MS, kill_tick, c);
}
