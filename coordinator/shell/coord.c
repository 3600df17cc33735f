/* The coordinator's imperative shell: its lifecycle. One loop thread owns
 * everything (struct coord, coord_priv.h): Mesos events, prober messages
 * (busd posts them to the loop), REST requests and timers all run as
 * callbacks on it, so nothing needs a lock.
 *
 * Here: start-up as a list of steps (coord_run), leadership (start and stop
 * acting, the election's callbacks), saving the state, signals, shutdown.
 * What comes in is handled in events.c, the planning cycle is in
 * planning.c, the tables of agents in agents.c, the REST API in api/rest.c
 * and the configuration turned into parts in setup.c. */
#include "shell/coord.h"
#include "shell/coord_priv.h"

#include "shell/busd.h"
#include "evloop.h"
#include "api/http.h"
#include "api/rest.h"
#include "log.h"
#include "mesos/mesos.h"
#include "core/nodes.h"
#include "core/plan.h"
#include "qm_error.h"
#include "state/leader.h"
#include "state/state.h"
#include "state/store.h"
#include "state/store_file.h"
#include "state/store_zk.h"
#include "core/taskspec.h"

#include "clock.h"
#include "jarena.h"
#include "pool.h"
#include "mesos/recordio.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

void coord_fatal(struct coord *c, const char *why)
{
	log_error("coordinator_stop", "reason=%s", log_qs(why));
	c->exit_code = 1;
	c->stopping = true;
	ev_stop(c->loop);
}

/* ------------------------------------------------------------------ */
/* store                                                               */

static void stop_acting(struct coord *c, const char *why);
static void cancel_timer(struct coord *c, uint64_t *id);

static void step_down_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->step_down_posted = false;
	if (c->stopping)
		return; /* the process ends; the Mesos client may be gone */
	stop_acting(c, "the store or the election says another coordinator leads");
	if (c->leader && leader_is_leader(c->leader))
		/* the election still names us, the store does not: nothing safe
		 * is left to do but leave, so that a fresh process stands again */
		coord_fatal(c, "the election names this coordinator but its state is fenced off");
}

/* Stop acting as soon as the current callback is over: the state in hand
 * may still be in use by the caller, so it is dropped from the loop. Until
 * then coord_plan() does nothing, and no update is acknowledged (saves
 * fail). */
void step_down_soon(struct coord *c)
{
	if (c->step_down_posted || !c->leading)
		return;
	c->step_down_posted = true;
	ev_post(c->loop, step_down_cb, c);
}

static bool may_save(struct coord *c)
{
	if (c->leader && !leader_is_leader(c->leader)) {
		/* ZooKeeper is out of reach or the lease ran out: not a write to
		 * try (it would wait on the loop for the connection, up to the
		 * operation timeout, while the session event that ends this
		 * term waits behind it); step down now */
		log_warn("store_save_skipped", "backend=%s reason=%s", store_backend(c->store),
			 log_qs("this coordinator is no longer sure it leads"));
		step_down_soon(c);
		return false;
	}
	return true;
}

/* Account for a save's outcome (both kinds). */
static int save_result(struct coord *c, int rv, uint64_t nv, const char *err, uint64_t t0_us)
{
	metrics_hist_since(&c->metrics.store_save, t0_us);
	if (rv != 0) {
		c->n.store_errors++;
		if (!c->store_error[0])
			c->store_error_since_ms = wall_ms();
		snprintf(c->store_error, sizeof c->store_error, "%s",
			 err && err[0] ? err : qm_strerror(rv));
		log_error("store_save_failed", "backend=%s location=%s error=%s detail=%s",
			  store_backend(c->store), log_qs(store_location(c->store)),
			  qm_strerror(rv), log_qs(err ? err : ""));
		if (rv == QM_ECONFLICT && c->leader)
			step_down_soon(c); /* fenced: someone else leads now */
		else if (rv == QM_ECONFLICT)
			coord_fatal(c, "the stored state was changed by someone else; "
				       "another coordinator may be running");
		return rv;
	}
	c->st_version = nv;
	c->n.store_saves++;
	if (c->store_error[0]) {
		log_info("store_save_recovered", "backend=%s location=%s failing_for_ms=%lld",
			 store_backend(c->store), log_qs(store_location(c->store)),
			 (long long)(wall_ms() - c->store_error_since_ms));
		c->store_error[0] = '\0';
		c->store_error_since_ms = 0;
	}
	return 0;
}

int coord_save(struct coord *c)
{
	coord_settle(c);
	if (c->reload_pending)
		return QM_EIO; /* an earlier save failed: its state is read again first */
	if (!may_save(c))
		return QM_ECONFLICT;
	char err[256] = "";
	uint64_t nv = 0;
	uint64_t t0 = clock_mono_us();
	ev_mark(c->loop, COORD_MARK_SAVE);
	int rv = store_save(c->store, &c->st, c->st_version, &nv, err, sizeof err);
	if (save_result(c, rv, nv, err, t0) != 0)
		return rv;
	c->updates_unsaved = false;
	return 0;
}

struct save_cont {
	save_cont_fn fn;
	void *arg;
	bool saved; /* conts_saved only: the outcome it is told */
	struct save_cont *next;
};

static struct save_cont *conts_append(struct save_cont **list, save_cont_fn fn, void *arg)
{
	struct save_cont *k = qm_calloc(1, sizeof *k);
	k->fn = fn;
	k->arg = arg;
	while (*list)
		list = &(*list)->next;
	*list = k;
	return k;
}

