/* cli_render: the human views of /v1/state, /v1/reservations and the
 * small answers, from hand-written JSON in the coordinator's shapes
 * (coordinator/api/rest.c). */
#include "cli_render.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*render_fn)(const cJSON *, FILE *);

static char *render(render_fn fn, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	cr_assert(doc, "test JSON parses");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(doc, f);
	fclose(f);
	cJSON_Delete(doc);
	return buf;
}

static const char leader_state[] =
	"{\"framework_id\":\"fw-1\",\"subscribed\":true,"
	"\"mesos\":{\"phase\":\"subscribed\",\"master\":\"127.0.0.1:5050\",\"version\":\"1.11.0\"},"
	"\"leader\":true,\"target_version\":\"3.0.2\","
	"\"rollout\":{\"paused\":false,\"previous_version\":\"3.0.1\",\"target_version\":\"3.0.2\"}"
	","
	"\"coordinator_version\":\"0.1.0\",\"store\":{\"backend\":\"file\",\"location\":\"/s\"},"
	"\"phases\":[{\"phase\":\"registry\",\"wanted\":1,\"ready\":1,\"at_target\":1},"
	"{\"phase\":\"data\",\"wanted\":2,\"ready\":2,\"at_target\":1}],"
	"\"problems\":[\"data on agent2 waits for resources: no \\u001b[31mdisk\"],"
	"\"nodes\":[{\"agent_id\":\"S0\",\"hostname\":\"agent1\",\"active\":true,"
	"\"prober\":{\"reporting\":true,\"stale\":false},"
	"\"devices\":[{\"root\":\"/mnt/reg\",\"types\":[\"registry\"],\"state\":\"ready\","
	"\"free_bytes\":1073741824,\"size_bytes\":2147483648}],"
	"\"services\":[{\"service\":\"registry\",\"state\":\"TASK_RUNNING\",\"health\":\"healthy\","
	"\"version\":\"3.0.2\"},{\"service\":\"data\",\"state\":\"TASK_RUNNING\","
	"\"health\":\"healthy\",\"version\":\"3.0.1\",\"replacing\":\"version 3.0.1, target "
	"3.0.2\"}]},"
	"{\"agent_id\":\"S1\",\"hostname\":\"agent2\",\"active\":false,\"drained\":true,"
	"\"prober\":{\"reporting\":false,\"stale\":false},\"devices\":[],"
	"\"services\":[{\"service\":\"data\",\"state\":\"TASK_FAILED\",\"health\":\"unknown\"}]}]}";

Test(cli_render, status_of_a_leader)
{
	char *out = render(cli_render_status, leader_state);
	cr_assert_str_eq(
		out,
		"PROBLEMS\n"
		"data on agent2 waits for resources: no \\x1b[31mdisk\n"
		"agent2: the agent is not active\n"
		"agent2: data TASK_FAILED\n"
		"\n"
		"COORDINATOR  leader (quobyte-coordinator 0.1.0, file store /s)\n"
		"MESOS        subscribed, master 127.0.0.1:5050 (Mesos 1.11.0), framework fw-1\n"
		"VERSION      target 3.0.2, previous 3.0.1; running: 3.0.2 x1, 3.0.1 x1\n"
		"ROLLOUT      in progress: data 1/2 at target\n"
		"\n"
		"NODE    AGENT ID  ACTIVE  DRAINED  PROBER         DEVICES  SERVICES\n"
		"agent1  S0        yes     no       reporting      1        2/2 running\n"
		"agent2  S1        no      yes      not reporting  0        0/1 running\n"
		"\n"
		"NODE    SERVICE   STATE         HEALTH   VERSION  NOTE\n"
		"agent1  registry  TASK_RUNNING  healthy  3.0.2\n"
		"agent1  data      TASK_RUNNING  healthy  3.0.1    version 3.0.1, target 3.0.2\n"
		"agent2  data      TASK_FAILED   unknown  -\n"
		"\n"
		"NODE    DEVICE    TYPES     STATE  FREE     SIZE\n"
		"agent1  /mnt/reg  registry  ready  1.0 GiB  2.0 GiB\n");
	free(out);
}

/* A cluster bigger than /v1/state's page of nodes: said under the table. */
Test(cli_render, status_of_a_page_of_nodes_says_so)
{
	char *out = render(cli_render_status,
			   "{\"nodes_total\":5000,\"nodes_offset\":0,\"nodes\":["
			   "{\"agent_id\":\"S0\",\"hostname\":\"agent1\",\"active\":true,"
			   "\"prober\":{\"reporting\":true},\"devices\":[],\"services\":[]}]}");
	cr_assert(strstr(out, "(nodes 1-1 of 5000; the lines above are about these; "
			      "GET /v1/state?nodes_offset=1 gives the next)\n"),
		  "%s", out);
	free(out);
	/* all of them: nothing said */
	out = render(cli_render_status, leader_state);
	cr_assert_null(strstr(out, "(nodes "));
	free(out);
}

