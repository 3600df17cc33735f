/* bus_receiver: the coordinator's end of the prober bus, for tests and
 * benchmarks. It listens (NNG REP), authenticates every frame with the
 * credential derived from the cluster secret, prints one JSON line per frame
 * on stdout and answers with a signed Ack, keeping just enough per-node
 * state (session, generation) to ask for a snapshot when a delta's base or a
 * heartbeat's generation does not match, as the coordinator does.
 *
 *   bus_receiver --listen URL --secret-file PATH
 *                [--request-snapshot-every N] [--drop-first-acks N]
 *                [--ack-delay-us N]
 *                [--bus-tls-cert FILE --bus-tls-key FILE [--bus-tls-ca FILE]]
 *   bus_receiver --derive AGENT_ID --secret-file PATH
 *
 * Output lines (one JSON object each, flushed at once):
 *   accepted frames: busjson_envelope() plus "recv_unix_ms" (CLOCK_REALTIME)
 *     and "recv_mono_ns" (CLOCK_MONOTONIC), so a benchmark on the same
 *     machine can subtract its own clock reads ("session" is busjson's
 *     16-digit hex string, exactly as the prober logs it); plus what was
 *     answered: "reply_generation", "reply_send_snapshot", "reply_dropped".
 *   rejected frames: {"kind":"rejected","error":..,"agent_id":..|null,
 *     "bytes":N, "recv_unix_ms":.., "recv_mono_ns":..}
 *
 * --request-snapshot-every N: every Nth non-snapshot message is answered
 *   with send_snapshot=true and the node's state is forgotten, as after a
 *   coordinator restart.
 * --drop-first-acks N: the first N accepted frames get no reply at all (the
 *   state is not updated either), as if the message were lost.
 * --bus-tls-*: a tls+tcp:// URL served as the coordinator serves it
 *   (common/bus_tls.h; --bus-tls-ca asks dialers for a client certificate).
 * --ack-delay-us N: every Ack leaves N microseconds after its frame's line
 *   was printed, so a test that reacts to the line (stress_shutdown.py:
 *   SIGTERM to the prober) can place its action before the Ack arrives.
 *
 * One thread; blocking receive with a short timeout so that SIGTERM/SIGINT
 * (which only set a flag) end the loop with exit status 0. Garbage never
 * stops it: every frame gets an answer or is dropped, never a crash. */
#include "bus.h"
#include "bus_json.h"
#include "bus_tls.h"
#include "mac.h"
#include "log.h"
#include "qm_error.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODES 256

struct node_state {
	char agent_id[BUS_AGENT_ID_MAX + 1];
	bool known;          /* a snapshot was accepted */
	uint64_t session;
	uint64_t generation; /* generation held */
};

struct receiver {
	const uint8_t *secret;
	size_t secretlen;
	long snapshot_every;   /* 0 = never */
	long drop_acks;        /* replies still to drop */
	long ack_delay_us;     /* between printing a frame and its Ack */
	unsigned long non_snapshots;
	struct node_state nodes[MAX_NODES];
	size_t nnodes;
	size_t evict;          /* next slot to reuse when the table is full */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add_recv_times(cJSON *o, uint64_t unix_ms, uint64_t mono_ns)
{
	/* Doubles hold integers exactly up to 2^53: ~285 years of ms, ~104 days
	 * of monotonic ns since boot; enough for a test machine. */
	cJSON_AddNumberToObject(o, "recv_unix_ms", (double)unix_ms);
	cJSON_AddNumberToObject(o, "recv_mono_ns", (double)mono_ns);
}

static void print_line(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	if (!text)
		qm_oom();
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	cJSON_free(text);
}

static struct node_state *node_find(struct receiver *r, const char *agent_id,
				    bool create)
{
	for (size_t i = 0; i < r->nnodes; i++)
		if (strcmp(r->nodes[i].agent_id, agent_id) == 0)
			return &r->nodes[i];
	if (!create)
		return NULL;
	struct node_state *n;
	if (r->nnodes < MAX_NODES) {
		n = &r->nodes[r->nnodes++];
	} else {
		n = &r->nodes[r->evict];
		r->evict = (r->evict + 1) % MAX_NODES;
	}
	memset(n, 0, sizeof *n);
	snprintf(n->agent_id, sizeof n->agent_id, "%s", agent_id);
	return n;
}

/* Decide the answer to an accepted message and update the node's state. */
static void handle_message(struct receiver *r, const char *agent_id,
			   const bus_envelope *env, Quobyte__Bus__Ack *ack)
{
	struct node_state *n = node_find(r, agent_id, true);
	bool want_snapshot = false;

	switch (env->body_case) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT:
		n->known = true;
		n->session = env->session;
		n->generation = env->generation;
		break;
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA:
		if (!n->known || n->session != env->session ||
		    !env->delta->has_base_generation ||
		    env->delta->base_generation != n->generation)
			want_snapshot = true;
		else
			n->generation = env->generation;
		break;
	case QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT:
		if (!n->known || n->session != env->session ||
		    env->generation != n->generation)
			want_snapshot = true;
		break;
	default:
		ack->error = "unexpected message kind from a prober";
		break;
	}

