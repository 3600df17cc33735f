/* The coordinator's view of every node's device inventory, rebuilt from the
 * probers' bus messages (never stored: probers resend snapshots after a
 * coordinator restart, DESIGN.md "State").
 *
 * Level-triggered bookkeeping per node: a snapshot replaces the inventory; a
 * delta applies only when its session and base generation match what is
 * held, otherwise the Ack asks for a snapshot; a heartbeat whose session or
 * generation differs from what is held also asks for one (a lost delta is
 * noticed within one heartbeat). Pure: no I/O, time is an argument.
 * Single-threaded (the coordinator's loop). */
#ifndef QM_NODES_H
#define QM_NODES_H

#include "quobyte_bus.pb-c.h"
#include "strmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One device of a node, as kept. What the coordinator reads on its own
 * (the planner, the counts, /metrics, device events) is here under the
 * names of Quobyte__Bus__Device's fields; everything else (aliases,
 * filesystem, serials, udev ids, conflict, fields of a newer
 * prober's schema) is kept packed, for readers of the whole device
 * (nodes_device_unpack: the REST API). A copy of the whole message, even
 * laid out in one block, was 446 bytes of heap per device (264 of them
 * the message struct), 107 MiB of the coordinator's 255 MiB at 10,000
 * agents x 24 devices. */
struct nodes_device {
	unsigned char *blob; /* owned: types[], key, root, error, the rest packed */
	const Quobyte__Bus__DeviceType *types; /* in blob; NULL when n_types 0 */
	const char *key;     /* in blob; never NULL (a device without one is
			      * not kept) */
	const char *root;    /* in blob, or NULL */
	const char *error;   /* in blob, or NULL */
	uint64_t size_bytes, free_bytes, changed_unix_ms;
	uint32_t n_types;
	uint32_t rest_len;   /* the packed rest, at the blob's end */
	Quobyte__Bus__DeviceState state;
	bool has_state, has_size_bytes, has_free_bytes, has_changed_unix_ms;
	bool has_bootstrap, bootstrap;
};

/* The prober's own counters (ProberStats), as last reported. */
struct nodes_prober_stats {
	bool known;
	uint64_t rebuilds, resyncs, udev_overflows, inotify_overflows;
	uint64_t rss_bytes, messages_sent, send_failures;
};

#define NODES_DEV_TYPES 5
#define NODES_DEV_STATES 5

struct nodes_node {
	char *agent_id;
	char *hostname;
	char *boot_id;
	uint64_t session;
	uint64_t generation;
	bool has_snapshot;        /* inventory known */
	uint64_t first_seen_ms;
	uint64_t last_report_ms;  /* last authenticated message of any kind */
	struct nodes_device *devices;
	size_t ndevices;
	char *client_mount_point;
	bool client_mount_point_exists;
	uint32_t protocol_version;
	struct nodes_prober_stats stats;
	/* nodes_type_counts' answer, counted again by nodes_apply whenever the
	 * devices change: a plan reads it for every node, and at 10,000 nodes
	 * x 24 devices counting there was a third of the CPU while loading */
	unsigned type_counts[4];
	bool type_bootstrap;
	/* For /metrics (api/metrics.c), counted with type_counts: all devices
	 * by type (0 unknown, 1-3 registry/metadata/data, 4 no type; a device
	 * of two types counts in both) and state (0-4, else 0), and how many
	 * have a root with a size and with free bytes (one series each). A
	 * scrape of 10,000 nodes x 24 devices walked every device three times
	 * for these: a 38.6 ms loop iteration (offer_cycle.py). */
	unsigned dev_by_type_state[NODES_DEV_TYPES][NODES_DEV_STATES];
	unsigned dev_with_size, dev_with_free;
};

struct nodes {
	struct nodes_node *v;
	size_t n, cap;
	struct strmap idx; /* agent id -> index in v */
	/* Renewed, unique in the process and never 0, whenever a node is added
	 * or removed and by nodes_init: a position in v remembered with it
	 * (nodes_find_cached) holds while it is unchanged. */
	uint64_t layout;
};

void nodes_init(struct nodes *ns);
void nodes_fini(struct nodes *ns);

/* Apply one authenticated envelope from the prober of agent_id (already
 * checked by bus_decode: node.agent_id equals the frame's). Fills *ack
 * (initialised by the caller with quobyte__bus__ack__init) with the
 * generation held afterwards and send_snapshot when the base is missing.
 * *changed is set when the node's inventory changed. Returns 0, or
 * QM_EINVAL for a message the coordinator does not take (an Ack, no body),
 * with ack->error pointing to a static reason. */
int nodes_apply(struct nodes *ns, const Quobyte__Bus__Envelope *env, uint64_t now_ms,
		Quobyte__Bus__Ack *ack, bool *changed);

/* Forget the node of agent_id (its agent was replaced by one with a new id
 * on the same host); true when it was known. Pointers from nodes_find are
 * invalid afterwards. */
bool nodes_remove(struct nodes *ns, const char *agent_id);

/* Lookup; NULL when unknown. Pointers are valid until the next apply. */
const struct nodes_node *nodes_find(const struct nodes *ns, const char *agent_id);

/* nodes_find through a remembered answer: *ix and *layout belong to the
 * caller (start with *layout 0) and are filled by a look-up when *layout is
 * not ns->layout; while it is, no look-up is made. A plan reads the node
 * of every agent, each look-up hashing and comparing an agent id. */
const struct nodes_node *nodes_find_cached(const struct nodes *ns, const char *agent_id,
					   size_t *ix, uint64_t *layout);

/* Does the device count for services: OK, or PROBE_TIMEOUT (its reads
 * hang right now; the types last read stand, so a slow or hung disk does
 * not take its service away: Quobyte itself judges the device). */
bool nodes_device_usable(const struct nodes_device *d);

/* Keep a copy of d (which has a key) in *v; free it with
 * nodes_device_free. nodes_apply makes its devices so; for a node made by
 * hand (tests). */
void nodes_device_copy(struct nodes_device *v, const Quobyte__Bus__Device *d);
void nodes_device_free(struct nodes_device *v);

/* The whole device d as a message of its own (protobuf-c's: free it with
 * quobyte__bus__device__free_unpacked(m, NULL)). */
Quobyte__Bus__Device *nodes_device_unpack(const struct nodes_device *d);

/* Count n's devices again into its caches (type_counts, type_bootstrap,
 * dev_by_type_state, dev_with_size/free). nodes_apply does it whenever
 * the devices change; for a node made by hand (tests). */
void nodes_recount(struct nodes_node *n);

/* Per-type counts of the node's usable devices (state OK): index by
 * Quobyte__Bus__DeviceType (REGISTRY=1, METADATA=2, DATA=3). bootstrap is
 * set when an OK registry device carries device.bootstrap=true. */
void nodes_type_counts(const struct nodes_node *n, unsigned counts[4], bool *bootstrap);

#endif
