/* The coordinator's imperative shell: owns all state on one loop thread and
 * turns observations (Mesos events, prober inventories, operator requests)
 * into planner input, and planner actions into Mesos calls, store writes and
 * bus replies. See DESIGN.md "The coordinator is a functional core in an
 * imperative shell". */
#ifndef QM_COORD_H
#define QM_COORD_H

#include <stdbool.h>
#include <stddef.h>

/* Everything configurable, filled by main.c from the option table
 * (shell/coord_options.h; coord_config_defaults() gives the defaults alone).
 * Strings are owned by the config module (coord_config_free). Durations in
 * ms. */
struct coord_config {
	char *master;            /* URL, list of URLs, or zk:// (coordinator/mesos/detector.h) */
	char *master_scheme;     /* "http"/"https" for zk://-detected masters */
	char *mesos_ca_file;     /* CA bundle https masters are verified against */
	bool mesos_tls_insecure; /* https masters not verified */
	long long refused_retry; /* ms between attempts after a terminal refusal */
	char *http_listen;
	char *http_tls_cert;      /* PEM certificate chain: serve HTTPS (with the key) */
	char *http_tls_key;       /* its PEM private key */
	char *bus_listen;
	char *bus_advertise;     /* URL handed to probers; derived when unset */
	char *bus_tls_cert;      /* tls+tcp:// bus: our certificate, key, and the */
	char *bus_tls_key;       /* CA prober certificates must chain to (mutual */
	char *bus_tls_ca;        /* TLS, optional); common/bus_tls.h */
	char *prober_bus_tls_ca; /* the same for launched probers: paths on the */
	char *prober_bus_tls_cert; /* agents, passed as their --bus-tls-* */
	char *prober_bus_tls_key;
	char *prober_bus_tls_server_name; /* passed as their --bus-tls-server-name */
	char *state_dir;
	char *zk;
	char *import_state;      /* file store dir imported into an empty ZooKeeper state */
	char *secret_file;       /* cluster secret for the bus; generated in state dir if unset */
	char *mesos_secret_file; /* principal's secret for HTTP basic auth */
	char *principal;
	char *role;
	char *user;
	char *framework_name;
	char *image;
	char *prober_command;    /* path on the agents; else the prober is fetched */
	char *prober_uri;        /* URL the Mesos fetcher downloads the prober from */
	char *prober_image;      /* Docker image for the prober */
	char *prober_host_root;  /* the host's "/" inside a Docker prober */
	char *prober_binary;     /* local file served at /files/quobyte-prober */
	char *prober_hostnames;  /* list: restrict probers to these agents */
	char *prober_attribute;  /* name=value: restrict probers */
	char *prober_device_roots;
	char *prober_device_dirs;
	char *client_mount_point;
	char *api_attribute;     /* name=value: where api/webconsole may run */
	char *registry_endpoints;/* QUOBYTE_REGISTRY override */
	char *api_token;         /* one admin token (tests) */
	char *api_token_file;    /* the token file (auth.h) */
	bool http_insecure;      /* no token on a non-loopback listener is fine */
	bool http_auth_read;     /* GETs need a token too */
	char *service_resources; /* "SERVICE:CPUS:MEM_MB,..." overrides */
	char *log_level;
	long long api_count;
	long long webconsole_count;
	bool client_enabled;
	bool reserve;                 /* reserve for pinned services (issue 10) */
	long long maintenance_lookahead;
	long long removal_grace;
	long long backoff_base;
	long long backoff_max;
	long long prober_stale;
	long long failover_timeout;
	long long decline_seconds;
	long long revive_interval;
	long long discovery_grace;
	long long launch_slice;  /* ms of launches built per loop iteration */
	long long reconcile_interval;
	long long heartbeat_misses;
	long long zk_session_timeout;
	bool check_config;
	bool version;            /* --version: print it and exit */
};

/* Run the coordinator until SIGTERM/SIGINT. Returns the process exit code:
 * 0 after a clean shutdown, 1 when start-up failed (the reason logged). */
/* The REST API's protection from cfg (auth.h): the token file or
 * --api-token, read auth, and the rule that a listener other hosts can reach
 * needs a token unless --http-insecure. 0 with *out (auth_free it) and
 * *open (no token on such a listener), or 2 with the reason in err. Used at
 * start and by --check-config. */
struct auth;
int coord_auth_setup(const struct coord_config *cfg, struct auth **out, bool *open,
		     char *err, size_t errlen);

int coord_run(const struct coord_config *cfg);

#endif
