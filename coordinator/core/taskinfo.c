/* TaskInfo builders: see taskinfo.h. Field names are Mesos' own
 * (include/mesos/v1/mesos.proto); §6 is the scheduler API's TaskInfo. */
#include "core/taskinfo.h"

#include "core/cj.h"
#include "core/text.h"
#include "core/validate.h"
#include "qm_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PROBER_KILL_GRACE_MS 10000

/* Upper-case names for QUOBYTE_MAX_MEM_<SERVICE>. */
static const char *const service_upper[SERVICE_COUNT] = {
	"REGISTRY", "METADATA", "DATA", "API", "WEBCONSOLE", "CLIENT", "PROBER",
};

/* How the main port is announced: environment variable and discovery name.
 * The status port is always QUOBYTE_HTTP_PORT / "http". */
static const struct {
	const char *env;
	const char *name;
} main_port[SERVICE_COUNT] = {
	[SERVICE_REGISTRY] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_METADATA] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_DATA] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_API] = {"QUOBYTE_API_PORT", "api"},
	[SERVICE_WEBCONSOLE] = {"QUOBYTE_WEBCONSOLE_PORT", "web"},
	[SERVICE_CLIENT] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_PROBER] = {"QUOBYTE_PROBER_PORT", "port"},
};

/* ---- pieces of a TaskInfo --------------------------------------------- */

static void env_add(cJSON *vars, const char *name, const char *value)
{
	cj_push_pair(vars, "name", name, "value", value);
}

static void env_add_u(cJSON *vars, const char *name, unsigned long long value)
{
	char b[24];
	snprintf(b, sizeof b, "%llu", value);
	env_add(vars, name, b);
}

/* A Mesos Label or a Docker Parameter: both are {key, value}. */
static void key_value_add(cJSON *arr, const char *key, const char *value)
{
	cj_push_pair(arr, "key", key, "value", value);
}

static void volume_add(cJSON *vols, const char *host, const char *container,
		       bool rw)
{
	cJSON *v = cj_ck(cJSON_CreateObject());
	cj_add_str(v, "container_path", container);
	cj_add_str(v, "host_path", host);
	cj_add_str(v, "mode", rw ? "RW" : "RO");
	cj_push(vols, v);
}

/* int64 travels as an exact JSON number token, never quoted: before 1.6.0
 * stout refuses a JSON string for an integer field (1.4.0
 * 3rdparty/stout/include/stout/protobuf.hpp, Parser::operator()(const
 * JSON::String&): "Not expecting a JSON string for field 'nanoseconds'"),
 * and a cJSON double would round values above 2^53. */
static void kill_policy_add(cJSON *task, int64_t grace_ms)
{
	char ns[32];
	snprintf(ns, sizeof ns, "%" PRId64, grace_ms * 1000000);
	cJSON *gp = cj_add_obj(cj_add_obj(task, "kill_policy"), "grace_period");
	cj_put(gp, "nanoseconds", cj_ck(cJSON_CreateRaw(ns)));
}

/* container: {type DOCKER, docker {image, HOST network, privileged}};
 * returns the container, *docker its "docker" object. */
static cJSON *docker_add(cJSON *task, const char *image, bool force_pull,
			 cJSON **docker)
{
	cJSON *ct = cj_add_obj(task, "container");
	cj_add_str(ct, "type", "DOCKER");
	cJSON *dk = cj_add_obj(ct, "docker");
	cj_add_str(dk, "image", image);
	cj_add_str(dk, "network", "HOST");
	cj_add_bool(dk, "privileged", true);
	cj_add_bool(dk, "force_pull_image", force_pull);
	*docker = dk;
	return ct;
}

/* labels: service, [version,] hostname. */
static void labels_add(cJSON *task, const char *service, const char *version,
		       const char *hostname)
{
	cJSON *labels = cj_add_arr(cj_add_obj(task, "labels"), "labels");
	key_value_add(labels, "service", service);
	if (version)
		key_value_add(labels, "version", version);
	key_value_add(labels, "hostname", hostname);
}

