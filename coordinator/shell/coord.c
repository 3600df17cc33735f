/* The coordinator's imperative shell. One loop thread owns everything here:
 * Mesos events, prober messages (busd posts them to the loop), REST requests
 * and timers all run as callbacks on it, so nothing needs a lock.
 *
 * The cycle: an observation (offer, update, inventory change, operator
 * request, timer) -> coord_plan() builds a plan_input from what is known,
 * plan_compute() decides, and the shell carries the actions out: KILLs at
 * once, LAUNCHes into the offers at hand (recorded in the store before the
 * ACCEPT), REVIVE when launches wait for offers, SUPPRESS when nothing does.
 * Offers are never kept: each OFFERS event is answered (ACCEPT or DECLINE)
 * before the handler returns. */
#include "shell/coord.h"
#include "shell/coord_priv.h"

#include "bus.h"
#include "bus_json.h"
#include "shell/busd.h"
#include "config.h"
#include "crypto.h"
#include "evloop.h"
#include "api/http.h"
#include "api/rest.h"
#include "log.h"
#include "mesos/mesos.h"
#include "core/nodes.h"
#include "core/plan.h"
#include "qm_error.h"
#include "state/leader.h"
#include "api/statuspage.h"
#include "state/store.h"
#include "state/store_zk.h"
#include "strmap.h"
#include "core/taskspec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static uint64_t random64(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
	return r;
}

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

static void step_down_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->step_down_posted = false;
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

int coord_save(struct coord *c)
{
	char err[256] = "";
	uint64_t nv = 0;
	int rv = store_save(c->store, &c->st, c->st_version, &nv, err, sizeof err);
	if (rv != 0) {
		c->n.store_errors++;
		log_error("store_save_failed", "backend=%s location=%s error=%s detail=%s",
			  store_backend(c->store), log_qs(store_location(c->store)),
			  qm_strerror(rv), log_qs(err));
		if (rv == QM_ECONFLICT && c->leader)
			step_down_soon(c); /* fenced: someone else leads now */
		else if (rv == QM_ECONFLICT)
			coord_fatal(c, "the stored state was changed by someone else; "
				       "another coordinator may be running");
		return rv;
	}
	c->st_version = nv;
	c->n.store_saves++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* planning                                                            */

static void replan_cb(struct ev_loop *loop, void *arg);

void replan_soon(struct coord *c)
{
	if (c->replan_posted || c->stopping)
		return;
	c->replan_posted = true;
	ev_post(c->loop, replan_cb, c);
}

static void replan_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->replan_posted = false;
	if (!c->stopping)
		coord_plan(c, NULL, 0);
}

static void wake_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->wake_timer = 0;
	c->wake_at = 0;
	replan_soon(c);
}

/* Replan within ms (an earlier wake stands). */
void wake_in(struct coord *c, int64_t ms)
{
	int64_t at = wall_ms() + ms;
	if (c->wake_timer && c->wake_at <= at)
		return;
	if (c->wake_timer)
		ev_timer_cancel(c->loop, c->wake_timer);
	c->wake_at = at;
	c->wake_timer = ev_timer_add(c->loop, ms > 0 ? (uint64_t)ms : 0, wake_cb, c);
}

static void fill_report(struct coord *c, const char *agent_id, struct plan_report *r)
{
	memset(r, 0, sizeof *r);
	const struct nodes_node *n = nodes_find(&c->nodes, agent_id);
	if (!n || !n->has_snapshot)
		return;
	unsigned counts[4] = { 0 };
	bool bootstrap = false;
	nodes_type_counts(n, counts, &bootstrap);
	r->has_report = true;
	r->last_report_ms = (long long)n->last_report_ms;
	r->registry_devices = counts[QUOBYTE__BUS__DEVICE_TYPE__REGISTRY];
	r->metadata_devices = counts[QUOBYTE__BUS__DEVICE_TYPE__METADATA];
	r->data_devices = counts[QUOBYTE__BUS__DEVICE_TYPE__DATA];
	r->registry_bootstrap = bootstrap;
	r->client_mount = n->client_mount_point_exists;
}

