/* Why aio callbacks rather than NNG_OPT_RECVFD/SENDFD in epoll: a REQ
 * socket treats a non-blocking receive that finds no reply as a cancelled
 * receive and abandons the outstanding request, and its pollable
 * "readable" state is not cleared when a new request discards an unread
 * reply. A spurious wake-up would then silently drop the request in
 * flight. With aios every operation has an explicit timeout and exactly
 * one completion, cancellation is explicit, and the callbacks do nothing
 * but post (atomic flag + ev_async_send), so no NNG thread touches our
 * state.
 *
 * Stale replies: REQ matches replies to the current request id and drops
 * the rest, and we never start a request before the previous one's
 * completion has been consumed; an Ack must also name the generation we
 * sent. */
#include "publisher.h"

#include "clock.h"
#include "log.h"
#include "qm_error.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum state { ST_IDLE, ST_SENDING, ST_AWAIT_ACK, ST_CANCELLING };
enum kind { K_SNAPSHOT, K_DELTA, K_HEARTBEAT };

static const char *const kind_names[] = {"snapshot", "delta", "heartbeat"};

/* Backoff after a rejected or failed message: 1 s doubling to 60 s. */
#define RETRY_MIN_MS 1000ull
#define RETRY_MAX_MS 60000ull

/* At shutdown, how long the Ack of a request in flight is waited for
 * (at most the ack timeout); see settle(). */
#define SETTLE_MAX_MS 1000ull

struct pub {
	nng_socket sock;
	bool sock_open;
	struct bus_dialer *dialer;
	nng_aio *send_aio, *recv_aio;
	struct ev_loop *loop;
	struct ev_async *wake; /* sent by NNG threads */
	uint64_t timer;        /* heartbeat/retry timer id, 0 = none */
	const struct inv *(*current)(void *arg, uint64_t *gen);
	void *current_arg;
	void (*stats)(void *arg, Quobyte__Bus__ProberStats *st);
	uint64_t n_sent, n_failed;

	/* written by NNG threads */
	atomic_uint pipes_added, pipes_removed;
	atomic_bool send_done, recv_done;
	/* settle() waits on this while the loop is not running */
	pthread_mutex_t posted_mu;
	pthread_cond_t posted_cv;
	unsigned posted_seq; /* under posted_mu */

	/* loop thread only */
	char *url, *agent_id, *hostname, *boot_id;
	uint8_t cred[BUS_CRED_LEN];
	uint64_t session;
	uint64_t hb_ms, ack_ms;
	uint64_t start_ms;

	unsigned seen_added;
	bool connected;
	enum state st;
	enum kind fl_kind;
	uint64_t fl_gen, fl_base;
	struct inv fl_inv; /* what a snapshot/delta in flight brings about */
	bool fl_has_inv;

	bool have_base;
	struct inv acked;
	uint64_t acked_gen;
	bool need_snapshot;
	uint64_t last_send_ms;
	uint64_t retry_at_ms;
	uint64_t retry_ms;
};

/* ---- NNG threads: post only ------------------------------------------------ */

static void wake(struct pub *p)
{
	pthread_mutex_lock(&p->posted_mu);
	p->posted_seq++;
	pthread_cond_broadcast(&p->posted_cv);
	pthread_mutex_unlock(&p->posted_mu);
	ev_async_send(p->wake); /* coalesces: one loop run for many */
}

static void pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	(void)pipe;
	struct pub *p = arg;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&p->pipes_added, 1);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_add(&p->pipes_removed, 1);
	wake(p);
}

static void send_cb(void *arg)
{
	struct pub *p = arg;
	atomic_store(&p->send_done, true);
	wake(p);
}

static void recv_cb(void *arg)
{
	struct pub *p = arg;
	atomic_store(&p->recv_done, true);
	wake(p);
}

/* ---- set-up ------------------------------------------------------------------- */

