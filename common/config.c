#include "config.h"

#include "qm_error.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where a value came from, so an error names what the operator typed. */
enum source { SRC_DEFAULT, SRC_ENV, SRC_FLAG };

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return QM_EINVAL;
}

/* "--name", "QUOBYTE_X" or "--name (default)" into buf. */
static const char *origin(const struct config_opt *o, enum source src, char *buf,
			  size_t cap)
{
	switch (src) {
	case SRC_ENV:
		snprintf(buf, cap, "%s", o->env);
		break;
	case SRC_FLAG:
		snprintf(buf, cap, "--%s", o->name);
		break;
	default:
		snprintf(buf, cap, "--%s (default)", o->name);
		break;
	}
	return buf;
}

/* ---- value parsers -------------------------------------------------------- */

static int parse_ll(const char *s, long long *out)
{
	if (!*s || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
		return QM_EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return QM_EINVAL;
	*out = v;
	return 0;
}

int config_parse_duration(const char *s, long long *ms)
{
	static const struct {
		const char *suffix;
		long long ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"", 1000}};
	if (!s)
		return QM_EINVAL;
	size_t digits = 0;
	while (s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (digits == 0)
		return QM_EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s + digits, units[i].suffix) != 0)
			continue;
		long long v = 0;
		for (size_t d = 0; d < digits; d++) {
			if (v > (LLONG_MAX - 9) / 10)
				return QM_EINVAL;
			v = v * 10 + (s[d] - '0');
		}
		if (v > LLONG_MAX / units[i].ms)
			return QM_EINVAL;
		*ms = v * units[i].ms;
		return 0;
	}
	return QM_EINVAL;
}

/* The shortest exact way to write ms in duration syntax, for messages and
 * --help. */
static const char *fmt_duration(long long ms, char *buf, size_t cap)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, cap, "%lldh", ms / 3600000);
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, cap, "%lldm", ms / 60000);
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, cap, "%llds", ms / 1000);
	else
		snprintf(buf, cap, "%lldms", ms);
	return buf;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return QM_EINVAL;
}

static bool bounded(const struct config_opt *o)
{
	return o->min <= o->max;
}

/* Parse `value` for option o and store it in out. Messages quote the value
 * with %.*s so a long value cannot push the option's name out of err. */
static int set_value(const struct config_opt *o, void *out, const char *value,
		     enum source src, char *err, size_t errlen)
{
	char who[160];
	origin(o, src, who, sizeof who);
	char *field = (char *)out + o->offset;
	const int q = 64; /* how much of a bad value to quote */

	switch (o->type) {
	case CONFIG_STR:
	case CONFIG_LIST:
		break; /* stored after validation below */
	case CONFIG_INT: {
		long long v;
		if (parse_ll(value, &v))
			return errf(err, errlen, "%s: '%.*s' is not an integer", who, q, value);
		if (bounded(o) && (v < o->min || v > o->max))
			return errf(err, errlen, "%s: %lld is out of range [%lld, %lld]", who,
				    v, o->min, o->max);
		memcpy(field, &v, sizeof v);
		break;
	}
	case CONFIG_DURATION: {
		long long v;
		if (config_parse_duration(value, &v))
			return errf(err, errlen,
				    "%s: '%.*s' is not a duration (e.g. 250ms, 5s, 2m, 1h)",
				    who, q, value);
		if (bounded(o) && (v < o->min || v > o->max)) {
			char a[32], b[32];
			return errf(err, errlen, "%s: '%.*s' is out of range [%s, %s]", who,
				    q, value, fmt_duration(o->min, a, sizeof a),
				    fmt_duration(o->max, b, sizeof b));
		}
		memcpy(field, &v, sizeof v);
		break;
	}
	case CONFIG_BOOL: {
		bool v;
		if (parse_bool(value, &v))
			return errf(err, errlen, "%s: '%.*s' is not a boolean (true/false)", who,
				    q, value);
		memcpy(field, &v, sizeof v);
		break;
	}
	default:
		return errf(err, errlen, "%s: unsupported option type", who);
	}

	/* The value is not repeated here: validated strings include secrets
	 * (credentials, tokens) that must not end up in a log. */
	if (o->validate) {
		const char *why = o->validate(value);
		if (why)
			return errf(err, errlen, "%s: %s", who, why);
	}
	if (o->type == CONFIG_STR || o->type == CONFIG_LIST) {
		char *old;
		memcpy(&old, field, sizeof old);
		free(old);
		char *copy = qm_strdup(value);
		memcpy(field, &copy, sizeof copy);
	}
	return 0;
}

static const char *type_metavar(const struct config_opt *o)
{
	if (o->metavar)
		return o->metavar;
	switch (o->type) {
	case CONFIG_INT: return "N";
	case CONFIG_DURATION: return "DURATION";
	case CONFIG_LIST: return "A[,B...]";
	default: return "VALUE";
	}
}

/* ---- config_parse ----------------------------------------------------------- */

