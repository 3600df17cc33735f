#include "api/http.h"

#include "log.h"
#include "qm_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SIZE (64u << 10)      /* file streaming unit */
#define MAX_EXTRA_HEADERS 4096u     /* handler-added response headers */
#define LINGER_MAX_MS 2000u         /* drain time after the final response */
#define LINGER_MAX_BYTES (1u << 20) /* ... and how much we drain at most */
#define ACCEPT_BATCH 64             /* accepts per listener wake-up */
#define ACCEPT_PAUSE_MS 100         /* back-off when out of descriptors */
#define WARN_PER_SEC 20u
#define MAX_METHOD 32

struct http_hdr {
	const char *name;
	const char *value;
};

struct http_response {
	struct http_server *srv;
	bool open;      /* inside the handler: answering allowed */
	bool answered;
	bool failed;    /* answer with 500 instead */
	int status;
	char *ctype;
	char *body;
	size_t body_len;
	int fd;         /* file to stream, -1 if none */
	uint64_t file_size;
	bool no_store;
	char *extra;    /* "Name: value\r\n"..., at most MAX_EXTRA_HEADERS */
	size_t extra_len;
};

/* A connection goes HEAD -> (BODY) -> WRITE -> HEAD (keep-alive) or
 * LINGER -> closed. While a response is being written nothing is read, so a
 * pipelining client is served one request at a time and a client that sends
 * without reading stalls on its own socket, not on our memory. */
enum conn_state { ST_HEAD, ST_BODY, ST_WRITE, ST_LINGER };

struct hdr_off {
	size_t name, value;
};

struct conn {
	struct http_server *srv;
	struct conn *prev, *next;
	int fd;
	char remote[64];
	enum conn_state state;
	unsigned watching;
	bool yield;          /* buffered input waits for the next loop turn */

	/* input: in[0..in_len), the head first, then body, then pipelined bytes */
	char *in;
	size_t in_len, in_cap;
	bool started;        /* the current request has begun arriving */
	size_t scanned;      /* head bytes checked so far */
	size_t line_start;   /* start of the head line being scanned */
	size_t line1_end;    /* end of the request line (0: not yet) */
	size_t head_len;
	size_t body_len;

	/* the parsed request, as offsets into `in` (which may move) */
	bool have_line;
	size_t method_off, path_off, query_off;
	int minor;
	struct hdr_off hoff[HTTP_MAX_HEADERS];
	size_t nhdrs;
	bool keep_alive;
	bool head_only;
	const struct http_route *route;
	uint64_t t_start;
	char who[AUTH_NAME_MAX + 1]; /* the token's name, "-" without one */

	/* output: out_head then out_body (offset out_off), then the file */
	char *out_head;
	size_t out_head_len;
	char *out_body;
	size_t out_body_len;
	size_t out_off;
	int file_fd;
	uint64_t file_off, file_end;
	char *chunk;
	size_t chunk_len, chunk_off;
	uint64_t sent;
	int status;
	bool close_after;
	size_t discarded;

	uint64_t deadline;
	uint64_t timer_id, timer_due;

	struct http_response resp;
};

struct http_server {
	struct ev_loop *loop;
	int fd;
	uint16_t port;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	struct auth *auth;   /* NULL: every route open */
	bool own_auth;       /* made by http_server_set_token */
	http_audit_fn audit;
	void *audit_ctx;
	struct http_limits lim;
	struct conn *conns;
	unsigned nconns;
	uint64_t resume_timer;
	uint64_t warn_window;
	unsigned warn_count, warn_dropped;
	bool in_handler, dying;
};

/* ---------------------------------------------------------------- tables */

static const struct {
	int code;
	const char *reason;
} reasons[] = {
	{100, "Continue"},
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{303, "See Other"},
	{304, "Not Modified"},
	{307, "Temporary Redirect"},
	{308, "Permanent Redirect"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{411, "Length Required"},
	{412, "Precondition Failed"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{415, "Unsupported Media Type"},
	{417, "Expectation Failed"},
	{422, "Unprocessable Content"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
	{505, "HTTP Version Not Supported"},
};

const char *http_reason(int status)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].code == status)
			return reasons[i].reason;
	return "Unknown";
}

/* Headers a handler may not set: the server owns message framing. */
static const char *const reserved_headers[] = {
	"Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Date",
};

/* --------------------------------------------------------------- helpers */

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Printable ASCII plus SP/HTAB: safe inside a header value. */
static bool is_field_text(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		if (n >= max || ((ch < 0x20 || ch > 0x7e) && ch != '\t'))
			return false;
	}
	return true;
}

static bool has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tl && strncasecmp(p, tok, tl) == 0)
			return true;
		p = e;
	}
	return false;
}

