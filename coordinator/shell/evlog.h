/* The coordinator's event log: the last EVLOG_MAX notable events (a device
 * hot-added, a task launched, killed or lost, leadership won or lost, a
 * rollout step, a reservation released ...) with their wall time, a kind
 * and one line of text, for operators: GET /v1/state answers them as
 * "events", newest first, and the status page shows them.
 *
 * It is a view, not a record: kept in memory only, lost on restart, and
 * never read by the planner. The log lines (log.h) stay the full story;
 * the ring holds what a person watching the page wants to see scroll by.
 *
 * Memory is fixed when the ring is made: EVLOG_MAX entries of at most
 * EVLOG_TEXT_MAX bytes each; the oldest entry is overwritten. Text longer
 * than the cap is cut and ends in "..."; control bytes become '?' (texts
 * quote marker files, hostnames and the master). The text is only ever
 * sent as a JSON string, and the page puts it into the DOM as text.
 *
 * Threads: the ring belongs to the loop thread that owns struct coord
 * (shell/coord_priv.h); every call is made there. No call blocks. */
#ifndef QM_EVLOG_H
#define QM_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#define EVLOG_MAX      200 /* entries kept */
#define EVLOG_TEXT_MAX 240 /* bytes of text per entry, without the NUL */

/* What happened; evlog_kind_name() gives the word /v1/state uses. */
enum evlog_kind {
	EVLOG_HOTADD = 0,  /* "hotadd": a device newly reported on a known node */
	EVLOG_DEVICE,      /* "device": a device gone, a node's first inventory */
	EVLOG_LAUNCH,      /* "launch": a task put into an ACCEPT */
	EVLOG_KILL,        /* "kill": a KILL decided by the plan */
	EVLOG_FAILURE,     /* "failure": a task ended or was lost unasked, an agent lost */
	EVLOG_LEADER,      /* "leader": coordinator leadership won, lost, changed */
	EVLOG_MASTER,      /* "master": subscribed to a (new) master, disconnected */
	EVLOG_ROLLOUT,     /* "rollout": version set, pause, resume, rollback, a phase done */
	EVLOG_RESERVATION, /* "reservation": a release requested or carried out */
	EVLOG_KIND_COUNT
};

struct evlog_entry {
	uint64_t seq;    /* 1, 2, ... in order of adding; never reused */
	int64_t time_ms; /* wall clock, Unix ms */
	enum evlog_kind kind;
	char text[EVLOG_TEXT_MAX + 1];
};

struct evlog;

/* An empty ring (EVLOG_MAX entries allocated at once); aborts when out of
 * memory (qm_malloc). Free with evlog_free. */
struct evlog *evlog_new(void);
void evlog_free(struct evlog *l);

/* Add one event at wall time now_ms. The text is formatted, cut to
 * EVLOG_TEXT_MAX and cleaned as said above. A NULL l does nothing (a
 * coordinator without a ring, as in some tests). */
void evlog_add(struct evlog *l, int64_t now_ms, enum evlog_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Entries held (at most EVLOG_MAX); 0 for a NULL l. */
size_t evlog_count(const struct evlog *l);

/* The i-th entry, newest first (i = 0 is the latest); NULL when i is out
 * of range. Valid until the next evlog_add or evlog_free. */
const struct evlog_entry *evlog_get(const struct evlog *l, size_t i);

/* "hotadd", "launch", ...; "unknown" for a value out of range. */
const char *evlog_kind_name(enum evlog_kind kind);

#endif
