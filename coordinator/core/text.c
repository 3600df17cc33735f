#include "core/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool text_has_ctrl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

bool text_ok(const char *s, size_t max)
{
	if (!s || !*s)
		return false;
	size_t n = strnlen(s, max + 1);
	return n <= max && !text_has_ctrl(s);
}

bool text_is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool text_is_alnum(char c)
{
	return text_is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

void text_fmt_milli(int64_t m, char *buf, size_t cap)
{
	const char *sign = m < 0 ? "-" : "";
	uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	uint64_t ip = a / 1000, fp = a % 1000;
	if (fp == 0)
		snprintf(buf, cap, "%s%" PRIu64, sign, ip);
	else if (fp % 100 == 0)
		snprintf(buf, cap, "%s%" PRIu64 ".%" PRIu64, sign, ip, fp / 100);
	else if (fp % 10 == 0)
		snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, sign, ip, fp / 10);
	else
		snprintf(buf, cap, "%s%" PRIu64 ".%03" PRIu64, sign, ip, fp);
}

bool text_is_set(const char *s)
{
	return s && *s;
}

void text_scrub(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

bool text_vline(char *buf, size_t cap, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, cap, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		return false;
	}
	if ((size_t)n >= cap)
		memcpy(buf + cap - 4, "...", 4);
	text_scrub(buf);
	return true;
}

bool text_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}
