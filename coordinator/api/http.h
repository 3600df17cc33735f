/* A small, hardened HTTP/1.1 (and HTTPS) server on the coordinator's evloop,
 * so REST handlers run on the one thread that owns all state and need no
 * locks. It serves a route table (method, path, handler, needs-auth) and
 * nothing else: no chunked request bodies, no virtual hosts. The engine is
 * libmicrohttpd (MHD) in external-select epoll mode, driven from the loop
 * (http.c); TLS through MHD as well (http_server_set_tls).
 *
 * Connections: HTTP/1.1 keep-alive (pipelined requests are answered in
 * order); "Connection: close", HTTP/1.0 and every error response close the
 * connection after the response.
 *
 * Bounds (struct http_limits): request line + headers (MHD's per-connection
 * memory pool and our own count), request body, in-memory response body,
 * concurrent connections (one over the cap gets a canned 503 and is closed;
 * over TLS it is just closed), and time:
 *  - a connection with nothing arriving or leaving for `timeout_ms` (MHD
 *    counts whole seconds, rounded up) is closed silently;
 *  - a request must arrive completely (head and body) within `timeout_ms`
 *    of its request line, and within twice that of the moment the
 *    connection became idle. The deadline does not move when bytes trickle
 *    in; a request past it is cut off: the connection is closed without an
 *    answer (MHD cannot be made to answer mid-request);
 *  - a response must make progress at least every `timeout_ms` (the idle
 *    rule), else the connection is dropped (a client that does not read).
 * A file response is streamed as the socket drains, never loaded whole.
 *
 * Input rules: MHD parses the request and refuses some malformed input
 * itself, with its own short HTML error and a close (no request line
 * target: closed without an answer). What it lets through is judged here
 * (http_judge.c) before the body is read, anything else being a clean 4xx
 * with a JSON error, close, and one rate-limited warning line: the method
 * is a token; the target is origin-form, printable ASCII without '#';
 * "HTTP/1.0" or "HTTP/1.1" (505 for other versions); header names are
 * tokens and values printable ASCII plus HTAB, so every string a handler
 * sees is printable ASCII; at most HTTP_MAX_HEADERS headers; Content-Length
 * is plain decimal and appears at most once; any Transfer-Encoding is
 * refused (411 for chunked, 501 otherwise). "Expect: 100-continue" is
 * answered. A Host header is not required (no virtual hosting here). Paths
 * are not percent-decoded. MHD is lenient where the HTTP RFCs allow it: it
 * splits the request line on runs of whitespace and joins obs-folded header
 * lines with SP; it ends a header value or the target at a NUL byte.
 *
 * Routing (http_route): a route path is exact ("/v1/state"), or a prefix
 * when it ends in '*' (the rest is the prefix: "/api*" matches "/api",
 * "/api/x" and "/apiary") or in '/' other than the root ("/files/" matches
 * "/files/" and below). "/" alone is exact; a catch-all is '/' followed by
 * '*'. The most specific route whose method matches
 * wins (exact over prefix, longer prefix over shorter). HEAD runs the GET
 * handler and sends no body. No path match: 404 {"error":"not found"}; a
 * path match with no method match: 405 with "Allow:". Auth (auth.h, when
 * set) is checked after routing, before the body is read, so a rejected
 * client cannot make the server buffer a body.
 *
 * Logging: one debug line per request (http_request: method, path, status,
 * whether the response went out whole, ms), warnings for rejected requests
 * (at most 20 a second, the rest counted in the next line that gets
 * through), MHD's own messages at debug level.
 *
 * Threads: every function here must be called on the loop's thread; handlers
 * run synchronously on it (inside MHD_run()). MHD sends with MSG_NOSIGNAL;
 * the coordinator also ignores SIGPIPE. */
#ifndef QM_HTTP_H
#define QM_HTTP_H

#include "api/auth.h"
#include "evloop.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_DEFAULT_MAX_HEAD (16u << 10)      /* request line + headers */
#define HTTP_DEFAULT_MAX_BODY (1u << 20)       /* request body */
#define HTTP_DEFAULT_MAX_RESPONSE (32u << 20)  /* in-memory response body */
#define HTTP_DEFAULT_MAX_CONNS 256u
#define HTTP_DEFAULT_TIMEOUT_MS 10000u
#define HTTP_MAX_HEADERS 64

struct http_server;
struct http_response;
struct http_hdr;

