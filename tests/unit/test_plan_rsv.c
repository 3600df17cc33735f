/* Planner tests for the resource rules (plan.h rules 11-13) and the
 * partition rules they lean on (rule 9): reservations and their release,
 * inverse offers against the registry quorum, maintenance windows in a
 * rolling upgrade, and which of two copies of a task survives.
 *
 * The world is written in test_plan.c's mini-language (plan_fixture.h),
 * plus:
 *   agents   "maint=START/DURATION" (DURATION 0 = open-ended)
 *   cfg      "noreserve look=T"
 *   rsv      "svc agent [release]; ..." the reservations the shell knows
 *   inverse  "id agent; ..." inverse offers
 *   actions  as in test_plan.c, plus "unreserve svc agent", "accept id
 *            agent", "decline id agent"; a LAUNCH or LAUNCH_PROBER that
 *            reserves ends in " +r"
 *   releasable  "1 0 1": releasable[] parallel to rsv */
#include "plan_fixture.h"

/* Three registries: h1 and h2 carry only one, h3 everything else. */
#define AGQ "a1 host=h1 R1; a2 host=h2 R1; a3 host=h3 R1 M1 D1"
#define PRQ "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; p3 prober a3 - RUNNING; "
#define REGQ(v) "r1 registry a1 " v " RUNNING ok; r2 registry a2 " v " RUNNING ok; " \
	"r3 registry a3 " v " RUNNING ok; "
#define RESTQ(v) "m3 metadata a3 " v " RUNNING ok; d3 data a3 " v " RUNNING ok; " \
	"x1 api a1 " v " RUNNING; w1 webconsole a2 " v " RUNNING; "
#define ALLQ(v) PRQ REGQ(v) RESTQ(v)

struct rcase {
	const char *name;
	const char *cfg;
	const char *target;
	const char *agents;
	const char *tasks;
	const char *history;
	const char *rsv;
	const char *inverse;
	const char *actions;      /* exact, in order, with " +r" marks */
	const char *problems[6];  /* each a substring of some problem line */
	const char *absent[4];    /* substrings no problem line may contain */
	const char *releasable;   /* "1 0": parallel to rsv */
	bool check_wake;
	long long wake;
};

