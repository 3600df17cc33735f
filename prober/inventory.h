/* The node's device inventory: what the prober publishes.
 *
 * Pure data and pure functions (no I/O, no clock, no globals), so every rule
 * that decides what the coordinator sees is unit-tested without root:
 *  - which mounts are candidates (supported fs type, in scope, visible) and
 *    how bind mounts fold into one device with aliases (inv_select_mounts);
 *  - identity keys, key collisions, serial conflicts, ordering
 *    (inv_finalize);
 *  - what changed between two inventories (inv_diff), with free space
 *    treated as a measurement that only counts when it moved noticeably;
 *  - the proto and JSON views.
 *
 * Strings in struct inv_device are heap copies owned by the record, NULL
 * when absent (never ""), mirroring proto2 optional fields. */
#ifndef QM_INVENTORY_H
#define QM_INVENTORY_H

#include "mountinfo.h"
#include "quobyte_bus.pb-c.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values equal to the proto's DeviceState. */
enum inv_state {
	INV_STATE_OK = 1,
	INV_STATE_NO_TYPE = 2,
	INV_STATE_ERROR = 3,
	INV_STATE_PROBE_TIMEOUT = 4, /* reads blocked: last known types kept */
};

/* Per device, at most this many further mount points are reported. */
#define INV_MAX_ALIASES 16u
/* Free space differences below max(size / 100, INV_FREE_SLACK) are not a
 * change: a busy data disk must not publish a delta (and log a line) on
 * every rescan. */
#define INV_FREE_SLACK (16ull << 20)

struct inv_device {
	char *key;  /* identity, see inv_finalize */
	char *root; /* mount point or device directory */
	char **aliases;
	size_t n_aliases;
	bool is_directory;
	char *block_device;
	char *fs_type;
	char *fs_uuid;
	char *fs_label;
	unsigned types; /* set of enum marker_type bits */
	enum inv_state state;
	char *error;
	char *serial;
	char *model;
	bool bootstrap;
	char *device_id;
	bool legacy_marker;
	bool has_size;
	uint64_t size_bytes;
	bool has_free;
	uint64_t free_bytes;
	int rotational; /* -1 unknown, 0, 1 */
	char *udev_serial;
	char *udev_wwn;
	char *udev_model;
	char *conflict;
	/* wall ms when the prober saw the device appear or its types or state
	 * change (ProberStats' marker->LAUNCH figure); not compared */
	uint64_t changed_ms;
	/* identity inputs, not published */
	char *fs_root;  /* mountinfo root field; NULL for directory devices */
	int partition;  /* partition number, 0 = whole device or unknown */
};

struct inv {
	struct inv_device *dev;
	size_t n, cap;
	char *client_mount_point; /* NULL when not configured */
	bool client_mount_point_exists;
	size_t dropped; /* devices beyond BUS_MAX_DEVICES, left out */
};

/* Formatted heap string (vsnprintf), never NULL (OOM aborts). */
char *inv_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void inv_init(struct inv *inv);
void inv_fini(struct inv *inv);
/* Append a zeroed record (rotational = -1) owned by inv. The pointer is
 * valid until the next inv_add or inv_finalize. */
struct inv_device *inv_add(struct inv *inv);
void inv_device_fini(struct inv_device *d);
void inv_device_copy(struct inv_device *dst, const struct inv_device *src);
/* Deep copy; dst must be uninitialised or finalised. */
void inv_copy(struct inv *dst, const struct inv *src);

/* ---- scope and candidate mounts ---------------------------------------- */

/* Is path equal to root or below it, on whole components ("/srv/a" is
 * within "/srv/a" and "/srv", not within "/srv/ab"). Both absolute,
 * without trailing '/', except root "/" itself. */
bool inv_path_within(const char *path, const char *root);

struct inv_scope {
	char **fs_types; /* supported fs types, e.g. {"ext4","xfs"} */
	size_t n_fs_types;
	char **roots;    /* --device-roots; n_roots == 0 = everything */
	size_t n_roots;
};

bool inv_scope_has_path(const struct inv_scope *s, const char *path);
bool inv_scope_has_fstype(const struct inv_scope *s, const char *fstype);

/* One filesystem (same major:minor and same mountinfo root field) as seen
 * through one or more visible mount points. */
