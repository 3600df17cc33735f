/* The coordinator's REST handlers (api/rest.h). They run on the loop thread
 * that owns struct coord (shell/coord_priv.h), so they read the state in
 * place; a change (target version, framework reset) is saved before it is
 * answered. Followers answer what they can and name the leader. */
#include "api/rest.h"

#include "api/auth.h"
#include "api/metrics.h"
#include "api/statuspage.h"
#include "bus_json.h"
#include "jarena.h"
#include "log.h"
#include "qm_error.h"
#include "shell/busd.h"
#include "shell/coord_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool leading(struct coord *c) { return c->leading && mesos_subscribed(c->mc); }

/* Followers answer what they can and name the leader. */
/* How the REST API is protected: for /v1/health, /v1/state, the page. */
static void security_fields(struct coord *c, cJSON *o)
{
	cJSON *s = cJSON_AddObjectToObject(o, "security");
	cJSON_AddBoolToObject(s, "insecure", c->http_open);
	cJSON_AddBoolToObject(s, "auth_read", c->auth && auth_read_auth(c->auth));
	cJSON_AddNumberToObject(s, "tokens", c->auth ? (double)auth_ntokens(c->auth) : 0);
	if (c->http_open)
		cJSON_AddStringToObject(s, "warning",
					"REST API is open: started with --http-insecure; anyone who "
					"reaches it can change the cluster");
}

static void standby_fields(struct coord *c, cJSON *o)
{
	cJSON_AddBoolToObject(o, "leader", c->leading);
	if (c->leader) {
		const char *cur = leader_current(c->leader);
		if (cur)
			cJSON_AddStringToObject(o, "leader_id", cur);
		else
			cJSON_AddNullToObject(o, "leader_id");
		cJSON_AddStringToObject(o, "self_id", c->webui ? c->webui : "");
	}
}

/* Where the Mesos client stands: for operators, one object with the cause
 * and the way out when the master refuses us. */
static cJSON *master_json(const struct mesos_status *ms)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "phase", mesos_phase_name(ms->phase));
	cJSON_AddStringToObject(m, "master", ms->master);
	cJSON_AddStringToObject(m, "leader", ms->leader);
	cJSON_AddStringToObject(m, "version", ms->master_version);
	if (ms->detection[0])
		cJSON_AddStringToObject(m, "detection", ms->detection);
	if (ms->last_error[0])
		cJSON_AddStringToObject(m, "last_error", ms->last_error);
	if (ms->phase == MESOS_REFUSED) {
		cJSON_AddStringToObject(m, "refusal", ms->refusal);
		cJSON_AddStringToObject(m, "remedy", ms->remedy);
		cJSON_AddNumberToObject(m, "refused_since_ms", (double)ms->refused_since_ms);
	}
	cJSON_AddNumberToObject(m, "leader_changes", (double)ms->leader_changes);
	cJSON_AddNumberToObject(m, "failed_attempts", (double)ms->attempts_failed);
	return m;
}

static void rest_health(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct coord *c = ctx;
	cJSON *o = cJSON_CreateObject();
	bool ok = leading(c);
	int status = ok ? 200 : 503;
	const char *word = ok ? "ok" : "connecting";
	if (!c->leading && c->leader) {
		/* a healthy follower: ready to take over (Marathon must not kill
		 * it); without ZooKeeper it could not, so then it is not healthy */
		bool zk_ok = leader_current(c->leader) != NULL;
		word = zk_ok ? "standby" : "waiting for ZooKeeper";
		status = zk_ok ? 200 : 503;
	}
	struct mesos_status ms;
	mesos_status(c->mc, &ms);
	if (c->leading && ms.phase == MESOS_REFUSED)
		word = "refused";
	else if (c->leading && ms.phase == MESOS_DETECTING)
		word = "no leading master";
	cJSON_AddStringToObject(o, "status", word);
	cJSON_AddBoolToObject(o, "subscribed", ok);
	if (c->leading)
		cJSON_AddItemToObject(o, "mesos", master_json(&ms));
	standby_fields(c, o);
	security_fields(c, o);
	if (c->leading)
		cJSON_AddStringToObject(o, "framework_id", c->st.framework_id);
	http_respond_json(resp, status, o);
}

static const char *health_name(enum plan_health h)
{
	return h == PLAN_HEALTH_OK ? "healthy" : h == PLAN_HEALTH_FAILING ? "unhealthy" : "unknown";
}

static cJSON *task_json(struct coord *c, const struct store_task *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "task_id", t->task_id);
	cJSON_AddStringToObject(o, "service", t->service);
	cJSON_AddStringToObject(o, "state", t->state[0] ? t->state : "LAUNCHING");
	cJSON_AddStringToObject(o, "health", health_name(health_of(c, t->task_id)));
	if (t->version[0])
		cJSON_AddStringToObject(o, "version", t->version);
	cJSON *ports = cJSON_AddArrayToObject(o, "ports");
	for (unsigned i = 0; i < t->nports; i++)
		cJSON_AddItemToArray(ports, cJSON_CreateNumber(t->ports[i]));
	cJSON_AddNumberToObject(o, "launched_unix_ms", (double)t->launched_ms);
	if (t->kill_requested)
		cJSON_AddBoolToObject(o, "kill_requested", true);
	if (t->unwanted_since_ms)
		cJSON_AddNumberToObject(o, "unwanted_since_unix_ms", (double)t->unwanted_since_ms);
	char why[320];
	const char *r = replace_reason(c, t, why, sizeof why);
	if (r)
		cJSON_AddStringToObject(o, "replacing", r);
	if (t->mounts_known)
		cJSON_AddStringToObject(o, "mounts", store_task_mounts(t));
	return o;
}

/* The last plan's verdict on draining agent_id (planner rule 15), NULL
 * when no plan has judged that agent yet. */
static const struct plan_drain *drain_verdict(const struct coord *c, const char *agent_id)
{
	for (size_t i = 0; c->last.drain && i < c->last.n_agents; i++)
		if (c->last.drain[i].agent_id && strcmp(c->last.drain[i].agent_id, agent_id) == 0)
			return &c->last.drain[i];
	return NULL;
}

/* A drained node's drain: {"state": "draining" (services still stopping)
 * | "drained" (none left by the last plan's count), "services_left",
 * "since_unix_ms", "forced"}. */
