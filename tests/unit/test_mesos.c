/* The pure parts of the Mesos client: which capabilities each release is
 * sent, release comparison, which refusals are terminal, and its URLs
 * (where a 307 sends us, which master an endpoint names). The client's
 * network behaviour is covered end to end (tests/e2e) against the emulator's
 * release profiles. */
#include "mesos/mesos.h"
#include "mesos/url.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static bool has(const char **names, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], want) == 0)
			return true;
	return false;
}

Test(mesos, version_cmp)
{
	cr_assert_eq(mesos_version_cmp("1.4.0", "1.4.0"), 0);
	cr_assert_lt(mesos_version_cmp("1.4.0", "1.10.0"), 0, "numeric, not lexical");
	cr_assert_gt(mesos_version_cmp("1.11.0", "1.9.2"), 0);
	cr_assert_lt(mesos_version_cmp("1.3.2", MESOS_OLDEST_SUPPORTED), 0);
	cr_assert_eq(mesos_version_cmp("1.4", "1.4.0"), 0, "a missing part counts 0");
	cr_assert_gt(mesos_version_cmp("1.6.0-rc1", "1.5.9"), 0);
	cr_assert_eq(mesos_version_cmp("x", "0.0.0"), 0, "unparsable counts 0");
}

/* include/mesos/v1/mesos.proto, FrameworkInfo.Capability at each tag:
 * TASK_KILLING_STATE 1.0.0, PARTITION_AWARE 1.1.0, MULTI_ROLE 1.2.0,
 * RESERVATION_REFINEMENT 1.4.0. */
Test(mesos, capabilities_per_release)
{
	const char *names[8];
	size_t n = mesos_capabilities_for("1.1.0", names, 8);
	cr_assert_eq(n, 2);
	cr_assert(has(names, n, "PARTITION_AWARE") && has(names, n, "TASK_KILLING_STATE"));
	cr_assert_not(has(names, n, "MULTI_ROLE"));

	n = mesos_capabilities_for("1.3.1", names, 8);
	cr_assert_eq(n, 3);
	cr_assert_not(has(names, n, "RESERVATION_REFINEMENT"));

	for (const char *const *v = (const char *const[]){"1.4.0", "1.6.2", "1.11.0", NULL}; *v;
	     v++) {
		n = mesos_capabilities_for(*v, names, 8);
		cr_assert_eq(n, 4, "%s", *v);
		cr_assert(has(names, n, "RESERVATION_REFINEMENT"), "%s", *v);
		cr_assert(has(names, n, "MULTI_ROLE"), "%s", *v);
	}
}

Test(mesos, unknown_release_gets_the_oldest_supported_set)
{
	const char *a[8], *b[8];
	size_t na = mesos_capabilities_for(NULL, a, 8);
	size_t nb = mesos_capabilities_for(MESOS_OLDEST_SUPPORTED, b, 8);
	cr_assert_eq(na, nb);
	cr_assert_eq(mesos_capabilities_for("", a, 8), nb);
	cr_assert_eq(mesos_capabilities_for("1.11.0", a, 2), 2, "capped");
}

/* Wording of src/master/master.cpp (1.4.0 and 1.11.0). */
Test(mesos, terminal_refusals)
{
	static const char *const terminal[] = {
		"Framework has been removed",
		"Roles { quobyte } are not present in the master's --roles",
		"Roles { quobyte } are not present in master's --roles",
		"User 'root' is not allowed to run frameworks without --root_submissions set",
		"Not authorized to register framework with principal 'p' and role 'quobyte'",
		"Not authorized to use roles 'quobyte'",
		"Suppressed role 'x' is not contained in the list of roles",
		"The framework failover_timeout (-1) is invalid",
		"SUBSCRIBE answered 400: Failed to convert JSON into Call protobuf: Not expecting "
		"a JSON string for field 'nanoseconds'",
	};
	for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++) {
		char remedy[320] = "";
		cr_assert(mesos_refusal_remedy(terminal[i], remedy, sizeof remedy), "%s",
			  terminal[i]);
		cr_assert_gt(strlen(remedy), 20, "a way out is named for '%s'", terminal[i]);
	}
	char remedy[320];
	cr_assert(mesos_refusal_remedy("Framework has been removed", remedy, sizeof remedy));
	cr_assert_not_null(strstr(remedy, "/v1/framework/reset"));

	static const char *const transient[] = {
		"Framework failed over",
		"Authorization failure: could not create ObjectApprovers for a framework: timeout",
		"Re-authentication in progress",
		"Framework disconnected",
		"",
	};
	for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
		char r[320] = "";
		cr_assert_not(mesos_refusal_remedy(transient[i], r, sizeof r), "%s", transient[i]);
	}
}

static void redirect_is(const char *leader, const char *loc, const char *want)
{
	char *got = mesos_url_redirect(leader, loc, "/api/v1/scheduler");
	if (!want)
		cr_assert_null(got, "%s + %s: unusable, got %s", leader, loc, got);
	else
		cr_assert(got && strcmp(got, want) == 0, "%s + %s: want %s, got %s", leader, loc,
			  want, got ? got : "NULL");
	free(got);
}

/* src/master/http.cpp redirect() (1.4.0 ... 1.11.0): "//" + hostname + ":"
 * + port + the request's path, protocol-relative. */