static void warn_reject(struct http_server *s, const char *remote, int status,
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

/* ------------------------------------------------------ connection basics */

static void conn_watch(struct conn *c, unsigned events)
{
	if (c->watching == events)
		return;
	if (ev_fd_mod(c->srv->loop, c->fd, events) == 0)
		c->watching = events;
}

static void on_conn_timer(struct ev_loop *loop, void *arg);

/* One timer per connection, re-armed lazily: moving the deadline later
 * costs nothing (the timer re-arms itself when it fires early). */
static void conn_deadline(struct conn *c, uint64_t deadline)
{
	c->deadline = deadline;
	if (c->timer_id && c->timer_due <= deadline)
		return;
	if (c->timer_id)
		ev_timer_cancel(c->srv->loop, c->timer_id);
	uint64_t now = ev_now_ms();
	c->timer_due = deadline;
	c->timer_id = ev_timer_add(c->srv->loop, deadline > now ? deadline - now : 0,
				   on_conn_timer, c);
}

static void resp_reset(struct http_response *r)
{
	free(r->ctype);
	free(r->body);
	free(r->extra);
	if (r->fd >= 0)
		close(r->fd);
	struct http_server *s = r->srv;
	*r = (struct http_response){.srv = s, .fd = -1};
}

static void out_reset(struct conn *c)
{
	free(c->out_head);
	free(c->out_body);
	free(c->chunk);
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->out_head = c->out_body = c->chunk = NULL;
	c->out_head_len = c->out_body_len = c->out_off = 0;
	c->chunk_len = c->chunk_off = 0;
	c->file_fd = -1;
	c->file_off = c->file_end = 0;
}

static void conn_close(struct conn *c, bool abortive)
{
	struct http_server *s = c->srv;
	ev_fd_del(s->loop, c->fd);
	if (c->timer_id)
		ev_timer_cancel(s->loop, c->timer_id);
	if (abortive) {
		/* a reset frees the kernel's buffers for this peer at once */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(c->fd);
	out_reset(c);
	resp_reset(&c->resp);
	free(c->in);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
}

static const char *conn_method(const struct conn *c)
{
	return c->have_line ? c->in + c->method_off : "-";
}

static const char *conn_path(const struct conn *c)
{
	return c->have_line ? c->in + c->path_off : "-";
}

/* ------------------------------------------------------------- responses */

static void resp_fail(struct http_response *r)
{
	r->answered = true;
	r->failed = true;
}

static int resp_begin(struct http_response *r, int status, const char *ctype)
{
	if (!r || !r->open || r->answered)
		return QM_EINVAL;
	if (status < 200 || status > 599 ||
	    (ctype && (!*ctype || !is_field_text(ctype, 255)))) {
		resp_fail(r);
		return QM_EINVAL;
	}
	r->answered = true;
	r->status = status;
	if (ctype)
		r->ctype = qm_strdup(ctype);
	return 0;
}

int http_respond(struct http_response *r, int status, const char *ctype,
		 const void *body, size_t len)
{
	if (r && r->open && !r->answered && (len > r->srv->lim.max_response || (!body && len))) {
		resp_fail(r);
		return body ? QM_ETOOBIG : QM_EINVAL;
	}
	int rv = resp_begin(r, status, ctype);
	if (rv)
		return rv;
	r->body = qm_malloc(len ? len : 1);
	if (len)
		memcpy(r->body, body, len);
	r->body_len = len;
	r->no_store = true;
	return 0;
}

int http_respond_json(struct http_response *r, int status, cJSON *json)
{
	char *txt = json ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	if (!r || !r->open || r->answered) {
		cJSON_free(txt);
		return QM_EINVAL;
	}
	if (!txt) {
		resp_fail(r);
		return QM_EINVAL;
	}
	int rv = http_respond(r, status, "application/json", txt, strlen(txt));
	cJSON_free(txt);
	return rv;
}

int http_respond_error(struct http_response *r, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddStringToObject(o, "error", msg ? msg : "")) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_respond_json(r, status, o);
}

int http_respond_file(struct http_response *r, int status, const char *ctype, int fd)
{
	struct stat st;
	if (!r || !r->open || r->answered) {
		if (fd >= 0)
			close(fd);
		return QM_EINVAL;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		resp_fail(r);
		return QM_EINVAL;
	}
	int rv = resp_begin(r, status, ctype);
	if (rv) {
		close(fd);
		return rv;
	}
	r->fd = fd;
	r->file_size = (uint64_t)st.st_size;
	return 0;
}

int http_respond_path(struct http_response *r, int status, const char *ctype,
		      const char *path)
{
	if (!r || !r->open || r->answered || !path)
		return QM_EINVAL;
	/* O_NONBLOCK: opening a FIFO someone put there must not hang the loop */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e != ENOENT)
			log_warn("http_file_open_failed", "path=%s errno=%d", log_qs(path), e);
		return e == ENOENT ? QM_ENOENT : QM_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		log_warn("http_file_not_regular", "path=%s", log_qs(path));
		return QM_EIO;
	}
	return http_respond_file(r, status, ctype, fd);
}