/* Common checks of a task's identity and resources. */
static int check_common(const char *task_id, const char *agent_id,
			const char *hostname, const struct taskspec_fit *fit,
			char *err, size_t errlen)
{
	if (!taskspec_id_valid(task_id))
		return qm_fail(err, errlen, QM_EINVAL, "bad task id");
	if (!taskspec_id_valid(agent_id))
		return qm_fail(err, errlen, QM_EINVAL, "bad agent id");
	if (!text_ok(hostname, TASKSPEC_ID_MAX))
		return qm_fail(err, errlen, QM_EINVAL, "bad hostname");
	if (!fit || !cJSON_IsArray(fit->resources) ||
	    cJSON_GetArraySize(fit->resources) == 0)
		return qm_fail(err, errlen, QM_EINVAL,
			    "task %s has no resources", task_id);
	return 0;
}

static cJSON *task_skeleton(const char *name_prefix, const char *hostname,
			    const char *task_id, const char *agent_id,
			    const struct taskspec_fit *fit)
{
	cJSON *t = cj_ck(cJSON_CreateObject());
	char name[TASKSPEC_ID_MAX + 64];
	snprintf(name, sizeof name, "%s.%s", name_prefix, hostname);
	cj_add_str(t, "name", name);
	cj_add_id(t, "task_id", task_id);
	cj_add_id(t, "agent_id", agent_id);
	cj_put(t, "resources", cj_dup(fit->resources));
	return t;
}

/* ---- service tasks ---------------------------------------------------- */

/* Everything taskspec_service_task takes from outside, checked. */
static int service_check(const struct taskspec_config *c,
			 const struct taskspec_service_params *p, char *err,
			 size_t errlen)
{
	if ((unsigned)p->service >= SERVICE_PROBER)
		return qm_fail(err, errlen, QM_EINVAL, "not a Quobyte service");
	int rv = check_common(p->task_id, p->agent_id, p->hostname, p->fit,
			      err, errlen);
	if (rv)
		return rv;
	if (!taskspec_version_valid(p->version))
		return qm_fail(err, errlen, QM_EINVAL,
			    "version is not a valid Docker tag");
	if (!taskspec_image_valid(c->image))
		return qm_fail(err, errlen, QM_EINVAL, "bad image name");
	if (!taskspec_registry_valid(p->registry))
		return qm_fail(err, errlen, QM_EINVAL,
			    "QUOBYTE_REGISTRY must be host:port[,host:port] "
			    "or a DNS name");
	if (text_is_set(p->host_ip) && !taskspec_ip_valid(p->host_ip))
		return qm_fail(err, errlen, QM_EINVAL, "HOST_IP is not an IP address");
	if (p->ndevice_dirs > TASKSPEC_MAX_DEVICE_DIRS)
		return qm_fail(err, errlen, QM_EINVAL, "more than %d device dirs",
			    TASKSPEC_MAX_DEVICE_DIRS);
	for (size_t i = 0; i < p->ndevice_dirs; i++)
		if (!taskspec_path_valid(p->device_dirs[i]))
			return qm_fail(err, errlen, QM_EINVAL,
				    "device dir %zu is not a plain absolute path", i);
	if (text_is_set(c->extra_service_config) &&
	    text_has_ctrl(c->extra_service_config))
		return qm_fail(err, errlen, QM_EINVAL, "bad extra service config");
	if (p->service == SERVICE_CLIENT &&
	    !taskspec_path_valid(c->client_mount_point))
		return qm_fail(err, errlen, QM_EINVAL, "bad client mount point");
	if (text_is_set(c->config_host_dir) &&
	    !taskspec_path_valid(c->config_host_dir))
		return qm_fail(err, errlen, QM_EINVAL, "bad config host dir");
	const struct taskspec_service_conf *v = &c->svc[p->service];
	unsigned want = (v->port ? 1u : 0u) + (v->http_port ? 1u : 0u);
	if (p->fit->nports != want)
		return qm_fail(err, errlen, QM_EINVAL,
			    "fit has %u ports, %s needs %u", p->fit->nports,
			    service_name(p->service), want);
	return 0;
}

