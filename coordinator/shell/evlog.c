/* The event ring (shell/evlog.h): a fixed array used as a circular buffer. */
#include "shell/evlog.h"

#include "qm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evlog {
	struct evlog_entry v[EVLOG_MAX];
	size_t next; /* slot the next entry goes to */
	size_t n;    /* entries held */
	uint64_t seq;
};

static const char *const kind_names[EVLOG_KIND_COUNT] = {
	[EVLOG_HOTADD] = "hotadd", [EVLOG_DEVICE] = "device",   [EVLOG_LAUNCH] = "launch",
	[EVLOG_KILL] = "kill",     [EVLOG_FAILURE] = "failure", [EVLOG_LEADER] = "leader",
	[EVLOG_MASTER] = "master", [EVLOG_ROLLOUT] = "rollout", [EVLOG_RESERVATION] = "reservation",
};

struct evlog *evlog_new(void)
{
	struct evlog *l = qm_malloc(sizeof *l);
	memset(l, 0, sizeof *l);
	return l;
}

void evlog_free(struct evlog *l)
{
	free(l);
}

void evlog_add(struct evlog *l, int64_t now_ms, enum evlog_kind kind, const char *fmt, ...)
{
	if (!l)
		return;
	struct evlog_entry *e = &l->v[l->next];
	/* one byte more than kept tells whether the text was cut */
	char buf[EVLOG_TEXT_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0, buf[0] = '\0';
	size_t len = strlen(buf);
	if ((size_t)n > EVLOG_TEXT_MAX) {
		/* cut before "...", not inside a UTF-8 sequence (a hostname may
		 * hold one): back up over continuation bytes to a lead byte */
		len = EVLOG_TEXT_MAX - 3;
		while (len > 0 && ((unsigned char)buf[len] & 0xc0) == 0x80)
			len--;
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];
		e->text[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	e->text[len] = '\0';
	e->seq = ++l->seq;
	e->time_ms = now_ms;
	e->kind = kind;
	l->next = (l->next + 1) % EVLOG_MAX;
	if (l->n < EVLOG_MAX)
		l->n++;
}

size_t evlog_count(const struct evlog *l)
{
	return l ? l->n : 0;
}

const struct evlog_entry *evlog_get(const struct evlog *l, size_t i)
{
	if (!l || i >= l->n)
		return NULL;
	return &l->v[(l->next + EVLOG_MAX - 1 - i) % EVLOG_MAX];
}

const char *evlog_kind_name(enum evlog_kind kind)
{
	return (unsigned)kind < EVLOG_KIND_COUNT ? kind_names[kind] : "unknown";
}
