/* The REST server's engine: libmicrohttpd (MHD) parses HTTP and moves the
 * bytes, on the coordinator's own loop. MHD runs without threads
 * ("external select") in epoll mode: its epoll descriptor is watched on our
 * loop, MHD_run() is called when it is readable and when the timer taken
 * from MHD_get_timeout() fires, so every MHD callback, and with it every
 * route handler, runs on the loop's thread.
 *
 * We keep the listening socket (so "[::1]:0", port 0 and bind errors stay
 * ours) and accept ourselves: over max_conns a client gets a canned 503
 * before MHD ever sees it; the others are handed to MHD_add_connection().
 *
 * MHD limits used: the per-connection memory pool (sized from max_head, so
 * an over-long request line or head is MHD's 414/431) and the per-connection
 * idle timeout (seconds, rounded up from timeout_ms). MHD has no deadline for
 * a whole request, so each connection has a loop timer: once the request
 * line is in, the rest of the request (head and body) must follow within
 * timeout_ms, and before it two timeouts after the connection became idle
 * are the most a request may take to start and arrive. A connection past
 * its deadline is shut down (MHD then closes it: no answer, as on idle).
 *
 * Everything MHD lets through is judged here before the body is read
 * (request line, header bytes and counts, framing, route, auth, size), so
 * the rules of http.h hold whatever MHD tolerates. */
#include "api/http_int.h"

#include "log.h"
#include "qm_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64             /* accepts per listener wake-up */
#define ACCEPT_PAUSE_MS 100         /* back-off when out of descriptors */
#define WARN_PER_SEC 20u
#define POOL_SLACK (2u << 10)       /* MHD pool beyond max_head: response head */

void http_warn_reject(struct http_server *s, const char *remote, int status,
			const char *why)
{
	uint64_t now = ev_now_ms();
	if (now - s->warn_window >= 1000) {
		s->warn_window = now;
		s->warn_count = 0;
	}
	if (s->warn_count >= WARN_PER_SEC) {
		s->warn_dropped++;
		return;
	}
	s->warn_count++;
	log_warn("http_rejected", "remote=%s status=%d reason=%s suppressed=%u",
		 remote, status, log_qs(why), s->warn_dropped);
	s->warn_dropped = 0;
}


/* ------------------------------------------------------------- MHD on loop */

static void server_destroy(struct http_server *s);
static void mhd_schedule(struct http_server *s);

/* Let MHD do what is ready, then re-arm its timer. A handler that freed the
 * server inside MHD_run() is honoured here, once MHD has returned. */
static void mhd_pump(struct http_server *s)
{
	s->in_mhd = true;
	MHD_run(s->d);
	s->in_mhd = false;
	if (s->dying) {
		server_destroy(s);
		return;
	}
	mhd_schedule(s);
}

static void on_mhd_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct http_server *s = arg;
	s->mhd_timer = 0;
	mhd_pump(s);
}

static void on_mhd_fd(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	mhd_pump(arg);
}

static void mhd_schedule(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	if (s->mhd_timer)
		ev_timer_cancel(s->loop, s->mhd_timer);
	s->mhd_timer = 0;
	if (MHD_get_timeout(s->d, &t) == MHD_YES)
		s->mhd_timer = ev_timer_add(s->loop, (uint64_t)t, on_mhd_timer, s);
}

/* MHD's format strings are its own (MHD_OPTION_EXTERNAL_LOGGER) */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("http_mhd", "msg=%s", log_qs(msg));
}

/* Paths are not percent-decoded (http.h): MHD's unescaping is a no-op. */
static size_t unescape_none(void *cls, struct MHD_Connection *mc, char *s)
{
	(void)cls;
	(void)mc;
	return strlen(s);
}

/* ------------------------------------------------------------ connections */

static void on_conn_timer(struct ev_loop *loop, void *arg);

/* One timer per connection, re-armed lazily: moving the deadline later
 * costs nothing (the timer re-arms itself when it fires early). */
