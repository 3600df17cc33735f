#include "core/nodes.h"

#include "qm_error.h"

#include <stdlib.h>
#include <string.h>

static void relayout(struct nodes *ns)
{
	static uint64_t next;
	ns->layout = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

/* ---- device copies ----------------------------------------------------
 *
 * A device is kept as struct nodes_device (nodes.h): the fields the
 * coordinator reads, and one block with its types, key, root and error followed
 * by the rest of the message packed. The rest is protobuf-c's packing of
 * a shallow copy with those fields cleared, so every other field (one
 * added to the schema later too) and the unknown fields of a newer
 * prober's schema are kept without being named here. Protobuf messages
 * merge when concatenated: the read fields packed again, followed by the
 * rest, are the whole device (nodes_device_unpack). */

void nodes_device_copy(struct nodes_device *v, const Quobyte__Bus__Device *d)
{
	Quobyte__Bus__Device rest = *d;
	rest.key = NULL;
	rest.root = NULL;
	rest.error = NULL;
	rest.n_types = 0;
	rest.types = NULL;
	rest.has_state = rest.has_size_bytes = rest.has_free_bytes = 0;
	rest.has_changed_unix_ms = rest.has_bootstrap = 0;
	size_t tl = d->n_types * sizeof *d->types;
	size_t kl = strlen(d->key) + 1;
	size_t rl = d->root ? strlen(d->root) + 1 : 0;
	size_t el = d->error ? strlen(d->error) + 1 : 0;
	size_t pl = quobyte__bus__device__get_packed_size(&rest);
	unsigned char *b = qm_malloc(tl + kl + rl + el + pl);
	*v = (struct nodes_device){
		.blob = b,
		.types = tl ? (const Quobyte__Bus__DeviceType *)(void *)b : NULL,
		.key = (const char *)b + tl,
		.root = rl ? (const char *)b + tl + kl : NULL,
		.error = el ? (const char *)b + tl + kl + rl : NULL,
		.size_bytes = d->size_bytes,
		.free_bytes = d->free_bytes,
		.changed_unix_ms = d->changed_unix_ms,
		.n_types = (uint32_t)d->n_types,
		.rest_len = (uint32_t)pl,
		.state = d->state,
		.has_state = d->has_state,
		.has_size_bytes = d->has_size_bytes,
		.has_free_bytes = d->has_free_bytes,
		.has_changed_unix_ms = d->has_changed_unix_ms,
		.has_bootstrap = d->has_bootstrap,
		.bootstrap = d->bootstrap,
	};
	if (tl)
		memcpy(b, d->types, tl);
	memcpy(b + tl, d->key, kl);
	if (rl)
		memcpy(b + tl + kl, d->root, rl);
	if (el)
		memcpy(b + tl + kl + rl, d->error, el);
	quobyte__bus__device__pack(&rest, b + tl + kl + rl + el);
}

void nodes_device_free(struct nodes_device *v)
{
	free(v->blob);
	v->blob = NULL;
}

Quobyte__Bus__Device *nodes_device_unpack(const struct nodes_device *v)
{
	Quobyte__Bus__Device h = QUOBYTE__BUS__DEVICE__INIT;
	h.key = (char *)v->key;
	h.root = (char *)v->root;
	h.error = (char *)v->error;
	h.n_types = v->n_types;
	h.types = (Quobyte__Bus__DeviceType *)v->types;
	h.has_state = v->has_state;
	h.state = v->state;
	h.has_size_bytes = v->has_size_bytes;
	h.size_bytes = v->size_bytes;
	h.has_free_bytes = v->has_free_bytes;
	h.free_bytes = v->free_bytes;
	h.has_changed_unix_ms = v->has_changed_unix_ms;
	h.changed_unix_ms = v->changed_unix_ms;
	h.has_bootstrap = v->has_bootstrap;
	h.bootstrap = v->bootstrap;
	size_t rest_at = v->n_types * sizeof *v->types + strlen(v->key) + 1 +
			 (v->root ? strlen(v->root) + 1 : 0) +
			 (v->error ? strlen(v->error) + 1 : 0);
	size_t hl = quobyte__bus__device__get_packed_size(&h);
	uint8_t *buf = qm_malloc(hl + v->rest_len);
	quobyte__bus__device__pack(&h, buf);
	memcpy(buf + hl, v->blob + rest_at, v->rest_len);
	Quobyte__Bus__Device *m = quobyte__bus__device__unpack(NULL, hl + v->rest_len, buf);
	free(buf);
	if (!m)
		qm_oom(); /* our own packing cannot be malformed */
	return m;
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
		nodes_device_free(&n->devices[i]);
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
		if (strcmp(n->devices[i].key, key) == 0)
			return (long)i;
	return -1;
}

static void upsert(struct nodes_node *n, const Quobyte__Bus__Device *d)
{
	if (!d->key)
		return;
	long i = find_device(n, d->key);
	if (i >= 0) {
		nodes_device_free(&n->devices[i]);
		nodes_device_copy(&n->devices[i], d);
		return;
	}
	n->devices = qm_realloc(n->devices, (n->ndevices + 1) * sizeof *n->devices);
	nodes_device_copy(&n->devices[n->ndevices++], d);
}

static void remove_key(struct nodes_node *n, const char *key)
{
	long i = find_device(n, key);
	if (i < 0)
		return;
	nodes_device_free(&n->devices[i]);
	n->devices[i] = n->devices[--n->ndevices];
}


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
			n->client_mount_point = qm_strdup_or_null(inv->client_mount_point);
			n->client_mount_point_exists = inv->has_client_mount_point_exists &&
						       inv->client_mount_point_exists;
		}
		n->session = env->session;
		n->generation = env->generation;
		n->has_snapshot = true;
		nodes_recount(n);
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
			nodes_recount(n);
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

bool nodes_device_usable(const struct nodes_device *d)
{
	return d->has_state && (d->state == QUOBYTE__BUS__DEVICE_STATE__OK ||
				d->state == QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT);
}

void nodes_recount(struct nodes_node *n)
{
	memset(n->type_counts, 0, sizeof n->type_counts);
	n->type_bootstrap = false;
	memset(n->dev_by_type_state, 0, sizeof n->dev_by_type_state);
	n->dev_with_size = n->dev_with_free = 0;
	for (size_t i = 0; i < n->ndevices; i++) {
		const struct nodes_device *d = &n->devices[i];
		int st = d->has_state && d->state < NODES_DEV_STATES ? (int)d->state : 0;
		if (d->n_types == 0)
			n->dev_by_type_state[NODES_DEV_TYPES - 1][st]++;
		for (size_t k = 0; k < d->n_types; k++)
			n->dev_by_type_state[d->types[k] > 0 && d->types[k] < NODES_DEV_TYPES - 1
						     ? d->types[k]
						     : 0][st]++;
		n->dev_with_size += d->has_size_bytes && d->root;
		n->dev_with_free += d->has_free_bytes && d->root;
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