bool pub_url_valid(const char *url)
{
	static const char *const schemes[] = {
		"tcp://", "tcp4://", "tcp6://", "tls+tcp://", "tls+tcp4://",
		"tls+tcp6://", "ipc://", "abstract://", "inproc://", "ws://",
		"wss://",
	};
	if (!url)
		return false;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t l = strlen(schemes[i]);
		if (strncmp(url, schemes[i], l) == 0 && url[l] != '\0')
			return true;
	}
	return false;
}

static void on_wake(struct ev_loop *loop, void *arg);

int pub_new(const struct pub_config *cfg, struct ev_loop *loop, struct pub **out)
{
	*out = NULL;
	struct pub *p = qm_calloc(1, sizeof *p);
	p->loop = loop;
	p->wake = ev_async_new(loop, on_wake, p);
	p->current = cfg->current;
	p->current_arg = cfg->current_arg;
	p->stats = cfg->stats;
	pthread_mutex_init(&p->posted_mu, NULL);
	pthread_cond_init(&p->posted_cv, NULL);
	p->url = qm_strdup(cfg->url);
	p->agent_id = qm_strdup(cfg->agent_id);
	p->hostname = qm_strdup(cfg->hostname ? cfg->hostname : "");
	p->boot_id = qm_strdup(cfg->boot_id ? cfg->boot_id : "");
	memcpy(p->cred, cfg->cred, BUS_CRED_LEN);
	p->session = cfg->session;
	p->hb_ms = (uint64_t)cfg->heartbeat_ms;
	p->ack_ms = (uint64_t)cfg->ack_timeout_ms;
	p->start_ms = clock_mono_ms();
	p->st = ST_IDLE;
	p->need_snapshot = true;
	p->retry_ms = RETRY_MIN_MS;
	inv_init(&p->fl_inv);
	inv_init(&p->acked);

	int rv;
	if ((rv = nng_req0_open(&p->sock)) != 0) {
		log_error("bus_socket", "reason=%s", log_qs(nng_strerror(rv)));
		pub_free(p);
		return QM_EIO;
	}
	p->sock_open = true;
	/* our own ack timeout decides when a request is lost; NNG's resend
	 * would replay a stale delta onto a new connection */
	nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, (nng_duration)cfg->reconnect_min_ms);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, (nng_duration)cfg->reconnect_max_ms);
	nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, BUS_MAX_FRAME);
	if ((rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, p)) != 0 ||
	    (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, pipe_cb, p)) != 0 ||
	    (rv = nng_aio_alloc(&p->send_aio, send_cb, p)) != 0 ||
	    (rv = nng_aio_alloc(&p->recv_aio, recv_cb, p)) != 0) {
		log_error("bus_socket", "reason=%s", log_qs(nng_strerror(rv)));
		pub_free(p);
		return QM_EIO;
	}
	/* non-blocking: start-up never waits for the coordinator; a refused
	 * first attempt is retried by the dialer like any later one */
	char why[512];
	if (bus_dial(p->sock, p->url, &cfg->tls, &p->dialer, why, sizeof why) != 0) {
		log_error("bus_dial", "url=%s reason=%s", log_qs(p->url), log_qs(why));
		pub_free(p);
		return QM_EINVAL;
	}
	log_info("bus_dialing", "url=%s agent_id=%s session=%016llx tls=%s",
		 log_qs(p->url), log_qs(p->agent_id),
		 (unsigned long long)p->session, bus_url_is_tls(p->url) ? "on" : "off");
	*out = p;
	return 0;
}

static void settle(struct pub *p);

