/* jarena: the master's events parsed into one mapping of their own.
 *
 * A cJSON tree is one allocation per value and per string: an OFFERS event
 * of 10,000 agents (~7.5 MB of JSON) is about a million of them. Made with
 * malloc they cost an allocation and a free each, and once freed they leave
 * the heap in pieces, scattered among what stays, so the resident size
 * keeps the high-water mark of the largest event ever parsed. Parsed
 * between jarena_begin() and jarena_end() instead, a tree's allocations are
 * bumped out of one anonymous mapping, which jarena_release() unmaps once
 * the tree is deleted: no frees, nothing left behind (a big mapping is
 * kept for the next big event until jarena_trim(), see there).
 *
 * qm_cjson_policy() (qm_error.h) installs jarena_malloc/jarena_free as
 * cJSON's hooks; outside a begin/end pair they are qm_malloc and free. The
 * arena is per thread: only allocations of the thread that began it go
 * there, and a tree parsed into it must be deleted, and never have items
 * moved out of it, on that thread before jarena_release() (after the
 * release, what still pointed into it points into nothing). Items added to
 * such a tree later are ordinary allocations and freed as such. */
#ifndef QM_JARENA_H
#define QM_JARENA_H

#include <stdbool.h>
#include <stddef.h>

/* Route this thread's cJSON allocations to a new arena sized for parsing
 * text_len bytes of JSON (a bound: untouched pages cost nothing). While
 * this thread holds an arena already, route them to that one (released
 * with it). When the mapping fails, or the arena is full, allocations go
 * to malloc as usual. */
void jarena_begin(size_t text_len);
/* Stop routing; the tree stays valid. */
void jarena_end(void);
/* Unmap this thread's arena (after cJSON_Delete of the tree parsed in it).
 * A big one (from JARENA_HUGE_MIN, 8 MiB) is kept mapped instead, in one
 * slot for the whole process, and the next big jarena_begin() that fits
 * reuses it: its pages need no faulting and zeroing again. A small one (up
 * to 1 MiB) is kept the same way by the releasing thread, for its next
 * small record. */
void jarena_release(void);
/* Unmap the big arena kept for reuse unless it was given back since the
 * last call: called every so often, it lets events that come at least
 * that often be parsed into resident pages, while a quiet process holds
 * none. True when an arena is still kept (call again later); *kept (may
 * be NULL) gets the bytes it holds resident, 0 when none. Thread-safe. */
bool jarena_trim(size_t *kept);

/* Did everything allocated between this arena's begin and end fit in it
 * (and was anything)? Then a tree parsed there, never added to later, needs
 * no cJSON_Delete: jarena_release() frees it whole (a walk of a million
 * values saved for an OFFERS event of 10,000 agents). False without an
 * arena, and when nothing came to it (cJSON's hooks are not
 * jarena_malloc's: qm_cjson_policy was not called). */
bool jarena_whole(void);

/* Take this thread's arena away from it, with every tree parsed in it:
 * they stay valid until jarena_drop() unmaps them, on any thread, and
 * must never be passed to cJSON_Delete (their values are no heap
 * blocks). NULL, and nothing taken, when the thread has no arena, is
 * between begin and end, or when part of what was parsed spilled to the
 * heap (jarena_whole() is false). After a take, jarena_taken() is true
 * until jarena_release(), and the next jarena_begin() maps a new arena.
 * For a tree kept past its event: launch slices (planning.c). */
struct jarena;
struct jarena *jarena_take(void);
bool jarena_taken(void);
void jarena_drop(struct jarena *a);

/* Hand a tree over to another thread (the Mesos client's parser thread,
 * coordinator/mesos/evparse.h): jarena_detach() takes this thread's arena
 * after jarena_end(), whole or spilled, and jarena_adopt() makes it the
 * arena of the thread that calls it, as if that thread had parsed the
 * tree: jarena_whole(), jarena_take(), cJSON_Delete (the heap parts of a
 * spilled tree are freed there, the rest goes with the mapping) and
 * jarena_release() then work on it as usual. detach gives NULL when the
 * thread has no arena (or is between begin and end: nothing is taken);
 * adopting into a thread that holds an arena is a bug and dies. */
struct jarena *jarena_detach(void);
void jarena_adopt(struct jarena *a);

/* Is p inside this thread's arena? (For tests and assertions.) */
bool jarena_holds(const void *p);

void *jarena_malloc(size_t n);
void jarena_free(void *p);

#endif
