#include "core/nodes.h"

#include "qm_error.h"

#include <stdlib.h>
#include <string.h>

static void relayout(struct nodes *ns)
{
	static uint64_t next;
	ns->layout = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

void nodes_init(struct nodes *ns)
{
	memset(ns, 0, sizeof *ns);
	strmap_init(&ns->idx);
	relayout(ns);
}

static void clear_devices(struct nodes_node *n)
{
	for (size_t i = 0; i < n->ndevices; i++)
		quobyte__bus__device__free_unpacked(n->devices[i].d, NULL);
	free(n->devices);
	n->devices = NULL;
	n->ndevices = 0;
}

static void node_free(struct nodes_node *n)
{
	clear_devices(n);
	free(n->agent_id);
	free(n->hostname);
	free(n->boot_id);
	free(n->client_mount_point);
}

bool nodes_remove(struct nodes *ns, const char *agent_id)
{
	size_t i;
	if (!strmap_get(&ns->idx, agent_id, &i))
		return false;
	strmap_del(&ns->idx, agent_id);
	node_free(&ns->v[i]);
	if (i != ns->n - 1) {
		ns->v[i] = ns->v[ns->n - 1];
		strmap_put(&ns->idx, ns->v[i].agent_id, i);
	}
	ns->n--;
	relayout(ns);
	return true;
}

void nodes_fini(struct nodes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		node_free(&ns->v[i]);
	free(ns->v);
	strmap_fini(&ns->idx);
	memset(ns, 0, sizeof *ns);
}

/* Deep copy through pack/unpack: the one copy routine protobuf-c gives,
 * and it cannot drift from the schema. */
static Quobyte__Bus__Device *device_copy(const Quobyte__Bus__Device *d)
{
	size_t len = quobyte__bus__device__get_packed_size(d);
	uint8_t *buf = qm_malloc(len);
	quobyte__bus__device__pack(d, buf);
	Quobyte__Bus__Device *c = quobyte__bus__device__unpack(NULL, len, buf);
	free(buf);
	if (!c)
		qm_oom(); /* our own packing cannot be malformed */
	return c;
}

static struct nodes_node *find(struct nodes *ns, const char *agent_id)
{
	size_t i;
	return strmap_get(&ns->idx, agent_id, &i) ? &ns->v[i] : NULL;
}

const struct nodes_node *nodes_find(const struct nodes *ns, const char *agent_id)
{
	return find((struct nodes *)ns, agent_id);
}

const struct nodes_node *nodes_find_cached(const struct nodes *ns, const char *agent_id,
					   size_t *ix, uint64_t *layout)
{
	if (*layout != ns->layout) {
		const struct nodes_node *n = nodes_find(ns, agent_id);
		*ix = n ? (size_t)(n - ns->v) : SIZE_MAX;
		*layout = ns->layout;
	}
	return *ix < ns->n ? &ns->v[*ix] : NULL;
}

static struct nodes_node *get(struct nodes *ns, const char *agent_id, uint64_t now_ms)
{
	struct nodes_node *n = find(ns, agent_id);
	if (n)
		return n;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = qm_realloc(ns->v, ns->cap * sizeof *ns->v);
	}
	strmap_put(&ns->idx, agent_id, ns->n);
	relayout(ns);
	n = &ns->v[ns->n++];
	memset(n, 0, sizeof *n);
	n->agent_id = qm_strdup(agent_id);
	n->first_seen_ms = now_ms;
	return n;
}

static void set_str(char **dst, const char *src)
{
	if (!src)
		return;
	if (*dst && strcmp(*dst, src) == 0)
		return;
	free(*dst);
	*dst = qm_strdup(src);
}

static long find_device(const struct nodes_node *n, const char *key)
{
	for (size_t i = 0; i < n->ndevices; i++)
		if (n->devices[i].d->key && strcmp(n->devices[i].d->key, key) == 0)
			return (long)i;
	return -1;
}

static void upsert(struct nodes_node *n, const Quobyte__Bus__Device *d)
{
	if (!d->key)
		return;
	long i = find_device(n, d->key);
	if (i >= 0) {
		quobyte__bus__device__free_unpacked(n->devices[i].d, NULL);
		n->devices[i].d = device_copy(d);
		return;
	}
	n->devices = qm_realloc(n->devices, (n->ndevices + 1) * sizeof *n->devices);
	n->devices[n->ndevices++].d = device_copy(d);
}

static void remove_key(struct nodes_node *n, const char *key)
{
	long i = find_device(n, key);
	if (i < 0)
		return;
	quobyte__bus__device__free_unpacked(n->devices[i].d, NULL);
	n->devices[i] = n->devices[--n->ndevices];
}

