/* The bus TLS flags (common/bus_tls.h): which sets each end accepts, and
 * that the listener refuses unreadable or malformed files before it binds.
 * The handshake itself is tested end to end in
 * tests/integration/test_bus_tls.py with a CA made by the test. */
#include "bus_tls.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TLS_URL "tls+tcp://bus.example:7001"
#define TCP_URL "tcp://bus.example:7001"

struct check_case {
	const char *cert, *key, *ca;
	const char *url;
	enum bus_tls_end end;
	int want;
	const char *says; /* part of the message, for the refusals */
};

static const struct check_case cases[] = {
	/* nothing given: fine for plain URLs, not for TLS ones */
	{NULL, NULL, NULL, TCP_URL, BUS_TLS_LISTENER, 0, NULL},
	{NULL, NULL, NULL, TCP_URL, BUS_TLS_DIALER, 0, NULL},
	{NULL, NULL, NULL, "ipc:///run/qm.bus", BUS_TLS_DIALER, 0, NULL},
	{NULL, NULL, NULL, NULL, BUS_TLS_DIALER, 0, NULL}, /* no coordinator */
	{NULL, NULL, NULL, TLS_URL, BUS_TLS_LISTENER, QM_EINVAL, "needs --bus-tls-cert"},
	{NULL, NULL, NULL, TLS_URL, BUS_TLS_DIALER, QM_EINVAL, "needs --bus-tls-ca"},
	/* half a pair, either half, at either end, whatever the URL */
	{"/c.pem", NULL, NULL, TLS_URL, BUS_TLS_LISTENER, QM_EINVAL,
	 "--bus-tls-cert needs --bus-tls-key"},
	{NULL, "/k.pem", NULL, TLS_URL, BUS_TLS_LISTENER, QM_EINVAL,
	 "--bus-tls-key needs --bus-tls-cert"},
	{"/c.pem", NULL, "/ca.pem", TLS_URL, BUS_TLS_DIALER, QM_EINVAL,
	 "--bus-tls-cert needs --bus-tls-key"},
	{"/c.pem", "", NULL, TCP_URL, BUS_TLS_LISTENER, QM_EINVAL, "needs --bus-tls-key"},
	/* complete sets */
	{"/c.pem", "/k.pem", NULL, TLS_URL, BUS_TLS_LISTENER, 0, NULL},
	{"/c.pem", "/k.pem", "/ca.pem", TLS_URL, BUS_TLS_LISTENER, 0, NULL}, /* mutual */
	{NULL, NULL, "/ca.pem", TLS_URL, BUS_TLS_DIALER, 0, NULL},
	{"/c.pem", "/k.pem", "/ca.pem", TLS_URL, BUS_TLS_DIALER, 0, NULL},
	{NULL, NULL, "/ca.pem", "tls+tcp4://10.0.0.5:7001", BUS_TLS_DIALER, 0, NULL},
	{NULL, NULL, "/ca.pem", "tls+tcp6://[::1]:7001", BUS_TLS_DIALER, 0, NULL},
	/* a listener's CA alone is not a server certificate */
	{NULL, NULL, "/ca.pem", TLS_URL, BUS_TLS_LISTENER, QM_EINVAL, "needs --bus-tls-cert"},
	/* a dialer's client certificate without a CA cannot check the server */
	{"/c.pem", "/k.pem", NULL, TLS_URL, BUS_TLS_DIALER, QM_EINVAL, "needs --bus-tls-ca"},
	/* TLS files with a plain URL would be ignored silently: refused */
	{"/c.pem", "/k.pem", NULL, TCP_URL, BUS_TLS_LISTENER, QM_EINVAL, "is not tls+tcp://"},
	{NULL, NULL, "/ca.pem", TCP_URL, BUS_TLS_DIALER, QM_EINVAL, "is not tls+tcp://"},
	{NULL, NULL, "/ca.pem", NULL, BUS_TLS_DIALER, QM_EINVAL, "is not tls+tcp://"},
	{NULL, NULL, "/ca.pem", "wss://bus.example/", BUS_TLS_DIALER, QM_EINVAL,
	 "is not tls+tcp://"},
};

Test(bus_tls, check_table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct check_case *c = &cases[i];
		const struct bus_tls t = {.cert = c->cert, .key = c->key, .ca = c->ca};
		char err[256] = "";
		int rv = bus_tls_check(&t, c->url, c->end, "--bus-tls", err, sizeof err);
		cr_assert_eq(rv, c->want, "case %zu: got %d (%s)", i, rv, err);
		if (c->says)
			cr_assert(strstr(err, c->says), "case %zu: '%s' lacks '%s'", i, err,
				  c->says);
	}
}

