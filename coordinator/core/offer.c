/* Offer parsing: see offer.h. */
#include "core/offer.h"

#include "core/cj.h"
#include "core/rsv.h"
#include "core/text.h"
#include "pool.h"
#include "qm_error.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int range_cmp(const void *a, const void *b)
{
	const struct taskspec_range *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Sort and merge overlapping or adjacent ranges in place. */
static void ranges_normalise(struct taskspec_range *r, size_t *n)
{
	if (*n < 2)
		return;
	qsort(r, *n, sizeof *r, range_cmp);
	size_t o = 0;
	for (size_t i = 1; i < *n; i++) {
		if (r[i].begin <= r[o].end + 1) {
			if (r[i].end > r[o].end)
				r[o].end = r[i].end;
		} else {
			r[++o] = r[i];
		}
	}
	*n = o + 1;
}

/* What of r is not its offer's pool's. */
static void res_fini(struct taskspec_resource *r)
{
	if (r->src_owned)
		cJSON_Delete((cJSON *)r->src);
	if (r->free_heap)
		free(r->free);
	memset(r, 0, sizeof *r);
}

/* A Resource's fields, found in one pass over its members (the first of a
 * repeated key, as cJSON_GetObjectItemCaseSensitive finds it): an offer
 * cycle reads every resource of every offer, and a look-up per field
 * walked the members again for each of about fifteen fields. */
struct res_fields {
	const cJSON *name, *type, *scalar, *ranges, *role, *reservation, *reservations,
		*disk, *provider_id, *revocable, *shared, *allocation_info;
};

/* One member key and where its item goes in a fields struct. */
struct field_key {
	const char *key;
	size_t off;
};

/* Fill the fields struct f (nkeys slots of const cJSON *) with j's members
 * of those keys, in one pass; a missing one stays NULL. */
static void fields_of(const cJSON *j, const struct field_key *keys, size_t nkeys, void *f,
		      size_t fsize)
{
	memset(f, 0, fsize);
	const cJSON *it;
	cJSON_ArrayForEach(it, j) {
		if (!it->string)
			continue;
		for (size_t i = 0; i < nkeys; i++) {
			if (strcmp(it->string, keys[i].key) != 0)
				continue;
			const cJSON **slot = (const cJSON **)((char *)f + keys[i].off);
			if (!*slot)
				*slot = it;
			break;
		}
	}
}

static void res_fields_of(const cJSON *j, struct res_fields *f)
{
	static const struct field_key keys[] = {
		{"name", offsetof(struct res_fields, name)},
		{"type", offsetof(struct res_fields, type)},
		{"scalar", offsetof(struct res_fields, scalar)},
		{"ranges", offsetof(struct res_fields, ranges)},
		{"role", offsetof(struct res_fields, role)},
		{"reservation", offsetof(struct res_fields, reservation)},
		{"reservations", offsetof(struct res_fields, reservations)},
		{"disk", offsetof(struct res_fields, disk)},
		{"provider_id", offsetof(struct res_fields, provider_id)},
		{"revocable", offsetof(struct res_fields, revocable)},
		{"shared", offsetof(struct res_fields, shared)},
		{"allocation_info", offsetof(struct res_fields, allocation_info)},
	};
	fields_of(j, keys, ARRAY_LEN(keys), f, sizeof *f);
}

static const char *str_of(const cJSON *x)
{
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* The identity text of a resource kind (r->kind), built without a cJSON
 * tree: an offer cycle parses every resource of every offer, and most are
 * declined unused. Each field is written as a tag, its length and its
 * bytes ("n4:cpus"), so no value can end a field early or pose as another
 * field, and two kinds are the same exactly when their texts are equal.
 * Sub-objects the identity compares whole (labels, disk, provider_id) are
 * in the text as cJSON prints them; they are rare in offers. */
struct idtext {
	char *p;
	size_t n, cap;
};

/* What parsing offers works with: the pool their pieces go to, and
 * scratch space kept from one resource (and offer) to the next. */
struct oparse {
	struct pool *pool;
	struct idtext id;                         /* a kind's text being built */
	char val[TASKSPEC_ATTR_VALUE_MAX + 1];    /* an attribute's value */
};

static void id_raw(struct idtext *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->n + len + 1)
			cap *= 2;
		b->p = qm_realloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

/* tag, then s as "<len>:<bytes>", or "-" for NULL (absent) */
static void id_put(struct idtext *b, char tag, const char *s)
{
	char head[32];
	char *e = head + sizeof head;
	*--e = s ? ':' : '-';
	if (s) {
		size_t len = strlen(s);
		do
			*--e = (char)('0' + len % 10);
		while ((len /= 10) > 0);
	}
	*--e = tag;
	id_raw(b, e, (size_t)(head + sizeof head - e));
	if (s)
		id_raw(b, s, strlen(s));
}

/* tag, then x printed as JSON, or "-" when x is absent or null */
static void id_put_json(struct idtext *b, char tag, const cJSON *x)
{
	if (!x || cJSON_IsNull(x)) {
		id_put(b, tag, NULL);
		return;
	}
	char *t = cJSON_PrintUnformatted(x);
	if (!t)
		qm_oom();
	id_put(b, tag, t);
	free(t);
}

/* One normalised reservation {type, role, principal, labels}; principal
 * and labels are taken from src when it has them. */
static void norm_entry(struct idtext *b, const char *type, const char *role,
		       const cJSON *src)
{
	id_put(b, 'R', type);
	id_put(b, 'r', role);
	id_put(b, 'p', cj_str(src, "principal"));
	id_put_json(b, 'l', cJSON_GetObjectItemCaseSensitive(src, "labels"));
}

/* Pre-refinement: "role" (default "*") and an optional "reservation"
 * object (DYNAMIC, else STATIC). 0, or -1 with why. */
static int norm_pre(const cJSON *role, const cJSON *resv, struct oparse *x,
		    struct taskspec_resource *r, char *why, size_t wlen)
{
	struct idtext *b = &x->id;
	const char *rs = "*";
	if (role && !cJSON_IsNull(role)) {
		if (!cJSON_IsString(role) || !*role->valuestring) {
			snprintf(why, wlen, "'role' is not a role name");
			return -1;
		}
		rs = role->valuestring;
	}
	bool dyn = resv && !cJSON_IsNull(resv);
	if (dyn && !cJSON_IsObject(resv)) {
		snprintf(why, wlen, "'reservation' is not an object");
		return -1;
	}
	r->refinement = false;
	if (strcmp(rs, "*") == 0) {
		if (dyn) {
			snprintf(why, wlen, "reservation for role '*'");
			return -1;
		}
		return 0;
	}
	norm_entry(b, dyn ? "DYNAMIC" : "STATIC", rs, dyn ? resv : NULL);
	r->role = pool_strdup(x->pool, rs);
	r->dynamic = dyn;
	return 0;
}

/* Post-refinement: the "reservations" stack; the last entry is the
 * current reservation. 0, or -1 with why. */
static int norm_post(const cJSON *stack, struct oparse *x,
		     struct taskspec_resource *r, char *why, size_t wlen)
{
	struct idtext *b = &x->id;
	r->refinement = true;
	const cJSON *it;
	const char *last_role = NULL, *last_type = NULL;
	cJSON_ArrayForEach(it, stack) {
		const char *rs = cj_str(it, "role");
		const char *ty = cj_str(it, "type");
		if (!cJSON_IsObject(it) || !rs || !*rs) {
			snprintf(why, wlen, "reservation without a role");
			return -1;
		}
		norm_entry(b, ty ? ty : "UNKNOWN", rs, it);
		last_role = rs;
		last_type = ty;
	}
	if (last_role) {
		r->role = pool_strdup(x->pool, last_role);
		r->dynamic = last_type && strcmp(last_type, "DYNAMIC") == 0;
	}
	return 0;
}

/* The reservation stack in one normalised form appended to b, whatever
 * format it was offered in (§5.1), so that identical reservations compare
 * equal as text. Fills role/dynamic/refinement of r. -1 with why set when
 * the fields are malformed or mix both formats. */
static int reservation_normalise(const struct res_fields *f, struct oparse *x,
				 struct taskspec_resource *r, char *why, size_t wlen)
{
	struct idtext *b = &x->id;
	const cJSON *role = f->role;
	const cJSON *resv = f->reservation;
	const cJSON *stack = f->reservations;
	bool pre = (role && !cJSON_IsNull(role)) || (resv && !cJSON_IsNull(resv));
	bool post = cJSON_IsArray(stack) && cJSON_GetArraySize(stack) > 0;
	if (stack && !cJSON_IsNull(stack) && !cJSON_IsArray(stack)) {
		snprintf(why, wlen, "'reservations' is not an array");
		return -1;
	}
	if (pre && post) {
		snprintf(why, wlen, "mixes pre- and post-refinement reservations");
		return -1;
	}
	id_raw(b, "[", 1);
	int rv = pre ? norm_pre(role, resv, x, r, why, wlen)
		     : norm_post(stack, x, r, why, wlen);
	id_raw(b, "]", 1);
	return rv;
}

static const char *const value_keys[] = {"scalar", "ranges", "set", "text"};

/* A Resource's type and value into r (r->name set). 0, or -1 with why. */
static int resource_value(const struct res_fields *f, const char *type, struct pool *pool,
			  struct taskspec_resource *r, char *why, size_t wlen)
{
	const char *name = r->name;
	bool ports = strcmp(name, "ports") == 0;
	if (strcmp(type, "SCALAR") == 0) {
		r->type = TASKSPEC_SCALAR;
		const cJSON *sc = f->scalar;
		double v;
		if (!cj_number(cJSON_GetObjectItemCaseSensitive(sc, "value"), &v) ||
		    !(v >= 0 && v <= 1e12)) {
			snprintf(why, wlen, "resource %s: bad scalar value", name);
			return -1;
		}
		r->milli = (int64_t)(v * 1000.0 + 0.5);
	} else if (strcmp(type, "RANGES") == 0) {
		r->type = TASKSPEC_RANGES;
		const cJSON *rg = f->ranges;
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rg, "range");
		if (arr && !cJSON_IsArray(arr)) {
			snprintf(why, wlen, "resource %s: bad ranges", name);
			return -1;
		}
		int n = cJSON_GetArraySize(arr);
		if (n > TASKSPEC_OFFER_MAX_RANGES) {
			snprintf(why, wlen, "resource %s: more than %d ranges",
				 name, TASKSPEC_OFFER_MAX_RANGES);
			return -1;
		}
		r->ranges = pool_alloc(pool, (size_t)n * sizeof *r->ranges);
		const cJSON *it;
		cJSON_ArrayForEach(it, arr) {
			uint64_t b, e;
			if (!cj_u64(cJSON_GetObjectItemCaseSensitive(it, "begin"), &b) ||
			    !cj_u64(cJSON_GetObjectItemCaseSensitive(it, "end"), &e) ||
			    b > e || (ports && e > 65535)) {
				snprintf(why, wlen, "resource %s: bad range", name);
				return -1;
			}
			r->ranges[r->nranges].begin = b;
			r->ranges[r->nranges].end = e;
			r->nranges++;
		}
		ranges_normalise(r->ranges, &r->nranges);
	} else if (strcmp(type, "SET") == 0) {
		r->type = TASKSPEC_SET;
	} else {
		snprintf(why, wlen, "resource %s: unsupported type %s", name, type);
		return -1;
	}
	return 0;
}

/* r->kind: the identity (§5.3) as one comparable text, its fields in a
 * fixed order; also r's flags. b holds the name, type and allocation role,
 * then the normalised reservations (reservation_normalise). */
static void resource_identity(const struct res_fields *f, struct oparse *x,
			      struct taskspec_resource *r)
{
	struct idtext *b = &x->id;
	const cJSON *disk = f->disk;
	const cJSON *prov = f->provider_id;
	const cJSON *rev = f->revocable;
	const cJSON *shr = f->shared;
	r->has_disk = disk && !cJSON_IsNull(disk);
	r->has_provider = prov && !cJSON_IsNull(prov);
	r->revocable = rev && !cJSON_IsNull(rev);
	r->shared = shr && !cJSON_IsNull(shr);
	id_put_json(b, 'd', disk);
	id_put_json(b, 'v', prov);
	id_raw(b, r->revocable ? "R1" : "R0", 2);
	id_raw(b, r->shared ? "S1" : "S0", 2);
	r->kind = memcpy(pool_alloc(x->pool, b->n + 1), b->p, b->n + 1);
	b->n = 0;
}

/* The current reservation's object: the last of "reservations"
 * (post-refinement), else the DYNAMIC "reservation" (pre-refinement,
 * whose labels sit there: mesos.proto Resource's format table, 1.4.0; the
 * master copies principal and labels into it when it offers a dynamic
 * reservation in that format: convertResourceFormat,
 * src/common/resources_utils.cpp 1.4.0);
 * NULL when unreserved or statically reserved in the pre-refinement
 * format. Call after reservation_normalise accepted j. */
static const cJSON *current_reservation(const struct res_fields *f)
{
	const cJSON *st = f->reservations;
	int n = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : 0;
	if (n > 0)
		return cJSON_GetArrayItem(st, n - 1);
	const cJSON *rv = f->reservation;
	return cJSON_IsObject(rv) ? rv : NULL;
}

static bool set_in(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	return x && !cJSON_IsNull(x);
}

/* r->mount_root for a plain MOUNT disk: DiskInfo.source {type MOUNT,
 * mount {root}} (mesos.proto 1.4.0 and 1.11.0; DiskInfo is allowed only on
 * "disk", src/common/resources.cpp Resources::validate), without
 * persistence or volume (a persistent volume is used by listing it, never
 * reserved: src/master/validation.cpp, operation::validate for Reserve,
 * 1.4.0), not shared or revocable, not from a resource provider. A root
 * we cannot hold as text leaves the kind unusable (NULL). */
static void mount_parse(const struct res_fields *f, struct pool *pool,
			struct taskspec_resource *r)
{
	if (!r->has_disk || r->type != TASKSPEC_SCALAR ||
	    strcmp(r->name, "disk") != 0 || r->shared || r->revocable ||
	    r->has_provider)
		return;
	const cJSON *disk = f->disk;
	if (set_in(disk, "persistence") || set_in(disk, "volume"))
		return;
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(disk, "source");
	const char *ty = cj_str(src, "type");
	const char *root = cj_str(cJSON_GetObjectItemCaseSensitive(src, "mount"), "root");
	if (!ty || strcmp(ty, "MOUNT") != 0 || !text_ok(root, TASKSPEC_PATH_MAX))
		return;
	r->mount_root = pool_strdup(pool, root);
}

/* Parse one Resource into r (zeroed by the caller). 0, or -1 with why. */
static int resource_parse(const cJSON *j, struct oparse *x, struct taskspec_resource *r,
			  char *why, size_t wlen)
{
	if (!cJSON_IsObject(j)) {
		snprintf(why, wlen, "resource is not an object");
		return -1;
	}
	struct res_fields f;
	res_fields_of(j, &f);
	const char *name = str_of(f.name);
	const char *type = str_of(f.type);
	if (!name || !text_ok(name, sizeof r->name - 1)) {
		snprintf(why, wlen, "resource without a usable name");
		return -1;
	}
	snprintf(r->name, sizeof r->name, "%s", name);
	if (!type) {
		snprintf(why, wlen, "resource %s without a type", name);
		return -1;
	}
	if (resource_value(&f, type, x->pool, r, why, wlen))
		return -1;
	struct idtext *b = &x->id;
	b->n = 0;
	id_put(b, 'n', name);
	id_put(b, 't', type);
	const char *ar = cj_str(f.allocation_info, "role");
	id_put(b, 'a', ar ? ar : "");
	if (reservation_normalise(&f, x, r, why, wlen))
		return -1;
	resource_identity(&f, x, r);
	const cJSON *cur = current_reservation(&f);
	const char *fw, *svc;
	if (rsv_labels_parse(cur ? cJSON_GetObjectItemCaseSensitive(cur, "labels") : NULL,
			     &fw, &svc, why, wlen)) {
		size_t l = strlen(why);
		snprintf(why + l, wlen - l, " (resource %s)", name);
		return -1;
	}
	r->rsv_framework = pool_strdup(x->pool, fw);
	r->rsv_service = pool_strdup(x->pool, svc);
	mount_parse(&f, x->pool, r);

	r->src = j;

	bool plain_scalar = r->type == TASKSPEC_SCALAR &&
			    (strcmp(name, "cpus") == 0 || strcmp(name, "mem") == 0 ||
			     strcmp(name, "disk") == 0);
	bool plain_ports = r->type == TASKSPEC_RANGES &&
			   strcmp(name, "ports") == 0;
	r->fittable = (plain_scalar || plain_ports) && !r->revocable &&
		      !r->shared && !r->has_disk && !r->has_provider;
	return 0;
}

/* Merge b into a (same kind). */
static int resource_merge(struct pool *pool, struct taskspec_resource *a,
			  const struct taskspec_resource *b)
{
	if (a->type == TASKSPEC_SCALAR) {
		a->milli += b->milli;
	} else if (a->type == TASKSPEC_RANGES) {
		if (a->nranges + b->nranges > TASKSPEC_OFFER_MAX_RANGES)
			return QM_ETOOBIG;
		struct taskspec_range *m =
			pool_alloc(pool, (a->nranges + b->nranges) * sizeof *m);
		memcpy(m, a->ranges, a->nranges * sizeof *m);
		memcpy(m + a->nranges, b->ranges, b->nranges * sizeof *m);
		a->ranges = m;
		a->nranges += b->nranges;
		ranges_normalise(a->ranges, &a->nranges);
	}
	return 0;
}

/* Attribute value as text (capped). */
static int attr_text(const cJSON *a, char *buf, size_t cap)
{
	const char *type = cj_str(a, "type");
	if (!type)
		return -1;
	size_t o = 0;
	buf[0] = '\0';
#define PUT(...)                                                         \
	do {                                                             \
		int n_ = snprintf(buf + o, cap - o, __VA_ARGS__);        \
		if (n_ < 0 || (size_t)n_ >= cap - o)                     \
			return -1;                                       \
		o += (size_t)n_;                                         \
	} while (0)
	if (strcmp(type, "TEXT") == 0) {
		const char *v = cj_str(cJSON_GetObjectItemCaseSensitive(a, "text"), "value");
		if (!v)
			return -1;
		PUT("%s", v);
	} else if (strcmp(type, "SCALAR") == 0) {
		double d;
		if (!cj_number(cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(a, "scalar"), "value"), &d) ||
		    !(d > -1e15 && d < 1e15))
			return -1;
		char m[48];
		text_fmt_milli((int64_t)(d * 1000.0 + (d < 0 ? -0.5 : 0.5)), m, sizeof m);
		PUT("%s", m);
	} else if (strcmp(type, "RANGES") == 0) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(a, "ranges"), "range");
		const cJSON *it;
		PUT("[");
		bool first = true;
		cJSON_ArrayForEach(it, arr) {
			uint64_t b, e;
			if (!cj_u64(cJSON_GetObjectItemCaseSensitive(it, "begin"), &b) ||
			    !cj_u64(cJSON_GetObjectItemCaseSensitive(it, "end"), &e))
				return -1;
			PUT("%s%" PRIu64 "-%" PRIu64, first ? "" : ",", b, e);
			first = false;
		}
		PUT("]");
	} else if (strcmp(type, "SET") == 0) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(a, "set"), "item");
		const cJSON *it;
		PUT("{");
		bool first = true;
		cJSON_ArrayForEach(it, arr) {
			if (!cJSON_IsString(it))
				return -1;
			PUT("%s%s", first ? "" : ",", it->valuestring);
			first = false;
		}
		PUT("}");
	} else {
		return -1;
	}