/* The ports a task of service s uses as its rpc port (registry list). */
static void registry_list(struct coord *c, const char *extra_host, uint32_t extra_port,
			  char *out, size_t cap)
{
	if (c->cfg->registry_endpoints && c->cfg->registry_endpoints[0]) {
		snprintf(out, cap, "%s", c->cfg->registry_endpoints);
		return;
	}
	out[0] = '\0';
	size_t len = 0;
	bool have_extra = false;
	for (size_t i = 0; i < c->st.ntasks; i++) {
		const struct store_task *t = &c->st.tasks[i];
		if (strcmp(t->service, "registry") != 0 || t->kill_requested)
			continue;
		enum plan_task_state s = task_state(t);
		if (plan_task_state_terminal(s))
			continue;
		uint32_t port = t->nports ? t->ports[0] : c->ts.svc[SERVICE_REGISTRY].port;
		if (extra_host && strcmp(t->hostname, extra_host) == 0 && port == extra_port)
			have_extra = true;
		int w = snprintf(out + len, cap - len, "%s%s:%u", len ? "," : "", t->hostname,
				 port);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	if (extra_host && !have_extra)
		snprintf(out + len, cap - len, "%s%s:%u", len ? "," : "", extra_host, extra_port);
}

/* Device roots of agent's OK devices of one type, as borrowed strings. */
static size_t device_dirs(struct coord *c, const char *agent_id, enum service s,
			  const char **dirs, size_t cap)
{
	Quobyte__Bus__DeviceType want;
	switch (s) {
	case SERVICE_REGISTRY: want = QUOBYTE__BUS__DEVICE_TYPE__REGISTRY; break;
	case SERVICE_METADATA: want = QUOBYTE__BUS__DEVICE_TYPE__METADATA; break;
	case SERVICE_DATA: want = QUOBYTE__BUS__DEVICE_TYPE__DATA; break;
	default: return 0;
	}
	const struct nodes_node *n = nodes_find(&c->nodes, agent_id);
	size_t k = 0;
	for (size_t i = 0; n && i < n->ndevices && k < cap; i++) {
		const Quobyte__Bus__Device *d = n->devices[i].d;
		if (!nodes_device_usable(d) || !d->root)
			continue;
		for (size_t j = 0; j < d->n_types; j++)
			if (d->types[j] == want && taskspec_path_valid(d->root)) {
				dirs[k++] = d->root;
				break;
			}
	}
	return k;
}

/* Is path at or below dir? */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The device root (agent attribute, else --prober-device-roots) that holds
 * path, copied into out; false if none does. */
static bool root_of(struct coord *c, const char *agent_id, const char *path, char *out,
		    size_t cap)
{
	const char *roots = agent_attr(agent_find(c, agent_id), ATTR_DEVICE_ROOTS);
	if (!roots)
		roots = c->cfg->prober_device_roots;
	const char *cur = roots;
	char item[TASKSPEC_PATH_MAX + 1];
	while (cur && config_list_next(&cur, item, sizeof item)) {
		if (taskspec_path_valid(item) && path_under(path, item)) {
			snprintf(out, cap, "%s", item);
			return true;
		}
	}
	return false;
}

/* What a disk service's container gets bind-mounted: with shared
 * propagation, the device root of each device (so a disk mounted under it
 * later shows up in the running container), else each device directory.
 * Deduplicated, in device order; the strings live in bufs. */
static size_t service_mounts(struct coord *c, const char *agent_id, const char **dirs,
			     size_t nd, char (*bufs)[TASKSPEC_PATH_MAX + 1], const char **out)
{
	size_t k = 0;
	for (size_t i = 0; i < nd; i++) {
		char root[TASKSPEC_PATH_MAX + 1];
		const char *m = dirs[i];
		if (c->ts.shared_propagation && root_of(c, agent_id, dirs[i], root, sizeof root))
			m = root;
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(out[j], m) == 0;
		if (dup)
			continue;
		snprintf(bufs[k], TASKSPEC_PATH_MAX + 1, "%s", m);
		out[k] = bufs[k];
		k++;
	}
	return k;
}

/* Why a running disk service must be replaced: a device of its type that
 * its container cannot see (outside every path mounted at launch, or, without
 * shared propagation, mounted after it). NULL if it sees them all. */
const char *replace_reason(struct coord *c, const struct store_task *t, char *buf,
			   size_t cap)
{
	enum service s;
	if (!t->mounts_known || service_parse(t->service, &s) != 0)
		return NULL;
	const char *dirs[TASKSPEC_MAX_DEVICE_DIRS];
	size_t nd = device_dirs(c, t->agent_id, s, dirs, TASKSPEC_MAX_DEVICE_DIRS);
	for (size_t i = 0; i < nd; i++) {
		bool seen = false;
		const char *cur = t->mounts;
		char m[TASKSPEC_PATH_MAX + 1];
		while (!seen && config_list_next(&cur, m, sizeof m))
			seen = t->mounts_shared ? path_under(dirs[i], m) : strcmp(dirs[i], m) == 0;
		if (!seen) {
			snprintf(buf, cap, "device %s added: not visible in the running container",
				 dirs[i]);
			return buf;
		}
	}
	return NULL;
}

/* Build one launch into offer o. Returns the TaskInfo (and records the task
 * in c->st) or NULL with the reason logged. */
static cJSON *build_launch(struct coord *c, const struct plan_action *a,
			   struct taskspec_offer *o, bool *no_fit)
{
	enum service s = (enum service)a->service;
	struct taskspec_request req;
	taskspec_request_for(&c->ts, s, &req);
	struct taskspec_fit fit;
	if (!taskspec_offer_take(o, &req, &fit)) {
		*no_fit = true;
		wait_set(c, o->agent_id, o->hostname, s, fit.reason);
		taskspec_fit_fini(&fit);
		return NULL;
	}
	struct store_task t;
	memset(&t, 0, sizeof t);
	if (taskspec_task_id(service_name(s), o->hostname, random64(), t.task_id,
			     sizeof t.task_id) != 0) {
		taskspec_fit_fini(&fit);
		return NULL;
	}
	char err[256] = "";
	cJSON *ti = NULL;
	int rv;
	if (s == SERVICE_PROBER) {
		uint8_t cred[BUS_CRED_LEN];
		char hex[2 * BUS_CRED_LEN + 1];
		bus_credential_derive(c->secret, c->secretlen, o->agent_id, cred);
		crypto_hex_encode(cred, sizeof cred, hex);
		struct agent *ag = agent_find(c, o->agent_id);
		const char *roots = agent_attr(ag, ATTR_DEVICE_ROOTS);
		struct taskspec_prober_params p = {
			.task_id = t.task_id,
			.agent_id = o->agent_id,
			.hostname = o->hostname,
			.coordinator_url = c->bus_url,
			.credential_hex = hex,
			.device_roots = roots ? roots : c->cfg->prober_device_roots,
			.device_dirs = c->cfg->prober_device_dirs,
			.client_mount_point = c->cfg->client_mount_point,
			.fit = &fit,
		};
		rv = taskspec_prober_task(&c->ts, &p, &ti, err, sizeof err);
		memset(cred, 0, sizeof cred);
		memset(hex, 0, sizeof hex);
	} else {
		char registry[2048];
		uint32_t port = fit.nports ? fit.ports[0] : 0;
		registry_list(c, s == SERVICE_REGISTRY ? o->hostname : NULL, port, registry,
			      sizeof registry);
		const char *dirs[TASKSPEC_MAX_DEVICE_DIRS], *mounts[TASKSPEC_MAX_DEVICE_DIRS];
		char(*bufs)[TASKSPEC_PATH_MAX + 1] = qm_calloc(TASKSPEC_MAX_DEVICE_DIRS, sizeof *bufs);
		size_t nd = device_dirs(c, o->agent_id, s, dirs, TASKSPEC_MAX_DEVICE_DIRS);
		nd = service_mounts(c, o->agent_id, dirs, nd, bufs, mounts);
		if (s == SERVICE_REGISTRY || s == SERVICE_METADATA || s == SERVICE_DATA) {
			t.mounts_known = true;
			t.mounts_shared = c->ts.shared_propagation;
			for (size_t i = 0; i < nd; i++) {
				size_t used = strlen(t.mounts);
				snprintf(t.mounts + used, sizeof t.mounts - used, "%s%s", i ? "," : "",
					 mounts[i]);
			}
		}
		struct taskspec_service_params p = {
			.service = s,
			.task_id = t.task_id,
			.agent_id = o->agent_id,
			.hostname = o->hostname,
			.version = a->version,
			.registry = registry,
			.device_dirs = mounts,
			.ndevice_dirs = nd,
			.fit = &fit,
		};
		rv = taskspec_service_task(&c->ts, &p, &ti, err, sizeof err);
		free(bufs);
	}
	if (rv != 0) {
		log_error("task_build_failed", "service=%s agent_id=%s error=%s",
			  service_name(s), log_qs(o->agent_id), log_qs(err));
		taskspec_fit_fini(&fit);
		return NULL;
	}
	snprintf(t.service, sizeof t.service, "%s", service_name(s));
	snprintf(t.agent_id, sizeof t.agent_id, "%s", o->agent_id);
	snprintf(t.hostname, sizeof t.hostname, "%s", o->hostname);
	if (a->version && s != SERVICE_PROBER)
		snprintf(t.version, sizeof t.version, "%s", a->version);
	t.launched_ms = wall_ms();
	for (unsigned i = 0; i < fit.nports && i < STORE_TASK_PORTS; i++)
		t.ports[t.nports++] = fit.ports[i];
	taskspec_fit_fini(&fit);
	if (!store_state_put_task(&c->st, &t)) {
		cJSON_Delete(ti);
		return NULL;
	}
	health_set(c, t.task_id, PLAN_HEALTH_UNKNOWN);
	wait_clear(c, o->agent_id, s);
	log_info("task_launch", "task_id=%s service=%s agent_id=%s hostname=%s version=%s",
		 log_qs(t.task_id), t.service, log_qs(t.agent_id), log_qs(t.hostname),
		 log_qs(t.version));
	return ti;
}

void send_kill(struct coord *c, struct store_task *t)
{
	if (!mesos_subscribed(c->mc))
		return;
	(void)mesos_send(c->mc, mesos_call_kill(t->task_id, t->agent_id));
	c->n.kills++;
}

static void set_offers_wanted(struct coord *c, bool want, uint64_t sig)
{
	if (!mesos_subscribed(c->mc))
		return;
	const char *role = c->cfg->role;
	if (want) {
		int64_t now = (int64_t)ev_now_ms();
		if (c->suppressed || (sig != c->revived_sig &&
				      now - c->last_revive_ms >= REVIVE_MIN_GAP_MS)) {
			if (mesos_send(c->mc, mesos_call_revive(role)) == 0) {
				c->n.revives++;
				c->suppressed = false;
				c->revived_sig = sig;
				c->last_revive_ms = now;
				log_info("offers_revive", "reason=%s",
					 log_qs("launches are waiting for offers"));
			}
		} else if (sig != c->revived_sig) {
			/* too soon after the last REVIVE: try again shortly */
			wake_in(c, REVIVE_MIN_GAP_MS);
		}
	} else if (!c->suppressed) {
		if (mesos_send(c->mc, mesos_call_suppress(role)) == 0) {
			c->n.suppresses++;
			c->suppressed = true;
			c->revived_sig = 0;
			log_info("offers_suppress", "reason=%s", log_qs("nothing to launch"));
		}
	}
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;
}

struct offer_ops {
	cJSON *launch;  /* array of TaskInfo */
	bool no_fit;    /* a pending launch did not fit: ask again soon */
};

void coord_plan(struct coord *c, struct taskspec_offer *offers, size_t noffers)
{
	if (c->stopping || !c->leading || c->step_down_posted)
		return;
	if (c->leader && !leader_is_leader(c->leader)) {
		/* the session is gone; the lost() callback may not have run yet */
		step_down_soon(c);
		return;
	}
	int64_t now = wall_ms();
	agents_from_nodes(c);

	struct plan_input in;
	memset(&in, 0, sizeof in);
	in.now_ms = now;
	in.target_version = c->st.target_version;
	in.config = c->pc;

	struct plan_agent *pa = qm_calloc(c->nagents ? c->nagents : 1, sizeof *pa);
	for (size_t i = 0; i < c->nagents; i++) {
		struct agent *a = &c->agents[i];
		pa[i].agent_id = a->id;
		pa[i].hostname = a->hostname;
		pa[i].attrs = a->attrs;
		pa[i].n_attrs = a->nattrs;
		pa[i].active = a->active;
		fill_report(c, a->id, &pa[i].report);
	}
	struct plan_task *pt = qm_calloc(c->st.ntasks ? c->st.ntasks : 1, sizeof *pt);
	char(*reasons)[320] = qm_calloc(c->st.ntasks ? c->st.ntasks : 1, sizeof *reasons);
	for (size_t i = 0; i < c->st.ntasks; i++) {
		struct store_task *t = &c->st.tasks[i];
		pt[i].task_id = t->task_id;
		pt[i].service = task_service(t);
		pt[i].agent_id = t->agent_id;
		pt[i].version = t->version[0] ? t->version : NULL;
		pt[i].state = task_state(t);
		pt[i].health = health_of(c, t->task_id);
		pt[i].launched_ms = t->launched_ms;
		pt[i].kill_requested = t->kill_requested;
		pt[i].unwanted_since_ms = t->unwanted_since_ms;
		pt[i].replace_reason = replace_reason(c, t, reasons[i], sizeof reasons[i]);
	}
	struct plan_history *ph = qm_calloc(c->st.nfailures ? c->st.nfailures : 1, sizeof *ph);
	size_t nh = 0;
	for (size_t i = 0; i < c->st.nfailures; i++) {
		struct store_failure *f = &c->st.failures[i];
		enum service s;
		if (service_parse(f->service, &s) != 0)
			continue;
		ph[nh].service = (enum service)s;
		ph[nh].agent_id = f->agent_id;
		ph[nh].consecutive_failures = f->consecutive;
		ph[nh].last_failure_ms = f->last_failure_ms;
		nh++;
	}
	in.agents = pa;
	in.n_agents = c->nagents;
	in.tasks = pt;
	in.n_tasks = c->st.ntasks;
	in.history = ph;
	in.n_history = nh;

	struct plan_output out;
	int rv = plan_compute(&in, &out);
	c->n.plans++;
	if (rv != 0) {
		log_error("plan_failed", "error=%s", log_qs(out.error));
		plan_output_free(&out);
		free(pa);
		free(pt);
		free(reasons);
		free(ph);
		/* answer the offers anyway: never hoard */
		for (size_t i = 0; i < noffers; i++) {
			cJSON *ids = cJSON_CreateArray();
			cJSON_AddItemToArray(ids, mesos_id(offers[i].id));
			(void)mesos_send(c->mc, mesos_call_decline(ids, SHORT_REFUSE_S));
			c->n.declined++;
		}
		return;
	}
	free(pa);
	free(ph);

	bool dirty = false;
	/* tasks[] order is still c->st.tasks' order: no inserts happened yet */
	for (size_t i = 0; i < out.n_tasks && i < c->st.ntasks; i++) {
		if (c->st.tasks[i].unwanted_since_ms != out.unwanted_since_ms[i]) {
			c->st.tasks[i].unwanted_since_ms = out.unwanted_since_ms[i];
			dirty = true;
		}
	}
	free(pt);
	free(reasons);

	for (size_t i = 0; i < c->nwaits; i++)
		c->waits[i].seen = false;
	struct offer_ops *ops = qm_calloc(noffers ? noffers : 1, sizeof *ops);
	uint64_t sig = 1469598103934665603ull;
	size_t launched = 0, pending = 0;
	for (size_t i = 0; i < out.n_actions; i++) {
		const struct plan_action *a = &out.actions[i];
		if (a->type == PLAN_KILL) {
			struct store_task *t = store_state_find_task(&c->st, a->task_id);
			if (!t || t->kill_requested || !mesos_subscribed(c->mc))
				continue;
			log_info("task_kill", "task_id=%s service=%s agent_id=%s reason=%s detail=%s",
				 log_qs(t->task_id), t->service, log_qs(t->agent_id),
				 plan_kill_reason_name(a->kill_reason),
				 log_qs(a->reason ? a->reason : ""));
			t->kill_requested = true;
			dirty = true;
			continue;
		}
		/* LAUNCH or LAUNCH_PROBER */
		pending++;
		struct wait *w = wait_find(c, a->agent_id, (enum service)a->service);
		if (w)
			w->seen = true;
		sig = fnv(sig, service_name(a->service));
		sig = fnv(sig, a->agent_id);
		size_t k = 0;
		while (k < noffers && strcmp(offers[k].agent_id, a->agent_id) != 0)
			k++;
		if (k == noffers)
			continue;
		cJSON *ti = build_launch(c, a, &offers[k], &ops[k].no_fit);
		if (!ti)
			continue;
		if (!ops[k].launch)
			ops[k].launch = cJSON_CreateArray();
		cJSON_AddItemToArray(ops[k].launch, ti);
		launched++;
		dirty = true;
	}

	/* Persist before acting: launched tasks and kill marks. */
	bool saved = true;
	if (dirty)
		saved = coord_save(c) == 0;

	if (saved) {
		for (size_t i = 0; i < out.n_actions; i++) {
			const struct plan_action *a = &out.actions[i];
			if (a->type != PLAN_KILL)
				continue;
			struct store_task *t = store_state_find_task(&c->st, a->task_id);
			if (t && t->kill_requested)
				send_kill(c, t);
		}
	}
	for (size_t k = 0; k < noffers; k++) {
		cJSON *ids = cJSON_CreateArray();
		cJSON_AddItemToArray(ids, mesos_id(offers[k].id));
		double refuse = ops[k].no_fit ? SHORT_REFUSE_S
					      : (double)c->cfg->decline_seconds / 1000.0;
		if (ops[k].launch && saved) {
			int nl = cJSON_GetArraySize(ops[k].launch);
			cJSON *opv = cJSON_CreateArray();
			cJSON *op = cJSON_CreateObject();
			cJSON_AddStringToObject(op, "type", "LAUNCH");
			cJSON *l = cJSON_AddObjectToObject(op, "launch");
			cJSON_AddItemToObject(l, "task_infos", ops[k].launch);
			cJSON_AddItemToArray(opv, op);
			(void)mesos_send(c->mc, mesos_call_accept(ids, opv, refuse));
			c->n.accepted++;
			c->n.launches += (uint64_t)nl;
		} else {
			cJSON_Delete(ops[k].launch);
			(void)mesos_send(c->mc, mesos_call_decline(ids, refuse));
			c->n.declined++;
		}
	}
	free(ops);
	if (!saved && launched) {
		/* nothing was launched: forget the tasks recorded for it */
		struct store_state fresh;
		char err[256];
		uint64_t v;
		if (store_load(c->store, &fresh, &v, err, sizeof err) == 0) {
			store_state_fini(&c->st);
			c->st = fresh;
			c->st_version = v;
		} else {
			store_state_fini(&fresh);
			coord_fatal(c, "cannot save or reload the state");
		}
	}

	for (size_t i = c->nwaits; i-- > 0;)
		if (!c->waits[i].seen)
			wait_remove_at(c, i);

	bool want = out.want_offers && pending > launched;
	/* Until the first OFFERS after a subscription (which leaves offers on)
	 * the agents are not known -- a fresh coordinator knows none --, so
	 * suppressing then would hide every agent that needs a prober until
	 * the next periodic revive. */
	if (!c->discovering)
		set_offers_wanted(c, want, sig);

	if (out.wake_ms > 0)
		wake_in(c, out.wake_ms - now);
	plan_output_free(&c->last);
	c->last = out;
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
		struct store *fs = store_open(imp, err, sizeof err);
		struct store_state fst;
		uint64_t fv = 0;
		store_state_init(&fst);
		if (!fs || store_load(fs, &fst, &fv, err, sizeof err) != 0) {
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
	if (load_state(c) != 0)
		return QM_EIO;
	if (check_prober_url(c) && coord_save(c) != 0)
		return QM_EIO;
	c->busd = busd_new(c->loop, c->cfg->bus_listen, c->secret, c->secretlen, events_on_bus, c,
			   err, sizeof err);
	if (!c->busd) {
		log_error("bus_listen_failed", "url=%s error=%s", log_qs(c->cfg->bus_listen),
			  log_qs(err));
		return QM_EIO;
	}
	c->leading = true;
	mesos_start(c->mc, c->st.framework_id);
	return 0;
}

/* Stop acting at once: no Mesos calls, no saves, no prober reports. */
static void stop_acting(struct coord *c, const char *why)
{
	if (!c->leading)
		return;
	c->leading = false;
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
	if (c->unreach_timer) {
		ev_timer_cancel(c->loop, c->unreach_timer);
		c->unreach_timer = 0;
	}
	if (c->retry_timer) {
		ev_timer_cancel(c->loop, c->retry_timer);
		c->retry_timer = 0;
	}
	cJSON_Delete(c->retry_calls);
	c->retry_calls = NULL;
	/* forget everything: the next term reloads the state and probers
	 * resend their snapshots */
	store_state_fini(&c->st);
	c->st_version = 0;
	nodes_fini(&c->nodes);
	nodes_init(&c->nodes);
	while (c->nhealth)
		health_drop(c, c->health[c->nhealth - 1].task_id);
	plan_output_free(&c->last);
	log_warn("leadership_lost", "reason=%s action=%s", log_qs(why),
		 log_qs("stopped acting; standing again"));
}

static void on_elected(void *arg)
{
	struct coord *c = arg;
	log_info("leadership_won", "id=%s", log_qs(c->webui));
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
	if (!c->leading)
		log_info("leader", "id=%s", log_qs(id ? id : "(unknown)"));
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
		log_info("signal", "signo=%u action=stop", si.ssi_signo);
		c->stopping = true;
		ev_stop(loop);
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

/* Only 127.0.0.0/8, ::1 and localhost: nothing else on the network can
 * reach the listener. */
static bool listener_loopback(const char *addr)
{
	if (!addr)
		return false;
	if (strncmp(addr, "[::1]:", 6) == 0 || strncmp(addr, "localhost:", 10) == 0)
		return true;
	if (strncmp(addr, "127.", 4) != 0)
		return false;
	struct in_addr ia;
	char host[64];
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
	if (n >= sizeof host)
		return false;
	memcpy(host, addr, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, &ia) == 1;
}

int coord_auth_setup(const struct coord_config *cfg, struct auth **out, bool *open,
		     char *err, size_t errlen)
{
	struct auth_tokens t = { 0 };
	bool file = cfg->api_token_file && cfg->api_token_file[0];
	bool flag = cfg->api_token && cfg->api_token[0];
	*out = NULL;
	*open = false;
	if (file && flag) {
		snprintf(err, errlen, "give --api-token-file or --api-token, not both");
		return 2;
	}
	if (file && auth_tokens_load(cfg->api_token_file, &t, err, errlen) != 0)
		return 2;
	if (flag && auth_tokens_single(cfg->api_token, &t, err, errlen) != 0)
		return 2;
	bool loopback = listener_loopback(cfg->http_listen);
	if (cfg->http_auth_read && t.n == 0) {
		snprintf(err, errlen, "--http-auth-read needs tokens: give --api-token-file");
		return 2;
	}
	if (t.n == 0 && !loopback && !cfg->http_insecure) {
		snprintf(err, errlen,
			 "the REST API on %s is reachable from other hosts and no token is "
			 "configured, so anyone could change the cluster: give --api-token-file "
			 "FILE, listen on 127.0.0.1, or pass --http-insecure to run it open anyway",
			 cfg->http_listen ? cfg->http_listen : "(none)");
		return 2;
	}
	*open = t.n == 0 && !loopback;
	*out = auth_new();
	auth_set_read_auth(*out, cfg->http_auth_read);
	auth_set_tokens(*out, &t);
	return 0;
}

/* Tokens and the open-listener rule; 0, or 2 with the reason logged. */
static int setup_auth(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512];
	if (coord_auth_setup(cfg, &c->auth, &c->http_open, err, sizeof err) != 0) {
		log_error("config_invalid", "error=%s", log_qs(err));
		return 2;
	}
	if (cfg->api_token && cfg->api_token[0])
		log_warn("api_token_visible", "why=%s",
			 log_qs("--api-token (and QUOBYTE_MESOS_API_TOKEN) can be read by other "
				"users in ps and /proc; use --api-token-file"));
	log_info("http_auth", "tokens=%zu auth_read=%s listen=%s open=%s",
		 auth_ntokens(c->auth), cfg->http_auth_read ? "true" : "false",
		 log_qs(cfg->http_listen), c->http_open ? "true" : "false");
	return 0;
}

/* "name=value" -> plan_attr; false when malformed. */
static bool split_attr(struct coord *c, const char *text, struct plan_attr *out, int slot)
{
	if (!text || !text[0])
		return true;
	const char *eq = strchr(text, '=');
	if (!eq || eq == text)
		return false;
	c->restr_buf[slot] = qm_strdup(text);
	c->restr_buf[slot][eq - text] = '\0';
	out->name = c->restr_buf[slot];
	out->value = c->restr_buf[slot] + (eq - text) + 1;
	return true;
}

static int load_secret(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	char path[4096];
	if (cfg->secret_file && cfg->secret_file[0]) {
		snprintf(path, sizeof path, "%s", cfg->secret_file);
	} else {
		if (!cfg->state_dir || !cfg->state_dir[0]) {
			snprintf(err, errlen, "--secret-file is needed when there is no --state-dir");
			return QM_EINVAL;
		}
		snprintf(path, sizeof path, "%s/bus.secret", cfg->state_dir);
		if (access(path, F_OK) != 0) {
			/* first start: make a cluster secret */
			uint8_t raw[32];
			char hex[65];
			if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
				snprintf(err, errlen, "getrandom: %s", strerror(errno));
				return QM_EIO;
			}
			crypto_hex_encode(raw, sizeof raw, hex);
			char tmp[4200];
			snprintf(tmp, sizeof tmp, "%s.tmp", path);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 ||
			    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
				snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
				if (fd >= 0)
					close(fd);
				return QM_EIO;
			}
			memset(raw, 0, sizeof raw);
			memset(hex, 0, sizeof hex);
			log_info("bus_secret_created", "path=%s", log_qs(path));
		}
	}
	int rv = bus_secret_load(path, &c->secret, &c->secretlen);
	if (rv != 0) {
		snprintf(err, errlen, "bus secret %.300s: %s", path,
			 rv == QM_EINVAL ? "must hold 16 to 4096 bytes" : strerror(errno));
		return rv;
	}
	return 0;
}

