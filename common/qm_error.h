/* Project-wide error codes. Functions that can fail return int: 0 on
 * success or one of these negative values; qm_strerror() names it.
 * Out-of-memory policy (written down once, followed everywhere): the daemons
 * abort with a message through qm_oom(); allocation helpers below never
 * return NULL. */
#ifndef QM_ERROR_H
#define QM_ERROR_H

#include <stddef.h>

enum qm_err {
	QM_OK = 0,
	QM_EINVAL = -1,    /* invalid argument or malformed input */
	QM_ETOOBIG = -2,   /* input larger than its cap */
	QM_EIO = -3,       /* an OS call failed; errno-derived detail logged */
	QM_EPROTO = -4,    /* bus/protocol violation (bad frame, bad proto) */
	QM_EAUTH = -5,     /* authentication failed */
	QM_EVERSION = -6,  /* unsupported protocol version */
	QM_ENOENT = -7,    /* not found */
	QM_EBINARY = -8,   /* binary (non-text) content where text is needed */
	QM_EAGAIN = -9,    /* try again later (would block) */
	QM_ECLOSED = -10,  /* peer or object closed */
	QM_ECORRUPT = -11, /* stored data corrupt or truncated */
	QM_ECONFLICT = -12, /* concurrent modification (stale version) */
	QM_ETIMEDOUT = -13  /* no answer within a bounded wait */
};

/* Static string for an error code; never NULL. */
const char *qm_strerror(int err);

/* Abort with a message: the project's out-of-memory policy. */
_Noreturn void qm_oom(void);

/* Allocation wrappers that call qm_oom() instead of returning NULL. */
void *qm_malloc(size_t n);
void *qm_calloc(size_t nmemb, size_t size);
void *qm_realloc(void *p, size_t n);
char *qm_strdup(const char *s);
/* qm_strdup of s, or NULL for NULL. */
char *qm_strdup_or_null(const char *s);
/* qm_malloc for a big block about to be filled at once (a copy of the
 * whole state): from 2 MiB its pages are asked for in 2 MiB huge pages
 * (THP "madvise" mode, Debian's default), so filling it faults a few
 * times instead of once per 4 KiB. On this VM, where each fault traps,
 * copying 10,000 tasks' state for a compaction took 14-52 ms on the
 * loop (offer_cycle.py --agents 10000, a timer around bg_start). Freed
 * with free(). */
void *qm_malloc_big(size_t n);
char *qm_strndup(const char *s, size_t n);

/* Makes every cJSON allocation follow the same policy (qm_malloc), so the
 * cJSON_Create and cJSON_Add calls need no check; cJSON_Parse still
 * returns NULL for malformed input. Process-wide: call once at start, in
 * main, before any thread uses cJSON. */
void qm_cjson_policy(void);

/* Write a printf-style message into err (errlen bytes, always terminated;
 * nothing when err is NULL or errlen 0) and return code: the one way
 * functions with an (err, errlen) pair fail. */
int qm_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
