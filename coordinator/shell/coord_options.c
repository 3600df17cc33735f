/* The coordinator's options: one table (common/config.h) of every flag,
 * its environment twin, default, bounds, help and validator. main.c parses
 * the command line with it and prints --help from it; whatever runs the
 * coordinator's logic without a command line (the unit tests, the fuzz
 * targets) starts from coord_config_defaults(), so a default is written in
 * one place only. */
#include "shell/coord_options.h"

#include "config.h"
#include "mesos/detector.h"
#include "log.h"
#include "qm_error.h"
#include "qm_version.h"
#include "core/taskspec.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *v_log_level(const char *v)
{
	enum log_level l;
	return log_level_parse(v, &l) == 0 ? NULL : "must be debug, info, warn or error";
}

static bool printable(const char *v)
{
	for (const char *p = v; *p; p++)
		if (!isgraph((unsigned char)*p))
			return false;
	return true;
}

/* The same parser the Mesos client uses (coordinator/mesos/detector.h), so what
 * --check-config accepts is exactly what runs. The reason lives in a static
 * buffer: validators run once, at start-up, on the main thread. */
static const char *v_server_name(const char *v)
{
	return taskspec_hostname_valid(v) ? NULL : "must be a host name (RFC 1123)";
}

static const char *v_master(const char *v)
{
	static char why[512];
	struct det_spec *spec = qm_calloc(1, sizeof *spec);
	int rv = det_spec_parse(v, NULL, spec, why, sizeof why);
	free(spec);
	return rv == 0 ? NULL : why;
}

static const char *v_scheme(const char *v)
{
	return strcmp(v, "http") == 0 || strcmp(v, "https") == 0 ? NULL
								  : "must be http or https";
}

static const char *v_readable(const char *v)
{
	return printable(v) && access(v, R_OK) == 0 ? NULL : "must be a readable file";
}

static const char *v_zk(const char *v)
{
	if (strncmp(v, "zk://", 5) != 0 || !strchr(v + 5, '/') || !printable(v))
		return "must be zk://host:port[,host:port...]/path";
	return NULL;
}

static const char *v_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	if (!colon || !colon[1] || !printable(v))
		return "must be HOST:PORT (e.g. 0.0.0.0:7000, [::]:7000, :7000)";
	for (const char *p = colon + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return "the port must be a number";
	return NULL;
}

static const char *v_nng_url(const char *v)
{
	if ((strncmp(v, "tcp://", 6) != 0 && strncmp(v, "tls+tcp://", 10) != 0 &&
	     strncmp(v, "ipc://", 6) != 0) || !printable(v))
		return "must be an NNG URL (tcp://host:port, tls+tcp://host:port, ipc://path)";
	return NULL;
}

static const char *v_path(const char *v)
{
	return taskspec_path_valid(v) ? NULL
				      : "must be an absolute path without '.', '..', ',' or ':'";
}

static const char *v_abs(const char *v)
{
	return v[0] == '/' && printable(v) ? NULL : "must be an absolute path";
}

static const char *v_image(const char *v)
{
	return taskspec_image_valid(v) ? NULL
				       : "must be a Docker image name without tag "
					 "(e.g. quay.io/quobyte/quobyte-server)";
}

static const char *v_image_ref(const char *v)
{
	const char *colon = strrchr(v, ':');
	const char *slash = strrchr(v, '/');
	if (!colon || (slash && colon < slash))
		return "must be a Docker image with tag (name:tag)";
	char name[TASKSPEC_IMAGE_MAX + 1];
	size_t n = (size_t)(colon - v);
	if (n >= sizeof name)
		return "image name too long";
	memcpy(name, v, n);
	name[n] = '\0';
	if (!taskspec_image_valid(name) || !taskspec_version_valid(colon + 1))
		return "must be a Docker image with tag (name:tag)";
	return NULL;
}

static const char *v_role(const char *v)
{
	return taskspec_role_valid(v) ? NULL : "not a valid Mesos role name";
}

static const char *v_attr(const char *v)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v || !printable(v))
		return "must be name=value";
	return NULL;
}

static const char *v_url(const char *v)
{
	if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || !printable(v))
		return "must be an http:// or https:// URL";
	return NULL;
}

static const char *v_text(const char *v)
{
	return printable(v) ? NULL : "must be printable text without blanks";
}

static const char *v_hosts(const char *v)
{
	const char *cur = v;
	char item[TASKSPEC_HOSTNAME_MAX + 2];
	while (config_list_next(&cur, item, sizeof item))
		if (strlen(item) > TASKSPEC_HOSTNAME_MAX || !taskspec_hostname_valid(item))
			return "must be a comma-separated list of host names";
	return NULL;
}

