/* The coordinator's Prometheus metrics: GET /metrics (text exposition
 * format 0.0.4), the fixed-bucket histograms the loop feeds, and the pieces
 * the page is written with (a capped text buffer, label escaping).
 *
 * Threads: everything here belongs to the loop thread (ARCHITECTURE.md
 * "Threads"). The histograms live in struct coord (shell/coord_priv.h) and
 * are observed by the loop's own code (planning, saving, the OFFERS handler,
 * the bus handler); the handler reads them on the same thread. No locks.
 *
 * Every family has # HELP and # TYPE; `promtool check metrics` is clean
 * (tests/e2e/test_e2e.py RestSurfaceTest runs it on a live coordinator).
 *
 * Series cap: the per-node and per-device families (devices by type and
 * state, bytes free and total per device) grow with the cluster -- 10000
 * agents with a few disks each would be tens of thousands of series. One
 * scrape writes at most METRICS_MAX_SERIES of them; the rest are left out
 * and counted in quobyte_mesos_metrics_series_dropped_total, so a capped
 * page is visible rather than silently short. Per-service families are
 * bounded by the service enum and not counted against the cap. */
#ifndef QM_METRICS_H
#define QM_METRICS_H

#include "api/http.h"
#include "core/nodes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Labelled per-node and per-device series one scrape writes at most. */
#define METRICS_MAX_SERIES       10000
/* Finite buckets a histogram can have (+Inf is extra). */
#define METRICS_HIST_MAX_BUCKETS 16

/* A histogram with fixed upper bounds in microseconds (the goal of
 * OFFERS -> ACCEPT is about a millisecond, so whole ms would not tell),
 * written in base units (seconds). counts[i] counts observations in bucket
 * i alone (le[i-1] < v <= le[i]); counts[nle] those above the last bound.
 * Cumulated when written. */
struct metrics_hist {
	const uint32_t *le_us; /* ascending, static storage */
	size_t nle;
	uint64_t counts[METRICS_HIST_MAX_BUCKETS + 1];
	uint64_t count;
	uint64_t sum_us;
};

/* Zero h with the bounds le_us[0..nle) (nle <= METRICS_HIST_MAX_BUCKETS;
 * more are cut off). le_us must outlive h. */
void metrics_hist_init(struct metrics_hist *h, const uint32_t *le_us, size_t nle);
/* Count one observation of us microseconds / of ms milliseconds. */
void metrics_hist_observe_us(struct metrics_hist *h, uint64_t us);
void metrics_hist_observe_ms(struct metrics_hist *h, uint64_t ms);
/* Count the time from start_us (clock_mono_us()) to now; a start of 0
 * means "not started" and counts nothing. */
void metrics_hist_since(struct metrics_hist *h, uint64_t start_us);

/* What the coordinator measures beyond its counters (struct coord's
 * "metrics" member); metrics_init() sets the buckets. */
struct metrics_state {
	struct metrics_hist plan;         /* one coord_plan() cycle */
	struct metrics_hist store_save;   /* one coord_save() */
	struct metrics_hist offer_accept; /* OFFERS arrived -> ACCEPT sent */
	/* the same less the fdatasync of the saves on the way (the goal:
	 * <= 1 ms beyond one fdatasync of an append-sized record) */
	struct metrics_hist offer_accept_beyond_sync;
	struct metrics_hist bus_age;      /* envelope sent_unix_ms -> taken */
	/* a device's changed_unix_ms (prober saw it appear or change type)
	 * -> the LAUNCH of its service on that node */
	struct metrics_hist marker_launch;
	uint64_t offers_at_us;            /* clock_mono_us() of the last OFFERS */
	uint64_t offers_sync_us;          /* its saves' fdatasync so far */
	uint64_t series_dropped;          /* over METRICS_MAX_SERIES, all scrapes */
};

void metrics_init(struct metrics_state *m);

/* A growable text buffer with a hard cap (METRICS_BUF_CAP): once full,
 * further writes are dropped and .full is set. Out of memory aborts
 * (qm_malloc). */
#define METRICS_BUF_CAP (16u << 20)
struct metrics_buf {
	char *p;
	size_t len, cap;
	bool full;
};

void metrics_buf_init(struct metrics_buf *b);
void metrics_buf_fini(struct metrics_buf *b);
void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append a label value escaped per the exposition format: backslash,
 * double quote and line feed become \\, \" and \n. */
void metrics_label(struct metrics_buf *b, const char *value);
/* Write "# HELP" and "# TYPE" for a family. */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);
/* Write a whole histogram family (HELP, TYPE, buckets, sum, count). */
void metrics_hist_write(struct metrics_buf *b, const char *name, const char *help,
			const struct metrics_hist *h);

/* The per-node and per-device families: devices per node by type and
 * state (a device with several types counts under each, one with none as
 * type "none"), bytes free and total per device root. Writes at most
 * *budget series, lowering it; each series left out adds 1 to *dropped. The
 * node label is the prober's hostname (its agent id when it has none). */
void metrics_write_devices(struct metrics_buf *b, const struct nodes *ns, size_t *budget,
			   uint64_t *dropped);

/* GET /metrics (an http_handler; ctx is struct coord). */
void metrics_handler(const struct http_request *req, struct http_response *resp, void *ctx);

#endif