#undef PUT
	return text_has_ctrl(buf) ? -1 : 0;
}

/* key's {"value": ID} (x is the offer's member key, or NULL) */
static int get_value_id(const cJSON *x, const char *key, struct pool *pool,
			const char **out, char *err, size_t errlen)
{
	const char *v = cj_str(x, "value");
	if (!v)
		return qm_fail(err, errlen, QM_EINVAL, "offer without %s", key);
	if (!taskspec_id_valid(v) || strlen(v) > TASKSPEC_ID_MAX)
		return qm_fail(err, errlen, QM_EINVAL, "offer has a malformed %s", key);
	*out = pool_strdup(pool, v);
	return 0;
}

static void skip(struct taskspec_offer *o, const char *why)
{
	if (o->skipped++ == 0)
		snprintf(o->skip_reason, sizeof o->skip_reason, "%s", why);
}

/* o->attrs from the offer's attributes (NULL: none); malformed ones are
 * skipped. */
static int attrs_parse(const cJSON *attrs, struct oparse *x, struct taskspec_offer *o,
		       char *err, size_t errlen)
{
	if (attrs && cJSON_IsArray(attrs)) {
		int n = cJSON_GetArraySize(attrs);
		if (n > TASKSPEC_OFFER_MAX_ATTRS)
			return qm_fail(err, errlen, QM_ETOOBIG,
				    "offer %s has %d attributes (max %d)", o->id,
				    n, TASKSPEC_OFFER_MAX_ATTRS);
		o->attrs = pool_alloc(x->pool, (size_t)n * sizeof *o->attrs);
		const cJSON *it;
		cJSON_ArrayForEach(it, attrs) {
			const char *an = cj_str(it, "name");
			if (!an || !text_ok(an, 255) ||
			    attr_text(it, x->val, sizeof x->val)) {
				skip(o, "malformed attribute");
				continue;
			}
			o->attrs[o->nattrs].name = pool_strdup(x->pool, an);
			o->attrs[o->nattrs].value = pool_strdup(x->pool, x->val);
			o->nattrs++;
		}
	}
	return 0;
}