int http_response_header(struct http_response *r, const char *name, const char *value)
{
	if (!r || !r->open || !is_token(name) || !value || !is_field_text(value, SIZE_MAX))
		return QM_EINVAL;
	for (size_t i = 0; i < sizeof reserved_headers / sizeof reserved_headers[0]; i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return QM_EINVAL;
	size_t nl = strlen(name), vl = strlen(value);
	size_t add = nl + 2 + vl + 2;
	if (add > MAX_EXTRA_HEADERS - r->extra_len)
		return QM_ETOOBIG;
	if (!r->extra)
		r->extra = qm_malloc(MAX_EXTRA_HEADERS);
	char *p = r->extra + r->extra_len;
	memcpy(p, name, nl);
	memcpy(p + nl, ": ", 2);
	memcpy(p + nl + 2, value, vl);
	memcpy(p + nl + 2 + vl, "\r\n", 2);
	r->extra_len += add;
	return 0;
}

/* Turn c->resp into bytes to send: the head, then the in-memory body or the
 * file. Takes the body and file from the response. */
static void build_output(struct conn *c)
{
	struct http_response *r = &c->resp;
	bool no_body = r->status == 204 || r->status == 304;
	uint64_t clen = r->fd >= 0 ? r->file_size : r->body_len;

	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);

	size_t cap = 512 + (r->ctype ? strlen(r->ctype) : 0) + r->extra_len;
	char *h = qm_malloc(cap);
	int n = snprintf(h, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", r->status,
			 http_reason(r->status), date);
	size_t len = (size_t)n;
	if (r->ctype)
		len += (size_t)snprintf(h + len, cap - len, "Content-Type: %s\r\n", r->ctype);
	if (!no_body)
		len += (size_t)snprintf(h + len, cap - len, "Content-Length: %llu\r\n",
					(unsigned long long)clen);
	if (r->no_store)
		len += (size_t)snprintf(h + len, cap - len, "Cache-Control: no-store\r\n");
	if (c->close_after)
		len += (size_t)snprintf(h + len, cap - len, "Connection: close\r\n");
	if (r->extra_len) {
		memcpy(h + len, r->extra, r->extra_len);
		len += r->extra_len;
	}
	memcpy(h + len, "\r\n", 2);
	len += 2;

	out_reset(c);
	c->out_head = h;
	c->out_head_len = len;
	c->status = r->status;
	if (!no_body && !c->head_only) {
		c->out_body = r->body;
		c->out_body_len = r->body_len;
		r->body = NULL;
		if (r->fd >= 0 && r->file_size > 0) {
			c->file_fd = r->fd;
			c->file_end = r->file_size;
			r->fd = -1;
			c->chunk = qm_malloc(CHUNK_SIZE);
		}
	}
	resp_reset(r);
}

static void flush_output(struct conn *c);

static void start_response(struct conn *c)
{
	build_output(c);
	c->state = ST_WRITE;
	c->yield = false;
	c->sent = 0;
	conn_deadline(c, ev_now_ms() + c->srv->lim.timeout_ms);
	flush_output(c);
}

/* A response made by the server itself; always closes the connection (the
 * request stream cannot be trusted after a protocol error, and an unread
 * body may follow). */
static void reply_error(struct conn *c, int status, const char *msg,
			const char *hname, const char *hvalue)
{
	struct http_response *r = &c->resp;
	resp_reset(r);
	r->open = true;
	http_respond_error(r, status, msg);
	if (hname)
		http_response_header(r, hname, hvalue);
	r->open = false;
	c->close_after = true;
	start_response(c);
}

static void reject(struct conn *c, int status, const char *msg)
{
	warn_reject(c->srv, c->remote, status, msg);
	reply_error(c, status, msg, NULL, NULL);
}

/* ----------------------------------------------------- request lifecycle */

static void request_reset(struct conn *c)
{
	c->state = ST_HEAD;
	c->started = false;
	c->scanned = c->line_start = c->line1_end = 0;
	c->head_len = c->body_len = 0;
	c->have_line = false;
	c->nhdrs = 0;
	c->keep_alive = false;
	c->head_only = false;
	c->route = NULL;
	c->close_after = false;
	c->status = 0;
	snprintf(c->who, sizeof c->who, "-");
}

static void start_linger(struct conn *c)
{
	c->state = ST_LINGER;
	c->discarded = 0;
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c, false);
		return;
	}
	unsigned t = c->srv->lim.timeout_ms;
	conn_deadline(c, ev_now_ms() + (t < LINGER_MAX_MS ? t : LINGER_MAX_MS));
	conn_watch(c, EV_READ);
}

static bool is_read_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static void finish_response(struct conn *c)
{
	struct http_server *s = c->srv;
	log_debug("http_request", "remote=%s method=%s path=%s status=%d bytes=%llu ms=%llu",
		  c->remote, log_qs(conn_method(c)), log_qs(conn_path(c)), c->status,
		  (unsigned long long)c->sent,
		  (unsigned long long)(ev_now_ms() - c->t_start));
	/* every call to a mutating route, answered or refused */
	if (s->audit && c->route && c->have_line && !is_read_method(conn_method(c)))
		s->audit(s->audit_ctx, c->remote, c->who, conn_method(c), conn_path(c),
			 c->in + c->head_len, c->body_len, c->status);
	out_reset(c);
	if (c->close_after) {
		start_linger(c);
		return;
	}
	size_t used = c->head_len + c->body_len;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	request_reset(c);
	/* give back what a large body needed; leftovers are at most one head */
	size_t small = s->lim.max_head + 1;
	if (c->in_cap > small && c->in_len < small) {
		c->in = qm_realloc(c->in, small);
		c->in_cap = small;
	}
	uint64_t now = ev_now_ms();
	conn_deadline(c, now + s->lim.timeout_ms);
	if (c->in_len) {
		/* a pipelined request: handle it on the next loop turn (the socket
		 * being writable is the signal) so one client cannot hog the loop */
		c->started = true;
		c->t_start = now;
		c->yield = true;
		conn_watch(c, EV_WRITE);
	} else {
		conn_watch(c, EV_READ);
	}
}