static const struct rcase cases[] = {
	/* ---- rule 11: which launches reserve ------------------------------ */
	{
		.name = "a prober launch reserves",
		.agents = "a1 noreport",
		.actions = "prober a1 +r",
	},
	{
		.name = "pinned services reserve",
		.cfg = "client",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 mount",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.actions = "launch client a1 2.0 +r",
	},
	{
		.name = "api and webconsole never reserve",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0"),
		.actions = "launch webconsole a2 2.0; launch api a3 2.0",
	},
	{
		.name = "reserve off: nothing reserves",
		.cfg = "noreserve",
		.target = "2.0",
		.agents = "a1 R1; a2 noreport",
		.tasks = "p1 prober a1 - RUNNING",
		.actions = "prober a2; launch registry a1 2.0",
	},

	/* ---- rule 11: releasable ------------------------------------------- */
	{
		.name = "releasable: unwanted and no live task; wanted or live is not",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "m9 metadata a2 2.0 FAILED",
		.rsv = "registry a1; registry a2; metadata a2; data a2; prober a3; api a3; webconsole a1",
		.actions = "",
		.releasable = "0 1 1 0 0 0 1",
	},
	{
		.name = "releasable: a wanted slot whose task is not launched yet is kept",
		.target = "2.0",
		.agents = "a1 R1 M1",
		.tasks = "p1 prober a1 - RUNNING",
		.rsv = "registry a1; metadata a1; data a1",
		.actions = "launch registry a1 2.0 +r",
		.releasable = "0 0 1",
	},
	{
		.name = "releasable: the device is gone but the task waits out its grace",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a2 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING; d2 data a2 2.0 RUNNING ok",
		.rsv = "data a2",
		.actions = "",
		.problems = {"data on a2 is no longer wanted (no DATA device left); it is killed in 300000 ms"},
		.releasable = "0",
	},
	{
		.name = "releasable: unknown inventory is not releasable (except a disabled client)",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 noreport",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.rsv = "registry a2; metadata a2; data a2; client a2",
		.actions = "",
		.releasable = "0 0 0 1",
	},
	{
		.name = "releasable: a client slot of unknown inventory is kept while clients are enabled",
		.cfg = "client",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 noreport",
		.tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "m1 metadata a1 2.0 RUNNING ok; d1 data a1 2.0 RUNNING ok; "
			 "x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.rsv = "client a2; client a1",
		.actions = "",
		.releasable = "0 1",
	},
	{
		.name = "releasable: an inactive agent is never releasable",
		.target = "2.0",
		.agents = AG3 "; a4 inactive; a5 inactive R1",
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.rsv = "registry a4; data a4; prober a4; registry a5",
		.actions = "",
		.releasable = "0 0 0 0",
	},
	{
		.name = "releasable: an unknown agent is, unless a live task names it",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "r9 registry zz 2.0 RUNNING; d9 data yy 2.0 FAILED",
		.rsv = "registry zz; data zz; data yy",
		.actions = "",
		.problems = {"registry task r9 is on unknown agent zz"},
		.releasable = "0 1 1",
	},
	{
		.name = "releasable: an unreachable task keeps its reservation",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 UNREACHABLE; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.rsv = "registry a1",
		.actions = "",
		.releasable = "0",
	},
	{
		.name = "releasable: empty target frees Quobyte slots once their tasks are gone",
		.cfg = "pattr=quobyte:yes",
		.agents = "a1 R1 M1 attr=quobyte:yes; a2 D1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 KILLED; m1 metadata a1 2.0 RUNNING ok",
		.rsv = "registry a1; metadata a1; prober a1; prober a2; registry a2",
		.actions = "kill m1 shutdown",
		.releasable = "1 0 0 1 1",
	},

	/* ---- rule 11: release only on request ------------------------------ */
	{
		.name = "release requested and releasable: UNRESERVE",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.rsv = "registry a2 release; metadata a3 release; registry a1",
		.actions = "unreserve registry a2; unreserve metadata a3",
		.releasable = "1 1 0",
	},
	{
		.name = "release requested but still needed: a problem line, no UNRESERVE",
		.target = "2.0",
		.agents = AG3 "; a4 inactive; a5 host=h5 noreport; a6",
		.tasks = PR3 CORE("2.0") MGMT("2.0") "p5 prober a5 - RUNNING",
		.rsv = "registry a1 release; data a2 release; data a4 release; data a5 release; prober a6 release",
		.actions = "prober a6 +r",
		.problems = {"release of the registry reservation on a1 waits: a task of it is still live",
			     "release of the data reservation on a4 waits: the agent is inactive",
			     "release of the data reservation on h5 waits: the agent's devices are unknown",
			     "release of the prober reservation on a6 waits: the agent still passes the prober restriction",
			     "release of the data reservation on a2 waits: a task of it is still live"},
		.releasable = "0 0 0 0 0",
	},
	{
		.name = "release requested while the task is wanted but not launched: waits",
		.target = "2.0",
		.agents = "a1 R1",
		.tasks = "p1 prober a1 - RUNNING",
		.rsv = "registry a1 release",
		.actions = "launch registry a1 2.0 +r",
		.problems = {"release of the registry reservation on a1 waits: the plan still wants it there"},
		.releasable = "0",
	},
	{
		.name = "never automatic: device gone, no task, no request",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "r2 registry a2 2.0 KILLED",
		.rsv = "registry a2; metadata a2",
		.actions = "",
		.releasable = "1 1",
	},
	{
		.name = "never automatic: empty target",
		.agents = "a1 R1 M1 D1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 KILLED",
		.rsv = "registry a1; metadata a1; data a1",
		.actions = "",
		.releasable = "1 1 1",
	},
	{
		.name = "never automatic: agent unknown",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.rsv = "registry gone; prober gone",
		.actions = "",
		.releasable = "1 1",
	},
	{
		.name = "an agent that left: release on request",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0"),
		.rsv = "prober gone release; data gone release",
		.actions = "unreserve data gone; unreserve prober gone",
		.releasable = "1 1",
	},

	/* ---- rule 12: inverse offers --------------------------------------- */
	{
		.name = "inverse offer: quorum kept, accepted",
		.target = "2.0",
		.agents = AGQ,
		.tasks = ALLQ("2.0"),
		.inverse = "io1 a1",
		.actions = "accept io1 a1",
		.absent = {"quorum"},
	},
	{
		.name = "inverse offer: another registry not ready, declined",
		.target = "2.0",
		.agents = AGQ,
		.tasks = PRQ "r1 registry a1 2.0 RUNNING ok; r2 registry a2 2.0 STARTING; "
			 "r3 registry a3 2.0 RUNNING ok; " RESTQ("2.0"),
		.inverse = "io1 a1",
		.actions = "decline io1 a1",
		.problems = {"host h1: 1 of 3 registries would stay ready, a quorum needs 2"},
	},
	{
		.name = "inverse offers for two registry nodes: the first by agent id goes, the second waits",
		.target = "2.0",
		.agents = AGQ,
		.tasks = ALLQ("2.0"),
		.inverse = "io9 a2; io1 a1",
		.actions = "accept io1 a1; decline io9 a2",
		.problems = {"host h2: 1 of 3 registries would stay ready, a quorum needs 2"},
	},
	{
		.name = "inverse offer: a registry in its maintenance window does not count",
		.target = "2.0",
		.agents = "a1 host=h1 R1; a2 host=h2 R1; a3 host=h3 R1 M1 D1 maint=N-1000/0",
		.tasks = ALLQ("2.0"),
		.inverse = "io1 a1",
		.actions = "decline io1 a1",
		.problems = {"host h1: 1 of 3 registries would stay ready, a quorum needs 2"},
	},
	{
		/* An Unavailability without a duration lasts forever (mesos.proto,
		 * 1.4.0-1.11.0): nothing changes at its end, so no wake for it.
		 * The planner said LLONG_MAX, and the shell's now + (LLONG_MAX -
		 * now) overflowed (found by fuzz_events). */
		.name = "inverse offer: an open-ended window in progress arms no wake",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1; a2 host=h2 R1; a3 host=h3 R1 M1 D1 maint=N-1000/0",
		.tasks = ALLQ("2.0"),
		.inverse = "io1 a1",
		.actions = "decline io1 a1",
		.problems = {"host h1: 1 of 3 registries would stay ready, a quorum needs 2"},
		.check_wake = true, .wake = 0,
	},
	{
		.name = "inverse offer: a window that has ended does not matter",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1; a2 host=h2 R1; a3 host=h3 R1 M1 D1 maint=N-10000/5000",
		.tasks = ALLQ("2.0"),
		.inverse = "io1 a1",
		.actions = "accept io1 a1",
		.check_wake = true, .wake = 0,
	},
	{
		.name = "inverse offer: a window not yet begun does not count against the quorum",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1; a2 host=h2 R1; a3 host=h3 R1 M1 D1 maint=N+5000/1000",
		.tasks = ALLQ("2.0"),
		.inverse = "io1 a1",
		.actions = "accept io1 a1",
		.check_wake = true, .wake = NOW + 5000,
	},
	{
		.name = "inverse offer: a single registry cannot go",
		.target = "2.0",
		.agents = "a1 R1 M1 D1",
		.tasks = "p1 prober a1 - RUNNING; r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; x1 api a1 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.inverse = "io1 a1",
		.actions = "decline io1 a1",
		.problems = {"host a1: 0 of 1 registries would stay ready, a quorum needs 1"},
	},
	{
		.name = "inverse offer: a registry on an inactive agent is a quorum member",
		.target = "2.0",
		.agents = "a1 R1; a2 R1 inactive; a3 R1 M1 D1",
		.tasks = "p1 prober a1 - RUNNING; p3 prober a3 - RUNNING; r1 registry a1 2.0 RUNNING ok; "
			 "r2 registry a2 2.0 UNREACHABLE; r3 registry a3 2.0 RUNNING ok; " RESTQ("2.0"),
		.inverse = "io3 a3",
		.actions = "decline io3 a3",
		.problems = {"host a3: 1 of 3 registries would stay ready, a quorum needs 2"},
	},
	{
		.name = "inverse offer: no registry there, unknown agent, accepted",
		.target = "2.0",
		.agents = AGQ "; a4",
		.tasks = PRQ "r1 registry a1 2.0 RUNNING ok; r2 registry a2 2.0 STARTING; "
			 "r3 registry a3 2.0 STARTING; " RESTQ("2.0"),
		.inverse = "io4 a4; io5 zz",
		.actions = "prober a4 +r; accept io4 a4; accept io5 zz",
	},
	{
		.name = "inverse offer with an empty target: accepted",
		.agents = AGQ,
		.tasks = PRQ,
		.inverse = "io1 a1; io2 a2; io3 a3",
		.actions = "accept io1 a1; accept io2 a2; accept io3 a3",
	},
	{
		.name = "resource actions come after the task actions, by agent id",
		.target = "2.0",
		.agents = "a1 R1; b2 R1",
		.tasks = "p1 prober a1 - RUNNING; p2 prober b2 - RUNNING",
		.rsv = "data b2 release; data a1 release",
		.inverse = "io1 b2; io0 a1",
		.actions = "launch registry a1 2.0 +r; launch registry b2 2.0 +r; "
			   "unreserve data a1; decline io0 a1; unreserve data b2; decline io1 b2",
		.releasable = "1 1",
	},

	/* ---- rule 13: maintenance in a rolling upgrade --------------------- */
	{
		.name = "upgrade skips a node whose window starts soon",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N+720000/3600000; a2 D1; a3",
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill d2 upgrade",
		.problems = {"upgrade of registry on h1 waits: maintenance window starts in 12 min",
			     "upgrade of metadata on h1 waits: maintenance window starts in 12 min",
			     "upgrade of data on h1 waits: maintenance window starts in 12 min",
			     "replacing data on a2 (1.0)"},
		.check_wake = true, .wake = NOW + 720000 + 3600000,
	},
	{
		.name = "upgrade skips a node whose window is in progress (open-ended: no wake)",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N-1000/0; a2 D1; a3",
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill d2 upgrade",
		.problems = {"upgrade of registry on h1 waits: maintenance window is in progress"},
		.check_wake = true, .wake = 0,
	},
	{
		.name = "a window beyond the lookahead does not hold; wake when it enters",
		.cfg = "stale=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N+7200000/600000; a2 D1; a3",
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill r1 upgrade",
		.absent = {"maintenance"},
		.check_wake = true, .wake = NOW + 7200000 - 3600000,
	},
	{
		.name = "lookahead 0: only a window in progress holds",
		.cfg = "stale=0 look=0",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N+1000/600000; a2 D1; a3",
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill r1 upgrade",
		.absent = {"maintenance"},
	},
	{
		.name = "a window that ended does not hold",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N-900000/600000; a2 D1; a3",
		.tasks = PR3 CORE("1.0") MGMT("1.0"),
		.actions = "kill r1 upgrade",
		.absent = {"maintenance"},
	},
	{
		.name = "every old task held: no kill, only the waits",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N+60000/0; a2 D1; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.problems = {"upgrade of data on h1 waits: maintenance window starts in 1 min"},
		.absent = {"replacing"},
	},
	{
		.name = "a task that is not ready still blocks, even on a node in maintenance",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N-1000/0; a2 D1; a3",
		.tasks = PR3 "r1 registry a1 1.0 RUNNING ok; m1 metadata a1 2.0 STARTING; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.problems = {"waits for metadata on h1 to be running and healthy",
			     "upgrade of registry on h1 waits: maintenance window is in progress"},
	},
	{
		.name = "the only task not ready is old but held: it is not replaced",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1 maint=N-1000/0; a2 D1; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING bad; d2 data a2 1.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.problems = {"upgrade of data on h1 waits: maintenance window is in progress"},
	},
	{
		.name = "a drained node (inactive in its window) does not hold the others back",
		.target = "2.0",
		.agents = "a1 R1 M1 D1; a2 host=h2 D1 inactive maint=N-1000/0; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 UNREACHABLE; "
			 "x1 api a3 2.0 RUNNING; w1 webconsole a1 2.0 RUNNING",
		.actions = "kill d1 upgrade",
		.problems = {"h2 is inactive: data waits for it to return"},
	},
	{
		.name = "a replacement for a reason waits for the window too",
		.target = "2.0",
		.agents = "a1 host=h1 R1 M1 D1; a2 host=h2 D1 maint=N+60000/60000; a3",
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok replace=device-added; "
			 MGMT("2.0"),
		.actions = "",
		.problems = {"replacement of data on h2 waits: maintenance window starts in 1 min"},
		.absent = {"replacing"},
	},

	/* ---- rule 9: partitions --------------------------------------------- */
	{
		.name = "an unreachable registry is never launched a second time",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 UNREACHABLE; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; " MGMT("2.0"),
		.actions = "",
		.problems = {"registry on a1 is unreachable; waiting for it to return (pinned to its node)"},
	},
	{
		.name = "a partitioned agent: nothing of it is launched again anywhere",
		.target = "2.0",
		.agents = "a1 R1 M1 D1 inactive; a2 R1 M1 D1",
		.tasks = "p1 prober a1 - UNREACHABLE; p2 prober a2 - RUNNING; "
			 "r1 registry a1 2.0 UNREACHABLE; m1 metadata a1 2.0 UNKNOWN; d1 data a1 2.0 RUNNING ok; "
			 "r2 registry a2 2.0 RUNNING ok; m2 metadata a2 2.0 RUNNING ok; d2 data a2 2.0 RUNNING ok; "
			 "x1 api a2 2.0 RUNNING; w1 webconsole a2 2.0 RUNNING",
		.actions = "",
		.problems = {"a1 is inactive: registry, metadata, data wait for it to return"},
	},
	{
		.name = "a task back after its replacement started: the older one is killed",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") MGMT("2.0") "d9 data a2 2.0 RUNNING ok at=N-9000000",
		.actions = "kill d9 duplicate",
	},
	{
		.name = "back while its replacement is not ready: the ready one stays",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 STAGING at=N-1000; "
			 "d9 data a2 2.0 RUNNING ok at=N-9000000; " MGMT("2.0"),
		.actions = "kill d2 duplicate",
	},
	{
		.name = "both not ready: the newer one stays",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 "r1 registry a1 2.0 RUNNING ok; m1 metadata a1 2.0 RUNNING ok; "
			 "d1 data a1 2.0 RUNNING ok; d2 data a2 2.0 STAGING at=N-1000; "
			 "d9 data a2 2.0 RUNNING at=N-9000000; " MGMT("2.0"),
		.actions = "kill d9 duplicate",
	},
	{
		.name = "equal launch times: the larger task id stays",
		.agents = "a1",
		.tasks = "pa prober a1 - RUNNING at=N-5; pb prober a1 - RUNNING at=N-5",
		.actions = "kill pa duplicate",
	},
	{
		.name = "api back after its replacement: the returning one is killed",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 RUNNING at=N-9000000 us=N-400000; "
			 "x2 api a1 2.0 RUNNING at=N-60000; w1 webconsole a2 2.0 RUNNING",
		.actions = "kill x1 excess",
	},
	{
		.name = "api back while its replacement is still staging: the newer one wins",
		.target = "2.0",
		.agents = AG3,
		.tasks = PR3 CORE("2.0") "x1 api a3 2.0 RUNNING at=N-9000000 us=N-400000; "
			 "x2 api a1 2.0 STAGING at=N-1000; w1 webconsole a2 2.0 RUNNING",
		.actions = "kill x1 excess",
	},
};