void pub_free(struct pub *p)
{
	if (!p)
		return;
	/* nothing on its way to us, then stop all aios (waits for their
	 * callbacks), then close, then free */
	if (p->sock_open && p->send_aio && p->recv_aio)
		settle(p);
	if (p->send_aio)
		nng_aio_stop(p->send_aio);
	if (p->recv_aio)
		nng_aio_stop(p->recv_aio);
	bus_dialer_free(p->dialer);
	if (p->sock_open)
		nng_close(p->sock); /* pipe callbacks still send p->wake */
	/* a message still attached belongs to us when a send failed (it is
	 * handed back) or a reply arrived that the loop never consumed */
	if (p->send_aio) {
		nng_msg *m = nng_aio_get_msg(p->send_aio);
		if (m && nng_aio_result(p->send_aio) != 0)
			nng_msg_free(m);
		nng_aio_free(p->send_aio);
	}
	if (p->recv_aio) {
		nng_msg *m = nng_aio_get_msg(p->recv_aio);
		if (m && nng_aio_result(p->recv_aio) == 0)
			nng_msg_free(m);
		nng_aio_free(p->recv_aio);
	}
	ev_async_free(p->wake);
	if (p->timer)
		ev_timer_cancel(p->loop, p->timer);
	pthread_mutex_destroy(&p->posted_mu);
	pthread_cond_destroy(&p->posted_cv);
	inv_fini(&p->fl_inv);
	inv_fini(&p->acked);
	free(p->url);
	free(p->agent_id);
	free(p->hostname);
	free(p->boot_id);
	free(p);
}

bool pub_connected(const struct pub *p)
{
	return p->connected;
}

uint64_t pub_acked_generation(const struct pub *p)
{
	return p->have_base ? p->acked_gen : 0;
}

/* ---- loop thread ------------------------------------------------------------- */

static void cancel_inflight(struct pub *p, const char *why)
{
	if (p->st == ST_SENDING) {
		nng_aio_cancel(p->send_aio);
	} else if (p->st == ST_AWAIT_ACK) {
		nng_aio_cancel(p->recv_aio);
	} else {
		return;
	}
	log_debug("bus_request_abandoned", "kind=%s generation=%llu reason=%s",
		  kind_names[p->fl_kind], (unsigned long long)p->fl_gen, why);
	p->st = ST_CANCELLING;
}

static void retry_later(struct pub *p)
{
	p->n_failed++;
	p->need_snapshot = true;
	p->retry_at_ms = clock_mono_ms() + p->retry_ms;
	p->retry_ms = p->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : p->retry_ms * 2;
}

static void handle_ack(struct pub *p, nng_msg *msg)
{
	const uint8_t *frame = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	char aid[BUS_AGENT_ID_MAX + 1];
	bus_envelope *env = NULL;
	int rv = bus_frame_agent_id(frame, len, aid, sizeof aid);
	if (rv == 0 && strcmp(aid, p->agent_id) != 0)
		rv = QM_EAUTH;
	if (rv == 0)
		rv = bus_decode(frame, len, p->cred, &env);
	if (rv == 0 && env->body_case != QUOBYTE__BUS__ENVELOPE__BODY_ACK)
		rv = QM_EPROTO;
	if (rv != 0) {
		log_warn("ack_rejected", "kind=%s generation=%llu reason=%s",
			 kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
			 log_qs(qm_strerror(rv)));
		if (env)
			bus_envelope_free(env);
		retry_later(p);
		return;
	}
	const Quobyte__Bus__Ack *ack = env->ack;
	uint64_t agen = ack->has_generation ? ack->generation : 0;
	if (ack->error && ack->error[0]) {
		log_warn("publish_refused", "kind=%s generation=%llu error=%s",
			 kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
			 log_qs(ack->error));
		retry_later(p);
	} else if (ack->has_send_snapshot && ack->send_snapshot) {
		log_info("snapshot_requested", "generation=%llu coordinator_has=%llu",
			 (unsigned long long)p->fl_gen, (unsigned long long)agen);
		p->need_snapshot = true;
	} else if (agen != p->fl_gen) {
		log_warn("ack_mismatch", "kind=%s sent=%llu acked=%llu",
			 kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
			 (unsigned long long)agen);
		p->need_snapshot = true;
	} else {
		p->retry_ms = RETRY_MIN_MS;
		if (p->fl_kind == K_HEARTBEAT) {
			log_debug("heartbeat_acked", "generation=%llu",
				  (unsigned long long)agen);
		} else {
			inv_fini(&p->acked);
			p->acked = p->fl_inv;
			inv_init(&p->fl_inv);
			p->fl_has_inv = false;
			p->acked_gen = p->fl_gen;
			p->have_base = true;
			if (p->fl_kind == K_SNAPSHOT)
				p->need_snapshot = false;
			log_info("published", "kind=%s generation=%llu base=%llu devices=%zu",
				 kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
				 (unsigned long long)p->fl_base, p->acked.n);
		}
	}
	bus_envelope_free(env);
}

