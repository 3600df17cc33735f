/* quobyte-coordinator: configuration and start. Every option lives in the
 * one table of shell/coord_options.c; it parses flags and environment twins
 * (QUOBYTE_MESOS_*) and generates --help. Exit status: 0 clean stop, 1 run-time failure,
 * 2 configuration error. */
#include "api/auth.h"
#include "api/http.h"
#include "bus_tls.h"
#include "config.h"
#include "shell/coord.h"
#include "shell/coord_options.h"
#include "log.h"
#include "qm_error.h"
#include "qm_version.h"

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bus TLS flags against each other and the URLs: the listener's set
 * (--bus-tls-*) and the set handed to launched probers (--prober-bus-tls-*),
 * checked against the URL they dial. */
static int check_bus_tls(const struct coord_config *c, char *err, size_t errlen)
{
	const struct bus_tls own = {
		.cert = c->bus_tls_cert, .key = c->bus_tls_key, .ca = c->bus_tls_ca};
	const struct bus_tls prober = {.cert = c->prober_bus_tls_cert,
				       .key = c->prober_bus_tls_key,
				       .ca = c->prober_bus_tls_ca,
				       .server_name = c->prober_bus_tls_server_name};
	const char *dialed = c->bus_advertise ? c->bus_advertise : c->bus_listen;
	int rv = bus_tls_check(&own, c->bus_listen, BUS_TLS_LISTENER, "--bus-tls", err, errlen);
	if (rv == 0 && bus_url_is_tls(dialed) != bus_url_is_tls(c->bus_listen))
		rv = qm_fail(err, errlen, QM_EINVAL,
			     "--bus-advertise %s and --bus-listen %s must both use tls+tcp:// "
			     "or neither", dialed, c->bus_listen);
	if (rv == 0)
		rv = bus_tls_check(&prober, dialed, BUS_TLS_DIALER, "--prober-bus-tls", err,
				   errlen);
	if (rv == 0 && c->bus_tls_ca && !c->prober_bus_tls_cert)
		rv = qm_fail(err, errlen, QM_EINVAL,
			     "--bus-tls-ca (mutual TLS) needs --prober-bus-tls-cert and "
			     "--prober-bus-tls-key: launched probers must present a certificate");
	return rv;
}

static const char summary[] =
	"Mesos framework that runs Quobyte: launches a prober on every agent and "
	"the Quobyte services its devices call for.";

int main(int argc, char **argv)
{
	/* One malloc arena for every thread. The parser thread (mesos/evparse.c)
	 * and the compaction thread (state/store_snap.c) each got an arena of
	 * their own, which kept what they freed: at 10,000 agents x 24 devices
	 * (tests/bench/offer_cycle.py) RSS after loading was 226 MiB with them
	 * and 184 MiB with one arena, at rest 232 against 177 MiB. What the
	 * shared lock costs the threads was not measured apart: CPU per offer
	 * stayed within that benchmark's run-to-run noise. Before any thread
	 * starts. */
	(void)mallopt(M_ARENA_MAX, 1);
	struct coord_config o;
	memset(&o, 0, sizeof o);
	qm_cjson_policy();
	bool help = false;
	char err[512];
	if (config_parse(coord_options, coord_noptions, &o, argc, argv, &help, err,
			 sizeof err) != 0) {
		fprintf(stderr, "quobyte-coordinator: %s (see --help)\n", err);
		coord_config_free(&o);
		return 2;
	}
	if (help) {
		config_usage(stdout, "quobyte-coordinator", summary, coord_options,
			     coord_noptions);
		coord_config_free(&o);
		return 0;
	}
	if (o.version) {
		printf("quobyte-coordinator %s\n", QM_VERSION);
		coord_config_free(&o);
		return 0;
	}
	int rc = 0;
	const char *problem = NULL;
	if (!o.master)
		problem = "--master is required (or QUOBYTE_MESOS_MASTER)";
	else if (o.zk && !o.secret_file)
		problem = "--zk needs --secret-file: every coordinator that may lead must "
			  "derive the same prober credentials";
	else if (o.import_state && !o.zk)
		problem = "--import-state only makes sense with --zk";
	else if (o.mesos_ca_file && o.mesos_tls_insecure)
		problem = "--mesos-ca-file and --mesos-tls-insecure exclude each other";
	else if (o.prober_command && o.prober_uri)
		problem = "--prober-command and --prober-uri exclude each other";
	else if (check_bus_tls(&o, err, sizeof err) != 0)
		problem = err;
	else if (!o.http_tls_cert != !o.http_tls_key)
		problem = "--http-tls-cert and --http-tls-key go together";
	if (problem) {
		fprintf(stderr, "quobyte-coordinator: %s (see --help)\n", problem);
		coord_config_free(&o);
		return 2;
	}
	enum log_level lvl = LOG_INFO;
	(void)log_level_parse(o.log_level, &lvl);
	log_set_level(lvl);
	if (o.check_config) {
		struct auth *a = NULL;
		bool open = false;
		const struct bus_tls own = {.cert = o.bus_tls_cert, .key = o.bus_tls_key, .ca = o.bus_tls_ca};
		char *cert = NULL, *key = NULL;
		if (coord_auth_setup(&o, &a, &open, err, sizeof err) != 0 ||
		    (bus_url_is_tls(o.bus_listen) &&
		     bus_tls_load_check(&own, BUS_TLS_LISTENER, err, sizeof err) != 0) ||
		    (o.http_tls_cert && http_tls_load(o.http_tls_cert, o.http_tls_key, &cert,
							&key, err, sizeof err) != 0)) {
			fprintf(stderr, "quobyte-coordinator: %s\n", err);
			rc = 2;
		} else {
			printf("quobyte-coordinator: configuration ok%s\n",
			       open ? " (REST API open: --http-insecure)" : "");
		}
		auth_free(a);
		free(cert);
		free(key);
	} else {
		rc = coord_run(&o);
	}
	coord_config_free(&o);
	return rc;
}
