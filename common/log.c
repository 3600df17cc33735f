#include "log.h"

#include "qm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl) { min_level = lvl; }
enum log_level log_get_level(void) { return min_level; }

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return QM_EINVAL;
}

void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
	if (lvl < min_level)
		return;
	char line[4096];
	size_t cap = sizeof line - 1; /* room for '\n' */
	int n = snprintf(line, cap, "level=%s event=%s",
			 level_names[lvl <= LOG_ERROR ? lvl : LOG_ERROR], event);
	size_t len = n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
	if (fmt && len + 1 < cap) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		n = vsnprintf(line + len, cap - len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n >= cap - len) {
			len = cap - 1;
			memcpy(line + len - 3, "...", 3);
		} else if (n > 0) {
			len += (size_t)n;
		}
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

static int safe_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *log_q(char *buf, size_t cap, const char *s)
{
	if (cap == 0)
		return "";
	if (!s)
		s = "";
	int plain = *s != '\0';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (!safe_char(*p)) {
			plain = 0;
			break;
		}
	size_t o = 0;
	if (plain) {
		snprintf(buf, cap, "%s", s);
		return buf;
	}
	if (cap < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[5];
		size_t tl;
		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			tl = 2;
		} else if (*p < 0x20 || *p >= 0x7f) {
			snprintf(tmp, sizeof tmp, "\\x%02x", *p);
			tl = 4;
		} else {
			tmp[0] = (char)*p;
			tl = 1;
		}
		if (o + tl + 2 > cap)
			break;
		memcpy(buf + o, tmp, tl);
		o += tl;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *log_qs(const char *s)
{
	static _Thread_local char ring[8][512];
	static _Thread_local unsigned next;
	char *b = ring[next++ % 8];
	return log_q(b, sizeof ring[0], s);
}