static void conts_run(struct coord *c, struct save_cont *k, bool saved)
{
	while (k) {
		struct save_cont *next = k->next;
		k->fn(c, k->arg, saved);
		free(k);
		k = next;
	}
}

/* Those of a synchronous save, each with its own outcome (or false: no
 * longer acting). */
static void conts_saved_run(struct coord *c, bool acting)
{
	struct save_cont *k = c->conts_saved;
	c->conts_saved = NULL;
	while (k) {
		struct save_cont *next = k->next;
		k->fn(c, k->arg, acting && k->saved);
		free(k);
		k = next;
	}
}

static void saved_timer_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->saved_timer = 0;
	conts_saved_run(c, true);
}

void coord_saved_next_turn(struct coord *c, save_cont_fn fn, void *arg, bool saved)
{
	if (!c->loop) {
		fn(c, arg, saved);
		return;
	}
	conts_append(&c->conts_saved, fn, arg)->saved = saved;
	if (!c->saved_timer)
		c->saved_timer = ev_timer_add(c->loop, 0, saved_timer_cb, c);
}

static void reload_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	if (c->reload_pending && c->leading && !c->stopping) {
		coord_settle(c);
		forget_unsaved(c);
		replan_soon(c);
	}
}

static void save_start_queued(struct coord *c);
static void save_start_soon(struct coord *c);

/* The answer to the save in flight (on the loop: posted, or inside a
 * settle). */
static void save_done(void *arg, int rv, uint64_t nv, const char *err)
{
	struct coord *c = arg;
	struct save_cont *k = c->conts_inflight;
	c->conts_inflight = NULL;
	c->save_inflight = false;
	ev_mark(c->loop, COORD_MARK_SAVE);
	bool mine = c->save_term == c->term && c->leading && !c->stopping;
	if (!mine) {
		/* an earlier term's: its state is gone, and so is its work */
		conts_run(c, k, false);
		return;
	}
	bool ok = save_result(c, rv, nv, err, c->save_t0) == 0;
	if (!ok) {
		/* what it held is not durable, and nor is anything after it:
		 * the state is read again at the top of the loop */
		c->updates_unsaved = true;
		if (!c->reload_pending) {
			c->reload_pending = true;
			ev_post(c->loop, reload_cb, c);
		}
		struct save_cont *q = c->conts_queued;
		c->conts_queued = NULL;
		conts_run(c, k, false);
		conts_run(c, q, false);
		return;
	}
	conts_run(c, k, true);
	if (c->conts_queued && !c->save_inflight)
		save_start_soon(c);
}

static void save_timer_cb(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->save_timer = 0;
	if (c->save_inflight)
		return;
	/* a timer before this one in the same iteration did work (a slice's
	 * build, ACKNOWLEDGEs) */
	if (coord_wait_a_turn(loop, ~(1u << COORD_MARK_SAVE), &c->save_postponed)) {
		c->save_timer = ev_timer_add(loop, 0, save_timer_cb, c);
		return;
	}
	save_start_queued(c);
}

bool coord_wait_a_turn(struct ev_loop *loop, unsigned busy, bool *postponed)
{
	if ((ev_marks(loop) & busy) && !*postponed) {
		*postponed = true;
		return true;
	}
	*postponed = false;
	return false;
}

/* Start the queued save in a loop turn of its own. Its start encodes the
 * whole state (at 10,000 agents 5-19 ms), which had come on top of the
 * turn that asked for it: a launch slice's 20 ms build, or the answers of
 * the last slice (offer_cycle.py --agents 10000 --store zk). What a turn
 * in between asks for joins the same save. */
static void save_start_soon(struct coord *c)
{
	if (!c->loop) {
		save_start_queued(c);
		return;
	}
	if (!c->save_timer)
		c->save_timer = ev_timer_add(c->loop, 0, save_timer_cb, c);
}

static void save_start_queued(struct coord *c)
{
	struct save_cont *k = c->conts_queued;
	c->conts_queued = NULL;
	if (!k)
		return;
	if (c->reload_pending || !c->leading || c->stopping || !may_save(c)) {
		conts_run(c, k, false);
		return;
	}
	char err[256] = "";
	uint64_t t0 = clock_mono_us();
	/* updates taken in after this point are the next save's */
	bool unsaved = c->updates_unsaved;
	c->updates_unsaved = false;
	ev_mark(c->loop, COORD_MARK_SAVE);
	int rv = store_save_start(c->store, &c->st, c->st_version, save_done, c, err,
				  sizeof err);
	if (rv == QM_EAGAIN) {
		/* not connected: a synchronous save waits for the session */
		c->updates_unsaved = unsaved;
		conts_run(c, k, coord_save(c) == 0);
		return;
	}
	if (rv != 0) {
		c->updates_unsaved = true;
		(void)save_result(c, rv, 0, err, t0);
		conts_run(c, k, false);
		return;
	}
	c->save_inflight = true;
	c->save_t0 = t0;
	c->save_term = c->term;
	c->conts_inflight = k;
}

void coord_save_then(struct coord *c, save_cont_fn fn, void *arg)
{
	if (!store_saves_async(c->store)) {
		fn(c, arg, coord_save(c) == 0);
		return;
	}
	conts_append(&c->conts_queued, fn, arg);
	if (!c->save_inflight)
		save_start_soon(c);
}

void coord_after_save(struct coord *c, save_cont_fn fn, void *arg)
{
	if (!c->save_inflight) {
		fn(c, arg, true);
		return;
	}
	conts_append(&c->conts_inflight, fn, arg);
}

