/* GET /metrics and its histograms (api/metrics.h). The format is the
 * Prometheus text exposition format 0.0.4: one "# HELP" and one "# TYPE"
 * line per family, all its samples together, label values escaped
 * (backslash, double quote, line feed). Names follow the Prometheus naming
 * conventions: a quobyte_mesos_ prefix, _total on counters, base units
 * (_seconds, _bytes). */
#include "api/metrics.h"

#include "api/auth.h"
#include "clock.h"
#include "mesos/mesos.h"
#include "qm_error.h"
#include "shell/busd.h"
#include "shell/coord_priv.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* histograms                                                          */

/* Durations inside the coordinator: a plan, a store save (ZooKeeper round
 * trips), the way from OFFERS to ACCEPT (its goal: a millisecond plus one
 * fdatasync, hence the bounds under a millisecond). Microseconds. */
static const uint32_t duration_le_us[] = {
	100,    250,    500,     1000,    2000,    5000,    10000,   25000,
	50000,  100000, 250000,  500000,  1000000, 2500000, 5000000, 10000000};
/* A bus message's age: network, the prober's queue, clock skew. */
static const uint32_t age_le_us[] = {5000,    10000,   25000,    50000,    100000,
				     250000,  500000,  1000000,  2500000,  5000000,
				     10000000, 30000000, 60000000};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void metrics_hist_init(struct metrics_hist *h, const uint32_t *le_us, size_t nle)
{
	memset(h, 0, sizeof *h);
	h->le_us = le_us;
	h->nle = nle > METRICS_HIST_MAX_BUCKETS ? METRICS_HIST_MAX_BUCKETS : nle;
}