/* o->res: the offer's resources (NULL: none) merged by kind; malformed
 * ones are skipped. */
static int resources_parse(const cJSON *res, struct oparse *x, struct taskspec_offer *o,
			   char *err, size_t errlen)
{
	if (res && !cJSON_IsArray(res))
		return qm_fail(err, errlen, QM_EINVAL,
			    "offer %s: resources is not an array", o->id);
	int n = cJSON_GetArraySize(res);
	if (n > TASKSPEC_OFFER_MAX_RESOURCES)
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "offer %s has %d resources (max %d)", o->id, n,
			    TASKSPEC_OFFER_MAX_RESOURCES);
	o->res = pool_alloc(x->pool, (size_t)n * sizeof *o->res);
	const cJSON *it;
	cJSON_ArrayForEach(it, res) {
		struct taskspec_resource r;
		char why[160];
		memset(&r, 0, sizeof r);
		if (resource_parse(it, x, &r, why, sizeof why)) {
			skip(o, why);
			continue;
		}
		size_t k;
		for (k = 0; k < o->nres; k++)
			if (strcmp(o->res[k].kind, r.kind) == 0)
				break;
		if (k < o->nres) {
			int rv = resource_merge(x->pool, &o->res[k], &r);
			if (rv)
				return qm_fail(err, errlen, rv,
					    "offer %s: too many ranges", o->id);
		} else {
			o->res[o->nres++] = r;
		}
	}
	for (size_t k = 0; k < o->nres; k++) {
		struct taskspec_resource *r = &o->res[k];
		if (r->type == TASKSPEC_RANGES) {
			r->free = pool_alloc(x->pool, r->nranges * sizeof *r->free);
			memcpy(r->free, r->ranges, r->nranges * sizeof *r->free);
			r->nfree = r->nranges;
		}
	}
	return 0;
}

