/* One planning cycle (coord_plan): the shell turns what it knows -- agents,
 * prober inventories, tasks in the store, failure history -- into a
 * plan_input, lets the pure planner decide (core/plan.h), and carries the
 * actions out: KILLs at once, LAUNCHes into the offers at hand (recorded in
 * the store before the ACCEPT), REVIVE when launches wait for offers,
 * SUPPRESS when nothing does. Every offer handed in is answered (ACCEPT or
 * DECLINE): before coord_plan returns, or, when its launches wait for a
 * later slice (struct carry), in one of the next loop iterations. Runs on
 * the loop thread (coord_priv.h). */
#include "shell/coord_priv.h"

#include "bus.h"
#include "config.h"
#include "core/launch.h"
#include "core/rsv.h"
#include "jarena.h"
#include "jtext.h"
#include "mac.h"
#include "log.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void replan_cb(struct ev_loop *loop, void *arg);

static uint64_t random64(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
	return r;
}

/* A costly plan is not followed by the next one at once: a replan asked
 * for within REPLAN_SPACING times the last plan's cost after it ended waits
 * for that time, and whatever else arrives meanwhile is planned with it.
 * Without it, 10,000 probers reporting after a start ran 1,251 whole plans
 * of ~24 ms for 10,000 snapshots (30 s of CPU, the loop busy throughout;
 * offer_cycle.py --agents 10000). Plans are at most a quarter of the loop's
 * time then, and a change waits at most 3 plans' time (~75 ms at 10,000
 * agents); below REPLAN_DEFER_MIN_MS (every small cluster) nothing waits.
 * The cost is the plan's own: the state's save within it is not counted. */
#define REPLAN_SPACING 3
#define REPLAN_DEFER_MIN_MS 2

static void replan_timer_cb(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	c->replan_timer = 0;
	replan_cb(loop, arg);
}

void replan_soon(struct coord *c)
{
	if (c->replan_posted || c->stopping)
		return;
	c->replan_posted = true;
	uint64_t now = clock_mono_ms();
	uint64_t ready = c->plan_end_ms + REPLAN_SPACING * c->plan_cost_ms;
	if (c->plan_cost_ms >= REPLAN_DEFER_MIN_MS && now < ready) {
		c->replan_timer = ev_timer_add(c->loop, ready - now, replan_timer_cb, c);
		c->n.replans_deferred++;
		return;
	}
	ev_post(c->loop, replan_cb, c);
}

void replan_cancel(struct coord *c)
{
	if (!c->replan_timer)
		return;
	ev_timer_cancel(c->loop, c->replan_timer);
	c->replan_timer = 0;
	c->replan_posted = false;
}

static void replan_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->replan_posted = false;
	if (!c->stopping)
		coord_plan(c, NULL, 0);
}

#define WAKE_MAX_MS (24LL * 3600 * 1000)

static void wake_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->wake_timer = 0;
	c->wake_at = 0;
	replan_soon(c);
}

/* Replan within ms (an earlier wake stands). A wake further out than a
 * day is armed for a day, whose replan arms the rest: wall_ms() + ms cannot
 * overflow whatever the planner asks for (an open-ended maintenance window
 * asked for the end of time, and the sum wrapped: wake_at went negative and
 * every later, earlier wake was dropped as "an earlier wake stands"). */
void wake_in(struct coord *c, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > WAKE_MAX_MS)
		ms = WAKE_MAX_MS;
	int64_t at = wall_ms() + ms;
	if (c->wake_timer && c->wake_at <= at)
		return;
	if (c->wake_timer)
		ev_timer_cancel(c->loop, c->wake_timer);
	c->wake_at = at;
	c->wake_timer = ev_timer_add(c->loop, ms > 0 ? (uint64_t)ms : 0, wake_cb, c);
}

