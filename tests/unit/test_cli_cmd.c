/* cli_cmd: which command lines are accepted, and the request each one
 * makes (method, URL-encoded path, body). */
#include "cli_args.h"
#include "cli_cmd.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define ARGV(...) ((char *[]){"quobyte-mesos", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"quobyte-mesos", __VA_ARGS__}) / sizeof(char *)))

/* Parse and check; returns the check's result, err filled. */
static int check(int argc, char **argv, struct cli_args *a, char *err, size_t len)
{
	cr_assert_eq(cli_args_parse(argc, argv, a, err, len), 0, "%s", err);
	return cli_cmd_check(a, err, len);
}
#define CHECK(a, err, ...) check(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a, err, sizeof err)

static void expect_request(int argc, char **argv, const char *method, const char *path,
			   const char *ctype, const char *body)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(check(argc, argv, &a, err, sizeof err), 0, "%s", err);
	struct cli_request r;
	cr_assert_eq(cli_cmd_request(&a, &r), 0);
	cr_assert_str_eq(r.method, method);
	cr_assert_str_eq(r.path, path);
	if (ctype)
		cr_assert_str_eq(r.ctype, ctype);
	else
		cr_assert_null(r.ctype);
	if (body)
		cr_assert_str_eq(r.body, body);
	else
		cr_assert_null(r.body);
	cli_request_fini(&r);
	cli_args_fini(&a);
}
#define REQ(method, path, ctype, body, ...)                                                        \
	expect_request(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), method, path, ctype, body)

Test(cli_cmd, requests)
{
	REQ("GET", "/v1/state", NULL, NULL, "status");
	REQ("GET", "/v1/version", NULL, NULL, "version");
	REQ("POST", "/v1/version", "text/plain", "3.0.2", "version", "set", "3.0.2");
	REQ("POST", "/v1/rollout/pause", NULL, NULL, "pause");
	REQ("POST", "/v1/rollout/resume", NULL, NULL, "resume");
	REQ("POST", "/v1/rollout/rollback", NULL, NULL, "rollback");
	REQ("POST", "/v1/nodes/agent1/drain", NULL, NULL, "drain", "agent1");
	REQ("POST", "/v1/nodes/agent1/drain?force=true", NULL, NULL, "drain", "--force", "agent1");
	REQ("POST", "/v1/nodes/a%2F..%2Fb%3Fx%3D1/undrain", NULL, NULL, "undrain", "a/../b?x=1");
	REQ("GET", "/v1/reservations", NULL, NULL, "reservations");
	REQ("DELETE", "/v1/reservations/0c1f-S0/data", NULL, NULL, "release", "0c1f-S0", "data");
	REQ("DELETE", "/v1/reservations/a%20b/x%2Fy", NULL, NULL, "release", "a b", "x/y");
}

Test(cli_cmd, usage_errors)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(CHECK(&a, err, "--json"), QM_EINVAL);
	cr_assert_str_eq(err, "no command");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "frobnicate"), QM_EINVAL);
	cr_assert_str_eq(err, "unknown command 'frobnicate'");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "bad\x1b]0;x"), QM_EINVAL);
	cr_assert_str_eq(err, "unknown command 'bad\\x1b]0;x'");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "drain"), QM_EINVAL);
	cr_assert_str_eq(err, "usage: drain NODE [--force]");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "drain", ""), QM_EINVAL);
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "undrain", "--force", "n"), QM_EINVAL);
	cr_assert_str_eq(err, "--force only goes with drain");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "status", "extra"), QM_EINVAL);
	cr_assert_str_eq(err, "usage: status");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "version", "3.0.1"), QM_EINVAL);
	cr_assert_str_eq(err, "usage: version [set VERSION]");
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "version", "set"), QM_EINVAL);
	cli_args_fini(&a);
	cr_assert_eq(CHECK(&a, err, "release", "agent"), QM_EINVAL);
	cr_assert_str_eq(err, "usage: release AGENT_ID SERVICE");
	cli_args_fini(&a);
}

Test(cli_cmd, empty_version_stops_services)
{
	/* "version set ''" is the documented way to stop everything */
	REQ("POST", "/v1/version", "text/plain", "", "version", "set", "");
}
