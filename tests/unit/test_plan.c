/* Planner tests. Most are one table: each case is a compact description of
 * the observed world (agents, tasks, failure history, config, target) and
 * what an operator expects the planner to do about it (exact actions in
 * their documented order, problem lines, unwanted_since updates, progress).
 * The rest drive the planner through a small fake shell over many steps
 * (deployment from scratch, rolling upgrade, shutdown) and check properties
 * that must hold at every step.
 *
 * The mini-language (all times in ms; "N" is now, "N-1000" relative to it):
 *   agents   "a1 host=n1 R1 M1 D2 boot mount attr=k:v inactive noreport report=N-5"
 *            ';'-separated; defaults: active, report at N with no devices
 *   tasks    "id service agent version STATE [ok|bad] [kill] [us=T] [at=T]"
 *            version "-" = none; STATE without the TASK_ prefix
 *   history  "service agent failures last_failure"
 *   cfg      "api=N web=N apiattr=k:v webattr=k:v client grace=T base=T
 *             max=T phosts=h1,h2 pattr=k:v stale=T checked=svc,svc"
 *   actions  "launch svc agent version; kill task reason; prober agent" */
#include "plan_fixture.h"

#include <stdint.h>

/* ------------------------------------------------------------------------ */

struct pcase {
	const char *name;
	const char *cfg;
	const char *target;
	const char *agents;
	const char *tasks;
	const char *history;
	const char *actions;       /* exact, in order */
	const char *problems[6];   /* each a substring of some problem line */
	const char *absent[4];     /* substrings no problem line may contain */
	const char *unwanted;      /* "t1=N t2=0": updated unwanted_since */
	const char *progress;      /* "registry=1/1/0": wanted/ready/at_target */
	const char *stale;         /* agents whose prober is stale; others not */
	bool no_problems;
	bool check_wake;
	long long wake;
};


