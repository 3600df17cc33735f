/* cli_table: aligned columns and the escaping of strings from the server
 * (control characters, invalid UTF-8, bidi overrides, truncation). */
#include "cli_table.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table as text (owned by the caller). */
static char *render(const struct cli_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	cli_table_print(t, f);
	fclose(f);
	return buf;
}

Test(cli_table, aligns_columns_without_trailing_blanks)
{
	const char *hdr[] = {"NODE", "SERVICE", "STATE"};
	struct cli_table *t = cli_table_new(3, hdr);
	const char *r1[] = {"agent1", "registry", "TASK_RUNNING"};
	const char *r2[] = {"a-much-longer-node", "data", ""};
	cli_table_add(t, r1);
	cli_table_add(t, r2);
	cr_assert_eq(cli_table_rows(t), 2);
	char *out = render(t);
	cr_assert_str_eq(out, "NODE                SERVICE   STATE\n"
			      "agent1              registry  TASK_RUNNING\n"
			      "a-much-longer-node  data\n");
	free(out);
	cli_table_free(t);
}

Test(cli_table, null_cells_are_empty_and_utf8_counts_characters)
{
	const char *hdr[] = {"A", "B"};
	struct cli_table *t = cli_table_new(2, hdr);
	const char *r1[] = {"gr\xc3\xbc\xc3\x9f", "x"}; /* "grüß": 4 characters, 6 bytes */
	const char *r2[] = {NULL, "y"};
	cli_table_add(t, r1);
	cli_table_add(t, r2);
	char *out = render(t);
	cr_assert_str_eq(out, "A     B\n"
			      "gr\xc3\xbc\xc3\x9f  x\n"
			      "      y\n");
	free(out);
	cli_table_free(t);
}

Test(cli_table, escapes_cells)
{
	const char *hdr[] = {"HOST", "X"};
	struct cli_table *t = cli_table_new(2, hdr);
	const char *r1[] = {"evil\x1b[2J\nhost", "1"};
	cli_table_add(t, r1);
	char *out = render(t);
	cr_assert_str_eq(out, "HOST               X\n"
			      "evil\\x1b[2J\\nhost  1\n");
	free(out);
	cli_table_free(t);
}

Test(cli_escape, control_characters)
{
	char b[128];
	cr_assert_str_eq(cli_escape("a\tb\rc\nd\x7f"
				    "e\x01",
				    b, sizeof b),
			 "a\\tb\\rc\\nd\\x7fe\\x01");
	cr_assert_str_eq(cli_escape("back\\slash", b, sizeof b), "back\\\\slash");
	cr_assert_str_eq(cli_escape(NULL, b, sizeof b), "");
	cr_assert_str_eq(cli_escape("plain /dev/sdb1 3.0.1", b, sizeof b), "plain /dev/sdb1 3.0.1");
}

Test(cli_escape, utf8_kept_invalid_and_dangerous_escaped)
{
	char b[128];
	/* valid UTF-8 passes */
	cr_assert_str_eq(cli_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe", b, sizeof b),
			 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe");
	/* a lone continuation byte, an overlong '/', a truncated sequence */
	cr_assert_str_eq(cli_escape("a\x80"
				    "b",
				    b, sizeof b),
			 "a\\x80b");
	cr_assert_str_eq(cli_escape("\xc0\xaf", b, sizeof b), "\\xc0\\xaf");
	cr_assert_str_eq(cli_escape("x\xe2\x82", b, sizeof b), "x\\xe2\\x82");
	/* a surrogate encoded in UTF-8 */
	cr_assert_str_eq(cli_escape("\xed\xa0\x80", b, sizeof b), "\\xed\\xa0\\x80");
	/* C1 NEL, the right-to-left override, the line separator */
	cr_assert_str_eq(cli_escape("\xc2\x85|\xe2\x80\xae|\xe2\x80\xa8", b, sizeof b),
			 "\\u0085|\\u202e|\\u2028");
}

Test(cli_escape, truncates_on_whole_units)
{
	char b[10];
	cr_assert_str_eq(cli_escape("123456789", b, sizeof b), "123456789");
	cr_assert_str_eq(cli_escape("1234567890", b, sizeof b), "123456...");
	/* an escape is never cut in half */
	cr_assert_str_eq(cli_escape("12345\n7890", b, sizeof b), "12345...");
	char one[1];
	cr_assert_str_eq(cli_escape("abc", one, sizeof one), "");
	cr_assert_eq(cli_width("\xc3\xa9t\xc3\xa9"), 3);
}
