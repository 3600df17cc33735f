/* Configuration as one table: every option has a long flag, an environment
 * twin, a type, a default, bounds and help text. The same table parses the
 * command line, reads the environment and generates --help, so they cannot
 * drift. Precedence: flag > environment > default.
 *
 * Values land in a caller-owned struct through offsetof(): CONFIG_STR
 * fields are `char *` (heap copies, freed by config_free), CONFIG_INT and
 * CONFIG_DURATION are `long long` (durations in milliseconds, written
 * "250ms", "5s", "2m", "1h"; a bare number means seconds), CONFIG_BOOL is
 * `bool` (flag alone = true; "--x=false"; env "1/0/true/false/yes/no"),
 * CONFIG_LIST is `char *` holding the comma-separated text (split it with
 * config_list_next()).
 *
 * Rules an operator can rely on:
 *  - a flag wins over its variable (a broken variable is then not even
 *    looked at), the variable over the default; an empty variable counts as
 *    unset, since templates (Marathon, compose) pass VAR="" for "not set";
 *  - a repeated flag: the last one wins;
 *  - a BOOL flag never takes the next argument ("--once foo" is an error);
 *    env and "--x=" accept 1/0, true/false, yes/no, on/off, any case;
 *  - "--" ends the options; anything after it (or any other non-flag word,
 *    including "-") is a positional argument and therefore an error;
 *  - validate() runs on the text from flag, variable or default alike, after
 *    the type check; its message is shown without the value, because
 *    validated strings include credentials and tokens. */
#ifndef QM_CONFIG_H
#define QM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_BOOL, CONFIG_DURATION, CONFIG_LIST };

struct config_opt {
	const char *name;      /* long flag without "--", e.g. "coordinator" */
	const char *env;       /* environment twin, e.g. "QUOBYTE_PROBER_COORDINATOR"; NULL for none */
	enum config_type type;
	size_t offset;         /* offsetof(struct yours, field) */
	const char *defval;    /* textual default, parsed like input; NULL = unset */
	long long min, max;    /* bounds for INT and DURATION (ms); min > max = unbounded */
	const char *metavar;   /* "URL", "DIR[,DIR...]" */
	const char *help;      /* one line */
	/* optional extra check; returns NULL when fine, else a static message
	 * (shown as "--flag: <message>") */
	const char *(*validate)(const char *value);
};

/* Parse argv (argv[0] is the program) into `out` from the table. Accepts
 * "--name value" and "--name=value"; "--help"/"-h" anywhere (not as a
 * flag's value) sets *help_requested and returns 0 without checking
 * further, so asking for usage always works. On error returns QM_EINVAL and
 * writes a message naming the flag or variable into err, e.g.
 *   "unknown flag --bogus" / "--rescan-interval: 'x' is not a duration ..."
 *   "--count: 0 is out of range [1, 100]" / "--coordinator: missing value (URL)"
 *   "QUOBYTE_PROBER_LOG_LEVEL: ..." (environment errors name the variable)
 *   "--debounce (default): ..." (a broken default in the table).
 * `out` must start zeroed (STR/LIST fields NULL or heap strings); fields
 * without flag, variable or default are left as they were. Some fields may
 * be set when an error is returned: call config_free() either way.
 * Positional arguments are errors. Not thread-safe (reads environ). */
int config_parse(const struct config_opt *table, size_t n, void *out,
		 int argc, char **argv, bool *help_requested,
		 char *err, size_t errlen);

/* Only the table's defaults into `out` (no flags, no environment): what a
 * program that embeds the daemon's logic (tests, fuzz targets) starts from,
 * so the table stays the one place defaults are written. `out` must start
 * zeroed; 0, or QM_EINVAL with err naming the option whose default does not
 * parse (a broken table). Call config_free() either way. */
int config_defaults(const struct config_opt *table, size_t n, void *out,
		    char *err, size_t errlen);

/* Print generated usage: summary line, then one block per option with flag,
 * metavar, help, env twin, default and bounds, and a closing --help line. */
void config_usage(FILE *f, const char *prog, const char *summary,
		  const struct config_opt *table, size_t n);

/* Free CONFIG_STR/CONFIG_LIST strings held in `out` and set them NULL. */
void config_free(const struct config_opt *table, size_t n, void *out);

/* Iterate a comma-separated list: *cursor starts at the list text (NULL is
 * an empty list); each call copies the next non-empty item, blanks and tabs
 * trimmed, into item (cap bytes) and returns true, or returns false at the
 * end. Items longer than cap - 1 are truncated: validate lengths first where
 * that matters. */
bool config_list_next(const char **cursor, char *item, size_t cap);

/* Parse a duration text ("250ms", "5s", "2m", "1h", bare = seconds) into
 * milliseconds: digits then an optional unit, nothing else (no sign,
 * fraction, blanks or upper case). 0, or QM_EINVAL with *ms untouched
 * (also on overflow). */
int config_parse_duration(const char *s, long long *ms);

#endif