static const struct pcase cases[] = {
	/* ---- rule 1: probers ---------------------------------------------- */
	{
		.name = "no agents, no target: nothing to do",
		.actions = "",
		.no_problems = true,
		.progress = "probers=0/0/0 registry=0/0/0 api+webconsole=0/0/0",
		.check_wake = true, .wake = 0,
	},
	{
		.name = "no agents with a target: minimum and api shortfall reported",
		.target = "2.0",
		.actions = "",
		.problems = {MINI ": no node has a REGISTRY (DIR_DEVICE) device",
			     MINI ": no node has a METADATA device",
			     MINI ": no node has a DATA device",
			     "api wants 1 instance(s) but only 0 more agent(s) can take one",
			     "webconsole wants 1 instance(s) but only 0"},
		.progress = "api+webconsole=2/0/0",
	},
	{
		.name = "a prober on every active agent, none on inactive ones",
		.agents = "a1 noreport; a2 noreport; a3 inactive noreport",
		.actions = "prober a1; prober a2",
		.problems = {"devices of a1 are unknown: its prober has not reported yet",
			     "devices of a2 are unknown"},
		.absent = {"a3"},
		.progress = "probers=2/0/0",
	},
	{
		.name = "prober hostname allow-list",
		.cfg = "phosts=n1,n3",
		.agents = "a1 host=n1 noreport; a2 host=n2 noreport; a3 host=n3 noreport; a4 noreport",
		.actions = "prober a1; prober a3",
		.absent = {"n2", "a4"},
		.progress = "probers=2/0/0",
	},
	{
		.name = "prober attribute restriction and allow-list both apply",
		.cfg = "phosts=n1,n2 pattr=quobyte:yes",
		.agents = "a1 host=n1 attr=quobyte:yes; a2 host=n2 attr=quobyte:no; a3 host=n3 attr=quobyte:yes",
		.actions = "prober a1",
	},
	{
		.name = "prober on an agent that no longer passes the restriction waits out the grace",
		.cfg = "pattr=quobyte:yes stale=0",
		.agents = "a1 attr=quobyte:yes; a2 attr=rack:r1 attr=quobyte:no",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING",
		.actions = "",
		.problems = {"prober on a2 is no longer wanted (the agent does not pass the prober restriction); it is killed in 300000 ms"},
		.unwanted = "p1=0 p2=N",
		.check_wake = true, .wake = NOW + 300000,
	},
	{
		.name = "restricted prober killed once the grace has passed",
		.cfg = "pattr=quobyte:yes",
		.agents = "a1 attr=quobyte:yes; a2",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING us=N-300000",
		.actions = "kill p2 restricted",
		.unwanted = "p2=N-300000",
	},
	{
		.name = "terminal probers relaunched, one of them backing off",
		.cfg = "stale=0",
		.agents = "a1; a2",
		.tasks = "p1 prober a1 - FAILED; p2 prober a2 - KILLED",
		.history = "prober a1 3 N-1000",
		.actions = "prober a2",
		.problems = {"relaunch of prober on a1 backs off for 39.0s more (3 consecutive failures)"},
		.check_wake = true, .wake = 1039000,
	},
	{
		.name = "prober backoff over: relaunch",
		.agents = "a1",
		.tasks = "p1 prober a1 - FAILED",
		.history = "prober a1 3 N-40000",
		.actions = "prober a1",
	},
	{
		.name = "two live probers on one agent: the running one stays",
		.agents = "a1; a2",
		.tasks = "p1 prober a1 - RUNNING at=N-500; p2 prober a1 - STARTING at=N-100; p3 prober a2 - RUNNING",
		.actions = "kill p2 duplicate",
	},
	{
		.name = "two running probers on one agent: the newer one stays",
		.agents = "a1",
		.tasks = "p1 prober a1 - RUNNING at=N-100; p2 prober a1 - RUNNING at=N-900",
		.actions = "kill p2 duplicate",
	},
	{
		.name = "a prober being killed next to its successor: nothing more",
		.agents = "a1",
		.tasks = "p1 prober a1 - KILLING kill; p2 prober a1 - STAGING",
		.actions = "",
		.no_problems = true,
	},
	{
		.name = "inactive agent: its prober is neither replaced nor killed",
		.cfg = "pattr=x:y",
		.agents = "a1 inactive",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a1 - RUNNING",
		.actions = "",
		.progress = "probers=0/0/0",
	},
	{
		.name = "stale prober report is flagged and reported",
		.agents = "a1 report=N-100000; a2 report=N-1000",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING",
		.actions = "",
		.problems = {"prober on a1 is stale: last report 100000 ms ago"},
		.absent = {"a2"},
		.stale = "a1",
		.progress = "probers=2/1/1",
		.check_wake = true, .wake = NOW - 1000 + 90000,
	},
	{
		.name = "prober_stale_ms 0: never stale",
		.cfg = "stale=0",
		.agents = "a1 report=1",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "",
		.no_problems = true,
		.stale = "",
		.progress = "probers=1/1/1",
		.check_wake = true, .wake = 0,
	},
	{
		.name = "prober running without ever reporting turns stale",
		.agents = "a1 noreport; a2 noreport",
		.tasks = "p1 prober a1 - RUNNING at=N-200000; p2 prober a2 - RUNNING at=N-1000",
		.actions = "",
		.problems = {"prober on a1 has not reported since its launch 200000 ms ago"},
		.stale = "a1",
		.progress = "probers=2/0/0",
		.check_wake = true, .wake = NOW - 1000 + 90000,
	},
	{
		.name = "lost prober relaunched, unreachable prober waited for",
		.agents = "a1; a2",
		.tasks = "p1 prober a1 - LOST; p2 prober a2 - UNREACHABLE",
		.actions = "prober a1",
		.problems = {"prober on a2 is unreachable; waiting for it"},
	},
	{
		.name = "TASK_UNKNOWN: gone on an active agent, waited for on an inactive one",
		.agents = "a1; a2 inactive",
		.tasks = "p1 prober a1 - UNKNOWN; p2 prober a2 - UNKNOWN",
		.actions = "prober a1",
	},

	/* ---- rules 2 and 5: disk services, phases --------------------------- */
	{
		.name = "fresh node with all three types: registry first",
		.target = "2.0",
		.agents = "a1 R1 M1 D2",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "launch registry a1 2.0",
		.problems = {"metadata on a1 waits for registry to be running and healthy",
			     "data on a1 waits for registry to be running and healthy",
			     "api on a1 waits for registry to be running and healthy",
			     "webconsole on a1 waits for registry"},
		.absent = {MINI},
		.progress = "probers=1/1/1 registry=1/0/0 metadata=1/0/0 data=1/0/0 api+webconsole=2/0/0 client=0/0/0",
	},
	{
		.name = "registry running and healthy: metadata next",
		.target = "2.0",
		.agents = "a1 R1 M1 D2",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok",
		.actions = "launch metadata a1 2.0",
		.problems = {"data on a1 waits for metadata to be running and healthy"},
		.progress = "registry=1/1/1 metadata=1/0/0",
	},
	{
		.name = "registry running with unknown health is not yet healthy",
		.target = "2.0",
		.agents = "a1 R1 M1 D2",
		.tasks = "r1 registry a1 2.0 RUNNING",
		.actions = "prober a1",
		.problems = {"metadata on a1 waits for registry to be running and healthy"},
		.progress = "registry=1/0/0",
	},
	{
		.name = "health_checked is configurable: unchecked registry counts when running",
		.cfg = "checked=metadata,data",
		.target = "2.0",
		.agents = "a1 R1 M1 D2",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING",
		.actions = "launch metadata a1 2.0",
	},
	{
		.name = "two data devices, one data service; every node its own data task",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D3",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; "
			 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok",
		.actions = "launch data a1 2.0; launch data a2 2.0",
		.progress = "data=2/0/0",
	},
	{
		.name = "data waits for metadata when no node has a metadata device",
		.target = "2.0",
		.agents = "a1 R1 D1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok",
		.actions = "",
		.problems = {MINI ": no node has a METADATA device",
			     "data on a1 waits for metadata: no node has a METADATA device"},
		.absent = {"REGISTRY", "no node has a DATA"},
	},
	{
		.name = "a failing health check blocks later phases",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING bad",
		.actions = "",
		.problems = {"registry on a1 is running but failing its health check",
			     "metadata on a1 waits for registry to be running and healthy"},
	},
	{
		.name = "api and webconsole wait for every data service",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 STARTING",
		.actions = "",
		.problems = {"webconsole on a2 waits for data to be running and healthy",
			     "api on a3 waits for data to be running and healthy"},
		.progress = "data=2/1/1 api+webconsole=2/0/0",
	},
	{
		.name = "bootstrap registry launches first",
		.target = "2.0",
		.agents = "a1 R1; a2 R1 boot; a3 R1 M1 D1",
		.tasks = PR3,
		.actions = "launch registry a2 2.0",
		.problems = {"registry on a1 waits for the bootstrap registry on a2 to be running and healthy",
			     "registry on a3 waits for the bootstrap registry on a2"},
	},
	{
		.name = "bootstrap registry healthy: the other registries follow",
		.target = "2.0",
		.agents = "a1 R1; a2 R1 boot; a3 R1 M1 D1",
		.tasks = PR3 "r2 registry a2 2.0 RUNNING ok",
		.actions = "launch registry a1 2.0; launch registry a3 2.0",
		.absent = {"bootstrap"},
		.progress = "registry=3/1/1",
	},
	{
		.name = "two bootstrap devices: the first by agent id starts, reported",
		.target = "2.0",
		.agents = "a1 R1 boot; a2 R1 boot; a3 M1 D1",
		.tasks = PR3,
		.actions = "launch registry a1 2.0",
		.problems = {"2 nodes have a bootstrap registry device; a1 starts first",
			     "registry on a2 waits for the bootstrap registry on a1"},
	},
	{
		.name = "hostnames name the nodes in problem lines, agent ids in actions",
		.target = "2.0",
		.agents = "a1 host=node-1.example R1",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "launch registry a1 2.0",
		.problems = {"api on node-1.example waits for registry to be running and healthy"},
		.absent = {"on a1"},
	},

	/* ---- rule 2 / 7: devices removed, grace ----------------------------- */
	{
		.name = "node lost its last data device: data killed only after the grace",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 R1 M1; a2 D1; a3",
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "",
		.problems = {"data on a1 is no longer wanted (no DATA device left); it is killed in 300000 ms unless wanted again"},
		.unwanted = "d1=N d2=0 r1=0",
		.check_wake = true, .wake = NOW + 300000,
	},
	{
		.name = "grace over: data killed",
		.target = "2.0",
		.agents = "a1 R1 M1; a2 D1; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok us=N-300000; d2 data a2 2.0 RUNNING ok; "
			 MGMT("2.0") "d9 data a1 2.0 FAILED",
		.actions = "kill d1 no-device",
		.unwanted = "d1=N-300000",
		.progress = "data=1/1/1",
	},
	{
		.name = "device back within the grace: task kept, mark cleared",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok us=N-1000; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.unwanted = "d1=0",
		.no_problems = true,
	},
	{
		.name = "a kill already requested is not sent again",
		.target = "2.0",
		.agents = "a1 R1 M1; a2 D1; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 KILLING kill us=N-400000; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.unwanted = "d1=N-400000",
	},
	{
		.name = "unknown inventory keeps running disk services, launches none",
		.target = "2.0",
		.agents = "a1 noreport",
		.tasks = "p1 prober a1 - RUNNING at=N-1000; r1 registry a1 2.0 RUNNING ok us=N-5; "
			 "m1 metadata a1 2.0 RUNNING ok",
		.actions = "",
		.problems = {MINI ": no node has a DATA device; 1 agent(s) have not reported their devices yet",
			     "devices of a1 are unknown: its prober has not reported yet",
			     "api on a1 waits for data: no node has a DATA device"},
		.unwanted = "r1=0",
		.progress = "registry=1/1/1 metadata=1/1/1 data=0/0/0",
	},
	{
		.name = "duplicate registry on one node: the older is killed at once",
		.target = "2.0",
		.agents = "a1 R1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok at=N-900; "
			 "r2 registry a1 2.0 RUNNING ok at=N-100",
		.actions = "kill r1 duplicate",
	},
	{
		.name = "duplicates: the task at the target version is kept",
		.target = "2.0",
		.agents = "a1 R1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 1.0 RUNNING ok at=N-900; "
			 "r2 registry a1 2.0 RUNNING ok at=N-100",
		.actions = "kill r1 duplicate",
	},

	/* ---- rule 3: api and webconsole ----------------------------------- */
	{
		.name = "api and webconsole go to the least loaded agents",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok",
		.actions = "launch api a2 2.0; launch webconsole a3 2.0",
	},
	{
		.name = "api restricted to public agents",
		.cfg = "apiattr=public:true",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2; a3 attr=public:true",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok",
		.actions = "launch webconsole a2 2.0; launch api a3 2.0",
	},
	{
		.name = "webconsole restriction and two instances",
		.cfg = "web=2 webattr=zone:dmz",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 attr=zone:dmz; a2; a3 attr=zone:dmz; a4 attr=zone:dmz",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; p3 prober a3 - RUNNING; p4 prober a4 - RUNNING; "
			 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok",
		.actions = "launch api a2 2.0; launch webconsole a3 2.0; launch webconsole a4 2.0",
		.progress = "api+webconsole=3/0/0",
	},
	{
		.name = "fewer matching agents than instances: reported",
		.cfg = "api=2 apiattr=public:true",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2; a3 attr=public:true",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok",
		.actions = "launch webconsole a2 2.0; launch api a3 2.0",
		.problems = {"api wants 2 instance(s) but only 1 more agent(s) matching public=true can take one"},
		.progress = "api+webconsole=3/0/0",
	},
	{
		.name = "existing healthy instances stay where they are",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.actions = "",
		.no_problems = true,
		.progress = "api+webconsole=2/2/2",
	},
	{
		.name = "one api too many: the surplus waits out the grace",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 RUNNING; x2 api a3 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"api on a3 is no longer wanted (more than the 1 api instance(s) configured); it is killed in 300000 ms"},
		.unwanted = "x1=0 x2=N",
	},
	{
		.name = "surplus: a running instance is kept over a starting one",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 STARTING; x2 api a3 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"api on a2 is no longer wanted (more than the 1 api instance(s) configured)"},
		.unwanted = "x1=N x2=0",
	},
	{
		.name = "api count 0: a running api is surplus",
		.cfg = "api=0",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 RUNNING us=N-300000; w1 webconsole a2 2.0 RUNNING",
		.actions = "kill x1 excess",
		.progress = "api+webconsole=1/1/1",
	},
	{
		.name = "surplus api killed after the grace",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 RUNNING; x2 api a3 2.0 RUNNING us=N-300000; w1 webconsole a2 2.0 RUNNING",
		.actions = "kill x2 excess",
	},
	{
		.name = "the instance already marked surplus stays the surplus (no flapping)",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 RUNNING us=N-1000; x2 api a3 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"api on a2 is no longer wanted (more than the 1 api instance(s) configured); it is killed in 299000 ms"},
		.unwanted = "x1=N-1000 x2=0",
	},
	{
		.name = "surplus instance wanted again when another one dies",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 RUNNING us=N-1000; x2 api a3 2.0 FAILED; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.unwanted = "x1=0",
		.no_problems = true,
	},
	{
		.name = "agent no longer matches: replacement placed now, old one after the grace",
		.cfg = "apiattr=public:true",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D1; a3 attr=public:true",
		.tasks = PR3 CORE("2.0") "x1 api a2 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "launch api a3 2.0",
		.problems = {"api on a2 is no longer wanted (agent no longer matching public=true)"},
		.unwanted = "x1=N",
	},
	{
		.name = "unreachable api keeps its place during the grace",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 UNREACHABLE; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"api on a3 is unreachable; it is replaced elsewhere in 300000 ms unless it returns"},
		.unwanted = "x1=N",
		.progress = "api+webconsole=2/1/1",
	},
	{
		.name = "unreachable api replaced elsewhere after the grace, never killed",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 UNREACHABLE us=N-300000; w1 webconsole a2 2.0 RUNNING",
		.actions = "launch api a2 2.0",
		.problems = {"api on a3 is unreachable; replaced elsewhere"},
		.unwanted = "x1=N-300000",
	},
	{
		.name = "unreachable api came back next to its replacement: it is the surplus",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 RUNNING us=N-400000; x2 api a2 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "kill x1 excess",
		.unwanted = "x2=0",
	},
	{
		.name = "api on an inactive agent counts as unreachable",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D1; a3 inactive",
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "",
		.problems = {"api on a3 is unreachable; it is replaced elsewhere in 300000 ms"},
		.unwanted = "x1=N",
	},
	{
		.name = "api placement avoids an agent in relaunch backoff",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x9 api a2 2.0 FAILED",
		.history = "api a2 2 N-1000",
		.actions = "launch webconsole a2 2.0; launch api a3 2.0",
		.absent = {"backs off"},
	},
	{
		.name = "only agent for api is in backoff: it waits there",
		.cfg = "apiattr=public:true stale=0",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 attr=public:true; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok",
		.history = "api a2 2 N-1000",
		.actions = "launch webconsole a3 2.0",
		.problems = {"relaunch of api on a2 backs off for 19.0s more (2 consecutive failures)"},
		.check_wake = true, .wake = 1019000,
	},

	/* ---- rule 4: client ----------------------------------------------- */
	{
		.name = "client launched where the mount point exists, last",
		.cfg = "client",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 mount; a2 D1; a3",
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "launch client a1 2.0",
		.progress = "client=1/0/0 api+webconsole=2/2/2",
	},
	{
		.name = "client not launched unless enabled",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 mount; a2 D1 mount; a3",
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "",
		.no_problems = true,
		.progress = "client=0/0/0",
	},
	{
		.name = "client waits for api and webconsole",
		.cfg = "client",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 mount; a2 D1; a3",
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 STARTING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"client on a1 waits for api+webconsole to be running and healthy"},
	},
	{
		.name = "client disabled: running clients retired after the grace",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 mount; a2 D1 mount; a3",
		.tasks = PR3 CORE("2.0") MGMT("2.0") "c1 client a1 2.0 RUNNING ok; c2 client a2 2.0 RUNNING ok us=N-300000",
		.actions = "kill c2 disabled",
		.problems = {"client on a1 is no longer wanted (client is disabled); it is killed in 300000 ms"},
		.unwanted = "c1=N",
	},
	{
		.name = "client mount point gone: client retired",
		.cfg = "client",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "c1 client a1 2.0 RUNNING ok us=N-300000",
		.actions = "kill c1 no-mount",
	},

	/* ---- rule 6: backoff ---------------------------------------------- */
	{
		.name = "failed registry relaunch backs off",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 FAILED; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.history = "registry a1 3 N-1000",
		.actions = "",
		.problems = {"relaunch of registry on a1 backs off for 39.0s more (3 consecutive failures)"},
		.check_wake = true, .wake = 1039000,
	},
	{
		.name = "backoff is capped at the maximum",
		.cfg = "base=1000 max=5000 stale=0",
		.target = "2.0",
		.agents = "a1 R1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 ERROR",
		.history = "registry a1 20 N-1000",
		.actions = "",
		.problems = {"relaunch of registry on a1 backs off for 4.0s more (20 consecutive failures)"},
		.check_wake = true, .wake = 1004000,
	},
	{
		.name = "backoff of one failure, under a second left",
		.cfg = "base=1000 max=5000 stale=0",
		.target = "2.0",
		.agents = "a1 R1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 ERROR",
		.history = "registry a1 1 N-500",
		.actions = "",
		.problems = {"relaunch of registry on a1 backs off for 0.5s more (1 consecutive failure)"},
		.check_wake = true, .wake = 1000500,
	},
	{
		.name = "backoff over: relaunch",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 FAILED; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.history = "registry a1 1 N-10000",
		.actions = "launch registry a1 2.0",
		.absent = {"backs off"},
	},
	{
		.name = "a live task needs nothing, whatever its history",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.history = "registry a1 5 N-10",
		.actions = "",
		.no_problems = true,
	},

	{
		.name = "launch requested, no update yet: not launched again",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 LAUNCHING",
		.actions = "",
		.problems = {"metadata on a1 waits for registry to be running and healthy"},
		.progress = "registry=1/0/0",
	},
	{
		.name = "dropped task relaunched at once without failure history",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 DROPPED; " MGMT("2.0"),
		.actions = "launch data a2 2.0",
	},
	{
		.name = "a task being killed still occupies its slot",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 KILLING kill; " MGMT("2.0"),
		.actions = "",
		.progress = "data=2/1/1",
	},

	/* ---- rule 7: empty target ------------------------------------------ */
	{
		.name = "empty target: every Quobyte task killed at once, probers stay",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "kill r1 shutdown; kill m1 shutdown; kill d1 shutdown; kill d2 shutdown; "
			   "kill w1 shutdown; kill x1 shutdown",
		.problems = {"target version is empty: stopping 6 Quobyte task(s); probers keep running"},
		.progress = "probers=3/3/3 registry=0/0/0 api+webconsole=0/0/0",
	},
	{
		.name = "empty target string: kills not repeated, unreachable ones reported",
		.target = "",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok kill; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 FINISHED; d2 data a2 2.0 UNREACHABLE; d3 data a2 2.0 RUNNING ok",
		.actions = "kill m1 shutdown; kill d3 shutdown",
		.problems = {"target version is empty: stopping 4 Quobyte task(s)",
			     "data on a2 is no longer wanted (target version is empty) but is unreachable"},
		.absent = {"launch"},
	},

	/* ---- rule 8: rolling upgrade ---------------------------------------- */
	{
		.name = "upgrade starts with the first registry",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill r1 upgrade",
		.problems = {"upgrade to 2.0: 0 of 6 task(s) at the target version; replacing registry on a1 (1.0)"},
		.progress = "registry=1/1/0 data=2/2/0",
	},
	{
		.name = "upgrade: a killed old task is replaced with the target version",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 1.0 KILLED; m1 metadata a1 1.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("1.0"),
		.actions = "launch registry a1 2.0",
		.problems = {"upgrade to 2.0: 0 of 6 task(s) at the target version; waits for registry on a1 to be running and healthy"},
	},
	{
		.name = "upgrade: kill in flight, nothing else moves",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 1.0 KILLING ok kill; m1 metadata a1 1.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("1.0"),
		.actions = "",
		.problems = {"upgrade to 2.0: 0 of 6 task(s) at the target version; replacing registry on a1"},
	},
	{
		.name = "upgrade waits until the replacement is healthy",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r2 registry a1 2.0 RUNNING; m1 metadata a1 1.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("1.0"),
		.actions = "",
		.problems = {"upgrade to 2.0: 0 of 6 task(s) at the target version; waits for registry on a1 to be running and healthy"},
	},
	{
		.name = "upgrade continues in phase order",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 1.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("1.0"),
		.actions = "kill m1 upgrade",
		.problems = {"upgrade to 2.0: 1 of 6 task(s) at the target version; replacing metadata on a1 (1.0)"},
	},
	{
		.name = "upgrade reaches api and webconsole last, by agent id",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("1.0"),
		.actions = "kill w1 upgrade",
		.problems = {"4 of 6 task(s) at the target version; replacing webconsole on a2"},
	},
	{
		.name = "an unhealthy old task is the one replaced",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING bad; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "kill d1 upgrade",
		.problems = {"5 of 6 task(s) at the target version; replacing data on a1 (1.0)"},
	},
	{
		.name = "two tasks not ready: upgrade waits",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING bad; d2 data a2 2.0 RUNNING ok; "
			 "x1 api a3 1.0 STARTING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"upgrade to 2.0: 4 of 6 task(s) at the target version; waits for data on a1 to be running and healthy"},
		.absent = {"replacing"},
	},
	/* ---- rule 14: paused rollout ---------------------------------------- */
	{
		.name = "paused rollout: no upgrade kill",
		.target = "2.0",
		.cfg = "paused",
		.agents = AG3,
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "",
		.problems = {"rollout paused by the operator"},
		.absent = {"replacing", "kill"},
	},
	{
		.name = "paused rollout: a missing service is still launched",
		.target = "2.0",
		.cfg = "paused",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 1.0 KILLED; m1 metadata a1 1.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("1.0"),
		.actions = "launch registry a1 2.0",
		.problems = {"rollout paused by the operator"},
	},
	{
		.name = "paused rollout at the target: no pause line",
		.target = "2.0",
		.cfg = "paused",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.actions = "",
		.absent = {"paused"},
	},
	/* rule 8 for a device the container cannot see (hot-add outside the
	 * mounted device roots) */
	{
		.name = "a task blind to a new device is replaced, health-gated",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok replace=device-/d/2-added; "
			 MGMT("2.0"),
		.actions = "kill d2 replace",
		.problems = {"replacing data on a2: device-/d/2-added"},
		.absent = {"launch"},
	},
	{
		.name = "replacement waits while another task is not ready",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING bad; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok replace=device-/d/2-added; "
			 MGMT("2.0"),
		.actions = "",
		.absent = {"kill", "replacing"},
	},
	{
		.name = "the replaced task's successor waits for the old one to end",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D2; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 KILLING ok kill replace=x; "
			 MGMT("2.0"),
		.actions = "",
		.absent = {"launch"},
	},
	{
		.name = "version changed mid-deployment: new launches use it, old tasks wait",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 1.0 RUNNING ok",
		.actions = "launch metadata a1 2.0",
		.problems = {"upgrade to 2.0: 0 of 6 task(s) at the target version; waits for metadata on a1 to be running and healthy"},
	},
	{
		.name = "upgrade done: no upgrade line",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "r0 registry a1 1.0 KILLED",
		.actions = "",
		.no_problems = true,
		.progress = "registry=1/1/1 metadata=1/1/1 data=2/2/2 api+webconsole=2/2/2",
	},
	{
		.name = "upgrade proceeds without an inactive node's services",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 D1 inactive; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; x1 api a3 2.0 RUNNING; w1 webconsole a3 2.0 RUNNING",
		.actions = "kill d1 upgrade",
		.problems = {"a2 is inactive: data waits for it to return"},
	},

	/* ---- rule 9: unreachable ------------------------------------------- */
	{
		.name = "unreachable registry: not relaunched, reported",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 UNREACHABLE; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.problems = {"registry on a1 is unreachable; waiting for it to return (pinned to its node)"},
		.progress = "registry=1/0/0",
	},
	{
		.name = "inactive agent: its services wait, nothing launched or killed there",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 R1 D1 inactive; a3",
		.tasks = PR3 CORE("2.0") "r2 registry a2 2.0 RUNNING ok; x1 api a3 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.actions = "",
		.problems = {"a2 is inactive: registry, data wait for it to return"},
		.progress = "probers=2/2/2 registry=1/1/1 data=1/1/1",
	},
	{
		.name = "TASK_UNKNOWN on an active agent: relaunched",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 UNKNOWN; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "launch registry a1 2.0",
	},
	{
		.name = "task on an agent not seen: left alone, reported",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "r9 registry zz 2.0 RUNNING ok",
		.actions = "",
		.problems = {"registry task r9 is on unknown agent zz; waiting for reconciliation"},
	},
	{
		.name = "unreachable duplicate: not killed, reported",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "d9 data a2 2.0 UNREACHABLE",
		.actions = "",
		.problems = {"a second data task d9 on a2 is unreachable"},
	},

	/* ---- rule 10: minimum ---------------------------------------------- */
	{
		.name = "minimum: no devices anywhere",
		.target = "2.0",
		.agents = "a1; a2",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING",
		.actions = "",
		.problems = {MINI ": no node has a REGISTRY (DIR_DEVICE) device",
			     MINI ": no node has a METADATA device",
			     MINI ": no node has a DATA device",
			     "api on a1 waits for registry: no node has a REGISTRY (DIR_DEVICE) device"},
	},
	{
		.name = "minimum: the only metadata node is inactive",
		.target = "2.0",
		.agents = "a1 R1 D1; a2 M1 inactive",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "launch registry a1 2.0",
		.problems = {MINI ": no node has a METADATA device; a2 has one but is inactive",
			     "a2 is inactive: metadata waits for it to return"},
		.absent = {"no node has a DATA", "REGISTRY"},
	},
	{
		.name = "minimum: unreported agents mentioned",
		.target = "2.0",
		.agents = "a1 R1 D1; a2 noreport",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "prober a2; launch registry a1 2.0",
		.problems = {MINI ": no node has a METADATA device; 1 agent(s) have not reported their devices yet"},
	},

	/* ---- rule 11: order ------------------------------------------------ */
	{
		.name = "actions ordered by phase, then agent id",
		.target = "2.0",
		.agents = "b1 R1; a2 R1; c3 R1 M1 D1",
		.tasks = "d9 data c3 2.0 RUNNING ok; d8 data c3 2.0 STAGING; p9 prober c3 - RUNNING; p8 prober c3 - STAGING",
		.actions = "prober a2; prober b1; kill p8 duplicate; launch registry a2 2.0; launch registry b1 2.0; "
			   "launch registry c3 2.0; kill d8 duplicate",
	},
	{
		.name = "control characters from outside never reach a problem line",
		.target = "2.0",
		.agents = "a1 host=evil\tname R1",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "launch registry a1 2.0",
		.problems = {"api on evil?name waits"},
		.absent = {"\t"},
	},
};

