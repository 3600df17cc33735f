/* Tests of core/taskinfo.c. */
#include "core/taskspec.h"
#include "qm_error.h"
#include "taskspec_check.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------- */

/* What the master will read for an int64 field: the exact number token as
 * printed into the call (a Raw item), never a string. */
static void assert_int64_token(const cJSON *o, const char *key, const char *want)
{
	cJSON *copy = cJSON_CreateObject();
	cJSON_AddItemToObject(copy, key, cJSON_Duplicate(at(o, key), true));
	char *text = cJSON_PrintUnformatted(copy);
	char exp[96];
	snprintf(exp, sizeof exp, "{\"%s\":%s}", key, want);
	cr_assert_str_eq(text, exp);
	free(text);
	cJSON_Delete(copy);
}

/* Value of an environment variable in a TaskInfo, NULL if absent. */
static const char *env(const cJSON *task, const char *name)
{
	const cJSON *vars = at(at(at(task, "command"), "environment"), "variables");
	const cJSON *v;
	const char *found = NULL;
	cJSON_ArrayForEach(v, vars) {
		if (strcmp(str_at(v, "name"), name) == 0) {
			cr_assert_null(found, "variable %s twice", name);
			found = str_at(v, "value");
		}
	}
	return found;
}

static const char *label(const cJSON *task, const char *key)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, at(at(task, "labels"), "labels"))
		if (strcmp(str_at(l, "key"), key) == 0)
			return str_at(l, "value");
	return NULL;
}

static const char *param(const cJSON *docker, const char *key, int nth)
{
	const cJSON *p;
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(docker, "parameters");
	cJSON_ArrayForEach(p, params)
		if (strcmp(str_at(p, "key"), key) == 0 && nth-- == 0)
			return str_at(p, "value");
	return NULL;
}

static const cJSON *volume(const cJSON *container, const char *cpath)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, at(container, "volumes"))
		if (strcmp(str_at(v, "container_path"), cpath) == 0)
			return v;
	return NULL;
}

/* ---- TaskInfo builders ---------------------------------------------- */

struct built {
	cJSON *offer_json;
	struct taskspec_offer offer;
	struct taskspec_fit fit;
	cJSON *task;
};

static void fit_for(struct built *b, const struct taskspec_config *c,
		    enum service s)
{
	memset(b, 0, sizeof *b);
	parse_plain(&b->offer_json, &b->offer);
	struct taskspec_request r;
	taskspec_request_for(c, s, &r);
	r.mem_milli = 1000000; /* small so every service fits the test offer */
	cr_assert(taskspec_offer_take(&b->offer, &r, &b->fit), "%s", b->fit.reason);
}

static void built_free(struct built *b)
{
	cJSON_Delete(b->task);
	taskspec_fit_fini(&b->fit);
	taskspec_offer_free(&b->offer);
	cJSON_Delete(b->offer_json);
}