static void recount(struct nodes_node *n);

int nodes_apply(struct nodes *ns, const Quobyte__Bus__Envelope *env, uint64_t now_ms,
		Quobyte__Bus__Ack *ack, bool *changed)
{
	*changed = false;
	if (!env->node || !env->node->agent_id) {
		ack->error = (char *)"message without node identity";
		return QM_EINVAL;
	}
	struct nodes_node *n = get(ns, env->node->agent_id, now_ms);
	n->last_report_ms = now_ms;
	n->protocol_version = env->protocol_version;
	set_str(&n->hostname, env->node->hostname);
	set_str(&n->boot_id, env->node->boot_id);
	bool same_session = n->has_snapshot && env->has_session && env->session == n->session;
	if (env->stats) {
		const Quobyte__Bus__ProberStats *s = env->stats;
		n->stats = (struct nodes_prober_stats){
			.known = true,
			.rebuilds = s->rebuilds,
			.resyncs = s->resyncs,
			.udev_overflows = s->udev_overflows,
			.inotify_overflows = s->inotify_overflows,
			.rss_bytes = s->rss_bytes,
			.messages_sent = s->messages_sent,
			.send_failures = s->send_failures,
		};
	}

	switch (env->body_case) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT: {
		const Quobyte__Bus__Inventory *inv =
			env->snapshot->inventory ? env->snapshot->inventory : NULL;
		clear_devices(n);
		if (inv) {
			for (size_t i = 0; i < inv->n_devices; i++)
				upsert(n, inv->devices[i]);
			free(n->client_mount_point);
			n->client_mount_point =
				inv->client_mount_point ? qm_strdup(inv->client_mount_point) : NULL;
			n->client_mount_point_exists = inv->has_client_mount_point_exists &&
						       inv->client_mount_point_exists;
		}
		n->session = env->session;
		n->generation = env->generation;
		n->has_snapshot = true;
		recount(n);
		*changed = true;
		break;
	}
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA: {
		const Quobyte__Bus__Delta *d = env->delta;
		if (!same_session || !d->has_base_generation || d->base_generation != n->generation) {
			ack->has_send_snapshot = 1;
			ack->send_snapshot = 1;
			break;
		}
		for (size_t i = 0; i < d->n_upserted; i++)
			upsert(n, d->upserted[i]);
		for (size_t i = 0; i < d->n_removed; i++)
			remove_key(n, d->removed[i]);
		if (d->client_mount_point) {
			free(n->client_mount_point);
			n->client_mount_point = qm_strdup(d->client_mount_point);
		}
		if (d->has_client_mount_point_exists)
			n->client_mount_point_exists = d->client_mount_point_exists;
		n->generation = env->generation;
		if (d->n_upserted || d->n_removed)
			recount(n);
		*changed = d->n_upserted || d->n_removed || d->has_client_mount_point_exists;
		break;
	}
	case QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT:
		if (!same_session || env->generation != n->generation) {
			ack->has_send_snapshot = 1;
			ack->send_snapshot = 1;
		}
		break;
	default:
		ack->error = (char *)"expected a snapshot, delta or heartbeat";
		return QM_EINVAL;
	}
	ack->has_generation = 1;
	ack->generation = n->has_snapshot ? n->generation : 0;
	return 0;
}

bool nodes_device_usable(const Quobyte__Bus__Device *d)
{
	return d->has_state && (d->state == QUOBYTE__BUS__DEVICE_STATE__OK ||
				d->state == QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT);
}

/* Count n's usable devices per type into its cache. */
static void recount(struct nodes_node *n)
{
	memset(n->type_counts, 0, sizeof n->type_counts);
	n->type_bootstrap = false;
	for (size_t i = 0; i < n->ndevices; i++) {
		const Quobyte__Bus__Device *d = n->devices[i].d;
		if (!nodes_device_usable(d))
			continue;
		bool seen[4] = {false};
		for (size_t t = 0; t < d->n_types; t++) {
			unsigned ty = (unsigned)d->types[t];
			if (ty >= 1 && ty <= 3 && !seen[ty]) {
				seen[ty] = true;
				n->type_counts[ty]++;
				if (ty == QUOBYTE__BUS__DEVICE_TYPE__REGISTRY && d->has_bootstrap &&
				    d->bootstrap)
					n->type_bootstrap = true;
			}
		}
	}
}

void nodes_type_counts(const struct nodes_node *n, unsigned counts[4], bool *bootstrap)
{
	memcpy(counts, n->type_counts, sizeof n->type_counts);
	*bootstrap = n->type_bootstrap;
}
