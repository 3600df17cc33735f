#include "bus_tls.h"

#include "clock.h"
#include "log.h"
#include "qm_error.h"

#include <nng/supplemental/tls/tls.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MS     1000  /* how often a dialer's failures are looked at */
#define LOG_EVERY_MS 60000 /* repeat a refusal line at most this often */

static bool set(const char *s)
{
	return s && s[0];
}

bool bus_url_is_tls(const char *url)
{
	return url && strncmp(url, "tls+tcp", 7) == 0 &&
	       (strncmp(url + 7, "://", 3) == 0 || strncmp(url + 7, "4://", 4) == 0 ||
		strncmp(url + 7, "6://", 4) == 0);
}

int bus_tls_check(const struct bus_tls *t, const char *url, enum bus_tls_end end, const char *flag,
		  char *err, size_t errlen)
{
	bool cert = set(t->cert), key = set(t->key), ca = set(t->ca);
	if (cert != key)
		return qm_fail(err, errlen, QM_EINVAL, "%s-%s needs %s-%s", flag,
			       cert ? "cert" : "key", flag, cert ? "key" : "cert");
	bool tls = bus_url_is_tls(url);
	if (set(t->server_name) && (end != BUS_TLS_DIALER || !tls))
		return qm_fail(err, errlen, QM_EINVAL,
			       "%s-server-name is for a prober dialing a tls+tcp:// bus", flag);
	if (!tls) {
		if (cert || ca)
			return qm_fail(err, errlen, QM_EINVAL,
				       "%s-* given but the bus URL %s is not tls+tcp://", flag,
				       url ? url : "(none)");
		return 0;
	}
	if (end == BUS_TLS_LISTENER && !cert)
		return qm_fail(err, errlen, QM_EINVAL,
			       "a tls+tcp:// bus (%s) needs %s-cert and %s-key", url, flag, flag);
	if (end == BUS_TLS_DIALER && !ca)
		return qm_fail(err, errlen, QM_EINVAL,
			       "a tls+tcp:// bus (%s) needs %s-ca (the CA that signed the "
			       "coordinator's certificate)",
			       url, flag);
	return 0;
}

/* The whole file as a NUL-terminated string (what mbedtls' PEM parser
 * wants), at most BUS_TLS_FILE_MAX bytes. Caller wipes and frees. */