static void fill_report(struct coord *c, struct agent *a, struct plan_report *r)
{
	memset(r, 0, sizeof *r);
	const struct nodes_node *n = nodes_find_cached(&c->nodes, a->id, &a->node_ix,
						       &a->node_layout);
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
		const struct nodes_device *d = &n->devices[i];
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
		const char *cur = store_task_mounts(t);
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

/* A launched prober dials the bus with the files the operator placed on
 * every agent (--prober-bus-tls-*); main.c made sure a tls+tcp:// bus has
 * at least the CA. Returns how many of args[0..8) are set. */
static size_t prober_tls_args(const struct coord_config *cfg, const char *args[8])
{
	const char *const flags[] = {"--bus-tls-ca", "--bus-tls-cert", "--bus-tls-key",
				     "--bus-tls-server-name"};
	const char *const paths[] = {cfg->prober_bus_tls_ca, cfg->prober_bus_tls_cert,
				     cfg->prober_bus_tls_key, cfg->prober_bus_tls_server_name};
	size_t n = 0;
	for (size_t i = 0; i < 4; i++) {
		if (paths[i] && paths[i][0]) {
			args[n++] = flags[i];
			args[n++] = paths[i];
		}
	}
	return n;
}

/* The offers' operations of one cycle, per offer. */
struct offer_ops {
	cJSON *unreserve; /* UNRESERVE operations (operator-requested releases) */
	cJSON *reserve;   /* resources to RESERVE before the launches */
	cJSON *launch;    /* array of TaskInfo */
	bool no_fit;      /* a pending launch did not fit: ask again soon */
};

/* Reserve what the fit took unreserved for (service, agent): the RESERVE's
 * resources join ops->reserve and the reservation is recorded (saved with
 * the launch, before the ACCEPT). false when the reservation cannot be
 * expressed (logged): the launch is then not made. */
static bool reserve_fit(struct coord *c, enum service s, const struct taskspec_offer *o,
			struct taskspec_fit *fit, struct offer_ops *ops)
{
	cJSON *labels = rsv_labels(c->cfg->framework_name, s);
	cJSON *reserve = NULL;
	int rv = taskspec_fit_reserve(fit, c->cfg->role, c->cfg->principal, labels, &reserve);
	cJSON_Delete(labels);
	if (rv != 0) {
		log_error("reserve_failed", "service=%s agent_id=%s role=%s", service_name(s),
			  log_qs(o->agent_id), log_qs(c->cfg->role));
		return false;
	}
	if (!reserve) {
		/* all of it runs on what is reserved already */
		if (!sti_reservation(&c->sti, &c->st, service_name(s), o->agent_id, false))
			rsv_note_reserve(c, s, o->agent_id, o->hostname, NULL, fit);
		return true;
	}
	rsv_note_reserve(c, s, o->agent_id, o->hostname, reserve, fit);
	if (!ops->reserve)
		ops->reserve = cJSON_CreateArray();
	cJSON *e;
	while ((e = cJSON_DetachItemFromArray(reserve, 0)))
		cJSON_AddItemToArray(ops->reserve, e);
	cJSON_Delete(reserve);
	return true;
}

/* Build one launch into offer o. Returns the TaskInfo (and records the task
 * in c->st) or NULL with the reason logged. */
/* marker->LAUNCH: the newest change of a usable device of the service's
 * type on the node (the prober's changed_unix_ms), counted once per change
 * and only for changes seen while this coordinator leads. */
static void note_marker_launch(struct coord *c, const char *agent_id, enum service s)
{
	const struct nodes_node *n = nodes_find(&c->nodes, agent_id);
	struct agent *ag = agent_find(c, agent_id);
	if (!n || !ag || s > SERVICE_DATA)
		return;
	uint64_t newest = 0;
	for (size_t i = 0; i < n->ndevices; i++) {
		const struct nodes_device *d = &n->devices[i];
		if (!nodes_device_usable(d) || !d->has_changed_unix_ms)
			continue;
		for (size_t t = 0; t < d->n_types; t++)
			if ((int)d->types[t] == (int)s + 1 && d->changed_unix_ms > newest)
				newest = d->changed_unix_ms; /* DeviceType = service + 1 */
	}
	if (!newest || newest <= ag->marker_counted_ms[s] ||
	    (int64_t)newest < c->acting_since_ms)
		return;
	ag->marker_counted_ms[s] = newest;
	int64_t now = wall_ms();
	metrics_hist_observe_ms(&c->metrics.marker_launch,
				now > (int64_t)newest ? (uint64_t)(now - (int64_t)newest) : 0);
}

static cJSON *build_launch(struct coord *c, const struct plan_action *a,
			   struct taskspec_offer *o, struct offer_ops *ops)
{
	enum service s = (enum service)a->service;
	const char *dirs[TASKSPEC_MAX_DEVICE_DIRS];
	size_t nd = device_dirs(c, o->agent_id, s, dirs, TASKSPEC_MAX_DEVICE_DIRS);
	struct taskspec_request req;
	taskspec_request_for(&c->ts, s, &req);
	req.rsv_framework = c->cfg->framework_name;
	req.mount_roots = dirs;
	req.n_mount_roots = nd;
	struct taskspec_fit fit;
	if (!taskspec_offer_take(o, &req, &fit)) {
		ops->no_fit = true;
		wait_set(c, o->agent_id, o->hostname, s, fit.reason);
		taskspec_fit_fini(&fit);
		return NULL;
	}
	if (a->reserve && !reserve_fit(c, s, o, &fit, ops)) {
		taskspec_fit_fini(&fit);
		return NULL;
	}
	struct store_task t;
	memset(&t, 0, sizeof t);
	char mtext[STORE_MOUNTS_MAX + 1] = ""; /* t.mounts: the state keeps a copy */
	t.mounts = mtext;
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
		mac_hex_encode(cred, sizeof cred, hex);
		struct agent *ag = agent_find(c, o->agent_id);
		const char *roots = agent_attr(ag, ATTR_DEVICE_ROOTS);
		const char *args[8];
		size_t nargs = prober_tls_args(c->cfg, args);
		struct taskspec_prober_params p = {
			.task_id = t.task_id,
			.agent_id = o->agent_id,
			.hostname = o->hostname,
			.coordinator_url = c->bus_url,
			.credential_hex = hex,
			.device_roots = roots ? roots : c->cfg->prober_device_roots,
			.device_dirs = c->cfg->prober_device_dirs,
			.client_mount_point = c->cfg->client_mount_point,
			.args = args,
			.nargs = nargs,
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
		const char *mounts[TASKSPEC_MAX_DEVICE_DIRS];
		char(*bufs)[TASKSPEC_PATH_MAX + 1] = qm_calloc(TASKSPEC_MAX_DEVICE_DIRS, sizeof *bufs);
		nd = service_mounts(c, o->agent_id, dirs, nd, bufs, mounts);
		if (s == SERVICE_REGISTRY || s == SERVICE_METADATA || s == SERVICE_DATA) {
			t.mounts_known = true;
			t.mounts_shared = c->ts.shared_propagation;
			for (size_t i = 0; i < nd; i++) {
				size_t used = strlen(mtext);
				snprintf(mtext + used, sizeof mtext - used, "%s%s", i ? "," : "",
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
	if (!sti_put_task(&c->sti, &c->st, &t)) {
		cJSON_Delete(ti);
		return NULL;
	}
	health_set(c, t.task_id, PLAN_HEALTH_UNKNOWN);
	wait_clear(c, o->agent_id, s);
	evlog_add(c->evlog, wall_ms(), EVLOG_LAUNCH, "launch %s on %s%s%s%s", t.service,
		  t.hostname[0] ? t.hostname : t.agent_id, t.version[0] ? ", version " : "",
		  t.version, a->reserve ? " (reserved)" : "");
	log_info("task_launch", "task_id=%s service=%s agent_id=%s hostname=%s version=%s%s",
		 log_qs(t.task_id), t.service, log_qs(t.agent_id), log_qs(t.hostname),
		 log_qs(t.version), a->reserve ? " reserved=true" : "");
	note_marker_launch(c, o->agent_id, s);
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

/* The planner's input, built from the state: the arrays are ours (freed by
 * input_free), the strings in them are borrowed from c. */
struct input {
	struct plan_input in;
	struct plan_agent *pa;
	struct plan_task *pt;
	char **reasons; /* per task, NULL for most: the few replace reasons */
	struct plan_history *ph;
	struct plan_reservation *pr;
	struct plan_inverse_offer *pi;
};

/* n zeroed elements of `size` in the kept array *p of *cap elements. */
static void *scratch(void *p, size_t *cap, size_t n, size_t size)
{
	if (n > *cap || !p) {
		size_t want = n > 16 ? n + n / 4 : 16;
		free(p);
		p = qm_calloc(want, size);
		*cap = want;
		return p;
	}
	memset(p, 0, n * size);
	return p;
}

static void input_agents(struct coord *c, struct input *ip)
{
	struct plan_agent *pa = c->plan_scratch.pa =
		scratch(c->plan_scratch.pa, &c->plan_scratch.agents_cap, c->nagents, sizeof *pa);
	for (size_t i = 0; i < c->nagents; i++) {
		struct agent *a = &c->agents[i];
		pa[i].agent_id = a->id;
		pa[i].hostname = a->hostname;
		pa[i].attrs = a->attrs;
		pa[i].n_attrs = a->nattrs;
		pa[i].active = a->active;
		pa[i].maint_start_ms = a->maint_start_ms;
		pa[i].maint_duration_ms = a->maint_duration_ms;
		pa[i].drained = store_state_drain_covering(&c->st, a->id, a->hostname) != NULL;
		fill_report(c, a, &pa[i].report);
	}
	ip->pa = pa;
	ip->in.agents = pa;
	ip->in.n_agents = c->nagents;
}

static void input_tasks(struct coord *c, struct input *ip)
{
	size_t nt = c->st.ntasks;
	struct plan_task *pt = c->plan_scratch.pt =
		scratch(c->plan_scratch.pt, &c->plan_scratch.tasks_cap, nt, sizeof *pt);
	/* pointers, not a 320-byte buffer per task: 3.2 MB to clear on every
	 * plan at 10,000 tasks, for the rare task that has a reason */
	char **reasons = c->plan_scratch.reasons =
		scratch(c->plan_scratch.reasons, &c->plan_scratch.reasons_cap, nt, sizeof *reasons);
	char why[320];
	for (size_t i = 0; i < c->st.ntasks; i++) {
		struct store_task *t = &c->st.tasks[i];
		pt[i].task_id = t->task_id;
		pt[i].service = task_service(t);
		pt[i].agent_id = t->agent_id;
		pt[i].version = t->version[0] ? t->version : NULL;
		pt[i].state = task_state(t);
		pt[i].health = health_at(c, i);
		pt[i].launched_ms = t->launched_ms;
		pt[i].kill_requested = t->kill_requested;
		pt[i].unwanted_since_ms = t->unwanted_since_ms;
		if (replace_reason(c, t, why, sizeof why))
			reasons[i] = qm_strdup(why);
		pt[i].replace_reason = reasons[i];
	}
	ip->pt = pt;
	ip->reasons = reasons;
	ip->in.tasks = pt;
	ip->in.n_tasks = c->st.ntasks;
}

static int cmp_agent_at(const void *a, const void *b, void *arg)
{
	const struct agent *ag = arg;
	return strcmp(ag[*(const size_t *)a].id, ag[*(const size_t *)b].id);
}

static int cmp_task_at(const void *a, const void *b, void *arg)
{
	const struct store_task *t = arg;
	return strcmp(t[*(const size_t *)a].task_id, t[*(const size_t *)b].task_id);
}

/* *ord: indices 0..n-1 sorted with cmp (of arg). */
static void sort_indices(size_t **ord, size_t n, int (*cmp)(const void *, const void *, void *),
			 void *arg)
{
	*ord = qm_realloc(*ord, (n ? n : 1) * sizeof **ord);
	for (size_t i = 0; i < n; i++)
		(*ord)[i] = i;
	qsort_r(*ord, n, sizeof **ord, cmp, arg);
}

/* The plan's hints (plan_input.agent_order, task_order, task_agent):
 * made again only when agents or tasks came or went (agents_gen,
 * store_state.gen), which in offer cycles they seldom do; the plan checks
 * them and sorts itself when they are wrong. */
static void input_orders(struct coord *c, struct input *ip)
{
	struct plan_scratch *s = &c->plan_scratch;
	uint64_t ag = c->agents_gen + 1, tg = c->st.gen + 1;
	if (s->agent_order_of != ag) {
		sort_indices(&s->agent_order, c->nagents, cmp_agent_at, c->agents);
		s->agent_order_of = ag;
	}
	if (s->task_order_of != tg) {
		sort_indices(&s->task_order, c->st.ntasks, cmp_task_at, c->st.tasks);
		s->task_order_of = tg;
	}
	if (s->task_agent_of_agents != ag || s->task_agent_of_tasks != tg) {
		size_t nt = c->st.ntasks;
		s->task_agent = qm_realloc(s->task_agent, (nt ? nt : 1) * sizeof *s->task_agent);
		for (size_t i = 0; i < nt; i++) {
			size_t at;
			s->task_agent[i] = strmap_get(&c->agent_idx, c->st.tasks[i].agent_id, &at)
						   ? at
						   : SIZE_MAX;
		}
		s->task_agent_of_agents = ag;
		s->task_agent_of_tasks = tg;
	}
	ip->in.agent_order = s->agent_order;
	ip->in.task_order = s->task_order;
	ip->in.task_agent = s->task_agent;
}

static void input_history(struct coord *c, struct input *ip)
{
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
	ip->ph = ph;
	ip->in.history = ph;
	ip->in.n_history = nh;
}

static void input_reservations(struct coord *c, struct input *ip)
{
	size_t n = c->st.nreservations;
	struct plan_reservation *pr = qm_calloc(n ? n : 1, sizeof *pr);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct store_reservation *v = &c->st.reservations[i];
		if (service_parse(v->service, &pr[k].service) != 0)
			continue;
		pr[k].agent_id = v->agent_id;
		pr[k].release_requested = v->release_requested;
		k++;
	}
	ip->pr = pr;
	ip->in.reservations = pr;
	ip->in.n_reservations = k;
	struct plan_inverse_offer *pi = qm_calloc(c->ninverses ? c->ninverses : 1, sizeof *pi);
	for (size_t i = 0; i < c->ninverses; i++) {
		pi[i].id = c->inverses[i].id;
		pi[i].agent_id = c->inverses[i].agent_id;
	}
	ip->pi = pi;
	ip->in.inverse_offers = pi;
	ip->in.n_inverse_offers = c->ninverses;
}

static void input_build(struct coord *c, int64_t now, struct input *ip)
{
	memset(ip, 0, sizeof *ip);
	ip->in.now_ms = now;
	ip->in.target_version = c->st.target_version;
	ip->in.config = c->pc;
	ip->in.config.rollout_paused = c->st.rollout_paused;
	input_agents(c, ip);
	input_tasks(c, ip);
	input_orders(c, ip);
	input_history(c, ip);
	input_reservations(c, ip);
}

/* The per-agent and per-task arrays stay (c->plan_scratch). */
static void input_free(struct input *ip)
{
	for (size_t i = 0; ip->reasons && i < ip->in.n_tasks; i++)
		free(ip->reasons[i]);
	free(ip->ph);
	free(ip->pr);
	free(ip->pi);
}

/* Declines gathered by filter: one DECLINE call carries every offer that
 * gets the same refuse_seconds. The v1 Decline message takes a repeated
 * offer_ids (include/mesos/v1/scheduler/scheduler.proto, 1.4.0 .. 1.11.0:
 * "repeated OfferID offer_ids = 1; optional Filters filters = 2;") and the
 * master discards each named offer with the call's filters, ignoring ids no
 * longer valid (Master::decline, src/master/master.cpp, 1.4.0 .. 1.11.0);
 * unlike ACCEPT, nothing asks the offers to share an agent. At 10,000
 * agents this is one HTTP call per cycle instead of 10,000. A call carries
 * at most DECLINE_IDS_MAX ids (~70 bytes each), so a body stays under
 * about 300 KiB however large the OFFERS event was. */
static void decline_flush_one(struct coord *c, struct declines *d, size_t i)
{
	struct jtext *ids = &d->v[i].ids;
	if (d->v[i].n > 0) {
		jtext_ch(ids, ']');
		/* the ids as text, not a tree of DECLINE_IDS_MAX objects */
		cJSON *raw = cJSON_CreateRaw(ids->buf);
		if (!raw)
			qm_oom();
		(void)mesos_send(c->mc, mesos_call_decline(raw, d->v[i].refuse));
	}
	free(ids->buf);
	memset(ids, 0, sizeof *ids);
	d->v[i].n = 0;
}

void decline_add(struct coord *c, struct declines *d, const char *offer_id, double refuse)
{
	size_t i = 0;
	while (i < d->n && d->v[i].refuse != refuse)
		i++;
	if (i == d->n) {
		if (d->n == DECLINE_FILTERS) { /* never today: reuse the last slot */
			i = --d->n;
			decline_flush_one(c, d, i);
		}
		d->v[i].refuse = refuse;
		d->v[i].n = 0;
		memset(&d->v[i].ids, 0, sizeof d->v[i].ids);
		d->n++;
	}
	/* an OfferID: {"value": id} */
	jtext_raw(&d->v[i].ids, d->v[i].n ? ",{\"value\":" : "[{\"value\":", 10);
	jtext_str(&d->v[i].ids, offer_id);
	jtext_ch(&d->v[i].ids, '}');
	c->n.declined++;
	if (++d->v[i].n == DECLINE_IDS_MAX)
		decline_flush_one(c, d, i);
}

/* Send what was gathered, in the order the filters first appeared. */
void declines_send(struct coord *c, struct declines *d)
{
	for (size_t i = 0; i < d->n; i++)
		decline_flush_one(c, d, i);
	d->n = 0;
}

/* The plan failed: answer the offers anyway, never hoard. */
static void decline_all(struct coord *c, struct taskspec_offer *offers, size_t noffers)
{
	struct declines d = {.n = 0};
	for (size_t i = 0; i < noffers; i++)
		decline_add(c, &d, offers[i].id, SHORT_REFUSE_S);
	declines_send(c, &d);
}

/* Take the planner's unwanted-since marks into the state; true if one
 * changed. */
static bool mark_unwanted(struct coord *c, const struct plan_output *out)
{
	bool dirty = false;
	/* tasks[] order is still c->st.tasks' order: no inserts happened yet */
	for (size_t i = 0; i < out->n_tasks && i < c->st.ntasks; i++) {
		if (c->st.tasks[i].unwanted_since_ms != out->unwanted_since_ms[i]) {
			c->st.tasks[i].unwanted_since_ms = out->unwanted_since_ms[i];
			dirty = true;
		}
	}
	return dirty;
}

/* Launches carried out in slices. Each launch costs ~30 us to build and
 * ~30 us more to save and send (offer_cycle.py --agents 10000): the plan
 * that launches 10,000 probers held the loop for 0.8 s, REST, the bus and
 * the master's stream with it. Now a cycle builds launches while the
 * slice, with the save and the ACCEPTs that follow, fits in --launch-slice
 * (slice_budget; its size learnt from the slices before: slice_learn); the
 * offers left over are kept (with their event's JSON: jarena_take) and
 * done the same way on the next loop iterations, one slice per iteration.
 * Their tasks are recorded in the state, and sent, slice by slice: a task
 * is still saved before its ACCEPT. Offers that get no launch are declined
 * in the first slice. No plan runs while slices are left (a replan waits
 * for the last slice; an OFFERS event first finishes them), so no plan
 * sees a launch that is decided but not yet in the state. */
struct carry_act {
	enum plan_action_type type; /* PLAN_LAUNCH, PLAN_LAUNCH_PROBER or PLAN_UNRESERVE */
	enum service service;
	char *version;
	bool reserve;
};

struct carry {
	struct taskspec_offer *offers; /* owned, with their JSON */
	struct carry_act **acts;       /* per offer */
	size_t *nacts;
	size_t n, next;                /* offers kept; the first not yet done */
	size_t failed;                 /* launches not made: plan again after */
	struct jarena *arena;          /* their event's JSON, or NULL (copied) */
	uint64_t gen;                  /* tells this carry from a later one */
	bool saving;                   /* a slice's asynchronous save is in flight */
	bool save_failed;              /* and failed: what is left is declined */
	uint64_t revives;              /* c->n.revives when its plan was made */
};

static bool slice_has_room(const struct coord *c, uint64_t t0, uint64_t budget_ms,
			   size_t done);

/* What one cycle does with the plan's actions before anything is sent. */
struct cycle {
	struct offer_ops *ops; /* one per offer */
	struct strmap by_agent; /* agent id -> its first offer (built when first asked) */
	bool indexed;
	uint64_t sig;          /* hash of the pending launches (REVIVE once per set) */
	size_t launched, pending, released;
	bool dirty;            /* the state changed: save before acting */
	/* slicing: per offer 0 = not met yet, 1 = done in this slice, else
	 * 2 + its index in held; the slice's time runs from t0 */
	size_t *slot;
	uint64_t t0, budget_ms;
	size_t slice_offers;           /* offers met and done in this slice */
	struct carry held;
	size_t held_launches, held_releases;
};

/* Mark the task of a KILL action (saved before the KILL is sent). */
static void mark_kill(struct coord *c, const struct plan_action *a, struct cycle *cy)
{
	struct store_task *t = sti_find_task(&c->sti, &c->st, a->task_id);
	if (!t || t->kill_requested || !mesos_subscribed(c->mc))
		return;
	log_info("task_kill", "task_id=%s service=%s agent_id=%s reason=%s detail=%s",
		 log_qs(t->task_id), t->service, log_qs(t->agent_id),
		 plan_kill_reason_name(a->kill_reason),
		 log_qs(a->reason ? a->reason : ""));
	t->kill_requested = true;
	cy->dirty = true;
	evlog_add(c->evlog, wall_ms(), EVLOG_KILL, "kill %s on %s: %s", t->service,
		  t->hostname[0] ? t->hostname : t->agent_id,
		  a->reason ? a->reason : plan_kill_reason_name(a->kill_reason));
}

/* The index of agent_id's first offer, or noffers. One look-up per action:
 * a scan of the offers for each was O(actions x offers), 10^8 string
 * compares in the plan that launches 10,000 probers. */
static size_t offer_of(struct cycle *cy, const struct taskspec_offer *offers, size_t noffers,
		       const char *agent_id)
{
	if (!cy->indexed) {
		for (size_t k = 0; k < noffers; k++)
			if (!strmap_get(&cy->by_agent, offers[k].agent_id, NULL))
				strmap_put(&cy->by_agent, offers[k].agent_id, k);
		cy->indexed = true;
	}
	size_t k;
	return strmap_get(&cy->by_agent, agent_id, &k) ? k : noffers;
}

/* Whether offer k's actions wait for a later slice: decided when the
 * offer is first met (in this slice while it has room: slice_has_room,
 * and always the first offer); a later one's action is kept in cy->held. */
static bool hold_for_later(const struct coord *c, struct cycle *cy, size_t k,
			   const struct plan_action *a)
{
	if (cy->slot[k] == 0) {
		bool now = slice_has_room(c, cy->t0, cy->budget_ms, cy->slice_offers);
		if (now) {
			cy->slot[k] = 1;
			cy->slice_offers++;
		} else {
			struct carry *h = &cy->held;
			if ((h->n & (h->n - 1)) == 0) { /* grow at powers of two */
				size_t cap = h->n ? 2 * h->n : 1;
				h->offers = qm_realloc(h->offers, cap * sizeof *h->offers);
				h->acts = qm_realloc(h->acts, cap * sizeof *h->acts);
				h->nacts = qm_realloc(h->nacts, cap * sizeof *h->nacts);
			}
			h->acts[h->n] = NULL;
			h->nacts[h->n] = 0;
			cy->slot[k] = 2 + h->n++;
		}
	}
	if (cy->slot[k] == 1)
		return false;
	size_t i = cy->slot[k] - 2;
	struct carry *h = &cy->held;
	if (a->type == PLAN_UNRESERVE)
		cy->held_releases++;
	else
		cy->held_launches++;
	h->acts[i] = qm_realloc(h->acts[i], (h->nacts[i] + 1) * sizeof *h->acts[i]);
	h->acts[i][h->nacts[i]++] = (struct carry_act){
		.type = a->type,
		.service = (enum service)a->service,
		.version = qm_strdup_or_null(a->version),
		.reserve = a->reserve,
	};
	return true;
}

/* Build a LAUNCH or LAUNCH_PROBER into offer o's operations, if it fits
 * (recorded in the state); true if it was made. */
static bool launch_into(struct coord *c, const struct plan_action *a, struct taskspec_offer *o,
			struct offer_ops *ops)
{
	cJSON *ti = build_launch(c, a, o, ops);
	if (!ti)
		return false;
	if (!ops->launch)
		ops->launch = cJSON_CreateArray();
	cJSON_AddItemToArray(ops->launch, ti);
	return true;
}

/* Place a LAUNCH or LAUNCH_PROBER into its agent's offer, if one is at
 * hand and it fits (recorded in the state), now or in a later slice. */
static void place_launch(struct coord *c, const struct plan_action *a,
			 struct taskspec_offer *offers, size_t noffers, struct cycle *cy)
{
	cy->pending++;
	struct wait *w = wait_find(c, a->agent_id, (enum service)a->service);
	if (w)
		w->seen = true;
	cy->sig = fnv(cy->sig, service_name(a->service));
	cy->sig = fnv(cy->sig, a->agent_id);
	size_t k = offer_of(cy, offers, noffers, a->agent_id);
	if (k == noffers || hold_for_later(c, cy, k, a))
		return;
	if (!launch_into(c, a, &offers[k], &cy->ops[k]))
		return;
	cy->launched++;
	cy->dirty = true;
}

/* Place an operator-requested release (PLAN_UNRESERVE) into its agent's
 * offer: every offered kind reserved with our labels for the service goes
 * into an UNRESERVE, and the reservation leaves the state (saved before the
 * ACCEPT). Without an offer carrying it, the release waits for one. If the
 * master drops the UNRESERVE, the next offer shows the reservation again
 * and it is recorded again as found: no retry loop, the operator decides
 * anew. */
static bool unreserve_into(struct coord *c, enum service s, struct taskspec_offer *o,
			   struct offer_ops *ops)
{
	cJSON *op = launch_unreserve_operation(o, c->cfg->framework_name, s);
	if (!op)
		return false;
	if (!ops->unreserve)
		ops->unreserve = cJSON_CreateArray();
	char sum[STORE_SUMMARY_MAX + 1];
	rsv_summary(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(op, "unreserve"), "resources"),
		    sum, sizeof sum);
	cJSON_AddItemToArray(ops->unreserve, op);
	store_state_remove_reservation(&c->st, service_name(s), o->agent_id);
	log_warn("reservation_released", "service=%s agent_id=%s hostname=%s resources=%s "
		 "reason=%s", service_name(s), log_qs(o->agent_id),
		 log_qs(o->hostname), log_qs(sum), log_qs("the operator asked for it"));
	evlog_add(c->evlog, wall_ms(), EVLOG_RESERVATION, "reservation of %s on %s released: %s",
		  service_name(s), o->hostname, sum);
	c->n.unreserves++;
	return true;
}

static void place_unreserve(struct coord *c, const struct plan_action *a,
			    struct taskspec_offer *offers, size_t noffers, struct cycle *cy)
{
	cy->pending++;
	cy->sig = fnv(cy->sig, "unreserve");
	cy->sig = fnv(cy->sig, a->agent_id);
	size_t k = offer_of(cy, offers, noffers, a->agent_id);
	if (k == noffers || hold_for_later(c, cy, k, a))
		return;
	if (!unreserve_into(c, (enum service)a->service, &offers[k], &cy->ops[k]))
		return;
	cy->launched++;
	cy->released++;
	cy->dirty = true;
}

/* Answer the inverse offers the plan judged (after the save: nothing to
 * persist, but nothing is sent before the state is). One that a plan whose
 * save is in flight will answer (inverse_answering) is answered only by
 * that plan's kept actions (kept). */
static void answer_inverses(struct coord *c, const struct plan_output *out, bool kept)
{
	for (size_t i = 0; i < out->n_actions; i++) {
		const struct plan_action *a = &out->actions[i];
		bool accept = a->type == PLAN_ACCEPT_INVERSE;
		if ((!accept && a->type != PLAN_DECLINE_INVERSE) || !a->inverse_offer_id)
			continue;
		if (!kept && inverse_is_answering(c, a->inverse_offer_id))
			continue;
		struct agent *ag = agent_find(c, a->agent_id);
		if (mesos_send(c->mc, accept ? mesos_call_accept_inverse(a->inverse_offer_id)
					     : mesos_call_decline_inverse(a->inverse_offer_id,
									  INVERSE_REFUSE_S)) != 0)
			continue;
		if (accept)
			c->n.inverse_accepted++;
		else
			c->n.inverse_declined++;
		if (ag) {
			char line[PLAN_PROBLEM_MAX + 16];
			snprintf(line, sizeof line, "%s: %s", accept ? "accepted" : "declined",
				 a->reason ? a->reason : "");
			free(ag->maint_answer);
			ag->maint_answer = qm_strdup(line);
		}
		log_info(accept ? "inverse_offer_accepted" : "inverse_offer_declined",
			 "inverse_offer_id=%s agent_id=%s hostname=%s reason=%s",
			 log_qs(a->inverse_offer_id), log_qs(a->agent_id),
			 log_qs(ag && ag->hostname ? ag->hostname : ""),
			 log_qs(a->reason ? a->reason : ""));
		inverse_remove(c, a->inverse_offer_id);
	}
}

static void send_kills(struct coord *c, const struct plan_output *out)
{
	for (size_t i = 0; i < out->n_actions; i++) {
		const struct plan_action *a = &out->actions[i];
		if (a->type != PLAN_KILL)
			continue;
		struct store_task *t = sti_find_task(&c->sti, &c->st, a->task_id);
		if (t && t->kill_requested)
			send_kill(c, t);
	}
}

/* The operations of one offer: [UNRESERVE...][RESERVE][LAUNCH] (§3.3:
 * run in order; the RESERVE before the LAUNCH that uses it). Takes the
 * parts; NULL when there is nothing to do. */
static cJSON *offer_operations(struct offer_ops *op)
{
	cJSON *ops = op->unreserve;
	op->unreserve = NULL;
	if (op->launch) {
		cJSON *rl = launch_operations_reserve(op->reserve, op->launch);
		if (!ops)
			ops = cJSON_CreateArray();
		cJSON *e;
		while ((e = cJSON_DetachItemFromArray(rl, 0)))
			cJSON_AddItemToArray(ops, e);
		cJSON_Delete(rl);
	} else {
		cJSON_Delete(op->reserve);
	}
	op->reserve = op->launch = NULL;
	return ops;
}

/* OFFERS -> this ACCEPT, with and without the disk's share. */
static void accept_latency(struct metrics_state *m)
{
	if (!m->offers_at_us)
		return;
	uint64_t now = clock_mono_us();
	uint64_t took = now > m->offers_at_us ? now - m->offers_at_us : 0;
	metrics_hist_observe_us(&m->offer_accept, took);
	metrics_hist_observe_us(&m->offer_accept_beyond_sync,
				took > m->offers_sync_us ? took - m->offers_sync_us : 0);
}

/* ACCEPT each offer that got operations (when they were saved), DECLINE
 * the rest -- reserved resources of ours not needed now included: they are
 * declined, never released. The ACCEPTs go first, one per offer (an ACCEPT
 * may only aggregate offers of one agent); the declines follow, gathered
 * into one call per filter (struct declines). Frees the ops. */
/* revives: c->n.revives when the plan behind these answers was made. A
 * REVIVE sent since (an inventory that came while the plan's save was in
 * flight wanted more) clears the master's filters when it arrives, but
 * these answers go on other connections and may arrive after it: a long
 * filter from them would then hide that agent's offers for an hour while
 * the coordinator, revived, waits for them (RepeatedKillRestartTest:
 * DECLINE refuse_seconds=3600 of agent2's offer 12 ms after the REVIVE
 * its inventory asked for). Their filters are short then. */
static void answer_offers(struct coord *c, struct taskspec_offer *offers, size_t noffers,
			  struct offer_ops *ops, bool saved, uint64_t revives)
{
	struct declines d = {.n = 0};
	bool revived_since = c->n.revives != revives;
	for (size_t k = 0; k < noffers; k++) {
		if (!offers[k].id)
			continue; /* kept for a later slice: emptied, no id */
		double refuse = ops[k].no_fit || revived_since
					? SHORT_REFUSE_S
					: (double)c->cfg->decline_seconds / 1000.0;
		int nl = cJSON_GetArraySize(ops[k].launch);
		cJSON *opv = offer_operations(&ops[k]);
		if (opv && saved) {
			cJSON *ids = cJSON_CreateArray();
			cJSON_AddItemToArray(ids, mesos_id(offers[k].id));
			(void)mesos_send(c->mc, mesos_call_accept(ids, opv, refuse));
			accept_latency(&c->metrics);
			c->n.accepted++;
			c->n.launches += (uint64_t)nl;
		} else {
			cJSON_Delete(opv);
			decline_add(c, &d, offers[k].id, refuse);
		}
	}
	declines_send(c, &d);
}

/* The save failed and nothing was launched: forget the tasks recorded for
 * it by reading the state again. */
void forget_unsaved(struct coord *c)
{
	c->reload_pending = false;
	struct store_state fresh;
	char err[256];
	uint64_t v;
	if (c->leader && !leader_is_leader(c->leader)) {
		/* ZooKeeper out of reach (or the lease ran out): a load would
		 * wait on the loop for the connection; stepping down drops the
		 * state in hand anyway, and the next term loads it */
		step_down_soon(c);
		return;
	}
	if (store_load(c->store, &fresh, &v, err, sizeof err) == 0) {
		store_state_fini(&c->st);
		c->st = fresh;
		c->st_version = v;
		/* updates taken in since the last save are gone with the state
		 * they changed: not acknowledged, the master sends them again */
		cJSON_Delete(c->held_acks);
		c->held_acks = NULL;
		c->updates_unsaved = false;
	} else {
		store_state_fini(&fresh);
		coord_fatal(c, "cannot save or reload the state");
	}
}

static void carry_free(struct carry *cr)
{
	for (size_t i = cr->next; i < cr->n; i++)
		taskspec_offer_free(&cr->offers[i]);
	for (size_t i = 0; i < cr->n; i++) {
		for (size_t j = 0; j < cr->nacts[i]; j++)
			free(cr->acts[i][j].version);
		free(cr->acts[i]);
	}
	free(cr->offers);
	free(cr->acts);
	free(cr->nacts);
	jarena_drop(cr->arena); /* after the offers that borrow from it */
	free(cr);
}

/* A slice's time for building launches; its save comes on top, and its
 * ACCEPTs follow in the next turn (carry_step; at 10,000 agents in the
 * file store: 20 ms of launches, a save of 1-16 ms, 10-22 ms of ACCEPTs;
 * offer_cycle.py --agents 10000). When a
 * save costs more than SLICE_SAVE_MAX_MS (ZooKeeper at that size: 0.3-0.6
 * s) every slice would pay one, and no iteration with a save stays short
 * anyway: the slices then last as long as a save, which leaves a few. */
#define SLICE_SAVE_MAX_MS 100

static uint64_t slice_budget(const struct coord *c)
{
	uint64_t b = (uint64_t)c->cfg->launch_slice;
	/* the cheaper of the last two saves: a single slow one (the file
	 * store's compaction, which writes the whole state: 100+ ms at
	 * 10,000 tasks) must not make the next slice as long as it was */
	uint64_t cost = c->save_cost_ms < c->save_cost_prev_ms ? c->save_cost_ms
								 : c->save_cost_prev_ms;
	return cost > SLICE_SAVE_MAX_MS ? cost : b;
}

/* Whether a slice that started at t0 and holds done offers takes one more:
 * the first always; then while building has lasted less than the budget
 * and, once measured, the slice holds fewer than slice_offers. */
static bool slice_has_room(const struct coord *c, uint64_t t0, uint64_t budget_ms,
			   size_t done)
{
	if (done == 0)
		return true;
	if (c->slice_offers && done >= c->slice_offers)
		return false;
	return clock_mono_ms() - t0 < budget_ms;
}

/* Size the next slices from one that took ms for n offers, building and
 * save together (and ACCEPTs, for a slice answered in its own turn): n
 * scaled to the budget, by at most a factor of 2
 * per slice and never under 16. At 10,000 agents the save and ACCEPTs were
 * as long again as a 20 ms build (slices of 45-110 ms); a per-offer
 * estimate of them shrank the slices without end once fixed costs (an
 * fdatasync) weighed in. Only where the save follows the change (the file
 * store): a ZooKeeper save writes the whole state whatever the slice
 * holds, and smaller slices only meant more of them (10,000 probers: 417
 * slices, 495 s); there, and for a save slower than SLICE_SAVE_MAX_MS, the
 * budget alone counts. */
static void slice_learn(struct coord *c, uint64_t ms, size_t n, uint64_t budget_ms)
{
	if (!c->store || !store_save_follows_change(c->store) ||
	    budget_ms > SLICE_SAVE_MAX_MS || budget_ms == 0 || n < 16) {
		c->slice_offers = 0;
		return;
	}
	size_t want = ms ? (size_t)((uint64_t)n * budget_ms / ms) : 2 * n;
	if (want > 2 * n)
		want = 2 * n;
	if (want < n / 2)
		want = n / 2;
	c->slice_offers = want < 16 ? 16 : want;
}

static bool save_timed(struct coord *c)
{
	uint64_t s0 = clock_mono_ms();
	bool saved = coord_save(c) == 0;
	if (saved)
		c->metrics.offers_sync_us += store_last_sync_us(c->store);
	c->save_cost_prev_ms = c->save_cost_ms;
	c->save_cost_ms = clock_mono_ms() - s0;
	c->plan_save_ms += c->save_cost_ms;
	return saved;
}

static void carry_timer_cb(struct ev_loop *loop, void *arg);

/* Drop the slices left; with decline, their offers are declined (while
 * subscribed: after a step-down the master takes them back itself). */
void carry_drop(struct coord *c, bool decline)
{
	struct carry *cr = c->carry;
	if (!cr)
		return;
	if (c->carry_timer)
		ev_timer_cancel(c->loop, c->carry_timer);
	c->carry_timer = 0;
	c->carry = NULL;
	c->replan_after_carry = false;
	if (decline && c->leading && mesos_subscribed(c->mc)) {
		struct declines d = {.n = 0};
		for (size_t i = cr->next; i < cr->n; i++)
			decline_add(c, &d, cr->offers[i].id, SHORT_REFUSE_S);
		declines_send(c, &d);
	}
	carry_free(cr);
}

/* A slice whose save is in flight (asynchronous saves): its offers,
 * moved out of the carry, and their operations, answered when the save
 * is. The carry, and the event's JSON with it, may be gone by then: their
 * ids and resources are their pool's (core/offer.h), which they keep, but
 * the resources' src still borrow from the JSON and are not read again. */
struct slice {
	uint64_t gen; /* of its carry (0: none) */
	uint64_t revives; /* c->n.revives when its plan was made (answer_offers) */
	struct taskspec_offer *offers;
	struct offer_ops *ops;
	size_t n;
	char **unsent; /* the ids of its launches (c->unsent) */
	size_t nunsent;
	/* a plan's first slice: its KILLs and inverse-offer answers, sent
	 * after the save as well (copies: the plan's output is gone by
	 * then) */
	struct plan_action *acts;
	size_t nacts;
};

/* The slice of offers[0..n) (moved in: the entries are emptied) with
 * their ops (taken). */
static struct slice *slice_make(uint64_t gen, struct taskspec_offer *offers,
				struct offer_ops *ops, size_t n)
{
	struct slice *sl = qm_calloc(1, sizeof *sl);
	sl->gen = gen;
	sl->n = n;
	sl->ops = ops;
	sl->offers = qm_calloc(n ? n : 1, sizeof *sl->offers);
	if (n) {
		memcpy(sl->offers, offers, n * sizeof *sl->offers);
		memset(offers, 0, n * sizeof *offers); /* emptied */
	}
	/* the slice may be answered after its carry is gone, and the event's
	 * JSON with it (a carry finished by a later OFFERS event while this
	 * save is in flight): it is answered by id, and its ids are the
	 * offers' pool's, which it keeps alive */
	for (size_t k = 0; k < n; k++)
		sl->offers[k].unavailability = NULL;
	return sl;
}

/* Keep the plan's KILLs and inverse-offer answers for after the save;
 * until then no other plan answers those inverse offers. */
static void slice_keep_acts(struct coord *c, struct slice *sl, const struct plan_output *out)
{
	for (size_t i = 0; i < out->n_actions; i++) {
		const struct plan_action *a = &out->actions[i];
		if (a->type != PLAN_KILL && a->type != PLAN_ACCEPT_INVERSE &&
		    a->type != PLAN_DECLINE_INVERSE)
			continue;
		if (a->inverse_offer_id && inverse_is_answering(c, a->inverse_offer_id))
			continue; /* an earlier plan's save answers it */
		sl->acts = qm_realloc(sl->acts, (sl->nacts + 1) * sizeof *sl->acts);
		sl->acts[sl->nacts++] = (struct plan_action){
			.type = a->type,
			.service = a->service,
			.agent_id = qm_strdup_or_null(a->agent_id),
			.task_id = qm_strdup_or_null(a->task_id),
			.kill_reason = a->kill_reason,
			.reason = qm_strdup_or_null(a->reason),
			.inverse_offer_id = qm_strdup_or_null(a->inverse_offer_id),
		};
		if (a->inverse_offer_id)
			inverse_answering(c, a->inverse_offer_id, true);
	}
}

/* Note the slice's launches in c->unsent until it is answered. */
static void slice_unsent(struct coord *c, struct slice *sl)
{
	for (size_t k = 0; k < sl->n; k++) {
		const cJSON *ti;
		cJSON_ArrayForEach(ti, sl->ops[k].launch) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(ti, "task_id"), "value"));
			if (!id)
				continue;
			sl->unsent = qm_realloc(sl->unsent, (sl->nunsent + 1) * sizeof *sl->unsent);
			sl->unsent[sl->nunsent++] = qm_strdup(id);
			strmap_put(&c->unsent, id, 1);
		}
	}
}

static void carry_timer_cb(struct ev_loop *loop, void *arg);

/* The save of a slice answered: ACCEPT its offers (or decline them when it
 * failed), and let the next slice go. Never frees the carry: this may run
 * inside a later save's settle, whose caller holds it (carry_finish). */
static void slice_saved(struct coord *c, void *arg, bool saved)
{
	struct slice *sl = arg;
	if (saved && sl->nacts && c->leading && !c->stopping) {
		struct plan_output kept = {.actions = sl->acts, .n_actions = sl->nacts};
		send_kills(c, &kept);
		answer_inverses(c, &kept, true);
	}
	for (size_t i = 0; i < sl->nacts; i++) {
		if (sl->acts[i].inverse_offer_id) /* unanswered: planned again */
			inverse_answering(c, sl->acts[i].inverse_offer_id, false);
		free(sl->acts[i].agent_id);
		free(sl->acts[i].task_id);
		free(sl->acts[i].reason);
		free(sl->acts[i].inverse_offer_id);
	}
	free(sl->acts);
	if (c->leading && !c->stopping)
		answer_offers(c, sl->offers, sl->n, sl->ops, saved, sl->revives);
	else /* the master takes the offers back itself */
		for (size_t i = 0; i < sl->n; i++)
			cJSON_Delete(offer_operations(&sl->ops[i]));
	for (size_t i = 0; i < sl->n; i++)
		taskspec_offer_free(&sl->offers[i]);
	for (size_t i = 0; i < sl->nunsent; i++) {
		(void)strmap_del(&c->unsent, sl->unsent[i]);
		free(sl->unsent[i]);
	}
	free(sl->unsent);
	free(sl->ops);
	free(sl->offers);
	struct carry *cr = c->carry;
	if (cr && cr->gen == sl->gen) {
		cr->saving = false;
		if (!saved)
			cr->save_failed = true;
		if (!c->carry_timer && c->loop)
			c->carry_timer = ev_timer_add(c->loop, 0, carry_timer_cb, c);
	}
	free(sl);
}

/* One slice: build the launches of the next offers for the slice's time,
 * save them, ACCEPT those offers. false when no slice is left, or when
 * may_defer let the save go on in the background (slice_saved goes on). */
static bool carry_step(struct coord *c, bool may_defer)
{
	struct carry *cr = c->carry;
	if (!cr)
		return false;
	if (c->stopping || !c->leading || c->step_down_posted) {
		carry_drop(c, false);
		return false;
	}
	if (cr->saving && may_defer)
		return false; /* slice_saved sets the timer again */
	if (cr->save_failed) {
		/* a slice's save failed: the state is read again (reload_cb);
		 * the rest is declined and planned anew */
		carry_drop(c, true);
		replan_soon(c);
		return false;
	}
	ev_mark(c->loop, COORD_MARK_LAUNCH);
	uint64_t t0 = clock_mono_ms(), budget = slice_budget(c);
	size_t a = cr->next, b = a, made = 0;
	struct offer_ops *ops = qm_calloc(cr->n - a, sizeof *ops);
	while (b < cr->n && slice_has_room(c, t0, budget, b - a)) {
		struct taskspec_offer *o = &cr->offers[b];
		for (size_t j = 0; j < cr->nacts[b]; j++) {
			const struct carry_act *ca = &cr->acts[b][j];
			struct plan_action pa = {
				.type = ca->type,
				.service = ca->service,
				.agent_id = (char *)o->agent_id, /* read only: launch_into takes it const */
				.version = ca->version,
				.reserve = ca->reserve,
			};
			bool ok = ca->type == PLAN_UNRESERVE
					  ? unreserve_into(c, ca->service, o, &ops[b - a])
					  : launch_into(c, &pa, o, &ops[b - a]);
			if (ok)
				made++;
			else
				cr->failed++;
		}
		b++;
	}
	if (made && may_defer) {
		struct slice *sl = slice_make(cr->gen, &cr->offers[a], ops, b - a);
		sl->revives = cr->revives;
		cr->next = b;
		cr->saving = true;
		c->n.launch_slices++;
		slice_unsent(c, sl);
		if (store_saves_async(c->store)) {
			/* the loop goes on while ZooKeeper answers */
			coord_save_then(c, slice_saved, sl);
			return false;
		}
		/* saved now, answered in the next turn: a slice's ACCEPTs (10-22
		 * ms at 10,000 agents) had come on top of its build and save */
		bool saved = save_timed(c);
		if (saved)
			slice_learn(c, clock_mono_ms() - t0, b - a, budget);
		else
			forget_unsaved(c);
		coord_saved_next_turn(c, slice_saved, sl, saved);
		return false;
	}
	bool saved = made == 0 || save_timed(c);
	answer_offers(c, &cr->offers[a], b - a, ops, saved, cr->revives);
	if (made)
		slice_learn(c, clock_mono_ms() - t0, b - a, budget);
	free(ops);
	for (size_t i = a; i < b; i++)
		taskspec_offer_free(&cr->offers[i]);
	cr->next = b;
	c->n.launch_slices++;
	if (!saved) {
		forget_unsaved(c);
		cr->failed++;
	}
	if (saved && b < cr->n)
		return true;
	/* the last slice, or a save failed: what is left is declined. A
	 * launch not made waits for a plan, and so does a replan asked for
	 * while the slices ran. */
	bool again = cr->failed || c->replan_after_carry;
	carry_drop(c, true);
	if (again)
		replan_soon(c);
	return false;
}

static void carry_timer_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->carry_timer = 0;
	if (c->draining)
		return; /* a graceful stop: the slices left are dropped with the carry */
	if (carry_step(c, true))
		c->carry_timer = ev_timer_add(c->loop, 0, carry_timer_cb, c);
}

