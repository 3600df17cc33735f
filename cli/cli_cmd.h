/* The operator CLI's commands: one table (name, arguments, the REST call
 * it makes, help), the check of a parsed command line against it, and the
 * run of one command. Exit codes are the CLI's contract (--help lists
 * them). */
#ifndef QM_CLI_CMD_H
#define QM_CLI_CMD_H

#include "cli_args.h"
#include "cli_http.h"

#include <stdio.h>

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REFUSED = 1,     /* the coordinator answered with an error, or nonsense */
	CLI_EXIT_USAGE = 2,       /* bad command line, flag, variable or token file */
	CLI_EXIT_UNREACHABLE = 3, /* no answer: connection, TLS, timeout */
};

struct cli_cmd;

/* The command named `name`, or NULL. */
const struct cli_cmd *cli_cmd_find(const char *name);

/* Whether the arguments in *a suit its command: 0, or QM_EINVAL with a
 * message ("drain needs NODE", "--force only goes with drain"). */
int cli_cmd_check(const struct cli_args *a, char *err, size_t errlen);

/* The request a command line makes: method, path (NODE and AGENT
 * URL-encoded), content type and body (NULL when none). Strings are owned
 * by *r; free with cli_request_fini(). 0 or QM_EINVAL (check first). */
struct cli_request {
	const char *method;
	char *path;
	const char *ctype;
	const char *body;
};
int cli_cmd_request(const struct cli_args *a, struct cli_request *r);
void cli_request_fini(struct cli_request *r);

/* Run the checked command: the request, then its answer on out (tables,
 * or the JSON with --json), errors as one line on errf
 * ("quobyte-mesos: pause: 409 Conflict: the rollout is already paused").
 * Returns an enum cli_exit. Blocks for at most the timeout. */
int cli_cmd_run(const struct cli_args *a, const struct cli_http_opts *http, FILE *out, FILE *errf);

/* The list of commands (for --help), and one command's help. */
void cli_cmd_list(FILE *f);
void cli_cmd_usage(const struct cli_cmd *c, FILE *f);

#endif
