#include "jarena.h"

#include "qm_error.h"
#include "warm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A cJSON value is 64 bytes and the shortest JSON value 1 or 2: a text of
 * n bytes makes at most about 32 n of tree. */
#define JARENA_PER_BYTE 32u
#define JARENA_MIN (64u << 10)
#define JARENA_HUGE_MIN (8u << 20) /* arenas of texts from 256 KiB */
/* What a cJSON tree allocates needs no more: its values hold pointers,
 * ints and a double, its keys and strings are bytes. (malloc's 16 would
 * pad every short key and string by 8 more bytes on average.) */
#define JARENA_ALIGN 8u

static __thread struct {
	uint8_t *base;
	size_t cap, used;
	size_t touched; /* of a reused mapping: the most an earlier tree used */
	bool active;
	bool spilled; /* an allocation while active went to malloc */
	bool taken;   /* jarena_take() took the arena since the last release */
} cur;

struct jarena {
	void *base;
	size_t cap, used, touched;
	bool spilled;
};

/* The last big arena unmapped is kept mapped for the next big event
 * (warm.h): its pages are resident already, so the next tree is built
 * without faulting and zeroing them again. On this VM, where each fault
 * traps, faulting in the ~47 MiB tree of an OFFERS event of 10,000 agents
 * was a fifth of the coordinator's CPU per offer even in huge pages
 * (offer_cycle.py --profile: clear_page_erms under
 * do_huge_pmd_anonymous_page). jarena_trim() gives it back once events
 * stop coming. Big arenas' sizes are rounded up to a power of two so that
 * events of about the same size fit the kept one. */
static struct warm warm_arena = WARM_INIT;

/* A small arena (a record of up to ~30 KiB: a status update, a heartbeat,
 * a few offers) is kept by the thread that releases it for its next small
 * record, one per thread: mapping and unmapping one per record was most of
 * a record's cost on the loop, more than parsing it (offer_cycle.py
 * --agents 10000 --profile, launching: under on_record, jarena_release
 * 160 samples and jarena_begin 27 against cJSON's parse 107 and the
 * handling 45), and bursts of 10,000 status updates are all small
 * records. Its pages need no clearing: a tree's values are initialised as
 * they are made. At most JARENA_KEEP_MAX stays mapped per thread. */
#define JARENA_KEEP_MAX (1u << 20)
static __thread struct {
	void *base;
	size_t cap;
} small;

/* A big tree's arena in huge pages (warm_map): a 7.7 MiB OFFERS event of
 * 10,000 offers fills ~47 MiB, and faulting that in 4 KiB pages took
 * 150-220 ms on a VM where each fault traps (tests/bench/README.md),
 * against 11-18 ms in 2 MiB pages. Not for small records: a 2 MiB page to
 * zero for a heartbeat would cost more than it saves. */
static void *map_arena(size_t *cap, size_t *used_max)
{
	*used_max = 0;
	if (*cap >= JARENA_HUGE_MIN)
		return warm_map(&warm_arena, *cap, JARENA_HUGE_MIN, cap, used_max);
	if (*cap <= JARENA_KEEP_MAX) {
		*cap = warm_round(*cap, JARENA_MIN);
		if (small.base && small.cap >= *cap) {
			void *p = small.base;
			*cap = small.cap;
			small.base = NULL;
			small.cap = 0;
			return p;
		}
	}
	void *p = mmap(NULL, *cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* What a mapping holds resident: the most any tree used of it. */
static size_t resident(size_t used, size_t touched)
{
	return used > touched ? used : touched;
}

static void unmap_arena(void *base, size_t cap, size_t used)
{
	if (cap >= JARENA_HUGE_MIN) {
		warm_give(&warm_arena, base, cap, used);
		return;
	}
	if (cap <= JARENA_KEEP_MAX && (!small.base || small.cap < cap)) {
		if (small.base)
			munmap(small.base, small.cap);
		small.base = base; /* the larger of the two stays */
		small.cap = cap;
		return;
	}
	munmap(base, cap);
}

bool jarena_trim(size_t *kept)
{
	return warm_trim(&warm_arena, kept);
}

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
	size_t touched;
	void *p = map_arena(&cap, &touched);
	if (!p)
		return;
	cur.base = p;
	cur.cap = cap;
	cur.touched = touched;
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
		unmap_arena(cur.base, cur.cap, resident(cur.used, cur.touched));
	cur.base = NULL;
	cur.cap = cur.used = cur.touched = 0;
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
		.base = cur.base, .cap = cur.cap, .used = cur.used, .touched = cur.touched,
		.spilled = cur.spilled};
	cur.base = NULL;
	cur.cap = cur.used = cur.touched = 0;
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
	cur.touched = a->touched;
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
	unmap_arena(a->base, a->cap, resident(a->used, a->touched));
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
