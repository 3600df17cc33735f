/* jarena: cJSON trees parsed into a mapping of their own (common/jarena.h),
 * through the hooks qm_cjson_policy() installs, as the Mesos client uses
 * it: begin, parse, end, use and change the tree, delete, release. */
#include "jarena.h"
#include "qm_error.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void mapped_or_not(const void *p, bool *held)
{
	*held = jarena_holds(p);
}

/* Is the page of p mapped at all? msync answers ENOMEM for a hole. */
static bool page_mapped(const void *p)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
	return msync((void *)page, 4096, MS_ASYNC) == 0;
}

TestSuite(jarena, .init = qm_cjson_policy);

Test(jarena, a_tree_parsed_between_begin_and_end_lives_in_the_arena)
{
	const char *text = "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"o1\"}},"
			   "{\"id\":{\"value\":\"o2\"}}]}}";
	jarena_begin(strlen(text));
	cJSON *ev = cJSON_Parse(text);
	jarena_end();
	cr_assert_not_null(ev);
	const cJSON *offers = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "offers"), "offers");
	cr_assert_eq(cJSON_GetArraySize(offers), 2);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(offers, 1), "id")->child->valuestring,
			 "o2");
	/* the tree and its strings are in one mapping, not on the heap */
	bool mapped;
	mapped_or_not(ev, &mapped);
	cr_assert(mapped, "the root is in the arena's mapping");
	mapped_or_not(cJSON_GetObjectItem(ev, "type")->valuestring, &mapped);
	cr_assert(mapped, "a string of the tree is in the arena's mapping");

	/* after end, what the handler adds is an ordinary allocation: it can be
	 * added to the tree and goes with cJSON_Delete */
	cJSON *extra = cJSON_CreateString("added later");
	mapped_or_not(extra, &mapped);
	cr_assert_not(mapped, "allocations after jarena_end are malloc's");
	cJSON_AddItemToObject(ev, "extra", extra);
	cJSON_DeleteItemFromObject(ev, "type"); /* an arena item: freeing it is a no-op */

	/* a call built while the tree lives is independent of it */
	cJSON *call = cJSON_CreateObject();
	cJSON_AddStringToObject(call, "offer", cJSON_GetArrayItem(offers, 0)->child->child->valuestring);
	cJSON_Delete(ev);
	jarena_release();
	char *out = cJSON_PrintUnformatted(call);
	cr_assert_str_eq(out, "{\"offer\":\"o1\"}");
	free(out);
	cJSON_Delete(call);
}

/* A small record's arena is kept by the thread for its next small record
 * (mapping and unmapping one per status update cost more than parsing
 * it); of two released, the second is unmapped. */
Test(jarena, a_small_arena_is_kept_for_the_next_small_record)
{
	jarena_begin(1000);
	cJSON *a = cJSON_Parse("[1,2,3]");
	jarena_end();
	const void *where = a;
	bool mapped;
	mapped_or_not(where, &mapped);
	cr_assert(mapped);
	cr_assert(page_mapped(where));
	cJSON_Delete(a);
	jarena_release();
	mapped_or_not(where, &mapped);
	cr_assert_not(mapped, "released: no longer this thread's arena");
	cr_assert(page_mapped(where), "but kept mapped for the next small record");

	jarena_begin(500);
	cJSON *b = cJSON_Parse("[4,5,6]");
	jarena_end();
	cr_assert_eq((const void *)b, where, "the next small record reuses it");
	cr_assert_eq(cJSON_GetArrayItem(b, 2)->valueint, 6);
	struct jarena *held = jarena_detach(); /* as a launch's carry holds one */
	jarena_begin(500);
	cJSON *c = cJSON_Parse("{\"z\":3}");
	jarena_end();
	cr_assert_neq((const void *)c, where, "none kept now: a new mapping");
	const void *second = c;
	cJSON_Delete(c);
	jarena_release(); /* kept */
	jarena_drop(held); /* one is kept already: this one goes */
	cr_assert_not(page_mapped(where), "the second released is unmapped");
	cr_assert(page_mapped(second));
	mapped_or_not(second, &mapped);
	cr_assert_not(mapped);
	/* a begin while an arena is held changes nothing */
	jarena_begin(100);
	cJSON *x = cJSON_Parse("{\"x\":1}");
	jarena_end();
	jarena_begin(100);
	cJSON *y = cJSON_Parse("{\"y\":2}");
	jarena_end();
	mapped_or_not(x, &mapped);
	cr_assert(mapped);
	mapped_or_not(y, &mapped);
	cr_assert(mapped, "the second parse went into the arena already held");
	cJSON_Delete(y);
	cJSON_Delete(x);
	jarena_release();
}

