/* Planner tests for rule 15 (plan.h): the operator's per-node drain. A
 * drained node's services stop in reverse phase order (client, then
 * api+webconsole, data, metadata, registry), one phase at a time; its prober
 * stays; its reservations are kept; nothing is launched there while it is
 * drained; undrained, its services come back on their reservations. The
 * drain verdict (drain[i].safe) is rule 12's registry quorum count.
 *
 * The world is written in test_plan.c's mini-language (plan_fixture.h),
 * plus:
 *   agents   "drained"
 *   rsv      "svc agent [release]; ..." as in test_plan_rsv.c
 *   inverse  "id agent; ..." as in test_plan_rsv.c
 *   safe     "1 0 1": drain[].safe parallel to the agents
 *   left     "0 2 0": drain[].left parallel to the agents */
#include "plan_fixture.h"

/* Three registries; h3 carries everything else and a client mount, the
 * management services sit on h1 (api) and h2 (webconsole). */
#define AGD(d3) "a1 host=h1 R1 mount; a2 host=h2 R1 mount; a3 host=h3 R1 M1 D1 mount " d3
#define PRD "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; p3 prober a3 - RUNNING; "
#define REGD "r1 registry a1 2.0 RUNNING ok; r2 registry a2 2.0 RUNNING ok; "
#define CLD "c1 client a1 2.0 RUNNING ok; c2 client a2 2.0 RUNNING ok; "
#define MGD "x1 api a1 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING; "
#define RSVD "registry a3 release; metadata a3 release; data a3 release; client a3 release; " \
	"prober a3"

struct dcase {
	const char *name;
	const char *cfg;
	const char *target;
	const char *agents;
	const char *tasks;
	const char *rsv;
	const char *inverse;
	const char *actions;      /* exact, in order, with " +r" marks */
	const char *problems[4];  /* each a substring of some problem line */
	const char *absent[4];    /* substrings no problem line may contain */
	const char *releasable;   /* "1 0": parallel to rsv */
	const char *safe;         /* "1 0 1": parallel to agents */
	const char *left;         /* "0 2 0": parallel to agents */
};