/* Run the slices left at once (an OFFERS event is to be planned). */
static void carry_finish(struct coord *c)
{
	while (carry_step(c, false))
		;
}

/* Carry out a computed plan: mark, save, then KILL, ACCEPT/DECLINE and ask
 * for offers or not. The offers' JSON is in *arena when the caller holds
 * it (NULL: in this thread's, jarena_take); slices that keep offers take
 * it along (then *arena is NULL). */
static void carry_out(struct coord *c, const struct plan_output *out, bool dirty,
		      struct taskspec_offer *offers, size_t noffers, struct jarena **arena)
{
	ev_mark(c->loop, COORD_MARK_LAUNCH);
	for (size_t i = 0; i < c->nwaits; i++)
		c->waits[i].seen = false;
	struct cycle cy = {
		.ops = qm_calloc(noffers ? noffers : 1, sizeof *cy.ops),
		.sig = 1469598103934665603ull,
		.dirty = dirty,
		.slot = qm_calloc(noffers ? noffers : 1, sizeof *cy.slot),
		/* the OFFERS event's handling so far is the first slice's too */
		.t0 = noffers && c->metrics.offers_at_us ? c->metrics.offers_at_us / 1000
							 : clock_mono_ms(),
		.budget_ms = slice_budget(c),
	};
	for (size_t i = 0; i < out->n_actions; i++) {
		const struct plan_action *a = &out->actions[i];
		switch (a->type) {
		case PLAN_KILL:
			mark_kill(c, a, &cy);
			break;
		case PLAN_LAUNCH:
		case PLAN_LAUNCH_PROBER:
			place_launch(c, a, offers, noffers, &cy);
			break;
		case PLAN_UNRESERVE:
			place_unreserve(c, a, offers, noffers, &cy);
			break;
		default: /* inverse offers: answered after the save */
			break;
		}
	}

