/* Master detection inputs: --master text, the MasterInfo JSON in a
 * ZooKeeper znode, the group's child names. The first byte picks which. */
#include "mesos/detector.h"
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	data++;
	size--;
	char err[512];
	if (mode == 0) {
		char *s = fuzz_cstr(data, size);
		struct det_spec spec;
		int r = det_spec_parse(s, NULL, &spec, err, sizeof err);
		if (r != 0)
			FUZZ_CHECK(FUZZ_TERMINATED(err) && err[0]);
		free(s);
	} else if (mode == 1) {
		struct det_leader l;
		int r = det_masterinfo_parse((const char *)data, size, "http", &l, err,
					     sizeof err);
		if (r == 0) {
			FUZZ_CHECK(FUZZ_TERMINATED(l.url) && FUZZ_TERMINATED(l.id) &&
				   FUZZ_TERMINATED(l.version) &&
				   FUZZ_TERMINATED(l.hostname));
			FUZZ_CHECK(strncmp(l.url, "http://", 7) == 0);
		} else {
			FUZZ_CHECK(FUZZ_TERMINATED(err) && err[0]);
		}
	} else {
		/* newline-separated child names */
		char *s = fuzz_cstr(data, size);
		const char *names[256];
		size_t n = 0;
		for (char *p = s, *nl; n < 256 && p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			if (nl)
				*nl = '\0';
			names[n++] = p;
		}
		char label[64];
		long k = det_group_leader(names, n, label, sizeof label);
		FUZZ_CHECK(k >= -1 && k < (long)n);
		FUZZ_CHECK(FUZZ_TERMINATED(label));
		free(s);
	}
	return 0;
}
