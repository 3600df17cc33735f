/* Fitting tasks into offers: see fit.h. */
#include "core/fit.h"

#include "core/cj.h"
#include "core/text.h"
#include "core/validate.h"
#include "qm_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scalar_names[3] = {"cpus", "mem", "disk"};

static bool allowed(const struct taskspec_resource *r,
		    enum taskspec_reservation which)
{
	switch (which) {
	case TASKSPEC_RES_RESERVED: return r->role != NULL;
	case TASKSPEC_RES_UNRESERVED: return r->role == NULL;
	default: return true;
	}
}

/* When kind k is used for request r: 0 reserved for r's service (labeled
 * ours), 1 reserved otherwise, 2 unreserved; -1 never (see
 * taskspec_request.rsv_framework). */
static int rank(const struct taskspec_resource *k,
		const struct taskspec_request *r)
{
	if (!allowed(k, r->reservation))
		return -1;
	if (r->rsv_framework && k->rsv_framework) {
		if (strcmp(k->rsv_framework, r->rsv_framework) != 0 ||
		    strcmp(k->rsv_service, service_name(r->service)) != 0)
			return -1;
		return 0;
	}
	return k->role ? 1 : 2;
}

/* Indices of the kinds of `name` that r may use (fittable ones, or with
 * mounts the MOUNT disks), in the order they are used (rank, then offer
 * order). */
static size_t kinds_of(const struct taskspec_offer *o, const char *name,
		       const struct taskspec_request *r, bool mounts,
		       size_t *idx)
{
	size_t n = 0;
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < o->nres; i++) {
			const struct taskspec_resource *k = &o->res[i];
			bool usable = mounts ? k->mount_root != NULL : k->fittable;
			if (usable && strcmp(k->name, name) == 0 && rank(k, r) == pass)
				idx[n++] = i;
		}
	}
	return n;
}

static size_t kinds(const struct taskspec_offer *o, const char *name,
		    const struct taskspec_request *r, size_t *idx)
{
	return kinds_of(o, name, r, false, idx);
}

static uint64_t ranges_count(const struct taskspec_range *r, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += r[i].end - r[i].begin + 1;
	return c;
}

/* What request r may still use of `name`. */
static int64_t left_for(const struct taskspec_offer *o, const char *name,
			const struct taskspec_request *r)
{
	size_t *idx = qm_calloc(o->nres, sizeof *idx);
	size_t n = kinds(o, name, r, idx);
	int64_t left = 0;
	for (size_t i = 0; i < n; i++) {
		const struct taskspec_resource *k = &o->res[idx[i]];
		if (k->type == TASKSPEC_SCALAR)
			left += k->milli - k->used_milli;
		else
			left += (int64_t)ranges_count(k->free, k->nfree);
	}
	free(idx);
	return left;
}

int64_t taskspec_offer_left(const struct taskspec_offer *o, const char *name,
			    enum taskspec_reservation which)
{
	struct taskspec_request r;
	memset(&r, 0, sizeof r);
	r.reservation = which;
	return left_for(o, name, &r);
}

void taskspec_offer_summary(const struct taskspec_offer *o, char *buf,
			    size_t cap)
{
	size_t off = 0;
	if (!cap)
		return;
	buf[0] = '\0';
	for (size_t s = 0; s < 3; s++) {
		char m[48];
		text_fmt_milli(taskspec_offer_left(o, scalar_names[s], TASKSPEC_RES_ANY), m,
			  sizeof m);
		int n = snprintf(buf + off, cap - off, "%s%s=%s", s ? " " : "",
				 scalar_names[s], m);
		if (n < 0 || (size_t)n >= cap - off)
			return;
		off += (size_t)n;
	}
	int n = snprintf(buf + off, cap - off, " ports=[");
	if (n < 0 || (size_t)n >= cap - off)
		return;
	off += (size_t)n;
	bool first = true;
	for (size_t i = 0; i < o->nres; i++) {
		const struct taskspec_resource *r = &o->res[i];
		if (!r->fittable || r->type != TASKSPEC_RANGES)
			continue;
		for (size_t k = 0; k < r->nfree; k++) {
			n = snprintf(buf + off, cap - off, "%s%" PRIu64 "-%" PRIu64,
				     first ? "" : ",", r->free[k].begin,
				     r->free[k].end);
			if (n < 0 || (size_t)n >= cap - off)
				return;
			off += (size_t)n;
			first = false;
		}
	}
	snprintf(buf + off, cap - off, "]");
}