	/* offers kept for later slices leave offers[] (its entries are
	 * freed by the caller: an emptied one is nothing to free); the JSON
	 * they borrow from stays: the event's whole arena is kept with them,
	 * or, when the event is not in one, their part of it is copied
	 * (~5 us an offer: 45 ms for 9,400 offers) */
	if (cy.held.n && arena) {
		cy.held.arena = *arena;
		*arena = NULL;
	} else if (cy.held.n) {
		cy.held.arena = jarena_take();
	}
	for (size_t k = 0; k < noffers; k++) {
		if (cy.slot[k] < 2)
			continue;
		struct taskspec_offer *kept = &cy.held.offers[cy.slot[k] - 2];
		*kept = offers[k];
		memset(&offers[k], 0, sizeof offers[k]);
		if (!cy.held.arena)
			taskspec_offer_own_json(kept);
	}
	free(cy.slot);
	/* Persist before acting: launched tasks and kill marks. With a
	 * store that saves in the background (ZooKeeper) the acting waits for
	 * the save's answer as a first slice, and the loop goes on: a
	 * ZooKeeper write (the server fsyncs its log) had held the loop
	 * 5-58 ms in every plan that launched or killed. */
	bool saved = true;
	struct slice *first = NULL;
	if (cy.dirty && store_saves_async(c->store)) {
		first = slice_make(0, offers, cy.ops, noffers);
		first->revives = c->n.revives;
		cy.ops = NULL;
		slice_keep_acts(c, first, out);
		slice_unsent(c, first);
	} else if (cy.dirty) {
		saved = save_timed(c);
	}
	if (!first) {
		if (saved) {
			send_kills(c, out);
			answer_inverses(c, out, false);
		}
		answer_offers(c, offers, noffers, cy.ops, saved, c->n.revives);
	}
	if (cy.held.n) {
		static uint64_t carry_gens;
		c->carry = qm_malloc(sizeof *c->carry);
		*c->carry = cy.held;
		c->carry->gen = ++carry_gens;
		c->carry->revives = c->n.revives;
		c->carry->saving = c->carry->save_failed = false;
		c->n.launch_slices++;
		if (!saved)
			carry_drop(c, true);
		else if (first) /* the next slice after this one's answer */
			c->carry->saving = true;
		else
			c->carry_timer = ev_timer_add(c->loop, 0, carry_timer_cb, c);
	}
	if (first) {
		first->gen = c->carry ? c->carry->gen : 0;
		uint64_t s0 = clock_mono_ms();
		coord_save_then(c, slice_saved, first);
		c->plan_save_ms += clock_mono_ms() - s0;
	}
	free(cy.ops);
	strmap_fini(&cy.by_agent);
	if (!saved && cy.launched)
		forget_unsaved(c);