void coord_settle(struct coord *c)
{
	/* what a synchronous save left for the next turn, then the save in
	 * flight, then the one queued behind it (started now) */
	if (c->conts_saved)
		conts_saved_run(c, true);
	while (c->store && (c->save_inflight || c->conts_queued)) {
		if (c->save_inflight)
			store_settle(c->store);
		else
			save_start_queued(c);
	}
}

/* ------------------------------------------------------------------ */
/* leadership                                                          */

static void zk_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	if (!c->leading && !leader_current(c->leader)) {
		log_warn("zookeeper_waiting", "zk=%s action=%s", log_qs(store_location(c->store)),
			 log_qs("not acting until ZooKeeper answers and this coordinator is elected"));
	}
	c->zk_timer = ev_timer_add(loop, 10000, zk_tick, c);
}

#define PROGRESS_BUS_URL "bus_url="

/* Probers were launched with the bus URL of the coordinator that launched
 * them. If that is not ours (a new leader on another host, or a changed
 * --bus-advertise), they would dial a coordinator that is gone: replace
 * them. Services are not touched; the planner keeps them while their node's
 * inventory is unknown. */
static bool check_prober_url(struct coord *c)
{
	char want[STORE_PROGRESS_MAX + 1];
	snprintf(want, sizeof want, "%s%s", PROGRESS_BUS_URL, c->bus_url);
	if (strcmp(c->st.progress, want) == 0)
		return false;
	size_t n = 0;
	if (c->st.progress[0]) {
		for (size_t i = 0; i < c->st.ntasks; i++) {
			struct store_task *t = &c->st.tasks[i];
			if (strcmp(t->service, "prober") == 0 && !t->kill_requested) {
				t->kill_requested = true;
				n++;
			}
		}
	}
	if (n)
		log_warn("probers_replaced", "count=%zu old=%s new=%s", n,
			 log_qs(c->st.progress), log_qs(c->bus_url));
	snprintf(c->st.progress, sizeof c->st.progress, "%s", want);
	return true;
}

/* Load the state (and import a file state into an empty ZooKeeper one). */
static int load_state(struct coord *c)
{
	char err[512] = "";
	store_state_fini(&c->st);
	if (store_load(c->store, &c->st, &c->st_version, err, sizeof err) != 0) {
		log_error("store_load_failed", "backend=%s location=%s error=%s",
			  store_backend(c->store), log_qs(store_location(c->store)), log_qs(err));
		return QM_EIO;
	}
	const char *imp = c->cfg->import_state;
	if (c->st_version == 0 && imp && imp[0] && c->leader) {
		struct store *fs = NULL;
		struct store_state fst;
		uint64_t fv = 0;
		store_state_init(&fst);
		if (store_file_open(imp, &fs, err, sizeof err) != 0 ||
		    store_load(fs, &fst, &fv, err, sizeof err) != 0) {
			log_error("state_import_failed", "from=%s error=%s", log_qs(imp), log_qs(err));
			store_state_fini(&fst);
			store_close(fs);
			return QM_EIO;
		}
		store_close(fs);
		store_state_fini(&c->st);
		c->st = fst;
		log_info("state_imported", "from=%s version=%llu framework_id=%s tasks=%zu",
			 log_qs(imp), (unsigned long long)fv, log_qs(c->st.framework_id),
			 c->st.ntasks);
		if (coord_save(c) != 0)
			return QM_EIO;
	}
	log_info("state_loaded",
		 "backend=%s location=%s version=%llu framework_id=%s target_version=%s tasks=%zu",
		 store_backend(c->store), log_qs(store_location(c->store)),
		 (unsigned long long)c->st_version, log_qs(c->st.framework_id),
		 log_qs(c->st.target_version), c->st.ntasks);
	for (size_t i = 0; i < c->st.ntasks; i++)
		health_set(c, c->st.tasks[i].task_id, PLAN_HEALTH_UNKNOWN);
	return 0;
}

static int start_acting(struct coord *c)
{
	char err[512] = "";
	if (c->leader)
		(void)store_zk_set_fence(c->store, leader_znode(c->leader));
	/* ZooKeeper saves answer on the loop (coord_save_then); not the file
	 * store's, which returns QM_EINVAL here */
	(void)store_zk_set_loop(c->store, c->loop);
	if (load_state(c) != 0)
		return QM_EIO;
	if (check_prober_url(c) && coord_save(c) != 0)
		return QM_EIO;
	const struct bus_tls tls = {
		.cert = c->cfg->bus_tls_cert, .key = c->cfg->bus_tls_key, .ca = c->cfg->bus_tls_ca};
	c->busd = busd_new(c->loop, c->cfg->bus_listen, &tls, c->secret, c->secretlen,
			   events_on_bus, c, err, sizeof err);
	if (!c->busd) {
		log_error("bus_listen_failed", "url=%s error=%s", log_qs(c->cfg->bus_listen),
			  log_qs(err));
		return QM_EIO;
	}
	c->leading = true;
	c->term++;
	c->acting_since_ms = wall_ms();
	evlog_add(c->evlog, wall_ms(), EVLOG_LEADER, "leading: state version %llu, %zu tasks, "
		  "target version %s", (unsigned long long)c->st_version, c->st.ntasks,
		  c->st.target_version[0] ? c->st.target_version : "(none)");
	mesos_start(c->mc, c->st.framework_id);
	return 0;
}