static bool range_has(const struct taskspec_resource *r, uint64_t p)
{
	for (size_t i = 0; i < r->nfree; i++)
		if (p >= r->free[i].begin && p <= r->free[i].end)
			return true;
	return false;
}

/* Take port p out of r's free ranges (p must be free). */
static void range_take(struct taskspec_resource *r, uint64_t p)
{
	for (size_t i = 0; i < r->nfree; i++) {
		struct taskspec_range *g = &r->free[i];
		if (p < g->begin || p > g->end)
			continue;
		if (g->begin == g->end) {
			memmove(g, g + 1, (r->nfree - i - 1) * sizeof *g);
			r->nfree--;
		} else if (p == g->begin) {
			g->begin++;
		} else if (p == g->end) {
			g->end--;
		} else {
			if (r->free_heap) {
				r->free = qm_realloc(r->free, (r->nfree + 1) * sizeof *r->free);
			} else { /* the offer's pool's: nothing in it grows */
				struct taskspec_range *f = qm_malloc((r->nfree + 1) * sizeof *f);
				memcpy(f, r->free, r->nfree * sizeof *f);
				r->free = f;
				r->free_heap = true;
			}
			g = &r->free[i];
			memmove(g + 1, g, (r->nfree - i) * sizeof *g);
			g[0].end = p - 1;
			g[1].begin = p + 1;
			r->nfree++;
		}
		return;
	}
}

static bool chosen_has(const uint32_t *chosen, const bool *done, unsigned n,
		       uint32_t p)
{
	for (unsigned i = 0; i < n; i++)
		if (done[i] && chosen[i] == p)
			return true;
	return false;
}

static bool avoided(const uint32_t *avoid, unsigned n, uint32_t p)
{
	for (unsigned i = 0; i < n; i++)
		if (avoid[i] == p)
			return true;
	return false;
}

static cJSON *entry_from(const struct taskspec_resource *r)
{
	return taskspec_resource_template(r);
}

/* The ports chosen for a request before any is taken: chosen[w] from
 * resource kind o->res[kind[w]] once done[w]. */
struct port_pick {
	uint32_t chosen[TASKSPEC_MAX_PORTS];
	size_t kind[TASKSPEC_MAX_PORTS];
	bool done[TASKSPEC_MAX_PORTS];
	size_t *pidx; /* the port kinds usable, in order of use */
	size_t nk;
};

/* Requests that can never fit: too many ports, negative, or empty. */
static bool request_ok(const struct taskspec_request *r,
		       const int64_t want[3], struct taskspec_fit *f)
{
	if (r->nports > TASKSPEC_MAX_PORTS) {
		snprintf(f->reason, sizeof f->reason, "more than %d ports requested",
			 TASKSPEC_MAX_PORTS);
		return false;
	}
	if (want[0] < 0 || want[1] < 0 || want[2] < 0) {
		snprintf(f->reason, sizeof f->reason, "negative amount requested");
		return false;
	}
	if (!want[0] && !want[1] && !want[2] && !r->nports) {
		snprintf(f->reason, sizeof f->reason,
			 "empty request (Mesos rejects tasks without resources)");
		return false;
	}
	return true;
}

static bool scalars_fit(const struct taskspec_offer *o,
			const struct taskspec_request *r, const int64_t want[3],
			struct taskspec_fit *f)
{
	for (size_t s = 0; s < 3; s++) {
		if (!want[s])
			continue;
		int64_t left = left_for(o, scalar_names[s], r);
		if (left < want[s]) {
			char a[48], b[48];
			text_fmt_milli(want[s], a, sizeof a);
			text_fmt_milli(left, b, sizeof b);
			snprintf(f->reason, sizeof f->reason, "%s: need %s, %s left",
				 scalar_names[s], a, b);
			return false;
		}
	}
	return true;
}

