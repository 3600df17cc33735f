/* What the planner tests share (test-only; static inline definitions,
 * included by tests/unit/test_plan*.c): the world a case describes, the
 * mini-language that builds it (see test_plan.c's header comment; the
 * resource rules add theirs, see test_plan_rsv.c) and the renderers that
 * turn a plan into comparable text. */
#ifndef QM_TEST_PLAN_FIXTURE_H
#define QM_TEST_PLAN_FIXTURE_H

#include "core/plan.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1000000LL
#define MAXA 16
#define MAXT 64
#define MAXH 16
#define MAXATTR 32
#define MAXR 16

struct world {
	struct plan_input in;
	struct plan_agent agents[MAXA];
	struct plan_attr attrs[MAXATTR];
	size_t nattrs;
	struct plan_task tasks[MAXT];
	struct plan_history hist[MAXH];
	struct plan_reservation rsv[MAXR];
	struct plan_inverse_offer inv[MAXR];
	const char *phosts[8];
	char buf[16384];
	size_t used;
};

static inline char *wdup(struct world *w, const char *s)
{
	size_t n = strlen(s) + 1;
	cr_assert_leq(w->used + n, sizeof w->buf, "test arena too small");
	char *p = memcpy(w->buf + w->used, s, n);
	w->used += n;
	return p;
}

static inline long long parse_time(const char *s)
{
	if (*s == 'N')
		return NOW + (s[1] ? strtoll(s + 1, NULL, 10) : 0);
	return strtoll(s, NULL, 10);
}

static inline enum service parse_service(const char *s)
{
	for (int i = 0; i < SERVICE_COUNT; i++)
		if (strcmp(s, service_name((enum service)i)) == 0)
			return (enum service)i;
	cr_assert_fail("unknown service '%s' in test case", s);
	return SERVICE_PROBER;
}

static inline void split_attr(struct world *w, const char *kv, struct plan_attr *a)
{
	char *copy = wdup(w, kv);
	char *colon = strchr(copy, ':');
	cr_assert_not_null(colon, "attribute '%s' needs k:v", kv);
	*colon = '\0';
	a->name = copy;
	a->value = colon + 1;
}

static inline void parse_cfg(struct world *w, const char *spec)
{
	struct plan_config *c = &w->in.config;
	plan_config_init(c);
	if (!spec)
		return;
	char *s = wdup(w, spec), *save = NULL;
	for (char *tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (strncmp(tok, "api=", 4) == 0)
			c->api_count = (unsigned)atoi(tok + 4);
		else if (strncmp(tok, "web=", 4) == 0)
			c->webconsole_count = (unsigned)atoi(tok + 4);
		else if (strncmp(tok, "apiattr=", 8) == 0)
			split_attr(w, tok + 8, &c->api_restriction);
		else if (strncmp(tok, "webattr=", 8) == 0)
			split_attr(w, tok + 8, &c->webconsole_restriction);
		else if (strcmp(tok, "client") == 0)
			c->client_enabled = true;
		else if (strncmp(tok, "grace=", 6) == 0)
			c->removal_grace_ms = parse_time(tok + 6);
		else if (strncmp(tok, "base=", 5) == 0)
			c->backoff_base_ms = parse_time(tok + 5);
		else if (strncmp(tok, "max=", 4) == 0)
			c->backoff_max_ms = parse_time(tok + 4);
		else if (strncmp(tok, "stale=", 6) == 0)
			c->prober_stale_ms = parse_time(tok + 6);
		else if (strcmp(tok, "noreserve") == 0)
			c->reserve = false;
		else if (strcmp(tok, "paused") == 0)
			c->rollout_paused = true;
		else if (strncmp(tok, "look=", 5) == 0)
			c->maintenance_lookahead_ms = parse_time(tok + 5);
		else if (strncmp(tok, "pattr=", 6) == 0)
			split_attr(w, tok + 6, &c->prober_restriction);
		else if (strncmp(tok, "phosts=", 7) == 0) {
			char *save2 = NULL;
			for (char *h = strtok_r(tok + 7, ",", &save2); h;
			     h = strtok_r(NULL, ",", &save2))
				w->phosts[c->n_prober_hosts++] = h;
			c->prober_hosts = w->phosts;
		} else if (strncmp(tok, "checked=", 8) == 0) {
			c->health_checked = 0;
			char *save2 = NULL;
			for (char *h = strtok_r(tok + 8, ",", &save2); h;
			     h = strtok_r(NULL, ",", &save2))
				c->health_checked |= 1u << parse_service(h);
		} else
			cr_assert_fail("unknown cfg token '%s'", tok);
	}
}