static void flush_output(struct conn *c)
{
	bool progress = false;
	for (;;) {
		size_t total = c->out_head_len + c->out_body_len;
		ssize_t n;
		if (c->out_off < total) {
			struct iovec iov[2];
			int k = 0;
			if (c->out_off < c->out_head_len) {
				iov[k].iov_base = c->out_head + c->out_off;
				iov[k++].iov_len = c->out_head_len - c->out_off;
				if (c->out_body_len) {
					iov[k].iov_base = c->out_body;
					iov[k++].iov_len = c->out_body_len;
				}
			} else {
				size_t bo = c->out_off - c->out_head_len;
				iov[k].iov_base = c->out_body + bo;
				iov[k++].iov_len = c->out_body_len - bo;
			}
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)k};
			n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				c->out_off += (size_t)n;
		} else if (c->file_fd >= 0 &&
			   (c->file_off < c->file_end || c->chunk_off < c->chunk_len)) {
			if (c->chunk_off == c->chunk_len) {
				uint64_t left = c->file_end - c->file_off;
				size_t want = left < CHUNK_SIZE ? (size_t)left : CHUNK_SIZE;
				ssize_t r = pread(c->file_fd, c->chunk, want, (off_t)c->file_off);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0) {
					/* the Content-Length promise cannot be kept */
					log_warn("http_file_short", "remote=%s path=%s offset=%llu errno=%d",
						 c->remote, log_qs(conn_path(c)),
						 (unsigned long long)c->file_off, r < 0 ? errno : 0);
					conn_close(c, true);
					return;
				}
				c->chunk_len = (size_t)r;
				c->chunk_off = 0;
				c->file_off += (uint64_t)r;
			}
			n = send(c->fd, c->chunk + c->chunk_off, c->chunk_len - c->chunk_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				c->chunk_off += (size_t)n;
		} else {
			finish_response(c);
			return;
		}
		if (n > 0) {
			c->sent += (uint64_t)n;
			progress = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		log_debug("http_send_failed", "remote=%s errno=%d", c->remote, n < 0 ? errno : 0);
		conn_close(c, true);
		return;
	}
	if (progress)
		conn_deadline(c, ev_now_ms() + c->srv->lim.timeout_ms);
	conn_watch(c, EV_WRITE);
}

/* Free the server if a handler asked for it; true if it is gone. */
static bool server_reap(struct http_server *s);

static void dispatch(struct conn *c)
{
	struct http_server *s = c->srv;
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	for (size_t i = 0; i < c->nhdrs; i++)
		hdrs[i] = (struct http_hdr){c->in + c->hoff[i].name, c->in + c->hoff[i].value};
	char *body = c->in + c->head_len;
	char saved = body[c->body_len]; /* may be the first pipelined byte */
	body[c->body_len] = '\0';
	struct http_request req = {
		.method = c->in + c->method_off,
		.path = c->in + c->path_off,
		.query = c->query_off ? c->in + c->query_off : "",
		.body = body,
		.body_len = c->body_len,
		.remote = c->remote,
		.http_minor = c->minor,
		.hdrs_ = hdrs,
		.nhdrs_ = c->nhdrs,
	};
	struct http_response *r = &c->resp;
	resp_reset(r);
	r->open = true;
	s->in_handler = true;
	c->route->handler(&req, r, s->ctx);
	s->in_handler = false;
	r->open = false;
	if (server_reap(s))
		return;
	body[c->body_len] = saved;
	if (!r->answered || r->failed) {
		log_warn("http_handler_failed", "method=%s path=%s why=%s",
			 log_qs(req.method), log_qs(req.path),
			 r->answered ? "bad_response" : "no_response");
		resp_reset(r);
		r->open = true;
		http_respond_error(r, 500, "internal error");
		r->open = false;
	}
	c->close_after = !c->keep_alive;
	start_response(c);
}

/* ------------------------------------------------------------ parsing */

/* Parse the request line in[0..end) (end excludes CR/LF), NUL-terminating
 * its parts in place. Returns 0 or an HTTP status with *msg. */