/* Preferred ports that are free, first; a required one that is not fails. */
static bool pick_preferred(const struct taskspec_offer *o,
			   const struct taskspec_request *r,
			   struct port_pick *pk, struct taskspec_fit *f)
{
	for (unsigned w = 0; w < r->nports; w++) {
		uint32_t p = r->ports[w].preferred;
		if (!p)
			continue;
		bool dupe = chosen_has(pk->chosen, pk->done, r->nports, p);
		for (size_t k = 0; k < pk->nk && !dupe; k++) {
			if (range_has(&o->res[pk->pidx[k]], p)) {
				pk->chosen[w] = p;
				pk->kind[w] = pk->pidx[k];
				pk->done[w] = true;
				break;
			}
		}
		if (!pk->done[w] && r->ports[w].required) {
			snprintf(f->reason, sizeof f->reason,
				 dupe ? "port %u requested twice"
				      : "port %u is not offered (or taken)", p);
			return false;
		}
	}
	return true;
}

/* The lowest free port for want w that is not chosen yet and, unless lax,
 * not avoided. */
static bool pick_lowest(const struct taskspec_offer *o,
			const struct taskspec_request *r, struct port_pick *pk,
			unsigned w, unsigned navoid, bool lax)
{
	for (size_t k = 0; k < pk->nk; k++) {
		const struct taskspec_resource *rs = &o->res[pk->pidx[k]];
		for (size_t g = 0; g < rs->nfree; g++) {
			/* steps over at most nports + navoid values */
			for (uint64_t p = rs->free[g].begin; p <= rs->free[g].end;
			     p++) {
				uint32_t q = (uint32_t)p;
				if (chosen_has(pk->chosen, pk->done, r->nports, q) ||
				    (!lax && avoided(r->avoid, navoid, q)))
					continue;
				pk->chosen[w] = q;
				pk->kind[w] = pk->pidx[k];
				pk->done[w] = true;
				return true;
			}
		}
	}
	return false;
}

/* Every port not given by pick_preferred: the lowest free one not avoided,
 * else the lowest free one. */
static bool pick_fallback(const struct taskspec_offer *o,
			  const struct taskspec_request *r,
			  struct port_pick *pk, struct taskspec_fit *f)
{
	unsigned navoid = r->navoid < TASKSPEC_MAX_AVOID ? r->navoid
							 : TASKSPEC_MAX_AVOID;
	for (unsigned w = 0; w < r->nports; w++) {
		if (pk->done[w])
			continue;
		if (!pick_lowest(o, r, pk, w, navoid, false) &&
		    !pick_lowest(o, r, pk, w, navoid, true)) {
			snprintf(f->reason, sizeof f->reason,
				 "ports: need %u, not enough free", r->nports);
			return false;
		}
	}
	return true;
}

/* Take the scalars (reserved kinds first) and describe them in arr. */
static void take_scalars(struct taskspec_offer *o,
			 const struct taskspec_request *r,
			 const int64_t want[3], cJSON *arr)
{
	size_t *idx = qm_calloc(o->nres, sizeof *idx);
	for (size_t s = 0; s < 3; s++) {
		int64_t need = want[s];
		size_t n = kinds(o, scalar_names[s], r, idx);
		for (size_t k = 0; k < n && need > 0; k++) {
			struct taskspec_resource *rs = &o->res[idx[k]];
			int64_t t = rs->milli - rs->used_milli;
			if (t > need)
				t = need;
			if (t <= 0)
				continue;
			rs->used_milli += t;
			need -= t;
			cJSON *e = entry_from(rs);
			cj_add_num(cj_add_obj(e, "scalar"), "value", (double)t / 1000.0);
			cj_push(arr, e);
		}
	}
	free(idx);
}

/* a and b name the same directory: equal but for trailing '/'s. */
static bool root_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

/* Take the MOUNT disks whose roots r names, each whole: a MOUNT disk is
 * used exclusively, "a framework cannot accept a partial amount of this
 * disk" (DiskInfo.Source.Mount, include/mesos/v1/mesos.proto 1.4.0 and
 * 1.11.0), and two MOUNT resources are never added and subtract only when
 * equal (addable/subtractable, src/common/resources.cpp 1.4.0), so the
 * entry carries the whole offered amount. Scalars compare as
 * llround(value * 1000) (convertToFixed, src/v1/values.cpp 1.4.0), which
 * is exactly our milli-units. A kind already taken (used_milli) is not
 * taken twice. */