static const struct dcase cases[] = {
	/* ---- the kills, in reverse phase order ---------------------------- */
	{
		.name = "drain: the client goes first, nothing else yet",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; "
			 "m3 metadata a3 2.0 RUNNING ok; d3 data a3 2.0 RUNNING ok; "
			 "c3 client a3 2.0 RUNNING ok",
		.rsv = RSVD,
		.actions = "kill c3 drain",
		.problems = {"draining h3: stopping client (1 task(s))"},
		.releasable = "0 0 0 0 0",
		.left = "0 0 4",
	},
	{
		.name = "drain: api+webconsole after the client, placed elsewhere",
		.cfg = "client",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 mount; a2 host=h2 R1 mount; "
			  "a3 host=h3 R1 M1 D1 mount drained",
		.tasks = PRD REGD CLD "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a3 2.0 RUNNING; w1 webconsole a3 2.0 RUNNING; "
			 "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 RUNNING ok; "
			 "d3 data a3 2.0 RUNNING ok; c3 client a3 2.0 KILLED",
		.actions = "launch api a2 2.0; launch webconsole a2 2.0; kill x1 drain; kill w1 drain",
		.problems = {"draining h3: stopping api+webconsole (2 task(s))"},
		.left = "0 0 5",
	},
	{
		.name = "drain: data after the client",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; "
			 "m3 metadata a3 2.0 RUNNING ok; d3 data a3 2.0 RUNNING ok; "
			 "c3 client a3 2.0 KILLED",
		.actions = "kill d3 drain",
		.problems = {"draining h3: stopping data"},
		.absent = {"stopping metadata", "stopping registry"},
	},
	{
		.name = "drain: a data task with its KILL sent holds metadata back",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; "
			 "m3 metadata a3 2.0 RUNNING ok; d3 data a3 2.0 KILLING kill",
		.actions = "",
		.problems = {"draining h3: stopping data"},
		.left = "0 0 3",
	},
	{
		.name = "drain: an unreachable data task holds metadata back",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; "
			 "m3 metadata a3 2.0 RUNNING ok; d3 data a3 2.0 UNREACHABLE",
		.actions = "",
		.problems = {"data on h3 is no longer wanted (its node is drained by the operator) but is unreachable"},
	},
	{
		.name = "drain: metadata once data is gone",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; "
			 "m3 metadata a3 2.0 RUNNING ok; d3 data a3 2.0 KILLED",
		.actions = "kill m3 drain",
	},
	{
		.name = "drain: the registry last",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 FINISHED",
		.actions = "kill r3 drain",
		.left = "0 0 1",
	},
	{
		.name = "drained: nothing relaunched, the prober stays, reservations kept",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 KILLED",
		.rsv = RSVD,
		.actions = "",
		.problems = {"h3 is drained by the operator",
			     "release of the data reservation on h3 waits: the node is drained"},
		.absent = {"prober on h3"},
		.releasable = "0 0 0 0 0",
		.left = "0 0 0",
	},
	{
		.name = "drained without a prober: the prober is launched again",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1; a2 host=h2 D1 drained",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.actions = "prober a2 +r",
	},
	{
		.name = "drained under an empty target: shutdown kills at once, reservations kept",
		.target = "",
		.agents = AGD("drained"),
		.tasks = PRD "r3 registry a3 2.0 RUNNING ok; d3 data a3 2.0 RUNNING ok",
		.rsv = RSVD,
		.actions = "kill r3 shutdown; kill d3 shutdown",
		.releasable = "0 0 0 0 0",
		.safe = "1 1 1",
	},
	{
		.name = "the only data node drained: the minimum line says so",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1; a2 host=h2 D1 drained",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; "
			 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok",
		.actions = "",
		.problems = {"no node has a DATA device; h2 has one but is drained"},
	},

	{
		.name = "drained and inactive: nothing can be killed, the drain waits",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1; a2 host=h2 D1 inactive drained",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING; "
			 "d2 data a2 2.0 RUNNING ok",
		.actions = "",
		.problems = {"drain of h2 waits: the agent is inactive"},
		.left = "0 1",
	},
	{
		.name = "drained before its prober reported: its services still stop",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1; a2 host=h2 noreport drained",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING; "
			 "p2 prober a2 - RUNNING; m2 metadata a2 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok",
		.actions = "kill d2 drain",
		.left = "0 2",
	},

	/* ---- undrain ------------------------------------------------------- */
	{
		.name = "undrained: the registry comes back first, on its reservation",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD(""),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 KILLED; m3 metadata a3 2.0 KILLED; "
			 "d3 data a3 2.0 KILLED; c3 client a3 2.0 KILLED",
		.rsv = "registry a3; metadata a3; data a3; client a3; prober a3",
		.actions = "launch registry a3 2.0 +r",
		.problems = {"metadata on h3 waits for registry"},
		.releasable = "0 0 0 0 0",
	},
	{
		.name = "undrained: then metadata, data and the client",
		.cfg = "client",
		.target = "2.0",
		.agents = AGD(""),
		.tasks = PRD REGD CLD MGD "r3 registry a3 2.0 RUNNING ok",
		.actions = "launch metadata a3 2.0 +r",
	},

	/* ---- the quorum verdict (rule 12's count) -------------------------- */
	{
		.name = "verdict: three ready registries, any one may go",
		.target = "2.0",
		.agents = AGD(""),
		.tasks = PRD REGD MGD "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 RUNNING ok; "
			 "d3 data a3 2.0 RUNNING ok",
		.actions = "",
		.safe = "1 1 1",
		.left = "0 0 0",
	},
	{
		.name = "verdict: one registry drained, the others are the quorum",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD MGD,
		.actions = "",
		.safe = "0 0 1",
	},
	{
		.name = "verdict: one registry not ready, the others are the quorum",
		.target = "2.0",
		.agents = AGD(""),
		.tasks = PRD MGD "r1 registry a1 2.0 RUNNING ok; r2 registry a2 2.0 RUNNING bad; "
			 "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 RUNNING ok; "
			 "d3 data a3 2.0 RUNNING ok",
		.actions = "",
		.safe = "0 1 0",
	},
	{
		.name = "verdict: a window in progress counts as gone",
		.target = "2.0",
		.agents = "a1 host=h1 R1 maint=N-1000/0; a2 host=h2 R1; a3 host=h3 R1 M1 D1",
		.tasks = PRD REGD MGD "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 RUNNING ok; "
			 "d3 data a3 2.0 RUNNING ok",
		.actions = "",
		.safe = "1 0 0",
	},
	{
		.name = "verdict: a node without a registry may always go",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1; a2 host=h2 D1",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; "
			 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d2 data a2 2.0 RUNNING ok; x1 api a2 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.safe = "0 1",
	},

	/* ---- inverse offers and drains ------------------------------------- */
	{
		.name = "inverse offer for a drained node whose registry is gone: accepted",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD REGD MGD,
		.inverse = "io3 a3",
		.actions = "accept io3 a3",
	},
	{
		.name = "inverse offer while a drained registry still runs: the quorum decides",
		.target = "2.0",
		.agents = AGD("drained"),
		.tasks = PRD MGD "r1 registry a1 2.0 RUNNING ok; r2 registry a2 2.0 RUNNING bad; "
			 "r3 registry a3 2.0 RUNNING ok",
		.inverse = "io3 a3",
		.actions = "kill r3 drain; decline io3 a3",
		.problems = {"host h3: 1 of 3 registries would stay ready, a quorum needs 2"},
	},
	{
		.name = "an accepted inverse offer counts against a drain elsewhere",
		.target = "2.0",
		.agents = AGD(""),
		.tasks = PRD REGD MGD "r3 registry a3 2.0 RUNNING ok; m3 metadata a3 2.0 RUNNING ok; "
			 "d3 data a3 2.0 RUNNING ok",
		.inverse = "io1 a1",
		.actions = "accept io1 a1",
		.safe = "1 0 0",
	},
};

