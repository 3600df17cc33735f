#include "inventory.h"

#include "bus.h"
#include "bus_json.h"
#include "marker.h"
#include "qm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *inv_strf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return qm_strdup("");
	char *s = qm_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static char *dup_or_null(const char *s)
{
	return s ? qm_strdup(s) : NULL;
}

/* NULL-safe string equality: absent equals absent only. */
static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

void inv_init(struct inv *inv)
{
	memset(inv, 0, sizeof *inv);
}

void inv_device_fini(struct inv_device *d)
{
	free(d->key);
	free(d->root);
	for (size_t i = 0; i < d->n_aliases; i++)
		free(d->aliases[i]);
	free(d->aliases);
	free(d->block_device);
	free(d->fs_type);
	free(d->fs_uuid);
	free(d->fs_label);
	free(d->error);
	free(d->serial);
	free(d->model);
	free(d->device_id);
	free(d->udev_serial);
	free(d->udev_wwn);
	free(d->udev_model);
	free(d->conflict);
	free(d->fs_root);
	memset(d, 0, sizeof *d);
	d->rotational = -1;
}

void inv_fini(struct inv *inv)
{
	for (size_t i = 0; i < inv->n; i++)
		inv_device_fini(&inv->dev[i]);
	free(inv->dev);
	free(inv->client_mount_point);
	memset(inv, 0, sizeof *inv);
}

struct inv_device *inv_add(struct inv *inv)
{
	if (inv->n == inv->cap) {
		inv->cap = inv->cap ? inv->cap * 2 : 16;
		inv->dev = qm_realloc(inv->dev, inv->cap * sizeof *inv->dev);
	}
	struct inv_device *d = &inv->dev[inv->n++];
	memset(d, 0, sizeof *d);
	d->rotational = -1;
	return d;
}

void inv_device_copy(struct inv_device *dst, const struct inv_device *s)
{
	*dst = *s;
	dst->key = dup_or_null(s->key);
	dst->root = dup_or_null(s->root);
	dst->aliases = s->n_aliases ? qm_calloc(s->n_aliases, sizeof(char *)) : NULL;
	for (size_t i = 0; i < s->n_aliases; i++)
		dst->aliases[i] = qm_strdup(s->aliases[i]);
	dst->block_device = dup_or_null(s->block_device);
	dst->fs_type = dup_or_null(s->fs_type);
	dst->fs_uuid = dup_or_null(s->fs_uuid);
	dst->fs_label = dup_or_null(s->fs_label);
	dst->error = dup_or_null(s->error);
	dst->serial = dup_or_null(s->serial);
	dst->model = dup_or_null(s->model);
	dst->device_id = dup_or_null(s->device_id);
	dst->udev_serial = dup_or_null(s->udev_serial);
	dst->udev_wwn = dup_or_null(s->udev_wwn);
	dst->udev_model = dup_or_null(s->udev_model);
	dst->conflict = dup_or_null(s->conflict);
	dst->fs_root = dup_or_null(s->fs_root);
}

void inv_copy(struct inv *dst, const struct inv *src)
{
	inv_init(dst);
	for (size_t i = 0; i < src->n; i++)
		inv_device_copy(inv_add(dst), &src->dev[i]);
	dst->client_mount_point = dup_or_null(src->client_mount_point);
	dst->client_mount_point_exists = src->client_mount_point_exists;
	dst->dropped = src->dropped;
}

/* ---- scope and candidate mounts ---------------------------------------- */

bool inv_path_within(const char *path, const char *root)
{
	if (!path || !root)
		return false;
	if (strcmp(root, "/") == 0)
		return path[0] == '/';
	size_t rl = strlen(root);
	if (strncmp(path, root, rl) != 0)
		return false;
	return path[rl] == '\0' || path[rl] == '/';
}

bool inv_scope_has_path(const struct inv_scope *s, const char *path)
{
	if (s->n_roots == 0)
		return true;
	for (size_t i = 0; i < s->n_roots; i++)
		if (inv_path_within(path, s->roots[i]))
			return true;
	return false;
}

bool inv_scope_has_fstype(const struct inv_scope *s, const char *fstype)
{
	for (size_t i = 0; i < s->n_fs_types; i++)
		if (strcmp(s->fs_types[i], fstype) == 0)
			return true;
	return false;
}

