/* Small text predicates and formatters shared inside core/ (validators,
 * offers, task builders, planner). Internal to core/; not part of any public
 * header. All pure and reentrant; none allocates. */
#ifndef QM_CORE_TEXT_H
#define QM_CORE_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s is neither NULL nor "" (an optional setting that is set). */
bool text_is_set(const char *s);
/* s holds a byte < 0x20 or 0x7f. */
bool text_has_ctrl(const char *s);
/* Text without control characters, 1..max bytes; false for NULL. */
bool text_ok(const char *s, size_t max);
/* Replace every control character of s by '?', so that text from outside
 * stays one line in logs and problem lines. */
void text_scrub(char *s);
/* vsnprintf into buf (cap >= 4) as one line: control characters scrubbed,
 * and "..." at the end when the text was cut. false (buf "") when the
 * format fails. */
bool text_vline(char *buf, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* ASCII classes, independent of the locale. */
bool text_is_lower_alnum(char c);           /* [a-z0-9] */
bool text_is_alnum(char c);                 /* [A-Za-z0-9] */
bool text_is_hex(char c);                   /* [0-9a-fA-F] */

/* Milli-units as the shortest decimal into buf (cap bytes, terminated):
 * 1500 -> "1.5", 2000 -> "2", -250 -> "-0.25". */
void text_fmt_milli(int64_t m, char *buf, size_t cap);

#endif