/* Stop acting at once: no Mesos calls, no saves, no prober reports. */
static void stop_acting(struct coord *c, const char *why)
{
	if (!c->leading)
		return;
	c->leading = false;
	c->term++; /* a save still in flight answers for no one now */
	c->reload_pending = false;
	mesos_stop(c->mc);
	if (c->busd) {
		busd_free(c->busd);
		c->busd = NULL;
	}
	if (c->leader)
		(void)store_zk_set_fence(c->store, NULL);
	if (c->wake_timer) {
		ev_timer_cancel(c->loop, c->wake_timer);
		c->wake_timer = 0;
	}
	replan_cancel(c);
	carry_drop(c, false); /* mesos is stopped: the master takes them back */
	plan_later_drop(c);
	if (c->unreach_timer) {
		ev_timer_cancel(c->loop, c->unreach_timer);
		c->unreach_timer = 0;
	}
	if (c->recon_retry_timer) {
		ev_timer_cancel(c->loop, c->recon_retry_timer);
		c->recon_retry_timer = 0;
	}
	if (c->retry_timer) {
		ev_timer_cancel(c->loop, c->retry_timer);
		c->retry_timer = 0;
	}
	cJSON_Delete(c->retry_calls);
	c->retry_calls = NULL;
	cJSON_Delete(c->held_acks); /* their updates come again, unacknowledged */
	c->held_acks = NULL;
	acks_drop(c);
	/* what waits for a save not started: never made in this term */
	cancel_timer(c, &c->save_timer);
	c->save_postponed = false;
	struct save_cont *q = c->conts_queued;
	c->conts_queued = NULL;
	conts_run(c, q, false);
	cancel_timer(c, &c->saved_timer);
	conts_saved_run(c, false);
	c->updates_unsaved = false;
	/* forget everything: the next term reloads the state and probers
	 * resend their snapshots */
	store_state_fini(&c->st);
	trim_soon(c);
	c->st_version = 0;
	nodes_fini(&c->nodes);
	nodes_init(&c->nodes);
	while (c->nhealth)
		health_drop(c, c->health[c->nhealth - 1].task_id);
	/* and the agents: the master tells only the leader that an agent is
	 * lost or removed (FAILURE), so an agent removed while we stand by
	 * would stay active in a later term, wanting a prober and placements
	 * that can never be offered; the next term learns them from offers */
	rsv_fini(c);
	agents_fini(c);
	c->agents = NULL;
	c->nagents = c->agents_cap = 0;
	c->agents_gen++;
	c->health = NULL;
	c->nhealth = c->health_cap = 0;
	c->waits = NULL;
	c->nwaits = 0;
	agents_init(c);
	plan_output_free(&c->last);
	log_warn("leadership_lost", "reason=%s action=%s", log_qs(why),
		 log_qs("stopped acting; standing again"));
	evlog_add(c->evlog, wall_ms(), EVLOG_LEADER, "leadership lost (%s); standing again",
		  why ? why : "no reason given");
}

static void on_elected(void *arg)
{
	struct coord *c = arg;
	log_info("leadership_won", "id=%s", log_qs(c->webui));
	evlog_add(c->evlog, wall_ms(), EVLOG_LEADER, "leadership won by this coordinator (%s)",
		  c->webui ? c->webui : "");
	if (start_acting(c) != 0)
		coord_fatal(c, "elected, but the state cannot be loaded or the bus not opened");
}

static void on_lost(void *arg, const char *reason)
{
	stop_acting(arg, reason);
}

static void on_leader_changed(void *arg, const char *id)
{
	struct coord *c = arg;
	if (!c->leading) {
		log_info("leader", "id=%s", log_qs(id ? id : "(unknown)"));
		evlog_add(c->evlog, wall_ms(), EVLOG_LEADER, "the leader is now %s",
			  id ? id : "(unknown)");
	}
}

/* ------------------------------------------------------------------ */
/* set-up                                                              */

/* SIGHUP: read the token file again; on any error keep the tokens. */
static void reload_tokens(struct coord *c)
{
	const char *path = c->cfg->api_token_file;
	if (!path || !path[0]) {
		log_info("signal", "signo=%d action=none why=%s", SIGHUP,
			 log_qs("no --api-token-file to re-read"));
		return;
	}
	struct auth_tokens t;
	char err[300];
	if (auth_tokens_load(path, &t, err, sizeof err) != 0) {
		log_warn("api_tokens_reload_failed", "error=%s kept=%zu", log_qs(err),
			 auth_ntokens(c->auth));
		return;
	}
	size_t n = t.n;
	auth_set_tokens(c->auth, &t);
	log_info("api_tokens_reloaded", "path=%s tokens=%zu", log_qs(path), n);
}

/* How long a stop waits at most for the Mesos calls already made (the
 * acknowledgements of updates saved just before the signal, a DECLINE, an
 * ACCEPT). A master answers them in one round trip, milliseconds; one that
 * takes seconds is in trouble and the calls are not worth more waiting:
 * the master sends an unacknowledged update again after the next
 * subscription anyway. And it must end well inside the grace period
 * between SIGTERM and SIGKILL: 3 s by default when the coordinator runs as
 * a Mesos command task, e.g. a Marathon app (src/launcher/executor.cpp,
 * 1.4.0 ... 1.11.0), and the rest of the stop (the last save, freeing)
 * needs some of it. */
#define DRAIN_MAX_MS 2500u

static void stop_now(struct coord *c)
{
	c->stopping = true;
	ev_stop(c->loop);
}

static void drained(void *arg, const struct mesos_drain_report *r)
{
	struct coord *c = arg;
	if (r->timed_out)
		log_warn("drain_timeout",
			 "calls=%u calls_sent=%u calls_failed=%u calls_dropped=%u took_ms=%llu "
			 "max_ms=%u",
			 r->calls, r->answered, r->failed, r->dropped,
			 (unsigned long long)r->took_ms, DRAIN_MAX_MS);
	else
		log_info("drained", "calls=%u calls_sent=%u calls_failed=%u took_ms=%llu", r->calls,
			 r->answered, r->failed, (unsigned long long)r->took_ms);
	stop_now(c);
}

