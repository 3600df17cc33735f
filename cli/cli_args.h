/* The operator CLI's command line: global options from one table
 * (common/config.h: flag, environment twin, default, help), a command word
 * and its arguments, in any order:
 *
 *   quobyte-mesos [OPTIONS] COMMAND [ARGS] [--force] [--help]
 *
 * Options may come before or after the command; "--" ends the options.
 * Pure apart from reading the environment (config_parse). */
#ifndef QM_CLI_ARGS_H
#define QM_CLI_ARGS_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

#define CLI_POS_MAX 4 /* positional arguments after the command */

/* Values of the option table (cli_options). */
struct cli_opts {
	char *url;
	char *token_file;
	char *token;
	char *ca;
	bool insecure;
	long long timeout_ms;
	bool json;
	bool version;
};

extern const struct config_opt cli_options[];
extern const size_t cli_noptions;

struct cli_args {
	struct cli_opts o;
	const char *cmd;              /* the command word (points into argv); NULL if none */
	const char *pos[CLI_POS_MAX]; /* its arguments (into argv) */
	size_t npos;
	bool force; /* --force (only drain takes it: cli_cmd_check) */
	bool help;  /* --help / -h anywhere */
};

/* argv into *a (zeroed first). 0, or QM_EINVAL with a message in err
 * ("unknown flag --x", "--timeout: ...", "too many arguments"). Free with
 * cli_args_fini() either way. */
int cli_args_parse(int argc, char **argv, struct cli_args *a, char *err, size_t errlen);
void cli_args_fini(struct cli_args *a);

#endif
