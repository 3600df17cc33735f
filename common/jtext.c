#include "jtext.h"

#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jtext_need(struct jtext *t, size_t n)
{
	if (t->cap - t->len > n)
		return;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap - t->len <= n)
		cap *= 2;
	t->buf = qm_realloc(t->buf, cap);
	t->cap = cap;
}

void jtext_raw(struct jtext *t, const char *s, size_t n)
{
	jtext_need(t, n);
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

void jtext_ch(struct jtext *t, char c)
{
	jtext_need(t, 1);
	t->buf[t->len++] = c;
	t->buf[t->len] = '\0';
}

void jtext_str(struct jtext *t, const char *s)
{
	/* room for the worst case (every byte a \u00XX) at once: one
	 * check per string, not one per run of plain bytes */
	size_t n = strlen(s);
	jtext_need(t, 6 * n + 2);
	char *o = t->buf + t->len;
	*o++ = '"';
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 32 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			o += snprintf(o, 6, "u%04x", c);
		}
	}
	*o++ = '"';
	*o = '\0';
	t->len = (size_t)(o - t->buf);
}
