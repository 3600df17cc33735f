/* The operator CLI's commands (cli_cmd.h). */
#include "cli_cmd.h"

#include "cli_render.h"
#include "cli_table.h"
#include "qm_error.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum render { R_STATUS, R_VERSION, R_ROLLOUT, R_RESERVATIONS, R_FIELDS };

struct cli_cmd {
	const char *name;
	const char *args; /* usage after the name */
	size_t min, max;  /* positional arguments */
	bool force;       /* takes --force */
	const char *call; /* the REST call, for help */
	enum render render;
	const char *done; /* for R_ROLLOUT/R_FIELDS: what happened */
	const char *help;
};

static const struct cli_cmd cmds[] = {
	{"status", "", 0, 0, false, "GET /v1/state", R_STATUS, NULL,
	 "the cluster at a glance: problems first, then the coordinator and Mesos, target "
	 "and running versions, the rollout, and per node its services and devices"},
	{"version", "[set VERSION]", 0, 2, false,
	 "GET /v1/version; with set: POST /v1/version (text/plain VERSION)", R_VERSION, NULL,
	 "show the target version of the Quobyte services, or set it (an empty VERSION, \"\", "
	 "stops every service); the old target is kept for rollback"},
	{"pause", "", 0, 0, false, "POST /v1/rollout/pause", R_ROLLOUT, "rollout paused",
	 "pause a rolling upgrade: no service is killed for its version while paused "
	 "(missing services still launch)"},
	{"resume", "", 0, 0, false, "POST /v1/rollout/resume", R_ROLLOUT, "rollout resumed",
	 "resume a paused rollout"},
	{"rollback", "", 0, 0, false, "POST /v1/rollout/rollback", R_ROLLOUT, "rolled back",
	 "make the previous target version the target again (a second rollback undoes the "
	 "first)"},
	{"drain", "NODE [--force]", 1, 1, true, "POST /v1/nodes/NODE/drain[?force=true]", R_FIELDS,
	 "drain requested",
	 "kill NODE's services (its reservations and devices stay) before maintenance; the "
	 "coordinator refuses when that would break registry quorum, unless --force"},
	{"undrain", "NODE", 1, 1, false, "POST /v1/nodes/NODE/undrain", R_FIELDS,
	 "undrain requested", "let NODE run its services again"},
	{"reservations", "", 0, 0, false, "GET /v1/reservations", R_RESERVATIONS, NULL,
	 "the coordinator's reservations, releasable ones first"},
	{"release", "AGENT_ID SERVICE", 2, 2, false, "DELETE /v1/reservations/AGENT_ID/SERVICE",
	 R_FIELDS, "release requested",
	 "release a reservation its service no longer needs (see reservations); the next "
	 "offer from that agent carries the UNRESERVE"},
};
static const size_t ncmds = sizeof cmds / sizeof cmds[0];