static void run_case(const struct rcase *c)
{
	struct world *w = calloc(1, sizeof *w);
	build(w, c->cfg, c->target, c->agents, c->tasks, c->history);
	parse_reservations(w, c->rsv);
	parse_inverse(w, c->inverse);
	struct plan_output o;
	int rv = plan_compute(&w->in, &o);
	cr_assert_eq(rv, 0, "case '%s': plan_compute failed: %s", c->name, o.error);

	char acts[4096], probs[16384];
	render_actions_ex(&o, acts, sizeof acts, true);
	render_problems(&o, probs, sizeof probs);
	if (getenv("PLAN_DUMP"))
		fprintf(stderr, "== %s\n  actions: %s\n  wake: %lld\n%s", c->name, acts,
			o.wake_ms, probs);
	cr_expect_str_eq(acts, c->actions, "case '%s': actions\n  got:  %s\n  want: %s\nproblems:\n%s",
			 c->name, acts, c->actions, probs);
	cr_expect_eq(o.want_offers, actions_launch(c->actions), "case '%s': want_offers %d",
		     c->name, o.want_offers);
	expect_problems(c->name, &o, c->problems, 6, c->absent, 4);
	if (c->check_wake)
		cr_expect_eq(o.wake_ms, c->wake, "case '%s': wake_ms %lld, want %lld",
			     c->name, o.wake_ms, c->wake);

	cr_assert_eq(o.n_reservations, w->in.n_reservations);
	if (c->releasable) {
		const char *p = c->releasable;
		for (size_t i = 0; i < o.n_reservations; i++) {
			while (*p == ' ')
				p++;
			cr_assert(*p == '0' || *p == '1', "case '%s': releasable too short", c->name);
			cr_expect_eq(o.releasable[i], *p == '1',
				     "case '%s': releasable[%zu] (%s on %s) is %d", c->name, i,
				     service_name(w->rsv[i].service), w->rsv[i].agent_id,
				     o.releasable[i]);
			p++;
		}
	}
	/* Rule 11's promise: an UNRESERVE only for a requested, releasable
	 * reservation; the inverse answers carry their id and a reason. */
	for (size_t i = 0; i < o.n_actions; i++) {
		const struct plan_action *a = &o.actions[i];
		if (a->type == PLAN_UNRESERVE) {
			bool found = false;
			for (size_t r = 0; r < w->in.n_reservations; r++)
				found |= w->rsv[r].service == a->service &&
					 strcmp(w->rsv[r].agent_id, a->agent_id) == 0 &&
					 w->rsv[r].release_requested && o.releasable[r];
			cr_expect(found, "case '%s': UNRESERVE %s %s without a request",
				  c->name, service_name(a->service), a->agent_id);
			cr_expect(a->reason && *a->reason);
		}
		if (a->type == PLAN_ACCEPT_INVERSE || a->type == PLAN_DECLINE_INVERSE)
			cr_expect(a->inverse_offer_id && a->reason && *a->reason);
		if (a->type == PLAN_LAUNCH || a->type == PLAN_LAUNCH_PROBER) {
			bool mgmt = a->service == SERVICE_API || a->service == SERVICE_WEBCONSOLE;
			cr_expect_eq(a->reserve, !mgmt && w->in.config.reserve,
				     "case '%s': reserve of %s", c->name, service_name(a->service));
		} else {
			cr_expect_not(a->reserve);
		}
	}
	plan_output_free(&o);
	free(w);
}