/* The fields of one ';'-separated entry of a spec. */
#define MAXF 16
typedef void (*entry_fn)(struct world *w, char **f, size_t nf);

/* Split spec (copied into the arena) at ';' and each entry at ' '; call fn
 * for every entry that has a field. */
static inline void each_entry(struct world *w, const char *spec, entry_fn fn)
{
	if (!spec)
		return;
	char *s = wdup(w, spec), *save = NULL;
	for (char *ent = strtok_r(s, ";", &save); ent; ent = strtok_r(NULL, ";", &save)) {
		char *f[MAXF], *save2 = NULL;
		size_t nf = 0;
		for (char *tok = strtok_r(ent, " ", &save2); tok;
		     tok = strtok_r(NULL, " ", &save2)) {
			cr_assert_lt(nf, MAXF, "too many fields in '%s'", spec);
			f[nf++] = tok;
		}
		if (nf)
			fn(w, f, nf);
	}
}

static inline void agent_entry(struct world *w, char **f, size_t nf)
{
	cr_assert_lt(w->in.n_agents, MAXA);
	struct plan_agent *a = &w->agents[w->in.n_agents++];
	memset(a, 0, sizeof *a);
	a->agent_id = f[0];
	a->active = true;
	a->report.has_report = true;
	a->report.last_report_ms = NOW;
	a->attrs = &w->attrs[w->nattrs];
	for (size_t i = 1; i < nf; i++) {
		char *tok = f[i];
		if (strncmp(tok, "host=", 5) == 0)
			a->hostname = tok + 5;
		else if (tok[0] == 'R' && tok[1] >= '0' && tok[1] <= '9')
			a->report.registry_devices = (unsigned)atoi(tok + 1);
		else if (tok[0] == 'M' && tok[1] >= '0' && tok[1] <= '9')
			a->report.metadata_devices = (unsigned)atoi(tok + 1);
		else if (tok[0] == 'D' && tok[1] >= '0' && tok[1] <= '9')
			a->report.data_devices = (unsigned)atoi(tok + 1);
		else if (strcmp(tok, "boot") == 0)
			a->report.registry_bootstrap = true;
		else if (strcmp(tok, "mount") == 0)
			a->report.client_mount = true;
		else if (strcmp(tok, "inactive") == 0)
			a->active = false;
		else if (strcmp(tok, "drained") == 0)
			a->drained = true;
		else if (strcmp(tok, "noreport") == 0)
			a->report.has_report = false, a->report.last_report_ms = 0;
		else if (strncmp(tok, "report=", 7) == 0)
			a->report.last_report_ms = parse_time(tok + 7);
		else if (strncmp(tok, "maint=", 6) == 0) {
			/* maint=START/DURATION */
			const char *slash = strchr(tok, '/');
			cr_assert_not_null(slash, "maint=START/DURATION");
			a->maint_start_ms = parse_time(tok + 6);
			a->maint_duration_ms = parse_time(slash + 1);
		} else if (strncmp(tok, "attr=", 5) == 0) {
			cr_assert_lt(w->nattrs, MAXATTR);
			split_attr(w, tok + 5, &w->attrs[w->nattrs++]);
			a->n_attrs++;
		} else
			cr_assert_fail("unknown agent token '%s'", tok);
	}
}

static inline void task_entry(struct world *w, char **f, size_t nf)
{
	cr_assert_geq(nf, 5, "task entry needs id service agent version state");
	cr_assert_lt(w->in.n_tasks, MAXT);
	struct plan_task *t = &w->tasks[w->in.n_tasks++];
	memset(t, 0, sizeof *t);
	t->task_id = f[0];
	t->service = parse_service(f[1]);
	t->agent_id = f[2];
	t->version = strcmp(f[3], "-") == 0 ? NULL : f[3];
	char state[48];
	snprintf(state, sizeof state, "%s%s",
		 strcmp(f[4], "LAUNCHING") == 0 ? "" : "TASK_", f[4]);
	cr_assert_eq(plan_task_state_parse(state, &t->state), 0,
		     "unknown state %s", f[4]);
	t->launched_ms = NOW - 3600000;
	for (size_t i = 5; i < nf; i++) {
		char *tok = f[i];
		if (strcmp(tok, "ok") == 0)
			t->health = PLAN_HEALTH_OK;
		else if (strcmp(tok, "bad") == 0)
			t->health = PLAN_HEALTH_FAILING;
		else if (strcmp(tok, "kill") == 0)
			t->kill_requested = true;
		else if (strncmp(tok, "us=", 3) == 0)
			t->unwanted_since_ms = parse_time(tok + 3);
		else if (strncmp(tok, "at=", 3) == 0)
			t->launched_ms = parse_time(tok + 3);
		else if (strncmp(tok, "replace=", 8) == 0)
			t->replace_reason = tok + 8;
		else
			cr_assert_fail("unknown task token '%s'", tok);
	}
}