/* Mount points order: shortest first, then bytewise. Keeps the chosen root
 * of a bind-mounted filesystem stable whatever order the kernel lists. */
static int cmp_mount_point(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

struct cand {
	const struct mountinfo_entry *e;
};

/* Group order: major, minor, fs root; inside a group the mount point order
 * above, so the group's first element is its root. */
static int cmp_cand(const void *pa, const void *pb)
{
	const struct mountinfo_entry *a = ((const struct cand *)pa)->e;
	const struct mountinfo_entry *b = ((const struct cand *)pb)->e;
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	int c = strcmp(a->root, b->root);
	if (c)
		return c;
	return cmp_mount_point(a->mount_point, b->mount_point);
}

static int cmp_inv_mount(const void *pa, const void *pb)
{
	const struct inv_mount *a = pa, *b = pb;
	return cmp_mount_point(a->mount_point, b->mount_point);
}

void inv_select_mounts(const struct mountinfo *mi, const struct inv_scope *s,
		       struct inv_mount **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	struct cand *c = qm_malloc((mi->n ? mi->n : 1) * sizeof *c);
	size_t nc = 0;
	for (size_t i = 0; i < mi->n; i++) {
		const struct mountinfo_entry *e = &mi->v[i];
		if (!inv_scope_has_fstype(s, e->fstype) ||
		    !inv_scope_has_path(s, e->mount_point) ||
		    !mountinfo_visible(mi, i))
			continue;
		/* the same mount listed twice (a garbled read) is one */
		bool dup = false;
		for (size_t j = 0; j < nc && !dup; j++)
			dup = c[j].e->mount_id == e->mount_id &&
			      strcmp(c[j].e->mount_point, e->mount_point) == 0;
		if (!dup)
			c[nc++].e = e;
	}
	qsort(c, nc, sizeof *c, cmp_cand);
	struct inv_mount *m = qm_calloc(nc ? nc : 1, sizeof *m);
	size_t nm = 0;
	for (size_t i = 0; i < nc;) {
		size_t j = i + 1;
		while (j < nc && c[j].e->major == c[i].e->major &&
		       c[j].e->minor == c[i].e->minor &&
		       strcmp(c[j].e->root, c[i].e->root) == 0)
			j++;
		struct inv_mount *g = &m[nm++];
		const struct mountinfo_entry *e = c[i].e;
		g->major = e->major;
		g->minor = e->minor;
		g->mount_id = e->mount_id;
		g->fs_root = qm_strdup(e->root);
		g->fstype = qm_strdup(e->fstype);
		g->source = qm_strdup(e->source);
		g->mount_point = qm_strdup(e->mount_point);
		size_t na = 0;
		for (size_t k = i + 1; k < j; k++) {
			/* the same path twice is not an alias */
			if (strcmp(c[k].e->mount_point, e->mount_point) == 0 ||
			    (k > i + 1 && strcmp(c[k].e->mount_point,
						 c[k - 1].e->mount_point) == 0))
				continue;
			if (na == INV_MAX_ALIASES) {
				g->n_aliases_dropped++;
				continue;
			}
			if (!g->aliases)
				g->aliases = qm_calloc(INV_MAX_ALIASES, sizeof(char *));
			g->aliases[na++] = qm_strdup(c[k].e->mount_point);
		}
		g->n_aliases = na;
		i = j;
	}
	free(c);
	qsort(m, nm, sizeof *m, cmp_inv_mount);
	*out = m;
	*nout = nm;
}

void inv_mounts_free(struct inv_mount *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++) {
		free(m[i].fs_root);
		free(m[i].fstype);
		free(m[i].source);
		free(m[i].mount_point);
		for (size_t k = 0; k < m[i].n_aliases; k++)
			free(m[i].aliases[k]);
		free(m[i].aliases);
	}
	free(m);
}

/* ---- finishing ------------------------------------------------------------ */

