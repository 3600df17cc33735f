/* quobyte-prober: configuration and start. Every option lives in the one
 * table below; it parses flags and environment twins and generates --help.
 * Exit status: 0 done / clean stop, 1 run-time failure, 2 configuration
 * error. */
#include "bus.h"
#include "bus_tls.h"
#include "config.h"
#include "mac.h"
#include "log.h"
#include "prober.h"
#include "publisher.h"
#include "qm_error.h"
#include "scan.h"
#include "sources.h"
#include "qm_version.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct cfg {
	char *coordinator;
	char *credential;
	char *credential_file;
	char *bus_tls_cert;
	char *bus_tls_key;
	char *bus_tls_ca;
	char *bus_tls_server_name;
	char *agent_id;
	char *hostname;
	char *device_roots;
	char *device_dirs;
	char *fs_types;
	char *host_root;
	char *mountinfo;
	char *udev_source;
	char *client_mount_point;
	char *log_level;
	long long rescan_interval;
	long long heartbeat_interval;
	long long ack_timeout;
	long long reconnect_max;
	long long debounce;
	long long probe_timeout;
	long long udev_buffer;
	bool once;
	bool json;
	bool check_config;
	bool version;
};

#define MAX_LIST_ITEMS 256
#define ITEM_MAX 4096

static const char *v_udev_source(const char *v)
{
	enum src_udev_mode m;
	return src_udev_mode_parse(v, &m) == 0 ? NULL
					       : "must be auto, udev, kernel or none";
}

static const char *v_log_level(const char *v)
{
	enum log_level l;
	return log_level_parse(v, &l) == 0 ? NULL : "must be debug, info, warn or error";
}

static const char *v_credential(const char *v)
{
	uint8_t c[BUS_CRED_LEN];
	return mac_hex_decode(v, c, sizeof c) == 0
		       ? NULL
		       : "must be 64 hex characters (the node credential)";
}

static const char *v_url(const char *v)
{
	return pub_url_valid(v) ? NULL
				: "not an NNG URL (tcp://host:port, tls+tcp://, ipc://...)";
}

static const char *v_abs_path(const char *v)
{
	char *n = scan_normalize_path(v);
	free(n);
	return n ? NULL : "must be an absolute path without '..'";
}

/* A DNS name to check the coordinator's certificate against. */
static const char *v_server_name(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 253)
		return "must be a host name of 1 to 253 characters";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '.')
			return "must be a host name (letters, digits, '-' and '.')";
	return NULL;
}

static const char *v_path_list(const char *v)
{
	const char *cur = v;
	char item[ITEM_MAX];
	size_t n = 0;
	while (config_list_next(&cur, item, sizeof item)) {
		if (v_abs_path(item))
			return "every entry must be an absolute path without '..'";
		if (++n > MAX_LIST_ITEMS)
			return "too many entries";
	}
	return NULL;
}

static const char *v_fs_types(const char *v)
{
	const char *cur = v;
	char item[64];
	size_t n = 0;
	while (config_list_next(&cur, item, sizeof item)) {
		for (const char *p = item; *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
			    *p != '_' && *p != '.')
				return "filesystem types are lower-case names (ext4,xfs)";
		if (++n > 32)
			return "too many entries";
	}
	return n ? NULL : "at least one filesystem type";
}

static const char *v_agent_id(const char *v)
{
	size_t l = strlen(v);
	if (l == 0 || l > BUS_AGENT_ID_MAX)
		return "must be 1..255 characters";
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:-", *p))
			return "only letters, digits and . _ : - are allowed";
	return NULL;
}

#define E(flag) "QUOBYTE_PROBER_" flag
#define OFF(f) offsetof(struct cfg, f)
#define UNB 1, 0 /* min > max: unbounded */

