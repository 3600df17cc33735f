/* The coordinator's imperative shell. One loop thread owns everything here:
 * Mesos events, prober messages (busd posts them to the loop), REST requests
 * and timers all run as callbacks on it, so nothing needs a lock.
 *
 * The cycle: an observation (offer, update, inventory change, operator
 * request, timer) -> coord_plan() builds a plan_input from what is known,
 * plan_compute() decides, and the shell carries the actions out: KILLs at
 * once, LAUNCHes into the offers at hand (recorded in the store before the
 * ACCEPT), REVIVE when launches wait for offers, SUPPRESS when nothing does.
 * Offers are never kept: each OFFERS event is answered (ACCEPT or DECLINE)
 * before the handler returns. */
#include "shell/coord.h"
#include "shell/coord_priv.h"

#include "bus.h"
#include "bus_json.h"
#include "shell/busd.h"
#include "config.h"
#include "crypto.h"
#include "evloop.h"
#include "api/http.h"
#include "api/rest.h"
#include "log.h"
#include "mesos/mesos.h"
#include "core/nodes.h"
#include "core/plan.h"
#include "qm_error.h"
#include "state/leader.h"
#include "api/statuspage.h"
#include "state/store.h"
#include "state/store_zk.h"
#include "strmap.h"
#include "core/taskspec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

void coord_fatal(struct coord *c, const char *why)
{
	log_error("coordinator_stop", "reason=%s", log_qs(why));
	c->exit_code = 1;
	c->stopping = true;
	ev_stop(c->loop);
}

/* ------------------------------------------------------------------ */
/* store                                                               */

static void stop_acting(struct coord *c, const char *why);

static void step_down_cb(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct coord *c = arg;
	c->step_down_posted = false;
	stop_acting(c, "the store or the election says another coordinator leads");
	if (c->leader && leader_is_leader(c->leader))
		/* the election still names us, the store does not: nothing safe
		 * is left to do but leave, so that a fresh process stands again */
		coord_fatal(c, "the election names this coordinator but its state is fenced off");
}

/* Stop acting as soon as the current callback is over: the state in hand
 * may still be in use by the caller, so it is dropped from the loop. Until
 * then coord_plan() does nothing, and no update is acknowledged (saves
 * fail). */
void step_down_soon(struct coord *c)
{
	if (c->step_down_posted || !c->leading)
		return;
	c->step_down_posted = true;
	ev_post(c->loop, step_down_cb, c);
}

