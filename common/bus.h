/* The prober <-> coordinator bus: framing, authentication and strict
 * decoding of quobyte.bus.Envelope messages (proto/quobyte_bus.proto).
 *
 * Transport is NNG REQ (prober, dials) / REP (coordinator, listens): every
 * prober message gets exactly one reply, an Ack. This module only turns
 * envelopes into frames and back; sockets live with their owners.
 *
 * Frame layout (all integers big-endian):
 *   0  4  magic "QMBF"
 *   4  2  frame format (1)
 *   6  2  flags (0; non-zero is rejected)
 *   8  4  payload length P (<= BUS_MAX_PAYLOAD)
 *  12  2  agent id length A (1..BUS_AGENT_ID_MAX)
 *  14  A  agent id (the node this frame speaks for / to)
 *  14+A P payload: packed Envelope
 *  ... 32 HMAC-SHA256(node credential, bytes 0 .. 14+A+P-1)
 * The total length must match exactly.
 *
 * Authentication: node credential = HMAC-SHA256(cluster secret,
 * "quobyte-mesos/bus/node/v1" || 0x00 || agent id). The coordinator holds
 * the cluster secret and derives any node's credential; a prober is given
 * only its own credential (task environment). A credential therefore proves
 * one node and no other: the MAC is checked with the credential derived for
 * the agent id in the frame, and the envelope's node.agent_id must equal it.
 * Acks travel back with the same agent id and credential, so a prober also
 * knows it speaks to a coordinator holding the secret.
 *
 * The MAC is checked before the payload is unpacked: unauthenticated bytes
 * never reach the protobuf decoder. */
#ifndef QM_BUS_H
#define QM_BUS_H

#include "quobyte_bus.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define BUS_PROTOCOL_VERSION 1u /* what this build speaks */
#define BUS_PROTOCOL_MIN 1u     /* oldest peer version accepted */
#define BUS_MAX_PAYLOAD (4u << 20)
#define BUS_MAX_FRAME (BUS_MAX_PAYLOAD + 14u + BUS_AGENT_ID_MAX + BUS_CRED_LEN)
#define BUS_MAX_DEVICES 1024u   /* per node, per message */
#define BUS_AGENT_ID_MAX 255u
#define BUS_CRED_LEN 32u
#define BUS_SECRET_MIN 16u      /* bytes of cluster secret, at least */
#define BUS_SECRET_MAX 4096u

typedef Quobyte__Bus__Envelope bus_envelope;

/* Derive a node credential from the cluster secret. Pure. */
void bus_credential_derive(const uint8_t *secret, size_t secretlen,
			   const char *agent_id, uint8_t cred[BUS_CRED_LEN]);

/* Load a cluster secret file: its bytes with trailing whitespace removed;
 * BUS_SECRET_MIN..BUS_SECRET_MAX bytes. Reads at most BUS_SECRET_MAX + 64
 * bytes (room for a line end after a maximal secret), so an endless file is
 * refused, not read. Blocks on the file (a pipe is allowed). Caller frees
 * *secret. 0, QM_EIO (cannot read), QM_EINVAL (too short/long). */
int bus_secret_load(const char *path, uint8_t **secret, size_t *len);

/* Pack env into a new frame signed with cred for agent_id. Checks that
 * agent_id is 1..BUS_AGENT_ID_MAX bytes of [A-Za-z0-9._:-], that
 * env->node->agent_id equals agent_id (for prober messages) unless
 * env->node is NULL (acks may omit it), that the device counts are within
 * BUS_MAX_DEVICES and that the packed size fits (so a sender learns of
 * these limits itself). Version and body are not checked.
 * *frame is malloc'd; free() it (NULL on error). 0, QM_EINVAL, QM_ETOOBIG. */
int bus_encode(const bus_envelope *env, const char *agent_id,
	       const uint8_t cred[BUS_CRED_LEN], uint8_t **frame,
	       size_t *framelen);

/* Read the agent id of a frame after checking the header (magic, format,
 * flags, lengths, exact total). 0, QM_EPROTO (bad header), QM_EINVAL
 * (agent id has bytes outside [A-Za-z0-9._:-], or does not fit cap with
 * its NUL; agent_id is then ""). Nothing is authenticated yet: use it only
 * to pick the credential. */
int bus_frame_agent_id(const uint8_t *frame, size_t len, char *agent_id,
		       size_t cap);

/* Verify and unpack a frame with the node credential. Checks, in order:
 * header (QM_EPROTO; QM_EINVAL for a bad agent id as bus_frame_agent_id),
 * MAC (QM_EAUTH, constant-time compare), protobuf (QM_EPROTO),
 * protocol_version in [BUS_PROTOCOL_MIN, BUS_PROTOCOL_VERSION] (QM_EVERSION),
 * a body is set (QM_EPROTO), node.agent_id, when present, equals the
 * frame's (QM_EAUTH), device counts <= BUS_MAX_DEVICES (QM_ETOOBIG).
 * *out is freed with bus_envelope_free(). */
int bus_decode(const uint8_t *frame, size_t len,
	       const uint8_t cred[BUS_CRED_LEN], bus_envelope **out);

/* bus_frame_agent_id + bus_credential_derive + bus_decode: the receiver's
 * path. agent_id (cap >= BUS_AGENT_ID_MAX + 1) receives the frame's id even
 * when decoding fails later, for the log line ("" when the header itself is
 * bad). Pure computation: safe on any thread. */
int bus_decode_with_secret(const uint8_t *frame, size_t len,
			   const uint8_t *secret, size_t secretlen,
			   char *agent_id, size_t cap, bus_envelope **out);

void bus_envelope_free(bus_envelope *env);

/* Short name of the body: "snapshot", "delta", "heartbeat", "ack", "none". */
const char *bus_body_name(const bus_envelope *env);

#endif