char *inv_device_key(const struct inv_device *d)
{
	const char *sub = "";
	if (!d->is_directory && d->fs_root && strcmp(d->fs_root, "/") != 0)
		sub = d->fs_root;
	if (d->is_directory)
		return inv_strf("path:%s", d->root ? d->root : "");
	if (d->udev_wwn && d->udev_wwn[0]) {
		if (d->partition > 0)
			return inv_strf("wwn:%s/%s#%d%s", d->udev_wwn,
					d->udev_serial ? d->udev_serial : "",
					d->partition, sub);
		return inv_strf("wwn:%s/%s%s", d->udev_wwn,
				d->udev_serial ? d->udev_serial : "", sub);
	}
	if (d->fs_uuid && d->fs_uuid[0])
		return inv_strf("uuid:%s%s", d->fs_uuid, sub);
	return inv_strf("path:%s", d->root ? d->root : "");
}

static void add_conflict(struct inv_device *d, const char *text)
{
	if (!d->conflict) {
		d->conflict = qm_strdup(text);
		return;
	}
	char *s = inv_strf("%s; %s", d->conflict, text);
	free(d->conflict);
	d->conflict = s;
}

static int cmp_dev_root(const void *pa, const void *pb)
{
	const struct inv_device *a = pa, *b = pb;
	return strcmp(a->root ? a->root : "", b->root ? b->root : "");
}

static int cmp_dev_key(const void *pa, const void *pb)
{
	const struct inv_device *a = pa, *b = pb;
	int c = strcmp(a->key ? a->key : "", b->key ? b->key : "");
	if (c)
		return c;
	return strcmp(a->root ? a->root : "", b->root ? b->root : "");
}

static bool is_mount_path_of(const struct inv_device *m, const char *path)
{
	if (m->is_directory)
		return false;
	if (str_eq(m->root, path))
		return true;
	for (size_t i = 0; i < m->n_aliases; i++)
		if (str_eq(m->aliases[i], path))
			return true;
	return false;
}

static void remove_at(struct inv *inv, size_t i)
{
	inv_device_fini(&inv->dev[i]);
	memmove(&inv->dev[i], &inv->dev[i + 1],
		(inv->n - i - 1) * sizeof *inv->dev);
	inv->n--;
}

/* "<what> also claimed by /a, /b" naming every other device in idx[]. */
static char *claimed_text(const struct inv *inv, const char *what,
			  const size_t *idx, size_t n, size_t self)
{
	size_t cap = strlen(what) + 32;
	for (size_t k = 0; k < n; k++)
		cap += strlen(inv->dev[idx[k]].root ? inv->dev[idx[k]].root : "") + 2;
	char *s = qm_malloc(cap);
	size_t o = (size_t)snprintf(s, cap, "%s also claimed by ", what);
	bool first = true;
	for (size_t k = 0; k < n; k++) {
		if (idx[k] == self)
			continue;
		const char *r = inv->dev[idx[k]].root ? inv->dev[idx[k]].root : "";
		o += (size_t)snprintf(s + o, cap - o, "%s%s", first ? "" : ", ", r);
		first = false;
	}
	return s;
}

/* For runs of equal strings get(i) over devices sorted so equal values are
 * adjacent (caller sorts), mark each member. Generic over the field through
 * a small accessor to keep key and serial handling one code path. */
typedef const char *(*field_fn)(const struct inv_device *d);

static const char *get_key(const struct inv_device *d) { return d->key; }
static const char *get_serial(const struct inv_device *d) { return d->serial; }

/* Indexes of devices sharing a non-empty field value with another device;
 * for each such device, call mark(). Quadratic in the worst case but n is
 * capped by BUS_MAX_DEVICES-ish scan results and groups are tiny. */
static void for_each_shared(struct inv *inv, field_fn get,
			    void (*mark)(struct inv *, size_t self,
					 const size_t *grp, size_t ng))
{
	size_t *grp = qm_malloc((inv->n ? inv->n : 1) * sizeof *grp);
	bool *done = qm_calloc(inv->n ? inv->n : 1, sizeof *done);
	for (size_t i = 0; i < inv->n; i++) {
		const char *v = get(&inv->dev[i]);
		if (done[i] || !v || !v[0])
			continue;
		size_t ng = 0;
		for (size_t j = i; j < inv->n; j++)
			if (!done[j] && str_eq(get(&inv->dev[j]), v)) {
				grp[ng++] = j;
				done[j] = true;
			}
		if (ng < 2)
			continue;
		for (size_t k = 0; k < ng; k++)
			mark(inv, grp[k], grp, ng);
	}
	free(done);
	free(grp);
}

