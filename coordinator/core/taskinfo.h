/* TaskInfo builders (cJSON, exact Mesos field names, scheduler API §6) for
 * the Quobyte service tasks (Docker containerizer, quobyte-server image)
 * and the prober task (plain command, fetched binary, or Docker).
 *
 * Nothing from input is ever spliced into a shell string: service and prober
 * tasks run with CommandInfo.shell = false and get every value through
 * environment variables or argv. Values are validated anyway
 * (core/validate.h), because the quobyte-server image's entry script echoes
 * some of them into config files.
 *
 * Pure: no I/O, no clock, no globals; reentrant. Ownership: every cJSON
 * returned is owned by the caller (cJSON_Delete); parameters are borrowed.
 * Allocation failure aborts (qm_oom). */
#ifndef QM_TASKINFO_H
#define QM_TASKINFO_H

#include "core/fit.h"
#include "core/service.h"
#include "core/taskconf.h"

#include <cjson/cJSON.h>
#include <stddef.h>

#define TASKSPEC_MAX_DEVICE_DIRS 64  /* device directories per service task */
#define TASKSPEC_MAX_ARGS 32         /* extra prober arguments */

/* ---- TaskInfo builders ---------------------------------------------- */

/* Borrowed inputs for one Quobyte service task. */
struct taskspec_service_params {
	enum service service;  /* registry .. client */
	const char *task_id;            /* from taskspec_task_id() */
	const char *agent_id;           /* the offer's agent */
	const char *hostname;           /* the offer's hostname */
	const char *version;            /* image tag, taskspec_version_valid() */
	/* QUOBYTE_REGISTRY: host:port[,host:port] or a DNS name */
	const char *registry;
	const char *host_ip;            /* HOST_IP, optional */
	/* Host directories of this node's devices for this service, mounted RW
	 * at the same path inside the container. */
	const char *const *device_dirs;
	size_t ndevice_dirs;
	/* from taskspec_offer_take() of a taskspec_request_for() request */
	const struct taskspec_fit *fit;
};

/* Build the TaskInfo of a service task (§6.2): Docker containerizer, image
 * "<image>:<version>", HOST network, privileged; volumes /dev (RW),
 * /lib/modules (RO), /sys/bus (RW), and the device directories (with
 * rshared propagation through a "volume" parameter when
 * shared_propagation); client: parameter pid=host and the mount point
 * bind-mounted at /quobyte with rshared; command {shell:false} with the
 * environment QUOBYTE_SERVICE, QUOBYTE_REGISTRY, the port variables
 * (QUOBYTE_RPC_PORT + QUOBYTE_HTTP_PORT for registry/metadata/data,
 * QUOBYTE_API_PORT for api, QUOBYTE_WEBCONSOLE_PORT for webconsole,
 * QUOBYTE_HTTP_PORT wherever a status port is used), QUOBYTE_MAX_MEM_<SVC>,
 * QUOBYTE_EXTRA_SERVICE_CONFIG, HOST_IP, HOST (hostname), and for the client
 * QUOBYTE_MOUNT_POINT=/quobyte; resources from the fit; labels service,
 * version, hostname; discovery (FRAMEWORK, ports named rpc/api/web and
 * http); an HTTP health check on the status port if there is one; and a
 * kill_policy grace period. Ports come from fit->ports in
 * taskspec_request_for() order. Returns 0 and *out, or QM_EINVAL with a
 * message in err naming the bad input. */
int taskspec_service_task(const struct taskspec_config *c,
			  const struct taskspec_service_params *p, cJSON **out,
			  char *err, size_t errlen);

/* Borrowed inputs for a prober task. */
struct taskspec_prober_params {
	const char *task_id;
	const char *agent_id;
	const char *hostname;
	const char *coordinator_url;     /* bus URL (tcp://, tls+tcp://, ...) */
	const char *credential_hex;      /* 64 hex digits */
	const char *device_roots;        /* optional, comma-separated paths */
	const char *device_dirs;         /* optional, comma-separated paths */
	const char *client_mount_point;  /* optional */
	const char *const *args;         /* extra arguments (argv[1..]) */
	size_t nargs;
	const struct taskspec_fit *fit;  /* cpus/mem from taskspec_request_for(PROBER) */
};

/* Build the prober's TaskInfo according to c->prober_mode:
 *  COMMAND: command task, shell:false, value = prober_command, arguments =
 *           ["quobyte-prober", args...];
 *  FETCH:   command task whose uris fetch prober_uri into the sandbox as
 *           "quobyte-prober" (executable, not extracted, not cached so an
 *           upgrade takes effect), shell:false, value "./quobyte-prober".
 *           With shell:false Mesos execs value without a shell and without
 *           variable expansion, so "$MESOS_SANDBOX/..." would not work; the
 *           Mesos containerizer starts the task in its sandbox, so the
 *           relative path names the fetched file;
 *  DOCKER:  Docker task from prober_image with parameters entrypoint =
 *           prober_image_path and pid=host, HOST network, privileged,
 *           /dev, /run/udev and /sys read-only; arguments = args (Docker
 *           appends them to the entry point); QUOBYTE_PROBER_HOST_ROOT =
 *           prober_host_root, so the prober reads the host's mount table
 *           and reaches its mounts (with the host's PID namespace,
 *           /proc/1/root is the host's "/").
 * Environment: QUOBYTE_PROBER_COORDINATOR, QUOBYTE_PROBER_AGENT_ID,
 * QUOBYTE_PROBER_HOSTNAME, QUOBYTE_PROBER_CREDENTIAL, and when set
 * QUOBYTE_PROBER_DEVICE_ROOTS, QUOBYTE_PROBER_DEVICE_DIRS,
 * QUOBYTE_PROBER_CLIENT_MOUNT_POINT. Labels service=prober and hostname;
 * kill grace 10 s; no health check (the bus heartbeats tell liveness).
 * 0 and *out, or QM_EINVAL with a message in err. */
int taskspec_prober_task(const struct taskspec_config *c,
			 const struct taskspec_prober_params *p, cJSON **out,
			 char *err, size_t errlen);

#endif