static const struct config_opt table[] = {
	{"coordinator", E("COORDINATOR"), CONFIG_STR, OFF(coordinator), NULL, UNB,
	 "URL", "coordinator bus address to publish to; none = log changes only",
	 v_url},
	{"credential", E("CREDENTIAL"), CONFIG_STR, OFF(credential), NULL, UNB,
	 "HEX", "node credential (64 hex chars); needed with --coordinator",
	 v_credential},
	{"credential-file", E("CREDENTIAL_FILE"), CONFIG_STR, OFF(credential_file),
	 NULL, UNB, "PATH", "file holding the node credential in hex", NULL},
	{"bus-tls-ca", E("BUS_TLS_CA"), CONFIG_STR, OFF(bus_tls_ca), NULL, UNB, "FILE",
	 "with a tls+tcp:// --coordinator (required then): the CA (PEM) the coordinator's "
	 "certificate must chain to; it must also name the URL's host", v_abs_path},
	{"bus-tls-server-name", E("BUS_TLS_SERVER_NAME"), CONFIG_STR, OFF(bus_tls_server_name),
	 NULL, UNB, "NAME",
	 "the name the coordinator's certificate must carry, instead of the URL's host "
	 "(dial an address, check a DNS name)", v_server_name},
	{"bus-tls-cert", E("BUS_TLS_CERT"), CONFIG_STR, OFF(bus_tls_cert), NULL, UNB, "FILE",
	 "client certificate (PEM) to present, for a coordinator with mutual TLS",
	 v_abs_path},
	{"bus-tls-key", E("BUS_TLS_KEY"), CONFIG_STR, OFF(bus_tls_key), NULL, UNB, "FILE",
	 "private key of --bus-tls-cert (PEM, unencrypted)", v_abs_path},
	{"agent-id", E("AGENT_ID"), CONFIG_STR, OFF(agent_id), NULL, UNB, "ID",
	 "node identity; default $MESOS_SLAVE_ID, $MESOS_AGENT_ID, else the hostname",
	 v_agent_id},
	{"hostname", E("HOSTNAME"), CONFIG_STR, OFF(hostname), NULL, UNB, "NAME",
	 "hostname reported to the coordinator; default gethostname()", NULL},
	{"device-roots", E("DEVICE_ROOTS"), CONFIG_LIST, OFF(device_roots), NULL,
	 UNB, "DIR[,DIR...]",
	 "only mounts and directory devices at or below these; default all",
	 v_path_list},
	{"device-dirs", E("DEVICE_DIRS"), CONFIG_LIST, OFF(device_dirs), NULL, UNB,
	 "DIR[,DIR...]",
	 "directories whose marked subdirectories (and themselves) are devices",
	 v_path_list},
	{"fs-types", E("FS_TYPES"), CONFIG_LIST, OFF(fs_types), "ext4,xfs", UNB,
	 "TYPE[,TYPE...]", "filesystem types that can hold a device", v_fs_types},
	{"host-root", E("HOST_ROOT"), CONFIG_STR, OFF(host_root), NULL, UNB,
	 "PREFIX",
	 "reach host paths through PREFIX (e.g. /proc/1/root) in a container",
	 v_abs_path},
	{"mountinfo", E("MOUNTINFO"), CONFIG_STR, OFF(mountinfo), NULL, UNB, "PATH",
	 "mount table to watch; default /proc/self/mountinfo, with --host-root "
	 "/proc/PID/root /proc/PID/mountinfo, with another --host-root /proc/1/mountinfo",
	 v_abs_path},
	{"udev-source", E("UDEV_SOURCE"), CONFIG_STR, OFF(udev_source), "auto", UNB,
	 "auto|udev|kernel|none",
	 "block device events: udev when udevd runs, else kernel (auto)",
	 v_udev_source},
	{"udev-buffer", E("UDEV_BUFFER"), CONFIG_INT, OFF(udev_buffer), "16777216",
	 4096, 256 << 20, "BYTES",
	 "receive buffer of the block event socket; an overflow (ENOBUFS) costs a "
	 "full resync", NULL},
	{"rescan-interval", E("RESCAN_INTERVAL"), CONFIG_DURATION,
	 OFF(rescan_interval), "5m", 1000, 7LL * 24 * 3600 * 1000, "DURATION",
	 "safety full rescan period", NULL},
	{"debounce", E("DEBOUNCE"), CONFIG_DURATION, OFF(debounce), "5ms", 0,
	 10000, "DURATION",
	 "the first change after a quiet period is published at once; further changes "
	 "within this window are coalesced into one rebuild at its end", NULL},
	{"probe-timeout", E("PROBE_TIMEOUT"), CONFIG_DURATION, OFF(probe_timeout),
	 "1s", 10, 60 * 1000, "DURATION",
	 "longest a scan waits for one device's reads; a device that takes longer "
	 "(hung disk, stalled mount) is reported as probe_timeout with its last "
	 "known types, and looked at again when its reads return", NULL},
	{"heartbeat-interval", E("HEARTBEAT_INTERVAL"), CONFIG_DURATION,
	 OFF(heartbeat_interval), "10s", 100, 3600 * 1000, "DURATION",
	 "heartbeat period when nothing changes", NULL},
	{"ack-timeout", E("ACK_TIMEOUT"), CONFIG_DURATION, OFF(ack_timeout), "5s",
	 100, 600 * 1000, "DURATION",
	 "a request without Ack this long is lost (next: snapshot)", NULL},
	{"reconnect-max", E("RECONNECT_MAX"), CONFIG_DURATION, OFF(reconnect_max),
	 "5s", 100, 600 * 1000, "DURATION",
	 "longest pause between dial attempts (backoff from 100ms)", NULL},
	{"client-mount-point", E("CLIENT_MOUNT_POINT"), CONFIG_STR,
	 OFF(client_mount_point), NULL, UNB, "PATH",
	 "report whether this directory (the Quobyte client mount point) exists",
	 v_abs_path},
	{"once", E("ONCE"), CONFIG_BOOL, OFF(once), "false", UNB, NULL,
	 "scan once, print the inventory and exit", NULL},
	{"json", E("JSON"), CONFIG_BOOL, OFF(json), "false", UNB, NULL,
	 "print the inventory as JSON on stdout (with --once: one document)",
	 NULL},
	{"check-config", E("CHECK_CONFIG"), CONFIG_BOOL, OFF(check_config), "false",
	 UNB, NULL, "validate the configuration and exit", NULL},
	{"log-level", E("LOG_LEVEL"), CONFIG_STR, OFF(log_level), "info", UNB,
	 "LEVEL", "debug, info, warn or error", v_log_level},
	{"version", E("VERSION"), CONFIG_BOOL, OFF(version), "false", UNB, NULL,
	 "print the version and exit", NULL},
};

