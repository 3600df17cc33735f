/* Bus frames from the network. Mode 0: the input is a whole frame (header,
 * MAC, everything untrusted). Mode 1: the input is the payload of a frame
 * signed with the right credential, so the protobuf decoder, the envelope
 * checks and the coordinator's node table (nodes_apply) behind the MAC are
 * reached too. A frame that decodes must convert to JSON, and its envelope
 * must encode and decode again. */
#include "bus.h"
#include "bus_json.h"
#include "mac.h"
#include "fuzz_common.h"
#include "core/nodes.h"

#include <stdint.h>

static const uint8_t SECRET[] = "fuzz-cluster-secret-0123456789";
#define AGENT "fuzz-agent-S0"

static uint8_t *signed_frame(const uint8_t *payload, size_t plen, size_t *flen)
{
	size_t alen = strlen(AGENT);
	size_t n = 14 + alen + plen + BUS_CRED_LEN;
	uint8_t *f = malloc(n);
	if (!f)
		abort();
	memcpy(f, "QMBF", 4);
	f[4] = 0, f[5] = 1;           /* format 1 */
	f[6] = 0, f[7] = 0;           /* flags */
	f[8] = (uint8_t)(plen >> 24), f[9] = (uint8_t)(plen >> 16);
	f[10] = (uint8_t)(plen >> 8), f[11] = (uint8_t)plen;
	f[12] = (uint8_t)(alen >> 8), f[13] = (uint8_t)alen;
	memcpy(f + 14, AGENT, alen);
	if (plen)
		memcpy(f + 14 + alen, payload, plen);
	uint8_t cred[BUS_CRED_LEN];
	bus_credential_derive(SECRET, sizeof SECRET - 1, AGENT, cred);
	struct mac_part part = {f, 14 + alen + plen};
	mac_hmac_sha256(cred, sizeof cred, &part, 1, f + 14 + alen + plen);
	*flen = n;
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > BUS_MAX_PAYLOAD)
		return 0;
	unsigned mode = data[0] & 1;
	data++;
	size--;
	uint8_t *frame = NULL;
	size_t flen = size;
	const uint8_t *in = data;
	if (mode == 1) {
		frame = signed_frame(data, size, &flen);
		in = frame;
	}
	char agent[BUS_AGENT_ID_MAX + 1];
	bus_envelope *env = NULL;
	int r = bus_decode_with_secret(in, flen, SECRET, sizeof SECRET - 1, agent,
				       sizeof agent, &env);
	FUZZ_CHECK(FUZZ_TERMINATED(agent));
	if (r == 0) {
		FUZZ_CHECK(env != NULL);
		cJSON *j = busjson_envelope(env);
		FUZZ_CHECK(j != NULL);
		cJSON_Delete(j);
		/* what the coordinator does with it */
		struct nodes ns;
		nodes_init(&ns);
		Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
		bool changed = false;
		(void)nodes_apply(&ns, env, 1000, &ack, &changed);
		nodes_fini(&ns);
		/* and back: a decoded envelope is one we could have sent */
		uint8_t cred[BUS_CRED_LEN];
		bus_credential_derive(SECRET, sizeof SECRET - 1, agent, cred);
		uint8_t *again = NULL;
		size_t alen = 0;
		if (bus_encode(env, agent, cred, &again, &alen) == 0) {
			bus_envelope *env2 = NULL;
			FUZZ_CHECK(bus_decode(again, alen, cred, &env2) == 0);
			bus_envelope_free(env2);
			free(again);
		}
		bus_envelope_free(env);
	} else {
		FUZZ_CHECK(env == NULL);
	}
	free(frame);
	return 0;
}