/* Posted by on_signal: after the acknowledgements posted before it were
 * flushed (flush_updates, events.c). */
static void drain_begin(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	if (c->stopping)
		return; /* a second signal or a fatal error came first */
	/* acknowledgements wait for the save that makes their updates
	 * durable: let it answer, so that they are made now */
	coord_settle(c);
	if (c->stopping || !c->mc) {
		stop_now(c);
		return;
	}
	unsigned n = mesos_drain(c->mc, DRAIN_MAX_MS, drained, c);
	log_info("signal", "signo=%u action=drain calls=%u max_ms=%u", c->drain_signo, n,
		 DRAIN_MAX_MS);
}

/* SIGTERM/SIGINT: a bounded graceful stop. The Mesos calls already made
 * go out and are answered first (mesos_drain: the event stream stays
 * open, since a master refuses the calls of a framework whose stream
 * closed; its events are no longer handled), at most DRAIN_MAX_MS; then
 * the loop stops. `stopping` is set only then: until it is, the
 * acknowledgements held for updates received before the signal are still
 * saved and sent. A second signal stops at once. */
static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)events;
	struct coord *c = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			reload_tokens(c);
			continue;
		}
		if (c->draining || c->stopping) {
			log_info("signal", "signo=%u action=stop calls_dropped=%u", si.ssi_signo,
				 c->mc ? mesos_calls_pending(c->mc) : 0);
			stop_now(c);
			continue;
		}
		c->draining = true;
		c->drain_signo = si.ssi_signo;
		ev_post(loop, drain_begin, c);
	}
}

#define INSECURE_WARN_MS (3600u * 1000u)

static void warn_insecure(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	log_warn("http_insecure", "listen=%s why=%s", log_qs(c->cfg->http_listen),
		 log_qs("--http-insecure and no token: anyone who reaches the REST API can "
			"change the cluster; give --api-token-file"));
	c->insecure_timer = ev_timer_add(loop, INSECURE_WARN_MS, warn_insecure, c);
}

/* RSS in KiB from /proc/self/statm, 0 when unreadable. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* glibc keeps what a burst freed, so RSS stayed at the burst's peak:
 * tests/bench/offer_cycle.py --agents 10000, idle after the probers'
 * launch, 326 MiB with 161 MiB of heap in use; malloc_trim(0) through gdb
 * took it to 228 MiB. The delay lets the burst's calls finish first. */
#define TRIM_DELAY_MS 5000
/* The big parse arena of the last OFFERS event, its record's buffer and
 * its offers' pool stay mapped while used between two trims this far
 * apart (jarena_trim, recordio_trim, pool_trim): events of thousands of offers coming at least every
 * 30 s (a launch, a failover, a short --revive-interval) are received and
 * parsed into resident pages, and 30-60 s after the last one both are
 * gone. At 10,000 agents the arena holds ~41 MiB and saves 12-15 us of
 * CPU per offer, 120-150 ms per event, the record ~8 MiB more
 * (offer_cycle.py --agents 10000 --revive-interval 20s); at the default
 * 5 min revive nothing is held between cycles. */
#define ARENA_KEEP_MS 30000

/* The heap trim runs on a thread of its own: at 10,000 agents
 * malloc_trim(0) gave back ~78 MB page by page in 23-91 ms, all of it a
 * stall of the loop (offer_cycle.py --agents 10000). glibc holds the main
 * arena's lock meanwhile, so the loop still waits if it allocates during
 * the trim; after TRIM_DELAY_MS of quiet it seldom does. The kept
 * mappings are let go on the loop afterwards (munmaps: quick). */
static void trim_cb(struct ev_loop *loop, void *arg);

struct trim_job {
	pthread_t th;
	struct ev_loop *loop;
	struct coord *c; /* NULL once coord_free has waited for the thread */
	long before;
	uint64_t took_ms;
};

/* The heap is trimmed: let go of the kept mappings unused since the last
 * trim, and look again later while they are used. */
static void trim_finish(struct coord *c, struct trim_job *j)
{
	size_t kept = 0, rec_kept = 0, pool_kept = 0;
	bool kept_on = jarena_trim(&kept);
	kept_on = recordio_trim(&rec_kept) || kept_on;
	kept_on = pool_trim(&pool_kept) || kept_on;
	log_info("memory_trimmed",
		 "rss_before_kib=%ld rss_after_kib=%ld took_ms=%llu arena_kept_kib=%zu "
		 "record_kept_kib=%zu pool_kept_kib=%zu", j->before, rss_kib(),
		 (unsigned long long)j->took_ms, kept >> 10, rec_kept >> 10, pool_kept >> 10);
	free(j);
	if (kept_on && !c->trim_timer)
		c->trim_timer = ev_timer_add(c->loop, ARENA_KEEP_MS, trim_cb, c);
}

static void trim_done(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct trim_job *j = arg;
	struct coord *c = j->c;
	if (!c) { /* coord_free waited for the thread */
		free(j);
		return;
	}
	pthread_join(j->th, NULL);
	c->trim_job = NULL;
	trim_finish(c, j);
}

static void *trim_main(void *arg)
{
	struct trim_job *j = arg;
	uint64_t t0 = clock_mono_ms();
	(void)malloc_trim(0);
	j->took_ms = clock_mono_ms() - t0;
	ev_post(j->loop, trim_done, j);
	return NULL;
}