	for (size_t i = c->nwaits; i-- > 0;)
		if (!c->waits[i].seen)
			wait_remove_at(c, i);

	size_t releases = 0;
	for (size_t i = 0; i < out->n_actions; i++)
		releases += out->actions[i].type == PLAN_UNRESERVE;
	/* a release waits for an offer that carries the reservation, too */
	/* what waits for a later slice has its offer */
	bool want = (out->want_offers || releases > cy.released + cy.held_releases) &&
		    cy.pending > cy.launched + cy.held_launches;
	/* A lost agent whose node reported devices may come back -- under a
	 * new agent id if it was removed, which only an offer shows: stay
	 * revived while one is missing, or its services wait for the next
	 * periodic REVIVE. */
	for (size_t i = 0; i < c->nagents && !want; i++)
		if (!c->agents[i].active && nodes_find(&c->nodes, c->agents[i].id)) {
			want = true;
			cy.sig = fnv(cy.sig, "lost agent");
		}
	/* Agents of a starting cluster register over a while, and a
	 * suppressed framework sees a new one only at its next REVIVE: stay
	 * revived until no new agent was offered for --discovery-grace (the
	 * master offers a new agent at its next allocation, 1 s by default),
	 * then plan again to suppress. */
	int64_t since = (int64_t)ev_now_ms() - c->new_agent_ms;
	if (!want && c->new_agent_ms && since < c->cfg->discovery_grace) {
		want = true;
		cy.sig = fnv(cy.sig, "new agents");
		wake_in(c, c->cfg->discovery_grace - since);
	}
	/* Until the first OFFERS after a subscription (which leaves offers on)
	 * the agents are not known -- a fresh coordinator knows none --, so
	 * suppressing then would hide every agent that needs a prober until
	 * the next periodic revive. */
	if (!c->discovering)
		set_offers_wanted(c, want, cy.sig);
}

