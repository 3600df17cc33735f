/* pool: see pool.h. */
#include "pool.h"

#include "qm_error.h"
#include "warm.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN 8u
#define POOL_CHUNK_MIN (1u << 10)

/* A chunk from the heap: the first of a small pool, or one a pool spilled
 * into; its bytes follow. */
struct chunk {
	struct chunk *next;
	size_t cap;
};

struct pool {
	atomic_size_t refs;
	uint8_t *cur;        /* the chunk being filled */
	size_t used, cap;    /* of it */
	void *map;           /* the first chunk when mapped, else NULL */
	size_t map_cap;
	size_t map_used;     /* bytes of it used, once filling went past it */
	size_t map_touched;  /* of a kept mapping: the most an earlier pool used */
	struct chunk *heap;  /* chunks from the heap, newest first */
};

static struct warm warm_pool = WARM_INIT;

static void add_chunk(struct pool *p, size_t cap)
{
	struct chunk *c = qm_malloc(sizeof *c + cap);
	c->next = p->heap;
	c->cap = cap;
	p->heap = c;
	if (p->cur == p->map)
		p->map_used = p->used;
	p->cur = (uint8_t *)(c + 1);
	p->used = 0;
	p->cap = cap;
}

struct pool *pool_new(size_t hint)
{
	struct pool *p = qm_calloc(1, sizeof *p);
	atomic_init(&p->refs, 1);
	if (hint >= POOL_MAP_MIN) {
		p->map = warm_map(&warm_pool, hint, POOL_MAP_MIN, &p->map_cap, &p->map_touched);
		if (p->map) {
			p->cur = p->map;
			p->cap = p->map_cap;
			return p;
		}
	}
	add_chunk(p, hint > POOL_CHUNK_MIN ? hint : POOL_CHUNK_MIN);
	return p;
}

void *pool_alloc(struct pool *p, size_t n)
{
	size_t at = (p->used + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	if (at > p->cap || n > p->cap - at) {
		if (n > SIZE_MAX / 2 - sizeof(struct chunk))
			qm_oom();
		/* spilled: chunks at least as big as the last, so a pool
		 * hinted too small still takes few of them */
		add_chunk(p, n > p->cap ? n : p->cap);
		at = 0;
	}
	p->used = at + n;
	return p->cur + at;
}

void *pool_calloc(struct pool *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		qm_oom();
	void *m = pool_alloc(p, n * size);
	memset(m, 0, n * size);
	return m;
}

char *pool_strdup(struct pool *p, const char *s)
{
	if (!s)
		return NULL;
	size_t len = strlen(s) + 1;
	return memcpy(pool_alloc(p, len), s, len);
}

void pool_ref(struct pool *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void pool_unref(struct pool *p)
{
	if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (p->map) {
		size_t used = p->cur == p->map ? p->used : p->map_used;
		warm_give(&warm_pool, p->map, p->map_cap,
			  used > p->map_touched ? used : p->map_touched);
	}
	while (p->heap) {
		struct chunk *c = p->heap;
		p->heap = c->next;
		free(c);
	}
	free(p);
}

bool pool_trim(size_t *kept)
{
	return warm_trim(&warm_pool, kept);
}