/* The trim waits for a quiet loop. malloc_trim holds the main arena's
 * lock for its whole walk (23-91 ms at 10,000 agents), and a loop that
 * allocates meanwhile waits for it: a trim while 10,000 probers were
 * launched stalled the loop for 81 ms with 5 ms of its own CPU in it
 * (the loop_stall line next to memory_trimmed took_ms=76; offer_cycle.py
 * --agents 10000 --store zk). So the trim runs only after a second in
 * which the loop thread was busy for less than TRIM_BUSY_PCT of it,
 * looking again each second, and anyway after TRIM_LOOKS_MAX looks (a loop
 * that is never quiet would otherwise keep a burst's heap for good). */
#define TRIM_LOOK_MS 1000
#define TRIM_BUSY_PCT 10
#define TRIM_LOOKS_MAX 30

/* True when the trim may run now; else the next look is armed. */
static bool trim_quiet(struct coord *c, struct ev_loop *loop)
{
	uint64_t cpu = clock_thread_cpu_us(), now = clock_mono_us();
	bool looked = c->trim_looks > 0;
	uint64_t wall = now - c->trim_mono_at;
	if (looked && (c->trim_looks >= TRIM_LOOKS_MAX || wall == 0 ||
		       (cpu - c->trim_cpu_at) * 100 < wall * TRIM_BUSY_PCT)) {
		c->trim_looks = 0;
		return true;
	}
	c->trim_looks++;
	c->trim_cpu_at = cpu;
	c->trim_mono_at = now;
	c->trim_timer = ev_timer_add(loop, TRIM_LOOK_MS, trim_cb, c);
	return false;
}

static void trim_cb(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->trim_timer = 0;
	if (c->trim_job) { /* still at it: look again later */
		c->trim_timer = ev_timer_add(loop, TRIM_DELAY_MS, trim_cb, c);
		return;
	}
	if (!trim_quiet(c, loop))
		return;
	struct trim_job *j = qm_calloc(1, sizeof *j);
	j->loop = loop;
	j->c = c;
	j->before = rss_kib();
	if (pthread_create(&j->th, NULL, trim_main, j) == 0) {
		c->trim_job = j;
		return;
	}
	/* no thread: trimmed here */
	uint64_t t0 = clock_mono_ms();
	(void)malloc_trim(0);
	j->took_ms = clock_mono_ms() - t0;
	trim_finish(c, j);
}

void trim_soon(struct coord *c)
{
	if (!c->trim_timer && c->loop)
		c->trim_timer = ev_timer_add(c->loop, TRIM_DELAY_MS, trim_cb, c);
}

static void cancel_timer(struct coord *c, uint64_t *id)
{
	if (*id && c->loop)
		ev_timer_cancel(c->loop, *id);
	*id = 0;
}

void coord_free(struct coord *c)
{
	/* first: the loop runs once more below (posted releases), and a timer
	 * due then must not reach the Mesos client freed before it */
	uint64_t *timers[] = {&c->insecure_timer, &c->wake_timer,     &c->unreach_timer,
			      &c->recon_retry_timer, &c->retry_timer,  &c->revive_timer,
			      &c->reconcile_timer,   &c->kill_timer,   &c->zk_timer,
			      &c->trim_timer,     &c->replan_timer, &c->carry_timer,
			      &c->plan_later_timer, &c->acks_timer, &c->save_timer,
			      &c->saved_timer, &c->flush_timer};
	for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
		cancel_timer(c, timers[i]);
	if (c->trim_job) { /* its posted trim_done frees it, finding no coordinator */
		pthread_join(c->trim_job->th, NULL);
		c->trim_job->c = NULL;
		c->trim_job = NULL;
	}
	/* a save in flight answers now, while what its continuations use
	 * (the Mesos client, the loop) is still there */
	c->stopping = true;
	coord_settle(c);
	carry_drop(c, false);
	plan_later_drop(c);
	if (c->leader)
		leader_free(c->leader);
	if (c->http)
		http_server_free(c->http);
	auth_free(c->auth);
	if (c->mc)
		mesos_free(c->mc);
	if (c->busd)
		busd_free(c->busd);
	if (c->loop) {
		/* let busd's final posted release run */
		ev_stop(c->loop);
		(void)ev_run(c->loop);
	}
	if (c->sigfd >= 0) {
		if (c->loop)
			ev_fd_del(c->loop, c->sigfd);
		close(c->sigfd);
	}
	if (c->loop) {
		if (c->store) /* no answer may be posted to the freed loop */
			(void)store_zk_set_loop(c->store, NULL);
		ev_loop_free(c->loop);
	}
	state_close(&c->store, &c->zk); /* after leader_free: it borrows c->zk */
	store_state_fini(&c->st);
	sti_fini(&c->sti);
	cJSON_Delete(c->retry_calls);
	cJSON_Delete(c->held_acks);
	cJSON_Delete(c->acks_out);
	nodes_fini(&c->nodes);
	rsv_fini(c);
	agents_fini(c);
	for (size_t i = 0; i < c->nprober_hosts; i++)
		free(c->prober_hosts[i]);
	free(c->prober_hosts);
	for (size_t i = 0; i < 4; i++)
		free(c->restr_buf[i]);
	plan_output_free(&c->last);
	free(c->plan_scratch.pa);
	free(c->plan_scratch.pt);
	free(c->plan_scratch.reasons);
	free(c->plan_scratch.agent_order);
	free(c->plan_scratch.task_order);
	free(c->plan_scratch.task_agent);
	evlog_free(c->evlog);
	c->evlog = NULL;
	if (c->secret) {
		memset(c->secret, 0, c->secretlen);
		free(c->secret);
	}
	free(c->bus_url);
	free(c->hostname);
	free(c->webui);
	free(c->prober_uri);
}

