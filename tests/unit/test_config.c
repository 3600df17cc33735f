/* The configuration table: flags, environment twins, defaults, bounds and
 * the messages an operator sees when something is wrong. Each Criterion
 * test runs in its own process, so setenv() here does not leak between
 * tests. */
#include "config.h"
#include "qm_error.h"
#include "shell/coord_options.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct cfg {
	char *url;
	long long count;
	long long interval;
	bool verbose;
	char *dirs;
	char *level;
	long long offset;
};

static const char *check_level(const char *v)
{
	static const char *const ok[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < 4; i++)
		if (strcmp(v, ok[i]) == 0)
			return NULL;
	return "not a log level (debug|info|warn|error)";
}

#define OFF(f) offsetof(struct cfg, f)
static const struct config_opt table[] = {
	{"url", "QMT_URL", CONFIG_STR, OFF(url), "tcp://127.0.0.1:7000", 1, 0, "URL",
	 "where the coordinator listens", NULL},
	{"count", "QMT_COUNT", CONFIG_INT, OFF(count), "3", 1, 100, "N", "how many", NULL},
	{"interval", "QMT_INTERVAL", CONFIG_DURATION, OFF(interval), "5s", 100, 3600000,
	 NULL, "how often", NULL},
	{"verbose", "QMT_VERBOSE", CONFIG_BOOL, OFF(verbose), "false", 1, 0, NULL,
	 "say more", NULL},
	{"dirs", "QMT_DIRS", CONFIG_LIST, OFF(dirs), NULL, 1, 0, "DIR[,DIR...]",
	 "device directories", NULL},
	{"level", "QMT_LEVEL", CONFIG_STR, OFF(level), "info", 1, 0, "LEVEL", "log level",
	 check_level},
	{"offset", NULL, CONFIG_INT, OFF(offset), "0", 1, 0, NULL, "no bounds, no env", NULL},
};
#define N (sizeof table / sizeof table[0])

static void clear_env(void)
{
	for (size_t i = 0; i < N; i++)
		if (table[i].env)
			unsetenv(table[i].env);
}

TestSuite(config, .init = clear_env);

/* Parse a NULL-terminated argument list (program name added). */
static int run(struct cfg *c, char *err, size_t errlen, bool *help, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "prog";
	va_list ap;
	va_start(ap, help);
	char *a;
	while ((a = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	memset(c, 0, sizeof *c);
	bool h = false;
	int rv = config_parse(table, N, c, argc, argv, help ? help : &h, err, errlen);
	return rv;
}

Test(config, defaults)
{
	struct cfg c;
	char err[256];
	bool help = true;
	cr_assert_eq(run(&c, err, sizeof err, &help, NULL), 0, "%s", err);
	cr_assert_not(help);
	cr_assert_str_eq(c.url, "tcp://127.0.0.1:7000");
	cr_assert_eq(c.count, 3);
	cr_assert_eq(c.interval, 5000);
	cr_assert_not(c.verbose);
	cr_assert_null(c.dirs, "no default: stays unset");
	cr_assert_str_eq(c.level, "info");
	cr_assert_eq(c.offset, 0);
	config_free(table, N, &c);
	cr_assert_null(c.url);
	cr_assert_null(c.level);
}

Test(config, flag_forms)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--url=tcp://a:1", "--count", "7",
			 "--interval=250ms", "--verbose", "--dirs", "/a,/b", "--level", "debug",
			 "--offset=-12", NULL),
		     0, "%s", err);
	cr_assert_str_eq(c.url, "tcp://a:1");
	cr_assert_eq(c.count, 7);
	cr_assert_eq(c.interval, 250);
	cr_assert(c.verbose);
	cr_assert_str_eq(c.dirs, "/a,/b");
	cr_assert_str_eq(c.level, "debug");
	cr_assert_eq(c.offset, -12);
	config_free(table, N, &c);
}

