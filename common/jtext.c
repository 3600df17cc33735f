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
	jtext_ch(t, '"');
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 32 && c != '"' && c != '\\') {
			const char *q = p;
			while (q[1] && (unsigned char)q[1] >= 32 && q[1] != '"' && q[1] != '\\')
				q++;
			jtext_raw(t, p, (size_t)(q - p) + 1);
			p = q;
			continue;
		}
		char esc[8];
		switch (c) {
		case '"': jtext_raw(t, "\\\"", 2); break;
		case '\\': jtext_raw(t, "\\\\", 2); break;
		case '\b': jtext_raw(t, "\\b", 2); break;
		case '\f': jtext_raw(t, "\\f", 2); break;
		case '\n': jtext_raw(t, "\\n", 2); break;
		case '\r': jtext_raw(t, "\\r", 2); break;
		case '\t': jtext_raw(t, "\\t", 2); break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", c);
			jtext_raw(t, esc, 6);
		}
	}
	jtext_ch(t, '"');
}