Test(taskspec, data_service_task)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.extra_service_config = "test.device_dir=/var/lib/quobyte/devices";
	struct built b;
	fit_for(&b, &c, SERVICE_DATA);
	const char *dirs[] = {"/mnt/disk1", "/mnt/disk2"};
	struct taskspec_service_params p = {
		.service = SERVICE_DATA,
		.task_id = "quobyte-data.node-1.00000000000000aa",
		.agent_id = "S1",
		.hostname = "node-1",
		.version = "3.0.1",
		.registry = "node-1:7861,node-2:7861",
		.host_ip = "10.0.0.11",
		.device_dirs = dirs,
		.ndevice_dirs = 2,
		.fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *t = b.task;
	check_schema(t, "TaskInfo", "task");

	cr_assert_str_eq(str_at(t, "name"), "quobyte-data.node-1");
	cr_assert_str_eq(str_at(at(t, "task_id"), "value"), p.task_id);
	cr_assert_str_eq(str_at(at(t, "agent_id"), "value"), "S1");
	cr_assert_eq(cJSON_GetArraySize(at(t, "resources")),
		     cJSON_GetArraySize(b.fit.resources));

	/* command: no shell, no command string at all */
	const cJSON *cmd = at(t, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_null(cJSON_GetObjectItem(cmd, "value"));
	cr_assert_null(cJSON_GetObjectItem(cmd, "arguments"));
	cr_assert_str_eq(env(t, "QUOBYTE_SERVICE"), "data");
	cr_assert_str_eq(env(t, "QUOBYTE_REGISTRY"), "node-1:7861,node-2:7861");
	cr_assert_str_eq(env(t, "QUOBYTE_RPC_PORT"), "7863");
	cr_assert_str_eq(env(t, "QUOBYTE_HTTP_PORT"), "31000");
	cr_assert_str_eq(env(t, "QUOBYTE_MAX_MEM_DATA"), "3072m", "3/4 of 4096 MB");
	cr_assert_str_eq(env(t, "QUOBYTE_EXTRA_SERVICE_CONFIG"),
			 "test.device_dir=/var/lib/quobyte/devices");
	cr_assert_str_eq(env(t, "HOST_IP"), "10.0.0.11");
	cr_assert_str_eq(env(t, "HOST"), "node-1");
	cr_assert_null(env(t, "QUOBYTE_API_PORT"));
	cr_assert_null(env(t, "QUOBYTE_MOUNT_POINT"));

	/* container */
	const cJSON *ct = at(t, "container");
	cr_assert_str_eq(str_at(ct, "type"), "DOCKER");
	const cJSON *dk = at(ct, "docker");
	cr_assert_str_eq(str_at(dk, "image"), "quay.io/quobyte/quobyte-server:3.0.1");
	cr_assert_str_eq(str_at(dk, "network"), "HOST");
	cr_assert(cJSON_IsTrue(at(dk, "privileged")));
	cr_assert(cJSON_IsFalse(at(dk, "force_pull_image")));
	cr_assert_str_eq(param(dk, "volume", 0), "/mnt/disk1:/mnt/disk1:rw,rshared");
	cr_assert_str_eq(param(dk, "volume", 1), "/mnt/disk2:/mnt/disk2:rw,rshared");
	cr_assert_null(param(dk, "pid", 0));
	const cJSON *v = volume(ct, "/dev");
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "host_path"), "/dev");
	cr_assert_str_eq(str_at(v, "mode"), "RW");
	v = volume(ct, "/lib/modules");
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "mode"), "RO");
	cr_assert_not_null(volume(ct, "/sys/bus"));
	cr_assert_null(volume(ct, "/mnt/disk1"), "propagation goes through parameters");

	/* health check on the status port actually allocated */
	const cJSON *hc = at(t, "health_check");
	cr_assert_str_eq(str_at(hc, "type"), "HTTP");
	cr_assert_eq(num_at(at(hc, "http"), "port"), 31000);
	cr_assert_str_eq(str_at(at(hc, "http"), "path"), "/");
	cr_assert_str_eq(str_at(at(hc, "http"), "scheme"), "http");
	cr_assert_eq(num_at(hc, "delay_seconds"), 15);
	cr_assert_eq(num_at(hc, "interval_seconds"), 10);
	cr_assert_eq(num_at(hc, "timeout_seconds"), 20);
	cr_assert_eq(num_at(hc, "consecutive_failures"), 3);
	cr_assert_eq(num_at(hc, "grace_period_seconds"), 300);

	/* int64 as an exact, unquoted number (1.4/1.5 refuse quoted ones) */
	assert_int64_token(at(at(t, "kill_policy"), "grace_period"), "nanoseconds",
			   "30000000000");

	cr_assert_str_eq(label(t, "service"), "data");
	cr_assert_str_eq(label(t, "version"), "3.0.1");
	cr_assert_str_eq(label(t, "hostname"), "node-1");

	const cJSON *d = at(t, "discovery");
	cr_assert_str_eq(str_at(d, "visibility"), "FRAMEWORK");
	cr_assert_str_eq(str_at(d, "name"), "quobyte-data");
	const cJSON *ports = at(at(d, "ports"), "ports");
	cr_assert_eq(cJSON_GetArraySize(ports), 2);
	cr_assert_eq(num_at(cJSON_GetArrayItem(ports, 0), "number"), 7863);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(ports, 0), "name"), "rpc");
	cr_assert_eq(num_at(cJSON_GetArrayItem(ports, 1), "number"), 31000);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(ports, 1), "name"), "http");

	/* no shell anywhere in the document */
	char *text = cJSON_PrintUnformatted(t);
	cr_assert_null(strstr(text, "\"shell\":true"));
	cr_assert_null(strstr(text, "/bin/sh"));
	free(text);
	built_free(&b);
}