Test(config, bool_flag_values)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--verbose=false", NULL), 0, "%s", err);
	cr_assert_not(c.verbose);
	config_free(table, N, &c);
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--verbose=TRUE", NULL), 0, "%s", err);
	cr_assert(c.verbose);
	config_free(table, N, &c);
	/* a bool flag takes no separate value: the word is a stray argument */
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--verbose", "false", NULL), QM_EINVAL);
	cr_assert_str_eq(err, "unexpected argument 'false'");
	config_free(table, N, &c);
}

Test(config, value_with_equals_sign_kept_whole)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--url=http://h/?a=b", NULL), 0, "%s", err);
	cr_assert_str_eq(c.url, "http://h/?a=b");
	config_free(table, N, &c);
}

Test(config, precedence_flag_over_env_over_default)
{
	struct cfg c;
	char err[256];
	setenv("QMT_COUNT", "9", 1);
	setenv("QMT_URL", "tcp://env:1", 1);
	cr_assert_eq(run(&c, err, sizeof err, NULL, NULL), 0, "%s", err);
	cr_assert_eq(c.count, 9, "env over default");
	cr_assert_str_eq(c.url, "tcp://env:1");
	config_free(table, N, &c);

	cr_assert_eq(run(&c, err, sizeof err, NULL, "--count=4", "--url", "tcp://flag:2", NULL), 0,
		     "%s", err);
	cr_assert_eq(c.count, 4, "flag over env");
	cr_assert_str_eq(c.url, "tcp://flag:2");
	config_free(table, N, &c);
}

/* A flag makes its variable irrelevant, even a broken one. */
Test(config, flag_shadows_bad_env)
{
	struct cfg c;
	char err[256];
	setenv("QMT_COUNT", "lots", 1);
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--count=5", NULL), 0, "%s", err);
	cr_assert_eq(c.count, 5);
	config_free(table, N, &c);
}

Test(config, env_types)
{
	struct cfg c;
	char err[256];
	setenv("QMT_VERBOSE", "yes", 1);
	setenv("QMT_INTERVAL", "2m", 1);
	setenv("QMT_DIRS", "/x, /y", 1);
	cr_assert_eq(run(&c, err, sizeof err, NULL, NULL), 0, "%s", err);
	cr_assert(c.verbose);
	cr_assert_eq(c.interval, 120000);
	cr_assert_str_eq(c.dirs, "/x, /y");
	config_free(table, N, &c);

	static const char *const truths[] = {"1", "true", "yes", "TRUE", "Yes"};
	static const char *const lies[] = {"0", "false", "no", "FALSE", "No"};
	for (size_t i = 0; i < 5; i++) {
		setenv("QMT_VERBOSE", truths[i], 1);
		cr_assert_eq(run(&c, err, sizeof err, NULL, NULL), 0, "%s", err);
		cr_assert(c.verbose, "%s", truths[i]);
		config_free(table, N, &c);
		setenv("QMT_VERBOSE", lies[i], 1);
		cr_assert_eq(run(&c, err, sizeof err, NULL, NULL), 0, "%s", err);
		cr_assert_not(c.verbose, "%s", lies[i]);
		config_free(table, N, &c);
	}
}

Test(config, empty_env_counts_as_unset)
{
	struct cfg c;
	char err[256];
	setenv("QMT_COUNT", "", 1);
	setenv("QMT_URL", "", 1);
	cr_assert_eq(run(&c, err, sizeof err, NULL, NULL), 0, "%s", err);
	cr_assert_eq(c.count, 3);
	cr_assert_str_eq(c.url, "tcp://127.0.0.1:7000");
	config_free(table, N, &c);
}

Test(config, repeated_flag_last_wins)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--url=a", "--url=b", "--count=2", "--count=3",
			 NULL),
		     0, "%s", err);
	cr_assert_str_eq(c.url, "b");
	cr_assert_eq(c.count, 3);
	config_free(table, N, &c);
}

/* ---- error messages ------------------------------------------------------- */

