/* The REST server as a client on the network reaches it: libmicrohttpd's
 * parser, our judging of the head and our router. Each input is written to
 * a real loopback connection (the write side closed once the server has
 * read it) and the server's event loop is run on this thread, with the
 * client socket watched on the same loop, until the server closes the
 * connection, has answered every request line of the input, or has been
 * quiet for QUIET_MS; the client then resets it. No thread: MHD runs inside
 * ev_run() here exactly as in the coordinator. Every answer must start
 * with a well-formed HTTP/1.x status line; 500 (a handler that did not
 * answer) never. The routes cover exact, prefix, authenticated and
 * body-taking handlers, with query parameters and headers read. */
#include "evloop.h"
#include "fuzz_common.h"
#include "api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void h_state(const struct http_request *req, struct http_response *resp,
		    void *ctx)
{
	(void)ctx;
	char v[64];
	int r = http_query_param(req, "node", v, sizeof v);
	const char *ua = http_header(req, "User-Agent");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "node", r == 0 ? v : "");
	cJSON_AddStringToObject(o, "ua", ua ? ua : "");
	http_respond_json(resp, 200, o);
}

static void h_post(const struct http_request *req, struct http_response *resp,
		   void *ctx)
{
	(void)ctx;
	cJSON *j = cJSON_ParseWithLength(req->body, req->body_len);
	if (!j) {
		http_respond_error(resp, 400, "body is not JSON");
		return;
	}
	cJSON_Delete(j);
	http_respond(resp, 204, NULL, NULL, 0);
}

static void h_files(const struct http_request *req, struct http_response *resp,
		    void *ctx)
{
	(void)ctx;
	http_respond(resp, 200, "text/plain", req->path, strlen(req->path));
}

static const struct http_route ROUTES[] = {
	{"GET", "/v1/state", h_state, false},
	{"POST", "/v1/version", h_post, true},
	{"GET", "/files/*", h_files, false},
};

#define QUIET_MS 10

static struct ev_loop *loop;
static uint16_t port;

struct client {
	int fd;
	char buf[8192];
	size_t got;
	uint64_t timer;
	size_t requests; /* request lines in the input: answers to wait for */
	int half_close_tries; /* loop turns left before the client half-closes */
	bool half_close_posted; /* a turn of half_close is queued on the loop */
};

/* How many whole answers (head and, by its Content-Length, body) the
 * start of buf holds. A keep-alive connection whose client has already
 * half-closed is only noticed by the server on its next wake-up (its
 * epoll is edge-triggered and the EOF came with the request), so waiting
 * for the server to close would cost QUIET_MS per input; the answers are
 * counted instead, and the client leaves once each request line has one.
 * An answer without a Content-Length (or a HEAD's, whose body is absent)
 * is never counted whole: those inputs wait for QUIET_MS as before. */
static size_t whole_answers(const char *buf, size_t got)
{
	size_t n = 0, pos = 0;
	while (pos < got) {
		const char *end = memmem(buf + pos, got - pos, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t head = (size_t)(end - (buf + pos)) + 4;
		const char *cl = NULL;
		for (const char *p = buf + pos; p + 17 < end; p++)
			if ((p[0] == '\n') && strncasecmp(p + 1, "Content-Length:", 15) == 0) {
				cl = p + 16;
				break;
			}
		if (!cl)
			break;
		char *e;
		unsigned long len = strtoul(cl, &e, 10);
		if (e == cl || len > got || pos + head + len > got)
			break;
		pos += head + len;
		n++;
	}
	return n;
}

static size_t request_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i + 7 <= size; i++)
		if (memcmp(data + i, "HTTP/1.", 7) == 0)
			n++;
	return n;
}

static void on_quiet(struct ev_loop *l, void *arg)
{
	struct client *c = arg;
	c->timer = 0;
	ev_stop(l);
}