static int parse_request_line(struct conn *c, size_t end, const char **msg)
{
	char *l = c->in;
	*msg = "bad request line";
	char *sp1 = memchr(l, ' ', end);
	if (!sp1 || sp1 == l || sp1 - l > MAX_METHOD)
		return 400;
	for (char *p = l; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return 400;
	char *tgt = sp1 + 1;
	char *sp2 = memchr(tgt, ' ', (size_t)(l + end - tgt));
	if (!sp2 || sp2 == tgt || *tgt != '/')
		return 400;
	char *ver = sp2 + 1;
	size_t vlen = (size_t)(l + end - ver);
	for (char *p = tgt; p < sp2; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '#')
			return 400;
	if (vlen == 8 && memcmp(ver, "HTTP/1.", 7) == 0 && (ver[7] == '0' || ver[7] == '1')) {
		c->minor = ver[7] - '0';
	} else if (vlen == 8 && memcmp(ver, "HTTP/", 5) == 0 && ver[5] >= '0' &&
		   ver[5] <= '9' && ver[6] == '.' && ver[7] >= '0' && ver[7] <= '9') {
		*msg = "HTTP version not supported";
		return 505;
	} else {
		return 400;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	l[end] = '\0';
	char *q = memchr(tgt, '?', (size_t)(sp2 - tgt));
	c->query_off = 0;
	if (q) {
		*q = '\0';
		c->query_off = (size_t)(q + 1 - l);
	}
	c->method_off = 0;
	c->path_off = (size_t)(tgt - l);
	c->have_line = true;
	return 0;
}

/* Parse header lines between the request line and the blank line. */
static int parse_headers(struct conn *c, const char **msg)
{
	size_t p = c->line1_end;
	*msg = "invalid header";
	while (p < c->head_len) {
		char *line = c->in + p;
		char *nl = memchr(line, '\n', c->head_len - p);
		size_t next = (size_t)(nl - c->in) + 1;
		size_t len = (size_t)(nl - line);
		if (len && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			*msg = "obsolete header folding";
			return 400;
		}
		char *colon = memchr(line, ':', len);
		if (!colon || colon == line)
			return 400;
		for (char *q = line; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return 400;
		char *v = colon + 1, *ve = line + len;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (c->nhdrs == HTTP_MAX_HEADERS) {
			*msg = "too many headers";
			return 431;
		}
		*colon = '\0';
		*ve = '\0';
		c->hoff[c->nhdrs++] = (struct hdr_off){(size_t)(line - c->in),
						       (size_t)(v - c->in)};
		p = next;
	}
	return 0;
}

static const char *conn_header(const struct conn *c, const char *name, int *count)
{
	const char *first = NULL;
	int n = 0;
	for (size_t i = 0; i < c->nhdrs; i++) {
		if (strcasecmp(c->in + c->hoff[i].name, name) == 0) {
			if (!first)
				first = c->in + c->hoff[i].value;
			n++;
		}
	}
	if (count)
		*count = n;
	return first;
}

static bool method_matches(const char *route_m, const char *m, bool *explicit_match)
{
	if (strcmp(route_m, m) == 0) {
		*explicit_match = true;
		return true;
	}
	*explicit_match = false;
	return strcmp(m, "HEAD") == 0 && strcmp(route_m, "GET") == 0;
}

/* How specifically pat matches path: 0 no match, SIZE_MAX exact, else the
 * prefix length + 1. */
static size_t path_score(const char *pat, const char *path)
{
	size_t pl = strlen(pat);
	size_t cmp;
	if (pl && pat[pl - 1] == '*')
		cmp = pl - 1;
	else if (pl > 1 && pat[pl - 1] == '/')
		cmp = pl;
	else
		return strcmp(pat, path) == 0 ? SIZE_MAX : 0;
	return strncmp(pat, path, cmp) == 0 ? cmp + 1 : 0;
}

/* Find the route; 0, or 404/405 (with the Allow list in allow). */
static int route_find(struct conn *c, char *allow, size_t allow_cap)
{
	const struct http_server *s = c->srv;
	const char *m = c->in + c->method_off, *path = c->in + c->path_off;
	const struct http_route *best = NULL;
	size_t best_score = 0;
	bool best_explicit = false, any_path = false, get_seen = false, head_seen = false;
	size_t alen = 0;
	allow[0] = '\0';
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct http_route *rt = &s->routes[i];
		size_t sc = path_score(rt->path, path);
		if (!sc)
			continue;
		any_path = true;
		bool ex;
		if (method_matches(rt->method, m, &ex) &&
		    (!best || sc > best_score || (sc == best_score && ex && !best_explicit))) {
			best = rt;
			best_score = sc;
			best_explicit = ex;
		}
		get_seen |= strcmp(rt->method, "GET") == 0;
		head_seen |= strcmp(rt->method, "HEAD") == 0;
		/* Allow: each method once */
		size_t ml = strlen(rt->method);
		bool dup = false;
		for (const char *a = allow; *a;) {
			const char *e = strchr(a, ',');
			size_t l = e ? (size_t)(e - a) : strlen(a);
			if (l == ml && memcmp(a, rt->method, ml) == 0)
				dup = true;
			a = e ? e + 2 : a + l;
		}
		if (!dup && alen + ml + 3 < allow_cap) {
			alen += (size_t)snprintf(allow + alen, allow_cap - alen, "%s%s",
						 alen ? ", " : "", rt->method);
		}
	}
	if (get_seen && !head_seen && alen + 7 < allow_cap)
		alen += (size_t)snprintf(allow + alen, allow_cap - alen, "%sHEAD",
					 alen ? ", " : "");
	if (best) {
		c->route = best;
		return 0;
	}
	return any_path ? 405 : 404;
}

/* The head is complete: parse and judge it before any body is read. */
static void head_complete(struct conn *c)
{
	struct http_server *s = c->srv;
	const char *msg;
	int st = parse_headers(c, &msg);
	if (st) {
		reject(c, st, msg);
		return;
	}
	int n;
	const char *te = conn_header(c, "Transfer-Encoding", &n);
	if (te) {
		if (has_token(te, "chunked"))
			reject(c, 411, "chunked request bodies are not supported; send Content-Length");
		else
			reject(c, 501, "transfer codings are not supported");
		return;
	}
	const char *cl = conn_header(c, "Content-Length", &n);
	uint64_t clen = 0;
	bool too_big = false;
	if (n > 1) {
		reject(c, 400, "duplicate Content-Length");
		return;
	}
	if (cl) {
		if (!*cl) {
			reject(c, 400, "invalid Content-Length");
			return;
		}
		for (const char *p = cl; *p; p++) {
			if (*p < '0' || *p > '9') {
				reject(c, 400, "invalid Content-Length");
				return;
			}
			if (clen > (UINT64_MAX - 9) / 10)
				too_big = true;
			else
				clen = clen * 10 + (uint64_t)(*p - '0');
		}
	}
	conn_header(c, "Authorization", &n);
	int nhost;
	conn_header(c, "Host", &nhost);
	if (n > 1 || nhost > 1) {
		reject(c, 400, "duplicate header");
		return;
	}
	const char *conn_h = conn_header(c, "Connection", NULL);
	c->keep_alive = c->minor == 1 && !(conn_h && has_token(conn_h, "close"));
	c->head_only = strcmp(c->in + c->method_off, "HEAD") == 0;

	char allow[256];
	st = route_find(c, allow, sizeof allow);
	if (st == 404) {
		reply_error(c, 404, "not found", NULL, NULL);
		return;
	}
	if (st == 405) {
		reply_error(c, 405, "method not allowed", "Allow", allow);
		return;
	}
	if (s->auth) {
		int norigin;
		conn_header(c, "Origin", &norigin);
		if (norigin > 1) {
			reject(c, 400, "duplicate header");
			return;
		}
		bool mutating = !is_read_method(conn_method(c));
		struct auth_request ar = {
			.access = (enum auth_access)c->route->access,
			.mutating = mutating,
			.peer = c->remote,
			.authorization = conn_header(c, "Authorization", NULL),
			.origin = conn_header(c, "Origin", NULL),
			.host = conn_header(c, "Host", NULL),
			.now_ms = ev_now_ms(),
		};
		struct auth_result res;
		auth_check(s->auth, &ar, &res);
		snprintf(c->who, sizeof c->who, "%s", res.who);
		if (res.status != 0) {
			warn_reject(s, c->remote, res.status, res.reason);
			if (res.status == 401)
				/* a browser asks for Basic on a read; calls that
				 * change something take a bearer token only */
				reply_error(c, 401, "unauthorized", "WWW-Authenticate",
					    mutating ? "Bearer"
						     : "Basic realm=\"quobyte-mesos\", charset=\"UTF-8\"");
			else if (res.status == 429)
				reply_error(c, 429, "too many failed attempts", "Retry-After", "60");
			else
				reply_error(c, res.status, res.status == 403 ? "forbidden" : "bad request",
					    NULL, NULL);
			return;
		}
	}
	if (too_big || clen > s->lim.max_body) {
		reject(c, 413, "request body too large");
		return;
	}
	const char *expect = conn_header(c, "Expect", NULL);
	bool cont = false;
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0) {
			reject(c, 417, "unsupported expectation");
			return;
		}
		cont = c->minor == 1;
	}
	c->body_len = (size_t)clen;
	size_t need = c->head_len + c->body_len;
	if (c->in_len >= need) {
		dispatch(c);
		return;
	}
	size_t cap = need + 1;
	if (c->in_cap < cap) {
		c->in = qm_realloc(c->in, cap);
		c->in_cap = cap;
	}
	c->state = ST_BODY;
	if (cont) {
		/* tiny and first on a drained socket; if even this does not fit,
		 * the client is not reading and is not worth waiting for */
		static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t w = send(c->fd, interim, sizeof interim - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w != (ssize_t)(sizeof interim - 1)) {
			conn_close(c, true);
			return;
		}
	}
	conn_watch(c, EV_READ);
}

