#include "jarena.h"

#include "qm_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A cJSON value is 64 bytes and the shortest JSON value 1 or 2: a text of
 * n bytes makes at most about 32 n of tree. */
#define JARENA_PER_BYTE 32u
#define JARENA_MIN (64u << 10)
#define JARENA_HUGE_MIN (8u << 20) /* arenas of texts from 256 KiB */
#define JARENA_ALIGN 16u

static __thread struct {
	uint8_t *base;
	size_t cap, used;
	bool active;
	bool spilled; /* an allocation while active went to malloc */
	bool taken;   /* jarena_take() took the arena since the last release */
} cur;

struct jarena {
	void *base;
	size_t cap, used;
	bool spilled;
};

void jarena_begin(size_t text_len)
{
	if (cur.base) { /* held: more of the same tree's life, same mapping */
		cur.active = true;
		return;
	}
	size_t cap = text_len > (SIZE_MAX - JARENA_MIN) / JARENA_PER_BYTE
			     ? 0
			     : text_len * JARENA_PER_BYTE + JARENA_MIN;
	if (cap == 0)
		return;
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	/* A big tree's arena in huge pages where the kernel has them (THP
	 * "madvise" mode is Debian's default): a 7.7 MiB OFFERS event of
	 * 10,000 offers fills ~47 MiB, and faulting that in 4 KiB pages took
	 * 150-220 ms on a VM where each fault traps (tests/bench/README.md),
	 * against 11-18 ms in 2 MiB pages. Not for small records: a 2 MiB page
	 * to zero for a heartbeat would cost more than it saves. */
	if (cap >= JARENA_HUGE_MIN)
		(void)madvise(p, cap, MADV_HUGEPAGE);
	cur.base = p;
	cur.cap = cap;
	cur.used = 0;
	cur.active = true;
	cur.spilled = false;
}

void jarena_end(void)
{
	cur.active = false;
}

void jarena_release(void)
{
	if (cur.base)
		munmap(cur.base, cur.cap);
	cur.base = NULL;
	cur.cap = cur.used = 0;
	cur.active = false;
	cur.spilled = false;
	cur.taken = false;
}

struct jarena *jarena_take(void)
{
	if (!jarena_whole() || cur.active)
		return NULL;
	struct jarena *a = jarena_detach();
	cur.taken = true;
	return a;
}

struct jarena *jarena_detach(void)
{
	if (!cur.base || cur.active)
		return NULL;
	struct jarena *a = qm_malloc(sizeof *a);
	*a = (struct jarena){
		.base = cur.base, .cap = cur.cap, .used = cur.used, .spilled = cur.spilled};
	cur.base = NULL;
	cur.cap = cur.used = 0;
	cur.spilled = false;
	return a;
}

void jarena_adopt(struct jarena *a)
{
	if (!a)
		return;
	if (cur.base || cur.active) {
		static const char msg[] = "level=fatal event=jarena_adopt reason=\"this thread "
					  "holds an arena already\"\n";
		fwrite(msg, 1, sizeof msg - 1, stderr);
		abort();
	}
	cur.base = a->base;
	cur.cap = a->cap;
	cur.used = a->used;
	cur.spilled = a->spilled;
	cur.taken = false;
	free(a);
}

bool jarena_taken(void)
{
	return cur.taken;
}

void jarena_drop(struct jarena *a)
{
	if (!a)
		return;
	munmap(a->base, a->cap);
	free(a);
}

bool jarena_whole(void)
{
	/* used: something was parsed into it (without qm_cjson_policy's hooks
	 * a tree is the heap's, whatever the arena) */
	return cur.base && cur.used > 0 && !cur.spilled;
}

void *jarena_malloc(size_t n)
{
	if (cur.active) {
		size_t at = (cur.used + JARENA_ALIGN - 1) & ~(size_t)(JARENA_ALIGN - 1);
		if (at <= cur.cap && n <= cur.cap - at) {
			cur.used = at + n;
			return cur.base + at;
		}
		cur.spilled = true;
	}
	return qm_malloc(n);
}

bool jarena_holds(const void *p)
{
	const uint8_t *b = p;
	return cur.base && b >= cur.base && b < cur.base + cur.cap;
}

void jarena_free(void *p)
{
	if (jarena_holds(p))
		return; /* goes with the mapping */
	free(p);
}
