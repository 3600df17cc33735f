/* marker_parse: the QUOBYTE_DEV_SETUP text people and tools write. */
#include "fuzz_common.h"
#include "marker.h"
#include "qm_error.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct marker m;
	int r = marker_parse((const char *)data, size, &m);
	FUZZ_CHECK(FUZZ_TERMINATED(m.serial) && FUZZ_TERMINATED(m.model) &&
		   FUZZ_TERMINATED(m.error));
	if (r == 0) {
		FUZZ_CHECK(m.error[0] == '\0');
		FUZZ_CHECK((m.types & ~(unsigned)(MARKER_REGISTRY | MARKER_METADATA |
						 MARKER_DATA)) == 0);
	} else {
		FUZZ_CHECK(r == QM_EINVAL || r == QM_EBINARY || r == QM_ETOOBIG);
		/* nothing half-parsed may be acted on */
		FUZZ_CHECK(m.error[0] != '\0');
		FUZZ_CHECK(m.types == 0 && !m.serial[0] && !m.model[0] && !m.bootstrap);
	}
	return 0;
}