static void on_send_done(struct pub *p)
{
	int rv = nng_aio_result(p->send_aio);
	if (rv != 0) {
		nng_msg *m = nng_aio_get_msg(p->send_aio);
		if (m)
			nng_msg_free(m);
		nng_aio_set_msg(p->send_aio, NULL);
	}
	if (p->st == ST_CANCELLING) {
		p->st = ST_IDLE;
		return;
	}
	if (rv != 0) {
		/* no pipe within the ack timeout, or the socket refused:
		 * retry later, never in a tight loop */
		log_debug("bus_send_failed", "kind=%s reason=%s",
			  kind_names[p->fl_kind], log_qs(nng_strerror(rv)));
		p->st = ST_IDLE;
		if (rv == NNG_ETIMEDOUT)
			p->need_snapshot = true;
		else
			retry_later(p);
		return;
	}
	nng_aio_set_msg(p->send_aio, NULL); /* consumed by the socket */
	nng_aio_set_timeout(p->recv_aio, (nng_duration)p->ack_ms);
	nng_recv_aio(p->sock, p->recv_aio);
	p->st = ST_AWAIT_ACK;
}

static void on_recv_done(struct pub *p)
{
	int rv = nng_aio_result(p->recv_aio);
	nng_msg *msg = rv == 0 ? nng_aio_get_msg(p->recv_aio) : NULL;
	nng_aio_set_msg(p->recv_aio, NULL);
	bool cancelled = p->st == ST_CANCELLING;
	p->st = ST_IDLE;
	if (cancelled) {
		/* a reply to an abandoned request: not believed, the next
		 * message is a snapshot anyway */
		if (msg)
			nng_msg_free(msg);
		return;
	}
	if (rv == 0) {
		handle_ack(p, msg);
		nng_msg_free(msg);
		return;
	}
	p->need_snapshot = true;
	if (rv == NNG_ETIMEDOUT)
		log_warn("ack_timeout", "kind=%s generation=%llu timeout_ms=%llu",
			 kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
			 (unsigned long long)p->ack_ms);
	else {
		log_debug("bus_recv_failed", "reason=%s", log_qs(nng_strerror(rv)));
		retry_later(p);
	}
}

static int send_env(struct pub *p, Quobyte__Bus__Envelope *env)
{
	Quobyte__Bus__NodeIdentity node = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	node.agent_id = p->agent_id;
	node.hostname = p->hostname;
	node.boot_id = p->boot_id;
	env->node = &node;
	env->has_protocol_version = true;
	env->protocol_version = BUS_PROTOCOL_VERSION;
	env->has_generation = true;
	env->generation = p->fl_gen;
	env->has_sent_unix_ms = true;
	env->sent_unix_ms = clock_real_ms();
	env->has_session = true;
	env->session = p->session;
	Quobyte__Bus__ProberStats st = QUOBYTE__BUS__PROBER_STATS__INIT;
	if (p->stats) {
		p->stats(p->current_arg, &st);
		st.has_messages_sent = true;
		st.messages_sent = p->n_sent + 1;
		st.has_send_failures = true;
		st.send_failures = p->n_failed;
		env->stats = &st;
	}
	uint8_t *frame = NULL;
	size_t len = 0;
	int rv = bus_encode(env, p->agent_id, p->cred, &frame, &len);
	if (rv != 0) {
		log_error("publish_encode", "kind=%s generation=%llu reason=%s",
			  kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
			  log_qs(qm_strerror(rv)));
		return rv;
	}
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, frame, len) != 0)
		qm_oom();
	free(frame);
	nng_aio_set_msg(p->send_aio, msg);
	/* no pipe within the ack timeout: treated like a lost request */
	nng_aio_set_timeout(p->send_aio, (nng_duration)p->ack_ms);
	nng_send_aio(p->sock, p->send_aio);
	p->n_sent++;
	p->st = ST_SENDING;
	p->last_send_ms = clock_mono_ms();
	log_debug("publish_sent", "kind=%s generation=%llu base=%llu bytes=%zu",
		  kind_names[p->fl_kind], (unsigned long long)p->fl_gen,
		  (unsigned long long)p->fl_base, len);
	return 0;
}

