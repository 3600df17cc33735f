/* pool: many small allocations with one owner count, freed together.
 *
 * The offers of an OFFERS event are read into a few hundred thousand small
 * pieces (each offer's resources, their kind texts, ranges, ids); made
 * with malloc they were a fifth of the coordinator's CPU per offer at
 * 10,000 agents (offer_cycle.py --profile --callgraph dwarf: _int_malloc
 * under resources_parse and id_raw, half of it faulting in heap pages the
 * heap trim had given back), and as many frees later. A pool bumps them
 * out of a few chunks instead. Its first chunk, when big (from
 * POOL_MAP_MIN), is a mapping kept warm for the next pool of about that
 * size (warm.h), until pool_trim() finds it unused.
 *
 * Nothing in a pool is freed alone. Each user holds a reference (the
 * creator one; pool_ref for every other), and the last pool_unref frees
 * it all: the offers of one event move to different owners (a launch
 * slice, the event's handling) and are freed by each of them, on the loop
 * thread or the parser thread. Allocating is for one thread at a time
 * (the one that fills it); references may be taken and dropped on any.
 * Allocation failure aborts (qm_oom). */
#ifndef QM_POOL_H
#define QM_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* An OFFERS event of ~170 offers and more: at 1,000 agents a 1.5 MiB pool
 * on the heap was faulted in afresh for every event once trimmed. */
#define POOL_MAP_MIN (256u << 10)

struct pool;

/* A pool expected to hold about hint bytes (more spills into further
 * chunks), with one reference: the caller's. */
struct pool *pool_new(size_t hint);
/* n bytes, 8-byte aligned, uninitialised (a kept chunk holds old data). */
void *pool_alloc(struct pool *p, size_t n);
/* n items of size bytes, zeroed. */
void *pool_calloc(struct pool *p, size_t n, size_t size);
/* A copy of s (NULL for NULL). */
char *pool_strdup(struct pool *p, const char *s);
/* One more user. */
void pool_ref(struct pool *p);
/* One user less: the last frees the pool (NULL: nothing). */
void pool_unref(struct pool *p);
/* Unmap the chunk kept for reuse unless a pool gave it back since the
 * last call (as jarena_trim). True when one is still kept; *kept (may be
 * NULL) its resident bytes, 0 when none. Thread-safe. */
bool pool_trim(size_t *kept);

#endif
