/* Task specs: what the coordinator asks Mesos to run, and whether it fits.
 *
 * Three jobs, all pure (no I/O, no clock, no globals; every function is
 * reentrant and touches only its arguments):
 *
 *  1. Validation of everything that ends up in a TaskInfo: image versions
 *     (Docker tag grammar), image names (Docker reference grammar, no tag),
 *     hostnames (RFC 1123), Mesos IDs, host paths, roles.
 *  2. Offers: parse an OFFERS event's offer object, keep each resource's
 *     identity ("same kind", scheduler API §5.3) and fit tasks into it one
 *     after another, accounting for what earlier tasks of the same ACCEPT
 *     took. Scalars are handled in milli-units (§0).
 *  3. TaskInfo builders (cJSON, exact Mesos field names, §6) for the Quobyte
 *     service tasks (Docker containerizer, quobyte-server image) and the
 *     prober task (plain command, fetched binary, or Docker).
 *
 * Nothing from input is ever spliced into a shell string: service and prober
 * tasks run with CommandInfo.shell = false and get every value through
 * environment variables or argv. Values are validated anyway, because the
 * quobyte-server image's entry script echoes some of them into config files.
 *
 * Ownership: every cJSON returned is owned by the caller (cJSON_Delete).
 * Allocation failure aborts (qm_oom), as everywhere in the project. */
#ifndef QM_TASKSPEC_H
#define QM_TASKSPEC_H

#include "core/service.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKSPEC_ID_MAX 255          /* Mesos ID limit, bytes */
#define TASKSPEC_VERSION_MAX 128     /* Docker tag limit */
#define TASKSPEC_HOSTNAME_MAX 253
#define TASKSPEC_IMAGE_MAX 255       /* Docker name limit, without tag */
#define TASKSPEC_PATH_MAX 1024       /* host paths we bind-mount */
#define TASKSPEC_ROLE_MAX 255
#define TASKSPEC_MAX_PORTS 4         /* ports one task may ask for */
#define TASKSPEC_MAX_DEVICE_DIRS 64  /* device directories per service task */
#define TASKSPEC_MAX_ARGS 32         /* extra prober arguments */
/* Caps on what one offer may carry; beyond them the offer is refused. */
#define TASKSPEC_OFFER_MAX_RESOURCES 1024
#define TASKSPEC_OFFER_MAX_RANGES 4096
#define TASKSPEC_OFFER_MAX_ATTRS 256
#define TASKSPEC_ATTR_VALUE_MAX 1024

/* ---- validation (all return false for NULL) ------------------------- */

/* Docker tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool taskspec_version_valid(const char *v);
/* RFC 1123 host name: dot-separated labels of 1..63 letters, digits and
 * '-', not starting or ending with '-'; at most 253 bytes; no trailing dot.
 * Dotted IPv4 addresses pass (they are valid labels). */
bool taskspec_hostname_valid(const char *h);
/* Mesos task/executor ID rules (§0): non-empty, <= 255 bytes, not "." or
 * "..", no control characters, no '/' or '\\'. */
bool taskspec_id_valid(const char *id);
/* Docker image reference without tag or digest: an optional registry host
 * ("host", "host.domain" or "host:port"; recognised as such when the first
 * component contains '.' or ':' or is "localhost") followed by '/'-separated
 * lower-case path components [a-z0-9]+ joined by '.', '_', "__" or runs of
 * '-'. At most 255 bytes. "quay.io/quobyte/quobyte-server" passes,
 * "Quobyte", "x:1.0", "a//b" do not. */
bool taskspec_image_valid(const char *image);
/* An absolute host path we are willing to bind-mount: starts with '/', at
 * most TASKSPEC_PATH_MAX bytes, no control characters, no "." or ".."
 * components, and none of ':' ',' (they would break Docker's volume
 * syntax). */
bool taskspec_path_valid(const char *path);
/* Mesos role name (§2): non-empty, <= 255 bytes, not "*", ".", "..", no
 * component starting with '-', no whitespace, backslash or control
 * characters. */
bool taskspec_role_valid(const char *role);

/* ---- task IDs ------------------------------------------------------- */