/* An Offer's fields, found in one pass over its members as a Resource's
 * are (res_fields_of): six look-ups walked them six times. */
struct offer_fields {
	const cJSON *id, *agent_id, *hostname, *allocation_info, *attributes, *resources,
		*unavailability;
};

static void offer_fields_of(const cJSON *j, struct offer_fields *f)
{
	static const struct field_key keys[] = {
		{"id", offsetof(struct offer_fields, id)},
		{"agent_id", offsetof(struct offer_fields, agent_id)},
		{"hostname", offsetof(struct offer_fields, hostname)},
		{"allocation_info", offsetof(struct offer_fields, allocation_info)},
		{"attributes", offsetof(struct offer_fields, attributes)},
		{"resources", offsetof(struct offer_fields, resources)},
		{"unavailability", offsetof(struct offer_fields, unavailability)},
	};
	fields_of(j, keys, ARRAY_LEN(keys), f, sizeof *f);
}

/* About what one offer of four resources takes of its pool (more spills
 * into a further chunk): what sizes an event's pool. */
#define OFFER_POOL_HINT                                                          \
	(sizeof(struct taskspec_offer) + sizeof(const cJSON *) +                 \
	 4 * (sizeof(struct taskspec_resource) + 64 + 2 * sizeof(struct taskspec_range)) + 192)