#define NOPTS (sizeof table / sizeof table[0])

static const char summary[] =
	"watch this node's block devices, mounts and Quobyte marker files and "
	"publish the device inventory to the coordinator";

/* Everything resolved from the table, owned here. */
struct resolved {
	char **roots, **dirs, **types;
	size_t n_roots, n_dirs, n_types;
	char *agent_id, *hostname, *mountinfo, *host_root, *client;
	char boot_id[64];
};

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void resolved_free(struct resolved *r)
{
	strv_free(r->roots, r->n_roots);
	strv_free(r->dirs, r->n_dirs);
	strv_free(r->types, r->n_types);
	free(r->agent_id);
	free(r->hostname);
	free(r->mountinfo);
	free(r->host_root);
	free(r->client);
}

static int config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int config_error(const char *fmt, ...)
{
	va_list ap;
	fputs("quobyte-prober: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* Split a list option; paths are normalised (validated already). */
/* The mount table that goes with a host root: /proc/PID/mountinfo for a
 * host root /proc/PID/root (the mount namespace whose "/" that is), else
 * PID 1's; /proc/self/mountinfo without a host root. Allocated. */
static char *default_mountinfo(const char *host_root)
{
	if (!host_root)
		return qm_strdup("/proc/self/mountinfo");
	const char *p = host_root;
	if (strncmp(p, "/proc/", 6) == 0) {
		p += 6;
		size_t digits = strspn(p, "0123456789");
		if (digits > 0 && digits <= 10 && strcmp(p + digits, "/root") == 0) {
			char buf[32];
			snprintf(buf, sizeof buf, "/proc/%.*s/mountinfo", (int)digits, p);
			return qm_strdup(buf);
		}
	}
	return qm_strdup("/proc/1/mountinfo");
}

static void split_list(const char *text, bool paths, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!text)
		return;
	const char *cur = text;
	char item[ITEM_MAX];
	size_t cap = 0;
	while (config_list_next(&cur, item, sizeof item)) {
		char *v = paths ? scan_normalize_path(item) : qm_strdup(item);
		if (!v)
			continue;
		bool dup = false;
		for (size_t i = 0; i < *n && !dup; i++)
			dup = strcmp((*out)[i], v) == 0;
		if (dup) {
			free(v);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = qm_realloc(*out, cap * sizeof **out);
		}
		(*out)[(*n)++] = v;
	}
}

static int load_credential(const struct cfg *c, uint8_t cred[BUS_CRED_LEN],
			   bool *have)
{
	*have = false;
	if (c->credential && c->credential_file)
		return config_error("--credential and --credential-file are "
				    "exclusive");
	if (c->credential) {
		if (mac_hex_decode(c->credential, cred, BUS_CRED_LEN) != 0)
			return config_error("--credential: must be 64 hex characters");
		*have = true;
		return 0;
	}
	if (!c->credential_file)
		return 0;
	int fd = open(c->credential_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return config_error("--credential-file: cannot read %s: %s",
				    c->credential_file, strerror(errno));
	char buf[4096];
	ssize_t r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r < 0)
		return config_error("--credential-file: cannot read %s: %s",
				    c->credential_file, strerror(errno));
	buf[r] = '\0';
	int rv = mac_hex_decode(buf, cred, BUS_CRED_LEN);
	explicit_bzero(buf, sizeof buf);
	if (rv != 0)
		return config_error("--credential-file: %s does not hold 64 hex "
				    "characters", c->credential_file);
	*have = true;
	return 0;
}

/* Who this prober speaks for: host name, agent id (flag, then what Mesos
 * sets for a task, then the host name), boot id. 0 or exit status 2. */
static int resolve_identity(const struct cfg *c, struct resolved *r)
{
	char host[256] = "";
	if (c->hostname) {
		r->hostname = qm_strdup(c->hostname);
	} else {
		if (gethostname(host, sizeof host - 1) != 0)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		r->hostname = qm_strdup(host);
	}
	const char *aid, *aid_src, *e;
	if (c->agent_id) {
		aid = c->agent_id;
		aid_src = "--agent-id";
	} else if ((e = getenv("MESOS_SLAVE_ID")) && e[0]) {
		/* what Mesos actually sets for a task */
		aid = e;
		aid_src = "MESOS_SLAVE_ID";
	} else if ((e = getenv("MESOS_AGENT_ID")) && e[0]) {
		aid = e;
		aid_src = "MESOS_AGENT_ID";
	} else {
		aid = r->hostname;
		aid_src = "the hostname";
	}
	const char *why = v_agent_id(aid);
	if (why)
		return config_error("agent id from %s: %s", aid_src, why);
	r->agent_id = qm_strdup(aid);
	if (prober_boot_id(r->boot_id, sizeof r->boot_id) != 0)
		snprintf(r->boot_id, sizeof r->boot_id, "unknown");
	return 0;
}

/* The credential and the bus TLS files. 0 or exit status 2. */
static int resolve_publishing(const struct cfg *c, struct prober_opts *o)
{
	char err[512];
	bool have_cred = false;
	int status = load_credential(c, o->cred, &have_cred);
	if (status != 0)
		return status;
	if (c->coordinator && !have_cred)
		return config_error("--coordinator needs --credential or "
				    "--credential-file (or %s)",
				    E("CREDENTIAL_FILE"));
	o->tls = (struct bus_tls){c->bus_tls_cert, c->bus_tls_key, c->bus_tls_ca,
				  c->bus_tls_server_name};
	if (bus_tls_check(&o->tls, c->coordinator, BUS_TLS_DIALER, "--bus-tls", err,
			  sizeof err) != 0)
		return config_error("%s", err);
	if (c->check_config && bus_url_is_tls(c->coordinator) &&
	    bus_tls_load_check(&o->tls, BUS_TLS_DIALER, err, sizeof err) != 0)
		return config_error("%s", err);
	return 0;
}

/* What to scan: roots, device directories, types, host root, mount table,
 * client mount point. 0 or exit status 2. */
static int resolve_scanning(const struct cfg *c, struct resolved *r)
{
	split_list(c->device_roots, true, &r->roots, &r->n_roots);
	split_list(c->device_dirs, true, &r->dirs, &r->n_dirs);
	split_list(c->fs_types, false, &r->types, &r->n_types);
	if (r->n_types == 0)
		return config_error("--fs-types: at least one type");
	if (c->host_root) {
		r->host_root = scan_normalize_path(c->host_root);
		if (strcmp(r->host_root, "/") == 0) {
			free(r->host_root);
			r->host_root = NULL;
		}
	}
	if (c->mountinfo)
		r->mountinfo = scan_normalize_path(c->mountinfo);
	else
		r->mountinfo = default_mountinfo(r->host_root);
	if (c->client_mount_point)
		r->client = scan_normalize_path(c->client_mount_point);
	return 0;
}

/* The prober's options from the flags and what was resolved (borrowed). */
static void fill_opts(const struct cfg *c, const struct resolved *r, struct prober_opts *o)
{
	enum src_udev_mode um = SRC_UDEV_AUTO;
	src_udev_mode_parse(c->udev_source, &um);
	o->agent_id = r->agent_id;
	o->hostname = r->hostname;
	o->boot_id = r->boot_id;
	if (getrandom(&o->session, sizeof o->session, 0) != sizeof o->session) {
		/* no entropy source: still unique enough per start */
		o->session = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	}
	o->coordinator = c->coordinator;
	o->heartbeat_ms = c->heartbeat_interval;
	o->ack_timeout_ms = c->ack_timeout;
	o->reconnect_min_ms = 100;
	o->reconnect_max_ms = c->reconnect_max;
	o->scan.scope.fs_types = r->types;
	o->scan.scope.n_fs_types = r->n_types;
	o->scan.scope.roots = r->roots;
	o->scan.scope.n_roots = r->n_roots;
	o->scan.device_dirs = r->dirs;
	o->scan.n_device_dirs = r->n_dirs;
	o->scan.client_mount_point = r->client;
	o->host_root = r->host_root;
	o->mountinfo_path = r->mountinfo;
	o->udev_mode = um;
	o->udev_buffer = (int)c->udev_buffer;
	o->debounce_ms = c->debounce;
	o->probe_timeout_ms = c->probe_timeout;
	o->rescan_ms = c->rescan_interval;
	o->json = c->json;
}

int main(int argc, char **argv)
{
	qm_cjson_policy();
	struct cfg c;
	memset(&c, 0, sizeof c);
	bool help = false;
	char err[512];
	if (config_parse(table, NOPTS, &c, argc, argv, &help, err, sizeof err) != 0) {
		fprintf(stderr, "quobyte-prober: %s (see --help)\n", err);
		config_free(table, NOPTS, &c);
		return 2;
	}
	if (help) {
		config_usage(stdout, "quobyte-prober", summary, table, NOPTS);
		config_free(table, NOPTS, &c);
		return 0;
	}
	if (c.version) {
		printf("quobyte-prober %s\n", QM_VERSION);
		config_free(table, NOPTS, &c);
		return 0;
	}
	enum log_level lvl = LOG_INFO;
	log_level_parse(c.log_level, &lvl);
	log_set_level(lvl);

	int status;
	struct resolved r;
	memset(&r, 0, sizeof r);
	struct prober_opts o;
	memset(&o, 0, sizeof o);
	if ((status = resolve_identity(&c, &r)) != 0 ||
	    (status = resolve_publishing(&c, &o)) != 0 ||
	    (status = resolve_scanning(&c, &r)) != 0)
		goto done;
	if (c.check_config) {
		fprintf(stderr, "quobyte-prober: configuration ok\n");
		goto done;
	}
	fill_opts(&c, &r, &o);
	int rv = c.once ? prober_once(&o, stdout) : prober_run(&o);
	if (rv == QM_EINVAL)
		status = 2; /* e.g. a coordinator URL NNG refuses */
	else if (rv != 0)
		status = 1;
done:
	explicit_bzero(o.cred, sizeof o.cred);
	resolved_free(&r);
	config_free(table, NOPTS, &c);
	return status;
}
