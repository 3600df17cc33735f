#include "mesos/recordio.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char recs[16][64];
	size_t n;
	int stop_after;
};

static int collect(void *arg, const char *rec, size_t len)
{
	struct sink *s = arg;
	cr_assert_lt(s->n, 16);
	cr_assert_lt(len, 64);
	memcpy(s->recs[s->n], rec, len);
	s->recs[s->n][len] = '\0';
	s->n++;
	return (s->stop_after && (int)s->n == s->stop_after) ? 7 : 0;
}

static const char stream[] =
	"20\n{\"type\":\"HEARTBEAT\"}"
	"24\n{\"type\":\"RESCIND\",\"x\":1}"
	"2\n{}";

Test(recordio, whole_stream_at_once)
{
	struct recordio r;
	struct sink s = {0};
	recordio_init(&r, 1024);
	cr_assert_eq(recordio_feed(&r, stream, strlen(stream), collect, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.recs[0], "{\"type\":\"HEARTBEAT\"}");
	cr_assert_str_eq(s.recs[1], "{\"type\":\"RESCIND\",\"x\":1}");
	cr_assert_str_eq(s.recs[2], "{}");
	recordio_fini(&r);
}

/* Chunk boundaries fall anywhere: inside the prefix, right after '\n',
 * inside a body. Every split of the stream into 1..3 pieces must give the
 * same records. */
Test(recordio, every_split_point)
{
	size_t n = strlen(stream);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b += 7) {
			struct recordio r;
			struct sink s = {0};
			recordio_init(&r, 1024);
			cr_assert_eq(recordio_feed(&r, stream, a, collect, &s), 0);
			cr_assert_eq(recordio_feed(&r, stream + a, b - a, collect, &s), 0);
			cr_assert_eq(recordio_feed(&r, stream + b, n - b, collect, &s), 0);
			cr_assert_eq(s.n, 3, "split %zu/%zu gave %zu records", a, b, s.n);
			cr_assert_str_eq(s.recs[1], "{\"type\":\"RESCIND\",\"x\":1}");
			recordio_fini(&r);
		}
	}
}

Test(recordio, oversized_record_is_refused_before_buffering)
{
	struct recordio r;
	struct sink s = {0};
	recordio_init(&r, 100);
	const char *big = "101\n";
	cr_assert_eq(recordio_feed(&r, big, strlen(big), collect, &s), QM_ETOOBIG);
	cr_assert_str_eq(recordio_error(&r), "record larger than the cap");
	/* sticky: later bytes are refused too */
	cr_assert_eq(recordio_feed(&r, "2\n{}", 4, collect, &s), QM_ETOOBIG);
	cr_assert_eq(s.n, 0);
	recordio_fini(&r);
}

Test(recordio, garbage_prefixes)
{
	const char *bad[] = {"\n", "0\n", "x\n", "12a\n", "-5\n", "123456789012345678901\n",
			     " 5\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct recordio r;
		struct sink s = {0};
		recordio_init(&r, 1024);
		int rv = recordio_feed(&r, bad[i], strlen(bad[i]), collect, &s);
		cr_assert(rv == QM_EPROTO || rv == QM_ETOOBIG, "prefix %zu accepted", i);
		cr_assert_neq(recordio_error(&r)[0], '\0');
		recordio_fini(&r);
	}
}