static cJSON *drain_fields(const struct coord *c, const char *agent_id,
			   const struct store_drain *d)
{
	cJSON *o = cJSON_CreateObject();
	const struct plan_drain *v = drain_verdict(c, agent_id);
	/* until a plan has seen the drain, its services are all still there */
	cJSON_AddStringToObject(o, "state", v && v->drained && v->left == 0 ? "drained"
										: "draining");
	if (v && v->drained)
		cJSON_AddNumberToObject(o, "services_left", v->left);
	cJSON_AddNumberToObject(o, "since_unix_ms", (double)d->since_ms);
	cJSON_AddBoolToObject(o, "forced", d->forced);
	return o;
}

/* The lists of GET /v1/state that grow with the cluster, nodes and
 * reservations, come a page at a time: ?nodes_offset=&nodes_limit= (and
 * reservations_...), with nodes_total (reservations_total) in the answer.
 * The whole state of offer_cycle.py's 10,000 agents (24 devices each) was
 * over the 32 MiB response cap, after 4.5 s of the coordinator's loop; a
 * page of 1,000 nodes is about 10 MiB and 0.3 s, the status page asks for
 * fewer. */
#define STATE_PAGE_DEFAULT 1000
#define STATE_PAGE_MAX 1000

struct page {
	size_t offset, limit;
};

#define STATE_LINES_MAX 50

/* "12 more services wait for resources" when n lines were wanted and
 * STATE_LINES_MAX were written */
static void more_lines(cJSON *arr, size_t n, const char *what)
{
	if (n <= STATE_LINES_MAX)
		return;
	char line[128];
	snprintf(line, sizeof line, "%zu %s", n - STATE_LINES_MAX, what);
	cJSON_AddItemToArray(arr, cJSON_CreateString(line));
}

/* The part of a list of n a page shows: *first, and the count returned. */
static size_t page_cut(const struct page *pg, size_t n, size_t *first)
{
	*first = pg->offset < n ? pg->offset : n;
	return n - *first < pg->limit ? n - *first : pg->limit;
}

/* page_cut, with <list>_total, _offset and _limit added to o */
static size_t page_fields(cJSON *o, const char *list, const struct page *pg, size_t total,
			  size_t *first)
{
	size_t n = page_cut(pg, total, first);
	char k[48];
	snprintf(k, sizeof k, "%s_total", list);
	cJSON_AddNumberToObject(o, k, (double)total);
	snprintf(k, sizeof k, "%s_offset", list);
	cJSON_AddNumberToObject(o, k, (double)*first);
	snprintf(k, sizeof k, "%s_limit", list);
	cJSON_AddNumberToObject(o, k, (double)pg->limit);
	return n;
}

/* The tasks of each node of a page, in state order: head[k] is the first
 * task of the page's node k, next[j] the one after task j; SIZE_MAX ends a
 * list. One pass over the tasks, instead of one per node. */
struct page_tasks {
	size_t *head, *next;
};

static void page_tasks_init(struct page_tasks *pt, const struct coord *c, size_t first,
			    size_t n)
{
	pt->head = qm_malloc((n ? n : 1) * sizeof *pt->head);
	pt->next = qm_malloc((c->st.ntasks ? c->st.ntasks : 1) * sizeof *pt->next);
	for (size_t k = 0; k < n; k++)
		pt->head[k] = SIZE_MAX;
	struct strmap page;
	strmap_init(&page);
	for (size_t k = 0; k < n; k++)
		strmap_put(&page, c->agents[first + k].id, k);
	for (size_t j = c->st.ntasks; j-- > 0;) { /* prepended: kept in order */
		size_t k;
		pt->next[j] = SIZE_MAX;
		if (strmap_get(&page, c->st.tasks[j].agent_id, &k)) {
			pt->next[j] = pt->head[k];
			pt->head[k] = j;
		}
	}
	strmap_fini(&page);
}

static void page_tasks_fini(struct page_tasks *pt)
{
	free(pt->head);
	free(pt->next);
}

/* One agent of /v1/state: attributes, its prober, devices and services.
 * first_task: the first of its tasks in pt. */
static cJSON *node_json(struct coord *c, size_t i, int64_t now, const struct page_tasks *pt,
			size_t first_task)
{
	struct agent *a = &c->agents[i];
	cJSON *n = cJSON_CreateObject();
	cJSON_AddStringToObject(n, "agent_id", a->id);
	cJSON_AddStringToObject(n, "hostname", a->hostname ? a->hostname : "");
	cJSON_AddBoolToObject(n, "active", a->active);
	const struct store_drain *dr = store_state_drain_covering(&c->st, a->id, a->hostname);
	cJSON_AddBoolToObject(n, "drained", dr != NULL);
	if (dr)
		cJSON_AddItemToObject(n, "drain", drain_fields(c, a->id, dr));
	cJSON *attrs = cJSON_AddObjectToObject(n, "attributes");
	for (size_t j = 0; j < a->nattrs; j++)
		cJSON_AddStringToObject(attrs, a->attrs[j].name, a->attrs[j].value);
	const struct nodes_node *nn = nodes_find(&c->nodes, a->id);
	cJSON *pr = cJSON_AddObjectToObject(n, "prober");
	bool stale = i < c->last.n_agents && c->last.prober_stale[i];
	cJSON_AddBoolToObject(pr, "reporting", nn && nn->has_snapshot);
	cJSON_AddBoolToObject(pr, "stale", stale);
	if (nn) {
		cJSON_AddNumberToObject(pr, "generation", (double)nn->generation);
		cJSON_AddNumberToObject(pr, "last_report_age_s",
					(double)(now - (int64_t)nn->last_report_ms) / 1000.0);
		cJSON_AddNumberToObject(pr, "protocol_version", nn->protocol_version);
		if (nn->client_mount_point)
			cJSON_AddBoolToObject(n, "client_mount_point_exists",
					      nn->client_mount_point_exists);
	}
	if (a->maint_start_ms) {
		cJSON *m = cJSON_AddObjectToObject(n, "maintenance");
		cJSON_AddNumberToObject(m, "start_unix_ms", (double)a->maint_start_ms);
		if (a->maint_duration_ms)
			cJSON_AddNumberToObject(m, "duration_ms", (double)a->maint_duration_ms);
		bool in = now >= a->maint_start_ms &&
			  (!a->maint_duration_ms || now < a->maint_start_ms + a->maint_duration_ms);
		cJSON_AddStringToObject(m, "state", in ? "in progress" : now < a->maint_start_ms
									    ? "scheduled"
									    : "over");
		if (a->maint_answer)
			cJSON_AddStringToObject(m, "answer", a->maint_answer);
	}
	cJSON *md = cJSON_AddArrayToObject(n, "mount_disks");
	for (size_t j = 0; j < a->nmounts; j++) {
		const struct agent_mount *m = &a->mounts[j];
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "root", m->root);
		cJSON_AddNumberToObject(d, "size_mb", m->size_mb);
		const char *marked = NULL;
		for (size_t k = 0; nn && k < nn->ndevices && !marked; k++) {
			const struct nodes_device *dv = &nn->devices[k];
			if (dv->root && strcmp(dv->root, m->root) == 0 && nodes_device_usable(dv) &&
			    dv->n_types)
				marked = busjson_type_name(dv->types[0]);
		}
		if (m->reserved_for)
			cJSON_AddStringToObject(d, "reserved_for", m->reserved_for);
		if (marked)
			cJSON_AddStringToObject(d, "marked_for", marked);
		/* a MOUNT disk without a Quobyte marker could become a device */
		cJSON_AddStringToObject(d, "state", m->reserved_for ? "reserved"
						   : marked	    ? "marked"
								    : "candidate");
		cJSON_AddItemToArray(md, d);
	}
	cJSON *devs = cJSON_AddArrayToObject(n, "devices");
	for (size_t j = 0; nn && j < nn->ndevices; j++) {
		Quobyte__Bus__Device *whole = nodes_device_unpack(&nn->devices[j]);
		cJSON_AddItemToArray(devs, busjson_device(whole));
		quobyte__bus__device__free_unpacked(whole, NULL);
	}
	cJSON *svcs = cJSON_AddArrayToObject(n, "services");
	for (size_t j = first_task; j != SIZE_MAX; j = pt->next[j]) {
		const struct store_task *t = &c->st.tasks[j];
		cJSON *tj = task_json(c, t);
		if (strcmp(t->service, "prober") == 0)
			cJSON_AddItemToObject(pr, "task", tj);
		else
			cJSON_AddItemToArray(svcs, tj);
	}
	return n;
}

