/* cli_args: global options anywhere around the command, their environment
 * twins, --force and --help, and the errors an operator sees. Each
 * Criterion test runs in its own process, so setenv() does not leak. */
#include "cli_args.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define ARGV(...)          ((char *[]){"quobyte-mesos", __VA_ARGS__, NULL})
#define ARGC(...)          ((int)(sizeof((char *[]){"quobyte-mesos", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) cli_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a, err, sizeof err)

static void clear_env(void)
{
	unsetenv("QUOBYTE_MESOS_URL");
	unsetenv("QUOBYTE_MESOS_API_TOKEN");
	unsetenv("QUOBYTE_MESOS_API_TOKEN_FILE");
	unsetenv("QUOBYTE_MESOS_TIMEOUT");
	unsetenv("QUOBYTE_MESOS_CA");
	unsetenv("QUOBYTE_MESOS_INSECURE");
}

Test(cli_args, defaults, .init = clear_env)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "status"), 0, "%s", err);
	cr_assert_str_eq(a.cmd, "status");
	cr_assert_eq(a.npos, 0);
	cr_assert_str_eq(a.o.url, "http://127.0.0.1:7000");
	cr_assert_eq(a.o.timeout_ms, 10000);
	cr_assert_null(a.o.token);
	cr_assert_null(a.o.token_file);
	cr_assert_not(a.o.json);
	cr_assert_not(a.o.insecure);
	cr_assert_not(a.help);
	cr_assert_not(a.force);
	cli_args_fini(&a);
}

Test(cli_args, options_before_and_after_the_command, .init = clear_env)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "--url", "https://c:7000", "drain", "--json", "agent 2",
			   "--force", "--timeout=2s", "--token-file", "/t"),
		     0, "%s", err);
	cr_assert_str_eq(a.cmd, "drain");
	cr_assert_eq(a.npos, 1);
	cr_assert_str_eq(a.pos[0], "agent 2");
	cr_assert(a.force);
	cr_assert(a.o.json);
	cr_assert_str_eq(a.o.url, "https://c:7000");
	cr_assert_eq(a.o.timeout_ms, 2000);
	cr_assert_str_eq(a.o.token_file, "/t");
	cli_args_fini(&a);
}

Test(cli_args, a_value_that_looks_like_a_flag_and_double_dash, .init = clear_env)
{
	struct cli_args a;
	char err[256];
	/* "--token X" takes X whatever it looks like; after "--" all is positional */
	cr_assert_eq(PARSE(&a, err, "--token", "--json", "version", "set", "--", "--x"), 0, "%s",
		     err);
	cr_assert_str_eq(a.o.token, "--json");
	cr_assert_not(a.o.json);
	cr_assert_str_eq(a.cmd, "version");
	cr_assert_eq(a.npos, 2);
	cr_assert_str_eq(a.pos[1], "--x");
	cli_args_fini(&a);
}

Test(cli_args, environment_twins_and_flag_precedence, .init = clear_env)
{
	setenv("QUOBYTE_MESOS_URL", "http://env:1", 1);
	setenv("QUOBYTE_MESOS_API_TOKEN_FILE", "/etc/qm/tokens", 1);
	setenv("QUOBYTE_MESOS_TIMEOUT", "250ms", 1);
	struct cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "status", "--url=http://flag:2"), 0, "%s", err);
	cr_assert_str_eq(a.o.url, "http://flag:2");
	cr_assert_str_eq(a.o.token_file, "/etc/qm/tokens");
	cr_assert_eq(a.o.timeout_ms, 250);
	cli_args_fini(&a);
	setenv("QUOBYTE_MESOS_TIMEOUT", "soon", 1);
	cr_assert_eq(PARSE(&a, err, "status"), QM_EINVAL);
	cr_assert(strstr(err, "QUOBYTE_MESOS_TIMEOUT"), "%s", err);
	cli_args_fini(&a);
}

Test(cli_args, help_anywhere, .init = clear_env)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "pause", "--help"), 0, "%s", err);
	cr_assert(a.help);
	cr_assert_str_eq(a.cmd, "pause");
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "-h"), 0, "%s", err);
	cr_assert(a.help);
	cr_assert_null(a.cmd);
	cli_args_fini(&a);
}

Test(cli_args, errors, .init = clear_env)
{
	struct cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "status", "--bogus=1"), QM_EINVAL);
	cr_assert_str_eq(err, "unknown flag --bogus");
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "-x", "status"), QM_EINVAL);
	cr_assert_str_eq(err, "unknown flag -x");
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "status", "--url", "ftp://x"), QM_EINVAL);
	cr_assert(strstr(err, "--url"), "%s", err);
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "status", "--timeout", "50ms"), QM_EINVAL);
	cr_assert(strstr(err, "out of range"), "%s", err);
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "status", "--url"), QM_EINVAL);
	cr_assert(strstr(err, "missing value"), "%s", err);
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "a", "b", "c", "d", "e", "f"), QM_EINVAL);
	cr_assert_str_eq(err, "too many arguments");
	cli_args_fini(&a);
	cr_assert_eq(PARSE(&a, err, "status", "--token", "two words"), QM_EINVAL);
	cr_assert(strstr(err, "--token"), "%s", err);
	cr_assert_null(strstr(err, "two words"), "a token is never echoed: %s", err);
	cli_args_fini(&a);
}