static void conn_deadline(struct conn *c, uint64_t deadline)
{
	c->deadline = deadline;
	c->receiving = true;
	if (c->timer_id && c->timer_due <= deadline)
		return;
	if (c->timer_id)
		ev_timer_cancel(c->srv->loop, c->timer_id);
	uint64_t now = ev_now_ms();
	c->timer_due = deadline;
	c->timer_id = ev_timer_add(c->srv->loop, deadline > now ? deadline - now : 0,
				   on_conn_timer, c);
}

/* The connection waits for its next request: two timeouts for it to start
 * (MHD closes it silently after one of silence) and arrive. */
static void conn_idle(struct conn *c)
{
	conn_deadline(c, ev_now_ms() + 2 * (uint64_t)c->srv->lim.timeout_ms);
}

static void on_conn_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct conn *c = arg;
	c->timer_id = 0;
	if (!c->receiving)
		return;
	if (ev_now_ms() < c->deadline) {
		conn_deadline(c, c->deadline);
		return;
	}
	/* MHD cannot be told to answer now; a shut-down socket makes it close
	 * the connection on its next run (the epoll descriptor wakes us) */
	http_warn_reject(c->srv, c->remote, 408, "request timeout");
	c->receiving = false;
	shutdown(c->fd, SHUT_RDWR);
}

static void req_free(struct req *rq)
{
	if (!rq)
		return;
	if (rq->c && rq->c->rq == rq)
		rq->c->rq = NULL;
	free(rq->target);
	free(rq->body);
	free(rq->hdrs);
	free(rq->hbuf);
	free(rq);
}

static void on_conn_notify(void *cls, struct MHD_Connection *mc, void **sock_ctx,
			   enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct conn *c = *sock_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = qm_calloc(1, sizeof *c);
		c->srv = s;
		c->mc = mc;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? ci->connect_fd : -1;
		c->linger_fd = c->fd >= 0 ? fcntl(c->fd, F_DUPFD_CLOEXEC, 0) : -1;
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		http_format_remote(ci ? ci->client_addr : NULL, c->remote, sizeof c->remote);
		MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned)((s->lim.timeout_ms + 999) / 1000));
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		*sock_ctx = c;
		conn_idle(c);
		return;
	}
	if (!c)
		return;
	*sock_ctx = NULL;
	if (c->timer_id)
		ev_timer_cancel(s->loop, c->timer_id);
	/* A request MHD still holds here never reached our handler (MHD
	 * reports a request completed before it reports its connection
	 * closed, and only one it handed to us): MHD dropped it after the
	 * request line -- a pool too small for its query, an EOF before the
	 * head was whole -- and will not give its context back. */
	req_free(c->rq);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->linger_fd >= 0)
		http_linger_start(s, c->linger_fd);
	free(c);
}

/* MHD has a request line: the request begins. Its raw target is kept here
 * (MHD hands the handler a split, unescaped one). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *c = ci ? ci->socket_context : NULL;
	struct req *rq = qm_calloc(1, sizeof *rq);
	rq->target = qm_strdup(uri ? uri : "");
	char *q = strchr(rq->target, '?');
	if (q)
		*q++ = '\0';
	rq->query = q ? q : "";
	rq->t_start = ev_now_ms();
	snprintf(rq->who, sizeof rq->who, "-");
	if (c) {
		req_free(c->rq); /* one MHD refused before it reached us */
		c->rq = rq;
		rq->c = c;
		uint64_t due = rq->t_start + s->lim.timeout_ms;
		conn_deadline(c, due < c->deadline ? due : c->deadline);
	}
	return rq;
}