/* What a handler sees. All strings are NUL-terminated printable ASCII and,
 * like the struct itself, valid only during the handler call. */
struct http_request {
	const char *method;  /* "GET", "POST" ... (HEAD shows as "HEAD") */
	const char *path;    /* "/v1/state": before '?', not percent-decoded */
	const char *query;   /* after '?', "" when none; see http_query_param() */
	const char *body;    /* body_len bytes, any content; body[body_len] is
			      * a NUL for convenience; "" when none */
	size_t body_len;
	const char *remote;  /* peer "ip:port" ("[v6]:port"), for logs */
	int http_minor;      /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
	/* private */
	const struct http_hdr *hdrs_;
	size_t nhdrs_;
};

/* A route handler. It must answer through exactly one http_respond*() call
 * (later calls fail with QM_EINVAL); a handler that answers nothing yields
 * 500. It must not block; `resp` is invalid once it returns. */
typedef void (*http_handler_fn)(const struct http_request *req,
				struct http_response *resp, void *ctx);

struct http_route {
	const char *method;      /* a token: "GET", "POST", "PUT", "DELETE" ... */
	const char *path;        /* exact, or prefix (see the top of this file) */
	http_handler_fn handler;
	/* enum auth_access: AUTH_ACCESS_READ (0: a credential only with
	 * read auth), AUTH_ACCESS_ADMIN (1: an admin token), AUTH_ACCESS_PUBLIC
	 * (2: never one) */
	unsigned char access;
};

/* Zero fields mean "the default" (HTTP_DEFAULT_*). */
struct http_limits {
	size_t max_head;         /* 256 .. 1 MiB */
	size_t max_body;         /* .. 1 GiB */
	size_t max_response;     /* .. 1 GiB */
	unsigned max_conns;      /* .. 65536 */
	unsigned timeout_ms;     /* 10 .. 3600000 */
};

/* Listen on addr "HOST:PORT": an IPv4 literal ("127.0.0.1:8080"), an IPv6
 * literal in brackets ("[::1]:8080", "[::]:8080"), or "*:PORT" / ":PORT"
 * for all IPv4 interfaces. Port 0 picks a free port (http_server_port()).
 * The socket is non-blocking, SO_REUSEADDR, close-on-exec, and watched on
 * `loop` at once: requests are served as soon as the loop runs.
 * `routes` (nroutes entries) is borrowed and must outlive the server
 * (normally a static const table); `ctx` is passed to every handler.
 * Returns the server, or NULL with *err = QM_EINVAL (bad address or route
 * table) or QM_EIO (socket/bind/listen failed; logged). Does not block. */
struct http_server *http_server_new(struct ev_loop *loop, const char *addr,
				    const struct http_route *routes,
				    size_t nroutes, void *ctx, int *err);

/* Close the listener and every connection (responses in flight are cut),
 * cancel every timer: no callback or handler runs afterwards. NULL is a
 * no-op. Called from inside a handler, it takes effect when the handler
 * returns (that handler's response is not sent). */
void http_server_free(struct http_server *srv);

/* The bound TCP port (useful after port 0). */
uint16_t http_server_port(const struct http_server *srv);

/* Serve HTTPS: cert_pem (the certificate chain) and key_pem (its private
 * key), PEM text, copied. Call right after http_server_new(), before the
 * loop runs: connections already accepted are closed. 0, or QM_EINVAL (the
 * pair does not load; the server stays as it was) or QM_EIO. */
int http_server_set_tls(struct http_server *srv, const char *cert_pem,
			const char *key_pem);

/* Read a PEM certificate chain and its private key from files (at most
 * HTTP_TLS_MAX_FILE each) and check that they load as a TLS pair, for
 * http_server_set_tls() and --check-config. 0 with *cert_pem and *key_pem
 * (NUL-terminated, the caller frees them), or QM_EIO (a file cannot be
 * read) / QM_EINVAL (too big, or not a usable pair) with a reason in err.
 * Blocks on the two reads. */
#define HTTP_TLS_MAX_FILE (1u << 20)
int http_tls_load(const char *cert_file, const char *key_file, char **cert_pem,
		  char **key_pem, char *err, size_t errcap);

/* One admin token (copied) that every non-public route that changes
 * something requires (auth.h). NULL or "" turns authentication off (the
 * default). 0, or QM_EINVAL when the token holds bytes outside printable
 * ASCII or spaces (authentication unchanged). */