static void check_unwanted(const struct pcase *c, const struct world *w,
			   const struct plan_output *o)
{
	char *spec = strdup(c->unwanted), *save = NULL;
	for (char *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		cr_assert_not_null(eq);
		*eq = '\0';
		size_t i = task_index(w, tok);
		long long want = parse_time(eq + 1);
		cr_expect_eq(o->unwanted_since_ms[i], want,
			     "case '%s': unwanted_since of %s is %lld, want %lld",
			     c->name, tok, o->unwanted_since_ms[i], want);
	}
	free(spec);
}

static void check_progress(const struct pcase *c, const struct plan_output *o)
{
	char *spec = strdup(c->progress), *save = NULL;
	for (char *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		cr_assert_not_null(eq);
		*eq = '\0';
		unsigned wv, rv, tv;
		cr_assert_eq(sscanf(eq + 1, "%u/%u/%u", &wv, &rv, &tv), 3);
		int p = 0;
		while (p < PLAN_PHASE_COUNT && strcmp(plan_phase_name((enum plan_phase)p), tok))
			p++;
		cr_assert_lt(p, PLAN_PHASE_COUNT, "unknown phase %s", tok);
		const struct plan_progress *pg = &o->progress[p];
		cr_expect(pg->wanted == wv && pg->ready == rv && pg->at_target == tv,
			  "case '%s': progress %s is %u/%u/%u, want %u/%u/%u", c->name,
			  tok, pg->wanted, pg->ready, pg->at_target, wv, rv, tv);
	}
	free(spec);
}

