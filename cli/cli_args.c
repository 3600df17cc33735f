/* The CLI's option table and command-line split (cli_args.h). */
#include "cli_args.h"

#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool printable(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

static const char *v_url(const char *v)
{
	if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || !printable(v))
		return "must be an http:// or https:// URL";
	return NULL;
}

static const char *v_file(const char *v)
{
	return v[0] && printable(v) ? NULL : "must be a file name";
}

static const char *v_token(const char *v)
{
	return printable(v) && strlen(v) <= 256 ? NULL
						: "must be printable text without blanks (at most "
						  "256 characters)";
}

/* Environment twins share the coordinator's QUOBYTE_MESOS_ prefix; the
 * token ones are the coordinator's own names (QUOBYTE_MESOS_API_TOKEN_FILE,
 * QUOBYTE_MESOS_API_TOKEN), so a shell set up to run a coordinator talks to
 * it with the same token. */
#define E(flag) "QUOBYTE_MESOS_" flag
#define OFF(f)  offsetof(struct cli_opts, f)
#define UNB     1, 0

const struct config_opt cli_options[] = {
	{"url", E("URL"), CONFIG_STR, OFF(url), "http://127.0.0.1:7000", UNB, "URL",
	 "the coordinator's REST API (any coordinator: a standby answers what it can and "
	 "names the leader)",
	 v_url},
	{"token-file", E("API_TOKEN_FILE"), CONFIG_STR, OFF(token_file), NULL, UNB, "FILE",
	 "API token sent as 'Authorization: Bearer ...': a file holding the bare token, or "
	 "the coordinator's --api-token-file (its first admin entry is used)",
	 v_file},
	{"token", E("API_TOKEN"), CONFIG_STR, OFF(token), NULL, UNB, "TOKEN",
	 "the API token itself; argv and the environment are visible to other users, so "
	 "prefer --token-file",
	 v_token},
	{"ca", E("CA"), CONFIG_STR, OFF(ca), NULL, UNB, "FILE",
	 "CA bundle (PEM) an https coordinator's certificate is verified against, instead "
	 "of the system's CAs",
	 v_file},
	{"insecure", E("INSECURE"), CONFIG_BOOL, OFF(insecure), "false", UNB, NULL,
	 "do not verify an https coordinator's certificate: anyone on the path can pose as "
	 "it and read the token",
	 NULL},
	{"timeout", E("TIMEOUT"), CONFIG_DURATION, OFF(timeout_ms), "10s", 100, 3600000, "DURATION",
	 "give up on a request after this long (connection included)", NULL},
	{"json", NULL, CONFIG_BOOL, OFF(json), "false", UNB, NULL,
	 "print the coordinator's JSON answer (indented) instead of tables", NULL},
	{"version", NULL, CONFIG_BOOL, OFF(version), "false", UNB, NULL,
	 "print the CLI's version and exit", NULL},
};
const size_t cli_noptions = sizeof cli_options / sizeof cli_options[0];

static const struct config_opt *find_opt(const char *arg)
{
	const char *name = arg + 2;
	size_t n = strcspn(name, "=");
	for (size_t i = 0; i < cli_noptions; i++)
		if (strlen(cli_options[i].name) == n && strncmp(cli_options[i].name, name, n) == 0)
			return &cli_options[i];
	return NULL;
}

int cli_args_parse(int argc, char **argv, struct cli_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof *a);
	/* the global options are handed to config_parse() on their own, so
	 * its rules (flag > environment > default, "--x=v", bounds) hold */
	char **gv = qm_calloc((size_t)argc + 2, sizeof *gv);
	int gc = 0;
	gv[gc++] = argc > 0 ? argv[0] : "quobyte-mesos";
	bool opts_done = false;
	int rv = 0;
	for (int i = 1; i < argc && rv == 0; i++) {
		const char *s = argv[i];
		if (!opts_done && strcmp(s, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)) {
			a->help = true;
		} else if (!opts_done && strcmp(s, "--force") == 0) {
			a->force = true;
		} else if (!opts_done && strncmp(s, "--", 2) == 0) {
			const struct config_opt *opt = find_opt(s);
			if (!opt) {
				rv = qm_fail(err, errlen, QM_EINVAL, "unknown flag %.*s",
					     (int)strcspn(s, "="), s);
				break;
			}
			gv[gc++] = argv[i];
			/* "--name value": the value goes along, whatever it looks like */
			if (opt->type != CONFIG_BOOL && !strchr(s, '=') && i + 1 < argc)
				gv[gc++] = argv[++i];
		} else if (!opts_done && s[0] == '-' && s[1]) {
			rv = qm_fail(err, errlen, QM_EINVAL, "unknown flag %s", s);
		} else if (!a->cmd) {
			a->cmd = s;
		} else if (a->npos < CLI_POS_MAX) {
			a->pos[a->npos++] = s;
		} else {
			rv = qm_fail(err, errlen, QM_EINVAL, "too many arguments");
		}
	}
	gv[gc] = NULL;
	bool help = false;
	if (rv == 0)
		rv = config_parse(cli_options, cli_noptions, &a->o, gc, gv, &help, err, errlen);
	free(gv);
	return rv;
}

void cli_args_fini(struct cli_args *a)
{
	config_free(cli_options, cli_noptions, &a->o);
}
