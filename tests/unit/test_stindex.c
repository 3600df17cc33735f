/* state/stindex: the index answers every look-up as codec.c's scans do,
 * whatever changed the state, through the index or behind it. */
#include "state/codec.h"
#include "state/stindex.h"

#include <stdbool.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct store_task task(const char *id, const char *agent)
{
	struct store_task t;
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%s", id);
	snprintf(t.service, sizeof t.service, "%s", "data");
	snprintf(t.agent_id, sizeof t.agent_id, "%s", agent);
	snprintf(t.state, sizeof t.state, "%s", "TASK_STAGING");
	return t;
}

/* Copy of the state the codec's way (as the file store does). */
static void deep_copy(struct store_state *dst, const struct store_state *src)
{
	*dst = *src;
	dst->tasks = calloc(src->ntasks + 1, sizeof *src->tasks);
	if (src->ntasks)
		memcpy(dst->tasks, src->tasks, src->ntasks * sizeof *src->tasks);
	dst->tasks_cap = src->ntasks + 1;
	dst->reservations = calloc(src->nreservations + 1, sizeof *src->reservations);
	if (src->nreservations)
		memcpy(dst->reservations, src->reservations,
		       src->nreservations * sizeof *src->reservations);
	dst->reservations_cap = src->nreservations + 1;
	dst->failures = NULL;
	dst->nfailures = dst->failures_cap = 0;
	dst->drains = NULL;
	dst->ndrains = dst->drains_cap = 0;
}

Test(stindex, answers_as_the_scans_under_random_changes)
{
	struct store_state s;
	store_state_init(&s);
	struct sti x;
	sti_init(&x);
	static const char *const svc[] = {"prober", "registry", "data"};
	enum { IDS = 300, AGENTS = 60 };
	char id[64], agent[64];
	unsigned r = 20261204;
	for (int round = 0; round < 20000; round++) {
		r = r * 1103515245u + 12345u;
		unsigned op = (r >> 4) % 10, k = (r >> 10) % IDS, a = (r >> 20) % AGENTS;
		snprintf(id, sizeof id, "quobyte-data.%u", k);
		snprintf(agent, sizeof agent, "agent-%u", a);
		const char *sv = svc[(r >> 16) % 3];
		switch (op) {
		case 0:
		case 1: { /* put through the index */
			struct store_task t = task(id, agent);
			struct store_task *d = sti_put_task(&x, &s, &t);
			cr_assert_not_null(d);
			cr_assert_str_eq(d->agent_id, agent);
			break;
		}
		case 2: /* put behind its back */ {
			struct store_task t = task(id, agent);
			cr_assert_not_null(store_state_put_task(&s, &t));
			break;
		}
		case 3: { /* removed through the index, or behind its back */
			bool had = store_state_find_task(&s, id) != NULL;
			if (round % 2)
				cr_assert_eq(sti_remove_task(&x, &s, id), had);
			else
				cr_assert_eq(store_state_remove_task(&s, id), had);
			cr_assert_null(store_state_find_task(&s, id));
			break;
		}
		case 4:
		case 5: {
			struct store_reservation *v = sti_reservation(&x, &s, sv, agent, true);
			cr_assert_not_null(v);
			cr_assert_str_eq(v->service, sv);
			cr_assert_str_eq(v->agent_id, agent);
			break;
		}
		case 6:
			store_state_remove_reservation(&s, sv, agent);
			break;
		case 7:
			if (round % 50 == 0) { /* replaced by a copy, then by a changed copy */
				struct store_state c;
				deep_copy(&c, &s);
				store_state_fini(&s);
				s = c;
				if (s.ntasks)
					store_state_remove_task(&s, s.tasks[0].task_id);
			}
			break;
		default: /* look-ups only */
			break;
		}
		/* every key, present or not */
		if (round % 97 == 0 || op >= 8) {
			for (unsigned j = 0; j < IDS; j += (op >= 8 ? 1 : 7)) {
				snprintf(id, sizeof id, "quobyte-data.%u", j);
				cr_assert_eq(sti_find_task(&x, &s, id),
					     store_state_find_task(&s, id), "round %d: task %s",
					     round, id);
			}
			for (unsigned j = 0; j < AGENTS; j++) {
				snprintf(agent, sizeof agent, "agent-%u", j);
				bool has = false;
				for (size_t i = 0; i < s.ntasks && !has; i++)
					has = strcmp(s.tasks[i].agent_id, agent) == 0;
				cr_assert_eq(sti_agent_has_tasks(&x, &s, agent), has,
					     "round %d: agent %s", round, agent);
			}
			for (unsigned j = 0; j < AGENTS; j++)
				for (int q = 0; q < 3; q++) {
					snprintf(agent, sizeof agent, "agent-%u", j);
					cr_assert_eq(
						sti_reservation(&x, &s, svc[q], agent, false),
						store_state_reservation(&s, svc[q], agent, false),
						"round %d: reservation %s/%s", round, svc[q],
						agent);
				}
		}
	}
	cr_assert_gt(s.ntasks, 0);
	cr_assert_gt(s.nreservations, 0);
	sti_fini(&x);
	store_state_fini(&s);
}