static void mark_key_collision(struct inv *inv, size_t self, const size_t *grp,
			       size_t ng)
{
	struct inv_device *d = &inv->dev[self];
	char *what = inv_strf("key %s", d->key);
	char *text = claimed_text(inv, what, grp, ng, self);
	add_conflict(d, text);
	free(text);
	free(what);
}

static void mark_serial_conflict(struct inv *inv, size_t self,
				 const size_t *grp, size_t ng)
{
	struct inv_device *d = &inv->dev[self];
	char *what = inv_strf("serial %s", d->serial);
	char *text = claimed_text(inv, what, grp, ng, self);
	add_conflict(d, text);
	free(text);
	free(what);
}

void inv_finalize(struct inv *inv)
{
	/* roots order first: conflict texts and the survivor of duplicate
	 * directory devices must not depend on scan order */
	if (inv->n > 1)
		qsort(inv->dev, inv->n, sizeof *inv->dev, cmp_dev_root);
	for (size_t i = 0; i < inv->n;) {
		struct inv_device *d = &inv->dev[i];
		bool drop = false;
		if (d->is_directory) {
			for (size_t j = 0; j < inv->n && !drop; j++) {
				if (j == i)
					continue;
				const struct inv_device *o = &inv->dev[j];
				if (is_mount_path_of(o, d->root))
					drop = true;
				else if (o->is_directory && j < i &&
					 str_eq(o->root, d->root))
					drop = true;
			}
		}
		if (drop)
			remove_at(inv, i);
		else
			i++;
	}
	for (size_t i = 0; i < inv->n; i++) {
		free(inv->dev[i].key);
		free(inv->dev[i].conflict);
		inv->dev[i].conflict = NULL;
		inv->dev[i].key = inv_device_key(&inv->dev[i]);
	}
	/* collisions of preferred keys: note the conflict (with the shared
	 * key), then fall back to the path, which is unique per node */
	for_each_shared(inv, get_key, mark_key_collision);
	for (size_t i = 0; i < inv->n; i++) {
		struct inv_device *d = &inv->dev[i];
		if (d->conflict && strncmp(d->key, "path:", 5) != 0) {
			free(d->key);
			d->key = inv_strf("path:%s", d->root ? d->root : "");
		}
	}
	for_each_shared(inv, get_serial, mark_serial_conflict);
	if (inv->n > 1)
		qsort(inv->dev, inv->n, sizeof *inv->dev, cmp_dev_key);
	while (inv->n > BUS_MAX_DEVICES) {
		remove_at(inv, inv->n - 1);
		inv->dropped++;
	}
}

/* ---- differences ------------------------------------------------------------ */

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool free_same(const struct inv_device *a, const struct inv_device *b)
{
	if (a->has_free != b->has_free)
		return false;
	if (!a->has_free)
		return true;
	uint64_t d = a->free_bytes > b->free_bytes ? a->free_bytes - b->free_bytes
						   : b->free_bytes - a->free_bytes;
	uint64_t size = b->has_size ? b->size_bytes : 0;
	uint64_t slack = size / 100 > INV_FREE_SLACK ? size / 100 : INV_FREE_SLACK;
	return d < slack;
}

/* Fills names (comma-separated) of fields that differ; returns how many. */
static int changed_fields(const struct inv_device *a, const struct inv_device *b,
			  char *out, size_t cap)
{
	struct {
		const char *name;
		bool same;
	} f[] = {
		{"root", str_eq(a->root, b->root)},
		{"aliases", strv_eq(a->aliases, a->n_aliases, b->aliases, b->n_aliases)},
		{"is_directory", a->is_directory == b->is_directory},
		{"block_device", str_eq(a->block_device, b->block_device)},
		{"fs_type", str_eq(a->fs_type, b->fs_type)},
		{"fs_uuid", str_eq(a->fs_uuid, b->fs_uuid)},
		{"fs_label", str_eq(a->fs_label, b->fs_label)},
		{"types", a->types == b->types},
		{"state", a->state == b->state},
		{"error", str_eq(a->error, b->error)},
		{"serial", str_eq(a->serial, b->serial)},
		{"model", str_eq(a->model, b->model)},
		{"bootstrap", a->bootstrap == b->bootstrap},
		{"device_id", str_eq(a->device_id, b->device_id)},
		{"legacy_marker", a->legacy_marker == b->legacy_marker},
		{"size_bytes", a->has_size == b->has_size &&
				       (!a->has_size || a->size_bytes == b->size_bytes)},
		{"free_bytes", free_same(a, b)},
		{"rotational", a->rotational == b->rotational},
		{"udev_serial", str_eq(a->udev_serial, b->udev_serial)},
		{"udev_wwn", str_eq(a->udev_wwn, b->udev_wwn)},
		{"udev_model", str_eq(a->udev_model, b->udev_model)},
		{"conflict", str_eq(a->conflict, b->conflict)},
	};
	int n = 0;
	size_t o = 0;
	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].same)
			continue;
		n++;
		if (out && o < cap) {
			int w = snprintf(out + o, cap - o, "%s%s", o ? "," : "",
					 f[i].name);
			if (w > 0)
				o += (size_t)w;
		}
	}
	return n;
}

