#include "core/nodes.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <string.h>

/* Builders for envelopes as a prober sends them. Everything lives on the
 * test's stack: nodes_apply copies what it keeps. */
struct env_buf {
	Quobyte__Bus__Envelope env;
	Quobyte__Bus__NodeIdentity node;
	Quobyte__Bus__Snapshot snap;
	Quobyte__Bus__Inventory inv;
	Quobyte__Bus__Delta delta;
	Quobyte__Bus__Heartbeat hb;
	Quobyte__Bus__Device dev[4];
	Quobyte__Bus__Device *devp[4];
	Quobyte__Bus__DeviceType types[4][3];
	char *removed[4];
};

static void base(struct env_buf *b, const char *agent, uint64_t session, uint64_t gen)
{
	memset(b, 0, sizeof *b);
	quobyte__bus__envelope__init(&b->env);
	quobyte__bus__node_identity__init(&b->node);
	b->node.agent_id = (char *)agent;
	b->node.hostname = (char *)"host-a";
	b->env.node = &b->node;
	b->env.has_protocol_version = 1;
	b->env.protocol_version = 1;
	b->env.has_session = 1;
	b->env.session = session;
	b->env.has_generation = 1;
	b->env.generation = gen;
}

static Quobyte__Bus__Device *dev(struct env_buf *b, int i, const char *key,
				 Quobyte__Bus__DeviceType t, bool bootstrap)
{
	Quobyte__Bus__Device *d = &b->dev[i];
	quobyte__bus__device__init(d);
	d->key = (char *)key;
	d->root = (char *)key;
	d->has_state = 1;
	d->state = QUOBYTE__BUS__DEVICE_STATE__OK;
	b->types[i][0] = t;
	d->types = b->types[i];
	d->n_types = 1;
	d->has_bootstrap = bootstrap;
	d->bootstrap = bootstrap;
	b->devp[i] = d;
	return d;
}

static void snapshot(struct env_buf *b, size_t ndev)
{
	quobyte__bus__snapshot__init(&b->snap);
	quobyte__bus__inventory__init(&b->inv);
	b->inv.devices = b->devp;
	b->inv.n_devices = ndev;
	b->snap.inventory = &b->inv;
	b->env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT;
	b->env.snapshot = &b->snap;
}

static void delta(struct env_buf *b, uint64_t base_gen, size_t nup, size_t nrm)
{
	quobyte__bus__delta__init(&b->delta);
	b->delta.has_base_generation = 1;
	b->delta.base_generation = base_gen;
	b->delta.upserted = b->devp;
	b->delta.n_upserted = nup;
	b->delta.removed = b->removed;
	b->delta.n_removed = nrm;
	b->env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_DELTA;
	b->env.delta = &b->delta;
}

static int apply(struct nodes *ns, struct env_buf *b, Quobyte__Bus__Ack *ack, bool *changed)
{
	quobyte__bus__ack__init(ack);
	return nodes_apply(ns, &b->env, 1000, ack, changed);
}

Test(nodes, snapshot_then_matching_delta_then_stale_delta)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;

	base(&b, "S1", 42, 1);
	dev(&b, 0, "uuid:a", QUOBYTE__BUS__DEVICE_TYPE__DATA, false);
	dev(&b, 1, "uuid:b", QUOBYTE__BUS__DEVICE_TYPE__REGISTRY, true);
	snapshot(&b, 2);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(changed);
	cr_assert_eq(ack.generation, 1);
	cr_assert_not(ack.send_snapshot);

	const struct nodes_node *n = nodes_find(&ns, "S1");
	cr_assert_not_null(n);
	cr_assert_eq(n->ndevices, 2);
	unsigned counts[4];
	bool boot;
	nodes_type_counts(n, counts, &boot);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__DATA], 1);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__REGISTRY], 1);
	cr_assert(boot);

	/* delta 1 -> 2: data device removed, metadata added */
	base(&b, "S1", 42, 2);
	dev(&b, 0, "uuid:c", QUOBYTE__BUS__DEVICE_TYPE__METADATA, false);
	b.removed[0] = (char *)"uuid:a";
	delta(&b, 1, 1, 1);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(changed);
	cr_assert_eq(ack.generation, 2);
	n = nodes_find(&ns, "S1");
	nodes_type_counts(n, counts, &boot);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__DATA], 0);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__METADATA], 1);

	/* a delta against a generation we do not hold: ask for a snapshot,
	 * change nothing */
	base(&b, "S1", 42, 5);
	dev(&b, 0, "uuid:d", QUOBYTE__BUS__DEVICE_TYPE__DATA, false);
	delta(&b, 4, 1, 0);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert_not(changed);
	cr_assert(ack.has_send_snapshot && ack.send_snapshot);
	cr_assert_eq(ack.generation, 2);
	cr_assert_eq(nodes_find(&ns, "S1")->ndevices, 2);
	nodes_fini(&ns);
}