static const struct config_opt *find(const struct config_opt *table, size_t n,
				     const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
			return &table[i];
	return NULL;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* --help wins over any error elsewhere on the line: someone asking for
 * usage should get it. A value that happens to read "-h" ("--token -h") is
 * skipped the way the real pass will consume it. */
static bool help_asked(const struct config_opt *table, size_t n, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return false;
		if (is_help(a))
			return true;
		if (strncmp(a, "--", 2) == 0 && !strchr(a, '=')) {
			const struct config_opt *o = find(table, n, a + 2, strlen(a + 2));
			if (o && o->type != CONFIG_BOOL)
				i++;
		}
	}
	return false;
}

int config_parse(const struct config_opt *table, size_t n, void *out,
		 int argc, char **argv, bool *help_requested,
		 char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (help_requested)
		*help_requested = false;
	if (help_asked(table, n, argc, argv)) {
		if (help_requested)
			*help_requested = true;
		return 0;
	}

	bool *given = qm_calloc(n ? n : 1, sizeof *given);
	int rv = 0;

	/* 1. flags */
	for (int i = 1; i < argc && rv == 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				rv = errf(err, errlen, "unexpected argument '%.64s'", argv[i + 1]);
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (a[0] == '-' && a[1])
				rv = errf(err, errlen, "unknown flag %.64s", a);
			else
				rv = errf(err, errlen, "unexpected argument '%.64s'", a);
			break;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
		const struct config_opt *o = find(table, n, name, namelen);
		if (!o) {
			int shown = (int)(namelen > 64 ? 64 : namelen);
			rv = errf(err, errlen, "unknown flag --%.*s", shown, name);
			break;
		}
		const char *value;
		if (eq) {
			value = eq + 1;
		} else if (o->type == CONFIG_BOOL) {
			value = "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			rv = errf(err, errlen, "--%s: missing value (%s)", o->name,
				  type_metavar(o));
			break;
		}
		rv = set_value(o, out, value, SRC_FLAG, err, errlen);
		given[o - table] = true;
	}

	/* 2. environment for what no flag set; 3. defaults for the rest. An
	 * empty variable counts as unset: templates (Marathon, compose) often
	 * pass VAR="" for "not configured". */
	for (size_t i = 0; i < n && rv == 0; i++) {
		const struct config_opt *o = &table[i];
		if (given[i])
			continue;
		const char *ev = o->env ? getenv(o->env) : NULL;
		if (ev && *ev)
			rv = set_value(o, out, ev, SRC_ENV, err, errlen);
		else if (o->defval)
			rv = set_value(o, out, o->defval, SRC_DEFAULT, err, errlen);
	}
	free(given);
	return rv;
}

int config_defaults(const struct config_opt *table, size_t n, void *out,
		    char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++)
		if (table[i].defval)
			rv = set_value(&table[i], out, table[i].defval, SRC_DEFAULT, err, errlen);
	return rv;
}

/* ---- usage ------------------------------------------------------------------- */

void config_usage(FILE *f, const char *prog, const char *summary,
		  const struct config_opt *table, size_t n)
{
	fprintf(f, "usage: %s [--flag=value ...]\n", prog ? prog : "?");
	if (summary && *summary)
		fprintf(f, "%s\n", summary);
	fprintf(f, "\nEvery flag can also be set through its environment variable;"
		   " a flag wins over\nthe variable, the variable over the default.\n\n");
	for (size_t i = 0; i < n; i++) {
		const struct config_opt *o = &table[i];
		if (o->type == CONFIG_BOOL)
			fprintf(f, "  --%s[=true|false]\n", o->name);
		else
			fprintf(f, "  --%s=%s\n", o->name, type_metavar(o));
		if (o->help)
			fprintf(f, "      %s\n", o->help);
		fprintf(f, "      env: %s", o->env ? o->env : "(none)");
		if (o->defval && *o->defval)
			fprintf(f, "; default: %s", o->defval);
		if ((o->type == CONFIG_INT || o->type == CONFIG_DURATION) && bounded(o)) {
			if (o->type == CONFIG_INT) {
				fprintf(f, "; range: %lld..%lld", o->min, o->max);
			} else {
				char a[32], b[32];
				fprintf(f, "; range: %s..%s", fmt_duration(o->min, a, sizeof a),
					fmt_duration(o->max, b, sizeof b));
			}
		}
		fputc('\n', f);
	}
	fprintf(f, "  --help, -h\n      show this text and exit\n");
}

void config_free(const struct config_opt *table, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].type != CONFIG_STR && table[i].type != CONFIG_LIST)
			continue;
		char *field = (char *)out + table[i].offset;
		char *p;
		memcpy(&p, field, sizeof p);
		free(p);
		p = NULL;
		memcpy(field, &p, sizeof p);
	}
}

bool config_list_next(const char **cursor, char *item, size_t cap)
{
	if (!cursor || !*cursor)
		return false;
	const char *p = *cursor;
	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p) {
			*cursor = p;
			return false;
		}
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *last = end;
		while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		*cursor = end;
		size_t len = (size_t)(last - p);
		if (len == 0) {
			p = end;
			continue;
		}
		if (cap) {
			if (len >= cap)
				len = cap - 1;
			memcpy(item, p, len);
			item[len] = '\0';
		}
		return true;
	}
}
