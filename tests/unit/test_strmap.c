#include "strmap.h"

#include <criterion/criterion.h>
#include <stdio.h>

Test(strmap, put_get_overwrite_delete_against_a_reference)
{
	struct strmap m;
	strmap_init(&m);
	enum { N = 5000 };
	static size_t ref[N]; /* value + 1, 0 = absent */
	char key[32];
	unsigned x = 12345;
	for (int round = 0; round < 40000; round++) {
		x = x * 1103515245u + 12345u;
		unsigned k = (x >> 8) % N, op = (x >> 4) % 3;
		snprintf(key, sizeof key, "agent-%u", k);
		if (op == 0 || op == 1) {
			strmap_put(&m, key, (size_t)round);
			ref[k] = (size_t)round + 1;
		} else {
			cr_assert_eq(strmap_del(&m, key), ref[k] != 0);
			ref[k] = 0;
		}
	}
	size_t live = 0;
	for (unsigned k = 0; k < N; k++) {
		size_t v = 0;
		snprintf(key, sizeof key, "agent-%u", k);
		bool have = strmap_get(&m, key, &v);
		cr_assert_eq(have, ref[k] != 0, "key %s", key);
		if (have) {
			cr_assert_eq(v + 1, ref[k]);
			live++;
		}
	}
	cr_assert_eq(m.n, live);
	cr_assert_not(strmap_get(&m, "", NULL));
	strmap_fini(&m);
}