bool http_is_read_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_ctx,
			 enum MHD_RequestTerminationCode toe)
{
	(void)mc;
	struct http_server *s = cls;
	struct req *rq = *req_ctx;
	*req_ctx = NULL;
	if (!rq)
		return;
	struct conn *c = rq->c;
	const char *remote = c ? c->remote : "-";
	if (rq->answered && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN) {
		log_debug("http_request", "remote=%s method=%s path=%s status=%d ok=%s ms=%llu",
			  remote, log_qs(rq->method), log_qs(rq->target), rq->status,
			  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "true" : "false",
			  (unsigned long long)(ev_now_ms() - rq->t_start));
		/* every call to a mutating route, answered or refused */
		if (s->audit && rq->route && !http_is_read_method(rq->method))
			s->audit(s->audit_ctx, remote, rq->who, rq->method, rq->target,
				 rq->body ? rq->body : "", rq->body_len, rq->status);
	}
	req_free(rq);
	if (c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_idle(c);
}

/* -------------------------------------------------------------- answering */

/* Hand r (its body or file is taken) to MHD as the answer to rq. */
static enum MHD_Result queue(struct req *rq, struct http_response *r)
{
	struct MHD_Response *m;
	bool no_body = r->status == 204 || r->status == 304;
	if (r->fd >= 0 && !no_body) {
		m = MHD_create_response_from_fd((uint64_t)r->file_size, r->fd);
		if (m)
			r->fd = -1; /* MHD's now */
	} else if (r->body_len && !no_body) {
		m = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
		if (m)
			r->body = NULL;
	} else {
		m = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	if (!m) {
		http_resp_reset(r);
		return MHD_NO;
	}
	if (r->ctype)
		MHD_add_response_header(m, "Content-Type", r->ctype);
	if (r->no_store)
		MHD_add_response_header(m, "Cache-Control", "no-store");
	/* handler headers: "Name: value\r\n", checked by http_response_header() */
	char *e = r->extra ? r->extra + r->extra_len : NULL;
	for (char *p = r->extra; p && p < e;) {
		char *colon = memchr(p, ':', (size_t)(e - p));
		char *crlf = colon ? memchr(colon, '\r', (size_t)(e - colon)) : NULL;
		if (!crlf)
			break;
		*colon = '\0';
		*crlf = '\0';
		MHD_add_response_header(m, p, colon + 2);
		p = crlf + 2;
	}
	if (!rq->keep_alive)
		MHD_add_response_header(m, "Connection", "close");
	rq->status = r->status;
	rq->answered = true;
	if (rq->c)
		rq->c->receiving = false;
	http_resp_reset(r);
	enum MHD_Result rv = MHD_queue_response(rq->c->mc, (unsigned)rq->status, m);
	MHD_destroy_response(m);
	return rv;
}

/* An answer made by the server itself; it always closes the connection
 * (the request stream cannot be trusted, and an unread body may follow). */
enum MHD_Result http_reply_error(struct req *rq, int status, const char *msg,
				   const char *hname, const char *hvalue)
{
	struct http_response r = {.max_response = SIZE_MAX, .fd = -1, .open = true};
	http_respond_error(&r, status, msg);
	if (hname)
		http_response_header(&r, hname, hvalue);
	r.open = false;
	rq->keep_alive = false;
	return queue(rq, &r);
}

enum MHD_Result http_reject(struct req *rq, int status, const char *msg)
{
	http_warn_reject(rq->c->srv, rq->c->remote, status, msg);
	return http_reply_error(rq, status, msg, NULL, NULL);
}

static enum MHD_Result dispatch(struct req *rq)
{
	struct conn *c = rq->c;
	struct http_server *s = c->srv;
	if (!rq->body)
		rq->body = qm_calloc(1, 1);
	rq->body[rq->body_len] = '\0';
	struct http_request req = {
		.method = rq->method,
		.path = rq->target,
		.query = rq->query,
		.body = rq->body,
		.body_len = rq->body_len,
		.remote = c->remote,
		.http_minor = rq->minor,
		.hdrs_ = rq->hdrs,
		.nhdrs_ = rq->nhdrs,
	};
	struct http_response r = {.max_response = s->lim.max_response, .fd = -1, .open = true};
	rq->route->handler(&req, &r, s->ctx);
	r.open = false;
	if (s->dying) {
		/* the handler freed the server: its answer is not sent */
		http_resp_reset(&r);
		return MHD_NO;
	}
	if (!r.answered || r.failed) {
		log_warn("http_handler_failed", "method=%s path=%s why=%s", log_qs(req.method),
			 log_qs(req.path), r.answered ? "bad_response" : "no_response");
		http_resp_reset(&r);
		r.open = true;
		http_respond_error(&r, 500, "internal error");
		r.open = false;
	}
	return queue(rq, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_ctx)
{
	(void)url; /* split and unescaped; the raw target is in rq */
	struct http_server *s = cls;
	struct req *rq = *req_ctx;
	if (s->dying || !rq || !rq->c)
		return MHD_NO;
	if (!rq->judged) {
		rq->judged = true;
		return http_judge(rq, mc, method, version);
	}
	if (rq->answered) {
		*upload_size = 0; /* refused: what still arrives is dropped */
		return MHD_YES;
	}
	if (*upload_size) {
		if (*upload_size > rq->clen - rq->body_len)
			return MHD_NO; /* MHD frames by Content-Length; never */
		memcpy(rq->body + rq->body_len, upload, *upload_size);
		rq->body_len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(rq);
}

/* -------------------------------------------------------------- listener */

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg);

static void resume_accept(struct ev_loop *loop, void *arg)
{
	struct http_server *s = arg;
	s->resume_timer = 0;
	ev_fd_mod(loop, s->fd, EV_READ);
}

/* Over the cap: a canned answer, best effort, and close. */
static void refuse_busy(struct http_server *s, int cfd, const struct sockaddr *sa)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 32\r\n"
				   "Cache-Control: no-store\r\n"
				   "Connection: close\r\n\r\n"
				   "{\"error\":\"too many connections\"}";
	char remote[64];
	http_format_remote(sa, remote, sizeof remote);
	http_warn_reject(s, remote, 503, "too many connections");
	if (s->tls_cert) {
		close(cfd); /* no handshake for a refused client */
		return;
	}
	ssize_t w = send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	/* unread input makes close() send a reset that may destroy the answer,
	 * so swallow what has already arrived */
	char sink[4096];
	for (int k = 0; k < 4 && recv(cfd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++)
		;
	close(cfd);
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)events;
	struct http_server *s = arg;
	bool added = false;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int e = errno;
			if (e == EINTR || e == ECONNABORTED || e == EPROTO)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK)
				break;
			/* out of descriptors or memory: a level-triggered listener
			 * would spin, so pause it briefly */
			log_warn("http_accept_failed", "errno=%d pause_ms=%d", e, ACCEPT_PAUSE_MS);
			if (!s->resume_timer) {
				ev_fd_mod(loop, fd, 0);
				s->resume_timer = ev_timer_add(loop, ACCEPT_PAUSE_MS, resume_accept, s);
			}
			break;
		}
		if (s->nconns >= s->lim.max_conns) {
			refuse_busy(s, cfd, (struct sockaddr *)&ss);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* MHD owns (and on failure closes) the socket from here */
		if (MHD_add_connection(s->d, cfd, (struct sockaddr *)&ss, sl) != MHD_YES)
			log_warn("http_add_connection_failed", "errno=%d", errno);
		added = true;
	}
	if (added)
		mhd_pump(s);
}