static void on_client(struct ev_loop *l, int fd, unsigned events, void *arg)
{
	(void)events;
	struct client *c = arg;
	for (;;) {
		char drain[4096];
		/* keep only the start: the first status line is what is checked */
		bool room = c->got < sizeof c->buf - 1;
		ssize_t r = room ? recv(fd, c->buf + c->got, sizeof c->buf - 1 - c->got,
					MSG_DONTWAIT)
				 : recv(fd, drain, sizeof drain, MSG_DONTWAIT);
		if (r > 0) {
			if (room)
				c->got += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		ev_stop(l); /* closed (or reset) by the server */
		return;
	}
	ev_timer_cancel(l, c->timer);
	c->timer = 0;
	if (c->requests > 0 && c->got < sizeof c->buf - 1 &&
	    whole_answers(c->buf, c->got) >= c->requests) {
		ev_stop(l);
		return;
	}
	c->timer = ev_timer_add(l, QUIET_MS, on_quiet, c);
}

/* The server's end of the client's connection (same process): the
 * descriptor whose peer is the client's own address, or -1 while it has
 * not been accepted. */
static int server_end(int client)
{
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof me;
	if (getsockname(client, (struct sockaddr *)&me, &ml) != 0)
		return -1;
	for (int fd = 3; fd < 1024; fd++) {
		socklen_t pl = sizeof peer;
		if (fd != client && getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
		    pl == sizeof peer && peer.sin_port == me.sin_port &&
		    peer.sin_addr.s_addr == me.sin_addr.s_addr)
			return fd;
	}
	return -1;
}

/* The client half-closes only once the server has read what it sent (or
 * after a few loop turns, when the server reads no more: a full head
 * buffer). Data and FIN arriving together reach an edge-triggered server
 * as one event; it reads the data, takes the socket for drained and would
 * notice the EOF only at its connection timeout. A client that half-closes
 * later gives it a second edge, as most real clients' timing does. */
static void half_close(struct ev_loop *l, void *arg)
{
	struct client *c = arg;
	int srv = server_end(c->fd);
	int pending = 0;
	if (--c->half_close_tries > 0 &&
	    (srv < 0 || (ioctl(srv, FIONREAD, &pending) == 0 && pending > 0))) {
		ev_post(l, half_close, c);
		return;
	}
	c->half_close_posted = false;
	shutdown(c->fd, SHUT_WR);
}

static void on_connected(struct ev_loop *l, int fd, unsigned events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	ev_stop(l);
}

static void on_connect_timeout(struct ev_loop *l, void *arg)
{
	*(uint64_t *)arg = 0;
	ev_stop(l);
}

/* connect() without blocking the server, which runs on this thread: while
 * its connections of earlier inputs wait for their timeouts, it may accept
 * nobody for a while (a full backlog stalls a blocking connect for seconds
 * of SYN retries). 0 or an errno. */
static int connect_running_loop(int fd, const struct sockaddr_in *sa)
{
	int fl = fcntl(fd, F_GETFL);
	FUZZ_CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
	int e = 0;
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
		e = errno;
		if (e == EINPROGRESS) {
			uint64_t timer = 0;
			FUZZ_CHECK(ev_fd_add(loop, fd, EV_WRITE, on_connected, NULL) == 0);
			timer = ev_timer_add(loop, 5000, on_connect_timeout, &timer);
			ev_run(loop);
			ev_fd_del(loop, fd);
			if (timer)
				ev_timer_cancel(loop, timer);
			socklen_t el = sizeof e;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
				e = errno;
			else if (e == 0 && !timer)
				e = ETIMEDOUT;
		}
	}
	FUZZ_CHECK(fcntl(fd, F_SETFL, fl) == 0);
	return e;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new();
	FUZZ_CHECK(loop != NULL);
	int err = 0;
	struct http_server *s = http_server_new(loop, "127.0.0.1:0", ROUTES,
						sizeof ROUTES / sizeof ROUTES[0],
						NULL, &err);
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(http_server_set_token(s, "fuzz-token") == 0);
	struct http_limits lim = {.max_head = 4096, .max_body = 65536,
				  .timeout_ms = 200};
	FUZZ_CHECK(http_server_set_limits(s, &lim) == 0);
	port = http_server_port(s);
	return 0; /* the server lives until the process ends */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* closed with RST (linger 0): millions of connections must not leave
	 * the ephemeral ports in TIME_WAIT */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	static struct client c;
	static uint32_t conns;
	if (conns == 0) /* a run after another: not the same addresses again */
		conns = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ev_now_ms();
	c.got = 0;
	c.requests = request_lines(data, size);
	/* Every client address another one of 127.1.0.0 - 127.255.255.254:
	 * the server often closes first, so its end of a connection waits in
	 * TIME_WAIT for a minute, and a new connection with the same tuple
	 * (the kernel picks a client port per address pair without seeing the
	 * server's TIME_WAIT, both ends being local) stalls in SYN retries. An
	 * address comes round again only after 16 million connections, and
	 * each run starts elsewhere. */
	int tries = 0;
	for (;;) {
		c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		FUZZ_CHECK(c.fd >= 0);
		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		uint32_t n = conns++ % (0xfffffeu - 0x10000u);
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f010000u + n);
		/* the port is chosen at connect(), per address pair */
		int one = 1;
		setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		FUZZ_CHECK(bind(c.fd, (struct sockaddr *)&src, sizeof src) == 0);
		/* the kernel completes the handshake; the loop accepts below */
		int e = connect_running_loop(c.fd, &sa);
		if (e == 0)
			break;
		close(c.fd);
		if (++tries == 8) {
			fprintf(stderr, "fuzz_http: connect: %s\n", strerror(e));
			FUZZ_CHECK(!"the server takes connections");
		}
	}
	size_t off = 0;
	while (off < size) {
		ssize_t w = send(c.fd, data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	FUZZ_CHECK(ev_fd_add(loop, c.fd, EV_READ, on_client, &c) == 0);
	c.half_close_tries = 8;
	if (!c.half_close_posted) { /* a turn left from the last input goes on */
		c.half_close_posted = true;
		ev_post(loop, half_close, &c);
	}
	c.timer = ev_timer_add(loop, 4 * QUIET_MS, on_quiet, &c);
	ev_run(loop);
	ev_timer_cancel(loop, c.timer);
	ev_fd_del(loop, c.fd);
	close(c.fd);
	c.buf[c.got] = '\0';
	if (c.got == 0)
		return 0; /* no answer (yet): a cut request, allowed */
	FUZZ_CHECK(c.got >= 12 && memcmp(c.buf, "HTTP/1.", 7) == 0);
	FUZZ_CHECK(c.buf[8] == ' ' && c.buf[9] >= '1' && c.buf[9] <= '5');
	FUZZ_CHECK(memcmp(c.buf + 9, "500", 3) != 0);
	return 0;
}