PLAN_TABLE(plan_rsv, cases, run_case)

/* ---- determinism and ownership ----------------------------------------- */

Test(plan_rsv, independent_of_input_order)
{
	const char *agents = "a1 host=h1 R1 M1 D1 maint=N+60000/60000; a2 R1 D1; a3 R1; a4 inactive R1";
	const char *tasks = "p1 prober a1 - RUNNING; p2 prober a2 - RUNNING; p3 prober a3 - RUNNING; "
			    "r1 registry a1 1.0 RUNNING ok; r2 registry a2 1.0 RUNNING ok; "
			    "r3 registry a3 1.0 RUNNING ok; m1 metadata a1 1.0 RUNNING ok; "
			    "d1 data a1 1.0 RUNNING ok; d2 data a2 1.0 RUNNING ok; "
			    "x1 api a3 1.0 RUNNING; w1 webconsole a2 1.0 RUNNING";
	const char *rsv = "data a3 release; registry a1 release; prober zz release; client a2; "
			  "metadata a2 release; registry a4 release";
	const char *inv = "i3 a3; i1 a1; i2 a2; iz zz";

	static struct world w1, w2;
	build(&w1, "stale=0", "2.0", agents, tasks, NULL);
	parse_reservations(&w1, rsv);
	parse_inverse(&w1, inv);
	w2 = w1;
	/* w2 is a byte copy: re-point its arrays at its own storage, then
	 * reverse the resource arrays (the strings stay in w1's arena). */
	w2.in.agents = w2.agents;
	w2.in.tasks = w2.tasks;
	w2.in.history = w2.hist;
	w2.in.reservations = w2.rsv;
	w2.in.inverse_offers = w2.inv;
	size_t nr = w2.in.n_reservations, ni = w2.in.n_inverse_offers;
	for (size_t i = 0; i < nr / 2; i++) {
		struct plan_reservation t = w2.rsv[i];
		w2.rsv[i] = w2.rsv[nr - 1 - i];
		w2.rsv[nr - 1 - i] = t;
	}
	for (size_t i = 0; i < ni / 2; i++) {
		struct plan_inverse_offer t = w2.inv[i];
		w2.inv[i] = w2.inv[ni - 1 - i];
		w2.inv[ni - 1 - i] = t;
	}
	struct plan_output o1, o2;
	cr_assert_eq(plan_compute(&w1.in, &o1), 0, "%s", o1.error);
	cr_assert_eq(plan_compute(&w2.in, &o2), 0, "%s", o2.error);
	char a1[4096], a2[4096];
	render_actions_ex(&o1, a1, sizeof a1, true);
	render_actions_ex(&o2, a2, sizeof a2, true);
	cr_expect_str_eq(a1, a2);
	cr_expect(strstr(a1, "unreserve") && strstr(a1, "accept") && strstr(a1, "decline"),
		  "the scenario should produce every resource action: %s", a1);
	cr_assert_eq(o1.n_problems, o2.n_problems);
	for (size_t i = 0; i < o1.n_problems; i++)
		cr_expect_str_eq(o1.problems[i], o2.problems[i]);
	cr_expect_eq(o1.wake_ms, o2.wake_ms);
	for (size_t i = 0; i < nr; i++)
		cr_expect_eq(o1.releasable[i], o2.releasable[nr - 1 - i], "releasable[%zu]", i);
	plan_output_free(&o1);
	plan_output_free(&o2);
}

