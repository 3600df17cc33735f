/* shell/agents.c: a task's health found by its position in the state
 * (health_at, what a plan reads) always agrees with the look-up by id
 * (health_of), whatever changed since: tasks added and removed, health
 * entries added, changed in place and dropped. */
#include "shell/coord_priv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct coord_config cfg;

static void add_task(struct coord *c, const char *id)
{
	struct store_task t;
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%s", id);
	snprintf(t.service, sizeof t.service, "%s", "data");
	snprintf(t.agent_id, sizeof t.agent_id, "%s", "S1");
	cr_assert_not_null(store_state_put_task(&c->st, &t));
}

/* Every task's health_at against health_of, and against what the test
 * expects for the tasks in order (NULL ends the list). */
static void expect(struct coord *c, const enum plan_health *want)
{
	for (size_t i = 0; i < c->st.ntasks; i++) {
		enum plan_health h = health_at(c, i);
		cr_assert_eq(h, health_of(c, c->st.tasks[i].task_id), "task %s",
			     c->st.tasks[i].task_id);
		cr_assert_eq(h, want[i], "task %s: %d, not %d", c->st.tasks[i].task_id, h,
			     want[i]);
	}
}

Test(health, the_health_by_position_follows_every_change)
{
	struct coord *c = calloc(1, sizeof *c);
	cr_assert_not_null(c);
	coord_init(c, &cfg);
	const enum plan_health U = PLAN_HEALTH_UNKNOWN, OK = PLAN_HEALTH_OK,
			       BAD = PLAN_HEALTH_FAILING;
	add_task(c, "t1");
	add_task(c, "t2");
	add_task(c, "t3");
	expect(c, (enum plan_health[]){U, U, U});
	health_set(c, "t2", OK);
	health_set(c, "t3", BAD);
	expect(c, (enum plan_health[]){U, OK, BAD});
	/* a value changed in place: the positions found stay right */
	health_set(c, "t2", BAD);
	health_set(c, "t3", OK);
	expect(c, (enum plan_health[]){U, BAD, OK});
	/* t2's entry dropped: t3's moves into its place in the table */
	health_drop(c, "t2");
	expect(c, (enum plan_health[]){U, U, OK});
	/* a task removed: the ones after it move up in the state */
	cr_assert(store_state_remove_task(&c->st, "t1"));
	expect(c, (enum plan_health[]){U, OK});
	add_task(c, "t4");
	health_set(c, "t4", BAD);
	health_set(c, "t2", OK);
	expect(c, (enum plan_health[]){OK, OK, BAD});
	coord_free(c);
	free(c);
}
