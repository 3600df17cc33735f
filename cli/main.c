/* quobyte-mesos: the operator's command line for a quobyte-coordinator's
 * REST API (status, target version, rollout control, drains,
 * reservations). Options come from the table in cli_args.c (flags and
 * QUOBYTE_MESOS_* variables); commands from the table in cli_cmd.c. */
#include "cli_args.h"
#include "cli_cmd.h"
#include "cli_http.h"
#include "qm_error.h"
#include "qm_version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char summary[] =
	"quobyte-mesos [OPTIONS] COMMAND [ARGS]: the operator's command line for "
	"quobyte-coordinator's REST API (the commands are listed at the end; "
	"COMMAND --help describes one).";

static void usage(FILE *f)
{
	config_usage(f, "quobyte-mesos", summary, cli_options, cli_noptions);
	fprintf(f, "\nCommands:\n");
	cli_cmd_list(f);
	fprintf(f, "\nExit codes:\n"
		   "  0  done\n"
		   "  1  the coordinator refused (an HTTP error status, shown with its reason) "
		   "or answered something unusable\n"
		   "  2  usage: a bad command line, option, variable or token file\n"
		   "  3  the coordinator could not be reached (connection, TLS, timeout)\n");
}

int main(int argc, char **argv)
{
	qm_cjson_policy();
	struct cli_args a;
	char err[512];
	if (cli_args_parse(argc, argv, &a, err, sizeof err) != 0) {
		fprintf(stderr, "quobyte-mesos: %s (see --help)\n", err);
		cli_args_fini(&a);
		return CLI_EXIT_USAGE;
	}
	const struct cli_cmd *cmd = cli_cmd_find(a.cmd);
	if (a.help) {
		if (cmd)
			cli_cmd_usage(cmd, stdout);
		else
			usage(stdout);
		cli_args_fini(&a);
		return CLI_EXIT_OK;
	}
	if (a.o.version) {
		printf("quobyte-mesos %s\n", QM_VERSION);
		cli_args_fini(&a);
		return CLI_EXIT_OK;
	}
	const char *problem = NULL;
	if (cli_cmd_check(&a, err, sizeof err) != 0)
		problem = err;
	else if (a.o.token && a.o.token_file)
		problem = "--token and --token-file exclude each other";
	else if (a.o.ca && a.o.insecure)
		problem = "--ca and --insecure exclude each other";
	if (problem) {
		fprintf(stderr, "quobyte-mesos: %s (see --help)\n", problem);
		cli_args_fini(&a);
		return CLI_EXIT_USAGE;
	}
	char token[CLI_TOKEN_MAX + 1] = "";
	if (a.o.token_file &&
	    cli_token_load(a.o.token_file, token, sizeof token, err, sizeof err) != 0) {
		fprintf(stderr, "quobyte-mesos: --token-file %s\n", err);
		cli_args_fini(&a);
		return CLI_EXIT_USAGE;
	}
	if (a.o.insecure && strncmp(a.o.url, "https://", 8) == 0)
		fprintf(stderr, "quobyte-mesos: warning: --insecure: the coordinator's "
				"certificate is not verified\n");
	if (cli_http_global_init() != 0) {
		fprintf(stderr, "quobyte-mesos: libcurl could not start\n");
		cli_args_fini(&a);
		return CLI_EXIT_UNREACHABLE;
	}
	const struct cli_http_opts http = {
		.url = a.o.url,
		.token = token[0] ? token : a.o.token,
		.ca = a.o.ca,
		.insecure = a.o.insecure,
		.timeout_ms = a.o.timeout_ms,
	};
	int rc = cli_cmd_run(&a, &http, stdout, stderr);
	explicit_bzero(token, sizeof token);
	cli_http_global_fini();
	cli_args_fini(&a);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
		rc = CLI_EXIT_REFUSED;
	return rc;
}