Test(nodes, restarted_prober_new_session_needs_snapshot)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 1, 3);
	snapshot(&b, 0);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	/* same generation numbers, different session: a delta is refused */
	base(&b, "S1", 2, 4);
	delta(&b, 3, 0, 0);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(ack.send_snapshot);
	/* and so is a heartbeat */
	base(&b, "S1", 2, 3);
	b.env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
	quobyte__bus__heartbeat__init(&b.hb);
	b.env.heartbeat = &b.hb;
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(ack.send_snapshot);
	nodes_fini(&ns);
}

Test(nodes, heartbeat_with_missing_generation_asks_for_snapshot)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 9, 1);
	snapshot(&b, 0);
	apply(&ns, &b, &ack, &changed);
	base(&b, "S1", 9, 1);
	b.env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
	quobyte__bus__heartbeat__init(&b.hb);
	b.env.heartbeat = &b.hb;
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert_not(ack.send_snapshot, "in-sync heartbeat must not ask for a snapshot");
	b.env.generation = 2; /* a delta to 2 was lost */
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(ack.send_snapshot);
	nodes_fini(&ns);
}

Test(nodes, error_and_no_type_devices_do_not_count)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 1, 1);
	dev(&b, 0, "uuid:a", QUOBYTE__BUS__DEVICE_TYPE__DATA, false)->state =
		QUOBYTE__BUS__DEVICE_STATE__ERROR;
	dev(&b, 1, "uuid:b", QUOBYTE__BUS__DEVICE_TYPE__DATA, false);
	b.dev[1].n_types = 0;
	b.dev[1].state = QUOBYTE__BUS__DEVICE_STATE__NO_TYPE;
	snapshot(&b, 2);
	apply(&ns, &b, &ack, &changed);
	unsigned counts[4];
	bool boot;
	nodes_type_counts(nodes_find(&ns, "S1"), counts, &boot);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__DATA], 0);
	nodes_fini(&ns);
}

Test(nodes, probe_timeout_device_keeps_its_last_types)
{
	/* a hung disk: the prober reports the types it read there last, and
	 * the service on it must not go away for a slow read */
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 1, 1);
	dev(&b, 0, "uuid:a", QUOBYTE__BUS__DEVICE_TYPE__DATA, false)->state =
		QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT;
	dev(&b, 1, "uuid:b", QUOBYTE__BUS__DEVICE_TYPE__METADATA, false);
	b.dev[1].n_types = 0; /* hung before its first read: no types */
	b.dev[1].state = QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT;
	snapshot(&b, 2);
	apply(&ns, &b, &ack, &changed);
	unsigned counts[4];
	bool boot;
	nodes_type_counts(nodes_find(&ns, "S1"), counts, &boot);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__DATA], 1);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__METADATA], 0);
	const struct nodes_node *n = nodes_find(&ns, "S1");
	cr_assert_str_eq(n->devices[0].key, b.dev[0].key);
	cr_assert(nodes_device_usable(&n->devices[0]));
	cr_assert_str_eq(n->devices[1].key, "uuid:b");
	cr_assert(nodes_device_usable(&n->devices[1]), "PROBE_TIMEOUT counts");
	nodes_fini(&ns);
}

Test(nodes, ack_or_empty_body_is_refused_with_reason)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 1, 1);
	b.env.body_case = QUOBYTE__BUS__ENVELOPE__BODY__NOT_SET;
	cr_assert_eq(apply(&ns, &b, &ack, &changed), QM_EINVAL);
	cr_assert_not_null(ack.error);
	nodes_fini(&ns);
}

/* ProberStats ride on any message, even one that asks for a snapshot; a
 * message without them (an older prober) keeps what was known. */
Test(nodes, prober_stats_are_kept_from_any_message)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 9, 1);
	snapshot(&b, 0);
	apply(&ns, &b, &ack, &changed);
	cr_assert_not(ns.v[0].stats.known, "no stats sent, none known");

	Quobyte__Bus__ProberStats st = QUOBYTE__BUS__PROBER_STATS__INIT;
	st.has_resyncs = 1;
	st.resyncs = 3;
	st.has_udev_overflows = 1;
	st.udev_overflows = 1;
	st.has_rss_bytes = 1;
	st.rss_bytes = 4u << 20;
	base(&b, "S1", 9, 5); /* a heartbeat out of step: asks for a snapshot */
	b.env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
	quobyte__bus__heartbeat__init(&b.hb);
	b.env.heartbeat = &b.hb;
	b.env.stats = &st;
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert(ack.send_snapshot);
	cr_assert(ns.v[0].stats.known);
	cr_assert_eq(ns.v[0].stats.resyncs, 3);
	cr_assert_eq(ns.v[0].stats.udev_overflows, 1);
	cr_assert_eq(ns.v[0].stats.rss_bytes, 4u << 20);
	cr_assert_eq(ns.v[0].stats.inotify_overflows, 0);

	base(&b, "S1", 9, 1);
	snapshot(&b, 0); /* no stats */
	apply(&ns, &b, &ack, &changed);
	cr_assert(ns.v[0].stats.known);
	cr_assert_eq(ns.v[0].stats.resyncs, 3);
	nodes_fini(&ns);
}