int coord_save(struct coord *c)
{
	char err[256] = "";
	uint64_t nv = 0;
	int rv = store_save(c->store, &c->st, c->st_version, &nv, err, sizeof err);
	if (rv != 0) {
		c->n.store_errors++;
		log_error("store_save_failed", "backend=%s location=%s error=%s detail=%s",
			  store_backend(c->store), log_qs(store_location(c->store)),
			  qm_strerror(rv), log_qs(err));
		if (rv == QM_ECONFLICT && c->leader)
			step_down_soon(c); /* fenced: someone else leads now */
		else if (rv == QM_ECONFLICT)
			coord_fatal(c, "the stored state was changed by someone else; "
				       "another coordinator may be running");
		return rv;
	}
	c->st_version = nv;
	c->n.store_saves++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* leadership                                                          */

static void zk_tick(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	if (!c->leading && !leader_current(c->leader)) {
		log_warn("zookeeper_waiting", "zk=%s action=%s", log_qs(store_location(c->store)),
			 log_qs("not acting until ZooKeeper answers and this coordinator is elected"));
	}
	c->zk_timer = ev_timer_add(loop, 10000, zk_tick, c);
}

#define PROGRESS_BUS_URL "bus_url="

/* Probers were launched with the bus URL of the coordinator that launched
 * them. If that is not ours (a new leader on another host, or a changed
 * --bus-advertise), they would dial a coordinator that is gone: replace
 * them. Services are not touched; the planner keeps them while their node's
 * inventory is unknown. */
static bool check_prober_url(struct coord *c)
{
	char want[STORE_PROGRESS_MAX + 1];
	snprintf(want, sizeof want, "%s%s", PROGRESS_BUS_URL, c->bus_url);
	if (strcmp(c->st.progress, want) == 0)
		return false;
	size_t n = 0;
	if (c->st.progress[0]) {
		for (size_t i = 0; i < c->st.ntasks; i++) {
			struct store_task *t = &c->st.tasks[i];
			if (strcmp(t->service, "prober") == 0 && !t->kill_requested) {
				t->kill_requested = true;
				n++;
			}
		}
	}
	if (n)
		log_warn("probers_replaced", "count=%zu old=%s new=%s", n,
			 log_qs(c->st.progress), log_qs(c->bus_url));
	snprintf(c->st.progress, sizeof c->st.progress, "%s", want);
	return true;
}

/* Load the state (and import a file state into an empty ZooKeeper one). */
static int load_state(struct coord *c)
{
	char err[512] = "";
	store_state_fini(&c->st);
	if (store_load(c->store, &c->st, &c->st_version, err, sizeof err) != 0) {
		log_error("store_load_failed", "backend=%s location=%s error=%s",
			  store_backend(c->store), log_qs(store_location(c->store)), log_qs(err));
		return QM_EIO;
	}
	const char *imp = c->cfg->import_state;
	if (c->st_version == 0 && imp && imp[0] && c->leader) {
		struct store *fs = store_open(imp, err, sizeof err);
		struct store_state fst;
		uint64_t fv = 0;
		store_state_init(&fst);
		if (!fs || store_load(fs, &fst, &fv, err, sizeof err) != 0) {
			log_error("state_import_failed", "from=%s error=%s", log_qs(imp), log_qs(err));
			store_state_fini(&fst);
			store_close(fs);
			return QM_EIO;
		}
		store_close(fs);
		store_state_fini(&c->st);
		c->st = fst;
		log_info("state_imported", "from=%s version=%llu framework_id=%s tasks=%zu",
			 log_qs(imp), (unsigned long long)fv, log_qs(c->st.framework_id),
			 c->st.ntasks);
		if (coord_save(c) != 0)
			return QM_EIO;
	}
	log_info("state_loaded",
		 "backend=%s location=%s version=%llu framework_id=%s target_version=%s tasks=%zu",
		 store_backend(c->store), log_qs(store_location(c->store)),
		 (unsigned long long)c->st_version, log_qs(c->st.framework_id),
		 log_qs(c->st.target_version), c->st.ntasks);
	for (size_t i = 0; i < c->st.ntasks; i++)
		health_set(c, c->st.tasks[i].task_id, PLAN_HEALTH_UNKNOWN);
	return 0;
}

static int start_acting(struct coord *c)
{
	char err[512] = "";
	if (c->leader)
		(void)store_zk_set_fence(c->store, leader_znode(c->leader));
	if (load_state(c) != 0)
		return QM_EIO;
	if (check_prober_url(c) && coord_save(c) != 0)
		return QM_EIO;
	c->busd = busd_new(c->loop, c->cfg->bus_listen, c->secret, c->secretlen, events_on_bus, c,
			   err, sizeof err);
	if (!c->busd) {
		log_error("bus_listen_failed", "url=%s error=%s", log_qs(c->cfg->bus_listen),
			  log_qs(err));
		return QM_EIO;
	}
	c->leading = true;
	mesos_start(c->mc, c->st.framework_id);
	return 0;
}

/* Stop acting at once: no Mesos calls, no saves, no prober reports. */
static void stop_acting(struct coord *c, const char *why)
{
	if (!c->leading)
		return;
	c->leading = false;
	mesos_stop(c->mc);
	if (c->busd) {
		busd_free(c->busd);
		c->busd = NULL;
	}
	if (c->leader)
		(void)store_zk_set_fence(c->store, NULL);
	if (c->wake_timer) {
		ev_timer_cancel(c->loop, c->wake_timer);
		c->wake_timer = 0;
	}
	if (c->unreach_timer) {
		ev_timer_cancel(c->loop, c->unreach_timer);
		c->unreach_timer = 0;
	}
	if (c->retry_timer) {
		ev_timer_cancel(c->loop, c->retry_timer);
		c->retry_timer = 0;
	}
	cJSON_Delete(c->retry_calls);
	c->retry_calls = NULL;
	/* forget everything: the next term reloads the state and probers
	 * resend their snapshots */
	store_state_fini(&c->st);
	c->st_version = 0;
	nodes_fini(&c->nodes);
	nodes_init(&c->nodes);
	while (c->nhealth)
		health_drop(c, c->health[c->nhealth - 1].task_id);
	plan_output_free(&c->last);
	log_warn("leadership_lost", "reason=%s action=%s", log_qs(why),
		 log_qs("stopped acting; standing again"));
}

static void on_elected(void *arg)
{
	struct coord *c = arg;
	log_info("leadership_won", "id=%s", log_qs(c->webui));
	if (start_acting(c) != 0)
		coord_fatal(c, "elected, but the state cannot be loaded or the bus not opened");
}

static void on_lost(void *arg, const char *reason)
{
	stop_acting(arg, reason);
}

static void on_leader_changed(void *arg, const char *id)
{
	struct coord *c = arg;
	if (!c->leading)
		log_info("leader", "id=%s", log_qs(id ? id : "(unknown)"));
}

/* ------------------------------------------------------------------ */
/* set-up                                                              */

/* SIGHUP: read the token file again; on any error keep the tokens. */
static void reload_tokens(struct coord *c)
{
	const char *path = c->cfg->api_token_file;
	if (!path || !path[0]) {
		log_info("signal", "signo=%d action=none why=%s", SIGHUP,
			 log_qs("no --api-token-file to re-read"));
		return;
	}
	struct auth_tokens t;
	char err[300];
	if (auth_tokens_load(path, &t, err, sizeof err) != 0) {
		log_warn("api_tokens_reload_failed", "error=%s kept=%zu", log_qs(err),
			 auth_ntokens(c->auth));
		return;
	}
	size_t n = t.n;
	auth_set_tokens(c->auth, &t);
	log_info("api_tokens_reloaded", "path=%s tokens=%zu", log_qs(path), n);
}

static void on_signal(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)events;
	struct coord *c = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			reload_tokens(c);
			continue;
		}
		log_info("signal", "signo=%u action=stop", si.ssi_signo);
		c->stopping = true;
		ev_stop(loop);
	}
}