static void check_stale(const struct pcase *c, const struct world *w,
			const struct plan_output *o)
{
	cr_assert_eq(o->n_agents, w->in.n_agents);
	for (size_t i = 0; i < w->in.n_agents; i++) {
		const char *id = w->agents[i].agent_id;
		bool want = false;
		char *spec = strdup(c->stale), *save = NULL;
		for (char *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			want |= strcmp(tok, id) == 0;
		free(spec);
		cr_expect_eq(o->prober_stale[i], want, "case '%s': prober_stale of %s is %d",
			     c->name, id, o->prober_stale[i]);
	}
}

static void run_case(const struct pcase *c)
{
	struct world *w = calloc(1, sizeof *w);
	build(w, c->cfg, c->target, c->agents, c->tasks, c->history);
	struct plan_output o;
	int rv = plan_compute(&w->in, &o);
	cr_assert_eq(rv, 0, "case '%s': plan_compute failed: %s", c->name, o.error);

	char acts[4096], probs[16384];
	render_actions(&o, acts, sizeof acts);
	render_problems(&o, probs, sizeof probs);
	/* PLAN_DUMP=1 shows what each case produces, for writing new cases. */
	if (getenv("PLAN_DUMP"))
		fprintf(stderr, "== %s\n  actions: %s\n%s", c->name, acts, probs);
	cr_expect_str_eq(acts, c->actions, "case '%s': actions\n  got:  %s\n  want: %s\nproblems:\n%s",
			 c->name, acts, c->actions, probs);

	cr_expect_eq(o.want_offers, actions_launch(c->actions), "case '%s': want_offers %d",
		     c->name, o.want_offers);
	expect_problems(c->name, &o, c->problems, 6, c->absent, 4);
	if (c->no_problems)
		cr_expect_eq(o.n_problems, 0, "case '%s': expected no problems\n%s",
			     c->name, probs);
	if (c->unwanted)
		check_unwanted(c, w, &o);
	if (c->progress)
		check_progress(c, &o);
	if (c->stale)
		check_stale(c, w, &o);
	if (c->check_wake)
		cr_expect_eq(o.wake_ms, c->wake, "case '%s': wake_ms %lld, want %lld",
			     c->name, o.wake_ms, c->wake);
	/* Every KILL names its task, agent and a reason; every LAUNCH a version. */
	for (size_t i = 0; i < o.n_actions; i++) {
		const struct plan_action *a = &o.actions[i];
		cr_expect_not_null(a->agent_id);
		if (a->type == PLAN_KILL)
			cr_expect(a->task_id && a->reason && *a->reason &&
				  a->kill_reason != PLAN_KILL_NONE);
		if (a->type == PLAN_LAUNCH)
			cr_expect(a->version && c->target && strcmp(a->version, c->target) == 0);
	}
	plan_output_free(&o);
	free(w);
}

PLAN_TABLE(plan, cases, run_case)

/* ---- output shape, ownership and determinism ------------------------- */

Test(plan, output_owns_its_strings)
{
	/* Input strings on the heap, freed before the output is read: under
	 * ASan this proves the output holds copies. */
	char *aid = strdup("agent-7"), *ver = strdup("3.1"), *tid = strdup("t-old");
	struct plan_agent ag = {.agent_id = aid, .active = true,
				.report = {.has_report = true, .last_report_ms = NOW,
					   .registry_devices = 1}};
	struct plan_task t = {.task_id = tid, .service = SERVICE_REGISTRY, .agent_id = aid,
			      .version = ver, .state = PLAN_TASK_RUNNING,
			      .health = PLAN_HEALTH_OK};
	struct plan_task t2 = t;
	t2.task_id = "t-new";
	t2.launched_ms = 5;
	struct plan_task tasks[] = {t, t2};
	struct plan_input in = {.now_ms = NOW, .target_version = ver,
				.agents = &ag, .n_agents = 1,
				.tasks = tasks, .n_tasks = 2};
	plan_config_init(&in.config);
	struct plan_output o;
	cr_assert_eq(plan_compute(&in, &o), 0);
	free(aid);
	free(ver);
	free(tid);
	char acts[512];
	render_actions(&o, acts, sizeof acts);
	cr_expect_str_eq(acts, "prober agent-7; kill t-old duplicate");
	cr_assert_eq(o.n_actions, 2);
	cr_expect_str_eq(o.actions[1].agent_id, "agent-7");
	cr_expect(strstr(o.actions[1].reason, "keeping t-new") != NULL, "%s",
		  o.actions[1].reason);
	plan_output_free(&o);
	plan_output_free(&o); /* idempotent */
	cr_expect_null(o.actions);
	cr_expect_eq(o.n_problems, 0);
}

static void render_all(const struct plan_output *o, const struct world *w,
		       char *buf, size_t cap)
{
	char acts[4096], probs[8192];
	render_actions(o, acts, sizeof acts);
	render_problems(o, probs, sizeof probs);
	int n = snprintf(buf, cap, "%s\n%s\nwake=%lld offers=%d\n", acts, probs,
			 o->wake_ms, o->want_offers);
	size_t len = n > 0 ? (size_t)n : 0;
	/* unwanted/stale keyed by id, in id order of the original arrays */
	for (size_t i = 0; i < w->in.n_tasks && len < cap; i++) {
		n = snprintf(buf + len, cap - len, "%s=%lld ", w->tasks[i].task_id,
			     o->unwanted_since_ms[i]);
		len += n > 0 ? (size_t)n : 0;
	}
	for (size_t i = 0; i < w->in.n_agents && len < cap; i++) {
		n = snprintf(buf + len, cap - len, "%s:%d ", w->agents[i].agent_id,
			     o->prober_stale[i]);
		len += n > 0 ? (size_t)n : 0;
	}
	for (int p = 0; p < PLAN_PHASE_COUNT && len < cap; p++) {
		n = snprintf(buf + len, cap - len, "%u/%u/%u ", o->progress[p].wanted,
			     o->progress[p].ready, o->progress[p].at_target);
		len += n > 0 ? (size_t)n : 0;
	}
}

/* Same content in another array order => the same plan. */
Test(plan, independent_of_input_order)
{
	const char *agents = "a1 R1 M1 D1 boot; b2 R1 D1; c3 M1 mount report=N-200000; d4 attr=public:true; "
			     "e5 R1 inactive; f6 R1";
	const char *tasks = "p1 prober a1 - RUNNING; p2 prober b2 - FAILED; p3 prober c3 - RUNNING; "
			    "p4 prober c3 - STAGING; r1 registry a1 1.0 RUNNING ok; r2 registry b2 1.0 STARTING; "
			    "d1 data a1 1.0 RUNNING ok us=N-10; m3 metadata c3 1.0 FAILED; x1 api a1 1.0 RUNNING us=N-400000; "
			    "x2 api d4 1.0 RUNNING; w1 webconsole e5 1.0 UNREACHABLE; c9 client c3 1.0 RUNNING";
	const char *hist = "prober b2 2 N-5000; metadata c3 4 N-100";
	const char *cfg = "client api=2 apiattr=public:true";

	static struct world w1, w2;
	build(&w1, cfg, "2.0", agents, tasks, hist);
	build(&w2, cfg, "2.0", agents, tasks, hist);
	/* reverse every array of the second world */
	for (size_t i = 0; i < w2.in.n_agents / 2; i++) {
		struct plan_agent t = w2.agents[i];
		w2.agents[i] = w2.agents[w2.in.n_agents - 1 - i];
		w2.agents[w2.in.n_agents - 1 - i] = t;
	}
	for (size_t i = 0; i < w2.in.n_tasks / 2; i++) {
		struct plan_task t = w2.tasks[i];
		w2.tasks[i] = w2.tasks[w2.in.n_tasks - 1 - i];
		w2.tasks[w2.in.n_tasks - 1 - i] = t;
	}
	struct plan_history h = w2.hist[0];
	w2.hist[0] = w2.hist[1];
	w2.hist[1] = h;

	struct plan_output o1, o2;
	cr_assert_eq(plan_compute(&w1.in, &o1), 0, "%s", o1.error);
	cr_assert_eq(plan_compute(&w2.in, &o2), 0, "%s", o2.error);
	cr_assert_gt(o1.n_actions, 3, "the scenario should produce several actions");
	cr_assert_gt(o1.n_problems, 3, "the scenario should produce several problems");

	char acts1[4096], acts2[4096];
	render_actions(&o1, acts1, sizeof acts1);
	render_actions(&o2, acts2, sizeof acts2);
	cr_expect_str_eq(acts1, acts2);
	cr_assert_eq(o1.n_problems, o2.n_problems);
	for (size_t i = 0; i < o1.n_problems; i++)
		cr_expect_str_eq(o1.problems[i], o2.problems[i]);
	cr_expect_eq(o1.wake_ms, o2.wake_ms);
	for (size_t i = 0; i < w1.in.n_tasks; i++) {
		size_t j = task_index(&w2, w1.tasks[i].task_id);
		cr_expect_eq(o1.unwanted_since_ms[i], o2.unwanted_since_ms[j],
			     "unwanted_since of %s", w1.tasks[i].task_id);
	}
	for (size_t i = 0; i < w1.in.n_agents; i++) {
		size_t j = agent_index(&w2, w1.agents[i].agent_id);
		cr_expect_eq(o1.prober_stale[i], o2.prober_stale[j]);
	}
	for (int p = 0; p < PLAN_PHASE_COUNT; p++)
		cr_expect(memcmp(&o1.progress[p], &o2.progress[p], sizeof o1.progress[p]) == 0);

	/* and the same input twice gives the same output, byte for byte */
	struct plan_output o3;
	cr_assert_eq(plan_compute(&w1.in, &o3), 0);
	char all1[16384], all3[16384];
	render_all(&o1, &w1, all1, sizeof all1);
	render_all(&o3, &w1, all3, sizeof all3);
	cr_expect_str_eq(all1, all3);
	plan_output_free(&o1);
	plan_output_free(&o2);
	plan_output_free(&o3);
}

/* The caller's order hints (plan_input.agent_order, task_order,
 * task_agent) only save the plan its sorting: right ones, wrong ones
 * (unsorted, an index twice, out of range, a task pointed at another
 * agent or at none) and none at all give the same plan, byte for byte. */
static const struct world *hint_world;

static int hint_cmp_agent(const void *a, const void *b)
{
	return strcmp(hint_world->agents[*(const size_t *)a].agent_id,
		      hint_world->agents[*(const size_t *)b].agent_id);
}

static int hint_cmp_task(const void *a, const void *b)
{
	return strcmp(hint_world->tasks[*(const size_t *)a].task_id,
		      hint_world->tasks[*(const size_t *)b].task_id);
}

Test(plan, order_hints_change_nothing)
{
	static struct world w;
	build(&w, "client api=2 apiattr=public:true", "2.0",
	      "f6 R1; a1 R1 M1 D1 boot; d4 attr=public:true; b2 R1 D1; c3 M1 mount; e5 R1 inactive",
	      "x1 api a1 1.0 RUNNING; p3 prober c3 - RUNNING; r1 registry a1 1.0 RUNNING ok; "
	      "p1 prober a1 - RUNNING; d1 data a1 1.0 RUNNING ok; m3 metadata c3 1.0 FAILED; "
	      "p2 prober b2 - FAILED; r2 registry b2 1.0 STARTING; z9 data gone 1.0 RUNNING; "
	      "w1 webconsole e5 1.0 UNREACHABLE",
	      "metadata c3 4 N-100");
	size_t na = w.in.n_agents, nt = w.in.n_tasks;
	struct plan_output o;
	cr_assert_eq(plan_compute(&w.in, &o), 0, "%s", o.error);
	static char want[16384], got[16384];
	render_all(&o, &w, want, sizeof want);
	plan_output_free(&o);

	size_t aord[MAXA], tord[MAXT], tag[MAXT];
	hint_world = &w;
	for (size_t i = 0; i < na; i++)
		aord[i] = i;
	qsort(aord, na, sizeof *aord, hint_cmp_agent);
	for (size_t i = 0; i < nt; i++)
		tord[i] = i;
	qsort(tord, nt, sizeof *tord, hint_cmp_task);
	for (size_t i = 0; i < nt; i++) {
		tag[i] = SIZE_MAX;
		for (size_t k = 0; k < na; k++)
			if (strcmp(w.tasks[i].agent_id, w.agents[k].agent_id) == 0)
				tag[i] = k;
	}
	cr_assert_eq(tag[task_index(&w, "z9")], SIZE_MAX, "a task on an agent not in agents[]");
	cr_assert_neq(aord[0], 0, "the agents are not in id order");

	for (int variant = 0; variant < 8; variant++) {
		size_t a2[MAXA], t2[MAXT], g2[MAXT];
		memcpy(a2, aord, sizeof a2);
		memcpy(t2, tord, sizeof t2);
		memcpy(g2, tag, sizeof g2);
		switch (variant) {
		case 0: break;                                        /* right */
		case 1: /* unsorted, and every task's agent to be looked up in it */
			a2[0] = aord[na - 1];
			a2[na - 1] = aord[0];
			for (size_t i = 0; i < nt; i++)
				g2[i] = SIZE_MAX;
			break;
		case 2: t2[2] = t2[1]; break;                         /* an index twice */
		case 3: a2[na - 1] = na; t2[0] = nt + 7; break;       /* out of range */
		case 4: g2[task_index(&w, "d1")] = (size_t)agent_index(&w, "c3"); break;
		case 5: for (size_t i = 0; i < nt; i++) g2[i] = SIZE_MAX; break;
		case 6: g2[task_index(&w, "z9")] = 0; break;          /* unknown agent */
		case 7: g2[task_index(&w, "x1")] = na + 3; break;
		}
		w.in.agent_order = a2;
		w.in.task_order = t2;
		w.in.task_agent = g2;
		cr_assert_eq(plan_compute(&w.in, &o), 0, "variant %d: %s", variant, o.error);
		render_all(&o, &w, got, sizeof got);
		cr_expect_str_eq(got, want, "variant %d", variant);
		plan_output_free(&o);
	}
	w.in.agent_order = w.in.task_order = w.in.task_agent = NULL;
}

/* A master's agent ids are '<master id>-S<n>': the planner sorts and finds
 * them past the prefix they share. The same cluster under short ids and
 * under such ids plans the same, including for tasks on agents it does not
 * know: one whose id is the shared prefix alone, one with another prefix. */
#define MASTER_PFX "5e3c0b52-8a61-4b7e-9d2f-1c4a7e9b3f60-S"
#define OTHER_PFX "6e3c0b52-8a61-4b7e-9d2f-1c4a7e9b3f60-S" /* another master's */

/* Every from in s becomes the one character to. */
static void unprefix(char *s, const char *from, char to)
{
	const size_t pl = strlen(from);
	char *at;
	while ((at = strstr(s, from)) != NULL) {
		at[0] = to;
		memmove(at + 1, at + pl, strlen(at + pl) + 1);
	}
}

Test(plan, agent_ids_sharing_a_long_prefix)
{
#define CLUSTER(A)                                                                      \
	A "1 R1 M1 D1 boot; " A "2 R1 D1; " A "10 M1 D1; " A "11 R1 inactive"
#define TASKS(A, B)                                                                     \
	"p1 prober " A "1 - RUNNING; p2 prober " A "2 - RUNNING; p3 prober " A            \
	"10 - RUNNING; r1 registry " A "1 1.0 RUNNING ok; d2 data " A "2 1.0 RUNNING ok; " \
	"m3 metadata " A "10 2.0 FAILED; d9 data " A " 2.0 RUNNING ok; "                    \
	"x1 api zz 2.0 RUNNING; c1 api " B "1 2.0 RUNNING"
	static struct world ws, wl;
	build(&ws, "", "2.0", CLUSTER("s"), TASKS("s", "y"), "data s2 1 N-5000");
	build(&wl, "", "2.0", CLUSTER(MASTER_PFX), TASKS(MASTER_PFX, OTHER_PFX),
	      "data " MASTER_PFX "2 1 N-5000");
#undef CLUSTER
#undef TASKS
	struct plan_output os, ol;
	cr_assert_eq(plan_compute(&ws.in, &os), 0, "%s", os.error);
	cr_assert_eq(plan_compute(&wl.in, &ol), 0, "%s", ol.error);
	cr_assert_gt(os.n_actions, 0, "the scenario should launch");
	cr_assert_gt(os.n_problems, 2, "the scenario should report problems");
	static char all_s[16384], all_l[32768];
	render_all(&os, &ws, all_s, sizeof all_s);
	render_all(&ol, &wl, all_l, sizeof all_l);
	unprefix(all_l, MASTER_PFX, 's');
	unprefix(all_l, OTHER_PFX, 'y');
	cr_expect_str_eq(all_l, all_s);
	/* y1 is not s1: the part after the shared prefix alone is no id */
	cr_expect(strstr(all_s, "unknown agent y1;") != NULL, "%s", all_s);
	cr_expect(strstr(all_s, "unknown agent s;") != NULL, "%s", all_s);
	cr_expect(strstr(all_s, "unknown agent zz;") != NULL, "%s", all_s);
	plan_output_free(&os);
	plan_output_free(&ol);

	/* a duplicate is still one, however long the shared part */
	static struct world wd;
	build(&wd, "", "2.0", MASTER_PFX "1; " MASTER_PFX "12; " MASTER_PFX "1", "", "");
	struct plan_output od;
	cr_assert_neq(plan_compute(&wd.in, &od), 0);
	cr_expect(strstr(od.error, "duplicate agent id '" MASTER_PFX "1'") != NULL, "%s",
		  od.error);
	plan_output_free(&od);
}

Test(plan, problems_are_capped_most_important_first)
{
	size_t n = 400;
	struct plan_agent *ag = calloc(n, sizeof *ag);
	char (*ids)[16] = calloc(n, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "agent%03zu", i);
		ag[i].agent_id = ids[i];
		ag[i].active = true; /* no report yet: one line each */
	}
	struct plan_input in = {.now_ms = NOW, .target_version = "2.0",
				.agents = ag, .n_agents = n};
	plan_config_init(&in.config);
	struct plan_output o;
	cr_assert_eq(plan_compute(&in, &o), 0);
	cr_expect_eq(o.n_problems, PLAN_MAX_PROBLEMS);
	cr_expect(strstr(o.problems[0], "cannot reach its minimum") != NULL, "%s", o.problems[0]);
	cr_expect(strstr(o.problems[2], "cannot reach its minimum") != NULL, "%s", o.problems[2]);
	/* 3 minimum + 400 unknown-devices + 2 (api, webconsole) shortfall... the
	 * rest is summarised */
	cr_expect(strstr(o.problems[PLAN_MAX_PROBLEMS - 1], "more problem(s) not shown") != NULL,
		  "%s", o.problems[PLAN_MAX_PROBLEMS - 1]);
	cr_expect_eq(o.n_actions, n, "one prober per agent");
	for (size_t i = 0; i < o.n_problems; i++)
		cr_expect_lt(strlen(o.problems[i]), PLAN_PROBLEM_MAX);
	plan_output_free(&o);
	free(ag);
	free(ids);
}