/* Parse offer j into *o (zeroed first), its pieces in x->pool, of which
 * *o takes a reference. */
static int offer_parse_in(const cJSON *j, struct oparse *x, struct taskspec_offer *o,
			  char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->pool = x->pool;
	pool_ref(x->pool);
	if (!cJSON_IsObject(j))
		return qm_fail(err, errlen, QM_EINVAL, "offer is not an object");
	o->role = "";
	struct offer_fields f;
	offer_fields_of(j, &f);
	int rv;
	if ((rv = get_value_id(f.id, "id", x->pool, &o->id, err, errlen)))
		return rv;
	if ((rv = get_value_id(f.agent_id, "agent_id", x->pool, &o->agent_id, err, errlen)))
		return rv;
	const char *host = str_of(f.hostname);
	if (!host || !text_ok(host, TASKSPEC_ID_MAX))
		return qm_fail(err, errlen, QM_EINVAL,
			    "offer %s has no usable hostname", o->id);
	o->hostname = pool_strdup(x->pool, host);
	const char *role = cj_str(f.allocation_info, "role");
	if (role) {
		if (!text_ok(role, TASKSPEC_ROLE_MAX))
			return qm_fail(err, errlen, QM_EINVAL,
				    "offer %s has a malformed allocation role", o->id);
		o->role = pool_strdup(x->pool, role);
	}
	o->unavailability = f.unavailability;
	if ((rv = attrs_parse(f.attributes, x, o, err, errlen)))
		return rv;
	return resources_parse(f.resources, x, o, err, errlen);
}

