/* The REST server's request parser and router, as a client on the network
 * reaches them: each input is written to a real connection to an
 * http_server running on its own thread (its own event loop), the write
 * side is closed, and the whole answer is read. Every answer must be one
 * well-formed HTTP/1.x status line; 500 (a handler that did not answer)
 * never. The routes cover exact, prefix, authenticated and body-taking
 * handlers, with query parameters and headers read. */
#include "evloop.h"
#include "fuzz_common.h"
#include "api/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
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

static uint16_t port;

static void *serve(void *arg)
{
	ev_run(arg);
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	struct ev_loop *loop = ev_loop_new();
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
	pthread_t t;
	FUZZ_CHECK(pthread_create(&t, NULL, serve, loop) == 0);
	pthread_detach(t); /* serves until the process ends */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {.tv_sec = 5};
	/* closed with RST (linger 0): millions of connections must not leave
	 * the ephemeral ports in TIME_WAIT (connect failed after 137 k runs) */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd = -1;
	for (int tries = 0; tries < 50 && fd < 0; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		FUZZ_CHECK(fd >= 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			close(fd);
			fd = -1;
			usleep(10000); /* the listener's backlog, briefly full */
		}
	}
	FUZZ_CHECK(fd >= 0);
	size_t off = 0;
	while (off < size) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may answer and close early */
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	char buf[8192];
	size_t got = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof buf - 1) {
			/* keep only the start: the first status line is what
			 * is checked */
			char drain[4096];
			while (recv(fd, drain, sizeof drain, 0) > 0)
				;
			break;
		}
	}
	close(fd);
	buf[got] = '\0';
	if (got == 0)
		return 0; /* closed without an answer: a cut request, allowed */
	FUZZ_CHECK(got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0);
	FUZZ_CHECK(buf[8] == ' ' && buf[9] >= '1' && buf[9] <= '5');
	FUZZ_CHECK(memcmp(buf + 9, "500", 3) != 0);
	return 0;
}
