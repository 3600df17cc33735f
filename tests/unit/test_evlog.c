#include "shell/evlog.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(evlog, empty_and_null)
{
	struct evlog *l = evlog_new();
	cr_assert_eq(evlog_count(l), 0);
	cr_assert_null(evlog_get(l, 0));
	cr_assert_eq(evlog_count(NULL), 0);
	cr_assert_null(evlog_get(NULL, 0));
	evlog_add(NULL, 1, EVLOG_LAUNCH, "nothing %d", 1); /* no crash */
	evlog_free(l);
	evlog_free(NULL);
}

Test(evlog, newest_first_and_bounded)
{
	struct evlog *l = evlog_new();
	for (int i = 1; i <= EVLOG_MAX + 37; i++)
		evlog_add(l, 1000 + i, (enum evlog_kind)(i % EVLOG_KIND_COUNT), "event %d", i);
	cr_assert_eq(evlog_count(l), EVLOG_MAX);
	for (size_t i = 0; i < EVLOG_MAX; i++) {
		const struct evlog_entry *e = evlog_get(l, i);
		int want = EVLOG_MAX + 37 - (int)i;
		char text[32];
		snprintf(text, sizeof text, "event %d", want);
		cr_assert_str_eq(e->text, text);
		cr_assert_eq(e->seq, (uint64_t)want);
		cr_assert_eq(e->time_ms, 1000 + want);
		cr_assert_eq(e->kind, (enum evlog_kind)(want % EVLOG_KIND_COUNT));
	}
	cr_assert_null(evlog_get(l, EVLOG_MAX));
	evlog_free(l);
}

Test(evlog, text_capped_and_cleaned)
{
	struct evlog *l = evlog_new();
	char big[1000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	evlog_add(l, 1, EVLOG_HOTADD, "%s", big);
	const struct evlog_entry *e = evlog_get(l, 0);
	cr_assert_eq(strlen(e->text), EVLOG_TEXT_MAX);
	cr_assert_str_eq(e->text + EVLOG_TEXT_MAX - 3, "...");

	/* exactly the cap: kept whole */
	big[EVLOG_TEXT_MAX] = '\0';
	evlog_add(l, 2, EVLOG_HOTADD, "%s", big);
	cr_assert_str_eq(evlog_get(l, 0)->text, big);

	/* control bytes become '?'; markup is kept as text (the page escapes) */
	evlog_add(l, 3, EVLOG_DEVICE, "a\nb\tc\x7f<b>&");
	cr_assert_str_eq(evlog_get(l, 0)->text, "a?b?c?<b>&");

	/* a cut never splits a UTF-8 sequence: 2-byte characters across the cap */
	char utf[2 * EVLOG_TEXT_MAX + 1];
	size_t k = 0;
	utf[k++] = 'y'; /* odd offset: the cut falls inside a character */
	while (k + 2 < sizeof utf) {
		utf[k++] = (char)0xc3;
		utf[k++] = (char)0xa9; /* e acute */
	}
	utf[k] = '\0';
	evlog_add(l, 4, EVLOG_LEADER, "%s", utf);
	const char *t = evlog_get(l, 0)->text;
	size_t n = strlen(t);
	cr_assert_leq(n, EVLOG_TEXT_MAX);
	cr_assert_str_eq(t + n - 3, "...");
	cr_assert_neq((unsigned char)t[n - 4], 0xc3, "a lead byte without its continuation");
	evlog_free(l);
}

Test(evlog, kind_names)
{
	cr_assert_str_eq(evlog_kind_name(EVLOG_HOTADD), "hotadd");
	cr_assert_str_eq(evlog_kind_name(EVLOG_LAUNCH), "launch");
	cr_assert_str_eq(evlog_kind_name(EVLOG_RESERVATION), "reservation");
	cr_assert_str_eq(evlog_kind_name(EVLOG_KIND_COUNT), "unknown");
	for (int k = 0; k < EVLOG_KIND_COUNT; k++)
		cr_assert_str_neq(evlog_kind_name((enum evlog_kind)k), "unknown");
}
