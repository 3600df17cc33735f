/* TLS for the bus: tls+tcp:// through NNG's TLS transport (Debian's libnng
 * is built with mbedtls). The per-node HMAC credentials (bus.h) stay on top
 * of it: TLS keeps the traffic private and tells the prober it reached the
 * coordinator the operator named; the credentials still decide which node
 * a frame speaks for.
 *
 * Both daemons take the same three files (flags --bus-tls-cert,
 * --bus-tls-key, --bus-tls-ca), each naming this end and its peer:
 *   cert, key  this end's certificate (chain) and private key, PEM,
 *              unencrypted. The listener serves TLS with them; a dialer
 *              presents them as a client certificate.
 *   ca         the CA bundle the peer's certificate must chain to. A dialer
 *              needs it for tls+tcp:// and checks the listener's
 *              certificate against it and against the host in the URL. On a
 *              listener it is optional and turns on mutual TLS: every dialer
 *              must present a certificate signed by it.
 * Sockets stay with their owners (busd.c, publisher.c); this module only
 * starts their listener or dialer. */
/*
 * Names: the dialer checks the listener's certificate against the host in
 * the URL. mbedtls 2.28 (Debian 12) compares that host with the
 * certificate's DNS names (subjectAltName dNSName, else the CN) only, never
 * with iPAddress entries: dial a DNS name, or, for an address, put it in
 * the certificate as a DNS name too (subjectAltName=DNS:10.0.0.5), or
 * give the name to check with server_name (--bus-tls-server-name).
 */
#ifndef QM_BUS_TLS_H
#define QM_BUS_TLS_H

#include <nng/nng.h>

#include <stdbool.h>
#include <stddef.h>

#define BUS_TLS_FILE_MAX (1u << 20) /* cap on a certificate or key file */

/* Borrowed paths; NULL or "" = not given. server_name (dialer only): the
 * name the listener's certificate must carry, instead of the URL's host:
 * dial an address (tls+tcp://10.0.0.5:7001) and check a DNS name, which is
 * also the way around mbedtls' blindness to iPAddress entries. */
struct bus_tls {
	const char *cert;
	const char *key;
	const char *ca;
	const char *server_name;
};

enum bus_tls_end { BUS_TLS_LISTENER, BUS_TLS_DIALER };

/* Does url use NNG's TLS transport ("tls+tcp://", "tls+tcp4://", ...)? */
bool bus_url_is_tls(const char *url);

/* Configuration check, no file opened: do the files fit each other and the
 * URL for this end? cert and key come together or not at all; TLS files
 * with a URL that is not tls+tcp:// are refused (they would be ignored);
 * a listener on tls+tcp:// needs cert and key, a dialer needs ca. flag is
 * the flag prefix the message names ("--bus-tls" gives "--bus-tls-cert").
 * 0, or QM_EINVAL with the reason in err. */
int bus_tls_check(const struct bus_tls *t, const char *url, enum bus_tls_end end, const char *flag,
		  char *err, size_t errlen);

/* For --check-config: load the files given in t (whichever are set) into
 * a TLS configuration for this end, as bus_listen/bus_dial would, and
 * drop it. Blocks on the files. 0, or QM_EINVAL with the reason in err. */
int bus_tls_load_check(const struct bus_tls *t, enum bus_tls_end end, char *err, size_t errlen);

/* Listen on url with sock, TLS-configured from t when url is tls+tcp://
 * (t may be NULL for other URLs). Reads the files (each at most
 * BUS_TLS_FILE_MAX bytes) and binds; blocks only for that.
 * 0; QM_EINVAL (a file cannot be read or parsed, or NNG refuses the URL);
 * QM_EIO (cannot bind). err says which. */
int bus_listen(nng_socket sock, const char *url, const struct bus_tls *t, char *err, size_t errlen);

struct bus_dialer;

/* Start dialing url with sock without waiting (NNG redials forever with the
 * socket's reconnect backoff). For tls+tcp:// the listener's certificate
 * must chain to t->ca and name the URL's host; t->cert/t->key, when given,
 * are presented. While the dialer lives, a handshake that fails
 * verification is logged (event=bus_tls_refused, warn; on NNG's timer
 * thread, at most once a minute while it keeps failing), since NNG itself
 * retries silently. *out is freed with bus_dialer_free() before the socket
 * is closed. 0; QM_EINVAL (URL or files refused; err says which). */
int bus_dial(nng_socket sock, const char *url, const struct bus_tls *t, struct bus_dialer **out,
	     char *err, size_t errlen);

/* Stop the watch (waits for a running check) and free. NULL is fine. The
 * NNG dialer itself goes with the socket. */
void bus_dialer_free(struct bus_dialer *d);

#endif
