/* The coordinator's configuration turned into its parts, at start-up (and
 * coord_auth_setup for --check-config): the task builder's and planner's
 * settings, the REST API's tokens and the rule for open listeners, the bus
 * secret and the URL probers dial, the Mesos principal's secret, and the
 * out-of-memory policy for cJSON. Nothing here runs on the loop. */
#include "shell/coord_priv.h"

#include "bus.h"
#include "config.h"
#include "mac.h"
#include "log.h"
#include "qm_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Only 127.0.0.0/8, ::1 and localhost: nothing else on the network can
 * reach the listener. */
static bool listener_loopback(const char *addr)
{
	if (!addr)
		return false;
	if (strncmp(addr, "[::1]:", 6) == 0 || strncmp(addr, "localhost:", 10) == 0)
		return true;
	if (strncmp(addr, "127.", 4) != 0)
		return false;
	struct in_addr ia;
	char host[64];
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
	if (n >= sizeof host)
		return false;
	memcpy(host, addr, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, &ia) == 1;
}

int coord_auth_setup(const struct coord_config *cfg, struct auth **out, bool *open,
		     char *err, size_t errlen)
{
	struct auth_tokens t = { 0 };
	bool file = cfg->api_token_file && cfg->api_token_file[0];
	bool flag = cfg->api_token && cfg->api_token[0];
	*out = NULL;
	*open = false;
	if (file && flag) {
		snprintf(err, errlen, "give --api-token-file or --api-token, not both");
		return 2;
	}
	if (file && auth_tokens_load(cfg->api_token_file, &t, err, errlen) != 0)
		return 2;
	if (flag && auth_tokens_single(cfg->api_token, &t, err, errlen) != 0)
		return 2;
	bool loopback = listener_loopback(cfg->http_listen);
	if (cfg->http_auth_read && t.n == 0) {
		snprintf(err, errlen, "--http-auth-read needs tokens: give --api-token-file");
		return 2;
	}
	if (t.n == 0 && !loopback && !cfg->http_insecure) {
		snprintf(err, errlen,
			 "the REST API on %s is reachable from other hosts and no token is "
			 "configured, so anyone could change the cluster: give --api-token-file "
			 "FILE, listen on 127.0.0.1, or pass --http-insecure to run it open anyway",
			 cfg->http_listen ? cfg->http_listen : "(none)");
		return 2;
	}
	*open = t.n == 0 && !loopback;
	*out = auth_new();
	auth_set_read_auth(*out, cfg->http_auth_read);
	auth_set_tokens(*out, &t);
	return 0;
}

/* Tokens and the open-listener rule; 0, or 2 with the reason logged. */
static int setup_auth(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512];
	if (coord_auth_setup(cfg, &c->auth, &c->http_open, err, sizeof err) != 0) {
		log_error("config_invalid", "error=%s", log_qs(err));
		return 2;
	}
	if (cfg->api_token && cfg->api_token[0])
		log_warn("api_token_visible", "why=%s",
			 log_qs("--api-token (and QUOBYTE_MESOS_API_TOKEN) can be read by other "
				"users in ps and /proc; use --api-token-file"));
	log_info("http_auth", "tokens=%zu auth_read=%s listen=%s open=%s",
		 auth_ntokens(c->auth), cfg->http_auth_read ? "true" : "false",
		 log_qs(cfg->http_listen), c->http_open ? "true" : "false");
	return 0;
}

/* "name=value" -> plan_attr; false when malformed. */
static bool split_attr(struct coord *c, const char *text, struct plan_attr *out, int slot)
{
	if (!text || !text[0])
		return true;
	const char *eq = strchr(text, '=');
	if (!eq || eq == text)
		return false;
	c->restr_buf[slot] = qm_strdup(text);
	c->restr_buf[slot][eq - text] = '\0';
	out->name = c->restr_buf[slot];
	out->value = c->restr_buf[slot] + (eq - text) + 1;
	return true;
}