Test(plan, long_problem_lines_are_cut)
{
	char host[2000];
	memset(host, 'h', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	struct plan_agent ag = {.agent_id = "a1", .hostname = host, .active = true};
	struct plan_input in = {.now_ms = NOW, .agents = &ag, .n_agents = 1};
	plan_config_init(&in.config);
	struct plan_output o;
	cr_assert_eq(plan_compute(&in, &o), 0);
	cr_assert_eq(o.n_problems, 1);
	cr_expect_eq(strlen(o.problems[0]), PLAN_PROBLEM_MAX - 1);
	cr_expect(strcmp(o.problems[0] + PLAN_PROBLEM_MAX - 4, "...") == 0);
	plan_output_free(&o);
}

/* ---- invalid input ----------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *agents, *tasks, *history, *cfg;
	long long now;
	const char *error; /* substring of out.error */
};

static const struct bad_case bad_cases[] = {
	{"now is zero", "a1", NULL, NULL, NULL, -1, "now_ms"},
	{"duplicate agent", "a1; b1; a1", NULL, NULL, NULL, 0, "duplicate agent id 'a1'"},
	{"duplicate task", "a1", "t1 prober a1 - RUNNING; t2 prober a1 - FAILED; t1 registry a1 1 FAILED",
	 NULL, NULL, 0, "duplicate task id 't1'"},
	{"two histories for one slot", "a1", NULL, "data a1 1 N; data a1 2 N", NULL, 0,
	 "second entry for data"},
	{"negative grace", "a1", NULL, NULL, "grace=-1", 0, "negative duration"},
	{"negative backoff", "a1", NULL, NULL, "base=-5", 0, "negative duration"},
};