static void expect_error(const char *want, ...)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = "prog";
	va_list ap;
	va_start(ap, want);
	char *a;
	while ((a = va_arg(ap, char *)) != NULL && argc < 15)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	struct cfg c;
	memset(&c, 0, sizeof c);
	char err[256] = "";
	bool help = false;
	int rv = config_parse(table, N, &c, argc, argv, &help, err, sizeof err);
	config_free(table, N, &c);
	cr_assert_eq(rv, QM_EINVAL, "accepted; wanted '%s'", want);
	cr_assert_str_eq(err, want);
	cr_assert_not(help);
}

Test(config, unknown_flags)
{
	expect_error("unknown flag --bogus", "--bogus", NULL);
	expect_error("unknown flag --bogus", "--count=2", "--bogus=1", NULL);
	expect_error("unknown flag -x", "-x", NULL);
	expect_error("unknown flag --", "--=3", NULL);
}

Test(config, positional_arguments)
{
	expect_error("unexpected argument 'foo'", "foo", NULL);
	expect_error("unexpected argument 'foo'", "--", "foo", NULL);
	expect_error("unexpected argument '-'", "-", NULL);
}

Test(config, double_dash_alone_ends_options)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--count=8", "--", NULL), 0, "%s", err);
	cr_assert_eq(c.count, 8);
	config_free(table, N, &c);
}

Test(config, bad_values_name_the_flag)
{
	expect_error("--count: 'x' is not an integer", "--count=x", NULL);
	expect_error("--count: '' is not an integer", "--count=", NULL);
	expect_error("--count: '3 ' is not an integer", "--count", "3 ", NULL);
	expect_error("--count: '99999999999999999999' is not an integer",
		     "--count=99999999999999999999", NULL);
	expect_error("--interval: 'soon' is not a duration (e.g. 250ms, 5s, 2m, 1h)",
		     "--interval", "soon", NULL);
	expect_error("--verbose: 'maybe' is not a boolean (true/false)", "--verbose=maybe", NULL);
	expect_error("--level: not a log level (debug|info|warn|error)", "--level=loud",
		     NULL);
}

/* Validated strings may be secrets (credentials, tokens): the message
 * names the flag and the rule, never the value. */
Test(config, validator_message_does_not_echo_the_value)
{
	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--level=hunter2-secret", NULL), QM_EINVAL);
	cr_assert_null(strstr(err, "hunter2"), "%s", err);
	cr_assert_not_null(strstr(err, "--level"), "%s", err);
	config_free(table, N, &c);
}

Test(config, bounds)
{
	expect_error("--count: 0 is out of range [1, 100]", "--count=0", NULL);
	expect_error("--count: 101 is out of range [1, 100]", "--count=101", NULL);
	expect_error("--interval: '50ms' is out of range [100ms, 1h]", "--interval=50ms", NULL);
	expect_error("--interval: '61m' is out of range [100ms, 1h]", "--interval=61m", NULL);

	struct cfg c;
	char err[256];
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--count=1", "--interval=100ms", NULL), 0, "%s",
		     err);
	config_free(table, N, &c);
	cr_assert_eq(run(&c, err, sizeof err, NULL, "--count=100", "--interval=1h",
			 "--offset=-9223372036854775808", NULL),
		     0, "%s", err);
	cr_assert_eq(c.offset, -9223372036854775807LL - 1);
	config_free(table, N, &c);
}

Test(config, missing_value)
{
	expect_error("--url: missing value (URL)", "--url", NULL);
	expect_error("--interval: missing value (DURATION)", "--interval", NULL);
}

Test(config, env_errors_name_the_variable)
{
	setenv("QMT_COUNT", "abc", 1);
	expect_error("QMT_COUNT: 'abc' is not an integer", NULL);
	unsetenv("QMT_COUNT");
	setenv("QMT_INTERVAL", "10h", 1);
	expect_error("QMT_INTERVAL: '10h' is out of range [100ms, 1h]", NULL);
	unsetenv("QMT_INTERVAL");
	setenv("QMT_VERBOSE", "sometimes", 1);
	expect_error("QMT_VERBOSE: 'sometimes' is not a boolean (true/false)", NULL);
	unsetenv("QMT_VERBOSE");
	setenv("QMT_LEVEL", "LOUD", 1);
	expect_error("QMT_LEVEL: not a log level (debug|info|warn|error)", NULL);
}

