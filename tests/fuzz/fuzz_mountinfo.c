/* mountinfo_parse and what the scan does with it: parent lookups,
 * visibility, path lookup and the candidate selection. */
#include "fuzz_common.h"
#include "inventory.h"
#include "mountinfo.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mountinfo mi;
	int r = mountinfo_parse((const char *)data, size, &mi);
	if (r == 0) {
		FUZZ_CHECK(mi.first_bad_line == 0 || mi.bad_lines > 0);
		for (size_t i = 0; i < mi.n; i++) {
			long k = mountinfo_find_id(&mi, mi.v[i].mount_id);
			FUZZ_CHECK(k >= 0 && (size_t)k < mi.n);
			FUZZ_CHECK(mi.v[k].mount_id == mi.v[i].mount_id);
			(void)mountinfo_visible(&mi, i);
			long p = mountinfo_find_path(&mi, mi.v[i].mount_point);
			FUZZ_CHECK(p >= -1 && p < (long)mi.n);
		}
		char *types[] = {"ext4", "xfs"};
		char *roots[] = {"/mnt"};
		struct inv_scope all = {.fs_types = types, .n_fs_types = 2};
		struct inv_scope under = {.fs_types = types, .n_fs_types = 2,
					  .roots = roots, .n_roots = 1};
		const struct inv_scope *scopes[] = {&all, &under};
		for (size_t s = 0; s < 2; s++) {
			struct inv_mount *m;
			size_t n;
			inv_select_mounts(&mi, scopes[s], &m, &n);
			FUZZ_CHECK(n <= mi.n);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(m[i].mount_point && m[i].fstype);
			inv_mounts_free(m, n);
		}
	}
	mountinfo_free(&mi);
	return 0;
}