/* A big event's text: an array of n small objects. */
static char *big_text(size_t n, size_t *len)
{
	size_t cap = n * 12 + 3;
	char *t = qm_malloc(cap);
	size_t at = 0;
	t[at++] = '[';
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(t + at, cap - at, "%s{\"a\":%zu}", i ? "," : "", i % 10);
	t[at++] = ']';
	t[at] = '\0';
	*len = at;
	return t;
}

Test(jarena, a_big_arena_is_kept_for_the_next_big_event_until_a_quiet_trim)
{
	(void)jarena_trim(NULL); /* nothing kept by an earlier test */
	(void)jarena_trim(NULL);
	size_t len;
	char *text = big_text(40000, &len); /* ~300 KiB: a big arena */
	jarena_begin(len);
	cJSON *a = cJSON_ParseWithLength(text, len);
	jarena_end();
	cr_assert(jarena_whole());
	void *first = a;
	jarena_release(); /* whole: no delete needed */
	cr_assert(page_mapped(first), "a big arena stays mapped after its release");
	size_t kept = 0;
	cr_assert(jarena_trim(&kept), "given back since the last trim: kept");
	cr_assert_gt(kept, len, "it holds what the tree used (%zu bytes)", kept);

	/* the next big event is parsed into the same pages, and is whole */
	jarena_begin(len);
	cJSON *b = cJSON_ParseWithLength(text, len);
	jarena_end();
	cr_assert_eq((void *)b, first, "the kept arena is reused");
	cr_assert(jarena_whole());
	cr_assert_eq(cJSON_GetArraySize(b), 40000);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(b, 39999), "a")->valueint, 9);
	/* while it is in use the slot is empty: a trim has nothing to drop */
	cr_assert_not(jarena_trim(&kept));
	cr_assert_eq(kept, 0);
	jarena_release();

	/* a small arena goes to its thread's own slot, never to this one
	 * (a_small_arena_is_kept_for_the_next_small_record) */
	jarena_begin(16);
	cJSON *s = cJSON_Parse("[1]");
	jarena_end();
	cr_assert_neq((void *)s, first);
	jarena_release();

	/* two trims with no use between them give the big one back */
	cr_assert(jarena_trim(NULL), "used since the last trim: still kept");
	cr_assert(page_mapped(first));
	cr_assert_not(jarena_trim(&kept), "not used since: unmapped");
	cr_assert_eq(kept, 0);
	cr_assert_not(page_mapped(first), "the kept arena is gone after a quiet trim");
	free(text);
}

Test(jarena, a_failed_parse_leaves_nothing)
{
	jarena_begin(64);
	cJSON *bad = cJSON_Parse("{\"type\":\"OFFERS\",\"offers\":[1,2,");
	jarena_end();
	cr_assert_null(bad);
	jarena_release();
}

static void *other_thread(void *arg)
{
	cJSON **out = arg;
	*out = cJSON_Parse("{\"from\":\"another thread\"}");
	return NULL;
}

Test(jarena, other_threads_allocate_from_the_heap)
{
	jarena_begin(4096);
	pthread_t t;
	cJSON *theirs = NULL;
	cr_assert_eq(pthread_create(&t, NULL, other_thread, &theirs), 0);
	pthread_join(t, NULL);
	cJSON *mine = cJSON_Parse("{\"from\":\"this thread\"}");
	jarena_end();
	bool mapped;
	mapped_or_not(mine, &mapped);
	cr_assert(mapped);
	cr_assert_not_null(theirs);
	mapped_or_not(theirs, &mapped);
	cr_assert_not(mapped, "another thread's tree is not in this thread's arena");
	cJSON_Delete(mine);
	jarena_release();
	cJSON_Delete(theirs); /* an ordinary free, after the release */
}