static void take_mounts(struct taskspec_offer *o,
			const struct taskspec_request *r,
			struct taskspec_fit *f, cJSON *arr)
{
	if (!r->n_mount_roots)
		return;
	size_t *idx = qm_calloc(o->nres, sizeof *idx);
	size_t n = kinds_of(o, "disk", r, true, idx);
	for (size_t m = 0; m < r->n_mount_roots; m++) {
		const char *want = r->mount_roots[m];
		for (size_t k = 0; want && k < n && f->n_mounts < TASKSPEC_MAX_MOUNTS; k++) {
			struct taskspec_resource *rs = &o->res[idx[k]];
			if (rs->used_milli || !root_eq(rs->mount_root, want))
				continue;
			rs->used_milli = rs->milli;
			cJSON *e = entry_from(rs);
			cj_add_num(cj_add_obj(e, "scalar"), "value",
				   (double)rs->milli / 1000.0);
			cj_push(arr, e);
			snprintf(f->mounts[f->n_mounts++], sizeof f->mounts[0], "%s",
				 rs->mount_root);
			break;
		}
	}
	free(idx);
}

/* Take the m ports of mine[] out of rs and describe them as one entry of
 * arr, runs of consecutive ports as one range. */
static void take_ports_of(struct taskspec_resource *rs, uint32_t *mine,
			  unsigned m, cJSON *arr)
{
	/* sort the few ports, then write runs as ranges */
	for (unsigned a = 1; a < m; a++)
		for (unsigned b = a; b > 0 && mine[b - 1] > mine[b]; b--) {
			uint32_t t = mine[b];
			mine[b] = mine[b - 1];
			mine[b - 1] = t;
		}
	cJSON *e = entry_from(rs);
	cJSON *range = cj_add_arr(cj_add_obj(e, "ranges"), "range");
	for (unsigned a = 0; a < m;) {
		unsigned b = a;
		while (b + 1 < m && mine[b + 1] == mine[b] + 1)
			b++;
		cJSON *g = cj_ck(cJSON_CreateObject());
		cj_add_num(g, "begin", mine[a]);
		cj_add_num(g, "end", mine[b]);
		cj_push(range, g);
		a = b + 1;
	}
	for (unsigned a = 0; a < m; a++)
		range_take(rs, mine[a]);
	cj_push(arr, e);
}

static void take_ports(struct taskspec_offer *o,
		       const struct taskspec_request *r,
		       const struct port_pick *pk, cJSON *arr)
{
	for (size_t k = 0; k < pk->nk; k++) {
		uint32_t mine[TASKSPEC_MAX_PORTS];
		unsigned m = 0;
		for (unsigned w = 0; w < r->nports; w++)
			if (pk->kind[w] == pk->pidx[k])
				mine[m++] = pk->chosen[w];
		if (m)
			take_ports_of(&o->res[pk->pidx[k]], mine, m, arr);
	}
}

bool taskspec_offer_take(struct taskspec_offer *o,
			 const struct taskspec_request *r,
			 struct taskspec_fit *f)
{
	memset(f, 0, sizeof *f);
	const int64_t want[3] = {r->cpus_milli, r->mem_milli, r->disk_milli};
	if (!request_ok(r, want, f) || !scalars_fit(o, r, want, f))
		return false;

	/* Ports: choose all before taking any, so a miss takes nothing. */
	struct port_pick pk;
	memset(&pk, 0, sizeof pk);
	pk.pidx = qm_calloc(o->nres, sizeof *pk.pidx);
	pk.nk = kinds(o, "ports", r, pk.pidx);
	if (!pick_preferred(o, r, &pk, f) || !pick_fallback(o, r, &pk, f)) {
		free(pk.pidx);
		return false;
	}

	/* It fits: take and describe. */
	cJSON *arr = cj_ck(cJSON_CreateArray());
	take_scalars(o, r, want, arr);
	take_ports(o, r, &pk, arr);
	take_mounts(o, r, f, arr);
	free(pk.pidx);
	memcpy(f->ports, pk.chosen, sizeof pk.chosen);
	f->nports = r->nports;
	f->resources = arr;
	return true;
}

void taskspec_fit_fini(struct taskspec_fit *f)
{
	if (!f)
		return;
	cJSON_Delete(f->resources);
	f->resources = NULL;
}