Test(cli_render, status_paused_complete_and_standby)
{
	char *out = render(cli_render_status,
			   "{\"leader\":true,\"target_version\":\"3\",\"rollout\":{\"paused\":true,"
			   "\"previous_version\":\"\",\"target_version\":\"3\"},\"phases\":[],"
			   "\"problems\":[],\"nodes\":[]}");
	cr_assert(strstr(out, "ROLLOUT      paused (quobyte-mesos resume continues it)\n"), "%s",
		  out);
	cr_assert(strstr(out, "VERSION      target 3; running: none\n"), "%s", out);
	cr_assert(strstr(out, "no nodes known yet"), "%s", out);
	cr_assert_null(strstr(out, "PROBLEMS"), "no problems, no section: %s", out);
	free(out);
	out = render(cli_render_status,
		     "{\"leader\":true,\"target_version\":\"3\",\"rollout\":{\"paused\":false},"
		     "\"phases\":[{\"phase\":\"registry\",\"wanted\":1,\"at_target\":1},"
		     "{\"phase\":\"api\",\"wanted\":0,\"at_target\":0}],\"nodes\":[]}");
	cr_assert(strstr(out, "ROLLOUT      complete\n"), "%s", out);
	free(out);
	out = render(cli_render_status,
		     "{\"status\":\"standby\",\"leader\":false,\"leader_id\":\"c1:7000\","
		     "\"coordinator_version\":\"0.1.0\"}");
	cr_assert(strstr(out, "COORDINATOR  standby, the leader is c1:7000"), "%s", out);
	cr_assert(strstr(out, "a standby has no view of the cluster"), "%s", out);
	cr_assert_null(strstr(out, "VERSION"), "%s", out);
	free(out);
}

Test(cli_render, status_survives_missing_and_odd_fields)
{
	char *out = render(cli_render_status,
			   "{\"nodes\":[{\"services\":[{}],\"devices\":[{\"types\":[1]}]},7],"
			   "\"problems\":[3,\"x\"],\"phases\":{}}");
	cr_assert(strstr(out, "PROBLEMS\nx\n"), "%s", out);
	free(out);
	out = render(cli_render_status, "[]");
	cr_assert(strstr(out, "COORDINATOR"), "%s", out);
	free(out);
}

Test(cli_render, drain_field_forms)
{
	char *out = render(cli_render_status,
			   "{\"nodes\":[{\"hostname\":\"a\",\"drain\":{\"state\":\"draining\"}},"
			   "{\"hostname\":\"b\",\"drain\":false},{\"hostname\":\"c\"}]}");
	cr_assert(strstr(out, "a     -         -       draining"), "%s", out);
	cr_assert(strstr(out, "b     -         -       no"), "%s", out);
	free(out);
}

Test(cli_render, reservations_releasable_first)
{
	char *out = render(
		cli_render_reservations,
		"{\"reservations\":[{\"agent_id\":\"S0\",\"hostname\":\"agent1\","
		"\"service\":\"registry\",\"resources\":\"cpus:1;mem:1024\",\"releasable\":false,"
		"\"release_requested\":false},{\"agent_id\":\"S1\",\"hostname\":\"agent2\","
		"\"service\":\"data\",\"resources\":\"cpus:2;mem:8192\",\"mount_disks\":\"/mnt/"
		"d1\","
		"\"releasable\":true,\"release_requested\":false}]}");
	cr_assert_str_eq(
		out,
		"NODE    AGENT ID  SERVICE   RELEASABLE  RESOURCES        DISKS\n"
		"agent2  S1        data      yes         cpus:2;mem:8192  /mnt/d1\n"
		"agent1  S0        registry  no          cpus:1;mem:1024\n"
		"\n"
		"1 of 2 releasable; release one with: quobyte-mesos release AGENT_ID SERVICE\n");
	free(out);
	out = render(cli_render_reservations, "{\"reservations\":[]}");
	cr_assert_str_eq(out, "no reservations\n");
	free(out);
}

static void paused(const cJSON *doc, FILE *f)
{
	cli_render_rollout("rollout paused", doc, f);
}

Test(cli_render, small_answers)
{
	char *out = render(paused, "{\"paused\":true,\"previous_version\":\"3.0.1\","
				   "\"target_version\":\"3.0.2\"}");
	cr_assert_str_eq(out,
			 "rollout paused: target version 3.0.2, previous 3.0.1, rollout paused\n");
	free(out);
	out = render(cli_render_fields, "{\"status\":\"line\\none\",\"n\":2,\"ok\":true,"
					"\"skip\":{}}");
	cr_assert_str_eq(out, "status: line\\none\nn: 2\nok: true\n");
	free(out);
	char b[64];
	cr_assert_str_eq(cli_status_text(409, b, sizeof b), "409 Conflict");
	cr_assert_str_eq(cli_status_text(418, b, sizeof b), "HTTP 418");
}