Test(config, long_bad_value_keeps_the_name_in_the_message)
{
	char arg[600] = "--count=";
	memset(arg + 8, '7', 500);
	arg[508] = 'x';
	arg[509] = '\0';
	struct cfg c;
	memset(&c, 0, sizeof c);
	char err[128];
	bool help;
	char *argv[] = {"prog", arg, NULL};
	cr_assert_eq(config_parse(table, N, &c, 2, argv, &help, err, sizeof err), QM_EINVAL);
	cr_assert_eq(strncmp(err, "--count: '777", 13), 0, "%s", err);
	cr_assert_lt(strlen(err), sizeof err);
	config_free(table, N, &c);
}

Test(config, bad_default_is_reported)
{
	struct cfg c;
	memset(&c, 0, sizeof c);
	const struct config_opt broken[] = {
		{"count", NULL, CONFIG_INT, OFF(count), "many", 1, 0, NULL, "x", NULL}};
	char err[128];
	bool help;
	char *argv[] = {"prog", NULL};
	cr_assert_eq(config_parse(broken, 1, &c, 1, argv, &help, err, sizeof err), QM_EINVAL);
	cr_assert_str_eq(err, "--count (default): 'many' is not an integer");
}

/* ---- --help --------------------------------------------------------------- */

Test(config, help_flag)
{
	struct cfg c;
	char err[256];
	bool help = false;
	cr_assert_eq(run(&c, err, sizeof err, &help, "--help", NULL), 0);
	cr_assert(help);
	config_free(table, N, &c);
	help = false;
	cr_assert_eq(run(&c, err, sizeof err, &help, "-h", NULL), 0);
	cr_assert(help);
	config_free(table, N, &c);
}

/* Asking for help beats complaining about the rest of the line. */
Test(config, help_wins_over_errors)
{
	struct cfg c;
	char err[256];
	bool help = false;
	setenv("QMT_COUNT", "broken", 1);
	cr_assert_eq(run(&c, err, sizeof err, &help, "--bogus", "--count=x", "-h", NULL), 0);
	cr_assert(help);
	config_free(table, N, &c);
}

Test(config, help_looking_value_is_a_value)
{
	struct cfg c;
	char err[256];
	bool help = false;
	cr_assert_eq(run(&c, err, sizeof err, &help, "--url", "-h", NULL), 0, "%s", err);
	cr_assert_not(help);
	cr_assert_str_eq(c.url, "-h");
	config_free(table, N, &c);
}

Test(config, usage_is_generated_from_the_table)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	config_usage(f, "quobyte-test", "Test summary line.", table, N);
	fclose(f);
	static const char *const want[] = {
		"usage: quobyte-test",
		"Test summary line.",
		"  --url=URL\n      where the coordinator listens\n"
		"      env: QMT_URL; default: tcp://127.0.0.1:7000\n",
		"  --count=N\n      how many\n      env: QMT_COUNT; default: 3; range: 1..100\n",
		"  --interval=DURATION\n      how often\n"
		"      env: QMT_INTERVAL; default: 5s; range: 100ms..1h\n",
		"  --verbose[=true|false]\n      say more\n      env: QMT_VERBOSE; default: false\n",
		"  --dirs=DIR[,DIR...]\n      device directories\n      env: QMT_DIRS\n",
		"  --offset=N\n      no bounds, no env\n      env: (none); default: 0\n",
		"  --help, -h",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_assert_not_null(strstr(text, want[i]), "usage lacks:\n%s\n---- got:\n%s", want[i],
				   text);
	free(text);
}

/* ---- lists and durations ---------------------------------------------------- */