bool inv_device_same(const struct inv_device *a, const struct inv_device *b)
{
	return str_eq(a->key, b->key) && changed_fields(a, b, NULL, 0) == 0;
}

static bool client_same(const struct inv *a, const struct inv *b)
{
	return str_eq(a->client_mount_point, b->client_mount_point) &&
	       a->client_mount_point_exists == b->client_mount_point_exists;
}

void inv_diff(const struct inv *old, const struct inv *cur, struct inv_diff *out)
{
	memset(out, 0, sizeof *out);
	size_t cap = old->n + cur->n;
	out->v = qm_calloc(cap ? cap : 1, sizeof *out->v);
	size_t i = 0, j = 0;
	while (i < old->n || j < cur->n) {
		int c;
		if (i == old->n)
			c = 1;
		else if (j == cur->n)
			c = -1;
		else
			c = strcmp(old->dev[i].key, cur->dev[j].key);
		struct inv_change *ch = &out->v[out->n];
		if (c < 0) {
			ch->kind = INV_REMOVED;
			ch->old = &old->dev[i++];
			out->n++;
		} else if (c > 0) {
			ch->kind = INV_ADDED;
			ch->cur = &cur->dev[j++];
			out->n++;
		} else {
			if (changed_fields(&old->dev[i], &cur->dev[j], ch->fields,
					   sizeof ch->fields) > 0) {
				ch->kind = INV_CHANGED;
				ch->old = &old->dev[i];
				ch->cur = &cur->dev[j];
				out->n++;
			}
			i++;
			j++;
		}
	}
	out->client_changed = !client_same(old, cur);
}

void inv_diff_free(struct inv_diff *d)
{
	free(d->v);
	memset(d, 0, sizeof *d);
}

void inv_keep_unchanged(const struct inv *old, struct inv *cur)
{
	size_t i = 0, j = 0;
	while (i < old->n && j < cur->n) {
		int c = strcmp(old->dev[i].key, cur->dev[j].key);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			if (inv_device_same(&old->dev[i], &cur->dev[j])) {
				inv_device_fini(&cur->dev[j]);
				inv_device_copy(&cur->dev[j], &old->dev[i]);
			}
			i++;
			j++;
		}
	}
}

/* ---- views ------------------------------------------------------------------- */