static void send_due(struct pub *p, const struct inv *cur, uint64_t gen,
		     uint64_t now)
{
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	int rv;
	p->fl_gen = gen;
	if (p->need_snapshot || !p->have_base) {
		Quobyte__Bus__Snapshot snap = QUOBYTE__BUS__SNAPSHOT__INIT;
		snap.inventory = inv_to_proto(cur);
		env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT;
		env.snapshot = &snap;
		p->fl_kind = K_SNAPSHOT;
		p->fl_base = 0;
		rv = send_env(p, &env);
		inv_proto_free(snap.inventory);
	} else if (p->acked_gen != gen) {
		Quobyte__Bus__Delta *d = inv_delta_to_proto(&p->acked, cur, p->acked_gen);
		env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_DELTA;
		env.delta = d;
		p->fl_kind = K_DELTA;
		p->fl_base = p->acked_gen;
		rv = send_env(p, &env);
		inv_delta_proto_free(d);
	} else if (now >= p->last_send_ms + p->hb_ms) {
		Quobyte__Bus__Heartbeat hb = QUOBYTE__BUS__HEARTBEAT__INIT;
		hb.has_uptime_seconds = true;
		uint64_t up = (now - p->start_ms) / 1000u;
		hb.uptime_seconds = up > UINT32_MAX ? UINT32_MAX : (uint32_t)up;
		env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
		env.heartbeat = &hb;
		p->fl_kind = K_HEARTBEAT;
		p->fl_base = gen;
		rv = send_env(p, &env);
	} else {
		return;
	}
	if (rv != 0) {
		retry_later(p);
		return;
	}
	inv_fini(&p->fl_inv);
	p->fl_has_inv = p->fl_kind != K_HEARTBEAT;
	if (p->fl_has_inv)
		inv_copy(&p->fl_inv, cur);
}

static void on_timer(struct ev_loop *loop, void *arg);

static void arm_timer(struct pub *p, uint64_t now)
{
	uint64_t at = 0;
	if (p->st == ST_IDLE && p->connected) {
		at = p->last_send_ms + p->hb_ms;
		if (p->retry_at_ms > now)
			at = p->retry_at_ms;
	}
	if (p->timer)
		ev_timer_cancel(p->loop, p->timer);
	p->timer = at ? ev_timer_add(p->loop, at > now ? at - now : 1, on_timer, p) : 0;
}

/* Take in what the NNG threads posted: connection changes, completions. */
static void take_posted(struct pub *p)
{

	unsigned added = atomic_load(&p->pipes_added);
	unsigned removed = atomic_load(&p->pipes_removed);
	bool now_connected = added != removed;
	if (added != p->seen_added) {
		/* a new connection: whatever was in flight went to the old
		 * one; the coordinator on this one gets a snapshot first */
		p->seen_added = added;
		p->need_snapshot = true;
		p->retry_at_ms = 0;
		if (!(p->st == ST_SENDING && p->fl_kind == K_SNAPSHOT))
			cancel_inflight(p, "reconnected");
		if (now_connected)
			log_info("connected", "url=%s", log_qs(p->url));
		else if (p->connected)
			log_info("disconnected", "url=%s", log_qs(p->url));
	} else if (p->connected && !now_connected) {
		log_info("disconnected", "url=%s", log_qs(p->url));
		p->need_snapshot = true;
		cancel_inflight(p, "disconnected");
	}
	p->connected = now_connected;

	if (atomic_exchange(&p->send_done, false))
		on_send_done(p);
	if (atomic_exchange(&p->recv_done, false))
		on_recv_done(p);
}

