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

/* Indices of the fittable kinds of `name`, in the order they are used:
 * reserved ones first (in offer order), then unreserved ones. */
static size_t kinds(const struct taskspec_offer *o, const char *name,
		    enum taskspec_reservation which, size_t *idx)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < o->nres; i++) {
			const struct taskspec_resource *r = &o->res[i];
			if (!r->fittable || strcmp(r->name, name) != 0 ||
			    !allowed(r, which))
				continue;
			if ((pass == 0) == (r->role != NULL))
				idx[n++] = i;
		}
	}
	return n;
}

static uint64_t ranges_count(const struct taskspec_range *r, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += r[i].end - r[i].begin + 1;
	return c;
}

int64_t taskspec_offer_left(const struct taskspec_offer *o, const char *name,
			    enum taskspec_reservation which)
{
	size_t *idx = qm_calloc(o->nres, sizeof *idx);
	size_t n = kinds(o, name, which, idx);
	int64_t left = 0;
	for (size_t i = 0; i < n; i++) {
		const struct taskspec_resource *r = &o->res[idx[i]];
		if (r->type == TASKSPEC_SCALAR)
			left += r->milli - r->used_milli;
		else
			left += (int64_t)ranges_count(r->free, r->nfree);
	}
	free(idx);
	return left;
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
			r->free = qm_realloc(r->free, (r->nfree + 1) * sizeof *r->free);
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
	return cj_dup(r->tmpl);
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
		int64_t left = taskspec_offer_left(o, scalar_names[s], r->reservation);
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
		size_t n = kinds(o, scalar_names[s], r->reservation, idx);
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
	pk.nk = kinds(o, "ports", r->reservation, pk.pidx);
	if (!pick_preferred(o, r, &pk, f) || !pick_fallback(o, r, &pk, f)) {
		free(pk.pidx);
		return false;
	}

	/* It fits: take and describe. */
	cJSON *arr = cj_ck(cJSON_CreateArray());
	take_scalars(o, r, want, arr);
	take_ports(o, r, &pk, arr);
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

int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, cJSON **reserve)
{
	*reserve = NULL;
	if (!taskspec_role_valid(role))
		return QM_EINVAL;
	if (principal && !text_ok(principal, 255))
		return QM_EINVAL;
	if (!f->resources)
		return 0;
	cJSON *out = NULL;
	cJSON *e;
	cJSON_ArrayForEach(e, f->resources) {
		const cJSON *rl = cJSON_GetObjectItemCaseSensitive(e, "role");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "reservations");
		bool pre = rl && !cJSON_IsNull(rl);
		if (pre) {
			if (!cJSON_IsString(rl) || strcmp(rl->valuestring, "*") != 0)
				continue;
			cJSON_ReplaceItemInObjectCaseSensitive(e, "role",
							      cj_ck(cJSON_CreateString(role)));
			cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
			cJSON *rv = cj_add_obj(e, "reservation");
			if (principal)
				cj_add_str(rv, "principal", principal);
		} else {
			if (cJSON_GetArraySize(st) > 0)
				continue;
			cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
			cJSON *g = cj_ck(cJSON_CreateObject());
			cj_add_str(g, "type", "DYNAMIC");
			cj_add_str(g, "role", role);
			if (principal)
				cj_add_str(g, "principal", principal);
			cj_push(cj_add_arr(e, "reservations"), g);
		}
		if (!out)
			out = cj_ck(cJSON_CreateArray());
		cj_push(out, cj_dup(e));
	}
	*reserve = out;
	return 0;
}
