#include "strmap.h"

#include "qm_error.h"

#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define STRMAP_TOMB (&tomb_marker)

static uint64_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void strmap_init(struct strmap *m) { memset(m, 0, sizeof *m); }

void strmap_fini(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
			free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof *m);
}

/* Slot holding key, or NULL. */
static struct strmap_slot *lookup(const struct strmap *m, const char *key, uint64_t h)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = h & mask, step = 0; step < m->cap; i = (i + 1) & mask, step++) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key)
			return NULL;
		if (s->key != STRMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

static void grow(struct strmap *m)
{
	size_t ncap = m->cap ? m->cap : 16;
	while (m->n * 2 >= ncap)
		ncap *= 2;
	struct strmap_slot *old = m->slots;
	size_t ocap = m->cap;
	m->slots = qm_calloc(ncap, sizeof *m->slots);
	m->cap = ncap;
	m->used = m->n;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].key || old[i].key == STRMAP_TOMB)
			continue;
		size_t j = old[i].hash & (ncap - 1);
		while (m->slots[j].key)
			j = (j + 1) & (ncap - 1);
		m->slots[j] = old[i];
	}
	free(old);
}

bool strmap_get(const struct strmap *m, const char *key, size_t *val)
{
	struct strmap_slot *s = lookup(m, key, hash_of(key));
	if (!s)
		return false;
	if (val)
		*val = s->val;
	return true;
}

void strmap_put(struct strmap *m, const char *key, size_t val)
{
	uint64_t h = hash_of(key);
	struct strmap_slot *s = lookup(m, key, h);
	if (s) {
		s->val = val;
		return;
	}
	if ((m->used + 1) * 4 >= m->cap * 3)
		grow(m);
	size_t mask = m->cap - 1, i = h & mask;
	while (m->slots[i].key && m->slots[i].key != STRMAP_TOMB)
		i = (i + 1) & mask;
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = qm_strdup(key);
	m->slots[i].hash = h;
	m->slots[i].val = val;
	m->n++;
}

bool strmap_del(struct strmap *m, const char *key)
{
	struct strmap_slot *s = lookup(m, key, hash_of(key));
	if (!s)
		return false;
	free(s->key);
	s->key = STRMAP_TOMB;
	m->n--;
	return true;
}