int taskspec_offer_parse(const cJSON *j, struct taskspec_offer *o, char *err,
			 size_t errlen)
{
	struct oparse x = {.pool = pool_new(OFFER_POOL_HINT)};
	int rv = offer_parse_in(j, &x, o, err, errlen);
	pool_unref(x.pool); /* the offer's now */
	free(x.id.p);
	return rv;
}

void taskspec_offer_free(struct taskspec_offer *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nres; i++)
		res_fini(&o->res[i]);
	pool_unref(o->pool);
	memset(o, 0, sizeof *o);
}

struct taskspec_offers *taskspec_offers_parse(const cJSON *event, size_t cap)
{
	struct taskspec_offers *b = qm_calloc(1, sizeof *b);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(event, "offers"), "offers");
	int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
	if (n <= 0)
		return b;
	b->n = (size_t)n;
	size_t want = b->n < cap ? b->n : cap;
	struct oparse x = {.pool = b->pool = pool_new(want * OFFER_POOL_HINT)};
	b->ok = pool_calloc(b->pool, want, sizeof *b->ok);
	b->ok_json = pool_alloc(b->pool, want * sizeof *b->ok_json);
	size_t seen = 0, badcap = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, list)
	{
		if (seen++ >= cap) {
			b->over = o;
			break;
		}
		char err[sizeof b->bad->err] = "";
		if (offer_parse_in(o, &x, &b->ok[b->nok], err, sizeof err) != 0) {
			taskspec_offer_free(&b->ok[b->nok]);
			if (b->nbad == badcap) {
				badcap = badcap ? 2 * badcap : 8;
				b->bad = qm_realloc(b->bad, badcap * sizeof *b->bad);
			}
			b->bad[b->nbad].json = o;
			memcpy(b->bad[b->nbad].err, err, sizeof err);
			b->nbad++;
			continue;
		}
		b->ok_json[b->nok++] = o;
	}
	free(x.id.p);
	return b;
}