/* command: no shell, the image's entry point, configured by env. */
static void service_command(const struct taskspec_config *c,
			    const struct taskspec_service_params *p,
			    uint32_t port, uint32_t http, cJSON *t)
{
	const struct taskspec_service_conf *v = &c->svc[p->service];
	cJSON *cmd = cj_add_obj(t, "command");
	cj_add_bool(cmd, "shell", false);
	cJSON *vars = cj_add_arr(cj_add_obj(cmd, "environment"), "variables");
	env_add(vars, "QUOBYTE_SERVICE", service_name(p->service));
	env_add(vars, "QUOBYTE_REGISTRY", p->registry);
	if (port)
		env_add_u(vars, main_port[p->service].env, port);
	if (http)
		env_add_u(vars, "QUOBYTE_HTTP_PORT", http);
	if (p->service != SERVICE_CLIENT && v->max_mem_mb >= 0) {
		int64_t mm = v->max_mem_mb ? v->max_mem_mb : v->mem_mb * 3 / 4;
		char name[48], val[32];
		snprintf(name, sizeof name, "QUOBYTE_MAX_MEM_%s",
			 service_upper[p->service]);
		snprintf(val, sizeof val, "%" PRId64 "m", mm > 0 ? mm : 1);
		env_add(vars, name, val);
	}
	if (text_is_set(c->extra_service_config))
		env_add(vars, "QUOBYTE_EXTRA_SERVICE_CONFIG",
			c->extra_service_config);
	if (text_is_set(p->host_ip))
		env_add(vars, "HOST_IP", p->host_ip);
	env_add(vars, "HOST", p->hostname);
	if (p->service == SERVICE_CLIENT)
		env_add(vars, "QUOBYTE_MOUNT_POINT", "/quobyte");
}

/* container: the quobyte-server image with its host volumes. */
static void service_container(const struct taskspec_config *c,
			      const struct taskspec_service_params *p, cJSON *t)
{
	const char *svc = service_name(p->service);
	char image[TASKSPEC_IMAGE_MAX + TASKSPEC_VERSION_MAX + 2];
	snprintf(image, sizeof image, "%s:%s", c->image, p->version);
	cJSON *dk;
	cJSON *ct = docker_add(t, image, c->force_pull_image, &dk);
	cJSON *params = cj_ck(cJSON_CreateArray());
	cJSON *vols = cj_add_arr(ct, "volumes");
	volume_add(vols, "/dev", "/dev", true);
	volume_add(vols, "/lib/modules", "/lib/modules", false);
	volume_add(vols, "/sys/bus", "/sys/bus", true);
	if (text_is_set(c->config_host_dir)) {
		char dir[TASKSPEC_PATH_MAX + 32];
		snprintf(dir, sizeof dir, "%s/%s",
			 strcmp(c->config_host_dir, "/") ? c->config_host_dir : "",
			 svc);
		volume_add(vols, dir, "/etc/quobyte", true);
	}
	for (size_t i = 0; i < p->ndevice_dirs; i++) {
		const char *d = p->device_dirs[i];
		if (c->shared_propagation) {
			/* Docker's -v: a Mesos Volume cannot ask for
			 * propagation (§6.2), a "volume" parameter can. */
			char spec[2 * TASKSPEC_PATH_MAX + 16];
			snprintf(spec, sizeof spec, "%s:%s:rw,rshared", d, d);
			key_value_add(params, "volume", spec);
		} else {
			volume_add(vols, d, d, true);
		}
	}
	if (p->service == SERVICE_CLIENT) {
		char spec[TASKSPEC_PATH_MAX + 32];
		key_value_add(params, "pid", "host");
		snprintf(spec, sizeof spec, "%s:/quobyte:rw,rshared",
			 c->client_mount_point);
		key_value_add(params, "volume", spec);
	}
	if (cJSON_GetArraySize(params) > 0)
		cj_put(dk, "parameters", params);
	else
		cJSON_Delete(params);
}

/* health: HTTP GET / on the status port; for API (JSON-RPC, 7860) and
 * webconsole (8080), which have no status port, a TCP check on the main
 * port (HealthCheck.TCP, in include/mesos/v1/mesos.proto since 1.2) tells
 * when they serve, so upgrades gate on them too. */