	if (env->body_case != QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT &&
	    !want_snapshot && r->snapshot_every > 0 &&
	    ++r->non_snapshots % (unsigned long)r->snapshot_every == 0)
		want_snapshot = true;

	if (want_snapshot) {
		n->known = false;
		ack->has_send_snapshot = true;
		ack->send_snapshot = true;
	}
	if (n->known) {
		ack->has_generation = true;
		ack->generation = n->generation;
	}
}

/* Sign and send an Ack for agent_id; best effort (a test tool logs and goes
 * on when the peer vanished). */
static void send_ack(struct receiver *r, nng_socket sock, const char *agent_id,
		     uint64_t session, Quobyte__Bus__Ack *ack)
{
	bus_envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	env.has_protocol_version = true;
	env.protocol_version = BUS_PROTOCOL_VERSION;
	env.has_sent_unix_ms = true;
	env.sent_unix_ms = clock_ns(CLOCK_REALTIME) / 1000000u;
	if (session) {
		env.has_session = true;
		env.session = session;
	}
	if (ack->has_generation) {
		env.has_generation = true;
		env.generation = ack->generation;
	}
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_ACK;
	env.ack = ack;

	uint8_t cred[BUS_CRED_LEN];
	bus_credential_derive(r->secret, r->secretlen, agent_id, cred);
	uint8_t *frame = NULL;
	size_t len = 0;
	int rv = bus_encode(&env, agent_id, cred, &frame, &len);
	if (rv) {
		log_error("ack_encode_failed", "agent_id=%s error=%s",
			  log_qs(agent_id), qm_strerror(rv));
		/* An empty reply still frees the prober's request. */
		rv = nng_send(sock, "", 0, 0);
	} else {
		rv = nng_send(sock, frame, len, 0);
		free(frame);
	}
	if (rv)
		log_warn("ack_send_failed", "error=%s", log_qs(nng_strerror(rv)));
}

static void handle_frame(struct receiver *r, nng_socket sock,
			 const uint8_t *buf, size_t len)
{
	uint64_t unix_ms = clock_ns(CLOCK_REALTIME) / 1000000u;
	uint64_t mono_ns = clock_ns(CLOCK_MONOTONIC);
	char agent_id[BUS_AGENT_ID_MAX + 1] = "";
	bus_envelope *env = NULL;

	int rv = bus_decode_with_secret(buf, len, r->secret, r->secretlen,
					agent_id, sizeof agent_id, &env);
	if (rv) {
		char why[128];
		snprintf(why, sizeof why, "%s (frame of %zu bytes)",
			 qm_strerror(rv), len);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", "rejected");
		cJSON_AddStringToObject(o, "error", why);
		if (agent_id[0])
			cJSON_AddStringToObject(o, "agent_id", agent_id);
		else
			cJSON_AddNullToObject(o, "agent_id");
		cJSON_AddNumberToObject(o, "bytes", (double)len);
		add_recv_times(o, unix_ms, mono_ns);
		print_line(o);
		cJSON_Delete(o);
		log_warn("frame_rejected", "agent_id=%s error=%s bytes=%zu",
			 log_qs(agent_id), qm_strerror(rv), len);

		if (agent_id[0]) {
			Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
			ack.error = why;
			send_ack(r, sock, agent_id, 0, &ack);
		} else if ((rv = nng_send(sock, "", 0, 0)) != 0) {
			log_warn("ack_send_failed", "error=%s",
				 log_qs(nng_strerror(rv)));
		}
		return;
	}

	Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
	bool drop = r->drop_acks > 0;
	if (drop)
		r->drop_acks--;
	else
		handle_message(r, agent_id, env, &ack);

	cJSON *o = busjson_envelope(env);
	if (!o)
		qm_oom();
	add_recv_times(o, unix_ms, mono_ns);
	if (ack.has_generation)
		cJSON_AddNumberToObject(o, "reply_generation",
					(double)ack.generation);
	cJSON_AddBoolToObject(o, "reply_send_snapshot", ack.send_snapshot);
	cJSON_AddBoolToObject(o, "reply_dropped", drop);
	if (ack.error)
		cJSON_AddStringToObject(o, "reply_error", ack.error);
	print_line(o);
	cJSON_Delete(o);

	if (!drop) {
		if (r->ack_delay_us > 0) {
			struct timespec d = {
				.tv_sec = r->ack_delay_us / 1000000,
				.tv_nsec = (r->ack_delay_us % 1000000) * 1000,
			};
			while (nanosleep(&d, &d) != 0 && errno == EINTR)
				;
		}
		send_ack(r, sock, agent_id, env->has_session ? env->session : 0,
			 &ack);
	}
	bus_envelope_free(env);
}