/* tcp://0.0.0.0:7001 -> tcp://<hostname>:7001 */
static char *advertise_url(const char *listen, const char *host)
{
	const char *p = strstr(listen, "://");
	if (!p)
		return qm_strdup(listen);
	const char *hs = p + 3;
	const char *colon = strrchr(hs, ':');
	if (!colon)
		return qm_strdup(listen);
	size_t hl = (size_t)(colon - hs);
	bool wildcard = hl == 0 || (hl == 7 && strncmp(hs, "0.0.0.0", 7) == 0) ||
			(hl == 1 && hs[0] == '*') || (hl == 4 && strncmp(hs, "[::]", 4) == 0);
	if (!wildcard)
		return qm_strdup(listen);
	size_t n = (size_t)(hs - listen) + strlen(host) + strlen(colon) + 1;
	char *u = qm_malloc(n);
	snprintf(u, n, "%.*s%s%s", (int)(hs - listen), listen, host, colon);
	return u;
}

static int setup_taskspec(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	taskspec_config_defaults(&c->ts);
	if (cfg->image && cfg->image[0])
		c->ts.image = cfg->image;
	if (cfg->client_mount_point && cfg->client_mount_point[0])
		c->ts.client_mount_point = cfg->client_mount_point;
	if (cfg->prober_command && cfg->prober_command[0]) {
		c->ts.prober_mode = TASKSPEC_PROBER_COMMAND;
		c->ts.prober_command = cfg->prober_command;
	} else if (cfg->prober_uri && cfg->prober_uri[0]) {
		c->ts.prober_mode = TASKSPEC_PROBER_FETCH;
		c->ts.prober_uri = cfg->prober_uri;
	} else {
		c->ts.prober_mode = TASKSPEC_PROBER_DOCKER;
		c->ts.prober_image = cfg->prober_image;
		if (cfg->prober_host_root && cfg->prober_host_root[0])
			c->ts.prober_host_root = cfg->prober_host_root;
	}
	int rv = taskspec_parse_resources(cfg->service_resources, &c->ts, err, errlen);
	if (rv != 0)
		return rv;
	return taskspec_config_validate(&c->ts, err, errlen);
}