static void service_health(const struct taskspec_config *c, enum service s,
			   uint32_t port, uint32_t http, cJSON *t)
{
	cJSON *hc;
	if (http) {
		hc = cj_add_obj(t, "health_check");
		cj_add_str(hc, "type", "HTTP");
		cJSON *h = cj_add_obj(hc, "http");
		cj_add_str(h, "scheme", "http");
		cj_add_num(h, "port", http);
		cj_add_str(h, "path", "/");
	} else if (port && (s == SERVICE_API || s == SERVICE_WEBCONSOLE)) {
		hc = cj_add_obj(t, "health_check");
		cj_add_str(hc, "type", "TCP");
		cj_add_num(cj_add_obj(hc, "tcp"), "port", port);
	} else {
		return;
	}
	cj_add_num(hc, "delay_seconds", c->health_delay_s);
	cj_add_num(hc, "interval_seconds", c->health_interval_s);
	cj_add_num(hc, "timeout_seconds", c->health_timeout_s);
	cj_add_num(hc, "consecutive_failures", c->health_failures);
	cj_add_num(hc, "grace_period_seconds", c->health_grace_s);
}

static void discovery_port_add(cJSON *ports, uint32_t number, const char *name)
{
	cJSON *e = cj_ck(cJSON_CreateObject());
	cj_add_num(e, "number", number);
	cj_add_str(e, "name", name);
	cj_add_str(e, "protocol", "tcp");
	cj_push(ports, e);
}

static void service_discovery(enum service s, const char *name,
			      const char *version, uint32_t port, uint32_t http,
			      cJSON *t)
{
	cJSON *disc = cj_add_obj(t, "discovery");
	cj_add_str(disc, "visibility", "FRAMEWORK");
	cj_add_str(disc, "name", name);
	cj_add_str(disc, "version", version);
	if (!port && !http)
		return;
	cJSON *ports = cj_add_arr(cj_add_obj(disc, "ports"), "ports");
	if (port)
		discovery_port_add(ports, port, main_port[s].name);
	if (http)
		discovery_port_add(ports, http, "http");
}

int taskspec_service_task(const struct taskspec_config *c,
			  const struct taskspec_service_params *p, cJSON **out,
			  char *err, size_t errlen)
{
	*out = NULL;
	int rv = service_check(c, p, err, errlen);
	if (rv)
		return rv;
	/* Ports come in taskspec_request_for() order: [port, http_port]. */
	const struct taskspec_service_conf *v = &c->svc[p->service];
	uint32_t port = 0, http = 0;
	unsigned pi = 0;
	if (v->port)
		port = p->fit->ports[pi++];
	if (v->http_port)
		http = p->fit->ports[pi++];

	const char *svc = service_name(p->service);
	char prefix[32];
	snprintf(prefix, sizeof prefix, "quobyte-%s", svc);
	cJSON *t = task_skeleton(prefix, p->hostname, p->task_id, p->agent_id,
				 p->fit);
	service_command(c, p, port, http, t);
	service_container(c, p, t);
	service_health(c, p->service, port, http, t);
	kill_policy_add(t, c->kill_grace_ms);
	labels_add(t, svc, p->version, p->hostname);
	service_discovery(p->service, prefix, p->version, port, http, t);
	*out = t;
	return 0;
}

/* ---- the prober task -------------------------------------------------- */

static int prober_check(const struct taskspec_config *c,
			const struct taskspec_prober_params *p, char *err,
			size_t errlen)
{
	int rv = check_common(p->task_id, p->agent_id, p->hostname, p->fit,
			      err, errlen);
	if (rv)
		return rv;
	if (!taskspec_bus_url_valid(p->coordinator_url))
		return qm_fail(err, errlen, QM_EINVAL, "bad coordinator bus URL");
	if (!taskspec_hex64_valid(p->credential_hex))
		return qm_fail(err, errlen, QM_EINVAL,
			    "node credential must be 64 hex digits");
	const char *opt[] = {p->device_roots, p->device_dirs,
			     p->client_mount_point};
	for (size_t i = 0; i < ARRAY_LEN(opt); i++)
		if (text_is_set(opt[i]) && !text_ok(opt[i], 4096))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober paths must be text without control "
				    "characters");
	if (p->nargs > TASKSPEC_MAX_ARGS)
		return qm_fail(err, errlen, QM_EINVAL, "more than %d prober arguments",
			    TASKSPEC_MAX_ARGS);
	for (size_t i = 0; i < p->nargs; i++)
		if (!p->args[i] || text_has_ctrl(p->args[i]) ||
		    strlen(p->args[i]) > 4096)
			return qm_fail(err, errlen, QM_EINVAL, "bad prober argument %zu", i);
	return taskspec_prober_conf_validate(c, err, errlen);
}

