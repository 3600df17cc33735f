#include "bus.h"

#include "mac.h"
#include "qm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR_LEN 14u
#define FRAME_FORMAT 1u
#define SECRET_SLACK 64u

static const uint8_t magic[4] = {'Q', 'M', 'B', 'F'};
static const char cred_label[] = "quobyte-mesos/bus/node/v1";

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Mesos agent ids look like "2d5c9a3e-...-S0"; the set is kept small so an
 * id can go into log lines, file names and task environments unquoted. */
static bool agent_id_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

static bool agent_id_ok(const char *id, size_t len)
{
	if (len < 1 || len > BUS_AGENT_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!agent_id_char((uint8_t)id[i]))
			return false;
	return true;
}

void bus_credential_derive(const uint8_t *secret, size_t secretlen,
			   const char *agent_id, uint8_t cred[BUS_CRED_LEN])
{
	/* the label and the NUL keep this use of the secret apart from any
	 * other the project may add later (domain separation) */
	const struct mac_part parts[] = {
		{cred_label, sizeof cred_label - 1},
		{"", 1},
		{agent_id, strlen(agent_id)},
	};
	mac_hmac_sha256(secret, secretlen, parts, 3, cred);
}

static bool space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int bus_secret_load(const char *path, uint8_t **secret, size_t *len)
{
	*secret = NULL;
	*len = 0;
	/* no O_NONBLOCK: a secret handed over through a pipe ("<(...)") is
	 * fine, and this runs once at start-up */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return QM_EIO;
	/* The read is capped; the slack lets a secret of the maximum length
	 * still end in a line end (or a few blanks) from an editor. */
	const size_t cap = BUS_SECRET_MAX + SECRET_SLACK;
	uint8_t *buf = qm_malloc(cap);
	size_t n = 0;
	int rv = 0;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rv = QM_EIO;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rv == 0) {
		/* a full buffer means the file goes on: not read whole, too long */
		if (n == cap) {
			rv = QM_EINVAL;
		} else {
			while (n && space(buf[n - 1]))
				n--;
			if (n < BUS_SECRET_MIN || n > BUS_SECRET_MAX)
				rv = QM_EINVAL;
		}
	}
	if (rv) {
		explicit_bzero(buf, cap);
		free(buf);
		return rv;
	}
	*secret = buf;
	*len = n;
	return 0;
}

static int check_device_counts(const bus_envelope *env)
{
	switch (env->body_case) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT:
		if (env->snapshot && env->snapshot->inventory &&
		    env->snapshot->inventory->n_devices > BUS_MAX_DEVICES)
			return QM_ETOOBIG;
		break;
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA:
		if (env->delta && (env->delta->n_upserted > BUS_MAX_DEVICES ||
				   env->delta->n_removed > BUS_MAX_DEVICES))
			return QM_ETOOBIG;
		break;
	default:
		break;
	}
	return 0;
}

static void frame_mac(const uint8_t cred[BUS_CRED_LEN], const uint8_t *frame,
		      size_t signed_len, uint8_t mac[BUS_CRED_LEN])
{
	const struct mac_part part = {frame, signed_len};
	mac_hmac_sha256(cred, BUS_CRED_LEN, &part, 1, mac);
}

int bus_encode(const bus_envelope *env, const char *agent_id,
	       const uint8_t cred[BUS_CRED_LEN], uint8_t **frame,
	       size_t *framelen)
{
	*frame = NULL;
	*framelen = 0;
	if (!env || !agent_id)
		return QM_EINVAL;
	size_t alen = strlen(agent_id);
	if (!agent_id_ok(agent_id, alen))
		return QM_EINVAL;
	if (env->node && (!env->node->agent_id || strcmp(env->node->agent_id, agent_id) != 0))
		return QM_EINVAL;
	/* refused here rather than by the receiver, so the sender's log says
	 * why its inventory does not arrive */
	int rv = check_device_counts(env);
	if (rv)
		return rv;
	size_t plen = protobuf_c_message_get_packed_size(&env->base);
	if (plen > BUS_MAX_PAYLOAD)
		return QM_ETOOBIG;

	size_t total = HDR_LEN + alen + plen + BUS_CRED_LEN;
	uint8_t *f = qm_malloc(total);
	memcpy(f, magic, sizeof magic);
	put16(f + 4, FRAME_FORMAT);
	put16(f + 6, 0);
	put32(f + 8, (uint32_t)plen);
	put16(f + 12, (uint16_t)alen);
	memcpy(f + HDR_LEN, agent_id, alen);
	size_t packed = protobuf_c_message_pack(&env->base, f + HDR_LEN + alen);
	if (packed != plen) {
		free(f);
		return QM_EINVAL;
	}
	frame_mac(cred, f, HDR_LEN + alen + plen, f + HDR_LEN + alen + plen);
	*frame = f;
	*framelen = total;
	return 0;
}

/* Header checks shared by every entry point. On success *alen and *plen
 * hold the lengths, and the agent id is at frame + HDR_LEN. */