/* A remembered position answers without a look-up while no node comes or
 * goes, and is looked up again after: a removal moves the last node into
 * the freed place, so an old position would name another agent's node. */
Test(nodes, cached_find_follows_adds_and_removes)
{
	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	const char *ids[] = {"S1", "S2", "S3"};
	for (size_t i = 0; i < 3; i++) {
		base(&b, ids[i], 42, 1);
		snapshot(&b, 0);
		cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	}
	size_t ix[3];
	uint64_t lay[3] = {0, 0, 0};
	for (size_t i = 0; i < 3; i++)
		cr_assert_str_eq(nodes_find_cached(&ns, ids[i], &ix[i], &lay[i])->agent_id, ids[i]);
	uint64_t before = ns.layout;
	/* a snapshot of a known node keeps the layout, and the answers */
	base(&b, "S2", 42, 2);
	snapshot(&b, 0);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert_eq(ns.layout, before);
	cr_assert_str_eq(nodes_find_cached(&ns, "S2", &ix[1], &lay[1])->agent_id, "S2");

	/* S1 goes: S3 moves into its place */
	cr_assert(nodes_remove(&ns, "S1"));
	cr_assert_neq(ns.layout, before);
	cr_assert_null(nodes_find_cached(&ns, "S1", &ix[0], &lay[0]));
	cr_assert_str_eq(nodes_find_cached(&ns, "S3", &ix[2], &lay[2])->agent_id, "S3");
	cr_assert_eq(ix[2], 0);
	/* S1 comes back: found again */
	base(&b, "S1", 43, 1);
	snapshot(&b, 0);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	cr_assert_str_eq(nodes_find_cached(&ns, "S1", &ix[0], &lay[0])->agent_id, "S1");
	/* a new set of nodes is a new layout, never one seen before */
	uint64_t old = ns.layout;
	nodes_fini(&ns);
	nodes_init(&ns);
	cr_assert_neq(ns.layout, old);
	cr_assert_null(nodes_find_cached(&ns, "S2", &ix[1], &lay[1]));
	nodes_fini(&ns);
}

static size_t packed(const Quobyte__Bus__Device *d, uint8_t **out)
{
	size_t len = quobyte__bus__device__get_packed_size(d);
	*out = qm_malloc(len ? len : 1);
	quobyte__bus__device__pack(d, *out);
	return len;
}

/* The node's copy of a device (the fields the coordinator reads, the rest
 * packed) says everything the prober's said: every field of the schema set,
 * two aliases, two types, and a field from a newer prober this schema does
 * not know, kept as an unknown field. Equal packed bytes of the whole
 * device (nodes_device_unpack) show it; the source is freed before the
 * comparison, so nothing may point into it. */