static int load_secret(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	char path[4096];
	if (cfg->secret_file && cfg->secret_file[0]) {
		snprintf(path, sizeof path, "%s", cfg->secret_file);
	} else {
		if (!cfg->state_dir || !cfg->state_dir[0]) {
			snprintf(err, errlen, "--secret-file is needed when there is no --state-dir");
			return QM_EINVAL;
		}
		snprintf(path, sizeof path, "%s/bus.secret", cfg->state_dir);
		if (access(path, F_OK) != 0) {
			/* first start: make a cluster secret */
			uint8_t raw[32];
			char hex[65];
			if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
				snprintf(err, errlen, "getrandom: %s", strerror(errno));
				return QM_EIO;
			}
			mac_hex_encode(raw, sizeof raw, hex);
			char tmp[4200];
			snprintf(tmp, sizeof tmp, "%s.tmp", path);
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 ||
			    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
				snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
				if (fd >= 0)
					close(fd);
				return QM_EIO;
			}
			memset(raw, 0, sizeof raw);
			memset(hex, 0, sizeof hex);
			log_info("bus_secret_created", "path=%s", log_qs(path));
		}
	}
	int rv = bus_secret_load(path, &c->secret, &c->secretlen);
	if (rv != 0) {
		snprintf(err, errlen, "bus secret %.300s: %s", path,
			 rv == QM_EINVAL ? "must hold 16 to 4096 bytes" : strerror(errno));
		return rv;
	}
	return 0;
}

/* tcp://0.0.0.0:7001 -> tcp://<hostname>:7001 */
static char *advertise_url(const char *listen, const char *host)
{
	const char *p = strstr(listen, "://");
	if (!p)
		return qm_strdup(listen);
	const char *hs = p + 3;
	const char *colon = strrchr(hs, ':');
	if (!colon)
		return qm_strdup(listen);
	size_t hl = (size_t)(colon - hs);
	bool wildcard = hl == 0 || (hl == 7 && strncmp(hs, "0.0.0.0", 7) == 0) ||
			(hl == 1 && hs[0] == '*') || (hl == 4 && strncmp(hs, "[::]", 4) == 0);
	if (!wildcard)
		return qm_strdup(listen);
	size_t n = (size_t)(hs - listen) + strlen(host) + strlen(colon) + 1;
	char *u = qm_malloc(n);
	snprintf(u, n, "%.*s%s%s", (int)(hs - listen), listen, host, colon);
	return u;
}

static int setup_taskspec(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	taskspec_config_defaults(&c->ts);
	if (cfg->image && cfg->image[0])
		c->ts.image = cfg->image;
	if (cfg->client_mount_point && cfg->client_mount_point[0])
		c->ts.client_mount_point = cfg->client_mount_point;
	if (cfg->prober_command && cfg->prober_command[0]) {
		c->ts.prober_mode = TASKSPEC_PROBER_COMMAND;
		c->ts.prober_command = cfg->prober_command;
	} else if (cfg->prober_uri && cfg->prober_uri[0]) {
		c->ts.prober_mode = TASKSPEC_PROBER_FETCH;
		c->ts.prober_uri = cfg->prober_uri;
	} else {
		c->ts.prober_mode = TASKSPEC_PROBER_DOCKER;
		c->ts.prober_image = cfg->prober_image;
		if (cfg->prober_host_root && cfg->prober_host_root[0])
			c->ts.prober_host_root = cfg->prober_host_root;
	}
	int rv = taskspec_parse_resources(cfg->service_resources, &c->ts, err, errlen);
	if (rv != 0)
		return rv;
	return taskspec_config_validate(&c->ts, err, errlen);
}