static const char *v_paths(const char *v)
{
	const char *cur = v;
	char item[TASKSPEC_PATH_MAX + 2];
	while (config_list_next(&cur, item, sizeof item))
		if (strlen(item) > TASKSPEC_PATH_MAX || !taskspec_path_valid(item))
			return "must be a comma-separated list of absolute paths";
	return NULL;
}

static const char *v_resources(const char *v)
{
	struct taskspec_config c;
	char err[160];
	taskspec_config_defaults(&c);
	return taskspec_parse_resources(v, &c, err, sizeof err) == 0
		       ? NULL
		       : "must be SERVICE:CPUS:MEM_MB[,...], e.g. data:2:8192 "
			 "(services: registry metadata data api webconsole client prober)";
}

#define E(flag) "QUOBYTE_MESOS_" flag
#define OFF(f) offsetof(struct coord_config, f)
#define UNB 1, 0 /* min > max: unbounded */
#define DAY (24LL * 3600 * 1000)

const struct config_opt coord_options[] = {
	{"master", E("MASTER"), CONFIG_STR, OFF(master), NULL, UNB, "URL",
	 "Mesos master: http://host:5050, a comma-separated list of masters tried in turn, "
	 "or zk://[USER:PASS@]HOST:PORT[,...]/mesos to follow the leading master as Mesos "
	 "frameworks do (required)", v_master},
	{"master-scheme", E("MASTER_SCHEME"), CONFIG_STR, OFF(master_scheme), "http", UNB,
	 "http|https", "scheme for masters found through zk:// (MasterInfo has none); https "
	 "masters are verified (--mesos-ca-file)", v_scheme},
	{"mesos-ca-file", E("MESOS_CA_FILE"), CONFIG_STR, OFF(mesos_ca_file), NULL, UNB, "FILE",
	 "CA bundle (PEM) that https masters' certificates are verified against, instead of "
	 "the system's CAs", v_readable},
	{"mesos-tls-insecure", E("MESOS_TLS_INSECURE"), CONFIG_BOOL, OFF(mesos_tls_insecure),
	 "false", UNB, NULL, "do not verify https masters' certificates (warned at start): "
	 "anyone on the path to the masters can pose as one", NULL},
	{"refused-retry", E("REFUSED_RETRY"), CONFIG_DURATION, OFF(refused_retry), "5m", 1000,
	 DAY, "DURATION",
	 "after a refusal that retrying cannot change (framework removed, role or user "
	 "refused, authentication failed), ask the master again only this often", NULL},
	{"zk", E("ZK"), CONFIG_STR, OFF(zk), NULL, UNB, "zk://HOST:PORT[,...]/PATH",
	 "keep the state in ZooKeeper instead of --state-dir", v_zk},
	{"import-state", E("IMPORT_STATE"), CONFIG_STR, OFF(import_state), NULL, UNB, "DIR",
	 "with --zk: when the ZooKeeper state is empty, start from this file store "
	 "(moving an existing cluster to ZooKeeper)", v_abs},
	{"zk-session-timeout", E("ZK_SESSION_TIMEOUT"), CONFIG_DURATION, OFF(zk_session_timeout),
	 "10s", 1000, 60000, "DURATION",
	 "ZooKeeper session timeout: how long a dead leader blocks its successor "
	 "(the server clamps it to 2..20 ticks)", NULL},
	{"state-dir", E("STATE_DIR"), CONFIG_STR, OFF(state_dir), "/var/lib/quobyte-mesos", UNB,
	 "DIR", "directory of the file state store (and the generated bus secret)", v_abs},
	{"http-listen", E("HTTP_LISTEN"), CONFIG_STR, OFF(http_listen), "0.0.0.0:7000", UNB,
	 "HOST:PORT", "REST API and status page", v_listen},
	{"http-tls-cert", E("HTTP_TLS_CERT"), CONFIG_STR, OFF(http_tls_cert), NULL, UNB, "FILE",
	 "serve the REST API and status page over HTTPS with this PEM certificate chain "
	 "(with --http-tls-key)", v_abs},
	{"http-tls-key", E("HTTP_TLS_KEY"), CONFIG_STR, OFF(http_tls_key), NULL, UNB, "FILE",
	 "the PEM private key of --http-tls-cert", v_abs},
	{"api-token-file", E("API_TOKEN_FILE"), CONFIG_STR, OFF(api_token_file), NULL, UNB, "FILE",
	 "REST API tokens, one 'NAME admin|read TOKEN' per line (or one bare admin token), "
	 "32+ characters, the file 0600; re-read on SIGHUP", v_abs},
	{"api-token", E("API_TOKEN"), CONFIG_STR, OFF(api_token), NULL, UNB, "TOKEN",
	 "one admin token, for tests: argv and the environment are visible to other users "
	 "(use --api-token-file)", v_text},
	{"http-insecure", E("HTTP_INSECURE"), CONFIG_BOOL, OFF(http_insecure), "false", UNB, NULL,
	 "allow a REST listener reachable from other hosts without any token: anyone who "
	 "reaches it can change the cluster", NULL},
	{"http-auth-read", E("HTTP_AUTH_READ"), CONFIG_BOOL, OFF(http_auth_read), "false", UNB,
	 NULL, "GET endpoints (state, metrics, the status page) need a read or admin token too "
	 "(health and the prober download stay open)", NULL},
	{"bus-listen", E("BUS_LISTEN"), CONFIG_STR, OFF(bus_listen), "tcp://0.0.0.0:7001", UNB,
	 "URL", "where probers connect (NNG URL)", v_nng_url},
	{"bus-advertise", E("BUS_ADVERTISE"), CONFIG_STR, OFF(bus_advertise), NULL, UNB, "URL",
	 "bus URL handed to probers; default: --bus-listen with this host's name", v_nng_url},
	{"bus-tls-cert", E("BUS_TLS_CERT"), CONFIG_STR, OFF(bus_tls_cert), NULL, UNB, "FILE",
	 "with a tls+tcp:// --bus-listen: the bus's certificate (PEM, chain allowed); it must "
	 "name the host probers dial as a DNS name (also an address: DNS:10.0.0.5)", v_abs},
	{"bus-tls-key", E("BUS_TLS_KEY"), CONFIG_STR, OFF(bus_tls_key), NULL, UNB, "FILE",
	 "private key of --bus-tls-cert (PEM, unencrypted)", v_abs},
	{"bus-tls-ca", E("BUS_TLS_CA"), CONFIG_STR, OFF(bus_tls_ca), NULL, UNB, "FILE",
	 "mutual TLS: probers must present a certificate signed by this CA (PEM); needs "
	 "--prober-bus-tls-cert and --prober-bus-tls-key", v_abs},
	{"prober-bus-tls-ca", E("PROBER_BUS_TLS_CA"), CONFIG_STR, OFF(prober_bus_tls_ca), NULL,
	 UNB, "PATH",
	 "with a tls+tcp:// bus (required then): the CA that signed --bus-tls-cert, at this "
	 "path on every agent (a Docker prober sees the host under --prober-host-root); "
	 "handed to launched probers as --bus-tls-ca", v_path},
	{"prober-bus-tls-cert", E("PROBER_BUS_TLS_CERT"), CONFIG_STR, OFF(prober_bus_tls_cert),
	 NULL, UNB, "PATH", "client certificate launched probers present (path on the agents)",
	 v_path},
	{"prober-bus-tls-key", E("PROBER_BUS_TLS_KEY"), CONFIG_STR, OFF(prober_bus_tls_key),
	 NULL, UNB, "PATH", "its private key (path on the agents)", v_path},
	{"prober-bus-tls-server-name", E("PROBER_BUS_TLS_SERVER_NAME"), CONFIG_STR,
	 OFF(prober_bus_tls_server_name), NULL, UNB, "NAME",
	 "launched probers check --bus-tls-cert against this DNS name instead of the host "
	 "in the bus URL (for a --bus-advertise with an address)", v_server_name},
	{"secret-file", E("SECRET_FILE"), CONFIG_STR, OFF(secret_file), NULL, UNB, "FILE",
	 "cluster secret for prober credentials; default: generated in --state-dir", v_abs},
	{"principal", E("PRINCIPAL"), CONFIG_STR, OFF(principal), NULL, UNB, "NAME",
	 "Mesos principal (with --mesos-secret-file: HTTP basic authentication)", v_text},
	{"mesos-secret-file", E("MESOS_SECRET_FILE"), CONFIG_STR, OFF(mesos_secret_file), NULL,
	 UNB, "FILE", "file holding the principal's secret", v_abs},
	{"role", E("ROLE"), CONFIG_STR, OFF(role), "quobyte", UNB, "ROLE",
	 "Mesos role of the framework", v_role},
	{"user", E("USER"), CONFIG_STR, OFF(user), "root", UNB, "USER",
	 "user tasks run as (FrameworkInfo.user)", v_text},
	{"framework-name", E("FRAMEWORK_NAME"), CONFIG_STR, OFF(framework_name), "quobyte", UNB,
	 "NAME", "FrameworkInfo.name", v_text},
	{"failover-timeout", E("FAILOVER_TIMEOUT"), CONFIG_DURATION, OFF(failover_timeout), "168h",
	 1000, 365 * DAY, "DURATION",
	 "how long Mesos keeps the tasks running while no coordinator is connected", NULL},
	{"image", E("IMAGE"), CONFIG_STR, OFF(image), "quay.io/quobyte/quobyte-server", UNB,
	 "NAME", "quobyte-server Docker image, without tag (the tag is the target version)",
	 v_image},
	{"prober-command", E("PROBER_COMMAND"), CONFIG_STR, OFF(prober_command), NULL, UNB,
	 "PATH", "run probers as command tasks from this binary path on the agents", v_path},
	{"prober-uri", E("PROBER_URI"), CONFIG_STR, OFF(prober_uri), NULL, UNB, "URL",
	 "run probers as command tasks fetched from this URL by the Mesos fetcher", v_url},
	{"prober-binary", E("PROBER_BINARY"), CONFIG_STR, OFF(prober_binary), NULL, UNB, "PATH",
	 "serve this file at /files/quobyte-prober; without --prober-command and "
	 "--prober-uri, probers are fetched from there by the Mesos fetcher", v_abs},
	{"prober-image", E("PROBER_IMAGE"), CONFIG_STR, OFF(prober_image),
	 "quobyte/quobyte-mesos:" QM_VERSION, UNB, "IMAGE:TAG",
	 "Docker image the prober runs from when neither --prober-command nor --prober-uri "
	 "is set", v_image_ref},
	{"prober-host-root", E("PROBER_HOST_ROOT"), CONFIG_STR, OFF(prober_host_root),
	 "/proc/1/root", UNB, "PATH",
	 "the host's / as a Docker prober (host PID namespace) sees it; another process's "
	 "/proc/PID/root where the agent's mounts live in a namespace of their own", v_abs},
	{"prober-hostnames", E("PROBER_HOSTNAMES"), CONFIG_LIST, OFF(prober_hostnames), NULL, UNB,
	 "HOST[,HOST...]", "run probers only on these agents (default: every agent)", v_hosts},
	{"prober-attribute", E("PROBER_ATTRIBUTE"), CONFIG_STR, OFF(prober_attribute), NULL, UNB,
	 "NAME=VALUE", "run probers only on agents with this attribute", v_attr},
	{"prober-device-roots", E("PROBER_DEVICE_ROOTS"), CONFIG_LIST, OFF(prober_device_roots),
	 NULL, UNB, "DIR[,DIR...]",
	 "probers consider only devices at or below these roots (agent attribute "
	 "quobyte_device_roots overrides per agent)", v_paths},
	{"prober-device-dirs", E("PROBER_DEVICE_DIRS"), CONFIG_LIST, OFF(prober_device_dirs),
	 NULL, UNB, "DIR[,DIR...]", "directory devices the probers watch", v_paths},
	{"client-mount-point", E("CLIENT_MOUNT_POINT"), CONFIG_STR, OFF(client_mount_point), NULL,
	 UNB, "PATH", "host directory where the Quobyte client mounts (default /quobyte)",
	 v_path},
	{"client", E("CLIENT"), CONFIG_BOOL, OFF(client_enabled), "false", UNB, NULL,
	 "run the Quobyte client on nodes where the client mount point exists", NULL},
	{"api-count", E("API_COUNT"), CONFIG_INT, OFF(api_count), "1", 0, 100, "N",
	 "number of API services", NULL},
	{"webconsole-count", E("WEBCONSOLE_COUNT"), CONFIG_INT, OFF(webconsole_count), "1", 0,
	 100, "N", "number of webconsole services", NULL},
	{"api-attribute", E("API_ATTRIBUTE"), CONFIG_STR, OFF(api_attribute), NULL, UNB,
	 "NAME=VALUE", "place API and webconsole only on agents with this attribute", v_attr},
	{"registry-endpoints", E("REGISTRY_ENDPOINTS"), CONFIG_STR, OFF(registry_endpoints), NULL,
	 UNB, "HOST:PORT[,...]",
	 "QUOBYTE_REGISTRY for services; default: computed from where registries run", v_text},
	{"service-resources", E("SERVICE_RESOURCES"), CONFIG_LIST, OFF(service_resources), NULL,
	 UNB, "SERVICE:CPUS:MEM_MB[,...]",
	 "resources of a service's tasks, e.g. data:2:8192 (defaults: registry 1:2048, "
	 "metadata and data 1:4096, api and webconsole 0.5:1024, client 1:2048, "
	 "prober 0.1:64)", v_resources},
	{"reserve", E("RESERVE"), CONFIG_BOOL, OFF(reserve), "true", UNB, NULL,
	 "dynamically reserve the resources of node-pinned services (registry, metadata, "
	 "data, client, prober) with the framework's role and principal; never released "
	 "without an operator's DELETE /v1/reservations/AGENT/SERVICE", NULL},
	{"maintenance-lookahead", E("MAINTENANCE_LOOKAHEAD"), CONFIG_DURATION,
	 OFF(maintenance_lookahead), "1h", 0, 30 * DAY, "DURATION",
	 "a rolling upgrade skips nodes whose maintenance window starts within this", NULL},
	{"removal-grace", E("REMOVAL_GRACE"), CONFIG_DURATION, OFF(removal_grace), "5m", 0,
	 DAY, "DURATION", "wait this long before killing a service whose device is gone", NULL},
	{"backoff-base", E("BACKOFF_BASE"), CONFIG_DURATION, OFF(backoff_base), "10s", 0, DAY,
	 "DURATION", "first relaunch delay after a task failed (doubles per failure)", NULL},
	{"backoff-max", E("BACKOFF_MAX"), CONFIG_DURATION, OFF(backoff_max), "10m", 0, DAY,
	 "DURATION", "longest relaunch delay", NULL},
	{"prober-stale", E("PROBER_STALE"), CONFIG_DURATION, OFF(prober_stale), "90s", 0, DAY,
	 "DURATION", "a prober silent this long is shown as stale (0 = never)", NULL},
	{"decline-seconds", E("DECLINE_SECONDS"), CONFIG_DURATION, OFF(decline_seconds), "1h",
	 1000, 30 * DAY, "DURATION", "refuse_seconds of declined offers", NULL},
	{"revive-interval", E("REVIVE_INTERVAL"), CONFIG_DURATION, OFF(revive_interval), "5m",
	 100, DAY, "DURATION",
	 "while suppressed, revive this often to discover new agents", NULL},
	{"discovery-grace", E("DISCOVERY_GRACE"), CONFIG_DURATION, OFF(discovery_grace), "3s", 0,
	 DAY, "DURATION",
	 "keep offers on until no new agent was offered for this long (agents register in "
	 "bursts; 0 = suppress at once)",
	 NULL},
	{"launch-slice", E("LAUNCH_SLICE"), CONFIG_DURATION, OFF(launch_slice), "20ms", 0, 1000,
	 "DURATION",
	 "hold the event loop for about this long per iteration to build launches, save and "
	 "send them (with the file store, the slice's size is learnt from the slices before; "
	 "with ZooKeeper the building alone is timed); the rest "
	 "follow in the next iterations (0 = one offer's launches per iteration; a save "
	 "slower than 100ms makes the slices as long as a save)",
	 NULL},
	{"reconcile-interval", E("RECONCILE_INTERVAL"), CONFIG_DURATION,
	 OFF(reconcile_interval), "15m", 1000, DAY, "DURATION",
	 "explicit reconciliation this often (and after every subscription)", NULL},
	{"heartbeat-misses", E("HEARTBEAT_MISSES"), CONFIG_INT, OFF(heartbeat_misses), "5", 1,
	 100, "N", "missed master heartbeats before the stream is considered dead", NULL},
	{"log-level", E("LOG_LEVEL"), CONFIG_STR, OFF(log_level), "info", UNB,
	 "debug|info|warn|error", "least severe log lines printed", v_log_level},
	{"check-config", E("CHECK_CONFIG"), CONFIG_BOOL, OFF(check_config), "false", UNB, NULL,
	 "validate the configuration and exit", NULL},
	{"version", E("VERSION"), CONFIG_BOOL, OFF(version), "false", UNB, NULL,
	 "print the version and exit", NULL},
};
const size_t coord_noptions = sizeof coord_options / sizeof coord_options[0];

int coord_config_defaults(struct coord_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	return config_defaults(coord_options, coord_noptions, cfg, err, errlen);
}

void coord_config_free(struct coord_config *cfg)
{
	config_free(coord_options, coord_noptions, cfg);
}
