#include "state/stindex.h"

#include <stdio.h>
#include <string.h>

void sti_init(struct sti *x)
{
	memset(x, 0, sizeof *x);
	strmap_init(&x->tasks);
	strmap_init(&x->rsv);
	strmap_init(&x->agents);
}

void sti_fini(struct sti *x)
{
	strmap_fini(&x->tasks);
	strmap_fini(&x->rsv);
	strmap_fini(&x->agents);
	memset(x, 0, sizeof *x);
}

/* The reservation key; false when the parts do not fit a stored one (the
 * codec refuses those too). */
static bool rsv_key(char *k, size_t cap, const char *service, const char *agent_id)
{
	if (!service || !agent_id || strlen(service) > STORE_SERVICE_MAX ||
	    strlen(agent_id) > STORE_ID_MAX)
		return false;
	snprintf(k, cap, "%s\n%s", service, agent_id);
	return true;
}

#define RSV_KEY_MAX (STORE_SERVICE_MAX + STORE_ID_MAX + 2)

static void agent_add(struct sti *x, const char *agent_id, int d)
{
	size_t n = 0;
	strmap_get(&x->agents, agent_id, &n);
	if (d > 0)
		strmap_put(&x->agents, agent_id, n + 1);
	else if (n > 1)
		strmap_put(&x->agents, agent_id, n - 1);
	else
		strmap_del(&x->agents, agent_id);
}

/* Index s unless its content is the one indexed. Where a key repeats (a
 * state never holds that), the first wins, as in the codec's scans. */
static void sync(struct sti *x, const struct store_state *s)
{
	if (x->gen && x->gen == s->gen)
		return;
	strmap_fini(&x->tasks);
	strmap_fini(&x->rsv);
	strmap_fini(&x->agents);
	for (size_t i = 0; i < s->ntasks; i++) {
		if (!strmap_get(&x->tasks, s->tasks[i].task_id, NULL))
			strmap_put(&x->tasks, s->tasks[i].task_id, i);
		agent_add(x, s->tasks[i].agent_id, 1);
	}
	char k[RSV_KEY_MAX + 1];
	for (size_t i = 0; i < s->nreservations; i++) {
		const struct store_reservation *r = &s->reservations[i];
		if (rsv_key(k, sizeof k, r->service, r->agent_id) && !strmap_get(&x->rsv, k, NULL))
			strmap_put(&x->rsv, k, i);
	}
	x->gen = s->gen;
	x->shifted = 0;
	x->rebuilds++;
}

/* Removals through the index leave the positions after them one less per
 * removal: past this many, the next look-up rebuilds rather than search
 * back that far. */
#define STI_SHIFT_MAX 256

struct store_task *sti_find_task(struct sti *x, struct store_state *s, const char *task_id)
{
	sync(x, s);
	size_t i;
	if (!strmap_get(&x->tasks, task_id, &i))
		return NULL;
	/* the task is at i, or up to x->shifted before it */
	size_t lo = i > x->shifted ? i - x->shifted : 0;
	for (size_t j = i < s->ntasks ? i + 1 : s->ntasks; j-- > lo;)
		if (strcmp(s->tasks[j].task_id, task_id) == 0)
			return &s->tasks[j];
	x->gen = 0; /* a key changed behind the codec's back */
	return store_state_find_task(s, task_id);
}

bool sti_remove_task(struct sti *x, struct store_state *s, const char *task_id)
{
	struct store_task *t = sti_find_task(x, s, task_id);
	if (!t)
		return false;
	bool in_sync = x->gen && x->gen == s->gen;
	if (in_sync) {
		strmap_del(&x->tasks, task_id);
		agent_add(x, t->agent_id, -1);
	}
	store_state_remove_task_at(s, (size_t)(t - s->tasks));
	if (in_sync && ++x->shifted <= STI_SHIFT_MAX)
		x->gen = s->gen;
	return true;
}

struct store_task *sti_put_task(struct sti *x, struct store_state *s, const struct store_task *t)
{
	if (!store_task_valid(t))
		return NULL;
	struct store_task *d = sti_find_task(x, s, t->task_id);
	bool in_sync = x->gen && x->gen == s->gen;
	if (d) {
		bool moved = strcmp(d->agent_id, t->agent_id) != 0;
		if (moved && in_sync) {
			agent_add(x, d->agent_id, -1);
			agent_add(x, t->agent_id, 1);
		}
		store_task_assign(d, t);
		if (moved) { /* as store_state_put_task: the keys changed */
			store_state_changed(s);
			if (in_sync)
				x->gen = s->gen;
		}
		return d;
	}
	d = store_state_append_task(s, t);
	if (in_sync) {
		strmap_put(&x->tasks, d->task_id, (size_t)(d - s->tasks));
		agent_add(x, d->agent_id, 1);
		x->gen = s->gen;
	}
	return d;
}

bool sti_agent_has_tasks(struct sti *x, struct store_state *s, const char *agent_id)
{
	sync(x, s);
	return strmap_get(&x->agents, agent_id, NULL);
}

struct store_reservation *sti_reservation(struct sti *x, struct store_state *s, const char *service,
					  const char *agent_id, bool create)
{
	char k[RSV_KEY_MAX + 1];
	if (!rsv_key(k, sizeof k, service, agent_id))
		return NULL;
	sync(x, s);
	size_t i;
	if (strmap_get(&x->rsv, k, &i)) {
		if (i < s->nreservations && strcmp(s->reservations[i].service, service) == 0 &&
		    strcmp(s->reservations[i].agent_id, agent_id) == 0)
			return &s->reservations[i];
		x->gen = 0;
		return store_state_reservation(s, service, agent_id, create);
	}
	if (!create)
		return NULL;
	struct store_reservation *r = store_state_append_reservation(s, service, agent_id);
	if (r) {
		strmap_put(&x->rsv, k, (size_t)(r - s->reservations));
		x->gen = s->gen;
	}
	return r;
}