/* Our reservations from the first, n of them, with the last plan's
 * verdict. */
static cJSON *reservations_json(struct coord *c, size_t first, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = first; i < first + n && i < c->st.nreservations; i++) {
		const struct store_reservation *v = &c->st.reservations[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "agent_id", v->agent_id);
		cJSON_AddStringToObject(o, "hostname", v->hostname);
		cJSON_AddStringToObject(o, "service", v->service);
		cJSON_AddNumberToObject(o, "since_unix_ms", (double)v->since_ms);
		cJSON_AddStringToObject(o, "resources", v->summary);
		if (store_reservation_mounts(v)[0])
			cJSON_AddStringToObject(o, "mount_disks", store_reservation_mounts(v));
		enum service s;
		int r = service_parse(v->service, &s) == 0 ? rsv_releasable(c, s, v->agent_id) : -1;
		cJSON_AddBoolToObject(o, "releasable", r == 1);
		cJSON_AddBoolToObject(o, "release_requested", v->release_requested);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* {"paused":..., "previous_version":..., "target_version":...,
 *  "nodes_with_services":..., "nodes_at_target":...}: of the known nodes
 * with Quobyte services (the prober is none), those whose every service
 * not being killed runs at the target version. Counted here, over every
 * node: /v1/state shows a page of them. */
static cJSON *rollout_json(struct coord *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "paused", c->st.rollout_paused);
	cJSON_AddStringToObject(o, "previous_version", c->st.previous_version);
	cJSON_AddStringToObject(o, "target_version", c->st.target_version);
	/* per agent: 0 no service, 1 all at the target so far, 2 one is not */
	unsigned char *seen = qm_calloc(c->nagents ? c->nagents : 1, 1);
	for (size_t j = 0; j < c->st.ntasks; j++) {
		const struct store_task *t = &c->st.tasks[j];
		struct agent *a;
		if (t->kill_requested || strcmp(t->service, "prober") == 0 ||
		    !(a = agent_find(c, t->agent_id)))
			continue;
		size_t i = (size_t)(a - c->agents);
		bool at = strcmp(t->version, c->st.target_version) == 0 &&
			  strcmp(t->state, "TASK_RUNNING") == 0;
		if (!at)
			seen[i] = 2;
		else if (!seen[i])
			seen[i] = 1;
	}
	size_t with = 0, at = 0;
	for (size_t i = 0; i < c->nagents; i++) {
		with += seen[i] != 0;
		at += seen[i] == 1;
	}
	free(seen);
	cJSON_AddNumberToObject(o, "nodes_with_services", (double)with);
	cJSON_AddNumberToObject(o, "nodes_at_target", (double)at);
	return o;
}

/* The event ring (shell/evlog.h), newest first:
 * [{"seq":..., "time_unix_ms":..., "kind":"launch", "text":"..."}, ...] */
