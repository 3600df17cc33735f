/* The REST server as a client on the network reaches it: libmicrohttpd's
 * parser, our judging of the head and our router. Each input is written to
 * a real loopback connection (the write side then closed) and the server's
 * event loop is run on this thread, with the client socket watched on the
 * same loop, until the server closes the connection or has been quiet for
 * QUIET_MS; the client then resets it. No thread: MHD runs inside
 * ev_run() here exactly as in the coordinator. Every answer must start
 * with a well-formed HTTP/1.x status line; 500 (a handler that did not
 * answer) never. The routes cover exact, prefix, authenticated and
 * body-taking handlers, with query parameters and headers read. */
#include "evloop.h"
#include "fuzz_common.h"
#include "api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
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
};

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
	c->timer = ev_timer_add(l, QUIET_MS, on_quiet, c);
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
	c.got = 0;
	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(c.fd >= 0);
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	/* the kernel completes the handshake; the loop accepts below */
	FUZZ_CHECK(connect(c.fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	size_t off = 0;
	while (off < size) {
		ssize_t w = send(c.fd, data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(c.fd, SHUT_WR);
	FUZZ_CHECK(ev_fd_add(loop, c.fd, EV_READ, on_client, &c) == 0);
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
