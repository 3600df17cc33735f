/* fake_probers: many probers' bus traffic from one process, for the
 * coordinator's scale benchmarks (tests/bench/offer_cycle.py). Real probers
 * for thousands of agents cannot run on one machine; this tool speaks for
 * them: for every agent in the list it publishes one snapshot with N
 * synthetic devices over NNG (REQ, like a prober) to the coordinator's bus
 * listener, signed with the node credential derived from the cluster secret
 * (bus_credential_derive), and waits for each Ack. Optionally it then sends
 * rounds of heartbeats (same session and generation, so they change nothing
 * and ask for nothing).
 *
 *   fake_probers --url URL --secret-file PATH --agents FILE
 *                [--devices N] [--types data|mixed] [--parallel N]
 *                [--heartbeat-rounds N] [--pause-ms MS] [--timeout-ms MS]
 *                [--session-seed N] [--heartbeats-only]
 *
 * --agents FILE: one agent per line, "AGENT_ID HOSTNAME" (blank lines and
 *   lines starting with '#' skipped); "-" reads standard input.
 * --devices N (default 24): devices per agent, all state OK, with the fields
 *   a real prober fills for a marked XFS disk (key, root, block device, fs
 *   type/uuid, serial, model, udev ids, size, free, rotational).
 * --types data (default): every device DATA; mixed: device 0 REGISTRY,
 *   device 1 METADATA, the rest DATA.
 * --parallel N (default 8): worker threads, each with its own REQ socket;
 *   agents are dealt round-robin.
 * --heartbeat-rounds N (default 0): after the snapshots, N rounds of one
 *   heartbeat per agent; --pause-ms MS (default 0) is waited before each
 *   round, so that a caller sampling the coordinator's CPU can tell the
 *   phases apart (each line carries its start and end, unix ms).
 * --session-seed N: derive each agent's session from N and its agent id
 *   (default: random per agent), so that a later run with the same seed and
 *   --heartbeats-only (no snapshots) sends heartbeats the coordinator takes
 *   as current (same session, generation 1).
 *
 * Output (stdout): one JSON line per phase, e.g.
 *   {"phase":"snapshots","messages":10000,"devices_per_agent":24,
 *    "seconds":12.3,"rate_per_s":813,"frame_bytes_mean":7712,
 *    "rtt_ms":{"p50":..,"p99":..,"max":..},"errors":0,
 *    "start_unix_ms":..,"end_unix_ms":..}
 * Exit status 0 when every message got a valid, error-free Ack; 1 otherwise
 * (the first problems are printed on stderr); 2 for bad arguments. */
#include "bus.h"
#include "qm_error.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct agent {
	char *id;
	char *hostname;
	uint64_t session;
};

struct opts {
	const char *url;
	const char *secret_file;
	const char *agents_file;
	unsigned devices;
	bool mixed;
	unsigned parallel;
	unsigned heartbeat_rounds;
	unsigned pause_ms;
	int timeout_ms;
	bool have_seed;
	uint64_t seed;
	bool heartbeats_only;
};

struct shared {
	const struct opts *o;
	uint8_t *secret;
	size_t secretlen;
	struct agent *agents;
	size_t nagents;
	pthread_mutex_t lock;
	unsigned long errors;
	unsigned printed;
};

enum kind { K_SNAPSHOT, K_HEARTBEAT };