static int setup_plan(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	plan_config_init(&c->pc);
	c->pc.api_count = (unsigned)cfg->api_count;
	c->pc.webconsole_count = (unsigned)cfg->webconsole_count;
	c->pc.client_enabled = cfg->client_enabled;
	c->pc.removal_grace_ms = cfg->removal_grace;
	/* every service the task builder gives a health check is gated on it
	 * (API and webconsole: TCP on their main port) */
	c->pc.health_checked |= 1u << SERVICE_API | 1u << SERVICE_WEBCONSOLE;
	c->pc.backoff_base_ms = cfg->backoff_base;
	c->pc.backoff_max_ms = cfg->backoff_max;
	c->pc.prober_stale_ms = cfg->prober_stale;
	if (!split_attr(c, cfg->api_attribute, &c->pc.api_restriction, 0) ||
	    !split_attr(c, cfg->api_attribute, &c->pc.webconsole_restriction, 1)) {
		snprintf(err, errlen, "--api-attribute must be name=value");
		return QM_EINVAL;
	}
	if (!split_attr(c, cfg->prober_attribute, &c->pc.prober_restriction, 2)) {
		snprintf(err, errlen, "--prober-attribute must be name=value");
		return QM_EINVAL;
	}
	const char *cur = cfg->prober_hostnames;
	char item[TASKSPEC_HOSTNAME_MAX + 2];
	while (config_list_next(&cur, item, sizeof item)) {
		c->prober_hosts = qm_realloc(c->prober_hosts,
					     (c->nprober_hosts + 1) * sizeof *c->prober_hosts);
		c->prober_hosts[c->nprober_hosts++] = qm_strdup(item);
	}
	c->pc.prober_hosts = (const char *const *)c->prober_hosts;
	c->pc.n_prober_hosts = c->nprober_hosts;
	return 0;
}