/* The first phase not wholly at the target version at or after from;
 * PLAN_PHASE_COUNT when there is none. */
static int phase_open(const struct plan_progress *pr, int from)
{
	for (int p = from; p < PLAN_PHASE_COUNT; p++)
		if (pr[p].at_target < pr[p].wanted)
			return p;
	return PLAN_PHASE_COUNT;
}

/* Rollout steps for the event ring (shell/evlog.h), from the last plan's
 * progress (was) to this one's (now): a phase that reached the target
 * version, the step that is now in progress and the one waiting after it,
 * the whole rollout done. Nothing on the first plan of a term (was is
 * empty then): the state loaded is no step. */
static void rollout_events(struct coord *c, const struct plan_progress *was,
			   const struct plan_progress *now)
{
	unsigned was_wanted = 0, wanted = 0;
	for (int p = 0; p < PLAN_PHASE_COUNT; p++) {
		was_wanted += was[p].wanted;
		wanted += now[p].wanted;
	}
	const char *v = c->st.target_version;
	if (!was_wanted || !v[0])
		return;
	int64_t t = wall_ms();
	for (int p = 0; p < PLAN_PHASE_COUNT; p++)
		if (now[p].wanted && now[p].at_target >= now[p].wanted &&
		    was[p].at_target < was[p].wanted)
			evlog_add(c->evlog, t, EVLOG_ROLLOUT, "phase %s at version %s: %u of %u",
				  plan_phase_name((enum plan_phase)p), v, now[p].at_target,
				  now[p].wanted);
	int step = phase_open(now, 0), was_step = phase_open(was, 0);
	if (step == was_step)
		return;
	if (step == PLAN_PHASE_COUNT) {
		evlog_add(c->evlog, t, EVLOG_ROLLOUT, "rollout done: all %u tasks at version %s",
			  wanted, v);
		return;
	}
	int next = phase_open(now, step + 1);
	evlog_add(c->evlog, t, EVLOG_ROLLOUT, "rollout step %s: %u of %u at version %s%s%s%s",
		  plan_phase_name((enum plan_phase)step), now[step].at_target, now[step].wanted, v,
		  next < PLAN_PHASE_COUNT ? "; waiting: " : "",
		  next < PLAN_PHASE_COUNT ? plan_phase_name((enum plan_phase)next) : "",
		  c->st.rollout_paused ? " (paused)" : "");
}