const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (size_t i = 0; name && i < ncmds; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int cli_cmd_check(const struct cli_args *a, char *err, size_t errlen)
{
	char buf[64];
	if (!a->cmd)
		return qm_fail(err, errlen, QM_EINVAL, "no command");
	const struct cli_cmd *c = cli_cmd_find(a->cmd);
	if (!c)
		return qm_fail(err, errlen, QM_EINVAL, "unknown command '%s'",
			       cli_escape(a->cmd, buf, sizeof buf));
	if (a->force && !c->force)
		return qm_fail(err, errlen, QM_EINVAL, "--force only goes with drain");
	if (strcmp(c->name, "version") == 0) {
		if (a->npos == 0 || (a->npos == 2 && strcmp(a->pos[0], "set") == 0))
			return 0;
		return qm_fail(err, errlen, QM_EINVAL, "usage: version [set VERSION]");
	}
	if (a->npos < c->min || a->npos > c->max)
		return qm_fail(err, errlen, QM_EINVAL, "usage: %s%s%s", c->name,
			       c->args[0] ? " " : "", c->args);
	for (size_t i = 0; i < a->npos; i++)
		if (!a->pos[i][0])
			return qm_fail(err, errlen, QM_EINVAL, "usage: %s %s (not empty)", c->name,
				       c->args);
	return 0;
}

int cli_cmd_request(const struct cli_args *a, struct cli_request *r)
{
	*r = (struct cli_request){0};
	const struct cli_cmd *c = cli_cmd_find(a->cmd);
	if (!c)
		return QM_EINVAL;
	const char *n = c->name;
	if (strcmp(n, "status") == 0) {
		r->method = "GET", r->path = qm_strdup("/v1/state");
	} else if (strcmp(n, "version") == 0 && a->npos == 2) {
		r->method = "POST", r->path = qm_strdup("/v1/version");
		r->ctype = "text/plain", r->body = a->pos[1];
	} else if (strcmp(n, "version") == 0) {
		r->method = "GET", r->path = qm_strdup("/v1/version");
	} else if (strcmp(n, "pause") == 0 || strcmp(n, "resume") == 0 ||
		   strcmp(n, "rollback") == 0) {
		size_t len = strlen("/v1/rollout/") + strlen(n) + 1;
		r->method = "POST", r->path = qm_malloc(len);
		snprintf(r->path, len, "/v1/rollout/%s", n);
	} else if (strcmp(n, "drain") == 0 || strcmp(n, "undrain") == 0) {
		char *node = cli_http_segment(a->pos[0]);
		size_t len = strlen("/v1/nodes//") + strlen(node) + strlen(n) +
			     strlen("?force=true") + 1;
		r->method = "POST", r->path = qm_malloc(len);
		snprintf(r->path, len, "/v1/nodes/%s/%s%s", node, n, a->force ? "?force=true" : "");
		free(node);
	} else if (strcmp(n, "reservations") == 0) {
		r->method = "GET", r->path = qm_strdup("/v1/reservations");
	} else if (strcmp(n, "release") == 0) {
		char *agent = cli_http_segment(a->pos[0]);
		char *svc = cli_http_segment(a->pos[1]);
		size_t len = strlen("/v1/reservations//") + strlen(agent) + strlen(svc) + 1;
		r->method = "DELETE", r->path = qm_malloc(len);
		snprintf(r->path, len, "/v1/reservations/%s/%s", agent, svc);
		free(agent);
		free(svc);
	} else {
		return QM_EINVAL;
	}
	return 0;
}

void cli_request_fini(struct cli_request *r)
{
	free(r->path);
	*r = (struct cli_request){0};
}

/* The server's complaint: its JSON "error" field, else the first line of
 * the body (escaped, capped), else nothing. */
static void server_reason(const struct cli_http_resp *resp, char *out, size_t cap)
{
	out[0] = '\0';
	cJSON *doc = cJSON_ParseWithLength(resp->body, resp->len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	if (cJSON_IsString(e) && e->valuestring) {
		cli_escape(e->valuestring, out, cap);
	} else if (!doc && resp->len) {
		char first[256];
		size_t n = strcspn(resp->body, "\r\n");
		if (n >= sizeof first)
			n = sizeof first - 1;
		memcpy(first, resp->body, n);
		first[n] = '\0';
		cli_escape(first, out, cap);
	}
	cJSON_Delete(doc);
}

static void show(const struct cli_cmd *c, const struct cli_args *a, const cJSON *doc, FILE *out)
{
	char buf[512];
	switch (c->render) {
	case R_STATUS:
		cli_render_status(doc, out);
		break;
	case R_RESERVATIONS:
		cli_render_reservations(doc, out);
		break;
	case R_VERSION:
		if (a->npos == 2) {
			cli_render_rollout("target version set", doc, out);
		} else {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "target_version");
			const char *s = cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
			fprintf(out, "%s\n",
				s[0] ? cli_escape(s, buf, sizeof buf)
				     : "(none: the services are stopped)");
		}
		break;
	case R_ROLLOUT:
		cli_render_rollout(c->done, doc, out);
		break;
	case R_FIELDS: {
		char who[300] = "";
		for (size_t i = 0; i < a->npos; i++) {
			char one[128];
			size_t k = strlen(who);
			snprintf(who + k, sizeof who - k, "%s%s", i ? " " : "",
				 cli_escape(a->pos[i], one, sizeof one));
		}
		fprintf(out, "%s: %s\n", who, c->done);
		cli_render_fields(doc, out);
		break;
	}
	}
}

int cli_cmd_run(const struct cli_args *a, const struct cli_http_opts *http, FILE *out, FILE *errf)
{
	const struct cli_cmd *c = cli_cmd_find(a->cmd);
	struct cli_request rq;
	if (!c || cli_cmd_request(a, &rq) != 0)
		return CLI_EXIT_USAGE;
	const char *what = strcmp(c->name, "version") == 0 && a->npos ? "version set" : c->name;
	struct cli_http_resp resp;
	char err[1024];
	int rv = cli_http_call(http, rq.method, rq.path, rq.ctype, rq.body,
			       rq.body ? strlen(rq.body) : 0, &resp, err, sizeof err);
	cli_request_fini(&rq);
	if (rv) {
		char esc[1200];
		fprintf(errf, "quobyte-mesos: %s: %s\n", what, cli_escape(err, esc, sizeof esc));
		return rv == QM_EINVAL    ? CLI_EXIT_USAGE
		       : rv == QM_ETOOBIG ? CLI_EXIT_REFUSED
					  : CLI_EXIT_UNREACHABLE;
	}
	char st[64];
	cli_status_text(resp.status, st, sizeof st);
	int ex = CLI_EXIT_OK;
	if (resp.status < 200 || resp.status > 299) {
		char why[1024];
		server_reason(&resp, why, sizeof why);
		fprintf(errf, "quobyte-mesos: %s: %s%s%s\n", what, st, why[0] ? ": " : "", why);
		ex = CLI_EXIT_REFUSED;
	} else {
		cJSON *doc = cJSON_ParseWithLength(resp.body, resp.len);
		if (!doc && resp.len) {
			fprintf(errf, "quobyte-mesos: %s: %s, but the answer is not JSON\n", what,
				st);
			ex = CLI_EXIT_REFUSED;
		} else if (a->o.json) {
			char *text = doc ? cJSON_Print(doc) : NULL;
			fprintf(out, "%s\n", text ? text : "{}");
			free(text);
		} else {
			show(c, a, doc, out);
		}
		cJSON_Delete(doc);
	}
	cli_http_resp_fini(&resp);
	return ex;
}

void cli_cmd_list(FILE *f)
{
	const char *hdr[] = {"COMMAND", "REST CALL"};
	struct cli_table *t = cli_table_new(2, hdr);
	for (size_t i = 0; i < ncmds; i++) {
		char use[64];
		snprintf(use, sizeof use, "%s%s%s", cmds[i].name, cmds[i].args[0] ? " " : "",
			 cmds[i].args);
		const char *row[] = {use, cmds[i].call};
		cli_table_add(t, row);
	}
	cli_table_print(t, f);
	cli_table_free(t);
}

void cli_cmd_usage(const struct cli_cmd *c, FILE *f)
{
	fprintf(f, "usage: quobyte-mesos [OPTIONS] %s%s%s\n\n%s.\n\nREST call: %s\n", c->name,
		c->args[0] ? " " : "", c->args, c->help, c->call);
	if (c->force)
		fprintf(f, "\n  --force  drain even when the coordinator says it would break "
			   "registry quorum\n");
	fprintf(f, "\nOptions and exit codes: quobyte-mesos --help\n");
}
