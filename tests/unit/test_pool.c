/* pool: small allocations freed together by the last of their users
 * (common/pool.h), as the offers of one event use it: filled on one
 * thread, its pieces moved to several owners, freed by the last of them,
 * its big first chunk kept for the next pool of about its size. */
#include "pool.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Is the page of p mapped at all? msync answers ENOMEM for a hole. */
static bool page_mapped(const void *p)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
	return msync((void *)page, 4096, MS_ASYNC) == 0;
}

Test(pool, pieces_are_aligned_and_hold_what_was_put_there)
{
	struct pool *p = pool_new(64);
	char *s[300];
	for (int i = 0; i < 300; i++) { /* far past the hint: spills into chunks */
		char buf[32];
		snprintf(buf, sizeof buf, "piece-%d", i);
		s[i] = pool_strdup(p, buf);
		uint64_t *n = pool_alloc(p, sizeof *n);
		cr_assert_eq((uintptr_t)n % 8, 0, "8-byte aligned");
		*n = (uint64_t)i;
	}
	for (int i = 0; i < 300; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "piece-%d", i);
		cr_assert_str_eq(s[i], buf, "nothing overwrote another piece");
	}
	cr_assert_null(pool_strdup(p, NULL));
	void *big = pool_alloc(p, 1 << 20); /* bigger than any chunk so far */
	memset(big, 0xab, 1 << 20);
	pool_unref(p); /* ASan: every chunk freed, none twice */
}

/* The last reference frees, whichever thread drops it. */
static void *drop(void *arg)
{
	pool_unref(arg);
	return NULL;
}

Test(pool, the_last_user_frees_it)
{
	struct pool *p = pool_new(128);
	char *id = pool_strdup(p, "offer-1");
	pool_ref(p);
	pool_ref(p);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, drop, p), 0);
	pthread_join(t, NULL);
	pool_unref(p);
	cr_assert_str_eq(id, "offer-1", "one user left: still there");
	pool_unref(p); /* ASan: freed now, and a leak if it were not */
}

/* A big pool's first chunk is kept after it is freed and reused by the
 * next pool that fits: its pieces are not zeroed by the kernel then, so
 * pool_calloc must zero them itself. Two quiet trims give it back. */
Test(pool, a_kept_chunk_is_reused_and_calloc_still_zeroes)
{
	size_t kept = 1;
	while (pool_trim(NULL))
		;
	struct pool *a = pool_new(POOL_MAP_MIN);
	unsigned char *x = pool_alloc(a, 4096);
	memset(x, 0xff, 4096);
	pool_unref(a);
	cr_assert(page_mapped(x), "kept mapped for the next big pool");

	struct pool *b = pool_new(POOL_MAP_MIN);
	unsigned char *y = pool_calloc(b, 512, 8);
	cr_assert_eq(y, x, "the kept chunk is reused");
	for (size_t i = 0; i < 4096; i++)
		cr_assert_eq(y[i], 0, "byte %zu not zeroed", i);
	pool_unref(b);

	cr_assert(pool_trim(&kept), "given back since the last trim: kept");
	cr_assert_geq(kept, 4096, "it says what it holds");
	cr_assert_not(pool_trim(&kept), "unused since: unmapped");
	cr_assert_eq(kept, 0);
	cr_assert_not(page_mapped(x));
}
