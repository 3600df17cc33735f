#include "mesos/recordio.h"

#include "qm_error.h"
#include "warm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void recordio_init(struct recordio *r, size_t cap)
{
	memset(r, 0, sizeof *r);
	r->cap = cap ? cap : RECORDIO_DEFAULT_CAP;
}

void recordio_fini(struct recordio *r)
{
	recordio_free(r->buf);
	r->buf = NULL;
}

void recordio_reset(struct recordio *r)
{
	size_t cap = r->cap;
	recordio_fini(r);
	recordio_init(r, cap);
}

static int fail(struct recordio *r, int err, const char *msg)
{
	r->error = err;
	snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
	return err;
}

const char *recordio_error(const struct recordio *r)
{
	return r->error ? r->errmsg : "";
}

/* A body buffer: RECORDIO_HEAD bytes saying how it was made (the size of
 * its mapping, 0 for the heap, and the bytes of it touched), then the
 * record. A big one is a mapping of its own in huge pages where the
 * kernel has them (THP "madvise", Debian's default), and the last one is
 * kept for the next big record (warm.h) until recordio_trim() finds it
 * unused: an OFFERS event of 10,000 agents is 7.7 MiB, and copying it from
 * curl's chunks into fresh pages faulted them in and cleared them for
 * every event, 11% of the coordinator's CPU in the offer cycles on this VM
 * in 4 KiB pages and 7% in 2 MiB ones (offer_cycle.py --profile:
 * recordio_feed, clear_page_erms). Small records stay on the heap: a
 * heartbeat is no reason to clear 2 MiB. */
#define RECORDIO_HEAD 16u
#define RECORDIO_MAP_MIN (2u << 20)

static struct warm warm_rec = WARM_INIT;

static char *buf_new(size_t len)
{
	size_t total = RECORDIO_HEAD + len + 1;
	size_t head[2] = {0, total}; /* mapping size, bytes touched */
	char *base = NULL;
	if (total >= RECORDIO_MAP_MIN) {
		size_t cap, used;
		base = warm_map(&warm_rec, total, RECORDIO_MAP_MIN, &cap, &used);
		if (base) {
			head[0] = cap;
			head[1] = used > total ? used : total;
		}
	}
	if (!base)
		base = qm_malloc(total);
	memcpy(base, head, sizeof head);
	return base + RECORDIO_HEAD;
}

void recordio_free(char *rec)
{
	if (!rec)
		return;
	char *base = rec - RECORDIO_HEAD;
	size_t head[2];
	memcpy(head, base, sizeof head);
	if (head[0])
		warm_give(&warm_rec, base, head[0], head[1]);
	else
		free(base);
}

bool recordio_trim(size_t *kept)
{
	return warm_trim(&warm_rec, kept);
}

/* One buffer per record, of its size (never beyond cap), so a stream of
 * small events keeps a small buffer. */
static void reserve(struct recordio *r, size_t need)
{
	recordio_free(r->buf);
	r->buf = buf_new(need);
}

char *recordio_take(struct recordio *r)
{
	char *b = r->buf;
	r->buf = NULL; /* reserve() makes the next */
	return b;
}

int recordio_feed(struct recordio *r, const char *data, size_t len,
		  recordio_cb cb, void *arg)
{
	if (r->error)
		return r->error;
	size_t i = 0;
	while (i < len) {
		if (r->want == 0) {
			char c = data[i++];
			if (c == '\n') {
				if (r->hdrlen == 0)
					return fail(r, QM_EPROTO, "empty record length");
				r->hdr[r->hdrlen] = '\0';
				unsigned long long n = strtoull(r->hdr, NULL, 10);
				if (n == 0)
					return fail(r, QM_EPROTO, "zero record length");
				if (n > r->cap)
					return fail(r, QM_ETOOBIG, "record larger than the cap");
				r->want = n;
				r->hdrlen = 0;
				r->len = 0;
				reserve(r, (size_t)n);
				continue;
			}
			if (c < '0' || c > '9')
				return fail(r, QM_EPROTO, "record length is not decimal");
			if (r->hdrlen >= 20)
				return fail(r, QM_EPROTO, "record length has too many digits");
			r->hdr[r->hdrlen++] = c;
			continue;
		}
		size_t take = len - i;
		if (take > r->want - r->len)
			take = (size_t)(r->want - r->len);
		memcpy(r->buf + r->len, data + i, take);
		r->len += take;
		i += take;
		if (r->len == r->want) {
			r->buf[r->len] = '\0';
			r->want = 0;
			int rv = cb(arg, r->buf, r->len);
			if (rv)
				return rv;
		}
	}
	return 0;
}

size_t recordio_header(uint64_t len, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%llu\n", (unsigned long long)len);
	return n < 0 ? 0 : (size_t)n;
}
