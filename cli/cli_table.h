/* Aligned text tables for the operator CLI (quobyte-mesos), and the one
 * rule for printing a string that came from the server: every control
 * character (C0, DEL, and the C1 range as UTF-8) and every byte that is not
 * valid UTF-8 is written as an escape (\n, \t, \xNN, \u0085), so a marker,
 * a hostname or a master's message can neither move the cursor nor forge a
 * line. Other UTF-8 passes as-is. No I/O but cli_table_print().
 * Out of memory: abort (qm_oom), as everywhere in this tree. */
#ifndef QM_CLI_TABLE_H
#define QM_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define CLI_TABLE_COLS_MAX 16
#define CLI_CELL_MAX       4096 /* bytes of one escaped cell; longer ones end in "..." */

struct cli_table;

/* A table with ncols (1..CLI_TABLE_COLS_MAX) columns under these headers
 * (copied). Never NULL. Free with cli_table_free(). */
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_free(struct cli_table *t);

/* Append a row of ncols cells (copied and escaped); a NULL cell is empty. */
void cli_table_add(struct cli_table *t, const char *const *cells);
size_t cli_table_rows(const struct cli_table *t);

/* The table to f: headers, then rows, columns separated by two blanks and
 * padded to the widest cell (counted in characters, not bytes); the last
 * column is not padded, so no line ends in blanks. */
void cli_table_print(const struct cli_table *t, FILE *f);

/* s escaped as described above into out (cap bytes, always terminated
 * when cap > 0); a result that does not fit ends in "..." Returns out. */
char *cli_escape(const char *s, char *out, size_t cap);

/* Characters (UTF-8 code points) of an escaped string: its column width. */
size_t cli_width(const char *s);

#endif
