#include "warm.h"

#include <stdint.h>
#include <sys/mman.h>

size_t warm_round(size_t n, size_t min)
{
	size_t r = min;
	while (r < n && r <= SIZE_MAX / 2)
		r *= 2;
	return r < n ? n : r;
}

void *warm_take(struct warm *w, size_t need, size_t *cap, size_t *used)
{
	void *p = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->base && w->cap >= need) {
		p = w->base;
		*cap = w->cap;
		*used = w->used;
		w->base = NULL;
		w->cap = w->used = 0;
	}
	pthread_mutex_unlock(&w->mu);
	return p;
}

void *warm_map(struct warm *w, size_t need, size_t min, size_t *cap, size_t *used)
{
	*cap = warm_round(need, min);
	void *p = warm_take(w, *cap, cap, used);
	if (p)
		return p;
	*used = 0;
	p = mmap(NULL, *cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, *cap, MADV_HUGEPAGE);
	return p;
}

void warm_give(struct warm *w, void *base, size_t cap, size_t used)
{
	pthread_mutex_lock(&w->mu);
	if (!w->base || w->cap < cap) {
		void *old = w->base;
		size_t oldcap = w->cap;
		w->base = base;
		w->cap = cap;
		w->used = used;
		base = old;
		cap = oldcap;
	}
	w->fresh = true;
	pthread_mutex_unlock(&w->mu);
	if (base)
		munmap(base, cap);
}

bool warm_trim(struct warm *w, size_t *kept)
{
	void *base = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&w->mu);
	bool keep = w->base && w->fresh;
	w->fresh = false;
	if (!keep) {
		base = w->base;
		cap = w->cap;
		w->base = NULL;
		w->cap = w->used = 0;
	}
	if (kept)
		*kept = w->used;
	pthread_mutex_unlock(&w->mu);
	if (base)
		munmap(base, cap);
	return keep;
}