static void coord_free(struct coord *c)
{
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
	if (c->loop)
		ev_loop_free(c->loop);
	store_close(c->store);
	store_state_fini(&c->st);
	cJSON_Delete(c->retry_calls);
	nodes_fini(&c->nodes);
	agents_fini(c);
	for (size_t i = 0; i < c->nprober_hosts; i++)
		free(c->prober_hosts[i]);
	free(c->prober_hosts);
	for (size_t i = 0; i < 4; i++)
		free(c->restr_buf[i]);
	plan_output_free(&c->last);
	if (c->secret) {
		memset(c->secret, 0, c->secretlen);
		free(c->secret);
	}
	free(c->bus_url);
	free(c->hostname);
	free(c->webui);
	free(c->prober_uri);
}

/* Every cJSON allocation follows the out-of-memory policy (qm_error.h):
 * qm_malloc() aborts through qm_oom() instead of returning NULL, so the
 * cJSON_Create and cJSON_Add calls here and in the Mesos client need no
 * check. cJSON_Parse still returns NULL for malformed input: those checks
 * stay. Process-wide; set once, before the first cJSON call. */
static void setup_cjson_oom(void)
{
	cJSON_Hooks hooks = { .malloc_fn = qm_malloc, .free_fn = free };
	cJSON_InitHooks(&hooks);
}

