/* Reservations, MOUNT disks and maintenance in the shell (issue 10).
 *
 * What Mesos tells about them arrives in offers and inverse offers; this
 * file keeps it where the planner and the REST API find it:
 *  - every resource an offer carries that is reserved with our labels
 *    (core/rsv.h: this framework's name and a service) is a reservation of
 *    ours: recorded in the state when first seen (a coordinator that lost
 *    its state finds its reservations again this way) and never dropped
 *    until the operator asked for its release and the UNRESERVE went out;
 *  - the MOUNT disks each agent offers, for /v1/state;
 *  - the agent's maintenance window (Offer.unavailability);
 *  - inverse offers, held until the next plan answers them.
 * Runs on the loop thread (coord_priv.h). */
#include "shell/coord_priv.h"

#include "config.h"
#include "core/rsv.h"
#include "log.h"
#include "qm_error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- maintenance windows ------------------------------------------- */

/* An int64 of Mesos JSON in nanoseconds, as a number or a numeric string
 * (the master's JSON writer at 1.4.0 .. 1.11.0, 3rdparty/stout/include/
 * stout/protobuf.hpp, writes int64 as a number; a string is accepted as
 * everywhere else, §0), in ms. */
static bool nanos_ms(const cJSON *o, int64_t *ms)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "nanoseconds");
	double d;
	if (cJSON_IsNumber(x)) {
		d = x->valuedouble;
	} else if (cJSON_IsString(x) && x->valuestring[0]) {
		char *end = NULL;
		errno = 0;
		d = strtod(x->valuestring, &end);
		if (errno || *end)
			return false;
	} else {
		return false;
	}
	if (!isfinite(d) || fabs(d) > 9.2e18)
		return false;
	*ms = (int64_t)(d / 1e6);
	return true;
}

bool maint_window(const cJSON *u, int64_t *start_ms, int64_t *duration_ms)
{
	*start_ms = 0;
	*duration_ms = 0;
	if (!cJSON_IsObject(u))
		return false;
	int64_t s, d = 0;
	if (!nanos_ms(cJSON_GetObjectItemCaseSensitive(u, "start"), &s))
		return false;
	const cJSON *du = cJSON_GetObjectItemCaseSensitive(u, "duration");
	if (du && (!nanos_ms(du, &d) || d < 0))
		return false;
	/* 0 means "none" to the planner: a window starting at the epoch is
	 * one that started long ago */
	*start_ms = s ? s : 1;
	*duration_ms = d;
	return true;
}

/* ---- what offers say ------------------------------------------------ */

static void agent_mount_note(struct agent *a, const struct taskspec_resource *r,
			     const char *reserved_for)
{
	struct agent_mount *m = NULL;
	for (size_t i = 0; i < a->nmounts && !m; i++)
		if (strcmp(a->mounts[i].root, r->mount_root) == 0)
			m = &a->mounts[i];
	if (!m) {
		if (a->nmounts >= AGENT_MOUNTS_MAX)
			return;
		a->mounts = qm_realloc(a->mounts, (a->nmounts + 1) * sizeof *a->mounts);
		m = &a->mounts[a->nmounts++];
		memset(m, 0, sizeof *m);
		m->root = qm_strdup(r->mount_root);
	}
	m->size_mb = (double)r->milli / 1000.0;
	free(m->reserved_for);
	m->reserved_for = qm_strdup_or_null(reserved_for);
}

/* Is r reserved with our labels? Its service in *s. */
static bool ours(const struct coord *c, const struct taskspec_resource *r, enum service *s)
{
	return r->role && r->rsv_framework && r->rsv_service &&
	       strcmp(r->rsv_framework, c->cfg->framework_name) == 0 &&
	       service_parse(r->rsv_service, s) == 0;
}