Test(recordio, callback_stop_value_is_returned_and_reset_recovers)
{
	struct recordio r;
	struct sink s = {.stop_after = 1};
	recordio_init(&r, 1024);
	cr_assert_eq(recordio_feed(&r, stream, strlen(stream), collect, &s), 7);
	cr_assert_eq(s.n, 1);
	recordio_reset(&r);
	s.stop_after = 0;
	cr_assert_eq(recordio_feed(&r, "2\n{}", 4, collect, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.recs[1], "{}");
	recordio_fini(&r);
}

Test(recordio, header_encoding_round_trips)
{
	char hdr[32];
	size_t n = recordio_header(1234, hdr, sizeof hdr);
	cr_assert_eq(n, 5);
	cr_assert_str_eq(hdr, "1234\n");
}

/* A record handed over whole (recordio_take, the Mesos client's parser
 * thread): the taker owns the buffer, and the records after it are read
 * into new ones, split anywhere. */
struct taker {
	struct recordio *r;
	char *taken[4];
	size_t n;
};

static int take_all(void *arg, const char *rec, size_t len)
{
	struct taker *t = arg;
	cr_assert_lt(t->n, 4);
	char *b = recordio_take(t->r);
	cr_assert_eq(b, rec, "the buffer taken is the record's");
	cr_assert_eq(b[len], '\0');
	t->taken[t->n++] = b;
	return 0;
}

Test(recordio, a_taken_record_is_the_takers_and_the_next_goes_on)
{
	struct recordio r;
	recordio_init(&r, 1024);
	struct taker t = {.r = &r};
	size_t half = strlen(stream) / 2;
	cr_assert_eq(recordio_feed(&r, stream, half, take_all, &t), 0);
	cr_assert_eq(recordio_feed(&r, stream + half, strlen(stream) - half, take_all, &t), 0);
	cr_assert_eq(t.n, 3);
	cr_assert_str_eq(t.taken[0], "{\"type\":\"HEARTBEAT\"}");
	cr_assert_str_eq(t.taken[1], "{\"type\":\"RESCIND\",\"x\":1}");
	cr_assert_str_eq(t.taken[2], "{}");
	for (size_t i = 0; i < t.n; i++)
		recordio_free(t.taken[i]);
	recordio_fini(&r);
}

/* A big record (from 2 MiB) is read into a mapping of its own: it is whole,
 * can be taken, and recordio_free() gives it back (a free() of it would be
 * caught by ASan); a small one after it is on the heap again. */
Test(recordio, a_big_record_is_whole_and_freed_by_recordio_free)
{
	size_t big = (3u << 20) + 17;
	char *body = malloc(big);
	cr_assert_not_null(body);
	for (size_t i = 0; i < big; i++)
		body[i] = (char)('a' + i % 26);
	char hdr[32];
	size_t h = recordio_header(big, hdr, sizeof hdr);
	struct recordio r;
	recordio_init(&r, 8u << 20);
	struct taker t = {.r = &r};
	cr_assert_eq(recordio_feed(&r, hdr, h, take_all, &t), 0);
	for (size_t off = 0; off < big; off += 16384) {
		size_t n = big - off < 16384 ? big - off : 16384;
		cr_assert_eq(recordio_feed(&r, body + off, n, take_all, &t), 0);
	}
	cr_assert_eq(recordio_feed(&r, "2\n{}", 4, take_all, &t), 0);
	cr_assert_eq(t.n, 2);
	cr_assert_eq(memcmp(t.taken[0], body, big), 0, "the big record arrived whole");
	cr_assert_str_eq(t.taken[1], "{}");
	recordio_free(t.taken[0]);
	recordio_free(t.taken[1]);
	recordio_free(NULL);
	recordio_fini(&r);
	free(body);
}

static char *feed_big(struct recordio *r, struct taker *t, size_t big, char fill)
{
	char *body = malloc(big);
	cr_assert_not_null(body);
	memset(body, fill, big);
	body[0] = '{';
	char hdr[32];
	size_t h = recordio_header(big, hdr, sizeof hdr);
	size_t before = t->n;
	cr_assert_eq(recordio_feed(r, hdr, h, take_all, t), 0);
	cr_assert_eq(recordio_feed(r, body, big, take_all, t), 0);
	cr_assert_eq(t->n, before + 1);
	cr_assert_eq(memcmp(t->taken[before], body, big), 0);
	free(body);
	return t->taken[before];
}

/* The mapping of a big record, once freed, is kept for the next big one
 * of about the same size (its pages resident: no faults, no clearing) and
 * unmapped by the second recordio_trim() without a big record between. */
Test(recordio, a_big_records_mapping_is_kept_for_the_next_until_a_quiet_trim)
{
	while (recordio_trim(NULL)) /* nothing kept from another test */
		;
	struct recordio r;
	recordio_init(&r, 16u << 20);
	struct taker t = {.r = &r};
	char *first = feed_big(&r, &t, (3u << 20) + 5, 'a');
	recordio_free(first);
	size_t kept = 0;
	cr_assert(recordio_trim(&kept), "freed since the last trim: kept");
	cr_assert_geq(kept, 3u << 20, "what it holds resident: %zu", kept);
	char *second = feed_big(&r, &t, (3u << 20) + 999, 'b');
	cr_assert_eq(second, first, "the kept mapping is reused");
	recordio_free(second);
	cr_assert(recordio_trim(NULL), "used again since the last trim: kept");
	cr_assert_not(recordio_trim(&kept), "not used since: unmapped");
	cr_assert_eq(kept, 0);
	char *third = feed_big(&r, &t, (3u << 20) + 5, 'c');
	recordio_free(third);
	cr_assert_not(recordio_trim(NULL) && recordio_trim(NULL));
	recordio_fini(&r);
}