int coord_run(const struct coord_config *cfg)
{
	setup_cjson_oom();
	struct coord cs;
	struct coord *c = &cs;
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->sigfd = -1;
	store_state_init(&c->st);
	nodes_init(&c->nodes);
	agents_init(c);
	char err[512] = "";
	int rc = 1;

	/* Block the stop signals before any library starts threads (the
	 * ZooKeeper client does in store_open): a thread with them unblocked
	 * would take SIGTERM and the process would die without resigning. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP); /* re-read the token file */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	char host[256] = "localhost";
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	c->hostname = qm_strdup(host);

	if (setup_taskspec(c, err, sizeof err) != 0 || setup_plan(c, err, sizeof err) != 0) {
		log_error("config_invalid", "error=%s", log_qs(err));
		coord_free(c);
		return 2;
	}
	if (setup_auth(c) != 0) {
		coord_free(c);
		return 2;
	}

	const char *store_url = cfg->zk && cfg->zk[0] ? cfg->zk : cfg->state_dir;
	if (cfg->zk && cfg->zk[0]) {
		struct zk_opts zo = { .session_timeout_ms = (int)cfg->zk_session_timeout };
		c->store = store_zk_open(store_url, &zo, err, sizeof err);
	} else {
		c->store = store_open(store_url, err, sizeof err);
	}
	if (!c->store) {
		log_error("store_open_failed", "location=%s error=%s", log_qs(store_url),
			  log_qs(err));
		goto out;
	}
	/* The file store is read now: a broken state must stop the start-up.
	 * The ZooKeeper store is read when this coordinator is elected. */
	if (!(cfg->zk && cfg->zk[0]) && load_state(c) != 0)
		goto out;

	if (load_secret(c, err, sizeof err) != 0) {
		log_error("bus_secret_failed", "error=%s", log_qs(err));
		goto out;
	}
	c->bus_url = cfg->bus_advertise && cfg->bus_advertise[0]
			     ? qm_strdup(cfg->bus_advertise)
			     : advertise_url(cfg->bus_listen, c->hostname);

	c->loop = ev_loop_new();
	if (!c->loop) {
		log_error("loop_failed", "error=%s", log_qs(strerror(errno)));
		goto out;
	}
	c->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0 || ev_fd_add(c->loop, c->sigfd, EV_READ, on_signal, c) != 0) {
		log_error("signalfd_failed", "error=%s", log_qs(strerror(errno)));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	int herr = 0;
	c->http = http_server_new(c->loop, cfg->http_listen, rest_routes, rest_nroutes, c,
				  &herr);
	if (!c->http) {
		log_error("http_listen_failed", "address=%s error=%s", log_qs(cfg->http_listen),
			  qm_strerror(herr));
		goto out;
	}
	http_server_set_auth(c->http, c->auth);
	http_server_set_audit(c->http, rest_on_audit, c);
	if (c->http_open)
		warn_insecure(c->loop, c);
	{
		size_t n = strlen(c->hostname) + 32;
		c->webui = qm_malloc(n);
		snprintf(c->webui, n, "http://%s:%u/", c->hostname,
			 (unsigned)http_server_port(c->http));
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
			rc = 2;
			goto out;
		}
	}

	char *mesos_secret = NULL;
	if (cfg->principal && cfg->principal[0] && cfg->mesos_secret_file &&
	    cfg->mesos_secret_file[0]) {
		uint8_t *s = NULL;
		size_t sl = 0;
		if (bus_secret_load(cfg->mesos_secret_file, &s, &sl) != 0 &&
		    (!s || sl == 0)) {
			/* shorter than a bus secret is fine for Mesos: read it plainly */
			FILE *f = fopen(cfg->mesos_secret_file, "re");
			char line[1024] = "";
			if (!f || !fgets(line, sizeof line, f)) {
				log_error("mesos_secret_failed", "path=%s error=%s",
					  log_qs(cfg->mesos_secret_file), log_qs(strerror(errno)));
				if (f)
					fclose(f);
				goto out;
			}
			fclose(f);
			line[strcspn(line, "\r\n")] = '\0';
			mesos_secret = qm_strdup(line);
			memset(line, 0, sizeof line);
		} else {
			mesos_secret = qm_strndup((const char *)s, sl);
			memset(s, 0, sl);
			free(s);
		}
	}
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
		goto out;
	}
	log_info("coordinator_start",
		 "version=%s master=%s rest=%s:%u bus_listen=%s bus_url=%s prober=%s",
		 QM_VERSION_STRING, log_qs(cfg->master), log_qs(c->hostname),
		 (unsigned)http_server_port(c->http), log_qs(cfg->bus_listen),
		 log_qs(c->bus_url),
		 c->ts.prober_mode == TASKSPEC_PROBER_COMMAND ? "command"
		 : c->ts.prober_mode == TASKSPEC_PROBER_FETCH ? "fetch" : "docker");
	if (cfg->zk && cfg->zk[0]) {
		struct leader_cbs lc = {
			.elected = on_elected,
			.lost = on_lost,
			.leader_changed = on_leader_changed,
		};
		if (leader_new(c->loop, store_zk_conn(c->store), c->webui, &lc, c, &c->leader, err,
			       sizeof err) != 0) {
			log_error("election_failed", "error=%s", log_qs(err));
			goto out;
		}
		log_info("election_standing", "zk=%s id=%s", log_qs(store_location(c->store)),
			 log_qs(c->webui));
		c->zk_timer = ev_timer_add(c->loop, 5000, zk_tick, c);
	} else if (start_acting(c) != 0) {
		goto out;
	}
	events_start_timers(c);

	if (ev_run(c->loop) != 0)
		log_error("loop_failed", "error=%s", "epoll_wait failed");
	rc = c->exit_code;
	log_info("coordinator_stopped", "exit=%d", rc);
out:
	coord_free(c);
	return rc;
}