Test(config, list_iteration_trims_and_skips_empty_items)
{
	const char *cur = " /a , /b/c,, ,\t/d\t,";
	char item[16];
	const char *want[] = {"/a", "/b/c", "/d"};
	size_t n = 0;
	while (config_list_next(&cur, item, sizeof item)) {
		cr_assert_lt(n, 3, "extra item '%s'", item);
		cr_assert_str_eq(item, want[n]);
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_not(config_list_next(&cur, item, sizeof item), "stays at the end");
}

Test(config, list_edge_cases)
{
	char item[4];
	const char *cur = NULL;
	cr_assert_not(config_list_next(&cur, item, sizeof item));
	cur = "";
	cr_assert_not(config_list_next(&cur, item, sizeof item));
	cur = " , ,";
	cr_assert_not(config_list_next(&cur, item, sizeof item));
	cur = "abcdef,xy";
	cr_assert(config_list_next(&cur, item, sizeof item));
	cr_assert_str_eq(item, "abc", "truncated to cap");
	cr_assert(config_list_next(&cur, item, sizeof item));
	cr_assert_str_eq(item, "xy");
	cr_assert_not(config_list_next(&cur, item, sizeof item));
}

Test(config, duration_parsing)
{
	static const struct {
		const char *s;
		long long ms;
	} ok[] = {{"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000},
		  {"7", 7000},	  {"0", 0},	{"0ms", 0},	 {"007s", 7000}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		long long ms = -1;
		cr_assert_eq(config_parse_duration(ok[i].s, &ms), 0, "%s", ok[i].s);
		cr_assert_eq(ms, ok[i].ms, "%s: %lld", ok[i].s, ms);
	}
	static const char *const bad[] = {"",	 "s",	"ms",  "5x",  "-5s", "+5s",
					  "1.5s", " 5s", "5 s", "5s ", "5S",  "5sec",
					  "99999999999999999999", "9999999999999999h", NULL};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long long ms = 42;
		cr_assert_eq(config_parse_duration(bad[i], &ms), QM_EINVAL, "'%s' accepted",
			     bad[i] ? bad[i] : "(null)");
		cr_assert_eq(ms, 42, "output touched on error");
	}
}

/* config_defaults: the table's defaults only; the environment is not read. */
Test(config, defaults_only_ignore_environment)
{
	struct cfg c;
	char err[256];
	memset(&c, 0, sizeof c);
	setenv("QMT_COUNT", "7", 1);
	cr_assert_eq(config_defaults(table, N, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.count, 3);
	cr_assert_str_eq(c.url, "tcp://127.0.0.1:7000");
	cr_assert_eq(c.interval, 5000);
	cr_assert_null(c.dirs);
	config_free(table, N, &c);
}

Test(config, defaults_only_broken_default)
{
	static const struct config_opt broken[] = {
		{"count", NULL, CONFIG_INT, OFF(count), "many", 1, 0, "N", "how many", NULL},
	};
	struct cfg c;
	char err[256];
	memset(&c, 0, sizeof c);
	cr_assert_eq(config_defaults(broken, 1, &c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "--count (default)") != NULL, "%s", err);
	config_free(broken, 1, &c);
}

/* The coordinator's defaults come from its one option table
 * (shell/coord_options.c), the same that parses its command line. */
Test(config, coordinator_defaults)
{
	struct coord_config c;
	char err[256];
	setenv("QUOBYTE_MESOS_ROLE", "other", 1);
	cr_assert_eq(coord_config_defaults(&c, err, sizeof err), 0, "%s", err);
	unsetenv("QUOBYTE_MESOS_ROLE");
	cr_assert_null(c.master, "no default");
	cr_assert_str_eq(c.role, "quobyte");
	cr_assert_str_eq(c.state_dir, "/var/lib/quobyte-mesos");
	cr_assert_str_eq(c.http_listen, "0.0.0.0:7000");
	cr_assert_eq(c.revive_interval, 5 * 60 * 1000);
	cr_assert_eq(c.api_count, 1);
	cr_assert_not(c.check_config);
	coord_config_free(&c);
	cr_assert_null(c.role);
}