Test(mesos, redirect_targets)
{
	redirect_is("http://m1:5050", "//m2:5050/api/v1/scheduler",
		    "http://m2:5050/api/v1/scheduler");
	redirect_is("https://m1:5050", "//m2:5051/master/api/v1/scheduler",
		    "https://m2:5051/master/api/v1/scheduler");
	redirect_is("http://m1:5050", "https://m2:5050/api/v1/scheduler",
		    "https://m2:5050/api/v1/scheduler");
	redirect_is("https://m1:5050", "http://m2:5050/x", "http://m2:5050/x");
	/* /redirect's answer: no path, so the scheduler's */
	redirect_is("http://m1:5050", "//m2:5050", "http://m2:5050/api/v1/scheduler");
	redirect_is("http://m1:5050", "//10.0.0.2:5050", "http://10.0.0.2:5050/api/v1/scheduler");
	redirect_is("http://m1:5050", "//m2:5050/a b", "http://m2:5050/api/v1/scheduler");
	redirect_is("http://[::1]:5050", "//[fe80::1]:5050/api/v1/scheduler",
		    "http://[fe80::1]:5050/api/v1/scheduler");
	/* unusable */
	redirect_is("http://m1:5050", "", NULL);
	redirect_is("http://m1:5050", "/api/v1/scheduler", NULL);
	redirect_is("http://m1:5050", "api/v1/scheduler", NULL);
	redirect_is("http://m1:5050", "ftp://m2/x", NULL);
	redirect_is("http://m1:5050", "//user:pw@m2:5050/x", NULL);
	redirect_is("http://m1:5050", "//m2_x:5050/x", NULL);
	redirect_is("http://m1:5050", "//m2:notaport/x", NULL);
	/* fuzz_mesos_url: a protocol-relative Location keeps the leader's
	 * scheme, so only an http(s) leader yields a usable target */
	redirect_is("Ftp:/%5", "//v/v", NULL);
	redirect_is("ftp://m1:21", "//m2:5050/api/v1/scheduler", NULL);
}

Test(mesos, url_with_path_and_same_master)
{
	char *e = mesos_url_with_path("http://m1:5050", "/api/v1/scheduler");
	cr_assert_str_eq(e, "http://m1:5050/api/v1/scheduler");
	free(e);
	e = mesos_url_with_path("https://[::1]:5443", "/version");
	cr_assert_str_eq(e, "https://[::1]:5443/version");
	free(e);
	cr_assert(mesos_url_same_master("http://m1:5050/api/v1/scheduler", "http://m1:5050"));
	cr_assert(mesos_url_same_master("http://M1:80/x", "http://m1"), "default port, any case");
	cr_assert_not(mesos_url_same_master("https://m1:5050/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("http://m1:5051/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("http://m2:5050/x", "http://m1:5050"));
	cr_assert_not(mesos_url_same_master(NULL, "http://m1:5050"));
	cr_assert_not(mesos_url_same_master("", "http://m1:5050"));
}

/* Mesos's validateID (src/common/validation.cpp, 1.4.0 and 1.11.0). */
Test(mesos, id_valid)
{
	char longest[257];
	memset(longest, 'a', 255);
	longest[255] = '\0';
	cr_expect(mesos_id_valid("2d3f6a1e-0000-4000-8000-000000000001-0000"));
	cr_expect(mesos_id_valid(longest));
	longest[255] = 'a';
	longest[256] = '\0';
	cr_expect(!mesos_id_valid(longest), "256 bytes");
	cr_expect(!mesos_id_valid(""));
	cr_expect(!mesos_id_valid(NULL));
	cr_expect(!mesos_id_valid("."));
	cr_expect(!mesos_id_valid(".."));
	cr_expect(mesos_id_valid("..."));
	cr_expect(!mesos_id_valid("a/b"));
	cr_expect(!mesos_id_valid("a\\b"));
	cr_expect(!mesos_id_valid("000000\x10" "0-0000"), "control character");
	cr_expect(!mesos_id_valid("a\x7f"));
}

/* A SUBSCRIBED whose framework id the store could not keep is refused by
 * the client (found by fuzz_events: tests/fuzz/seeds/events/
 * regress-subscribed-ctrl-framework-id.rio; the id was saved and the
 * coordinator could not read its own state back). */
Test(mesos, subscribed_framework_id)
{
	const char *good = "{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
			   "{\"value\":\"fw-0000\"},\"heartbeat_interval_seconds\":15}}";
	const char *bad[] = {
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":"
		"{\"value\":\"000000\\u00100-0000\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"a/b\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":\"\"}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{\"framework_id\":{\"value\":7}}}",
		"{\"type\":\"SUBSCRIBED\",\"subscribed\":{}}",
		"{\"type\":\"SUBSCRIBED\"}",
	};
	cJSON *ev = cJSON_Parse(good);
	cr_assert_not_null(ev);
	cr_expect_str_eq(mesos_subscribed_framework_id(ev), "fw-0000");
	cJSON_Delete(ev);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ev = cJSON_Parse(bad[i]);
		cr_assert_not_null(ev, "%s", bad[i]);
		cr_expect_null(mesos_subscribed_framework_id(ev), "%s", bad[i]);
		cJSON_Delete(ev);
	}
	cr_expect_null(mesos_subscribed_framework_id(NULL));
}