/* ----------------------------------------------------------------- daemon */

/* A daemon for the current limits and TLS pair, not yet watched. NULL if
 * MHD refuses (a TLS pair it cannot load). */
static struct MHD_Daemon *daemon_new(struct http_server *s, const char *cert,
				     const char *key)
{
	unsigned flags = MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	size_t pool = s->lim.max_head + POOL_SLACK;
	unsigned secs = (s->lim.timeout_ms + 999) / 1000;
	/* our own cap is checked at accept; MHD's is only a backstop */
	unsigned conns = s->lim.max_conns + 16;
	if (cert)
		return MHD_start_daemon(
			flags | MHD_USE_TLS, 0, NULL, NULL, on_request, s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_CONNECTION_LIMIT,
			conns, MHD_OPTION_CONNECTION_TIMEOUT, secs,
			MHD_OPTION_NOTIFY_CONNECTION, on_conn_notify, s,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK,
			on_uri, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, s,
			MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
			MHD_OPTION_HTTPS_MEM_CERT,
			cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
				MHD_OPTION_CONNECTION_LIMIT, conns, MHD_OPTION_CONNECTION_TIMEOUT,
				secs, MHD_OPTION_NOTIFY_CONNECTION, on_conn_notify, s,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, s,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
}

/* Stop MHD (closing every connection it holds) and forget its watches. */
static void daemon_stop(struct http_server *s)
{
	if (!s->d)
		return;
	ev_fd_del(s->loop, s->mhd_fd);
	if (s->mhd_timer)
		ev_timer_cancel(s->loop, s->mhd_timer);
	s->mhd_timer = 0;
	MHD_stop_daemon(s->d);
	s->d = NULL;
}

/* Replace the daemon by one for the current settings; connections the old
 * one held are closed. 0, QM_EINVAL (MHD refused the TLS pair) or QM_EIO. */
static int daemon_restart(struct http_server *s, const char *cert, const char *key)
{
	struct MHD_Daemon *d = daemon_new(s, cert, key);
	if (!d)
		return cert ? QM_EINVAL : QM_EIO;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	int efd = di ? di->epoll_fd : -1;
	daemon_stop(s);
	if (efd < 0 || ev_fd_add(s->loop, efd, EV_READ, on_mhd_fd, s) != 0) {
		MHD_stop_daemon(d);
		return QM_EIO;
	}
	s->d = d;
	s->mhd_fd = efd;
	return 0;
}

static const struct http_limits default_limits = {
	.max_head = HTTP_DEFAULT_MAX_HEAD,
	.max_body = HTTP_DEFAULT_MAX_BODY,
	.max_response = HTTP_DEFAULT_MAX_RESPONSE,
	.max_conns = HTTP_DEFAULT_MAX_CONNS,
	.timeout_ms = HTTP_DEFAULT_TIMEOUT_MS,
};

struct http_server *http_server_new(struct ev_loop *loop, const char *addr,
				    const struct http_route *routes, size_t nroutes,
				    void *ctx, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	*err = QM_EINVAL;
	if (!loop || (nroutes && !routes))
		return NULL;
	for (size_t i = 0; i < nroutes; i++) {
		const struct http_route *r = &routes[i];
		if (!http_is_token(r->method) || strlen(r->method) > HTTP_MAX_METHOD ||
		    !r->path || r->path[0] != '/' || !r->handler) {
			log_error("http_bad_route", "index=%zu", i);
			return NULL;
		}
	}
	uint16_t port;
	int fd = http_listen_on(addr, &port, err);
	if (fd < 0)
		return NULL;
	struct http_server *s = qm_calloc(1, sizeof *s);
	s->loop = loop;
	s->fd = fd;
	s->port = port;
	s->routes = routes;
	s->nroutes = nroutes;
	s->ctx = ctx;
	s->lim = default_limits;
	*err = daemon_restart(s, NULL, NULL);
	if (*err == 0 && ev_fd_add(loop, fd, EV_READ, on_accept, s) != 0)
		*err = QM_EIO;
	if (*err) {
		log_error("http_start_failed", "addr=%s", log_qs(addr));
		daemon_stop(s);
		close(fd);
		free(s);
		*err = QM_EIO;
		return NULL;
	}
	log_info("http_listening", "addr=%s port=%u", log_qs(addr), port);
	return s;
}

static void server_destroy(struct http_server *s)
{
	/* listener first: once a client sees its connection closed, new
	 * connections are refused */
	if (s->fd >= 0) {
		ev_fd_del(s->loop, s->fd);
		close(s->fd);
	}
	if (s->resume_timer)
		ev_timer_cancel(s->loop, s->resume_timer);
	s->dying = true; /* nothing is audited or answered from here */
	daemon_stop(s);
	http_linger_stop_all(s);
	if (s->own_auth)
		auth_free(s->auth);
	free(s->tls_cert);
	if (s->tls_key)
		explicit_bzero(s->tls_key, strlen(s->tls_key));
	free(s->tls_key);
	free(s);
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->in_mhd) {
		/* the rest once MHD_run() returns; new clients are refused now */
		s->dying = true;
		ev_fd_del(s->loop, s->fd);
		close(s->fd);
		s->fd = -1;
		return;
	}
	server_destroy(s);
}