Test(taskspec, api_and_client_tasks)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.shared_propagation = false;
	struct built b;
	char err[256] = "";

	fit_for(&b, &c, SERVICE_API);
	struct taskspec_service_params p = {
		.service = SERVICE_API, .task_id = "quobyte-api.node-1.0000000000000001",
		.agent_id = "S1", .hostname = "node-1", .version = "3.0",
		.registry = "registry.quobyte.local", .fit = &b.fit,
	};
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	/* no status port: a TCP check on the port the API serves on */
	const cJSON *hc = at(b.task, "health_check");
	cr_assert_str_eq(str_at(hc, "type"), "TCP");
	cr_assert_eq(num_at(at(hc, "tcp"), "port"), 31000);
	cr_assert_null(cJSON_GetObjectItem(hc, "http"));
	cr_assert_str_eq(env(b.task, "QUOBYTE_API_PORT"), "31000",
			 "7860 is not offered: lowest free");
	cr_assert_null(env(b.task, "QUOBYTE_RPC_PORT"));
	cr_assert_null(env(b.task, "HOST_IP"));
	cr_assert_str_eq(env(b.task, "QUOBYTE_MAX_MEM_API"), "768m");
	built_free(&b);

	fit_for(&b, &c, SERVICE_CLIENT);
	p.service = SERVICE_CLIENT;
	p.task_id = "quobyte-client.node-1.0000000000000002";
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	const cJSON *dk = at(at(b.task, "container"), "docker");
	cr_assert_str_eq(param(dk, "pid", 0), "host");
	cr_assert_str_eq(param(dk, "volume", 0), "/quobyte:/quobyte:rw,rshared");
	cr_assert_str_eq(env(b.task, "QUOBYTE_MOUNT_POINT"), "/quobyte");
	cr_assert_str_eq(env(b.task, "QUOBYTE_HTTP_PORT"), "31000");
	cr_assert_null(env(b.task, "QUOBYTE_MAX_MEM_CLIENT"));
	cr_assert_eq(num_at(at(at(b.task, "health_check"), "http"), "port"), 31000);
	built_free(&b);

	/* without shared propagation device dirs are plain RW volumes */
	fit_for(&b, &c, SERVICE_REGISTRY);
	const char *dirs[] = {"/var/lib/quobyte/devices/registry"};
	p.service = SERVICE_REGISTRY;
	p.task_id = "quobyte-registry.node-1.0000000000000003";
	p.device_dirs = dirs;
	p.ndevice_dirs = 1;
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *v = volume(at(b.task, "container"), dirs[0]);
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "mode"), "RW");
	cr_assert_str_eq(str_at(v, "host_path"), dirs[0]);
	cr_assert_null(param(at(at(b.task, "container"), "docker"), "volume", 0));
	built_free(&b);
}

Test(taskspec, service_task_rejects_bad_input)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	struct built b;
	fit_for(&b, &c, SERVICE_DATA);
	const char *evil_dir[] = {"/mnt/x:/etc:rw"};
	struct taskspec_service_params good = {
		.service = SERVICE_DATA, .task_id = "quobyte-data.h.0000000000000001",
		.agent_id = "S1", .hostname = "h", .version = "3.0",
		.registry = "h:7861", .fit = &b.fit,
	};
	struct taskspec_service_params p;
	char err[256];
	cJSON *t;

	p = good; p.version = "3.0;reboot";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert_null(t);
	cr_assert(strstr(err, "version"), "%s", err);
	p = good; p.version = "$(id)";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.registry = "h:7861;$(reboot)";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.registry = "";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.host_ip = "1.2.3.4 x";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.device_dirs = evil_dir; p.ndevice_dirs = 1;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.task_id = "a/b";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.hostname = "h\nX=1";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.service = SERVICE_PROBER;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.service = SERVICE_API;  /* fit has 2 ports, api wants 1 */
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "ports"), "%s", err);
	struct taskspec_fit nofit = {0};
	p = good; p.fit = &nofit;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), 0, "%s", err);
	cJSON_Delete(t);
	built_free(&b);
}