Test(plan, invalid_input_is_rejected_with_a_reason)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *b = &bad_cases[i];
		static struct world w;
		build(&w, b->cfg, "2.0", b->agents, b->tasks, b->history);
		if (b->now)
			w.in.now_ms = b->now < 0 ? 0 : b->now;
		struct plan_output o;
		int rv = plan_compute(&w.in, &o);
		cr_expect_eq(rv, QM_EINVAL, "%s: rv %d", b->name, rv);
		cr_expect(strstr(o.error, b->error) != NULL, "%s: error '%s'", b->name, o.error);
		cr_expect_eq(o.n_actions, 0, "%s", b->name);
		plan_output_free(&o);
	}
}

Test(plan, invalid_fields_are_rejected)
{
	static struct world w;
	struct plan_output o;
	cr_expect_eq(plan_compute(NULL, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", "t1 registry a1 1 RUNNING", NULL);
	w.tasks[0].service = (enum service)99;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strstr(o.error, "tasks[0]: service") != NULL, "%s", o.error);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", "t1 registry a1 1 RUNNING", NULL);
	w.tasks[0].state = PLAN_TASK_STATE_COUNT;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", "t1 registry a1 1 RUNNING", NULL);
	w.tasks[0].agent_id = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strstr(o.error, "missing task id or agent id") != NULL, "%s", o.error);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	w.agents[0].agent_id = "";
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	w.in.agents = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, "phosts=h1", "2.0", "a1", NULL, NULL);
	w.phosts[0] = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	/* error text from outside is made printable */
	build(&w, NULL, "2.0", "x\ny; x\ny", NULL, NULL);
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strchr(o.error, '\n') == NULL, "%s", o.error);
	plan_output_free(&o);
	cr_expect_eq(plan_compute(&w.in, NULL), QM_EINVAL);
}

