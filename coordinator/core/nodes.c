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
 * A device is kept as one block: the message, its repeated arrays, its
 * unknown fields and every string it points to, laid out by walking its
 * descriptor (so a field added to the schema is copied too). protobuf-c's
 * own copy, pack + unpack, made a dozen allocations per device: 689 bytes
 * of heap per device, about 160 MiB at 10,000 agents x 24 devices. A field
 * type the walk does not lay out (a nested message, bytes) makes the copy
 * fall back to pack + unpack, marked in nodes_device.flat. */

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Size of one element of a repeated field of type t, 0 = not laid out. */
static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	default:
		return 0;
	}
}

/* One walk over d's pointers: with out == NULL, the bytes a flat copy
 * needs (or 0 when it cannot be laid out); else the copy into out, which
 * has that many bytes. */
static size_t flat_walk(const Quobyte__Bus__Device *d, unsigned char *out)
{
	const ProtobufCMessageDescriptor *md = d->base.descriptor;
	const unsigned char *src = (const unsigned char *)d;
	size_t arrays = align8(md->sizeof_message), strings = 0;
	/* first pass over arrays, then strings: arrays stay 8-aligned */
	for (int pass = 0; pass < 2; pass++) {
		size_t at = pass == 0 ? arrays : strings;
		for (unsigned i = 0; i < md->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &md->fields[i];
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
				return 0;
			const void *field = src + f->offset;
			if (f->label == PROTOBUF_C_LABEL_REPEATED) {
				size_t es = elem_size(f->type);
				if (es == 0)
					return 0;
				size_t n = *(const size_t *)(const void *)(src + f->quantifier_offset);
				const void *arr = *(void *const *)field;
				if (n == 0 || !arr) {
					if (out && pass == 0) {
						*(void **)(void *)(out + f->offset) = NULL;
						*(size_t *)(void *)(out + f->quantifier_offset) = 0;
					}
					continue;
				}
				if (pass == 0) {
					if (out) {
						memcpy(out + at, arr, n * es);
						*(void **)(void *)(out + f->offset) = out + at;
					}
					at += align8(n * es);
				} else if (f->type == PROTOBUF_C_TYPE_STRING) {
					char *const *sv = arr;
					char **dv = out ? (char **)(*(void **)(void *)(out + f->offset))
							: NULL;
					for (size_t k = 0; k < n; k++) {
						size_t l = sv[k] ? strlen(sv[k]) + 1 : 0;
						if (out && sv[k]) {
							memcpy(out + at, sv[k], l);
							dv[k] = (char *)(out + at);
						}
						at += l;
					}
				}
			} else if (f->type == PROTOBUF_C_TYPE_STRING) {
				const char *sv = *(const char *const *)field;
				if (pass == 1 && sv) {
					size_t l = strlen(sv) + 1;
					if (out) {
						memcpy(out + at, sv, l);
						*(char **)(void *)(out + f->offset) = (char *)(out + at);
					}
					at += l;
				}
			} else if (elem_size(f->type) == 0) {
				return 0;
			}
		}
		/* unknown fields: the array with the arrays, their bytes with
		 * the strings */
		size_t nu = d->base.unknown_fields ? d->base.n_unknown_fields : 0;
		ProtobufCMessage *ob = out ? (ProtobufCMessage *)(void *)out : NULL;
		if (pass == 0 && ob) {
			ob->n_unknown_fields = nu;
			ob->unknown_fields = NULL;
		}
		if (nu) {
			ProtobufCMessageUnknownField *uv;
			if (pass == 0) {
				if (ob) {
					uv = (ProtobufCMessageUnknownField *)(void *)(out + at);
					memcpy(uv, d->base.unknown_fields, nu * sizeof *uv);
					ob->unknown_fields = uv;
				}
				at += align8(nu * sizeof *d->base.unknown_fields);
			} else {
				uv = ob ? ob->unknown_fields : NULL;
				for (size_t k = 0; k < nu; k++) {
					size_t l = d->base.unknown_fields[k].len;
					if (out && l) {
						memcpy(out + at, d->base.unknown_fields[k].data, l);
						uv[k].data = out + at;
					}
					at += l;
				}
			}
		}
		if (pass == 0)
			strings = at;
		else
			return at;
	}
	return 0;
}

/* Deep copy through pack/unpack: the fallback for what flat_walk does not
 * lay out. */
static Quobyte__Bus__Device *device_unpacked_copy(const Quobyte__Bus__Device *d)
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

static struct nodes_device device_copy(const Quobyte__Bus__Device *d)
{
	size_t size = flat_walk(d, NULL);
	if (size == 0)
		return (struct nodes_device){.d = device_unpacked_copy(d), .flat = false};
	unsigned char *out = qm_malloc(size);
	memcpy(out, d, d->base.descriptor->sizeof_message);
	flat_walk(d, out);
	return (struct nodes_device){.d = (Quobyte__Bus__Device *)(void *)out, .flat = true};
}

static void device_free(struct nodes_device *v)
{
	if (v->flat)
		free(v->d);
	else
		quobyte__bus__device__free_unpacked(v->d, NULL);
	v->d = NULL;
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
		device_free(&n->devices[i]);
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
		device_free(&n->devices[i]);
		n->devices[i] = device_copy(d);
		return;
	}
	n->devices = qm_realloc(n->devices, (n->ndevices + 1) * sizeof *n->devices);
	n->devices[n->ndevices++] = device_copy(d);
}

static void remove_key(struct nodes_node *n, const char *key)
{
	long i = find_device(n, key);
	if (i < 0)
		return;
	device_free(&n->devices[i]);
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

bool nodes_device_usable(const Quobyte__Bus__Device *d)
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
		const Quobyte__Bus__Device *d = n->devices[i].d;
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