/* Write "quobyte-<service>.<hostname>.<16 hex digits of random>" into out
 * (cap >= TASKSPEC_ID_MAX + 1 always suffices). The hostname is sanitised to
 * letters, digits, '-', '.', '_' (others become '_'), cut to keep the ID
 * within 255 bytes, and "unknown" when empty or NULL. service must be
 * lower-case letters, at most 16. Returns 0, QM_EINVAL (bad service) or
 * QM_ETOOBIG (cap too small). The caller supplies randomness so this stays
 * pure; a fresh random per launch makes IDs unique per launch. */
int taskspec_task_id(const char *service, const char *hostname,
		     uint64_t random, char *out, size_t cap);
/* Split an ID made by taskspec_task_id() back into service and (sanitised)
 * hostname; either output may be NULL. Returns 0, or QM_EINVAL when id is
 * not of that shape (i.e. not one of ours), or QM_ETOOBIG when an output
 * does not fit. */
int taskspec_task_id_parse(const char *id, char *service, size_t scap,
			   char *hostname, size_t hcap);

/* ---- configuration -------------------------------------------------- */

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

/* ---- offers --------------------------------------------------------- */

enum taskspec_rtype { TASKSPEC_SCALAR = 0, TASKSPEC_RANGES, TASKSPEC_SET };

struct taskspec_range {
	uint64_t begin, end;  /* inclusive */
};

/* One resource kind of an offer. Entries of the same kind (§5.3: name,
 * type, allocation_info, reservation(s) incl. principal and labels, disk,
 * revocable, shared, provider) are merged into one. */
struct taskspec_resource {
	char name[64];
	enum taskspec_rtype type;
	int64_t milli;                 /* SCALAR: offered, milli-units */
	int64_t used_milli;            /* SCALAR: taken by fits so far */
	struct taskspec_range *ranges; /* RANGES: offered, sorted, merged */
	size_t nranges;
	struct taskspec_range *free;   /* RANGES: not yet taken, sorted */
	size_t nfree;
	char *role;        /* current (innermost) reservation role; NULL = unreserved */
	bool dynamic;      /* current reservation is DYNAMIC */
	bool refinement;   /* offered in the post-refinement format */
	bool revocable, shared, has_disk, has_provider;
	/* Plain cpus/mem/disk/ports of a usable kind: not revocable, not
	 * shared, no DiskInfo, no resource provider. Only these are fitted. */
	bool fittable;
	char *kind;        /* canonical identity text: equal <=> same kind */
	cJSON *tmpl;       /* the offered entry minus its value: copied verbatim */
};

struct taskspec_attr {
	char *name;
	char *value;       /* text; scalars "2.5", ranges "[1-2,5-6]", sets "{a,b}" */
};

struct taskspec_offer {
	char id[TASKSPEC_ID_MAX + 1];
	char agent_id[TASKSPEC_ID_MAX + 1];
	char hostname[TASKSPEC_ID_MAX + 1];
	char role[TASKSPEC_ROLE_MAX + 1];  /* allocation_info.role, "" if absent */
	struct taskspec_attr *attrs;
	size_t nattrs;
	struct taskspec_resource *res;
	size_t nres;
	unsigned skipped;        /* malformed resources/attributes ignored */
	char skip_reason[160];   /* the first one's reason */
};

/* Parse one element of OFFERS' "offers":{"offers":[...]} into *o (zeroed
 * first; release with taskspec_offer_free, also after an error). Both
 * reservation formats (§5.1) are understood. A malformed resource or
 * attribute is skipped and counted (o->skipped, o->skip_reason) so the rest
 * of the offer stays usable; a missing or malformed id/agent_id/hostname,
 * or more than the caps above, fails with QM_EINVAL / QM_ETOOBIG and a
 * message in err. */
int taskspec_offer_parse(const cJSON *offer, struct taskspec_offer *o,
			 char *err, size_t errlen);
void taskspec_offer_free(struct taskspec_offer *o);

/* An attribute's text value, or NULL when the offer has none by that name. */
const char *taskspec_offer_attr(const struct taskspec_offer *o,
				const char *name);

