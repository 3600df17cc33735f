/* evparse: the event stream's big records parsed off the loop thread.
 *
 * An OFFERS event of 10,000 agents is ~8 MB of JSON: cJSON takes 45-50 ms
 * to parse it and reading its offers (taskspec_offers_parse) 30-37 ms
 * more, 80 ms in which the loop would answer nothing else. The Mesos
 * client hands such records here instead: one thread of our own parses
 * them in order, each into an arena of its own (jarena.h), runs the
 * owner's pure `prepare` on the tree, and hands the tree, its arena and
 * what prepare made back to the loop thread, one record per loop
 * iteration, in the order they were submitted. Once handled, they go back
 * to the parser thread to be freed.
 *
 * What runs on the parser thread is pure: parse and prepare, no state of
 * the client's or the owner's. Everything else (which stream a record
 * belongs to, dispatch, the tree's deletion) stays on the loop. */
#ifndef QM_MESOS_EVPARSE_H
#define QM_MESOS_EVPARSE_H

#include "evloop.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* One record, parsed. `ev` is NULL when the record is not JSON. */
struct evparse_item {
	uint64_t tag;   /* the submitter's (the client: its stream's number) */
	size_t len;     /* the record's length in bytes */
	char head[81];  /* its first 80 bytes, for a log line */
	cJSON *ev;      /* the tree (NULL: not JSON) */
	void *prepared; /* prepare(ev) made on the parser thread, or NULL */
	struct jarena *arena;
	struct evparse_item *next;
	char *rec; /* the text, until parsed */
};

/* Run on the parser thread with a parsed tree: must be pure (read the tree,
 * allocate what it returns, touch nothing shared). NULL: nothing. The free
 * function runs on the parser thread too (or in evparse_free). */
typedef void *(*evparse_prepare_fn)(const cJSON *ev);
typedef void (*evparse_free_fn)(void *prepared);
/* Run on the loop thread, once per record, in submission order. The tree
 * is the loop thread's during the call (its arena adopted, jarena.h: the
 * callee may jarena_take() it). Afterwards the parser thread deletes the
 * tree and unmaps its arena, unless it was taken, and frees `prepared`
 * with the free function (a callee that keeps parts of it takes them
 * out): 7-8 ms for an OFFERS event of 10,000 agents, off the loop too. */
typedef void (*evparse_deliver_fn)(void *arg, struct evparse_item *it);

struct evparse;

/* A parser for records of loop `loop`, its thread started. NULL when the
 * thread cannot be (errno says why; then parse on the loop). Loop thread only. */
struct evparse *evparse_new(struct ev_loop *loop, evparse_prepare_fn prepare,
			    evparse_free_fn prepared_free, evparse_deliver_fn deliver, void *arg);
/* Stop the thread (after the record it is parsing) and free everything,
 * records not delivered included: no deliver runs afterwards. */
void evparse_free(struct evparse *p);

/* Queue rec[0..len) (loop thread), a buffer of len + 1 bytes from
 * recordio_take() that evparse owns from now on (an 8 MB record is not
 * copied) and frees with recordio_free(). */
void evparse_submit(struct evparse *p, char *rec, size_t len, uint64_t tag);
/* Records submitted and not delivered yet: while any is, a record that
 * must keep its place in the stream has to be submitted too. */
size_t evparse_pending(const struct evparse *p);

#endif
