/* The Quobyte device marker: QUOBYTE_DEV_SETUP at the root of a device,
 * QUOBYTE_DEV_ID beside it once a service registered the device, and the
 * legacy marker directories quobyte-dir/-metadata/-data.
 * See shared/docs/quobyte-devices.md for the format as seen in the wild.
 *
 * Parsing rules (what an operator can rely on):
 *  - one key=value per line, split at the first '='; blank lines and lines
 *    starting with '#' (after optional leading blanks) are comments (there
 *    are no comments after a value); CRLF and LF both end a line, a CR
 *    anywhere else in a line is an error; spaces and tabs around key and
 *    value are trimmed; a leading UTF-8 byte order mark is skipped;
 *  - keys are case-sensitive; unknown keys are ignored (counted in
 *    unknown_keys);
 *  - device.type lines form a set; values DIR_DEVICE/REGISTRY,
 *    METADATA_DEVICE/METADATA, DATA_DEVICE/DATA, any case; an unknown value
 *    is an error naming the line; no type at all is valid ("marked, no
 *    type");
 *  - device.serial / device.model repeated with the same value are fine,
 *    with different values an error (ambiguous identity);
 *  - device.bootstrap accepts true/false (any case); contradicting
 *    bootstrap lines are an error (a wrong bootstrap splits a cluster);
 *  - a non-comment line without '=', or with an empty key, is an error
 *    naming the line;
 *  - NUL bytes or other control characters than \t \r \n (DEL included):
 *    binary, error (checked over the whole file first);
 *  - more than MARKER_MAX_BYTES: error, the file is not read further.
 * All string fields are NUL-terminated and fit their arrays (longer values
 * are an error, never silently cut). */
#ifndef QM_MARKER_H
#define QM_MARKER_H

#include <stdbool.h>
#include <stddef.h>

#define MARKER_FILE "QUOBYTE_DEV_SETUP"
#define MARKER_ID_FILE "QUOBYTE_DEV_ID"
#define MARKER_MAX_BYTES (64 * 1024)
#define MARKER_VALUE_MAX 256

enum marker_type {
	MARKER_REGISTRY = 1u << 0, /* DIR_DEVICE */
	MARKER_METADATA = 1u << 1, /* METADATA_DEVICE */
	MARKER_DATA = 1u << 2      /* DATA_DEVICE */
};

struct marker {
	unsigned types;                   /* set of enum marker_type bits */
	char serial[MARKER_VALUE_MAX];    /* "" when absent */
	char model[MARKER_VALUE_MAX];
	bool bootstrap;
	unsigned unknown_keys;
	char error[MARKER_VALUE_MAX];     /* "" when valid, else the reason */
};

/* Parse a marker held in memory (buf need not be NUL-terminated). Always
 * fills *m (zeroed first). Returns 0, or QM_EINVAL / QM_EBINARY /
 * QM_ETOOBIG with m->error saying why, e.g.
 * "line 4: unknown device.type 'DATTA'"; on error every other field is
 * cleared, so nothing half-parsed can be acted on. Pure: no I/O. */
int marker_parse(const char *buf, size_t len, struct marker *m);

/* Read and parse MARKER_FILE in the directory dirfd. Looks with fstatat
 * first and opens only regular files (a FIFO cannot block, a device node is
 * never opened), read-only with O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC, checks
 * again with fstat, and reads at most MARKER_MAX_BYTES + 1 bytes (a larger
 * st_size is refused before reading). Returns QM_ENOENT when there is no
 * marker (m->error empty), 0 when valid, QM_EIO when it cannot be read as
 * a regular file ("cannot read marker: Permission denied", "... it is a
 * directory", "... it is a symbolic link (not followed)", "... it is a
 * FIFO"), QM_ETOOBIG ("marker larger than 65536 bytes"), or a parse error
 * as marker_parse. Blocks only on file system I/O. */
int marker_read(int dirfd, struct marker *m);

/* Read QUOBYTE_DEV_ID's device.id from dirfd into id (cap bytes), opened
 * like marker_read and parsed with the same line rules (comments, CRLF,
 * other keys ignored). Returns 0, QM_ENOENT when absent, QM_EINVAL when
 * present but without exactly one valid device.id (digits only, fitting
 * cap; repeats must agree; a line without '=' or binary content fails
 * too), QM_EIO when not readable as a regular file, QM_ETOOBIG above
 * MARKER_MAX_BYTES. id is "" whenever the result is not 0. */
int marker_read_id(int dirfd, char *id, size_t cap);

/* Legacy marker directories at dirfd: returns the set of types found
 * (quobyte-dir = registry, quobyte-metadata, quobyte-data); 0 = none. Only
 * real directories count (fstatat with AT_SYMLINK_NOFOLLOW). */
unsigned marker_legacy_types(int dirfd);

/* "DIR_DEVICE" etc. for one bit; "?" otherwise. */
const char *marker_type_name(unsigned bit);

/* "registry" / "metadata" / "data" for one bit; "?" otherwise. */
const char *marker_service_name(unsigned bit);

#endif