/* Which resource kinds a request may use. ANY prefers reserved kinds
 * (in offer order) and falls back to unreserved ones, splitting an amount
 * across kinds when needed. */
enum taskspec_reservation {
	TASKSPEC_RES_ANY = 0,
	TASKSPEC_RES_RESERVED,
	TASKSPEC_RES_UNRESERVED
};

/* Fittable milli-units of `name` not yet taken, over the kinds `which`
 * allows. For RANGES resources: the number of free values. */
int64_t taskspec_offer_left(const struct taskspec_offer *o, const char *name,
			    enum taskspec_reservation which);

/* One line for logs: "cpus=7.5 mem=4096 disk=0 ports=[31000-32000]" with
 * what is still free (all kinds summed). */
void taskspec_offer_summary(const struct taskspec_offer *o, char *buf,
			    size_t cap);

struct taskspec_port_want {
	uint32_t preferred;  /* 0 = any port */
	bool required;       /* the preferred port or no fit */
};

#define TASKSPEC_MAX_AVOID 16

struct taskspec_request {
	int64_t cpus_milli, mem_milli, disk_milli;  /* milli-units; MB * 1000 */
	unsigned nports;
	struct taskspec_port_want ports[TASKSPEC_MAX_PORTS];
	/* Ports a fallback ("any port") pick uses only when nothing else is
	 * free: the preferred ports of other services, so that one service's
	 * fallback does not take the port another one is configured for. */
	uint32_t avoid[TASKSPEC_MAX_AVOID];
	unsigned navoid;
	enum taskspec_reservation reservation;
};

/* The request a service task needs under config c: cpus/mem/disk from
 * c->svc[s], then ports in the order [port, http_port] (those that are not
 * 0), preferring the configured numbers (required when c->strict_ports),
 * and avoiding every service's configured ports in fallback picks. */
void taskspec_request_for(const struct taskspec_config *c,
			  enum service s, struct taskspec_request *r);

struct taskspec_fit {
	uint32_t ports[TASKSPEC_MAX_PORTS]; /* parallel to request.ports */
	unsigned nports;
	cJSON *resources;   /* owned: TaskInfo.resources, never empty */
	char reason[192];   /* why it did not fit */
};

/* Fit one task into what is left of the offer. On success takes the
 * resources from *o (later calls see less), fills f->ports and
 * f->resources (one entry per kind used, reservation fields copied verbatim
 * from the offer, §5.3) and returns true. Otherwise takes nothing, leaves
 * f->resources NULL, says why in f->reason ("cpus: need 1, 0.5 left",
 * "port 7861 is not offered") and returns false. Ports: preferred ports
 * that are free are given first; the rest get the lowest free port that is
 * not in r->avoid (else the lowest free one), reserved kinds before
 * unreserved under TASKSPEC_RES_ANY. An empty request does not
 * fit (Mesos rejects tasks without resources). *f is zeroed first; release
 * it with taskspec_fit_fini(). */
bool taskspec_offer_take(struct taskspec_offer *o,
			 const struct taskspec_request *r,
			 struct taskspec_fit *f);
void taskspec_fit_fini(struct taskspec_fit *f);

/* Fit requests in order: fits[i] (caller's array of n) gets the result of
 * taskspec_offer_take for reqs[i]; a request that does not fit is skipped
 * and later ones are still tried. Returns how many fit. */
size_t taskspec_offer_take_all(struct taskspec_offer *o,
			       const struct taskspec_request *reqs, size_t n,
			       struct taskspec_fit *fits);

/* Dynamically reserve a fit's unreserved resources for `role` (principal
 * may be NULL): every unreserved entry of f->resources is rewritten, in the
 * format it was offered in, to its reserved form (pre-refinement: "role" +
 * "reservation":{"principal"}; post-refinement: a DYNAMIC entry pushed onto
 * "reservations"), and *reserve gets a new array of those entries for a
 * RESERVE operation placed before the LAUNCH in the same ACCEPT (§3.3). The
 * task then launches on the reservation. *reserve is NULL when everything was
 * reserved already. 0, or QM_EINVAL for a bad role or principal. */
int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, cJSON **reserve);

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