static cJSON *events_json(const struct coord *c)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < evlog_count(c->evlog); i++) {
		const struct evlog_entry *e = evlog_get(c->evlog, i);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "seq", (double)e->seq);
		cJSON_AddNumberToObject(o, "time_unix_ms", (double)e->time_ms);
		cJSON_AddStringToObject(o, "kind", evlog_kind_name(e->kind));
		cJSON_AddStringToObject(o, "text", e->text);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *state_json(struct coord *c, const struct page *nodes_pg,
			 const struct page *rsv_pg)
{
	int64_t now = wall_ms();
	cJSON *o = cJSON_CreateObject();
	if (!c->leading) {
		cJSON_AddStringToObject(o, "status", "standby");
		standby_fields(c, o);
		security_fields(c, o);
		cJSON_AddStringToObject(o, "coordinator_version", QM_VERSION);
		cJSON *store = cJSON_AddObjectToObject(o, "store");
		cJSON_AddStringToObject(store, "backend", store_backend(c->store));
		cJSON_AddStringToObject(store, "location", store_location(c->store));
		cJSON_AddItemToObject(o, "events", events_json(c));
		return o;
	}
	agents_from_nodes(c);
	cJSON_AddStringToObject(o, "framework_id", c->st.framework_id);
	cJSON_AddStringToObject(o, "master", mesos_endpoint(c->mc) ? mesos_endpoint(c->mc)
								    : c->cfg->master);
	cJSON_AddBoolToObject(o, "subscribed", mesos_subscribed(c->mc));
	struct mesos_status ms;
	mesos_status(c->mc, &ms);
	cJSON_AddItemToObject(o, "mesos", master_json(&ms));
	standby_fields(c, o);
	security_fields(c, o);
	cJSON_AddStringToObject(o, "target_version", c->st.target_version);
	cJSON_AddItemToObject(o, "rollout", rollout_json(c));
	cJSON_AddStringToObject(o, "coordinator_version", QM_VERSION);
	cJSON_AddStringToObject(o, "bus_url", c->bus_url);
	cJSON *store = cJSON_AddObjectToObject(o, "store");
	cJSON_AddStringToObject(store, "backend", store_backend(c->store));
	cJSON_AddStringToObject(store, "location", store_location(c->store));
	cJSON_AddNumberToObject(store, "version", (double)c->st_version);
	cJSON_AddBoolToObject(o, "offers_suppressed", c->suppressed);

	cJSON *phases = cJSON_AddArrayToObject(o, "phases");
	for (int p = 0; p < PLAN_PHASE_COUNT; p++) {
		cJSON *ph = cJSON_CreateObject();
		cJSON_AddStringToObject(ph, "phase", plan_phase_name((enum plan_phase)p));
		cJSON_AddNumberToObject(ph, "wanted", c->last.progress[p].wanted);
		cJSON_AddNumberToObject(ph, "ready", c->last.progress[p].ready);
		cJSON_AddNumberToObject(ph, "at_target", c->last.progress[p].at_target);
		cJSON_AddItemToArray(phases, ph);
	}
	cJSON *probs = cJSON_AddArrayToObject(o, "problems");
	if (ms.phase == MESOS_REFUSED) {
		char line[700];
		snprintf(line, sizeof line, "the Mesos master refuses this framework: %s. Way out: %s",
			 ms.refusal, ms.remedy);
		cJSON_AddItemToArray(probs, cJSON_CreateString(line));
	} else if (ms.phase == MESOS_DETECTING) {
		char line[400];
		snprintf(line, sizeof line, "no leading Mesos master: %s", ms.detection);
		cJSON_AddItemToArray(probs, cJSON_CreateString(line));
	}
	if (c->store_error[0]) {
		char line[700];
		snprintf(line, sizeof line,
			 "the coordinator's state cannot be saved (%s %s) for %llds: %s. "
			 "Launches and acknowledgements wait until it can",
			 store_backend(c->store), store_location(c->store),
			 (long long)((wall_ms() - c->store_error_since_ms) / 1000), c->store_error);
		cJSON_AddItemToArray(probs, cJSON_CreateString(line));
	}
	for (size_t i = 0; i < c->last.n_problems; i++)
		cJSON_AddItemToArray(probs, cJSON_CreateString(c->last.problems[i]));
	/* one line per node or service at most STATE_LINES_MAX times each:
	 * 10,000 agents short of resources would be 10,000 lines */
	size_t more = 0;
	for (size_t i = 0; i < c->nagents; i++) {
		const struct agent *a = &c->agents[i];
		if (!a->maint_start_ms || !a->maint_answer ||
		    strncmp(a->maint_answer, "declined", 8) != 0)
			continue;
		if (more++ >= STATE_LINES_MAX)
			continue;
		char line[PLAN_PROBLEM_MAX + 96];
		snprintf(line, sizeof line, "maintenance of %s %s", a->hostname ? a->hostname : a->id,
			 a->maint_answer);
		cJSON_AddItemToArray(probs, cJSON_CreateString(line));
	}
	more_lines(probs, more, "more nodes declined a maintenance");
	for (size_t i = 0; i < c->nwaits && i < STATE_LINES_MAX; i++) {
		const struct wait *w = &c->waits[i];
		struct agent *a = agent_find(c, w->agent_id);
		char line[512];
		snprintf(line, sizeof line, "%s on %s waits for resources: %s",
			 service_name(w->service),
			 a && a->hostname ? a->hostname : w->agent_id, w->reason);
		cJSON_AddItemToArray(probs, cJSON_CreateString(line));
	}
	more_lines(probs, c->nwaits, "more services wait for resources");

	size_t first;
	size_t n = page_fields(o, "reservations", rsv_pg, c->st.nreservations, &first);
	cJSON_AddItemToObject(o, "reservations", reservations_json(c, first, n));
	n = page_fields(o, "nodes", nodes_pg, c->nagents, &first);
	struct page_tasks pt;
	page_tasks_init(&pt, c, first, n);
	cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
	for (size_t k = 0; k < n; k++)
		cJSON_AddItemToArray(nodes, node_json(c, first + k, now, &pt, pt.head[k]));
	page_tasks_fini(&pt);
	/* tasks on agents we have not seen (yet) */
	/* the first STATE_PAGE_MAX of them, and how many there are */
	cJSON *other = cJSON_AddArrayToObject(o, "tasks_on_unknown_agents");
	size_t unknown = 0;
	for (size_t j = 0; j < c->st.ntasks; j++)
		if (!agent_find(c, c->st.tasks[j].agent_id) && unknown++ < STATE_PAGE_MAX) {
			cJSON *tj = task_json(c, &c->st.tasks[j]);
			cJSON_AddStringToObject(tj, "agent_id", c->st.tasks[j].agent_id);
			cJSON_AddItemToArray(other, tj);
		}
	cJSON_AddNumberToObject(o, "tasks_on_unknown_agents_total", (double)unknown);
	cJSON_AddItemToObject(o, "events", events_json(c));
	return o;
}

/* GET /v1/audit (admin): the last mutating calls, oldest first. */
static void rest_audit(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct coord *c = ctx;
	http_respond_json(resp, 200, auth_audit_json(c->auth));
}