static int parse_header(const uint8_t *frame, size_t len, size_t *alen, size_t *plen)
{
	if (!frame || len < HDR_LEN + 1 + BUS_CRED_LEN)
		return QM_EPROTO;
	if (memcmp(frame, magic, sizeof magic) != 0 || get16(frame + 4) != FRAME_FORMAT ||
	    get16(frame + 6) != 0)
		return QM_EPROTO;
	uint32_t p = get32(frame + 8);
	uint16_t a = get16(frame + 12);
	if (p > BUS_MAX_PAYLOAD || a < 1 || a > BUS_AGENT_ID_MAX)
		return QM_EPROTO;
	if (len != HDR_LEN + (size_t)a + (size_t)p + BUS_CRED_LEN)
		return QM_EPROTO;
	if (!agent_id_ok((const char *)frame + HDR_LEN, a))
		return QM_EINVAL;
	*alen = a;
	*plen = p;
	return 0;
}

int bus_frame_agent_id(const uint8_t *frame, size_t len, char *agent_id,
		       size_t cap)
{
	size_t alen, plen;
	if (cap)
		agent_id[0] = '\0';
	int rv = parse_header(frame, len, &alen, &plen);
	if (rv)
		return rv;
	if (alen + 1 > cap)
		return QM_EINVAL;
	memcpy(agent_id, frame + HDR_LEN, alen);
	agent_id[alen] = '\0';
	return 0;
}

/* Field number 0 does not exist in protobuf, yet protobuf-c 1.4 keeps it
 * as an unknown field when its tag is written in more than one byte
 * ("80 80 00"), and packs it back as "00", which it then refuses (found by
 * fuzz_bus). Unknown fields with valid numbers stay allowed: a newer
 * prober may send fields this build does not know. */
static bool bad_field_numbers(const ProtobufCMessage *m)
{
	if (!m)
		return false;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return true;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v =
				*(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (bad_field_numbers(v[k]))
					return true;
		} else {
			/* a oneof member not chosen holds another member's
			 * bytes: only follow the chosen one */
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue;
			if (bad_field_numbers(*(ProtobufCMessage *const *)(base + f->offset)))
				return true;
		}
	}
	return false;
}

int bus_decode(const uint8_t *frame, size_t len,
	       const uint8_t cred[BUS_CRED_LEN], bus_envelope **out)
{
	*out = NULL;
	size_t alen, plen;
	int rv = parse_header(frame, len, &alen, &plen);
	if (rv)
		return rv;

	size_t signed_len = HDR_LEN + alen + plen;
	uint8_t mac[BUS_CRED_LEN];
	frame_mac(cred, frame, signed_len, mac);
	if (!mac_equal(mac, BUS_CRED_LEN, frame + signed_len, BUS_CRED_LEN))
		return QM_EAUTH;

	bus_envelope *env = quobyte__bus__envelope__unpack(NULL, plen, frame + HDR_LEN + alen);
	if (!env)
		return QM_EPROTO;
	if (bad_field_numbers(&env->base))
		rv = QM_EPROTO;
	else if (!env->has_protocol_version || env->protocol_version < BUS_PROTOCOL_MIN ||
	    env->protocol_version > BUS_PROTOCOL_VERSION)
		rv = QM_EVERSION;
	else if (env->body_case == QUOBYTE__BUS__ENVELOPE__BODY__NOT_SET)
		rv = QM_EPROTO;
	else if (env->node && env->node->agent_id &&
		 (strlen(env->node->agent_id) != alen ||
		  memcmp(env->node->agent_id, frame + HDR_LEN, alen) != 0))
		rv = QM_EAUTH;
	else
		rv = check_device_counts(env);
	if (rv) {
		quobyte__bus__envelope__free_unpacked(env, NULL);
		return rv;
	}
	*out = env;
	return 0;
}

int bus_decode_with_secret(const uint8_t *frame, size_t len,
			   const uint8_t *secret, size_t secretlen,
			   char *agent_id, size_t cap, bus_envelope **out)
{
	*out = NULL;
	char id[BUS_AGENT_ID_MAX + 1];
	int rv = bus_frame_agent_id(frame, len, id, sizeof id);
	if (cap)
		agent_id[0] = '\0';
	if (rv)
		return rv;
	if (strlen(id) + 1 > cap)
		return QM_EINVAL;
	memcpy(agent_id, id, strlen(id) + 1);
	uint8_t cred[BUS_CRED_LEN];
	bus_credential_derive(secret, secretlen, id, cred);
	rv = bus_decode(frame, len, cred, out);
	explicit_bzero(cred, sizeof cred);
	return rv;
}

void bus_envelope_free(bus_envelope *env)
{
	if (env)
		quobyte__bus__envelope__free_unpacked(env, NULL);
}

const char *bus_body_name(const bus_envelope *env)
{
	if (!env)
		return "none";
	switch (env->body_case) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT: return "snapshot";
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA: return "delta";
	case QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
	case QUOBYTE__BUS__ENVELOPE__BODY_ACK: return "ack";
	default: return "none";
	}
}