struct inv_mount {
	unsigned major, minor;
	unsigned mount_id;  /* of the mount chosen as root */
	char *fs_root;      /* mountinfo root field */
	char *fstype;
	char *source;
	char *mount_point;  /* shortest, then lexicographically first */
	char **aliases;     /* the other mount points, sorted, capped */
	size_t n_aliases;
	size_t n_aliases_dropped;
};

/* Candidate mounts from a parsed mount table: supported fs type, mount
 * point in scope, visible (mountinfo_visible); bind mounts folded. Sorted
 * by mount point. *out is owned by the caller (inv_mounts_free). Pure. */
void inv_select_mounts(const struct mountinfo *mi, const struct inv_scope *s,
		       struct inv_mount **out, size_t *n);
void inv_mounts_free(struct inv_mount *m, size_t n);

/* ---- finishing an inventory --------------------------------------------- */

/* Key of one device (heap string). Preference: "wwn:<ID_WWN>/<ID_SERIAL>"
 * (+"#<partition>") when the udev WWN is known, else "uuid:<fs uuid>", else
 * "path:<root>"; directory devices always "path:<root>". A mount of a
 * subdirectory of a filesystem (fs_root other than "/") appends fs_root so
 * two such mounts of one filesystem stay two devices. */
char *inv_device_key(const struct inv_device *d);

/* Make a scanned inventory publishable, in this order:
 *  1. directory devices whose root is also a mount device's root or alias,
 *     or repeat another directory device's root, are dropped (the mount
 *     device carries more information);
 *  2. keys are set (inv_device_key); devices whose preferred key collides
 *     (cloned filesystems share a UUID) fall back to "path:<root>" and say
 *     so in `conflict`;
 *  3. devices sharing a non-empty marker serial each get
 *     "serial S also claimed by <roots of the others>" in `conflict`;
 *  4. sorted by key; beyond BUS_MAX_DEVICES devices are dropped (counted in
 *     inv->dropped, by key order so the choice is stable). */
void inv_finalize(struct inv *inv);

/* ---- differences --------------------------------------------------------- */

enum inv_change_kind { INV_ADDED, INV_CHANGED, INV_REMOVED };

struct inv_change {
	enum inv_change_kind kind;
	const struct inv_device *old; /* NULL for INV_ADDED */
	const struct inv_device *cur; /* NULL for INV_REMOVED */
	char fields[256];             /* INV_CHANGED: "types,state" */
};

struct inv_diff {
	struct inv_change *v; /* in key order; pointers into the inputs */
	size_t n;
	bool client_changed;  /* client mount point or its existence */
};

/* Same device as far as publishing goes: every field equal, except free
 * space within the slack above. */
bool inv_device_same(const struct inv_device *a, const struct inv_device *b);

/* Differences from old to cur (both finalised: sorted by key). Pure; the
 * result points into old and cur, valid while they live. */
void inv_diff(const struct inv *old, const struct inv *cur, struct inv_diff *out);
void inv_diff_free(struct inv_diff *d);

/* Replace every record in cur that inv_device_same() as its counterpart in
 * old by a copy of the old one, so free space that drifted within the slack
 * keeps its published value and slow drift still adds up to a change. */
void inv_keep_unchanged(const struct inv *old, struct inv *cur);

/* ---- views --------------------------------------------------------------- */

/* Proto views. They BORROW every string from the inventory (only the
 * message structs and arrays are allocated): valid while the inventory
 * lives unchanged; free with the matching _free, never protobuf's. */
Quobyte__Bus__Device *inv_device_to_proto(const struct inv_device *d);
void inv_device_proto_free(Quobyte__Bus__Device *pb);
Quobyte__Bus__Inventory *inv_to_proto(const struct inv *inv);
void inv_proto_free(Quobyte__Bus__Inventory *pb);
/* Delta from base to cur: changed/new devices whole, removed keys, and the
 * client mount point fields of cur. Borrows from both. */
Quobyte__Bus__Delta *inv_delta_to_proto(const struct inv *base,
					const struct inv *cur,
					uint64_t base_generation);
void inv_delta_proto_free(Quobyte__Bus__Delta *pb);

/* {"node":{...}, "devices":[...], "client_mount_point":...,...}: the
 * operator's view (busjson_inventory plus the node). node may be NULL.
 * Caller owns the result (cJSON_Delete). */
cJSON *inv_to_json(const struct inv *inv, const Quobyte__Bus__NodeIdentity *node);

#endif
