/* Incremental decoder for Mesos's RecordIO framing on the SUBSCRIBE stream:
 * "<decimal byte count>\n<that many bytes>" repeated, with no separator.
 * HTTP chunks are unrelated to records, so bytes are fed as they arrive and
 * complete records come out through a callback.
 *
 * Bounded: a record longer than the decoder's cap, a length prefix that is
 * not 1..20 decimal digits followed by '\n', or a zero length puts the
 * decoder into a sticky error state (the stream must be dropped and
 * re-subscribed; there is no way to resynchronise inside a RecordIO stream).
 * Single-threaded; not reentrant from its own callback. */
#ifndef QM_RECORDIO_H
#define QM_RECORDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORDIO_DEFAULT_CAP (16u << 20)

struct recordio {
	size_t cap;        /* largest accepted record */
	uint64_t want;     /* length of the record being read, 0 = in header */
	char hdr[24];      /* digits of the length prefix seen so far */
	size_t hdrlen;
	char *buf;         /* record body being assembled */
	size_t len;
	int error;         /* sticky: 0 or a QM_E* code */
	char errmsg[96];
};

/* Called once per complete record. `rec` is valid only during the call and is
 * NUL-terminated at rec[len] for convenience. Return 0 to go on, non-zero to
 * stop: recordio_feed() then returns that value. */
typedef int (*recordio_cb)(void *arg, const char *rec, size_t len);

void recordio_init(struct recordio *r, size_t cap);
void recordio_fini(struct recordio *r);
/* Forget any partial record and clear the error (new stream). */
void recordio_reset(struct recordio *r);

/* From inside the callback: take the record's buffer (`rec`, len + 1 bytes,
 * to be freed with recordio_free(), on any thread); the decoder reads the
 * next record into a new one. For a record handed to another thread
 * without a copy. */
char *recordio_take(struct recordio *r);
/* Free a buffer recordio_take() gave (NULL: nothing). A big one's
 * mapping is kept for the next big record (warm.h). */
void recordio_free(char *rec);
/* Unmap the kept mapping of big records unless one was freed since the
 * last call (as jarena_trim); true when one is still kept, *kept (may be
 * NULL) its resident bytes. Thread-safe. */
bool recordio_trim(size_t *kept);

/* Feed bytes. Returns 0, a callback's non-zero value, or a QM_E* error
 * (QM_EPROTO bad prefix, QM_ETOOBIG record over cap); errors are sticky and
 * recordio_error() says why in words. */
int recordio_feed(struct recordio *r, const char *data, size_t len,
		  recordio_cb cb, void *arg);
const char *recordio_error(const struct recordio *r);

/* Encode one record header for `len` into out (>= 22 bytes); returns the
 * header length. Used by tests and the emulator-facing tools. */
size_t recordio_header(uint64_t len, char *out, size_t cap);

#endif