/* command: how the binary gets there (COMMAND, FETCH) or the Docker entry
 * point's arguments, and the prober's environment. */
static void prober_command(const struct taskspec_config *c,
			   const struct taskspec_prober_params *p, cJSON *t)
{
	cJSON *cmd = cj_add_obj(t, "command");
	cj_add_bool(cmd, "shell", false);
	bool docker = c->prober_mode == TASKSPEC_PROBER_DOCKER;
	if (c->prober_mode == TASKSPEC_PROBER_FETCH) {
		cJSON *u = cj_ck(cJSON_CreateObject());
		cj_add_str(u, "value", c->prober_uri);
		cj_add_bool(u, "executable", true);
		cj_add_bool(u, "extract", false);
		cj_add_bool(u, "cache", false);
		cj_add_str(u, "output_file", "quobyte-prober");
		cj_push(cj_add_arr(cmd, "uris"), u);
		cj_add_str(cmd, "value", "./quobyte-prober");
	} else if (!docker) {
		cj_add_str(cmd, "value", c->prober_command);
	}
	/* Command tasks: arguments is the whole argv. Docker: appended to the
	 * entry point, so no argv[0]. */
	if (!docker || p->nargs) {
		cJSON *args = cj_add_arr(cmd, "arguments");
		if (!docker)
			cj_push(args, cj_ck(cJSON_CreateString("quobyte-prober")));
		for (size_t i = 0; i < p->nargs; i++)
			cj_push(args, cj_ck(cJSON_CreateString(p->args[i])));
	}
	cJSON *vars = cj_add_arr(cj_add_obj(cmd, "environment"), "variables");
	env_add(vars, "QUOBYTE_PROBER_COORDINATOR", p->coordinator_url);
	env_add(vars, "QUOBYTE_PROBER_AGENT_ID", p->agent_id);
	env_add(vars, "QUOBYTE_PROBER_HOSTNAME", p->hostname);
	env_add(vars, "QUOBYTE_PROBER_CREDENTIAL", p->credential_hex);
	if (text_is_set(p->device_roots))
		env_add(vars, "QUOBYTE_PROBER_DEVICE_ROOTS", p->device_roots);
	if (text_is_set(p->device_dirs))
		env_add(vars, "QUOBYTE_PROBER_DEVICE_DIRS", p->device_dirs);
	if (text_is_set(p->client_mount_point))
		env_add(vars, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT",
			p->client_mount_point);
	if (docker)
		env_add(vars, "QUOBYTE_PROBER_HOST_ROOT", c->prober_host_root);
	if (!docker && text_is_set(c->prober_user))
		cj_add_str(cmd, "user", c->prober_user);
}

static void prober_container(const struct taskspec_config *c, cJSON *t)
{
	cJSON *dk;
	cJSON *ct = docker_add(t, c->prober_image, c->force_pull_image, &dk);
	cJSON *params = cj_add_arr(dk, "parameters");
	key_value_add(params, "entrypoint", c->prober_image_path);
	/* the image's default user is the coordinator's unprivileged one;
	 * the prober reads block devices and every mount: root */
	key_value_add(params, "user", "0");
	/* the host's mount table and mount roots via /proc/1 */
	key_value_add(params, "pid", "host");
	cJSON *vols = cj_add_arr(ct, "volumes");
	volume_add(vols, "/dev", "/dev", false);
	volume_add(vols, "/run/udev", "/run/udev", false);
	volume_add(vols, "/sys", "/sys", false);
}

int taskspec_prober_task(const struct taskspec_config *c,
			 const struct taskspec_prober_params *p, cJSON **out,
			 char *err, size_t errlen)
{
	*out = NULL;
	int rv = prober_check(c, p, err, errlen);
	if (rv)
		return rv;
	cJSON *t = task_skeleton("quobyte-prober", p->hostname, p->task_id,
				 p->agent_id, p->fit);
	prober_command(c, p, t);
	if (c->prober_mode == TASKSPEC_PROBER_DOCKER)
		prober_container(c, t);
	kill_policy_add(t, PROBER_KILL_GRACE_MS);
	labels_add(t, "prober", NULL, p->hostname);
	*out = t;
	return 0;
}