/* Scan newly arrived head bytes: reject bad bytes at once, notice the end
 * of the request line (checked early, so garbage is refused without waiting
 * for more) and the blank line that ends the head. */
static void scan_head(struct conn *c)
{
	struct http_server *s = c->srv;
	size_t lim = s->lim.max_head;
	size_t i = c->scanned;
	for (; i < c->in_len && i < lim; i++) {
		unsigned char ch = (unsigned char)c->in[i];
		if (ch == '\r') {
			if (i + 1 == c->in_len)
				break; /* decide when the next byte is here */
			if (c->in[i + 1] != '\n') {
				reject(c, 400, "bare CR in request head");
				return;
			}
			continue;
		}
		if (ch == '\n') {
			size_t ll = i - c->line_start;
			if (ll && c->in[i - 1] == '\r')
				ll--;
			if (!c->line1_end) {
				const char *msg;
				int st = parse_request_line(c, c->line_start + ll, &msg);
				if (st) {
					reject(c, st, msg);
					return;
				}
				c->line1_end = i + 1;
			} else if (ll == 0) {
				c->scanned = c->head_len = i + 1;
				head_complete(c);
				return;
			}
			c->line_start = i + 1;
			continue;
		}
		if (ch < 0x20 && ch != '\t') {
			reject(c, 400, "control byte in request head");
			return;
		}
		if (ch >= 0x7f) {
			reject(c, 400, "non-ASCII byte in request head");
			return;
		}
	}
	c->scanned = i;
	if (c->in_len >= lim) {
		if (c->line1_end)
			reject(c, 431, "request header too large");
		else
			reject(c, 414, "request line too long");
		return;
	}
	conn_watch(c, EV_READ);
}