Test(jarena, whole_says_whether_the_tree_needs_a_delete)
{
	cr_assert_not(jarena_whole(), "no arena: nothing is whole");
	const char *text = "{\"type\":\"HEARTBEAT\"}";
	jarena_begin(strlen(text));
	cJSON *small = cJSON_Parse(text);
	jarena_end();
	cr_assert_not_null(small);
	cr_assert(jarena_whole(), "a tree that fit: releasing the arena frees it all");
	jarena_release(); /* no cJSON_Delete: LeakSanitizer would see a leak */
	cr_assert_not(jarena_whole());

	/* an arena sized for 1 byte (64 KiB) and a tree of 5,000 values
	 * (320 KiB): the rest went to malloc and needs the delete */
	size_t n = 5000;
	char *big = malloc(2 * n + 2);
	cr_assert_not_null(big);
	big[0] = '[';
	for (size_t i = 0; i < n; i++) {
		big[1 + 2 * i] = '1';
		big[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	big[2 * n + 1] = '\0';
	jarena_begin(1);
	cJSON *arr = cJSON_Parse(big);
	jarena_end();
	free(big);
	cr_assert_eq(cJSON_GetArraySize(arr), (int)n);
	cr_assert_not(jarena_whole(), "part of the tree is on the heap");
	bool mapped;
	mapped_or_not(cJSON_GetArrayItem(arr, (int)n - 1), &mapped);
	cr_assert_not(mapped, "the last values did not fit");
	cJSON_Delete(arr);
	jarena_release();
}

Test(jarena, a_taken_arena_keeps_its_tree_until_dropped)
{
	cr_assert_null(jarena_take(), "no arena: nothing to take");
	const char *text = "{\"offers\":[{\"id\":\"o1\"},{\"id\":\"o2\"}]}";
	jarena_begin(strlen(text));
	cJSON *ev = cJSON_Parse(text);
	cr_assert_null(jarena_take(), "not between begin and end");
	jarena_end();
	struct jarena *kept = jarena_take();
	cr_assert_not_null(kept);
	cr_assert(jarena_taken());
	cr_assert_not(jarena_whole(), "the thread has no arena now");
	/* the thread's next tree goes into a new mapping; the kept one and
	 * its strings are still there after that one is released */
	jarena_begin(16);
	cJSON *next = cJSON_Parse("[1]");
	jarena_end();
	bool mapped;
	mapped_or_not(next, &mapped);
	cr_assert(mapped);
	cr_assert_not(jarena_holds(ev), "the kept tree is no longer the thread's");
	cJSON_Delete(next);
	jarena_release();
	cr_assert_not(jarena_taken(), "release ends what the take said");
	const cJSON *o2 = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "offers"), 1);
	cr_assert_str_eq(cJSON_GetObjectItem(o2, "id")->valuestring, "o2");
	cr_assert(page_mapped(ev));
	jarena_drop(kept);
	cr_assert_not(page_mapped(ev), "dropped: unmapped");

	/* a tree that spilled to the heap is not taken (it needs its delete) */
	jarena_begin(1);
	cJSON *big = cJSON_CreateArray();
	for (int i = 0; i < 5000; i++)
		cJSON_AddItemToArray(big, cJSON_CreateNumber(i));
	jarena_end();
	cr_assert_null(jarena_take());
	cJSON_Delete(big);
	jarena_release();
}

Test(jarena, without_the_hooks_a_tree_is_never_whole)
{
	cJSON_InitHooks(NULL); /* a program that never called qm_cjson_policy */
	jarena_begin(64);
	cJSON *t = cJSON_Parse("{\"a\":[1,2,3]}");
	jarena_end();
	cr_assert_not_null(t);
	cr_assert_not(jarena_whole(), "the tree is the heap's: it needs its delete");
	cr_assert_null(jarena_take());
	cJSON_Delete(t);
	jarena_release();
}

/* The Mesos client's parser thread (evparse.h): a tree parsed on one
 * thread, detached with its arena, adopted by another, which uses it,
 * adds to it, deletes it and releases the arena as if it had parsed it. */
struct parsed {
	cJSON *tree;
	struct jarena *arena;
};

static void *parse_elsewhere(void *arg)
{
	struct parsed *p = arg;
	static const char text[] = "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[1,2,3]}}";
	jarena_begin(sizeof text);
	p->tree = cJSON_Parse(text);
	jarena_end();
	p->arena = jarena_detach();
	cr_assert_not(jarena_holds(p->tree), "detached: no longer this thread's");
	return NULL;
}

Test(jarena, a_tree_detached_on_one_thread_is_adopted_by_another)
{
	struct parsed p = {0};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, parse_elsewhere, &p), 0);
	pthread_join(t, NULL);
	cr_assert_not_null(p.tree);
	cr_assert_not_null(p.arena);
	cr_assert_not(jarena_holds(p.tree));
	jarena_adopt(p.arena);
	cr_assert(jarena_holds(p.tree), "adopted: the tree is in this thread's arena");
	cr_assert(jarena_whole(), "nothing spilled on the parsing thread");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(p.tree, "offers"),
							    "offers")), 3);
	/* a later addition is the heap's and goes with cJSON_Delete, which
	 * leaves the arena's values alone */
	cJSON_AddStringToObject(p.tree, "added", "later");
	cr_assert_not(jarena_holds(cJSON_GetObjectItem(p.tree, "added")));
	cJSON_Delete(p.tree);
	jarena_release();
	cr_assert_not(jarena_holds(p.tree));

	/* a thread without an arena detaches nothing */
	cr_assert_null(jarena_detach());
	jarena_adopt(NULL); /* and adopting nothing is nothing */
	cr_assert_not(jarena_whole());
}