static int setup_plan(struct coord *c, char *err, size_t errlen)
{
	const struct coord_config *cfg = c->cfg;
	plan_config_init(&c->pc);
	c->pc.api_count = (unsigned)cfg->api_count;
	c->pc.webconsole_count = (unsigned)cfg->webconsole_count;
	c->pc.client_enabled = cfg->client_enabled;
	c->pc.removal_grace_ms = cfg->removal_grace;
	c->pc.reserve = cfg->reserve;
	c->pc.maintenance_lookahead_ms = cfg->maintenance_lookahead;
	/* every service the task builder gives a health check is gated on it
	 * (API and webconsole: TCP on their main port) */
	c->pc.health_checked |= 1u << SERVICE_API | 1u << SERVICE_WEBCONSOLE;
	c->pc.backoff_base_ms = cfg->backoff_base;
	c->pc.backoff_max_ms = cfg->backoff_max;
	c->pc.prober_stale_ms = cfg->prober_stale;
	if (!split_attr(c, cfg->api_attribute, &c->pc.api_restriction, 0) ||
	    !split_attr(c, cfg->api_attribute, &c->pc.webconsole_restriction, 1)) {
		snprintf(err, errlen, "--api-attribute must be name=value");
		return QM_EINVAL;
	}
	if (!split_attr(c, cfg->prober_attribute, &c->pc.prober_restriction, 2)) {
		snprintf(err, errlen, "--prober-attribute must be name=value");
		return QM_EINVAL;
	}
	const char *cur = cfg->prober_hostnames;
	char item[TASKSPEC_HOSTNAME_MAX + 2];
	while (config_list_next(&cur, item, sizeof item)) {
		c->prober_hosts = qm_realloc(c->prober_hosts,
					     (c->nprober_hosts + 1) * sizeof *c->prober_hosts);
		c->prober_hosts[c->nprober_hosts++] = qm_strdup(item);
	}
	c->pc.prober_hosts = (const char *const *)c->prober_hosts;
	c->pc.n_prober_hosts = c->nprober_hosts;
	return 0;
}

int setup_config(struct coord *c)
{
	char err[512] = "";
	char host[256] = "localhost";
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	c->hostname = qm_strdup(host);

	if (setup_taskspec(c, err, sizeof err) != 0 || setup_plan(c, err, sizeof err) != 0) {
		log_error("config_invalid", "error=%s", log_qs(err));
		return 2;
	}
	return setup_auth(c);
}

int setup_bus(struct coord *c)
{
	const struct coord_config *cfg = c->cfg;
	char err[512] = "";
	if (load_secret(c, err, sizeof err) != 0) {
		log_error("bus_secret_failed", "error=%s", log_qs(err));
		return 1;
	}
	c->bus_url = cfg->bus_advertise && cfg->bus_advertise[0]
			     ? qm_strdup(cfg->bus_advertise)
			     : advertise_url(cfg->bus_listen, c->hostname);
	return 0;
}

int setup_mesos_secret(const struct coord_config *cfg, char **out)
{
	char *mesos_secret = NULL;
	*out = NULL;
	if (cfg->principal && cfg->principal[0] && cfg->mesos_secret_file &&
	    cfg->mesos_secret_file[0]) {
		uint8_t *s = NULL;
		size_t sl = 0;
		if (bus_secret_load(cfg->mesos_secret_file, &s, &sl) != 0 &&
		    (!s || sl == 0)) {
			/* shorter than a bus secret is fine for Mesos: read it plainly */
			FILE *f = fopen(cfg->mesos_secret_file, "re");
			char line[1024] = "";
			if (!f || !fgets(line, sizeof line, f)) {
				log_error("mesos_secret_failed", "path=%s error=%s",
					  log_qs(cfg->mesos_secret_file), log_qs(strerror(errno)));
				if (f)
					fclose(f);
				return 1;
			}
			fclose(f);
			line[strcspn(line, "\r\n")] = '\0';
			mesos_secret = qm_strdup(line);
			memset(line, 0, sizeof line);
		} else {
			mesos_secret = qm_strndup((const char *)s, sl);
			memset(s, 0, sl);
			free(s);
		}
	}
	*out = mesos_secret;
	return 0;
}