/* "service agent failures last_failure" */
static inline void history_entry(struct world *w, char **f, size_t nf)
{
	cr_assert_eq(nf, 4, "history entry needs 4 fields");
	cr_assert_lt(w->in.n_history, MAXH);
	struct plan_history *h = &w->hist[w->in.n_history++];
	h->service = parse_service(f[0]);
	h->agent_id = f[1];
	h->consecutive_failures = (unsigned)atoi(f[2]);
	h->last_failure_ms = parse_time(f[3]);
}

/* "svc agent [release]" */
static inline void reservation_entry(struct world *w, char **f, size_t nf)
{
	cr_assert(nf == 2 || (nf == 3 && strcmp(f[2], "release") == 0),
		  "reservation needs service, agent and maybe 'release'");
	cr_assert_lt(w->in.n_reservations, MAXR);
	struct plan_reservation *r = &w->rsv[w->in.n_reservations++];
	r->service = parse_service(f[0]);
	r->agent_id = f[1];
	r->release_requested = nf == 3;
}

/* "id agent" */
static inline void inverse_entry(struct world *w, char **f, size_t nf)
{
	cr_assert_eq(nf, 2, "inverse offer needs id and agent");
	cr_assert_lt(w->in.n_inverse_offers, MAXR);
	w->inv[w->in.n_inverse_offers++] = (struct plan_inverse_offer){f[0], f[1]};
}

static inline void parse_reservations(struct world *w, const char *spec)
{
	w->in.reservations = w->rsv;
	each_entry(w, spec, reservation_entry);
}

static inline void parse_inverse(struct world *w, const char *spec)
{
	w->in.inverse_offers = w->inv;
	each_entry(w, spec, inverse_entry);
}

static inline void build(struct world *w, const char *cfg, const char *target,
		  const char *agents, const char *tasks, const char *history)
{
	memset(w, 0, sizeof *w);
	w->in.now_ms = NOW;
	w->in.target_version = target;
	w->in.agents = w->agents;
	w->in.tasks = w->tasks;
	w->in.history = w->hist;
	parse_cfg(w, cfg);
	each_entry(w, agents, agent_entry);
	each_entry(w, tasks, task_entry);
	each_entry(w, history, history_entry);
}

/* The actions as "launch svc agent version; kill task reason; prober
 * agent; unreserve svc agent; accept id agent; decline id agent"; with
 * show_reserve, a LAUNCH/LAUNCH_PROBER that reserves ends in " +r". */
static inline void render_actions_ex(const struct plan_output *o, char *buf,
				     size_t cap, bool show_reserve)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < o->n_actions && len < cap; i++) {
		const struct plan_action *a = &o->actions[i];
		const char *sep = i ? "; " : "";
		int n;
		if (a->type == PLAN_LAUNCH)
			n = snprintf(buf + len, cap - len, "%slaunch %s %s %s", sep,
				     service_name(a->service), a->agent_id,
				     a->version);
		else if (a->type == PLAN_KILL)
			n = snprintf(buf + len, cap - len, "%skill %s %s", sep,
				     a->task_id, plan_kill_reason_name(a->kill_reason));
		else if (a->type == PLAN_LAUNCH_PROBER)
			n = snprintf(buf + len, cap - len, "%sprober %s", sep,
				     a->agent_id);
		else if (a->type == PLAN_UNRESERVE)
			n = snprintf(buf + len, cap - len, "%sunreserve %s %s", sep,
				     service_name(a->service), a->agent_id);
		else
			n = snprintf(buf + len, cap - len, "%s%s %s %s", sep,
				     a->type == PLAN_ACCEPT_INVERSE ? "accept" : "decline",
				     a->inverse_offer_id, a->agent_id);
		if (n > 0)
			len += (size_t)n;
		if (show_reserve && a->reserve && len < cap) {
			n = snprintf(buf + len, cap - len, " +r");
			if (n > 0)
				len += (size_t)n;
		}
	}
}