#define INSECURE_WARN_MS (3600u * 1000u)

static void warn_insecure(struct ev_loop *loop, void *arg)
{
	struct coord *c = arg;
	log_warn("http_insecure", "listen=%s why=%s", log_qs(c->cfg->http_listen),
		 log_qs("--http-insecure and no token: anyone who reaches the REST API can "
			"change the cluster; give --api-token-file"));
	c->insecure_timer = ev_timer_add(loop, INSECURE_WARN_MS, warn_insecure, c);
}

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
			crypto_hex_encode(raw, sizeof raw, hex);
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

static void coord_free(struct coord *c)
{
	if (c->leader)
		leader_free(c->leader);
	if (c->http)
		http_server_free(c->http);
	auth_free(c->auth);
	if (c->mc)
		mesos_free(c->mc);
	if (c->busd)
		busd_free(c->busd);
	if (c->loop) {
		/* let busd's final posted release run */
		ev_stop(c->loop);
		(void)ev_run(c->loop);
	}
	if (c->sigfd >= 0) {
		if (c->loop)
			ev_fd_del(c->loop, c->sigfd);
		close(c->sigfd);
	}
	if (c->loop)
		ev_loop_free(c->loop);
	store_close(c->store);
	store_state_fini(&c->st);
	cJSON_Delete(c->retry_calls);
	nodes_fini(&c->nodes);
	agents_fini(c);
	for (size_t i = 0; i < c->nprober_hosts; i++)
		free(c->prober_hosts[i]);
	free(c->prober_hosts);
	for (size_t i = 0; i < 4; i++)
		free(c->restr_buf[i]);
	plan_output_free(&c->last);
	if (c->secret) {
		memset(c->secret, 0, c->secretlen);
		free(c->secret);
	}
	free(c->bus_url);
	free(c->hostname);
	free(c->webui);
	free(c->prober_uri);
}