void rsv_note_offer(struct coord *c, const struct taskspec_offer *o)
{
	struct agent *a = agent_find(c, o->agent_id);
	if (a) {
		int64_t start, dur;
		bool had = a->maint_start_ms != 0;
		if (maint_window(o->unavailability, &start, &dur)) {
			if (start != a->maint_start_ms || dur != a->maint_duration_ms)
				log_info("agent_maintenance", "agent_id=%s hostname=%s start_ms=%lld "
					 "duration_ms=%lld", log_qs(a->id),
					 log_qs(a->hostname ? a->hostname : ""), (long long)start,
					 (long long)dur);
			a->maint_start_ms = start;
			a->maint_duration_ms = dur;
		} else if (had) {
			log_info("agent_maintenance_cleared", "agent_id=%s", log_qs(a->id));
			a->maint_start_ms = a->maint_duration_ms = 0;
			free(a->maint_answer);
			a->maint_answer = NULL;
		}
	}
	for (size_t i = 0; i < o->nres; i++) {
		const struct taskspec_resource *r = &o->res[i];
		enum service s;
		bool mine = ours(c, r, &s);
		if (a && r->mount_root)
			agent_mount_note(a, r, mine ? service_name(s) : NULL);
		if (!mine)
			continue;
		if (sti_reservation(&c->sti, &c->st, service_name(s), o->agent_id, false))
			continue;
		struct store_reservation *v =
			sti_reservation(&c->sti, &c->st, service_name(s), o->agent_id, true);
		if (!v)
			continue;
		snprintf(v->hostname, sizeof v->hostname, "%s", o->hostname);
		v->since_ms = wall_ms();
		/* what this offer shows of it; a part in use is not offered */
		char sum[STORE_SUMMARY_MAX + 1] = "";
		char mt[STORE_MOUNTS_MAX + 1] = "";
		size_t len = 0;
		for (size_t j = i; j < o->nres; j++) {
			const struct taskspec_resource *q = &o->res[j];
			enum service qs;
			if (!ours(c, q, &qs) || qs != s)
				continue;
			if (q->mount_root) {
				size_t used = strlen(mt);
				snprintf(mt + used, sizeof mt - used, "%s%s", used ? "," : "",
					 q->mount_root);
			}
			if (q->type == TASKSPEC_SCALAR && len < sizeof sum)
				len += (size_t)snprintf(sum + len, sizeof sum - len, "%s%s=%g",
							len ? " " : "", q->name,
							(double)q->milli / 1000.0);
		}
		snprintf(v->summary, sizeof v->summary, "%s", sum);
		(void)store_reservation_set_mounts(v, mt); /* fits: mt is as long */
		c->st_dirty = true;
		c->n.reservations_found++;
		log_warn("reservation_found", "service=%s agent_id=%s hostname=%s offered=%s "
			 "action=%s", service_name(s), log_qs(o->agent_id), log_qs(o->hostname),
			 log_qs(sum), log_qs("recorded; kept until an operator releases it"));
	}
}

void rsv_summary(const cJSON *resources, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	const cJSON *e;
	cJSON_ArrayForEach(e, resources)
	{
		if (len >= cap)
			break;
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
		const cJSON *sc = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(e, "scalar"), "value");
		const cJSON *rg = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(e, "ranges"), "range");
		const char *root = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(e, "disk"), "source"),
				"mount"),
			"root"));
		if (!name)
			continue;
		if (cJSON_IsNumber(sc))
			len += (size_t)snprintf(buf + len, cap - len, "%s%s=%g%s%s", len ? " " : "",
						name, sc->valuedouble, root ? "@" : "",
						root ? root : "");
		else if (cJSON_IsArray(rg)) {
			len += (size_t)snprintf(buf + len, cap - len, "%s%s=[", len ? " " : "", name);
			const cJSON *x;
			bool first = true;
			cJSON_ArrayForEach(x, rg)
			{
				if (len >= cap)
					break;
				const cJSON *b = cJSON_GetObjectItemCaseSensitive(x, "begin");
				const cJSON *en = cJSON_GetObjectItemCaseSensitive(x, "end");
				double bv = cJSON_IsNumber(b) ? b->valuedouble : 0;
				double ev = cJSON_IsNumber(en) ? en->valuedouble : 0;
				len += (size_t)snprintf(buf + len, cap - len, bv == ev ? "%s%g" : "%s%g-%g",
							first ? "" : ",", bv, ev);
				first = false;
			}
			if (len < cap)
				len += (size_t)snprintf(buf + len, cap - len, "]");
		}
	}
	if (len >= cap && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
}

void rsv_note_reserve(struct coord *c, enum service s, const char *agent_id,
		      const char *hostname, const cJSON *reserve, const struct taskspec_fit *fit)
{
	struct store_reservation *v =
		sti_reservation(&c->sti, &c->st, service_name(s), agent_id, true);
	if (!v)
		return;
	bool fresh = v->since_ms == 0;
	snprintf(v->hostname, sizeof v->hostname, "%s", hostname);
	if (fresh)
		v->since_ms = wall_ms();
	char sum[STORE_SUMMARY_MAX + 1];
	rsv_summary(reserve, sum, sizeof sum);
	if (fresh || !v->summary[0])
		snprintf(v->summary, sizeof v->summary, "%s", sum);
	char mt[STORE_MOUNTS_MAX + 1];
	snprintf(mt, sizeof mt, "%s", store_reservation_mounts(v));
	for (unsigned i = 0; i < fit->n_mounts; i++) {
		const char *cur = mt;
		char m[TASKSPEC_PATH_MAX + 1];
		bool have = false;
		while (!have && config_list_next(&cur, m, sizeof m))
			have = strcmp(m, fit->mounts[i]) == 0;
		size_t used = strlen(mt);
		if (!have && used + strlen(fit->mounts[i]) + 2 < sizeof mt)
			snprintf(mt + used, sizeof mt - used, "%s%s", used ? "," : "",
				 fit->mounts[i]);
	}
	(void)store_reservation_set_mounts(v, mt);
	c->n.reserves++;
	log_info("reservation_made", "service=%s agent_id=%s hostname=%s resources=%s",
		 service_name(s), log_qs(agent_id), log_qs(hostname), log_qs(sum));
}

/* ---- the plan's verdicts -------------------------------------------- */