/* Every mutating REST call, once answered: one log line and the ring. */
void rest_on_audit(void *ctx, const char *peer, const char *who, const char *method,
		   const char *path, const char *body, size_t body_len, int status)
{
	struct coord *c = ctx;
	auth_audit_add(c->auth, (uint64_t)wall_ms(), peer, who, method, path, body, body_len,
		       status);
	char summary[AUTH_SUMMARY_MAX + 1];
	size_t k = 0;
	for (size_t i = 0; i < body_len && k < AUTH_SUMMARY_MAX; i++) {
		unsigned char ch = (unsigned char)body[i];
		summary[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
	}
	summary[k] = '\0';
	log_info("audit", "peer=%s token=%s method=%s path=%s status=%d summary=%s", peer,
		 log_qs(who), log_qs(method), log_qs(path), status, log_qs(summary));
}

/* A count from the query: absent = dflt; false on anything but digits
 * (at most 9). */
static bool count_param(const struct http_request *req, const char *name, size_t dflt,
			size_t *out)
{
	char v[24];
	int rv = http_query_param(req, name, v, sizeof v);
	if (rv == QM_ENOENT) {
		*out = dflt;
		return true;
	}
	if (rv != 0 || !v[0] || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return false;
	*out = (size_t)strtoul(v, NULL, 10);
	return true;
}

/* ?<list>_offset=&<list>_limit= into *pg, or a 400 naming them. */
static bool page_param(const struct http_request *req, struct http_response *resp,
		       const char *list, struct page *pg)
{
	char off[48], lim[48];
	snprintf(off, sizeof off, "%s_offset", list);
	snprintf(lim, sizeof lim, "%s_limit", list);
	if (count_param(req, off, 0, &pg->offset) &&
	    count_param(req, lim, STATE_PAGE_DEFAULT, &pg->limit) && pg->limit >= 1 &&
	    pg->limit <= STATE_PAGE_MAX)
		return true;
	char msg[200];
	snprintf(msg, sizeof msg, "%s must be a count, %s a count from 1 to %d", off, lim,
		 STATE_PAGE_MAX);
	http_respond_error(resp, 400, msg);
	return false;
}

static void rest_state(const struct http_request *req, struct http_response *resp, void *ctx)
{
	struct page nodes, rsv;
	if (!page_param(req, resp, "nodes", &nodes) ||
	    !page_param(req, resp, "reservations", &rsv))
		return;
	/* The tree in an arena of its own (jarena.h), sized by a bound of its
	 * text: a node with 24 devices is about 11 KB of it, a reservation
	 * 250 bytes. A page of 1,000 such nodes is some 300,000 values, and
	 * malloc and free were about half of building and deleting them. */
	struct coord *c = ctx;
	size_t first, n_nodes = page_cut(&nodes, c->nagents, &first);
	size_t n_rsv = page_cut(&rsv, c->st.nreservations, &first);
	size_t text = ((size_t)64 << 10) + n_nodes * (12u << 10) + n_rsv * 256u;
	jarena_begin(text);
	cJSON *o = state_json(c, &nodes, &rsv);
	jarena_end();
	http_respond_json_sized(resp, 200, o, text);
	jarena_release();
}

static void rest_version_get(const struct http_request *req, struct http_response *resp,
			     void *ctx)
{
	struct coord *c = ctx;
	if (!c->leading) {
		http_respond_error(resp, 503, "this coordinator is a standby; ask the leader");
		return;
	}
	const char *accept = http_header(req, "Accept");
	if (accept && strstr(accept, "application/json")) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "target_version", c->st.target_version);
		http_respond_json(resp, 200, o);
		return;
	}
	char buf[STORE_VERSION_MAX + 2];
	int n = snprintf(buf, sizeof buf, "%s\n", c->st.target_version);
	http_respond(resp, 200, "text/plain; charset=utf-8", buf, (size_t)n);
}

/* 500 for a change whose save failed, with the store's error (e.g. a full
 * disk); nothing of the change is kept. */
static void respond_save_failed(struct coord *c, struct http_response *resp, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof msg, "could not save the %s, nothing changed: %s", what,
		 c->store_error[0] ? c->store_error : "see the log");
	http_respond_error(resp, 500, msg);
}

/* A change needs the leader: answers 503 naming it and returns true on a
 * standby (or a leader whose session is gone). */
static bool refuse_standby(struct coord *c, struct http_response *resp)
{
	if (c->leading && c->leader && !leader_is_leader(c->leader))
		step_down_soon(c); /* the session is gone: do not act on it */
	if (!c->leading || c->step_down_posted) {
		const char *cur = c->leader ? leader_current(c->leader) : NULL;
		char msg[LEADER_ID_MAX + 64];
		snprintf(msg, sizeof msg, "this coordinator is a standby; the leader is %s",
			 cur ? cur : "unknown");
		http_respond_error(resp, 503, msg);
		return true;
	}
	return false;
}

static void rest_version_post(const struct http_request *req, struct http_response *resp,
			      void *ctx)
{
	struct coord *c = ctx;
	if (refuse_standby(c, resp))
		return;
	size_t len = req->body_len;
	const char *b = req->body;
	/* blanks and a line end around the version are tolerated (curl -d, echo) */
	while (len && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n')) {
		b++;
		len--;
	}
	while (len && (b[len - 1] == ' ' || b[len - 1] == '\t' || b[len - 1] == '\r' ||
		       b[len - 1] == '\n'))
		len--;
	char v[STORE_VERSION_MAX + 1];
	if (len > STORE_VERSION_MAX) {
		log_warn("rest_version_rejected", "remote=%s reason=%s", log_qs(req->remote),
			 log_qs("longer than 128 bytes"));
		http_respond_error(resp, 400,
				   "version too long: a Docker tag has at most 128 characters");
		return;
	}
	memcpy(v, b, len);
	v[len] = '\0';
	if (len && (memchr(b, '\0', len) || !taskspec_version_valid(v))) {
		log_warn("rest_version_rejected", "remote=%s version=%s", log_qs(req->remote),
			 log_qs(v));
		http_respond_error(resp, 400,
				   "not a valid version: a Docker tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
		return;
	}
	char old[STORE_VERSION_MAX + 1], old_prev[STORE_VERSION_MAX + 1];
	snprintf(old, sizeof old, "%s", c->st.target_version);
	snprintf(old_prev, sizeof old_prev, "%s", c->st.previous_version);
	if (strcmp(old, v) != 0) /* kept for POST /v1/rollout/rollback */
		snprintf(c->st.previous_version, sizeof c->st.previous_version, "%s", old);
	snprintf(c->st.target_version, sizeof c->st.target_version, "%s", v);
	if (coord_save(c) != 0) {
		snprintf(c->st.target_version, sizeof c->st.target_version, "%s", old);
		snprintf(c->st.previous_version, sizeof c->st.previous_version, "%s", old_prev);
		respond_save_failed(c, resp, "new target version");
		return;
	}
	log_info("target_version", "old=%s new=%s%s", log_qs(old), log_qs(v),
		 len ? "" : " action=shutdown");
	if (strcmp(old, v) != 0)
		evlog_add(c->evlog, wall_ms(), EVLOG_ROLLOUT, "target version %s -> %s%s",
			  old[0] ? old : "(none)", v[0] ? v : "(none)",
			  len ? "" : ": shut every service down");
	replan_soon(c);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "target_version", v);
	cJSON_AddStringToObject(o, "previous_version", old);
	http_respond_json(resp, 200, o);
}

