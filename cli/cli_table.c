/* Aligned tables and server-string escaping (cli_table.h). */
#include "cli_table.h"

#include "qm_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_table {
	size_t ncols;
	char *headers[CLI_TABLE_COLS_MAX];
	char **cells; /* nrows * ncols, row-major */
	size_t nrows, cap;
};

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0
 * when the bytes there are not one (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points a terminal acts on or that reorder what is shown: C1
 * controls, line and paragraph separators, the bidirectional overrides and
 * isolates ("Trojan Source"). */
static bool unsafe_cp(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

char *cli_escape(const char *s, char *out, size_t cap)
{
	if (!cap)
		return out;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t k = 0, mark = 0;
	while (*p) {
		char unit[16];
		size_t ulen;
		uint32_t cp = 0;
		size_t n = utf8_seq(p, &cp);
		if (n == 0) {
			ulen = (size_t)snprintf(unit, sizeof unit, "\\x%02x", *p);
			n = 1;
		} else if (n == 1 && (cp < 0x20 || cp == 0x7f || cp == '\\')) {
			const char *named = cp == '\n'   ? "\\n"
					    : cp == '\t' ? "\\t"
					    : cp == '\r' ? "\\r"
					    : cp == '\\' ? "\\\\"
							 : NULL;
			ulen = named ? (size_t)snprintf(unit, sizeof unit, "%s", named)
				     : (size_t)snprintf(unit, sizeof unit, "\\x%02x", cp);
		} else if (unsafe_cp(cp)) {
			ulen = (size_t)snprintf(unit, sizeof unit, "\\u%04x", (unsigned)cp);
		} else {
			memcpy(unit, p, n);
			ulen = n;
		}
		/* the last unit boundary after which "..." still fits */
		if (k + 3 < cap)
			mark = k;
		if (k + ulen >= cap) {
			k = mark;
			if (k + 3 < cap) {
				memcpy(out + k, "...", 3);
				k += 3;
			}
			break;
		}
		memcpy(out + k, unit, ulen);
		k += ulen;
		p += n;
	}
	out[k] = '\0';
	return out;
}

size_t cli_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	if (ncols == 0 || ncols > CLI_TABLE_COLS_MAX)
		abort(); /* a programming error */
	struct cli_table *t = qm_calloc(1, sizeof *t);
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		t->headers[i] = qm_strdup(headers[i] ? headers[i] : "");
	return t;
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		free(t->headers[i]);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->cells = qm_realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
	}
	char buf[CLI_CELL_MAX];
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] =
			qm_strdup(cli_escape(cells[i], buf, sizeof buf));
	t->nrows++;
}

size_t cli_table_rows(const struct cli_table *t)
{
	return t->nrows;
}

static void print_row(const struct cli_table *t, char *const *row, const size_t *w, FILE *f)
{
	/* trailing empty cells would leave trailing blanks: stop before them */
	size_t last = t->ncols;
	while (last > 1 && !row[last - 1][0])
		last--;
	for (size_t i = 0; i < last; i++) {
		fputs(row[i], f);
		if (i + 1 < last)
			fprintf(f, "%*s", (int)(w[i] - cli_width(row[i]) + 2), "");
	}
	fputc('\n', f);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t w[CLI_TABLE_COLS_MAX];
	for (size_t i = 0; i < t->ncols; i++) {
		w[i] = cli_width(t->headers[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = cli_width(t->cells[r * t->ncols + i]);
			if (cw > w[i])
				w[i] = cw;
		}
	}
	print_row(t, t->headers, w, f);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, t->cells + r * t->ncols, w, f);
}