Test(plan_rsv, output_owns_its_strings)
{
	/* Heap input, freed before the output is read: under ASan this proves
	 * the output holds copies. */
	char *aid = strdup("agent-7"), *ioid = strdup("inverse-1");
	struct plan_agent ag = {.agent_id = aid, .active = true,
				.report = {.has_report = true, .last_report_ms = NOW}};
	struct plan_reservation r = {.service = SERVICE_DATA, .agent_id = aid,
				     .release_requested = true};
	struct plan_inverse_offer v = {.id = ioid, .agent_id = aid};
	struct plan_input in = {.now_ms = NOW, .target_version = "2.0",
				.agents = &ag, .n_agents = 1,
				.reservations = &r, .n_reservations = 1,
				.inverse_offers = &v, .n_inverse_offers = 1};
	plan_config_init(&in.config);
	struct plan_output o;
	cr_assert_eq(plan_compute(&in, &o), 0, "%s", o.error);
	free(aid);
	free(ioid);
	char acts[512];
	render_actions_ex(&o, acts, sizeof acts, true);
	cr_expect_str_eq(acts, "prober agent-7 +r; unreserve data agent-7; accept inverse-1 agent-7");
	cr_assert_eq(o.n_reservations, 1);
	cr_expect(o.releasable[0]);
	plan_output_free(&o);
	plan_output_free(&o);
	cr_expect_null(o.releasable);
	cr_expect_eq(o.n_reservations, 0);
}

