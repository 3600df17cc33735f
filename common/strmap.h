/* A string-keyed hash map to indexes (open addressing, linear probing,
 * FNV-1a). Owners keep their records in arrays and use this to find one by
 * its ID in O(1) instead of scanning: agents by agent id, tasks by task id,
 * nodes by agent id. Keys are copied. Not thread-safe (one owner thread). */
#ifndef QM_STRMAP_H
#define QM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	char *key;      /* NULL = empty; STRMAP_TOMB = deleted */
	uint64_t hash;
	size_t val;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;     /* power of two, or 0 */
	size_t n;       /* live keys */
	size_t used;    /* live + deleted slots */
};

void strmap_init(struct strmap *m);
void strmap_fini(struct strmap *m);
/* The value of key into *val; false when absent. */
bool strmap_get(const struct strmap *m, const char *key, size_t *val);
/* Insert or overwrite. */
void strmap_put(struct strmap *m, const char *key, size_t val);
/* Remove; false when absent. */
bool strmap_del(struct strmap *m, const char *key);

#endif
