/* Human output of the operator CLI (cli_render.h). */
#include "cli_render.h"

#include "cli_table.h"
#include "qm_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* o[k] if it is a string, else def. */
static const char *str(const cJSON *o, const char *k, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : def;
}

static double num(const cJSON *o, const char *k, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* -1 absent, 0 false, 1 true */
static int flag(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static const cJSON *arr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsArray(v) ? v : NULL;
}

static const cJSON *obj(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsObject(v) ? v : NULL;
}

static const char *yes_no(int b)
{
	return b < 0 ? "-" : b ? "yes" : "no";
}

/* One "LABEL  text" line; text is escaped. */
static void kv(FILE *f, const char *label, const char *text)
{
	char buf[CLI_CELL_MAX];
	fprintf(f, "%-12s %s\n", label, cli_escape(text, buf, sizeof buf));
}

/* A growing line of text, capped (an over-long one ends in "..."). */
struct line {
	char s[1024];
	size_t n;
};

static void line_add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_add(struct line *l, const char *fmt, ...)
{
	if (l->n >= sizeof l->s - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	l->n += (size_t)r;
	if (l->n >= sizeof l->s - 1) {
		l->n = sizeof l->s - 1;
		memcpy(l->s + sizeof l->s - 4, "...", 4);
	}
}

static void bytes_text(double b, char *out, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;
	while (b >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		b /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

/* A node's name for people: its hostname, else its agent ID. */
static const char *node_name(const cJSON *n)
{
	const char *h = str(n, "hostname", "");
	return h[0] ? h : str(n, "agent_id", "?");
}

/* Whether the node is drained, from whichever form the coordinator uses:
 * "drained": bool, or "drain": bool / string / {"state": ...}. */
static const char *drain_text(const cJSON *n)
{
	int d = flag(n, "drained");
	if (d >= 0)
		return d ? "yes" : "no";
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(n, "drain");
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "yes" : "no";
	if (cJSON_IsString(v) && v->valuestring)
		return v->valuestring;
	if (cJSON_IsObject(v))
		return str(v, "state", "yes");
	return "no";
}

static bool drained(const cJSON *n)
{
	return strcmp(drain_text(n), "no") != 0;
}

static const char *prober_text(const cJSON *n)
{
	const cJSON *p = obj(n, "prober");
	if (!p)
		return "-";
	if (flag(p, "stale") == 1)
		return "stale";
	return flag(p, "reporting") == 1 ? "reporting" : "not reporting";
}

/* ---------------------------------------------------------------- status */

static void problems(const cJSON *st, FILE *f)
{
	struct cli_table *t = NULL;
	const char *hdr[] = {"PROBLEMS"};
	t = cli_table_new(1, hdr);
	const cJSON *p;
	cJSON_ArrayForEach(p, arr(st, "problems"))
	{
		if (cJSON_IsString(p)) {
			const char *row[] = {p->valuestring};
			cli_table_add(t, row);
		}
	}
	const char *warn = str(obj(st, "security"), "warning", NULL);
	if (warn) {
		const char *row[] = {warn};
		cli_table_add(t, row);
	}
	const cJSON *n;
	cJSON_ArrayForEach(n, arr(st, "nodes"))
	{
		struct line l = {0};
		const char *name = node_name(n);
		if (flag(n, "active") == 0) {
			line_add(&l, "%s: the agent is not active", name);
			const char *row[] = {l.s};
			cli_table_add(t, row);
		}
		const char *pt = prober_text(n);
		if (!drained(n) && (strcmp(pt, "stale") == 0 || strcmp(pt, "not reporting") == 0)) {
			l.n = 0;
			line_add(&l, "%s: prober %s", name, pt);
			const char *row[] = {l.s};
			cli_table_add(t, row);
		}
		const cJSON *s;
		cJSON_ArrayForEach(s, arr(n, "services"))
		{
			const char *state = str(s, "state", "?");
			const char *health = str(s, "health", "unknown");
			if (strcmp(state, "TASK_RUNNING") == 0 && strcmp(health, "unhealthy") != 0)
				continue;
			l.n = 0;
			line_add(&l, "%s: %s %s", name, str(s, "service", "?"), state);
			if (strcmp(health, "unhealthy") == 0)
				line_add(&l, " (unhealthy)");
			const char *row[] = {l.s};
			cli_table_add(t, row);
		}
	}
	if (cli_table_rows(t)) {
		cli_table_print(t, f);
		fputc('\n', f);
	}
	cli_table_free(t);
}

static void coordinator_lines(const cJSON *st, FILE *f)
{
	struct line l = {0};
	int lead = flag(st, "leader");
	if (lead == 1)
		line_add(&l, "leader");
	else if (lead == 0)
		line_add(&l, "standby, the leader is %s", str(st, "leader_id", "unknown"));
	else
		line_add(&l, "%s", str(st, "status", "running"));
	line_add(&l, " (quobyte-coordinator %s", str(st, "coordinator_version", "?"));
	const cJSON *store = obj(st, "store");
	if (store)
		line_add(&l, ", %s store %s", str(store, "backend", "?"),
			 str(store, "location", "?"));
	line_add(&l, ")");
	kv(f, "COORDINATOR", l.s);

	const cJSON *m = obj(st, "mesos");
	if (m) {
		l.n = 0;
		line_add(&l, "%s", str(m, "phase", "?"));
		const char *master = str(m, "master", "");
		if (master[0])
			line_add(&l, ", master %s", master);
		const char *v = str(m, "version", "");
		if (v[0])
			line_add(&l, " (Mesos %s)", v);
		const char *fw = str(st, "framework_id", "");
		if (fw[0])
			line_add(&l, ", framework %s", fw);
		kv(f, "MESOS", l.s);
	}
}

struct vcount {
	const char *v;
	int n;
};

static void version_lines(const cJSON *st, FILE *f)
{
	const cJSON *r = obj(st, "rollout");
	const char *target = str(st, "target_version", str(r, "target_version", ""));
	const char *prev = str(r, "previous_version", "");
	struct line l = {0};
	line_add(&l, "target %s", target[0] ? target : "(none: services stopped)");
	if (prev[0])
		line_add(&l, ", previous %s", prev);
	/* what runs, counted per version (at most a handful of versions) */
	struct vcount vc[8];
	size_t nv = 0;
	int other = 0;
	const cJSON *n, *s;
	cJSON_ArrayForEach(n, arr(st, "nodes"))
	{
		cJSON_ArrayForEach(s, arr(n, "services"))
		{
			if (strcmp(str(s, "state", ""), "TASK_RUNNING") != 0)
				continue;
			const char *v = str(s, "version", "?");
			size_t i = 0;
			while (i < nv && strcmp(vc[i].v, v) != 0)
				i++;
			if (i == nv && nv == sizeof vc / sizeof vc[0]) {
				other++;
				continue;
			}
			if (i == nv)
				vc[nv++] = (struct vcount){v, 0};
			vc[i].n++;
		}
	}
	line_add(&l, "; running:");
	if (!nv)
		line_add(&l, " none");
	for (size_t i = 0; i < nv; i++)
		line_add(&l, "%s %s x%d", i ? "," : "", vc[i].v, vc[i].n);
	if (other)
		line_add(&l, ", other versions x%d", other);
	kv(f, "VERSION", l.s);

	l.n = 0;
	if (r && flag(r, "paused") == 1) {
		line_add(&l, "paused (quobyte-mesos resume continues it)");
	} else {
		const cJSON *p;
		bool done = true;
		cJSON_ArrayForEach(p, arr(st, "phases"))
		{
			double want = num(p, "wanted", 0), at = num(p, "at_target", 0);
			if (want > 0 && at < want) {
				line_add(&l, "%s %s %.0f/%.0f", done ? "in progress:" : ",",
					 str(p, "phase", "?"), at, want);
				done = false;
			}
		}
		if (done)
			line_add(&l, "%s", arr(st, "phases") ? "complete" : "-");
		else
			line_add(&l, " at target");
	}
	kv(f, "ROLLOUT", l.s);
}

static void nodes_table(const cJSON *st, FILE *f)
{
	const char *hdr[] = {"NODE",   "AGENT ID", "ACTIVE",  "DRAINED",
			     "PROBER", "DEVICES",  "SERVICES"};
	struct cli_table *t = cli_table_new(7, hdr);
	const cJSON *n;
	cJSON_ArrayForEach(n, arr(st, "nodes"))
	{
		int total = 0, running = 0;
		const cJSON *s;
		cJSON_ArrayForEach(s, arr(n, "services"))
		{
			total++;
			running += strcmp(str(s, "state", ""), "TASK_RUNNING") == 0;
		}
		char devs[16], svcs[32];
		snprintf(devs, sizeof devs, "%d", cJSON_GetArraySize(arr(n, "devices")));
		snprintf(svcs, sizeof svcs, "%d/%d running", running, total);
		const char *row[] = {
			node_name(n),  str(n, "agent_id", "-"), yes_no(flag(n, "active")),
			drain_text(n), prober_text(n),          devs,
			svcs};
		cli_table_add(t, row);
	}
	if (cli_table_rows(t)) {
		fputc('\n', f);
		cli_table_print(t, f);
	} else {
		fprintf(f, "\nno nodes known yet\n");
	}
	/* /v1/state gives a page of the nodes (rest.c): say when it is not all */
	double total = num(st, "nodes_total", -1), first = num(st, "nodes_offset", 0);
	int shown = cJSON_GetArraySize(arr(st, "nodes"));
	if (total > shown && shown > 0)
		fprintf(f,
			"(nodes %.0f-%.0f of %.0f; the lines above are about these; "
			"GET /v1/state?nodes_offset=%.0f gives the next)\n",
			first + 1, first + shown, total, first + shown);
	cli_table_free(t);
}

static void services_table(const cJSON *st, FILE *f)
{
	const char *hdr[] = {"NODE", "SERVICE", "STATE", "HEALTH", "VERSION", "NOTE"};
	struct cli_table *t = cli_table_new(6, hdr);
	const cJSON *n, *s;
	cJSON_ArrayForEach(n, arr(st, "nodes"))
	{
		cJSON_ArrayForEach(s, arr(n, "services"))
		{
			const char *note = str(s, "replacing", "");
			if (!note[0] && flag(s, "kill_requested") == 1)
				note = "kill requested";
			const char *row[] = {node_name(n),           str(s, "service", "?"),
					     str(s, "state", "?"),   str(s, "health", "-"),
					     str(s, "version", "-"), note};
			cli_table_add(t, row);
		}
	}
	if (cli_table_rows(t)) {
		fputc('\n', f);
		cli_table_print(t, f);
	}
	cli_table_free(t);
}

static void devices_table(const cJSON *st, FILE *f)
{
	const char *hdr[] = {"NODE", "DEVICE", "TYPES", "STATE", "FREE", "SIZE"};
	struct cli_table *t = cli_table_new(6, hdr);
	const cJSON *n, *d;
	cJSON_ArrayForEach(n, arr(st, "nodes"))
	{
		cJSON_ArrayForEach(d, arr(n, "devices"))
		{
			struct line types = {0};
			const cJSON *ty;
			cJSON_ArrayForEach(ty, arr(d, "types"))
			{
				if (cJSON_IsString(ty))
					line_add(&types, "%s%s", types.n ? "," : "",
						 ty->valuestring);
			}
			char fr[32] = "-", sz[32] = "-";
			if (num(d, "free_bytes", -1) >= 0)
				bytes_text(num(d, "free_bytes", 0), fr, sizeof fr);
			if (num(d, "size_bytes", -1) >= 0)
				bytes_text(num(d, "size_bytes", 0), sz, sizeof sz);
			const char *row[] = {node_name(n),
					     str(d, "root", "?"),
					     types.n ? types.s : "-",
					     str(d, "state", "-"),
					     fr,
					     sz};
			cli_table_add(t, row);
		}
	}
	if (cli_table_rows(t)) {
		fputc('\n', f);
		cli_table_print(t, f);
	}
	cli_table_free(t);
}

void cli_render_status(const cJSON *st, FILE *f)
{
	problems(st, f);
	coordinator_lines(st, f);
	if (strcmp(str(st, "status", ""), "standby") == 0) {
		kv(f, "NOTE", "a standby has no view of the cluster: ask the leader (--url)");
		return;
	}
	version_lines(st, f);
	nodes_table(st, f);
	services_table(st, f);
	devices_table(st, f);
}

/* ---------------------------------------------------------- reservations */

static void add_reservations(struct cli_table *t, const cJSON *list, bool releasable)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, list)
	{
		bool rel = flag(v, "releasable") == 1;
		if (rel != releasable)
			continue;
		const char *state = flag(v, "release_requested") == 1 ? "release requested"
				    : rel                             ? "yes"
								      : "no";
		const char *row[] = {str(v, "hostname", "-"),  str(v, "agent_id", "?"),
				     str(v, "service", "?"),   state,
				     str(v, "resources", "-"), str(v, "mount_disks", "")};
		cli_table_add(t, row);
	}
}

void cli_render_reservations(const cJSON *doc, FILE *f)
{
	const cJSON *list = arr(doc, "reservations");
	const char *hdr[] = {"NODE", "AGENT ID", "SERVICE", "RELEASABLE", "RESOURCES", "DISKS"};
	struct cli_table *t = cli_table_new(6, hdr);
	add_reservations(t, list, true);
	size_t nrel = cli_table_rows(t);
	add_reservations(t, list, false);
	if (!cli_table_rows(t)) {
		fprintf(f, "no reservations\n");
	} else {
		cli_table_print(t, f);
		fprintf(f, "\n%zu of %zu releasable%s\n", nrel, cli_table_rows(t),
			nrel ? "; release one with: quobyte-mesos release AGENT_ID SERVICE" : "");
	}
	cli_table_free(t);
}

/* ------------------------------------------------------- small answers */

void cli_render_rollout(const char *what, const cJSON *doc, FILE *f)
{
	struct line l = {0};
	line_add(&l, "%s", what);
	const char *target = str(doc, "target_version", NULL);
	if (target)
		line_add(&l, ": target version %s", target[0] ? target : "(none)");
	const char *prev = str(doc, "previous_version", "");
	if (prev[0])
		line_add(&l, ", previous %s", prev);
	int paused = flag(doc, "paused");
	if (paused >= 0)
		line_add(&l, ", rollout %s", paused ? "paused" : "running");
	char buf[CLI_CELL_MAX];
	fprintf(f, "%s\n", cli_escape(l.s, buf, sizeof buf));
}

void cli_render_fields(const cJSON *doc, FILE *f)
{
	const cJSON *v;
	char k[256], val[CLI_CELL_MAX];
	cJSON_ArrayForEach(v, doc)
	{
		if (!v->string)
			continue;
		cli_escape(v->string, k, sizeof k);
		if (cJSON_IsString(v))
			fprintf(f, "%s: %s\n", k, cli_escape(v->valuestring, val, sizeof val));
		else if (cJSON_IsBool(v))
			fprintf(f, "%s: %s\n", k, cJSON_IsTrue(v) ? "true" : "false");
		else if (cJSON_IsNumber(v))
			fprintf(f, "%s: %g\n", k, v->valuedouble);
	}
}

const char *cli_status_text(long status, char *out, size_t cap)
{
	static const struct {
		long code;
		const char *reason;
	} reasons[] = {
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{409, "Conflict"},
		{413, "Content Too Large"},
		{429, "Too Many Requests"},
		{500, "Internal Server Error"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
	};
	const char *r = NULL;
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0] && !r; i++)
		if (reasons[i].code == status)
			r = reasons[i].reason;
	if (r)
		snprintf(out, cap, "%ld %s", status, r);
	else
		snprintf(out, cap, "HTTP %ld", status);
	return out;
}