static void rest_prober_binary(const struct http_request *req, struct http_response *resp,
			       void *ctx)
{
	(void)req;
	struct coord *c = ctx;
	if (!c->cfg->prober_binary || !c->cfg->prober_binary[0]) {
		http_respond_error(resp, 404, "no prober binary is served (--prober-binary)");
		return;
	}
	if (http_respond_path(resp, 200, "application/octet-stream", c->cfg->prober_binary) != 0)
		http_respond_error(resp, 404, "the prober binary cannot be read");
}

/* POST /v1/framework/reset: the operator's way out of a framework the
 * master removed (failover timeout expired, torn down). Forgets the
 * framework id and subscribes as a new framework; tasks of the old one are
 * gone on the Mesos side, so they are forgotten too (reconciliation would
 * only report them lost). Never done automatically. */
static void rest_framework_reset(const struct http_request *req, struct http_response *resp,
				 void *ctx)
{
	struct coord *c = ctx;
	if (auth_ntokens(c->auth) == 0) {
		/* starting over loses the old framework's tasks: never without
		 * an authenticated caller */
		http_respond_error(resp, 403, "resetting the framework needs an authenticated "
					      "caller: start the coordinator with --api-token-file");
		return;
	}
	if (!c->leading) {
		http_respond_error(resp, 503, "this coordinator is a standby; ask the leader");
		return;
	}
	char old[sizeof c->st.framework_id];
	snprintf(old, sizeof old, "%s", c->st.framework_id);
	size_t forgotten = c->st.ntasks;
	c->st.framework_id[0] = '\0';
	while (c->st.ntasks) {
		health_drop(c, c->st.tasks[0].task_id);
		store_state_remove_task(&c->st, c->st.tasks[0].task_id);
	}
	if (coord_save(c) != 0) {
		respond_save_failed(c, resp, "reset");
		return;
	}
	log_warn("framework_reset", "remote=%s old_framework_id=%s tasks_forgotten=%zu",
		 log_qs(req->remote), log_qs(old), forgotten);
	mesos_reset_framework(c->mc);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "previous_framework_id", old);
	cJSON_AddNumberToObject(o, "tasks_forgotten", (double)forgotten);
	http_respond_json(resp, 200, o);
}

/* GET /v1/reservations: our reservations, releasable or not. */
static void rest_reservations_get(const struct http_request *req, struct http_response *resp,
				  void *ctx)
{
	(void)req;
	struct coord *c = ctx;
	if (!c->leading) {
		http_respond_error(resp, 503, "this coordinator is a standby; ask the leader");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "reservations", reservations_json(c, 0, c->st.nreservations));
	http_respond_json(resp, 200, o);
}

/* DELETE /v1/reservations/AGENT_ID/SERVICE: the operator releases a
 * reservation whose service is no longer wanted there. The coordinator
 * never releases one on its own; this call only marks it, and the next
 * offer from that agent carries the UNRESERVE. */
static void rest_reservation_delete(const struct http_request *req,
				    struct http_response *resp, void *ctx)
{
	struct coord *c = ctx;
	if (auth_ntokens(c->auth) == 0) {
		/* a release can free a disk that holds data: never without an
		 * authenticated caller */
		http_respond_error(resp, 403, "releasing a reservation needs an authenticated "
					      "caller: start the coordinator with --api-token-file");
		return;
	}
	if (!c->leading || c->step_down_posted) {
		http_respond_error(resp, 503, "this coordinator is a standby; ask the leader");
		return;
	}
	const char *rest = req->path + strlen("/v1/reservations/");
	const char *slash = strchr(rest, '/');
	char agent[STORE_ID_MAX + 1], svc[STORE_SERVICE_MAX + 1];
	size_t alen = slash ? (size_t)(slash - rest) : 0;
	if (!slash || alen == 0 || alen > STORE_ID_MAX || strlen(slash + 1) > STORE_SERVICE_MAX ||
	    strchr(slash + 1, '/')) {
		http_respond_error(resp, 400, "use DELETE /v1/reservations/AGENT_ID/SERVICE");
		return;
	}
	memcpy(agent, rest, alen);
	agent[alen] = '\0';
	snprintf(svc, sizeof svc, "%s", slash + 1);
	enum service s;
	if (!taskspec_id_valid(agent) || service_parse(svc, &s) != 0) {
		http_respond_error(resp, 400, "not an agent ID and a service name "
					      "(registry, metadata, data, client, prober, ...)");
		return;
	}
	struct store_reservation *v = sti_reservation(&c->sti, &c->st, svc, agent, false);
	if (!v) {
		http_respond_error(resp, 404, "no reservation of ours for this service on this "
					      "agent; GET /v1/reservations lists them");
		return;
	}
	int r = rsv_releasable(c, s, agent);
	if (r != 1) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s on %s is %s: its reservation is kept", svc,
			 v->hostname[0] ? v->hostname : agent,
			 r < 0 ? "not judged by a plan yet" : "still wanted or still running there");
		http_respond_error(resp, 409, msg);
		return;
	}
	bool was = v->release_requested;
	v->release_requested = true;
	if (!was && coord_save(c) != 0) {
		v = sti_reservation(&c->sti, &c->st, svc, agent, false);
		if (v)
			v->release_requested = false;
		respond_save_failed(c, resp, "release request");
		return;
	}
	log_warn("reservation_release_requested", "service=%s agent_id=%s hostname=%s remote=%s",
		 svc, log_qs(agent), log_qs(v->hostname), log_qs(req->remote));
	if (!was)
		evlog_add(c->evlog, wall_ms(), EVLOG_RESERVATION,
			  "release of the %s reservation on %s requested", svc,
			  v->hostname[0] ? v->hostname : agent);
	replan_soon(c);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "agent_id", agent);
	cJSON_AddStringToObject(o, "service", svc);
	cJSON_AddStringToObject(o, "status", "release requested: the next offer from this agent "
					     "carries the UNRESERVE");
	http_respond_json(resp, 202, o);
}