void pub_step(struct pub *p, const struct inv *cur, uint64_t gen)
{
	take_posted(p);

	uint64_t now = clock_mono_ms();
	if (p->st == ST_IDLE && p->connected && now >= p->retry_at_ms)
		send_due(p, cur, gen, now);
	arm_timer(p, now);
}

static void step_current(struct pub *p)
{
	uint64_t gen = 0;
	const struct inv *cur = p->current(p->current_arg, &gen);
	pub_step(p, cur, gen);
}

static void on_wake(struct ev_loop *loop, void *arg)
{
	(void)loop;
	step_current(arg);
}

static void on_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct pub *p = arg;
	p->timer = 0;
	step_current(p);
}

/* Shutdown, before anything is stopped or closed: let the request in flight
 * finish (its Ack arrives, or it fails), sending nothing new.
 *
 * Why: with NNG 1.5 (Debian 12), nng_close() can hang for good when a
 * message arrives on a TCP pipe while the pipe is being closed. The
 * transport's receive callback, finding data rather than an error, starts
 * the next read on its already closed aio, which then never completes; the
 * REQ pipe's receive waits on it and the reaper, which nng_close() waits
 * for, waits on that (upstream: nanomsg/nng#1636, fixed after 1.5.2). The
 * stacks of the hung prober match: the loop thread in nng_close(), the
 * reaper in a wait. Stopping our aios first does not help: cancelling the
 * receive abandons the request inside REQ, but the coordinator's Ack is
 * already on the wire and arrives during the close.
 *
 * Under REQ/REP nothing arrives but the reply to our one request, so once
 * that reply is in (or the request is known lost) the connection is quiet
 * and the close is safe. The wait is bounded (SETTLE_MAX_MS, at most the
 * ack timeout): a coordinator that swallowed the request delays the exit
 * by that much and leaves the (then unlikely) race open rather than keep
 * the prober from ever exiting. Blocks; loop thread only. */
/* Until an NNG thread posts after `seen`, or ms passed. */
static void wait_posted(struct pub *p, unsigned seen, uint64_t ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl); /* the condition's default clock */
	dl.tv_sec += (time_t)(ms / 1000u);
	dl.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->posted_mu);
	while (p->posted_seq == seen &&
	       pthread_cond_timedwait(&p->posted_cv, &p->posted_mu, &dl) == 0)
		;
	pthread_mutex_unlock(&p->posted_mu);
}

static void settle(struct pub *p)
{
	uint64_t start = clock_mono_ms();
	uint64_t wait = p->ack_ms < SETTLE_MAX_MS ? p->ack_ms : SETTLE_MAX_MS;
	for (;;) {
		pthread_mutex_lock(&p->posted_mu);
		unsigned seen = p->posted_seq;
		pthread_mutex_unlock(&p->posted_mu);
		take_posted(p);
		if (p->st == ST_IDLE)
			return;
		uint64_t now = clock_mono_ms();
		if (now >= start + wait) {
			log_warn("bus_close_unsettled",
				 "kind=%s generation=%llu waited_ms=%llu "
				 "reason=\"no Ack; closing anyway\"",
				 kind_names[p->fl_kind],
				 (unsigned long long)p->fl_gen,
				 (unsigned long long)(now - start));
			return;
		}
		wait_posted(p, seen, start + wait - now);
	}
}