void coord_init(struct coord *c, const struct coord_config *cfg)
{
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->sigfd = -1;
	store_state_init(&c->st);
	sti_init(&c->sti);
	nodes_init(&c->nodes);
	agents_init(c);
	metrics_init(&c->metrics);
	c->evlog = evlog_new();
}

/* Block the stop signals before any library starts threads (the ZooKeeper
 * client does in state_open): a thread with them unblocked would take
 * SIGTERM and the process would die without resigning. */
static void block_stop_signals(struct coord *c)
{
	sigset_t *mask = &c->stop_signals;
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP); /* re-read the token file */
	pthread_sigmask(SIG_BLOCK, mask, NULL);
}

static int open_store(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512] = "";
	const char *store_url = cfg->zk && cfg->zk[0] ? cfg->zk : cfg->state_dir;
	struct zk_opts zo = { .session_timeout_ms = (int)cfg->zk_session_timeout };
	if (state_open(store_url, &zo, &c->store, &c->zk, err, sizeof err) != 0) {
		log_error("store_open_failed", "location=%s error=%s", log_qs(store_url),
			  log_qs(err));
		return 1;
	}
	/* The file store is read now: a broken state must stop the start-up.
	 * The ZooKeeper store is read when this coordinator is elected. */
	if (!(cfg->zk && cfg->zk[0]) && load_state(c) != 0)
		return 1;
	return 0;
}

/* "launch,save" of the coordinator's ev_mark kinds, "other" for none */
static const char *marks_text(unsigned marks, char *out, size_t cap)
{
	static const char *const names[COORD_MARKS] = {
		[COORD_MARK_SAVE] = "save",	    [COORD_MARK_PLAN] = "plan",
		[COORD_MARK_LAUNCH] = "launch",	    [COORD_MARK_OFFERS] = "offers",
		[COORD_MARK_REPORTS] = "reports", [COORD_MARK_ACKS] = "acks",
		[COORD_MARK_EVENTS] = "events",
	};
	size_t n = 0;
	out[0] = '\0';
	for (unsigned k = 0; k < COORD_MARKS; k++)
		if (marks & (1u << k))
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", names[k]);
	return n ? out : "other";
}

/* A stall of the loop (EV_STALL_US or more: every Mesos event, prober
 * report and REST call waited for it), logged with what the iteration
 * did, where its time went (the phases of the iteration, and its longest
 * callback with what that one marked); at most one line a second, with
 * the ones left out counted. */
static void on_loop_stall(struct ev_loop *loop, uint64_t us, uint64_t cpu_us, unsigned marks,
			  void *arg)
{
	struct coord *c = arg;
	uint64_t now = clock_mono_ms();
	if (c->stall_logged_ms && now - c->stall_logged_ms < 1000) {
		c->stalls_unlogged++;
		return;
	}
	struct ev_stall_detail d;
	ev_stall_detail(loop, &d);
	char work[64], longest[64];
	log_warn("loop_stall",
		 "took_ms=%llu cpu_ms=%llu work=%s timers_ms=%llu fds_ms=%llu asyncs_ms=%llu "
		 "posted_ms=%llu longest_ms=%llu longest_in=%s longest_work=%s "
		 "not_logged_before=%llu",
		 (unsigned long long)(us / 1000), (unsigned long long)(cpu_us / 1000),
		 marks_text(marks, work, sizeof work),
		 (unsigned long long)(d.phase_us[EV_PHASE_TIMERS] / 1000),
		 (unsigned long long)(d.phase_us[EV_PHASE_FDS] / 1000),
		 (unsigned long long)(d.phase_us[EV_PHASE_ASYNCS] / 1000),
		 (unsigned long long)(d.phase_us[EV_PHASE_POSTED] / 1000),
		 (unsigned long long)(d.longest_us / 1000), ev_phase_name(d.longest_phase),
		 marks_text(d.longest_marks, longest, sizeof longest),
		 (unsigned long long)c->stalls_unlogged);
	c->stall_logged_ms = now;
	c->stalls_unlogged = 0;
}

