/* common/jtext: strings come out exactly as cJSON prints them, and what is
 * written is always terminated. */
#include "jtext.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(jtext, strings_are_escaped_as_cjson_prints_them)
{
	const char *cases[] = {"", "plain", "quote\"d", "back\\slash", "tab\tnew\nline\r",
			       "\b\f\x01\x1f", "caf\xc3\xa9 \xe2\x82\xac", "a\"\\\"b"};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct jtext t = {0};
		jtext_str(&t, cases[i]);
		cJSON *s = cJSON_CreateString(cases[i]);
		char *want = cJSON_PrintUnformatted(s);
		cr_assert_str_eq(t.buf, want, "case %zu", i);
		cr_assert_eq(t.len, strlen(want));
		free(want);
		cJSON_Delete(s);
		free(t.buf);
	}
}

Test(jtext, a_long_text_grows_and_stays_terminated)
{
	struct jtext t = {0};
	jtext_ch(&t, '[');
	for (int i = 0; i < 5000; i++) {
		jtext_raw(&t, i ? ",{\"value\":" : "{\"value\":", i ? 10 : 9);
		jtext_str(&t, "O-1\"2");
		jtext_ch(&t, '}');
	}
	jtext_ch(&t, ']');
	cr_assert_eq(strlen(t.buf), t.len);
	cJSON *j = cJSON_Parse(t.buf);
	cr_assert_not_null(j);
	cr_assert_eq(cJSON_GetArraySize(j), 5000);
	cr_assert_str_eq(cJSON_GetArrayItem(j, 4999)->child->valuestring, "O-1\"2");
	cJSON_Delete(j);
	free(t.buf);
}

/* A string that is all escapes (six bytes each) fits the room reserved
 * for it, also when the buffer was nearly full (ASan sees an overrun). */
Test(jtext, a_string_of_escapes_only_fits)
{
	char s[301];
	memset(s, 0x01, 300);
	s[300] = '\0';
	for (size_t pre = 4090; pre < 4100; pre++) {
		struct jtext t = {0};
		for (size_t i = 0; i < pre; i++)
			jtext_ch(&t, 'x');
		jtext_str(&t, s);
		cr_assert_eq(t.len, pre + 2 + 6 * 300);
		cr_assert_eq(strlen(t.buf), t.len);
		cr_assert_str_eq(t.buf + t.len - 7, "\\u0001\"");
		free(t.buf);
	}
}