static inline void render_actions(const struct plan_output *o, char *buf, size_t cap)
{
	render_actions_ex(o, buf, cap, false);
}

static inline void render_problems(const struct plan_output *o, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < o->n_problems && len < cap; i++) {
		int n = snprintf(buf + len, cap - len, "  | %s\n", o->problems[i]);
		if (n > 0)
			len += (size_t)n;
	}
}

static inline bool has_problem(const struct plan_output *o, const char *sub)
{
	for (size_t i = 0; i < o->n_problems; i++)
		if (strstr(o->problems[i], sub))
			return true;
	return false;
}

/* Each of want[0..nwant) that is set is a substring of some problem line;
 * none of absent[0..nabsent) that is set is. */
static inline void expect_problems(const char *name, const struct plan_output *o,
				   const char *const *want, size_t nwant,
				   const char *const *absent, size_t nabsent)
{
	char probs[16384];
	render_problems(o, probs, sizeof probs);
	for (size_t i = 0; i < nwant && want[i]; i++)
		cr_expect(has_problem(o, want[i]),
			  "case '%s': no problem line contains\n  \"%s\"\nproblems:\n%s",
			  name, want[i], probs);
	for (size_t i = 0; i < nabsent && absent[i]; i++)
		cr_expect(!has_problem(o, absent[i]),
			  "case '%s': a problem line contains \"%s\"\nproblems:\n%s",
			  name, absent[i], probs);
}

/* Whether a rendered action list holds a LAUNCH or LAUNCH_PROBER, i.e.
 * whether the plan should ask for offers. */
static inline bool actions_launch(const char *acts)
{
	return strncmp(acts, "launch ", 7) == 0 || strncmp(acts, "prober ", 7) == 0 ||
	       strstr(acts, "; launch ") || strstr(acts, "; prober ");
}

/* A parameterized test suite::table running run(&cases[i]) for each case.
 * Parameters are indices, not pointers: Criterion copies parameters into
 * each test's process, and an index stays valid whatever the address
 * layout. */
#define PLAN_TABLE(suite, cases, run)                                          \
	static size_t suite##_idx[sizeof cases / sizeof cases[0]];             \
	ParameterizedTestParameters(suite, table)                              \
	{                                                                      \
		size_t n = sizeof cases / sizeof cases[0];                     \
		for (size_t i = 0; i < n; i++)                                 \
			suite##_idx[i] = i;                                    \
		return cr_make_param_array(size_t, suite##_idx, n);            \
	}                                                                      \
	ParameterizedTest(size_t *idx, suite, table)                           \
	{                                                                      \
		run(&cases[*idx]);                                             \
	}

static inline size_t task_index(const struct world *w, const char *id)
{
	for (size_t i = 0; i < w->in.n_tasks; i++)
		if (strcmp(w->tasks[i].task_id, id) == 0)
			return i;
	cr_assert_fail("no task '%s' in the case", id);
	return 0;
}

static inline size_t agent_index(const struct world *w, const char *id)
{
	for (size_t i = 0; i < w->in.n_agents; i++)
		if (strcmp(w->agents[i].agent_id, id) == 0)
			return i;
	cr_assert_fail("no agent '%s' in the case", id);
	return 0;
}

/* A three-node cluster: a1 has all three device types, a2 data, a3 none.
 * Fresh placement puts api on a3 (load 0) and webconsole on a2 (a2 and a3
 * both carry one service then; a2 sorts first). */
#define AG3 "a1 R1 M1 D1; a2 D1; a3"
#define PR3 "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; p3 prober a3 - RUNNING; "
#define CORE(v) "r1 registry a1 " v " RUNNING ok; m1 metadata a1 " v " RUNNING ok; " \
	"d1 data a1 " v " RUNNING ok; d2 data a2 " v " RUNNING ok; "
#define MGMT(v) "x1 api a3 " v " RUNNING; w1 webconsole a2 " v " RUNNING; "
#define MINI "cluster cannot reach its minimum"

#endif