static void process_input(struct conn *c)
{
	if (c->state == ST_HEAD) {
		if (c->scanned == 0 && c->line_start == 0) {
			/* empty lines before a request line are ignored (RFC 9112) */
			size_t k = 0;
			while (k < c->in_len && (c->in[k] == '\r' || c->in[k] == '\n'))
				k++;
			if (k && k == c->in_len && c->in[k - 1] == '\r')
				k--; /* keep a CR whose LF is not here yet */
			memmove(c->in, c->in + k, c->in_len - k);
			c->in_len -= k;
		}
		scan_head(c);
		return;
	}
	if (c->in_len >= c->head_len + c->body_len) {
		dispatch(c);
		return;
	}
	conn_watch(c, EV_READ);
}

static void read_input(struct conn *c)
{
	struct http_server *s = c->srv;
	size_t want;
	if (c->state == ST_HEAD) {
		size_t lim = s->lim.max_head;
		if (c->in_len >= lim) {
			process_input(c);
			return;
		}
		if (c->in_cap < lim + 1 && c->in_len + 1 >= c->in_cap) {
			size_t ncap = c->in_cap ? c->in_cap * 2 : 4096;
			if (ncap > lim + 1)
				ncap = lim + 1;
			c->in = qm_realloc(c->in, ncap);
			c->in_cap = ncap;
		}
		want = c->in_cap - 1 - c->in_len;
		if (want > lim - c->in_len)
			want = lim - c->in_len;
	} else {
		want = c->head_len + c->body_len - c->in_len;
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->started)
			log_debug("http_client_gone", "remote=%s state=%s received=%zu errno=%d",
				  c->remote, c->state == ST_HEAD ? "head" : "body", c->in_len,
				  n < 0 ? errno : 0);
		conn_close(c, n < 0);
		return;
	}
	if (!c->started) {
		c->started = true;
		c->t_start = ev_now_ms();
		conn_deadline(c, c->t_start + s->lim.timeout_ms);
	}
	c->in_len += (size_t)n;
	process_input(c);
}

static void linger_read(struct conn *c)
{
	char buf[16384];
	ssize_t n = recv(c->fd, buf, sizeof buf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, false);
		return;
	}
	c->discarded += (size_t)n;
	if (c->discarded > LINGER_MAX_BYTES)
		conn_close(c, true);
}

static void on_conn_event(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events; /* EV_ERR: the next read or write reports it */
	struct conn *c = arg;
	switch (c->state) {
	case ST_HEAD:
	case ST_BODY:
		if (c->yield) {
			c->yield = false;
			process_input(c);
		} else {
			read_input(c);
		}
		break;
	case ST_WRITE:
		flush_output(c);
		break;
	case ST_LINGER:
		linger_read(c);
		break;
	}
}

static void on_conn_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct conn *c = arg;
	c->timer_id = 0;
	uint64_t now = ev_now_ms();
	if (now < c->deadline) {
		conn_deadline(c, c->deadline);
		return;
	}
	switch (c->state) {
	case ST_HEAD:
	case ST_BODY:
		if (!c->started) {
			log_debug("http_idle_close", "remote=%s", c->remote);
			conn_close(c, false);
		} else {
			reject(c, 408, "request timeout");
		}
		break;
	case ST_WRITE:
		warn_reject(c->srv, c->remote, c->status, "client stopped reading");
		conn_close(c, true);
		break;
	case ST_LINGER:
		conn_close(c, false);
		break;
	}
}

/* -------------------------------------------------------------- listener */

static void format_remote(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(out, cap, "unknown");
	}
}

static void conn_new(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = qm_calloc(1, sizeof *c);
	c->srv = s;
	c->fd = fd;
	c->file_fd = -1;
	c->resp = (struct http_response){.srv = s, .fd = -1};
	format_remote(ss, c->remote, sizeof c->remote);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (ev_fd_add(s->loop, fd, EV_READ, on_conn_event, c) != 0) {
		log_warn("http_watch_failed", "remote=%s", c->remote);
		close(fd);
		free(c);
		return;
	}
	c->watching = EV_READ;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	request_reset(c);
	conn_deadline(c, ev_now_ms() + s->lim.timeout_ms);
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg);

static void resume_accept(struct ev_loop *loop, void *arg)
{
	struct http_server *s = arg;
	s->resume_timer = 0;
	ev_fd_mod(loop, s->fd, EV_READ);
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)events;
	struct http_server *s = arg;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int e = errno;
			if (e == EINTR || e == ECONNABORTED || e == EPROTO)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			/* out of descriptors or memory: a level-triggered listener
			 * would spin, so pause it briefly */
			log_warn("http_accept_failed", "errno=%d pause_ms=%d", e, ACCEPT_PAUSE_MS);
			if (!s->resume_timer) {
				ev_fd_mod(loop, fd, 0);
				s->resume_timer = ev_timer_add(loop, ACCEPT_PAUSE_MS, resume_accept, s);
			}
			return;
		}
		if (s->nconns >= s->lim.max_conns) {
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Type: application/json\r\n"
				"Content-Length: 32\r\n"
				"Cache-Control: no-store\r\n"
				"Connection: close\r\n\r\n"
				"{\"error\":\"too many connections\"}";
			ssize_t w = send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			/* best effort: the connection is refused either way. Unread
			 * input makes close() send a reset that may destroy the
			 * answer, so swallow what has already arrived. */
			char sink[4096];
			for (int k = 0; k < 4 && recv(cfd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++)
				;
			(void)w;
			char remote[64];
			format_remote(&ss, remote, sizeof remote);
			warn_reject(s, remote, 503, "too many connections");
			close(cfd);
			continue;
		}
		conn_new(s, cfd, &ss);
	}
}