uint16_t http_server_port(const struct http_server *s)
{
	return s ? s->port : 0;
}

int http_server_set_tls(struct http_server *s, const char *cert_pem, const char *key_pem)
{
	if (!s || !cert_pem || !key_pem || s->in_mhd)
		return QM_EINVAL;
	int rv = daemon_restart(s, cert_pem, key_pem);
	if (rv) {
		log_error("http_tls_refused", "why=%s", "MHD could not load the certificate and key");
		return rv;
	}
	free(s->tls_cert);
	if (s->tls_key)
		explicit_bzero(s->tls_key, strlen(s->tls_key));
	free(s->tls_key);
	s->tls_cert = qm_strdup(cert_pem);
	s->tls_key = qm_strdup(key_pem);
	return 0;
}

int http_tls_check(const char *cert_pem, const char *key_pem)
{
	if (!cert_pem || !key_pem || MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return QM_EINVAL;
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_NO_LISTEN_SOCKET | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_HTTPS_MEM_CERT,
		cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_END);
	if (!d)
		return QM_EINVAL;
	MHD_stop_daemon(d);
	return 0;
}

int http_server_set_token(struct http_server *s, const char *token)
{
	if (!s)
		return QM_EINVAL;
	struct auth_tokens t = { 0 };
	if (token && *token && auth_tokens_single(token, &t, NULL, 0) != 0)
		return QM_EINVAL;
	if (s->own_auth)
		auth_free(s->auth);
	s->auth = NULL;
	s->own_auth = false;
	if (t.n) {
		s->auth = auth_new();
		s->own_auth = true;
		auth_set_tokens(s->auth, &t);
	}
	return 0;
}