Test(stindex, changes_through_it_need_no_rebuild)
{
	struct store_state s;
	store_state_init(&s);
	struct sti x;
	sti_init(&x);
	char id[64], agent[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof id, "quobyte-prober.%d", i);
		snprintf(agent, sizeof agent, "S%d", i);
		struct store_task t = task(id, agent);
		cr_assert_not_null(sti_put_task(&x, &s, &t));
		cr_assert_not_null(sti_reservation(&x, &s, "prober", agent, true));
		cr_assert_not_null(sti_find_task(&x, &s, id));
	}
	/* one build on the first look-up, none after */
	cr_assert_eq(x.rebuilds, 1);
	cr_assert_eq(s.ntasks, 2000);
	cr_assert_eq(s.nreservations, 2000);
	/* a removal (it shifts positions) is seen at the next look-up */
	cr_assert(store_state_remove_task(&s, "quobyte-prober.0"));
	cr_assert_null(sti_find_task(&x, &s, "quobyte-prober.0"));
	cr_assert_eq(sti_find_task(&x, &s, "quobyte-prober.1999"), &s.tasks[1998]);
	cr_assert_eq(x.rebuilds, 2);
	/* removals through the index, each followed by look-ups: positions
	 * shift, answers stay right, one rebuild per STI_SHIFT_MAX (256) */
	for (int i = 1; i < 601; i++) {
		snprintf(id, sizeof id, "quobyte-prober.%d", i);
		cr_assert(sti_remove_task(&x, &s, id));
		cr_assert_null(sti_find_task(&x, &s, id));
		cr_assert_not(sti_remove_task(&x, &s, id));
		snprintf(id, sizeof id, "quobyte-prober.%d", 2000 - i);
		cr_assert_eq(sti_find_task(&x, &s, id), &s.tasks[s.ntasks - i]);
		snprintf(agent, sizeof agent, "S%d", i);
		cr_assert_not(sti_agent_has_tasks(&x, &s, agent));
	}
	cr_assert_eq(s.ntasks, 1399);
	cr_assert_eq(x.rebuilds, 4, "%llu", (unsigned long long)x.rebuilds);
	/* a state reloaded in its place */
	struct store_state fresh;
	store_state_init(&fresh);
	struct store_task t = task("quobyte-prober.7", "S7");
	cr_assert_not_null(store_state_put_task(&fresh, &t));
	store_state_fini(&s);
	s = fresh;
	cr_assert_null(sti_find_task(&x, &s, "quobyte-prober.8"));
	cr_assert_eq(sti_find_task(&x, &s, "quobyte-prober.7"), &s.tasks[0]);
	cr_assert_null(sti_reservation(&x, &s, "prober", "S7", false));
	/* arguments a stored reservation cannot hold */
	char longid[STORE_ID_MAX + 2];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	cr_assert_null(sti_reservation(&x, &s, "prober", longid, true));
	sti_fini(&x);
	store_state_fini(&s);
}