static const char cred[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

Test(taskspec, prober_command_task)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.prober_user = "root";
	struct built b;
	fit_for(&b, &c, SERVICE_PROBER);
	cr_assert_eq(fit_scalar(&b.fit, "cpus"), 100);
	const char *args[] = {"--log-level", "debug"};
	struct taskspec_prober_params p = {
		.task_id = "quobyte-prober.node-1.0000000000000001",
		.agent_id = "S1", .hostname = "node-1",
		.coordinator_url = "tcp://coord:7990", .credential_hex = cred,
		.device_dirs = "/var/lib/quobyte/devices",
		.args = args, .nargs = 2, .fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *t = b.task;
	check_schema(t, "TaskInfo", "task");
	cr_assert_null(cJSON_GetObjectItem(t, "container"));
	cr_assert_null(cJSON_GetObjectItem(t, "health_check"));
	const cJSON *cmd = at(t, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_str_eq(str_at(cmd, "value"), "/usr/local/bin/quobyte-prober");
	cr_assert_str_eq(str_at(cmd, "user"), "root");
	const cJSON *a = at(cmd, "arguments");
	cr_assert_eq(cJSON_GetArraySize(a), 3);
	cr_assert_str_eq(cJSON_GetArrayItem(a, 0)->valuestring, "quobyte-prober");
	cr_assert_str_eq(cJSON_GetArrayItem(a, 1)->valuestring, "--log-level");
	cr_assert_str_eq(cJSON_GetArrayItem(a, 2)->valuestring, "debug");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_COORDINATOR"), "tcp://coord:7990");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_AGENT_ID"), "S1");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_HOSTNAME"), "node-1");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_CREDENTIAL"), cred);
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_DEVICE_DIRS"), "/var/lib/quobyte/devices");
	cr_assert_null(env(t, "QUOBYTE_PROBER_DEVICE_ROOTS"));
	cr_assert_null(env(t, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT"));
	cr_assert_null(env(t, "QUOBYTE_PROBER_HOST_ROOT")); /* a host process */
	cr_assert_str_eq(label(t, "service"), "prober");
	assert_int64_token(at(at(t, "kill_policy"), "grace_period"), "nanoseconds",
			   "10000000000");
	built_free(&b);
}

Test(taskspec, prober_fetch_and_docker_tasks)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.prober_mode = TASKSPEC_PROBER_FETCH;
	c.prober_uri = "http://coord:8000/v1/prober";
	struct built b;
	fit_for(&b, &c, SERVICE_PROBER);
	struct taskspec_prober_params p = {
		.task_id = "quobyte-prober.node-1.0000000000000002",
		.agent_id = "S1", .hostname = "node-1",
		.coordinator_url = "tls+tcp://coord:7990", .credential_hex = cred,
		.device_roots = "/,/srv", .client_mount_point = "/quobyte",
		.fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	const cJSON *cmd = at(b.task, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_str_eq(str_at(cmd, "value"), "./quobyte-prober");
	const cJSON *u = cJSON_GetArrayItem(at(cmd, "uris"), 0);
	cr_assert_str_eq(str_at(u, "value"), "http://coord:8000/v1/prober");
	cr_assert(cJSON_IsTrue(at(u, "executable")));
	cr_assert(cJSON_IsFalse(at(u, "extract")));
	cr_assert(cJSON_IsFalse(at(u, "cache")));
	cr_assert_str_eq(str_at(u, "output_file"), "quobyte-prober");
	cr_assert_eq(cJSON_GetArraySize(at(cmd, "arguments")), 1);
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_DEVICE_ROOTS"), "/,/srv");
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT"), "/quobyte");
	cJSON_Delete(b.task);
	b.task = NULL;

	c.prober_mode = TASKSPEC_PROBER_DOCKER;
	c.prober_image = "registry.local:5000/quobyte-mesos:1.2.0";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	cmd = at(b.task, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_null(cJSON_GetObjectItem(cmd, "value"));
	cr_assert_null(cJSON_GetObjectItem(cmd, "uris"));
	const cJSON *ct = at(b.task, "container");
	const cJSON *dk = at(ct, "docker");
	cr_assert_str_eq(str_at(dk, "image"), "registry.local:5000/quobyte-mesos:1.2.0");
	cr_assert_str_eq(param(dk, "entrypoint", 0), "/usr/local/bin/quobyte-prober");
	cr_assert_str_eq(param(dk, "pid", 0), "host");
	cr_assert_str_eq(param(dk, "user", 0), "0"); /* root, whatever the image says */
	cr_assert_str_eq(str_at(volume(ct, "/run/udev"), "mode"), "RO");
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_CREDENTIAL"), cred);
	/* without it the prober would see only the container's own mounts */
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_HOST_ROOT"), "/proc/1/root");
	cJSON_Delete(b.task);
	b.task = NULL;
	c.prober_host_root = "/proc/4242/root";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_HOST_ROOT"), "/proc/4242/root");
	cJSON_Delete(b.task);
	b.task = NULL;
	c.prober_host_root = "proc/1/root";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), QM_EINVAL);
	cr_assert_null(b.task);
	c.prober_host_root = "/proc/1/root";

	/* bad inputs */
	cJSON *t;
	p.credential_hex = "abc";
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p.credential_hex = cred;
	p.coordinator_url = "coord 7990";
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p.coordinator_url = "tcp://coord:7990";
	c.prober_image = "quobyte-mesos";  /* no tag */
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert_null(t);
	built_free(&b);
}