Test(plan_rsv, no_launch_no_offers)
{
	/* UNRESERVE and inverse answers alone do not ask for offers. */
	static struct world w;
	build(&w, NULL, "2.0", AG3, PR3 CORE("2.0") MGMT("2.0"), NULL);
	parse_reservations(&w, "registry a2 release");
	parse_inverse(&w, "io a3");
	struct plan_output o;
	cr_assert_eq(plan_compute(&w.in, &o), 0, "%s", o.error);
	char acts[512];
	render_actions(&o, acts, sizeof acts);
	cr_expect_str_eq(acts, "unreserve registry a2; accept io a3");
	cr_expect_not(o.want_offers);
	plan_output_free(&o);
}

/* ---- invalid input ----------------------------------------------------- */

struct bad_rsv {
	const char *name;
	const char *cfg, *agents, *rsv, *inverse;
	const char *error; /* substring of out.error */
};

static const struct bad_rsv bad_cases[] = {
	{"duplicate reservation", NULL, "a1", "data a1; registry a1; data a1", NULL,
	 "second reservation for data on 'a1'"},
	{"duplicate inverse offer id", NULL, "a1; a2", NULL, "io1 a1; io2 a2; io1 a2",
	 "duplicate inverse offer id 'io1'"},
	{"negative maintenance duration", NULL, "a1 maint=N/-1", NULL, NULL,
	 "agents[0]: negative maintenance window"},
	{"negative lookahead", "look=-1", "a1", NULL, NULL, "negative duration"},
};