struct worker {
	struct shared *sh;
	unsigned index;
	enum kind kind;
	double *rtt_ms;     /* one slot per agent, filled for this worker's agents */
	uint64_t bytes;
	unsigned long sent;
	int rc;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void problem(struct shared *sh, const char *agent_id, const char *what,
		    const char *detail)
{
	pthread_mutex_lock(&sh->lock);
	sh->errors++;
	if (sh->printed < 10) {
		sh->printed++;
		fprintf(stderr, "fake_probers: agent %s: %s%s%s\n", agent_id, what,
			detail ? ": " : "", detail ? detail : "");
	}
	pthread_mutex_unlock(&sh->lock);
}

/* ------------------------------------------------------------------ */
/* synthetic inventory                                                 */

struct devbuf {
	char key[128], root[64], block[32], uuid[40], serial[48], wwn[24];
	Quobyte__Bus__DeviceType types[1];
};

static void fill_device(Quobyte__Bus__Device *d, struct devbuf *b, size_t agent_index,
			unsigned i, bool mixed)
{
	quobyte__bus__device__init(d);
	uint32_t a = (uint32_t)agent_index;
	snprintf(b->wwn, sizeof b->wwn, "0x5000c5%05x%05x", a & 0xfffffu, i & 0xfffffu);
	snprintf(b->serial, sizeof b->serial, "FAKE%07" PRIu32 "D%02u", a, i);
	snprintf(b->key, sizeof b->key, "wwn:%s/%s", b->wwn, b->serial);
	snprintf(b->root, sizeof b->root, "/mnt/quobyte/disk%02u", i);
	if (i < 26)
		snprintf(b->block, sizeof b->block, "/dev/sd%c1", 'a' + (int)i);
	else
		snprintf(b->block, sizeof b->block, "/dev/sda%c1", 'a' + (int)(i % 26));
	snprintf(b->uuid, sizeof b->uuid, "%08" PRIx32 "-%04x-4000-8000-%012x", a, i & 0xffffu,
		 (a * 131u + i) & 0xffffffu);
	if (mixed && i == 0)
		b->types[0] = QUOBYTE__BUS__DEVICE_TYPE__REGISTRY;
	else if (mixed && i == 1)
		b->types[0] = QUOBYTE__BUS__DEVICE_TYPE__METADATA;
	else
		b->types[0] = QUOBYTE__BUS__DEVICE_TYPE__DATA;
	d->key = b->key;
	d->root = b->root;
	d->block_device = b->block;
	d->fs_type = (char *)"xfs";
	d->fs_uuid = b->uuid;
	d->n_types = 1;
	d->types = b->types;
	d->has_state = 1;
	d->state = QUOBYTE__BUS__DEVICE_STATE__OK;
	d->serial = b->serial;
	d->model = (char *)"FAKE-HDD-4T";
	d->has_size_bytes = 1;
	d->size_bytes = 4000787030016ull;
	d->has_free_bytes = 1;
	d->free_bytes = 3900000000000ull - (uint64_t)i * 1000000000ull;
	d->has_rotational = 1;
	d->rotational = 1;
	d->udev_serial = b->serial;
	d->udev_wwn = b->wwn;
	d->udev_model = (char *)"FAKE-HDD-4T";
}

/* ------------------------------------------------------------------ */
/* one request/reply                                                    */

static int exchange(struct worker *w, nng_socket sock, const struct agent *ag,
		    double *rtt_ms)
{
	struct shared *sh = w->sh;
	const struct opts *o = sh->o;
	uint8_t cred[BUS_CRED_LEN];
	bus_credential_derive(sh->secret, sh->secretlen, ag->id, cred);

	Quobyte__Bus__NodeIdentity node = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	node.agent_id = ag->id;
	node.hostname = ag->hostname;
	node.boot_id = (char *)"00000000-0000-4000-8000-fa4e00000000";
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	env.has_protocol_version = 1;
	env.protocol_version = BUS_PROTOCOL_VERSION;
	env.node = &node;
	env.has_generation = 1;
	env.generation = 1;
	env.has_session = 1;
	env.session = ag->session;
	env.has_sent_unix_ms = 1;
	env.sent_unix_ms = unix_ms();

	Quobyte__Bus__Snapshot snap = QUOBYTE__BUS__SNAPSHOT__INIT;
	Quobyte__Bus__Inventory inv = QUOBYTE__BUS__INVENTORY__INIT;
	Quobyte__Bus__Heartbeat hb = QUOBYTE__BUS__HEARTBEAT__INIT;
	Quobyte__Bus__Device *devs = NULL, **devp = NULL;
	struct devbuf *bufs = NULL;
	if (w->kind == K_SNAPSHOT) {
		devs = qm_calloc(o->devices ? o->devices : 1, sizeof *devs);
		devp = qm_calloc(o->devices ? o->devices : 1, sizeof *devp);
		bufs = qm_calloc(o->devices ? o->devices : 1, sizeof *bufs);
		size_t index = (size_t)(ag - sh->agents);
		for (unsigned i = 0; i < o->devices; i++) {
			fill_device(&devs[i], &bufs[i], index, i, o->mixed);
			devp[i] = &devs[i];
		}
		inv.n_devices = o->devices;
		inv.devices = devp;
		snap.inventory = &inv;
		env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT;
		env.snapshot = &snap;
	} else {
		hb.has_uptime_seconds = 1;
		hb.uptime_seconds = 60;
		env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
		env.heartbeat = &hb;
	}

	uint8_t *frame = NULL;
	size_t len = 0;
	int rv = bus_encode(&env, ag->id, cred, &frame, &len);
	free(devs);
	free(devp);
	free(bufs);
	if (rv != 0) {
		problem(sh, ag->id, "bus_encode failed", qm_strerror(rv));
		return -1;
	}
	w->bytes += len;
	w->sent++;
	uint64_t t0 = mono_ns();
	rv = nng_send(sock, frame, len, 0);
	free(frame);
	if (rv != 0) {
		problem(sh, ag->id, "send failed", nng_strerror(rv));
		return -1;
	}
	void *reply = NULL;
	size_t rlen = 0;
	rv = nng_recv(sock, &reply, &rlen, NNG_FLAG_ALLOC);
	*rtt_ms = (double)(mono_ns() - t0) / 1e6;
	if (rv != 0) {
		problem(sh, ag->id, "no Ack", nng_strerror(rv));
		return -1;
	}
	bus_envelope *ack = NULL;
	rv = bus_decode(reply, rlen, cred, &ack);
	nng_free(reply, rlen);
	if (rv != 0) {
		problem(sh, ag->id, "Ack does not decode", qm_strerror(rv));
		return -1;
	}
	int result = 0;
	if (ack->body_case != QUOBYTE__BUS__ENVELOPE__BODY_ACK) {
		problem(sh, ag->id, "reply is not an Ack", bus_body_name(ack));
		result = -1;
	} else if (ack->ack->error) {
		problem(sh, ag->id, "Ack carries an error", ack->ack->error);
		result = -1;
	} else if (ack->ack->has_send_snapshot && ack->ack->send_snapshot) {
		problem(sh, ag->id, "coordinator asks for a snapshot", NULL);
		result = -1;
	} else if (!ack->ack->has_generation || ack->ack->generation != 1) {
		problem(sh, ag->id, "Ack names another generation", NULL);
		result = -1;
	}
	bus_envelope_free(ack);
	return result;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const struct opts *o = sh->o;
	nng_socket sock;
	int rv = nng_req0_open(&sock);
	if (rv == 0)
		rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, o->timeout_ms);
	if (rv == 0)
		rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, o->timeout_ms);
	if (rv == 0)
		rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, BUS_MAX_FRAME);
	if (rv == 0)
		rv = nng_dial(sock, o->url, NULL, 0);
	if (rv != 0) {
		problem(sh, "-", "cannot dial the coordinator", nng_strerror(rv));
		w->rc = 1;
		return NULL;
	}
	for (size_t i = w->index; i < sh->nagents; i += o->parallel) {
		if (exchange(w, sock, &sh->agents[i], &w->rtt_ms[i]) != 0)
			w->rc = 1;
	}
	nng_close(sock);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