/* ---- helpers ----------------------------------------------------------- */

Test(plan, backoff_delays)
{
	static const struct {
		long long base, max;
		unsigned failures;
		long long want;
	} t[] = {
		{1000, 60000, 0, 0},
		{1000, 60000, 1, 1000},
		{1000, 60000, 2, 2000},
		{1000, 60000, 3, 4000},
		{1000, 60000, 6, 32000},
		{1000, 60000, 7, 60000},
		{1000, 60000, 4000000000u, 60000},
		{0, 60000, 5, 0},
		{5000, 3000, 1, 3000},
		{LLONG_MAX / 2, LLONG_MAX, 5, LLONG_MAX},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect_eq(plan_backoff_ms(t[i].base, t[i].max, t[i].failures), t[i].want,
			     "base %lld max %lld failures %u", t[i].base, t[i].max,
			     t[i].failures);
}

Test(plan, state_names_and_terminality)
{
	static const struct {
		const char *name;
		bool terminal;
	} t[] = {
		{"LAUNCHING", false}, {"TASK_STAGING", false}, {"TASK_STARTING", false},
		{"TASK_RUNNING", false}, {"TASK_KILLING", false}, {"TASK_FINISHED", true},
		{"TASK_FAILED", true}, {"TASK_KILLED", true}, {"TASK_ERROR", true},
		{"TASK_LOST", true}, {"TASK_DROPPED", true}, {"TASK_UNREACHABLE", false},
		{"TASK_GONE", true}, {"TASK_GONE_BY_OPERATOR", true}, {"TASK_UNKNOWN", false},
	};
	cr_assert_eq(sizeof t / sizeof t[0], PLAN_TASK_STATE_COUNT);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum plan_task_state s;
		cr_assert_eq(plan_task_state_parse(t[i].name, &s), 0, "%s", t[i].name);
		cr_expect_str_eq(plan_task_state_name(s), t[i].name);
		cr_expect_eq(plan_task_state_terminal(s), t[i].terminal, "%s", t[i].name);
	}
	enum plan_task_state s;
	cr_expect_eq(plan_task_state_parse("RUNNING", &s), QM_EINVAL);
	cr_expect_eq(plan_task_state_parse("task_running", &s), QM_EINVAL);
	cr_expect_str_eq(plan_task_state_name(PLAN_TASK_STATE_COUNT), "?");
	cr_expect_str_eq(service_name(SERVICE_COUNT), "?");
	cr_expect_str_eq(plan_kill_reason_name(PLAN_KILL_UPGRADE), "upgrade");
	cr_expect_eq(plan_phase_of(SERVICE_WEBCONSOLE), PLAN_PHASE_MANAGEMENT);
	cr_expect_eq(plan_phase_of(SERVICE_PROBER), PLAN_PHASE_PROBERS);
	cr_expect_str_eq(plan_phase_name(PLAN_PHASE_MANAGEMENT), "api+webconsole");
}

Test(plan, config_defaults)
{
	struct plan_config c;
	memset(&c, 0xff, sizeof c);
	plan_config_init(&c);
	cr_expect_eq(c.api_count, 1);
	cr_expect_eq(c.webconsole_count, 1);
	cr_expect_not(c.client_enabled);
	cr_expect_null(c.api_restriction.name);
	cr_expect_eq(c.n_prober_hosts, 0);
	cr_expect_gt(c.removal_grace_ms, 0);
	cr_expect_gt(c.backoff_max_ms, c.backoff_base_ms);
	cr_expect(c.health_checked & (1u << SERVICE_REGISTRY));
	cr_expect_not(c.health_checked & (1u << SERVICE_API));
}

/* ---- multi-step runs through a fake shell --------------------------------
 * The fake shell does what the real one will: a LAUNCH becomes a task that
 * is LAUNCHING, then RUNNING with unknown health, then healthy, one step at
 * a time; a KILL makes the task KILLED the step after; unwanted_since is
 * stored back. Time advances 1 s per step. */

struct sim {
	struct world w;
	int step;
	unsigned seq;
	char ids[MAXT][24];
	char vers[MAXT][16];
	char target[16];
};

static void sim_advance(struct sim *s)
{
	for (size_t i = 0; i < s->w.in.n_agents; i++)
		s->w.agents[i].report.last_report_ms = s->w.in.now_ms;
	for (size_t i = 0; i < s->w.in.n_tasks; i++) {
		struct plan_task *t = &s->w.tasks[i];
		if (t->kill_requested && !plan_task_state_terminal(t->state)) {
			t->state = PLAN_TASK_KILLED;
		} else if (t->state == PLAN_TASK_LAUNCHING) {
			t->state = PLAN_TASK_RUNNING;
		} else if (t->state == PLAN_TASK_RUNNING && t->health == PLAN_HEALTH_UNKNOWN) {
			t->health = PLAN_HEALTH_OK;
		}
	}
}

/* Ready as plan.h defines it: health must have passed where checked. */
static bool task_ok(const struct plan_config *c, const struct plan_task *t)
{
	bool checked = c->health_checked & (1u << t->service);
	return t->state == PLAN_TASK_RUNNING && !t->kill_requested &&
	       (checked ? t->health == PLAN_HEALTH_OK : t->health != PLAN_HEALTH_FAILING);
}

/* Apply one plan; returns the number of actions. */
static size_t sim_apply(struct sim *s, const struct plan_output *o)
{
	struct world *w = &s->w;
	for (size_t i = 0; i < w->in.n_tasks; i++)
		w->tasks[i].unwanted_since_ms = o->unwanted_since_ms[i];
	for (size_t i = 0; i < o->n_actions; i++) {
		const struct plan_action *a = &o->actions[i];
		if (a->type == PLAN_KILL) {
			w->tasks[task_index(w, a->task_id)].kill_requested = true;
			continue;
		}
		cr_assert_lt(w->in.n_tasks, MAXT);
		size_t n = w->in.n_tasks++;
		struct plan_task *t = &w->tasks[n];
		memset(t, 0, sizeof *t);
		snprintf(s->ids[n], sizeof s->ids[n], "t%u", s->seq++);
		t->task_id = s->ids[n];
		t->service = a->type == PLAN_LAUNCH_PROBER ? SERVICE_PROBER : a->service;
		t->agent_id = w->agents[agent_index(w, a->agent_id)].agent_id;
		if (a->version) {
			snprintf(s->vers[n], sizeof s->vers[n], "%s", a->version);
			t->version = s->vers[n];
		}
		t->state = PLAN_TASK_LAUNCHING;
		t->launched_ms = w->in.now_ms;
	}
	return o->n_actions;
}

static void sim_set_target(struct sim *s, const char *v)
{
	if (!v) {
		s->w.in.target_version = NULL;
		return;
	}
	snprintf(s->target, sizeof s->target, "%s", v);
	s->w.in.target_version = s->target;
}