void metrics_hist_observe_us(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < h->nle && us > h->le_us[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum_us += us;
}

void metrics_hist_observe_ms(struct metrics_hist *h, uint64_t ms)
{
	metrics_hist_observe_us(h, ms > UINT64_MAX / 1000 ? UINT64_MAX : ms * 1000);
}

void metrics_hist_since(struct metrics_hist *h, uint64_t start_us)
{
	if (start_us == 0)
		return;
	uint64_t now = clock_mono_us();
	metrics_hist_observe_us(h, now > start_us ? now - start_us : 0);
}

void metrics_init(struct metrics_state *m)
{
	memset(m, 0, sizeof *m);
	metrics_hist_init(&m->plan, duration_le_us, NELEM(duration_le_us));
	metrics_hist_init(&m->store_save, duration_le_us, NELEM(duration_le_us));
	metrics_hist_init(&m->offer_accept, duration_le_us, NELEM(duration_le_us));
	metrics_hist_init(&m->offer_accept_beyond_sync, duration_le_us, NELEM(duration_le_us));
	metrics_hist_init(&m->bus_age, age_le_us, NELEM(age_le_us));
	metrics_hist_init(&m->marker_launch, age_le_us, NELEM(age_le_us));
}

/* ------------------------------------------------------------------ */
/* the text buffer                                                     */

void metrics_buf_init(struct metrics_buf *b)
{
	b->cap = 4096;
	b->p = qm_malloc(b->cap);
	b->p[0] = '\0';
	b->len = 0;
	b->full = false;
}

void metrics_buf_fini(struct metrics_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Room for n more bytes plus the NUL; false (and .full) past the cap. */
static bool reserve(struct metrics_buf *b, size_t n)
{
	if (b->full || n >= METRICS_BUF_CAP - b->len) {
		b->full = true;
		return false;
	}
	size_t cap = b->cap;
	while (cap - b->len <= n)
		cap *= 2;
	if (cap != b->cap) {
		b->p = qm_realloc(b->p, cap);
		b->cap = cap;
	}
	return true;
}

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void metrics_label(struct metrics_buf *b, const char *value)
{
	size_t n = 0;
	for (const char *s = value; *s; s++)
		n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
	if (!reserve(b, n))
		return;
	char *o = b->p + b->len;
	for (const char *s = value; *s; s++) {
		switch (*s) {
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '"':
			*o++ = '\\';
			*o++ = '"';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		default:
			*o++ = *s;
		}
	}
	*o = '\0';
	b->len += n;
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Microseconds as seconds, exactly (no binary rounding in the page), with
 * no trailing zeros: 100 -> "0.0001", 2500000 -> "2.5", 10000000 -> "10". */
static void seconds(struct metrics_buf *b, uint64_t us)
{
	unsigned frac = (unsigned)(us % 1000000);
	int digits = 6;
	while (digits > 0 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	if (digits == 0)
		metrics_printf(b, "%llu", (unsigned long long)(us / 1000000));
	else
		metrics_printf(b, "%llu.%0*u", (unsigned long long)(us / 1000000), digits, frac);
}

void metrics_hist_write(struct metrics_buf *b, const char *name, const char *help,
			const struct metrics_hist *h)
{
	metrics_family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (size_t i = 0; i < h->nle; i++) {
		cum += h->counts[i];
		metrics_printf(b, "%s_bucket{le=\"", name);
		seconds(b, h->le_us[i]);
		metrics_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	metrics_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum ", name,
		       (unsigned long long)h->count, name);
	seconds(b, h->sum_us);
	metrics_printf(b, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

/* ------------------------------------------------------------------ */
/* the page                                                            */

#define P "quobyte_mesos_"

static void gauge(struct metrics_buf *b, const char *name, const char *help, double v)
{
	metrics_family(b, name, "gauge", help);
	metrics_printf(b, "%s %.17g\n", name, v);
}

static void counter(struct metrics_buf *b, const char *name, const char *help, uint64_t v)
{
	metrics_family(b, name, "counter", help);
	metrics_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void counters(struct metrics_buf *b, const struct coord *c)
{
	const struct {
		const char *name, *help;
		uint64_t v;
	} t[] = {
		{P "offers_received_total", "Offers received from the Mesos master.", c->n.offers},
		{P "offers_accepted_total", "Offers accepted (ACCEPT calls sent).", c->n.accepted},
		{P "offers_declined_total", "Offers declined (DECLINE calls sent).", c->n.declined},
		{P "offers_malformed_total",
		 "Offers that could not be read (declined unplanned; the first few of an event "
		 "are logged).",
		 c->n.offers_malformed},
		{P "bus_unexpected_agents_refused_total",
		 "Prober messages refused because their agent was never offered to this framework, "
		 "runs none of its tasks, and the nodes kept for such agents are at their cap.",
		 c->n.bus_unexpected_refused},
		{P "offers_over_cap_total",
		 "Offers past the per-event cap of an OFFERS event (declined unread).",
		 c->n.offers_over_cap},
		{P "tasks_launched_total", "Tasks launched in ACCEPT calls.", c->n.launches},
		{P "tasks_killed_total", "KILL calls sent for tasks.", c->n.kills},
		{P "status_updates_total", "Task status updates received.", c->n.updates},
		{P "status_acks_total", "Task status updates acknowledged.", c->n.acks},
		{P "revives_total", "REVIVE calls sent (offers wanted again).", c->n.revives},
		{P "suppresses_total", "SUPPRESS calls sent (no offers wanted).", c->n.suppresses},
		{P "plans_total", "Planning cycles run.", c->n.plans},
		{P "replans_deferred_total",
		 "Replans held back behind a costly plan (planned together with what came meanwhile).",
		 c->n.replans_deferred},
		{P "offer_events_planned_later_total",
		 "OFFERS events of 1,000 offers or more planned in the loop turn after the one "
		 "that booked their agents.",
		 c->n.plans_later},
		{P "launch_slices_total",
		 "Slices of a plan's launches saved and sent one event-loop iteration each "
		 "(only plans with more launches than one slice holds).",
		 c->n.launch_slices},
		{P "orphans_killed_total", "Tasks killed that the stored state did not know.",
		 c->n.orphans_killed},
		{P "subscriptions_total", "Successful SUBSCRIBE calls to the Mesos master.",
		 c->n.subscriptions},
		{P "inventory_changes_total", "Prober messages that changed a node's inventory.",
		 c->n.bus_changes},
		{P "store_saves_total", "Successful saves of the coordinator's state.",
		 c->n.store_saves},
		{P "store_errors_total", "Failed saves of the coordinator's state.",
		 c->n.store_errors},
		{P "reservations_made_total",
		 "RESERVE operations sent (resources reserved for a pinned service).",
		 c->n.reserves},
		{P "reservations_released_total",
		 "UNRESERVE operations sent (reservations an operator released).", c->n.unreserves},
		{P "reservations_found_total",
		 "Reservations found in offers that the stored state did not know (recorded and "
		 "kept).",
		 c->n.reservations_found},
		{P "inverse_offers_accepted_total",
		 "Inverse offers (maintenance windows) accepted.", c->n.inverse_accepted},
		{P "inverse_offers_declined_total",
		 "Inverse offers (maintenance windows) declined.", c->n.inverse_declined},
	};
	for (size_t i = 0; i < NELEM(t); i++)
		counter(b, t[i].name, t[i].help, t[i].v);
	struct mesos_status ms = {.leader_changes = 0};
	if (c->mc)
		mesos_status(c->mc, &ms);
	counter(b, P "master_records_refused_total",
		"Records of the master's event stream that could not be read (over the size cap, "
		"bad framing); each dropped the stream, which is subscribed again.",
		ms.records_refused);
	counter(b, P "master_records_parsed_off_loop_total",
		"Records of the master's event stream (256 KiB or more, or behind one) parsed on "
		"the Mesos client's parser thread instead of the event loop.",
		ms.records_off_loop);
	counter(b, P "master_stream_pauses_total",
		"Times a burst on the master's event stream was paused until the next loop "
		"iteration (20 ms of it handled in one go).",
		ms.stream_pauses);
}

static void histograms(struct metrics_buf *b, const struct metrics_state *m)
{
	metrics_hist_write(b, P "plan_duration_seconds",
			   "Time one planning cycle took: plan input, plan computation, "
			   "state save and the calls it sends.",
			   &m->plan);
	metrics_hist_write(b, P "store_save_duration_seconds",
			   "Time one save of the coordinator's state to its store took.",
			   &m->store_save);
	metrics_hist_write(b, P "offer_accept_latency_seconds",
			   "Time from an OFFERS event arriving to the ACCEPT sent for one "
			   "of its offers.",
			   &m->offer_accept);
	metrics_hist_write(b, P "offer_accept_beyond_sync_seconds",
			   "The same less the time the state saves on the way waited for the "
			   "disk (the file store's fdatasync of its record): the "
			   "coordinator's own work.",
			   &m->offer_accept_beyond_sync);
	metrics_hist_write(b, P "bus_message_age_seconds",
			   "Age of a prober's bus message when the coordinator took it: its "
			   "send time against the coordinator's wall clock (clock skew "
			   "included, negative ages count as 0).",
			   &m->bus_age);
	metrics_hist_write(b, P "marker_to_launch_seconds",
			   "Time from a prober seeing a device appear or change its types (a "
			   "marker written) to the LAUNCH of the registry, metadata or data "
			   "service it brings on that node; the prober's clock against the "
			   "coordinator's. Counts changes seen while this coordinator leads.",
			   &m->marker_launch);
}

/* Per service: running, healthy, at the target version. */
static void services(struct metrics_buf *b, struct coord *c)
{
	unsigned running[SERVICE_COUNT] = {0}, healthy[SERVICE_COUNT] = {0};
	unsigned at_target[SERVICE_COUNT] = {0};
	for (size_t i = 0; i < c->st.ntasks; i++) {
		const struct store_task *t = &c->st.tasks[i];
		if (task_state(t) != PLAN_TASK_RUNNING)
			continue;
		enum service s = task_service(t);
		running[s]++;
		/* as the planner judges readiness (shell/events.c state_ready):
		 * a passed check where the service has one, else no failed one */
		enum plan_health h = health_at(c, i);
		if ((c->pc.health_checked & (1u << s)) ? h == PLAN_HEALTH_OK
						       : h != PLAN_HEALTH_FAILING)
			healthy[s]++;
		if (t->version[0] && strcmp(t->version, c->st.target_version) == 0)
			at_target[s]++;
	}
	const struct {
		const char *name, *help;
		const unsigned *v;
		bool versioned; /* probers carry no version */
	} f[] = {
		{P "service_tasks_running", "Tasks of the service in TASK_RUNNING.", running,
		 false},
		{P "service_tasks_healthy",
		 "Running tasks of the service that are healthy: the last health check passed, "
		 "or none failed for a service without a health check.",
		 healthy, false},
		{P "service_tasks_at_target_version",
		 "Running tasks of the service at the target version (the prober has none).",
		 at_target, true},
	};
	for (size_t k = 0; k < NELEM(f); k++) {
		metrics_family(b, f[k].name, "gauge", f[k].help);
		for (int s = 0; s < SERVICE_COUNT; s++) {
			if (f[k].versioned && s == SERVICE_PROBER)
				continue;
			metrics_printf(b, "%s{service=\"%s\"} %u\n", f[k].name,
				       service_name((enum service)s), f[k].v[s]);
		}
	}
}

/* Label values by proto enum value (proto/quobyte_bus.proto DeviceType,
 * DeviceState); index 4 of the types is "no type at all". */
#define NTYPES  NODES_DEV_TYPES
#define NSTATES NODES_DEV_STATES
static const char *const type_names[NTYPES] = {"unknown", "registry", "metadata", "data", "none"};
static const char *const state_names[NSTATES] = {"unknown", "ok", "no_type", "error",
						 "probe_timeout"};

static const char *node_name(const struct nodes_node *n)
{
	return n->hostname && n->hostname[0] ? n->hostname : n->agent_id;
}

/* The next labelled series, if the scrape's budget allows it. */
static bool take(size_t *budget, uint64_t *dropped)
{
	if (*budget == 0) {
		(*dropped)++;
		return false;
	}
	(*budget)--;
	return true;
}

void metrics_write_devices(struct metrics_buf *b, const struct nodes *ns, size_t *budget,
			   uint64_t *dropped)
{
	const char *name = P "node_devices";
	metrics_family(b, name, "gauge",
		       "Devices a node's prober reports, by device type and state.");
	for (size_t i = 0; i < ns->n; i++) {
		const struct nodes_node *n = &ns->v[i];
		/* [type 0..3, 4 = none][state], counted when the devices changed */
		const unsigned(*count)[NSTATES] = n->dev_by_type_state;
		for (int t = 0; t < NTYPES; t++)
			for (int st = 0; st < NSTATES; st++) {
				if (!count[t][st] || !take(budget, dropped))
					continue;
				metrics_printf(b, "%s{node=\"", name);
				metrics_label(b, node_name(n));
				metrics_printf(b, "\",type=\"%s\",state=\"%s\"} %u\n",
					       type_names[t], state_names[st], count[t][st]);
			}
	}

	const struct {
		const char *name, *help;
		bool free;
	} f[] = {
		{P "device_size_bytes", "Size of the file system at a device root, in bytes.",
		 false},
		{P "device_free_bytes", "Free bytes of the file system at a device root.", true},
	};
	for (size_t k = 0; k < NELEM(f); k++) {
		metrics_family(b, f[k].name, "gauge", f[k].help);
		for (size_t i = 0; i < ns->n; i++) {
			const struct nodes_node *n = &ns->v[i];
			if (*budget == 0) { /* past the cap: count them, write none */
				*dropped += f[k].free ? n->dev_with_free : n->dev_with_size;
				continue;
			}
			for (size_t j = 0; j < n->ndevices; j++) {
				const struct nodes_device *d = &n->devices[j];
				bool has = f[k].free ? d->has_free_bytes : d->has_size_bytes;
				if (!has || !d->root || !take(budget, dropped))
					continue;
				metrics_printf(b, "%s{node=\"", f[k].name);
				metrics_label(b, node_name(n));
				metrics_printf(b, "\",root=\"");
				metrics_label(b, d->root);
				metrics_printf(b, "\"} %llu\n",
					       (unsigned long long)(f[k].free ? d->free_bytes
									      : d->size_bytes));
			}
		}
	}
}

/* The probers' own counters (ProberStats on the bus), one series per node
 * whose prober sent them; they restart from 0 with the prober. */
static void prober_stats(struct metrics_buf *b, const struct nodes *ns, size_t *budget,
			 uint64_t *dropped)
{
	const struct {
		const char *name, *type, *help;
		size_t off;
	} f[] = {
#define PS(field) offsetof(struct nodes_prober_stats, field)
		{P "prober_rebuilds_total", "counter",
		 "Inventory rebuilds (scans) by a node's prober since it started.", PS(rebuilds)},
		{P "prober_resyncs_total", "counter",
		 "Full resyncs by a node's prober: start, SIGHUP, lost events.", PS(resyncs)},
		{P "prober_udev_overflows_total", "counter",
		 "udev netlink overflows (uevents lost, ENOBUFS) a node's prober recovered from.",
		 PS(udev_overflows)},
		{P "prober_inotify_overflows_total", "counter",
		 "inotify queue overflows a node's prober recovered from.", PS(inotify_overflows)},
		{P "prober_resident_memory_bytes", "gauge",
		 "Resident memory of a node's prober when it last reported.", PS(rss_bytes)},
		{P "prober_messages_sent_total", "counter",
		 "Bus messages a node's prober has sent.", PS(messages_sent)},
		{P "prober_send_failures_total", "counter",
		 "Bus messages of a node's prober that failed, timed out or were refused.",
		 PS(send_failures)},
#undef PS
	};
	for (size_t k = 0; k < NELEM(f); k++) {
		metrics_family(b, f[k].name, f[k].type, f[k].help);
		for (size_t i = 0; i < ns->n; i++) {
			const struct nodes_node *n = &ns->v[i];
			if (!n->stats.known || !take(budget, dropped))
				continue;
			uint64_t v;
			memcpy(&v, (const char *)&n->stats + f[k].off, sizeof v);
			metrics_printf(b, "%s{node=\"", f[k].name);
			metrics_label(b, node_name(n));
			metrics_printf(b, "\"} %llu\n", (unsigned long long)v);
		}
	}
}

static void state_gauges(struct metrics_buf *b, struct coord *c)
{
	gauge(b, P "subscribed", "1 while subscribed to the Mesos master as the framework.",
	      mesos_subscribed(c->mc) ? 1 : 0);
	size_t reporting = 0;
	for (size_t i = 0; i < c->nodes.n; i++)
		reporting += c->nodes.v[i].has_snapshot;
	gauge(b, P "agents", "Mesos agents the coordinator knows.", (double)c->nagents);
	gauge(b, P "nodes_reporting", "Nodes whose prober has reported an inventory.",
	      (double)reporting);
	gauge(b, P "nodes_drained",
	      "Nodes the operator drained (POST /v1/nodes/NODE/drain); their services stay stopped.",
	      (double)c->st.ndrains);
	gauge(b, P "tasks", "Tasks in the coordinator's stored state.", (double)c->st.ntasks);
	gauge(b, P "problems", "Problems the last plan reported to operators.",
	      (double)c->last.n_problems);
	const struct {
		const char *name, *help;
		int which;
	} f[] = {
		{P "phase_wanted", "Tasks the last plan wants in the rollout phase.", 0},
		{P "phase_ready", "Tasks of the rollout phase that are ready.", 1},
	};
	for (size_t k = 0; k < NELEM(f); k++) {
		metrics_family(b, f[k].name, "gauge", f[k].help);
		for (int p = 0; p < PLAN_PHASE_COUNT; p++)
			metrics_printf(b, "%s{phase=\"%s\"} %u\n", f[k].name,
				       plan_phase_name((enum plan_phase)p),
				       f[k].which ? c->last.progress[p].ready
						  : c->last.progress[p].wanted);
	}
}

void metrics_handler(const struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	struct coord *c = ctx;
	struct metrics_buf b;
	metrics_buf_init(&b);
	state_gauges(&b, c);
	counters(&b, c);
	if (c->auth) {
		struct auth_stats as;
		auth_stats(c->auth, &as);
		counter(&b, P "http_auth_failures_total",
			"REST requests refused for a missing or wrong token.", as.failures);
		counter(&b, P "http_auth_forbidden_total",
			"REST requests refused because the token lacks the access.", as.forbidden);
		counter(&b, P "http_auth_limited_total",
			"REST requests refused by the failed-authentication rate limit.",
			as.limited);
		gauge(&b, P "http_insecure", "1 when the REST API runs without tokens.",
		      c->http_open ? 1 : 0);
	}
	if (c->busd) {
		struct busd_stats bs;
		busd_stats(c->busd, &bs);
		counter(&b, P "bus_received_total", "Bus frames received from probers.",
			bs.received);
		counter(&b, P "bus_accepted_total", "Bus frames that passed decoding and the MAC.",
			bs.accepted);
		counter(&b, P "bus_rejected_total", "Bus frames refused (malformed or bad MAC).",
			bs.rejected);
	}
	if (c->loop) {
		/* a scrape starts a new "recent" window: with one scraper (the
		 * benchmarks, a Prometheus) it is the longest stall between two
		 * scrapes */
		struct ev_iter_stats it;
		ev_iter_stats(c->loop, &it, true);
		gauge(&b, P "loop_iteration_max_seconds",
		      "Longest event-loop iteration (callbacks, not the wait) since the start.",
		      (double)it.max_us / 1e6);
		gauge(&b, P "loop_iteration_recent_max_seconds",
		      "Longest event-loop iteration since the previous scrape of /metrics.",
		      (double)it.recent_max_us / 1e6);
		counter(&b, P "loop_stalls_total",
			"Event-loop iterations that took 50 ms or more.", it.stalls);
		gauge(&b, P "loop_iteration_save_max_seconds",
		      "Longest event-loop iteration that saved the state (made a save, "
		      "started one or took its answer) since the start.",
		      (double)it.mark_max_us[COORD_MARK_SAVE] / 1e6);
		counter(&b, P "loop_iterations_saving_total",
			"Event-loop iterations that saved the state.",
			it.marked[COORD_MARK_SAVE]);
	}
	histograms(&b, &c->metrics);
	services(&b, c);
	size_t budget = METRICS_MAX_SERIES;
	uint64_t dropped = 0;
	metrics_write_devices(&b, &c->nodes, &budget, &dropped);
	prober_stats(&b, &c->nodes, &budget, &dropped);
	c->metrics.series_dropped += dropped;
	gauge(&b, P "metrics_series_limit",
	      "Per-node and per-device series one scrape writes at most.", METRICS_MAX_SERIES);
	counter(&b, P "metrics_series_dropped_total",
		"Per-node and per-device series left out of scrapes over the series limit.",
		c->metrics.series_dropped);
	if (b.full)
		http_respond_error(resp, 500, "the metrics page is over its size cap");
	else
		http_respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	metrics_buf_fini(&b);
}