static void expect_flags(const char *name, const char *what, const char *spec,
			 size_t n, unsigned (*get)(const struct plan_output *, size_t),
			 const struct plan_output *o)
{
	const char *p = spec;
	for (size_t i = 0; i < n; i++) {
		while (*p == ' ')
			p++;
		cr_assert(*p >= '0' && *p <= '9', "case '%s': %s too short", name, what);
		cr_expect_eq(get(o, i), (unsigned)(*p - '0'), "case '%s': %s[%zu] is %u", name,
			     what, i, get(o, i));
		p++;
	}
}

static unsigned get_safe(const struct plan_output *o, size_t i) { return o->drain[i].safe; }
static unsigned get_left(const struct plan_output *o, size_t i) { return o->drain[i].left; }
static unsigned get_rel(const struct plan_output *o, size_t i) { return o->releasable[i]; }

static void run_case(const struct dcase *c)
{
	struct world *w = calloc(1, sizeof *w);
	build(w, c->cfg, c->target, c->agents, c->tasks, NULL);
	parse_reservations(w, c->rsv);
	parse_inverse(w, c->inverse);
	struct plan_output o;
	int rv = plan_compute(&w->in, &o);
	cr_assert_eq(rv, 0, "case '%s': plan_compute failed: %s", c->name, o.error);

	char acts[4096], probs[16384];
	render_actions_ex(&o, acts, sizeof acts, true);
	render_problems(&o, probs, sizeof probs);
	if (getenv("PLAN_DUMP")) {
		fprintf(stderr, "== %s\n  actions: %s\n  safe/left:", c->name, acts);
		for (size_t i = 0; i < o.n_agents; i++)
			fprintf(stderr, " %d/%u(%u of %u, q %u)", o.drain[i].safe, o.drain[i].left,
				o.drain[i].staying, o.drain[i].members, o.drain[i].quorum);
		fprintf(stderr, "\n%s", probs);
	}
	cr_expect_str_eq(acts, c->actions, "case '%s': actions\n  got:  %s\n  want: %s\nproblems:\n%s",
			 c->name, acts, c->actions, probs);
	expect_problems(c->name, &o, c->problems, 4, c->absent, 4);
	cr_assert_eq(o.n_agents, w->in.n_agents);
	if (c->safe)
		expect_flags(c->name, "drain.safe", c->safe, o.n_agents, get_safe, &o);
	if (c->left)
		expect_flags(c->name, "drain.left", c->left, o.n_agents, get_left, &o);
	if (c->releasable)
		expect_flags(c->name, "releasable", c->releasable, o.n_reservations, get_rel, &o);

	/* Rule 15's promises: nothing is launched on a drained node but its
	 * prober, nothing there is released, and a drain KILL on a node is
	 * never made while a task of a later phase still lives there. */
	for (size_t i = 0; i < o.n_actions; i++) {
		const struct plan_action *a = &o.actions[i];
		const struct plan_agent *ag = NULL;
		for (size_t k = 0; k < w->in.n_agents; k++)
			if (strcmp(w->agents[k].agent_id, a->agent_id) == 0)
				ag = &w->agents[k];
		if (!ag || !ag->drained)
			continue;
		cr_expect(a->type != PLAN_LAUNCH && a->type != PLAN_UNRESERVE,
			  "case '%s': launch or release on drained %s", c->name, a->agent_id);
		if (a->type != PLAN_KILL || a->kill_reason != PLAN_KILL_DRAIN)
			continue;
		enum plan_phase ph = plan_phase_of(a->service);
		for (size_t t = 0; t < w->in.n_tasks; t++) {
			const struct plan_task *tk = &w->tasks[t];
			if (strcmp(tk->agent_id, a->agent_id) != 0 ||
			    tk->service == SERVICE_PROBER || plan_task_state_terminal(tk->state))
				continue;
			cr_expect(plan_phase_of(tk->service) <= ph,
				  "case '%s': %s killed while %s of a later phase lives", c->name,
				  a->task_id, tk->task_id);
		}
	}
	plan_output_free(&o);
	free(w);
}

PLAN_TABLE(plan_drain, cases, run_case)

/* The drain verdict's numbers: W counts the drained node's registry slot,
 * the staying count never does. */
Test(plan_drain, verdict_numbers)
{
	static struct world w;
	build(&w, NULL, "2.0", AGD("drained"), PRD REGD MGD, NULL);
	struct plan_output o;
	cr_assert_eq(plan_compute(&w.in, &o), 0, "%s", o.error);
	size_t a1 = agent_index(&w, "a1");
	cr_expect_eq(o.drain[a1].members, 3);
	cr_expect_eq(o.drain[a1].quorum, 2);
	cr_expect_eq(o.drain[a1].staying, 1);
	cr_expect_not(o.drain[a1].safe);
	cr_expect_not(o.drain[a1].drained);
	cr_expect_str_eq(o.drain[a1].agent_id, "a1");
	size_t a3 = agent_index(&w, "a3");
	cr_expect(o.drain[a3].drained);
	cr_expect_str_eq(o.drain[a3].agent_id, "a3");
	plan_output_free(&o);
	cr_expect_null(o.drain);
}

Test(plan_drain, kill_reason_name)
{
	cr_expect_str_eq(plan_kill_reason_name(PLAN_KILL_DRAIN), "drain");
}