static size_t count_live(const struct world *w, enum service svc, const char *version)
{
	size_t n = 0;
	for (size_t i = 0; i < w->in.n_tasks; i++) {
		const struct plan_task *t = &w->tasks[i];
		if (t->service == svc && !plan_task_state_terminal(t->state) &&
		    (!version || (t->version && strcmp(t->version, version) == 0)))
			n++;
	}
	return n;
}

Test(plan, deployment_from_scratch_follows_the_phases)
{
	static struct sim s;
	build(&s.w, "client", NULL, "a1 R1 M1 D1 boot mount; a2 R1 D2; a3 R1 M1 mount; a4", NULL, NULL);
	sim_set_target(&s, "1.0");
	int first_launch[PLAN_PHASE_COUNT];
	for (int p = 0; p < PLAN_PHASE_COUNT; p++)
		first_launch[p] = -1;
	int quiet = 0;
	for (s.step = 0; s.step < 60 && quiet < 3; s.step++) {
		struct plan_output o;
		cr_assert_eq(plan_compute(&s.w.in, &o), 0, "%s", o.error);
		for (size_t i = 0; i < o.n_actions; i++) {
			const struct plan_action *a = &o.actions[i];
			cr_assert_neq(a->type, PLAN_KILL, "step %d: unexpected kill of %s",
				      s.step, a->task_id);
			enum plan_phase p = plan_phase_of(a->service);
			if (first_launch[p] < 0)
				first_launch[p] = s.step;
			/* Rule 5: a launch only when every earlier phase's wanted
			 * tasks are ready. */
			for (int q = PLAN_PHASE_REGISTRY; q < (int)p; q++)
				cr_expect_eq(o.progress[q].ready, o.progress[q].wanted,
					     "step %d: %s launched while %s is %u/%u", s.step,
					     service_name(a->service),
					     plan_phase_name((enum plan_phase)q),
					     o.progress[q].ready, o.progress[q].wanted);
		}
		quiet = o.n_actions ? 0 : quiet + 1;
		cr_expect_eq(o.want_offers, o.n_actions > 0);
		sim_apply(&s, &o);
		plan_output_free(&o);
		sim_advance(&s);
		s.w.in.now_ms += 1000;
	}
	cr_assert_eq(quiet, 3, "the deployment never settled");
	for (int p = PLAN_PHASE_METADATA; p < PLAN_PHASE_COUNT; p++)
		cr_expect_gt(first_launch[p], first_launch[p - 1],
			     "phase %s started at step %d, before %s (step %d)",
			     plan_phase_name((enum plan_phase)p), first_launch[p],
			     plan_phase_name((enum plan_phase)(p - 1)), first_launch[p - 1]);
	cr_expect_eq(count_live(&s.w, SERVICE_PROBER, NULL), 4);
	cr_expect_eq(count_live(&s.w, SERVICE_REGISTRY, "1.0"), 3);
	cr_expect_eq(count_live(&s.w, SERVICE_METADATA, "1.0"), 2);
	cr_expect_eq(count_live(&s.w, SERVICE_DATA, "1.0"), 2);
	cr_expect_eq(count_live(&s.w, SERVICE_API, "1.0"), 1);
	cr_expect_eq(count_live(&s.w, SERVICE_WEBCONSOLE, "1.0"), 1);
	cr_expect_eq(count_live(&s.w, SERVICE_CLIENT, "1.0"), 2);
	/* the idle agent takes the management services */
	for (size_t i = 0; i < s.w.in.n_tasks; i++)
		if (s.w.tasks[i].service == SERVICE_API)
			cr_expect_str_eq(s.w.tasks[i].agent_id, "a4");

	struct plan_output o;
	cr_assert_eq(plan_compute(&s.w.in, &o), 0);
	cr_expect_eq(o.n_problems, 0, "steady cluster reports: %s",
		     o.n_problems ? o.problems[0] : "");
	for (int p = 0; p < PLAN_PHASE_COUNT; p++)
		cr_expect_eq(o.progress[p].ready, o.progress[p].wanted);
	plan_output_free(&o);

	/* Rolling upgrade: one task at a time, only while the rest is ready. */
	sim_set_target(&s, "2.0");
	size_t upgrade_kills = 0;
	quiet = 0;
	for (int step = 0; step < 200 && quiet < 3; step++) {
		cr_assert_eq(plan_compute(&s.w.in, &o), 0, "%s", o.error);
		size_t kills = 0;
		for (size_t i = 0; i < o.n_actions; i++) {
			const struct plan_action *a = &o.actions[i];
			if (a->type == PLAN_KILL) {
				cr_expect_eq(a->kill_reason, PLAN_KILL_UPGRADE, "%s", a->reason);
				kills++;
				/* every other wanted service task is healthy */
				for (size_t j = 0; j < s.w.in.n_tasks; j++) {
					const struct plan_task *t = &s.w.tasks[j];
					if (t->service == SERVICE_PROBER || strcmp(t->task_id, a->task_id) == 0 ||
					    plan_task_state_terminal(t->state))
						continue;
					cr_expect(task_ok(&s.w.in.config, t),
						  "upgrade kill of %s while %s (%s %s health %d) is not healthy",
						  a->task_id, t->task_id, service_name(t->service),
						  plan_task_state_name(t->state), t->health);
				}
			} else {
				cr_expect_eq(a->type, PLAN_LAUNCH);
				cr_expect_str_eq(a->version, "2.0");
			}
		}
		cr_expect_leq(kills, 1, "more than one replacement at a time");
		upgrade_kills += kills;
		quiet = o.n_actions ? 0 : quiet + 1;
		sim_apply(&s, &o);
		plan_output_free(&o);
		sim_advance(&s);
		s.w.in.now_ms += 1000;
	}
	cr_assert_eq(quiet, 3, "the upgrade never settled");
	cr_expect_eq(upgrade_kills, 11, "each of the 11 service tasks replaced once");
	cr_expect_eq(count_live(&s.w, SERVICE_REGISTRY, "2.0"), 3);
	cr_expect_eq(count_live(&s.w, SERVICE_DATA, "2.0"), 2);
	cr_expect_eq(count_live(&s.w, SERVICE_CLIENT, "2.0"), 2);
	cr_expect_eq(count_live(&s.w, SERVICE_REGISTRY, "1.0"), 0);
	cr_expect_eq(count_live(&s.w, SERVICE_PROBER, NULL), 4, "probers untouched");

	/* Shut down: every service task goes in one plan, probers stay. */
	sim_set_target(&s, NULL);
	cr_assert_eq(plan_compute(&s.w.in, &o), 0);
	cr_expect_eq(o.n_actions, 11);
	cr_expect_not(o.want_offers);
	sim_apply(&s, &o);
	plan_output_free(&o);
	sim_advance(&s);
	s.w.in.now_ms += 1000;
	cr_assert_eq(plan_compute(&s.w.in, &o), 0);
	cr_expect_eq(o.n_actions, 0);
	cr_expect_eq(o.n_problems, 0, "%s", o.n_problems ? o.problems[0] : "");
	cr_expect_eq(count_live(&s.w, SERVICE_PROBER, NULL), 4);
	cr_expect_eq(count_live(&s.w, SERVICE_API, NULL), 0);
	plan_output_free(&o);
}

/* A data device removed, then re-added before the grace ends: nothing is
 * killed; removed for good: killed exactly once, when the grace ends. */
Test(plan, device_removal_grace_over_time)
{
	static struct sim s;
	build(&s.w, "grace=10000 stale=0", "1.0", AG3, PR3 CORE("1.0") MGMT("1.0"), NULL);
	struct plan_agent *a1 = &s.w.agents[agent_index(&s.w, "a1")];
	size_t d1 = task_index(&s.w, "d1");
	struct plan_output o;

	a1->report.data_devices = 0;
	cr_assert_eq(plan_compute(&s.w.in, &o), 0);
	cr_expect_eq(o.n_actions, 0);
	cr_expect_eq(o.unwanted_since_ms[d1], s.w.in.now_ms);
	cr_expect_eq(o.wake_ms, s.w.in.now_ms + 10000);
	sim_apply(&s, &o);
	plan_output_free(&o);

	s.w.in.now_ms += 5000;
	a1->report.data_devices = 1;
	cr_assert_eq(plan_compute(&s.w.in, &o), 0);
	cr_expect_eq(o.n_actions, 0);
	cr_expect_eq(o.unwanted_since_ms[d1], 0);
	sim_apply(&s, &o);
	plan_output_free(&o);

	a1->report.data_devices = 0;
	long long removed = s.w.in.now_ms;
	size_t kills = 0;
	for (int step = 0; step < 15; step++) {
		cr_assert_eq(plan_compute(&s.w.in, &o), 0);
		for (size_t i = 0; i < o.n_actions; i++) {
			cr_expect_eq(o.actions[i].type, PLAN_KILL);
			cr_expect_str_eq(o.actions[i].task_id, "d1");
			cr_expect_geq(s.w.in.now_ms - removed, 10000, "killed before the grace");
			kills++;
		}
		sim_apply(&s, &o);
		plan_output_free(&o);
		s.w.in.now_ms += 1000;
	}
	cr_expect_eq(kills, 1);
}