Test(nodes, device_copy_keeps_every_field_and_unknown_ones)
{
	Quobyte__Bus__Device full = QUOBYTE__BUS__DEVICE__INIT;
	char *aliases[] = {(char *)"/mnt/a1", (char *)"/srv/alias two"};
	Quobyte__Bus__DeviceType types[] = {QUOBYTE__BUS__DEVICE_TYPE__DATA,
					    QUOBYTE__BUS__DEVICE_TYPE__METADATA};
	full.key = (char *)"wwn:0x5000c500a1b2c3d4/ZA1234#1";
	full.root = (char *)"/mnt/data1";
	full.aliases = aliases;
	full.n_aliases = 2;
	full.has_is_directory = 1;
	full.block_device = (char *)"/dev/sdb1";
	full.fs_type = (char *)"xfs";
	full.fs_uuid = (char *)"0b7c9f4e-1111-2222-3333-444455556666";
	full.fs_label = (char *)"quobyte-data";
	full.types = types;
	full.n_types = 2;
	full.has_state = 1;
	full.state = QUOBYTE__BUS__DEVICE_STATE__OK;
	full.error = (char *)"";
	full.serial = (char *)"ZA1234";
	full.model = (char *)"ST8000NM";
	full.has_bootstrap = 1;
	full.bootstrap = 1;
	full.device_id = (char *)"dev-7";
	full.has_legacy_marker = 1;
	full.has_size_bytes = 1;
	full.size_bytes = 8000000000000ULL;
	full.has_free_bytes = 1;
	full.free_bytes = 123456789;
	full.has_rotational = 1;
	full.rotational = 1;
	full.udev_serial = (char *)"ST8000NM_ZA1234";
	full.udev_wwn = (char *)"0x5000c500a1b2c3d4";
	full.udev_model = (char *)"ST8000NM";
	full.conflict = (char *)"serial shared with /dev/sdc";
	full.has_changed_unix_ms = 1;
	full.changed_unix_ms = 1796400000000ULL;
	/* every field of the schema is set above: one added to it later
	 * fails here until it is set too */
	const ProtobufCMessageDescriptor *md = &quobyte__bus__device__descriptor;
	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &md->fields[i];
		const char *at = (const char *)&full;
		bool set;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			set = *(const size_t *)(const void *)(at + f->quantifier_offset) > 0;
		else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
			set = *(void *const *)(const void *)(at + f->offset) != NULL;
		else
			set = *(const protobuf_c_boolean *)(const void *)(at + f->quantifier_offset);
		cr_assert(set, "field %s is not set in this test's device", f->name);
	}
	/* field 99 (length-delimited "newer"), which this schema lacks */
	uint8_t *bytes;
	size_t len = packed(&full, &bytes);
	uint8_t extra[] = {0x9a, 0x06, 5, 'n', 'e', 'w', 'e', 'r'};
	bytes = qm_realloc(bytes, len + sizeof extra);
	memcpy(bytes + len, extra, sizeof extra);
	Quobyte__Bus__Device *src = quobyte__bus__device__unpack(NULL, len + sizeof extra, bytes);
	cr_assert_not_null(src);
	cr_assert_eq(src->base.n_unknown_fields, 1);
	uint8_t *want;
	size_t want_len = packed(src, &want);
	cr_assert_eq(want_len, len + sizeof extra);

	struct nodes ns;
	nodes_init(&ns);
	struct env_buf b;
	Quobyte__Bus__Ack ack;
	bool changed;
	base(&b, "S1", 42, 1);
	b.devp[0] = src;
	snapshot(&b, 1);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	quobyte__bus__device__free_unpacked(src, NULL);
	memset(bytes, 0, len + sizeof extra);
	free(bytes);

	cr_assert_eq(ns.v[0].ndevices, 1);
	const struct nodes_device *d = &ns.v[0].devices[0];
	cr_assert_str_eq(d->key, "wwn:0x5000c500a1b2c3d4/ZA1234#1");
	cr_assert_str_eq(d->root, "/mnt/data1");
	cr_assert_eq(d->n_types, 2);
	cr_assert_eq(d->types[1], QUOBYTE__BUS__DEVICE_TYPE__METADATA);
	cr_assert(d->has_state && d->state == QUOBYTE__BUS__DEVICE_STATE__OK);
	cr_assert(d->has_free_bytes && d->free_bytes == 123456789);
	cr_assert(d->has_changed_unix_ms && d->changed_unix_ms == 1796400000000ULL);
	Quobyte__Bus__Device *kept = nodes_device_unpack(d);
	uint8_t *got;
	size_t got_len = packed(kept, &got);
	cr_assert_eq(got_len, want_len);
	cr_assert_eq(memcmp(got, want, want_len), 0, "the copy packs differently");
	cr_assert_str_eq(kept->aliases[1], "/srv/alias two");
	cr_assert_eq(kept->types[1], QUOBYTE__BUS__DEVICE_TYPE__METADATA);
	unsigned counts[4];
	bool boot;
	nodes_type_counts(&ns.v[0], counts, &boot);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__DATA], 1);
	cr_assert_eq(counts[QUOBYTE__BUS__DEVICE_TYPE__METADATA], 1);
	quobyte__bus__device__free_unpacked(kept, NULL);
	free(got);
	free(want);

	/* a device with nothing but its key: no array, no string besides */
	base(&b, "S1", 42, 2);
	dev(&b, 0, "path:/bare", 0, false);
	b.dev[0].root = NULL;
	b.dev[0].types = types; /* a pointer with no elements is not copied */
	b.dev[0].n_types = 0;
	b.dev[0].has_state = 0;
	snapshot(&b, 1);
	cr_assert_eq(apply(&ns, &b, &ack, &changed), 0);
	d = &ns.v[0].devices[0];
	cr_assert_str_eq(d->key, "path:/bare");
	cr_assert_null(d->root);
	cr_assert_null(d->types);
	cr_assert_eq(d->n_types, 0);
	cr_assert_not(d->has_state);
	kept = nodes_device_unpack(d);
	cr_assert_str_eq(kept->key, "path:/bare");
	cr_assert_null(kept->root);
	cr_assert_eq(kept->n_types, 0);
	cr_assert_not(kept->has_state);
	cr_assert_null(kept->block_device);
	cr_assert_eq(kept->base.n_unknown_fields, 0);
	quobyte__bus__device__free_unpacked(kept, NULL);
	nodes_fini(&ns);
}