static int setup_loop(struct coord *c)
{
	c->loop = ev_loop_new();
	if (!c->loop) {
		log_error("loop_failed", "error=%s", log_qs(strerror(errno)));
		return 1;
	}
	ev_on_stall(c->loop, on_loop_stall, c);
	c->sigfd = signalfd(-1, &c->stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0 || ev_fd_add(c->loop, c->sigfd, EV_READ, on_signal, c) != 0) {
		log_error("signalfd_failed", "error=%s", log_qs(strerror(errno)));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* HTTPS for the REST API (--http-tls-cert/--http-tls-key): 0, or 2 with
 * the reason logged. */
static int setup_http_tls(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512] = "";
	char *cert, *key;
	int terr = http_tls_load(cfg->http_tls_cert, cfg->http_tls_key, &cert, &key, err,
				 sizeof err);
	if (!terr) {
		terr = http_server_set_tls(c->http, cert, key);
		snprintf(err, sizeof err, "the server refused the certificate");
		explicit_bzero(key, strlen(key));
		free(cert);
		free(key);
	}
	if (terr) {
		log_error("http_tls_failed", "cert=%s error=%s", log_qs(cfg->http_tls_cert),
			  log_qs(err));
		return 2;
	}
	log_info("http_tls", "cert=%s", log_qs(cfg->http_tls_cert));
	return 0;
}

/* The REST API's listener, and the URLs it gives: ours (webui, the leader
 * id) and the prober binary's when we serve it. */
static int setup_http(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512] = "";
	int herr = 0;
	c->http = http_server_new(c->loop, cfg->http_listen, rest_routes, rest_nroutes, c,
				  &herr);
	if (!c->http) {
		log_error("http_listen_failed", "address=%s error=%s", log_qs(cfg->http_listen),
			  qm_strerror(herr));
		return 1;
	}
	if (cfg->http_tls_cert && setup_http_tls(c) != 0)
		return 2;
	http_server_set_auth(c->http, c->auth);
	http_server_set_audit(c->http, rest_on_audit, c);
	if (c->http_open)
		warn_insecure(c->loop, c);
	{
		size_t n = strlen(c->hostname) + 32;
		c->webui = qm_malloc(n);
		snprintf(c->webui, n, "%s://%s:%u/", cfg->http_tls_cert ? "https" : "http",
			 c->hostname, (unsigned)http_server_port(c->http));
	}
	if (c->ts.prober_mode == TASKSPEC_PROBER_DOCKER && cfg->prober_binary &&
	    cfg->prober_binary[0]) {
		/* serve the binary ourselves and let the Mesos fetcher get it */
		size_t n = strlen(c->webui) + 32;
		c->prober_uri = qm_malloc(n);
		snprintf(c->prober_uri, n, "%sfiles/quobyte-prober", c->webui);
		c->ts.prober_mode = TASKSPEC_PROBER_FETCH;
		c->ts.prober_uri = c->prober_uri;
		if (taskspec_config_validate(&c->ts, err, sizeof err) != 0) {
			log_error("config_invalid", "error=%s", log_qs(err));
			return 2;
		}
	}
	return 0;
}

/* The Mesos client; it subscribes once this coordinator acts. */
static int setup_mesos(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char *mesos_secret = NULL;
	if (setup_mesos_secret(cfg, &mesos_secret) != 0)
		return 1;
	struct mesos_config mcfg = {
		.master = cfg->master,
		.user = cfg->user,
		.name = cfg->framework_name,
		.role = cfg->role,
		.principal = cfg->principal && cfg->principal[0] ? cfg->principal : NULL,
		.secret = mesos_secret,
		.hostname = c->hostname,
		.webui_url = c->webui,
		.failover_timeout_s = (double)cfg->failover_timeout / 1000.0,
		.heartbeat_misses = (unsigned)cfg->heartbeat_misses,
		.master_scheme = cfg->master_scheme,
		.ca_file = cfg->mesos_ca_file,
		.tls_insecure = cfg->mesos_tls_insecure,
		.zk_session_timeout_ms = (int)cfg->zk_session_timeout,
		.refused_retry_ms = (uint64_t)cfg->refused_retry,
	};
	c->mc = mesos_new(c->loop, &mcfg, &events_mesos_handlers, c);
	if (mesos_secret) {
		memset(mesos_secret, 0, strlen(mesos_secret));
		free(mesos_secret);
	}
	if (!c->mc) {
		log_error("mesos_client_failed", "error=%s", "curl initialisation failed");
		return 1;
	}
	log_info("coordinator_start",
		 "version=%s master=%s rest=%s:%u bus_listen=%s bus_url=%s prober=%s",
		 QM_VERSION, log_qs(cfg->master), log_qs(c->hostname),
		 (unsigned)http_server_port(c->http), log_qs(cfg->bus_listen),
		 log_qs(c->bus_url),
		 c->ts.prober_mode == TASKSPEC_PROBER_COMMAND ? "command"
		 : c->ts.prober_mode == TASKSPEC_PROBER_FETCH ? "fetch" : "docker");
	return 0;
}

/* With ZooKeeper, stand for election (act once elected); with the file
 * store, act at once. Then the periodic timers. */
static int stand(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512] = "";
	if (cfg->zk && cfg->zk[0]) {
		struct leader_cbs lc = {
			.elected = on_elected,
			.lost = on_lost,
			.leader_changed = on_leader_changed,
		};
		if (leader_new(c->loop, c->zk, c->webui, &lc, c, &c->leader, err,
			       sizeof err) != 0) {
			log_error("election_failed", "error=%s", log_qs(err));
			return 1;
		}
		log_info("election_standing", "zk=%s id=%s", log_qs(store_location(c->store)),
			 log_qs(c->webui));
		c->zk_timer = ev_timer_add(c->loop, 5000, zk_tick, c);
	} else if (start_acting(c) != 0) {
		return 1;
	}
	events_start_timers(c);
	return 0;
}

/* The start-up, in this order. Each step returns 0, or the exit code with
 * the reason logged: 1, or 2 for a configuration error. */
static int (*const start_steps[])(struct coord *c) = {
	setup_config, /* hostname, task builder, planner, REST API tokens */
	open_store,   /* and read a file state */
	setup_bus,    /* bus secret, the URL probers dial */
	setup_loop,   /* the loop, the stop signals */
	setup_http,   /* the REST API */
	setup_mesos,  /* the Mesos client */
	stand,        /* for election, or act */
};

int coord_run(const struct coord_config *cfg)
{
	struct coord cs;
	struct coord *c = &cs;
	coord_init(c, cfg);
	block_stop_signals(c);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof start_steps / sizeof start_steps[0]; i++)
		rc = start_steps[i](c);
	if (rc == 0) {
		if (ev_run(c->loop) != 0)
			log_error("loop_failed", "error=%s", "epoll_wait failed");
		rc = c->exit_code;
		log_info("coordinator_stopped", "exit=%d", rc);
	}
	coord_free(c);
	return rc;
}
