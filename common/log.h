/* Logging: one line per event on stderr, "level=<l> event=<name> k=v ...".
 * Thread-safe (one write(2) per line). Values that come from outside (paths,
 * hostnames, marker contents) go through log_q() so a line stays one line
 * and parses as key=value. */
#ifndef QM_LOG_H
#define QM_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set the minimum level printed (default LOG_INFO). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);

/* Parse "debug|info|warn|error"; 0 or QM_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Emit one line: "level=<lvl> event=<event>" then, if fmt is non-NULL, a
 * space and the formatted key=value text. Lines longer than 4 KiB are cut
 * and end in "...". */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_event(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)

/* Quote s for a log value into buf: returned unchanged (copied) when it holds
 * only safe characters, else in double quotes with \" \\ and \xNN escapes.
 * Truncates to fit cap. Returns buf. */
const char *log_q(char *buf, size_t cap, const char *s);

/* Convenience: quote into one of a small ring of thread-local buffers, so
 * several log_qs() may appear in one log_event() call (up to 8). Each result
 * is at most 512 bytes. */
const char *log_qs(const char *s);

#endif