void taskspec_offers_free(struct taskspec_offers *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nok; i++)
		taskspec_offer_free(&b->ok[i]);
	pool_unref(b->pool); /* ok and ok_json with it */
	free(b->bad);
	free(b);
}

void taskspec_offer_own_json(struct taskspec_offer *o)
{
	o->unavailability = NULL; /* read while the event is handled only */
	for (size_t i = 0; i < o->nres; i++) {
		struct taskspec_resource *r = &o->res[i];
		if (r->src_owned || !r->src)
			continue;
		r->src = cj_ck(cJSON_Duplicate(r->src, true));
		r->src_owned = true;
	}
}

cJSON *taskspec_resource_template(const struct taskspec_resource *r)
{
	cJSON *e = cj_ck(cJSON_CreateObject());
	const cJSON *it;
	cJSON_ArrayForEach(it, r->src) {
		bool value = false;
		for (size_t i = 0; i < ARRAY_LEN(value_keys); i++)
			value = value || (it->string && strcmp(it->string, value_keys[i]) == 0);
		if (!value)
			cj_put(e, it->string, cj_dup(it));
	}
	return e;
}

cJSON *taskspec_resource_offered(const struct taskspec_resource *r)
{
	if (r->type == TASKSPEC_SET)
		return NULL;
	cJSON *e = taskspec_resource_template(r);
	if (r->type == TASKSPEC_SCALAR) {
		cj_add_num(cj_add_obj(e, "scalar"), "value", (double)r->milli / 1000.0);
		return e;
	}
	cJSON *range = cj_add_arr(cj_add_obj(e, "ranges"), "range");
	for (size_t i = 0; i < r->nranges; i++) {
		cJSON *g = cj_ck(cJSON_CreateObject());
		cj_add_num(g, "begin", (double)r->ranges[i].begin);
		cj_add_num(g, "end", (double)r->ranges[i].end);
		cj_push(range, g);
	}
	return e;
}

const char *taskspec_offer_attr(const struct taskspec_offer *o,
				const char *name)
{
	for (size_t i = 0; i < o->nattrs; i++)
		if (strcmp(o->attrs[i].name, name) == 0)
			return o->attrs[i].value;
	return NULL;
}