/* "HOST:PORT" with HOST an IPv4 literal, "[IPv6]", "*" or empty. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	if (!addr)
		return QM_EINVAL;
	const char *colon = strrchr(addr, ':');
	if (!colon)
		return QM_EINVAL;
	const char *port_s = colon + 1;
	size_t pl = strlen(port_s);
	if (pl == 0 || pl > 5)
		return QM_EINVAL;
	unsigned long port = 0;
	for (const char *p = port_s; *p; p++) {
		if (*p < '0' || *p > '9')
			return QM_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return QM_EINVAL;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hl = (size_t)(colon - addr);
	memset(ss, 0, sizeof *ss);
	if (hl && addr[0] == '[') {
		if (hl < 3 || addr[hl - 1] != ']' || hl - 2 >= sizeof host)
			return QM_EINVAL;
		memcpy(host, addr + 1, hl - 2);
		host[hl - 2] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return QM_EINVAL;
		*len = sizeof *a;
		return 0;
	}
	if (hl >= sizeof host)
		return QM_EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof *a;
	if (hl == 0 || strcmp(host, "*") == 0) {
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : QM_EINVAL;
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
		if (!is_token(r->method) || strlen(r->method) > MAX_METHOD || !r->path ||
		    r->path[0] != '/' || !r->handler) {
			log_error("http_bad_route", "index=%zu", i);
			return NULL;
		}
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_addr(addr, &ss, &sl)) {
		log_error("http_bad_address", "addr=%s", log_qs(addr));
		return NULL;
	}
	*err = QM_EIO;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("http_socket_failed", "addr=%s errno=%d", log_qs(addr), errno);
		return NULL;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
		log_error("http_listen_failed", "addr=%s errno=%d", log_qs(addr), errno);
		close(fd);
		return NULL;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof bound;
	uint16_t port = 0;
	if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
		port = ntohs(bound.ss_family == AF_INET6
				     ? ((struct sockaddr_in6 *)&bound)->sin6_port
				     : ((struct sockaddr_in *)&bound)->sin_port);
	struct http_server *s = qm_calloc(1, sizeof *s);
	s->loop = loop;
	s->fd = fd;
	s->port = port;
	s->routes = routes;
	s->nroutes = nroutes;
	s->ctx = ctx;
	s->lim = default_limits;
	if (ev_fd_add(loop, fd, EV_READ, on_accept, s) != 0) {
		log_error("http_watch_failed", "addr=%s", log_qs(addr));
		close(fd);
		free(s);
		return NULL;
	}
	*err = 0;
	log_info("http_listening", "addr=%s port=%u", log_qs(addr), port);
	return s;
}

static void server_destroy(struct http_server *s)
{
	/* listener first: once a client sees its connection closed, new
	 * connections are refused */
	ev_fd_del(s->loop, s->fd);
	close(s->fd);
	if (s->resume_timer)
		ev_timer_cancel(s->loop, s->resume_timer);
	while (s->conns)
		conn_close(s->conns, false);
	if (s->own_auth)
		auth_free(s->auth);
	free(s);
}

static bool server_reap(struct http_server *s)
{
	if (!s->dying)
		return false;
	server_destroy(s);
	return true;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->in_handler) {
		s->dying = true;
		return;
	}
	server_destroy(s);
}

uint16_t http_server_port(const struct http_server *s)
{
	return s ? s->port : 0;
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
	s->lim = l;
	return 0;
}

/* ---------------------------------------------------- request accessors */

const char *http_header(const struct http_request *req, const char *name)
{
	if (!req || !name)
		return NULL;
	for (size_t i = 0; i < req->nhdrs_; i++)
		if (strcasecmp(req->hdrs_[i].name, name) == 0)
			return req->hdrs_[i].value;
	return NULL;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode [p, e) into out; 0, QM_EINVAL or QM_ETOOBIG. */
static int form_decode(const char *p, const char *e, char *out, size_t cap)
{
	size_t o = 0;
	while (p < e) {
		char ch = *p++;
		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%') {
			if (e - p < 2 || hexval(p[0]) < 0 || hexval(p[1]) < 0)
				return QM_EINVAL;
			ch = (char)(hexval(p[0]) * 16 + hexval(p[1]));
			if (ch == '\0')
				return QM_EINVAL;
			p += 2;
		}
		if (o + 1 >= cap)
			return QM_ETOOBIG;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

int http_query_param(const struct http_request *req, const char *name, char *out,
		     size_t cap)
{
	if (!req || !name || !out || cap == 0)
		return QM_EINVAL;
	out[0] = '\0';
	size_t nl = strlen(name);
	const char *p = req->query ? req->query : "";
	while (*p) {
		const char *amp = strchr(p, '&');
		const char *e = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ke = eq ? eq : e;
		char key[256];
		if (form_decode(p, ke, key, sizeof key) == 0 && strlen(key) == nl &&
		    memcmp(key, name, nl) == 0) {
			int rv = eq ? form_decode(eq + 1, e, out, cap) : 0;
			if (rv)
				out[0] = '\0';
			return rv;
		}
		p = amp ? amp + 1 : e;
	}
	return QM_ENOENT;
}