static int serve(struct receiver *r, const char *url, const struct bus_tls *tls)
{
	nng_socket sock;
	int rv = nng_rep0_open(&sock);
	if (rv) {
		log_error("socket_open_failed", "error=%s",
			  log_qs(nng_strerror(rv)));
		return 1;
	}
	/* nng's default cap (1 MiB) is below the bus's own. */
	char err[512] = "";
	if ((rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, BUS_MAX_FRAME)) ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 100)))
		snprintf(err, sizeof err, "%s", nng_strerror(rv));
	else
		rv = bus_listen(sock, url, tls, err, sizeof err);
	if (rv) {
		log_error("listen_failed", "url=%s error=%s", log_qs(url), log_qs(err));
		nng_close(sock);
		return 1;
	}
	log_info("receiver_listening", "url=%s tls=%s", log_qs(url),
		 bus_url_is_tls(url) ? "on" : "off");

	while (!stop_requested) {
		void *buf = NULL;
		size_t len = 0;
		rv = nng_recv(sock, &buf, &len, NNG_FLAG_ALLOC);
		if (rv == NNG_ETIMEDOUT || rv == NNG_EINTR)
			continue;
		if (rv) {
			log_error("recv_failed", "error=%s",
				  log_qs(nng_strerror(rv)));
			break;
		}
		handle_frame(r, sock, buf, len);
		nng_free(buf, len);
	}
	nng_close(sock);
	log_info("receiver_stopped", NULL);
	return stop_requested ? 0 : 1;
}

static void usage(FILE *f)
{
	fputs("usage: bus_receiver --listen URL --secret-file PATH\n"
	      "                    [--request-snapshot-every N] [--drop-first-acks N]\n"
	      "                    [--ack-delay-us N]\n"
	      "                    [--bus-tls-cert FILE --bus-tls-key FILE [--bus-tls-ca FILE]]\n"
	      "       bus_receiver --derive AGENT_ID --secret-file PATH\n",
	      f);
}

static int parse_count(const char *flag, const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "bus_receiver: %s: '%s' is not a count\n", flag, s);
		return QM_EINVAL;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"secret-file", required_argument, NULL, 's'},
		{"derive", required_argument, NULL, 'd'},
		{"request-snapshot-every", required_argument, NULL, 'n'},
		{"drop-first-acks", required_argument, NULL, 'D'},
		{"ack-delay-us", required_argument, NULL, 'A'},
		{"bus-tls-cert", required_argument, NULL, 'C'},
		{"bus-tls-key", required_argument, NULL, 'K'},
		{"bus-tls-ca", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *listen_url = NULL, *secret_file = NULL, *derive = NULL;
	static struct receiver r; /* the node table is large for a stack */
	struct bus_tls tls = {.cert = NULL, .key = NULL, .ca = NULL};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_url = optarg;
			break;
		case 's':
			secret_file = optarg;
			break;
		case 'd':
			derive = optarg;
			break;
		case 'n':
			if (parse_count("--request-snapshot-every", optarg,
					&r.snapshot_every))
				return 2;
			break;
		case 'D':
			if (parse_count("--drop-first-acks", optarg, &r.drop_acks))
				return 2;
			break;
		case 'A':
			if (parse_count("--ack-delay-us", optarg, &r.ack_delay_us))
				return 2;
			break;
		case 'C':
			tls.cert = optarg;
			break;
		case 'K':
			tls.key = optarg;
			break;
		case 'T':
			tls.ca = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !secret_file || !listen_url == !derive) {
		usage(stderr);
		return 2;
	}

	uint8_t *secret = NULL;
	size_t secretlen = 0;
	int rv = bus_secret_load(secret_file, &secret, &secretlen);
	if (rv) {
		fprintf(stderr, "bus_receiver: cannot load secret %s: %s\n",
			secret_file, qm_strerror(rv));
		return 1;
	}

	if (derive) {
		uint8_t cred[BUS_CRED_LEN];
		char hex[2 * BUS_CRED_LEN + 1];
		bus_credential_derive(secret, secretlen, derive, cred);
		mac_hex_encode(cred, sizeof cred, hex);
		printf("%s\n", hex);
		free(secret);
		return 0;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r.secret = secret;
	r.secretlen = secretlen;
	rv = serve(&r, listen_url, &tls);
	free(secret);
	return rv;
}
