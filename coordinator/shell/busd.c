#include "shell/busd.h"

#include "log.h"
#include "qm_error.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSD_CONTEXTS 16

enum slot_state { SLOT_RECV, SLOT_SEND };

struct slot {
	struct busd *b;
	nng_ctx ctx;
	nng_aio *aio;
	enum slot_state state; /* owned by whoever holds the aio's completion */
};

struct busd {
	struct ev_loop *loop;
	nng_socket sock;
	uint8_t *secret;
	size_t secretlen;
	busd_handler h;
	void *arg;
	struct slot slots[BUSD_CONTEXTS];
	size_t nslots;
	atomic_bool closing;
	struct busd_stats stats;
};

static void on_loop_message(struct ev_loop *loop, void *arg);

/* NNG thread. A finished receive goes to the loop; a finished send starts
 * the next receive right here, which touches no coordinator state. */
static void on_aio(void *arg)
{
	struct slot *s = arg;
	struct busd *b = s->b;
	if (atomic_load(&b->closing))
		return;
	int rv = nng_aio_result(s->aio);
	if (s->state == SLOT_SEND) {
		if (rv != 0) {
			nng_msg *m = nng_aio_get_msg(s->aio);
			if (m)
				nng_msg_free(m);
		}
		s->state = SLOT_RECV;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	ev_post(b->loop, on_loop_message, s);
}

static void reply(struct slot *s, const char *agent_id, const Quobyte__Bus__Ack *ack)
{
	struct busd *b = s->b;
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	env.has_protocol_version = 1;
	env.protocol_version = BUS_PROTOCOL_VERSION;
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_ACK;
	env.ack = (Quobyte__Bus__Ack *)ack;
	uint8_t cred[BUS_CRED_LEN];
	bus_credential_derive(b->secret, b->secretlen, agent_id, cred);
	uint8_t *frame = NULL;
	size_t len = 0;
	nng_msg *m = NULL;
	if (bus_encode(&env, agent_id, cred, &frame, &len) != 0 ||
	    nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, frame, len) != 0) {
		if (m)
			nng_msg_free(m);
		free(frame);
		log_error("bus_reply_failed", "agent_id=%s", log_qs(agent_id));
		s->state = SLOT_RECV;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	free(frame);
	b->stats.replies++;
	s->state = SLOT_SEND;
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
}

static void on_loop_message(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct slot *s = arg;
	struct busd *b = s->b;
	if (atomic_load(&b->closing))
		return;
	nng_msg *m = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	b->stats.received++;
	char agent_id[BUS_AGENT_ID_MAX + 1] = "";
	bus_envelope *env = NULL;
	int rv = bus_decode_with_secret(nng_msg_body(m), nng_msg_len(m), b->secret, b->secretlen,
					agent_id, sizeof agent_id, &env);
	size_t len = nng_msg_len(m);
	nng_msg_free(m);
	if (rv != 0) {
		b->stats.rejected++;
		log_warn("bus_message_rejected", "agent_id=%s reason=%s bytes=%zu",
			 log_qs(agent_id[0] ? agent_id : "?"), log_qs(qm_strerror(rv)), len);
		s->state = SLOT_RECV;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	b->stats.accepted++;
	Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
	b->h(b->arg, agent_id, env, &ack);
	reply(s, agent_id, &ack);
	bus_envelope_free(env);
}

struct busd *busd_new(struct ev_loop *loop, const char *url, const struct bus_tls *tls,
		      const uint8_t *secret, size_t secretlen, busd_handler h, void *arg,
		      char *err, size_t errlen)
{
	struct busd *b = qm_calloc(1, sizeof *b);
	b->loop = loop;
	b->h = h;
	b->arg = arg;
	b->secret = qm_malloc(secretlen);
	memcpy(b->secret, secret, secretlen);
	b->secretlen = secretlen;
	int rv = nng_rep0_open(&b->sock);
	if (rv == 0)
		rv = nng_socket_set_size(b->sock, NNG_OPT_RECVMAXSZ, BUS_MAX_FRAME);
	if (rv != 0)
		snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
	else
		rv = bus_listen(b->sock, url, tls, err, errlen);
	if (rv != 0) {
		nng_close(b->sock);
		free(b->secret);
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < BUSD_CONTEXTS; i++) {
		struct slot *s = &b->slots[i];
		s->b = b;
		if (nng_ctx_open(&s->ctx, b->sock) != 0 || nng_aio_alloc(&s->aio, on_aio, s) != 0)
			qm_oom();
		b->nslots++;
		s->state = SLOT_RECV;
		nng_ctx_recv(s->ctx, s->aio);
	}
	log_info("bus_listening", "url=%s tls=%s", log_qs(url),
		 !bus_url_is_tls(url) ? "off" : tls && tls->ca && tls->ca[0] ? "mutual" : "on");
	return b;
}

static void release(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct busd *b = arg;
	free(b->secret);
	free(b);
}

void busd_free(struct busd *b)
{
	if (!b)
		return;
	atomic_store(&b->closing, true);
	for (size_t i = 0; i < b->nslots; i++)
		nng_aio_stop(b->slots[i].aio);
	for (size_t i = 0; i < b->nslots; i++) {
		nng_msg *m = nng_aio_get_msg(b->slots[i].aio);
		if (m)
			nng_msg_free(m);
		nng_aio_free(b->slots[i].aio);
		nng_ctx_close(b->slots[i].ctx);
	}
	nng_close(b->sock);
	/* posted on_loop_message items for our slots may still be queued;
	 * they see `closing` and return. This item runs after them. */
	ev_post(b->loop, release, b);
}

void busd_stats(const struct busd *b, struct busd_stats *out)
{
	*out = b->stats;
}