static int run_phase(struct shared *sh, enum kind kind, const char *name, unsigned round)
{
	const struct opts *o = sh->o;
	double *rtt = qm_calloc(sh->nagents ? sh->nagents : 1, sizeof *rtt);
	struct worker *ws = qm_calloc(o->parallel, sizeof *ws);
	pthread_t *th = qm_calloc(o->parallel, sizeof *th);
	unsigned long errors_before = sh->errors;
	uint64_t start_ms = unix_ms();
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < o->parallel; i++) {
		ws[i] = (struct worker){ .sh = sh, .index = i, .kind = kind, .rtt_ms = rtt };
		if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "fake_probers: pthread_create: %s\n", strerror(errno));
			exit(1);
		}
	}
	int rc = 0;
	uint64_t bytes = 0;
	unsigned long sent = 0;
	for (unsigned i = 0; i < o->parallel; i++) {
		pthread_join(th[i], NULL);
		rc |= ws[i].rc;
		bytes += ws[i].bytes;
		sent += ws[i].sent;
	}
	double secs = (double)(mono_ns() - t0) / 1e9;
	uint64_t end_ms = unix_ms();
	qsort(rtt, sh->nagents, sizeof *rtt, cmp_double);
	printf("{\"phase\":\"%s\",\"round\":%u,\"messages\":%lu,\"devices_per_agent\":%u,"
	       "\"seconds\":%.3f,\"rate_per_s\":%.0f,\"frame_bytes_mean\":%.0f,"
	       "\"rtt_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"errors\":%lu,"
	       "\"start_unix_ms\":%" PRIu64 ",\"end_unix_ms\":%" PRIu64 "}\n",
	       name, round, sent, kind == K_SNAPSHOT ? o->devices : 0, secs,
	       secs > 0 ? (double)sent / secs : 0.0, sent ? (double)bytes / (double)sent : 0.0,
	       pct(rtt, sh->nagents, 50), pct(rtt, sh->nagents, 99),
	       sh->nagents ? rtt[sh->nagents - 1] : 0.0, sh->errors - errors_before, start_ms,
	       end_ms);
	fflush(stdout);
	free(rtt);
	free(ws);
	free(th);
	return rc;
}