size_t taskspec_offer_take_all(struct taskspec_offer *o,
			       const struct taskspec_request *reqs, size_t n,
			       struct taskspec_fit *fits)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++)
		if (taskspec_offer_take(o, &reqs[i], &fits[i]))
			ok++;
	return ok;
}

void taskspec_request_for(const struct taskspec_config *c,
			  enum service s, struct taskspec_request *r)
{
	memset(r, 0, sizeof *r);
	r->service = s;
	if ((unsigned)s >= SERVICE_COUNT)
		return;
	const struct taskspec_service_conf *v = &c->svc[s];
	r->cpus_milli = v->cpus_milli;
	r->mem_milli = v->mem_mb * 1000;
	r->disk_milli = v->disk_mb * 1000;
	if (v->port) {
		r->ports[r->nports].preferred = v->port;
		r->ports[r->nports++].required = c->strict_ports;
	}
	if (v->http_port) {
		r->ports[r->nports].preferred = v->http_port;
		r->ports[r->nports++].required = c->strict_ports;
	}
	for (unsigned i = 0; i < SERVICE_COUNT; i++) {
		const uint32_t ps[2] = {c->svc[i].port, c->svc[i].http_port};
		for (unsigned k = 0; k < 2; k++)
			if (ps[k] && r->navoid < TASKSPEC_MAX_AVOID &&
			    !avoided(r->avoid, r->navoid, ps[k]))
				r->avoid[r->navoid++] = ps[k];
	}
}

/* The reservation a RESERVE adds, with the optional principal and labels
 * (ReservationInfo, include/mesos/v1/mesos.proto 1.4.0 and 1.11.0). */
static void rsv_fields(cJSON *g, const char *principal, const cJSON *labels)
{
	if (principal)
		cj_add_str(g, "principal", principal);
	if (labels)
		cj_put(g, "labels", cj_dup(labels));
}

/* Rewrite one unreserved entry e to its reserved form, in the format it
 * was offered in. false (e untouched) when e is reserved already.
 *
 * Pre-refinement (src/common/resources.cpp Resources::validate, 1.4.0 and
 * 1.11.0): "role" names the role and "reservation" must not carry "type"
 * or "role". Post-refinement: every entry of "reservations" needs "type"
 * and "role", and one RESERVE pushes exactly one reservation (the master
 * takes popReservation() of each entry from the offer: Resources::apply,
 * src/common/resources.cpp 1.4.0; getResourceConversions,
 * src/common/resources_utils.cpp 1.11.0). Never both formats in one entry:
 * the master tolerates a single consistent pair, but our offers never
 * carry one. */
static bool entry_reserve(cJSON *e, const char *role, const char *principal,
			  const cJSON *labels)
{
	const cJSON *rl = cJSON_GetObjectItemCaseSensitive(e, "role");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "reservations");
	if (rl && !cJSON_IsNull(rl)) {
		if (!cJSON_IsString(rl) || strcmp(rl->valuestring, "*") != 0)
			return false;
		cJSON_ReplaceItemInObjectCaseSensitive(e, "role",
						      cj_ck(cJSON_CreateString(role)));
		cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
		cJSON_DeleteItemFromObjectCaseSensitive(e, "reservation");
		rsv_fields(cj_add_obj(e, "reservation"), principal, labels);
		return true;
	}
	if (cJSON_GetArraySize(st) > 0)
		return false;
	cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
	cJSON *g = cj_ck(cJSON_CreateObject());
	cj_add_str(g, "type", "DYNAMIC");
	cj_add_str(g, "role", role);
	rsv_fields(g, principal, labels);
	cj_push(cj_add_arr(e, "reservations"), g);
	return true;
}

int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, const cJSON *labels,
			 cJSON **reserve)
{
	*reserve = NULL;
	if (!taskspec_role_valid(role))
		return QM_EINVAL;
	if (principal && !text_ok(principal, 255))
		return QM_EINVAL;
	if (labels && !cJSON_IsObject(labels))
		return QM_EINVAL;
	if (!f->resources)
		return 0;
	cJSON *out = NULL;
	cJSON *e;
	cJSON_ArrayForEach(e, f->resources) {
		if (!entry_reserve(e, role, principal, labels))
			continue;
		if (!out)
			out = cj_ck(cJSON_CreateArray());
		cj_push(out, cj_dup(e));
	}
	*reserve = out;
	return 0;
}