Test(bus_tls, messages_name_the_flags_given)
{
	const struct bus_tls t = {.cert = "/c.pem", .key = NULL, .ca = NULL};
	char err[256];
	cr_assert_eq(
		bus_tls_check(&t, TLS_URL, BUS_TLS_DIALER, "--prober-bus-tls", err, sizeof err),
		QM_EINVAL);
	cr_assert_str_eq(err, "--prober-bus-tls-cert needs --prober-bus-tls-key");
}

Test(bus_tls, url_is_tls)
{
	cr_assert(bus_url_is_tls("tls+tcp://h:1"));
	cr_assert(bus_url_is_tls("tls+tcp4://h:1"));
	cr_assert(bus_url_is_tls("tls+tcp6://h:1"));
	cr_assert_not(bus_url_is_tls("tcp://h:1"));
	cr_assert_not(bus_url_is_tls("tls+tcp5://h:1"));
	cr_assert_not(bus_url_is_tls("tls+tcp"));
	cr_assert_not(bus_url_is_tls("wss://h/"));
	cr_assert_not(bus_url_is_tls(NULL));
}

static int listen_with(const struct bus_tls *t, char *err, size_t errlen)
{
	nng_socket s;
	cr_assert_eq(nng_rep0_open(&s), 0);
	/* port 0: nothing is bound unless the files are accepted */
	int rv = bus_listen(s, "tls+tcp://127.0.0.1:0", t, err, errlen);
	nng_close(s);
	return rv;
}

Test(bus_tls, listen_refuses_missing_and_malformed_files)
{
	char err[256];
	const struct bus_tls missing = {
		.cert = "/nonexistent/c.pem", .key = "/nonexistent/k.pem", .ca = NULL};
	cr_assert_eq(listen_with(&missing, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "cannot read /nonexistent/c.pem"), "%s", err);

	char path[] = "/tmp/qm-test-tls-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
	cr_assert_eq(write(fd, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
	close(fd);
	const struct bus_tls bad = {.cert = path, .key = path, .ca = NULL};
	int rv = listen_with(&bad, err, sizeof err);
	unlink(path);
	cr_assert_eq(rv, QM_EINVAL);
	cr_assert(strstr(err, "refused"), "%s", err);

	/* half a set is refused by the listener too, not only by the flags */
	const struct bus_tls half = {.cert = "/c.pem", .key = NULL, .ca = NULL};
	cr_assert_eq(listen_with(&half, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "needs --bus-tls-key"), "%s", err);
}

Test(bus_tls, dial_needs_a_ca_for_tls)
{
	nng_socket s;
	cr_assert_eq(nng_rep0_open(&s), 0);
	struct bus_dialer *d = (struct bus_dialer *)&s; /* must be reset */
	char err[256];
	int rv = bus_dial(s, TLS_URL, NULL, &d, err, sizeof err);
	nng_close(s);
	cr_assert_eq(rv, QM_EINVAL);
	cr_assert_null(d);
	cr_assert(strstr(err, "needs --bus-tls-ca"), "%s", err);
	bus_dialer_free(NULL);
}

Test(bus_tls, load_check_reads_the_files)
{
	char err[256];
	const struct bus_tls ca = {.cert = NULL, .key = NULL, .ca = "/nonexistent/ca.pem"};
	cr_assert_eq(bus_tls_load_check(&ca, BUS_TLS_DIALER, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "CA file /nonexistent/ca.pem refused"), "%s", err);
	const struct bus_tls pair = {.cert = "/nonexistent/c.pem", .key = "/nonexistent/k.pem", .ca = NULL};
	cr_assert_eq(bus_tls_load_check(&pair, BUS_TLS_LISTENER, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "cannot read /nonexistent/c.pem"), "%s", err);
	const struct bus_tls none = {.cert = NULL, .key = NULL, .ca = NULL};
	cr_assert_eq(bus_tls_load_check(&none, BUS_TLS_LISTENER, err, sizeof err), 0);
}

Test(bus_tls, load_check_refuses_half_a_pair)
{
	char err[256];
	const struct bus_tls half = {.cert = NULL, .key = "/k.pem", .ca = NULL};
	cr_assert_eq(bus_tls_load_check(&half, BUS_TLS_DIALER, err, sizeof err), QM_EINVAL);
}