/* Every cJSON allocation follows the out-of-memory policy (qm_error.h):
 * qm_malloc() aborts through qm_oom() instead of returning NULL, so the
 * cJSON_Create and cJSON_Add calls here and in the Mesos client need no
 * check. cJSON_Parse still returns NULL for malformed input: those checks
 * stay. Process-wide; set once, before the first cJSON call. */
static void setup_cjson_oom(void)
{
	cJSON_Hooks hooks = { .malloc_fn = qm_malloc, .free_fn = free };
	cJSON_InitHooks(&hooks);
}

int coord_run(const struct coord_config *cfg)
{
	setup_cjson_oom();
	struct coord cs;
	struct coord *c = &cs;
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->sigfd = -1;
	store_state_init(&c->st);
	nodes_init(&c->nodes);
	agents_init(c);
	char err[512] = "";
	int rc = 1;

	/* Block the stop signals before any library starts threads (the
	 * ZooKeeper client does in store_open): a thread with them unblocked
	 * would take SIGTERM and the process would die without resigning. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP); /* re-read the token file */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	char host[256] = "localhost";
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	c->hostname = qm_strdup(host);

	if (setup_taskspec(c, err, sizeof err) != 0 || setup_plan(c, err, sizeof err) != 0) {
		log_error("config_invalid", "error=%s", log_qs(err));
		coord_free(c);
		return 2;
	}
	if (setup_auth(c) != 0) {
		coord_free(c);
		return 2;
	}

	const char *store_url = cfg->zk && cfg->zk[0] ? cfg->zk : cfg->state_dir;
	if (cfg->zk && cfg->zk[0]) {
		struct zk_opts zo = { .session_timeout_ms = (int)cfg->zk_session_timeout };
		c->store = store_zk_open(store_url, &zo, err, sizeof err);
	} else {
		c->store = store_open(store_url, err, sizeof err);
	}
	if (!c->store) {
		log_error("store_open_failed", "location=%s error=%s", log_qs(store_url),
			  log_qs(err));
		goto out;
	}
	/* The file store is read now: a broken state must stop the start-up.
	 * The ZooKeeper store is read when this coordinator is elected. */
	if (!(cfg->zk && cfg->zk[0]) && load_state(c) != 0)
		goto out;

	if (load_secret(c, err, sizeof err) != 0) {
		log_error("bus_secret_failed", "error=%s", log_qs(err));
		goto out;
	}
	c->bus_url = cfg->bus_advertise && cfg->bus_advertise[0]
			     ? qm_strdup(cfg->bus_advertise)
			     : advertise_url(cfg->bus_listen, c->hostname);

	c->loop = ev_loop_new();
	if (!c->loop) {
		log_error("loop_failed", "error=%s", log_qs(strerror(errno)));
		goto out;
	}
	c->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0 || ev_fd_add(c->loop, c->sigfd, EV_READ, on_signal, c) != 0) {
		log_error("signalfd_failed", "error=%s", log_qs(strerror(errno)));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	int herr = 0;
	c->http = http_server_new(c->loop, cfg->http_listen, rest_routes, rest_nroutes, c,
				  &herr);
	if (!c->http) {
		log_error("http_listen_failed", "address=%s error=%s", log_qs(cfg->http_listen),
			  qm_strerror(herr));
		goto out;
	}
	http_server_set_auth(c->http, c->auth);
	http_server_set_audit(c->http, rest_on_audit, c);
	if (c->http_open)
		warn_insecure(c->loop, c);
	{
		size_t n = strlen(c->hostname) + 32;
		c->webui = qm_malloc(n);
		snprintf(c->webui, n, "http://%s:%u/", c->hostname,
			 (unsigned)http_server_port(c->http));
	}
	if (c->ts.prober_mode == TASKSPEC_PROBER_DOCKER && cfg->prober_binary &&
	    cfg->prober_binary[0]) {
		/* serve the binary ourselves and let the Mesos fetcher get it */
		size_t n = strlen(c->webui) + 32;
		c->prober_uri = qm_malloc(n);
		snprintf(c->prober_uri, n, "%sfiles/quobyte-prober", c->webui);
		c->ts.prober_mode = TASKSPEC_PROBER_FETCH;
		c->ts.prober_uri = c->prober_uri;
		if (taskspec_config_validate(&c->ts, err, sizeof err) != 0) {
			log_error("config_invalid", "error=%s", log_qs(err));
			rc = 2;
			goto out;
		}
	}

	char *mesos_secret = NULL;
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
				goto out;
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
	struct mesos_config mcfg = {
		.master = cfg->master,
		.user = cfg->user,
		.name = cfg->framework_name,
		.role = cfg->role,
		.principal = cfg->principal && cfg->principal[0] ? cfg->principal : NULL,
		.secret = mesos_secret,
		.hostname = c->hostname,
		.webui_url = c->webui,
		.failover_timeout_s = (double)cfg->failover_timeout / 1000.0,
		.heartbeat_misses = (unsigned)cfg->heartbeat_misses,
		.master_scheme = cfg->master_scheme,
		.zk_session_timeout_ms = (int)cfg->zk_session_timeout,
		.refused_retry_ms = (uint64_t)cfg->refused_retry,
	};
	c->mc = mesos_new(c->loop, &mcfg, &events_mesos_handlers, c);
	if (mesos_secret) {
		memset(mesos_secret, 0, strlen(mesos_secret));
		free(mesos_secret);
	}
	if (!c->mc) {
		log_error("mesos_client_failed", "error=%s", "curl initialisation failed");
		goto out;
	}
	log_info("coordinator_start",
		 "version=%s master=%s rest=%s:%u bus_listen=%s bus_url=%s prober=%s",
		 QM_VERSION_STRING, log_qs(cfg->master), log_qs(c->hostname),
		 (unsigned)http_server_port(c->http), log_qs(cfg->bus_listen),
		 log_qs(c->bus_url),
		 c->ts.prober_mode == TASKSPEC_PROBER_COMMAND ? "command"
		 : c->ts.prober_mode == TASKSPEC_PROBER_FETCH ? "fetch" : "docker");
	if (cfg->zk && cfg->zk[0]) {
		struct leader_cbs lc = {
			.elected = on_elected,
			.lost = on_lost,
			.leader_changed = on_leader_changed,
		};
		if (leader_new(c->loop, store_zk_conn(c->store), c->webui, &lc, c, &c->leader, err,
			       sizeof err) != 0) {
			log_error("election_failed", "error=%s", log_qs(err));
			goto out;
		}
		log_info("election_standing", "zk=%s id=%s", log_qs(store_location(c->store)),
			 log_qs(c->webui));
		c->zk_timer = ev_timer_add(c->loop, 5000, zk_tick, c);
	} else if (start_acting(c) != 0) {
		goto out;
	}
	events_start_timers(c);

	if (ev_run(c->loop) != 0)
		log_error("loop_failed", "error=%s", "epoll_wait failed");
	rc = c->exit_code;
	log_info("coordinator_stopped", "exit=%d", rc);
out:
	coord_free(c);
	return rc;
}