/* ---- rollout control (issue 14) ---- */

/* The rollout fields of *src into *dst. */
static void rollout_copy(struct store_state *dst, const struct store_state *src)
{
	dst->rollout_paused = src->rollout_paused;
	memcpy(dst->target_version, src->target_version, sizeof dst->target_version);
	memcpy(dst->previous_version, src->previous_version, sizeof dst->previous_version);
}

/* Save the changed state; on failure restore *saved and answer 500. */
static bool rollout_commit(struct coord *c, struct http_response *resp,
			   const struct store_state *saved, const char *what)
{
	if (coord_save(c) != 0) {
		rollout_copy(&c->st, saved);
		respond_save_failed(c, resp, what);
		return false;
	}
	replan_soon(c);
	return true;
}

static void rollout_pause_set(const struct http_request *req, struct http_response *resp,
			      struct coord *c, bool pause)
{
	if (refuse_standby(c, resp))
		return;
	if (c->st.rollout_paused == pause) {
		http_respond_error(resp, 409, pause ? "the rollout is already paused"
						    : "the rollout is not paused");
		return;
	}
	struct store_state saved = {0};
	rollout_copy(&saved, &c->st);
	c->st.rollout_paused = pause;
	if (!rollout_commit(c, resp, &saved, "rollout state"))
		return;
	log_info(pause ? "rollout_paused" : "rollout_resumed", "remote=%s target_version=%s",
		 log_qs(req->remote), log_qs(c->st.target_version));
	evlog_add(c->evlog, wall_ms(), EVLOG_ROLLOUT, "rollout %s by an operator (target %s)",
		  pause ? "paused" : "resumed", c->st.target_version);
	http_respond_json(resp, 200, rollout_json(c));
}

static void rest_rollout_pause(const struct http_request *req, struct http_response *resp,
			       void *ctx)
{
	rollout_pause_set(req, resp, ctx, true);
}

static void rest_rollout_resume(const struct http_request *req, struct http_response *resp,
				void *ctx)
{
	rollout_pause_set(req, resp, ctx, false);
}

/* Target := previous target; the one rolled back from becomes the previous
 * one, so a second rollback undoes the first. */
static void rest_rollout_rollback(const struct http_request *req, struct http_response *resp,
				  void *ctx)
{
	struct coord *c = ctx;
	if (refuse_standby(c, resp))
		return;
	if (!c->st.previous_version[0]) {
		http_respond_error(resp, 409, "no previous target version to roll back to");
		return;
	}
	struct store_state saved = {0};
	rollout_copy(&saved, &c->st);
	memcpy(c->st.target_version, saved.previous_version, sizeof c->st.target_version);
	memcpy(c->st.previous_version, saved.target_version, sizeof c->st.previous_version);
	if (!rollout_commit(c, resp, &saved, "rolled back target version"))
		return;
	log_info("target_version", "old=%s new=%s action=rollback remote=%s",
		 log_qs(saved.target_version), log_qs(c->st.target_version), log_qs(req->remote));
	evlog_add(c->evlog, wall_ms(), EVLOG_ROLLOUT, "rollback: target version %s -> %s",
		  saved.target_version, c->st.target_version);
	http_respond_json(resp, 200, rollout_json(c));
}

/* ---- per-node drain (issue 14, planner rule 15) ---- */

/* The longest node name accepted: a DNS name has at most 253 characters,
 * a Mesos agent id fits STORE_ID_MAX. */
#define NODE_NAME_MAX 255

/* A node name from a URL: a hostname or an agent id, [A-Za-z0-9._-] only
 * (no percent-escapes, no slash), 1..NODE_NAME_MAX bytes. */
static bool node_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* The agent a node name means: the one with that hostname (an active one
 * first: a removed agent's old id may linger inactive next to its new one),
 * else the one with that agent id. NULL with *ambiguous set when two active
 * agents share the hostname. */
static struct agent *node_find(struct coord *c, const char *name, bool *ambiguous)
{
	struct agent *act = NULL, *any = NULL;
	size_t nact = 0;
	*ambiguous = false;
	for (size_t i = 0; i < c->nagents; i++) {
		struct agent *a = &c->agents[i];
		if (!a->hostname || strcmp(a->hostname, name) != 0)
			continue;
		any = a;
		if (a->active) {
			act = a;
			nact++;
		}
	}
	if (nact > 1) {
		*ambiguous = true;
		return NULL;
	}
	if (act || any)
		return act ? act : any;
	return agent_find(c, name);
}

/* {"agent_id", "hostname", "drained", and for a drained node its drain}. */
static cJSON *drain_json(const struct coord *c, const char *agent_id, const char *hostname,
			 const struct store_drain *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "agent_id", agent_id);
	cJSON_AddStringToObject(o, "hostname", hostname ? hostname : "");
	cJSON_AddBoolToObject(o, "drained", d != NULL);
	if (d)
		cJSON_AddItemToObject(o, "drain", drain_fields(c, agent_id, d));
	return o;
}

/* force=true|1|"" (present without a value) or false|0; false when absent.
 * -1 for anything else. */