static int read_pem(const char *path, char **out, char *err, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return qm_fail(err, errlen, QM_EINVAL, "cannot read %s: %s", path, strerror(errno));
	char *buf = qm_malloc(BUS_TLS_FILE_MAX + 1);
	size_t n = 0;
	int rv = 0;
	while (n < BUS_TLS_FILE_MAX + 1) {
		ssize_t r = read(fd, buf + n, BUS_TLS_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rv = qm_fail(err, errlen, QM_EINVAL, "cannot read %s: %s", path,
				     strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rv == 0 && n > BUS_TLS_FILE_MAX)
		rv = qm_fail(err, errlen, QM_EINVAL, "%s is larger than %u bytes", path,
			     BUS_TLS_FILE_MAX);
	if (rv) {
		explicit_bzero(buf, BUS_TLS_FILE_MAX + 1);
		free(buf);
		return rv;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int own_cert(nng_tls_config *cfg, const struct bus_tls *t, char *err, size_t errlen)
{
	char *cert = NULL, *key = NULL;
	int rv = read_pem(t->cert, &cert, err, errlen);
	if (rv == 0)
		rv = read_pem(t->key, &key, err, errlen);
	if (rv == 0) {
		int nrv = nng_tls_config_own_cert(cfg, cert, key, NULL);
		if (nrv != 0)
			rv = qm_fail(err, errlen, QM_EINVAL,
				     "certificate %s with key %s refused: %s", t->cert, t->key,
				     nng_strerror(nrv));
	}
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return rv;
}

static int load_ca(nng_tls_config *cfg, const char *path, char *err, size_t errlen)
{
	int nrv = nng_tls_config_ca_file(cfg, path);
	if (nrv != 0)
		return qm_fail(err, errlen, QM_EINVAL, "CA file %s refused: %s", path,
			       nng_strerror(nrv));
	return 0;
}

/* The TLS configuration for one end; NULL with err filled on failure. */
static nng_tls_config *make_config(const struct bus_tls *t, enum bus_tls_end end, const char *host,
				   char *err, size_t errlen)
{
	nng_tls_config *cfg;
	int nrv = nng_tls_config_alloc(&cfg, end == BUS_TLS_LISTENER ? NNG_TLS_MODE_SERVER
								     : NNG_TLS_MODE_CLIENT);
	if (nrv != 0) {
		qm_fail(err, errlen, QM_EINVAL, "no TLS in this NNG (%s, engine %s)",
			nng_strerror(nrv), nng_tls_engine_name());
		return NULL;
	}
	int rv = 0;
	if (set(t->cert) != set(t->key))
		rv = qm_fail(err, errlen, QM_EINVAL,
			     "a certificate needs its key, a key its certificate");
	else if (set(t->cert))
		rv = own_cert(cfg, t, err, errlen);
	if (rv == 0 && set(t->ca)) {
		rv = load_ca(cfg, t->ca, err, errlen);
		if (rv == 0 &&
		    (nrv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
			rv = qm_fail(err, errlen, QM_EINVAL, "TLS auth mode: %s",
				     nng_strerror(nrv));
	}
	if (end == BUS_TLS_DIALER && set(t->server_name))
		host = t->server_name;
	if (rv == 0 && end == BUS_TLS_DIALER && (nrv = nng_tls_config_server_name(cfg, host)) != 0)
		rv = qm_fail(err, errlen, QM_EINVAL, "TLS server name %s: %s", host,
			     nng_strerror(nrv));
	if (rv) {
		nng_tls_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int bus_tls_load_check(const struct bus_tls *t, enum bus_tls_end end, char *err, size_t errlen)
{
	nng_tls_config *cfg = make_config(t, end, "localhost", err, errlen);
	if (!cfg)
		return QM_EINVAL;
	nng_tls_config_free(cfg);
	return 0;
}

int bus_listen(nng_socket sock, const char *url, const struct bus_tls *t, char *err, size_t errlen)
{
	if (!bus_url_is_tls(url)) {
		int nrv = nng_listen(sock, url, NULL, 0);
		if (nrv != 0)
			return qm_fail(err, errlen, nrv == NNG_EADDRINUSE ? QM_EIO : QM_EINVAL,
				       "cannot listen on %s: %s", url, nng_strerror(nrv));
		return 0;
	}
	static const struct bus_tls none;
	int rv = bus_tls_check(t ? t : &none, url, BUS_TLS_LISTENER, "--bus-tls", err, errlen);
	if (rv)
		return rv;
	nng_listener l;
	int nrv = nng_listener_create(&l, sock, url);
	if (nrv != 0)
		return qm_fail(err, errlen, QM_EINVAL, "cannot listen on %s: %s", url,
			       nng_strerror(nrv));
	nng_tls_config *cfg = make_config(t, BUS_TLS_LISTENER, NULL, err, errlen);
	if (!cfg) {
		nng_listener_close(l);
		return QM_EINVAL;
	}
	/* the listener holds its own reference */
	nrv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg);
	if (nrv == 0 && (nrv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return qm_fail(err, errlen, QM_EIO, "cannot listen on %s: %s", url,
			       nng_strerror(nrv));
	}
	if (nrv != 0) {
		nng_listener_close(l);
		return qm_fail(err, errlen, QM_EINVAL, "TLS on %s: %s", url, nng_strerror(nrv));
	}
	return 0;
}

/* ---- the dialer and its watch ------------------------------------------ */

struct bus_dialer {
	nng_dialer d;
	nng_aio *watch; /* NULL: not TLS, nothing to watch */
	char *url;
	char *ca;
	uint64_t seen;      /* verification failures already accounted for */
	uint64_t logged_ms; /* when the last line went out; 0 = never */
};

/* NNG counts a dialer's failed attempts by kind; a handshake whose peer
 * certificate does not verify is an "auth" failure (NNG_EPEERAUTH /
 * NNG_ECRYPTO). 0 when statistics are unavailable. */
static uint64_t auth_failures(nng_dialer d)
{
	nng_stat *all;
	if (nng_stats_get(&all) != 0)
		return 0;
	uint64_t v = 0;
	nng_stat *ds = nng_stat_find_dialer(all, d);
	nng_stat *s = ds ? nng_stat_find(ds, "auth") : NULL;
	if (s)
		v = nng_stat_value(s);
	nng_stats_free(all);
	return v;
}

/* NNG's timer thread; touches only the dialer's own fields. */
static void on_watch(void *arg)
{
	struct bus_dialer *bd = arg;
	int r = nng_aio_result(bd->watch);
	if (r != 0 && r != NNG_ETIMEDOUT)
		return; /* stopped */
	uint64_t n = auth_failures(bd->d);
	if (n > bd->seen) {
		uint64_t now = clock_mono_ms();
		if (bd->logged_ms == 0 || now - bd->logged_ms >= LOG_EVERY_MS) {
			log_warn("bus_tls_refused",
				 "url=%s ca=%s failures=%llu reason=\"the coordinator's "
				 "certificate does not verify against --bus-tls-ca or does "
				 "not name the URL's host\"",
				 log_qs(bd->url), log_qs(bd->ca), (unsigned long long)n);
			bd->logged_ms = now;
		}
		bd->seen = n;
	}
	nng_sleep_aio(WATCH_MS, bd->watch);
}

static void dialer_release(struct bus_dialer *bd)
{
	free(bd->url);
	free(bd->ca);
	free(bd);
}

int bus_dial(nng_socket sock, const char *url, const struct bus_tls *t, struct bus_dialer **out,
	     char *err, size_t errlen)
{
	*out = NULL;
	struct bus_dialer *bd = qm_calloc(1, sizeof *bd);
	bd->url = qm_strdup(url);
	int nrv;
	if (!bus_url_is_tls(url)) {
		/* non-blocking: start-up never waits for the coordinator; a
		 * refused first attempt is retried like any later one */
		if ((nrv = nng_dial(sock, url, &bd->d, NNG_FLAG_NONBLOCK)) != 0) {
			dialer_release(bd);
			return qm_fail(err, errlen, QM_EINVAL, "cannot dial %s: %s", url,
				       nng_strerror(nrv));
		}
		*out = bd;
		return 0;
	}
	static const struct bus_tls none;
	int rv = bus_tls_check(t ? t : &none, url, BUS_TLS_DIALER, "--bus-tls", err, errlen);
	if (rv) {
		dialer_release(bd);
		return rv;
	}
	nng_url *u;
	if ((nrv = nng_url_parse(&u, url)) != 0) {
		dialer_release(bd);
		return qm_fail(err, errlen, QM_EINVAL, "cannot dial %s: %s", url,
			       nng_strerror(nrv));
	}
	nng_tls_config *cfg = make_config(t, BUS_TLS_DIALER, u->u_hostname, err, errlen);
	nng_url_free(u);
	if (!cfg) {
		dialer_release(bd);
		return QM_EINVAL;
	}
	bd->ca = qm_strdup(t->ca);
	if ((nrv = nng_dialer_create(&bd->d, sock, url)) != 0) {
		nng_tls_config_free(cfg);
		dialer_release(bd);
		return qm_fail(err, errlen, QM_EINVAL, "cannot dial %s: %s", url,
			       nng_strerror(nrv));
	}
	if ((nrv = nng_dialer_set_ptr(bd->d, NNG_OPT_TLS_CONFIG, cfg)) == 0)
		nrv = nng_dialer_start(bd->d, NNG_FLAG_NONBLOCK);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (nrv == 0 && nng_aio_alloc(&bd->watch, on_watch, bd) != 0)
		qm_oom();
	if (nrv != 0) {
		nng_dialer_close(bd->d);
		dialer_release(bd);
		return qm_fail(err, errlen, QM_EINVAL, "cannot dial %s: %s", url,
			       nng_strerror(nrv));
	}
	nng_sleep_aio(WATCH_MS, bd->watch);
	*out = bd;
	return 0;
}

void bus_dialer_free(struct bus_dialer *bd)
{
	if (!bd)
		return;
	if (bd->watch) {
		nng_aio_stop(bd->watch);
		nng_aio_free(bd->watch);
	}
	dialer_release(bd);
}