static void rsv_view_clear(struct coord *c)
{
	for (size_t i = 0; i < c->nrsv_view; i++)
		free(c->rsv_view[i].agent_id);
	free(c->rsv_view);
	c->rsv_view = NULL;
	c->nrsv_view = 0;
	strmap_fini(&c->rsv_view_idx);
	c->rsv_view_indexed = false;
}

/* rsv_view_idx's key; false when agent_id is too long to be one */
static bool rsv_key(char *out, size_t cap, enum service s, const char *agent_id)
{
	int n = snprintf(out, cap, "%s\x1f%d", agent_id, (int)s);
	return n > 0 && (size_t)n < cap;
}

void rsv_view_update(struct coord *c, const struct plan_input *in,
		     const struct plan_output *out)
{
	/* the same reservations as the last plan's (every steady plan): only
	 * the verdicts are new; copying 10,000 agent ids was most of it */
	bool same = c->nrsv_view == in->n_reservations;
	for (size_t i = 0; same && i < in->n_reservations; i++)
		same = c->rsv_view[i].service == in->reservations[i].service &&
		       strcmp(c->rsv_view[i].agent_id, in->reservations[i].agent_id) == 0;
	if (same) {
		for (size_t i = 0; i < in->n_reservations; i++)
			c->rsv_view[i].releasable = i < out->n_reservations && out->releasable[i];
		return;
	}
	rsv_view_clear(c);
	if (!in->n_reservations)
		return;
	c->rsv_view = qm_calloc(in->n_reservations, sizeof *c->rsv_view);
	for (size_t i = 0; i < in->n_reservations; i++) {
		c->rsv_view[i].service = in->reservations[i].service;
		c->rsv_view[i].agent_id = qm_strdup(in->reservations[i].agent_id);
		c->rsv_view[i].releasable = i < out->n_reservations && out->releasable[i];
	}
	c->nrsv_view = in->n_reservations;
}

int rsv_releasable(struct coord *c, enum service s, const char *agent_id)
{
	char key[STORE_ID_MAX + 16];
	if (!c->rsv_view_indexed) {
		for (size_t i = c->nrsv_view; i-- > 0;) /* the first of equals wins */
			if (rsv_key(key, sizeof key, c->rsv_view[i].service, c->rsv_view[i].agent_id))
				strmap_put(&c->rsv_view_idx, key, i);
		c->rsv_view_indexed = true;
	}
	size_t i;
	if (!rsv_key(key, sizeof key, s, agent_id) || !strmap_get(&c->rsv_view_idx, key, &i))
		return -1;
	return c->rsv_view[i].releasable;
}

/* ---- inverse offers -------------------------------------------------- */

bool inverse_add(struct coord *c, const char *id, const char *agent_id)
{
	for (size_t i = 0; i < c->ninverses; i++)
		if (strcmp(c->inverses[i].id, id) == 0)
			return false;
	if (c->ninverses >= INVERSES_MAX)
		return false;
	if (c->ninverses == c->inverses_cap) {
		c->inverses_cap = c->inverses_cap ? c->inverses_cap * 2 : 8;
		c->inverses = qm_realloc(c->inverses, c->inverses_cap * sizeof *c->inverses);
	}
	c->inverses[c->ninverses].id = qm_strdup(id);
	c->inverses[c->ninverses].agent_id = qm_strdup(agent_id);
	c->inverses[c->ninverses].answering = false;
	c->ninverses++;
	return true;
}

void inverse_remove(struct coord *c, const char *id)
{
	for (size_t i = 0; i < c->ninverses; i++) {
		if (strcmp(c->inverses[i].id, id) != 0)
			continue;
		free(c->inverses[i].id);
		free(c->inverses[i].agent_id);
		c->inverses[i] = c->inverses[--c->ninverses];
		return;
	}
}

void inverse_answering(struct coord *c, const char *id, bool answering)
{
	for (size_t i = 0; i < c->ninverses; i++)
		if (strcmp(c->inverses[i].id, id) == 0)
			c->inverses[i].answering = answering;
}

bool inverse_is_answering(const struct coord *c, const char *id)
{
	for (size_t i = 0; i < c->ninverses; i++)
		if (strcmp(c->inverses[i].id, id) == 0)
			return c->inverses[i].answering;
	return false;
}

void inverse_clear(struct coord *c)
{
	for (size_t i = 0; i < c->ninverses; i++) {
		free(c->inverses[i].id);
		free(c->inverses[i].agent_id);
	}
	c->ninverses = 0;
}

void rsv_fini(struct coord *c)
{
	inverse_clear(c);
	free(c->inverses);
	c->inverses = NULL;
	c->inverses_cap = 0;
	rsv_view_clear(c);
	for (size_t i = 0; i < c->nagents; i++) {
		struct agent *a = &c->agents[i];
		for (size_t j = 0; j < a->nmounts; j++) {
			free(a->mounts[j].root);
			free(a->mounts[j].reserved_for);
		}
		free(a->mounts);
		a->mounts = NULL;
		a->nmounts = 0;
		free(a->maint_answer);
		a->maint_answer = NULL;
	}
}