static int force_param(const struct http_request *req)
{
	char v[8];
	int rv = http_query_param(req, "force", v, sizeof v);
	if (rv == QM_ENOENT)
		return 0;
	if (rv != 0)
		return -1;
	if (!v[0] || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	return -1;
}

static void node_drain(const struct http_request *req, struct http_response *resp,
		       struct coord *c, struct agent *a, bool force)
{
	struct store_drain *d = store_state_drain_covering(&c->st, a->id, a->hostname);
	if (d) {
		/* idempotent: the node stays drained as it was */
		http_respond_json(resp, 200, drain_json(c, a->id, a->hostname, d));
		return;
	}
	const char *node = a->hostname && *a->hostname ? a->hostname : a->id;
	const struct plan_drain *v = drain_verdict(c, a->id);
	char msg[PLAN_PROBLEM_MAX];
	if (!v && !force) {
		snprintf(msg, sizeof msg,
			 "no plan has judged %s yet, so the registry quorum cannot be checked; "
			 "try again in a moment, or add ?force=true",
			 node);
		http_respond_error(resp, 409, msg);
		return;
	}
	bool unsafe = !v || !v->safe;
	if (unsafe && !force) {
		snprintf(msg, sizeof msg,
			 "draining %s would break the registry quorum: %u of %u registries would "
			 "stay ready, a quorum needs %u; add ?force=true to drain anyway",
			 node, v->staying, v->members, v->quorum);
		http_respond_error(resp, 409, msg);
		return;
	}
	d = store_state_drain(&c->st, a->id, true);
	if (!d) {
		http_respond_error(resp, 500, "agent id does not fit the state");
		return;
	}
	snprintf(d->hostname, sizeof d->hostname, "%s", a->hostname ? a->hostname : "");
	d->since_ms = wall_ms();
	d->forced = unsafe;
	if (coord_save(c) != 0) {
		store_state_remove_drain(&c->st, a->id);
		http_respond_error(resp, 500, "could not save the drain; see the log");
		return;
	}
	log_warn("node_drained", "agent_id=%s hostname=%s forced=%s remote=%s", log_qs(a->id),
		 log_qs(a->hostname), unsafe ? "yes" : "no", log_qs(req->remote));
	replan_soon(c);
	http_respond_json(resp, 200, drain_json(c, a->id, a->hostname, d));
}

/* Undrain the node of drain entry d (NULL: not drained); a is its agent
 * when known. */
static void node_undrain(const struct http_request *req, struct http_response *resp,
			 struct coord *c, const struct agent *a, struct store_drain *d)
{
	if (!d) {
		char msg[NODE_NAME_MAX + 64];
		snprintf(msg, sizeof msg, "%s is not drained",
			 a->hostname && *a->hostname ? a->hostname : a->id);
		http_respond_error(resp, 409, msg);
		return;
	}
	/* d goes away below: answer from a copy */
	struct store_drain saved = *d;
	const char *agent_id = a ? a->id : saved.agent_id;
	const char *hostname = a ? a->hostname : saved.hostname;
	store_state_remove_drain(&c->st, saved.agent_id);
	if (coord_save(c) != 0) {
		struct store_drain *back = store_state_drain(&c->st, saved.agent_id, true);
		if (back)
			*back = saved;
		http_respond_error(resp, 500, "could not save the undrain; see the log");
		return;
	}
	log_warn("node_undrained", "agent_id=%s hostname=%s remote=%s", log_qs(agent_id),
		 log_qs(hostname), log_qs(req->remote));
	replan_soon(c);
	http_respond_json(resp, 200, drain_json(c, agent_id, hostname, NULL));
}

/* POST /v1/nodes/NODE/drain[?force=true] and POST /v1/nodes/NODE/undrain:
 * NODE is a hostname as /v1/state shows it, or an agent id. A drain stops
 * the node's Quobyte services in reverse phase order and keeps its
 * reservations (planner rule 15); it is refused (409) when it would break
 * the registry quorum by the last plan's count, unless forced. Draining a
 * drained node answers 200 with its drain as it is (idempotent); undraining
 * a node that is not drained answers 409. */
static void rest_node_action(const struct http_request *req, struct http_response *resp,
			     void *ctx)
{
	struct coord *c = ctx;
	if (refuse_standby(c, resp))
		return;
	const char *rest = req->path + strlen("/v1/nodes/");
	const char *slash = strchr(rest, '/');
	size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
	bool drain = slash && strcmp(slash, "/drain") == 0;
	bool undrain = slash && strcmp(slash, "/undrain") == 0;
	if (!drain && !undrain) {
		http_respond_error(resp, 404, "use POST /v1/nodes/NODE/drain or "
					      "POST /v1/nodes/NODE/undrain");
		return;
	}
	if (!node_name_valid(rest, nlen)) {
		http_respond_error(resp, 400, "not a node name: a hostname or agent id of at "
					      "most 255 characters [A-Za-z0-9._-]");
		return;
	}
	char name[NODE_NAME_MAX + 1];
	memcpy(name, rest, nlen);
	name[nlen] = '\0';
	int force = force_param(req);
	if (force < 0 || (undrain && force)) {
		http_respond_error(resp, 400, undrain ? "undrain takes no force parameter"
						      : "force is true or false");
		return;
	}
	bool ambiguous;
	struct agent *a = node_find(c, name, &ambiguous);
	if (ambiguous) {
		http_respond_error(resp, 409, "two active agents have this hostname; name the "
					      "node by its agent id");
		return;
	}
	if (undrain) {
		/* a drained node whose agent is not known (yet) can be undrained */
		struct store_drain *d = a ? store_state_drain_covering(&c->st, a->id, a->hostname)
					  : store_state_drain_covering(&c->st, name, name);
		if (!a && !d) {
			http_respond_error(resp, 404, "no such node; GET /v1/state lists them");
			return;
		}
		node_undrain(req, resp, c, a, d);
		return;
	}
	if (!a) {
		http_respond_error(resp, 404, "no such node; GET /v1/state lists them");
		return;
	}
	node_drain(req, resp, c, a, force == 1);
}

const struct http_route rest_routes[] = {
	{ "GET", "/v1/health", rest_health, AUTH_ACCESS_PUBLIC },
	{ "GET", "/v1/audit", rest_audit, AUTH_ACCESS_ADMIN },
	{ "GET", "/v1/state", rest_state, false },
	{ "GET", "/v1/version", rest_version_get, false },
	{ "POST", "/v1/version", rest_version_post, true },
	{ "POST", "/v1/framework/reset", rest_framework_reset, true },
	{ "POST", "/v1/rollout/pause", rest_rollout_pause, true },
	{ "POST", "/v1/rollout/resume", rest_rollout_resume, true },
	{ "POST", "/v1/rollout/rollback", rest_rollout_rollback, true },
	{ "POST", "/v1/nodes/", rest_node_action, true },
	{ "GET", "/v1/reservations", rest_reservations_get, false },
	{ "DELETE", "/v1/reservations/", rest_reservation_delete, true },
	{ "GET", "/metrics", metrics_handler, false },
	/* the Mesos fetcher has no token */
	{ "GET", "/files/quobyte-prober", rest_prober_binary, AUTH_ACCESS_PUBLIC },
	{ "GET", "/", statuspage_html, AUTH_ACCESS_READ },
	{ "GET", "/status.js", statuspage_js, AUTH_ACCESS_READ },
	{ "GET", "/status.css", statuspage_css, AUTH_ACCESS_READ },
};
const size_t rest_nroutes = sizeof rest_routes / sizeof rest_routes[0];
