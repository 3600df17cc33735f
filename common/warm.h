/* warm: one big anonymous mapping kept, after its user is done with it,
 * for the next user of about the same size. On a VM where every page
 * fault traps, faulting in and clearing the pages of a big buffer per
 * event costs more than using it: a mapping given back here keeps its
 * pages resident until warm_trim() finds it unused since the call before.
 * One slot per struct warm, shared by threads (a mapping made on one
 * thread is often given back on another). Used for the parse arenas of
 * big events (jarena.c) and for big record bodies (mesos/recordio.c). */
#ifndef QM_WARM_H
#define QM_WARM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct warm {
	pthread_mutex_t mu;
	void *base;
	size_t cap;
	size_t used;  /* the most any user touched of it: what is resident */
	bool fresh;   /* given back since the last warm_trim() */
};
#define WARM_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, false}

/* The smallest power of two >= n, from min (a power of two) up: sizes of
 * about the same fit the same kept mapping (address space only with
 * MAP_NORESERVE: untouched pages cost nothing). */
size_t warm_round(size_t n, size_t min);
/* The kept mapping if it has at least need bytes (taken out of the slot:
 * *cap its size, *used what it holds resident), else NULL. */
void *warm_take(struct warm *w, size_t need, size_t *cap, size_t *used);
/* A mapping of at least need bytes, its size (*cap) a power of two from
 * min: the kept one when it is big enough (*used its resident bytes),
 * else a new one (*used 0), reserved lazily (MAP_NORESERVE: untouched
 * pages cost nothing) and in huge pages where the kernel has them (THP
 * "madvise" mode, Debian's default; on this VM faulting in a big buffer
 * in 4 KiB pages cost ten times more). NULL when mmap fails. */
void *warm_map(struct warm *w, size_t need, size_t min, size_t *cap, size_t *used);
/* Give a mapping of cap bytes, `used` of them touched, back: the larger
 * of it and the one kept stays, the other is unmapped. */
void warm_give(struct warm *w, void *base, size_t cap, size_t used);
/* Unmap the kept mapping unless it was given back since the last call.
 * True when one is still kept; *kept (may be NULL) its resident bytes,
 * 0 when none. */
bool warm_trim(struct warm *w, size_t *kept);

#endif