/* ---- a plan in two halves ------------------------------------------- */

/* A plan computed and not yet carried out. */
struct decided {
	struct plan_output out;
	bool dirty;             /* the state changed: save before acting */
	int64_t now;            /* the plan's wall clock */
	uint64_t spent_us;      /* the computing half's time */
};

static bool plan_decide(struct coord *c, size_t noffers, struct taskspec_offer *offers,
			struct decided *d);
static void plan_act(struct coord *c, struct decided *d, struct taskspec_offer *offers,
		     size_t noffers, struct jarena **arena);

/* ---- an OFFERS event planned in turns of its own ----------------------- */

/* The event's offers wait for the plan's first turn, which computes it;
 * its second carries it out. At 10,000 new agents one turn for both was
 * 54-60 ms (input 6-12, compute 19-23, carrying out 25: offer_cycle.py
 * --agents 10000 --store zk). */
struct plan_later {
	struct taskspec_offer *offers;
	size_t n;
	struct jarena *arena; /* their event's JSON */
	bool decided;         /* computed: d is the plan to carry out */
	struct decided d;
};

static void plan_later_free(struct coord *c, struct plan_later *l)
{
	if (l->decided) { /* not carried out: its marks are the next save's */
		c->st_dirty = c->st_dirty || l->d.dirty;
		plan_output_free(&l->d.out);
	}
	for (size_t i = 0; i < l->n; i++)
		taskspec_offer_free(&l->offers[i]);
	free(l->offers);
	jarena_drop(l->arena); /* after the offers that borrow from it */
	free(l);
}

