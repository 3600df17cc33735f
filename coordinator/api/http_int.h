/* Private to coordinator/api/http*.c: what the engine (http.c, libmicrohttpd
 * on our loop) and the request/response side (http_routes.c: answering,
 * routing, accessors) share. Nothing here is part of the http.h contract. */
#ifndef QM_HTTP_INT_H
#define QM_HTTP_INT_H

#include "api/http.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HTTP_MAX_EXTRA_HEADERS 4096u /* handler-added response headers */
#define HTTP_MAX_METHOD 32

struct http_hdr {
	const char *name;
	const char *value;
};

struct http_response {
	size_t max_response;
	bool open;      /* inside the handler: answering allowed */
	bool answered;
	bool failed;    /* answer with 500 instead */
	int status;
	char *ctype;
	char *body;     /* malloc'd, body_len bytes */
	size_t body_len;
	int fd;         /* file to stream, -1 if none */
	uint64_t file_size;
	bool no_store;
	char *extra;    /* "Name: value\r\n"..., at most HTTP_MAX_EXTRA_HEADERS */
	size_t extra_len;
};

/* Free what r holds and make it empty (fd -1), keeping max_response. */
void http_resp_reset(struct http_response *r);

bool http_is_token(const char *s);
/* Printable ASCII plus SP/HTAB, at most max bytes. */
bool http_is_field_text(const char *s, size_t max);
/* Whether the comma-separated list holds tok (case-insensitive). */
bool http_has_token(const char *list, const char *tok);

/* The most specific route for (method, path): 0 with *out, or 404, or 405
 * with the Allow list in allow (cap bytes). HEAD matches a GET route. */
int http_route_find(const struct http_route *routes, size_t n, const char *method,
		    const char *path, const struct http_route **out, char *allow,
		    size_t cap);

/* --- the engine's state (http.c owns it) ------------------------------ */

/* One request, made when MHD has its request line (URI log callback). */
struct req {
	struct conn *c;
	char *target;                 /* raw request target, split at '?' */
	const char *query;
	bool judged;                  /* the head was checked */
	bool answered;                /* a response is queued */
	bool keep_alive;
	const struct http_route *route;
	char *body;                   /* clen + 1 bytes */
	size_t clen, body_len;
	struct http_hdr *hdrs;        /* trimmed copies, in hbuf */
	size_t nhdrs;
	char *hbuf;
	int status;
	int minor;                    /* HTTP/1.0 or 1.1 */
	uint64_t t_start;
	char method[HTTP_MAX_METHOD + 1];
	char who[AUTH_NAME_MAX + 1];  /* the token's name, "-" without one */
};

/* One TCP connection (MHD's socket context). */
struct conn {
	struct http_server *srv;
	struct conn *prev, *next;
	struct MHD_Connection *mc;
	int fd;
	char remote[64];
	struct req *rq;               /* the request in progress, if any */
	int linger_fd;                /* a dup of fd, for the lingering close */
	bool receiving;               /* the deadline applies */
	uint64_t deadline, timer_id, timer_due;
};

struct http_server {
	struct ev_loop *loop;
	int fd;                       /* listener */
	uint16_t port;
	struct MHD_Daemon *d;
	int mhd_fd;                   /* MHD's epoll descriptor, watched */
	uint64_t mhd_timer;
	uint64_t resume_timer;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	struct auth *auth;            /* NULL: every route open */
	bool own_auth;                /* made by http_server_set_token */
	http_audit_fn audit;
	void *audit_ctx;
	struct http_limits lim;
	char *tls_cert, *tls_key;     /* PEM, NULL: plain HTTP */
	struct conn *conns;
	unsigned nconns;
	struct http_linger *lingering; /* closed by MHD, still being drained */
	uint64_t warn_window;
	unsigned warn_count, warn_dropped;
	bool in_mhd, dying;
};

/* The lingering close of a connection MHD has let go (http_listen.c):
 * takes fd, a dup of its socket; shuts its write side and drops what still
 * arrives, for a bounded time and size, then closes it. */
void http_linger_start(struct http_server *s, int fd);
/* Closes every lingering socket now (the server goes away). */
void http_linger_stop_all(struct http_server *s);

/* One "http_rejected" warning, at most WARN_PER_SEC a second. */
void http_warn_reject(struct http_server *s, const char *remote, int status,
		      const char *why);
bool http_is_read_method(const char *m);

/* Queue a JSON error (and one extra header) as rq's answer, closing the
 * connection afterwards; http_reject() also logs it. For MHD callbacks. */
enum MHD_Result http_reply_error(struct req *rq, int status, const char *msg,
				 const char *hname, const char *hvalue);
enum MHD_Result http_reject(struct req *rq, int status, const char *msg);

/* http_judge.c: the first access-handler call of a request (head complete,
 * body unread). Either queues a refusal or prepares rq for its body. */
enum MHD_Result http_judge(struct req *rq, struct MHD_Connection *mc, const char *method,
			   const char *version);

/* Whether MHD loads the PEM pair (a throwaway daemon). 0 or QM_EINVAL. */
int http_tls_check(const char *cert_pem, const char *key_pem);

/* http_listen.c */
void http_format_remote(const struct sockaddr *sa, char *out, size_t cap);
/* A bound, listening, non-blocking socket for addr "HOST:PORT" (http.h);
 * -1 with *err QM_EINVAL (bad address) or QM_EIO (logged). */
int http_listen_on(const char *addr, uint16_t *port, int *err);

#endif