/* ------------------------------------------------------------------ */
/* set-up                                                              */

static int load_agents(struct shared *sh, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	if (!f) {
		fprintf(stderr, "fake_probers: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	size_t cap = 0, lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		char *save = NULL;
		char *id = strtok_r(p, " \t\r\n", &save);
		char *host = strtok_r(NULL, " \t\r\n", &save);
		if (!id || !host || strlen(id) > BUS_AGENT_ID_MAX) {
			fprintf(stderr, "fake_probers: %s:%zu: want \"AGENT_ID HOSTNAME\"\n", path,
				lineno);
			rc = -1;
			break;
		}
		if (sh->nagents == cap) {
			cap = cap ? cap * 2 : 1024;
			sh->agents = qm_realloc(sh->agents, cap * sizeof *sh->agents);
		}
		struct agent *a = &sh->agents[sh->nagents++];
		a->id = qm_strdup(id);
		a->hostname = qm_strdup(host);
		if (sh->o->have_seed) {
			uint64_t h = 1469598103934665603ull ^ sh->o->seed;
			for (const char *c = id; *c; c++)
				h = (h ^ (unsigned char)*c) * 1099511628211ull;
			a->session = h;
		} else if (getrandom(&a->session, sizeof a->session, 0) !=
			   (ssize_t)sizeof a->session) {
			a->session = mono_ns() ^ (uint64_t)sh->nagents;
		}
		a->session |= 1;
	}
	if (f != stdin)
		fclose(f);
	if (rc == 0 && sh->nagents == 0) {
		fprintf(stderr, "fake_probers: %s: no agents\n", path);
		rc = -1;
	}
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fake_probers --url URL --secret-file PATH --agents FILE|-\n"
		   "                    [--devices N] [--types data|mixed] [--parallel N]\n"
		   "                    [--heartbeat-rounds N] [--pause-ms MS] [--timeout-ms MS]\n"
		   "                    [--session-seed N] [--heartbeats-only]\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !end || *end || end == s || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	struct opts o = { .devices = 24, .parallel = 8, .timeout_ms = 30000 };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "agents", required_argument, NULL, 'a' },
		{ "devices", required_argument, NULL, 'd' },
		{ "types", required_argument, NULL, 't' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "heartbeat-rounds", required_argument, NULL, 'r' },
		{ "pause-ms", required_argument, NULL, 'P' },
		{ "session-seed", required_argument, NULL, 'S' },
		{ "heartbeats-only", no_argument, NULL, 'H' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	unsigned long v;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': o.url = optarg; break;
		case 's': o.secret_file = optarg; break;
		case 'a': o.agents_file = optarg; break;
		case 'd':
			if (!parse_uint(optarg, BUS_MAX_DEVICES, &v))
				goto bad;
			o.devices = (unsigned)v;
			break;
		case 't':
			if (strcmp(optarg, "data") == 0)
				o.mixed = false;
			else if (strcmp(optarg, "mixed") == 0)
				o.mixed = true;
			else
				goto bad;
			break;
		case 'p':
			if (!parse_uint(optarg, 256, &v) || v == 0)
				goto bad;
			o.parallel = (unsigned)v;
			break;
		case 'r':
			if (!parse_uint(optarg, 1000, &v))
				goto bad;
			o.heartbeat_rounds = (unsigned)v;
			break;
		case 'P':
			if (!parse_uint(optarg, 3600000, &v))
				goto bad;
			o.pause_ms = (unsigned)v;
			break;
		case 'S': {
			char *end = NULL;
			errno = 0;
			o.seed = strtoull(optarg, &end, 10);
			if (errno || !end || *end || end == optarg)
				goto bad;
			o.have_seed = true;
			break;
		}
		case 'H': o.heartbeats_only = true; break;
		case 'T':
			if (!parse_uint(optarg, 3600000, &v) || v == 0)
				goto bad;
			o.timeout_ms = (int)v;
			break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (optind != argc || !o.url || !o.secret_file || !o.agents_file)
		goto bad;

	struct shared sh = { .o = &o };
	pthread_mutex_init(&sh.lock, NULL);
	int rv = bus_secret_load(o.secret_file, &sh.secret, &sh.secretlen);
	if (rv != 0) {
		fprintf(stderr, "fake_probers: secret %s: %s\n", o.secret_file, qm_strerror(rv));
		return 1;
	}
	if (load_agents(&sh, o.agents_file) != 0)
		return 2;
	if (o.parallel > sh.nagents)
		o.parallel = (unsigned)sh.nagents;

	if (o.heartbeats_only && (!o.have_seed || !o.heartbeat_rounds)) {
		fprintf(stderr, "fake_probers: --heartbeats-only needs --session-seed "
				"(the one the snapshots were sent with) and --heartbeat-rounds\n");
		return 2;
	}
	int rc = o.heartbeats_only ? 0 : run_phase(&sh, K_SNAPSHOT, "snapshots", 0);
	for (unsigned r = 1; r <= o.heartbeat_rounds; r++) {
		if (o.pause_ms) {
			struct timespec ts = { .tv_sec = o.pause_ms / 1000,
					       .tv_nsec = (long)(o.pause_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		rc |= run_phase(&sh, K_HEARTBEAT, "heartbeats", r);
	}

	for (size_t i = 0; i < sh.nagents; i++) {
		free(sh.agents[i].id);
		free(sh.agents[i].hostname);
	}
	free(sh.agents);
	memset(sh.secret, 0, sh.secretlen);
	free(sh.secret);
	pthread_mutex_destroy(&sh.lock);
	return rc ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
