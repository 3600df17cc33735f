/* store_state_from_json: the coordinator's state as read back from its
 * file or from ZooKeeper. What parses must serialise and parse again to the
 * same text (nothing accepted that the store could not write). */
#include "fuzz_common.h"
#include "qm_error.h"
#include "state/store.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_state s;
	uint64_t version = 0;
	char err[256];
	err[0] = '\0';
	int r = store_state_from_json((const char *)data, size, &s, &version, err,
				      sizeof err);
	FUZZ_CHECK(FUZZ_TERMINATED(err));
	if (r != 0) {
		FUZZ_CHECK(err[0] != '\0');
		store_state_fini(&s);
		return 0;
	}
	char *text = NULL;
	size_t len = 0;
	if (store_state_to_json(&s, version, &text, &len) == 0) {
		struct store_state again;
		uint64_t v2 = 0;
		int r2 = store_state_from_json(text, len, &again, &v2, err, sizeof err);
		FUZZ_CHECK(r2 == 0);
		FUZZ_CHECK(v2 == version);
		char *text2 = NULL;
		size_t len2 = 0;
		FUZZ_CHECK(store_state_to_json(&again, v2, &text2, &len2) == 0);
		FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);
		free(text2);
		store_state_fini(&again);
	}
	free(text);
	store_state_fini(&s);
	return 0;
}