int http_server_set_token(struct http_server *srv, const char *token);

/* Check every request with a (borrowed) auth (auth.h: tokens, roles, read
 * auth, failed-attempt limits) after routing, before the body is read:
 * 400, 401 (WWW-Authenticate: Bearer on a mutating call, Basic on a read),
 * 403, 429 (Retry-After: 60). NULL turns authentication off. */
void http_server_set_auth(struct http_server *srv, struct auth *a);

/* Called once for every request to a route that is not a GET or HEAD,
 * after it was answered (or refused): the peer, the token's name ("-"
 * without one), method, path, the body (empty when it was not read) and
 * the status. For the audit trail. */
typedef void (*http_audit_fn)(void *ctx, const char *peer, const char *who,
			      const char *method, const char *path, const char *body,
			      size_t body_len, int status);
void http_server_set_audit(struct http_server *srv, http_audit_fn fn, void *ctx);

/* Replace the limits (zero fields = defaults). Meant to be called once
 * after http_server_new(), before the loop runs: a change of max_head,
 * timeout_ms or max_conns restarts the MHD daemon (closing connections it
 * holds; not done from inside a handler). 0, QM_EINVAL (a field outside
 * its bounds) or QM_EIO (MHD did not restart); nothing changed on error. */
int http_server_set_limits(struct http_server *srv, const struct http_limits *lim);

/* Value of request header `name` (case-insensitive), first occurrence, with
 * surrounding whitespace removed; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);

/* Query parameter `name` from req->query ("a=1&b=x%20y"), percent- and
 * '+'-decoded into out (cap bytes incl. NUL). A parameter without '=' has
 * the value "". 0, QM_ENOENT (absent), QM_ETOOBIG (does not fit; out is
 * ""), QM_EINVAL (bad %-escape or a decoded NUL; out is ""). */
int http_query_param(const struct http_request *req, const char *name,
		     char *out, size_t cap);

/* --- answering (only from inside a handler, on its `resp`) -------------
 * Every in-memory response carries Content-Length and
 * "Cache-Control: no-store" (these are live state, never cacheable).
 * status is 200..599; 204 and 304 carry no body. content_type NULL sends no
 * Content-Type. Each returns 0, or QM_EINVAL (already answered, bad status
 * or content type), QM_ETOOBIG (body over max_response); on failure (other
 * than "already answered") the client gets 500. */

/* Copy len bytes of body. */
int http_respond(struct http_response *resp, int status,
		 const char *content_type, const void *body, size_t len);

/* Send json, printed compactly, as application/json. Takes ownership of
 * json: it is freed whatever the result (NULL yields 500). */
int http_respond_json(struct http_response *resp, int status, cJSON *json);
/* The same, printed into a buffer of about hint bytes at first (a good
 * guess saves growing it: a page of /v1/state is 10 MiB). */
int http_respond_json_sized(struct http_response *resp, int status, cJSON *json,
			    size_t hint);

/* {"error":"<msg>"} with the given status (msg JSON-escaped). */
int http_respond_error(struct http_response *resp, int status, const char *msg);

/* Stream a regular file: its size at this moment is the Content-Length and
 * it is sent in chunks as the socket drains (a file that shrinks meanwhile
 * cuts the connection). Takes ownership of fd: it is closed whatever the
 * result. No Cache-Control header is added. QM_EINVAL if fd is not a
 * regular file. */
int http_respond_file(struct http_response *resp, int status,
		      const char *content_type, int fd);

/* Open path read-only and stream it like http_respond_file(). On QM_ENOENT
 * (no such file) or QM_EIO (cannot open, or not a regular file) nothing is
 * answered yet, so the handler can choose its own error response. */
int http_respond_path(struct http_response *resp, int status,
		      const char *content_type, const char *path);

/* Add a response header (before or after the http_respond*() call, inside
 * the handler). name must be a token, value printable ASCII; the server's
 * own framing headers (Content-Length, Content-Type, Transfer-Encoding,
 * Connection, Date) are refused. At most 4 KiB of extra headers per
 * response. 0, QM_EINVAL or QM_ETOOBIG. */
int http_response_header(struct http_response *resp, const char *name,
			 const char *value);

/* Reason phrase for a status code ("Not Found"); "Unknown" if not listed. */
const char *http_reason(int status);

#endif