void http_server_set_auth(struct http_server *s, struct auth *a)
{
	if (s->own_auth)
		auth_free(s->auth);
	s->auth = a;
	s->own_auth = false;
}

void http_server_set_audit(struct http_server *s, http_audit_fn fn, void *ctx)
{
	s->audit = fn;
	s->audit_ctx = ctx;
}

int http_server_set_limits(struct http_server *s, const struct http_limits *in)
{
	if (!s || !in)
		return QM_EINVAL;
	struct http_limits l = *in;
	if (!l.max_head)
		l.max_head = HTTP_DEFAULT_MAX_HEAD;
	if (!l.max_body)
		l.max_body = HTTP_DEFAULT_MAX_BODY;
	if (!l.max_response)
		l.max_response = HTTP_DEFAULT_MAX_RESPONSE;
	if (!l.max_conns)
		l.max_conns = HTTP_DEFAULT_MAX_CONNS;
	if (!l.timeout_ms)
		l.timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
	if (l.max_head < 256 || l.max_head > (1u << 20) || l.max_body > (1u << 30) ||
	    l.max_response > (1u << 30) || l.max_conns > 65536 || l.timeout_ms < 10 ||
	    l.timeout_ms > 3600000)
		return QM_EINVAL;
	bool restart = l.max_head != s->lim.max_head || l.timeout_ms != s->lim.timeout_ms ||
		       l.max_conns != s->lim.max_conns;
	struct http_limits old = s->lim;
	s->lim = l;
	/* MHD takes its pool size, timeout and connection cap at start (meant to
	 * happen before the first connection; never from inside MHD) */
	if (restart && !s->in_mhd && daemon_restart(s, s->tls_cert, s->tls_key) != 0) {
		s->lim = old;
		return QM_EIO;
	}
	return 0;
}