Test(plan_rsv, invalid_input_is_rejected_with_a_reason)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_rsv *b = &bad_cases[i];
		static struct world w;
		build(&w, b->cfg, "2.0", b->agents, NULL, NULL);
		parse_reservations(&w, b->rsv);
		parse_inverse(&w, b->inverse);
		struct plan_output o;
		int rv = plan_compute(&w.in, &o);
		cr_expect_eq(rv, QM_EINVAL, "%s: rv %d", b->name, rv);
		cr_expect(strstr(o.error, b->error) != NULL, "%s: error '%s'", b->name, o.error);
		cr_expect_eq(o.n_actions, 0, "%s", b->name);
		cr_expect_null(o.releasable, "%s", b->name);
		plan_output_free(&o);
	}
}

Test(plan_rsv, invalid_fields_are_rejected)
{
	static struct world w;
	struct plan_output o;

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	parse_reservations(&w, "data a1");
	w.rsv[0].agent_id = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strstr(o.error, "reservations[0]: missing agent id") != NULL, "%s", o.error);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	parse_reservations(&w, "data a1");
	w.rsv[0].service = SERVICE_COUNT;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strstr(o.error, "service out of range") != NULL, "%s", o.error);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	parse_inverse(&w, "io1 a1");
	w.inv[0].id = "";
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	cr_expect(strstr(o.error, "inverse_offers[0]: missing id") != NULL, "%s", o.error);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	parse_inverse(&w, "io1 a1");
	w.inv[0].agent_id = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	w.in.n_reservations = 1;
	w.in.reservations = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1", NULL, NULL);
	w.in.n_inverse_offers = 2;
	w.in.inverse_offers = NULL;
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);

	build(&w, NULL, "2.0", "a1 maint=-5/0", NULL, NULL);
	cr_expect_eq(plan_compute(&w.in, &o), QM_EINVAL);
	plan_output_free(&o);
}

Test(plan_rsv, config_defaults)
{
	struct plan_config c;
	memset(&c, 0, sizeof c);
	plan_config_init(&c);
	cr_expect(c.reserve);
	cr_expect_eq(c.maintenance_lookahead_ms, 60 * 60 * 1000);
}