Quobyte__Bus__Device *inv_device_to_proto(const struct inv_device *d)
{
	Quobyte__Bus__Device *pb = qm_malloc(sizeof *pb);
	quobyte__bus__device__init(pb);
	/* borrowed strings: the proto struct's fields are not const */
	pb->key = (char *)d->key;
	pb->root = (char *)d->root;
	pb->n_aliases = d->n_aliases;
	pb->aliases = d->aliases;
	pb->has_is_directory = true;
	pb->is_directory = d->is_directory;
	pb->block_device = d->block_device;
	pb->fs_type = d->fs_type;
	pb->fs_uuid = d->fs_uuid;
	pb->fs_label = d->fs_label;
	static const struct {
		unsigned bit;
		Quobyte__Bus__DeviceType t;
	} map[] = {
		{MARKER_REGISTRY, QUOBYTE__BUS__DEVICE_TYPE__REGISTRY},
		{MARKER_METADATA, QUOBYTE__BUS__DEVICE_TYPE__METADATA},
		{MARKER_DATA, QUOBYTE__BUS__DEVICE_TYPE__DATA},
	};
	pb->types = qm_calloc(3, sizeof *pb->types);
	for (size_t i = 0; i < 3; i++)
		if (d->types & map[i].bit)
			pb->types[pb->n_types++] = map[i].t;
	pb->has_state = true;
	pb->state = (Quobyte__Bus__DeviceState)d->state;
	pb->error = d->error;
	pb->serial = d->serial;
	pb->model = d->model;
	pb->has_bootstrap = true;
	pb->bootstrap = d->bootstrap;
	pb->device_id = d->device_id;
	pb->has_legacy_marker = true;
	pb->legacy_marker = d->legacy_marker;
	pb->has_size_bytes = d->has_size;
	pb->size_bytes = d->size_bytes;
	pb->has_changed_unix_ms = d->changed_ms != 0;
	pb->changed_unix_ms = d->changed_ms;
	pb->has_free_bytes = d->has_free;
	pb->free_bytes = d->free_bytes;
	pb->has_rotational = d->rotational >= 0;
	pb->rotational = d->rotational > 0;
	pb->udev_serial = d->udev_serial;
	pb->udev_wwn = d->udev_wwn;
	pb->udev_model = d->udev_model;
	pb->conflict = d->conflict;
	return pb;
}

void inv_device_proto_free(Quobyte__Bus__Device *pb)
{
	if (!pb)
		return;
	free(pb->types);
	free(pb);
}

Quobyte__Bus__Inventory *inv_to_proto(const struct inv *inv)
{
	Quobyte__Bus__Inventory *pb = qm_malloc(sizeof *pb);
	quobyte__bus__inventory__init(pb);
	pb->n_devices = inv->n;
	pb->devices = qm_calloc(inv->n ? inv->n : 1, sizeof *pb->devices);
	for (size_t i = 0; i < inv->n; i++)
		pb->devices[i] = inv_device_to_proto(&inv->dev[i]);
	if (inv->client_mount_point) {
		pb->client_mount_point = inv->client_mount_point;
		pb->has_client_mount_point_exists = true;
		pb->client_mount_point_exists = inv->client_mount_point_exists;
	}
	return pb;
}

void inv_proto_free(Quobyte__Bus__Inventory *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->n_devices; i++)
		inv_device_proto_free(pb->devices[i]);
	free(pb->devices);
	free(pb);
}

Quobyte__Bus__Delta *inv_delta_to_proto(const struct inv *base,
					const struct inv *cur,
					uint64_t base_generation)
{
	struct inv_diff d;
	inv_diff(base, cur, &d);
	Quobyte__Bus__Delta *pb = qm_malloc(sizeof *pb);
	quobyte__bus__delta__init(pb);
	pb->has_base_generation = true;
	pb->base_generation = base_generation;
	pb->upserted = qm_calloc(d.n ? d.n : 1, sizeof *pb->upserted);
	pb->removed = qm_calloc(d.n ? d.n : 1, sizeof *pb->removed);
	for (size_t i = 0; i < d.n; i++) {
		if (d.v[i].kind == INV_REMOVED)
			pb->removed[pb->n_removed++] = d.v[i].old->key;
		else
			pb->upserted[pb->n_upserted++] =
				inv_device_to_proto(d.v[i].cur);
	}
	if (cur->client_mount_point) {
		pb->client_mount_point = cur->client_mount_point;
		pb->has_client_mount_point_exists = true;
		pb->client_mount_point_exists = cur->client_mount_point_exists;
	}
	inv_diff_free(&d);
	return pb;
}

void inv_delta_proto_free(Quobyte__Bus__Delta *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->n_upserted; i++)
		inv_device_proto_free(pb->upserted[i]);
	free(pb->upserted);
	free(pb->removed);
	free(pb);
}

cJSON *inv_to_json(const struct inv *inv, const Quobyte__Bus__NodeIdentity *node)
{
	Quobyte__Bus__Inventory *pb = inv_to_proto(inv);
	cJSON *j = busjson_inventory(pb);
	inv_proto_free(pb);
	if (!j)
		qm_oom();
	if (node) {
		cJSON *n = busjson_node(node);
		if (!n)
			qm_oom();
		cJSON_AddItemToObject(j, "node", n);
	}
	return j;
}
