/* Task configuration: what the operator sets for the service and prober
 * tasks (image, ports, resources, health checks, prober delivery), its
 * defaults and its checks, and the operator's resource list.
 *
 * Pure: no I/O, no clock, no globals; reentrant. Strings in struct
 * taskspec_config are borrowed (see there); nothing here allocates. */
#ifndef QM_TASKCONF_H
#define QM_TASKCONF_H

#include "core/service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct taskspec_service_conf {
	int64_t cpus_milli;  /* 1000 = one CPU */
	int64_t mem_mb;
	int64_t disk_mb;     /* sandbox disk; 0 = none requested */
	/* Main port: rpc (registry/metadata/data), JSON-RPC (api), web UI
	 * (webconsole); 0 = the service has none. */
	uint32_t port;
	/* Status port with the HTTP health check; 0 = none (no check). */
	uint32_t http_port;
	/* QUOBYTE_MAX_MEM_<SERVICE> (JVM heap) in MB: 0 = derived as 3/4 of
	 * mem_mb so the heap fits the container's memory limit; < 0 = not set
	 * (image default). Never sent for the client and the prober. */
	int64_t max_mem_mb;
};

enum taskspec_prober_mode {
	TASKSPEC_PROBER_COMMAND = 0, /* binary already on the agent: prober_command */
	TASKSPEC_PROBER_FETCH,       /* Mesos fetcher downloads prober_uri */
	TASKSPEC_PROBER_DOCKER       /* prober_image, entry point prober_image_path */
};

/* All strings are borrowed: they must outlive every call that gets the
 * config. NULL and "" mean "not set" for the optional ones. */
struct taskspec_config {
	const char *image;                /* quobyte-server image, no tag */
	const char *extra_service_config; /* QUOBYTE_EXTRA_SERVICE_CONFIG */
	const char *client_mount_point;   /* host path, default "/quobyte" */
	/* When set, host directory <config_host_dir>/<service> is bind-mounted
	 * at /etc/quobyte so a service keeps its UUID across restarts. */
	const char *config_host_dir;
	/* true: a service runs on its configured ports or not at all; false
	 * (default): the configured port when offered, else the lowest free. */
	bool strict_ports;
	bool force_pull_image;
	/* Device directories bind-mounted with rshared propagation (default),
	 * else as plain RW volumes. */
	bool shared_propagation;
	/* HTTP health check timing, seconds (§6.4). */
	unsigned health_delay_s, health_interval_s, health_timeout_s;
	unsigned health_failures, health_grace_s;
	int64_t kill_grace_ms;            /* services' kill_policy grace period */
	struct taskspec_service_conf svc[SERVICE_COUNT];

	enum taskspec_prober_mode prober_mode;
	const char *prober_command;    /* COMMAND: absolute path on the agents */
	const char *prober_uri;        /* FETCH: http(s) URL of the binary */
	const char *prober_image;      /* DOCKER: full reference with tag */
	const char *prober_image_path; /* DOCKER: the binary inside the image */
	const char *prober_host_root;  /* DOCKER: the host's "/" seen from the
					* container (QUOBYTE_PROBER_HOST_ROOT) */
	const char *prober_user;       /* CommandInfo.user; NULL = framework's */
};

/* Defaults: image "quay.io/quobyte/quobyte-server", Quobyte's ports
 * (quobyte-devices.md: registry 7861/7871, metadata 7862/7872, data
 * 7863/7873, api 7860, webconsole 8080, client status 55000), resources
 * registry 1 cpu/2048 MB, metadata and data 1 cpu/4096 MB, api and
 * webconsole 0.5 cpu/1024 MB, client 1 cpu/2048 MB, prober 0.1 cpu/64 MB;
 * health 15/10/20 s, 3 failures, 300 s grace; kill grace 30 s; client mount
 * point "/quobyte"; prober COMMAND "/usr/local/bin/quobyte-prober"; prober
 * image path "/usr/local/bin/quobyte-prober". */
void taskspec_config_defaults(struct taskspec_config *c);
/* The prober part of taskspec_config_validate(): the fields of
 * c->prober_mode and prober_user. 0, or QM_EINVAL with a message naming the
 * field in err. */
int taskspec_prober_conf_validate(const struct taskspec_config *c, char *err,
				  size_t errlen);
/* Check a config before use; 0, or QM_EINVAL with a message naming the
 * field in err ("image 'Quobyte' is not a valid Docker image name"). */
int taskspec_config_validate(const struct taskspec_config *c, char *err,
			     size_t errlen);

/* Apply an operator's resource list "SERVICE:CPUS:MEM_MB[,...]" (e.g.
 * "data:2:8192,metadata:1:4096"; CPUS may have up to three decimals) to
 * c->svc[]. Services are the names of service_name(); cpus must be
 * > 0 and <= 1024, mem 32..4194304 MB. NULL or "" changes nothing. 0, or
 * QM_EINVAL with the offending item named in err (c unchanged then). */
int taskspec_parse_resources(const char *text, struct taskspec_config *c,
			     char *err, size_t errlen);

#endif