/* coord_plan's checks, again, for a plan carried out a turn later. */
static bool may_act(const struct coord *c)
{
	return !c->stopping && !c->draining && c->leading && !c->step_down_posted &&
	       (!c->leader || leader_is_leader(c->leader));
}

/* Carry out the plan l holds (taken off c), now; or, when it may no
 * longer act, decline its offers (while subscribed) and drop it. */
static void plan_later_act(struct coord *c, struct plan_later *l)
{
	if (c->carry && may_act(c)) /* none is made in between; were one there, it goes first */
		carry_finish(c);
	if (!may_act(c)) {
		if (c->leader && !leader_is_leader(c->leader))
			step_down_soon(c);
		else if (c->leading && !c->stopping && mesos_subscribed(c->mc))
			decline_all(c, l->offers, l->n);
		plan_later_free(c, l);
		return;
	}
	l->decided = false;
	plan_act(c, &l->d, l->offers, l->n, &l->arena);
	plan_later_free(c, l);
	if (c->replan_after_carry && !c->carry) {
		c->replan_after_carry = false;
		replan_soon(c);
	}
}

static void plan_later_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->plan_later_timer = 0;
	struct plan_later *l = c->plan_later;
	if (!l)
		return;
	if (!l->decided) {
		/* the plan reads the state, not the offers: their JSON waits */
		if (plan_decide(c, l->n, l->offers, &l->d)) {
			l->decided = true;
			c->plan_later_timer = ev_timer_add(c->loop, 0, plan_later_cb, c);
			return;
		}
		c->plan_later = NULL;
		plan_later_free(c, l);
		return;
	}
	c->plan_later = NULL;
	plan_later_act(c, l);
}

bool plan_later(struct coord *c, struct taskspec_offer *offers, size_t n)
{
	if (c->plan_later || !c->loop || n == 0)
		return false;
	struct jarena *ar = jarena_take();
	if (!ar)
		return false;
	struct plan_later *l = qm_calloc(1, sizeof *l);
	l->offers = qm_calloc(n, sizeof *l->offers);
	memcpy(l->offers, offers, n * sizeof *offers);
	memset(offers, 0, n * sizeof *offers); /* emptied */
	l->n = n;
	l->arena = ar;
	c->plan_later = l;
	/* a timer: posted work would run in this same turn */
	c->plan_later_timer = ev_timer_add(c->loop, 0, plan_later_cb, c);
	return true;
}

void plan_later_drop(struct coord *c)
{
	if (c->plan_later_timer && c->loop)
		ev_timer_cancel(c->loop, c->plan_later_timer);
	c->plan_later_timer = 0;
	if (c->plan_later)
		plan_later_free(c, c->plan_later);
	c->plan_later = NULL;
}

/* coord_plan's first half: the checks, the slices left, the plan computed
 * and its marks taken into the state. False when there is nothing to carry
 * out (the offers are answered or left to the master, as coord_plan says). */
static bool plan_decide(struct coord *c, size_t noffers, struct taskspec_offer *offers,
			struct decided *d)
{
	/* draining (a graceful stop): no new launches or kills; offers are
	 * not handed in then (the Mesos client drops the events) */
	if (c->stopping || c->draining || !c->leading || c->step_down_posted)
		return false;
	if (c->leader && !leader_is_leader(c->leader)) {
		/* the session is gone; the lost() callback may not have run yet */
		step_down_soon(c);
		return false;
	}
	if (c->plan_later && c->plan_later->decided) {
		/* a plan computed and not yet carried out, as a carry below */
		if (!noffers) {
			c->replan_after_carry = true;
			return false;
		}
		struct plan_later *l = c->plan_later;
		c->plan_later = NULL;
		if (c->plan_later_timer)
			ev_timer_cancel(c->loop, c->plan_later_timer);
		c->plan_later_timer = 0;
		plan_later_act(c, l);
		if (c->stopping || !c->leading || c->step_down_posted)
			return false;
	}
	if (c->carry) {
		/* launches decided but not yet in the state: a plan now would
		 * decide them again. A replan waits for the last slice; offers
		 * cannot wait, so the slices are finished first. */
		if (!noffers) {
			c->replan_after_carry = true;
			return false;
		}
		carry_finish(c);
		if (c->stopping || !c->leading || c->step_down_posted)
			return false; /* a slice's save failed: the checks above, again */
	}
	int64_t now = wall_ms();
	uint64_t t0_us = clock_mono_us();
	replan_cancel(c); /* a deferred replan: this plan sees what it waited for */
	c->plan_save_ms = 0;
	agents_from_nodes(c);

	ev_mark(c->loop, COORD_MARK_PLAN);
	struct input ip;
	input_build(c, now, &ip);
	struct plan_output out;
	int rv = plan_compute(&ip.in, &out);
	c->n.plans++;
	if (rv != 0) {
		log_error("plan_failed", "error=%s", log_qs(out.error));
		plan_output_free(&out);
		input_free(&ip);
		decline_all(c, offers, noffers);
		return false;
	}
	d->dirty = mark_unwanted(c, &out) || c->st_dirty;
	c->st_dirty = false;
	rsv_view_update(c, &ip.in, &out);
	input_free(&ip);
	d->out = out;
	d->now = now;
	d->spent_us = clock_mono_us() - t0_us;
	return true;
}

/* coord_plan's second half: carry the plan out; it becomes c->last. */
static void plan_act(struct coord *c, struct decided *d, struct taskspec_offer *offers,
		     size_t noffers, struct jarena **arena)
{
	uint64_t a0 = clock_mono_us();
	carry_out(c, &d->out, d->dirty, offers, noffers, arena);

	if (d->out.wake_ms > 0)
		wake_in(c, d->out.wake_ms - d->now);
	rollout_events(c, c->last.progress, d->out.progress);
	plan_output_free(&c->last);
	c->last = d->out;
	memset(&d->out, 0, sizeof d->out);
	uint64_t took_us = d->spent_us + (clock_mono_us() - a0);
	metrics_hist_observe_us(&c->metrics.plan, took_us);
	c->plan_end_ms = clock_mono_ms();
	/* the save is not the plan's cost: a ZooKeeper save of 0.5 s would
	 * hold the next change (a disk marked) back 1.5 s */
	uint64_t took = took_us / 1000;
	c->plan_cost_ms = took > c->plan_save_ms ? took - c->plan_save_ms : 0;
}

void coord_plan(struct coord *c, struct taskspec_offer *offers, size_t noffers)
{
	struct decided d;
	if (plan_decide(c, noffers, offers, &d))
		plan_act(c, &d, offers, noffers, NULL);
}
